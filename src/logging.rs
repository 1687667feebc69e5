//! netview's log: `tracing` events (lab steps and their undos, netlink errors, inventory
//! reads, probe pacing) written to `--log-file PATH`, filtered by `NETVIEW_LOG` (EnvFilter
//! syntax: `debug`, `netview::lab=debug,info`, ...).
//!
//! Where the log goes is decided once, before anything else runs ([`sink`]): to the file when
//! one is given; to stderr only for a CLI subcommand run with `NETVIEW_LOG` set; nowhere
//! otherwise, so by default stderr carries nothing but the one-line errors, and the terminal
//! never gets a log line while the TUI owns it.

use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// The environment variable holding the log filter.
pub const FILTER_ENV: &str = "NETVIEW_LOG";

/// The filter used when `--log-file` is given and `NETVIEW_LOG` is not set.
pub const DEFAULT_FILTER: &str = "netview=info";

/// Why the log could not be set up. Each is the user's input (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log file could not be opened or created (a symlink at that path is refused here too:
    /// the open does not follow it and fails with ELOOP).
    #[error("--log-file {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The path exists but is not a plain file netview may append to.
    #[error("--log-file {}: {why}", .path.display())]
    Unsafe { path: PathBuf, why: &'static str },
    /// `NETVIEW_LOG` is not a filter.
    #[error("{FILTER_ENV}: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// `NETVIEW_LOG` is not valid UTF-8.
    #[error("{FILTER_ENV} is not valid UTF-8")]
    NotUnicode,
}

/// Where log events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// No subscriber at all: every event is dropped.
    Nowhere,
    /// Appended to this file.
    File(PathBuf),
    /// Standard error (a CLI subcommand with `NETVIEW_LOG` set and no file).
    Stderr,
}

/// Where the log goes, from `--log-file`, whether `NETVIEW_LOG` is set and whether the TUI
/// is about to own the terminal.
pub fn sink(log_file: Option<&Path>, filter_set: bool, tui: bool) -> Sink {
    match log_file {
        Some(p) => Sink::File(p.to_path_buf()),
        None if filter_set && !tui => Sink::Stderr,
        None => Sink::Nowhere,
    }
}

/// The filter: `NETVIEW_LOG` when set, else [`DEFAULT_FILTER`].
fn filter(value: Option<&str>) -> Result<EnvFilter, LogError> {
    Ok(EnvFilter::try_new(value.unwrap_or(DEFAULT_FILTER))?)
}

/// Open (or create) the log file for appending: created 0600, never through a symlink (the
/// last component is opened with O_NOFOLLOW), and an existing file must be a regular file of
/// this user's with one link (a hard link to another file would make root append to it). A
/// file that others can read is made private.
pub fn open_private(path: &Path) -> Result<File, LogError> {
    let open_err = |source| LogError::Open {
        path: path.to_path_buf(),
        source,
    };
    let unsafe_err = |why| LogError::Unsafe {
        path: path.to_path_buf(),
        why,
    };
    // O_NONBLOCK: opening a FIFO for writing would otherwise wait for a reader.
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if !meta.file_type().is_file() {
        return Err(unsafe_err("not a regular file"));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(unsafe_err("owned by another user"));
    }
    if meta.nlink() > 1 {
        return Err(unsafe_err("has more than one hard link"));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(open_err)?;
    }
    Ok(file)
}

/// Set up the log for this process (see the module doc). Call once, before any work.
pub fn init(log_file: Option<&Path>, tui: bool) -> Result<(), LogError> {
    let value = match std::env::var(FILTER_ENV) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => return Err(LogError::NotUnicode),
    };
    let sink = sink(log_file, value.is_some(), tui);
    if sink == Sink::Nowhere {
        return Ok(());
    }
    let filter = filter(value.as_deref())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_thread_names(true);
    // try_init fails only when a subscriber is already set (never in the binary, which calls
    // this once); the log stays as it was then.
    let _ = match sink {
        Sink::File(path) => builder
            .with_writer(Mutex::new(open_private(&path)?))
            .try_init(),
        Sink::Stderr => builder.with_writer(io::stderr).try_init(),
        Sink::Nowhere => Ok(()),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tui_never_logs_to_the_terminal() {
        assert_eq!(sink(None, true, true), Sink::Nowhere);
        assert_eq!(sink(None, false, true), Sink::Nowhere);
        let p = Path::new("/tmp/x.log");
        assert_eq!(sink(Some(p), true, true), Sink::File(p.into()));
    }

    #[test]
    fn nothing_is_logged_by_default_and_stderr_only_when_asked() {
        assert_eq!(sink(None, false, false), Sink::Nowhere);
        assert_eq!(sink(None, true, false), Sink::Stderr);
    }

    #[test]
    fn a_bad_filter_is_refused() {
        assert!(matches!(filter(Some("=[")), Err(LogError::Filter(_))));
        assert!(filter(Some("netview::lab=debug,info")).is_ok());
        assert!(filter(None).is_ok());
    }

    #[test]
    fn the_log_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("netview.log");
        open_private(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn an_existing_log_file_is_made_private_and_appended_to() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("netview.log");
        std::fs::write(&p, "before\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut f = open_private(&p).unwrap();
        f.write_all(b"after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "before\nafter\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn the_log_file_is_never_written_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep\n").unwrap();
        let link = dir.path().join("netview.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_private(&link).unwrap_err();
        match err {
            LogError::Open { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::ELOOP))
            }
            other => panic!("{other}"),
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
    }

    #[test]
    fn a_hard_linked_or_special_log_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, "").unwrap();
        let b = dir.path().join("b");
        std::fs::hard_link(&a, &b).unwrap();
        assert!(matches!(
            open_private(&b),
            Err(LogError::Unsafe {
                why: "has more than one hard link",
                ..
            })
        ));
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // No reader: the non-blocking open fails (ENXIO) instead of waiting.
        assert!(open_private(&fifo).is_err());
        assert!(matches!(
            open_private(dir.path()),
            Err(LogError::Open { .. }) | Err(LogError::Unsafe { .. })
        ));
    }
}
