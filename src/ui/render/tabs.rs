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

/// The labels that fit `width`, most detailed first.
fn fitting(width: u16, model: &Model) -> Vec<(String, bool)> {
    let total = |ls: &[(String, bool)]| -> usize {
        ls.iter().map(|(t, _)| t.chars().count() + 1).sum::<usize>()
    };
    (0..3)
        .map(|level| labels(level, model))
        .find(|ls| total(ls) <= usize::from(width))
        .unwrap_or_else(|| labels(2, model))
}

/// The tab whose label is at column `x` of the bar drawn in `area`.
pub fn tab_at(model: &Model, area: Rect, x: u16) -> Option<Tab> {
    let mut left = area.x;
    for (tab, (text, _)) in Tab::ALL.iter().zip(fitting(area.width, model)) {
        let right = left.saturating_add(text.chars().count() as u16);
        if (left..right).contains(&x) {
            return Some(*tab);
        }
        left = right.saturating_add(1);
    }
    None
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let mut spans = Vec::new();
    for (text, active) in fitting(area.width, model) {
        if active {
            spans.push(Span::styled(text, model.theme.tab_active()));
        } else {
            spans.push(Span::raw(text));
        }
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
