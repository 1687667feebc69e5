//! Privileged: creation is all-or-nothing. A failure injected at every step leaves nothing; a
//! `kill -9` during `lab up` followed by `netview clean` leaves nothing; SIGINT rolls back;
//! look-alike objects netview did not make survive `clean`.

#[path = "lab_common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn snapshot(lab: &TestLab) -> (Vec<String>, Vec<String>, Option<String>, String) {
    let mut ns = lab.netns();
    ns.sort();
    let host = lab.ns("host");
    let mut hl: Vec<String> = links(Some(&host))
        .iter()
        .map(|l| format!("{} {}", l["ifname"], promisc(l)))
        .collect();
    hl.sort();
    let state = std::fs::read_to_string(lab.state_dir().join("state.json")).unwrap_or_default();
    (ns, hl, nft_table(&host), state)
}

#[test]
fn failure_at_every_step_of_up_leaves_nothing() {
    let lab = TestLab::new();
    let mut n = 1;
    loop {
        let o = lab
            .command(&["lab", "up", "--hairpin"])
            .env("NETVIEW_FAIL_AT_STEP", n.to_string())
            .output()
            .unwrap();
        if o.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "step {n}: {err}");
        assert!(err.contains(&format!("step {n} ")), "step {n}: {err}");
        lab.assert_nothing_left();
        n += 1;
        assert!(n < 200, "up never finished");
    }
    assert!(n > 20, "up has many steps ({n})");
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn failure_at_every_step_of_add_leaves_the_lab_as_it_was() {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    // One batch that makes every kind of object: docker0, ip_forward, NAT + DNAT, a none
    // namespace, macvlan children in two modes, promisc and a host shim.
    let batches: [&[&str]; 3] = [
        &[
            "lab",
            "add",
            "b1",
            "--mode",
            "bridge",
            "--publish",
            "8080:80",
        ],
        &["lab", "add", "n1", "--mode", "none"],
        &[
            "lab",
            "add",
            "m1",
            "--mode",
            "macvlan",
            "--macvlan-mode",
            "private",
            "--promisc",
            "--host-shim",
        ],
    ];
    for args in batches {
        let before = snapshot(&lab);
        let mut n = 1;
        loop {
            let o = lab
                .command(args)
                .env("NETVIEW_FAIL_AT_STEP", n.to_string())
                .output()
                .unwrap();
            if o.status.success() {
                break;
            }
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{args:?} step {n}: {err}");
            assert_eq!(snapshot(&lab), before, "{args:?} step {n} left something");
            n += 1;
            assert!(n < 100, "add never finished");
        }
        assert!(n > 1, "{args:?} has steps");
    }
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn kill_9_during_up_then_clean_leaves_nothing() {
    for after_first_ms in [0u64, 40, 120] {
        let lab = TestLab::new();
        let mut child = lab
            .command(&["lab", "up"])
            .env("NETVIEW_STEP_DELAY_MS", "5")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the first namespace, so the kill lands in the middle of the build.
        for _ in 0..500 {
            if !lab.netns().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(after_first_ms));
        let still_running = child.try_wait().unwrap().is_none();
        Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status()
            .unwrap();
        let _ = child.wait();
        assert!(still_running, "lab up finished before the kill");
        assert!(!lab.netns().is_empty(), "killed mid-way");
        lab.ok(&["clean"]);
        lab.assert_nothing_left();
    }
}

#[test]
fn every_stop_signal_during_add_rolls_back() {
    // SIGHUP is what a closed terminal (a dropped ssh session) sends; SIGQUIT is Ctrl-\.
    for sig in ["INT", "TERM", "HUP", "QUIT"] {
        signal_during_add_rolls_back(sig);
    }
}

fn signal_during_add_rolls_back(sig: &str) {
    let lab = TestLab::new();
    lab.ok(&["lab", "up"]);
    let before = snapshot(&lab);
    let child = lab
        .command(&["lab", "add", "b1", "b2", "b3", "--mode", "bridge"])
        .env("NETVIEW_STEP_DELAY_MS", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the containers' namespaces exist, netview is mid-way (and its handler is set).
    for _ in 0..1000 {
        if lab.netns().len() > before.0.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(30));
    Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "SIG{sig}: {err}");
    assert!(err.contains("interrupted"), "SIG{sig}: {err}");
    assert_eq!(snapshot(&lab), before, "SIG{sig}");
    lab.ok(&["lab", "down"]);
    lab.assert_nothing_left();
}

#[test]
fn look_alikes_survive_clean() {
    let mut lab = TestLab::new();
    // Someone else's namespaces with our prefix: untagged, and one tagged by another lab.
    let foo = lab.ns("foo");
    let other = lab.ns("other");
    for n in [&foo, &other] {
        assert!(Command::new("ip")
            .args(["netns", "add", n])
            .status()
            .unwrap()
            .success());
        lab.own_netns.push(n.clone());
    }
    Command::new("ip")
        .args([
            "-n",
            &other,
            "link",
            "set",
            "lo",
            "alias",
            "netview:nv-someone-else-",
        ])
        .status()
        .unwrap();
    lab.ok(&["lab", "up"]);
    lab.ok(&["lab", "add", "c1", "--mode", "none"]);
    let dry = lab.ok(&["clean", "--dry-run"]);
    assert!(dry.contains(&lab.ns("c1")), "{dry}");
    assert!(!dry.contains(&foo) && !dry.contains(&other), "{dry}");
    lab.ok(&["clean"]);
    let mut left = lab.netns();
    left.sort();
    let mut want = vec![foo.clone(), other.clone()];
    want.sort();
    assert_eq!(left, want);
    assert!(!lab.state_dir().exists());
    // And `clean` with nothing of ours left is a no-op that still spares them.
    assert!(lab.ok(&["clean"]).contains("nothing to clean"));
    assert_eq!(lab.netns().len(), 2);
}
