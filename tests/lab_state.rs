//! Privileged: the state directory trusts nothing. The commands as tests: planted
//! symlinks are refused or ignored (never written through), modes ignore the umask, tampered
//! names and unknown versions are refused with `netview clean` as the way out, a namespace
//! deleted and re-created by someone else is left alone, `clean --dry-run` changes nothing, no
//! lock race with a concurrent `clean`, and after `kill -9` during `lab add` the next `lab add`
//! recovers.

#[path = "lab_common/mod.rs"]
mod common;

use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn state(lab: &TestLab) -> String {
    std::fs::read_to_string(lab.state_dir().join("state.json")).unwrap_or_default()
}

/// Rewrite the state file as a tamperer would.
fn tamper(lab: &TestLab, f: impl FnOnce(&mut serde_json::Value)) {
    let path = lab.state_dir().join("state.json");
    let mut v: serde_json::Value = serde_json::from_str(&state(lab)).unwrap();
    f(&mut v);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn planted_tmp_symlinks_are_not_written_through() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    let victim = lab.dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let dir = lab.state_dir();
    // ln -s /some/file $NETVIEW_STATE_DIR/.state.json.tmp (and pending.tmp)
    symlink(&victim, dir.join(".state.json.tmp")).unwrap();
    symlink(&victim, dir.join("pending.tmp")).unwrap();
    lab.ok(&["lab", "add", "t3", "--mode", "none"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let md = std::fs::symlink_metadata(dir.join("state.json")).unwrap();
    assert!(md.file_type().is_file(), "state.json is still a file");
    assert!(state(&lab).contains("\"t3\""));
    lab.ok(&["lab", "down"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // The planted links are not netview's: left, so the directory stays with them.
    for f in [".state.json.tmp", "pending.tmp"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    std::fs::remove_dir(&dir).unwrap();
    lab.assert_nothing_left();
}

#[test]
fn a_symlinked_lock_or_directory_is_refused() {
    let lab = TestLab::new();
    let dir = lab.state_dir();
    std::fs::create_dir(&dir).unwrap();
    let victim = lab.dir.path().join("victim");
    // A dangling `lock` symlink: following it would create its target.
    symlink(&victim, dir.join("lock")).unwrap();
    lab.fails(&["lab", "up"], 1, "lock is a symlink");
    lab.fails(&["clean"], 1, "lock is a symlink");
    assert!(!victim.exists(), "the lock's target was created");
    assert_eq!(lab.netns(), Vec::<String>::new());
    std::fs::remove_file(dir.join("lock")).unwrap();
    std::fs::remove_dir(&dir).unwrap();
    // The directory itself as a symlink.
    let real = lab.dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    symlink(&real, &dir).unwrap();
    lab.fails(&["lab", "up"], 1, "is a symlink");
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    std::fs::remove_file(&dir).unwrap();
    lab.assert_nothing_left();
}

#[test]
fn files_of_another_user_are_refused() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    let path = lab.state_dir().join("state.json");
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let before = state(&lab);
    let ns = lab.netns();
    lab.fails(
        &["lab", "add", "c1", "--mode", "none"],
        1,
        "owned by uid 65534",
    );
    lab.fails(&["lab", "ls"], 1, "owned by uid 65534");
    assert_eq!(state(&lab), before);
    assert_eq!(lab.netns(), ns);
    std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn modes_ignore_the_umask() {
    let lab = TestLab::new();
    // Children inherit it; netview must not.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let up = lab.run(&["lab", "up"]);
    nix::sys::stat::umask(old);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert_eq!(mode(&lab.state_dir()), 0o700);
    assert_eq!(mode(&lab.state_dir().join("state.json")), 0o600);
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn names_read_back_are_validated() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "c1", "--mode", "none"]);
    // `netns` of c1 made to point at a file outside /run/netns.
    let target = format!("/tmp/nv-state-test-{}", std::process::id());
    std::fs::write(&target, "keep").unwrap();
    let rel = format!("../..{target}");
    tamper(&lab, |v| {
        v["containers"][0]["netns"] = rel.clone().into();
        v["containers"][0]["objects"][0]["name"] = rel.clone().into();
    });
    let before = state(&lab);
    let ns = lab.netns();
    for args in [
        &["lab", "rm", "c1"][..],
        &["lab", "down"],
        &["lab", "add", "c2", "--mode", "none"],
        &["lab", "ls"],
    ] {
        lab.fails(args, 1, "run `netview clean` to remove the lab");
        assert_eq!(state(&lab), before, "{args:?} changed the state");
        assert_eq!(lab.netns(), ns, "{args:?} changed the namespaces");
    }
    assert!(Path::new(&target).exists(), "the file outside was kept");
    // The way out: clean removes what carries the tag, and says the state was not used.
    let o = lab.run(&["clean"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("only what carries netview's tag"), "{err}");
    assert!(Path::new(&target).exists(), "clean kept the file outside");
    std::fs::remove_file(&target).unwrap();
    lab.assert_nothing_left();
}

#[test]
fn unknown_versions_and_worn_out_generations_are_refused() {
    for (edit, needle) in [
        (serde_json::json!({"version": 99}), "version 99"),
        (
            serde_json::json!({"generation": u64::MAX}),
            "generation cannot grow",
        ),
    ] {
        let lab = TestLab::new();
        lab.ok(&["lab", "up"]);
        tamper(&lab, |v| {
            for (k, x) in edit.as_object().unwrap() {
                v[k] = x.clone();
            }
        });
        let before = state(&lab);
        lab.fails(&["lab", "add", "c1", "--mode", "none"], 1, needle);
        lab.fails(&["lab", "down"], 1, "netview clean");
        assert_eq!(state(&lab), before);
        let _ = lab.run(&["clean"]);
        lab.assert_nothing_left();
    }
}

#[test]
fn a_recreated_namespace_is_left_alone() {
    let mut lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    // lab add f1 --mode none; ip netns del nv-f1; ip netns add nv-f1; netview lab rm f1
    lab.ok(&["lab", "add", "f1", "--mode", "none"]);
    let f1 = lab.ns("f1");
    lab.own_netns.push(f1.clone());
    for args in [["netns", "del", &f1], ["netns", "add", &f1]] {
        assert!(Command::new("ip").args(args).status().unwrap().success());
    }
    lab.fails(
        &["lab", "rm", "f1"],
        1,
        &format!("namespace {f1} is no longer the one netview made; left it"),
    );
    assert!(lab.netns().contains(&f1));
    assert!(!state(&lab).contains("\"f1\""), "the lab forgot f1");
    lab.ok(&["lab", "down"]);
    assert_eq!(
        lab.netns(),
        vec![f1.clone()],
        "only the foreign one is left"
    );
    assert!(!lab.state_dir().exists());
}

#[test]
fn a_dry_run_on_an_empty_directory_changes_nothing() {
    let lab = TestLab::new();
    std::fs::create_dir(lab.state_dir()).unwrap();
    assert!(lab.ok(&["clean", "--dry-run"]).contains("nothing to clean"));
    assert!(lab.state_dir().is_dir(), "the directory was deleted");
    assert_eq!(std::fs::read_dir(lab.state_dir()).unwrap().count(), 0);
}

#[test]
fn no_lock_race_between_clean_and_other_commands() {
    // `clean` removes the directory while the others take the lock (with no lab: each
    // command makes the directory, locks, and removes it again).
    let lab = TestLab::new();
    // 1 round in about 50 once left an empty directory behind (a waiter made a new lock while
    // the owner removed the old one); 150 rounds make that likely to show.
    for round in 0..150 {
        let kids: Vec<_> = [
            &["clean"][..],
            &["lab", "rm", "x"],
            &["clean"],
            &["lab", "down"],
        ]
        .iter()
        .map(|args| {
            lab.command(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
        for k in kids {
            let o = k.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            // clean: 0; rm/down with no lab: 2 ("no lab is up"). Never 1.
            assert_ne!(o.status.code(), Some(1), "round {round}: {err}");
            assert!(!err.contains("cannot"), "round {round}: {err}");
        }
    }
    lab.assert_nothing_left();
}

#[test]
fn after_kill_9_during_add_the_next_add_recovers() {
    for after_ms in [0u64, 150, 450] {
        let lab = TestLab::new();
        lab.ok(&["lab", "up"]);
        let before = lab.netns();
        let mut child = lab
            .command(&["lab", "add", "c1", "--mode", "bridge"])
            .env("NETVIEW_STEP_DELAY_MS", "100")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let c1 = lab.ns("c1");
        for _ in 0..1000 {
            if lab.netns().contains(&c1) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(after_ms));
        let still_running = child.try_wait().unwrap().is_none();
        Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status()
            .unwrap();
        let _ = child.wait();
        assert!(still_running, "lab add finished before the kill");
        assert!(lab.netns().contains(&c1), "killed after making {c1}");
        // The next command undoes the half-made add and goes on.
        let o = lab.run(&["lab", "add", "c1", "--mode", "bridge"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "after {after_ms} ms: {err}");
        assert!(
            err.contains("undid what an interrupted command left"),
            "{err}"
        );
        assert!(err.contains(&format!("delete namespace {c1}")), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!lab.state_dir().join("pending.json").exists());
        let mut want = before.clone();
        want.push(c1.clone());
        want.sort();
        let mut now = lab.netns();
        now.sort();
        assert_eq!(now, want);
        assert!(ping(&c1, "172.17.0.1"), "c1 reaches docker0");
        lab.ok(&["lab", "down"]);
        lab.assert_nothing_left();
    }
}
