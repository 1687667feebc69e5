//! End to end, as a person would: the real `netview` in a tmux pane, probing two namespaces
//! made here with iproute2 (no lab), and reading the packet walk's hops in the TUI.
//!
//! - `explanation_and_topology_show_the_walks_hops`: `/` filters the list to this test's two
//!   namespaces (a veth pair, 10.213.7.1 and .2), Space marks both, `p` probes among them;
//!   Enter on the a → b cell explains it with the walk's hops (request then reply), predicted
//!   over the inventory the UI holds; the topology tab (8) marks the veth pair's line `»`.
//!
//! Needs root, tmux and iproute2. The namespaces are this test's own (`nvt-pr-<pid>-…`),
//! deleted on drop even when the test fails; the tmux server is killed on drop. Nothing
//! touches the host's NICs: the probes go only between the marked namespaces.

#[path = "tmux_common/mod.rs"]
mod tmux_common;

#[path = "probe_common/mod.rs"]
mod probe_common;

use std::time::Duration;

use probe_common::Topo;
use tmux_common::Tmux;

#[test]
fn explanation_and_topology_show_the_walks_hops() {
    let mut topo = Topo::new("w");
    topo.add("a");
    topo.add("b");
    topo.veth("a", "va", "b", "vb");
    topo.ip("a", &["addr", "add", "10.213.7.1/24", "dev", "va"]);
    topo.ip("b", &["addr", "add", "10.213.7.2/24", "dev", "vb"]);
    let (a, b) = (topo.ns("a"), topo.ns("b"));

    let t = Tmux::new(100, 30, &[]);
    t.start_netview(Duration::from_secs(10));
    // Only this test's namespaces in the list, then mark both.
    t.key("/");
    t.type_text(&topo.ns(""));
    t.key("Enter");
    t.wait_for("the two namespaces", Duration::from_secs(10), |s| {
        s.contains("Namespaces (2")
    });
    t.key("Space");
    t.key("j");
    t.key("Space");
    t.key("p");
    t.wait_for("the probes to finish", Duration::from_secs(20), |s| {
        s.contains("Matrix ·") && s.contains(" ms · ") && s.contains(" unknown")
    });
    // The cursor starts on the first source; find the column of b's address.
    let target = format!("→ {b} 10.213.7.2:");
    for _ in 0..4 {
        if t.screen().contains(&target) {
            break;
        }
        t.key("Right");
    }
    let screen = t.wait_for("the a -> b cell", Duration::from_secs(5), |s| {
        s.contains(&format!("▶ {a} {target}"))
    });
    assert!(
        screen.contains("icmp ✓"),
        "a reaches b over the veth pair:\n{screen}"
    );
    t.key("Enter");
    let why = t.wait_for("the explanation", Duration::from_secs(5), |s| {
        s.contains("Why?")
    });
    assert!(
        why.contains("expected reachable  → as expected"),
        "predicted by the walk:\n{why}"
    );
    assert!(why.contains("hops ("), "{why}");
    assert!(why.contains("request then reply"), "{why}");
    assert!(
        why.contains("routed on-link by 10.213.7.0/24"),
        "the first hop, in a:\n{why}"
    );
    assert!(why.contains(" va "), "a's device on the path:\n{why}");
    t.key("Escape");

    // The topology tab lights the veth pair the hops cross.
    t.key("8");
    let topo_screen = t.wait_for("the topology with the path", Duration::from_secs(5), |s| {
        s.contains("» path of")
    });
    assert!(
        topo_screen
            .lines()
            .any(|l| l.contains("» ") && l.contains(&format!("va @ {a}"))),
        "the veth pair's line is marked:\n{topo_screen}"
    );

    t.key("q");
    t.wait_exit(Duration::from_secs(10));
}
