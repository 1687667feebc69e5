//! Live changes from the runtimes, not by polling: Docker's `/events` stream on its socket,
//! and Podman's (its socket's events stream, or `podman events --format json` with fixed
//! arguments). Each relevant event (a container created, started, stopped, removed, renamed,
//! a network connected or disconnected...) calls the caller's `on_change`; the caller asks the
//! runtimes again. A runtime that is not running is tried again every few seconds, and its
//! coming up counts as a change.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{self, HttpError};
use super::Runtime;

/// How often a runtime that could not be followed is tried again.
const RETRY: Duration = Duration::from_secs(2);
/// How long one blocked read of a stream lasts before the stop flag is looked at again.
const POLL: Duration = Duration::from_millis(250);

/// Docker's events of these types only (the filter is `{"type":["container","network"]}`).
const DOCKER_EVENTS: &str =
    "/events?filters=%7B%22type%22%3A%5B%22container%22%2C%22network%22%5D%7D";
const PODMAN_EVENTS: &str = "/v4.0.0/libpod/events?stream=true";

/// Whether an event line (Docker's or Podman's JSON) changes what netview shows.
pub fn is_relevant(line: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return false;
    };
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
    let kind = field("Type").to_ascii_lowercase();
    // Docker says `Action`; `podman events --format json` says `Status`.
    let action = match field("Action") {
        "" => field("Status"),
        a => a,
    };
    match kind.as_str() {
        "container" => matches!(
            action,
            "create"
                | "start"
                | "restart"
                | "die"
                | "died"
                | "stop"
                | "kill"
                | "destroy"
                | "remove"
                | "rename"
                | "pause"
                | "unpause"
                | "cleanup"
                | "init"
        ),
        "network" => matches!(
            action,
            "create" | "destroy" | "remove" | "connect" | "disconnect"
        ),
        _ => false,
    }
}

/// Follows the runtimes while it lives; dropping it stops every thread and child it started.
pub struct EventFollower {
    stop: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
}

impl Drop for EventFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut c) = self.child.lock() {
            if let Some(mut child) = c.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Sleep `total`, waking early when `stop` is set.
fn pause(stop: &AtomicBool, total: Duration) {
    let end = Instant::now() + total;
    while !stop.load(Ordering::SeqCst) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Follow one event stream on an API socket until `stop`.
fn follow_socket(
    socket: PathBuf,
    path: &'static str,
    stop: Arc<AtomicBool>,
    on_change: Arc<dyn Fn() + Send + Sync>,
) {
    let mut was_up = false;
    while !stop.load(Ordering::SeqCst) {
        let opened = http::open_stream(&socket, path, Instant::now() + super::ANSWER_TIMEOUT);
        let mut stream = match opened {
            Ok((200, s)) => s,
            _ => {
                if was_up {
                    // It went away: what it had is gone from the screen too.
                    was_up = false;
                    on_change();
                }
                pause(&stop, RETRY);
                continue;
            }
        };
        if !was_up {
            was_up = true;
            on_change();
        }
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match stream.next_line(POLL) {
                Ok(Some(line)) => {
                    if is_relevant(&line) {
                        on_change();
                    }
                }
                Err(HttpError::Timeout) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}

/// Follow `podman events --format json` until `stop`.
fn follow_podman_command(
    program: PathBuf,
    stop: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Child>>>,
    on_change: Arc<dyn Fn() + Send + Sync>,
) {
    while !stop.load(Ordering::SeqCst) {
        let spawned = Command::new(&program)
            .args(["events", "--format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = spawned else {
            return;
        };
        let stdout = child.stdout.take();
        if let Ok(mut s) = slot.lock() {
            if stop.load(Ordering::SeqCst) {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            *s = Some(child);
        }
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if is_relevant(&line) {
                    on_change();
                }
            }
        }
        if let Ok(mut s) = slot.lock() {
            if let Some(mut child) = s.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        pause(&stop, RETRY);
    }
}

/// Start following Docker (at `docker_socket`) and Podman. `on_change` is called from the
/// follower's threads with the runtime that changed.
pub fn follow(
    docker: &super::docker::DockerSource,
    podman: &super::podman::PodmanSource,
    on_change: Arc<dyn Fn(Runtime) + Send + Sync>,
) -> EventFollower {
    let stop = Arc::new(AtomicBool::new(false));
    let child = Arc::new(Mutex::new(None));
    {
        let (socket, stop) = (docker.socket.clone(), stop.clone());
        let changed = on_change.clone();
        let on_change: Arc<dyn Fn() + Send + Sync> = Arc::new(move || changed(Runtime::Docker));
        let _ = std::thread::Builder::new()
            .name("docker-events".into())
            .spawn(move || follow_socket(socket, DOCKER_EVENTS, stop, on_change));
    }
    let podman_socket = podman.socket.clone();
    let program = podman
        .program
        .clone()
        .or_else(|| super::find_program("podman"));
    let (stop2, slot) = (stop.clone(), child.clone());
    let on_change: Arc<dyn Fn() + Send + Sync> = Arc::new(move || on_change(Runtime::Podman));
    let _ = std::thread::Builder::new()
        .name("podman-events".into())
        .spawn(move || {
            if std::os::unix::net::UnixStream::connect(&podman_socket).is_ok() {
                follow_socket(podman_socket, PODMAN_EVENTS, stop2, on_change);
            } else if let Some(program) = program {
                follow_podman_command(program, stop2, slot, on_change);
            }
        });
    EventFollower { stop, child }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixListener;
    use std::sync::mpsc;

    #[test]
    fn relevant_events_of_docker_and_podman() {
        let docker = |t: &str, a: &str| {
            format!(
                r#"{{"Type":"{t}","Action":"{a}","Actor":{{"ID":"ab","Attributes":{{"name":"web"}}}}}}"#
            )
        };
        assert!(is_relevant(&docker("container", "start")));
        assert!(is_relevant(&docker("container", "die")));
        assert!(is_relevant(&docker("container", "rename")));
        assert!(is_relevant(&docker("network", "connect")));
        assert!(is_relevant(&docker("network", "disconnect")));
        assert!(!is_relevant(&docker("container", "exec_start: sh")));
        assert!(!is_relevant(&docker("container", "health_status: healthy")));
        assert!(!is_relevant(&docker("image", "pull")));
        let podman = r#"{"ID":"ab","Image":"busybox","Name":"web","Status":"start","Time":"2026-12-01T21:00:00Z","Type":"container","Attributes":{}}"#;
        assert!(is_relevant(podman));
        assert!(!is_relevant("not json"));
        assert!(!is_relevant(""));
    }

    #[test]
    fn a_docker_event_stream_calls_back_for_relevant_events() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let (sent_tx, sent_rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Some(Ok(mut s)) = listener.incoming().next() {
                let mut buf = [0u8; 1024];
                let _ = std::io::Read::read(&mut s, &mut buf);
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n");
                let _ = s.write_all(br#"{"Type":"container","Action":"exec_start: sh"}"#);
                let _ = s.write_all(b"\n");
                let _ = s.write_all(br#"{"Type":"container","Action":"start"}"#);
                let _ = s.write_all(b"\n");
                let _ = sent_tx.send(());
                // Keep the stream open, as Docker does.
                std::thread::sleep(Duration::from_secs(5));
            }
        });
        let (tx, rx) = mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let follower = follow(
            &crate::containers::docker::DockerSource { socket },
            &crate::containers::podman::PodmanSource {
                socket: dir.path().join("no-podman.sock"),
                program: Some(dir.path().join("no-podman")),
            },
            Arc::new(move |rt| {
                assert_eq!(rt, Runtime::Docker);
                let _ = tx.lock().map(|t| t.send(()));
            }),
        );
        sent_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // Once for Docker coming up, once for the start event; not for exec_start.
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "exec_start is no change"
        );
        drop(follower);
    }
}
