//! The TUI with containers, without a terminal or a runtime: a [`Message::ContainersRead`] on
//! the fixture host (nginx's namespace is Docker's `web`, a host-mode `hostc` on root, a
//! stopped `old`), then what the namespace list, the filter, the Bridges tab's networks, Enter
//! on a container, the topology and the status bar show.

use std::collections::BTreeMap;

use netview::containers::{
    Container, ContainerAddress, ContainerWorld, Network, PlacedWorld, Runtime, RuntimeStatus,
};
use netview::ui::app::{update, Model, Tab};
use netview::ui::fixture::{self, NGINX_ID, ROOT_ID};
use netview::ui::message::{Command, Message};
use netview::ui::render::draw;
use netview::ui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

fn container(name: &str, id: char, networks: &[&str], pid: Option<u32>) -> Container {
    Container {
        runtime: Runtime::Docker,
        id: id.to_string().repeat(64),
        name: name.into(),
        image: format!("{name}-image:1"),
        state: if pid.is_some() { "running" } else { "exited" }.into(),
        networks: networks.iter().map(|s| s.to_string()).collect(),
        pid,
        addresses: if name == "web" {
            vec![ContainerAddress {
                network: "bridge".into(),
                ip: Some("172.17.0.2".parse().unwrap()),
                mac: Some("02:42:ac:11:00:02".into()),
            }]
        } else {
            vec![]
        },
        sandbox_key: None,
    }
}

fn placed() -> PlacedWorld {
    let world = ContainerWorld {
        containers: vec![
            container("web", 'a', &["bridge"], Some(1234)),
            container("hostc", 'b', &["host"], Some(99)),
            container("old", 'c', &["bridge"], None),
        ],
        networks: vec![Network {
            runtime: Runtime::Docker,
            id: "d".repeat(64),
            name: "bridge".into(),
            driver: "bridge".into(),
            subnets: vec!["172.17.0.0/16".parse().unwrap()],
            gateways: vec!["172.17.0.1".parse().unwrap()],
            interface: Some("docker0".into()),
            parent: None,
            mode: None,
            containers: vec!["old".into(), "web".into()],
        }],
        status: vec![
            RuntimeStatus {
                runtime: Runtime::Docker,
                answered: true,
                error: None,
                installed: true,
            },
            RuntimeStatus {
                runtime: Runtime::Podman,
                answered: false,
                error: Some("podman did not answer within 1000 ms".into()),
                installed: true,
            },
        ],
    };
    let mut by_netns = BTreeMap::new();
    by_netns.insert(NGINX_ID, vec![0]);
    by_netns.insert(ROOT_ID, vec![1]);
    PlacedWorld { world, by_netns }
}

fn model() -> Model {
    let mut m = Model::from_inventories(fixture::host(), Vec::new(), Theme::default());
    let cmds = update(&mut m, Message::ContainersRead(Box::new(placed())));
    assert!(cmds.is_empty(), "every container's namespace is listed");
    m
}

fn key(m: &mut Model, code: KeyCode) {
    update(m, Message::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn keys(m: &mut Model, s: &str) {
    for c in s.chars() {
        key(m, KeyCode::Char(c));
    }
}

fn screen(m: &Model, width: u16, height: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
    t.draw(|f| draw(f, m)).unwrap();
    t.backend().to_string()
}

fn visible(m: &Model) -> Vec<String> {
    m.visible_namespaces()
        .iter()
        .map(|&i| m.namespaces[i].netns.name.clone())
        .collect()
}

#[test]
fn the_namespace_list_names_the_container_first() {
    let m = model();
    let s = screen(&m, 120, 40);
    let web = s
        .lines()
        .position(|l| l.contains("web (docker)"))
        .expect(&s);
    let pid = s.lines().position(|l| l.contains("pid:1234")).expect(&s);
    assert!(web < pid, "the container's name comes before pid:1234\n{s}");
    assert!(s.contains("host mode: hostc (docker)"), "{s}");
    let entry = m.entry(NGINX_ID).unwrap();
    assert_eq!(entry.inventory.as_ref().unwrap().containers[0].name, "web");
}

#[test]
fn the_filter_matches_container_names_ids_images_and_networks() {
    for needle in ["web", "aaaaaaaa", "web-image", "hostc"] {
        let mut m = model();
        keys(&mut m, "/");
        keys(&mut m, needle);
        let v = visible(&m);
        assert!(
            v.contains(&"pid:1234".to_string()) || v.contains(&"root".to_string()),
            "{needle}: {v:?}"
        );
        assert!(!v.contains(&"nv-none".to_string()), "{needle}: {v:?}");
    }
    let mut m = model();
    keys(&mut m, "/web-image");
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.selected_entry().unwrap().netns.name, "pid:1234");
}

#[test]
fn the_bridges_tab_of_root_lists_the_networks_and_enter_goes_to_a_container() {
    let mut m = model();
    keys(&mut m, &Tab::Bridges.key().to_string());
    assert_eq!(m.tab, Tab::Bridges);
    assert_eq!(m.selected_entry().unwrap().netns.name, "root");
    let rows = &m.current_view().rows;
    let net = rows
        .iter()
        .position(|r| r.cells[0] == "docker:bridge" && r.cells[1] == "network")
        .expect("the network's row");
    assert_eq!(rows[net].cells[2], "docker0");
    assert!(rows[net].cells[4].contains("172.17.0.0/16 gw 172.17.0.1"));
    let web = rows
        .iter()
        .position(|r| r.cells[1] == "container" && r.cells[2] == "web")
        .unwrap();
    assert!(rows[web].cells[4].contains("172.17.0.2"));
    assert_eq!(rows[web].cells[3], "02:42:ac:11:00:02");
    // Go to the row and press Enter.
    key(&mut m, KeyCode::Tab);
    for _ in 0..web {
        key(&mut m, KeyCode::Down);
    }
    assert_eq!(m.row, web);
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.selected_entry().unwrap().netns.name, "pid:1234");
    // The stopped one has nowhere to go, and says so.
    let mut m = model();
    keys(&mut m, &Tab::Bridges.key().to_string());
    key(&mut m, KeyCode::Tab);
    let old = m
        .current_view()
        .rows
        .iter()
        .position(|r| r.cells[1] == "container" && r.cells[2] == "old")
        .unwrap();
    for _ in 0..old {
        key(&mut m, KeyCode::Down);
    }
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.selected_entry().unwrap().netns.name, "root");
    assert!(m.message.as_deref().unwrap().contains("not running"));
}

#[test]
fn the_topology_names_the_far_end_of_a_veth_by_its_container() {
    let mut m = model();
    keys(&mut m, &Tab::Topology.key().to_string());
    let lines: Vec<String> = m
        .current_view()
        .rows
        .iter()
        .map(|r| r.cells[0].clone())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("eth0 @ web (docker)")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("@ pid:1234")),
        "{lines:#?}"
    );
}

#[test]
fn the_status_bar_says_which_runtime_could_not_be_asked() {
    let m = model();
    let s = screen(&m, 160, 30);
    let status = s.lines().rev().find(|l| l.contains("namespaces")).unwrap();
    assert!(status.contains("3 docker"), "{status}");
    assert!(status.contains("podman did not answer"), "{status}");
}

#[test]
fn a_container_in_a_namespace_not_listed_yet_lists_them_again() {
    let mut m = Model::from_inventories(fixture::host(), Vec::new(), Theme::default());
    let mut p = placed();
    p.by_netns.insert(4026539999, vec![2]);
    let cmds = update(&mut m, Message::ContainersRead(Box::new(p)));
    assert_eq!(cmds, [Command::ListNamespaces]);
}

#[test]
fn a_restarted_container_keeps_its_place_in_the_list() {
    use netview::netns::{Netns, NetnsSource};
    let ns = |name: &str, id: u64, source| Netns {
        name: name.into(),
        id,
        source,
        path: format!("/proc/{id}/ns/net").into(),
        process: None,
        is_self: false,
    };
    let mut world = placed();
    world.world.containers = vec![
        container("web", 'a', &["bridge"], Some(100)),
        container("db", 'b', &["bridge"], Some(200)),
    ];
    world.by_netns = BTreeMap::from([(11, vec![0]), (22, vec![1])]);
    let mut m = Model::new(Vec::new(), Theme::default());
    update(&mut m, Message::ContainersRead(Box::new(world.clone())));
    let list = vec![
        ns("root", 1, NetnsSource::Root),
        ns("pid:100", 11, NetnsSource::Process),
        ns("pid:150", 15, NetnsSource::Process),
        ns("pid:200", 22, NetnsSource::Process),
    ];
    update(&mut m, Message::NamespacesListed(list.clone()));
    let names =
        |m: &Model| -> Vec<String> { m.namespaces.iter().map(|e| e.netns.name.clone()).collect() };
    // Root, the containers by name, then the rest.
    assert_eq!(names(&m), ["root", "pid:200", "pid:100", "pid:150"]);
    // web restarts: a new pid and namespace, listed after everything by discovery.
    world.world.containers[0].pid = Some(300);
    world.by_netns = BTreeMap::from([(33, vec![0]), (22, vec![1])]);
    update(&mut m, Message::ContainersRead(Box::new(world)));
    let mut list = list;
    list.remove(1);
    list.push(ns("pid:300", 33, NetnsSource::Process));
    update(&mut m, Message::NamespacesListed(list));
    assert_eq!(names(&m), ["root", "pid:200", "pid:300", "pid:150"]);
    assert_eq!(m.namespaces[2].containers[0].name, "web");
}
