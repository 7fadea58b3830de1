//! Ctrl-C and SIGTERM become cancellation: the first signal cancels the command's token (the pool takes no new rows
//! and finishes what is in flight; a command that does not drain stops where it is), a second one cancels `abort`,
//! which ends the command at once (rows caught in `sending` are reconciled on resume).

use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT or SIGTERM and `abort` on the second. Must be called inside a tokio runtime;
/// the listeners are registered before this returns, so a signal that comes right after is not missed.
pub fn cancel_on_signals(token: CancellationToken, abort: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot listen for signals; Ctrl-C will not stop cleanly");
            return;
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            token.cancel();
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            abort.cancel();
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            token.cancel();
            let _ = tokio::signal::ctrl_c().await;
            abort.cancel();
        });
    }
}
