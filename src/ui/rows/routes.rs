//! Routes tab: the main routing table.

use crate::inventory::NamespaceInventory;
use crate::ui::table::{or_dash, TabTable, TableRow};

pub const HEADER: &[&str] = &[
    "DST", "GATEWAY", "DEV", "PROTO", "SCOPE", "METRIC", "SRC", "TYPE",
];

pub fn table(ns: &NamespaceInventory) -> TabTable {
    let rows = ns
        .routes
        .iter()
        .map(|r| {
            let mut detail = format!("{} {}", r.family, r.dst);
            if let Some(g) = &r.gateway {
                detail.push_str(&format!(" via {g}"));
            }
            if let Some(d) = &r.dev {
                detail.push_str(&format!(" dev {d}"));
            }
            detail.push_str(&format!(" proto {} scope {}", r.protocol, r.scope));
            if let Some(s) = &r.prefsrc {
                detail.push_str(&format!(" src {s}"));
            }
            if let Some(m) = r.metric {
                detail.push_str(&format!(" metric {m}"));
            }
            detail.push_str(&format!(" ({})", r.route_type));
            TableRow {
                cells: vec![
                    r.dst.clone(),
                    or_dash(r.gateway.as_ref()),
                    or_dash(r.dev.as_ref()),
                    r.protocol.clone(),
                    r.scope.clone(),
                    or_dash(r.metric),
                    or_dash(r.prefsrc.as_ref()),
                    r.route_type.clone(),
                ],
                detail,
            }
        })
        .collect();
    TabTable {
        header: HEADER,
        rows,
        drop_order: &[7, 6, 5, 4],
        group_column: None,
    }
}
