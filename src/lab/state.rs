//! The state file: the lab's spec and every object created, with how to undo it. It lives
//! under /run/netview (gone at reboot, as the namespaces are) and is guarded by a lock file so
//! the CLI and a running TUI can share it. Every write bumps `generation`, so a reader can tell
//! that something changed (or watch the file: writes are atomic renames).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::journal::{Pending, Undo};
use super::ops::Ns;
use super::spec::{ContainerSpec, LabSpec};
use super::LabError;

/// Environment variable overriding the state directory (tests use a tempdir).
pub const STATE_DIR_ENV: &str = "NETVIEW_STATE_DIR";
/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/run/netview";
/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";
/// Undos of an unfinished creation's changes to netview's own namespace.
pub const PENDING_FILE: &str = "pending.json";

/// The directory holding the state file and its lock.
pub fn state_dir() -> PathBuf {
    std::env::var_os(STATE_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// The state file (watch it to learn that the lab changed).
pub fn state_path() -> PathBuf {
    state_dir().join(STATE_FILE)
}

/// Facts about the world read from the kernel when it was built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFacts {
    pub mac: Option<String>,
    pub addresses: Vec<Ipv4Net>,
}

/// A host shim: a macvlan on the host bridging it to its macvlan children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimState {
    pub parent: String,
    pub ifname: String,
    pub ip: Ipv4Net,
    pub range: Ipv4Net,
}

/// One container as built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    pub spec: ContainerSpec,
    /// Its namespace (None for host mode, which shares the host's stack).
    pub netns: Option<String>,
    pub ifname: String,
    pub ip: Option<Ipv4Net>,
    pub mac: Option<String>,
    pub parent: Option<String>,
    pub gateway: Option<Ipv4Addr>,
    /// The host-side veth of a bridge container.
    pub host_ifname: Option<String>,
    /// How to remove what was created for it, in creation order.
    pub objects: Vec<Undo>,
}

/// The whole lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    pub version: u32,
    /// Bumped on every write.
    pub generation: u64,
    /// Namespace name prefix of this lab (`nv-`).
    pub prefix: String,
    /// The alias netview sets on links and namespaces' `lo` it creates (`netview:<prefix>`).
    pub tag: String,
    pub spec: LabSpec,
    /// The world's namespaces: host (None in real mode: netview's own), switch, peer, router.
    pub host_ns: Ns,
    pub host: NodeFacts,
    pub peer: NodeFacts,
    pub router: NodeFacts,
    /// Whether docker0 exists (made on the first bridge container).
    pub docker_ready: bool,
    /// Bumped per bridge container, salting host-side veth names (an old one may linger
    /// while the kernel frees a removed container's namespace).
    #[serde(default)]
    pub veth_seq: u32,
    pub shims: Vec<ShimState>,
    /// Shared objects (world, docker0, ip_forward, NAT table, promisc), creation order.
    pub objects: Vec<Undo>,
    pub containers: Vec<ContainerState>,
    /// Namespaces made ahead (in parallel) for the containers of the batch being added; not
    /// stored.
    #[serde(skip)]
    pub premade_netns: Vec<String>,
}

impl LabState {
    pub fn new(prefix: &str, spec: LabSpec) -> Self {
        let host_ns = if spec.options.real {
            Ns::Current
        } else {
            Ns::Named(format!("{prefix}host"))
        };
        LabState {
            version: 1,
            generation: 0,
            prefix: prefix.to_string(),
            tag: tag_for(prefix),
            spec,
            host_ns,
            host: NodeFacts::default(),
            peer: NodeFacts::default(),
            router: NodeFacts::default(),
            docker_ready: false,
            veth_seq: 0,
            shims: Vec::new(),
            objects: Vec::new(),
            containers: Vec::new(),
            premade_netns: Vec::new(),
        }
    }

    pub fn ns_name(&self, part: &str) -> String {
        format!("{}{part}", self.prefix)
    }

    pub fn container(&self, name: &str) -> Option<&ContainerState> {
        self.containers.iter().find(|c| c.spec.name == name)
    }
}

/// Every tag (link alias) netview sets starts with this.
pub const TAG_PREFIX: &str = "netview:";

/// The tag netview puts on what it creates.
pub fn tag_for(prefix: &str) -> String {
    format!("{TAG_PREFIX}{prefix}")
}

/// Whether a link alias (e.g. the `lo` of a namespace) marks an object netview made.
pub fn is_netview_tag(alias: &str) -> bool {
    alias.starts_with(TAG_PREFIX)
}

/// The state directory, locked for the lifetime of this value.
pub struct StateDir {
    dir: PathBuf,
    _lock: Flock<File>,
}

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> LabError {
    LabError::State(format!("{what} {}: {e}", path.display()))
}

impl StateDir {
    /// Take the exclusive lock (waits for another netview to finish).
    pub fn lock(dir: &Path) -> Result<Self, LabError> {
        Self::lock_with(dir, FlockArg::LockExclusive)
    }

    /// Take a shared lock (readers: the TUI, `lab ls`).
    pub fn lock_shared(dir: &Path) -> Result<Self, LabError> {
        Self::lock_with(dir, FlockArg::LockShared)
    }

    fn lock_with(dir: &Path, arg: FlockArg) -> Result<Self, LabError> {
        use std::os::unix::fs::MetadataExt;
        let path = dir.join(LOCK_FILE);
        loop {
            fs::create_dir_all(dir).map_err(|e| io_err("cannot create", dir, e))?;
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| io_err("cannot open", &path, e))?;
            let lock = Flock::lock(file, arg).map_err(|(_, e)| io_err("cannot lock", &path, e))?;
            // `remove` deletes the lock file when the lab goes away; a waiter that locked the
            // deleted file must retry on the current one.
            let held = lock.metadata().map(|m| m.ino()).ok();
            let current = fs::metadata(&path).map(|m| m.ino()).ok();
            if held.is_some() && held == current {
                return Ok(StateDir {
                    dir: dir.to_path_buf(),
                    _lock: lock,
                });
            }
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Where an unfinished creation keeps its own-namespace undos.
    pub fn pending_path(&self) -> PathBuf {
        self.dir.join(PENDING_FILE)
    }

    /// What a crashed creation left (empty when none or unreadable).
    pub fn load_pending(&self) -> Pending {
        fs::read(self.pending_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Read the state, None when there is no lab.
    pub fn load(&self) -> Result<Option<LabState>, LabError> {
        read_state(&self.path())
    }

    /// Write the state atomically, bumping its generation.
    pub fn save(&self, state: &mut LabState) -> Result<(), LabError> {
        state.generation += 1;
        let path = self.path();
        let tmp = self.dir.join(format!(".{STATE_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(state)
            .map_err(|e| LabError::State(format!("cannot encode state: {e}")))?;
        let mut f = File::create(&tmp).map_err(|e| io_err("cannot write", &tmp, e))?;
        f.write_all(&text)
            .map_err(|e| io_err("cannot write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| io_err("cannot replace", &path, e))?;
        Ok(())
    }

    /// Remove the state file and, when nothing else is in it, the directory.
    pub fn remove(&self) -> Result<(), LabError> {
        let path = self.path();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot remove", &path, e)),
        }
        let _ = fs::remove_file(self.dir.join(format!(".{STATE_FILE}.tmp")));
        let _ = fs::remove_file(self.pending_path());
        let _ = fs::remove_file(self.dir.join(LOCK_FILE));
        // Fails harmlessly when something else lives there.
        let _ = fs::remove_dir(&self.dir);
        Ok(())
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        // With no lab, leave no trace (not even the lock) behind.
        if !self.path().exists() && !self.pending_path().exists() {
            let _ = self.remove();
        }
    }
}

/// Read a state file without locking (a reader may see the old or the new file, never a
/// half-written one, because writes are renames).
pub fn read_state(path: &Path) -> Result<Option<LabState>, LabError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io_err("cannot parse", path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("cannot read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_bumps_generation_and_remove_cleans_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nv");
        let sd = StateDir::lock(&dir).unwrap();
        assert_eq!(sd.load().unwrap(), None);
        let mut st = LabState::new("nv-t1-", LabSpec::default());
        sd.save(&mut st).unwrap();
        sd.save(&mut st).unwrap();
        let back = sd.load().unwrap().unwrap();
        assert_eq!(back.generation, 2);
        assert_eq!(back, st);
        assert_eq!(back.tag, "netview:nv-t1-");
        sd.remove().unwrap();
        drop(sd);
        assert!(!dir.exists());
    }
}
