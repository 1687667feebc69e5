//! The filter verdict for one packet at one hook of one namespace, from the filter chains the
//! inventory read: the packet walk calls [`FilterView::verdict`].
//!
//! Netfilter semantics as modelled: the base chains of the hook run in priority order (lower
//! first; equal priorities in listing order, legacy iptables' filter table is priority 0 like
//! nft's `filter`). A `drop` or `reject` in any of them ends the packet; an `accept` ends only
//! that base chain, and the next one still runs. Inside a base chain, rules run in order,
//! `jump` enters a chain and comes back, `goto` enters one without coming back, `return` (or the
//! end of a regular chain) goes back to the caller, and the end of the base chain (or a
//! `return` in it) applies its policy. Chains are only of the families that see the packet
//! (`ip` or `ip6`, and `inet`). A rule with a match or statement that is not modelled gives
//! `Unknown` when its modelled matches hold: the packet might match it, so no guess is made.
//! Not modelled here: `bridge`, `netdev` and `arp` families, tc and eBPF programs.

use std::net::IpAddr;

use super::rule::{
    any_addr_contains, interface_matches, parse_rule, Action, AddrField, Cond, CtState, IpVersion,
    ModelledRule, PortField,
};
use crate::inventory::model::FilterRule;

/// The hooks whose filter chains are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum Hook {
    Forward,
    Input,
    Output,
}

impl Hook {
    pub fn as_str(&self) -> &'static str {
        self.into()
    }

    fn from_word(word: &str) -> Option<Self> {
        word.parse().ok()
    }
}

/// What the evaluator knows about a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketFacts {
    /// The interface it came in on (none for locally generated packets).
    pub iif: Option<String>,
    /// The interface it leaves by (none for packets delivered locally).
    pub oif: Option<String>,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The IP protocol number (1 ICMP, 6 TCP, 17 UDP, 58 ICMPv6).
    pub protocol: u8,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub ct: CtState,
}

/// Which rule (or policy) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedBy {
    pub family: String,
    pub table: String,
    pub chain: String,
    /// The rule's text; `None` when the chain's policy decided.
    pub rule: Option<String>,
}

/// The outcome of the hook's filter chains for one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterVerdict {
    /// Let through; `by` is the last base chain's deciding rule or policy, `None` when the
    /// hook has no filter chain at all.
    Accept {
        by: Option<DecidedBy>,
    },
    Drop {
        by: DecidedBy,
    },
    Reject {
        by: DecidedBy,
    },
    /// A rule that is not modelled might match before any verdict.
    Unknown {
        why: String,
    },
}

#[derive(Debug, Clone)]
struct ChainView {
    family: String,
    table: String,
    name: String,
    hook: Option<Hook>,
    /// `true` for policy drop.
    drops: bool,
    priority: i64,
    rules: Vec<(String, ModelledRule)>,
}

/// A namespace's filter chains, ready to evaluate.
#[derive(Debug, Clone, Default)]
pub struct FilterView {
    chains: Vec<ChainView>,
}

/// How deep jumps may nest before the evaluator gives up (the kernel allows 16 in nft).
const MAX_JUMP_DEPTH: usize = 16;

enum ChainOutcome {
    Accept(DecidedBy),
    Drop(DecidedBy),
    Reject(DecidedBy),
    Unknown(String),
}

impl FilterView {
    /// Build from the inventory's filter entries (one namespace's).
    pub fn new(entries: &[FilterRule]) -> Self {
        let mut chains: Vec<ChainView> = Vec::new();
        for entry in entries {
            let index = match chains.iter().position(|c| {
                c.family == entry.family && c.table == entry.table && c.name == entry.chain
            }) {
                Some(index) => index,
                None => {
                    chains.push(ChainView {
                        family: entry.family.clone(),
                        table: entry.table.clone(),
                        name: entry.chain.clone(),
                        hook: entry.hook.as_deref().and_then(Hook::from_word),
                        drops: entry.policy.as_deref() == Some("drop"),
                        priority: entry.priority.unwrap_or(0),
                        rules: Vec::new(),
                    });
                    chains.len() - 1
                }
            };
            if let Some(text) = &entry.rule {
                chains[index].rules.push((text.clone(), parse_rule(text)));
            }
        }
        FilterView { chains }
    }

    /// The verdict of `hook`'s filter chains for `pkt`.
    pub fn verdict(&self, hook: Hook, pkt: &PacketFacts) -> FilterVerdict {
        let v6 = pkt.src.is_ipv6();
        let mut bases: Vec<usize> = (0..self.chains.len())
            .filter(|&i| {
                let c = &self.chains[i];
                c.hook == Some(hook)
                    && match c.family.as_str() {
                        "inet" => true,
                        "ip" => !v6,
                        "ip6" => v6,
                        _ => false,
                    }
            })
            .collect();
        bases.sort_by_key(|&i| self.chains[i].priority);
        let mut last_accept = None;
        for base in bases {
            match self.run_base(base, pkt) {
                ChainOutcome::Accept(by) => last_accept = Some(by),
                ChainOutcome::Drop(by) => return FilterVerdict::Drop { by },
                ChainOutcome::Reject(by) => return FilterVerdict::Reject { by },
                ChainOutcome::Unknown(why) => return FilterVerdict::Unknown { why },
            }
        }
        FilterVerdict::Accept { by: last_accept }
    }

    fn find(&self, from: usize, name: &str) -> Option<usize> {
        let c = &self.chains[from];
        self.chains
            .iter()
            .position(|o| o.family == c.family && o.table == c.table && o.name == name)
    }

    fn run_base(&self, base: usize, pkt: &PacketFacts) -> ChainOutcome {
        let policy = || {
            let c = &self.chains[base];
            let by = decided(c, None);
            if c.drops {
                ChainOutcome::Drop(by)
            } else {
                ChainOutcome::Accept(by)
            }
        };
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let (mut chain, mut pos) = (base, 0);
        loop {
            let c = &self.chains[chain];
            let Some((text, rule)) = c.rules.get(pos) else {
                match stack.pop() {
                    Some((caller, next)) => {
                        (chain, pos) = (caller, next);
                        continue;
                    }
                    None => return policy(),
                }
            };
            pos += 1;
            if !rule.conds.iter().all(|cond| holds(cond, pkt)) {
                continue;
            }
            if !rule.unknown.is_empty() {
                return ChainOutcome::Unknown(format!(
                    "the rule \"{text}\" in {} {} chain {} uses {}, which netview does not \
                     evaluate",
                    c.family,
                    c.table,
                    c.name,
                    rule.unknown.join(", ")
                ));
            }
            let by = || decided(c, Some(text));
            match &rule.action {
                Action::Accept => return ChainOutcome::Accept(by()),
                Action::Drop => return ChainOutcome::Drop(by()),
                Action::Reject => return ChainOutcome::Reject(by()),
                Action::Continue => {}
                Action::Return => match stack.pop() {
                    Some((caller, next)) => (chain, pos) = (caller, next),
                    None => return policy(),
                },
                Action::Jump(target) | Action::Goto(target) => {
                    let Some(next) = self.find(chain, target) else {
                        return ChainOutcome::Unknown(format!(
                            "the rule \"{text}\" in {} {} chain {} goes to chain {target}, \
                             which was not read",
                            c.family, c.table, c.name
                        ));
                    };
                    if matches!(rule.action, Action::Jump(_)) {
                        if stack.len() >= MAX_JUMP_DEPTH {
                            return ChainOutcome::Unknown(format!(
                                "jumps from {} {} chain {} nest deeper than {MAX_JUMP_DEPTH}",
                                c.family, c.table, c.name
                            ));
                        }
                        stack.push((chain, pos));
                    }
                    (chain, pos) = (next, 0);
                }
                Action::Unknown(what) => {
                    return ChainOutcome::Unknown(format!(
                        "the rule \"{text}\" in {} {} chain {} ends in {what}, which netview \
                         does not evaluate",
                        c.family, c.table, c.name
                    ))
                }
            }
        }
    }
}

fn decided(c: &ChainView, rule: Option<&str>) -> DecidedBy {
    DecidedBy {
        family: c.family.clone(),
        table: c.table.clone(),
        chain: c.name.clone(),
        rule: rule.map(str::to_string),
    }
}

fn holds(cond: &Cond, pkt: &PacketFacts) -> bool {
    match cond {
        Cond::Interface {
            input,
            negate,
            names,
        } => {
            let name = if *input { &pkt.iif } else { &pkt.oif };
            let name = name.as_deref().unwrap_or("");
            names.iter().any(|p| interface_matches(p, name)) != *negate
        }
        Cond::Address {
            version,
            field,
            negate,
            items,
        } => {
            let addr = match field {
                AddrField::Source => pkt.src,
                AddrField::Destination => pkt.dst,
            };
            // `ip saddr` carries an implicit "is IPv4" that `!=` does not negate.
            let right_version = match version {
                IpVersion::V4 => addr.is_ipv4(),
                IpVersion::V6 => addr.is_ipv6(),
            };
            right_version && any_addr_contains(items, addr) != *negate
        }
        Cond::Protocol { negate, protocols } => protocols.contains(&pkt.protocol) != *negate,
        Cond::Port {
            protocol,
            field,
            negate,
            ranges,
        } => {
            // `tcp dport` carries an implicit "is TCP" (and `th` "has ports").
            let port = match field {
                PortField::Source => pkt.sport,
                PortField::Destination => pkt.dport,
            };
            let Some(port) = port else {
                return false;
            };
            if protocol.is_some_and(|p| p != pkt.protocol) {
                return false;
            }
            ranges.iter().any(|(lo, hi)| *lo <= port && port <= *hi) != *negate
        }
        Cond::Conntrack { negate, states } => states.contains(&pkt.ct) != *negate,
    }
}

#[cfg(test)]
mod tests;
