//! The state file: the lab's spec and every object created, with how to undo it. It lives
//! under /run/netview (gone at reboot, as the namespaces are) and is guarded by a lock file so
//! the CLI and a running TUI can share it. Every write bumps `generation`, so a reader can tell
//! that something changed (or watch the file: writes are atomic renames).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::journal::{Pending, Undo};
use super::ops::{NetnsId, Ns};
use super::spec::{check_ifname, ContainerSpec, LabSpec, NetworkMode};
use super::LabError;

/// Environment variable overriding the state directory (tests use a tempdir).
pub const STATE_DIR_ENV: &str = "NETVIEW_STATE_DIR";
/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/run/netview";
/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";
/// The undos of an unfinished creation (replayed by the next command that takes the lock).
pub const PENDING_FILE: &str = "pending.json";
/// The only state format this netview reads and writes.
pub const STATE_VERSION: u32 = 1;

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
            version: STATE_VERSION,
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

    /// Every namespace this state records as made by netview (the world's and the
    /// containers'), with the identity recorded when it was made.
    pub fn recorded_netns(&self) -> impl Iterator<Item = (&str, Option<NetnsId>)> {
        self.objects
            .iter()
            .chain(self.containers.iter().flat_map(|c| c.objects.iter()))
            .filter_map(|u| match u {
                Undo::DeleteNetns { name, id } => Some((name.as_str(), *id)),
                _ => None,
            })
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
    /// Whether this process created the directory, or found a lab or a crash record in it
    /// (then removing the lab may remove the directory).
    ours: std::cell::Cell<bool>,
    /// Set once the lock file is unlinked: from then on another netview may hold a new lock
    /// in this directory, so this value touches nothing there any more.
    released: std::cell::Cell<bool>,
    _lock: Flock<File>,
}

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> LabError {
    LabError::State(format!("{what} {}: {e}", path.display()))
}

/// A file or directory where netview expects its own, refused without following it.
fn refused(path: &Path, why: &str) -> LabError {
    LabError::State(format!(
        "{} {why}; netview does not follow or trust it (remove it by hand)",
        path.display()
    ))
}

/// A state whose content netview cannot trust.
fn untrusted(path: &Path, why: impl std::fmt::Display) -> LabError {
    LabError::State(format!(
        "{} cannot be trusted: {why}; run `netview clean` to remove the lab",
        path.display()
    ))
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Refuse what is not a regular file owned by netview's user.
fn check_own_file(path: &Path, md: &fs::Metadata) -> Result<(), LabError> {
    if md.file_type().is_symlink() {
        return Err(refused(path, "is a symlink"));
    }
    if !md.file_type().is_file() {
        return Err(refused(path, "is not a regular file"));
    }
    if md.uid() != euid() {
        return Err(refused(
            path,
            &format!(
                "is owned by uid {}, not by netview's uid {}",
                md.uid(),
                euid()
            ),
        ));
    }
    Ok(())
}

/// Create the state directory 0700 (whatever the umask), or check an existing one: a real
/// directory, ours, writable by nobody else. Returns whether it was created now.
fn open_private_dir(dir: &Path) -> Result<bool, LabError> {
    for _ in 0..LOCK_RETRIES {
        if let Some(made) = try_private_dir(dir)? {
            return Ok(made);
        }
    }
    Err(LabError::State(format!(
        "cannot create {}: it kept being removed by other netview commands",
        dir.display()
    )))
}

/// One attempt of [`open_private_dir`]; None when a concurrent `clean` removed the directory
/// between our mkdir and our look (try again).
fn try_private_dir(dir: &Path) -> Result<Option<bool>, LabError> {
    let mut builder = fs::DirBuilder::new();
    builder.mode(0o700);
    let made = match builder.create(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(|e| io_err("cannot create", parent, e))?;
            }
            return Ok(None);
        }
        Err(e) => return Err(io_err("cannot create", dir, e)),
    };
    let md = match fs::symlink_metadata(dir) {
        Ok(md) => md,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("cannot inspect", dir, e)),
    };
    if md.file_type().is_symlink() {
        return Err(refused(dir, "is a symlink"));
    }
    if !md.is_dir() {
        return Err(refused(dir, "is not a directory"));
    }
    if md.uid() != euid() {
        return Err(refused(
            dir,
            &format!(
                "is owned by uid {}, not by netview's uid {}",
                md.uid(),
                euid()
            ),
        ));
    }
    if made {
        // The umask may have taken bits away; 0700 exactly.
        match fs::set_permissions(dir, fs::Permissions::from_mode(0o700)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("cannot chmod", dir, e)),
        }
    } else if md.mode() & 0o022 != 0 {
        return Err(refused(
            dir,
            &format!("is writable by other users (mode {:o})", md.mode() & 0o7777),
        ));
    }
    Ok(Some(made))
}

/// Open (creating 0600) the lock file without following a symlink; refuse anything that is
/// not our own regular file.
fn open_lock_file(path: &Path) -> Result<File, std::io::Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// Mark the lock file at `path` (a newcomer's) as holding the duty to remove the directory:
/// opened without following a symlink, and only when it is our own regular file.
fn mark_handed_over(path: &Path) -> Result<(), std::io::Error> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let md = file.metadata()?;
    if check_own_file(path, &md).is_err() {
        return Err(std::io::Error::from_raw_os_error(libc::EPERM));
    }
    file.set_permissions(fs::Permissions::from_mode(DIR_HANDED_OVER))
}

/// Open a file of ours for reading, never through a symlink. None when it does not exist.
fn open_own_file(path: &Path) -> Result<Option<File>, LabError> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refused(path, "is a symlink"))
        }
        Err(e) => return Err(io_err("cannot read", path, e)),
    };
    let md = file
        .metadata()
        .map_err(|e| io_err("cannot inspect", path, e))?;
    check_own_file(path, &md)?;
    Ok(Some(file))
}

/// The largest state or pending file netview reads (a real one is a few KiB).
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Read a file of ours whole (see [`open_own_file`]).
fn read_own_file(path: &Path) -> Result<Option<Vec<u8>>, LabError> {
    let Some(file) = open_own_file(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err("cannot read", path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(untrusted(path, "it is larger than 16 MiB"));
    }
    Ok(Some(bytes))
}

/// Write `name` in `dir` atomically: a new 0600 file under a random name (exclusive create,
/// so nothing planted there is followed), fsync, rename over `name`.
pub fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LabError> {
    let path = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(TMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| io_err("cannot write", &path, e))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err("cannot chmod", tmp.path(), e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io_err("cannot write", tmp.path(), e))?;
    // The directory is not synced: the state lives in /run, which no reboot keeps, and a
    // rename is atomic for every process that survives. (Syncing it too made two fsyncs of
    // every write: 74 instead of 37 for `lab add` of 8 bridge containers.)
    tmp.persist(&path)
        .map_err(|e| io_err("cannot replace", &path, e.error))?;
    Ok(())
}

const TMP_SUFFIX: &str = ".tmp";

/// Remove a file of ours. Ok(false) when it was not there; a symlink or someone else's file
/// is left and refused.
fn remove_own_file(path: &Path) -> Result<bool, LabError> {
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err("cannot inspect", path, e)),
    };
    check_own_file(path, &md)?;
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("cannot remove", path, e)),
    }
}

fn present(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// The mode a lock file gets just before `remove` unlinks it, when the directory is
/// netview's own: the next holder of that (now unlinked) lock inherits the directory.
const DIR_HANDED_OVER: u32 = 0o400;

/// How often a waiter retries when a concurrent `clean`/`down` removes the lock file or the
/// directory under it (each retry means another netview finished in between).
const LOCK_RETRIES: usize = 10_000;

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
        let path = dir.join(LOCK_FILE);
        let mut made_dir = false;
        for _ in 0..LOCK_RETRIES {
            made_dir |= open_private_dir(dir)?;
            let file = match open_lock_file(&path) {
                Ok(f) => f,
                // `remove` took the directory away between our mkdir and open: again.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    return Err(refused(&path, "is a symlink"))
                }
                Err(e) => return Err(io_err("cannot open", &path, e)),
            };
            let md = file
                .metadata()
                .map_err(|e| io_err("cannot inspect", &path, e))?;
            check_own_file(&path, &md)?;
            // (A lock being retired by `remove` keeps its hand-over mark.)
            if md.mode() & 0o777 != 0o600 && md.mode() & 0o777 != DIR_HANDED_OVER {
                file.set_permissions(fs::Permissions::from_mode(0o600))
                    .map_err(|e| io_err("cannot chmod", &path, e))?;
            }
            let lock = Flock::lock(file, arg).map_err(|(_, e)| io_err("cannot lock", &path, e))?;
            // `remove` deletes the lock file when the lab goes away; a waiter that locked the
            // deleted file must retry on the current one.
            let held_md = lock.metadata().ok();
            let held = held_md.as_ref().map(|m| (m.dev(), m.ino()));
            let current = fs::symlink_metadata(&path).map(|m| (m.dev(), m.ino())).ok();
            if held.is_some() && held != current {
                // The holder before us removed the lock. If it was removing a directory it
                // owned, it marked the old lock read-only first (see `remove`): its `rmdir`
                // fails while we make the new lock, so that duty is ours now (without this,
                // 1 in about 50 rounds of concurrent commands left an empty directory).
                if held_md.is_some_and(|m| m.mode() & 0o777 == DIR_HANDED_OVER) {
                    made_dir = true;
                }
            }
            if held.is_some() && held == current {
                return Ok(StateDir {
                    dir: dir.to_path_buf(),
                    ours: std::cell::Cell::new(made_dir),
                    released: std::cell::Cell::new(false),
                    _lock: lock,
                });
            }
        }
        Err(LabError::State(format!(
            "cannot lock {}: it kept being removed by other netview commands",
            path.display()
        )))
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where an unfinished creation keeps its undos.
    pub fn pending_path(&self) -> PathBuf {
        self.dir.join(PENDING_FILE)
    }

    /// What an interrupted creation left, None when nothing, with the prefix of the lab it
    /// belongs to: the state's (`lab`), else its own, else `fallback` (an older record).
    /// Refused like the state when it is not netview's own file or names something outside
    /// that lab.
    pub fn load_pending(
        &self,
        lab: Option<&str>,
        fallback: &str,
    ) -> Result<Option<(Pending, String)>, LabError> {
        let path = self.pending_path();
        let Some(bytes) = read_own_file(&path)? else {
            return Ok(None);
        };
        self.ours.set(true);
        let p: Pending = serde_json::from_slice(&bytes).map_err(|e| untrusted(&path, e))?;
        let prefix = lab.or(p.prefix.as_deref()).unwrap_or(fallback).to_string();
        p.validate(&prefix).map_err(|why| untrusted(&path, why))?;
        Ok(Some((p, prefix)))
    }

    /// Forget what an interrupted creation left (after replaying it).
    pub fn remove_pending(&self) -> Result<(), LabError> {
        remove_own_file(&self.pending_path()).map(|_| ())
    }

    /// Read the state, None when there is no lab.
    pub fn load(&self) -> Result<Option<LabState>, LabError> {
        if present(&self.path()) {
            self.ours.set(true);
        }
        read_state(&self.path())
    }

    /// Write the state atomically, bumping its generation.
    pub fn save(&self, state: &mut LabState) -> Result<(), LabError> {
        // u64::MAX itself is refused on load (it could not grow again), so never written.
        state.generation = state
            .generation
            .checked_add(1)
            .filter(|g| *g < u64::MAX)
            .ok_or_else(|| {
                LabError::State("the state's generation would wrap; run `netview clean`".into())
            })?;
        let text = serde_json::to_vec_pretty(state)
            .map_err(|e| LabError::State(format!("cannot encode state: {e}")))?;
        self.ours.set(true);
        write_private(&self.dir, STATE_FILE, &text)
    }

    /// Remove the state file, what a crash may have left beside it, the lock and, when it
    /// held a lab (or a crash record) or was made by this process (never an empty directory
    /// someone gave us), the directory.
    pub fn remove(&self) -> Result<(), LabError> {
        if self.released.get() {
            return Ok(());
        }
        let had_state = remove_own_file(&self.path())?;
        let had_pending = remove_own_file(&self.pending_path())?;
        if had_state || had_pending {
            self.ours.set(true);
        }
        // Temporary files of an interrupted write (ours only: regular, owned, our names).
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                let ours = [STATE_FILE, PENDING_FILE]
                    .iter()
                    .any(|f| name.starts_with(&format!(".{f}.")))
                    && name.ends_with(TMP_SUFFIX);
                if ours {
                    let _ = remove_own_file(&e.path());
                }
            }
        }
        // Last: once the lock file is gone a waiter may take a new one here, and the
        // directory's removal must not be lost between us (measured: 1 round in about 50 of
        // four concurrent commands left an empty directory). The owner of the directory
        // marks the lock it holds (a waiter on it inherits the duty, see `lock_with`), and if
        // a newcomer made a new lock before our `rmdir`, marks that one too; a holder checks
        // its own lock's mark after unlinking it, so one of the two always sees the other.
        self.released.set(true);
        if self.ours.get() {
            let _ = self
                ._lock
                .set_permissions(fs::Permissions::from_mode(DIR_HANDED_OVER));
        }
        let lock = self.dir.join(LOCK_FILE);
        let _ = remove_own_file(&lock);
        let handed = self
            ._lock
            .metadata()
            .is_ok_and(|m| m.mode() & 0o777 == DIR_HANDED_OVER);
        if self.ours.get() || handed {
            for _ in 0..100 {
                match fs::remove_dir(&self.dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    // A newcomer's lock (or something else that lives there).
                    Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                        match mark_handed_over(&lock) {
                            Ok(()) => break,
                            // It finished in between: try the directory again.
                            Err(e) if e.kind() == ErrorKind::NotFound => continue,
                            Err(_) => break,
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        Ok(())
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        // With no lab, leave no trace (not even the lock) behind.
        if !self.released.get() && !present(&self.path()) && !present(&self.pending_path()) {
            let _ = self.remove();
        }
    }
}

/// Read a state file without locking (a reader may see the old or the new file, never a
/// half-written one, because writes are renames). A state that is not netview's own file,
/// or that says something netview would not have written, is refused.
pub fn read_state(path: &Path) -> Result<Option<LabState>, LabError> {
    let Some(bytes) = read_own_file(path)? else {
        return Ok(None);
    };
    let st: LabState = serde_json::from_slice(&bytes).map_err(|e| untrusted(path, e))?;
    st.validate().map_err(|why| untrusted(path, why))?;
    Ok(Some(st))
}

/// A namespace name read back from disk: a plain name in /run/netns with the lab's prefix.
fn check_netns_name(prefix: &str, name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
    {
        return Err(format!("namespace name {name:?} is not a plain name"));
    }
    if name.len() <= prefix.len() || !name.starts_with(prefix) {
        return Err(format!(
            "namespace {name:?} does not carry the lab's prefix {prefix:?}"
        ));
    }
    Ok(())
}

fn check_ns(prefix: &str, ns: &Ns) -> Result<(), String> {
    match ns {
        Ns::Current => Ok(()),
        Ns::Named(n) => check_netns_name(prefix, n),
    }
}

fn ifname(what: &str, name: &str) -> Result<(), String> {
    check_ifname(what, name).map_err(|e| e.to_string())
}

/// A prefix read back from disk, by the rule `NETVIEW_PREFIX` follows, and never empty.
pub fn check_prefix(p: &str) -> Result<(), String> {
    if p.is_empty() || p.contains('/') || p.contains('\0') || p.len() > 64 {
        return Err(format!("bad prefix {p:?}"));
    }
    Ok(())
}

/// An undo read back from disk: every name in it checked like user input.
fn check_undo(prefix: &str, u: &Undo) -> Result<(), String> {
    match u {
        Undo::DeleteNetns { name, .. } => check_netns_name(prefix, name),
        Undo::DeleteLink { ns, name } => {
            check_ns(prefix, ns)?;
            ifname("link", name)
        }
        Undo::Promisc { ns, link, .. } => {
            check_ns(prefix, ns)?;
            ifname("link", link)
        }
        Undo::Hairpin { ns, port, .. } => {
            check_ns(prefix, ns)?;
            ifname("port", port)
        }
        Undo::Sysctl { ns, key, restore } => {
            check_ns(prefix, ns)?;
            let plain = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            };
            if !key.starts_with("net/") || !key.split('/').all(|p| plain(p) && p != "..") {
                return Err(format!("sysctl {key:?} is not a net/ key"));
            }
            if restore.len() > 64
                || !restore
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c == ' ' || c == '\t')
            {
                return Err(format!("sysctl value {restore:?} is not a number"));
            }
            Ok(())
        }
        Undo::NftSync { ns } | Undo::NftDelete { ns } => check_ns(prefix, ns),
    }
}

impl LabState {
    /// Check a state read back from disk as user input is checked: a version netview knows,
    /// a generation that can still grow, and every name it will use as a path or a link.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != STATE_VERSION {
            return Err(format!(
                "version {} is not one this netview knows ({STATE_VERSION})",
                self.version
            ));
        }
        if self.generation == u64::MAX {
            return Err("its generation cannot grow any more".into());
        }
        let p = self.prefix.as_str();
        check_prefix(p)?;
        if self.tag != tag_for(p) {
            return Err(format!("tag {:?} is not {:?}", self.tag, tag_for(p)));
        }
        let host = if self.spec.options.real {
            Ns::Current
        } else {
            Ns::Named(self.ns_name("host"))
        };
        if self.host_ns != host {
            return Err(format!("host namespace {} is not {host}", self.host_ns));
        }
        ifname("host ifname", &self.spec.host.ifname)?;
        ifname("switch bridge", &self.spec.switch.bridge)?;
        ifname("docker bridge", &self.spec.docker.bridge)?;
        if let Some(parent) = &self.spec.options.parent {
            ifname("parent", parent)?;
        }
        for s in &self.shims {
            ifname("shim parent", &s.parent)?;
            ifname("shim", &s.ifname)?;
        }
        for u in &self.objects {
            check_undo(p, u)?;
        }
        for (i, c) in self.containers.iter().enumerate() {
            let name = &c.spec.name;
            c.spec.validate_static(p).map_err(|e| e.to_string())?;
            if self.containers[..i].iter().any(|o| &o.spec.name == name) {
                return Err(format!("container {name:?} is listed twice"));
            }
            let want = (c.spec.mode != NetworkMode::Host).then(|| self.ns_name(name));
            if c.netns != want {
                return Err(format!(
                    "container {name:?} has namespace {:?}, not {want:?}",
                    c.netns
                ));
            }
            ifname("interface", &c.ifname)?;
            for n in c.host_ifname.iter().chain(&c.parent) {
                ifname("interface", n)?;
            }
            for u in &c.objects {
                check_undo(p, u)?;
            }
        }
        Ok(())
    }
}

impl Pending {
    /// Check a pending record read back from disk (see [`LabState::validate`]).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        if let Some(p) = &self.prefix {
            check_prefix(p)?;
            if p != prefix {
                return Err(format!("its prefix {p:?} is not the lab's {prefix:?}"));
            }
        }
        for n in &self.netns {
            check_netns_name(prefix, n)?;
        }
        for u in &self.undo {
            check_undo(prefix, u)?;
        }
        Ok(())
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
