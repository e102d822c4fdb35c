//! Passwords in answer files that go onto an image: what the build refuses.
//!
//! An ISO is copied, mailed and left in drawers, so anything written into
//! its answer file is public. The build (`cargo xtask iso`) therefore takes
//! a mail user's password only as a hash, and refuses a hash of a weak
//! password: one of a small list of common passwords, or the user's name,
//! address, mail domain or host name (with the usual decorations: a capital
//! letter, a trailing `1`, `123` or `!`). Without a password a user gets one
//! generated on the appliance at first boot (`outpost_directory::initial`),
//! which is what the embedded default site does.
//!
//! Checking a hash means computing it for each candidate, which needs
//! argon2 and SHA-crypt; this crate stays free of cryptography (its
//! dependencies are checked by a test), so the caller passes the verifier
//! ([`Verify`]) and this module supplies the candidates and the positions.
//! `cargo xtask iso` passes argon2 and SHA-crypt; tests pass a fake.

use crate::diag::{Diagnostic, Severity};
use crate::model::{Kickstart, Password};

/// Checks whether `candidate` is the password of `hash`: `Ok(true)` when it
/// is, `Err(why)` when the hash cannot be checked (unknown or malformed).
pub type Verify<'a> = &'a dyn Fn(&str, &str) -> Result<bool, String>;

/// Common passwords, in the spirit of the lists of the most used passwords
/// (and the names an appliance invites): a build refuses the hash of any
/// of them, or of one of them with a capital letter or a `1`/`123`/`!`
/// appended.
pub const COMMON: &[&str] = &[
    "outpost",
    "password",
    "passw0rd",
    "p@ssw0rd",
    "changeme",
    "changeit",
    "admin",
    "administrator",
    "root",
    "toor",
    "letmein",
    "welcome",
    "qwerty",
    "qwertz",
    "azerty",
    "asdfgh",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "111111",
    "000000",
    "secret",
    "default",
    "guest",
    "test",
    "demo",
    "master",
    "login",
    "abc123",
    "iloveyou",
    "monkey",
    "dragon",
    "trustno1",
    "sunshine",
    "football",
    "baseball",
    "superman",
    "mail",
    "postmaster",
    "hunter2",
    "correct horse battery staple",
];

/// The weak passwords a build refuses for `address` (local part and
/// domain) on a system called `hostname` (short or fully qualified) that
/// serves `domains`, each with why it is weak. No duplicates.
pub fn candidates(
    address: &str,
    domains: &[String],
    hostname: &str,
) -> Vec<(String, &'static str)> {
    let (local, own_domain) = address.split_once('@').unwrap_or((address, ""));
    let mut bases: Vec<(String, &'static str)> = vec![
        (local.to_owned(), "it is the user name"),
        (address.to_owned(), "it is the user name"),
    ];
    for d in std::iter::once(own_domain).chain(domains.iter().map(String::as_str)) {
        if d.is_empty() {
            continue;
        }
        bases.push((d.to_owned(), "it is the mail domain"));
        if let Some(first) = d.split('.').next() {
            bases.push((first.to_owned(), "it is the mail domain"));
        }
    }
    if !hostname.is_empty() {
        bases.push((hostname.to_owned(), "it is the host name"));
        if let Some(short) = hostname.split('.').next() {
            bases.push((short.to_owned(), "it is the host name"));
        }
    }
    bases.extend(
        COMMON
            .iter()
            .map(|c| (c.to_string(), "it is a common password")),
    );
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for (base, why) in bases {
        let lower = base.to_lowercase();
        let mut capital = lower.clone();
        if let Some(first) = capital.get(..1) {
            let up = first.to_uppercase();
            capital.replace_range(..1, &up);
        }
        for stem in [lower, capital] {
            for suffix in ["", "1", "123", "!"] {
                let c = format!("{stem}{suffix}");
                if !c.is_empty() && !out.iter().any(|(o, _)| *o == c) {
                    out.push((c, why));
                }
            }
        }
    }
    out
}

/// Whether `hash` has the shape of a hash the directory can verify: an
/// argon2 PHC string or a SHA-512/SHA-256 crypt(3) string.
pub fn is_supported_hash(hash: &str) -> bool {
    ["$argon2id$", "$argon2i$", "$argon2d$", "$6$", "$5$"]
        .iter()
        .any(|p| hash.starts_with(p))
}

/// Why `hash` is the hash of a weak password for `address`, if it is:
/// tries every [`candidates`] entry with `verify`.
pub fn weak_hash(
    hash: &str,
    address: &str,
    domains: &[String],
    hostname: &str,
    verify: Verify<'_>,
) -> Result<Option<&'static str>, String> {
    for (c, why) in candidates(address, domains, hostname) {
        if verify(hash, &c)? {
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// The build's check of the mail users' passwords in a parsed answer file
/// that is to be put on an image: a clear-text password is an error (it
/// would be readable by anyone holding the image), and so is a hash of a
/// weak password or one `verify` cannot check. Each error points at the
/// user's `--password` option.
pub fn check_for_image(k: &Kickstart, verify: Verify<'_>) -> Vec<Diagnostic> {
    let Some(o) = &k.outpost else {
        return Vec::new();
    };
    let primary = o.domains.first().map_or("outpost.lan", String::as_str);
    let hostname = k
        .network
        .iter()
        .find_map(|n| n.hostname.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for u in &o.users {
        let address = u.address(primary);
        let at = |message: String| Diagnostic {
            path: u.origin.file.clone(),
            line: u.origin.line,
            col: u.password_col,
            severity: Severity::Error,
            message,
        };
        match &u.password {
            None => {}
            Some(Password::Plain(_)) => out.push(at(format!(
                "user {}: a clear-text password would be readable by anyone holding the image; \
                 give an argon2id hash with --iscrypted (`outpostctl user hash`), or none for a \
                 password generated at first boot",
                u.name
            ))),
            Some(Password::Hash(h)) => {
                match weak_hash(h, &address, &o.domains, &hostname, verify) {
                    Ok(None) => {}
                    Ok(Some(why)) => out.push(at(format!(
                        "user {}: the hashed password is weak ({why}); choose another",
                        u.name
                    ))),
                    Err(e) => out.push(at(format!(
                        "user {}: the password hash cannot be checked: {e}",
                        u.name
                    ))),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_cover_names_domains_and_decorations() {
        let c = candidates(
            "admin@outpost.lan",
            &["outpost.lan".into()],
            "mx.outpost.lan",
        );
        let has = |s: &str| c.iter().any(|(x, _)| x == s);
        for s in [
            "admin",
            "Admin1",
            "admin@outpost.lan",
            "outpost.lan",
            "Outpost123",
            "mx",
            "mx.outpost.lan",
            "password!",
            "changeme",
        ] {
            assert!(has(s), "{s} missing from {c:?}");
        }
        let mut sorted: Vec<&str> = c.iter().map(|(x, _)| x.as_str()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), c.len(), "no duplicates");
    }
}
