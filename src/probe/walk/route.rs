//! Routing inside one namespace, from the inventory's main table: longest-prefix match (the
//! lowest metric breaks ties, as the kernel's FIB does), which addresses are the namespace's
//! own, and which are a connected subnet's broadcast address.
//!
//! The walk asks these of [`super::index::WalkIndex`], built once per world; the plain scans
//! here are what the index must answer, and the tests compare the two (tests/index.rs).

#[cfg(test)]
use std::net::IpAddr;
use std::net::Ipv4Addr;

#[cfg(test)]
use crate::inventory::NamespaceInventory;
use crate::inventory::Route;

/// A route's destination as a prefix, or `None` for a destination the walk cannot read.
pub(super) fn route_prefix(route: &Route) -> Option<ipnet::Ipv4Net> {
    if route.dst == "default" {
        return Some(ipnet::Ipv4Net::default());
    }
    if let Ok(net) = route.dst.parse::<ipnet::Ipv4Net>() {
        return Some(net.trunc());
    }
    route
        .dst
        .parse::<Ipv4Addr>()
        .ok()
        .and_then(|a| ipnet::Ipv4Net::new(a, 32).ok())
}

/// The main-table route the kernel picks for `dst`: the longest matching prefix, then the
/// lowest metric. Routes through an interface that is down are skipped (the kernel does not
/// use them).
#[cfg(test)]
pub(super) fn lookup(ns: &NamespaceInventory, dst: Ipv4Addr) -> Option<&Route> {
    ns.routes
        .iter()
        .filter(|r| r.family == "inet")
        .filter(|r| {
            r.dev
                .as_deref()
                .is_none_or(|d| ns.link_by_name(d).is_some_and(|l| l.is_up()))
        })
        .filter_map(|r| route_prefix(r).map(|p| (r, p)))
        .filter(|(_, p)| p.contains(&dst))
        .max_by(|(ra, pa), (rb, pb)| {
            pa.prefix_len()
                .cmp(&pb.prefix_len())
                .then(rb.metric.unwrap_or(0).cmp(&ra.metric.unwrap_or(0)))
        })
        .map(|(r, _)| r)
}

/// The interface holding `ip` in `ns`, when `ns` owns it (127.0.0.0/8 belongs to `lo`).
#[cfg(test)]
pub(super) fn owner_link(ns: &NamespaceInventory, ip: Ipv4Addr) -> Option<&str> {
    if ip.is_loopback() {
        return ns
            .links
            .iter()
            .find(|l| l.kind == crate::inventory::LinkKind::Loopback && l.is_up())
            .map(|l| l.name.as_str());
    }
    ns.links
        .iter()
        .filter(|l| l.is_up())
        .find(|l| l.addresses.iter().any(|a| a.ip == IpAddr::V4(ip)))
        .map(|l| l.name.as_str())
}

/// Whether `ip` is the broadcast address of a subnet one of `ns`'s addresses is on.
#[cfg(test)]
pub(super) fn is_subnet_broadcast(ns: &NamespaceInventory, ip: Ipv4Addr) -> bool {
    ip == Ipv4Addr::BROADCAST
        || ns
            .links
            .iter()
            .flat_map(|l| &l.addresses)
            .any(|a| match a.ip {
                IpAddr::V4(v4) if a.prefix_len < 31 => {
                    ipnet::Ipv4Net::new(v4, a.prefix_len).is_ok_and(|n| n.broadcast() == ip)
                }
                _ => false,
            })
}

/// The source address the kernel picks for a packet leaving by `route`: its `prefsrc`, else
/// the first IPv4 address of its interface.
#[cfg(test)]
pub(super) fn source_for(ns: &NamespaceInventory, route: &Route) -> Option<Ipv4Addr> {
    if let Some(src) = route.prefsrc.as_deref().and_then(|s| s.parse().ok()) {
        return Some(src);
    }
    let dev = ns.link_by_name(route.dev.as_deref()?)?;
    dev.addresses.iter().find_map(|a| match a.ip {
        IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
        _ => None,
    })
}
