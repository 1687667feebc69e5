//! ICMP echo over a raw socket (pnet's transport channel), many probes at once.
//!
//! One raw ICMP socket per batch: every echo request of the batch is sent at once, then
//! replies are read until each probe has its answer or the deadline passes. A raw ICMP socket
//! receives every ICMP message of its namespace, so replies are matched by identifier and
//! sequence number, and errors (destination unreachable) by the request quoted inside them;
//! several batches in one namespace (the host and a host-mode container) never mix.
//!
//! [`run_echo_batch`] must run on a thread that is inside the source namespace
//! (`netns::spawn_in`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use pnet::packet::icmp::echo_request::MutableEchoRequestPacket;
use pnet::packet::icmp::{checksum, IcmpPacket, IcmpTypes};
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::Packet;
use pnet::transport::{
    icmp_packet_iter, transport_channel, TransportChannelType, TransportProtocol,
};

use super::{Observation, ProbeOutcome};

/// The payload after the identifier and sequence number: marks netview's probes in captures.
const PAYLOAD: &[u8; 16] = b"netview-probe\0\0\0";

/// One echo request to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoProbe {
    /// The caller's handle for this probe, given back with its result.
    pub token: usize,
    pub dst: IpAddr,
    pub id: u16,
    pub seq: u16,
}

/// A parsed ICMP message that concerns one of our echo requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcmpEvent {
    /// An echo reply with this identifier and sequence number.
    EchoReply { id: u16, seq: u16 },
    /// An echo request (what the seen-as listener records).
    EchoRequest { id: u16, seq: u16 },
    /// An error quoting our echo request `id`/`seq` sent to `dst`.
    Error {
        id: u16,
        seq: u16,
        dst: Ipv4Addr,
        what: String,
    },
}

/// Build an echo request (ICMP header and payload, checksum filled in).
pub fn build_echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 8 + PAYLOAD.len()];
    {
        let mut pkt = MutableEchoRequestPacket::new(&mut buf).expect("buffer is large enough");
        pkt.set_icmp_type(IcmpTypes::EchoRequest);
        pkt.set_identifier(id);
        pkt.set_sequence_number(seq);
        pkt.set_payload(PAYLOAD);
    }
    let sum = checksum(&IcmpPacket::new(&buf).expect("buffer is large enough"));
    let mut pkt = MutableEchoRequestPacket::new(&mut buf).expect("buffer is large enough");
    pkt.set_checksum(sum);
    buf
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn unreachable_text(icmp_type: u8, code: u8) -> String {
    match (icmp_type, code) {
        (3, 0) => "network unreachable".into(),
        (3, 1) => "host unreachable".into(),
        (3, 3) => "port unreachable".into(),
        (3, 9) | (3, 10) | (3, 13) => "administratively prohibited".into(),
        (3, c) => format!("destination unreachable, code {c}"),
        (11, _) => "time exceeded".into(),
        (t, c) => format!("ICMP type {t} code {c}"),
    }
}

/// Parse one ICMP message (without its IP header) into an event about an echo request.
pub fn parse_icmp(msg: &[u8]) -> Option<IcmpEvent> {
    let icmp_type = *msg.first()?;
    let code = *msg.get(1)?;
    match icmp_type {
        0 => Some(IcmpEvent::EchoReply {
            id: be16(msg, 4)?,
            seq: be16(msg, 6)?,
        }),
        8 => Some(IcmpEvent::EchoRequest {
            id: be16(msg, 4)?,
            seq: be16(msg, 6)?,
        }),
        3 | 11 => {
            // 8 bytes of ICMP header, then the offending IPv4 header and 8 bytes of its data.
            let inner = msg.get(8..)?;
            let ihl = usize::from(inner.first()? & 0x0f) * 4;
            if inner.first()? >> 4 != 4 || ihl < 20 || *inner.get(9)? != 1 {
                return None;
            }
            let d = inner.get(16..20)?;
            let dst = Ipv4Addr::new(d[0], d[1], d[2], d[3]);
            let quoted = inner.get(ihl..)?;
            if *quoted.first()? != 8 {
                return None;
            }
            Some(IcmpEvent::Error {
                id: be16(quoted, 4)?,
                seq: be16(quoted, 6)?,
                dst,
                what: unreachable_text(icmp_type, code),
            })
        }
        _ => None,
    }
}

/// Send every probe at once and report each result as it is known: a reply (with RTT), an
/// ICMP error, a send failure at once, or `Timeout` when `timeout` passes. Must run inside the
/// source namespace. Returns an error only when the raw socket cannot be opened (then nothing
/// was reported).
pub fn run_echo_batch(
    probes: &[EchoProbe],
    timeout: Duration,
    report: &mut dyn FnMut(usize, Observation),
) -> std::io::Result<()> {
    let (mut tx, mut rx) = transport_channel(
        4096,
        TransportChannelType::Layer4(TransportProtocol::Ipv4(IpNextHeaderProtocols::Icmp)),
    )?;
    // (id, seq) -> (token, sent at)
    let mut pending: HashMap<(u16, u16), (usize, Instant)> = HashMap::new();
    for p in probes {
        if !p.dst.is_ipv4() {
            report(
                p.token,
                Observation::outcome(ProbeOutcome::SendFailed(
                    "IPv6 targets are not supported".into(),
                )),
            );
            continue;
        }
        let packet = build_echo_request(p.id, p.seq);
        let sent_at = Instant::now();
        match tx.send_to(IcmpPacket::new(&packet).expect("built above"), p.dst) {
            Ok(_) => {
                pending.insert((p.id, p.seq), (p.token, sent_at));
            }
            Err(e) => report(
                p.token,
                Observation::outcome(ProbeOutcome::from_send_error(&e)),
            ),
        }
    }
    let deadline = Instant::now() + timeout;
    let mut iter = icmp_packet_iter(&mut rx);
    while !pending.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // A zero receive timeout would mean "block forever".
        let wait = (deadline - now).max(Duration::from_millis(1));
        let (packet, from) = match iter.next_with_timeout(wait) {
            Ok(Some(x)) => x,
            Ok(None) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                for (_, (token, _)) in pending.drain() {
                    report(
                        token,
                        Observation::outcome(ProbeOutcome::SendFailed(format!("receive: {e}"))),
                    );
                }
                return Ok(());
            }
        };
        match parse_icmp(packet.packet()) {
            Some(IcmpEvent::EchoReply { id, seq }) => {
                if let Some((token, sent_at)) = pending.remove(&(id, seq)) {
                    let mut obs = Observation::outcome(ProbeOutcome::Reply);
                    obs.rtt_us = Some(sent_at.elapsed().as_micros() as u64);
                    report(token, obs);
                }
            }
            Some(IcmpEvent::Error { id, seq, what, .. }) => {
                if let Some((token, _)) = pending.remove(&(id, seq)) {
                    report(
                        token,
                        Observation::outcome(ProbeOutcome::Unreachable(format!(
                            "{what} from {from}"
                        ))),
                    );
                }
            }
            _ => {}
        }
    }
    for (_, (token, _)) in pending.drain() {
        report(token, Observation::outcome(ProbeOutcome::Timeout));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_has_valid_checksum_and_ids() {
        let pkt = build_echo_request(0x1234, 7);
        assert_eq!(pkt[0], 8);
        assert_eq!(be16(&pkt, 4), Some(0x1234));
        assert_eq!(be16(&pkt, 6), Some(7));
        // The one's complement sum over a packet with a correct checksum is 0xffff.
        let mut sum: u32 = 0;
        for ch in pkt.chunks(2) {
            sum += u32::from(u16::from_be_bytes([ch[0], *ch.get(1).unwrap_or(&0)]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
        assert_eq!(
            parse_icmp(&pkt),
            Some(IcmpEvent::EchoRequest { id: 0x1234, seq: 7 })
        );
    }

    #[test]
    fn parses_reply_and_quoted_error() {
        let mut reply = build_echo_request(9, 3);
        reply[0] = 0;
        assert_eq!(
            parse_icmp(&reply),
            Some(IcmpEvent::EchoReply { id: 9, seq: 3 })
        );

        // Host unreachable quoting an IPv4 header (ihl 5, proto ICMP, dst 10.0.0.2) and the
        // first 8 bytes of our request.
        let mut err = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
        let mut ip = vec![
            0x45u8, 0, 0, 44, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        err.append(&mut ip);
        err.extend_from_slice(&build_echo_request(9, 4)[..8]);
        assert_eq!(
            parse_icmp(&err),
            Some(IcmpEvent::Error {
                id: 9,
                seq: 4,
                dst: Ipv4Addr::new(10, 0, 0, 2),
                what: "host unreachable".into()
            })
        );
        // Truncated messages are ignored, not a panic.
        assert_eq!(parse_icmp(&err[..20]), None);
        assert_eq!(parse_icmp(&[0]), None);
    }
}
