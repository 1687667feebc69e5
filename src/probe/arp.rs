//! ARP who-has from one interface (pnet's datalink channel, AF_PACKET), many targets at once.
//!
//! Requests are broadcast from the interface's own MAC and address, as the kernel would send
//! them, and the first reply whose sender is the target is reported with the MAC that
//! answered: that is what makes ipvlan's shared parent MAC and macvlan's own MACs visible.
//! The socket is not put in promiscuous mode (on a macvlan child that would change the
//! parent's behaviour, the very thing being observed).
//!
//! [`run_arp_batch`] must run on a thread inside the source namespace.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::fd::IntoRawFd;

use nix::sys::socket::{
    setsockopt, socket, sockopt, AddressFamily, SockFlag, SockProtocol, SockType,
};
use std::time::{Duration, Instant};

use pnet::datalink::{self, Channel, Config, MacAddr};
use pnet::packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket};
use pnet::packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet::packet::Packet;

use super::{Observation, ProbeOutcome};

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
fn open_arp_socket() -> Result<i32, String> {
    let fd = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )
    .map_err(|e| format!("AF_PACKET socket: {e}"))?;
    // SO_RCVBUFFORCE passes rmem_max (we are root); fall back to the capped request.
    if setsockopt(&fd, sockopt::RcvBufForce, &ARP_RCVBUF).is_err() {
        let _ = setsockopt(&fd, sockopt::RcvBuf, &ARP_RCVBUF);
    }
    Ok(fd.into_raw_fd())
}

/// Broadcast a who-has for every target from interface `ifname` (source address `src_ip`),
/// and report each target's answer (`Reply` with the MAC) or `NoArpReply` at the deadline.
/// Must run inside the source namespace. Errors opening the interface are reported as
/// `SendFailed` on every probe.
pub fn run_arp_batch(
    ifname: &str,
    src_ip: Ipv4Addr,
    probes: &[ArpProbe],
    timeout: Duration,
    report: &mut dyn FnMut(usize, Observation),
) {
    let fail_all = |why: String, report: &mut dyn FnMut(usize, Observation)| {
        for p in probes {
            report(
                p.token,
                Observation::outcome(ProbeOutcome::SendFailed(why.clone())),
            );
        }
    };
    let Some(iface) = datalink::interfaces()
        .into_iter()
        .find(|i| i.name == ifname)
    else {
        return fail_all(format!("no interface {ifname}"), report);
    };
    let Some(src_mac) = iface.mac else {
        return fail_all(format!("{ifname} has no MAC address"), report);
    };
    let socket_fd = match open_arp_socket() {
        Ok(fd) => fd,
        Err(e) => return fail_all(e, report),
    };
    let config = Config {
        read_timeout: Some(Duration::from_millis(20)),
        write_timeout: Some(Duration::from_millis(200)),
        promiscuous: false,
        socket_fd: Some(socket_fd),
        ..Config::default()
    };
    let (mut tx, mut rx) = match datalink::channel(&iface, config) {
        Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
        Ok(_) => return fail_all("unexpected channel type".into(), report),
        Err(e) => return fail_all(format!("AF_PACKET socket on {ifname}: {e}"), report),
    };
    let mut pending: HashMap<Ipv4Addr, Vec<(usize, Instant)>> = HashMap::new();
    for p in probes {
        let frame = build_arp_request(src_mac, src_ip, p.target);
        let sent_at = Instant::now();
        match tx.send_to(&frame, None) {
            Some(Ok(())) => pending
                .entry(p.target)
                .or_default()
                .push((p.token, sent_at)),
            Some(Err(e)) => report(
                p.token,
                Observation::outcome(ProbeOutcome::from_send_error(&e)),
            ),
            None => report(
                p.token,
                Observation::outcome(ProbeOutcome::SendFailed("frame too large".into())),
            ),
        }
    }
    let deadline = Instant::now() + timeout;
    while !pending.is_empty() && Instant::now() < deadline {
        let frame = match rx.next() {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                for (_, waiting) in pending.drain() {
                    for (token, _) in waiting {
                        report(
                            token,
                            Observation::outcome(ProbeOutcome::SendFailed(format!("receive: {e}"))),
                        );
                    }
                }
                return;
            }
        };
        if let Some((sender, mac)) = parse_arp_reply(frame, (src_mac, src_ip)) {
            if let Some(waiting) = pending.remove(&sender) {
                for (token, sent_at) in waiting {
                    let mut obs = Observation::outcome(ProbeOutcome::Reply);
                    obs.rtt_us = Some(sent_at.elapsed().as_micros() as u64);
                    obs.arp_mac = Some(mac.to_string());
                    report(token, obs);
                }
            }
        }
    }
    for (_, waiting) in pending.drain() {
        for (token, _) in waiting {
            report(token, Observation::outcome(ProbeOutcome::NoArpReply));
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
