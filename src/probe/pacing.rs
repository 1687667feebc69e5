//! Pacing the matrix: the probes' neighbour (ARP) entries stay under what the kernel holds.
//!
//! The kernel's IPv4 neighbour table is one table for every namespace on the host, capped by
//! `net.ipv4.neigh.default.gc_thresh3` (1,024 by default). A probe to an on-link address makes
//! an entry in the source's namespace and one for the source on the answering side; past the
//! cap the kernel refuses new entries ("neighbour table overflow") and drops the probes'
//! packets, which the matrix showed as failures that were not there (issue 12: 39,027 false
//! mismatches at 200 containers). Entries it could free are only those not updated for five
//! seconds (`neigh_forced_gc`), so a fast run cannot count on the kernel making room.
//!
//! So the runner plans batches ([`plan`]) such that the entries the probes of one batch need,
//! together with those kept from earlier batches, stay within [`NeighbourLimits::room`]: the
//! cap, less what the table holds when the run starts, less `gc_thresh1` left for the host's own
//! traffic (the size below which the kernel never reclaims). After each batch the runner deletes
//! the entries its probes needed in the namespaces netview owns (the lab's, tagged); in others
//! it only paces: their entries count until the runner has waited [`RECLAIM_AGE`], after which
//! the kernel may reclaim them, and a plan that needs that room starts a new "epoch" with that
//! wait. Cells predicted to fail are planned first, so their timeouts share the first batches.
//!
//! [`plan`] and [`NeedsModel`] are pure (unit-tested without root); the kernel's side is behind
//! [`NeighbourTable`] ([`KernelNeighbours`] reads `/proc` and deletes over rtnetlink).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::Serialize;

use super::cell::Cell;
use super::topology::{ProbeEndpoint, ProbeLab};
use super::{ProbeError, ProbeKind};
use crate::netns::pool;

/// How long entries in a namespace netview does not own must sit unused before the kernel may
/// free them: `neigh_forced_gc` skips entries updated in the last 5 s; one second of margin.
pub const RECLAIM_AGE: Duration = Duration::from_secs(6);

/// The kernel's neighbour limits and what its table holds now (`/proc/net/stat/arp_cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NeighbourLimits {
    pub gc_thresh1: usize,
    pub gc_thresh2: usize,
    pub gc_thresh3: usize,
    /// Entries in the table (every namespace) when the run started.
    pub entries: usize,
}

impl NeighbourLimits {
    /// How many entries this run's probes may need at once: under `gc_thresh3`, less what the
    /// table holds now, less `gc_thresh1` kept for the host's own traffic.
    pub fn room(&self) -> usize {
        self.gc_thresh3
            .saturating_sub(self.entries)
            .saturating_sub(self.gc_thresh1)
    }
}

/// One neighbour entry a probe makes the kernel create: in namespace `ns` (an index into the
/// run's namespaces), for address `ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Need {
    pub ns: usize,
    pub ip: IpAddr,
}

/// What one cell needs, for the planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellNeeds {
    /// The cell's index in the run's plan.
    pub token: usize,
    pub needs: Vec<Need>,
    /// Predicted to fail (or not predicted): likely to take a whole timeout, so planned first.
    pub slow: bool,
}

/// One batch: the cells probed together, then the entries deleted in owned namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// Plan indexes of the batch's cells, in plan order.
    pub tokens: Vec<usize>,
    /// Wait [`RECLAIM_AGE`] after the previous batch before this one (a new epoch: the
    /// entries in namespaces netview does not own may be reclaimed by then).
    pub wait_for_reclaim: bool,
    /// The entries this batch's probes need in owned namespaces (deleted after it).
    pub owned: Vec<Need>,
    /// The entries in namespaces netview does not own that count while this batch runs (its
    /// epoch's, from every batch of it).
    pub unowned_held: usize,
    /// A single cell needs more than the room: it runs alone and may still overflow.
    pub over: bool,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PacingPlan {
    pub batches: Vec<Batch>,
    /// Distinct entries the whole run needs.
    pub needed: usize,
    pub room: usize,
}

/// What the planner knows of the run's endpoints: each by name, the first endpoint holding
/// each address, and the namespaces numbered (endpoints sharing a namespace file share a
/// number). Built once per run, so a cell's needs are a few hash lookups.
pub struct NeedsModel<'a> {
    by_name: HashMap<&'a str, &'a ProbeEndpoint>,
    holder: HashMap<IpAddr, &'a ProbeEndpoint>,
    ns_of: HashMap<&'a str, usize>,
    /// Namespace number -> its file.
    pub paths: Vec<PathBuf>,
}

impl<'a> NeedsModel<'a> {
    pub fn new(lab: &'a ProbeLab) -> Self {
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut by_path: HashMap<&Path, usize> = HashMap::new();
        let mut m = NeedsModel {
            by_name: HashMap::new(),
            holder: HashMap::new(),
            ns_of: HashMap::new(),
            paths: Vec::new(),
        };
        for e in &lab.endpoints {
            let i = *by_path.entry(e.netns_path.as_path()).or_insert_with(|| {
                paths.push(e.netns_path.clone());
                paths.len() - 1
            });
            m.ns_of.entry(e.name.as_str()).or_insert(i);
            m.by_name.entry(e.name.as_str()).or_insert(e);
            for a in &e.addresses {
                m.holder.entry(a.ip).or_insert(e);
            }
        }
        m.paths = paths;
        m
    }

    /// The namespace number of the endpoint called `name`.
    pub fn ns(&self, name: &str) -> Option<usize> {
        self.ns_of.get(name).copied()
    }

    /// Where a cell's probes make entries: the next hop in the source's namespace (the target
    /// when on-link, else the default gateway); when the gateway is an endpoint, the target (if
    /// on-link for it) and the source in its namespace; and on the answering side, the next
    /// hop back to the source. An ARP cell (a raw who-has from the source) makes only the
    /// answering side's entry for the source. A model of what the kernel does, not a reading.
    pub fn needs(&self, cell: &Cell) -> Vec<Need> {
        let mut out = Vec::new();
        let Some(src) = self.by_name.get(&*cell.from).copied() else {
            return out;
        };
        let Some(src_ns) = self.ns(&src.name) else {
            return out;
        };
        let ns = |e: &ProbeEndpoint| self.ns(&e.name);
        let target = cell.target_ip;
        let on_link = src.arp_interface_for(target);
        let target_ep = self
            .by_name
            .get(&*cell.to)
            .copied()
            .filter(|t| t.addresses.iter().any(|a| a.ip == target))
            .or_else(|| self.holder.get(&target).copied());
        if target_ep.is_some_and(|t| t.netns_path == src.netns_path) {
            return out; // local delivery: no neighbour
        }
        if cell.kind == ProbeKind::Arp {
            if let (Some(from), Some(t_ns)) = (on_link, target_ep.and_then(ns)) {
                out.push(Need {
                    ns: t_ns,
                    ip: from.ip,
                });
            }
            return out;
        }
        // The request.
        let src_ip = match on_link {
            Some(from) => {
                out.push(Need {
                    ns: src_ns,
                    ip: target,
                });
                Some(from.ip)
            }
            None => {
                if let Some(gw) = src.gateway {
                    out.push(Need { ns: src_ns, ip: gw });
                    let router = self
                        .holder
                        .get(&gw)
                        .copied()
                        .filter(|r| r.netns_path != src.netns_path);
                    if let Some((router, r_ns)) = router.and_then(|r| Some((r, ns(r)?))) {
                        if router.arp_interface_for(target).is_some() {
                            out.push(Need {
                                ns: r_ns,
                                ip: target,
                            });
                        }
                        // The router's entry for the source, for the reply.
                        out.push(Need {
                            ns: r_ns,
                            ip: src.addresses.first().map_or(gw, |a| a.ip),
                        });
                    }
                }
                src.addresses
                    .iter()
                    .find(|a| !a.ip.is_loopback())
                    .map(|a| a.ip)
            }
        };
        // The reply, from the target's namespace back towards the source.
        if let (Some(t), Some(src_ip)) = (target_ep, src_ip) {
            if let Some(t_ns) = ns(t) {
                if t.arp_interface_for(src_ip).is_some() {
                    out.push(Need {
                        ns: t_ns,
                        ip: src_ip,
                    });
                } else if let Some(gw) = t.gateway {
                    out.push(Need { ns: t_ns, ip: gw });
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Every cell's needs for one run, flat: each distinct entry numbered once, and each cell's
/// entries as those numbers. One `Vec<Need>` per cell, and sets of `Need`s in the planner,
/// were 20 MB of a 200-container run's peak (62,221 cells needing 20,606 distinct entries).
#[derive(Debug, Clone, Default)]
pub struct RunNeeds {
    /// The distinct entries, by number.
    entries: Vec<Need>,
    number: HashMap<Need, u32>,
    cells: Vec<CellSpan>,
    /// Every cell's entry numbers, one after another (`CellSpan::end` marks each cell's end).
    ids: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct CellSpan {
    token: usize,
    end: u32,
    slow: bool,
}

impl RunNeeds {
    /// Add a cell (`token`, its plan index) and what it needs.
    pub fn push(&mut self, token: usize, needs: &[Need], slow: bool) {
        let start = self.ids.len();
        for n in needs {
            let next = self.entries.len() as u32;
            let id = *self.number.entry(*n).or_insert(next);
            if id == next {
                self.entries.push(*n);
            }
            if !self.ids[start..].contains(&id) {
                self.ids.push(id);
            }
        }
        self.cells.push(CellSpan {
            token,
            end: self.ids.len() as u32,
            slow,
        });
    }

    /// The run's needs from single cells' (the planner's tests).
    #[cfg(test)]
    pub fn of(cells: &[CellNeeds]) -> RunNeeds {
        let mut out = RunNeeds::default();
        for c in cells {
            out.push(c.token, &c.needs, c.slow);
        }
        out
    }

    /// The distinct entries the whole run needs.
    pub fn entries(&self) -> &[Need] {
        &self.entries
    }

    /// How many cells were added.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The plan index of the `k`th cell added.
    pub fn token(&self, k: usize) -> usize {
        self.cells[k].token
    }

    /// Mark the `k`th cell added as slow (predicted to fail) or not.
    pub fn set_slow(&mut self, k: usize, slow: bool) {
        self.cells[k].slow = slow;
    }

    fn start(&self, k: usize) -> usize {
        match k.checked_sub(1) {
            Some(prev) => self.cells[prev].end as usize,
            None => 0,
        }
    }

    /// The entry numbers of the `k`th cell added.
    fn ids(&self, k: usize) -> &[u32] {
        &self.ids[self.start(k)..self.cells[k].end as usize]
    }
}

struct Building {
    tokens: Vec<usize>,
    owned: HashSet<u32>,
    wait_for_reclaim: bool,
    over: bool,
}

struct Epoch {
    /// Indexes into the plan's batches.
    batches: Vec<usize>,
    unowned: HashSet<u32>,
    max_owned: usize,
}

impl Epoch {
    fn new() -> Epoch {
        Epoch {
            batches: Vec::new(),
            unowned: HashSet::new(),
            max_owned: 0,
        }
    }
}

/// Plan the batches: every cell in exactly one batch, and for every batch, the entries it needs
/// in owned namespaces plus those its epoch holds in others at most `room` (a cell that alone
/// needs more runs in a batch of its own, marked `over`). Cells marked `slow` are placed first;
/// each cell goes to the first batch of the current epoch it fits in.
pub fn plan(needs: &RunNeeds, owned: &dyn Fn(usize) -> bool, room: usize) -> PacingPlan {
    let is_owned: Vec<bool> = needs.entries.iter().map(|n| owned(n.ns)).collect();
    let mut order: Vec<usize> = (0..needs.len()).collect();
    order.sort_by_key(|&k| !needs.cells[k].slow); // stable: plan order within each group
    let mut built: Vec<Building> = Vec::new();
    let mut epoch = Epoch::new();
    let mut unowned_held: Vec<usize> = Vec::new();
    let (mut own, mut unown): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    for k in order {
        own.clear();
        unown.clear();
        for &id in needs.ids(k) {
            if is_owned[id as usize] {
                own.push(id);
            } else {
                unown.push(id);
            }
        }
        let new_unowned = unown.iter().filter(|n| !epoch.unowned.contains(n)).count();
        let held = epoch.unowned.len() + new_unowned;
        let fits = |b: &Building, max_owned: usize| {
            let grown = b.owned.len() + own.iter().filter(|n| !b.owned.contains(n)).count();
            grown.max(max_owned) + held <= room
        };
        let placed = epoch
            .batches
            .iter()
            .copied()
            .find(|&i| fits(&built[i], epoch.max_owned));
        let i = match placed {
            Some(i) => i,
            None => {
                let alone = own.len() + unown.len();
                let fresh_fits = own.len().max(epoch.max_owned) + held <= room;
                let new_epoch = !fresh_fits && !epoch.batches.is_empty();
                if new_epoch {
                    for &b in &epoch.batches {
                        unowned_held[b] = epoch.unowned.len();
                    }
                    epoch = Epoch::new();
                }
                built.push(Building {
                    tokens: Vec::new(),
                    owned: HashSet::new(),
                    wait_for_reclaim: new_epoch && unowned_held.iter().any(|&u| u > 0),
                    over: alone > room,
                });
                unowned_held.push(0);
                epoch.batches.push(built.len() - 1);
                built.len() - 1
            }
        };
        let b = &mut built[i];
        b.tokens.push(needs.cells[k].token);
        b.owned.extend(own.iter().copied());
        epoch.max_owned = epoch.max_owned.max(b.owned.len());
        epoch.unowned.extend(unown.iter().copied());
    }
    for &b in &epoch.batches {
        unowned_held[b] = epoch.unowned.len();
    }
    let batches = built
        .into_iter()
        .zip(unowned_held)
        .map(|(b, held)| {
            let mut tokens = b.tokens;
            tokens.sort_unstable();
            let mut owned: Vec<Need> = b
                .owned
                .into_iter()
                .map(|id| needs.entries[id as usize])
                .collect();
            owned.sort();
            Batch {
                tokens,
                wait_for_reclaim: b.wait_for_reclaim,
                owned,
                unowned_held: held,
                over: b.over,
            }
        })
        .collect();
    PacingPlan {
        batches,
        needed: needs.entries.len(),
        room,
    }
}

/// The kernel's side of pacing, so the runner is tested with a fake.
pub trait NeighbourTable: Sync {
    /// The limits and the table's size now; `None` when they cannot be read (then the run is
    /// not paced).
    fn limits(&self) -> Option<NeighbourLimits>;
    /// Whether netview made the namespace at `netns` (its `lo` carries netview's tag): only
    /// there are the probes' entries deleted.
    fn owned(&self, netns: &Path) -> bool;
    /// Delete the dynamic IPv4 neighbour entries for `addrs` in the namespace at `netns`
    /// (owned namespaces only); returns how many were deleted.
    fn forget(&self, netns: &Path, addrs: &[IpAddr]) -> Result<usize, ProbeError>;

    /// [`Self::owned`] for many namespaces (the kernel's answers them on a few reused
    /// threads).
    fn owned_many(&self, netns: &[&Path]) -> Vec<bool> {
        netns.iter().map(|p| self.owned(p)).collect()
    }

    /// [`Self::forget`] in many namespaces; an error in one leaves the others done.
    fn forget_many(&self, jobs: &[(&Path, Vec<IpAddr>)]) {
        for (p, ips) in jobs {
            let _ = self.forget(p, ips);
        }
    }

    /// How many packets the kernel has dropped at its per-CPU input queues so far (every
    /// CPU's; `None`: not known). A bridge floods each who-has to every port, and in a large
    /// run the queues (`netdev_max_backlog`, 1,000 by default) overflow now and then: 1,093
    /// to 8,753 drops in a 200-container run, in most runs the copy one cell needed.
    fn dropped(&self) -> Option<u64> {
        None
    }
}

/// No limits and nothing owned: an unpaced run (tests with a fake prober, or where `/proc`
/// cannot be read).
pub struct Unpaced;

impl NeighbourTable for Unpaced {
    fn limits(&self) -> Option<NeighbourLimits> {
        None
    }
    fn owned(&self, _: &Path) -> bool {
        false
    }
    fn forget(&self, _: &Path, _: &[IpAddr]) -> Result<usize, ProbeError> {
        Ok(0)
    }
}

/// The real table: limits from `/proc/sys/net/ipv4/neigh/default` and
/// `/proc/net/stat/arp_cache`, ownership from the `lo` alias, deletion over rtnetlink, each in
/// the namespace's own thread (`netns::run_in` for one, the bounded pool for many).
pub struct KernelNeighbours;

fn read_usize(path: &str) -> Option<usize> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The table's size from `/proc/net/stat/arp_cache`: one line per CPU after the header, whose
/// first column (hex) is the whole table's entry count (the same on every line).
pub fn parse_arp_cache_entries(text: &str) -> Option<usize> {
    let line = text.lines().nth(1)?;
    usize::from_str_radix(line.split_whitespace().next()?, 16).ok()
}

/// The table's overflow count (`table_fulls`, summed over the CPUs' lines; the last column).
pub fn parse_arp_cache_table_fulls(text: &str) -> Option<u64> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let col = header.iter().position(|h| *h == "table_fulls")?;
    let mut sum = 0u64;
    for l in lines {
        let v = l.split_whitespace().nth(col)?;
        sum += u64::from_str_radix(v, 16).ok()?;
    }
    Some(sum)
}

/// The packets dropped at the per-CPU input queues, from `/proc/net/softnet_stat`: one line per
/// CPU, whose second column (hex) counts them.
pub fn parse_softnet_dropped(text: &str) -> Option<u64> {
    let mut sum = 0u64;
    for l in text.lines() {
        let v = l.split_whitespace().nth(1)?;
        sum = sum.checked_add(u64::from_str_radix(v, 16).ok()?)?;
    }
    Some(sum)
}

impl NeighbourTable for KernelNeighbours {
    fn limits(&self) -> Option<NeighbourLimits> {
        let base = "/proc/sys/net/ipv4/neigh/default";
        Some(NeighbourLimits {
            gc_thresh1: read_usize(&format!("{base}/gc_thresh1"))?,
            gc_thresh2: read_usize(&format!("{base}/gc_thresh2"))?,
            gc_thresh3: read_usize(&format!("{base}/gc_thresh3"))?,
            entries: parse_arp_cache_entries(
                &std::fs::read_to_string("/proc/net/stat/arp_cache").ok()?,
            )?,
        })
    }

    fn owned(&self, netns: &Path) -> bool {
        self.owned_many(&[netns]).first().copied().unwrap_or(false)
    }

    fn dropped(&self) -> Option<u64> {
        parse_softnet_dropped(&std::fs::read_to_string("/proc/net/softnet_stat").ok()?)
    }

    fn forget(&self, netns: &Path, addrs: &[IpAddr]) -> Result<usize, ProbeError> {
        let addrs: HashSet<IpAddr> = addrs.iter().copied().collect();
        let deleted =
            crate::netns::run_in("neigh-forget", netns, move || forget_current_thread(&addrs))?;
        deleted.map_err(ProbeError::Inventory)
    }

    /// On the bounded namespace pool: a thread each, one after another, took about 100 ms
    /// between two batches of a 200-container run.
    fn owned_many(&self, netns: &[&Path]) -> Vec<bool> {
        // A namespace file outside /run/netns (the host's, a process's) is never the lab's.
        let in_run_dir: Vec<(usize, &Path)> = netns
            .iter()
            .enumerate()
            .filter(|(_, p)| p.starts_with(crate::netns::NETNS_RUN_DIR))
            .map(|(i, p)| (i, *p))
            .collect();
        let targets: Vec<pool::Target> = in_run_dir
            .iter()
            .map(|(_, path)| pool::Target {
                label: "neigh-owner",
                path,
            })
            .collect();
        let tags = pool::for_each_in(pool::default_threads(), &targets, |_| {
            lo_alias_current_thread()
        });
        let mut owned = vec![false; netns.len()];
        for ((i, _), tag) in in_run_dir.into_iter().zip(tags) {
            owned[i] = matches!(tag, Ok(Some(a)) if crate::lab::is_netview_tag(&a));
        }
        owned
    }

    fn forget_many(&self, jobs: &[(&Path, Vec<IpAddr>)]) {
        let targets: Vec<pool::Target> = jobs
            .iter()
            .map(|(path, _)| pool::Target {
                label: "neigh-forget",
                path,
            })
            .collect();
        let _ = pool::for_each_in(pool::default_threads(), &targets, |i| {
            let addrs: HashSet<IpAddr> = jobs[i].1.iter().copied().collect();
            forget_current_thread(&addrs)
        });
    }
}

fn lo_alias_current_thread() -> Option<String> {
    let mut sock = crate::inventory::dump::RouteSocket::open().ok()?;
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName("lo".into()));
    let replies = sock.request(RouteNetlinkMessage::GetLink(msg), "lo").ok()?;
    replies.into_iter().find_map(|m| match m {
        RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
            LinkAttribute::IfAlias(s) => Some(s),
            _ => None,
        }),
        _ => None,
    })
}

/// Dump the calling thread's namespace's IPv4 neighbours and delete the dynamic ones (not
/// permanent, not noarp) whose address is in `addrs`. An entry that cannot be deleted (gone
/// meanwhile) is skipped.
fn forget_current_thread(
    addrs: &HashSet<IpAddr>,
) -> Result<usize, crate::inventory::InventoryError> {
    let mut sock = crate::inventory::dump::RouteSocket::open()?;
    let mut doomed: Vec<NeighbourMessage> = Vec::new();
    let mut req = NeighbourMessage::default();
    req.header.family = AddressFamily::Inet;
    sock.dump(RouteNetlinkMessage::GetNeighbour(req), "neighbours", |m| {
        let RouteNetlinkMessage::NewNeighbour(n) = m else {
            return;
        };
        if matches!(
            n.header.state,
            NeighbourState::Permanent | NeighbourState::Noarp
        ) {
            return;
        }
        let dst = n.attributes.iter().find_map(|a| match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
            _ => None,
        });
        if dst.is_some_and(|d| addrs.contains(&d)) {
            doomed.push(n);
        }
    })?;
    let mut deleted = 0;
    for n in doomed {
        let mut del = NeighbourMessage::default();
        del.header = n.header;
        del.attributes = n
            .attributes
            .into_iter()
            .filter(|a| matches!(a, NeighbourAttribute::Destination(_)))
            .collect();
        if sock
            .request(RouteNetlinkMessage::DelNeighbour(del), "delete neighbour")
            .is_ok()
        {
            deleted += 1;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests;
