//! The Lab tab: the picture of the lab ([`crate::ui::labtopo`]), with the lines the matrix's
//! selected cell passes (the packet walk's hops, and the cell's two ends) highlighted and
//! marked `»`.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::cut;
use super::table::body_block;
use crate::ui::app::Model;
use crate::ui::labtopo::picture;
use crate::ui::theme::MARK_PATH;

/// The title's account of the selected cell's path: which cell, and how many hops the walk
/// followed (none when its expectation has no path).
pub fn path_title(model: &Model) -> Option<String> {
    let (from, to) = model.bench.matrix.selected_pair()?;
    let on = model.bench.matrix.on_path();
    let hops = match on.hops {
        0 => "no hops".to_string(),
        1 => "1 hop".to_string(),
        n => format!("{n} hops"),
    };
    Some(format!("{MARK_PATH} path of {from} → {to}: {hops}"))
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
    let on = model.bench.matrix.on_path();
    let title = match path_title(model) {
        Some(p) => format!("Lab · {p}"),
        None => format!("Lab · {} containers", lab.containers.len()),
    };
    let block = body_block(model, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let pic = picture(lab, &model.inventories());
    let w = usize::from(inner.width).saturating_sub(2);
    let lines: Vec<Line> = pic
        .iter()
        .map(|l| {
            let lit = l.on_path(&on);
            let header = !l.text.starts_with(['├', '│', '└']);
            let style = if lit {
                theme.path()
            } else if header {
                theme.header()
            } else {
                ratatui::style::Style::new()
            };
            Line::from(vec![
                Span::styled(if lit { MARK_PATH } else { " " }, theme.path()),
                Span::raw(" "),
                Span::styled(cut(&l.text, w), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
