//! Reading namespaces from the kernel: a namespace thread (one for a single read, a bounded
//! reused set of them for many, [`crate::netns::pool`]) enters it, opens a netlink socket there and dumps links, addresses, routes, neighbours and the bridge FDB one
//! after another (the kernel runs one dump at a time per socket), then reads ip_forward and
//! the NAT rules and filter chains from the same thread.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Mutex;

use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::convert::{self, PendingRef, RawLink, RawNamespace};
use super::dump::RouteSocket;
use super::model::{LinkConf, LinkKind};
use super::{InventoryError, NamespaceInventory};
use crate::netns::{self, Netns};

/// This namespace's nsid for the namespace open at `file`, if one is assigned.
fn nsid_of(sock: &mut RouteSocket, file: &File) -> Option<i32> {
    let mut msg = NsidMessage::default();
    msg.attributes = vec![NsidAttribute::Fd(file.as_raw_fd() as u32)];
    let replies = sock
        .request(RouteNetlinkMessage::GetNsId(msg), "nsid")
        .ok()?;
    replies.into_iter().find_map(|r| match r {
        RouteNetlinkMessage::NewNsId(m) => m.attributes.into_iter().find_map(|a| match a {
            NsidAttribute::Id(id) if id >= 0 => Some(id),
            _ => None,
        }),
        _ => None,
    })
}

fn link_dump_request() -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    // Statistics are most of a link message and the inventory shows none.
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    RouteNetlinkMessage::GetLink(msg)
}

fn neighbour_dump_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = family;
    RouteNetlinkMessage::GetNeighbour(msg)
}

fn route_dump_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family;
    RouteNetlinkMessage::GetRoute(msg)
}

/// The nsids that links of `raw` point into and that are not named yet.
fn unnamed_nsids(raw: &RawNamespace) -> std::collections::BTreeSet<i32> {
    raw.links
        .iter()
        .filter_map(|l| l.link_netnsid)
        .filter(|id| !raw.nsids.contains_key(id))
        .collect()
}

/// Name the nsids links of `raw` point into, asking the calling thread's namespace (which is
/// `raw`'s) for its nsid of each of `others` (name, path) in turn, and stopping once every
/// one is named: `others` should list the likeliest first.
fn name_nsids_current_thread(
    raw: &mut RawNamespace,
    others: &[(String, PathBuf)],
) -> Result<(), InventoryError> {
    let mut unnamed = unnamed_nsids(raw);
    if unnamed.is_empty() {
        return Ok(());
    }
    let mut sock = RouteSocket::open()?;
    for (name, path) in others {
        if unnamed.is_empty() {
            break;
        }
        let Ok(file) = File::open(path) else { continue };
        if let Some(id) = nsid_of(&mut sock, &file) {
            if unnamed.remove(&id) {
                raw.nsids.insert(id, name.clone());
            }
        }
    }
    Ok(())
}

/// Dump everything netlink knows in the namespace the calling thread is in. nsids are named
/// afterwards ([`name_nsids_current_thread`]).
fn dump_current_thread() -> Result<RawNamespace, InventoryError> {
    let mut sock = RouteSocket::open()?;
    let mut raw = RawNamespace::default();
    sock.dump(link_dump_request(), "links", |m| {
        if let RouteNetlinkMessage::NewLink(l) = m {
            raw.links.push(RawLink::from_message(&l));
        }
    })?;
    sock.dump(
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        "addresses",
        |m| {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                raw.addresses.push(a);
            }
        },
    )?;
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let got = sock.dump(route_dump_request(family), "routes", |m| {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                if convert::is_main_table(&r) {
                    raw.routes.push(r);
                }
            }
        });
        // IPv6 may be disabled in the namespace: then there are no IPv6 routes.
        if family == AddressFamily::Inet {
            got?;
        }
    }
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let got = sock.dump(neighbour_dump_request(family), "neighbours", |m| {
            if let RouteNetlinkMessage::NewNeighbour(n) = m {
                raw.neighbours.push(n);
            }
        });
        if family == AddressFamily::Inet {
            got?;
        }
    }
    // The FDB is only read where there is a bridge: on a namespace of 10,000 veths the
    // AF_BRIDGE dump lists every device's multicast entries and says nothing of use. A kernel
    // without the bridge module answers with an error: no FDB then.
    if raw.links.iter().any(|l| l.kind == LinkKind::Bridge) {
        let _ = sock.dump(neighbour_dump_request(AddressFamily::Bridge), "fdb", |m| {
            if let RouteNetlinkMessage::NewNeighbour(n) = m {
                raw.fdb.push(n);
            }
        });
    }
    raw.ip_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .ok()
        .map(|s| s.trim() == "1");
    raw.bridge_nf_call_iptables = read_bridge_nf_call_iptables();
    // /proc/sys/net shows the namespace of the thread that opens it, like ip_forward above.
    // Two small reads per link: on a namespace of 2,000 veths, `inventory --json` (debug build)
    // took 0.39 s against 0.29 s without them.
    let names: Vec<String> = std::iter::once("all".to_string())
        .chain(raw.links.iter().map(|l| l.name.clone()))
        .collect();
    for name in names {
        raw.conf.insert(name.clone(), read_ipv4_conf(&name));
    }
    Ok(raw)
}

/// `net.bridge.bridge-nf-call-iptables` of the calling thread's namespace (per namespace since
/// Linux 5.3; a new namespace starts at 1). The file exists only while br_netfilter is loaded
/// (Docker loads it), and without the module no bridged frame meets netfilter: false.
fn read_bridge_nf_call_iptables() -> Option<bool> {
    match std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables") {
        Ok(s) => Some(s.trim() == "1"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// `net.ipv4.conf.<name>.rp_filter` and `.proxy_arp` of the calling thread's namespace; a value
/// that cannot be read or is not a small number stays null.
fn read_ipv4_conf(name: &str) -> LinkConf {
    // Interface names never contain '/', but a name read from the kernel is still checked
    // before it becomes a path.
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return LinkConf::default();
    }
    let read = |key: &str| -> Option<u8> {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{name}/{key}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    LinkConf {
        rp_filter: read("rp_filter").filter(|v| *v <= 2),
        proxy_arp: read("proxy_arp").map(|v| v != 0),
        hairpin: None,
    }
}

fn link_name(msg: &LinkMessage) -> Option<String> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

/// Names of links by index in the namespace the calling thread is in. A few are asked for one
/// by one (a veth peer in a namespace of 10,000 links must not cost a dump of all of them);
/// many are found with one dump.
fn link_names_current_thread(indexes: &[u32]) -> Result<HashMap<u32, String>, InventoryError> {
    const ONE_BY_ONE: usize = 16;
    let mut sock = RouteSocket::open()?;
    let mut out = HashMap::new();
    if indexes.len() <= ONE_BY_ONE {
        for &idx in indexes {
            let mut msg = LinkMessage::default();
            msg.header.index = idx;
            msg.attributes
                .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
            // A link that vanished meanwhile answers ENODEV: it simply has no name.
            if let Ok(replies) = sock.request(RouteNetlinkMessage::GetLink(msg), "link") {
                for r in replies {
                    if let RouteNetlinkMessage::NewLink(l) = r {
                        if let Some(name) = link_name(&l) {
                            out.insert(l.header.index, name);
                        }
                    }
                }
            }
        }
        return Ok(out);
    }
    let wanted: std::collections::HashSet<u32> = indexes.iter().copied().collect();
    sock.dump(link_dump_request(), "links", |m| {
        if let RouteNetlinkMessage::NewLink(l) = m {
            if wanted.contains(&l.header.index) {
                if let Some(name) = link_name(&l) {
                    out.insert(l.header.index, name);
                }
            }
        }
    })?;
    Ok(out)
}

/// The other namespaces (name, path) whose nsids a read of `ns` may look up.
fn others_of(ns: &Netns, all: &[Netns]) -> Vec<(String, PathBuf)> {
    all.iter()
        .filter(|o| o.id != ns.id)
        .map(|o| (o.name.clone(), o.path.clone()))
        .collect()
}

/// What a namespace thread reads: the netlink dump and the NAT rules (with their errors).
type Dumped = (RawNamespace, super::nat::RulesRead);

/// Dump the namespace the calling thread is in and read its NAT rules and filter chains.
fn dump_and_nat_current_thread() -> Result<Dumped, InventoryError> {
    let raw = dump_current_thread()?;
    // NAT and filter rules are read from the same thread: `nft` started here runs in this
    // namespace.
    let rules = super::nat::read_rules_in_current_thread();
    Ok((raw, rules))
}

/// Convert a dump of `ns`; references into other namespaces stay pending.
fn build(ns: &Netns, (raw, rules): Dumped) -> (NamespaceInventory, Vec<PendingRef>) {
    let (mut inv, pending) = convert::build(&ns.name, ns.id, ns.source, &raw);
    inv.process = ns.process.clone();
    inv.nat = rules.nat;
    inv.filter = rules.filter;
    inv.errors = rules.errors;
    (inv, pending)
}

/// Dump the namespace the calling thread is in (which is `ns`), name its nsids and convert
/// it; references into other namespaces stay pending.
fn read_unresolved_current_thread(
    ns: &Netns,
    others: &[(String, PathBuf)],
) -> Result<(NamespaceInventory, Vec<PendingRef>), InventoryError> {
    let mut dumped = dump_and_nat_current_thread()?;
    name_nsids_current_thread(&mut dumped.0, others)?;
    Ok(build(ns, dumped))
}

/// Dump one namespace and convert it; references into other namespaces stay pending.
fn read_unresolved(
    ns: &Netns,
    all: &[Netns],
) -> Result<(NamespaceInventory, Vec<PendingRef>), InventoryError> {
    let others = others_of(ns, all);
    let owned = ns.clone();
    netns::run_in(&ns.name, &ns.path, move || {
        read_unresolved_current_thread(&owned, &others)
    })?
}

/// An entry for a namespace that could not be read, saying why.
fn failed(ns: &Netns, why: String) -> (NamespaceInventory, Vec<PendingRef>) {
    let mut inv = NamespaceInventory::empty(&ns.name, ns.id, ns.source);
    inv.process = ns.process.clone();
    inv.errors.push(why);
    (inv, Vec::new())
}

/// Name the pending references by asking each other namespace for the indexes it holds.
fn resolve_by_lookup(inv: &mut NamespaceInventory, pending: &[PendingRef], all: &[Netns]) {
    let mut wanted: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for p in pending {
        wanted.entry(p.netns.as_str()).or_default().push(p.ifindex);
    }
    let mut names: HashMap<(String, u32), String> = HashMap::new();
    for (ns_name, indexes) in wanted {
        let Some(other) = all.iter().find(|o| o.name == ns_name) else {
            continue;
        };
        let indexes_owned = indexes.clone();
        match netns::run_in(&other.name, &other.path, move || {
            link_names_current_thread(&indexes_owned)
        }) {
            Ok(Ok(found)) => {
                for (idx, name) in found {
                    names.insert((ns_name.to_string(), idx), name);
                }
            }
            Ok(Err(e)) => inv
                .errors
                .push(format!("resolving links in {ns_name}: {e}")),
            Err(e) => inv
                .errors
                .push(format!("resolving links in {ns_name}: {e}")),
        }
    }
    convert::resolve_pending(inv, pending, &|ns, idx| {
        names.get(&(ns.to_string(), idx)).cloned()
    });
}

/// Read one namespace completely, resolving veth peers and lower devices in other namespaces.
pub fn read_namespace(ns: &Netns, all: &[Netns]) -> Result<NamespaceInventory, InventoryError> {
    let (mut inv, pending) = match read_unresolved(ns, all) {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!(netns = %ns.name, error = %e, "inventory read failed");
            return Err(e);
        }
    };
    if !pending.is_empty() {
        resolve_by_lookup(&mut inv, &pending, all);
    }
    log_read(&inv);
    Ok(inv)
}

/// One log line per namespace read, and one per error met reading it.
fn log_read(inv: &NamespaceInventory) {
    tracing::debug!(
        netns = %inv.name,
        links = inv.links.len(),
        routes = inv.routes.len(),
        neighbours = inv.neighbours.len(),
        nat = inv.nat.len(),
        "inventory read"
    );
    for e in &inv.errors {
        tracing::warn!(netns = %inv.name, error = %e, "inventory read");
    }
}

/// Read several namespaces concurrently on a bounded, reused set of namespace threads
/// ([`netns::pool`]), resolving cross-namespace references from what was read before asking
/// the kernel again. A namespace that cannot be read is returned with the error in its
/// `errors` instead of failing the whole read.
pub fn read_many(wanted: &[Netns], all: &[Netns]) -> Vec<NamespaceInventory> {
    read_many_on(netns::pool::default_threads(), wanted, all)
}

/// [`read_many`] on at most `threads` namespace threads.
pub fn read_many_on(threads: usize, wanted: &[Netns], all: &[Netns]) -> Vec<NamespaceInventory> {
    let started = std::time::Instant::now();
    let targets: Vec<netns::pool::Target> = wanted
        .iter()
        .map(|ns| netns::pool::Target {
            label: &ns.name,
            path: &ns.path,
        })
        .collect();
    // First every namespace is dumped; then the nsids its links point into are named, asking
    // first the namespaces that hold the most links into others (a bridge's namespace, the
    // host): a container's veth peer is there, so one request names it where trying the
    // other namespaces in name order took up to one per namespace (200 x 200 requests for
    // 200 containers on one bridge).
    let mut dumped: Vec<Result<Dumped, String>> =
        netns::pool::for_each_in(threads, &targets, |_| dump_and_nat_current_thread())
            .into_iter()
            .map(|r| match r {
                Ok(Ok(d)) => Ok(d),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            })
            .collect();
    let cross_links = |i: usize| match &dumped[i] {
        Ok((raw, _)) => raw
            .links
            .iter()
            .filter(|l| l.link_netnsid.is_some())
            .count(),
        Err(_) => 0,
    };
    let mut by_likeliness: Vec<usize> = (0..wanted.len()).collect();
    by_likeliness.sort_by_key(|&i| std::cmp::Reverse(cross_links(i)));
    let mut likeliest: Vec<(String, PathBuf, u64)> = by_likeliness
        .iter()
        .map(|&i| (wanted[i].name.clone(), wanted[i].path.clone(), wanted[i].id))
        .collect();
    // Namespaces not read (not asked for) can still hold a peer: they come last.
    likeliest.extend(
        all.iter()
            .filter(|o| !wanted.iter().any(|w| w.id == o.id))
            .map(|o| (o.name.clone(), o.path.clone(), o.id)),
    );
    let need: Vec<usize> = (0..wanted.len())
        .filter(|&i| matches!(&dumped[i], Ok((raw, _)) if !unnamed_nsids(raw).is_empty()))
        .collect();
    let need_targets: Vec<netns::pool::Target> = need.iter().map(|&i| targets[i]).collect();
    let raws: Vec<Mutex<Option<RawNamespace>>> = need
        .iter()
        .map(|&i| Mutex::new(dumped[i].as_mut().ok().map(|(raw, _)| std::mem::take(raw))))
        .collect();
    let named = netns::pool::for_each_in(threads, &need_targets, |k| {
        let me = wanted[need[k]].id;
        let others: Vec<(String, PathBuf)> = likeliest
            .iter()
            .filter(|(_, _, id)| *id != me)
            .map(|(name, path, _)| (name.clone(), path.clone()))
            .collect();
        let mut slot = raws[k].lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            Some(raw) => name_nsids_current_thread(raw, &others),
            None => Ok(()),
        }
    });
    for ((k, &i), r) in need.iter().enumerate().zip(named) {
        let raw = raws[k]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        if let Ok((slot, rules)) = &mut dumped[i] {
            *slot = raw;
            // Links whose namespace could not be named are shown without it.
            let why = match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = why {
                rules.errors.push(format!("naming other namespaces: {why}"));
            }
        }
    }
    let mut results: Vec<Option<(NamespaceInventory, Vec<PendingRef>)>> =
        Vec::with_capacity(wanted.len());
    for (ns, r) in wanted.iter().zip(dumped) {
        results.push(Some(match r {
            Ok(d) => build(ns, d),
            Err(e) => failed(ns, e),
        }));
    }
    let names: HashMap<(String, u32), String> = results
        .iter()
        .flatten()
        .flat_map(|(inv, _)| {
            inv.links
                .iter()
                .map(move |l| ((inv.name.clone(), l.index), l.name.clone()))
        })
        .collect();
    let mut out = Vec::with_capacity(results.len());
    for (mut inv, pending) in results.into_iter().flatten() {
        let (known, unknown): (Vec<PendingRef>, Vec<PendingRef>) = pending
            .into_iter()
            .partition(|p| names.contains_key(&(p.netns.clone(), p.ifindex)));
        convert::resolve_pending(&mut inv, &known, &|ns, idx| {
            names.get(&(ns.to_string(), idx)).cloned()
        });
        if !unknown.is_empty() {
            resolve_by_lookup(&mut inv, &unknown, all);
        }
        log_read(&inv);
        out.push(inv);
    }
    tracing::info!(
        namespaces = out.len(),
        threads,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "inventory read"
    );
    out
}
