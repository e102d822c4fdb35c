//! `%addon org_outpost … %end`: Outpost's own settings.
//!
//! The body is a small kickstart of its own, lexed exactly like commands
//! (shlex with comments) and parsed with the same option rules, so an admin
//! writes it the way they write `user` or `network`:
//!
//! ```text
//! %addon org_outpost
//! domain outpost.lan example.org
//! user admin --fullname="Site Admin" --password='$6$…' --iscrypted --role=admin --alias=postmaster --quota=2G
//! services smtp,imap,pop3,webd
//! upstream graph --tenant=contoso.onmicrosoft.com --client-id=… --secret=… --map="{local}@contoso.com"
//! ha --peer=192.0.2.2 --vip=192.0.2.10/24 --role=primary
//! backup --schedule=daily --keep=7
//! %end
//! ```
//!
//! `docs/answer-file.md` is the reference for every line.

use crate::diag::{Diagnostic, Severity};
use crate::lex::{self, Word};
use crate::model::*;
use crate::opts::{Kind, Opt, opt, parse};
use crate::source::Line;

const USER: &[Opt] = &[
    opt(&["--fullname", "--gecos"], "fullname", Kind::Str),
    opt(&["--password"], "password", Kind::Str),
    opt(&["--iscrypted"], "crypted", Kind::True),
    opt(&["--plaintext"], "crypted", Kind::False),
    opt(&["--role"], "roles", Kind::Extend),
    opt(&["--alias"], "aliases", Kind::Extend),
    opt(&["--quota"], "quota", Kind::Str),
];
const SERVICES: &[Opt] = &[opt(&["--enabled"], "enabled", Kind::Extend)];
const UPSTREAM: &[Opt] = &[
    opt(&["--url"], "url", Kind::Str),
    opt(&["--host"], "host", Kind::Str),
    opt(&["--tenant"], "tenant", Kind::Str),
    opt(&["--client-id"], "client_id", Kind::Str),
    opt(&["--username"], "username", Kind::Str),
    opt(&["--secret"], "secret", Kind::Str),
    opt(&["--map"], "map", Kind::Str),
    opt(
        &["--tls"],
        "tls",
        Kind::Choice(&["starttls", "tls", "none"]),
    ),
];
const HA: &[Opt] = &[
    opt(&["--peer"], "peer", Kind::Str),
    opt(&["--vip"], "vip", Kind::Str),
    opt(&["--role"], "role", Kind::Choice(&["primary", "standby"])),
];
const BACKUP: &[Opt] = &[
    opt(&["--schedule"], "schedule", Kind::Str),
    opt(&["--keep"], "keep", Kind::Int),
    opt(&["--target"], "target", Kind::Str),
];

/// Lines the addon accepts.
pub const ADDON_COMMANDS: &[&str] = &["domain", "user", "services", "upstream", "ha", "backup"];

struct Ctx {
    diags: Vec<Diagnostic>,
}

impl Ctx {
    fn at(&mut self, line: &Line, col: u32, severity: Severity, message: String) {
        self.diags.push(Diagnostic {
            path: line.file.to_string(),
            line: line.lineno,
            col,
            severity,
            message,
        });
    }
}

/// Parses the body lines of `%addon org_outpost`.
pub(crate) fn parse_addon(body: &[&Line]) -> (OutpostAddon, Vec<Diagnostic>) {
    let mut cx = Ctx { diags: Vec::new() };
    let mut a = OutpostAddon::default();
    let mut domain_line: Option<&Line> = None;
    for line in body {
        if cx.diags.iter().filter(|d| d.is_error()).count() >= crate::parser::MAX_ERRORS {
            cx.at(
                line,
                0,
                Severity::Error,
                format!(
                    "org_outpost: too many errors ({}); stopped checking here",
                    crate::parser::MAX_ERRORS
                ),
            );
            break;
        }
        let words = match lex::split_words(&line.text, true) {
            Ok(w) => w,
            Err(e) => {
                cx.at(
                    line,
                    e.col,
                    Severity::Error,
                    format!("{} (close the quote on the same line)", e.message),
                );
                continue;
            }
        };
        let Some(first) = words.first() else { continue };
        if let Err((col, msg)) = one(&mut a, &mut cx, line, first, &words[1..], &mut domain_line) {
            cx.at(line, col, Severity::Error, format!("org_outpost: {msg}"));
        }
    }
    // Cross-line checks.
    if a.domains.is_empty() && !a.users.is_empty() {
        let line = a.users[0].origin.clone();
        cx.diags.push(Diagnostic {
            path: line.file,
            line: line.line,
            col: 1,
            severity: Severity::Error,
            message: "org_outpost: users need a mail domain; add a line such as `domain outpost.lan` before them".into(),
        });
    }
    let mut addresses: Vec<(String, Origin)> = Vec::new();
    if let Some(primary) = a.domains.first().cloned() {
        for u in &a.users {
            let addr = u.address(&primary);
            let dom = addr
                .rsplit_once('@')
                .map(|x| x.1.to_string())
                .unwrap_or_default();
            if !a.domains.contains(&dom) {
                cx.diags.push(Diagnostic {
                    path: u.origin.file.clone(),
                    line: u.origin.line,
                    col: 1,
                    severity: Severity::Error,
                    message: format!("org_outpost: user {}: domain {dom} is not one of the mail domains ({}); add it to the `domain` line", u.name, a.domains.join(", ")),
                });
            }
            let mut mine = vec![addr.clone()];
            for al in &u.aliases {
                mine.push(if al.contains('@') {
                    al.clone()
                } else {
                    format!("{al}@{primary}")
                });
            }
            for m in mine {
                if let Some((_, prev)) = addresses.iter().find(|(x, _)| *x == m) {
                    cx.diags.push(Diagnostic {
                        path: u.origin.file.clone(),
                        line: u.origin.line,
                        col: 1,
                        severity: Severity::Error,
                        message: format!("org_outpost: address {m} is already used on line {} (by a user or an alias)", prev.line),
                    });
                } else {
                    addresses.push((m, u.origin.clone()));
                }
            }
        }
    }
    (a, cx.diags)
}

fn one<'l>(
    a: &mut OutpostAddon,
    cx: &mut Ctx,
    line: &'l Line,
    first: &Word,
    rest: &[Word],
    domain_line: &mut Option<&'l Line>,
) -> Result<(), (u32, String)> {
    let origin = Origin {
        file: line.file.to_string(),
        line: line.lineno,
    };
    let cmd = first.text.as_str();
    match cmd {
        "domain" => {
            let args = parse("domain", &[], rest)?;
            if args.pos.is_empty() {
                return Err((
                    first.col,
                    "domain: give at least one mail domain, e.g. `domain outpost.lan`".into(),
                ));
            }
            if let Some(prev) = domain_line {
                cx.at(line, first.col, Severity::Warning, format!("org_outpost: domain already given on line {}; the domains are added to that list", prev.lineno));
            }
            *domain_line = Some(line);
            for w in &args.pos {
                let d = w.text.to_ascii_lowercase();
                check_domain(&d).map_err(|m| (w.col, format!("domain {}: {m}", w.text)))?;
                if a.domains.contains(&d) {
                    cx.at(
                        line,
                        w.col,
                        Severity::Warning,
                        format!("org_outpost: domain {d} listed twice"),
                    );
                } else {
                    a.domains.push(d);
                }
            }
        }
        "user" => {
            let args = parse("user", USER, rest)?;
            if args.pos.is_empty() {
                return Err((first.col, "user: missing the user name, e.g. `user alice --fullname=\"Alice\" --password=…`".into()));
            }
            if let Some(w) = args.pos.get(1) {
                return Err((
                    w.col,
                    format!(
                        "user: unexpected argument `{}` (quote a full name with spaces: --fullname=\"…\")",
                        w.text
                    ),
                ));
            }
            let namew = &args.pos[0];
            let name = namew.text.to_ascii_lowercase();
            check_address(&name).map_err(|m| (namew.col, format!("user {}: {m}", namew.text)))?;
            let password = match args.str("password") {
                None => None,
                Some(p) if p.is_empty() => {
                    return Err((
                        args.col("password").unwrap_or(first.col),
                        "user: --password is empty".into(),
                    ));
                }
                Some(p) => {
                    if args.flag("crypted") {
                        if !p.starts_with('$') {
                            return Err((
                                args.col("password").unwrap_or(first.col),
                                format!(
                                    "user {name}: --iscrypted password is not a crypt(3)/PHC hash (it should start with `$`, e.g. `$6$` or `$argon2id$`)"
                                ),
                            ));
                        }
                        Some(Password::Hash(p))
                    } else {
                        if looks_hashed(&p) && args.col("crypted").is_none() {
                            cx.at(line, args.col("password").unwrap_or(first.col), Severity::Warning, format!("org_outpost: user {name}: the password looks like a hash but is taken as plain text; add --iscrypted if it is a hash"));
                        }
                        Some(Password::Plain(p))
                    }
                }
            };
            let mut roles = Vec::new();
            for r in args.list("roles") {
                let role = match r.to_ascii_lowercase().as_str() {
                    "admin" => Role::Admin,
                    "user" => Role::User,
                    _ => {
                        return Err((
                            args.col("roles").unwrap_or(first.col),
                            format!("user {name}: unknown role {r:?} (use admin or user)"),
                        ));
                    }
                };
                if !roles.contains(&role) {
                    roles.push(role);
                }
            }
            if roles.is_empty() {
                roles.push(Role::User);
            }
            roles.sort();
            let mut aliases = Vec::new();
            for al in args.list("aliases") {
                let al = al.to_ascii_lowercase();
                check_address(&al).map_err(|m| {
                    (
                        args.col("aliases").unwrap_or(first.col),
                        format!("user {name}: alias {al}: {m}"),
                    )
                })?;
                if !aliases.contains(&al) {
                    aliases.push(al);
                }
            }
            let quota = match args.str("quota") {
                None => None,
                Some(q) => parse_size(&q).map_err(|m| {
                    (
                        args.col("quota").unwrap_or(first.col),
                        format!("user {name}: --quota={q}: {m}"),
                    )
                })?,
            };
            if a.users.iter().any(|u| u.name == name) {
                return Err((
                    namew.col,
                    format!("user {name} is defined twice; merge the two lines"),
                ));
            }
            a.users.push(MailUser {
                name,
                full_name: args.str("fullname"),
                password,
                roles,
                aliases,
                quota,
                origin,
                password_col: args.col("password").unwrap_or(0),
            });
        }
        "services" => {
            let args = parse("services", SERVICES, rest)?;
            let mut names: Vec<(String, u32)> = Vec::new();
            for w in &args.pos {
                names.extend(
                    crate::opts::comma_split(&w.text)
                        .into_iter()
                        .map(|s| (s, w.col)),
                );
            }
            for s in args.list("enabled") {
                names.push((s, args.col("enabled").unwrap_or(first.col)));
            }
            if names.is_empty() {
                return Err((
                    first.col,
                    format!(
                        "services: list the services to run, e.g. `services smtp,imap,webd` (known: {})",
                        OutpostService::ALL.map(|s| s.as_str()).join(", ")
                    ),
                ));
            }
            let mut list = a.services.take().unwrap_or_default();
            for (n, col) in names {
                let s = match n.to_ascii_lowercase().as_str() {
                    "all" => {
                        list.extend(OutpostService::ALL);
                        continue;
                    }
                    "smtp" | "smtpd" => OutpostService::Smtp,
                    "imap" | "imapd" => OutpostService::Imap,
                    "pop3" | "pop" => OutpostService::Pop3,
                    "webd" | "web" | "dav" | "https" => OutpostService::Webd,
                    "sync" | "syncd" => OutpostService::Sync,
                    "backup" | "backupd" => OutpostService::Backup,
                    _ => {
                        return Err((
                            col,
                            format!(
                                "services: unknown service {n:?} (known: {})",
                                OutpostService::ALL.map(|s| s.as_str()).join(", ")
                            ),
                        ));
                    }
                };
                list.push(s);
            }
            list.sort();
            list.dedup();
            a.services = Some(list);
        }
        "upstream" => {
            let args = parse("upstream", UPSTREAM, rest)?;
            let Some(kw) = args.pos.first() else {
                return Err((first.col, "upstream: missing the kind (graph, ews or smarthost), e.g. `upstream smarthost --host=smtp.example.com:587`".into()));
            };
            if let Some(w) = args.pos.get(1) {
                return Err((w.col, format!("upstream: unexpected argument `{}`", w.text)));
            }
            let kind = match kw.text.to_ascii_lowercase().as_str() {
                "graph" | "exchange-online" => UpstreamKind::Graph,
                "ews" | "exchange" => UpstreamKind::Ews,
                "smarthost" | "smtp" => UpstreamKind::Smarthost,
                other => {
                    return Err((
                        kw.col,
                        format!("upstream: unknown kind {other:?} (use graph, ews or smarthost)"),
                    ));
                }
            };
            let endpoint = match kind {
                UpstreamKind::Smarthost => {
                    if args.str("url").is_some() {
                        return Err((
                            args.col("url").unwrap_or(first.col),
                            "upstream smarthost: use --host=HOST[:PORT], not --url".into(),
                        ));
                    }
                    let host = args.str("host").ok_or((
                        first.col,
                        "upstream smarthost: --host=HOST[:PORT] is required".to_string(),
                    ))?;
                    check_hostport(&host).map_err(|m| {
                        (
                            args.col("host").unwrap_or(first.col),
                            format!("upstream smarthost: --host={host}: {m}"),
                        )
                    })?;
                    host
                }
                UpstreamKind::Ews => {
                    let url = args.str("url").ok_or((
                        first.col,
                        "upstream ews: --url=https://…/EWS/Exchange.asmx is required".to_string(),
                    ))?;
                    check_url(&url).map_err(|m| {
                        (
                            args.col("url").unwrap_or(first.col),
                            format!("upstream ews: --url: {m}"),
                        )
                    })?;
                    url
                }
                UpstreamKind::Graph => {
                    let url = args
                        .str("url")
                        .unwrap_or_else(|| "https://graph.microsoft.com/v1.0".into());
                    check_url(&url).map_err(|m| {
                        (
                            args.col("url").unwrap_or(first.col),
                            format!("upstream graph: --url: {m}"),
                        )
                    })?;
                    if args.str("tenant").is_none() || args.str("client_id").is_none() {
                        return Err((
                            first.col,
                            "upstream graph: --tenant and --client-id are required".into(),
                        ));
                    }
                    url
                }
            };
            if kind != UpstreamKind::Smarthost && args.str("tls").is_some() {
                return Err((
                    args.col("tls").unwrap_or(first.col),
                    format!(
                        "upstream {}: --tls only applies to smarthost",
                        kind.as_str()
                    ),
                ));
            }
            if let Some(m) = args.str("map") {
                check_map(&m).map_err(|msg| {
                    (
                        args.col("map").unwrap_or(first.col),
                        format!("upstream: --map={m}: {msg}"),
                    )
                })?;
            }
            if a.upstreams.iter().any(|u| u.kind == kind) {
                return Err((kw.col, format!("upstream {} is given twice", kind.as_str())));
            }
            a.upstreams.push(Upstream {
                kind,
                endpoint,
                tenant: args.str("tenant"),
                client_id: args.str("client_id"),
                username: args.str("username"),
                secret: args.str("secret"),
                map: args.str("map"),
                tls: args.str("tls"),
            });
        }
        "ha" => {
            let args = parse("ha", HA, rest)?;
            if let Some(w) = args.pos.first() {
                return Err((
                    w.col,
                    format!("ha: unexpected argument `{}` (use --peer=ADDRESS)", w.text),
                ));
            }
            let peer = args
                .str("peer")
                .filter(|p| !p.is_empty())
                .ok_or((first.col, "ha: --peer=ADDRESS is required".to_string()))?;
            if let Some(v) = args.str("vip") {
                check_cidr(&v).map_err(|m| {
                    (
                        args.col("vip").unwrap_or(first.col),
                        format!("ha: --vip={v}: {m}"),
                    )
                })?;
            }
            if a.ha.is_some() {
                cx.at(
                    line,
                    first.col,
                    Severity::Warning,
                    "org_outpost: ha given twice; only the last one is used".into(),
                );
            }
            a.ha = Some(HaPeer {
                peer,
                vip: args.str("vip"),
                role: if args.str("role").as_deref() == Some("standby") {
                    HaRole::Standby
                } else {
                    HaRole::Primary
                },
            });
        }
        "backup" => {
            let args = parse("backup", BACKUP, rest)?;
            if let Some(w) = args.pos.first() {
                return Err((w.col, format!("backup: unexpected argument `{}`", w.text)));
            }
            let schedule = args.str("schedule").unwrap_or_else(|| "daily".into());
            check_schedule(&schedule).map_err(|m| {
                (
                    args.col("schedule").unwrap_or(first.col),
                    format!("backup: --schedule={schedule}: {m}"),
                )
            })?;
            let keep = args.int("keep").unwrap_or(7);
            if keep == 0 || keep > 10_000 {
                return Err((
                    args.col("keep").unwrap_or(first.col),
                    "backup: --keep must be between 1 and 10000".into(),
                ));
            }
            if let Some(t) = args.str("target")
                && !t.starts_with('/')
            {
                return Err((
                    args.col("target").unwrap_or(first.col),
                    format!("backup: --target={t} must be an absolute path"),
                ));
            }
            if a.backup.is_some() {
                cx.at(
                    line,
                    first.col,
                    Severity::Warning,
                    "org_outpost: backup given twice; only the last one is used".into(),
                );
            }
            a.backup = Some(Backup {
                schedule,
                keep: keep as u32,
                target: args.str("target"),
            });
        }
        other => {
            let hint = ADDON_COMMANDS
                .iter()
                .map(|c| (crate::commands::levenshtein(other, c), *c))
                .filter(|(d, _)| *d <= 2)
                .min()
                .map(|(_, c)| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err((
                first.col,
                format!(
                    "unknown setting {other:?} (known: {}){hint}",
                    ADDON_COMMANDS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn looks_hashed(p: &str) -> bool {
    p.starts_with('$') && p[1..].contains('$')
}

/// Parses a size such as `2G`, `500MiB`, `1.5T` into bytes (binary units);
/// `unlimited`/`none` means no quota.
pub fn parse_size(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| "expected a size such as 500M, 2G or 1T".to_string())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown unit {other:?} (use K, M, G or T)")),
    };
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > 1u64.wrapping_shl(60) as f64 {
        return Err("size out of range".into());
    }
    Ok(Some(bytes as u64))
}

/// Prints a byte count with the largest binary unit that divides it.
pub fn format_size(bytes: u64) -> String {
    for (unit, m) in [
        ("T", 1u64 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ] {
        if bytes.is_multiple_of(m) {
            return format!("{}{unit}", bytes / m);
        }
    }
    bytes.to_string()
}

fn check_domain(d: &str) -> Result<(), String> {
    if d.is_empty() || d.len() > 253 {
        return Err("not a domain name".into());
    }
    for label in d.split('.') {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!("not a valid domain name (bad label {label:?})"));
        }
    }
    Ok(())
}

fn check_local(l: &str) -> Result<(), String> {
    if l.is_empty() || l.len() > 64 {
        return Err("local part must be 1 to 64 characters".into());
    }
    if l.starts_with('.') || l.ends_with('.') || l.contains("..") {
        return Err("local part cannot start or end with a dot or contain two dots".into());
    }
    if let Some(c) = l
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._+-".contains(*c)))
    {
        return Err(format!(
            "character {c:?} is not allowed in a mail name (use letters, digits, . _ + -)"
        ));
    }
    Ok(())
}

fn check_address(a: &str) -> Result<(), String> {
    match a.split_once('@') {
        Some((l, d)) => {
            check_local(l)?;
            check_domain(d)
        }
        None => check_local(a),
    }
}

fn check_url(u: &str) -> Result<(), String> {
    let rest = u
        .strip_prefix("https://")
        .ok_or("must start with https://")?;
    if rest.is_empty() || rest.starts_with('/') || rest.chars().any(char::is_whitespace) {
        return Err("not a valid URL".into());
    }
    Ok(())
}

fn check_hostport(h: &str) -> Result<(), String> {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.starts_with('[') => (host, Some(port)),
        _ => (h, None),
    };
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!("invalid port {p:?}"));
    }
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err("invalid host".into());
    }
    Ok(())
}

fn check_map(m: &str) -> Result<(), String> {
    if !m.contains("{local}") {
        return Err("the rule must contain {local}, e.g. {local}@company.com".into());
    }
    let stripped = m.replace("{local}", "").replace("{domain}", "");
    if stripped.contains('{') || stripped.contains('}') {
        return Err("only the placeholders {local} and {domain} are known".into());
    }
    if !m.contains('@') {
        return Err("the rule must produce an address, e.g. {local}@company.com".into());
    }
    Ok(())
}

fn check_cidr(v: &str) -> Result<(), String> {
    let (addr, len) = v
        .split_once('/')
        .ok_or("expected ADDRESS/PREFIX, e.g. 192.0.2.10/24")?;
    let ip: std::net::IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match len.parse::<u8>() {
        Ok(n) if n <= max => Ok(()),
        _ => Err(format!("prefix length must be 0..={max}")),
    }
}

/// Accepts systemd calendar shorthands and `OnCalendar=`-style expressions
/// made of the characters they use; systemd itself checks the rest.
fn check_schedule(s: &str) -> Result<(), String> {
    const SHORT: &[&str] = &[
        "minutely",
        "hourly",
        "daily",
        "weekly",
        "monthly",
        "yearly",
        "quarterly",
        "semiannually",
    ];
    if SHORT.contains(&s) {
        return Ok(());
    }
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " *-:,./~".contains(c))
        && s.chars().any(|c| c.is_ascii_digit() || c == '*')
    {
        return Ok(());
    }
    Err("expected a systemd calendar expression such as daily or \"*-*-* 02:00:00\"".into())
}
