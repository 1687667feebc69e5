//! The inventory's data model: what netview knows about each namespace. Serialises to the
//! JSON contract documented in docs/json.md (absent values are `null`).

use serde::{Deserialize, Serialize};

use crate::netns::NetnsSource;

/// Everything netview read, one entry per namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub namespaces: Vec<NamespaceInventory>,
}

/// One namespace's links, routes, neighbours, bridge FDB and NAT rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceInventory {
    /// `root`, the name in /run/netns, or `pid:N`.
    pub name: String,
    /// The namespace's inode number.
    pub id: u64,
    pub source: NetnsSource,
    /// For process-held namespaces, which process holds it.
    pub process: Option<String>,
    /// Whether this namespace was created by netview (an `nv-` name recorded in its state).
    #[serde(default)]
    pub netview: bool,
    /// `net.ipv4.ip_forward`, or null when it could not be read.
    pub ip_forward: Option<bool>,
    pub links: Vec<Link>,
    pub routes: Vec<Route>,
    pub neighbours: Vec<Neighbour>,
    pub fdb: Vec<FdbEntry>,
    pub nat: Vec<NatRule>,
    /// What could not be read (missing permission, missing nft binary...), one line each.
    #[serde(default)]
    pub errors: Vec<String>,
}

impl NamespaceInventory {
    pub fn empty(name: &str, id: u64, source: NetnsSource) -> Self {
        Self {
            name: name.to_string(),
            id,
            source,
            process: None,
            netview: false,
            ip_forward: None,
            links: Vec::new(),
            routes: Vec::new(),
            neighbours: Vec::new(),
            fdb: Vec::new(),
            nat: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn link_by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn link_by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// Ports of the bridge called `bridge`, in index order.
    pub fn bridge_ports<'a>(&'a self, bridge: &'a str) -> impl Iterator<Item = &'a Link> + 'a {
        self.links
            .iter()
            .filter(move |l| l.master.as_deref() == Some(bridge))
    }
}

/// A link's kind, as `ip -d link` reports it in `linkinfo.info_kind`, with two extra kinds
/// for links that have none: `loopback` and `physical`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    Loopback,
    Physical,
    Veth,
    Bridge,
    Macvlan,
    Macvtap,
    Ipvlan,
    Ipvtap,
    Vlan,
    Vxlan,
    Tun,
    Dummy,
    Bond,
    Wireguard,
    /// Any other kind, by the kernel's name for it.
    #[serde(untagged)]
    Other(String),
}

impl LinkKind {
    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Physical => "physical",
            LinkKind::Veth => "veth",
            LinkKind::Bridge => "bridge",
            LinkKind::Macvlan => "macvlan",
            LinkKind::Macvtap => "macvtap",
            LinkKind::Ipvlan => "ipvlan",
            LinkKind::Ipvtap => "ipvtap",
            LinkKind::Vlan => "vlan",
            LinkKind::Vxlan => "vxlan",
            LinkKind::Tun => "tun",
            LinkKind::Dummy => "dummy",
            LinkKind::Bond => "bond",
            LinkKind::Wireguard => "wireguard",
            LinkKind::Other(s) => s,
        }
    }

    /// Map the kernel's `IFLA_INFO_KIND` string.
    pub fn from_info_kind(kind: &str) -> Self {
        match kind {
            "veth" => LinkKind::Veth,
            "bridge" => LinkKind::Bridge,
            "macvlan" => LinkKind::Macvlan,
            "macvtap" => LinkKind::Macvtap,
            "ipvlan" => LinkKind::Ipvlan,
            "ipvtap" => LinkKind::Ipvtap,
            "vlan" => LinkKind::Vlan,
            "vxlan" => LinkKind::Vxlan,
            "tun" => LinkKind::Tun,
            "dummy" => LinkKind::Dummy,
            "bond" => LinkKind::Bond,
            "wireguard" => LinkKind::Wireguard,
            other => LinkKind::Other(other.to_string()),
        }
    }

    /// Kinds whose `parent` is a lower device they are stacked on.
    pub fn has_lower_device(&self) -> bool {
        matches!(
            self,
            LinkKind::Macvlan
                | LinkKind::Macvtap
                | LinkKind::Ipvlan
                | LinkKind::Ipvtap
                | LinkKind::Vlan
        )
    }
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A link in another (or the same) namespace: a veth's peer, a macvlan's parent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkRef {
    /// The namespace's name as netview names it, or null when the kernel reports a peer
    /// namespace netview cannot see.
    pub netns: Option<String>,
    /// The link's name, or null when it could not be resolved.
    pub name: Option<String>,
}

/// An address on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub ip: std::net::IpAddr,
    pub prefix_len: u8,
    /// `global`, `link`, `host`, `site` or a number.
    pub scope: String,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix_len)
    }
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: LinkKind,
    /// macvlan/macvtap mode (`bridge`, `private`, `vepa`, `passthru`, `source`) or
    /// ipvlan/ipvtap mode (`l2`, `l3`, `l3s`); null otherwise.
    pub mode: Option<String>,
    /// Operational state as iproute2 prints it: `UP`, `DOWN`, `UNKNOWN`, `LOWERLAYERDOWN`...
    pub state: String,
    /// Interface flags as iproute2 prints them: `BROADCAST`, `UP`, `LOWER_UP`, `PROMISC`...
    pub flags: Vec<String>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// The bridge (or bond...) this link is enslaved to, in the same namespace.
    pub master: Option<String>,
    /// For macvlan/ipvlan/vlan: the lower device, with its namespace.
    pub parent: Option<LinkRef>,
    /// For veth: the other end, with its namespace.
    pub peer: Option<LinkRef>,
    /// Addresses as `ip/prefix` strings in JSON.
    #[serde(with = "address_strings")]
    pub addresses: Vec<Address>,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// `addresses` is a list of `ip/prefix` strings in the JSON contract; the scope stays in the
/// in-memory model for the UI.
mod address_strings {
    use super::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(addrs: &[Address], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(addrs.iter().map(|a| a.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Address>, D::Error> {
        let raw: Vec<String> = Vec::deserialize(d)?;
        raw.iter()
            .map(|s| {
                let net: ipnet::IpNet = s.parse().map_err(serde::de::Error::custom)?;
                Ok(Address {
                    ip: net.addr(),
                    prefix_len: net.prefix_len(),
                    scope: "global".into(),
                })
            })
            .collect()
    }
}

/// A route of the main table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// `default` or `prefix/len`.
    pub dst: String,
    pub gateway: Option<String>,
    pub dev: Option<String>,
    /// `universe` (printed as global by some tools), `link`, `host`...
    pub scope: String,
    /// `kernel`, `boot`, `static`, `dhcp`, `ra`... or a number.
    pub protocol: String,
    pub metric: Option<u32>,
    /// `inet` or `inet6`.
    pub family: String,
    /// `unicast`, `local`, `broadcast`, `unreachable`... (main table holds mostly unicast).
    #[serde(rename = "type")]
    pub route_type: String,
    pub prefsrc: Option<String>,
}

/// A neighbour (ARP or NDP) entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour {
    pub ip: String,
    pub mac: Option<String>,
    pub dev: String,
    /// `REACHABLE`, `STALE`, `PERMANENT`, `FAILED`, `NOARP`... joined with `,` when several.
    pub state: String,
}

/// A bridge forwarding database entry (what `bridge fdb` shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    pub mac: String,
    /// The port the MAC was learned on (or the bridge itself).
    pub dev: String,
    /// The bridge the port belongs to.
    pub master: Option<String>,
    /// `self`, `master`, `permanent`, `static`, `offload`... as `bridge fdb` prints them.
    pub flags: Vec<String>,
    pub vlan: Option<u16>,
}

/// Who wrote a NAT rule, where it can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NatOwner {
    Docker,
    Netavark,
    Netview,
    Kubernetes,
    Other,
}

impl NatOwner {
    pub fn as_str(&self) -> &'static str {
        match self {
            NatOwner::Docker => "docker",
            NatOwner::Netavark => "netavark",
            NatOwner::Netview => "netview",
            NatOwner::Kubernetes => "kubernetes",
            NatOwner::Other => "other",
        }
    }
}

/// Which of the kernel's NAT back ends a rule lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatBackend {
    /// nf_tables, whether written by nft itself or by iptables-nft.
    Nftables,
    /// The legacy x_tables `nat` table (iptables-legacy).
    IptablesLegacy,
}

/// One rule of a NAT chain, shown readably.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatRule {
    /// `ip`, `ip6`, `inet`...
    pub family: String,
    pub table: String,
    pub chain: String,
    /// nft syntax, e.g. `ip saddr 172.17.0.0/16 oifname != "docker0" masquerade`.
    pub rule: String,
    pub owner: NatOwner,
    pub backend: NatBackend,
}
