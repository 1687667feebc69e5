//! `e`: the current tab written to a file. What goes in the file is a pure function of the
//! model ([`of_tab`]: the topology as Graphviz dot, the probe matrix as a markdown table, the
//! lab picture and every table tab as aligned text); writing it ([`write`]) is the runtime's
//! job (`Command::Export`), never `update`'s.
//!
//! The file is new and private: created exclusively (`O_EXCL`, so nothing planted under its
//! name is followed or overwritten; `O_NOFOLLOW` too) with mode 0600, in the current
//! directory, or where that cannot be written, in `$XDG_STATE_HOME/netview`
//! (`~/.local/state/netview`), made 0700.

use std::fs::{self, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::probe::ProbeKind;
use crate::ui::app::{Model, Tab};

/// One file to write: its name's middle part, its extension and what goes in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The tab, lower case (`topology`, `matrix`, `links`...).
    pub what: String,
    pub extension: &'static str,
    pub contents: String,
}

/// What `e` writes for the tab in view.
pub fn of_tab(model: &Model) -> Export {
    let what = model.tab.title().to_lowercase();
    match model.tab {
        Tab::Topology => Export {
            what,
            extension: "dot",
            contents: crate::inventory::dot::render(&model.inventories()),
        },
        Tab::Matrix => Export {
            what,
            extension: "md",
            contents: matrix_markdown(model),
        },
        Tab::Lab => Export {
            what,
            extension: "txt",
            contents: match &model.bench.lab {
                Some(lab) => crate::ui::labtopo::picture(lab, &model.inventories())
                    .into_iter()
                    .map(|l| l.text + "\n")
                    .collect(),
                None => "no lab is up\n".to_string(),
            },
        },
        _ => Export {
            what,
            extension: "txt",
            contents: table_text(model),
        },
    }
}

/// The table in view as the CLI aligns its tables, headed by the namespace (the rows the
/// filter left, all of them, not just those on screen).
fn table_text(model: &Model) -> String {
    let view = model.current_view();
    let title = match (model.tab.is_global(), model.selected_entry()) {
        (false, Some(e)) => format!("{} · {}\n", model.tab.title(), e.netns.name),
        _ => format!("{}\n", model.tab.title()),
    };
    let rows: Vec<Vec<String>> = view.rows.iter().map(|r| r.cells.clone()).collect();
    title + &crate::inventory::table::align(view.header, &rows)
}

/// One cell of the markdown matrix: the kinds probed, each with its mark (`icmp ✓ arp ✗`),
/// and `!` after a mark that contradicts what the lab's plan expects.
fn markdown_cell(model: &Model, row: usize, col: usize) -> String {
    let m = &model.bench.matrix;
    let grid = m.grid();
    let parts: Vec<String> = grid
        .kinds
        .iter()
        .filter(|&&k| grid.index(row, col, k).is_some())
        .map(|&k: &ProbeKind| {
            let mark = m.mark(grid, row, col, k);
            let flag = if mark.mismatch() { "!" } else { "" };
            format!("{} {}{flag}", k.name(), mark.symbol())
        })
        .collect();
    if parts.is_empty() {
        "·".to_string()
    } else {
        parts.join(" ")
    }
}

/// A markdown cell's text with the characters that would break the table escaped.
fn md(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// The probe matrix as a markdown table: sources down, targets (name and address) across,
/// from the matrix on screen (cells still waiting show `…`, which the CLI's report, built
/// from finished results by `probe::report`, never has).
pub fn matrix_markdown(model: &Model) -> String {
    let m = &model.bench.matrix;
    let grid = m.grid();
    if grid.rows.is_empty() {
        return "No probe has run yet: `p` runs them.\n".to_string();
    }
    let mut out = String::from("| from \\ to |");
    for (name, ip) in &grid.columns {
        out.push_str(&format!(" {} {} |", md(name), ip));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(grid.columns.len()));
    out.push('\n');
    for (r, from) in grid.rows.iter().enumerate() {
        out.push_str(&format!("| {} |", md(from)));
        for c in 0..grid.columns.len() {
            out.push_str(&format!(" {} |", markdown_cell(model, r, c)));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\n✓ reached, ✗ not reached, … waiting, · not probed, ! not what the lab's plan \
         expects. {} of {} probes done, {} unexpected.\n",
        m.done(),
        m.cells.len(),
        m.mismatches()
    ));
    out
}

/// Where the file goes when the current directory cannot be written: `$XDG_STATE_HOME/netview`,
/// else `$HOME/.local/state/netview` (an environment value that is not an absolute path is
/// ignored, as the XDG spec says).
pub fn state_dir(xdg_state_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let absolute = |v: Option<&str>| v.filter(|s| s.starts_with('/')).map(PathBuf::from);
    absolute(xdg_state_home)
        .or_else(|| absolute(home).map(|h| h.join(".local/state")))
        .map(|d| d.join("netview"))
}

/// Create `dir/netview-<what>-<stamp>.<ext>` as a new 0600 file holding `contents`, adding
/// `-2`, `-3`... when the name is taken. Returns the path.
fn write_in(dir: &Path, export: &Export, stamp: u64) -> io::Result<PathBuf> {
    for n in 1..=100u32 {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = dir.join(format!(
            "netview-{}-{stamp}{suffix}.{}",
            export.what, export.extension
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path);
        match file {
            Ok(mut f) => {
                f.write_all(export.contents.as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        ErrorKind::AlreadyExists,
        "a hundred files of that name already exist",
    ))
}

/// Make netview's state directory (0700) unless it is there; refuse one that is a symlink or
/// not a directory.
fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("{} is not a directory", dir.display()),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir),
        Err(e) => Err(e),
    }
}

/// Write `export` in `cwd`, or where that is refused (no permission, a read-only file system),
/// in `state_dir`. `stamp` (seconds since the epoch) makes the name.
pub fn write(
    export: &Export,
    cwd: &Path,
    state_dir: Option<&Path>,
    stamp: u64,
) -> io::Result<PathBuf> {
    match write_in(cwd, export, stamp) {
        Ok(p) => Ok(p),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            let Some(dir) = state_dir else {
                return Err(e);
            };
            ensure_private_dir(dir)?;
            write_in(dir, export, stamp)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::app::update;
    use crate::ui::app::{Command, Message};
    use crate::ui::fixture;
    use crate::ui::theme::Theme;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use std::os::unix::fs::PermissionsExt;

    fn model() -> Model {
        Model::from_inventories(fixture::host(), Vec::new(), Theme::monochrome())
    }

    fn press(m: &mut Model, c: char) -> Vec<Command> {
        update(
            m,
            Message::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        )
    }

    fn export_command(cmds: Vec<Command>) -> Export {
        let mut exports = cmds.into_iter().filter_map(|c| match c {
            Command::Export(e) => Some(*e),
            _ => None,
        });
        let e = exports.next().expect("e asks the runtime to write a file");
        assert!(exports.next().is_none());
        e
    }

    #[test]
    fn e_on_topology_asks_for_a_dot_file() {
        let mut m = model();
        press(&mut m, '8');
        assert_eq!(m.tab, Tab::Topology);
        let e = export_command(press(&mut m, 'e'));
        assert_eq!((e.what.as_str(), e.extension), ("topology", "dot"));
        assert!(
            e.contents.starts_with("digraph netview {"),
            "{}",
            e.contents
        );
        assert_eq!(
            e.contents,
            crate::inventory::dot::render(&m.inventories()),
            "the same picture as `inventory --format dot`"
        );
    }

    #[test]
    fn e_on_a_table_tab_writes_its_rows_as_text() {
        let mut m = model();
        let e = export_command(press(&mut m, 'e'));
        assert_eq!((e.what.as_str(), e.extension), ("links", "txt"));
        let first = m.selected_entry().unwrap().netns.name.clone();
        assert!(
            e.contents.starts_with(&format!("Links · {first}\n")),
            "{}",
            e.contents
        );
        for row in &m.current_view().rows {
            assert!(e.contents.contains(&row.cells[0]), "{}", e.contents);
        }
    }

    #[test]
    fn matrix_markdown_has_a_row_per_source_and_a_column_per_target() {
        let mut m = model();
        update(
            &mut m,
            Message::LabLoaded(Ok(Some(Box::new(fixture::lab_state())))),
        );
        m.tab = Tab::Matrix;
        assert_eq!(
            of_tab(&m).contents,
            "No probe has run yet: `p` runs them.\n"
        );
        let plab = crate::probe::from_lab::probe_lab(&crate::lab::Lab {
            state: fixture::lab_state(),
        });
        let cells =
            crate::probe::matrix::plan(&plab, &crate::probe::matrix::PlanOptions::default())
                .unwrap();
        assert!(!cells.is_empty(), "the fixture lab has endpoints to probe");
        m.bench.matrix = crate::ui::bench::MatrixState::start(cells);
        let e = of_tab(&m);
        assert_eq!((e.what.as_str(), e.extension), ("matrix", "md"));
        let lines: Vec<&str> = e.contents.lines().collect();
        let grid = m.bench.matrix.grid();
        assert!(lines[0].starts_with("| from \\ to |"));
        assert_eq!(lines[0].matches(" |").count(), grid.columns.len() + 1);
        assert_eq!(
            lines[1],
            format!("|---|{}", "---|".repeat(grid.columns.len()))
        );
        for (i, from) in grid.rows.iter().enumerate() {
            assert!(
                lines[2 + i].starts_with(&format!("| {from} |")),
                "{}",
                e.contents
            );
            // Nothing has answered yet: every probed kind waits.
            assert!(!lines[2 + i].contains('✓'));
        }
    }

    #[test]
    fn markdown_cells_escape_pipes() {
        assert_eq!(md("a|b\\c\nd"), "a\\|b\\\\c d");
    }

    #[test]
    fn written_file_is_new_private_and_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let e = Export {
            what: "topology".into(),
            extension: "dot",
            contents: "digraph {}\n".into(),
        };
        let p = write(&e, dir.path(), None, 1700000000).unwrap();
        assert_eq!(p, dir.path().join("netview-topology-1700000000.dot"));
        assert_eq!(fs::read_to_string(&p).unwrap(), "digraph {}\n");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // The same second again: a new name, the first file untouched.
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(
            &victim,
            dir.path().join("netview-topology-1700000000-2.dot"),
        )
        .unwrap();
        let p2 = write(&e, dir.path(), None, 1700000000).unwrap();
        assert_eq!(p2, dir.path().join("netview-topology-1700000000-3.dot"));
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn an_unwritable_directory_falls_back_to_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/netview");
        let e = Export {
            what: "links".into(),
            extension: "txt",
            contents: "x\n".into(),
        };
        // A cwd that is a file's path cannot hold a new file: not a permission error, so no
        // fallback, and the error says so.
        let not_dir = dir.path().join("plain");
        fs::write(&not_dir, "").unwrap();
        assert!(write(&e, &not_dir, Some(&state), 1).is_err());
        assert!(!state.exists());
        // The state directory made on fallback is private.
        ensure_private_dir(&state).unwrap();
        assert_eq!(
            fs::metadata(&state).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let p = write_in(&state, &e, 1).unwrap();
        assert!(p.starts_with(&state));
        // A symlink where the state directory should be is refused.
        let link = dir.path().join("linked");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        assert!(ensure_private_dir(&link).is_err());
    }

    #[test]
    fn state_dir_follows_xdg() {
        assert_eq!(
            state_dir(Some("/x/state"), Some("/home/u")),
            Some(PathBuf::from("/x/state/netview"))
        );
        assert_eq!(
            state_dir(Some("relative"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/netview"))
        );
        assert_eq!(state_dir(None, None), None);
    }
}
