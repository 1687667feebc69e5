//! The seam where the walk asks about packet filtering: at each namespace's input, forward and
//! output hooks it calls [`Filters::verdict`]. [`InventoryFilters`] answers from the filter
//! chains the inventory read (nftables, iptables-nft, legacy), evaluated by
//! [`crate::inventory::filter::eval`]; its types (hook, packet facts, verdict) are the walk's
//! too. [`NoFilterRules`] accepts everything (for tests of the rest of the walk).

use std::collections::HashMap;

use crate::inventory::filter::FilterView;
pub use crate::inventory::filter::{CtState, DecidedBy, FilterVerdict, Hook, PacketFacts};
use crate::inventory::model::Inventory;

/// The transport protocol of the walked packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Icmp,
    Tcp,
}

impl Protocol {
    /// The IP protocol number, as a filter rule matches it.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Icmp => 1,
            Protocol::Tcp => 6,
        }
    }
}

/// Packet filtering as the walk sees it: the verdict of `netns`'s chains on `hook`.
pub trait Filters {
    fn verdict(&self, netns: &str, hook: Hook, pkt: &PacketFacts) -> FilterVerdict;
}

/// No filter rules: every hook accepts.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFilterRules;

impl Filters for NoFilterRules {
    fn verdict(&self, _netns: &str, _hook: Hook, _pkt: &PacketFacts) -> FilterVerdict {
        FilterVerdict::Accept { by: None }
    }
}

/// The filter chains every namespace of an inventory holds, ready to evaluate.
pub struct InventoryFilters {
    views: HashMap<String, FilterView>,
}

impl InventoryFilters {
    pub fn new(inv: &Inventory) -> Self {
        InventoryFilters {
            views: inv
                .namespaces
                .iter()
                .map(|ns| (ns.name.clone(), ns.filter_view()))
                .collect(),
        }
    }
}

impl Filters for InventoryFilters {
    fn verdict(&self, netns: &str, hook: Hook, pkt: &PacketFacts) -> FilterVerdict {
        match self.views.get(netns) {
            Some(v) => v.verdict(hook, pkt),
            None => FilterVerdict::Accept { by: None },
        }
    }
}

/// A deciding rule or policy in one short phrase: "rule `ip saddr 10.0.1.2 drop` of chain
/// FORWARD (ip filter)" or "the drop policy of chain FORWARD (ip filter)".
pub fn describe(by: &DecidedBy) -> String {
    match &by.rule {
        Some(r) => format!(
            "rule `{r}` of chain {} ({} {})",
            by.chain, by.family, by.table
        ),
        None => format!(
            "the policy of chain {} ({} {})",
            by.chain, by.family, by.table
        ),
    }
}
