//! The config file: `$XDG_CONFIG_HOME/netview/config.toml` (else `~/.config/netview/config.toml`),
//! or the file `--config` names. It holds the theme (a named palette and single colours), key
//! remaps for every action of the key table, the probes' defaults and the default lab file.
//!
//! What it reads is checked like user input: unknown keys, unknown actions, colours, key
//! names, a key bound twice and out-of-range numbers are refused with one line naming the
//! file, the line and the key (serde for the shape, toml's spans for the line). netview never
//! writes it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ratatui::style::Color;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::probe::ProbeKind;
use crate::ui::keys::{Key, KeyMap};
use crate::ui::theme::{Palette, PaletteName, Theme};

/// A config file larger than this is not one (and `--config /dev/zero` must not fill memory).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The longest per-probe timeout a config (or `--timeout-ms`) may ask for: a minute.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// What the probes use when the command line does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeDefaults {
    pub kinds: Vec<ProbeKind>,
    pub timeout: Duration,
    pub port: u16,
}

impl Default for ProbeDefaults {
    fn default() -> Self {
        ProbeDefaults {
            kinds: vec![ProbeKind::Icmp, ProbeKind::Arp],
            timeout: crate::probe::DEFAULT_TIMEOUT,
            port: 80,
        }
    }
}

/// The config in effect: the built-in defaults with the file's values applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from; `None` when there was none.
    pub file: Option<PathBuf>,
    pub palette: PaletteName,
    /// The palette's colours with the file's single colours applied.
    pub colors: Palette,
    pub keys: KeyMap,
    pub probe: ProbeDefaults,
    /// `lab up` and the TUI's lab without a lab file named: this one (else the built-in lab).
    pub lab_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            file: None,
            palette: PaletteName::default(),
            colors: Palette::named(PaletteName::default()),
            keys: KeyMap::default(),
            probe: ProbeDefaults::default(),
            lab_file: None,
        }
    }
}

impl Config {
    /// The theme to draw with; `no_color` (`--no-color`, `NO_COLOR`) drops every colour.
    pub fn theme(&self, no_color: bool) -> Theme {
        let mut t = Theme::named(self.palette);
        t.palette = self.colors;
        if no_color {
            t.color = false;
        }
        t
    }
}

/// Why the config was refused. Each is one line naming the file (and the line and key when
/// the file's content is at fault).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the config file {} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("the config file {} is larger than 1 MiB", path.display())]
    TooLarge { path: PathBuf },
    #[error("the config file {} is not UTF-8 text", path.display())]
    NotText { path: PathBuf },
    #[error("{}, line {line}{}: {reason}", path.display(), key.as_ref().map(|k| format!(", key {k}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: usize,
        /// The dotted key (`theme.palette`), when known.
        key: Option<String>,
        reason: String,
    },
}

/// Where the config is read from when `--config` is not given: `$XDG_CONFIG_HOME` when it
/// is an absolute path (the XDG spec ignores a relative one), else `$HOME/.config`. Under
/// `sudo` these are the environment sudo passes on (root's home on Debian unless preserved).
pub fn default_path_from(
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let base = xdg_config_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".config"))
        })?;
    Some(base.join("netview").join("config.toml"))
}

/// [`default_path_from`] with this process's environment.
pub fn default_path() -> Option<PathBuf> {
    default_path_from(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// Read the config: the file `given` (which must exist), else the default path (whose
/// absence means the built-in defaults).
pub fn load(given: Option<&Path>) -> Result<Config, ConfigError> {
    let (path, must_exist) = match given {
        Some(p) => (p.to_path_buf(), true),
        None => match default_path() {
            Some(p) => (p, false),
            None => return Ok(Config::default()),
        },
    };
    match read_text(&path) {
        Ok(text) => parse(&text, &path),
        // No file at the default path: the defaults. Nor when the path cannot even be looked
        // at (another user's home, as `HOME=/root` under `setpriv` or `sudo -u` gives: its
        // folder is not searchable); a file that is there but unreadable is refused.
        Err(ConfigError::Read { .. })
            if !must_exist && std::fs::symlink_metadata(&path).is_err() =>
        {
            Ok(Config::default())
        }
        Err(e) => Err(e),
    }
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    let read = |error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let meta = file.metadata().map_err(read)?;
    if !meta.is_file() {
        return Err(ConfigError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes).map_err(|_| ConfigError::NotText {
        path: path.to_path_buf(),
    })
}

/// One or more key names: `quit = "q"` or `quit = ["q", "Ctrl-q"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyNames(Vec<String>);

impl<'de> Deserialize<'de> for KeyNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyNames;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key name or a list of key names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyNames, E> {
                Ok(KeyNames(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyNames, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(KeyNames(out))
            }
        }
        d.deserialize_any(V)
    }
}

type Section = BTreeMap<String, Spanned<KeyNames>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKeys {
    browse: Section,
    filter: Section,
    tour: Section,
    dialog: Section,
    form: Section,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTheme {
    palette: Option<Spanned<String>>,
    colors: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProbe {
    kinds: Option<Spanned<Vec<Spanned<String>>>>,
    timeout_ms: Option<Spanned<i64>>,
    port: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLab {
    file: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    theme: RawTheme,
    keys: RawKeys,
    probe: RawProbe,
    lab: RawLab,
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parse a config's text; `path` is named in errors and anchors a relative lab file.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let invalid = |offset: usize, key: Option<String>, reason: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line: line_of(text, offset),
        key,
        reason,
    };
    let at = |span: std::ops::Range<usize>, key: String, reason: String| {
        invalid(span.start, Some(key), reason)
    };
    let raw: RawConfig = {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| invalid(e.span().map_or(0, |s| s.start), None, one_line(e.message())))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            // toml's spans are a wrapper with private field names; they are no key of the
            // file's.
            let key = e
                .path()
                .iter()
                .map(|seg| seg.to_string())
                .filter(|seg| !seg.starts_with("$__serde_spanned_private"))
                .collect::<Vec<_>>()
                .join(".");
            let inner = e.into_inner();
            invalid(
                inner.span().map_or(0, |s| s.start),
                (!key.is_empty()).then_some(key),
                one_line(inner.message()),
            )
        })?
    };
    let mut config = Config {
        file: Some(path.to_path_buf()),
        ..Config::default()
    };

    if let Some(p) = &raw.theme.palette {
        config.palette = PaletteName::from_name(p.get_ref()).ok_or_else(|| {
            at(
                p.span(),
                "theme.palette".into(),
                format!(
                    "unknown palette {:?} (expected dark, light or monochrome)",
                    p.get_ref()
                ),
            )
        })?;
        config.colors = Palette::named(config.palette);
    }
    for (role, value) in &raw.theme.colors {
        let key = format!("theme.colors.{role}");
        let color = parse_color(value.get_ref()).ok_or_else(|| {
            at(
                value.span(),
                key.clone(),
                format!(
                    "{:?} is not a colour (a name such as red or dark-gray, an index 0 to 255, or #rrggbb)",
                    value.get_ref()
                ),
            )
        })?;
        if !config.colors.set(role, color) {
            return Err(at(
                value.span(),
                key,
                format!("unknown colour role {role:?} (netview config template lists them)"),
            ));
        }
    }

    // Remaps in file order, so a duplicate is blamed on the later line.
    let mut remaps: Vec<(&str, &String, &Spanned<KeyNames>)> = Vec::new();
    for (mode, section) in [
        ("browse", &raw.keys.browse),
        ("filter", &raw.keys.filter),
        ("tour", &raw.keys.tour),
        ("dialog", &raw.keys.dialog),
        ("form", &raw.keys.form),
    ] {
        remaps.extend(section.iter().map(|(name, v)| (mode, name, v)));
    }
    remaps.sort_by_key(|(_, _, v)| v.span().start);
    for (mode, name, names) in &remaps {
        let key = format!("keys.{mode}.{name}");
        let mut keys = Vec::new();
        for n in &names.get_ref().0 {
            keys.push(Key::parse(n).map_err(|e| at(names.span(), key.clone(), e.to_string()))?);
        }
        config
            .keys
            .remap(mode, name, keys)
            .map_err(|e| at(names.span(), key.clone(), e.to_string()))?;
    }
    if let Some(dup) = config.keys.duplicate() {
        // The later of the two rows' lines, if the file remapped either.
        let blamed = remaps.iter().rev().find(|(mode, name, _)| {
            *mode == dup.mode && (**name == dup.first || **name == dup.second)
        });
        let (offset, key) = match blamed {
            Some((mode, name, v)) => (v.span().start, Some(format!("keys.{mode}.{name}"))),
            None => (0, None),
        };
        return Err(invalid(offset, key, dup.to_string()));
    }

    if let Some(kinds) = &raw.probe.kinds {
        let mut out = Vec::new();
        for k in kinds.get_ref() {
            let kind = match k.get_ref().as_str() {
                "icmp" => ProbeKind::Icmp,
                "arp" => ProbeKind::Arp,
                "tcp" => ProbeKind::Tcp,
                other => {
                    return Err(at(
                        k.span(),
                        "probe.kinds".into(),
                        format!("unknown probe kind {other:?} (expected icmp, arp or tcp)"),
                    ))
                }
            };
            if out.contains(&kind) {
                return Err(at(
                    k.span(),
                    "probe.kinds".into(),
                    format!("{} is listed twice", kind.name()),
                ));
            }
            out.push(kind);
        }
        if out.is_empty() {
            return Err(at(
                kinds.span(),
                "probe.kinds".into(),
                "needs at least one kind of probe".into(),
            ));
        }
        config.probe.kinds = out;
    }
    if let Some(t) = &raw.probe.timeout_ms {
        let ms = u64::try_from(*t.get_ref())
            .ok()
            .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
            .ok_or_else(|| {
                at(
                    t.span(),
                    "probe.timeout_ms".into(),
                    format!(
                        "{} is out of range (1 to {MAX_TIMEOUT_MS} milliseconds)",
                        t.get_ref()
                    ),
                )
            })?;
        config.probe.timeout = Duration::from_millis(ms);
    }
    if let Some(p) = &raw.probe.port {
        config.probe.port = u16::try_from(*p.get_ref())
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| {
                at(
                    p.span(),
                    "probe.port".into(),
                    format!("{} is not a TCP port (1 to 65535)", p.get_ref()),
                )
            })?;
    }

    if let Some(f) = &raw.lab.file {
        if f.get_ref().is_empty() || f.get_ref().contains('\0') {
            return Err(at(f.span(), "lab.file".into(), "needs a file name".into()));
        }
        let file = PathBuf::from(f.get_ref());
        // Relative to the config file's folder, not to wherever netview was started.
        config.lab_file = Some(if file.is_absolute() {
            file
        } else {
            path.parent().unwrap_or(Path::new("")).join(file)
        });
    }
    Ok(config)
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A colour as a config writes it: a name (`red`, `dark-gray`, `light-blue`, `reset`), an
/// index of the 256-colour palette (`130`) or `#rrggbb`.
pub fn parse_color(text: &str) -> Option<Color> {
    text.parse::<Color>().ok()
}

/// A colour as the template writes it ([`parse_color`] reads it back).
pub fn color_name(c: Color) -> String {
    match c {
        Color::Reset => "reset".into(),
        Color::Black => "black".into(),
        Color::Red => "red".into(),
        Color::Green => "green".into(),
        Color::Yellow => "yellow".into(),
        Color::Blue => "blue".into(),
        Color::Magenta => "magenta".into(),
        Color::Cyan => "cyan".into(),
        Color::Gray => "gray".into(),
        Color::DarkGray => "dark-gray".into(),
        Color::LightRed => "light-red".into(),
        Color::LightGreen => "light-green".into(),
        Color::LightYellow => "light-yellow".into(),
        Color::LightBlue => "light-blue".into(),
        Color::LightMagenta => "light-magenta".into(),
        Color::LightCyan => "light-cyan".into(),
        Color::White => "white".into(),
        Color::Indexed(i) => i.to_string(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A commented config with every key at its default value (the colours commented out, so
/// that choosing another palette is one line). `netview config template` prints it.
pub fn template() -> String {
    let d = Config::default();
    let mut out = String::new();
    out.push_str(
        "# netview's config file. netview reads it from $XDG_CONFIG_HOME/netview/config.toml,\n\
         # else ~/.config/netview/config.toml, or the file --config names. Every key is optional;\n\
         # this template sets each to its default. `netview config path` says which file is read.\n\n",
    );
    out.push_str("[theme]\n# dark (the default), light (for light terminal backgrounds) or monochrome (no colour).\n");
    out.push_str(&format!("palette = {}\n\n", toml_string(d.palette.name())));
    out.push_str(
        "# Single colours over the palette: a name (red, dark-gray, light-blue, reset), an index\n\
         # 0 to 255, or #rrggbb. The values below are the dark palette's.\n[theme.colors]\n",
    );
    for (role, what) in Palette::ROLES {
        let c = d.colors.get(role).unwrap_or(Color::Reset);
        out.push_str(&format!(
            "# {role} = {}  # {what}\n",
            toml_string(&color_name(c))
        ));
    }
    out.push_str(
        "\n# Key bindings, one table per mode. Each action takes a key or a list of keys:\n\
         # a character (j, G, ?), Ctrl-x, Alt-x, F1 to F12, Space, Up, Down, Left, Right, Home,\n\
         # End, PgUp, PgDn, Tab, Shift-Tab, Esc, Enter, Backspace, Delete, Insert. A key bound\n\
         # to two actions of one mode is refused. The help overlay (?) shows the keys in use.\n",
    );
    for (mode, rows) in d.keys.describe() {
        out.push_str(&format!("\n[keys.{mode}]\n"));
        for row in rows {
            let keys: Vec<String> = row.keys.iter().map(|k| toml_string(&k.name())).collect();
            out.push_str(&format!(
                "{} = [{}]  # {}\n",
                row.name,
                keys.join(", "),
                row.help
            ));
        }
    }
    out.push_str(&format!(
        "\n# What `netview probe` and the TUI's p use when the command line does not say.\n\
         [probe]\n\
         # Any of icmp, arp, tcp.\n\
         kinds = [{}]\n\
         # Per-probe timeout, 1 to {MAX_TIMEOUT_MS} milliseconds.\n\
         timeout_ms = {}\n\
         # The TCP probe's port.\n\
         port = {}\n",
        d.probe
            .kinds
            .iter()
            .map(|k| toml_string(k.name()))
            .collect::<Vec<_>>()
            .join(", "),
        d.probe.timeout.as_millis(),
        d.probe.port
    ));
    out.push_str(
        "\n[lab]\n\
         # The lab file `netview lab up` and the TUI's lab build when none is named (relative to\n\
         # this file's folder); without it, the built-in lab with the study post's values.\n\
         # file = \"lab.toml\"\n",
    );
    out
}

#[cfg(test)]
mod tests;
