//! NAT as the walk needs it: the inventory's NAT rules (nft syntax, see
//! `crate::inventory::nat`) decoded into the few matches and statements Docker, Podman and
//! netview write (`ip saddr/daddr`, `iifname/oifname` with `!=` and a trailing `*`, `tcp/udp
//! dport`, `meta l4proto`, `fib daddr type local`, `masquerade`, `snat to`, `dnat to`, `jump`,
//! `goto`, `return`, `accept`, `meta mark set` and `meta mark & MASK == VALUE`, and comments,
//! iptables' `xt match comment` too), evaluated in chain order. The packet's mark is what
//! these rules set on it, and it lasts while the packet stays in the namespace. A rule the walk reaches but cannot
//! decode yields [`NatEval::Unknown`] naming it: the walk never guesses past it.
//!
//! Base chains are told by name (`PREROUTING`/`prerouting`, `OUTPUT`, `POSTROUTING`), which is
//! how iptables, Docker, Podman and netview name them; the inventory does not keep hooks.

use std::net::Ipv4Addr;

use crate::inventory::NatRule;

use super::filter::Protocol;

/// Where NAT runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NatHook {
    Prerouting,
    Output,
    Postrouting,
}

impl NatHook {
    fn of_chain(chain: &str) -> Option<NatHook> {
        match chain.to_ascii_lowercase().as_str() {
            "prerouting" => Some(NatHook::Prerouting),
            "output" => Some(NatHook::Output),
            "postrouting" => Some(NatHook::Postrouting),
            _ => None,
        }
    }
}

/// The packet as NAT matches it.
#[derive(Debug, Clone)]
pub(super) struct NatPacket<'a> {
    pub protocol: Protocol,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub dport: Option<u16>,
    pub iif: Option<&'a str>,
    pub oif: Option<&'a str>,
    /// Whether the destination is one of this namespace's own addresses (`fib daddr type
    /// local`).
    pub dst_is_local: bool,
    /// The packet's mark (`meta mark`): 0 until a rule in this namespace sets it.
    pub mark: u32,
}

/// What NAT does to the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NatEval {
    /// No rule translates it.
    Untouched,
    /// Masquerade: the source becomes the outgoing interface's address.
    Masquerade {
        rule: String,
    },
    Snat {
        to: Ipv4Addr,
        rule: String,
    },
    Dnat {
        to: Ipv4Addr,
        port: Option<u16>,
        rule: String,
    },
    /// A rule on the way cannot be decoded.
    Unknown {
        rule: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Saddr(bool, ipnet::Ipv4Net),
    Daddr(bool, ipnet::Ipv4Net),
    Iifname(bool, String),
    Oifname(bool, String),
    Proto(Protocol),
    Dport(bool, u16),
    FibDaddrLocal,
    Masquerade,
    Snat(Ipv4Addr),
    Dnat(Ipv4Addr, Option<u16>),
    Jump(String),
    Goto(String),
    Return,
    Accept,
    /// `meta mark & mask == value` (`!=` when negated).
    MarkIs {
        neg: bool,
        mask: u32,
        value: u32,
    },
    /// `meta mark set VALUE`, or `meta mark set mark or VALUE` (`or` true).
    MarkSet {
        or: bool,
        value: u32,
    },
    /// A match no walked packet meets (a UDP port: the probes are ICMP and TCP).
    Never,
    /// Something the walk does not decode.
    Undecoded,
}

fn tokens(rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in rule.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn prefix(s: &str) -> Option<ipnet::Ipv4Net> {
    if let Ok(n) = s.parse::<ipnet::Ipv4Net>() {
        return Some(n.trunc());
    }
    s.parse::<Ipv4Addr>()
        .ok()
        .and_then(|a| ipnet::Ipv4Net::new(a, 32).ok())
}

fn protocol(s: &str) -> Option<Protocol> {
    match s {
        "tcp" => Some(Protocol::Tcp),
        "icmp" => Some(Protocol::Icmp),
        _ => None,
    }
}

/// A mark as nft prints it: `0x00002000` or decimal.
fn mark_value(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn nat_target(s: &str) -> Option<(Ipv4Addr, Option<u16>)> {
    match s.split_once(':') {
        Some((a, p)) => Some((a.parse().ok()?, Some(p.parse().ok()?))),
        None => Some((s.parse().ok()?, None)),
    }
}

/// Decode one rule's text into items; what cannot be read becomes [`Item::Undecoded`].
fn decode(rule: &str) -> Vec<Item> {
    let t = tokens(rule);
    let mut items = Vec::new();
    let mut i = 0;
    let negated = |i: &mut usize| {
        if t.get(*i).map(String::as_str) == Some("!=") {
            *i += 1;
            true
        } else {
            false
        }
    };
    while i < t.len() {
        let w = t[i].as_str();
        i += 1;
        let item = match (w, t.get(i).map(String::as_str)) {
            ("ip", Some(which @ ("saddr" | "daddr"))) => {
                i += 1;
                let neg = negated(&mut i);
                let value = t.get(i).and_then(|v| prefix(v));
                i += 1;
                match (which, value) {
                    ("saddr", Some(p)) => Item::Saddr(neg, p),
                    ("daddr", Some(p)) => Item::Daddr(neg, p),
                    _ => Item::Undecoded,
                }
            }
            ("ip", Some("protocol")) | ("meta", Some("l4proto")) => {
                i += 1;
                let p = t.get(i).and_then(|v| protocol(v));
                i += 1;
                p.map(Item::Proto).unwrap_or(Item::Undecoded)
            }
            (which @ ("iifname" | "oifname"), _) => {
                let neg = negated(&mut i);
                let name = t.get(i).cloned();
                i += 1;
                match (which, name) {
                    (_, Some(n)) if n.starts_with('{') => Item::Undecoded,
                    ("iifname", Some(n)) => Item::Iifname(neg, n),
                    ("oifname", Some(n)) => Item::Oifname(neg, n),
                    _ => Item::Undecoded,
                }
            }
            (p @ ("tcp" | "udp"), Some("dport")) => {
                i += 1;
                let neg = negated(&mut i);
                let port = t.get(i).and_then(|v| v.parse().ok());
                i += 1;
                match (protocol(p), port) {
                    (Some(proto), Some(port)) => {
                        items.push(Item::Proto(proto));
                        Item::Dport(neg, port)
                    }
                    // udp: the walk's probes are ICMP and TCP, so a udp match never matches.
                    (None, Some(_)) => Item::Never,
                    _ => Item::Undecoded,
                }
            }
            ("meta", Some("mark")) => {
                i += 1;
                let word = |i: usize| t.get(i).map(String::as_str);
                match word(i) {
                    Some("set") if word(i + 1) == Some("mark") && word(i + 2) == Some("or") => {
                        i += 4;
                        match word(i - 1).and_then(mark_value) {
                            Some(value) => Item::MarkSet { or: true, value },
                            None => Item::Undecoded,
                        }
                    }
                    Some("set") => {
                        i += 2;
                        match word(i - 1).and_then(mark_value) {
                            Some(value) => Item::MarkSet { or: false, value },
                            None => Item::Undecoded,
                        }
                    }
                    _ => {
                        let mask = if word(i) == Some("&") {
                            i += 2;
                            word(i - 1).and_then(mark_value)
                        } else {
                            Some(u32::MAX)
                        };
                        let neg = match word(i) {
                            Some("==") => {
                                i += 1;
                                false
                            }
                            Some("!=") => {
                                i += 1;
                                true
                            }
                            _ => false,
                        };
                        i += 1;
                        match (mask, word(i - 1).and_then(mark_value)) {
                            (Some(mask), Some(value)) => Item::MarkIs { neg, mask, value },
                            _ => Item::Undecoded,
                        }
                    }
                }
            }
            ("fib", Some("daddr"))
                if t.get(i + 1..i + 3) == Some(&["type".into(), "local".into()]) =>
            {
                i += 3;
                Item::FibDaddrLocal
            }
            ("counter", _) => {
                if t.get(i).map(String::as_str) == Some("packets") {
                    i += 4;
                }
                continue;
            }
            ("comment", _) => {
                i += 1;
                continue;
            }
            // iptables' `-m comment`, which nft lists as an xt match when it has no native
            // form (netavark's rules): no effect on the packet, as the filter reader takes it.
            ("xt", Some("match")) if t.get(i + 1).map(String::as_str) == Some("comment") => {
                i += 2;
                continue;
            }
            ("masquerade", _) => {
                // Flags (random, persistent, fully-random) do not change the address.
                while matches!(
                    t.get(i).map(String::as_str),
                    Some("random" | "persistent" | "fully-random" | "random,persistent")
                ) {
                    i += 1;
                }
                Item::Masquerade
            }
            (which @ ("snat" | "dnat"), _) => {
                if t.get(i).map(String::as_str) == Some("ip") {
                    i += 1;
                }
                if t.get(i).map(String::as_str) != Some("to") {
                    Item::Undecoded
                } else {
                    i += 1;
                    let target = t.get(i).and_then(|v| nat_target(v));
                    i += 1;
                    match (which, target) {
                        ("snat", Some((a, None))) => Item::Snat(a),
                        ("dnat", Some((a, p))) => Item::Dnat(a, p),
                        _ => Item::Undecoded,
                    }
                }
            }
            ("jump", Some(c)) => {
                i += 1;
                Item::Jump(c.to_string())
            }
            ("goto", Some(c)) => {
                i += 1;
                Item::Goto(c.to_string())
            }
            ("return", _) => Item::Return,
            ("accept", _) => Item::Accept,
            _ => Item::Undecoded,
        };
        items.push(item);
    }
    items
}

fn name_matches(pattern: &str, name: Option<&str>) -> bool {
    let Some(name) = name else { return false };
    match pattern.strip_suffix('*') {
        Some(stem) => name.starts_with(stem),
        None => name == pattern,
    }
}

enum Flow {
    Next,
    Return,
    Done(NatEval),
}

struct Tables<'a> {
    rules: &'a [NatRule],
}

impl Tables<'_> {
    fn chain<'b>(&'b self, base: &'b NatRule, chain: &'b str) -> impl Iterator<Item = &'b NatRule> {
        self.rules
            .iter()
            .filter(move |r| r.family == base.family && r.table == base.table && r.chain == chain)
    }

    fn run(&self, base: &NatRule, chain: &str, pkt: &mut NatPacket<'_>, depth: u8) -> Flow {
        if depth > 16 {
            return Flow::Done(NatEval::Unknown {
                rule: format!("chain {chain} jumps more than 16 deep"),
            });
        }
        for rule in self.chain(base, chain) {
            match self.rule(base, rule, pkt, depth) {
                Flow::Next => continue,
                other => return other,
            }
        }
        Flow::Return
    }

    fn rule(&self, base: &NatRule, rule: &NatRule, pkt: &mut NatPacket<'_>, depth: u8) -> Flow {
        for item in decode(&rule.rule) {
            let hit = match &item {
                Item::Saddr(neg, p) => p.contains(&pkt.src) != *neg,
                Item::Daddr(neg, p) => p.contains(&pkt.dst) != *neg,
                Item::Iifname(neg, n) => name_matches(n, pkt.iif) != *neg,
                Item::Oifname(neg, n) => name_matches(n, pkt.oif) != *neg,
                Item::Proto(p) => *p == pkt.protocol,
                Item::Dport(neg, port) => (pkt.dport == Some(*port)) != *neg,
                Item::FibDaddrLocal => pkt.dst_is_local,
                Item::MarkIs { neg, mask, value } => (pkt.mark & mask == *value) != *neg,
                Item::MarkSet { or, value } => {
                    pkt.mark = if *or { pkt.mark | value } else { *value };
                    true
                }
                Item::Never => false,
                Item::Undecoded => {
                    return Flow::Done(NatEval::Unknown {
                        rule: rule.rule.clone(),
                    })
                }
                Item::Masquerade => {
                    return Flow::Done(NatEval::Masquerade {
                        rule: rule.rule.clone(),
                    })
                }
                Item::Snat(a) => {
                    return Flow::Done(NatEval::Snat {
                        to: *a,
                        rule: rule.rule.clone(),
                    })
                }
                Item::Dnat(a, p) => {
                    return Flow::Done(NatEval::Dnat {
                        to: *a,
                        port: *p,
                        rule: rule.rule.clone(),
                    })
                }
                Item::Jump(c) => match self.run(base, c, pkt, depth + 1) {
                    Flow::Done(e) => return Flow::Done(e),
                    Flow::Next | Flow::Return => return Flow::Next,
                },
                Item::Goto(c) => match self.run(base, c, pkt, depth + 1) {
                    Flow::Done(e) => return Flow::Done(e),
                    Flow::Next | Flow::Return => return Flow::Return,
                },
                Item::Return => return Flow::Return,
                Item::Accept => return Flow::Done(NatEval::Untouched),
            };
            if !hit {
                return Flow::Next;
            }
        }
        Flow::Next
    }
}

/// What the namespace's NAT rules at `hook` do to `pkt`: each IPv4 table's base chain for the
/// hook in the order read, the first translation winning; `pkt.mark` is left as they set it.
pub(super) fn evaluate(rules: &[NatRule], hook: NatHook, pkt: &mut NatPacket<'_>) -> NatEval {
    let tables = Tables { rules };
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    for base in rules {
        if !matches!(base.family.as_str(), "ip" | "inet")
            || NatHook::of_chain(&base.chain) != Some(hook)
        {
            continue;
        }
        let key = (
            base.family.as_str(),
            base.table.as_str(),
            base.chain.as_str(),
        );
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if let Flow::Done(e) = tables.run(base, &base.chain, pkt, 0) {
            if e != NatEval::Untouched {
                return e;
            }
        }
    }
    NatEval::Untouched
}
