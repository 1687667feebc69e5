//! The lab bench's `update`: key sequences to messages to state and commands, without a
//! terminal or a kernel. The engine's answers are fed back as the runtime would.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use netview::lab::spec::{MacvlanMode, NetworkMode};
use netview::ui::app::{update, Model, Tab};
use netview::ui::fixture;
use netview::ui::form::{FieldId, FieldValue};
use netview::ui::labui::{Confirm, LabJob, Overlay, Teardown};
use netview::ui::message::{Command, Message};
use netview::ui::theme::Theme;

fn model() -> Model {
    Model::from_inventories(fixture::lab_inventories(), Vec::new(), Theme::default())
}

fn with_lab() -> Model {
    let mut m = model();
    update(
        &mut m,
        Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
    );
    m
}

fn key(m: &mut Model, code: KeyCode) -> Vec<Command> {
    update(m, Message::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn keys(m: &mut Model, s: &str) -> Vec<Command> {
    s.chars().flat_map(|c| key(m, KeyCode::Char(c))).collect()
}

fn ctrl_c(m: &mut Model) -> Vec<Command> {
    update(
        m,
        Message::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    )
}

#[test]
fn new_container_without_a_lab_offers_to_bring_it_up_then_opens_the_chooser() {
    let mut m = model();
    assert!(keys(&mut m, "n").is_empty());
    assert_eq!(m.bench.overlay, Some(Overlay::Confirm(Confirm::UpThenAdd)));
    let cmds = key(&mut m, KeyCode::Enter);
    assert_eq!(cmds, vec![Command::Lab(LabJob::Up)]);
    assert!(
        m.bench.busy().is_some(),
        "a progress line while the lab changes"
    );
    // A second job waits for the first.
    assert!(keys(&mut m, "L").is_empty());
    let cmds = update(
        &mut m,
        Message::LabJobDone {
            job: LabJob::Up,
            result: Ok(()),
        },
    );
    assert_eq!(cmds, vec![Command::LoadLab]);
    assert!(m.bench.busy().is_none());
    update(
        &mut m,
        Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
    );
    assert_eq!(m.bench.overlay, Some(Overlay::ChooseMode { index: 0 }));
    assert!(m.bench.brought_up);
}

#[test]
fn macvlan_form_is_prefilled_and_creates_through_the_engine() {
    let mut m = with_lab();
    keys(&mut m, "n");
    // j j j: bridge, host, none, macvlan.
    keys(&mut m, "jjj");
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    let Some(Overlay::Form(form)) = &m.bench.overlay else {
        panic!("form expected, got {:?}", m.bench.overlay);
    };
    assert_eq!(form.mode, NetworkMode::Macvlan);
    // mv1 is taken in the fixture lab: the next free name.
    assert_eq!(
        form.field(FieldId::Name).unwrap().value,
        FieldValue::Text("mv2".into())
    );
    let cmds = key(&mut m, KeyCode::Enter);
    let [Command::Lab(LabJob::Add(specs))] = cmds.as_slice() else {
        panic!("add expected, got {cmds:?}");
    };
    let c = &specs[0];
    assert_eq!(c.name, "mv2");
    assert_eq!(c.macvlan_mode, MacvlanMode::Bridge);
    assert_eq!(c.parent.as_deref(), Some("enp0s8"));
    assert_eq!(c.ip_range.unwrap().to_string(), "192.168.50.192/27");
    assert!(c.promisc);
    assert_eq!(m.bench.overlay, None);
    update(
        &mut m,
        Message::LabJobDone {
            job: LabJob::Add(specs.clone()),
            result: Ok(()),
        },
    );
    assert_eq!(m.bench.added, vec!["mv2".to_string()]);
}

#[test]
fn an_invalid_form_creates_nothing_and_shows_the_error_beside_the_field() {
    let mut m = with_lab();
    keys(&mut m, "nm");
    // Move to ip-range (name, submode, parent, subnet, ip-range) and break it.
    for _ in 0..4 {
        key(&mut m, KeyCode::Down);
    }
    for _ in 0..3 {
        key(&mut m, KeyCode::Backspace);
    }
    keys(&mut m, "/8");
    let Some(Overlay::Form(form)) = &m.bench.overlay else {
        panic!("form expected");
    };
    assert_eq!(
        form.field(FieldId::IpRange).unwrap().error.as_deref(),
        Some("ip-range 192.168.50.192/8 is outside subnet 192.168.50.0/24")
    );
    assert!(key(&mut m, KeyCode::Enter).is_empty(), "nothing is created");
    assert!(matches!(m.bench.overlay, Some(Overlay::Form(_))));
    // The name of an existing container is refused too.
    key(&mut m, KeyCode::Esc);
    keys(&mut m, "nb");
    key(&mut m, KeyCode::Backspace);
    keys(&mut m, "1"); // "br1", which the fixture lab has
    let Some(Overlay::Form(form)) = &m.bench.overlay else {
        panic!("form expected");
    };
    assert_eq!(
        form.field(FieldId::Name).unwrap().error.as_deref(),
        Some("container \"br1\" already exists")
    );
}

#[test]
fn ipvlan_form_asks_the_kernel_and_says_why_it_cannot_run() {
    let mut m = with_lab();
    let cmds = keys(&mut m, "ni");
    assert_eq!(cmds, vec![Command::CheckIpvlan]);
    update(&mut m, Message::IpvlanSupport(false));
    let Some(Overlay::Form(form)) = &m.bench.overlay else {
        panic!("form expected");
    };
    assert_eq!(
        form.error.as_deref(),
        Some("this kernel has no ipvlan support")
    );
    assert!(key(&mut m, KeyCode::Enter).is_empty());
}

#[test]
fn remove_and_down_ask_first() {
    let mut m = with_lab();
    // Select nv-mv1 in the namespace list.
    let idx = m
        .visible_namespaces()
        .iter()
        .position(|&i| m.namespaces[i].netns.name == "nv-mv1")
        .unwrap();
    for _ in 0..idx {
        keys(&mut m, "j");
    }
    assert!(keys(&mut m, "x").is_empty());
    assert_eq!(
        m.bench.overlay,
        Some(Overlay::Confirm(Confirm::Remove("mv1".into())))
    );
    assert!(key(&mut m, KeyCode::Esc).is_empty(), "Esc says no");
    assert_eq!(m.bench.overlay, None);
    keys(&mut m, "x");
    assert_eq!(
        keys(&mut m, "y"),
        vec![Command::Lab(LabJob::Remove(vec!["mv1".into()]))]
    );
    update(
        &mut m,
        Message::LabJobDone {
            job: LabJob::Remove(vec!["mv1".into()]),
            result: Ok(()),
        },
    );
    keys(&mut m, "L");
    assert_eq!(m.bench.overlay, Some(Overlay::Confirm(Confirm::Down)));
    assert_eq!(
        key(&mut m, KeyCode::Enter),
        vec![Command::Lab(LabJob::Down)]
    );
}

#[test]
fn engine_errors_are_a_dismissable_message() {
    let mut m = with_lab();
    update(
        &mut m,
        Message::LabJobDone {
            job: LabJob::Up,
            result: Err("a lab is already up".into()),
        },
    );
    assert_eq!(
        m.bench.overlay,
        Some(Overlay::Error("a lab is already up".into()))
    );
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.bench.overlay, None);
}

#[test]
fn probes_fill_the_matrix_live_and_enter_explains_a_cell() {
    let mut m = with_lab();
    let cmds = keys(&mut m, "p");
    // Planned once: the command runs exactly the cells the matrix lays out.
    let [Command::RunProbes(job)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    let plan = &job.plan;
    assert_eq!(plan.cells, m.bench.matrix.cells);
    // The walk predicts over the inventory the model holds, handed over with the plan.
    let held: Vec<_> = m.inventories().into_iter().cloned().collect();
    assert_eq!(job.inventory.namespaces, held);
    assert_eq!(held.len(), 7);
    assert_eq!(
        plan.lab,
        netview::probe::from_lab::probe_lab(&netview::lab::Lab {
            state: fixture::lab_state()
        })
    );
    assert_eq!(m.tab, Tab::Matrix);
    assert!(m.bench.matrix.running);
    let results = fixture::matrix_results();
    assert_eq!(m.bench.matrix.cells.len(), results.len(), "the plan");
    for r in results.iter().take(10) {
        update(&mut m, Message::ProbeCell(r.clone()));
    }
    assert_eq!(m.bench.matrix.done(), 10);
    for r in results.iter().skip(10) {
        update(&mut m, Message::ProbeCell(r.clone()));
    }
    update(&mut m, Message::ProbesDone(Ok(1100)));
    assert!(!m.bench.matrix.running);
    // Down to mv1, on the host column: Enter explains.
    let g = m.bench.matrix.grid();
    let row = g.rows.iter().position(|r| r == "mv1").unwrap();
    for _ in 0..row {
        key(&mut m, KeyCode::Down);
    }
    assert_eq!(
        m.bench.matrix.selected_pair(),
        Some(("mv1".into(), "host".into()))
    );
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.bench.overlay, Some(Overlay::Explain));
    let text = netview::ui::bench::explain(&m.bench.matrix, m.bench.lab.as_ref()).join("\n");
    // The packet walk's hop, not a path guessed from the lab's plan.
    assert!(
        text.contains("hops (1, request then reply: namespace, device, step):"),
        "{text}"
    );
    assert!(
        text.contains("1  nv-mv1  eth0  routed on-link by 192.168.50.0/24"),
        "{text}"
    );
    assert!(!text.contains("path   "), "{text}");
    assert!(
        text.contains("expected unreachable  → as expected"),
        "{text}"
    );
    assert!(text.contains("ARP answered by: nobody"), "{text}");
}

#[test]
fn quit_asks_and_tears_down_what_this_session_made() {
    // Nothing made: q quits at once.
    let mut m = with_lab();
    assert_eq!(keys(&mut m, "q"), vec![Command::Quit]);
    assert_eq!(m.bench.teardown, Some(Teardown::Nothing));

    // The session brought the lab up: q asks; Enter tears it all down.
    let mut m = with_lab();
    m.bench.brought_up = true;
    assert!(keys(&mut m, "q").is_empty());
    assert_eq!(m.bench.overlay, Some(Overlay::Quit));
    assert!(key(&mut m, KeyCode::Esc).is_empty(), "Esc stays");
    assert!(!m.quit);
    keys(&mut m, "q");
    assert_eq!(key(&mut m, KeyCode::Enter), vec![Command::Quit]);
    assert_eq!(m.bench.teardown, Some(Teardown::Down));

    // k keeps it.
    let mut m = with_lab();
    m.bench.added = vec!["mv1".into()];
    keys(&mut m, "q");
    assert_eq!(keys(&mut m, "k"), vec![Command::Quit]);
    assert_eq!(m.bench.teardown, Some(Teardown::Nothing));

    // Ctrl-C and SIGTERM tear down without asking.
    let mut m = with_lab();
    m.bench.added = vec!["mv1".into(), "gone".into()];
    assert_eq!(ctrl_c(&mut m), vec![Command::Quit]);
    assert_eq!(
        m.bench.teardown,
        Some(Teardown::Remove(vec!["mv1".into()])),
        "only what still exists"
    );
    let mut m = with_lab();
    m.bench.brought_up = true;
    update(&mut m, Message::Terminate);
    assert!(m.quit);
    assert_eq!(m.bench.teardown, Some(Teardown::Down));
}

#[test]
fn tour_builds_each_step_then_probes_and_skips_ipvlan_with_the_reason() {
    let mut m = with_lab();
    keys(&mut m, "t");
    let cmds = keys(&mut m, "b");
    let [Command::Lab(LabJob::Add(specs))] = cmds.as_slice() else {
        panic!("add expected, got {cmds:?}");
    };
    assert_eq!(specs[0].name, "tour-br1");
    assert_eq!(specs[0].mode, NetworkMode::Bridge);
    update(
        &mut m,
        Message::LabJobDone {
            job: LabJob::Add(specs.clone()),
            result: Ok(()),
        },
    );
    // Once the new state is read, the probes run.
    let mut lab = fixture::lab_state();
    lab.generation += 1;
    let cmds = update(&mut m, Message::LabLoaded(Ok(Some(Box::new(lab)))));
    assert!(
        cmds.iter().any(|c| matches!(c, Command::RunProbes(_))),
        "{cmds:?}"
    );

    update(&mut m, Message::ProbesDone(Ok(1000)));
    assert!(m.bench.tour.as_ref().unwrap().probed);
    // Space: host, none, macvlan, ipvlan.
    for _ in 0..4 {
        keys(&mut m, " ");
    }
    assert_eq!(m.bench.tour.as_ref().unwrap().step, 4);
    let cmds = keys(&mut m, "b");
    let [Command::Lab(job)] = cmds.as_slice() else {
        panic!("{cmds:?}");
    };
    update(
        &mut m,
        Message::LabJobDone {
            job: job.clone(),
            result: Err("this kernel has no ipvlan support".into()),
        },
    );
    assert_eq!(m.bench.overlay, None, "no error box: the tour says why");
    assert!(m
        .bench
        .tour
        .as_ref()
        .unwrap()
        .note
        .as_deref()
        .unwrap()
        .contains("this kernel has no ipvlan support"));
    keys(&mut m, " ");
    assert!(m.bench.tour.is_none(), "the tour ends after ipvlan");
}

#[test]
fn lab_changes_from_the_cli_relabel_the_namespace_list() {
    let mut m = model();
    assert_eq!(m.bench.label_for("nv-mv1"), None);
    let cmds = update(
        &mut m,
        Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
    );
    // The lab changed: its namespaces are read again (a namespace read when it appeared
    // may predate the links the lab moved into it).
    let reads: Vec<&str> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::ReadNamespace { netns, .. } => Some(netns.name.as_str()),
            _ => None,
        })
        .collect();
    assert!(reads.contains(&"nv-host"), "{cmds:?}");
    assert!(reads.contains(&"nv-mv1"), "{cmds:?}");
    assert_eq!(
        m.bench.label_for("nv-mv1").as_deref(),
        Some("mv1 · macvlan bridge 192.168.50.193")
    );
    assert_eq!(
        m.bench.label_for("nv-host").as_deref(),
        Some("lab host + h1 (host mode)")
    );
    update(&mut m, Message::LabLoaded(Ok(None)));
    assert_eq!(m.bench.label_for("nv-mv1"), None);
}

fn job_done(m: &mut Model, job: LabJob, result: Result<(), String>) -> Vec<Command> {
    update(m, Message::LabJobDone { job, result })
}

/// The none container the form offers (none2: the fixture has none1), as the job carries it.
fn adding_none2(m: &mut Model) -> LabJob {
    keys(m, "nn");
    let cmds = key(m, KeyCode::Enter);
    let [Command::Lab(job @ LabJob::Add(_))] = cmds.as_slice() else {
        panic!("an add job expected, got {cmds:?}");
    };
    job.clone()
}

const ROLLED_BACK: &str = "interrupted; everything created so far was removed";

#[test]
fn q_during_a_job_asks_and_cancel_rolls_back_then_quits() {
    let mut m = with_lab();
    let job = adding_none2(&mut m);
    assert!(keys(&mut m, "q").is_empty(), "nothing stops yet");
    assert_eq!(m.bench.overlay, Some(Overlay::QuitDuringJob));
    assert!(!m.quit, "it asks, it does not quit");
    assert_eq!(keys(&mut m, "c"), vec![Command::CancelJob]);
    assert_eq!(m.bench.overlay, None);
    assert!(m.bench.cancelling);
    assert!(!m.quit, "the job rolls back first");
    // q again while it rolls back: no second question, no second cancel.
    assert!(keys(&mut m, "q").is_empty());
    assert_eq!(m.bench.overlay, None);
    // The engine rolled it back; this session made nothing else: it quits, nothing to tear
    // down, and the shell hears how the job ended.
    job_done(&mut m, job, Err(ROLLED_BACK.into()));
    assert!(m.quit);
    assert_eq!(m.bench.teardown, Some(Teardown::Nothing));
    assert_eq!(
        m.bench.exit_note.as_deref(),
        Some("adding none2 (none): interrupted; everything created so far was removed")
    );
    assert!(m.bench.job.is_none() && !m.bench.cancelling);
}

#[test]
fn q_during_a_job_then_wait_asks_the_usual_question_when_it_is_done() {
    let mut m = model();
    assert_eq!(keys(&mut m, "L"), vec![Command::Lab(LabJob::Up)]);
    keys(&mut m, "q");
    assert_eq!(m.bench.overlay, Some(Overlay::QuitDuringJob));
    assert!(keys(&mut m, "w").is_empty(), "waiting cancels nothing");
    assert_eq!(m.bench.overlay, None);
    // The job thread sends the new state, then its result.
    update(
        &mut m,
        Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
    );
    job_done(&mut m, LabJob::Up, Ok(()));
    assert_eq!(m.bench.overlay, Some(Overlay::Quit), "the usual question");
    assert!(!m.quit);
    key(&mut m, KeyCode::Enter);
    assert!(m.quit);
    assert_eq!(m.bench.teardown, Some(Teardown::Down));
}

#[test]
fn a_job_that_ends_while_its_question_is_open_goes_on_to_the_usual_question() {
    let mut m = model();
    keys(&mut m, "Lq");
    update(
        &mut m,
        Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
    );
    job_done(&mut m, LabJob::Up, Ok(()));
    assert_eq!(m.bench.overlay, Some(Overlay::Quit));
}

#[test]
fn esc_on_the_job_question_stays_and_the_job_goes_on() {
    let mut m = with_lab();
    let job = adding_none2(&mut m);
    keys(&mut m, "q");
    assert!(key(&mut m, KeyCode::Esc).is_empty());
    assert_eq!(m.bench.overlay, None);
    assert!(!m.quit && !m.bench.cancelling);
    job_done(&mut m, job, Ok(()));
    assert!(!m.quit, "staying means staying");
    assert_eq!(m.bench.added, vec!["none2".to_string()]);
}

#[test]
fn a_removal_cannot_be_cancelled_only_waited_for() {
    let mut m = with_lab();
    keys(&mut m, "L"); // the lab is up: asks to tear it down
    key(&mut m, KeyCode::Enter);
    assert!(m.bench.job == Some(LabJob::Down));
    keys(&mut m, "q");
    assert_eq!(m.bench.overlay, Some(Overlay::QuitDuringJob));
    assert!(keys(&mut m, "c").is_empty(), "c does nothing here");
    assert_eq!(m.bench.overlay, Some(Overlay::QuitDuringJob));
    assert!(!m.bench.cancelling);
}

#[test]
fn a_signal_during_a_job_cancels_it_and_quits_with_the_teardown_after_it() {
    let mut m = model();
    keys(&mut m, "L");
    let cmds = update(&mut m, Message::Terminate);
    assert_eq!(cmds, vec![Command::CancelJob]);
    assert!(m.quit, "the loop ends; the runtime waits for the job");
    assert_eq!(m.bench.teardown, None, "decided once the job has ended");
    // Rolled back: no lab, nothing to tear down.
    job_done(&mut m, LabJob::Up, Err(ROLLED_BACK.into()));
    assert_eq!(m.bench.teardown, Some(Teardown::Nothing));
    assert_eq!(m.bench.overlay, None, "no error dialog on the way out");
    assert!(m.bench.exit_note.is_some());
}

#[test]
fn a_job_that_finished_before_the_signal_took_is_torn_down_too() {
    let mut m = model();
    keys(&mut m, "L");
    update(&mut m, Message::Terminate);
    update(
        &mut m,
        Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
    );
    job_done(&mut m, LabJob::Up, Ok(()));
    assert_eq!(m.bench.teardown, Some(Teardown::Down));
    assert_eq!(m.bench.exit_note, None);
}

#[test]
fn ctrl_c_during_a_job_asks_and_again_acts_like_a_signal() {
    let mut m = with_lab();
    let job = adding_none2(&mut m);
    assert!(ctrl_c(&mut m).is_empty());
    assert_eq!(m.bench.overlay, Some(Overlay::QuitDuringJob));
    assert!(!m.quit);
    assert_eq!(ctrl_c(&mut m), vec![Command::CancelJob]);
    assert!(m.quit);
    job_done(&mut m, job, Err(ROLLED_BACK.into()));
    assert_eq!(m.bench.teardown, Some(Teardown::Nothing));
}

#[test]
fn the_help_lists_the_job_question_keys() {
    let lines = netview::ui::render::help::lines(&with_lab());
    for (keys, what) in [
        ("w", "quit: wait for the job"),
        ("c", "quit: cancel, roll back"),
    ] {
        assert!(
            lines.iter().any(|(k, w)| k == keys && w == what),
            "{keys} {what} in {lines:?}"
        );
    }
}

#[test]
fn q_from_the_help_during_a_job_gives_the_question_the_keyboard() {
    let mut m = with_lab();
    let job = adding_none2(&mut m);
    keys(&mut m, "?");
    assert!(m.help);
    keys(&mut m, "q");
    assert!(!m.help, "the help closes");
    assert_eq!(m.bench.overlay, Some(Overlay::QuitDuringJob));
    assert_eq!(keys(&mut m, "c"), vec![Command::CancelJob]);
    job_done(&mut m, job, Err(ROLLED_BACK.into()));
    assert!(m.quit);
}

fn probe_plan(cmds: &[Command]) -> &netview::probe::matrix::ProbePlan {
    match cmds {
        [Command::RunProbes(job)] => &job.plan,
        other => panic!("expected one RunProbes, got {other:?}"),
    }
}

/// The names of a plan's endpoints, and that none of them is a lab endpoint.
fn namespace_names(plan: &netview::probe::matrix::ProbePlan) -> Vec<String> {
    assert!(plan
        .lab
        .endpoints
        .iter()
        .all(|e| e.origin == netview::probe::EndpointOrigin::Namespace));
    plan.lab.endpoints.iter().map(|e| e.name.clone()).collect()
}

#[test]
fn p_without_a_lab_probes_every_namespace_holding_an_address() {
    let mut m = model();
    let cmds = keys(&mut m, "p");
    let plan = probe_plan(&cmds);
    let names = namespace_names(plan);
    let with_addresses: Vec<String> = m
        .namespaces
        .iter()
        .filter(|e| {
            e.netns.name == "root"
                || e.inventory.as_ref().is_some_and(|i| {
                    i.links
                        .iter()
                        .flat_map(|l| &l.addresses)
                        .any(|a| a.ip.is_ipv4() && !a.ip.is_loopback())
                })
        })
        .map(|e| e.netns.name.clone())
        .collect();
    assert_eq!(names, with_addresses);
    assert!(names.len() >= 2, "{names:?}");
    assert_eq!(plan.cells, m.bench.matrix.cells, "planned once");
    assert!(!plan.cells.is_empty());
    assert_eq!(m.tab, Tab::Matrix);
    // Enter explains the cell as for the lab.
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.bench.overlay, Some(Overlay::Explain));
}

#[test]
fn space_marks_namespaces_and_p_probes_among_the_marked_ones() {
    let mut m = model();
    let first = m.namespaces[0].netns.name.clone();
    let third = m.namespaces[2].netns.name.clone();
    keys(&mut m, " jj ");
    assert_eq!(m.marked.len(), 2);
    let cmds = keys(&mut m, "p");
    assert_eq!(
        namespace_names(probe_plan(&cmds)),
        vec![first.clone(), third]
    );
    update(&mut m, Message::ProbesDone(Ok(1000)));
    // Space again unmarks; marks win over the lab too.
    keys(&mut m, " ");
    update(
        &mut m,
        Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
    );
    let cmds = keys(&mut m, "p");
    assert_eq!(namespace_names(probe_plan(&cmds)), vec![first]);
}

#[test]
fn p_probes_with_the_configs_kinds_and_port() {
    let mut m = with_lab();
    m.probe = netview::config::ProbeDefaults {
        kinds: vec![netview::probe::ProbeKind::Tcp],
        timeout: std::time::Duration::from_millis(300),
        port: 8081,
    };
    let cmds = keys(&mut m, "p");
    let plan = probe_plan(&cmds);
    assert!(!plan.cells.is_empty());
    for c in &plan.cells {
        assert_eq!(
            (c.kind, c.port),
            (netview::probe::ProbeKind::Tcp, Some(8081)),
            "{c:?}"
        );
    }
}
