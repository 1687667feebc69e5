//! Privileged: for every lab world (tests/lab_common `lab_world_tests!`), netview's observed
//! outcome for every ICMP and ARP pair equals an independent oracle run in the same namespaces
//! in this test (iputils `ping -c1 -W1`, `arping -c1 -w1`), and no cell differs from the
//! packet walk's expectation (`--check` exits 0).

#[path = "lab_common/mod.rs"]
#[macro_use]
mod common;

use common::*;
use serde_json::Value;

/// Run netview's probes on the lab, then the oracle for every ICMP/ARP result; return the
/// disagreements, one line each.
fn compare_with_oracle(lab: &TestLab) -> (Vec<String>, u64) {
    let out = lab.run(&["probe", "--json", "--check"]);
    let code = out.status.code();
    let run: Value = serde_json::from_slice(&out.stdout).expect("probe JSON");
    let mut problems = Vec::new();
    if code != Some(0) {
        for r in run["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["mismatch"] == true)
        {
            problems.push(format!(
                "walk: {} -> {} {} {}: observed {} expected {} ({})",
                r["from"],
                r["to"],
                r["target_ip"],
                r["kind"],
                r["reachable"],
                r["expected"],
                r["why"]
            ));
        }
        if problems.is_empty() {
            problems.push(format!(
                "probe --check exited {code:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
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
    // Every oracle command runs at once (an unanswered ping waits its whole second), then
    // each is compared with netview's result for the same pair.
    let mut pending = Vec::new();
    for r in run["results"].as_array().unwrap() {
        let from = r["from"].as_str().unwrap();
        let target = r["target_ip"].as_str().unwrap();
        let ns = ns_of(from);
        let args: Vec<String> = match r["kind"].as_str().unwrap() {
            "icmp" => ["ping", "-c1", "-W1", target].map(String::from).to_vec(),
            "arp" => {
                // The interface the kernel would use for the target, asked of the kernel.
                let route = ip_json(Some(&ns), &["route", "get", target]);
                let dev = route[0]["dev"].as_str().unwrap_or("lo").to_string();
                ["arping", "-c1", "-w1", "-I", &dev, target]
                    .map(String::from)
                    .to_vec()
            }
            _ => continue,
        };
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &ns])
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn oracle");
        pending.push((r, child));
    }
    for (r, mut child) in pending {
        let oracle = child.wait().expect("oracle").success();
        if r["reachable"].as_bool() != Some(oracle) {
            problems.push(format!(
                "oracle: {} -> {} {} {}: netview {} ({}), oracle {oracle}",
                r["from"], r["to"], r["target_ip"], r["kind"], r["reachable"], r["outcome"]
            ));
        }
    }
    (problems, run["elapsed_ms"].as_u64().unwrap_or(0))
}

fn check(world: &LabWorld) {
    let lab = world.build();
    let (problems, elapsed) = compare_with_oracle(&lab);
    eprintln!("{}: matrix in {elapsed} ms", world.name);
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
    assert!(
        problems.is_empty(),
        "{}:\n{}",
        world.name,
        problems.join("\n")
    );
}

lab_world_tests!(check);
