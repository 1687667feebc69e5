//! The CLI as the rest of the system meets it: shell completions, the man page, `--version`
//! on every subcommand, and the log's refusals (`--log-file`, `NETVIEW_LOG`). Unprivileged:
//! nothing here touches the network.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_netview");

fn netview(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("NETVIEW_LOG")
        .output()
        .expect("run netview")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The subcommands `help` lists under "Commands:" (without `help` itself).
fn subcommands(path: &[&str]) -> Vec<String> {
    let mut args = path.to_vec();
    args.push("--help");
    let o = netview(&args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let help = stdout(&o);
    let Some(start) = help.find("Commands:\n") else {
        return Vec::new();
    };
    help[start + "Commands:\n".len()..]
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = netview(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        assert!(o.stderr.is_empty(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for word in ["netview", "inventory", "lab", "probe", "clean", "log-file"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
}

#[test]
fn bash_completion_loads_in_bash() {
    let o = netview(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("netview.bash");
    std::fs::write(&file, &o.stdout).unwrap();
    // A script file that sources it and asks bash what completes `netview`.
    let check = dir.path().join("check.bash");
    std::fs::write(
        &check,
        format!("source '{}'\ncomplete -p netview\n", file.display()),
    )
    .unwrap();
    let b = Command::new("bash")
        .args(["--noprofile", "--norc"])
        .arg(&check)
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert!(stdout(&b).contains("netview"), "{}", stdout(&b));
}

#[test]
fn an_unknown_shell_is_one_line_and_exit_2() {
    let o = netview(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
fn the_man_page_is_roff_naming_every_subcommand() {
    let o = netview(&["man"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(page.contains(".TH netview 1"), "{page}");
    for sub in subcommands(&[]) {
        assert!(page.contains(&sub), "man page lacks {sub}");
    }
    assert!(page.contains("log\\-file"), "{page}");
    // man itself renders it, when man is installed.
    if std::path::Path::new("/usr/bin/man").exists() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("netview.1");
        std::fs::write(&file, &o.stdout).unwrap();
        let m = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
        assert!(stdout(&m).contains("netview"), "{}", stdout(&m));
    }
}

#[test]
fn every_subcommand_answers_version() {
    let want = format!("netview {}\n", env!("CARGO_PKG_VERSION"));
    let mut paths: Vec<Vec<String>> = vec![vec![]];
    let mut seen = 0;
    while let Some(path) = paths.pop() {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let mut args = refs.clone();
        args.push("--version");
        let o = netview(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        // clap names the subcommand path: `netview-lab-up 0.1.0`; the version is the same.
        let out = stdout(&o);
        assert!(
            out.ends_with(&format!(" {}\n", env!("CARGO_PKG_VERSION"))),
            "{args:?}: {out:?} (want like {want:?})"
        );
        seen += 1;
        for sub in subcommands(&refs) {
            let mut p = path.clone();
            p.push(sub);
            paths.push(p);
        }
    }
    // netview, its subcommands and lab's: more than the top level alone.
    assert!(seen >= 10, "only {seen} commands found");
}

#[test]
fn a_log_file_through_a_symlink_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "keep\n").unwrap();
    let link = dir.path().join("netview.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = netview(&["--log-file", link.to_str().unwrap(), "completions", "bash"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--log-file"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
}

#[test]
fn a_bad_log_filter_is_one_line_and_exit_2() {
    let o = Command::new(BIN)
        .args(["completions", "bash"])
        .env("NETVIEW_LOG", "netview=[")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("NETVIEW_LOG"), "{err}");
}

#[test]
fn the_log_file_option_works_after_the_subcommand_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("netview.log");
    let o = netview(&["man", "--log-file", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn man_out_dir_writes_a_page_per_subcommand_and_replaces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = netview(&["man", "--out-dir", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    for page in [
        "netview.1",
        "netview-lab.1",
        "netview-lab-up.1",
        "netview-probe.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    assert!(!dir.path().join("netview-help.1").exists());
    // A second run finds the pages there: an error, one line, nothing replaced.
    std::fs::write(dir.path().join("netview.1"), "mine\n").unwrap();
    let o = netview(&["man", "--out-dir", d]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("netview.1")).unwrap(),
        "mine\n"
    );
    // A symlink where a page goes is not followed.
    let other = tempfile::tempdir().unwrap();
    let target = other.path().join("target");
    std::fs::write(&target, "keep\n").unwrap();
    let d2 = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&target, d2.path().join("netview-clean.1")).unwrap();
    let o = netview(&["man", "--out-dir", d2.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
}
