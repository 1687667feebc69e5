//! Bridge mode: Docker's default. A `docker0` bridge in the host (made on first use, with
//! ip_forward on), a veth pair per container (`eth0` inside), the next free address, a default
//! route via docker0, and NAT in an nftables table `ip netview`: masquerade for traffic leaving
//! through any interface but docker0 (unless `--no-nat`), DNAT for `--publish`.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{
    check_new_name, host_name_free, make_container_netns, taken_on, Built, Driver, Planned,
    CONTAINER_IFNAME,
};
use crate::lab::journal::{Journal, Undo};
use crate::lab::ops::{Ns, Ops};
use crate::lab::spec::{next_free, ContainerSpec};
use crate::lab::state::{ContainerState, LabState};
use crate::lab::LabError;

pub struct BridgeDriver;

pub const IP_FORWARD: &str = "net/ipv4/ip_forward";

/// Host-side veths are named `veth` and 7 hex digits.
const HOST_VETH_PREFIX: &str = "veth";
const HOST_VETH_HEX: usize = 7;

/// Whether `name` has the shape netview gives host-side veths (`veth` and 7 hex digits).
pub fn is_host_veth_name(name: &str) -> bool {
    name.strip_prefix(HOST_VETH_PREFIX)
        .is_some_and(|h| h.len() == HOST_VETH_HEX && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The host side of a container's veth: `veth` and 7 hex digits of a hash of the lab prefix
/// and container name (Docker's style), so any container name fits in 15 bytes; salted until
/// the name is free in the host (in the plan and in the kernel).
pub fn host_veth_name(ops: &mut dyn Ops, state: &LabState, name: &str) -> Result<String, LabError> {
    let seq = state.veth_seq;
    let mut salt = 0u32;
    loop {
        // FNV-1a: stable across runs and Rust versions.
        let mut h: u32 = 0x811c_9dc5;
        for b in state
            .prefix
            .bytes()
            .chain(name.bytes())
            .chain(seq.to_le_bytes())
            .chain(salt.to_le_bytes())
        {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        let cand = format!("{HOST_VETH_PREFIX}{:07x}", h & 0x0fff_ffff);
        if host_name_free(ops, state, &cand)? {
            return Ok(cand);
        }
        salt = salt.wrapping_add(1);
    }
}

fn next_bridge_ip(state: &LabState) -> Option<Ipv4Addr> {
    let net = state.spec.docker.address.trunc();
    next_free(
        &net,
        &net,
        &[state.spec.docker.address.addr()],
        &taken_on(state, &net),
    )
}

impl Driver for BridgeDriver {
    fn plan(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        c: &ContainerSpec,
    ) -> Result<Planned, LabError> {
        check_new_name(ops, state, c)?;
        let docker = &state.spec.docker;
        if !state.docker_ready {
            if let Some(l) = ops.link(&state.host_ns, &docker.bridge)? {
                let seen = if l.alias.as_deref() == Some(state.tag.as_str()) {
                    "tagged as this lab's, but not in its state"
                } else {
                    "not made by netview"
                };
                return Err(LabError::Invalid(format!(
                    "{} already exists in the host ({seen}); set [docker] bridge in the lab file",
                    docker.bridge
                )));
            }
        }
        let full = || {
            LabError::Invalid(format!(
                "no free address left in {}",
                docker.address.trunc()
            ))
        };
        let ip = next_bridge_ip(state).ok_or_else(full)?;
        let ip = Ipv4Net::new(ip, docker.address.prefix_len()).map_err(|_| full())?;
        // Published host ports are unique across the lab, the batch planned so far included.
        for p in &c.publish {
            let clash = state
                .containers
                .iter()
                .flat_map(|o| o.spec.publish.iter().map(move |q| (o, q)))
                .find(|(_, q)| q.host_port == p.host_port);
            if let Some((o, _)) = clash {
                return Err(LabError::Invalid(format!(
                    "host port {} is already published by {}",
                    p.host_port, o.spec.name
                )));
            }
        }
        let veth = host_veth_name(ops, state, &c.name)?;
        Ok(Planned {
            container: ContainerState {
                spec: c.clone(),
                netns: Some(state.ns_name(&c.name)),
                ifname: CONTAINER_IFNAME.into(),
                ip: Some(ip),
                mac: None,
                parent: Some(docker.bridge.clone()),
                gateway: Some(docker.address.addr()),
                host_ifname: Some(veth),
                objects: Vec::new(),
            },
            shim: None,
        })
    }

    fn setup(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        p: &Planned,
        j: &mut Journal,
    ) -> Result<Built, LabError> {
        let host = state.host_ns.clone();
        let docker = &state.spec.docker;
        let br = docker.bridge.as_str();
        let mut built = Built::default();
        if !state.docker_ready {
            ops.add_bridge(&host, br)?;
            j.shared(Undo::DeleteLink {
                ns: host.clone(),
                name: br.to_string(),
            });
            ops.set_alias(&host, br, &state.tag)?;
            ops.add_addr(&host, br, docker.address)?;
            ops.set_up(&host, br, true)?;
            let prev = ops.get_sysctl(&host, IP_FORWARD)?;
            if prev != "1" {
                // Recorded before the write (putting back the value it had is harmless if
                // the write never happens): a `kill -9` between the write and the record
                // left ip_forward on (lab_real's kill test, 1 run in 17).
                j.shared(Undo::Sysctl {
                    ns: host.clone(),
                    key: IP_FORWARD.into(),
                    restore: prev,
                });
                ops.set_sysctl(&host, IP_FORWARD, "1")?;
            }
            built.docker_ready = true;
        }
        let mut container = p.container.clone();
        let (Some(ip), Some(veth)) = (container.ip, container.host_ifname.clone()) else {
            return Err(LabError::kernel(
                format!("set up bridge container {}", p.spec().name),
                crate::lab::KernelError::Internal("its plan has no address or veth".into()),
            ));
        };
        let nsname = make_container_netns(ops, state, p.spec(), j)?;
        let ctr = Ns::Named(nsname.clone());
        ops.add_veth(&host, &veth, &ctr, CONTAINER_IFNAME)?;
        // Deleting one end deletes both, synchronously (the namespace's own cleanup is not).
        // After a crash the replay deletes the namespace instead, and the pair goes with it.
        j.own_freed_with(
            Undo::DeleteLink {
                ns: host.clone(),
                name: veth.clone(),
            },
            &nsname,
        );
        ops.set_alias(&host, &veth, &state.tag)?;
        ops.set_alias(&ctr, CONTAINER_IFNAME, &state.tag)?;
        ops.set_master(&host, &veth, br)?;
        ops.set_up(&host, &veth, true)?;
        ops.set_up(&ctr, CONTAINER_IFNAME, true)?;
        ops.add_addr(&ctr, CONTAINER_IFNAME, ip)?;
        ops.add_route(
            &ctr,
            Ipv4Net::default(),
            Some(docker.address.addr()),
            Some(CONTAINER_IFNAME),
        )?;
        container.mac = ops.link(&ctr, CONTAINER_IFNAME)?.and_then(|f| f.mac);
        // The NAT table is rewritten once per batch by the engine (one `nft` run, not one per
        // container); it records the undo. Every bridge container changes it: a --no-nat one
        // turns the subnet's masquerade rule into per-container rules, and back when removed.
        built.nat_dirty = true;
        built.container = Some(container);
        Ok(built)
    }
}
