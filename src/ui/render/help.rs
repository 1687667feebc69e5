//! The help overlay: every key, generated from the key map in use
//! ([`crate::ui::keys::KeyMap`], the config's remaps included), with the keys of the tab in view
//! first. Every section is always there; when they do not fit the screen the overlay scrolls
//! (the browsing keys for up, down, page and first/last line move it).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::app::{Model, Tab};
use crate::ui::keys::{Action, Bound};
use crate::ui::render::cut;
use crate::ui::theme::{
    MARK_ERROR, MARK_FOCUS, MARK_LOADING, MARK_MISMATCH, MARK_NETVIEW, MARK_PATH, MARK_PROBE,
    MARK_SELF,
};

/// A line of the overlay: keys and what they do, or a section title (empty second part).
type Entry = (String, String);
type Section = Vec<Entry>;

fn title(t: &str) -> Entry {
    (t.to_string(), String::new())
}

fn rows<A>(table: &[Bound<A>]) -> impl Iterator<Item = Entry> + '_ {
    table.iter().map(|b| (b.keys_label(), b.help.to_string()))
}

/// The browsing keys that matter most on a tab, with what they do there.
fn tab_keys(tab: Tab) -> &'static [(Action, &'static str)] {
    const TABLE: &[(Action, &str)] = &[
        (Action::Down, "next row / namespace"),
        (Action::Up, "previous row / namespace"),
        (Action::FocusTable, "focus the table"),
        (Action::FocusNamespaces, "focus the namespace list"),
        (Action::StartFilter, "filter rows, namespaces"),
        (Action::Mark, "mark a namespace for p"),
    ];
    match tab {
        Tab::Bridges => &[
            (Action::Open, "go to a container's namespace"),
            (Action::Down, "next row / namespace"),
            (Action::Up, "previous row / namespace"),
            (Action::FocusTable, "focus the table"),
            (Action::FocusNamespaces, "focus the namespace list"),
            (Action::StartFilter, "filter rows, namespaces"),
        ],
        Tab::Topology => &[
            (Action::Down, "next namespace"),
            (Action::Up, "previous namespace"),
            (Action::StartFilter, "filter namespaces"),
            (Action::Mark, "mark a namespace for p"),
        ],
        Tab::Matrix => &[
            (Action::Probe, "run the probes (again)"),
            (Action::Open, "explain the cell"),
            (Action::Down, "next row (from)"),
            (Action::Up, "previous row"),
            (Action::FocusTable, "next column (to)"),
            (Action::FocusNamespaces, "previous column"),
            (Action::Tour, "tour of the study post"),
        ],
        Tab::Lab => &[
            (Action::LabToggle, "bring the lab up / down"),
            (Action::NewContainer, "new lab container"),
            (Action::RemoveContainer, "remove the container"),
            (Action::Probe, "run the probes (matrix)"),
            (Action::Tour, "tour of the study post"),
        ],
        _ => TABLE,
    }
}

/// The overlay's sections: the tab in view first, then every key of every mode, then the
/// marks.
pub fn sections(model: &Model) -> Vec<Section> {
    let keys = &model.keys;
    let mut this_tab = vec![title(&format!("On the {} tab", model.tab.title()))];
    this_tab.extend(
        tab_keys(model.tab)
            .iter()
            .map(|(a, h)| (keys.keys_of(*a), h.to_string())),
    );
    let mut browsing = vec![title("Browsing")];
    browsing.extend(rows(&keys.browse));
    let mut filter = vec![title("While typing a filter")];
    filter.extend(rows(&keys.filter));
    filter.push((
        "other keys".to_string(),
        "typed into the filter".to_string(),
    ));
    let mut tour = vec![title("During the tour")];
    tour.extend(rows(&keys.tour));
    let mut dialogs = vec![title("In dialogs")];
    dialogs.extend(rows(&keys.dialog));
    let mut form = vec![title("In the new-container form")];
    form.extend(rows(&keys.form));
    form.push(("other keys".to_string(), "typed into the field".to_string()));
    vec![this_tab, browsing, filter, tour, dialogs, form, marks()]
}

/// Every line of every section, a blank line between sections.
pub fn lines(model: &Model) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, s) in sections(model).into_iter().enumerate() {
        if i > 0 {
            out.push((String::new(), String::new()));
        }
        out.extend(s);
    }
    out
}

fn marks() -> Section {
    let mut out = vec![title("Marks")];
    for (mark, meaning) in [
        (MARK_NETVIEW, "made by netview"),
        (MARK_SELF, "netview runs here"),
        (MARK_PROBE, "marked for the probes"),
        (MARK_ERROR, "could not read"),
        (MARK_LOADING, "being read"),
        (MARK_FOCUS, "selection, focused pane"),
        ("✓ ✗", "matrix: reached / not"),
        (MARK_MISMATCH, "matrix: not as expected"),
        (MARK_PATH, "lab: on selected path"),
    ] {
        out.push((mark.to_string(), meaning.to_string()));
    }
    out
}

/// How the overlay sits in a screen of `width` x `height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    columns: usize,
    key_w: usize,
    help_w: usize,
    /// Lines of entries shown at once.
    visible: usize,
    /// Lines of entries in all (per column).
    per_col: usize,
}

impl Shape {
    fn col_w(&self) -> usize {
        self.key_w + 2 + self.help_w
    }

    fn max_scroll(&self) -> usize {
        self.per_col.saturating_sub(self.visible)
    }
}

/// Up to four columns side by side when that shows everything; else one column, scrolled.
fn shape(entries: &[Entry], width: u16, height: u16) -> Shape {
    let key_w = entries
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let help_w = entries
        .iter()
        .map(|(_, h)| h.chars().count())
        .max()
        .unwrap_or(0);
    let inner_w = usize::from(width.saturating_sub(2));
    let inner_h = usize::from(height.saturating_sub(2)).max(1);
    let col_w = key_w + 2 + help_w;
    let n = entries.len();
    let columns = (1..=4)
        .find(|c| c * col_w + 3 * (c - 1) <= inner_w && n.div_ceil(*c) <= inner_h)
        .unwrap_or(1);
    let per_col = n.div_ceil(columns);
    Shape {
        columns,
        key_w,
        help_w,
        visible: per_col.min(inner_h),
        per_col,
    }
}

/// Where the overlay's first line goes after a browsing action while it is open, or `None`
/// when the action does not scroll it.
pub fn scrolled(model: &Model, action: Action) -> Option<usize> {
    let (width, height) = (model.screen.width, model.screen.height);
    let s = shape(&lines(model), width, height.saturating_sub(STATUS_ROWS));
    let page = s.visible.saturating_sub(1).max(1);
    let from = model.help_scroll.min(s.max_scroll());
    let to = match action {
        Action::Down => from + 1,
        Action::Up => from.saturating_sub(1),
        Action::PageDown => from + page,
        Action::PageUp => from.saturating_sub(page),
        Action::Top => 0,
        Action::Bottom => s.max_scroll(),
        _ => return None,
    };
    Some(to.min(s.max_scroll()))
}

/// The status bar's last line stays in view below the overlay (its hints say how to leave).
const STATUS_ROWS: u16 = 1;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let area = Rect {
        height: area.height.saturating_sub(STATUS_ROWS),
        ..area
    };
    let theme = &model.theme;
    let entries = lines(model);
    let s = shape(&entries, area.width, area.height);
    let (key_w, help_w, col_w) = (s.key_w, s.help_w, s.col_w());
    let top = model.help_scroll.min(s.max_scroll());
    let inner_w = usize::from(area.width.saturating_sub(2));
    let render_entry = |(k, h): &Entry| -> Vec<Span<'static>> {
        if h.is_empty() {
            vec![Span::styled(format!("{k:<col_w$}"), theme.header())]
        } else {
            vec![
                Span::styled(format!("{k:>key_w$}"), theme.filter()),
                Span::raw(format!("  {h:<help_w$}")),
            ]
        }
    };
    let text: Vec<Line> = (top..top + s.visible)
        .map(|r| {
            let mut spans = Vec::new();
            for c in 0..s.columns {
                if let Some(e) = entries.get(c * s.per_col + r) {
                    if c > 0 {
                        spans.push(Span::raw("   "));
                    }
                    spans.extend(render_entry(e));
                }
            }
            Line::from(spans)
        })
        .collect();
    let want_w = col_w * s.columns + 3 * (s.columns - 1);
    let width = (want_w.min(inner_w) as u16 + 2).min(area.width);
    let height = ((s.visible + 2) as u16).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let keys = &model.keys;
    let room = usize::from(width.saturating_sub(2));
    let mut block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(cut(
            &format!(
                " Keys ({} or {} closes) ",
                keys.first_key(Action::Help),
                keys.first_key(Action::Clear)
            ),
            room,
        ));
    if s.max_scroll() > 0 {
        block = block.title_bottom(
            Line::from(cut(
                &format!(
                    " {}-{} of {} · {} {} {} scroll ",
                    top + 1,
                    top + s.visible,
                    s.per_col,
                    keys.first_key(Action::Down),
                    keys.first_key(Action::Up),
                    keys.first_key(Action::PageDown),
                ),
                room,
            ))
            .right_aligned(),
        );
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(text).block(block), rect);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::theme::Theme;

    fn model(width: u16, height: u16) -> Model {
        let mut m = Model::new(Vec::new(), Theme::default());
        m.screen = ratatui::layout::Rect::new(0, 0, width, height);
        m
    }

    #[test]
    fn every_section_is_there_and_the_tab_comes_first() {
        let mut m = model(80, 24);
        m.tab = Tab::Matrix;
        let all = lines(&m);
        assert_eq!(all[0].0, "On the Matrix tab");
        assert_eq!(
            all[1],
            ("p".to_string(), "run the probes (again)".to_string())
        );
        for t in [
            "Browsing",
            "While typing a filter",
            "During the tour",
            "In dialogs",
            "In the new-container form",
            "Marks",
        ] {
            assert!(all.iter().any(|(k, h)| k == t && h.is_empty()), "{t}");
        }
    }

    #[test]
    fn scrolling_stops_at_both_ends() {
        let mut m = model(80, 24);
        let s = shape(&lines(&m), 80, 23);
        assert_eq!(s.columns, 1);
        assert!(s.max_scroll() > 0);
        assert_eq!(scrolled(&m, Action::Up), Some(0));
        assert_eq!(scrolled(&m, Action::Down), Some(1));
        assert_eq!(scrolled(&m, Action::Bottom), Some(s.max_scroll()));
        m.help_scroll = s.max_scroll();
        assert_eq!(scrolled(&m, Action::Down), Some(s.max_scroll()));
        assert_eq!(scrolled(&m, Action::PageDown), Some(s.max_scroll()));
        assert_eq!(scrolled(&m, Action::Top), Some(0));
        assert_eq!(scrolled(&m, Action::Probe), None);
    }

    #[test]
    fn a_big_screen_shows_it_all_in_columns_without_scrolling() {
        let m = model(200, 60);
        let s = shape(&lines(&m), 200, 60);
        assert!(s.columns > 1);
        assert_eq!(s.max_scroll(), 0);
    }
}
