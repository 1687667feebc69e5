//! nftables chains from `nft -j list ruleset`: which chains count as NAT (or filter: the
//! selection is the caller's), and each of their rules rendered in nft syntax.
//!
//! The JSON is decoded object by object with the `nftables` crate's typed schema, so one
//! object the crate cannot decode (it lags behind nft in places) costs only that object's
//! typed view: the rule is then rendered statement by statement, and what still does not
//! decode is shown as JSON (the caller prefers nft's own text for such rules when it has it).

use std::collections::{HashMap, HashSet, VecDeque};

use nftables::schema::{Chain, Rule};
use nftables::stmt::Statement;
use nftables::types::NfChainType;
use serde_json::Value;

use super::format::{format_rule, format_statement};

/// A chain as the ruleset lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftChain {
    pub family: String,
    pub table: String,
    pub name: String,
    /// A base chain of type `nat` (hooked into prerouting/postrouting/...).
    pub nat_base: bool,
    /// A base chain's type (`filter`, `nat`, `route`); `None` for a regular chain.
    pub kind: Option<String>,
    /// A base chain's hook (`forward`, `input`, ...).
    pub hook: Option<String>,
    /// A base chain's priority (nft prints the number in JSON).
    pub priority: Option<i64>,
    /// A base chain's policy (`accept`, `drop`).
    pub policy: Option<String>,
}

/// One rule, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftRule {
    pub family: String,
    pub table: String,
    pub chain: String,
    pub handle: Option<u64>,
    /// nft syntax from the typed statements.
    pub text: String,
    /// Chains this rule jumps or goes to (including through anonymous verdict maps).
    pub targets: Vec<String>,
    /// Named sets and maps the rule looks up (`vmap @service-ips`), without the `@`.
    pub map_refs: Vec<String>,
    /// The rule's `xt` statements, in order, as (`match`|`target`, extension name): what
    /// iptables-nft leaves when nft cannot express an extension natively. The JSON keeps only
    /// the name.
    pub xts: Vec<(String, String)>,
    /// The crate could not decode the rule as a whole.
    pub undecoded: bool,
}

impl NftRule {
    pub fn has_xt(&self) -> bool {
        !self.xts.is_empty()
    }
}

/// The parts of a ruleset that matter for NAT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NftRuleset {
    pub chains: Vec<NftChain>,
    pub rules: Vec<NftRule>,
    /// Chains named as verdicts in each named map's elements, by (family, table, map):
    /// kube-proxy's nftables mode dispatches to its service chains through such a map.
    pub map_targets: HashMap<(String, String, String), Vec<String>>,
}

/// Errors decoding nft's JSON.
#[derive(Debug, thiserror::Error)]
pub enum NftJsonError {
    #[error("nft printed invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("nft's JSON has no \"nftables\" array")]
    NoObjects,
}

impl NftRuleset {
    /// Decode `nft -j list ruleset` output.
    pub fn from_json(json: &str) -> Result<Self, NftJsonError> {
        let document: Value = serde_json::from_str(json)?;
        let objects = document
            .get("nftables")
            .and_then(Value::as_array)
            .ok_or(NftJsonError::NoObjects)?;
        let mut ruleset = NftRuleset::default();
        for object in objects {
            if let Some(chain) = object.get("chain") {
                if let Some(chain) = decode_chain(chain) {
                    ruleset.chains.push(chain);
                }
            } else if let Some(rule) = object.get("rule") {
                if let Some(rule) = decode_rule(rule) {
                    ruleset.rules.push(rule);
                }
            } else if let Some(map) = object.get("map") {
                let mut targets = Vec::new();
                collect_targets(map.get("elem").unwrap_or(&Value::Null), &mut targets);
                if let (Some(family), Some(table), Some(name)) = (
                    str_field(map, "family"),
                    str_field(map, "table"),
                    str_field(map, "name"),
                ) {
                    ruleset.map_targets.insert((family, table, name), targets);
                }
            }
        }
        Ok(ruleset)
    }

    /// The NAT chains: every base chain of type `nat`, and every regular chain reached from one
    /// by jump/goto in the same table (iptables-nft's `DOCKER`, kube-proxy's `KUBE-*`).
    /// Returned as (family, table, chain) keys.
    pub fn nat_chains(&self) -> HashSet<(String, String, String)> {
        self.chains_reached_from(|c| c.nat_base)
    }

    /// Every base chain `is_root` selects, and every regular chain reached from one by
    /// jump/goto (directly or through a verdict map) in the same table.
    pub fn chains_reached_from(
        &self,
        is_root: impl Fn(&NftChain) -> bool,
    ) -> HashSet<(String, String, String)> {
        let mut targets: HashMap<(&str, &str, &str), Vec<&str>> = HashMap::new();
        for rule in &self.rules {
            let entry = targets
                .entry((&rule.family, &rule.table, &rule.chain))
                .or_default();
            entry.extend(rule.targets.iter().map(String::as_str));
            for map in &rule.map_refs {
                let key = (rule.family.clone(), rule.table.clone(), map.clone());
                if let Some(map_targets) = self.map_targets.get(&key) {
                    entry.extend(map_targets.iter().map(String::as_str));
                }
            }
        }
        let mut selected: HashSet<(String, String, String)> = HashSet::new();
        let mut queue: VecDeque<(String, String, String)> = self
            .chains
            .iter()
            .filter(|c| is_root(c))
            .map(|c| (c.family.clone(), c.table.clone(), c.name.clone()))
            .collect();
        while let Some(key) = queue.pop_front() {
            if !selected.insert(key.clone()) {
                continue;
            }
            let (family, table, chain) = &key;
            for target in targets
                .get(&(family.as_str(), table.as_str(), chain.as_str()))
                .into_iter()
                .flatten()
            {
                queue.push_back((family.clone(), table.clone(), target.to_string()));
            }
        }
        selected
    }

    /// The rules of the NAT chains, in the ruleset's order.
    pub fn nat_rules(&self) -> Vec<&NftRule> {
        self.rules_of(&self.nat_chains())
    }

    /// The rules of `chains`, in the ruleset's order.
    pub fn rules_of(&self, chains: &HashSet<(String, String, String)>) -> Vec<&NftRule> {
        self.rules
            .iter()
            .filter(|r| chains.contains(&(r.family.clone(), r.table.clone(), r.chain.clone())))
            .collect()
    }
}

fn decode_chain(value: &Value) -> Option<NftChain> {
    match serde_json::from_value::<Chain<'static>>(value.clone()) {
        Ok(chain) => Some(NftChain {
            family: word(&chain.family),
            table: chain.table.to_string(),
            name: chain.name.to_string(),
            nat_base: chain._type == Some(NfChainType::NAT),
            kind: chain._type.as_ref().map(word),
            hook: chain.hook.as_ref().map(word),
            priority: chain.prio.map(i64::from),
            policy: chain.policy.as_ref().map(word),
        }),
        // A chain the crate cannot decode still has plain string fields.
        Err(_) => Some(NftChain {
            family: str_field(value, "family")?,
            table: str_field(value, "table")?,
            name: str_field(value, "name")?,
            nat_base: value.get("type").and_then(Value::as_str) == Some("nat"),
            kind: str_field(value, "type"),
            hook: str_field(value, "hook"),
            priority: value.get("prio").and_then(Value::as_i64),
            policy: str_field(value, "policy"),
        }),
    }
}

fn decode_rule(value: &Value) -> Option<NftRule> {
    let value = normalise_rule(value);
    let expr = value.get("expr").unwrap_or(&Value::Null);
    let mut targets = Vec::new();
    collect_targets(expr, &mut targets);
    let mut map_refs = Vec::new();
    collect_map_refs(expr, &mut map_refs);
    let xts: Vec<(String, String)> = value
        .get("expr")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|stmt| stmt.get("xt"))
        .map(|xt| {
            let field = |k: &str| xt.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (field("type"), field("name"))
        })
        .collect();
    match serde_json::from_value::<Rule<'static>>(value.clone()) {
        Ok(rule) => Some(NftRule {
            family: word(&rule.family),
            table: rule.table.to_string(),
            chain: rule.chain.to_string(),
            handle: rule.handle.map(u64::from),
            text: format_rule(&rule.expr, rule.comment.as_deref()),
            targets,
            map_refs,
            xts,
            undecoded: false,
        }),
        Err(_) => {
            // Render what decodes, statement by statement; the rest as its JSON.
            let parts: Vec<String> = value
                .get("expr")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|stmt| {
                    match serde_json::from_value::<Statement<'static>>(stmt.clone()) {
                        Ok(stmt) => format_statement(&stmt),
                        Err(_) => Some(stmt.to_string()),
                    }
                })
                .collect();
            let mut text = parts.join(" ");
            if let Some(comment) = value.get("comment").and_then(Value::as_str) {
                text.push_str(&format!(" comment {comment:?}"));
            }
            Some(NftRule {
                family: str_field(&value, "family")?,
                table: str_field(&value, "table")?,
                chain: str_field(&value, "chain")?,
                handle: value.get("handle").and_then(Value::as_u64),
                text,
                targets,
                map_refs,
                xts,
                undecoded: true,
            })
        }
    }
}

/// Smooth over what nft prints but the crate's schema does not accept: a NAT statement's
/// `flags` given as one string (`"flags": "fully-random"`) instead of a list.
fn normalise_rule(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(stmts) = value.get_mut("expr").and_then(Value::as_array_mut) {
        for stmt in stmts {
            for key in ["snat", "dnat", "masquerade", "redirect"] {
                if let Some(flags) = stmt.get_mut(key).and_then(|n| n.get_mut("flags")) {
                    if flags.is_string() {
                        *flags = Value::Array(vec![flags.take()]);
                    }
                }
            }
        }
    }
    value
}

/// Every `{"jump": {"target": X}}` / `{"goto": ...}` anywhere in the statements (verdict
/// maps hold them inside sets).
fn collect_targets(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "jump" || key == "goto" {
                    if let Some(target) = inner.get("target").and_then(Value::as_str) {
                        out.push(target.to_string());
                        continue;
                    }
                }
                collect_targets(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_targets(v, out)),
        _ => {}
    }
}

/// Every `"@name"` string: a reference to a named set or map.
fn collect_map_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix('@') {
                out.push(name.to_string());
            }
        }
        Value::Object(map) => map.values().for_each(|v| collect_map_refs(v, out)),
        Value::Array(items) => items.iter().for_each(|v| collect_map_refs(v, out)),
        _ => {}
    }
}

fn str_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

fn word<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_string(),
    }
}

/// Rules as nft itself prints them (`nft -a -s list ruleset`), by (family, table, handle).
///
/// Needed for iptables-nft rules: nft's JSON reduces an x_tables extension to its name
/// (`xt target DNAT`, destination lost), while its text output translates the extension
/// (`dnat to 172.17.0.2:80`, `fib daddr type local`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NftText {
    /// Each rule's words; an empty word is a statement nft could not print.
    rules: HashMap<(String, String, u64), Vec<String>>,
}

impl NftText {
    /// Parse `nft -a -s list ruleset`.
    pub fn parse(text: &str) -> Self {
        let mut rules = HashMap::new();
        let mut table: Option<(String, String)> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("table ") {
                let mut words = rest.split_whitespace();
                if let (Some(family), Some(name)) = (words.next(), words.next()) {
                    table = Some((family.to_string(), name.trim_matches('"').to_string()));
                }
                continue;
            }
            let Some((family, table_name)) = &table else {
                continue;
            };
            // nft indents with tabs; a space after them is an unprintable first statement.
            let body = line.trim_start_matches('\t');
            let Some((body, handle)) = body.rsplit_once("# handle ") else {
                continue;
            };
            let Ok(handle) = handle.trim().parse::<u64>() else {
                continue;
            };
            if ["chain ", "set ", "map ", "flowtable ", "type "]
                .iter()
                .any(|k| body.starts_with(k))
            {
                continue;
            }
            let words = statement_words(body);
            if !words.is_empty() {
                rules.insert((family.clone(), table_name.clone(), handle), words);
            }
        }
        NftText { rules }
    }

    /// The rule as nft prints it, without anonymous counters. `xts` are the rule's `xt`
    /// statements rendered by the caller, in order: where nft could not translate an
    /// extension it prints nothing, and those gaps are filled with `xts` when it is clear
    /// which ones they are (every extension missing, or exactly the untranslatable `comment`
    /// matches). `None` when the rule is not listed or the gaps are ambiguous.
    pub fn rule(
        &self,
        family: &str,
        table: &str,
        handle: u64,
        xts: &[(String, String)],
    ) -> Option<String> {
        let words = self
            .rules
            .get(&(family.to_string(), table.to_string(), handle))?;
        let gaps = words.iter().filter(|w| w.is_empty()).count();
        let fill: Vec<String> = if gaps == 0 {
            Vec::new()
        } else if gaps == xts.len() {
            xts.iter()
                .map(|(kind, name)| format!("xt {kind} {name}"))
                .collect()
        } else {
            let comments: Vec<String> = xts
                .iter()
                .filter(|(kind, name)| kind == "match" && name == "comment")
                .map(|(kind, name)| format!("xt {kind} {name}"))
                .collect();
            if comments.len() != gaps {
                return None;
            }
            comments
        };
        let mut fill = fill.into_iter();
        let filled: Vec<String> = words
            .iter()
            .map(|w| {
                if w.is_empty() {
                    fill.next().unwrap_or_default()
                } else {
                    w.clone()
                }
            })
            .collect();
        Some(strip_anonymous_counters(&filled))
    }
}

/// Split a rule body on single spaces outside quoted strings, keeping empty words: nft prints
/// every statement followed by one space, so a statement it could not print shows as an
/// empty word (a leading space, or two spaces in a row). The final separator is dropped.
fn statement_words(body: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in body.chars() {
        if in_quotes {
            current.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_quotes = true;
                current.push(c);
            }
            ' ' => words.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    words.push(current);
    // `a b ` splits into [a, b, ""]: the last empty word is the final separator.
    if words.last().is_some_and(String::is_empty) {
        words.pop();
    }
    words
}

/// Drop anonymous counters (`counter`, or `counter packets N bytes M` without `-s`), keep
/// named ones (`counter name "x"`).
fn strip_anonymous_counters(words: &[String]) -> String {
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let next = |k: usize| words.get(i + k).map(String::as_str);
        if words[i] == "counter" && next(1) != Some("name") {
            if next(1) == Some("packets") && next(3) == Some("bytes") {
                i += 5;
            } else {
                i += 1;
            }
            continue;
        }
        if !words[i].is_empty() {
            out.push(&words[i]);
        }
        i += 1;
    }
    out.join(" ")
}
