//! A filter rule as the evaluator models it: typed matches and one action, parsed from the
//! rule's nft-syntax text.
//!
//! The text is the one form all three sources share: native nftables rules are rendered from
//! the `nftables` crate's typed statements ([`crate::inventory::nat::format`]), iptables-nft's
//! x_tables extensions are only translated (`ct state related,established`, `udp dport { 53,
//! 67-68 }`) in nft's own text listing (its JSON keeps just `xt match conntrack`), and legacy
//! iptables rules are rendered into the same syntax by [`crate::inventory::nat::iptables`].
//! What the parser does not model (a `fib` lookup, a named set, an x_tables extension nft could
//! not translate, legacy iptables text) is kept, by name, in [`ModelledRule::unknown`].

use std::net::IpAddr;

use ipnet::IpNet;

/// The packet field a port match reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortField {
    Source,
    Destination,
}

/// Which address of the packet a match reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrField {
    Source,
    Destination,
}

/// The IP version an address match implies (`ip saddr` only sees IPv4 packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

/// A conntrack state, as the packet has it and as `ct state` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

impl CtState {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "new" => CtState::New,
            "established" => CtState::Established,
            "related" => CtState::Related,
            "invalid" => CtState::Invalid,
            "untracked" => CtState::Untracked,
            _ => return None,
        })
    }
}

/// One address element: a host, a prefix or a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrItem {
    Net(IpNet),
    Range(IpAddr, IpAddr),
}

impl AddrItem {
    fn contains(&self, addr: IpAddr) -> bool {
        match self {
            AddrItem::Net(net) => net.contains(&addr),
            AddrItem::Range(low, high) => match (low, high, addr) {
                (IpAddr::V4(l), IpAddr::V4(h), IpAddr::V4(a)) => *l <= a && a <= *h,
                (IpAddr::V6(l), IpAddr::V6(h), IpAddr::V6(a)) => *l <= a && a <= *h,
                _ => false,
            },
        }
    }
}

/// One match of a rule. `negate` is nft's `!=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// `iifname` / `oifname`: names, a trailing `*` is a prefix wildcard.
    Interface {
        input: bool,
        negate: bool,
        names: Vec<String>,
    },
    /// `ip saddr` / `ip6 daddr` ...: only packets of that IP version can match.
    Address {
        version: IpVersion,
        field: AddrField,
        negate: bool,
        items: Vec<AddrItem>,
    },
    /// `ip protocol` / `meta l4proto` / `ip6 nexthdr`, as protocol numbers.
    Protocol { negate: bool, protocols: Vec<u8> },
    /// `tcp dport 80`, `udp sport 1000-2000`, `th dport { 53, 67 }`: only packets of that
    /// protocol (any port-carrying one for `th`) can match.
    Port {
        protocol: Option<u8>,
        field: PortField,
        negate: bool,
        ranges: Vec<(u16, u16)>,
    },
    /// `ct state established,related`.
    Conntrack { negate: bool, states: Vec<CtState> },
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Accept,
    Drop,
    Reject,
    Jump(String),
    Goto(String),
    Return,
    /// No verdict (`continue`, or a rule of only `counter` / `log`): the next rule runs.
    Continue,
    /// A statement that may decide but is not modelled (an x_tables target, `queue`...).
    Unknown(String),
}

/// A rule as the evaluator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelledRule {
    /// All must hold for the rule to match.
    pub conds: Vec<Cond>,
    pub action: Action,
    /// Matches that are not modelled, by what they are (`fib daddr type local`): with any of
    /// them the rule may or may not match.
    pub unknown: Vec<String>,
}

/// Protocol numbers by the names nft and iptables print.
pub fn protocol_number(name: &str) -> Option<u8> {
    if let Ok(n) = name.parse::<u8>() {
        return Some(n);
    }
    Some(match name.to_ascii_lowercase().as_str() {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

/// Words that start a statement the parser knows; after a statement it does not know, it
/// skips to the next of these.
const STATEMENT_STARTS: &[&str] = &[
    "iifname", "oifname", "ip", "ip6", "meta", "tcp", "udp", "th", "sctp", "ct", "counter", "log",
    "comment", "accept", "drop", "reject", "return", "continue", "jump", "goto", "xt",
];

/// Split nft text into words: quoted strings stay one word (quotes removed, marked by a
/// leading `"`), and `{`, `}` and `,` are words of their own.
fn tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            words.push(std::mem::take(current));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                flush(&mut current, &mut words);
                let mut quoted = String::from('"');
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(next) = chars.next() {
                                quoted.push(next);
                            }
                        }
                        '"' => break,
                        c => quoted.push(c),
                    }
                }
                words.push(quoted);
            }
            '{' | '}' | ',' => {
                flush(&mut current, &mut words);
                words.push(c.to_string());
            }
            c if c.is_whitespace() => flush(&mut current, &mut words),
            c => current.push(c),
        }
    }
    flush(&mut current, &mut words);
    words
}

fn unquote(word: &str) -> &str {
    word.strip_prefix('"').unwrap_or(word)
}

struct Parser {
    words: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.words.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let word = self.words.get(self.at).cloned();
        self.at += 1;
        word
    }

    /// `!=` (or `==`) before a value.
    fn negation(&mut self) -> bool {
        match self.peek() {
            Some("!=") => {
                self.at += 1;
                true
            }
            Some("==") => {
                self.at += 1;
                false
            }
            _ => false,
        }
    }

    /// One value, a comma list (`related,established`) or a set (`{ a, b }`).
    fn values(&mut self) -> Option<Vec<String>> {
        let mut values = Vec::new();
        if self.peek() == Some("{") {
            self.at += 1;
            loop {
                match self.next()?.as_str() {
                    "}" => break,
                    "," => {}
                    value => values.push(value.to_string()),
                }
            }
        } else {
            values.push(self.next()?);
            while self.peek() == Some(",") {
                self.at += 1;
                values.push(self.next()?);
            }
        }
        if values.is_empty() {
            None
        } else {
            Some(values)
        }
    }

    /// Skip the words of a statement that is not modelled, up to the next known start.
    fn skip_statement(&mut self, from: usize) -> String {
        self.at = from + 1;
        while let Some(word) = self.peek() {
            if STATEMENT_STARTS.contains(&word) {
                break;
            }
            self.at += 1;
        }
        self.words[from..self.at]
            .iter()
            .map(|w| match w.strip_prefix('"') {
                Some(s) => format!("\"{s}\""),
                None => w.clone(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn parse_addr_item(word: &str) -> Option<AddrItem> {
    if let Some((low, high)) = word.split_once('-') {
        return Some(AddrItem::Range(low.parse().ok()?, high.parse().ok()?));
    }
    if let Ok(net) = word.parse::<IpNet>() {
        return Some(AddrItem::Net(net));
    }
    let addr: IpAddr = word.parse().ok()?;
    Some(AddrItem::Net(IpNet::from(addr)))
}

fn parse_port_range(word: &str) -> Option<(u16, u16)> {
    match word.split_once('-') {
        Some((low, high)) => Some((low.parse().ok()?, high.parse().ok()?)),
        None => {
            let port = word.parse().ok()?;
            Some((port, port))
        }
    }
}

/// Parse one rule's nft text.
pub fn parse_rule(text: &str) -> ModelledRule {
    let mut parser = Parser {
        words: tokenize(text),
        at: 0,
    };
    let mut rule = ModelledRule {
        conds: Vec::new(),
        action: Action::Continue,
        unknown: Vec::new(),
    };
    while let Some(word) = parser.peek().map(str::to_string) {
        let start = parser.at;
        parser.at += 1;
        let parsed = parse_statement(&word, &mut parser, &mut rule);
        if parsed.is_none() {
            let what = parser.skip_statement(start);
            rule.unknown.push(what);
        }
    }
    rule
}

/// Parse the statement starting with `word` (already consumed). `None` when it is not
/// modelled; the caller then skips it.
fn parse_statement(word: &str, p: &mut Parser, rule: &mut ModelledRule) -> Option<()> {
    match word {
        "iifname" | "oifname" => interface(word == "iifname", p, rule),
        "meta" => match p.next()?.as_str() {
            key @ ("iifname" | "oifname") => interface(key == "iifname", p, rule),
            "l4proto" => protocol(p, rule),
            _ => None,
        },
        "ip" | "ip6" => {
            let version = if word == "ip" {
                IpVersion::V4
            } else {
                IpVersion::V6
            };
            match p.next()?.as_str() {
                field @ ("saddr" | "daddr") => {
                    let negate = p.negation();
                    let values = p.values()?;
                    let items = values
                        .iter()
                        .map(|v| parse_addr_item(v))
                        .collect::<Option<Vec<_>>>()?;
                    let family_ok = items.iter().all(|i| match i {
                        AddrItem::Net(IpNet::V4(_)) => version == IpVersion::V4,
                        AddrItem::Net(IpNet::V6(_)) => version == IpVersion::V6,
                        AddrItem::Range(IpAddr::V4(_), _) => version == IpVersion::V4,
                        AddrItem::Range(IpAddr::V6(_), _) => version == IpVersion::V6,
                    });
                    if !family_ok {
                        return None;
                    }
                    rule.conds.push(Cond::Address {
                        version,
                        field: if field == "saddr" {
                            AddrField::Source
                        } else {
                            AddrField::Destination
                        },
                        negate,
                        items,
                    });
                    Some(())
                }
                "protocol" if version == IpVersion::V4 => protocol(p, rule),
                "nexthdr" if version == IpVersion::V6 => protocol(p, rule),
                _ => None,
            }
        }
        "tcp" | "udp" | "sctp" | "th" => {
            let field = match p.next()?.as_str() {
                "dport" => PortField::Destination,
                "sport" => PortField::Source,
                _ => return None,
            };
            let negate = p.negation();
            let ranges = p
                .values()?
                .iter()
                .map(|v| parse_port_range(v))
                .collect::<Option<Vec<_>>>()?;
            rule.conds.push(Cond::Port {
                protocol: if word == "th" {
                    None
                } else {
                    protocol_number(word)
                },
                field,
                negate,
                ranges,
            });
            Some(())
        }
        "ct" => {
            if p.next()?.as_str() != "state" {
                return None;
            }
            let negate = p.negation();
            let states = p
                .values()?
                .iter()
                .map(|v| CtState::from_word(v))
                .collect::<Option<Vec<_>>>()?;
            rule.conds.push(Cond::Conntrack { negate, states });
            Some(())
        }
        "counter" => {
            match p.peek() {
                Some("name") => p.at += 2,
                Some("packets") => p.at += 4,
                _ => {}
            }
            Some(())
        }
        "log" => {
            while let Some(option) = p.peek() {
                match option {
                    "prefix" | "level" | "group" | "snaplen" | "queue-threshold" => p.at += 2,
                    "flags" => {
                        p.at += 1;
                        p.values()?;
                    }
                    _ => break,
                }
            }
            Some(())
        }
        "comment" => {
            p.next()?;
            Some(())
        }
        "accept" => verdict(rule, Action::Accept),
        "drop" => verdict(rule, Action::Drop),
        "return" => verdict(rule, Action::Return),
        "continue" => verdict(rule, Action::Continue),
        "reject" => {
            if p.peek() == Some("with") {
                p.at += 1;
                match p.next()?.as_str() {
                    "tcp" => p.at += 1,
                    _ => {
                        if p.peek() == Some("type") {
                            p.at += 1;
                        }
                        p.at += 1;
                    }
                }
            }
            verdict(rule, Action::Reject)
        }
        "jump" => {
            let target = p.next()?;
            verdict(rule, Action::Jump(unquote(&target).to_string()))
        }
        "goto" => {
            let target = p.next()?;
            verdict(rule, Action::Goto(unquote(&target).to_string()))
        }
        "xt" => {
            let kind = p.next()?;
            let name = p.next()?;
            match (kind.as_str(), name.as_str()) {
                // Only a comment: no effect on the packet.
                ("match", "comment") => Some(()),
                ("target", "LOG" | "NFLOG") => Some(()),
                ("target", _) => verdict(rule, Action::Unknown(format!("xt target {name}"))),
                _ => {
                    rule.unknown.push(format!("xt {kind} {name}"));
                    Some(())
                }
            }
        }
        _ => None,
    }
}

fn verdict(rule: &mut ModelledRule, action: Action) -> Option<()> {
    rule.action = action;
    Some(())
}

fn interface(input: bool, p: &mut Parser, rule: &mut ModelledRule) -> Option<()> {
    let negate = p.negation();
    let names = p.values()?.iter().map(|v| unquote(v).to_string()).collect();
    rule.conds.push(Cond::Interface {
        input,
        negate,
        names,
    });
    Some(())
}

fn protocol(p: &mut Parser, rule: &mut ModelledRule) -> Option<()> {
    let negate = p.negation();
    let protocols = p
        .values()?
        .iter()
        .map(|v| protocol_number(v))
        .collect::<Option<Vec<_>>>()?;
    rule.conds.push(Cond::Protocol { negate, protocols });
    Some(())
}

/// Whether an interface name matches a rule's name (`eth*` is a prefix wildcard).
pub fn interface_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(stem) if !stem.ends_with('\\') => name.starts_with(stem),
        _ => pattern == name,
    }
}

pub(crate) fn any_addr_contains(items: &[AddrItem], addr: IpAddr) -> bool {
    items.iter().any(|i| i.contains(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules_parse_fully() {
        let r = parse_rule(r#"oifname "docker0" ct state related,established accept"#);
        assert_eq!(
            r.conds,
            vec![
                Cond::Interface {
                    input: false,
                    negate: false,
                    names: vec!["docker0".into()]
                },
                Cond::Conntrack {
                    negate: false,
                    states: vec![CtState::Related, CtState::Established]
                }
            ]
        );
        assert_eq!(r.action, Action::Accept);
        assert!(r.unknown.is_empty());

        let r = parse_rule(
            r#"iifname != "docker0" oifname "docker0" ip daddr 172.17.0.2 tcp dport 80 accept"#,
        );
        assert_eq!(r.conds.len(), 4);
        assert!(r.unknown.is_empty());
        assert_eq!(r.action, Action::Accept);
    }

    #[test]
    fn sets_ranges_and_negations() {
        let r = parse_rule("meta l4proto udp udp dport { 53, 67-68 } accept");
        assert_eq!(
            r.conds[1],
            Cond::Port {
                protocol: Some(17),
                field: PortField::Destination,
                negate: false,
                ranges: vec![(53, 53), (67, 68)]
            }
        );
        let r = parse_rule(
            "ip saddr != { 10.0.0.0/8, 192.168.1.5 } reject with icmp type port-unreachable",
        );
        assert_eq!(r.action, Action::Reject);
        assert!(r.unknown.is_empty());
        let Cond::Address { negate, items, .. } = &r.conds[0] else {
            panic!("not an address match: {:?}", r.conds)
        };
        assert!(negate);
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn counters_logs_and_comments_have_no_effect() {
        let r =
            parse_rule(r#"counter packets 3 bytes 180 log prefix "x: " level warn comment "hi""#);
        assert_eq!(r.action, Action::Continue);
        assert!(r.conds.is_empty());
        assert!(r.unknown.is_empty());
        let r = parse_rule("xt match comment jump DOCKER-USER");
        assert_eq!(r.action, Action::Jump("DOCKER-USER".into()));
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn what_is_not_modelled_is_named() {
        let r = parse_rule("fib daddr type local counter return");
        assert_eq!(r.unknown, vec!["fib daddr type local".to_string()]);
        assert_eq!(r.action, Action::Return);
        let r = parse_rule("xt match conntrack drop");
        assert_eq!(r.unknown, vec!["xt match conntrack".to_string()]);
        let r = parse_rule("ip saddr @blocked drop");
        assert_eq!(r.unknown, vec!["ip saddr @blocked".to_string()]);
        let r = parse_rule("meta mark 0x1 xt target MARK");
        assert_eq!(r.action, Action::Unknown("xt target MARK".into()));
        assert_eq!(r.unknown, vec!["meta mark 0x1".to_string()]);
        let r = parse_rule("-m conntrack --ctstate DNAT -j ACCEPT");
        assert_eq!(r.unknown.len(), 1);
    }

    #[test]
    fn wildcards() {
        assert!(interface_matches("veth*", "veth12"));
        assert!(!interface_matches("veth*", "eth0"));
        assert!(interface_matches("eth0", "eth0"));
        assert!(!interface_matches("eth0", "eth01"));
    }
}
