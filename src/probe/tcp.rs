//! TCP: connect to a port (Reply, Refused, Timeout, NoRoute), and the host-mode port
//! demonstration (a listener in a host-mode container occupies the host's port, the post's
//! "port 80" point).
//!
//! No raw packets here: a socket belongs to the namespace of the thread that creates it, so
//! the matrix's connects are started without blocking on a thread inside the source's
//! namespace ([`start_connect`]) and then waited for, all at once, by the prober's poll loop.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use nix::errno::Errno;
use nix::sys::socket::{
    connect, getsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
};

use super::{Observation, ProbeError, ProbeOutcome};
use crate::netns;

/// One connect to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpProbe {
    pub token: usize,
    pub dst: SocketAddr,
}

/// Map a connect error to an outcome.
pub fn outcome_of_connect_error(e: &std::io::Error) -> ProbeOutcome {
    match e.kind() {
        ErrorKind::ConnectionRefused => ProbeOutcome::Refused,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => ProbeOutcome::Timeout,
        _ => match e.raw_os_error() {
            Some(libc::ENETUNREACH) => ProbeOutcome::NoRoute,
            Some(libc::EHOSTUNREACH) => ProbeOutcome::Unreachable("host unreachable".into()),
            _ => ProbeOutcome::SendFailed(e.to_string()),
        },
    }
}

/// Connect once, in the calling thread's namespace.
pub fn connect_once(dst: SocketAddr, timeout: Duration) -> Observation {
    let start = Instant::now();
    match TcpStream::connect_timeout(&dst, timeout) {
        Ok(_stream) => {
            let mut obs = Observation::outcome(ProbeOutcome::Reply);
            obs.rtt_us = Some(start.elapsed().as_micros() as u64);
            obs
        }
        Err(e) => {
            let mut obs = Observation::outcome(outcome_of_connect_error(&e));
            if obs.outcome == ProbeOutcome::Refused {
                obs.rtt_us = Some(start.elapsed().as_micros() as u64);
            }
            obs
        }
    }
}

/// A TCP connect started without blocking; the prober's poll loop waits for it to become
/// writable, then [`TcpConnect::finish`] says how it ended.
#[derive(Debug)]
pub struct TcpConnect {
    fd: OwnedFd,
}

/// How starting a connect went.
#[derive(Debug)]
pub enum ConnectStart {
    /// Under way: wait for the socket to be writable.
    InProgress(TcpConnect),
    /// Already over (a local target can accept at once; a missing route fails at once).
    Finished(ProbeOutcome),
}

/// Start a connect to `dst` from the calling thread's namespace (a socket belongs to the
/// namespace it was made in, wherever it is used from afterwards). IPv4 only, as every probe.
pub fn start_connect(dst: SocketAddr) -> ConnectStart {
    let SocketAddr::V4(v4) = dst else {
        return ConnectStart::Finished(ProbeOutcome::SendFailed(
            "IPv6 targets are not supported".into(),
        ));
    };
    let fd = match socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    ) {
        Ok(fd) => fd,
        Err(e) => {
            return ConnectStart::Finished(ProbeOutcome::SendFailed(format!("TCP socket: {e}")))
        }
    };
    match connect(fd.as_raw_fd(), &SockaddrIn::from(v4)) {
        Ok(()) => ConnectStart::Finished(ProbeOutcome::Reply),
        Err(Errno::EINPROGRESS) => ConnectStart::InProgress(TcpConnect { fd }),
        Err(e) => ConnectStart::Finished(outcome_of_connect_error(&e.into())),
    }
}

impl TcpConnect {
    /// The descriptor, for the poll loop's registration (writable when the connect is over).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// How the connect ended, once the socket is writable (`SO_ERROR`): `Reply` when it was
    /// accepted, else the error's outcome.
    pub fn finish(&self) -> ProbeOutcome {
        match getsockopt(&self.fd, sockopt::SocketError) {
            Ok(0) => ProbeOutcome::Reply,
            Ok(code) => outcome_of_connect_error(&std::io::Error::from_raw_os_error(code)),
            Err(e) => ProbeOutcome::SendFailed(format!("TCP socket: {e}")),
        }
    }
}

/// What the host-mode port demonstration showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedPortDemo {
    pub port: u16,
    /// The container's listener is bound (in the container's namespace).
    pub container_listening: bool,
    /// Binding the same port in the host's namespace: `None` when it worked, else the error
    /// (for a host-mode container: "Address in use", the point of the demonstration).
    pub host_bind_error: Option<String>,
    /// Connecting from the host to 127.0.0.1:port reaches the container's listener.
    pub host_connect: String,
    /// The ports are shared: the host could not bind and the connection reached the listener.
    pub shared: bool,
}

/// Bind a listener on `port` in `container_ns` (a host-mode container's namespace), then try
/// to bind the same port in `host_ns` and to connect to it from there. For a host-mode
/// container both paths are the host's namespace, so the host's bind fails with "address in
/// use" and the connection lands on the container's listener. The listener is closed before
/// returning.
pub fn demonstrate_shared_port(
    container_ns: &Path,
    host_ns: &Path,
    port: u16,
    timeout: Duration,
) -> Result<SharedPortDemo, ProbeError> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop_listener = stop.clone();
    let listener_thread = netns::spawn_in("container", container_ns, move || {
        let listener = match TcpListener::bind(("0.0.0.0", port)) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
                return;
            }
        };
        if let Err(e) = listener.set_nonblocking(true) {
            let _ = ready_tx.send(Err(e.to_string()));
            return;
        }
        let _ = ready_tx.send(Ok(()));
        while !stop_listener.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    })?;
    let listening = ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| ProbeError::Io {
            what: "listener".into(),
            source: std::io::Error::new(ErrorKind::TimedOut, "listener did not start"),
        })?;
    let result = match listening {
        Err(e) => Ok(SharedPortDemo {
            port,
            container_listening: false,
            host_bind_error: Some(format!("container could not listen: {e}")),
            host_connect: "not tried".into(),
            shared: false,
        }),
        Ok(()) => netns::run_in("host", host_ns, move || {
            let host_bind_error = TcpListener::bind(("0.0.0.0", port))
                .err()
                .map(|e| e.to_string());
            let connect = connect_once(SocketAddr::from(([127, 0, 0, 1], port)), timeout);
            SharedPortDemo {
                port,
                container_listening: true,
                shared: host_bind_error.is_some() && connect.outcome == ProbeOutcome::Reply,
                host_bind_error,
                host_connect: connect.outcome.to_string(),
            }
        })
        .map_err(ProbeError::from),
    };
    stop.store(true, Ordering::Relaxed);
    let _ = listener_thread.join();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_and_accepted_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let obs = connect_once(open, Duration::from_secs(1));
        assert_eq!(obs.outcome, ProbeOutcome::Reply);
        drop(listener);
        // The port was just freed: nobody listens, the kernel answers with a reset.
        let obs = connect_once(open, Duration::from_secs(1));
        assert_eq!(obs.outcome, ProbeOutcome::Refused);
    }

    /// Wait for a started connect the way the poll loop does (here with `poll(2)` on it).
    fn finish_blocking(start: ConnectStart) -> ProbeOutcome {
        match start {
            ConnectStart::Finished(o) => o,
            ConnectStart::InProgress(c) => {
                use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
                use std::os::fd::AsFd;
                let mut fds = [PollFd::new(c.fd.as_fd(), PollFlags::POLLOUT)];
                poll(&mut fds, PollTimeout::from(1000u16)).unwrap();
                c.finish()
            }
        }
    }

    #[test]
    fn a_started_connect_ends_accepted_or_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        assert_eq!(finish_blocking(start_connect(open)), ProbeOutcome::Reply);
        drop(listener);
        assert_eq!(finish_blocking(start_connect(open)), ProbeOutcome::Refused);
        assert!(matches!(
            start_connect("[::1]:80".parse().unwrap()),
            ConnectStart::Finished(ProbeOutcome::SendFailed(_))
        ));
    }

    #[test]
    fn errors_map_to_outcomes() {
        let e = std::io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(outcome_of_connect_error(&e), ProbeOutcome::NoRoute);
        let e = std::io::Error::from(ErrorKind::TimedOut);
        assert_eq!(outcome_of_connect_error(&e), ProbeOutcome::Timeout);
    }
}
