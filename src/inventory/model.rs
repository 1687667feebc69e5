//! The inventory's data model: what netview knows about each namespace. Serialises to the
//! JSON contract documented in docs/json.md (absent values are `null`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::containers::{Container, Network, RuntimeStatus};
use crate::netns::NetnsSource;

/// Everything netview read, one entry per namespace, and the container runtimes' networks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub namespaces: Vec<NamespaceInventory>,
    /// Every network of every runtime that answered (what `docker network ls` lists).
    #[serde(default)]
    pub networks: Vec<Network>,
    /// Each runtime netview asked, and whether it answered.
    #[serde(default)]
    pub runtimes: Vec<RuntimeStatus>,
}

/// One namespace's links, routes, neighbours, bridge FDB, NAT rules and filter chains.
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
    /// The containers whose network namespace this is (host-mode ones on the root namespace).
    #[serde(default)]
    pub containers: Vec<Container>,
    /// `net.ipv4.ip_forward`, or null when it could not be read.
    pub ip_forward: Option<bool>,
    /// `net.bridge.bridge-nf-call-iptables`: whether frames crossing this namespace's bridges
    /// go through its IPv4 netfilter hooks (br_netfilter); false where the module is not
    /// loaded, null when it could not be read.
    #[serde(default)]
    pub bridge_nf_call_iptables: Option<bool>,
    pub links: Vec<Link>,
    pub routes: Vec<Route>,
    pub neighbours: Vec<Neighbour>,
    pub fdb: Vec<FdbEntry>,
    pub nat: Vec<NatRule>,
    /// The filter chains on the forward, input and output hooks and the chains they jump to,
    /// one entry per rule (and one with `rule: null` for a chain without rules).
    #[serde(default)]
    pub filter: Vec<FilterRule>,
    /// IPv4 per-interface settings the packet walk needs (`rp_filter`, `proxy_arp`, a bridge
    /// port's hairpin flag), keyed by interface name, plus `all` for `net.ipv4.conf.all`.
    #[serde(default)]
    pub conf: BTreeMap<String, LinkConf>,
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
            containers: Vec::new(),
            ip_forward: None,
            bridge_nf_call_iptables: None,
            links: Vec::new(),
            routes: Vec::new(),
            neighbours: Vec::new(),
            fdb: Vec::new(),
            nat: Vec::new(),
            filter: Vec::new(),
            conf: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    pub fn link_by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn link_by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The kernel's effective `rp_filter` for `dev`: the larger of `all` and the interface's
    /// own (0 off, 1 strict, 2 loose), or null when either could not be read.
    pub fn rp_filter(&self, dev: &str) -> Option<u8> {
        let all = self.conf.get("all")?.rp_filter?;
        let own = self.conf.get(dev)?.rp_filter?;
        Some(all.max(own))
    }

    /// The kernel's effective `proxy_arp` for `dev`: on when `all` or the interface's own is.
    pub fn proxy_arp(&self, dev: &str) -> Option<bool> {
        let all = self.conf.get("all")?.proxy_arp?;
        let own = self.conf.get(dev)?.proxy_arp?;
        Some(all || own)
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

/// What `net.ipv4.conf.<dev>` (or `all`) says, and for a bridge port its hairpin flag; null
/// when not read (or, for `hairpin`, when the interface is not a bridge port).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkConf {
    pub rp_filter: Option<u8>,
    pub proxy_arp: Option<bool>,
    #[serde(default)]
    pub hairpin: Option<bool>,
}

/// Who wrote a NAT or filter rule, where it can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum NatOwner {
    Docker,
    Netavark,
    Netview,
    Kubernetes,
    Other,
}

impl NatOwner {
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// Which of the kernel's back ends a NAT or filter rule lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatBackend {
    /// nf_tables, whether written by nft itself or by iptables-nft.
    Nftables,
    /// The legacy x_tables `nat` or `filter` table (iptables-legacy).
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
    /// The container whose address the rule names (a DNAT target, a hairpin), by name.
    #[serde(default)]
    pub container: Option<String>,
}

/// One rule of a filter chain (or a rule-less chain), with its chain's hook and policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterRule {
    /// `ip`, `ip6`, `inet`...
    pub family: String,
    pub table: String,
    pub chain: String,
    /// `forward`, `input` or `output` for a base chain; null for a chain reached by jump/goto.
    pub hook: Option<String>,
    /// `accept` or `drop` for a base chain; null for a regular chain.
    pub policy: Option<String>,
    /// A base chain's priority (lower runs first); null for a regular chain.
    #[serde(default)]
    pub priority: Option<i64>,
    /// nft syntax, e.g. `oifname "docker0" ct state related,established accept`; null when the
    /// entry stands for a chain that has no rules.
    pub rule: Option<String>,
    pub owner: NatOwner,
    pub backend: NatBackend,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    fn fixture() -> Inventory {
        let mut ns = NamespaceInventory::empty("nv-host", 4026532001, NetnsSource::Named);
        ns.ip_forward = Some(true);
        ns.links.push(Link {
            index: 4,
            name: "veth1".into(),
            kind: LinkKind::Veth,
            mode: None,
            state: "UP".into(),
            flags: vec!["BROADCAST".into(), "UP".into()],
            mac: Some("02:00:00:00:00:01".into()),
            mtu: Some(1500),
            master: Some("docker0".into()),
            parent: None,
            peer: Some(LinkRef {
                netns: Some("nv-c1".into()),
                name: Some("eth0".into()),
            }),
            addresses: vec![Address {
                ip: "192.168.50.11".parse().unwrap(),
                prefix_len: 24,
                scope: "global".into(),
            }],
        });
        ns.routes.push(Route {
            dst: "default".into(),
            gateway: Some("192.168.50.1".into()),
            dev: Some("enp0s8".into()),
            scope: "global".into(),
            protocol: "static".into(),
            metric: None,
            family: "inet".into(),
            route_type: "unicast".into(),
            prefsrc: None,
        });
        ns.neighbours.push(Neighbour {
            ip: "192.168.50.1".into(),
            mac: None,
            dev: "enp0s8".into(),
            state: "FAILED".into(),
        });
        ns.fdb.push(FdbEntry {
            mac: "02:42:ac:11:00:02".into(),
            dev: "veth1".into(),
            master: Some("docker0".into()),
            flags: vec![],
            vlan: None,
        });
        ns.nat.push(NatRule {
            family: "ip".into(),
            table: "nat".into(),
            chain: "POSTROUTING".into(),
            rule: "ip saddr 172.17.0.0/16 oifname != \"docker0\" masquerade".into(),
            owner: NatOwner::Docker,
            backend: NatBackend::Nftables,
            container: None,
        });
        ns.filter.push(FilterRule {
            family: "ip".into(),
            table: "filter".into(),
            chain: "FORWARD".into(),
            hook: Some("forward".into()),
            policy: Some("drop".into()),
            priority: Some(0),
            rule: Some("jump DOCKER-USER".into()),
            owner: NatOwner::Docker,
            backend: NatBackend::Nftables,
        });
        Inventory {
            namespaces: vec![ns],
            ..Default::default()
        }
    }

    #[test]
    fn json_shape_follows_the_contract() {
        let v = serde_json::to_value(fixture()).unwrap();
        assert_eq!(keys(&v), ["namespaces", "networks", "runtimes"]);
        let ns = &v["namespaces"][0];
        assert_eq!(ns["containers"], json!([]), "an empty list when none");
        for k in [
            "name",
            "id",
            "ip_forward",
            "links",
            "routes",
            "neighbours",
            "fdb",
            "nat",
        ] {
            assert!(ns.get(k).is_some(), "namespace lacks {k}");
        }
        let link = &ns["links"][0];
        for k in [
            "index",
            "name",
            "kind",
            "mode",
            "state",
            "flags",
            "mac",
            "mtu",
            "master",
            "parent",
            "peer",
            "addresses",
        ] {
            assert!(link.get(k).is_some(), "link lacks {k}");
        }
        assert_eq!(link["kind"], json!("veth"));
        assert_eq!(link["mode"], Value::Null, "absent values are null");
        assert_eq!(link["parent"], Value::Null);
        assert_eq!(link["peer"], json!({"netns": "nv-c1", "name": "eth0"}));
        assert_eq!(link["addresses"], json!(["192.168.50.11/24"]));
        let route = &ns["routes"][0];
        for k in ["dst", "gateway", "dev", "scope", "protocol", "metric"] {
            assert!(route.get(k).is_some(), "route lacks {k}");
        }
        assert_eq!(route["dst"], json!("default"));
        assert_eq!(route["metric"], Value::Null);
        assert_eq!(keys(&ns["neighbours"][0]), ["dev", "ip", "mac", "state"]);
        assert_eq!(ns["neighbours"][0]["mac"], Value::Null);
        for k in ["mac", "dev", "master", "flags"] {
            assert!(ns["fdb"][0].get(k).is_some(), "fdb lacks {k}");
        }
        for k in ["family", "table", "chain", "rule", "owner"] {
            assert!(ns["nat"][0].get(k).is_some(), "nat lacks {k}");
        }
        assert_eq!(ns["nat"][0]["owner"], json!("docker"));
        for k in [
            "family", "table", "chain", "hook", "policy", "priority", "rule", "owner",
        ] {
            assert!(ns["filter"][0].get(k).is_some(), "filter lacks {k}");
        }
        assert_eq!(ns["filter"][0]["policy"], json!("drop"));
    }

    #[test]
    fn containers_and_networks_follow_the_contract() {
        use crate::containers::{Container, ContainerAddress, Network, Runtime};
        let mut inv = fixture();
        inv.namespaces[0].containers.push(Container {
            runtime: Runtime::Podman,
            id: "ab12".into(),
            name: "web".into(),
            image: "busybox".into(),
            state: "running".into(),
            networks: vec!["podman".into()],
            pid: None,
            addresses: vec![ContainerAddress {
                network: "podman".into(),
                ip: Some("10.88.0.2".parse().unwrap()),
                mac: None,
            }],
            sandbox_key: Some("/run/netns/netns-1".into()),
        });
        inv.networks.push(Network {
            runtime: Runtime::Docker,
            id: "cd34".into(),
            name: "bridge".into(),
            driver: "bridge".into(),
            subnets: vec!["172.17.0.0/16".parse().unwrap()],
            gateways: vec!["172.17.0.1".parse().unwrap()],
            interface: Some("docker0".into()),
            parent: None,
            mode: None,
            containers: vec!["web".into()],
        });
        let v = serde_json::to_value(&inv).unwrap();
        let c = &v["namespaces"][0]["containers"][0];
        assert_eq!(
            keys(c),
            [
                "addresses",
                "id",
                "image",
                "name",
                "networks",
                "pid",
                "runtime",
                "state"
            ]
        );
        assert_eq!(c["runtime"], json!("podman"));
        assert_eq!(c["pid"], Value::Null);
        assert_eq!(c["networks"], json!(["podman"]));
        let n = &v["networks"][0];
        assert_eq!(
            keys(n),
            [
                "containers",
                "driver",
                "gateways",
                "id",
                "interface",
                "mode",
                "name",
                "parent",
                "runtime",
                "subnets"
            ]
        );
        assert_eq!(n["subnets"], json!(["172.17.0.0/16"]));
        assert_eq!(n["gateways"], json!(["172.17.0.1"]));
        assert_eq!(n["parent"], Value::Null);
        // What an older netview wrote (no containers, networks or runtimes) still reads.
        let old = json!({"namespaces": [{"name": "root", "id": 1, "source": "root",
            "process": null, "ip_forward": null, "links": [], "routes": [], "neighbours": [],
            "fdb": [], "nat": []}]});
        let back: Inventory = serde_json::from_value(old).unwrap();
        assert!(back.networks.is_empty() && back.namespaces[0].containers.is_empty());
    }

    #[test]
    fn json_round_trips() {
        let inv = fixture();
        let text = serde_json::to_string(&inv).unwrap();
        let back: Inventory = serde_json::from_str(&text).unwrap();
        assert_eq!(back, inv);
    }

    #[test]
    fn unknown_kinds_keep_their_kernel_name() {
        assert_eq!(
            serde_json::to_value(LinkKind::Other("ifb".into())).unwrap(),
            json!("ifb")
        );
        assert_eq!(LinkKind::from_info_kind("macvlan"), LinkKind::Macvlan);
        let k: LinkKind = serde_json::from_value(json!("geneve")).unwrap();
        assert_eq!(k, LinkKind::Other("geneve".into()));
    }

    #[test]
    fn rp_filter_is_the_larger_of_all_and_the_interface_and_proxy_arp_either() {
        let mut ns = NamespaceInventory::empty("n", 1, NetnsSource::Named);
        assert_eq!(ns.rp_filter("eth0"), None, "nothing read: unknown");
        let conf = |rp, proxy| LinkConf {
            rp_filter: Some(rp),
            proxy_arp: Some(proxy),
            hairpin: None,
        };
        ns.conf.insert("all".into(), conf(0, false));
        ns.conf.insert("eth0".into(), conf(1, false));
        ns.conf.insert("eth1".into(), conf(2, true));
        assert_eq!(ns.rp_filter("eth0"), Some(1));
        assert_eq!(ns.rp_filter("eth1"), Some(2));
        assert_eq!(ns.proxy_arp("eth0"), Some(false));
        assert_eq!(ns.proxy_arp("eth1"), Some(true));
        ns.conf.insert("all".into(), conf(2, true));
        assert_eq!(ns.rp_filter("eth0"), Some(2));
        assert_eq!(ns.proxy_arp("eth0"), Some(true));
        assert_eq!(ns.rp_filter("eth9"), None);
    }

    #[test]
    fn inventories_without_conf_still_read() {
        let mut v = serde_json::to_value(fixture()).unwrap();
        v["namespaces"][0].as_object_mut().unwrap().remove("conf");
        let back: Inventory = serde_json::from_value(v).unwrap();
        assert!(back.namespaces[0].conf.is_empty());
    }
}
