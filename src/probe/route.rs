//! Which interface and source address the kernel uses for a target, asked of the kernel
//! (`ip route get`) from a thread inside the source's namespace. ARP goes out where the kernel
//! would send the packet: with a host shim, the route to the macvlan range leaves through the
//! shim although the shim's own address is a /32.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::inventory::dump::RouteSocket;

/// The kernel's answer for one on-link IPv4 target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnLinkRoute {
    pub ifname: String,
    pub src: Ipv4Addr,
}

fn route_get(sock: &mut RouteSocket, target: Ipv4Addr) -> Option<(u32, Ipv4Addr, bool)> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.destination_prefix_length = 32;
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::Inet(target)));
    let replies = sock
        .request(RouteNetlinkMessage::GetRoute(msg), "route get")
        .ok()?;
    replies.into_iter().find_map(|r| {
        let RouteNetlinkMessage::NewRoute(m) = r else {
            return None;
        };
        let mut oif = None;
        let mut src = None;
        let mut via_gateway = false;
        for a in &m.attributes {
            match a {
                RouteAttribute::Oif(i) => oif = Some(*i),
                RouteAttribute::PrefSource(RouteAddress::Inet(s)) => src = Some(*s),
                RouteAttribute::Gateway(_) => via_gateway = true,
                _ => {}
            }
        }
        Some((oif?, src?, via_gateway))
    })
}

fn link_name(sock: &mut RouteSocket, index: u32) -> Option<String> {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    let replies = sock
        .request(RouteNetlinkMessage::GetLink(msg), "link")
        .ok()?;
    replies.into_iter().find_map(|r| match r {
        RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n),
            _ => None,
        }),
        _ => None,
    })
}

/// For each target the kernel reaches on-link (no gateway) from the calling thread's
/// namespace: the interface and source address it would use. Targets routed through a
/// gateway, or with no route, are left out.
pub fn on_link_routes_current_thread(targets: &[IpAddr]) -> HashMap<IpAddr, OnLinkRoute> {
    let mut out = HashMap::new();
    let Ok(mut sock) = RouteSocket::open() else {
        return out;
    };
    let mut names: HashMap<u32, String> = HashMap::new();
    for &t in targets {
        let IpAddr::V4(v4) = t else { continue };
        let Some((oif, src, via_gateway)) = route_get(&mut sock, v4) else {
            continue;
        };
        if via_gateway {
            continue;
        }
        let name = match names.get(&oif) {
            Some(n) => n.clone(),
            None => match link_name(&mut sock, oif) {
                Some(n) => {
                    names.insert(oif, n.clone());
                    n
                }
                None => continue,
            },
        };
        out.insert(t, OnLinkRoute { ifname: name, src });
    }
    out
}
