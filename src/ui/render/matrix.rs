//! The Matrix tab: sources down, targets across, one mark per probe kind in each cell
//! (`✓` reached, `✗` not, `·` not probed, `…` waiting) and `!` where the kernel did not do
//! what the rules expect; colour says expected (green/blue) or not (red), the marks say it
//! without colour. Each target endpoint's name heads the columns of its addresses; the
//! columns that do not fit scroll into view. Under it: the selected cell, the marks'
//! legend, and which columns are in view.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::cut;
use super::table::body_block;
use crate::probe::matrix::group_heading;
use crate::ui::app::{Model, Tab};
use crate::ui::bench::Mark;
use crate::ui::keys::Action;
use crate::ui::labui::SPINNER;
use crate::ui::matrix_view;
use crate::ui::theme::MARK_MISMATCH;

fn title(model: &Model) -> String {
    let m = &model.bench.matrix;
    if m.cells.is_empty() {
        return "Matrix".into();
    }
    let state = if m.running {
        format!("probing {}", SPINNER[model.bench.spinner % SPINNER.len()])
    } else {
        m.elapsed_ms
            .map(|ms| format!("{ms} ms"))
            .unwrap_or_else(|| "stopped".into())
    };
    let mm = m.mismatches();
    let mut title = format!(
        "Matrix · {}/{} probes · {state} · {mm} mismatch{} · {} unknown",
        m.done(),
        m.cells.len(),
        if mm == 1 { "" } else { "es" },
        m.unknowns()
    );
    if let Some(p) = &m.pacing {
        title.push_str(&format!(
            " · paced in {} batches to fit the kernel's neighbour table",
            p.batches
        ));
    }
    title
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = &model.theme;
    let block = body_block(model, title(model));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let m = &model.bench.matrix;
    if m.cells.is_empty() {
        let text = if model.bench.lab.is_none() {
            "No lab is up. n: new container (offers to bring the lab up), L: lab up, t: tour."
        } else {
            "p runs the probes: every endpoint to every address, ICMP and ARP."
        };
        frame.render_widget(
            Paragraph::new(text)
                .style(theme.dim())
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let g = m.grid();
    let view = matrix_view::view(m, inner);
    let row_w = view.row_w;
    let legend_area = Rect {
        y: inner.y + view.area.height,
        height: inner.height - view.area.height,
        ..inner
    };

    // The header: each target's name over its addresses, the cursor's address marked.
    let mut names = vec![Span::styled(
        format!("{:<row_w$}", "from\\to"),
        theme.header(),
    )];
    for (name, cols) in g.groups(view.cols.clone()) {
        let span = view.widths[cols.clone()].iter().sum::<usize>() + cols.len() - 1;
        let style = if cols.contains(&m.col) {
            theme.header().patch(theme.selected(false))
        } else {
            theme.header()
        };
        names.push(Span::raw(" "));
        names.push(Span::styled(group_heading(name, span), style));
    }
    let mut addresses = vec![Span::styled(
        format!("{:<row_w$}", cut(&kinds_label(g), row_w)),
        theme.dim(),
    )];
    for c in view.cols.clone() {
        let w = view.widths[c];
        let style = if c == m.col {
            theme.selected(true)
        } else {
            theme.header()
        };
        addresses.push(Span::raw(" "));
        addresses.push(Span::styled(
            format!("{:<w$}", cut(&g.columns[c].1.to_string(), w)),
            style,
        ));
    }
    let mut lines = vec![Line::from(names), Line::from(addresses)];
    for ri in view.rows.clone() {
        let name = &g.rows[ri];
        let name_style = if ri == m.row {
            theme.selected(true)
        } else {
            Style::new()
        };
        let mut spans = vec![Span::styled(
            format!("{:<row_w$}", cut(name, row_w)),
            name_style,
        )];
        for ci in view.cols.clone() {
            let w = view.widths[ci];
            let marks: Vec<Mark> = g.kinds.iter().map(|&k| m.mark(g, ri, ci, k)).collect();
            let mismatch = marks.iter().any(|mk| mk.mismatch());
            let mut text: String = marks.iter().map(|mk| mk.symbol()).collect();
            if mismatch {
                text.push_str(MARK_MISMATCH);
            }
            let reached = marks.iter().any(|mk| matches!(mk, Mark::Reached { .. }));
            let mut style = if mismatch {
                theme.mismatch()
            } else if marks
                .iter()
                .all(|mk| matches!(mk, Mark::NotProbed | Mark::Waiting))
            {
                theme.dim()
            } else {
                theme.expected(reached)
            };
            if ri == m.row && ci == m.col {
                style = style.patch(theme.selected(true));
            }
            spans.push(Span::raw(" "));
            spans.push(Span::styled(format!("{text:<w$}"), style));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), view.area);

    // Under the grid: the selected cell, the marks, and which columns are in view.
    let w = usize::from(inner.width.max(1));
    let selected = match m.selected_pair() {
        Some((from, _)) => {
            let (to, ip) = &g.columns[m.col.min(g.columns.len() - 1)];
            let marks: String = g
                .kinds
                .iter()
                .map(|&k| format!("{} {}", k.name(), m.mark(g, m.row, m.col, k).symbol()))
                .collect::<Vec<_>>()
                .join("  ");
            // The keys in use (a config may remap them); the path is drawn on the Lab tab.
            let keys = &model.keys;
            format!(
                "▶ {from} → {to} {ip}: {marks}   {}: explain, {}: path",
                keys.first_key(Action::Open),
                keys.first_key(Action::GoTab(Tab::Lab.index()))
            )
        }
        None => String::new(),
    };
    let mut legend = vec![
        Line::raw(cut(&selected, w)),
        Line::styled(
            cut(
                &format!(
                    "cell = {}: ✓ reached ✗ not · not probed … waiting ! not as expected",
                    kinds_label(g)
                ),
                w,
            ),
            theme.dim(),
        ),
    ];
    if legend_area.height > 2 {
        let n = g.columns.len();
        let more = match (view.cols.start > 0, view.cols.end < n) {
            (true, true) => "more on both sides",
            (true, false) => "more to the left",
            _ => "more to the right",
        };
        legend.push(Line::styled(
            cut(
                &format!(
                    "columns {}–{} of {n} · {more} · {} {}: scroll",
                    view.cols.start + 1,
                    view.cols.end,
                    keys_of(model, Action::ScrollLeft),
                    keys_of(model, Action::ScrollRight),
                ),
                w,
            ),
            theme.dim(),
        ));
    }
    frame.render_widget(Paragraph::new(legend), legend_area);
}

/// The key in use for `action` (a config may remap it).
fn keys_of(model: &Model, action: Action) -> String {
    model.keys.first_key(action)
}

fn kinds_label(g: &crate::probe::matrix::Layout) -> String {
    g.kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(" ")
}
