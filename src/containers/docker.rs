//! Docker, through the Engine API on its Unix socket: `/containers/json?all=1` lists the
//! containers, `/containers/{id}/json` gives each running one's `State.Pid` and
//! `NetworkSettings.SandboxKey`, `/networks` the networks. Paths carry no API version, so the
//! daemon answers in its own (Docker 20.10 speaks 1.41; Docker 29 refuses versions below 1.44).
//!
//! The mapping from the API's JSON to the model is pure and tested on recorded answers
//! (`tests/fixtures/containers/docker-*.json`). What the daemon says is checked like user
//! input: ids are hex, names are plain, a SandboxKey must lie in Docker's netns directory.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use serde::Deserialize;

use super::http;
use super::{
    Container, ContainerAddress, ContainerSource, Network, Runtime, RuntimeAnswer, SourceError,
};

/// Docker's socket when `DOCKER_HOST` does not name another.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Where Docker keeps its containers' namespaces (`/var/run` is a link to `/run` on Debian).
const NETNS_DIRS: &[&str] = &["/var/run/docker/netns/", "/run/docker/netns/"];

/// The Docker Engine API at a Unix socket.
#[derive(Debug, Clone)]
pub struct DockerSource {
    pub socket: PathBuf,
}

impl DockerSource {
    /// The socket `DOCKER_HOST` names when it is `unix://PATH`, else the default one.
    pub fn from_env() -> Self {
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
        Self { socket }
    }

    fn get(&self, path: &str, deadline: Instant) -> Result<Vec<u8>, SourceError> {
        let rt = Runtime::Docker;
        http::get_from_runtime(rt, &self.socket, path, deadline, |io| {
            // No socket: installed but not running, or not installed at all.
            if io.kind() == std::io::ErrorKind::NotFound {
                if super::find_program("dockerd").is_some()
                    || super::find_program("docker").is_some()
                {
                    return SourceError::NotRunning {
                        runtime: rt,
                        socket: self.socket.clone(),
                    };
                }
                return SourceError::NotInstalled { runtime: rt };
            }
            SourceError::from_io(rt, &self.socket, io)
        })
    }
}

fn bad(what: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError::bad_answer(Runtime::Docker, what, e)
}

impl ContainerSource for DockerSource {
    fn runtime(&self) -> Runtime {
        Runtime::Docker
    }

    fn ask(&self, deadline: Instant) -> Result<RuntimeAnswer, SourceError> {
        let list = self.get("/containers/json?all=1", deadline)?;
        let mut containers = parse_containers(&list).map_err(|e| bad("/containers/json", e))?;
        for c in containers
            .iter_mut()
            .filter(|c| c.state == "running" || c.state == "paused")
        {
            let path = format!("/containers/{}/json", c.id);
            match self.get(&path, deadline) {
                Ok(body) => {
                    let details = parse_inspect(&body).map_err(|e| bad(&path, e))?;
                    apply_inspect(c, details);
                }
                // Removed between the list and the inspect: it simply has no namespace.
                Err(SourceError::Status { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let nets = self.get("/networks", deadline)?;
        let networks = parse_networks(&nets).map_err(|e| bad("/networks", e))?;
        Ok(RuntimeAnswer {
            containers,
            networks,
        })
    }
}

// The API's JSON, only the fields netview reads. Unknown fields are ignored; missing ones
// default, since their presence varies with the API version.

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiContainer {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    network_settings: Option<ApiNetworkSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiNetworkSettings {
    #[serde(default)]
    networks: Option<BTreeMap<String, ApiEndpoint>>,
    #[serde(default)]
    sandbox_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ApiEndpoint {
    #[serde(rename = "IPAddress", default)]
    ip_address: Option<String>,
    #[serde(rename = "GlobalIPv6Address", default)]
    global_ipv6_address: Option<String>,
    #[serde(rename = "MacAddress", default)]
    mac_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiInspect {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    state: Option<ApiState>,
    #[serde(default)]
    network_settings: Option<ApiNetworkSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiState {
    #[serde(default)]
    pid: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiNetwork {
    name: String,
    id: String,
    #[serde(default)]
    driver: String,
    #[serde(rename = "IPAM", default)]
    ipam: Option<ApiIpam>,
    #[serde(default)]
    options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiIpam {
    #[serde(default)]
    config: Option<Vec<ApiIpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiIpamConfig {
    #[serde(default)]
    subnet: Option<String>,
    #[serde(default)]
    gateway: Option<String>,
}

/// What `/containers/{id}/json` adds to the list's entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InspectDetails {
    pub name: Option<String>,
    pub pid: Option<u32>,
    pub sandbox_key: Option<PathBuf>,
    pub addresses: Vec<ContainerAddress>,
}

/// A container or network id: hex digits only (64 of them from Docker and Podman).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// A container or network name as the runtimes allow them (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`),
/// which also keeps control characters out of the screen.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Printable text of at most 255 characters (an image reference, a state, a driver).
pub fn clean_text(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(255).collect()
}

/// A SandboxKey netview will `stat`: a plain file name in Docker's netns directory.
fn valid_sandbox_key(key: &str) -> Option<PathBuf> {
    NETNS_DIRS.iter().find_map(|dir| {
        let name = key.strip_prefix(dir)?;
        (!name.is_empty() && !name.contains('/') && name != "." && name != "..")
            .then(|| PathBuf::from(key))
    })
}

fn addresses(settings: Option<&ApiNetworkSettings>) -> (Vec<String>, Vec<ContainerAddress>) {
    let mut names = Vec::new();
    let mut addrs = Vec::new();
    for (net, ep) in settings
        .and_then(|s| s.networks.as_ref())
        .into_iter()
        .flatten()
    {
        if !is_valid_name(net) {
            continue;
        }
        names.push(net.clone());
        let parse = |s: &Option<String>| s.as_deref().and_then(|a| a.parse::<IpAddr>().ok());
        let mac = ep
            .mac_address
            .as_deref()
            .filter(|m| is_mac(m))
            .map(str::to_ascii_lowercase);
        for ip in [parse(&ep.ip_address), parse(&ep.global_ipv6_address)]
            .into_iter()
            .flatten()
        {
            addrs.push(ContainerAddress {
                network: net.clone(),
                ip: Some(ip),
                mac: mac.clone(),
            });
        }
    }
    (names, addrs)
}

fn is_mac(s: &str) -> bool {
    s.len() == 17
        && s.split(':')
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The container's name from Docker's `Names` (`/web`; legacy links add `/other/alias`).
fn primary_name(names: &[String]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| n.strip_prefix('/').or(Some(n)))
        .find(|n| is_valid_name(n))
        .map(str::to_string)
}

/// Map `/containers/json?all=1`. Entries with an id or name Docker could not have given are
/// left out.
pub fn parse_containers(json: &[u8]) -> Result<Vec<Container>, serde_json::Error> {
    let list: Vec<ApiContainer> = serde_json::from_slice(json)?;
    Ok(list
        .into_iter()
        .filter(|c| is_valid_id(&c.id))
        .filter_map(|c| {
            let name = primary_name(&c.names)?;
            let (networks, addresses) = addresses(c.network_settings.as_ref());
            Some(Container {
                runtime: Runtime::Docker,
                id: c.id.to_ascii_lowercase(),
                name,
                image: clean_text(&c.image),
                state: clean_text(&c.state),
                networks,
                pid: None,
                addresses,
                sandbox_key: None,
            })
        })
        .collect())
}

/// Map `/containers/{id}/json`.
pub fn parse_inspect(json: &[u8]) -> Result<InspectDetails, serde_json::Error> {
    let c: ApiInspect = serde_json::from_slice(json)?;
    let pid = c
        .state
        .map(|s| s.pid)
        .filter(|&p| p > 0)
        .and_then(|p| u32::try_from(p).ok());
    let sandbox_key = c
        .network_settings
        .as_ref()
        .and_then(|s| s.sandbox_key.as_deref())
        .and_then(valid_sandbox_key);
    let (_, addresses) = addresses(c.network_settings.as_ref());
    Ok(InspectDetails {
        name: c
            .name
            .as_deref()
            .and_then(|n| primary_name(&[n.to_string()])),
        pid,
        sandbox_key,
        addresses,
    })
}

/// Put what the inspect said onto the listed container (the inspect is the later answer).
pub fn apply_inspect(c: &mut Container, d: InspectDetails) {
    if let Some(name) = d.name {
        c.name = name;
    }
    c.pid = d.pid;
    c.sandbox_key = d.sandbox_key;
    if !d.addresses.is_empty() {
        c.addresses = d.addresses;
    }
}

/// Map `/networks`.
pub fn parse_networks(json: &[u8]) -> Result<Vec<Network>, serde_json::Error> {
    let list: Vec<ApiNetwork> = serde_json::from_slice(json)?;
    Ok(list
        .into_iter()
        .filter(|n| is_valid_id(&n.id) && is_valid_name(&n.name))
        .map(|n| {
            let options = n.options.unwrap_or_default();
            let config = n.ipam.and_then(|i| i.config).unwrap_or_default();
            let subnets = config
                .iter()
                .filter_map(|c| c.subnet.as_deref()?.parse::<ipnet::IpNet>().ok())
                .collect();
            let gateways = config
                .iter()
                .filter_map(|c| c.gateway.as_deref()?.parse::<IpAddr>().ok())
                .collect();
            let opt = |k: &str| options.get(k).filter(|v| is_device_name(v)).cloned();
            let (interface, parent, mode) = match n.driver.as_str() {
                "bridge" => (
                    opt("com.docker.network.bridge.name")
                        .or_else(|| Some(format!("br-{}", n.id.get(..12).unwrap_or(&n.id)))),
                    None,
                    None,
                ),
                // Docker's defaults when the options do not say.
                "macvlan" => (
                    None,
                    opt("parent"),
                    opt("macvlan_mode").or_else(|| Some("bridge".into())),
                ),
                "ipvlan" => (
                    None,
                    opt("parent"),
                    opt("ipvlan_mode").or_else(|| Some("l2".into())),
                ),
                _ => (None, None, None),
            };
            Network {
                runtime: Runtime::Docker,
                id: n.id.to_ascii_lowercase(),
                name: n.name,
                driver: clean_text(&n.driver),
                subnets,
                gateways,
                interface,
                parent,
                mode,
                containers: Vec::new(),
            }
        })
        .collect())
}

/// A Linux interface name (at most 15 bytes, no `/`, no space) or a mode word.
pub fn is_device_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != '"' && c != '\\')
}
