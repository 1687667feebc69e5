//! The status bar: missing capabilities (when not root), the filter or the last message, and
//! the most useful key hints that fit its width (the tour's always does).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::caps::describe_missing;
use crate::ui::app::{Model, Tab};
use crate::ui::keys::Action;
use crate::ui::theme::MARK_ERROR;

fn caps_line(model: &Model) -> Option<String> {
    describe_missing(&model.missing_caps).map(|l| format!("{MARK_ERROR} {l}"))
}

/// One line, plus what the missing-capabilities note needs at this width (at most 3).
pub fn height(model: &Model, width: u16) -> u16 {
    let caps = caps_line(model).map_or(0, |l| {
        let w = usize::from(width.max(1));
        l.chars().count().div_ceil(w).min(3) as u16
    });
    1 + caps
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = &model.theme;
    let [caps_area, main] = Layout::vertical([
        Constraint::Length(height(model, area.width) - 1),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Some(line) = caps_line(model) {
        frame.render_widget(
            Paragraph::new(Span::styled(line, theme.warning())).wrap(Wrap { trim: true }),
            caps_area,
        );
    }
    let left = if let Some(b) = model.bench.busy() {
        let spin = crate::ui::labui::SPINNER[model.bench.spinner % crate::ui::labui::SPINNER.len()];
        Span::styled(format!("{spin} {b}…"), theme.filter())
    } else if model.filter_editing {
        Span::styled(format!("/{}▏", model.filter), theme.filter())
    } else if !model.filter.is_empty() {
        Span::styled(
            format!("filter: {}  (/ edits, Esc clears)", model.filter),
            theme.filter(),
        )
    } else if let Some(m) = &model.message {
        Span::raw(m.clone())
    } else {
        let read = model
            .namespaces
            .iter()
            .filter(|e| e.inventory.is_some())
            .count();
        let lab = match &model.bench.lab {
            Some(l) => format!(", lab up ({} containers)", l.containers.len()),
            None => ", no lab".to_string(),
        };
        // Containers by runtime, and the runtimes that are there but could not be asked.
        let mut containers: String = model
            .container_counts()
            .iter()
            .map(|(rt, n)| format!(", {n} {rt}"))
            .collect();
        for why in model.unreachable_runtimes() {
            containers.push_str(&format!(", {MARK_ERROR} {why}"));
        }
        Span::raw(format!(
            "{} namespaces, {} read{lab}{containers}",
            model.namespaces.len(),
            read
        ))
    };
    let left_w = left.width();
    let hint = hints(model, area.width, left_w);
    let [l, r] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(hint.chars().count() as u16 + 1),
    ])
    .areas(main);
    frame.render_widget(Paragraph::new(Line::from(left)).style(theme.status()), l);
    frame.render_widget(Paragraph::new(hint).style(theme.status()), r);
}

/// The key hints in the order they are kept as the bar narrows: help, then the tour (so a
/// new user always sees it), quit, then the lab bench's keys and the filter.
const HINTS: &[(Action, &str)] = &[
    (Action::Help, "help"),
    (Action::Tour, "tour"),
    (Action::Quit, "quit"),
    (Action::Probe, "probe"),
    (Action::LabToggle, "lab"),
    (Action::NewContainer, "new"),
    (Action::StartFilter, "filter"),
    (Action::Open, "explain"),
];

/// The hints that fit a bar `width` wide beside a left part `left_w` wide: the first two
/// always (when the bar has room for them at all), then each next one while the left part
/// keeps at least its own width or half the bar, whichever is less. The keys are the ones
/// in use (a remapped key shows as remapped).
pub fn hints(model: &Model, width: u16, left_w: usize) -> String {
    let width = usize::from(width);
    let keep_left = left_w.min(width / 2);
    let mut out = String::new();
    for (i, (action, what)) in HINTS.iter().enumerate() {
        let key = model.keys.first_key(*action);
        // Enter explains a cell only on the matrix.
        if key.is_empty() || (*action == Action::Open && model.tab != Tab::Matrix) {
            continue;
        }
        let hint = format!("{key}:{what}");
        let grown = if out.is_empty() {
            hint.chars().count()
        } else {
            out.chars().count() + 1 + hint.chars().count()
        };
        let fits = if i < 2 {
            grown < width
        } else {
            grown + keep_left < width
        };
        if !fits {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&hint);
    }
    out
}
