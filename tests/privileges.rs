//! Privileged set-up, unprivileged runs: netview as `nobody`, first from a copy of the binary
//! without file capabilities (the one clear line, the setcap command, the exit code, `root`
//! still named root), then from a copy that `setcap` gave the four capabilities (every
//! namespace read, and the NAT rules of a namespace read through `nft`, which gets them as
//! ambient capabilities). The copies live in a temporary directory removed at the end; the
//! namespaces are the test's own (`nvt-priv-...`), deleted in Drop even when a test fails.

mod netns_common;
use netns_common::{run, TestNs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// `nobody`, from /etc/passwd on Debian.
const NOBODY: &str = "65534";

const SETCAP: &str = "cap_sys_admin,cap_sys_ptrace,cap_net_admin,cap_net_raw+ep";

impl TestNs {
    /// A NAT base chain with one rule, in this namespace only.
    fn with_nat(self) -> Self {
        let nft = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &self.0, "nft"];
            all.extend_from_slice(args);
            run("ip", &all);
        };
        nft(&["add", "table", "ip", "nvtpriv"]);
        nft(&[
            "add",
            "chain",
            "ip",
            "nvtpriv",
            "post",
            "{ type nat hook postrouting priority 100; }",
        ]);
        nft(&[
            "add",
            "rule",
            "ip",
            "nvtpriv",
            "post",
            "oifname",
            "nvtq0",
            "masquerade",
        ]);
        self
    }
}

/// A copy of netview that `nobody` may run, with the file capabilities given (or none), in a
/// directory removed when this is dropped.
struct Copy {
    _dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Copy {
    fn new(caps: Option<&str>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nvt-priv-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.path().join("netview");
        std::fs::copy(env!("CARGO_BIN_EXE_netview"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        if let Some(caps) = caps {
            run("setcap", &[caps, bin.to_str().unwrap()]);
        }
        Copy { _dir: dir, bin }
    }
}

/// Run `bin` as nobody (no inherited capabilities), in namespace `ns` when given.
fn as_nobody(ns: Option<&str>, bin: &Path, args: &[&str]) -> Output {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "setpriv"]);
            c
        }
        None => Command::new("setpriv"),
    };
    cmd.args([
        &format!("--reuid={NOBODY}"),
        &format!("--regid={NOBODY}"),
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .arg(bin)
    .args(args)
    .env("HOME", "/nonexistent")
    .current_dir("/");
    cmd.output().expect("run setpriv")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn namespace<'a>(inv: &'a Value, name: &str) -> &'a Value {
    inv["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no namespace {name} in {inv}"))
}

/// The initial namespace's inode, which this test runs in: root may read kthreadd's (PID 2)
/// namespace file even where PID 1's is refused to everyone (as in this project's sandbox).
fn initial_netns_inode() -> u64 {
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(p).map(|m| m.ino());
    let own = ino("/proc/self/ns/net").unwrap();
    let initial = ino("/proc/1/ns/net")
        .or_else(|_| ino("/proc/2/ns/net"))
        .unwrap();
    assert_eq!(own, initial, "the test must run in the initial namespace");
    own
}

#[test]
fn without_capabilities_one_line_names_them_and_the_setcap_command() {
    let ns = TestNs::new("priv", "");
    let copy = Copy::new(None);
    let out = as_nobody(None, &copy.bin, &["inventory", "--all", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Its own namespace was read, so the run succeeds; the rest is said once.
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("setcap"))
        .unwrap_or_else(|| panic!("no setcap line: {stderr}"));
    assert!(
        line.contains(&format!("setcap {SETCAP} {}", copy.bin.display())),
        "{line}"
    );
    for cap in ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_NET_ADMIN"] {
        assert!(line.contains(cap), "{cap} not named: {line}");
    }
    assert!(line.contains("namespaces not read"), "{line}");
    let inv = json(&out);
    // The root namespace is `root` even though nobody may not look at PID 1's namespace.
    let first = &inv["namespaces"][0];
    assert_eq!(first["name"], "root", "{inv}");
    assert_eq!(first["source"], "root");
    assert_eq!(first["id"], initial_netns_inode());
    // The test's namespace is listed with why it was not read, not as an EPERM.
    let other = namespace(&inv, &ns.0);
    assert_eq!(
        other["errors"],
        serde_json::json!(["not read: entering another namespace needs CAP_SYS_ADMIN"])
    );
    assert_eq!(other["links"], serde_json::json!([]));
    // Namespaces come in the order asked for, read or not.
    let out = as_nobody(
        None,
        &copy.bin,
        &["inventory", "--netns", &ns.0, "--netns", "root", "--json"],
    );
    assert!(out.status.success());
    let names: Vec<String> = json(&out)["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec![ns.0.clone(), "root".to_string()]);
}

#[test]
fn without_capabilities_nothing_readable_is_a_failure() {
    let ns = TestNs::new("priv", "");
    let copy = Copy::new(None);
    let out = as_nobody(None, &copy.bin, &["inventory", "--netns", &ns.0]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("netview: 1 of 1 namespaces not read"),
        "{stderr}"
    );
    // No empty tables for what could not be read.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(&ns.0), "{stdout}");
}

#[test]
fn with_file_capabilities_every_namespace_and_nat_are_read() {
    let ns = TestNs::new("priv", "").with_nat();
    let copy = Copy::new(Some(SETCAP));
    let out = as_nobody(None, &copy.bin, &["inventory", "--all", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("setcap"), "nothing missing: {stderr}");
    let inv = json(&out);
    assert_eq!(inv["namespaces"][0]["name"], "root");
    let other = namespace(&inv, &ns.0);
    let links: Vec<&str> = other["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(links, vec!["lo"], "{other}");
    // nft ran as a child of netview, as nobody, with the capabilities passed on.
    let nat: Vec<&str> = other["nat"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert!(
        nat.iter().any(|r| r.contains("masquerade")),
        "NAT not read: {other}"
    );
    let errors = other["errors"].to_string();
    assert!(!errors.contains("nft"), "{errors}");
}

#[test]
fn with_file_capabilities_nft_gets_them_in_netviews_own_namespace() {
    // netview runs inside the test's namespace, so nothing is entered: only the nft child's
    // capabilities decide whether NAT is read.
    let ns = TestNs::new("priv", "").with_nat();
    for (caps, reads_nat) in [(None, false), (Some(SETCAP), true)] {
        let copy = Copy::new(caps);
        let out = as_nobody(Some(&ns.0), &copy.bin, &["inventory", "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let inv = json(&out);
        let own = &inv["namespaces"][0];
        // Not the initial namespace, so not named root.
        assert_ne!(own["name"], "root", "{own}");
        let nat = own["nat"].to_string();
        assert_eq!(
            nat.contains("masquerade"),
            reads_nat,
            "caps {caps:?}: {own}"
        );
        if !reads_nat {
            assert!(own["errors"].to_string().contains("nft"), "{own}");
        }
    }
}
