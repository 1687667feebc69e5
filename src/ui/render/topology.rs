//! The Topology tab: how links connect across every namespace (see [`crate::ui::topology`]).
//! When the matrix has a selected cell, the lines drawing a device its packets pass (the
//! packet walk's hops) are highlighted and marked `»`.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use super::lab::path_title;
use super::table::body_block;
use super::window;
use crate::ui::app::{Model, Pane};
use crate::ui::theme::{MARK_PATH, MARK_SELECTED};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let view = model.current_view();
    let on = model.bench.matrix.on_path();
    // The mark column only while a cell with hops is selected.
    let marking = !on.devices.is_empty();
    let mut title = format!("Topology · all namespaces ({} lines)", view.rows.len());
    if let Some(p) = path_title(model).filter(|_| marking) {
        title.push_str(&format!(" · {p}"));
    }
    let block = body_block(model, title);
    if view.rows.is_empty() {
        let text = if view.total == 0 {
            "nothing read yet"
        } else {
            "nothing matches the filter"
        };
        frame.render_widget(
            Paragraph::new(text).style(model.theme.dim()).block(block),
            area,
        );
        return;
    }
    let (start, end) = window(view.rows.len(), model.row, area.height.saturating_sub(2));
    let theme = &model.theme;
    let items: Vec<ListItem> = view.rows[start..end]
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let text = r.cells.first().cloned().unwrap_or_default();
            // Group headers start at the left edge; their members are indented.
            let member = text.starts_with('├') || text.starts_with('└');
            let lit = view
                .devices
                .get(start + i)
                .is_some_and(|d| d.iter().any(|(ns, dev)| on.device(ns, dev)));
            let (text, style) = match (member, lit) {
                (_, true) => (text, theme.path()),
                (true, false) => (text, ratatui::style::Style::new()),
                (false, false) => (text, theme.header()),
            };
            let text = if member { format!("  {text}") } else { text };
            let mut spans = Vec::new();
            if marking {
                spans.push(Span::styled(
                    if lit { MARK_PATH } else { " " },
                    theme.path(),
                ));
                spans.push(Span::raw(" "));
            }
            spans.push(Span::styled(text, style));
            ListItem::new(Line::from(spans))
        })
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_symbol(MARK_SELECTED)
        .highlight_style(model.theme.selected(model.focus == Pane::Table));
    let mut state = ListState::default().with_selected(Some(model.row - start));
    frame.render_stateful_widget(list, area, &mut state);
}
