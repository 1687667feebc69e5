//! The TUI's runtime: sets the terminal up (and restores it on quit, error, signal or panic),
//! runs the event loop, and executes [`Command`]s on background threads.
//!
//! Every source of events sends [`Message`]s into one channel: a thread blocked on terminal
//! input, the watcher's threads, the namespace readers and a signal thread. The loop blocks
//! on that channel and redraws only after a message that can change the screen; nothing
//! redraws on a timer.

use std::collections::VecDeque;
use std::io::{self, stdout, Write};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::cursor;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, MouseEventKind,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

use crate::caps::Capability;
use crate::containers::events::{self, EventFollower};
use crate::inventory::watch::{self, WatchHandle};
use crate::inventory::InventorySource;
use crate::netns::Netns;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::ProbeDefaults;
use crate::lab::state::LabState;
use crate::lab::{self, Lab, LabSpec};
use crate::probe::kernel::KernelProber;
use crate::probe::matrix as probe_matrix;
use crate::probe::tcp::demonstrate_shared_port;
use crate::probe::DEFAULT_TIMEOUT;
use crate::ui::app::{update, Model};
use crate::ui::bench::ProbeJob;
use crate::ui::keys::KeyMap;
use crate::ui::labui::{LabJob, Teardown};
use crate::ui::message::{changes_screen, Command, Message, ReadPriority};
use crate::ui::render;
use crate::ui::theme::Theme;

/// How many namespaces are read at the same time.
const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("terminal: {0}")]
    Terminal(#[from] io::Error),
    #[error("cannot start a thread: {0}")]
    Thread(io::Error),
    #[error("drawing: {0}")]
    Backend(String),
}

/// Whether `run` has the terminal (raw mode, alternate screen) and it is not restored yet.
static TERMINAL_TAKEN: AtomicBool = AtomicBool::new(false);

/// Stop reporting the mouse, leave raw mode and the alternate screen, show the cursor: once,
/// however many of the ways
/// out (the end of `run`, its guard, the panic hook) call it. A second LeaveAlternateScreen
/// puts the cursor back where it was when the UI started, so the shell's prompt overwrote
/// what the teardown had printed in between (`nvt$ ew: removing this session's...`).
pub fn restore_terminal() {
    restore_to(&mut stdout());
}

fn restore_to(out: &mut impl Write) {
    if TERMINAL_TAKEN.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    }
}

/// One line on stderr, for the shell. A failed write is ignored: after a hangup the terminal
/// is gone, and `eprintln!` panics there, before the teardown that follows the line.
fn say(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// Restores the terminal when dropped, so every way out of [`run`] restores it.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// A panic restores the terminal first, then reports through the previous hook (so the
/// message lands on a normal screen).
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
}

fn spawn_named<F: FnOnce() + Send + 'static>(name: &str, f: F) -> Result<(), UiError> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map(|_| ())
        .map_err(UiError::Thread)
}

/// Terminal input into the channel. Blocks in `read`; ends when the receiver is gone.
fn spawn_input(tx: Sender<Message>) -> Result<(), UiError> {
    spawn_named("tui-input", move || loop {
        let msg = match event::read() {
            Ok(Event::Key(k)) => Message::Key(k),
            Ok(Event::Resize(width, height)) => Message::Resize { width, height },
            // Moves and drags do nothing (and would cost a redraw each).
            Ok(Event::Mouse(m))
                if matches!(m.kind, MouseEventKind::Moved | MouseEventKind::Drag(_)) =>
            {
                continue
            }
            Ok(Event::Mouse(m)) => Message::Mouse {
                event: m,
                at: Instant::now(),
            },
            Ok(_) => continue,
            Err(_) => break,
        };
        if tx.send(msg).is_err() {
            break;
        }
    })
}

/// SIGTERM, SIGINT and SIGHUP end the UI cleanly (Ctrl-C in raw mode arrives as a key).
/// Returns once the handlers are in place, so a signal that arrives after the UI is on
/// screen can no longer kill netview with the terminal still raw (it could, under load, when
/// the thread registered them only after the first frame).
fn spawn_signals(tx: Sender<Message>) -> Result<(), UiError> {
    use tokio::signal::unix::{signal, SignalKind};
    let (registered, wait) = mpsc::channel::<()>();
    spawn_named("tui-signals", move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let handlers = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
                signal(SignalKind::hangup()),
            );
            drop(registered);
            let (Ok(mut term), Ok(mut int), Ok(mut hup)) = handlers else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {}
            }
            let _ = tx.send(Message::Terminate);
        });
    })?;
    // Disconnected once they are registered (or the thread gave up).
    let _ = wait.recv();
    Ok(())
}

struct ReadJob {
    netns: Netns,
    all: Vec<Netns>,
}

#[derive(Default)]
struct Jobs {
    /// Reads of changed namespaces (and, at the front, the one on screen).
    urgent: VecDeque<ReadJob>,
    background: VecDeque<ReadJob>,
    closed: bool,
}

/// The readers' job queue, in [`ReadPriority`] order: the namespace on screen first, then
/// changes in the order they came, then the rest.
#[derive(Default)]
struct ReadQueue {
    jobs: Mutex<Jobs>,
    ready: Condvar,
}

impl ReadQueue {
    fn push(&self, job: ReadJob, priority: ReadPriority) {
        if let Ok(mut j) = self.jobs.lock() {
            match priority {
                ReadPriority::OnScreen => j.urgent.push_front(job),
                ReadPriority::Changed => j.urgent.push_back(job),
                ReadPriority::Background => j.background.push_back(job),
            }
            self.ready.notify_one();
        }
    }

    fn prioritise(&self, id: u64) {
        if let Ok(mut j) = self.jobs.lock() {
            let take = |q: &mut VecDeque<ReadJob>| {
                let pos = q.iter().position(|job| job.netns.id == id)?;
                q.remove(pos)
            };
            if let Some(job) = take(&mut j.urgent).or_else(|| take(&mut j.background)) {
                j.urgent.push_front(job);
            }
        }
    }

    /// The next job, waiting for one; `None` once closed.
    fn pop(&self) -> Option<ReadJob> {
        let mut j = self.jobs.lock().ok()?;
        loop {
            if let Some(job) = j.urgent.pop_front().or_else(|| j.background.pop_front()) {
                return Some(job);
            }
            if j.closed {
                return None;
            }
            j = self.ready.wait(j).ok()?;
        }
    }

    fn close(&self) {
        if let Ok(mut j) = self.jobs.lock() {
            j.closed = true;
            j.urgent.clear();
            j.background.clear();
            self.ready.notify_all();
        }
    }
}

/// A few reader threads share one job queue, so a host with many namespaces does not start
/// a thread per namespace at once.
fn spawn_readers(
    source: Arc<dyn InventorySource>,
    tx: Sender<Message>,
) -> Result<Arc<ReadQueue>, UiError> {
    let queue = Arc::new(ReadQueue::default());
    for i in 0..READERS {
        let queue = Arc::clone(&queue);
        let source = Arc::clone(&source);
        let tx = tx.clone();
        spawn_named(&format!("tui-reader-{i}"), move || {
            while let Some(ReadJob { netns, all }) = queue.pop() {
                let result = source.read(&netns, &all).map_err(|e| e.to_string());
                let msg = Message::NamespaceRead {
                    id: netns.id,
                    result,
                };
                if tx.send(msg).is_err() {
                    break;
                }
            }
        })?;
    }
    Ok(queue)
}

/// Executes commands; owns the watcher.
struct Executor {
    source: Arc<dyn InventorySource>,
    tx: Sender<Message>,
    jobs: Arc<ReadQueue>,
    watcher: Option<WatchHandle>,
    /// Follows the container runtimes' events (dropped on quit: stops `podman events`).
    containers: Option<EventFollower>,
    /// The lab `L` builds (the config's lab file, else the built-in lab).
    lab_spec: Arc<LabSpec>,
    /// Each probe's timeout (the config's `[probe] timeout_ms`).
    probe_timeout: Duration,
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Let the reader threads finish.
        self.jobs.close();
    }
}

impl Executor {
    fn execute(&mut self, cmd: Command) -> Result<(), UiError> {
        match cmd {
            Command::ListNamespaces => {
                let source = Arc::clone(&self.source);
                let tx = self.tx.clone();
                spawn_named("tui-list", move || {
                    let _ = tx.send(Message::NamespacesListed(source.namespaces()));
                })?;
            }
            Command::ReadNamespace {
                netns,
                all,
                priority,
            } => {
                self.jobs.push(ReadJob { netns, all }, priority);
            }
            Command::Prioritise(id) => self.jobs.prioritise(id),
            Command::Watch(list) => {
                let tx = self.tx.clone();
                let handle = watch::spawn(
                    &list,
                    Box::new(move |ev| {
                        let _ = tx.send(Message::Watch(ev));
                    }),
                );
                // Should a second one ever be asked for, it runs before the old one stops,
                // so no event is lost between.
                self.watcher = Some(handle);
            }
            Command::FollowContainers => {
                if self.containers.is_none() {
                    self.containers = Some(follow_containers(self.tx.clone())?);
                }
            }
            Command::LoadLab => {
                let tx = self.tx.clone();
                spawn_named("tui-lab-load", move || {
                    load_and_send(&tx, &mut |_| true);
                })?;
            }
            Command::WatchLab => spawn_lab_watcher(self.tx.clone())?,
            Command::Lab(job) => {
                // A cancelled job left the engine's interrupt request set; this one starts
                // afresh. Cleared here, in command order, so a cancel that follows this
                // command is never lost to a job thread that starts late.
                lab::clear_interrupt();
                let tx = self.tx.clone();
                let spec = Arc::clone(&self.lab_spec);
                spawn_ticking("tui-lab-job", tx.clone(), move || {
                    let result = run_lab_job(&job, &spec);
                    // The new state first, so the UI knows the lab before it hears "done".
                    load_and_send(&tx, &mut |_| true);
                    let _ = tx.send(Message::LabJobDone { job, result });
                })?;
            }
            Command::CancelJob => lab::request_interrupt(),
            Command::CheckIpvlan => {
                let tx = self.tx.clone();
                spawn_named("tui-ipvlan", move || {
                    let _ = tx.send(Message::IpvlanSupport(ipvlan_supported()));
                })?;
            }
            Command::RunProbes(job) => {
                let tx = self.tx.clone();
                let timeout = self.probe_timeout;
                spawn_ticking("tui-probes", tx.clone(), move || {
                    let _ = tx.send(Message::ProbesDone(run_probes(*job, timeout, &tx)));
                })?;
            }
            Command::SharedPort(lab, name) => {
                let tx = self.tx.clone();
                spawn_named("tui-shared-port", move || {
                    let _ = tx.send(Message::SharedPort(shared_port(&lab, &name)));
                })?;
            }
            Command::Export(export) => {
                let tx = self.tx.clone();
                spawn_named("tui-export", move || {
                    let _ = tx.send(Message::Exported(write_export(&export)));
                })?;
            }
            Command::Quit => {}
        }
        Ok(())
    }
}

/// Write an export in the current directory, or in netview's state directory where that is
/// refused; the answer is the path, or the error as one line.
fn write_export(export: &crate::ui::export::Export) -> Result<std::path::PathBuf, String> {
    use crate::ui::export;
    let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    let state = export::state_dir(
        std::env::var("XDG_STATE_HOME").ok().as_deref(),
        std::env::var("HOME").ok().as_deref(),
    );
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    export::write(export, &cwd, state.as_deref(), stamp).map_err(|e| e.to_string())
}

/// A burst of runtime events (`docker run` sends create, connect and start) becomes one ask
/// once it has been quiet this long.
const CONTAINER_QUIET: Duration = Duration::from_millis(20);

/// Ask the runtimes now, then again after each burst of their events, on a thread of its
/// own; every answer is a [`Message::ContainersRead`].
fn follow_containers(tx: Sender<Message>) -> Result<EventFollower, UiError> {
    use crate::containers::Runtime;
    use crate::containers::{docker::DockerSource, podman::PodmanSource, PlacedWorld};
    let (ev_tx, ev_rx) = mpsc::channel::<Runtime>();
    let ev_tx = Mutex::new(ev_tx);
    let follower = events::follow(
        &DockerSource::from_env(),
        &PodmanSource::standard(),
        Arc::new(move |rt| {
            if let Ok(t) = ev_tx.lock() {
                let _ = t.send(rt);
            }
        }),
    );
    spawn_named("tui-containers", move || {
        let sources = crate::containers::default_sources();
        let mut placed = PlacedWorld::ask(&sources);
        loop {
            if tx
                .send(Message::ContainersRead(Box::new(placed.clone())))
                .is_err()
            {
                return;
            }
            let Ok(first) = ev_rx.recv() else { return };
            let mut changed = std::collections::BTreeSet::from([first]);
            // A burst ends when quiet, or after a few quiet periods at most.
            let burst_end = std::time::Instant::now() + CONTAINER_QUIET * 5;
            while let Ok(rt) = ev_rx.recv_timeout(CONTAINER_QUIET) {
                changed.insert(rt);
                if std::time::Instant::now() >= burst_end {
                    break;
                }
            }
            // Only the runtimes that changed are asked again.
            placed = placed.refresh(&sources, &changed);
        }
    })?;
    Ok(follower)
}

/// A read of the lab's state: None when no lab is up.
type LabRead = Result<Option<Box<LabState>>, String>;

fn load_lab() -> LabRead {
    Lab::load()
        .map(|o| o.map(|l| Box::new(l.state)))
        .map_err(|e| e.to_string())
}

/// Loads from several threads (the watcher, a finished job) reach the UI in the order they
/// read the file, so an older read never lands after a newer one.
static LAB_LOAD_ORDER: Mutex<()> = Mutex::new(());

/// Read the lab and send it, in read order; `filter` may decline to send (false: the
/// receiver is gone).
fn load_and_send(tx: &Sender<Message>, filter: &mut dyn FnMut(&LabRead) -> bool) -> bool {
    let _order = LAB_LOAD_ORDER.lock();
    let r = load_lab();
    if !filter(&r) {
        return true;
    }
    tx.send(Message::LabLoaded(r)).is_ok()
}

/// Run `f` on a thread, with a tick every 120 ms until it returns (the spinner).
fn spawn_ticking<F: FnOnce() + Send + 'static>(
    name: &str,
    tx: Sender<Message>,
    f: F,
) -> Result<(), UiError> {
    let running = Arc::new(AtomicBool::new(true));
    let ticking = Arc::clone(&running);
    spawn_named(&format!("{name}-tick"), move || {
        while ticking.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(120));
            if ticking.load(Ordering::Relaxed) && tx.send(Message::Tick).is_err() {
                break;
            }
        }
    })?;
    spawn_named(name, move || {
        f();
        running.store(false, Ordering::Relaxed);
    })
}

/// The same engine calls as the CLI's `netview lab ...`.
fn run_lab_job(job: &LabJob, spec: &LabSpec) -> Result<(), String> {
    let r = match job {
        LabJob::Up => lab::up(spec).map(|_| ()),
        LabJob::Down => lab::down(),
        LabJob::Add(cs) => lab::add_many(cs).map(|_| ()),
        LabJob::Remove(names) => lab::remove_many(names),
    };
    r.map_err(|e| e.to_string())
}

/// Asks the kernel in the lab's host (or netview's own namespace) whether it has ipvlan.
fn ipvlan_supported() -> bool {
    use crate::lab::ops::Ops;
    let ns = match Lab::load() {
        Ok(Some(l)) => l.state.host_ns,
        _ => lab::Ns::Current,
    };
    lab::netlink::NetlinkOps::new()
        .ipvlan_supported(&ns)
        .unwrap_or(true)
}

/// Run the cells `update` planned, exactly those (the matrix on screen is laid out from them),
/// predicted over the inventory the UI holds (handed over with the plan, not read again).
fn run_probes(job: ProbeJob, timeout: Duration, tx: &Sender<Message>) -> Result<u64, String> {
    let ProbeJob { plan, inventory } = job;
    let walk = crate::probe::namespaces::walk_world_over(&plan.lab, inventory);
    let (handle, rx) = probe_matrix::spawn_run(
        KernelProber::new(),
        plan.lab,
        plan.cells,
        Some(walk),
        timeout,
    )
    .map_err(|e| e.to_string())?;
    for event in rx {
        let msg = match event {
            probe_matrix::MatrixEvent::Paced(p) => Message::ProbesPaced(p),
            probe_matrix::MatrixEvent::Cell(r) => Message::ProbeCell(r),
        };
        if tx.send(msg).is_err() {
            break;
        }
    }
    match handle.join() {
        Ok(Ok(run)) => Ok(run.elapsed_ms),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the probe thread panicked".into()),
    }
}

/// The post's port-80 point: a listener in the host-mode container takes the host's port.
fn shared_port(lab: &LabState, container: &str) -> Result<String, String> {
    let eps = lab::endpoints(lab);
    let path_of = |name: &str| -> Option<std::path::PathBuf> {
        let e = eps.iter().find(|e| e.name == name)?;
        Some(match &e.stack_netns {
            Some(n) => std::path::PathBuf::from(crate::netns::NETNS_RUN_DIR).join(n),
            None => std::path::PathBuf::from("/proc/self/ns/net"),
        })
    };
    let (Some(c), Some(h)) = (path_of(container), path_of("host")) else {
        return Err(format!("no endpoint {container} or host"));
    };
    let d = demonstrate_shared_port(&c, &h, 80, DEFAULT_TIMEOUT).map_err(|e| e.to_string())?;
    Ok(if d.shared {
        format!(
            "port 80: {container} listens; the host's own bind fails ({}); host → 127.0.0.1:80 reaches {container}: shared",
            d.host_bind_error.unwrap_or_default()
        )
    } else {
        format!(
            "port 80: not shared (host bind: {}, connect: {})",
            d.host_bind_error.as_deref().unwrap_or("ok"),
            d.host_connect
        )
    })
}

/// Watch the lab's state file with inotify on its directory; report every change of
/// generation (and the lab appearing or vanishing). Waits for the directory if it does not
/// exist yet.
fn spawn_lab_watcher(tx: Sender<Message>) -> Result<(), UiError> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    spawn_named("tui-lab-watch", move || {
        let dir = lab::state_dir();
        let mut last: Option<Option<u64>> = None;
        let report = |last: &mut Option<Option<u64>>| -> bool {
            load_and_send(&tx, &mut |r| {
                let gen = r.as_ref().ok().map(|o| o.as_ref().map(|l| l.generation));
                let send = r.is_err() || gen != *last;
                *last = gen;
                send
            })
        };
        loop {
            let watch = Inotify::init(InitFlags::IN_CLOEXEC).and_then(|ino| {
                ino.add_watch(
                    &dir,
                    AddWatchFlags::IN_CLOSE_WRITE
                        | AddWatchFlags::IN_MOVED_TO
                        | AddWatchFlags::IN_DELETE
                        | AddWatchFlags::IN_CREATE
                        | AddWatchFlags::IN_DELETE_SELF,
                )
                .map(|_| ino)
            });
            let Ok(ino) = watch else {
                // No state directory yet: look again soon.
                if !report(&mut last) {
                    return;
                }
                thread::sleep(Duration::from_millis(300));
                continue;
            };
            if !report(&mut last) {
                return;
            }
            while let Ok(evs) = ino.read_events() {
                if !report(&mut last) {
                    return;
                }
                let gone = evs.iter().any(|e| {
                    e.mask
                        .intersects(AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_IGNORED)
                });
                if gone {
                    break;
                }
            }
        }
    })
}

/// What the loop ended with: the final model, how many frames it drew, and the failure that
/// ended it early, if one did.
#[derive(Debug)]
pub struct LoopReport {
    pub model: Model,
    pub draws: usize,
    /// Drawing or starting a worker failed. The model was then ended as by a signal
    /// ([`Message::Terminate`]): a running job asked to stop, the teardown planned.
    pub error: Option<UiError>,
}

fn draw<B: Backend>(terminal: &mut Terminal<B>, model: &Model) -> Result<(), UiError> {
    terminal
        .draw(|f| render::draw(f, model))
        .map(|_| ())
        .map_err(|e| UiError::Backend(e.to_string()))
}

/// The event loop, on any backend: starts the readers, executes `model.start()`, then
/// receives messages until the model quits or every sender is gone. `tx` is the sender
/// the loop's own workers (readers, lister, watcher) use; `rx` its receiving end, which
/// outlives the loop (a job still running when it ends reports there; see [`wait_for_job`]).
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    source: Arc<dyn InventorySource>,
    tx: Sender<Message>,
    rx: &Receiver<Message>,
    mut model: Model,
) -> Result<LoopReport, UiError> {
    let jobs = spawn_readers(Arc::clone(&source), tx.clone())?;
    let mut exec = Executor {
        source,
        tx,
        jobs,
        watcher: None,
        containers: None,
        lab_spec: Arc::new(model.lab_spec.clone().unwrap_or_default()),
        probe_timeout: model.probe.timeout,
    };
    let size = terminal
        .size()
        .map_err(|e| UiError::Backend(e.to_string()))?;
    update(
        &mut model,
        Message::Resize {
            width: size.width,
            height: size.height,
        },
    );
    for cmd in model.start() {
        exec.execute(cmd)?;
    }
    draw(terminal, &model)?;
    let mut draws = 1;
    while let Ok(first) = rx.recv() {
        // Take everything already queued before drawing once: a burst of events costs one
        // redraw.
        let mut redraw = false;
        let mut commands = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            redraw |= changes_screen(&msg);
            commands.extend(update(&mut model, msg));
            next = rx.try_recv().ok();
        }
        // Keep what the session made where the panic path of `run` can find it.
        record_session_teardown(model.bench.teardown.as_ref());
        let mut failed = commands
            .into_iter()
            .map(|cmd| exec.execute(cmd))
            .find_map(Result::err);
        if failed.is_none() && model.quit {
            break;
        }
        if failed.is_none() && redraw {
            match draw(terminal, &model) {
                Ok(()) => draws += 1,
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            // Most often the terminal is gone (a hangup makes every write fail, maybe before
            // SIGHUP is read): end as a signal does, so a running job is still rolled back
            // and what the session made still torn down.
            for cmd in update(&mut model, Message::Terminate) {
                let _ = exec.execute(cmd);
            }
            return Ok(LoopReport {
                model,
                draws,
                error: Some(e),
            });
        }
    }
    Ok(LoopReport {
        model,
        draws,
        error: None,
    })
}

/// Run the TUI until the user quits. The terminal is restored however this returns.
/// What the config file sets for a session: the theme, the keys, the probes' defaults and
/// the lab `L` builds (`None`: the built-in lab).
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub theme: Theme,
    pub keys: KeyMap,
    pub probe: ProbeDefaults,
    pub lab_spec: Option<LabSpec>,
}

pub fn run(
    source: Arc<dyn InventorySource>,
    missing_caps: Vec<Capability>,
    setup: Setup,
    note: Option<String>,
) -> Result<(), UiError> {
    install_panic_hook();
    let (tx, rx) = mpsc::channel();
    // Before the terminal is taken: from the first frame on, a signal restores it.
    spawn_signals(tx.clone())?;
    let _guard = TerminalGuard;
    TERMINAL_TAKEN.store(true, Ordering::SeqCst);
    enable_raw_mode()?;
    execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    terminal.clear()?;

    spawn_input(tx.clone())?;
    let mut model = Model::new(missing_caps, setup.theme);
    model.keys = setup.keys;
    model.probe = setup.probe;
    model.lab_spec = setup.lab_spec;
    model.message = note;
    // Without root, the first screen says what is missing and how to get it without sudo.
    model.privileges_screen = !model.missing_caps.is_empty();
    model.setcap = Some(crate::caps::setcap_line_for_self());
    // Whatever ends the loop (quit, an error, a panic), the terminal comes back first and
    // then what this session made is torn down.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_loop(&mut terminal, source, tx, &rx, model)
    }));
    // Not dropped: ratatui's drop shows the cursor once more (a second restore) and, when
    // that write fails because the terminal hung up, reports it with `eprintln!`, which
    // panics on the dead terminal, outside the catch above, so nothing would be torn down.
    // It holds only a handle to stdout.
    std::mem::forget(terminal);
    restore_terminal();
    match outcome {
        Ok(Ok(report)) => {
            let mut model = report.model;
            if let Some(job) = model.bench.job.clone() {
                say(&if job.can_cancel() {
                    format!(
                        "netview: stopping the lab job, rolling back what it made: {}",
                        job.describe()
                    )
                } else {
                    format!(
                        "netview: waiting for the lab job to finish: {}",
                        job.describe()
                    )
                });
                if !wait_for_job(&mut model, &rx, JOB_STOP_WAIT) {
                    say(&format!(
                        "netview: the lab job did not end within {} s; `sudo netview clean` removes what it left",
                        JOB_STOP_WAIT.as_secs()
                    ));
                    return report.error.map_or(Ok(()), Err);
                }
            }
            if let Some(note) = &model.bench.exit_note {
                say(&format!("netview: {note}"));
            }
            teardown(model.bench.teardown.as_ref().unwrap_or(&Teardown::Nothing));
            report.error.map_or(Ok(()), Err)
        }
        Ok(Err(e)) => {
            teardown(&last_session_teardown());
            Err(e)
        }
        Err(panic) => {
            teardown(&last_session_teardown());
            std::panic::resume_unwind(panic)
        }
    }
}

/// How long netview waits, after the loop ended on a signal, for a running lab job to stop
/// and roll back. The engine stops at its next kernel step and undoes without delays: with
/// `NETVIEW_STEP_DELAY_MS=100`, from a SIGTERM during `L` to netview's exit, world rolled
/// back, took 76-107 ms (3 runs). The bound only matters for a kernel step that hangs.
const JOB_STOP_WAIT: Duration = Duration::from_secs(30);

/// After the loop: wait until the running job (already asked to stop) has ended, feeding its
/// messages (the lab's state, then its result) into the model, so the teardown plan knows
/// what it made. Other messages are dropped: the UI is gone. False if it did not end within
/// `wait`.
pub fn wait_for_job(model: &mut Model, rx: &Receiver<Message>, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    while model.bench.job.is_some() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(msg @ (Message::LabLoaded(_) | Message::LabJobDone { .. })) => {
                update(model, msg);
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    true
}

/// The session's teardown as of the last message the loop handled, for the error and panic
/// paths (the model itself is gone with the loop's stack then).
static SESSION_TEARDOWN: std::sync::Mutex<Option<Teardown>> = std::sync::Mutex::new(None);

fn record_session_teardown(t: Option<&Teardown>) {
    if let Ok(mut slot) = SESSION_TEARDOWN.lock() {
        *slot = t.cloned();
    }
}

fn last_session_teardown() -> Teardown {
    SESSION_TEARDOWN
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .unwrap_or(Teardown::Nothing)
}

/// After the terminal is back: remove what the session made, saying so on stderr.
pub fn teardown(t: &Teardown) {
    let r = match t {
        Teardown::Nothing => return,
        Teardown::Down => {
            say("netview: tearing the lab down (this session brought it up)");
            lab::down()
        }
        Teardown::Remove(names) => {
            say(&format!(
                "netview: removing this session's containers: {}",
                names.join(", ")
            ));
            lab::remove_many(names)
        }
    };
    if let Err(e) = r {
        say(&format!("netview: teardown: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::model::Inventory;
    use crate::netns::NetnsSource;
    use crate::probe::ProbeLab;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    /// The walk's world is the inventory handed over with the plan; each endpoint is found in
    /// it by its namespace file's inode (no namespace is read again), and an endpoint whose
    /// file is gone is left out.
    #[test]
    fn the_walk_world_is_the_handed_inventory_with_endpoints_found_by_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ns-a");
        std::fs::write(&file, b"").unwrap();
        let ino = std::fs::metadata(&file).unwrap().ino();
        let inv_a = crate::inventory::NamespaceInventory::empty("ns-a", ino, NetnsSource::Named);
        let inv_b =
            crate::inventory::NamespaceInventory::empty("ns-b", ino + 1, NetnsSource::Named);
        let mut ns_a = crate::ui::fixture::netns("a", ino, NetnsSource::Named, None);
        ns_a.path = file;
        let mut gone = crate::ui::fixture::netns("gone", ino + 1, NetnsSource::Named, None);
        gone.path = dir.path().join("missing");
        let lab = ProbeLab {
            endpoints: vec![
                crate::probe::namespaces::endpoint_of(&ns_a, &inv_a),
                crate::probe::namespaces::endpoint_of(&gone, &inv_b),
            ],
            facts: Default::default(),
        };
        let inventory = Inventory {
            namespaces: vec![inv_a, inv_b],
            ..Default::default()
        };
        let world = crate::probe::namespaces::walk_world_over(&lab, inventory.clone());
        assert_eq!(world.inventory, inventory);
        assert_eq!(
            world.netns_of,
            [("a".to_string(), "ns-a".to_string())]
                .into_iter()
                .collect()
        );
    }

    fn job(id: u64) -> ReadJob {
        ReadJob {
            netns: crate::ui::fixture::netns(&format!("n{id}"), id, NetnsSource::Named, None),
            all: Vec::new(),
        }
    }

    /// A model whose session is bringing the lab up when a signal arrives.
    fn terminated_during_up() -> Model {
        let mut m = Model::new(Vec::new(), Theme::default());
        let up = KeyEvent::new(KeyCode::Char('L'), KeyModifiers::SHIFT);
        assert_eq!(
            update(&mut m, Message::Key(up)),
            vec![Command::Lab(LabJob::Up)]
        );
        assert_eq!(update(&mut m, Message::Terminate), vec![Command::CancelJob]);
        assert!(m.quit);
        m
    }

    #[test]
    fn after_the_loop_the_job_is_waited_for_and_its_lab_torn_down() {
        let mut m = terminated_during_up();
        let (tx, rx) = mpsc::channel();
        // What the job thread sends (the up had finished before it saw the request), among
        // other traffic, and a key that must not start anything now.
        tx.send(Message::Tick).unwrap();
        tx.send(Message::Key(KeyEvent::new(
            KeyCode::Char('n'),
            KeyModifiers::NONE,
        )))
        .unwrap();
        tx.send(Message::LabLoaded(Ok(Some(Box::new(
            crate::ui::fixture::lab_state(),
        )))))
        .unwrap();
        tx.send(Message::LabJobDone {
            job: LabJob::Up,
            result: Ok(()),
        })
        .unwrap();
        assert!(wait_for_job(&mut m, &rx, Duration::from_secs(60)));
        assert_eq!(m.bench.teardown, Some(Teardown::Down));
        assert_eq!(m.bench.overlay, None, "the n key was not handled");
    }

    #[test]
    fn a_job_that_does_not_end_is_given_up_on() {
        let mut m = terminated_during_up();
        let (_tx, rx) = mpsc::channel();
        assert!(!wait_for_job(&mut m, &rx, Duration::from_millis(1)));
        assert_eq!(
            m.bench.teardown, None,
            "nothing is torn down under a running job"
        );
    }

    #[test]
    fn the_terminal_is_restored_once() {
        TERMINAL_TAKEN.store(true, Ordering::SeqCst);
        let mut first = Vec::new();
        restore_to(&mut first);
        let mut second = Vec::new();
        restore_to(&mut second);
        let leave = b"\x1b[?1049l";
        assert!(
            first.windows(leave.len()).any(|w| w == leave),
            "the first restore leaves the alternate screen: {first:?}"
        );
        // SGR mouse reports off (crossterm's DisableMouseCapture ends with it).
        let no_mouse = b"\x1b[?1006l";
        assert!(
            first.windows(no_mouse.len()).any(|w| w == no_mouse),
            "the first restore stops the mouse reports: {first:?}"
        );
        assert!(second.is_empty(), "the second writes nothing: {second:?}");
    }

    #[test]
    fn the_error_and_panic_paths_know_what_the_session_made() {
        record_session_teardown(Some(&Teardown::Remove(vec!["c1".into()])));
        assert_eq!(last_session_teardown(), Teardown::Remove(vec!["c1".into()]));
        record_session_teardown(None);
        assert_eq!(last_session_teardown(), Teardown::Nothing);
    }

    #[test]
    fn reads_come_in_priority_order() {
        let q = ReadQueue::default();
        q.push(job(1), ReadPriority::Background);
        q.push(job(2), ReadPriority::Background);
        q.push(job(3), ReadPriority::Background);
        q.push(job(4), ReadPriority::Changed);
        q.push(job(5), ReadPriority::Changed);
        q.push(job(6), ReadPriority::OnScreen);
        q.prioritise(2);
        q.prioritise(99); // not queued: nothing happens
        let order: Vec<u64> = std::iter::from_fn(|| {
            let j = q.jobs.lock().unwrap();
            let empty = j.urgent.is_empty() && j.background.is_empty();
            drop(j);
            (!empty).then(|| q.pop().unwrap().netns.id)
        })
        .collect();
        // Prioritised, on screen, changes first-come-first-served, then the rest.
        assert_eq!(order, vec![2, 6, 4, 5, 1, 3]);
        q.close();
        assert!(q.pop().is_none(), "a closed queue ends the readers");
    }
}
