//! Unit tests of the config file: parsing, every refusal (one line naming file, line and
//! key), and the template's round trip.

use super::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::ui::keys::Action;

fn p() -> &'static Path {
    Path::new("/etc/cfg.toml")
}

fn err(text: &str) -> String {
    match parse(text, p()) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_empty_file_is_the_defaults() {
    let c = parse("", p()).unwrap();
    assert_eq!(
        c,
        Config {
            file: Some(p().to_path_buf()),
            ..Config::default()
        }
    );
}

#[test]
fn the_template_parses_to_the_defaults() {
    let t = template();
    let c = parse(&t, p()).unwrap();
    assert_eq!(
        c,
        Config {
            file: Some(p().to_path_buf()),
            ..Config::default()
        }
    );
    // It names every action of every mode, and every colour role.
    for (mode, rows) in KeyMap::default().describe() {
        assert!(t.contains(&format!("[keys.{mode}]")), "{mode}");
        for r in rows {
            assert!(
                t.contains(&format!("\n{} = [", r.name)),
                "{mode}.{}",
                r.name
            );
        }
    }
    for (role, _) in Palette::ROLES {
        assert!(t.contains(&format!("# {role} = ")), "{role}");
    }
}

#[test]
fn the_templates_commented_colours_are_the_dark_palette() {
    let uncommented: String = template()
        .lines()
        .map(|l| {
            let role = l.strip_prefix("# ").and_then(|r| r.split(' ').next());
            match role {
                Some(r) if Palette::ROLES.iter().any(|(n, _)| *n == r) => &l[2..],
                _ => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(uncommented, template());
    let c = parse(&uncommented, p()).unwrap();
    assert_eq!(c.colors, Palette::named(PaletteName::Dark));
}

#[test]
fn a_palette_and_single_colours() {
    let c = parse(
        "[theme]\npalette = \"light\"\n[theme.colors]\naccent = \"#102030\"\nheader = \"130\"\ndim = \"dark-gray\"\n",
        p(),
    )
    .unwrap();
    assert_eq!(c.palette, PaletteName::Light);
    assert_eq!(c.colors.accent, Color::Rgb(0x10, 0x20, 0x30));
    assert_eq!(c.colors.header, Color::Indexed(130));
    assert_eq!(c.colors.dim, Color::DarkGray);
    assert_eq!(c.colors.error, Palette::named(PaletteName::Light).error);
    let t = c.theme(false);
    assert!(t.color);
    assert_eq!(t.header().fg, Some(Color::Indexed(130)));
    assert!(!c.theme(true).color);
    let mono = parse("[theme]\npalette = \"monochrome\"\n", p()).unwrap();
    assert!(!mono.theme(false).color);
}

#[test]
fn every_colour_name_reads_back() {
    for c in [
        Color::Reset,
        Color::DarkGray,
        Color::LightMagenta,
        Color::Indexed(28),
        Color::Rgb(1, 2, 255),
    ] {
        assert_eq!(parse_color(&color_name(c)), Some(c), "{c:?}");
    }
}

#[test]
fn a_remap_reaches_the_key_map() {
    let c = parse(
        "[keys.browse]\nhelp = [\"F1\", \"?\"]\nquit = \"Ctrl-q\"\n[keys.tour]\nleave = \"Esc\"\n",
        p(),
    )
    .unwrap();
    let ev = |code, m| KeyEvent::new(code, m);
    assert_eq!(
        c.keys
            .action_for(&ev(KeyCode::Char('q'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
    assert_eq!(
        c.keys
            .action_for(&ev(KeyCode::Char('q'), KeyModifiers::NONE)),
        None
    );
    assert_eq!(c.keys.keys_of(Action::Help), "F1 ?");
}

#[test]
fn probe_defaults_and_lab_file() {
    let c = parse(
        "[probe]\nkinds = [\"tcp\"]\ntimeout_ms = 250\nport = 8080\n[lab]\nfile = \"labs/mine.toml\"\n",
        p(),
    )
    .unwrap();
    assert_eq!(
        c.probe,
        ProbeDefaults {
            kinds: vec![ProbeKind::Tcp],
            timeout: Duration::from_millis(250),
            port: 8080
        }
    );
    assert_eq!(c.lab_file, Some(PathBuf::from("/etc/labs/mine.toml")));
    let c = parse("[lab]\nfile = \"/srv/lab.toml\"\n", p()).unwrap();
    assert_eq!(c.lab_file, Some(PathBuf::from("/srv/lab.toml")));
}

#[test]
fn an_unknown_key_names_file_line_and_key() {
    assert_eq!(
        err("[theme]\npalette = \"dark\"\nsparkle = true\n"),
        "/etc/cfg.toml, line 3, key theme.sparkle: unknown field `sparkle`, expected `palette` or `colors`"
    );
    let e = err("[probe]\nkind = [\"icmp\"]\n");
    assert!(
        e.starts_with("/etc/cfg.toml, line 2, key probe.kind: unknown field `kind`"),
        "{e}"
    );
    let e = err("\n[colours]\n");
    assert!(
        e.starts_with("/etc/cfg.toml, line 2, key colours: unknown field `colours`"),
        "{e}"
    );
}

#[test]
fn a_bad_colour_names_file_line_and_key() {
    assert_eq!(
        err("[theme.colors]\n\naccent = \"blurple\"\n"),
        "/etc/cfg.toml, line 3, key theme.colors.accent: \"blurple\" is not a colour (a name such as red or dark-gray, an index 0 to 255, or #rrggbb)"
    );
    let e = err("[theme.colors]\nglow = \"red\"\n");
    assert!(
        e.starts_with("/etc/cfg.toml, line 2, key theme.colors.glow: unknown colour role"),
        "{e}"
    );
    let e = err("[theme]\npalette = \"solarized\"\n");
    assert!(
        e.starts_with("/etc/cfg.toml, line 2, key theme.palette: unknown palette \"solarized\""),
        "{e}"
    );
}

#[test]
fn a_bad_key_name_or_action_names_file_line_and_key() {
    let e = err("[keys.browse]\nquit = \"Hyper-q\"\n");
    assert!(
        e.starts_with("/etc/cfg.toml, line 2, key keys.browse.quit: unknown key \"Hyper-q\""),
        "{e}"
    );
    let e = err("[keys.browse]\nfly = \"f\"\n");
    assert_eq!(
        e,
        "/etc/cfg.toml, line 2, key keys.browse.fly: unknown action \"fly\" in [keys.browse]"
    );
    let e = err("[keys.elsewhere]\nquit = \"f\"\n");
    // The table header is where it is named.
    assert!(
        e.starts_with("/etc/cfg.toml, line 1, key keys.elsewhere: unknown field"),
        "{e}"
    );
    let e = err("[keys.browse]\nquit = []\n");
    assert_eq!(
        e,
        "/etc/cfg.toml, line 2, key keys.browse.quit: an action needs at least one key"
    );
    let e = err("[keys.browse]\nquit = 7\n");
    assert!(
        e.starts_with("/etc/cfg.toml, line 2, key keys.browse.quit: invalid type: integer"),
        "{e}"
    );
}

#[test]
fn a_key_bound_twice_is_refused_on_the_remaps_line() {
    // j is Down's already.
    assert_eq!(
        err("[keys.browse]\n# comment\nquit = \"j\"\n"),
        "/etc/cfg.toml, line 3, key keys.browse.quit: key j is bound to both down and quit in [keys.browse]"
    );
    // Two remaps to one key: the later line is blamed.
    let e = err("[keys.browse]\nhelp = \"F2\"\nquit = \"F2\"\n");
    assert!(
        e.starts_with("/etc/cfg.toml, line 3, key keys.browse.quit: key F2 is bound to both"),
        "{e}"
    );
    // The same key in two modes is not a duplicate (the tour's keys come first).
    parse("[keys.tour]\nleave = \"q\"\n", p()).unwrap();
}

#[test]
fn bad_probe_values_are_refused() {
    let e = err("[probe]\ntimeout_ms = 0\n");
    assert_eq!(
        e,
        "/etc/cfg.toml, line 2, key probe.timeout_ms: 0 is out of range (1 to 60000 milliseconds)"
    );
    let e = err("[probe]\ntimeout_ms = 60001\n");
    assert!(e.contains("out of range"), "{e}");
    let e = err("[probe]\nport = 70000\n");
    assert_eq!(
        e,
        "/etc/cfg.toml, line 2, key probe.port: 70000 is not a TCP port (1 to 65535)"
    );
    let e = err("[probe]\nkinds = [\"icmp\", \"udp\"]\n");
    assert!(
        e.starts_with("/etc/cfg.toml, line 2, key probe.kinds: unknown probe kind \"udp\""),
        "{e}"
    );
    let e = err("[probe]\nkinds = [\"icmp\", \"icmp\"]\n");
    assert!(e.ends_with("icmp is listed twice"), "{e}");
    let e = err("[probe]\nkinds = []\n");
    assert!(e.ends_with("needs at least one kind of probe"), "{e}");
    let e = err("[lab]\nfile = \"\"\n");
    assert!(e.ends_with("key lab.file: needs a file name"), "{e}");
}

#[test]
fn a_syntax_error_names_file_and_line() {
    let e = err("[theme]\npalette = \n");
    assert!(e.starts_with("/etc/cfg.toml, line 2: "), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn the_default_path_follows_xdg_then_home() {
    let os = |s: &str| Some(OsString::from(s));
    assert_eq!(
        default_path_from(os("/x"), os("/home/u")),
        Some(PathBuf::from("/x/netview/config.toml"))
    );
    // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    assert_eq!(
        default_path_from(os("rel"), os("/home/u")),
        Some(PathBuf::from("/home/u/.config/netview/config.toml"))
    );
    assert_eq!(default_path_from(None, None), None);
}

#[test]
fn reading_refuses_what_is_not_a_small_text_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    assert!(matches!(
        load(Some(&missing)),
        Err(ConfigError::Read { ref error, .. }) if error.kind() == std::io::ErrorKind::NotFound
    ));
    assert!(matches!(
        load(Some(dir.path())),
        Err(ConfigError::NotAFile { .. })
    ));
    let binary = dir.path().join("bin.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(
        load(Some(&binary)),
        Err(ConfigError::NotText { .. })
    ));
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; (MAX_CONFIG_BYTES + 1) as usize]).unwrap();
    assert!(matches!(
        load(Some(&big)),
        Err(ConfigError::TooLarge { .. })
    ));
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[probe]\nport = 443\n").unwrap();
    assert_eq!(load(Some(&good)).unwrap().probe.port, 443);
}

#[test]
fn docs_config_md_names_every_key_and_its_example_parses() {
    let doc = include_str!("../../docs/config.md");
    for (mode, rows) in KeyMap::default().describe() {
        assert!(doc.contains(&format!("`[keys.{mode}]`")), "{mode}");
        for r in rows {
            assert!(
                doc.contains(&format!("| `{}` |", r.name)),
                "{mode}.{}",
                r.name
            );
        }
    }
    for (role, _) in Palette::ROLES {
        assert!(doc.contains(&format!("| `{role}` |")), "{role}");
    }
    for key in ["palette", "kinds", "timeout_ms", "port", "file"] {
        assert!(doc.contains(&format!("| `{key}` |")), "{key}");
    }
    let example = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("an example");
    let c = parse(example, p()).unwrap();
    assert_eq!(c.palette, PaletteName::Light);
    assert_eq!(
        c.lab_file,
        Some(PathBuf::from("/etc/labs/two-bridges.toml"))
    );
}

#[test]
fn odd_input_is_refused_without_a_panic() {
    for k in [
        "",
        "Ctrl-",
        "Alt-",
        "ctrl-ctrl-",
        "Ctrl-ü",
        "Alt-Ctrl-x",
        "F0",
        "F",
        "f99",
        "é",
        "Shift-",
        "\0",
        "Ctrl-Shift-Tab",
        "🙂",
        "Ctrl-🙂",
    ] {
        let _ = Key::parse(k);
    }
    for text in [
        "[keys]\nbrowse = 1\n",
        "[keys.browse]\nquit = [\"q\", 1]\n",
        "[keys.browse]\nquit = { a = 1 }\n",
        "[theme]\ncolors = \"red\"\n",
        "[theme.colors]\naccent = \"#12345\"\n",
        "[probe]\ntimeout_ms = -5\nport = -1\n",
        "[probe]\nkinds = \"icmp\"\n",
        "[lab]\nfile = 3\n",
        "theme = 1\n",
        "[[theme]]\n",
        "[probe]\nport = 99999999999999999999999\n",
    ] {
        assert!(parse(text, p()).is_err(), "{text:?} accepted");
        let e = err(text);
        assert!(!e.contains('\n'), "{e}");
    }
}
