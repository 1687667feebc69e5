//! Host mode: no new namespace; the container is the host's own stack and shares its ports.
//! Nothing is created in the kernel, so nothing needs undoing.

use super::{check_new_name, Built, Driver, Planned};
use crate::lab::journal::Journal;
use crate::lab::ops::Ops;
use crate::lab::spec::ContainerSpec;
use crate::lab::state::{ContainerState, LabState};
use crate::lab::LabError;

pub struct HostDriver;

impl Driver for HostDriver {
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
                netns: None,
                ifname: state.spec.host_lan_ifname().to_string(),
                ip: state.host.addresses.first().copied(),
                mac: state.host.mac.clone(),
                parent: None,
                gateway: Some(state.spec.host.gateway),
                host_ifname: None,
                objects: Vec::new(),
            },
            shim: None,
        })
    }

    fn setup(
        &self,
        _ops: &mut dyn Ops,
        _state: &LabState,
        p: &Planned,
        _j: &mut Journal,
    ) -> Result<Built, LabError> {
        Ok(Built {
            container: Some(p.container.clone()),
            ..Default::default()
        })
    }
}
