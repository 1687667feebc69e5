//! What the probes need to know about a lab: its endpoints and a few lab-wide facts.
//!
//! These types are deliberately independent of the lab engine's own state, so the probes and
//! the views can be built and tested on their own; an adapter turns the lab's state into them.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

// One domain type each for the role and the network mode, shared with the lab that builds them.
pub use crate::lab::endpoint::Role;
pub use crate::lab::spec::{IpvlanMode, MacvlanMode, NetMode};

/// One address of an endpoint and the interface that holds it (inside its namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointAddress {
    pub ip: IpAddr,
    pub prefix: u8,
    pub ifname: String,
}

impl EndpointAddress {
    pub fn new(ip: IpAddr, prefix: u8, ifname: &str) -> Self {
        EndpointAddress {
            ip,
            prefix,
            ifname: ifname.to_string(),
        }
    }

    /// The subnet this address makes on-link.
    pub fn net(&self) -> Option<IpNet> {
        IpNet::new(self.ip, self.prefix).ok().map(|n| n.trunc())
    }
}

/// One endpoint the probes run from and to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeEndpoint {
    /// The name as `lab ls` shows it.
    pub name: String,
    pub role: Role,
    /// For containers, how they are wired; `None` for the world's own nodes.
    pub mode: Option<NetMode>,
    /// The namespace file to run in (`/run/netns/NAME`; for host mode, the host's).
    pub netns_path: PathBuf,
    /// The endpoint's main interface (`eth0` in a container, `enp0s8` in the host).
    pub ifname: String,
    /// The main interface's MAC, as text (`aa:bb:...`), if known.
    pub mac: Option<String>,
    /// Every address to probe (loopback addresses are ignored as targets).
    pub addresses: Vec<EndpointAddress>,
    /// The default route's gateway, if the endpoint has one.
    pub gateway: Option<IpAddr>,
    /// macvlan/ipvlan: the parent interface's name (in the host).
    pub parent: Option<String>,
    /// bridge mode: whether the masquerade rule exists for its subnet.
    pub nat: bool,
    /// macvlan: a host shim covers this child's address (see also `LabFacts::host_shim`,
    /// which covers every child).
    #[serde(default)]
    pub host_shim: bool,
    /// Where the endpoint comes from: the lab, or a namespace found on the host.
    #[serde(default)]
    pub origin: EndpointOrigin,
}

/// Where an endpoint comes from (every endpoint's cells are predicted by the packet walk over
/// the inventory, `matrix::WalkWorld`, wherever it comes from). One more source (a Docker or Podman container, `docker:web`) is one more variant, resolved
/// to its namespace the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointOrigin {
    /// An endpoint of the sandbox lab.
    #[default]
    Lab,
    /// A network namespace as `netview inventory` names it (`root`, a name in /run/netns,
    /// `pid:N`). Its `role` is the closest lab role (`host` for root, else `container`).
    Namespace,
}

impl ProbeEndpoint {
    /// Addresses that other endpoints can be probed at (not loopback).
    pub fn target_addresses(&self) -> impl Iterator<Item = &EndpointAddress> {
        self.addresses.iter().filter(|a| !a.ip.is_loopback())
    }

    pub fn is_container(&self, mode: NetMode) -> bool {
        self.role == Role::Container && self.mode == Some(mode)
    }

    /// Whether this endpoint uses the host's own stack (the host, or a host-mode container).
    pub fn is_host_stack(&self) -> bool {
        self.role == Role::Host || self.mode == Some(NetMode::Host)
    }

    /// The interface and source address to send ARP from for an on-link `target`:
    /// the most specific of this endpoint's subnets that holds it (the main interface wins a
    /// tie), or `None` when the target is not on-link.
    pub fn arp_interface_for(&self, target: IpAddr) -> Option<&EndpointAddress> {
        self.addresses
            .iter()
            .filter(|a| !a.ip.is_loopback() && a.ip != target)
            .filter(|a| a.net().is_some_and(|n| n.contains(&target)))
            .max_by_key(|a| (a.prefix, a.ifname == self.ifname))
    }
}

/// Lab-wide facts beyond the endpoints themselves (the views show them; the packet walk reads
/// the same wiring from the inventory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabFacts {
    /// The LAN's subnet (192.168.50.0/24 by default).
    pub lan_subnet: IpNet,
    /// The host's interface into the LAN switch (`enp0s8`).
    pub host_lan_ifname: String,
    /// The Docker bridge's name in the host (`docker0`).
    pub docker_bridge: String,
    /// docker0's subnet (172.17.0.0/16 by default).
    pub docker_subnet: IpNet,
    /// Hairpin (reflective relay) on the host's port of the LAN switch.
    pub hairpin: bool,
    /// The host shim: a bridge-mode macvlan on the host's LAN interface with a route to the
    /// macvlan range, covering every child (per-child coverage: `ProbeEndpoint::host_shim`).
    pub host_shim: bool,
    /// The shim interface's name in the host, so its address can be recognised.
    pub shim_ifname: Option<String>,
}

impl Default for LabFacts {
    /// The study post's values.
    fn default() -> Self {
        LabFacts {
            lan_subnet: "192.168.50.0/24".parse().expect("valid literal"),
            host_lan_ifname: "enp0s8".into(),
            docker_bridge: "docker0".into(),
            docker_subnet: "172.17.0.0/16".parse().expect("valid literal"),
            hairpin: false,
            host_shim: false,
            shim_ifname: None,
        }
    }
}

/// Everything the probes know about a lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeLab {
    pub endpoints: Vec<ProbeEndpoint>,
    pub facts: LabFacts,
}

impl ProbeLab {
    pub fn endpoint(&self, name: &str) -> Option<&ProbeEndpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}
