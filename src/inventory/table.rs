//! Aligned text tables for `netview inventory` without `--json`. Pure: model in, text out.

use super::model::{Inventory, Link, NamespaceInventory};

/// Format rows as columns separated by two spaces, each as wide as its widest cell, with no
/// borders and no trailing spaces (comfy-table lays the columns out; `ip`-like plain text).
pub fn align(header: &[&str], rows: &[Vec<String>]) -> String {
    use comfy_table::{presets::NOTHING, ContentArrangement, Table};
    let mut table = Table::new();
    table
        .load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    for row in rows {
        table.add_row(row.iter().map(String::as_str));
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn dash(v: Option<impl ToString>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

fn link_ref(r: &Option<super::LinkRef>, here: &str) -> String {
    match r {
        None => "-".into(),
        Some(r) => {
            let name = r.name.clone().unwrap_or_else(|| "?".into());
            match r.netns.as_deref() {
                Some(ns) if ns == here => name,
                Some(ns) => format!("{name}@{ns}"),
                None => format!("{name}@(unseen netns)"),
            }
        }
    }
}

fn kind_with_mode(l: &Link) -> String {
    match &l.mode {
        Some(m) => format!("{} {m}", l.kind),
        None => l.kind.to_string(),
    }
}

/// One namespace as a block of tables.
pub fn render_namespace(ns: &NamespaceInventory) -> String {
    let mut out = String::new();
    let fwd = match ns.ip_forward {
        Some(true) => "on",
        Some(false) => "off",
        None => "?",
    };
    out.push_str(&format!(
        "== netns {} (id {}, {}{}{}) ip_forward {}\n",
        ns.name,
        ns.id,
        ns.source.word(),
        ns.process
            .as_deref()
            .map(|p| format!(", {p}"))
            .unwrap_or_default(),
        if ns.netview { ", netview" } else { "" },
        fwd
    ));
    for c in &ns.containers {
        out.push_str(&format!(
            "   container {} ({}, {}, id {}, image {}, networks {})\n",
            c.name,
            c.runtime,
            c.state,
            c.short_id(),
            c.image,
            if c.networks.is_empty() {
                "-".to_string()
            } else {
                c.networks.join(",")
            }
        ));
    }
    for e in &ns.errors {
        out.push_str(&format!("!! {e}\n"));
    }
    let rows: Vec<Vec<String>> = ns
        .links
        .iter()
        .map(|l| {
            vec![
                l.index.to_string(),
                l.name.clone(),
                kind_with_mode(l),
                l.state.clone(),
                l.flags.join(","),
                dash(l.mac.as_ref()),
                dash(l.mtu),
                dash(l.master.as_ref()),
                link_ref(&l.parent, &ns.name),
                link_ref(&l.peer, &ns.name),
                if l.addresses.is_empty() {
                    "-".into()
                } else {
                    l.addresses
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                },
            ]
        })
        .collect();
    out.push_str("\nlinks\n");
    out.push_str(&align(
        &[
            "IDX",
            "NAME",
            "KIND",
            "STATE",
            "FLAGS",
            "MAC",
            "MTU",
            "MASTER",
            "PARENT",
            "PEER",
            "ADDRESSES",
        ],
        &rows,
    ));
    if !ns.routes.is_empty() {
        let rows: Vec<Vec<String>> = ns
            .routes
            .iter()
            .map(|r| {
                vec![
                    r.dst.clone(),
                    dash(r.gateway.as_ref()),
                    dash(r.dev.as_ref()),
                    r.scope.clone(),
                    r.protocol.clone(),
                    dash(r.metric),
                ]
            })
            .collect();
        out.push_str("\nroutes (main table)\n");
        out.push_str(&align(
            &["DST", "GATEWAY", "DEV", "SCOPE", "PROTO", "METRIC"],
            &rows,
        ));
    }
    if !ns.neighbours.is_empty() {
        let rows: Vec<Vec<String>> = ns
            .neighbours
            .iter()
            .map(|n| {
                vec![
                    n.ip.clone(),
                    dash(n.mac.as_ref()),
                    n.dev.clone(),
                    n.state.clone(),
                ]
            })
            .collect();
        out.push_str("\nneighbours\n");
        out.push_str(&align(&["IP", "MAC", "DEV", "STATE"], &rows));
    }
    if !ns.fdb.is_empty() {
        let rows: Vec<Vec<String>> = ns
            .fdb
            .iter()
            .map(|f| {
                vec![
                    f.mac.clone(),
                    f.dev.clone(),
                    dash(f.master.as_ref()),
                    dash(f.vlan),
                    f.flags.join(" "),
                ]
            })
            .collect();
        out.push_str("\nbridge fdb\n");
        out.push_str(&align(&["MAC", "DEV", "MASTER", "VLAN", "FLAGS"], &rows));
    }
    if !ns.nat.is_empty() {
        let rows: Vec<Vec<String>> = ns
            .nat
            .iter()
            .map(|r| {
                vec![
                    format!("{} {}", r.family, r.table),
                    r.chain.clone(),
                    match &r.container {
                        Some(c) => format!("{} ({c})", r.owner.as_str()),
                        None => r.owner.as_str().to_string(),
                    },
                    r.rule.clone(),
                ]
            })
            .collect();
        out.push_str("\nnat\n");
        out.push_str(&align(&["TABLE", "CHAIN", "OWNER", "RULE"], &rows));
    }
    if !ns.filter.is_empty() {
        let rows: Vec<Vec<String>> = ns
            .filter
            .iter()
            .map(|r| {
                vec![
                    format!("{} {}", r.family, r.table),
                    r.chain.clone(),
                    dash(r.hook.as_ref()),
                    dash(r.policy.as_ref()),
                    r.owner.as_str().to_string(),
                    r.rule.clone().unwrap_or_else(|| "(no rules)".to_string()),
                ]
            })
            .collect();
        out.push_str("\nfilter\n");
        out.push_str(&align(
            &["TABLE", "CHAIN", "HOOK", "POLICY", "OWNER", "RULE"],
            &rows,
        ));
    }
    out
}

/// The runtimes' networks, as `docker network ls` with `inspect`'s details.
pub fn render_networks(inv: &Inventory) -> String {
    let join = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    let rows: Vec<Vec<String>> = inv
        .networks
        .iter()
        .map(|n| {
            vec![
                n.runtime.to_string(),
                n.name.clone(),
                n.driver.clone(),
                join(n.subnets.iter().map(|s| s.to_string()).collect()),
                join(n.gateways.iter().map(|g| g.to_string()).collect()),
                n.interface
                    .clone()
                    .or_else(|| n.parent.clone())
                    .unwrap_or_else(|| "-".into()),
                dash(n.mode.as_ref()),
                join(n.containers.clone()),
            ]
        })
        .collect();
    align(
        &[
            "RUNTIME",
            "NETWORK",
            "DRIVER",
            "SUBNET",
            "GATEWAY",
            "DEVICE",
            "MODE",
            "CONTAINERS",
        ],
        &rows,
    )
}

/// The whole inventory, namespace after namespace, then the runtimes' networks and the
/// runtimes that are installed but could not be asked.
pub fn render(inv: &Inventory) -> String {
    let mut out = inv
        .namespaces
        .iter()
        .map(render_namespace)
        .collect::<Vec<_>>()
        .join("\n");
    if !inv.networks.is_empty() {
        out.push_str("\n== container networks\n");
        out.push_str(&render_networks(inv));
    }
    for s in inv.runtimes.iter().filter(|s| !s.answered && s.installed) {
        if let Some(e) = &s.error {
            out.push_str(&format!("!! {e}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::{Container, Network, Runtime};
    use crate::netns::NetnsSource;

    #[test]
    fn containers_and_networks_are_named_in_the_text() {
        let mut ns = NamespaceInventory::empty("pid:15675", 4026532900, NetnsSource::Process);
        ns.containers.push(Container {
            runtime: Runtime::Docker,
            id: "0123456789abcdef0123".into(),
            name: "web".into(),
            image: "busybox".into(),
            state: "running".into(),
            networks: vec!["bridge".into()],
            pid: Some(15675),
            addresses: vec![],
            sandbox_key: None,
        });
        let inv = Inventory {
            namespaces: vec![ns],
            networks: vec![Network {
                runtime: Runtime::Docker,
                id: "ab".into(),
                name: "my_macvlan".into(),
                driver: "macvlan".into(),
                subnets: vec!["192.168.50.0/24".parse().unwrap()],
                gateways: vec!["192.168.50.1".parse().unwrap()],
                interface: None,
                parent: Some("enp0s8".into()),
                mode: Some("bridge".into()),
                containers: vec!["mac1".into()],
            }],
            runtimes: vec![],
        };
        let text = render(&inv);
        assert!(
            text.contains(
                "container web (docker, running, id 0123456789ab, image busybox, networks bridge)"
            ),
            "{text}"
        );
        // The header names the source with the JSON's word, not a Debug name.
        assert!(text.contains("(id 4026532900, process"), "{text}");
        assert!(!text.contains("Process"), "{text}");
        assert!(text.contains("my_macvlan"), "{text}");
        let line = text.lines().find(|l| l.contains("my_macvlan")).unwrap();
        for w in [
            "macvlan",
            "192.168.50.0/24",
            "192.168.50.1",
            "enp0s8",
            "bridge",
            "mac1",
        ] {
            assert!(line.contains(w), "{line}");
        }
    }

    #[test]
    fn columns_are_two_spaces_apart_without_borders_or_trailing_spaces() {
        let text = align(
            &["IDX", "NAME", "ADDRESSES"],
            &[
                vec!["1".into(), "lo".into(), "127.0.0.1/8".into()],
                vec!["12".into(), "eth0-long".into(), "-".into()],
            ],
        );
        assert_eq!(
            text,
            "IDX  NAME       ADDRESSES\n\
             1    lo         127.0.0.1/8\n\
             12   eth0-long  -\n"
        );
        assert_eq!(align(&["A", "B"], &[]), "A  B\n");
    }

    use crate::inventory::model::{FilterRule, NatBackend, NatOwner};

    #[test]
    fn filter_chains_are_listed_with_hook_and_policy() {
        let mut ns = NamespaceInventory::empty("root", 1, NetnsSource::Root);
        let entry = |chain: &str, hook: Option<&str>, rule: Option<&str>| FilterRule {
            family: "ip".into(),
            table: "filter".into(),
            chain: chain.into(),
            hook: hook.map(str::to_string),
            policy: hook.map(|_| "drop".to_string()),
            priority: hook.map(|_| 0),
            rule: rule.map(str::to_string),
            owner: NatOwner::Docker,
            backend: NatBackend::Nftables,
        };
        ns.filter
            .push(entry("FORWARD", Some("forward"), Some("jump DOCKER-USER")));
        ns.filter.push(entry("DOCKER-USER", None, None));
        let text = render_namespace(&ns);
        let section = &text[text.find("\nfilter\n").expect("a filter section")..];
        let lines: Vec<Vec<&str>> = section
            .lines()
            .skip(2)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines[0],
            ["TABLE", "CHAIN", "HOOK", "POLICY", "OWNER", "RULE"]
        );
        assert_eq!(
            lines[1],
            [
                "ip",
                "filter",
                "FORWARD",
                "forward",
                "drop",
                "docker",
                "jump",
                "DOCKER-USER"
            ]
        );
        assert_eq!(
            lines[2],
            [
                "ip",
                "filter",
                "DOCKER-USER",
                "-",
                "-",
                "docker",
                "(no",
                "rules)"
            ]
        );
    }
}
