//! The lab engine's errors, typed until they are shown (netavark style): a kernel step keeps
//! the operation it was doing and what the kernel answered (an errno, an rtnetlink error, an
//! `nft` failure), so callers decide by errno ("already gone" is ENODEV, ENOENT or ESRCH),
//! never by matching text, and teardown returns every error it met, each still typed.

use nix::errno::Errno;

/// What the kernel (or the `nft` program) answered when a step failed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A system call, or a netlink request the kernel refused, with its errno.
    #[error("{}", .0.desc())]
    Errno(Errno),
    /// An rtnetlink failure that carries no errno (an unexpected or malformed answer).
    #[error("{0}")]
    Netlink(rtnetlink::Error),
    /// The `nft` program could not apply the ruleset.
    #[error("{0}")]
    Nft(nftables::helper::NftablesError),
    /// Entering a namespace failed.
    #[error("{0}")]
    Netns(crate::netns::NetnsError),
    /// Failed on purpose by the `NETVIEW_FAIL_AT_STEP` test hook.
    #[error("failed on purpose ({})", super::FAIL_AT_STEP_ENV)]
    Injected,
    /// netview's own machinery around the kernel failed (a worker thread, a runtime).
    #[error("{0}")]
    Internal(String),
}

impl KernelError {
    /// An I/O error: its errno when it has one.
    pub fn from_io(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(code) => KernelError::Errno(Errno::from_raw(code)),
            None => KernelError::Internal(e.to_string()),
        }
    }

    /// An rtnetlink error: the kernel's errno when it answered with one.
    pub fn from_netlink(e: rtnetlink::Error) -> Self {
        // Every rtnetlink failure of the lab passes here (an expected "already gone" during
        // an undo too: the caller decides by errno, the log only records what the kernel said).
        tracing::warn!(error = %e, "netlink error");
        match &e {
            rtnetlink::Error::NetlinkError(m) => match m.code {
                Some(code) => KernelError::Errno(Errno::from_raw(-code.get())),
                None => KernelError::Netlink(e),
            },
            _ => KernelError::Netlink(e),
        }
    }

    /// The errno, when the kernel gave one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            KernelError::Errno(e) => Some(*e),
            KernelError::Nft(nftables::helper::NftablesError::NftExecution { inner, .. }) => {
                inner.raw_os_error().map(Errno::from_raw)
            }
            KernelError::Netns(crate::netns::NetnsError::NotFound(_)) => Some(Errno::ENOENT),
            KernelError::Netns(crate::netns::NetnsError::Open { source, .. }) => {
                source.raw_os_error().map(Errno::from_raw)
            }
            KernelError::Netns(crate::netns::NetnsError::Enter { source, .. }) => Some(*source),
            _ => None,
        }
    }
}

impl From<Errno> for KernelError {
    fn from(e: Errno) -> Self {
        KernelError::Errno(e)
    }
}

impl From<std::io::Error> for KernelError {
    fn from(e: std::io::Error) -> Self {
        KernelError::from_io(e)
    }
}

impl From<rtnetlink::Error> for KernelError {
    fn from(e: rtnetlink::Error) -> Self {
        KernelError::from_netlink(e)
    }
}

impl From<crate::netns::NetnsError> for KernelError {
    fn from(e: crate::netns::NetnsError) -> Self {
        KernelError::Netns(e)
    }
}

impl From<nftables::helper::NftablesError> for KernelError {
    fn from(e: nftables::helper::NftablesError) -> Self {
        KernelError::Nft(e)
    }
}

/// Errors from the lab engine.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The user's input cannot work (bad CIDR, name too long, unsuitable parent...).
    #[error("{0}")]
    Invalid(String),
    /// Changing the kernel needs root.
    #[error("the lab changes network namespaces and needs root (try sudo)")]
    NotRoot,
    /// A kernel step failed: what netview was doing, and what the kernel said.
    #[error("{op}: {source}")]
    Kernel {
        op: String,
        #[source]
        source: KernelError,
    },
    /// The state file could not be read or written.
    #[error("{0}")]
    State(String),
    /// SIGINT/SIGTERM arrived during creation; everything was rolled back.
    #[error("interrupted; everything created so far was removed")]
    Interrupted,
    /// Something recorded as netview's is not any more (deleted and re-created by someone
    /// else); it was left alone.
    #[error("{0} is no longer the one netview made; left it")]
    NotOurs(String),
    /// netview itself panicked half-way through a change; what it had made was rolled back.
    #[error("netview panicked while {0}; everything made so far was removed")]
    Panicked(&'static str),
    /// A creation failed and was rolled back, but the rollback met errors too.
    #[error("{cause}; rollback: {}", join(.rollback))]
    RolledBack {
        cause: Box<LabError>,
        rollback: Vec<LabError>,
    },
    /// Undoing what an interrupted command left (its `pending.json`) met these errors; the
    /// command did not go on.
    #[error("could not undo an interrupted command: {}; run `netview clean`", join(.0))]
    Recovery(Vec<LabError>),
    /// Removal went on past errors; these are all of them.
    #[error("{}", join(.0))]
    Teardown(Vec<LabError>),
}

fn join(errors: &[LabError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl LabError {
    /// A failed kernel step.
    pub fn kernel(op: impl Into<String>, source: impl Into<KernelError>) -> Self {
        LabError::Kernel {
            op: op.into(),
            source: source.into(),
        }
    }

    /// The same error with what netview was doing in front of its operation (a netlink
    /// request's errors are named by the call that sent it).
    pub fn in_context(self, what: &str) -> LabError {
        match self {
            LabError::Kernel { op, source } if op.is_empty() => LabError::kernel(what, source),
            LabError::Kernel { op, source } => LabError::kernel(format!("{what}: {op}"), source),
            other => other,
        }
    }

    /// Whether this error is the user's input (exit code 2) rather than a failure.
    pub fn is_usage(&self) -> bool {
        match self {
            LabError::Invalid(_) | LabError::NotRoot => true,
            LabError::RolledBack { cause, .. } => cause.is_usage(),
            _ => false,
        }
    }

    /// The errno of a failed kernel step.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            LabError::Kernel { source, .. } => source.errno(),
            _ => None,
        }
    }

    /// Whether a failed undo only says the thing is already gone (no such device, file or
    /// process): decided by errno.
    pub fn is_already_gone(&self) -> bool {
        matches!(
            self.errno(),
            Some(Errno::ENODEV | Errno::ENOENT | Errno::ESRCH)
        )
    }

    /// Join a failure with the errors its rollback met, keeping the failure's kind.
    pub fn with_rollback(self, rollback: Vec<LabError>) -> LabError {
        if rollback.is_empty() {
            self
        } else {
            LabError::RolledBack {
                cause: Box::new(self),
                rollback,
            }
        }
    }

    /// Every error of a teardown as one error, or Ok when there were none.
    pub fn all(errors: Vec<LabError>) -> Result<(), LabError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(LabError::Teardown(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_gone_is_decided_by_errno_not_text() {
        for errno in [Errno::ENODEV, Errno::ENOENT, Errno::ESRCH] {
            assert!(LabError::kernel("delete link eth0", errno).is_already_gone());
        }
        // The same words in a message that is not the kernel's errno do not count.
        let text = LabError::kernel(
            "delete link eth0",
            KernelError::Internal("No such device".into()),
        );
        assert!(!text.is_already_gone());
        assert!(!LabError::kernel("add veth", Errno::EEXIST).is_already_gone());
        assert!(!LabError::Invalid("no link eth0".into()).is_already_gone());
    }

    #[test]
    fn io_and_netlink_errors_keep_their_errno() {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(KernelError::from(io).errno(), Some(Errno::ENOENT));
        let mut m = netlink_packet_core::ErrorMessage::default();
        m.code = std::num::NonZeroI32::new(-libc::ENODEV);
        let e = KernelError::from(rtnetlink::Error::NetlinkError(m));
        assert_eq!(e.errno(), Some(Errno::ENODEV));
        assert_eq!(
            LabError::kernel("delete link x in nv-host", e).to_string(),
            "delete link x in nv-host: No such device"
        );
        assert_eq!(
            KernelError::from(rtnetlink::Error::RequestFailed).errno(),
            None
        );
    }

    #[test]
    fn rollback_keeps_the_kind_of_the_failure() {
        let e = LabError::Invalid("bad".into()).with_rollback(vec![LabError::kernel(
            "delete namespace nv-a",
            Errno::EBUSY,
        )]);
        assert!(e.is_usage());
        assert_eq!(
            e.to_string(),
            "bad; rollback: delete namespace nv-a: Device or resource busy"
        );
        let e = LabError::kernel("add veth", Errno::EEXIST).with_rollback(Vec::new());
        assert!(matches!(e, LabError::Kernel { .. }));
    }
}
