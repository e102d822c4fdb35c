//! The first-boot password (#24): a user the answer file gives no password
//! (the embedded default site's `admin`) gets one made on the appliance,
//! so no two appliances share credentials and the ISO stays reproducible.
//!
//! [`provision`] (run by `outpostctl first-boot`, from the
//! `outpost-firstboot.service` unit, before the login prompts) gives every
//! user with [`Password::Unset`] a password from the operating system's
//! random generator ([`generate`]: 20 base32 characters, 100 bits), stores
//! only its argon2id hash in the directory, and writes the clear text in
//! one place an admin can find it:
//!
//! - [`Notes::file`] (`/var/lib/outpost/initial-passwords`), mode 0600 in a
//!   0700 directory, owned by root (the unit runs as root);
//! - [`Notes::issue`] (`/etc/issue.d/outpost-initial-passwords.issue`,
//!   0600: only agetty, as root, reads it), shown above every login prompt
//!   on the local consoles;
//! - once, when it is made, on [`Notes::console`] (`/dev/console`, the
//!   serial console of a headless box). Never on standard output, so the
//!   journal never holds it.
//!
//! The clear text is written (and fsynced) before the hash is stored: a
//! crash in between leaves the user without a password, and the next boot
//! makes a new one, rather than a stored password nobody knows.
//!
//! [`retire`] removes the note of every user whose first-boot password no
//! longer works (changed, or the user deleted), and both files when none
//! is left. `outpostctl user passwd` and `user del` call it after the
//! change; the unit calls it at every boot.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand_core::RngCore as _;

use crate::{Directory, Error, Result, UNSET_PASSWORD};

/// File name of the clear-text notes in the state directory.
pub const FILE_NAME: &str = "initial-passwords";

/// Where the issue note goes on an installed system.
pub const ISSUE_PATH: &str = "/etc/issue.d/outpost-initial-passwords.issue";

/// Base32 (RFC 4648, lower case): no `0`/`1`/`8`/`9`, so nothing reads as
/// `o`, `l`, `b` or `g` by mistake; 32 divides 256, so a byte masked to five
/// bits is uniform.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Where the first-boot passwords are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notes {
    /// The root-only file of `address password` lines.
    pub file: PathBuf,
    /// The getty issue note (`/etc/issue.d/*.issue`).
    pub issue: PathBuf,
    /// Where the password is shown once when it is made (`/dev/console`);
    /// `None`: nowhere.
    pub console: Option<PathBuf>,
}

impl Notes {
    /// The installed system's places: `<state_dir>/initial-passwords`,
    /// [`ISSUE_PATH`] and `/dev/console`.
    pub fn system(state_dir: &Path) -> Notes {
        Notes {
            file: state_dir.join(FILE_NAME),
            issue: PathBuf::from(ISSUE_PATH),
            console: Some(PathBuf::from("/dev/console")),
        }
    }

    /// [`Notes::system`], or every note in the folder named by
    /// `OUTPOST_INITIAL_NOTES_DIR` when that is set (tests, which must not
    /// touch the real `/etc/issue.d` or console). `outpostctl` and the
    /// webmail use this one rule.
    pub fn from_env_or_system(state_dir: &Path) -> Notes {
        match std::env::var_os("OUTPOST_INITIAL_NOTES_DIR") {
            Some(d) => {
                let d = PathBuf::from(d);
                Notes {
                    file: d.join(FILE_NAME),
                    issue: d.join("outpost-initial-passwords.issue"),
                    console: Some(d.join("console")),
                }
            }
            None => Notes::system(state_dir),
        }
    }
}

/// A new password: 20 characters of base32 from the operating system's
/// random generator (100 bits), in groups of five, e.g.
/// `k3xqa-7hmdz-pw2rt-ufy5c`: easy to read off a console and to type.
pub fn generate() -> String {
    let mut bytes = [0u8; 20];
    rand_core::OsRng.fill_bytes(&mut bytes);
    let mut out = String::with_capacity(23);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[usize::from(b & 31)]));
    }
    out
}

/// Gives every user without a password ([`crate::Password::Unset`]) a
/// [`generate`]d one and writes the notes; returns the addresses that got
/// one (empty when there were none: nothing is written then). Notes of
/// earlier passwords that no longer work are dropped on the way.
pub fn provision(dir: &mut Directory, notes: &Notes) -> Result<Vec<String>> {
    let pending = dir.users_without_password()?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let mut entries = still_working(dir, &read(&notes.file)?)?;
    entries.retain(|(a, _)| !pending.contains(a));
    let fresh: Vec<(String, String)> = pending.iter().map(|a| (a.clone(), generate())).collect();
    entries.extend(fresh.iter().cloned());
    // Clear text first (see the module doc), then the hashes.
    write_file(&notes.file, &file_text(&entries))?;
    let mut given = Vec::new();
    for (address, password) in &fresh {
        let hash = crate::hash_password(password)?;
        if dir.update_password(address, &hash, Some(UNSET_PASSWORD))? {
            given.push(address.clone());
        }
    }
    // A user who got a password some other way meanwhile keeps it.
    entries.retain(|(a, _)| given.contains(a) || !pending.contains(a));
    write_notes(notes, &entries)?;
    if let Some(console) = &notes.console {
        let shown: Vec<(String, String)> = entries
            .iter()
            .filter(|(a, _)| given.contains(a))
            .cloned()
            .collect();
        // Best effort: a box without a console still has the file.
        let _ = fs::OpenOptions::new()
            .append(true)
            .open(console)
            .and_then(|mut c| c.write_all(console_text(&shown).as_bytes()));
    }
    Ok(given)
}

/// Removes the note of every user whose first-boot password no longer
/// works (changed, or the user deleted), and the files when no note is
/// left; returns the addresses whose notes were removed.
pub fn retire(dir: &Directory, notes: &Notes) -> Result<Vec<String>> {
    let entries = read(&notes.file)?;
    let keep = still_working(dir, &entries)?;
    let gone: Vec<String> = entries
        .iter()
        .filter(|e| !keep.contains(e))
        .map(|(a, _)| a.clone())
        .collect();
    if !gone.is_empty() || keep.is_empty() {
        write_notes(notes, &keep)?;
    }
    Ok(gone)
}

/// The entries whose password is still the user's.
fn still_working(dir: &Directory, entries: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (a, p) in entries {
        if dir.password_matches(a, p)? {
            out.push((a.clone(), p.clone()));
        }
    }
    Ok(out)
}

/// The `address password` lines of the notes file (none if it is absent).
fn read(path: &Path) -> Result<Vec<(String, String)>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Io(path.to_owned(), e)),
    };
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(a, p)| (a.to_owned(), p.trim().to_owned()))
        .collect())
}

/// Writes both notes for `entries`, or removes both when it is empty.
fn write_notes(notes: &Notes, entries: &[(String, String)]) -> Result<()> {
    if entries.is_empty() {
        for p in [&notes.file, &notes.issue] {
            match fs::remove_file(p) {
                Ok(()) => sync_parent(p)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Io(p.clone(), e)),
            }
        }
        return Ok(());
    }
    write_file(&notes.file, &file_text(entries))?;
    if let Some(d) = notes.issue.parent() {
        fs::create_dir_all(d).map_err(|e| Error::Io(d.to_owned(), e))?;
    }
    write_file(&notes.issue, &issue_text(entries))
}

fn file_text(entries: &[(String, String)]) -> String {
    let mut s = String::from(
        "# Outpost: passwords made at first boot. A line goes away once its\n\
         # user's password is changed (`outpostctl user passwd ADDRESS`).\n",
    );
    for (a, p) in entries {
        s.push_str(&format!("{a} {p}\n"));
    }
    s
}

/// The getty issue note. agetty expands `\` escapes in issue files; an
/// address and a base32 password hold none.
fn issue_text(entries: &[(String, String)]) -> String {
    let mut s = String::new();
    for (a, p) in entries {
        s.push_str(&format!("Outpost: initial password of {a}: {p}\n"));
    }
    s.push_str(
        "Change it with `outpostctl user passwd ADDRESS` (as root); this note goes away then.\n\n",
    );
    s
}

fn console_text(entries: &[(String, String)]) -> String {
    let mut s = String::from("\r\n");
    for (a, p) in entries {
        s.push_str(&format!("outpost: initial password of {a}: {p}\r\n"));
    }
    s.push_str("outpost: kept (root only) in /var/lib/outpost/initial-passwords until changed\r\n");
    s
}

/// Writes `text` to `path` with mode 0600, durably (`outpost-durable`:
/// temporary file, fsync, rename, fsync of the folder).
fn write_file(path: &Path, text: &str) -> Result<()> {
    outpost_durable::write_atomic(path, text.as_bytes(), 0o600)
        .map_err(|e| Error::Io(path.to_owned(), e))
}

fn sync_parent(path: &Path) -> Result<()> {
    if let Some(d) = path.parent() {
        outpost_durable::sync_dir(d).map_err(|e| Error::Io(d.to_owned(), e))?;
    }
    Ok(())
}
