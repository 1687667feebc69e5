//! Colours and marks, in one place. With `NO_COLOR` set every style drops its colours; what
//! matters is always also said with a mark (selection arrow, focus arrow, `!` for errors, `◆`
//! for netview's own namespaces) or a modifier (bold, reversed), never by colour alone.

use ratatui::style::{Color, Modifier, Style};

/// Marks drawn as text, so they survive a monochrome terminal.
pub const MARK_SELECTED: &str = "▶ ";
pub const MARK_FOCUS: &str = "▶";
pub const MARK_NETVIEW: &str = "◆";
pub const MARK_SELF: &str = "●";
/// A namespace marked (Space) for the probes.
pub const MARK_PROBE: &str = "+";
pub const MARK_ERROR: &str = "!";
pub const MARK_LOADING: &str = "…";
/// A matrix cell whose observation differs from the expectation.
pub const MARK_MISMATCH: &str = "!";
/// A line of the lab picture on the selected cell's path.
pub const MARK_PATH: &str = "»";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Theme { color: true }
    }
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to a non-empty value (https://no-color.org).
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    pub fn monochrome() -> Self {
        Theme { color: false }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            self.fg(Color::DarkGray)
        }
    }

    pub fn header(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// The selected row: reversed in every theme, so it shows without colour too.
    pub fn selected(&self, focused: bool) -> Style {
        let s = Style::new().add_modifier(Modifier::REVERSED);
        if focused {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    }

    pub fn tab_active(&self) -> Style {
        self.fg(Color::Cyan)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warning(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn netview(&self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }

    pub fn status(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Gray)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn filter(&self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }

    /// A matrix cell that came out as the rules expected: green when the path works, plain
    /// when it is expected not to.
    pub fn expected(&self, reached: bool) -> Style {
        if reached {
            self.fg(Color::Green)
        } else {
            self.fg(Color::Blue)
        }
    }

    /// A matrix cell that differs from the expectation (also marked `!`).
    pub fn mismatch(&self) -> Style {
        self.fg(Color::Red)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    /// The selected cell's path in the lab picture (also marked `»`).
    pub fn path(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn state(&self, state: &str) -> Style {
        match state {
            "UP" => self.fg(Color::Green),
            "DOWN" | "LOWERLAYERDOWN" => self.fg(Color::Red),
            _ => Style::new(),
        }
    }
}
