//! A blocking HTTP GET over a Unix socket, with a deadline: all netview needs of the Docker
//! Engine API and Podman's API service.
//!
//! Requests are HTTP/1.0, so the server sends the body as it is and closes the connection at
//! its end (no chunked encoding to decode, no connection to keep). The response head is parsed
//! with `httparse`. Every read and write is bounded by the caller's deadline, so a socket that
//! accepts and never answers costs at most the time left until it.
//!
//! The event stream is the same request with a body that does not end: [`open_stream`] hands
//! back the connection after the head, to be read line by line.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The largest answer read (a Docker host with a thousand containers answers a few MB).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
const MAX_HEAD: usize = 64 * 1024;

/// What went wrong talking to an API socket.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("no answer before the deadline")]
    Timeout,
    #[error("{0}")]
    Io(std::io::Error),
    #[error("the answer is not HTTP: {0}")]
    Malformed(String),
    #[error("the answer is larger than {MAX_BODY} bytes")]
    TooLarge,
}

fn io_err(e: std::io::Error) -> HttpError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => HttpError::Timeout,
        _ => HttpError::Io(e),
    }
}

/// The time left until `deadline`, or a timeout when none is.
fn left(deadline: Instant) -> Result<Duration, HttpError> {
    let now = Instant::now();
    if now >= deadline {
        return Err(HttpError::Timeout);
    }
    Ok(deadline - now)
}

/// An answer: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

fn connect_and_send(socket: &Path, path: &str, deadline: Instant) -> Result<UnixStream, HttpError> {
    // connect(2) on a Unix socket does not wait for the server to accept: it fails at once
    // when nothing listens, and succeeds when the listener's backlog has room. When the
    // backlog is full it blocks; `ask_all` does not wait for a source stuck there.
    let mut stream = UnixStream::connect(socket).map_err(HttpError::Connect)?;
    stream
        .set_write_timeout(Some(left(deadline)?))
        .map_err(HttpError::Io)?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: netview\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(io_err)?;
    Ok(stream)
}

/// Read from `stream` into `buf` until the response head is complete; returns the status and
/// the head's length in `buf`.
fn read_head(
    stream: &mut UnixStream,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(u16, usize), HttpError> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = resp.code.unwrap_or(0);
                let chunked = resp.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("transfer-encoding")
                        && !h.value.eq_ignore_ascii_case(b"identity")
                });
                if chunked {
                    return Err(HttpError::Malformed(
                        "a transfer encoding in an answer to HTTP/1.0".into(),
                    ));
                }
                return Ok((status, len));
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(HttpError::Malformed(e.to_string())),
        }
        if buf.len() > MAX_HEAD {
            return Err(HttpError::Malformed("the head is too long".into()));
        }
        stream
            .set_read_timeout(Some(left(deadline)?))
            .map_err(HttpError::Io)?;
        let n = stream.read(&mut chunk).map_err(io_err)?;
        if n == 0 {
            return Err(HttpError::Malformed(
                "the connection closed before an answer".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `GET path` on the API at `socket`, the whole answer read before `deadline`.
pub fn get(socket: &Path, path: &str, deadline: Instant) -> Result<Response, HttpError> {
    let mut stream = connect_and_send(socket, path, deadline)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let (status, head_len) = read_head(&mut stream, &mut buf, deadline)?;
    let mut body = buf.split_off(head_len);
    let mut chunk = [0u8; 64 * 1024];
    loop {
        stream
            .set_read_timeout(Some(left(deadline)?))
            .map_err(HttpError::Io)?;
        let n = stream.read(&mut chunk).map_err(io_err)?;
        if n == 0 {
            break;
        }
        if body.len() + n > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Response { status, body })
}

/// An endless answer (an event stream), read one line at a time.
pub struct LineStream {
    stream: UnixStream,
    /// Bytes read but not yet handed out.
    pending: Vec<u8>,
}

/// The longest line of an event stream (an event is a few hundred bytes).
const MAX_LINE: usize = 1024 * 1024;

impl LineStream {
    /// The next line without its newline; `Ok(None)` when the server closed the stream.
    /// Waits at most `timeout` for it (then `Err(Timeout)`; the stream can be read again and
    /// nothing read so far is lost).
    pub fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, HttpError> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                line.pop();
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.pending.len() > MAX_LINE {
                return Err(HttpError::TooLarge);
            }
            self.stream
                .set_read_timeout(Some(left(deadline)?))
                .map_err(HttpError::Io)?;
            let n = self.stream.read(&mut chunk).map_err(io_err)?;
            if n == 0 {
                return Ok(None);
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// A handle that shuts the stream down from another thread, ending a blocked read.
    pub fn shutdown_handle(&self) -> std::io::Result<UnixStream> {
        self.stream.try_clone()
    }
}

/// `GET path` whose body is a stream of lines: reads the status before `deadline`, then hands
/// the stream back.
pub fn open_stream(
    socket: &Path,
    path: &str,
    deadline: Instant,
) -> Result<(u16, LineStream), HttpError> {
    let mut stream = connect_and_send(socket, path, deadline)?;
    let mut buf = Vec::new();
    let (status, head_len) = read_head(&mut stream, &mut buf, deadline)?;
    let pending = buf.split_off(head_len);
    Ok((status, LineStream { stream, pending }))
}

/// GET `path` from a runtime's API socket: the body of a 200 answer, or the failure as the
/// runtime's error (`on_connect` says what a failed connection means for this runtime).
pub fn get_from_runtime(
    rt: super::Runtime,
    socket: &Path,
    path: &str,
    deadline: Instant,
    on_connect: impl FnOnce(std::io::Error) -> super::SourceError,
) -> Result<Vec<u8>, super::SourceError> {
    use super::SourceError;
    let resp = get(socket, path, deadline).map_err(|e| match e {
        HttpError::Connect(io) => on_connect(io),
        HttpError::Io(io) => SourceError::from_io(rt, socket, io),
        HttpError::Timeout => SourceError::Timeout {
            runtime: rt,
            timeout: super::ANSWER_TIMEOUT,
        },
        other => SourceError::bad_answer(rt, path, other),
    })?;
    if resp.status != 200 {
        return Err(SourceError::Status {
            runtime: rt,
            path: path.to_string(),
            status: resp.status,
        });
    }
    Ok(resp.body)
}
