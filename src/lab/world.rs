//! The sandbox world: host, LAN switch, peer and upstream router, from namespaces and veth
//! pairs only. In real mode there is no world to build: netview's own namespace is the host.

use ipnet::Ipv4Net;

use super::driver::macvlan::check_parent;
use super::journal::{Journal, Scope, Undo};
use super::ops::{Ns, Ops};
use super::spec::overlaps;
use super::state::{LabState, NodeFacts};
use super::LabError;

/// The world's namespaces, by their part of the name.
pub const WORLD_PARTS: [&str; 4] = ["switch", "host", "peer", "router"];
/// The LAN interface of the peer and the router.
pub const NODE_IFNAME: &str = "eth0";

/// The nodes with a port on the switch (named by [`switch_port`]).
pub const SWITCH_PORT_NODES: [&str; 3] = ["host", "peer", "router"];

/// The switch port that leads to a node.
pub fn switch_port(part: &str) -> String {
    format!("p-{part}")
}

/// Check the world can be built (names free; in real mode, the parent usable).
pub fn validate(ops: &mut dyn Ops, st: &LabState) -> Result<(), LabError> {
    if st.spec.options.real {
        if st.spec.options.hairpin {
            return Err(LabError::Invalid(
                "--hairpin needs the sandbox switch; it cannot be used with --real".into(),
            ));
        }
        let parent = st.spec.host_lan_ifname().to_string();
        check_parent(ops, st, &parent)?;
        // The real LAN is the parent's: docker's network must stay apart from it, as the
        // sandbox's LAN must (the spec checks that one).
        let docker = st.spec.docker.address.trunc();
        let addresses = ops
            .link(&st.host_ns, &parent)?
            .map(|f| f.addresses)
            .unwrap_or_default();
        if let Some(a) = addresses.iter().find(|a| overlaps(&a.trunc(), &docker)) {
            return Err(LabError::Invalid(format!(
                "docker network {docker} overlaps {parent}'s network {}",
                a.trunc()
            )));
        }
        return Ok(());
    }
    let existing = ops.list_netns()?;
    for part in WORLD_PARTS {
        let n = st.ns_name(part);
        if existing.contains(&n) {
            return Err(LabError::Invalid(format!(
                "namespace {n} already exists ({}); run `netview clean` or pick another NETVIEW_PREFIX",
                super::driver::whose_netns(ops, st, &n)
            )));
        }
    }
    Ok(())
}

fn facts(ops: &mut dyn Ops, ns: &Ns, ifname: &str) -> Result<NodeFacts, LabError> {
    let f = ops.link(ns, ifname)?;
    Ok(NodeFacts {
        mac: f.as_ref().and_then(|f| f.mac.clone()),
        addresses: f.map(|f| f.addresses).unwrap_or_default(),
    })
}

/// Build the world, recording every undo in `j` (all shared: the world is removed at down).
pub fn setup(ops: &mut dyn Ops, st: &mut LabState, j: &mut Journal) -> Result<(), LabError> {
    if st.spec.options.real {
        let parent = st.spec.host_lan_ifname().to_string();
        st.host = facts(ops, &Ns::Current, &parent)?;
        if let Some(a) = st.host.addresses.first() {
            // The real host's address is what children must avoid and what probes target.
            st.spec.host.address = *a;
        }
        return Ok(());
    }
    let tag = st.tag.clone();
    let names: Vec<String> = WORLD_PARTS.iter().map(|p| st.ns_name(p)).collect();
    j.intend_netns_many(&names);
    let (made, err) = ops.create_netns_many(&names, &tag);
    let undos: Vec<Undo> = made
        .into_iter()
        .map(|name| {
            let id = ops.netns_id(&name);
            Undo::DeleteNetns { name, id }
        })
        .collect();
    j.push_many(Scope::Shared, undos);
    if let Some(e) = err {
        return Err(e);
    }
    let sw = Ns::Named(st.ns_name("switch"));
    let br = st.spec.switch.bridge.clone();
    ops.add_bridge(&sw, &br)?;
    ops.set_alias(&sw, &br, &tag)?;
    ops.set_up(&sw, &br, true)?;
    // In SWITCH_PORT_NODES order.
    let nodes = [
        ("host", st.spec.host.ifname.clone(), st.spec.host.address),
        ("peer", NODE_IFNAME.to_string(), st.spec.peer.address),
        ("router", NODE_IFNAME.to_string(), st.spec.router.address),
    ];
    for (part, ifname, addr) in &nodes {
        let node = Ns::Named(st.ns_name(part));
        let port = switch_port(part);
        ops.add_veth(&sw, &port, &node, ifname)?;
        ops.set_alias(&sw, &port, &tag)?;
        ops.set_alias(&node, ifname, &tag)?;
        ops.set_master(&sw, &port, &br)?;
        ops.set_up(&sw, &port, true)?;
        ops.set_up(&node, ifname, true)?;
        ops.add_addr(&node, ifname, *addr)?;
    }
    let gw = Some(st.spec.host.gateway);
    let host = Ns::Named(st.ns_name("host"));
    let peer = Ns::Named(st.ns_name("peer"));
    let router = Ns::Named(st.ns_name("router"));
    ops.add_route(&host, Ipv4Net::default(), gw, Some(&st.spec.host.ifname))?;
    ops.add_route(&peer, Ipv4Net::default(), gw, Some(NODE_IFNAME))?;
    ops.add_addr(&router, "lo", st.spec.router.far)?;
    if st.spec.options.hairpin {
        ops.set_hairpin(&sw, &switch_port("host"), true)?;
    }
    st.host = facts(ops, &host, &st.spec.host.ifname)?;
    st.peer = facts(ops, &peer, NODE_IFNAME)?;
    st.router = facts(ops, &router, NODE_IFNAME)?;
    st.router.addresses.push(st.spec.router.far);
    Ok(())
}
