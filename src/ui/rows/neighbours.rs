//! Neighbours tab: ARP and NDP entries.

use crate::inventory::NamespaceInventory;
use crate::ui::table::{or_dash, TabTable, TableRow};

pub const HEADER: &[&str] = &["IP", "MAC", "DEV", "STATE"];

pub fn table(ns: &NamespaceInventory) -> TabTable {
    let rows = ns
        .neighbours
        .iter()
        .map(|n| TableRow {
            cells: vec![
                n.ip.clone(),
                or_dash(n.mac.as_ref()),
                n.dev.clone(),
                n.state.clone(),
            ],
            detail: format!(
                "{} lladdr {} dev {} {}",
                n.ip,
                n.mac.as_deref().unwrap_or("none"),
                n.dev,
                n.state
            ),
        })
        .collect();
    TabTable {
        header: HEADER,
        rows,
        drop_order: &[],
        group_column: None,
    }
}
