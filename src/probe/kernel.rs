//! The real [`Prober`]: raw sockets opened on threads inside the lab's namespaces.
//!
//! For each source, one namespace thread sends all its ICMP probes on one raw socket, one
//! per interface sends its ARP who-has, one runs its TCP connects; and one listener per target
//! namespace records "seen as". Results travel back over channels, so nothing but the
//! namespace threads ever touches a namespace.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::arp::{run_arp_batch, ArpProbe};
use super::icmp::{run_echo_batch, EchoProbe};
use super::matrix::{PlannedProbe, Prober};
use super::route::on_link_routes_current_thread;
use super::seen_as::{listen, SeenAsBoard};
use super::tcp::{run_tcp_batch, TcpProbe};
use super::topology::ProbeEndpoint;
use super::{Observation, ProbeError, ProbeKind, ProbeOutcome};
use crate::netns::{self, NetnsError};

type Listener = JoinHandle<Result<(), NetnsError>>;

/// Probes with raw sockets inside the endpoints' namespaces.
pub struct KernelProber {
    board: Arc<SeenAsBoard>,
    stop: Arc<AtomicBool>,
    listeners: Mutex<Vec<Listener>>,
    /// How long to wait for "seen as" after a reply arrived first.
    seen_as_grace: Duration,
}

impl Default for KernelProber {
    fn default() -> Self {
        KernelProber {
            board: SeenAsBoard::new(),
            stop: Arc::new(AtomicBool::new(false)),
            listeners: Mutex::new(Vec::new()),
            seen_as_grace: Duration::from_millis(100),
        }
    }
}

impl KernelProber {
    pub fn new() -> Self {
        KernelProber::default()
    }
}

fn ns_identity(path: &PathBuf) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl Prober for KernelProber {
    fn begin(&self, target_namespaces: &[PathBuf], run_for: Duration) -> Result<(), ProbeError> {
        self.stop.store(false, Ordering::Relaxed);
        self.board.clear();
        // Listen once per namespace (the host and a host-mode container share one).
        let mut unique: BTreeMap<(u64, u64), &PathBuf> = BTreeMap::new();
        for p in target_namespaces {
            if let Some(id) = ns_identity(p) {
                unique.entry(id).or_insert(p);
            }
        }
        let until = Instant::now() + run_for + Duration::from_secs(5);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let mut handles = Vec::new();
        for path in unique.values() {
            let board = self.board.clone();
            let stop = self.stop.clone();
            let ready_tx = ready_tx.clone();
            let label = path.display().to_string();
            let handle = netns::spawn_in(&label, path, move || {
                listen(&board, &stop, until, &mut |r| {
                    let _ = ready_tx.send(r);
                });
            })?;
            handles.push(handle);
        }
        drop(ready_tx);
        // Wait until every listener has its socket (or failed: seen-as then stays empty
        // there, which is not worth failing the probes for).
        let deadline = Instant::now() + Duration::from_secs(5);
        for _ in 0..handles.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if ready_rx.recv_timeout(left).is_err() {
                break;
            }
        }
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(handles);
        Ok(())
    }

    fn run_source(
        &self,
        source: &ProbeEndpoint,
        probes: &[PlannedProbe],
        timeout: Duration,
        report: &(dyn Fn(usize, Observation) + Sync),
    ) -> Result<(), ProbeError> {
        let (tx, rx) = mpsc::channel::<(usize, Observation)>();
        let mut workers: Vec<JoinHandle<Result<(), NetnsError>>> = Vec::new();
        let label = source.name.clone();

        let echo: Vec<EchoProbe> = probes
            .iter()
            .filter(|p| p.kind == ProbeKind::Icmp)
            .map(|p| EchoProbe {
                token: p.token,
                dst: p.target,
                id: p.icmp_id,
                seq: p.icmp_seq,
            })
            .collect();
        let ids: HashMap<usize, (u16, u16)> =
            echo.iter().map(|e| (e.token, (e.id, e.seq))).collect();
        if !echo.is_empty() {
            let tx = tx.clone();
            let tokens: Vec<usize> = echo.iter().map(|e| e.token).collect();
            workers.push(netns::spawn_in(&label, &source.netns_path, move || {
                let result = run_echo_batch(&echo, timeout, &mut |t, o| {
                    let _ = tx.send((t, o));
                });
                if let Err(e) = result {
                    for t in tokens {
                        let _ = tx.send((
                            t,
                            Observation::outcome(ProbeOutcome::SendFailed(format!(
                                "raw ICMP socket: {e}"
                            ))),
                        ));
                    }
                }
            })?);
        }

        // The kernel's own choice of interface and source for each ARP target (as
        // `ip route get` says) wins over the plan's, which reads only the addresses' prefixes.
        let arp_targets: Vec<IpAddr> = probes
            .iter()
            .filter(|p| p.kind == ProbeKind::Arp)
            .map(|p| p.target)
            .collect();
        let kernel_routes = if arp_targets.is_empty() {
            HashMap::new()
        } else {
            netns::run_in(&label, &source.netns_path, move || {
                on_link_routes_current_thread(&arp_targets)
            })?
        };
        let mut arp_by_iface: BTreeMap<(String, IpAddr), Vec<ArpProbe>> = BTreeMap::new();
        for p in probes.iter().filter(|p| p.kind == ProbeKind::Arp) {
            let from = kernel_routes
                .get(&p.target)
                .map(|r| (r.ifname.clone(), IpAddr::V4(r.src)))
                .or_else(|| p.arp_from.clone());
            match (&from, p.target) {
                (Some(from), IpAddr::V4(target)) => arp_by_iface
                    .entry(from.clone())
                    .or_default()
                    .push(ArpProbe {
                        token: p.token,
                        target,
                    }),
                _ => report(
                    p.token,
                    Observation::outcome(ProbeOutcome::SendFailed(
                        "not an on-link IPv4 target".into(),
                    )),
                ),
            }
        }
        for ((ifname, src_ip), batch) in arp_by_iface {
            let IpAddr::V4(src_ip) = src_ip else {
                continue;
            };
            let tx = tx.clone();
            workers.push(netns::spawn_in(&label, &source.netns_path, move || {
                run_arp_batch(&ifname, src_ip, &batch, timeout, &mut |t, o| {
                    let _ = tx.send((t, o));
                });
            })?);
        }

        let tcp: Vec<TcpProbe> = probes
            .iter()
            .filter(|p| p.kind == ProbeKind::Tcp)
            .map(|p| TcpProbe {
                token: p.token,
                dst: SocketAddr::new(p.target, p.port.unwrap_or(80)),
            })
            .collect();
        if !tcp.is_empty() {
            let tx = tx.clone();
            workers.push(netns::spawn_in(&label, &source.netns_path, move || {
                run_tcp_batch(&tcp, timeout, &mut |t, o| {
                    let _ = tx.send((t, o));
                });
            })?);
        }
        drop(tx);

        for (token, mut obs) in rx {
            if let Some(&(id, seq)) = ids.get(&token) {
                obs.seen_as = if obs.outcome == ProbeOutcome::Reply {
                    self.board.wait_for(id, seq, self.seen_as_grace)
                } else {
                    self.board.get(id, seq)
                };
            }
            report(token, obs);
        }
        for w in workers {
            match w.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err(NetnsError::ThreadPanicked(label).into()),
            }
        }
        Ok(())
    }

    fn end(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let handles: Vec<Listener> = self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for h in handles {
            let _ = h.join();
        }
    }
}
