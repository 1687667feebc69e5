//! Reading one namespace from the kernel.

use super::{InventoryError, NamespaceInventory};
use crate::netns::Netns;

/// Read one namespace completely, on a thread inside it.
pub fn read_namespace(ns: &Netns, _all: &[Netns]) -> Result<NamespaceInventory, InventoryError> {
    Ok(NamespaceInventory::empty(&ns.name, ns.id, ns.source))
}
