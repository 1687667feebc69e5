//! Containers and networks by the names their runtimes give them (Docker, Podman).
//!
//! Each runtime is one [`ContainerSource`]: it asks the runtime (an API socket, or Podman's
//! command line) and maps the answer to the model here with pure functions, tested on recorded
//! answers in `tests/fixtures/containers/`. [`match_namespaces`] then puts each container on
//! the namespace it lives in by comparing namespace inodes (`/proc/PID/ns/net`, Docker's
//! `SandboxKey`), which needs `stat` only, never `setns`.
//!
//! A runtime that is not installed, not running, not allowed or too slow is never an error of
//! the inventory: it has no containers from that runtime and a [`RuntimeStatus`] saying why.
//! Every source answers within [`ANSWER_TIMEOUT`], and the sources are asked concurrently.

pub mod docker;
pub mod events;
pub mod http;
pub mod podman;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::netns::Netns;

/// How long one runtime may take to answer everything netview asks it. A socket that accepts
/// and never answers costs this much, once, and the namespaces are read meanwhile.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// A container runtime netview can ask.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Runtime {
    Docker,
    Podman,
}

impl Runtime {
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// One container, as its runtime names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub runtime: Runtime,
    /// The full id (64 hex digits for Docker and Podman).
    pub id: String,
    /// The name without Docker's leading `/`.
    pub name: String,
    /// The image as the runtime lists it (`busybox:latest`, `sha256:...`).
    pub image: String,
    /// `running`, `exited`, `created`, `paused`... as the runtime says.
    pub state: String,
    /// The networks it is attached to, by name (`bridge`, `my_macvlan`; `host`, `none`).
    pub networks: Vec<String>,
    /// Its main process while it runs.
    pub pid: Option<u32>,
    /// Its addresses on each network, where the runtime says them.
    #[serde(default)]
    pub addresses: Vec<ContainerAddress>,
    /// The file that holds its network namespace (Docker's `SandboxKey`), when known.
    #[serde(skip)]
    pub sandbox_key: Option<PathBuf>,
}

impl Container {
    /// The first 12 digits of the id, as `docker ps` shows it.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }

    /// `web (docker)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.runtime)
    }
}

/// A container's address on one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerAddress {
    pub network: String,
    pub ip: Option<IpAddr>,
    pub mac: Option<String>,
}

/// One network of a runtime (what `docker network ls` lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub runtime: Runtime,
    pub id: String,
    pub name: String,
    /// As the runtime says it: `bridge`, `host`, `null`, `macvlan`, `ipvlan`, `overlay`...
    pub driver: String,
    pub subnets: Vec<ipnet::IpNet>,
    pub gateways: Vec<IpAddr>,
    /// The bridge device on the host (`docker0`, `br-1a2b3c4d5e6f`, `podman0`), if any.
    pub interface: Option<String>,
    /// macvlan/ipvlan: the parent device.
    pub parent: Option<String>,
    /// macvlan/ipvlan: the mode (`bridge`, `l2`...).
    pub mode: Option<String>,
    /// The containers attached to it, by name.
    pub containers: Vec<String>,
}

/// What one runtime answered: its containers and networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeAnswer {
    pub containers: Vec<Container>,
    pub networks: Vec<Network>,
}

/// Why a runtime could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Neither its socket nor its program is there.
    #[error("{runtime} is not installed")]
    NotInstalled { runtime: Runtime },
    /// The socket exists but nothing listens on it.
    #[error("{runtime} is not running (nothing listens on {})", socket.display())]
    NotRunning { runtime: Runtime, socket: PathBuf },
    /// The socket or program may not be used by this user.
    #[error("{runtime}: no permission to use {}", path.display())]
    PermissionDenied { runtime: Runtime, path: PathBuf },
    /// It did not answer in time.
    #[error("{runtime} did not answer within {} ms", timeout.as_millis())]
    Timeout { runtime: Runtime, timeout: Duration },
    #[error("{runtime}: {source}")]
    Io {
        runtime: Runtime,
        source: std::io::Error,
    },
    /// The API answered with an HTTP error status.
    #[error("{runtime} answered {status} to {path}")]
    Status {
        runtime: Runtime,
        path: String,
        status: u16,
    },
    /// The answer was not what the API documents.
    #[error("{runtime} gave an answer netview cannot read ({what}): {detail}")]
    BadAnswer {
        runtime: Runtime,
        what: String,
        detail: String,
    },
    /// The program ran and failed.
    #[error("{program} failed: {message}")]
    CommandFailed { program: String, message: String },
}

impl SourceError {
    /// An answer of `runtime` about `what` that could not be read.
    pub fn bad_answer(runtime: Runtime, what: &str, e: impl std::fmt::Display) -> Self {
        SourceError::BadAnswer {
            runtime,
            what: what.to_string(),
            detail: e.to_string(),
        }
    }

    /// Map an I/O error met while talking to a runtime at `path`.
    pub fn from_io(runtime: Runtime, path: &Path, e: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::NotFound => SourceError::NotInstalled { runtime },
            ErrorKind::ConnectionRefused => SourceError::NotRunning {
                runtime,
                socket: path.to_path_buf(),
            },
            ErrorKind::PermissionDenied => SourceError::PermissionDenied {
                runtime,
                path: path.to_path_buf(),
            },
            ErrorKind::WouldBlock | ErrorKind::TimedOut => SourceError::Timeout {
                runtime,
                timeout: ANSWER_TIMEOUT,
            },
            _ => SourceError::Io { runtime, source: e },
        }
    }
}

/// One runtime: asked for everything it knows, within a deadline.
pub trait ContainerSource: Send + Sync {
    fn runtime(&self) -> Runtime;
    /// Every container (running or not) and network, answered before `deadline`.
    fn ask(&self, deadline: Instant) -> Result<RuntimeAnswer, SourceError>;
}

/// The runtimes netview asks by default, at their standard places (`DOCKER_HOST` is honoured
/// when it is a `unix://` path).
pub fn default_sources() -> Vec<Arc<dyn ContainerSource>> {
    vec![
        Arc::new(docker::DockerSource::from_env()),
        Arc::new(podman::PodmanSource::standard()),
    ]
}

/// Whether a runtime could be asked, and why not. Shown in the status bar and in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeStatus {
    pub runtime: Runtime,
    /// `true` when it answered.
    pub answered: bool,
    /// Why it could not be asked (one plain sentence), or null.
    pub error: Option<String>,
    /// Whether it is installed at all: a runtime that is not is no news to the user.
    #[serde(skip)]
    pub installed: bool,
}

/// Everything the runtimes answered, and which could not be asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerWorld {
    pub containers: Vec<Container>,
    pub networks: Vec<Network>,
    pub status: Vec<RuntimeStatus>,
}

impl ContainerWorld {
    /// The runtimes that are installed but could not be asked, as `docker: reason` lines.
    pub fn unreachable(&self) -> Vec<String> {
        self.status
            .iter()
            .filter(|s| s.installed && !s.answered)
            .map(|s| s.error.clone().unwrap_or_else(|| s.runtime.to_string()))
            .collect()
    }

    /// Find a container by what a user typed: `docker:NAME`, `podman:NAME`, or an id prefix
    /// of at least 4 hex digits that only one container has.
    pub fn find(&self, wanted: &str) -> Result<&Container, LookupError> {
        if let Some((rt, name)) = wanted.split_once(':') {
            let runtime = match rt {
                "docker" => Runtime::Docker,
                "podman" => Runtime::Podman,
                _ => return Err(LookupError::NotAContainer),
            };
            let name = name.strip_prefix('/').unwrap_or(name);
            let by_name = self
                .containers
                .iter()
                .find(|c| c.runtime == runtime && c.name == name);
            let by_id = || {
                let hits: Vec<&Container> = self
                    .containers
                    .iter()
                    .filter(|c| c.runtime == runtime && is_id_prefix(name, &c.id))
                    .collect();
                match hits.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                }
            };
            return by_name.or_else(by_id).ok_or_else(|| LookupError::Unknown {
                runtime: Some(runtime),
                wanted: name.to_string(),
                unreachable: self
                    .status
                    .iter()
                    .find(|s| s.runtime == runtime && !s.answered)
                    .and_then(|s| s.error.clone()),
            });
        }
        let hits: Vec<&Container> = self
            .containers
            .iter()
            .filter(|c| is_id_prefix(wanted, &c.id))
            .collect();
        match hits.as_slice() {
            [] => Err(LookupError::NotAContainer),
            [one] => Ok(one),
            _ => Err(LookupError::Ambiguous {
                wanted: wanted.to_string(),
                count: hits.len(),
            }),
        }
    }
}

impl ContainerWorld {
    /// Find a network by what a user typed: `NAME`, in whichever runtime has one by that name,
    /// or `docker:NAME` / `podman:NAME` when both have one (network names cannot hold `:`).
    pub fn find_network(&self, wanted: &str) -> Result<&Network, NetworkLookupError> {
        let (runtime, name) = match wanted.split_once(':') {
            Some(("docker", name)) => (Some(Runtime::Docker), name),
            Some(("podman", name)) => (Some(Runtime::Podman), name),
            _ => (None, wanted),
        };
        let hits: Vec<&Network> = self
            .networks
            .iter()
            .filter(|n| n.name == name && runtime.is_none_or(|rt| n.runtime == rt))
            .collect();
        match hits.as_slice() {
            [one] => Ok(one),
            [] => Err(NetworkLookupError::Unknown {
                wanted: wanted.to_string(),
                unreachable: self
                    .status
                    .iter()
                    .filter(|s| s.installed && !s.answered)
                    .filter(|s| runtime.is_none_or(|rt| s.runtime == rt))
                    .filter_map(|s| s.error.clone())
                    .collect(),
            }),
            _ => Err(NetworkLookupError::InBoth {
                name: name.to_string(),
            }),
        }
    }

    /// The containers attached to `network`, in the runtime's order.
    pub fn members<'a>(&'a self, network: &'a Network) -> impl Iterator<Item = &'a Container> {
        self.containers
            .iter()
            .filter(|c| c.runtime == network.runtime && c.networks.contains(&network.name))
    }
}

/// Why a typed network name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkLookupError {
    #[error("{}", unknown_network_message(wanted, unreachable))]
    Unknown {
        wanted: String,
        /// Why the runtimes it might belong to could not be asked.
        unreachable: Vec<String>,
    },
    #[error("docker and podman both have a network {name:?}: say docker:{name} or podman:{name}")]
    InBoth { name: String },
    /// It exists, and none of its containers runs (so none has a namespace to probe).
    #[error("{runtime} network {name:?} has no running container")]
    NoneRunning { runtime: Runtime, name: String },
}

fn unknown_network_message(wanted: &str, unreachable: &[String]) -> String {
    if unreachable.is_empty() {
        format!("no Docker or Podman network {wanted:?}")
    } else {
        format!(
            "no Docker or Podman network {wanted:?} ({})",
            unreachable.join("; ")
        )
    }
}

/// The runtimes' answer, asked for at most once and only when first needed: a command that
/// names only namespaces does not wait for `podman ps`.
pub struct AskedOnce {
    sources: Vec<Arc<dyn ContainerSource>>,
    world: std::cell::OnceCell<ContainerWorld>,
}

impl AskedOnce {
    pub fn new(sources: Vec<Arc<dyn ContainerSource>>) -> Self {
        AskedOnce {
            sources,
            world: std::cell::OnceCell::new(),
        }
    }

    /// What the runtimes answered, asking them now if not yet asked.
    pub fn world(&self) -> &ContainerWorld {
        self.world.get_or_init(|| ask_all(&self.sources))
    }

    /// The sources, and the answer if they were asked.
    pub fn into_parts(self) -> (Vec<Arc<dyn ContainerSource>>, Option<ContainerWorld>) {
        (self.sources, self.world.into_inner())
    }
}

/// Why what a user typed for a namespace did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// It names a container that is unknown, ambiguous or not running.
    #[error(transparent)]
    Container(#[from] LookupError),
    /// It names no namespace.
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
}

/// Resolve what a user typed for a namespace, as `netview inventory --netns` and `netview
/// probe --from/--to` take it: a namespace discovery listed (`root`, a name in /run/netns,
/// `pid:N`), a container (`docker:NAME`, `podman:NAME`, an id prefix of 4 or more hex digits),
/// or a namespace discovery did not list. `world` is asked for only when the name is no listed
/// namespace; `inode_of` is [`crate::netns::ns_inode`] outside tests.
pub fn resolve_namespace<'w>(
    name: &str,
    all: &[Netns],
    world: impl FnOnce() -> &'w ContainerWorld,
    inode_of: &dyn Fn(&Path) -> Option<u64>,
) -> Result<Netns, ResolveError> {
    // Prefer the discovered entry (it carries the process label).
    if let Some(n) = all.iter().find(|n| n.name == name) {
        return Ok(n.clone());
    }
    let found = world()
        .find(name)
        .and_then(|c| namespace_of(c, all, inode_of).cloned());
    match found {
        Ok(n) => Ok(n),
        Err(LookupError::NotAContainer) => Ok(crate::netns::find(name)?),
        Err(e) => Err(e.into()),
    }
}

fn is_id_prefix(prefix: &str, id: &str) -> bool {
    prefix.len() >= 4 && prefix.chars().all(|c| c.is_ascii_hexdigit()) && id.starts_with(prefix)
}

/// Why a typed container name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// It does not look like a container at all (no `docker:`/`podman:`, no id prefix).
    #[error("not a container")]
    NotAContainer,
    #[error("{}", unknown_message(*runtime, wanted, unreachable.as_deref()))]
    Unknown {
        runtime: Option<Runtime>,
        wanted: String,
        unreachable: Option<String>,
    },
    #[error("{count} containers have an id starting with {wanted:?}; give more digits")]
    Ambiguous { wanted: String, count: usize },
    #[error("container {name} ({runtime}) is not running, so it has no network namespace")]
    NotRunning { runtime: Runtime, name: String },
}

fn unknown_message(runtime: Option<Runtime>, wanted: &str, unreachable: Option<&str>) -> String {
    let rt = runtime.map(|r| r.as_str()).unwrap_or("any runtime");
    match unreachable {
        Some(why) => format!("no {rt} container {wanted:?} ({why})"),
        None => format!("no {rt} container {wanted:?}"),
    }
}

/// Ask every source concurrently; each answers within its deadline or is reported unreachable.
pub fn ask_all(sources: &[Arc<dyn ContainerSource>]) -> ContainerWorld {
    refresh(sources, &ContainerWorld::default(), None)
}

/// Ask again only the runtimes in `which` (all when None), keeping what `previous` has of the
/// others: a Docker event must not wait for `podman ps` (about 150 ms of start-up each).
pub fn refresh(
    sources: &[Arc<dyn ContainerSource>],
    previous: &ContainerWorld,
    which: Option<&std::collections::BTreeSet<Runtime>>,
) -> ContainerWorld {
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    let wanted = |rt: Runtime| which.is_none_or(|w| w.contains(&rt));
    // Each source on a thread of its own, waited for until the deadline only: one stuck
    // where no timeout reaches (a connect(2) to a listener whose backlog is full blocks) is
    // left behind and reported as not answering.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut answers: Vec<(Runtime, Result<RuntimeAnswer, SourceError>)> = Vec::new();
    let mut asked: Vec<Runtime> = Vec::new();
    for src in sources.iter().filter(|src| wanted(src.runtime())) {
        let (src, tx) = (Arc::clone(src), tx.clone());
        let rt = src.runtime();
        asked.push(rt);
        let spawned = std::thread::Builder::new()
            .name(format!("ask-{rt}"))
            .spawn(move || {
                let _ = tx.send((rt, src.ask(deadline)));
            });
        if let Err(e) = spawned {
            answers.push((
                rt,
                Err(SourceError::Io {
                    runtime: rt,
                    source: e,
                }),
            ));
        }
    }
    drop(tx);
    // A little past the deadline, for the sources' own timeouts to fire first.
    let wait_until = deadline + Duration::from_millis(100);
    while answers.len() < asked.len() {
        let left = wait_until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(a) => answers.push(a),
            Err(_) => break,
        }
    }
    for rt in asked {
        if !answers.iter().any(|(r, _)| *r == rt) {
            answers.push((
                rt,
                Err(SourceError::Timeout {
                    runtime: rt,
                    timeout: ANSWER_TIMEOUT,
                }),
            ));
        }
    }
    // In the sources' order, whatever order they answered in.
    answers.sort_by_key(|(rt, _)| sources.iter().position(|s| s.runtime() == *rt));
    let mut world = ContainerWorld::default();
    // What is kept of the runtimes not asked again, in the sources' order.
    for src in sources.iter().filter(|src| !wanted(src.runtime())) {
        let rt = src.runtime();
        world.containers.extend(
            previous
                .containers
                .iter()
                .filter(|c| c.runtime == rt)
                .cloned(),
        );
        world.networks.extend(
            previous
                .networks
                .iter()
                .filter(|n| n.runtime == rt)
                .cloned(),
        );
        world
            .status
            .extend(previous.status.iter().filter(|s| s.runtime == rt).cloned());
    }
    for (runtime, answer) in answers {
        match answer {
            Ok(a) => {
                world.containers.extend(a.containers);
                world.networks.extend(a.networks);
                world.status.push(RuntimeStatus {
                    runtime,
                    answered: true,
                    error: None,
                    installed: true,
                });
            }
            Err(e) => world.status.push(RuntimeStatus {
                runtime,
                answered: false,
                installed: !matches!(e, SourceError::NotInstalled { .. }),
                error: Some(e.to_string()),
            }),
        }
    }
    fill_network_members(&mut world);
    world
}

/// Name each network's containers from the containers' own network lists.
pub fn fill_network_members(world: &mut ContainerWorld) {
    let mut members: BTreeMap<(Runtime, &str), Vec<String>> = BTreeMap::new();
    for c in &world.containers {
        for n in &c.networks {
            members
                .entry((c.runtime, n.as_str()))
                .or_default()
                .push(c.name.clone());
        }
    }
    let members: BTreeMap<(Runtime, String), Vec<String>> = members
        .into_iter()
        .map(|((rt, n), mut v)| {
            v.sort();
            v.dedup();
            ((rt, n.to_string()), v)
        })
        .collect();
    for net in &mut world.networks {
        if let Some(v) = members.get(&(net.runtime, net.name.clone())) {
            net.containers = v.clone();
        }
    }
}

/// For each container (by its index in `containers`), the inode of its network namespace:
/// that of its SandboxKey when the runtime gave one, else that of `/proc/PID/ns/net`.
/// `inode_of` is [`crate::netns::ns_inode`] outside tests.
pub fn namespace_inodes(
    containers: &[Container],
    inode_of: &dyn Fn(&Path) -> Option<u64>,
) -> Vec<Option<u64>> {
    containers
        .iter()
        .map(|c| {
            let by_key = c.sandbox_key.as_deref().and_then(inode_of);
            by_key.or_else(|| {
                c.pid
                    .filter(|&p| p > 0)
                    .and_then(|p| inode_of(&PathBuf::from(format!("/proc/{p}/ns/net"))))
            })
        })
        .collect()
}

/// Everything the runtimes answered, with each container placed on its namespace (by inode):
/// what the TUI keeps. Made outside `update`, since placing takes `stat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacedWorld {
    pub world: ContainerWorld,
    /// Namespace inode → indexes into `world.containers`.
    pub by_netns: BTreeMap<u64, Vec<usize>>,
}

impl PlacedWorld {
    /// Ask every source and place what they answered.
    pub fn ask(sources: &[Arc<dyn ContainerSource>]) -> Self {
        Self::placed(ask_all(sources))
    }

    /// Ask the runtimes in `which` again, keeping this world's answers of the others.
    pub fn refresh(
        &self,
        sources: &[Arc<dyn ContainerSource>],
        which: &std::collections::BTreeSet<Runtime>,
    ) -> Self {
        Self::placed(refresh(sources, &self.world, Some(which)))
    }

    fn placed(world: ContainerWorld) -> Self {
        let by_netns = place(&world.containers, &crate::netns::ns_inode);
        PlacedWorld { world, by_netns }
    }

    /// The containers living in the namespace with this inode.
    pub fn on(&self, netns_id: u64) -> Vec<Container> {
        self.by_netns
            .get(&netns_id)
            .map(|v| {
                v.iter()
                    .map(|&i| self.world.containers[i].clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Containers by the inode of their namespace, whichever namespaces are known.
pub fn place(
    containers: &[Container],
    inode_of: &dyn Fn(&Path) -> Option<u64>,
) -> BTreeMap<u64, Vec<usize>> {
    let mut out: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, ino) in namespace_inodes(containers, inode_of)
        .into_iter()
        .enumerate()
    {
        if let Some(ino) = ino {
            out.entry(ino).or_default().push(i);
        }
    }
    out
}

/// Which containers live in which namespace: namespace inode → indexes into `containers`.
/// A host-mode container's process is in the root namespace, so it lands there.
pub fn match_namespaces(
    containers: &[Container],
    namespaces: &[Netns],
    inode_of: &dyn Fn(&Path) -> Option<u64>,
) -> BTreeMap<u64, Vec<usize>> {
    let known: std::collections::BTreeSet<u64> = namespaces.iter().map(|n| n.id).collect();
    let mut out: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, ino) in namespace_inodes(containers, inode_of)
        .into_iter()
        .enumerate()
    {
        if let Some(ino) = ino.filter(|i| known.contains(i)) {
            out.entry(ino).or_default().push(i);
        }
    }
    out
}

/// The namespace a typed container lives in.
pub fn namespace_of<'a>(
    container: &Container,
    namespaces: &'a [Netns],
    inode_of: &dyn Fn(&Path) -> Option<u64>,
) -> Result<&'a Netns, LookupError> {
    let ino = namespace_inodes(std::slice::from_ref(container), inode_of)
        .into_iter()
        .next()
        .flatten();
    ino.and_then(|i| namespaces.iter().find(|n| n.id == i))
        .ok_or_else(|| LookupError::NotRunning {
            runtime: container.runtime,
            name: container.name.clone(),
        })
}

/// Look `name` up in PATH and the usual bin directories, without running anything.
pub fn find_program(name: &str) -> Option<PathBuf> {
    crate::programs::find(name)
}

#[cfg(test)]
mod tests;
