//! Privileged: the packet walk's expectations agree with the kernel on every lab world
//! (tests/lab_common `lab_world_tests!`: bridge with and without NAT, host, none, every
//! macvlan mode with and without hairpin, the host shim). Every ICMP and ARP cell of
//! `netview probe --json` (whose observations tests/probe_lab_oracle.rs proves equal to
//! ping/arping) carries the walk's expectation over the live inventory; it must equal the
//! observation or be `null`, and `null` cells stay under 2%. The same walk over
//! `netview inventory --all --json` (what a person can save and read back) must predict the
//! same. Counts are printed per world.

#[path = "lab_common/mod.rs"]
#[macro_use]
mod common;

use common::*;
use netview::inventory::Inventory;
use netview::probe::walk::{predict_all, Probe, WalkKind};
use serde_json::Value;

#[derive(Debug, Default)]
struct Counts {
    cells: usize,
    null: usize,
    agree: usize,
    /// Cells whose expectation differs from the kernel, one line each.
    differ: Vec<String>,
    /// Cells where the walk over the saved inventory predicts otherwise than the run did.
    inventory_differs: Vec<String>,
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
    let results: Vec<&Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| matches!(r["kind"].as_str(), Some("icmp" | "arp")))
        .collect();
    let probes: Vec<Probe> = results
        .iter()
        .map(|r| Probe {
            netns: ns_of(r["from"].as_str().unwrap()).into(),
            src: None,
            target: r["target_ip"].as_str().unwrap().parse().unwrap(),
            kind: if r["kind"] == "arp" {
                WalkKind::Arp
            } else {
                WalkKind::Icmp
            },
        })
        .collect();
    let started = std::time::Instant::now();
    let from_inventory = predict_all(&inv, &probes);
    // Printed, never asserted: how long the walk takes for the whole matrix.
    eprintln!("walk: {} cells in {:?}", probes.len(), started.elapsed());
    let mut c = Counts::default();
    for (r, p) in results.iter().zip(&from_inventory) {
        let cell = format!(
            "{} -> {} {} {}",
            r["from"], r["to"], r["target_ip"], r["kind"]
        );
        c.cells += 1;
        let expected = r["expected"].as_bool();
        let observed = r["reachable"].as_bool();
        match expected {
            None => c.null += 1,
            Some(e) if Some(e) == observed => c.agree += 1,
            Some(_) => c.differ.push(format!(
                "{cell}: expected {expected:?} ({}), kernel {observed:?}",
                r["why"]
            )),
        }
        if p.expected != expected {
            c.inventory_differs.push(format!(
                "{cell}: run {expected:?} ({}), walk over the saved inventory {:?} ({})",
                r["why"], p.expected, p.why
            ));
        }
    }
    c
}

fn check(world: &LabWorld) {
    let lab = world.build();
    let c = compare(&lab);
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
    eprintln!(
        "{}: {} cells, {} agree, {} null, {} differ",
        world.name,
        c.cells,
        c.agree,
        c.null,
        c.differ.len()
    );
    assert!(c.cells > 0, "{}: no cells probed", world.name);
    assert!(
        c.differ.is_empty(),
        "{}: the walk's expectation differs from the kernel on {} cells:\n{}",
        world.name,
        c.differ.len(),
        c.differ.join("\n")
    );
    assert!(
        c.null * 50 < c.cells,
        "{}: {} of {} cells have no prediction",
        world.name,
        c.null,
        c.cells
    );
    assert!(
        c.inventory_differs.is_empty(),
        "{}: the saved inventory predicts otherwise:\n{}",
        world.name,
        c.inventory_differs.join("\n")
    );
}

lab_world_tests!(check);
