//! The lab's state as the probes see it: every endpoint with the namespace it runs in, each
//! address with the interface that holds it, and the lab-wide facts the views show.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net};

use super::topology::{
    EndpointAddress, EndpointOrigin, LabFacts, NetMode, ProbeEndpoint, ProbeLab,
};
use crate::lab::endpoint::Endpoint;
use crate::lab::state::LabState;
use crate::lab::Lab;

/// The probes' view of a lab.
pub fn probe_lab(lab: &Lab) -> ProbeLab {
    from_state(&lab.state, &lab.endpoints())
}

/// Build the probes' lab from the lab's state and its endpoints.
pub fn from_state(st: &LabState, endpoints: &[Endpoint]) -> ProbeLab {
    let docker_net = st.spec.docker.address.trunc();
    let endpoints = endpoints
        .iter()
        .map(|e| {
            // Which interface holds an address: docker0 holds the docker subnet's, a shim its
            // own, the endpoint's main interface the rest.
            let ifname_of = |a: &Ipv4Net| {
                if docker_net.contains(&a.addr()) && e.mode != Some(NetMode::Bridge) {
                    st.spec.docker.bridge.clone()
                } else if let Some(s) = st.shims.iter().find(|s| s.ip.addr() == a.addr()) {
                    s.ifname.clone()
                } else {
                    e.ifname.clone()
                }
            };
            ProbeEndpoint {
                name: e.name.clone(),
                role: e.role,
                mode: e.mode,
                // A host-mode container and the host share one path: that is how the planner
                // and the packet walk (by the namespace's inode) recognise one stack.
                netns_path: match &e.stack_netns {
                    Some(n) => PathBuf::from(crate::netns::NETNS_RUN_DIR).join(n),
                    None => PathBuf::from("/proc/self/ns/net"),
                },
                ifname: e.ifname.clone(),
                mac: e.mac.clone(),
                addresses: e
                    .addresses
                    .iter()
                    .map(|a| {
                        EndpointAddress::new(IpAddr::V4(a.addr()), a.prefix_len(), &ifname_of(a))
                    })
                    .collect(),
                gateway: e.gateway.map(IpAddr::V4),
                parent: e.parent.clone(),
                nat: e.nat,
                host_shim: e.host_shim,
                origin: EndpointOrigin::Lab,
            }
        })
        .collect();
    let facts = LabFacts {
        lan_subnet: IpNet::V4(st.spec.host.address.trunc()),
        host_lan_ifname: st.spec.host_lan_ifname().to_string(),
        docker_bridge: st.spec.docker.bridge.clone(),
        docker_subnet: IpNet::V4(docker_net),
        hairpin: st.spec.options.hairpin,
        // Shim coverage is recorded per child by the lab.
        host_shim: false,
        shim_ifname: st.shims.first().map(|s| s.ifname.clone()),
    };
    ProbeLab { endpoints, facts }
}
