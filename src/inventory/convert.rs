//! Netlink messages to the inventory model. Pure functions: unit-tested without root.
//!
//! Names and orders follow iproute2 (`ip -d link`, `ip route`, `ip neigh`, `bridge fdb`) so a
//! user comparing the two sees the same words.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoIpVlan, InfoIpVtap, InfoKind, InfoMacVlan, InfoMacVtap,
    InfoPortData, IpVlanMode, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
    MacVlanMode, State,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::AddressFamily;

use super::model::{
    Address, FdbEntry, Link, LinkConf, LinkKind, LinkRef, NamespaceInventory, Neighbour, Route,
};

/// The main routing table's id (`RT_TABLE_MAIN`).
const RT_TABLE_MAIN: u32 = 254;

/// Everything dumped from one namespace, before conversion.
#[derive(Debug, Default)]
pub struct RawNamespace {
    pub links: Vec<RawLink>,
    pub addresses: Vec<AddressMessage>,
    pub routes: Vec<RouteMessage>,
    pub neighbours: Vec<NeighbourMessage>,
    /// AF_BRIDGE neighbour messages (the bridge FDB).
    pub fdb: Vec<NeighbourMessage>,
    /// This namespace's nsid for each other namespace netview knows, by that namespace's name.
    pub nsids: HashMap<i32, String>,
    pub ip_forward: Option<bool>,
    /// `net.bridge.bridge-nf-call-iptables` (false where br_netfilter is not loaded).
    pub bridge_nf_call_iptables: Option<bool>,
    /// `net.ipv4.conf.<name>` settings read from /proc/sys, by interface name and `all`.
    pub conf: BTreeMap<String, LinkConf>,
}

/// What netview keeps of one RTM_NEWLINK message. Messages are reduced to this as they
/// arrive, so a dump of 10,000 links never holds 10,000 fully parsed messages (with their
/// statistics and per-family configuration) at once.
#[derive(Debug, Clone, PartialEq)]
pub struct RawLink {
    pub index: u32,
    pub name: String,
    pub kind: LinkKind,
    pub mode: Option<String>,
    pub flags: LinkFlags,
    pub state: Option<State>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    pub controller: Option<u32>,
    /// IFLA_LINK: a veth's peer or a stacked device's lower device.
    pub lower: Option<u32>,
    pub link_netnsid: Option<i32>,
    /// A bridge port's hairpin flag (IFLA_BRPORT_MODE in the port data).
    pub hairpin: Option<bool>,
}

impl RawLink {
    pub fn from_message(msg: &LinkMessage) -> Self {
        let (kind, mode) = kind_and_mode(msg);
        let mut raw = RawLink {
            index: msg.header.index,
            name: String::new(),
            kind,
            mode,
            flags: msg.header.flags,
            state: None,
            mac: None,
            mtu: None,
            controller: None,
            lower: None,
            link_netnsid: None,
            hairpin: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => raw.name = n.clone(),
                LinkAttribute::OperState(s) => raw.state = Some(*s),
                LinkAttribute::Address(mac) => raw.mac = Some(format_mac(mac)),
                LinkAttribute::Mtu(m) => raw.mtu = Some(*m),
                LinkAttribute::Controller(idx) => raw.controller = Some(*idx),
                LinkAttribute::Link(idx) => raw.lower = Some(*idx),
                LinkAttribute::LinkNetNsId(nsid) => raw.link_netnsid = Some(*nsid),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::PortData(InfoPortData::BridgePort(port)) = info {
                            raw.hairpin = port.iter().find_map(|a| match a {
                                InfoBridgePort::HairpinMode(on) => Some(*on),
                                _ => None,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        raw
    }
}

/// Whether a route message belongs to the main table (the only one the inventory shows).
pub fn is_main_table(msg: &RouteMessage) -> bool {
    let mut table = u32::from(msg.header.table);
    for attr in &msg.attributes {
        if let RouteAttribute::Table(t) = attr {
            table = *t;
        }
    }
    table == RT_TABLE_MAIN
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
    inv.bridge_nf_call_iptables = raw.bridge_nf_call_iptables;
    inv.conf = raw.conf.clone();
    for rl in &raw.links {
        if let Some(on) = rl.hairpin {
            inv.conf.entry(rl.name.clone()).or_default().hairpin = Some(on);
        }
    }
    let names: HashMap<u32, &str> = raw
        .links
        .iter()
        .map(|l| (l.index, l.name.as_str()))
        .collect();
    let name_of = |idx: u32| names.get(&idx).map(|s| s.to_string());

    let mut pending = Vec::new();
    inv.links.reserve(raw.links.len());
    for rl in &raw.links {
        let mut link = Link {
            index: rl.index,
            name: rl.name.clone(),
            kind: rl.kind.clone(),
            mode: rl.mode.clone(),
            state: rl
                .state
                .map(oper_state_name)
                .unwrap_or_else(|| "UNKNOWN".into()),
            flags: flag_names(rl.flags),
            mac: rl.mac.clone(),
            mtu: rl.mtu,
            master: rl.controller.and_then(name_of),
            parent: None,
            peer: None,
            addresses: Vec::new(),
        };
        let lower = rl.lower;
        let link_netnsid = rl.link_netnsid;
        // A veth's IFLA_LINK is its peer; a macvlan/ipvlan/vlan's is its lower device. With
        // IFLA_LINK_NETNSID the index belongs to another namespace.
        if let Some(idx) = lower.filter(|i| *i != 0 && (link_netnsid.is_some() || *i != link.index))
        {
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
    if !is_main_table(msg) {
        return None;
    }
    let mut dst = None;
    let mut gateway = None;
    let mut dev = None;
    let mut metric = None;
    let mut prefsrc = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = route_addr(a),
            RouteAttribute::Gateway(a) => gateway = route_addr(a),
            RouteAttribute::Oif(i) => dev = name_of(*i).or_else(|| Some(i.to_string())),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::PrefSource(a) => prefsrc = route_addr(a),
            _ => {}
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::NetnsSource;
    use netlink_packet_route::address::AddressScope;
    use netlink_packet_route::link::{LinkLayerType, LinkMessage};
    use netlink_packet_route::route::{RouteProtocol, RouteScope, RouteType};

    fn link(index: u32, name: &str, flags: LinkFlags, attrs: Vec<LinkAttribute>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = flags;
        m.header.link_layer_type = LinkLayerType::Ether;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.extend(attrs);
        m
    }

    fn kind(k: InfoKind) -> LinkAttribute {
        LinkAttribute::LinkInfo(vec![LinkInfo::Kind(k)])
    }

    fn up() -> LinkFlags {
        LinkFlags::Up
            | LinkFlags::Running
            | LinkFlags::LowerUp
            | LinkFlags::Broadcast
            | LinkFlags::Multicast
    }

    fn sample() -> RawNamespace {
        let mut lo = link(
            1,
            "lo",
            LinkFlags::Up | LinkFlags::Loopback | LinkFlags::Running | LinkFlags::LowerUp,
            vec![],
        );
        lo.header.link_layer_type = LinkLayerType::Loopback;
        let mut raw = RawNamespace {
            links: [
                lo,
                link(
                    2,
                    "enp0s8",
                    up() | LinkFlags::Promisc,
                    vec![
                        LinkAttribute::Address(vec![0x08, 0, 0x27, 0xaa, 0xbb, 0xcc]),
                        LinkAttribute::Mtu(1500),
                        LinkAttribute::OperState(State::Up),
                    ],
                ),
                link(
                    3,
                    "docker0",
                    up() | LinkFlags::Controller,
                    vec![kind(InfoKind::Bridge), LinkAttribute::OperState(State::Up)],
                ),
                // A veth port of docker0 whose peer lives in another namespace (nsid 0).
                link(
                    4,
                    "veth1",
                    up(),
                    vec![
                        kind(InfoKind::Veth),
                        LinkAttribute::Controller(3),
                        LinkAttribute::Link(2),
                        LinkAttribute::LinkNetNsId(0),
                    ],
                ),
                // A macvlan child of enp0s8 in this namespace.
                link(
                    5,
                    "mv0",
                    up(),
                    vec![
                        LinkAttribute::LinkInfo(vec![
                            LinkInfo::Kind(InfoKind::MacVlan),
                            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                                MacVlanMode::Private,
                            )])),
                        ]),
                        LinkAttribute::Link(2),
                    ],
                ),
                // A veth pair inside this namespace.
                link(
                    6,
                    "va",
                    LinkFlags::Broadcast,
                    vec![
                        kind(InfoKind::Veth),
                        LinkAttribute::Link(7),
                        LinkAttribute::OperState(State::Down),
                    ],
                ),
                link(
                    7,
                    "vb",
                    LinkFlags::Broadcast,
                    vec![kind(InfoKind::Veth), LinkAttribute::Link(6)],
                ),
                // Points into a namespace netview does not know (nsid 9).
                link(
                    8,
                    "vx",
                    up(),
                    vec![
                        kind(InfoKind::Veth),
                        LinkAttribute::Link(3),
                        LinkAttribute::LinkNetNsId(9),
                    ],
                ),
            ]
            .iter()
            .map(RawLink::from_message)
            .collect(),
            ..Default::default()
        };
        raw.nsids.insert(0, "nv-c1".into());
        raw.ip_forward = Some(true);
        raw.bridge_nf_call_iptables = Some(true);

        let mut a = AddressMessage::default();
        a.header.index = 2;
        a.header.prefix_len = 24;
        a.header.scope = AddressScope::Universe;
        a.attributes = vec![
            AddressAttribute::Address("192.168.50.11".parse().unwrap()),
            AddressAttribute::Local("192.168.50.11".parse().unwrap()),
        ];
        raw.addresses.push(a);

        let mut r = RouteMessage::default();
        r.header.address_family = AddressFamily::Inet;
        r.header.table = 254;
        r.header.protocol = RouteProtocol::Static;
        r.header.scope = RouteScope::Universe;
        r.header.kind = RouteType::Unicast;
        r.attributes = vec![
            RouteAttribute::Gateway(RouteAddress::Inet("192.168.50.1".parse().unwrap())),
            RouteAttribute::Oif(2),
        ];
        raw.routes.push(r.clone());
        // A local-table route is not shown.
        let mut local = r.clone();
        local.header.table = 255;
        local.attributes = vec![
            RouteAttribute::Table(255),
            RouteAttribute::Destination(RouteAddress::Inet("127.0.0.1".parse().unwrap())),
        ];
        local.header.destination_prefix_length = 32;
        raw.routes.push(local);

        let mut n = NeighbourMessage::default();
        n.header.family = AddressFamily::Inet;
        n.header.ifindex = 2;
        n.header.state = NeighbourState::Reachable;
        n.attributes = vec![
            NeighbourAttribute::Destination(NeighbourAddress::Inet(
                "192.168.50.12".parse().unwrap(),
            )),
            NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 0, 0x12]),
        ];
        raw.neighbours.push(n.clone());
        let mut noarp = n.clone();
        noarp.header.state = NeighbourState::Noarp;
        raw.neighbours.push(noarp);

        let mut f = NeighbourMessage::default();
        f.header.family = AddressFamily::Bridge;
        f.header.ifindex = 4;
        f.header.flags = NeighbourFlags::Controller;
        f.attributes = vec![
            NeighbourAttribute::LinkLayerAddress(vec![2, 0x42, 0xac, 0x11, 0, 2]),
            NeighbourAttribute::Controller(3),
        ];
        raw.fdb.push(f);
        // enp0s8 is no bridge port: its self entries are not FDB of a bridge.
        let mut other = NeighbourMessage::default();
        other.header.ifindex = 2;
        other.header.flags = NeighbourFlags::Own;
        other.attributes = vec![NeighbourAttribute::LinkLayerAddress(vec![
            0x33, 0x33, 0, 0, 0, 1,
        ])];
        raw.fdb.push(other);
        raw
    }

    #[test]
    fn links_convert_with_kind_mode_flags_and_refs() {
        let (inv, pending) = build("nv-host", 42, NetnsSource::Named, &sample());
        assert_eq!(inv.ip_forward, Some(true));
        assert_eq!(inv.bridge_nf_call_iptables, Some(true));
        let lo = inv.link_by_name("lo").unwrap();
        assert_eq!(lo.kind, LinkKind::Loopback);
        let enp = inv.link_by_name("enp0s8").unwrap();
        assert_eq!(enp.kind, LinkKind::Physical);
        assert_eq!(enp.mac.as_deref(), Some("08:00:27:aa:bb:cc"));
        assert_eq!(enp.mtu, Some(1500));
        assert_eq!(enp.state, "UP");
        assert_eq!(
            enp.flags,
            ["BROADCAST", "MULTICAST", "PROMISC", "UP", "LOWER_UP"]
        );
        assert_eq!(enp.addresses[0].to_string(), "192.168.50.11/24");
        assert_eq!(enp.addresses[0].scope, "global");

        let docker0 = inv.link_by_name("docker0").unwrap();
        assert_eq!(docker0.kind, LinkKind::Bridge);
        assert!(docker0.has_flag("MASTER"));

        let veth1 = inv.link_by_name("veth1").unwrap();
        assert_eq!(veth1.master.as_deref(), Some("docker0"));
        assert_eq!(
            veth1.peer,
            Some(LinkRef {
                netns: Some("nv-c1".into()),
                name: None
            })
        );
        assert_eq!(
            pending,
            vec![PendingRef {
                link_pos: 3,
                field: RefField::Peer,
                netns: "nv-c1".into(),
                ifindex: 2
            }]
        );

        let mv = inv.link_by_name("mv0").unwrap();
        assert_eq!(mv.kind, LinkKind::Macvlan);
        assert_eq!(mv.mode.as_deref(), Some("private"));
        assert_eq!(
            mv.parent,
            Some(LinkRef {
                netns: Some("nv-host".into()),
                name: Some("enp0s8".into())
            })
        );
        assert_eq!(mv.peer, None);

        let va = inv.link_by_name("va").unwrap();
        assert_eq!(va.peer.as_ref().unwrap().name.as_deref(), Some("vb"));
        assert_eq!(va.state, "DOWN");
        assert_eq!(va.flags, ["BROADCAST"]);

        let vx = inv.link_by_name("vx").unwrap();
        assert_eq!(
            vx.peer,
            Some(LinkRef {
                netns: None,
                name: None
            })
        );
    }

    #[test]
    fn pending_refs_resolve_by_lookup() {
        let (mut inv, pending) = build("nv-host", 42, NetnsSource::Named, &sample());
        resolve_pending(&mut inv, &pending, &|ns, idx| {
            (ns == "nv-c1" && idx == 2).then(|| "eth0".to_string())
        });
        assert_eq!(
            inv.link_by_name("veth1").unwrap().peer,
            Some(LinkRef {
                netns: Some("nv-c1".into()),
                name: Some("eth0".into())
            })
        );
    }

    #[test]
    fn routes_neighbours_and_fdb() {
        let (inv, _) = build("nv-host", 42, NetnsSource::Named, &sample());
        assert_eq!(inv.routes.len(), 1, "only the main table");
        let r = &inv.routes[0];
        assert_eq!(r.dst, "default");
        assert_eq!(r.gateway.as_deref(), Some("192.168.50.1"));
        assert_eq!(r.dev.as_deref(), Some("enp0s8"));
        assert_eq!(r.protocol, "static");
        assert_eq!(r.scope, "global");
        assert_eq!(r.family, "inet");

        assert_eq!(
            inv.neighbours.len(),
            1,
            "NOARP entries are hidden like ip neigh does"
        );
        assert_eq!(inv.neighbours[0].mac.as_deref(), Some("02:00:00:00:00:12"));
        assert_eq!(inv.neighbours[0].state, "REACHABLE");

        assert_eq!(inv.fdb.len(), 1);
        assert_eq!(inv.fdb[0].dev, "veth1");
        assert_eq!(inv.fdb[0].master.as_deref(), Some("docker0"));
        assert_eq!(inv.fdb[0].flags, ["master"]);
    }

    #[test]
    fn a_parent_in_another_namespace_may_have_the_childs_index() {
        // A lab's macvlan child is eth0 (index 2) in its namespace; its parent enp0s8 is
        // index 2 in the host's. IFLA_LINK equal to the link's own index is still a parent
        // when IFLA_LINK_NETNSID says it belongs elsewhere.
        let mut raw = RawNamespace {
            links: [link(
                2,
                "eth0",
                up(),
                vec![
                    LinkAttribute::LinkInfo(vec![
                        LinkInfo::Kind(InfoKind::MacVlan),
                        LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                            MacVlanMode::Bridge,
                        )])),
                    ]),
                    LinkAttribute::Link(2),
                    LinkAttribute::LinkNetNsId(0),
                ],
            )]
            .iter()
            .map(RawLink::from_message)
            .collect(),
            ..Default::default()
        };
        raw.nsids.insert(0, "nv-host".into());
        let (inv, pending) = build("nv-m1", 7, NetnsSource::Named, &raw);
        assert_eq!(
            inv.links[0].parent,
            Some(LinkRef {
                netns: Some("nv-host".into()),
                name: None
            })
        );
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].ifindex, 2);
    }

    #[test]
    fn names_follow_iproute2() {
        assert_eq!(protocol_name(2), "kernel");
        assert_eq!(protocol_name(250), "250");
        assert_eq!(scope_name(253), "link");
        assert_eq!(route_type_name(7), "unreachable");
        assert_eq!(flag_names(LinkFlags::Up), ["NO-CARRIER", "UP"]);
        assert_eq!(format_mac(&[0, 1, 0xab]), "00:01:ab");
    }

    #[test]
    fn bridge_ports_keep_their_hairpin_flag_and_sysctls_carry_over() {
        let port = |index, name, on| {
            link(
                index,
                name,
                up(),
                vec![
                    LinkAttribute::Controller(3),
                    LinkAttribute::LinkInfo(vec![
                        LinkInfo::Kind(InfoKind::Veth),
                        LinkInfo::PortKind(netlink_packet_route::link::InfoPortKind::Bridge),
                        LinkInfo::PortData(InfoPortData::BridgePort(vec![
                            InfoBridgePort::HairpinMode(on),
                        ])),
                    ]),
                ],
            )
        };
        let mut raw = RawNamespace {
            links: [port(4, "p-on", true), port(5, "p-off", false)]
                .iter()
                .map(RawLink::from_message)
                .collect(),
            ..Default::default()
        };
        raw.conf.insert(
            "p-on".into(),
            LinkConf {
                rp_filter: Some(1),
                proxy_arp: Some(false),
                hairpin: None,
            },
        );
        let (inv, _) = build("nv-switch", 7, NetnsSource::Named, &raw);
        assert_eq!(inv.conf["p-on"].hairpin, Some(true));
        assert_eq!(inv.conf["p-on"].rp_filter, Some(1));
        assert_eq!(inv.conf["p-off"].hairpin, Some(false));
    }
}
