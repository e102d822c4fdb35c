//! Administrative actions with more than one step, shared by `outpostctl`
//! and the web admin console so both validate the same way and say the
//! same words ("…; nothing changed" on every refusal).
//!
//! **Invariant:** a refusal changes nothing: a user is added to the
//! directory and given a mailbox, or neither.
//! **API boundary:** synchronous; the caller opens the directory.

#![deny(missing_docs)]

use outpost_config::Config;
use outpost_directory::{Directory, NewUser};

/// Refuses an address outside the local domains (and their alias domains).
pub fn check_local_domain(config: &Config, dir: &Directory, address: &str) -> Result<(), String> {
    let domain = address.rsplit('@').next().unwrap_or("");
    let alias = dir
        .is_alias_domain(domain)
        .map_err(|e| format!("{e}; nothing changed"))?;
    if !config.is_local_domain(domain) && !alias {
        return Err(format!(
            "{domain} is not a local mail domain (general.domains = {:?} in the configuration); nothing changed",
            config.general.domains
        ));
    }
    Ok(())
}

/// Adds a user and creates their mailbox; on any failure nothing is left
/// behind. Returns what to tell the admin.
pub fn add_user(config: &Config, dir: &mut Directory, mut new: NewUser) -> Result<String, String> {
    let address = outpost_directory::normalize_address(&new.address)
        .map_err(|e| format!("{e}; nothing changed"))?;
    check_local_domain(config, dir, &address)?;
    if dir
        .user(&address)
        .map_err(|e| format!("{e}; nothing changed"))?
        .is_some()
    {
        return Err(format!("{address} exists already; nothing changed"));
    }
    if new.roles.is_empty() {
        new.roles = vec!["user".into()];
    }
    new.address = address.clone();
    let user = dir
        .add_user(&new)
        .map_err(|e| format!("{e}; nothing changed"))?;
    let (local, domain) = address.split_once('@').unwrap_or((&address, ""));
    match outpost_store::create_mailbox_tree(&config.general.mail_root, domain, local) {
        Ok(path) => Ok(format!(
            "added {} (mailbox {})",
            user.address,
            path.display()
        )),
        Err(e) => {
            // Keep "nothing changed" true: undo the directory entry.
            let _ = dir.delete_user(&address);
            Err(format!(
                "creating the mailbox of {address}: {e}; nothing changed"
            ))
        }
    }
}

/// Creates a group with its members, or nothing: every member address is
/// checked before the group is made.
pub fn add_group(
    config: &Config,
    dir: &mut Directory,
    address: &str,
    name: &str,
    members: &[String],
) -> Result<String, String> {
    let nothing = |e: outpost_directory::Error| format!("{e}; nothing changed");
    let address = outpost_directory::normalize_address(address).map_err(nothing)?;
    check_local_domain(config, dir, &address)?;
    let members = members
        .iter()
        .map(|m| outpost_directory::normalize_address(m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(nothing)?;
    // One transaction: a crash or a bad member leaves no half-made group.
    dir.add_group_with(&address, name.trim(), &members)
        .map_err(nothing)?;
    Ok(format!(
        "added group {address} with {} members",
        members.len()
    ))
}

/// Makes mail to `x@alias_domain` go to `x@target_domain`, a local domain.
pub fn add_domain_alias(
    config: &Config,
    dir: &mut Directory,
    alias_domain: &str,
    target_domain: &str,
) -> Result<String, String> {
    let (alias, target) = (
        alias_domain.trim().to_ascii_lowercase(),
        target_domain.trim().to_ascii_lowercase(),
    );
    if !config.is_local_domain(&target) {
        return Err(format!(
            "{target} is not a local mail domain (general.domains); nothing changed"
        ));
    }
    if config.is_local_domain(&alias) {
        return Err(format!(
            "{alias} is a mail domain of its own; nothing changed"
        ));
    }
    dir.add_domain_alias(&alias, &target)
        .map_err(|e| format!("{e}; nothing changed"))?;
    Ok(format!("{alias} -> {target}"))
}

/// A size as an admin writes it: bytes, or a number with `K`, `M`, `G`
/// or `T` (binary multiples; `KB`, `MiB`, … and spaces are accepted too).
/// `0` or `none` is no quota.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase().replace(' ', "");
    if t.is_empty() || t == "none" || t == "unlimited" {
        return Ok(0);
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => {
            return Err(format!(
                "{s:?} is not a size (e.g. 500M, 2G); nothing changed"
            ));
        }
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .filter(|n| *n <= i64::MAX as u64)
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 500M, 2G); nothing changed"))
}

/// A size for people: `2.0 GiB`, `500 MiB`, `12 KiB`, `0`.
pub fn show_size(n: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (u, shift) in UNITS {
        if n >= 1u64 << shift {
            let v = n as f64 / (1u64 << shift) as f64;
            return if v.fract() == 0.0 {
                format!("{v:.0} {u}")
            } else {
                format!("{v:.1} {u}")
            };
        }
    }
    n.to_string()
}

/// Changes an existing user (`outpostctl user set`, the console's *Save*).
/// Returns what to tell the admin.
pub fn update_user(
    dir: &mut Directory,
    address: &str,
    change: &outpost_directory::UserUpdate,
) -> Result<String, String> {
    // The last enabled administrator keeps the role: without one nobody
    // can reach the console to give it back.
    if let Some(roles) = &change.roles
        && !roles.iter().any(|r| r.trim().eq_ignore_ascii_case("admin"))
    {
        let users = dir.users().map_err(|e| format!("{e}; nothing changed"))?;
        let admins: Vec<&str> = users
            .iter()
            .filter(|u| u.enabled && u.roles.iter().any(|r| r == "admin"))
            .map(|u| u.address.as_str())
            .collect();
        let me = address.trim().to_ascii_lowercase();
        if admins == [me.as_str()] {
            return Err(format!(
                "{me} is the last administrator and keeps the admin role; nothing changed"
            ));
        }
    }
    let u = dir
        .update_user(address, change)
        .map_err(|e| format!("{e}; nothing changed"))?;
    Ok(format!(
        "{}: name {:?}, roles {}, quota {}, upstream {}",
        u.address,
        u.full_name,
        if u.roles.is_empty() {
            "none".into()
        } else {
            u.roles.join(",")
        },
        if u.quota == 0 {
            "none".into()
        } else {
            show_size(u.quota)
        },
        if u.upstream.is_empty() {
            "none"
        } else {
            &u.upstream
        }
    ))
}

/// One listener of a daemon and whether it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    /// `outpost-smtpd`, `outpost-imapd` or `outpost-webd`.
    pub daemon: &'static str,
    /// What it serves there (`SMTP (MX)`, `IMAPS`, …).
    pub service: &'static str,
    /// The configured address.
    pub listen: std::net::SocketAddr,
    /// `Ok(greeting or "accepting connections")`, or why not.
    pub state: Result<String, String>,
}

/// Every configured listener of every daemon, tried from this machine: a
/// TCP connect (an unspecified address is tried on loopback) within
/// `timeout`, and for SMTP, IMAP and POP3 the first line of the greeting.
/// The listeners are tried at once, so the whole check takes at most
/// about `timeout` twice.
pub fn service_states(config: &Config, timeout: std::time::Duration) -> Vec<ServiceState> {
    use std::io::Read as _;
    let list: Vec<(&'static str, &'static str, bool, &Vec<std::net::SocketAddr>)> = vec![
        ("outpost-smtpd", "SMTP (MX)", true, &config.smtp.mx_listen),
        (
            "outpost-smtpd",
            "Submission",
            true,
            &config.smtp.submission_listen,
        ),
        (
            "outpost-smtpd",
            "Submissions (TLS)",
            false,
            &config.smtp.submissions_listen,
        ),
        ("outpost-imapd", "IMAP", true, &config.imap.imap_listen),
        ("outpost-imapd", "IMAPS", false, &config.imap.imaps_listen),
        ("outpost-imapd", "POP3", true, &config.imap.pop3_listen),
        ("outpost-imapd", "POP3S", false, &config.imap.pop3s_listen),
        ("outpost-webd", "HTTPS", false, &config.web.listen),
        ("outpost-webd", "HTTP", false, &config.web.plain_listen),
    ];
    let probe = |addr: std::net::SocketAddr, greets: bool| -> Result<String, String> {
        let mut target = addr;
        if target.ip().is_unspecified() {
            target.set_ip(match target.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let mut s = std::net::TcpStream::connect_timeout(&target, timeout)
            .map_err(|e| format!("not answering ({e})"))?;
        if !greets {
            return Ok("accepting connections".into());
        }
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while !got.contains(&b'\n') && got.len() < buf.len() {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("connected, but no greeting ({e})")),
            }
        }
        let line: String = String::from_utf8_lossy(&got)
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        if line.starts_with("220") || line.starts_with("* OK") || line.starts_with("+OK") {
            Ok(line)
        } else {
            Err(format!("connected, but it said {line:?}"))
        }
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = list
            .iter()
            .flat_map(|(daemon, service, greets, addrs)| {
                addrs.iter().map(move |a| (*daemon, *service, *greets, *a))
            })
            .map(|(daemon, service, greets, listen)| {
                let probe = &probe;
                scope.spawn(move || ServiceState {
                    daemon,
                    service,
                    listen,
                    state: probe(listen, greets),
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

/// One DNS record a site publishes for its mail domains.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DnsRecord {
    /// Owner name, fully qualified with the final dot.
    pub name: String,
    /// `MX`, `TXT`, `SRV`, `CNAME`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The record data as a zone file writes it.
    pub value: String,
    /// What it is for.
    pub comment: &'static str,
}

/// The records a site publishes for each mail domain (of `general.domains`
/// and the alias domains): MX; SPF (`v=spf1 mx -all`); DMARC
/// (`p=quarantine`, reports to postmaster); the RFC 6186 / 8314 SRV
/// records of submission, IMAP and POP3; the RFC 6764 SRV records of
/// CalDAV and CardDAV; and the `autoconfig` and `autodiscover` names
/// (CNAME to the host) with Outlook's `_autodiscover._tcp` SRV. Ports are
/// the configured ones. The DKIM key records ([`dkim_records`]) of `dkim`
/// follow.
pub fn dns_records(config: &Config, dir: &Directory, dkim: &DkimKeys) -> Vec<DnsRecord> {
    let mut out = base_records(config, dir);
    if let Ok(keys) = dkim {
        out.extend(dkim_records(config, &mail_domains(config, dir), keys));
    }
    out
}

/// One DKIM public key to publish (what `outpost_hygiene::dkim::published`
/// reads from the key folder; this crate stays free of the crypto and
/// async crates, so the caller reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    /// `<selector>-rsa` or `<selector>-ed25519`.
    pub selector: String,
    /// `rsa` or `ed25519`.
    pub algorithm: &'static str,
    /// The TXT record's text (`v=DKIM1; k=…; p=…`).
    pub record: String,
    /// Of the selector mail is signed with now.
    pub active: bool,
}

/// The DKIM keys of the key folder, or why they cannot be read.
pub type DkimKeys = Result<Vec<DkimKey>, String>;

/// The mail domains records are published for: `general.domains`, then
/// the alias domains, lowercase, without the final dot.
fn mail_domains(config: &Config, dir: &Directory) -> Vec<String> {
    let mut domains: Vec<String> = config.general.domains.clone();
    domains.extend(
        dir.domain_aliases()
            .unwrap_or_default()
            .into_iter()
            .map(|(a, _)| a),
    );
    domains
        .into_iter()
        .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
        .collect()
}

/// The DKIM TXT records (`<selector>._domainkey.<domain>`) of `keys`: the
/// active selector's two keys (RSA and Ed25519) and those of rotated-out
/// selectors not yet retired, which must stay published while mail
/// signed with them may still be checked. The domains are those smtpd
/// signs for: `smtp.dkim.domain` when set, else each mail domain (the
/// From domain signs). Empty when signing is off.
pub fn dkim_records(config: &Config, domains: &[String], keys: &[DkimKey]) -> Vec<DnsRecord> {
    if !config.smtp.dkim.enabled {
        return Vec::new();
    }
    let signing: Vec<String> = if config.smtp.dkim.domain.is_empty() {
        domains.to_vec()
    } else {
        vec![
            config
                .smtp
                .dkim
                .domain
                .trim_end_matches('.')
                .to_ascii_lowercase(),
        ]
    };
    let mut out = Vec::new();
    for d in &signing {
        for p in keys {
            out.push(DnsRecord {
                name: format!("{}._domainkey.{d}.", p.selector),
                kind: "TXT",
                value: zone_strings(&p.record),
                comment: match (p.active, p.algorithm) {
                    (true, "rsa") => "DKIM: the RSA-2048 key mail is signed with",
                    (true, _) => "DKIM: the Ed25519 key mail is signed with (RFC 8463)",
                    (false, _) => {
                        "DKIM: a rotated-out key; keep it published until `outpostctl dkim retire`"
                    }
                },
            });
        }
    }
    out
}

/// A TXT record's text as zone-file strings of at most 255 bytes each
/// (RFC 1035 §3.3.14).
pub fn zone_strings(record: &str) -> String {
    record
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What to tell an admin about DKIM records that [`dns_records`] could
/// not list: signing off, keys not made yet, or keys unreadable.
pub fn dkim_note(config: &Config, dkim: &DkimKeys) -> Option<String> {
    if !config.smtp.dkim.enabled {
        return Some("DKIM signing is off ([smtp.dkim] enabled = false): no DKIM record".into());
    }
    match dkim {
        Ok(p) if p.is_empty() => Some(format!(
            "DKIM: no keys in {} yet (smtpd makes them at its first start, \
             or run `outpostctl dkim rotate`)",
            config.dkim_key_dir().display()
        )),
        Ok(_) => None,
        Err(e) => Some(format!("DKIM: the keys cannot be read: {e}")),
    }
}

fn base_records(config: &Config, dir: &Directory) -> Vec<DnsRecord> {
    let host = format!("{}.", config.general.hostname.trim_end_matches('.'));
    let domains = mail_domains(config, dir);
    let port = |v: &[std::net::SocketAddr]| v.first().map(std::net::SocketAddr::port);
    let srv: Vec<(&str, Option<u16>, &'static str)> = vec![
        (
            "_submissions._tcp",
            port(&config.smtp.submissions_listen),
            "mail submission over TLS (RFC 8314)",
        ),
        (
            "_submission._tcp",
            port(&config.smtp.submission_listen),
            "mail submission with STARTTLS (RFC 6186)",
        ),
        (
            "_imaps._tcp",
            port(&config.imap.imaps_listen),
            "IMAP over TLS (RFC 6186)",
        ),
        (
            "_imap._tcp",
            port(&config.imap.imap_listen),
            "IMAP with STARTTLS (RFC 6186)",
        ),
        (
            "_pop3s._tcp",
            port(&config.imap.pop3s_listen),
            "POP3 over TLS (RFC 6186)",
        ),
        (
            "_caldavs._tcp",
            port(&config.web.listen),
            "CalDAV (RFC 6764)",
        ),
        (
            "_carddavs._tcp",
            port(&config.web.listen),
            "CardDAV (RFC 6764)",
        ),
        (
            "_autodiscover._tcp",
            port(&config.web.listen),
            "Outlook autodiscover",
        ),
    ];
    let mut out = Vec::new();
    for d in domains {
        let at = |n: &str| {
            if n.is_empty() {
                format!("{d}.")
            } else {
                format!("{n}.{d}.")
            }
        };
        out.push(DnsRecord {
            name: at(""),
            kind: "MX",
            value: format!("10 {host}"),
            comment: "mail for the domain goes to this server",
        });
        out.push(DnsRecord {
            name: at(""),
            kind: "TXT",
            value: "\"v=spf1 mx -all\"".into(),
            comment: "SPF: only the domain's MX sends its mail",
        });
        out.push(DnsRecord {
            name: at("_dmarc"),
            kind: "TXT",
            value: format!("\"v=DMARC1; p=quarantine; rua=mailto:postmaster@{d}\""),
            comment: "DMARC: mail failing SPF and DKIM goes to Junk; reports to postmaster",
        });
        for (name, p, comment) in &srv {
            if let Some(p) = p {
                out.push(DnsRecord {
                    name: at(name),
                    kind: "SRV",
                    value: format!("0 1 {p} {host}"),
                    comment,
                });
            }
        }
        for name in ["autoconfig", "autodiscover"] {
            out.push(DnsRecord {
                name: at(name),
                kind: "CNAME",
                value: host.clone(),
                comment: if name == "autoconfig" {
                    "Thunderbird finds its settings at http(s)://autoconfig.<domain>/"
                } else {
                    "Outlook finds its settings at https://autodiscover.<domain>/"
                },
            });
        }
    }
    out
}

/// Records in zone-file form, a comment above each.
pub fn zone_text(records: &[DnsRecord]) -> String {
    let width = records.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut s = String::new();
    for r in records {
        s.push_str(&format!(
            "; {}\n{:width$}  3600  IN  {:5}  {}\n",
            r.comment, r.name, r.kind, r.value
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkim_records_list_every_published_key_per_signing_domain() {
        use outpost_hygiene::dkim;
        // What outpostctl and webd pass: the key folder as read.
        let read = |config: &Config| -> DkimKeys {
            dkim::published(&dkim::KeyDir::of(config))
                .map(|v| {
                    v.into_iter()
                        .map(|p| DkimKey {
                            selector: p.selector,
                            algorithm: p.algorithm,
                            record: p.record,
                            active: p.active,
                        })
                        .collect()
                })
                .map_err(|e| e.to_string())
        };
        let t = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.general.hostname = "mail.outpost.lan".into();
        config.general.domains = vec!["outpost.lan".into()];
        config.general.state_dir = t.path().join("state");
        let mut dir = Directory::open(&t.path().join("dir")).unwrap();
        dir.add_domain_alias("field.example", "outpost.lan")
            .unwrap();
        // No keys yet: no record, and a note saying why.
        assert!(
            !dns_records(&config, &dir, &read(&config))
                .iter()
                .any(|r| r.name.contains("_domainkey"))
        );
        assert!(
            dkim_note(&config, &read(&config))
                .unwrap()
                .contains("no keys"),
            "{:?}",
            dkim_note(&config, &read(&config))
        );
        let keys = dkim::KeyDir::of(&config);
        dkim::ensure(&keys).unwrap();
        let new = dkim::rotate(&keys, "20261207").unwrap();
        assert_eq!(dkim_note(&config, &read(&config)), None);
        let r = dns_records(&config, &dir, &read(&config));
        let dkim: Vec<&DnsRecord> = r.iter().filter(|r| r.name.contains("_domainkey")).collect();
        // Two selectors (active + rotated out) x two algorithms x two domains.
        assert_eq!(dkim.len(), 8, "{dkim:#?}");
        for d in ["outpost.lan", "field.example"] {
            let rsa = dkim
                .iter()
                .find(|x| x.name == format!("{new}-rsa._domainkey.{d}."))
                .unwrap();
            assert!(rsa.comment.contains("signed with"));
            // 2048-bit key: longer than one 255-byte string, so split.
            assert!(
                rsa.value.starts_with("\"v=DKIM1; k=rsa; p="),
                "{}",
                rsa.value
            );
            assert!(rsa.value.contains("\" \""), "{}", rsa.value);
            assert!(
                rsa.value
                    .split("\" \"")
                    .all(|c| c.trim_matches('"').len() <= 255)
            );
            let old = dkim
                .iter()
                .find(|x| x.name == format!("outpost-ed25519._domainkey.{d}."))
                .unwrap();
            assert!(old.comment.contains("rotated-out"));
            assert!(old.value.starts_with("\"v=DKIM1; k=ed25519; p="));
        }
        // A fixed signing domain: records only there.
        config.smtp.dkim.domain = "Sign.Example".into();
        let r = dns_records(&config, &dir, &read(&config));
        assert!(
            r.iter()
                .filter(|r| r.name.contains("_domainkey"))
                .all(|r| r.name.ends_with("._domainkey.sign.example."))
        );
        // Signing off: no record, and the note says so.
        config.smtp.dkim.enabled = false;
        assert!(
            !dns_records(&config, &dir, &read(&config))
                .iter()
                .any(|r| r.name.contains("_domainkey"))
        );
        assert!(dkim_note(&config, &read(&config)).unwrap().contains("off"));
        // Unreadable keys: an error note, not silence.
        config.smtp.dkim.enabled = true;
        std::fs::write(keys.dir.join("active"), "bad selector!\n").unwrap();
        assert!(
            dkim_note(&config, &read(&config))
                .unwrap()
                .contains("cannot be read")
        );
    }

    #[test]
    fn dns_records_cover_every_domain_and_service() {
        let t = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.general.hostname = "mail.outpost.lan".into();
        config.general.domains = vec!["outpost.lan".into()];
        let mut dir = Directory::open(&t.path().join("dir")).unwrap();
        dir.add_domain_alias("field.example", "outpost.lan")
            .unwrap();
        let r = dns_records(&config, &dir, &Ok(Vec::new()));
        let has = |name: &str, kind: &str, value: &str| {
            r.iter()
                .any(|x| x.name == name && x.kind == kind && x.value == value)
        };
        for d in ["outpost.lan.", "field.example."] {
            assert!(has(d, "MX", "10 mail.outpost.lan."), "{r:?}");
            assert!(has(d, "TXT", "\"v=spf1 mx -all\""));
            assert!(has(
                &format!("_imaps._tcp.{d}"),
                "SRV",
                "0 1 993 mail.outpost.lan."
            ));
            assert!(has(
                &format!("_submissions._tcp.{d}"),
                "SRV",
                "0 1 465 mail.outpost.lan."
            ));
            assert!(has(
                &format!("_caldavs._tcp.{d}"),
                "SRV",
                "0 1 443 mail.outpost.lan."
            ));
            assert!(has(
                &format!("autoconfig.{d}"),
                "CNAME",
                "mail.outpost.lan."
            ));
        }
        let zone = zone_text(&r);
        assert!(zone.contains("_dmarc.outpost.lan.") && zone.contains("IN  TXT"));
        assert!(
            zone.lines()
                .filter(|l| !l.starts_with(';'))
                .all(|l| l.contains("  3600  IN  "))
        );
    }

    #[test]
    fn sizes_parse_and_print() {
        for (s, n) in [
            ("0", 0),
            ("none", 0),
            ("", 0),
            ("1024", 1024),
            ("500M", 500 << 20),
            ("2G", 2 << 30),
            ("2 GiB", 2 << 30),
            ("10kb", 10 << 10),
            ("1T", 1 << 40),
        ] {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
        for bad in ["-1", "1.5G", "12X", "G", "99999999999T", "1e9"] {
            assert!(
                parse_size(bad).unwrap_err().ends_with("nothing changed"),
                "{bad}"
            );
        }
        assert_eq!(show_size(2 << 30), "2 GiB");
        assert_eq!(show_size(1536 << 10), "1.5 MiB");
        assert_eq!(show_size(100), "100");
    }

    #[test]
    fn service_states_tell_answering_from_silent_listeners() {
        use std::io::Write as _;
        let smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let smtp_addr = smtp.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in smtp.incoming() {
                let _ = c.unwrap().write_all(b"220 mx.test ESMTP Outpost\r\n");
            }
        });
        let mut config = Config::default();
        config.smtp.mx_listen = vec![smtp_addr];
        config.smtp.submission_listen = vec![silent.local_addr().unwrap()];
        config.smtp.submissions_listen = vec![];
        config.imap.imap_listen = vec![closed];
        config.imap.imaps_listen = vec![];
        config.imap.pop3_listen = vec![];
        config.imap.pop3s_listen = vec![];
        config.web.listen = vec![silent.local_addr().unwrap()];
        config.web.plain_listen = vec![];
        let got = service_states(&config, std::time::Duration::from_millis(500));
        let by = |s: &str| got.iter().find(|x| x.service == s).unwrap().state.clone();
        assert_eq!(by("SMTP (MX)"), Ok("220 mx.test ESMTP Outpost".into()));
        assert!(by("Submission").unwrap_err().contains("no greeting"));
        assert!(by("IMAP").unwrap_err().starts_with("not answering"));
        assert_eq!(by("HTTPS"), Ok("accepting connections".into()));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn a_user_is_added_with_a_mailbox_or_not_at_all() {
        let t = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.general.domains = vec!["outpost.lan".into()];
        config.general.mail_root = t.path().join("mail");
        let mut dir = Directory::open(&t.path().join("dir")).unwrap();
        let msg = add_user(
            &config,
            &mut dir,
            NewUser::new("Dana@Outpost.lan", "correct horse 1"),
        )
        .unwrap();
        assert!(msg.starts_with("added dana@outpost.lan (mailbox "), "{msg}");
        assert!(t.path().join("mail/outpost.lan/dana/cur").is_dir());
        assert_eq!(
            dir.user("dana@outpost.lan").unwrap().unwrap().roles,
            ["user"]
        );
        let again = add_user(
            &config,
            &mut dir,
            NewUser::new("dana@outpost.lan", "correct horse 1"),
        );
        assert_eq!(
            again.unwrap_err(),
            "dana@outpost.lan exists already; nothing changed"
        );
        let foreign = add_user(
            &config,
            &mut dir,
            NewUser::new("x@example.org", "correct horse 1"),
        );
        assert!(
            foreign
                .unwrap_err()
                .starts_with("example.org is not a local mail domain")
        );
        let weak = add_user(&config, &mut dir, NewUser::new("eve@outpost.lan", "short"));
        assert!(weak.unwrap_err().ends_with("; nothing changed"));
        assert!(dir.user("eve@outpost.lan").unwrap().is_none());
        // The mailbox cannot be made (a file where the domain folder goes):
        // the directory entry is undone.
        std::fs::write(t.path().join("mail/other.lan"), b"").unwrap();
        config.general.domains.push("other.lan".into());
        let broken = add_user(
            &config,
            &mut dir,
            NewUser::new("fred@other.lan", "correct horse 1"),
        );
        assert!(broken.unwrap_err().contains("nothing changed"));
        assert!(dir.user("fred@other.lan").unwrap().is_none());
    }
}
