//! Privileged: NAT rules read from inside fresh namespaces, checked against `nft -j` read by
//! the test itself.
//!
//! - namespace A: Docker's exact nat rules written through iptables-nft, and a native nft
//!   table `netview` with a nat chain;
//! - namespace B: one legacy iptables nat rule;
//! - the root namespace: a uniquely named nft nat table, which must not show up in A or B.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use netview::inventory::{NatBackend, NatOwner, NatRule};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Run a program with fixed arguments; panic with its stderr if it fails.
fn run(args: &[&str]) -> String {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A named namespace, deleted on drop (also when the test panics).
struct TestNetns {
    name: String,
}

impl TestNetns {
    fn new() -> Self {
        let name = format!(
            "nvt-nat-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        run(&["ip", "netns", "add", &name]);
        TestNetns { name }
    }

    /// Run a program inside the namespace.
    fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Read the namespace's NAT rules the way the inventory does.
    fn read_nat(&self) -> (Vec<NatRule>, Vec<String>) {
        netview::netns::run_in(&self.name, Path::new(&self.path()), || {
            let read = netview::inventory::nat::read_rules_in_current_thread();
            (read.nat, read.errors)
        })
        .expect("enter the test namespace")
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// An nft table in the root namespace, deleted on drop.
struct RootTable {
    name: String,
}

impl Drop for RootTable {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.name])
            .status();
    }
}

/// Rules per NAT chain (nat base chains and the chains they jump to) in `nft -j list ruleset`
/// output, keyed by "family table chain".
fn nft_rule_counts(json: &str) -> BTreeMap<String, usize> {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    let objects = doc["nftables"].as_array().unwrap();
    let key = |o: &serde_json::Value, chain_field: &str| {
        format!(
            "{} {} {}",
            o["family"].as_str().unwrap(),
            o["table"].as_str().unwrap(),
            o[chain_field].as_str().unwrap()
        )
    };
    let mut nat_chains: Vec<String> = objects
        .iter()
        .filter_map(|o| o.get("chain"))
        .filter(|c| c["type"] == "nat")
        .map(|c| key(c, "name"))
        .collect();
    // Chains jumped to from a nat chain, in the same table (one level is all these rules use).
    let rules: Vec<&serde_json::Value> = objects.iter().filter_map(|o| o.get("rule")).collect();
    let mut jumped = Vec::new();
    for rule in &rules {
        if nat_chains.contains(&key(rule, "chain")) {
            for stmt in rule["expr"].as_array().unwrap() {
                if let Some(target) = stmt.get("jump").or_else(|| stmt.get("goto")) {
                    jumped.push(format!(
                        "{} {} {}",
                        rule["family"].as_str().unwrap(),
                        rule["table"].as_str().unwrap(),
                        target["target"].as_str().unwrap()
                    ));
                }
            }
        }
    }
    nat_chains.extend(jumped);
    let mut counts: BTreeMap<String, usize> = nat_chains.iter().map(|c| (c.clone(), 0)).collect();
    for rule in rules {
        if let Some(n) = counts.get_mut(&key(rule, "chain")) {
            *n += 1;
        }
    }
    counts.retain(|_, n| *n > 0);
    counts
}

fn read_counts(rules: &[NatRule]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for rule in rules.iter().filter(|r| r.backend == NatBackend::Nftables) {
        *counts
            .entry(format!("{} {} {}", rule.family, rule.table, rule.chain))
            .or_insert(0) += 1;
    }
    counts
}

fn find<'a>(rules: &'a [NatRule], chain: &str, needle: &str) -> &'a NatRule {
    rules
        .iter()
        .find(|r| r.chain == chain && r.rule.contains(needle))
        .unwrap_or_else(|| panic!("no {chain} rule containing {needle:?} in {rules:#?}"))
}

#[test]
fn nat_rules_of_docker_netview_and_legacy_iptables_per_namespace() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }

    // Root namespace: a NAT table that must stay invisible from the test namespaces.
    let root_table = RootTable {
        name: format!("nvt_nat_root_{}", std::process::id()),
    };
    run(&["nft", "add", "table", "ip", &root_table.name]);
    run(&[
        "nft",
        "add chain ip",
        &root_table.name,
        "post { type nat hook postrouting priority srcnat ; }",
    ]);
    run(&[
        "nft",
        "add rule ip",
        &root_table.name,
        "post ip saddr 198.51.100.0/24 masquerade",
    ]);

    // Namespace A: Docker's nat rules through iptables-nft, and netview's own table.
    let a = TestNetns::new();
    for rule in [
        &["-N", "DOCKER"][..],
        &[
            "-A",
            "PREROUTING",
            "-m",
            "addrtype",
            "--dst-type",
            "LOCAL",
            "-j",
            "DOCKER",
        ],
        &[
            "-A",
            "OUTPUT",
            "!",
            "-d",
            "127.0.0.0/8",
            "-m",
            "addrtype",
            "--dst-type",
            "LOCAL",
            "-j",
            "DOCKER",
        ],
        &[
            "-A",
            "POSTROUTING",
            "-s",
            "172.17.0.0/16",
            "!",
            "-o",
            "docker0",
            "-j",
            "MASQUERADE",
        ],
        &["-A", "DOCKER", "-i", "docker0", "-j", "RETURN"],
        &[
            "-A",
            "DOCKER",
            "!",
            "-i",
            "docker0",
            "-p",
            "tcp",
            "-m",
            "tcp",
            "--dport",
            "8080",
            "-j",
            "DNAT",
            "--to-destination",
            "172.17.0.2:80",
        ],
    ] {
        let mut args = vec!["iptables-nft", "-t", "nat"];
        args.extend_from_slice(rule);
        a.exec(&args);
    }
    a.exec(&["nft", "add", "table", "inet", "netview"]);
    a.exec(&[
        "nft",
        "add chain inet netview postrouting { type nat hook postrouting priority srcnat ; }",
    ]);
    a.exec(&[
        "nft",
        r#"add rule inet netview postrouting ip saddr 192.168.77.0/24 oifname != "nv-br0" masquerade"#,
    ]);

    // Namespace B: a legacy iptables nat rule only.
    let b = TestNetns::new();
    b.exec(&[
        "iptables-legacy",
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        "10.77.0.0/16",
        "!",
        "-o",
        "eth0",
        "-j",
        "MASQUERADE",
    ]);

    // --- Namespace A ---
    let started = std::time::Instant::now();
    let (rules, errors) = a.read_nat();
    eprintln!(
        "read NAT of namespace A (2 nft runs) in {:?}",
        started.elapsed()
    );
    assert!(errors.is_empty(), "{errors:?}");
    let oracle = nft_rule_counts(&a.exec(&["nft", "-j", "list", "ruleset"]));
    assert_eq!(
        oracle.keys().collect::<Vec<_>>(),
        vec![
            "inet netview postrouting",
            "ip nat DOCKER",
            "ip nat OUTPUT",
            "ip nat POSTROUTING",
            "ip nat PREROUTING"
        ],
        "the oracle itself"
    );
    assert_eq!(read_counts(&rules), oracle, "{rules:#?}");
    assert_eq!(rules.len(), 6);
    assert!(rules.iter().all(|r| r.backend == NatBackend::Nftables));

    let masquerade = find(&rules, "POSTROUTING", "masquerade");
    assert!(
        masquerade.rule.contains("ip saddr 172.17.0.0/16")
            && masquerade.rule.contains(r#"oifname != "docker0""#),
        "{masquerade:?}"
    );
    assert_eq!(
        find(&rules, "DOCKER", "dnat").rule,
        r#"iifname != "docker0" tcp dport 8080 dnat to 172.17.0.2:80"#
    );
    assert_eq!(
        find(&rules, "PREROUTING", "DOCKER").rule,
        "fib daddr type local jump DOCKER"
    );
    for rule in rules.iter().filter(|r| r.table == "nat") {
        assert_eq!(rule.owner, NatOwner::Docker, "{rule:?}");
        assert_eq!(rule.family, "ip");
    }
    let own = find(&rules, "postrouting", "192.168.77.0/24");
    assert_eq!(own.owner, NatOwner::Netview);
    assert_eq!(own.family, "inet");
    assert_eq!(own.table, "netview");
    assert_eq!(
        own.rule,
        r#"ip saddr 192.168.77.0/24 oifname != "nv-br0" masquerade"#
    );

    // Isolation: nothing of the root namespace's table nor of namespace B.
    assert!(!rules.iter().any(|r| r.table == root_table.name
        || r.rule.contains("198.51.100.0")
        || r.rule.contains("10.77.0.0")));

    // --- Namespace B: the legacy rule, found through this thread's /proc/thread-self ---
    let started = std::time::Instant::now();
    let (rules_b, errors_b) = b.read_nat();
    eprintln!(
        "read NAT of namespace B (1 nft run, 1 iptables-legacy-save run) in {:?}",
        started.elapsed()
    );
    assert!(errors_b.is_empty(), "{errors_b:?}");
    assert_eq!(rules_b.len(), 1, "{rules_b:#?}");
    let legacy = &rules_b[0];
    assert_eq!(legacy.backend, NatBackend::IptablesLegacy);
    assert_eq!(
        (
            legacy.family.as_str(),
            legacy.table.as_str(),
            legacy.chain.as_str()
        ),
        ("ip", "nat", "POSTROUTING")
    );
    assert_eq!(
        legacy.rule,
        r#"ip saddr 10.77.0.0/16 oifname != "eth0" masquerade"#
    );
    assert_eq!(legacy.owner, NatOwner::Other);

    // --- The root namespace, read on a thread that never left it, does see its table ---
    let root_rules = std::thread::spawn(netview::inventory::nat::read_rules_in_current_thread)
        .join()
        .unwrap()
        .nat;
    assert!(
        root_rules
            .iter()
            .any(|r| r.table == root_table.name && r.rule == "ip saddr 198.51.100.0/24 masquerade"),
        "{root_rules:#?}"
    );
    assert!(!root_rules.iter().any(|r| r.rule.contains("172.17.0.2:80")));
}
