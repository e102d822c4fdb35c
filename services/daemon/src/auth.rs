//! Bounded password checks: an argon2id verification costs ~12 MiB and tens
//! of milliseconds, so unbounded parallel logins (100 from 4 addresses
//! pushed imapd 1.2 GB above its baseline) are a memory attack before anyone
//! has authenticated. [`AuthGate`] admits at most
//! `directory.max_password_checks` checks at once in the process, and at
//! most `directory.max_password_checks_per_client` running or waiting for
//! one client address; a login that cannot get a slot within
//! `directory.password_check_wait_secs` is refused as busy (the client
//! retries), never queued without end.
//!
//! The slots travel into the blocking task with the check, so a client that
//! disconnects while its check runs does not free a slot early.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

/// Why a check did not run to completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateError {
    /// No slot within the wait, or this client already has its share: the
    /// client should try again later (IMAP `[UNAVAILABLE]`, SMTP `454`,
    /// HTTP `503`).
    Busy,
    /// The check itself panicked (a bug); treat it as a temporary failure.
    Failed,
}

impl std::fmt::Display for GateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GateError::Busy => "too many password checks at once",
            GateError::Failed => "the password check failed",
        })
    }
}

impl std::error::Error for GateError {}

/// The password-check gate of one daemon. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthGate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    global: Arc<Semaphore>,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    max_per_client: usize,
    wait: Duration,
}

/// One client's place, counted while waiting and while running.
struct ClientSlot {
    inner: Arc<Inner>,
    ip: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self
            .inner
            .per_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl AuthGate {
    /// A gate with explicit bounds (`max`, `max_per_client` at least 1).
    pub fn new(max: usize, max_per_client: usize, wait: Duration) -> AuthGate {
        AuthGate {
            inner: Arc::new(Inner {
                global: Arc::new(Semaphore::new(max.max(1))),
                per_client: Mutex::new(HashMap::new()),
                max_per_client: max_per_client.max(1),
                wait,
            }),
        }
    }

    /// The gate `[directory]` configures.
    pub fn from_config(c: &outpost_config::Directory) -> AuthGate {
        AuthGate::new(
            c.max_password_checks,
            c.max_password_checks_per_client,
            Duration::from_secs(c.password_check_wait_secs),
        )
    }

    /// Runs `check` (a password verification) on the blocking pool once a
    /// slot for `client` and a process-wide slot are free.
    pub async fn check<T, F>(&self, client: IpAddr, check: F) -> Result<T, GateError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = {
            let mut m = self
                .inner
                .per_client
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let n = m.entry(client).or_insert(0);
            if *n >= self.inner.max_per_client {
                return Err(GateError::Busy);
            }
            *n += 1;
            ClientSlot {
                inner: self.inner.clone(),
                ip: client,
            }
        };
        let permit =
            tokio::time::timeout(self.inner.wait, self.inner.global.clone().acquire_owned())
                .await
                .map_err(|_| GateError::Busy)?
                .map_err(|_| GateError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _held = (permit, slot);
            check()
        })
        .await
        .map_err(|_| GateError::Failed)
    }

    /// Checks running or waiting for `client` now (for tests and status).
    pub fn pending(&self, client: IpAddr) -> usize {
        self.inner
            .per_client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&client)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_checks_never_exceed_the_bounds() {
        // Regression (#9): 100 parallel logins ran up to 512 argon2 hashes
        // at once. With max 3 and 2 per client, at most 3 run at any time
        // and a client's third concurrent attempt is refused as busy.
        let gate = AuthGate::new(3, 2, Duration::from_secs(30));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..40u8 {
            let gate = gate.clone();
            let (running, peak) = (running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let ip = IpAddr::from([10, 0, 0, i % 8]);
                gate.check(ip, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut ok = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(GateError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            peak.load(Ordering::SeqCst) <= 3,
            "peak {}",
            peak.load(Ordering::SeqCst)
        );
        assert!(ok >= 16, "every client got its two slots: {ok} ok");
        assert_eq!(ok + busy, 40);
        assert!(busy > 0, "5 attempts per client, 2 allowed at once");
        for i in 0..8u8 {
            assert_eq!(gate.pending(IpAddr::from([10, 0, 0, i])), 0);
        }
    }

    #[tokio::test]
    async fn a_check_that_cannot_get_a_slot_in_time_is_busy() {
        let gate = AuthGate::new(1, 4, Duration::from_millis(50));
        let g = gate.clone();
        let slow = tokio::spawn(async move {
            g.check(IpAddr::from([10, 0, 0, 1]), || {
                std::thread::sleep(Duration::from_millis(400))
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = gate.check(IpAddr::from([10, 0, 0, 2]), || ()).await;
        assert_eq!(r, Err(GateError::Busy));
        assert_eq!(slow.await.unwrap(), Ok(()));
        assert_eq!(gate.check(IpAddr::from([10, 0, 0, 2]), || 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_dropped_waiter_keeps_its_running_check_counted() {
        // The slot travels with the blocking task: abandoning the future
        // does not let a client start more checks than allowed.
        let gate = AuthGate::new(4, 1, Duration::from_secs(5));
        let ip = IpAddr::from([10, 0, 0, 9]);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let g = gate.clone();
        let fut = tokio::spawn(async move {
            g.check(ip, move || {
                let _ = rx.recv_timeout(Duration::from_secs(5));
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        fut.abort();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.check(ip, || ()).await, Err(GateError::Busy));
        tx.send(()).unwrap();
        for _ in 0..100 {
            if gate.pending(ip) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(gate.check(ip, || 1).await, Ok(1));
    }
}
