//! Live updates: netlink multicast events from every namespace, and namespaces appearing or
//! vanishing.
//!
//! One thread per namespace enters it and listens on a netlink socket subscribed to the link,
//! address, route and neighbour groups; a burst of messages becomes one [`WatchEvent::Changed`]
//! after a short quiet period. A supervisor thread notices namespaces that appear or vanish:
//! at once for named ones (inotify on /run/netns), and within a second for ones held only by
//! processes (a scan of /proc; the kernel has no event for those short of the proc
//! connector). A watcher of a vanished namespace is stopped at once, because its socket would
//! otherwise keep the namespace, and every link inside it, alive.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use rtnetlink::MulticastGroup;

use crate::netns::{self, Netns, NETNS_RUN_DIR};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEvent {
    /// Something in the namespace with this inode changed (link, address, route, neighbour).
    Changed(u64),
    /// A namespace appeared or vanished; re-list them.
    NamespacesChanged,
}

/// Where the watcher delivers events (called from the watcher's own threads).
pub type EventSink = Box<dyn Fn(WatchEvent) + Send + Sync + 'static>;

/// How long a namespace must be quiet before a burst of netlink messages is reported. Short
/// enough that a change shows well within 100 ms, long enough that `ip link add` (several
/// messages) gives one event.
const QUIET: Duration = Duration::from_millis(15);
/// A burst is reported after this long even if it has not ended.
const MAX_BATCH: Duration = Duration::from_millis(60);
/// How often namespaces held only by processes are looked for.
const PROC_SCAN: Duration = Duration::from_millis(1000);

const GROUPS: &[MulticastGroup] = &[
    MulticastGroup::Link,
    MulticastGroup::Ipv4Ifaddr,
    MulticastGroup::Ipv6Ifaddr,
    MulticastGroup::Ipv4Route,
    MulticastGroup::Ipv6Route,
    MulticastGroup::Neigh,
];

/// A running watcher. Dropping it stops every thread it started.
pub struct WatchHandle {
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<Watchers>>,
}

impl WatchHandle {
    /// The inodes of the namespaces being watched now.
    pub fn watched(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .state
            .lock()
            .map(|s| s.by_id.keys().copied().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut s) = self.state.lock() {
            s.by_id.clear();
        }
    }
}

/// The per-namespace watcher threads, by namespace inode. Dropping a sender stops its thread.
#[derive(Default)]
struct Watchers {
    by_id: HashMap<u64, tokio::sync::oneshot::Sender<()>>,
}

fn start_one(ns: &Netns, sink: Arc<EventSink>) -> Option<tokio::sync::oneshot::Sender<()>> {
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let id = ns.id;
    let spawned = netns::spawn_in(&ns.name, &ns.path, move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let Ok((conn, _handle, mut messages)) = rtnetlink::new_multicast_connection(GROUPS)
            else {
                return;
            };
            tokio::spawn(conn);
            // Whatever changed between the caller's first read and this subscription would
            // otherwise go unreported: say once that the namespace may have changed.
            sink(WatchEvent::Changed(id));
            loop {
                tokio::select! {
                    _ = &mut rx => return,
                    msg = messages.next() => {
                        if msg.is_none() { return; }
                        // Coalesce the burst this message starts.
                        let batch_end = tokio::time::Instant::now() + MAX_BATCH;
                        loop {
                            let quiet_end = (tokio::time::Instant::now() + QUIET).min(batch_end);
                            tokio::select! {
                                _ = &mut rx => return,
                                _ = tokio::time::sleep_until(quiet_end) => break,
                                more = messages.next() => if more.is_none() { break },
                            }
                        }
                        sink(WatchEvent::Changed(id));
                    }
                }
            }
        });
    });
    spawned.ok().map(|_| tx)
}

/// Bring the set of watcher threads in line with `namespaces`. Returns whether it changed.
fn reconcile(state: &Mutex<Watchers>, namespaces: &[Netns], sink: &Arc<EventSink>) -> bool {
    let Ok(mut s) = state.lock() else {
        return false;
    };
    let before = s.by_id.len();
    let wanted: HashMap<u64, &Netns> = namespaces.iter().map(|n| (n.id, n)).collect();
    s.by_id.retain(|id, _| wanted.contains_key(id));
    let removed = before != s.by_id.len();
    let mut added = false;
    for (id, ns) in wanted {
        if let std::collections::hash_map::Entry::Vacant(e) = s.by_id.entry(id) {
            if let Some(tx) = start_one(ns, sink.clone()) {
                e.insert(tx);
                added = true;
            }
        }
    }
    removed || added
}

/// Watch every namespace in `namespaces` for netlink events (link, address, route, neighbour
/// groups) and keep watching the namespaces that appear later; deliver events to `sink`.
pub fn spawn(namespaces: &[Netns], sink: EventSink) -> WatchHandle {
    let sink = Arc::new(sink);
    let stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(Mutex::new(Watchers::default()));
    reconcile(&state, namespaces, &sink);

    let (stop2, state2) = (stop.clone(), state.clone());
    let _ = std::thread::Builder::new()
        .name("netns-supervisor".into())
        .spawn(move || supervise(stop2, state2, sink));
    WatchHandle { stop, state }
}

fn supervise(stop: Arc<AtomicBool>, state: Arc<Mutex<Watchers>>, sink: Arc<EventSink>) {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok();
    let mut watching_dir = false;
    let tick = Duration::from_millis(50);
    let mut since_scan = Duration::ZERO;
    // `ip netns add` creates the file, then mounts the namespace on it: look again shortly
    // after a named event, as the mount itself gives no inotify event.
    let mut rescans_left = 0u8;
    let mut last_names: Vec<(u64, String)> = netns::discover()
        .into_iter()
        .map(|n| (n.id, n.name))
        .collect();
    while !stop.load(Ordering::SeqCst) {
        if let (Some(ino), false) = (&inotify, watching_dir) {
            watching_dir = ino
                .add_watch(
                    NETNS_RUN_DIR,
                    AddWatchFlags::IN_CREATE
                        | AddWatchFlags::IN_DELETE
                        | AddWatchFlags::IN_MOVED_FROM
                        | AddWatchFlags::IN_MOVED_TO
                        | AddWatchFlags::IN_DELETE_SELF,
                )
                .is_ok();
        }
        let mut named_event = false;
        if let (Some(ino), true) = (&inotify, watching_dir) {
            let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
            let ready = poll(
                &mut fds,
                PollTimeout::try_from(tick).unwrap_or(PollTimeout::MAX),
            )
            .unwrap_or(0);
            if ready > 0 {
                if let Ok(events) = ino.read_events() {
                    named_event = !events.is_empty();
                    if events
                        .iter()
                        .any(|e| e.mask.contains(AddWatchFlags::IN_DELETE_SELF))
                    {
                        watching_dir = false;
                    }
                }
            }
        } else {
            std::thread::sleep(tick);
        }
        since_scan += tick;
        if named_event {
            rescans_left = 3;
        }
        let rescan = rescans_left > 0;
        if rescan && !named_event {
            rescans_left -= 1;
        }
        if named_event || rescan || since_scan >= PROC_SCAN {
            since_scan = Duration::ZERO;
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let all = netns::discover();
            // Report only a real change: `ip netns add` creates the file (an inotify event)
            // before the namespace is mounted on it, and the listing must show the namespace.
            let names: Vec<(u64, String)> = all.iter().map(|n| (n.id, n.name.clone())).collect();
            let watchers_changed = reconcile(&state, &all, &sink);
            if watchers_changed || names != last_names {
                sink(WatchEvent::NamespacesChanged);
            }
            last_names = names;
        }
    }
}
