//! Finding every network namespace on the host: the root one, named ones (/run/netns) and
//! unnamed ones held only by processes (found through /proc/*/ns/net), deduplicated by inode.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{NetnsError, NETNS_RUN_DIR};

/// How a namespace was found, which decides how it is named.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum NetnsSource {
    /// The initial namespace (the one PID 1 is in).
    Root,
    /// A bind mount under /run/netns, as `ip netns add` makes.
    Named,
    /// Held only by processes (Docker's containers, for example).
    Process,
}

impl NetnsSource {
    /// The word the JSON uses (`root`, `named`, `process`), for text output too.
    pub fn word(self) -> &'static str {
        self.into()
    }
}

/// One network namespace, identified by its nsfs inode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Netns {
    /// `root`, the name in /run/netns, or `pid:N` for an unnamed one.
    pub name: String,
    /// The namespace's inode number, as `lsns` and `ip netns identify` use.
    pub id: u64,
    pub source: NetnsSource,
    /// A path that opens the namespace.
    #[serde(skip)]
    pub path: PathBuf,
    /// For namespaces held by processes: which process, e.g. `nginx (pid 812, containerd-shim)`
    /// (the kernel's 15-byte `comm`: `containerd-shim-runc-v2` shows as `containerd-shim`).
    pub process: Option<String>,
    /// Whether netview itself runs in this namespace.
    pub is_self: bool,
}

fn inode_of(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The inode of the namespace file at `path` (a /proc/PID/ns/net link, a bind mount such as
/// Docker's SandboxKey), by `stat`: nothing is entered.
pub fn ns_inode(path: &Path) -> Option<u64> {
    inode_of(path).map(|(_, ino)| ino)
}

/// The inode of the namespace the calling thread is in.
pub fn self_id() -> Option<u64> {
    inode_of(Path::new("/proc/thread-self/ns/net")).map(|(_, ino)| ino)
}

/// A process's name (the kernel's 15-byte `comm`) and its parent, from /proc/PID/stat.
fn comm_and_parent(pid: u32) -> Option<(String, u32)> {
    let pid = i32::try_from(pid).ok()?;
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    Some((stat.comm, u32::try_from(stat.ppid).ok()?))
}

fn comm_of(pid: u32) -> Option<String> {
    comm_and_parent(pid).map(|(comm, _)| comm)
}

/// Describe the process holding a namespace, naming the container runtime that started it
/// when its parent is one (containerd-shim, conmon, runc...).
fn describe_process(pid: u32) -> String {
    let (comm, ppid) = comm_and_parent(pid).unwrap_or_else(|| ("?".to_string(), 0));
    let runtime = Some(ppid)
        .filter(|&p| p != 0)
        .and_then(comm_of)
        .filter(|p| is_runtime_name(p));
    match runtime {
        Some(rt) => format!("{comm} (pid {pid}, {rt})"),
        None => format!("{comm} (pid {pid})"),
    }
}

/// Process names of container runtimes and their shims.
pub fn is_runtime_name(comm: &str) -> bool {
    [
        "containerd-shim",
        "conmon",
        "runc",
        "crun",
        "dockerd",
        "podman",
        "netavark",
    ]
    .iter()
    .any(|p| comm.starts_with(p))
}

/// The initial namespace: PID 1's, or where PID 1 is hidden from us (some sandboxes), that of
/// kthreadd (PID 2), whose kernel threads always live in the initial namespace. Without
/// permission to look at PID 1's namespace file (an unprivileged user: stat needs ptrace
/// access), netview's own namespace is the initial one when it is PID 1's
/// ([`shares_pid1_netns`]); any other namespace then stays unnamed as root.
fn root_ns() -> Option<(PathBuf, u64)> {
    let pid1 = PathBuf::from("/proc/1/ns/net");
    if let Some((_, ino)) = inode_of(&pid1) {
        return Some((pid1, ino));
    }
    if comm_of(2).as_deref() == Some("kthreadd") {
        let pid2 = PathBuf::from("/proc/2/ns/net");
        if let Some((_, ino)) = inode_of(&pid2) {
            return Some((pid2, ino));
        }
    }
    if shares_pid1_netns() {
        let own = own_ns_path();
        return inode_of(&own).map(|(_, ino)| (own, ino));
    }
    None
}

/// The namespace file of this process (its main thread's namespace).
fn own_ns_path() -> PathBuf {
    PathBuf::from(format!("/proc/{}/ns/net", std::process::id()))
}

/// Whether this process is in PID 1's network namespace, asked without permission to look at
/// PID 1's namespace file: /proc/PID/net/ shows the files of PID's network namespace to
/// anyone, and each namespace has its own proc entries, so /proc/1/net/dev and our own
/// /proc/self/net/dev are one inode exactly when the namespace is one. (Measured as `nobody`:
/// 4026531874 for both in the initial namespace; 4026531874 and 4026532184 from a namespace
/// made with `ip netns add`.)
fn shares_pid1_netns() -> bool {
    match (
        inode_of(Path::new("/proc/1/net/dev")),
        inode_of(Path::new("/proc/self/net/dev")),
    ) {
        (Some(pid1), Some(own)) => pid1 == own,
        _ => false,
    }
}

/// List every network namespace this process can see, root first, then named ones by name,
/// then process-held ones by PID.
pub fn discover() -> Vec<Netns> {
    let me = self_id();
    let mut seen: BTreeMap<u64, ()> = BTreeMap::new();
    let mut out = Vec::new();

    if let Some((path, ino)) = root_ns() {
        seen.insert(ino, ());
        out.push(Netns {
            name: "root".to_string(),
            id: ino,
            source: NetnsSource::Root,
            path,
            process: None,
            is_self: me == Some(ino),
        });
    }

    let mut named: Vec<(String, PathBuf)> = fs::read_dir(NETNS_RUN_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    named.sort();
    for (name, path) in named {
        let Some((_, ino)) = inode_of(&path) else {
            continue;
        };
        if seen.insert(ino, ()).is_some() {
            continue;
        }
        out.push(Netns {
            name,
            id: ino,
            source: NetnsSource::Named,
            path,
            process: None,
            is_self: me == Some(ino),
        });
    }

    let mut pids: Vec<u32> = procfs::process::all_processes()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|p| u32::try_from(p.pid()).ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let Some((_, ino)) = inode_of(&path) else {
            continue;
        };
        if seen.insert(ino, ()).is_some() {
            continue;
        }
        out.push(Netns {
            name: format!("pid:{pid}"),
            id: ino,
            source: NetnsSource::Process,
            path,
            process: Some(describe_process(pid)),
            is_self: me == Some(ino),
        });
    }

    // Without permission to read /proc/1/ns/net we may not have found our own namespace.
    if let Some(ino) = me {
        if seen.insert(ino, ()).is_none() {
            out.insert(
                0,
                Netns {
                    name: "self".to_string(),
                    id: ino,
                    source: NetnsSource::Process,
                    path: own_ns_path(),
                    process: Some(describe_process(std::process::id())),
                    is_self: true,
                },
            );
        }
    }
    out
}

/// Check that a user-supplied namespace name cannot escape /run/netns.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Resolve a namespace by the name `discover` gives it: `root`, `self`, `pid:N`, or a name
/// in /run/netns.
pub fn find(name: &str) -> Result<Netns, NetnsError> {
    let me = self_id();
    let not_found = || NetnsError::NotFound(name.to_string());
    let (path, source, process) = match name {
        "root" => (root_ns().ok_or_else(not_found)?.0, NetnsSource::Root, None),
        "self" => (
            PathBuf::from(format!("/proc/{}/ns/net", std::process::id())),
            NetnsSource::Process,
            None,
        ),
        _ => {
            if let Some(pid) = name.strip_prefix("pid:") {
                let pid: u32 = pid.parse().map_err(|_| not_found())?;
                (
                    PathBuf::from(format!("/proc/{pid}/ns/net")),
                    NetnsSource::Process,
                    Some(describe_process(pid)),
                )
            } else if is_plain_name(name) {
                (
                    Path::new(NETNS_RUN_DIR).join(name),
                    NetnsSource::Named,
                    None,
                )
            } else {
                return Err(not_found());
            }
        }
    };
    let (_, id) = inode_of(&path).ok_or_else(not_found)?;
    Ok(Netns {
        name: name.to_string(),
        id,
        source,
        path,
        process,
        is_self: me == Some(id),
    })
}

/// The namespace netview runs in, named as `discover` would name it.
pub fn current() -> Result<Netns, NetnsError> {
    let me = self_id().ok_or_else(|| NetnsError::NotFound("self".into()))?;
    Ok(discover()
        .into_iter()
        .find(|n| n.id == me)
        .unwrap_or_else(|| Netns {
            name: "self".into(),
            id: me,
            source: NetnsSource::Process,
            path: PathBuf::from(format!("/proc/{}/ns/net", std::process::id())),
            process: None,
            is_self: true,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        assert!(is_plain_name("nv-host"));
        assert!(!is_plain_name("../etc"));
        assert!(!is_plain_name("a/b"));
        assert!(!is_plain_name(""));
        assert!(!is_plain_name(".."));
    }

    #[test]
    fn unknown_names_are_not_found() {
        assert!(matches!(
            find("pid:notanumber"),
            Err(NetnsError::NotFound(_))
        ));
        assert!(matches!(find("../../etc"), Err(NetnsError::NotFound(_))));
        assert!(matches!(
            find("nv-surely-absent-xyz"),
            Err(NetnsError::NotFound(_))
        ));
    }

    #[test]
    fn runtime_names() {
        assert!(is_runtime_name("containerd-shim-runc-v2"));
        assert!(is_runtime_name("conmon"));
        assert!(!is_runtime_name("bash"));
    }

    #[test]
    fn sharing_pid1s_namespace_is_told_by_proc_net_entries() {
        // An oracle that needs privilege: kthreadd's (PID 2) namespace file, which root may
        // stat (in this project's sandbox even root may not stat PID 1's).
        let (Some((_, kthreadd)), Some(me)) = (inode_of(Path::new("/proc/2/ns/net")), self_id())
        else {
            return;
        };
        assert_eq!(shares_pid1_netns(), kthreadd == me);
        if kthreadd == me {
            let root = discover().into_iter().next().unwrap();
            assert_eq!((root.name.as_str(), root.id), ("root", me));
        }
    }

    #[test]
    fn discover_includes_self() {
        let all = discover();
        assert!(all.iter().any(|n| n.is_self));
        let ids: std::collections::BTreeSet<_> = all.iter().map(|n| n.id).collect();
        assert_eq!(ids.len(), all.len(), "namespaces are deduplicated by inode");
    }
}
