//! Links tab: one row per interface.

use crate::inventory::{Link, NamespaceInventory};
use crate::ui::table::{link_ref, or_dash, TabTable, TableRow};

pub const HEADER: &[&str] = &[
    "IDX", "NAME", "KIND", "STATE", "FLAGS", "MAC", "MTU", "MASTER", "PARENT", "PEER",
];

/// Flags every Ethernet-like link has; the table leaves them out (the detail line has all).
const COMMON_FLAGS: &[&str] = &["BROADCAST", "MULTICAST"];

pub fn kind_mode(link: &Link) -> String {
    match &link.mode {
        Some(m) => format!("{}/{}", link.kind, m),
        None => link.kind.to_string(),
    }
}

fn short_flags(link: &Link) -> String {
    let flags: Vec<&str> = link
        .flags
        .iter()
        .map(String::as_str)
        .filter(|f| !COMMON_FLAGS.contains(f))
        .collect();
    if flags.is_empty() {
        "-".to_string()
    } else {
        flags.join(",")
    }
}

fn detail(link: &Link) -> String {
    let mut parts = vec![
        format!("{} (index {})", link.name, link.index),
        kind_mode(link),
        format!("state {}", link.state),
        format!("flags {}", link.flags.join(",")),
    ];
    if let Some(mac) = &link.mac {
        parts.push(format!("mac {mac}"));
    }
    if let Some(mtu) = link.mtu {
        parts.push(format!("mtu {mtu}"));
    }
    if let Some(m) = &link.master {
        parts.push(format!("master {m}"));
    }
    if let Some(p) = &link.parent {
        parts.push(format!("parent {}", link_ref(p)));
    }
    if let Some(p) = &link.peer {
        parts.push(format!("peer {}", link_ref(p)));
    }
    if !link.addresses.is_empty() {
        let a: Vec<String> = link.addresses.iter().map(|a| a.to_string()).collect();
        parts.push(a.join(" "));
    }
    parts.join(", ")
}

pub fn table(ns: &NamespaceInventory) -> TabTable {
    let rows = ns
        .links
        .iter()
        .map(|l| TableRow {
            cells: vec![
                l.index.to_string(),
                l.name.clone(),
                kind_mode(l),
                l.state.clone(),
                short_flags(l),
                or_dash(l.mac.as_ref()),
                or_dash(l.mtu),
                or_dash(l.master.as_ref()),
                or_dash(l.parent.as_ref().map(link_ref)),
                or_dash(l.peer.as_ref().map(link_ref)),
            ],
            detail: detail(l),
        })
        .collect();
    TabTable {
        header: HEADER,
        rows,
        drop_order: &[6, 5, 4, 0, 8],
        group_column: None,
    }
}
