//! Layer 2: where a frame sent out of an interface ends up. Follows veth pairs across
//! namespaces, Linux bridges (flooding, the bridge's own stack, hairpin ports), macvlan
//! (drivers/net/macvlan.c: bridge-mode siblings switched inside the parent, private/VEPA/
//! passthru frames sent out to the wire, the reflected-broadcast rules of
//! `macvlan_handle_frame`/`macvlan_process_broadcast`, the parent's stack never receiving its
//! children's frames) and ipvlan (children share the parent's MAC; l2 children get broadcasts;
//! unicast to the shared MAC is handed out by IP address).
//!
//! Unicast is followed like a flood and the receivers filtered by MAC: on the tree-shaped
//! worlds netview sees, that is where a learning bridge delivers.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::inventory::{Link, LinkKind};

use super::index::{FloodKey, HashSet};
use super::{Hop, World};

/// An interface: (namespace index, link index) into the inventory.
pub(super) type IfId = (usize, usize);

/// Where a frame goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Dst {
    Broadcast,
    Mac(String),
}

/// A frame: its source MAC, destination, and the IPv4 destination inside (ipvlan hands
/// frames to its children by it).
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub src_mac: String,
    pub dst: Dst,
    pub ip_dst: Option<Ipv4Addr>,
}

/// An interface whose stack received the frame, and the last of the hops that led there
/// (in its [`Reach`]'s trail; [`World::path_to`] spells them out).
#[derive(Debug, Clone, Copy)]
pub(super) struct Delivery {
    pub to: IfId,
    last_hop: Option<u32>,
}

/// Everything a frame reached: stacks that received it, and devices it arrived at (a packet
/// socket on a device sees a frame there even when macvlan then hands it to a child).
#[derive(Debug, Default)]
pub(super) struct Reach {
    pub stacks: Vec<Delivery>,
    pub arrivals: Vec<Delivery>,
    trail: Vec<TrailHop>,
}

/// A hop of the frame's flood, kept as the interface and what happened there, with the hop
/// before it (its index in the trail; 32 bits keep a hop at 48 bytes): the walk follows a bridge's flood to every port, and copying each branch's path
/// (three strings a hop) was most of a lab-shaped prediction (perf, debug build, 50 containers:
/// malloc, free and memmove on top); only the paths of the deliveries used are spelled out.
#[derive(Debug, Clone)]
struct TrailHop {
    at: IfId,
    step: Step,
    before: Option<u32>,
}

/// What happened at a hop, as [`Hop::step`] says it.
#[derive(Debug, Clone)]
enum Step {
    Text(&'static str),
    Owned(String),
    /// "bridge NAME forwards it to this port", NAME being the bridge's.
    BridgeForwards(IfId),
}

impl From<&'static str> for Step {
    fn from(s: &'static str) -> Self {
        Step::Text(s)
    }
}

impl From<String> for Step {
    fn from(s: String) -> Self {
        Step::Owned(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum At {
    Tx(IfId),
    Wire(IfId),
    Arrive(IfId),
    BridgeIn { bridge: IfId, port: Option<IfId> },
    Stack(IfId),
}

/// A hop of the flood: where, and what happened there.
fn mark(at: IfId, step: impl Into<Step>) -> (IfId, Step) {
    (at, step.into())
}

fn same_mac(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

impl World<'_> {
    pub(super) fn link(&self, id: IfId) -> &Link {
        &self.inv.namespaces[id.0].links[id.1]
    }

    pub(super) fn ns_name(&self, id: IfId) -> &str {
        &self.inv.namespaces[id.0].name
    }

    pub(super) fn hop(&self, id: IfId, step: impl AsRef<str>) -> Arc<Hop> {
        self.hop_at(self.ns_name(id), &self.link(id).name, step.as_ref())
    }

    /// A hop in namespace `netns` at device `dev`, its texts shared with the run's other hops.
    pub(super) fn hop_at(&self, netns: &str, dev: &str, step: &str) -> Arc<Hop> {
        self.ix.hop(Hop {
            netns: self.ix.text(netns),
            dev: self.ix.text(dev),
            step: self.ix.text(step),
        })
    }

    /// The hops that led a frame to `delivery`, in order.
    pub(super) fn path_to(&self, reach: &Reach, delivery: &Delivery) -> Vec<Arc<Hop>> {
        let mut path = Vec::new();
        let mut at = delivery.last_hop;
        while let Some(h) = at.and_then(|i| reach.trail.get(i as usize)) {
            path.push(match &h.step {
                Step::Text(t) => self.hop(h.at, t),
                Step::Owned(t) => self.hop(h.at, t),
                Step::BridgeForwards(b) => self.hop(
                    h.at,
                    format!("bridge {} forwards it to this port", self.link(*b).name),
                ),
            });
            at = h.before;
        }
        path.reverse();
        path
    }

    pub(super) fn find(&self, netns: &str, dev: &str) -> Option<IfId> {
        self.ix.find(netns, dev)
    }

    /// The link a stacked device sits on, or why it is not known.
    pub(super) fn parent_of(&self, id: IfId) -> Result<IfId, String> {
        let link = self.link(id);
        let unknown = || {
            format!(
                "the lower device of {} {} in {} is not known",
                link.kind,
                link.name,
                self.ns_name(id)
            )
        };
        self.ix.parent(id).ok_or_else(unknown)
    }

    /// The stacked children (`kind`) of `parent`, wherever they live.
    pub(super) fn children(&self, parent: IfId, kinds: &[LinkKind]) -> Vec<IfId> {
        self.ix.children(parent, kinds)
    }

    fn mode(&self, id: IfId) -> &str {
        self.link(id).mode.as_deref().unwrap_or("")
    }

    pub(super) fn holds(&self, id: IfId, ip: Ipv4Addr) -> bool {
        self.link(id)
            .addresses
            .iter()
            .any(|a| a.ip == IpAddr::V4(ip))
    }

    /// Follow a frame sent by the stack of `from`. A broadcast's flood is followed once per
    /// sender in a run ([`FloodKey`]) and shared by every probe that sends it.
    pub(super) fn send_frame(&self, from: IfId, frame: &Frame) -> Result<Arc<Reach>, String> {
        if frame.dst != Dst::Broadcast {
            return self.follow(from, frame).map(Arc::new);
        }
        let key = FloodKey {
            from,
            src_mac: frame.src_mac.clone(),
            carries_ip: frame.ip_dst.is_some(),
        };
        if let Some(reach) = self.ix.flood(&key) {
            return Ok(reach);
        }
        let mut reach = self.follow(from, frame)?;
        // Kept for the run: without the room its vectors grew into (a 200-container run keeps
        // about 200 floods of some 300 hops each, 4.8 MB with that room).
        reach.trail.shrink_to_fit();
        reach.stacks.shrink_to_fit();
        reach.arrivals.shrink_to_fit();
        let reach = Arc::new(reach);
        self.ix.keep_flood(key, reach.clone());
        Ok(reach)
    }

    /// Where a frame sent by the stack of `from` ends up: a broadcast's flood depends only on
    /// what [`FloodKey`] holds of it (the IPv4 destination is read for unicast only).
    fn follow(&self, from: IfId, frame: &Frame) -> Result<Reach, String> {
        const MACVLAN: &[LinkKind] = &[LinkKind::Macvlan, LinkKind::Macvtap];
        const IPVLAN: &[LinkKind] = &[LinkKind::Ipvlan, LinkKind::Ipvtap];
        let mut reach = Reach::default();
        // Sized for a flood over a 100-port bridge (about 300 places): growing from empty
        // rehashed it seven times a frame (perf, 200 containers: 5% of the run's samples).
        let mut seen: HashSet<At> = HashSet::with_capacity_and_hasher(512, Default::default());
        let mut work: Vec<(At, Option<u32>)> = vec![(At::Tx(from), None)];
        let bcast = frame.dst == Dst::Broadcast;
        while let Some((at, path)) = work.pop() {
            if !seen.insert(at.clone()) {
                continue;
            }
            let trail = &mut reach.trail;
            let mut go = |next: At, (id, step): (IfId, Step)| {
                trail.push(TrailHop {
                    at: id,
                    step,
                    before: path,
                });
                // A trail holds a few hops per link of the world: far below u32::MAX.
                work.push((next, Some((trail.len() - 1) as u32)));
            };
            match at {
                At::Tx(i) => {
                    let link = self.link(i);
                    if !link.is_up() {
                        continue;
                    }
                    match &link.kind {
                        k if MACVLAN.contains(k) => {
                            let parent = self.parent_of(i)?;
                            let mode = self.mode(i);
                            match mode {
                                "bridge" => {
                                    let mut to_sibling = false;
                                    for s in self.children(parent, MACVLAN) {
                                        if s == i || self.mode(s) != "bridge" {
                                            continue;
                                        }
                                        let dst_here = match &frame.dst {
                                            Dst::Broadcast => true,
                                            Dst::Mac(m) => same_mac(self.link(s).mac.as_deref(), m),
                                        };
                                        if dst_here {
                                            to_sibling |= !bcast;
                                            go(At::Stack(s), mark(s, "macvlan bridge mode switches it to this sibling"));
                                        }
                                    }
                                    if !to_sibling {
                                        go(
                                            At::Wire(parent),
                                            mark(parent, "sent out through the macvlan parent"),
                                        );
                                    }
                                }
                                "private" | "vepa" | "passthru" => {
                                    go(At::Wire(parent), mark(parent, format!("macvlan {mode} mode sends it out through the parent")));
                                }
                                other => {
                                    return Err(format!(
                                        "macvlan mode {other:?} of {} is not modelled",
                                        link.name
                                    ))
                                }
                            }
                        }
                        k if IPVLAN.contains(k) => {
                            let parent = self.parent_of(i)?;
                            let l2 = self.mode(i) == "l2";
                            let siblings = self.children(parent, IPVLAN);
                            if bcast {
                                if !l2 {
                                    continue;
                                }
                                for s in siblings
                                    .iter()
                                    .copied()
                                    .filter(|s| *s != i && self.mode(*s) == "l2")
                                {
                                    go(
                                        At::Stack(s),
                                        mark(s, "ipvlan l2 hands the broadcast to this sibling"),
                                    );
                                }
                                go(
                                    At::Wire(parent),
                                    mark(parent, "sent out through the ipvlan parent"),
                                );
                            } else if let Some(s) = frame.ip_dst.and_then(|ip| {
                                siblings
                                    .iter()
                                    .copied()
                                    .find(|s| *s != i && self.holds(*s, ip))
                            }) {
                                go(
                                    At::Stack(s),
                                    mark(s, "ipvlan delivers it to this sibling by IP address"),
                                );
                            } else {
                                go(
                                    At::Wire(parent),
                                    mark(parent, "sent out through the ipvlan parent"),
                                );
                            }
                        }
                        LinkKind::Bridge => {
                            go(
                                At::BridgeIn {
                                    bridge: i,
                                    port: None,
                                },
                                mark(i, "the bridge sends it to its ports"),
                            );
                        }
                        LinkKind::Loopback => {}
                        _ => go(At::Wire(i), mark(i, "sent")),
                    }
                }
                At::Wire(i) => {
                    let link = self.link(i);
                    match &link.kind {
                        LinkKind::Veth => {
                            let Some(peer) = self.ix.peer(i) else {
                                return Err(format!(
                                    "the peer of veth {} in {} is in a namespace netview cannot see",
                                    link.name,
                                    self.ns_name(i)
                                ));
                            };
                            if self.link(peer).is_up() {
                                go(At::Arrive(peer), mark(peer, "arrives over the veth pair"));
                            }
                        }
                        LinkKind::Bridge => {
                            go(
                                At::BridgeIn {
                                    bridge: i,
                                    port: None,
                                },
                                mark(i, "the bridge sends it to its ports"),
                            );
                        }
                        LinkKind::Dummy | LinkKind::Loopback => {}
                        other => {
                            return Err(format!(
                                "frames leaving {other} {} in {} go where netview cannot follow",
                                link.name,
                                self.ns_name(i)
                            ))
                        }
                    }
                }
                At::Arrive(i) => {
                    reach.arrivals.push(Delivery {
                        to: i,
                        last_hop: path,
                    });
                    let link = self.link(i);
                    let ns = &self.inv.namespaces[i.0];
                    if let Some(master) = &link.master {
                        let Some(b) = self.ix.master(i) else {
                            return Err(format!(
                                "the master {master} of {} is not known",
                                link.name
                            ));
                        };
                        if ns.links[b].kind != LinkKind::Bridge {
                            return Err(format!(
                                "{} is enslaved to a {}, which is not modelled",
                                link.name, ns.links[b].kind
                            ));
                        }
                        go(
                            At::BridgeIn {
                                bridge: (i.0, b),
                                port: Some(i),
                            },
                            mark((i.0, b), "the bridge receives it"),
                        );
                        continue;
                    }
                    let macvlans = self.children(i, MACVLAN);
                    let ipvlans = self.children(i, IPVLAN);
                    if !macvlans.is_empty() {
                        if let Some(pt) = macvlans
                            .iter()
                            .copied()
                            .find(|c| self.mode(*c) == "passthru")
                        {
                            go(
                                At::Stack(pt),
                                mark(pt, "the passthru child takes every frame of its parent"),
                            );
                            if bcast {
                                go(
                                    At::Stack(i),
                                    mark(i, "the parent's stack gets the broadcast too"),
                                );
                            }
                            continue;
                        }
                        if bcast {
                            let src = macvlans
                                .iter()
                                .copied()
                                .find(|c| same_mac(self.link(*c).mac.as_deref(), &frame.src_mac));
                            let modes: &[&str] = match src.map(|s| self.mode(s)) {
                                Some("private") => {
                                    if let Some(s) = src {
                                        go(At::Stack(s), mark(s, "a private child's reflected broadcast goes back only to itself"));
                                    }
                                    continue;
                                }
                                Some("vepa") => &["vepa", "bridge"],
                                Some(_) => &["vepa"],
                                None => &["vepa", "bridge", "private"],
                            };
                            for c in macvlans
                                .iter()
                                .copied()
                                .filter(|c| Some(*c) != src && modes.contains(&self.mode(*c)))
                            {
                                go(
                                    At::Stack(c),
                                    mark(c, "macvlan hands the broadcast to this child"),
                                );
                            }
                            go(At::Stack(i), mark(i, "received"));
                        } else if let Some(c) =
                            macvlans.iter().copied().find(|c| match &frame.dst {
                                Dst::Mac(m) => same_mac(self.link(*c).mac.as_deref(), m),
                                Dst::Broadcast => false,
                            })
                        {
                            go(
                                At::Stack(c),
                                mark(c, "macvlan hands it to the child by its MAC"),
                            );
                        } else {
                            go(At::Stack(i), mark(i, "received"));
                        }
                        continue;
                    }
                    if !ipvlans.is_empty() {
                        if bcast {
                            for c in ipvlans.iter().copied().filter(|c| self.mode(*c) == "l2") {
                                go(
                                    At::Stack(c),
                                    mark(c, "ipvlan l2 hands the broadcast to this child"),
                                );
                            }
                        } else if let Some(c) = frame
                            .ip_dst
                            .and_then(|ip| ipvlans.iter().copied().find(|c| self.holds(*c, ip)))
                        {
                            go(
                                At::Stack(c),
                                mark(c, "ipvlan hands it to the child by IP address"),
                            );
                            continue;
                        }
                        go(At::Stack(i), mark(i, "received"));
                        continue;
                    }
                    go(At::Stack(i), mark(i, "received"));
                }
                At::BridgeIn { bridge, port } => {
                    let ns = &self.inv.namespaces[bridge.0];
                    let bname = &ns.links[bridge.1].name;
                    let to_own_stack = match &frame.dst {
                        Dst::Broadcast => true,
                        Dst::Mac(m) => {
                            same_mac(ns.links[bridge.1].mac.as_deref(), m)
                                || self.ix.bridge_port_has_mac(bridge.0, bname, m)
                        }
                    };
                    if port.is_some() && to_own_stack {
                        go(
                            At::Stack(bridge),
                            mark(bridge, "the bridge's own stack receives it"),
                        );
                        if !bcast {
                            continue;
                        }
                    }
                    for &l in self.ix.bridge_ports(bridge.0, bname) {
                        let p = &ns.links[l];
                        if !p.is_up() {
                            continue;
                        }
                        if port == Some((bridge.0, l)) {
                            match ns.conf.get(&p.name).and_then(|c| c.hairpin) {
                                Some(true) => {
                                    go(
                                        At::Wire((bridge.0, l)),
                                        mark(
                                            (bridge.0, l),
                                            "the hairpin port sends it back out where it came from",
                                        ),
                                    );
                                }
                                Some(false) => {}
                                None => {
                                    return Err(format!(
                                        "the hairpin flag of bridge port {} in {} was not read",
                                        p.name, ns.name
                                    ))
                                }
                            }
                            continue;
                        }
                        go(
                            At::Wire((bridge.0, l)),
                            mark((bridge.0, l), Step::BridgeForwards(bridge)),
                        );
                    }
                }
                At::Stack(i) => {
                    let link = self.link(i);
                    let accepts = match &frame.dst {
                        Dst::Broadcast => !link.has_flag("NOARP") || frame.ip_dst.is_some(),
                        Dst::Mac(m) => same_mac(link.mac.as_deref(), m),
                    };
                    if accepts && link.is_up() {
                        reach.stacks.push(Delivery {
                            to: i,
                            last_hop: path,
                        });
                    }
                }
            }
        }
        Ok(reach)
    }
}
