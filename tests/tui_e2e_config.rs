//! End to end: the real `netview` binary in an 80x24 tmux pane with a config file (found
//! through `XDG_CONFIG_HOME`) that remaps keys: the status bar and the help show the keys in
//! use, the help scrolls, the remapped keys act and the old ones no longer do; `--no-color`
//! starts too. Needs tmux (and root, as netview's inventory does to read every namespace);
//! each test has its own tmux server and config folder.

#[path = "tmux_common/mod.rs"]
mod tmux_common;

use std::time::Duration;

use tmux_common::Tmux;

const CONFIG: &str = "[keys.browse]\nhelp = \"F1\"\ntour = \"F2\"\nquit = \"Q\"\n";

fn with_config(width: u16, height: u16) -> (Tmux, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("netview")).unwrap();
    std::fs::write(dir.path().join("netview/config.toml"), CONFIG).unwrap();
    let t = Tmux::new(
        width,
        height,
        &[format!("XDG_CONFIG_HOME={}", dir.path().display())],
    );
    (t, dir)
}

#[test]
fn remapped_keys_show_and_act_at_80x24() {
    let (t, _dir) = with_config(80, 24);
    t.start_netview(Duration::from_secs(5));
    let screen = t.wait_for("the remapped hints", Duration::from_secs(5), |s| {
        s.contains("F1:help F2:tour Q:quit")
    });
    assert!(!screen.contains("?:help"), "{screen}");
    // ? is free now: nothing opens.
    t.key("?");
    assert!(!t.screen().contains("Keys ("), "{}", t.screen());
    t.key("F1");
    // Waited for whole: a capture can catch a frame half drawn.
    t.wait_for("the help, scrollable", Duration::from_secs(5), |s| {
        s.contains("Keys (F1 or Esc closes)")
            && s.contains("On the Links tab")
            && s.contains(" scroll ")
    });
    t.key("PageDown");
    t.key("PageDown");
    t.wait_for(
        "the help scrolled to the tour",
        Duration::from_secs(5),
        |s| s.contains("During the tour") && !s.contains("On the Links tab"),
    );
    t.key("Escape");
    t.wait_for("the help closed", Duration::from_secs(5), |s| {
        !s.contains("Keys (F1")
    });
    // q is free too; Q quits (this session made nothing, so it asks nothing).
    t.key("q");
    assert!(t.alternate_on(), "q quit netview");
    t.key("Q");
    t.wait_exit(Duration::from_secs(5));
}

#[test]
fn no_color_starts_the_ui() {
    let t = Tmux::new(80, 24, &[]);
    t.type_text(concat!(env!("CARGO_BIN_EXE_netview"), " --no-color"));
    t.send(&["Enter"]);
    t.wait_for("the namespace list", Duration::from_secs(5), |s| {
        s.contains("Namespaces (")
    });
    t.key("q");
    t.wait_exit(Duration::from_secs(5));
}
