//! Reading namespaces from the kernel: one dedicated thread per namespace enters it, opens a
//! netlink socket there and dumps links, addresses, routes, neighbours and the bridge FDB one
//! after another (the kernel runs one dump at a time per socket), then reads ip_forward and
//! the NAT rules and filter chains from the same thread.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::convert::{self, PendingRef, RawLink, RawNamespace};
use super::dump::RouteSocket;
use super::model::LinkKind;
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

/// Dump everything netlink knows in the namespace the calling thread is in. `others` are the
/// other namespaces (name, path) whose nsids are looked up when a link points into one.
fn dump_current_thread(others: &[(String, PathBuf)]) -> Result<RawNamespace, InventoryError> {
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
    // nsids are only needed when some link points into another namespace.
    if raw.links.iter().any(|l| l.link_netnsid.is_some()) {
        for (name, path) in others {
            let Ok(file) = File::open(path) else { continue };
            if let Some(id) = nsid_of(&mut sock, &file) {
                raw.nsids.insert(id, name.clone());
            }
        }
    }
    raw.ip_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .ok()
        .map(|s| s.trim() == "1");
    Ok(raw)
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

/// Dump one namespace and convert it; references into other namespaces stay pending.
fn read_unresolved(
    ns: &Netns,
    all: &[Netns],
) -> Result<(NamespaceInventory, Vec<PendingRef>), InventoryError> {
    let others: Vec<(String, PathBuf)> = all
        .iter()
        .filter(|o| o.id != ns.id)
        .map(|o| (o.name.clone(), o.path.clone()))
        .collect();
    let (raw, rules) = netns::run_in(&ns.name, &ns.path, move || {
        let raw = dump_current_thread(&others);
        // NAT and filter rules are read from the same thread: `nft` started here runs in this
        // namespace.
        let rules = super::nat::read_rules_in_current_thread();
        (raw, rules)
    })?;
    let raw = raw?;
    let (mut inv, pending) = convert::build(&ns.name, ns.id, ns.source, &raw);
    inv.process = ns.process.clone();
    inv.nat = rules.nat;
    inv.filter = rules.filter;
    inv.errors = rules.errors;
    Ok((inv, pending))
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
    let (mut inv, pending) = read_unresolved(ns, all)?;
    if !pending.is_empty() {
        resolve_by_lookup(&mut inv, &pending, all);
    }
    Ok(inv)
}

/// Read several namespaces concurrently (a few threads at a time), resolving cross-namespace
/// references from what was read before asking the kernel again. A namespace that cannot be
/// read is returned with the error in its `errors` instead of failing the whole read.
pub fn read_many(wanted: &[Netns], all: &[Netns]) -> Vec<NamespaceInventory> {
    const PARALLEL: usize = 4;
    let mut results: Vec<Option<(NamespaceInventory, Vec<PendingRef>)>> = Vec::new();
    for chunk in wanted.chunks(PARALLEL) {
        let chunk_results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|ns| s.spawn(move || read_unresolved(ns, all)))
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        for (ns, r) in chunk.iter().zip(chunk_results) {
            results.push(Some(match r {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    let mut inv = NamespaceInventory::empty(&ns.name, ns.id, ns.source);
                    inv.process = ns.process.clone();
                    inv.errors.push(e.to_string());
                    (inv, Vec::new())
                }
                Err(_) => {
                    let mut inv = NamespaceInventory::empty(&ns.name, ns.id, ns.source);
                    inv.errors.push("reader thread panicked".into());
                    (inv, Vec::new())
                }
            }));
        }
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
        out.push(inv);
    }
    out
}
