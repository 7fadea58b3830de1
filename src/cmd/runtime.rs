//! The one async runtime of a command and its cancellation: made by `cmd::run`, handed to the command, and the only
//! place a tokio runtime is built or a signal is listened for. Built on first use, so that the commands that never
//! go async (`validate`, `status`, `report` …) keep the default Ctrl-C, which ends them at once.

use crate::engine::signals;
use crate::error::Interrupted;
use crate::logging::{Display, Screen};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the end of a command waits for blocking work still running on the runtime (a stopped-at-once import's
/// row checks) before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

pub struct Runtime {
    tokio: OnceLock<tokio::runtime::Runtime>,
    /// The stderr that log lines and progress share.
    screen: Screen,
    /// Cancelled by the first Ctrl-C or SIGTERM.
    cancel: CancellationToken,
    /// Cancelled by the second.
    abort: CancellationToken,
}

impl Runtime {
    pub fn new(screen: Screen) -> Runtime {
        Runtime {
            tokio: OnceLock::new(),
            screen,
            cancel: CancellationToken::new(),
            abort: CancellationToken::new(),
        }
    }

    /// How the command shows progress: on the screen of the log lines, or not at all with `quiet`.
    pub fn display(&self, quiet: bool) -> Display {
        Display {
            quiet,
            screen: self.screen.clone(),
        }
    }

    fn tokio(&self) -> anyhow::Result<&tokio::runtime::Runtime> {
        if let Some(runtime) = self.tokio.get() {
            return Ok(runtime);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
        runtime.block_on(async {
            signals::cancel_on_signals(self.cancel.clone(), self.abort.clone())
        });
        Ok(self.tokio.get_or_init(|| runtime))
    }

    /// Runs `body`, which watches the token it is given. With `again` it drains on the first signal (an import, a
    /// resume, a rollback's deletions), which is said on stderr, and a second signal ends the command at once: exit
    /// 130 with "stopped at once; `again`". Without, the body stops on the first signal by itself (the simulator).
    pub fn block_on<F, Fut, T>(&self, again: Option<&str>, body: F) -> anyhow::Result<T>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let runtime = self.tokio()?;
        let (cancel, abort) = (self.cancel.clone(), self.abort.clone());
        let draining = cancel.clone();
        runtime.block_on(async move {
            let warn = async {
                draining.cancelled().await;
                if again.is_some() {
                    tracing::warn!("interrupted: finishing the requests in flight (again to stop at once)");
                }
                std::future::pending::<()>().await
            };
            let again = again.unwrap_or("nothing was left to finish");
            tokio::select! {
                biased;
                _ = abort.cancelled() => Err(Interrupted(format!("stopped at once; {again}")).into()),
                result = body(cancel) => result,
                _ = warn => unreachable!("the warning never ends"),
            }
        })
    }

    /// Runs `body`, which does not watch the token (reads, listings, look-ups): the first signal ends it where it
    /// is, as exit 130 with the line `interrupted {done}` — what was done and what to do now.
    pub fn until_cancelled<Fut, T>(&self, done: &str, body: Fut) -> anyhow::Result<T>
    where
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let runtime = self.tokio()?;
        let cancel = self.cancel.clone();
        runtime.block_on(async move {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(Interrupted(format!("interrupted {done}")).into()),
                result = body => result,
            }
        })
    }

    /// A token the command may watch between steps (the first signal cancels it).
    pub fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.tokio.take() {
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        }
    }
}
