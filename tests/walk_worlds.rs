//! Privileged: worlds built with iproute2 only (not with `netview lab`), each pair checked
//! against `ping -c1 -W1` and `arping -c1 -w1`, and the packet walk over `netview inventory
//! --all --json` matching the kernel on every cell (or `null` with a reason). Worlds: two
//! bridges joined by a forwarding namespace with a missing return route; ip_forward off with
//! blackhole and prohibit routes; strict rp_filter against an asymmetric path; a bridge behind
//! nft masquerade with a DNAT-published port (checked with a TCP connect); a Docker-like
//! FORWARD policy drop with an accept for established traffic and a jumped chain. Namespaces carry
//! the test's prefix and are removed in Drop, even when the test fails.

#[path = "lab_common/mod.rs"]
mod common;

use std::process::{Command, Stdio};

use common::*;
use netview::inventory::Inventory;
use netview::probe::walk::{predict, Probe, WalkKind};

struct Built {
    lab: TestLab,
}

impl Built {
    fn new() -> Self {
        Built {
            lab: TestLab::new(),
        }
    }

    fn ns(&mut self, part: &str) -> String {
        let name = self.lab.ns(part);
        ip(&["netns", "add", &name]);
        self.lab.own_netns.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    fn sysctl(&self, ns: &str, key: &str, value: &str) {
        let out = in_ns(ns, &["sysctl", "-qw", &format!("{key}={value}")]);
        assert!(out.status.success(), "sysctl {key} in {ns}");
    }

    /// A veth pair `a` (in `na`) - `b` (in `nb`), both up, with optional addresses.
    fn veth(&self, na: &str, a: &str, aa: Option<&str>, nb: &str, b: &str, ba: Option<&str>) {
        ip(&[
            "-n", na, "link", "add", a, "type", "veth", "peer", "name", b, "netns", nb,
        ]);
        for (ns, dev, addr) in [(na, a, aa), (nb, b, ba)] {
            if let Some(addr) = addr {
                ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            }
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
    }

    fn bridge(&self, ns: &str, name: &str, ports: &[&str]) {
        ip(&["-n", ns, "link", "add", name, "type", "bridge"]);
        ip(&["-n", ns, "link", "set", name, "up"]);
        for p in ports {
            ip(&["-n", ns, "link", "set", p, "master", name]);
        }
    }

    fn route(&self, ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns, "route", "add"];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Every namespace to every address, ICMP and ARP: the walk against ping/arping.
    fn check(&self, what: &str, namespaces: &[&str], targets: &[&str]) -> Vec<Cell> {
        let inv: Inventory = serde_json::from_str(&self.lab.ok(&["inventory", "--all", "--json"]))
            .expect("inventory JSON");
        let mut pending = Vec::new();
        for ns in namespaces {
            for t in targets {
                for kind in [WalkKind::Icmp, WalkKind::Arp] {
                    let args: Vec<String> = match kind {
                        WalkKind::Icmp => ["ping", "-c1", "-W1", t].map(String::from).to_vec(),
                        _ => {
                            let route = ip_json(Some(ns), &["route", "get", t]);
                            let dev = route[0]["dev"].as_str().unwrap_or("lo").to_string();
                            ["arping", "-c1", "-w1", "-I", &dev, t]
                                .map(String::from)
                                .to_vec()
                        }
                    };
                    let child = Command::new("ip")
                        .args(["netns", "exec", ns])
                        .args(&args)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("spawn oracle");
                    pending.push((ns.to_string(), t.to_string(), kind, child));
                }
            }
        }
        let (mut cells, mut unknown, mut agree) = (0, 0, 0);
        let mut problems = Vec::new();
        let mut out = Vec::new();
        for (ns, t, kind, mut child) in pending {
            let kernel = child.wait().expect("oracle").success();
            let p = predict(
                &inv,
                &Probe {
                    netns: ns.as_str().into(),
                    src: None,
                    target: t.parse().unwrap(),
                    kind,
                },
            );
            cells += 1;
            match p.expected {
                None => unknown += 1,
                Some(e) if e == kernel => agree += 1,
                Some(e) => problems.push(format!(
                    "{ns} -> {t} {kind:?}: walk {e} ({}), kernel {kernel}",
                    p.why
                )),
            }
            out.push(Cell {
                from: ns,
                target: t,
                kind,
                why: p.why,
                kernel,
            });
        }
        eprintln!("{what}: {cells} cells, {unknown} unknown, walk = kernel on {agree}");
        assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
        assert!(
            unknown * 50 < cells,
            "{what}: {unknown} of {cells} cells unknown"
        );
        out
    }
}

/// One checked cell.
struct Cell {
    from: String,
    target: String,
    kind: WalkKind,
    why: String,
    kernel: bool,
}

/// The reason the walk gave for one ICMP cell, which the kernel must have refused.
fn refused_because(cells: &[Cell], from: &str, target: &str) -> String {
    let c = cells
        .iter()
        .find(|c| c.from == from && c.target == target && c.kind == WalkKind::Icmp)
        .expect("cell checked");
    assert!(!c.kernel, "{from} -> {target} was answered");
    c.why.clone()
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_bridges_joined_by_a_forwarding_namespace_with_a_missing_return_route() {
    let mut w = Built::new();
    let (a1, a2, sa) = (w.ns("a1"), w.ns("a2"), w.ns("swa"));
    let (b1, b2, sb) = (w.ns("b1"), w.ns("b2"), w.ns("swb"));
    let r = w.ns("r");
    w.veth(&a1, "eth0", Some("10.81.0.2/24"), &sa, "pa1", None);
    w.veth(&a2, "eth0", Some("10.81.0.3/24"), &sa, "pa2", None);
    w.veth(&r, "ra", Some("10.81.0.1/24"), &sa, "pr", None);
    w.bridge(&sa, "bra", &["pa1", "pa2", "pr"]);
    w.veth(&b1, "eth0", Some("10.82.0.2/24"), &sb, "pb1", None);
    w.veth(&b2, "eth0", Some("10.82.0.3/24"), &sb, "pb2", None);
    w.veth(&r, "rb", Some("10.82.0.1/24"), &sb, "pr", None);
    w.bridge(&sb, "brb", &["pb1", "pb2", "pr"]);
    w.sysctl(&r, "net.ipv4.ip_forward", "1");
    for ns in [&a1, &a2] {
        w.route(ns, &["default", "via", "10.81.0.1"]);
    }
    // b1 has no route back to the other bridge; b2 has one.
    w.route(&b2, &["default", "via", "10.82.0.1"]);
    let cells = w.check(
        "two bridges, a forwarding namespace, a missing return route",
        &[&a1, &a2, &b1, &b2, &r],
        &[
            "10.81.0.1",
            "10.81.0.2",
            "10.81.0.3",
            "10.82.0.1",
            "10.82.0.2",
            "10.82.0.3",
        ],
    );
    let why = refused_because(&cells, &a1, "10.82.0.2");
    assert!(why.contains("reply does not come back"), "{why}");
}

#[test]
fn ip_forward_off_blackhole_and_prohibit_routes() {
    let mut w = Built::new();
    let (x, r, y, z) = (w.ns("x"), w.ns("r"), w.ns("y"), w.ns("z"));
    w.veth(
        &x,
        "eth0",
        Some("10.83.0.2/24"),
        &r,
        "rx",
        Some("10.83.0.1/24"),
    );
    w.veth(
        &y,
        "eth0",
        Some("10.84.0.2/24"),
        &r,
        "ry",
        Some("10.84.0.1/24"),
    );
    w.veth(
        &z,
        "eth0",
        Some("10.90.0.2/24"),
        &r,
        "rz",
        Some("10.90.0.1/24"),
    );
    w.route(&z, &["default", "via", "10.90.0.1"]);
    w.sysctl(&r, "net.ipv4.ip_forward", "0");
    w.route(&x, &["default", "via", "10.83.0.1"]);
    w.route(&y, &["default", "via", "10.84.0.1"]);
    w.route(&x, &["blackhole", "10.84.0.2/32"]);
    w.route(&y, &["prohibit", "10.83.0.0/24"]);
    w.route(&r, &["unreachable", "10.85.0.0/24"]);
    let cells = w.check(
        "ip_forward off, blackhole, prohibit and unreachable routes",
        &[&x, &r, &y, &z],
        &[
            "10.83.0.1",
            "10.83.0.2",
            "10.84.0.1",
            "10.84.0.2",
            "10.85.0.1",
            "10.90.0.2",
        ],
    );
    for (from, target, because) in [
        (&x, "10.84.0.2", "blackhole"),
        (&y, "10.83.0.2", "prohibit"),
        (&r, "10.85.0.1", "unreachable"),
        (&y, "10.83.0.1", "prohibit"),
        (&x, "10.90.0.2", "ip_forward is off"),
    ] {
        let why = refused_because(&cells, from, target);
        assert!(why.contains(because), "{from} -> {target}: {why}");
    }
}

#[test]
fn strict_rp_filter_against_an_asymmetric_path() {
    let mut w = Built::new();
    let (a, r1, r2) = (w.ns("a"), w.ns("r1"), w.ns("r2"));
    let (strict, off) = (w.ns("bs"), w.ns("bo"));
    w.veth(
        &a,
        "eth0",
        Some("10.86.0.2/24"),
        &r1,
        "ra",
        Some("10.86.0.1/24"),
    );
    w.veth(
        &a,
        "eth1",
        Some("10.87.0.2/24"),
        &r2,
        "ra",
        Some("10.87.0.1/24"),
    );
    for r in [&r1, &r2] {
        w.sysctl(r, "net.ipv4.ip_forward", "1");
    }
    w.route(&a, &["default", "via", "10.86.0.1"]);
    // Each b is reached through r1 but routes a's subnet back through r2.
    for (b, n) in [(&strict, 1), (&off, 2)] {
        w.veth(
            b,
            "eth0",
            Some(&format!("10.88.{n}.2/24")),
            &r1,
            &format!("rb{n}"),
            Some(&format!("10.88.{n}.1/24")),
        );
        w.veth(
            b,
            "eth1",
            Some(&format!("10.89.{n}.2/24")),
            &r2,
            &format!("rb{n}"),
            Some(&format!("10.89.{n}.1/24")),
        );
        w.route(b, &["10.86.0.0/24", "via", &format!("10.89.{n}.1")]);
        w.route(b, &["default", "via", &format!("10.88.{n}.1")]);
        w.route(
            &r2,
            &[&format!("10.88.{n}.0/24"), "via", &format!("10.89.{n}.2")],
        );
    }
    w.route(&r2, &["10.86.0.0/24", "via", "10.87.0.2"]);
    w.route(&r1, &["10.89.0.0/16", "via", "10.86.0.2"]);
    w.sysctl(&strict, "net.ipv4.conf.all.rp_filter", "1");
    w.sysctl(&off, "net.ipv4.conf.all.rp_filter", "0");
    w.sysctl(&off, "net.ipv4.conf.eth0.rp_filter", "0");
    let cells = w.check(
        "strict rp_filter, asymmetric path",
        &[&a, &strict, &off],
        &["10.88.1.2", "10.88.2.2", "10.86.0.1", "10.86.0.2"],
    );
    let why = refused_because(&cells, &a, "10.88.1.2");
    assert!(why.contains("rp_filter=1"), "{why}");
    assert!(cells
        .iter()
        .any(|c| c.from == a && c.target == "10.88.2.2" && c.kind == WalkKind::Icmp && c.kernel));
}

/// Whether a TCP connect from `ns` to `ip:port` is answered (accepted or refused) within a
/// second, as the probe counts it; and whether it was accepted.
#[test]
fn a_docker_like_forward_policy_drop_with_replies_let_through() {
    // r forwards between a and b, but its FORWARD chain drops by policy, lets replies
    // through (ct state established) and accepts new flows from a's side only, as Docker's
    // FORWARD accepts what leaves a container's bridge and drops what comes in from outside;
    // one host of a is dropped by a rule in a jumped chain (DOCKER-USER style).
    let mut w = Built::new();
    let (a1, a2, sa) = (w.ns("a1"), w.ns("a2"), w.ns("swa"));
    let (b, r) = (w.ns("b"), w.ns("r"));
    w.veth(&a1, "eth0", Some("10.83.0.2/24"), &sa, "pa1", None);
    w.veth(&a2, "eth0", Some("10.83.0.3/24"), &sa, "pa2", None);
    w.veth(&r, "ra", Some("10.83.0.1/24"), &sa, "pr", None);
    w.bridge(&sa, "bra", &["pa1", "pa2", "pr"]);
    w.veth(
        &r,
        "rb",
        Some("10.84.0.1/24"),
        &b,
        "eth0",
        Some("10.84.0.2/24"),
    );
    w.sysctl(&r, "net.ipv4.ip_forward", "1");
    for ns in [&a1, &a2] {
        w.route(ns, &["default", "via", "10.83.0.1"]);
    }
    w.route(&b, &["default", "via", "10.84.0.1"]);
    let ruleset = "table ip filter {\n\
        chain USER { ip saddr 10.83.0.3 drop; return; }\n\
        chain FORWARD { type filter hook forward priority 0; policy drop; \
        jump USER; ct state established,related accept; \
        iifname \"ra\" oifname \"rb\" accept; }\n}\n";
    let file = w.lab.dir.path().join("filter.nft");
    std::fs::write(&file, ruleset).unwrap();
    let out = in_ns(&r, &["nft", "-f", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cells = w.check(
        "a Docker-like FORWARD policy drop",
        &[&a1, &a2, &b, &r],
        &[
            "10.83.0.1",
            "10.83.0.2",
            "10.83.0.3",
            "10.84.0.1",
            "10.84.0.2",
        ],
    );
    // a1 reaches b (accepted, and the reply is established); a2 is dropped in USER; b's
    // new flows towards the bridge meet the policy.
    let ok = cells
        .iter()
        .find(|c| c.from == a1 && c.target == "10.84.0.2" && c.kind == WalkKind::Icmp)
        .unwrap();
    assert!(ok.kernel, "{}", ok.why);
    let why = refused_because(&cells, &a2, "10.84.0.2");
    assert!(why.contains("chain USER"), "{why}");
    let why = refused_because(&cells, &b, "10.83.0.2");
    assert!(why.contains("policy of chain FORWARD"), "{why}");
}

fn tcp_connect(ns: &str, ip: &str, port: u16) -> (bool, bool) {
    let code = format!(
        "import socket,sys\ns=socket.socket();s.settimeout(1)\ntry:\n s.connect(('{ip}',{port}));sys.exit(0)\nexcept ConnectionRefusedError:\n sys.exit(3)\nexcept Exception:\n sys.exit(4)"
    );
    let status = in_ns(ns, &["python3", "-c", &code]).status.code();
    (matches!(status, Some(0) | Some(3)), status == Some(0))
}

#[test]
fn masquerade_and_a_dnat_published_port() {
    let mut w = Built::new();
    let (c, h, p) = (w.ns("c"), w.ns("h"), w.ns("p"));
    w.veth(&c, "eth0", Some("172.30.0.2/24"), &h, "vc", None);
    w.bridge(&h, "br0", &["vc"]);
    ip(&["-n", &h, "addr", "add", "172.30.0.1/24", "dev", "br0"]);
    w.veth(
        &h,
        "eth0",
        Some("192.168.77.1/24"),
        &p,
        "eth0",
        Some("192.168.77.2/24"),
    );
    w.route(&c, &["default", "via", "172.30.0.1"]);
    w.sysctl(&h, "net.ipv4.ip_forward", "1");
    let ruleset = "table ip nvwalk {\n\
        chain prerouting { type nat hook prerouting priority -100; \
        iifname != \"br0\" tcp dport 8080 dnat to 172.30.0.2:80; }\n\
        chain postrouting { type nat hook postrouting priority 100; \
        ip saddr 172.30.0.0/24 oifname != \"br0\" masquerade; }\n}\n";
    let file = w.lab.dir.path().join("nat.nft");
    std::fs::write(&file, ruleset).unwrap();
    let out = in_ns(&h, &["nft", "-f", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cells = w.check(
        "masquerade and DNAT",
        &[&c, &h, &p],
        &["172.30.0.1", "172.30.0.2", "192.168.77.1", "192.168.77.2"],
    );
    // p has no route to the bridge's subnet: only masquerade brings c's echo reply back.
    let c_to_p = cells
        .iter()
        .find(|x| x.from == c && x.target == "192.168.77.2" && x.kind == WalkKind::Icmp)
        .unwrap();
    assert!(
        c_to_p.kernel && c_to_p.why.contains("seen there as 192.168.77.1"),
        "{}",
        c_to_p.why
    );

    // The published port: a listener in c accepts what p sends to h's address.
    let mut listener = Command::new("ip")
        .args(["netns", "exec", &c, "python3", "-c"])
        .arg("import socket,time\ns=socket.socket();s.bind(('0.0.0.0',80));s.listen(8);time.sleep(20)")
        .spawn()
        .expect("listener");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let inv: Inventory =
        serde_json::from_str(&w.lab.ok(&["inventory", "--all", "--json"])).unwrap();
    let mut problems = Vec::new();
    for (from, ip, port) in [
        (&p, "192.168.77.1", 8080),
        (&p, "192.168.77.1", 9),
        (&c, "192.168.77.2", 9),
        (&p, "172.30.0.2", 80),
        (&h, "172.30.0.2", 80),
    ] {
        let (answered, accepted) = tcp_connect(from, ip, port);
        let pred = predict(
            &inv,
            &Probe {
                netns: from.as_str().into(),
                src: None,
                target: ip.parse().unwrap(),
                kind: WalkKind::Tcp { port },
            },
        );
        eprintln!(
            "tcp {from} -> {ip}:{port}: kernel {answered} (accepted {accepted}), walk {:?} ({})",
            pred.expected, pred.why
        );
        if pred.expected != Some(answered) {
            problems.push(format!(
                "{from} -> {ip}:{port}: walk {:?}, kernel {answered}",
                pred.expected
            ));
        }
        if port == 8080 {
            assert!(accepted, "the published port is not accepted by c");
            assert!(
                pred.path
                    .iter()
                    .any(|h| h.step.contains("DNAT to 172.30.0.2")),
                "{pred:#?}"
            );
            assert!(pred.why.contains(&c), "{}", pred.why);
        }
    }
    let _ = listener.kill();
    let _ = listener.wait();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
