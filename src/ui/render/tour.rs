//! The tour panel at the bottom: the step, what the post shows, what to look at, and keys.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::ui::app::Model;
use crate::ui::tour::STEPS;

/// The panel's height (0 without a tour).
pub fn height(model: &Model) -> u16 {
    if model.bench.tour.is_some() {
        8
    } else {
        0
    }
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let Some(t) = &model.bench.tour else {
        return;
    };
    let theme = &model.theme;
    let step = t.current();
    let mut lines: Vec<Line> = step
        .text
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| Line::raw(*l))
        .collect();
    let state = if let Some(n) = &t.note {
        Line::styled(format!("» {n}"), theme.path())
    } else if t.probed {
        Line::styled(format!("» look: {}", step.look), theme.path())
    } else if t.built {
        Line::styled("» built; probing…", theme.dim())
    } else {
        Line::styled(
            "» b builds this step's containers and runs the probes",
            theme.dim(),
        )
    };
    lines.push(state);
    let last = t.step + 1 == STEPS.len();
    lines.push(Line::styled(
        format!(
            "b: build+probe   Space: {}   Enter: explain cell   9: path   T: leave tour",
            if last { "finish" } else { "next step" }
        ),
        theme.dim(),
    ));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .border_type(BorderType::Rounded)
                .border_style(theme.border(true))
                .title(format!(" Tour of the study post · {} ", step.title)),
        ),
        area,
    );
}
