//! The matrix at 80x24, as a person sees it: the real `netview` in a tmux pane over a lab
//! the CLI brought up (host, peer, router, two bridge containers: seven target columns).
//! The columns are named by their endpoints and addresses, not numbered, and `>` scrolls to
//! the last column, which is then named in the header and under the grid.
//!
//! Needs root, tmux and iproute2. The lab has its own prefix and state directory
//! ([`lab_common::TestLab`], torn down on drop even when the test fails) and the pane its own
//! tmux socket.

#[path = "lab_common/mod.rs"]
mod lab_common;
#[path = "tmux_common/mod.rs"]
mod tmux_common;

use std::time::Duration;

use lab_common::TestLab;
use tmux_common::Tmux;

/// The lines of the matrix's header (the two under its title).
fn header(screen: &str) -> String {
    screen
        .lines()
        .skip(2)
        .take(2)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn matrix_at_80x24_names_its_columns_and_scrolls_to_the_last() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "--mode", "bridge", "b1", "b2"]);
    let t = Tmux::new(
        80,
        24,
        &[
            format!("NETVIEW_PREFIX={}", lab.prefix),
            format!("NETVIEW_STATE_DIR={}", lab.state_dir().display()),
        ],
    );
    t.start_netview(Duration::from_secs(10));
    t.key("9");
    t.key("p");
    let screen = t.wait_for("the probes to finish", Duration::from_secs(20), |s| {
        s.contains("Matrix ·") && s.contains(" ms · ")
    });
    let head = header(&screen);
    assert!(!screen.contains("[1]"), "no numbered columns:\n{screen}");
    assert!(head.contains("host ─"), "{screen}");
    assert!(head.contains("192.168.50.11"), "{screen}");
    assert!(
        !head.contains("b2"),
        "b2 is the last column, out of view:\n{screen}"
    );
    assert!(screen.contains("more to the right"), "{screen}");

    // `>` pages right; on the last page it goes to the last column.
    for _ in 0..7 {
        t.key(">");
    }
    let screen = t.wait_for("the last column", Duration::from_secs(5), |s| {
        s.contains("▶ host → b2 ")
    });
    assert!(header(&screen).contains("b2"), "{screen}");
    assert!(screen.contains("more to the left"), "{screen}");
    assert!(screen.contains("of 7"), "{screen}");

    // The CLI brought the lab up: the session made nothing, so q quits at once.
    t.key("q");
    t.wait_exit(Duration::from_secs(10));
}
