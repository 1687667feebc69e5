//! Renders the `nftables` crate's typed statements and expressions back into nft syntax, the
//! way `nft list ruleset` prints them (anonymous counters are left out: their numbers change
//! all the time and say nothing about what the rule does). Anything the formatter does not know
//! is shown as its compact JSON, so a rule is never silently shortened.

use nftables::expr::{
    BinaryOperation, Expression, FibFlag, FibResult, MetaKey, NamedExpression, Payload, SetItem,
    Verdict,
};
use nftables::stmt::{Counter, Match, Operator, QuotaOrQuotaRef, Statement, NAT};

/// One rule's statements (and its comment) in nft syntax.
pub fn format_rule(statements: &[Statement<'_>], comment: Option<&str>) -> String {
    let mut parts: Vec<String> = statements.iter().filter_map(format_statement).collect();
    if let Some(comment) = comment {
        parts.push(format!("comment {}", quote(comment)));
    }
    parts.join(" ")
}

/// One statement, or `None` for what is deliberately left out (anonymous counters).
pub fn format_statement(statement: &Statement<'_>) -> Option<String> {
    let text = match statement {
        Statement::Accept(_) => "accept".to_string(),
        Statement::Drop(_) => "drop".to_string(),
        Statement::Continue(_) => "continue".to_string(),
        Statement::Return(_) => "return".to_string(),
        Statement::Jump(target) => format!("jump {}", target.target),
        Statement::Goto(target) => format!("goto {}", target.target),
        Statement::Match(m) => format_match(m),
        Statement::Counter(Counter::Anonymous(_)) => return None,
        Statement::Counter(Counter::Named(name)) => format!("counter name {}", quote(name)),
        Statement::Mangle(mangle) => format!(
            "{} set {}",
            format_expr(&mangle.key),
            format_expr_styled(
                &mangle.value,
                Style {
                    quote_strings: false,
                    hex: is_mark(&mangle.key),
                }
            )
        ),
        Statement::Quota(QuotaOrQuotaRef::Quota(q)) => {
            let over = if q.inv == Some(true) { "over " } else { "" };
            format!("quota {over}{} {}", q.val, q.val_unit)
        }
        Statement::Quota(QuotaOrQuotaRef::QuotaRef(name)) => format!("quota name {}", quote(name)),
        Statement::Limit(limit) => {
            let over = if limit.inv == Some(true) { "over " } else { "" };
            let unit = limit
                .rate_unit
                .as_deref()
                .filter(|u| *u != "packets")
                .map(|u| format!(" {u}"))
                .unwrap_or_default();
            let per = limit.per.as_deref().unwrap_or("second");
            let mut s = format!("limit rate {over}{}{unit}/{per}", limit.rate);
            if let Some(burst) = limit.burst.filter(|b| *b > 0) {
                let unit = limit
                    .burst_unit
                    .as_deref()
                    .filter(|u| *u != "packets")
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default();
                s.push_str(&format!(" burst {burst}{unit}"));
                if unit.is_empty() {
                    s.push_str(" packets");
                }
            }
            s
        }
        Statement::Flow(flow) => format!("flow {} @{}", json_word(&flow.op), flow.flowtable),
        Statement::FWD(Some(fwd)) => {
            let mut s = "fwd".to_string();
            if let Some(family) = &fwd.family {
                s.push_str(&format!(" {}", json_word(family)));
            }
            if let Some(addr) = &fwd.addr {
                s.push_str(&format!(" to {}", format_expr(addr)));
            }
            if let Some(dev) = &fwd.dev {
                s.push_str(&format!(" to {}", format_expr_quoted(dev, true)));
            }
            s
        }
        Statement::FWD(None) => "fwd".to_string(),
        Statement::Notrack => "notrack".to_string(),
        Statement::Dup(dup) => {
            let mut s = format!("dup to {}", format_expr(&dup.addr));
            if let Some(dev) = &dup.dev {
                s.push_str(&format!(" device {}", format_expr_quoted(dev, true)));
            }
            s
        }
        Statement::SNAT(nat) => format_nat("snat", nat.as_ref()),
        Statement::DNAT(nat) => format_nat("dnat", nat.as_ref()),
        Statement::Masquerade(nat) => format_nat("masquerade", nat.as_ref()),
        Statement::Redirect(nat) => format_nat("redirect", nat.as_ref()),
        Statement::Reject(None) => "reject".to_string(),
        Statement::Reject(Some(reject)) => {
            let mut s = "reject".to_string();
            match (&reject._type, &reject.expr) {
                (Some(t), Some(code)) => {
                    s.push_str(&format!(" with {} {}", json_word(t), json_word(code)))
                }
                (Some(t), None) => s.push_str(&format!(" with {}", json_word(t))),
                (None, Some(code)) => s.push_str(&format!(" with {}", json_word(code))),
                (None, None) => {}
            }
            s
        }
        Statement::Set(set) => format!(
            "{} @{} {{ {} }}",
            json_word(&set.op),
            set.set,
            format_expr(&set.elem)
        ),
        Statement::Log(None) => "log".to_string(),
        Statement::Log(Some(log)) => {
            let mut s = "log".to_string();
            if let Some(prefix) = &log.prefix {
                s.push_str(&format!(" prefix {}", quote(prefix)));
            }
            if let Some(group) = log.group {
                s.push_str(&format!(" group {group}"));
            }
            if let Some(snaplen) = log.snaplen {
                s.push_str(&format!(" snaplen {snaplen}"));
            }
            if let Some(threshold) = log.queue_threshold {
                s.push_str(&format!(" queue-threshold {threshold}"));
            }
            if let Some(level) = &log.level {
                s.push_str(&format!(" level {}", json_word(level)));
            }
            if let Some(flags) = &log.flags {
                let mut flags: Vec<String> = flags.iter().map(json_word).collect();
                flags.sort();
                s.push_str(&format!(" flags {}", flags.join(",")));
            }
            s
        }
        Statement::CTHelper(name) => format!("ct helper set {}", quote(name)),
        Statement::Meter(meter) => format!(
            "meter {} {{ {} {} }}",
            meter.name,
            format_expr(&meter.key),
            format_statement(&meter.stmt).unwrap_or_else(|| "counter".to_string())
        ),
        Statement::Queue(queue) => {
            let mut s = format!("queue num {}", format_expr(&queue.num));
            if let Some(flags) = &queue.flags {
                let mut flags: Vec<String> = flags.iter().map(json_word).collect();
                flags.sort();
                s.push_str(&format!(" {}", flags.join(",")));
            }
            s
        }
        Statement::VerdictMap(vmap) => format!(
            "{} vmap {}",
            format_expr(&vmap.key),
            format_expr(&vmap.data)
        ),
        Statement::CTCount(count) => {
            let over = if count.inv == Some(true) { "over " } else { "" };
            format!("ct count {over}{}", format_expr(&count.val))
        }
        Statement::CTTimeout(expr) => format!("ct timeout set {}", format_expr(expr)),
        Statement::CTExpectation(expr) => format!("ct expectation set {}", format_expr(expr)),
        Statement::XT(Some(value)) => format_xt(value),
        Statement::XT(None) => "xt".to_string(),
        Statement::TProxy(tproxy) => {
            let mut s = "tproxy".to_string();
            if let Some(family) = &tproxy.family {
                s.push_str(&format!(" {family}"));
            }
            match &tproxy.addr {
                Some(addr) => s.push_str(&format!(" to {}:{}", addr, tproxy.port)),
                None => s.push_str(&format!(" to :{}", tproxy.port)),
            }
            s
        }
        other => json_fallback(other),
    };
    Some(text)
}

/// `xt` statements are what iptables-nft leaves when nft cannot translate an x_tables
/// extension: the JSON keeps only its kind and name (`{"type": "target", "name": "DNAT"}`).
fn format_xt(value: &serde_json::Value) -> String {
    let kind = value.get("type").and_then(|v| v.as_str());
    let name = value.get("name").and_then(|v| v.as_str());
    match (kind, name) {
        (Some(kind), Some(name)) => format!("xt {kind} {name}"),
        (None, Some(name)) => format!("xt {name}"),
        _ => format!("xt {value}"),
    }
}

fn format_nat(keyword: &str, nat: Option<&NAT<'_>>) -> String {
    let mut s = keyword.to_string();
    let Some(nat) = nat else { return s };
    if let Some(family) = &nat.family {
        s.push(' ');
        s.push_str(&json_word(family));
    }
    let addr = nat.addr.as_ref().map(format_expr);
    let port = nat.port.as_ref().map(format_expr);
    match (addr, port) {
        (Some(addr), Some(port)) => {
            // An IPv6 address needs brackets before a port, as nft prints it.
            if addr.contains(':') && !addr.contains(' ') {
                s.push_str(&format!(" to [{addr}]:{port}"));
            } else {
                s.push_str(&format!(" to {addr}:{port}"));
            }
        }
        (Some(addr), None) => s.push_str(&format!(" to {addr}")),
        (None, Some(port)) => s.push_str(&format!(" to :{port}")),
        (None, None) => {}
    }
    if let Some(flags) = &nat.flags {
        // nft's own order, independent of the HashSet's.
        let order = ["random", "fully-random", "persistent"];
        let mut flags: Vec<String> = flags.iter().map(json_word).collect();
        flags.sort_by_key(|f| order.iter().position(|o| o == f).unwrap_or(order.len()));
        if !flags.is_empty() {
            s.push(' ');
            s.push_str(&flags.join(","));
        }
    }
    s
}

fn format_match(m: &Match<'_>) -> String {
    let left = format_expr(&m.left);
    let style = Style {
        quote_strings: names_interface(&m.left),
        hex: is_mark(&m.left),
    };
    let right = format_expr_styled(&m.right, style);
    let masked = matches!(m.left, Expression::BinaryOperation(_));
    match m.op {
        // nft leaves the implicit comparisons out (`tcp dport 80`, `ct state
        // established,related`), except after a mask: `meta mark & 0x0000ff00 == 0x00000100`.
        Operator::EQ | Operator::IN if !masked => format!("{left} {right}"),
        Operator::IN => format!("{left} == {right}"),
        op => format!("{left} {} {right}", json_word(&op)),
    }
}

/// How values are printed, from what they are compared with.
#[derive(Debug, Clone, Copy, Default)]
struct Style {
    /// Quote strings (interface names).
    quote_strings: bool,
    /// Print numbers as 32-bit hex (marks), as nft does.
    hex: bool,
}

/// Whether an expression is a packet or connection mark (possibly masked).
fn is_mark(expr: &Expression<'_>) -> bool {
    match expr {
        Expression::Named(NamedExpression::Meta(meta)) => meta.key == MetaKey::Mark,
        Expression::Named(NamedExpression::CT(ct)) => ct.key == "mark",
        Expression::BinaryOperation(op) => match op.as_ref() {
            BinaryOperation::AND(a, _)
            | BinaryOperation::XOR(a, _)
            | BinaryOperation::LSHIFT(a, _)
            | BinaryOperation::RSHIFT(a, _) => is_mark(a),
            BinaryOperation::OR(items) => items.first().is_some_and(is_mark),
        },
        _ => false,
    }
}

/// Whether the left side of a match compares interface names, whose values nft quotes.
fn names_interface(left: &Expression<'_>) -> bool {
    matches!(
        left,
        Expression::Named(NamedExpression::Meta(meta)) if matches!(
            meta.key,
            MetaKey::Iifname
                | MetaKey::Oifname
                | MetaKey::Ibridgename
                | MetaKey::Obridgename
                | MetaKey::Iifkind
                | MetaKey::Oifkind
        )
    ) || matches!(
        left,
        Expression::Named(NamedExpression::Fib(fib)) if fib.result == FibResult::Oifname
    )
}

/// An expression in nft syntax.
pub fn format_expr(expr: &Expression<'_>) -> String {
    format_expr_styled(expr, Style::default())
}

/// An expression whose strings are quoted (interface names).
fn format_expr_quoted(expr: &Expression<'_>, quote_strings: bool) -> String {
    format_expr_styled(
        expr,
        Style {
            quote_strings,
            hex: false,
        },
    )
}

fn format_expr_styled(expr: &Expression<'_>, style: Style) -> String {
    let quote_strings = style.quote_strings;
    match expr {
        // `@name` references a named set or map, never quoted.
        Expression::String(s) if s.starts_with('@') => s.to_string(),
        Expression::String(s) => {
            if quote_strings || needs_quotes(s) {
                quote(s)
            } else {
                s.to_string()
            }
        }
        Expression::Number(n) if style.hex => format!("0x{n:08x}"),
        Expression::Number(n) => n.to_string(),
        Expression::Boolean(b) => if *b { "exists" } else { "missing" }.to_string(),
        Expression::List(items) => items
            .iter()
            .map(|e| format_expr_styled(e, style))
            .collect::<Vec<_>>()
            .join(","),
        Expression::BinaryOperation(op) => {
            let operand = |a: &Expression<'_>, b: &Expression<'_>| {
                let style = Style {
                    quote_strings: false,
                    hex: is_mark(a),
                };
                // A flag list as a mask is an OR of the flags: `tcp flags & (syn|ack)`.
                let b = match b {
                    Expression::List(flags) => format!(
                        "({})",
                        flags.iter().map(format_expr).collect::<Vec<_>>().join("|")
                    ),
                    b => format_expr_styled(b, style),
                };
                (format_expr(a), b)
            };
            match op.as_ref() {
                BinaryOperation::AND(a, b) => {
                    let (a, b) = operand(a, b);
                    format!("{a} & {b}")
                }
                BinaryOperation::OR(items) => {
                    let style = Style {
                        quote_strings: false,
                        hex: items.first().is_some_and(is_mark) || style.hex,
                    };
                    items
                        .iter()
                        .map(|item| format_expr_styled(item, style))
                        .collect::<Vec<_>>()
                        .join(" | ")
                }
                BinaryOperation::XOR(a, b) => {
                    let (a, b) = operand(a, b);
                    format!("{a} ^ {b}")
                }
                BinaryOperation::LSHIFT(a, b) => {
                    format!("{} << {}", format_expr(a), format_expr(b))
                }
                BinaryOperation::RSHIFT(a, b) => {
                    format!("{} >> {}", format_expr(a), format_expr(b))
                }
            }
        }
        Expression::Range(range) => format!(
            "{}-{}",
            format_expr_styled(&range.range[0], style),
            format_expr_styled(&range.range[1], style)
        ),
        Expression::Named(named) => format_named(named, quote_strings),
        Expression::Verdict(verdict) => format_verdict(verdict),
    }
}

fn format_verdict(verdict: &Verdict<'_>) -> String {
    match verdict {
        Verdict::Accept => "accept".to_string(),
        Verdict::Drop => "drop".to_string(),
        Verdict::Continue => "continue".to_string(),
        Verdict::Return => "return".to_string(),
        Verdict::Jump(t) => format!("jump {}", t.target),
        Verdict::Goto(t) => format!("goto {}", t.target),
    }
}

fn format_named(named: &NamedExpression<'_>, quote_strings: bool) -> String {
    match named {
        NamedExpression::Concat(items) => items
            .iter()
            .map(format_expr)
            .collect::<Vec<_>>()
            .join(" . "),
        NamedExpression::Set(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| match item {
                    // The crate's untagged `SetItem` takes a `[key, value]` mapping (as in
                    // `tcp dport map { 2222 : 192.168.50.13 }`) for a two-item list element.
                    SetItem::Element(Expression::List(pair)) if pair.len() == 2 => format!(
                        "{} : {}",
                        format_expr_quoted(&pair[0], quote_strings),
                        format_expr(&pair[1])
                    ),
                    SetItem::Element(e) => format_expr_quoted(e, quote_strings),
                    SetItem::Mapping(k, v) => {
                        format!(
                            "{} : {}",
                            format_expr_quoted(k, quote_strings),
                            format_expr(v)
                        )
                    }
                    SetItem::MappingStatement(k, stmt) => format!(
                        "{} : {}",
                        format_expr_quoted(k, quote_strings),
                        format_statement(stmt).unwrap_or_default()
                    ),
                })
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        NamedExpression::Map(map) => {
            format!("{} map {}", format_expr(&map.key), format_expr(&map.data))
        }
        NamedExpression::Prefix(prefix) => {
            format!("{}/{}", format_expr(&prefix.addr), prefix.len)
        }
        NamedExpression::Payload(Payload::PayloadField(field)) => {
            format!("{} {}", field.protocol, field.field)
        }
        NamedExpression::Payload(Payload::PayloadRaw(raw)) => {
            format!("@{},{},{}", json_word(&raw.base), raw.offset, raw.len)
        }
        NamedExpression::Exthdr(exthdr) => {
            let mut s = format!("exthdr {}", exthdr.name);
            if let Some(field) = &exthdr.field {
                s.push_str(&format!(" {field}"));
            }
            s
        }
        NamedExpression::TcpOption(option) => {
            let mut s = format!("tcp option {}", option.name);
            if let Some(field) = &option.field {
                s.push_str(&format!(" {field}"));
            }
            s
        }
        NamedExpression::SctpChunk(chunk) => format!("sctp chunk {} {}", chunk.name, chunk.field),
        NamedExpression::Meta(meta) => {
            let key = json_word(&meta.key);
            // nft prints these without the `meta` keyword; every other key keeps it.
            if matches!(
                meta.key,
                MetaKey::Iif
                    | MetaKey::Oif
                    | MetaKey::Iifname
                    | MetaKey::Oifname
                    | MetaKey::Iifgroup
                    | MetaKey::Oifgroup
            ) {
                key
            } else {
                format!("meta {key}")
            }
        }
        NamedExpression::RT(rt) => match &rt.family {
            Some(family) => format!("rt {} {}", json_word(family), json_word(&rt.key)),
            None => format!("rt {}", json_word(&rt.key)),
        },
        NamedExpression::CT(ct) => {
            let mut s = "ct".to_string();
            if let Some(dir) = &ct.dir {
                s.push_str(&format!(" {}", json_word(dir)));
            }
            if let Some(family) = &ct.family {
                s.push_str(&format!(" {}", json_word(family)));
            }
            s.push_str(&format!(" {}", ct.key));
            s
        }
        NamedExpression::Numgen(numgen) => {
            let mut s = format!("numgen {} mod {}", json_word(&numgen.mode), numgen.ng_mod);
            if let Some(offset) = numgen.offset.filter(|o| *o != 0) {
                s.push_str(&format!(" offset {offset}"));
            }
            s
        }
        NamedExpression::JHash(jhash) => {
            let mut s = format!("jhash {} mod {}", format_expr(&jhash.expr), jhash.hash_mod);
            if let Some(seed) = jhash.seed {
                s.push_str(&format!(" seed 0x{seed:x}"));
            }
            if let Some(offset) = jhash.offset.filter(|o| *o != 0) {
                s.push_str(&format!(" offset {offset}"));
            }
            s
        }
        NamedExpression::SymHash(symhash) => {
            let mut s = format!("symhash mod {}", symhash.hash_mod);
            if let Some(offset) = symhash.offset.filter(|o| *o != 0) {
                s.push_str(&format!(" offset {offset}"));
            }
            s
        }
        NamedExpression::Fib(fib) => {
            // The crate keeps the flags in a HashSet: print them in nft's fixed order.
            let order = [
                FibFlag::Saddr,
                FibFlag::Daddr,
                FibFlag::Mark,
                FibFlag::Iif,
                FibFlag::Oif,
            ];
            let flags: Vec<String> = order
                .iter()
                .filter(|f| fib.flags.contains(f))
                .map(json_word)
                .collect();
            format!("fib {} {}", flags.join(" . "), json_word(&fib.result))
        }
        NamedExpression::Elem(elem) => {
            let mut s = format_expr_quoted(&elem.val, quote_strings);
            if let Some(timeout) = elem.timeout {
                s.push_str(&format!(" timeout {timeout}s"));
            }
            if let Some(comment) = &elem.comment {
                s.push_str(&format!(" comment {}", quote(comment)));
            }
            s
        }
        NamedExpression::Socket(socket) => format!("socket {}", json_word(socket.key.as_ref())),
        NamedExpression::Osf(osf) => format!("osf ttl {} {}", json_word(&osf.ttl), osf.key),
    }
}

/// A unit enum value as its serde name (`MetaKey::L4proto` -> `l4proto`, `Operator::NEQ` -> `!=`).
/// Going through serde keeps the printed names exactly the JSON ones, whatever the Rust
/// variants are called.
fn json_word<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_string(),
    }
}

/// Anything the formatter does not know, as compact JSON (`{"synproxy":{...}}`).
pub fn json_fallback<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "<unprintable>".to_string())
}

fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-' | '*'))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
