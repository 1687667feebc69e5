//! A tab's content as plain rows of text: built by each tab's render file from one
//! namespace, filtered by the model, drawn by [`crate::ui::render::table`].

use crate::inventory::LinkRef;

/// One row: the cells the table shows, and a full description for the detail line (cells
/// may be cut to fit; the detail line is not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub cells: Vec<String>,
    pub detail: String,
}

impl TableRow {
    /// Whether the row mentions `needle` (already lower-cased), in a cell or in its detail.
    pub fn matches(&self, needle: &str) -> bool {
        needle.is_empty()
            || self
                .cells
                .iter()
                .chain(std::iter::once(&self.detail))
                .any(|c| c.to_lowercase().contains(needle))
    }
}

/// A tab's header and rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabTable {
    pub header: &'static [&'static str],
    pub rows: Vec<TableRow>,
    /// Columns to leave out, first to last, when the table does not fit (the detail line
    /// still shows them for the selected row).
    pub drop_order: &'static [usize],
    /// A column that groups rows (the bridge of the Bridges tab): drawn only where it
    /// changes from the row above, though every row keeps it for the filter.
    pub group_column: Option<usize>,
}

/// Which columns to draw in `available` cells: drop columns in `drop_order` until the rest
/// fit at their natural widths, except the last one, which may be cut to `last_min`.
pub fn columns_that_fit(
    natural: &[u16],
    available: u16,
    spacing: u16,
    drop_order: &[usize],
    last_min: u16,
) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..natural.len()).collect();
    let need = |keep: &[usize]| -> u32 {
        let gaps = u32::from(spacing) * keep.len().saturating_sub(1) as u32;
        let widths: u32 = keep
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let w = natural[c];
                u32::from(if i + 1 == keep.len() {
                    w.min(last_min)
                } else {
                    w
                })
            })
            .sum();
        gaps + widths
    };
    for &d in drop_order {
        if need(&keep) <= u32::from(available) {
            break;
        }
        keep.retain(|&c| c != d);
    }
    keep
}

/// `name@netns`, with `?` for what could not be resolved.
pub fn link_ref(r: &LinkRef) -> String {
    format!(
        "{}@{}",
        r.name.as_deref().unwrap_or("?"),
        r.netns.as_deref().unwrap_or("?")
    )
}

/// `-` for an absent value.
pub fn or_dash(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".to_string())
}

/// Column widths that fit `available` cells (spacing included): every column gets its
/// natural width while they fit; otherwise the widest columns are cut down to a common cap,
/// never below `min` (or their natural width, if smaller).
pub fn fit_widths(natural: &[u16], available: u16, spacing: u16, min: u16) -> Vec<u16> {
    let gaps = spacing.saturating_mul(natural.len().saturating_sub(1) as u16);
    let room = available.saturating_sub(gaps);
    let total: u32 = natural.iter().map(|&w| u32::from(w)).sum();
    if total <= u32::from(room) {
        return natural.to_vec();
    }
    let used = |cap: u16| -> u32 {
        natural
            .iter()
            .map(|&w| u32::from(w.min(cap.max(min.min(w)))))
            .sum()
    };
    // The largest cap that still fits (binary search; `used` is monotonic in cap).
    let max = natural.iter().copied().max().unwrap_or(0);
    let (mut lo, mut hi) = (0u16, max);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if used(mid) <= u32::from(room) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut widths: Vec<u16> = natural.iter().map(|&w| w.min(lo.max(min.min(w)))).collect();
    // Hand what is left over to the columns that were cut, left to right.
    let mut spare = u32::from(room).saturating_sub(widths.iter().map(|&w| u32::from(w)).sum());
    for (w, &n) in widths.iter_mut().zip(natural) {
        if spare == 0 {
            break;
        }
        let give = u32::from(n - *w).min(spare);
        *w += give as u16;
        spare -= give;
    }
    widths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_natural_when_they_fit() {
        assert_eq!(fit_widths(&[3, 10, 5], 30, 1, 3), vec![3, 10, 5]);
    }

    #[test]
    fn widest_columns_are_cut_first() {
        // room = 20 - 2 gaps = 18; natural 3+30+10 = 43.
        let w = fit_widths(&[3, 30, 10], 20, 1, 3);
        assert_eq!(w.iter().sum::<u16>(), 18);
        assert_eq!(w[0], 3, "narrow column untouched: {w:?}");
        assert!(w[1] >= w[2], "{w:?}");
    }

    #[test]
    fn columns_never_shrink_below_the_minimum() {
        let w = fit_widths(&[8, 8, 8], 6, 0, 4);
        assert_eq!(w, vec![4, 4, 4]);
    }

    #[test]
    fn columns_are_dropped_in_order_until_the_rest_fit() {
        // 3 + 10 + 17 + 20 (+3 gaps) = 53.
        let natural = [3, 10, 17, 20];
        assert_eq!(
            columns_that_fit(&natural, 60, 1, &[2, 0], 20),
            vec![0, 1, 2, 3]
        );
        // 40 cells: dropping column 2 leaves 3+10+20+2 = 35.
        assert_eq!(
            columns_that_fit(&natural, 40, 1, &[2, 0], 20),
            vec![0, 1, 3]
        );
        // 30 cells: column 0 goes too: 10+20+1 = 31 > 30, but nothing else may be dropped.
        assert_eq!(columns_that_fit(&natural, 30, 1, &[2, 0], 20), vec![1, 3]);
        // The last column counts only up to last_min.
        assert_eq!(
            columns_that_fit(&natural, 40, 1, &[2, 0], 5),
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn filter_matches_cells_and_detail_case_insensitively() {
        let row = TableRow {
            cells: vec!["veth1".into(), "UP".into()],
            detail: "flags BROADCAST".into(),
        };
        assert!(row.matches("veth"));
        assert!(row.matches("broadcast"));
        assert!(!row.matches("docker"));
        assert!(row.matches(""));
    }
}
