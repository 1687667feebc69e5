//! The live inventory: links, addresses, routes, neighbours, bridge FDB and NAT rules of every
//! network namespace, read through netlink from a thread inside each namespace.
//!
//! Reading is behind [`InventorySource`] so the UI and the CLI's formatting are tested from
//! fixed models without root. [`KernelSource`] is the real one.

pub mod convert;
pub mod dump;
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

/// Read the given namespaces (in order) with `source`.
pub fn collect(
    source: &dyn InventorySource,
    wanted: &[Netns],
    all: &[Netns],
) -> Result<Inventory, InventoryError> {
    let mut namespaces = Vec::with_capacity(wanted.len());
    for ns in wanted {
        namespaces.push(source.read(ns, all)?);
    }
    Ok(Inventory {
        namespaces,
        ..Default::default()
    })
}

/// The namespaces the lab's state says netview created (a namespace merely named `nv-...`
/// by someone else is not one of them).
pub fn lab_namespaces(state: &crate::lab::state::LabState) -> std::collections::BTreeSet<String> {
    use crate::lab::journal::Undo;
    state
        .objects
        .iter()
        .chain(state.containers.iter().flat_map(|c| c.objects.iter()))
        .filter_map(|u| match u {
            Undo::DeleteNetns { name } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// Mark the namespaces netview's lab created, as recorded in the lab's state file.
pub fn mark_netview_namespaces(namespaces: &mut [NamespaceInventory]) {
    let Ok(Some(lab)) = crate::lab::Lab::load() else {
        return;
    };
    let ours = lab_namespaces(&lab.state);
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
