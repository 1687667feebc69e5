//! Drawing: pure functions of the [`Model`], one file per screen region (the inventory
//! tabs' rows are built in [`crate::ui::rows`]).

pub mod dialog;
pub mod help;
pub mod lab;
pub mod matrix;
pub mod namespaces;
pub mod privileges;
pub mod status;
pub mod table;
pub mod tabs;
pub mod topology;
pub mod tour;

use ratatui::Frame;

use crate::ui::app::{Model, Tab};
use crate::ui::screen::regions;

/// Draw the whole screen from the model.
pub fn draw(frame: &mut Frame, model: &Model) {
    let area = frame.area();
    let r = regions(model, area);
    if let Some(left) = r.namespaces {
        namespaces::draw(frame, left, model);
    }
    tabs::draw(frame, r.tab_bar, model);
    match model.tab {
        Tab::Topology => topology::draw(frame, r.body, model),
        Tab::Matrix => matrix::draw(frame, r.body, model),
        Tab::Lab => lab::draw(frame, r.body, model),
        _ => table::draw(frame, r.body, model),
    }
    tour::draw(frame, r.tour, model);
    status::draw(frame, r.status, model);
    dialog::draw(frame, r.main, model);
    if model.help {
        help::draw(frame, area, model);
    } else if model.privileges_screen {
        privileges::draw(frame, area, model);
    }
}

/// Cut a text to a width, ending with `…` when something was cut (the matrix headers' own
/// function, shared by every region).
pub use crate::probe::matrix::fit as cut;

/// The rows `[start, end)` to draw out of `len` in `height` lines so that `row` is visible:
/// from the top until `row` would fall off, then with `row` on the last line (as a list
/// scrolled down with the arrow keys).
pub fn window(len: usize, row: usize, height: u16) -> (usize, usize) {
    let height = usize::from(height).max(1);
    let start = row.saturating_sub(height - 1).min(len);
    (start, (start + height).min(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_keeps_the_row_on_screen() {
        assert_eq!(window(100, 0, 10), (0, 10));
        assert_eq!(window(100, 9, 10), (0, 10));
        assert_eq!(window(100, 10, 10), (1, 11));
        assert_eq!(window(100, 99, 10), (90, 100));
        assert_eq!(window(5, 2, 10), (0, 5));
        assert_eq!(window(0, 0, 10), (0, 0));
    }

    #[test]
    fn cut_marks_what_it_cut() {
        assert_eq!(cut("docker0", 7), "docker0");
        assert_eq!(cut("docker0", 4), "doc…");
        assert_eq!(cut("docker0", 0), "");
    }
}
