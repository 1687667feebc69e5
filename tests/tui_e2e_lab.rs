//! End to end, as a person would: the real `netview` binary in a tmux pane, driven by keys.
//!
//! - `macvlan_section_through_the_menus`: `n` (no lab: bring it up), choose macvlan, accept
//!   the study post's values, `p` runs the probes; on the matrix the child-to-host cell reads
//!   unreachable, and the explanation says that is what was expected; `q`, Enter tears down
//!   what the session made; then no namespace of this test's prefix remains.
//! - `ctrl_c_tears_down`: `L` brings the lab up; a container added with the CLI appears in
//!   the list with its mode; a none container is added from the menu; Ctrl-C leaves and
//!   tears it all down.
//! - `sigterm_tears_down`: the same for SIGTERM.
//!
//! Needs root, tmux and iproute2. Each test has its own lab (`NETVIEW_PREFIX=nv-t<pid>x<n>-`,
//! `NETVIEW_STATE_DIR` a tempdir) and its own tmux socket; Drop guards run `netview lab down`
//! with the same environment and kill the tmux server, even on panic.

#[path = "tmux_common/mod.rs"]
mod tmux_common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tmux_common::{run, Tmux, BIN};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One isolated lab: its prefix and state directory; torn down on drop.
struct LabEnv {
    prefix: String,
    state: tempfile::TempDir,
}

impl LabEnv {
    fn new() -> Self {
        LabEnv {
            prefix: format!(
                "nv-t{}x{}-",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ),
            state: tempfile::tempdir().expect("state dir"),
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.state.path().to_path_buf()
    }

    /// Namespaces with this lab's prefix.
    fn namespaces(&self) -> Vec<String> {
        let out = run("ip", &["netns", "list"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&self.prefix))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for LabEnv {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["lab", "down"])
            .env("NETVIEW_PREFIX", &self.prefix)
            .env("NETVIEW_STATE_DIR", self.state.path())
            .output();
    }
}

/// A 100x30 tmux pane whose shell runs with the lab's environment.
fn tmux_for(lab: &LabEnv) -> Tmux {
    Tmux::new(
        100,
        30,
        &[
            format!("NETVIEW_PREFIX={}", lab.prefix),
            format!("NETVIEW_STATE_DIR={}", lab.state_dir().display()),
        ],
    )
}

#[test]
fn macvlan_section_through_the_menus() {
    let lab = LabEnv::new();
    let t = tmux_for(&lab);
    t.start_netview(Duration::from_secs(10));

    // n: no lab is up, so it offers to bring it up first.
    t.key("n");
    t.wait_for(
        "the offer to bring the lab up",
        Duration::from_secs(5),
        |s| s.contains("No lab is up"),
    );
    t.key("Enter");
    t.wait_for("the mode chooser", Duration::from_secs(30), |s| {
        s.contains("New container: mode")
    });
    t.key("m");
    let form = t.wait_for("the macvlan form", Duration::from_secs(5), |s| {
        s.contains("New macvlan container")
    });
    // The study post's values, pre-filled and valid.
    assert!(form.contains("192.168.50.192/27"), "{form}");
    assert!(form.contains("enp0s8"), "{form}");
    t.wait_for("the form to be valid", Duration::from_secs(5), |s| {
        s.contains("valid · Enter creates it")
    });
    t.key("Enter");
    t.wait_for("the container", Duration::from_secs(30), |s| {
        s.contains("added mv1")
    });
    assert!(
        lab.namespaces().iter().any(|n| n.ends_with("mv1")),
        "the engine made it: {:?}",
        lab.namespaces()
    );

    // p: the matrix fills in; wait for the run to finish.
    t.key("p");
    t.wait_for("the probes to finish", Duration::from_secs(20), |s| {
        s.contains("Matrix ·") && s.contains(" ms · ")
    });
    // Down to the mv1 row (host, peer, router, mv1), on the host column.
    for _ in 0..3 {
        t.key("Down");
    }
    let screen = t.wait_for("the mv1 -> host cell", Duration::from_secs(5), |s| {
        s.contains("▶ mv1 → host 192.168.50.11:")
    });
    assert!(
        screen.contains("▶ mv1 → host 192.168.50.11: icmp ✗  arp ✗"),
        "child to host must read unreachable:\n{screen}"
    );
    let row = screen
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with("mv1 "))
        .expect("the mv1 row");
    assert!(row.contains("✗✗"), "{row}");
    assert!(!row.contains('!'), "no mismatch on the mv1 row: {row}");
    t.key("Enter");
    let why = t.wait_for("the explanation", Duration::from_secs(5), |s| {
        s.contains("Why?")
    });
    assert!(
        why.contains("expected unreachable  → as expected"),
        "expected so:\n{why}"
    );
    assert!(why.contains("path   mv1 → enp0s8 → host"), "{why}");
    t.key("Escape");

    // q: keep or tear down? Enter tears down what this session made (all of it).
    t.key("q");
    t.wait_for("the quit question", Duration::from_secs(5), |s| {
        s.contains("Keep the lab, or tear down")
    });
    t.key("Enter");
    t.wait_exit(Duration::from_secs(30));
    let screen = t.screen();
    assert!(screen.contains("tearing the lab down"), "{screen}");
    assert_eq!(lab.namespaces(), Vec::<String>::new(), "nothing left");
    assert!(
        !lab.state_dir().join("state.json").exists(),
        "no state file left"
    );
}

#[test]
fn ctrl_c_tears_down() {
    let lab = LabEnv::new();
    let t = tmux_for(&lab);
    t.start_netview(Duration::from_secs(10));
    t.key("L");
    // Not the progress line ("bringing the lab up…"): the lab's own host in the list.
    t.wait_for("the lab", Duration::from_secs(30), |s| {
        s.contains("◆ lab host") && !s.contains("bringing the lab up")
    });
    // A container made with the CLI shows in the running TUI at once, with its mode.
    let out = Command::new(BIN)
        .args(["lab", "add", "cli1", "--mode", "none"])
        .env("NETVIEW_PREFIX", &lab.prefix)
        .env("NETVIEW_STATE_DIR", lab.state_dir())
        .output()
        .expect("netview lab add");
    assert!(out.status.success(), "{out:?}");
    t.wait_for("the CLI's container", Duration::from_secs(5), |s| {
        s.contains("◆ cli1 · none")
    });
    t.key("n");
    t.wait_for("the mode chooser", Duration::from_secs(5), |s| {
        s.contains("New container: mode")
    });
    t.key("n"); // none
    t.wait_for("the none form", Duration::from_secs(5), |s| {
        s.contains("New none container")
    });
    t.key("Enter");
    t.wait_for("the container", Duration::from_secs(30), |s| {
        s.contains("added none1")
    });
    assert!(!lab.namespaces().is_empty());
    t.key("C-c");
    t.wait_exit(Duration::from_secs(30));
    assert_eq!(lab.namespaces(), Vec::<String>::new(), "nothing left");
}

#[test]
fn sigterm_tears_down() {
    let lab = LabEnv::new();
    let t = tmux_for(&lab);
    t.start_netview(Duration::from_secs(10));
    t.key("L");
    // Not the progress line ("bringing the lab up…"): the lab's own host in the list.
    t.wait_for("the lab", Duration::from_secs(30), |s| {
        s.contains("◆ lab host") && !s.contains("bringing the lab up")
    });
    assert!(!lab.namespaces().is_empty());
    // netview is the pane shell's only child.
    let shell = t
        .tmux(&["display-message", "-p", "-t", "e2e", "#{pane_pid}"])
        .trim()
        .to_string();
    let out = run("pgrep", &["-P", &shell]);
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("netview's pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    t.wait_exit(Duration::from_secs(30));
    assert_eq!(lab.namespaces(), Vec::<String>::new(), "nothing left");
}
