//! HTTP Basic authentication against `outpost-directory`, with a short-lived
//! cache of successful logins.
//!
//! Clients send Basic credentials with every request; an argon2id check per
//! request would cap a sync at a few requests per second. A success is
//! remembered for [`CACHE_TTL`] as a salted SHA-256 of the password (the
//! salt is random per process) with the user's credential generation, and
//! a hit is trusted only after the directory confirms that generation and
//! that no lock applies (`Directory::check_cached`: a few indexed reads, no
//! argon2), so a password change, a disable, a delete or a lockout takes
//! effect at once (#15). Failures always go to the directory (which keeps
//! the shared lockout).

use outpost_daemon::{AuthGate, GateError};
use outpost_directory::{AuthError, Directory, Lockout};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a successful login is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// Why credentials were not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong, unknown, disabled or locked: `401`.
    Invalid,
    /// No password-check slot in time (#9): `503`, try again later.
    Busy,
}

/// A user as the web UI needs to know them at each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Canonical address.
    pub address: String,
    /// Credential generation (a password change, disable or delete bumps it).
    pub generation: u64,
    /// Whether the account may sign in.
    pub enabled: bool,
    /// Roles (`admin`, …).
    pub roles: Vec<String>,
}

/// Checks passwords and group membership.
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// A full password check for a sign-in form (never a cached one), with
    /// the same lockout as every other protocol.
    fn sign_in(&self, user: &str, password: &str, client: Option<&str>) -> Result<String, Refusal> {
        self.check(user, password, client)
    }
    /// The account of `user` as the directory has it now.
    fn account(&self, _user: &str) -> Option<Account> {
        None
    }
    /// The canonical user address if `password` is right, else `None`.
    fn authenticate(&self, user: &str, password: &str, client: Option<&str>) -> Option<String>;
    /// Like [`Authenticator::authenticate`], telling a busy refusal apart.
    fn check(&self, user: &str, password: &str, client: Option<&str>) -> Result<String, Refusal> {
        self.authenticate(user, password, client)
            .ok_or(Refusal::Invalid)
    }
    /// Whether `user` is `group` or a member of it (after alias/group expansion).
    fn is_member(&self, group: &str, user: &str) -> bool;
}

/// A remembered login: password digest, when, credential generation.
type Cached = ([u8; 32], Instant, u64);

/// The directory-backed authenticator.
#[derive(Debug)]
pub struct DirectoryAuth {
    dir: PathBuf,
    lockout: Lockout,
    db: Mutex<Option<Directory>>,
    cache: Mutex<HashMap<String, Cached>>,
    salt: [u8; 16],
    /// The daemon's password-check gate and its runtime (#9): full checks
    /// (argon2) wait for a slot; without it they run unbounded (tests).
    gate: Option<(AuthGate, tokio::runtime::Handle)>,
}

impl DirectoryAuth {
    /// Uses the directory in `dir` (opened lazily, so webd starts even
    /// before the installer or `outpostctl` created it), with the default
    /// lockout policy.
    pub fn new(dir: &Path) -> DirectoryAuth {
        Self::with_lockout(dir, Lockout::default())
    }

    /// Uses the directory in `dir` with a lockout policy, e.g.
    /// `Lockout::from(&config.directory)`.
    pub fn with_lockout(dir: &Path, lockout: Lockout) -> DirectoryAuth {
        let mut salt = [0u8; 16];
        for chunk in salt.chunks_mut(8) {
            let r = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            chunk.copy_from_slice(&r.to_le_bytes());
        }
        DirectoryAuth {
            dir: dir.to_path_buf(),
            lockout,
            db: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
            salt,
            gate: None,
        }
    }

    /// Full password checks go through `gate` (the `[directory]` bounds, as
    /// in smtpd and imapd), driven on `runtime` from the blocking pool.
    pub fn with_gate(mut self, gate: AuthGate, runtime: tokio::runtime::Handle) -> DirectoryAuth {
        self.gate = Some((gate, runtime));
        self
    }

    fn digest(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn with_db<R>(&self, f: impl FnOnce(&Directory) -> R) -> Option<R> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if db.is_none() {
            *db = Directory::open_with(&self.dir, self.lockout).ok();
        }
        db.as_ref().map(f)
    }
}

impl Authenticator for DirectoryAuth {
    fn authenticate(&self, user: &str, password: &str, client: Option<&str>) -> Option<String> {
        self.check(user, password, client).ok()
    }

    fn check(&self, user: &str, password: &str, client: Option<&str>) -> Result<String, Refusal> {
        self.verify(user, password, client, "Basic", true)
    }

    fn sign_in(&self, user: &str, password: &str, client: Option<&str>) -> Result<String, Refusal> {
        self.verify(user, password, client, "form", false)
    }

    fn account(&self, user: &str) -> Option<Account> {
        self.with_db(|db| {
            let u = db.user(user).ok()??;
            let generation = db.generation(&u.address).ok()??;
            Some(Account {
                address: u.address,
                generation,
                enabled: u.enabled,
                roles: u.roles,
            })
        })
        .flatten()
    }

    fn is_member(&self, group: &str, user: &str) -> bool {
        if group == user {
            return true;
        }
        self.with_db(|db| {
            db.resolve(group)
                .map(|r| r.local.iter().any(|m| m == user))
                .unwrap_or(false)
        })
        .unwrap_or(false)
    }
}

impl DirectoryAuth {
    /// One password check: `mechanism` names it in the `outpost::auth`
    /// event; with `cached`, a recent success with the same password is
    /// trusted after the directory's cheap re-check.
    fn verify(
        &self,
        user: &str,
        password: &str,
        client: Option<&str>,
        mechanism: &str,
        cached: bool,
    ) -> Result<String, Refusal> {
        let user = user.trim().to_ascii_lowercase();
        let d = self.digest(&user, password);
        let hit = if !cached {
            None
        } else {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(&user)
                .filter(|(digest, at, _)| *digest == d && at.elapsed() < CACHE_TTL)
                .map(|&(_, _, generation)| generation)
        };
        if let Some(generation) = hit {
            let still = self.with_db(|db| db.check_cached(&user, client, generation).is_ok());
            if still == Some(true) {
                return Ok(user);
            }
            // Changed, disabled, deleted or locked: the full check decides
            // (and counts).
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.remove(&user);
        }
        // One `outpost::auth` event per password verification (a cached
        // re-authentication of the same credentials is none: DAV clients
        // send them with every request). The check opens its own directory
        // handle: no lock is held across argon2, so one slow check never
        // queues the cheap requests behind it.
        let peer = client.unwrap_or("-");
        let (dir, lockout) = (self.dir.clone(), self.lockout);
        let (u, p, c) = (
            user.clone(),
            password.to_string(),
            client.map(str::to_string),
        );
        let verify = move || match Directory::open_with(&dir, lockout) {
            Ok(db) => db.login(&u, &p, c.as_deref()),
            Err(e) => Err(AuthError::Unavailable(e.to_string())),
        };
        let result = match &self.gate {
            Some((gate, runtime)) => {
                let ip = client
                    .and_then(|c| c.parse::<std::net::IpAddr>().ok())
                    .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
                match runtime.block_on(gate.check(ip.to_canonical(), verify)) {
                    Ok(r) => r,
                    Err(GateError::Busy) => {
                        outpost_daemon::log::login("http", mechanism, &user, peer, Err("busy"));
                        return Err(Refusal::Busy);
                    }
                    Err(e) => Err(AuthError::Unavailable(e.to_string())),
                }
            }
            None => verify(),
        };
        let login = match result {
            Ok(l) => l,
            Err(e) => {
                let why = match e {
                    AuthError::Invalid => "invalid",
                    AuthError::Locked(_) => "locked",
                    AuthError::Disabled => "disabled",
                    AuthError::Unavailable(_) => "unavailable",
                };
                outpost_daemon::log::login("http", mechanism, &user, peer, Err(why));
                return Err(Refusal::Invalid);
            }
        };
        outpost_daemon::log::login("http", mechanism, &login.user.address, peer, Ok(()));
        let address = login.user.address;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (_, at, _)| at.elapsed() < CACHE_TTL);
        cache.insert(
            address.clone(),
            (
                self.digest(&address, password),
                Instant::now(),
                login.generation,
            ),
        );
        Ok(address)
    }
}
