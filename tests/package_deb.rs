//! Privileged, run by scripts/test after scripts/package: the .deb installs the binary, the
//! man pages, the completion scripts and the docs (`dpkg -i`, `netview --version`,
//! `man -w netview`) and removes cleanly; `cargo install --path .` gives a netview whose
//! built-in lab comes up from any directory. Ignored by default: both need the release build
//! (`cargo test --test package_deb -- --ignored --test-threads=1`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The .deb scripts/package made for this version.
fn the_deb() -> PathBuf {
    let dir = target_dir().join("debian");
    let prefix = format!("netview_{}", env!("CARGO_PKG_VERSION"));
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/package first)", dir.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".deb")
        })
        .unwrap_or_else(|| {
            panic!(
                "no {prefix}*.deb in {} (run scripts/package)",
                dir.display()
            )
        })
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "netview"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Purges the package in Drop, so a failing assertion still leaves the system as it was.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "netview"]).output();
    }
}

#[test]
#[ignore = "needs scripts/package's .deb and root"]
fn the_deb_installs_binary_man_page_completions_and_docs_and_removes_cleanly() {
    let deb = the_deb();
    assert!(
        !installed(),
        "a netview package is already installed; this test would remove it"
    );
    // What the package says it needs.
    let depends = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Depends"));
    let depends = String::from_utf8_lossy(&depends.stdout).into_owned();
    for d in ["nftables", "iproute2"] {
        assert!(depends.contains(d), "Depends: {depends}");
    }
    let guard = Installed;
    run(Command::new("dpkg").arg("-i").arg(&deb));
    let v = run(Command::new("/usr/bin/netview").arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&v.stdout),
        format!("netview {}\n", env!("CARGO_PKG_VERSION"))
    );
    let man = run(Command::new("man").args(["-w", "netview"]));
    let man = String::from_utf8_lossy(&man.stdout).trim().to_string();
    assert_eq!(man, "/usr/share/man/man1/netview.1.gz");
    // Each subcommand has its page, as netview(1) names them.
    let man = run(Command::new("man").args(["-w", "netview-lab-up"]));
    assert!(String::from_utf8_lossy(&man.stdout).contains("netview-lab-up.1"));
    for f in [
        "/usr/share/bash-completion/completions/netview",
        "/usr/share/zsh/vendor-completions/_netview",
        "/usr/share/fish/vendor_completions.d/netview.fish",
        "/usr/share/doc/netview/README.md",
        "/usr/share/doc/netview/docs/lab.md",
    ] {
        assert!(Path::new(f).is_file(), "{f} not installed");
    }
    run(Command::new("dpkg").args(["--purge", "netview"]));
    drop(guard);
    assert!(!installed());
    assert!(!Path::new("/usr/bin/netview").exists());
    assert!(!Path::new("/usr/share/man/man1/netview.1.gz").exists());
}

#[test]
#[ignore = "needs a release build and root"]
fn cargo_install_gives_a_netview_with_the_lab_built_in() {
    let root = tempfile::tempdir().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .args(["install", "--locked", "--offline", "--path"])
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("--root")
        .arg(root.path()));
    let bin = root.path().join("bin/netview");
    // From a directory that holds no lab file: the default lab is inside the binary.
    let cwd = tempfile::tempdir().unwrap();
    let prefix = format!("nv-pk{}-", std::process::id());
    let state = cwd.path().join("state");
    let netview = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.args(args)
            .current_dir(cwd.path())
            .env("NETVIEW_PREFIX", &prefix)
            .env("NETVIEW_STATE_DIR", &state);
        c
    };
    struct Clean<'a>(&'a dyn Fn(&[&str]) -> Command);
    impl Drop for Clean<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["clean"]).output();
        }
    }
    let _clean = Clean(&netview);
    run(&mut netview(&["lab", "up"]));
    let ls = run(&mut netview(&["lab", "ls", "--json"]));
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let names: Vec<&str> = ls["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["host", "peer", "router"]);
    run(&mut netview(&["lab", "down"]));
}
