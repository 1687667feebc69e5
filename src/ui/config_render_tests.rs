//! Snapshots and checks of what the config changes on screen: the help overlay (80x24 at the
//! top and scrolled, 120x40 with remapped keys), the status bar's hints at 80 and 120
//! columns, and the light and monochrome palettes (as the buffer's styles, since a text
//! snapshot cannot show colour).

use std::path::Path;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use ratatui::Terminal;

use crate::config;
use crate::ui::app::{update, Message, Model, Tab};
use crate::ui::fixture;
use crate::ui::render::draw;
use crate::ui::theme::Theme;

fn model(theme: Theme, width: u16, height: u16) -> Model {
    let mut m = Model::from_inventories(fixture::host(), Vec::new(), theme);
    update(&mut m, Message::Resize { width, height });
    m
}

fn terminal(model: &Model, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| draw(f, model)).unwrap();
    t
}

fn render(model: &Model, width: u16, height: u16) -> String {
    terminal(model, width, height).backend().to_string()
}

fn press(m: &mut Model, code: KeyCode, modifiers: KeyModifiers) {
    update(m, Message::Key(KeyEvent::new(code, modifiers)));
}

fn chars(m: &mut Model, keys: &str) {
    for c in keys.chars() {
        press(m, KeyCode::Char(c), KeyModifiers::NONE);
    }
}

fn last_line(screen: &str) -> String {
    screen.lines().last().unwrap_or_default().to_string()
}

const REMAP: &str = "[keys.browse]\nhelp = [\"F1\", \"?\"]\nquit = \"Ctrl-q\"\ntour = \"F2\"\n";

fn remapped(width: u16, height: u16) -> Model {
    let c = config::parse(REMAP, Path::new("/cfg.toml")).unwrap();
    let mut m = model(Theme::default(), width, height);
    m.keys = c.keys;
    m
}

#[test]
fn help_80x24_top() {
    let mut m = model(Theme::default(), 80, 24);
    chars(&mut m, "?");
    let screen = render(&m, 80, 24);
    // The tab in view first, and the way to scroll said.
    assert!(screen.contains("On the Links tab"), "{screen}");
    assert!(screen.contains("scroll"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn help_80x24_scrolled() {
    let mut m = model(Theme::default(), 80, 24);
    chars(&mut m, "?");
    press(&mut m, KeyCode::PageDown, KeyModifiers::NONE);
    press(&mut m, KeyCode::PageDown, KeyModifiers::NONE);
    let screen = render(&m, 80, 24);
    assert!(!screen.contains("On the Links tab"), "{screen}");
    insta::assert_snapshot!(screen);
    // The end: the marks, the last section.
    chars(&mut m, "G");
    let end = render(&m, 80, 24);
    assert!(end.contains("lab: on selected path"), "{end}");
    insta::assert_snapshot!("help_80x24_end", end);
    // Still open; Esc closes it.
    assert!(m.help);
    press(&mut m, KeyCode::Esc, KeyModifiers::NONE);
    assert!(!m.help);
}

#[test]
fn help_120x40_with_remapped_keys() {
    let mut m = remapped(120, 40);
    // ? still opens it (listed too); F1 is the help's key now.
    press(&mut m, KeyCode::F(1), KeyModifiers::NONE);
    assert!(m.help);
    let screen = render(&m, 120, 40);
    assert!(screen.contains("Keys (F1 or Esc closes)"), "{screen}");
    assert!(screen.contains("Ctrl-Q  quit"), "{screen}");
    assert!(screen.contains("F2  tour of the study post"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn help_shows_the_matrix_keys_first_on_the_matrix() {
    let mut m = model(Theme::default(), 80, 24);
    chars(&mut m, "9?");
    assert_eq!(m.tab, Tab::Matrix);
    let screen = render(&m, 80, 24);
    let first = screen.find("On the Matrix tab").expect("tab section");
    let probe = screen.find("run the probes (again)").expect("probe key");
    let browsing = screen.find("Browsing").unwrap_or(usize::MAX);
    assert!(first < probe && probe < browsing, "{screen}");
}

#[test]
fn status_bar_at_80_and_120_columns() {
    let m = model(Theme::default(), 80, 24);
    let at80 = last_line(&render(&m, 80, 24));
    assert!(at80.contains("?:help t:tour q:quit"), "{at80}");
    insta::assert_snapshot!("status_bar_80", at80);
    let m = model(Theme::default(), 120, 40);
    let at120 = last_line(&render(&m, 120, 40));
    assert!(at120.contains("/:filter"), "{at120}");
    insta::assert_snapshot!("status_bar_120", at120);
}

#[test]
fn the_tab_bar_names_remapped_tab_keys() {
    let c = config::parse("[keys.browse]\ntab_links = \"F1\"\n", Path::new("/c.toml")).unwrap();
    let mut m = model(Theme::default(), 120, 40);
    m.keys = c.keys;
    let first = render(&m, 120, 40)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(first.contains("[F1 Links]"), "{first}");
}

#[test]
fn status_bar_shows_remapped_keys() {
    let m = remapped(120, 40);
    let line = last_line(&render(&m, 120, 40));
    assert!(line.contains("F1:help F2:tour Ctrl-Q:quit"), "{line}");
}

#[test]
fn the_tour_hint_fits_a_narrow_bar_beside_a_long_message() {
    for width in [30, 40, 60] {
        let mut m = model(Theme::default(), width, 24);
        m.message = Some("a long message that would take the whole status bar by itself".into());
        let line = last_line(&render(&m, width, 24));
        assert!(line.contains("t:tour"), "{width}: {line}");
    }
}

#[test]
fn light_palette() {
    let m = model(Theme::light(), 80, 24);
    let t = terminal(&m, 80, 24);
    insta::assert_snapshot!(format!("{:?}", t.backend().buffer()));
}

#[test]
fn monochrome_palette() {
    let c = config::parse("[theme]\npalette = \"monochrome\"\n", Path::new("/c.toml")).unwrap();
    let m = model(c.theme(false), 80, 24);
    let t = terminal(&m, 80, 24);
    for cell in t.backend().buffer().content() {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
    insta::assert_snapshot!(format!("{:?}", t.backend().buffer()));
}

#[test]
fn no_color_drops_a_palettes_colours() {
    let c = config::parse(
        "[theme]\npalette = \"light\"\n[theme.colors]\naccent = \"#ff0000\"\n",
        Path::new("/c.toml"),
    )
    .unwrap();
    let coloured = terminal(&model(c.theme(false), 80, 24), 80, 24);
    assert!(coloured
        .backend()
        .buffer()
        .content()
        .iter()
        .any(|cell| cell.fg == Color::Rgb(255, 0, 0)));
    let plain = terminal(&model(c.theme(true), 80, 24), 80, 24);
    assert!(plain
        .backend()
        .buffer()
        .content()
        .iter()
        .all(|cell| cell.fg == Color::Reset && cell.bg == Color::Reset));
}

#[test]
fn dialogs_name_remapped_keys() {
    let c = config::parse("[keys.dialog]\nno = \"F9\"\n", Path::new("/c.toml")).unwrap();
    let mut m = model(Theme::default(), 100, 30);
    m.keys = c.keys;
    m.bench.overlay = Some(crate::ui::labui::Overlay::Error("boom".into()));
    let screen = render(&m, 100, 30);
    assert!(screen.contains("Enter / F9: dismiss"), "{screen}");
    // And F9 is what dismisses it now.
    press(&mut m, KeyCode::F(9), KeyModifiers::NONE);
    assert_eq!(m.bench.overlay, None);
}
