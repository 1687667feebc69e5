//! Network namespaces: finding them, naming them, and running code inside one.
//!
//! `setns(2)` changes only the calling thread, so every piece of kernel work that must happen
//! inside a namespace runs on a dedicated OS thread created by [`run_in`]. Sockets opened on
//! that thread (netlink, raw) stay bound to the namespace after the thread ends, so the caller
//! may keep using them from anywhere. Work over many namespaces goes through [`pool`], a
//! bounded set of such threads reused from one namespace to the next. Nothing here ever calls
//! `setns` on a tokio worker.

mod discover;
pub mod pool;

pub use discover::{
    current, discover, find, is_runtime_name, ns_inode, self_id, Netns, NetnsSource,
};

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

/// Where named namespaces live (as `ip netns` manages them).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Errors from namespace handling.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespace {0:?} does not exist")]
    NotFound(String),
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot enter network namespace {name:?}: {source}")]
    Enter { name: String, source: nix::Error },
    #[error("the namespace thread for {0:?} panicked")]
    ThreadPanicked(String),
    #[error("cannot start a thread: {0}")]
    Spawn(std::io::Error),
}

/// Open the namespace file at `path` (a bind mount in /run/netns or a /proc/PID/ns/net link).
pub fn open_ns_file(path: &Path) -> Result<File, NetnsError> {
    File::open(path).map_err(|source| NetnsError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Enter the namespace `file` on the calling thread, unless the thread is already in it:
/// `setns` needs CAP_SYS_ADMIN even for one's own namespace, and an unprivileged netview must
/// still read the namespace it runs in.
fn enter(file: &File, label: &str) -> Result<(), NetnsError> {
    use std::os::unix::fs::MetadataExt;
    let target = file.metadata().map(|m| (m.dev(), m.ino())).ok();
    let current = std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| (m.dev(), m.ino()))
        .ok();
    if target.is_some() && target == current {
        return Ok(());
    }
    setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
        name: label.to_string(),
        source,
    })
}

/// Run `f` on a fresh OS thread that has entered the namespace at `path`, and wait for it.
///
/// The thread is created only for this call, so the namespace switch can never leak into a
/// thread pool. `label` names the namespace in errors.
pub fn run_in<T, F>(label: &str, path: &Path, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = open_ns_file(path)?;
    let label_owned = label.to_string();
    let handle = std::thread::Builder::new()
        .name(format!("netns:{}", truncate_thread_name(label)))
        .spawn(move || -> Result<T, NetnsError> {
            enter(&file, &label_owned)?;
            Ok(f())
        })
        .map_err(NetnsError::Spawn)?;
    handle
        .join()
        .map_err(|_| NetnsError::ThreadPanicked(label.to_string()))?
}

/// Spawn a long-lived thread inside the namespace at `path` (for watchers and probe workers).
/// The returned handle yields `f`'s result, or the error from entering the namespace.
pub fn spawn_in<T, F>(
    label: &str,
    path: &Path,
    f: F,
) -> Result<std::thread::JoinHandle<Result<T, NetnsError>>, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = open_ns_file(path)?;
    let label_owned = label.to_string();
    std::thread::Builder::new()
        .name(format!("netns:{}", truncate_thread_name(label)))
        .spawn(move || -> Result<T, NetnsError> {
            enter(&file, &label_owned)?;
            Ok(f())
        })
        .map_err(NetnsError::Spawn)
}

fn truncate_thread_name(label: &str) -> String {
    // Linux thread names are at most 15 bytes; keep it on a char boundary.
    let mut out = String::new();
    for c in label.chars() {
        if out.len() + c.len_utf8() > 8 {
            break;
        }
        out.push(c);
    }
    out
}
