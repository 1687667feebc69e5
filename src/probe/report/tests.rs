//! The reports: rows written as they complete, the JSON document, CSV quoting, markdown, the
//! explanation list and the summary's counts.

use std::sync::Arc;

use super::*;
use crate::probe::cell::Expectation;
use crate::probe::matrix::{Pacing, RunSummary};
use crate::probe::pacing::NeighbourLimits;
use crate::probe::{Observation, ProbeKind, ProbeOutcome};

fn cells() -> Vec<Cell> {
    let mut out = Vec::new();
    for from in ["a", "b"] {
        for (to, ip) in [("a", "10.0.0.1"), ("b", "10.0.0.2")] {
            out.push(Cell {
                from: from.into(),
                to: to.into(),
                target_ip: ip.parse().unwrap(),
                kind: ProbeKind::Icmp,
                port: None,
            });
        }
    }
    out
}

fn result(cells: &[Cell], i: usize, outcome: ProbeOutcome, expected: Option<bool>) -> CellResult {
    CellResult {
        index: i,
        cell: cells[i].clone(),
        observed: Observation::outcome(outcome),
        expected: Arc::new(Expectation {
            reachable: expected,
            why: format!("why {i}, with \"quotes\""),
            path: vec![Arc::new(Hop {
                netns: "a".into(),
                dev: "eth0".into(),
                step: "sent".into(),
            })],
        }),
    }
}

/// a->a reached, a->b times out (expected), b->a differs, b->b unknown.
fn results(cells: &[Cell]) -> Vec<CellResult> {
    vec![
        result(cells, 0, ProbeOutcome::Reply, Some(true)),
        result(cells, 1, ProbeOutcome::Timeout, Some(false)),
        result(cells, 2, ProbeOutcome::Timeout, Some(true)),
        result(cells, 3, ProbeOutcome::Reply, None),
    ]
}

fn summary(pacing: Option<Pacing>) -> RunSummary {
    RunSummary {
        retried: 0,
        elapsed_ms: 12,
        cells: 4,
        mismatches: 1,
        unknown: 1,
        pacing,
    }
}

fn pacing() -> Pacing {
    Pacing {
        batches: 3,
        reclaim_waits: 0,
        entries_needed: 2000,
        room: 800,
        limits: NeighbourLimits {
            gc_thresh1: 128,
            gc_thresh2: 512,
            gc_thresh3: 1024,
            entries: 10,
        },
        why: "the probes need about 2000 neighbour entries".into(),
    }
}

#[test]
fn text_rows_are_written_as_soon_as_they_complete_in_plan_order() {
    let cells = cells();
    let rs = results(&cells);
    let mut report = Report::new(Format::Text, false, &cells, Vec::new());
    // Row b completes first, but is written only after row a.
    report.result(rs[2].clone());
    report.result(rs[3].clone());
    let so_far = String::from_utf8(report.out.clone()).unwrap();
    // The header names each target over its addresses.
    assert!(
        so_far.contains(" b ─") && so_far.contains("10.0.0.2"),
        "{so_far}"
    );
    assert!(!so_far.lines().any(|l| l.starts_with("b ")), "{so_far}");
    report.result(rs[0].clone());
    let so_far = String::from_utf8(report.out.clone()).unwrap();
    assert!(!so_far.lines().any(|l| l.starts_with("a ")), "{so_far}");
    report.result(rs[1].clone());
    let so_far = String::from_utf8(report.out.clone()).unwrap();
    let rows: Vec<&str> = so_far
        .lines()
        .filter(|l| l.starts_with("a ") || l.starts_with("b "))
        .collect();
    assert_eq!(rows.len(), 2, "{so_far}");
    assert!(rows[0].starts_with("a ") && rows[0].contains('✓') && rows[0].contains('✗'));
    assert!(rows[1].contains("✗!"), "b->a differs: {so_far}");
    let out = String::from_utf8(report.finish(&summary(None)).unwrap()).unwrap();
    assert!(
        out.contains("4 probes in 12 ms, 1 mismatch, 1 unknown (no prediction)"),
        "{out}"
    );
    // Without --explain: only the mismatch, without its path.
    assert!(out.contains("b -> a 10.0.0.1 icmp: observed Timeout, expected reachable"));
    assert!(!out.contains("a -> b 10.0.0.2 icmp"), "{out}");
    assert!(!out.contains("path:"), "{out}");
}

#[test]
fn explain_lists_every_cell_that_fails_or_differs_with_its_path() {
    let cells = cells();
    let out = render(Format::Text, true, &results(&cells), &summary(None));
    assert!(out.contains("cells that fail or differ"), "{out}");
    assert!(out.contains("a -> b 10.0.0.2 icmp: observed Timeout, expected unreachable: why 1"));
    assert!(out.contains("b -> a 10.0.0.1 icmp: observed Timeout, expected reachable: why 2"));
    assert!(
        !out.contains("a -> a 10.0.0.1 icmp"),
        "reached and as expected: {out}"
    );
    assert_eq!(out.matches("    path: a eth0: sent").count(), 2, "{out}");
}

#[test]
fn json_is_one_document_with_pacing_results_and_counts() {
    let cells = cells();
    let rs = results(&cells);
    let out = render(Format::Json, false, &rs, &summary(Some(pacing())));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["elapsed_ms"], 12);
    assert_eq!(v["unknown"], 1);
    assert_eq!(v["retried"], 0);
    assert_eq!(v["mismatches"], 1);
    assert_eq!(v["pacing"]["batches"], 3);
    assert_eq!(v["pacing"]["limits"]["gc_thresh3"], 1024);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for (got, r) in results.iter().zip(&rs) {
        assert_eq!(*got, serde_json::to_value(r).unwrap());
    }
    // One result per line, so a reader can stream it too.
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with("{\"from\""))
            .count(),
        4
    );
    // No pacing, no results: still a document.
    let empty = render(Format::Json, false, &[], &summary_of(&[], 3));
    let v: serde_json::Value = serde_json::from_str(&empty).unwrap();
    assert!(
        v["pacing"].is_null() && v["results"].as_array().unwrap().is_empty(),
        "{empty}"
    );
}

#[test]
fn csv_has_a_header_and_quotes_what_needs_it() {
    let cells = cells();
    let out = render(Format::Csv, false, &results(&cells), &summary(None));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], CSV_HEADER);
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[2],
        "a,b,10.0.0.2,icmp,,Timeout,,false,,,,false,false,\"why 1, with \"\"quotes\"\"\",a eth0: sent"
    );
    assert!(
        lines[4].contains(",Reply,,true,,,,,false,"),
        "unknown is empty: {}",
        lines[4]
    );
}

#[test]
fn markdown_is_a_table_with_the_summary_and_the_lists() {
    let cells = cells();
    let out = render(
        Format::Markdown,
        true,
        &results(&cells),
        &summary(Some(pacing())),
    );
    assert!(out.contains("| from | a 10.0.0.1 | b 10.0.0.2 |"), "{out}");
    assert!(out.contains("| --- | :---: | :---: |"));
    assert!(out.contains("| a | ✓ | ✗ |"), "{out}");
    assert!(out.contains("| b | ✗! | ✓ |"), "{out}");
    assert!(out.contains("paced in 3 batches"), "{out}");
    assert!(out.contains("### Cells that fail or differ"));
    assert!(out.contains("- b -> a 10.0.0.1 icmp"));
    assert!(out.contains("\n  path: a eth0: sent"), "{out}");
}

#[test]
fn a_write_error_is_returned_not_a_panic() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let cells = cells();
    let mut report = Report::new(Format::Csv, false, &cells, Broken);
    for r in results(&cells) {
        report.result(r);
    }
    let e = report.finish(&summary(None)).err().unwrap();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
}
