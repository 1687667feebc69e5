//! NAT rules of a namespace: nftables nat chains (native and iptables-nft) and legacy
//! iptables; and the reading both NAT and filter chains share ([`read_rules_with`] runs nft
//! once for both, [`crate::inventory::filter`] selects and converts the filter chains).
//!
//! - nftables: only when the namespace has a table (one nfnetlink dump, [`tables`]; most
//!   container namespaces have none and forking `nft` there is most of their read),
//!   `nft -j list ruleset` (run through the `nftables` crate's helper), decoded
//!   with the crate's typed schema and rendered in nft syntax ([`format`]). The NAT chains are
//!   the base chains of type `nat` and the regular chains they jump to in the same table. Rules
//!   iptables-nft wrote with x_tables extensions (`xt` in the JSON, which keeps only the
//!   extension's name) take nft's own text rendering instead (`nft -a -s list ruleset`, run only
//!   when such rules exist), so `-j DNAT --to-destination 172.17.0.2:80` reads
//!   `dnat to 172.17.0.2:80` rather than `xt target DNAT`.
//! - Legacy iptables: only when this namespace's x_tables list a `nat` table
//!   (`/proc/thread-self/net/ip_tables_names`; running iptables-legacy-save otherwise would
//!   create the table), `iptables-legacy-save -t nat` ([`iptables`]).
//!
//! Kernel and process access sit behind [`NatHost`], so everything else is tested from saved
//! outputs without root.

pub mod format;
pub mod iptables;
pub mod nft;
pub mod owner;
pub mod tables;

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::model::{FilterRule, NatBackend, NatRule};

pub use owner::{attribute_owner, named_addresses};

/// Why something could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NatReadError {
    #[error("{0} not installed")]
    NotInstalled(String),
    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("{program} failed: {message}")]
    Failed { program: String, message: String },
    #[error("cannot read {path}: {source}")]
    Proc { path: String, source: io::Error },
}

/// What reading NAT rules needs from the system.
pub trait NatHost {
    /// The full path of an installed program, looked up without running anything.
    fn find_program(&self, name: &str) -> Option<PathBuf>;
    /// How many nftables tables the namespace holds (asked without running `nft`).
    fn nft_table_count(&self) -> io::Result<usize>;
    /// `nft -j list ruleset`.
    fn nft_json(&self, nft: &Path) -> Result<String, NatReadError>;
    /// Run `program` with fixed arguments and return its standard output.
    fn run(&self, program: &Path, args: &[&str]) -> Result<String, NatReadError>;
    /// Read a file under /proc.
    fn read_proc(&self, path: &str) -> io::Result<String>;
}

/// What `nft` and `iptables-legacy-save` need: CAP_NET_ADMIN for nfnetlink dumps and x_tables'
/// getsockopt, CAP_NET_RAW for the raw socket iptables opens. Without root they are passed to
/// the child as ambient capabilities when netview holds them (file capabilities set by
/// `setcap`): execve would drop them otherwise.
const CHILD_CAPABILITIES: &[crate::caps::Capability] = &[
    crate::caps::Capability::NetAdmin,
    crate::caps::Capability::NetRaw,
];

/// The real system, seen from the calling thread (and its namespace).
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadHost;

impl NatHost for ThreadHost {
    fn find_program(&self, name: &str) -> Option<PathBuf> {
        crate::programs::find(name)
    }

    fn nft_table_count(&self) -> io::Result<usize> {
        tables::count_in_current_thread()
    }

    fn nft_json(&self, nft: &Path) -> Result<String, NatReadError> {
        let _passed = crate::caps::pass_to_children(CHILD_CAPABILITIES);
        nftables::helper::get_current_ruleset_raw(Some(nft), ["list", "ruleset"]).map_err(|e| {
            match e {
                nftables::helper::NftablesError::NftExecution { inner, .. } => {
                    NatReadError::Spawn {
                        program: nft.display().to_string(),
                        source: inner,
                    }
                }
                nftables::helper::NftablesError::NftFailed { stderr, .. } => NatReadError::Failed {
                    program: "nft".to_string(),
                    message: first_line(&stderr),
                },
                other => NatReadError::Failed {
                    program: "nft".to_string(),
                    message: other.to_string(),
                },
            }
        })
    }

    fn run(&self, program: &Path, args: &[&str]) -> Result<String, NatReadError> {
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.display().to_string());
        let _passed = crate::caps::pass_to_children(CHILD_CAPABILITIES);
        let output = Command::new(program)
            .args(args)
            .output()
            .map_err(|source| NatReadError::Spawn {
                program: name.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(NatReadError::Failed {
                program: name,
                message: first_line(&String::from_utf8_lossy(&output.stderr)),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn read_proc(&self, path: &str) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// What one namespace's rule listings hold: its NAT rules, its filter chains, and one line per
/// thing that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesRead {
    pub nat: Vec<NatRule>,
    pub filter: Vec<FilterRule>,
    pub errors: Vec<String>,
}

/// Read every NAT rule and filter chain of the namespace the calling thread is in. Must be
/// called on a thread that entered the namespace (child processes such as `nft` inherit the
/// thread's namespace). `nft` runs once for both.
pub fn read_rules_in_current_thread() -> RulesRead {
    read_rules_with(&ThreadHost)
}

/// [`read_rules_in_current_thread`], NAT part only, over any [`NatHost`].
pub fn read_nat_with(host: &dyn NatHost) -> (Vec<NatRule>, Vec<String>) {
    let read = read_rules_with(host);
    (read.nat, read.errors)
}

/// [`read_rules_in_current_thread`] over any [`NatHost`].
pub fn read_rules_with(host: &dyn NatHost) -> RulesRead {
    let mut read = RulesRead::default();
    read_nftables(host, &mut read);
    let denied: Vec<&str> = [false, true]
        .into_iter()
        .filter_map(|ipv6| read_legacy(host, ipv6, &mut read).err())
        .map(|LegacyListDenied(family)| family)
        .collect();
    if !denied.is_empty() {
        read.errors.push(format!(
            "legacy iptables rules ({}) not read: the kernel's list of legacy tables \
             (/proc/net/ip_tables_names) is readable by root only",
            denied.join(", ")
        ));
    }
    read
}

fn read_nftables(host: &dyn NatHost, read: &mut RulesRead) {
    let errors = &mut read.errors;
    // No table: no rule, and nothing for `nft` to list. When the kernel cannot be asked
    // (EPERM without CAP_NET_ADMIN, no nf_tables), `nft` is run and reports what it finds.
    if let Ok(0) = host.nft_table_count() {
        return;
    }
    let Some(nft) = host.find_program("nft") else {
        errors.push("nft not installed: nftables NAT and filter rules not read".to_string());
        return;
    };
    let json = match host.nft_json(&nft) {
        Ok(json) => json,
        Err(e) => {
            errors.push(format!("nftables NAT and filter rules not read: {e}"));
            return;
        }
    };
    let ruleset = match nft::NftRuleset::from_json(&json) {
        Ok(ruleset) => ruleset,
        Err(e) => {
            errors.push(format!("nftables NAT and filter rules not read: {e}"));
            return;
        }
    };
    let nat_rules = ruleset.nat_rules();
    let filter_chains = crate::inventory::filter::filter_chains(&ruleset);
    let filter_rules = ruleset.rules_of(&filter_chains);

    // nft's text rendering, only for rules whose JSON lost an extension's arguments or that
    // the crate could not decode.
    let text = if nat_rules
        .iter()
        .chain(filter_rules.iter())
        .any(|r| r.has_xt() || r.undecoded)
    {
        match host.run(&nft, &["-a", "-s", "list", "ruleset"]) {
            Ok(text) => Some(nft::NftText::parse(&text)),
            Err(e) => {
                errors.push(format!(
                    "nft's text listing not read, so iptables-nft extensions are shown by \
                     name only (xt ...): {e}"
                ));
                None
            }
        }
    } else {
        None
    };

    for (what, rules) in [("NAT", &nat_rules), ("filter", &filter_rules)] {
        let undecoded: Vec<&nft::NftRule> = rules.iter().copied().filter(|r| r.undecoded).collect();
        if let Some(first) = undecoded.first() {
            errors.push(format!(
                "the nftables crate could not decode {} {what} rule(s) (first: {} {} chain {}); \
                 shown {}",
                undecoded.len(),
                first.family,
                first.table,
                first.chain,
                if text.is_some() {
                    "as nft prints them"
                } else {
                    "partly as nft JSON"
                }
            ));
        }
    }

    let render = |rule: &nft::NftRule| match (&text, rule.has_xt() || rule.undecoded, rule.handle) {
        (Some(text), true, Some(handle)) => text
            .rule(&rule.family, &rule.table, handle, &rule.xts)
            .unwrap_or_else(|| rule.text.clone()),
        _ => rule.text.clone(),
    };
    for rule in nat_rules {
        let rendered = render(rule);
        read.nat.push(NatRule {
            owner: attribute_owner(&rule.table, &rule.chain, &rendered),
            family: rule.family.clone(),
            table: rule.table.clone(),
            chain: rule.chain.clone(),
            rule: rendered,
            backend: NatBackend::Nftables,
            container: None,
        });
    }
    read.filter =
        crate::inventory::filter::nft_entries(&ruleset, &filter_chains, &filter_rules, render);
}

/// The list of a family's legacy tables is readable by root only (0440 root): with netview's
/// capabilities from setcap but not root, the legacy tables cannot be listed (and running
/// iptables-legacy-save blindly would create them).
struct LegacyListDenied(&'static str);

fn read_legacy(
    host: &dyn NatHost,
    ipv6: bool,
    read: &mut RulesRead,
) -> Result<(), LegacyListDenied> {
    let (names_path, program, family) = if ipv6 {
        (
            "/proc/thread-self/net/ip6_tables_names",
            "ip6tables-legacy-save",
            "ip6",
        )
    } else {
        (
            "/proc/thread-self/net/ip_tables_names",
            "iptables-legacy-save",
            "ip",
        )
    };
    let names = match host.read_proc(names_path) {
        Ok(names) => names,
        // No x_tables module loaded: no legacy table anywhere.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(LegacyListDenied(family))
        }
        Err(source) => {
            read.errors.push(
                NatReadError::Proc {
                    path: names_path.to_string(),
                    source,
                }
                .to_string(),
            );
            return Ok(());
        }
    };
    for table in ["nat", "filter"] {
        // Listing a table that does not exist would create it.
        if !names.lines().any(|l| l.trim() == table) {
            continue;
        }
        let Some(save) = host.find_program(program) else {
            read.errors.push(format!(
                "legacy {family} {table} table in use but {program} not installed: its rules \
                 not read"
            ));
            return Ok(());
        };
        let output = match host.run(&save, &["-t", table]) {
            Ok(output) => output,
            Err(e) => {
                read.errors
                    .push(format!("legacy {family} {table} rules not read: {e}"));
                continue;
            }
        };
        let saved = iptables::parse_save_table(&output, table);
        if table == "nat" {
            for saved in saved.rules {
                let rendered = iptables::render(&saved.args, ipv6);
                read.nat.push(NatRule {
                    owner: attribute_owner("nat", &saved.chain, &rendered),
                    family: family.to_string(),
                    table: "nat".to_string(),
                    chain: saved.chain,
                    rule: rendered,
                    backend: NatBackend::IptablesLegacy,
                    container: None,
                });
            }
        } else {
            read.filter.extend(crate::inventory::filter::legacy_entries(
                &saved, family, ipv6,
            ));
        }
    }
    Ok(())
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("# Warning"))
        .unwrap_or("no message")
        .to_string()
}

#[cfg(test)]
mod tests;
