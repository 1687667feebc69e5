//! None mode: a namespace with only `lo`, up. It can talk to nothing.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{check_new_name, make_container_netns, Built, Driver, Planned};
use crate::lab::journal::Journal;
use crate::lab::ops::Ops;
use crate::lab::spec::ContainerSpec;
use crate::lab::state::{ContainerState, LabState};
use crate::lab::LabError;

pub struct NoneDriver;

/// What a none-mode container can reach: its own loopback.
const LOOPBACK_NET: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::LOCALHOST, 8);

impl Driver for NoneDriver {
    fn plan(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        c: &ContainerSpec,
    ) -> Result<Planned, LabError> {
        check_new_name(ops, state, c)?;
        Ok(Planned {
            container: ContainerState {
                spec: c.clone(),
                netns: Some(state.ns_name(&c.name)),
                ifname: "lo".into(),
                ip: Some(LOOPBACK_NET),
                mac: None,
                parent: None,
                gateway: None,
                host_ifname: None,
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
        // create_netns already brings lo up (and tags it).
        make_container_netns(ops, state, p.spec(), j)?;
        Ok(Built {
            container: Some(p.container.clone()),
            ..Default::default()
        })
    }
}
