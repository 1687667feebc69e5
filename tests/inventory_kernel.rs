//! Privileged: build a topology in fresh namespaces with iproute2, then check
//! `netview inventory --json` against what `ip -j -d`, `bridge -j fdb` report in this test.

mod netns_common;
use netns_common::{run, TestNs};
use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

/// A namespace made for one test, deleted when dropped (also when the test panics).
fn json(cmd: &str, args: &[&str]) -> Value {
    let text = run(cmd, args);
    if text.trim().is_empty() {
        return Value::Array(vec![]);
    }
    serde_json::from_str(&text).expect("valid JSON")
}

fn netview(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netview"))
        .args(args)
        .output()
        .expect("run netview")
}

fn inventory(names: &[&str]) -> Value {
    let mut args = vec!["inventory", "--json"];
    for n in names {
        args.push("--netns");
        args.push(n);
    }
    let out = netview(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("netview JSON")
}

fn ns_of<'a>(inv: &'a Value, name: &str) -> &'a Value {
    inv["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("namespace {name} missing"))
}

fn link_of<'a>(ns: &'a Value, name: &str) -> &'a Value {
    ns["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("link {name} missing"))
}

/// Normalise a route destination the way netview prints it (`ip` drops `/32` on host routes).
fn norm_dst(dst: &str, family: &str) -> String {
    if dst == "default" || dst.contains('/') {
        dst.to_string()
    } else if family == "inet6" {
        format!("{dst}/128")
    } else {
        format!("{dst}/32")
    }
}

#[test]
fn inventory_matches_iproute2() {
    let a = TestNs::new("inv", "a");
    let b = TestNs::new("inv", "b");
    let (na, nb) = (a.0.as_str(), b.0.as_str());
    // A bridge with a veth port whose peer is in b; a veth pair inside a; a macvlan child in
    // a whose parent is the veth end in b; addresses, a route, static neighbours.
    run("ip", &["-n", na, "link", "add", "br0", "type", "bridge"]);
    run(
        "ip",
        &[
            "-n", na, "link", "add", "p1", "type", "veth", "peer", "name", "c1", "netns", nb,
        ],
    );
    run("ip", &["-n", na, "link", "set", "p1", "master", "br0"]);
    run(
        "ip",
        &[
            "-n", na, "link", "add", "va", "type", "veth", "peer", "name", "vb",
        ],
    );
    run("ip", &["-n", na, "link", "set", "va", "master", "br0"]);
    for l in ["br0", "p1", "va", "vb"] {
        run("ip", &["-n", na, "link", "set", l, "up"]);
    }
    run("ip", &["-n", nb, "link", "set", "c1", "up"]);
    run(
        "ip",
        &["-n", na, "addr", "add", "172.17.0.1/16", "dev", "br0"],
    );
    run(
        "ip",
        &["-n", nb, "addr", "add", "172.17.0.2/16", "dev", "c1"],
    );
    run(
        "ip",
        &["-n", nb, "route", "add", "default", "via", "172.17.0.1"],
    );
    run(
        "ip",
        &[
            "-n", nb, "link", "add", "mv0", "link", "c1", "type", "macvlan", "mode", "private",
        ],
    );
    run("ip", &["-n", nb, "link", "set", "mv0", "netns", na]);
    run("ip", &["-n", na, "link", "set", "mv0", "promisc", "on"]);
    run("ip", &["-n", na, "link", "set", "mv0", "up"]);
    run(
        "ip",
        &["-n", na, "addr", "add", "192.168.50.200/24", "dev", "mv0"],
    );
    run(
        "ip",
        &[
            "-n",
            na,
            "neigh",
            "add",
            "172.17.0.9",
            "lladdr",
            "02:42:ac:11:00:09",
            "dev",
            "br0",
            "nud",
            "permanent",
        ],
    );
    run(
        "bridge",
        &[
            "-n",
            na,
            "fdb",
            "add",
            "02:42:ac:11:00:77",
            "dev",
            "va",
            "master",
            "static",
        ],
    );
    // Docker's masquerade rule, written as Docker writes it (iptables-nft).
    run(
        "ip",
        &[
            "netns",
            "exec",
            na,
            "iptables-nft",
            "-t",
            "nat",
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
    );
    // Ping from b so the bridge learns c1's MAC and a's ARP cache holds b.
    let _ = Command::new("ip")
        .args(["netns", "exec", nb, "ping", "-c1", "-W1", "172.17.0.1"])
        .output();

    let inv = inventory(&[na, nb]);
    let ia = ns_of(&inv, na);
    let ib = ns_of(&inv, nb);
    assert_eq!(ia["ip_forward"], Value::Bool(false));

    for (ns_name, ns_inv) in [(na, ia), (nb, ib)] {
        // Links: every link with the same index, kind, mode, state, flags, MAC, MTU, master.
        let ip_links = json("ip", &["-j", "-d", "-n", ns_name, "link", "show"]);
        let ours = ns_inv["links"].as_array().unwrap();
        assert_eq!(
            ours.len(),
            ip_links.as_array().unwrap().len(),
            "link count in {ns_name}"
        );
        for il in ip_links.as_array().unwrap() {
            let name = il["ifname"].as_str().unwrap();
            let l = link_of(ns_inv, name);
            assert_eq!(l["index"], il["ifindex"], "{name} index");
            assert_eq!(l["mtu"], il["mtu"], "{name} mtu");
            assert_eq!(l["mac"], il["address"], "{name} mac");
            assert_eq!(l["state"], il["operstate"], "{name} state");
            assert_eq!(l["flags"], il["flags"], "{name} flags");
            assert_eq!(
                l["master"],
                il.get("master").cloned().unwrap_or(Value::Null),
                "{name} master"
            );
            let kind = il["linkinfo"]["info_kind"].as_str();
            match kind {
                Some(k) => assert_eq!(l["kind"], k, "{name} kind"),
                None if il["link_type"] == "loopback" => assert_eq!(l["kind"], "loopback"),
                None => assert_eq!(l["kind"], "physical"),
            }
            if kind == Some("macvlan") {
                assert_eq!(
                    l["mode"], il["linkinfo"]["info_data"]["mode"],
                    "{name} mode"
                );
            }
        }
        // Addresses: the same set of address/prefix per link.
        let ip_addrs = json("ip", &["-j", "-n", ns_name, "addr", "show"]);
        for il in ip_addrs.as_array().unwrap() {
            let name = il["ifname"].as_str().unwrap();
            let want: BTreeSet<String> = il["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
                .collect();
            let got: BTreeSet<String> = link_of(ns_inv, name)["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want, "addresses of {name} in {ns_name}");
        }
        // Routes of the main table, IPv4 and IPv6.
        let mut want = BTreeSet::new();
        for (fam, flag) in [("inet", "-4"), ("inet6", "-6")] {
            for r in json(
                "ip",
                &["-j", flag, "-n", ns_name, "route", "show", "table", "main"],
            )
            .as_array()
            .unwrap()
            {
                want.insert((
                    norm_dst(r["dst"].as_str().unwrap(), fam),
                    r.get("gateway")
                        .and_then(|g| g.as_str())
                        .map(str::to_string),
                    r.get("dev").and_then(|g| g.as_str()).map(str::to_string),
                ));
            }
        }
        let got: BTreeSet<_> = ns_inv["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["dst"].as_str().unwrap().to_string(),
                    r["gateway"].as_str().map(str::to_string),
                    r["dev"].as_str().map(str::to_string),
                )
            })
            .collect();
        assert_eq!(got, want, "routes of {ns_name}");
        // Neighbours with a MAC (entries still resolving may come and go between the reads).
        let want: BTreeSet<(String, String)> = json("ip", &["-j", "-n", ns_name, "neigh", "show"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n.get("lladdr").is_some())
            .map(|n| {
                (
                    n["dst"].as_str().unwrap().to_string(),
                    n["lladdr"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let got: BTreeSet<(String, String)> = ns_inv["neighbours"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| !n["mac"].is_null())
            .map(|n| {
                (
                    n["ip"].as_str().unwrap().to_string(),
                    n["mac"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(got, want, "neighbours of {ns_name}");
    }

    // NAT: the same number of rules in nat chains as nft lists, Docker's rule readable.
    let nft = json("ip", &["netns", "exec", na, "nft", "-j", "list", "ruleset"]);
    let nft_rules = nft["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o.get("rule").is_some_and(|r| r["table"] == "nat"))
        .count();
    let nat = ia["nat"].as_array().unwrap();
    assert_eq!(nat.len(), nft_rules);
    let masq = nat
        .iter()
        .find(|r| r["chain"] == "POSTROUTING")
        .expect("masquerade rule");
    assert_eq!(masq["owner"], "docker");
    assert_eq!(masq["family"], "ip");
    let text = masq["rule"].as_str().unwrap();
    assert!(
        text.contains("ip saddr 172.17.0.0/16")
            && text.contains("oifname != \"docker0\"")
            && text.ends_with("masquerade"),
        "{text}"
    );
    assert!(
        ib["nat"].as_array().unwrap().is_empty(),
        "b has no NAT rules"
    );

    // The static neighbour is there with its state.
    let n = ia["neighbours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["ip"] == "172.17.0.9")
        .unwrap();
    assert_eq!(n["state"], "PERMANENT");
    assert_eq!(n["dev"], "br0");

    // veth peers resolved across namespaces and inside one.
    assert_eq!(
        link_of(ia, "p1")["peer"],
        serde_json::json!({"netns": nb, "name": "c1"})
    );
    assert_eq!(
        link_of(ib, "c1")["peer"],
        serde_json::json!({"netns": na, "name": "p1"})
    );
    assert_eq!(
        link_of(ia, "va")["peer"],
        serde_json::json!({"netns": na, "name": "vb"})
    );
    // Reading a alone, the names in b are asked of b by index.
    let alone = inventory(&[na]);
    let ia_alone = ns_of(&alone, na);
    assert_eq!(
        link_of(ia_alone, "p1")["peer"],
        serde_json::json!({"netns": nb, "name": "c1"})
    );
    assert_eq!(
        link_of(ia_alone, "mv0")["parent"],
        serde_json::json!({"netns": nb, "name": "c1"})
    );
    // The macvlan child in a has its parent c1 in b, with promisc and its mode.
    let mv = link_of(ia, "mv0");
    assert_eq!(mv["kind"], "macvlan");
    assert_eq!(mv["mode"], "private");
    assert_eq!(mv["parent"], serde_json::json!({"netns": nb, "name": "c1"}));
    assert!(mv["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "PROMISC"));

    // Bridge FDB: every entry bridge fdb shows for br0's ports, with the port as dev.
    let want: BTreeSet<(String, String)> =
        json("bridge", &["-j", "-n", na, "fdb", "show", "br", "br0"])
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["mac"].as_str().unwrap().to_string(),
                    f["ifname"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    let got: BTreeSet<(String, String)> = ia["fdb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["mac"].as_str().unwrap().to_string(),
                f["dev"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want, "bridge fdb");
    let stat = ia["fdb"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["mac"] == "02:42:ac:11:00:77")
        .unwrap();
    assert_eq!(stat["master"], "br0");
    assert!(stat["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "static"));
}

#[test]
fn all_lists_named_namespaces_once() {
    let a = TestNs::new("inv", "all");
    let out = netview(&["inventory", "--all", "--json"]);
    assert!(out.status.success());
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = inv["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == a.0).count(), 1);
    assert!(names.contains(&"root"));
    let ids: BTreeSet<u64> = inv["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), names.len(), "deduplicated by inode");
}

#[test]
fn unnamed_namespace_of_a_process_is_found() {
    // A process in a namespace with no name in /run/netns, like a Docker container.
    let mut child = Command::new("unshare")
        .args(["--net", "sleep", "30"])
        .spawn()
        .expect("unshare");
    let pid = child.id();
    // unshare execs sleep in the new namespace; wait until it has.
    let mine = std::fs::read_link("/proc/self/ns/net").unwrap();
    for _ in 0..100 {
        if std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .map(|l| l != mine)
            .unwrap_or(false)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = netview(&["inventory", "--all", "--json"]);
    let _ = child.kill();
    let _ = child.wait();
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ns = ns_of(&inv, &format!("pid:{pid}"));
    assert_eq!(ns["source"], "process");
    assert!(ns["process"].as_str().unwrap().starts_with("sleep"));
    assert_eq!(ns["links"][0]["name"], "lo");
}

#[test]
fn missing_namespace_is_a_one_line_error_with_exit_2() {
    let out = netview(&["inventory", "--netns", "nvt-surely-not-here"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nvt-surely-not-here"));
}

#[test]
fn text_output_is_aligned_tables() {
    let a = TestNs::new("inv", "txt");
    run(
        "ip",
        &["-n", &a.0, "addr", "add", "10.1.2.3/24", "dev", "lo"],
    );
    let out = netview(&["inventory", "--netns", &a.0]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("== netns {}", a.0)));
    let header = text.lines().find(|l| l.starts_with("IDX")).unwrap();
    let lo = text.lines().find(|l| l.starts_with("1 ")).unwrap();
    // The NAME column starts at the same offset in the header and the row.
    assert_eq!(header.find("NAME"), lo.find("lo"));
    assert!(lo.contains("10.1.2.3/24"));
}

/// Many namespaces read on fewer threads than namespaces (each thread reused), with every
/// veth peer named across namespaces: a hub holding one end of a veth to each of 12
/// containers, read on 2 threads.
#[test]
fn many_namespaces_on_two_threads_name_every_peer() {
    let hub = TestNs::new("inv", "hub");
    let containers: Vec<TestNs> = (0..12)
        .map(|i| TestNs::new("inv", &format!("c{i}")))
        .collect();
    for (i, c) in containers.iter().enumerate() {
        let end = format!("h{i}");
        run(
            "ip",
            &[
                "-n", &hub.0, "link", "add", &end, "type", "veth", "peer", "name", "eth0", "netns",
                &c.0,
            ],
        );
    }
    let all = netview::netns::discover();
    let wanted: Vec<_> = all
        .iter()
        .filter(|n| n.name == hub.0 || containers.iter().any(|c| c.0 == n.name))
        .cloned()
        .collect();
    assert_eq!(wanted.len(), 13);
    let read = netview::inventory::read::read_many_on(2, &wanted, &all);
    assert_eq!(read.len(), 13);
    for (i, c) in containers.iter().enumerate() {
        let inv = read.iter().find(|n| n.name == c.0).expect("container read");
        assert!(inv.errors.is_empty(), "{:?}", inv.errors);
        let eth0 = inv.links.iter().find(|l| l.name == "eth0").expect("eth0");
        let peer = eth0.peer.as_ref().expect("eth0 has a peer");
        assert_eq!(peer.netns.as_deref(), Some(hub.0.as_str()));
        assert_eq!(peer.name.as_deref(), Some(format!("h{i}").as_str()));
    }
    let hub_inv = read.iter().find(|n| n.name == hub.0).expect("hub read");
    for (i, c) in containers.iter().enumerate() {
        let end = hub_inv
            .links
            .iter()
            .find(|l| l.name == format!("h{i}"))
            .expect("hub end");
        let peer = end.peer.as_ref().expect("hub end has a peer");
        assert_eq!(peer.netns.as_deref(), Some(c.0.as_str()));
        assert_eq!(peer.name.as_deref(), Some("eth0"));
    }
}

#[test]
fn bridge_nf_call_iptables_is_read_per_namespace() {
    let (a, b) = (TestNs::new("inv", "brnf-a"), TestNs::new("inv", "brnf-b"));
    let file = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    let read = |ns: &TestNs| run("ip", &["netns", "exec", &ns.0, "cat", file]);
    let inv = if std::path::Path::new(file).exists() {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &b.0,
                "sysctl",
                "-qw",
                "net.bridge.bridge-nf-call-iptables=0",
            ],
        );
        let inv = inventory(&[&a.0, &b.0]);
        assert_eq!(
            ns_of(&inv, &a.0)["bridge_nf_call_iptables"],
            Value::Bool(read(&a).trim() == "1")
        );
        inv
    } else {
        // br_netfilter is not loaded: no bridged frame meets netfilter anywhere.
        let inv = inventory(&[&a.0, &b.0]);
        assert_eq!(
            ns_of(&inv, &a.0)["bridge_nf_call_iptables"],
            Value::Bool(false)
        );
        inv
    };
    assert_eq!(
        ns_of(&inv, &b.0)["bridge_nf_call_iptables"],
        Value::Bool(false)
    );
}
