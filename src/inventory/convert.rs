//! Netlink messages to the inventory model. Pure functions: unit-tested without root.
//!
//! Names and orders follow iproute2 (`ip -d link`, `ip route`, `ip neigh`, `bridge fdb`) so a
//! user comparing the two sees the same words.

use std::collections::HashMap;
use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoIpVtap, InfoKind, InfoMacVlan, InfoMacVtap, IpVlanMode,
    LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage, MacVlanMode, State,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::AddressFamily;

use super::model::{
    Address, FdbEntry, Link, LinkKind, LinkRef, NamespaceInventory, Neighbour, Route,
};

/// The main routing table's id (`RT_TABLE_MAIN`).
const RT_TABLE_MAIN: u32 = 254;

/// Everything dumped from one namespace, before conversion.
#[derive(Debug, Default)]
pub struct RawNamespace {
    pub links: Vec<LinkMessage>,
    pub addresses: Vec<AddressMessage>,
    pub routes: Vec<RouteMessage>,
    pub neighbours: Vec<NeighbourMessage>,
    /// AF_BRIDGE neighbour messages (the bridge FDB).
    pub fdb: Vec<NeighbourMessage>,
    /// This namespace's nsid for each other namespace netview knows, by that namespace's name.
    pub nsids: HashMap<i32, String>,
    pub ip_forward: Option<bool>,
}

/// Which reference of a link still needs a name from another namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefField {
    Peer,
    Parent,
}

/// A veth peer or lower device that lives in another namespace: its name must be read there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRef {
    /// Position of the link in `NamespaceInventory::links`.
    pub link_pos: usize,
    pub field: RefField,
    /// The other namespace, by netview's name for it.
    pub netns: String,
    pub ifindex: u32,
}

/// iproute2's flag names in its print order (`print_link_flags`).
const FLAG_NAMES: &[(LinkFlags, &str)] = &[
    (LinkFlags::Loopback, "LOOPBACK"),
    (LinkFlags::Broadcast, "BROADCAST"),
    (LinkFlags::Pointopoint, "POINTOPOINT"),
    (LinkFlags::Multicast, "MULTICAST"),
    (LinkFlags::Noarp, "NOARP"),
    (LinkFlags::Allmulti, "ALLMULTI"),
    (LinkFlags::Promisc, "PROMISC"),
    (LinkFlags::Controller, "MASTER"),
    (LinkFlags::Port, "SLAVE"),
    (LinkFlags::Debug, "DEBUG"),
    (LinkFlags::Dynamic, "DYNAMIC"),
    (LinkFlags::Automedia, "AUTOMEDIA"),
    (LinkFlags::Portsel, "PORTSEL"),
    (LinkFlags::Notrailers, "NOTRAILERS"),
    (LinkFlags::Up, "UP"),
    (LinkFlags::LowerUp, "LOWER_UP"),
    (LinkFlags::Dormant, "DORMANT"),
    (LinkFlags::Echo, "ECHO"),
];

/// Interface flags as iproute2 prints them, with its `NO-CARRIER` for up-but-not-running.
pub fn flag_names(flags: LinkFlags) -> Vec<String> {
    let mut out = Vec::new();
    if flags.contains(LinkFlags::Up) && !flags.contains(LinkFlags::Running) {
        out.push("NO-CARRIER".to_string());
    }
    for (flag, name) in FLAG_NAMES {
        if flags.contains(*flag) {
            out.push((*name).to_string());
        }
    }
    out
}

pub fn oper_state_name(state: State) -> String {
    match state {
        State::Unknown => "UNKNOWN".into(),
        State::NotPresent => "NOTPRESENT".into(),
        State::Down => "DOWN".into(),
        State::LowerLayerDown => "LOWERLAYERDOWN".into(),
        State::Testing => "TESTING".into(),
        State::Dormant => "DORMANT".into(),
        State::Up => "UP".into(),
        State::Other(n) => n.to_string(),
        _ => "UNKNOWN".into(),
    }
}

pub fn format_mac(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn macvlan_mode_name(mode: MacVlanMode) -> String {
    match mode {
        MacVlanMode::Private => "private".into(),
        MacVlanMode::Vepa => "vepa".into(),
        MacVlanMode::Bridge => "bridge".into(),
        MacVlanMode::Passthrough => "passthru".into(),
        MacVlanMode::Source => "source".into(),
        MacVlanMode::Other(n) => n.to_string(),
        _ => "unknown".into(),
    }
}

fn ipvlan_mode_name(mode: IpVlanMode) -> String {
    match mode {
        IpVlanMode::L2 => "l2".into(),
        IpVlanMode::L3 => "l3".into(),
        IpVlanMode::L3S => "l3s".into(),
        IpVlanMode::Other(n) => n.to_string(),
        _ => "unknown".into(),
    }
}

fn kind_and_mode(msg: &LinkMessage) -> (LinkKind, Option<String>) {
    let mut kind = None;
    let mut mode = None;
    for attr in &msg.attributes {
        if let LinkAttribute::LinkInfo(infos) = attr {
            for info in infos {
                match info {
                    LinkInfo::Kind(k) => kind = Some(k.clone()),
                    LinkInfo::Data(InfoData::MacVlan(d)) => {
                        mode = d.iter().find_map(|a| match a {
                            InfoMacVlan::Mode(m) => Some(macvlan_mode_name(*m)),
                            _ => None,
                        });
                    }
                    LinkInfo::Data(InfoData::MacVtap(d)) => {
                        mode = d.iter().find_map(|a| match a {
                            InfoMacVtap::Mode(m) => Some(macvlan_mode_name(*m)),
                            _ => None,
                        });
                    }
                    LinkInfo::Data(InfoData::IpVlan(d)) => {
                        mode = d.iter().find_map(|a| match a {
                            InfoIpVlan::Mode(m) => Some(ipvlan_mode_name(*m)),
                            _ => None,
                        });
                    }
                    LinkInfo::Data(InfoData::IpVtap(d)) => {
                        mode = d.iter().find_map(|a| match a {
                            InfoIpVtap::Mode(m) => Some(ipvlan_mode_name(*m)),
                            _ => None,
                        });
                    }
                    _ => {}
                }
            }
        }
    }
    let kind = match kind {
        Some(InfoKind::Other(s)) => LinkKind::from_info_kind(&s),
        Some(k) => LinkKind::from_info_kind(&k.to_string()),
        None if msg.header.link_layer_type == LinkLayerType::Loopback => LinkKind::Loopback,
        None => LinkKind::Physical,
    };
    (kind, mode)
}

/// Address scope or route scope number to iproute2's name.
pub fn scope_name(scope: u8) -> String {
    match scope {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

/// Route protocol number to iproute2's name (`/etc/iproute2/rt_protos`).
pub fn protocol_name(proto: u8) -> String {
    match proto {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        18 => "keepalived",
        42 => "babel",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        n => return n.to_string(),
    }
    .to_string()
}

pub fn route_type_name(kind: u8) -> String {
    match kind {
        0 => "unspec",
        1 => "unicast",
        2 => "local",
        3 => "broadcast",
        4 => "anycast",
        5 => "multicast",
        6 => "blackhole",
        7 => "unreachable",
        8 => "prohibit",
        9 => "throw",
        10 => "nat",
        n => return n.to_string(),
    }
    .to_string()
}

fn family_name(family: AddressFamily) -> String {
    match family {
        AddressFamily::Inet => "inet".into(),
        AddressFamily::Inet6 => "inet6".into(),
        AddressFamily::Bridge => "bridge".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn neighbour_addr(a: &NeighbourAddress) -> Option<IpAddr> {
    match a {
        NeighbourAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        NeighbourAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn neighbour_state_name(state: NeighbourState) -> String {
    match state {
        NeighbourState::Incomplete => "INCOMPLETE".into(),
        NeighbourState::Reachable => "REACHABLE".into(),
        NeighbourState::Stale => "STALE".into(),
        NeighbourState::Delay => "DELAY".into(),
        NeighbourState::Probe => "PROBE".into(),
        NeighbourState::Failed => "FAILED".into(),
        NeighbourState::Noarp => "NOARP".into(),
        NeighbourState::Permanent => "PERMANENT".into(),
        NeighbourState::None => "NONE".into(),
        NeighbourState::Other(n) => n.to_string(),
        _ => "UNKNOWN".into(),
    }
}

/// Convert one namespace's dump. Returns the inventory (NAT and errors left empty for the
/// caller) and the references that point into other namespaces, to be named by the caller.
pub fn build(
    name: &str,
    id: u64,
    source: crate::netns::NetnsSource,
    raw: &RawNamespace,
) -> (NamespaceInventory, Vec<PendingRef>) {
    let mut inv = NamespaceInventory::empty(name, id, source);
    inv.ip_forward = raw.ip_forward;
    let names: HashMap<u32, &str> = raw
        .links
        .iter()
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some((m.header.index, n.as_str())),
                _ => None,
            })
        })
        .collect();
    let name_of = |idx: u32| names.get(&idx).map(|s| s.to_string());

    let mut pending = Vec::new();
    inv.links.reserve(raw.links.len());
    for msg in &raw.links {
        let (kind, mode) = kind_and_mode(msg);
        let mut link = Link {
            index: msg.header.index,
            name: name_of(msg.header.index).unwrap_or_default(),
            kind,
            mode,
            state: "UNKNOWN".into(),
            flags: flag_names(msg.header.flags),
            mac: None,
            mtu: None,
            master: None,
            parent: None,
            peer: None,
            addresses: Vec::new(),
        };
        let mut lower: Option<u32> = None;
        let mut link_netnsid: Option<i32> = None;
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::OperState(s) => link.state = oper_state_name(*s),
                LinkAttribute::Address(mac) => link.mac = Some(format_mac(mac)),
                LinkAttribute::Mtu(m) => link.mtu = Some(*m),
                LinkAttribute::Controller(idx) => link.master = name_of(*idx),
                LinkAttribute::Link(idx) => lower = Some(*idx),
                LinkAttribute::LinkNetNsId(nsid) => link_netnsid = Some(*nsid),
                _ => {}
            }
        }
        // A veth's IFLA_LINK is its peer; a macvlan/ipvlan/vlan's is its lower device. With
        // IFLA_LINK_NETNSID the index belongs to another namespace.
        if let Some(idx) = lower.filter(|i| *i != 0 && *i != link.index) {
            let field = if link.kind == LinkKind::Veth {
                RefField::Peer
            } else if link.kind.has_lower_device() {
                RefField::Parent
            } else {
                // Other kinds (tunnels...) use IFLA_LINK differently; not a peer or parent.
                inv.links.push(link);
                continue;
            };
            let reference = match link_netnsid {
                None => LinkRef {
                    netns: Some(name.to_string()),
                    name: name_of(idx),
                },
                Some(nsid) => match raw.nsids.get(&nsid) {
                    Some(other) => {
                        pending.push(PendingRef {
                            link_pos: inv.links.len(),
                            field,
                            netns: other.clone(),
                            ifindex: idx,
                        });
                        LinkRef {
                            netns: Some(other.clone()),
                            name: None,
                        }
                    }
                    // The kernel names a namespace netview cannot see.
                    None => LinkRef {
                        netns: None,
                        name: None,
                    },
                },
            };
            match field {
                RefField::Peer => link.peer = Some(reference),
                RefField::Parent => link.parent = Some(reference),
            }
        }
        inv.links.push(link);
    }

    let pos_by_index: HashMap<u32, usize> = inv
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| (l.index, i))
        .collect();
    for msg in &raw.addresses {
        let mut local = None;
        let mut address = None;
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                _ => {}
            }
        }
        // For IPv4, IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on
        // point-to-point links); IPv6 sends only IFA_ADDRESS.
        let Some(ip) = local.or(address) else {
            continue;
        };
        if let Some(&pos) = pos_by_index.get(&msg.header.index) {
            inv.links[pos].addresses.push(Address {
                ip,
                prefix_len: msg.header.prefix_len,
                scope: scope_name(u8::from(msg.header.scope)),
            });
        }
    }

    for msg in &raw.routes {
        if let Some(route) = convert_route(msg, &name_of) {
            inv.routes.push(route);
        }
    }

    for msg in &raw.neighbours {
        let state = msg.header.state;
        // `ip neigh` hides NOARP and NONE entries (multicast, loopback); so do we.
        if matches!(state, NeighbourState::Noarp | NeighbourState::None) {
            continue;
        }
        let mut ip = None;
        let mut mac = None;
        for attr in &msg.attributes {
            match attr {
                NeighbourAttribute::Destination(a) => ip = neighbour_addr(a),
                NeighbourAttribute::LinkLayerAddress(m) => mac = Some(format_mac(m)),
                _ => {}
            }
        }
        let Some(ip) = ip else { continue };
        inv.neighbours.push(Neighbour {
            ip: ip.to_string(),
            mac,
            dev: name_of(msg.header.ifindex).unwrap_or_else(|| msg.header.ifindex.to_string()),
            state: neighbour_state_name(state),
        });
    }

    inv.fdb = convert_fdb(&raw.fdb, &inv.links, &name_of);
    (inv, pending)
}

fn convert_route(msg: &RouteMessage, name_of: &dyn Fn(u32) -> Option<String>) -> Option<Route> {
    let mut table = u32::from(msg.header.table);
    let mut dst = None;
    let mut gateway = None;
    let mut dev = None;
    let mut metric = None;
    let mut prefsrc = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => dst = route_addr(a),
            RouteAttribute::Gateway(a) => gateway = route_addr(a),
            RouteAttribute::Oif(i) => dev = name_of(*i).or_else(|| Some(i.to_string())),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::PrefSource(a) => prefsrc = route_addr(a),
            _ => {}
        }
    }
    if table != RT_TABLE_MAIN {
        return None;
    }
    let len = msg.header.destination_prefix_length;
    let dst = match dst {
        _ if len == 0 => "default".to_string(),
        Some(ip) => format!("{ip}/{len}"),
        None => return None,
    };
    Some(Route {
        dst,
        gateway: gateway.map(|g| g.to_string()),
        dev,
        scope: scope_name(u8::from(msg.header.scope)),
        protocol: protocol_name(u8::from(msg.header.protocol)),
        metric,
        family: family_name(msg.header.address_family),
        route_type: route_type_name(u8::from(msg.header.kind)),
        prefsrc: prefsrc.map(|p| p.to_string()),
    })
}

/// Bridge FDB entries of bridges and their ports. Other devices' `self` entries (the multicast
/// addresses every NIC lists) are left out: they say nothing about forwarding.
fn convert_fdb(
    msgs: &[NeighbourMessage],
    links: &[Link],
    name_of: &dyn Fn(u32) -> Option<String>,
) -> Vec<FdbEntry> {
    let by_index: HashMap<u32, &Link> = links.iter().map(|l| (l.index, l)).collect();
    let mut out = Vec::new();
    for msg in msgs {
        let Some(link) = by_index.get(&msg.header.ifindex) else {
            continue;
        };
        let is_bridge = link.kind == LinkKind::Bridge;
        let bridge_port = link
            .master
            .as_deref()
            .and_then(|m| links.iter().find(|l| l.name == m))
            .is_some_and(|m| m.kind == LinkKind::Bridge);
        if !is_bridge && !bridge_port {
            continue;
        }
        let mut mac = None;
        let mut vlan = None;
        let mut master = None;
        for attr in &msg.attributes {
            match attr {
                NeighbourAttribute::LinkLayerAddress(m) => mac = Some(format_mac(m)),
                NeighbourAttribute::Vlan(v) => vlan = Some(*v),
                NeighbourAttribute::Controller(i) => master = name_of(*i),
                _ => {}
            }
        }
        let Some(mac) = mac else { continue };
        let mut flags = Vec::new();
        let f = msg.header.flags;
        if f.contains(NeighbourFlags::Own) {
            flags.push("self".to_string());
        }
        if f.contains(NeighbourFlags::Controller) {
            flags.push("master".to_string());
        }
        if f.contains(NeighbourFlags::ExtLearned) {
            flags.push("extern_learn".to_string());
        }
        if f.contains(NeighbourFlags::Offloaded) {
            flags.push("offload".to_string());
        }
        if f.contains(NeighbourFlags::Sticky) {
            flags.push("sticky".to_string());
        }
        match msg.header.state {
            NeighbourState::Permanent => flags.push("permanent".to_string()),
            NeighbourState::Noarp => flags.push("static".to_string()),
            _ => {}
        }
        out.push(FdbEntry {
            mac,
            dev: link.name.clone(),
            master: master.or_else(|| {
                if bridge_port {
                    link.master.clone()
                } else {
                    None
                }
            }),
            flags,
            vlan,
        });
    }
    out
}

/// Fill in names of references into other namespaces, given those namespaces' links by index.
pub fn resolve_pending(
    inv: &mut NamespaceInventory,
    pending: &[PendingRef],
    lookup: &dyn Fn(&str, u32) -> Option<String>,
) {
    for p in pending {
        let Some(link) = inv.links.get_mut(p.link_pos) else {
            continue;
        };
        let target = match p.field {
            RefField::Peer => link.peer.as_mut(),
            RefField::Parent => link.parent.as_mut(),
        };
        if let Some(r) = target {
            r.name = lookup(&p.netns, p.ifindex);
        }
    }
}
