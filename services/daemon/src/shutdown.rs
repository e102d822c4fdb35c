//! Shutdown as a broadcast: SIGTERM or SIGINT triggers it once, and every
//! listener and session `select!`s on [`Shutdown::wait`] so a restart drains
//! cleanly instead of cutting sessions mid-command.
//!
//! The contract for sessions: when the signal fires, finish what the client
//! is owed (the current command's reply; a DATA transfer being received
//! until it is stored and answered), tell the client in its protocol
//! (SMTP `421`, IMAP `* BYE`, POP3 `-ERR`, HTTP `Connection: close`) and
//! end. The daemon waits `general.shutdown_grace_secs` for that, then exits
//! anyway; nothing acknowledged is lost either way, because every store
//! acknowledges only what is on stable storage.

use tokio_util::sync::CancellationToken;

/// A cloneable handle on the daemon's shutdown signal.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Fires the signal (idempotent).
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the signal has fired (at once if it already has).
    /// Cancel-safe: use it as one branch of a `select!`.
    pub async fn wait(&self) {
        self.token.cancelled().await
    }

    /// Fires the signal on the first SIGTERM or SIGINT. Needs a tokio
    /// runtime; a second signal is left to the default handling of the
    /// grace period (the daemon exits when it ends).
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let me = self.clone();
        tokio::spawn(async move {
            let which = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!(signal = which, "shutting down");
            me.trigger();
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_signal_once_fired() {
        let a = Shutdown::new();
        let b = a.clone();
        assert!(!b.is_triggered());
        let waiter = tokio::spawn(async move { b.wait().await });
        a.trigger();
        a.trigger();
        waiter.await.unwrap();
        // Waiting after the fact returns at once.
        a.wait().await;
        assert!(a.is_triggered());
    }
}
