//! Privileged tests: small topologies built with iproute2 in uniquely named namespaces.
//! netview's ICMP/ARP outcome for every pair must agree with iputils ping and arping run in
//! the same namespaces, and the packet walk's predictions must match what the kernel did.

mod probe_common;

use std::time::Duration;

use netview::probe::tcp::demonstrate_shared_port;
use netview::probe::{
    EndpointAddress, LabFacts, MacvlanMode, NetMode, ProbeKind, ProbeLab, ProbeOutcome, Role,
};
use probe_common::*;

const BOTH: &[ProbeKind] = &[ProbeKind::Icmp, ProbeKind::Arp];

/// The kernel's neighbour table is shared by every namespace (1024 entries by default) and a
/// sandbox run fills a few hundred at once: run the big topologies one at a time so they do
/// not starve each other (an overflow shows as timeouts).
static BIG_TOPOLOGY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_big_topology_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    BIG_TOPOLOGY.lock().unwrap_or_else(|e| e.into_inner())
}

fn mac_of(topo: &Topo, ns: &str, ifname: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", &topo.ns(ns), "-j", "link", "show", ifname])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["address"].as_str().unwrap().to_string()
}

fn facts(lan: &str) -> LabFacts {
    LabFacts {
        lan_subnet: lan.parse().unwrap(),
        ..LabFacts::default()
    }
}

#[test]
fn two_namespaces_over_a_veth_and_an_isolated_one() {
    let mut t = Topo::new("veth");
    t.add("a");
    t.add("b");
    t.add("c");
    t.veth("a", "va", "b", "vb");
    t.ip("a", &["addr", "add", "10.61.0.1/24", "dev", "va"]);
    t.ip("b", &["addr", "add", "10.61.0.2/24", "dev", "vb"]);
    t.ip("c", &["addr", "add", "10.99.0.3/32", "dev", "lo"]);
    // a routes everything through b, which forwards but has no route to 10.99.0.0/16: b
    // answers with an ICMP network unreachable.
    t.ip("a", &["route", "add", "default", "via", "10.61.0.2"]);
    t.exec("b", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    let lab = ProbeLab {
        endpoints: vec![
            endpoint(
                &t,
                "a",
                "a",
                Role::Peer,
                None,
                &[("10.61.0.1", 24, "va")],
                None,
            ),
            endpoint(
                &t,
                "b",
                "b",
                Role::Peer,
                None,
                &[("10.61.0.2", 24, "vb")],
                None,
            ),
            endpoint(
                &t,
                "c",
                "c",
                Role::Peer,
                None,
                &[("10.99.0.3", 32, "lo")],
                None,
            ),
        ],
        facts: facts("10.61.0.0/24"),
    };
    let run = probe_all(&lab, BOTH, 1000);
    let ab = find(&run, "a", "10.61.0.2", ProbeKind::Icmp);
    assert_eq!(ab.observed.outcome, ProbeOutcome::Reply);
    assert!(ab.observed.rtt_us.is_some());
    assert_eq!(ab.observed.seen_as, Some("10.61.0.1".parse().unwrap()));
    let arp = find(&run, "a", "10.61.0.2", ProbeKind::Arp);
    assert_eq!(
        arp.observed.arp_mac.as_deref(),
        Some(mac_of(&t, "b", "vb").as_str())
    );
    // c has no route to anything: the kernel refuses to send.
    assert_eq!(
        find(&run, "c", "10.61.0.1", ProbeKind::Icmp)
            .observed
            .outcome,
        ProbeOutcome::NoRoute
    );
    // a's request to c dies at b, which says so.
    let via_b = &find(&run, "a", "10.99.0.3", ProbeKind::Icmp)
        .observed
        .outcome;
    assert_eq!(
        via_b,
        &ProbeOutcome::Unreachable("network unreachable from 10.61.0.2".into())
    );
    // b has no route to it at all.
    assert_eq!(
        find(&run, "b", "10.99.0.3", ProbeKind::Icmp)
            .observed
            .outcome,
        ProbeOutcome::NoRoute
    );
    assert_agrees_with_oracle(&lab, &run, &t);
}

#[test]
fn six_namespaces_on_a_bridge_take_about_one_timeout() {
    let mut t = Topo::new("br");
    t.add("sw");
    t.ip("sw", &["link", "add", "br0", "type", "bridge"]);
    t.ip("sw", &["link", "set", "br0", "up"]);
    let mut endpoints = Vec::new();
    for i in 1..=6 {
        let ns = format!("h{i}");
        t.add(&ns);
        t.veth(&ns, "eth0", "sw", &format!("p{i}"));
        t.ip("sw", &["link", "set", &format!("p{i}"), "master", "br0"]);
        let ip = format!("10.62.0.{i}");
        t.ip(&ns, &["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        endpoints.push(endpoint(
            &t,
            &ns,
            &ns,
            Role::Peer,
            None,
            &[(ip.as_str(), 24, "eth0")],
            None,
        ));
    }
    // One address nobody holds, on-link for everyone: ICMP and ARP time out.
    let lab = ProbeLab {
        endpoints,
        facts: facts("10.62.0.0/24"),
    };
    let opts = netview::probe::matrix::PlanOptions {
        to: (1..=6)
            .map(|i| format!("h{i}"))
            .chain(["10.62.0.99".to_string()])
            .collect(),
        ..Default::default()
    };
    let cells = netview::probe::matrix::plan(&lab, &opts).unwrap();
    let mut streamed = 0;
    let run = netview::probe::matrix::run_matrix(
        &netview::probe::kernel::KernelProber::new(),
        &lab,
        &cells,
        Duration::from_millis(1000),
        &mut |_| streamed += 1,
    )
    .unwrap();
    assert_eq!(streamed, cells.len());
    eprintln!(
        "6 namespaces, {} probes: {} ms (timeout 1000 ms)",
        cells.len(),
        run.elapsed_ms
    );
    // The wall time is measured by scripts/bench-probe, not asserted here: these machines
    // are too noisy for a tight bound.
    assert_eq!(
        find(&run, "h1", "10.62.0.99", ProbeKind::Arp)
            .observed
            .outcome,
        ProbeOutcome::NoArpReply
    );
    assert_eq!(
        find(&run, "h1", "10.62.0.99", ProbeKind::Icmp)
            .observed
            .outcome,
        ProbeOutcome::Timeout
    );
    assert!(
        walk_mismatches(&run).is_empty(),
        "{:#?}",
        walk_mismatches(&run)
    );
    assert_agrees_with_oracle(&lab, &run, &t);
}

/// Options for the sandbox world.
#[derive(Clone, Copy, Default)]
struct World {
    hairpin: bool,
    shim: bool,
}

/// The study post's sandbox as issue 3 describes it: host (enp0s8 on a LAN switch, docker0
/// with two NATed bridge containers and one without NAT), peer, router with a far address,
/// a none container, a host-mode container, and macvlan children of enp0s8 in bridge,
/// private and VEPA mode (two each).
fn sandbox(t: &mut Topo, w: World) -> ProbeLab {
    for ns in ["sw", "host", "peer", "router"] {
        t.add(ns);
    }
    t.ip("sw", &["link", "add", "br0", "type", "bridge"]);
    t.ip("sw", &["link", "set", "br0", "up"]);
    for (ns, port, ifname) in [
        ("host", "p-host", "enp0s8"),
        ("peer", "p-peer", "eth0"),
        ("router", "p-rtr", "eth0"),
    ] {
        t.veth(ns, ifname, "sw", port);
        t.ip("sw", &["link", "set", port, "master", "br0"]);
    }
    if w.hairpin {
        let sw = t.ns("sw");
        run(&[
            "bridge", "-n", &sw, "link", "set", "dev", "p-host", "hairpin", "on",
        ]);
    }
    t.ip(
        "host",
        &["addr", "add", "192.168.50.11/24", "dev", "enp0s8"],
    );
    t.ip("host", &["route", "add", "default", "via", "192.168.50.1"]);
    t.ip("peer", &["addr", "add", "192.168.50.12/24", "dev", "eth0"]);
    t.ip("peer", &["route", "add", "default", "via", "192.168.50.1"]);
    t.ip("router", &["addr", "add", "192.168.50.1/24", "dev", "eth0"]);
    t.ip("router", &["addr", "add", "198.51.100.1/32", "dev", "lo"]);
    t.exec("host", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // docker0 and bridge containers.
    t.ip("host", &["link", "add", "docker0", "type", "bridge"]);
    t.ip("host", &["addr", "add", "172.17.0.1/16", "dev", "docker0"]);
    t.ip("host", &["link", "set", "docker0", "up"]);
    t.exec("host", &["nft", "add", "table", "ip", "netview"]);
    t.exec(
        "host",
        &[
            "nft",
            "add",
            "chain",
            "ip",
            "netview",
            "post",
            "{ type nat hook postrouting priority 100 ; }",
        ],
    );
    let mut endpoints = vec![
        endpoint(
            t,
            "host",
            "host",
            Role::Host,
            None,
            &[
                ("192.168.50.11", 24, "enp0s8"),
                ("172.17.0.1", 16, "docker0"),
            ],
            Some("192.168.50.1"),
        ),
        endpoint(
            t,
            "peer",
            "peer",
            Role::Peer,
            None,
            &[("192.168.50.12", 24, "eth0")],
            Some("192.168.50.1"),
        ),
        endpoint(
            t,
            "router",
            "router",
            Role::Router,
            None,
            &[("192.168.50.1", 24, "eth0"), ("198.51.100.1", 32, "lo")],
            None,
        ),
    ];
    for (name, ip, nat) in [
        ("b1", "172.17.0.2", true),
        ("b2", "172.17.0.3", true),
        ("b3", "172.17.0.4", false),
    ] {
        t.add(name);
        t.veth("host", &format!("veth-{name}"), name, "eth0");
        t.ip(
            "host",
            &["link", "set", &format!("veth-{name}"), "master", "docker0"],
        );
        t.ip(name, &["addr", "add", &format!("{ip}/16"), "dev", "eth0"]);
        t.ip(name, &["route", "add", "default", "via", "172.17.0.1"]);
        if nat {
            t.exec(
                "host",
                &[
                    "nft",
                    "add",
                    "rule",
                    "ip",
                    "netview",
                    "post",
                    "ip",
                    "saddr",
                    ip,
                    "oifname",
                    "!=",
                    "docker0",
                    "masquerade",
                ],
            );
        }
        let mut e = endpoint(
            t,
            name,
            name,
            Role::Container,
            Some(NetMode::Bridge),
            &[(ip, 16, "eth0")],
            Some("172.17.0.1"),
        );
        e.nat = nat;
        endpoints.push(e);
    }
    t.add("none");
    endpoints.push(endpoint(
        t,
        "none",
        "none",
        Role::Container,
        Some(NetMode::None),
        &[("127.0.0.1", 8, "lo")],
        None,
    ));
    let mut hm = endpoint(
        t,
        "hostmode",
        "host",
        Role::Container,
        Some(NetMode::Host),
        &[],
        None,
    );
    hm.addresses = endpoints[0].addresses.clone();
    hm.ifname = "enp0s8".into();
    endpoints.push(hm);
    let children = [
        ("mb1", MacvlanMode::Bridge, "192.168.50.192"),
        ("mb2", MacvlanMode::Bridge, "192.168.50.193"),
        ("mp1", MacvlanMode::Private, "192.168.50.194"),
        ("mp2", MacvlanMode::Private, "192.168.50.195"),
        ("mv1", MacvlanMode::Vepa, "192.168.50.196"),
        ("mv2", MacvlanMode::Vepa, "192.168.50.197"),
    ];
    for (name, mode, ip) in children {
        t.add(name);
        let mode_name = match mode {
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Passthru => "passthru",
        };
        let nsname = t.ns(name);
        t.ip(
            "host",
            &[
                "link",
                "add",
                &format!("mv-{name}"),
                "link",
                "enp0s8",
                "type",
                "macvlan",
                "mode",
                mode_name,
            ],
        );
        t.ip(
            "host",
            &["link", "set", &format!("mv-{name}"), "netns", &nsname],
        );
        t.ip(
            name,
            &["link", "set", &format!("mv-{name}"), "name", "eth0"],
        );
        t.ip(name, &["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        t.ip(name, &["link", "set", "eth0", "up"]);
        t.ip(name, &["route", "add", "default", "via", "192.168.50.1"]);
        let mut e = endpoint(
            t,
            name,
            name,
            Role::Container,
            Some(NetMode::Macvlan(mode)),
            &[(ip, 24, "eth0")],
            Some("192.168.50.1"),
        );
        e.parent = Some("enp0s8".into());
        endpoints.push(e);
    }
    let mut facts = LabFacts {
        hairpin: w.hairpin,
        host_shim: w.shim,
        ..LabFacts::default()
    };
    if w.shim {
        t.ip(
            "host",
            &[
                "link", "add", "nv-shim", "link", "enp0s8", "type", "macvlan", "mode", "bridge",
            ],
        );
        t.ip(
            "host",
            &["addr", "add", "192.168.50.223/32", "dev", "nv-shim"],
        );
        t.ip("host", &["link", "set", "nv-shim", "up"]);
        t.ip(
            "host",
            &["route", "add", "192.168.50.192/27", "dev", "nv-shim"],
        );
        facts.shim_ifname = Some("nv-shim".into());
        for e in endpoints.iter_mut().filter(|e| e.is_host_stack()) {
            // The shim's address as configured: a /32. The route to the /27 range through the
            // shim is the kernel's; the prober asks the kernel which interface ARP leaves by.
            e.addresses.push(EndpointAddress::new(
                "192.168.50.223".parse().unwrap(),
                32,
                "nv-shim",
            ));
        }
    }
    ProbeLab { endpoints, facts }
}

fn check_sandbox(w: World, tag: &str) {
    let _serial = one_big_topology_at_a_time();
    let mut t = Topo::new(tag);
    let lab = sandbox(&mut t, w);
    // TCP too: its expectations follow the IP path (an answer, even a refusal, proves it).
    let run = probe_all(
        &lab,
        &[ProbeKind::Icmp, ProbeKind::Arp, ProbeKind::Tcp],
        1000,
    );
    eprintln!(
        "sandbox {tag}: {} probes in {} ms",
        run.results.len(),
        run.elapsed_ms
    );
    eprintln!("{}", netview::probe::matrix::render_text(&run.results));
    let mismatches = walk_mismatches(&run);
    // NAT shows in "seen as": the router sees a NATed container as the host's LAN address,
    // and a container without NAT as itself (its request arrives, the reply cannot return).
    let nat = find(&run, "b1", "192.168.50.1", ProbeKind::Icmp);
    let plain = find(&run, "b3", "192.168.50.1", ProbeKind::Icmp);
    assert_eq!(nat.observed.outcome, ProbeOutcome::Reply);
    assert_eq!(nat.observed.seen_as, Some("192.168.50.11".parse().unwrap()));
    assert!(!plain.reachable());
    assert_eq!(plain.observed.seen_as, Some("172.17.0.4".parse().unwrap()));
    // macvlan children answer ARP with their own MAC, not the parent's.
    let child = find(&run, "peer", "192.168.50.192", ProbeKind::Arp);
    assert_eq!(
        child.observed.arp_mac.as_deref(),
        Some(mac_of(&t, "mb1", "eth0").as_str())
    );
    assert_ne!(
        child.observed.arp_mac.as_deref(),
        Some(mac_of(&t, "host", "enp0s8").as_str())
    );
    assert!(run.elapsed_ms < 3000, "{} ms", run.elapsed_ms);
    assert_agrees_with_oracle(&lab, &run, &t);
    assert!(
        mismatches.is_empty(),
        "the walk disagrees with the kernel:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn sandbox_matches_the_walk_and_oracle() {
    check_sandbox(World::default(), "sbx");
}

#[test]
fn sandbox_with_hairpin_matches_the_walk_and_oracle() {
    check_sandbox(
        World {
            hairpin: true,
            shim: false,
        },
        "hp",
    );
}

#[test]
fn sandbox_with_host_shim_matches_the_walk_and_oracle() {
    check_sandbox(
        World {
            hairpin: false,
            shim: true,
        },
        "shim",
    );
}

#[test]
fn passthru_child_takes_over_its_parent() {
    let _serial = one_big_topology_at_a_time();
    let mut t = Topo::new("pt");
    for ns in ["sw", "host", "peer", "router", "pt"] {
        t.add(ns);
    }
    t.ip("sw", &["link", "add", "br0", "type", "bridge"]);
    t.ip("sw", &["link", "set", "br0", "up"]);
    for (ns, port, ifname) in [
        ("host", "p-host", "enp0s8"),
        ("peer", "p-peer", "eth0"),
        ("router", "p-rtr", "eth0"),
    ] {
        t.veth(ns, ifname, "sw", port);
        t.ip("sw", &["link", "set", port, "master", "br0"]);
    }
    t.ip(
        "host",
        &["addr", "add", "192.168.50.11/24", "dev", "enp0s8"],
    );
    t.ip("peer", &["addr", "add", "192.168.50.12/24", "dev", "eth0"]);
    t.ip("router", &["addr", "add", "192.168.50.1/24", "dev", "eth0"]);
    let pt = t.ns("pt");
    t.ip(
        "host",
        &[
            "link", "add", "mv-pt", "link", "enp0s8", "type", "macvlan", "mode", "passthru",
        ],
    );
    t.ip("host", &["link", "set", "mv-pt", "netns", &pt]);
    t.ip("pt", &["addr", "add", "192.168.50.198/24", "dev", "mv-pt"]);
    t.ip("pt", &["link", "set", "mv-pt", "up"]);
    let mut child = endpoint(
        &t,
        "pt",
        "pt",
        Role::Container,
        Some(NetMode::Macvlan(MacvlanMode::Passthru)),
        &[("192.168.50.198", 24, "mv-pt")],
        None,
    );
    child.parent = Some("enp0s8".into());
    let lab = ProbeLab {
        endpoints: vec![
            endpoint(
                &t,
                "host",
                "host",
                Role::Host,
                None,
                &[("192.168.50.11", 24, "enp0s8")],
                None,
            ),
            endpoint(
                &t,
                "peer",
                "peer",
                Role::Peer,
                None,
                &[("192.168.50.12", 24, "eth0")],
                None,
            ),
            endpoint(
                &t,
                "router",
                "router",
                Role::Router,
                None,
                &[("192.168.50.1", 24, "eth0")],
                None,
            ),
            child,
        ],
        facts: LabFacts::default(),
    };
    let run = probe_all(&lab, BOTH, 1000);
    // The child took its parent's MAC.
    let arp = find(&run, "peer", "192.168.50.198", ProbeKind::Arp);
    assert_eq!(
        arp.observed.arp_mac.as_deref(),
        Some(mac_of(&t, "host", "enp0s8").as_str())
    );
    assert_agrees_with_oracle(&lab, &run, &t);
    let mismatches = walk_mismatches(&run);
    assert!(
        mismatches.is_empty(),
        "the walk disagrees with the kernel:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn tcp_outcomes_and_the_shared_host_port() {
    let mut t = Topo::new("tcp");
    t.add("a");
    t.add("b");
    t.veth("a", "va", "b", "vb");
    t.ip("a", &["addr", "add", "10.63.0.1/24", "dev", "va"]);
    t.ip("b", &["addr", "add", "10.63.0.2/24", "dev", "vb"]);
    let lab = ProbeLab {
        endpoints: vec![
            endpoint(
                &t,
                "a",
                "a",
                Role::Peer,
                None,
                &[("10.63.0.1", 24, "va")],
                None,
            ),
            endpoint(
                &t,
                "b",
                "b",
                Role::Peer,
                None,
                &[("10.63.0.2", 24, "vb")],
                None,
            ),
        ],
        facts: facts("10.63.0.0/24"),
    };
    // Nobody listens on port 80 in b: refused, which proves the path.
    let opts = netview::probe::matrix::PlanOptions {
        from: vec!["a".into()],
        to: vec!["b".into(), "10.63.0.77".into()],
        kinds: vec![ProbeKind::Tcp],
        tcp_port: 80,
    };
    let cells = netview::probe::matrix::plan(&lab, &opts).unwrap();
    let run = netview::probe::matrix::run_matrix(
        &netview::probe::kernel::KernelProber::new(),
        &lab,
        &cells,
        Duration::from_millis(500),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        find(&run, "a", "10.63.0.2", ProbeKind::Tcp)
            .observed
            .outcome,
        ProbeOutcome::Refused
    );
    assert!(find(&run, "a", "10.63.0.2", ProbeKind::Tcp).reachable());
    let lost = &find(&run, "a", "10.63.0.77", ProbeKind::Tcp)
        .observed
        .outcome;
    assert!(
        matches!(lost, ProbeOutcome::Timeout | ProbeOutcome::Unreachable(_)),
        "{lost}"
    );

    // A "host-mode container" is the host's own namespace: its listener takes the port.
    let shared =
        demonstrate_shared_port(&t.path("a"), &t.path("a"), 8080, Duration::from_millis(500))
            .unwrap();
    assert!(shared.container_listening);
    assert!(shared.host_bind_error.is_some(), "{shared:?}");
    assert!(shared.shared, "{shared:?}");
    // A container with its own namespace (bridge mode) does not.
    // (Another port: the first demonstration's connection may still linger on 8080.)
    let separate =
        demonstrate_shared_port(&t.path("b"), &t.path("a"), 8081, Duration::from_millis(500))
            .unwrap();
    assert!(separate.container_listening);
    assert_eq!(separate.host_bind_error, None);
    assert!(!separate.shared);
}
