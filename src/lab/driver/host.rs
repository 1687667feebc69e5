//! Host mode: no new namespace; the container is the host's own stack and shares its ports.
//! Nothing is created in the kernel, so nothing needs undoing.

use super::{check_new_name, Built, Driver};
use crate::lab::journal::Journal;
use crate::lab::ops::Ops;
use crate::lab::spec::ContainerSpec;
use crate::lab::state::{ContainerState, LabState};
use crate::lab::LabError;

pub struct HostDriver;

impl Driver for HostDriver {
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
        _ops: &mut dyn Ops,
        state: &LabState,
        c: &ContainerSpec,
        _j: &mut Journal,
    ) -> Result<Built, LabError> {
        Ok(Built {
            container: Some(ContainerState {
                spec: c.clone(),
                netns: None,
                ifname: state.spec.host_lan_ifname().to_string(),
                ip: state.host.addresses.first().copied(),
                mac: state.host.mac.clone(),
                parent: None,
                gateway: Some(state.spec.host.gateway),
                host_ifname: None,
                objects: Vec::new(),
            }),
            ..Default::default()
        })
    }
}
