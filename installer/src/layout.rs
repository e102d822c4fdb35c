//! The Outpost layout on the target, from `%addon org_outpost`.
//!
//! - `/etc/outpost/outpost.toml`: the daemons' configuration (an
//!   `outpost_config::Config` with the host name and mail domains set);
//! - user records in the directory (`outpost-directory`, under
//!   `/var/lib/outpost/directory/`);
//! - `/var/mail/<domain>/<user>/` Maildirs with the special folders
//!   (`outpost-store`), `/var/lib/outpost/dav/collections/<address>/` with a
//!   default calendar, task list and address book (`outpost-davstore`);
//! - `/var/lib/outpost/files/`, `/var/backups/outpost/`,
//!   `/var/spool/outpost/queue/`, all owned by root, mode 0700 (the daemons
//!   run as root with `ProtectSystem=strict`; see their units).
//!
//! The crates are the same code the daemons use, so the installer cannot
//! drift from their on-disk formats.

use anyhow::{Context, Result, bail};
use outpost_kickstart::{Kickstart, OutpostService, Password};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Primary mail domain: the addon's first domain, else `outpost.lan`.
pub fn primary_domain(ks: &Kickstart) -> String {
    ks.outpost
        .as_ref()
        .and_then(|o| o.domains.first().cloned())
        .unwrap_or_else(|| "outpost.lan".into())
}

/// Plan-time checks of the addon, so nothing is written for a user the
/// directory would reject later.
pub fn check(ks: &Kickstart) -> Result<()> {
    let Some(o) = &ks.outpost else { return Ok(()) };
    for u in &o.users {
        match &u.password {
            // No password: one is made at first boot (#24, see `lay_out`).
            None => {}
            // The directory's own rule (argon2, or SHA-crypt upgraded at the
            // first login), so a hash the build accepted installs too.
            Some(Password::Hash(h)) => {
                if let Err(e) = outpost_directory::check_hash(h) {
                    bail!(
                        "line {}: mail user {}: --iscrypted: {e} (give an argon2id PHC hash, e.g. from `outpostctl user hash`, or a $6$/$5$ crypt(3) hash)",
                        u.origin.line,
                        u.name
                    );
                }
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn services(ks: &Kickstart) -> Vec<OutpostService> {
    ks.outpost
        .as_ref()
        .and_then(|o| o.services.clone())
        .unwrap_or_else(|| OutpostService::ALL.to_vec())
}

/// Whether the answer file wants the daemon unit `unit` enabled.
pub fn service_wanted(ks: &Kickstart, unit: &str) -> bool {
    let s = services(ks);
    match unit {
        "outpost-smtpd.service" => s.contains(&OutpostService::Smtp),
        "outpost-imapd.service" => {
            s.contains(&OutpostService::Imap) || s.contains(&OutpostService::Pop3)
        }
        "outpost-pop3d.service" => s.contains(&OutpostService::Pop3),
        "outpost-webd.service" => s.contains(&OutpostService::Webd),
        "outpost-syncd.service" => s.contains(&OutpostService::Sync),
        "outpost-backupd.service" => s.contains(&OutpostService::Backup),
        _ => true,
    }
}

/// Ports the enabled Outpost services listen on, opened in the firewall.
pub fn firewall_ports(ks: &Kickstart) -> Vec<&'static str> {
    if ks.outpost.is_none() {
        return Vec::new();
    }
    let mut v = Vec::new();
    for s in services(ks) {
        v.extend_from_slice(match s {
            OutpostService::Smtp => &["25/tcp", "465/tcp", "587/tcp"][..],
            OutpostService::Imap => &["143/tcp", "993/tcp"],
            OutpostService::Pop3 => &["110/tcp", "995/tcp"],
            OutpostService::Webd => &["80/tcp", "443/tcp"],
            OutpostService::Sync | OutpostService::Backup => &[],
        });
    }
    v
}

fn dir_0700(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod {}", p.display()))
}

/// Lays out the Outpost stores and configuration under `root`.
pub fn lay_out(root: &Path, ks: &Kickstart) -> Result<()> {
    let domain = primary_domain(ks);
    let mut domains = ks
        .outpost
        .as_ref()
        .map(|o| o.domains.clone())
        .unwrap_or_default();
    if domains.is_empty() {
        domains.push(domain.clone());
    }
    let host = crate::target::hostname(ks);
    let fqdn = if host.contains('.') {
        host
    } else {
        format!("{host}.{domain}")
    };
    let mut cfg = outpost_config::Config::default();
    cfg.general.hostname = fqdn;
    cfg.general.domains = domains;
    // Port 80 (opened in the firewall): `http://<host>.local` and
    // Thunderbird's autoconfig over HTTP reach the server.
    cfg.web.redirect_listen = vec![std::net::SocketAddr::from(([0, 0, 0, 0], 80))];
    let etc = root.join("etc/outpost");
    std::fs::create_dir_all(&etc)?;
    std::fs::write(etc.join("outpost.toml"), cfg.to_toml())
        .context("writing /etc/outpost/outpost.toml")?;
    let state = root.join("var/lib/outpost");
    let mail = root.join("var/mail");
    for d in [
        state.clone(),
        state.join("files"),
        state.join("dav"),
        state.join("dav/collections"),
        root.join("var/backups/outpost"),
        root.join("var/spool/outpost"),
        root.join("var/spool/outpost/queue"),
    ] {
        dir_0700(&d)?;
    }
    // /var/mail stays 2775 root:mail as Debian ships it; the domain trees below are 0700.
    std::fs::create_dir_all(&mail)?;
    let Some(o) = &ks.outpost else { return Ok(()) };
    let mut dir = outpost_directory::Directory::open(&state.join("directory"))
        .context("opening the user directory")?;
    for u in &o.users {
        let address = u.address(&domain);
        let (local, dom) = address.split_once('@').context("user address without @")?;
        let password = match &u.password {
            // Anaconda accepts weak answer-file passwords with a warning (pwpolicy
            // is advisory in kickstart mode); so does Outpost, hashing them here
            // since the directory's policy refuses them as clear text.
            Some(Password::Plain(p)) => match outpost_directory::check_password(&address, p) {
                Ok(()) => outpost_directory::Password::Plain(p.clone()),
                Err(e) => {
                    crate::install::log(&format!(
                        "warning: mail user {address}: weak password accepted from the answer file ({e}); change it with `outpostctl user passwd`"
                    ));
                    outpost_directory::Password::Hash(
                        outpost_directory::hash_password(p).context("hashing a password")?,
                    )
                }
            },
            Some(Password::Hash(h)) => outpost_directory::Password::Hash(h.clone()),
            // The default site's admin (#24): nobody can log in until
            // outpost-firstboot.service makes a password on the appliance,
            // so no two appliances share one and the image holds none.
            None => {
                crate::install::log(&format!(
                    "mail user {address}: no password in the answer file; one is made at first boot (shown on the console, kept in /var/lib/outpost/initial-passwords)"
                ));
                outpost_directory::Password::Unset
            }
        };
        let roles = if u.roles.is_empty() {
            vec!["user".to_owned()]
        } else {
            u.roles.iter().map(|r| r.as_str().to_owned()).collect()
        };
        dir.add_user(&outpost_directory::NewUser {
            address: address.clone(),
            full_name: u.full_name.clone().unwrap_or_default(),
            password,
            roles,
            aliases: u
                .aliases
                .iter()
                .map(|a| {
                    if a.contains('@') {
                        a.clone()
                    } else {
                        format!("{a}@{domain}")
                    }
                })
                .collect(),
            quota: u.quota.unwrap_or(0),
            upstream: String::new(),
        })
        .with_context(|| format!("adding mail user {address} to the directory"))?;
        dir_0700(&mail.join(dom))?;
        outpost_store::create_mailbox_tree(&mail, dom, local)
            .with_context(|| format!("creating the mailbox of {address}"))?;
        outpost_davstore::create_default_collections(&state.join("dav/collections"), &address)
            .with_context(|| format!("creating the calendars and address book of {address}"))?;
        crate::install::log(&format!(
            "mail user {address}: directory record, Maildir, calendar/tasks/contacts"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_user(password: &str) -> Kickstart {
        let text = format!(
            "%addon org_outpost\ndomain outpost.lan\nuser bob --password='{password}' --iscrypted\n%end\n"
        );
        outpost_kickstart::parse_str("ks.cfg", &text)
            .unwrap_or_else(|d| panic!("{d:?}"))
            .kickstart
    }

    #[test]
    fn crypted_passwords_follow_the_directorys_rule() {
        // What the build lets through installs too: argon2 and SHA-crypt.
        let argon =
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGg";
        assert!(check(&with_user(argon)).is_ok());
        assert!(check(&with_user("$6$salt$c0ffee")).is_ok());
        assert!(check(&with_user("$5$rounds=5000$salt$c0ffee")).is_ok());
        let e = check(&with_user("$1$salt$md5")).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("--iscrypted"), "{e}");
    }
}
