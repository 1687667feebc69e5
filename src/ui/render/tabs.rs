//! The tab bar above the table: `1 Links  2 Addresses ...`, the current one marked.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::ui::app::{Model, Tab};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let long: usize = Tab::ALL.iter().map(|t| t.title().len() + 5).sum();
    let short = usize::from(area.width) < long;
    let mut spans = Vec::new();
    for (i, tab) in Tab::ALL.iter().enumerate() {
        let title = if short {
            tab.short_title()
        } else {
            tab.title()
        };
        if *tab == model.tab {
            // Brackets mark the current tab without relying on colour.
            spans.push(Span::styled(
                format!("[{} {}]", i + 1, title),
                model.theme.tab_active(),
            ));
        } else {
            spans.push(Span::raw(format!(" {} {} ", i + 1, title)));
        }
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
