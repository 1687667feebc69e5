//! Live updates: netlink multicast events from every namespace, and namespaces appearing or
//! vanishing.
//!
//! One watcher thread serves every namespace. A netlink socket subscribed to the link,
//! address, route and neighbour groups is opened inside each namespace by the bounded
//! namespace pool ([`netns::pool`]); a socket stays bound to its namespace after the thread
//! that opened it leaves, so the watcher itself never enters one and just polls all the
//! sockets (200 namespaces were 200 threads, each with its own tokio runtime). A burst of
//! messages becomes one [`WatchEvent::Changed`] after a short quiet period. The same thread
//! notices namespaces that appear or vanish: at once for named ones (inotify on /run/netns),
//! and within a second for ones held only by processes (a scan of /proc; the kernel has no
//! event for those short of the proc connector). The socket of a vanished namespace is
//! closed at once, because it would otherwise keep the namespace, and every link inside it,
//! alive. Idle, the thread sleeps in `poll` and wakes once a second for the /proc scan.

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::netns::{self, pool, Netns, NETNS_RUN_DIR};

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
/// `ip netns add` creates the file, then mounts the namespace on it, and the mount gives no
/// inotify event: after a named event, look again this often, this many times.
const RESCAN_AFTER_NAMED: Duration = Duration::from_millis(50);
const RESCANS: u8 = 3;

/// The multicast groups watched: links, IPv4/IPv6 addresses and routes, neighbours.
const GROUPS: u32 = (libc::RTMGRP_LINK
    | libc::RTMGRP_IPV4_IFADDR
    | libc::RTMGRP_IPV6_IFADDR
    | libc::RTMGRP_IPV4_ROUTE
    | libc::RTMGRP_IPV6_ROUTE
    | libc::RTMGRP_NEIGH) as u32;

/// A running watcher. Dropping it stops its thread and closes every socket.
pub struct WatchHandle {
    /// Dropping (or writing to) this end wakes the watcher thread to stop.
    stop: Option<UnixStream>,
    watched: Arc<Mutex<Vec<u64>>>,
}

impl WatchHandle {
    /// The inodes of the namespaces being watched now.
    pub fn watched(&self) -> Vec<u64> {
        let mut ids = self.watched.lock().map(|w| w.clone()).unwrap_or_default();
        ids.sort_unstable();
        ids
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        if let Some(mut stop) = self.stop.take() {
            let _ = stop.write_all(&[1]);
        }
        if let Ok(mut w) = self.watched.lock() {
            w.clear();
        }
    }
}

/// One watched namespace: its socket and the burst being coalesced, if any.
struct Watched {
    socket: Socket,
    /// When the current burst started and when its last message came.
    burst: Option<(Instant, Instant)>,
}

/// Open a socket subscribed to [`GROUPS`] in the calling thread's namespace.
fn open_multicast() -> std::io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind(&SocketAddr::new(0, GROUPS))?;
    socket.set_non_blocking(true)?;
    // A burst (a lab of 200 containers coming up) must not overflow before it is drained.
    let _ = socket.set_rx_buf_sz(1024 * 1024);
    Ok(socket)
}

/// Open a watching socket in each of `namespaces` on the namespace pool; a namespace that
/// cannot be entered (it vanished meanwhile) is left out.
fn open_all(namespaces: &[&Netns]) -> Vec<(u64, Socket)> {
    let targets: Vec<pool::Target> = namespaces
        .iter()
        .map(|n| pool::Target {
            label: &n.name,
            path: &n.path,
        })
        .collect();
    pool::for_each_in(pool::default_threads(), &targets, |_| open_multicast())
        .into_iter()
        .zip(namespaces)
        .filter_map(|(r, n)| match r {
            Ok(Ok(socket)) => Some((n.id, socket)),
            _ => None,
        })
        .collect()
}

/// Read everything queued on `socket` without blocking. Returns whether anything came (an
/// overflow, ENOBUFS, counts: events were lost, so something changed).
fn drain(socket: &Socket, buf: &mut Vec<u8>) -> bool {
    let mut got = false;
    loop {
        buf.clear();
        match socket.recv(buf, libc::MSG_DONTWAIT) {
            Ok(0) => return got,
            Ok(_) => got = true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return got,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// The watcher thread's state.
struct Watcher {
    by_id: HashMap<u64, Watched>,
    watched: Arc<Mutex<Vec<u64>>>,
    sink: EventSink,
    last_names: Vec<(u64, String)>,
}

impl Watcher {
    fn publish(&self) {
        if let Ok(mut w) = self.watched.lock() {
            *w = self.by_id.keys().copied().collect();
        }
    }

    /// Start watching `opened`; whatever changed between the caller's first read and the
    /// subscription would otherwise go unreported, so each says once that it may have changed.
    fn add(&mut self, opened: Vec<(u64, Socket)>) {
        for (id, socket) in opened {
            self.by_id.insert(
                id,
                Watched {
                    socket,
                    burst: None,
                },
            );
            (self.sink)(WatchEvent::Changed(id));
        }
    }

    /// Bring the set of sockets in line with the namespaces there are now, and report a
    /// change of the list.
    fn rescan(&mut self) {
        let all = netns::discover();
        let before = self.by_id.len();
        self.by_id.retain(|id, _| all.iter().any(|n| n.id == *id));
        let removed = before != self.by_id.len();
        let new: Vec<&Netns> = all
            .iter()
            .filter(|n| !self.by_id.contains_key(&n.id))
            .collect();
        let opened = if new.is_empty() {
            Vec::new()
        } else {
            open_all(&new)
        };
        let added = !opened.is_empty();
        self.add(opened);
        self.publish();
        // Report only a real change: `ip netns add` creates the file (an inotify event)
        // before the namespace is mounted on it, and the listing must show the namespace.
        let names: Vec<(u64, String)> = all.iter().map(|n| (n.id, n.name.clone())).collect();
        if removed || added || names != self.last_names {
            (self.sink)(WatchEvent::NamespacesChanged);
        }
        self.last_names = names;
    }

    /// Report the bursts that are over (quiet long enough, or long enough in total); return
    /// when the next one will be due.
    fn flush(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for (id, w) in &mut self.by_id {
            if let Some((first, last)) = w.burst {
                let due = (last + QUIET).min(first + MAX_BATCH);
                if now >= due {
                    w.burst = None;
                    (self.sink)(WatchEvent::Changed(*id));
                } else {
                    next = Some(next.map_or(due, |n| n.min(due)));
                }
            }
        }
        next
    }
}

/// Watch every namespace in `namespaces` for netlink events (link, address, route, neighbour
/// groups) and keep watching the namespaces that appear later; deliver events to `sink`.
pub fn spawn(namespaces: &[Netns], sink: EventSink) -> WatchHandle {
    let watched = Arc::new(Mutex::new(Vec::new()));
    let mut watcher = Watcher {
        by_id: HashMap::new(),
        watched: watched.clone(),
        sink,
        last_names: netns::discover()
            .into_iter()
            .map(|n| (n.id, n.name))
            .collect(),
    };
    let refs: Vec<&Netns> = namespaces.iter().collect();
    let opened = open_all(&refs);
    for (id, socket) in opened {
        watcher.by_id.insert(
            id,
            Watched {
                socket,
                burst: None,
            },
        );
    }
    watcher.publish();
    let Ok((stop, stop_rx)) = UnixStream::pair() else {
        return WatchHandle {
            stop: None,
            watched,
        };
    };
    let started = std::thread::Builder::new()
        .name("netns-watch".into())
        .spawn(move || {
            let ids: Vec<u64> = watcher.by_id.keys().copied().collect();
            for id in ids {
                (watcher.sink)(WatchEvent::Changed(id));
            }
            run(watcher, stop_rx)
        });
    WatchHandle {
        stop: started.ok().map(|_| stop),
        watched,
    }
}

fn run(mut watcher: Watcher, stop: UnixStream) {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok();
    let mut watching_dir = false;
    let mut next_scan = Instant::now() + PROC_SCAN;
    let mut rescans_left = 0u8;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut next_flush: Option<Instant> = None;
    loop {
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
        let now = Instant::now();
        let wake = next_flush.map_or(next_scan, |f| f.min(next_scan));
        let timeout =
            PollTimeout::try_from(wake.saturating_duration_since(now)).unwrap_or(PollTimeout::MAX);
        // Order of the poll set: the stop socket, then inotify (when watching), then one
        // socket per namespace in `ids` order.
        let ids: Vec<u64> = watcher.by_id.keys().copied().collect();
        let (stop_ready, named_event, ready) = {
            let mut fds = vec![PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
            let ino = inotify.as_ref().filter(|_| watching_dir);
            if let Some(ino) = ino {
                fds.push(PollFd::new(ino.as_fd(), PollFlags::POLLIN));
            }
            let first_socket = fds.len();
            for id in &ids {
                fds.push(PollFd::new(
                    watcher.by_id[id].socket.as_fd(),
                    PollFlags::POLLIN,
                ));
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                // Should poll itself fail, do not spin: wait as long as a quiet spell.
                Err(_) => std::thread::sleep(QUIET),
            }
            let is_ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            let stop_ready = is_ready(&fds[0]);
            let inotify_ready = ino.is_some() && is_ready(&fds[1]);
            let ready: Vec<bool> = fds[first_socket..].iter().map(is_ready).collect();
            (stop_ready, inotify_ready, ready)
        };
        if stop_ready {
            return;
        }
        let mut named = false;
        if named_event {
            if let Some(ino) = &inotify {
                if let Ok(events) = ino.read_events() {
                    named = !events.is_empty();
                    if events
                        .iter()
                        .any(|e| e.mask.contains(AddWatchFlags::IN_DELETE_SELF))
                    {
                        watching_dir = false;
                    }
                }
            }
        }
        let now = Instant::now();
        for (id, is_ready) in ids.iter().zip(ready) {
            if !is_ready {
                continue;
            }
            if let Some(w) = watcher.by_id.get_mut(id) {
                if drain(&w.socket, &mut buf) {
                    let first = w.burst.map_or(now, |(first, _)| first);
                    w.burst = Some((first, now));
                }
            }
        }
        next_flush = watcher.flush(Instant::now());
        if named {
            rescans_left = RESCANS;
        }
        let now = Instant::now();
        if named || now >= next_scan {
            watcher.rescan();
            next_scan = now
                + if rescans_left > 0 {
                    rescans_left -= 1;
                    RESCAN_AFTER_NAMED
                } else {
                    PROC_SCAN
                };
        }
    }
}
