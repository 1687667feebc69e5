//! The all-pairs matrix: which cells to probe, the runner that probes them all at once, and
//! the compact text layout.
//!
//! The runner gives every source endpoint its own worker, which sends all of that source's
//! probes at once; a bounded number of workers run in parallel (by default all of them), so
//! a whole matrix takes about one timeout, not one per pair. Results are handed to a callback
//! as they arrive (the TUI fills its matrix live). The kernel work is behind [`Prober`], so
//! the runner and the layout are tested with a fake prober, without root.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{mpsc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cell::{Cell, CellResult, Expectation};
use super::topology::{ProbeEndpoint, ProbeLab};
use super::walk;
use super::{Observation, ProbeError, ProbeKind, ProbeOutcome};

/// A finished matrix, in plan order.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixRun {
    pub elapsed_ms: u64,
    pub results: Vec<CellResult>,
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
    let mut cells = Vec::new();
    for src in &sources {
        for tgt in &targets {
            let (to, addrs, same_ns): (String, Vec<IpAddr>, bool) = match tgt {
                TargetSel::Endpoint(e) => (
                    e.name.clone(),
                    e.target_addresses().map(|a| a.ip).collect(),
                    e.netns_path == src.netns_path,
                ),
                TargetSel::Address(ip) => (
                    ip.to_string(),
                    vec![*ip],
                    src.addresses.iter().any(|a| a.ip == *ip),
                ),
            };
            for ip in addrs {
                for &kind in &opts.kinds {
                    let wanted = match kind {
                        ProbeKind::Arp => {
                            ip.is_ipv4() && !same_ns && src.arp_interface_for(ip).is_some()
                        }
                        _ => true,
                    };
                    if wanted {
                        cells.push(Cell {
                            from: src.name.clone(),
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

/// About how many neighbour (ARP) entries the run makes the kernel create: one per source
/// namespace and on-link target in another namespace, for the sender, and as many again on
/// the answering side. The kernel's neighbour table is shared by all namespaces and capped
/// by `net.ipv4.neigh.default.gc_thresh3` (1024 by default); past it, sends fail and show as
/// timeouts (a raw socket does not report the error), so the CLI warns before a run that
/// would overflow it.
pub fn neighbour_entries_needed(lab: &ProbeLab, cells: &[Cell]) -> usize {
    let mut pairs = std::collections::HashSet::new();
    for c in cells.iter().filter(|c| c.kind != ProbeKind::Arp) {
        let Some(src) = lab.endpoint(&c.from) else {
            continue;
        };
        let same_ns = lab
            .endpoint(&c.to)
            .is_some_and(|t| t.netns_path == src.netns_path);
        if !same_ns && src.arp_interface_for(c.target_ip).is_some() {
            pairs.insert((src.netns_path.clone(), c.target_ip));
        }
    }
    pairs.len() * 2
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
/// namespace, lab endpoints included), the run's cells together (`walk::predict_all`: one
/// probe's who-has can teach another's sender); without it, no prediction.
pub fn expect_cells(cells: &[Cell], walk: Option<&WalkWorld>) -> Vec<Expectation> {
    let Some(w) = walk else {
        return cells.iter().map(|_| Expectation::unknown()).collect();
    };
    // The cells the walk can start (their source's namespace was read), as probes.
    let probes: Vec<(usize, walk::Probe)> = cells
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, walk_probe(w, c)?)))
        .collect();
    let predictions = walk::predict_all(
        &w.inventory,
        &probes.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
    );
    let mut out: Vec<Expectation> = cells
        .iter()
        .map(|c| Expectation {
            reachable: None,
            why: format!(
                "{} was not in the inventory read for the prediction",
                c.from
            ),
            path: Vec::new(),
        })
        .collect();
    for ((i, _), p) in probes.iter().zip(predictions) {
        out[*i] = Expectation {
            reachable: p.expected,
            why: p.why,
            path: p.path,
        };
    }
    out
}

/// The walk's probe for one cell, when its source's namespace is in the inventory.
fn walk_probe(w: &WalkWorld, cell: &Cell) -> Option<walk::Probe> {
    let netns = w.netns_of.get(&cell.from)?;
    let kind = match cell.kind {
        ProbeKind::Icmp => walk::WalkKind::Icmp,
        ProbeKind::Arp => walk::WalkKind::Arp,
        ProbeKind::Tcp => walk::WalkKind::Tcp {
            port: cell.port.unwrap_or(80),
        },
    };
    Some(walk::Probe {
        netns: netns.clone(),
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
    /// ARP: the interface and source address to send from.
    pub arp_from: Option<(String, IpAddr)>,
}

/// The kernel side of the matrix, so the runner can be tested with a fake.
pub trait Prober: Sync {
    /// Called once before any probe with the namespaces ICMP probes target; returns when the
    /// listeners that record "seen as" can hear.
    fn begin(&self, _target_namespaces: &[PathBuf], _timeout: Duration) -> Result<(), ProbeError> {
        Ok(())
    }

    /// Run all of one source's probes at once (they may run in parallel) and report each
    /// result through `report(token, observation)` as soon as it is known. Probes left
    /// unreported count as failures.
    fn run_source(
        &self,
        source: &ProbeEndpoint,
        probes: &[PlannedProbe],
        timeout: Duration,
        report: &(dyn Fn(usize, Observation) + Sync),
    ) -> Result<(), ProbeError>;

    /// Called once after every source is done (stop the listeners).
    fn end(&self) {}
}

/// A counting semaphore bounding how many source workers run at once.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn acquire(&self) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
    }

    fn release(&self) {
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.freed.notify_one();
    }
}

/// How many sources the CLI probes from at once. Each source uses one thread per probe kind
/// (and per ARP interface), so this bounds the threads too; a lab of this size still finishes
/// in about one timeout.
pub const DEFAULT_MAX_PARALLEL_SOURCES: usize = 128;

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

/// Probe every cell, at most `max_parallel` sources at once, calling `on_result` with each
/// cell as soon as it is known (in arrival order). Returns every result in plan order.
pub fn run_matrix(
    prober: &dyn Prober,
    lab: &ProbeLab,
    cells: &[Cell],
    timeout: Duration,
    max_parallel: usize,
    on_result: &mut dyn FnMut(&CellResult),
) -> Result<MatrixRun, ProbeError> {
    run_matrix_with(prober, lab, cells, None, timeout, max_parallel, on_result)
}

/// [`run_matrix`], with the packet walk predicting every cell over `walk`.
pub fn run_matrix_with(
    prober: &dyn Prober,
    lab: &ProbeLab,
    cells: &[Cell],
    walk: Option<&WalkWorld>,
    timeout: Duration,
    max_parallel: usize,
    on_result: &mut dyn FnMut(&CellResult),
) -> Result<MatrixRun, ProbeError> {
    let start = Instant::now();
    // Group the cells by source, keeping plan order, and number the ICMP probes.
    let base = id_base();
    let mut by_source: Vec<(&ProbeEndpoint, Vec<PlannedProbe>)> = Vec::new();
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (token, cell) in cells.iter().enumerate() {
        let src = lab
            .endpoint(&cell.from)
            .ok_or_else(|| ProbeError::UnknownEndpoint(cell.from.clone()))?;
        let i = *index_of.entry(src.name.as_str()).or_insert_with(|| {
            by_source.push((src, Vec::new()));
            by_source.len() - 1
        });
        let seq = by_source[i].1.len() as u16;
        let arp_from = src
            .arp_interface_for(cell.target_ip)
            .map(|a| (a.ifname.clone(), a.ip));
        by_source[i].1.push(PlannedProbe {
            token,
            kind: cell.kind,
            target: cell.target_ip,
            port: cell.port,
            icmp_id: base.wrapping_add(i as u16),
            icmp_seq: seq,
            arp_from,
        });
    }
    let mut target_namespaces: Vec<PathBuf> = Vec::new();
    for cell in cells.iter().filter(|c| c.kind == ProbeKind::Icmp) {
        if let Some(t) = lab.endpoint(&cell.to) {
            if !target_namespaces.contains(&t.netns_path) {
                target_namespaces.push(t.netns_path.clone());
            }
        }
    }
    let expectations = expect_cells(cells, walk);

    prober.begin(&target_namespaces, timeout)?;
    let slots = Slots {
        free: Mutex::new(max_parallel.max(1)),
        freed: Condvar::new(),
    };
    let mut results: Vec<Option<CellResult>> = vec![None; cells.len()];
    let (tx, rx) = mpsc::channel::<(usize, Observation)>();
    std::thread::scope(|scope| {
        for (src, probes) in &by_source {
            let tx = tx.clone();
            let slots = &slots;
            scope.spawn(move || {
                slots.acquire();
                // Probe pacing logs here (target netview::probe::pacing): when a source's
                // probes start and, once pacing spaces them, each wait it makes.
                tracing::debug!(
                    target: "netview::probe::pacing",
                    source = %src.name,
                    probes = probes.len(),
                    "source starts"
                );
                let report_tx = Mutex::new(tx.clone());
                let report = move |token: usize, obs: Observation| {
                    let _ = report_tx
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .send((token, obs));
                };
                if let Err(e) = prober.run_source(src, probes, timeout, &report) {
                    for p in probes {
                        let _ = tx.send((
                            p.token,
                            Observation::outcome(ProbeOutcome::SendFailed(e.to_string())),
                        ));
                    }
                }
                slots.release();
            });
        }
        drop(tx);
        for (token, obs) in rx {
            let Some(slot) = results.get_mut(token) else {
                continue;
            };
            if slot.is_some() {
                continue; // the first report of a cell wins
            }
            let r = CellResult {
                index: token,
                cell: cells[token].clone(),
                observed: obs,
                expected: expectations[token].clone(),
            };
            on_result(&r);
            *slot = Some(r);
        }
    });
    prober.end();
    tracing::info!(
        cells = cells.len(),
        sources = by_source.len(),
        elapsed_ms = start.elapsed().as_millis() as u64,
        "probe matrix done"
    );
    let results = results
        .into_iter()
        .enumerate()
        .map(|(token, r)| {
            r.unwrap_or_else(|| {
                let r = CellResult {
                    index: token,
                    cell: cells[token].clone(),
                    observed: Observation::outcome(ProbeOutcome::SendFailed(
                        "the probe never reported".into(),
                    )),
                    expected: expectations[token].clone(),
                };
                on_result(&r);
                r
            })
        })
        .collect();
    Ok(MatrixRun {
        elapsed_ms: start.elapsed().as_millis() as u64,
        results,
    })
}

/// A matrix running in the background: the thread (its result is the finished run) and the
/// cells as they arrive.
pub type MatrixThread = (
    std::thread::JoinHandle<Result<MatrixRun, ProbeError>>,
    mpsc::Receiver<CellResult>,
);

/// Run the matrix on a background thread (for the TUI): every cell is sent on the returned
/// receiver as soon as it is known, and the thread's result is the finished run. Dropping the
/// receiver does not stop the run; it ends after about one timeout anyway.
pub fn spawn_run<P: Prober + Send + 'static>(
    prober: P,
    lab: ProbeLab,
    cells: Vec<Cell>,
    walk: Option<WalkWorld>,
    timeout: Duration,
) -> Result<MatrixThread, ProbeError> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("probe-matrix".into())
        .spawn(move || {
            run_matrix_with(
                &prober,
                &lab,
                &cells,
                walk.as_ref(),
                timeout,
                DEFAULT_MAX_PARALLEL_SOURCES,
                &mut |r| {
                    let _ = tx.send(r.clone());
                },
            )
        })
        .map_err(|source| ProbeError::Io {
            what: "cannot start the matrix thread".into(),
            source,
        })?;
    Ok((handle, rx))
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
            let row = *rows.entry(c.from.as_str()).or_insert_with(|| {
                l.rows.push(c.from.clone());
                l.rows.len() - 1
            });
            let col = *columns
                .entry((c.to.as_str(), c.target_ip))
                .or_insert_with(|| {
                    l.columns.push((c.to.clone(), c.target_ip));
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

/// One cell's marks: per kind, `✓` reached, `✗` not, `·` not probed; `!` when any kind of the
/// cell differs from its expectation.
fn cell_marks(layout: &Layout, results: &[CellResult], row: usize, col: usize) -> String {
    let mut s = String::new();
    let mut mismatch = false;
    for &k in &layout.kinds {
        match layout.cells.get(&(row, col, k)) {
            Some(&i) => {
                let r = &results[i];
                s.push(if r.reachable() { '✓' } else { '✗' });
                mismatch |= r.mismatch();
            }
            None => s.push('·'),
        }
    }
    if mismatch {
        s.push('!');
    }
    s
}

/// The compact text matrix: a header naming each target endpoint over its addresses, then
/// one row per source.
pub fn render_text(results: &[CellResult]) -> String {
    let l = layout(results);
    let kind_names: Vec<&str> = l.kinds.iter().map(|k| k.name()).collect();
    let mut out = String::new();
    out.push_str(&format!(
        "each cell: {} — ✓ reached, ✗ not, · not probed (ARP only on-link), ! differs from the expectation\n",
        kind_names.join(" ")
    ));
    let row_w = l
        .rows
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    // Addresses are never cut here: IPv6's longest text is 39 characters.
    let widths = l.column_widths(usize::MAX);
    out.push_str(&text_header(&l, &widths, row_w));
    for (ri, row) in l.rows.iter().enumerate() {
        let pad = row_w - row.chars().count();
        out.push_str(row);
        out.push_str(&" ".repeat(pad));
        for (ci, w) in widths.iter().enumerate() {
            let marks = cell_marks(&l, results, ri, ci);
            let n = marks.chars().count();
            out.push(' ');
            out.push_str(&marks);
            out.push_str(&" ".repeat(w.saturating_sub(n)));
        }
        let end = out.trim_end_matches(' ').len();
        out.truncate(end);
        out.push('\n');
    }
    out
}

/// The text matrix's two header lines: `from` and the targets' names over their columns,
/// then each column's address.
fn text_header(l: &Layout, widths: &[usize], row_w: usize) -> String {
    let mut names = format!("{:<row_w$}", "from");
    for (name, cols) in l.groups(0..l.columns.len()) {
        let span = widths[cols.clone()].iter().sum::<usize>() + cols.len() - 1;
        names.push(' ');
        names.push_str(&group_heading(name, span));
    }
    let mut addresses = " ".repeat(row_w);
    for ((_, ip), w) in l.columns.iter().zip(widths) {
        addresses.push_str(&format!(" {:<w$}", ip.to_string()));
    }
    format!("{}\n{}\n", names.trim_end(), addresses.trim_end())
}

/// The mismatches, one per line: what was seen, what was expected and why.
pub fn render_mismatches(results: &[CellResult]) -> String {
    let mut out = String::new();
    for r in results.iter().filter(|r| r.mismatch()) {
        out.push_str(&format!(
            "{} -> {} {} {}: observed {}, expected {}: {}\n",
            r.cell.from,
            r.cell.to,
            r.cell.target_ip,
            r.cell.kind.name(),
            r.observed.outcome,
            r.expected.word(),
            r.expected.why
        ));
    }
    out
}

#[cfg(test)]
mod tests;
