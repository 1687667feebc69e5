//! The real [`Prober`]: sockets opened inside the endpoints' namespaces, all read by one poll
//! loop.
//!
//! A socket belongs to the namespace it was opened in, wherever it is used from afterwards.
//! So the namespace threads only open sockets (on the bounded pool of [`netns::pool`], a few
//! threads entering one namespace after another), and one thread, the caller's, sends every
//! probe of a batch and waits for every answer with a single `epoll` ([`mio`]):
//! - one raw ICMP socket per namespace for the whole run: it sends that namespace's echo
//!   requests, reads their replies and errors, and records the requests of others arriving
//!   there ("seen as");
//! - per batch, one AF_PACKET socket per source interface that sends who-has, closed as soon
//!   as every target it asked has answered (in a large lab every interface sees every
//!   broadcast: an open socket would be copied each of them);
//! - per batch, one non-blocking TCP connect per TCP probe, started in its source's namespace.
//!
//! Measured with a 200-container lab (`scripts/bench-probe 200`): the thread-per-source runner
//! this replaces started about 600 threads per batch (24 batches) and peaked at 340 MB.
//! [`super::inflight`] turns what the sockets read into each probe's observation (pure,
//! unit-tested).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::arp::ArpSocket;
use super::icmp::{IcmpEvent, IcmpSocket};
use super::inflight::InFlight;
use super::matrix::{PlannedProbe, Prober, SourceProbes};
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

/// The poll loop's tokens: ICMP sockets from 0, a batch's ARP sockets and TCP connects above.
const ARP_TOKENS: usize = 1 << 40;
const TCP_TOKENS: usize = 1 << 41;

/// Probes with sockets inside the endpoints' namespaces.
pub struct KernelProber {
    /// How long an echo reply waits for its request's sighting at the target (the target's
    /// socket may be read just after the source's).
    seen_as_grace: Duration,
    run: Mutex<Option<Run>>,
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
    poll: Poll,
    /// Namespace -> its ICMP socket (token = index), or why it could not be opened.
    icmp_of: HashMap<NsKey, Result<usize, String>>,
    icmp: Vec<IcmpSocket>,
    /// Each endpoint's namespace, by its file.
    key_of: HashMap<PathBuf, Option<NsKey>>,
    /// Addresses held by an ICMP target whose namespace is read (a reply to them waits for
    /// the sighting).
    listened: HashSet<IpAddr>,
}

/// What a source's namespace thread prepared for one batch.
#[derive(Default)]
struct Prepared {
    arp: Vec<(ArpSocket, Vec<(usize, Ipv4Addr)>)>,
    tcp: Vec<(usize, Instant, ConnectStart)>,
    failed: Vec<(usize, Observation)>,
}

fn failed(why: &str) -> Observation {
    Observation::outcome(ProbeOutcome::SendFailed(why.to_string()))
}

/// Inside the source's namespace: the kernel's interface and source for each ARP target (as
/// `ip route get` says; it wins over the plan's guess, which reads only the prefixes), one
/// ARP socket per interface, and every TCP connect started.
fn prepare_in_namespace(arp: &[&PlannedProbe], tcp: &[&PlannedProbe]) -> Prepared {
    let mut out = Prepared::default();
    if !arp.is_empty() {
        let targets: Vec<IpAddr> = arp.iter().map(|p| p.target).collect();
        let routes = on_link_routes_current_thread(&targets);
        let mut by_iface: BTreeMap<(String, Ipv4Addr), Vec<(usize, Ipv4Addr)>> = BTreeMap::new();
        for p in arp {
            let from = routes
                .get(&p.target)
                .map(|r| (r.ifname.clone(), IpAddr::V4(r.src)))
                .or_else(|| p.arp_from.clone());
            match (from, p.target) {
                (Some((ifname, IpAddr::V4(src))), IpAddr::V4(target)) => by_iface
                    .entry((ifname, src))
                    .or_default()
                    .push((p.token, target)),
                _ => out
                    .failed
                    .push((p.token, failed("not an on-link IPv4 target"))),
            }
        }
        for ((ifname, src), asks) in by_iface {
            match ArpSocket::open(&ifname, src) {
                Ok(sock) => out.arp.push((sock, asks)),
                Err(e) => {
                    let why = e.to_string();
                    out.failed
                        .extend(asks.iter().map(|&(token, _)| (token, failed(&why))));
                }
            }
        }
    }
    for p in tcp {
        let dst = SocketAddr::new(p.target, p.port.unwrap_or(80));
        out.tcp.push((p.token, Instant::now(), start_connect(dst)));
    }
    out
}

/// Let this process hold as many descriptors as its hard limit allows: a large matrix holds
/// one ICMP socket per namespace, and a batch one ARP socket per source interface and one per
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

impl Prober for KernelProber {
    fn begin(
        &self,
        sources: &[&ProbeEndpoint],
        icmp_targets: &[&ProbeEndpoint],
    ) -> Result<(), ProbeError> {
        raise_descriptor_limit();
        let poll = Poll::new().map_err(|source| ProbeError::Io {
            what: "cannot create the probes' poll".into(),
            source,
        })?;
        let mut key_of: HashMap<PathBuf, Option<NsKey>> = HashMap::new();
        // One ICMP socket per namespace, the sources' and the targets' alike.
        let mut unique: BTreeMap<NsKey, (&str, &Path)> = BTreeMap::new();
        for e in sources.iter().chain(icmp_targets) {
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
                    match poll.registry().register(
                        &mut SourceFd(&sock.raw_fd()),
                        token,
                        Interest::READABLE,
                    ) {
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
        let listened = icmp_targets
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
        *self.run.lock().unwrap_or_else(|e| e.into_inner()) = Some(Run {
            poll,
            icmp_of,
            icmp,
            key_of,
            listened,
        });
        Ok(())
    }

    fn run_batch(
        &self,
        batch: &[SourceProbes<'_>],
        timeout: Duration,
        report: &mut dyn FnMut(usize, Observation),
    ) -> Result<(), ProbeError> {
        let mut guard = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let Some(run) = guard.as_mut() else {
            // `begin` was not called: a run of its own for this batch.
            drop(guard);
            let sources: Vec<&ProbeEndpoint> = batch.iter().map(|s| s.source).collect();
            self.begin(&sources, &sources)?;
            let ran = self.run_batch(batch, timeout, report);
            self.end();
            return ran;
        };
        run_one_batch(run, batch, timeout, self.seen_as_grace, report)
    }

    fn end(&self) {
        *self.run.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// One batch on the run's sockets: prepare the ARP sockets and TCP connects in the sources'
/// namespaces, send every ICMP and ARP probe, then read every socket until each probe is
/// answered or the timeout passes.
fn run_one_batch(
    run: &mut Run,
    batch: &[SourceProbes<'_>],
    timeout: Duration,
    grace: Duration,
    report: &mut dyn FnMut(usize, Observation),
) -> Result<(), ProbeError> {
    // The namespace work: only for sources with ARP or TCP probes.
    let needs_thread: Vec<(&SourceProbes, Vec<&PlannedProbe>, Vec<&PlannedProbe>)> = batch
        .iter()
        .map(|s| {
            let arp = s.probes.iter().filter(|p| p.kind == ProbeKind::Arp);
            let tcp = s.probes.iter().filter(|p| p.kind == ProbeKind::Tcp);
            (s, arp.collect(), tcp.collect())
        })
        .filter(|(_, a, t): &(_, Vec<_>, Vec<_>)| !a.is_empty() || !t.is_empty())
        .collect();
    let targets: Vec<Target> = needs_thread
        .iter()
        .map(|(s, _, _)| Target {
            label: &s.source.name,
            path: &s.source.netns_path,
        })
        .collect();
    let prepared = pool::for_each_in(pool::default_threads(), &targets, |i| {
        let (_, arp, tcp) = &needs_thread[i];
        prepare_in_namespace(arp, tcp)
    });

    let start = Instant::now();
    let mut flight = InFlight::new(start + timeout, grace);
    let registry = run
        .poll
        .registry()
        .try_clone()
        .map_err(|source| ProbeError::Io {
            what: "cannot use the probes' poll".into(),
            source,
        })?;
    let mut arp_sockets: HashMap<usize, ArpSocket> = HashMap::new();
    let mut connects: HashMap<usize, TcpConnect> = HashMap::new();
    let (mut next_arp, mut next_conn) = (0usize, 0usize);
    for ((_, arp, tcp), got) in needs_thread.iter().zip(prepared) {
        let p = match got {
            Ok(p) => p,
            Err(e) => {
                let why = e.to_string();
                for probe in arp.iter().chain(tcp) {
                    flight.finished(probe.token, failed(&why));
                }
                continue;
            }
        };
        for (token, obs) in p.failed {
            flight.finished(token, obs);
        }
        for (token, started, connect) in p.tcp {
            match connect {
                ConnectStart::Finished(outcome) => {
                    let timed = matches!(outcome, ProbeOutcome::Reply | ProbeOutcome::Refused);
                    let mut obs = Observation::outcome(outcome);
                    if timed {
                        obs.rtt_us = Some(started.elapsed().as_micros() as u64);
                    }
                    flight.finished(token, obs);
                }
                ConnectStart::InProgress(c) => {
                    let conn = TCP_TOKENS + next_conn;
                    next_conn += 1;
                    match registry.register(
                        &mut SourceFd(&c.raw_fd()),
                        Token(conn),
                        Interest::WRITABLE,
                    ) {
                        Ok(()) => {
                            flight.tcp_started(token, conn, started);
                            connects.insert(conn, c);
                        }
                        Err(e) => flight.finished(token, failed(&format!("poll: {e}"))),
                    }
                }
            }
        }
        for (sock, asks) in p.arp {
            let id = ARP_TOKENS + next_arp;
            next_arp += 1;
            if let Err(e) =
                registry.register(&mut SourceFd(&sock.raw_fd()), Token(id), Interest::READABLE)
            {
                for (token, _) in asks {
                    flight.finished(token, failed(&format!("poll: {e}")));
                }
                continue;
            }
            for (token, target) in asks {
                match sock.send_who_has(target) {
                    Ok(()) => flight.arp_sent(token, id, target, Instant::now()),
                    Err(e) => flight.finished(
                        token,
                        Observation::outcome(ProbeOutcome::from_send_error(&e)),
                    ),
                }
            }
            arp_sockets.insert(id, sock);
        }
    }

    // Every echo request, from each source's namespace socket.
    for s in batch {
        let sock = run
            .key_of
            .get(&s.source.netns_path)
            .copied()
            .flatten()
            .and_then(|k| run.icmp_of.get(&k));
        for p in s.probes.iter().filter(|p| p.kind == ProbeKind::Icmp) {
            let sock = match sock {
                Some(Ok(i)) => &run.icmp[*i],
                Some(Err(why)) => {
                    flight.finished(p.token, failed(why));
                    continue;
                }
                None => {
                    flight.finished(p.token, failed("cannot open the source's namespace"));
                    continue;
                }
            };
            let IpAddr::V4(dst) = p.target else {
                flight.finished(p.token, failed("IPv6 targets are not supported"));
                continue;
            };
            match sock.send_echo(dst, p.icmp_id, p.icmp_seq) {
                Ok(()) => flight.echo_sent(
                    p.token,
                    p.icmp_id,
                    p.icmp_seq,
                    Instant::now(),
                    run.listened.contains(&p.target),
                ),
                Err(e) => flight.finished(
                    p.token,
                    Observation::outcome(ProbeOutcome::from_send_error(&e)),
                ),
            }
        }
    }

    // Read every socket until each probe is done.
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 65536];
    loop {
        flight.drain(Instant::now(), report);
        if flight.is_done() {
            break;
        }
        let wait = flight.next_wake().saturating_duration_since(Instant::now());
        if let Err(e) = run.poll.poll(&mut events, Some(wait)) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(ProbeError::Io {
                what: "waiting for the probes' answers".into(),
                source: e,
            });
        }
        let now = Instant::now();
        for ev in events.iter() {
            let Token(t) = ev.token();
            if t < ARP_TOKENS {
                if let Some(sock) = run.icmp.get(t) {
                    read_icmp(sock, &mut buf, &mut flight, now);
                }
            } else if t < TCP_TOKENS {
                let Some(sock) = arp_sockets.get(&t) else {
                    continue;
                };
                if read_arp(sock, t, &mut buf, &mut flight, now) {
                    // Every target it asked has answered: close it, so the kernel stops
                    // copying the lab's broadcasts to it.
                    if let Some(sock) = arp_sockets.remove(&t) {
                        let _ = registry.deregister(&mut SourceFd(&sock.raw_fd()));
                    }
                }
            } else if let Some(c) = connects.remove(&t) {
                let _ = registry.deregister(&mut SourceFd(&c.raw_fd()));
                flight.tcp_done(t, c.finish(), now);
            }
        }
    }
    for (_, sock) in arp_sockets {
        let _ = registry.deregister(&mut SourceFd(&sock.raw_fd()));
    }
    for (_, c) in connects {
        let _ = registry.deregister(&mut SourceFd(&c.raw_fd()));
    }
    Ok(())
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

/// Read the answers queued on ARP socket `id`; true when no probe waits on it any more.
fn read_arp(
    sock: &ArpSocket,
    id: usize,
    buf: &mut [u8],
    flight: &mut InFlight,
    now: Instant,
) -> bool {
    while let Ok(Some((sender, mac))) = sock.recv_reply(buf) {
        if flight.arp_reply(id, sender, &mac.to_string(), now) {
            return true;
        }
    }
    false
}
