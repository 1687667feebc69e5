//! "Seen as": what source address an echo request carried when it reached its target.
//!
//! A listener runs in every target namespace while the probes run: a raw ICMP socket there
//! receives a copy of every ICMP message delivered to that namespace's own stack (forwarded
//! packets are not delivered, so a router in between never records anything). It writes each
//! echo request's (identifier, sequence) and source address on a shared board; the matrix
//! looks its probes up there. So NAT shows: a bridge container's echo to the router arrives as
//! the host's LAN address. It also shows requests that arrived even though no reply made it
//! back (a peer without a route back to the container's subnet).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::Packet;
use pnet::transport::{
    icmp_packet_iter, transport_channel, TransportChannelType, TransportProtocol,
};

use super::icmp::{parse_icmp, IcmpEvent};

/// Echo requests seen by the listeners: (identifier, sequence) -> source address.
#[derive(Debug, Default)]
pub struct SeenAsBoard {
    seen: Mutex<HashMap<(u16, u16), IpAddr>>,
    changed: Condvar,
}

impl SeenAsBoard {
    pub fn new() -> Arc<Self> {
        Arc::new(SeenAsBoard::default())
    }

    /// Forget every sighting (a new run reuses the board).
    pub fn clear(&self) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Record that echo request `id`/`seq` arrived from `source` (the first sighting wins).
    pub fn record(&self, id: u16, seq: u16, source: IpAddr) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.entry((id, seq)).or_insert(source);
        self.changed.notify_all();
    }

    pub fn get(&self, id: u16, seq: u16) -> Option<IpAddr> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(&(id, seq)).copied()
    }

    /// Wait up to `wait` for `id`/`seq` to be recorded (a reply can overtake the listener
    /// thread's bookkeeping by a few microseconds).
    pub fn wait_for(&self, id: u16, seq: u16, wait: Duration) -> Option<IpAddr> {
        let deadline = Instant::now() + wait;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(ip) = seen.get(&(id, seq)) {
                return Some(*ip);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            seen = self
                .changed
                .wait_timeout(seen, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Listen for echo requests in the current namespace until `stop` is set (checked every 10 ms,
/// so a run ends promptly) or `until` passes,
/// recording each on `board`. Calls `ready` once the socket is open (or failed to open), so
/// the caller starts probing only when every listener can hear. Must run inside the target
/// namespace.
pub fn listen(
    board: &SeenAsBoard,
    stop: &AtomicBool,
    until: Instant,
    ready: &mut dyn FnMut(Result<(), String>),
) {
    let (_tx, mut rx) = match transport_channel(
        4096,
        TransportChannelType::Layer4(TransportProtocol::Ipv4(IpNextHeaderProtocols::Icmp)),
    ) {
        Ok(pair) => pair,
        Err(e) => {
            ready(Err(format!("raw ICMP socket: {e}")));
            return;
        }
    };
    ready(Ok(()));
    let mut iter = icmp_packet_iter(&mut rx);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            break;
        }
        let wait = (until - now).min(Duration::from_millis(10));
        match iter.next_with_timeout(wait.max(Duration::from_millis(1))) {
            Ok(Some((packet, from))) => {
                if let Some(IcmpEvent::EchoRequest { id, seq }) = parse_icmp(packet.packet()) {
                    board.record(id, seq, from);
                }
            }
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_keeps_first_sighting_and_waits() {
        let board = SeenAsBoard::new();
        assert_eq!(board.get(1, 1), None);
        board.record(1, 1, "10.0.0.1".parse().unwrap());
        board.record(1, 1, "10.0.0.9".parse().unwrap());
        assert_eq!(board.get(1, 1), Some("10.0.0.1".parse().unwrap()));
        let b2 = board.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b2.record(2, 5, "10.0.0.2".parse().unwrap());
        });
        assert_eq!(
            board.wait_for(2, 5, Duration::from_secs(2)),
            Some("10.0.0.2".parse().unwrap())
        );
        t.join().unwrap();
        assert_eq!(board.wait_for(3, 3, Duration::from_millis(10)), None);
    }
}
