//! The Topology tab: how links connect across every namespace (see [`crate::ui::topology`]).

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;

use super::table::body_block;
use super::window;
use crate::ui::app::{Model, Pane};
use crate::ui::theme::MARK_SELECTED;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let view = model.current_view();
    let block = body_block(
        model,
        format!("Topology · all namespaces ({} lines)", view.rows.len()),
    );
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
    let items: Vec<ListItem> = view.rows[start..end]
        .iter()
        .map(|r| {
            let text = r.cells.first().cloned().unwrap_or_default();
            // Group headers start at the left edge; their members are indented.
            if text.starts_with('├') || text.starts_with('└') {
                ListItem::new(Line::raw(format!("  {text}")))
            } else {
                ListItem::new(Line::styled(text, model.theme.header()))
            }
        })
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_symbol(MARK_SELECTED)
        .highlight_style(model.theme.selected(model.focus == Pane::Table));
    let mut state = ListState::default().with_selected(Some(model.row - start));
    frame.render_stateful_widget(list, area, &mut state);
}
