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
            "unknown mode \"overlay\"".into(),
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
            "unknown macvlan mode".into(),
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
