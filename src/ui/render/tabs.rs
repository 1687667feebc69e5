//! The tab bar above the table: `1 Links  2 Addresses ...` (the keys in use), the current one
//! in brackets.
//! On narrow terminals titles get shorter, then only the current tab keeps its title.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::ui::app::{Model, Tab};
use crate::ui::keys::Action;

/// The labels of the tab bar at one level of detail (0 = widest), with the current tab.
fn labels(level: u8, model: &Model) -> Vec<(String, bool)> {
    Tab::ALL
        .iter()
        .map(|&tab| {
            let active = tab == model.tab;
            // The key in use (a config may remap it).
            let key = model.keys.first_key(Action::GoTab(tab.index()));
            let title = match level {
                0 => tab.title(),
                _ => tab.short_title(),
            };
            let text = match (level, active) {
                // Brackets mark the current tab without relying on colour.
                (_, true) => format!("[{key} {title}]"),
                (0, false) => format!(" {key} {title} "),
                (1, false) => format!("{key} {title}"),
                (_, false) => key,
            };
            (text, active)
        })
        .collect()
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let width = |ls: &[(String, bool)]| -> usize {
        ls.iter().map(|(t, _)| t.chars().count() + 1).sum::<usize>()
    };
    let chosen = (0..3)
        .map(|level| labels(level, model))
        .find(|ls| width(ls) <= usize::from(area.width))
        .unwrap_or_else(|| labels(2, model));
    let mut spans = Vec::new();
    for (text, active) in chosen {
        if active {
            spans.push(Span::styled(text, model.theme.tab_active()));
        } else {
            spans.push(Span::raw(text));
        }
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
