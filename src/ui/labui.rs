//! The lab bench's state and its part of `update`: the lab as last read, dialogs (mode
//! chooser, form, confirmations, errors, the explanation), the job in progress, the probe
//! matrix, the tour, and what this session made (torn down on quit). No I/O: jobs are
//! [`Command`]s the runtime runs on worker threads, through the same engine as the CLI.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::inventory::NamespaceInventory;
use crate::lab::spec::{ContainerSpec, NetworkMode};
use crate::lab::state::LabState;
use crate::probe::cell::CellResult;
use crate::probe::matrix::{self, PlanOptions};
use crate::ui::app::{Model, Tab};
use crate::ui::bench::MatrixState;
use crate::ui::form::{Form, MODES};
use crate::ui::keys::{self, DialogAction, FormAction};
use crate::ui::message::Command;
use crate::ui::tour::{self, StepKind, TourState};

/// A change to the lab, run by the engine on a worker thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabJob {
    Up,
    Down,
    Add(Vec<ContainerSpec>),
    Remove(Vec<String>),
}

impl LabJob {
    /// What the progress line says while it runs.
    pub fn describe(&self) -> String {
        match self {
            LabJob::Up => "bringing the lab up (host, switch, peer, router)".into(),
            LabJob::Down => "tearing the whole lab down".into(),
            LabJob::Add(cs) => format!(
                "adding {}",
                cs.iter()
                    .map(|c| format!("{} ({})", c.name, c.mode))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            LabJob::Remove(ns) => format!("removing {}", ns.join(", ")),
        }
    }

    /// Whether the engine can stop it half-way and roll back: creations can; removals run
    /// to the end (stopping one half-way would only leave more to remove).
    pub fn can_cancel(&self) -> bool {
        matches!(self, LabJob::Up | LabJob::Add(_))
    }
}

/// What quitting does once the running job has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterJob {
    /// `q`: the usual keep-or-tear-down question (or quit, if the session made nothing).
    Ask,
    /// A signal: tear down everything this session made, and leave.
    TearDown,
}

/// What needs a yes before it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// No lab is up: bring it up, then open the mode chooser.
    UpThenAdd,
    /// The tour needs the lab: bring it up, then build the step.
    UpThenTour,
    Down,
    Remove(String),
}

impl Confirm {
    pub fn question(&self) -> String {
        match self {
            Confirm::UpThenAdd | Confirm::UpThenTour => {
                "No lab is up. Bring the sandbox world up now (host, switch, peer, router)?".into()
            }
            Confirm::Down => "Tear the whole lab down (every container and the world)?".into(),
            Confirm::Remove(n) => format!("Remove container {n}?"),
        }
    }
}

/// A dialog over the screen; it has the keyboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    ChooseMode {
        index: usize,
    },
    Form(Form),
    Confirm(Confirm),
    /// `q`: keep the lab or tear down what this session made.
    Quit,
    /// `q` or Ctrl-C while a lab job runs: wait for it, or cancel and roll it back (then the
    /// [`Overlay::Quit`] question).
    QuitDuringJob,
    /// An error, until dismissed.
    Error(String),
    /// The selected matrix cell, explained.
    Explain,
}

/// What is torn down on quit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Teardown {
    Nothing,
    /// This session brought the lab up: all of it.
    Down,
    /// This session added these to a lab that was already up.
    Remove(Vec<String>),
}

/// The lab bench's part of the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bench {
    /// The lab as last read (None: no lab is up).
    pub lab: Option<LabState>,
    pub overlay: Option<Overlay>,
    /// The job in progress (the progress line says it) and the spinner's frame.
    pub job: Option<LabJob>,
    pub spinner: usize,
    /// The running job was asked to stop and roll back.
    pub cancelling: bool,
    /// Quitting waits for the running job; what to do once it has ended.
    pub after_job: Option<AfterJob>,
    /// Said on the shell after the terminal is back: how a job that quitting waited for
    /// failed or was rolled back.
    pub exit_note: Option<String>,
    pub matrix: MatrixState,
    pub tour: Option<TourState>,
    /// What the kernel said about ipvlan, once asked.
    pub ipvlan_supported: Option<bool>,
    /// This session brought the lab up / added these containers.
    pub brought_up: bool,
    pub added: Vec<String>,
    /// Set when quitting: what the runtime tears down after restoring the terminal.
    pub teardown: Option<Teardown>,
    /// Waiting for a job before doing this.
    pending: Option<Confirm>,
}

pub const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

impl Bench {
    /// The progress line while a job runs.
    pub fn busy(&self) -> Option<String> {
        let job = self.job.as_ref()?;
        Some(if self.cancelling {
            format!("cancelling {}: rolling back", job.describe())
        } else {
            job.describe()
        })
    }

    /// What quitting with teardown removes.
    pub fn teardown_plan(&self) -> Teardown {
        if self.brought_up && self.lab.is_some() {
            return Teardown::Down;
        }
        let still: Vec<String> = self
            .added
            .iter()
            .filter(|n| self.lab.as_ref().is_some_and(|l| l.container(n).is_some()))
            .cloned()
            .collect();
        if still.is_empty() {
            Teardown::Nothing
        } else {
            Teardown::Remove(still)
        }
    }

    /// The lab container (name, mode words) whose namespace is `ns`.
    pub fn container_in(&self, ns: &str) -> Option<(String, String)> {
        let lab = self.lab.as_ref()?;
        let c = lab
            .containers
            .iter()
            .find(|c| c.netns.as_deref() == Some(ns))?;
        let mode = match c.spec.submode() {
            Some(s) => format!("{} {s}", c.spec.mode),
            None => c.spec.mode.to_string(),
        };
        Some((c.spec.name.clone(), mode))
    }

    /// What the namespace list says about a lab namespace: the container and its mode, or
    /// the world node it plays.
    pub fn label_for(&self, ns: &str) -> Option<String> {
        let lab = self.lab.as_ref()?;
        if let Some(c) = lab
            .containers
            .iter()
            .find(|c| c.netns.as_deref() == Some(ns))
        {
            let mode = match c.spec.submode() {
                Some(s) => format!("{} {s}", c.spec.mode),
                None => c.spec.mode.to_string(),
            };
            let ip =
                c.ip.filter(|i| !i.addr().is_loopback())
                    .map(|i| format!(" {}", i.addr()))
                    .unwrap_or_default();
            return Some(format!("{} · {mode}{ip}", c.spec.name));
        }
        for part in ["host", "switch", "peer", "router"] {
            if lab.ns_name(part) == ns {
                let shared: Vec<&str> = lab
                    .containers
                    .iter()
                    .filter(|c| part == "host" && c.spec.mode == NetworkMode::Host)
                    .map(|c| c.spec.name.as_str())
                    .collect();
                return Some(if shared.is_empty() {
                    format!("lab {part}")
                } else {
                    format!("lab {part} + {} (host mode)", shared.join(", "))
                });
            }
        }
        None
    }
}

fn host_inventory(model: &Model) -> Option<&NamespaceInventory> {
    let name = model.bench.lab.as_ref()?.host_ns.name()?.to_string();
    model
        .namespaces
        .iter()
        .find(|e| e.netns.name == name)
        .and_then(|e| e.inventory.as_ref())
}

pub fn revalidate(model: &mut Model) {
    let lab = model.bench.lab.clone();
    let host = host_inventory(model).cloned();
    let ipv = model.bench.ipvlan_supported;
    if let Some(Overlay::Form(f)) = &mut model.bench.overlay {
        f.validate(lab.as_ref(), host.as_ref(), ipv);
    }
}

/// Start a lab job unless one is running.
fn start_job(model: &mut Model, job: LabJob) -> Vec<Command> {
    if let Some(b) = model.bench.busy() {
        model.message = Some(format!("wait: {b}"));
        return Vec::new();
    }
    model.bench.job = Some(job.clone());
    vec![Command::Lab(job)]
}

/// Start the probes on the current lab.
/// The namespaces `p` probes among when Space marked some, or when no lab is up: the marked
/// ones, else every namespace whose inventory holds an address, and root. Pure: it uses the
/// inventories already read.
fn namespace_endpoints(model: &Model) -> Vec<crate::probe::ProbeEndpoint> {
    use crate::netns::NetnsSource;
    use crate::probe::namespaces::{endpoint_of, has_addresses};
    model
        .namespaces
        .iter()
        .filter(|e| model.marked.is_empty() || model.marked.contains(&e.netns.id))
        .filter_map(|e| Some((e, endpoint_of(&e.netns, e.inventory.as_ref()?))))
        .filter(|(e, p)| {
            !model.marked.is_empty() || e.netns.source == NetnsSource::Root || has_addresses(p)
        })
        .map(|(_, p)| p)
        .collect()
}

pub fn start_probes(model: &mut Model) -> Vec<Command> {
    if model.bench.matrix.running {
        model.message = Some("the probes are already running".into());
        return Vec::new();
    }
    let plab = match model.bench.lab.as_ref() {
        Some(lab) if model.marked.is_empty() => {
            crate::probe::from_lab::probe_lab(&crate::lab::Lab { state: lab.clone() })
        }
        _ => crate::probe::ProbeLab {
            endpoints: namespace_endpoints(model),
            facts: crate::probe::LabFacts::default(),
        },
    };
    if plab.endpoints.is_empty() {
        model.bench.overlay = Some(Overlay::Error(
            "nothing to probe: no namespace holds an address yet".into(),
        ));
        return Vec::new();
    }
    match matrix::plan(&plab, &PlanOptions::default()) {
        Ok(cells) => {
            let m = &model.bench.matrix;
            let (row, col, first_col) = (m.row, m.col, m.first_col);
            model.bench.matrix = MatrixState::start(cells.clone());
            model.bench.matrix.row = row;
            model.bench.matrix.col = col;
            model.bench.matrix.first_col = first_col;
            clamp_cursor(&mut model.bench.matrix);
            model.tab = Tab::Matrix;
            vec![Command::RunProbes(Box::new(matrix::ProbePlan {
                lab: plab,
                cells,
            }))]
        }
        Err(e) => {
            model.bench.overlay = Some(Overlay::Error(e.to_string()));
            Vec::new()
        }
    }
}

fn clamp_cursor(m: &mut MatrixState) {
    let (rows, cols) = (m.grid.rows.len(), m.grid.columns.len());
    m.row = m.row.min(rows.saturating_sub(1));
    m.col = m.col.min(cols.saturating_sub(1));
}

pub fn move_matrix(model: &mut Model, drow: isize, dcol: isize) {
    let m = &mut model.bench.matrix;
    let (rows, cols) = (m.grid.rows.len(), m.grid.columns.len());
    let step = |v: usize, d: isize, n: usize| -> usize {
        if n == 0 {
            0
        } else {
            (v as isize + d).clamp(0, n as isize - 1) as usize
        }
    };
    m.row = step(m.row, drow, rows);
    m.col = step(m.col, dcol, cols);
}

fn open_mode_chooser(model: &mut Model) -> Vec<Command> {
    model.bench.overlay = Some(Overlay::ChooseMode { index: 0 });
    Vec::new()
}

fn choose_mode(model: &mut Model, mode: NetworkMode) -> Vec<Command> {
    let form = Form::new(mode, model.bench.lab.as_ref());
    model.bench.overlay = Some(Overlay::Form(form));
    revalidate(model);
    // The parent is checked against the host's inventory: read it fresh.
    let host: std::collections::BTreeSet<String> = model
        .bench
        .lab
        .as_ref()
        .and_then(|l| l.host_ns.name())
        .map(str::to_string)
        .into_iter()
        .collect();
    let mut cmds = model.reread_named(&host);
    if mode == NetworkMode::Ipvlan && model.bench.ipvlan_supported.is_none() {
        cmds.push(Command::CheckIpvlan);
    }
    cmds
}

/// `n`: the mode chooser (offering to bring the lab up first).
pub fn new_container(model: &mut Model) -> Vec<Command> {
    if let Some(b) = model.bench.busy() {
        model.message = Some(format!("wait: {b}"));
        return Vec::new();
    }
    if model.bench.lab.is_none() {
        model.bench.overlay = Some(Overlay::Confirm(Confirm::UpThenAdd));
        return Vec::new();
    }
    open_mode_chooser(model)
}

/// The lab container the user has selected: on the matrix, the source row; elsewhere the
/// namespace selected in the list.
pub fn selected_container(model: &Model) -> Option<String> {
    let lab = model.bench.lab.as_ref()?;
    if model.tab == Tab::Matrix {
        let (from, _) = model.bench.matrix.selected_pair()?;
        return lab.container(&from).map(|c| c.spec.name.clone());
    }
    let ns = model.selected_entry()?.netns.name.clone();
    model.bench.container_in(&ns).map(|(n, _)| n)
}

/// `x`: remove the selected container, after a yes.
pub fn remove_selected(model: &mut Model) -> Vec<Command> {
    match selected_container(model) {
        Some(n) => model.bench.overlay = Some(Overlay::Confirm(Confirm::Remove(n))),
        None => {
            model.message = Some("select a lab container (its namespace, or a matrix row)".into())
        }
    }
    Vec::new()
}

/// `L`: the whole world up, or (after a yes) down.
pub fn toggle_lab(model: &mut Model) -> Vec<Command> {
    if model.bench.lab.is_some() {
        model.bench.overlay = Some(Overlay::Confirm(Confirm::Down));
        Vec::new()
    } else {
        start_job(model, LabJob::Up)
    }
}

/// `t`: start the tour (or show it again).
pub fn start_tour(model: &mut Model) -> Vec<Command> {
    if model.bench.tour.is_none() {
        model.bench.tour = Some(TourState::new());
    }
    Vec::new()
}

/// `b` in the tour: build this step's containers (then the probes run).
pub fn tour_build(model: &mut Model) -> Vec<Command> {
    let Some(t) = &model.bench.tour else {
        return Vec::new();
    };
    if model.bench.lab.is_none() {
        model.bench.overlay = Some(Overlay::Confirm(Confirm::UpThenTour));
        return Vec::new();
    }
    let specs = tour::containers(t.current().kind);
    let lab = model.bench.lab.as_ref();
    let missing: Vec<ContainerSpec> = specs
        .into_iter()
        .filter(|c| lab.is_none_or(|l| l.container(&c.name).is_none()))
        .collect();
    if missing.is_empty() {
        if let Some(t) = &mut model.bench.tour {
            t.built = true;
        }
        return after_tour_built(model);
    }
    start_job(model, LabJob::Add(missing))
}

fn after_tour_built(model: &mut Model) -> Vec<Command> {
    let mut cmds = start_probes(model);
    let kind = model.bench.tour.as_ref().map(|t| t.current().kind);
    if kind == Some(StepKind::Host) {
        if let Some(lab) = model.bench.lab.clone() {
            cmds.push(Command::SharedPort(Box::new(lab), "tour-h1".into()));
        }
    }
    cmds
}

/// Keys while a dialog is open. Returns None when no dialog is open.
pub fn on_overlay_key(model: &mut Model, key: &KeyEvent) -> Option<Vec<Command>> {
    let overlay = model.bench.overlay.clone()?;
    if key.kind == KeyEventKind::Release {
        return Some(Vec::new());
    }
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return Some(interrupt(model));
    }
    let cmds = match overlay {
        // A mode's first letter chooses it (n is none here, not "no").
        Overlay::ChooseMode { .. } if mode_letter(key).is_some() => {
            choose_mode(model, mode_letter(key).unwrap_or(NetworkMode::None))
        }
        Overlay::ChooseMode { index } => match keys::dialog_action(key) {
            Some(DialogAction::Down) => {
                model.bench.overlay = Some(Overlay::ChooseMode {
                    index: (index + 1).min(MODES.len() - 1),
                });
                Vec::new()
            }
            Some(DialogAction::Up) => {
                model.bench.overlay = Some(Overlay::ChooseMode {
                    index: index.saturating_sub(1),
                });
                Vec::new()
            }
            Some(DialogAction::Yes) => choose_mode(model, MODES[index]),
            Some(DialogAction::No) => {
                model.bench.overlay = None;
                Vec::new()
            }
            _ => Vec::new(),
        },
        Overlay::Form(_) => form_key(model, key),
        Overlay::Confirm(c) => match keys::dialog_action(key) {
            Some(DialogAction::Yes) => {
                model.bench.overlay = None;
                match c {
                    Confirm::UpThenAdd | Confirm::UpThenTour => {
                        model.bench.pending = Some(c);
                        start_job(model, LabJob::Up)
                    }
                    Confirm::Down => start_job(model, LabJob::Down),
                    Confirm::Remove(n) => start_job(model, LabJob::Remove(vec![n])),
                }
            }
            Some(DialogAction::No) => {
                model.bench.overlay = None;
                Vec::new()
            }
            _ => Vec::new(),
        },
        Overlay::Quit => match keys::dialog_action(key) {
            Some(DialogAction::Yes) => quit_with(model, model.bench.teardown_plan()),
            Some(DialogAction::Keep) => quit_with(model, Teardown::Nothing),
            Some(DialogAction::No) => {
                model.bench.overlay = None;
                // Staying: how the job ended is on the status line, not for the shell.
                model.bench.exit_note = None;
                Vec::new()
            }
            _ => Vec::new(),
        },
        Overlay::QuitDuringJob => match keys::dialog_action(key) {
            Some(DialogAction::Wait) => {
                model.bench.overlay = None;
                model.bench.after_job = Some(AfterJob::Ask);
                model.message = Some("quitting once the lab job is done".into());
                Vec::new()
            }
            Some(DialogAction::CancelJob)
                if model.bench.job.as_ref().is_some_and(LabJob::can_cancel) =>
            {
                model.bench.overlay = None;
                model.bench.after_job = Some(AfterJob::Ask);
                cancel_job(model)
            }
            Some(DialogAction::No) => {
                model.bench.overlay = None;
                model.bench.after_job = None;
                Vec::new()
            }
            _ => Vec::new(),
        },
        Overlay::Error(_) => {
            if matches!(
                keys::dialog_action(key),
                Some(DialogAction::Yes | DialogAction::No)
            ) {
                model.bench.overlay = None;
            }
            Vec::new()
        }
        Overlay::Explain => {
            match keys::dialog_action(key) {
                Some(DialogAction::Yes | DialogAction::No) => model.bench.overlay = None,
                Some(DialogAction::Up) => move_matrix(model, -1, 0),
                Some(DialogAction::Down) => move_matrix(model, 1, 0),
                Some(DialogAction::Left) => move_matrix(model, 0, -1),
                Some(DialogAction::Right) => move_matrix(model, 0, 1),
                _ => {}
            }
            Vec::new()
        }
    };
    Some(cmds)
}

fn mode_letter(key: &KeyEvent) -> Option<NetworkMode> {
    match key.code {
        KeyCode::Char(c) if key.modifiers - KeyModifiers::SHIFT == KeyModifiers::NONE => {
            MODES.iter().copied().find(|m| m.to_string().starts_with(c))
        }
        _ => None,
    }
}

fn form_key(model: &mut Model, key: &KeyEvent) -> Vec<Command> {
    let Some(Overlay::Form(form)) = &mut model.bench.overlay else {
        return Vec::new();
    };
    match keys::form_input(key) {
        Some(Ok(FormAction::Next)) => form.next(),
        Some(Ok(FormAction::Prev)) => form.prev(),
        Some(Ok(FormAction::Toggle)) => form.toggle(true),
        Some(Ok(FormAction::ToggleBack)) => form.toggle(false),
        Some(Ok(FormAction::Backspace)) => form.backspace(),
        Some(Ok(FormAction::Cancel)) => {
            model.bench.overlay = None;
            return Vec::new();
        }
        Some(Ok(FormAction::Submit)) => {
            revalidate(model);
            let Some(Overlay::Form(form)) = &model.bench.overlay else {
                return Vec::new();
            };
            return match form.spec() {
                Some(spec) => {
                    model.bench.overlay = None;
                    start_job(model, LabJob::Add(vec![spec]))
                }
                None => {
                    model.message = Some("fix the fields marked ! first".into());
                    Vec::new()
                }
            };
        }
        Some(Err(c)) => form.type_char(c),
        None => {}
    }
    revalidate(model);
    Vec::new()
}

fn quit_with(model: &mut Model, t: Teardown) -> Vec<Command> {
    model.bench.overlay = None;
    model.bench.teardown = Some(t);
    model.quit = true;
    vec![Command::Quit]
}

/// `q`: while a job runs, ask whether to wait for it or cancel it; otherwise ask whether to
/// keep the lab, unless this session made nothing (then just quit).
pub fn quit(model: &mut Model) -> Vec<Command> {
    if model.bench.job.is_some() {
        if model.bench.cancelling {
            model.message = Some("rolling the job back; netview quits once it is done".into());
        } else {
            model.bench.overlay = Some(Overlay::QuitDuringJob);
        }
        return Vec::new();
    }
    if model.bench.teardown_plan() == Teardown::Nothing {
        return quit_with(model, Teardown::Nothing);
    }
    model.bench.overlay = Some(Overlay::Quit);
    Vec::new()
}

/// Ask the running job to stop and roll back (once). Nothing for a job that cannot stop.
fn cancel_job(model: &mut Model) -> Vec<Command> {
    let cancellable = model.bench.job.as_ref().is_some_and(LabJob::can_cancel);
    if !cancellable || model.bench.cancelling {
        return Vec::new();
    }
    model.bench.cancelling = true;
    vec![Command::CancelJob]
}

/// Ctrl-C (the key): tear down what this session made and leave. While a job runs it asks
/// first, as `q` does; Ctrl-C again (or on that question) acts like a signal.
pub fn interrupt(model: &mut Model) -> Vec<Command> {
    if model.bench.job.is_some() {
        let asked =
            model.bench.overlay == Some(Overlay::QuitDuringJob) || model.bench.after_job.is_some();
        if !asked {
            model.bench.overlay = Some(Overlay::QuitDuringJob);
            return Vec::new();
        }
        return terminate(model);
    }
    let plan = model.bench.teardown_plan();
    quit_with(model, plan)
}

/// SIGTERM, SIGINT, SIGHUP: tear down what this session made and leave. A running job is
/// asked to stop and roll back first; the loop ends now and the runtime, with the terminal
/// restored, waits for the job's [`Message::LabJobDone`](crate::ui::message::Message) before
/// the teardown (which then includes what the job made, should it have finished first).
pub fn terminate(model: &mut Model) -> Vec<Command> {
    if model.bench.job.is_none() {
        let plan = model.bench.teardown_plan();
        return quit_with(model, plan);
    }
    model.bench.overlay = None;
    model.bench.after_job = Some(AfterJob::TearDown);
    model.quit = true;
    cancel_job(model)
}

/// Keys of the tour panel, before the browsing keys. None: not a tour key.
pub fn on_tour_key(model: &mut Model, key: &KeyEvent) -> Option<Vec<Command>> {
    model.bench.tour.as_ref()?;
    match keys::tour_action(key)? {
        keys::TourAction::Build => Some(tour_build(model)),
        keys::TourAction::Next => {
            let more = model.bench.tour.as_mut().is_some_and(|t| t.advance());
            if !more {
                model.bench.tour = None;
                model.message = Some("tour finished: q asks whether to keep the lab".into());
            }
            Some(Vec::new())
        }
        keys::TourAction::Leave => {
            model.bench.tour = None;
            Some(Vec::new())
        }
    }
}

/// A lab job finished; then quit if quitting waited for it.
pub fn on_job_done(model: &mut Model, job: LabJob, result: Result<(), String>) -> Vec<Command> {
    let cancelled = std::mem::take(&mut model.bench.cancelling);
    let mut after = model.bench.after_job.take();
    if model.bench.overlay == Some(Overlay::QuitDuringJob) {
        // Asked and not yet answered: the job ended, so on to the usual question.
        model.bench.overlay = None;
        after = after.or(Some(AfterJob::Ask));
    }
    let describe = job.describe();
    let failure = result.as_ref().err().cloned();
    let mut cmds = record_job(model, job, result);
    if let (Some(e), true) = (failure, cancelled || after.is_some()) {
        // The user asked to stop or to leave: no error dialog in the way of quitting.
        if matches!(model.bench.overlay, Some(Overlay::Error(_))) {
            model.bench.overlay = None;
        }
        let note = format!("{describe}: {e}");
        model.message = Some(note.clone());
        model.bench.exit_note = Some(note);
    }
    if let Some(after) = after {
        // Nothing waits for the lab's next read any more.
        model.bench.pending = None;
        cmds.extend(match after {
            AfterJob::Ask => quit(model),
            AfterJob::TearDown => {
                let plan = model.bench.teardown_plan();
                quit_with(model, plan)
            }
        });
    }
    cmds
}

/// What a finished job changes: what this session made, the message, the next step.
fn record_job(model: &mut Model, job: LabJob, result: Result<(), String>) -> Vec<Command> {
    model.bench.job = None;
    let cmds = vec![Command::LoadLab];
    let pending = model.bench.pending.take();
    match result {
        Err(e) => {
            let tour_step = model.bench.tour.as_ref().map(|t| t.current().kind);
            if let (Some(kind), LabJob::Add(_)) = (tour_step, &job) {
                if let Some(t) = &mut model.bench.tour {
                    t.note = Some(format!("cannot run here: {e}  (Space moves on)"));
                }
                if kind == StepKind::Ipvlan {
                    return cmds;
                }
            }
            model.bench.overlay = Some(Overlay::Error(e));
        }
        Ok(()) => match job {
            LabJob::Up => {
                model.bench.brought_up = true;
                model.message = Some("lab up".into());
                // Acted on once the new state is loaded (the LoadLab above).
                model.bench.pending = pending;
            }
            LabJob::Down => {
                model.bench.brought_up = false;
                model.bench.added.clear();
                model.bench.matrix = MatrixState::default();
                model.message = Some("lab down".into());
            }
            LabJob::Add(specs) => {
                let names: Vec<String> = specs.into_iter().map(|c| c.name).collect();
                model.message = Some(format!("added {}", names.join(", ")));
                model.bench.added.extend(names);
                if let Some(t) = &mut model.bench.tour {
                    t.built = true;
                    // The probes run once the new state is loaded.
                    model.bench.pending = Some(Confirm::UpThenTour);
                }
            }
            LabJob::Remove(names) => {
                model.bench.added.retain(|n| !names.contains(n));
                model.message = Some(format!("removed {}", names.join(", ")));
            }
        },
    }
    cmds
}

/// The lab was (re)read.
pub fn on_lab_loaded(model: &mut Model, r: Result<Option<LabState>, String>) -> Vec<Command> {
    match r {
        Err(e) => {
            model.message = Some(format!("lab state: {e}"));
            Vec::new()
        }
        Ok(lab) => {
            let changed = lab.as_ref().map(|l| l.generation)
                != model.bench.lab.as_ref().map(|l| l.generation)
                || lab.as_ref().map(|l| &l.prefix) != model.bench.lab.as_ref().map(|l| &l.prefix);
            model.bench.lab = lab;
            if model.bench.lab.is_none() {
                model.bench.matrix = MatrixState::default();
            }
            let mut cmds = Vec::new();
            if changed {
                model.invalidate();
                // What the lab changed is read again now: a namespace read when it appeared
                // may predate the links the lab moved into it.
                if let Some(l) = &model.bench.lab {
                    let names = crate::inventory::lab_namespaces(l);
                    cmds.extend(model.reread_named(&names));
                }
            }
            revalidate(model);
            if model.bench.lab.is_some() && model.bench.job.is_none() {
                match model.bench.pending.take() {
                    Some(Confirm::UpThenAdd) => cmds.extend(open_mode_chooser(model)),
                    Some(Confirm::UpThenTour) => {
                        let built = model.bench.tour.as_ref().is_some_and(|t| t.built);
                        if built {
                            cmds.extend(after_tour_built(model));
                        } else {
                            cmds.extend(tour_build(model));
                        }
                    }
                    other => model.bench.pending = other,
                }
            }
            cmds
        }
    }
}

pub fn on_probe_cell(model: &mut Model, r: CellResult) {
    model.bench.matrix.record(r);
}

pub fn on_probes_done(model: &mut Model, r: Result<u64, String>) {
    let m = &mut model.bench.matrix;
    m.running = false;
    match r {
        Ok(ms) => m.elapsed_ms = Some(ms),
        Err(e) => m.error = Some(e),
    }
    if let Some(t) = &mut model.bench.tour {
        t.probed = true;
        let (from, to) = t.current().focus;
        model.bench.matrix.select(from, to);
    }
}
