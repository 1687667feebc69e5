//! Engine tests over the fake kernel (no root): planning, allocation, validation, rollback at
//! every step, clean's tag rules and the listing's JSON shape.

use std::path::PathBuf;

use nix::errno::Errno;

use super::fake::FakeOps;
use super::ops::{LinkFacts, Ns, Ops};
use super::spec::{ContainerSpec, IpvlanMode, LabSpec, MacvlanMode, NetworkMode};
use super::{endpoints, Engine, LabError};

const P: &str = "nv-u-";

/// Whether a failure is the `NETVIEW_FAIL_AT_STEP` hook's (by variant, not by its text).
fn injected(e: &LabError) -> bool {
    match e {
        LabError::Kernel {
            source: super::KernelError::Injected,
            ..
        } => true,
        LabError::RolledBack { cause, .. } => injected(cause),
        _ => false,
    }
}

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
fn every_namespace_the_lab_makes_sets_ip_forward_itself() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.up(LabSpec::default()).unwrap();
    e.add(&[c("n1", NetworkMode::None), c("b1", NetworkMode::Bridge)])
        .unwrap();
    drop(e);
    let key = super::driver::bridge::IP_FORWARD.to_string();
    for (ns, want) in [
        ("nv-u-switch", "0"),
        ("nv-u-peer", "0"),
        ("nv-u-router", "0"),
        ("nv-u-n1", "0"),
        ("nv-u-b1", "0"),
        // docker0's host forwards, as Docker's does.
        ("nv-u-host", "1"),
    ] {
        // Set explicitly (not the fake's default): a new namespace would copy the root's.
        assert_eq!(
            ops.sysctls
                .get(&(Ns::named(ns), key.clone()))
                .map(String::as_str),
            Some(want),
            "{ns}"
        );
    }
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
fn teardown_goes_past_errors_and_returns_them_all_typed() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    {
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        e.up(LabSpec::default()).unwrap();
        e.add(&mix()).unwrap();
    }
    for n in ["nv-u-b1", "nv-u-m1", "nv-u-peer"] {
        ops.refuse_delete.insert(n.into(), Errno::EBUSY);
    }
    let err = {
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        e.down().unwrap_err()
    };
    let LabError::Teardown(errors) = err else {
        panic!("not a teardown error: {err}");
    };
    // Each refusal once from the recorded objects; the tag sweep meets them again.
    assert!(errors.len() >= 3, "{errors:?}");
    assert!(
        errors.iter().all(|e| e.errno() == Some(Errno::EBUSY)),
        "{errors:?}"
    );
    // It went on: everything else is gone.
    let mut left = ops.leftovers();
    left.retain(|l| !l.starts_with("netns nv-u-b1") && !l.starts_with("netns nv-u-m1"));
    left.retain(|l| !l.starts_with("netns nv-u-peer") && !l.contains("nv-u-peer/"));
    left.retain(|l| !l.contains("nv-u-b1/") && !l.contains("nv-u-m1/"));
    assert_eq!(left, Vec::<String>::new());
}

#[test]
fn a_gone_object_is_not_an_error_but_a_refusal_is() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    {
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        e.up(LabSpec::default()).unwrap();
        e.add(&[c("n1", NetworkMode::None)]).unwrap();
    }
    // Someone deleted the namespace already: ENOENT from the kernel counts as done.
    ops.delete_netns("nv-u-n1").unwrap();
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.remove(&["n1".to_string()]).unwrap();
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
                assert!(injected(&err), "{err}");
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
                assert!(injected(&err), "{err}");
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

/// Everything the fake kernel holds and the state file's bytes, to show a refusal changed
/// nothing.
fn snapshot(ops: &FakeOps, d: &std::path::Path) -> (Vec<String>, Vec<u8>) {
    (
        ops.leftovers(),
        std::fs::read(d.join("state.json")).unwrap_or_default(),
    )
}

fn up_lab(ops: &mut FakeOps, d: &std::path::Path) {
    Engine::new(ops, d.to_path_buf(), P.into())
        .up(LabSpec::default())
        .unwrap();
}

#[test]
fn a_batch_is_checked_as_a_whole_before_any_namespace() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    up_lab(&mut ops, &d);
    Engine::new(&mut ops, d.clone(), P.into())
        .add(&[c("b0", NetworkMode::Bridge)])
        .unwrap();
    ops.ipvlan = true;
    let published = |name: &str| {
        let mut s = c(name, NetworkMode::Bridge);
        s.publish = vec!["8080:80".parse().unwrap()];
        s
    };
    let tiny = |name: &str| {
        let mut s = mv(name, MacvlanMode::Bridge);
        s.ip_range = Some("192.168.50.192/30".parse().unwrap());
        s
    };
    let iv = |name: &str, m: IpvlanMode| {
        let mut s = c(name, NetworkMode::Ipvlan);
        s.ipvlan_mode = m;
        s
    };
    let cases: Vec<(Vec<ContainerSpec>, &str)> = vec![
        (
            vec![published("c1"), published("c2")],
            "host port 8080 is already published by c1",
        ),
        (
            ["t1", "t2", "t3", "t4", "t5"].map(tiny).to_vec(),
            "no free address left in ip-range 192.168.50.192/30",
        ),
        (
            vec![
                mv("p1", MacvlanMode::Passthru),
                mv("p2", MacvlanMode::Passthru),
            ],
            "passthru takes one child: p1 already holds enp0s8",
        ),
        (
            vec![
                mv("m1", MacvlanMode::Bridge),
                mv("p2", MacvlanMode::Passthru),
            ],
            "passthru takes one child",
        ),
        (
            vec![iv("i1", IpvlanMode::L2), iv("i2", IpvlanMode::L3)],
            "ipvlan children of one parent share one mode: i1 is l2",
        ),
        (
            vec![mv("m1", MacvlanMode::Bridge), iv("i2", IpvlanMode::L2)],
            "macvlan and ipvlan cannot share parent enp0s8",
        ),
        (
            vec![c("n1", NetworkMode::None), c("n1", NetworkMode::Host)],
            "container \"n1\" is named twice",
        ),
    ];
    for (batch, needle) in cases {
        let before = snapshot(&ops, &d);
        let log = ops.log.len();
        let mut e = Engine::new(&mut ops, d.clone(), P.into());
        expect_invalid(e.add(&batch), needle);
        drop(e);
        assert_eq!(snapshot(&ops, &d), before, "{needle}");
        assert_eq!(
            ops.log[log..],
            [] as [String; 0],
            "{needle}: kernel touched"
        );
    }
}

#[test]
fn a_bridge_batch_needs_an_address_for_every_member() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    let mut spec = LabSpec::default();
    // docker0 .1 and one container address, .2.
    spec.docker.address = "172.17.0.1/30".parse().unwrap();
    Engine::new(&mut ops, d.clone(), P.into()).up(spec).unwrap();
    let before = snapshot(&ops, &d);
    let log = ops.log.len();
    expect_invalid(
        Engine::new(&mut ops, d.clone(), P.into())
            .add(&[c("b1", NetworkMode::Bridge), c("b2", NetworkMode::Bridge)]),
        "no free address left in 172.17.0.0/30",
    );
    assert_eq!(snapshot(&ops, &d), before);
    assert_eq!(ops.log.len(), log, "nothing was attempted");
    let got = Engine::new(&mut ops, d.clone(), P.into())
        .add(&[c("b1", NetworkMode::Bridge)])
        .unwrap();
    assert_eq!(got[0].ip.unwrap().to_string(), "172.17.0.2/30");
}

#[test]
fn vlan_subnets_stay_apart_from_docker_and_the_far_address() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    up_lab(&mut ops, &d);
    let cases = [
        (
            "172.17.0.0/16",
            "172.17.0.0/28",
            "overlaps the docker network 172.17.0.0/16",
        ),
        (
            "172.16.0.0/12",
            "172.17.5.0/28",
            "overlaps the docker network",
        ),
        (
            "198.51.100.0/24",
            "198.51.100.0/28",
            "overlaps the far address 198.51.100.1/32",
        ),
    ];
    for (subnet, range, needle) in cases {
        let mut s = mv("m1", MacvlanMode::Bridge);
        s.subnet = Some(subnet.parse().unwrap());
        s.ip_range = Some(range.parse().unwrap());
        let before = snapshot(&ops, &d);
        expect_invalid(Engine::new(&mut ops, d.clone(), P.into()).add(&[s]), needle);
        assert_eq!(snapshot(&ops, &d), before);
    }
}

#[test]
fn what_is_built_is_what_was_planned() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    up_lab(&mut ops, &d);
    let st = super::state::read_state(&d.join("state.json"))
        .unwrap()
        .unwrap();
    let plans = super::driver::plan_batch(&mut ops, &st, &mix()).unwrap();
    let built = Engine::new(&mut ops, d.clone(), P.into())
        .add(&mix())
        .unwrap();
    assert_eq!(plans.len(), built.len());
    for (p, b) in plans.iter().zip(&built) {
        let mut b = b.clone();
        b.objects.clear();
        if p.container.netns.is_some() {
            b.mac = None;
        }
        assert_eq!(p.container, b);
    }
    // The batch's shim was planned once, for m1, and is the one that exists.
    let shims: Vec<_> = plans.iter().filter_map(|p| p.shim.clone()).collect();
    assert_eq!(shims.len(), 1);
    assert_eq!(shims[0].ifname, "nvshim0");
    // m1 has .193, the shim the next one, m2 the one after: no address twice.
    assert_eq!(shims[0].ip.to_string(), "192.168.50.194/32");
    assert_eq!(built[5].ip.unwrap().to_string(), "192.168.50.195/24");
}

#[test]
fn host_side_names_avoid_links_that_exist_in_the_kernel() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    up_lab(&mut ops, &d);
    let st = super::state::read_state(&d.join("state.json"))
        .unwrap()
        .unwrap();
    let mut b = c("b1", NetworkMode::Bridge);
    b.name = "b1".into();
    let mut m = mv("m1", MacvlanMode::Bridge);
    m.host_shim = true;
    let plans = super::driver::plan_batch(&mut ops, &st, &[b.clone(), m.clone()]).unwrap();
    let veth = plans[0].container.host_ifname.clone().unwrap();
    // Someone else's links with exactly those names appear in the host.
    let host = Ns::named("nv-u-host");
    ops.add_bridge(&host, &veth).unwrap();
    ops.add_bridge(&host, "nvshim0").unwrap();
    let got = Engine::new(&mut ops, d.clone(), P.into())
        .add(&[b, m])
        .unwrap();
    assert_ne!(got[0].host_ifname.as_deref(), Some(veth.as_str()));
    let st = super::state::read_state(&d.join("state.json"))
        .unwrap()
        .unwrap();
    assert_eq!(st.shims[0].ifname, "nvshim1");
}

#[test]
fn rm_refuses_a_name_twice_and_changes_nothing() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    up_lab(&mut ops, &d);
    Engine::new(&mut ops, d.clone(), P.into())
        .add(&[mv("m1", MacvlanMode::Bridge), c("n1", NetworkMode::None)])
        .unwrap();
    for names in [
        vec!["m1", "m1"],
        vec!["m1", "n1", "m1"],
        vec!["m1", "zz"],
        vec![""],
    ] {
        let names: Vec<String> = names.into_iter().map(String::from).collect();
        let before = snapshot(&ops, &d);
        let r = Engine::new(&mut ops, d.clone(), P.into()).remove(&names);
        expect_invalid(r, "container");
        assert_eq!(snapshot(&ops, &d), before, "{names:?}");
    }
}

#[test]
fn the_host_shim_goes_with_the_last_container_that_asked_for_it() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    up_lab(&mut ops, &d);
    let shim_link = (Ns::named("nv-u-host"), "nvshim0".to_string());
    // A shim route for exactly the LAN would clash with the host's own route for it.
    let mut whole_lan = mv("o2", MacvlanMode::Bridge);
    whole_lan.host_shim = true;
    whole_lan.ip_range = Some("192.168.50.0/24".parse().unwrap());
    let before = snapshot(&ops, &d);
    expect_invalid(
        Engine::new(&mut ops, d.clone(), P.into()).add(&[whole_lan]),
        "ip-range 192.168.50.0/24 is the host's own route for 192.168.50.11/24 on enp0s8",
    );
    assert_eq!(snapshot(&ops, &d), before);
    let mut m1 = mv("m1", MacvlanMode::Bridge);
    m1.host_shim = true;
    let mut m2 = mv("m2", MacvlanMode::Bridge);
    m2.host_shim = true;
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.add(&[m1, m2, mv("m3", MacvlanMode::Bridge)]).unwrap();
    e.remove(&["m1".into()]).unwrap();
    drop(e);
    assert!(ops.links.contains_key(&shim_link), "m2 still needs it");
    // A shim routes one range: another range on its parent cannot use it.
    let mut other = mv("o1", MacvlanMode::Bridge);
    other.host_shim = true;
    other.ip_range = Some("192.168.50.64/28".parse().unwrap());
    let before = snapshot(&ops, &d);
    expect_invalid(
        Engine::new(&mut ops, d.clone(), P.into()).add(&[other]),
        "the host shim nvshim0 on enp0s8 routes 192.168.50.192/27, not ip-range 192.168.50.64/28",
    );
    assert_eq!(snapshot(&ops, &d), before);
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.remove(&["m2".into()]).unwrap();
    drop(e);
    assert!(!ops.links.contains_key(&shim_link), "no one needs it");
    let st = super::state::read_state(&d.join("state.json"))
        .unwrap()
        .unwrap();
    assert!(st.shims.is_empty());
    assert!(!st.objects.iter().any(|u| u.describe().contains("nvshim0")));
    // A new shim can be made again, and down still leaves nothing.
    let mut m4 = mv("m4", MacvlanMode::Bridge);
    m4.host_shim = true;
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    e.add(&[m4]).unwrap();
    e.down().unwrap();
    drop(e);
    assert_eq!(ops.leftovers(), Vec::<String>::new());
}

#[test]
fn a_macvlan_device_is_no_parent() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new();
    up_lab(&mut ops, &d);
    let mut m0 = mv("m0", MacvlanMode::Bridge);
    m0.host_shim = true;
    Engine::new(&mut ops, d.clone(), P.into())
        .add(&[m0])
        .unwrap();
    let mut on_shim = mv("s1", MacvlanMode::Passthru);
    on_shim.parent = Some("nvshim0".into());
    let before = snapshot(&ops, &d);
    expect_invalid(
        Engine::new(&mut ops, d.clone(), P.into()).add(&[on_shim]),
        "parent nvshim0 is itself a macvlan device; use the interface it sits on",
    );
    assert_eq!(snapshot(&ops, &d), before);
}

#[test]
fn real_mode_keeps_docker_apart_from_the_parents_network() {
    let (_t, d) = dir();
    let mut ops = FakeOps::new().with_current_link("eth9", |f| {
        f.addresses = vec!["172.17.3.5/24".parse().unwrap()];
    });
    let mut spec = LabSpec::default();
    spec.options.real = true;
    spec.options.parent = Some("eth9".into());
    let mut e = Engine::new(&mut ops, d.clone(), P.into());
    expect_invalid(
        e.up(spec.clone()),
        "docker network 172.17.0.0/16 overlaps eth9's network 172.17.3.0/24",
    );
    spec.docker.address = "172.30.0.1/16".parse().unwrap();
    e.up(spec).unwrap();
    e.down().unwrap();
}
