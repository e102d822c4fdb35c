//! HTTP Basic authentication against `outpost-directory`, with a short-lived
//! cache of successful logins.
//!
//! Clients send Basic credentials with every request; an argon2id check per
//! request would cap a sync at a few requests per second. A success is
//! remembered for [`CACHE_TTL`] as a salted SHA-256 of the password (the
//! salt is random per process), so a changed password takes effect within
//! that time, and failures always go to the directory (which keeps the
//! shared lockout).

use outpost_directory::Directory;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a successful login is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// Checks passwords and group membership.
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// The canonical user address if `password` is right, else `None`.
    fn authenticate(&self, user: &str, password: &str, client: Option<&str>) -> Option<String>;
    /// Whether `user` is `group` or a member of it (after alias/group expansion).
    fn is_member(&self, group: &str, user: &str) -> bool;
}

/// The directory-backed authenticator.
#[derive(Debug)]
pub struct DirectoryAuth {
    dir: PathBuf,
    db: Mutex<Option<Directory>>,
    cache: Mutex<HashMap<String, ([u8; 32], Instant)>>,
    salt: [u8; 16],
}

impl DirectoryAuth {
    /// Uses the directory in `dir` (opened lazily, so webd starts even
    /// before the installer or `outpostctl` created it).
    pub fn new(dir: &Path) -> DirectoryAuth {
        let mut salt = [0u8; 16];
        for chunk in salt.chunks_mut(8) {
            let r = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            chunk.copy_from_slice(&r.to_le_bytes());
        }
        DirectoryAuth {
            dir: dir.to_path_buf(),
            db: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
            salt,
        }
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
            *db = Directory::open(&self.dir).ok();
        }
        db.as_ref().map(f)
    }
}

impl Authenticator for DirectoryAuth {
    fn authenticate(&self, user: &str, password: &str, client: Option<&str>) -> Option<String> {
        let user = user.trim().to_ascii_lowercase();
        let d = self.digest(&user, password);
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((digest, at)) = cache.get(&user)
                && *digest == d
                && at.elapsed() < CACHE_TTL
            {
                return Some(user);
            }
        }
        let address = self.with_db(|db| {
            db.authenticate(&user, password, client)
                .ok()
                .map(|u| u.address)
        })??;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        cache.insert(
            address.clone(),
            (self.digest(&address, password), Instant::now()),
        );
        Some(address)
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
