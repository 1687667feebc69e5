//! Every key binding, in one table. `update` maps keys through the [`KeyMap`] built from it
//! (with the config file's remaps applied) and the help overlay and status bar are generated
//! from the same map, so they cannot drift apart.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::lab::spec::NetworkMode;

/// What a key does in the normal (browsing) mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Down,
    Up,
    Top,
    Bottom,
    PageDown,
    PageUp,
    FocusNext,
    FocusPrev,
    FocusNamespaces,
    FocusTable,
    NextTab,
    PrevTab,
    /// Matrix: a page of target columns to the left / right.
    ScrollLeft,
    ScrollRight,
    /// Go to tab N (0-based).
    GoTab(usize),
    StartFilter,
    /// Close the help, or clear the filter.
    Clear,
    Refresh,
    /// Lab bench: new container (mode chooser, then the form).
    NewContainer,
    /// Lab bench: remove the selected container.
    RemoveContainer,
    /// Lab bench: the whole world up or down.
    LabToggle,
    /// Run the probes.
    Probe,
    /// Mark (or unmark) the selected namespace for the probes.
    Mark,
    /// The guided tour of the study post.
    Tour,
    /// Open what is under the cursor (a matrix cell's explanation, a container's namespace).
    Open,
    /// Write the current tab to a file (topology as dot, the matrix as markdown, tables as
    /// text).
    Export,
    /// Ctrl-C: tear down what this session made and leave (while a lab job runs, it asks
    /// first, as `q` does).
    Interrupt,
}

/// Keys in a dialog (chooser, confirmation, error, explanation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogAction {
    Yes,
    No,
    /// Quit dialog: keep the lab.
    Keep,
    /// Quit while a lab job runs: let it finish, then quit.
    Wait,
    /// Quit while a lab job runs: stop it and roll back what it made, then quit.
    CancelJob,
    Up,
    Down,
    Left,
    Right,
    /// The explanation: scroll down or up.
    PageDown,
    PageUp,
}

/// Keys in the new-container form (other printable keys are typed into the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormAction {
    Next,
    Prev,
    Toggle,
    ToggleBack,
    Backspace,
    Submit,
    Cancel,
}

/// Keys of the tour panel (checked before the browsing keys while the tour is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TourAction {
    Build,
    Next,
    Leave,
}

/// What a key does while the filter is being typed (other printable keys are typed in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAction {
    Accept,
    Clear,
    Backspace,
    Quit,
}

/// One key: a code and its modifiers (Shift is ignored for characters, since the character
/// already says it: `G`, `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

const fn plain(code: KeyCode) -> Key {
    Key {
        code,
        modifiers: KeyModifiers::NONE,
    }
}

const fn ch(c: char) -> Key {
    plain(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        modifiers: KeyModifiers::CONTROL,
    }
}

/// The keys a config file can name by a word, as it writes them (the first spelling of a key
/// is the one [`Key::name`] gives).
const NAMED: &[(&str, KeyCode)] = &[
    ("Space", KeyCode::Char(' ')),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("PgUp", KeyCode::PageUp),
    ("PageUp", KeyCode::PageUp),
    ("PgDn", KeyCode::PageDown),
    ("PageDown", KeyCode::PageDown),
    ("Tab", KeyCode::Tab),
    ("Shift-Tab", KeyCode::BackTab),
    ("BackTab", KeyCode::BackTab),
    ("Esc", KeyCode::Esc),
    ("Escape", KeyCode::Esc),
    ("Enter", KeyCode::Enter),
    ("Return", KeyCode::Enter),
    ("Backspace", KeyCode::Backspace),
    ("Delete", KeyCode::Delete),
    ("Insert", KeyCode::Insert),
    ("↑", KeyCode::Up),
    ("↓", KeyCode::Down),
    ("←", KeyCode::Left),
    ("→", KeyCode::Right),
];

/// Why a key's name in the config was refused (one plain sentence each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyNameError {
    #[error("an empty key name")]
    Empty,
    #[error("unknown key {0:?} (a single character, Ctrl-x, Alt-x, F1 to F12, or one of Space, Up, Down, Left, Right, Home, End, PgUp, PgDn, Tab, Shift-Tab, Esc, Enter, Backspace, Delete, Insert)")]
    Unknown(String),
    #[error("{0:?}: write the character itself (G, not Shift-g); Shift goes only with Tab")]
    Shift(String),
}

impl Key {
    /// Shift is part of a character (or of BackTab itself), so it does not tell keys apart.
    fn canonical(&self) -> Key {
        match self.code {
            KeyCode::Char(_) | KeyCode::BackTab => Key {
                code: self.code,
                modifiers: self.modifiers - KeyModifiers::SHIFT,
            },
            _ => *self,
        }
    }

    /// Whether two keys are the same key (`G` is `G` with or without Shift).
    pub fn same(&self, other: &Key) -> bool {
        self.canonical() == other.canonical()
    }

    pub fn matches(&self, ev: &KeyEvent) -> bool {
        self.same(&Key {
            code: ev.code,
            modifiers: ev.modifiers,
        })
    }

    /// A key as a config file names it: `j`, `G`, `?`, `Space`, `Down`, `PgDn`, `Ctrl-d`,
    /// `Alt-x`, `F5`, `Shift-Tab`. Words are matched without regard to case.
    pub fn parse(text: &str) -> Result<Key, KeyNameError> {
        if text.is_empty() {
            return Err(KeyNameError::Empty);
        }
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 5 && lower.starts_with("ctrl-") {
                modifiers |= KeyModifiers::CONTROL;
                rest = &rest[5..];
            } else if rest.chars().count() > 4 && lower.starts_with("alt-") {
                modifiers |= KeyModifiers::ALT;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        if let (Some(c), None) = (chars.next(), chars.clone().next()) {
            // Ctrl-D and Ctrl-d are one key: terminals report the letter in lower case.
            let c = if modifiers.is_empty() {
                c
            } else {
                c.to_ascii_lowercase()
            };
            return Ok(Key {
                code: KeyCode::Char(c),
                modifiers,
            });
        }
        if let Some((_, code)) = NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(rest)) {
            if *code == KeyCode::BackTab {
                modifiers |= KeyModifiers::SHIFT;
            }
            return Ok(Key {
                code: *code,
                modifiers,
            });
        }
        if let Some(n) = rest
            .strip_prefix(['F', 'f'])
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=12).contains(n))
        {
            return Ok(Key {
                code: KeyCode::F(n),
                modifiers,
            });
        }
        if rest.to_ascii_lowercase().starts_with("shift-") {
            return Err(KeyNameError::Shift(text.to_string()));
        }
        Err(KeyNameError::Unknown(text.to_string()))
    }

    /// The key's code as a config file writes it, without modifiers.
    fn code_name(&self) -> String {
        match self.code {
            KeyCode::Char(c) if c != ' ' => c.to_string(),
            KeyCode::F(n) => format!("F{n}"),
            code => NAMED
                .iter()
                .find(|(_, k)| *k == code)
                .map_or_else(|| format!("{code:?}"), |(n, _)| n.to_string()),
        }
    }

    /// The key as a config file writes it; [`Key::parse`] reads it back.
    pub fn name(&self) -> String {
        let base = self.code_name();
        let mut out = String::new();
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            out.push_str("Ctrl-");
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            out.push_str("Alt-");
        }
        out + &base
    }

    /// How the help overlay writes this key.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::BackTab => "Shift-Tab".into(),
            _ => self.code_name(),
        };
        let mut out = String::new();
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            out.push_str("Ctrl-");
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            out.push_str("Alt-");
        }
        if out.is_empty() {
            base
        } else if base.chars().count() == 1 {
            out + &base.to_uppercase()
        } else {
            out + &base
        }
    }
}

/// A row of the built-in key table: the keys, what they do, the name a config file gives it,
/// and the words the help shows.
#[derive(Debug, Clone, Copy)]
pub struct Binding<A: 'static> {
    pub keys: &'static [Key],
    pub action: A,
    pub name: &'static str,
    pub help: &'static str,
}

impl<A> Binding<A> {
    /// The keys as the help shows them, e.g. `j ↓`.
    pub fn keys_label(&self) -> String {
        label_of(self.keys)
    }
}

fn label_of(keys: &[Key]) -> String {
    keys.iter().map(Key::label).collect::<Vec<_>>().join(" ")
}

/// Keys while browsing.
pub const BINDINGS: &[Binding<Action>] = &[
    Binding {
        keys: &[ch('j'), plain(KeyCode::Down)],
        action: Action::Down,
        name: "down",
        help: "next row / namespace",
    },
    Binding {
        keys: &[ch('k'), plain(KeyCode::Up)],
        action: Action::Up,
        name: "up",
        help: "previous row / namespace",
    },
    Binding {
        keys: &[ch('g'), plain(KeyCode::Home)],
        action: Action::Top,
        name: "top",
        help: "first row",
    },
    Binding {
        keys: &[ch('G'), plain(KeyCode::End)],
        action: Action::Bottom,
        name: "bottom",
        help: "last row",
    },
    Binding {
        keys: &[plain(KeyCode::PageDown), ctrl('d')],
        action: Action::PageDown,
        name: "page_down",
        help: "page down",
    },
    Binding {
        keys: &[plain(KeyCode::PageUp), ctrl('u')],
        action: Action::PageUp,
        name: "page_up",
        help: "page up",
    },
    Binding {
        keys: &[ch('h'), plain(KeyCode::Left)],
        action: Action::FocusNamespaces,
        name: "focus_namespaces",
        help: "focus the namespace list",
    },
    Binding {
        keys: &[ch('l'), plain(KeyCode::Right)],
        action: Action::FocusTable,
        name: "focus_table",
        help: "focus the tab's table",
    },
    Binding {
        keys: &[plain(KeyCode::Tab)],
        action: Action::FocusNext,
        name: "focus_next",
        help: "next pane",
    },
    Binding {
        keys: &[Key {
            code: KeyCode::BackTab,
            modifiers: KeyModifiers::SHIFT,
        }],
        action: Action::FocusPrev,
        name: "focus_prev",
        help: "previous pane",
    },
    Binding {
        keys: &[ch(']')],
        action: Action::NextTab,
        name: "next_tab",
        help: "next tab",
    },
    Binding {
        keys: &[ch('[')],
        action: Action::PrevTab,
        name: "prev_tab",
        help: "previous tab",
    },
    Binding {
        keys: &[ch('<')],
        action: Action::ScrollLeft,
        name: "scroll_left",
        help: "matrix: columns left",
    },
    Binding {
        keys: &[ch('>')],
        action: Action::ScrollRight,
        name: "scroll_right",
        help: "matrix: columns right",
    },
    Binding {
        keys: &[ch('1')],
        action: Action::GoTab(0),
        name: "tab_links",
        help: "Links tab",
    },
    Binding {
        keys: &[ch('2')],
        action: Action::GoTab(1),
        name: "tab_addresses",
        help: "Addresses tab",
    },
    Binding {
        keys: &[ch('3')],
        action: Action::GoTab(2),
        name: "tab_routes",
        help: "Routes tab",
    },
    Binding {
        keys: &[ch('4')],
        action: Action::GoTab(3),
        name: "tab_neighbours",
        help: "Neighbours tab",
    },
    Binding {
        keys: &[ch('5')],
        action: Action::GoTab(4),
        name: "tab_bridges",
        help: "Bridges tab",
    },
    Binding {
        keys: &[ch('6')],
        action: Action::GoTab(5),
        name: "tab_nat",
        help: "NAT tab",
    },
    Binding {
        keys: &[ch('7')],
        action: Action::GoTab(6),
        name: "tab_filter",
        help: "Filter tab",
    },
    Binding {
        keys: &[ch('8')],
        action: Action::GoTab(7),
        name: "tab_topology",
        help: "Topology tab",
    },
    Binding {
        keys: &[ch('9')],
        action: Action::GoTab(8),
        name: "tab_matrix",
        help: "Matrix tab (probes)",
    },
    Binding {
        keys: &[ch('0')],
        action: Action::GoTab(9),
        name: "tab_lab",
        help: "Lab tab (picture)",
    },
    Binding {
        keys: &[ch('n')],
        action: Action::NewContainer,
        name: "new_container",
        help: "new lab container",
    },
    Binding {
        keys: &[ch('x')],
        action: Action::RemoveContainer,
        name: "remove_container",
        help: "remove the container",
    },
    Binding {
        keys: &[ch('L')],
        action: Action::LabToggle,
        name: "lab_toggle",
        help: "bring the lab up / down",
    },
    Binding {
        keys: &[ch('p')],
        action: Action::Probe,
        name: "probe",
        help: "run the probes (matrix)",
    },
    Binding {
        keys: &[ch(' ')],
        action: Action::Mark,
        name: "mark",
        help: "mark a namespace for p",
    },
    Binding {
        keys: &[ch('t')],
        action: Action::Tour,
        name: "tour",
        help: "tour of the study post",
    },
    Binding {
        keys: &[plain(KeyCode::Enter)],
        action: Action::Open,
        name: "open",
        help: "explain the matrix cell",
    },
    Binding {
        keys: &[ch('e')],
        action: Action::Export,
        name: "export",
        help: "write the tab to a file",
    },
    Binding {
        keys: &[ch('/')],
        action: Action::StartFilter,
        name: "start_filter",
        help: "filter rows, namespaces",
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        action: Action::Clear,
        name: "clear",
        help: "close help, clear filter",
    },
    Binding {
        keys: &[ch('r')],
        action: Action::Refresh,
        name: "refresh",
        help: "re-read every namespace",
    },
    Binding {
        keys: &[ch('?')],
        action: Action::Help,
        name: "help",
        help: "show / hide this help",
    },
    Binding {
        keys: &[ch('q')],
        action: Action::Quit,
        name: "quit",
        help: "quit (asks: keep lab?)",
    },
    Binding {
        keys: &[ctrl('c')],
        action: Action::Interrupt,
        name: "interrupt",
        help: "quit, tear down session",
    },
];

/// Keys in dialogs.
pub const DIALOG_BINDINGS: &[Binding<DialogAction>] = &[
    Binding {
        keys: &[plain(KeyCode::Enter), ch('y')],
        action: DialogAction::Yes,
        name: "yes",
        help: "yes / choose / close",
    },
    Binding {
        keys: &[plain(KeyCode::Esc), ch('n')],
        action: DialogAction::No,
        name: "no",
        help: "no / cancel",
    },
    Binding {
        keys: &[ch('k')],
        action: DialogAction::Keep,
        name: "keep",
        help: "quit: keep the lab",
    },
    Binding {
        keys: &[ch('w')],
        action: DialogAction::Wait,
        name: "wait",
        help: "quit: wait for the job",
    },
    Binding {
        keys: &[ch('c')],
        action: DialogAction::CancelJob,
        name: "cancel_job",
        help: "quit: cancel, roll back",
    },
    Binding {
        keys: &[plain(KeyCode::Up)],
        action: DialogAction::Up,
        name: "up",
        help: "previous choice / row",
    },
    Binding {
        keys: &[plain(KeyCode::Down), ch('j')],
        action: DialogAction::Down,
        name: "down",
        help: "next choice / row",
    },
    Binding {
        keys: &[plain(KeyCode::Left), ch('h')],
        action: DialogAction::Left,
        name: "left",
        help: "previous column",
    },
    Binding {
        keys: &[plain(KeyCode::Right), ch('l')],
        action: DialogAction::Right,
        name: "right",
        help: "next column",
    },
    Binding {
        keys: &[plain(KeyCode::PageDown)],
        action: DialogAction::PageDown,
        name: "page_down",
        help: "explanation: scroll down",
    },
    Binding {
        keys: &[plain(KeyCode::PageUp)],
        action: DialogAction::PageUp,
        name: "page_up",
        help: "explanation: scroll up",
    },
];

/// Keys in the new-container form.
pub const FORM_BINDINGS: &[Binding<FormAction>] = &[
    Binding {
        keys: &[plain(KeyCode::Down), plain(KeyCode::Tab)],
        action: FormAction::Next,
        name: "next",
        help: "next field",
    },
    Binding {
        keys: &[
            plain(KeyCode::Up),
            Key {
                code: KeyCode::BackTab,
                modifiers: KeyModifiers::SHIFT,
            },
        ],
        action: FormAction::Prev,
        name: "prev",
        help: "previous field",
    },
    Binding {
        keys: &[ch(' '), plain(KeyCode::Right)],
        action: FormAction::Toggle,
        name: "toggle",
        help: "flip a flag, next choice",
    },
    Binding {
        keys: &[plain(KeyCode::Left)],
        action: FormAction::ToggleBack,
        name: "toggle_back",
        help: "previous choice",
    },
    Binding {
        keys: &[plain(KeyCode::Backspace)],
        action: FormAction::Backspace,
        name: "backspace",
        help: "delete a character",
    },
    Binding {
        keys: &[plain(KeyCode::Enter)],
        action: FormAction::Submit,
        name: "submit",
        help: "create (when valid)",
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        action: FormAction::Cancel,
        name: "cancel",
        help: "cancel",
    },
];

/// Keys of the tour panel.
pub const TOUR_BINDINGS: &[Binding<TourAction>] = &[
    Binding {
        keys: &[ch('b')],
        action: TourAction::Build,
        name: "build",
        help: "tour: build, probe",
    },
    Binding {
        keys: &[ch(' ')],
        action: TourAction::Next,
        name: "next",
        help: "tour: next step",
    },
    Binding {
        keys: &[ch('T')],
        action: TourAction::Leave,
        name: "leave",
        help: "tour: leave it",
    },
];

/// Keys of the mode chooser: a mode's first letter chooses it (`n` is none there, not "no").
pub const MODE_BINDINGS: &[Binding<NetworkMode>] = &[
    Binding {
        keys: &[ch('b')],
        action: NetworkMode::Bridge,
        name: "bridge",
        help: "bridge container",
    },
    Binding {
        keys: &[ch('h')],
        action: NetworkMode::Host,
        name: "host",
        help: "host-mode container",
    },
    Binding {
        keys: &[ch('n')],
        action: NetworkMode::None,
        name: "none",
        help: "none container",
    },
    Binding {
        keys: &[ch('m')],
        action: NetworkMode::Macvlan,
        name: "macvlan",
        help: "macvlan container",
    },
    Binding {
        keys: &[ch('i')],
        action: NetworkMode::Ipvlan,
        name: "ipvlan",
        help: "ipvlan container",
    },
];

/// Keys while typing a filter. Any other printable character is added to the filter.
pub const FILTER_BINDINGS: &[Binding<FilterAction>] = &[
    Binding {
        keys: &[plain(KeyCode::Enter)],
        action: FilterAction::Accept,
        name: "accept",
        help: "keep filter, browse",
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        action: FilterAction::Clear,
        name: "clear",
        help: "clear the filter",
    },
    Binding {
        keys: &[plain(KeyCode::Backspace)],
        action: FilterAction::Backspace,
        name: "backspace",
        help: "delete a character",
    },
    Binding {
        keys: &[ctrl('c')],
        action: FilterAction::Quit,
        name: "quit",
        help: "quit",
    },
];

/// A row of the key map in use: the built-in row, with the keys the config gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound<A> {
    pub keys: Vec<Key>,
    pub action: A,
    pub name: &'static str,
    pub help: &'static str,
}

impl<A> Bound<A> {
    /// The keys as the help shows them, e.g. `j ↓`.
    pub fn keys_label(&self) -> String {
        label_of(&self.keys)
    }
}

fn owned<A: Copy>(table: &[Binding<A>]) -> Vec<Bound<A>> {
    table
        .iter()
        .map(|b| Bound {
            keys: b.keys.to_vec(),
            action: b.action,
            name: b.name,
            help: b.help,
        })
        .collect()
}

/// The modes of the key table, as a config file names them (`[keys.browse]`, ...).
pub const MODES: [&str; 5] = ["browse", "filter", "tour", "dialog", "form"];

/// Why a remap was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemapError {
    #[error("unknown key table {0:?} (expected one of browse, filter, tour, dialog, form)")]
    UnknownMode(String),
    #[error("unknown action {name:?} in [keys.{mode}]")]
    UnknownAction { mode: &'static str, name: String },
    #[error("an action needs at least one key")]
    NoKeys,
}

/// One key bound to two actions of one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub mode: &'static str,
    pub key: Key,
    pub first: &'static str,
    pub second: &'static str,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.second {
            write!(
                f,
                "key {} is listed twice for {}",
                self.key.name(),
                self.first
            )
        } else {
            write!(
                f,
                "key {} is bound to both {} and {} in [keys.{}]",
                self.key.name(),
                self.first,
                self.second,
                self.mode
            )
        }
    }
}

/// One row of a mode, as the config template writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowInfo {
    pub name: &'static str,
    pub help: &'static str,
    pub keys: Vec<Key>,
}

/// The key map in use: the built-in table ([`BINDINGS`] and the others) with the config's
/// remaps applied. `update`, the help overlay, the dialogs and the status bar all read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    pub browse: Vec<Bound<Action>>,
    pub filter: Vec<Bound<FilterAction>>,
    pub tour: Vec<Bound<TourAction>>,
    pub dialog: Vec<Bound<DialogAction>>,
    pub form: Vec<Bound<FormAction>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap {
            browse: owned(BINDINGS),
            filter: owned(FILTER_BINDINGS),
            tour: owned(TOUR_BINDINGS),
            dialog: owned(DIALOG_BINDINGS),
            form: owned(FORM_BINDINGS),
        }
    }
}

fn set_keys<A>(
    rows: &mut [Bound<A>],
    mode: &'static str,
    name: &str,
    keys: Vec<Key>,
) -> Result<(), RemapError> {
    let row =
        rows.iter_mut()
            .find(|b| b.name == name)
            .ok_or_else(|| RemapError::UnknownAction {
                mode,
                name: name.to_string(),
            })?;
    row.keys = keys;
    Ok(())
}

fn first_duplicate<A>(mode: &'static str, rows: &[Bound<A>]) -> Option<Duplicate> {
    for (i, a) in rows.iter().enumerate() {
        for (j, k) in a.keys.iter().enumerate() {
            if a.keys[j + 1..].iter().any(|o| o.same(k)) {
                return Some(Duplicate {
                    mode,
                    key: *k,
                    first: a.name,
                    second: a.name,
                });
            }
            if let Some(b) = rows[i + 1..]
                .iter()
                .find(|b| b.keys.iter().any(|o| o.same(k)))
            {
                return Some(Duplicate {
                    mode,
                    key: *k,
                    first: a.name,
                    second: b.name,
                });
            }
        }
    }
    None
}

fn lookup<A: Copy>(rows: &[Bound<A>], ev: &KeyEvent) -> Option<A> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    rows.iter()
        .find(|b| b.keys.iter().any(|k| k.matches(ev)))
        .map(|b| b.action)
}

/// A printable character with no Ctrl or Alt: typed into a field or the filter.
fn typed(ev: &KeyEvent) -> Option<char> {
    match ev.code {
        KeyCode::Char(c)
            if ev.kind != KeyEventKind::Release
                && !ev
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

fn labels_for<A: PartialEq>(rows: &[Bound<A>], action: A) -> Vec<String> {
    rows.iter()
        .filter(|b| b.action == action)
        .flat_map(|b| b.keys.iter().map(Key::label))
        .collect()
}

fn infos<A>(rows: &[Bound<A>]) -> Vec<RowInfo> {
    rows.iter()
        .map(|b| RowInfo {
            name: b.name,
            help: b.help,
            keys: b.keys.clone(),
        })
        .collect()
}

/// The mode a key chooses in the mode chooser, if any.
pub fn mode_for(ev: &KeyEvent) -> Option<NetworkMode> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    MODE_BINDINGS
        .iter()
        .find(|b| b.keys.iter().any(|k| k.matches(ev)))
        .map(|b| b.action)
}

impl KeyMap {
    /// Give the action `name` of `mode` these keys instead of its own.
    pub fn remap(&mut self, mode: &str, name: &str, keys: Vec<Key>) -> Result<(), RemapError> {
        if keys.is_empty() {
            return Err(RemapError::NoKeys);
        }
        match mode {
            "browse" => set_keys(&mut self.browse, "browse", name, keys),
            "filter" => set_keys(&mut self.filter, "filter", name, keys),
            "tour" => set_keys(&mut self.tour, "tour", name, keys),
            "dialog" => set_keys(&mut self.dialog, "dialog", name, keys),
            "form" => set_keys(&mut self.form, "form", name, keys),
            other => Err(RemapError::UnknownMode(other.to_string())),
        }
    }

    /// The first key bound twice within one mode, if any (modes are apart: the tour's Space
    /// is checked before browsing's, so it may be both).
    pub fn duplicate(&self) -> Option<Duplicate> {
        first_duplicate("browse", &self.browse)
            .or_else(|| first_duplicate("filter", &self.filter))
            .or_else(|| first_duplicate("tour", &self.tour))
            .or_else(|| first_duplicate("dialog", &self.dialog))
            .or_else(|| first_duplicate("form", &self.form))
    }

    /// Every mode's rows in [`MODES`] order, for the config template.
    pub fn describe(&self) -> Vec<(&'static str, Vec<RowInfo>)> {
        vec![
            ("browse", infos(&self.browse)),
            ("filter", infos(&self.filter)),
            ("tour", infos(&self.tour)),
            ("dialog", infos(&self.dialog)),
            ("form", infos(&self.form)),
        ]
    }

    /// The browsing action for a key, if any.
    pub fn action_for(&self, ev: &KeyEvent) -> Option<Action> {
        lookup(&self.browse, ev)
    }

    /// The keys of a browsing action as the help writes them (`?`, `j ↓`); empty when the
    /// action has no row.
    pub fn keys_of(&self, action: Action) -> String {
        self.browse
            .iter()
            .find(|b| b.action == action)
            .map(Bound::keys_label)
            .unwrap_or_default()
    }

    /// The first key of a browsing action, for short hints (`?:help`).
    pub fn first_key(&self, action: Action) -> String {
        self.browse
            .iter()
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first())
            .map(Key::label)
            .unwrap_or_default()
    }

    /// The dialog action for a key, if any.
    pub fn dialog_action(&self, ev: &KeyEvent) -> Option<DialogAction> {
        lookup(&self.dialog, ev)
    }

    /// The keys of a dialog action as the help writes them (dialogs name their keys with it).
    pub fn dialog_keys(&self, action: DialogAction) -> String {
        self.dialog
            .iter()
            .filter(|b| b.action == action)
            .map(Bound::keys_label)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Each key of a dialog action as the help writes it (`["Enter", "y"]`).
    pub fn dialog_labels(&self, action: DialogAction) -> Vec<String> {
        labels_for(&self.dialog, action)
    }

    /// Each key of a form action as the help writes it.
    pub fn form_labels(&self, action: FormAction) -> Vec<String> {
        labels_for(&self.form, action)
    }

    /// The keys of a tour action as the help writes them.
    pub fn tour_keys(&self, action: TourAction) -> String {
        self.tour
            .iter()
            .find(|b| b.action == action)
            .map(Bound::keys_label)
            .unwrap_or_default()
    }

    /// The tour action for a key, if any.
    pub fn tour_action(&self, ev: &KeyEvent) -> Option<TourAction> {
        lookup(&self.tour, ev)
    }

    /// What a key does in the form: an action, or a character to type.
    pub fn form_input(&self, ev: &KeyEvent) -> Option<Result<FormAction, char>> {
        lookup(&self.form, ev)
            .map(Ok)
            .or_else(|| typed(ev).map(Err))
    }

    /// What a key does while typing a filter: an action, or a character to type.
    pub fn filter_input(&self, ev: &KeyEvent) -> Option<Result<FilterAction, char>> {
        lookup(&self.filter, ev)
            .map(Ok)
            .or_else(|| typed(ev).map(Err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    fn map() -> KeyMap {
        KeyMap::default()
    }

    #[test]
    fn vim_and_arrow_keys_map_to_the_same_action() {
        let m = map();
        assert_eq!(
            m.action_for(&key(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            m.action_for(&key(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        // Terminals report `G` with Shift; it still means Bottom.
        assert_eq!(
            m.action_for(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            m.action_for(&key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::FocusPrev)
        );
        assert_eq!(
            m.action_for(&key(KeyCode::BackTab, KeyModifiers::NONE)),
            Some(Action::FocusPrev)
        );
    }

    #[test]
    fn ctrl_c_quits_but_plain_c_does_nothing() {
        let m = map();
        assert_eq!(
            m.action_for(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Interrupt)
        );
        assert_eq!(
            m.action_for(&key(KeyCode::Char('c'), KeyModifiers::NONE)),
            None
        );
        // Ctrl-J is not j.
        assert_eq!(
            m.action_for(&key(KeyCode::Char('j'), KeyModifiers::CONTROL)),
            None
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_the_built_in_table() {
        assert_eq!(map().duplicate(), None);
    }

    #[test]
    fn every_action_has_a_distinct_name_in_its_mode() {
        for (mode, rows) in map().describe() {
            for (i, a) in rows.iter().enumerate() {
                assert!(
                    rows[i + 1..].iter().all(|b| b.name != a.name),
                    "{mode}: {} twice",
                    a.name
                );
            }
        }
    }

    #[test]
    fn filter_mode_types_characters_that_are_bindings_elsewhere() {
        let m = map();
        assert_eq!(
            m.filter_input(&key(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Err('q'))
        );
        assert_eq!(
            m.filter_input(&key(KeyCode::Esc, KeyModifiers::NONE)),
            Some(Ok(FilterAction::Clear))
        );
        assert_eq!(
            m.filter_input(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Ok(FilterAction::Quit))
        );
    }

    #[test]
    fn dialog_keys_are_named() {
        let m = map();
        assert_eq!(m.dialog_keys(DialogAction::CancelJob), "c");
        assert_eq!(m.dialog_keys(DialogAction::No), "Esc n");
    }

    #[test]
    fn each_mode_is_chosen_by_its_first_letter() {
        for mode in crate::ui::form::MODES {
            let first = mode.to_string().chars().next().unwrap_or(' ');
            let ev = key(KeyCode::Char(first), KeyModifiers::NONE);
            assert_eq!(mode_for(&ev), Some(mode), "{mode}");
        }
        assert_eq!(MODE_BINDINGS.len(), crate::ui::form::MODES.len());
    }

    #[test]
    fn labels_read_like_keys() {
        assert_eq!(ctrl('c').label(), "Ctrl-C");
        assert_eq!(BINDINGS[0].keys_label(), "j ↓");
        assert_eq!(
            Key {
                code: KeyCode::PageDown,
                modifiers: KeyModifiers::CONTROL
            }
            .label(),
            "Ctrl-PgDn"
        );
    }

    #[test]
    fn every_built_in_key_reads_back_from_its_name() {
        for (_, rows) in map().describe() {
            for row in rows {
                for k in row.keys {
                    let back = Key::parse(&k.name()).unwrap();
                    assert!(back.same(&k), "{k:?} -> {:?} -> {back:?}", k.name());
                }
            }
        }
    }

    #[test]
    fn key_names_parse() {
        assert_eq!(Key::parse("j"), Ok(ch('j')));
        assert_eq!(Key::parse("G"), Ok(ch('G')));
        assert_eq!(Key::parse("space"), Ok(ch(' ')));
        assert_eq!(Key::parse("Ctrl-D"), Ok(ctrl('d')));
        assert_eq!(Key::parse("ctrl-d"), Ok(ctrl('d')));
        assert_eq!(Key::parse("F5"), Ok(plain(KeyCode::F(5))));
        assert_eq!(Key::parse("PageDown"), Ok(plain(KeyCode::PageDown)));
        assert_eq!(Key::parse("-"), Ok(ch('-')));
        assert!(matches!(Key::parse("F13"), Err(KeyNameError::Unknown(_))));
        assert!(matches!(
            Key::parse("Hyper-x"),
            Err(KeyNameError::Unknown(_))
        ));
        assert!(matches!(Key::parse("Shift-g"), Err(KeyNameError::Shift(_))));
        assert_eq!(Key::parse(""), Err(KeyNameError::Empty));
    }

    #[test]
    fn a_remap_moves_the_action_and_frees_its_old_key() {
        let mut m = map();
        m.remap("browse", "help", vec![ch('h'), plain(KeyCode::F(1))])
            .unwrap();
        // h was the namespace list's: now bound twice.
        let dup = m.duplicate().unwrap();
        assert_eq!((dup.first, dup.second), ("focus_namespaces", "help"));
        m.remap("browse", "focus_namespaces", vec![plain(KeyCode::Left)])
            .unwrap();
        assert_eq!(m.duplicate(), None);
        assert_eq!(
            m.action_for(&key(KeyCode::F(1), KeyModifiers::NONE)),
            Some(Action::Help)
        );
        assert_eq!(
            m.action_for(&key(KeyCode::Char('?'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(m.keys_of(Action::Help), "h F1");
    }

    #[test]
    fn a_key_listed_twice_for_one_action_is_a_duplicate() {
        let mut m = map();
        m.remap("tour", "build", vec![ch('b'), ch('b')]).unwrap();
        let dup = m.duplicate().unwrap();
        assert_eq!(dup.to_string(), "key b is listed twice for build");
    }

    #[test]
    fn remaps_of_unknown_names_are_refused() {
        let mut m = map();
        assert_eq!(
            m.remap("browse", "fly", vec![ch('f')]),
            Err(RemapError::UnknownAction {
                mode: "browse",
                name: "fly".into()
            })
        );
        assert_eq!(
            m.remap("nowhere", "quit", vec![ch('f')]),
            Err(RemapError::UnknownMode("nowhere".into()))
        );
        assert_eq!(m.remap("browse", "quit", vec![]), Err(RemapError::NoKeys));
    }
}
