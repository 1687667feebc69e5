//! The live inventory: links, addresses, routes, neighbours, bridge FDB, NAT rules and filter
//! chains of every network namespace, read through netlink from a thread inside each namespace.
//!
//! Reading is behind [`InventorySource`] so the UI and the CLI's formatting are tested from
//! fixed models without root. [`KernelSource`] is the real one.

pub mod convert;
pub mod dot;
pub mod dump;
pub mod filter;
pub mod model;
pub mod nat;
pub mod read;
pub mod table;
pub mod watch;

pub use model::*;

use crate::netns::{Netns, NetnsError};

/// Errors while reading a namespace.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Where inventories come from: the kernel, or a fixed model in tests.
pub trait InventorySource: Send + Sync {
    /// Every namespace that can be seen now.
    fn namespaces(&self) -> Vec<Netns>;
    /// Read one namespace completely. `all` is the current namespace list, used to resolve
    /// veth peers and macvlan parents that live in other namespaces.
    fn read(&self, ns: &Netns, all: &[Netns]) -> Result<NamespaceInventory, InventoryError>;
}

/// Reads from the running kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelSource;

impl InventorySource for KernelSource {
    fn namespaces(&self) -> Vec<Netns> {
        crate::netns::discover()
    }

    fn read(&self, ns: &Netns, all: &[Netns]) -> Result<NamespaceInventory, InventoryError> {
        read::read_namespace(ns, all)
    }
}

/// The namespaces the lab's state says netview created (a namespace merely named `nv-...`
/// by someone else is not one of them).
pub fn lab_namespaces(state: &crate::lab::state::LabState) -> std::collections::BTreeSet<String> {
    state
        .recorded_netns()
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Mark the namespaces netview's lab created, as recorded in the lab's state file.
pub fn mark_netview_namespaces(namespaces: &mut [NamespaceInventory]) {
    let Ok(Some(lab)) = crate::lab::Lab::load() else {
        return;
    };
    mark_made_by(namespaces, Some(&lab.state));
}

/// Mark the namespaces `state` records as made by netview (and unmark the others; no lab:
/// none is netview's). The CLI and the TUI both mark through this.
pub fn mark_made_by(
    namespaces: &mut [NamespaceInventory],
    state: Option<&crate::lab::state::LabState>,
) {
    let ours = state.map(lab_namespaces).unwrap_or_default();
    for ns in namespaces {
        ns.netview = ours.contains(&ns.name);
    }
}

/// Put what the container runtimes answered into the inventory: each container on the
/// namespace it lives in (matched by namespace inode among `all`), the runtimes' networks and
/// whether each runtime answered. `inode_of` is [`crate::netns::ns_inode`] outside tests.
pub fn attach_containers(
    inventory: &mut Inventory,
    world: &crate::containers::ContainerWorld,
    all: &[Netns],
    inode_of: &dyn Fn(&std::path::Path) -> Option<u64>,
) {
    let placed = crate::containers::match_namespaces(&world.containers, all, inode_of);
    for ns in &mut inventory.namespaces {
        ns.containers = placed
            .get(&ns.id)
            .map(|v| v.iter().map(|&i| world.containers[i].clone()).collect())
            .unwrap_or_default();
    }
    inventory.networks = world.networks.clone();
    inventory.runtimes = world.status.clone();
    name_nat_containers(inventory);
}

/// Name the container a NAT rule points at: each single address a rule names that is a
/// container's (as its runtime says, or as found on its own namespace's links).
pub fn name_nat_containers(inventory: &mut Inventory) {
    use std::collections::HashMap;
    let mut by_ip: HashMap<std::net::IpAddr, String> = HashMap::new();
    for ns in &inventory.namespaces {
        for c in &ns.containers {
            for ip in c.addresses.iter().filter_map(|a| a.ip) {
                by_ip.entry(ip).or_insert_with(|| c.name.clone());
            }
        }
        // A namespace of one container: its links' addresses are that container's (Podman's
        // list gives none). The root namespace's are the host's, even with host-mode ones.
        if let ([c], false) = (
            ns.containers.as_slice(),
            ns.source == crate::netns::NetnsSource::Root,
        ) {
            for l in ns.links.iter().filter(|l| l.kind != LinkKind::Loopback) {
                for a in &l.addresses {
                    by_ip.entry(a.ip).or_insert_with(|| c.name.clone());
                }
            }
        }
    }
    if by_ip.is_empty() {
        return;
    }
    for ns in &mut inventory.namespaces {
        for rule in &mut ns.nat {
            rule.container = nat::named_addresses(&rule.rule)
                .iter()
                .find_map(|ip| by_ip.get(ip).cloned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::{Container, ContainerWorld, Runtime};
    use crate::netns::NetnsSource;
    use std::path::{Path, PathBuf};

    fn container(name: &str, pid: Option<u32>) -> Container {
        Container {
            runtime: Runtime::Docker,
            id: format!("{:0>64}", name.len()),
            name: name.into(),
            image: "busybox".into(),
            state: if pid.is_some() { "running" } else { "exited" }.into(),
            networks: vec!["bridge".into()],
            pid,
            addresses: vec![],
            sandbox_key: None,
        }
    }

    #[test]
    fn nat_rules_name_the_container_whose_address_they_name() {
        let mut web = NamespaceInventory::empty("pid:10", 2, NetnsSource::Process);
        let mut c = container("web", Some(10));
        c.addresses.push(crate::containers::ContainerAddress {
            network: "bridge".into(),
            ip: Some("172.17.0.2".parse().unwrap()),
            mac: None,
        });
        web.containers.push(c);
        // A Podman container: no addresses from the runtime, one on its eth0.
        let mut pweb = NamespaceInventory::empty("netns-1", 3, NetnsSource::Named);
        pweb.containers.push(container("pweb", Some(11)));
        pweb.links.push(Link {
            index: 2,
            name: "eth0".into(),
            kind: LinkKind::Veth,
            mode: None,
            state: "UP".into(),
            flags: vec![],
            mac: None,
            mtu: None,
            master: None,
            parent: None,
            peer: None,
            addresses: vec![Address {
                ip: "10.88.0.5".parse().unwrap(),
                prefix_len: 16,
                scope: "global".into(),
            }],
        });
        let mut root = NamespaceInventory::empty("root", 1, NetnsSource::Root);
        let rule = |text: &str| NatRule {
            family: "ip".into(),
            table: "nat".into(),
            chain: "DOCKER".into(),
            rule: text.into(),
            owner: NatOwner::Docker,
            backend: NatBackend::Nftables,
            container: None,
        };
        root.nat = vec![
            rule("iifname != \"docker0\" tcp dport 8080 dnat to 172.17.0.2:80"),
            rule("ip saddr 172.17.0.2 ip daddr 172.17.0.2 tcp dport 80 masquerade"),
            rule("ip saddr 172.17.0.0/16 oifname != \"docker0\" masquerade"),
            rule("tcp dport 8081 dnat to 10.88.0.5:80"),
            rule("tcp dport 9 dnat to 192.0.2.1:80"),
        ];
        let mut inv = Inventory {
            namespaces: vec![root, web, pweb],
            ..Default::default()
        };
        name_nat_containers(&mut inv);
        let names: Vec<Option<&str>> = inv.namespaces[0]
            .nat
            .iter()
            .map(|r| r.container.as_deref())
            .collect();
        assert_eq!(names, [Some("web"), Some("web"), None, Some("pweb"), None]);
    }

    #[test]
    fn containers_are_attached_to_the_namespaces_read() {
        let ns = |name: &str, id| Netns {
            name: name.into(),
            id,
            source: NetnsSource::Process,
            path: PathBuf::from("/x"),
            process: None,
            is_self: false,
        };
        let all = [ns("root", 1), ns("pid:10", 2), ns("pid:20", 3)];
        let world = ContainerWorld {
            containers: vec![
                container("web", Some(10)),
                container("hostc", Some(30)),
                container("old", None),
            ],
            ..Default::default()
        };
        let stat = |p: &Path| match p.to_str() {
            Some("/proc/10/ns/net") => Some(2),
            Some("/proc/30/ns/net") => Some(1),
            _ => None,
        };
        // Only root and pid:10 were read; pid:20 holds no container.
        let mut inv = Inventory {
            namespaces: vec![
                NamespaceInventory::empty("root", 1, NetnsSource::Root),
                NamespaceInventory::empty("pid:20", 3, NetnsSource::Process),
                NamespaceInventory::empty("pid:10", 2, NetnsSource::Process),
            ],
            ..Default::default()
        };
        attach_containers(&mut inv, &world, &all, &stat);
        let names = |i: usize| -> Vec<&str> {
            inv.namespaces[i]
                .containers
                .iter()
                .map(|c| c.name.as_str())
                .collect()
        };
        assert_eq!(names(0), ["hostc"]);
        assert!(names(1).is_empty());
        assert_eq!(names(2), ["web"]);
    }
}
