//! Probe endpoints outside the lab: any network namespace as `netview inventory` names it
//! (`root`, a name in /run/netns, `pid:N`), with every address it holds read from the kernel.
//!
//! Resolving a name and reading the namespace's addresses is the only I/O here (through
//! `netns::find`/`discover` and the inventory reader, which enter namespaces on threads of
//! their own); turning what was read into an endpoint is pure and unit-tested. Nothing here
//! changes a namespace: it only reads.

use super::matrix::WalkWorld;
use super::topology::{EndpointAddress, EndpointOrigin, ProbeEndpoint, ProbeLab, Role};
use crate::inventory::model::NamespaceInventory;
use crate::netns::{self, Netns, NetnsError, NetnsSource};

/// The probes' endpoint for a namespace, from its inventory: every IPv4 address but loopback,
/// with the interface holding it (the probes are IPv4 only: IPv6 cells, link-local ones
/// first, all failed to send on a veth pair); the main interface is the one holding the
/// first address.
pub fn endpoint_of(ns: &Netns, inv: &NamespaceInventory) -> ProbeEndpoint {
    let addresses: Vec<EndpointAddress> = inv
        .links
        .iter()
        .flat_map(|l| {
            l.addresses
                .iter()
                .filter(|a| a.ip.is_ipv4() && !a.ip.is_loopback())
                .map(move |a| EndpointAddress::new(a.ip, a.prefix_len, &l.name))
        })
        .collect();
    let main = addresses
        .first()
        .and_then(|a| inv.links.iter().find(|l| l.name == a.ifname));
    ProbeEndpoint {
        name: ns.name.clone(),
        role: if ns.source == NetnsSource::Root {
            Role::Host
        } else {
            Role::Container
        },
        mode: None,
        netns_path: ns.path.clone(),
        ifname: main.map(|l| l.name.clone()).unwrap_or_else(|| "lo".into()),
        mac: main.and_then(|l| l.mac.clone()),
        addresses,
        gateway: None,
        parent: None,
        nat: false,
        host_shim: false,
        origin: EndpointOrigin::Namespace,
    }
}

/// Whether an endpoint is worth probing by default: it holds an address other than loopback.
pub fn has_addresses(e: &ProbeEndpoint) -> bool {
    e.target_addresses().next().is_some()
}

/// Resolve namespaces by name and read their addresses. An unknown name is
/// `NetnsError::NotFound`; a namespace that cannot be read is an endpoint with no addresses.
pub fn resolve(names: &[String]) -> Result<Vec<ProbeEndpoint>, NetnsError> {
    let wanted: Vec<Netns> = names
        .iter()
        .map(|n| netns::find(n))
        .collect::<Result<_, _>>()?;
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    Ok(read(&wanted, &netns::discover()))
}

/// Every namespace netview finds that holds a non-loopback address, plus `root` (the host)
/// whatever it holds: the default sources and targets without a lab.
pub fn every_with_addresses() -> Vec<ProbeEndpoint> {
    let all = netns::discover();
    all.iter()
        .zip(read(&all, &all))
        .filter(|(ns, e)| ns.source == NetnsSource::Root || has_addresses(e))
        .map(|(_, e)| e)
        .collect()
}

/// What the packet walk needs to predict cells among these endpoints (the lab's and any other
/// namespace's alike): the inventory of every namespace on the host, read now (a path may
/// cross any of them).
pub fn walk_world(lab: &ProbeLab) -> WalkWorld {
    let all = netns::discover();
    let namespaces = crate::inventory::read::read_many(&all, &all);
    walk_world_over(
        lab,
        crate::inventory::model::Inventory {
            namespaces,
            ..Default::default()
        },
    )
}

/// The walk's world over an inventory already held (the TUI's), with which of its namespaces
/// each endpoint is, told by the inode of the endpoint's namespace file (an endpoint whose file
/// is gone is left out: its cells are then unknown, with that reason).
pub fn walk_world_over(lab: &ProbeLab, inventory: crate::inventory::model::Inventory) -> WalkWorld {
    use std::os::unix::fs::MetadataExt;
    let netns_of = lab
        .endpoints
        .iter()
        .filter_map(|e| {
            let ino = std::fs::metadata(&e.netns_path).ok()?.ino();
            let ns = inventory.namespaces.iter().find(|n| n.id == ino)?;
            Some((e.name.clone(), ns.name.clone()))
        })
        .collect();
    WalkWorld {
        inventory,
        netns_of,
    }
}

/// Read the wanted namespaces' inventories (`all` resolves their cross-namespace links).
fn read(wanted: &[Netns], all: &[Netns]) -> Vec<ProbeEndpoint> {
    let invs = crate::inventory::read::read_many(wanted, all);
    wanted
        .iter()
        .zip(&invs)
        .map(|(ns, inv)| endpoint_of(ns, inv))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::inventory::model::{Address, Link};

    fn ns(name: &str, source: NetnsSource) -> Netns {
        Netns {
            name: name.into(),
            id: 4026531840,
            source,
            path: PathBuf::from(format!("/run/netns/{name}")),
            process: None,
            is_self: false,
        }
    }

    fn link(name: &str, addrs: &[(&str, u8)]) -> Link {
        let mut l: Link = serde_json::from_value(serde_json::json!({
            "index": 1, "name": name, "kind": "veth", "state": "UP", "flags": [],
            "mac": "aa:bb:cc:dd:ee:01", "addresses": []
        }))
        .unwrap();
        l.addresses = addrs
            .iter()
            .map(|(ip, p)| Address {
                ip: ip.parse().unwrap(),
                prefix_len: *p,
                scope: "global".into(),
            })
            .collect();
        l
    }

    #[test]
    fn every_address_but_loopback_with_its_interface() {
        let mut inv = NamespaceInventory::empty("a", 1, NetnsSource::Named);
        inv.links = vec![
            link("lo", &[("127.0.0.1", 8), ("::1", 128)]),
            link("eth0", &[("10.1.0.2", 24)]),
            link(
                "eth1",
                &[("10.2.0.2", 24), ("fe80::1", 64), ("fd00::2", 64)],
            ),
        ];
        let e = endpoint_of(&ns("a", NetnsSource::Named), &inv);
        assert_eq!(e.origin, EndpointOrigin::Namespace);
        assert_eq!(e.ifname, "eth0");
        assert_eq!(e.mac.as_deref(), Some("aa:bb:cc:dd:ee:01"));
        let got: Vec<(String, String)> = e
            .addresses
            .iter()
            .map(|a| (a.ip.to_string(), a.ifname.clone()))
            .collect();
        assert_eq!(
            got,
            [("10.1.0.2", "eth0"), ("10.2.0.2", "eth1"),]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(has_addresses(&e));
        assert_eq!(e.netns_path, PathBuf::from("/run/netns/a"));
    }

    #[test]
    fn only_loopback_means_nothing_to_probe() {
        let mut inv = NamespaceInventory::empty("b", 1, NetnsSource::Process);
        inv.links = vec![link("lo", &[("127.0.0.1", 8)])];
        let e = endpoint_of(&ns("pid:7", NetnsSource::Process), &inv);
        assert!(!has_addresses(&e));
        assert_eq!(e.ifname, "lo");
        assert_eq!(e.role, Role::Container);
        let root = endpoint_of(&ns("root", NetnsSource::Root), &inv);
        assert_eq!(root.role, Role::Host);
    }
}
