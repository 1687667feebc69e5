//! Filter tab: every rule of the filter chains on the forward, input and output hooks (and the
//! chains they jump to), with the chain's hook and policy and who wrote the rule.

use crate::inventory::{NamespaceInventory, NatBackend};
use crate::ui::table::{TabTable, TableRow};

pub const HEADER: &[&str] = &[
    "FAMILY", "TABLE", "CHAIN", "HOOK", "POLICY", "OWNER", "RULE",
];

pub fn table(ns: &NamespaceInventory) -> TabTable {
    let rows = ns
        .filter
        .iter()
        .map(|r| {
            let backend = match r.backend {
                NatBackend::Nftables => "nftables",
                NatBackend::IptablesLegacy => "iptables-legacy",
            };
            let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
            let rule = r.rule.clone().unwrap_or_else(|| "(no rules)".to_string());
            let base = match (&r.hook, &r.policy) {
                (Some(hook), Some(policy)) => format!("hook {hook}, policy {policy}, "),
                _ => String::new(),
            };
            TableRow {
                cells: vec![
                    r.family.clone(),
                    r.table.clone(),
                    r.chain.clone(),
                    dash(&r.hook),
                    dash(&r.policy),
                    r.owner.as_str().to_string(),
                    rule.clone(),
                ],
                detail: format!(
                    "{} {} {} ({base}{}, {}): {rule}",
                    r.family,
                    r.table,
                    r.chain,
                    backend,
                    r.owner.as_str(),
                ),
            }
        })
        .collect();
    TabTable {
        header: HEADER,
        rows,
        drop_order: &[0, 1, 4, 3],
        group_column: Some(2),
    }
}
