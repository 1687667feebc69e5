//! Which Linux capabilities netview has, and what each missing one would unlock.
//!
//! netview runs fine without root: it shows what it can read. This module tells the UI which
//! of the capabilities it uses are missing so it can say so, instead of silently showing less.

use std::fmt;

/// Errors while reading the capability set.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: &'static str,
        source: std::io::Error,
    },
    #[error("no CapEff line in the process status")]
    NoCapEff,
    #[error("CapEff is not a hexadecimal mask: {0:?}")]
    BadMask(String),
}

/// A capability netview uses, with its bit number in the kernel's mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    NetAdmin,
    SysAdmin,
    SysPtrace,
    NetRaw,
}

impl Capability {
    /// The capabilities netview uses, in the order the status bar lists them.
    pub const ALL: [Capability; 4] = [
        Capability::SysAdmin,
        Capability::SysPtrace,
        Capability::NetAdmin,
        Capability::NetRaw,
    ];

    /// Bit number, from linux/capability.h.
    pub fn bit(self) -> u32 {
        match self {
            Capability::NetAdmin => 12,
            Capability::NetRaw => 13,
            Capability::SysPtrace => 19,
            Capability::SysAdmin => 21,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Capability::NetAdmin => "CAP_NET_ADMIN",
            Capability::SysAdmin => "CAP_SYS_ADMIN",
            Capability::SysPtrace => "CAP_SYS_PTRACE",
            Capability::NetRaw => "CAP_NET_RAW",
        }
    }

    /// What having this capability would let netview do, in a few words.
    pub fn unlocks(self) -> &'static str {
        match self {
            Capability::NetAdmin => "read NAT rules, build the lab",
            Capability::SysAdmin => "enter other namespaces",
            Capability::SysPtrace => "see other users' namespaces",
            Capability::NetRaw => "send ICMP/ARP probes",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An effective capability mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSet {
    pub effective: u64,
}

impl CapSet {
    /// Every capability set (what root has).
    pub const FULL: CapSet = CapSet {
        effective: u64::MAX,
    };

    pub fn has(self, cap: Capability) -> bool {
        self.effective & (1u64 << cap.bit()) != 0
    }

    /// The capabilities netview uses that this set lacks, in [`Capability::ALL`] order.
    pub fn missing(self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|c| !self.has(*c))
            .collect()
    }
}

/// Parse the `CapEff:` line of a `/proc/PID/status` text.
pub fn parse_status(status: &str) -> Result<CapSet, CapsError> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .ok_or(CapsError::NoCapEff)?;
    let hex = line.trim();
    let effective =
        u64::from_str_radix(hex, 16).map_err(|_| CapsError::BadMask(hex.to_string()))?;
    Ok(CapSet { effective })
}

/// The effective capabilities of this process.
pub fn current() -> Result<CapSet, CapsError> {
    const PATH: &str = "/proc/self/status";
    let text =
        std::fs::read_to_string(PATH).map_err(|source| CapsError::Read { path: PATH, source })?;
    parse_status(&text)
}

/// One line for a status bar: which capabilities are missing and what they would unlock, or
/// `None` when nothing is missing.
pub fn describe_missing(missing: &[Capability]) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|c| format!("{} ({})", c.name(), c.unlocks()))
        .collect();
    Some(format!("missing {}", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_STATUS: &str = "Name:\tnetview\nUmask:\t0022\nState:\tR (running)\n\
        CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n\
        CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";

    #[test]
    fn root_has_every_capability_netview_uses() {
        let caps = parse_status(ROOT_STATUS).unwrap();
        assert_eq!(caps.effective, 0x1ff_ffff_ffff);
        assert!(caps.missing().is_empty());
        assert_eq!(describe_missing(&caps.missing()), None);
    }

    #[test]
    fn unprivileged_user_misses_all_four() {
        let status = "Name:\tnetview\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n";
        let caps = parse_status(status).unwrap();
        assert_eq!(
            caps.missing(),
            vec![
                Capability::SysAdmin,
                Capability::SysPtrace,
                Capability::NetAdmin,
                Capability::NetRaw
            ]
        );
        let line = describe_missing(&caps.missing()).unwrap();
        assert!(line.starts_with("missing CAP_SYS_ADMIN (enter other namespaces)"));
        assert!(line.contains("CAP_NET_RAW (send ICMP/ARP probes)"));
    }

    #[test]
    fn single_bits_map_to_the_right_capabilities() {
        // Only CAP_NET_ADMIN (bit 12) and CAP_NET_RAW (bit 13): 0x3000.
        let caps = parse_status("CapEff:\t0000000000003000\n").unwrap();
        assert!(caps.has(Capability::NetAdmin));
        assert!(caps.has(Capability::NetRaw));
        assert_eq!(
            caps.missing(),
            vec![Capability::SysAdmin, Capability::SysPtrace]
        );
        // Only CAP_SYS_ADMIN (bit 21) and CAP_SYS_PTRACE (bit 19).
        let caps = parse_status("CapEff:\t0000000000280000\n").unwrap();
        assert_eq!(
            caps.missing(),
            vec![Capability::NetAdmin, Capability::NetRaw]
        );
    }

    #[test]
    fn malformed_status_is_an_error() {
        assert!(matches!(
            parse_status("Name:\tx\n"),
            Err(CapsError::NoCapEff)
        ));
        assert!(matches!(
            parse_status("CapEff:\tzzzz\n"),
            Err(CapsError::BadMask(_))
        ));
    }

    #[test]
    fn current_process_mask_is_readable() {
        // Whatever we run as, /proc/self/status has a CapEff line.
        current().unwrap();
    }
}
