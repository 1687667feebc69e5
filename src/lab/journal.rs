//! The undo journal (every step records how to undo it, so a failure rolls back everything
//! done so far) and the step counter behind the `NETVIEW_FAIL_AT_STEP` test hook and the
//! SIGINT/SIGTERM check.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::ops::{LinkFacts, NetnsId, Ns, Ops};
use super::spec::{IpvlanMode, MacvlanMode};
use super::{KernelError, LabError};

/// Environment variable: make the Nth kernel step of this process fail (tests prove that
/// every N leaves nothing behind).
pub const FAIL_AT_STEP_ENV: &str = "NETVIEW_FAIL_AT_STEP";
/// Environment variable: sleep this many milliseconds before each kernel step (tests use it
/// to deliver `kill -9` or SIGINT in the middle of a creation).
pub const STEP_DELAY_ENV: &str = "NETVIEW_STEP_DELAY_MS";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ask any creation in progress to stop at its next step and roll back (signal handlers).
pub fn request_interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Forget an earlier interrupt request. The flag is process-wide and stays set, so a process
/// that goes on after a cancelled creation (the TUI) clears it before starting the next one;
/// otherwise every later creation would stop at its first step.
pub fn clear_interrupt() {
    INTERRUPTED.store(false, Ordering::SeqCst);
}

/// Whether an interrupt was requested.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// How to undo one step. Stored in the state file, so `lab rm`, `lab down` and `clean` can
/// undo what an earlier process did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum Undo {
    /// Delete a namespace we created (and with it everything inside). `id` is the namespace
    /// as created (absent in states written before it was recorded): a name bound to another
    /// namespace by now is left alone.
    DeleteNetns {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<NetnsId>,
    },
    /// Delete a link we created in a namespace that outlives this object.
    DeleteLink { ns: Ns, name: String },
    /// Put promiscuous mode back as it was.
    Promisc { ns: Ns, link: String, restore: bool },
    /// Put hairpin back as it was.
    Hairpin { ns: Ns, port: String, restore: bool },
    /// Put a sysctl back as it was.
    Sysctl {
        ns: Ns,
        key: String,
        restore: String,
    },
    /// Rewrite the NAT table from the lab's remaining containers.
    NftSync { ns: Ns },
    /// Delete the `ip netview` table.
    NftDelete { ns: Ns },
}

impl Undo {
    /// One line for `clean --dry-run` and error reports.
    pub fn describe(&self) -> String {
        match self {
            Undo::DeleteNetns { name, .. } => format!("delete namespace {name}"),
            Undo::DeleteLink { ns, name } => format!("delete link {name} in {ns}"),
            Undo::Promisc { ns, link, restore } => {
                format!(
                    "set promisc {} on {link} in {ns}",
                    if *restore { "on" } else { "off" }
                )
            }
            Undo::Hairpin { ns, port, restore } => {
                format!(
                    "set hairpin {} on {port} in {ns}",
                    if *restore { "on" } else { "off" }
                )
            }
            Undo::Sysctl { ns, key, restore } => format!("set sysctl {key}={restore} in {ns}"),
            Undo::NftSync { ns } => format!("rewrite nftables table ip netview in {ns}"),
            Undo::NftDelete { ns } => format!("delete nftables table ip netview in {ns}"),
        }
    }
}

impl Undo {
    /// The namespace the undone step happened in (None for a namespace's own deletion).
    pub fn ns(&self) -> Option<&Ns> {
        match self {
            Undo::DeleteNetns { .. } => None,
            Undo::DeleteLink { ns, .. }
            | Undo::Promisc { ns, .. }
            | Undo::Hairpin { ns, .. }
            | Undo::Sysctl { ns, .. }
            | Undo::NftSync { ns }
            | Undo::NftDelete { ns } => Some(ns),
        }
    }
}

/// Who owns a journal entry once creation succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Belongs to the object being created (removed with it).
    Own,
    /// Shared by the lab (docker0, ip_forward, the NAT table, promisc): removed at `down`.
    Shared,
}

/// What an unfinished creation leaves in `pending.json`, so the next command that takes the
/// lock (or `clean`) can undo it after a `kill -9`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Pending {
    /// The lab prefix of the creation.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The generation of the state the creation started from (None: no state yet). A state
    /// with another generation means the creation was committed and there is nothing to undo.
    #[serde(default)]
    pub generation: Option<u64>,
    /// Undos of every step done so far, in creation order.
    pub undo: Vec<Undo>,
    /// Namespaces about to be created. A crash between creating one and recording its undo
    /// leaves it tagged but unrecorded; a crash between creating the name and binding the
    /// namespace to it may leave an empty file with this name. The replay removes either
    /// (only such an unbound file, or a namespace that carries our tag).
    pub netns: Vec<String>,
}

/// The undo journal of one creation.
#[derive(Debug, Default)]
pub struct Journal {
    pub entries: Vec<(Scope, Undo)>,
    /// Where to write [`Pending`] as the creation goes (the state directory), and what it
    /// starts from (prefix, generation).
    pending: Option<(std::path::PathBuf, String, Option<u64>)>,
    intended_netns: Vec<String>,
}

impl Journal {
    /// A journal that writes what undoing it after a crash needs to `pending.json` in `dir`
    /// as it goes; `generation` is the state's before the change (None: no state yet).
    pub fn persisting(dir: std::path::PathBuf, prefix: &str, generation: Option<u64>) -> Self {
        Journal {
            pending: Some((dir, prefix.to_string(), generation)),
            ..Default::default()
        }
    }
    pub fn own(&mut self, u: Undo) {
        self.push(Scope::Own, u);
    }
    pub fn shared(&mut self, u: Undo) {
        self.push(Scope::Shared, u);
    }
    /// Say that namespace `name` is about to be created.
    pub fn intend_netns(&mut self, name: &str) {
        self.intend_netns_many(std::slice::from_ref(&name.to_string()));
    }
    /// Say that these namespaces are about to be created (one write of the record).
    pub fn intend_netns_many(&mut self, names: &[String]) {
        self.intended_netns.extend(names.iter().cloned());
        self.persist();
    }
    /// Record several undos of one scope at once, e.g. the deletions of namespaces made
    /// together. The record on disk is rewritten only when one of them reaches outside the
    /// namespaces this creation makes (docker0 or a veth in the host, ip_forward, the NAT
    /// table, promisc): what is inside those goes with them, and the replay finds them by
    /// their names (written before they are made) and our tag. That keeps the writes (an
    /// fsync each: ~1-3 ms on ext4, against nothing on the tmpfs /run normally is) to a few
    /// per container.
    pub fn push_many(&mut self, scope: Scope, undos: impl IntoIterator<Item = Undo>) {
        let before = self.entries.len();
        self.entries.extend(undos.into_iter().map(|u| (scope, u)));
        for (scope, u) in &self.entries[before..] {
            tracing::info!(scope = ?scope, undo = %u.describe(), "lab do");
        }
        let outside = self.entries[before..].iter().any(|(_, u)| match u {
            Undo::DeleteNetns { name, .. } => !self.intended_netns.contains(name),
            other => other
                .ns()
                .and_then(Ns::name)
                .is_none_or(|n| !self.intended_netns.iter().any(|i| i == n)),
        });
        if outside {
            self.persist();
        }
    }
    fn push(&mut self, scope: Scope, u: Undo) {
        self.push_many(scope, [u]);
    }
    /// Record the undo of a step outside the namespaces this creation makes that deleting
    /// namespace `netns`, one it makes, also undoes: a veth in the host whose other end is
    /// inside `netns` (the kernel deletes both ends with that namespace). A rollback still
    /// runs it, but the record on disk is not rewritten for it (the replay deletes `netns`,
    /// and the pair goes with it): that was one fsync per bridge container, 40 of the 43 of
    /// `lab add` of 40 bridge containers, ~180 ms of its 475 ms (`NETVIEW_LOG=debug`
    /// timings, /tmp on ext4, load 5). For a namespace not announced, the usual rule holds.
    pub fn own_freed_with(&mut self, u: Undo, netns: &str) {
        if !self.intended_netns.iter().any(|n| n == netns) {
            self.own(u);
            return;
        }
        tracing::info!(scope = ?Scope::Own, undo = %u.describe(), "lab do");
        self.entries.push((Scope::Own, u));
    }
    fn persist(&self) {
        let Some((dir, prefix, generation)) = &self.pending else {
            return;
        };
        let p = Pending {
            prefix: Some(prefix.clone()),
            generation: *generation,
            undo: self.entries.iter().map(|(_, u)| u.clone()).collect(),
            netns: self.intended_netns.clone(),
        };
        if let Ok(text) = serde_json::to_vec(&p) {
            // Best effort: a failed write only loses crash recovery, not the change itself.
            let _ = super::state::write_private(dir, super::state::PENDING_FILE, &text);
        }
    }
    /// The creation is over (committed to the state file, or rolled back).
    pub fn finish(&mut self) {
        if let Some((dir, ..)) = self.pending.take() {
            let _ = std::fs::remove_file(dir.join(super::state::PENDING_FILE));
        }
    }
    /// Every undo recorded so far, in creation order.
    pub fn undos(&self) -> Vec<Undo> {
        self.entries.iter().map(|(_, u)| u.clone()).collect()
    }
}

/// What a [`Gated`] kernel asks before each change: go on, or fail that step.
pub trait Gate {
    /// Called before the change `what` (e.g. "add veth") reaches the kernel.
    fn before(&mut self, what: &'static str) -> Result<(), LabError>;
}

/// Forwards every kernel action to `inner`, asking its gate before each change; queries pass
/// through. One forwarding layer for the step counter below and for the tests' fault models.
pub struct Gated<'a, G> {
    inner: &'a mut dyn Ops,
    pub gate: G,
}

impl<'a, G: Gate> Gated<'a, G> {
    pub fn with_gate(inner: &'a mut dyn Ops, gate: G) -> Self {
        Gated { inner, gate }
    }

    /// The ungated kernel, for rollback.
    pub fn inner(&mut self) -> &mut dyn Ops {
        self.inner
    }
}

/// Counts kernel steps; fails the Nth when asked (test hook) and stops when interrupted.
pub struct Steps {
    step: usize,
    fail_at: Option<usize>,
    /// Panic at the Nth step (test hook): a panic half-way must roll back like a failure.
    panic_at: Option<usize>,
    delay: Option<std::time::Duration>,
}

/// The kernel as the engine drives it: every change counted by [`Steps`].
pub type Counted<'a> = Gated<'a, Steps>;

impl<'a> Gated<'a, Steps> {
    pub fn new(inner: &'a mut dyn Ops, fail_at: Option<usize>) -> Self {
        let delay = std::env::var(STEP_DELAY_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_millis);
        Gated::with_gate(
            inner,
            Steps {
                step: 0,
                fail_at,
                panic_at: None,
                delay,
            },
        )
    }

    /// Panic at step `n` instead of failing (test hook).
    pub fn with_panic_at(mut self, n: Option<usize>) -> Self {
        self.gate.panic_at = n;
        self
    }

    /// `NETVIEW_FAIL_AT_STEP` as a number, if set.
    pub fn fail_at_from_env() -> Option<usize> {
        std::env::var(FAIL_AT_STEP_ENV).ok()?.trim().parse().ok()
    }
}

impl Gate for Steps {
    fn before(&mut self, what: &'static str) -> Result<(), LabError> {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
        if interrupted() {
            return Err(LabError::Interrupted);
        }
        self.step += 1;
        tracing::debug!(step = self.step, what, "lab kernel step");
        if self.panic_at == Some(self.step) {
            panic!("step {} ({what}): panic injected by a test", self.step);
        }
        if self.fail_at == Some(self.step) {
            return Err(LabError::kernel(
                format!("step {} ({what})", self.step),
                KernelError::Injected,
            ));
        }
        Ok(())
    }
}

impl<G: Gate> Ops for Gated<'_, G> {
    fn create_netns(&mut self, name: &str, tag: &str) -> Result<(), LabError> {
        self.gate.before("create namespace")?;
        self.inner.create_netns(name, tag)
    }
    fn create_netns_many(
        &mut self,
        names: &[String],
        tag: &str,
    ) -> (Vec<String>, Option<LabError>) {
        // Each namespace is a step; the ones before a failing step are still made together.
        let mut go = Vec::new();
        let mut err = None;
        for n in names {
            match self.gate.before("create namespace") {
                Ok(()) => go.push(n.clone()),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let (made, e2) = self.inner.create_netns_many(&go, tag);
        (made, err.or(e2))
    }
    fn delete_netns(&mut self, name: &str) -> Result<(), LabError> {
        self.gate.before("delete namespace")?;
        self.inner.delete_netns(name)
    }
    fn add_veth(&mut self, ns: &Ns, n: &str, pns: &Ns, p: &str) -> Result<(), LabError> {
        self.gate.before("add veth")?;
        self.inner.add_veth(ns, n, pns, p)
    }
    fn add_bridge(&mut self, ns: &Ns, name: &str) -> Result<(), LabError> {
        self.gate.before("add bridge")?;
        self.inner.add_bridge(ns, name)
    }
    fn add_macvlan(
        &mut self,
        ns: &Ns,
        parent: &str,
        name: &str,
        mode: MacvlanMode,
        target: &Ns,
    ) -> Result<(), LabError> {
        self.gate.before("add macvlan")?;
        self.inner.add_macvlan(ns, parent, name, mode, target)
    }
    fn add_ipvlan(
        &mut self,
        ns: &Ns,
        parent: &str,
        name: &str,
        mode: IpvlanMode,
        target: &Ns,
    ) -> Result<(), LabError> {
        self.gate.before("add ipvlan")?;
        self.inner.add_ipvlan(ns, parent, name, mode, target)
    }
    fn delete_link(&mut self, ns: &Ns, name: &str) -> Result<(), LabError> {
        self.gate.before("delete link")?;
        self.inner.delete_link(ns, name)
    }
    fn set_alias(&mut self, ns: &Ns, link: &str, alias: &str) -> Result<(), LabError> {
        self.gate.before("set alias")?;
        self.inner.set_alias(ns, link, alias)
    }
    fn set_up(&mut self, ns: &Ns, link: &str, up: bool) -> Result<(), LabError> {
        self.gate.before("set up")?;
        self.inner.set_up(ns, link, up)
    }
    fn set_master(&mut self, ns: &Ns, link: &str, master: &str) -> Result<(), LabError> {
        self.gate.before("set master")?;
        self.inner.set_master(ns, link, master)
    }
    fn set_promisc(&mut self, ns: &Ns, link: &str, on: bool) -> Result<(), LabError> {
        self.gate.before("set promisc")?;
        self.inner.set_promisc(ns, link, on)
    }
    fn set_hairpin(&mut self, ns: &Ns, port: &str, on: bool) -> Result<(), LabError> {
        self.gate.before("set hairpin")?;
        self.inner.set_hairpin(ns, port, on)
    }
    fn add_addr(&mut self, ns: &Ns, link: &str, addr: Ipv4Net) -> Result<(), LabError> {
        self.gate.before("add address")?;
        self.inner.add_addr(ns, link, addr)
    }
    fn add_route(
        &mut self,
        ns: &Ns,
        dest: Ipv4Net,
        gw: Option<Ipv4Addr>,
        dev: Option<&str>,
    ) -> Result<(), LabError> {
        self.gate.before("add route")?;
        self.inner.add_route(ns, dest, gw, dev)
    }
    fn set_sysctl(&mut self, ns: &Ns, key: &str, value: &str) -> Result<(), LabError> {
        self.gate.before("set sysctl")?;
        self.inner.set_sysctl(ns, key, value)
    }
    fn nft_table(
        &mut self,
        ns: &Ns,
        rules: Option<&[crate::lab::firewall::NftObject]>,
    ) -> Result<(), LabError> {
        self.gate.before("nftables")?;
        self.inner.nft_table(ns, rules)
    }
    fn link(&mut self, ns: &Ns, name: &str) -> Result<Option<LinkFacts>, LabError> {
        self.inner.link(ns, name)
    }
    fn get_sysctl(&mut self, ns: &Ns, key: &str) -> Result<String, LabError> {
        self.inner.get_sysctl(ns, key)
    }
    fn ipvlan_supported(&mut self, ns: &Ns) -> Result<bool, LabError> {
        self.inner.ipvlan_supported(ns)
    }
    fn list_netns(&mut self) -> Result<Vec<String>, LabError> {
        self.inner.list_netns()
    }
    fn netns_tag(&mut self, name: &str) -> Option<String> {
        self.inner.netns_tag(name)
    }
    fn tagged_links(&mut self, ns: &Ns, tag: &str) -> Result<Vec<String>, LabError> {
        self.inner.tagged_links(ns, tag)
    }
    fn nft_table_exists(&mut self, ns: &Ns) -> Result<bool, LabError> {
        self.inner.nft_table_exists(ns)
    }
    fn netns_unbound(&mut self, name: &str) -> bool {
        self.inner.netns_unbound(name)
    }
    fn forget_netns(&mut self, name: &str) {
        self.inner.forget_netns(name)
    }
    fn netns_id(&mut self, name: &str) -> Option<NetnsId> {
        self.inner.netns_id(name)
    }
}
