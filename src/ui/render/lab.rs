//! The Lab tab: the picture of the lab ([`crate::ui::labtopo`]), with the path of the
//! matrix's selected cell highlighted and marked `»`.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::cut;
use super::table::body_block;
use crate::ui::app::Model;
use crate::ui::bench::path;
use crate::ui::labtopo::picture;
use crate::ui::theme::MARK_PATH;

/// The selected matrix cell's path, if any.
pub fn selected_path(model: &Model) -> Vec<String> {
    let Some(lab) = &model.bench.lab else {
        return Vec::new();
    };
    let Some((from, to)) = model.bench.matrix.selected_pair() else {
        return Vec::new();
    };
    path(lab, &crate::lab::endpoints(lab), &from, &to)
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = &model.theme;
    let Some(lab) = &model.bench.lab else {
        let block = body_block(model, "Lab".into());
        frame.render_widget(
            Paragraph::new("No lab is up. L brings the sandbox world up; n adds a container.")
                .style(theme.dim())
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    };
    let hops = selected_path(model);
    let title = if hops.is_empty() {
        format!("Lab · {} containers", lab.containers.len())
    } else {
        format!("Lab · path {MARK_PATH} {}", hops.join(" → "))
    };
    let block = body_block(model, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let pic = picture(lab, &model.inventories());
    let w = usize::from(inner.width).saturating_sub(2);
    let lines: Vec<Line> = pic
        .iter()
        .map(|l| {
            let on = l.on_path(&hops);
            let header = !l.text.starts_with(['├', '│', '└']);
            let style = if on {
                theme.path()
            } else if header {
                theme.header()
            } else {
                ratatui::style::Style::new()
            };
            Line::from(vec![
                Span::styled(if on { MARK_PATH } else { " " }, theme.path()),
                Span::raw(" "),
                Span::styled(cut(&l.text, w), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
