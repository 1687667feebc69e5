//! Privileged: real mode, run inside a private namespace that stands in for the machine (with
//! a veth "NIC" to a LAN namespace), never in the root namespace.
//!
//! netview is started with `nsenter --net=...`, not `ip netns exec`: the latter also gives
//! the process a private mount namespace, so the /run/netns bind mounts of the containers it
//! creates would vanish with it.

#[path = "lab_common/mod.rs"]
mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

struct Machine {
    lab: TestLab,
    real: String,
    lan: String,
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Machine {
    fn new() -> Self {
        let mut lab = TestLab::new();
        let id = lab
            .prefix
            .trim_start_matches("nv-")
            .trim_end_matches('-')
            .to_string();
        let real = format!("nvt-lab-{id}-real");
        let lan = format!("nvt-lab-{id}-lan");
        lab.own_netns.push(real.clone());
        lab.own_netns.push(lan.clone());
        ip(&["netns", "add", &real]);
        ip(&["netns", "add", &lan]);
        ip(&[
            "-n", &real, "link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns",
            &lan,
        ]);
        ip(&["-n", &real, "addr", "add", "10.77.0.2/24", "dev", "eth0"]);
        ip(&["-n", &real, "link", "set", "eth0", "up"]);
        ip(&["-n", &real, "link", "set", "lo", "up"]);
        ip(&["-n", &lan, "addr", "add", "10.77.0.1/24", "dev", "lan0"]);
        ip(&["-n", &lan, "link", "set", "lan0", "up"]);
        Machine { lab, real, lan }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.real))
            .arg(BIN)
            .args(args)
            .env("NETVIEW_PREFIX", &self.lab.prefix)
            .env("NETVIEW_STATE_DIR", self.lab.state_dir())
            .env_remove("NETVIEW_FAIL_AT_STEP");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn fails(&self, args: &[&str], needle: &str) {
        let o = self.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }

    fn tagged_links(&self) -> Vec<String> {
        links(Some(&self.real))
            .iter()
            .filter(|l| l["ifalias"].as_str() == Some(self.lab.tag().as_str()))
            .map(|l| l["ifname"].as_str().unwrap().to_string())
            .collect()
    }

    fn forward(&self) -> String {
        let o = in_ns(&self.real, &["cat", "/proc/sys/net/ipv4/ip_forward"]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Only the test's own namespaces remain, and the machine is as it was.
    fn assert_clean(&self) {
        assert_eq!(self.lab.netns(), Vec::<String>::new());
        assert_eq!(self.tagged_links(), Vec::<String>::new());
        assert!(nft_table(&self.real).is_none());
        assert!(!self.lab.state_dir().exists());
        let eth0 = link(&self.real, "eth0").unwrap();
        assert!(!promisc(&eth0));
        assert_eq!(addrs(&self.real, "eth0"), ["10.77.0.2/24"]);
    }
}

#[test]
fn real_mode_builds_on_the_machine_and_restores_it() {
    let m = Machine::new();
    m.ok(&[
        "lab",
        "up",
        "--real",
        "--parent",
        "eth0",
        "--yes",
        "--subnet",
        "10.77.0.0/24",
        "--ip-range",
        "10.77.0.64/28",
    ]);
    assert_eq!(
        m.lab.netns(),
        Vec::<String>::new(),
        "real mode builds no world"
    );
    m.ok(&["lab", "add", "m1", "--mode", "macvlan"]);
    m.ok(&["lab", "add", "b1", "--mode", "bridge"]);
    let m1 = m.lab.ns("m1");
    let l = link(&m1, "eth0").unwrap();
    assert_eq!(l["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(addrs(&m1, "eth0"), ["10.77.0.65/24"]);
    // The child is on the real LAN.
    assert!(ping(&m1, "10.77.0.1"));
    assert!(
        !promisc(&link(&m.real, "eth0").unwrap()),
        "never promisc unless asked"
    );
    let d0 = link(&m.real, "docker0").expect("docker0 on the machine");
    assert_eq!(d0["ifalias"], m.lab.tag().as_str());
    assert!(nft_table(&m.real).unwrap().contains("masquerade"));
    assert_eq!(m.forward(), "1");
    assert!(
        ping(&m.lab.ns("b1"), "10.77.0.1"),
        "bridge container NATed onto the LAN"
    );
    let ls = m.run(&["lab", "ls", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let host = &v["endpoints"][0];
    assert_eq!(host["name"], "host");
    assert_eq!(host["netns"], serde_json::Value::Null);
    assert_eq!(host["ip"], "10.77.0.2");
    assert_eq!(v["options"]["real"], true);
    m.ok(&["lab", "down"]);
    assert_eq!(m.forward(), "0", "ip_forward restored");
    m.assert_clean();
    let _ = &m.lan;
}

#[test]
fn real_mode_refuses_parents_that_cannot_work() {
    let m = Machine::new();
    ip(&["-n", &m.real, "link", "add", "br9", "type", "bridge"]);
    ip(&[
        "-n", &m.real, "link", "add", "p9", "type", "veth", "peer", "name", "p9b",
    ]);
    ip(&["-n", &m.real, "link", "set", "p9", "master", "br9"]);
    for l in ["br9", "p9", "p9b"] {
        ip(&["-n", &m.real, "link", "set", l, "up"]);
    }
    m.fails(
        &["lab", "up", "--real", "--parent", "lo", "--yes"],
        "loopback",
    );
    m.fails(
        &["lab", "up", "--real", "--parent", "p9", "--yes"],
        "bridge port",
    );
    m.fails(
        &["lab", "up", "--real", "--parent", "br9", "--yes"],
        "is a bridge",
    );
    m.fails(
        &["lab", "up", "--real", "--parent", "nope0", "--yes"],
        "does not exist",
    );
    m.fails(&["lab", "up", "--real", "--parent", "eth0"], "--yes");
    m.fails(
        &[
            "lab",
            "up",
            "--real",
            "--parent",
            "eth0",
            "--yes",
            "--hairpin",
        ],
        "--hairpin",
    );
    m.assert_clean();
}

#[test]
fn real_mode_kill_9_then_clean() {
    let m = Machine::new();
    m.ok(&[
        "lab",
        "up",
        "--real",
        "--parent",
        "eth0",
        "--yes",
        "--subnet",
        "10.77.0.0/24",
        "--ip-range",
        "10.77.0.64/28",
    ]);
    let mut child = m
        .command(&["lab", "add", "b1", "b2", "--mode", "bridge"])
        .env("NETVIEW_STEP_DELAY_MS", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // docker0 comes first, then ip_forward and the containers: kill once docker0 is there.
    for _ in 0..1000 {
        if !m.tagged_links().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(40));
    // nsenter execs netview, so the child's pid is netview's.
    Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    assert!(
        !m.tagged_links().is_empty() || !m.lab.netns().is_empty(),
        "killed mid-way"
    );
    m.ok(&["clean"]);
    assert_eq!(m.lab.netns(), Vec::<String>::new());
    assert_eq!(m.tagged_links(), Vec::<String>::new());
    assert!(!m.lab.state_dir().exists());
    // Changes to the machine itself were journaled as they happened, so clean undoes them.
    assert_eq!(m.forward(), "0", "ip_forward restored");
    assert!(nft_table(&m.real).is_none());
}
