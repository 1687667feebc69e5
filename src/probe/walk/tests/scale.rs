//! The walk at the scale of issue 12: a world shaped like `netview lab up --ip-range
//! 192.168.50.128/25` with N bridge and N macvlan-bridge containers (scripts/bench-probe's
//! lab), every endpoint probing every other's addresses by ICMP and ARP. The ignored test
//! times `predict_all` over it (timings are printed, never asserted):
//!
//! `cargo test --release --lib probe::walk::tests::scale -- --ignored --nocapture`
//! (`NV_WALK_SIZE=N` containers of each mode, default 100: 200 containers).

use super::*;

/// The lab's world with `half` bridge and `half` macvlan (bridge mode) containers.
pub(super) fn lab_world(half: usize) -> W {
    let mut w = W::default();
    for n in ["nv-switch", "nv-host", "nv-peer", "nv-router"] {
        w.ns(n, n == "nv-host" || n == "nv-router");
    }
    w.veth(
        ("nv-host", "enp0s8", Some("192.168.50.11/24")),
        ("nv-switch", "p-host", None),
    );
    w.veth(
        ("nv-peer", "eth0", Some("192.168.50.12/24")),
        ("nv-switch", "p-peer", None),
    );
    w.veth(
        ("nv-router", "eth0", Some("192.168.50.1/24")),
        ("nv-switch", "p-router", None),
    );
    w.bridge(
        "nv-switch",
        "lan0",
        None,
        &["p-host", "p-peer", "p-router"],
        false,
    );
    w.link(
        "nv-router",
        "lo",
        LinkKind::Loopback,
        Some("198.51.100.1/32"),
    );
    w.route("nv-host", "default", Some("192.168.50.1"), "enp0s8");
    w.route("nv-peer", "default", Some("192.168.50.1"), "eth0");
    let ports: Vec<String> = (0..half).map(|i| format!("veth{i}")).collect();
    for (i, port) in ports.iter().enumerate() {
        let ns = format!("nv-b{i}");
        w.ns(&ns, false);
        let addr = format!("172.17.{}.{}/16", (i + 2) / 256, (i + 2) % 256);
        w.veth((&ns, "eth0", Some(&addr)), ("nv-host", port, None));
        w.route(&ns, "default", Some("172.17.0.1"), "eth0");
    }
    let port_names: Vec<&str> = ports.iter().map(String::as_str).collect();
    w.bridge(
        "nv-host",
        "docker0",
        Some("172.17.0.1/16"),
        &port_names,
        false,
    );
    w.nat(
        "nv-host",
        "POSTROUTING",
        "ip saddr 172.17.0.0/16 oifname != \"docker0\" masquerade",
    );
    for i in 0..half {
        let ns = format!("nv-m{i}");
        w.ns(&ns, false);
        w.stacked(
            &ns,
            "eth0",
            LinkKind::Macvlan,
            "bridge",
            ("nv-host", "enp0s8"),
            &format!("192.168.50.{}/24", 128 + i),
        );
        w.route(&ns, "default", Some("192.168.50.1"), "eth0");
    }
    // Every namespace has its lo (the kernel's local table routes 127/8, not the main one).
    let names: Vec<String> = w.inv.namespaces.iter().map(|n| n.name.clone()).collect();
    for n in &names {
        if n != "nv-router" {
            w.link(n, "lo", LinkKind::Loopback, Some("127.0.0.1/8"));
            w.get(n).routes.pop();
        }
    }
    w
}

/// Every namespace with an address probing every other namespace's addresses, ICMP and ARP
/// (as `netview probe` plans the lab's matrix).
pub(super) fn all_pairs(w: &W) -> Vec<Probe> {
    let addrs = |ns: &NamespaceInventory| -> Vec<IpAddr> {
        ns.links
            .iter()
            .flat_map(|l| &l.addresses)
            .map(|a| a.ip)
            .filter(|ip| !ip.is_loopback())
            .collect()
    };
    let mut probes = Vec::new();
    for src in &w.inv.namespaces {
        if addrs(src).is_empty() {
            continue;
        }
        for dst in w.inv.namespaces.iter().filter(|d| d.name != src.name) {
            for target in addrs(dst) {
                for kind in [ICMP, ARP] {
                    probes.push(Probe {
                        netns: src.name.as_str().into(),
                        src: None,
                        target,
                        kind,
                    });
                }
            }
        }
    }
    probes
}

/// A fingerprint of the predictions (verdicts, reasons and paths), to compare two builds.
pub(super) fn fingerprint(predictions: &[Prediction]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in predictions {
        p.expected.hash(&mut h);
        p.why.hash(&mut h);
        p.path.hash(&mut h);
    }
    h.finish()
}

#[test]
#[ignore = "a benchmark: prints the time of predict_all at 200 containers"]
fn predict_all_at_200_containers() {
    let half: usize = std::env::var("NV_WALK_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let w = lab_world(half);
    let probes = all_pairs(&w);
    let start = std::time::Instant::now();
    let predictions = predict_all(&w.inv, &probes);
    let took = start.elapsed();
    let count = |v: Option<bool>| predictions.iter().filter(|p| p.expected == v).count();
    println!(
        "predict_all: {} containers, {} namespaces, {} probes in {:.2} s \
         (true {}, false {}, unknown {}; fingerprint {:016x})",
        2 * half,
        w.inv.namespaces.len(),
        probes.len(),
        took.as_secs_f64(),
        count(Some(true)),
        count(Some(false)),
        count(None),
        fingerprint(&predictions)
    );
}

/// A broadcast's flood followed once per sender and shared by the run's other probes gives
/// each probe the prediction (verdict, reason and every hop) it gets walked alone, with an
/// index of its own; and the run keeps one flood per sending interface, not one per probe.
#[test]
fn shared_floods_predict_what_each_probe_alone_predicts() {
    let w = lab_world(4);
    let probes = all_pairs(&w);
    let filter = InventoryFilters::new(&w.inv);
    let shared = crate::probe::walk::index::WalkIndex::new(&w.inv);
    let together: Vec<Prediction> = probes
        .iter()
        .map(|p| predict_seeded(&shared, &filter, p, None).0.prediction)
        .collect();
    let alone: Vec<Prediction> = probes.iter().map(|p| predict(&w.inv, p)).collect();
    assert_eq!(together, alone);
    let senders: std::collections::HashSet<&str> = probes.iter().map(|p| &*p.netns).collect();
    assert!(
        shared.floods_kept() > 0 && shared.floods_kept() <= senders.len() * 2,
        "{} floods kept for {} senders' {} probes",
        shared.floods_kept(),
        senders.len(),
        probes.len()
    );
}
