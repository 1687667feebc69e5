//! A fixed, realistic inventory for tests, snapshots and demos: a host with Docker's default
//! bridge and two containers on it, a macvlan container on a second NIC, an isolated
//! namespace, and Docker's NAT rules.
//!
//! root: lo, eth0, enp0s8, docker0 with ports veth1a2b3c4 (peer eth0 in pid:1234, an nginx
//! container) and vethd5e6f7a (peer eth0 in nv-c1); nv-mac1 holds mv0, a macvlan child of
//! enp0s8 in root; nv-none has only lo.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::inventory::{
    Address, FdbEntry, FilterRule, Link, LinkKind, LinkRef, NamespaceInventory, NatBackend,
    NatOwner, NatRule, Neighbour, Route,
};
use crate::netns::{Netns, NetnsSource};

pub const ROOT_ID: u64 = 4026531840;
pub const NGINX_ID: u64 = 4026532301;
pub const C1_ID: u64 = 4026532410;
pub const MAC1_ID: u64 = 4026532502;
pub const NONE_ID: u64 = 4026532600;
pub const DENIED_ID: u64 = 4026532777;

pub fn netns(name: &str, id: u64, source: NetnsSource, process: Option<&str>) -> Netns {
    Netns {
        name: name.to_string(),
        id,
        source,
        path: PathBuf::from(format!("/nonexistent/{name}")),
        process: process.map(str::to_string),
        is_self: source == NetnsSource::Root,
    }
}

fn addr(s: &str, scope: &str) -> Address {
    let (ip, len) = s.split_once('/').expect("ip/prefix");
    Address {
        ip: ip.parse::<IpAddr>().expect("ip"),
        prefix_len: len.parse().expect("prefix"),
        scope: scope.to_string(),
    }
}

fn flags(f: &str) -> Vec<String> {
    f.split(',').map(str::to_string).collect()
}

fn r(netns: &str, name: &str) -> Option<LinkRef> {
    Some(LinkRef {
        netns: Some(netns.to_string()),
        name: Some(name.to_string()),
    })
}

pub fn link(index: u32, name: &str, kind: LinkKind) -> Link {
    Link {
        index,
        name: name.to_string(),
        kind,
        mode: None,
        state: "UP".to_string(),
        flags: flags("BROADCAST,MULTICAST,UP,LOWER_UP"),
        mac: None,
        mtu: Some(1500),
        master: None,
        parent: None,
        peer: None,
        addresses: Vec::new(),
    }
}

fn lo() -> Link {
    Link {
        state: "UNKNOWN".into(),
        flags: flags("LOOPBACK,UP,LOWER_UP"),
        mac: Some("00:00:00:00:00:00".into()),
        mtu: Some(65536),
        addresses: vec![addr("127.0.0.1/8", "host"), addr("::1/128", "host")],
        ..link(1, "lo", LinkKind::Loopback)
    }
}

fn route(dst: &str, gw: Option<&str>, dev: &str, proto: &str, scope: &str) -> Route {
    Route {
        dst: dst.to_string(),
        gateway: gw.map(str::to_string),
        dev: Some(dev.to_string()),
        scope: scope.to_string(),
        protocol: proto.to_string(),
        metric: None,
        family: "inet".to_string(),
        route_type: "unicast".to_string(),
        prefsrc: None,
    }
}

fn neigh(ip: &str, mac: Option<&str>, dev: &str, state: &str) -> Neighbour {
    Neighbour {
        ip: ip.to_string(),
        mac: mac.map(str::to_string),
        dev: dev.to_string(),
        state: state.to_string(),
    }
}

fn fdb(mac: &str, dev: &str, master: Option<&str>, f: &[&str], vlan: Option<u16>) -> FdbEntry {
    FdbEntry {
        mac: mac.to_string(),
        dev: dev.to_string(),
        master: master.map(str::to_string),
        flags: f.iter().map(|s| s.to_string()).collect(),
        vlan,
    }
}

fn docker_nat(chain: &str, rule: &str) -> NatRule {
    NatRule {
        family: "ip".into(),
        table: "nat".into(),
        chain: chain.into(),
        rule: rule.into(),
        owner: NatOwner::Docker,
        backend: NatBackend::Nftables,
        container: None,
    }
}

/// A rule of Docker's filter chains; `policy` only for the FORWARD base chain.
fn docker_filter(chain: &str, rule: Option<&str>) -> FilterRule {
    let base = chain == "FORWARD";
    FilterRule {
        family: "ip".into(),
        table: "filter".into(),
        chain: chain.into(),
        hook: base.then(|| "forward".to_string()),
        policy: base.then(|| "drop".to_string()),
        priority: base.then_some(0),
        rule: rule.map(str::to_string),
        owner: NatOwner::Docker,
        backend: NatBackend::Nftables,
    }
}

fn root() -> NamespaceInventory {
    let mut ns = NamespaceInventory::empty("root", ROOT_ID, NetnsSource::Root);
    ns.ip_forward = Some(true);
    ns.links = vec![
        lo(),
        Link {
            mac: Some("52:54:00:12:34:56".into()),
            addresses: vec![
                addr("10.0.2.15/24", "global"),
                addr("fe80::5054:ff:fe12:3456/64", "link"),
            ],
            ..link(2, "eth0", LinkKind::Physical)
        },
        Link {
            mac: Some("08:00:27:aa:bb:01".into()),
            flags: flags("BROADCAST,MULTICAST,PROMISC,UP,LOWER_UP"),
            addresses: vec![addr("192.168.50.10/24", "global")],
            ..link(3, "enp0s8", LinkKind::Physical)
        },
        Link {
            mac: Some("02:42:8f:11:22:33".into()),
            addresses: vec![addr("172.17.0.1/16", "global")],
            ..link(4, "docker0", LinkKind::Bridge)
        },
        Link {
            mac: Some("9a:3c:41:0e:7b:21".into()),
            master: Some("docker0".into()),
            peer: r("pid:1234", "eth0"),
            ..link(6, "veth1a2b3c4", LinkKind::Veth)
        },
        Link {
            mac: Some("d2:17:9e:55:04:aa".into()),
            master: Some("docker0".into()),
            peer: r("nv-c1", "eth0"),
            ..link(8, "vethd5e6f7a", LinkKind::Veth)
        },
    ];
    ns.routes = vec![
        Route {
            metric: Some(100),
            prefsrc: Some("10.0.2.15".into()),
            ..route("default", Some("10.0.2.2"), "eth0", "dhcp", "universe")
        },
        Route {
            prefsrc: Some("10.0.2.15".into()),
            ..route("10.0.2.0/24", None, "eth0", "kernel", "link")
        },
        Route {
            prefsrc: Some("172.17.0.1".into()),
            ..route("172.17.0.0/16", None, "docker0", "kernel", "link")
        },
        Route {
            prefsrc: Some("192.168.50.10".into()),
            ..route("192.168.50.0/24", None, "enp0s8", "kernel", "link")
        },
        Route {
            family: "inet6".into(),
            metric: Some(256),
            ..route("fe80::/64", None, "eth0", "kernel", "universe")
        },
    ];
    ns.neighbours = vec![
        neigh("10.0.2.2", Some("52:55:0a:00:02:02"), "eth0", "REACHABLE"),
        neigh("172.17.0.2", Some("02:42:ac:11:00:02"), "docker0", "STALE"),
        neigh(
            "172.17.0.3",
            Some("02:42:ac:11:00:03"),
            "docker0",
            "REACHABLE",
        ),
        neigh("192.168.50.1", None, "enp0s8", "FAILED"),
    ];
    ns.fdb = vec![
        fdb(
            "02:42:8f:11:22:33",
            "docker0",
            Some("docker0"),
            &["permanent"],
            Some(1),
        ),
        fdb(
            "02:42:ac:11:00:02",
            "veth1a2b3c4",
            Some("docker0"),
            &[],
            None,
        ),
        fdb(
            "9a:3c:41:0e:7b:21",
            "veth1a2b3c4",
            Some("docker0"),
            &["permanent"],
            None,
        ),
        fdb(
            "02:42:ac:11:00:03",
            "vethd5e6f7a",
            Some("docker0"),
            &[],
            None,
        ),
        fdb(
            "d2:17:9e:55:04:aa",
            "vethd5e6f7a",
            Some("docker0"),
            &["permanent"],
            None,
        ),
    ];
    ns.nat = vec![
        docker_nat("PREROUTING", "fib daddr type local counter jump DOCKER"),
        docker_nat(
            "OUTPUT",
            "ip daddr != 127.0.0.0/8 fib daddr type local counter jump DOCKER",
        ),
        docker_nat(
            "POSTROUTING",
            "ip saddr 172.17.0.0/16 oifname != \"docker0\" counter masquerade",
        ),
        docker_nat("DOCKER", "iifname \"docker0\" counter return"),
        docker_nat(
            "DOCKER",
            "iifname != \"docker0\" meta l4proto tcp tcp dport 8080 counter dnat to 172.17.0.2:80",
        ),
    ];
    ns.filter = vec![
        docker_filter("DOCKER-USER", None),
        docker_filter("FORWARD", Some("jump DOCKER-USER")),
        docker_filter(
            "FORWARD",
            Some("oifname \"docker0\" ct state related,established accept"),
        ),
        docker_filter("FORWARD", Some("oifname \"docker0\" jump DOCKER")),
        docker_filter("FORWARD", Some("iifname \"docker0\" oifname != \"docker0\" accept")),
        docker_filter(
            "DOCKER",
            Some("iifname != \"docker0\" oifname \"docker0\" ip daddr 172.17.0.2 tcp dport 80 accept"),
        ),
    ];
    ns
}

fn container(
    name: &str,
    id: u64,
    source: NetnsSource,
    host_veth: &str,
    ip: &str,
    mac: &str,
) -> NamespaceInventory {
    let mut ns = NamespaceInventory::empty(name, id, source);
    ns.ip_forward = Some(false);
    ns.links = vec![
        lo(),
        Link {
            mac: Some(mac.into()),
            peer: r("root", host_veth),
            addresses: vec![addr(ip, "global")],
            ..link(
                if source == NetnsSource::Process { 5 } else { 7 },
                "eth0",
                LinkKind::Veth,
            )
        },
    ];
    let src = ip.split('/').next().unwrap_or_default();
    ns.routes = vec![
        route("default", Some("172.17.0.1"), "eth0", "boot", "universe"),
        Route {
            prefsrc: Some(src.into()),
            ..route("172.17.0.0/16", None, "eth0", "kernel", "link")
        },
    ];
    ns.neighbours = vec![neigh(
        "172.17.0.1",
        Some("02:42:8f:11:22:33"),
        "eth0",
        "REACHABLE",
    )];
    ns
}

fn macvlan() -> NamespaceInventory {
    let mut ns = NamespaceInventory::empty("nv-mac1", MAC1_ID, NetnsSource::Named);
    ns.netview = true;
    ns.ip_forward = Some(false);
    ns.links = vec![
        lo(),
        Link {
            mode: Some("bridge".into()),
            mac: Some("5e:8a:10:44:c0:21".into()),
            parent: r("root", "enp0s8"),
            addresses: vec![addr("192.168.50.21/24", "global")],
            ..link(2, "mv0", LinkKind::Macvlan)
        },
    ];
    ns.routes = vec![
        route("default", Some("192.168.50.1"), "mv0", "boot", "universe"),
        route("192.168.50.0/24", None, "mv0", "kernel", "link"),
    ];
    ns.neighbours = vec![neigh("192.168.50.10", None, "mv0", "INCOMPLETE")];
    ns
}

fn isolated() -> NamespaceInventory {
    let mut ns = NamespaceInventory::empty("nv-none", NONE_ID, NetnsSource::Named);
    ns.netview = true;
    ns.ip_forward = Some(false);
    ns.links = vec![Link {
        state: "UNKNOWN".into(),
        flags: flags("LOOPBACK,UP,LOWER_UP"),
        mac: Some("00:00:00:00:00:00".into()),
        mtu: Some(65536),
        addresses: vec![addr("127.0.0.1/8", "host")],
        ..link(1, "lo", LinkKind::Loopback)
    }];
    ns
}

/// Every namespace of the fixture, root first, each with what was read from it.
pub fn host() -> Vec<(Netns, Result<NamespaceInventory, String>)> {
    const NGINX: &str = "nginx (pid 1234, containerd-shim)";
    let mut nginx = container(
        "pid:1234",
        NGINX_ID,
        NetnsSource::Process,
        "veth1a2b3c4",
        "172.17.0.2/16",
        "02:42:ac:11:00:02",
    );
    nginx.process = Some(NGINX.into());
    let mut c1 = container(
        "nv-c1",
        C1_ID,
        NetnsSource::Named,
        "vethd5e6f7a",
        "172.17.0.3/16",
        "02:42:ac:11:00:03",
    );
    c1.netview = true;
    vec![
        (netns("root", ROOT_ID, NetnsSource::Root, None), Ok(root())),
        (
            netns("pid:1234", NGINX_ID, NetnsSource::Process, Some(NGINX)),
            Ok(nginx),
        ),
        (netns("nv-c1", C1_ID, NetnsSource::Named, None), Ok(c1)),
        (
            netns("nv-mac1", MAC1_ID, NetnsSource::Named, None),
            Ok(macvlan()),
        ),
        (
            netns("nv-none", NONE_ID, NetnsSource::Named, None),
            Ok(isolated()),
        ),
    ]
}

/// What an unprivileged user sees: no NAT rules (nft needs CAP_NET_ADMIN), and a process
/// namespace that cannot be entered.
pub fn unprivileged_host() -> Vec<(Netns, Result<NamespaceInventory, String>)> {
    let mut out = host();
    if let Some((_, Ok(root))) = out.first_mut() {
        root.nat.clear();
        root.errors
            .push("nft list ruleset: Operation not permitted (needs CAP_NET_ADMIN)".into());
    }
    out.push((
        netns(
            "pid:4321",
            DENIED_ID,
            NetnsSource::Process,
            Some("postgres (pid 4321)"),
        ),
        Err("cannot enter network namespace \"pid:4321\": EPERM: Operation not permitted".into()),
    ));
    out
}

/// A lab as `netview lab up` and `lab add` left it (read from a real run): the world, br1
/// (bridge), h1 (host), none1 (none) and mv1 (macvlan bridge, promisc).
pub fn lab_state() -> crate::lab::state::LabState {
    serde_json::from_str(include_str!("fixtures/lab_state.json")).expect("lab state fixture")
}

/// The live inventory of that lab's namespaces (read from the same run), with the two things
/// today's reader reads and that run's did not: every bridge port's hairpin flag (off: the
/// lab's spec says `hairpin: false`) and the parent of mv1's macvlan child (`enp0s8` in the
/// host, as the lab's state records it), so the packet walk can follow every cell.
pub fn lab_inventories() -> Vec<(Netns, Result<NamespaceInventory, String>)> {
    #[derive(serde::Deserialize)]
    struct Dump {
        namespaces: Vec<NamespaceInventory>,
    }
    let dump: Dump = serde_json::from_str(include_str!("fixtures/lab_inventory.json"))
        .expect("lab inventory fixture");
    let lab = lab_state();
    let host_ns = lab.host_ns.name().unwrap_or("root").to_string();
    dump.namespaces
        .into_iter()
        .map(|mut inv| {
            let ports: Vec<String> = inv
                .links
                .iter()
                .filter(|l| l.master.is_some())
                .map(|l| l.name.clone())
                .collect();
            for p in ports {
                inv.conf.entry(p).or_default().hairpin = Some(false);
            }
            for c in &lab.containers {
                if c.netns.as_deref() != Some(inv.name.as_str()) {
                    continue;
                }
                let Some(parent) = &c.parent else { continue };
                if let Some(l) = inv
                    .links
                    .iter_mut()
                    .find(|l| l.name == c.ifname && l.kind.has_lower_device() && l.parent.is_none())
                {
                    l.parent = r(&host_ns, parent);
                }
            }
            let ns = netns(&inv.name, inv.id, NetnsSource::Named, None);
            (ns, Ok(inv))
        })
        .collect()
}

/// Which namespace of [`lab_inventories`] each endpoint of [`lab_state`] is.
pub fn lab_netns_of(name: &str) -> String {
    let lab = lab_state();
    match lab.container(name) {
        Some(c) => c
            .netns
            .clone()
            .unwrap_or_else(|| lab.host_ns.name().unwrap_or("root").to_string()),
        None => lab.ns_name(name),
    }
}

/// The probe results of that lab (`netview probe --json` from the same run), as the matrix
/// runner hands them over: observed as the kernel answered then, expected (verdict, reason
/// and path) as the packet walk predicts over [`lab_inventories`]. The walk's verdicts agree
/// with the ones the rules gave in that run on every cell (checked below).
pub fn matrix_results() -> Vec<crate::probe::CellResult> {
    use crate::probe::cell::{Cell, CellResult, Expectation};
    use crate::probe::{walk, Observation, ProbeKind, ProbeOutcome};
    let world = crate::inventory::model::Inventory {
        namespaces: lab_inventories()
            .into_iter()
            .filter_map(|(_, r)| r.ok())
            .collect(),
        ..Default::default()
    };
    let v: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/probe_results.json")).expect("probe fixture");
    let s = |r: &serde_json::Value, k: &str| r[k].as_str().map(str::to_string);
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let kind = match r["kind"].as_str() {
                Some("arp") => ProbeKind::Arp,
                Some("tcp") => ProbeKind::Tcp,
                _ => ProbeKind::Icmp,
            };
            let detail = s(r, "detail").unwrap_or_default();
            let outcome = match r["outcome"].as_str().unwrap_or_default() {
                "Reply" => ProbeOutcome::Reply,
                "NoArpReply" => ProbeOutcome::NoArpReply,
                "Timeout" => ProbeOutcome::Timeout,
                "NoRoute" => ProbeOutcome::NoRoute,
                "Refused" => ProbeOutcome::Refused,
                "Unreachable" => ProbeOutcome::Unreachable(detail),
                _ => ProbeOutcome::SendFailed(detail),
            };
            let cell = Cell {
                from: s(r, "from").expect("from").into(),
                to: s(r, "to").expect("to").into(),
                target_ip: s(r, "target_ip").expect("ip").parse().expect("ip"),
                kind,
                port: r["port"].as_u64().map(|p| p as u16),
            };
            let predicted = walk::predict(
                &world,
                &walk::Probe {
                    netns: lab_netns_of(&cell.from).into(),
                    src: None,
                    target: cell.target_ip,
                    kind: match kind {
                        ProbeKind::Icmp => walk::WalkKind::Icmp,
                        ProbeKind::Arp => walk::WalkKind::Arp,
                        ProbeKind::Tcp => walk::WalkKind::Tcp {
                            port: cell.port.unwrap_or(80),
                        },
                    },
                },
            );
            CellResult {
                index: i,
                cell,
                observed: Observation {
                    outcome,
                    rtt_us: r["rtt_us"].as_u64(),
                    arp_mac: s(r, "arp_mac"),
                    seen_as: s(r, "seen_as").and_then(|x| x.parse().ok()),
                },
                expected: Expectation {
                    reachable: predicted.expected,
                    why: predicted.why,
                    path: predicted.path,
                }
                .into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// The walk's verdicts over the lab fixture are the rules' verdicts of the recorded run
    /// (so the snapshots show what that run expected), and every cell that leaves its
    /// namespace has a path.
    #[test]
    fn the_walk_agrees_with_the_recorded_run_on_every_cell() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("fixtures/probe_results.json")).unwrap();
        let recorded = v["results"].as_array().unwrap();
        let results = super::matrix_results();
        assert_eq!(results.len(), recorded.len());
        for (r, rec) in results.iter().zip(recorded) {
            assert_eq!(
                r.expected.reachable,
                rec["expected"].as_bool(),
                "{} -> {} {:?}: {}",
                r.cell.from,
                r.cell.to,
                r.cell.kind,
                r.expected.why
            );
        }
        let mv1_peer = results
            .iter()
            .find(|r| r.cell.from.as_ref() == "mv1" && r.cell.to.as_ref() == "peer")
            .unwrap();
        assert!(mv1_peer.expected.path.len() > 4, "{mv1_peer:#?}");
    }
}
