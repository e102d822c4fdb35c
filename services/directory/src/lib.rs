//! The Outpost user directory: users, aliases, groups (distribution lists),
//! domain aliases, upstream identities and the authentication lockout.
//!
//! Synchronous on purpose (no tokio): the installer, `outpostctl` and every
//! daemon use it directly. Everything lives in one SQLite database,
//! `<dir>/directory.sqlite3`, in WAL mode with `synchronous=FULL`, so each
//! change is one crash-safe transaction and several processes (smtpd,
//! imapd, webd, outpostctl) can read and write it at once. Because failed
//! logins are recorded in the same database, a lockout earned against IMAP
//! also holds for SMTP and HTTPS.
//!
//! The schema (see [`SCHEMA`]) is the documented on-disk format; its version
//! is kept in `PRAGMA user_version`.
//!
//! Addresses are stored lower-case. Passwords are stored as argon2id PHC
//! strings (`$argon2id$v=19$m=19456,t=2,p=1$…`, the OWASP-recommended
//! parameters that are the `argon2` crate's default). A SHA-crypt hash
//! (`$6$`, `$5$`) handed over by the installer from a Kickstart
//! `--iscrypted` password is accepted and upgraded to argon2id at the
//! user's first successful login. A user may also have no password yet
//! ([`Password::Unset`], stored as [`UNSET_PASSWORD`]): nobody can log in
//! as that user until one is set, which the appliance does at first boot
//! ([`initial`]).

#![deny(missing_docs)]

pub mod initial;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;

/// File name of the database inside the directory folder.
pub const DB_FILE: &str = "directory.sqlite3";

/// The on-disk format, version 2 (see [`MIGRATE_1_TO_2`] for what changed).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    address    TEXT PRIMARY KEY,          -- lower-case local@domain
    full_name  TEXT NOT NULL DEFAULT '',
    password   TEXT NOT NULL,             -- argon2id PHC string, or '!unset'
    roles      TEXT NOT NULL DEFAULT '',  -- comma-separated, e.g. 'admin,user'
    quota      INTEGER NOT NULL DEFAULT 0,-- bytes, 0 = unlimited
    enabled    INTEGER NOT NULL DEFAULT 1,
    upstream   TEXT NOT NULL DEFAULT '',  -- identity at the upstream, e.g. alice@company.com
    created    INTEGER NOT NULL,          -- unix seconds
    generation INTEGER NOT NULL DEFAULT 0 -- credential generation: new on password change, disable, enable
);
CREATE TABLE IF NOT EXISTS aliases (
    alias      TEXT NOT NULL,             -- lower-case address
    target     TEXT NOT NULL,             -- user, group, alias or remote address
    PRIMARY KEY (alias, target)
);
CREATE TABLE IF NOT EXISTS groups (
    address    TEXT PRIMARY KEY,          -- the list's address
    name       TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS group_members (
    grp        TEXT NOT NULL REFERENCES groups(address) ON DELETE CASCADE,
    member     TEXT NOT NULL,
    PRIMARY KEY (grp, member)
);
CREATE TABLE IF NOT EXISTS domain_aliases (
    alias_domain  TEXT PRIMARY KEY,       -- mail to x@alias_domain goes to x@target_domain
    target_domain TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_attempts (
    account      TEXT NOT NULL,           -- address as given, lower-case; '' = every account
    source       TEXT NOT NULL,           -- client (IPv4, IPv6 /64, or '-'); '' = every source
    failures     INTEGER NOT NULL,        -- failed and still pending attempts
    locked_until INTEGER NOT NULL DEFAULT 0, -- unix seconds
    expires      INTEGER NOT NULL,        -- unix seconds; the row is forgotten then
    PRIMARY KEY (account, source)
);
CREATE INDEX IF NOT EXISTS auth_attempts_expires ON auth_attempts (expires);
CREATE TABLE IF NOT EXISTS counters (
    name       TEXT PRIMARY KEY,
    value      INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('credential_generation', 0);
CREATE TABLE IF NOT EXISTS user_settings (
    address    TEXT PRIMARY KEY,          -- a user's address
    signature  TEXT NOT NULL DEFAULT '',  -- plain text added below new messages
    identity   TEXT NOT NULL DEFAULT ''   -- default From address ('' = the user's own)
);
CREATE TABLE IF NOT EXISTS vacations (
    address    TEXT PRIMARY KEY,          -- a user's address
    enabled    INTEGER NOT NULL DEFAULT 0,
    subject    TEXT NOT NULL DEFAULT '',  -- '' = 'Auto: ' and the original subject
    body       TEXT NOT NULL DEFAULT '',
    starts     INTEGER NOT NULL DEFAULT 0,-- unix seconds; 0 = at once
    ends       INTEGER NOT NULL DEFAULT 0,-- unix seconds; 0 = until turned off
    interval   INTEGER NOT NULL DEFAULT 604800 -- seconds between replies to one sender
);
CREATE TABLE IF NOT EXISTS vacation_replies (
    address    TEXT NOT NULL,             -- the user who replied
    sender     TEXT NOT NULL,             -- who was answered (lower-case)
    sent       INTEGER NOT NULL,          -- unix seconds
    PRIMARY KEY (address, sender)
);
";

/// From version 1: users get a credential generation, and the lockout
/// moves from `auth_failures` (per account, per client) to `auth_attempts`
/// (per account and source, per source, per account). Lockout state in
/// progress is dropped.
pub const MIGRATE_1_TO_2: &str = "
ALTER TABLE users ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
DROP TABLE IF EXISTS auth_failures;
";

/// `PRAGMA user_version` of [`SCHEMA`]. Version 3 adds the tables of
/// user settings and out-of-office replies (created by [`SCHEMA`]'s
/// `IF NOT EXISTS` statements on a version 2 database).
pub const SCHEMA_VERSION: i64 = 3;

/// The stored password of a user who has none yet ([`Password::Unset`]):
/// not a hash of anything, so no password verifies against it.
pub const UNSET_PASSWORD: &str = "!unset";

/// Nesting limit for alias and group expansion (loops are cut here too).
const MAX_EXPANSION_DEPTH: usize = 8;
/// Longest account-wide lock, whatever the configuration says: it is the
/// one lock a stranger can put on someone else's account (#14).
pub const MAX_ACCOUNT_LOCKOUT: Duration = Duration::from_secs(3600);
/// Longest account or source name kept in the lockout table (longer
/// names are cut; no valid address is that long).
const MAX_KEY_LEN: usize = 320;

/// Errors of directory operations; the messages are meant for an admin.
#[derive(Debug)]
pub enum Error {
    /// The database could not be opened, read or written.
    Db(rusqlite::Error),
    /// Creating the directory folder failed.
    Io(PathBuf, std::io::Error),
    /// The address is not a valid `local@domain`.
    InvalidAddress(String),
    /// A user, alias or group with this address exists already.
    Exists(String),
    /// No such user, alias or group.
    NotFound(String),
    /// The password does not meet the policy (the reason is given).
    WeakPassword(String),
    /// A given password hash is not an argon2 PHC string.
    BadHash(String),
    /// A setting is refused (the reason is given).
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Db(e) => write!(f, "directory database: {e}"),
            Error::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Error::InvalidAddress(a) => write!(f, "invalid address {a:?}: expected local@domain"),
            Error::Exists(a) => write!(f, "{a} exists already"),
            Error::NotFound(a) => write!(f, "{a} does not exist"),
            Error::WeakPassword(why) => write!(f, "password refused: {why}"),
            Error::BadHash(why) => write!(f, "password hash refused: {why}"),
            Error::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(e)
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// `local@domain`, lower-case.
    pub address: String,
    /// Display name.
    pub full_name: String,
    /// Roles such as `admin` and `user`.
    pub roles: Vec<String>,
    /// Addresses that are aliases of this user (one level).
    pub aliases: Vec<String>,
    /// Mailbox quota in bytes, 0 for none.
    pub quota: u64,
    /// Disabled users cannot log in and receive no mail.
    pub enabled: bool,
    /// The user's identity at the upstream (e.g. `alice@company.com`), or empty.
    pub upstream: String,
}

impl User {
    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.address.split('@').next().unwrap_or("")
    }
    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.address.rsplit('@').next().unwrap_or("")
    }
}

/// A password as given to [`Directory::add_user`]: clear text (checked
/// against the policy and hashed), an existing argon2 PHC hash, or none
/// yet.
#[derive(Debug, Clone)]
pub enum Password {
    /// Clear text; hashed with argon2id.
    Plain(String),
    /// A `$argon2id$…` PHC string, stored as is.
    Hash(String),
    /// No password yet: nobody can log in as the user until one is set
    /// ([`Directory::set_password`], or [`initial::provision`] at first
    /// boot, which is what the installer relies on for users the answer
    /// file gives no password).
    Unset,
}

/// What [`Directory::add_user`] needs.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// `local@domain`.
    pub address: String,
    /// Display name.
    pub full_name: String,
    /// The password.
    pub password: Password,
    /// Roles (`admin`, `user`, ...).
    pub roles: Vec<String>,
    /// Extra addresses delivered to this user.
    pub aliases: Vec<String>,
    /// Quota in bytes, 0 for none.
    pub quota: u64,
    /// Upstream identity, or empty.
    pub upstream: String,
}

impl NewUser {
    /// A plain user with a clear-text password and the `user` role.
    pub fn new(address: &str, password: &str) -> Self {
        NewUser {
            address: address.into(),
            full_name: String::new(),
            password: Password::Plain(password.into()),
            roles: vec!["user".into()],
            aliases: Vec::new(),
            quota: 0,
            upstream: String::new(),
        }
    }
}

/// Changes to an existing user ([`Directory::update_user`]); `None`
/// leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// Display name.
    pub full_name: Option<String>,
    /// Roles (replacing the old ones).
    pub roles: Option<Vec<String>>,
    /// Quota in bytes, 0 for none.
    pub quota: Option<u64>,
    /// Upstream identity, empty for none.
    pub upstream: Option<String>,
}

/// Most roles a user may have.
pub const MAX_ROLES: usize = 16;

/// Checks a role name: 1–32 of `a-z`, `0-9`, `-`, `_`, starting with a
/// letter.
pub fn check_role(role: &str) -> Result<()> {
    let ok = (1..=32).contains(&role.len())
        && role.starts_with(|c: char| c.is_ascii_lowercase())
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "role {role:?}: 1 to 32 of a-z, 0-9, - and _, starting with a letter"
        )))
    }
}

/// What a user sets for themself (the webmail's Settings page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Plain text the compose form puts below a new message (after `-- `).
    pub signature: String,
    /// The From address new messages start with; empty for the user's own.
    pub identity: String,
}

/// Longest signature kept, in bytes.
pub const MAX_SIGNATURE: usize = 4096;
/// Longest out-of-office text kept, in bytes.
pub const MAX_VACATION_BODY: usize = 16 * 1024;
/// Shortest time between two out-of-office replies to one sender (RFC
/// 3834 §2: "no more than once a day" is the floor Sieve vacation uses).
pub const MIN_VACATION_INTERVAL: u64 = 86_400;

/// An out-of-office (vacation) reply (RFC 3834), sent by local delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vacation {
    /// Replies are sent.
    pub enabled: bool,
    /// Subject of the reply; empty for `Auto: ` and the original subject.
    pub subject: String,
    /// Text of the reply.
    pub body: String,
    /// Unix seconds from when replies are sent; 0 at once.
    pub starts: u64,
    /// Unix seconds until when (exclusive); 0 until turned off.
    pub ends: u64,
    /// Seconds between two replies to one sender (at least
    /// [`MIN_VACATION_INTERVAL`]).
    pub interval: u64,
}

impl Default for Vacation {
    fn default() -> Self {
        Vacation {
            enabled: false,
            subject: String::new(),
            body: String::new(),
            starts: 0,
            ends: 0,
            interval: 7 * 86_400,
        }
    }
}

impl Vacation {
    /// Whether replies are due at unix second `now`.
    pub fn active_at(&self, now: u64) -> bool {
        self.enabled && now >= self.starts && (self.ends == 0 || now < self.ends)
    }
}

/// A group (distribution list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The list's address.
    pub address: String,
    /// Display name.
    pub name: String,
    /// Member addresses (users, aliases, other groups or remote addresses).
    pub members: Vec<String>,
}

/// Where mail for an address goes after alias, group and domain-alias
/// expansion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Enabled local users (their canonical addresses), without duplicates.
    pub local: Vec<String>,
    /// Addresses outside the directory that aliases or groups point to.
    pub remote: Vec<String>,
}

impl Resolution {
    /// True when the address reaches nobody.
    pub fn is_empty(&self) -> bool {
        self.local.is_empty() && self.remote.is_empty()
    }
}

/// The lockout parameters as the daemons passed them before the
/// per-source policy (#14). Still accepted by [`Directory::open_with`]:
/// `threshold` becomes [`Lockout::client_failures`] (and the ceiling of
/// [`Lockout::per_source_failures`]); every other parameter of [`Lockout`]
/// keeps its default. New code passes a [`Lockout`], e.g.
/// `Lockout::from(&config.directory)`.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures from one source, over all accounts, that lock the source.
    pub threshold: u32,
    /// A source's failures are forgotten after this long without one.
    pub window: Duration,
    /// First lock of a source; doubled for each further failure.
    pub lockout: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        let l = Lockout::default();
        LockoutPolicy {
            threshold: l.client_failures,
            window: l.window,
            lockout: l.lockout,
        }
    }
}

/// The lockout policy (`[directory]` in `outpost.toml`, see
/// `docs/security.md`). Failures are counted in three buckets, all in the
/// shared database:
///
/// - one account from one source (an IPv4 address, an IPv6 /64): after
///   `per_source_failures` that source is locked out of that account, for
///   `lockout` doubled with every further failure, at most `max_lockout`;
/// - one source over all accounts (password spraying): the same after
///   `client_failures`;
/// - one account from every source: after `account_failures` within
///   `account_window` the account is locked everywhere for
///   `account_lockout` (at most [`MAX_ACCOUNT_LOCKOUT`], and it does not
///   grow), which bounds a distributed guesser without handing anyone a
///   long lock on someone else's account.
///
/// Every attempt is counted as a failure *before* its password is checked
/// and refunded if it succeeds, so parallel attempts cannot outrun the
/// budget (#13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Failures of one account from one source that lock that pair.
    pub per_source_failures: u32,
    /// Failures from one source over all accounts that lock that source.
    pub client_failures: u32,
    /// A source's failures are forgotten after this long without one
    /// (once its lock is over).
    pub window: Duration,
    /// First lock of a source.
    pub lockout: Duration,
    /// Longest lock of a source.
    pub max_lockout: Duration,
    /// Failures of one account from all sources that lock the account.
    pub account_failures: u32,
    /// Window of `account_failures`, from the first failure.
    pub account_window: Duration,
    /// Length of the account-wide lock (capped at [`MAX_ACCOUNT_LOCKOUT`]).
    pub account_lockout: Duration,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout::from(&outpost_config::Directory::default())
    }
}

impl From<&outpost_config::Directory> for Lockout {
    fn from(c: &outpost_config::Directory) -> Self {
        Lockout {
            per_source_failures: c.per_source_failures,
            client_failures: c.lockout_threshold,
            window: Duration::from_secs(c.lockout_window_secs),
            lockout: Duration::from_secs(c.lockout_secs),
            max_lockout: Duration::from_secs(c.lockout_max_secs),
            account_failures: c.account_failures,
            account_window: Duration::from_secs(c.account_window_secs),
            account_lockout: Duration::from_secs(c.account_lockout_secs),
        }
    }
}

impl From<LockoutPolicy> for Lockout {
    fn from(p: LockoutPolicy) -> Self {
        let d = Lockout::default();
        Lockout {
            per_source_failures: d.per_source_failures.min(p.threshold),
            client_failures: p.threshold,
            window: p.window,
            lockout: p.lockout,
            ..d
        }
    }
}

/// The three counters one login attempt is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// This account from this source.
    Pair,
    /// This source, every account.
    Client,
    /// This account, every source.
    Account,
}

impl Lockout {
    fn threshold(&self, scope: Scope) -> u32 {
        match scope {
            Scope::Pair => self.per_source_failures.min(self.client_failures),
            Scope::Client => self.client_failures,
            Scope::Account => self.account_failures,
        }
        .max(1)
    }

    /// How long a bucket that reached its threshold with `failures` is locked.
    fn lock_secs(&self, scope: Scope, failures: u32) -> u64 {
        match scope {
            Scope::Account => self
                .account_lockout
                .min(MAX_ACCOUNT_LOCKOUT)
                .as_secs()
                .max(1),
            Scope::Pair | Scope::Client => {
                let base = self.lockout.as_secs().max(1);
                let extra = failures.saturating_sub(self.threshold(scope)).min(32);
                base.saturating_mul(1u64 << extra)
                    .min(self.max_lockout.as_secs().max(base))
            }
        }
    }
}

/// A successful [`Directory::login`]: the user and the credential
/// generation a login cache keys its entry on (see
/// [`Directory::check_cached`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The user.
    pub user: User,
    /// The user's credential generation when the password was checked.
    pub generation: u64,
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Unknown user or wrong password (deliberately not told apart).
    Invalid,
    /// Too many failures: locked for this many more seconds. The password
    /// was not even checked.
    Locked(u64),
    /// The account is disabled.
    Disabled,
    /// The directory could not be read.
    Unavailable(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Invalid => f.write_str("invalid credentials"),
            AuthError::Locked(s) => write!(f, "locked for {s} more seconds"),
            AuthError::Disabled => f.write_str("account disabled"),
            AuthError::Unavailable(e) => write!(f, "directory unavailable: {e}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// An open directory. Not `Sync`: open one per thread (opening is cheap).
#[derive(Debug)]
pub struct Directory {
    conn: Connection,
    policy: Lockout,
}

/// Normalises and checks an address: trims, lower-cases, requires exactly
/// one `@` with a non-empty local part and a dotted-or-plain domain made of
/// letters, digits, `-` and `.`. Stricter than RFC 5321 on purpose: these
/// are the names of local mailboxes (and folders on disk).
pub fn normalize_address(address: &str) -> Result<String> {
    let a = address.trim().to_ascii_lowercase();
    let bad = || Error::InvalidAddress(address.to_string());
    let (local, domain) = a.split_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(a)
    } else {
        Err(bad())
    }
}

/// Checks a clear-text password against the policy: 8 to 1024 characters,
/// not the address or its local part.
pub fn check_password(address: &str, password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 8 {
        return Err(Error::WeakPassword(
            "it must have at least 8 characters".into(),
        ));
    }
    if n > 1024 {
        return Err(Error::WeakPassword(
            "it must have at most 1024 characters".into(),
        ));
    }
    let lower = password.to_ascii_lowercase();
    let local = address.split('@').next().unwrap_or("");
    if lower == address.to_ascii_lowercase() || lower == local.to_ascii_lowercase() {
        return Err(Error::WeakPassword("it must not be the user name".into()));
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(' '))
    {
        return Err(Error::WeakPassword(
            "it must not repeat one character".into(),
        ));
    }
    Ok(())
}

/// Checks that `hash` is a stored form we can verify: an argon2 PHC string,
/// or a SHA-512/SHA-256 crypt(3) string (`$6$…`, `$5$…`), which Kickstart's
/// `--iscrypted` passwords usually are. Crypt hashes are replaced by
/// argon2id at the first successful login.
pub fn check_hash(hash: &str) -> Result<()> {
    if is_sha_crypt(hash) {
        // `$6$[rounds=N$]salt$hash`: at least salt and hash fields.
        if hash.split('$').filter(|p| !p.is_empty()).count() >= 3 {
            return Ok(());
        }
        return Err(Error::BadHash("malformed crypt(3) string".into()));
    }
    let parsed = PasswordHash::new(hash).map_err(|e| Error::BadHash(e.to_string()))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(Error::BadHash(format!(
            "algorithm {} is not argon2 or SHA-crypt ($6$, $5$)",
            parsed.algorithm
        )));
    }
    Ok(())
}

fn is_sha_crypt(hash: &str) -> bool {
    hash.starts_with("$6$") || hash.starts_with("$5$")
}

/// Verifies `password` against a stored hash of any accepted kind.
fn verify_hash(hash: &str, password: &str) -> bool {
    if hash.starts_with("$6$") {
        return sha_crypt::sha512_check(password, hash).is_ok();
    }
    if hash.starts_with("$5$") {
        return sha_crypt::sha256_check(password, hash).is_ok();
    }
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::BadHash(e.to_string()))
}

/// A display name: one line of at most 200 bytes.
fn check_display_name(name: &str) -> Result<()> {
    if name.trim().len() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "the display name must be one line of at most 200 bytes".into(),
        ));
    }
    Ok(())
}

/// Whether a user `address` (lower-case) exists.
fn user_exists(conn: &Connection, address: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM users WHERE address = ?1",
            params![address],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Control characters other than line breaks and tabs.
fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

impl Directory {
    /// Changes an existing user's display name, roles, quota or upstream
    /// identity in one transaction. Refuses an unknown user, a name over
    /// one line or 200 bytes, a bad role name or more than [`MAX_ROLES`],
    /// a quota past 2^63 and an upstream identity that is not an address;
    /// nothing changes then. New roles take effect at the user's next
    /// request (sessions check the account each time).
    pub fn update_user(&mut self, address: &str, u: &UserUpdate) -> Result<User> {
        let address = address.trim().to_ascii_lowercase();
        if let Some(n) = &u.full_name {
            check_display_name(n)?;
        }
        let roles = match &u.roles {
            Some(r) => {
                let mut r: Vec<String> = r.iter().map(|x| x.trim().to_ascii_lowercase()).collect();
                r.retain(|x| !x.is_empty());
                r.sort();
                r.dedup();
                for x in &r {
                    check_role(x)?;
                }
                if r.len() > MAX_ROLES {
                    return Err(Error::Invalid(format!("at most {MAX_ROLES} roles")));
                }
                Some(r.join(","))
            }
            None => None,
        };
        let quota = match u.quota {
            Some(q) => Some(
                i64::try_from(q).map_err(|_| Error::Invalid("the quota is too large".into()))?,
            ),
            None => None,
        };
        let upstream = match u.upstream.as_deref().map(str::trim) {
            Some("") => Some(String::new()),
            Some(x) => Some(normalize_address(x)?),
            None => None,
        };
        let tx = self.conn.transaction()?;
        if !user_exists(&tx, &address)? {
            return Err(Error::NotFound(address));
        }
        if let Some(n) = &u.full_name {
            tx.execute(
                "UPDATE users SET full_name = ?2 WHERE address = ?1",
                params![address, n.trim()],
            )?;
        }
        if let Some(r) = &roles {
            tx.execute(
                "UPDATE users SET roles = ?2 WHERE address = ?1",
                params![address, r],
            )?;
        }
        if let Some(q) = quota {
            tx.execute(
                "UPDATE users SET quota = ?2 WHERE address = ?1",
                params![address, q],
            )?;
        }
        if let Some(up) = &upstream {
            tx.execute(
                "UPDATE users SET upstream = ?2 WHERE address = ?1",
                params![address, up],
            )?;
        }
        tx.commit()?;
        self.user(&address)?.ok_or(Error::NotFound(address))
    }

    /// Removes the domain alias `alias_domain`.
    pub fn remove_domain_alias(&mut self, alias_domain: &str) -> Result<()> {
        let a = alias_domain.trim().to_ascii_lowercase();
        if self.conn.execute(
            "DELETE FROM domain_aliases WHERE alias_domain = ?1",
            params![a],
        )? == 0
        {
            return Err(Error::NotFound(a));
        }
        Ok(())
    }

    /// The user's own settings (defaults when never set).
    pub fn settings(&self, address: &str) -> Result<Settings> {
        let address = address.trim().to_ascii_lowercase();
        Ok(self
            .conn
            .query_row(
                "SELECT signature, identity FROM user_settings WHERE address = ?1",
                params![address],
                |r| {
                    Ok(Settings {
                        signature: r.get(0)?,
                        identity: r.get(1)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }

    /// Sets the user's display name and settings in one transaction.
    /// Refuses an unknown user, a name or signature that is too long or
    /// holds control characters (a signature may hold line breaks and
    /// tabs), and an identity the user may not send as; nothing changes
    /// then.
    pub fn set_settings(&mut self, address: &str, full_name: &str, s: &Settings) -> Result<()> {
        let address = address.trim().to_ascii_lowercase();
        let full_name = full_name.trim();
        check_display_name(full_name)?;
        if s.signature.len() > MAX_SIGNATURE || has_control(&s.signature) {
            return Err(Error::Invalid(format!(
                "the signature must be plain text of at most {MAX_SIGNATURE} bytes"
            )));
        }
        let identity = s.identity.trim().to_ascii_lowercase();
        if !identity.is_empty() && identity != address && !self.may_send_as(&address, &identity)? {
            return Err(Error::Invalid(format!(
                "{address} cannot send as {identity}"
            )));
        }
        let tx = self.conn.transaction()?;
        if tx.execute(
            "UPDATE users SET full_name = ?2 WHERE address = ?1",
            params![address, full_name],
        )? == 0
        {
            return Err(Error::NotFound(address));
        }
        tx.execute(
            "INSERT INTO user_settings (address, signature, identity) VALUES (?1, ?2, ?3)
             ON CONFLICT (address) DO UPDATE SET signature = ?2, identity = ?3",
            params![address, s.signature, identity],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The user's out-of-office reply, if one was ever set.
    pub fn vacation(&self, address: &str) -> Result<Option<Vacation>> {
        let address = address.trim().to_ascii_lowercase();
        Ok(self
            .conn
            .query_row(
                "SELECT enabled, subject, body, starts, ends, interval FROM vacations WHERE address = ?1",
                params![address],
                |r| {
                    Ok(Vacation {
                        enabled: r.get::<_, i64>(0)? != 0,
                        subject: r.get(1)?,
                        body: r.get(2)?,
                        starts: r.get::<_, i64>(3)?.max(0) as u64,
                        ends: r.get::<_, i64>(4)?.max(0) as u64,
                        interval: r.get::<_, i64>(5)?.max(0) as u64,
                    })
                },
            )
            .optional()?)
    }

    /// Sets the user's out-of-office reply. Refuses an unknown user, a
    /// subject over one line or 200 bytes, a text over
    /// [`MAX_VACATION_BODY`], an enabled reply with no text, and an end
    /// before the start; nothing changes then. The interval is raised to
    /// [`MIN_VACATION_INTERVAL`]. Turning replies on forgets whom earlier
    /// replies went to, so everyone hears of the new absence once.
    pub fn set_vacation(&mut self, address: &str, v: &Vacation) -> Result<()> {
        let address = address.trim().to_ascii_lowercase();
        let subject = v.subject.trim();
        if subject.len() > 200 || subject.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "the subject must be one line of at most 200 bytes".into(),
            ));
        }
        if v.body.len() > MAX_VACATION_BODY || has_control(&v.body) {
            return Err(Error::Invalid(format!(
                "the reply must be plain text of at most {MAX_VACATION_BODY} bytes"
            )));
        }
        if v.enabled && v.body.trim().is_empty() {
            return Err(Error::Invalid("an automatic reply needs a text".into()));
        }
        if v.ends != 0 && v.ends <= v.starts {
            return Err(Error::Invalid("the last day is before the first".into()));
        }
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let tx = self.conn.transaction()?;
        if !user_exists(&tx, &address)? {
            return Err(Error::NotFound(address));
        }
        let was_on: bool = tx
            .query_row(
                "SELECT enabled FROM vacations WHERE address = ?1",
                params![address],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .is_some_and(|e| e != 0);
        tx.execute(
            "INSERT INTO vacations (address, enabled, subject, body, starts, ends, interval)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (address) DO UPDATE SET enabled = ?2, subject = ?3, body = ?4,
               starts = ?5, ends = ?6, interval = ?7",
            params![
                address,
                v.enabled as i64,
                subject,
                v.body,
                as_i64(v.starts),
                as_i64(v.ends),
                as_i64(v.interval.clamp(MIN_VACATION_INTERVAL, 365 * 86_400))
            ],
        )?;
        if v.enabled && !was_on {
            tx.execute(
                "DELETE FROM vacation_replies WHERE address = ?1",
                params![address],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records that `address`'s out-of-office reply goes to `sender` at
    /// unix second `now`, if it is due: false when `sender` was answered
    /// less than `interval` seconds ago, or when `address` has sent
    /// `max_per_hour` replies in the last hour (a flood of forged senders
    /// gets a bounded number of replies). One transaction, so two
    /// deliveries at once answer a sender once. Rows older than `interval`
    /// are forgotten here.
    pub fn vacation_reply_due(
        &mut self,
        address: &str,
        sender: &str,
        interval: u64,
        max_per_hour: u32,
        now: u64,
    ) -> Result<bool> {
        let address = address.trim().to_ascii_lowercase();
        let sender: String = sender
            .trim()
            .to_ascii_lowercase()
            .chars()
            .take(MAX_KEY_LEN)
            .collect();
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let interval = i64::try_from(interval).unwrap_or(i64::MAX);
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM vacation_replies WHERE address = ?1 AND sent <= ?2",
            params![address, now.saturating_sub(interval)],
        )?;
        let answered = tx
            .query_row(
                "SELECT 1 FROM vacation_replies WHERE address = ?1 AND sender = ?2",
                params![address, sender],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        let last_hour: i64 = tx.query_row(
            "SELECT count(*) FROM vacation_replies WHERE address = ?1 AND sent > ?2",
            params![address, now.saturating_sub(3600)],
            |r| r.get(0),
        )?;
        if answered || last_hour >= i64::from(max_per_hour) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO vacation_replies (address, sender, sent) VALUES (?1, ?2, ?3)
             ON CONFLICT (address, sender) DO UPDATE SET sent = ?3",
            params![address, sender, now],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Opens (creating if needed) the directory in folder `dir`, with the
    /// default lockout policy.
    pub fn open(dir: &Path) -> Result<Directory> {
        Self::open_with(dir, Lockout::default())
    }

    /// Opens (creating if needed) the directory with a lockout policy
    /// (a [`Lockout`], or the older [`LockoutPolicy`]).
    pub fn open_with(dir: &Path, policy: impl Into<Lockout>) -> Result<Directory> {
        let policy = policy.into();
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(dir.to_owned(), e))?;
        let conn = Connection::open(dir.join(DB_FILE))?;
        // Another process may hold the write lock briefly (e.g. recording an
        // auth failure); wait rather than fail.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a committed change survives power loss, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < SCHEMA_VERSION {
            // Every daemon starts at once on first boot: create or migrate
            // under the write lock, and look again once holding it.
            let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)?;
            let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version == 1 {
                tx.execute_batch(MIGRATE_1_TO_2)?;
            }
            if version < SCHEMA_VERSION {
                tx.execute_batch(SCHEMA)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            tx.commit()?;
        }
        Ok(Directory { conn, policy })
    }

    /// Adds a user (and its aliases) in one transaction. Refuses an invalid
    /// address, an address already used by a user, alias or group, and a
    /// weak password; nothing is changed then.
    pub fn add_user(&mut self, new: &NewUser) -> Result<User> {
        let address = normalize_address(&new.address)?;
        let hash = match &new.password {
            Password::Plain(p) => {
                check_password(&address, p)?;
                hash_password(p)?
            }
            Password::Hash(h) => {
                check_hash(h)?;
                h.clone()
            }
            Password::Unset => UNSET_PASSWORD.to_owned(),
        };
        let aliases = new
            .aliases
            .iter()
            .map(|a| normalize_address(a))
            .collect::<Result<Vec<_>>>()?;
        let tx = self.conn.transaction()?;
        for a in std::iter::once(&address).chain(&aliases) {
            if address_in_use(&tx, a)? {
                return Err(Error::Exists(a.clone()));
            }
        }
        // A generation never used before, so a cache entry of a deleted
        // user of the same address cannot match the new one.
        let generation = next_generation(&tx)?;
        tx.execute(
            "INSERT INTO users (address, full_name, password, roles, quota, enabled, upstream, created, generation)
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8)",
            params![
                address,
                new.full_name,
                hash,
                new.roles.join(","),
                new.quota as i64,
                new.upstream,
                now() as i64,
                generation
            ],
        )?;
        for a in &aliases {
            tx.execute(
                "INSERT INTO aliases (alias, target) VALUES (?1, ?2)",
                params![a, address],
            )?;
        }
        tx.commit()?;
        self.user(&address)?.ok_or(Error::NotFound(address))
    }

    /// One user by address (any case), if present.
    pub fn user(&self, address: &str) -> Result<Option<User>> {
        let address = address.trim().to_ascii_lowercase();
        let row = self
            .conn
            .query_row(
                "SELECT address, full_name, roles, quota, enabled, upstream FROM users WHERE address = ?1",
                params![address],
                |r| {
                    Ok(User {
                        address: r.get(0)?,
                        full_name: r.get(1)?,
                        roles: split_list(&r.get::<_, String>(2)?),
                        aliases: Vec::new(),
                        quota: r.get::<_, i64>(3)? as u64,
                        enabled: r.get(4)?,
                        upstream: r.get(5)?,
                    })
                },
            )
            .optional()?;
        match row {
            Some(mut u) => {
                u.aliases = self.aliases_of(&u.address)?;
                Ok(Some(u))
            }
            None => Ok(None),
        }
    }

    /// Every user, sorted by address.
    pub fn users(&self) -> Result<Vec<User>> {
        let mut stmt = self
            .conn
            .prepare("SELECT address FROM users ORDER BY address")?;
        let addrs = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(addrs.len());
        for a in addrs {
            if let Some(u) = self.user(&a)? {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Deletes a user, its aliases and its group memberships. The mailbox on
    /// disk is the caller's business (`outpostctl user del --purge`).
    pub fn delete_user(&mut self, address: &str) -> Result<User> {
        let address = address.trim().to_ascii_lowercase();
        let user = self
            .user(&address)?
            .ok_or_else(|| Error::NotFound(address.clone()))?;
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM users WHERE address = ?1", params![address])?;
        tx.execute("DELETE FROM aliases WHERE target = ?1", params![address])?;
        tx.execute(
            "DELETE FROM group_members WHERE member = ?1",
            params![address],
        )?;
        // The row (and with it the generation a cache holds) is gone; the
        // counter still moves on, so nothing of this user can be reused.
        next_generation(&tx)?;
        tx.execute(
            "DELETE FROM auth_attempts WHERE account = ?1",
            params![address],
        )?;
        for table in ["user_settings", "vacations", "vacation_replies"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE address = ?1"),
                params![address],
            )?;
        }
        tx.commit()?;
        Ok(user)
    }

    /// Sets a new password (checked against the policy), starts a new
    /// credential generation (cached logins end) and clears the account's
    /// lockout (from every source, and account-wide; a source's lock over
    /// all accounts stays).
    ///
    /// This is the directory's one way to change a password. A caller
    /// that changes one for a person (`outpostctl user passwd`) then calls
    /// [`initial::retire`], so a first-boot password note that no longer
    /// works is removed at once (the first-boot unit also does it at every
    /// boot).
    pub fn set_password(&mut self, address: &str, password: &str) -> Result<()> {
        let address = address.trim().to_ascii_lowercase();
        check_password(&address, password)?;
        let hash = hash_password(password)?;
        if self.update_password(&address, &hash, None)? {
            Ok(())
        } else {
            Err(Error::NotFound(address))
        }
    }

    /// Stores `hash` as the password of `address` (only if the stored one
    /// is `only_if`, when given), with a new credential generation and the
    /// account's lockout cleared; `false` if no row matched.
    fn update_password(
        &mut self,
        address: &str,
        hash: &str,
        only_if: Option<&str>,
    ) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let generation = next_generation(&tx)?;
        let n = match only_if {
            None => tx.execute(
                "UPDATE users SET password = ?2, generation = ?3 WHERE address = ?1",
                params![address, hash, generation],
            )?,
            Some(old) => tx.execute(
                "UPDATE users SET password = ?2, generation = ?3 WHERE address = ?1 AND password = ?4",
                params![address, hash, generation, old],
            )?,
        };
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM auth_attempts WHERE account = ?1",
            params![address],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// The users who have no password yet ([`Password::Unset`]), sorted.
    pub fn users_without_password(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT address FROM users WHERE password = ?1 ORDER BY address")?;
        let rows = stmt
            .query_map(params![UNSET_PASSWORD], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Whether `password` is the stored password of `address`, checked
    /// without the lockout and without recording anything. Only for tools
    /// run by root on the appliance ([`initial::retire`] asks whether a
    /// first-boot password still works); logins go through
    /// [`Directory::login`].
    pub fn password_matches(&self, address: &str, password: &str) -> Result<bool> {
        let hash: Option<String> = self
            .conn
            .query_row(
                "SELECT password FROM users WHERE address = ?1",
                params![address.trim().to_ascii_lowercase()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(hash.is_some_and(|h| verify_hash(&h, password)))
    }

    /// Enables or disables a user; either starts a new credential
    /// generation, so cached logins end at once.
    pub fn set_enabled(&mut self, address: &str, enabled: bool) -> Result<()> {
        let address = address.trim().to_ascii_lowercase();
        let tx = self.conn.transaction()?;
        let generation = next_generation(&tx)?;
        let n = tx.execute(
            "UPDATE users SET enabled = ?2, generation = ?3 WHERE address = ?1",
            params![address, enabled, generation],
        )?;
        if n == 0 {
            return Err(Error::NotFound(address));
        }
        tx.commit()?;
        Ok(())
    }

    /// A user's credential generation, if the user exists.
    pub fn generation(&self, address: &str) -> Result<Option<u64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT generation FROM users WHERE address = ?1",
                params![address.trim().to_ascii_lowercase()],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|g| g as u64))
    }

    /// Adds an alias address pointing at `target` (a user, group, other
    /// alias or remote address). An alias may have several targets.
    pub fn add_alias(&mut self, alias: &str, target: &str) -> Result<()> {
        let alias = normalize_address(alias)?;
        let target = normalize_address(target)?;
        let tx = self.conn.transaction()?;
        let is_alias: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM aliases WHERE alias = ?1)",
            params![alias],
            |r| r.get(0),
        )?;
        // A new target for an existing alias is fine; taking over a user's
        // or group's address is not.
        if !is_alias && address_in_use(&tx, &alias)? {
            return Err(Error::Exists(alias));
        }
        let n = tx.execute(
            "INSERT OR IGNORE INTO aliases (alias, target) VALUES (?1, ?2)",
            params![alias, target],
        )?;
        if n == 0 {
            return Err(Error::Exists(format!("{alias} -> {target}")));
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes an alias (all its targets).
    pub fn remove_alias(&mut self, alias: &str) -> Result<()> {
        let alias = alias.trim().to_ascii_lowercase();
        let n = self
            .conn
            .execute("DELETE FROM aliases WHERE alias = ?1", params![alias])?;
        if n == 0 {
            return Err(Error::NotFound(alias));
        }
        Ok(())
    }

    /// Every alias as `(alias, target)`, sorted.
    pub fn aliases(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT alias, target FROM aliases ORDER BY alias, target")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn aliases_of(&self, target: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT alias FROM aliases WHERE target = ?1 ORDER BY alias")?;
        let rows = stmt
            .query_map(params![target], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Creates a group (distribution list).
    pub fn add_group(&mut self, address: &str, name: &str) -> Result<()> {
        self.add_group_with(address, name, &[])
    }

    /// Creates a group with its members in one transaction: all of it or,
    /// on any error (a bad or repeated member, a crash half-way), nothing.
    pub fn add_group_with(&mut self, address: &str, name: &str, members: &[String]) -> Result<()> {
        let address = normalize_address(address)?;
        let members = members
            .iter()
            .map(|m| normalize_address(m))
            .collect::<Result<Vec<_>>>()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if address_in_use(&tx, &address)? {
            return Err(Error::Exists(address));
        }
        tx.execute(
            "INSERT INTO groups (address, name) VALUES (?1, ?2)",
            params![address, name],
        )?;
        insert_members(&tx, &address, &members)?;
        tx.commit()?;
        Ok(())
    }

    /// Adds members to an existing group in one transaction: all of them,
    /// or none when one is invalid or already a member.
    pub fn add_members(&mut self, group: &str, members: &[String]) -> Result<()> {
        let group = group.trim().to_ascii_lowercase();
        let members = members
            .iter()
            .map(|m| normalize_address(m))
            .collect::<Result<Vec<_>>>()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM groups WHERE address = ?1)",
            params![group],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(Error::NotFound(group));
        }
        insert_members(&tx, &group, &members)?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a group and its member list.
    pub fn delete_group(&mut self, address: &str) -> Result<()> {
        let address = address.trim().to_ascii_lowercase();
        let n = self
            .conn
            .execute("DELETE FROM groups WHERE address = ?1", params![address])?;
        if n == 0 {
            return Err(Error::NotFound(address));
        }
        Ok(())
    }

    /// Adds a member (any address) to a group.
    pub fn add_member(&mut self, group: &str, member: &str) -> Result<()> {
        self.add_members(group, &[member.to_string()])
    }

    /// Removes a member from a group.
    pub fn remove_member(&mut self, group: &str, member: &str) -> Result<()> {
        let group = group.trim().to_ascii_lowercase();
        let member = member.trim().to_ascii_lowercase();
        let n = self.conn.execute(
            "DELETE FROM group_members WHERE grp = ?1 AND member = ?2",
            params![group, member],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("{member} in {group}")));
        }
        Ok(())
    }

    /// One group, if present.
    pub fn group(&self, address: &str) -> Result<Option<Group>> {
        let address = address.trim().to_ascii_lowercase();
        let name: Option<String> = self
            .conn
            .query_row(
                "SELECT name FROM groups WHERE address = ?1",
                params![address],
                |r| r.get(0),
            )
            .optional()?;
        let Some(name) = name else { return Ok(None) };
        let mut stmt = self
            .conn
            .prepare("SELECT member FROM group_members WHERE grp = ?1 ORDER BY member")?;
        let members = stmt
            .query_map(params![address], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some(Group {
            address,
            name,
            members,
        }))
    }

    /// Every group, sorted by address.
    pub fn groups(&self) -> Result<Vec<Group>> {
        let mut stmt = self
            .conn
            .prepare("SELECT address FROM groups ORDER BY address")?;
        let addrs = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::new();
        for a in addrs {
            if let Some(g) = self.group(&a)? {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// Makes mail to `x@alias_domain` go to `x@target_domain`.
    pub fn add_domain_alias(&mut self, alias_domain: &str, target_domain: &str) -> Result<()> {
        let a = normalize_address(&format!("x@{alias_domain}"))?;
        let t = normalize_address(&format!("x@{target_domain}"))?;
        let (a, t) = (&a[2..], &t[2..]);
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO domain_aliases (alias_domain, target_domain) VALUES (?1, ?2)",
            params![a, t],
        )?;
        if n == 0 {
            return Err(Error::Exists(a.to_string()));
        }
        Ok(())
    }

    /// Every domain alias as `(alias_domain, target_domain)`.
    pub fn domain_aliases(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT alias_domain, target_domain FROM domain_aliases ORDER BY 1")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Whether `domain` is an alias domain (its mail is local too).
    pub fn is_alias_domain(&self, domain: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM domain_aliases WHERE alias_domain = ?1)",
            params![domain.to_ascii_lowercase()],
            |r| r.get(0),
        )?)
    }

    /// Expands an address through domain aliases, aliases and groups (depth
    /// limited, loops cut) to enabled local users and remote addresses.
    /// An empty result means the address is unknown.
    pub fn resolve(&self, address: &str) -> Result<Resolution> {
        let mut out = Resolution::default();
        let mut seen = Vec::new();
        self.expand(&address.trim().to_ascii_lowercase(), 0, &mut seen, &mut out)?;
        Ok(out)
    }

    fn expand(
        &self,
        address: &str,
        depth: usize,
        seen: &mut Vec<String>,
        out: &mut Resolution,
    ) -> Result<()> {
        if depth > MAX_EXPANSION_DEPTH || seen.iter().any(|s| s == address) {
            return Ok(());
        }
        seen.push(address.to_string());
        let address = self.apply_domain_alias(address)?;
        if let Some(enabled) = self
            .conn
            .query_row(
                "SELECT enabled FROM users WHERE address = ?1",
                params![address],
                |r| r.get::<_, bool>(0),
            )
            .optional()?
        {
            if enabled && !out.local.contains(&address) {
                out.local.push(address);
            }
            return Ok(());
        }
        let mut targets = self.alias_targets(&address)?;
        if let Some(g) = self.group(&address)? {
            targets.extend(g.members);
        }
        if targets.is_empty() {
            // Only addresses reached through an alias or group count as
            // remote; the top-level address is simply unknown.
            if depth > 0 && !out.remote.contains(&address) && !self.is_known_domain(&address)? {
                out.remote.push(address);
            }
            return Ok(());
        }
        for t in targets {
            self.expand(&t, depth + 1, seen, out)?;
        }
        Ok(())
    }

    fn is_known_domain(&self, address: &str) -> Result<bool> {
        let domain = address.rsplit('@').next().unwrap_or("");
        let user_domain: bool = self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM users WHERE address LIKE '%@' || ?1)",
            params![domain],
            |r| r.get(0),
        )?;
        Ok(user_domain || self.is_alias_domain(domain)?)
    }

    fn apply_domain_alias(&self, address: &str) -> Result<String> {
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Ok(address.to_string());
        };
        let target: Option<String> = self
            .conn
            .query_row(
                "SELECT target_domain FROM domain_aliases WHERE alias_domain = ?1",
                params![domain],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match target {
            Some(t) => format!("{local}@{t}"),
            None => address.to_string(),
        })
    }

    fn alias_targets(&self, alias: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT target FROM aliases WHERE alias = ?1 ORDER BY target")?;
        let rows = stmt
            .query_map(params![alias], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Whether `user` may use `from` as its envelope or header sender: its
    /// own address, or an alias (directly or through a domain alias) that
    /// resolves to it.
    pub fn may_send_as(&self, user: &str, from: &str) -> Result<bool> {
        let user = user.trim().to_ascii_lowercase();
        let from = from.trim().to_ascii_lowercase();
        if from == user || self.apply_domain_alias(&from)? == user {
            return Ok(true);
        }
        let canonical = self.apply_domain_alias(&from)?;
        Ok(self.alias_targets(&canonical)?.contains(&user))
    }

    /// Checks a password; [`Directory::login`] without the generation.
    pub fn authenticate(
        &self,
        address: &str,
        password: &str,
        client: Option<&str>,
    ) -> Result<User, AuthError> {
        self.login(address, password, client).map(|l| l.user)
    }

    /// Checks a password under the lockout policy ([`Lockout`]); `client`
    /// is the peer's IP address (`None` for local tools).
    ///
    /// The attempt is first charged, in one `BEGIN IMMEDIATE` transaction,
    /// to its three counters (this account from this source, this source,
    /// this account), or refused with [`AuthError::Locked`] without a
    /// password check if any of them is locked. Only then is the password
    /// checked, so however many attempts run at once, no more than the
    /// budget reach argon2 (#13). A failure stays counted; a success clears
    /// this account's counter for this source and refunds its charge to the
    /// other two; a right password of a disabled account is refunded.
    pub fn login(
        &self,
        address: &str,
        password: &str,
        client: Option<&str>,
    ) -> Result<Login, AuthError> {
        let unavailable = |e: rusqlite::Error| AuthError::Unavailable(e.to_string());
        let address = address.trim().to_ascii_lowercase();
        let buckets = buckets(&address, client);
        let t = now();
        if let Some(until) = self.reserve(&buckets, t).map_err(unavailable)? {
            return Err(AuthError::Locked(until.saturating_sub(t).max(1)));
        }
        let row: Option<(String, bool, i64)> = if address.len() <= MAX_KEY_LEN {
            self.conn
                .query_row(
                    "SELECT password, enabled, generation FROM users WHERE address = ?1",
                    params![address],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(unavailable)?
        } else {
            None
        };
        let ok = match &row {
            Some((hash, _, _)) => verify_hash(hash, password),
            None => {
                // Spend the same time as for a real user so the reply time
                // does not tell which addresses exist.
                let _ = hash_password(password);
                false
            }
        };
        let Some((hash, enabled, generation)) = row.filter(|_| ok) else {
            // The charge stays: that was a failure.
            return Err(AuthError::Invalid);
        };
        if !enabled {
            self.settle(&buckets, false).map_err(unavailable)?;
            return Err(AuthError::Disabled);
        }
        self.settle(&buckets, true).map_err(unavailable)?;
        if is_sha_crypt(&hash)
            && let Ok(upgraded) = hash_password(password)
        {
            // Upgrade an installer-provided crypt(3) hash to argon2id (the
            // same password: the generation stays).
            self.conn
                .execute(
                    "UPDATE users SET password = ?2 WHERE address = ?1 AND password = ?3",
                    params![address, upgraded, hash],
                )
                .map_err(unavailable)?;
        }
        match self.user(&address) {
            Ok(Some(user)) => Ok(Login {
                user,
                generation: generation as u64,
            }),
            Ok(None) => Err(AuthError::Invalid),
            Err(e) => Err(AuthError::Unavailable(e.to_string())),
        }
    }

    /// Whether a login remembered by a daemon's cache (from
    /// [`Directory::login`], with its `generation`) may still be trusted
    /// for a new login from `client`: the user exists, is enabled, has the
    /// same credential generation (no password change, disable or delete
    /// since), and none of the attempt's counters is locked. A few
    /// primary-key reads and no write; on an error the caller does a full
    /// [`Directory::login`].
    pub fn check_cached(
        &self,
        address: &str,
        client: Option<&str>,
        generation: u64,
    ) -> Result<(), AuthError> {
        let unavailable = |e: rusqlite::Error| AuthError::Unavailable(e.to_string());
        let address = address.trim().to_ascii_lowercase();
        let row: Option<(i64, bool)> = self
            .conn
            .prepare_cached("SELECT generation, enabled FROM users WHERE address = ?1")
            .and_then(|mut s| {
                s.query_row(params![address], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(unavailable)?;
        match row {
            Some((g, _)) if g as u64 != generation => return Err(AuthError::Invalid),
            Some((_, false)) => return Err(AuthError::Disabled),
            Some(_) => {}
            None => return Err(AuthError::Invalid),
        }
        let t = now();
        let mut until: Option<i64> = None;
        for (_, account, source) in buckets(&address, client) {
            let u: Option<i64> = self
                .conn
                .prepare_cached(
                    "SELECT locked_until FROM auth_attempts
                     WHERE account = ?1 AND source = ?2 AND locked_until > ?3 AND expires > ?3",
                )
                .and_then(|mut s| {
                    s.query_row(params![account, source, t as i64], |r| r.get(0))
                        .optional()
                })
                .map_err(unavailable)?;
            until = until.max(u);
        }
        match until {
            Some(u) => Err(AuthError::Locked((u as u64).saturating_sub(t).max(1))),
            None => Ok(()),
        }
    }

    /// Charges one attempt to each bucket, or returns the end of the
    /// latest lock if any bucket is locked (then nothing is charged but
    /// the locked source buckets, whose lock grows). One `BEGIN IMMEDIATE`
    /// transaction: two attempts never see the same count.
    fn reserve(&self, buckets: &[Bucket], t: u64) -> rusqlite::Result<Option<u64>> {
        let p = self.policy;
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        // Forget what has expired (indexed), so the table holds only the
        // current windows and locks.
        tx.prepare_cached("DELETE FROM auth_attempts WHERE expires <= ?1")?
            .execute(params![t as i64])?;
        let mut rows = Vec::with_capacity(buckets.len());
        for (_, account, source) in buckets {
            let row = tx
                .prepare_cached(
                    "SELECT failures, locked_until, expires FROM auth_attempts
                     WHERE account = ?1 AND source = ?2",
                )?
                .query_row(params![account, source], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u32,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                    ))
                })
                .optional()?;
            rows.push(row);
        }
        let locked = rows.iter().flatten().map(|r| r.1).filter(|&u| u > t).max();
        let mut latest = locked;
        for ((scope, account, source), row) in buckets.iter().zip(rows) {
            let (failures, until, expires) = row.unwrap_or((0, 0, 0));
            if locked.is_some() {
                // Refused unchecked. Trying on while locked grows a
                // source's lock (only the guesser's own); it never touches
                // the account-wide lock, which stays short.
                if *scope == Scope::Account || until <= t {
                    continue;
                }
            }
            let failures = failures.saturating_add(1);
            let mut locked_until = until;
            if failures >= p.threshold(*scope) {
                locked_until = until.max(t + p.lock_secs(*scope, failures));
                latest = latest.max(Some(locked_until));
            }
            let expires = match scope {
                // Counted from the first failure; a fresh count once the
                // lock is over.
                Scope::Account if locked_until > t => locked_until,
                Scope::Account if row.is_some() => expires,
                Scope::Account => t + p.account_window.as_secs().max(1),
                // Forgotten `window` after the last failure or the lock.
                Scope::Pair | Scope::Client => locked_until.max(t) + p.window.as_secs().max(1),
            };
            tx.prepare_cached(
                "INSERT INTO auth_attempts (account, source, failures, locked_until, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (account, source) DO UPDATE
                 SET failures = ?3, locked_until = ?4, expires = ?5",
            )?
            .execute(params![
                account,
                source,
                failures,
                locked_until as i64,
                expires as i64
            ])?;
        }
        tx.commit()?;
        Ok(if locked.is_some() { latest } else { None })
    }

    /// Settles an attempt whose password was right: refunds its charge
    /// (lifting a lock that only pending attempts had earned); on
    /// `success`, clears this account's count from this source altogether.
    fn settle(&self, buckets: &[Bucket], success: bool) -> rusqlite::Result<()> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        for (scope, account, source) in buckets {
            if success && *scope == Scope::Pair {
                tx.prepare_cached("DELETE FROM auth_attempts WHERE account = ?1 AND source = ?2")?
                    .execute(params![account, source])?;
                continue;
            }
            tx.prepare_cached(
                "UPDATE auth_attempts SET failures = failures - 1,
                     locked_until = CASE WHEN failures - 1 < ?3 THEN 0 ELSE locked_until END
                 WHERE account = ?1 AND source = ?2 AND failures > 0",
            )?
            .execute(params![account, source, self.policy.threshold(*scope)])?;
            tx.prepare_cached(
                "DELETE FROM auth_attempts WHERE account = ?1 AND source = ?2 AND failures <= 0",
            )?
            .execute(params![account, source])?;
        }
        tx.commit()
    }
}

/// One counter: its scope and its `(account, source)` key.
type Bucket = (Scope, String, String);

/// The counters of an attempt on `address` from `client`: this account
/// from this source, this source (unless local: `None`), this account.
fn buckets(address: &str, client: Option<&str>) -> Vec<Bucket> {
    let account = match address {
        // '' means "every account"; an empty name is still one name.
        "" => "@".to_string(),
        a => truncate(a),
    };
    let source = source_key(client);
    let mut b = vec![(Scope::Pair, account.clone(), source.clone())];
    if client.is_some() {
        b.push((Scope::Client, String::new(), source));
    }
    b.push((Scope::Account, account, String::new()));
    b
}

/// The source a client address is counted as: an IPv4 address (also when
/// mapped into IPv6), the /64 of an IPv6 address (one host usually has a
/// whole /64, so counting single IPv6 addresses would count nothing), or
/// `-` for local tools that give none.
fn source_key(client: Option<&str>) -> String {
    let Some(c) = client.map(str::trim).filter(|c| !c.is_empty()) else {
        return "-".into();
    };
    match c.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
        Err(_) => truncate(&c.to_ascii_lowercase()),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_KEY_LEN).collect()
}

/// Takes the next credential generation (never handed out twice).
fn next_generation(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "UPDATE counters SET value = value + 1 WHERE name = 'credential_generation' RETURNING value",
        [],
        |r| r.get(0),
    )
}

/// Inserts `members` (normalised) into `group` within the caller's
/// transaction; a member already there is an error (the caller's
/// transaction then rolls back).
fn insert_members(tx: &Connection, group: &str, members: &[String]) -> Result<()> {
    let mut stmt =
        tx.prepare("INSERT OR IGNORE INTO group_members (grp, member) VALUES (?1, ?2)")?;
    for m in members {
        if stmt.execute(params![group, m])? == 0 {
            return Err(Error::Exists(format!("{m} in {group}")));
        }
    }
    Ok(())
}

fn address_in_use(conn: &Connection, address: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM users WHERE address = ?1)
             OR EXISTS(SELECT 1 FROM aliases WHERE alias = ?1)
             OR EXISTS(SELECT 1 FROM groups WHERE address = ?1)",
        params![address],
        |r| r.get(0),
    )?)
}
