//! The "new container" form: a mode chooser, then the mode's fields pre-filled with the study
//! post's values, checked as they are typed. Pure: the checks are the lab's own
//! ([`ContainerSpec::validate_static`], [`check_range`], [`parse_cidr`]) attributed to the
//! field they are about, plus what the live inventory says about the parent.

use crate::inventory::{LinkKind, NamespaceInventory};
use crate::lab::spec::{
    check_ifname, check_range, parse_cidr, ContainerSpec, IpvlanMode, MacvlanMode, NetworkMode,
    Publish,
};
use crate::lab::state::LabState;

/// The modes in the chooser, in the study post's order.
pub const MODES: [NetworkMode; 5] = [
    NetworkMode::Bridge,
    NetworkMode::Host,
    NetworkMode::None,
    NetworkMode::Macvlan,
    NetworkMode::Ipvlan,
];

/// One line of the chooser: what the mode is, in the post's words.
pub fn mode_blurb(mode: NetworkMode) -> &'static str {
    match mode {
        NetworkMode::Bridge => "own namespace on docker0, NAT to the outside",
        NetworkMode::Host => "the host's own stack; ports are shared",
        NetworkMode::None => "only lo; talks to nothing",
        NetworkMode::Macvlan => "own MAC and IP on the LAN, child of enp0s8",
        NetworkMode::Ipvlan => "own IP, the parent's MAC, child of enp0s8",
    }
}

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    Flag(bool),
    /// One of a fixed list of words (the submode).
    Choice {
        options: &'static [&'static str],
        index: usize,
    },
}

/// Which option a field sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldId {
    Name,
    Submode,
    Parent,
    Subnet,
    IpRange,
    Promisc,
    HostShim,
    Nat,
    Publish,
}

impl FieldId {
    pub fn label(self) -> &'static str {
        match self {
            FieldId::Name => "name",
            FieldId::Submode => "submode",
            FieldId::Parent => "parent",
            FieldId::Subnet => "subnet",
            FieldId::IpRange => "ip-range",
            FieldId::Promisc => "promisc",
            FieldId::HostShim => "host shim",
            FieldId::Nat => "NAT",
            FieldId::Publish => "publish",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub id: FieldId,
    pub value: FieldValue,
    /// Why the value cannot work, shown beside the field.
    pub error: Option<String>,
}

const MACVLAN_MODES: &[&str] = &["bridge", "private", "vepa", "passthru"];
const IPVLAN_MODES: &[&str] = &["l2", "l3", "l3s"];

/// The form for one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub mode: NetworkMode,
    pub fields: Vec<Field>,
    pub cursor: usize,
    /// A problem with the form as a whole (for example: this kernel has no ipvlan).
    pub error: Option<String>,
}

fn text(id: FieldId, s: &str) -> Field {
    Field {
        id,
        value: FieldValue::Text(s.to_string()),
        error: None,
    }
}

fn flag(id: FieldId, on: bool) -> Field {
    Field {
        id,
        value: FieldValue::Flag(on),
        error: None,
    }
}

/// A name not yet used in the lab: `<stem>1`, `<stem>2`...
pub fn free_name(stem: &str, lab: Option<&LabState>) -> String {
    (1..)
        .map(|i| format!("{stem}{i}"))
        .find(|n| lab.is_none_or(|l| l.container(n).is_none()))
        .expect("an unbounded range has a free name")
}

/// The short stem names start with, per mode.
pub fn stem(mode: NetworkMode) -> &'static str {
    match mode {
        NetworkMode::Bridge => "br",
        NetworkMode::Host => "h",
        NetworkMode::None => "none",
        NetworkMode::Macvlan => "mv",
        NetworkMode::Ipvlan => "iv",
    }
}

impl Form {
    /// The form for `mode` with the study post's values: parent enp0s8, subnet
    /// 192.168.50.0/24, ip-range 192.168.50.192/27, promisc on (macvlan), NAT on (bridge).
    pub fn new(mode: NetworkMode, lab: Option<&LabState>) -> Self {
        let (parent, subnet, range) = match lab {
            Some(l) => (
                l.spec.host_lan_ifname().to_string(),
                l.spec.macvlan.subnet.to_string(),
                l.spec.macvlan.ip_range.to_string(),
            ),
            None => (
                "enp0s8".to_string(),
                "192.168.50.0/24".to_string(),
                "192.168.50.192/27".to_string(),
            ),
        };
        let mut fields = vec![text(FieldId::Name, &free_name(stem(mode), lab))];
        match mode {
            NetworkMode::Bridge => {
                fields.push(flag(FieldId::Nat, true));
                fields.push(text(FieldId::Publish, ""));
            }
            NetworkMode::Host | NetworkMode::None => {}
            NetworkMode::Macvlan | NetworkMode::Ipvlan => {
                fields.push(Field {
                    id: FieldId::Submode,
                    value: FieldValue::Choice {
                        options: if mode == NetworkMode::Macvlan {
                            MACVLAN_MODES
                        } else {
                            IPVLAN_MODES
                        },
                        index: 0,
                    },
                    error: None,
                });
                fields.push(text(FieldId::Parent, &parent));
                fields.push(text(FieldId::Subnet, &subnet));
                fields.push(text(FieldId::IpRange, &range));
                fields.push(flag(FieldId::Promisc, mode == NetworkMode::Macvlan));
                if mode == NetworkMode::Macvlan {
                    fields.push(flag(FieldId::HostShim, false));
                }
            }
        }
        Form {
            mode,
            fields,
            cursor: 0,
            error: None,
        }
    }

    pub fn field(&self, id: FieldId) -> Option<&Field> {
        self.fields.iter().find(|f| f.id == id)
    }

    pub fn field_mut(&mut self, id: FieldId) -> Option<&mut Field> {
        self.fields.iter_mut().find(|f| f.id == id)
    }

    fn text_of(&self, id: FieldId) -> Option<&str> {
        match &self.field(id)?.value {
            FieldValue::Text(s) => Some(s.trim()),
            _ => None,
        }
    }

    fn flag_of(&self, id: FieldId) -> bool {
        matches!(
            self.field(id).map(|f| &f.value),
            Some(FieldValue::Flag(true))
        )
    }

    pub fn submode(&self) -> Option<&'static str> {
        match self.field(FieldId::Submode)?.value {
            FieldValue::Choice { options, index } => options.get(index).copied(),
            _ => None,
        }
    }

    /// Type a character into the field under the cursor (text fields only).
    pub fn type_char(&mut self, c: char) {
        let cur = self.cursor;
        if let Some(FieldValue::Text(s)) = self.fields.get_mut(cur).map(|f| &mut f.value) {
            s.push(c);
        }
    }

    pub fn backspace(&mut self) {
        let cur = self.cursor;
        if let Some(FieldValue::Text(s)) = self.fields.get_mut(cur).map(|f| &mut f.value) {
            s.pop();
        }
    }

    /// Flip a flag or step a choice (`forward` false goes back).
    pub fn toggle(&mut self, forward: bool) {
        let cur = self.cursor;
        match self.fields.get_mut(cur).map(|f| &mut f.value) {
            Some(FieldValue::Flag(b)) => *b = !*b,
            Some(FieldValue::Choice { options, index }) => {
                let n = options.len();
                *index = if forward {
                    (*index + 1) % n
                } else {
                    (*index + n - 1) % n
                };
            }
            _ => {}
        }
    }

    pub fn next(&mut self) {
        self.cursor = (self.cursor + 1) % self.fields.len().max(1);
    }

    pub fn prev(&mut self) {
        let n = self.fields.len().max(1);
        self.cursor = (self.cursor + n - 1) % n;
    }

    /// The container this form describes, once every field is valid.
    pub fn spec(&self) -> Option<ContainerSpec> {
        if !self.is_valid() {
            return None;
        }
        self.build().ok()
    }

    pub fn is_valid(&self) -> bool {
        self.error.is_none() && self.fields.iter().all(|f| f.error.is_none())
    }

    /// Build the spec from the fields (errors name the field they are about).
    fn build(&self) -> Result<ContainerSpec, (FieldId, String)> {
        let name = self.text_of(FieldId::Name).unwrap_or_default();
        let mut c = ContainerSpec::new(name, self.mode);
        match self.mode {
            NetworkMode::Bridge => {
                c.nat = self.flag_of(FieldId::Nat);
                let publish = self.text_of(FieldId::Publish).unwrap_or_default();
                c.publish = publish
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<Publish>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| (FieldId::Publish, e.to_string()))?;
            }
            NetworkMode::Macvlan | NetworkMode::Ipvlan => {
                let sub = self.submode().unwrap_or_default();
                if self.mode == NetworkMode::Macvlan {
                    c.macvlan_mode = sub
                        .parse::<MacvlanMode>()
                        .map_err(|e| (FieldId::Submode, e.to_string()))?;
                    c.host_shim = self.flag_of(FieldId::HostShim);
                } else {
                    c.ipvlan_mode = sub
                        .parse::<IpvlanMode>()
                        .map_err(|e| (FieldId::Submode, e.to_string()))?;
                }
                let parent = self.text_of(FieldId::Parent).unwrap_or_default();
                c.parent = Some(parent.to_string());
                let subnet = parse_cidr("subnet", self.text_of(FieldId::Subnet).unwrap_or(""))
                    .map_err(|e| (FieldId::Subnet, e.to_string()))?;
                let range = parse_cidr("ip-range", self.text_of(FieldId::IpRange).unwrap_or(""))
                    .map_err(|e| (FieldId::IpRange, e.to_string()))?;
                c.subnet = Some(subnet);
                c.ip_range = Some(range);
                c.promisc = self.flag_of(FieldId::Promisc);
            }
            NetworkMode::Host | NetworkMode::None => {}
        }
        Ok(c)
    }

    /// Check every field. `lab` is the running lab (names taken, the prefix); `host` the live
    /// inventory of the lab's host namespace (is the parent there, up, suitable);
    /// `ipvlan_supported` what the kernel said, if asked yet.
    pub fn validate(
        &mut self,
        lab: Option<&LabState>,
        host: Option<&NamespaceInventory>,
        ipvlan_supported: Option<bool>,
    ) {
        for f in &mut self.fields {
            f.error = None;
        }
        self.error = None;
        let prefix = lab.map_or_else(crate::lab::prefix, |l| l.prefix.clone());
        let name = self.text_of(FieldId::Name).unwrap_or_default().to_string();
        let name_err = ContainerSpec::new(&name, NetworkMode::None)
            .validate_static(&prefix)
            .err()
            .map(|e| e.to_string())
            .or_else(|| {
                lab.and_then(|l| l.container(&name))
                    .map(|_| format!("container {name:?} already exists"))
            });
        self.set_error(FieldId::Name, name_err);
        if self.mode == NetworkMode::Ipvlan && ipvlan_supported == Some(false) {
            self.error = Some(crate::lab::driver::ipvlan::NO_IPVLAN.to_string());
        }
        if let Some(p) = self.text_of(FieldId::Parent).map(str::to_string) {
            let err = check_ifname("parent", &p)
                .err()
                .map(|e| e.to_string())
                .or_else(|| parent_problem(&p, host));
            self.set_error(FieldId::Parent, err);
        }
        if let Some(s) = self.text_of(FieldId::Subnet).map(str::to_string) {
            self.set_error(
                FieldId::Subnet,
                parse_cidr("subnet", &s).err().map(|e| e.to_string()),
            );
        }
        if let Some(r) = self.text_of(FieldId::IpRange).map(str::to_string) {
            let err = match parse_cidr("ip-range", &r) {
                Err(e) => Some(e.to_string()),
                Ok(range) => self
                    .text_of(FieldId::Subnet)
                    .and_then(|s| s.parse().ok())
                    .and_then(|subnet: ipnet::Ipv4Net| check_range(&subnet.trunc(), &range).err())
                    .map(|e| e.to_string()),
            };
            self.set_error(FieldId::IpRange, err);
        }
        if self.fields.iter().all(|f| f.error.is_none()) {
            match self.build() {
                Err((id, e)) => self.set_error(id, Some(e)),
                Ok(spec) => {
                    if let Err(e) = spec.validate_static(&prefix) {
                        self.error = Some(e.to_string());
                    }
                }
            }
        }
    }

    fn set_error(&mut self, id: FieldId, e: Option<String>) {
        if let Some(f) = self.field_mut(id) {
            if f.error.is_none() {
                f.error = e;
            }
        }
    }
}

/// What the live inventory says against using `parent`: absent, down, loopback, a bridge or
/// a bridge port (the lab's rules, checked early so the error shows while typing).
pub fn parent_problem(parent: &str, host: Option<&NamespaceInventory>) -> Option<String> {
    let inv = host?;
    let Some(link) = inv.links.iter().find(|l| l.name == parent) else {
        return Some(format!("no interface {parent:?} in the lab's host"));
    };
    if link.kind == LinkKind::Loopback {
        return Some(format!("{parent} is loopback"));
    }
    if link.kind == LinkKind::Bridge {
        return Some(format!("{parent} is a bridge"));
    }
    if link.master.is_some() {
        return Some(format!("{parent} is a bridge port"));
    }
    if !link.is_up() {
        return Some(format!("{parent} is down"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(mode: NetworkMode) -> Form {
        let mut f = Form::new(mode, None);
        f.validate(None, None, None);
        f
    }

    #[test]
    fn macvlan_form_has_the_posts_values_and_is_valid() {
        let f = form(NetworkMode::Macvlan);
        let spec = f.spec().expect("valid");
        assert_eq!(spec.name, "mv1");
        assert_eq!(spec.parent.as_deref(), Some("enp0s8"));
        assert_eq!(spec.subnet.unwrap().to_string(), "192.168.50.0/24");
        assert_eq!(spec.ip_range.unwrap().to_string(), "192.168.50.192/27");
        assert!(spec.promisc);
        assert_eq!(spec.macvlan_mode, MacvlanMode::Bridge);
    }

    #[test]
    fn errors_sit_beside_their_field() {
        let mut f = form(NetworkMode::Macvlan);
        f.field_mut(FieldId::IpRange).unwrap().value = FieldValue::Text("10.0.0.0/27".into());
        f.field_mut(FieldId::Name).unwrap().value = FieldValue::Text("a-name-far-too-long".into());
        f.validate(None, None, None);
        assert!(f.spec().is_none());
        assert_eq!(
            f.field(FieldId::IpRange).unwrap().error.as_deref(),
            Some("ip-range 10.0.0.0/27 is outside subnet 192.168.50.0/24")
        );
        assert!(f
            .field(FieldId::Name)
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("at most 15"));
        assert!(f.field(FieldId::Subnet).unwrap().error.is_none());
        f.field_mut(FieldId::Subnet).unwrap().value = FieldValue::Text("192.168.50.0/33".into());
        f.validate(None, None, None);
        assert!(f
            .field(FieldId::Subnet)
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("not an IPv4 CIDR"));
    }

    #[test]
    fn ipvlan_on_a_kernel_without_it_is_refused() {
        let mut f = form(NetworkMode::Ipvlan);
        assert!(f.spec().is_some());
        f.validate(None, None, Some(false));
        assert_eq!(
            f.error.as_deref(),
            Some("this kernel has no ipvlan support")
        );
        assert!(f.spec().is_none());
    }

    #[test]
    fn bad_publish_is_reported_on_its_field() {
        let mut f = form(NetworkMode::Bridge);
        f.field_mut(FieldId::Publish).unwrap().value = FieldValue::Text("80".into());
        f.validate(None, None, None);
        assert!(f.field(FieldId::Publish).unwrap().error.is_some());
        f.field_mut(FieldId::Publish).unwrap().value = FieldValue::Text("8080:80".into());
        f.validate(None, None, None);
        assert_eq!(f.spec().unwrap().publish.len(), 1);
    }
}
