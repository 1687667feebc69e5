//! Driving the real `netview` in tmux as a person would, shared by the end-to-end tests: a
//! tmux server on its own socket (in a temporary directory) with one session running
//! `/bin/sh`, killed on drop.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_netview");

/// Run a command and require success (outside any tmux the test itself may run in).
pub fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .env_remove("TMUX")
        .output()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub struct Tmux {
    socket: String,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// A `width`x`height` pane running `/bin/sh` with prompt `nvt$ ` and `env` (`K=V` each).
    pub fn new(width: u16, height: u16, env: &[String]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nvt-tmux")
            .tempdir()
            .expect("temporary directory");
        let socket = dir.path().join("tmux.sock").to_string_lossy().into_owned();
        let (w, h) = (width.to_string(), height.to_string());
        let mut args: Vec<&str> = vec![
            "-S",
            &socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            &w,
            "-y",
            &h,
            "env",
            "PS1=nvt$ ",
        ];
        args.extend(env.iter().map(String::as_str));
        args.push("/bin/sh");
        run("tmux", &args);
        let t = Tmux { socket, _dir: dir };
        t.wait_for("the shell prompt", Duration::from_secs(5), |s| {
            s.contains("nvt$")
        });
        t
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let mut all = vec!["-S", self.socket.as_str()];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&run("tmux", &all).stdout).into_owned()
    }

    /// Send tmux key names at once.
    pub fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Press one key, then give the UI a moment: keys sent back to back can merge into an
    /// escape sequence (Esc then a letter reads as Alt-letter).
    pub fn key(&self, k: &str) {
        self.send(&[k]);
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Type literal text (no key-name interpretation).
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "e2e", "-l", text]);
    }

    /// A left click at (`x`, `y`) (0-based, as the screen's lines and columns): the SGR
    /// mouse report a terminal sends (press, then release), written to the pane as bytes.
    /// tmux's own `send-keys -M` only replays a mouse event tmux received.
    pub fn click(&self, x: u16, y: u16) {
        for end in ['M', 'm'] {
            let report = format!("\x1b[<0;{};{}{end}", x + 1, y + 1);
            let hex: Vec<String> = report.bytes().map(|b| format!("{b:02x}")).collect();
            let mut args = vec!["send-keys", "-t", "e2e", "-H"];
            args.extend(hex.iter().map(String::as_str));
            self.tmux(&args);
        }
    }

    /// Whether the program in the pane asked for mouse reports (any mode).
    pub fn mouse_on(&self) -> bool {
        self.format("#{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}")
            .contains('1')
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "e2e"])
    }

    pub fn format(&self, f: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "e2e", f])
            .trim()
            .to_string()
    }

    pub fn current_command(&self) -> String {
        self.format("#{pane_current_command}")
    }

    pub fn alternate_on(&self) -> bool {
        self.format("#{alternate_on}") == "1"
    }

    /// Wait until the screen satisfies `pred`; returns how long that took and the screen.
    pub fn wait_for_timed(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> (Duration, String) {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return (start.elapsed(), s);
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Wait until the screen satisfies `pred`; returns the screen.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_timed(what, timeout, pred).1
    }

    /// Start netview and wait until its UI is up on the alternate screen.
    pub fn start_netview(&self, timeout: Duration) {
        self.type_text(BIN);
        self.send(&["Enter"]);
        self.wait_for("the namespace list", timeout, |s| {
            s.contains("Namespaces (")
        });
        assert!(self.alternate_on(), "the UI runs on the alternate screen");
    }

    /// Wait until netview has exited and the shell is in front again.
    pub fn wait_exit(&self, timeout: Duration) {
        let start = Instant::now();
        while self.alternate_on() || self.current_command() != "sh" {
            assert!(
                start.elapsed() < timeout,
                "netview did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-S", &self.socket, "kill-server"])
            .env_remove("TMUX")
            .output();
    }
}
