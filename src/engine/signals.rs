//! Ctrl-C and SIGTERM become one cancellation token: the pool takes no new rows, finishes what is in flight and the
//! batch is left resumable. A second signal exits at once: rows caught in `sending` are reconciled on resume.

use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT or SIGTERM. Must be called inside a tokio runtime.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
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
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
                _ = token.cancelled() => return,
            }
            tracing::warn!("interrupted: finishing the requests in flight (again to stop at once)");
            token.cancel();
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            eprintln!("tpbulk: stopped at once; rows in flight are reconciled by `tpbulk resume`");
            std::process::exit(crate::error::Exit::Interrupted as i32);
        }
        #[cfg(not(unix))]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = token.cancelled() => return,
            }
            tracing::warn!("interrupted: finishing the requests in flight");
            token.cancel();
        }
    });
}
