//! Privileged: the matrix is true at scale (issue 12). A lab of 150 containers (75 bridge, 75
//! macvlan bridge, as `scripts/bench-probe` builds) needs far more neighbour entries than the
//! kernel's default table holds (gc_thresh3 = 1,024, shared by every namespace); the paced
//! runner keeps every cell in agreement with its expectation (or `null`), and a 3-endpoint
//! probe right after it agrees too (the large run left no entries behind to disturb it).
//! The lab has its own prefix and state dir and is removed in Drop, also when an assert fails.

#[path = "lab_common/mod.rs"]
mod common;

use common::*;
use serde_json::Value;

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// The cells that differ from their expectation, one line each.
fn disagreements(run: &Value) -> Vec<String> {
    run["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["expected"] != Value::Null && r["expected"] != r["reachable"])
        .map(|r| {
            format!(
                "{} -> {} {} {}: {} (expected {}: {})",
                r["from"],
                r["to"],
                r["target_ip"],
                r["kind"],
                r["outcome"],
                r["expected"],
                r["why"]
            )
        })
        .collect()
}

fn probe(lab: &TestLab, args: &[&str]) -> Value {
    let mut all = vec!["probe", "--json"];
    all.extend_from_slice(args);
    let out = lab.ok(&all);
    serde_json::from_str(&out).expect("probe JSON")
}

#[test]
fn a_150_container_matrix_agrees_with_every_expectation_and_a_small_probe_after_it_too() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up", "--ip-range", "192.168.50.128/25"]);
    let bridge = names("b", 75);
    let macvlan = names("m", 75);
    let mut add = vec!["lab", "add"];
    add.extend(bridge.iter().map(String::as_str));
    add.extend(["--mode", "bridge"]);
    lab.ok(&add);
    let mut add = vec!["lab", "add"];
    add.extend(macvlan.iter().map(String::as_str));
    add.extend(["--mode", "macvlan", "--macvlan-mode", "bridge"]);
    lab.ok(&add);

    let run = probe(&lab, &[]);
    let results = run["results"].as_array().expect("results");
    // Every endpoint to every address of every endpoint: 150 containers and the world's nodes.
    assert!(results.len() > 150 * 150, "{} cells", results.len());
    let wrong = disagreements(&run);
    assert!(
        wrong.is_empty(),
        "{} of {} cells differ from their expectation (pacing: {}):\n{}",
        wrong.len(),
        results.len(),
        run["pacing"],
        wrong[..wrong.len().min(40)].join("\n")
    );
    assert_eq!(run["mismatches"], 0);
    assert_eq!(run["cells"], results.len());

    // Right after: three endpoints (a bridge container, a macvlan child, the host).
    let small = probe(
        &lab,
        &[
            "--from", "b0", "--from", "m0", "--from", "host", "--to", "b0", "--to", "m0", "--to",
            "host",
        ],
    );
    let small_results = small["results"].as_array().expect("results");
    assert!(!small_results.is_empty());
    let wrong = disagreements(&small);
    assert!(
        wrong.is_empty(),
        "the small probe after the large one:\n{}",
        wrong.join("\n")
    );
    assert!(small["pacing"].is_null(), "{}", small["pacing"]);

    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}
