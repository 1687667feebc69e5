//! Probes: ICMP echo, ARP who-has, TCP connect and "seen as", over sockets opened inside the
//! lab's namespaces or any other, and the all-pairs matrix with the expected outcome and why.
//!
//! - [`topology`]: what the probes know about a lab (endpoints and lab-wide facts).
//! - [`icmp`], [`arp`], [`tcp`]: the probes' packets and sockets.
//! - [`kernel`]: the real prober, one poll loop over those sockets; [`inflight`]: what it
//!   read, turned into each probe's observation.
//! - [`cell`]: one cell, its expectation and its result (shared by everything below).
//! - [`matrix`]: which cells to probe, and the runner that probes them all at once.
//! - [`pacing`]: batches that keep the probes' neighbour entries under the kernel's limits.
//! - [`report`]: the matrix as text, JSON, CSV and markdown, written as results arrive.
//! - [`namespaces`]: endpoints outside the lab (any namespace, with the addresses it holds).
//! - [`walk`]: the expected outcome of every cell, hop by hop, and the reason, from a packet
//!   walk over the live inventory.

pub mod arp;
pub mod cell;
pub mod from_lab;
pub mod icmp;
pub mod inflight;
pub mod kernel;
pub mod matrix;
pub mod namespaces;
pub mod pacing;
pub mod report;
pub mod route;
pub mod tcp;
pub mod topology;
pub mod walk;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// The default per-probe timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);

/// Which kind of probe a cell is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ProbeKind {
    Icmp,
    Arp,
    Tcp,
}

impl ProbeKind {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// What a probe observed, in words a person understands.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
pub enum ProbeOutcome {
    /// An echo reply, an ARP reply, or a TCP connection accepted.
    Reply,
    /// Nobody answered the ARP who-has.
    NoArpReply,
    /// Nothing came back before the timeout.
    Timeout,
    /// The source has no route to the target (the kernel refused to send).
    NoRoute,
    /// TCP: the target answered with a reset (nobody listens on the port).
    Refused,
    /// An ICMP destination-unreachable came back; the text says which and from whom.
    Unreachable(String),
    /// The probe could not be sent (or set up); the text is the error.
    SendFailed(String),
}

impl ProbeOutcome {
    /// The outcome's name, as it appears in JSON (`"outcome"`).
    pub fn name(&self) -> &'static str {
        self.into()
    }

    /// The extra text carried by `Unreachable` and `SendFailed`.
    pub fn detail(&self) -> Option<&str> {
        match self {
            ProbeOutcome::Unreachable(s) | ProbeOutcome::SendFailed(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this outcome means the path works for `kind`: an ICMP or ARP reply, or for TCP
    /// any answer (a refusal proves the path as much as an accepted connection does).
    pub fn is_reachable(&self, kind: ProbeKind) -> bool {
        match self {
            ProbeOutcome::Reply => true,
            ProbeOutcome::Refused => kind == ProbeKind::Tcp,
            _ => false,
        }
    }

    /// Map a send error to an outcome: "no route" errors become `NoRoute`.
    pub fn from_send_error(err: &std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) => ProbeOutcome::NoRoute,
            _ => ProbeOutcome::SendFailed(err.to_string()),
        }
    }
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail() {
            Some(d) => write!(f, "{} ({d})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

impl Serialize for ProbeOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One probe's observation, before the matrix adds the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub outcome: ProbeOutcome,
    /// Round-trip time (ICMP), time to answer (ARP) or to connect (TCP), in microseconds.
    pub rtt_us: Option<u64>,
    /// ARP: the MAC that answered.
    pub arp_mac: Option<String>,
    /// The source address the target saw the echo request arrive from.
    pub seen_as: Option<IpAddr>,
}

impl Observation {
    pub fn outcome(outcome: ProbeOutcome) -> Self {
        Observation {
            outcome,
            rtt_us: None,
            arp_mac: None,
            seen_as: None,
        }
    }
}

/// Errors setting up probes (the probes' own failures are outcomes, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    /// A netlink request of the pacing (deleting the probes' neighbour entries) failed.
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("unknown endpoint {0:?}")]
    UnknownEndpoint(String),
    #[error("no interface {0:?} in the source's namespace")]
    NoInterface(String),
}

pub use cell::{Cell, CellResult, Expectation};
pub use matrix::{MatrixRun, Prober};
pub use topology::{
    EndpointAddress, EndpointOrigin, IpvlanMode, LabFacts, MacvlanMode, NetMode, ProbeEndpoint,
    ProbeLab, Role,
};
