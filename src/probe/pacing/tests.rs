//! The pacing plan (pure): every cell once, never more entries in flight than the room, slow
//! cells first, epochs where namespaces netview does not own fill the room; and the model of
//! which entries a cell needs.

use super::*;
use crate::probe::topology::{EndpointAddress, EndpointOrigin, LabFacts, Role};

/// A deterministic pseudo-random sequence (xorshift), so the tests need no crate and repeat.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn need(ns: usize, last: u8) -> Need {
    Need {
        ns,
        ip: IpAddr::from([10, 0, 0, last]),
    }
}

/// Replay a plan against the cells it was made from: the entries in flight while each batch
/// runs are its cells' needs in owned namespaces (deleted after it) plus every need in other
/// namespaces since the last reclaim wait.
fn max_in_flight(cells: &[CellNeeds], owned: &dyn Fn(usize) -> bool, p: &PacingPlan) -> Vec<usize> {
    let by_token: HashMap<usize, &CellNeeds> = cells.iter().map(|c| (c.token, c)).collect();
    // The unowned entries of an epoch are held from its first batch to its last: count them
    // over the whole epoch.
    let mut epochs: Vec<Vec<usize>> = Vec::new();
    for (i, b) in p.batches.iter().enumerate() {
        if i == 0 || b.wait_for_reclaim {
            epochs.push(Vec::new());
        }
        epochs.last_mut().unwrap().push(i);
    }
    let mut in_flight = vec![0; p.batches.len()];
    for e in &epochs {
        let unowned: HashSet<Need> = e
            .iter()
            .flat_map(|&b| p.batches[b].tokens.iter())
            .flat_map(|t| by_token[t].needs.iter().copied())
            .filter(|n| !owned(n.ns))
            .collect();
        for &b in e {
            let own: HashSet<Need> = p.batches[b]
                .tokens
                .iter()
                .flat_map(|t| by_token[t].needs.iter().copied())
                .filter(|n| owned(n.ns))
                .collect();
            in_flight[b] = own.len() + unowned.len();
        }
    }
    in_flight
}

fn random_cells(rng: &mut Rng, n: usize, namespaces: usize) -> Vec<CellNeeds> {
    (0..n)
        .map(|token| CellNeeds {
            token,
            needs: (0..rng.next(4))
                .map(|_| need(rng.next(namespaces as u64) as usize, rng.next(200) as u8))
                .collect(),
            slow: rng.next(3) == 0,
        })
        .collect()
}

#[test]
fn never_more_entries_in_flight_than_the_room_and_every_cell_once() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..40 {
        let namespaces = 2 + rng.next(30) as usize;
        let n = 1 + rng.next(3000) as usize;
        let cells = random_cells(&mut rng, n, namespaces);
        let room = 4 + rng.next(600) as usize;
        // Some rounds own every namespace, some none, some half.
        let owned_mod = round % 3;
        let owned = move |ns: usize| match owned_mod {
            0 => true,
            1 => false,
            _ => ns % 2 == 0,
        };
        let p = plan(&RunNeeds::of(&cells), &owned, room);
        let mut seen: Vec<usize> = p.batches.iter().flat_map(|b| b.tokens.clone()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..cells.len()).collect::<Vec<_>>(), "round {round}");
        for (b, n) in max_in_flight(&cells, &owned, &p).into_iter().enumerate() {
            let batch = &p.batches[b];
            assert!(
                n <= room || (batch.over && batch.tokens.len() == 1),
                "round {round}: batch {b} has {n} entries in flight, room {room}"
            );
        }
        let distinct: HashSet<Need> = cells.iter().flat_map(|c| c.needs.clone()).collect();
        assert_eq!(p.needed, distinct.len());
    }
}

#[test]
fn a_run_that_fits_is_one_batch() {
    let mut rng = Rng(7);
    let cells = random_cells(&mut rng, 500, 10);
    let p = plan(&RunNeeds::of(&cells), &|_| true, 100_000);
    assert_eq!(p.batches.len(), 1);
    assert!(!p.batches[0].wait_for_reclaim);
}

#[test]
fn owned_entries_are_charged_per_batch_and_shared_entries_cost_nothing() {
    // 10 cells of 2 new entries each and room for 4: five batches of two. Then 10 cells that
    // need only an entry the first batch already has: they join it.
    let mut cells: Vec<CellNeeds> = (0..10)
        .map(|i| CellNeeds {
            token: i,
            needs: vec![need(0, i as u8), need(1, i as u8)],
            slow: false,
        })
        .collect();
    cells.extend((10..20).map(|i| CellNeeds {
        token: i,
        needs: vec![need(0, 0)],
        slow: false,
    }));
    let p = plan(&RunNeeds::of(&cells), &|_| true, 4);
    assert_eq!(p.batches.len(), 5, "{p:#?}");
    assert_eq!(
        p.batches[0].tokens,
        vec![0, 1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
    );
    assert!(p
        .batches
        .iter()
        .all(|b| b.owned.len() <= 4 && !b.wait_for_reclaim));
}

#[test]
fn cells_predicted_to_fail_are_planned_first() {
    let cells: Vec<CellNeeds> = (0..20)
        .map(|i| CellNeeds {
            token: i,
            needs: vec![need(0, i as u8), need(1, i as u8)],
            slow: i >= 16,
        })
        .collect();
    let p = plan(&RunNeeds::of(&cells), &|_| true, 8);
    // The four slow cells fill the first batch (their timeouts are waited for once).
    assert_eq!(p.batches[0].tokens, vec![16, 17, 18, 19]);
    assert!(p.batches[1..]
        .iter()
        .all(|b| b.tokens.iter().all(|&t| t < 16)));
}

#[test]
fn entries_in_namespaces_netview_does_not_own_are_kept_until_a_reclaim_wait() {
    // Every cell needs 3 entries in an unowned namespace; room 10: three cells per epoch, and
    // every epoch after the first starts with a wait.
    let cells: Vec<CellNeeds> = (0..9)
        .map(|i| CellNeeds {
            token: i,
            needs: (0..3).map(|k| need(5, (i * 3 + k) as u8)).collect(),
            slow: false,
        })
        .collect();
    let p = plan(&RunNeeds::of(&cells), &|ns| ns != 5, 10);
    assert_eq!(p.batches.len(), 3, "{p:#?}");
    assert!(!p.batches[0].wait_for_reclaim);
    assert!(p.batches[1].wait_for_reclaim && p.batches[2].wait_for_reclaim);
    assert!(p
        .batches
        .iter()
        .all(|b| b.unowned_held == 9 && b.owned.is_empty()));
}

#[test]
fn a_cell_needing_more_than_the_room_runs_alone_and_says_so() {
    let cells = vec![
        CellNeeds {
            token: 0,
            needs: vec![need(0, 1), need(1, 1), need(2, 1)],
            slow: false,
        },
        CellNeeds {
            token: 1,
            needs: vec![need(0, 2)],
            slow: false,
        },
    ];
    let p = plan(&RunNeeds::of(&cells), &|_| true, 2);
    assert_eq!(p.batches.len(), 2);
    assert!(p.batches[0].over && p.batches[0].tokens == vec![0]);
    assert!(!p.batches[1].over);
}

#[test]
fn room_leaves_the_hosts_share_and_what_the_table_holds() {
    let l = NeighbourLimits {
        gc_thresh1: 128,
        gc_thresh2: 512,
        gc_thresh3: 1024,
        entries: 40,
    };
    assert_eq!(l.room(), 1024 - 40 - 128);
    let full = NeighbourLimits { entries: 2000, ..l };
    assert_eq!(full.room(), 0);
}

#[test]
fn arp_cache_stat_is_parsed_and_garbage_is_none() {
    let text = "entries  allocs   destroys table_fulls\n\
                0000002a 00002659 0000236a 00000003\n\
                0000002a 000025ad 0000289a 00000001\n";
    assert_eq!(parse_arp_cache_entries(text), Some(42));
    assert_eq!(parse_arp_cache_table_fulls(text), Some(4));
    assert_eq!(parse_arp_cache_entries(""), None);
    assert_eq!(parse_arp_cache_entries("entries\nzz\n"), None);
    assert_eq!(parse_arp_cache_table_fulls("entries\n1\n"), None);
}

#[test]
fn softnet_stat_drops_are_summed_over_cpus_and_garbage_is_none() {
    // Two CPUs as Linux 6.1 prints them (processed, dropped, time_squeeze, ...).
    let text = "0001c4b2 00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n\
                00021f0e 00000102 00000003 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000\n";
    assert_eq!(parse_softnet_dropped(text), Some(16 + 258));
    assert_eq!(parse_softnet_dropped(""), Some(0));
    assert_eq!(parse_softnet_dropped("0001\n"), None);
    assert_eq!(parse_softnet_dropped("0001 zz\n"), None);
    assert_eq!(parse_softnet_dropped("0 ffffffffffffffff\n0 1\n"), None);
}

fn ep(name: &str, ns: &str, addrs: &[(&str, u8)], gateway: Option<&str>) -> ProbeEndpoint {
    ProbeEndpoint {
        name: name.into(),
        role: Role::Peer,
        mode: None,
        netns_path: PathBuf::from(format!("/run/netns/{ns}")),
        ifname: "eth0".into(),
        mac: None,
        addresses: addrs
            .iter()
            .map(|(ip, p)| EndpointAddress::new(ip.parse().unwrap(), *p, "eth0"))
            .collect(),
        gateway: gateway.map(|g| g.parse().unwrap()),
        parent: None,
        nat: false,
        host_shim: false,
        origin: EndpointOrigin::Lab,
    }
}

fn cell(from: &str, to: &str, ip: &str, kind: ProbeKind) -> Cell {
    Cell {
        from: from.into(),
        to: to.into(),
        target_ip: ip.parse().unwrap(),
        kind,
        port: None,
    }
}

#[test]
fn needs_model_on_link_routed_local_and_arp_cells() {
    // a and b on one subnet; r routes between it and c's; h shares a's namespace.
    let lab = ProbeLab {
        endpoints: vec![
            ep("a", "a", &[("10.0.0.2", 24)], Some("10.0.0.1")),
            ep("b", "b", &[("10.0.0.3", 24)], Some("10.0.0.1")),
            ep("r", "r", &[("10.0.0.1", 24), ("10.1.0.1", 24)], None),
            ep("c", "c", &[("10.1.0.2", 24)], Some("10.1.0.1")),
            ep("h", "a", &[("10.0.0.2", 24)], Some("10.0.0.1")),
        ],
        facts: LabFacts::default(),
    };
    let model = NeedsModel::new(&lab);
    assert_eq!(model.paths.len(), 4);
    let n = |name: &str| model.ns(name).unwrap();
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    // On-link: the source's entry for the target and the target's for the source.
    let mut want = vec![
        Need {
            ns: n("a"),
            ip: ip("10.0.0.3"),
        },
        Need {
            ns: n("b"),
            ip: ip("10.0.0.2"),
        },
    ];
    want.sort();
    assert_eq!(
        model.needs(&cell("a", "b", "10.0.0.3", ProbeKind::Icmp)),
        want
    );
    // ARP: only the answering side's entry for the source.
    assert_eq!(
        model.needs(&cell("a", "b", "10.0.0.3", ProbeKind::Arp)),
        vec![Need {
            ns: n("b"),
            ip: ip("10.0.0.2")
        }]
    );
    // Routed: the gateway in the source, the target and the source in the router, the
    // target's gateway on the way back.
    let mut want = vec![
        Need {
            ns: n("a"),
            ip: ip("10.0.0.1"),
        },
        Need {
            ns: n("r"),
            ip: ip("10.1.0.2"),
        },
        Need {
            ns: n("r"),
            ip: ip("10.0.0.2"),
        },
        Need {
            ns: n("c"),
            ip: ip("10.1.0.1"),
        },
    ];
    want.sort();
    assert_eq!(
        model.needs(&cell("a", "c", "10.1.0.2", ProbeKind::Icmp)),
        want
    );
    // One namespace: local delivery, no entry.
    assert!(model
        .needs(&cell("h", "a", "10.0.0.2", ProbeKind::Icmp))
        .is_empty());
    // An unknown source needs nothing (the runner refuses it anyway).
    assert!(model
        .needs(&cell("zz", "a", "10.0.0.2", ProbeKind::Icmp))
        .is_empty());
}

#[test]
fn run_needs_number_each_entry_once_and_keep_each_cells_own() {
    let cells = vec![
        CellNeeds {
            token: 7,
            needs: vec![need(0, 1), need(1, 1), need(0, 1)],
            slow: true,
        },
        CellNeeds {
            token: 9,
            needs: vec![need(1, 1), need(2, 3)],
            slow: false,
        },
        CellNeeds {
            token: 11,
            needs: vec![],
            slow: false,
        },
    ];
    let run = RunNeeds::of(&cells);
    assert_eq!(run.entries(), &[need(0, 1), need(1, 1), need(2, 3)]);
    assert_eq!(run.len(), 3);
    assert_eq!((run.token(0), run.token(1), run.token(2)), (7, 9, 11));
    let of = |k: usize| -> Vec<Need> {
        run.ids(k)
            .iter()
            .map(|&i| run.entries()[i as usize])
            .collect()
    };
    assert_eq!(
        of(0),
        vec![need(0, 1), need(1, 1)],
        "a repeated need counts once"
    );
    assert_eq!(of(1), vec![need(1, 1), need(2, 3)]);
    assert!(of(2).is_empty());
}
