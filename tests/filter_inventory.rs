//! Privileged: filter chains read from inside fresh namespaces (through `netview inventory
//! --json`), checked against `nft -j list ruleset` and `iptables-legacy-save` read by the test
//! itself; and the evaluator checked against the kernel: three namespaces joined through a
//! forwarding one whose forward chain (policy drop, an accept for established traffic, a
//! jumped-to chain dropping one pair, a reject) decides, and `ping` agrees with the verdict
//! for every pair.

mod lab_common;

use std::collections::BTreeMap;

use lab_common::{in_ns, TestLab};
use netview::inventory::filter::{CtState, FilterVerdict, Hook, PacketFacts};
use netview::inventory::{FilterRule, Inventory, NamespaceInventory, NatBackend};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Run inside a namespace; panic with stderr on failure.
fn exec(ns: &str, args: &[&str]) -> String {
    let out = in_ns(ns, args);
    assert!(
        out.status.success(),
        "{args:?} in {ns} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace of the test's own (removed by the lab's Drop, also on panic).
fn netns(lab: &mut TestLab, part: &str) -> String {
    let name = lab.ns(part);
    lab.own_netns.push(name.clone());
    ip(&["netns", "add", &name]);
    exec(&name, &["ip", "link", "set", "lo", "up"]);
    name
}

/// The namespace as netview's inventory JSON gives it.
fn inventory(lab: &TestLab, ns: &str) -> NamespaceInventory {
    let out = lab.ok(&["inventory", "--netns", ns, "--json"]);
    let inv: Inventory = serde_json::from_str(&out).expect("inventory JSON");
    assert_eq!(inv.namespaces.len(), 1);
    inv.namespaces[0].clone()
}

/// The filter entries netview's inventory JSON gives for one namespace.
fn inventory_filter(lab: &TestLab, ns: &str) -> Vec<FilterRule> {
    inventory(lab, ns).filter
}

/// Rules per chain ("family table chain" -> (hook, policy, rules)) as the inventory has them.
fn by_chain(entries: &[FilterRule]) -> BTreeMap<String, (Option<String>, Option<String>, usize)> {
    let mut out = BTreeMap::new();
    for e in entries {
        let slot = out
            .entry(format!("{} {} {}", e.family, e.table, e.chain))
            .or_insert((e.hook.clone(), e.policy.clone(), 0));
        if e.rule.is_some() {
            slot.2 += 1;
        }
    }
    out
}

/// The same from `nft -j list ruleset`: filter base chains on forward/input/output, and the
/// chains their rules (and those chains' rules) jump or go to.
fn nft_oracle(json: &str) -> BTreeMap<String, (Option<String>, Option<String>, usize)> {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    let objects = doc["nftables"].as_array().unwrap();
    let key = |o: &serde_json::Value, field: &str| {
        format!(
            "{} {} {}",
            o["family"].as_str().unwrap(),
            o["table"].as_str().unwrap(),
            o[field].as_str().unwrap()
        )
    };
    let mut out: BTreeMap<String, (Option<String>, Option<String>, usize)> = objects
        .iter()
        .filter_map(|o| o.get("chain"))
        .filter(|c| {
            c["type"] == "filter"
                && ["forward", "input", "output"].contains(&c["hook"].as_str().unwrap_or(""))
        })
        .map(|c| {
            (
                key(c, "name"),
                (
                    c["hook"].as_str().map(str::to_string),
                    c["policy"].as_str().map(str::to_string),
                    0,
                ),
            )
        })
        .collect();
    let rules: Vec<&serde_json::Value> = objects.iter().filter_map(|o| o.get("rule")).collect();
    loop {
        let mut added = false;
        for rule in &rules {
            if !out.contains_key(&key(rule, "chain")) {
                continue;
            }
            for stmt in rule["expr"].as_array().unwrap() {
                if let Some(t) = stmt.get("jump").or_else(|| stmt.get("goto")) {
                    let target = format!(
                        "{} {} {}",
                        rule["family"].as_str().unwrap(),
                        rule["table"].as_str().unwrap(),
                        t["target"].as_str().unwrap()
                    );
                    if let std::collections::btree_map::Entry::Vacant(slot) = out.entry(target) {
                        slot.insert((None, None, 0));
                        added = true;
                    }
                }
            }
        }
        if !added {
            break;
        }
    }
    for rule in rules {
        if let Some(slot) = out.get_mut(&key(rule, "chain")) {
            slot.2 += 1;
        }
    }
    out
}

/// The same from `iptables-legacy-save -t filter`.
fn legacy_oracle(save: &str) -> BTreeMap<String, (Option<String>, Option<String>, usize)> {
    let mut out = BTreeMap::new();
    for line in save.lines() {
        if let Some(chain) = line.strip_prefix(':') {
            let mut words = chain.split_whitespace();
            let name = words.next().unwrap();
            let policy = words.next().unwrap();
            let hook = match name {
                "INPUT" | "FORWARD" | "OUTPUT" => Some(name.to_lowercase()),
                _ => None,
            };
            let policy = (policy != "-").then(|| policy.to_lowercase());
            out.insert(format!("ip filter {name}"), (hook, policy, 0));
        } else if let Some(rest) = line.strip_prefix("-A ") {
            let chain = rest.split_whitespace().next().unwrap();
            out.get_mut(&format!("ip filter {chain}")).unwrap().2 += 1;
        }
    }
    out
}

const DOCKER_LIKE: &[&[&str]] = &[
    &["-N", "DOCKER"],
    &["-N", "DOCKER-USER"],
    &["-N", "DOCKER-ISOLATION-STAGE-1"],
    &["-N", "DOCKER-ISOLATION-STAGE-2"],
    &["-P", "FORWARD", "DROP"],
    &["-A", "FORWARD", "-j", "DOCKER-USER"],
    &["-A", "FORWARD", "-j", "DOCKER-ISOLATION-STAGE-1"],
    &[
        "-A",
        "FORWARD",
        "-o",
        "docker0",
        "-m",
        "conntrack",
        "--ctstate",
        "RELATED,ESTABLISHED",
        "-j",
        "ACCEPT",
    ],
    &["-A", "FORWARD", "-o", "docker0", "-j", "DOCKER"],
    &[
        "-A", "FORWARD", "-i", "docker0", "!", "-o", "docker0", "-j", "ACCEPT",
    ],
    &[
        "-A",
        "DOCKER",
        "-d",
        "172.17.0.2/32",
        "!",
        "-i",
        "docker0",
        "-o",
        "docker0",
        "-p",
        "tcp",
        "-m",
        "tcp",
        "--dport",
        "80",
        "-j",
        "ACCEPT",
    ],
    &[
        "-A",
        "DOCKER-ISOLATION-STAGE-1",
        "-i",
        "docker0",
        "!",
        "-o",
        "docker0",
        "-j",
        "DOCKER-ISOLATION-STAGE-2",
    ],
    &["-A", "DOCKER-ISOLATION-STAGE-1", "-j", "RETURN"],
    &[
        "-A",
        "DOCKER-ISOLATION-STAGE-2",
        "-o",
        "docker0",
        "-j",
        "DROP",
    ],
    &["-A", "DOCKER-ISOLATION-STAGE-2", "-j", "RETURN"],
    &["-A", "DOCKER-USER", "-j", "RETURN"],
];

#[test]
fn filter_chains_of_nft_iptables_nft_and_legacy_match_the_kernel_listings() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut lab = TestLab::new();
    let a = netns(&mut lab, "fa");
    for args in DOCKER_LIKE {
        let mut full = vec!["iptables-nft"];
        full.extend_from_slice(args);
        exec(&a, &full);
    }
    exec(
        &a,
        &[
            "nft",
            "add table inet fw; add chain inet fw in { type filter hook input priority 10; policy drop; }; \
             add rule inet fw in ct state established,related accept; \
             add rule inet fw in tcp dport { 22, 8000-8080 } accept; \
             add chain inet fw out { type filter hook output priority 0; }; \
             add chain inet fw spare; add rule inet fw spare drop",
        ],
    );
    let b = netns(&mut lab, "fb");
    exec(&b, &["iptables-legacy", "-N", "MINE"]);
    exec(&b, &["iptables-legacy", "-P", "FORWARD", "DROP"]);
    exec(&b, &["iptables-legacy", "-A", "FORWARD", "-j", "MINE"]);
    exec(
        &b,
        &[
            "iptables-legacy",
            "-A",
            "MINE",
            "-s",
            "10.9.0.0/16",
            "-j",
            "REJECT",
        ],
    );

    let a_filter = inventory_filter(&lab, &a);
    let oracle = nft_oracle(&exec(&a, &["nft", "-j", "list", "ruleset"]));
    assert_eq!(by_chain(&a_filter), oracle);
    // The unreached chain is not a filter chain.
    assert!(!oracle.contains_key("inet fw spare"));
    assert!(a_filter.iter().all(|r| r.backend == NatBackend::Nftables));
    // iptables-nft's conntrack match reads as nft translates it.
    assert!(
        a_filter.iter().any(|r| r.rule.as_deref()
            == Some(r#"oifname "docker0" ct state related,established accept"#)),
        "{a_filter:#?}"
    );
    // The output chain without rules shows with its (default) policy.
    assert!(a_filter
        .iter()
        .any(|r| r.chain == "out" && r.rule.is_none() && r.policy.as_deref() == Some("accept")));

    let b_filter = inventory_filter(&lab, &b);
    let legacy: Vec<FilterRule> = b_filter
        .iter()
        .filter(|r| r.backend == NatBackend::IptablesLegacy)
        .cloned()
        .collect();
    let save = exec(&b, &["iptables-legacy-save", "-t", "filter"]);
    assert_eq!(by_chain(&legacy), legacy_oracle(&save));
    assert!(legacy
        .iter()
        .any(|r| r.chain == "MINE" && r.rule.as_deref() == Some("ip saddr 10.9.0.0/16 reject")));
}

#[test]
fn forward_chain_verdicts_agree_with_ping() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut lab = TestLab::new();
    let fwd = netns(&mut lab, "fw");
    let mut clients = Vec::new();
    for i in 1..=3 {
        let c = netns(&mut lab, &format!("c{i}"));
        let dev = format!("f{i}");
        exec(
            &fwd,
            &[
                "ip", "link", "add", &dev, "type", "veth", "peer", "name", "eth0", "netns", &c,
            ],
        );
        exec(
            &fwd,
            &["ip", "addr", "add", &format!("10.{i}.0.1/24"), "dev", &dev],
        );
        exec(&fwd, &["ip", "link", "set", &dev, "up"]);
        exec(
            &c,
            &[
                "ip",
                "addr",
                "add",
                &format!("10.{i}.0.2/24"),
                "dev",
                "eth0",
            ],
        );
        exec(&c, &["ip", "link", "set", "eth0", "up"]);
        exec(
            &c,
            &[
                "ip",
                "route",
                "add",
                "default",
                "via",
                &format!("10.{i}.0.1"),
            ],
        );
        clients.push((c, dev, format!("10.{i}.0.2")));
    }
    exec(&fwd, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    exec(
        &fwd,
        &[
            "nft",
            "add table inet t; \
             add chain inet t FORWARD { type filter hook forward priority 0; policy drop; }; \
             add chain inet t USER; \
             add rule inet t FORWARD ct state established,related accept; \
             add rule inet t FORWARD jump USER; \
             add rule inet t FORWARD iifname \"f1\" accept; \
             add rule inet t FORWARD iifname \"f2\" oifname \"f3\" accept; \
             add rule inet t FORWARD ip saddr 10.3.0.2 reject; \
             add rule inet t USER ip saddr 10.1.0.2 ip daddr 10.2.0.2 drop; \
             add rule inet t USER return",
        ],
    );

    let view = inventory(&lab, &fwd).filter_view();
    let mut seen = Vec::new();
    for (src_ns, src_dev, src_ip) in &clients {
        for (_, dst_dev, dst_ip) in &clients {
            if src_ip == dst_ip {
                continue;
            }
            let request = PacketFacts {
                iif: Some(src_dev.clone()),
                oif: Some(dst_dev.clone()),
                src: src_ip.parse().unwrap(),
                dst: dst_ip.parse().unwrap(),
                protocol: 1,
                sport: None,
                dport: None,
                ct: CtState::New,
            };
            let reply = PacketFacts {
                iif: Some(dst_dev.clone()),
                oif: Some(src_dev.clone()),
                src: request.dst,
                dst: request.src,
                ct: CtState::Established,
                ..request.clone()
            };
            let verdicts = [
                view.verdict(Hook::Forward, &request),
                view.verdict(Hook::Forward, &reply),
            ];
            for v in &verdicts {
                assert!(
                    !matches!(v, FilterVerdict::Unknown { .. }),
                    "{src_ip} -> {dst_ip}: {v:?}"
                );
            }
            let expected = verdicts
                .iter()
                .all(|v| matches!(v, FilterVerdict::Accept { .. }));
            let kernel = in_ns(src_ns, &["ping", "-c2", "-i0.2", "-W1", dst_ip])
                .status
                .success();
            assert_eq!(
                kernel, expected,
                "{src_ip} -> {dst_ip}: ping says {kernel}, the evaluator {verdicts:?}"
            );
            seen.push((src_ip.clone(), dst_ip.clone(), expected));
        }
    }
    // The world has both outcomes, so agreement is not trivial.
    assert!(
        seen.iter().any(|s| s.2) && seen.iter().any(|s| !s.2),
        "{seen:?}"
    );
}
