//! The lab bench's pure parts: the probe matrix as it fills in, where the selected cell's
//! packets go (the packet walk's hops, for the pictures to highlight), and the explanation
//! of one cell with its hops.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::inventory::model::Inventory;
use crate::lab::state::LabState;
use crate::lab::{Endpoint, Role};
use crate::probe::cell::{Cell, CellResult};
use crate::probe::matrix::{Layout, ProbePlan};
use crate::probe::walk::Hop;
use crate::probe::{ProbeKind, ProbeOutcome};

/// What `p` hands the runtime: the cells `update` planned and the live inventory the model
/// holds (the packet walk predicts over it, so the probe thread reads no namespace again).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeJob {
    pub plan: ProbePlan,
    pub inventory: Inventory,
}

/// A probe run: the planned cells, laid out once, and the results as they arrive (same order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatrixState {
    pub cells: Vec<Cell>,
    /// The cells' rows and columns, the same layout as the CLI's text matrix.
    pub grid: Layout,
    pub results: Vec<Option<CellResult>>,
    pub running: bool,
    pub elapsed_ms: Option<u64>,
    /// How the run is paced, when it is (large matrices: the title says so).
    pub pacing: Option<crate::probe::matrix::Pacing>,
    /// An error starting or running the probes.
    pub error: Option<String>,
    /// Cursor: source row, target column.
    pub row: usize,
    pub col: usize,
    /// How many lines the explanation is scrolled down, and at which cell (row, column):
    /// another cell's explanation starts at its top.
    pub scroll: (usize, usize, usize),
    /// The first target column in view, as last scrolled (the cursor's column is kept in
    /// view whatever this says: [`crate::ui::matrix_view::visible_columns`]).
    pub first_col: usize,
}

/// How one kind of one cell came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Not planned (ARP only on-link; nothing to self).
    NotProbed,
    Waiting,
    Reached {
        mismatch: bool,
    },
    NotReached {
        mismatch: bool,
    },
}

impl Mark {
    pub fn symbol(self) -> char {
        match self {
            Mark::NotProbed => '·',
            Mark::Waiting => '…',
            Mark::Reached { .. } => '✓',
            Mark::NotReached { .. } => '✗',
        }
    }

    pub fn mismatch(self) -> bool {
        matches!(
            self,
            Mark::Reached { mismatch: true } | Mark::NotReached { mismatch: true }
        )
    }
}

impl MatrixState {
    pub fn start(cells: Vec<Cell>) -> Self {
        let results = vec![None; cells.len()];
        MatrixState {
            grid: Layout::of(&cells),
            cells,
            results,
            running: true,
            ..Default::default()
        }
    }

    /// Put a result in its planned place (the index it carries); a result that is not this
    /// plan's cell (a late one from an earlier run) is dropped.
    pub fn record(&mut self, r: CellResult) {
        let i = r.index;
        if self.cells.get(i) == Some(&r.cell) {
            self.results[i] = Some(r);
        }
    }

    pub fn done(&self) -> usize {
        self.results.iter().filter(|r| r.is_some()).count()
    }

    pub fn mismatches(&self) -> usize {
        self.results
            .iter()
            .flatten()
            .filter(|r| r.mismatch())
            .count()
    }

    /// Results without a prediction (`expected: null`): what the walk could not model.
    pub fn unknowns(&self) -> usize {
        self.results
            .iter()
            .flatten()
            .filter(|r| r.expected.reachable.is_none())
            .count()
    }

    /// How far the selected cell's explanation is scrolled.
    pub fn explain_scroll(&self) -> usize {
        match self.scroll {
            (r, c, by) if (r, c) == (self.row, self.col) => by,
            _ => 0,
        }
    }

    /// Scroll the selected cell's explanation by `by` lines, to at most `max_top`.
    pub fn scroll_explanation(&mut self, by: isize, max_top: usize) {
        let top = (self.explain_scroll() as isize + by).clamp(0, max_top as isize);
        self.scroll = (self.row, self.col, top as usize);
    }

    /// Where the selected cell's packets go (see [`OnPath`]).
    pub fn on_path(&self) -> OnPath {
        let g = self.grid();
        let mut on = OnPath::default();
        let Some((from, to)) = self.selected_pair() else {
            return on;
        };
        on.endpoints = [from, to].into_iter().collect();
        for r in self.results_at(g, self.row, self.col) {
            on.hops = on.hops.max(r.expected.path.len());
            on.devices.extend(
                r.expected
                    .path
                    .iter()
                    .map(|h| (h.netns.to_string(), h.dev.to_string())),
            );
        }
        on
    }

    pub fn grid(&self) -> &Layout {
        &self.grid
    }

    /// The mark of one kind at (row, col) of `grid`.
    pub fn mark(&self, grid: &Layout, row: usize, col: usize, kind: ProbeKind) -> Mark {
        match grid.index(row, col, kind) {
            None => Mark::NotProbed,
            Some(i) => match &self.results[i] {
                None => Mark::Waiting,
                Some(r) if r.reachable() => Mark::Reached {
                    mismatch: r.mismatch(),
                },
                Some(r) => Mark::NotReached {
                    mismatch: r.mismatch(),
                },
            },
        }
    }

    /// Every result at (row, col), one per kind probed.
    pub fn results_at(&self, grid: &Layout, row: usize, col: usize) -> Vec<&CellResult> {
        grid.kinds
            .iter()
            .filter_map(|&k| grid.index(row, col, k))
            .filter_map(|i| self.results.get(i)?.as_ref())
            .collect()
    }

    /// The selected cell's source and target names.
    pub fn selected_pair(&self) -> Option<(String, String)> {
        let g = self.grid();
        Some((
            g.rows.get(self.row)?.clone(),
            g.columns.get(self.col)?.0.clone(),
        ))
    }

    /// Move to the cell for (from, to) if there is one.
    pub fn select(&mut self, from: &str, to: &str) -> bool {
        let g = self.grid();
        match (
            g.rows.iter().position(|r| r == from),
            g.columns.iter().position(|c| c.0 == to),
        ) {
            (Some(r), Some(c)) => {
                self.row = r;
                self.col = c;
                true
            }
            _ => false,
        }
    }
}

/// Where the selected cell's packets go, for the pictures to highlight: every (namespace,
/// device) of the packet walk's hops of each kind probed there, and the cell's two endpoints
/// (so a cell whose expectation has no path still shows its ends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnPath {
    /// (namespace, device) of every hop.
    pub devices: BTreeSet<(String, String)>,
    /// The cell's source and target names.
    pub endpoints: BTreeSet<String>,
    /// How many hops the longest path has (the walk's count, request then reply).
    pub hops: usize,
}

impl OnPath {
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty() && self.endpoints.is_empty()
    }

    pub fn device(&self, netns: &str, dev: &str) -> bool {
        self.devices
            .iter()
            .any(|(n, d)| n.as_str() == netns && d.as_str() == dev)
    }

    pub fn netns(&self, netns: &str) -> bool {
        self.devices.iter().any(|(n, _)| n.as_str() == netns)
    }
}

fn describe_endpoint(e: &Endpoint) -> String {
    let what = match (e.role, e.mode) {
        (Role::Container, Some(m)) => match m.submode() {
            Some(s) => format!("{} {s} container", m.name()),
            None => format!("{} container", m.name()),
        },
        (r, _) => format!("{r:?}").to_lowercase(),
    };
    let ip = e.ip.map(|i| format!(" {i}")).unwrap_or_default();
    format!("{} ({what}, {}{ip})", e.name, e.ifname)
}

fn outcome_words(kind: ProbeKind, o: &ProbeOutcome) -> (usize, usize) {
    // Each probe sends one request; a reply (or for TCP a reset) is one packet back.
    let received = usize::from(o.is_reachable(kind) || *o == ProbeOutcome::Refused);
    let sent = usize::from(!matches!(
        o,
        ProbeOutcome::NoRoute | ProbeOutcome::SendFailed(_)
    ));
    (sent, received)
}

/// The hops of one path, one line each: number, namespace, device and what happened there
/// (columns aligned within the path).
fn hop_lines(path: &[Arc<Hop>]) -> Vec<String> {
    let ns_w = path
        .iter()
        .map(|h| h.netns.chars().count())
        .max()
        .unwrap_or(0);
    let dev_w = path
        .iter()
        .map(|h| h.dev.chars().count())
        .max()
        .unwrap_or(0);
    let n_w = path.len().to_string().len();
    path.iter()
        .enumerate()
        .map(|(i, h)| {
            format!(
                "      {:>n_w$}  {:<ns_w$}  {:<dev_w$}  {}",
                i + 1,
                h.netns,
                h.dev,
                h.step
            )
            .trim_end()
            .to_string()
        })
        .collect()
}

/// The explanation of the cell at the cursor, as lines: the endpoints, then per kind probed
/// the observed and expected outcome, the deciding step's reason, the MAC that answered ARP,
/// the address the target saw, the packets sent and received, and the packet walk's hops
/// (request, then reply).
pub fn explain(m: &MatrixState, lab: Option<&LabState>) -> Vec<String> {
    let g = m.grid();
    let (Some(from), Some((to, ip))) = (g.rows.get(m.row), g.columns.get(m.col)) else {
        return vec!["no cell selected".into()];
    };
    let mut out = vec![format!("{from} → {to} {ip}")];
    if let Some(lab) = lab {
        let eps = crate::lab::endpoints(lab);
        if let Some(a) = eps.iter().find(|e| e.name == *from) {
            out.push(format!("from   {}", describe_endpoint(a)));
        }
        if let Some(b) = eps.iter().find(|e| e.name == *to) {
            out.push(format!("to     {}", describe_endpoint(b)));
        }
    }
    let results = m.results_at(g, m.row, m.col);
    if results.is_empty() {
        out.push(if m.running {
            "waiting for the probes…".into()
        } else {
            "not probed".into()
        });
    }
    for r in results {
        let kind = r.cell.kind.name();
        let verdict = if r.mismatch() {
            "! MISMATCH: the kernel did not do what netview predicted"
        } else if r.expected.reachable.is_none() {
            "not predicted"
        } else {
            "as expected"
        };
        out.push(String::new());
        out.push(format!(
            "{kind:<4}  observed {}{}  expected {}  → {verdict}",
            r.observed.outcome,
            r.observed
                .rtt_us
                .map(|us| format!(" in {:.2} ms", us as f64 / 1000.0))
                .unwrap_or_default(),
            r.expected.word(),
        ));
        out.push(format!("      why: {}", r.expected.why));
        if r.cell.kind == ProbeKind::Arp {
            out.push(format!(
                "      ARP answered by: {}",
                r.observed.arp_mac.as_deref().unwrap_or("nobody")
            ));
        }
        if let Some(s) = r.observed.seen_as {
            out.push(format!("      seen as: {s}"));
        } else if r.cell.kind == ProbeKind::Icmp {
            out.push("      seen as: —".into());
        }
        let (sent, received) = outcome_words(r.cell.kind, &r.observed.outcome);
        out.push(format!("      packets: {sent} sent, {received} received"));
        match r.expected.path.len() {
            0 => out.push("      hops: none".into()),
            n => {
                out.push(format!(
                    "      hops ({n}, request then reply: namespace, device, step):"
                ));
                out.extend(hop_lines(&r.expected.path));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::fixture;

    fn finished() -> MatrixState {
        let results = fixture::matrix_results();
        let mut m = MatrixState::start(results.iter().map(|r| r.cell.clone()).collect());
        for r in results {
            m.record(r);
        }
        m
    }

    #[test]
    fn the_explanation_lists_every_hop_of_every_kind_in_order() {
        let mut m = finished();
        assert!(m.select("mv1", "peer"));
        let lines = explain(&m, Some(&fixture::lab_state()));
        let text = lines.join("\n");
        let results = m.results_at(m.grid(), m.row, m.col);
        assert_eq!(results.len(), 2, "icmp and arp");
        for r in &results {
            let n = r.expected.path.len();
            assert!(
                text.contains(&format!("hops ({n}, request then reply")),
                "{text}"
            );
            // Each hop once, numbered in order, with its namespace, device and step.
            for (i, h) in r.expected.path.iter().enumerate() {
                let at = lines
                    .iter()
                    .find(|l| {
                        l.trim_start().starts_with(&format!("{} ", i + 1))
                            && l.contains(&*h.netns)
                            && l.contains(&*h.dev)
                            && l.ends_with(&*h.step)
                    })
                    .is_some();
                assert!(at, "hop {} {h:?} missing in {text}", i + 1);
            }
        }
        assert!(
            text.contains("1  nv-mv1     eth0    routed on-link by 192.168.50.0/24"),
            "{text}"
        );
        assert!(
            !text.contains("path   "),
            "the guessed path is gone: {text}"
        );
    }

    #[test]
    fn a_cell_without_a_path_or_a_prediction_says_so() {
        let mut m = finished();
        assert!(m.select("none1", "peer"));
        let text = explain(&m, None).join("\n");
        assert!(text.contains("hops: none"), "{text}");
        for r in m.results.iter_mut().flatten() {
            r.expected = crate::probe::cell::Expectation::unknown().into();
        }
        let text = explain(&m, None).join("\n");
        assert!(text.contains("expected unknown  → not predicted"), "{text}");
        assert!(!text.contains("as expected"), "{text}");
        assert_eq!(m.unknowns(), m.cells.len());
    }

    #[test]
    fn on_path_holds_the_hops_devices_and_the_cells_ends() {
        let mut m = finished();
        assert!(m.select("mv1", "peer"));
        let on = m.on_path();
        assert!(on.device("nv-host", "enp0s8"), "{on:?}");
        assert!(on.device("nv-switch", "p-peer"), "{on:?}");
        assert!(on.netns("nv-peer"));
        assert!(!on.device("nv-switch", "p-router"), "{on:?}");
        assert!(!on.netns("nv-router"));
        assert_eq!(on.endpoints, ["mv1".to_string(), "peer".to_string()].into());
        assert_eq!(on.hops, 30);
        m.row = usize::MAX;
        assert!(m.on_path().is_empty());
    }

    #[test]
    fn the_explanation_scroll_belongs_to_its_cell() {
        let mut m = finished();
        assert!(m.select("mv1", "peer"));
        m.scroll_explanation(5, 39);
        assert_eq!(m.explain_scroll(), 5);
        m.scroll_explanation(100, 39);
        assert_eq!(m.explain_scroll(), 39);
        m.scroll_explanation(-100, 39);
        assert_eq!(m.explain_scroll(), 0);
        m.scroll_explanation(3, 39);
        assert!(m.select("mv1", "router"));
        assert_eq!(m.explain_scroll(), 0, "another cell starts at its top");
    }

    #[test]
    fn a_result_is_filed_by_its_index_and_a_stale_one_is_dropped() {
        let results = fixture::matrix_results();
        let mut m = MatrixState::start(results.iter().map(|r| r.cell.clone()).collect());
        let mut stale = results[1].clone();
        stale.index = 0; // another cell's place: from an earlier plan
        m.record(stale);
        assert_eq!(m.done(), 0);
        m.record(results[1].clone());
        assert_eq!(m.results[1].as_ref(), Some(&results[1]));
        assert_eq!(m.done(), 1);
    }

    #[test]
    fn results_fill_their_planned_cells() {
        let results = fixture::matrix_results();
        let mut m = MatrixState::start(results.iter().map(|r| r.cell.clone()).collect());
        let g = m.grid().clone();
        assert_eq!(m.mark(&g, 0, 0, ProbeKind::Icmp), Mark::Waiting);
        for r in results {
            m.record(r);
        }
        assert_eq!(m.done(), m.cells.len());
        let row = g.rows.iter().position(|r| r == "mv1").unwrap();
        let col = g.columns.iter().position(|c| c.0 == "host").unwrap();
        assert_eq!(
            m.mark(&g, row, col, ProbeKind::Icmp),
            Mark::NotReached { mismatch: false }
        );
    }
}
