//! Bridges tab: each bridge, then its ports, then its forwarding database entries.

use crate::inventory::{FdbEntry, LinkKind, NamespaceInventory};
use crate::ui::table::{link_ref, or_dash, TabTable, TableRow};

pub const HEADER: &[&str] = &["BRIDGE", "ENTRY", "DEV", "MAC", "DETAILS"];

/// The bridge an FDB entry belongs to: its master, or the device itself when the entry is
/// the bridge's own (`self`).
fn bridge_of<'a>(ns: &'a NamespaceInventory, e: &'a FdbEntry) -> Option<&'a str> {
    e.master.as_deref().or_else(|| {
        ns.link_by_name(&e.dev)
            .filter(|l| l.kind == LinkKind::Bridge)
            .map(|l| l.name.as_str())
    })
}

fn fdb_row(bridge: &str, e: &FdbEntry) -> TableRow {
    let mut details = e.flags.join(",");
    if let Some(v) = e.vlan {
        details = format!("{details} vlan {v}").trim().to_string();
    }
    TableRow {
        cells: vec![
            bridge.to_string(),
            "fdb".to_string(),
            e.dev.clone(),
            e.mac.clone(),
            if details.is_empty() {
                "-".to_string()
            } else {
                details.clone()
            },
        ],
        detail: format!(
            "fdb {} dev {} master {} {}",
            e.mac,
            e.dev,
            e.master.as_deref().unwrap_or("-"),
            details
        )
        .trim_end()
        .to_string(),
    }
}

pub fn table(ns: &NamespaceInventory) -> TabTable {
    let mut rows = Vec::new();
    for br in ns.links.iter().filter(|l| l.kind == LinkKind::Bridge) {
        let ports: Vec<_> = ns.bridge_ports(&br.name).collect();
        // Link-local addresses (fe80::/64 on every bridge) would crowd the column out.
        let addrs: Vec<String> = br
            .addresses
            .iter()
            .filter(|a| a.scope != "link")
            .map(|a| a.to_string())
            .collect();
        let mut details = format!("{}, {} ports", br.state, ports.len());
        if !addrs.is_empty() {
            details.push_str(&format!(", {}", addrs.join(" ")));
        }
        rows.push(TableRow {
            cells: vec![
                br.name.clone(),
                "bridge".to_string(),
                br.name.clone(),
                or_dash(br.mac.as_ref()),
                details.clone(),
            ],
            detail: format!("bridge {}: {details}", br.name),
        });
        for p in &ports {
            let mut d = format!("{} {}", p.kind, p.state);
            if let Some(peer) = &p.peer {
                d.push_str(&format!(", peer {}", link_ref(peer)));
            }
            rows.push(TableRow {
                cells: vec![
                    br.name.clone(),
                    "port".to_string(),
                    p.name.clone(),
                    or_dash(p.mac.as_ref()),
                    d.clone(),
                ],
                detail: format!("port {} of {}: {d}", p.name, br.name),
            });
        }
        for e in ns
            .fdb
            .iter()
            .filter(|e| bridge_of(ns, e) == Some(br.name.as_str()))
        {
            rows.push(fdb_row(&br.name, e));
        }
    }
    // Entries of devices that are not bridge ports (a vxlan's own table, for example).
    for e in ns.fdb.iter().filter(|e| {
        bridge_of(ns, e).is_none_or(|b| {
            ns.link_by_name(b)
                .is_none_or(|l| l.kind != LinkKind::Bridge)
        })
    }) {
        rows.push(fdb_row(e.master.as_deref().unwrap_or("-"), e));
    }
    TabTable {
        header: HEADER,
        rows,
        drop_order: &[],
        group_column: Some(0),
    }
}
