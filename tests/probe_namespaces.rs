//! Privileged: `netview probe --from/--to` on namespaces that are not a lab. A small world is
//! built with iproute2 only (a, a router b with forwarding off, c with no route back), probed
//! by name and by `pid:N`, and every cell is compared with ping/arping run in the same
//! namespaces. Outside the lab the packet walk predicts every cell over the inventory, and the
//! prediction agrees with what the probes and ping/arping saw.

mod probe_common;

use std::collections::HashMap;
use std::process::{Command, Stdio};

use probe_common::*;
use serde_json::Value;

/// a (10.73.0.2) — b (10.73.0.1 | 10.73.1.1, ip_forward 0) — c (10.73.1.2, no route back).
fn world(t: &mut Topo) {
    for n in ["a", "b", "c"] {
        t.add(n);
    }
    t.veth("a", "eth0", "b", "eth0");
    t.veth("b", "eth1", "c", "eth0");
    t.ip("a", &["addr", "add", "10.73.0.2/24", "dev", "eth0"]);
    t.ip("b", &["addr", "add", "10.73.0.1/24", "dev", "eth0"]);
    t.ip("b", &["addr", "add", "10.73.1.1/24", "dev", "eth1"]);
    t.ip("c", &["addr", "add", "10.73.1.2/24", "dev", "eth0"]);
    t.ip("a", &["route", "add", "10.73.1.0/24", "via", "10.73.0.1"]);
    t.exec("b", &["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
}

/// IPv4 routes (every table), rules, addresses and ip_forward: what a probe must leave as it
/// found it. (IPv6 routes are left out: the kernel adds a link-local address's local route
/// when duplicate address detection ends, which happened during the run here.)
fn snapshot(t: &Topo, n: &str) -> String {
    let ns = t.ns(n);
    let mut s = String::new();
    for args in [
        &["-4", "route", "show", "table", "all"][..],
        &["rule", "show"],
        &["-br", "addr"],
    ] {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&ns)
            .args(args)
            .output()
            .unwrap();
        s.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let fwd = Command::new("ip")
        .args(["netns", "exec", &ns, "sysctl", "-n", "net.ipv4.ip_forward"])
        .output()
        .unwrap();
    s.push_str(&String::from_utf8_lossy(&fwd.stdout));
    s
}

/// ping (ICMP) or arping (ARP, out of the interface the kernel routes the target through),
/// run inside the source's namespace.
fn oracle(ns: &str, kind: &str, ip: &str) -> bool {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]);
    match kind {
        "icmp" => {
            cmd.args(["ping", "-n", "-c1", "-W1", ip]);
        }
        "arp" => {
            let (ifname, src) = kernel_route(ns, ip).expect("an on-link route for an ARP cell");
            cmd.args([
                "arping", "-c", "1", "-w", "1", "-i", &ifname, "-S", &src, ip,
            ]);
        }
        other => panic!("unexpected kind {other}"),
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn namespaces_by_name_and_pid_agree_with_ping() {
    let mut t = Topo::new("nsw");
    world(&mut t);
    // A process inside c, so c can also be named `pid:N` as the inventory names unnamed ones.
    let mut holder = Command::new("ip")
        .args(["netns", "exec", &t.ns("c"), "sleep", "60"])
        .spawn()
        .unwrap();
    let pid_c = format!("pid:{}", holder.id());
    let before: Vec<String> = ["a", "b", "c"].iter().map(|n| snapshot(&t, n)).collect();
    let empty_state = tempfile::tempdir().unwrap();
    let (a, b) = (t.ns("a"), t.ns("b"));
    let out = Command::new(env!("CARGO_BIN_EXE_netview"))
        .args(["probe", "--json", "--kind", "all", "--port", "9"])
        .args(["--from", &a, "--from", &b, "--from", &pid_c])
        .args(["--to", &a, "--to", &b, "--to", &pid_c, "--to", "10.73.1.2"])
        .env_remove("NETVIEW_PROBE_LAB")
        .env("NETVIEW_STATE_DIR", empty_state.path())
        .output()
        .unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    let ns_of: HashMap<String, String> = [
        (a.clone(), a.clone()),
        (b.clone(), b.clone()),
        (pid_c.clone(), t.ns("c")),
    ]
    .into();
    let mut seen = std::collections::BTreeSet::new();
    let mut disagreements = Vec::new();
    let mut unknown = Vec::new();
    t.flush_neighbours();
    for r in results {
        let (from, to, ip, kind) = (
            r["from"].as_str().unwrap(),
            r["to"].as_str().unwrap(),
            r["target_ip"].as_str().unwrap(),
            r["kind"].as_str().unwrap(),
        );
        // The packet walk predicts every cell here (the world holds nothing it cannot model),
        // and it agrees with what was observed.
        if r["expected"].is_null() {
            unknown.push(format!("{from} -> {ip} {kind}: {}", r["why"]));
        }
        if r["mismatch"] == true {
            disagreements.push(format!(
                "{from} -> {to} {ip} {kind}: the walk expected {} ({}), netview saw {}",
                r["expected"], r["why"], r["outcome"]
            ));
        }
        seen.insert((from.to_string(), ip.to_string(), kind.to_string()));
        if kind == "tcp" {
            // Port 9 has no listener: every stack the SYN reaches answers with a reset.
            let icmp = results
                .iter()
                .find(|x| x["from"] == from && x["target_ip"] == ip && x["kind"] == "icmp")
                .unwrap();
            assert_eq!(r["reachable"], icmp["reachable"], "{r}");
            continue;
        }
        let truth = oracle(&ns_of[from], kind, ip);
        if r["reachable"].as_bool() != Some(truth) {
            disagreements.push(format!(
                "{from} -> {to} {ip} {kind}: netview {}, ping/arping {truth}",
                r["outcome"]
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "netview, its walk and ping/arping disagree:\n{}",
        disagreements.join("\n")
    );
    assert!(
        unknown.is_empty(),
        "cells without a prediction:\n{}",
        unknown.join("\n")
    );
    // The world's own verdicts, so the oracle is not trivially agreeing on "nothing works".
    let reach = |from: &str, ip: &str| {
        results
            .iter()
            .find(|x| x["from"] == from && x["target_ip"] == ip && x["kind"] == "icmp")
            .unwrap_or_else(|| panic!("no cell {from} -> {ip}"))["reachable"]
            .as_bool()
            .unwrap()
    };
    assert!(reach(&a, "10.73.1.1"), "a reaches b's far address");
    assert!(!reach(&a, "10.73.1.2"), "b does not forward");
    assert!(reach(&pid_c, "10.73.1.1"));
    assert!(!reach(&pid_c, "10.73.0.2"), "c has no route back");
    // Every address of every target, and the typed one, from every source.
    for from in [&a, &b, &pid_c] {
        for ip in ["10.73.0.2", "10.73.0.1", "10.73.1.1", "10.73.1.2"] {
            assert!(
                seen.contains(&(from.to_string(), ip.to_string(), "icmp".to_string())),
                "missing {from} -> {ip}"
            );
        }
    }
    // The text matrix: predicted cells, none without a prediction.
    let text = Command::new(env!("CARGO_BIN_EXE_netview"))
        .args(["probe", "--from", &a, "--to", &b, "--kind", "icmp"])
        .env_remove("NETVIEW_PROBE_LAB")
        .env("NETVIEW_STATE_DIR", empty_state.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(text.status.success(), "{stdout}");
    assert!(
        stdout.contains("2 probes in")
            && stdout.contains("0 mismatches")
            && !stdout.contains("without a prediction"),
        "{stdout}"
    );
    let after: Vec<String> = ["a", "b", "c"].iter().map(|n| snapshot(&t, n)).collect();
    assert_eq!(
        before, after,
        "a probe changed a namespace it did not create"
    );
}

/// `netview probe` with no lab and the given arguments: (exit code, stdout, stderr).
fn probe_without_lab(args: &[&str]) -> (Option<i32>, String, String) {
    let empty_state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netview"))
        .arg("probe")
        .args(args)
        .env_remove("NETVIEW_PROBE_LAB")
        .env("NETVIEW_STATE_DIR", empty_state.path())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_from_and_no_lab_the_sources_are_root_and_the_containers_only() {
    // A namespace holding an address, but no container's: probed only when named.
    let mut t = Topo::new("dflt");
    t.add("a");
    t.add("b");
    t.veth("a", "eth0", "b", "eth0");
    t.ip("a", &["addr", "add", "10.74.0.2/24", "dev", "eth0"]);
    let (code, stdout, stderr) = probe_without_lab(&["--json", "--kind", "icmp"]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let sources: std::collections::BTreeSet<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["from"].as_str().unwrap())
        .collect();
    assert!(sources.contains("root"), "{sources:?}");
    assert!(
        !sources.contains(t.ns("a").as_str()),
        "a namespace no container lives in is not a default source: {sources:?}"
    );
    // Named, it is probed.
    let (code, stdout, stderr) =
        probe_without_lab(&["--json", "--kind", "icmp", "--from", &t.ns("a")]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["from"] == t.ns("a").as_str() && r["to"] == "root"));
}

#[test]
fn unknown_containers_and_networks_are_refused_in_one_line() {
    for (args, starts) in [
        (
            &["--from", "docker:nvt-no-such-container"][..],
            "netview: no docker container \"nvt-no-such-container\"",
        ),
        (
            &["--to", "podman:nvt-no-such-container"],
            "netview: no podman container \"nvt-no-such-container\"",
        ),
        (
            &["--network", "nvt-no-such-network"],
            "netview: no Docker or Podman network \"nvt-no-such-network\"",
        ),
        (
            &["--from", "nvt-no-such-thing"],
            "netview: \"nvt-no-such-thing\" is neither a lab endpoint, a namespace, a container \
             nor an address",
        ),
    ] {
        let (code, stdout, stderr) = probe_without_lab(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: nothing probed: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(starts), "{args:?}: {stderr}");
    }
}
