//! `update` without a terminal: key sequences to state, and watcher events to commands.

use netview::inventory::watch::WatchEvent;
use netview::inventory::NamespaceInventory;
use netview::netns::{Netns, NetnsSource};
use netview::ui::app::{update, Model, Pane, Tab};
use netview::ui::fixture::{self, C1_ID, MAC1_ID, NGINX_ID, NONE_ID, ROOT_ID};
use netview::ui::message::{Command, Message, ReadPriority};
use netview::ui::theme::Theme;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn model() -> Model {
    Model::from_inventories(fixture::host(), Vec::new(), Theme::default())
}

fn key(code: KeyCode) -> Message {
    Message::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Type a sequence of plain characters; return every command they produced.
fn keys(m: &mut Model, s: &str) -> Vec<Command> {
    s.chars()
        .flat_map(|c| update(m, key(KeyCode::Char(c))))
        .collect()
}

fn selected_name(m: &Model) -> String {
    m.selected_entry().unwrap().netns.name.clone()
}

fn visible_names(m: &Model) -> Vec<String> {
    m.visible_namespaces()
        .iter()
        .map(|&i| m.namespaces[i].netns.name.clone())
        .collect()
}

fn read_ids(cmds: &[Command]) -> Vec<u64> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::ReadNamespace { netns, .. } => Some(netns.id),
            _ => None,
        })
        .collect()
}

#[test]
fn vim_keys_move_through_namespaces_then_rows() {
    let mut m = model();
    assert_eq!(selected_name(&m), "root");
    keys(&mut m, "jj");
    assert_eq!(selected_name(&m), "nv-c1");
    keys(&mut m, "k");
    assert_eq!(selected_name(&m), "pid:1234");
    keys(&mut m, "G");
    assert_eq!(selected_name(&m), "nv-none");
    keys(&mut m, "jjj");
    assert_eq!(selected_name(&m), "nv-none", "stays on the last one");
    keys(&mut m, "g");
    assert_eq!(selected_name(&m), "root");

    // l focuses the table; j/k/G/g now move the row cursor of the Links tab (6 links).
    keys(&mut m, "l");
    assert_eq!(m.focus, Pane::Table);
    keys(&mut m, "jj");
    assert_eq!(m.row, 2);
    keys(&mut m, "G");
    assert_eq!(m.row, 5);
    keys(&mut m, "j");
    assert_eq!(m.row, 5, "clamped at the last row");
    keys(&mut m, "k");
    assert_eq!(m.row, 4);
    assert_eq!(selected_name(&m), "root", "namespace unchanged");
    keys(&mut m, "h");
    assert_eq!(m.focus, Pane::Namespaces);
}

#[test]
fn arrows_tab_and_shift_tab() {
    let mut m = model();
    update(&mut m, key(KeyCode::Down));
    assert_eq!(selected_name(&m), "pid:1234");
    update(&mut m, key(KeyCode::Tab));
    assert_eq!(m.focus, Pane::Table);
    update(&mut m, key(KeyCode::Down));
    assert_eq!(m.row, 1);
    update(
        &mut m,
        Message::Key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)),
    );
    assert_eq!(m.focus, Pane::Namespaces);
    update(&mut m, key(KeyCode::Up));
    assert_eq!(selected_name(&m), "root");
    assert_eq!(m.row, 0, "changing namespace resets the row");
}

#[test]
fn number_keys_and_brackets_switch_tabs() {
    let mut m = model();
    keys(&mut m, "3");
    assert_eq!(m.tab, Tab::Routes);
    keys(&mut m, "]]");
    assert_eq!(m.tab, Tab::Bridges);
    keys(&mut m, "0]");
    assert_eq!(m.tab, Tab::Links, "] wraps after Lab");
    keys(&mut m, "[");
    assert_eq!(m.tab, Tab::Lab, "[ wraps before Links");
    keys(&mut m, "9");
    assert_eq!(m.tab, Tab::Matrix);
    keys(&mut m, "7");
    assert_eq!(m.tab, Tab::Filter, "the filter tab is next to NAT");
    keys(&mut m, "0");
    assert_eq!(m.tab, Tab::Lab, "0 is the tenth tab");
}

#[test]
fn filter_narrows_namespaces_and_rows_and_esc_clears_it() {
    let mut m = model();
    keys(&mut m, "/mv0");
    assert!(m.filter_editing);
    assert_eq!(m.filter, "mv0");
    // Only nv-mac1 has a link matching mv0; the selection follows it.
    assert_eq!(visible_names(&m), vec!["nv-mac1"]);
    assert_eq!(selected_name(&m), "nv-mac1");
    let view = m.current_view();
    assert_eq!(view.total, 2);
    assert_eq!(view.rows.len(), 1);
    assert_eq!(view.rows[0].cells[1], "mv0");

    // While typing, q is a character, not quit.
    let cmds = keys(&mut m, "q");
    assert!(cmds.is_empty());
    assert!(!m.quit);
    assert_eq!(m.filter, "mv0q");
    assert!(visible_names(&m).is_empty());
    update(&mut m, key(KeyCode::Backspace));
    assert_eq!(visible_names(&m), vec!["nv-mac1"]);

    // Enter keeps the filter and goes back to browsing.
    update(&mut m, key(KeyCode::Enter));
    assert!(!m.filter_editing);
    assert_eq!(m.filter, "mv0");
    // Esc clears it: every namespace is back, the selection stays.
    update(&mut m, key(KeyCode::Esc));
    assert_eq!(m.filter, "");
    assert_eq!(visible_names(&m).len(), 5);
    assert_eq!(selected_name(&m), "nv-mac1");
}

#[test]
fn a_namespace_whose_name_matches_shows_all_its_rows() {
    let mut m = model();
    keys(&mut m, "/nv-c1");
    // nv-c1 by name; root because its veth's peer is eth0@nv-c1.
    assert_eq!(visible_names(&m), vec!["root", "nv-c1"]);
    assert_eq!(
        selected_name(&m),
        "root",
        "typing does not move the selection"
    );
    let view = m.current_view();
    assert_eq!(view.rows.len(), 1, "root shows only the matching veth");
    assert_eq!(view.rows[0].cells[1], "vethd5e6f7a");
    // Enter goes to the namespace that is named.
    update(&mut m, key(KeyCode::Enter));
    assert_eq!(selected_name(&m), "nv-c1");
    assert_eq!(m.current_view().rows.len(), 2, "lo and eth0");
    keys(&mut m, "k");
    assert_eq!(selected_name(&m), "root");
}

#[test]
fn filter_applies_to_the_current_tab() {
    let mut m = model();
    keys(&mut m, "6/masquerade");
    assert_eq!(visible_names(&m), vec!["root"]);
    let view = m.current_view();
    assert_eq!(view.rows.len(), 1);
    assert_eq!(view.rows[0].cells[2], "POSTROUTING");
}

#[test]
fn help_opens_and_closes_and_swallows_other_keys() {
    let mut m = model();
    keys(&mut m, "?");
    assert!(m.help);
    keys(&mut m, "jj3");
    assert_eq!(selected_name(&m), "root", "keys do not leak under the help");
    assert_eq!(m.tab, Tab::Links);
    update(&mut m, key(KeyCode::Esc));
    assert!(!m.help);
    keys(&mut m, "??");
    assert!(!m.help);
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut m = model();
    assert_eq!(keys(&mut m, "q"), vec![Command::Quit]);
    assert!(m.quit);

    let mut m = model();
    let cmds = update(
        &mut m,
        Message::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(cmds, vec![Command::Quit]);

    // Ctrl-C quits even while typing a filter.
    let mut m = model();
    keys(&mut m, "/ab");
    let cmds = update(
        &mut m,
        Message::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert_eq!(cmds, vec![Command::Quit]);

    let mut m = model();
    assert_eq!(update(&mut m, Message::Terminate), vec![Command::Quit]);
}

#[test]
fn changed_event_rereads_exactly_that_namespace() {
    let mut m = model();
    let cmds = update(&mut m, Message::Watch(WatchEvent::Changed(C1_ID)));
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    match &cmds[0] {
        Command::ReadNamespace {
            netns,
            all,
            priority,
        } => {
            assert_eq!(
                *priority,
                ReadPriority::Changed,
                "ahead of background reads"
            );
            assert_eq!(netns.id, C1_ID);
            assert_eq!(netns.name, "nv-c1");
            // The reader gets the whole list to resolve peers.
            assert_eq!(all.len(), 5);
        }
        other => panic!("expected a read, got {other:?}"),
    }
    assert!(m.is_reading(C1_ID));
    assert!(!m.is_reading(ROOT_ID));
}

#[test]
fn changes_during_a_read_coalesce_into_one_more_read() {
    let mut m = model();
    assert_eq!(
        read_ids(&update(
            &mut m,
            Message::Watch(WatchEvent::Changed(ROOT_ID))
        )),
        vec![ROOT_ID]
    );
    // Two more events while the read is in flight: no new command now...
    assert!(update(&mut m, Message::Watch(WatchEvent::Changed(ROOT_ID))).is_empty());
    assert!(update(&mut m, Message::Watch(WatchEvent::Changed(ROOT_ID))).is_empty());
    // ...other namespaces are not held up.
    assert_eq!(
        read_ids(&update(
            &mut m,
            Message::Watch(WatchEvent::Changed(NGINX_ID))
        )),
        vec![NGINX_ID]
    );
    // When the read lands, exactly one more read of root.
    let mut fresh = NamespaceInventory::empty("root", ROOT_ID, NetnsSource::Root);
    fresh.links.push(fixture::link(
        42,
        "vethnew",
        netview::inventory::LinkKind::Veth,
    ));
    let cmds = update(
        &mut m,
        Message::NamespaceRead {
            id: ROOT_ID,
            result: Ok(fresh.clone()),
        },
    );
    assert_eq!(read_ids(&cmds), vec![ROOT_ID]);
    // The new inventory is on screen already.
    assert_eq!(m.current_view().rows[0].cells[1], "vethnew");
    // The second read lands: nothing further.
    let cmds = update(
        &mut m,
        Message::NamespaceRead {
            id: ROOT_ID,
            result: Ok(fresh),
        },
    );
    assert!(cmds.is_empty());
    assert!(!m.is_reading(ROOT_ID));
}

#[test]
fn unknown_namespace_event_reads_nothing() {
    let mut m = model();
    assert!(update(&mut m, Message::Watch(WatchEvent::Changed(12345))).is_empty());
}

fn netns(name: &str, id: u64) -> Netns {
    fixture::netns(name, id, NetnsSource::Named, None)
}

#[test]
fn namespaces_changed_relists_then_reads_only_new_ones() {
    let mut m = model();
    keys(&mut m, "jj");
    assert_eq!(selected_name(&m), "nv-c1");

    let cmds = update(&mut m, Message::Watch(WatchEvent::NamespacesChanged));
    assert_eq!(cmds, vec![Command::ListNamespaces]);
    // A second change while listing does not list twice at once...
    assert!(update(&mut m, Message::Watch(WatchEvent::NamespacesChanged)).is_empty());

    // nv-none vanished, nv-new appeared.
    let mut list: Vec<Netns> = m
        .namespaces
        .iter()
        .map(|e| e.netns.clone())
        .filter(|n| n.id != NONE_ID)
        .collect();
    list.push(netns("nv-new", 99));
    let cmds = update(&mut m, Message::NamespacesListed(list.clone()));
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::Watch(_))),
        "the watcher follows new namespaces itself: {cmds:?}"
    );
    assert_eq!(read_ids(&cmds), vec![99], "only the new namespace is read");
    // ...but lists once more afterwards, since something changed meanwhile.
    assert!(cmds.contains(&Command::ListNamespaces), "{cmds:?}");

    let names: Vec<&str> = m.namespaces.iter().map(|e| e.netns.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["root", "pid:1234", "nv-c1", "nv-mac1", "nv-new"]
    );
    assert_eq!(selected_name(&m), "nv-c1", "selection kept by inode");
    assert!(m.entry(MAC1_ID).unwrap().inventory.is_some(), "kept");
    assert!(m.entry(99).unwrap().inventory.is_none(), "not read yet");

    // The same list again: nothing to do.
    let cmds = update(&mut m, Message::NamespacesListed(list));
    assert!(cmds.is_empty(), "{cmds:?}");
}

#[test]
fn selected_namespace_vanishing_moves_the_selection() {
    let mut m = model();
    keys(&mut m, "G");
    assert_eq!(selected_name(&m), "nv-none");
    let list: Vec<Netns> = m
        .namespaces
        .iter()
        .map(|e| e.netns.clone())
        .filter(|n| n.id != NONE_ID)
        .collect();
    update(&mut m, Message::NamespacesListed(list));
    assert_eq!(selected_name(&m), "root", "back to netview's own namespace");
}

#[test]
fn read_errors_are_kept_and_shown_not_fatal() {
    let mut m = model();
    update(&mut m, Message::Watch(WatchEvent::Changed(NGINX_ID)));
    let cmds = update(
        &mut m,
        Message::NamespaceRead {
            id: NGINX_ID,
            result: Err("cannot enter network namespace \"pid:1234\": EPERM".into()),
        },
    );
    assert!(cmds.is_empty());
    let e = m.entry(NGINX_ID).unwrap();
    assert!(e.error.as_deref().unwrap().contains("EPERM"));
    assert!(e.inventory.is_some(), "the last good read stays on screen");
}

#[test]
fn startup_lists_then_reads_every_namespace_and_selects_its_own() {
    let mut m = Model::new(Vec::new(), Theme::default());
    assert_eq!(
        m.start(),
        vec![
            Command::ListNamespaces,
            Command::LoadLab,
            Command::WatchLab,
            Command::FollowContainers
        ]
    );
    let mut list: Vec<Netns> = fixture::host().into_iter().map(|(n, _)| n).collect();
    // netview runs in nv-c1 here.
    for n in &mut list {
        n.is_self = n.id == C1_ID;
    }
    let cmds = update(&mut m, Message::NamespacesListed(list.clone()));
    assert_eq!(cmds[0], Command::Watch(list));
    assert_eq!(
        read_ids(&cmds),
        vec![ROOT_ID, NGINX_ID, C1_ID, MAC1_ID, NONE_ID]
    );
    assert_eq!(selected_name(&m), "nv-c1");
    // Only the namespace on screen is read first.
    let urgent: Vec<u64> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::ReadNamespace {
                netns,
                priority: ReadPriority::OnScreen,
                ..
            } => Some(netns.id),
            _ => None,
        })
        .collect();
    assert_eq!(urgent, vec![C1_ID]);

    // Moving to a namespace whose read is still queued moves that read to the front...
    let cmds = keys(&mut m, "j");
    assert_eq!(selected_name(&m), "nv-mac1");
    assert_eq!(cmds, vec![Command::Prioritise(MAC1_ID)]);
    // ...but not once it has been read.
    update(
        &mut m,
        Message::NamespaceRead {
            id: ROOT_ID,
            result: Ok(NamespaceInventory::empty(
                "root",
                ROOT_ID,
                NetnsSource::Root,
            )),
        },
    );
    assert!(keys(&mut m, "gj")
        .iter()
        .all(|c| *c != Command::Prioritise(ROOT_ID)));
}

#[test]
fn refresh_relists_and_rereads_everything() {
    let mut m = model();
    let cmds = keys(&mut m, "r");
    assert_eq!(cmds[0], Command::ListNamespaces);
    assert_eq!(read_ids(&cmds).len(), 5);
}

#[test]
fn page_keys_follow_the_terminal_height() {
    let mut m = model();
    update(
        &mut m,
        Message::Resize {
            width: 100,
            height: 11,
        },
    );
    assert_eq!(m.page_rows, 3);
    keys(&mut m, "l");
    update(&mut m, key(KeyCode::PageDown));
    assert_eq!(m.row, 3);
    update(&mut m, key(KeyCode::PageDown));
    assert_eq!(m.row, 5, "clamped to the 6 links");
    update(&mut m, key(KeyCode::PageUp));
    assert_eq!(m.row, 2);
}

#[test]
fn filter_by_process_label_finds_the_container() {
    let mut m = model();
    keys(&mut m, "/nginx");
    assert_eq!(visible_names(&m), vec!["pid:1234"]);
    assert_eq!(m.current_view().rows.len(), 2, "all of its links");
}

#[test]
fn accepting_a_filter_that_names_no_namespace_keeps_the_selection() {
    let mut m = model();
    keys(&mut m, "j/172.17");
    update(&mut m, key(KeyCode::Enter));
    assert_eq!(visible_names(&m), vec!["root", "pid:1234", "nv-c1"]);
    assert_eq!(selected_name(&m), "pid:1234");
}
