//! None mode: a namespace with only `lo`, up. It can talk to nothing.

use super::{check_new_name, make_container_netns, Built, Driver};
use crate::lab::journal::Journal;
use crate::lab::ops::Ops;
use crate::lab::spec::ContainerSpec;
use crate::lab::state::{ContainerState, LabState};
use crate::lab::LabError;

pub struct NoneDriver;

impl Driver for NoneDriver {
    fn validate(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        c: &ContainerSpec,
    ) -> Result<(), LabError> {
        check_new_name(ops, state, c)
    }

    fn setup(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        c: &ContainerSpec,
        j: &mut Journal,
    ) -> Result<Built, LabError> {
        // create_netns already brings lo up (and tags it).
        let nsname = make_container_netns(ops, state, c, j)?;
        Ok(Built {
            container: Some(ContainerState {
                spec: c.clone(),
                netns: Some(nsname),
                ifname: "lo".into(),
                ip: Some("127.0.0.1/8".parse().expect("literal")),
                mac: None,
                parent: None,
                gateway: None,
                host_ifname: None,
                objects: Vec::new(),
            }),
            ..Default::default()
        })
    }
}
