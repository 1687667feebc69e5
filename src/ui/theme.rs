//! Colours and marks, in one place. A theme is a named palette (`dark`, the default; `light`,
//! for terminals with a light background; `monochrome`, no colour at all) with single colours
//! overridden by the config file. With `NO_COLOR` set or `--no-color` every style drops its
//! colours; what matters is always also said with a mark (selection arrow, focus arrow, `!`
//! for errors, `◆` for netview's own namespaces) or a modifier (bold, reversed), never by
//! colour alone.

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

/// The named palettes a config file can choose (`[theme] palette = "light"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaletteName {
    /// For terminals with a dark background (the default).
    #[default]
    Dark,
    /// For terminals with a light background: no yellow or light grey text.
    Light,
    /// No colour: bold, reversed, underlined and dim only.
    Monochrome,
}

impl PaletteName {
    pub const ALL: [PaletteName; 3] = [
        PaletteName::Dark,
        PaletteName::Light,
        PaletteName::Monochrome,
    ];

    /// The name a config file writes.
    pub fn name(self) -> &'static str {
        match self {
            PaletteName::Dark => "dark",
            PaletteName::Light => "light",
            PaletteName::Monochrome => "monochrome",
        }
    }

    pub fn from_name(name: &str) -> Option<PaletteName> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Every colour a theme uses, by what it shows. The config's `[theme.colors]` names these
/// fields; [`Palette::ROLES`] lists them with what they colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// The focused pane's border, the active tab, the selected path.
    pub accent: Color,
    /// Borders of panes without the focus.
    pub border: Color,
    /// Table headers and section titles.
    pub header: Color,
    /// Secondary text.
    pub dim: Color,
    pub error: Color,
    pub warning: Color,
    /// netview's own namespaces.
    pub netview: Color,
    pub status_fg: Color,
    pub status_bg: Color,
    /// The filter, and keys in the help.
    pub filter: Color,
    /// A matrix cell that reached, as expected.
    pub reached: Color,
    /// A matrix cell that did not reach, as expected.
    pub blocked: Color,
    /// A matrix cell that differs from its expectation.
    pub mismatch: Color,
    /// A link that is up.
    pub up: Color,
    /// A link that is down.
    pub down: Color,
}

impl Palette {
    /// Each colour's config name and what it colours, in the template's order.
    pub const ROLES: [(&'static str, &'static str); 15] = [
        (
            "accent",
            "the focused pane's border, the active tab, the selected path",
        ),
        ("border", "borders of the other panes"),
        ("header", "table headers and section titles"),
        ("dim", "secondary text"),
        ("error", "errors"),
        ("warning", "warnings (missing capabilities)"),
        ("netview", "netview's own namespaces"),
        ("status_fg", "the status bar's text"),
        ("status_bg", "the status bar's background"),
        ("filter", "the filter, and keys in the help"),
        ("reached", "a matrix cell that reached, as expected"),
        ("blocked", "a matrix cell that did not reach, as expected"),
        (
            "mismatch",
            "a matrix cell that differs from its expectation",
        ),
        ("up", "a link that is up"),
        ("down", "a link that is down"),
    ];

    pub fn named(name: PaletteName) -> Palette {
        match name {
            // Monochrome draws no colour at all (see `Theme::color`); its palette is only the
            // fallback should a colour be asked of it.
            PaletteName::Dark | PaletteName::Monochrome => Palette {
                accent: Color::Cyan,
                border: Color::DarkGray,
                header: Color::Yellow,
                dim: Color::DarkGray,
                error: Color::Red,
                warning: Color::Yellow,
                netview: Color::Magenta,
                status_fg: Color::Black,
                status_bg: Color::Gray,
                filter: Color::Green,
                reached: Color::Green,
                blocked: Color::Blue,
                mismatch: Color::Red,
                up: Color::Green,
                down: Color::Red,
            },
            // Yellow, cyan and light grey are hard to read on white: darker colours instead.
            PaletteName::Light => Palette {
                accent: Color::Blue,
                border: Color::Gray,
                header: Color::Magenta,
                dim: Color::DarkGray,
                error: Color::Red,
                warning: Color::Indexed(130),
                netview: Color::Magenta,
                status_fg: Color::White,
                status_bg: Color::Blue,
                filter: Color::Indexed(28),
                reached: Color::Indexed(28),
                blocked: Color::Blue,
                mismatch: Color::Red,
                up: Color::Indexed(28),
                down: Color::Red,
            },
        }
    }

    fn slot(&mut self, role: &str) -> Option<&mut Color> {
        Some(match role {
            "accent" => &mut self.accent,
            "border" => &mut self.border,
            "header" => &mut self.header,
            "dim" => &mut self.dim,
            "error" => &mut self.error,
            "warning" => &mut self.warning,
            "netview" => &mut self.netview,
            "status_fg" => &mut self.status_fg,
            "status_bg" => &mut self.status_bg,
            "filter" => &mut self.filter,
            "reached" => &mut self.reached,
            "blocked" => &mut self.blocked,
            "mismatch" => &mut self.mismatch,
            "up" => &mut self.up,
            "down" => &mut self.down,
            _ => return None,
        })
    }

    /// Set the colour of the role named `role` (a name of [`Palette::ROLES`]); false when no
    /// role has that name.
    pub fn set(&mut self, role: &str, color: Color) -> bool {
        match self.slot(role) {
            Some(slot) => {
                *slot = color;
                true
            }
            None => false,
        }
    }

    /// The colour of the role named `role`.
    pub fn get(&self, role: &str) -> Option<Color> {
        let mut copy = *self;
        copy.slot(role).map(|c| *c)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// False draws no colour at all (monochrome, `NO_COLOR`, `--no-color`).
    pub color: bool,
    pub palette: Palette,
}

impl Default for Theme {
    fn default() -> Self {
        Theme::named(PaletteName::Dark)
    }
}

impl Theme {
    pub fn named(name: PaletteName) -> Self {
        Theme {
            color: name != PaletteName::Monochrome,
            palette: Palette::named(name),
        }
    }

    /// Whether `NO_COLOR` is set to a non-empty value (https://no-color.org).
    pub fn no_color_in_env() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    }

    /// Colour unless `NO_COLOR` is set to a non-empty value (https://no-color.org).
    pub fn from_env() -> Self {
        if Self::no_color_in_env() {
            Theme::monochrome()
        } else {
            Theme::default()
        }
    }

    pub fn monochrome() -> Self {
        Theme::named(PaletteName::Monochrome)
    }

    pub fn light() -> Self {
        Theme::named(PaletteName::Light)
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
            self.fg(self.palette.accent).add_modifier(Modifier::BOLD)
        } else {
            self.fg(self.palette.border)
        }
    }

    pub fn header(&self) -> Style {
        self.fg(self.palette.header).add_modifier(Modifier::BOLD)
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
        self.fg(self.palette.accent)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(self.palette.dim)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn error(&self) -> Style {
        self.fg(self.palette.error).add_modifier(Modifier::BOLD)
    }

    pub fn warning(&self) -> Style {
        self.fg(self.palette.warning)
    }

    pub fn netview(&self) -> Style {
        self.fg(self.palette.netview).add_modifier(Modifier::BOLD)
    }

    pub fn status(&self) -> Style {
        if self.color {
            Style::new()
                .fg(self.palette.status_fg)
                .bg(self.palette.status_bg)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn filter(&self) -> Style {
        self.fg(self.palette.filter).add_modifier(Modifier::BOLD)
    }

    /// A matrix cell that came out as the rules expected: green when the path works, plain
    /// when it is expected not to.
    pub fn expected(&self, reached: bool) -> Style {
        if reached {
            self.fg(self.palette.reached)
        } else {
            self.fg(self.palette.blocked)
        }
    }

    /// A matrix cell that differs from the expectation (also marked `!`).
    pub fn mismatch(&self) -> Style {
        self.fg(self.palette.mismatch)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    /// The selected cell's path in the lab picture (also marked `»`).
    pub fn path(&self) -> Style {
        self.fg(self.palette.accent).add_modifier(Modifier::BOLD)
    }

    pub fn state(&self, state: &str) -> Style {
        match state {
            "UP" => self.fg(self.palette.up),
            "DOWN" | "LOWERLAYERDOWN" => self.fg(self.palette.down),
            _ => Style::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_a_slot() {
        let mut p = Palette::named(PaletteName::Dark);
        for (role, _) in Palette::ROLES {
            assert!(p.set(role, Color::Indexed(7)), "{role}");
            assert_eq!(p.get(role), Some(Color::Indexed(7)));
        }
        assert!(!p.set("sparkle", Color::Red));
    }

    #[test]
    fn monochrome_draws_no_colour_and_light_differs_from_dark() {
        let mono = Theme::monochrome();
        assert_eq!(mono.header().fg, None);
        assert_eq!(mono.status().bg, None);
        assert_ne!(Theme::light().palette, Theme::default().palette);
        assert_eq!(Theme::light().header().fg, Some(Color::Magenta));
    }
}
