//! Engine tests over the fake kernel (no root): planning, allocation, validation, rollback at
//! every step, clean's tag rules and the listing's JSON shape.

use std::path::PathBuf;

use super::ops::{FakeOps, LinkFacts, Ns, Ops};
use super::spec::{ContainerSpec, IpvlanMode, LabSpec, MacvlanMode, NetworkMode};
use super::{endpoints, Engine, LabError};

const P: &str = "nv-u-";

fn dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("state");
    (t, d)
}

fn c(name: &str, mode: NetworkMode) -> ContainerSpec {
    ContainerSpec::new(name, mode)
}

fn mv(name: &str, m: MacvlanMode) -> ContainerSpec {
    let mut s = c(name, NetworkMode::Macvlan);
    s.macvlan_mode = m;
    s
}

/// A mix that touches every kind of step: world, docker0 + NAT + publish, none, host,
/// macvlan with promisc and a host shim.
fn mix() -> Vec<ContainerSpec> {
    let mut b = c("b1", NetworkMode::Bridge);
    b.publish = vec!["8080:80".parse().unwrap()];
    let mut m = mv("m1", MacvlanMode::Bridge);
    m.promisc = true;
    m.host_shim = true;
    vec![
        b,
        c("b2", NetworkMode::Bridge),
        c("n1", NetworkMode::None),
        c("h1", NetworkMode::Host),
        m,
        mv("m2", MacvlanMode::Private),
    ]
}

#[test]
fn up_add_down_leaves_nothing() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    {
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        e.up(LabSpec::default()).unwrap();
        let added = e.add(&mix()).unwrap();
        assert_eq!(added.len(), 6);
    }
    assert!(ops.netns.contains_key("nv-u-b1"));
    assert!(ops.netns.contains_key("nv-u-m1"));
    assert!(
        !ops.netns.contains_key("nv-u-h1"),
        "host mode has no namespace"
    );
    assert!(ops
        .links
        .contains_key(&(Ns::named("nv-u-host"), "docker0".into())));
    assert!(ops
        .links
        .contains_key(&(Ns::named("nv-u-host"), "nvshim0".into())));
    assert!(ops.links[&(Ns::named("nv-u-host"), "enp0s8".into())].promisc);
    let rules = &ops.nft[&Ns::named("nv-u-host")];
    let text = serde_json::to_string(rules).unwrap();
    assert!(text.contains("masquerade") && text.contains("dnat") && text.contains("172.17.0.2"));
    assert!(d.join("state.json").exists());
    {
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        e.down().unwrap();
    }
    assert_eq!(ops.leftovers(), Vec::<String>::new());
    assert!(!d.exists(), "state dir removed");
}

#[test]
fn rm_rewrites_nat_and_frees_the_name() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.up(LabSpec::default()).unwrap();
    e.add(&[c("b1", NetworkMode::Bridge), c("b2", NetworkMode::Bridge)])
        .unwrap();
    e.remove(&["b1".into()]).unwrap();
    let again = e.add(&[c("b1", NetworkMode::Bridge)]).unwrap();
    // b1's old address was freed and is given again.
    assert_eq!(again[0].ip.unwrap().to_string(), "172.17.0.2/16");
    e.remove(&["b1".into(), "b2".into()]).unwrap();
    drop(e);
    assert!(
        !ops.nft.contains_key(&Ns::named("nv-u-host")),
        "no rules: no table"
    );
    assert!(!ops.netns.contains_key("nv-u-b2"));
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    let err = e.remove(&["zz".into()]).unwrap_err();
    assert!(err.is_usage(), "{err}");
}

#[test]
fn a_panic_at_any_step_rolls_back_too() {
    // Each injected panic prints a line ("panic injected by a test"); the hook is left alone
    // so that other tests' failures still print.
    let mut up_done = false;
    for n in 1..200 {
        let (_t, d) = dir();
        let mut ops = FakeOps::new();
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        e.panic_at = Some(n);
        match e.up(LabSpec::default()) {
            Ok(_) => {
                up_done = true;
                break;
            }
            Err(err) => {
                assert!(err.to_string().contains("panicked"), "{err}");
                drop(e);
                assert_eq!(ops.leftovers(), Vec::<String>::new(), "panic at step {n}");
            }
        }
    }
    let mut add_done = false;
    for n in 1..300 {
        let (_t, d) = dir();
        let mut ops = FakeOps::new();
        Engine::new(&mut ops, d.clone(), P.into())
            .up(LabSpec::default())
            .unwrap();
        let before = ops.leftovers();
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        e.panic_at = Some(n);
        match e.add(&mix()) {
            Ok(_) => {
                add_done = true;
                break;
            }
            Err(err) => {
                assert!(err.to_string().contains("panicked"), "{err}");
                drop(e);
                assert_eq!(ops.leftovers(), before, "panic at step {n}");
            }
        }
    }
    assert!(up_done && add_done);
}

#[test]
fn rollback_at_every_step_leaves_what_was_there() {
    // up at every step.
    let mut total_up = None;
    for n in 1..200 {
        let (_t, d) = dir();
        let mut ops = FakeOps::new();
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        e.fail_at = Some(n);
        match e.up(LabSpec::default()) {
            Ok(_) => {
                total_up = Some(n - 1);
                break;
            }
            Err(err) => {
                assert!(err.to_string().contains("injected"), "{err}");
                drop(e);
                assert_eq!(ops.leftovers(), Vec::<String>::new(), "fail at step {n}");
                assert!(!d.exists(), "fail at step {n}: state dir left");
            }
        }
    }
    let total_up = total_up.expect("up finishes in under 200 steps");
    assert!(total_up > 20, "the world takes many steps ({total_up})");
    // add (a batch of every mode) at every step, on top of a built world.
    let mut done = false;
    for n in 1..300 {
        let (_t, d) = dir();
        let mut ops = FakeOps::new();
        Engine::new(&mut ops, d.clone(), P.into())
            .up(LabSpec::default())
            .unwrap();
        let before = ops.leftovers();
        let before_state = std::fs::read(d.join("state.json")).unwrap();
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        e.fail_at = Some(n);
        match e.add(&mix()) {
            Ok(_) => {
                done = true;
                break;
            }
            Err(err) => {
                assert!(err.to_string().contains("injected"), "{err}");
                drop(e);
                assert_eq!(ops.leftovers(), before, "fail at step {n}");
                assert!(
                    !ops.links[&(Ns::named("nv-u-host"), "enp0s8".into())].promisc,
                    "promisc restored at step {n}"
                );
                let after_state = std::fs::read(d.join("state.json")).unwrap();
                assert_eq!(before_state, after_state, "state untouched at step {n}");
            }
        }
    }
    assert!(done);
}

#[test]
fn macvlan_addresses_skip_host_peer_gateway() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    let mut e = Engine::new(&mut ops, d, P.into());
    e.up(LabSpec::default()).unwrap();
    let mut spec = mv("m1", MacvlanMode::Bridge);
    spec.subnet = Some("192.168.50.0/24".parse().unwrap());
    spec.ip_range = Some("192.168.50.0/28".parse().unwrap());
    let mut names = Vec::new();
    for i in 0..5 {
        let mut s = spec.clone();
        s.name = format!("m{i}");
        names.push(s);
    }
    let got = e.add(&names).unwrap();
    let ips: Vec<String> = got
        .iter()
        .map(|c| c.ip.unwrap().addr().to_string())
        .collect();
    assert_eq!(
        ips,
        [
            "192.168.50.2",
            "192.168.50.3",
            "192.168.50.4",
            "192.168.50.5",
            "192.168.50.6"
        ]
    );
    for c in &got {
        assert_eq!(c.gateway.unwrap().to_string(), "192.168.50.1");
    }
}

fn expect_invalid(r: Result<impl std::fmt::Debug, LabError>, needle: &str) {
    match r {
        Err(e) => {
            assert!(e.is_usage(), "{e} should be a usage error");
            assert!(e.to_string().contains(needle), "{e:?} lacks {needle:?}");
            assert!(!e.to_string().contains('\n'));
        }
        Ok(v) => panic!("expected an error with {needle:?}, got {v:?}"),
    }
}

#[test]
fn kernel_rules_are_checked_before_anything() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    Engine::new(&mut ops, d.clone(), P.into())
        .up(LabSpec::default())
        .unwrap();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.add(&[mv("pt", MacvlanMode::Passthru)]).unwrap();
    expect_invalid(
        e.add(&[mv("x", MacvlanMode::Bridge)]),
        "passthru takes one child",
    );
    e.remove(&["pt".into()]).unwrap();
    e.add(&[mv("m1", MacvlanMode::Vepa)]).unwrap();
    expect_invalid(
        e.add(&[mv("pt", MacvlanMode::Passthru)]),
        "passthru takes one child",
    );
    expect_invalid(
        e.add(&[c("m1", NetworkMode::None)]),
        "already exists in the lab",
    );
    let mut p = mv("x", MacvlanMode::Bridge);
    p.parent = Some("nope0".into());
    expect_invalid(e.add(&[p]), "parent nope0 does not exist");
    let mut p = mv("x", MacvlanMode::Bridge);
    p.parent = Some("lo".into());
    expect_invalid(e.add(&[p]), "loopback");
    // ipvlan on this (fake) kernel without ipvlan: that one message, nothing created.
    let before = ops.leftovers();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    let mut iv = c("i1", NetworkMode::Ipvlan);
    iv.ipvlan_mode = IpvlanMode::L3;
    match e.add(&[iv]) {
        Err(err) => assert_eq!(err.to_string(), "this kernel has no ipvlan support"),
        Ok(_) => panic!("ipvlan must be refused"),
    }
    drop(e);
    assert_eq!(ops.leftovers(), before);
    // With ipvlan: it cannot share the macvlan child's parent.
    ops.ipvlan = true;
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    expect_invalid(
        e.add(&[c("i1", NetworkMode::Ipvlan)]),
        "macvlan and ipvlan cannot share parent enp0s8",
    );
    e.remove(&["m1".into()]).unwrap();
    e.add(&[c("i1", NetworkMode::Ipvlan)]).unwrap();
    let mut l3 = c("i2", NetworkMode::Ipvlan);
    l3.ipvlan_mode = IpvlanMode::L3;
    expect_invalid(
        e.add(&[l3]),
        "ipvlan children of one parent share one mode: i1 is l2 on enp0s8",
    );
    expect_invalid(
        e.add(&[mv("m9", MacvlanMode::Bridge)]),
        "macvlan and ipvlan cannot share parent enp0s8",
    );
    // A failing batch member undoes the members before it.
    let before = ops.leftovers();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    expect_invalid(
        e.add(&[
            c("ok1", NetworkMode::Bridge),
            mv("bad", MacvlanMode::Bridge),
        ]),
        "cannot share",
    );
    drop(e);
    assert_eq!(ops.leftovers(), before);
}

#[test]
fn unsuitable_real_parents_are_refused() {
    type Tweak = Box<dyn Fn(&mut LinkFacts)>;
    let cases: Vec<(&str, Tweak, &str)> = vec![
        ("wl0", Box::new(|f| f.wireless = true), "wireless"),
        ("lo", Box::new(|f| f.loopback = true), "loopback"),
        ("br0", Box::new(|f| f.is_bridge = true), "is a bridge"),
        (
            "port0",
            Box::new(|f| f.is_bridge_port = true),
            "bridge port",
        ),
        ("down0", Box::new(|f| f.up = false), "is down"),
    ];
    for (name, f, needle) in cases {
        let (_t, d) = dir();
        let mut ops = FakeOps::new().with_current_link(name, f);
        let mut spec = LabSpec::default();
        spec.options.real = true;
        spec.options.parent = Some(name.into());
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        expect_invalid(e.up(spec), needle);
        drop(e);
        assert!(ops.log.iter().all(|l| !l.starts_with("netns add")));
    }
    let (_t, d) = dir();
    let mut ops = FakeOps::new().with_current_link("eth9", |f| {
        f.addresses = vec!["10.9.0.5/24".parse().unwrap()];
        f.mac = Some("02:00:00:00:00:99".into());
    });
    let mut spec = LabSpec::default();
    spec.options.real = true;
    spec.options.parent = Some("eth9".into());
    spec.macvlan.subnet = "10.9.0.0/24".parse().unwrap();
    spec.macvlan.ip_range = "10.9.0.0/29".parse().unwrap();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    let st = e.up(spec).unwrap();
    assert!(st.objects.is_empty(), "real mode up creates nothing");
    let m = e.add(&[mv("m1", MacvlanMode::Bridge)]).unwrap();
    // Never the real host's address; the gateway defaults to the subnet's first address.
    assert_eq!(m[0].ip.unwrap().to_string(), "10.9.0.2/24");
    let b = e.add(&[c("b1", NetworkMode::Bridge)]).unwrap();
    assert_eq!(b[0].host_ifname.as_deref().map(str::len), Some(11));
    e.down().unwrap();
    drop(e);
    assert_eq!(ops.leftovers(), Vec::<String>::new());
    assert!(
        !ops.links[&(Ns::Current, "eth9".into())].promisc,
        "real mode never changes promisc unless asked"
    );
}

#[test]
fn clean_removes_only_tagged_or_recorded() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    // Someone else's namespaces with look-alike names (no tag, or another lab's tag).
    ops.create_netns("nv-u-foo", "").unwrap();
    ops.create_netns("nv-u-bar", "netview:nv-other-").unwrap();
    // A crash left a tagged namespace the state does not know.
    ops.create_netns("nv-u-orphan", "netview:nv-u-").unwrap();
    ops.add_bridge(&Ns::Current, "docker0").unwrap();
    ops.set_alias(&Ns::Current, "docker0", "netview:nv-u-")
        .unwrap();
    ops.add_bridge(&Ns::Current, "br-theirs").unwrap();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    let dry = e.clean(true).unwrap();
    assert!(
        dry.contains(&"delete namespace nv-u-orphan".to_string()),
        "{dry:?}"
    );
    assert!(
        dry.iter().any(|s| s.starts_with("delete link docker0")),
        "{dry:?}"
    );
    assert!(!dry.iter().any(|s| s.contains("foo") || s.contains("bar")));
    drop(e);
    assert!(
        ops.netns.contains_key("nv-u-orphan"),
        "dry run removes nothing"
    );
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.clean(false).unwrap();
    drop(e);
    assert!(ops.netns.contains_key("nv-u-foo"));
    assert!(ops.netns.contains_key("nv-u-bar"));
    assert!(!ops.netns.contains_key("nv-u-orphan"));
    assert!(!ops.links.contains_key(&(Ns::Current, "docker0".into())));
    assert!(ops.links.contains_key(&(Ns::Current, "br-theirs".into())));
    assert!(!d.exists());
}

#[test]
fn look_alike_world_namespace_blocks_up() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    ops.create_netns("nv-u-host", "").unwrap();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    expect_invalid(e.up(LabSpec::default()), "nv-u-host already exists");
    drop(e);
    assert_eq!(ops.netns.len(), 1);
}

#[test]
fn listing_json_has_the_contract_fields() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.up(LabSpec::default()).unwrap();
    e.add(&[
        c("b1", NetworkMode::Bridge),
        c("h1", NetworkMode::Host),
        mv("m1", MacvlanMode::Vepa),
    ])
    .unwrap();
    let st = super::state::read_state(&d.join("state.json"))
        .unwrap()
        .unwrap();
    let eps = endpoints(&st);
    let v = serde_json::to_value(&eps).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 6);
    for e in arr {
        for k in [
            "name", "role", "mode", "submode", "netns", "ifname", "ip", "mac", "parent",
        ] {
            assert!(e.get(k).is_some(), "{k} missing in {e}");
        }
    }
    let by = |n: &str| arr.iter().find(|e| e["name"] == n).unwrap().clone();
    assert_eq!(by("host")["role"], "host");
    assert_eq!(by("host")["netns"], "nv-u-host");
    let addrs = by("host")["addresses"].clone();
    assert_eq!(
        addrs,
        serde_json::json!(["192.168.50.11/24", "172.17.0.1/16"])
    );
    assert_eq!(by("router")["addresses"][1], "198.51.100.1/32");
    assert_eq!(by("h1")["netns"], serde_json::Value::Null);
    assert_eq!(by("h1")["stack_netns"], "nv-u-host");
    assert_eq!(by("h1")["mode"], "host");
    assert_eq!(by("b1")["mode"], "bridge");
    assert_eq!(by("b1")["ip"], "172.17.0.2");
    assert_eq!(by("b1")["parent"], "docker0");
    assert_eq!(by("b1")["nat"], true);
    assert_eq!(by("m1")["submode"], "vepa");
    assert_eq!(by("m1")["parent"], "enp0s8");
    assert_eq!(by("m1")["role"], "container");
}

#[test]
fn long_names_get_short_host_veths() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.up(LabSpec::default()).unwrap();
    let got = e
        .add(&[
            c("fifteen-bytes-x", NetworkMode::Bridge),
            c("fifteen-bytes-y", NetworkMode::Bridge),
        ])
        .unwrap();
    let a = got[0].host_ifname.clone().unwrap();
    let b = got[1].host_ifname.clone().unwrap();
    assert!(a.len() <= 15 && b.len() <= 15);
    assert_ne!(a, b);
}

#[test]
fn clean_removes_unbound_files_only_when_we_meant_to_create_them() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    // A crash between creating /run/netns/NAME and binding the namespace: an empty file.
    for n in ["nv-u-c1", "nv-u-stray"] {
        ops.netns.insert(n.into(), String::new());
        ops.unbound.insert(n.into());
    }
    // Someone else's real namespace with a name we meant to use (our create would fail).
    ops.create_netns("nv-u-c2", "").unwrap();
    std::fs::create_dir_all(&d).unwrap();
    let pending = super::journal::Pending {
        undo: Vec::new(),
        prefix: Some(P.into()),
        generation: None,
        netns: vec!["nv-u-c1".into(), "nv-u-c2".into()],
    };
    std::fs::write(
        d.join(super::state::PENDING_FILE),
        serde_json::to_vec(&pending).unwrap(),
    )
    .unwrap();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    let done = e.clean(false).unwrap();
    drop(e);
    assert!(done.iter().any(|s| s.contains("nv-u-c1")), "{done:?}");
    assert!(!ops.netns.contains_key("nv-u-c1"));
    assert!(ops.netns.contains_key("nv-u-stray"), "not ours to judge");
    assert!(
        ops.netns.contains_key("nv-u-c2"),
        "someone else's namespace survives"
    );
    assert!(!d.exists());
}
