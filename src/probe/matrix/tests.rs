//! The planner, the runner (with a fake prober, no root), the JSON shape and the text layout.

use super::*;
use crate::probe::pacing::{NeighbourLimits, NeighbourTable};
use crate::probe::topology::{EndpointAddress, EndpointOrigin, LabFacts, NetMode, Role};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn ep(name: &str, addrs: &[(&str, u8)]) -> ProbeEndpoint {
    ProbeEndpoint {
        name: name.into(),
        role: Role::Peer,
        mode: None,
        netns_path: PathBuf::from(format!("/run/netns/{name}")),
        ifname: "eth0".into(),
        mac: None,
        addresses: addrs
            .iter()
            .map(|(ip, p)| EndpointAddress::new(ip.parse().unwrap(), *p, "eth0"))
            .collect(),
        gateway: None,
        parent: None,
        nat: false,
        host_shim: false,
        origin: EndpointOrigin::Lab,
    }
}

fn lab_of(n: usize) -> ProbeLab {
    ProbeLab {
        endpoints: (0..n)
            .map(|i| {
                let ip = format!("10.0.0.{}", i + 1);
                ep(&format!("e{i}"), &[(ip.as_str(), 24)])
            })
            .collect(),
        facts: LabFacts::default(),
    }
}

/// The namespaces of `lab_of(2)` as the inventory reads them: n0 and n1 joined by a veth
/// pair (eth0, 10.0.0.1/24 <-> eth0, 10.0.0.2/24), e0 in n0 and e1 in n1.
fn pair_world() -> WalkWorld {
    use crate::inventory::model::{
        Address, Inventory, Link, LinkKind, LinkRef, NamespaceInventory, Route,
    };
    use crate::netns::NetnsSource;
    let ns = |i: usize| {
        let mut n = NamespaceInventory::empty(&format!("n{i}"), 1 + i as u64, NetnsSource::Named);
        n.links.push(Link {
            index: 2,
            name: "eth0".into(),
            kind: LinkKind::Veth,
            mode: None,
            state: "UP".into(),
            flags: vec!["BROADCAST".into(), "UP".into(), "LOWER_UP".into()],
            mac: Some(format!("02:00:00:00:00:0{i}")),
            mtu: Some(1500),
            master: None,
            parent: None,
            peer: Some(LinkRef {
                netns: Some(format!("n{}", 1 - i)),
                name: Some("eth0".into()),
            }),
            addresses: vec![Address {
                ip: format!("10.0.0.{}", i + 1).parse().unwrap(),
                prefix_len: 24,
                scope: "global".into(),
            }],
        });
        n.routes.push(Route {
            dst: "10.0.0.0/24".into(),
            gateway: None,
            dev: Some("eth0".into()),
            scope: "link".into(),
            protocol: "kernel".into(),
            metric: None,
            family: "inet".into(),
            route_type: "unicast".into(),
            prefsrc: None,
        });
        n
    };
    WalkWorld {
        inventory: Inventory {
            namespaces: vec![ns(0), ns(1)],
            ..Default::default()
        },
        netns_of: [("e0", "n0"), ("e1", "n1")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    }
}

#[test]
fn plan_covers_all_pairs_and_arp_only_on_link() {
    let mut lab = lab_of(3);
    lab.endpoints[2]
        .addresses
        .push(EndpointAddress::new("192.0.2.7".parse().unwrap(), 32, "lo"));
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let icmp = cells.iter().filter(|c| c.kind == ProbeKind::Icmp).count();
    // 3 sources x 4 addresses.
    assert_eq!(icmp, 12);
    let arp: Vec<_> = cells.iter().filter(|c| c.kind == ProbeKind::Arp).collect();
    // Only other endpoints' on-link addresses: 3 x 2 (192.0.2.7 is not on-link for anyone).
    assert_eq!(arp.len(), 6);
    assert!(arp
        .iter()
        .all(|c| c.from != c.to && c.target_ip.to_string().starts_with("10.0.0.")));
    // A loopback address is never a target.
    lab.endpoints[0]
        .addresses
        .push(EndpointAddress::new("127.0.0.1".parse().unwrap(), 8, "lo"));
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    assert!(cells.iter().all(|c| !c.target_ip.is_loopback()));
}

#[test]
fn a_source_target_or_kind_named_twice_is_planned_once() {
    // `--from a --from a --to b --to b --kind icmp,icmp` once made each cell twice, and the
    // streamed report then counted a row's cells below zero (a panic).
    let lab = lab_of(3);
    let opts = PlanOptions {
        from: vec!["e0".into(), "e0".into()],
        to: vec!["e2".into(), "e2".into()],
        kinds: vec![ProbeKind::Icmp, ProbeKind::Icmp],
        tcp_port: 80,
    };
    let cells = plan(&lab, &opts).unwrap();
    assert_eq!(cells.len(), 1, "{cells:?}");
    let mut report = crate::probe::report::Report::new(
        crate::probe::report::Format::Text,
        false,
        &cells,
        Vec::new(),
    );
    let twice = [cells[0].clone(), cells[0].clone()];
    for (i, c) in twice.iter().enumerate() {
        crate::probe::matrix::MatrixSink::result(
            &mut report,
            CellResult {
                index: i.min(cells.len() - 1),
                cell: c.clone(),
                observed: Observation::outcome(ProbeOutcome::Reply),
                expected: Expectation::unknown().into(),
            },
        );
    }
}

#[test]
fn plan_selects_sources_targets_and_typed_addresses() {
    let lab = lab_of(3);
    let opts = PlanOptions {
        from: vec!["e0".into()],
        to: vec!["e2".into(), "10.0.0.99".into()],
        kinds: vec![ProbeKind::Icmp, ProbeKind::Tcp],
        tcp_port: 8080,
    };
    let cells = plan(&lab, &opts).unwrap();
    let got: Vec<(String, String, ProbeKind, Option<u16>)> = cells
        .iter()
        .map(|c| (c.from.to_string(), c.to.to_string(), c.kind, c.port))
        .collect();
    assert_eq!(
        got,
        vec![
            ("e0".into(), "e2".into(), ProbeKind::Icmp, None),
            ("e0".into(), "e2".into(), ProbeKind::Tcp, Some(8080)),
            ("e0".into(), "10.0.0.99".into(), ProbeKind::Icmp, None),
            ("e0".into(), "10.0.0.99".into(), ProbeKind::Tcp, Some(8080)),
        ]
    );
    let bad = PlanOptions {
        to: vec!["nope".into()],
        ..PlanOptions::default()
    };
    assert!(matches!(plan(&lab, &bad), Err(ProbeError::UnknownEndpoint(n)) if n == "nope"));
    let bad = PlanOptions {
        from: vec!["nope".into()],
        ..PlanOptions::default()
    };
    assert!(matches!(
        plan(&lab, &bad),
        Err(ProbeError::UnknownEndpoint(_))
    ));
}

/// A fake kernel: every probe takes `delay`, answers per `reach`, and records what it saw.
struct FakeProber {
    delay: Duration,
    reach: fn(&str, IpAddr) -> bool,
    seen: Mutex<Vec<(String, PlannedProbe)>>,
    begun: Mutex<Vec<String>>,
    ended: Mutex<bool>,
    skip_token: Option<usize>,
}

impl FakeProber {
    fn new(delay: Duration, reach: fn(&str, IpAddr) -> bool) -> Self {
        FakeProber {
            delay,
            reach,
            seen: Mutex::new(Vec::new()),
            begun: Mutex::new(Vec::new()),
            ended: Mutex::new(false),
            skip_token: None,
        }
    }
}

impl Prober for FakeProber {
    fn begin(&self, run: &RunPlan<'_>) -> Result<(), ProbeError> {
        self.begun
            .lock()
            .unwrap()
            .extend(run.icmp_targets.iter().map(|t| t.name.clone()));
        Ok(())
    }

    fn run_batch(
        &self,
        batch: &[SourceProbes<'_>],
        timeout: Duration,
        report: &mut dyn FnMut(usize, Observation),
    ) -> Result<(), ProbeError> {
        // Every source's probes at once: the batch takes one delay, whatever its size.
        std::thread::sleep(self.delay);
        for s in batch {
            self.run_source(s.source, &s.probes, timeout, report);
        }
        Ok(())
    }

    fn end(&self) {
        *self.ended.lock().unwrap() = true;
    }
}

impl FakeProber {
    fn run_source(
        &self,
        source: &ProbeEndpoint,
        probes: &[PlannedProbe],
        _timeout: Duration,
        report: &mut dyn FnMut(usize, Observation),
    ) {
        for p in probes {
            self.seen
                .lock()
                .unwrap()
                .push((source.name.clone(), p.clone()));
            if Some(p.token) == self.skip_token {
                continue;
            }
            let outcome = if (self.reach)(&source.name, p.target) {
                ProbeOutcome::Reply
            } else if p.kind == ProbeKind::Arp {
                ProbeOutcome::NoArpReply
            } else {
                ProbeOutcome::Timeout
            };
            let mut obs = Observation::outcome(outcome);
            obs.rtt_us = Some(42);
            report(p.token, obs);
        }
    }
}

fn everything(_: &str, _: IpAddr) -> bool {
    true
}

#[test]
fn runner_takes_about_one_timeout_and_streams_every_cell() {
    let lab = lab_of(20);
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let prober = FakeProber::new(Duration::from_millis(200), everything);
    let mut streamed = Vec::new();
    let run = run_matrix(
        &prober,
        &lab,
        &cells,
        Duration::from_millis(200),
        &mut |r| streamed.push(r.cell.clone()),
    )
    .unwrap();
    // 20 sources each "taking one timeout": in parallel, far below 20 x 200 ms.
    assert!(run.elapsed_ms < 1000, "took {} ms", run.elapsed_ms);
    assert_eq!(run.results.len(), cells.len());
    assert_eq!(streamed.len(), cells.len());
    // Results come back in plan order whatever the arrival order.
    let back: Vec<Cell> = run.results.iter().map(|r| r.cell.clone()).collect();
    assert_eq!(back, cells);
    assert!(*prober.ended.lock().unwrap());
    // Listeners are asked for each ICMP target namespace once.
    assert_eq!(prober.begun.lock().unwrap().len(), 20);
}

#[test]
fn runner_gives_unique_icmp_ids_and_each_probe_to_its_source() {
    let lab = lab_of(5);
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let prober = FakeProber::new(Duration::ZERO, everything);
    run_matrix(
        &prober,
        &lab,
        &cells,
        Duration::from_millis(10),
        &mut |_| {},
    )
    .unwrap();
    let seen = prober.seen.lock().unwrap();
    let keys: HashSet<(u16, u16)> = seen
        .iter()
        .filter(|(_, p)| p.kind == ProbeKind::Icmp)
        .map(|(_, p)| (p.icmp_id, p.icmp_seq))
        .collect();
    assert_eq!(
        keys.len(),
        seen.iter()
            .filter(|(_, p)| p.kind == ProbeKind::Icmp)
            .count()
    );
    // Every probe went to the worker of its own source.
    for (src, p) in seen.iter() {
        assert_eq!(**src, *cells[p.token].from);
    }
}

#[test]
fn unreported_probes_fail_and_mismatches_are_flagged() {
    let lab = lab_of(2);
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let mut prober = FakeProber::new(Duration::ZERO, |src, ip| {
        !(src == "e0" && ip.to_string() == "10.0.0.2")
    });
    prober.skip_token = Some(0);
    let run = run_matrix_with(
        &prober,
        &lab,
        &cells,
        Some(&pair_world()),
        Duration::from_millis(10),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        run.results[0].observed.outcome,
        ProbeOutcome::SendFailed("the probe never reported".into())
    );
    // e0 -> e1 is one veth pair in the walk's world: expected reachable, so the fake's
    // refusal is a mismatch, and only those cells are.
    let mism: Vec<_> = run
        .mismatches()
        .map(|r| (r.cell.from.to_string(), r.cell.target_ip.to_string()))
        .collect();
    assert!(mism.contains(&("e0".into(), "10.0.0.2".into())));
    assert!(mism
        .iter()
        .all(|(f, ip)| f == "e0" && (ip == "10.0.0.2" || ip == "10.0.0.1")));
}

#[test]
fn json_shape_is_the_contract() {
    let lab = lab_of(2);
    let cells = plan(
        &lab,
        &PlanOptions {
            kinds: vec![ProbeKind::Arp],
            ..PlanOptions::default()
        },
    )
    .unwrap();
    let prober = FakeProber::new(Duration::ZERO, everything);
    let run = run_matrix_with(
        &prober,
        &lab,
        &cells,
        Some(&pair_world()),
        Duration::from_millis(10),
        &mut |_| {},
    )
    .unwrap();
    let v = serde_json::to_value(&run).unwrap();
    assert!(v["elapsed_ms"].is_u64());
    let r = &v["results"][0];
    let keys: HashSet<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    for k in [
        "from",
        "to",
        "target_ip",
        "kind",
        "outcome",
        "reachable",
        "rtt_us",
        "arp_mac",
        "seen_as",
        "expected",
        "why",
        "mismatch",
    ] {
        assert!(keys.contains(k), "missing {k}");
    }
    assert_eq!(r["from"], "e0");
    assert_eq!(r["to"], "e1");
    assert_eq!(r["target_ip"], "10.0.0.2");
    assert_eq!(r["kind"], "arp");
    assert_eq!(r["outcome"], "Reply");
    assert_eq!(r["reachable"], true);
    assert_eq!(r["rtt_us"], 42);
    assert!(r["arp_mac"].is_null());
    assert!(r["seen_as"].is_null());
    assert!(r["expected"].is_boolean());
    assert!(r["why"].is_string());
    assert_eq!(r["mismatch"], false);
    let failed = CellResult {
        index: 0,
        cell: cells[0].clone(),
        observed: Observation::outcome(ProbeOutcome::SendFailed("boom".into())),
        expected: Expectation {
            reachable: Some(true),
            why: "w".into(),
            path: Vec::new(),
        }
        .into(),
    };
    let f = serde_json::to_value(&failed).unwrap();
    assert_eq!(f["outcome"], "SendFailed");
    assert_eq!(f["detail"], "boom");
    assert_eq!(f["reachable"], false);
    assert_eq!(f["mismatch"], true);
}

#[test]
fn text_matrix_has_rows_columns_and_marks() {
    let mut lab = lab_of(2);
    lab.endpoints[1].mode = Some(NetMode::None);
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let prober = FakeProber::new(Duration::ZERO, |src, _| src == "e0");
    let run = run_matrix(
        &prober,
        &lab,
        &cells,
        Duration::from_millis(10),
        &mut |_| {},
    )
    .unwrap();
    let text = render_text(&run.results);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("each cell: icmp arp"));
    // The columns are named: each target over its addresses, no numbered legend.
    assert_eq!(lines[1], "from e0 ───── e1 ─────");
    assert_eq!(lines[2], "     10.0.0.1 10.0.0.2");
    // e0 reaches both (no ARP to itself: ·), e1 reaches nothing.
    assert_eq!(lines[3], "e0   ✓·       ✓✓");
    assert!(lines[4].starts_with("e1 "));
    assert!(lines[4].contains('✗'));
    let l = layout(&run.results);
    assert_eq!(l.rows, vec!["e0".to_string(), "e1".to_string()]);
    assert_eq!(l.kinds, vec![ProbeKind::Icmp, ProbeKind::Arp]);
    let m = render_mismatches(&run.results);
    assert_eq!(m.lines().count(), run.mismatches().count());
}

#[test]
fn column_groups_join_one_targets_addresses() {
    use std::net::{IpAddr, Ipv4Addr};
    let ip = |d: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, d));
    let l = Layout {
        columns: vec![
            ("host".into(), ip(1)),
            ("host".into(), ip(2)),
            ("peer".into(), ip(3)),
            ("host".into(), ip(4)),
        ],
        kinds: vec![ProbeKind::Icmp, ProbeKind::Arp],
        ..Layout::default()
    };
    assert_eq!(
        l.groups(0..4),
        vec![("host", 0..2), ("peer", 2..3), ("host", 3..4)]
    );
    assert_eq!(l.groups(1..3), vec![("host", 1..2), ("peer", 2..3)]);
    assert_eq!(l.groups(3..9), vec![("host", 3..4)]);
    assert_eq!(l.column_widths(6), vec![6; 4]);
    assert_eq!(l.column_widths(99), vec![8; 4]);
    assert_eq!(group_heading("host", 8), "host ───");
    assert_eq!(group_heading("tour-mv1", 5), "tour…");
    assert_eq!(group_heading("peer", 5), "peer ");
}

#[test]
fn spawn_run_streams_cells_from_a_background_thread() {
    let lab = lab_of(3);
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let n = cells.len();
    let (handle, rx) = spawn_run_with(
        FakeProber::new(Duration::from_millis(10), everything),
        &pacing::Unpaced,
        lab,
        cells,
        None,
        Duration::from_millis(50),
    )
    .unwrap();
    let streamed: Vec<CellResult> = rx
        .iter()
        .filter_map(|e| match e {
            MatrixEvent::Cell(r) => Some(r),
            MatrixEvent::Paced(_) => None,
        })
        .collect();
    let run = handle.join().unwrap().unwrap();
    assert_eq!(streamed.len(), n);
    assert_eq!(run.results.len(), n);
}

#[test]
fn an_empty_plan_is_an_empty_run() {
    let lab = lab_of(2);
    let prober = FakeProber::new(Duration::from_millis(500), everything);
    let run = run_matrix(&prober, &lab, &[], Duration::from_millis(500), &mut |_| {}).unwrap();
    assert!(run.results.is_empty());
    assert!(run.elapsed_ms < 400);
    assert!(render_text(&run.results).contains("from"));
    assert_eq!(render_mismatches(&run.results), "");
}

#[test]
fn every_cell_lab_or_not_is_predicted_by_the_walk_over_the_inventory() {
    // e0 is a lab endpoint, e1 a namespace found on the host: both are predicted by the walk
    // (the lab's cells once came from a rule table that knew only the sandbox's world).
    let mut lab = lab_of(2);
    lab.endpoints[1].origin = EndpointOrigin::Namespace;
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    // Without an inventory: no prediction, for the lab's cells too.
    assert!(expect_cells(&cells, None)
        .iter()
        .all(|e| e.reachable.is_none() && e.why.contains("inventory") && e.path.is_empty()));
    let got = expect_cells(&cells, Some(&pair_world()));
    for (c, e) in cells.iter().zip(&got) {
        assert_eq!(e.reachable, Some(true), "{c:?}: {}", e.why);
        assert!(!e.path.is_empty(), "{c:?}: no hops");
    }
    // A namespace the inventory did not read is unknown, with the reason.
    let mut walk = pair_world();
    walk.netns_of.remove("e1");
    let got = expect_cells(&cells, Some(&walk));
    for (c, e) in cells.iter().zip(&got) {
        if c.from.as_ref() == "e1" {
            assert_eq!(e.reachable, None);
            assert!(e.why.contains("not in the inventory"), "{}", e.why);
        } else {
            assert_eq!(e.reachable, Some(true), "{c:?}: {}", e.why);
        }
    }
}

/// A fake neighbour table: fixed limits, namespaces owned by a rule, and every `forget`
/// recorded (with how many source workers had started by then).
struct FakeTable {
    limits: NeighbourLimits,
    owned: fn(&Path) -> bool,
    forgotten: Mutex<Vec<(PathBuf, Vec<IpAddr>)>>,
}

impl NeighbourTable for FakeTable {
    fn limits(&self) -> Option<NeighbourLimits> {
        Some(self.limits)
    }
    fn owned(&self, netns: &Path) -> bool {
        (self.owned)(netns)
    }
    fn forget(&self, netns: &Path, addrs: &[IpAddr]) -> Result<usize, ProbeError> {
        self.forgotten
            .lock()
            .unwrap()
            .push((netns.to_path_buf(), addrs.to_vec()));
        Ok(addrs.len())
    }
}

fn limits_with_room(room: usize) -> NeighbourLimits {
    NeighbourLimits {
        gc_thresh1: 10,
        gc_thresh2: 20,
        gc_thresh3: room + 10,
        entries: 0,
    }
}

#[test]
fn a_paced_run_keeps_each_batchs_entries_under_the_room_and_forgets_them_after() {
    let lab = lab_of(12);
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let room = MIN_PACING_ROOM;
    let table = FakeTable {
        limits: limits_with_room(room),
        owned: |_| true,
        forgotten: Mutex::new(Vec::new()),
    };
    // Record, for every probe, how many forgets had happened when its source started.
    struct Recorder<'a> {
        inner: FakeProber,
        table: &'a FakeTable,
        generation: Mutex<Vec<(usize, usize)>>,
    }
    impl Prober for Recorder<'_> {
        fn run_batch(
            &self,
            batch: &[SourceProbes<'_>],
            timeout: Duration,
            report: &mut dyn FnMut(usize, Observation),
        ) -> Result<(), ProbeError> {
            let g = self.table.forgotten.lock().unwrap().len();
            self.generation.lock().unwrap().extend(
                batch
                    .iter()
                    .flat_map(|s| s.probes.iter().map(move |p| (g, p.token))),
            );
            self.inner.run_batch(batch, timeout, report)
        }
    }
    let prober = Recorder {
        inner: FakeProber::new(Duration::ZERO, everything),
        table: &table,
        generation: Mutex::new(Vec::new()),
    };
    let opts = RunOptions {
        walk: None,
        timeout: Duration::from_millis(10),
        table: &table,
    };
    let run = collect(&prober, &lab, &cells, &opts, &mut |_| {}).unwrap();
    // Every cell once, in plan order.
    assert_eq!(run.results.len(), cells.len());
    assert!(run.results.iter().enumerate().all(|(i, r)| r.index == i));
    let pacing = run
        .pacing
        .expect("12 endpoints on one subnet need more than 64 entries");
    assert!(pacing.batches > 1);
    assert!(pacing.why.contains("batches"), "{}", pacing.why);
    // The probes that started between two rounds of forgets need at most `room` entries.
    let model = pacing::NeedsModel::new(&lab);
    let mut by_generation: BTreeMap<usize, HashSet<pacing::Need>> = BTreeMap::new();
    for (g, token) in prober.generation.lock().unwrap().iter() {
        by_generation
            .entry(*g)
            .or_default()
            .extend(model.needs(&cells[*token]));
    }
    assert!(by_generation.len() > 1);
    for (g, needs) in &by_generation {
        assert!(
            needs.len() <= room,
            "batch after {g} forgets needs {}",
            needs.len()
        );
    }
    // Every entry the probes needed was forgotten in its namespace.
    let forgotten: HashSet<(PathBuf, IpAddr)> = table
        .forgotten
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(p, ips)| ips.iter().map(move |ip| (p.clone(), *ip)))
        .collect();
    let paths = &model.paths;
    for c in &cells {
        for n in model.needs(c) {
            assert!(
                forgotten.contains(&(paths[n.ns].clone(), n.ip)),
                "{n:?} not forgotten"
            );
        }
    }
}

#[test]
fn namespaces_netview_does_not_own_are_only_paced_never_cleaned() {
    // 9 endpoints on one subnet need 72 entries: two epochs of room 64, one reclaim wait.
    let lab = lab_of(9);
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let table = FakeTable {
        limits: limits_with_room(MIN_PACING_ROOM),
        owned: |_| false,
        forgotten: Mutex::new(Vec::new()),
    };
    let opts = RunOptions {
        walk: None,
        timeout: Duration::from_millis(10),
        table: &table,
    };
    let run = collect(
        &FakeProber::new(Duration::ZERO, everything),
        &lab,
        &cells,
        &opts,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(run.results.len(), cells.len());
    let pacing = run.pacing.expect("paced");
    assert_eq!(pacing.reclaim_waits, 1, "{pacing:?}");
    assert!(pacing.why.contains("reclaim"), "{}", pacing.why);
    assert!(table.forgotten.lock().unwrap().is_empty());
}

#[test]
fn a_paced_runs_results_carry_their_own_cells_expectations_batch_after_batch() {
    // The expectations are spelled out on the prediction thread one batch ahead; a prober that
    // reports every cell at once gets results in before them. Each result must still carry its
    // own cell's expectation, as expect_cells predicts it, in every batch.
    let lab = lab_of(12);
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let world = pair_world();
    let want = expect_cells(&cells, Some(&world));
    assert!(want.iter().any(|e| e.reachable == Some(true)));
    assert!(want.iter().any(|e| e.reachable.is_none()));
    let table = FakeTable {
        limits: limits_with_room(MIN_PACING_ROOM),
        owned: |_| true,
        forgotten: Mutex::new(Vec::new()),
    };
    let opts = RunOptions {
        walk: Some(&world),
        timeout: Duration::from_millis(10),
        table: &table,
    };
    let prober = FakeProber::new(Duration::ZERO, everything);
    let mut streamed = Vec::new();
    let run = collect(&prober, &lab, &cells, &opts, &mut |r| {
        streamed.push((r.index, r.expected.clone()))
    })
    .unwrap();
    assert!(run.pacing.expect("paced").batches > 1);
    assert_eq!(streamed.len(), cells.len());
    for (i, e) in streamed {
        assert_eq!(*e, want[i], "cell {i}: {:?}", cells[i]);
    }
}

/// A table with no limits (one batch) that counts the kernel's input-queue drops; the prober
/// below adds some during its first batch when told to.
struct DroppingTable {
    dropped: std::sync::atomic::AtomicU64,
}

impl NeighbourTable for DroppingTable {
    fn limits(&self) -> Option<NeighbourLimits> {
        None
    }
    fn owned(&self, _: &Path) -> bool {
        false
    }
    fn forget(&self, _: &Path, _: &[IpAddr]) -> Result<usize, ProbeError> {
        Ok(0)
    }
    fn dropped(&self) -> Option<u64> {
        Some(self.dropped.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Hears nothing in its first batch (and the kernel drops packets then, when `drops`), and
/// an answer to everything after.
struct SilentFirst<'a> {
    table: &'a DroppingTable,
    drops: bool,
    batches: Mutex<Vec<Vec<(usize, u16)>>>,
}

impl Prober for SilentFirst<'_> {
    fn run_batch(
        &self,
        batch: &[SourceProbes<'_>],
        _: Duration,
        report: &mut dyn FnMut(usize, Observation),
    ) -> Result<(), ProbeError> {
        let mut batches = self.batches.lock().unwrap();
        let first = batches.is_empty();
        let probes = batch.iter().flat_map(|s| &s.probes);
        batches.push(probes.clone().map(|p| (p.token, p.icmp_seq)).collect());
        if first && self.drops {
            self.table
                .dropped
                .fetch_add(3, std::sync::atomic::Ordering::SeqCst);
        }
        for p in probes {
            let outcome = match (first, p.kind) {
                (false, _) => ProbeOutcome::Reply,
                (true, ProbeKind::Arp) => ProbeOutcome::NoArpReply,
                (true, _) => ProbeOutcome::Timeout,
            };
            report(p.token, Observation::outcome(outcome));
        }
        Ok(())
    }
}

#[test]
fn cells_that_heard_nothing_while_the_kernel_dropped_packets_are_probed_again() {
    let lab = lab_of(2);
    let cells = plan(&lab, &PlanOptions::default()).unwrap();
    let world = pair_world();
    for drops in [true, false] {
        let table = DroppingTable {
            dropped: Default::default(),
        };
        let prober = SilentFirst {
            table: &table,
            drops,
            batches: Mutex::new(Vec::new()),
        };
        let opts = RunOptions {
            walk: Some(&world),
            timeout: Duration::from_millis(10),
            table: &table,
        };
        let mut results = Vec::new();
        let summary = run_paced(
            &prober,
            &lab,
            &cells,
            &opts,
            &mut OnResult(&mut |r| results.push(r.clone())),
        )
        .unwrap();
        // Every cell once, whatever happened.
        let mut seen: Vec<usize> = results.iter().map(|r| r.index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..cells.len()).collect::<Vec<_>>());
        let batches = prober.batches.lock().unwrap();
        if drops {
            // Every cell here is expected to answer: all were tried again, with ICMP sequence
            // numbers of their own, and the second try's answer is what the matrix shows.
            assert_eq!(summary.retried, cells.len());
            assert_eq!(batches.len(), 2);
            let firsts: HashSet<u16> = batches[0].iter().map(|(_, s)| *s).collect();
            assert!(batches[1].iter().all(|(_, s)| !firsts.contains(s)));
            assert!(results
                .iter()
                .all(|r| r.observed.outcome == ProbeOutcome::Reply));
            assert_eq!(summary.mismatches, 0);
            assert!(crate::probe::report::summary_line(&summary).contains("probed again"));
        } else {
            // Nothing dropped: silence is the answer, reported as a mismatch.
            assert_eq!(summary.retried, 0);
            assert_eq!(batches.len(), 1);
            assert_eq!(summary.mismatches, cells.len());
        }
    }
}
