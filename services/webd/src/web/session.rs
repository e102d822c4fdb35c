//! Server-side sessions of the web UI: one SQLite table under
//! `<state_dir>/web/sessions.db`, so a sign-in survives a webd restart.
//!
//! The cookie carries 32 random bytes; the table keeps only their SHA-256,
//! so a copy of the database signs nobody in. Each row holds the user,
//! the user's credential generation at sign-in (a password change, a
//! disable or a delete bumps it in the directory, which ends every other
//! session at its next request), the CSRF token of the session's forms,
//! and the times of creation and last use (idle and absolute expiry).
//!
//! **Invariant:** a session is valid only while it is younger than the
//! absolute lifetime, was used within the idle lifetime, and its row
//! exists; signing out deletes the row.

use base64::Engine as _;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Name of the session cookie.
pub const COOKIE: &str = "outpost_session";

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user's canonical address.
    pub user: String,
    /// The user's credential generation at sign-in.
    pub generation: u64,
    /// The token every state-changing form of this session carries.
    pub csrf: String,
    /// Unix seconds of sign-in.
    pub created: u64,
}

/// The session table.
#[derive(Debug)]
pub struct Sessions {
    db: Mutex<Connection>,
    idle: Duration,
    absolute: Duration,
}

/// A session table failure.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error(format!("session table: {e}"))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// 32 bytes from the OS's generator, base64url without padding.
pub fn random_token() -> String {
    use rand_core::RngCore as _;
    let mut b = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sessions(
         id BLOB PRIMARY KEY,
         user TEXT NOT NULL,
         generation INTEGER NOT NULL,
         csrf TEXT NOT NULL,
         created INTEGER NOT NULL,
         seen INTEGER NOT NULL);
     CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);";

/// A session is touched at most this often (a write per request would
/// make every page view an fsync).
const TOUCH_EVERY: u64 = 60;

impl Sessions {
    /// Opens (creating if needed) the table at `path`.
    pub fn open(path: &Path, idle: Duration, absolute: Duration) -> Result<Sessions, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error(format!("creating {}: {e}", dir.display())))?;
        }
        let db = Connection::open(path)?;
        db.busy_timeout(Duration::from_secs(5))?;
        db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")?;
        db.execute_batch(SCHEMA)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(Sessions {
            db: Mutex::new(db),
            idle,
            absolute,
        })
    }

    /// The absolute lifetime of a session.
    pub fn absolute(&self) -> Duration {
        self.absolute
    }

    /// A table in memory (in-process tests of the DAV server).
    pub fn in_memory() -> Sessions {
        let db = Connection::open_in_memory().expect("an in-memory SQLite database");
        db.execute_batch(SCHEMA).expect("the session schema");
        Sessions {
            db: Mutex::new(db),
            idle: Duration::from_secs(8 * 3600),
            absolute: Duration::from_secs(7 * 86400),
        }
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for `user`; returns the cookie's token.
    pub fn create(&self, user: &str, generation: u64) -> Result<(String, Session), Error> {
        let token = random_token();
        let s = Session {
            user: user.to_string(),
            generation,
            csrf: random_token(),
            created: now(),
        };
        let db = self.db();
        // Expired rows go when a new one comes: the table stays as small
        // as the set of live sessions.
        db.execute(
            "DELETE FROM sessions WHERE created < ?1 OR seen < ?2",
            params![
                now().saturating_sub(self.absolute.as_secs()) as i64,
                now().saturating_sub(self.idle.as_secs()) as i64
            ],
        )?;
        db.execute(
            "INSERT INTO sessions(id, user, generation, csrf, created, seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![
                digest(&token),
                s.user,
                s.generation as i64,
                s.csrf,
                s.created as i64
            ],
        )?;
        Ok((token, s))
    }

    /// The live session of `token`, touching it; `None` if unknown or
    /// expired (an expired row is deleted).
    pub fn get(&self, token: &str) -> Result<Option<Session>, Error> {
        self.get_at(token, now())
    }

    fn get_at(&self, token: &str, t: u64) -> Result<Option<Session>, Error> {
        let id = digest(token);
        let db = self.db();
        let row = db
            .query_row(
                "SELECT user, generation, csrf, created, seen FROM sessions WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        Session {
                            user: r.get(0)?,
                            generation: r.get::<_, i64>(1)? as u64,
                            csrf: r.get(2)?,
                            created: r.get::<_, i64>(3)? as u64,
                        },
                        r.get::<_, i64>(4)? as u64,
                    ))
                },
            )
            .optional()?;
        let Some((s, seen)) = row else {
            return Ok(None);
        };
        if t.saturating_sub(s.created) >= self.absolute.as_secs()
            || t.saturating_sub(seen) >= self.idle.as_secs()
        {
            db.execute("DELETE FROM sessions WHERE id = ?1", params![id])?;
            return Ok(None);
        }
        if t.saturating_sub(seen) >= TOUCH_EVERY {
            db.execute(
                "UPDATE sessions SET seen = ?2 WHERE id = ?1",
                params![id, t as i64],
            )?;
        }
        Ok(Some(s))
    }

    /// Ends the session of `token`.
    pub fn delete(&self, token: &str) -> Result<(), Error> {
        self.db()
            .execute("DELETE FROM sessions WHERE id = ?1", params![digest(token)])?;
        Ok(())
    }

    /// Ends every session of `user` (a disable, a password reset).
    pub fn delete_user(&self, user: &str) -> Result<usize, Error> {
        Ok(self
            .db()
            .execute("DELETE FROM sessions WHERE user = ?1", params![user])?)
    }

    /// Moves the session of `token` to a new credential generation (the
    /// user changed their own password in this session: it stays, the
    /// others end at their next request).
    pub fn set_generation(&self, token: &str, generation: u64) -> Result<(), Error> {
        self.db().execute(
            "UPDATE sessions SET generation = ?2 WHERE id = ?1",
            params![digest(token), generation as i64],
        )?;
        Ok(())
    }

    /// Live sessions of `user`.
    pub fn count(&self, user: &str) -> Result<usize, Error> {
        let n: i64 = self.db().query_row(
            "SELECT count(*) FROM sessions WHERE user = ?1",
            params![user],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &Path) -> Sessions {
        Sessions::open(
            &dir.join("web/sessions.db"),
            Duration::from_secs(600),
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    #[test]
    fn a_session_survives_reopening_and_only_its_hash_is_stored() {
        let d = tempfile::tempdir().unwrap();
        let (token, s) = table(d.path()).create("alice@outpost.lan", 3).unwrap();
        let t = table(d.path());
        assert_eq!(t.get(&token).unwrap(), Some(s));
        let raw = std::fs::read(d.path().join("web/sessions.db")).unwrap();
        assert!(!raw.windows(token.len()).any(|w| w == token.as_bytes()));
        assert_eq!(t.get("not-a-token").unwrap(), None);
    }

    /// Idle expiry (600 s without a request), absolute expiry (3600 s
    /// after sign-in even if used all along), and sign-out.
    #[test]
    fn sessions_expire_when_idle_or_old_and_end_on_sign_out() {
        let d = tempfile::tempdir().unwrap();
        let t = table(d.path());
        let (token, s) = t.create("a@x.lan", 1).unwrap();
        let c = s.created;
        assert!(t.get_at(&token, c + 599).unwrap().is_some());
        // Touched at c+599, so c+1198 is still within the idle time.
        assert!(t.get_at(&token, c + 1198).unwrap().is_some());
        assert!(t.get_at(&token, c + 1798).unwrap().is_none(), "idle");
        assert!(t.get_at(&token, c + 1799).unwrap().is_none(), "deleted");

        let (token, s) = t.create("a@x.lan", 1).unwrap();
        let c = s.created;
        for k in 1..6 {
            assert!(t.get_at(&token, c + k * 590).unwrap().is_some());
        }
        assert!(t.get_at(&token, c + 3600).unwrap().is_none(), "absolute");

        let (token, _) = t.create("a@x.lan", 1).unwrap();
        let (other, _) = t.create("a@x.lan", 1).unwrap();
        t.delete(&token).unwrap();
        assert!(t.get(&token).unwrap().is_none());
        assert!(t.get(&other).unwrap().is_some());
        assert_eq!(t.delete_user("a@x.lan").unwrap(), 1);
        assert!(t.get(&other).unwrap().is_none());
    }

    #[test]
    fn tokens_are_random_and_compared_in_full() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &a[..42]));
        assert!(!same_secret(&a, &format!("{}x", &a[..42])));
    }
}
