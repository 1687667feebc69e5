//! The lab bench as a component of the UI, as gitui builds its components: its own state
//! ([`Bench`]: the lab as last read, dialogs (mode chooser, form, confirmations, errors, the
//! explanation), the job in progress, the probe matrix, the tour, and what this session made,
//! torn down on quit) and its own `update` ([`Bench::update`]): a [`BenchMsg`] in, with a
//! read-only [`Context`] of the rest of the UI, and [`Effects`] out (the commands, and what
//! the rest of the UI should change: the status note, the tab, quitting, namespaces to read
//! again). Keys reach it only through the key table ([`crate::ui::keys`]). No I/O: jobs are
//! [`Command`]s the runtime runs on worker threads, through the same engine as the CLI.

use std::collections::BTreeSet;

use ratatui::crossterm::event::{KeyEvent, KeyEventKind};
use ratatui::layout::Rect;

use crate::config::ProbeDefaults;
use crate::inventory::NamespaceInventory;
use crate::lab::spec::{ContainerSpec, NetworkMode};
use crate::lab::state::LabState;
use crate::probe::cell::CellResult;
use crate::probe::matrix::{self, PlanOptions};
use crate::ui::app::{NsEntry, Tab};
use crate::ui::bench::{MatrixState, ProbeJob};
use crate::ui::form::{Form, MODES};
use crate::ui::keys::{self, DialogAction, FormAction, KeyMap};
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

/// What the bench reads of the rest of the UI.
pub struct Context<'a> {
    pub namespaces: &'a [NsEntry],
    /// Namespaces marked with Space for `p`, by inode.
    pub marked: &'a BTreeSet<u64>,
    pub tab: Tab,
    /// The name of the namespace selected in the list.
    pub selected_ns: Option<&'a str>,
    /// The keys in use (the config may remap them).
    pub keys: &'a KeyMap,
    /// What `p` probes (the config's `[probe]`).
    pub probe: &'a ProbeDefaults,
    /// How many rows a page of the terminal holds (the explanation scrolls by it).
    pub page_rows: usize,
}

/// What the bench asks of the rest of the UI after a message: the commands to run, and what
/// changes outside the bench.
#[derive(Debug, Default)]
pub struct Effects {
    pub commands: Vec<Command>,
    /// The message was the bench's (a key it took).
    pub handled: bool,
    /// A one-line note for the status bar.
    pub note: Option<String>,
    /// Show the Matrix tab (the probes started).
    pub show_matrix: bool,
    pub quit: bool,
    /// The lab changed the namespaces: what is derived from them is stale.
    pub invalidate: bool,
    /// Read these namespaces again (by name), before the commands.
    pub reread: BTreeSet<String>,
}

/// What can happen to the bench: the browsing actions that are its own, keys while one of
/// its dialogs or the tour panel is up, and the answers of its commands.
#[derive(Debug, Clone, PartialEq)]
pub enum BenchMsg {
    /// A key: the open dialog's, or the tour panel's; not handled otherwise.
    Key(KeyEvent),
    NewContainer,
    RemoveContainer,
    ToggleLab,
    Probe,
    Tour,
    /// Enter on the matrix: explain the selected cell.
    Explain,
    Quit,
    Interrupt,
    /// A signal.
    Terminate,
    /// Move the matrix's cursor by rows and columns.
    Move {
        rows: isize,
        cols: isize,
    },
    /// A page of the matrix's columns, for a matrix drawn in `inner`.
    ScrollColumns {
        right: bool,
        inner: Rect,
    },
    /// A namespace was read: an open form checks its parent again.
    Revalidate,
    LabLoaded(Result<Option<Box<LabState>>, String>),
    JobDone {
        job: LabJob,
        result: Result<(), String>,
    },
    IpvlanSupport(bool),
    ProbesPaced(crate::probe::matrix::Pacing),
    ProbeCell(CellResult),
    ProbesDone(Result<u64, String>),
    SharedPort(Result<String, String>),
    Tick,
}

impl Bench {
    /// The bench's `update`: change its state on `msg`; no I/O.
    pub fn update(&mut self, msg: BenchMsg, cx: &Context) -> Effects {
        let mut fx = Effects {
            handled: true,
            ..Effects::default()
        };
        let fx_ = &mut fx;
        let cmds = match msg {
            BenchMsg::Key(key) => match self.on_overlay_key(cx, fx_, &key) {
                Some(cmds) => cmds,
                None => match self.on_tour_key(cx, fx_, &key) {
                    Some(cmds) => cmds,
                    None => {
                        fx_.handled = false;
                        Vec::new()
                    }
                },
            },
            BenchMsg::NewContainer => self.new_container(fx_),
            BenchMsg::RemoveContainer => self.remove_selected(cx, fx_),
            BenchMsg::ToggleLab => self.toggle_lab(fx_),
            BenchMsg::Probe => self.start_probes(cx, fx_),
            BenchMsg::Tour => self.start_tour(),
            BenchMsg::Explain => {
                if !self.matrix.cells.is_empty() {
                    self.overlay = Some(Overlay::Explain);
                }
                Vec::new()
            }
            BenchMsg::Quit => self.quit(fx_),
            BenchMsg::Interrupt => self.interrupt(fx_),
            BenchMsg::Terminate => self.terminate(fx_),
            BenchMsg::Move { rows, cols } => {
                self.move_matrix(rows, cols);
                Vec::new()
            }
            BenchMsg::ScrollColumns { right, inner } => {
                crate::ui::matrix_view::scroll_columns(&mut self.matrix, inner, right);
                Vec::new()
            }
            BenchMsg::Revalidate => {
                self.revalidate(cx);
                Vec::new()
            }
            BenchMsg::LabLoaded(r) => self.on_lab_loaded(cx, fx_, r.map(|o| o.map(|b| *b))),
            BenchMsg::JobDone { job, result } => self.on_job_done(fx_, job, result),
            BenchMsg::IpvlanSupport(ok) => {
                self.ipvlan_supported = Some(ok);
                self.revalidate(cx);
                Vec::new()
            }
            BenchMsg::ProbesPaced(p) => {
                self.matrix.pacing = Some(p);
                Vec::new()
            }
            BenchMsg::ProbeCell(r) => {
                self.matrix.record(r);
                Vec::new()
            }
            BenchMsg::ProbesDone(r) => {
                self.on_probes_done(r);
                Vec::new()
            }
            BenchMsg::SharedPort(r) => {
                if let Some(t) = &mut self.tour {
                    t.note = Some(r.unwrap_or_else(|e| format!("shared-port check failed: {e}")));
                }
                Vec::new()
            }
            BenchMsg::Tick => {
                self.spinner = self.spinner.wrapping_add(1);
                Vec::new()
            }
        };
        fx.commands = cmds;
        fx
    }

    fn host_inventory<'c>(&self, cx: &Context<'c>) -> Option<&'c NamespaceInventory> {
        let name = self.lab.as_ref()?.host_ns.name()?.to_string();
        cx.namespaces
            .iter()
            .find(|e| e.netns.name == name)
            .and_then(|e| e.inventory.as_ref())
    }

    fn revalidate(&mut self, cx: &Context) {
        let lab = self.lab.clone();
        let host = self.host_inventory(cx).cloned();
        let ipv = self.ipvlan_supported;
        if let Some(Overlay::Form(f)) = &mut self.overlay {
            f.validate(lab.as_ref(), host.as_ref(), ipv);
        }
    }

    /// Start a lab job unless one is running.
    fn start_job(&mut self, fx: &mut Effects, job: LabJob) -> Vec<Command> {
        if let Some(b) = self.busy() {
            fx.note = Some(format!("wait: {b}"));
            return Vec::new();
        }
        self.job = Some(job.clone());
        vec![Command::Lab(job)]
    }

    /// Start the probes on the current lab.
    /// The namespaces `p` probes among when Space marked some, or when no lab is up: the marked
    /// ones, else every namespace whose inventory holds an address, and root. Pure: it uses the
    /// inventories already read.
    fn namespace_endpoints(cx: &Context) -> Vec<crate::probe::ProbeEndpoint> {
        use crate::netns::NetnsSource;
        use crate::probe::namespaces::{endpoint_of, has_addresses};
        cx.namespaces
            .iter()
            .filter(|e| cx.marked.is_empty() || cx.marked.contains(&e.netns.id))
            .filter_map(|e| Some((e, endpoint_of(&e.netns, e.inventory.as_ref()?))))
            .filter(|(e, p)| {
                !cx.marked.is_empty() || e.netns.source == NetnsSource::Root || has_addresses(p)
            })
            .map(|(_, p)| p)
            .collect()
    }

    fn start_probes(&mut self, cx: &Context, fx: &mut Effects) -> Vec<Command> {
        if self.matrix.running {
            fx.note = Some("the probes are already running".into());
            return Vec::new();
        }
        let plab = match self.lab.as_ref() {
            Some(lab) if cx.marked.is_empty() => {
                crate::probe::from_lab::probe_lab(&crate::lab::Lab { state: lab.clone() })
            }
            _ => crate::probe::ProbeLab {
                endpoints: Self::namespace_endpoints(cx),
                facts: crate::probe::LabFacts::default(),
            },
        };
        if plab.endpoints.is_empty() {
            self.overlay = Some(Overlay::Error(
                "nothing to probe: no namespace holds an address yet".into(),
            ));
            return Vec::new();
        }
        let opts = PlanOptions {
            kinds: cx.probe.kinds.clone(),
            tcp_port: cx.probe.port,
            ..PlanOptions::default()
        };
        match matrix::plan(&plab, &opts) {
            Ok(cells) => {
                let m = &self.matrix;
                let (row, col, first_col) = (m.row, m.col, m.first_col);
                self.matrix = MatrixState::start(cells.clone());
                self.matrix.row = row;
                self.matrix.col = col;
                self.matrix.first_col = first_col;
                Self::clamp_cursor(&mut self.matrix);
                fx.show_matrix = true;
                // The walk predicts over the inventory the UI holds (not read again).
                let inventory = crate::inventory::model::Inventory {
                    namespaces: cx
                        .namespaces
                        .iter()
                        .filter_map(|e| e.inventory.clone())
                        .collect(),
                    ..Default::default()
                };
                vec![Command::RunProbes(Box::new(ProbeJob {
                    plan: matrix::ProbePlan { lab: plab, cells },
                    inventory,
                }))]
            }
            Err(e) => {
                self.overlay = Some(Overlay::Error(e.to_string()));
                Vec::new()
            }
        }
    }

    /// Scroll the explanation overlay by `pages` pages of the terminal's height, no further
    /// than a page before its end (the overlay shows the last page full from about there).
    fn scroll_explanation(&mut self, cx: &Context, pages: isize) {
        let lines = crate::ui::bench::explain(&self.matrix, self.lab.as_ref()).len();
        let page = cx.page_rows.max(1);
        self.matrix
            .scroll_explanation(pages * page as isize, lines.saturating_sub(page));
    }

    fn clamp_cursor(m: &mut MatrixState) {
        let (rows, cols) = (m.grid.rows.len(), m.grid.columns.len());
        m.row = m.row.min(rows.saturating_sub(1));
        m.col = m.col.min(cols.saturating_sub(1));
    }

    fn move_matrix(&mut self, drow: isize, dcol: isize) {
        let m = &mut self.matrix;
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

    fn open_mode_chooser(&mut self) -> Vec<Command> {
        self.overlay = Some(Overlay::ChooseMode { index: 0 });
        Vec::new()
    }

    fn choose_mode(&mut self, cx: &Context, fx: &mut Effects, mode: NetworkMode) -> Vec<Command> {
        let form = Form::new(mode, self.lab.as_ref());
        self.overlay = Some(Overlay::Form(form));
        self.revalidate(cx);
        // The parent is checked against the host's inventory: read it fresh.
        fx.reread.extend(
            self.lab
                .as_ref()
                .and_then(|l| l.host_ns.name())
                .map(str::to_string),
        );
        let mut cmds = Vec::new();
        if mode == NetworkMode::Ipvlan && self.ipvlan_supported.is_none() {
            cmds.push(Command::CheckIpvlan);
        }
        cmds
    }

    /// `n`: the mode chooser (offering to bring the lab up first).
    fn new_container(&mut self, fx: &mut Effects) -> Vec<Command> {
        if let Some(b) = self.busy() {
            fx.note = Some(format!("wait: {b}"));
            return Vec::new();
        }
        if self.lab.is_none() {
            self.overlay = Some(Overlay::Confirm(Confirm::UpThenAdd));
            return Vec::new();
        }
        self.open_mode_chooser()
    }

    /// The lab container the user has selected: on the matrix, the source row; elsewhere the
    /// namespace selected in the list.
    fn selected_container(&self, cx: &Context) -> Option<String> {
        let lab = self.lab.as_ref()?;
        if cx.tab == Tab::Matrix {
            let (from, _) = self.matrix.selected_pair()?;
            return lab.container(&from).map(|c| c.spec.name.clone());
        }
        let ns = cx.selected_ns?;
        self.container_in(ns).map(|(n, _)| n)
    }

    /// `x`: remove the selected container, after a yes.
    fn remove_selected(&mut self, cx: &Context, fx: &mut Effects) -> Vec<Command> {
        match self.selected_container(cx) {
            Some(n) => self.overlay = Some(Overlay::Confirm(Confirm::Remove(n))),
            None => {
                fx.note = Some("select a lab container (its namespace, or a matrix row)".into())
            }
        }
        Vec::new()
    }

    /// `L`: the whole world up, or (after a yes) down.
    fn toggle_lab(&mut self, fx: &mut Effects) -> Vec<Command> {
        if self.lab.is_some() {
            self.overlay = Some(Overlay::Confirm(Confirm::Down));
            Vec::new()
        } else {
            self.start_job(fx, LabJob::Up)
        }
    }

    /// `t`: start the tour (or show it again).
    fn start_tour(&mut self) -> Vec<Command> {
        if self.tour.is_none() {
            self.tour = Some(TourState::new());
        }
        Vec::new()
    }

    /// `b` in the tour: build this step's containers (then the probes run).
    fn tour_build(&mut self, cx: &Context, fx: &mut Effects) -> Vec<Command> {
        let Some(t) = &self.tour else {
            return Vec::new();
        };
        if self.lab.is_none() {
            self.overlay = Some(Overlay::Confirm(Confirm::UpThenTour));
            return Vec::new();
        }
        let specs = tour::containers(t.current().kind);
        let lab = self.lab.as_ref();
        let missing: Vec<ContainerSpec> = specs
            .into_iter()
            .filter(|c| lab.is_none_or(|l| l.container(&c.name).is_none()))
            .collect();
        if missing.is_empty() {
            if let Some(t) = &mut self.tour {
                t.built = true;
            }
            return self.after_tour_built(cx, fx);
        }
        self.start_job(fx, LabJob::Add(missing))
    }

    fn after_tour_built(&mut self, cx: &Context, fx: &mut Effects) -> Vec<Command> {
        let mut cmds = self.start_probes(cx, fx);
        let kind = self.tour.as_ref().map(|t| t.current().kind);
        if kind == Some(StepKind::Host) {
            if let Some(lab) = self.lab.clone() {
                cmds.push(Command::SharedPort(Box::new(lab), "tour-h1".into()));
            }
        }
        cmds
    }

    /// Keys while a dialog is open, through the key table. Returns None when no dialog is open.
    fn on_overlay_key(
        &mut self,
        cx: &Context,
        fx: &mut Effects,
        key: &KeyEvent,
    ) -> Option<Vec<Command>> {
        let overlay = self.overlay.clone()?;
        if key.kind == KeyEventKind::Release {
            return Some(Vec::new());
        }
        if cx.keys.action_for(key) == Some(keys::Action::Interrupt) {
            return Some(self.interrupt(fx));
        }
        let cmds = match overlay {
            // A mode's first letter chooses it (n is none here, not "no").
            Overlay::ChooseMode { .. } if keys::mode_for(key).is_some() => {
                self.choose_mode(cx, fx, keys::mode_for(key).unwrap_or(NetworkMode::None))
            }
            Overlay::ChooseMode { index } => match cx.keys.dialog_action(key) {
                Some(DialogAction::Down) => {
                    self.overlay = Some(Overlay::ChooseMode {
                        index: (index + 1).min(MODES.len() - 1),
                    });
                    Vec::new()
                }
                Some(DialogAction::Up) => {
                    self.overlay = Some(Overlay::ChooseMode {
                        index: index.saturating_sub(1),
                    });
                    Vec::new()
                }
                Some(DialogAction::Yes) => self.choose_mode(cx, fx, MODES[index]),
                Some(DialogAction::No) => {
                    self.overlay = None;
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Overlay::Form(_) => self.form_key(cx, fx, key),
            Overlay::Confirm(c) => match cx.keys.dialog_action(key) {
                Some(DialogAction::Yes) => {
                    self.overlay = None;
                    match c {
                        Confirm::UpThenAdd | Confirm::UpThenTour => {
                            self.pending = Some(c);
                            self.start_job(fx, LabJob::Up)
                        }
                        Confirm::Down => self.start_job(fx, LabJob::Down),
                        Confirm::Remove(n) => self.start_job(fx, LabJob::Remove(vec![n])),
                    }
                }
                Some(DialogAction::No) => {
                    self.overlay = None;
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Overlay::Quit => match cx.keys.dialog_action(key) {
                Some(DialogAction::Yes) => self.quit_with(fx, self.teardown_plan()),
                Some(DialogAction::Keep) => self.quit_with(fx, Teardown::Nothing),
                Some(DialogAction::No) => {
                    self.overlay = None;
                    // Staying: how the job ended is on the status line, not for the shell.
                    self.exit_note = None;
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Overlay::QuitDuringJob => match cx.keys.dialog_action(key) {
                Some(DialogAction::Wait) => {
                    self.overlay = None;
                    self.after_job = Some(AfterJob::Ask);
                    fx.note = Some("quitting once the lab job is done".into());
                    Vec::new()
                }
                Some(DialogAction::CancelJob)
                    if self.job.as_ref().is_some_and(LabJob::can_cancel) =>
                {
                    self.overlay = None;
                    self.after_job = Some(AfterJob::Ask);
                    self.cancel_job()
                }
                Some(DialogAction::No) => {
                    self.overlay = None;
                    self.after_job = None;
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Overlay::Error(_) => {
                if matches!(
                    cx.keys.dialog_action(key),
                    Some(DialogAction::Yes | DialogAction::No)
                ) {
                    self.overlay = None;
                }
                Vec::new()
            }
            Overlay::Explain => {
                match cx.keys.dialog_action(key) {
                    Some(DialogAction::Yes | DialogAction::No) => self.overlay = None,
                    Some(DialogAction::Up) => self.move_matrix(-1, 0),
                    Some(DialogAction::Down) => self.move_matrix(1, 0),
                    Some(DialogAction::Left) => self.move_matrix(0, -1),
                    Some(DialogAction::Right) => self.move_matrix(0, 1),
                    Some(DialogAction::PageDown) => self.scroll_explanation(cx, 1),
                    Some(DialogAction::PageUp) => self.scroll_explanation(cx, -1),
                    _ => {}
                }
                Vec::new()
            }
        };
        Some(cmds)
    }

    fn form_key(&mut self, cx: &Context, fx: &mut Effects, key: &KeyEvent) -> Vec<Command> {
        let Some(Overlay::Form(form)) = &mut self.overlay else {
            return Vec::new();
        };
        match cx.keys.form_input(key) {
            Some(Ok(FormAction::Next)) => form.next(),
            Some(Ok(FormAction::Prev)) => form.prev(),
            Some(Ok(FormAction::Toggle)) => form.toggle(true),
            Some(Ok(FormAction::ToggleBack)) => form.toggle(false),
            Some(Ok(FormAction::Backspace)) => form.backspace(),
            Some(Ok(FormAction::Cancel)) => {
                self.overlay = None;
                return Vec::new();
            }
            Some(Ok(FormAction::Submit)) => {
                self.revalidate(cx);
                let Some(Overlay::Form(form)) = &self.overlay else {
                    return Vec::new();
                };
                return match form.spec() {
                    Some(spec) => {
                        self.overlay = None;
                        self.start_job(fx, LabJob::Add(vec![spec]))
                    }
                    None => {
                        fx.note = Some("fix the fields marked ! first".into());
                        Vec::new()
                    }
                };
            }
            Some(Err(c)) => form.type_char(c),
            None => {}
        }
        self.revalidate(cx);
        Vec::new()
    }

    fn quit_with(&mut self, fx: &mut Effects, t: Teardown) -> Vec<Command> {
        self.overlay = None;
        self.teardown = Some(t);
        fx.quit = true;
        vec![Command::Quit]
    }

    /// `q`: while a job runs, ask whether to wait for it or cancel it; otherwise ask whether to
    /// keep the lab, unless this session made nothing (then just quit).
    fn quit(&mut self, fx: &mut Effects) -> Vec<Command> {
        if self.job.is_some() {
            if self.cancelling {
                fx.note = Some("rolling the job back; netview quits once it is done".into());
            } else {
                self.overlay = Some(Overlay::QuitDuringJob);
            }
            return Vec::new();
        }
        if self.teardown_plan() == Teardown::Nothing {
            return self.quit_with(fx, Teardown::Nothing);
        }
        self.overlay = Some(Overlay::Quit);
        Vec::new()
    }

    /// Ask the running job to stop and roll back (once). Nothing for a job that cannot stop.
    fn cancel_job(&mut self) -> Vec<Command> {
        let cancellable = self.job.as_ref().is_some_and(LabJob::can_cancel);
        if !cancellable || self.cancelling {
            return Vec::new();
        }
        self.cancelling = true;
        vec![Command::CancelJob]
    }

    /// Ctrl-C (the key): tear down what this session made and leave. While a job runs it asks
    /// first, as `q` does; Ctrl-C again (or on that question) acts like a signal.
    fn interrupt(&mut self, fx: &mut Effects) -> Vec<Command> {
        if self.job.is_some() {
            let asked = self.overlay == Some(Overlay::QuitDuringJob) || self.after_job.is_some();
            if !asked {
                self.overlay = Some(Overlay::QuitDuringJob);
                return Vec::new();
            }
            return self.terminate(fx);
        }
        let plan = self.teardown_plan();
        self.quit_with(fx, plan)
    }

    /// SIGTERM, SIGINT, SIGHUP: tear down what this session made and leave. A running job is
    /// asked to stop and roll back first; the loop ends now and the runtime, with the terminal
    /// restored, waits for the job's [`Message::LabJobDone`](crate::ui::message::Message) before
    /// the teardown (which then includes what the job made, should it have finished first).
    fn terminate(&mut self, fx: &mut Effects) -> Vec<Command> {
        if self.job.is_none() {
            let plan = self.teardown_plan();
            return self.quit_with(fx, plan);
        }
        self.overlay = None;
        self.after_job = Some(AfterJob::TearDown);
        fx.quit = true;
        self.cancel_job()
    }

    /// Keys of the tour panel, before the browsing keys. None: not a tour key.
    fn on_tour_key(
        &mut self,
        cx: &Context,
        fx: &mut Effects,
        key: &KeyEvent,
    ) -> Option<Vec<Command>> {
        self.tour.as_ref()?;
        match cx.keys.tour_action(key)? {
            keys::TourAction::Build => Some(self.tour_build(cx, fx)),
            keys::TourAction::Next => {
                let more = self.tour.as_mut().is_some_and(|t| t.advance());
                if !more {
                    self.tour = None;
                    fx.note = Some("tour finished: q asks whether to keep the lab".into());
                }
                Some(Vec::new())
            }
            keys::TourAction::Leave => {
                self.tour = None;
                Some(Vec::new())
            }
        }
    }

    /// A lab job finished; then quit if quitting waited for it.
    fn on_job_done(
        &mut self,
        fx: &mut Effects,
        job: LabJob,
        result: Result<(), String>,
    ) -> Vec<Command> {
        let cancelled = std::mem::take(&mut self.cancelling);
        let mut after = self.after_job.take();
        if self.overlay == Some(Overlay::QuitDuringJob) {
            // Asked and not yet answered: the job ended, so on to the usual question.
            self.overlay = None;
            after = after.or(Some(AfterJob::Ask));
        }
        let describe = job.describe();
        let failure = result.as_ref().err().cloned();
        let mut cmds = self.record_job(fx, job, result);
        if let (Some(e), true) = (failure, cancelled || after.is_some()) {
            // The user asked to stop or to leave: no error dialog in the way of quitting.
            if matches!(self.overlay, Some(Overlay::Error(_))) {
                self.overlay = None;
            }
            let note = format!("{describe}: {e}");
            fx.note = Some(note.clone());
            self.exit_note = Some(note);
        }
        if let Some(after) = after {
            // Nothing waits for the lab's next read any more.
            self.pending = None;
            cmds.extend(match after {
                AfterJob::Ask => self.quit(fx),
                AfterJob::TearDown => {
                    let plan = self.teardown_plan();
                    self.quit_with(fx, plan)
                }
            });
        }
        cmds
    }

    /// What a finished job changes: what this session made, the message, the next step.
    fn record_job(
        &mut self,
        fx: &mut Effects,
        job: LabJob,
        result: Result<(), String>,
    ) -> Vec<Command> {
        self.job = None;
        let cmds = vec![Command::LoadLab];
        let pending = self.pending.take();
        match result {
            Err(e) => {
                let tour_step = self.tour.as_ref().map(|t| t.current().kind);
                if let (Some(kind), LabJob::Add(_)) = (tour_step, &job) {
                    if let Some(t) = &mut self.tour {
                        t.note = Some(format!("cannot run here: {e}  (Space moves on)"));
                    }
                    if kind == StepKind::Ipvlan {
                        return cmds;
                    }
                }
                self.overlay = Some(Overlay::Error(e));
            }
            Ok(()) => match job {
                LabJob::Up => {
                    self.brought_up = true;
                    fx.note = Some("lab up".into());
                    // Acted on once the new state is loaded (the LoadLab above).
                    self.pending = pending;
                }
                LabJob::Down => {
                    self.brought_up = false;
                    self.added.clear();
                    self.matrix = MatrixState::default();
                    fx.note = Some("lab down".into());
                }
                LabJob::Add(specs) => {
                    let names: Vec<String> = specs.into_iter().map(|c| c.name).collect();
                    fx.note = Some(format!("added {}", names.join(", ")));
                    self.added.extend(names);
                    if let Some(t) = &mut self.tour {
                        t.built = true;
                        // The probes run once the new state is loaded.
                        self.pending = Some(Confirm::UpThenTour);
                    }
                }
                LabJob::Remove(names) => {
                    self.added.retain(|n| !names.contains(n));
                    fx.note = Some(format!("removed {}", names.join(", ")));
                }
            },
        }
        cmds
    }

    /// The lab was (re)read.
    fn on_lab_loaded(
        &mut self,
        cx: &Context,
        fx: &mut Effects,
        r: Result<Option<LabState>, String>,
    ) -> Vec<Command> {
        match r {
            Err(e) => {
                fx.note = Some(format!("lab state: {e}"));
                Vec::new()
            }
            Ok(lab) => {
                let changed = lab.as_ref().map(|l| l.generation)
                    != self.lab.as_ref().map(|l| l.generation)
                    || lab.as_ref().map(|l| &l.prefix) != self.lab.as_ref().map(|l| &l.prefix);
                self.lab = lab;
                if self.lab.is_none() {
                    self.matrix = MatrixState::default();
                }
                let mut cmds = Vec::new();
                if changed {
                    fx.invalidate = true;
                    // What the lab changed is read again now: a namespace read when it appeared
                    // may predate the links the lab moved into it.
                    if let Some(l) = &self.lab {
                        let names = crate::inventory::lab_namespaces(l);
                        fx.reread.extend(names);
                    }
                }
                self.revalidate(cx);
                if self.lab.is_some() && self.job.is_none() {
                    match self.pending.take() {
                        Some(Confirm::UpThenAdd) => cmds.extend(self.open_mode_chooser()),
                        Some(Confirm::UpThenTour) => {
                            let built = self.tour.as_ref().is_some_and(|t| t.built);
                            if built {
                                cmds.extend(self.after_tour_built(cx, fx));
                            } else {
                                cmds.extend(self.tour_build(cx, fx));
                            }
                        }
                        other => self.pending = other,
                    }
                }
                cmds
            }
        }
    }

    fn on_probes_done(&mut self, r: Result<u64, String>) {
        let m = &mut self.matrix;
        m.running = false;
        match r {
            Ok(ms) => m.elapsed_ms = Some(ms),
            Err(e) => m.error = Some(e),
        }
        if let Some(t) = &mut self.tour {
            t.probed = true;
            let (from, to) = t.current().focus;
            self.matrix.select(from, to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::{KeyCode, KeyModifiers};

    fn cx<'a>(marked: &'a BTreeSet<u64>) -> Context<'a> {
        Context {
            namespaces: &[],
            marked,
            tab: Tab::Links,
            selected_ns: None,
            keys: Box::leak(Box::default()),
            probe: Box::leak(Box::default()),
            page_rows: 20,
        }
    }

    #[test]
    fn the_bench_updates_on_its_own_and_says_what_it_needs() {
        let marked = BTreeSet::new();
        let mut b = Bench::default();
        let fx = b.update(BenchMsg::ToggleLab, &cx(&marked));
        assert_eq!(fx.commands, vec![Command::Lab(LabJob::Up)]);
        assert_eq!(b.job, Some(LabJob::Up));
        // While the job runs, another one waits: said on the status line, nothing started.
        let fx = b.update(BenchMsg::NewContainer, &cx(&marked));
        assert!(fx.commands.is_empty());
        assert!(fx.note.is_some_and(|n| n.starts_with("wait: ")));
        // A key that is not the bench's is left to the rest of the UI.
        let j = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
        assert!(!b.update(BenchMsg::Key(j), &cx(&marked)).handled);
    }

    #[test]
    fn the_mode_chooser_takes_its_letters_from_the_key_table() {
        let marked = BTreeSet::new();
        let mut b = Bench {
            lab: Some(crate::ui::fixture::lab_state()),
            overlay: Some(Overlay::ChooseMode { index: 0 }),
            ..Bench::default()
        };
        let m = KeyEvent::new(KeyCode::Char('m'), KeyModifiers::NONE);
        let fx = b.update(BenchMsg::Key(m), &cx(&marked));
        assert!(fx.handled);
        assert!(
            matches!(&b.overlay, Some(Overlay::Form(f)) if f.mode == NetworkMode::Macvlan),
            "{:?}",
            b.overlay
        );
        // Ctrl-C over a dialog is the key table's Interrupt: nothing made, so quit at once.
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        let fx = b.update(BenchMsg::Key(ctrl_c), &cx(&marked));
        assert!(fx.quit);
        assert_eq!(fx.commands, vec![Command::Quit]);
    }
}
