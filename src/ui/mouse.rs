//! What the mouse does, as part of `update`: a click selects the tab, the namespace, the
//! table row or the matrix cell under it (a double click on a cell explains it, as Enter
//! does), and the wheel moves through the rows under it (on the matrix, Shift or a sideways
//! wheel moves through the columns). What is under the pointer comes from the same layout
//! drawing uses ([`crate::ui::screen`], [`crate::ui::matrix_view`]). While a dialog, the
//! help or the filter being typed has the keyboard, the mouse does nothing.

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use crate::ui::app::{Model, Pane, Tab};
use crate::ui::keys::Action;
use crate::ui::matrix_view;
use crate::ui::message::Command;
use crate::ui::render::{namespaces, table, tabs};
use crate::ui::screen::{regions, Regions};

/// Two clicks on one matrix cell this close together are a double click: the usual desktop
/// default (Windows' double-click time is 500 ms, GTK's 400 ms).
pub const DOUBLE_CLICK: Duration = Duration::from_millis(500);

/// A mouse event at `at`.
pub fn on_mouse(model: &mut Model, ev: MouseEvent, at: Instant) -> Vec<Command> {
    if model.help || model.bench.overlay.is_some() || model.filter_editing {
        return Vec::new();
    }
    let r = regions(model, model.screen);
    let (x, y) = (ev.column, ev.row);
    let sideways = ev.modifiers.contains(KeyModifiers::SHIFT);
    match ev.kind {
        MouseEventKind::Down(MouseButton::Left) => click(model, &r, x, y, at),
        MouseEventKind::ScrollDown if sideways => wheel(model, &r, x, y, 0, 1),
        MouseEventKind::ScrollUp if sideways => wheel(model, &r, x, y, 0, -1),
        MouseEventKind::ScrollDown => wheel(model, &r, x, y, 1, 0),
        MouseEventKind::ScrollUp => wheel(model, &r, x, y, -1, 0),
        MouseEventKind::ScrollRight => wheel(model, &r, x, y, 0, 1),
        MouseEventKind::ScrollLeft => wheel(model, &r, x, y, 0, -1),
        _ => Vec::new(),
    }
}

fn click(model: &mut Model, r: &Regions, x: u16, y: u16, at: Instant) -> Vec<Command> {
    let p = Position { x, y };
    let previous = model.last_click.take();
    if r.tab_bar.contains(p) {
        return match tabs::tab_at(model, r.tab_bar, x) {
            Some(tab) => model.apply(Action::GoTab(tab.index())),
            None => Vec::new(),
        };
    }
    if let Some(list) = r.namespaces.filter(|a| a.contains(p)) {
        model.focus = Pane::Namespaces;
        if let Some(i) = namespaces::entry_at(model, list, y) {
            let id = model.namespaces[i].netns.id;
            if model.selected != Some(id) {
                model.selected = Some(id);
                model.row = 0;
            }
        }
        return Vec::new();
    }
    if !r.body.contains(p) {
        return Vec::new();
    }
    match model.tab {
        Tab::Matrix => {
            let m = &model.bench.matrix;
            if m.cells.is_empty() {
                return Vec::new();
            }
            let Some(cell) = matrix_view::view(m, r.body_inner()).cell_at(x, y) else {
                return Vec::new();
            };
            let m = &mut model.bench.matrix;
            (m.row, m.col) = cell;
            let double = previous.is_some_and(|(t, c)| {
                c == Some(cell) && at.saturating_duration_since(t) <= DOUBLE_CLICK
            });
            if double {
                return model.apply(Action::Open);
            }
            model.last_click = Some((at, Some(cell)));
        }
        Tab::Topology | Tab::Lab => model.focus = Pane::Table,
        _ => {
            model.focus = Pane::Table;
            if let Some(row) = table::row_at(model, r.body, y) {
                model.row = row;
            }
        }
    }
    Vec::new()
}

fn wheel(
    model: &mut Model,
    r: &Regions,
    x: u16,
    y: u16,
    down: isize,
    right: isize,
) -> Vec<Command> {
    let p = Position { x, y };
    if r.namespaces.is_some_and(|a| a.contains(p)) {
        if down != 0 {
            model.move_namespace(|c, _| c.saturating_add_signed(down));
        }
        return Vec::new();
    }
    if !r.body.contains(p) {
        return Vec::new();
    }
    if model.tab == Tab::Matrix {
        return model.move_matrix(down, right);
    }
    let n = model.current_view().rows.len();
    if down != 0 && n > 0 {
        model.row = model.row.saturating_add_signed(down).min(n - 1);
    }
    Vec::new()
}
