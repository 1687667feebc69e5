//! Shared helpers for the privileged lab tests: a lab with a unique prefix and state dir that
//! cleans up in Drop (even when the test panics), and `ip -j` oracles read in the test.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub const BIN: &str = env!("CARGO_BIN_EXE_netview");

pub struct TestLab {
    pub prefix: String,
    pub dir: tempfile::TempDir,
    /// Extra namespaces the test made itself (removed in Drop).
    pub own_netns: Vec<String>,
}

impl TestLab {
    pub fn new() -> Self {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        TestLab {
            prefix: format!("nv-t{}x{n}-", std::process::id()),
            dir: tempfile::tempdir().unwrap(),
            own_netns: Vec::new(),
        }
    }

    pub fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    pub fn ns(&self, part: &str) -> String {
        format!("{}{part}", self.prefix)
    }

    pub fn tag(&self) -> String {
        format!("netview:{}", self.prefix)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("NETVIEW_PREFIX", &self.prefix)
            .env("NETVIEW_STATE_DIR", self.state_dir())
            .env_remove("NETVIEW_FAIL_AT_STEP")
            .env_remove("NETVIEW_STEP_DELAY_MS");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run netview")
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "netview {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run and require exit code `code` with one stderr line containing `needle`.
    pub fn fails(&self, args: &[&str], code: i32, needle: &str) {
        let o = self.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(code),
            "netview {args:?}: expected exit {code}, stderr: {err}"
        );
        assert!(
            err.contains(needle),
            "netview {args:?}: {err:?} lacks {needle:?}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    }

    /// Namespaces in /run/netns with this lab's prefix.
    pub fn netns(&self) -> Vec<String> {
        list_netns()
            .into_iter()
            .filter(|n| n.starts_with(&self.prefix))
            .collect()
    }

    pub fn ls_json(&self) -> Value {
        serde_json::from_str(&self.ok(&["lab", "ls", "--json"])).unwrap()
    }

    pub fn endpoint(&self, name: &str) -> Value {
        self.ls_json()["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no endpoint {name}"))
            .clone()
    }

    /// Nothing of this lab anywhere: namespaces, tagged links in the root namespace, state.
    pub fn assert_nothing_left(&self) {
        assert_eq!(self.netns(), Vec::<String>::new(), "namespaces left");
        let tagged: Vec<String> = links(None)
            .iter()
            .filter(|l| l["ifalias"].as_str() == Some(self.tag().as_str()))
            .map(|l| l["ifname"].as_str().unwrap_or("?").to_string())
            .collect();
        assert_eq!(tagged, Vec::<String>::new(), "tagged links left in root");
        assert!(!self.state_dir().exists(), "state dir left");
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = self.run(&["clean"]);
        for n in self.netns().into_iter().chain(self.own_netns.clone()) {
            let _ = Command::new("ip").args(["netns", "del", &n]).output();
        }
    }
}

pub fn list_netns() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `ip -j -d [-n NS] ARGS` parsed.
pub fn ip_json(ns: Option<&str>, args: &[&str]) -> Value {
    let mut c = Command::new("ip");
    c.args(["-j", "-d"]);
    if let Some(n) = ns {
        c.args(["-n", n]);
    }
    let o = c.args(args).output().expect("ip");
    if !o.status.success() {
        return Value::Array(vec![]);
    }
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Array(vec![]))
}

pub fn links(ns: Option<&str>) -> Vec<Value> {
    ip_json(ns, &["link", "show"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub fn link(ns: &str, name: &str) -> Option<Value> {
    links(Some(ns)).into_iter().find(|l| l["ifname"] == name)
}

pub fn addrs(ns: &str, name: &str) -> Vec<String> {
    ip_json(Some(ns), &["addr", "show", "dev", name])
        .as_array()
        .and_then(|a| a.first().cloned())
        .and_then(|l| l["addr_info"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|a| a["family"] == "inet")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

pub fn routes(ns: &str) -> Vec<Value> {
    ip_json(Some(ns), &["route", "show"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Run a command inside a namespace (`ip netns exec`), returning success.
pub fn in_ns(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("ip netns exec")
}

/// Reachable: any of three echo requests answered (a first request can be lost while a
/// freshly made link settles).
pub fn ping(ns: &str, ip: &str) -> bool {
    in_ns(ns, &["ping", "-c3", "-i0.2", "-W1", ip])
        .status
        .success()
}

/// Unreachable: one echo request within a second gets no answer.
pub fn no_ping(ns: &str, ip: &str) -> bool {
    !in_ns(ns, &["ping", "-c1", "-W1", ip]).status.success()
}

/// `nft -j list table ip netview` inside a namespace; None when there is no table.
pub fn nft_table(ns: &str) -> Option<String> {
    let o = in_ns(ns, &["nft", "-j", "list", "table", "ip", "netview"]);
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

pub fn is_up(l: &Value) -> bool {
    l["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "UP"))
}

pub fn promisc(l: &Value) -> bool {
    l["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "PROMISC"))
}

/// One lab world the privileged lab tests build: the `lab up` arguments and each container's
/// `lab add` arguments. The list is [`lab_world_tests!`].
pub struct LabWorld {
    pub name: &'static str,
    pub up: &'static [&'static str],
    pub containers: &'static [&'static [&'static str]],
}

impl LabWorld {
    /// Build the world in a fresh test lab (removed in Drop, even when the test panics).
    pub fn build(&self) -> TestLab {
        let lab = TestLab::new();
        let mut up = vec!["lab", "up"];
        up.extend(self.up);
        lab.ok(&up);
        for c in self.containers {
            let mut add = vec!["lab", "add"];
            add.extend(*c);
            lab.ok(&add);
        }
        lab
    }
}

/// The lab worlds, one list serving tests/walk_lab.rs and tests/probe_lab_oracle.rs: expands
/// to one `#[test]` per world calling `$check(&LabWorld)`. Every mode and submode this
/// machine's kernel has (ipvlan runs in the VM test), with and without hairpin and NAT, the
/// host shim, and one container of each mode together.
#[macro_export]
macro_rules! lab_world_tests {
    ($check:path) => {
        $crate::lab_world_tests!(@ $check;
            bridge_host_and_none, [], [
                ["b1", "--mode", "bridge"], ["b2", "--mode", "bridge"],
                ["h1", "--mode", "host"], ["n1", "--mode", "none"]];
            bridge_without_nat, [], [
                ["b1", "--mode", "bridge", "--no-nat"], ["b2", "--mode", "bridge", "--no-nat"]];
            macvlan_bridge, [], [
                ["m1", "--mode", "macvlan", "--promisc"], ["m2", "--mode", "macvlan"]];
            macvlan_private, [], [
                ["m1", "--mode", "macvlan", "--macvlan-mode", "private"],
                ["m2", "--mode", "macvlan", "--macvlan-mode", "private"]];
            macvlan_private_hairpin, ["--hairpin"], [
                ["m1", "--mode", "macvlan", "--macvlan-mode", "private"],
                ["m2", "--mode", "macvlan", "--macvlan-mode", "private"]];
            macvlan_vepa, [], [
                ["v1", "--mode", "macvlan", "--macvlan-mode", "vepa"],
                ["v2", "--mode", "macvlan", "--macvlan-mode", "vepa"]];
            macvlan_vepa_hairpin, ["--hairpin"], [
                ["v1", "--mode", "macvlan", "--macvlan-mode", "vepa"],
                ["v2", "--mode", "macvlan", "--macvlan-mode", "vepa"]];
            // A bridge container too: its masqueraded traffic to the LAN comes back to the
            // host's MAC, which the passthru child took.
            macvlan_passthru, [], [
                ["p1", "--mode", "macvlan", "--macvlan-mode", "passthru"],
                ["b1", "--mode", "bridge"]];
            macvlan_with_host_shim, [], [
                ["m1", "--mode", "macvlan", "--host-shim"], ["m2", "--mode", "macvlan"]];
            one_container_per_mode, [], [
                ["b1", "--mode", "bridge"], ["h1", "--mode", "host"],
                ["n1", "--mode", "none"], ["m1", "--mode", "macvlan"]];
        );
    };
    (@ $check:path; $($name:ident, [$($up:literal),*], [$([$($c:literal),*]),*];)*) => {
        $(
            #[test]
            fn $name() {
                $check(&$crate::common::LabWorld {
                    name: stringify!($name),
                    up: &[$($up),*],
                    containers: &[$(&[$($c),*]),*],
                });
            }
        )*
    };
}
