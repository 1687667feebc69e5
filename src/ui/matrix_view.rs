//! Where the probe matrix falls on screen: the width of the source names and of each target
//! column, which columns and rows are in view, and which cell is under a point. Drawing
//! ([`crate::ui::render::matrix`]) and `update` (scrolling, the mouse) both ask it, so what
//! is drawn and what a click hits cannot differ.

use std::ops::Range;

use ratatui::layout::Rect;

use crate::probe::matrix::Layout;
use crate::ui::bench::MatrixState;

/// The widest address a column shows; a longer one (IPv6) is cut with `…`, and the selected
/// cell's line under the grid says it whole. 15 is the longest IPv4 text.
pub const MAX_ADDRESS: usize = 15;

/// Header lines above the rows: the targets' names, then their addresses.
pub const HEADER_LINES: u16 = 2;

/// The source names' column: the longest name, at least `from\to` and the kinds under it
/// (`icmp arp`), at most 14 characters.
pub fn row_width(grid: &Layout) -> usize {
    let kinds = grid.kinds.iter().map(|k| k.name().len() + 1).sum::<usize>();
    grid.rows
        .iter()
        .map(|r| r.chars().count())
        .chain([7, kinds.saturating_sub(1)])
        .max()
        .unwrap_or(7)
        .min(14)
}

/// The columns that fit in `avail` characters (each takes its width and one space before
/// it), starting at `first` unless the cursor's column would then be out of view; at least
/// one. Near the end the window reaches back so the space is used.
pub fn visible_columns(
    widths: &[usize],
    avail: usize,
    first: usize,
    cursor: usize,
) -> Range<usize> {
    let n = widths.len();
    if n == 0 {
        return 0..0;
    }
    let cursor = cursor.min(n - 1);
    let fits = |r: Range<usize>| widths[r].iter().map(|w| w + 1).sum::<usize>() <= avail;
    let mut start = first.min(cursor);
    while start < cursor && !fits(start..cursor + 1) {
        start += 1;
    }
    let mut end = start + 1;
    while end < n && fits(start..end + 1) {
        end += 1;
    }
    while start > 0 && fits(start - 1..end) {
        start -= 1;
    }
    start..end
}

/// The matrix's geometry in one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixView {
    /// The grid (header and rows), without the legend under it.
    pub area: Rect,
    pub row_w: usize,
    pub widths: Vec<usize>,
    pub cols: Range<usize>,
    pub rows: Range<usize>,
}

/// Lines under the grid: the selected cell, the marks' legend, and (when not every column
/// fits) which columns are in view.
pub fn legend_lines(m: &MatrixState, inner: Rect) -> u16 {
    let g = m.grid();
    let widths = g.column_widths(MAX_ADDRESS);
    let avail = usize::from(inner.width).saturating_sub(row_width(g));
    let cols = visible_columns(&widths, avail, m.first_col, m.col);
    if cols.len() < widths.len() {
        3
    } else {
        2
    }
}

/// The geometry of the matrix drawn in `inner` (the inside of its border).
pub fn view(m: &MatrixState, inner: Rect) -> MatrixView {
    let g = m.grid();
    let row_w = row_width(g);
    let widths = g.column_widths(MAX_ADDRESS);
    let avail = usize::from(inner.width).saturating_sub(row_w);
    let cols = visible_columns(&widths, avail, m.first_col, m.col);
    let legend = legend_lines(m, inner);
    let area = Rect {
        height: inner.height.saturating_sub(legend),
        ..inner
    };
    let rows_h = usize::from(area.height.saturating_sub(HEADER_LINES)).max(1);
    let first_row = m.row.saturating_sub(rows_h - 1);
    let rows = first_row..(first_row + rows_h).min(g.rows.len());
    MatrixView {
        area,
        row_w,
        widths,
        cols,
        rows,
    }
}

impl MatrixView {
    /// The cell (row, column) under the point (`x`, `y`), if any.
    pub fn cell_at(&self, x: u16, y: u16) -> Option<(usize, usize)> {
        let a = self.area;
        if x < a.x || x >= a.x + a.width || y < a.y + HEADER_LINES || y >= a.y + a.height {
            return None;
        }
        let row = self.rows.start + usize::from(y - a.y - HEADER_LINES);
        if !self.rows.contains(&row) {
            return None;
        }
        let mut left = usize::from(a.x) + self.row_w;
        for c in self.cols.clone() {
            // One space, then the column.
            let right = left + 1 + self.widths[c];
            if usize::from(x) > left && usize::from(x) < right {
                return Some((row, c));
            }
            left = right;
        }
        None
    }
}

/// Scroll by a page of columns: right, to the first column past the view; left, to the
/// page before it. The cursor moves to the first column of the new page; on the last (first)
/// page, to the last (first) column, as a page key does in a list.
pub fn scroll_columns(m: &mut MatrixState, inner: Rect, right: bool) {
    let g = m.grid();
    let widths = g.column_widths(MAX_ADDRESS);
    if widths.is_empty() {
        return;
    }
    let avail = usize::from(inner.width).saturating_sub(row_width(g));
    let now = visible_columns(&widths, avail, m.first_col, m.col);
    let first = if right {
        if now.end >= widths.len() {
            m.col = widths.len() - 1;
            return;
        }
        now.end
    } else if now.start == 0 {
        0
    } else {
        let mut start = now.start;
        while start > 0
            && widths[start - 1..now.start]
                .iter()
                .map(|w| w + 1)
                .sum::<usize>()
                <= avail
        {
            start -= 1;
        }
        if start == now.start {
            start -= 1;
        }
        start
    };
    m.first_col = first;
    m.col = first;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursors_column_stays_in_view() {
        let w = [10, 10, 10, 10, 10];
        // 33 characters: three columns of 10 and their spaces.
        assert_eq!(visible_columns(&w, 33, 0, 0), 0..3);
        assert_eq!(visible_columns(&w, 33, 0, 3), 1..4);
        assert_eq!(visible_columns(&w, 33, 3, 1), 1..4);
        // At the end the window reaches back to fill the width.
        assert_eq!(visible_columns(&w, 33, 4, 4), 2..5);
        // Too narrow for one: still one.
        assert_eq!(visible_columns(&w, 5, 0, 2), 2..3);
        assert_eq!(visible_columns(&[], 33, 0, 0), 0..0);
    }
}
