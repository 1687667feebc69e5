//! The packet walk: the expected outcome of a probe from what the inventory read, hop by hop.
//!
//! Given the live [`Inventory`] and a [`Probe`] (source namespace and address, target address,
//! kind), the walk follows the request through routing ([`route`]: longest-prefix match over
//! the main table, on-link and gateway next hops, local and broadcast delivery, blackhole/
//! unreachable/prohibit routes, `ip_forward` per namespace, strict and loose `rp_filter`),
//! layer 2 ([`l2`]: ARP inside one L2 domain or by proxy ARP, veth, bridges with hairpin,
//! macvlan and ipvlan modes) and NAT ([`nat`]: masquerade/SNAT "seen as", DNAT, the reply's
//! reverse translation), and for ICMP and TCP the reply back. It returns a [`Prediction`]:
//! `expected` true or false with the deciding hop's reason, or `None` ("unknown") with a reason
//! naming what it could not model; it never guesses.
//!
//! Filtering is a seam ([`filter::Filters`]) called at the output, forward and input hooks;
//! [`predict`] evaluates the filter chains the inventory read ([`filter::InventoryFilters`]);
//! [`predict_with`] takes another evaluator (the unit tests' fakes).
//!
//! [`predict_all`] predicts one run's probes together: a who-has one probe makes teaches the
//! answerer the asker's MAC, which another probe of the run may need. Where nobody answers a
//! who-has, `explain` names the design that keeps the two apart (macvlan, ipvlan l3).
//!
//! Not modelled (each makes the cell unknown or is stated here): IPv6; policy routing (only the
//! main table is read); ARP answers also depend on `arp_ignore`/`arp_filter`, taken as the
//! defaults (0: a namespace answers for any of its addresses on any interface); ARP caches
//! filled before the run.
//!
//! Pure: no I/O. It predicts every cell of the probe matrix (`matrix::expect_cells`), lab
//! endpoints and other namespaces alike; tests/walk_lab.rs, tests/walk_worlds.rs and the VM
//! test compare it with the kernel.

mod explain;
pub mod filter;
mod index;
mod l2;
mod nat;
mod route;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde::Serialize;

use crate::inventory::{Inventory, LinkKind};

use filter::{CtState, FilterVerdict, Filters, Hook, InventoryFilters, PacketFacts, Protocol};
use index::WalkIndex;
use l2::{Dst, Frame, IfId};
use nat::{NatEval, NatHook, NatPacket};

/// What is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkKind {
    Icmp,
    Arp,
    Tcp { port: u16 },
}

/// One probe: from a namespace (and optionally a source address in it) to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The source's namespace, as the inventory names it (shared by the run's probes from it).
    pub netns: Arc<str>,
    /// The source address; the kernel's choice for the route when absent.
    pub src: Option<Ipv4Addr>,
    pub target: IpAddr,
    pub kind: WalkKind,
}

/// One step of the path: where the packet (or frame) was and what happened there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Hop {
    pub netns: Arc<str>,
    pub dev: Arc<str>,
    pub step: Arc<str>,
}

impl Hop {
    /// A hop from its three texts (the walk shares them through its index).
    pub fn new(netns: &str, dev: &str, step: &str) -> Hop {
        Hop {
            netns: netns.into(),
            dev: dev.into(),
            step: step.into(),
        }
    }
}

/// The walk's verdict for one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// true: answered; false: not; `None`: the walk met something it does not model.
    pub expected: Option<bool>,
    /// The request's hops, then the reply's.
    pub path: Vec<Arc<Hop>>,
    /// The deciding hop's reason, one sentence.
    pub why: String,
}

const IPVLAN_PARENT: &str = "ipvlan children and their parent's own stack cannot reach each \
other (ipvlan design, as Docker documents: the host is isolated from its ipvlan containers)";

/// Whether the namespace's loopback device is there and down (an inventory without `lo`, as
/// hand-made test worlds are, counts as up).
fn loopback_down(nsi: &crate::inventory::model::NamespaceInventory) -> bool {
    nsi.links
        .iter()
        .find(|l| l.kind == crate::inventory::model::LinkKind::Loopback)
        .is_some_and(|lo| !lo.flags.iter().any(|f| f == "UP"))
}

/// Why a namespace's own packet to `dst` has no route: it has only lo (a none-mode
/// container), or no route covers `dst`.
fn no_route_from(nsi: &crate::inventory::model::NamespaceInventory, dst: Ipv4Addr) -> String {
    let only_lo = nsi.links.iter().all(|l| {
        l.kind == crate::inventory::model::LinkKind::Loopback
            || l.addresses.iter().all(|a| a.ip.is_loopback())
    });
    if only_lo {
        format!(
            "{} has only lo (no other interface with an address): it has no route to anything \
             else",
            nsi.name
        )
    } else {
        format!("{} has no route to {dst}", nsi.name)
    }
}

/// Why a leg stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stop {
    No(String),
    Unknown(String),
}

/// The inventory, indexed for the walk, and the filter seam.
pub(crate) struct World<'a> {
    inv: &'a Inventory,
    /// The inventory's lookups, built once for the run.
    ix: &'a WalkIndex<'a>,
    filter: &'a dyn Filters,
    /// Neighbours learned during this probe's exchange: a namespace that answers a who-has
    /// addressed to it records the asker's MAC (net/ipv4/arp.c, `neigh_event_ns`), so its
    /// reply needs no ARP of its own.
    learned: std::cell::RefCell<Vec<Learned>>,
    /// What the other probes of the run taught, and this probe's index among them (its own
    /// entries do not count).
    taught: Option<(&'a Taught, usize)>,
    /// The first neighbour entry taught by another probe of the run that this walk used.
    used_taught: std::cell::RefCell<Option<Learned>>,
}

/// A neighbour entry an answer to a who-has left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Learned {
    /// The interface that answered and now knows the asker.
    at: IfId,
    /// The asker's address and MAC.
    ip: Ipv4Addr,
    mac: Arc<str>,
    /// Which who-has taught it: the asking interface and the address it asked for (the
    /// reason says "nv-host's who-has for 192.168.50.193"; kept as ids, not text, since a
    /// run's model holds one per entry its probes teach).
    by: (IfId, Ipv4Addr),
    /// Taught by another probe of the same run (not this probe's own exchange).
    in_run: bool,
}

/// A translation done on the request, reversed on the reply where it was done.
#[derive(Debug, Clone)]
struct NatRecord {
    ns: usize,
    orig_src: Ipv4Addr,
    new_src: Ipv4Addr,
    orig_dst: Ipv4Addr,
    new_dst: Ipv4Addr,
}

#[derive(Debug, Clone, Copy)]
struct Packet {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: Protocol,
    dport: Option<u16>,
    ct: CtState,
    /// Its mark, as NAT rules in the namespace it is in set it (cleared on entering another).
    mark: u32,
}

impl Packet {
    /// The packet as NAT matches it in a namespace (`dst_is_local`: one of whose addresses is
    /// its destination), arriving on `iif` and leaving by `oif`: the one constructor for DNAT
    /// (prerouting, output) and source NAT (postrouting).
    fn for_nat<'a>(
        &self,
        dst_is_local: bool,
        iif: Option<&'a str>,
        oif: Option<&'a str>,
    ) -> NatPacket<'a> {
        NatPacket {
            protocol: self.protocol,
            src: self.src,
            dst: self.dst,
            dport: self.dport,
            iif,
            oif,
            dst_is_local,
            mark: self.mark,
        }
    }
}

/// Predict `probe` over `inv`, with the filter chains the inventory read.
pub fn predict(inv: &Inventory, probe: &Probe) -> Prediction {
    predict_with(inv, &InventoryFilters::new(inv), probe)
}

/// Predict `probe` over `inv`, asking `filter` at every hook.
pub fn predict_with(inv: &Inventory, filter: &dyn Filters, probe: &Probe) -> Prediction {
    predict_seeded(&WalkIndex::new(inv), filter, probe, None)
        .0
        .prediction
}

/// Predict every probe of one run over `inv`. Beyond [`predict`], this models how the probes
/// of one run teach each other through neighbour caches: whoever answers a who-has learns the
/// asker's MAC (`neigh_event_ns`), so a probe that fails alone only because its sender cannot
/// resolve an address (a private macvlan child's who-has comes back only to itself) works
/// when another probe of the run made that address's owner ask it. Measured in
/// tests/walk_lab.rs (macvlan private with a hairpin switch: the children's echoes to the
/// host come back in every run, although alone they cannot resolve the host). The run sends
/// every probe within about one timeout and the kernel keeps an unresolved probe queued
/// while it retries ARP, so the order of the probes does not matter.
pub fn predict_all(inv: &Inventory, probes: &[Probe]) -> Vec<Prediction> {
    let model = RunModel::new(inv, probes);
    (0..probes.len()).map(|i| model.predict(i)).collect()
}

/// A run's probes predicted together ([`predict_all`]) but spelled out one at a time:
/// [`RunModel::new`] walks every probe once for what the run teaches (each probe's verdict
/// alone and the neighbour entries its exchange makes), keeping no path or reason;
/// [`RunModel::predict`] then gives one probe's whole prediction, the same as
/// [`predict_all`]'s. A runner that predicts batch by batch holds one batch's paths at a time:
/// all of a 200-container run's 62,221 were about 60 MB of its 132 MB peak.
pub struct RunModel<'a> {
    ix: WalkIndex<'a>,
    filter: InventoryFilters,
    probes: &'a [Probe],
    /// Each probe's verdict, knowing what the run taught.
    verdict: Vec<Option<bool>>,
    taught: Taught,
}

impl<'a> RunModel<'a> {
    pub fn new(inv: &'a Inventory, probes: &'a [Probe]) -> Self {
        let filter = InventoryFilters::new(inv);
        let ix = WalkIndex::new(inv);
        // Every probe walked alone, on a few threads (each with an index of its own: the
        // index's caches are not shared), each range folding what its probes taught as it
        // goes: holding every probe's entries until the end was 7 MB at 200 containers.
        let walked = on_threads(&ix, probes.len(), |ix, range| {
            let mut alone = Vec::with_capacity(range.len());
            let mut taught = Taught::default();
            for j in range {
                let (s, learned) = predict_seeded(ix, &filter, &probes[j], None);
                alone.push(s.prediction.expected);
                teach(&mut taught, j, learned);
            }
            (alone, taught)
        });
        // What the run taught, by (interface, address), with at most two teachers each:
        // enough to find one that is not the probe itself. One index for the run, not a copy
        // of every entry per failing cell (that was quadratic: minutes at 150 containers).
        // The ranges are in probe order, so each entry's first two teachers over the run are
        // the first two of the ranges' own, taken in order.
        let mut alone = Vec::with_capacity(probes.len());
        let mut taught = Taught::default();
        for (verdicts, some) in walked {
            alone.extend(verdicts);
            for (key, teachers) in some {
                let all = taught.entry(key).or_default();
                all.extend(teachers.into_iter().take(2 - all.len().min(2)));
            }
        }
        // A failure alone may turn into a success with what the run taught (never the other
        // way): only those cells are walked again here.
        let failed: Vec<usize> = (0..probes.len())
            .filter(|&i| alone[i] == Some(false))
            .collect();
        let turned = on_threads(&ix, failed.len(), |ix, range| {
            range
                .map(|k| taught_verdict(ix, &filter, probes, &taught, failed[k]))
                .collect::<Vec<_>>()
        });
        for (&i, v) in failed.iter().zip(turned.into_iter().flatten()) {
            alone[i] = v.unwrap_or(Some(false));
        }
        RunModel {
            ix,
            filter,
            probes,
            verdict: alone,
            taught,
        }
    }

    /// Probe `i`'s verdict with what the run taught, without its path and reason.
    pub fn verdict(&self, i: usize) -> Option<bool> {
        self.verdict.get(i).copied().flatten()
    }

    /// Probe `i`'s prediction, knowing what the whole run taught.
    pub fn predict(&self, i: usize) -> Prediction {
        let (ix, filter, probe) = (&self.ix, &self.filter, &self.probes[i]);
        let prediction = predict_seeded(ix, filter, probe, None).0.prediction;
        if prediction.expected != Some(false)
            || probe.kind == WalkKind::Arp
            || self.taught.is_empty()
        {
            return prediction;
        }
        let (with, _) = predict_seeded(ix, filter, probe, Some((&self.taught, i)));
        match (with.prediction.expected, with.used_taught) {
            (Some(true), Some(t)) => Prediction {
                expected: Some(true),
                why: format!(
                    "alone it could not ({}), but {} in this same run reached {} and taught \
                     it {}'s MAC: {}",
                    prediction.why,
                    taught_by(ix.inventory(), t.by),
                    ix.inventory().namespaces[t.at.0].name,
                    t.ip,
                    with.prediction.why
                ),
                path: with.prediction.path,
            },
            _ => prediction,
        }
    }
}

/// Add the entries probe `j`'s exchange taught to `taught`, keeping at most two teachers an
/// entry (enough to find one that is not the probe asking).
fn teach(taught: &mut Taught, j: usize, learned: Vec<Learned>) {
    for l in learned {
        let teachers = taught.entry((l.at, l.ip)).or_default();
        if teachers.len() < 2 && teachers.iter().all(|(k, _)| *k != j) {
            teachers.push((j, Learned { in_run: true, ..l }));
        }
    }
}

/// The verdict of probe `i`, which fails alone, walked again with what the run taught: `None`
/// when that cannot change it.
fn taught_verdict(
    ix: &WalkIndex<'_>,
    filter: &InventoryFilters,
    probes: &[Probe],
    taught: &Taught,
    i: usize,
) -> Option<Option<bool>> {
    let probe = &probes[i];
    if probe.kind == WalkKind::Arp || taught.is_empty() {
        return None;
    }
    let (with, _) = predict_seeded(ix, filter, probe, Some((taught, i)));
    match (with.prediction.expected, with.used_taught) {
        (Some(true), Some(_)) => Some(Some(true)),
        _ => None,
    }
}

/// Split `0..n` into one consecutive range per core (at most four) and run `work` on each,
/// the first on this thread with `ix`, the others on threads of their own, each with an index
/// of its own; the results in range order. A 200-container run's model walks 62,221 probes:
/// 2.3 s on one thread of the 2-core development machine. A thread that cannot be started
/// leaves its range to this one.
fn on_threads<'a, T: Send>(
    ix: &WalkIndex<'a>,
    n: usize,
    work: impl Fn(&WalkIndex<'a>, std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    const FEWEST_PER_THREAD: usize = 2048;
    let threads = std::thread::available_parallelism()
        .map_or(1, |c| c.get())
        .clamp(1, 4)
        .min(n.div_ceil(FEWEST_PER_THREAD).max(1));
    let per = n.div_ceil(threads).max(1);
    let ranges: Vec<std::ops::Range<usize>> = (0..threads)
        .map(|t| (t * per).min(n)..((t + 1) * per).min(n))
        .collect();
    let inv = ix.inventory();
    let work = &work;
    std::thread::scope(|scope| {
        let others: Vec<_> = ranges[1..]
            .iter()
            .map(|r| {
                let mine = r.clone();
                let spawned = std::thread::Builder::new()
                    .name("probe-predict".into())
                    .spawn_scoped(scope, move || work(&WalkIndex::new(inv), mine));
                (r.clone(), spawned)
            })
            .collect();
        let mut out = vec![work(ix, ranges[0].clone())];
        for (r, spawned) in others {
            out.push(match spawned {
                Ok(t) => t
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => work(ix, r),
            });
        }
        out
    })
}

/// The who-has that taught an entry, for a reason: "nv-host's who-has for 192.168.50.193".
fn taught_by(inv: &Inventory, (asker, target): (IfId, Ipv4Addr)) -> String {
    format!("{}'s who-has for {target}", inv.namespaces[asker.0].name)
}

/// Neighbour entries one run's probes taught: (interface, asker's address) -> (the teaching
/// probe's index, the entry).
type Taught = index::HashMap<(IfId, Ipv4Addr), Vec<(usize, Learned)>>;

/// A prediction, and what the walk used from the neighbour entries it was seeded with.
struct Seeded {
    prediction: Prediction,
    used_taught: Option<Learned>,
}

/// Walk `probe`, knowing what the other probes of the run taught (`taught`). Returns the prediction and the
/// entries this probe's own exchange taught.
fn predict_seeded(
    ix: &WalkIndex<'_>,
    filter: &dyn Filters,
    probe: &Probe,
    taught: Option<(&Taught, usize)>,
) -> (Seeded, Vec<Learned>) {
    let world = World {
        inv: ix.inventory(),
        ix,
        filter,
        taught,
        learned: std::cell::RefCell::new(Vec::new()),
        used_taught: Default::default(),
    };
    let mut path = Vec::new();
    let result = world.walk(probe, &mut path);
    let (expected, why) = match result {
        Ok(why) => (Some(true), why),
        Err(Stop::No(why)) => (Some(false), why),
        Err(Stop::Unknown(why)) => (None, format!("unknown: {why}")),
    };
    let own = world
        .learned
        .into_inner()
        .into_iter()
        .filter(|l| !l.in_run)
        .collect();
    (
        Seeded {
            prediction: Prediction {
                expected,
                path,
                why,
            },
            used_taught: world.used_taught.into_inner(),
        },
        own,
    )
}

fn unknown<T>(why: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::Unknown(why.into()))
}

fn no<T>(why: impl Into<String>) -> Result<T, Stop> {
    Err(Stop::No(why.into()))
}

impl World<'_> {
    fn walk(&self, probe: &Probe, path: &mut Vec<Arc<Hop>>) -> Result<String, Stop> {
        let Some(src_ns) = self.ix.namespace(&probe.netns) else {
            return unknown(format!("no namespace {} in the inventory", probe.netns));
        };
        let IpAddr::V4(target) = probe.target else {
            return unknown("IPv6 paths are not modelled");
        };
        let ns = &self.inv.namespaces[src_ns];
        if probe.kind == WalkKind::Arp {
            if self.ix.owner_link(src_ns, target).is_some() {
                return no("the address is the source's own: nobody else answers ARP for it");
            }
            let Some(r) = self.ix.lookup(src_ns, target) else {
                return no(format!("{} has no route to {target}", ns.name));
            };
            // An ARP probe (like arping) asks for the target itself on the route's interface,
            // even when the route goes through a gateway: a router answers for any of its
            // addresses there (arp_ignore 0), measured in tests/walk_worlds.rs.
            if r.route_type != "unicast" {
                return no(format!(
                    "the route to {target} in {} is a {} route: there is no interface to ask on",
                    ns.name, r.route_type
                ));
            }
            let Some(out) = r.dev.as_deref().and_then(|d| self.find(&ns.name, d)) else {
                return unknown("the route names no interface netview read");
            };
            let sender = probe.src.or_else(|| self.ix.source_for(src_ns, r));
            let (answerer, _) = self.arp(out, target, sender, true, path)?;
            let a = self.link(answerer);
            let shared = matches!(a.kind, LinkKind::Ipvlan | LinkKind::Ipvtap);
            return Ok(format!(
                "{} in {} answers the who-has for {target} with {}",
                a.name,
                self.ns_name(answerer),
                if shared {
                    "its parent's MAC: ipvlan children share it"
                } else {
                    "its MAC"
                }
            ));
        }
        let (protocol, dport) = match probe.kind {
            WalkKind::Tcp { port } => (Protocol::Tcp, Some(port)),
            _ => (Protocol::Icmp, None),
        };
        let src = match probe.src {
            Some(s) => s,
            None => match self.ix.owner_link(src_ns, target) {
                Some(_) => target,
                // A route without a usable source (blackhole, prohibit) is decided by the leg.
                None => match self.ix.lookup(src_ns, target) {
                    Some(r) => self
                        .ix
                        .source_for(src_ns, r)
                        .unwrap_or(Ipv4Addr::UNSPECIFIED),
                    None => return no(no_route_from(ns, target)),
                },
            },
        };
        let request = Packet {
            src,
            dst: target,
            protocol,
            dport,
            ct: CtState::New,
            mark: 0,
        };
        let mut records = Vec::new();
        let (at, arrived) = self
            .leg(src_ns, request, path, &mut records)
            .map_err(|s| prefix(s, ""))?;
        let delivered_in = self.inv.namespaces[at].name.clone();
        let reply = Packet {
            src: arrived.dst,
            dst: arrived.src,
            protocol,
            dport: None,
            ct: CtState::Established,
            mark: 0,
        };
        let (back, returned) = self
            .leg(at, reply, path, &mut records)
            .map_err(|s| prefix(s, "the request arrives but the reply does not come back: "))?;
        if back != src_ns || returned.dst != src {
            return no(format!(
                "the reply is delivered to {} in {}, not to the source",
                returned.dst, self.inv.namespaces[back].name
            ));
        }
        let seen = if arrived.src != src {
            format!(", seen there as {}", arrived.src)
        } else {
            String::new()
        };
        let what = match probe.kind {
            WalkKind::Tcp { .. } => "the TCP SYN",
            _ => "the echo request",
        };
        if at == src_ns {
            return Ok("the namespace's own address: delivered locally".to_string());
        }
        Ok(format!(
            "{what} reaches {delivered_in}{seen}, and the reply comes back"
        ))
    }

    /// Route a packet from namespace `start` (as if sent by its own stack) until a namespace
    /// delivers it locally. Returns that namespace and the packet as delivered (after NAT).
    fn leg(
        &self,
        start: usize,
        mut pkt: Packet,
        path: &mut Vec<Arc<Hop>>,
        records: &mut Vec<NatRecord>,
    ) -> Result<(usize, Packet), Stop> {
        let mut ns = start;
        let mut iif: Option<String> = None;
        for _ in 0..32 {
            let nsi = &self.inv.namespaces[ns];
            if let Some(dev) = self.ix.owner_link(ns, pkt.dst) {
                if let Some(i) = &iif {
                    self.check_filter(ns, Hook::Input, &pkt, Some(i), None)?;
                } else if loopback_down(nsi) {
                    // Found by probing a namespace made with `ip netns add` and no `lo up`.
                    return no(format!(
                        "lo is down in {}: a namespace delivers what it sends to its own \
                         addresses through lo, so the packet goes nowhere",
                        nsi.name
                    ));
                }
                path.push(self.hop_at(
                    &nsi.name,
                    dev,
                    &format!("{} is delivered to the local stack", pkt.dst),
                ));
                return Ok((ns, pkt));
            }
            if self.ix.is_subnet_broadcast(ns, pkt.dst) {
                return unknown(
                    "echo to a broadcast address depends on icmp_echo_ignore_broadcasts, which \
                     netview does not read",
                );
            }
            let Some(r) = self.ix.lookup(ns, pkt.dst) else {
                return no(match iif {
                    Some(_) => format!(
                        "the packet reaches {}, which has no route to {} and drops it",
                        nsi.name, pkt.dst
                    ),
                    None => no_route_from(nsi, pkt.dst),
                });
            };
            match r.route_type.as_str() {
                "unicast" => {}
                "blackhole" => {
                    return no(format!(
                        "a blackhole route in {} ({}) drops it silently",
                        nsi.name, r.dst
                    ))
                }
                "unreachable" => {
                    return no(format!(
                        "an unreachable route in {} ({}) refuses it: host unreachable",
                        nsi.name, r.dst
                    ))
                }
                "prohibit" => {
                    return no(format!(
                        "a prohibit route in {} ({}) refuses it: administratively prohibited",
                        nsi.name, r.dst
                    ))
                }
                other => return unknown(format!("a route of type {other} in {}", nsi.name)),
            }
            if iif.is_some() {
                match nsi.ip_forward {
                    Some(true) => {}
                    Some(false) => {
                        // A frame for the parent's own address that a passthru child took.
                        let taken_from = iif
                            .as_deref()
                            .and_then(|i| self.find(&nsi.name, i))
                            .and_then(|i| self.passthru_parent(i))
                            .filter(|p| self.ix.owner_link(p.0, pkt.dst).is_some());
                        if let Some(p) = taken_from {
                            return no(self.passthru_deaf(p));
                        }
                        return no(format!(
                            "ip_forward is off in {}: it does not route packets between its \
                             interfaces",
                            nsi.name
                        ));
                    }
                    None => return unknown(format!("ip_forward of {} was not read", nsi.name)),
                }
            }
            let Some(dev) = r.dev.clone() else {
                return unknown(format!("a route in {} names no interface", nsi.name));
            };
            let Some(out) = self.find(&nsi.name, &dev) else {
                return unknown(format!("interface {dev} of {} was not read", nsi.name));
            };
            let hook = if iif.is_some() {
                Hook::Forward
            } else {
                Hook::Output
            };
            self.check_filter(ns, hook, &pkt, iif.as_deref(), Some(&dev))?;
            if pkt.ct == CtState::New {
                let before = pkt;
                if iif.is_none() {
                    self.nat(ns, NatHook::Output, &mut pkt, None, Some(&dev), path)?;
                }
                let masq_src = self.ix.source_for(ns, r);
                self.snat(ns, &mut pkt, iif.as_deref(), &dev, masq_src, path)?;
                if pkt.src != before.src || pkt.dst != before.dst {
                    records.push(NatRecord {
                        ns,
                        orig_src: before.src,
                        new_src: pkt.src,
                        orig_dst: before.dst,
                        new_dst: pkt.dst,
                    });
                }
            }
            let out_link = self.link(out);
            if matches!(out_link.kind, LinkKind::Ipvlan | LinkKind::Ipvtap)
                && out_link.mode.as_deref() != Some("l2")
            {
                // ipvlan l3/l3s (Documentation/networking/ipvlan.rst): no ARP; a sibling
                // holding the address gets it by IP, anything else is routed by the parent's
                // namespace as its own output, except the parent's own addresses.
                let parent = self.parent_of(out).map_err(Stop::Unknown)?;
                let kinds = [LinkKind::Ipvlan, LinkKind::Ipvtap];
                if let Some(s) = self
                    .children(parent, &kinds)
                    .into_iter()
                    .find(|s| *s != out && self.holds(*s, pkt.dst))
                {
                    path.push(self.hop(s, "ipvlan delivers it to this sibling by IP address"));
                    ns = s.0;
                    iif = Some(self.link(s).name.clone());
                    continue;
                }
                if self.ix.owner_link(parent.0, pkt.dst).is_some() {
                    return no(IPVLAN_PARENT);
                }
                path.push(self.hop(
                    parent,
                    "ipvlan l3 hands it to the parent's namespace, which routes it",
                ));
                ns = parent.0;
                iif = None;
                continue;
            }
            let nexthop = match &r.gateway {
                Some(g) => match g.parse::<Ipv4Addr>() {
                    Ok(g) => g,
                    Err(_) => return unknown(format!("gateway {g} in {}", nsi.name)),
                },
                None => pkt.dst,
            };
            let sender = if self.ix.owner_link(ns, pkt.src).is_some() {
                Some(pkt.src)
            } else {
                self.ix.source_for(ns, r)
            };
            path.push(self.hop(
                out,
                match &r.gateway {
                    Some(g) => format!("routed by {} via {g}", r.dst),
                    None => format!("routed on-link by {}", r.dst),
                },
            ));
            let (_, mac) = self.arp(out, nexthop, sender, false, path)?;
            let frame = Frame {
                src_mac: out_link.mac.clone().unwrap_or_default(),
                dst: Dst::Mac(mac.clone()),
                ip_dst: Some(pkt.dst),
            };
            let reach = self.send_frame(out, &frame).map_err(Stop::Unknown)?;
            let Some(rx) = reach.stacks.first() else {
                return no(format!(
                    "the frame for {nexthop} ({mac}) leaves {dev} in {} but never reaches it",
                    nsi.name
                ));
            };
            path.extend(self.path_to(&reach, rx));
            if rx.to.0 != ns {
                // A packet entering another namespace loses its mark (the kernel scrubs it).
                pkt.mark = 0;
            }
            ns = rx.to.0;
            let in_dev = self.link(rx.to).name.clone();
            // Prerouting: the reply's reverse translation, or DNAT for a new flow.
            if pkt.ct == CtState::Established {
                for rec in records.iter().filter(|r| r.ns == ns) {
                    if pkt.dst == rec.new_src {
                        pkt.dst = rec.orig_src;
                    }
                    if pkt.src == rec.new_dst {
                        pkt.src = rec.orig_dst;
                    }
                }
            } else {
                let before = pkt;
                self.nat(ns, NatHook::Prerouting, &mut pkt, Some(&in_dev), None, path)?;
                if pkt.dst != before.dst {
                    records.push(NatRecord {
                        ns,
                        orig_src: before.src,
                        new_src: pkt.src,
                        orig_dst: before.dst,
                        new_dst: pkt.dst,
                    });
                    self.bridged_dnat(out, rx.to, pkt.dst)?;
                }
            }
            self.rp_filter(rx.to, pkt.src)?;
            iif = Some(in_dev);
        }
        unknown("the path is longer than 32 hops")
    }

    fn check_filter(
        &self,
        ns: usize,
        hook: Hook,
        pkt: &Packet,
        iif: Option<&str>,
        oif: Option<&str>,
    ) -> Result<(), Stop> {
        let facts = PacketFacts {
            protocol: pkt.protocol.number(),
            src: pkt.src.into(),
            dst: pkt.dst.into(),
            // A probe's source port is the kernel's pick; rules on it are not matched.
            sport: None,
            dport: pkt.dport,
            iif: iif.map(str::to_string),
            oif: oif.map(str::to_string),
            ct: pkt.ct,
        };
        let name = &self.inv.namespaces[ns].name;
        match self.filter.verdict(name, hook, &facts) {
            FilterVerdict::Accept { .. } => Ok(()),
            FilterVerdict::Drop { by } => no(format!(
                "{} in {name} drops it at the {} hook",
                filter::describe(&by),
                hook.as_str()
            )),
            FilterVerdict::Reject { by } => no(format!(
                "{} in {name} rejects it at the {} hook",
                filter::describe(&by),
                hook.as_str()
            )),
            FilterVerdict::Unknown { why } => unknown(why),
        }
    }

    /// DNAT (prerouting, output) on a new flow.
    fn nat(
        &self,
        ns: usize,
        hook: NatHook,
        pkt: &mut Packet,
        iif: Option<&str>,
        oif: Option<&str>,
        path: &mut Vec<Arc<Hop>>,
    ) -> Result<(), Stop> {
        let nsi = &self.inv.namespaces[ns];
        let mut np = pkt.for_nat(self.ix.owner_link(ns, pkt.dst).is_some(), iif, oif);
        let eval = nat::evaluate(&nsi.nat, hook, &mut np);
        pkt.mark = np.mark;
        match eval {
            NatEval::Untouched => Ok(()),
            NatEval::Dnat { to, port, rule } => {
                path.push(self.hop_at(
                    &nsi.name,
                    iif.or(oif).unwrap_or(""),
                    &format!("DNAT to {to} ({rule})"),
                ));
                pkt.dst = to;
                if port.is_some() {
                    pkt.dport = port;
                }
                Ok(())
            }
            NatEval::Unknown { rule } => unknown(format!(
                "NAT rule \"{rule}\" in {} is not modelled",
                nsi.name
            )),
            NatEval::Masquerade { rule } | NatEval::Snat { rule, .. } => unknown(format!(
                "source NAT rule \"{rule}\" outside postrouting in {}",
                nsi.name
            )),
        }
    }

    /// br_netfilter (`net.bridge.bridge-nf-call-iptables=1`) runs prerouting DNAT as a frame
    /// from `sender` enters a port of the bridge `at`, and when the new destination is reached
    /// through the same bridge the frame is bridged from that port, not routed (the kernel's
    /// `br_nf_pre_routing_finish`): back to the sender's own namespace only through a hairpin
    /// port. Elsewhere the routed walk that follows decides.
    fn bridged_dnat(&self, sender: IfId, at: IfId, dst: Ipv4Addr) -> Result<(), Stop> {
        let nsi = &self.inv.namespaces[at.0];
        let bridge = self.link(at);
        if bridge.kind != LinkKind::Bridge {
            return Ok(());
        }
        let port = self
            .link(sender)
            .peer
            .as_ref()
            .and_then(|r| self.find(r.netns.as_deref()?, r.name.as_deref()?));
        let Some(port) = port.filter(|p| {
            p.0 == at.0 && self.link(*p).master.as_deref() == Some(bridge.name.as_str())
        }) else {
            return Ok(());
        };
        let back_to_sender = self.ix.owner_link(sender.0, dst).is_some();
        let same_bridge = self
            .ix
            .lookup(at.0, dst)
            .is_some_and(|r| r.dev.as_deref() == Some(bridge.name.as_str()));
        if !back_to_sender || !same_bridge {
            return Ok(());
        }
        let pname = &self.link(port).name;
        match (
            nsi.bridge_nf_call_iptables,
            nsi.conf.get(pname).and_then(|c| c.hairpin),
        ) {
            (Some(false), _) | (_, Some(true)) => Ok(()),
            (Some(true), Some(false)) => no(format!(
                "br_netfilter is on in {} (net.bridge.bridge-nf-call-iptables=1), so the DNATed \
                 frame is bridged back, not routed, and bridge port {pname} has no hairpin: it \
                 is not sent back out where it came from",
                nsi.name
            )),
            (None, _) => unknown(format!(
                "net.bridge.bridge-nf-call-iptables of {} was not read (it decides whether a \
                 DNAT back to the sender is bridged or routed)",
                nsi.name
            )),
            (Some(true), None) => unknown(format!(
                "the hairpin flag of bridge port {pname} in {} was not read",
                nsi.name
            )),
        }
    }

    /// Postrouting: masquerade or SNAT on a new flow.
    fn snat(
        &self,
        ns: usize,
        pkt: &mut Packet,
        iif: Option<&str>,
        oif: &str,
        masq_src: Option<Ipv4Addr>,
        path: &mut Vec<Arc<Hop>>,
    ) -> Result<(), Stop> {
        let nsi = &self.inv.namespaces[ns];
        let mut np = pkt.for_nat(self.ix.owner_link(ns, pkt.dst).is_some(), iif, Some(oif));
        let eval = nat::evaluate(&nsi.nat, NatHook::Postrouting, &mut np);
        pkt.mark = np.mark;
        let (to, rule) = match eval {
            NatEval::Untouched => return Ok(()),
            NatEval::Masquerade { rule } => match masq_src {
                Some(a) => (a, rule),
                None => {
                    return unknown(format!(
                        "{oif} in {} has no address to masquerade to",
                        nsi.name
                    ))
                }
            },
            NatEval::Snat { to, rule } => (to, rule),
            NatEval::Unknown { rule } => {
                return unknown(format!(
                    "NAT rule \"{rule}\" in {} is not modelled",
                    nsi.name
                ))
            }
            NatEval::Dnat { rule, .. } => {
                return unknown(format!(
                    "DNAT rule \"{rule}\" in postrouting in {}",
                    nsi.name
                ))
            }
        };
        path.push(self.hop_at(
            &nsi.name,
            oif,
            &format!("source rewritten to {to} ({rule})"),
        ));
        pkt.src = to;
        Ok(())
    }

    /// Reverse-path filtering of a packet from `src` arriving on `at`.
    fn rp_filter(&self, at: IfId, src: Ipv4Addr) -> Result<(), Stop> {
        let nsi = &self.inv.namespaces[at.0];
        let dev = &self.link(at).name;
        if self.ix.owner_link(at.0, src).is_some() {
            return Ok(());
        }
        let back = self
            .ix
            .lookup(at.0, src)
            .filter(|r| r.route_type == "unicast");
        if back.is_some_and(|r| r.dev.as_deref() == Some(dev.as_str())) {
            return Ok(());
        }
        match nsi.rp_filter(dev) {
            Some(0) => Ok(()),
            Some(1) => no(format!(
                "strict reverse-path filtering (rp_filter=1) in {} drops it: the route back to \
                 {src} does not leave by {dev}, where it came in",
                nsi.name
            )),
            Some(_) if back.is_some() => Ok(()),
            Some(_) => no(format!(
                "loose reverse-path filtering (rp_filter=2) in {} drops it: no route back to {src}",
                nsi.name
            )),
            None => unknown(format!(
                "the route back to {src} does not leave {dev} in {} and its rp_filter was not read",
                nsi.name
            )),
        }
    }

    /// Resolve `target` from `from` by ARP. `probe`: an ARP probe's packet socket, which sees
    /// the answer arrive at the device even when the stack never gets it. Returns who answered
    /// and the MAC it answered with.
    fn arp(
        &self,
        from: IfId,
        target: Ipv4Addr,
        sender: Option<Ipv4Addr>,
        probe: bool,
        path: &mut Vec<Arc<Hop>>,
    ) -> Result<(IfId, String), Stop> {
        let link = self.link(from);
        let ns_name = self.ns_name(from).to_string();
        if link.has_flag("NOARP") {
            return no(format!(
                "{} in {ns_name} does not do ARP (NOARP): it cannot resolve {target}",
                link.name
            ));
        }
        let Some(from_mac) = link.mac.clone() else {
            return unknown(format!(
                "the MAC of {} in {ns_name} was not read",
                link.name
            ));
        };
        if !probe {
            let known = self
                .learned
                .borrow()
                .iter()
                .find(|l| l.at == from && l.ip == target)
                .cloned()
                .or_else(|| {
                    let (taught, me) = self.taught?;
                    taught
                        .get(&(from, target))?
                        .iter()
                        .find(|(j, _)| *j != me)
                        .map(|(_, l)| l.clone())
                });
            if let Some(l) = known {
                path.push(self.hop(
                    from,
                    if l.in_run {
                        format!(
                            "already knows {target}'s MAC: {} in this same run taught it",
                            taught_by(self.inv, l.by)
                        )
                    } else {
                        format!("already knows {target}'s MAC from its who-has")
                    },
                ));
                if l.in_run {
                    self.used_taught.borrow_mut().get_or_insert(l.clone());
                }
                return Ok((from, l.mac.to_string()));
            }
        }
        let who_has = Frame {
            src_mac: from_mac.clone(),
            dst: Dst::Broadcast,
            ip_dst: None,
        };
        let reach = self.send_frame(from, &who_has).map_err(Stop::Unknown)?;
        let mut answered_but_lost = None;
        for rx in reach.stacks.iter().filter(|d| d.to != from) {
            let rns = &self.inv.namespaces[rx.to.0];
            let rlink = self.link(rx.to);
            if rlink.has_flag("NOARP") {
                continue;
            }
            let own = self.ix.owner_link(rx.to.0, target).is_some() && !target.is_loopback();
            let proxy = !own
                && rns.proxy_arp(&rlink.name) == Some(true)
                && rns.ip_forward == Some(true)
                && self.ix.lookup(rx.to.0, target).is_some_and(|r| {
                    r.route_type == "unicast" && r.dev.as_deref() != Some(rlink.name.as_str())
                });
            if !own && !proxy {
                continue;
            }
            // arp_process checks the asker's address like any input (ip_route_input).
            if let Some(s) = sender {
                match self.rp_filter(rx.to, s) {
                    Ok(()) => {}
                    Err(Stop::No(_)) => continue,
                    Err(unread) => return Err(unread),
                }
            }
            let Some(rmac) = rlink.mac.clone() else {
                continue;
            };
            let reply = Frame {
                src_mac: rmac.clone(),
                dst: Dst::Mac(from_mac.clone()),
                ip_dst: sender,
            };
            let back = self.send_frame(rx.to, &reply).map_err(Stop::Unknown)?;
            let got = if probe {
                back.arrivals
                    .iter()
                    .chain(back.stacks.iter())
                    .find(|d| d.to == from)
            } else {
                back.stacks.iter().find(|d| d.to == from)
            };
            match got {
                Some(d) => {
                    if let Some(s) = sender.filter(|_| own) {
                        self.learned.borrow_mut().push(Learned {
                            at: rx.to,
                            ip: s,
                            mac: self.ix.text(&from_mac),
                            by: (from, target),
                            in_run: false,
                        });
                    }
                    path.extend(self.path_to(&reach, rx));
                    path.push(self.hop(
                        rx.to,
                        if proxy {
                            format!("answers ARP for {target} by proxy ARP")
                        } else {
                            format!("answers ARP for {target}")
                        },
                    ));
                    path.extend(self.path_to(&back, d));
                    return Ok((rx.to, rmac));
                }
                None => answered_but_lost = Some(rx.to),
            }
        }
        match answered_but_lost {
            Some(_) if self.passthru_child(from).is_some() => no(self.passthru_deaf(from)),
            Some(a) => no(format!(
                "{} in {} answers ARP for {target}, but its answer never reaches {} in {ns_name}",
                self.link(a).name,
                self.ns_name(a),
                link.name
            )),
            None => no(self.why_no_answer(from, target).unwrap_or_else(|| {
                format!(
                    "nobody that {} in {ns_name} reaches at layer 2 answers ARP for {target}",
                    link.name
                )
            })),
        }
    }
}

fn prefix(stop: Stop, text: &str) -> Stop {
    match stop {
        Stop::No(s) => Stop::No(format!("{text}{s}")),
        Stop::Unknown(s) => Stop::Unknown(format!("{text}{s}")),
    }
}

#[cfg(test)]
mod tests;
