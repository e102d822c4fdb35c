//! Learning from users: a message moved (or copied) into Junk trains
//! rspamd's classifier as spam, one moved out of Junk (not to Trash) as
//! ham. imapd (MOVE/COPY) and the webmail (its move) offer each message to
//! a [`Trainer`]; the user's command never waits for the engine.
//!
//! **Bounds:** at most [`QUEUE`] messages wait at once (a user moving ten
//! thousand messages into Junk trains the first of them and the rest are
//! counted and logged, not held in memory); a message larger than
//! [`MAX_MESSAGE`] is not offered (spam is small; rspamd would learn only
//! its start anyway); one learn request runs at a time, each bounded by
//! `[smtp.spam] timeout_secs`. A failed learn is logged and dropped: the
//! move itself is done and nothing of the user's is lost.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, mpsc};

use outpost_config::hygiene::Spam;

use crate::spam::Rspamd;

/// Messages waiting to be learned, at most.
pub const QUEUE: usize = 32;
/// Largest message offered for learning (bytes).
pub const MAX_MESSAGE: usize = 2 << 20;

/// Whether moving a message from a folder with special use `from` to one
/// with special use `to` (RFC 6154 attributes such as `\Junk`; `None` for
/// ordinary folders and INBOX) trains it: `Some(true)` as spam (into
/// Junk), `Some(false)` as ham (out of Junk, except into Trash: deleting
/// junk says nothing about it), `None` otherwise.
pub fn verdict(from: Option<&str>, to: Option<&str>) -> Option<bool> {
    let junk = |s: Option<&str>| s.is_some_and(|s| s.eq_ignore_ascii_case("\\Junk"));
    let trash = |s: Option<&str>| s.is_some_and(|s| s.eq_ignore_ascii_case("\\Trash"));
    match (junk(from), junk(to)) {
        (false, true) => Some(true),
        (true, false) if !trash(to) => Some(false),
        _ => None,
    }
}

struct Job {
    message: Vec<u8>,
    spam: bool,
    user: String,
}

/// The learning queue of one daemon (create once, share).
pub struct Trainer {
    rspamd: Rspamd,
    /// Started on the first offer: a daemon whose users never move junk
    /// runs no worker thread.
    tx: OnceLock<Option<mpsc::Sender<Job>>>,
    waiting: Arc<AtomicUsize>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Trainer {
    /// The trainer `[smtp.spam]` allows: `None` unless both the engine
    /// (`rspamd`) and its `controller` are configured.
    pub fn new(cfg: &Spam) -> Option<Trainer> {
        cfg.controller?;
        Some(Trainer {
            rspamd: Rspamd::new(cfg)?,
            tx: OnceLock::new(),
            waiting: Arc::new(AtomicUsize::new(0)),
            dropped: AtomicU64::new(0),
        })
    }

    /// Offers one message of `user` for learning as spam or ham. `read`
    /// gives its bytes and is called only when the queue has room, so a
    /// mass move reads no more messages than can wait. Returns whether the
    /// message was queued. Never blocks on the engine.
    pub fn offer(&self, user: &str, spam: bool, read: impl FnOnce() -> Option<Vec<u8>>) -> bool {
        let Some(tx) = self.sender() else {
            return false;
        };
        if self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < QUEUE).then_some(n + 1)
            })
            .is_err()
        {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_power_of_two() {
                tracing::warn!(
                    user,
                    dropped = n,
                    "spam training queue full: message not learned"
                );
            }
            return false;
        }
        let message = match read() {
            Some(m) if m.len() <= MAX_MESSAGE => m,
            other => {
                if let Some(m) = other {
                    tracing::debug!(user, bytes = m.len(), "too large to learn from");
                }
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
        };
        let job = Job {
            message,
            spam,
            user: user.to_string(),
        };
        if tx.send(job).is_err() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Messages waiting now (for tests and status).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    fn sender(&self) -> Option<&mpsc::Sender<Job>> {
        self.tx
            .get_or_init(|| {
                let (tx, rx) = mpsc::channel::<Job>();
                let rspamd = self.rspamd.clone();
                let waiting = self.waiting.clone();
                // Its own thread and runtime: callers are sync (imapd runs
                // commands on blocking threads) or on any runtime.
                let spawned = std::thread::Builder::new()
                    .name("spam-train".into())
                    .spawn(move || {
                        let rt = match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(rt) => rt,
                            Err(e) => {
                                tracing::error!(error = %e, "spam training: no runtime");
                                return;
                            }
                        };
                        for job in rx {
                            let r = rt.block_on(rspamd.learn(&job.message, job.spam));
                            waiting.fetch_sub(1, Ordering::AcqRel);
                            let class = if job.spam { "spam" } else { "ham" };
                            match r {
                                Ok(()) => tracing::info!(user = %job.user, class, "learned"),
                                Err(e) => {
                                    tracing::warn!(user = %job.user, class, error = %e, "not learned")
                                }
                            }
                        }
                    });
                match spawned {
                    Ok(_) => Some(tx),
                    Err(e) => {
                        tracing::error!(error = %e, "spam training: no worker thread");
                        None
                    }
                }
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_moves_across_junk_train() {
        let (junk, trash, sent) = (Some("\\Junk"), Some("\\Trash"), Some("\\Sent"));
        assert_eq!(verdict(None, junk), Some(true));
        assert_eq!(verdict(sent, Some("\\junk")), Some(true));
        assert_eq!(verdict(junk, None), Some(false));
        assert_eq!(verdict(junk, Some("\\Archive")), Some(false));
        assert_eq!(verdict(junk, trash), None);
        assert_eq!(verdict(junk, junk), None);
        assert_eq!(verdict(None, None), None);
        assert_eq!(verdict(None, trash), None);
    }

    #[test]
    fn the_queue_is_bounded_and_reads_only_what_it_keeps() {
        // A controller that accepts and never answers: each job waits its
        // full timeout, so the queue fills.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let cfg = Spam {
            rspamd: Some(addr),
            controller: Some(addr),
            timeout_secs: 1,
            ..Spam::default()
        };
        assert!(Trainer::new(&Spam::default()).is_none());
        assert!(
            Trainer::new(&Spam {
                controller: None,
                ..cfg.clone()
            })
            .is_none()
        );
        let t = Trainer::new(&cfg).unwrap();
        let mut reads = 0;
        let mut queued = 0;
        for _ in 0..1000 {
            if t.offer("a@b", true, || {
                reads += 1;
                Some(b"Subject: x\r\n\r\nx\r\n".to_vec())
            }) {
                queued += 1;
            }
        }
        // The worker holds one job (taken off the queue) for a second.
        assert!((QUEUE..=QUEUE + 1).contains(&queued), "{queued}");
        assert_eq!(reads, queued);
        assert!(t.waiting() <= QUEUE);
        // Too large: read, refused, its slot given back.
        let before = t.waiting();
        assert!(!t.offer("a@b", true, || Some(vec![b'x'; MAX_MESSAGE + 1])) || before < QUEUE);
        assert!(t.waiting() <= QUEUE);
    }
}
