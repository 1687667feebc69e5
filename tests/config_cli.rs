//! The config file from the command line: `netview config template|path`, `--config`,
//! `--no-color`, and refusals of a bad config (a bad key, a bad colour, a key bound twice, an
//! unreadable file): one line naming file, line and key, exit 2, before any command starts
//! (the TUI and `probe` included). One privileged test checks that the config's probe kinds
//! reach `netview probe`.

mod probe_common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use netview::probe::{LabFacts, ProbeLab, Role};
use probe_common::*;

const BIN: &str = env!("CARGO_BIN_EXE_netview");

/// netview with a clean environment for the config: no XDG_CONFIG_HOME, HOME in `home`.
fn netview(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("NO_COLOR")
        .env_remove("NETVIEW_PROBE_LAB")
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("run netview")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit 2 with exactly one line on stderr, which it returns.
fn refused(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "stderr: {err} stdout: {}",
        stdout(o)
    );
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("netview: "), "{err}");
    err
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_template_is_a_config_that_reads_back() {
    let home = tempfile::tempdir().unwrap();
    let out = netview(home.path(), &["config", "template"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let template = stdout(&out);
    assert!(template.contains("[keys.browse]"), "{template}");
    assert!(template.contains("palette = \"dark\""), "{template}");
    let file = write(home.path(), "t.toml", &template);
    let out = netview(
        home.path(),
        &["--config", file.to_str().unwrap(), "config", "path"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), file.to_str().unwrap());
    assert_eq!(stderr(&out), "");
}

#[test]
fn the_path_follows_xdg_config_home_then_home() {
    let home = tempfile::tempdir().unwrap();
    let out = netview(home.path(), &["config", "path"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        home.path()
            .join(".config/netview/config.toml")
            .to_str()
            .unwrap()
    );
    // No file there: said on stderr, the defaults apply.
    assert!(
        stderr(&out).contains("built-in defaults"),
        "{}",
        stderr(&out)
    );
    let xdg = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["config", "path"])
        .env("XDG_CONFIG_HOME", xdg.path())
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out).trim(),
        xdg.path().join("netview/config.toml").to_str().unwrap()
    );
}

#[test]
fn a_bad_file_at_the_default_path_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".config/netview");
    std::fs::create_dir_all(&dir).unwrap();
    let file = write(&dir, "config.toml", "[probe]\nport = 0\n");
    let err = refused(&netview(home.path(), &["config", "path"]));
    assert_eq!(
        err.trim_end(),
        format!(
            "netview: {}, line 2, key probe.port: 0 is not a TCP port (1 to 65535)",
            file.display()
        )
    );
}

#[test]
fn a_home_that_cannot_be_searched_means_the_defaults() {
    // Another user's HOME (root's 0700 folder, as sudo -u or setpriv leave it): nothing can
    // be known of a config there, so the defaults apply.
    let home = tempfile::tempdir().unwrap();
    let mut perm = std::fs::metadata(home.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o700);
    std::fs::set_permissions(home.path(), perm).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
        .args([BIN, "config", "path"])
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_bad_key_is_one_line_naming_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let file = write(
        home.path(),
        "c.toml",
        "[theme]\npalette = \"dark\"\nsparkle = 1\n",
    );
    let f = file.to_str().unwrap();
    let err = refused(&netview(home.path(), &["--config", f, "config", "path"]));
    assert!(
        err.starts_with(&format!(
            "netview: {f}, line 3, key theme.sparkle: unknown field `sparkle`"
        )),
        "{err}"
    );
}

#[test]
fn a_bad_colour_is_one_line_naming_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let file = write(
        home.path(),
        "c.toml",
        "[theme.colors]\naccent = \"blurple\"\n",
    );
    let f = file.to_str().unwrap();
    let err = refused(&netview(home.path(), &["--config", f, "config", "path"]));
    assert!(
        err.starts_with(&format!(
            "netview: {f}, line 2, key theme.colors.accent: \"blurple\" is not a colour"
        )),
        "{err}"
    );
}

#[test]
fn a_key_bound_twice_is_one_line_naming_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let file = write(home.path(), "c.toml", "[keys.browse]\nquit = \"j\"\n");
    let f = file.to_str().unwrap();
    let err = refused(&netview(home.path(), &["--config", f, "config", "path"]));
    assert_eq!(
        err.trim_end(),
        format!("netview: {f}, line 2, key keys.browse.quit: key j is bound to both down and quit in [keys.browse]")
    );
}

#[test]
fn an_unreadable_config_is_one_line() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("missing.toml");
    let err = refused(&netview(
        home.path(),
        &["--config", missing.to_str().unwrap(), "config", "path"],
    ));
    assert!(err.contains("cannot read the config file"), "{err}");
    assert!(err.contains("No such file"), "{err}");
    let err = refused(&netview(
        home.path(),
        &["--config", home.path().to_str().unwrap(), "config", "path"],
    ));
    assert!(err.contains("is not a regular file"), "{err}");
    let binary = home.path().join("bin.toml");
    std::fs::write(&binary, [0xff, 0xfe]).unwrap();
    let err = refused(&netview(
        home.path(),
        &["--config", binary.to_str().unwrap(), "config", "path"],
    ));
    assert!(err.contains("is not UTF-8 text"), "{err}");
}

#[test]
fn the_tui_and_probe_refuse_a_bad_config_before_starting() {
    let home = tempfile::tempdir().unwrap();
    let file = write(home.path(), "c.toml", "[keys.browse]\nfly = \"f\"\n");
    let f = file.to_str().unwrap();
    for args in [
        vec!["--config", f],
        vec!["--config", f, "probe"],
        vec!["probe", "--config", f],
        vec!["--config", f, "lab", "up"],
    ] {
        let err = refused(&netview(home.path(), &args));
        assert!(
            err.contains("key keys.browse.fly: unknown action"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn no_color_is_an_option_of_every_command() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        vec!["--no-color", "config", "path"],
        vec!["config", "path", "--no-color"],
    ] {
        let out = netview(home.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn the_configs_probe_kinds_reach_netview_probe() {
    let mut t = Topo::new("cfg");
    t.add("a");
    t.add("b");
    t.veth("a", "va", "b", "vb");
    t.ip("a", &["addr", "add", "10.65.0.1/24", "dev", "va"]);
    t.ip("b", &["addr", "add", "10.65.0.2/24", "dev", "vb"]);
    let lab = ProbeLab {
        endpoints: vec![
            endpoint(
                &t,
                "a",
                "a",
                Role::Peer,
                None,
                &[("10.65.0.1", 24, "va")],
                None,
            ),
            endpoint(
                &t,
                "b",
                "b",
                Role::Peer,
                None,
                &[("10.65.0.2", 24, "vb")],
                None,
            ),
        ],
        facts: LabFacts {
            lan_subnet: "10.65.0.0/24".parse().unwrap(),
            ..LabFacts::default()
        },
    };
    let home = tempfile::tempdir().unwrap();
    let lab_file = write(
        home.path(),
        "lab.json",
        &serde_json::to_string(&lab).unwrap(),
    );
    let cfg = write(
        home.path(),
        "c.toml",
        "[probe]\nkinds = [\"tcp\"]\ntimeout_ms = 300\nport = 8081\n",
    );
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "probe", "--json"])
        .env("NETVIEW_PROBE_LAB", &lab_file)
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        assert_eq!(r["kind"], "tcp", "{r}");
    }
    // The command line still wins.
    let out = Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "probe",
            "--json",
            "--kind",
            "icmp",
        ])
        .env("NETVIEW_PROBE_LAB", &lab_file)
        .env("HOME", home.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in v["results"].as_array().unwrap() {
        assert_eq!(r["kind"], "icmp", "{r}");
    }
}

#[test]
fn lab_up_and_the_tui_build_the_configs_lab_file() {
    let home = tempfile::tempdir().unwrap();
    // Relative to the config's folder; a broken lab file shows it is the one read.
    write(home.path(), "broken-lab.toml", "[host]\nifname = 7\n");
    let cfg = write(home.path(), "c.toml", "[lab]\nfile = \"broken-lab.toml\"\n");
    let state = tempfile::tempdir().unwrap();
    for args in [
        vec!["--config", cfg.to_str().unwrap(), "lab", "up"],
        vec!["--config", cfg.to_str().unwrap()],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env("NETVIEW_STATE_DIR", state.path())
            .env("NETVIEW_PREFIX", "nvcfg-")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = refused(&out);
        assert!(err.contains("bad lab file"), "{args:?}: {err}");
    }
    // Only a regular file is read as a lab file (a config could name /dev/zero).
    let cfg = write(home.path(), "z.toml", "[lab]\nfile = \"/dev/zero\"\n");
    for args in [
        vec!["--config", cfg.to_str().unwrap(), "lab", "up"],
        vec!["--config", cfg.to_str().unwrap()],
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env("NETVIEW_STATE_DIR", state.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = refused(&out);
        assert!(
            err.contains("/dev/zero: not a regular file"),
            "{args:?}: {err}"
        );
    }
    // The TUI does not build real mode (it is confirmed with lab up --yes).
    let real = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/labs/default.toml"
    ))
    .unwrap()
    .replace("[options]", "[options]\nreal = true\nparent = \"eth0\"");
    assert!(
        real.contains("real = true"),
        "the default lab has an [options] table"
    );
    write(home.path(), "real.toml", &real);
    let cfg = write(home.path(), "r.toml", "[lab]\nfile = \"real.toml\"\n");
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap()])
        .env("NETVIEW_STATE_DIR", state.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = refused(&out);
    assert!(err.contains("asks for real mode"), "{err}");
}
