//! The lab bench's pure parts: the probe matrix as it fills in, the path a packet takes
//! between two endpoints, and the explanation of one cell.

use crate::lab::spec::NetMode;
use crate::lab::state::LabState;
use crate::lab::{Endpoint, Role};
use crate::probe::cell::{Cell, CellResult};
use crate::probe::matrix::Layout;
use crate::probe::{ProbeKind, ProbeOutcome};

/// A probe run: the planned cells, laid out once, and the results as they arrive (same order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatrixState {
    pub cells: Vec<Cell>,
    /// The cells' rows and columns, the same layout as the CLI's text matrix.
    pub grid: Layout,
    pub results: Vec<Option<CellResult>>,
    pub running: bool,
    pub elapsed_ms: Option<u64>,
    /// An error starting or running the probes.
    pub error: Option<String>,
    /// Cursor: source row, target column.
    pub row: usize,
    pub col: usize,
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

/// A node of the lab picture a packet passes (an endpoint, an interface, the switch).
pub type Hop = String;

/// From an endpoint up to the LAN switch: what it hangs off.
fn uplink(lab: &LabState, e: &Endpoint) -> Vec<Hop> {
    let lan = lab.spec.host_lan_ifname().to_string();
    let switch = lab.spec.switch.bridge.clone();
    let docker = lab.spec.docker.bridge.clone();
    match (e.role, e.mode) {
        (Role::Host, _) => vec!["host".into(), lan, switch],
        (Role::Peer, _) | (Role::Router, _) => vec![e.name.clone(), switch],
        (Role::Container, Some(NetMode::Bridge)) => {
            vec![e.name.clone(), docker, "host".into(), lan, switch]
        }
        (Role::Container, Some(NetMode::Host)) => vec![e.name.clone(), lan, switch],
        (Role::Container, Some(NetMode::Macvlan(_) | NetMode::Ipvlan(_))) => {
            vec![e.name.clone(), e.parent.clone().unwrap_or(lan), switch]
        }
        (Role::Container, _) => vec![e.name.clone()],
    }
}

/// The nodes a packet from `from` to `to` passes, joined where their uplinks meet (nothing
/// joins for a `none` container: then only the source).
pub fn path(lab: &LabState, endpoints: &[Endpoint], from: &str, to: &str) -> Vec<Hop> {
    let find = |n: &str| endpoints.iter().find(|e| e.name == n);
    let (Some(a), Some(b)) = (find(from), find(to)) else {
        return Vec::new();
    };
    let up_a = uplink(lab, a);
    let up_b = uplink(lab, b);
    for (i, hop) in up_a.iter().enumerate() {
        if let Some(j) = up_b.iter().position(|h| h == hop) {
            let mut p: Vec<Hop> = up_a[..=i].to_vec();
            p.extend(up_b[..j].iter().rev().cloned());
            return p;
        }
    }
    vec![up_a[0].clone()]
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

/// The explanation of the cell at the cursor, as lines: the path, then per kind probed the
/// observed and expected outcome, the reason, the MAC that answered ARP, the address the
/// target saw, and the packets sent and received.
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
        let p = path(lab, &eps, from, to);
        if !p.is_empty() {
            out.push(format!("path   {}", p.join(" → ")));
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
            "! MISMATCH: the kernel did not do what the rules predict"
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
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::fixture;

    #[test]
    fn macvlan_child_to_host_meets_at_the_parent() {
        let lab = fixture::lab_state();
        let eps = crate::lab::endpoints(&lab);
        assert_eq!(
            path(&lab, &eps, "mv1", "host"),
            vec!["mv1", "enp0s8", "host"]
        );
        assert_eq!(
            path(&lab, &eps, "mv1", "peer"),
            vec!["mv1", "enp0s8", "lan0", "peer"]
        );
        assert_eq!(
            path(&lab, &eps, "br1", "router"),
            vec!["br1", "docker0", "host", "enp0s8", "lan0", "router"]
        );
        assert_eq!(path(&lab, &eps, "none1", "peer"), vec!["none1"]);
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
