//! The help overlay: every key, generated from the key table ([`crate::ui::keys`]).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::app::Model;
use crate::ui::keys::{
    Binding, BINDINGS, DIALOG_BINDINGS, FILTER_BINDINGS, FORM_BINDINGS, TOUR_BINDINGS,
};
use crate::ui::theme::{
    MARK_ERROR, MARK_FOCUS, MARK_LOADING, MARK_MISMATCH, MARK_NETVIEW, MARK_PATH, MARK_PROBE,
    MARK_SELF,
};

type Section = Vec<(String, String)>;

/// The overlay's sections, most important first: a title, then `keys  what they do`.
/// Sections that do not fit a small terminal are left out from the end (dialogs and the
/// form show their own keys anyway).
pub fn sections() -> Vec<Section> {
    fn rows<A>(table: &[Binding<A>]) -> impl Iterator<Item = (String, String)> + '_ {
        table.iter().map(|b| (b.keys_label(), b.help.to_string()))
    }
    let title = |t: &str| (t.to_string(), String::new());
    let mut browsing = vec![title("Browsing")];
    browsing.extend(rows(BINDINGS));
    let mut filter = vec![title("While typing a filter")];
    filter.extend(rows(FILTER_BINDINGS));
    filter.push((
        "other keys".to_string(),
        "typed into the filter".to_string(),
    ));
    let mut tour = vec![title("During the tour")];
    tour.extend(rows(TOUR_BINDINGS));
    let mut dialogs = vec![title("In dialogs")];
    dialogs.extend(rows(DIALOG_BINDINGS));
    let mut form = vec![title("In the new-container form")];
    form.extend(rows(FORM_BINDINGS));
    form.push(("other keys".to_string(), "typed into the field".to_string()));
    vec![browsing, filter, marks(), tour, dialogs, form]
}

/// Every line of every section.
pub fn lines() -> Vec<(String, String)> {
    sections().into_iter().flatten().collect()
}

fn marks() -> Section {
    let mut out = vec![("Marks".to_string(), String::new())];
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

/// The sections that fit `rows` lines in `columns` columns (always the first).
fn fitting(rows: usize, columns: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, s) in sections().into_iter().enumerate() {
        if i > 0 && (out.len() + s.len()).div_ceil(columns) > rows {
            break;
        }
        out.extend(s);
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let theme = &model.theme;
    let all = lines();
    let key_w_all = all
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let help_w_all = all
        .iter()
        .map(|(_, h)| h.chars().count())
        .max()
        .unwrap_or(0);
    let two = usize::from(area.width) >= 2 * (key_w_all + 2 + help_w_all) + 5;
    let entries = fitting(
        usize::from(area.height.saturating_sub(2)),
        if two { 2 } else { 1 },
    );
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
    let col_w = key_w + 2 + help_w;
    let inner_h = usize::from(area.height.saturating_sub(2));
    // Two columns when one does not fit the height.
    let columns = if entries.len() > inner_h && usize::from(area.width) >= 2 * col_w + 5 {
        2
    } else {
        1
    };
    let per_col = entries.len().div_ceil(columns);
    let render_entry = |(k, h): &(String, String)| -> Vec<Span<'static>> {
        if h.is_empty() {
            vec![Span::styled(format!("{k:<col_w$}"), theme.header())]
        } else {
            vec![
                Span::styled(format!("{k:>key_w$}"), theme.filter()),
                Span::raw(format!("  {h:<help_w$}")),
            ]
        }
    };
    let text: Vec<Line> = (0..per_col)
        .map(|r| {
            let mut spans = Vec::new();
            for c in 0..columns {
                if let Some(e) = entries.get(c * per_col + r) {
                    if c > 0 {
                        spans.push(Span::raw("   "));
                    }
                    spans.extend(render_entry(e));
                }
            }
            Line::from(spans)
        })
        .collect();
    let width = ((col_w * columns + 3 * (columns - 1) + 2) as u16).min(area.width);
    let height = ((per_col + 2) as u16).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(text).block(
            Block::bordered()
                .border_type(BorderType::Double)
                .border_style(theme.border(true))
                .title(" Keys (? or Esc closes) "),
        ),
        rect,
    );
}
