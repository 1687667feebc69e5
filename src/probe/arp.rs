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
use std::os::fd::{IntoRawFd, RawFd};
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

/// Receive buffer for the ARP socket: in a large matrix every namespace sees every other
/// namespace's broadcast who-has at once, which overflows the default buffer (and then the
/// answers are the frames lost).
const ARP_RCVBUF: usize = 4 << 20;

/// Open the AF_PACKET socket for pnet ourselves, to give it a large receive buffer (pnet has
/// no option for that). pnet binds it to the interface (all protocols, like arping's capture:
/// a tap sees a frame before a macvlan parent hands it to a child) and owns it from then on.
fn open_arp_socket() -> Result<RawFd, ArpSocketError> {
    let fd = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .map_err(ArpSocketError::Socket)?;
    // SO_RCVBUFFORCE passes rmem_max (we are root); fall back to the capped request.
    if setsockopt(&fd, sockopt::RcvBufForce, &ARP_RCVBUF).is_err() {
        let _ = setsockopt(&fd, sockopt::RcvBuf, &ARP_RCVBUF);
    }
    Ok(fd.into_raw_fd())
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
        let fd = open_arp_socket()?;
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
