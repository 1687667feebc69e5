//! ARP who-has from one interface (pnet's datalink channel, AF_PACKET), many targets at once.
//!
//! Requests are broadcast from the interface's own MAC and address, as the kernel would send
//! them, and the first reply whose sender is the target is reported with the MAC that
//! answered: that is what makes ipvlan's shared parent MAC and macvlan's own MACs visible.
//! The socket is not put in promiscuous mode (on a macvlan child that would change the
//! parent's behaviour, the very thing being observed).
//!
//! [`ArpSocket::open`] must run on a thread inside the source namespace; the socket is then
//! read from the prober's poll loop, anywhere.

use std::net::Ipv4Addr;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType,
};

use pnet::datalink::{self, Channel, Config, MacAddr};
use pnet::packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket};
use pnet::packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet::packet::Packet;

/// One who-has to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpProbe {
    pub token: usize,
    pub target: Ipv4Addr,
}

/// Build a broadcast ARP request frame: who has `target`? tell `src_ip` (at `src_mac`).
pub fn build_arp_request(src_mac: MacAddr, src_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut frame = vec![0u8; 42];
    {
        let mut eth = MutableEthernetPacket::new(&mut frame).expect("42 bytes is enough");
        eth.set_destination(MacAddr::broadcast());
        eth.set_source(src_mac);
        eth.set_ethertype(EtherTypes::Arp);
    }
    let mut arp = MutableArpPacket::new(&mut frame[14..]).expect("28 bytes is enough");
    arp.set_hardware_type(ArpHardwareTypes::Ethernet);
    arp.set_protocol_type(EtherTypes::Ipv4);
    arp.set_hw_addr_len(6);
    arp.set_proto_addr_len(4);
    arp.set_operation(ArpOperations::Request);
    arp.set_sender_hw_addr(src_mac);
    arp.set_sender_proto_addr(src_ip);
    arp.set_target_hw_addr(MacAddr::zero());
    arp.set_target_proto_addr(target);
    frame
}

/// If `frame` is an ARP reply addressed to `me` (MAC and address), who sent it: (sender
/// address, sender MAC). The socket also sees frames that other stacks on the same interface
/// send (a macvlan child answering the peer leaves through its parent), so a reply counts
/// only when it answers this interface.
pub fn parse_arp_reply(frame: &[u8], me: (MacAddr, Ipv4Addr)) -> Option<(Ipv4Addr, MacAddr)> {
    let eth = EthernetPacket::new(frame)?;
    if eth.get_ethertype() != EtherTypes::Arp {
        return None;
    }
    let arp = ArpPacket::new(eth.payload())?;
    if arp.get_operation() != ArpOperations::Reply
        || arp.get_target_hw_addr() != me.0
        || arp.get_target_proto_addr() != me.1
    {
        return None;
    }
    Some((arp.get_sender_proto_addr(), arp.get_sender_hw_addr()))
}

/// Receive buffer for the ARP socket: in a large matrix the answers of a whole batch can
/// queue on one socket before the poll loop reads it.
const ARP_RCVBUF: usize = 4 << 20;

/// One classic BPF instruction: (code, jump if true, jump if false, constant).
pub type BpfInsn = (u16, u8, u8, u32);

const BPF_LD_H_ABS: u16 = 0x28;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;

/// The socket filter that keeps only ARP replies addressed to `me` (MAC and address): the
/// kernel then drops every other frame before queueing it. Without it, every socket of a
/// large lab is handed every broadcast who-has of its segment (at 200 containers about 90,000
/// frames per batch to read and throw away) and the reply sits behind them.
pub fn reply_filter(me: (MacAddr, Ipv4Addr)) -> Vec<BpfInsn> {
    let m = me.0.octets();
    let mac_hi = u32::from_be_bytes([m[0], m[1], m[2], m[3]]);
    let mac_lo = u32::from(u16::from_be_bytes([m[4], m[5]]));
    let ip = u32::from(me.1);
    // Offsets in the Ethernet frame: ethertype 12, ARP opcode 20, target MAC 32, target IP 38.
    vec![
        (BPF_LD_H_ABS, 0, 0, 12),
        (BPF_JEQ_K, 0, 8, 0x0806),
        (BPF_LD_H_ABS, 0, 0, 20),
        (BPF_JEQ_K, 0, 6, 2),
        (BPF_LD_W_ABS, 0, 0, 32),
        (BPF_JEQ_K, 0, 4, mac_hi),
        (BPF_LD_H_ABS, 0, 0, 36),
        (BPF_JEQ_K, 0, 2, mac_lo),
        (BPF_LD_W_ABS, 0, 0, 38),
        (BPF_JEQ_K, 1, 0, ip),
        (BPF_RET_K, 0, 0, 0),
        (BPF_RET_K, 0, 0, 0x0004_0000),
    ]
}

/// Open the AF_PACKET socket for pnet ourselves, to give it a large receive buffer and the
/// reply filter (pnet has no option for either). pnet binds it to the interface (all
/// protocols, like arping's capture: a tap sees a frame before a macvlan parent hands it to a
/// child) and owns it from then on.
fn open_arp_socket(me: (MacAddr, Ipv4Addr)) -> Result<RawFd, ArpSocketError> {
    let fd = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .map_err(ArpSocketError::Socket)?;
    let sock = socket2::Socket::from(fd);
    let filter: Vec<socket2::SockFilter> = reply_filter(me)
        .into_iter()
        .map(|(code, jt, jf, k)| socket2::SockFilter::new(code, jt, jf, k))
        .collect();
    sock.attach_filter(&filter)
        .map_err(ArpSocketError::Filter)?;
    // SO_RCVBUFFORCE passes rmem_max (we are root); fall back to the capped request.
    if setsockopt(&sock, sockopt::RcvBufForce, &ARP_RCVBUF).is_err() {
        let _ = setsockopt(&sock, sockopt::RcvBuf, &ARP_RCVBUF);
    }
    Ok(OwnedFd::from(sock).into_raw_fd())
}

/// Why an ARP socket could not be opened (each probe on it then fails to send, with this).
#[derive(Debug, thiserror::Error)]
pub enum ArpSocketError {
    #[error("no interface {0}")]
    NoInterface(String),
    #[error("{0} has no MAC address")]
    NoMac(String),
    #[error("AF_PACKET socket: {0}")]
    Socket(#[source] nix::Error),
    #[error("AF_PACKET socket filter: {0}")]
    Filter(#[source] std::io::Error),
    #[error("AF_PACKET socket on {ifname}: {source}")]
    Bind {
        ifname: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unexpected channel type")]
    Channel,
}

/// An AF_PACKET socket bound to one interface of one namespace, sending who-has from the
/// interface's own MAC and address and reading the answers, without blocking, from the
/// prober's poll loop. pnet binds it (it knows the interface's link-layer address, which
/// safe code cannot build) and owns the descriptor; this keeps pnet's channel alive for as
/// long as the descriptor is used.
pub struct ArpSocket {
    fd: RawFd,
    mac: MacAddr,
    ip: Ipv4Addr,
    /// pnet's halves, holding the descriptor open (never read or written through).
    _channel: (
        Box<dyn datalink::DataLinkSender>,
        Box<dyn datalink::DataLinkReceiver>,
    ),
}

impl std::fmt::Debug for ArpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArpSocket")
            .field("fd", &self.fd)
            .field("mac", &self.mac)
            .field("ip", &self.ip)
            .finish()
    }
}

impl ArpSocket {
    /// Open a socket on `ifname` in the calling thread's namespace, to ask as `src_ip`.
    pub fn open(ifname: &str, src_ip: Ipv4Addr) -> Result<Self, ArpSocketError> {
        let iface = datalink::interfaces()
            .into_iter()
            .find(|i| i.name == ifname)
            .ok_or_else(|| ArpSocketError::NoInterface(ifname.to_string()))?;
        let mac = iface
            .mac
            .ok_or_else(|| ArpSocketError::NoMac(ifname.to_string()))?;
        let fd = open_arp_socket((mac, src_ip))?;
        let config = Config {
            read_timeout: Some(Duration::ZERO),
            write_timeout: Some(Duration::from_millis(200)),
            promiscuous: false,
            socket_fd: Some(fd),
            ..Config::default()
        };
        let channel = match datalink::channel(&iface, config) {
            Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
            Ok(_) => return Err(ArpSocketError::Channel),
            Err(source) => {
                return Err(ArpSocketError::Bind {
                    ifname: ifname.to_string(),
                    source,
                })
            }
        };
        Ok(ArpSocket {
            fd,
            mac,
            ip: src_ip,
            _channel: channel,
        })
    }

    /// The descriptor, for the poll loop's registration.
    pub fn raw_fd(&self) -> RawFd {
        self.fd
    }

    /// Broadcast who has `target`.
    pub fn send_who_has(&self, target: Ipv4Addr) -> std::io::Result<()> {
        let frame = build_arp_request(self.mac, self.ip, target);
        loop {
            return match send(self.fd, &frame, MsgFlags::empty()) {
                Ok(_) => Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => Err(e.into()),
            };
        }
    }

    /// The next queued frame that answers this socket's own who-has: (who answered, at which
    /// MAC). `Ok(None)` when nothing is queued; frames that are not such an answer are read
    /// and skipped.
    pub fn recv_reply(&self, buf: &mut [u8]) -> std::io::Result<Option<(Ipv4Addr, MacAddr)>> {
        loop {
            match recv(self.fd, buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => {
                    if let Some(answer) = parse_arp_reply(&buf[..n], (self.mac, self.ip)) {
                        return Ok(Some(answer));
                    }
                }
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_is_not_a_reply() {
        let mac = MacAddr::new(2, 0, 0, 0, 0, 1);
        let frame = build_arp_request(mac, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let eth = EthernetPacket::new(&frame).unwrap();
        assert_eq!(eth.get_destination(), MacAddr::broadcast());
        let arp = ArpPacket::new(eth.payload()).unwrap();
        assert_eq!(arp.get_operation(), ArpOperations::Request);
        assert_eq!(arp.get_target_proto_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(
            parse_arp_reply(&frame, (mac, Ipv4Addr::new(10, 0, 0, 1))),
            None
        );
    }

    /// Run a classic BPF program of the four instructions [`reply_filter`] uses over `frame`:
    /// the number of bytes the kernel would keep (0: dropped).
    fn run_bpf(prog: &[BpfInsn], frame: &[u8]) -> u32 {
        let mut acc: u32 = 0;
        let mut pc = 0;
        while let Some(&(code, jt, jf, k)) = prog.get(pc) {
            let at = k as usize;
            match code {
                BPF_LD_H_ABS => match frame.get(at..at + 2) {
                    Some(b) => acc = u32::from(u16::from_be_bytes([b[0], b[1]])),
                    None => return 0,
                },
                BPF_LD_W_ABS => match frame.get(at..at + 4) {
                    Some(b) => acc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    None => return 0,
                },
                BPF_JEQ_K => {
                    pc += usize::from(if acc == k { jt } else { jf });
                }
                BPF_RET_K => return k,
                _ => panic!("instruction {code:#x} is not interpreted here"),
            }
            pc += 1;
        }
        panic!("the program fell off its end")
    }

    #[test]
    fn the_socket_filter_keeps_exactly_the_replies_parse_accepts() {
        let me = (MacAddr::new(2, 0, 0, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 1));
        let peer = MacAddr::new(2, 0, 0, 0, 0, 2);
        let prog = reply_filter(me);
        let reply_to = |target: (MacAddr, Ipv4Addr)| {
            let mut f = build_arp_request(peer, Ipv4Addr::new(10, 0, 0, 2), target.1);
            let mut arp = MutableArpPacket::new(&mut f[14..]).unwrap();
            arp.set_operation(ArpOperations::Reply);
            arp.set_target_hw_addr(target.0);
            f
        };
        let ours = reply_to(me);
        assert!(run_bpf(&prog, &ours) > 0);
        assert!(parse_arp_reply(&ours, me).is_some());
        // Dropped in the kernel: a who-has (the lab's broadcasts), a reply to another MAC or
        // another address on the same interface, a frame that is not ARP, a cut frame.
        let others = [
            build_arp_request(peer, Ipv4Addr::new(10, 0, 0, 2), me.1),
            reply_to((MacAddr::new(2, 0, 0, 0, 0, 9), me.1)),
            reply_to((MacAddr::new(2, 0, 0, 0, 1, 1), me.1)),
            reply_to((me.0, Ipv4Addr::new(10, 0, 0, 7))),
        ];
        for f in &others {
            assert_eq!(run_bpf(&prog, f), 0);
            assert!(parse_arp_reply(f, me).is_none());
        }
        let mut ipv4 = ours.clone();
        ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(run_bpf(&prog, &ipv4), 0);
        assert_eq!(run_bpf(&prog, &ours[..30]), 0);
    }

    #[test]
    fn parses_a_reply() {
        let mac = MacAddr::new(2, 0, 0, 0, 0, 2);
        let mut frame =
            build_arp_request(mac, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        let me = (MacAddr::new(2, 0, 0, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 1));
        {
            let mut arp = MutableArpPacket::new(&mut frame[14..]).unwrap();
            arp.set_operation(ArpOperations::Reply);
            arp.set_target_hw_addr(me.0);
        }
        assert_eq!(
            parse_arp_reply(&frame, me),
            Some((Ipv4Addr::new(10, 0, 0, 2), mac))
        );
        // A reply to someone else (seen leaving through the same interface) does not count.
        let other = (MacAddr::new(2, 0, 0, 0, 0, 9), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(parse_arp_reply(&frame, other), None);
        assert_eq!(parse_arp_reply(&frame[..20], me), None);
    }
}
