//! The import engine: runs a journalled batch against the platform with a bounded worker pool, retries, outcome
//! reconciliation, progress and cancellation.
//!
//! - [`batch`]: the whole of `import` (and of `delete`, a file's deletions) and `resume` (open, prepare, journal,
//!   learn what exists, ask before deleting, run, summarise), and the run of any journalled batch, a rollback's
//!   deletions included.
//! - [`plan_file`]: the file `plan --save` writes and `import --plan` updates from (what the plan read).
//! - [`pool`]: the workers and the fate of one operation (create, delete, update or tag).
//! - [`reconcile`]: what happened to an operation whose answer was lost.
//! - [`retry`]: what an error means for a row, and the backoff.
//! - [`progress`]: the bar or the periodic line.
//! - [`signals`]: Ctrl-C / SIGTERM → a cancellation token.
//!
//! The pool talks to the platform and the journal through two small traits, [`Platform`] and [`RowLog`], so that
//! its rules are tested without a network or a disk.

pub mod batch;
pub mod plan_file;
pub mod pool;
pub mod progress;
pub mod reconcile;
pub mod retry;
pub mod signals;

use crate::device::{Kind, LookupKeys};
use crate::journal::{Action, Outcome, RowRecord, RowState, Writer};
use crate::platform::update::Change;
use crate::platform::{ApiError, Client, DeviceInfo, TagCall, WireRequest};
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
    /// One deletion attempt that [`Platform::pace`] has already paid for: `false` when the platform no longer had
    /// the device.
    fn delete_device(&self, reference: &str)
    -> impl Future<Output = Result<bool, ApiError>> + Send;
    /// One tag call that [`Platform::pace`] has already paid for.
    fn tag_devices(&self, call: &TagCall) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// `GET /devices/<reference>` with what an update compares (`DeviceInfo::state`), retried by the client.
    fn read_device(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<DeviceInfo>, ApiError>> + Send;
    /// One update attempt that [`Platform::pace`] has already paid for: `false` when the platform no longer had
    /// the device; [`ApiError::Conflict`] when its version is not `version` any more (never with `force`).
    fn update_device(
        &self,
        change: &Change,
        version: Option<u64>,
        force: bool,
    ) -> impl Future<Output = Result<bool, ApiError>> + Send;
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
    fn delete_device(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<bool, ApiError>> + Send {
        Client::delete_device_paced(self, reference, true)
    }
    fn tag_devices(&self, call: &TagCall) -> impl Future<Output = Result<(), ApiError>> + Send {
        Client::tag_devices_paced(self, call, true)
    }
    fn read_device(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<DeviceInfo>, ApiError>> + Send {
        Client::device(self, reference)
    }
    fn update_device(
        &self,
        change: &Change,
        version: Option<u64>,
        force: bool,
    ) -> impl Future<Output = Result<bool, ApiError>> + Send {
        Client::update_device_paced(self, change, version, force, true)
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

/// What one operation sends. `None` when the journal lost what the request needs (the row then fails).
#[derive(Debug, Clone)]
pub enum Operation {
    Create(Option<WireRequest>),
    /// The reference `DELETE /devices/<ref>` takes.
    Delete(Option<String>),
    /// `POST /devices/tags` for a page of the import's devices.
    Tag(Option<TagCall>),
    /// An update, or a rollback's restore (`Change::read_first`).
    Update(Option<Change>),
}

/// One operation for the pool.
#[derive(Debug, Clone)]
pub struct WorkItem {
    pub row: u64,
    pub action: Action,
    pub kind: Option<Kind>,
    pub operation: Operation,
    /// What the platform knows the device by (reconciliation looks it up by these).
    pub keys: LookupKeys,
    /// An earlier attempt may have reached the platform (the row was found in `sending`).
    pub unknown: bool,
}

impl WorkItem {
    /// From a journalled `pending` or `sending` row.
    pub fn from_record(record: RowRecord) -> WorkItem {
        let operation = match record.action {
            Action::Create => Operation::Create(
                record
                    .request
                    .as_deref()
                    .and_then(WireRequest::from_journal),
            ),
            Action::Delete => Operation::Delete(delete_reference(
                record.device_uid.as_deref(),
                record.device_eui.as_deref().or(record.keys.eui.as_deref()),
            )),
            // Without `devEUIs` the call was never resolved (`Journal::resolve_tag_calls`): nothing to send.
            Action::Tag => Operation::Tag(parsed(&record.request)),
            Action::Update | Action::Restore => Operation::Update(parsed(&record.request)),
        };
        WorkItem {
            row: record.row,
            action: record.action,
            kind: record.kind,
            operation,
            keys: record.keys,
            unknown: record.state == RowState::Sending,
        }
    }
}

/// A journalled request as its type; `None` when it is not there or does not read as one.
pub(crate) fn parsed<T: serde::de::DeserializeOwned>(request: &Option<String>) -> Option<T> {
    serde_json::from_str(request.as_deref()?).ok()
}

/// The reference `DELETE /devices/<ref>` takes: the uid when journalled, else `e<EUI>`.
pub fn delete_reference(uid: Option<&str>, eui: Option<&str>) -> Option<String> {
    uid.map(str::to_string)
        .or_else(|| eui.map(|e| format!("e{}", e.to_ascii_uppercase())))
}

/// Rows finished in this run, by state; shared by the workers and the progress display.
#[derive(Debug, Default)]
pub struct Counters {
    /// `done` creations.
    pub done: AtomicU64,
    /// `done` deletions (a rollback's, `tpbulk delete`'s, an import's `DELETE` rows).
    pub deleted: AtomicU64,
    /// Updates of an import, restores of a rollback.
    pub updated: AtomicU64,
    pub unchanged: AtomicU64,
    pub conflict: AtomicU64,
    pub exists: AtomicU64,
    pub gone: AtomicU64,
    pub failed: AtomicU64,
    /// Cellular rows created without the platform's reference (their answer was lost and the duplicate answer
    /// settled them): the batch lists the platform's devices once at the end to find it.
    pub unreferenced: AtomicU64,
    /// Creation requests sent again for a row already sent once in this run.
    pub retries: AtomicU64,
}

impl Counters {
    pub fn record(&self, action: Action, state: RowState) {
        let counter = match state {
            RowState::Done => match action {
                // A tag call done counts where the progress of a batch of tag calls reads it.
                Action::Create | Action::Tag => &self.done,
                Action::Delete => &self.deleted,
                Action::Update | Action::Restore => &self.updated,
            },
            RowState::Unchanged => &self.unchanged,
            RowState::Conflict => &self.conflict,
            RowState::Exists => &self.exists,
            RowState::Gone => &self.gone,
            RowState::Failed => &self.failed,
            RowState::Pending | RowState::Sending | RowState::Invalid => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
