//! The lab: a sandbox world and test containers in Docker's network modes.
//!
//! Public API (the CLI, the TUI and probes use these):
//! - [`up`], [`add_many`], [`remove_many`], [`down`], [`clean`]: change the lab (root).
//! - [`Lab::load`] and [`endpoints`]: read it (the TUI watches [`state_path`], or compares
//!   [`Lab::generation`]).
//!
//! Every change is all-or-nothing: each kernel step records its undo in a [`journal::Journal`]
//! and a failure (or SIGINT/SIGTERM, see [`journal::request_interrupt`]) rolls back everything
//! done so far. [`Engine`] runs the same logic over any [`ops::Ops`], so it is unit-tested with
//! `fake::FakeOps`.

pub mod driver;
pub mod endpoint;
mod error;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod firewall;
pub mod journal;
pub mod netlink;
pub mod ops;
pub mod spec;
pub mod state;
pub mod world;

use std::path::PathBuf;

pub use endpoint::{endpoints, Endpoint, Role};
pub use error::{KernelError, LabError};
pub use journal::{clear_interrupt, request_interrupt, Undo, FAIL_AT_STEP_ENV};
pub use ops::Ns;
pub use spec::{ContainerSpec, IpvlanMode, LabOptions, LabSpec, MacvlanMode, NetworkMode, Publish};
pub use state::{
    is_netview_tag, state_dir, state_path, ContainerState, LabState, STATE_DIR_ENV, TAG_PREFIX,
};

use driver::{driver_for, undo_all};
use journal::{Counted, Journal, Scope};
use ops::Ops;
use state::StateDir;

/// Environment variable overriding the namespace prefix (tests: `nv-t<pid>-`).
pub const PREFIX_ENV: &str = "NETVIEW_PREFIX";
/// The default namespace prefix.
pub const DEFAULT_PREFIX: &str = "nv-";

/// The namespace prefix in use (`NETVIEW_PREFIX` or `nv-`).
pub fn prefix() -> String {
    std::env::var(PREFIX_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PREFIX.to_string())
}

fn check_prefix(p: &str) -> Result<(), LabError> {
    state::check_prefix(p).map_err(|_| LabError::Invalid(format!("bad {PREFIX_ENV} {p:?}")))
}

/// The lab as a reader sees it.
#[derive(Debug, Clone)]
pub struct Lab {
    pub state: LabState,
}

impl Lab {
    /// Read the current lab, None when no lab is up. Takes no lock (writes are atomic).
    pub fn load() -> Result<Option<Lab>, LabError> {
        Ok(state::read_state(&state_path())?.map(|state| Lab { state }))
    }

    /// Every endpoint (world nodes and containers).
    pub fn endpoints(&self) -> Vec<Endpoint> {
        endpoints(&self.state)
    }

    /// Bumped on every change.
    pub fn generation(&self) -> u64 {
        self.state.generation
    }
}

fn ensure_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

/// What the last commands of this process undid of an interrupted one (see
/// [`take_recovered`]).
static RECOVERED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// What the lab commands run so far undid of a creation that was interrupted (`kill -9`)
/// before they could go on, once (the CLI prints it).
pub fn take_recovered() -> Vec<String> {
    RECOVERED
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default()
}

fn real_engine<T>(f: impl FnOnce(&mut Engine) -> Result<T, LabError>) -> Result<T, LabError> {
    ensure_root()?;
    let mut ops = netlink::NetlinkOps::new();
    let mut e = Engine::new(&mut ops, state_dir(), prefix());
    e.fail_at = Counted::fail_at_from_env();
    let r = f(&mut e);
    if let Ok(mut v) = RECOVERED.lock() {
        v.append(&mut e.recovered);
    }
    r
}

/// Build the world (`netview lab up`).
pub fn up(spec: &LabSpec) -> Result<LabState, LabError> {
    real_engine(|e| e.up(spec.clone()))
}

/// Add several containers in one transaction (all or none).
pub fn add_many(cs: &[ContainerSpec]) -> Result<Vec<ContainerState>, LabError> {
    real_engine(|e| e.add(cs))
}

/// Remove several containers.
pub fn remove_many(names: &[String]) -> Result<(), LabError> {
    real_engine(|e| e.remove(names))
}

/// Remove everything (`netview lab down`).
pub fn down() -> Result<(), LabError> {
    real_engine(|e| e.down())
}

/// Remove every leftover netview made (`netview clean`); returns what was (or, with
/// `dry_run`, would be) removed.
pub fn clean(dry_run: bool) -> Result<Vec<String>, LabError> {
    real_engine(|e| e.clean(dry_run))
}

/// The lab logic over any kernel.
pub struct Engine<'a> {
    ops: &'a mut dyn Ops,
    dir: PathBuf,
    prefix: String,
    /// Fail the Nth kernel step (test hook).
    pub fail_at: Option<usize>,
    /// Panic at the Nth kernel step (test hook).
    pub panic_at: Option<usize>,
    /// What this engine undid of an interrupted creation before going on.
    pub recovered: Vec<String>,
}

/// What replaying `pending.json` did (or, in a dry run, would do).
#[derive(Debug, Default)]
struct Replay {
    done: Vec<String>,
    errors: Vec<LabError>,
}

/// Undo everything the journal recorded, newest first, and return the failure joined with any
/// errors the rollback met (the failure keeps its kind, so input errors still exit 2).
fn rollback(ops: &mut dyn Ops, state: &LabState, j: &Journal, cause: LabError) -> LabError {
    cause.with_rollback(undo_all(ops, state, &j.undos()))
}

impl<'a> Engine<'a> {
    pub fn new(ops: &'a mut dyn Ops, dir: PathBuf, prefix: String) -> Self {
        Engine {
            ops,
            dir,
            prefix,
            fail_at: None,
            panic_at: None,
            recovered: Vec::new(),
        }
    }

    /// Undo what a creation interrupted by a crash left (`pending.json`): the steps it
    /// recorded, newest first, and namespaces it was about to record that carry our tag (or
    /// are empty unbound files). Nothing the state records is touched. With `force` (an
    /// unusable state) the record is replayed even if it may have been committed.
    fn replay_pending(
        &mut self,
        sd: &StateDir,
        st: Option<&LabState>,
        force: bool,
        dry_run: bool,
    ) -> Result<Replay, LabError> {
        let lab = st.map(|s| s.prefix.as_str());
        let Some((pending, prefix)) = sd.load_pending(lab, &self.prefix)? else {
            return Ok(Replay::default());
        };
        let prefix = prefix.as_str();
        let mut out = Replay::default();
        // A record without a prefix is an older netview's (own-namespace undos and intended
        // namespaces only): always replayed, as its `clean` did.
        let force = force || pending.prefix.is_none();
        if !force && pending.generation != st.map(|s| s.generation) {
            // The state was written after the record: the creation was committed.
            if !dry_run {
                sd.remove_pending()?;
            }
            return Ok(out);
        }
        let base = st
            .cloned()
            .unwrap_or_else(|| LabState::new(prefix, LabSpec::default()));
        let recorded: Vec<String> = st
            .map(|s| s.recorded_netns().map(|(n, _)| n.to_string()).collect())
            .unwrap_or_default();
        let deleted: Vec<&str> = pending
            .undo
            .iter()
            .filter_map(|u| match u {
                Undo::DeleteNetns { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let going: Vec<&str> = deleted
            .iter()
            .copied()
            .chain(pending.netns.iter().map(String::as_str))
            .filter(|n| !recorded.iter().any(|r| r == n))
            .collect();
        // Steps inside a namespace that goes away anyway need not be undone one by one.
        let plan: Vec<Undo> = pending
            .undo
            .iter()
            .filter(|u| match u {
                Undo::DeleteNetns { name, .. } => !recorded.contains(name),
                other => other
                    .ns()
                    .and_then(Ns::name)
                    .is_none_or(|n| !going.contains(&n)),
            })
            .cloned()
            .collect();
        for u in plan.iter().rev() {
            out.done.push(u.describe());
            if !dry_run {
                if let Err(e) = driver::undo_one(self.ops, &base, u) {
                    out.errors.push(e);
                }
            }
        }
        let existing = self.ops.list_netns()?;
        for n in &pending.netns {
            if !existing.contains(n) || recorded.contains(n) || deleted.contains(&n.as_str()) {
                continue;
            }
            let tag = self.ops.netns_tag(n);
            let what = if tag.is_none() && self.ops.netns_unbound(n) {
                format!("delete unbound namespace file {n}")
            } else if tag.as_deref() == Some(base.tag.as_str()) {
                format!("delete namespace {n}")
            } else {
                // Someone else's (the creation failed on it): never ours to delete.
                continue;
            };
            out.done.push(what);
            if !dry_run {
                if let Err(e) = self.ops.delete_netns(n) {
                    out.errors.push(e);
                }
            }
        }
        if !dry_run {
            sd.remove_pending()?;
        }
        Ok(out)
    }

    /// Before a command changes the lab: undo what an interrupted one left, or refuse.
    fn recover(&mut self, sd: &StateDir, st: Option<&LabState>) -> Result<(), LabError> {
        let r = self.replay_pending(sd, st, false, false)?;
        self.recovered.extend(r.done);
        if r.errors.is_empty() {
            Ok(())
        } else {
            Err(LabError::Recovery(r.errors))
        }
    }

    fn load_lab(sd: &StateDir) -> Result<LabState, LabError> {
        sd.load()?
            .ok_or_else(|| LabError::Invalid("no lab is up; run `netview lab up` first".into()))
    }

    /// Build the world.
    pub fn up(&mut self, spec: LabSpec) -> Result<LabState, LabError> {
        check_prefix(&self.prefix)?;
        spec.validate()?;
        let sd = StateDir::lock(&self.dir)?;
        let loaded = sd.load()?;
        self.recover(&sd, loaded.as_ref())?;
        if loaded.is_some() {
            return Err(LabError::Invalid(
                "a lab is already up; run `netview lab down` first".into(),
            ));
        }
        let mut st = LabState::new(&self.prefix, spec);
        world::validate(self.ops, &st)?;
        let mut counted = Counted::new(self.ops, self.fail_at).with_panic_at(self.panic_at);
        let mut j = Journal::persisting(sd.dir().to_path_buf(), &st.prefix, None);
        // A panic half-way is rolled back like any failed step: the journal knows what exists.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            world::setup(&mut counted, &mut st, &mut j)
        }))
        .unwrap_or(Err(LabError::Panicked("building the world")));
        let result = match r.and_then(|()| {
            st.objects = j.undos();
            sd.save(&mut st)
        }) {
            Ok(()) => Ok(st),
            // The directory goes when `sd` is dropped (no state, and the record is finished
            // below).
            Err(e) => Err(rollback(counted.inner(), &st, &j, e)),
        };
        // Only now, with the state written or everything undone, is the crash record moot.
        j.finish();
        result
    }

    /// Add containers, all or none.
    pub fn add(&mut self, specs: &[ContainerSpec]) -> Result<Vec<ContainerState>, LabError> {
        let sd = StateDir::lock(&self.dir)?;
        let mut st = Self::load_lab(&sd)?;
        self.recover(&sd, Some(&st))?;
        for (i, c) in specs.iter().enumerate() {
            if specs[..i].iter().any(|o| o.name == c.name) {
                return Err(LabError::Invalid(format!(
                    "container {:?} is named twice",
                    c.name
                )));
            }
        }
        let snapshot = st.clone();
        let mut counted = Counted::new(self.ops, self.fail_at).with_panic_at(self.panic_at);
        let mut j = Journal::persisting(sd.dir().to_path_buf(), &st.prefix, Some(st.generation));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::add_in(&mut counted, &sd, &mut st, &snapshot, specs, &mut j)
        }));
        let r = match r {
            Ok(r) => r,
            // A panic half-way: undo what the journal says was made, as for a failed step.
            Err(_) => Err(rollback(
                counted.inner(),
                &snapshot,
                &j,
                LabError::Panicked("adding containers"),
            )),
        };
        j.finish();
        r
    }

    fn add_in(
        counted: &mut Counted<'_>,
        sd: &StateDir,
        st: &mut LabState,
        snapshot: &LabState,
        specs: &[ContainerSpec],
        j: &mut Journal,
    ) -> Result<Vec<ContainerState>, LabError> {
        // Plan the whole batch first (every check, every name and address, each member
        // against the lab and the members before it), so bad input creates nothing; then
        // make all the namespaces at once, which is most of the kernel's work, and build
        // the plan without checking it again.
        let plans = driver::plan_batch(counted, st, specs)?;
        let names: Vec<String> = specs
            .iter()
            .filter(|c| c.mode != NetworkMode::Host)
            .map(|c| st.ns_name(&c.name))
            .collect();
        j.intend_netns_many(&names);
        let (made, err) = counted.create_netns_many(&names, &st.tag);
        // Attributed to no container: each container records its own deletion below.
        let undos: Vec<Undo> = made
            .iter()
            .map(|name| Undo::DeleteNetns {
                name: name.clone(),
                id: counted.netns_id(name),
            })
            .collect();
        j.push_many(Scope::Own, undos);
        st.premade_netns = made;
        if let Some(e) = err {
            return Err(rollback(counted.inner(), snapshot, j, e));
        }
        let mut added = Vec::new();
        let mut nat_dirty: Vec<String> = Vec::new();
        for p in &plans {
            let c = p.spec();
            let start = j.entries.len();
            let r = driver_for(c.mode).setup(counted, st, p, j);
            match r {
                Ok(built) => {
                    let mut container = built.container.unwrap_or_else(|| p.container.clone());
                    for (scope, u) in &j.entries[start..] {
                        match scope {
                            Scope::Own => container.objects.push(u.clone()),
                            Scope::Shared => st.objects.push(u.clone()),
                        }
                    }
                    st.docker_ready |= built.docker_ready;
                    st.shims.extend(built.shim);
                    if c.mode == NetworkMode::Bridge {
                        st.veth_seq += 1;
                    }
                    if built.nat_dirty {
                        nat_dirty.push(container.spec.name.clone());
                    }
                    st.containers.push(container.clone());
                    added.push(container);
                }
                Err(e) => {
                    return Err(rollback(counted.inner(), snapshot, j, e));
                }
            }
        }
        // One NAT rewrite for the whole batch.
        if !nat_dirty.is_empty() {
            let host = st.host_ns.clone();
            let had_table = st
                .objects
                .iter()
                .any(|u| matches!(u, Undo::NftDelete { ns } if *ns == host));
            let r = counted.nft_table(&host, firewall::nat_rules(st).as_deref());
            if !had_table {
                j.shared(Undo::NftDelete { ns: host.clone() });
                st.objects.push(Undo::NftDelete { ns: host.clone() });
            }
            j.own(Undo::NftSync { ns: host.clone() });
            for c in st.containers.iter_mut() {
                if nat_dirty.contains(&c.spec.name) {
                    c.objects.push(Undo::NftSync { ns: host.clone() });
                }
            }
            if let Err(e) = r {
                return Err(rollback(counted.inner(), snapshot, j, e));
            }
        }
        st.premade_netns.clear();
        if let Err(e) = sd.save(st) {
            return Err(rollback(counted.inner(), snapshot, j, e));
        }
        Ok(added)
    }

    /// Remove containers by name (each past errors; all errors reported). A name given twice
    /// is refused like an unknown one, before anything is removed (as `add` refuses it). A
    /// host shim goes with the last container on its parent that asked for one.
    pub fn remove(&mut self, names: &[String]) -> Result<(), LabError> {
        let sd = StateDir::lock(&self.dir)?;
        let mut st = Self::load_lab(&sd)?;
        self.recover(&sd, Some(&st))?;
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(LabError::Invalid(format!("container {n:?} is named twice")));
            }
            if st.container(n).is_none() {
                return Err(LabError::Invalid(format!("no container {n:?} in the lab")));
            }
        }
        // Every namespace about to go is checked (tag) before it is deleted: read them all
        // first, together.
        let going: Vec<String> = names
            .iter()
            .filter_map(|n| st.container(n))
            .flat_map(driver::teardown_plan)
            .filter_map(|u| match u {
                Undo::DeleteNetns { name, .. } => Some(name),
                _ => None,
            })
            .collect();
        self.ops.read_tags_ahead(&going);
        let mut errors = Vec::new();
        let mut resync: Vec<Undo> = Vec::new();
        for n in names {
            let Some(idx) = st.containers.iter().position(|c| &c.spec.name == n) else {
                continue;
            };
            let c = st.containers.remove(idx);
            errors.extend(driver_for(c.spec.mode).teardown(self.ops, &st, &c));
            for u in &c.objects {
                if let Undo::NftSync { .. } = u {
                    if !resync.contains(u) {
                        resync.push(u.clone());
                    }
                }
            }
        }
        for u in &resync {
            if let Err(e) = driver::undo_one(self.ops, &st, u) {
                errors.push(e);
            }
        }
        errors.extend(driver::macvlan::remove_unneeded_shims(self.ops, &mut st));
        sd.save(&mut st)?;
        LabError::all(errors)
    }

    /// Remove everything of the lab, then sweep for tagged leftovers.
    pub fn down(&mut self) -> Result<(), LabError> {
        {
            let sd = StateDir::lock(&self.dir)?;
            Self::load_lab(&sd)?;
        }
        self.clean(false).map(|_| ())
    }

    /// Remove every leftover: what the state file records, then namespaces and links carrying
    /// our tag. Never anything else, even with a similar name.
    pub fn clean(&mut self, dry_run: bool) -> Result<Vec<String>, LabError> {
        let sd = StateDir::lock(&self.dir)?;
        let loaded = sd.load();
        let mut st = match &loaded {
            Ok(Some(s)) => Some(s.clone()),
            _ => None,
        };
        let prefix = st
            .as_ref()
            .map(|s| s.prefix.clone())
            .unwrap_or_else(|| self.prefix.clone());
        let tag = state::tag_for(&prefix);
        let mut done = Vec::new();
        let mut errors: Vec<LabError> = Vec::new();
        // A creation killed before it could write the state. An unusable record is left to
        // the tag sweep below.
        match self.replay_pending(&sd, st.as_ref(), loaded.is_err(), dry_run) {
            Ok(r) => {
                done.extend(r.done);
                errors.extend(r.errors);
            }
            Err(e) => errors.push(e),
        }
        // Each of the lab's namespaces is checked (tag) before it is deleted, and the sweep
        // below checks the rest: read them all first, together.
        let ours: Vec<String> = self
            .ops
            .list_netns()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        self.ops.read_tags_ahead(&ours);
        let recorded_ids: Vec<(String, Option<ops::NetnsId>)> = st
            .iter()
            .flat_map(|s| s.recorded_netns())
            .map(|(name, id)| (name.to_string(), id))
            .collect();
        if let Some(st) = st.as_mut() {
            while let Some(c) = st.containers.pop() {
                for u in driver::teardown_plan(&c).iter().rev() {
                    done.push(u.describe());
                }
                if !dry_run {
                    errors.extend(driver_for(c.spec.mode).teardown(self.ops, st, &c));
                }
            }
            for u in st.objects.iter().rev() {
                done.push(u.describe());
            }
            if !dry_run {
                let objs = st.objects.clone();
                errors.extend(driver::undo_recorded(self.ops, st, &objs));
            }
        }
        // Leftovers the state does not know (a crash before it was written): our tag only,
        // and never a name the state records for another namespace (left above).
        for n in self.ops.list_netns()? {
            if !n.starts_with(&prefix) || self.ops.netns_tag(&n).as_deref() != Some(tag.as_str()) {
                continue;
            }
            let replaced = recorded_ids
                .iter()
                .any(|(name, id)| *name == n && id.is_some() && *id != self.ops.netns_id(&n));
            if replaced {
                continue;
            }
            let what = format!("delete namespace {n}");
            if !done.contains(&what) {
                done.push(what);
            }
            if !dry_run {
                if let Err(e) = self.ops.delete_netns(&n) {
                    errors.push(e);
                }
            }
        }
        for l in self.ops.tagged_links(&Ns::Current, &tag)? {
            let what = format!("delete link {l} in {}", Ns::Current);
            if !done.contains(&what) {
                done.push(what);
            }
            if !dry_run {
                if let Err(e) = self.ops.delete_link(&Ns::Current, &l) {
                    if !e.is_already_gone() {
                        errors.push(e);
                    }
                }
            }
        }
        if std::fs::symlink_metadata(sd.path()).is_ok() {
            done.push(format!("delete state file {}", sd.path().display()));
        }
        if !dry_run {
            if let Err(e) = sd.remove() {
                errors.push(e);
            }
        }
        if let Err(e) = loaded {
            errors.push(LabError::State(format!(
                "the state was not used ({e}); only what carries netview's tag was removed"
            )));
        }
        LabError::all(errors).map(|()| done)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_state;
