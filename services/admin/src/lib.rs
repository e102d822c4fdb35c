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

#[cfg(test)]
mod tests {
    use super::*;

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
