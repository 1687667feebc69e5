//! Which Linux capabilities netview has, what each missing one would unlock, the `setcap`
//! line that gives them to the binary, and passing them on to the programs netview runs.
//!
//! netview runs fine without root: it shows what it can read. This module tells the UI which
//! of the capabilities it uses are missing so it can say so, instead of silently showing less.
//! The capability sets are read and changed with the `caps` crate (capget/capset/prctl).
//!
//! With the four capabilities set on the binary (`setcap ...+ep`), an unprivileged user gets
//! them in netview's permitted and effective sets, but a program netview runs (`nft`) starts
//! with none: execve drops permitted capabilities unless they are also ambient. So the thread
//! that runs such a program raises them as inheritable and ambient for the time of the run
//! ([`pass_to_children`]); capabilities are per thread, so no other thread is affected.

use std::fmt;
use std::path::Path;

/// Errors while reading the capability set.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("cannot read the capability set: {0}")]
    Read(#[from] caps::errors::CapsError),
}

/// A capability netview uses.
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

    /// The `caps` crate's name for it.
    pub fn to_caps(self) -> caps::Capability {
        match self {
            Capability::NetAdmin => caps::Capability::CAP_NET_ADMIN,
            Capability::NetRaw => caps::Capability::CAP_NET_RAW,
            Capability::SysPtrace => caps::Capability::CAP_SYS_PTRACE,
            Capability::SysAdmin => caps::Capability::CAP_SYS_ADMIN,
        }
    }

    /// Bit number in the kernel's mask (linux/capability.h).
    pub fn bit(self) -> u32 {
        u32::from(self.to_caps().index())
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
            Capability::NetAdmin => "read NAT and filter rules",
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

    /// No capability at all (an ordinary user running a binary without file capabilities).
    pub const NONE: CapSet = CapSet { effective: 0 };

    /// A set holding exactly these capabilities.
    pub fn of(held: &[Capability]) -> CapSet {
        CapSet {
            effective: held.iter().fold(0, |m, c| m | (1u64 << c.bit())),
        }
    }

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

/// The effective capabilities of the calling thread.
pub fn current() -> Result<CapSet, CapsError> {
    let held = caps::read(None, caps::CapSet::Effective)?;
    Ok(CapSet {
        effective: held.iter().fold(0, |m, c| m | c.bitmask()),
    })
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

/// The command that gives the binary at `exe` every capability netview uses, so that it works
/// without sudo (all but building labs, which needs root). The path is quoted for a POSIX
/// shell when it holds anything but plain path characters.
pub fn setcap_line(exe: &Path) -> String {
    let caps: Vec<String> = Capability::ALL
        .iter()
        .map(|c| c.name().to_lowercase())
        .collect();
    let path = exe.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@".contains(c);
    let path = if !path.is_empty() && path.chars().all(plain) {
        path.into_owned()
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    };
    format!("setcap {}+ep {path}", caps.join(","))
}

/// The setcap line for the running binary (`netview` when its path is unknown).
pub fn setcap_line_for_self() -> String {
    let exe = std::env::current_exe().unwrap_or_else(|_| "netview".into());
    setcap_line(&exe)
}

/// One line saying what is missing, what each missing capability unlocks, and how to get them
/// without sudo; `None` when nothing is missing.
pub fn privileges_line(missing: &[Capability], setcap: &str) -> Option<String> {
    let missing = describe_missing(missing)?;
    Some(format!(
        "not root: {missing}; as root, `{setcap}` lets netview do all but build labs without sudo"
    ))
}

/// Capabilities raised in the calling thread's inheritable and ambient sets by
/// [`pass_to_children`]; dropping it lowers them again.
#[derive(Debug)]
#[must_use = "the capabilities are lowered again when this is dropped"]
pub struct Passed {
    raised_ambient: Vec<caps::Capability>,
    raised_inheritable: Vec<caps::Capability>,
}

impl Passed {
    /// The capabilities this call made ambient (none when running as root or when the thread
    /// did not have them).
    pub fn ambient(&self) -> &[caps::Capability] {
        &self.raised_ambient
    }
}

impl Drop for Passed {
    fn drop(&mut self) {
        // Lowering what was raised cannot fail for a capability the thread still holds; a
        // failure leaves only a capability this thread already had in its permitted set.
        for c in &self.raised_ambient {
            let _ = caps::drop(None, caps::CapSet::Ambient, *c);
        }
        for c in &self.raised_inheritable {
            let _ = caps::drop(None, caps::CapSet::Inheritable, *c);
        }
    }
}

/// Let the programs the calling thread starts until the guard is dropped keep `wanted`: each
/// one the thread has permitted but not yet ambient is raised as inheritable, then ambient.
/// As root nothing is changed (execve gives root's programs every capability anyway). A
/// capability that cannot be raised is skipped: the program then says what it lacks.
pub fn pass_to_children(wanted: &[Capability]) -> Passed {
    let mut passed = Passed {
        raised_ambient: Vec::new(),
        raised_inheritable: Vec::new(),
    };
    if nix::unistd::geteuid().is_root() {
        return passed;
    }
    let (Ok(permitted), Ok(inheritable), Ok(ambient)) = (
        caps::read(None, caps::CapSet::Permitted),
        caps::read(None, caps::CapSet::Inheritable),
        caps::read(None, caps::CapSet::Ambient),
    ) else {
        return passed;
    };
    for cap in wanted.iter().map(|c| c.to_caps()) {
        if !permitted.contains(&cap) || ambient.contains(&cap) {
            continue;
        }
        if !inheritable.contains(&cap) {
            if caps::raise(None, caps::CapSet::Inheritable, cap).is_err() {
                continue;
            }
            passed.raised_inheritable.push(cap);
        }
        if caps::raise(None, caps::CapSet::Ambient, cap).is_ok() {
            passed.raised_ambient.push(cap);
        }
    }
    passed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_every_capability_netview_uses() {
        assert!(CapSet::FULL.missing().is_empty());
        assert_eq!(describe_missing(&CapSet::FULL.missing()), None);
        assert_eq!(privileges_line(&[], "setcap x"), None);
    }

    #[test]
    fn unprivileged_user_misses_all_four() {
        let caps = CapSet::NONE;
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
        // CAP_NET_ADMIN is bit 12 and CAP_NET_RAW bit 13 (linux/capability.h): 0x3000.
        let caps = CapSet { effective: 0x3000 };
        assert!(caps.has(Capability::NetAdmin));
        assert!(caps.has(Capability::NetRaw));
        assert_eq!(
            caps.missing(),
            vec![Capability::SysAdmin, Capability::SysPtrace]
        );
        // CAP_SYS_ADMIN is bit 21 and CAP_SYS_PTRACE bit 19: 0x280000.
        let caps = CapSet {
            effective: 0x28_0000,
        };
        assert_eq!(
            caps.missing(),
            vec![Capability::NetAdmin, Capability::NetRaw]
        );
        assert_eq!(
            CapSet::of(&[Capability::SysAdmin, Capability::SysPtrace]),
            caps
        );
    }

    #[test]
    fn setcap_line_names_every_capability_and_the_binary() {
        assert_eq!(
            setcap_line(Path::new("/usr/local/bin/netview")),
            "setcap cap_sys_admin,cap_sys_ptrace,cap_net_admin,cap_net_raw+ep \
             /usr/local/bin/netview"
        );
        // A path a shell would split or expand is quoted.
        assert_eq!(
            setcap_line(Path::new("/home/a b/it's/netview")),
            "setcap cap_sys_admin,cap_sys_ptrace,cap_net_admin,cap_net_raw+ep \
             '/home/a b/it'\\''s/netview'"
        );
    }

    #[test]
    fn privileges_line_says_what_is_missing_and_how_to_fix_it() {
        let line = privileges_line(&[Capability::NetAdmin], "setcap X+ep /bin/netview").unwrap();
        assert_eq!(
            line,
            "not root: missing CAP_NET_ADMIN (read NAT and filter rules); as root, \
             `setcap X+ep /bin/netview` lets netview do all but build labs without sudo"
        );
    }

    #[test]
    fn current_thread_mask_is_readable() {
        // Whatever we run as, capget answers for the calling thread.
        let caps = current().unwrap();
        if nix::unistd::geteuid().is_root() {
            assert!(caps.missing().is_empty(), "root lacks {:?}", caps.missing());
        }
    }

    #[test]
    fn root_passes_nothing_as_ambient() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let passed = pass_to_children(&Capability::ALL);
        assert!(passed.ambient().is_empty());
        assert!(caps::read(None, caps::CapSet::Ambient).unwrap().is_empty());
    }
}
