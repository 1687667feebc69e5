//! Addresses tab: every address of every link.

use crate::inventory::NamespaceInventory;
use crate::ui::table::{TabTable, TableRow};

pub const HEADER: &[&str] = &["DEV", "FAMILY", "ADDRESS", "SCOPE"];

pub fn table(ns: &NamespaceInventory) -> TabTable {
    let rows = ns
        .links
        .iter()
        .flat_map(|l| {
            l.addresses.iter().map(move |a| {
                let family = if a.ip.is_ipv4() { "inet" } else { "inet6" };
                TableRow {
                    cells: vec![
                        l.name.clone(),
                        family.to_string(),
                        a.to_string(),
                        a.scope.clone(),
                    ],
                    detail: format!("{} {} on {} (scope {})", family, a, l.name, a.scope),
                }
            })
        })
        .collect();
    TabTable {
        header: HEADER,
        rows,
        drop_order: &[],
        group_column: None,
    }
}
