//! Bridges tab: each bridge, then its ports, then its forwarding database entries; on the
//! root namespace, then the container runtimes' networks (what `docker network ls` and
//! `docker network inspect` show), each with its containers and their addresses.

use crate::containers::{ContainerWorld, Runtime};
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

/// The runtimes' networks as rows: one for the network (driver, subnet, gateway, device or
/// parent), then one per container on it. The first cell is `runtime:network`.
pub fn network_rows(world: &ContainerWorld) -> Vec<TableRow> {
    let mut rows = Vec::new();
    for n in &world.networks {
        let group = format!("{}:{}", n.runtime, n.name);
        let list = |v: Vec<String>| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(",")
            }
        };
        let subnets = list(n.subnets.iter().map(|s| s.to_string()).collect());
        let gateways = list(n.gateways.iter().map(|g| g.to_string()).collect());
        let device = n
            .interface
            .clone()
            .or_else(|| n.parent.clone())
            .unwrap_or_else(|| "-".into());
        let mut details = n.driver.clone();
        if let Some(m) = &n.mode {
            details.push_str(&format!(" {m}"));
        }
        details.push_str(&format!(", {subnets} gw {gateways}"));
        let role = match (&n.interface, &n.parent) {
            (Some(i), _) => format!("bridge {i}"),
            (None, Some(p)) => format!("parent {p}"),
            (None, None) => "no device".to_string(),
        };
        rows.push(TableRow {
            cells: vec![
                group.clone(),
                "network".to_string(),
                device,
                "-".to_string(),
                details.clone(),
            ],
            detail: format!(
                "{} network {}: {details}, {role}, {} containers",
                n.runtime,
                n.name,
                n.containers.len()
            ),
        });
        for name in &n.containers {
            let c = world
                .containers
                .iter()
                .find(|c| c.runtime == n.runtime && &c.name == name);
            let addrs: Vec<&crate::containers::ContainerAddress> = c
                .map(|c| c.addresses.iter().filter(|a| a.network == n.name).collect())
                .unwrap_or_default();
            let ips = list(
                addrs
                    .iter()
                    .filter_map(|a| a.ip.map(|ip| ip.to_string()))
                    .collect(),
            );
            let mac = addrs
                .iter()
                .find_map(|a| a.mac.clone())
                .unwrap_or_else(|| "-".into());
            let state = c.map(|c| c.state.clone()).unwrap_or_default();
            rows.push(TableRow {
                cells: vec![
                    group.clone(),
                    "container".to_string(),
                    name.clone(),
                    mac,
                    format!("{state} {ips}").trim().to_string(),
                ],
                detail: format!(
                    "container {name} ({}) on {}: {ips}, {state} (Enter: its namespace)",
                    n.runtime, n.name
                ),
            });
        }
    }
    rows
}

/// The container a row of [`network_rows`] names, if it is a container row.
pub fn container_of_row(row: &TableRow) -> Option<(Runtime, String)> {
    if row.cells.get(1).map(String::as_str) != Some("container") {
        return None;
    }
    let runtime = match row.cells.first()?.split_once(':')?.0 {
        "docker" => Runtime::Docker,
        "podman" => Runtime::Podman,
        _ => return None,
    };
    Some((runtime, row.cells.get(2)?.clone()))
}
