//! Unit tests of the packet walk on small hand-made inventories, one world per rule.

use super::filter::{DecidedBy, FilterVerdict, Filters, Hook, PacketFacts};
use super::*;
use crate::inventory::{
    Address, Inventory, Link, LinkConf, LinkKind, LinkRef, NamespaceInventory, NatBackend,
    NatOwner, NatRule, Route,
};
use crate::netns::NetnsSource;

mod index;
mod scale;

/// A small world under construction.
#[derive(Default)]
struct W {
    inv: Inventory,
    mac: u16,
}

impl W {
    fn ns(&mut self, name: &str, forward: bool) -> &mut Self {
        let mut ns = NamespaceInventory::empty(
            name,
            1000 + self.inv.namespaces.len() as u64,
            NetnsSource::Named,
        );
        ns.ip_forward = Some(forward);
        ns.conf.insert(
            "all".into(),
            LinkConf {
                rp_filter: Some(0),
                proxy_arp: Some(false),
                hairpin: None,
            },
        );
        self.inv.namespaces.push(ns);
        self
    }

    fn get(&mut self, ns: &str) -> &mut NamespaceInventory {
        self.inv
            .namespaces
            .iter_mut()
            .find(|n| n.name == ns)
            .unwrap()
    }

    fn link(&mut self, ns: &str, name: &str, kind: LinkKind, addr: Option<&str>) -> &mut Link {
        self.mac += 1;
        let mac = format!("02:00:00:00:{:02x}:{:02x}", self.mac >> 8, self.mac & 0xff);
        let n = self.get(ns);
        n.conf.insert(
            name.into(),
            LinkConf {
                rp_filter: Some(0),
                proxy_arp: Some(false),
                hairpin: None,
            },
        );
        let index = n.links.len() as u32 + 1;
        n.links.push(Link {
            index,
            name: name.into(),
            kind,
            mode: None,
            state: "UP".into(),
            flags: vec!["BROADCAST".into(), "UP".into(), "LOWER_UP".into()],
            mac: Some(mac),
            mtu: Some(1500),
            master: None,
            parent: None,
            peer: None,
            addresses: addr
                .map(|a| {
                    let net: ipnet::IpNet = a.parse().unwrap();
                    vec![Address {
                        ip: net.addr(),
                        prefix_len: net.prefix_len(),
                        scope: "global".into(),
                    }]
                })
                .unwrap_or_default(),
        });
        let connected = addr.map(|a| a.parse::<ipnet::Ipv4Net>().unwrap());
        if let Some(net) = connected {
            if net.prefix_len() < 32 {
                n.routes.push(route(&net.trunc().to_string(), None, name));
            }
        }
        n.links.last_mut().unwrap()
    }

    fn veth(&mut self, a: (&str, &str, Option<&str>), b: (&str, &str, Option<&str>)) -> &mut Self {
        self.link(a.0, a.1, LinkKind::Veth, a.2).peer = Some(lref(b.0, b.1));
        self.link(b.0, b.1, LinkKind::Veth, b.2).peer = Some(lref(a.0, a.1));
        self
    }

    fn bridge(
        &mut self,
        ns: &str,
        name: &str,
        addr: Option<&str>,
        ports: &[&str],
        hairpin: bool,
    ) -> &mut Self {
        self.link(ns, name, LinkKind::Bridge, addr);
        for p in ports {
            let n = self.get(ns);
            n.links.iter_mut().find(|l| l.name == *p).unwrap().master = Some(name.into());
            n.conf.get_mut(*p).unwrap().hairpin = Some(hairpin);
        }
        self
    }

    fn stacked(
        &mut self,
        ns: &str,
        name: &str,
        kind: LinkKind,
        mode: &str,
        parent: (&str, &str),
        addr: &str,
    ) -> &mut Self {
        let parent_mac = self
            .get(parent.0)
            .link_by_name(parent.1)
            .unwrap()
            .mac
            .clone();
        let l = self.link(ns, name, kind.clone(), Some(addr));
        l.mode = Some(mode.into());
        l.parent = Some(lref(parent.0, parent.1));
        if kind == LinkKind::Macvlan && mode == "passthru" {
            // A passthru child takes its parent's MAC (the lab shows both with one MAC).
            l.mac = parent_mac.clone();
        }
        if kind == LinkKind::Ipvlan {
            l.mac = parent_mac;
            if mode != "l2" {
                l.flags.push("NOARP".into());
            }
        }
        self
    }

    fn route(&mut self, ns: &str, dst: &str, gw: Option<&str>, dev: &str) -> &mut Self {
        self.get(ns).routes.push(route(dst, gw, dev));
        self
    }

    fn typed_route(&mut self, ns: &str, dst: &str, kind: &str) -> &mut Self {
        let mut r = route(dst, None, "lo");
        r.dev = None;
        r.route_type = kind.into();
        self.get(ns).routes.push(r);
        self
    }

    fn nat(&mut self, ns: &str, chain: &str, rule: &str) -> &mut Self {
        self.get(ns).nat.push(NatRule {
            family: "ip".into(),
            table: "nat".into(),
            chain: chain.into(),
            rule: rule.into(),
            owner: NatOwner::Other,
            backend: NatBackend::Nftables,
            container: None,
        });
        self
    }

    fn conf(&mut self, ns: &str, dev: &str, f: impl FnOnce(&mut LinkConf)) -> &mut Self {
        f(self.get(ns).conf.entry(dev.into()).or_default());
        self
    }

    fn go(&self, from: &str, to: &str, kind: WalkKind) -> Prediction {
        predict(
            &self.inv,
            &Probe {
                netns: from.into(),
                src: None,
                target: to.parse().unwrap(),
                kind,
            },
        )
    }
}

fn lref(ns: &str, name: &str) -> LinkRef {
    LinkRef {
        netns: Some(ns.into()),
        name: Some(name.into()),
    }
}

fn route(dst: &str, gw: Option<&str>, dev: &str) -> Route {
    Route {
        dst: dst.into(),
        gateway: gw.map(str::to_string),
        dev: Some(dev.into()),
        scope: if gw.is_some() {
            "global".into()
        } else {
            "link".into()
        },
        protocol: "kernel".into(),
        metric: None,
        family: "inet".into(),
        route_type: "unicast".into(),
        prefsrc: None,
    }
}

const ICMP: WalkKind = WalkKind::Icmp;
const ARP: WalkKind = WalkKind::Arp;

#[track_caller]
fn expect(p: &Prediction, want: Option<bool>, why_has: &str) {
    assert_eq!(p.expected, want, "{p:#?}");
    assert!(p.why.contains(why_has), "why {:?} lacks {why_has:?}", p.why);
}

fn pair() -> W {
    let mut w = W::default();
    w.ns("a", false).ns("b", false);
    w.veth(
        ("a", "eth0", Some("10.0.0.1/24")),
        ("b", "eth0", Some("10.0.0.2/24")),
    );
    w
}

#[test]
fn veth_pair_answers_echo_and_arp_with_hops_both_ways() {
    let w = pair();
    let p = w.go("a", "10.0.0.2", ICMP);
    expect(&p, Some(true), "reaches b");
    assert!(p
        .path
        .iter()
        .any(|h| &*h.netns == "b" && h.step.contains("delivered")));
    assert!(
        p.path.iter().filter(|h| &*h.netns == "a").count() >= 2,
        "request and reply: {p:#?}"
    );
    expect(
        &w.go("a", "10.0.0.2", ARP),
        Some(true),
        "answers the who-has",
    );
    expect(
        &w.go("a", "10.0.0.2", WalkKind::Tcp { port: 80 }),
        Some(true),
        "TCP SYN",
    );
}

#[test]
fn own_address_is_local_and_has_no_arp() {
    let w = pair();
    expect(
        &w.go("a", "10.0.0.1", ICMP),
        Some(true),
        "delivered locally",
    );
    expect(&w.go("a", "10.0.0.1", ARP), Some(false), "source's own");
    // With lo down (`ip netns add` leaves it down) nothing local answers.
    let mut w = pair();
    w.link("a", "lo", LinkKind::Loopback, Some("127.0.0.1/8"))
        .flags = vec!["LOOPBACK".into()];
    expect(&w.go("a", "10.0.0.1", ICMP), Some(false), "lo is down in a");
    let mut w = pair();
    w.link("a", "lo", LinkKind::Loopback, Some("127.0.0.1/8"))
        .flags = vec!["LOOPBACK".into(), "UP".into()];
    expect(
        &w.go("a", "10.0.0.1", ICMP),
        Some(true),
        "delivered locally",
    );
}

#[test]
fn no_route_and_nobody_answering_arp() {
    let w = pair();
    expect(&w.go("a", "192.0.2.1", ICMP), Some(false), "no route");
    expect(
        &w.go("a", "10.0.0.9", ICMP),
        Some(false),
        "answers ARP for 10.0.0.9",
    );
    expect(&w.go("a", "10.0.0.9", ARP), Some(false), "nobody");
}

#[test]
fn blackhole_unreachable_and_prohibit_routes_refuse() {
    let mut w = pair();
    w.typed_route("a", "10.0.0.2/32", "blackhole");
    expect(&w.go("a", "10.0.0.2", ICMP), Some(false), "blackhole");
    let mut w = pair();
    w.typed_route("a", "10.0.0.2/32", "prohibit");
    expect(&w.go("a", "10.0.0.2", ICMP), Some(false), "prohibit");
    let mut w = pair();
    w.typed_route("a", "10.0.0.0/25", "unreachable");
    expect(&w.go("a", "10.0.0.2", ICMP), Some(false), "unreachable");
    // A longer unicast prefix still wins over a shorter blackhole.
    let mut w = pair();
    w.typed_route("a", "10.0.0.0/8", "blackhole");
    expect(&w.go("a", "10.0.0.2", ICMP), Some(true), "reaches");
}

/// a - r - b, r forwarding, a and b routing through r.
fn routed(forward: bool, b_return: bool) -> W {
    let mut w = W::default();
    w.ns("a", false).ns("r", forward).ns("b", false);
    w.veth(
        ("a", "eth0", Some("10.0.1.2/24")),
        ("r", "ra", Some("10.0.1.1/24")),
    );
    w.veth(
        ("b", "eth0", Some("10.0.2.2/24")),
        ("r", "rb", Some("10.0.2.1/24")),
    );
    w.route("a", "default", Some("10.0.1.1"), "eth0");
    if b_return {
        w.route("b", "default", Some("10.0.2.1"), "eth0");
    }
    w
}

#[test]
fn routing_through_a_forwarding_namespace() {
    let w = routed(true, true);
    let p = w.go("a", "10.0.2.2", ICMP);
    expect(&p, Some(true), "reaches b");
    assert!(p
        .path
        .iter()
        .any(|h| &*h.netns == "r" && h.step.contains("routed on-link")));
    // ARP asks on the route's interface: b is not behind it at layer 2, but r answers for
    // any of its own addresses there.
    expect(&w.go("a", "10.0.2.2", ARP), Some(false), "nobody");
    expect(&w.go("a", "10.0.2.1", ARP), Some(true), "ra in r");
    expect(&w.go("a", "10.0.1.1", ARP), Some(true), "ra in r");
}

#[test]
fn a_gateway_without_a_route_drops_what_it_is_sent() {
    // As the LAN's router does with docker0's subnet: it is the default gateway of the
    // sender, but knows no route to the target.
    let w = routed(true, true);
    let p = w.go("a", "172.17.0.2", ICMP);
    expect(
        &p,
        Some(false),
        "the packet reaches r, which has no route to 172.17.0.2 and drops it",
    );
    assert!(p.path.iter().any(|h| h.step.contains("via 10.0.1.1")));
}

#[test]
fn a_namespace_with_only_lo_has_no_route_to_anything() {
    // A none-mode container.
    let mut w = pair();
    w.ns("none", false);
    w.link("none", "lo", LinkKind::Loopback, Some("127.0.0.1/8"));
    for target in ["10.0.0.1", "192.0.2.1"] {
        expect(
            &w.go("none", target, ICMP),
            Some(false),
            "none has only lo (no other interface with an address): it has no route to \
             anything else",
        );
    }
    // A namespace with an interface but no route to the target says just that.
    expect(
        &w.go("a", "192.0.2.1", ICMP),
        Some(false),
        "a has no route to 192.0.2.1",
    );
}

#[test]
fn ip_forward_off_stops_the_request() {
    expect(
        &routed(false, true).go("a", "10.0.2.2", ICMP),
        Some(false),
        "ip_forward is off in r",
    );
}

#[test]
fn a_missing_return_route_loses_the_reply() {
    let p = routed(true, false).go("a", "10.0.2.2", ICMP);
    expect(
        &p,
        Some(false),
        "the reply does not come back: b has no route to 10.0.1.2",
    );
}

#[test]
fn longest_prefix_wins_and_metric_breaks_ties() {
    let mut w = routed(true, true);
    // A more specific blackhole for b's address beats the default route.
    w.typed_route("a", "10.0.2.2/32", "blackhole");
    expect(&w.go("a", "10.0.2.2", ICMP), Some(false), "blackhole");
    let mut w = routed(true, true);
    let mut worse = route("10.0.2.0/24", Some("10.0.1.99"), "eth0");
    worse.metric = Some(200);
    let mut better = route("10.0.2.0/24", Some("10.0.1.1"), "eth0");
    better.metric = Some(100);
    w.get("a").routes.push(worse);
    w.get("a").routes.push(better);
    expect(&w.go("a", "10.0.2.2", ICMP), Some(true), "reaches b");
}

/// b has a second way back to a through r2: the reply path is asymmetric.
fn asymmetric(rp: u8) -> W {
    let mut w = routed(true, true);
    w.ns("r2", true);
    w.veth(
        ("b", "eth1", Some("10.0.3.2/24")),
        ("r2", "r2b", Some("10.0.3.1/24")),
    );
    w.veth(
        ("a", "eth1", Some("10.0.4.2/24")),
        ("r2", "r2a", Some("10.0.4.1/24")),
    );
    w.route("b", "10.0.1.0/24", Some("10.0.3.1"), "eth1");
    w.route("r2", "10.0.1.0/24", Some("10.0.4.2"), "r2a");
    w.conf("b", "all", |c| c.rp_filter = Some(rp));
    w
}

#[test]
fn strict_rp_filter_drops_an_asymmetric_request_loose_and_off_do_not() {
    expect(
        &asymmetric(1).go("a", "10.0.2.2", ICMP),
        Some(false),
        "strict reverse-path filtering (rp_filter=1) in b",
    );
    expect(
        &asymmetric(0).go("a", "10.0.2.2", ICMP),
        Some(true),
        "reaches b",
    );
    expect(
        &asymmetric(2).go("a", "10.0.2.2", ICMP),
        Some(true),
        "reaches b",
    );
    // The interface's own setting counts too: the kernel uses the larger.
    let mut w = asymmetric(0);
    w.conf("b", "eth0", |c| c.rp_filter = Some(1));
    expect(&w.go("a", "10.0.2.2", ICMP), Some(false), "rp_filter=1");
}

#[test]
fn unread_rp_filter_on_an_asymmetric_path_is_unknown() {
    let mut w = asymmetric(0);
    w.get("b").conf.clear();
    expect(&w.go("a", "10.0.2.2", ICMP), None, "rp_filter was not read");
}

/// host with docker0 (172.17.0.1) and a container; the host's eth0 on a LAN with a peer.
fn docker(masquerade: bool) -> W {
    let mut w = W::default();
    w.ns("host", true).ns("c", false).ns("peer", false);
    w.veth(
        ("c", "eth0", Some("172.17.0.2/16")),
        ("host", "veth1", None),
    );
    w.bridge("host", "docker0", Some("172.17.0.1/16"), &["veth1"], false);
    w.route("c", "default", Some("172.17.0.1"), "eth0");
    w.veth(
        ("host", "eth0", Some("192.168.50.11/24")),
        ("peer", "eth0", Some("192.168.50.12/24")),
    );
    if masquerade {
        w.nat(
            "host",
            "POSTROUTING",
            r#"ip saddr 172.17.0.0/16 oifname != "docker0" masquerade"#,
        );
    }
    w
}

#[test]
fn bridge_switches_between_ports_and_to_its_own_stack() {
    let mut w = docker(true);
    w.ns("c2", false);
    w.veth(
        ("c2", "eth0", Some("172.17.0.3/16")),
        ("host", "veth2", None),
    );
    w.bridge("host", "docker0x", None, &[], false);
    w.get("host")
        .links
        .iter_mut()
        .find(|l| l.name == "veth2")
        .unwrap()
        .master = Some("docker0".into());
    w.conf("host", "veth2", |c| c.hairpin = Some(false));
    let p = w.go("c", "172.17.0.3", ICMP);
    expect(&p, Some(true), "reaches c2");
    assert!(p
        .path
        .iter()
        .any(|h| h.step.contains("bridge docker0 forwards")));
    expect(&w.go("c", "172.17.0.1", ICMP), Some(true), "reaches host");
    expect(&w.go("c", "172.17.0.3", ARP), Some(true), "c2");
    expect(&w.go("host", "172.17.0.2", ARP), Some(true), "eth0 in c");
}

#[test]
fn masquerade_shows_the_seen_as_source_and_the_reply_is_translated_back() {
    let p = docker(true).go("c", "192.168.50.12", ICMP);
    expect(&p, Some(true), "seen there as 192.168.50.11");
    assert!(p
        .path
        .iter()
        .any(|h| h.step.contains("source rewritten to 192.168.50.11")));
    // Without NAT the peer has no route back to the container's subnet.
    expect(
        &docker(false).go("c", "192.168.50.12", ICMP),
        Some(false),
        "peer has no route to 172.17.0.2",
    );
}

#[test]
fn snat_to_a_fixed_address() {
    let mut w = docker(false);
    w.get("host")
        .links
        .iter_mut()
        .find(|l| l.name == "eth0")
        .unwrap()
        .addresses
        .push(Address {
            ip: "192.168.50.99".parse().unwrap(),
            prefix_len: 24,
            scope: "global".into(),
        });
    w.nat(
        "host",
        "POSTROUTING",
        r#"ip saddr 172.17.0.0/16 oifname "eth*" snat to 192.168.50.99"#,
    );
    expect(
        &w.go("c", "192.168.50.12", ICMP),
        Some(true),
        "seen there as 192.168.50.99",
    );
}

#[test]
fn dnat_publishes_a_port_and_the_reply_is_translated_back() {
    let mut w = docker(true);
    w.nat("host", "PREROUTING", "fib daddr type local jump DOCKER");
    w.nat("host", "DOCKER", r#"iifname "docker0" return"#);
    w.nat(
        "host",
        "DOCKER",
        r#"iifname != "docker0" tcp dport 8080 dnat to 172.17.0.2:80"#,
    );
    let p = w.go("peer", "192.168.50.11", WalkKind::Tcp { port: 8080 });
    expect(&p, Some(true), "reaches c");
    assert!(p.path.iter().any(|h| h.step.contains("DNAT to 172.17.0.2")));
    // Another port is not published: the host itself answers (a refusal proves the path).
    expect(
        &w.go("peer", "192.168.50.11", WalkKind::Tcp { port: 9 }),
        Some(true),
        "reaches host",
    );
}

#[test]
fn an_undecodable_nat_rule_on_the_path_makes_it_unknown() {
    let mut w = docker(false);
    w.nat(
        "host",
        "POSTROUTING",
        r#"ip saddr 172.17.0.0/16 xt match "owner" masquerade"#,
    );
    expect(&w.go("c", "192.168.50.12", ICMP), None, "is not modelled");
    // A rule whose decoded match already fails is not reached.
    let mut w = docker(true);
    w.nat(
        "host",
        "POSTROUTING",
        r#"ip saddr 10.99.0.0/16 xt match "owner" masquerade"#,
    );
    expect(
        &w.go("c", "192.168.50.12", ICMP),
        Some(true),
        "seen there as",
    );
}

/// A host whose eth0 is a port of switch bridge lan0 (in "sw") with a peer, and macvlan
/// children of the host's eth0 in their own namespaces.
fn macvlan_world(modes: &[&str], hairpin: bool) -> W {
    let mut w = W::default();
    w.ns("host", false).ns("sw", false).ns("peer", false);
    w.veth(
        ("host", "eth0", Some("192.168.50.11/24")),
        ("sw", "p-host", None),
    );
    w.veth(
        ("peer", "eth0", Some("192.168.50.12/24")),
        ("sw", "p-peer", None),
    );
    w.bridge("sw", "lan0", None, &["p-host", "p-peer"], hairpin);
    for (i, mode) in modes.iter().enumerate() {
        let ns = format!("mv{i}");
        w.ns(&ns, false);
        w.stacked(
            &ns,
            "eth0",
            LinkKind::Macvlan,
            mode,
            ("host", "eth0"),
            &format!("192.168.50.{}/24", 20 + i),
        );
    }
    w
}

#[test]
fn macvlan_bridge_siblings_talk_inside_the_parent() {
    let w = macvlan_world(&["bridge", "bridge"], false);
    let p = w.go("mv0", "192.168.50.21", ICMP);
    expect(&p, Some(true), "reaches mv1");
    assert!(p
        .path
        .iter()
        .any(|h| h.step.contains("macvlan bridge mode switches")));
    expect(&w.go("mv0", "192.168.50.21", ARP), Some(true), "mv1");
    expect(
        &w.go("mv0", "192.168.50.12", ICMP),
        Some(true),
        "reaches peer",
    );
    expect(&w.go("peer", "192.168.50.20", ARP), Some(true), "mv0");
}

#[test]
fn macvlan_parent_and_children_never_talk_without_hairpin() {
    let w = macvlan_world(&["bridge"], false);
    expect(
        &w.go("mv0", "192.168.50.11", ICMP),
        Some(false),
        "macvlan children cannot reach their parent's own stack: the parent never receives \
         frames from its children",
    );
    expect(
        &w.go("host", "192.168.50.20", ICMP),
        Some(false),
        "the parent's frames leave for the wire and never come back to its macvlan children",
    );
    expect(
        &w.go("host", "192.168.50.20", ARP),
        Some(false),
        "never come back to its macvlan children",
    );
}

#[test]
fn a_hairpin_switch_reflects_parent_and_child_frames() {
    let w = macvlan_world(&["bridge"], true);
    expect(
        &w.go("mv0", "192.168.50.11", ICMP),
        Some(true),
        "reaches host",
    );
    expect(
        &w.go("host", "192.168.50.20", ICMP),
        Some(true),
        "reaches mv0",
    );
}

#[test]
fn vepa_siblings_need_a_hairpin_switch() {
    let w = macvlan_world(&["vepa", "vepa"], false);
    expect(
        &w.go("mv0", "192.168.50.21", ICMP),
        Some(false),
        "VEPA sends every frame out to the switch, which must send it back",
    );
    let w = macvlan_world(&["vepa", "vepa"], true);
    let p = w.go("mv0", "192.168.50.21", ICMP);
    expect(&p, Some(true), "reaches mv1");
    assert!(p.path.iter().any(|h| h.step.contains("hairpin")));
}

#[test]
fn private_children_talk_to_no_sibling_even_with_hairpin() {
    for hairpin in [false, true] {
        let w = macvlan_world(&["private", "private"], hairpin);
        expect(
            &w.go("mv0", "192.168.50.21", ICMP),
            Some(false),
            "private mode forbids children of one parent to talk",
        );
        expect(
            &w.go("mv0", "192.168.50.21", ARP),
            Some(false),
            "private mode forbids",
        );
        expect(
            &w.go("mv0", "192.168.50.12", ICMP),
            Some(true),
            "reaches peer",
        );
    }
}

#[test]
fn a_who_has_teaches_the_answerer_the_askers_mac_for_its_reply() {
    // With hairpin, the host's who-has reaches a private child, which answers and learns the
    // host's MAC: its echo reply needs no ARP (its own who-has would only come back to it).
    let w = macvlan_world(&["private"], true);
    let p = w.go("host", "192.168.50.20", ICMP);
    expect(&p, Some(true), "reaches mv0");
    assert!(p
        .path
        .iter()
        .any(|h| h.step.contains("already knows 192.168.50.11")));
    // Alone, the child cannot resolve the host.
    expect(
        &w.go("mv0", "192.168.50.11", ICMP),
        Some(false),
        "a private macvlan child cannot reach its parent",
    );
}

#[test]
fn a_run_where_the_host_asks_a_private_child_teaches_the_child_the_hosts_mac() {
    // Alone, a private child's echo to its parent's host fails (its who-has comes back only to
    // itself); in a run that also probes the child from the host, the host's who-has reached
    // the child through the hairpin switch and taught it the host's MAC, as the kernel shows
    // (tests/walk_lab.rs, macvlan private with hairpin).
    let w = macvlan_world(&["private"], true);
    let probe = |from: &str, to: &str, kind| Probe {
        netns: from.into(),
        src: None,
        target: to.parse().unwrap(),
        kind,
    };
    let child_to_host = probe("mv0", "192.168.50.11", ICMP);
    let alone = predict_all(&w.inv, std::slice::from_ref(&child_to_host));
    expect(
        &alone[0],
        Some(false),
        "private macvlan child cannot reach its parent",
    );
    for host_asks in [ICMP, ARP] {
        let run = predict_all(
            &w.inv,
            &[
                child_to_host.clone(),
                probe("host", "192.168.50.20", host_asks),
            ],
        );
        expect(
            &run[0],
            Some(true),
            "but host's who-has for 192.168.50.20 in this same run reached mv0 and taught it \
             192.168.50.11's MAC",
        );
        assert!(run[0]
            .path
            .iter()
            .any(|h| h.step.contains("in this same run taught it")));
        expect(&run[1], Some(true), "mv0");
        // The run model's verdicts, kept without paths to plan the batches, are the same
        // as its predictions, the taught one included.
        let probes = [
            child_to_host.clone(),
            probe("host", "192.168.50.20", host_asks),
        ];
        let model = super::RunModel::new(&w.inv, &probes);
        for (i, p) in run.iter().enumerate() {
            assert_eq!(model.verdict(i), p.expected, "{p:#?}");
            assert_eq!(model.predict(i), *p);
        }
    }
    // Without hairpin the host's who-has never reaches the child: nothing is taught.
    let w = macvlan_world(&["private"], false);
    let run = predict_all(
        &w.inv,
        &[child_to_host, probe("host", "192.168.50.20", ARP)],
    );
    expect(
        &run[0],
        Some(false),
        "private macvlan child cannot reach its parent",
    );
    // A failing ARP probe is never taught: an ARP probe always asks.
    let w = macvlan_world(&["private"], true);
    let run = predict_all(
        &w.inv,
        &[
            probe("mv0", "192.168.50.11", ARP),
            probe("host", "192.168.50.20", ARP),
        ],
    );
    expect(
        &run[0],
        Some(false),
        "private macvlan child cannot reach its parent",
    );
}

#[test]
fn a_host_shim_bridges_the_host_and_the_children_its_routes_cover() {
    // The lab's host shim: a bridge-mode macvlan sibling in the host (a /32) with a route to
    // each child it covers. mv0 (bridge) and mv1 (private) are covered, mv2 (bridge) is not.
    let mut w = macvlan_world(&["bridge", "private", "bridge"], false);
    w.stacked(
        "host",
        "shim",
        LinkKind::Macvlan,
        "bridge",
        ("host", "eth0"),
        "192.168.50.223/32",
    );
    w.route("host", "192.168.50.20/32", None, "shim");
    w.route("host", "192.168.50.21/32", None, "shim");
    let p = w.go("host", "192.168.50.20", ICMP);
    expect(&p, Some(true), "reaches mv0");
    assert!(p.path.iter().any(|h| &*h.dev == "shim"), "{p:#?}");
    expect(&w.go("host", "192.168.50.20", ARP), Some(true), "mv0");
    expect(
        &w.go("mv0", "192.168.50.11", ICMP),
        Some(true),
        "reaches host",
    );
    expect(
        &w.go("mv0", "192.168.50.223", ICMP),
        Some(true),
        "reaches host",
    );
    // The shim does not help a private child: it is a sibling, and private talks to none.
    expect(
        &w.go("host", "192.168.50.21", ICMP),
        Some(false),
        "private mode forbids children of one parent to talk",
    );
    expect(
        &w.go("host", "192.168.50.21", ARP),
        Some(false),
        "private mode forbids",
    );
    expect(
        &w.go("mv1", "192.168.50.11", ICMP),
        Some(false),
        "a private macvlan child cannot reach its parent",
    );
    // A child the shim's routes do not cover: the host answers its who-has through the shim,
    // but the host's reply leaves by eth0 and never reaches it.
    expect(
        &w.go("host", "192.168.50.22", ICMP),
        Some(false),
        "never come back to its macvlan children",
    );
    expect(
        &w.go("mv2", "192.168.50.11", ICMP),
        Some(false),
        "the reply does not come back: the parent's frames leave for the wire",
    );
    // The LAN reaches the shim's address on the host's eth0 (the host answers ARP for any of
    // its addresses).
    expect(
        &w.go("peer", "192.168.50.223", ICMP),
        Some(true),
        "reaches host",
    );
}

#[test]
fn passthru_takes_the_parents_unicast() {
    let w = macvlan_world(&["passthru"], false);
    expect(
        &w.go("mv0", "192.168.50.12", ICMP),
        Some(true),
        "reaches peer",
    );
    // The host's who-has gets its answer on the device (an ARP probe sees it) but the stack
    // never does: the passthru child takes every unicast frame.
    expect(&w.go("host", "192.168.50.12", ARP), Some(true), "peer");
    expect(
        &w.go("host", "192.168.50.12", ICMP),
        Some(false),
        "a passthru macvlan child took over eth0: every unicast frame arriving there goes to \
         the child, so host's own traffic on it gets no answers",
    );
    // The peer's echo to the host's address is taken by the child too.
    expect(
        &w.go("peer", "192.168.50.11", ICMP),
        Some(false),
        "a passthru macvlan child took over eth0",
    );
}

fn ipvlan_world(modes: &[&str]) -> W {
    let mut w = W::default();
    w.ns("host", false).ns("peer", false);
    w.veth(
        ("host", "eth0", Some("192.168.50.11/24")),
        ("peer", "eth0", Some("192.168.50.12/24")),
    );
    for (i, mode) in modes.iter().enumerate() {
        let ns = format!("iv{i}");
        w.ns(&ns, false);
        w.stacked(
            &ns,
            "eth0",
            LinkKind::Ipvlan,
            mode,
            ("host", "eth0"),
            &format!("192.168.50.{}/24", 30 + i),
        );
    }
    w
}

#[test]
fn ipvlan_l2_shares_the_parents_mac_and_not_its_stack() {
    let w = ipvlan_world(&["l2", "l2"]);
    expect(
        &w.go("iv0", "192.168.50.31", ICMP),
        Some(true),
        "reaches iv1",
    );
    expect(
        &w.go("iv0", "192.168.50.12", ICMP),
        Some(true),
        "reaches peer",
    );
    expect(
        &w.go("peer", "192.168.50.30", ARP),
        Some(true),
        "eth0 in iv0 answers the who-has for 192.168.50.30 with its parent's MAC: ipvlan \
         children share it",
    );
    expect(
        &w.go("iv0", "192.168.50.11", ICMP),
        Some(false),
        "ipvlan children and their parent's own stack cannot reach each other",
    );
    expect(
        &w.go("host", "192.168.50.30", ARP),
        Some(false),
        "ipvlan children and their parent's own stack cannot reach each other",
    );
}

#[test]
fn ipvlan_l3_has_no_arp_routes_through_the_parent_and_never_reaches_it() {
    let w = ipvlan_world(&["l3", "l3s"]);
    expect(
        &w.go("peer", "192.168.50.30", ARP),
        Some(false),
        "ipvlan l3 children neither send nor answer ARP",
    );
    expect(&w.go("iv0", "192.168.50.12", ARP), Some(false), "NOARP");
    expect(
        &w.go("iv0", "192.168.50.31", ICMP),
        Some(true),
        "reaches iv1",
    );
    expect(
        &w.go("iv0", "192.168.50.11", ICMP),
        Some(false),
        "ipvlan children and their parent",
    );
    // The request leaves through the host's routing; the peer's reply needs ARP for the child.
    let p = w.go("iv0", "192.168.50.12", ICMP);
    expect(
        &p,
        Some(false),
        "reply does not come back: ipvlan l3 children neither send nor answer ARP",
    );
    assert!(p
        .path
        .iter()
        .any(|h| &*h.netns == "peer" && h.step.contains("delivered")));
    // With a route via the host, the LAN node sends it to the parent's MAC, which ipvlan
    // hands to the child by IP address; the reply is routed by the parent's namespace.
    let mut w = ipvlan_world(&["l3"]);
    w.route("peer", "192.168.50.30/32", Some("192.168.50.11"), "eth0");
    let p = w.go("peer", "192.168.50.30", ICMP);
    expect(&p, Some(true), "reaches iv0");
    assert!(p
        .path
        .iter()
        .any(|h| h.step.contains("ipvlan hands it to the child by IP")));
}

#[test]
fn proxy_arp_answers_for_a_routed_address() {
    let mut w = routed(true, true);
    // a thinks 10.0.0.0/8 is on-link; r answers for b's address by proxy ARP.
    w.get("a").routes.retain(|r| r.dst != "default");
    w.route("a", "10.0.0.0/8", None, "eth0");
    expect(&w.go("a", "10.0.2.2", ARP), Some(false), "nobody");
    w.conf("r", "ra", |c| c.proxy_arp = Some(true));
    expect(&w.go("a", "10.0.2.2", ARP), Some(true), "ra in r");
    let p = w.go("a", "10.0.2.2", ICMP);
    expect(&p, Some(true), "reaches b");
    assert!(p.path.iter().any(|h| h.step.contains("proxy ARP")));
}

struct DropForward;

impl Filters for DropForward {
    fn verdict(&self, netns: &str, hook: Hook, pkt: &PacketFacts) -> FilterVerdict {
        if netns == "r" && hook == Hook::Forward && pkt.ct == CtState::New {
            FilterVerdict::Drop {
                by: DecidedBy {
                    family: "ip".into(),
                    table: "filter".into(),
                    chain: "FORWARD".into(),
                    rule: None,
                },
            }
        } else {
            FilterVerdict::Accept { by: None }
        }
    }
}

#[test]
fn the_filter_seam_decides_at_the_forward_hook() {
    let w = routed(true, true);
    let probe = Probe {
        netns: "a".into(),
        src: None,
        target: "10.0.2.2".parse().unwrap(),
        kind: ICMP,
    };
    let p = predict_with(&w.inv, &DropForward, &probe);
    expect(
        &p,
        Some(false),
        "the policy of chain FORWARD (ip filter) in r drops it at the forward hook",
    );
    expect(&predict(&w.inv, &probe), Some(true), "reaches b");
}

#[test]
fn what_the_walk_cannot_follow_is_unknown_never_a_guess() {
    let mut w = pair();
    w.get("a").links[0].peer = Some(LinkRef {
        netns: None,
        name: None,
    });
    expect(&w.go("a", "10.0.0.2", ICMP), None, "cannot see");
    let w = pair();
    expect(
        &w.go("nowhere", "10.0.0.2", ICMP),
        None,
        "no namespace nowhere",
    );
    expect(&w.go("a", "fd00::1", ICMP), None, "IPv6");
    let mut w = pair();
    w.get("b").ip_forward = None;
    w.get("a").links[0].addresses.clear();
    expect(&w.go("a", "10.0.0.2", ICMP), Some(false), "no route");
    let mut w = pair();
    w.get("b").conf.insert("eth0".into(), LinkConf::default());
    w.link("b", "br0", LinkKind::Bridge, None);
    w.get("b").links[0].master = Some("br0".into());
    w.get("b").conf.get_mut("eth0").unwrap().hairpin = None;
    // The bridge floods the who-has; whether it reflects back out the ingress port is unread.
    expect(&w.go("a", "10.0.0.2", ARP), None, "hairpin flag");
}

#[test]
fn gateways_on_link_and_through_a_connected_subnet() {
    let mut w = pair();
    let extra = |ip: &str| Address {
        ip: ip.parse().unwrap(),
        prefix_len: 32,
        scope: "global".into(),
    };
    w.get("b").links[0].addresses.push(extra("192.0.2.1"));
    w.get("b").links[0].addresses.push(extra("203.0.113.5"));
    w.route("a", "192.0.2.0/24", Some("10.0.0.2"), "eth0");
    expect(&w.go("a", "192.0.2.1", ICMP), Some(true), "reaches b");
    // An on-link gateway outside every connected subnet is still asked for on the device.
    w.route("a", "198.51.100.0/24", Some("203.0.113.5"), "eth0");
    w.get("b").links[0].addresses.push(extra("198.51.100.7"));
    let p = w.go("a", "198.51.100.7", ICMP);
    expect(&p, Some(true), "reaches b");
    assert!(p
        .path
        .iter()
        .any(|h| h.step.contains("answers ARP for 203.0.113.5")));
}

#[test]
fn a_macvlan_mode_the_walk_does_not_know_is_unknown() {
    let w = macvlan_world(&["source"], false);
    expect(
        &w.go("mv0", "192.168.50.12", ICMP),
        None,
        "macvlan mode \"source\"",
    );
}

/// A Docker-like FORWARD chain in `r`: policy drop, replies let through, one pair accepted.
fn docker_like_forward(w: &mut W, accept: Option<&str>) {
    use crate::inventory::model::{FilterRule, NatBackend, NatOwner};
    let entry = |rule: Option<&str>| FilterRule {
        family: "ip".into(),
        table: "filter".into(),
        chain: "FORWARD".into(),
        hook: Some("forward".into()),
        policy: Some("drop".into()),
        priority: Some(0),
        rule: rule.map(str::to_string),
        owner: NatOwner::Other,
        backend: NatBackend::Nftables,
    };
    let f = &mut w.get("r").filter;
    f.push(entry(Some("ct state related,established accept")));
    if let Some(rule) = accept {
        f.push(entry(Some(rule)));
    }
}

#[test]
fn the_walk_evaluates_the_filter_chains_the_inventory_read() {
    let mut w = routed(true, true);
    docker_like_forward(&mut w, None);
    let p = w.go("a", "10.0.2.2", ICMP);
    expect(
        &p,
        Some(false),
        "the policy of chain FORWARD (ip filter) in r drops it at the forward hook",
    );
    // r's own addresses are delivered locally: the forward chain is not on that path.
    expect(&w.go("a", "10.0.1.1", ICMP), Some(true), "");
    // An accept for the new flow; the reply goes through as established.
    let mut w = routed(true, true);
    docker_like_forward(&mut w, Some("iifname \"ra\" oifname \"rb\" accept"));
    expect(&w.go("a", "10.0.2.2", ICMP), Some(true), "reaches b");
    // The other way round is still a new flow that nothing accepts.
    expect(
        &w.go("b", "10.0.1.2", ICMP),
        Some(false),
        "policy of chain FORWARD",
    );
}

#[test]
fn a_comment_match_in_a_nat_rule_has_no_effect() {
    // netavark's published port as nft lists its iptables-nft rules (`-m comment` has no
    // native form there).
    let mut w = docker(true);
    w.nat(
        "host",
        "PREROUTING",
        "fib daddr type local jump NETAVARK-HOSTPORT-DNAT",
    );
    w.nat(
        "host",
        "NETAVARK-HOSTPORT-DNAT",
        "tcp dport 8081 xt match comment jump NETAVARK-DN-1",
    );
    w.nat(
        "host",
        "NETAVARK-DN-1",
        "tcp dport 8081 dnat to 172.17.0.2:80",
    );
    let p = w.go("peer", "192.168.50.11", WalkKind::Tcp { port: 8081 });
    expect(&p, Some(true), "reaches c");
    assert!(p.path.iter().any(|h| h.step.contains("DNAT to 172.17.0.2")));
    // Another xt match is still not modelled.
    w.nat("host", "PREROUTING", r#"xt match "owner" accept"#);
    expect(
        &w.go("peer", "192.168.50.11", WalkKind::Tcp { port: 9 }),
        None,
        "is not modelled",
    );
}

/// netavark's published port 8081 on the docker() world's host, DNAT to c2 (172.17.0.3): a
/// request from the bridge's own subnet is marked in prerouting and masqueraded by the mark
/// in postrouting (its hairpin), as `iptables-save` showed netavark 1.4's rules.
fn netavark_port() -> W {
    let mut w = docker(false);
    w.ns("c2", false);
    w.veth(
        ("c2", "eth0", Some("172.17.0.3/16")),
        ("host", "veth2", None),
    );
    w.get("host")
        .links
        .iter_mut()
        .find(|l| l.name == "veth2")
        .unwrap()
        .master = Some("docker0".into());
    w.route("c2", "default", Some("172.17.0.1"), "eth0");
    w.nat(
        "host",
        "PREROUTING",
        "fib daddr type local jump NETAVARK-HOSTPORT-DNAT",
    );
    w.nat(
        "host",
        "NETAVARK-HOSTPORT-DNAT",
        "tcp dport 8081 jump NETAVARK-DN-1",
    );
    w.nat(
        "host",
        "NETAVARK-DN-1",
        "ip saddr 172.17.0.0/16 tcp dport 8081 jump NETAVARK-HOSTPORT-SETMARK",
    );
    w.nat(
        "host",
        "NETAVARK-DN-1",
        "tcp dport 8081 dnat to 172.17.0.3:80",
    );
    w.nat(
        "host",
        "NETAVARK-HOSTPORT-SETMARK",
        "counter packets 0 bytes 0 meta mark set mark or 0x2000",
    );
    w.nat("host", "POSTROUTING", "jump NETAVARK-HOSTPORT-MASQ");
    w.nat(
        "host",
        "NETAVARK-HOSTPORT-MASQ",
        "meta mark & 0x00002000 == 0x00002000 counter packets 0 bytes 0 masquerade",
    );
    w
}

#[test]
fn a_mark_set_in_prerouting_is_matched_in_postrouting() {
    let w = netavark_port();
    let p = w.go("c", "192.168.50.11", WalkKind::Tcp { port: 8081 });
    expect(&p, Some(true), "reaches c2");
    assert!(
        p.path
            .iter()
            .any(|h| h.step.contains("source rewritten to 172.17.0.1")),
        "the marked request is masqueraded: {p:#?}"
    );
    // From outside the subnet nothing marks it: it keeps its source.
    let p = w.go("peer", "192.168.50.11", WalkKind::Tcp { port: 8081 });
    expect(&p, Some(true), "reaches c2");
    assert!(
        !p.path.iter().any(|h| h.step.contains("source rewritten")),
        "{p:#?}"
    );
}

#[test]
fn a_mark_does_not_cross_into_another_namespace() {
    let mut w = netavark_port();
    w.route("peer", "172.17.0.0/16", Some("192.168.50.11"), "eth0");
    w.nat("peer", "OUTPUT", "meta mark set 0x2000");
    let p = w.go("peer", "172.17.0.3", ICMP);
    expect(&p, Some(true), "reaches c2");
    assert!(
        !p.path.iter().any(|h| h.step.contains("source rewritten")),
        "the host sees the request unmarked: {p:#?}"
    );
}

#[test]
fn br_netfilter_bridges_a_dnat_back_to_its_sender_only_through_a_hairpin_port() {
    // c publishes its own port 80 as the host's 8081 and connects to it (measured in
    // tests/runtimes.rs with Podman: with bridge-nf-call-iptables=1 and no hairpin on the
    // port the connect timed out; with either changed it was accepted).
    let mut w = netavark_port();
    w.nat(
        "host",
        "NETAVARK-HOSTPORT-DNAT",
        "tcp dport 8082 jump NETAVARK-DN-2",
    );
    w.nat(
        "host",
        "NETAVARK-DN-2",
        "ip saddr 172.17.0.0/16 tcp dport 8082 jump NETAVARK-HOSTPORT-SETMARK",
    );
    w.nat(
        "host",
        "NETAVARK-DN-2",
        "tcp dport 8082 dnat to 172.17.0.2:80",
    );
    w.conf("host", "veth1", |c| c.hairpin = Some(false));
    w.conf("host", "veth2", |c| c.hairpin = Some(false));
    let to_self = WalkKind::Tcp { port: 8082 };
    w.get("host").bridge_nf_call_iptables = Some(true);
    expect(
        &w.go("c", "192.168.50.11", to_self),
        Some(false),
        "bridge port veth1 has no hairpin",
    );
    // To another port of the bridge it is delivered.
    expect(
        &w.go("c", "192.168.50.11", WalkKind::Tcp { port: 8081 }),
        Some(true),
        "reaches c2",
    );
    w.conf("host", "veth1", |c| c.hairpin = Some(true));
    expect(
        &w.go("c", "192.168.50.11", to_self),
        Some(true),
        "delivered locally",
    );
    w.conf("host", "veth1", |c| c.hairpin = Some(false));
    w.get("host").bridge_nf_call_iptables = Some(false);
    expect(
        &w.go("c", "192.168.50.11", to_self),
        Some(true),
        "delivered locally",
    );
    w.get("host").bridge_nf_call_iptables = None;
    expect(
        &w.go("c", "192.168.50.11", to_self),
        None,
        "bridge-nf-call-iptables",
    );
}
