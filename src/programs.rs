//! Finding the programs netview runs (`nft`, `iptables-legacy-save`, `podman`) or asks about
//! (`dockerd`), without running anything: PATH first, then the usual bin and sbin directories,
//! which a non-root PATH often lacks. The look-up itself is the `which` crate's.

use std::ffi::OsStr;
use std::path::PathBuf;

/// Searched after PATH, in this order.
const USUAL_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Where `name` is, as an executable file, or None.
pub fn find(name: &str) -> Option<PathBuf> {
    find_in(name, &std::env::var_os("PATH").unwrap_or_default())
}

/// [`find`] with `path` standing for PATH.
fn find_in(name: &str, path: &OsStr) -> Option<PathBuf> {
    let dirs = std::env::split_paths(path)
        // An empty PATH entry means the working directory; netview never runs from there.
        .filter(|d| d.is_absolute())
        .chain(USUAL_DIRS.iter().map(PathBuf::from));
    let dirs = std::env::join_paths(dirs).ok()?;
    which::which_in(name, Some(dirs), "/").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn path_comes_first_and_only_executable_files_count() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let plain = a.path().join("nv-prog");
        std::fs::write(&plain, "").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::create_dir(a.path().join("nv-dir")).unwrap();
        let exe = b.path().join("nv-prog");
        std::fs::write(&exe, "").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(find_in("nv-prog", &path), Some(exe.clone()));
        assert_eq!(find_in("nv-dir", &path), None);
        assert_eq!(find_in("nv-missing", &path), None);
        // A relative PATH entry is never searched.
        assert_eq!(find_in("nv-prog", OsStr::new(".:nv-dir")), None);
    }

    #[test]
    fn the_usual_directories_are_searched_after_path() {
        // `sh` is in /bin or /usr/bin on every Debian system.
        let found = find_in("sh", OsStr::new("")).expect("sh");
        assert!(
            found.starts_with("/usr") || found.starts_with("/bin"),
            "{found:?}"
        );
    }
}
