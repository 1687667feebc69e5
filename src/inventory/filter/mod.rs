//! Filter chains of a namespace, and what they do to a packet.
//!
//! - Reading ([`crate::inventory::nat::read_rules_with`] runs nft and iptables-legacy-save once
//!   for NAT and filter): from nftables, the base chains of type `filter` on the `forward`,
//!   `input` and `output` hooks of the `ip`, `ip6` and `inet` families, with their policies
//!   and priorities, and every regular chain they reach by jump/goto (Docker's `DOCKER-USER`,
//!   `DOCKER-FORWARD`, `DOCKER-ISOLATION-STAGE-1/2`, netavark's `NETAVARK_FORWARD`);
//!   iptables-nft's tables are among them (`ip filter`), their x_tables extensions taken from
//!   nft's text listing as for NAT. From legacy iptables, every chain of the `filter` table,
//!   when this namespace's x_tables list one. Each rule becomes one [`FilterRule`] in nft
//!   syntax; a chain without rules one entry with `rule: None`, so its policy shows.
//! - Evaluating: [`rule`] parses each rule's text into typed matches and an action, and
//!   [`FilterView::verdict`] (`ns.filter_view().verdict(Hook::Forward, &packet)`)
//!   walks a hook's base chains for a [`PacketFacts`] and returns a [`FilterVerdict`]:
//!   accept, drop or reject with the rule or policy that decided, or unknown with the reason
//!   when a rule it cannot model might match first. See [`eval`] for the semantics.

pub mod eval;
pub mod rule;

use std::collections::HashSet;

use super::model::{FilterRule, NamespaceInventory, NatBackend};
use super::nat::iptables::{self, SavedTable};
use super::nat::nft::{NftRule, NftRuleset};
use super::nat::owner::attribute_owner;

pub use eval::{DecidedBy, FilterVerdict, FilterView, Hook, PacketFacts};
pub use rule::CtState;

impl NamespaceInventory {
    /// This namespace's filter chains, ready for [`FilterView::verdict`].
    pub fn filter_view(&self) -> FilterView {
        FilterView::new(&self.filter)
    }
}

/// The hooks whose filter chains are read.
const HOOKS: [&str; 3] = ["forward", "input", "output"];

/// The filter chains of an nftables ruleset: base chains of type filter on the forward,
/// input and output hooks of the IP families, and the chains they reach.
pub fn filter_chains(ruleset: &NftRuleset) -> HashSet<(String, String, String)> {
    ruleset.chains_reached_from(|c| {
        c.kind.as_deref() == Some("filter")
            && c.hook.as_deref().is_some_and(|h| HOOKS.contains(&h))
            && matches!(c.family.as_str(), "ip" | "ip6" | "inet")
    })
}

/// The inventory's entries for the nftables filter chains, chain by chain in listing order.
/// `render` gives a rule's text (nft's own for iptables-nft extensions).
pub fn nft_entries(
    ruleset: &NftRuleset,
    chains: &HashSet<(String, String, String)>,
    rules: &[&NftRule],
    render: impl Fn(&NftRule) -> String,
) -> Vec<FilterRule> {
    let mut entries = Vec::new();
    for chain in &ruleset.chains {
        let key = (
            chain.family.clone(),
            chain.table.clone(),
            chain.name.clone(),
        );
        if !chains.contains(&key) {
            continue;
        }
        let base = chain.hook.is_some();
        let entry = |rule: Option<String>| {
            let owner = attribute_owner(
                &chain.table,
                &chain.name,
                rule.as_deref().unwrap_or_default(),
            );
            FilterRule {
                family: chain.family.clone(),
                table: chain.table.clone(),
                chain: chain.name.clone(),
                hook: chain.hook.clone(),
                policy: if base {
                    // nft leaves the policy out of a chain that keeps the default.
                    Some(chain.policy.clone().unwrap_or_else(|| "accept".to_string()))
                } else {
                    None
                },
                priority: if base { chain.priority } else { None },
                rule,
                owner,
                backend: NatBackend::Nftables,
            }
        };
        let mut any = false;
        for rule in rules
            .iter()
            .filter(|r| r.family == chain.family && r.table == chain.table && r.chain == chain.name)
        {
            entries.push(entry(Some(render(rule))));
            any = true;
        }
        if !any {
            entries.push(entry(None));
        }
    }
    entries
}

/// The inventory's entries for a legacy iptables `filter` table.
pub fn legacy_entries(saved: &SavedTable, family: &str, ipv6: bool) -> Vec<FilterRule> {
    let mut entries = Vec::new();
    for (chain, policy) in &saved.chains {
        let hook = match chain.as_str() {
            "FORWARD" => Some("forward"),
            "INPUT" => Some("input"),
            "OUTPUT" => Some("output"),
            _ => None,
        };
        let entry = |rule: Option<String>| FilterRule {
            family: family.to_string(),
            table: "filter".to_string(),
            chain: chain.clone(),
            hook: hook.map(str::to_string),
            policy: hook.map(|_| policy.as_deref().unwrap_or("ACCEPT").to_ascii_lowercase()),
            // x_tables' filter table registers at NF_IP_PRI_FILTER, 0.
            priority: hook.map(|_| 0),
            owner: attribute_owner("filter", chain, rule.as_deref().unwrap_or_default()),
            rule,
            backend: NatBackend::IptablesLegacy,
        };
        let mut any = false;
        for rule in saved.rules.iter().filter(|r| &r.chain == chain) {
            entries.push(entry(Some(iptables::render(&rule.args, ipv6))));
            any = true;
        }
        if !any {
            entries.push(entry(None));
        }
    }
    entries
}
