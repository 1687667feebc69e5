//! The namespace list on the left: the containers living in it (name and runtime) or its
//! name, how it was found, the process holding it, how many links it has, and marks for
//! netview's own namespaces, netview's namespace and errors.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, List, ListItem, ListState};
use ratatui::Frame;

use super::cut;
use crate::ui::app::{Model, NsEntry, Pane};
use crate::ui::theme::{
    MARK_ERROR, MARK_FOCUS, MARK_LOADING, MARK_NETVIEW, MARK_PROBE, MARK_SELECTED, MARK_SELF,
};

fn item<'a>(model: &Model, e: &NsEntry, width: usize) -> ListItem<'a> {
    let theme = &model.theme;
    let mark = if model.marked.contains(&e.netns.id) {
        Span::styled(MARK_PROBE, theme.netview())
    } else if e.is_netview() {
        Span::styled(MARK_NETVIEW, theme.netview())
    } else if e.netns.is_self {
        Span::raw(MARK_SELF)
    } else {
        Span::raw(" ")
    };
    let count = match (&e.inventory, &e.error) {
        (Some(inv), _) => inv.links.len().to_string(),
        (None, Some(_)) => MARK_ERROR.to_string(),
        (None, None) => MARK_LOADING.to_string(),
    };
    let source = match e.source_label() {
        "process" => "proc",
        s => s,
    };
    // mark, name, source (5), count (4): name takes what is left.
    let name_w = width.saturating_sub(1 + 1 + 5 + 1 + 4).max(4);
    // A container's namespace is named by the container first, its own name second.
    let container = e.container_label();
    let first = Line::from(vec![
        mark,
        Span::raw(format!(
            "{:<name_w$} {:<5} {:>4}",
            cut(container.as_deref().unwrap_or(&e.netns.name), name_w),
            source,
            count
        )),
    ]);
    let mut lines = vec![first];
    if container.is_some() {
        lines.push(Line::styled(
            format!("  {}", cut(&e.netns.name, width.saturating_sub(2))),
            theme.dim(),
        ));
    } else if let Some(host_mode) = e.containers_text() {
        lines.push(Line::styled(
            format!("  host mode: {}", cut(&host_mode, width.saturating_sub(13))),
            theme.dim(),
        ));
    }
    if let Some(label) = model.bench.label_for(&e.netns.name) {
        lines.push(Line::styled(
            format!("  {MARK_NETVIEW} {}", cut(&label, width.saturating_sub(4))),
            theme.netview(),
        ));
    }
    if let Some(p) = &e.netns.process {
        lines.push(Line::styled(
            format!("  {}", cut(p, width.saturating_sub(2))),
            theme.dim(),
        ));
    }
    if let Some(err) = &e.error {
        lines.push(Line::styled(
            format!("  {MARK_ERROR} {}", cut(err, width.saturating_sub(4))),
            theme.error(),
        ));
    }
    ListItem::new(Text::from(lines))
}

fn block<'a>(model: &Model) -> Block<'a> {
    let focused = model.focus == Pane::Namespaces;
    let visible = model.visible_namespaces();
    let title = format!(
        "{} Namespaces ({}) ",
        if focused { MARK_FOCUS } else { "" },
        if visible.len() == model.namespaces.len() {
            visible.len().to_string()
        } else {
            format!("{} of {}", visible.len(), model.namespaces.len())
        }
    );
    Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(model.theme.border(focused))
        .title(title)
}

/// The items of the visible namespaces, the selected one's position, and the first one
/// drawn: from the top until the selected one would fall off, then with it on the last
/// lines (what ratatui's list does from offset 0, kept here so a click can be placed).
fn items<'a>(model: &Model, area: Rect) -> (Vec<ListItem<'a>>, Option<usize>, usize) {
    let inner = block(model).inner(area);
    let width = usize::from(inner.width).saturating_sub(MARK_SELECTED.chars().count());
    let visible = model.visible_namespaces();
    let items: Vec<ListItem> = visible
        .iter()
        .map(|&i| item(model, &model.namespaces[i], width))
        .collect();
    let selected = visible
        .iter()
        .position(|&i| Some(model.namespaces[i].netns.id) == model.selected);
    let height = usize::from(inner.height);
    let mut offset = 0;
    if let Some(sel) = selected {
        let used = |from: usize| {
            items[from..=sel]
                .iter()
                .map(ListItem::height)
                .sum::<usize>()
        };
        while offset < sel && used(offset) > height {
            offset += 1;
        }
    }
    (items, selected, offset)
}

/// The index (into `model.namespaces`) of the namespace drawn at line `y` of `area`.
pub fn entry_at(model: &Model, area: Rect, y: u16) -> Option<usize> {
    let inner = block(model).inner(area);
    if y < inner.y || y >= inner.y + inner.height {
        return None;
    }
    let (items, _, offset) = items(model, area);
    let mut top = usize::from(inner.y);
    for (n, it) in items.iter().enumerate().skip(offset) {
        let bottom = top + it.height();
        if (top..bottom).contains(&usize::from(y)) {
            return model.visible_namespaces().get(n).copied();
        }
        top = bottom;
    }
    None
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let focused = model.focus == Pane::Namespaces;
    let (items, selected, offset) = items(model, area);
    let list = List::new(items)
        .block(block(model))
        .highlight_symbol(MARK_SELECTED)
        .highlight_style(model.theme.selected(focused));
    let mut state = ListState::default()
        .with_selected(selected)
        .with_offset(offset);
    frame.render_stateful_widget(list, area, &mut state);
}
