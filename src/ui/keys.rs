//! Every key binding, in one table. `update` maps keys through it and the help overlay is
//! generated from it, so the two cannot drift apart.

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

impl Key {
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let significant = |m: KeyModifiers, code: &KeyCode| match code {
            // Shift is part of the character (or of BackTab itself).
            KeyCode::Char(_) | KeyCode::BackTab => m - KeyModifiers::SHIFT,
            _ => m,
        };
        self.code == ev.code
            && significant(self.modifiers, &self.code) == significant(ev.modifiers, &ev.code)
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
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Backspace => "Backspace".into(),
            other => format!("{other:?}"),
        };
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{}", base.to_uppercase())
        } else {
            base
        }
    }
}

/// A row of the key table: the keys, what they do, and the words the help shows.
#[derive(Debug, Clone, Copy)]
pub struct Binding<A: 'static> {
    pub keys: &'static [Key],
    pub action: A,
    pub help: &'static str,
}

impl<A> Binding<A> {
    /// The keys as the help shows them, e.g. `j ↓`.
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(Key::label)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Keys while browsing.
pub const BINDINGS: &[Binding<Action>] = &[
    Binding {
        keys: &[ch('j'), plain(KeyCode::Down)],
        action: Action::Down,
        help: "next row / namespace",
    },
    Binding {
        keys: &[ch('k'), plain(KeyCode::Up)],
        action: Action::Up,
        help: "previous row / namespace",
    },
    Binding {
        keys: &[ch('g'), plain(KeyCode::Home)],
        action: Action::Top,
        help: "first row",
    },
    Binding {
        keys: &[ch('G'), plain(KeyCode::End)],
        action: Action::Bottom,
        help: "last row",
    },
    Binding {
        keys: &[plain(KeyCode::PageDown), ctrl('d')],
        action: Action::PageDown,
        help: "page down",
    },
    Binding {
        keys: &[plain(KeyCode::PageUp), ctrl('u')],
        action: Action::PageUp,
        help: "page up",
    },
    Binding {
        keys: &[ch('h'), plain(KeyCode::Left)],
        action: Action::FocusNamespaces,
        help: "focus the namespace list",
    },
    Binding {
        keys: &[ch('l'), plain(KeyCode::Right)],
        action: Action::FocusTable,
        help: "focus the tab's table",
    },
    Binding {
        keys: &[plain(KeyCode::Tab)],
        action: Action::FocusNext,
        help: "next pane",
    },
    Binding {
        keys: &[Key {
            code: KeyCode::BackTab,
            modifiers: KeyModifiers::SHIFT,
        }],
        action: Action::FocusPrev,
        help: "previous pane",
    },
    Binding {
        keys: &[ch(']')],
        action: Action::NextTab,
        help: "next tab",
    },
    Binding {
        keys: &[ch('[')],
        action: Action::PrevTab,
        help: "previous tab",
    },
    Binding {
        keys: &[ch('<')],
        action: Action::ScrollLeft,
        help: "matrix: columns left",
    },
    Binding {
        keys: &[ch('>')],
        action: Action::ScrollRight,
        help: "matrix: columns right",
    },
    Binding {
        keys: &[ch('1')],
        action: Action::GoTab(0),
        help: "Links tab",
    },
    Binding {
        keys: &[ch('2')],
        action: Action::GoTab(1),
        help: "Addresses tab",
    },
    Binding {
        keys: &[ch('3')],
        action: Action::GoTab(2),
        help: "Routes tab",
    },
    Binding {
        keys: &[ch('4')],
        action: Action::GoTab(3),
        help: "Neighbours tab",
    },
    Binding {
        keys: &[ch('5')],
        action: Action::GoTab(4),
        help: "Bridges tab",
    },
    Binding {
        keys: &[ch('6')],
        action: Action::GoTab(5),
        help: "NAT tab",
    },
    Binding {
        keys: &[ch('7')],
        action: Action::GoTab(6),
        help: "Filter tab",
    },
    Binding {
        keys: &[ch('8')],
        action: Action::GoTab(7),
        help: "Topology tab",
    },
    Binding {
        keys: &[ch('9')],
        action: Action::GoTab(8),
        help: "Matrix tab (probes)",
    },
    Binding {
        keys: &[ch('0')],
        action: Action::GoTab(9),
        help: "Lab tab (picture)",
    },
    Binding {
        keys: &[ch('n')],
        action: Action::NewContainer,
        help: "new lab container",
    },
    Binding {
        keys: &[ch('x')],
        action: Action::RemoveContainer,
        help: "remove the container",
    },
    Binding {
        keys: &[ch('L')],
        action: Action::LabToggle,
        help: "bring the lab up / down",
    },
    Binding {
        keys: &[ch('p')],
        action: Action::Probe,
        help: "run the probes (matrix)",
    },
    Binding {
        keys: &[ch(' ')],
        action: Action::Mark,
        help: "mark a namespace for p",
    },
    Binding {
        keys: &[ch('t')],
        action: Action::Tour,
        help: "tour of the study post",
    },
    Binding {
        keys: &[plain(KeyCode::Enter)],
        action: Action::Open,
        help: "explain the matrix cell",
    },
    Binding {
        keys: &[ch('/')],
        action: Action::StartFilter,
        help: "filter rows, namespaces",
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        action: Action::Clear,
        help: "close help, clear filter",
    },
    Binding {
        keys: &[ch('r')],
        action: Action::Refresh,
        help: "re-read every namespace",
    },
    Binding {
        keys: &[ch('?')],
        action: Action::Help,
        help: "show / hide this help",
    },
    Binding {
        keys: &[ch('q')],
        action: Action::Quit,
        help: "quit (asks: keep lab?)",
    },
    Binding {
        keys: &[ctrl('c')],
        action: Action::Interrupt,
        help: "quit, tear down session",
    },
];

/// Keys in dialogs.
pub const DIALOG_BINDINGS: &[Binding<DialogAction>] = &[
    Binding {
        keys: &[plain(KeyCode::Enter), ch('y')],
        action: DialogAction::Yes,
        help: "yes / choose / close",
    },
    Binding {
        keys: &[plain(KeyCode::Esc), ch('n')],
        action: DialogAction::No,
        help: "no / cancel",
    },
    Binding {
        keys: &[ch('k')],
        action: DialogAction::Keep,
        help: "quit: keep the lab",
    },
    Binding {
        keys: &[ch('w')],
        action: DialogAction::Wait,
        help: "quit: wait for the job",
    },
    Binding {
        keys: &[ch('c')],
        action: DialogAction::CancelJob,
        help: "quit: cancel, roll back",
    },
    Binding {
        keys: &[plain(KeyCode::Up)],
        action: DialogAction::Up,
        help: "previous choice / row",
    },
    Binding {
        keys: &[plain(KeyCode::Down), ch('j')],
        action: DialogAction::Down,
        help: "next choice / row",
    },
    Binding {
        keys: &[plain(KeyCode::Left), ch('h')],
        action: DialogAction::Left,
        help: "previous column",
    },
    Binding {
        keys: &[plain(KeyCode::Right), ch('l')],
        action: DialogAction::Right,
        help: "next column",
    },
];

/// Keys in the new-container form.
pub const FORM_BINDINGS: &[Binding<FormAction>] = &[
    Binding {
        keys: &[plain(KeyCode::Down), plain(KeyCode::Tab)],
        action: FormAction::Next,
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
        help: "previous field",
    },
    Binding {
        keys: &[ch(' '), plain(KeyCode::Right)],
        action: FormAction::Toggle,
        help: "flip a flag, next choice",
    },
    Binding {
        keys: &[plain(KeyCode::Left)],
        action: FormAction::ToggleBack,
        help: "previous choice",
    },
    Binding {
        keys: &[plain(KeyCode::Backspace)],
        action: FormAction::Backspace,
        help: "delete a character",
    },
    Binding {
        keys: &[plain(KeyCode::Enter)],
        action: FormAction::Submit,
        help: "create (when valid)",
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        action: FormAction::Cancel,
        help: "cancel",
    },
];

/// Keys of the tour panel.
pub const TOUR_BINDINGS: &[Binding<TourAction>] = &[
    Binding {
        keys: &[ch('b')],
        action: TourAction::Build,
        help: "tour: build, probe",
    },
    Binding {
        keys: &[ch(' ')],
        action: TourAction::Next,
        help: "tour: next step",
    },
    Binding {
        keys: &[ch('T')],
        action: TourAction::Leave,
        help: "tour: leave it",
    },
];

/// Keys of the mode chooser: a mode's first letter chooses it (`n` is none there, not "no").
pub const MODE_BINDINGS: &[Binding<NetworkMode>] = &[
    Binding {
        keys: &[ch('b')],
        action: NetworkMode::Bridge,
        help: "bridge container",
    },
    Binding {
        keys: &[ch('h')],
        action: NetworkMode::Host,
        help: "host-mode container",
    },
    Binding {
        keys: &[ch('n')],
        action: NetworkMode::None,
        help: "none container",
    },
    Binding {
        keys: &[ch('m')],
        action: NetworkMode::Macvlan,
        help: "macvlan container",
    },
    Binding {
        keys: &[ch('i')],
        action: NetworkMode::Ipvlan,
        help: "ipvlan container",
    },
];

/// Keys while typing a filter. Any other printable character is added to the filter.
pub const FILTER_BINDINGS: &[Binding<FilterAction>] = &[
    Binding {
        keys: &[plain(KeyCode::Enter)],
        action: FilterAction::Accept,
        help: "keep filter, browse",
    },
    Binding {
        keys: &[plain(KeyCode::Esc)],
        action: FilterAction::Clear,
        help: "clear the filter",
    },
    Binding {
        keys: &[plain(KeyCode::Backspace)],
        action: FilterAction::Backspace,
        help: "delete a character",
    },
    Binding {
        keys: &[ctrl('c')],
        action: FilterAction::Quit,
        help: "quit",
    },
];

fn lookup<A: Copy>(table: &[Binding<A>], ev: &KeyEvent) -> Option<A> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    table
        .iter()
        .find(|b| b.keys.iter().any(|k| k.matches(ev)))
        .map(|b| b.action)
}

/// The dialog action for a key, if any.
pub fn dialog_action(ev: &KeyEvent) -> Option<DialogAction> {
    lookup(DIALOG_BINDINGS, ev)
}

/// The keys of a dialog action as the help writes them (dialogs name their keys with it).
pub fn dialog_keys(action: DialogAction) -> String {
    DIALOG_BINDINGS
        .iter()
        .filter(|b| b.action == action)
        .map(Binding::keys_label)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The mode a key chooses in the mode chooser, if any.
pub fn mode_for(ev: &KeyEvent) -> Option<NetworkMode> {
    lookup(MODE_BINDINGS, ev)
}

/// The tour action for a key, if any.
pub fn tour_action(ev: &KeyEvent) -> Option<TourAction> {
    lookup(TOUR_BINDINGS, ev)
}

/// What a key does in the form: an action, or a character to type.
pub fn form_input(ev: &KeyEvent) -> Option<Result<FormAction, char>> {
    if let Some(a) = lookup(FORM_BINDINGS, ev) {
        return Some(Ok(a));
    }
    match ev.code {
        KeyCode::Char(c)
            if ev.kind != KeyEventKind::Release
                && !ev
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(Err(c))
        }
        _ => None,
    }
}

/// The browsing action for a key, if any.
pub fn action_for(ev: &KeyEvent) -> Option<Action> {
    lookup(BINDINGS, ev)
}

/// What a key does while typing a filter: an action, or a character to type.
pub fn filter_input(ev: &KeyEvent) -> Option<Result<FilterAction, char>> {
    if let Some(a) = lookup(FILTER_BINDINGS, ev) {
        return Some(Ok(a));
    }
    match ev.code {
        KeyCode::Char(c)
            if ev.kind != KeyEventKind::Release
                && !ev
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(Err(c))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn vim_and_arrow_keys_map_to_the_same_action() {
        assert_eq!(
            action_for(&key(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            action_for(&key(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        // Terminals report `G` with Shift; it still means Bottom.
        assert_eq!(
            action_for(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            action_for(&key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::FocusPrev)
        );
        assert_eq!(
            action_for(&key(KeyCode::BackTab, KeyModifiers::NONE)),
            Some(Action::FocusPrev)
        );
    }

    #[test]
    fn ctrl_c_quits_but_plain_c_does_nothing() {
        assert_eq!(
            action_for(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Interrupt)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('c'), KeyModifiers::NONE)),
            None
        );
        // Ctrl-J is not j.
        assert_eq!(
            action_for(&key(KeyCode::Char('j'), KeyModifiers::CONTROL)),
            None
        );
    }

    #[test]
    fn no_key_is_bound_twice() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                for k in a.keys {
                    assert!(!b.keys.contains(k), "{k:?} bound to {a:?} and {b:?}");
                }
            }
        }
    }

    #[test]
    fn filter_mode_types_characters_that_are_bindings_elsewhere() {
        assert_eq!(
            filter_input(&key(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Err('q'))
        );
        assert_eq!(
            filter_input(&key(KeyCode::Esc, KeyModifiers::NONE)),
            Some(Ok(FilterAction::Clear))
        );
        assert_eq!(
            filter_input(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Ok(FilterAction::Quit))
        );
    }

    #[test]
    fn no_dialog_key_is_bound_twice() {
        for (i, a) in DIALOG_BINDINGS.iter().enumerate() {
            for b in &DIALOG_BINDINGS[i + 1..] {
                for k in a.keys {
                    assert!(!b.keys.contains(k), "{k:?} bound to {a:?} and {b:?}");
                }
            }
        }
        assert_eq!(dialog_keys(DialogAction::CancelJob), "c");
        assert_eq!(dialog_keys(DialogAction::No), "Esc n");
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
    }
}
