//! Finding the programs netview runs (`nft`, `iptables-legacy-save`, `podman`) or asks about
//! (`dockerd`), without running anything: PATH first, then the usual bin and sbin directories,
//! which a non-root PATH often lacks.

use std::path::PathBuf;

/// Where `name` is, as an executable regular file, or None.
pub fn find(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
            .iter()
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
