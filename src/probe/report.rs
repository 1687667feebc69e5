//! The matrix's reports: text (the compact grid), JSON, CSV and markdown, each written as the
//! results arrive and keeping only what the answer needs (one mark per cell, and the lines of
//! the cells that `--explain` or the mismatch list will show), never the results themselves.
//!
//! [`Report`] is a [`MatrixSink`] for the CLI; [`render`] runs one over finished results (the
//! TUI's export, the tests). The JSON document is the one docs/json.md describes, written
//! incrementally: `"pacing"` first, then `"results"` one per line as they come, then the counts.

use std::io::{self, Write};
use std::sync::Arc;

use super::cell::{Cell, CellResult};
use super::matrix::{group_heading, Layout, MatrixSink, Pacing, RunSummary};
use super::walk::Hop;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The grid, a summary and the mismatches (with `--explain`, every cell that fails or
    /// differs, with its path and reason).
    Text,
    /// One document: `{"pacing", "results": [...], "elapsed_ms", ...}` (docs/json.md).
    Json,
    /// One line per cell, with a header.
    Csv,
    /// The grid as a markdown table, the summary and the same lists as text.
    Markdown,
}

/// A cell's mark in the grid: known, reached, differs.
const KNOWN: u8 = 1;
const REACHED: u8 = 2;
const DIFFERS: u8 = 4;

/// The grid as it fills: the plan's layout, one mark per cell, and which rows are complete,
/// so each row is written as soon as its last cell arrives (in plan order).
struct Grid {
    layout: Layout,
    marks: Vec<u8>,
    row_of: Vec<u32>,
    missing: Vec<usize>,
    next_row: usize,
    widths: Vec<usize>,
    row_w: usize,
}

impl Grid {
    fn new(cells: &[Cell]) -> Grid {
        let layout = Layout::of(cells);
        let mut row_of = vec![0u32; cells.len()];
        let mut missing = vec![0usize; layout.rows.len()];
        for (&(row, _, _), &i) in &layout.cells {
            row_of[i] = row as u32;
            missing[row] += 1;
        }
        // Addresses are never cut here: IPv6's longest text is 39 characters.
        let widths = layout.column_widths(usize::MAX);
        let row_w = layout
            .rows
            .iter()
            .map(|r| r.chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        Grid {
            marks: vec![0; cells.len()],
            layout,
            row_of,
            missing,
            next_row: 0,
            widths,
            row_w,
        }
    }

    /// Record one result; returns the rows now complete and not yet written.
    fn set(&mut self, r: &CellResult) -> std::ops::Range<usize> {
        if let Some(m) = self.marks.get_mut(r.index) {
            if *m & KNOWN == 0 {
                *m = KNOWN
                    | if r.reachable() { REACHED } else { 0 }
                    | if r.mismatch() { DIFFERS } else { 0 };
                let row = self.row_of[r.index] as usize;
                self.missing[row] = self.missing[row].saturating_sub(1);
            }
        }
        let from = self.next_row;
        while self.next_row < self.missing.len() && self.missing[self.next_row] == 0 {
            self.next_row += 1;
        }
        from..self.next_row
    }

    /// One grid cell's marks: per kind `✓` reached, `✗` not, `·` not probed (or not known);
    /// `!` when any kind differs from its expectation.
    fn marks(&self, row: usize, col: usize) -> String {
        let mut s = String::new();
        let mut differs = false;
        for &k in &self.layout.kinds {
            match self.layout.index(row, col, k).map(|i| self.marks[i]) {
                Some(m) if m & KNOWN != 0 => {
                    s.push(if m & REACHED != 0 { '✓' } else { '✗' });
                    differs |= m & DIFFERS != 0;
                }
                _ => s.push('·'),
            }
        }
        if differs {
            s.push('!');
        }
        s
    }

    fn legend(&self) -> String {
        let kind_names: Vec<&str> = self.layout.kinds.iter().map(|k| k.name()).collect();
        format!(
            "each cell: {} — ✓ reached, ✗ not, · not probed (ARP only on-link), ! differs from the expectation",
            kind_names.join(" ")
        )
    }

    /// The legend, then two header lines: `from` and the targets' names over their columns,
    /// then each column's address.
    fn text_header(&self) -> String {
        let l = &self.layout;
        let row_w = self.row_w;
        let mut names = format!("{:<row_w$}", "from");
        for (name, cols) in l.groups(0..l.columns.len()) {
            let span = self.widths[cols.clone()].iter().sum::<usize>() + cols.len() - 1;
            names.push(' ');
            names.push_str(&group_heading(name, span));
        }
        let mut addresses = " ".repeat(row_w);
        for ((_, ip), w) in l.columns.iter().zip(&self.widths) {
            addresses.push_str(&format!(" {:<w$}", ip.to_string()));
        }
        format!(
            "{}\n{}\n{}\n",
            self.legend(),
            names.trim_end(),
            addresses.trim_end()
        )
    }

    fn text_row(&self, row: usize) -> String {
        let name = &self.layout.rows[row];
        let mut out = name.clone();
        out.push_str(&" ".repeat(self.row_w - name.chars().count()));
        for (col, w) in self.widths.iter().enumerate() {
            let m = self.marks(row, col);
            out.push(' ');
            out.push_str(&m);
            out.push_str(&" ".repeat(w.saturating_sub(m.chars().count())));
        }
        let end = out.trim_end_matches(' ').len();
        out.truncate(end);
        out.push('\n');
        out
    }

    fn markdown_header(&self) -> String {
        let mut out = format!("{}\n\n| from |", self.legend());
        for (name, ip) in &self.layout.columns {
            out.push_str(&format!(" {} {ip} |", md_escape(name)));
        }
        out.push_str("\n| --- |");
        for _ in &self.layout.columns {
            out.push_str(" :---: |");
        }
        out.push('\n');
        out
    }

    fn markdown_row(&self, row: usize) -> String {
        let mut out = format!("| {} |", md_escape(&self.layout.rows[row]));
        for col in 0..self.layout.columns.len() {
            out.push_str(&format!(" {} |", self.marks(row, col)));
        }
        out.push('\n');
        out
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A path in one line: `netns dev: step → ...`.
pub fn path_text(path: &[Arc<Hop>]) -> String {
    path.iter()
        .map(|h| {
            if h.dev.is_empty() {
                format!("{}: {}", h.netns, h.step)
            } else {
                format!("{} {}: {}", h.netns, h.dev, h.step)
            }
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

/// One cell as the mismatch list and `--explain` show it.
fn explain_line(r: &CellResult, with_path: bool) -> String {
    let mut s = format!(
        "{} -> {} {} {}: observed {}, expected {}: {}\n",
        r.cell.from,
        r.cell.to,
        r.cell.target_ip,
        r.cell.kind.name(),
        r.observed.outcome,
        r.expected.word(),
        r.expected.why
    );
    if with_path && !r.expected.path.is_empty() {
        s.push_str(&format!("    path: {}\n", path_text(&r.expected.path)));
    }
    s
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

const CSV_HEADER: &str = "from,to,target_ip,kind,port,outcome,detail,reachable,rtt_us,arp_mac,seen_as,expected,mismatch,why,path";

fn csv_line(r: &CellResult) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let fields = [
        r.cell.from.to_string(),
        r.cell.to.to_string(),
        r.cell.target_ip.to_string(),
        r.cell.kind.name().to_string(),
        opt(r.cell.port.map(|p| p.to_string())),
        r.observed.outcome.name().to_string(),
        opt(r.observed.outcome.detail().map(str::to_string)),
        r.reachable().to_string(),
        opt(r.observed.rtt_us.map(|v| v.to_string())),
        opt(r.observed.arp_mac.clone()),
        opt(r.observed.seen_as.map(|a| a.to_string())),
        opt(r.expected.reachable.map(|b| b.to_string())),
        r.mismatch().to_string(),
        r.expected.why.clone(),
        path_text(&r.expected.path),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// The summary line under the grid.
pub fn summary_line(s: &RunSummary) -> String {
    let mut line = format!(
        "{} probes in {} ms, {} mismatch{}, {} unknown (no prediction)",
        s.cells,
        s.elapsed_ms,
        s.mismatches,
        if s.mismatches == 1 { "" } else { "es" },
        s.unknown
    );
    if s.retried > 0 {
        line.push_str(&format!(
            "; {} expected to answer heard nothing while the kernel dropped packets at its input \
             queues, and were probed again",
            s.retried
        ));
    }
    if let Some(p) = &s.pacing {
        line.push_str(&format!("; paced in {} batches: {}", p.batches, p.why));
    }
    line
}

/// A report being written as results arrive.
pub struct Report<W: Write> {
    format: Format,
    explain: bool,
    out: W,
    grid: Option<Grid>,
    started: bool,
    pacing: Option<Pacing>,
    json_results: usize,
    /// The lines shown under the grid: mismatches, and with `--explain` every failing cell.
    listed: Vec<String>,
    error: Option<io::Error>,
}

impl<W: Write> Report<W> {
    /// A report of the run of `cells` (the plan, for the grid's layout).
    pub fn new(format: Format, explain: bool, cells: &[Cell], out: W) -> Report<W> {
        let grid = matches!(format, Format::Text | Format::Markdown).then(|| Grid::new(cells));
        Report {
            format,
            explain,
            out,
            grid,
            started: false,
            pacing: None,
            json_results: 0,
            listed: Vec::new(),
            error: None,
        }
    }

    fn write(&mut self, s: &str) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(s.as_bytes()) {
                self.error = Some(e);
            }
        }
    }

    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let head = match self.format {
            Format::Json => {
                let pacing = serde_json::to_string(&self.pacing).unwrap_or_else(|_| "null".into());
                format!("{{\"pacing\": {pacing},\n \"results\": [")
            }
            Format::Csv => format!("{CSV_HEADER}\n"),
            Format::Text | Format::Markdown => {
                let mut head = String::new();
                if let Some(p) = &self.pacing {
                    head.push_str(&format!("paced in {} batches: {}\n", p.batches, p.why));
                }
                if let Some(g) = &self.grid {
                    head.push_str(&if self.format == Format::Text {
                        g.text_header()
                    } else {
                        format!("## Probe matrix\n\n{}", g.markdown_header())
                    });
                }
                head
            }
        };
        self.write(&head);
    }

    /// Write the rest (rows never completed, the counts, the lists) and give the writer
    /// back, or the first write error.
    pub fn finish(mut self, summary: &RunSummary) -> io::Result<W> {
        self.start();
        let tail = match self.format {
            Format::Json => {
                format!(
                    "{}],\n \"elapsed_ms\": {}, \"cells\": {}, \"mismatches\": {}, \"unknown\": {}, \"retried\": {}}}\n",
                    if self.json_results > 0 { "\n " } else { "" },
                    summary.elapsed_ms,
                    summary.cells,
                    summary.mismatches,
                    summary.unknown,
                    summary.retried
                )
            }
            Format::Csv => String::new(),
            Format::Text | Format::Markdown => {
                let md = self.format == Format::Markdown;
                let mut tail = String::new();
                if let Some(g) = &self.grid {
                    for row in g.next_row..g.layout.rows.len() {
                        tail.push_str(&if md {
                            g.markdown_row(row)
                        } else {
                            g.text_row(row)
                        });
                    }
                }
                tail.push_str(if md { "\n" } else { "" });
                tail.push_str(&summary_line(summary));
                tail.push('\n');
                if !self.listed.is_empty() {
                    tail.push_str(match (md, self.explain) {
                        (false, false) => {
                            "\nmismatches (observed differs from the kernel's expected behaviour):\n"
                        }
                        (false, true) => "\ncells that fail or differ from the expectation, with the path and the reason:\n",
                        (true, false) => "\n### Mismatches\n\n",
                        (true, true) => "\n### Cells that fail or differ\n\n",
                    });
                    for l in std::mem::take(&mut self.listed) {
                        if md {
                            // A list item; the path line becomes its continuation.
                            tail.push_str(&format!("- {}", l.replace("\n    path:", "\n  path:")));
                        } else {
                            tail.push_str(&l);
                        }
                    }
                }
                tail
            }
        };
        self.write(&tail);
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> MatrixSink for Report<W> {
    fn paced(&mut self, pacing: &Pacing) {
        if !self.started {
            self.pacing = Some(pacing.clone());
        }
    }

    fn result(&mut self, r: CellResult) {
        self.start();
        match self.format {
            Format::Json => {
                let line = serde_json::to_string(&r).unwrap_or_default();
                let sep = if self.json_results == 0 {
                    "\n  "
                } else {
                    ",\n  "
                };
                self.json_results += 1;
                self.write(&format!("{sep}{line}"));
            }
            Format::Csv => {
                let line = csv_line(&r);
                self.write(&line);
            }
            Format::Text | Format::Markdown => {
                if r.mismatch() || (self.explain && !r.reachable()) {
                    self.listed.push(explain_line(&r, self.explain));
                }
                let md = self.format == Format::Markdown;
                let Some(g) = self.grid.as_mut() else { return };
                let rows = g.set(&r);
                let mut text = String::new();
                for row in rows {
                    text.push_str(&if md {
                        g.markdown_row(row)
                    } else {
                        g.text_row(row)
                    });
                }
                if !text.is_empty() {
                    self.write(&text);
                }
            }
        }
    }
}

/// Render finished results (the plan's cells, in plan order) as one report: for the TUI's
/// export and the tests.
pub fn render(
    format: Format,
    explain: bool,
    results: &[CellResult],
    summary: &RunSummary,
) -> String {
    let cells: Vec<Cell> = results.iter().map(|r| r.cell.clone()).collect();
    let mut report = Report::new(format, explain, &cells, Vec::new());
    if let Some(p) = &summary.pacing {
        report.paced(p);
    }
    for (i, r) in results.iter().enumerate() {
        let mut r = r.clone();
        r.index = i;
        report.result(r);
    }
    let bytes = report.finish(summary).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The summary of finished results (no pacing), for [`render`].
pub fn summary_of(results: &[CellResult], elapsed_ms: u64) -> RunSummary {
    RunSummary {
        retried: 0,
        elapsed_ms,
        cells: results.len(),
        mismatches: results.iter().filter(|r| r.mismatch()).count(),
        unknown: results
            .iter()
            .filter(|r| r.expected.reachable.is_none())
            .count(),
        pacing: None,
    }
}

/// The compact text grid of finished results (legend, column key, one row per source).
pub fn render_text(results: &[CellResult]) -> String {
    let cells: Vec<Cell> = results.iter().map(|r| r.cell.clone()).collect();
    let mut g = Grid::new(&cells);
    let mut out = g.text_header();
    for (i, r) in results.iter().enumerate() {
        let mut r = r.clone();
        r.index = i;
        g.set(&r);
    }
    for row in 0..g.layout.rows.len() {
        out.push_str(&g.text_row(row));
    }
    out
}

/// The mismatches, one per line: what was seen, what was expected and why.
pub fn render_mismatches(results: &[CellResult]) -> String {
    results
        .iter()
        .filter(|r| r.mismatch())
        .map(|r| explain_line(r, false))
        .collect()
}

#[cfg(test)]
mod tests;
