//! Snapshots of every screen region, drawn on ratatui's TestBackend from the fixed model in
//! [`crate::ui::fixture`]. Review new snapshots by eye before accepting them.

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use ratatui::Terminal;

use crate::caps::Capability;
use crate::ui::app::{update, Model, Tab};
use crate::ui::fixture;
use crate::ui::keys::BINDINGS;
use crate::ui::message::Message;
use crate::ui::render::draw;
use crate::ui::theme::Theme;

fn model() -> Model {
    Model::from_inventories(fixture::host(), Vec::new(), Theme::default())
}

fn terminal(model: &Model, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| draw(f, model)).unwrap();
    t
}

fn render(model: &Model, width: u16, height: u16) -> String {
    terminal(model, width, height).backend().to_string()
}

fn press(model: &mut Model, keys: &str) {
    for c in keys.chars() {
        update(
            model,
            Message::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        );
    }
}

fn press_code(model: &mut Model, code: KeyCode) {
    update(model, Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn tab_model(tab: Tab) -> Model {
    let mut m = model();
    press(&mut m, &tab.key().to_string());
    assert_eq!(m.tab, tab);
    m
}

#[test]
fn links_tab() {
    insta::assert_snapshot!(render(&tab_model(Tab::Links), 100, 30));
}

#[test]
fn addresses_tab() {
    insta::assert_snapshot!(render(&tab_model(Tab::Addresses), 100, 30));
}

#[test]
fn routes_tab() {
    insta::assert_snapshot!(render(&tab_model(Tab::Routes), 100, 30));
}

#[test]
fn neighbours_tab() {
    insta::assert_snapshot!(render(&tab_model(Tab::Neighbours), 100, 30));
}

#[test]
fn bridges_tab() {
    insta::assert_snapshot!(render(&tab_model(Tab::Bridges), 100, 30));
}

#[test]
fn nat_tab() {
    insta::assert_snapshot!(render(&tab_model(Tab::Nat), 100, 30));
}

#[test]
fn filter_tab() {
    insta::assert_snapshot!(render(&tab_model(Tab::Filter), 100, 30));
}

#[test]
fn topology_tab() {
    insta::assert_snapshot!(render(&tab_model(Tab::Topology), 100, 30));
}

#[test]
fn macvlan_namespace_links_with_table_focused() {
    let mut m = model();
    // Down three times in the namespace list: root, pid:1234, nv-c1, nv-mac1.
    press(&mut m, "jjj");
    press(&mut m, "lj");
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn help_overlay() {
    let mut m = model();
    press(&mut m, "?");
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn filter_in_action() {
    let mut m = model();
    press(&mut m, "/172.17");
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn filter_accepted_on_routes() {
    let mut m = model();
    press(&mut m, "3/default");
    press_code(&mut m, KeyCode::Enter);
    press(&mut m, "j");
    insta::assert_snapshot!(render(&m, 100, 30));
}

#[test]
fn links_80x24() {
    insta::assert_snapshot!(render(&model(), 80, 24));
}

#[test]
fn topology_80x24() {
    insta::assert_snapshot!(render(&tab_model(Tab::Topology), 80, 24));
}

#[test]
fn unprivileged_with_missing_caps_and_unreadable_namespace() {
    let mut m = Model::from_inventories(
        fixture::unprivileged_host(),
        vec![
            Capability::SysAdmin,
            Capability::SysPtrace,
            Capability::NetAdmin,
            Capability::NetRaw,
        ],
        Theme::default(),
    );
    press(&mut m, "6");
    insta::assert_snapshot!("unprivileged_root_nat", render(&m, 100, 30));
    press(&mut m, "G");
    insta::assert_snapshot!("unprivileged_denied_namespace", render(&m, 100, 30));
}

#[test]
fn help_lists_every_binding() {
    let mut m = model();
    press(&mut m, "?");
    // A big screen shows it all at once.
    update(
        &mut m,
        Message::Resize {
            width: 200,
            height: 60,
        },
    );
    let screen = render(&m, 200, 60);
    for b in BINDINGS {
        assert!(screen.contains(b.help), "help lacks {:?}", b.help);
        assert!(
            screen.contains(&b.keys_label()),
            "help lacks keys {:?}",
            b.keys_label()
        );
    }
    // At 80x24 it scrolls: every binding is on one of its pages.
    update(
        &mut m,
        Message::Resize {
            width: 80,
            height: 24,
        },
    );
    let mut seen = String::new();
    for _ in 0..10 {
        seen.push_str(&render(&m, 80, 24));
        for _ in 0..20 {
            press_code(&mut m, KeyCode::Down);
        }
    }
    for b in BINDINGS {
        assert!(seen.contains(b.help), "80x24 help lacks {:?}", b.help);
    }
    for title in [
        "During the tour",
        "In dialogs",
        "In the new-container form",
        "Marks",
    ] {
        assert!(seen.contains(title), "80x24 help lacks {title:?}");
    }
}

#[test]
fn no_color_draws_no_colour_but_keeps_marks() {
    let mut m = Model::from_inventories(fixture::host(), Vec::new(), Theme::monochrome());
    press(&mut m, "l");
    for tab in ["1", "5", "8"] {
        press(&mut m, tab);
        let t = terminal(&m, 100, 30);
        let buf = t.backend().buffer();
        for cell in buf.content() {
            assert_eq!(cell.fg, Color::Reset, "coloured cell {cell:?}");
            assert_eq!(cell.bg, Color::Reset, "coloured cell {cell:?}");
        }
        let screen = t.backend().to_string();
        assert!(screen.contains('▶'), "selection/focus mark missing");
    }
    // netview's own namespaces carry a mark.
    let screen = render(&m, 100, 30);
    assert!(screen.contains("◆nv-c1"), "{screen}");
}

#[test]
fn colour_theme_does_use_colour() {
    // The counterpart of the NO_COLOR test, so that test can fail.
    let t = terminal(&model(), 100, 30);
    assert!(t
        .backend()
        .buffer()
        .content()
        .iter()
        .any(|c| c.fg != Color::Reset));
}

#[test]
fn unprivileged_80x24() {
    let m = Model::from_inventories(
        fixture::unprivileged_host(),
        vec![Capability::SysAdmin, Capability::NetAdmin],
        Theme::default(),
    );
    insta::assert_snapshot!(render(&m, 80, 24));
}

/// The fixture with `n` extra veths in root (a busy host).
fn busy_model(n: u32) -> Model {
    let mut host = fixture::host();
    if let Some((_, Ok(root))) = host.first_mut() {
        for i in 0..n {
            root.links.push(fixture::link(
                100 + i,
                &format!("vethbusy{i}"),
                crate::inventory::LinkKind::Veth,
            ));
        }
    }
    Model::from_inventories(host, Vec::new(), Theme::default())
}

#[test]
fn long_tables_scroll_with_the_cursor() {
    let mut m = busy_model(200);
    press(&mut m, "lG");
    let screen = render(&m, 80, 24);
    assert!(screen.contains("▶ vethbusy199"), "{screen}");
    assert!(!screen.contains(" lo "), "the top scrolled away: {screen}");
    press(&mut m, "g");
    let screen = render(&m, 80, 24);
    assert!(screen.contains("▶ lo "), "{screen}");
    assert!(!screen.contains("vethbusy199"), "{screen}");
}

#[test]
fn ten_thousand_links_stay_responsive() {
    // Each key re-derives the view once and draws only the visible rows. Generous bound
    // for a debug build on a loaded machine; a per-frame O(n^2) would blow far past it.
    let mut m = busy_model(10_000);
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let start = std::time::Instant::now();
    for keys in ["l", "j", "G", "8", "j", "1", "/", "v", "e"] {
        press(&mut m, keys);
        t.draw(|f| draw(f, &m)).unwrap();
    }
    let per_key = start.elapsed() / 9;
    assert!(
        per_key < std::time::Duration::from_millis(500),
        "{per_key:?} per key"
    );
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut m = Model::from_inventories(
        fixture::unprivileged_host(),
        vec![Capability::SysAdmin, Capability::NetAdmin],
        Theme::default(),
    );
    for (w, h) in [
        (1, 1),
        (2, 2),
        (10, 3),
        (20, 5),
        (40, 10),
        (30, 40),
        (200, 4),
    ] {
        for keys in ["", "?", "?", "l5", "8", "/x"] {
            press(&mut m, keys);
            render(&m, w, h);
        }
        press_code(&mut m, KeyCode::Esc);
        render(&m, w, h);
    }
}

/// Without a lab: two namespaces marked with Space, probed with `p`, the matrix filled (every
/// third cell unanswered). Outside the lab nothing is predicted, so no cell shows `!`.
#[test]
fn marked_namespaces_probed_without_a_lab() {
    use crate::probe::{CellResult, Expectation, Observation, ProbeOutcome};
    let mut m = model();
    press(&mut m, " jj ");
    let list = render(&m, 100, 30);
    press(&mut m, "p");
    let cells = m.bench.matrix.cells.clone();
    assert!(!cells.is_empty());
    for (index, cell) in cells.into_iter().enumerate() {
        let outcome = if index % 3 == 0 {
            ProbeOutcome::Timeout
        } else {
            ProbeOutcome::Reply
        };
        update(
            &mut m,
            Message::ProbeCell(CellResult {
                index,
                cell,
                observed: Observation::outcome(outcome),
                expected: Expectation::unknown().into(),
            }),
        );
    }
    update(&mut m, Message::ProbesDone(Ok(1000)));
    insta::assert_snapshot!("marked_namespaces_list", list);
    insta::assert_snapshot!("marked_namespaces_matrix", render(&m, 100, 30));
}

/// Drift (issue 13): the TUI reads namespaces from the kernel, which never carries the mark
/// the CLI sets from the lab's state; the namespace list must mark the lab's namespaces all
/// the same, whether the lab was loaded before or after the namespace was read.
#[test]
fn lab_namespaces_read_by_the_tui_carry_the_netview_mark() {
    let read_from_kernel = || {
        fixture::lab_inventories()
            .into_iter()
            .map(|(n, r)| {
                (
                    n,
                    r.map(|mut inv| {
                        inv.netview = false;
                        inv
                    }),
                )
            })
            .collect::<Vec<_>>()
    };
    let lab = || Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state()))));
    let mut m = Model::from_inventories(read_from_kernel(), Vec::new(), Theme::monochrome());
    assert!(
        !render(&m, 120, 40).contains("◆nv-host"),
        "no lab yet, no mark"
    );
    update(&mut m, lab());
    let screen = render(&m, 120, 40);
    assert!(screen.contains("◆nv-host"), "{screen}");
    assert!(screen.contains("◆nv-switch"), "{screen}");
    // Read again after the lab was loaded (a watcher event): still marked.
    let (netns, inv) = read_from_kernel()
        .into_iter()
        .find(|(n, _)| n.name == "nv-host")
        .unwrap();
    update(
        &mut m,
        Message::NamespaceRead {
            id: netns.id,
            result: inv,
        },
    );
    assert!(render(&m, 120, 40).contains(&format!("◆{}", netns.name)));
    // A namespace the lab does not record is not marked.
    assert!(m
        .namespaces
        .iter()
        .filter_map(|e| e.inventory.as_ref())
        .filter(|i| i.netview)
        .all(|i| crate::inventory::lab_namespaces(&fixture::lab_state()).contains(&i.name)));
}

/// Without root the first screen names each missing capability, what it unlocks and the
/// exact setcap line; any key closes it, and the status bar keeps the short note.
#[test]
fn privileges_screen_names_missing_capabilities_and_the_setcap_line() {
    let missing = vec![Capability::SysAdmin, Capability::NetAdmin];
    let mut m = Model::from_inventories(fixture::unprivileged_host(), missing, Theme::default());
    let setcap = crate::caps::setcap_line(std::path::Path::new("/usr/local/bin/netview"));
    m.setcap = Some(setcap.clone());
    m.privileges_screen = true;
    for (w, h) in [(120, 40), (80, 24)] {
        let screen = render(&m, w, h);
        assert!(screen.contains("Privileges"), "{screen}");
        assert!(
            screen.contains("CAP_SYS_ADMIN   enter other namespaces"),
            "{screen}"
        );
        assert!(
            screen.contains("CAP_NET_ADMIN   read NAT and filter rules"),
            "{screen}"
        );
        assert!(
            !screen.contains("CAP_NET_RAW    "),
            "only what is missing: {screen}"
        );
        assert!(screen.contains("Any key: continue"), "{screen}");
        if w == 120 {
            assert!(screen.contains(&setcap), "{screen}");
        } else {
            // At 80 columns the line wraps before the path; both parts are there.
            let (head, tail) = setcap.rsplit_once(' ').unwrap();
            assert!(screen.contains(head) && screen.contains(tail), "{screen}");
        }
    }
    press(&mut m, "j");
    assert!(!m.privileges_screen);
    let screen = render(&m, 120, 40);
    assert!(!screen.contains("Any key: continue"), "{screen}");
    assert!(
        screen.contains("missing CAP_SYS_ADMIN"),
        "status note stays: {screen}"
    );
}
