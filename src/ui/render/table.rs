//! The table of the current tab (every tab but Topology), with a detail line for the
//! selected row and the namespace's read errors underneath.

use ratatui::layout::{Constraint, Layout, Margin, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::{cut, window};
use crate::ui::app::{Model, Pane};
use crate::ui::table::{columns_that_fit, fit_widths};
use crate::ui::theme::{MARK_ERROR, MARK_FOCUS, MARK_LOADING, MARK_SELECTED};

/// The bordered block around a tab's body, titled with the tab, the namespace and counts.
pub fn body_block<'a>(model: &Model, title: String) -> Block<'a> {
    let focused = model.focus == Pane::Table;
    let title = if focused {
        format!("{MARK_FOCUS} {title} ")
    } else {
        format!(" {title} ")
    };
    Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(model.theme.border(focused))
        .title(title)
}

/// The table, the detail line under it, and the read errors (at most two lines), inside
/// the body's border.
fn areas(inner: Rect, errors: usize) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(3),
        Constraint::Length(errors.min(2) as u16),
    ])
    .areas(inner)
}

fn error_count(model: &Model) -> usize {
    model.selected_entry().map_or(0, |e| {
        usize::from(e.error.is_some()) + e.inventory.as_ref().map_or(0, |i| i.errors.len())
    })
}

/// The row (in the current tab's rows) drawn at line `y` of the body `area`.
pub fn row_at(model: &Model, area: Rect, y: u16) -> Option<usize> {
    let [table_area, _, _] = areas(area.inner(Margin::new(1, 1)), error_count(model));
    let len = model.current_view().rows.len();
    // Below the header line.
    let first = table_area.y + 1;
    if y < first || y >= table_area.y + table_area.height {
        return None;
    }
    let (start, end) = window(len, model.row, table_area.height.saturating_sub(1));
    let row = start + usize::from(y - first);
    (row < end).then_some(row)
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let view = model.current_view();
    let entry = model.selected_entry();
    let ns_name = entry.map(|e| e.netns.name.as_str()).unwrap_or("-");
    let count = if view.rows.len() == view.total {
        format!("{}", view.total)
    } else {
        format!("{} of {}", view.rows.len(), view.total)
    };
    let block = body_block(
        model,
        format!("{} · {} ({count})", model.tab.title(), ns_name),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let errors: Vec<String> = match entry {
        Some(e) => e
            .error
            .iter()
            .cloned()
            .chain(e.inventory.iter().flat_map(|i| i.errors.iter().cloned()))
            .collect(),
        None => Vec::new(),
    };
    let [table_area, detail_area, error_area] = areas(inner, errors.len());

    let theme = &model.theme;
    if view.rows.is_empty() {
        let text = match entry {
            None if model.namespaces.is_empty() => "listing namespaces…".to_string(),
            None => "no namespace matches the filter".to_string(),
            Some(e) if e.inventory.is_none() && e.error.is_some() => {
                format!("{MARK_ERROR} cannot read {}", e.netns.name)
            }
            Some(e) if e.inventory.is_none() => format!("{MARK_LOADING} reading {}", e.netns.name),
            Some(_) if view.total > 0 => "no row matches the filter".to_string(),
            Some(_) => "nothing here".to_string(),
        };
        frame.render_widget(Paragraph::new(Span::styled(text, theme.dim())), table_area);
    } else {
        let highlight = MARK_SELECTED.chars().count() as u16;
        let natural: Vec<u16> = (0..view.header.len())
            .map(|c| {
                view.rows
                    .iter()
                    .map(|r| r.cells.get(c).map_or(0, |s| s.chars().count()))
                    .chain(std::iter::once(view.header[c].len()))
                    .max()
                    .unwrap_or(0) as u16
            })
            .collect();
        let avail = table_area.width.saturating_sub(highlight);
        let keep = columns_that_fit(&natural, avail, 1, view.drop_order, 20);
        let natural: Vec<u16> = keep.iter().map(|&c| natural[c]).collect();
        let widths = fit_widths(&natural, avail, 1, 3);
        let header =
            Row::new(keep.iter().map(|&c| Cell::from(view.header[c]))).style(theme.header());
        // Build only the rows that fit: a namespace can hold ten thousand links.
        let (start, end) = window(
            view.rows.len(),
            model.row,
            table_area.height.saturating_sub(1),
        );
        let rows = view.rows[start..end].iter().enumerate().map(|(n, r)| {
            let above = (n + start).checked_sub(1).map(|a| &view.rows[a]);
            Row::new(keep.iter().zip(&widths).map(move |(&i, &w)| {
                let c = r.cells.get(i).map_or("", String::as_str);
                // The first row on screen always names its group.
                let repeat = view.group_column == Some(i)
                    && n > 0
                    && above.and_then(|a| a.cells.get(i)).map(String::as_str) == Some(c);
                let c = if repeat { "" } else { c };
                let text = cut(c, usize::from(w));
                // Colour the STATE column of the links table.
                if view.header.get(i) == Some(&"STATE") {
                    Cell::from(Span::styled(text, theme.state(c)))
                } else {
                    Cell::from(text)
                }
            }))
        });
        let table = Table::new(rows, widths.iter().map(|&w| Constraint::Length(w)))
            .header(header)
            .column_spacing(1)
            .highlight_symbol(MARK_SELECTED)
            .row_highlight_style(theme.selected(model.focus == Pane::Table));
        let mut state = TableState::default().with_selected(Some(model.row - start));
        frame.render_stateful_widget(table, table_area, &mut state);
    }

    if let Some(row) = view.rows.get(model.row) {
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("» ", theme.dim()),
                Span::raw(row.detail.clone()),
            ]))
            .wrap(Wrap { trim: false }),
            detail_area,
        );
    }
    let lines: Vec<Line> = errors
        .iter()
        .take(2)
        .map(|e| Line::from(Span::styled(format!("{MARK_ERROR} {e}"), theme.error())))
        .collect();
    frame.render_widget(Paragraph::new(lines), error_area);
}
