//! Legacy iptables NAT rules: parsing `iptables-legacy-save -t nat` and rendering each rule
//! in an nft-like form for the common matches and targets (what Docker, netavark and
//! kube-proxy write), keeping the iptables text for anything else.

/// One `-A CHAIN ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedRule {
    pub chain: String,
    /// The words after the chain name, unquoted.
    pub args: Vec<String>,
}

/// One table of iptables-save output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedTable {
    /// Every chain in listing order with its policy (`ACCEPT`, `DROP`; `None` for a user
    /// chain, which iptables-save prints with `-`).
    pub chains: Vec<(String, Option<String>)>,
    pub rules: Vec<SavedRule>,
}

/// The `-A` lines of the `*nat` table in iptables-save output.
pub fn parse_save(text: &str) -> Vec<SavedRule> {
    parse_save_table(text, "nat").rules
}

/// The chains and `-A` lines of one table (`nat`, `filter`) in iptables-save output.
pub fn parse_save_table(text: &str, table: &str) -> SavedTable {
    let mut saved = SavedTable::default();
    let mut in_table = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('*') {
            in_table = name == table;
            continue;
        }
        if !in_table {
            continue;
        }
        if let Some(chain) = line.strip_prefix(':') {
            let mut words = chain.split_whitespace();
            if let Some(name) = words.next() {
                let policy = words.next().filter(|p| *p != "-").map(str::to_string);
                saved.chains.push((name.to_string(), policy));
            }
            continue;
        }
        let words = split_words(line);
        if words.len() >= 2 && words[0] == "-A" {
            saved.rules.push(SavedRule {
                chain: words[1].clone(),
                args: words[2..].to_vec(),
            });
        }
    }
    saved
}

/// Split an iptables-save line as the shell would: on spaces, honouring double quotes and
/// backslash escapes (comments are printed quoted).
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut has_word = false;
    let mut in_quotes = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                    has_word = true;
                }
            }
            '"' => {
                in_quotes = !in_quotes;
                has_word = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if has_word {
                    words.push(std::mem::take(&mut current));
                    has_word = false;
                }
            }
            c => {
                current.push(c);
                has_word = true;
            }
        }
    }
    if has_word {
        words.push(current);
    }
    words
}

/// Options that start a new top-level part of a rule (everything else belongs to the match
/// or target before it).
fn is_top_level(word: &str) -> bool {
    matches!(
        word,
        "-s" | "--source"
            | "-d"
            | "--destination"
            | "-i"
            | "--in-interface"
            | "-o"
            | "--out-interface"
            | "-p"
            | "--protocol"
            | "-m"
            | "--match"
            | "-j"
            | "--jump"
            | "-g"
            | "--goto"
            | "-f"
            | "--fragment"
    )
}

/// Render a rule's arguments. `ipv6` picks `ip6 saddr` over `ip saddr`.
pub fn render(args: &[String], ipv6: bool) -> String {
    let ip = if ipv6 { "ip6" } else { "ip" };
    let mut parts: Vec<String> = Vec::new();
    let mut comment: Option<String> = None;
    let mut protocol: Option<String> = None;
    // Where `meta l4proto X` would go, dropped again if a port match names the protocol.
    let mut protocol_slot: Option<usize> = None;
    let mut protocol_named = false;
    let mut negate = false;
    let mut i = 0;
    let arg = |i: usize| args.get(i).map(String::as_str);

    while i < args.len() {
        let word = args[i].as_str();
        if word == "!" {
            negate = true;
            i += 1;
            continue;
        }
        let op = if negate { "!= " } else { "" };
        match word {
            "-s" | "--source" | "-d" | "--destination" => {
                let field = if matches!(word, "-s" | "--source") {
                    "saddr"
                } else {
                    "daddr"
                };
                let addr = host_prefix(arg(i + 1).unwrap_or(""), ipv6);
                parts.push(format!("{ip} {field} {op}{addr}"));
                i += 2;
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let key = if matches!(word, "-i" | "--in-interface") {
                    "iifname"
                } else {
                    "oifname"
                };
                let name = arg(i + 1).unwrap_or("");
                // iptables' `eth+` wildcard is nft's `"eth*"`.
                let name = match name.strip_suffix('+') {
                    Some(stem) => format!("{stem}*"),
                    None => name.to_string(),
                };
                parts.push(format!("{key} {op}\"{name}\""));
                i += 2;
            }
            "-p" | "--protocol" => {
                let proto = arg(i + 1).unwrap_or("").to_lowercase();
                if proto != "all" && proto != "0" {
                    protocol_slot = Some(parts.len());
                    parts.push(format!("meta l4proto {op}{proto}"));
                    if !negate {
                        protocol = Some(proto);
                    }
                }
                i += 2;
            }
            "-m" | "--match" => {
                let module = arg(i + 1).unwrap_or("");
                let (consumed, rendered) =
                    render_match(module, &args[i + 2..], protocol.as_deref(), &mut comment);
                match rendered {
                    Some(MatchRendering::Parts(rendered, names_protocol)) => {
                        protocol_named |= names_protocol;
                        parts.extend(rendered);
                    }
                    Some(MatchRendering::Nothing) => {}
                    None => parts.push(raw(&args[i..i + 2 + consumed])),
                }
                i += 2 + consumed;
            }
            // Port options without `-m tcp` (iptables loads the protocol's match implicitly).
            "--dport" | "--destination-port" | "--sport" | "--source-port" => {
                let field = if matches!(word, "--dport" | "--destination-port") {
                    "dport"
                } else {
                    "sport"
                };
                let proto = protocol.clone().unwrap_or_else(|| "th".to_string());
                protocol_named |= protocol.is_some();
                let ports = arg(i + 1).unwrap_or("").replace(':', "-");
                parts.push(format!("{proto} {field} {op}{ports}"));
                i += 2;
            }
            "-j" | "--jump" => {
                let target = arg(i + 1).unwrap_or("");
                let options_end = next_top_level(args, i + 2);
                let options = &args[i + 2..options_end];
                parts.push(
                    render_target(target, options).unwrap_or_else(|| raw(&args[i..options_end])),
                );
                i = options_end;
            }
            "-g" | "--goto" => {
                parts.push(format!("goto {}", arg(i + 1).unwrap_or("")));
                i += 2;
            }
            _ => {
                let end = next_top_level(args, i + 1);
                let mut raw_words: Vec<String> = Vec::new();
                if negate {
                    raw_words.push("!".to_string());
                }
                raw_words.extend(args[i..end].iter().cloned());
                parts.push(raw(&raw_words));
                i = end;
            }
        }
        negate = false;
    }

    if protocol_named {
        if let Some(slot) = protocol_slot {
            parts.remove(slot);
        }
    }
    if let Some(comment) = comment {
        parts.push(format!("comment \"{}\"", comment.replace('"', "\\\"")));
    }
    parts.join(" ")
}

enum MatchRendering {
    /// The rendered parts, and whether they name the rule's protocol (`tcp dport 80`).
    Parts(Vec<String>, bool),
    /// The match only loads an extension (`-m tcp`) or was moved (`-m comment`).
    Nothing,
}

/// Render `-m MODULE options...`. Returns how many option words belong to the match, and
/// the rendering, or `None` to keep the iptables text.
fn render_match(
    module: &str,
    rest: &[String],
    protocol: Option<&str>,
    comment: &mut Option<String>,
) -> (usize, Option<MatchRendering>) {
    let consumed = next_top_level(rest, 0);
    let options = &rest[..consumed];
    let rendering = match module {
        "tcp" | "udp" | "sctp" | "dccp" | "udplite" => {
            // The port options that follow are rendered by the caller's loop.
            return (0, Some(MatchRendering::Nothing));
        }
        "comment" => match options {
            [flag, text] if flag == "--comment" => {
                *comment = Some(text.clone());
                Some(MatchRendering::Nothing)
            }
            _ => None,
        },
        "addrtype" => render_addrtype(options).map(|p| MatchRendering::Parts(p, false)),
        "conntrack" | "state" => render_ctstate(options).map(|p| MatchRendering::Parts(p, false)),
        "multiport" => render_multiport(options, protocol).map(|p| MatchRendering::Parts(p, true)),
        _ => None,
    };
    (consumed, rendering)
}

fn render_addrtype(options: &[String]) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut negate = false;
    let mut i = 0;
    while i < options.len() {
        match options[i].as_str() {
            "!" => negate = true,
            flag @ ("--src-type" | "--dst-type") => {
                let field = if flag == "--src-type" {
                    "saddr"
                } else {
                    "daddr"
                };
                let types = options.get(i + 1)?.to_lowercase();
                let op = if negate { "!= " } else { "" };
                parts.push(format!("fib {field} type {op}{types}"));
                negate = false;
                i += 1;
            }
            _ => return None,
        }
        i += 1;
    }
    Some(parts)
}

/// `-m conntrack --ctstate RELATED,ESTABLISHED` / `-m state --state INVALID` as `ct state
/// related,established`; any other conntrack option keeps the iptables text.
fn render_ctstate(options: &[String]) -> Option<Vec<String>> {
    match options {
        [flag, states] if flag == "--ctstate" || flag == "--state" => {
            Some(vec![format!("ct state {}", states.to_lowercase())])
        }
        [bang, flag, states] if bang == "!" && (flag == "--ctstate" || flag == "--state") => {
            Some(vec![format!("ct state != {}", states.to_lowercase())])
        }
        _ => None,
    }
}

fn render_multiport(options: &[String], protocol: Option<&str>) -> Option<Vec<String>> {
    let protocol = protocol?;
    let mut parts = Vec::new();
    let mut negate = false;
    let mut i = 0;
    while i < options.len() {
        match options[i].as_str() {
            "!" => negate = true,
            flag @ ("--dports" | "--destination-ports" | "--sports" | "--source-ports") => {
                let field = if matches!(flag, "--dports" | "--destination-ports") {
                    "dport"
                } else {
                    "sport"
                };
                let ports: Vec<String> = options
                    .get(i + 1)?
                    .split(',')
                    .map(|p| p.replace(':', "-"))
                    .collect();
                let op = if negate { "!= " } else { "" };
                parts.push(format!("{protocol} {field} {op}{{ {} }}", ports.join(", ")));
                negate = false;
                i += 1;
            }
            _ => return None,
        }
        i += 1;
    }
    Some(parts)
}

/// Render `-j TARGET options...`, or `None` to keep the iptables text.
fn render_target(target: &str, options: &[String]) -> Option<String> {
    match (target, options) {
        // iptables-save spells out the default.
        ("REJECT", []) => return Some("reject".to_string()),
        ("REJECT", [flag, with]) if flag == "--reject-with" => {
            return Some(match with.as_str() {
                "icmp-port-unreachable" | "icmp6-port-unreachable" => "reject".to_string(),
                "tcp-reset" => "reject with tcp reset".to_string(),
                other => format!("reject with icmpx type {other}"),
            });
        }
        ("LOG", [flag, prefix]) if flag == "--log-prefix" => {
            return Some(format!("log prefix \"{}\"", prefix.replace('"', "\\\"")));
        }
        ("LOG", []) => return Some("log".to_string()),
        _ => {}
    }
    let mut flags: Vec<&str> = Vec::new();
    let mut to: Option<String> = None;
    let mut i = 0;
    while i < options.len() {
        match options[i].as_str() {
            "--random" => flags.push("random"),
            "--random-fully" => flags.push("fully-random"),
            "--persistent" => flags.push("persistent"),
            "--to-source" | "--to-destination" | "--to" => {
                to = Some(options.get(i + 1)?.clone());
                i += 1;
            }
            "--to-ports" => {
                to = Some(format!(":{}", options.get(i + 1)?));
                i += 1;
            }
            _ => return None,
        }
        i += 1;
    }
    let keyword = match target {
        "MASQUERADE" => "masquerade",
        "SNAT" => "snat",
        "DNAT" => "dnat",
        "REDIRECT" => "redirect",
        "RETURN" | "ACCEPT" | "DROP" if options.is_empty() => {
            return Some(target.to_lowercase());
        }
        // A user chain takes no options; a target extension (MARK, LOG...) usually does.
        _ if options.is_empty() && !matches!(target, "LOG" | "NOTRACK" | "TRACE") => {
            return Some(format!("jump {target}"));
        }
        _ => return None,
    };
    let mut s = keyword.to_string();
    if let Some(to) = to {
        s.push_str(&format!(" to {to}"));
    }
    if !flags.is_empty() {
        s.push(' ');
        s.push_str(&flags.join(","));
    }
    Some(s)
}

/// Index of the next top-level option at or after `from` (a `!` counts when it negates one).
fn next_top_level(args: &[String], from: usize) -> usize {
    let mut i = from;
    while i < args.len() {
        let word = args[i].as_str();
        if is_top_level(word) {
            return i;
        }
        if word == "!" && args.get(i + 1).is_some_and(|w| is_top_level(w)) {
            return i;
        }
        i += 1;
    }
    args.len()
}

/// iptables-save prints host addresses with `/32` (`/128`); nft leaves it out.
fn host_prefix(addr: &str, ipv6: bool) -> String {
    let host = if ipv6 { "/128" } else { "/32" };
    addr.strip_suffix(host).unwrap_or(addr).to_string()
}

/// Words kept as iptables text, re-quoted where needed.
fn raw(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains(char::is_whitespace) || w.contains('"') {
                format!("\"{}\"", w.replace('"', "\\\""))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_line(line: &str, ipv6: bool) -> String {
        render(&split_words(line), ipv6)
    }

    #[test]
    fn quoted_comments_split_as_one_word() {
        assert_eq!(
            split_words(r#"-m comment --comment "a \"b\" c" -j RETURN"#),
            vec!["-m", "comment", "--comment", r#"a "b" c"#, "-j", "RETURN"]
        );
    }

    #[test]
    fn interface_wildcards_and_negations() {
        assert_eq!(
            render_line("! -i veth+ -o eth0 -j MASQUERADE --random", false),
            r#"iifname != "veth*" oifname "eth0" masquerade random"#
        );
        assert_eq!(
            render_line("! -p udp -j ACCEPT", false),
            "meta l4proto != udp accept"
        );
        assert_eq!(
            render_line("-p tcp ! --dport 22 -j REDIRECT --to-ports 2222", false),
            "tcp dport != 22 redirect to :2222"
        );
        assert_eq!(
            render_line("-m addrtype ! --dst-type LOCAL -g DOCKER-X", false),
            "fib daddr type != local goto DOCKER-X"
        );
    }

    #[test]
    fn ipv6_hosts_lose_their_128() {
        assert_eq!(
            render_line(
                "-d fd00::1/128 -p tcp -m tcp --dport 80 -j DNAT --to-destination [fd00::2]:8080",
                true
            ),
            "ip6 daddr fd00::1 tcp dport 80 dnat to [fd00::2]:8080"
        );
    }

    #[test]
    fn unknown_matches_and_targets_stay_iptables_text() {
        assert_eq!(
            render_line(
                "-s 10.0.0.0/8 -m conntrack ! --ctstate NEW,RELATED -m statistic --mode random --probability 0.25 -j KUBE-SEP-1",
                false
            ),
            "ip saddr 10.0.0.0/8 ct state != new,related -m statistic --mode random --probability 0.25 jump KUBE-SEP-1"
        );
        assert_eq!(
            render_line(
                "-m conntrack --ctstate DNAT --ctorigdst 10.0.0.1 -j ACCEPT",
                false
            ),
            "-m conntrack --ctstate DNAT --ctorigdst 10.0.0.1 accept"
        );
        assert_eq!(
            render_line("-j LOG --log-level 4", false),
            "-j LOG --log-level 4"
        );
    }

    #[test]
    fn filter_matches_and_targets() {
        assert_eq!(
            render_line(
                "-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                false
            ),
            r#"oifname "docker0" ct state related,established accept"#
        );
        assert_eq!(
            render_line("-m state ! --state INVALID -j DROP", false),
            "ct state != invalid drop"
        );
        assert_eq!(
            render_line(
                "-s 10.9.0.0/16 -j REJECT --reject-with icmp-port-unreachable",
                false
            ),
            "ip saddr 10.9.0.0/16 reject"
        );
        assert_eq!(
            render_line("-p tcp -j REJECT --reject-with tcp-reset", false),
            "meta l4proto tcp reject with tcp reset"
        );
        assert_eq!(
            render_line("-j LOG --log-prefix \"nat: \"", false),
            r#"log prefix "nat: ""#
        );
    }

    #[test]
    fn filter_chains_keep_their_policies() {
        let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [1:84]\n:MINE - [0:0]\n-A FORWARD -j MINE\nCOMMIT\n";
        let table = parse_save_table(save, "filter");
        assert_eq!(
            table.chains,
            vec![
                ("INPUT".to_string(), Some("ACCEPT".to_string())),
                ("FORWARD".to_string(), Some("DROP".to_string())),
                ("MINE".to_string(), None),
            ]
        );
        assert_eq!(table.rules.len(), 1);
        assert!(parse_save(save).is_empty());
    }

    #[test]
    fn only_the_nat_table_is_parsed() {
        let save = "*filter\n-A FORWARD -j DOCKER-USER\nCOMMIT\n*nat\n:DOCKER - [0:0]\n-A DOCKER -i docker0 -j RETURN\nCOMMIT\n";
        assert_eq!(
            parse_save(save),
            vec![SavedRule {
                chain: "DOCKER".into(),
                args: vec!["-i".into(), "docker0".into(), "-j".into(), "RETURN".into()],
            }]
        );
    }
}
