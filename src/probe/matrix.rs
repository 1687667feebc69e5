//! The all-pairs matrix: which cells to probe, the runner that probes them all at once, and
//! the compact text layout.
//!
//! The runner hands the prober a batch of every source's probes at once (the kernel prober
//! sends them all and waits for every answer together), so a whole matrix takes about one
//! timeout, not one per pair. A large matrix runs in batches planned by [`super::pacing`] so
//! the neighbour entries its probes need stay under the kernel's limits. The packet walk's
//! expectations come from a thread of their own (`Predicted`), a batch ahead of the runner.
//! Results are handed to a sink as they arrive (the CLI writes them out and keeps nothing, the
//! TUI fills its matrix live). The kernel work is behind [`Prober`] and
//! [`NeighbourTable`], so the runner and the layout are tested with fakes, without root.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cell::{Cell, CellResult, Expectation};
use super::pacing::{self, NeighbourLimits, NeighbourTable, PacingPlan};
use super::topology::{ProbeEndpoint, ProbeLab};
use super::walk;
use super::{Observation, ProbeError, ProbeKind, ProbeOutcome};

/// A finished matrix, in plan order.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixRun {
    pub elapsed_ms: u64,
    pub results: Vec<CellResult>,
    /// How the run was paced; `None` when it ran in one batch.
    pub pacing: Option<Pacing>,
}

impl MatrixRun {
    pub fn mismatches(&self) -> impl Iterator<Item = &CellResult> {
        self.results.iter().filter(|r| r.mismatch())
    }
}

/// What to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Source endpoint names; empty means every endpoint.
    pub from: Vec<String>,
    /// Target endpoint names or addresses; empty means every endpoint.
    pub to: Vec<String>,
    pub kinds: Vec<ProbeKind>,
    pub tcp_port: u16,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            from: Vec::new(),
            to: Vec::new(),
            kinds: vec![ProbeKind::Icmp, ProbeKind::Arp],
            tcp_port: 80,
        }
    }
}

enum TargetSel<'a> {
    Endpoint(&'a ProbeEndpoint),
    Address(IpAddr),
}

/// The cells to probe: every selected source to every address of every selected target, for
/// each kind. ARP cells exist only where the target is on-link for the source and in another
/// namespace (nobody answers a who-has for one's own address).
pub fn plan(lab: &ProbeLab, opts: &PlanOptions) -> Result<Vec<Cell>, ProbeError> {
    let sources: Vec<&ProbeEndpoint> = if opts.from.is_empty() {
        lab.endpoints.iter().collect()
    } else {
        opts.from
            .iter()
            .map(|n| {
                lab.endpoint(n)
                    .ok_or_else(|| ProbeError::UnknownEndpoint(n.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    let targets: Vec<TargetSel> = if opts.to.is_empty() {
        lab.endpoints.iter().map(TargetSel::Endpoint).collect()
    } else {
        opts.to
            .iter()
            .map(|n| match lab.endpoint(n) {
                Some(e) => Ok(TargetSel::Endpoint(e)),
                None => n
                    .parse::<IpAddr>()
                    .map(TargetSel::Address)
                    .map_err(|_| ProbeError::UnknownEndpoint(n.clone())),
            })
            .collect::<Result<_, _>>()?
    };
    // A source, target or kind named twice is probed once: a cell is its (from, to, address,
    // kind), and the layout, the walk and the report all count on that. Each name is one
    // shared string for all its cells.
    let mut seen_sources = std::collections::HashSet::new();
    let sources: Vec<(&ProbeEndpoint, Arc<str>)> = sources
        .into_iter()
        .filter(|s| seen_sources.insert(s.name.as_str()))
        .map(|s| (s, Arc::from(s.name.as_str())))
        .collect();
    let mut seen_targets = std::collections::HashSet::new();
    let targets: Vec<(Arc<str>, Vec<IpAddr>, TargetSel)> = targets
        .into_iter()
        .filter_map(|t| {
            let (to, mut addrs) = match &t {
                TargetSel::Endpoint(e) => (
                    e.name.clone(),
                    e.target_addresses().map(|a| a.ip).collect::<Vec<_>>(),
                ),
                TargetSel::Address(ip) => (ip.to_string(), vec![*ip]),
            };
            let mut seen_ips = std::collections::HashSet::new();
            addrs.retain(|ip| seen_ips.insert(*ip));
            seen_targets
                .insert(to.clone())
                .then(|| (Arc::from(to), addrs, t))
        })
        .collect();
    let mut kinds = opts.kinds.clone();
    let mut seen_kinds = std::collections::HashSet::new();
    kinds.retain(|k| seen_kinds.insert(*k));
    // At most this many (ARP cells only where on-link): one allocation, no doubling.
    let most = sources.len() * targets.iter().map(|t| t.1.len()).sum::<usize>() * kinds.len();
    let mut cells = Vec::with_capacity(most);
    for (src, from) in &sources {
        for (to, addrs, tgt) in &targets {
            let same_ns = match tgt {
                TargetSel::Endpoint(e) => e.netns_path == src.netns_path,
                TargetSel::Address(ip) => src.addresses.iter().any(|a| a.ip == *ip),
            };
            for &ip in addrs {
                for &kind in &kinds {
                    let wanted = match kind {
                        ProbeKind::Arp => {
                            ip.is_ipv4() && !same_ns && src.arp_interface_for(ip).is_some()
                        }
                        _ => true,
                    };
                    if wanted {
                        cells.push(Cell {
                            from: from.clone(),
                            to: to.clone(),
                            target_ip: ip,
                            kind,
                            port: (kind == ProbeKind::Tcp).then_some(opts.tcp_port),
                        });
                    }
                }
            }
        }
    }
    Ok(cells)
}

/// A planned run: the endpoints and the cells, planned once and handed as they are to the
/// runner (the TUI shows the same cells it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePlan {
    pub lab: ProbeLab,
    pub cells: Vec<Cell>,
}

/// What the packet walk predicts from: the live inventory of every namespace, and which of
/// its namespaces each probe endpoint is (found by the caller, by namespace inode).
#[derive(Debug, Clone, Default)]
pub struct WalkWorld {
    pub inventory: crate::inventory::model::Inventory,
    /// Endpoint name -> the inventory's name of its namespace.
    pub netns_of: HashMap<String, String>,
}

/// Every cell's expectation, from the packet walk over `walk` (the live inventory of every
/// namespace, lab endpoints included), the run's cells together (`walk::RunModel`: one
/// probe's who-has can teach another's sender); without it, no prediction.
pub fn expect_cells(cells: &[Cell], walk: Option<&WalkWorld>) -> Vec<Expectation> {
    let (at, probes) = walk_probes(cells, walk);
    let expectations = Expectations::new(cells, walk, &at, &probes);
    (0..cells.len())
        .map(|t| expectations.expectation(t))
        .collect()
}

/// The walk's probe for one cell, when its source's namespace is in the inventory; `names`
/// keeps one shared string per namespace for the run's probes.
fn walk_probe<'w>(
    w: &'w WalkWorld,
    cell: &Cell,
    names: &mut HashMap<&'w str, Arc<str>>,
) -> Option<walk::Probe> {
    let netns = w.netns_of.get(&*cell.from)?;
    let netns = names
        .entry(netns.as_str())
        .or_insert_with(|| Arc::from(netns.as_str()))
        .clone();
    let kind = match cell.kind {
        ProbeKind::Icmp => walk::WalkKind::Icmp,
        ProbeKind::Arp => walk::WalkKind::Arp,
        ProbeKind::Tcp => walk::WalkKind::Tcp {
            port: cell.port.unwrap_or(80),
        },
    };
    Some(walk::Probe {
        netns,
        src: None,
        target: cell.target_ip,
        kind,
    })
}

/// One probe as a worker gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedProbe {
    /// Index of the cell in the plan; report results with it.
    pub token: usize,
    pub kind: ProbeKind,
    pub target: IpAddr,
    pub port: Option<u16>,
    /// ICMP identifier and sequence number, unique within a run (seen-as matches on them).
    pub icmp_id: u16,
    pub icmp_seq: u16,
}

/// One source's probes in a batch.
#[derive(Debug, Clone)]
pub struct SourceProbes<'a> {
    pub source: &'a ProbeEndpoint,
    pub probes: Vec<PlannedProbe>,
}

/// What a whole run will probe, for the prober to prepare before the first batch.
#[derive(Debug, Clone, Default)]
pub struct RunPlan<'a> {
    /// Every source, with every target its ARP probes will ask (each once).
    pub sources: Vec<(&'a ProbeEndpoint, Vec<IpAddr>)>,
    /// Every endpoint its ICMP probes target (where "seen as" is recorded).
    pub icmp_targets: Vec<&'a ProbeEndpoint>,
}

/// The kernel side of the matrix, so the runner can be tested with a fake.
pub trait Prober {
    /// Called once before any probe with what the run will probe; returns when the probes
    /// can be sent and their targets heard.
    fn begin(&self, _run: &RunPlan<'_>) -> Result<(), ProbeError> {
        Ok(())
    }

    /// Run one batch: every probe of every source at once, each result handed to
    /// `report(token, observation)` as soon as it is known. Probes left unreported count as
    /// failures; an error fails every probe of the batch not yet reported.
    fn run_batch(
        &self,
        batch: &[SourceProbes<'_>],
        timeout: Duration,
        report: &mut dyn FnMut(usize, Observation),
    ) -> Result<(), ProbeError>;

    /// Called once after every batch is done (close the sockets).
    fn end(&self) {}
}

/// The least room a paced run plans with, even when the table is nearly full already (then
/// the plan says so): fewer would make thousands of batches.
pub const MIN_PACING_ROOM: usize = 64;

/// The base of this run's ICMP identifiers: distinct per process, so two netview runs at the
/// same time do not take each other's replies.
fn id_base() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (std::process::id() as u16)
        .wrapping_mul(31)
        .wrapping_add(nanos as u16)
}

/// How a run was paced: present (JSON `"pacing"`) only when the run took more than one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pacing {
    pub batches: usize,
    /// Waits of [`pacing::RECLAIM_AGE`] for the kernel to be able to reclaim entries in
    /// namespaces netview does not own.
    pub reclaim_waits: usize,
    /// Distinct neighbour entries the whole run needs (netview's model of them).
    pub entries_needed: usize,
    /// How many it planned to have at once.
    pub room: usize,
    pub limits: NeighbourLimits,
    /// Why, in one sentence.
    pub why: String,
}

impl Pacing {
    fn of(plan: &PacingPlan, limits: NeighbourLimits) -> Pacing {
        let reclaim_waits = plan.batches.iter().filter(|b| b.wait_for_reclaim).count();
        let mut why = format!(
            "the probes need about {} neighbour entries and the kernel's table, shared by every \
             namespace, holds {} (gc_thresh3; {} in use, {} left for the host's traffic), so \
             they ran in {} batches of at most {} entries, each batch's entries deleted after \
             it in netview's own namespaces",
            plan.needed,
            limits.gc_thresh3,
            limits.entries,
            limits.gc_thresh1,
            plan.batches.len(),
            plan.room
        );
        if reclaim_waits > 0 {
            why.push_str(&format!(
                ", with {reclaim_waits} waits of {} s for the kernel to reclaim them elsewhere",
                pacing::RECLAIM_AGE.as_secs()
            ));
        }
        if limits.room() < plan.room {
            why.push_str(" (the table was nearly full before the run: some probes may still fail)");
        }
        Pacing {
            batches: plan.batches.len(),
            reclaim_waits,
            entries_needed: plan.needed,
            room: plan.room,
            limits,
            why,
        }
    }
}

/// What a run ends with when its results went to a sink: the counts and how it was paced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub elapsed_ms: u64,
    pub cells: usize,
    pub mismatches: usize,
    /// Cells without a prediction (`expected: null`).
    pub unknown: usize,
    /// Cells probed a second time: expected to answer, they heard nothing in a batch during
    /// which the kernel dropped packets at its input queues (`/proc/net/softnet_stat`).
    pub retried: usize,
    pub pacing: Option<Pacing>,
}

/// Where a run's results go, as they arrive: the CLI's reports write them out and keep
/// nothing; [`run_matrix_with`] collects them.
pub trait MatrixSink {
    /// Called once before the first result when the run is paced.
    fn paced(&mut self, _pacing: &Pacing) {}
    fn result(&mut self, r: CellResult);
}

/// Any `FnMut(&CellResult)` is a sink that ignores pacing.
pub struct OnResult<'a>(pub &'a mut dyn FnMut(&CellResult));

impl MatrixSink for OnResult<'_> {
    fn result(&mut self, r: CellResult) {
        (self.0)(&r)
    }
}

/// Probe every cell, all at once, calling `on_result` with each cell as soon as it is known
/// (in arrival order). Returns every result in plan order.
pub fn run_matrix(
    prober: &dyn Prober,
    lab: &ProbeLab,
    cells: &[Cell],
    timeout: Duration,
    on_result: &mut dyn FnMut(&CellResult),
) -> Result<MatrixRun, ProbeError> {
    run_matrix_with(prober, lab, cells, None, timeout, on_result)
}

/// [`run_matrix`], with the packet walk predicting the cells outside the lab over `walk`.
/// Not paced (see [`run_paced`]).
pub fn run_matrix_with(
    prober: &dyn Prober,
    lab: &ProbeLab,
    cells: &[Cell],
    walk: Option<&WalkWorld>,
    timeout: Duration,
    on_result: &mut dyn FnMut(&CellResult),
) -> Result<MatrixRun, ProbeError> {
    let opts = RunOptions {
        walk,
        timeout,
        table: &pacing::Unpaced,
    };
    collect(prober, lab, cells, &opts, on_result)
}

/// Run paced with `opts` and collect every result in plan order (the TUI keeps the matrix).
pub fn collect(
    prober: &dyn Prober,
    lab: &ProbeLab,
    cells: &[Cell],
    opts: &RunOptions<'_>,
    on_result: &mut dyn FnMut(&CellResult),
) -> Result<MatrixRun, ProbeError> {
    collect_paced(prober, lab, cells, opts, &mut |_| {}, on_result)
}

/// [`collect`], telling `on_paced` how the run is paced before its first result.
pub fn collect_paced(
    prober: &dyn Prober,
    lab: &ProbeLab,
    cells: &[Cell],
    opts: &RunOptions<'_>,
    on_paced: &mut dyn FnMut(&Pacing),
    on_result: &mut dyn FnMut(&CellResult),
) -> Result<MatrixRun, ProbeError> {
    struct Collect<'a> {
        results: Vec<Option<CellResult>>,
        on_paced: &'a mut dyn FnMut(&Pacing),
        on_result: &'a mut dyn FnMut(&CellResult),
    }
    impl MatrixSink for Collect<'_> {
        fn paced(&mut self, pacing: &Pacing) {
            (self.on_paced)(pacing)
        }
        fn result(&mut self, r: CellResult) {
            (self.on_result)(&r);
            let i = r.index;
            if let Some(slot) = self.results.get_mut(i) {
                *slot = Some(r);
            }
        }
    }
    let mut sink = Collect {
        results: vec![None; cells.len()],
        on_paced,
        on_result,
    };
    let summary = run_paced(prober, lab, cells, opts, &mut sink)?;
    Ok(MatrixRun {
        elapsed_ms: summary.elapsed_ms,
        results: sink.results.into_iter().flatten().collect(),
        pacing: summary.pacing,
    })
}

/// How to run a matrix.
pub struct RunOptions<'a> {
    /// The packet walk's world, for the cells it predicts.
    pub walk: Option<&'a WalkWorld>,
    pub timeout: Duration,
    /// The kernel's neighbour table ([`pacing::KernelNeighbours`]), or [`pacing::Unpaced`].
    pub table: &'a dyn NeighbourTable,
}

/// What the prober prepares for: each source's ARP targets (each once) and the ICMP targets.
fn run_plan<'a>(
    lab: &'a ProbeLab,
    cells: &[Cell],
    sources: &[&'a ProbeEndpoint],
    ids: &[(usize, u16)],
) -> RunPlan<'a> {
    let mut arp: Vec<Vec<IpAddr>> = vec![Vec::new(); sources.len()];
    let mut asked: std::collections::HashSet<(usize, IpAddr)> = std::collections::HashSet::new();
    let mut icmp_targets: Vec<&ProbeEndpoint> = Vec::new();
    let mut targeted: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (cell, &(si, _)) in cells.iter().zip(ids) {
        match cell.kind {
            ProbeKind::Arp => {
                if asked.insert((si, cell.target_ip)) {
                    arp[si].push(cell.target_ip);
                }
            }
            ProbeKind::Icmp => {
                if let Some(t) = lab.endpoint(&cell.to) {
                    if targeted.insert(t.name.as_str()) {
                        icmp_targets.push(t);
                    }
                }
            }
            ProbeKind::Tcp => {}
        }
    }
    RunPlan {
        sources: sources.iter().copied().zip(arp).collect(),
        icmp_targets,
    }
}

/// The cells the walk can start (their source's namespace was read): for each cell its
/// probe's index, and the probes.
fn walk_probes(cells: &[Cell], walk: Option<&WalkWorld>) -> (Vec<Option<usize>>, Vec<walk::Probe>) {
    let mut probes = Vec::new();
    let mut names = HashMap::new();
    let at = cells
        .iter()
        .map(|c| {
            let p = walk_probe(walk?, c, &mut names)?;
            probes.push(p);
            Some(probes.len() - 1)
        })
        .collect();
    (at, probes)
}

/// The run's expectations, from the packet walk's model of the whole run (one cell's ARP can
/// teach another's host), spelled out a batch at a time.
struct Expectations<'a> {
    cells: &'a [Cell],
    /// Each cell's probe in the model (`None`: its source's namespace was not read).
    at: &'a [Option<usize>],
    model: Option<walk::RunModel<'a>>,
}

impl<'a> Expectations<'a> {
    fn new(
        cells: &'a [Cell],
        walk: Option<&'a WalkWorld>,
        at: &'a [Option<usize>],
        probes: &'a [walk::Probe],
    ) -> Self {
        let model = walk.map(|w| {
            let started = std::time::Instant::now();
            let model = walk::RunModel::new(&w.inventory, probes);
            tracing::debug!(
                target: "netview::probe::walk",
                cells = probes.len(),
                namespaces = w.inventory.namespaces.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "cells predicted"
            );
            model
        });
        Expectations { cells, at, model }
    }

    /// Whether the walk expects cell `token` to be answered (`None`: no prediction).
    fn verdict(&self, token: usize) -> Option<bool> {
        let i = (*self.at.get(token)?)?;
        self.model.as_ref()?.verdict(i)
    }

    /// The expectations of a batch's cells, in its order, one `Arc` per distinct one.
    fn batch(&self, tokens: &[usize]) -> Vec<Arc<Expectation>> {
        let mut seen: std::collections::HashSet<Arc<Expectation>> =
            std::collections::HashSet::new();
        tokens
            .iter()
            .map(|&t| {
                let e = self.expectation(t);
                match seen.get(&e) {
                    Some(a) => a.clone(),
                    None => {
                        let a = Arc::new(e);
                        seen.insert(a.clone());
                        a
                    }
                }
            })
            .collect()
    }

    fn expectation(&self, token: usize) -> Expectation {
        let Some(model) = &self.model else {
            return Expectation::unknown();
        };
        match self.at.get(token).copied().flatten() {
            Some(i) => {
                let mut p = model.predict(i);
                // Held for a whole batch (the first, 22,797 cells at 200 containers, 5 MB):
                // without the room the path grew into.
                p.path.shrink_to_fit();
                Expectation {
                    reachable: p.expected,
                    why: p.why,
                    path: p.path,
                }
            }
            None => Expectation {
                reachable: None,
                why: format!(
                    "{} was not in the inventory read for the prediction",
                    self.cells[token].from
                ),
                path: Vec::new(),
            },
        }
    }
}

/// Where a run's expectations come from: a thread of their own that builds the walk's model
/// of the run, hands over every cell's verdict (for the pacing plan), then spells out each
/// batch's expectations one batch ahead of the runner (a rendezvous: at most the running batch
/// and the next are held); or, when no thread could be started, this thread, batch by batch.
enum Predicted<'scope, 'a> {
    Ahead {
        /// The thread, joined (and its panic raised here) when it stops answering.
        thread: Option<std::thread::ScopedJoinHandle<'scope, ()>>,
        verdicts: mpsc::Receiver<Vec<Option<bool>>>,
        plan: Option<mpsc::Sender<Arc<PacingPlan>>>,
        batches: mpsc::Receiver<Vec<Arc<Expectation>>>,
        cells: usize,
    },
    Here {
        expectations: Box<Expectations<'a>>,
        plan: Option<Arc<PacingPlan>>,
        next: usize,
    },
}

impl<'scope, 'a> Predicted<'scope, 'a> {
    fn start(
        scope: &'scope std::thread::Scope<'scope, 'a>,
        cells: &'a [Cell],
        walk: Option<&'a WalkWorld>,
        at: &'a [Option<usize>],
        probes: &'a [walk::Probe],
    ) -> Predicted<'scope, 'a> {
        let (verdict_tx, verdicts) = mpsc::channel();
        let (plan, plan_rx) = mpsc::channel::<Arc<PacingPlan>>();
        let (batch_tx, batches) = mpsc::sync_channel(0);
        let spawned = std::thread::Builder::new()
            .name("probe-predict".into())
            .spawn_scoped(scope, move || {
                let e = Expectations::new(cells, walk, at, probes);
                let all = (0..cells.len()).map(|t| e.verdict(t)).collect();
                if verdict_tx.send(all).is_err() {
                    return;
                }
                let Ok(plan) = plan_rx.recv() else { return };
                for b in &plan.batches {
                    if batch_tx.send(e.batch(&b.tokens)).is_err() {
                        return; // the run ended early
                    }
                }
            });
        match spawned {
            Ok(thread) => Predicted::Ahead {
                thread: Some(thread),
                verdicts,
                plan: Some(plan),
                batches,
                cells: cells.len(),
            },
            Err(_) => Predicted::Here {
                expectations: Box::new(Expectations::new(cells, walk, at, probes)),
                plan: None,
                next: 0,
            },
        }
    }

    /// The prediction thread stopped answering: it panicked (raised again here, before any
    /// more probes are sent), or it is gone.
    fn stopped(&mut self) {
        if let Predicted::Ahead { thread, .. } = self {
            if let Some(Err(panic)) = thread.take().map(|t| t.join()) {
                std::panic::resume_unwind(panic);
            }
        }
    }

    /// Every cell's verdict (`None`: no prediction), in plan order.
    fn verdicts(&mut self) -> Vec<Option<bool>> {
        match self {
            Predicted::Ahead {
                verdicts, cells, ..
            } => match verdicts.recv() {
                Ok(v) => v,
                Err(_) => {
                    let none = vec![None; *cells];
                    self.stopped();
                    none
                }
            },
            Predicted::Here { expectations, .. } => (0..expectations.cells.len())
                .map(|t| expectations.verdict(t))
                .collect(),
        }
    }

    /// The batches the run will probe, in order.
    fn plan(&mut self, plan: Arc<PacingPlan>) {
        match self {
            Predicted::Ahead { plan: tx, .. } => {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(plan);
                }
            }
            Predicted::Here { plan: kept, .. } => *kept = Some(plan),
        }
    }

    /// The next batch's expectations if they are ready.
    fn try_next(&mut self) -> Option<Vec<Arc<Expectation>>> {
        match self {
            Predicted::Ahead { batches, .. } => match batches.try_recv() {
                Ok(e) => Some(e),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.stopped();
                    None
                }
            },
            Predicted::Here {
                expectations,
                plan,
                next,
            } => {
                let tokens = &plan.as_ref()?.batches.get(*next)?.tokens;
                *next += 1;
                Some(expectations.batch(tokens))
            }
        }
    }

    /// The next batch's expectations (its cells `tokens`), waiting for them.
    fn next(&mut self, tokens: &[usize]) -> Vec<Arc<Expectation>> {
        let got = match self {
            Predicted::Ahead { batches, .. } => match batches.recv() {
                Ok(e) => Some(e),
                Err(_) => {
                    self.stopped();
                    None
                }
            },
            Predicted::Here { .. } => self.try_next(),
        };
        got.unwrap_or_else(|| {
            let lost = Arc::new(Expectation::unknown());
            vec![lost; tokens.len()]
        })
    }
}

/// Probe every cell, paced by `opts.table` (see [`pacing`]), handing each result to `sink`
/// as soon as it is known; keeps none of them.
pub fn run_paced(
    prober: &dyn Prober,
    lab: &ProbeLab,
    cells: &[Cell],
    opts: &RunOptions<'_>,
    sink: &mut dyn MatrixSink,
) -> Result<RunSummary, ProbeError> {
    let start = Instant::now();
    // Number the ICMP probes and check every source, in plan order.
    let base = id_base();
    let mut source_index: HashMap<&str, usize> = HashMap::new();
    let mut sources: Vec<&ProbeEndpoint> = Vec::new();
    let mut per_source_seq: Vec<u16> = Vec::new();
    let mut ids: Vec<(usize, u16)> = Vec::with_capacity(cells.len());
    for cell in cells {
        let src = lab
            .endpoint(&cell.from)
            .ok_or_else(|| ProbeError::UnknownEndpoint(cell.from.to_string()))?;
        let i = *source_index.entry(src.name.as_str()).or_insert_with(|| {
            sources.push(src);
            per_source_seq.push(0);
            sources.len() - 1
        });
        ids.push((i, per_source_seq[i]));
        per_source_seq[i] = per_source_seq[i].wrapping_add(1);
    }
    let run_plan = run_plan(lab, cells, &sources, &ids);

    // Plan the batches.
    let limits = opts.table.limits().filter(|_| !cells.is_empty());
    let model = pacing::NeedsModel::new(lab);
    let ns_paths = &model.paths;
    let (walk_at, walk_probes) = walk_probes(cells, opts.walk);
    std::thread::scope(|scope| -> Result<RunSummary, ProbeError> {
        // The walk's model of the run (CPU only) is built on a thread of its own while the prober
        // opens its sockets (namespace threads, waiting on the kernel), and spells out each batch's
        // expectations there while the batch before it runs: at 200 containers 1.9 s, 0.9 s and
        // 3 s (0.7 s of it the first batch's), one after the other on this thread before.
        let mut predicted = Predicted::start(scope, cells, opts.walk, &walk_at, &walk_probes);
        let begun = prober.begin(&run_plan);
        // What the pacing plan needs besides the verdicts, while the model is being built.
        let needs = limits.map(|l| {
            let mut needs = pacing::RunNeeds::default();
            for (token, c) in cells.iter().enumerate() {
                needs.push(token, &model.needs(c), false);
            }
            let used: std::collections::BTreeSet<usize> =
                needs.entries().iter().map(|n| n.ns).collect();
            let asked: Vec<&Path> = used.iter().map(|&i| ns_paths[i].as_path()).collect();
            let mut owned = vec![false; ns_paths.len()];
            for (&i, o) in used.iter().zip(opts.table.owned_many(&asked)) {
                owned[i] = o;
            }
            (l, needs, owned)
        });
        let verdicts = predicted.verdicts();
        begun?;
        drop(run_plan);
        // Which namespaces netview owns (their entries are deleted after a batch), by number.
        let mut owned: Vec<bool> = Vec::new();
        let plan = match needs {
            Some((l, mut needs, owned_ns)) => {
                owned = owned_ns;
                // Only a run that will be paced needs to know which cells are slow.
                if needs.entries().len() > l.room() {
                    for k in 0..needs.len() {
                        let slow = verdicts.get(needs.token(k)).copied().flatten() != Some(true);
                        needs.set_slow(k, slow);
                    }
                }
                let room = l.room().max(MIN_PACING_ROOM);
                pacing::plan(&needs, &|ns| owned.get(ns).copied().unwrap_or(false), room)
            }
            None => PacingPlan {
                batches: vec![pacing::Batch {
                    tokens: (0..cells.len()).collect(),
                    ..pacing::Batch::default()
                }],
                needed: 0,
                room: 0,
            },
        };
        let paced = match limits {
            Some(l) if plan.batches.len() > 1 => Some(Pacing::of(&plan, l)),
            _ => None,
        };
        if let Some(p) = &paced {
            sink.paced(p);
        }
        let plan = Arc::new(plan);
        predicted.plan(plan.clone());

        let mut done = vec![false; cells.len()];
        let mut counts = (0usize, 0usize); // mismatches, unknown
        let mut last_end = Instant::now();
        // A cell expected to answer whose probe heard nothing waits for the end of its batch:
        // if the kernel dropped packets at its input queues meanwhile, it is probed again.
        let mut held: Vec<CellResult> = Vec::new();
        let mut again: Vec<CellResult> = Vec::new();
        fn emit(r: CellResult, counts: &mut (usize, usize), sink: &mut dyn MatrixSink) {
            counts.0 += usize::from(r.mismatch());
            counts.1 += usize::from(r.expected.reachable.is_none());
            sink.result(r);
        }
        let heard_nothing = |r: &CellResult| {
            r.expected.reachable == Some(true)
                && matches!(
                    r.observed.outcome,
                    ProbeOutcome::Timeout | ProbeOutcome::NoArpReply
                )
        };
        // A batch's probes, grouped by source in plan order; `seq_from` moves the ICMP
        // sequence numbers of a second try away from the first's.
        let work_of = |tokens: &[usize], seq_from: u16| -> Vec<SourceProbes<'_>> {
            let mut by_source: BTreeMap<usize, Vec<PlannedProbe>> = BTreeMap::new();
            for &token in tokens {
                let cell = &cells[token];
                let (si, seq) = ids[token];
                by_source.entry(si).or_default().push(PlannedProbe {
                    token,
                    kind: cell.kind,
                    target: cell.target_ip,
                    port: cell.port,
                    icmp_id: base.wrapping_add(si as u16),
                    icmp_seq: seq.wrapping_add(seq_from),
                });
            }
            by_source
                .into_iter()
                .map(|(si, probes)| SourceProbes {
                    source: sources[si],
                    probes,
                })
                .collect()
        };
        // Delete the entries a batch's probes needed in netview's own namespaces.
        let forget = |owned: &[pacing::Need]| {
            let mut by_ns: BTreeMap<usize, Vec<IpAddr>> = BTreeMap::new();
            for n in owned {
                by_ns.entry(n.ns).or_default().push(n.ip);
            }
            let jobs: Vec<(&Path, Vec<IpAddr>)> = by_ns
                .into_iter()
                .filter_map(|(ns, ips)| Some((ns_paths.get(ns)?.as_path(), ips)))
                .collect();
            opts.table.forget_many(&jobs);
        };
        let deliver = |token: usize,
                       obs: Observation,
                       expected: &[Arc<Expectation>],
                       batch: &[usize],
                       done: &mut Vec<bool>,
                       held: &mut Vec<CellResult>,
                       counts: &mut (usize, usize),
                       sink: &mut dyn MatrixSink| {
            // A batch's tokens are in plan order: a cell's place in it is found by bisection.
            let (Some(flag), Ok(at)) = (done.get_mut(token), batch.binary_search(&token)) else {
                return;
            };
            if *flag {
                return; // the first report of a cell wins
            }
            *flag = true;
            let r = CellResult {
                index: token,
                cell: cells[token].clone(),
                observed: obs,
                expected: expected[at].clone(),
            };
            if heard_nothing(&r) {
                held.push(r);
            } else {
                emit(r, counts, sink);
            }
        };
        for (bi, batch) in plan.batches.iter().enumerate() {
            if batch.wait_for_reclaim {
                let wait = pacing::RECLAIM_AGE.saturating_sub(last_end.elapsed());
                tracing::debug!(
                    target: "netview::probe::pacing",
                    batch = bi,
                    wait_ms = wait.as_millis() as u64,
                    "waiting for the kernel to reclaim neighbour entries"
                );
                std::thread::sleep(wait);
            }
            tracing::debug!(
                target: "netview::probe::pacing",
                batch = bi,
                of = plan.batches.len(),
                cells = batch.tokens.len(),
                "batch starts"
            );
            // This batch's expectations, shared where identical, as the prediction thread hands
            // them over (it works one batch ahead): results that come before them wait here.
            let mut expected = predicted.try_next();
            let mut early: Vec<(usize, Observation)> = Vec::new();
            let dropped_before = opts.table.dropped();
            let work = work_of(&batch.tokens, 0);
            let ran = if work.is_empty() {
                Ok(())
            } else {
                prober.run_batch(&work, opts.timeout, &mut |token, obs| {
                    if expected.is_none() {
                        expected = predicted.try_next();
                    }
                    match &expected {
                        Some(e) => {
                            for (token, obs) in early.drain(..) {
                                let t = &batch.tokens;
                                deliver(token, obs, e, t, &mut done, &mut held, &mut counts, sink);
                            }
                            let t = &batch.tokens;
                            deliver(token, obs, e, t, &mut done, &mut held, &mut counts, sink)
                        }
                        None => early.push((token, obs)),
                    }
                })
            };
            drop(work);
            let expected = match expected {
                Some(e) => e,
                None => predicted.next(&batch.tokens),
            };
            // Then, in this order: the results that came before the expectations, a failed
            // batch's every cell, and the cells never reported (a cell's first report wins).
            let failed = ran.err().map(|e| e.to_string());
            let send_failed =
                |why: &str| Observation::outcome(ProbeOutcome::SendFailed(why.into()));
            let rest = early
                .into_iter()
                .chain(
                    failed
                        .iter()
                        .flat_map(|why| batch.tokens.iter().map(move |&t| (t, send_failed(why)))),
                )
                .chain(
                    batch
                        .tokens
                        .iter()
                        .map(|&t| (t, send_failed("the probe never reported"))),
                );
            for (token, obs) in rest {
                let t = &batch.tokens;
                deliver(
                    token,
                    obs,
                    &expected,
                    t,
                    &mut done,
                    &mut held,
                    &mut counts,
                    sink,
                );
            }
            let lost = match (dropped_before, opts.table.dropped()) {
                (Some(a), Some(b)) => b > a,
                _ => false,
            };
            if lost {
                again.append(&mut held);
            } else {
                for r in held.drain(..) {
                    emit(r, &mut counts, sink);
                }
            }
            if paced.is_some() {
                forget(&batch.owned);
            }
            last_end = Instant::now();
        }
        // The second try: the cells expected to answer that heard nothing while the kernel
        // dropped packets, paced like the run; each keeps its first observation unless the
        // second try reports one.
        let retried = again.len();
        if retried > 0 {
            tracing::info!(
                target: "netview::probe::pacing",
                cells = retried,
                "probing again the cells that heard nothing while the kernel dropped packets"
            );
            let mut needs = pacing::RunNeeds::default();
            let mut tokens: Vec<usize> = again.iter().map(|r| r.index).collect();
            tokens.sort_unstable();
            for &token in &tokens {
                needs.push(token, &model.needs(&cells[token]), false);
            }
            let retry_plan = match limits {
                Some(l) => pacing::plan(
                    &needs,
                    &|ns| owned.get(ns).copied().unwrap_or(false),
                    l.room().max(MIN_PACING_ROOM),
                ),
                None => PacingPlan {
                    batches: vec![pacing::Batch {
                        tokens: tokens.clone(),
                        ..pacing::Batch::default()
                    }],
                    ..PacingPlan::default()
                },
            };
            let mut first: HashMap<usize, CellResult> =
                again.into_iter().map(|r| (r.index, r)).collect();
            for batch in &retry_plan.batches {
                let work = work_of(&batch.tokens, u16::MAX / 2 + 1);
                let _ = prober.run_batch(&work, opts.timeout, &mut |token, obs| {
                    if let Some(mut r) = first.remove(&token) {
                        r.observed = obs;
                        emit(r, &mut counts, sink);
                    }
                });
                if paced.is_some() {
                    forget(&batch.owned);
                }
            }
            let mut left: Vec<CellResult> = first.into_values().collect();
            left.sort_unstable_by_key(|r| r.index);
            for r in left {
                emit(r, &mut counts, sink);
            }
        }
        prober.end();
        tracing::info!(
            cells = cells.len(),
            batches = plan.batches.len(),
            elapsed_ms = start.elapsed().as_millis() as u64,
            "probe matrix done"
        );
        Ok(RunSummary {
            elapsed_ms: start.elapsed().as_millis() as u64,
            cells: cells.len(),
            mismatches: counts.0,
            unknown: counts.1,
            retried,
            pacing: paced,
        })
    })
}

/// What a matrix running in the background tells as it goes: how it is paced (before any
/// cell, when it is), then each cell as it is known.
#[derive(Debug, Clone)]
pub enum MatrixEvent {
    Paced(Pacing),
    Cell(CellResult),
}

/// A matrix running in the background: the thread (its result is the finished run) and what
/// it tells as it goes.
pub type MatrixThread = (
    std::thread::JoinHandle<Result<MatrixRun, ProbeError>>,
    mpsc::Receiver<MatrixEvent>,
);

/// Run the matrix on a background thread (for the TUI): every cell is sent on the returned
/// receiver as soon as it is known, and the thread's result is the finished run. Dropping the
/// receiver does not stop the run; it ends after about one timeout per batch anyway. Paced by
/// `table` (the kernel's, or [`pacing::Unpaced`]).
pub fn spawn_run_with<P: Prober + Send + 'static>(
    prober: P,
    table: &'static (dyn NeighbourTable + Send + Sync),
    lab: ProbeLab,
    cells: Vec<Cell>,
    walk: Option<WalkWorld>,
    timeout: Duration,
) -> Result<MatrixThread, ProbeError> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("probe-matrix".into())
        .spawn(move || {
            let opts = RunOptions {
                walk: walk.as_ref(),
                timeout,
                table,
            };
            let paced = tx.clone();
            collect_paced(
                &prober,
                &lab,
                &cells,
                &opts,
                &mut |p| {
                    let _ = paced.send(MatrixEvent::Paced(p.clone()));
                },
                &mut |r| {
                    let _ = tx.send(MatrixEvent::Cell(r.clone()));
                },
            )
        })
        .map_err(|source| ProbeError::Io {
            what: "cannot start the matrix thread".into(),
            source,
        })?;
    Ok((handle, rx))
}

/// [`spawn_run_with`] paced by the kernel's neighbour table.
pub fn spawn_run<P: Prober + Send + 'static>(
    prober: P,
    lab: ProbeLab,
    cells: Vec<Cell>,
    walk: Option<WalkWorld>,
    timeout: Duration,
) -> Result<MatrixThread, ProbeError> {
    spawn_run_with(prober, &pacing::KernelNeighbours, lab, cells, walk, timeout)
}

/// The matrix as rows (sources) and columns (target addresses) for display: one grid layout
/// for the CLI's text matrix and the TUI's matrix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    /// Source names, in first-seen order.
    pub rows: Vec<String>,
    /// (target name, address), in first-seen order.
    pub columns: Vec<(String, IpAddr)>,
    /// The kinds present, in a fixed order (icmp, arp, tcp).
    pub kinds: Vec<ProbeKind>,
    /// (row, column, kind) -> index of the cell in the sequence laid out (the plan).
    pub cells: BTreeMap<(usize, usize, ProbeKind), usize>,
}

impl Layout {
    /// Lay cells out, in plan order.
    pub fn of<'a>(cells: impl IntoIterator<Item = &'a Cell>) -> Layout {
        let mut rows: HashMap<&str, usize> = HashMap::new();
        let mut columns: HashMap<(&str, IpAddr), usize> = HashMap::new();
        let mut l = Layout::default();
        for (i, c) in cells.into_iter().enumerate() {
            let row = *rows.entry(&c.from).or_insert_with(|| {
                l.rows.push(c.from.to_string());
                l.rows.len() - 1
            });
            let col = *columns.entry((&c.to, c.target_ip)).or_insert_with(|| {
                l.columns.push((c.to.to_string(), c.target_ip));
                l.columns.len() - 1
            });
            if !l.kinds.contains(&c.kind) {
                l.kinds.push(c.kind);
            }
            l.cells.insert((row, col, c.kind), i);
        }
        l.kinds.sort();
        l
    }

    /// The index of the cell of `kind` at (row, col), if one was planned.
    pub fn index(&self, row: usize, col: usize, kind: ProbeKind) -> Option<usize> {
        self.cells.get(&(row, col, kind)).copied()
    }

    /// How wide each column is drawn: its address (cut to `max_address` characters, at
    /// least one mark per kind and the `!`).
    pub fn column_widths(&self, max_address: usize) -> Vec<usize> {
        let marks = self.kinds.len() + 1;
        self.columns
            .iter()
            .map(|(_, ip)| ip.to_string().chars().count().min(max_address).max(marks))
            .collect()
    }

    /// The endpoints heading `cols`: each name with the run of consecutive columns that are
    /// its addresses (plan order keeps one target's addresses together).
    pub fn groups(&self, cols: std::ops::Range<usize>) -> Vec<(&str, std::ops::Range<usize>)> {
        let mut out: Vec<(&str, std::ops::Range<usize>)> = Vec::new();
        for c in cols {
            let Some((name, _)) = self.columns.get(c) else {
                break;
            };
            match out.last_mut() {
                Some((n, r)) if *n == name.as_str() => r.end = c + 1,
                _ => out.push((name.as_str(), c..c + 1)),
            }
        }
        out
    }
}

/// A column group's heading, `width` characters: the endpoint's name and a rule over its
/// addresses (`host ────`), or the name cut with `…` when the group is narrower.
pub fn group_heading(name: &str, width: usize) -> String {
    let n = name.chars().count();
    if n + 2 <= width {
        format!("{name} {}", "─".repeat(width - n - 1))
    } else {
        format!("{:<width$}", fit(name, width))
    }
}

/// `s` cut to `width` characters, ending with `…` when something was cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else if width == 0 {
        String::new()
    } else {
        let mut out: String = s.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}

/// Lay results out as a matrix.
pub fn layout(results: &[CellResult]) -> Layout {
    Layout::of(results.iter().map(|r| &r.cell))
}

pub use super::report::{render_mismatches, render_text};

#[cfg(test)]
mod tests;
