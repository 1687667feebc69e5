//! The Matrix tab: sources down, targets across, one mark per probe kind in each cell
//! (`✓` reached, `✗` not, `·` not probed, `…` waiting) and `!` where the kernel did not do
//! what the rules expect; colour says expected (green/blue) or not (red), the marks say it
//! without colour. Under it: the column legend and the selected cell in one line.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::cut;
use super::table::body_block;
use crate::ui::app::Model;
use crate::ui::bench::Mark;
use crate::ui::labui::SPINNER;
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
    format!(
        "Matrix · {}/{} probes · {state} · {mm} mismatch{} · {} unknown",
        m.done(),
        m.cells.len(),
        if mm == 1 { "" } else { "es" },
        m.unknowns()
    )
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
    let row_w = g
        .rows
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 14);
    let cell_w = (g.kinds.len() + 1).max(3);
    // Columns that fit beside the source names; the cursor's column stays visible.
    let fit = (usize::from(inner.width).saturating_sub(row_w + 1) / (cell_w + 1)).max(1);
    let first_col = m.col.saturating_sub(fit - 1);
    let cols: Vec<usize> = (first_col..g.columns.len()).take(fit).collect();
    let cols_text: Vec<String> = g
        .columns
        .iter()
        .enumerate()
        .map(|(i, (n, ip))| format!("[{}] {n} {ip}", i + 1))
        .collect();
    let cols_joined = cols_text.join("  ");
    let w = usize::from(inner.width.max(1));
    let cols_h = cols_joined.chars().count().div_ceil(w).clamp(1, 4);
    let legend_h = (cols_h + 2) as u16;
    let [grid_area, legend_area] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(legend_h)]).areas(inner);

    let mut lines = Vec::new();
    let mut head = vec![Span::styled(
        format!("{:<row_w$}", format!("from\\to ({})", kinds_label(g))),
        theme.header(),
    )];
    if head[0].content.chars().count() > row_w {
        head[0] = Span::styled(format!("{:<row_w$}", "from"), theme.header());
    }
    for &c in &cols {
        let label = format!("[{}]", c + 1);
        let style = if c == m.col {
            theme.selected(true)
        } else {
            theme.header()
        };
        head.push(Span::raw(" "));
        head.push(Span::styled(format!("{label:>cell_w$}"), style));
    }
    lines.push(Line::from(head));
    let rows_h = usize::from(grid_area.height).saturating_sub(1).max(1);
    let first_row = m.row.saturating_sub(rows_h - 1);
    for (ri, name) in g.rows.iter().enumerate().skip(first_row).take(rows_h) {
        let name_style = if ri == m.row {
            theme.selected(true)
        } else {
            Style::new()
        };
        let mut spans = vec![Span::styled(
            format!("{:<row_w$}", cut(name, row_w)),
            name_style,
        )];
        for &ci in &cols {
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
            spans.push(Span::styled(format!("{text:>cell_w$}"), style));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), grid_area);

    // Legend: the columns, then the selected cell.
    let selected = match m.selected_pair() {
        Some((from, _)) => {
            let (to, ip) = &g.columns[m.col.min(g.columns.len() - 1)];
            let marks: String = g
                .kinds
                .iter()
                .map(|&k| format!("{} {}", k.name(), m.mark(g, m.row, m.col, k).symbol()))
                .collect::<Vec<_>>()
                .join("  ");
            format!("▶ {from} → {to} {ip}: {marks}   Enter: explain, 9: path")
        }
        None => String::new(),
    };
    let [cols_area, rest] =
        Layout::vertical([Constraint::Length(cols_h as u16), Constraint::Min(0)])
            .areas(legend_area);
    frame.render_widget(
        Paragraph::new(cols_joined)
            .style(theme.dim())
            .wrap(Wrap { trim: true }),
        cols_area,
    );
    let legend = vec![
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
    frame.render_widget(Paragraph::new(legend), rest);
}

fn kinds_label(g: &crate::probe::matrix::Layout) -> String {
    g.kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(" ")
}
