//! The TUI's runtime: sets the terminal up (and restores it on quit, error, signal or panic),
//! runs the event loop, and executes [`Command`]s on background threads.
//!
//! Every source of events sends [`Message`]s into one channel: a thread blocked on terminal
//! input, the watcher's threads, the namespace readers and a signal thread. The loop blocks
//! on that channel and redraws only after a message that can change the screen; nothing
//! redraws on a timer.

use std::collections::VecDeque;
use std::io::{self, stdout};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::crossterm::cursor;
use ratatui::crossterm::event::{self, Event};
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
use std::time::Duration;

use crate::lab::state::LabState;
use crate::lab::{self, Lab, LabSpec};
use crate::probe::kernel::KernelProber;
use crate::probe::matrix::{self as probe_matrix, PlanOptions};
use crate::probe::tcp::demonstrate_shared_port;
use crate::probe::{from_lab, DEFAULT_TIMEOUT};
use crate::ui::app::{changes_screen, update, Command, Message, Model, ReadPriority};
use crate::ui::labui::{LabJob, Teardown};
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

/// Leave raw mode and the alternate screen, show the cursor. Safe to call twice.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, cursor::Show);
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
            Ok(_) => continue,
            Err(_) => break,
        };
        if tx.send(msg).is_err() {
            break;
        }
    })
}

/// SIGTERM, SIGINT and SIGHUP end the UI cleanly (Ctrl-C in raw mode arrives as a key).
fn spawn_signals(tx: Sender<Message>) -> Result<(), UiError> {
    use tokio::signal::unix::{signal, SignalKind};
    spawn_named("tui-signals", move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {}
            }
            let _ = tx.send(Message::Terminate);
        });
    })
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
                let tx = self.tx.clone();
                spawn_ticking("tui-lab-job", tx.clone(), move || {
                    let result = run_lab_job(&job);
                    // The new state first, so the UI knows the lab before it hears "done".
                    load_and_send(&tx, &mut |_| true);
                    let _ = tx.send(Message::LabJobDone { job, result });
                })?;
            }
            Command::CheckIpvlan => {
                let tx = self.tx.clone();
                spawn_named("tui-ipvlan", move || {
                    let _ = tx.send(Message::IpvlanSupport(ipvlan_supported()));
                })?;
            }
            Command::RunProbes(lab) => {
                let tx = self.tx.clone();
                spawn_ticking("tui-probes", tx.clone(), move || {
                    let _ = tx.send(Message::ProbesDone(run_probes(*lab, &tx)));
                })?;
            }
            Command::SharedPort(lab, name) => {
                let tx = self.tx.clone();
                spawn_named("tui-shared-port", move || {
                    let _ = tx.send(Message::SharedPort(shared_port(&lab, &name)));
                })?;
            }
            Command::Quit => {}
        }
        Ok(())
    }
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
fn run_lab_job(job: &LabJob) -> Result<(), String> {
    let r = match job {
        LabJob::Up => lab::up(&LabSpec::default()).map(|_| ()),
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

fn run_probes(lab: LabState, tx: &Sender<Message>) -> Result<u64, String> {
    let plab = from_lab::probe_lab(&Lab { state: lab });
    let cells = probe_matrix::plan(&plab, &PlanOptions::default()).map_err(|e| e.to_string())?;
    let (handle, rx) = probe_matrix::spawn_run(KernelProber::new(), plab, cells, DEFAULT_TIMEOUT)
        .map_err(|e| e.to_string())?;
    for r in rx {
        if tx.send(Message::ProbeCell(r)).is_err() {
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

/// What the loop ended with: the final model and how many frames it drew.
#[derive(Debug)]
pub struct LoopReport {
    pub model: Model,
    pub draws: usize,
}

fn draw<B: Backend>(terminal: &mut Terminal<B>, model: &Model) -> Result<(), UiError> {
    terminal
        .draw(|f| render::draw(f, model))
        .map(|_| ())
        .map_err(|e| UiError::Backend(e.to_string()))
}

/// The event loop, on any backend: starts the readers, executes `model.start()`, then
/// receives messages until the model quits or every sender is gone. `tx` is the sender
/// the loop's own workers (readers, lister, watcher) use; `rx` its receiving end.
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    source: Arc<dyn InventorySource>,
    tx: Sender<Message>,
    rx: Receiver<Message>,
    mut model: Model,
) -> Result<LoopReport, UiError> {
    let jobs = spawn_readers(Arc::clone(&source), tx.clone())?;
    let mut exec = Executor {
        source,
        tx,
        jobs,
        watcher: None,
        containers: None,
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
        // Keep what the session made where the panic and error paths of `run` can find it.
        record_session_teardown(model.bench.teardown.as_ref());
        for cmd in commands {
            exec.execute(cmd)?;
        }
        if model.quit {
            break;
        }
        if redraw {
            draw(terminal, &model)?;
            draws += 1;
        }
    }
    Ok(LoopReport { model, draws })
}

/// Run the TUI until the user quits. The terminal is restored however this returns.
pub fn run(
    source: Arc<dyn InventorySource>,
    missing_caps: Vec<Capability>,
    theme: Theme,
    note: Option<String>,
) -> Result<(), UiError> {
    install_panic_hook();
    let _guard = TerminalGuard;
    enable_raw_mode()?;
    execute!(stdout(), EnterAlternateScreen)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    terminal.clear()?;

    let (tx, rx) = mpsc::channel();
    spawn_input(tx.clone())?;
    spawn_signals(tx.clone())?;
    let mut model = Model::new(missing_caps, theme);
    model.message = note;
    // Whatever ends the loop (quit, an error, a panic), the terminal comes back first and
    // then what this session made is torn down.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_loop(&mut terminal, source, tx, rx, model)
    }));
    drop(terminal);
    restore_terminal();
    match outcome {
        Ok(Ok(report)) => {
            teardown(
                report
                    .model
                    .bench
                    .teardown
                    .as_ref()
                    .unwrap_or(&Teardown::Nothing),
            );
            Ok(())
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
            eprintln!("netview: tearing the lab down (this session brought it up)");
            lab::down()
        }
        Teardown::Remove(names) => {
            eprintln!(
                "netview: removing this session's containers: {}",
                names.join(", ")
            );
            lab::remove_many(names)
        }
    };
    if let Err(e) = r {
        eprintln!("netview: teardown: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::NetnsSource;

    fn job(id: u64) -> ReadJob {
        ReadJob {
            netns: crate::ui::fixture::netns(&format!("n{id}"), id, NetnsSource::Named, None),
            all: Vec::new(),
        }
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
