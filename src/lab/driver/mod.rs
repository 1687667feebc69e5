//! One driver per Docker network mode, netavark style: `plan` checks the kernel's rules and
//! decides every name and address before anything is made ([`plan_batch`] does it for a whole
//! batch), `setup` builds a planned container while recording every step's undo in the
//! journal, `teardown` undoes a built container and keeps going past errors.

pub mod bridge;
pub mod host;
pub mod ipvlan;
pub mod macvlan;
pub mod none;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::journal::{Journal, Undo};
use super::ops::{Ns, Ops};
use super::spec::{ContainerSpec, NetworkMode};
use super::state::{ContainerState, LabState, ShimState};
use super::LabError;

/// The interface name inside every container namespace, as Docker names it.
pub const CONTAINER_IFNAME: &str = "eth0";

/// A container as planned: checked against the lab and the batch members planned before it,
/// every name and address decided, nothing created yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The container as it will be recorded; its MAC and objects are filled in by setup.
    pub container: ContainerState,
    /// The host shim it brings (macvlan `--host-shim`, the first on its parent).
    pub shim: Option<ShimState>,
}

impl Planned {
    pub fn spec(&self) -> &ContainerSpec {
        &self.container.spec
    }
}

/// What a successful setup changed besides the container itself.
#[derive(Debug, Default)]
pub struct Built {
    pub container: Option<ContainerState>,
    pub docker_ready: bool,
    pub shim: Option<ShimState>,
    /// The container needs the NAT table rewritten (bridge mode).
    pub nat_dirty: bool,
}

/// A Docker network mode.
pub trait Driver {
    /// Check everything that can be checked before creating anything, against `state` (the
    /// lab with the batch members planned so far), and decide the container's names and
    /// addresses.
    fn plan(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        c: &ContainerSpec,
    ) -> Result<Planned, LabError>;

    /// Build a planned container, recording each step's undo in `journal` right after the
    /// step. It checks nothing again: `plan` did.
    fn setup(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        planned: &Planned,
        journal: &mut Journal,
    ) -> Result<Built, LabError>;

    /// Remove a built container: its own objects, newest first, past errors. The NAT
    /// rewrite is left to the caller (once for many containers, see [`teardown_plan`]).
    fn teardown(&self, ops: &mut dyn Ops, state: &LabState, c: &ContainerState) -> Vec<LabError> {
        undo_recorded(ops, state, &teardown_plan(c))
    }
}

/// The driver for a mode.
pub fn driver_for(mode: NetworkMode) -> &'static dyn Driver {
    match mode {
        NetworkMode::Bridge => &bridge::BridgeDriver,
        NetworkMode::Host => &host::HostDriver,
        NetworkMode::None => &none::NoneDriver,
        NetworkMode::Macvlan => &macvlan::MacvlanDriver,
        NetworkMode::Ipvlan => &ipvlan::IpvlanDriver,
    }
}

/// Plan a batch as a whole: each container is planned against the lab with the members
/// before it already in it (their names, addresses, published ports, parents and shims), so
/// the first problem anywhere in the batch is found before anything is created.
pub fn plan_batch(
    ops: &mut dyn Ops,
    state: &LabState,
    specs: &[ContainerSpec],
) -> Result<Vec<Planned>, LabError> {
    let mut provisional = state.clone();
    let mut out = Vec::with_capacity(specs.len());
    for c in specs {
        let p = driver_for(c.mode).plan(ops, &provisional, c)?;
        if c.mode == NetworkMode::Bridge {
            provisional.docker_ready = true;
            provisional.veth_seq += 1;
        }
        provisional.shims.extend(p.shim.clone());
        provisional.containers.push(p.container.clone());
        out.push(p);
    }
    Ok(out)
}

/// Run one undo. "Already gone" counts as success.
pub fn undo_one(ops: &mut dyn Ops, state: &LabState, u: &Undo) -> Result<(), LabError> {
    let r = undo_one_unlogged(ops, state, u);
    match &r {
        Ok(()) => tracing::info!(undo = %u.describe(), "lab undo"),
        Err(e) => tracing::warn!(undo = %u.describe(), error = %e, "lab undo failed"),
    }
    r
}

fn undo_one_unlogged(ops: &mut dyn Ops, state: &LabState, u: &Undo) -> Result<(), LabError> {
    let r = match u {
        Undo::DeleteNetns { name, id } => {
            if !ops.list_netns()?.contains(name) {
                return Ok(());
            }
            // Only the namespace netview made: the same one (when recorded) and tagged ours.
            let same = (*id).is_none_or(|id| ops.netns_id(name) == Some(id));
            if !same || ops.netns_tag(name).as_deref() != Some(state.tag.as_str()) {
                return Err(LabError::NotOurs(format!("namespace {name}")));
            }
            ops.delete_netns(name)
        }
        Undo::DeleteLink { ns, name } => ops.delete_link(ns, name),
        Undo::Promisc { ns, link, restore } => ops.set_promisc(ns, link, *restore),
        Undo::Hairpin { ns, port, restore } => ops.set_hairpin(ns, port, *restore),
        Undo::Sysctl { ns, key, restore } => ops.set_sysctl(ns, key, restore),
        Undo::NftSync { ns } => {
            let rules = super::firewall::nat_rules(state);
            ops.nft_table(ns, rules.as_deref())
        }
        Undo::NftDelete { ns } => ops.nft_table(ns, None),
    };
    match r {
        Err(e) if e.is_already_gone() => Ok(()),
        // Restoring something inside a namespace that is already gone is moot.
        Err(_) if undo_ns_gone(ops, u) => Ok(()),
        other => other,
    }
}

fn undo_ns_gone(ops: &mut dyn Ops, u: &Undo) -> bool {
    let ns = match u {
        Undo::DeleteNetns { .. } => return false,
        Undo::DeleteLink { ns, .. }
        | Undo::Promisc { ns, .. }
        | Undo::Hairpin { ns, .. }
        | Undo::Sysctl { ns, .. }
        | Undo::NftSync { ns }
        | Undo::NftDelete { ns } => ns,
    };
    match ns {
        Ns::Current => false,
        Ns::Named(n) => !ops.list_netns().map(|all| all.contains(n)).unwrap_or(true),
    }
}

/// What removing a container undoes. Links inside namespaces netview made go away with the
/// container's namespace (the kernel frees them in one batch, without a grace period per
/// link), so they are not deleted one by one; links on a real host are, so nothing of ours
/// lingers there, and a passthru child is, so its parent is free at once. Rollback after a
/// failed creation still undoes every step exactly. NAT rewrites are left to the caller.
pub fn teardown_plan(c: &ContainerState) -> Vec<Undo> {
    let own_ns = c.netns.is_some();
    let passthru = c.spec.mode == NetworkMode::Macvlan
        && c.spec.macvlan_mode == super::spec::MacvlanMode::Passthru;
    c.objects
        .iter()
        .filter(|u| match u {
            Undo::NftSync { .. } => false,
            Undo::DeleteLink {
                ns: Ns::Named(_), ..
            } => !own_ns || passthru,
            _ => true,
        })
        .cloned()
        .collect()
}

/// Undo a list newest first, collecting every error.
pub fn undo_all(ops: &mut dyn Ops, state: &LabState, objects: &[Undo]) -> Vec<LabError> {
    let mut errors = Vec::new();
    for u in objects.iter().rev() {
        if let Err(e) = undo_one(ops, state, u) {
            errors.push(e);
        }
    }
    errors
}

/// Undo what a state records (`lab rm`, `lab down`, `clean`), newest first, past errors. As
/// [`undo_all`], but a recorded link is deleted only while it still carries the lab's tag
/// (every link is tagged before the state records it; rollback of a half-made step, which
/// may not be tagged yet, uses [`undo_all`]).
pub fn undo_recorded(ops: &mut dyn Ops, state: &LabState, objects: &[Undo]) -> Vec<LabError> {
    let mut errors = Vec::new();
    for u in objects.iter().rev() {
        if let Undo::DeleteLink { ns, name } = u {
            match ops.link(ns, name) {
                Ok(Some(f)) if f.alias.as_deref() != Some(state.tag.as_str()) => {
                    errors.push(LabError::NotOurs(format!("link {name} in {ns}")));
                    continue;
                }
                _ => {}
            }
        }
        if let Err(e) = undo_one(ops, state, u) {
            errors.push(e);
        }
    }
    errors
}

/// Create a container's namespace (tagged), recording its deletion.
pub fn make_container_netns(
    ops: &mut dyn Ops,
    state: &LabState,
    c: &ContainerSpec,
    journal: &mut Journal,
) -> Result<String, LabError> {
    let name = state.ns_name(&c.name);
    if !state.premade_netns.contains(&name) {
        journal.intend_netns(&name);
        ops.create_netns(&name, &state.tag)?;
    }
    let id = ops.netns_id(&name);
    journal.own(Undo::DeleteNetns {
        name: name.clone(),
        id,
    });
    Ok(name)
}

/// Who made an existing namespace that the lab wanted to create, as its `lo` tag says.
pub fn whose_netns(ops: &mut dyn Ops, state: &LabState, ns: &str) -> &'static str {
    match ops.netns_tag(ns) {
        Some(t) if t == state.tag => "tagged as this lab's, but not in its state",
        Some(t) if super::state::is_netview_tag(&t) => "made by another netview lab",
        _ => "not made by netview",
    }
}

/// Names that must be free: the container and its namespace.
pub fn check_new_name(
    ops: &mut dyn Ops,
    state: &LabState,
    c: &ContainerSpec,
) -> Result<(), LabError> {
    c.validate_static(&state.prefix)?;
    if state.container(&c.name).is_some() {
        return Err(LabError::Invalid(format!(
            "container {:?} already exists in the lab",
            c.name
        )));
    }
    if super::world::WORLD_PARTS.contains(&c.name.as_str()) {
        return Err(LabError::Invalid(format!(
            "{:?} is a name of the lab's world; pick another",
            c.name
        )));
    }
    if c.mode != NetworkMode::Host {
        let ns = state.ns_name(&c.name);
        if ops.list_netns()?.contains(&ns) {
            return Err(LabError::Invalid(format!(
                "namespace {ns} already exists ({})",
                whose_netns(ops, state, &ns)
            )));
        }
    }
    Ok(())
}

/// Whether `name` is free in the host's namespace: no link of the lab's plan and none in the
/// kernel has it.
pub fn host_name_free(ops: &mut dyn Ops, state: &LabState, name: &str) -> Result<bool, LabError> {
    let planned = name == state.spec.host_lan_ifname()
        || name == state.spec.docker.bridge
        || name == super::spec::LOOPBACK_IFNAME
        || state.shims.iter().any(|s| s.ifname == name)
        || state
            .containers
            .iter()
            .any(|c| c.host_ifname.as_deref() == Some(name));
    Ok(!planned && ops.link(&state.host_ns, name)?.is_none())
}

/// Every address already given to a container, shim or node on `subnet`.
pub fn taken_on(state: &LabState, subnet: &Ipv4Net) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = state
        .containers
        .iter()
        .filter_map(|c| c.ip.map(|i| i.addr()))
        .chain(state.shims.iter().map(|s| s.ip.addr()))
        .filter(|ip| subnet.contains(ip))
        .collect();
    out.extend(
        state
            .host
            .addresses
            .iter()
            .chain(&state.peer.addresses)
            .chain(&state.router.addresses)
            .map(|a| a.addr())
            .filter(|ip| subnet.contains(ip)),
    );
    out
}
