//! NAT tab: every rule of every nat chain, with who wrote it.

use crate::inventory::{NamespaceInventory, NatBackend};
use crate::ui::table::{TabTable, TableRow};

pub const HEADER: &[&str] = &["FAMILY", "TABLE", "CHAIN", "OWNER", "RULE"];

pub fn table(ns: &NamespaceInventory) -> TabTable {
    let rows = ns
        .nat
        .iter()
        .map(|r| {
            let backend = match r.backend {
                NatBackend::Nftables => "nftables",
                NatBackend::IptablesLegacy => "iptables-legacy",
            };
            TableRow {
                cells: vec![
                    r.family.clone(),
                    r.table.clone(),
                    r.chain.clone(),
                    r.owner.as_str().to_string(),
                    r.rule.clone(),
                ],
                detail: format!(
                    "{} {} {} ({}, {}): {}",
                    r.family,
                    r.table,
                    r.chain,
                    backend,
                    r.owner.as_str(),
                    r.rule
                ),
            }
        })
        .collect();
    TabTable {
        header: HEADER,
        rows,
        drop_order: &[0, 1],
        group_column: None,
    }
}
