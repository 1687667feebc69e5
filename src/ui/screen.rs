//! Where each region of the screen is for a model and a terminal size: the namespace list,
//! the tab bar, the tab's body, the tour panel and the status bar. Drawing lays the screen
//! out with it and `update` finds what the mouse points at with it, so the two agree.

use ratatui::layout::{Constraint, Layout, Margin, Rect};

use crate::ui::app::{Model, Tab};
use crate::ui::render::{status, tour};

/// The regions of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regions {
    /// Everything above the tour panel and the status bar (dialogs are drawn over it).
    pub main: Rect,
    /// The namespace list; none on the wide tabs (Matrix, Lab).
    pub namespaces: Option<Rect>,
    pub tab_bar: Rect,
    /// The current tab's bordered body.
    pub body: Rect,
    pub tour: Rect,
    pub status: Rect,
}

impl Regions {
    /// The inside of the body's border.
    pub fn body_inner(&self) -> Rect {
        self.body.inner(Margin::new(1, 1))
    }
}

/// Lay the screen `area` out for `model`.
pub fn regions(model: &Model, area: Rect) -> Regions {
    let [main, tour_area, status_area] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(tour::height(model)),
        Constraint::Length(status::height(model, area.width)),
    ])
    .areas(area);
    // The matrix and the lab picture take the whole width: they need it at 80 columns.
    let wide = matches!(model.tab, Tab::Matrix | Tab::Lab);
    let ns_width = if wide {
        0
    } else {
        (main.width * 3 / 10).clamp(24, 40).min(main.width)
    };
    let [left, right] =
        Layout::horizontal([Constraint::Length(ns_width), Constraint::Min(0)]).areas(main);
    let [tab_bar, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(right);
    Regions {
        main,
        namespaces: (!wide).then_some(left),
        tab_bar,
        body,
        tour: tour_area,
        status: status_area,
    }
}
