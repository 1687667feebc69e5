//! Each prediction and its reason, pinned on the study post's sandbox.

use super::*;
use crate::probe::topology::{EndpointAddress, EndpointOrigin, LabFacts, ProbeEndpoint};
use std::path::PathBuf;

fn ep(
    name: &str,
    role: Role,
    mode: Option<NetMode>,
    ns: &str,
    addrs: &[(&str, u8, &str)],
) -> ProbeEndpoint {
    ProbeEndpoint {
        name: name.into(),
        role,
        mode,
        netns_path: PathBuf::from(format!("/run/netns/{ns}")),
        ifname: addrs.first().map(|a| a.2).unwrap_or("lo").into(),
        mac: None,
        addresses: addrs
            .iter()
            .map(|(ip, p, i)| EndpointAddress::new(ip.parse().unwrap(), *p, i))
            .collect(),
        gateway: match role {
            Role::Router => None,
            Role::Container if mode == Some(NetMode::Bridge) => Some("172.17.0.1".parse().unwrap()),
            Role::Container if mode == Some(NetMode::None) => None,
            _ => Some("192.168.50.1".parse().unwrap()),
        },
        parent: match mode {
            Some(NetMode::Macvlan(_)) | Some(NetMode::Ipvlan(_)) => Some("enp0s8".into()),
            _ => None,
        },
        nat: false,
        host_shim: false,
        origin: EndpointOrigin::Lab,
    }
}

fn container(name: &str, mode: NetMode, ip: &str) -> ProbeEndpoint {
    let prefix = if mode == NetMode::Bridge { 16 } else { 24 };
    ep(
        name,
        Role::Container,
        Some(mode),
        name,
        &[(ip, prefix, "eth0")],
    )
}

/// The world: host, peer, router.
fn world() -> Vec<ProbeEndpoint> {
    vec![
        ep(
            "host",
            Role::Host,
            None,
            "nv-host",
            &[
                ("192.168.50.11", 24, "enp0s8"),
                ("172.17.0.1", 16, "docker0"),
            ],
        ),
        ep(
            "peer",
            Role::Peer,
            None,
            "nv-peer",
            &[("192.168.50.12", 24, "eth0")],
        ),
        ep(
            "router",
            Role::Router,
            None,
            "nv-router",
            &[("192.168.50.1", 24, "eth0"), ("198.51.100.1", 32, "lo")],
        ),
    ]
}

fn lab(extra: Vec<ProbeEndpoint>, hairpin: bool, shim: bool) -> ProbeLab {
    let mut endpoints = world();
    endpoints.extend(extra);
    ProbeLab {
        endpoints,
        facts: LabFacts {
            hairpin,
            host_shim: shim,
            ..LabFacts::default()
        },
    }
}

fn bridge(name: &str, ip: &str, nat: bool) -> ProbeEndpoint {
    let mut c = container(name, NetMode::Bridge, ip);
    c.nat = nat;
    c
}

fn mv(name: &str, mode: MacvlanMode, ip: &str) -> ProbeEndpoint {
    container(name, NetMode::Macvlan(mode), ip)
}

fn iv(name: &str, mode: IpvlanMode, ip: &str) -> ProbeEndpoint {
    container(name, NetMode::Ipvlan(mode), ip)
}

/// Assert the prediction for from -> to at ip, and that the reason mentions `because`.
#[track_caller]
fn check(
    lab: &ProbeLab,
    from: &str,
    to: &str,
    ip: &str,
    kind: ProbeKind,
    reachable: bool,
    because: &str,
) {
    let cell = Cell {
        from: from.into(),
        to: to.into(),
        target_ip: ip.parse().unwrap(),
        kind,
        port: None,
    };
    let e = expect(lab, &cell);
    assert_eq!(
        e.reachable,
        Some(reachable),
        "{from} -> {to} {ip} {kind:?}: {}",
        e.why
    );
    assert!(
        e.why.contains(because),
        "{from} -> {to} {ip} {kind:?}: reason {:?} lacks {because:?}",
        e.why
    );
}

use ProbeKind::{Arp, Icmp, Tcp};

#[test]
fn bridge_with_nat() {
    let l = lab(
        vec![
            bridge("b1", "172.17.0.2", true),
            bridge("b2", "172.17.0.3", true),
        ],
        false,
        false,
    );
    check(&l, "b1", "b2", "172.17.0.3", Icmp, true, "docker0");
    check(&l, "b1", "b2", "172.17.0.3", Arp, true, "own MAC");
    check(&l, "b1", "host", "172.17.0.1", Icmp, true, "host owns");
    check(&l, "b1", "host", "172.17.0.1", Arp, true, "docker0's MAC");
    check(
        &l,
        "b1",
        "host",
        "192.168.50.11",
        Icmp,
        true,
        "no NAT involved",
    );
    check(&l, "b1", "peer", "192.168.50.12", Icmp, true, "masquerades");
    check(
        &l,
        "b1",
        "router",
        "198.51.100.1",
        Icmp,
        true,
        "masquerades",
    );
    check(
        &l,
        "peer",
        "b1",
        "172.17.0.2",
        Icmp,
        false,
        "router, which does not know 172.17.0.0/16",
    );
    check(
        &l,
        "router",
        "b1",
        "172.17.0.2",
        Icmp,
        false,
        "router has no route",
    );
    check(
        &l,
        "peer",
        "host",
        "172.17.0.1",
        Icmp,
        false,
        "172.17.0.0/16",
    );
    check(
        &l,
        "host",
        "b1",
        "172.17.0.2",
        Icmp,
        true,
        "docker0 is the host's own interface",
    );
    check(&l, "host", "b1", "172.17.0.2", Arp, true, "own MAC");
    check(
        &l,
        "b1",
        "peer",
        "192.168.50.12",
        Tcp,
        true,
        "TCP follows the IP path",
    );
}

#[test]
fn bridge_without_nat() {
    let l = lab(
        vec![
            bridge("b1", "172.17.0.2", false),
            bridge("b2", "172.17.0.3", false),
        ],
        false,
        false,
    );
    check(&l, "b1", "b2", "172.17.0.3", Icmp, true, "docker0");
    check(&l, "b1", "host", "192.168.50.11", Icmp, true, "host owns");
    check(
        &l,
        "b1",
        "peer",
        "192.168.50.12",
        Icmp,
        false,
        "without masquerade",
    );
    check(
        &l,
        "b1",
        "router",
        "192.168.50.1",
        Icmp,
        false,
        "reply never returns",
    );
    check(
        &l,
        "b1",
        "router",
        "198.51.100.1",
        Icmp,
        false,
        "without masquerade",
    );
    check(&l, "peer", "b1", "172.17.0.2", Icmp, false, "172.17.0.0/16");
}

#[test]
fn host_mode_shares_the_host_stack() {
    let l = lab(
        vec![
            container("hm", NetMode::Host, "192.168.50.11"),
            bridge("b1", "172.17.0.2", true),
        ],
        false,
        false,
    );
    let mut l = l;
    // A host-mode container's namespace is the host's.
    let host = l.endpoints[0].clone();
    let hm = l.endpoints.iter_mut().find(|e| e.name == "hm").unwrap();
    hm.netns_path = host.netns_path.clone();
    hm.addresses = host.addresses.clone();
    check(
        &l,
        "hm",
        "host",
        "192.168.50.11",
        Icmp,
        true,
        "host mode shares",
    );
    check(
        &l,
        "host",
        "hm",
        "172.17.0.1",
        Icmp,
        true,
        "host mode shares",
    );
    check(&l, "hm", "peer", "192.168.50.12", Icmp, true, "on-link");
    check(&l, "hm", "b1", "172.17.0.2", Icmp, true, "docker0");
    check(&l, "peer", "hm", "192.168.50.11", Icmp, true, "on-link");
    check(
        &l,
        "hm",
        "host",
        "192.168.50.11",
        Arp,
        false,
        "source's own",
    );
}

#[test]
fn none_reaches_nothing() {
    let mut n = container("n", NetMode::None, "127.0.0.1");
    n.addresses[0].prefix = 8;
    n.addresses[0].ifname = "lo".into();
    let l = lab(vec![n], false, false);
    check(&l, "n", "host", "192.168.50.11", Icmp, false, "only lo");
    check(&l, "n", "peer", "192.168.50.12", Icmp, false, "only lo");
    // Nothing targets a none container: it has no address but loopback.
    assert_eq!(l.endpoint("n").unwrap().target_addresses().count(), 0);
}

#[test]
fn macvlan_bridge_mode() {
    let l = lab(
        vec![
            mv("m1", MacvlanMode::Bridge, "192.168.50.192"),
            mv("m2", MacvlanMode::Bridge, "192.168.50.193"),
        ],
        false,
        false,
    );
    check(&l, "m1", "m2", "192.168.50.193", Icmp, true, "bridge mode");
    check(&l, "m1", "m2", "192.168.50.193", Arp, true, "bridge mode");
    check(&l, "m1", "peer", "192.168.50.12", Icmp, true, "own station");
    check(&l, "m1", "peer", "192.168.50.12", Arp, true, "own MAC");
    check(
        &l,
        "m1",
        "router",
        "198.51.100.1",
        Icmp,
        true,
        "default gateway",
    );
    check(&l, "m1", "host", "192.168.50.11", Icmp, false, "macvlan children cannot reach their parent's own stack: the parent never receives frames from its children (kernel macvlan design); add a host shim to bridge them");
    check(
        &l,
        "m1",
        "host",
        "192.168.50.11",
        Arp,
        false,
        "kernel macvlan design",
    );
    check(
        &l,
        "m1",
        "host",
        "172.17.0.1",
        Icmp,
        false,
        "no route to 172.17.0.0/16",
    );
    check(
        &l,
        "host",
        "m1",
        "192.168.50.192",
        Icmp,
        false,
        "never come back",
    );
    check(
        &l,
        "host",
        "m1",
        "192.168.50.192",
        Arp,
        false,
        "never come back",
    );
    check(
        &l,
        "peer",
        "m1",
        "192.168.50.192",
        Icmp,
        true,
        "own station",
    );
    check(&l, "peer", "m1", "192.168.50.192", Arp, true, "own MAC");
    check(
        &l,
        "router",
        "m1",
        "192.168.50.192",
        Icmp,
        true,
        "own station",
    );
}

#[test]
fn macvlan_private_mode() {
    let l = lab(
        vec![
            mv("p1", MacvlanMode::Private, "192.168.50.194"),
            mv("p2", MacvlanMode::Private, "192.168.50.195"),
        ],
        false,
        false,
    );
    check(
        &l,
        "p1",
        "p2",
        "192.168.50.195",
        Icmp,
        false,
        "private mode forbids",
    );
    check(
        &l,
        "p1",
        "p2",
        "192.168.50.195",
        Arp,
        false,
        "private mode forbids",
    );
    check(&l, "p1", "peer", "192.168.50.12", Icmp, true, "own station");
    check(&l, "p1", "host", "192.168.50.11", Icmp, false, "private");
    check(
        &l,
        "host",
        "p1",
        "192.168.50.194",
        Icmp,
        false,
        "never come back",
    );
    check(
        &l,
        "peer",
        "p1",
        "192.168.50.194",
        Icmp,
        true,
        "own station",
    );
    // Even a hairpin switch does not let private siblings talk.
    let l = lab(
        vec![
            mv("p1", MacvlanMode::Private, "192.168.50.194"),
            mv("p2", MacvlanMode::Private, "192.168.50.195"),
        ],
        true,
        false,
    );
    check(
        &l,
        "p1",
        "p2",
        "192.168.50.195",
        Icmp,
        false,
        "even through a hairpin",
    );
    check(
        &l,
        "p1",
        "host",
        "192.168.50.11",
        Icmp,
        false,
        "only to itself",
    );
}

#[test]
fn macvlan_vepa_with_and_without_hairpin() {
    let pair = || {
        vec![
            mv("v1", MacvlanMode::Vepa, "192.168.50.196"),
            mv("v2", MacvlanMode::Vepa, "192.168.50.197"),
        ]
    };
    let l = lab(pair(), false, false);
    check(
        &l,
        "v1",
        "v2",
        "192.168.50.197",
        Icmp,
        false,
        "this switch does not",
    );
    check(&l, "v1", "v2", "192.168.50.197", Arp, false, "hairpin");
    check(&l, "v1", "peer", "192.168.50.12", Icmp, true, "own station");
    check(
        &l,
        "v1",
        "host",
        "192.168.50.11",
        Icmp,
        false,
        "kernel macvlan design",
    );
    check(
        &l,
        "host",
        "v1",
        "192.168.50.196",
        Icmp,
        false,
        "hairpin switch",
    );
    check(
        &l,
        "peer",
        "v1",
        "192.168.50.196",
        Icmp,
        true,
        "own station",
    );
    let l = lab(pair(), true, false);
    check(
        &l,
        "v1",
        "v2",
        "192.168.50.197",
        Icmp,
        true,
        "reflects it back",
    );
    check(
        &l,
        "v1",
        "v2",
        "192.168.50.197",
        Arp,
        true,
        "reflects it back",
    );
    check(
        &l,
        "v1",
        "host",
        "192.168.50.11",
        Icmp,
        true,
        "hairpin switch reflects",
    );
    check(
        &l,
        "host",
        "v1",
        "192.168.50.196",
        Icmp,
        true,
        "hairpin switch reflects",
    );
    check(&l, "host", "v1", "192.168.50.196", Arp, true, "hairpin");
}

#[test]
fn macvlan_passthru_takes_over_the_parent() {
    let l = lab(
        vec![
            mv("pt", MacvlanMode::Passthru, "192.168.50.198"),
            bridge("b1", "172.17.0.2", true),
        ],
        false,
        false,
    );
    check(&l, "pt", "peer", "192.168.50.12", Icmp, true, "own station");
    check(
        &l,
        "peer",
        "pt",
        "192.168.50.198",
        Icmp,
        true,
        "passthru child owns",
    );
    check(&l, "peer", "pt", "192.168.50.198", Arp, true, "took over");
    check(&l, "pt", "host", "192.168.50.11", Icmp, false, "passthru");
    check(&l, "host", "pt", "192.168.50.198", Icmp, false, "passthru");
    // The host's own LAN traffic goes deaf while the passthru child owns enp0s8.
    check(&l, "host", "peer", "192.168.50.12", Icmp, false, "passthru");
    check(
        &l,
        "host",
        "peer",
        "192.168.50.12",
        Arp,
        true,
        "host's own stack never gets",
    );
    check(&l, "peer", "host", "192.168.50.11", Icmp, false, "passthru");
    check(&l, "peer", "host", "192.168.50.11", Arp, true, "broadcast");
    check(&l, "b1", "router", "198.51.100.1", Icmp, false, "passthru");
    check(&l, "b1", "host", "172.17.0.1", Icmp, true, "host owns");
}

#[test]
fn host_shim_bridges_host_and_bridge_mode_children() {
    let mut l = lab(
        vec![
            mv("m1", MacvlanMode::Bridge, "192.168.50.192"),
            mv("p1", MacvlanMode::Private, "192.168.50.194"),
            bridge("b1", "172.17.0.2", true),
            bridge("b0", "172.17.0.3", false),
        ],
        false,
        true,
    );
    l.facts.shim_ifname = Some("nv-shim".into());
    // The shim's address is a /32 with a route to the range through the shim: the host's
    // who-has for a child leaves through the shim (the prober asks the kernel's route).
    l.endpoints[0].addresses.push(EndpointAddress::new(
        "192.168.50.223".parse().unwrap(),
        32,
        "nv-shim",
    ));
    check(&l, "m1", "host", "192.168.50.11", Icmp, true, "host shim");
    check(&l, "m1", "host", "192.168.50.223", Icmp, true, "host shim");
    check(&l, "host", "m1", "192.168.50.192", Icmp, true, "host shim");
    // The host's who-has for a child leaves through the shim too.
    check(&l, "host", "m1", "192.168.50.192", Arp, true, "host shim");
    check(&l, "host", "p1", "192.168.50.194", Arp, false, "private");
    check(&l, "p1", "host", "192.168.50.11", Icmp, false, "private");
    check(
        &l,
        "host",
        "p1",
        "192.168.50.194",
        Icmp,
        false,
        "shim does not help private",
    );
    check(&l, "b1", "m1", "192.168.50.192", Icmp, true, "masquerades");
    check(
        &l,
        "b0",
        "m1",
        "192.168.50.192",
        Icmp,
        false,
        "without masquerade",
    );
    check(&l, "peer", "host", "192.168.50.223", Icmp, true, "on-link");
}

#[test]
fn ipvlan_modes() {
    let l = lab(
        vec![
            iv("i1", IpvlanMode::L2, "192.168.50.200"),
            iv("i2", IpvlanMode::L2, "192.168.50.201"),
        ],
        false,
        false,
    );
    check(
        &l,
        "i1",
        "i2",
        "192.168.50.201",
        Icmp,
        true,
        "inside the kernel",
    );
    check(
        &l,
        "i1",
        "i2",
        "192.168.50.201",
        Arp,
        true,
        "shared parent MAC",
    );
    check(
        &l,
        "i1",
        "peer",
        "192.168.50.12",
        Icmp,
        true,
        "parent's MAC",
    );
    check(&l, "i1", "peer", "192.168.50.12", Arp, true, "parent's MAC");
    check(
        &l,
        "peer",
        "i1",
        "192.168.50.200",
        Icmp,
        true,
        "parent's MAC",
    );
    check(&l, "peer", "i1", "192.168.50.200", Arp, true, "share it");
    check(
        &l,
        "i1",
        "host",
        "192.168.50.11",
        Icmp,
        false,
        "ipvlan design",
    );
    check(
        &l,
        "host",
        "i1",
        "192.168.50.200",
        Icmp,
        false,
        "ipvlan design",
    );
    check(
        &l,
        "host",
        "i1",
        "192.168.50.200",
        Arp,
        false,
        "ipvlan design",
    );
    check(
        &l,
        "i1",
        "router",
        "198.51.100.1",
        Icmp,
        true,
        "default gateway",
    );
    for mode in [IpvlanMode::L3, IpvlanMode::L3s] {
        let l = lab(
            vec![
                iv("i1", mode, "192.168.50.200"),
                iv("i2", mode, "192.168.50.201"),
            ],
            false,
            false,
        );
        check(
            &l,
            "i1",
            "i2",
            "192.168.50.201",
            Icmp,
            true,
            "inside the kernel",
        );
        check(&l, "i1", "i2", "192.168.50.201", Arp, false, "no ARP");
        check(
            &l,
            "peer",
            "i1",
            "192.168.50.200",
            Icmp,
            false,
            "l3 has no ARP or broadcast",
        );
        check(
            &l,
            "peer",
            "i1",
            "192.168.50.200",
            Arp,
            false,
            "l3 has no ARP",
        );
        check(
            &l,
            "i1",
            "peer",
            "192.168.50.12",
            Icmp,
            false,
            "reply needs ARP",
        );
        check(
            &l,
            "i1",
            "host",
            "192.168.50.11",
            Icmp,
            false,
            "ipvlan design",
        );
    }
}

#[test]
fn world_nodes() {
    let l = lab(vec![], false, false);
    check(&l, "host", "peer", "192.168.50.12", Icmp, true, "on-link");
    check(
        &l,
        "host",
        "router",
        "198.51.100.1",
        Icmp,
        true,
        "default route",
    );
    check(
        &l,
        "peer",
        "router",
        "198.51.100.1",
        Icmp,
        true,
        "default gateway",
    );
    check(&l, "peer", "host", "192.168.50.11", Arp, true, "answers");
    check(
        &l,
        "router",
        "router",
        "198.51.100.1",
        Icmp,
        true,
        "own address",
    );
    let mut l = l;
    l.endpoints[1].gateway = None;
    check(
        &l,
        "peer",
        "router",
        "198.51.100.1",
        Icmp,
        false,
        "no default route",
    );
    check(
        &l,
        "peer",
        "203.0.113.9",
        "203.0.113.9",
        Icmp,
        false,
        "no lab endpoint",
    );
}

#[test]
fn a_run_that_also_probes_from_the_host_teaches_a_private_child() {
    let l = lab(
        vec![mv("p1", MacvlanMode::Private, "192.168.50.194")],
        true,
        false,
    );
    let c = |from: &str, to: &str, ip: &str, kind| Cell {
        from: from.into(),
        to: to.into(),
        target_ip: ip.parse().unwrap(),
        kind,
        port: None,
    };
    let alone = vec![c("p1", "host", "192.168.50.11", Icmp)];
    assert_eq!(expect_all(&l, &alone)[0].reachable, Some(false));
    let together = vec![
        c("p1", "host", "192.168.50.11", Icmp),
        c("host", "p1", "192.168.50.194", Arp),
        c("p1", "host", "192.168.50.11", Arp),
    ];
    let e = expect_all(&l, &together);
    assert_eq!(e[0].reachable, Some(true), "{}", e[0].why);
    assert!(e[0].why.contains("taught it the host's MAC"));
    // The child's own who-has still goes unanswered.
    assert_eq!(e[2].reachable, Some(false));
    // Without hairpin the host's who-has never reaches the child.
    let l = lab(
        vec![mv("p1", MacvlanMode::Private, "192.168.50.194")],
        false,
        false,
    );
    assert_eq!(expect_all(&l, &together)[0].reachable, Some(false));
}

#[test]
fn a_shim_can_cover_single_children() {
    let mut covered = mv("m1", MacvlanMode::Bridge, "192.168.50.192");
    covered.host_shim = true;
    let l = lab(
        vec![covered, mv("m2", MacvlanMode::Bridge, "192.168.50.230")],
        false,
        false,
    );
    check(&l, "host", "m1", "192.168.50.192", Icmp, true, "host shim");
    check(&l, "m1", "host", "192.168.50.11", Icmp, true, "host shim");
    check(
        &l,
        "host",
        "m2",
        "192.168.50.230",
        Icmp,
        false,
        "never come back",
    );
    check(
        &l,
        "m2",
        "host",
        "192.168.50.11",
        Icmp,
        false,
        "kernel macvlan design",
    );
}
