//! `update` with mouse messages, on the fixed lab of [`crate::ui::fixture`]: where to click
//! is read off the screen as drawn (TestBackend), so these also check that a click lands
//! where the thing is drawn.

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::Terminal;

use crate::ui::app::{update, Model, Pane, Tab};
use crate::ui::fixture;
use crate::ui::labui::Overlay;
use crate::ui::message::Message;
use crate::ui::render::draw;
use crate::ui::theme::Theme;

const W: u16 = 100;
const H: u16 = 30;

fn model() -> Model {
    let mut m = Model::from_inventories(fixture::lab_inventories(), Vec::new(), Theme::default());
    update(
        &mut m,
        Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
    );
    update(
        &mut m,
        Message::Resize {
            width: W,
            height: H,
        },
    );
    m
}

fn probed() -> Model {
    let mut m = model();
    key(&mut m, KeyCode::Char('p'));
    for r in fixture::matrix_results() {
        update(&mut m, Message::ProbeCell(r));
    }
    update(&mut m, Message::ProbesDone(Ok(1122)));
    m
}

fn key(m: &mut Model, code: KeyCode) {
    update(m, Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn screen(m: &Model) -> Vec<String> {
    let (w, h) = (m.screen.width, m.screen.height);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, m)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect()
}

/// Where `needle` is drawn: (column, line) of its first character.
fn find(m: &Model, needle: &str) -> (u16, u16) {
    let lines = screen(m);
    for (y, l) in lines.iter().enumerate() {
        if let Some(b) = l.find(needle) {
            return (l[..b].chars().count() as u16, y as u16);
        }
    }
    panic!("{needle} is not on screen:\n{}", lines.join("\n"));
}

fn mouse(m: &mut Model, kind: MouseEventKind, (x, y): (u16, u16), at: Instant) {
    mouse_with(m, kind, (x, y), KeyModifiers::NONE, at);
}

fn mouse_with(
    m: &mut Model,
    kind: MouseEventKind,
    (column, row): (u16, u16),
    modifiers: KeyModifiers,
    at: Instant,
) {
    let event = MouseEvent {
        kind,
        column,
        row,
        modifiers,
    };
    update(m, Message::Mouse { event, at });
}

const LEFT: MouseEventKind = MouseEventKind::Down(MouseButton::Left);

#[test]
fn a_click_on_a_tab_selects_it() {
    let mut m = model();
    let at = find(&m, "4 Neigh");
    mouse(&mut m, LEFT, at, Instant::now());
    assert_eq!(m.tab, Tab::Neighbours);
    let at = find(&m, "9 Mtx");
    mouse(&mut m, LEFT, (at.0 + 2, at.1), Instant::now());
    assert_eq!(m.tab, Tab::Matrix);
}

#[test]
fn a_click_on_a_namespace_selects_it_and_focuses_the_list() {
    let mut m = model();
    key(&mut m, KeyCode::Tab);
    assert_eq!(m.focus, Pane::Table);
    let name = m.namespaces[3].netns.name.clone();
    assert_ne!(m.selected, Some(m.namespaces[3].netns.id));
    let at = find(&m, &name);
    mouse(&mut m, LEFT, at, Instant::now());
    assert_eq!(m.selected, Some(m.namespaces[3].netns.id), "{name}");
    assert_eq!(m.focus, Pane::Namespaces);
}

#[test]
fn a_click_lands_on_its_namespace_when_the_list_is_scrolled() {
    let mut m = model();
    update(
        &mut m,
        Message::Resize {
            width: W,
            height: 12,
        },
    );
    key(&mut m, KeyCode::Char('G'));
    let last = m.namespaces.len() - 1;
    assert_eq!(m.selected, Some(m.namespaces[last].netns.id));
    // The first namespaces are scrolled off; the one before the last is on screen.
    let first = m.namespaces[0].netns.name.clone();
    // Only the namespace list counts (the table may name it, e.g. as a macvlan's parent).
    let list: Vec<String> = screen(&m)
        .iter()
        .map(|l| l.chars().take(30).collect())
        .collect();
    assert!(
        !list[2..].iter().any(|l| l.contains(&first)),
        "{first}: {list:#?}"
    );
    let name = m.namespaces[last - 1].netns.name.clone();
    let at = find(&m, &name);
    mouse(&mut m, LEFT, at, Instant::now());
    assert_eq!(m.selected, Some(m.namespaces[last - 1].netns.id), "{name}");
}

#[test]
fn a_click_on_a_table_row_selects_it() {
    let mut m = model();
    let rows = m.current_view().rows.clone();
    assert!(rows.len() >= 2, "{rows:?}");
    // The second row's NAME.
    let second = rows[1].cells[1].clone();
    let at = find(&m, &format!(" {second} "));
    mouse(&mut m, LEFT, (at.0 + 1, at.1), Instant::now());
    assert_eq!(m.row, 1);
    assert_eq!(m.focus, Pane::Table);
}

#[test]
fn the_wheel_moves_through_rows_under_it() {
    let mut m = model();
    let over_table = find(&m, "Links ·");
    let over_table = (over_table.0, over_table.1 + 3);
    mouse(
        &mut m,
        MouseEventKind::ScrollDown,
        over_table,
        Instant::now(),
    );
    assert_eq!(m.row, 1);
    mouse(&mut m, MouseEventKind::ScrollUp, over_table, Instant::now());
    mouse(&mut m, MouseEventKind::ScrollUp, over_table, Instant::now());
    assert_eq!(m.row, 0);
    let first = m.selected;
    let over_list = find(&m, "Namespaces (");
    mouse(
        &mut m,
        MouseEventKind::ScrollDown,
        (over_list.0, over_list.1 + 2),
        Instant::now(),
    );
    assert_ne!(
        m.selected, first,
        "the wheel over the list moves the namespace"
    );
}

#[test]
fn a_click_selects_a_matrix_cell_and_a_double_click_explains_it() {
    let mut m = probed();
    assert_eq!(m.tab, Tab::Matrix);
    let (peer_x, _) = find(&m, "peer ─");
    let (_, mv1_y) = find(&m, "│mv1 ");
    let t0 = Instant::now();
    mouse(&mut m, LEFT, (peer_x + 1, mv1_y), t0);
    assert_eq!(
        m.bench.matrix.selected_pair(),
        Some(("mv1".into(), "peer".into()))
    );
    assert_eq!(m.bench.overlay, None, "one click only selects");
    // A second click on the same cell, but late: still no double click.
    mouse(
        &mut m,
        LEFT,
        (peer_x + 1, mv1_y),
        t0 + Duration::from_secs(2),
    );
    assert_eq!(m.bench.overlay, None);
    // A second click on another cell soon after: no double click either.
    let (host_x, _) = find(&m, "host ─");
    let t1 = t0 + Duration::from_secs(3);
    mouse(&mut m, LEFT, (host_x, mv1_y), t1);
    assert_eq!(m.bench.overlay, None);
    assert_eq!(
        m.bench.matrix.selected_pair(),
        Some(("mv1".into(), "host".into()))
    );
    mouse(
        &mut m,
        LEFT,
        (host_x, mv1_y),
        t1 + Duration::from_millis(200),
    );
    assert_eq!(m.bench.overlay, Some(Overlay::Explain));
    // The dialog has the keyboard and the mouse: a click behind it does nothing.
    mouse(
        &mut m,
        LEFT,
        (peer_x + 1, mv1_y),
        t1 + Duration::from_secs(1),
    );
    assert_eq!(
        m.bench.matrix.selected_pair(),
        Some(("mv1".into(), "host".into()))
    );
}

#[test]
fn the_wheel_on_the_matrix_moves_rows_and_with_shift_columns() {
    let mut m = probed();
    let (_, y) = find(&m, "│peer ");
    let at = (10, y);
    mouse(&mut m, MouseEventKind::ScrollDown, at, Instant::now());
    assert_eq!((m.bench.matrix.row, m.bench.matrix.col), (1, 0));
    mouse_with(
        &mut m,
        MouseEventKind::ScrollDown,
        at,
        KeyModifiers::SHIFT,
        Instant::now(),
    );
    mouse(&mut m, MouseEventKind::ScrollRight, at, Instant::now());
    assert_eq!((m.bench.matrix.row, m.bench.matrix.col), (1, 2));
}

#[test]
fn clicks_outside_anything_do_nothing() {
    let mut m = probed();
    let before = (m.tab, m.bench.matrix.row, m.bench.matrix.col);
    // The status bar, and the blank part of the grid.
    mouse(&mut m, LEFT, (5, H - 1), Instant::now());
    mouse(&mut m, LEFT, (5, H - 8), Instant::now());
    assert_eq!(before, (m.tab, m.bench.matrix.row, m.bench.matrix.col));
}
