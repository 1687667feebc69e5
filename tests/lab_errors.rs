//! Privileged: every bad input exits 2 with its one-line message and builds nothing.

#[path = "lab_common/mod.rs"]
mod common;

use std::process::Command;

use common::*;

#[test]
fn bad_lab_up_inputs() {
    let lab = TestLab::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["lab", "up", "--host-ip", "192.168.50.300/24"],
            "--host-ip \"192.168.50.300/24\" is not an IPv4 CIDR",
        ),
        (
            &["lab", "up", "--peer-ip", "10.0.0.2/24"],
            "peer address 10.0.0.2/24 is not on the host's LAN",
        ),
        (
            &["lab", "up", "--host-if", "a-very-long-ifname"],
            "at most 15",
        ),
        (
            &["lab", "up", "--ip-range", "10.1.0.0/28"],
            "ip-range 10.1.0.0/28 is outside subnet 192.168.50.0/24",
        ),
        (
            &["lab", "up", "--lab", "/nonexistent/lab.toml"],
            "cannot read lab file",
        ),
        (
            &["lab", "up", "--real", "--parent", "eth0"],
            "add --yes to confirm",
        ),
        (&["lab", "up", "--real", "--yes"], "--real needs --parent"),
        (&["lab", "up", "--parent", "eth0"], "--parent is for --real"),
    ];
    for (args, msg) in cases {
        lab.fails(args, 2, msg);
        lab.assert_nothing_left();
    }
    lab.fails(&["lab", "add", "x", "--mode", "none"], 2, "no lab is up");
    lab.fails(&["lab", "down"], 2, "no lab is up");
    lab.assert_nothing_left();
}

#[test]
fn bad_lab_add_inputs() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "b1", "--mode", "bridge"]);
    lab.ok(&[
        "lab",
        "add",
        "pt",
        "--mode",
        "macvlan",
        "--macvlan-mode",
        "passthru",
    ]);
    let host = lab.ns("host");
    // A second LAN card that is down, for the "parent is down" rule.
    assert!(Command::new("ip")
        .args(["-n", &host, "link", "add", "tdown0", "type", "veth", "peer", "name", "tdown1"])
        .status()
        .unwrap()
        .success());
    let veth = links(Some(&host))
        .into_iter()
        .find(|l| l["master"] == "docker0")
        .unwrap()["ifname"]
        .as_str()
        .unwrap()
        .to_string();
    let before = lab.netns();
    let state_before = std::fs::read_to_string(lab.state_dir().join("state.json")).unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["lab", "add", "x", "--mode", "overlay"],
            "invalid value 'overlay' for '--mode <MODE>'".into(),
        ),
        (
            vec!["lab", "add", "sixteen-bytes-xx", "--mode", "none"],
            "is 16 bytes; Linux allows at most 15".into(),
        ),
        (
            vec![
                "lab",
                "add",
                "x",
                "--mode",
                "macvlan",
                "--macvlan-mode",
                "nope",
            ],
            "invalid value 'nope' for '--macvlan-mode <MODE>'".into(),
        ),
        (
            vec![
                "lab",
                "add",
                "x",
                "--mode",
                "macvlan",
                "--subnet",
                "10.0.0.0/33",
            ],
            "--subnet \"10.0.0.0/33\" is not an IPv4 CIDR".into(),
        ),
        (
            vec![
                "lab",
                "add",
                "x",
                "--mode",
                "macvlan",
                "--subnet",
                "10.0.0.0/24",
                "--ip-range",
                "10.1.0.0/28",
            ],
            "ip-range 10.1.0.0/28 is outside subnet 10.0.0.0/24".into(),
        ),
        (
            vec![
                "lab",
                "add",
                "x",
                "--mode",
                "macvlan",
                "--ip-range",
                "10.1.0.0/28",
            ],
            "ip-range 10.1.0.0/28 is outside subnet 192.168.50.0/24".into(),
        ),
        (
            vec!["lab", "add", "x", "--mode", "ipvlan"],
            "this kernel has no ipvlan support".into(),
        ),
        (
            vec!["lab", "add", "x", "--mode", "macvlan"],
            "passthru takes one child".into(),
        ),
        (
            vec!["lab", "add", "x", "--mode", "macvlan", "--parent", "nope0"],
            "parent nope0 does not exist".into(),
        ),
        (
            vec!["lab", "add", "x", "--mode", "macvlan", "--parent", "tdown0"],
            "parent tdown0 is down".into(),
        ),
        (
            vec!["lab", "add", "x", "--mode", "macvlan", "--parent", "lo"],
            "parent lo is a loopback device".into(),
        ),
        (
            vec![
                "lab", "add", "x", "--mode", "macvlan", "--parent", "docker0",
            ],
            "parent docker0 is a bridge".into(),
        ),
        (
            vec!["lab", "add", "x", "--mode", "macvlan", "--parent", &veth],
            format!("parent {veth} is a bridge port"),
        ),
        (
            vec!["lab", "add", "b1", "--mode", "none"],
            "container \"b1\" already exists".into(),
        ),
        (
            vec!["lab", "add", "x", "--mode", "bridge", "--publish", "80"],
            "is not HOST:CONTAINER".into(),
        ),
        (
            vec!["lab", "add", "x", "--mode", "none", "--no-nat"],
            "are for bridge mode".into(),
        ),
        (
            vec!["lab", "add", "x", "--mode", "bridge", "--promisc"],
            "are for macvlan and ipvlan".into(),
        ),
        (
            vec!["lab", "add", "host", "--mode", "none"],
            "is a name of the lab's world".into(),
        ),
        (
            vec!["lab", "rm", "nosuch"],
            "no container \"nosuch\" in the lab".into(),
        ),
        (vec!["lab", "up"], "a lab is already up".into()),
    ];
    for (args, msg) in &cases {
        lab.fails(args, 2, msg);
        assert_eq!(lab.netns(), before, "{args:?} built something");
        let st = std::fs::read_to_string(lab.state_dir().join("state.json")).unwrap();
        assert_eq!(st, state_before, "{args:?} changed the state");
    }
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn not_root_is_a_usage_error() {
    let lab = TestLab::new();
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "lab",
            "up",
        ])
        .env("NETVIEW_PREFIX", &lab.prefix)
        .env("NETVIEW_STATE_DIR", lab.state_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("needs root"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1);
    lab.assert_nothing_left();
}

/// The built-in lab file with one value replaced, written where `lab up --lab` can read it.
fn lab_file(lab: &TestLab, name: &str, from: &str, to: &str) -> String {
    let text = include_str!("../assets/labs/default.toml");
    assert!(text.contains(from), "{from} not in the default lab file");
    let path = lab.dir.path().join(name);
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path.to_string_lossy().into_owned()
}

/// Issue 9's examples for `lab up`: each was accepted (exit 0) or failed in the kernel after
/// partial creation (exit 1). Each is now one line, exit 2, nothing made.
#[test]
fn bad_world_plans_are_refused_before_anything_exists() {
    let lab = TestLab::new();
    let docker_is_host_if = lab_file(&lab, "a.toml", "\"docker0\"", "\"enp0s8\"");
    let docker_colon = lab_file(&lab, "b.toml", "\"docker0\"", "\"dock:0\"");
    let switch_lo = lab_file(&lab, "c.toml", "\"lan0\"", "\"lo\"");
    let switch_port = lab_file(&lab, "d.toml", "\"lan0\"", "\"p-peer\"");
    let docker_lo = lab_file(&lab, "e.toml", "\"docker0\"", "\"lo\"");
    let real_unconfirmed = lab_file(
        &lab,
        "f.toml",
        "hairpin = false",
        "hairpin = false\nreal = true\nparent = \"eth0\"",
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["lab", "up", "--far-ip", "192.168.50.11/32"],
            "far address 192.168.50.11/32 overlaps the LAN 192.168.50.0/24",
        ),
        (
            vec!["lab", "up", "--far-ip", "192.168.50.12/32"],
            "overlaps the LAN",
        ),
        (
            vec!["lab", "up", "--far-ip", "172.17.0.1/32"],
            "far address 172.17.0.1/32 overlaps the docker network 172.17.0.0/16",
        ),
        (
            vec!["lab", "up", "--far-ip", "172.17.200.7/32"],
            "overlaps the docker network",
        ),
        (
            vec!["lab", "up", "--far-ip", "192.0.0.1/8"],
            "overlaps the LAN",
        ),
        (
            vec![
                "lab",
                "up",
                "--subnet",
                "172.17.0.0/16",
                "--ip-range",
                "172.17.0.0/28",
            ],
            "macvlan subnet 172.17.0.0/16 overlaps the docker network 172.17.0.0/16",
        ),
        (
            vec!["lab", "up", "--docker-ip", "192.168.50.100/24"],
            "docker network 192.168.50.0/24 overlaps the LAN",
        ),
        (
            vec!["lab", "up", "--peer-ip", "192.168.50.255/24"],
            "is the network or broadcast address",
        ),
        (
            vec!["lab", "up", "--far-ip", "127.0.0.2/32"],
            "is not a unicast address",
        ),
        (
            vec!["lab", "up", "--lab", &docker_is_host_if],
            "the docker bridge and the host's LAN interface are both named \"enp0s8\"",
        ),
        (
            vec!["lab", "up", "--lab", &docker_colon],
            "docker bridge \"dock:0\" may not contain '/', ':' or spaces",
        ),
        (
            vec!["lab", "up", "--lab", &docker_lo],
            "is the name of the loopback device",
        ),
        (
            vec!["lab", "up", "--lab", &real_unconfirmed],
            "the lab file asks for real mode",
        ),
        (
            vec!["lab", "up", "--host-if", "lo"],
            "host ifname \"lo\" is the name of the loopback device",
        ),
        (
            vec!["lab", "up", "--host-if", "a:b"],
            "host ifname \"a:b\" may not contain",
        ),
        (
            vec!["lab", "up", "--host-if", "docker0"],
            "both named \"docker0\"",
        ),
        (
            vec!["lab", "up", "--host-if", "nvshim3"],
            "looks like a name netview gives its own links",
        ),
        (
            vec!["lab", "up", "--lab", &switch_lo],
            "switch bridge \"lo\" is the name of the loopback device",
        ),
        (
            vec!["lab", "up", "--lab", &switch_port],
            "switch bridge \"p-peer\" is the name of the switch's port to the peer",
        ),
    ];
    for (args, msg) in &cases {
        lab.fails(args, 2, msg);
        lab.assert_nothing_left();
    }
}

/// Issue 9's examples for `lab add` and `lab rm`: found only after namespaces existed, or a
/// panic (exit 101) that left the state listing a deleted container.
#[test]
fn bad_batches_are_refused_before_any_namespace() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "m1", "--mode", "macvlan", "--host-shim"]);
    lab.ok(&[
        "lab",
        "add",
        "p0",
        "--mode",
        "bridge",
        "--publish",
        "9090:90",
    ]);
    let before = lab.netns();
    let state = || std::fs::read_to_string(lab.state_dir().join("state.json")).unwrap();
    let state_before = state();
    let host_links = || -> Vec<String> {
        links(Some(&lab.ns("host")))
            .iter()
            .map(|l| l["ifname"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    let links_before = host_links();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "lab",
                "add",
                "c1",
                "c2",
                "--mode",
                "bridge",
                "--publish",
                "8080:80",
            ],
            "host port 8080 is already published by c1",
        ),
        (
            vec![
                "lab",
                "add",
                "c1",
                "--mode",
                "bridge",
                "--publish",
                "9090:80",
            ],
            "host port 9090 is already published by p0",
        ),
        (
            vec![
                "lab",
                "add",
                "a1",
                "a2",
                "a3",
                "a4",
                "a5",
                "--mode",
                "macvlan",
                "--parent",
                "enp0s8",
                "--ip-range",
                "192.168.50.200/30",
            ],
            "no free address left in ip-range 192.168.50.200/30",
        ),
        (
            vec![
                "lab",
                "add",
                "x1",
                "x2",
                "--mode",
                "macvlan",
                "--macvlan-mode",
                "passthru",
                "--parent",
                "enp0s8",
            ],
            "passthru takes one child",
        ),
        (
            vec![
                "lab",
                "add",
                "x1",
                "--mode",
                "macvlan",
                "--subnet",
                "172.17.0.0/16",
                "--ip-range",
                "172.17.0.0/28",
            ],
            "subnet 172.17.0.0/16 overlaps the docker network 172.17.0.0/16",
        ),
        (
            vec!["lab", "add", "d1", "d1", "--mode", "none"],
            "container \"d1\" is named twice",
        ),
        (
            vec!["lab", "rm", "m1", "m1"],
            "container \"m1\" is named twice",
        ),
        (vec!["lab", "rm", "p0", "m1", "p0"], "is named twice"),
        (
            vec![
                "lab", "add", "x1", "--mode", "macvlan", "--parent", "nvshim0",
            ],
            "parent nvshim0 is itself a macvlan device",
        ),
    ];
    for (args, msg) in &cases {
        lab.fails(args, 2, msg);
        assert_eq!(lab.netns(), before, "{args:?} built or removed something");
        assert_eq!(
            host_links(),
            links_before,
            "{args:?} changed the host's links"
        );
        assert_eq!(state(), state_before, "{args:?} changed the state");
    }
    lab.ok(&["lab", "rm", "m1", "p0"]);
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn probe_port_and_timeout_are_bounded() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab.fails(
        &["probe", "--kind", "tcp", "--port", "0"],
        2,
        "invalid value '0' for '--port <PORT>'",
    );
    lab.fails(
        &[
            "probe",
            "--kind",
            "arp",
            "--timeout-ms",
            "18446744073709551615",
        ],
        2,
        "is not in 1..=60000",
    );
    lab.fails(
        &["probe", "--timeout-ms", "60001"],
        2,
        "is not in 1..=60000",
    );
    lab.fails(&["probe", "--timeout-ms", "0"], 2, "is not in 1..=60000");
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

/// Every subcommand with duplicated and empty arguments: exit 0, or exit 2 with one line;
/// never a panic (101) or a failure after partial work (1); nothing left, and with a lab up
/// the lab is as before unless the command succeeded.
#[test]
fn every_subcommand_survives_duplicated_and_empty_arguments() {
    let lab = TestLab::new();
    let try_all = |cases: &[&[&str]], lab_up: bool| {
        for args in cases {
            let state_path = lab.state_dir().join("state.json");
            let before = std::fs::read_to_string(&state_path).ok();
            let netns_before = lab.netns();
            let o = lab.run(args);
            let err = String::from_utf8_lossy(&o.stderr);
            let code = o.status.code();
            assert!(
                code == Some(0) || code == Some(2),
                "netview {args:?}: exit {code:?}, stderr: {err}"
            );
            if code == Some(2) {
                assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
                assert!(err.starts_with("netview: "), "{args:?}: {err:?}");
                assert_eq!(lab.netns(), netns_before, "{args:?} changed namespaces");
                assert_eq!(
                    std::fs::read_to_string(&state_path).ok(),
                    before,
                    "{args:?} changed the state"
                );
            }
            if !lab_up {
                lab.assert_nothing_left();
            }
        }
    };
    let without_lab: &[&[&str]] = &[
        &["lab", "up", "--host-if", ""],
        &["lab", "up", "--host-if", "a", "--host-if", "b"],
        &["lab", "up", "--lab", ""],
        &["lab", "up", "--host-ip", ""],
        &["lab", "up", "--gateway", ""],
        &["lab", "up", "--far-ip", ""],
        &["lab", "up", "--subnet", ""],
        &["lab", "up", "--hairpin", "--hairpin"],
        &["lab", "up", "--real", "--yes", "--parent", ""],
        &["lab", "add", "", "--mode", "none"],
        &["lab", "add", "x", "--mode", ""],
        &["lab", "rm", ""],
        &["lab", "rm", "a", "a"],
        &["lab", "ls", "--json", "--json"],
        &["lab", "ls"],
        &["lab", "down"],
        &["clean", "--dry-run", "--dry-run"],
        &["clean"],
        &["inventory", "--netns", ""],
        &["inventory", "--json", "--json"],
        &["probe", "--kind", "icmp", "--kind", "icmp"],
        &["probe", "--from", ""],
        &["probe", "--port", ""],
        &["probe", "--timeout-ms", ""],
    ];
    try_all(without_lab, false);
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "n1", "--mode", "none"]);
    let with_lab: &[&[&str]] = &[
        &["lab", "up"],
        &["lab", "add", "", "--mode", "none"],
        &["lab", "add", "a", "a", "--mode", "none"],
        &["lab", "add", "n1", "n1", "--mode", "none"],
        &["lab", "add", "x", "--mode", "none", "--mode", "none"],
        &["lab", "add", "x", "--mode", ""],
        &["lab", "add", "x", "--mode", "macvlan", "--parent", ""],
        &["lab", "add", "x", "--mode", "macvlan", "--subnet", ""],
        &["lab", "add", "x", "--mode", "macvlan", "--ip-range", ""],
        &["lab", "add", "x", "--mode", "macvlan", "--macvlan-mode", ""],
        &["lab", "add", "x", "--mode", "ipvlan", "--ipvlan-mode", ""],
        &["lab", "add", "x", "--mode", "bridge", "--publish", ""],
        &[
            "lab",
            "add",
            "x",
            "--mode",
            "bridge",
            "--publish",
            "8080:80",
            "--publish",
            "8080:81",
        ],
        &["lab", "rm", ""],
        &["lab", "rm", "n1", "n1"],
        &["lab", "rm", "n1", ""],
        &["lab", "ls", "--json", "--json"],
        &["clean", "--dry-run"],
        &["inventory", "--netns", ""],
        &["inventory", "--netns", "", "--netns", ""],
        &["probe", "--from", "", "--kind", "icmp", "--timeout-ms", "1"],
        &["probe", "--to", "", "--kind", "icmp", "--timeout-ms", "1"],
        &["probe", "--kind", "all", "--kind", "all"],
        &[
            "probe",
            "--from",
            "peer",
            "--from",
            "peer",
            "--to",
            "router",
            "--to",
            "router",
            "--kind",
            "icmp",
            "--timeout-ms",
            "200",
        ],
    ];
    try_all(with_lab, true);
    let n1 = lab.ns("n1");
    assert!(lab.netns().contains(&n1), "n1 survived every refusal");
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

/// `--help` lists every mode (clap value enums), so nobody has to guess the words.
#[test]
fn lab_add_help_lists_every_mode() {
    let o = Command::new(BIN)
        .args(["lab", "add", "--help"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    for word in [
        "bridge", "host", "none", "macvlan", "ipvlan", "private", "vepa", "passthru", "l2", "l3s",
    ] {
        assert!(
            out.contains(&format!("- {word}:")),
            "{word} missing from:\n{out}"
        );
    }
}

#[test]
fn lab_ls_json_with_no_lab_has_every_key() {
    let lab = TestLab::new();
    let v: serde_json::Value = serde_json::from_str(&lab.ok(&["lab", "ls", "--json"])).unwrap();
    assert_eq!(v["endpoints"], serde_json::json!([]));
    let options = v["options"].as_object().expect("an object");
    for key in [
        "hairpin",
        "real",
        "parent",
        "prefix",
        "generation",
        "state_file",
    ] {
        assert!(options.contains_key(key), "{key} missing: {v}");
    }
    assert_eq!(v["options"]["prefix"], lab.prefix.as_str());
    assert!(v["options"]["generation"].is_null());
    assert!(v["options"]["state_file"]
        .as_str()
        .unwrap()
        .ends_with("state.json"));
    lab.assert_nothing_left();
}
