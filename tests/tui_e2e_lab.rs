//! End to end, as a person would: the real `netview` binary in a tmux pane, driven by keys.
//!
//! - `macvlan_section_through_the_menus`: `n` (no lab: bring it up), choose macvlan, accept
//!   the study post's values, `p` runs the probes; on the matrix the child-to-host cell reads
//!   unreachable, and the explanation says that is what was expected and lists the walk's
//!   hops; `q`, Enter tears down
//!   what the session made; then no namespace of this test's prefix remains.
//! - `ctrl_c_tears_down`: `L` brings the lab up; a container added with the CLI appears in
//!   the list with its mode; a none container is added from the menu; Ctrl-C leaves and
//!   tears it all down.
//! - `sigterm_tears_down`: the same for SIGTERM.
//! - `sigterm_during_up_leaves_nothing`, `sigint_...`, `sighup_...` (tmux closes the
//!   terminal): with `NETVIEW_STEP_DELAY_MS=100`, the signal lands while `L` builds the
//!   world; no namespace, no pending.json, no state.json remains.
//! - `sigterm_during_add_leaves_nothing_of_the_container`: the lab is the CLI's; SIGTERM
//!   while the TUI adds a bridge container leaves the world only (no br1, no docker0).
//! - `q_during_add_asks_and_cancel_rolls_back`: `q` asks (wait / cancel), `c` rolls back.
//! - `after_a_cancel_the_next_job_runs`: a cancelled job does not stop the next one.
//! - `the_quit_message_stays_on_the_shell`: the teardown line is not overwritten by the
//!   prompt (the terminal is restored once).
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
    /// `lab down`, then `clean` for what a half-built lab (no state file yet) left.
    fn drop(&mut self) {
        for args in [&["lab", "down"][..], &["clean"][..]] {
            let _ = Command::new(BIN)
                .args(args)
                .env("NETVIEW_PREFIX", &self.prefix)
                .env("NETVIEW_STATE_DIR", self.state.path())
                .output();
        }
    }
}

/// A 100x30 tmux pane whose shell runs with the lab's environment.
fn tmux_for(lab: &LabEnv) -> Tmux {
    tmux_with(lab, &[])
}

/// The same, with more `K=V` variables (a step delay, to act in the middle of a job).
fn tmux_with(lab: &LabEnv, extra: &[&str]) -> Tmux {
    let mut env = vec![
        format!("NETVIEW_PREFIX={}", lab.prefix),
        format!("NETVIEW_STATE_DIR={}", lab.state_dir().display()),
    ];
    env.extend(extra.iter().map(|s| s.to_string()));
    Tmux::new(100, 30, &env)
}

/// Each kernel step sleeps this long, so a signal or a key lands in the middle of a job.
const SLOW_STEPS: &str = "NETVIEW_STEP_DELAY_MS=100";

impl LabEnv {
    /// `netview lab <args>` with this lab's environment (no step delay); must succeed.
    fn cli(&self, args: &[&str]) {
        let out = Command::new(BIN)
            .args(args)
            .env("NETVIEW_PREFIX", &self.prefix)
            .env("NETVIEW_STATE_DIR", self.state_dir())
            .output()
            .expect("netview");
        assert!(out.status.success(), "netview {args:?}: {out:?}");
    }

    /// The world's four namespaces, sorted as `namespaces()` is compared.
    fn world(&self) -> Vec<String> {
        let mut w: Vec<String> = ["host", "peer", "router", "switch"]
            .iter()
            .map(|p| format!("{}{p}", self.prefix))
            .collect();
        w.sort();
        w
    }

    fn sorted_namespaces(&self) -> Vec<String> {
        let mut n = self.namespaces();
        n.sort();
        n
    }

    /// The container names the state file lists (None: no state file).
    fn state_containers(&self) -> Option<Vec<String>> {
        let text = std::fs::read_to_string(self.state_dir().join("state.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).expect("state.json is JSON");
        Some(
            v["containers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c["spec"]["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    fn has_pending(&self) -> bool {
        self.state_dir().join("pending.json").exists()
    }

    /// Whether the lab host has a link of this name.
    fn host_has_link(&self, name: &str) -> bool {
        Command::new("ip")
            .args(["-n", &format!("{}host", self.prefix), "link", "show", name])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Wait (polling the kernel) until `pred` holds for the namespaces of this lab.
    fn wait_namespaces(&self, what: &str, pred: impl Fn(&[String]) -> bool) {
        let start = std::time::Instant::now();
        loop {
            let ns = self.namespaces();
            if pred(&ns) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}: {ns:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// netview's pid: the pane shell's only child.
fn netview_pid(t: &Tmux) -> nix::unistd::Pid {
    let shell = t.format("#{pane_pid}");
    let out = run("pgrep", &["-P", &shell]);
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("netview's pid");
    nix::unistd::Pid::from_raw(pid)
}

/// Wait until process `pid` has exited (gone, or a zombie nobody reaps).
fn wait_gone(pid: nix::unistd::Pid) {
    let start = std::time::Instant::now();
    let stat = format!("/proc/{pid}/stat");
    while std::fs::read_to_string(&stat).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    }) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "netview {pid} did not exit"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
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
    // The packet walk's hops (none while the lab's cells come from the rules), never a
    // path guessed from the lab's plan.
    assert!(why.contains("      hops"), "{why}");
    assert!(!why.contains("path   mv1"), "{why}");
    t.key("Escape");

    // q: keep or tear down? Enter tears down what this session made (all of it).
    t.key("q");
    t.wait_for("the quit question", Duration::from_secs(5), |s| {
        s.contains("Keep the lab, or tear down")
    });
    t.key("Enter");
    t.wait_exit(Duration::from_secs(30));
    let screen = t.screen();
    assert!(
        screen
            .lines()
            .any(|l| l.trim_end() == "netview: tearing the lab down (this session brought it up)"),
        "the teardown line is on the shell, whole:\n{screen}"
    );
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
    nix::sys::signal::kill(netview_pid(&t), nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    t.wait_exit(Duration::from_secs(30));
    assert_eq!(lab.namespaces(), Vec::<String>::new(), "nothing left");
}

/// How a signal reaches netview in the middle of a job.
#[derive(Clone, Copy)]
enum Stop {
    Kill(nix::sys::signal::Signal),
    /// The terminal goes away (tmux closes the pane): SIGHUP, and stderr is gone too.
    CloseTerminal,
}

/// Deliver `stop` to netview and wait until it has exited.
fn stop_netview(t: &Tmux, stop: Stop) {
    let pid = netview_pid(t);
    match stop {
        Stop::Kill(sig) => {
            nix::sys::signal::kill(pid, sig).expect("kill");
            t.wait_exit(Duration::from_secs(60));
        }
        Stop::CloseTerminal => {
            t.tmux(&["kill-session", "-t", "e2e"]);
        }
    }
    wait_gone(pid);
}

/// `L` with slow steps; `stop` arrives once some of the world exists. The session brought
/// the lab up, so nothing may remain: no namespace, no pending.json, no state.json.
fn signal_during_up(stop: Stop) {
    let lab = LabEnv::new();
    let t = tmux_with(&lab, &[SLOW_STEPS]);
    t.start_netview(Duration::from_secs(10));
    t.key("L");
    t.wait_for("the progress line", Duration::from_secs(5), |s| {
        s.contains("bringing the lab up")
    });
    lab.wait_namespaces("part of the world", |ns| !ns.is_empty());
    assert!(lab.has_pending(), "the job is half-way (pending.json)");
    stop_netview(&t, stop);
    assert_eq!(lab.namespaces(), Vec::<String>::new(), "no namespace left");
    assert!(!lab.has_pending(), "no pending.json left");
    assert_eq!(lab.state_containers(), None, "no state.json left");
}

#[test]
fn sigterm_during_up_leaves_nothing() {
    signal_during_up(Stop::Kill(nix::sys::signal::Signal::SIGTERM));
}

#[test]
fn sigint_during_up_leaves_nothing() {
    signal_during_up(Stop::Kill(nix::sys::signal::Signal::SIGINT));
}

#[test]
fn sighup_during_up_leaves_nothing() {
    signal_during_up(Stop::CloseTerminal);
}

/// The lab is up (made by the CLI, so the session will not tear it down); the TUI, with
/// slow steps, starts adding bridge container `br1` from the menu. Returns once its
/// namespace exists, the job still running.
fn start_slow_bridge_add(lab: &LabEnv) -> Tmux {
    lab.cli(&["lab", "up"]);
    let t = tmux_with(lab, &[SLOW_STEPS]);
    t.start_netview(Duration::from_secs(10));
    t.wait_for("the lab", Duration::from_secs(10), |s| {
        s.contains("◆ lab host")
    });
    t.key("n");
    t.wait_for("the mode chooser", Duration::from_secs(5), |s| {
        s.contains("New container: mode")
    });
    t.key("b");
    t.wait_for("the bridge form", Duration::from_secs(5), |s| {
        s.contains("New bridge container") && s.contains("valid · Enter creates it")
    });
    t.key("Enter");
    t.wait_for("the progress line", Duration::from_secs(5), |s| {
        s.contains("adding br1 (bridge)")
    });
    let world = lab.world();
    lab.wait_namespaces("br1's namespace", |ns| {
        ns.iter().any(|n| !world.contains(n))
    });
    t
}

/// What an add that was rolled back leaves: the world as the CLI made it, nothing more.
fn assert_only_the_world(lab: &LabEnv) {
    assert_eq!(
        lab.sorted_namespaces(),
        lab.world(),
        "only the world's namespaces"
    );
    assert!(!lab.has_pending(), "no pending.json left");
    assert_eq!(
        lab.state_containers(),
        Some(Vec::new()),
        "the state lists no container"
    );
    assert!(!lab.host_has_link("docker0"), "no docker0 left");
}

#[test]
fn sigterm_during_add_leaves_nothing_of_the_container() {
    let lab = LabEnv::new();
    let t = start_slow_bridge_add(&lab);
    stop_netview(&t, Stop::Kill(nix::sys::signal::Signal::SIGTERM));
    assert_only_the_world(&lab);
}

#[test]
fn q_during_add_asks_and_cancel_rolls_back() {
    let lab = LabEnv::new();
    let t = start_slow_bridge_add(&lab);
    t.key("q");
    let s = t.wait_for("the job question", Duration::from_secs(5), |s| {
        s.contains("A lab job is running")
    });
    assert!(s.contains("adding br1 (bridge)"), "{s}");
    assert!(t.alternate_on(), "it asks, it does not quit");
    t.key("c");
    // Rolled back; the session made nothing else, so it quits without the keep question.
    t.wait_exit(Duration::from_secs(60));
    assert_only_the_world(&lab);
}

#[test]
fn the_quit_message_stays_on_the_shell() {
    let lab = LabEnv::new();
    lab.cli(&["lab", "up"]);
    let t = tmux_for(&lab);
    t.start_netview(Duration::from_secs(10));
    t.wait_for("the lab", Duration::from_secs(10), |s| {
        s.contains("◆ lab host")
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
    t.key("q");
    t.wait_for("the quit question", Duration::from_secs(5), |s| {
        s.contains("Keep the lab, or tear down")
    });
    t.key("Enter");
    t.wait_exit(Duration::from_secs(30));
    // The prompt comes back below the line, not over it.
    let screen = t.wait_for("the prompt", Duration::from_secs(5), |s| {
        s.lines()
            .rfind(|l| !l.trim().is_empty())
            .is_some_and(|l| l.starts_with("nvt$"))
            && s.matches("nvt$").count() >= 2
    });
    assert!(
        screen
            .lines()
            .any(|l| l.trim_end() == "netview: removing this session's containers: none1"),
        "the teardown line is on the shell:\n{screen}"
    );
    assert_eq!(lab.sorted_namespaces(), lab.world(), "none1 removed");
}

/// After `q`, `c` (rolled back) and Esc on the keep question, the session goes on: the next
/// add must run, not stop at once on the engine's old interrupt request.
#[test]
fn after_a_cancel_the_next_job_runs() {
    let lab = LabEnv::new();
    lab.cli(&["lab", "up"]);
    let t = tmux_with(&lab, &[SLOW_STEPS]);
    t.start_netview(Duration::from_secs(10));
    t.wait_for("the lab", Duration::from_secs(10), |s| {
        s.contains("◆ lab host")
    });
    let add_none = |name: &str| {
        t.key("n");
        t.wait_for("the mode chooser", Duration::from_secs(5), |s| {
            s.contains("New container: mode")
        });
        t.key("n");
        t.wait_for("the none form", Duration::from_secs(5), |s| {
            s.contains("New none container") && s.contains("valid · Enter creates it")
        });
        t.key("Enter");
        t.wait_for("the container", Duration::from_secs(30), |s| {
            s.contains(&format!("added {name}"))
        });
    };
    add_none("none1");
    t.key("n");
    t.wait_for("the mode chooser", Duration::from_secs(5), |s| {
        s.contains("New container: mode")
    });
    t.key("b");
    t.wait_for("the bridge form", Duration::from_secs(5), |s| {
        s.contains("New bridge container") && s.contains("valid · Enter creates it")
    });
    t.key("Enter");
    lab.wait_namespaces("br1's namespace", |ns| {
        ns.iter().any(|n| n.ends_with("-br1"))
    });
    t.key("q");
    t.wait_for("the job question", Duration::from_secs(5), |s| {
        s.contains("A lab job is running")
    });
    t.key("c");
    // Rolled back; none1 is this session's, so the usual question follows.
    t.wait_for("the keep question", Duration::from_secs(30), |s| {
        s.contains("Keep the lab, or tear down")
    });
    assert!(
        !lab.namespaces().iter().any(|n| n.ends_with("-br1")),
        "br1 rolled back"
    );
    t.key("Escape");
    add_none("none2");
    t.key("q");
    t.wait_for("the quit question", Duration::from_secs(5), |s| {
        s.contains("Keep the lab, or tear down")
    });
    t.key("Enter");
    t.wait_exit(Duration::from_secs(30));
    assert_only_the_world(&lab);
}
