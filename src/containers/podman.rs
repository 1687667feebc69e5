//! Podman (daemonless): its API service's socket when it is active
//! (`/run/podman/podman.sock`, the libpod API's `/libpod/containers/json?all=true` and
//! `/libpod/networks/json`), otherwise `podman ps --all --format json` and
//! `podman network ls --format json`, run with fixed arguments and no shell. Both give the
//! same JSON (the libpod list entities), so one mapping serves both.
//!
//! Podman's answer has each running container's `Pid`; its namespace is matched through
//! `/proc/PID/ns/net` (netavark's namespaces are `/run/netns/netns-<uuid>`, so the inode is the
//! same).

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::docker::{clean_text, is_device_name, is_valid_id, is_valid_name};
use super::http;
use super::{
    find_program, Container, ContainerSource, Network, Runtime, RuntimeAnswer, SourceError,
};

/// Rootful Podman's API socket (`systemctl start podman.socket`).
pub const DEFAULT_SOCKET: &str = "/run/podman/podman.sock";

/// Podman, through its socket or its command.
#[derive(Debug, Clone)]
pub struct PodmanSource {
    pub socket: PathBuf,
    /// The `podman` program, when the socket is not there (`None`: look it up in PATH).
    pub program: Option<PathBuf>,
}

impl PodmanSource {
    pub fn standard() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            program: None,
        }
    }

    fn api(&self, path: &str, deadline: Instant) -> Result<Vec<u8>, SourceError> {
        let rt = Runtime::Podman;
        http::get_from_runtime(rt, &self.socket, path, deadline, |io| {
            SourceError::from_io(rt, &self.socket, io)
        })
    }
}

fn bad(what: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError::bad_answer(Runtime::Podman, what, e)
}

impl ContainerSource for PodmanSource {
    fn runtime(&self) -> Runtime {
        Runtime::Podman
    }

    fn ask(&self, deadline: Instant) -> Result<RuntimeAnswer, SourceError> {
        // The socket, when something listens on it.
        if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
            let ps = self.api("/v4.0.0/libpod/containers/json?all=true", deadline)?;
            let nets = self.api("/v4.0.0/libpod/networks/json", deadline)?;
            return Ok(RuntimeAnswer {
                containers: parse_containers(&ps).map_err(|e| bad("containers", e))?,
                networks: parse_networks(&nets).map_err(|e| bad("networks", e))?,
            });
        }
        let program = self
            .program
            .clone()
            .or_else(|| find_program("podman"))
            .ok_or(SourceError::NotInstalled {
                runtime: Runtime::Podman,
            })?;
        // Both at once: each costs podman's start-up (about 100 ms).
        let (ps, nets) = std::thread::scope(|s| {
            let ps = s.spawn(|| {
                run_with_deadline(&program, &["ps", "--all", "--format", "json"], deadline)
            });
            let nets = s.spawn(|| {
                run_with_deadline(&program, &["network", "ls", "--format", "json"], deadline)
            });
            (join(ps), join(nets))
        });
        Ok(RuntimeAnswer {
            containers: parse_containers(&ps?).map_err(|e| bad("podman ps", e))?,
            networks: parse_networks(&nets?).map_err(|e| bad("podman network ls", e))?,
        })
    }
}

fn join(
    h: std::thread::ScopedJoinHandle<'_, Result<Vec<u8>, SourceError>>,
) -> Result<Vec<u8>, SourceError> {
    h.join().unwrap_or_else(|_| {
        Err(SourceError::CommandFailed {
            program: "podman".into(),
            message: "the reader thread panicked".into(),
        })
    })
}

/// Run `program args` (no shell) and return its output, killing it at `deadline`.
pub fn run_with_deadline(
    program: &Path,
    args: &[&str],
    deadline: Instant,
) -> Result<Vec<u8>, SourceError> {
    let rt = Runtime::Podman;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SourceError::from_io(rt, program, e))?;
    // Read both pipes on their own threads, so a child that writes a lot never blocks.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(http::MAX_BODY as u64).read_to_end(&mut v);
        }
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut v);
        }
        v
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SourceError::Timeout {
                    runtime: rt,
                    timeout: super::ANSWER_TIMEOUT,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(SourceError::Io {
                    runtime: rt,
                    source: e,
                })
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        let message = String::from_utf8_lossy(&stderr)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(clean_text)
            .unwrap_or_else(|| status.to_string());
        return Err(SourceError::CommandFailed {
            program: format!("podman {}", args.first().unwrap_or(&"")),
            message,
        });
    }
    Ok(stdout)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PsContainer {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    pid: i64,
    #[serde(default)]
    networks: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct PodmanNetwork {
    name: String,
    id: String,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    network_interface: Option<String>,
    #[serde(default)]
    subnets: Option<Vec<PodmanSubnet>>,
    #[serde(default)]
    options: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct PodmanSubnet {
    #[serde(default)]
    subnet: Option<String>,
    #[serde(default)]
    gateway: Option<String>,
}

/// Map `podman ps --all --format json` (or the libpod API's container list). A pod's infra
/// container is listed like the others: it is the one that holds the pod's namespace.
pub fn parse_containers(json: &[u8]) -> Result<Vec<Container>, serde_json::Error> {
    // `podman ps` prints `[]` for none, but older versions printed nothing at all.
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let list: Vec<PsContainer> = serde_json::from_slice(json)?;
    Ok(list
        .into_iter()
        .filter(|c| is_valid_id(&c.id))
        .filter_map(|c| {
            let name = c.names.iter().find(|n| is_valid_name(n))?.clone();
            Some(Container {
                runtime: Runtime::Podman,
                id: c.id.to_ascii_lowercase(),
                name,
                image: clean_text(&c.image),
                state: clean_text(&c.state),
                networks: c
                    .networks
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| is_valid_name(n))
                    .collect(),
                pid: u32::try_from(c.pid).ok().filter(|&p| p > 0),
                addresses: Vec::new(),
                sandbox_key: None,
            })
        })
        .collect())
}

/// Map `podman network ls --format json` (or the libpod API's network list).
pub fn parse_networks(json: &[u8]) -> Result<Vec<Network>, serde_json::Error> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let list: Vec<PodmanNetwork> = serde_json::from_slice(json)?;
    Ok(list
        .into_iter()
        .filter(|n| is_valid_id(&n.id) && is_valid_name(&n.name))
        .map(|n| {
            let subnets = n.subnets.unwrap_or_default();
            let device = n.network_interface.filter(|d| is_device_name(d));
            let mode = n
                .options
                .as_ref()
                .and_then(|o| o.get("mode"))
                .filter(|m| is_device_name(m))
                .cloned();
            // netavark's `network_interface` is the bridge for a bridge network and the
            // parent for macvlan/ipvlan; its default modes are bridge and l2.
            let (interface, parent, mode) = match n.driver.as_str() {
                "bridge" => (device, None, None),
                "macvlan" => (None, device, mode.or_else(|| Some("bridge".into()))),
                "ipvlan" => (None, device, mode.or_else(|| Some("l2".into()))),
                _ => (None, None, None),
            };
            Network {
                runtime: Runtime::Podman,
                id: n.id.to_ascii_lowercase(),
                name: n.name,
                driver: clean_text(&n.driver),
                subnets: subnets
                    .iter()
                    .filter_map(|s| s.subnet.as_deref()?.parse::<ipnet::IpNet>().ok())
                    .collect(),
                gateways: subnets
                    .iter()
                    .filter_map(|s| s.gateway.as_deref()?.parse::<IpAddr>().ok())
                    .collect(),
                interface,
                parent,
                mode,
                containers: Vec::new(),
            }
        })
        .collect())
}
