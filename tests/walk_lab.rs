//! Privileged: the packet walk over the inventory netview reads agrees with the kernel. For
//! every lab world the oracle tests build (bridge with and without NAT, host, none, every
//! macvlan mode with and without hairpin, the host shim), every ICMP and ARP cell of
//! `netview probe --json` (whose observations tests/probe_lab_oracle.rs proves equal to
//! ping/arping) is predicted by the walk over `netview inventory --all --json`, and compared
//! with the observation and with today's rule table. Counts are printed per world.

#[path = "lab_common/mod.rs"]
mod common;

use common::*;
use netview::inventory::Inventory;
use netview::probe::walk::{predict, Probe, WalkKind};
use serde_json::Value;

#[derive(Debug, Default)]
struct Counts {
    cells: usize,
    unknown: usize,
    agree_kernel: usize,
    agree_rules: usize,
    differences: Vec<String>,
    /// (from, to, kind) of each difference.
    differing: Vec<(String, String, String)>,
}

fn compare(lab: &TestLab) -> Counts {
    let run: Value = serde_json::from_str(&lab.ok(&["probe", "--json"])).expect("probe JSON");
    let inv: Inventory =
        serde_json::from_str(&lab.ok(&["inventory", "--all", "--json"])).expect("inventory JSON");
    let ls = lab.ls_json();
    let ns_of = |name: &str| -> String {
        let e = ls["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap();
        e["stack_netns"]
            .as_str()
            .or(e["netns"].as_str())
            .unwrap()
            .to_string()
    };
    let mut c = Counts::default();
    let started = std::time::Instant::now();
    for r in run["results"].as_array().unwrap() {
        let kind = match r["kind"].as_str().unwrap() {
            "icmp" => WalkKind::Icmp,
            "arp" => WalkKind::Arp,
            _ => continue,
        };
        let probe = Probe {
            netns: ns_of(r["from"].as_str().unwrap()),
            src: None,
            target: r["target_ip"].as_str().unwrap().parse().unwrap(),
            kind,
        };
        let p = predict(&inv, &probe);
        c.cells += 1;
        let observed = r["reachable"].as_bool();
        let rules = r["expected"].as_bool();
        match p.expected {
            None => c.unknown += 1,
            Some(e) => {
                c.agree_kernel += usize::from(Some(e) == observed);
                c.agree_rules += usize::from(Some(e) == rules);
            }
        }
        if p.expected != observed {
            c.differing.push((
                r["from"].as_str().unwrap().to_string(),
                r["to"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            ));
            c.differences.push(format!(
                "{} -> {} {} {}: walk {:?} ({}), kernel {:?}, rules {:?}",
                r["from"], r["to"], r["target_ip"], r["kind"], p.expected, p.why, observed, rules
            ));
        }
    }
    // Printed, never asserted: how long the walk takes for the whole matrix.
    eprintln!("walk: {} cells in {:?}", c.cells, started.elapsed());
    c
}

fn check(lab: TestLab, what: &str) {
    check_known(lab, what, &[]);
}

/// As [`check`], with the cells (from, to, kind) where the walk is known to differ.
fn check_known(lab: TestLab, what: &str, known: &[(&str, &str, &str)]) {
    let c = compare(&lab);
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
    eprintln!(
        "{what}: {} cells, {} unknown, walk = kernel on {}, walk = rules on {}",
        c.cells, c.unknown, c.agree_kernel, c.agree_rules
    );
    for d in &c.differences {
        eprintln!("  {d}");
    }
    assert!(c.cells > 0, "{what}: no cells probed");
    let known: Vec<(String, String, String)> = known
        .iter()
        .map(|(a, b, k)| (a.to_string(), b.to_string(), k.to_string()))
        .collect();
    let mut differing = c.differing.clone();
    differing.sort();
    assert!(
        differing == known,
        "{what}: the walk differs from the kernel on {} cells:\n{}",
        c.differences.len(),
        c.differences.join("\n")
    );
}

fn macvlan(lab: &TestLab, name: &str, mode: &str) {
    lab.ok(&[
        "lab",
        "add",
        name,
        "--mode",
        "macvlan",
        "--macvlan-mode",
        mode,
    ]);
}

#[test]
fn bridge_host_and_none() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "b1", "--mode", "bridge"]);
    lab.ok(&["lab", "add", "b2", "--mode", "bridge"]);
    lab.ok(&["lab", "add", "h1", "--mode", "host"]);
    lab.ok(&["lab", "add", "n1", "--mode", "none"]);
    check(lab, "bridge with NAT, host, none");
}

#[test]
fn bridge_without_nat() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "b1", "--mode", "bridge", "--no-nat"]);
    lab.ok(&["lab", "add", "b2", "--mode", "bridge", "--no-nat"]);
    check(lab, "bridge without NAT");
}

#[test]
fn macvlan_bridge() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "m1", "--mode", "macvlan", "--promisc"]);
    lab.ok(&["lab", "add", "m2", "--mode", "macvlan"]);
    check(lab, "macvlan bridge");
}

#[test]
fn macvlan_private() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    macvlan(&lab, "m1", "private");
    macvlan(&lab, "m2", "private");
    check(lab, "macvlan private");
}

#[test]
fn macvlan_vepa_without_and_with_hairpin() {
    for hairpin in [false, true] {
        let lab = TestLab::new();
        if hairpin {
            lab.ok(&["lab", "up", "--hairpin"]);
        } else {
            lab.ok(&["lab", "up"]);
        }
        macvlan(&lab, "v1", "vepa");
        macvlan(&lab, "v2", "vepa");
        check(
            lab,
            if hairpin {
                "vepa, hairpin"
            } else {
                "vepa, plain switch"
            },
        );
    }
}

#[test]
fn macvlan_passthru() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    macvlan(&lab, "p1", "passthru");
    check(lab, "macvlan passthru");
}

#[test]
fn macvlan_with_host_shim() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "m1", "--mode", "macvlan", "--host-shim"]);
    lab.ok(&["lab", "add", "m2", "--mode", "macvlan"]);
    check(lab, "macvlan with a host shim");
}

#[test]
fn macvlan_private_with_hairpin() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up", "--hairpin"]);
    macvlan(&lab, "m1", "private");
    macvlan(&lab, "m2", "private");
    // The walk predicts one cell alone. In a run, the host's who-has for each child (its ARP
    // probe, or the ARP behind its echo) reaches the child through the hairpin switch and
    // teaches it the host's MAC, so the child's own echo to the host works although its own
    // who-has only ever comes back to itself (the rule table's `expect_all` models this).
    check_known(
        lab,
        "macvlan private, hairpin",
        &[("m1", "host", "icmp"), ("m2", "host", "icmp")],
    );
}
