//! Snapshots of the lab bench on TestBackend, from the fixed lab of a real run
//! ([`crate::ui::fixture::lab_state`], its inventory and its probe results): the form (valid
//! and with errors), the mode chooser, the matrix (filling in, done, 80x24 monochrome), the
//! explanation with the packet walk's hops, the lab picture and the topology with the
//! selected cell's path, each tour step, the quit question and the one while a lab job runs.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use crate::ui::app::{update, Model, Tab};
use crate::ui::fixture;
use crate::ui::form::{FieldId, FieldValue};
use crate::ui::labui::Overlay;
use crate::ui::message::Message;
use crate::ui::render::draw;
use crate::ui::theme::Theme;
use crate::ui::tour::TourState;

fn model(theme: Theme) -> Model {
    let mut m = Model::from_inventories(fixture::lab_inventories(), Vec::new(), theme);
    update(
        &mut m,
        Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
    );
    m
}

fn render(model: &Model, width: u16, height: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| draw(f, model)).unwrap();
    t.backend().to_string()
}

fn key(m: &mut Model, code: KeyCode) {
    update(m, Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn keys(m: &mut Model, s: &str) {
    for c in s.chars() {
        key(m, KeyCode::Char(c));
    }
}

/// The matrix with the first `n` results in (all of them: `usize::MAX`).
fn probed(theme: Theme, n: usize) -> Model {
    let mut m = model(theme);
    keys(&mut m, "p");
    for r in fixture::matrix_results().into_iter().take(n) {
        update(&mut m, Message::ProbeCell(r));
    }
    if n == usize::MAX {
        update(&mut m, Message::ProbesDone(Ok(1122)));
    }
    m
}

fn select(m: &mut Model, from: &str, to: &str) {
    assert!(m.bench.matrix.select(from, to), "{from} -> {to}");
}

#[test]
fn namespace_list_marks_the_lab() {
    insta::assert_snapshot!(render(&model(Theme::default()), 100, 30));
}

#[test]
fn mode_chooser() {
    let mut m = model(Theme::default());
    keys(&mut m, "njjj");
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn form_valid() {
    let mut m = model(Theme::default());
    keys(&mut m, "nm");
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn form_with_errors() {
    let mut m = model(Theme::default());
    keys(&mut m, "nm");
    let Some(Overlay::Form(f)) = &mut m.bench.overlay else {
        panic!("form");
    };
    f.field_mut(FieldId::Name).unwrap().value = FieldValue::Text("mv1".into());
    f.field_mut(FieldId::Parent).unwrap().value = FieldValue::Text("lo".into());
    f.field_mut(FieldId::Subnet).unwrap().value = FieldValue::Text("192.168.50.0/24".into());
    f.field_mut(FieldId::IpRange).unwrap().value = FieldValue::Text("10.1.0.0/27".into());
    // Any key re-validates.
    key(&mut m, KeyCode::Down);
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn form_ipvlan_on_this_kernel() {
    let mut m = model(Theme::default());
    keys(&mut m, "ni");
    update(&mut m, Message::IpvlanSupport(false));
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn matrix_filling_in() {
    let mut m = probed(Theme::default(), 40);
    m.bench.spinner = 1;
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn matrix_done() {
    let mut m = probed(Theme::default(), usize::MAX);
    select(&mut m, "mv1", "host");
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn matrix_80x24_monochrome() {
    let mut m = probed(Theme::monochrome(), usize::MAX);
    select(&mut m, "mv1", "host");
    let screen = render(&m, 80, 24);
    // Readable without colour: the marks say it.
    assert!(screen.contains("✗✗"), "{screen}");
    assert!(
        screen.contains("▶ mv1 → host 192.168.50.11: icmp ✗  arp ✗"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
}

/// The header of the matrix on screen: the tab bar, the title and the two header lines.
fn header_of(screen: &str) -> String {
    screen.lines().take(4).collect::<Vec<_>>().join("\n")
}

/// The text on screen in row `line` at the column where `needle` starts in row `above`.
fn under(screen: &str, above: usize, needle: &str, line: usize) -> String {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let head: String = lines[above].iter().collect();
    let at = head
        .find(needle)
        .map(|b| head[..b].chars().count())
        .unwrap_or_else(|| panic!("{needle} not in {head}"));
    lines[line][at..].iter().take(3).collect()
}

#[test]
fn matrix_header_80x24() {
    let mut m = probed(Theme::monochrome(), usize::MAX);
    update(
        &mut m,
        Message::Resize {
            width: 80,
            height: 24,
        },
    );
    let screen = render(&m, 80, 24);
    // No numbered columns, no key that can be clipped: the endpoints head their addresses.
    assert!(!screen.contains("[1]"), "{screen}");
    assert!(screen.contains("host ─"), "{screen}");
    assert!(screen.contains("columns 1–"), "{screen}");
    insta::assert_snapshot!(header_of(&screen));
}

#[test]
fn matrix_header_120x40() {
    let mut m = probed(Theme::monochrome(), usize::MAX);
    update(
        &mut m,
        Message::Resize {
            width: 120,
            height: 40,
        },
    );
    let screen = render(&m, 120, 40);
    insta::assert_snapshot!(header_of(&screen));
    // mv1 -> host reads off the screen: the mv1 row, under host's first address.
    let mv1 = screen
        .lines()
        .position(|l| l.trim_start_matches(['"', '│']).starts_with("mv1 "))
        .expect("the mv1 row");
    assert_eq!(under(&screen, 2, "host ─", 3), "192");
    assert_eq!(under(&screen, 2, "host ─", mv1), "✗✗ ");
    assert_eq!(under(&screen, 3, "192.168.50.12", mv1), "✓✓ ");
}

#[test]
fn matrix_scrolls_to_the_last_column_at_80x24() {
    let mut m = probed(Theme::monochrome(), usize::MAX);
    update(
        &mut m,
        Message::Resize {
            width: 80,
            height: 24,
        },
    );
    let before = render(&m, 80, 24);
    assert!(!header_of(&before).contains("mv1"), "{before}");
    let last = m.bench.matrix.grid.columns.len() - 1;
    for _ in 0..last {
        keys(&mut m, ">");
    }
    assert_eq!(m.bench.matrix.col, last);
    let screen = render(&m, 80, 24);
    assert!(header_of(&screen).contains("mv1"), "{screen}");
    assert!(header_of(&screen).contains("192.168.50.193"), "{screen}");
    assert!(screen.contains("more to the left"), "{screen}");
    assert!(screen.contains("→ mv1 192.168.50.193"), "{screen}");
    // And back to the first.
    for _ in 0..last {
        keys(&mut m, "<");
    }
    assert_eq!((m.bench.matrix.col, m.bench.matrix.first_col), (0, 0));
    assert_eq!(render(&m, 80, 24), before);
}

#[test]
fn matrix_mismatch_is_marked() {
    let mut m = model(Theme::monochrome());
    keys(&mut m, "p");
    for mut r in fixture::matrix_results() {
        if r.cell.from.as_ref() == "mv1" && r.cell.to.as_ref() == "host" {
            // As if the kernel had answered: a finding, marked `!`.
            r.observed.outcome = crate::probe::ProbeOutcome::Reply;
        }
        update(&mut m, Message::ProbeCell(r));
    }
    update(&mut m, Message::ProbesDone(Ok(1000)));
    select(&mut m, "mv1", "host");
    let screen = render(&m, 80, 24);
    assert!(screen.contains("✓✓!"), "{screen}");
    assert!(screen.contains("3 mismatches"), "{screen}");
}

#[test]
fn explanation() {
    let mut m = probed(Theme::default(), usize::MAX);
    select(&mut m, "mv1", "host");
    key(&mut m, KeyCode::Enter);
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn explanation_of_nat() {
    let mut m = probed(Theme::default(), usize::MAX);
    select(&mut m, "br1", "router");
    key(&mut m, KeyCode::Enter);
    let screen = render(&m, 100, 30);
    assert!(screen.contains("seen as: 192.168.50.11"), "{screen}");
    insta::assert_snapshot!(screen);
}

/// The explanation lists the walk's hops; PgDn scrolls to the reply's and the cell's line
/// stays on top.
#[test]
fn explanation_with_hops_scrolled() {
    let mut m = probed(Theme::default(), usize::MAX);
    select(&mut m, "mv1", "peer");
    key(&mut m, KeyCode::Enter);
    let first = render(&m, 100, 30);
    assert!(first.contains("hops (30, request then reply"), "{first}");
    assert!(
        first.contains("1  nv-mv1     eth0    routed on-link by 192.168.50.0/24"),
        "{first}"
    );
    assert!(first.contains("PgDn/PgUp: scroll"), "{first}");
    update(
        &mut m,
        Message::Resize {
            width: 100,
            height: 30,
        },
    );
    key(&mut m, KeyCode::PageDown);
    let screen = render(&m, 100, 30);
    assert_ne!(first, screen, "PgDn scrolls");
    assert!(screen.contains("║mv1 → peer 192.168.50.12"), "{screen}");
    assert!(
        screen.contains("30  nv-mv1     eth0    192.168.50.193 is delivered to the local stack"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
    // Past the end the last page stays full.
    for _ in 0..10 {
        key(&mut m, KeyCode::PageDown);
    }
    let end = render(&m, 100, 30);
    assert!(end.contains("–57 of 57"), "{end}");
    assert!(
        end.lines().next().unwrap().contains("╔ Why?"),
        "a full box: {end}"
    );
    // The first PgUp from there moves what shows (no press is lost past the end).
    key(&mut m, KeyCode::PageUp);
    assert_ne!(render(&m, 100, 30), end, "PgUp from the end");
    key(&mut m, KeyCode::PageUp);
    assert_eq!(render(&m, 100, 30), first, "PgUp scrolls back to the top");
}

/// The topology tab lights the devices the selected cell's hops pass, with `»` as well as
/// the style, so it reads without colour.
#[test]
fn topology_with_the_selected_path() {
    let mut m = probed(Theme::monochrome(), usize::MAX);
    select(&mut m, "mv1", "peer");
    keys(&mut m, "8");
    assert_eq!(m.tab, Tab::Topology);
    let screen = render(&m, 100, 30);
    assert!(screen.contains("» path of mv1 → peer: 30 hops"), "{screen}");
    let marked: Vec<&str> = screen.lines().filter(|l| l.contains("» ")).collect();
    assert!(marked.iter().any(|l| l.contains("p-peer")), "{screen}");
    assert!(!marked.iter().any(|l| l.contains("p-router")), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn lab_picture_with_the_selected_path() {
    let mut m = probed(Theme::default(), usize::MAX);
    select(&mut m, "mv1", "peer");
    keys(&mut m, "0");
    assert_eq!(m.tab, Tab::Lab);
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn lab_picture_80x24() {
    let mut m = probed(Theme::monochrome(), usize::MAX);
    select(&mut m, "br1", "router");
    keys(&mut m, "0");
    insta::assert_snapshot!(render(&m, 80, 24));
}

fn tour_at(step: usize, note: Option<&str>) -> Model {
    let mut m = probed(Theme::default(), usize::MAX);
    let mut t = TourState::new();
    t.step = step;
    t.built = true;
    t.probed = note.is_none();
    t.note = note.map(str::to_string);
    m.bench.tour = Some(t);
    m
}

#[test]
fn tour_steps() {
    insta::assert_snapshot!("tour_1_bridge", render(&tour_at(0, None), 100, 30));
    insta::assert_snapshot!(
        "tour_2_host",
        render(
            &tour_at(
                1,
                Some("port 80: tour-h1 listens; the host's own bind fails (Address already in use (os error 98)); host → 127.0.0.1:80 reaches tour-h1: shared")
            ),
            100,
            30
        )
    );
    insta::assert_snapshot!("tour_3_none", render(&tour_at(2, None), 100, 30));
    insta::assert_snapshot!("tour_4_macvlan", render(&tour_at(3, None), 100, 30));
    insta::assert_snapshot!(
        "tour_5_ipvlan",
        render(
            &tour_at(
                4,
                Some("cannot run here: this kernel has no ipvlan support  (Space moves on)")
            ),
            100,
            30
        )
    );
}

#[test]
fn tour_start() {
    let mut m = model(Theme::default());
    keys(&mut m, "t");
    insta::assert_snapshot!(render(&m, 80, 24));
}

#[test]
fn quit_question() {
    let mut m = model(Theme::default());
    m.bench.brought_up = true;
    keys(&mut m, "q");
    insta::assert_snapshot!(render(&m, 100, 30));
}

/// `q` while adding a host container: wait, or cancel and roll back.
#[test]
fn quit_question_during_a_job() {
    let mut m = model(Theme::default());
    keys(&mut m, "nh");
    key(&mut m, KeyCode::Enter);
    keys(&mut m, "q");
    assert_eq!(m.bench.overlay, Some(Overlay::QuitDuringJob));
    insta::assert_snapshot!(render(&m, 100, 30));
}

/// A removal cannot be cancelled: the question offers only to wait.
#[test]
fn quit_question_during_a_removal() {
    let mut m = model(Theme::default());
    m.bench.job = Some(crate::ui::labui::LabJob::Remove(vec!["h1".into()]));
    keys(&mut m, "q");
    let screen = render(&m, 100, 30);
    assert!(screen.contains("w: wait for it, then quit"), "{screen}");
    assert!(!screen.contains("cancel it"), "{screen}");
    assert!(screen.contains("cannot be cancelled"), "{screen}");
}

/// The help, where there is room for its dialog section, has the job question's keys.
#[test]
fn help_lists_the_job_question_keys() {
    let mut m = model(Theme::default());
    keys(&mut m, "?");
    let screen = render(&m, 120, 80);
    assert!(screen.contains("w  quit: wait for the job"), "{screen}");
    assert!(screen.contains("c  quit: cancel, roll back"), "{screen}");
}

/// After `c`, the progress line says it is rolling back.
#[test]
fn progress_line_while_cancelling() {
    let mut m = model(Theme::default());
    keys(&mut m, "nh");
    key(&mut m, KeyCode::Enter);
    keys(&mut m, "qc");
    m.bench.spinner = 1;
    let screen = render(&m, 100, 30);
    assert!(
        screen.contains("/ cancelling adding h2 (host): rolling back…"),
        "{screen}"
    );
}

#[test]
fn progress_line_while_the_lab_changes() {
    let mut m = model(Theme::default());
    keys(&mut m, "nh");
    key(&mut m, KeyCode::Enter);
    m.bench.spinner = 2;
    let screen = render(&m, 100, 30);
    assert!(screen.contains("- adding h2 (host)…"), "{screen}");
}

#[test]
fn tiny_terminals_do_not_panic_on_the_bench() {
    let mut views: Vec<Model> = Vec::new();
    let mut m = probed(Theme::default(), usize::MAX);
    views.push(m.clone());
    key(&mut m, KeyCode::Enter);
    views.push(m.clone());
    let mut m = probed(Theme::default(), 30);
    keys(&mut m, "0");
    views.push(m.clone());
    let mut m = model(Theme::default());
    keys(&mut m, "nm");
    views.push(m.clone());
    views.push(tour_at(3, None));
    let mut m = model(Theme::default());
    m.bench.brought_up = true;
    keys(&mut m, "q");
    views.push(m);
    let mut m = model(Theme::default());
    keys(&mut m, "nh");
    key(&mut m, KeyCode::Enter);
    keys(&mut m, "q");
    views.push(m);
    for v in &views {
        for (w, h) in [(1, 1), (10, 4), (30, 8), (80, 24)] {
            render(v, w, h);
        }
    }
}

#[test]
fn a_paced_run_says_so_in_the_matrix_title() {
    let mut m = model(Theme::default());
    keys(&mut m, "p");
    let plain = render(&m, 140, 30);
    assert!(!plain.contains("paced"), "{plain}");
    update(
        &mut m,
        Message::ProbesPaced(crate::probe::matrix::Pacing {
            batches: 24,
            reclaim_waits: 0,
            entries_needed: 20_606,
            room: 894,
            limits: crate::probe::pacing::NeighbourLimits {
                gc_thresh1: 128,
                gc_thresh2: 512,
                gc_thresh3: 1024,
                entries: 2,
            },
            why: "the probes need about 20606 neighbour entries".into(),
        }),
    );
    for r in fixture::matrix_results() {
        update(&mut m, Message::ProbeCell(r));
    }
    let screen = render(&m, 140, 30);
    assert!(
        screen.contains("paced in 24 batches to fit the kernel's neighbour table"),
        "{screen}"
    );
    // A new run starts unpaced until it is told otherwise.
    update(&mut m, Message::ProbesDone(Ok(1122)));
    keys(&mut m, "p");
    assert!(m.bench.matrix.pacing.is_none());
}
