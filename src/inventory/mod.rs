//! The live inventory: links, addresses, routes, neighbours, bridge FDB, NAT rules and filter
//! chains of every network namespace, read through netlink from a thread inside each namespace.
//!
//! Reading is behind [`InventorySource`] so the UI and the CLI's formatting are tested from
//! fixed models without root. [`KernelSource`] is the real one.

pub mod convert;
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
    use crate::lab::journal::Undo;
    state
        .objects
        .iter()
        .chain(state.containers.iter().flat_map(|c| c.objects.iter()))
        .filter_map(|u| match u {
            Undo::DeleteNetns { name, .. } => Some(name.clone()),
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
