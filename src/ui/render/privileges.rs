//! The screen shown first when netview runs without the capabilities it uses: each missing
//! one and what it would unlock, and the `setcap` line that makes netview work without sudo.
//! Any key closes it; the status bar keeps the short note.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::ui::app::Model;

/// The screen's lines (pure, for the test and the drawing).
pub fn lines(model: &Model) -> Vec<String> {
    let mut out = vec![
        "netview is not running as root. It shows what it can read; without these".to_string(),
        "capabilities it cannot:".to_string(),
        String::new(),
    ];
    for c in &model.missing_caps {
        out.push(format!("  {:<15} {}", c.name(), c.unlocks()));
    }
    out.push(String::new());
    match &model.setcap {
        Some(line) => {
            out.push("To use netview without sudo, run once as root:".to_string());
            out.push(String::new());
            out.push(format!("  {line}"));
            out.push(String::new());
            out.push("Everything but building labs then works (labs need root).".to_string());
        }
        None => out.push("Run netview as root to read everything.".to_string()),
    }
    out.push(String::new());
    out.push("Any key: continue".to_string());
    out
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let text = lines(model);
    let widest = text.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let width = u16::try_from(widest + 4)
        .unwrap_or(u16::MAX)
        .min(area.width);
    let inner_w = usize::from(width.saturating_sub(2)).max(1);
    // Wrapped lines (a long setcap line at 80 columns) take more rows.
    let rows: usize = text
        .iter()
        .map(|l| l.chars().count().max(1).div_ceil(inner_w))
        .sum();
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let theme = &model.theme;
    let body: Vec<Line> = text
        .into_iter()
        .map(|l| {
            if l.starts_with("  setcap") {
                Line::from(Span::styled(l, theme.header()))
            } else {
                Line::raw(l)
            }
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(body).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .border_type(BorderType::Double)
                .title(" Privileges ")
                .border_style(theme.warning()),
        ),
        popup,
    );
}
