//! ICMP echo over a raw socket: building and parsing the messages, and the socket itself.
//!
//! One non-blocking raw ICMP socket per namespace serves a whole run ([`IcmpSocket`]). It
//! receives every ICMP message delivered to its namespace's stack, so replies are matched by
//! identifier and sequence number (unique within a run), errors (destination unreachable) by
//! the request quoted inside them, and the requests of other namespaces arriving at it tell
//! what source address they carried when they got there ("seen as": a bridge container's
//! echo to the router arrives as the host's LAN address). Forwarded packets are not delivered,
//! so a router in between records nothing. The host and a host-mode container share one
//! socket, as they share one namespace.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType, SockaddrIn,
};
use pnet::packet::icmp::echo_request::MutableEchoRequestPacket;
use pnet::packet::icmp::{checksum, IcmpPacket, IcmpTypes};

/// The payload after the identifier and sequence number: marks netview's probes in captures.
const PAYLOAD: &[u8; 16] = b"netview-probe\0\0\0";

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

/// Socket buffers of the probe sockets: in a large matrix one namespace receives a few
/// thousand ICMP messages at once (every source's requests and their replies), and requests to
/// neighbours still being resolved are held against the sender's buffer until ARP answers.
pub const PROBE_SOCKET_BUFFER: usize = 4 << 20;

/// A raw ICMP socket of one namespace, non-blocking, read from the prober's poll loop: it sends
/// that namespace's echo requests and receives every ICMP message delivered to its stack (the
/// replies to its own requests, the errors quoting them, and the requests of others arriving
/// at it, which is what "seen as" records). It is opened on a thread inside the namespace
/// and stays in that namespace wherever it is used from.
#[derive(Debug)]
pub struct IcmpSocket {
    fd: OwnedFd,
}

/// One ICMP message read from an [`IcmpSocket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The IPv4 source of the message.
    pub from: Ipv4Addr,
    pub event: Option<IcmpEvent>,
}

impl IcmpSocket {
    /// Open a raw ICMP socket in the calling thread's namespace.
    pub fn open() -> std::io::Result<Self> {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::Icmp,
        )?;
        // The forcing options pass rmem_max/wmem_max (root); fall back to the capped ones.
        if setsockopt(&fd, sockopt::RcvBufForce, &PROBE_SOCKET_BUFFER).is_err() {
            let _ = setsockopt(&fd, sockopt::RcvBuf, &PROBE_SOCKET_BUFFER);
        }
        if setsockopt(&fd, sockopt::SndBufForce, &PROBE_SOCKET_BUFFER).is_err() {
            let _ = setsockopt(&fd, sockopt::SndBuf, &PROBE_SOCKET_BUFFER);
        }
        Ok(IcmpSocket { fd })
    }

    /// The descriptor, for the poll loop's registration.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Send echo request `id`/`seq` to `dst`.
    pub fn send_echo(&self, dst: Ipv4Addr, id: u16, seq: u16) -> std::io::Result<()> {
        let packet = build_echo_request(id, seq);
        let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
        sendto(self.fd.as_raw_fd(), &packet, &to, MsgFlags::empty())?;
        Ok(())
    }

    /// The next queued message, or `None` when nothing is queued (the socket never blocks).
    pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<Option<Received>> {
        loop {
            return match recv(self.fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => Ok(parse_ipv4(&buf[..n])),
                Err(Errno::EAGAIN) => Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) => Err(e.into()),
            };
        }
    }
}

/// A raw IPv4 socket hands over the IP header too: the source address from it, then the ICMP
/// message after it. A datagram too short for its own header is read as no message at all.
fn parse_ipv4(datagram: &[u8]) -> Option<Received> {
    let first = *datagram.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 {
        return None;
    }
    let s = datagram.get(12..16)?;
    let from = Ipv4Addr::new(s[0], s[1], s[2], s[3]);
    Some(Received {
        from,
        event: datagram.get(ihl..).and_then(parse_icmp),
    })
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
        // As a raw socket hands it over: the IPv4 header (source 10.0.0.1) first.
        let mut datagram = vec![
            0x45u8, 0, 0, 44, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        datagram.extend_from_slice(&reply);
        assert_eq!(
            parse_ipv4(&datagram),
            Some(Received {
                from: Ipv4Addr::new(10, 0, 0, 1),
                event: Some(IcmpEvent::EchoReply { id: 9, seq: 3 }),
            })
        );
        // Not IPv4, a header length below 20 or a cut header: no message, not a panic.
        assert_eq!(parse_ipv4(&datagram[..12]), None);
        datagram[0] = 0x44;
        assert_eq!(parse_ipv4(&datagram), None);
        datagram[0] = 0x65;
        assert_eq!(parse_ipv4(&datagram), None);
        // Truncated messages are ignored, not a panic.
        assert_eq!(parse_icmp(&err[..20]), None);
        assert_eq!(parse_icmp(&[0]), None);
    }
}
