//! Privileged: a lab run with `--log-file` writes its steps (what each did and how it is
//! undone, and the undos at `lab down`) to a private file, and nothing to the terminal.

#[path = "lab_common/mod.rs"]
mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn a_lab_run_with_a_log_file_writes_its_steps() {
    let lab = TestLab::new();
    let log = lab.dir.path().join("netview.log");
    let log_arg = log.to_str().unwrap();
    // NETVIEW_LOG reaches the kernel steps (debug).
    let up = lab
        .command(&["--log-file", log_arg, "lab", "up"])
        .env("NETVIEW_LOG", "netview=debug")
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&up.stderr).contains("lab do"),
        "the log went to the terminal"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let host = lab.ns("host");
    assert!(
        text.lines()
            .any(|l| l.contains("lab do") && l.contains(&format!("delete namespace {host}"))),
        "{text}"
    );
    assert!(text.contains("lab kernel step"), "{text}");
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // With the default filter, appended to the same file.
    let down = lab
        .command(&["lab", "down", "--log-file", log_arg])
        .env_remove("NETVIEW_LOG")
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("lab undo") && l.contains(&format!("delete namespace {host}"))),
        "{text}"
    );
    lab.assert_nothing_left();
}
