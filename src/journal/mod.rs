//! The SQLite journal: every batch and every row's fate. Forward-only migrations on `user_version`; WAL,
//! `synchronous=NORMAL` and `busy_timeout` set outside migrations; the file is created mode 0600. During a run one
//! writer thread ([`Writer`]) owns the connection and commits in small groups; `sending` is committed before the
//! caller is told to send.
//!
//! Public contract used by `engine`, `cmd` and `report` (keep these names and meanings):
//! `Journal`, `RowState`, `BatchState`, `NewBatch`, `NewRow`, `BatchInfo`, `RowRecord`, `Counts`, `Writer`,
//! `Outcome`.

use crate::device::{Kind, RowError};
use crate::input::{Column, SourceFormat};
use std::path::Path;

/// A row's state. `invalid` rows never leave the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowState {
    Pending,
    Sending,
    Created,
    Exists,
    Failed,
    Invalid,
}

impl RowState {
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::Sending => "sending",
            RowState::Created => "created",
            RowState::Exists => "exists",
            RowState::Failed => "failed",
            RowState::Invalid => "invalid",
        }
    }
    /// Created, exists, failed and invalid are final.
    pub fn is_final(self) -> bool {
        !matches!(self, RowState::Pending | RowState::Sending)
    }
}

/// A batch's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchState {
    Running,
    Interrupted,
    Done,
}

/// What a new batch records about itself. Resuming needs nothing else.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub name: Option<String>,
    pub input_path: String,
    pub input_sha256: String,
    pub format: SourceFormat,
    pub columns: Vec<Column>,
    /// Run options (rate, concurrency, on_existing, max_errors, platform url and client id — never a secret).
    pub options: serde_json::Value,
}

/// One input row as first journalled.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub row: u64,
    pub kind: Option<Kind>,
    pub id: Option<String>,
    pub name: Option<String>,
    /// `pending`, `invalid`, or `exists`/`failed` when known before the first send.
    pub state: RowState,
    /// The creation request (`platform::CreateRequest` as JSON, clear keys) for rows still to send.
    pub request: Option<String>,
    /// The row's check or resolution errors (invalid rows).
    pub errors: Vec<RowError>,
    /// For `exists` rows known up front: the platform's device.
    pub device_href: Option<String>,
    pub device_eui: Option<String>,
}

/// A batch as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchInfo {
    pub id: String,
    pub name: Option<String>,
    pub input_path: String,
    pub input_sha256: String,
    pub format: SourceFormat,
    pub columns: Vec<Column>,
    pub options: serde_json::Value,
    pub state: BatchState,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

/// A row as stored. `request` is gone once the row is final.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RowRecord {
    pub row: u64,
    pub kind: Option<Kind>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub state: RowState,
    pub request: Option<String>,
    pub errors: Vec<RowError>,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    pub device_href: Option<String>,
    pub device_uid: Option<String>,
    pub device_eui: Option<String>,
    pub attempts: u32,
    pub finished_at: Option<String>,
}

/// Rows per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub total: u64,
    pub created: u64,
    pub exists: u64,
    pub invalid: u64,
    pub failed: u64,
    /// Not yet final (`pending` and `sending`).
    pub pending: u64,
}

/// The final (or failed) outcome of one row, as the engine reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub row: u64,
    pub state: RowState,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    pub device_href: Option<String>,
    pub device_uid: Option<String>,
    pub device_eui: Option<String>,
}

/// A journal file.
pub struct Journal {
    _private: (),
}

impl Journal {
    /// Opens or creates the journal (mode 0600) and migrates it forward.
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        let _ = path;
        todo!("issue 5: journal")
    }
    /// Creates a batch and returns its id.
    pub fn create_batch(&mut self, batch: &NewBatch) -> anyhow::Result<String> {
        let _ = batch;
        todo!("issue 5: journal")
    }
    /// Adds rows to a batch in large transactions.
    pub fn insert_rows(
        &mut self,
        batch: &str,
        rows: impl IntoIterator<Item = NewRow>,
    ) -> anyhow::Result<()> {
        let _ = (batch, rows.into_iter());
        todo!("issue 5: journal")
    }
    pub fn batch(&self, id: &str) -> anyhow::Result<Option<BatchInfo>> {
        let _ = id;
        todo!("issue 5: journal")
    }
    /// Every batch, newest first.
    pub fn batches(&self) -> anyhow::Result<Vec<BatchInfo>> {
        todo!("issue 5: journal")
    }
    pub fn set_batch_state(&mut self, id: &str, state: BatchState) -> anyhow::Result<()> {
        let _ = (id, state);
        todo!("issue 5: journal")
    }
    pub fn counts(&self, batch: &str) -> anyhow::Result<Counts> {
        let _ = batch;
        todo!("issue 5: journal")
    }
    /// Calls `each` for the batch's rows in row order, optionally only those in `states`. Streams: never loads a
    /// million rows at once.
    pub fn for_each_row(
        &self,
        batch: &str,
        states: Option<&[RowState]>,
        each: impl FnMut(RowRecord) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let _ = (batch, states, each);
        todo!("issue 5: journal")
    }
    /// Hands the connection to a writer thread for a run.
    pub fn into_writer(self, batch: &str) -> Writer {
        let _ = batch;
        todo!("issue 5: journal writer")
    }
}

/// The single writer of a run: a thread that owns the connection and commits in small groups.
pub struct Writer {
    _private: (),
}

impl Writer {
    /// Marks a row `sending` (attempt + 1) and returns once that is committed: only then may its request leave.
    pub async fn sending(&self, row: u64) -> anyhow::Result<()> {
        let _ = row;
        todo!("issue 5: journal writer")
    }
    /// Records a row's outcome (committed with the next group); final states drop the stored request.
    pub fn outcome(&self, outcome: Outcome) -> anyhow::Result<()> {
        let _ = outcome;
        todo!("issue 5: journal writer")
    }
    /// Commits everything, stops the thread and gives the journal back.
    pub async fn finish(self) -> anyhow::Result<Journal> {
        todo!("issue 5: journal writer")
    }
}
