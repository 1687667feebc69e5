//! The matrix at 80x24, as a person sees it: the real `netview` in a tmux pane over a lab
//! the CLI brought up.
//! - `matrix_at_80x24_names_its_columns_and_scrolls_to_the_last`: (host, peer, router, two
//!   bridge containers: seven target columns) the columns are named by their endpoints and
//!   addresses, not numbered, and `>` scrolls to the last column, which is then named in the
//!   header and under the grid.
//! - `the_mouse_clicks_a_tab_and_double_clicks_a_cell_then_is_released`: a click on the
//!   tab bar opens the Matrix tab, a double click on a cell its explanation; after `q` the
//!   pane no longer reports the mouse. The clicks are the SGR reports a terminal sends,
//!   written to the pane with `tmux send-keys -H`.
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

/// Where `needle` starts on `screen`: (column, line).
fn find(screen: &str, needle: &str) -> (u16, u16) {
    for (y, l) in screen.lines().enumerate() {
        if let Some(b) = l.find(needle) {
            return (l[..b].chars().count() as u16, y as u16);
        }
    }
    panic!("{needle} is not on screen:\n{screen}");
}

#[test]
fn the_mouse_clicks_a_tab_and_double_clicks_a_cell_then_is_released() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    let t = Tmux::new(
        80,
        24,
        &[
            format!("NETVIEW_PREFIX={}", lab.prefix),
            format!("NETVIEW_STATE_DIR={}", lab.state_dir().display()),
        ],
    );
    t.start_netview(Duration::from_secs(10));
    assert!(t.mouse_on(), "netview asks for mouse reports");
    // At 80 columns the tab bar names only the current tab: `[1 Links] 2 3 ... 8 9 0`.
    let (x, y) = find(&t.screen(), " 8 9 0");
    t.click(x + 3, y);
    t.wait_for("the matrix tab", Duration::from_secs(5), |s| {
        s.contains("[9 Matrix]") || s.contains("[9 Mtx]")
    });
    t.key("p");
    let screen = t.wait_for("the probes to finish", Duration::from_secs(20), |s| {
        s.contains("Matrix ·") && s.contains(" ms · ")
    });
    // The peer row, under the router's first address: a double click explains it.
    let (col, _) = find(&screen, "router ─");
    let (_, row) = find(&screen, "│peer ");
    t.click(col + 1, row);
    t.click(col + 1, row);
    let why = t.wait_for("the explanation", Duration::from_secs(5), |s| {
        s.contains("Why?")
    });
    assert!(why.contains("peer → router"), "{why}");
    t.key("Escape");
    t.key("q");
    t.wait_exit(Duration::from_secs(10));
    assert!(!t.mouse_on(), "the shell gets the mouse back");
}
