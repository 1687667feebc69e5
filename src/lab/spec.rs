//! The lab file (TOML) and the container specs, with the kernel's rules checked up front so
//! bad input fails with one line before anything is created.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::LabError;

/// The default lab file, with the study post's values.
pub const DEFAULT_LAB_TOML: &str = include_str!("../../assets/labs/default.toml");

/// Linux interface and (by our convention) namespace-part names are at most 15 bytes.
pub const IFNAMSIZ_MAX: usize = 15;

fn invalid(msg: impl Into<String>) -> LabError {
    LabError::Invalid(msg.into())
}

/// Docker's network drivers, as the lab builds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A veth into docker0, with masquerade.
    Bridge,
    /// The host's own stack.
    Host,
    /// A namespace with only lo.
    None,
    /// A macvlan child of the parent: its own MAC on the LAN.
    Macvlan,
    /// An ipvlan child of the parent: the parent's MAC.
    Ipvlan,
}

/// Macvlan's four modes (how children reach each other through the parent).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    /// Children reach each other inside the parent.
    #[default]
    Bridge,
    /// Children never reach each other.
    Private,
    /// Children reach each other only through the upstream switch (hairpin).
    Vepa,
    /// One child takes the parent over.
    Passthru,
}

/// Ipvlan's three modes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    /// Children share the parent's MAC and answer ARP.
    #[default]
    L2,
    /// Routed: no ARP, no broadcast.
    L3,
    /// l3 with netfilter (conntrack) on the children's traffic.
    L3s,
}

/// How a container is wired, as Docker's network drivers do it, with the driver's own mode:
/// the one typed network mode from the lab's spec through its endpoints to the probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum NetMode {
    /// A veth into docker0 in the host.
    Bridge,
    /// No namespace of its own: the host's stack.
    Host,
    /// A namespace with only `lo`.
    None,
    /// A macvlan child of `parent`.
    Macvlan(MacvlanMode),
    /// An ipvlan child of `parent`.
    Ipvlan(IpvlanMode),
}

impl NetMode {
    /// `mode` as `lab ls` prints it.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// `submode` as `lab ls` prints it.
    pub fn submode(self) -> Option<&'static str> {
        match self {
            NetMode::Macvlan(MacvlanMode::Bridge) => Some("bridge"),
            NetMode::Macvlan(MacvlanMode::Private) => Some("private"),
            NetMode::Macvlan(MacvlanMode::Vepa) => Some("vepa"),
            NetMode::Macvlan(MacvlanMode::Passthru) => Some("passthru"),
            NetMode::Ipvlan(IpvlanMode::L2) => Some("l2"),
            NetMode::Ipvlan(IpvlanMode::L3) => Some("l3"),
            NetMode::Ipvlan(IpvlanMode::L3s) => Some("l3s"),
            _ => None,
        }
    }
}

impl NetMode {
    /// The driver without its submode.
    pub fn driver(self) -> NetworkMode {
        match self {
            NetMode::Bridge => NetworkMode::Bridge,
            NetMode::Host => NetworkMode::Host,
            NetMode::None => NetworkMode::None,
            NetMode::Macvlan(_) => NetworkMode::Macvlan,
            NetMode::Ipvlan(_) => NetworkMode::Ipvlan,
        }
    }
}

macro_rules! word_enum {
    ($t:ty, $what:literal, $($word:literal => $v:expr),+ $(,)?) => {
        impl FromStr for $t {
            type Err = LabError;
            fn from_str(s: &str) -> Result<Self, LabError> {
                match s.to_ascii_lowercase().as_str() {
                    $($word => Ok($v),)+
                    _ => Err(invalid(format!(
                        concat!("unknown ", $what, " {:?} (expected one of: {})"),
                        s,
                        [$($word),+].join(", ")
                    ))),
                }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let word = match self { $(v if *v == $v => $word,)+ _ => unreachable!() };
                f.write_str(word)
            }
        }
    };
}

word_enum!(NetworkMode, "mode", "bridge" => NetworkMode::Bridge, "host" => NetworkMode::Host,
    "none" => NetworkMode::None, "macvlan" => NetworkMode::Macvlan, "ipvlan" => NetworkMode::Ipvlan);
word_enum!(MacvlanMode, "macvlan mode", "bridge" => MacvlanMode::Bridge,
    "private" => MacvlanMode::Private, "vepa" => MacvlanMode::Vepa,
    "passthru" => MacvlanMode::Passthru);
word_enum!(IpvlanMode, "ipvlan mode", "l2" => IpvlanMode::L2, "l3" => IpvlanMode::L3,
    "l3s" => IpvlanMode::L3s);

/// The Docker host of the lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub ifname: String,
    pub address: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// The second machine on the LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSpec {
    pub address: Ipv4Net,
}

/// The upstream router and its far address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSpec {
    pub address: Ipv4Net,
    pub far: Ipv4Net,
}

/// The LAN switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchSpec {
    pub bridge: String,
}

/// Docker's default bridge network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSpec {
    pub bridge: String,
    pub address: Ipv4Net,
}

/// Defaults for macvlan/ipvlan networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VlanNetSpec {
    pub subnet: Ipv4Net,
    pub ip_range: Ipv4Net,
}

/// Lab-wide options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LabOptions {
    /// Hairpin on the host's port of the LAN switch.
    pub hairpin: bool,
    /// Real mode: the namespace netview runs in plays the host.
    pub real: bool,
    /// Real mode: the interface that plays enp0s8 (the macvlan/ipvlan parent).
    pub parent: Option<String>,
}

/// The whole lab file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSpec {
    pub host: HostSpec,
    pub peer: PeerSpec,
    pub router: RouterSpec,
    pub switch: SwitchSpec,
    pub docker: DockerSpec,
    pub macvlan: VlanNetSpec,
    #[serde(default)]
    pub options: LabOptions,
}

impl Default for LabSpec {
    fn default() -> Self {
        LabSpec::from_toml(DEFAULT_LAB_TOML).expect("the built-in lab file is valid")
    }
}

impl LabSpec {
    /// Parse and validate a lab file.
    pub fn from_toml(text: &str) -> Result<Self, LabError> {
        let spec = Self::parse_toml(text)?;
        spec.validate()?;
        Ok(spec)
    }

    /// Parse a lab file without validating it, for a caller that changes it further (the
    /// CLI's flags) and leaves the one validation to [`super::Engine::up`].
    pub fn parse_toml(text: &str) -> Result<Self, LabError> {
        toml::from_str(text).map_err(|e| {
            invalid(format!(
                "bad lab file: {}",
                e.to_string().lines().collect::<Vec<_>>().join(" ")
            ))
        })
    }

    /// The interface that plays the host's LAN card (enp0s8, or the real parent).
    pub fn host_lan_ifname(&self) -> &str {
        match (&self.options.real, &self.options.parent) {
            (true, Some(p)) => p,
            _ => &self.host.ifname,
        }
    }

    /// Check the spec on its own (no kernel needed): every name the world creates is a valid
    /// Linux interface name, unique where it lives and not one the kernel or netview already
    /// uses there; every address is a unicast address of its own, and no network shadows
    /// another (the far address, the LAN, docker's network, the macvlan subnet).
    pub fn validate(&self) -> Result<(), LabError> {
        self.validate_names()?;
        self.validate_addresses()
    }

    fn validate_names(&self) -> Result<(), LabError> {
        if self.options.real && self.options.parent.is_none() {
            return Err(invalid("real mode needs --parent IF"));
        }
        // In the host's namespace live lo, the LAN interface (the sandbox's, or the real
        // parent), docker's bridge, host shims (nvshimN) and bridge containers' veths.
        let lan_if = self.host_lan_ifname();
        check_ifname("host ifname", &self.host.ifname)?;
        if let Some(p) = &self.options.parent {
            check_ifname("parent", p)?;
        }
        if !self.options.real {
            check_not_netviews_own("host ifname", &self.host.ifname)?;
        }
        check_ifname("docker bridge", &self.docker.bridge)?;
        check_not_netviews_own("docker bridge", &self.docker.bridge)?;
        if self.docker.bridge == lan_if {
            return Err(invalid(format!(
                "the docker bridge and the host's LAN interface are both named {lan_if:?}"
            )));
        }
        // In the switch's namespace: lo, the bridge and one port per node.
        check_ifname("switch bridge", &self.switch.bridge)?;
        if self.switch.bridge == LOOPBACK_IFNAME {
            return Err(invalid(format!(
                "switch bridge {LOOPBACK_IFNAME:?} is the name of the loopback device"
            )));
        }
        if let Some(part) = super::world::SWITCH_PORT_NODES
            .iter()
            .find(|p| super::world::switch_port(p) == self.switch.bridge)
        {
            return Err(invalid(format!(
                "switch bridge {:?} is the name of the switch's port to the {part}",
                self.switch.bridge
            )));
        }
        Ok(())
    }

    fn validate_addresses(&self) -> Result<(), LabError> {
        for (what, ip) in [
            ("host address", self.host.address.addr()),
            ("peer address", self.peer.address.addr()),
            ("router address", self.router.address.addr()),
            ("gateway", self.host.gateway),
            ("far address", self.router.far.addr()),
            ("docker address", self.docker.address.addr()),
        ] {
            check_unicast(what, ip)?;
        }
        let lan = self.host.address.trunc();
        if self.peer.address.trunc() != lan {
            return Err(invalid(format!(
                "peer address {} is not on the host's LAN {lan}",
                self.peer.address
            )));
        }
        if self.router.address.trunc() != lan {
            return Err(invalid(format!(
                "router address {} is not on the host's LAN {lan}",
                self.router.address
            )));
        }
        if !lan.contains(&self.host.gateway) {
            return Err(invalid(format!(
                "gateway {} is not on the host's LAN {lan}",
                self.host.gateway
            )));
        }
        if self.router.address.addr() != self.host.gateway {
            return Err(invalid(format!(
                "the router's address {} must be the host's gateway {}",
                self.router.address.addr(),
                self.host.gateway
            )));
        }
        let mut seen = vec![("host", self.host.address.addr())];
        for (who, ip) in [
            ("peer", self.peer.address.addr()),
            ("router", self.router.address.addr()),
        ] {
            if let Some((other, _)) = seen.iter().find(|(_, x)| *x == ip) {
                return Err(invalid(format!("{who} and {other} share address {ip}")));
            }
            seen.push((who, ip));
        }
        for (what, net) in [
            ("host address", self.host.address),
            ("peer address", self.peer.address),
            ("router address", self.router.address),
            ("docker address", self.docker.address),
            ("far address", self.router.far),
        ] {
            check_host_address(what, net)?;
        }
        let docker = self.docker.address.trunc();
        if overlaps(&docker, &lan) {
            return Err(invalid(format!(
                "docker network {docker} overlaps the LAN {lan}"
            )));
        }
        // The far address sits on the router's lo: any network it overlaps would be
        // answered by the router itself instead of reaching its real owner.
        let far = self.router.far;
        // Real mode has no router: nothing holds the far address.
        let far_checks = if self.options.real {
            Vec::new()
        } else {
            vec![
                ("the LAN", lan),
                ("the docker network", docker),
                ("the macvlan subnet", self.macvlan.subnet.trunc()),
            ]
        };
        for (what, net) in far_checks {
            if overlaps(&far.trunc(), &net) {
                return Err(invalid(format!("far address {far} overlaps {what} {net}")));
            }
        }
        check_vlan_net(self, "macvlan subnet", &self.macvlan.subnet.trunc())?;
        check_range(&self.macvlan.subnet.trunc(), &self.macvlan.ip_range)?;
        Ok(())
    }

    /// Addresses a macvlan/ipvlan child must never take.
    pub fn reserved_lan_addresses(&self) -> Vec<Ipv4Addr> {
        vec![
            self.host.address.addr(),
            self.peer.address.addr(),
            self.router.address.addr(),
            self.host.gateway,
        ]
    }
}

/// The kernel's own loopback device, in every namespace.
pub const LOOPBACK_IFNAME: &str = "lo";

/// Whether two networks share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    let (a, b) = (a.trunc(), b.trunc());
    a.contains(&b.network()) || b.contains(&a.network())
}

/// An address a host can have: not 0.0.0.0, loopback, multicast, broadcast or class E.
pub fn check_unicast(what: &str, ip: Ipv4Addr) -> Result<(), LabError> {
    if ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.octets()[0] >= 240
    {
        return Err(invalid(format!(
            "{what} {ip} is not a unicast address an interface can have"
        )));
    }
    Ok(())
}

fn check_host_address(what: &str, net: Ipv4Net) -> Result<(), LabError> {
    if net.prefix_len() < 31 && (net.addr() == net.network() || net.addr() == net.broadcast()) {
        return Err(invalid(format!(
            "{what} {net} is the network or broadcast address"
        )));
    }
    Ok(())
}

/// A name netview creates in the host's namespace must not be `lo` nor look like the names
/// netview gives its own links there (host shims, bridge containers' veths).
pub fn check_not_netviews_own(what: &str, name: &str) -> Result<(), LabError> {
    if name == LOOPBACK_IFNAME {
        return Err(invalid(format!(
            "{what} {name:?} is the name of the loopback device"
        )));
    }
    if super::driver::macvlan::is_shim_name(name) || super::driver::bridge::is_host_veth_name(name)
    {
        return Err(invalid(format!(
            "{what} {name:?} looks like a name netview gives its own links (nvshimN, vethXXXXXXX)"
        )));
    }
    Ok(())
}

/// A macvlan/ipvlan subnet must stay apart from docker's network (the host routes that one
/// to docker0) and from the far address (the router answers it itself).
pub fn check_vlan_net(lab: &LabSpec, what: &str, subnet: &Ipv4Net) -> Result<(), LabError> {
    let docker = lab.docker.address.trunc();
    if overlaps(subnet, &docker) {
        return Err(invalid(format!(
            "{what} {subnet} overlaps the docker network {docker}"
        )));
    }
    if !lab.options.real && overlaps(subnet, &lab.router.far) {
        return Err(invalid(format!(
            "{what} {subnet} overlaps the far address {}",
            lab.router.far
        )));
    }
    Ok(())
}

/// Names of interfaces and namespaces, by the kernel's rule (`dev_valid_name`): 1 to 15
/// bytes, not `.` or `..`, no '/', ':' or whitespace.
pub fn check_ifname(what: &str, name: &str) -> Result<(), LabError> {
    if name.is_empty() {
        return Err(invalid(format!("{what} is empty")));
    }
    if name.len() > IFNAMSIZ_MAX {
        return Err(invalid(format!(
            "{what} {name:?} is {} bytes; Linux allows at most {IFNAMSIZ_MAX}",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(invalid(format!("{what} may not be {name:?}")));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
    {
        return Err(invalid(format!(
            "{what} {name:?} may not contain '/', ':' or spaces"
        )));
    }
    Ok(())
}

/// The ip-range must sit inside the subnet.
pub fn check_range(subnet: &Ipv4Net, range: &Ipv4Net) -> Result<(), LabError> {
    if !subnet.contains(range) {
        return Err(invalid(format!(
            "ip-range {range} is outside subnet {subnet}"
        )));
    }
    Ok(())
}

/// Parse an IPv4 CIDR with a one-line error naming the option.
pub fn parse_cidr(what: &str, s: &str) -> Result<Ipv4Net, LabError> {
    s.parse::<Ipv4Net>()
        .map_err(|_| invalid(format!("{what} {s:?} is not an IPv4 CIDR like 10.0.0.1/24")))
}

/// Parse an IPv4 address with a one-line error naming the option.
pub fn parse_ip(what: &str, s: &str) -> Result<Ipv4Addr, LabError> {
    s.parse::<Ipv4Addr>()
        .map_err(|_| invalid(format!("{what} {s:?} is not an IPv4 address")))
}

/// `--publish HOST:CONTAINER` (TCP), as `docker run -p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub host_port: u16,
    pub container_port: u16,
}

impl FromStr for Publish {
    type Err = LabError;
    fn from_str(s: &str) -> Result<Self, LabError> {
        let bad = || invalid(format!("--publish {s:?} is not HOST:CONTAINER (two ports)"));
        let (h, c) = s.split_once(':').ok_or_else(bad)?;
        let host_port: u16 = h.parse().map_err(|_| bad())?;
        let container_port: u16 = c.parse().map_err(|_| bad())?;
        if host_port == 0 || container_port == 0 {
            return Err(bad());
        }
        Ok(Publish {
            host_port,
            container_port,
        })
    }
}

impl fmt::Display for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host_port, self.container_port)
    }
}

/// One container to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub mode: NetworkMode,
    #[serde(default)]
    pub macvlan_mode: MacvlanMode,
    #[serde(default)]
    pub ipvlan_mode: IpvlanMode,
    /// macvlan/ipvlan parent; default the host's LAN interface.
    pub parent: Option<String>,
    pub subnet: Option<Ipv4Net>,
    pub ip_range: Option<Ipv4Net>,
    #[serde(default)]
    pub promisc: bool,
    #[serde(default)]
    pub host_shim: bool,
    /// Masquerade for a bridge container (default on; `--no-nat` turns it off).
    #[serde(default = "yes")]
    pub nat: bool,
    #[serde(default)]
    pub publish: Vec<Publish>,
}

fn yes() -> bool {
    true
}

impl ContainerSpec {
    /// A container in `mode` with every option at its default.
    pub fn new(name: &str, mode: NetworkMode) -> Self {
        ContainerSpec {
            name: name.to_string(),
            mode,
            macvlan_mode: MacvlanMode::default(),
            ipvlan_mode: IpvlanMode::default(),
            parent: None,
            subnet: None,
            ip_range: None,
            promisc: false,
            host_shim: false,
            nat: true,
            publish: Vec::new(),
        }
    }

    /// The submode word for listings (`bridge`, `l2`...), if the mode has one.
    pub fn submode(&self) -> Option<String> {
        self.net_mode().submode().map(String::from)
    }

    /// The driver and its mode as one typed value (the submode fields count only for their
    /// own driver).
    pub fn net_mode(&self) -> NetMode {
        match self.mode {
            NetworkMode::Bridge => NetMode::Bridge,
            NetworkMode::Host => NetMode::Host,
            NetworkMode::None => NetMode::None,
            NetworkMode::Macvlan => NetMode::Macvlan(self.macvlan_mode),
            NetworkMode::Ipvlan => NetMode::Ipvlan(self.ipvlan_mode),
        }
    }

    /// The parent for macvlan/ipvlan, with the lab's default.
    pub fn parent_or<'a>(&'a self, lab: &'a LabSpec) -> &'a str {
        self.parent.as_deref().unwrap_or(lab.host_lan_ifname())
    }

    /// The subnet and range for macvlan/ipvlan, with the lab's defaults.
    pub fn vlan_net(&self, lab: &LabSpec) -> (Ipv4Net, Ipv4Net) {
        let subnet = self.subnet.unwrap_or(lab.macvlan.subnet);
        let range = self.ip_range.unwrap_or(match self.subnet {
            // A user subnet without a range allocates from the whole subnet.
            Some(s) if !s.contains(&lab.macvlan.ip_range) => s,
            _ => lab.macvlan.ip_range,
        });
        (subnet, range)
    }

    /// Checks that need only the spec (no kernel).
    pub fn validate_static(&self, prefix: &str) -> Result<(), LabError> {
        check_ifname("container name", &self.name)?;
        if !self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(invalid(format!(
                "container name {:?} may only use letters, digits, '-', '_' and '.'",
                self.name
            )));
        }
        let ns = format!("{prefix}{}", self.name);
        if ns.len() > 255 {
            return Err(invalid(format!("namespace name {ns:?} is too long")));
        }
        if let Some(p) = &self.parent {
            check_ifname("parent", p)?;
        }
        let vlan = matches!(self.mode, NetworkMode::Macvlan | NetworkMode::Ipvlan);
        if !vlan
            && (self.parent.is_some()
                || self.subnet.is_some()
                || self.ip_range.is_some()
                || self.promisc
                || self.host_shim)
        {
            return Err(invalid(format!(
                "--parent, --subnet, --ip-range, --promisc and --host-shim are for macvlan and ipvlan, not {}",
                self.mode
            )));
        }
        if self.mode != NetworkMode::Bridge && (!self.nat || !self.publish.is_empty()) {
            return Err(invalid(format!(
                "--no-nat and --publish are for bridge mode, not {}",
                self.mode
            )));
        }
        if let (Some(s), Some(r)) = (self.subnet, self.ip_range) {
            check_range(&s.trunc(), &r)?;
        }
        let mut ports: Vec<u16> = self.publish.iter().map(|p| p.host_port).collect();
        ports.sort_unstable();
        if ports.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("--publish uses the same host port twice"));
        }
        Ok(())
    }
}

/// The next free address in `range` (inside `subnet`), skipping the network and broadcast
/// addresses, `reserved` (host, peer, gateway) and `taken` (other children).
pub fn next_free(
    subnet: &Ipv4Net,
    range: &Ipv4Net,
    reserved: &[Ipv4Addr],
    taken: &[Ipv4Addr],
) -> Option<Ipv4Addr> {
    let subnet = subnet.trunc();
    let range = range.trunc();
    range.hosts().find(|ip| {
        *ip != subnet.network()
            && *ip != subnet.broadcast()
            && !reserved.contains(ip)
            && !taken.contains(ip)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lab_has_the_posts_values() {
        let s = LabSpec::default();
        assert_eq!(s.host.ifname, "enp0s8");
        assert_eq!(s.host.address.to_string(), "192.168.50.11/24");
        assert_eq!(s.host.gateway.to_string(), "192.168.50.1");
        assert_eq!(s.peer.address.to_string(), "192.168.50.12/24");
        assert_eq!(s.router.far.to_string(), "198.51.100.1/32");
        assert_eq!(s.docker.address.to_string(), "172.17.0.1/16");
        assert_eq!(s.macvlan.ip_range.to_string(), "192.168.50.192/27");
        assert!(!s.options.hairpin);
    }

    #[test]
    fn lab_file_errors_are_one_line() {
        let bad = DEFAULT_LAB_TOML.replace("192.168.50.12/24", "192.168.50.300/24");
        let e = LabSpec::from_toml(&bad).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with("bad lab file"), "{e}");
        let long = DEFAULT_LAB_TOML.replace("\"enp0s8\"", "\"averyveryverylongname\"");
        let e = LabSpec::from_toml(&long).unwrap_err().to_string();
        assert!(e.contains("at most 15"), "{e}");
        let off = DEFAULT_LAB_TOML.replace("192.168.50.192/27", "10.0.0.0/27");
        let e = LabSpec::from_toml(&off).unwrap_err().to_string();
        assert_eq!(e, "ip-range 10.0.0.0/27 is outside subnet 192.168.50.0/24");
        let peer = DEFAULT_LAB_TOML.replace("192.168.50.12/24", "10.1.1.1/24");
        assert!(LabSpec::from_toml(&peer)
            .unwrap_err()
            .to_string()
            .contains("not on the host's LAN"));
    }

    #[test]
    fn mode_words_round_trip() {
        for m in ["bridge", "host", "none", "macvlan", "ipvlan"] {
            assert_eq!(m.parse::<NetworkMode>().unwrap().to_string(), m);
        }
        for m in ["bridge", "private", "vepa", "passthru"] {
            assert_eq!(m.parse::<MacvlanMode>().unwrap().to_string(), m);
        }
        for m in ["l2", "l3", "l3s"] {
            assert_eq!(m.parse::<IpvlanMode>().unwrap().to_string(), m);
        }
        let e = "overlay".parse::<NetworkMode>().unwrap_err().to_string();
        assert!(e.contains("unknown mode \"overlay\""), "{e}");
    }

    #[test]
    fn container_names_and_options_are_checked() {
        let c = ContainerSpec::new("this-name-is-too-long", NetworkMode::None);
        assert!(c
            .validate_static("nv-")
            .unwrap_err()
            .to_string()
            .contains("at most 15"));
        let c = ContainerSpec::new("a/b", NetworkMode::None);
        assert!(c.validate_static("nv-").is_err());
        let mut c = ContainerSpec::new("c1", NetworkMode::Bridge);
        c.promisc = true;
        assert!(c.validate_static("nv-").is_err());
        let mut c = ContainerSpec::new("c1", NetworkMode::Macvlan);
        c.subnet = Some("10.0.0.0/24".parse().unwrap());
        c.ip_range = Some("10.0.1.0/28".parse().unwrap());
        assert_eq!(
            c.validate_static("nv-").unwrap_err().to_string(),
            "ip-range 10.0.1.0/28 is outside subnet 10.0.0.0/24"
        );
        let mut c = ContainerSpec::new("c1", NetworkMode::Macvlan);
        c.nat = false;
        assert!(c.validate_static("nv-").is_err());
        assert!("80".parse::<Publish>().is_err());
        assert!("0:80".parse::<Publish>().is_err());
        assert_eq!(
            "8080:80".parse::<Publish>().unwrap(),
            Publish {
                host_port: 8080,
                container_port: 80
            }
        );
    }

    #[test]
    fn next_free_skips_reserved_and_taken() {
        let subnet: Ipv4Net = "192.168.50.0/24".parse().unwrap();
        let range: Ipv4Net = "192.168.50.192/27".parse().unwrap();
        let reserved: Vec<Ipv4Addr> = ["192.168.50.11", "192.168.50.12", "192.168.50.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let first = next_free(&subnet, &range, &reserved, &[]).unwrap();
        assert_eq!(first.to_string(), "192.168.50.193");
        let second = next_free(&subnet, &range, &reserved, &[first]).unwrap();
        assert_eq!(second.to_string(), "192.168.50.194");
        // A range that covers the reserved addresses skips them.
        let whole: Ipv4Net = "192.168.50.0/28".parse().unwrap();
        let got = next_free(&subnet, &whole, &reserved, &[]).unwrap();
        assert_eq!(got.to_string(), "192.168.50.2");
        let mut taken = Vec::new();
        while let Some(ip) = next_free(&subnet, &whole, &reserved, &taken) {
            assert!(!reserved.contains(&ip));
            taken.push(ip);
        }
        assert_eq!(taken.len(), 14 - 3);
        // A full range has nothing left.
        let tiny: Ipv4Net = "192.168.50.12/32".parse().unwrap();
        assert_eq!(next_free(&subnet, &tiny, &reserved, &[]), None);
    }

    #[test]
    fn every_name_and_address_of_the_world_is_checked() {
        type Tweak = fn(&mut LabSpec);
        let cases: &[(Tweak, &str)] = &[
            (
                |s| s.router.far = "192.168.50.11/32".parse().unwrap(),
                "far address 192.168.50.11/32 overlaps the LAN",
            ),
            (
                |s| s.router.far = "192.168.50.12/32".parse().unwrap(),
                "overlaps the LAN",
            ),
            (
                |s| s.router.far = "172.17.0.1/32".parse().unwrap(),
                "overlaps the docker network 172.17.0.0/16",
            ),
            (
                |s| s.router.far = "172.17.9.9/32".parse().unwrap(),
                "overlaps the docker network",
            ),
            (
                |s| s.router.far = "192.0.0.1/8".parse().unwrap(),
                "overlaps the LAN",
            ),
            (
                |s| s.router.far = "198.51.100.0/24".parse().unwrap(),
                "is the network or broadcast address",
            ),
            (
                |s| s.router.far = "127.0.0.1/32".parse().unwrap(),
                "far address 127.0.0.1 is not a unicast address",
            ),
            (
                |s| s.router.far = "224.0.0.1/32".parse().unwrap(),
                "not a unicast address",
            ),
            (
                |s| s.docker.address = "0.0.0.0/16".parse().unwrap(),
                "not a unicast address",
            ),
            (
                |s| s.docker.address = "192.168.0.1/16".parse().unwrap(),
                "docker network 192.168.0.0/16 overlaps the LAN",
            ),
            (
                |s| {
                    s.macvlan.subnet = "172.17.0.0/16".parse().unwrap();
                    s.macvlan.ip_range = "172.17.0.0/28".parse().unwrap();
                },
                "macvlan subnet 172.17.0.0/16 overlaps the docker network 172.17.0.0/16",
            ),
            (
                |s| {
                    s.macvlan.subnet = "198.51.100.0/24".parse().unwrap();
                    s.macvlan.ip_range = "198.51.100.0/28".parse().unwrap();
                },
                "far address 198.51.100.1/32 overlaps the macvlan subnet",
            ),
            (
                |s| s.docker.bridge = "enp0s8".into(),
                "the docker bridge and the host's LAN interface are both named \"enp0s8\"",
            ),
            (
                |s| s.docker.bridge = "dock:0".into(),
                "may not contain '/', ':' or spaces",
            ),
            (
                |s| s.docker.bridge = "lo".into(),
                "docker bridge \"lo\" is the name of the loopback device",
            ),
            (
                |s| s.docker.bridge = "nvshim0".into(),
                "looks like a name netview gives its own links",
            ),
            (|s| s.docker.bridge = "".into(), "docker bridge is empty"),
            (
                |s| s.host.ifname = "lo".into(),
                "host ifname \"lo\" is the name of the loopback device",
            ),
            (|s| s.host.ifname = "a:b".into(), "may not contain"),
            (|s| s.host.ifname = "..".into(), "may not be \"..\""),
            (
                |s| s.host.ifname = "veth0abc123".into(),
                "looks like a name netview gives",
            ),
            (
                |s| s.switch.bridge = "lo".into(),
                "switch bridge \"lo\" is the name of the loopback device",
            ),
            (
                |s| s.switch.bridge = "p-host".into(),
                "is the name of the switch's port to the host",
            ),
            (
                |s| s.switch.bridge = "p-router".into(),
                "port to the router",
            ),
            (|s| s.switch.bridge = "a b".into(), "may not contain"),
        ];
        assert_eq!(
            LabSpec::default().validate().map_err(|e| e.to_string()),
            Ok(())
        );
        for (tweak, needle) in cases {
            let mut s = LabSpec::default();
            tweak(&mut s);
            let e = s.validate().expect_err(needle).to_string();
            assert!(e.contains(needle), "{e:?} lacks {needle:?}");
            assert!(!e.contains('\n'));
        }
        // Names that only look alike are fine.
        let mut s = LabSpec::default();
        s.docker.bridge = "vethx".into();
        s.host.ifname = "nvshim".into();
        s.switch.bridge = "p-lan".into();
        assert!(s.validate().is_ok());
        // Real mode: the sandbox's host ifname is not created, and nothing holds the far
        // address; docker's bridge still must not be named like the parent.
        let mut s = LabSpec::default();
        s.options.real = true;
        s.options.parent = Some("eth9".into());
        s.host.ifname = "lo".into();
        s.router.far = "192.168.50.99/32".parse().unwrap();
        assert!(s.validate().is_ok());
        s.docker.bridge = "eth9".into();
        assert!(s.validate().is_err());
    }
}
