//! A named network namespace that belongs to one test (deleted when dropped, even when the
//! test fails), and a command runner that fails the test with the command's stderr.

// Each test binary uses part of it.
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `nvt-AREA-PID-N[-TAG]` in /run/netns.
pub struct TestNs(pub String);

impl TestNs {
    /// A new namespace with `lo` up.
    pub fn new(area: &str, tag: &str) -> Self {
        let ns = Self::bare(area, tag);
        run("ip", &["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// A new namespace as `ip netns add` leaves it (`lo` down).
    pub fn bare(area: &str, tag: &str) -> Self {
        let mut name = format!(
            "nvt-{area}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        if !tag.is_empty() {
            name.push('-');
            name.push_str(tag);
        }
        run("ip", &["netns", "add", &name]);
        TestNs(name)
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Run `cmd`; its stdout, or the test fails naming the command and its stderr.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
