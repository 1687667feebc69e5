//! Reading namespaces from the kernel: one dedicated thread per namespace enters it, opens a
//! netlink socket there and dumps links, addresses, routes, neighbours and the bridge FDB in
//! one go, then reads ip_forward and the NAT rules from the same thread.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, RouteMessageBuilder};

use super::convert::{self, PendingRef, RawNamespace};
use super::{InventoryError, NamespaceInventory};
use crate::netns::{self, Netns};

fn nl_err(what: &str, e: impl std::fmt::Display) -> InventoryError {
    InventoryError::Netlink(format!("{what}: {e}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, InventoryError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?)
}

/// Ask the kernel for this namespace's nsid of the namespace open at `file`.
async fn nsid_of(handle: &mut Handle, file: &File) -> Option<i32> {
    let mut msg = NsidMessage::default();
    msg.attributes = vec![NsidAttribute::Fd(file.as_raw_fd() as u32)];
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    let mut responses = handle.request(req).ok()?;
    while let Some(resp) = responses.next().await {
        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(m)) = resp.payload {
            for attr in m.attributes {
                if let NsidAttribute::Id(id) = attr {
                    return (id >= 0).then_some(id);
                }
            }
        }
    }
    None
}

/// Dump everything netlink knows in the namespace the calling thread is in. `others` are the
/// other namespaces (name, path) whose nsids are looked up when a link points into one.
fn dump_current_thread(others: &[(String, PathBuf)]) -> Result<RawNamespace, InventoryError> {
    let rt = runtime()?;
    rt.block_on(async {
        let (conn, mut handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        // The kernel runs one dump at a time per netlink socket (a second one gets EBUSY), so
        // the dumps go one after another.
        let links = handle.link().get().execute().try_collect::<Vec<_>>().await;
        let addresses = handle
            .address()
            .get()
            .execute()
            .try_collect::<Vec<_>>()
            .await;
        let routes4 = handle
            .route()
            .get(RouteMessageBuilder::<std::net::Ipv4Addr>::new().build())
            .execute()
            .try_collect::<Vec<_>>()
            .await;
        let routes6 = handle
            .route()
            .get(RouteMessageBuilder::<std::net::Ipv6Addr>::new().build())
            .execute()
            .try_collect::<Vec<_>>()
            .await;
        let neigh4 = handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet)
            .execute()
            .try_collect::<Vec<_>>()
            .await;
        let neigh6 = handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet6)
            .execute()
            .try_collect::<Vec<_>>()
            .await;
        let fdb = handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute()
            .try_collect::<Vec<_>>()
            .await;
        let links = links.map_err(|e| nl_err("links", e))?;
        let mut raw = RawNamespace {
            addresses: addresses.map_err(|e| nl_err("addresses", e))?,
            routes: routes4.map_err(|e| nl_err("routes", e))?,
            neighbours: neigh4.map_err(|e| nl_err("neighbours", e))?,
            // A kernel without the bridge module answers the AF_BRIDGE dump with an error:
            // no bridges, so no FDB.
            fdb: fdb.unwrap_or_default(),
            ..Default::default()
        };
        // IPv6 may be disabled in the namespace; then these dumps fail and are simply empty.
        raw.routes.extend(routes6.unwrap_or_default());
        raw.neighbours.extend(neigh6.unwrap_or_default());

        // nsids are only needed when some link points into another namespace.
        let needs_nsids = links.iter().any(|l| {
            l.attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::LinkNetNsId(_)))
        });
        if needs_nsids {
            for (name, path) in others {
                let Ok(file) = File::open(path) else { continue };
                if let Some(id) = nsid_of(&mut handle, &file).await {
                    raw.nsids.insert(id, name.clone());
                }
            }
        }
        raw.links = links;
        Ok::<_, InventoryError>(raw)
    })
    .map(|mut raw| {
        raw.ip_forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .ok()
            .map(|s| s.trim() == "1");
        raw
    })
}

/// Names of links by index in the namespace the calling thread is in.
fn link_names_current_thread(indexes: &[u32]) -> Result<HashMap<u32, String>, InventoryError> {
    let rt = runtime()?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        let mut out = HashMap::new();
        // A handful of lookups are cheaper one by one; many are cheaper as one dump.
        if indexes.len() <= 16 {
            for &idx in indexes {
                let mut stream = handle.link().get().match_index(idx).execute();
                if let Some(Ok(msg)) = stream.next().await {
                    if let Some(name) = msg.attributes.iter().find_map(|a| match a {
                        LinkAttribute::IfName(n) => Some(n.clone()),
                        _ => None,
                    }) {
                        out.insert(idx, name);
                    }
                }
            }
        } else {
            let mut stream = handle.link().get().execute();
            while let Some(msg) = stream.try_next().await.map_err(|e| nl_err("links", e))? {
                if let Some(name) = msg.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                }) {
                    out.insert(msg.header.index, name);
                }
            }
        }
        Ok(out)
    })
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
    let (raw, nat) = netns::run_in(&ns.name, &ns.path, move || {
        let raw = dump_current_thread(&others);
        // NAT is read from the same thread: `nft` started here runs in this namespace.
        let nat = super::nat::read_nat_in_current_thread();
        (raw, nat)
    })?;
    let raw = raw?;
    let (mut inv, pending) = convert::build(&ns.name, ns.id, ns.source, &raw);
    inv.process = ns.process.clone();
    inv.nat = nat.0;
    inv.errors = nat.1;
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
