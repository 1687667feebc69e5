//! The expected outcome of every cell, with the reason in one sentence, from the kernel's
//! documented behaviour (drivers/net/macvlan.c, Documentation/networking/ipvlan.rst, Docker's
//! network driver documentation) and the sandbox's wiring.
//!
//! Assumptions about the sandbox world (issue 3), stated once here:
//! - the host's LAN interface (enp0s8), the peer and the router share one switch (a bridge);
//!   the host's default route is via the router, and the peer's too when it has a gateway
//!   (`ProbeEndpoint::gateway`); without one, off-link targets have no route;
//! - nothing on the LAN (peer, router) has a route to docker0's subnet: bridge containers are
//!   reachable from outside only through NAT (replies to the host's LAN address) or publishing;
//! - the router owns the far address itself and has no route to docker0's subnet;
//! - macvlan and ipvlan children hang off the host's LAN interface, address in the LAN subnet,
//!   default route via the router; a veth parent needs no promiscuous mode (macvlan adds the
//!   children's MACs to the parent's filter, which on a veth means promiscuous anyway);
//! - the host shim is a bridge-mode macvlan child of enp0s8 in the host with a route to the
//!   children's range;
//! - "reachable" for TCP means the target's stack answered (accepted or refused).
//!
//! Ordering effects are not modelled: ARP caches filled by an earlier probe (a host that
//! pinged a private macvlan child teaches it the host's MAC) can make a later probe succeed
//! where the rules say it cannot; such a mismatch is reported, not hidden.

use std::net::IpAddr;

use super::cell::Cell;
pub use super::cell::Expectation;
use super::topology::{IpvlanMode, MacvlanMode, NetMode, ProbeEndpoint, ProbeLab, Role};
use super::ProbeKind;

fn yes(why: impl Into<String>) -> Expectation {
    Expectation {
        reachable: Some(true),
        why: why.into(),
        path: Vec::new(),
    }
}

fn no(why: impl Into<String>) -> Expectation {
    Expectation {
        reachable: Some(false),
        why: why.into(),
        path: Vec::new(),
    }
}

/// Where a source sits in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    HostStack,
    Peer,
    Router,
    Bridge { nat: bool },
    Isolated,
    Macvlan(MacvlanMode),
    Ipvlan(IpvlanMode),
}

/// What a target address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// One of the host's addresses on the LAN side (enp0s8, the shim, anything not docker0).
    HostLan,
    /// docker0's address.
    HostDocker,
    PeerLan,
    RouterLan,
    RouterFar,
    Bridge,
    Macvlan(MacvlanMode),
    Ipvlan(IpvlanMode),
    /// An address the user typed that no endpoint holds.
    Unknown,
}

fn place_of(e: &ProbeEndpoint) -> Place {
    match (e.role, e.mode) {
        (Role::Host, _) | (_, Some(NetMode::Host)) => Place::HostStack,
        (Role::Peer, _) => Place::Peer,
        (Role::Router, _) => Place::Router,
        (_, Some(NetMode::Bridge)) => Place::Bridge { nat: e.nat },
        (_, Some(NetMode::Macvlan(m))) => Place::Macvlan(m),
        (_, Some(NetMode::Ipvlan(m))) => Place::Ipvlan(m),
        (_, Some(NetMode::None)) | (Role::Container, None) => Place::Isolated,
    }
}

fn target_of(lab: &ProbeLab, owner: Option<&ProbeEndpoint>, ip: IpAddr) -> Target {
    let Some(owner) = owner else {
        return Target::Unknown;
    };
    match place_of(owner) {
        Place::HostStack => {
            let on_docker = owner
                .addresses
                .iter()
                .any(|a| a.ip == ip && a.ifname == lab.facts.docker_bridge);
            if on_docker || lab.facts.docker_subnet.contains(&ip) {
                Target::HostDocker
            } else {
                Target::HostLan
            }
        }
        Place::Peer => Target::PeerLan,
        Place::Router => {
            if lab.facts.lan_subnet.contains(&ip) {
                Target::RouterLan
            } else {
                Target::RouterFar
            }
        }
        Place::Bridge { .. } => Target::Bridge,
        Place::Macvlan(m) => Target::Macvlan(m),
        Place::Ipvlan(m) => Target::Ipvlan(m),
        Place::Isolated => Target::Unknown,
    }
}

/// Facts derived from the whole lab (and, for the shim, from the cell's macvlan child).
#[derive(Clone, Copy)]
struct World {
    /// A passthru macvlan child sits on the host's LAN interface: it receives every unicast
    /// frame arriving there, so the host's own LAN traffic gets no answers.
    passthru_on_lan: bool,
    hairpin: bool,
    shim: bool,
}

impl World {
    fn of(lab: &ProbeLab) -> World {
        let passthru_on_lan = lab.endpoints.iter().any(|e| {
            e.mode == Some(NetMode::Macvlan(MacvlanMode::Passthru))
                && e.parent.as_deref().unwrap_or(&lab.facts.host_lan_ifname)
                    == lab.facts.host_lan_ifname
        });
        World {
            passthru_on_lan,
            hairpin: lab.facts.hairpin,
            shim: lab.facts.host_shim,
        }
    }
}

const PASSTHRU_DEAF: &str = "a passthru macvlan child took over enp0s8: every unicast frame \
arriving there goes to the child, so the host's own LAN traffic gets no answers";

const MACVLAN_PARENT: &str = "macvlan children cannot reach their parent's own stack: the \
parent never receives frames from its children (kernel macvlan design); add a host shim to \
bridge them";

const PARENT_TO_MACVLAN: &str = "the host's frames leave enp0s8 for the switch and never come \
back to its macvlan children (kernel macvlan design: parent and children cannot talk); add a \
host shim or a hairpin switch";

const IPVLAN_PARENT: &str = "ipvlan children and their parent's own stack cannot reach each \
other (ipvlan design, as Docker documents: the host is isolated from its ipvlan containers)";

const IPVLAN_L3_NOARP: &str = "ipvlan l3 children neither send nor answer ARP (l3 has no ARP or \
broadcast): a LAN node, for which the address is on-link, never resolves it and needs a route \
to it via the host";

const NO_ROUTE_TO_DOCKER: &str = "nothing on the LAN has a route to docker0's subnet: the \
request goes to the default gateway, the router, which does not know 172.17.0.0/16";

/// Predict one cell. `cell.to` names the target endpoint, or is the address the user typed.
pub fn expect(lab: &ProbeLab, cell: &Cell) -> Expectation {
    let Some(src) = lab.endpoint(&cell.from) else {
        return no(format!("{} is not a lab endpoint", cell.from));
    };
    let owner = lab.endpoint(&cell.to).or_else(|| {
        lab.endpoints
            .iter()
            .find(|e| e.addresses.iter().any(|a| a.ip == cell.target_ip))
    });
    let world = World::of(lab);
    let place = place_of(src);
    if place == Place::Isolated {
        return no("a none-mode container has only lo: it has no route to anything else");
    }
    if let Some(owner) = owner {
        if owner.netns_path == src.netns_path {
            return if cell.kind == ProbeKind::Arp {
                no("the address is the source's own: nobody else answers ARP for it")
            } else if src.name == owner.name {
                yes("the endpoint's own address: delivered locally")
            } else {
                yes("host mode shares the host's network stack: this is one stack talking to itself")
            };
        }
    }
    let target = target_of(lab, owner, cell.target_ip);
    // The shim matters for the macvlan child of the cell, if it covers that child.
    let child = match (place, target) {
        (Place::Macvlan(_), _) => Some(src),
        (_, Target::Macvlan(_)) => owner,
        _ => None,
    };
    let world = World {
        shim: world.shim || child.is_some_and(|c| c.host_shim),
        ..world
    };
    match cell.kind {
        ProbeKind::Icmp => icmp(&world, src, place, target),
        ProbeKind::Arp => arp(&world, place, target),
        ProbeKind::Tcp => {
            let e = icmp(&world, src, place, target);
            Expectation {
                reachable: e.reachable,
                why: format!("TCP follows the IP path: {}", e.why),
                path: e.path,
            }
        }
    }
}

/// Predict every cell of one run. Beyond [`expect`], this knows how the probes of one run
/// affect each other through ARP caches: with a hairpin switch, the host's who-has (its ARP
/// probe, or the ARP behind its echo) reaches a private macvlan child and teaches it the
/// host's MAC, and then the child's own echo to that address works although the child could
/// never resolve it alone. The run sends everything at once, so this always happens.
pub fn expect_all(lab: &ProbeLab, cells: &[Cell]) -> Vec<Expectation> {
    let world = World::of(lab);
    cells
        .iter()
        .map(|cell| {
            let base = expect(lab, cell);
            if base.reachable == Some(true) || !world.hairpin || cell.kind == ProbeKind::Arp {
                return base;
            }
            let Some(src) = lab.endpoint(&cell.from) else {
                return base;
            };
            if src.mode != Some(NetMode::Macvlan(MacvlanMode::Private)) {
                return base;
            }
            let taught = cells.iter().any(|other| {
                let Some(host) = lab.endpoint(&other.from) else {
                    return false;
                };
                host.is_host_stack()
                    && src.addresses.iter().any(|a| a.ip == other.target_ip)
                    && (other.kind == ProbeKind::Arp || !(world.shim || src.host_shim))
                    && host
                        .arp_interface_for(other.target_ip)
                        .is_some_and(|a| a.ip == cell.target_ip)
            });
            if taught {
                yes(
                    "alone it could not (a private child's ARP broadcast is reflected only back \
                     to itself), but the host's who-has in this same run reached the child \
                     through the hairpin switch and taught it the host's MAC",
                )
            } else {
                base
            }
        })
        .collect()
}

fn host_to_macvlan(w: &World, mode: MacvlanMode) -> Expectation {
    match mode {
        MacvlanMode::Passthru => no(
            "a passthru child takes over its parent: the host's frames go out to the switch and \
             what comes back on enp0s8 goes to the child, so the two never talk",
        ),
        _ if w.shim => match mode {
            MacvlanMode::Bridge => yes(
                "through the host shim: a bridge-mode macvlan sibling in the host with a route to \
                 the range, so frames go from sibling to sibling inside the parent",
            ),
            MacvlanMode::Vepa if w.hairpin => yes(
                "through the host shim and the hairpin switch, which reflects the shim's frames \
                 back to the VEPA child",
            ),
            MacvlanMode::Vepa => no(
                "VEPA children talk to siblings (the shim is one) only through a switch that \
                 reflects frames back (hairpin); this switch does not",
            ),
            _ => no(
                "a private macvlan child talks to no sibling, and the host shim is a sibling: \
                 the shim does not help private mode",
            ),
        },
        _ if w.hairpin => yes(
            "the hairpin switch reflects the host's frames back into enp0s8, where macvlan hands \
             them to the child by its MAC",
        ),
        _ => no(PARENT_TO_MACVLAN),
    }
}

fn macvlan_to_host(w: &World, mode: MacvlanMode) -> Expectation {
    match mode {
        MacvlanMode::Passthru => no(
            "a passthru child takes over its parent: its frames go out to the switch and never \
             reach the host's own stack",
        ),
        MacvlanMode::Private => no(
            "a private macvlan child cannot reach its parent: its broadcasts (its ARP) are sent \
             back only to itself even by a hairpin switch, and the host shim is a sibling it may \
             not talk to",
        ),
        MacvlanMode::Bridge if w.shim => yes(
            "the host shim, a bridge-mode sibling in the host, answers for the host's addresses \
             and the host routes the range back through it",
        ),
        _ if w.hairpin => yes(
            "the hairpin switch reflects the child's frames back into enp0s8, where the host's \
             own stack receives them",
        ),
        _ => no(MACVLAN_PARENT),
    }
}

fn macvlan_siblings(w: &World, a: MacvlanMode, b: MacvlanMode) -> Expectation {
    use MacvlanMode::*;
    match (a, b) {
        (Passthru, _) | (_, Passthru) => no("a passthru child is alone on its parent"),
        (Private, _) | (_, Private) => no(
            "private mode forbids children of one parent to talk, even through a hairpin switch \
             (reflected broadcasts go back only to their sender)",
        ),
        (Bridge, Bridge) => yes(
            "bridge mode: macvlan switches frames between bridge-mode children of one parent \
             inside the kernel",
        ),
        _ if w.hairpin => yes(
            "VEPA sends every frame out to the switch, and this switch reflects it back \
             (hairpin on)",
        ),
        _ => no(
            "VEPA sends every frame out to the switch, which must send it back (hairpin, a \
             reflective relay); this switch does not",
        ),
    }
}

fn via_gateway_to_far(src: &ProbeEndpoint, who: &str) -> Expectation {
    if src.gateway.is_some() {
        yes(format!(
            "{who} sends it to its default gateway, the router, which owns the far address"
        ))
    } else {
        no(format!(
            "{who} has no default route, so the far address (off-link) has no route"
        ))
    }
}

fn icmp(w: &World, src: &ProbeEndpoint, place: Place, target: Target) -> Expectation {
    use Target as T;
    if target == T::Unknown {
        return no("no lab endpoint holds this address: nobody is expected to answer");
    }
    match place {
        Place::Isolated => no("a none-mode container has only lo"),
        Place::Bridge { nat } => match target {
            T::Bridge => {
                yes("both containers hang off docker0, which switches frames between its ports")
            }
            T::HostLan | T::HostDocker => yes(
                "the host owns this address: the request reaches it over docker0 and it answers \
                 directly (no NAT involved)",
            ),
            T::PeerLan | T::RouterLan | T::RouterFar | T::Macvlan(_) | T::Ipvlan(_)
                if w.passthru_on_lan =>
            {
                no(PASSTHRU_DEAF)
            }
            T::PeerLan | T::RouterLan | T::RouterFar if nat => yes(
                "the host forwards it and masquerades it to its LAN address, so the reply comes \
                 back to the host, which translates it back",
            ),
            T::PeerLan | T::RouterLan | T::RouterFar => no(
                "without masquerade the request leaves with the container's 172.17 address and \
                 nothing on the LAN routes 172.17.0.0/16 back to the host: the request arrives \
                 but the reply never returns",
            ),
            T::Macvlan(mode) => {
                let h = host_to_macvlan(w, mode);
                if h.reachable != Some(true) {
                    no(format!("the host forwards it out enp0s8, but {}", h.why))
                } else if nat {
                    yes(format!("the host forwards and masquerades it; {}", h.why))
                } else {
                    no(
                        "without masquerade the child's reply to 172.17.x goes to its gateway, \
                        the router, which has no route to docker0's subnet",
                    )
                }
            }
            T::Ipvlan(_) => no(format!(
                "the host forwards it out the parent, but {IPVLAN_PARENT}"
            )),
            T::Unknown => unreachable!("handled above"),
        },
        Place::HostStack => match target {
            T::Bridge => yes(
                "docker0 is the host's own interface: the host reaches its bridge containers \
                 directly",
            ),
            T::HostLan | T::HostDocker => yes("the host's own address: delivered locally"),
            T::PeerLan | T::RouterLan | T::RouterFar if w.passthru_on_lan => no(PASSTHRU_DEAF),
            T::PeerLan | T::RouterLan => yes("on-link on the LAN through enp0s8 and the switch"),
            T::RouterFar => {
                yes("through the host's default route to the router, which owns the far address")
            }
            T::Macvlan(mode) => host_to_macvlan(w, mode),
            T::Ipvlan(_) => no(IPVLAN_PARENT),
            T::Unknown => unreachable!("handled above"),
        },
        Place::Peer | Place::Router => {
            let who = if place == Place::Peer {
                "the peer"
            } else {
                "the router"
            };
            match target {
                T::HostLan if w.passthru_on_lan => no(format!(
                    "{who}'s request is answered by nobody: {PASSTHRU_DEAF}"
                )),
                T::HostLan => yes("the host's LAN address is on-link through the switch"),
                T::HostDocker | T::Bridge => no(if place == Place::Router {
                    "the router has no route to docker0's subnet (Docker publishes containers \
                     with NAT, it does not route them)"
                        .to_string()
                } else if src.gateway.is_some() {
                    NO_ROUTE_TO_DOCKER.to_string()
                } else {
                    "the peer has no route to docker0's subnet".to_string()
                }),
                T::PeerLan | T::RouterLan => yes("on-link on the same switch"),
                T::RouterFar => via_gateway_to_far(src, who),
                T::Macvlan(MacvlanMode::Passthru) => yes(
                    "the passthru child owns enp0s8's MAC and receives every frame arriving \
                     there: to the LAN it is the machine",
                ),
                T::Macvlan(_) => yes(
                    "a macvlan child is its own station on the LAN with its own MAC: the switch \
                     delivers to it through the parent",
                ),
                T::Ipvlan(IpvlanMode::L2) => yes(
                    "an ipvlan l2 child answers on the LAN with its parent's MAC, and the parent \
                     hands frames to it by IP address",
                ),
                T::Ipvlan(_) => no(IPVLAN_L3_NOARP),
                T::Unknown => unreachable!("handled above"),
            }
        }
        Place::Macvlan(mode) => match target {
            T::HostLan => macvlan_to_host(w, mode),
            T::HostDocker | T::Bridge => no(
                "docker0's subnet lives inside the host: the child sends it to its gateway, the \
                 router, which has no route to 172.17.0.0/16",
            ),
            T::PeerLan | T::RouterLan => yes(
                "the child is its own station on the LAN: its frames go out through the parent \
                 to the switch",
            ),
            T::RouterFar => via_gateway_to_far(src, "the child"),
            T::Macvlan(other) => macvlan_siblings(w, mode, other),
            T::Ipvlan(_) => no("macvlan and ipvlan cannot share a parent: no path is modelled"),
            T::Unknown => unreachable!("handled above"),
        },
        Place::Ipvlan(mode) => match (target, mode) {
            (T::HostLan | T::HostDocker, _) => no(IPVLAN_PARENT),
            (T::Bridge, _) => no(
                "docker0's subnet lives inside the host, which an ipvlan child cannot reach \
                 (ipvlan design), and the router has no route to it",
            ),
            (T::Ipvlan(_), _) => yes(
                "ipvlan delivers between children of one parent inside the kernel, by IP address",
            ),
            (T::PeerLan | T::RouterLan, IpvlanMode::L2) => yes(
                "ipvlan l2: the child sends on the LAN with its parent's MAC and gets the replies \
                 by IP address",
            ),
            (T::RouterFar, IpvlanMode::L2) => via_gateway_to_far(src, "the child"),
            (T::PeerLan | T::RouterLan | T::RouterFar, _) => no(format!(
                "the request leaves through the host's routing, but the reply needs ARP for the \
                 child: {IPVLAN_L3_NOARP}"
            )),
            (T::Macvlan(_), _) => {
                no("macvlan and ipvlan cannot share a parent: no path is modelled")
            }
            (T::Unknown, _) => unreachable!("handled above"),
        },
    }
}

fn arp(w: &World, place: Place, target: Target) -> Expectation {
    use Target as T;
    if target == T::Unknown {
        return no("no lab endpoint holds this address: nobody is expected to answer");
    }
    match (place, target) {
        (Place::Isolated, _) => no("a none-mode container has only lo"),
        (Place::Bridge { .. }, T::Bridge) | (Place::HostStack, T::Bridge) => yes(
            "docker0 floods the who-has to its ports and the container answers with its own MAC",
        ),
        (Place::Bridge { .. }, T::HostDocker) => {
            yes("the host answers for docker0's address with docker0's MAC")
        }
        (Place::HostStack, T::PeerLan | T::RouterLan) if w.passthru_on_lan => yes(
            "the owner answers, and an ARP probe reads enp0s8 before macvlan hands the frame to \
             the passthru child; the host's own stack never gets that answer, so its ICMP fails",
        ),
        (Place::HostStack, T::PeerLan | T::RouterLan) => {
            yes("the who-has is broadcast on the switch and the owner answers with its MAC")
        }
        (Place::HostStack, T::Macvlan(MacvlanMode::Passthru)) => no(
            "a passthru child took over enp0s8: the host's who-has leaves for the switch and the \
             child shares the host's MAC, so nothing answers the host",
        ),
        // With a shim the host's route to the range leaves through the shim, and so does its
        // who-has: the shim's reach decides, exactly as for an echo.
        (Place::HostStack, T::Macvlan(mode)) if w.shim => host_to_macvlan(w, mode),
        (Place::HostStack, T::Macvlan(_)) if w.hairpin => yes(
            "the hairpin switch reflects the host's who-has back to the children through enp0s8, \
             and the child's answer back to the host",
        ),
        (Place::HostStack, T::Macvlan(_)) => no(format!(
            "ARP is sent from enp0s8 itself: {PARENT_TO_MACVLAN}"
        )),
        (Place::HostStack, T::Ipvlan(_)) => no(IPVLAN_PARENT),
        (Place::Peer | Place::Router, T::HostLan) if w.passthru_on_lan => yes(
            "the who-has is broadcast, which the host's stack still receives beside the passthru \
             child, so it answers (only unicast goes to the child)",
        ),
        (Place::Peer | Place::Router, T::HostLan) => {
            yes("the host answers the broadcast who-has on enp0s8 with its MAC")
        }
        (Place::Peer | Place::Router, T::PeerLan | T::RouterLan) => {
            yes("on the same switch: the owner answers with its MAC")
        }
        (Place::Peer | Place::Router, T::Macvlan(MacvlanMode::Passthru)) => {
            yes("the passthru child answers with the MAC it took over from its parent")
        }
        (Place::Peer | Place::Router, T::Macvlan(_)) => {
            yes("the macvlan child answers with its own MAC, distinct from its parent's")
        }
        (Place::Peer | Place::Router, T::Ipvlan(IpvlanMode::L2)) => {
            yes("the ipvlan l2 child answers with its parent's MAC: ipvlan children share it")
        }
        (Place::Peer | Place::Router, T::Ipvlan(_)) => no(IPVLAN_L3_NOARP),
        (Place::Macvlan(_), T::PeerLan | T::RouterLan) => yes(
            "the child's who-has goes out through the parent and the answer comes back to the \
             child's own MAC",
        ),
        (Place::Macvlan(mode), T::HostLan) => macvlan_to_host(w, mode),
        (Place::Macvlan(a), T::Macvlan(b)) => macvlan_siblings(w, a, b),
        (Place::Ipvlan(IpvlanMode::L2), T::PeerLan | T::RouterLan) => yes(
            "the child's who-has goes out with its parent's MAC and the parent hands the answer \
             to it by IP address",
        ),
        (Place::Ipvlan(IpvlanMode::L2), T::Ipvlan(IpvlanMode::L2)) => yes(
            "ipvlan l2 delivers broadcasts between children; the sibling answers with the shared \
             parent MAC",
        ),
        (Place::Ipvlan(IpvlanMode::L2), T::Ipvlan(_)) => no(IPVLAN_L3_NOARP),
        (Place::Ipvlan(_), T::HostLan) => no(IPVLAN_PARENT),
        (Place::Ipvlan(_), _) => no(
            "ipvlan l3 children have no ARP (l3 has no ARP or broadcast): nobody answers a \
             who-has from them",
        ),
        _ => no("not on-link for this source: ARP cannot reach it"),
    }
}

#[cfg(test)]
mod tests;
