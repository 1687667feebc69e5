//! One cell of the probe matrix (a probe of one kind from a source to one target address), what
//! is expected of it and what was observed: the types the planner, the walk, the runner and
//! the views share, in a module of their own so none of them imports another for them.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use super::walk::Hop;
use super::{Observation, ProbeKind, ProbeOutcome};

/// What is predicted for one cell: reachable or not, or no prediction (`None`), and why.
/// Results share one (`Arc`) per distinct prediction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Expectation {
    /// `None` when the packet walk makes no prediction (it met something it does not model,
    /// or the inventory was not read); such a cell is never a mismatch.
    pub reachable: Option<bool>,
    pub why: String,
    /// The hops the packet walk followed (request, then reply); empty when the expectation
    /// did not come from the walk.
    pub path: Vec<Arc<Hop>>,
}

impl Expectation {
    /// No prediction: the inventory the packet walk predicts from was not read.
    pub fn unknown() -> Self {
        Expectation {
            reachable: None,
            why: "no prediction: the inventory the packet walk predicts from was not read".into(),
            path: Vec::new(),
        }
    }

    /// The prediction in one word, for text output.
    pub fn word(&self) -> &'static str {
        match self.reachable {
            Some(true) => "reachable",
            Some(false) => "unreachable",
            None => "unknown",
        }
    }
}

/// One cell of the matrix: a probe of one kind from an endpoint to one target address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// The source endpoint's name, shared by every cell from it (a 200-container matrix has
    /// 62,221 cells and 205 names).
    pub from: Arc<str>,
    /// The target endpoint's name, or the address itself when the user typed an address no
    /// endpoint holds; shared like `from`.
    pub to: Arc<str>,
    pub target_ip: IpAddr,
    pub kind: ProbeKind,
    /// TCP only: the port.
    pub port: Option<u16>,
}

/// A cell's observation next to its expectation. Serialises as one JSON result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellResult {
    /// The cell's place in its run's plan, so a view files the result without searching.
    pub index: usize,
    pub cell: Cell,
    pub observed: Observation,
    /// Shared by every result with the same prediction (reasons and paths are not copied per
    /// cell).
    pub expected: Arc<Expectation>,
}

impl CellResult {
    pub fn reachable(&self) -> bool {
        self.observed.outcome.is_reachable(self.cell.kind)
    }

    /// Observed reachability differs from the expectation: a finding for the user.
    pub fn mismatch(&self) -> bool {
        self.expected
            .reachable
            .is_some_and(|e| e != self.reachable())
    }
}

impl Serialize for CellResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            from: &'a str,
            to: &'a str,
            target_ip: IpAddr,
            kind: ProbeKind,
            port: Option<u16>,
            outcome: &'a ProbeOutcome,
            detail: Option<&'a str>,
            reachable: bool,
            rtt_us: Option<u64>,
            arp_mac: Option<&'a str>,
            seen_as: Option<IpAddr>,
            expected: Option<bool>,
            why: &'a str,
            path: &'a [Arc<Hop>],
            mismatch: bool,
        }
        Json {
            from: &self.cell.from,
            to: &self.cell.to,
            target_ip: self.cell.target_ip,
            kind: self.cell.kind,
            port: self.cell.port,
            outcome: &self.observed.outcome,
            detail: self.observed.outcome.detail(),
            reachable: self.reachable(),
            rtt_us: self.observed.rtt_us,
            arp_mac: self.observed.arp_mac.as_deref(),
            seen_as: self.observed.seen_as,
            expected: self.expected.reachable,
            why: &self.expected.why,
            path: &self.expected.path,
            mismatch: self.mismatch(),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(expected: Expectation, outcome: ProbeOutcome) -> CellResult {
        CellResult {
            index: 0,
            cell: Cell {
                from: "root".into(),
                to: "10.0.0.2".into(),
                target_ip: "10.0.0.2".parse().unwrap(),
                kind: ProbeKind::Icmp,
                port: None,
            },
            observed: Observation::outcome(outcome),
            expected: expected.into(),
        }
    }

    #[test]
    fn no_prediction_is_null_in_json_and_never_a_mismatch() {
        for outcome in [ProbeOutcome::Reply, ProbeOutcome::Timeout] {
            let r = result(Expectation::unknown(), outcome);
            assert!(!r.mismatch());
            let v = serde_json::to_value(&r).unwrap();
            assert!(v["expected"].is_null(), "{v}");
            assert_eq!(v["mismatch"], false);
            assert!(v["why"].as_str().unwrap().contains("no prediction"));
        }
    }

    #[test]
    fn a_prediction_is_a_bool_in_json_and_a_mismatch_when_it_differs() {
        let e = Expectation {
            reachable: Some(true),
            why: "same switch".into(),
            path: Vec::new(),
        };
        let r = result(e.clone(), ProbeOutcome::Timeout);
        assert!(r.mismatch());
        assert_eq!(serde_json::to_value(&r).unwrap()["expected"], true);
        assert!(!result(e, ProbeOutcome::Reply).mismatch());
    }
}
