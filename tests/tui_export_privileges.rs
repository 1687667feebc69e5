//! End to end in tmux: `e` writes the tab in view to a private file and the status line says
//! where; run as `nobody` from a copy of the binary without file capabilities, the first
//! screen names the missing capabilities and the setcap line, and `e` falls back to
//! `$XDG_STATE_HOME/netview` when the current directory (`/`) cannot be written.
//!
//! Needs root (setpriv, chown) and tmux; the copy and the directories are temporary
//! and removed at the end, also when a test fails.

#[path = "tmux_common/mod.rs"]
mod tmux_common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tmux_common::{Tmux, BIN};

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;

/// The one file `dir` holds whose name starts with `prefix`, waiting for it to appear.
fn written(dir: &Path, prefix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    assert_eq!(found.len(), 1, "one {prefix}* file in {dir:?}: {found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn e_writes_the_topology_as_a_private_dot_file_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::new(WIDTH, HEIGHT, &[]);
    t.type_text(&format!("cd {}", dir.path().display()));
    t.send(&["Enter"]);
    t.start_netview(Duration::from_secs(10));
    t.key("8");
    // The picture once the namespaces are read.
    t.wait_for("the topology", Duration::from_secs(10), |s| {
        s.contains("Topology · all namespaces (") && !s.contains("nothing read yet")
    });
    t.key("e");
    let screen = t.wait_for("the status line", Duration::from_secs(10), |s| {
        s.contains("Topology written to")
    });
    let path = written(dir.path(), "netview-topology-");
    assert!(screen.contains("netview-topology-"), "{screen}");
    assert_eq!(path.extension().unwrap(), "dot");
    let md = std::fs::symlink_metadata(&path).unwrap();
    assert!(md.is_file());
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("digraph netview {"), "{text}");
    assert!(text.contains("label=\"root (root)\""), "{text}");
    t.send(&["q"]);
    t.wait_exit(Duration::from_secs(10));
}

#[test]
fn as_nobody_the_first_screen_names_the_capabilities_and_e_uses_the_state_dir() {
    // A copy nobody may run, without file capabilities.
    let bin_dir = tempfile::Builder::new()
        .prefix("nvt-tui-priv-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin_dir.path().join("netview");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // nobody's state directory.
    let state = tempfile::Builder::new()
        .prefix("nvt-tui-state-")
        .tempdir()
        .unwrap();
    nix::unistd::chown(
        state.path(),
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
    let t = Tmux::new(WIDTH, HEIGHT, &[]);
    t.type_text(&format!(
        "cd / && XDG_STATE_HOME={} setpriv --reuid=65534 --regid=65534 --clear-groups \
         --inh-caps=-all {}",
        state.path().display(),
        bin.display()
    ));
    t.send(&["Enter"]);
    let screen = t.wait_for("the privileges screen", Duration::from_secs(10), |s| {
        s.contains("Any key: continue")
    });
    for text in [
        "CAP_SYS_ADMIN   enter other namespaces",
        "CAP_SYS_PTRACE  see other users' namespaces",
        "CAP_NET_ADMIN   read NAT and filter rules",
        "CAP_NET_RAW     send ICMP/ARP probes",
        "setcap cap_sys_admin,cap_sys_ptrace,cap_net_admin,cap_net_raw+ep",
    ] {
        assert!(screen.contains(text), "{text:?} missing:\n{screen}");
    }
    assert!(screen.contains(&bin.display().to_string()), "{screen}");
    t.key("Space");
    // Root is still named root for nobody, and its links are read.
    t.wait_for("root's links", Duration::from_secs(10), |s| {
        !s.contains("Any key: continue") && s.contains("Links · root (")
    });
    t.key("e");
    t.wait_for("the status line", Duration::from_secs(10), |s| {
        s.contains("Links written to")
    });
    let path = written(&state.path().join("netview"), "netview-links-");
    let md = std::fs::metadata(&path).unwrap();
    assert_eq!(md.uid(), 65534, "written by nobody");
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
    let dir_md = std::fs::metadata(state.path().join("netview")).unwrap();
    assert_eq!(dir_md.permissions().mode() & 0o777, 0o700);
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("Links · root"));
    t.send(&["q"]);
    t.wait_exit(Duration::from_secs(10));
}
