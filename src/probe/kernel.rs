//! The real [`Prober`]: sockets opened inside the endpoints' namespaces, all read by one poll
//! loop.
//!
//! A socket belongs to the namespace it was opened in, wherever it is used from afterwards.
//! So the namespace threads only open sockets (on the bounded pool of [`netns::pool`], a few
//! threads entering one namespace after another), and one thread, the caller's, sends the
//! probes of a batch and waits for every answer with a single `epoll` ([`mio`]); a large batch's
//! echo requests go out from a second thread at the same time (`send_on_two_threads`):
//! - one raw ICMP socket per namespace for the whole run: it sends that namespace's echo
//!   requests, reads their replies and errors, and records the requests of others arriving
//!   there ("seen as");
//! - one AF_PACKET socket per source interface for the whole run, asking who-has from it; a
//!   socket filter keeps only the ARP replies addressed to it, so the lab's broadcasts are
//!   dropped in the kernel instead of queueing on every socket;
//! - per batch, one non-blocking TCP connect per TCP probe, started in its source's namespace.
//!
//! Measured with a 200-container lab (`scripts/bench-probe 200`): the thread-per-source runner
//! this replaces started about 600 threads per batch (24 batches). [`super::inflight`] turns
//! what the sockets read into each probe's observation (pure, unit-tested).
//!
//! [`netns::pool`]: crate::netns::pool

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::arp::ArpSocket;
use super::icmp::{IcmpEvent, IcmpSocket};
use super::inflight::InFlight;
use super::matrix::{PlannedProbe, Prober, RunPlan, SourceProbes};
use super::route::on_link_routes_current_thread;
use super::tcp::{start_connect, ConnectStart, TcpConnect};
use super::topology::ProbeEndpoint;
use super::{Observation, ProbeError, ProbeKind, ProbeOutcome};
use crate::netns::pool::{self, Target};

/// A namespace file's identity: the host and a host-mode container share one namespace, so
/// they share one ICMP socket.
type NsKey = (u64, u64);

fn ns_key(path: &Path) -> Option<NsKey> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The poll loop's tokens: ICMP sockets from 0, ARP sockets and a batch's TCP connects above.
const ARP_TOKENS: usize = 1 << 40;
const TCP_TOKENS: usize = 1 << 41;

/// How many probes are sent between two looks at the sockets: answers are read while the
/// rest of the batch is still being sent, so they do not wait behind the whole batch.
const SENDS_BETWEEN_READS: usize = 64;

/// A batch with at least this many echo requests and as many who-has is sent from two
/// threads ([`send_on_two_threads`]); a smaller one is not worth a thread.
const TWO_SENDERS_FROM: usize = 256;

/// Probes with sockets inside the endpoints' namespaces.
pub struct KernelProber {
    /// How long an echo reply waits for its request's sighting at the target (the target's
    /// socket may be read just after the source's).
    seen_as_grace: Duration,
    run: Mutex<Option<(Poll, Run)>>,
}

impl Default for KernelProber {
    fn default() -> Self {
        KernelProber {
            seen_as_grace: Duration::from_millis(100),
            run: Mutex::new(None),
        }
    }
}

impl KernelProber {
    pub fn new() -> Self {
        KernelProber::default()
    }
}

/// What one run keeps from `begin` to `end`.
struct Run {
    echo: Echoes,
    arp: Vec<ArpSocket>,
    /// (source, target) -> the ARP socket that asks it (an index into `arp`), or why none.
    arp_for: HashMap<(String, Ipv4Addr), Result<usize, String>>,
}

fn failed(why: &str) -> Observation {
    Observation::outcome(ProbeOutcome::SendFailed(why.to_string()))
}

/// The run's ICMP side: what a thread sending echo requests needs (shared with the thread that
/// reads their answers; ARP's sockets, pnet's, cannot be shared).
struct Echoes {
    /// Namespace -> its ICMP socket (an index into `icmp`), or why it could not be opened.
    icmp_of: HashMap<NsKey, Result<usize, String>>,
    icmp: Vec<IcmpSocket>,
    /// Each endpoint's namespace, by its file.
    key_of: HashMap<PathBuf, Option<NsKey>>,
    /// Addresses held by an ICMP target whose namespace is read (a reply to them waits for
    /// the sighting).
    listened: HashSet<IpAddr>,
}

impl Echoes {
    /// The ICMP socket of `source`'s namespace, or why there is none.
    fn socket_of(&self, source: &ProbeEndpoint) -> Result<&IcmpSocket, &str> {
        let key = self.key_of.get(&source.netns_path).copied().flatten();
        match key.and_then(|k| self.icmp_of.get(&k)) {
            Some(Ok(i)) => Ok(&self.icmp[*i]),
            Some(Err(why)) => Err(why),
            None => Err("cannot open the source's namespace"),
        }
    }

    /// Send probe `p`'s echo request from `source`'s namespace. The time is taken before the
    /// send, as ping takes it: the send itself may resolve the target's MAC.
    fn send(&self, source: &ProbeEndpoint, p: &PlannedProbe) -> EchoSend {
        let sock = match self.socket_of(source) {
            Ok(sock) => sock,
            Err(why) => return EchoSend::Finished(p.token, failed(why)),
        };
        let IpAddr::V4(dst) = p.target else {
            return EchoSend::Finished(p.token, failed("IPv6 targets are not supported"));
        };
        let at = Instant::now();
        match sock.send_echo(dst, p.icmp_id, p.icmp_seq) {
            Ok(()) => EchoSend::Sent {
                token: p.token,
                id: p.icmp_id,
                seq: p.icmp_seq,
                at,
                listened: self.listened.contains(&p.target),
            },
            Err(e) => EchoSend::Finished(
                p.token,
                Observation::outcome(ProbeOutcome::from_send_error(&e)),
            ),
        }
    }
}

/// One echo request's send, as the thread that sent it tells [`InFlight`].
enum EchoSend {
    Sent {
        token: usize,
        id: u16,
        seq: u16,
        at: Instant,
        listened: bool,
    },
    Finished(usize, Observation),
}

impl EchoSend {
    fn record(self, flight: &mut InFlight) {
        match self {
            EchoSend::Sent {
                token,
                id,
                seq,
                at,
                listened,
            } => flight.echo_sent(token, id, seq, at, listened),
            EchoSend::Finished(token, obs) => flight.finished(token, obs),
        }
    }
}

/// One source's ARP sockets, opened inside its namespace: for each target the interface and
/// source address the kernel would use (`ip route get`; the endpoint's own prefixes when the
/// kernel has no on-link route), one socket per interface.
struct SourceArp {
    sockets: Vec<ArpSocket>,
    /// target -> an index into `sockets`, or why it cannot be asked.
    asks: Vec<(Ipv4Addr, Result<usize, String>)>,
}

fn open_arp_in_namespace(source: &ProbeEndpoint, targets: &[IpAddr]) -> SourceArp {
    let routes = on_link_routes_current_thread(targets);
    let mut out = SourceArp {
        sockets: Vec::new(),
        asks: Vec::new(),
    };
    let mut by_iface: BTreeMap<(String, Ipv4Addr), Result<usize, String>> = BTreeMap::new();
    for &t in targets {
        let IpAddr::V4(target) = t else { continue };
        let from = routes
            .get(&t)
            .map(|r| (r.ifname.clone(), r.src))
            .or_else(|| {
                source.arp_interface_for(t).and_then(|a| match a.ip {
                    IpAddr::V4(ip) => Some((a.ifname.clone(), ip)),
                    IpAddr::V6(_) => None,
                })
            });
        let Some(iface) = from else {
            out.asks
                .push((target, Err("not an on-link IPv4 target".to_string())));
            continue;
        };
        let sock = by_iface
            .entry(iface)
            .or_insert_with_key(|(ifname, src)| match ArpSocket::open(ifname, *src) {
                Ok(s) => {
                    out.sockets.push(s);
                    Ok(out.sockets.len() - 1)
                }
                Err(e) => Err(e.to_string()),
            })
            .clone();
        out.asks.push((target, sock));
    }
    out
}

/// Let this process hold as many descriptors as its hard limit allows: a large matrix holds
/// one ICMP socket per namespace, one ARP socket per source interface and, in a batch, one per
/// TCP connect (the soft limit is often 1,024). A process limit, not a host setting.
fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let want = hard.min(1 << 20);
        if soft < want {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, want, hard);
        }
    }
}

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> ProbeError + '_ {
    move |source| ProbeError::Io {
        what: what.to_string(),
        source,
    }
}

impl Prober for KernelProber {
    fn begin(&self, plan: &RunPlan<'_>) -> Result<(), ProbeError> {
        let began = Instant::now();
        raise_descriptor_limit();
        let poll = Poll::new().map_err(io_error("cannot create the probes' poll"))?;
        let mut key_of: HashMap<PathBuf, Option<NsKey>> = HashMap::new();
        // One ICMP socket per namespace, the sources' and the targets' alike.
        let mut unique: BTreeMap<NsKey, (&str, &Path)> = BTreeMap::new();
        let endpoints = plan
            .sources
            .iter()
            .map(|(e, _)| *e)
            .chain(plan.icmp_targets.iter().copied());
        for e in endpoints {
            let key = *key_of
                .entry(e.netns_path.clone())
                .or_insert_with(|| ns_key(&e.netns_path));
            if let Some(k) = key {
                unique.entry(k).or_insert((&e.name, &e.netns_path));
            }
        }
        let keys: Vec<NsKey> = unique.keys().copied().collect();
        let targets: Vec<Target> = unique
            .values()
            .map(|&(label, path)| Target { label, path })
            .collect();
        let opened = pool::for_each_in(pool::default_threads(), &targets, |_| IcmpSocket::open());
        let mut icmp = Vec::new();
        let mut icmp_of = HashMap::new();
        for (key, got) in keys.into_iter().zip(opened) {
            let entry = match got {
                Ok(Ok(sock)) => {
                    let token = Token(icmp.len());
                    match register(poll.registry(), sock.raw_fd(), token, Interest::READABLE) {
                        Ok(()) => {
                            icmp.push(sock);
                            Ok(token.0)
                        }
                        Err(e) => Err(format!("raw ICMP socket: {e}")),
                    }
                }
                Ok(Err(e)) => Err(format!("raw ICMP socket: {e}")),
                Err(e) => Err(e.to_string()),
            };
            icmp_of.insert(key, entry);
        }
        let listened = plan
            .icmp_targets
            .iter()
            .filter(|e| {
                key_of
                    .get(&e.netns_path)
                    .copied()
                    .flatten()
                    .is_some_and(|k| matches!(icmp_of.get(&k), Some(Ok(_))))
            })
            .flat_map(|e| e.target_addresses().map(|a| a.ip))
            .collect();

        // The ARP sockets, for every source that asks anything.
        let asking: Vec<&(&ProbeEndpoint, Vec<IpAddr>)> = plan
            .sources
            .iter()
            .filter(|(_, targets)| !targets.is_empty())
            .collect();
        let targets: Vec<Target> = asking
            .iter()
            .map(|(e, _)| Target {
                label: &e.name,
                path: &e.netns_path,
            })
            .collect();
        let opened = pool::for_each_in(pool::default_threads(), &targets, |i| {
            let (source, targets) = asking[i];
            open_arp_in_namespace(source, targets)
        });
        let mut arp = Vec::new();
        let mut arp_for = HashMap::new();
        for ((source, targets), got) in asking.iter().zip(opened) {
            let got = match got {
                Ok(got) => got,
                Err(e) => {
                    let why = e.to_string();
                    for t in targets {
                        if let IpAddr::V4(t) = t {
                            arp_for.insert((source.name.clone(), *t), Err(why.clone()));
                        }
                    }
                    continue;
                }
            };
            let mut index = Vec::with_capacity(got.sockets.len());
            for sock in got.sockets {
                let token = Token(ARP_TOKENS + arp.len());
                index.push(
                    match register(poll.registry(), sock.raw_fd(), token, Interest::READABLE) {
                        Ok(()) => {
                            arp.push(sock);
                            Ok(token.0 - ARP_TOKENS)
                        }
                        Err(e) => Err(format!("poll: {e}")),
                    },
                );
            }
            for (target, sock) in got.asks {
                let sock = sock.and_then(|i| index[i].clone());
                arp_for.insert((source.name.clone(), target), sock);
            }
        }
        tracing::debug!(
            target: "netview::probe::kernel",
            icmp = icmp.len(),
            arp = arp.len(),
            elapsed_ms = began.elapsed().as_millis() as u64,
            "sockets open"
        );
        *self.run.lock().unwrap_or_else(|e| e.into_inner()) = Some((
            poll,
            Run {
                echo: Echoes {
                    icmp_of,
                    icmp,
                    key_of,
                    listened,
                },
                arp,
                arp_for,
            },
        ));
        Ok(())
    }

    fn run_batch(
        &self,
        batch: &[SourceProbes<'_>],
        timeout: Duration,
        report: &mut dyn FnMut(usize, Observation),
    ) -> Result<(), ProbeError> {
        let mut guard = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let Some((poll, run)) = guard.as_mut() else {
            // `begin` was not called: a run of its own for this batch.
            drop(guard);
            let plan = RunPlan {
                sources: batch
                    .iter()
                    .map(|s| {
                        let arp = s.probes.iter().filter(|p| p.kind == ProbeKind::Arp);
                        (s.source, arp.map(|p| p.target).collect())
                    })
                    .collect(),
                icmp_targets: Vec::new(),
            };
            self.begin(&plan)?;
            let ran = self.run_batch(batch, timeout, report);
            self.end();
            return ran;
        };
        let began = Instant::now();
        let ran = batch_on(run, poll, batch, timeout, self.seen_as_grace, report);
        tracing::debug!(
            target: "netview::probe::kernel",
            elapsed_ms = began.elapsed().as_millis() as u64,
            "batch done"
        );
        ran
    }

    fn end(&self) {
        let run = self.run.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((_, run)) = run {
            close_all(run.arp);
        }
    }
}

fn register(
    registry: &Registry,
    fd: std::os::fd::RawFd,
    token: Token,
    interest: Interest,
) -> std::io::Result<()> {
    registry.register(&mut SourceFd(&fd), token, interest)
}

/// The sockets one batch reads.
struct BatchSockets<'r> {
    run: &'r Run,
    connects: HashMap<usize, TcpConnect>,
    events: Events,
    buf: Vec<u8>,
}

impl BatchSockets<'_> {
    /// Wait up to `wait` for the sockets, and hand everything they read to `flight`.
    fn read(
        &mut self,
        poll: &mut Poll,
        wait: Duration,
        flight: &mut InFlight,
    ) -> Result<(), ProbeError> {
        if let Err(e) = poll.poll(&mut self.events, Some(wait)) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(io_error("waiting for the probes' answers")(e));
        }
        let now = Instant::now();
        for ev in self.events.iter() {
            let Token(t) = ev.token();
            if t < ARP_TOKENS {
                if let Some(sock) = self.run.echo.icmp.get(t) {
                    read_icmp(sock, &mut self.buf, flight, now);
                }
            } else if t < TCP_TOKENS {
                if let Some(sock) = self.run.arp.get(t - ARP_TOKENS) {
                    read_arp(sock, t - ARP_TOKENS, &mut self.buf, flight, now);
                }
            } else if let Some(c) = self.connects.remove(&t) {
                let _ = poll.registry().deregister(&mut SourceFd(&c.raw_fd()));
                flight.tcp_done(t, c.finish(), now);
            }
        }
        Ok(())
    }
}

/// Start a batch's TCP connects, each in its source's namespace.
fn start_connects(
    batch: &[SourceProbes<'_>],
    registry: &Registry,
    connects: &mut HashMap<usize, TcpConnect>,
    flight: &mut InFlight,
) {
    let with_tcp: Vec<(&SourceProbes, Vec<&PlannedProbe>)> = batch
        .iter()
        .map(|s| {
            let tcp = s.probes.iter().filter(|p| p.kind == ProbeKind::Tcp);
            (s, tcp.collect::<Vec<_>>())
        })
        .filter(|(_, tcp)| !tcp.is_empty())
        .collect();
    if with_tcp.is_empty() {
        return;
    }
    let targets: Vec<Target> = with_tcp
        .iter()
        .map(|(s, _)| Target {
            label: &s.source.name,
            path: &s.source.netns_path,
        })
        .collect();
    let started = pool::for_each_in(pool::default_threads(), &targets, |i| {
        with_tcp[i]
            .1
            .iter()
            .map(|p| {
                let dst = SocketAddr::new(p.target, p.port.unwrap_or(80));
                (p.token, Instant::now(), start_connect(dst))
            })
            .collect::<Vec<_>>()
    });
    for ((_, tcp), got) in with_tcp.iter().zip(started) {
        let got = match got {
            Ok(got) => got,
            Err(e) => {
                let why = e.to_string();
                for p in tcp {
                    flight.finished(p.token, failed(&why));
                }
                continue;
            }
        };
        for (token, at, connect) in got {
            match connect {
                ConnectStart::Finished(outcome) => {
                    let timed = matches!(outcome, ProbeOutcome::Reply | ProbeOutcome::Refused);
                    let mut obs = Observation::outcome(outcome);
                    if timed {
                        obs.rtt_us = Some(at.elapsed().as_micros() as u64);
                    }
                    flight.finished(token, obs);
                }
                ConnectStart::InProgress(c) => {
                    let conn = TCP_TOKENS + token;
                    match register(registry, c.raw_fd(), Token(conn), Interest::WRITABLE) {
                        Ok(()) => {
                            flight.tcp_started(token, conn, at);
                            connects.insert(conn, c);
                        }
                        Err(e) => flight.finished(token, failed(&format!("poll: {e}"))),
                    }
                }
            }
        }
    }
}

/// One batch on the run's sockets: start the TCP connects, send every ICMP and ARP probe
/// (reading the sockets every few sends), then read them until each probe is answered or the
/// timeout passes.
fn batch_on(
    run: &Run,
    poll: &mut Poll,
    batch: &[SourceProbes<'_>],
    timeout: Duration,
    grace: Duration,
    report: &mut dyn FnMut(usize, Observation),
) -> Result<(), ProbeError> {
    // Answers left from an earlier batch (a reply to the kernel's own who-has) must not
    // answer this batch's questions.
    let mut buf = vec![0u8; 65536];
    for sock in &run.arp {
        while let Ok(Some(_)) = sock.recv_reply(&mut buf) {}
    }
    let mut flight = InFlight::while_sending(Instant::now() + timeout, grace);
    let registry = poll
        .registry()
        .try_clone()
        .map_err(io_error("cannot use the probes' poll"))?;
    let mut sockets = BatchSockets {
        run,
        connects: HashMap::new(),
        events: Events::with_capacity(1024),
        buf,
    };
    start_connects(batch, &registry, &mut sockets.connects, &mut flight);

    let began_send = Instant::now();
    let count = |kind| -> usize {
        let of_kind = |s: &SourceProbes| s.probes.iter().filter(|p| p.kind == kind).count();
        batch.iter().map(of_kind).sum()
    };
    let (echoes, asks) = (count(ProbeKind::Icmp), count(ProbeKind::Arp));
    let sent = echoes + asks;
    if echoes >= TWO_SENDERS_FROM && asks >= TWO_SENDERS_FROM {
        send_on_two_threads(run, poll, batch, &mut sockets, &mut flight, report)?;
    } else {
        send_on_one_thread(run, poll, batch, &mut sockets, &mut flight, report)?;
    }
    // Measured at 200 containers: about 200 us a send, the kernel flooding each who-has (ours
    // or its own, for an echo) to the 100 ports of the lab's bridge within the send.
    tracing::debug!(
        target: "netview::probe::kernel",
        send_ms = began_send.elapsed().as_millis() as u64,
        sent,
        "batch sent"
    );
    // The deadline counts from the last send: a large batch takes a while to send.
    flight.extend_deadline(Instant::now() + timeout);

    loop {
        flight.drain(Instant::now(), report);
        if flight.is_done() {
            break;
        }
        let wait = flight.next_wake().saturating_duration_since(Instant::now());
        sockets.read(poll, wait, &mut flight)?;
    }
    for (_, c) in sockets.connects.drain() {
        let _ = registry.deregister(&mut SourceFd(&c.raw_fd()));
    }
    Ok(())
}

/// A batch's sends on this thread, in plan order, reading the sockets every few sends.
fn send_on_one_thread(
    run: &Run,
    poll: &mut Poll,
    batch: &[SourceProbes<'_>],
    sockets: &mut BatchSockets<'_>,
    flight: &mut InFlight,
    report: &mut dyn FnMut(usize, Observation),
) -> Result<(), ProbeError> {
    let mut n = 0usize;
    for s in batch {
        for p in &s.probes {
            match p.kind {
                ProbeKind::Icmp => run.echo.send(s.source, p).record(flight),
                ProbeKind::Arp => send_who_has(run, &s.source.name, p, flight),
                ProbeKind::Tcp => continue,
            }
            n += 1;
            if n % SENDS_BETWEEN_READS == 0 {
                sockets.read(poll, Duration::ZERO, flight)?;
                flight.drain(Instant::now(), report);
            }
        }
    }
    Ok(())
}

/// A batch's sends on two threads: the echo requests on a second one, the who-has on this one
/// (which also reads every answer). The kernel floods each who-has, the probes' own and
/// those it sends to resolve an echo's target, to every port of a bridge within the send:
/// at 200 containers about 200 us a send, on the sending thread's core.
fn send_on_two_threads(
    run: &Run,
    poll: &mut Poll,
    batch: &[SourceProbes<'_>],
    sockets: &mut BatchSockets<'_>,
    flight: &mut InFlight,
    report: &mut dyn FnMut(usize, Observation),
) -> Result<(), ProbeError> {
    let echo = &run.echo;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<EchoSend>();
        let sender = std::thread::Builder::new()
            .name("probe-echo".into())
            .spawn_scoped(scope, move || {
                for s in batch {
                    for p in s.probes.iter().filter(|p| p.kind == ProbeKind::Icmp) {
                        if tx.send(echo.send(s.source, p)).is_err() {
                            return; // the reader gave up on the batch
                        }
                    }
                }
            });
        if sender.is_err() {
            // No second thread to be had: everything goes out from this one.
            return send_on_one_thread(run, poll, batch, sockets, flight, report);
        }
        let mut n = 0usize;
        for s in batch {
            for p in s.probes.iter().filter(|p| p.kind == ProbeKind::Arp) {
                send_who_has(run, &s.source.name, p, flight);
                n += 1;
                if n % SENDS_BETWEEN_READS == 0 {
                    rx.try_iter().for_each(|e| e.record(flight));
                    sockets.read(poll, Duration::ZERO, flight)?;
                    flight.drain(Instant::now(), report);
                }
            }
        }
        // Read while the echoes are still going out, until their thread is done.
        loop {
            let finished = loop {
                match rx.try_recv() {
                    Ok(e) => e.record(flight),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break false,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => break true,
                }
            };
            if finished {
                return Ok(());
            }
            sockets.read(poll, Duration::from_millis(1), flight)?;
            flight.drain(Instant::now(), report);
        }
    })
}

fn send_who_has(run: &Run, source: &str, p: &PlannedProbe, flight: &mut InFlight) {
    let IpAddr::V4(target) = p.target else {
        return flight.finished(p.token, failed("not an on-link IPv4 target"));
    };
    let i = match run.arp_for.get(&(source.to_string(), target)) {
        Some(Ok(i)) => *i,
        Some(Err(why)) => return flight.finished(p.token, failed(why)),
        None => return flight.finished(p.token, failed("not an on-link IPv4 target")),
    };
    match run.arp[i].send_who_has(target) {
        Ok(()) => flight.arp_sent(p.token, i, target, Instant::now()),
        Err(e) => flight.finished(
            p.token,
            Observation::outcome(ProbeOutcome::from_send_error(&e)),
        ),
    }
}

/// Read everything queued on a namespace's ICMP socket. A socket that fails to read is left
/// alone: its probes end at the deadline.
fn read_icmp(sock: &IcmpSocket, buf: &mut [u8], flight: &mut InFlight, now: Instant) {
    while let Ok(Some(got)) = sock.recv(buf) {
        let from = IpAddr::V4(got.from);
        match got.event {
            Some(IcmpEvent::EchoReply { id, seq }) => flight.echo_reply(id, seq, now),
            Some(IcmpEvent::EchoRequest { id, seq }) => flight.echo_seen(id, seq, from),
            Some(IcmpEvent::Error { id, seq, what, .. }) => flight.echo_error(id, seq, &what, from),
            None => {}
        }
    }
}

/// Read the answers queued on ARP socket `id`.
fn read_arp(sock: &ArpSocket, id: usize, buf: &mut [u8], flight: &mut InFlight, now: Instant) {
    while let Ok(Some((sender, mac))) = sock.recv_reply(buf) {
        flight.arp_reply(id, sender, &mac.to_string(), now);
    }
}

/// Close the ARP sockets a few at a time in parallel: closing an AF_PACKET socket waits for an
/// RCU grace period (`synchronize_net`), about 10 ms each, so 200 closed one after another
/// took 2.8 s at the end of a 200-container run (0.7 s on 4 threads); threads closing at once
/// share the waits. They only close descriptors, so more of them than the namespace pool has
/// cost nothing but a stack each.
fn close_all(sockets: Vec<ArpSocket>) {
    const CLOSING_THREADS: usize = 16;
    let threads = CLOSING_THREADS;
    let per = sockets.len().div_ceil(threads).max(1);
    let mut sockets = sockets;
    std::thread::scope(|scope| {
        while !sockets.is_empty() {
            let chunk: Vec<ArpSocket> = sockets.drain(..per.min(sockets.len())).collect();
            let spawned = std::thread::Builder::new()
                .name("probe-close".into())
                .spawn_scoped(scope, move || drop(chunk));
            // Without a thread the chunk was dropped here, on this one: closed all the same.
            drop(spawned);
        }
    });
}
