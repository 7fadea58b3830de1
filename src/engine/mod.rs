//! The import engine: runs a journalled batch against the platform with a bounded worker pool, retries, outcome
//! reconciliation, progress and cancellation.
//!
//! - [`batch`]: the whole of `import` and `resume` (open, prepare, journal, learn what exists, run, summarise).
//! - [`pool`]: the workers and the fate of one row.
//! - [`retry`]: what an error means for a row, and the backoff.
//! - [`progress`]: the bar or the periodic line.
//! - [`signals`]: Ctrl-C / SIGTERM → a cancellation token.
//!
//! The pool talks to the platform and the journal through two small traits, [`Platform`] and [`RowLog`], so that
//! its rules are tested without a network or a disk.

pub mod batch;
pub mod pool;
pub mod progress;
pub mod retry;
pub mod signals;

use crate::device::Kind;
use crate::journal::{Outcome, RowRecord, RowState, Writer};
use crate::platform::{ApiError, Client, DeviceInfo, WireRequest};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// The platform calls the pool makes.
pub trait Platform: Clone + Send + Sync + 'static {
    /// Waits for the shared pacing (pool-wide pause, then a rate permit) for the next creation. The pool waits here
    /// before it journals `sending`, so that a row waiting for its turn is never `sending`.
    fn pace(&self) -> impl Future<Output = ()> + Send;
    /// One creation attempt that [`Platform::pace`] has already paid for.
    fn create_device(
        &self,
        request: &WireRequest,
    ) -> impl Future<Output = Result<DeviceInfo, ApiError>> + Send;
    fn device_by_eui(
        &self,
        eui: &str,
    ) -> impl Future<Output = Result<Option<DeviceInfo>, ApiError>> + Send;
}

impl Platform for Client {
    fn pace(&self) -> impl Future<Output = ()> + Send {
        let pacing = self.pacing().clone();
        async move { pacing.wait().await }
    }
    fn create_device(
        &self,
        request: &WireRequest,
    ) -> impl Future<Output = Result<DeviceInfo, ApiError>> + Send {
        Client::create_device_paced(self, request, true)
    }
    fn device_by_eui(
        &self,
        eui: &str,
    ) -> impl Future<Output = Result<Option<DeviceInfo>, ApiError>> + Send {
        Client::device_by_eui(self, eui)
    }
}

/// What the pool writes to the journal.
pub trait RowLog: Send + Sync + 'static {
    /// Returns once the journal holds, committed, that the row may be sent (its sending window).
    fn sending(&self, row: u64) -> impl Future<Output = anyhow::Result<()>> + Send;
    fn outcome(&self, outcome: Outcome) -> anyhow::Result<()>;
}

impl RowLog for Writer {
    fn sending(&self, row: u64) -> impl Future<Output = anyhow::Result<()>> + Send {
        Writer::sending(self, row)
    }
    fn outcome(&self, outcome: Outcome) -> anyhow::Result<()> {
        Writer::outcome(self, outcome)
    }
}

/// One row for the pool.
#[derive(Debug, Clone)]
pub struct WorkItem {
    pub row: u64,
    pub kind: Option<Kind>,
    pub id: Option<String>,
    /// None when the journal lost it (the row then fails).
    pub request: Option<WireRequest>,
    /// An earlier attempt may have reached the platform (the row was found in `sending`).
    pub unknown: bool,
}

impl WorkItem {
    /// From a journalled `pending` or `sending` row.
    pub fn from_record(record: RowRecord) -> WorkItem {
        let request = record
            .request
            .as_deref()
            .and_then(WireRequest::from_journal);
        WorkItem {
            row: record.row,
            kind: record.kind,
            id: record.id,
            request,
            unknown: record.state == RowState::Sending,
        }
    }

    /// The DevEUI the device is known by before it is created (LoRaWAN); cellular devices get theirs from the
    /// platform.
    pub fn eui(&self) -> Option<String> {
        let from_body = self.request.as_ref().and_then(|r| r.eui.clone());
        from_body.or_else(|| match self.kind {
            Some(Kind::Otaa | Kind::Abp | Kind::Multicast) => self.id.clone(),
            _ => None,
        })
    }
}

/// Rows finished in this run, by state; shared by the workers and the progress display.
#[derive(Debug, Default)]
pub struct Counters {
    pub created: AtomicU64,
    pub exists: AtomicU64,
    pub failed: AtomicU64,
    /// Cellular rows created without the platform's reference (their answer was lost and the duplicate answer
    /// settled them): the batch lists the platform's devices once at the end to find it.
    pub unreferenced: AtomicU64,
    /// Creation requests sent again for a row already sent once in this run.
    pub retries: AtomicU64,
}

impl Counters {
    pub fn record(&self, state: RowState) {
        let counter = match state {
            RowState::Created => &self.created,
            RowState::Exists => &self.exists,
            RowState::Failed => &self.failed,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;

/// Runs an async command on a fresh runtime with Ctrl-C / SIGTERM wired to the token it is given.
pub fn block_on<F, Fut, T>(body: F) -> anyhow::Result<T>
where
    F: FnOnce(tokio_util::sync::CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let cancel = tokio_util::sync::CancellationToken::new();
        signals::cancel_on_signals(cancel.clone());
        body(cancel).await
    })
}
