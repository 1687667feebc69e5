//! Whether the calling thread's namespace has any nftables table, asked over nfnetlink.
//!
//! Forking `nft -j list ruleset` is a fork and an exec in every namespace read (`strace -f -e
//! execve` of `inventory` of a fresh namespace: two programs run before this check, one
//! after), and most container namespaces have no table at all. One `NFT_MSG_GETTABLE` dump on
//! a netfilter netlink socket says whether there is anything for `nft` to list.

use std::io;

use netlink_packet_core::{NetlinkBuffer, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

/// nfnetlink subsystem of nf_tables (`NFNL_SUBSYS_NFTABLES`).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NFT_MSG_NEWTABLE`, the type of each table in the dump's answer.
const NFT_MSG_NEWTABLE: u16 = 0;
/// `NFT_MSG_GETTABLE`, the request.
const NFT_MSG_GETTABLE: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const HEADER_LEN: usize = 16;
const SEQUENCE: u32 = 1;

/// The request: a netlink header and an nfgenmsg for every family (AF_UNSPEC, version 0).
fn request() -> Vec<u8> {
    let len = (HEADER_LEN + 4) as u32;
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE).to_ne_bytes());
    out.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    out.extend_from_slice(&SEQUENCE.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

/// What one received datagram said.
#[derive(Debug, PartialEq, Eq)]
enum Datagram {
    /// This many tables, and more datagrams follow.
    More(usize),
    /// This many tables, and the dump is over.
    Done(usize),
}

/// Count the tables in one datagram of the dump's answer.
fn parse(bytes: &[u8]) -> io::Result<Datagram> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut tables = 0;
    let mut offset = 0;
    while offset < bytes.len() {
        let msg = NetlinkBuffer::new_checked(&bytes[offset..])
            .map_err(|_| bad("malformed nfnetlink message"))?;
        let len = msg.length() as usize;
        if len < HEADER_LEN {
            return Err(bad("short nfnetlink message"));
        }
        offset += (len + 3) & !3;
        if msg.sequence_number() != SEQUENCE {
            continue;
        }
        match msg.message_type() {
            NLMSG_DONE => return Ok(Datagram::Done(tables)),
            NLMSG_ERROR => {
                let payload = msg.payload();
                let code = payload
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(i32::from_ne_bytes)
                    .ok_or_else(|| bad("short nfnetlink error"))?;
                if code == 0 {
                    return Ok(Datagram::Done(tables));
                }
                return Err(io::Error::from_raw_os_error(-code));
            }
            t if t == NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWTABLE => tables += 1,
            _ => {}
        }
    }
    Ok(Datagram::More(tables))
}

/// How many nftables tables the calling thread's namespace holds (every family).
pub fn count_in_current_thread() -> io::Result<usize> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&request(), 0)?;
    let mut buf = Vec::with_capacity(32 * 1024);
    let mut tables = 0;
    loop {
        buf.clear();
        socket.recv(&mut buf, 0)?;
        match parse(&buf)? {
            Datagram::More(n) => tables += n,
            Datagram::Done(n) => return Ok(tables + n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = (HEADER_LEN + payload.len()) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(payload);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    const TABLE: u16 = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWTABLE;

    #[test]
    fn tables_are_counted_until_done() {
        let mut bytes = message(TABLE, SEQUENCE, &[2, 0, 0, 0, 1, 2, 3]);
        bytes.extend(message(TABLE, SEQUENCE, &[10, 0, 0, 0]));
        assert_eq!(parse(&bytes).unwrap(), Datagram::More(2));
        bytes.extend(message(NLMSG_DONE, SEQUENCE, &[0, 0, 0, 0]));
        assert_eq!(parse(&bytes).unwrap(), Datagram::Done(2));
    }

    #[test]
    fn an_empty_ruleset_is_zero_tables() {
        let bytes = message(NLMSG_DONE, SEQUENCE, &[0, 0, 0, 0]);
        assert_eq!(parse(&bytes).unwrap(), Datagram::Done(0));
    }

    #[test]
    fn other_sequences_are_skipped() {
        let mut bytes = message(TABLE, SEQUENCE + 7, &[2, 0, 0, 0]);
        bytes.extend(message(NLMSG_DONE, SEQUENCE, &[0, 0, 0, 0]));
        assert_eq!(parse(&bytes).unwrap(), Datagram::Done(0));
    }

    #[test]
    fn a_kernel_error_keeps_its_errno() {
        let bytes = message(NLMSG_ERROR, SEQUENCE, &(-libc::EPERM).to_ne_bytes());
        let e = parse(&bytes).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(&[1, 2, 3]).is_err());
        assert!(parse(&message(TABLE, SEQUENCE, &[])[..10]).is_err());
        let mut short = message(TABLE, SEQUENCE, &[]);
        short[0] = 4;
        assert!(parse(&short).is_err());
    }

    #[test]
    fn the_request_is_a_gettable_dump_for_every_family() {
        let req = request();
        let msg = NetlinkBuffer::new_checked(&req[..]).unwrap();
        assert_eq!(
            msg.message_type(),
            NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE
        );
        assert_eq!(msg.flags(), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(msg.payload(), &[0, 0, 0, 0]);
    }
}
