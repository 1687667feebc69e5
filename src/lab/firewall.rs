//! The lab's firewall seam: the nftables table `ip netview` that netview owns in a namespace
//! (as netavark keeps its firewall behind its own driver). Docker's NAT for the lab's bridge
//! containers is computed here from the state as typed `nftables` crate objects, and applied in
//! one transaction ([`nft_batch`]) by the kernel side ([`super::ops::Ops::nft_table`]).

use std::borrow::Cow;

use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix,
};
use nftables::schema::{Chain, NfListObject, Rule};
use nftables::stmt::{Match, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::spec::NetworkMode;
use super::state::{ContainerState, LabState};

/// The nftables table netview owns in each namespace it touches.
pub const NFT_TABLE: &str = "netview";

/// One object of the `ip netview` table, typed by the `nftables` crate.
pub type NftObject = NfListObject<'static>;

/// The `ip netview` table's chains and rules for the host, from every bridge container; None
/// when no container needs NAT (then the table is deleted).
pub fn nat_rules(state: &LabState) -> Option<Vec<NftObject>> {
    let bridge = state.spec.docker.bridge.as_str();
    let mut rules = Vec::new();
    let bridged: Vec<&ContainerState> = state
        .containers
        .iter()
        .filter(|c| c.spec.mode == NetworkMode::Bridge)
        .collect();
    // Docker's own rule masquerades the whole subnet: `ip saddr 172.17.0.0/16 oifname !=
    // "docker0" masquerade`. While some container runs with --no-nat, the rule names each
    // container that has NAT instead, so the others are left untranslated.
    let per_container = bridged.iter().any(|c| !c.spec.nat);
    if !per_container && !bridged.is_empty() {
        let net = state.spec.docker.address.trunc();
        let subnet = Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(text(net.addr().to_string())),
            len: u32::from(net.prefix_len()),
        }));
        rules.push(masquerade(subnet, bridge));
    }
    for c in bridged {
        let Some(ip) = c.ip else { continue };
        let ip = ip.addr().to_string();
        if per_container && c.spec.nat {
            rules.push(masquerade(text(ip.clone()), bridge));
        }
        for p in &c.spec.publish {
            let dnat = || {
                Statement::DNAT(Some(NAT {
                    addr: Some(text(ip.clone())),
                    family: None,
                    port: Some(Expression::Number(u32::from(p.container_port))),
                    flags: None,
                }))
            };
            let dport = || {
                matches(
                    Operator::EQ,
                    payload("tcp", "dport"),
                    Expression::Number(u32::from(p.host_port)),
                )
            };
            // From outside: iifname != "docker0" tcp dport H dnat to IP:C
            rules.push(rule(
                "prerouting",
                vec![
                    matches(
                        Operator::NEQ,
                        meta(MetaKey::Iifname),
                        text(bridge.to_string()),
                    ),
                    dport(),
                    dnat(),
                ],
            ));
            // From the host itself: fib daddr type local tcp dport H dnat to IP:C
            let fib = Expression::Named(NamedExpression::Fib(Fib {
                result: FibResult::Type,
                flags: [FibFlag::Daddr].into_iter().collect(),
            }));
            rules.push(rule(
                "output",
                vec![
                    matches(Operator::EQ, fib, text("local".to_string())),
                    dport(),
                    dnat(),
                ],
            ));
        }
    }
    if rules.is_empty() {
        return None;
    }
    let mut out = vec![
        chain("prerouting", NfHook::Prerouting, -100),
        chain("output", NfHook::Output, -100),
        chain("postrouting", NfHook::Postrouting, 100),
    ];
    out.extend(rules);
    Some(out)
}

fn text(s: String) -> Expression<'static> {
    Expression::String(Cow::Owned(s))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn matches(
    op: Operator,
    left: Expression<'static>,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

/// `ip saddr SOURCE oifname != "BRIDGE" masquerade`.
fn masquerade(source: Expression<'static>, bridge: &str) -> NftObject {
    rule(
        "postrouting",
        vec![
            matches(Operator::EQ, payload("ip", "saddr"), source),
            matches(
                Operator::NEQ,
                meta(MetaKey::Oifname),
                text(bridge.to_string()),
            ),
            Statement::Masquerade(None),
        ],
    )
}

fn chain(name: &'static str, hook: NfHook, prio: i32) -> NftObject {
    NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: Cow::Borrowed(NFT_TABLE),
        name: Cow::Borrowed(name),
        _type: Some(NfChainType::NAT),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(NfChainPolicy::Accept),
        ..Default::default()
    })
}

fn rule(chain: &'static str, expr: Vec<Statement<'static>>) -> NftObject {
    NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: Cow::Borrowed(NFT_TABLE),
        chain: Cow::Borrowed(chain),
        expr: Cow::Owned(expr),
        ..Default::default()
    })
}

/// The nft JSON batch that replaces (or deletes) our table in one transaction.
pub fn nft_batch(rules: Option<&[NftObject]>) -> nftables::schema::Nftables<'static> {
    use nftables::schema::{NfCmd, NfListObject, NfObject, Nftables, Table};
    use nftables::types::NfFamily;
    let table = || {
        NfListObject::Table(Table {
            family: NfFamily::IP,
            name: std::borrow::Cow::Borrowed(NFT_TABLE),
            ..Default::default()
        })
    };
    // "add" then "delete" deletes whether or not the table existed.
    let mut cmds = vec![
        NfObject::CmdObject(NfCmd::Add(table())),
        NfObject::CmdObject(NfCmd::Delete(table())),
    ];
    if let Some(rules) = rules {
        cmds.push(NfObject::CmdObject(NfCmd::Add(table())));
        cmds.extend(
            rules
                .iter()
                .cloned()
                .map(|r| NfObject::CmdObject(NfCmd::Add(r))),
        );
    }
    Nftables {
        objects: std::borrow::Cow::Owned(cmds),
    }
}
