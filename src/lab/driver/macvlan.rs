//! Macvlan mode: a child of the host's LAN interface with its own MAC, moved into the
//! container as `eth0`, with the next free address of the ip-range. Also the planning shared
//! with ipvlan (parent suitability, one kind per parent, addresses) and the host shim.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{
    check_new_name, make_container_netns, taken_on, Built, Driver, Planned, CONTAINER_IFNAME,
};
use crate::lab::journal::{Journal, Undo};
use crate::lab::ops::{Ns, Ops};
use crate::lab::spec::{next_free, ContainerSpec, MacvlanMode, NetworkMode};
use crate::lab::state::{ContainerState, LabState, ShimState};
use crate::lab::LabError;

pub struct MacvlanDriver;

fn invalid(s: String) -> LabError {
    LabError::Invalid(s)
}

/// The parent must exist in the host, be up, and not be loopback, wireless, a bridge, a
/// bridge port or itself a macvlan/ipvlan device (a host shim, say).
pub fn check_parent(ops: &mut dyn Ops, state: &LabState, parent: &str) -> Result<(), LabError> {
    let Some(f) = ops.link(&state.host_ns, parent)? else {
        return Err(invalid(format!(
            "parent {parent} does not exist in the host"
        )));
    };
    if f.loopback {
        return Err(invalid(format!("parent {parent} is a loopback device")));
    }
    if f.wireless {
        return Err(invalid(format!(
            "parent {parent} is wireless: access points drop frames from MACs they did not associate"
        )));
    }
    if f.is_bridge {
        return Err(invalid(format!(
            "parent {parent} is a bridge; use a physical or veth interface"
        )));
    }
    // A macvlan's or ipvlan's children sit on the device below it, so the rules of one
    // parent (one kind, passthru alone, one ipvlan mode) would be checked on the wrong one.
    if let Some(kind) = f
        .kind
        .as_deref()
        .filter(|k| matches!(*k, "macvlan" | "macvtap" | "ipvlan" | "ipvtap"))
    {
        return Err(invalid(format!(
            "parent {parent} is itself a {kind} device; use the interface it sits on"
        )));
    }
    if f.is_bridge_port {
        return Err(invalid(format!(
            "parent {parent} is a bridge port; its frames belong to the bridge"
        )));
    }
    if !f.up {
        return Err(invalid(format!("parent {parent} is down")));
    }
    Ok(())
}

/// Macvlan and ipvlan children cannot share one parent; ipvlan children of one parent share
/// one mode; a passthru child takes the parent alone.
pub fn check_siblings(state: &LabState, c: &ContainerSpec, parent: &str) -> Result<(), LabError> {
    let siblings: Vec<&ContainerState> = state
        .containers
        .iter()
        .filter(|o| {
            matches!(o.spec.mode, NetworkMode::Macvlan | NetworkMode::Ipvlan)
                && o.parent.as_deref() == Some(parent)
        })
        .collect();
    let shims = state.shims.iter().filter(|s| s.parent == parent).count();
    let other_kind = if c.mode == NetworkMode::Macvlan {
        NetworkMode::Ipvlan
    } else {
        NetworkMode::Macvlan
    };
    if let Some(o) = siblings.iter().find(|o| o.spec.mode == other_kind) {
        return Err(invalid(format!(
            "macvlan and ipvlan cannot share parent {parent} ({} is {other_kind} on it)",
            o.spec.name
        )));
    }
    // The kernel keeps one ipvlan mode per parent (the port's): a child in another mode would
    // silently switch its siblings to that mode (seen on Debian's kernel in the VM test).
    if c.mode == NetworkMode::Ipvlan {
        if let Some(o) = siblings
            .iter()
            .find(|o| o.spec.mode == NetworkMode::Ipvlan && o.spec.ipvlan_mode != c.ipvlan_mode)
        {
            return Err(invalid(format!(
                "ipvlan children of one parent share one mode: {} is {} on {parent}",
                o.spec.name, o.spec.ipvlan_mode
            )));
        }
    }
    if c.mode == NetworkMode::Ipvlan && shims > 0 {
        return Err(invalid(format!(
            "macvlan and ipvlan cannot share parent {parent} (it has a macvlan host shim)"
        )));
    }
    if let Some(o) = siblings.iter().find(|o| {
        o.spec.mode == NetworkMode::Macvlan && o.spec.macvlan_mode == MacvlanMode::Passthru
    }) {
        return Err(invalid(format!(
            "passthru takes one child: {} already holds {parent}",
            o.spec.name
        )));
    }
    if c.mode == NetworkMode::Macvlan && c.macvlan_mode == MacvlanMode::Passthru {
        let n = siblings.len() + shims;
        if n > 0 || c.host_shim {
            return Err(invalid(format!(
                "passthru takes one child: {parent} already has {} other",
                n.max(1)
            )));
        }
    }
    Ok(())
}

/// The gateway of a macvlan/ipvlan network: the lab's LAN gateway when it is in the subnet,
/// else the subnet's first address (Docker's default).
pub fn vlan_gateway(state: &LabState, subnet: &Ipv4Net) -> Option<Ipv4Addr> {
    let gw = state.spec.host.gateway;
    if subnet.contains(&gw) {
        Some(gw)
    } else {
        subnet.hosts().next()
    }
}

/// Host shims are named `nvshim` and a number.
pub const SHIM_PREFIX: &str = "nvshim";

/// Whether `name` has the shape netview gives host shims (`nvshim` and a number).
pub fn is_shim_name(name: &str) -> bool {
    name.strip_prefix(SHIM_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The next free child address for `c`, or a one-line error.
pub fn child_address(state: &LabState, c: &ContainerSpec) -> Result<Ipv4Net, LabError> {
    let (subnet, range) = c.vlan_net(&state.spec);
    let subnet = subnet.trunc();
    crate::lab::spec::check_range(&subnet, &range)?;
    let mut reserved = state.spec.reserved_lan_addresses();
    reserved.extend(vlan_gateway(state, &subnet));
    let full = || invalid(format!("no free address left in ip-range {range}"));
    let ip = next_free(&subnet, &range, &reserved, &taken_on(state, &subnet)).ok_or_else(full)?;
    Ipv4Net::new(ip, subnet.prefix_len()).map_err(|_| full())
}

/// Plan a macvlan or ipvlan child (the checks and allocation both share): name, parent,
/// siblings on it, subnet apart from docker's and the far address, the next free address.
pub fn plan_vlan(
    ops: &mut dyn Ops,
    state: &LabState,
    c: &ContainerSpec,
    l3: bool,
) -> Result<Planned, LabError> {
    check_new_name(ops, state, c)?;
    // The input's own consistency first, then the kernel's rules.
    let (subnet, range) = c.vlan_net(&state.spec);
    let subnet = subnet.trunc();
    crate::lab::spec::check_range(&subnet, &range)?;
    crate::lab::spec::check_vlan_net(&state.spec, "subnet", &subnet)?;
    let parent = c.parent_or(&state.spec).to_string();
    check_parent(ops, state, &parent)?;
    check_siblings(state, c, &parent)?;
    let ip = child_address(state, c)?;
    let gateway = vlan_gateway(state, &subnet);
    let container = ContainerState {
        spec: c.clone(),
        netns: Some(state.ns_name(&c.name)),
        ifname: CONTAINER_IFNAME.into(),
        ip: Some(ip),
        mac: None,
        parent: Some(parent.clone()),
        gateway: if l3 { None } else { gateway },
        host_ifname: None,
        objects: Vec::new(),
    };
    let shim = match state.shims.iter().find(|s| s.parent == parent) {
        _ if !c.host_shim => None,
        None => Some(plan_shim(ops, state, &container, &range)?),
        // One shim per parent, routing the range of the container that made it: a range
        // outside it would get no route, and the host could not reach this container.
        Some(s) if !s.range.contains(&range.trunc()) => {
            return Err(invalid(format!(
                "the host shim {} on {parent} routes {}, not ip-range {range}",
                s.ifname, s.range
            )));
        }
        Some(_) => None,
    };
    Ok(Planned { container, shim })
}

/// The host shim for `me`, the first container on its parent to ask for one: the next free
/// address after `me`'s, a free `nvshimN` name, a route for the range that no other shim's
/// route overlaps.
fn plan_shim(
    ops: &mut dyn Ops,
    state: &LabState,
    me: &ContainerState,
    range: &Ipv4Net,
) -> Result<ShimState, LabError> {
    let range = range.trunc();
    let parent = me.parent.clone().unwrap_or_default();
    if let Some(o) = state
        .shims
        .iter()
        .find(|s| crate::lab::spec::overlaps(&s.range, &range))
    {
        return Err(invalid(format!(
            "ip-range {range} overlaps {}'s route on {} for {}",
            o.ifname, o.parent, o.range
        )));
    }
    // The host already routes its own networks (the kernel's connected routes); a shim route
    // for exactly one of them is refused by the kernel (EEXIST).
    let lan_if = state.spec.host_lan_ifname();
    if let Some(a) = state.host.addresses.iter().find(|a| a.trunc() == range) {
        return Err(invalid(format!(
            "ip-range {range} is the host's own route for {a} on {lan_if}; a host shim needs a narrower range"
        )));
    }
    let mut with_me = state.clone();
    with_me.containers.push(me.clone());
    let ip = child_address(&with_me, &me.spec)?;
    let ip =
        Ipv4Net::new(ip.addr(), 32).map_err(|_| invalid("no address for the host shim".into()))?;
    let mut n = 0usize;
    let ifname = loop {
        let cand = format!("{SHIM_PREFIX}{n}");
        if super::host_name_free(ops, state, &cand)? {
            break cand;
        }
        n += 1;
    };
    Ok(ShimState {
        parent,
        ifname,
        ip,
        range,
    })
}

/// After the child exists: tag, raise, address, route; then promisc and the shim if planned.
pub fn finish_child(
    ops: &mut dyn Ops,
    state: &LabState,
    p: &Planned,
    j: &mut Journal,
    nsname: String,
    l3: bool,
) -> Result<Built, LabError> {
    let host = state.host_ns.clone();
    let ctr = Ns::Named(nsname);
    let c = p.spec();
    let mut me = p.container.clone();
    let parent = c.parent_or(&state.spec).to_string();
    ops.set_alias(&ctr, CONTAINER_IFNAME, &state.tag)?;
    ops.set_up(&ctr, CONTAINER_IFNAME, true)?;
    if let Some(ip) = me.ip {
        ops.add_addr(&ctr, CONTAINER_IFNAME, ip)?;
    }
    if l3 {
        // ipvlan l3/l3s: no ARP, no broadcast; the parent routes for its children.
        ops.add_route(&ctr, Ipv4Net::default(), None, Some(CONTAINER_IFNAME))?;
    } else if let Some(gw) = me.gateway {
        ops.add_route(&ctr, Ipv4Net::default(), Some(gw), Some(CONTAINER_IFNAME))?;
    }
    if c.promisc {
        let was = ops
            .link(&host, &parent)?
            .map(|f| f.promisc)
            .unwrap_or(false);
        if !was {
            // Recorded before the change, as ip_forward is (bridge.rs): turning it off again
            // is harmless if it never came on.
            j.shared(Undo::Promisc {
                ns: host.clone(),
                link: parent.clone(),
                restore: false,
            });
            ops.set_promisc(&host, &parent, true)?;
        }
    }
    let mut built = Built::default();
    me.mac = ops.link(&ctr, CONTAINER_IFNAME)?.and_then(|f| f.mac);
    if let Some(shim) = &p.shim {
        let ifname = shim.ifname.as_str();
        ops.add_macvlan(&host, &shim.parent, ifname, MacvlanMode::Bridge, &host)?;
        j.shared(Undo::DeleteLink {
            ns: host.clone(),
            name: ifname.to_string(),
        });
        ops.set_alias(&host, ifname, &state.tag)?;
        ops.add_addr(&host, ifname, shim.ip)?;
        ops.set_up(&host, ifname, true)?;
        ops.add_route(&host, shim.range, None, Some(ifname))?;
        built.shim = Some(shim.clone());
    }
    built.container = Some(me);
    Ok(built)
}

impl Driver for MacvlanDriver {
    fn plan(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        c: &ContainerSpec,
    ) -> Result<Planned, LabError> {
        plan_vlan(ops, state, c, false)
    }

    fn setup(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        p: &Planned,
        j: &mut Journal,
    ) -> Result<Built, LabError> {
        let c = p.spec();
        let nsname = make_container_netns(ops, state, c, j)?;
        let ctr = Ns::Named(nsname.clone());
        let parent = c.parent_or(&state.spec).to_string();
        ops.add_macvlan(
            &state.host_ns,
            &parent,
            CONTAINER_IFNAME,
            c.macvlan_mode,
            &ctr,
        )?;
        // Deleting the child before its namespace frees the parent at once (namespace
        // cleanup is asynchronous), so a new passthru child can follow immediately.
        j.own(Undo::DeleteLink {
            ns: ctr.clone(),
            name: CONTAINER_IFNAME.into(),
        });
        finish_child(ops, state, p, j, nsname, false)
    }
}

/// Remove the host shims that no container needs any more (none left on the shim's parent
/// asked for one), with their records in the state; returns the errors. A shim that cannot
/// be removed stays recorded, so `lab down` tries again.
pub fn remove_unneeded_shims(ops: &mut dyn Ops, st: &mut LabState) -> Vec<LabError> {
    let needed = |s: &ShimState, containers: &[ContainerState]| {
        containers.iter().any(|c| {
            c.spec.mode == NetworkMode::Macvlan
                && c.spec.host_shim
                && c.parent.as_deref() == Some(s.parent.as_str())
        })
    };
    let mut errors = Vec::new();
    let shims = std::mem::take(&mut st.shims);
    for s in shims {
        if needed(&s, &st.containers) {
            st.shims.push(s);
            continue;
        }
        let undo = Undo::DeleteLink {
            ns: st.host_ns.clone(),
            name: s.ifname.clone(),
        };
        match super::undo_one(ops, st, &undo) {
            Ok(()) => st.objects.retain(|u| *u != undo),
            Err(e) => {
                errors.push(e);
                st.shims.push(s);
            }
        }
    }
    errors
}
