//! The lab's endpoints as the CLI lists them and probes consume them.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::ops::Ns;
use super::spec::{NetMode, NetworkMode, Publish};
use super::state::LabState;
use super::world::NODE_IFNAME;

/// What an endpoint is in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Host,
    Peer,
    Router,
    Container,
}

/// One endpoint: a world node or a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub role: Role,
    /// The container's network mode with its driver's mode; None for world nodes. In JSON it
    /// is two fields, `mode` (the driver) and `submode` (macvlan/ipvlan's mode, else null).
    #[serde(flatten, with = "mode_fields")]
    pub mode: Option<NetMode>,
    /// The namespace as `ip netns` shows it; None for host mode's shared stack (and for the
    /// host itself in real mode, where it is netview's own namespace).
    pub netns: Option<String>,
    /// The namespace whose stack this endpoint uses, to enter for probes: Some(name), or None
    /// for netview's own namespace (real mode's host).
    pub stack_netns: Option<String>,
    pub ifname: String,
    /// The main address.
    pub ip: Option<Ipv4Addr>,
    pub mac: Option<String>,
    /// The link this endpoint hangs off: docker0 for bridge, the parent for macvlan/ipvlan.
    pub parent: Option<String>,
    /// Every address (the host has its LAN address and docker0's; the router its far one).
    pub addresses: Vec<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    /// Bridge mode: masquerade on.
    pub nat: bool,
    /// Hairpin on the host's switch port (lab-wide).
    pub hairpin: bool,
    /// A host shim bridges the host to this macvlan child's range.
    pub host_shim: bool,
    /// The parent was put in promiscuous mode for this child.
    pub promisc: bool,
    pub publish: Vec<Publish>,
}

/// Every endpoint of the lab: host, peer and router (sandbox), then the containers.
pub fn endpoints(st: &LabState) -> Vec<Endpoint> {
    let hairpin = st.spec.options.hairpin;
    let host_ns = st.host_ns.name().map(String::from);
    let node = |name: &str, role: Role, ns: Option<String>, ifname: &str| Endpoint {
        name: name.into(),
        role,
        mode: None,
        netns: ns.clone(),
        stack_netns: ns,
        ifname: ifname.into(),
        ip: None,
        mac: None,
        parent: None,
        addresses: Vec::new(),
        gateway: None,
        nat: false,
        hairpin,
        host_shim: false,
        promisc: false,
        publish: Vec::new(),
    };
    let mut out = Vec::new();
    let mut host = node(
        "host",
        Role::Host,
        host_ns.clone(),
        st.spec.host_lan_ifname(),
    );
    host.mac = st.host.mac.clone();
    host.addresses = st.host.addresses.clone();
    if st.docker_ready {
        host.addresses.push(st.spec.docker.address);
    }
    host.addresses.extend(st.shims.iter().map(|s| s.ip));
    host.ip = host.addresses.first().map(|a| a.addr());
    host.gateway = (!st.spec.options.real).then_some(st.spec.host.gateway);
    out.push(host);
    if !st.spec.options.real {
        for (name, role, facts) in [
            ("peer", Role::Peer, &st.peer),
            ("router", Role::Router, &st.router),
        ] {
            let mut e = node(name, role, Some(st.ns_name(name)), NODE_IFNAME);
            e.mac = facts.mac.clone();
            e.addresses = facts.addresses.clone();
            e.ip = e.addresses.first().map(|a| a.addr());
            if role == Role::Peer {
                e.gateway = Some(st.spec.host.gateway);
            }
            out.push(e);
        }
    }
    for c in &st.containers {
        let shared = c.spec.mode == NetworkMode::Host;
        let mut e = node(&c.spec.name, Role::Container, c.netns.clone(), &c.ifname);
        e.mode = Some(c.spec.net_mode());
        e.stack_netns = if shared {
            host_ns.clone()
        } else {
            c.netns.clone()
        };
        e.ip = c.ip.map(|a| a.addr());
        e.mac = c.mac.clone();
        e.parent = c.parent.clone();
        e.addresses = if shared {
            out[0].addresses.clone()
        } else {
            c.ip.into_iter().collect()
        };
        e.gateway = c.gateway;
        e.nat = c.spec.mode == NetworkMode::Bridge && c.spec.nat;
        e.host_shim = c.spec.host_shim
            || st.shims.iter().any(|s| {
                Some(&s.parent) == c.parent.as_ref()
                    && c.ip.is_some_and(|ip| s.range.contains(&ip.addr()))
            });
        e.promisc = c.spec.promisc;
        e.publish = c.spec.publish.clone();
        out.push(e);
    }
    out
}

/// The namespace to enter for an endpoint's stack.
pub fn stack_ns(e: &Endpoint) -> Ns {
    match &e.stack_netns {
        Some(n) => Ns::Named(n.clone()),
        None => Ns::Current,
    }
}

/// `Endpoint::mode` as the two JSON fields `lab ls --json` has always had (`mode`, `submode`).
mod mode_fields {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::lab::spec::{IpvlanMode, MacvlanMode, NetMode, NetworkMode};

    #[derive(Serialize, Deserialize)]
    struct Fields {
        mode: Option<NetworkMode>,
        submode: Option<String>,
    }

    pub fn serialize<S: Serializer>(m: &Option<NetMode>, s: S) -> Result<S::Ok, S::Error> {
        Fields {
            mode: m.map(NetMode::driver),
            submode: m.and_then(NetMode::submode).map(String::from),
        }
        .serialize(s)
    }

    /// A submode that does not belong to the driver, or an unknown one, is refused: nothing
    /// defaults silently.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NetMode>, D::Error> {
        use serde::de::Error;
        let f = Fields::deserialize(d)?;
        let sub = f.submode.as_deref();
        let parse_err = |e: crate::lab::LabError| D::Error::custom(e.to_string());
        Ok(match (f.mode, sub) {
            (None, None) => None,
            (None, Some(s)) => {
                return Err(D::Error::custom(format!("submode {s:?} without a mode")))
            }
            (Some(NetworkMode::Macvlan), s) => Some(NetMode::Macvlan(match s {
                Some(s) => s.parse::<MacvlanMode>().map_err(parse_err)?,
                None => return Err(D::Error::custom("macvlan without its submode")),
            })),
            (Some(NetworkMode::Ipvlan), s) => Some(NetMode::Ipvlan(match s {
                Some(s) => s.parse::<IpvlanMode>().map_err(parse_err)?,
                None => return Err(D::Error::custom("ipvlan without its submode")),
            })),
            (Some(m), Some(s)) => {
                return Err(D::Error::custom(format!(
                    "mode {m} has no submode, got {s:?}"
                )))
            }
            (Some(NetworkMode::Bridge), None) => Some(NetMode::Bridge),
            (Some(NetworkMode::Host), None) => Some(NetMode::Host),
            (Some(NetworkMode::None), None) => Some(NetMode::None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::spec::{IpvlanMode, MacvlanMode};

    fn endpoint(mode: Option<NetMode>) -> Endpoint {
        Endpoint {
            name: "c1".into(),
            role: Role::Container,
            mode,
            netns: None,
            stack_netns: None,
            ifname: "eth0".into(),
            ip: None,
            mac: None,
            parent: None,
            addresses: Vec::new(),
            gateway: None,
            nat: false,
            hairpin: false,
            host_shim: false,
            promisc: false,
            publish: Vec::new(),
        }
    }

    #[test]
    fn the_mode_is_two_json_fields_and_reads_back_the_same() {
        for (mode, driver, sub) in [
            (None, serde_json::Value::Null, serde_json::Value::Null),
            (
                Some(NetMode::Bridge),
                "bridge".into(),
                serde_json::Value::Null,
            ),
            (
                Some(NetMode::Macvlan(MacvlanMode::Vepa)),
                "macvlan".into(),
                "vepa".into(),
            ),
            (
                Some(NetMode::Ipvlan(IpvlanMode::L3s)),
                "ipvlan".into(),
                "l3s".into(),
            ),
        ] {
            let v = serde_json::to_value(endpoint(mode)).unwrap();
            assert_eq!(v["mode"], driver);
            assert_eq!(v["submode"], sub);
            let back: Endpoint = serde_json::from_value(v).unwrap();
            assert_eq!(back.mode, mode);
        }
    }

    #[test]
    fn an_unknown_or_misplaced_submode_is_refused_not_defaulted() {
        let mut v =
            serde_json::to_value(endpoint(Some(NetMode::Macvlan(MacvlanMode::Bridge)))).unwrap();
        v["submode"] = "sideways".into();
        assert!(serde_json::from_value::<Endpoint>(v.clone()).is_err());
        v["mode"] = "bridge".into();
        v["submode"] = "private".into();
        assert!(serde_json::from_value::<Endpoint>(v).is_err());
    }
}
