//! The evaluator over small hand-written chain sets, one netfilter behaviour per test.

use super::*;
use crate::inventory::model::{FilterRule, NatBackend, NatOwner};

/// Entries of one chain: `hook` and `policy` for a base chain, rules in order.
fn chain(
    table: &str,
    name: &str,
    base: Option<(&str, &str, i64)>,
    rules: &[&str],
) -> Vec<FilterRule> {
    let entry = |rule: Option<&str>| FilterRule {
        family: "ip".into(),
        table: table.into(),
        chain: name.into(),
        hook: base.map(|(h, _, _)| h.to_string()),
        policy: base.map(|(_, p, _)| p.to_string()),
        priority: base.map(|(_, _, prio)| prio),
        rule: rule.map(str::to_string),
        owner: NatOwner::Other,
        backend: NatBackend::Nftables,
    };
    if rules.is_empty() {
        vec![entry(None)]
    } else {
        rules.iter().map(|r| entry(Some(r))).collect()
    }
}

fn packet(iif: &str, oif: &str, src: &str, dst: &str, ct: CtState) -> PacketFacts {
    PacketFacts {
        iif: Some(iif.into()),
        oif: Some(oif.into()),
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        protocol: 1,
        sport: None,
        dport: None,
        ct,
    }
}

fn tcp(mut pkt: PacketFacts, dport: u16) -> PacketFacts {
    pkt.protocol = 6;
    pkt.sport = Some(40000);
    pkt.dport = Some(dport);
    pkt
}

fn by(chain: &str, rule: Option<&str>) -> DecidedBy {
    DecidedBy {
        family: "ip".into(),
        table: "filter".into(),
        chain: chain.into(),
        rule: rule.map(str::to_string),
    }
}

/// Docker's FORWARD chain as iptables-nft writes it (nft's text), with a DOCKER-USER rule.
fn docker() -> FilterView {
    let mut entries = chain(
        "filter",
        "FORWARD",
        Some(("forward", "drop", 0)),
        &[
            "jump DOCKER-USER",
            "jump DOCKER-ISOLATION-STAGE-1",
            r#"oifname "docker0" ct state related,established accept"#,
            r#"oifname "docker0" jump DOCKER"#,
            r#"iifname "docker0" oifname != "docker0" accept"#,
            r#"iifname "docker0" oifname "docker0" accept"#,
        ],
    );
    entries.extend(chain(
        "filter",
        "DOCKER",
        None,
        &[r#"iifname != "docker0" oifname "docker0" ip daddr 172.17.0.2 tcp dport 80 accept"#],
    ));
    entries.extend(chain(
        "filter",
        "DOCKER-ISOLATION-STAGE-1",
        None,
        &[
            r#"iifname "docker0" oifname != "docker0" jump DOCKER-ISOLATION-STAGE-2"#,
            "return",
        ],
    ));
    entries.extend(chain(
        "filter",
        "DOCKER-ISOLATION-STAGE-2",
        None,
        &[r#"oifname "docker0" drop"#, "return"],
    ));
    entries.extend(chain(
        "filter",
        "DOCKER-USER",
        None,
        &["ip saddr 10.9.0.0/16 reject", "return"],
    ));
    FilterView::new(&entries)
}

#[test]
fn docker_forward_policy_drops_new_traffic_into_the_bridge() {
    let view = docker();
    let verdict = view.verdict(
        Hook::Forward,
        &packet("eth0", "docker0", "192.168.1.5", "172.17.0.3", CtState::New),
    );
    assert_eq!(
        verdict,
        FilterVerdict::Drop {
            by: by("FORWARD", None)
        }
    );
}

#[test]
fn docker_forward_accepts_replies_and_published_ports() {
    let view = docker();
    let reply = packet(
        "eth0",
        "docker0",
        "192.168.1.5",
        "172.17.0.3",
        CtState::Established,
    );
    assert_eq!(
        view.verdict(Hook::Forward, &reply),
        FilterVerdict::Accept {
            by: Some(by(
                "FORWARD",
                Some(r#"oifname "docker0" ct state related,established accept"#)
            ))
        }
    );
    let published = tcp(
        packet("eth0", "docker0", "192.168.1.5", "172.17.0.2", CtState::New),
        80,
    );
    assert!(matches!(
        view.verdict(Hook::Forward, &published),
        FilterVerdict::Accept { by: Some(DecidedBy { ref chain, .. }) } if chain == "DOCKER"
    ));
    // Another port of the same container is not published.
    let other = tcp(
        packet("eth0", "docker0", "192.168.1.5", "172.17.0.2", CtState::New),
        81,
    );
    assert!(matches!(
        view.verdict(Hook::Forward, &other),
        FilterVerdict::Drop { .. }
    ));
    // Out of the bridge is accepted.
    let out = packet("docker0", "eth0", "172.17.0.2", "1.1.1.1", CtState::New);
    assert!(matches!(
        view.verdict(Hook::Forward, &out),
        FilterVerdict::Accept { .. }
    ));
}

#[test]
fn docker_user_rejects_before_anything_else_and_returns_otherwise() {
    let view = docker();
    let from_blocked = packet(
        "eth0",
        "docker0",
        "10.9.3.4",
        "172.17.0.3",
        CtState::Established,
    );
    assert_eq!(
        view.verdict(Hook::Forward, &from_blocked),
        FilterVerdict::Reject {
            by: by("DOCKER-USER", Some("ip saddr 10.9.0.0/16 reject"))
        }
    );
}

#[test]
fn isolation_between_bridges_is_a_drop_in_a_jumped_chain() {
    let mut entries = chain(
        "filter",
        "FORWARD",
        Some(("forward", "accept", 0)),
        &["jump ISO"],
    );
    entries.extend(chain(
        "filter",
        "ISO",
        None,
        &[r#"iifname "br-*" oifname "docker0" drop"#],
    ));
    let view = FilterView::new(&entries);
    let crossing = packet(
        "br-1234",
        "docker0",
        "172.18.0.2",
        "172.17.0.2",
        CtState::New,
    );
    assert!(matches!(
        view.verdict(Hook::Forward, &crossing),
        FilterVerdict::Drop { by: DecidedBy { ref chain, .. } } if chain == "ISO"
    ));
    // The end of a regular chain returns to the caller, where the policy accepts.
    let inside = packet(
        "br-1234",
        "br-1234",
        "172.18.0.2",
        "172.18.0.3",
        CtState::New,
    );
    assert_eq!(
        view.verdict(Hook::Forward, &inside),
        FilterVerdict::Accept {
            by: Some(by("FORWARD", None))
        }
    );
}

#[test]
fn a_plain_firewall_drops_one_pair_only() {
    let view = FilterView::new(&chain(
        "filter",
        "fwd",
        Some(("forward", "accept", 0)),
        &["ip saddr 10.1.0.2 ip daddr 10.2.0.2 drop"],
    ));
    let pair = packet("a", "b", "10.1.0.2", "10.2.0.2", CtState::New);
    assert!(matches!(
        view.verdict(Hook::Forward, &pair),
        FilterVerdict::Drop { .. }
    ));
    let reverse = packet("b", "a", "10.2.0.2", "10.1.0.2", CtState::New);
    assert!(matches!(
        view.verdict(Hook::Forward, &reverse),
        FilterVerdict::Accept { .. }
    ));
    // Other hooks have no chain: accepted, by nothing.
    assert_eq!(
        view.verdict(Hook::Input, &pair),
        FilterVerdict::Accept { by: None }
    );
    // An IPv6 packet does not see an `ip` family chain.
    let v6 = packet("a", "b", "fd00::1", "fd00::2", CtState::New);
    assert_eq!(
        view.verdict(Hook::Forward, &v6),
        FilterVerdict::Accept { by: None }
    );
}

#[test]
fn return_goes_back_to_the_rule_after_the_jump() {
    let mut entries = chain(
        "filter",
        "in",
        Some(("input", "drop", 0)),
        &["jump CHECK", "tcp dport 22 accept"],
    );
    entries.extend(chain(
        "filter",
        "CHECK",
        None,
        &["ip saddr 10.0.0.1 return", "ip saddr 10.0.0.0/24 drop"],
    ));
    let view = FilterView::new(&entries);
    let trusted = tcp(packet("eth0", "", "10.0.0.1", "10.0.0.9", CtState::New), 22);
    assert_eq!(
        view.verdict(Hook::Input, &trusted),
        FilterVerdict::Accept {
            by: Some(by("in", Some("tcp dport 22 accept")))
        }
    );
    let other = tcp(packet("eth0", "", "10.0.0.2", "10.0.0.9", CtState::New), 22);
    assert!(matches!(
        view.verdict(Hook::Input, &other),
        FilterVerdict::Drop { by: DecidedBy { ref chain, .. } } if chain == "CHECK"
    ));
    // Not TCP: no port, so `tcp dport 22` does not match, and the policy drops.
    let ping = packet("eth0", "", "10.0.0.1", "10.0.0.9", CtState::New);
    assert_eq!(
        view.verdict(Hook::Input, &ping),
        FilterVerdict::Drop { by: by("in", None) }
    );
}

#[test]
fn goto_does_not_come_back() {
    let mut entries = chain(
        "filter",
        "fwd",
        Some(("forward", "accept", 0)),
        &["goto G", "drop"],
    );
    entries.extend(chain("filter", "G", None, &["ip daddr 10.0.0.5 drop"]));
    let view = FilterView::new(&entries);
    // G ends without a verdict: back to fwd's caller, i.e. the policy, skipping `drop`.
    let pkt = packet("a", "b", "10.0.0.1", "10.0.0.6", CtState::New);
    assert_eq!(
        view.verdict(Hook::Forward, &pkt),
        FilterVerdict::Accept {
            by: Some(by("fwd", None))
        }
    );
}

#[test]
fn sets_of_addresses_and_ports() {
    let view = FilterView::new(&chain(
        "filter",
        "fwd",
        Some(("forward", "accept", 0)),
        &[
            "ip daddr { 10.3.0.0/24, 10.4.0.1 } drop",
            "udp dport { 53, 67-68 } reject",
        ],
    ));
    for (dst, dropped) in [
        ("10.3.0.200", true),
        ("10.4.0.1", true),
        ("10.4.0.2", false),
    ] {
        let verdict = view.verdict(
            Hook::Forward,
            &packet("a", "b", "10.0.0.1", dst, CtState::New),
        );
        assert_eq!(
            matches!(verdict, FilterVerdict::Drop { .. }),
            dropped,
            "{dst}: {verdict:?}"
        );
    }
    let mut dhcp = packet("a", "b", "10.0.0.1", "10.9.0.1", CtState::New);
    dhcp.protocol = 17;
    dhcp.dport = Some(68);
    dhcp.sport = Some(67);
    assert!(matches!(
        view.verdict(Hook::Forward, &dhcp),
        FilterVerdict::Reject { .. }
    ));
}

#[test]
fn an_undecodable_rule_that_may_match_gives_unknown() {
    let view = FilterView::new(&chain(
        "filter",
        "in",
        Some(("input", "accept", 0)),
        &[
            r#"iifname "eth1" fib daddr type local drop"#,
            "xt match conntrack drop",
        ],
    ));
    // The first rule's known match rules it out; the second may match.
    let pkt = packet("eth0", "", "10.0.0.1", "10.0.0.2", CtState::New);
    let FilterVerdict::Unknown { why } = view.verdict(Hook::Input, &pkt) else {
        panic!("expected unknown");
    };
    assert!(why.contains("xt match conntrack"), "{why}");
    // On eth1 the first rule may match already.
    let pkt = packet("eth1", "", "10.0.0.1", "10.0.0.2", CtState::New);
    let FilterVerdict::Unknown { why } = view.verdict(Hook::Input, &pkt) else {
        panic!("expected unknown");
    };
    assert!(why.contains("fib daddr type local"), "{why}");
}

#[test]
fn an_accept_ends_only_its_own_base_chain() {
    let mut entries = chain(
        "filter",
        "early",
        Some(("forward", "accept", -10)),
        &["accept"],
    );
    entries.extend(chain(
        "other",
        "late",
        Some(("forward", "accept", 10)),
        &["ip daddr 10.0.0.2 drop"],
    ));
    let view = FilterView::new(&entries);
    let pkt = packet("a", "b", "10.0.0.1", "10.0.0.2", CtState::New);
    assert!(matches!(
        view.verdict(Hook::Forward, &pkt),
        FilterVerdict::Drop { by: DecidedBy { ref chain, .. } } if chain == "late"
    ));
}

#[test]
fn ct_state_invalid_and_negation() {
    let view = FilterView::new(&chain(
        "filter",
        "fwd",
        Some(("forward", "accept", 0)),
        &[
            "ct state invalid drop",
            "ct state != established,related reject",
        ],
    ));
    let invalid = packet("a", "b", "10.0.0.1", "10.0.0.2", CtState::Invalid);
    assert!(matches!(
        view.verdict(Hook::Forward, &invalid),
        FilterVerdict::Drop { .. }
    ));
    let new = packet("a", "b", "10.0.0.1", "10.0.0.2", CtState::New);
    assert!(matches!(
        view.verdict(Hook::Forward, &new),
        FilterVerdict::Reject { .. }
    ));
    let related = packet("a", "b", "10.0.0.1", "10.0.0.2", CtState::Related);
    assert!(matches!(
        view.verdict(Hook::Forward, &related),
        FilterVerdict::Accept { .. }
    ));
}

#[test]
fn a_jump_to_a_chain_not_read_is_unknown_and_loops_end() {
    let view = FilterView::new(&chain(
        "filter",
        "fwd",
        Some(("forward", "accept", 0)),
        &["jump NOWHERE"],
    ));
    let pkt = packet("a", "b", "10.0.0.1", "10.0.0.2", CtState::New);
    assert!(matches!(
        view.verdict(Hook::Forward, &pkt),
        FilterVerdict::Unknown { .. }
    ));
    let mut entries = chain(
        "filter",
        "fwd",
        Some(("forward", "accept", 0)),
        &["jump LOOP"],
    );
    entries.extend(chain("filter", "LOOP", None, &["jump LOOP"]));
    let view = FilterView::new(&entries);
    assert!(matches!(
        view.verdict(Hook::Forward, &pkt),
        FilterVerdict::Unknown { .. }
    ));
}
