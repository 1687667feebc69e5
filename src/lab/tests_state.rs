//! Tests of the state directory's guarantees over the fake kernel (no root): nothing planted
//! in it is followed, modes ignore the umask, a tampered state is refused, a re-created
//! namespace is left alone, no lock race with a concurrent clean, a dry run changes nothing,
//! and the next command recovers from a `kill -9` at any step.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::fake::FakeOps;
use super::journal::{Gate, Gated, Pending, Undo};
use super::ops::{Ns, Ops};
use super::spec::{ContainerSpec, LabSpec, MacvlanMode, NetworkMode};
use super::state::{StateDir, PENDING_FILE, STATE_FILE};
use super::{Engine, LabError};

const P: &str = "nv-s-";

fn dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("state");
    (t, d)
}

fn c(name: &str, mode: NetworkMode) -> ContainerSpec {
    ContainerSpec::new(name, mode)
}

/// Containers touching every kind of step (docker0 + ip_forward + NAT, none, macvlan with
/// promisc and a shim).
fn mix() -> Vec<ContainerSpec> {
    let mut b = c("b1", NetworkMode::Bridge);
    b.publish = vec!["8080:80".parse().unwrap()];
    let mut m = c("m1", NetworkMode::Macvlan);
    m.macvlan_mode = MacvlanMode::Bridge;
    m.promisc = true;
    m.host_shim = true;
    vec![b, c("n1", NetworkMode::None), m]
}

/// A lab with the world up and one none container, state in `d`.
fn lab_with(ops: &mut FakeOps, d: &Path, names: &[&str]) {
    let mut e = Engine::new(ops, d.to_path_buf(), P.into());
    e.up(LabSpec::default()).unwrap();
    let specs: Vec<ContainerSpec> = names.iter().map(|n| c(n, NetworkMode::None)).collect();
    if !specs.is_empty() {
        e.add(&specs).unwrap();
    }
}

fn state_error(r: Result<impl std::fmt::Debug, LabError>, needle: &str) -> String {
    let e = r.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, LabError::State(_)), "{e:?}");
    assert!(!e.is_usage(), "a refused state exits 1");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert_eq!(msg.lines().count(), 1, "{msg:?}");
    msg
}

/// Everything the fake kernel holds that a change or its undo touches.
fn kernel(ops: &FakeOps) -> String {
    let links: Vec<String> = ops
        .links
        .iter()
        .map(|((ns, n), f)| {
            format!(
                "{ns}/{n} up={} promisc={} alias={:?} addrs={:?}",
                f.up, f.promisc, f.alias, f.addresses
            )
        })
        .collect();
    format!(
        "{:?}\n{links:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        ops.netns, ops.nft, ops.sysctls, ops.routes, ops.masters, ops.hairpin
    )
}

#[test]
fn planted_tmp_symlinks_are_never_written_through() {
    let (t, d) = dir();
    std::fs::create_dir(&d).unwrap();
    let victim = t.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    // The old fixed temporary names.
    symlink(&victim, d.join(".state.json.tmp")).unwrap();
    symlink(&victim, d.join("pending.tmp")).unwrap();
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &["t3"]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let md = std::fs::symlink_metadata(d.join(STATE_FILE)).unwrap();
    assert!(md.file_type().is_file(), "state.json is a regular file");
    // They are not netview's: clean leaves them (and so the directory).
    Engine::new(&mut ops, d.clone(), P.into())
        .clean(false)
        .unwrap();
    assert!(std::fs::symlink_metadata(d.join("pending.tmp")).is_ok());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn files_are_0600_and_the_directory_0700() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &["n1"]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&d), 0o700);
    assert_eq!(mode(&d.join(STATE_FILE)), 0o600);
    // The lock of a held directory, and the crash record as written mid-creation.
    let sd = StateDir::lock(&d).unwrap();
    assert_eq!(mode(&d.join("lock")), 0o600);
    super::state::write_private(&d, PENDING_FILE, b"{}").unwrap();
    assert_eq!(mode(&d.join(PENDING_FILE)), 0o600);
    sd.remove_pending().unwrap();
}

#[test]
fn symlinks_and_foreign_places_are_refused_not_followed() {
    let (t, d) = dir();
    let victim = t.path().join("victim");
    // A dangling lock symlink: following it would create its target.
    std::fs::create_dir(&d).unwrap();
    symlink(&victim, d.join("lock")).unwrap();
    state_error(StateDir::lock(&d).map(|_| ()), "lock is a symlink");
    assert!(!victim.exists(), "the lock's target was created");
    std::fs::remove_file(d.join("lock")).unwrap();
    // state.json and pending.json as symlinks to a real state elsewhere.
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &["n1"]);
    std::fs::rename(d.join(STATE_FILE), &victim).unwrap();
    symlink(&victim, d.join(STATE_FILE)).unwrap();
    let before = kernel(&ops);
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    state_error(e.remove(&["n1".into()]), "state.json is a symlink");
    state_error(
        e.add(&[c("n2", NetworkMode::None)]),
        "state.json is a symlink",
    );
    state_error(e.down(), "state.json is a symlink");
    drop(e);
    assert_eq!(kernel(&ops), before, "nothing changed");
    std::fs::remove_file(d.join(STATE_FILE)).unwrap();
    std::fs::rename(&victim, d.join(STATE_FILE)).unwrap();
    symlink(&victim, d.join(PENDING_FILE)).unwrap();
    std::fs::write(&victim, "{}").unwrap();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    state_error(e.remove(&["n1".into()]), "pending.json is a symlink");
    drop(e);
    assert_eq!(kernel(&ops), before);
    std::fs::remove_file(d.join(PENDING_FILE)).unwrap();
    // The directory itself as a symlink, and one anyone may write to.
    let (t2, d2) = dir();
    symlink(&d, &d2).unwrap();
    state_error(StateDir::lock(&d2).map(|_| ()), "is a symlink");
    let open = t2.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    state_error(
        StateDir::lock(&open).map(|_| ()),
        "is writable by other users",
    );
}

/// Load the state in `d`, change it, write it back as plain JSON (a tamperer's edit).
fn tamper(d: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = d.join(STATE_FILE);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn a_tampered_state_is_refused_with_the_way_out() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "\"../../tmp/x\"",
            Box::new(|v| v["containers"][0]["netns"] = "../../tmp/x".into()),
        ),
        (
            "\"../../tmp/x\"",
            Box::new(|v| v["containers"][0]["objects"][0]["name"] = "../../tmp/x".into()),
        ),
        (
            "does not carry the lab's prefix",
            Box::new(|v| v["objects"][0]["name"] = "someone".into()),
        ),
        (
            "may not contain '/'",
            Box::new(|v| v["spec"]["docker"]["bridge"] = "a/b".into()),
        ),
        ("version 2", Box::new(|v| v["version"] = 2.into())),
        (
            "generation cannot grow",
            Box::new(|v| v["generation"] = u64::MAX.into()),
        ),
        ("tag", Box::new(|v| v["tag"] = "netview:nv-other-".into())),
    ];
    for (needle, f) in cases {
        let (_t, d) = dir();
        let mut ops = FakeOps::new();
        lab_with(&mut ops, &d, &["n1"]);
        tamper(&d, f);
        let file = std::fs::read(d.join(STATE_FILE)).unwrap();
        let before = kernel(&ops);
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        let msg = state_error(e.remove(&["n1".into()]), needle);
        assert!(msg.contains("run `netview clean`"), "{msg}");
        state_error(e.add(&[c("n2", NetworkMode::None)]), needle);
        state_error(e.down(), needle);
        state_error(super::state::read_state(&d.join(STATE_FILE)), needle);
        drop(e);
        assert_eq!(kernel(&ops), before, "{needle}: the kernel changed");
        assert_eq!(std::fs::read(d.join(STATE_FILE)).unwrap(), file, "{needle}");
        // `clean` still works: it removes what carries the tag and reports the state.
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        let err = e.clean(false).unwrap_err().to_string();
        assert!(err.contains("only what carries netview's tag"), "{err}");
        drop(e);
        assert!(ops.netns.is_empty(), "{needle}: {:?}", ops.netns);
        assert!(!d.exists());
    }
}

#[test]
fn a_generation_never_wraps() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &[]);
    tamper(&d, |v| v["generation"] = (u64::MAX - 1).into());
    let before = kernel(&ops);
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    // Loads, but the next write would reach u64::MAX: refused and rolled back.
    state_error(e.add(&[c("n1", NetworkMode::None)]), "would wrap");
    drop(e);
    assert_eq!(kernel(&ops), before);
}

#[test]
fn a_tampered_pending_record_is_refused() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &["n1"]);
    let gen = super::state::read_state(&d.join(STATE_FILE))
        .unwrap()
        .unwrap()
        .generation;
    let p = Pending {
        prefix: Some(P.into()),
        generation: Some(gen),
        undo: vec![Undo::DeleteNetns {
            name: "../../tmp/x".into(),
            id: None,
        }],
        netns: Vec::new(),
    };
    super::state::write_private(&d, PENDING_FILE, &serde_json::to_vec(&p).unwrap()).unwrap();
    let before = kernel(&ops);
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    state_error(
        e.add(&[c("n2", NetworkMode::None)]),
        "pending.json cannot be trusted",
    );
    drop(e);
    assert_eq!(kernel(&ops), before);
}

#[test]
fn a_recreated_namespace_is_left_alone() {
    // Deleted and re-created by someone else: untagged, or even with our tag (a new one).
    for tag in ["", "netview:nv-s-"] {
        let (_t, d) = dir();
        let mut ops = FakeOps::new();
        lab_with(&mut ops, &d, &["f1", "f2"]);
        for n in ["nv-s-f1", "nv-s-f2"] {
            ops.delete_netns(n).unwrap();
            ops.create_netns(n, tag).unwrap();
        }
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        let err = e.remove(&["f1".into()]).unwrap_err().to_string();
        assert!(
            err.contains("namespace nv-s-f1 is no longer the one netview made; left it"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        let st = super::state::read_state(&d.join(STATE_FILE))
            .unwrap()
            .unwrap();
        assert!(st.container("f1").is_none(), "forgotten by the lab");
        // `down` (and so `clean`) leaves the one it still records too.
        let err = e.down().unwrap_err().to_string();
        assert!(err.contains("nv-s-f2 is no longer"), "{err}");
        drop(e);
        assert!(ops.netns.contains_key("nv-s-f2"), "tag {tag:?}");
        // An untagged one is nobody's business; one with our tag that the lab no longer
        // records is a crash leftover to `clean`'s tag sweep.
        assert_eq!(
            ops.netns.contains_key("nv-s-f1"),
            tag.is_empty(),
            "tag {tag:?}"
        );
        assert!(!ops.netns.contains_key("nv-s-host"), "the rest is gone");
    }
}

#[test]
fn no_lock_race_with_a_concurrent_clean() {
    // Removing the lab deletes the lock file and the directory while others wait to lock
    // it; a waiter must never fail for it.
    let (_t, d) = dir();
    let rounds = 1500;
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for k in 0..4 {
            let d = d.clone();
            handles.push(s.spawn(move || -> Result<(), String> {
                for _ in 0..rounds {
                    let sd = StateDir::lock(&d).map_err(|e| e.to_string())?;
                    if k == 0 {
                        let mut st = super::state::LabState::new(P, LabSpec::default());
                        sd.save(&mut st).map_err(|e| e.to_string())?;
                    }
                    if k == 1 {
                        sd.remove().map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join().unwrap().unwrap();
        }
    });
}

#[test]
fn a_dry_run_clean_of_an_empty_directory_changes_nothing() {
    let (_t, d) = dir();
    std::fs::create_dir(&d).unwrap();
    let mut ops = FakeOps::new();
    let done = Engine::new(&mut ops, d.clone(), P.into())
        .clean(true)
        .unwrap();
    assert!(done.is_empty(), "{done:?}");
    assert!(d.is_dir(), "the directory is still there");
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "and empty");
    // A real clean of a directory someone gave us leaves it too (only ours are removed).
    Engine::new(&mut ops, d.clone(), P.into())
        .clean(false)
        .unwrap();
    assert!(d.is_dir());
}

/// A kernel that dies at its Nth change, as under `kill -9`: from then on nothing changes
/// (the rollback of a dead process never runs), and `pending.json` is kept as it was at the
/// moment of death (a dead process never removes it).
struct Death {
    at: usize,
    step: usize,
    pending: PathBuf,
    /// pending.json at death (None: there was none).
    at_death: Option<Option<Vec<u8>>>,
}

type Dies<'a> = Gated<'a, Death>;

fn dies_at<'a>(ops: &'a mut FakeOps, at: usize, dir: &Path) -> Dies<'a> {
    Gated::with_gate(
        ops,
        Death {
            at,
            step: 0,
            pending: dir.join(PENDING_FILE),
            at_death: None,
        },
    )
}

impl Gate for Death {
    fn before(&mut self, _what: &'static str) -> Result<(), LabError> {
        if self.at_death.is_some() {
            return Err(LabError::kernel(
                "a step after the kill",
                super::KernelError::Internal("dead".into()),
            ));
        }
        self.step += 1;
        if self.step == self.at {
            self.at_death = Some(std::fs::read(&self.pending).ok());
            return Err(LabError::kernel(
                "the killed step",
                super::KernelError::Internal("killed".into()),
            ));
        }
        Ok(())
    }
}

impl Death {
    /// Put back what the dead process left on disk; false when it never died.
    fn bury(self) -> bool {
        match self.at_death {
            Some(Some(bytes)) => {
                // A failed `up` removed the directory; a killed one would not have.
                let dir = self.pending.parent().unwrap();
                std::fs::create_dir_all(dir).unwrap();
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
                super::state::write_private(dir, PENDING_FILE, &bytes).unwrap();
                true
            }
            Some(None) => true,
            None => false,
        }
    }
}

#[test]
fn after_a_kill_9_at_any_step_the_next_command_recovers() {
    // `lab add` killed at every step: the next `lab add` of the same containers undoes the
    // half-made change, says so, and succeeds; `down` then leaves nothing.
    let mut killed = 0;
    for n in 1..200 {
        let (_t, d) = dir();
        let mut ops = FakeOps::new();
        lab_with(&mut ops, &d, &[]);
        let mut dies = dies_at(&mut ops, n, &d);
        let r = Engine::new(&mut dies, d.clone(), P.into()).add(&mix());
        if !dies.gate.bury() {
            r.unwrap();
            break;
        }
        killed += 1;
        // What the next command replays, without changing anything in a dry run.
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        let state = std::fs::read(d.join(STATE_FILE)).unwrap();
        e.clean(true).unwrap();
        assert_eq!(std::fs::read(d.join(STATE_FILE)).unwrap(), state);
        let added = e.add(&mix());
        assert!(added.is_ok(), "killed at step {n}: {added:?}");
        if n > 1 {
            assert!(!e.recovered.is_empty(), "step {n}: nothing said");
        }
        e.remove(&["b1".into(), "n1".into(), "m1".into()])
            .unwrap_or_else(|e| panic!("step {n}: {e}"));
        drop(e);
        assert!(!d.join(PENDING_FILE).exists());
        let after = kernel(&ops);
        // Shared objects (docker0, ip_forward, the NAT table, promisc) stay until down.
        assert!(after.contains("nv-s-switch"), "step {n}");
        Engine::new(&mut ops, d.clone(), P.into()).down().unwrap();
        assert_eq!(ops.leftovers(), Vec::<String>::new(), "step {n}");
    }
    assert!(killed > 15, "add has many steps ({killed})");

    // `lab up` killed at every step: the next `lab up` succeeds.
    let mut killed = 0;
    for n in 1..200 {
        let (_t, d) = dir();
        let mut ops = FakeOps::new();
        let mut dies = dies_at(&mut ops, n, &d);
        let r = Engine::new(&mut dies, d.clone(), P.into()).up(LabSpec::default());
        if !dies.gate.bury() {
            r.unwrap();
            break;
        }
        killed += 1;
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        let up = e.up(LabSpec::default());
        assert!(up.is_ok(), "killed at step {n}: {up:?}");
        e.down().unwrap();
        drop(e);
        assert_eq!(ops.leftovers(), Vec::<String>::new(), "step {n}");
    }
    assert!(killed > 15, "up has many steps ({killed})");
}

#[test]
fn the_replay_puts_the_kernel_back_exactly() {
    // Killed at every step of an add into a lab that has a bridge container already (so the
    // NAT table and docker0 exist): replaying leaves the kernel as before the add.
    for n in 1..100 {
        let (_t, d) = dir();
        let mut ops = FakeOps::new();
        lab_with(&mut ops, &d, &[]);
        Engine::new(&mut ops, d.clone(), P.into())
            .add(&[c("b0", NetworkMode::Bridge)])
            .unwrap();
        let before = kernel(&ops);
        let mut dies = dies_at(&mut ops, n, &d);
        let r = Engine::new(&mut dies, d.clone(), P.into()).add(&mix());
        if !dies.gate.bury() {
            r.unwrap();
            break;
        }
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        // `rm` of an unknown name still replays first, then refuses the name.
        assert!(e.remove(&["zz".into()]).unwrap_err().is_usage());
        drop(e);
        assert_eq!(kernel(&ops), before, "killed at step {n}");
    }
}

#[test]
fn a_committed_change_is_not_replayed() {
    // Killed after writing the state but before removing pending.json: the record is stale
    // (the state's generation moved on) and the containers it made are kept.
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &[]);
    let gen = super::state::read_state(&d.join(STATE_FILE))
        .unwrap()
        .unwrap()
        .generation;
    Engine::new(&mut ops, d.clone(), P.into())
        .add(&[c("n1", NetworkMode::None)])
        .unwrap();
    let id = ops.netns_id("nv-s-n1");
    let p = Pending {
        prefix: Some(P.into()),
        generation: Some(gen),
        undo: vec![Undo::DeleteNetns {
            name: "nv-s-n1".into(),
            id,
        }],
        netns: vec!["nv-s-n1".into()],
    };
    super::state::write_private(&d, PENDING_FILE, &serde_json::to_vec(&p).unwrap()).unwrap();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.add(&[c("n2", NetworkMode::None)]).unwrap();
    assert!(e.recovered.is_empty());
    drop(e);
    assert!(ops.netns.contains_key("nv-s-n1"));
    assert!(!d.join(PENDING_FILE).exists());
}

#[test]
fn leftovers_say_what_they_are() {
    // A tagged namespace and docker0 the state does not record (a lost crash record).
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &[]);
    ops.create_netns("nv-s-c1", "netview:nv-s-").unwrap();
    let host = Ns::named("nv-s-host");
    ops.add_bridge(&host, "docker0").unwrap();
    ops.set_alias(&host, "docker0", "netview:nv-s-").unwrap();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    let err = e.add(&[c("c1", NetworkMode::None)]).unwrap_err();
    assert!(
        err.to_string()
            .contains("nv-s-c1 already exists (tagged as this lab's, but not in its state)"),
        "{err}"
    );
    let err = e.add(&[c("b1", NetworkMode::Bridge)]).unwrap_err();
    assert!(
        err.to_string()
            .contains("docker0 already exists in the host (tagged as this lab's"),
        "{err}"
    );
}

#[test]
fn a_recreated_host_link_is_left_alone() {
    // Real mode: docker0 is made in netview's own namespace. Someone deletes it and makes
    // their own docker0: `down` must not delete theirs.
    let (_t, d) = dir();
    let mut ops = FakeOps::new().with_current_link("eth9", |f| {
        f.addresses = vec!["10.9.0.5/24".parse().unwrap()];
    });
    let mut spec = LabSpec::default();
    spec.options.real = true;
    spec.options.parent = Some("eth9".into());
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.up(spec).unwrap();
    e.add(&[c("b1", NetworkMode::Bridge)]).unwrap();
    drop(e);
    ops.delete_link(&Ns::Current, "docker0").unwrap();
    ops.add_bridge(&Ns::Current, "docker0").unwrap();
    let err = Engine::new(&mut ops, d.clone(), P.into())
        .down()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("link docker0 in (current) is no longer the one netview made; left it"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    assert!(ops.links.contains_key(&(Ns::Current, "docker0".into())));
    assert!(!ops.netns.contains_key("nv-s-b1"), "the rest is gone");
}

#[test]
fn states_netview_writes_pass_its_checks() {
    // The UI's fixture (a real lab's state) and a state with every mode.
    crate::ui::fixture::lab_state().validate().unwrap();
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &[]);
    let mut h = mix();
    h.push(c("h1", NetworkMode::Host));
    Engine::new(&mut ops, d.clone(), P.into()).add(&h).unwrap();
    let st = super::state::read_state(&d.join(STATE_FILE))
        .unwrap()
        .unwrap();
    assert_eq!(st.containers.len(), 4);
}

/// Reads `pending.json` before every kernel step and keeps each version it sees.
struct Records {
    pending: PathBuf,
    seen: Vec<Vec<u8>>,
}

impl Gate for Records {
    fn before(&mut self, _what: &'static str) -> Result<(), LabError> {
        if let Ok(bytes) = std::fs::read(&self.pending) {
            if self.seen.last() != Some(&bytes) {
                self.seen.push(bytes);
            }
        }
        Ok(())
    }
}

#[test]
fn a_bridge_batch_writes_its_crash_record_once_not_per_veth() {
    // A host veth goes with its container's namespace, which the record already names: no
    // rewrite (an fsync) per container. docker0 exists already, as in a lab in use.
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &[]);
    Engine::new(&mut ops, d.clone(), P.into())
        .add(&[c("b0", NetworkMode::Bridge)])
        .unwrap();
    let batch: Vec<ContainerSpec> = (1..=4)
        .map(|i| c(&format!("b{i}"), NetworkMode::Bridge))
        .collect();
    let mut records = Gated::with_gate(
        &mut ops,
        Records {
            pending: d.join(PENDING_FILE),
            seen: Vec::new(),
        },
    );
    Engine::new(&mut records, d.clone(), P.into())
        .add(&batch)
        .unwrap();
    let seen = records.gate.seen;
    assert_eq!(seen.len(), 1, "one record for the whole batch");
    let p: Pending = serde_json::from_slice(&seen[0]).unwrap();
    assert_eq!(p.netns.len(), 4, "{p:?}");
    assert!(p.undo.is_empty(), "{p:?}");
    // And the rollback of a failure still deletes every veth exactly (see tests.rs); the
    // replay after a kill at any step is `after_a_kill_9_at_any_step_the_next_command_recovers`.
}

/// Before the ip_forward or promisc change reaches the kernel, what `pending.json` says.
struct BeforeHostChanges {
    pending: PathBuf,
    seen: Vec<(&'static str, Option<Pending>)>,
}

impl Gate for BeforeHostChanges {
    fn before(&mut self, what: &'static str) -> Result<(), LabError> {
        if what == "set sysctl" || what == "set promisc" {
            let p = std::fs::read(&self.pending)
                .ok()
                .map(|b| serde_json::from_slice(&b).unwrap());
            self.seen.push((what, p));
        }
        Ok(())
    }
}

#[test]
fn ip_forward_and_promisc_are_recorded_before_they_change() {
    // A `kill -9` right after the change and before the record would leave them changed.
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    lab_with(&mut ops, &d, &[]);
    let mut g = Gated::with_gate(
        &mut ops,
        BeforeHostChanges {
            pending: d.join(PENDING_FILE),
            seen: Vec::new(),
        },
    );
    Engine::new(&mut g, d.clone(), P.into())
        .add(&mix())
        .unwrap();
    let seen = g.gate.seen;
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (what, p) in seen {
        let p = p.unwrap_or_else(|| panic!("{what}: no record"));
        let recorded = p.undo.iter().any(|u| match what {
            "set sysctl" => matches!(u, Undo::Sysctl { .. }),
            _ => matches!(u, Undo::Promisc { .. }),
        });
        assert!(recorded, "{what} before its undo was recorded: {p:?}");
    }
}
