//! The index answers what the plain scans answered: every lookup of [`WalkIndex`] compared with
//! the scan it replaced ([`super::route`]'s, and the walk's own scans of the inventory, written
//! out here), on worlds with the duplicates a busy host has: one address held by several
//! namespaces and twice in one, host-mode containers sharing the root namespace, a namespace
//! name read twice, links by one name, links down, routes that tie.

use super::*;
use crate::probe::walk::index::WalkIndex;
use crate::probe::walk::l2::IfId;

/// The walk's scans before the index, as they were written.
mod scan {
    use super::*;

    pub fn namespace(inv: &Inventory, name: &str) -> Option<usize> {
        inv.namespaces.iter().position(|n| n.name == name)
    }

    pub fn find(inv: &Inventory, netns: &str, dev: &str) -> Option<IfId> {
        let n = inv.namespaces.iter().position(|n| n.name == netns)?;
        let l = inv.namespaces[n].links.iter().position(|l| l.name == dev)?;
        Some((n, l))
    }

    pub fn children(inv: &Inventory, parent: IfId, kinds: &[LinkKind]) -> Vec<IfId> {
        let pns = &inv.namespaces[parent.0].name;
        let pname = &inv.namespaces[parent.0].links[parent.1].name;
        let mut out = Vec::new();
        for (n, ns) in inv.namespaces.iter().enumerate() {
            for (l, link) in ns.links.iter().enumerate() {
                if !kinds.contains(&link.kind) {
                    continue;
                }
                let Some(r) = &link.parent else { continue };
                if r.name.as_deref() == Some(pname.as_str())
                    && r.netns.as_deref() == Some(pns.as_str())
                {
                    out.push((n, l));
                }
            }
        }
        out
    }

    pub fn holders(inv: &Inventory, ip: Ipv4Addr) -> Vec<IfId> {
        inv.namespaces
            .iter()
            .enumerate()
            .flat_map(|(n, ns)| (0..ns.links.len()).map(move |l| (n, l)))
            .filter(|(n, l)| {
                inv.namespaces[*n].links[*l]
                    .addresses
                    .iter()
                    .any(|a| a.ip == IpAddr::V4(ip))
            })
            .collect()
    }
}

/// Every lookup the walk makes, indexed and scanned, over every name, address and link the
/// world holds (and some it does not).
fn assert_index_agrees(inv: &Inventory) {
    let ix = WalkIndex::new(inv);
    let mut ips: Vec<Ipv4Addr> = inv
        .namespaces
        .iter()
        .flat_map(|n| &n.links)
        .flat_map(|l| &l.addresses)
        .filter_map(|a| match a.ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    for extra in [
        "127.0.0.1",
        "127.3.2.1",
        "255.255.255.255",
        "10.0.0.255",
        "10.0.255.255",
        "172.17.255.255",
        "192.168.50.255",
        "203.0.113.9",
        "0.0.0.0",
    ] {
        ips.push(extra.parse().unwrap());
    }
    let mut names: Vec<&str> = inv.namespaces.iter().map(|n| n.name.as_str()).collect();
    names.push("nowhere");
    let mut devs: Vec<&str> = inv
        .namespaces
        .iter()
        .flat_map(|n| &n.links)
        .map(|l| l.name.as_str())
        .collect();
    devs.push("nothing0");
    for name in &names {
        assert_eq!(ix.namespace(name), scan::namespace(inv, name), "{name}");
        for dev in &devs {
            assert_eq!(
                ix.find(name, dev),
                scan::find(inv, name, dev),
                "{dev} in {name}"
            );
        }
    }
    for ip in &ips {
        assert_eq!(ix.holders(*ip), scan::holders(inv, *ip), "holders of {ip}");
    }
    const KINDS: &[&[LinkKind]] = &[
        &[LinkKind::Macvlan, LinkKind::Macvtap],
        &[LinkKind::Ipvlan, LinkKind::Ipvtap],
        &[LinkKind::Macvlan],
    ];
    let named = |r: &Option<crate::inventory::LinkRef>| {
        let r = r.as_ref()?;
        scan::find(inv, r.netns.as_deref()?, r.name.as_deref()?)
    };
    for (n, ns) in inv.namespaces.iter().enumerate() {
        for (l, link) in ns.links.iter().enumerate() {
            let here = format!("{} in {}", link.name, ns.name);
            assert_eq!(ix.peer((n, l)), named(&link.peer), "peer of {here}");
            assert_eq!(ix.parent((n, l)), named(&link.parent), "parent of {here}");
            let master = link
                .master
                .as_deref()
                .and_then(|m| ns.links.iter().position(|x| x.name == m));
            assert_eq!(ix.master((n, l)), master, "master of {here}");
            for kinds in KINDS {
                assert_eq!(
                    ix.children((n, l), kinds),
                    scan::children(inv, (n, l), kinds),
                    "children of {} in {}",
                    link.name,
                    ns.name
                );
            }
            let ports: Vec<usize> = ns
                .links
                .iter()
                .enumerate()
                .filter(|(_, p)| p.master.as_deref() == Some(link.name.as_str()))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(ix.bridge_ports(n, &link.name), ports.as_slice());
            let macs = ns.links.iter().filter_map(|l| l.mac.clone());
            for mac in macs.chain(["02:00:00:00:FF:FF".to_string()]) {
                for m in [mac.clone(), mac.to_ascii_uppercase()] {
                    assert_eq!(
                        ix.bridge_port_has_mac(n, &link.name, &m),
                        ns.bridge_ports(&link.name)
                            .any(|p| p.mac.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(&m))),
                        "a port of {} in {} with {m}",
                        link.name,
                        ns.name
                    );
                }
            }
        }
        for ip in &ips {
            assert_eq!(
                ix.owner_link(n, *ip),
                route::owner_link(ns, *ip),
                "owner of {ip} in {}",
                ns.name
            );
            let (a, b) = (ix.lookup(n, *ip), route::lookup(ns, *ip));
            assert!(
                match (a, b) {
                    (Some(a), Some(b)) => std::ptr::eq(a, b),
                    (None, None) => true,
                    _ => false,
                },
                "route to {ip} in {}: {a:?} against {b:?}",
                ns.name
            );
            assert_eq!(
                ix.is_subnet_broadcast(n, *ip),
                route::is_subnet_broadcast(ns, *ip),
                "{ip} a broadcast in {}",
                ns.name
            );
        }
        for r in &ns.routes {
            assert_eq!(ix.source_for(n, r), route::source_for(ns, r), "{r:?}");
        }
    }
}

/// A world with the duplicates: two Docker hosts with the same 172.17.0.0/16 and the same
/// container addresses, a namespace holding one address on two links (one down), the root
/// namespace shared by host-mode containers (one namespace, its addresses probed from several
/// endpoints), a namespace name read twice, routes that tie on prefix and metric, a route
/// through a link that is down, and macvlan and ipvlan children of parents that share a name.
fn duplicates() -> W {
    let mut w = W::default();
    w.ns("root", true)
        .ns("h2", true)
        .ns("c1", false)
        .ns("c2", false);
    w.ns("c1b", false);
    w.link("root", "lo", LinkKind::Loopback, Some("127.0.0.1/8"));
    w.link("h2", "lo", LinkKind::Loopback, Some("127.0.0.1/8"));
    w.get("h2").links.last_mut().unwrap().flags.clear();
    w.veth(
        ("c1", "eth0", Some("172.17.0.2/16")),
        ("root", "veth1", None),
    );
    w.veth(("c2", "eth0", Some("172.17.0.2/16")), ("h2", "veth1", None));
    w.veth(
        ("c1b", "eth0", Some("172.17.0.3/16")),
        ("root", "veth2", None),
    );
    w.bridge(
        "root",
        "docker0",
        Some("172.17.0.1/16"),
        &["veth1", "veth2"],
        false,
    );
    w.bridge("h2", "docker0", Some("172.17.0.1/16"), &["veth1"], true);
    // Upper-case MACs, as some readers print them.
    let mac = w.get("root").links[1].mac.clone().unwrap();
    w.get("root").links[1].mac = Some(mac.to_ascii_uppercase());
    // One address twice in one namespace: on a dummy that is down, then on one that is up.
    w.link("root", "dummy0", LinkKind::Dummy, Some("10.0.0.1/24"));
    w.get("root").links.last_mut().unwrap().flags.clear();
    w.link("root", "dummy1", LinkKind::Dummy, Some("10.0.0.1/24"));
    // Routes tying on prefix and metric, one through a down link, a gateway route.
    w.route("root", "10.0.0.0/24", None, "dummy1");
    w.route("root", "default", Some("10.0.0.254"), "dummy0");
    w.route("root", "default", Some("10.0.0.253"), "dummy1");
    w.route("root", "default", Some("10.0.0.252"), "dummy1");
    w.route("root", "203.0.113.0/24", None, "dummy1");
    w.get("root").routes.last_mut().unwrap().metric = Some(100);
    w.route("root", "203.0.113.0/24", None, "veth2");
    w.get("root").routes.last_mut().unwrap().metric = Some(50);
    w.get("root").routes.last_mut().unwrap().prefsrc = Some("172.17.0.1".into());
    w.route("c1", "default", Some("172.17.0.1"), "eth0");
    w.route("c2", "default", Some("172.17.0.1"), "eth0");
    w.typed_route("c2", "10.9.0.0/16", "blackhole");
    // macvlan children of root's enp0s8 and of h2's enp0s8 (a parent name both hosts use);
    // an ipvlan child; a child whose parent's namespace was not read.
    w.link(
        "root",
        "enp0s8",
        LinkKind::Physical,
        Some("192.168.50.11/24"),
    );
    w.link("h2", "enp0s8", LinkKind::Physical, Some("192.168.50.11/24"));
    w.ns("m1", false).ns("m2", false).ns("i1", false);
    w.stacked(
        "m1",
        "eth0",
        LinkKind::Macvlan,
        "bridge",
        ("root", "enp0s8"),
        "192.168.50.20/24",
    );
    w.stacked(
        "m2",
        "eth0",
        LinkKind::Macvlan,
        "private",
        ("h2", "enp0s8"),
        "192.168.50.20/24",
    );
    w.stacked(
        "i1",
        "eth0",
        LinkKind::Ipvlan,
        "l3",
        ("root", "enp0s8"),
        "192.168.50.30/24",
    );
    w.link("m1", "orphan", LinkKind::Macvlan, Some("192.168.50.21/24"));
    w.get("m1").links.last_mut().unwrap().parent = Some(LinkRef {
        netns: None,
        name: Some("enp0s8".into()),
    });
    // The same namespace name read twice (a namespace deleted and made again during the read):
    // the walk takes the first.
    w.ns("c1-again", false);
    w.link("c1-again", "eth0", LinkKind::Dummy, Some("172.17.0.9/16"));
    w.get("c1-again").name = "c1".into();
    w
}

#[test]
fn the_index_answers_what_the_scans_answered_on_a_world_of_duplicates() {
    let w = duplicates();
    // The world has what the test is about.
    assert_eq!(
        w.inv.namespaces.iter().filter(|n| n.name == "c1").count(),
        2
    );
    let ip: Ipv4Addr = "172.17.0.2".parse().unwrap();
    assert_eq!(scan::holders(&w.inv, ip).len(), 2);
    assert_index_agrees(&w.inv);
}

#[test]
fn the_index_answers_what_the_scans_answered_on_the_lab_and_every_test_world() {
    assert_index_agrees(&scale::lab_world(6).inv);
    for w in [
        pair(),
        routed(true, true),
        asymmetric(2),
        docker(true),
        macvlan_world(&["bridge", "private", "vepa", "passthru"], true),
        ipvlan_world(&["l2", "l3", "l3s"]),
    ] {
        assert_index_agrees(&w.inv);
    }
}

#[test]
fn predictions_among_duplicates_take_the_first_namespace_and_owner_as_before() {
    let w = duplicates();
    // c1 (the first by that name) reaches c1b across root's docker0.
    let p = w.go("c1", "172.17.0.3", ICMP);
    assert_eq!(p.expected, Some(true), "{p:#?}");
    // 10.0.0.1 belongs to dummy1 (dummy0, holding it too, is down).
    let p = w.go("root", "10.0.0.1", ICMP);
    assert_eq!(&*p.path[0].dev, "dummy1", "{p:#?}");
    // c2 holds the same address as c1, on the other host: its own, delivered locally.
    let p = w.go("c2", "172.17.0.2", ICMP);
    expect(&p, Some(true), "delivered locally");
    // Host-mode containers are the root namespace: their probes are root's, the same each.
    let from_root = |target: &str| Probe {
        netns: "root".into(),
        src: None,
        target: target.parse().unwrap(),
        kind: ICMP,
    };
    let run = predict_all(
        &w.inv,
        &[
            from_root("172.17.0.3"),
            from_root("172.17.0.3"),
            from_root("192.168.50.20"),
        ],
    );
    assert_eq!(run[0], run[1]);
    assert_eq!(run[0].expected, Some(true), "{:#?}", run[0]);
}
