//! Ipvlan mode: like macvlan, but children share the parent's MAC (l2), or the parent routes
//! for them without ARP or broadcast (l3, l3s). Kernels without ipvlan are refused up front.

use super::macvlan::{finish_child, plan_vlan};
use super::{make_container_netns, Built, Driver, Planned, CONTAINER_IFNAME};
use crate::lab::journal::{Journal, Undo};
use crate::lab::ops::{Ns, Ops};
use crate::lab::spec::{ContainerSpec, IpvlanMode};
use crate::lab::state::LabState;
use crate::lab::LabError;

pub struct IpvlanDriver;

/// The one-line refusal on kernels built without ipvlan.
pub const NO_IPVLAN: &str = "this kernel has no ipvlan support";

impl Driver for IpvlanDriver {
    fn plan(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        c: &ContainerSpec,
    ) -> Result<Planned, LabError> {
        if !ops.ipvlan_supported(&state.host_ns)? {
            return Err(LabError::Invalid(NO_IPVLAN.into()));
        }
        if c.host_shim {
            return Err(LabError::Invalid(
                "--host-shim is for macvlan (an ipvlan shim would need l3 routing)".into(),
            ));
        }
        plan_vlan(ops, state, c, is_l3(c.ipvlan_mode))
    }

    fn setup(
        &self,
        ops: &mut dyn Ops,
        state: &LabState,
        p: &Planned,
        j: &mut Journal,
    ) -> Result<Built, LabError> {
        let c = p.spec();
        let nsname = make_container_netns(ops, state, c, j)?;
        let ctr = Ns::Named(nsname.clone());
        let parent = c.parent_or(&state.spec).to_string();
        ops.add_ipvlan(
            &state.host_ns,
            &parent,
            CONTAINER_IFNAME,
            c.ipvlan_mode,
            &ctr,
        )?;
        j.own(Undo::DeleteLink {
            ns: ctr.clone(),
            name: CONTAINER_IFNAME.into(),
        });
        finish_child(ops, state, p, j, nsname, is_l3(c.ipvlan_mode))
    }
}

/// ipvlan l3/l3s: the parent routes for its children (no gateway, no ARP).
fn is_l3(m: IpvlanMode) -> bool {
    matches!(m, IpvlanMode::L3 | IpvlanMode::L3s)
}
