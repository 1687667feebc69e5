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
            let owner = match &r.container {
                Some(c) => format!("{} → {c}", r.owner.as_str()),
                None => r.owner.as_str().to_string(),
            };
            TableRow {
                cells: vec![
                    r.family.clone(),
                    r.table.clone(),
                    r.chain.clone(),
                    owner,
                    r.rule.clone(),
                ],
                detail: format!(
                    "{} {} {} ({}, {}{}): {}",
                    r.family,
                    r.table,
                    r.chain,
                    backend,
                    r.owner.as_str(),
                    r.container
                        .as_deref()
                        .map(|c| format!(", container {c}"))
                        .unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{NatOwner, NatRule};
    use crate::netns::NetnsSource;

    #[test]
    fn a_rule_naming_a_container_shows_its_name() {
        let mut ns = NamespaceInventory::empty("root", 1, NetnsSource::Root);
        for container in [Some("web".to_string()), None] {
            ns.nat.push(NatRule {
                family: "ip".into(),
                table: "nat".into(),
                chain: "DOCKER".into(),
                rule: "tcp dport 8080 dnat to 172.17.0.2:80".into(),
                owner: NatOwner::Docker,
                backend: NatBackend::Nftables,
                container,
            });
        }
        let t = table(&ns);
        assert_eq!(t.rows[0].cells[3], "docker → web");
        assert!(t.rows[0].detail.contains("container web"));
        assert_eq!(t.rows[1].cells[3], "docker");
    }
}
