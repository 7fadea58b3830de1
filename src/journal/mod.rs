//! The SQLite journal: every batch and every row's fate. Forward-only migrations on `user_version`; WAL,
//! `synchronous=NORMAL` and `busy_timeout` set outside migrations; the file is created mode 0600. During a run one
//! writer thread ([`Writer`]) owns the connection and commits in small groups; that a row may be sent is committed
//! (as the run's sending window) before the caller is told to send, and opening a journal settles the window of a
//! run that was killed (see [`Journal::open`]).
//!
//! Every row is an operation of its batch: its row number, kind, [`Action`] (`create`, `delete`, `update`, `restore`, `tag`: each row its own, so a
//! ThingPark file's `CREATE` and `DELETE` rows are one batch) and one state machine ([`RowState`]), with the keys the platform knows its device by (EUI, IMEI, SIM) in
//! columns of their own. A rollback is a batch of `delete` operations that `undoes` its import
//! ([`Journal::prepare_rollback`]); an import's tag calls are a batch of `tag` operations beside it, `{import}.tags`
//! ([`Journal::insert_tag_calls`]). Listings show imports only, and reach the others through their import. Only this
//! module opens SQLite connections, and every table comes from its migrations.
//!
//! Public contract used by `engine`, `cmd` and `report` (keep these names and meanings):
//! `Journal`, `Action`, `RowState`, `BatchState`, `NewBatch`, `NewRow`, `NewTagCall`, `BatchInfo`, `RowRecord`,
//! `Counts`, `Writer`, `Outcome`, `UndoneCursor`.

mod schema;
mod writer;

pub use writer::{MAX_QUEUED, WINDOW, Writer};

use crate::device::{Kind, LookupKeys, RowError};
use crate::error::UsageError;
use crate::input::{Column, Field, SourceFormat};
use anyhow::Context;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// What an operation does to its device. A new action is a variant here, its request in the engine's pool, and
/// nothing else: rows, states, the writer and the reports are the same for every action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// An import's row: create the device.
    Create,
    /// Delete the device: a rollback's row, a row of `tpbulk delete`, a `DELETE` row of an import.
    Delete,
    /// An import's row whose device exists (`--on-existing update`): write the fields that differ.
    Update,
    /// A rollback's row: put back the values an update wrote over, if the device still has what it wrote.
    Restore,
    /// A tag call of an import (`{import}.tags`) or a rollback: one tag on or off for a page of the devices it made,
    /// updated or restored.
    Tag,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Create,
        Action::Delete,
        Action::Update,
        Action::Restore,
        Action::Tag,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Delete => "delete",
            Action::Update => "update",
            Action::Restore => "restore",
            Action::Tag => "tag",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// How `done` reads for this action in reports and summaries.
    pub fn done_word(self) -> &'static str {
        match self {
            Action::Create => "created",
            Action::Delete => "deleted",
            Action::Update => "updated",
            Action::Restore => "restored",
            Action::Tag => "tagged",
        }
    }
}

/// An operation's state: `pending` → `sending` → `done` | `exists` | `unchanged` | `conflict` | `gone` | `failed`;
/// `invalid` rows never leave the machine. `exists` is a creation whose device was already there, `gone` a deletion
/// (or an update) whose device already was not, `unchanged` an update whose device already had every value,
/// `conflict` an update the platform refused because the device changed since it was read (never overwritten).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowState {
    Pending,
    Sending,
    Done,
    Exists,
    Unchanged,
    Conflict,
    Gone,
    Failed,
    Invalid,
}

impl RowState {
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::Sending => "sending",
            RowState::Done => "done",
            RowState::Exists => "exists",
            RowState::Unchanged => "unchanged",
            RowState::Conflict => "conflict",
            RowState::Gone => "gone",
            RowState::Failed => "failed",
            RowState::Invalid => "invalid",
        }
    }
    /// The state as reports print it: `done` reads as the action's word (`created`, `deleted`).
    pub fn label(self, action: Action) -> &'static str {
        match self {
            RowState::Done => action.done_word(),
            other => other.as_str(),
        }
    }
    /// Everything but `pending` and `sending` is final.
    pub fn is_final(self) -> bool {
        !matches!(self, RowState::Pending | RowState::Sending)
    }
    /// Every state, in the order of a row's life.
    pub const ALL: [RowState; 9] = [
        RowState::Pending,
        RowState::Sending,
        RowState::Done,
        RowState::Exists,
        RowState::Unchanged,
        RowState::Conflict,
        RowState::Gone,
        RowState::Failed,
        RowState::Invalid,
    ];
    pub fn parse(text: &str) -> Option<RowState> {
        RowState::ALL.into_iter().find(|s| s.as_str() == text)
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

impl BatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchState::Running => "running",
            BatchState::Interrupted => "interrupted",
            BatchState::Done => "done",
        }
    }
    pub fn parse(text: &str) -> Option<BatchState> {
        [
            BatchState::Running,
            BatchState::Interrupted,
            BatchState::Done,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// What a new batch records about itself. Resuming needs nothing else.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub name: Option<String>,
    pub input_path: String,
    pub input_sha256: String,
    pub format: SourceFormat,
    pub columns: Vec<Column>,
    /// `--columns`: the file had no header row and was read with these fields in column order (`None` skips one).
    pub input_columns: Option<Vec<Option<Field>>>,
    /// Run options (rate, concurrency, on_existing, max_errors, platform url and client id — never a secret).
    pub options: serde_json::Value,
    /// The config file's profile the batch was imported with, which `resume` takes its credentials from.
    pub profile: Option<String>,
}

/// One input row as first journalled.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub row: u64,
    /// `create`, or `update` for a row whose device exists (`--on-existing update`).
    pub action: Action,
    pub kind: Option<Kind>,
    pub id: Option<String>,
    pub name: Option<String>,
    /// `pending`, `invalid`, or `exists`/`failed` when known before the first send.
    pub state: RowState,
    /// The creation request (`platform::CreateRequest` as JSON, clear keys) for rows still to send.
    pub request: Option<String>,
    /// The row's check or resolution errors (invalid rows).
    pub errors: Vec<RowError>,
    /// For `exists` rows known up front, and deletions: the platform's device.
    pub device_href: Option<String>,
    pub device_uid: Option<String>,
    pub device_eui: Option<String>,
    /// What the platform knows the device by (its own columns, for reconciliation).
    pub keys: LookupKeys,
    /// For an update: the values it changes, before and after ([`Previous`] as JSON), kept once the row is final
    /// so that a rollback can put them back.
    pub previous: Option<String>,
    /// Why a row final before the first send is so (a `conflict` found against `import --plan`'s plan).
    pub message: Option<String>,
}

/// What an update changed: the fields' values before (what a rollback restores) and the ones it wrote (what the
/// device must still hold for the rollback to restore). Never key material.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Previous {
    pub before: crate::platform::update::Values,
    pub after: crate::platform::update::Values,
}

/// One tag call as first journalled: its tag, whether it takes the tag off, the rows whose devices it is for (at
/// most a page of them), and the action those rows must have ended `done` by for their device to be in the call:
/// `create` (tags of a new device), `update` (an update's tag difference), `restore` (a rollback's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTagCall {
    pub tag: String,
    pub untag: bool,
    pub rows: Vec<u64>,
    pub of: Action,
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
    /// The `--columns` the file was read with, if it had no header row.
    pub input_columns: Option<Vec<Option<Field>>>,
    pub options: serde_json::Value,
    pub state: BatchState,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
    /// The process that marked the batch `running` (None once it stopped).
    pub runner_pid: Option<u32>,
    /// What the batch's operations do.
    pub action: Action,
    /// For a rollback: the import it undoes.
    pub undoes: Option<String>,
    /// The profile the batch was imported with, if any.
    pub profile: Option<String>,
}

impl BatchInfo {
    /// The state as a person should read it: a batch still marked `running` whose process is gone (killed,
    /// crashed, the machine rebooted) is `interrupted`, and `tpbulk resume` continues it.
    pub fn effective_state(&self) -> BatchState {
        match (self.state, self.runner_pid) {
            (BatchState::Running, Some(pid)) if !process_alive(pid) => BatchState::Interrupted,
            (BatchState::Running, None) => BatchState::Interrupted,
            (state, _) => state,
        }
    }

    /// The process running the batch, when it is another one, alive: two runs of a batch would both send.
    pub fn running_elsewhere(&self) -> Option<u32> {
        self.runner_pid.filter(|&pid| {
            pid != std::process::id() && self.effective_state() == BatchState::Running
        })
    }
}

/// True when a process with this id exists (it may belong to another user: that still counts).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // Signal 0 checks existence and permission without sending anything.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// A row as stored. `request` is gone once the row is final.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RowRecord {
    pub row: u64,
    pub action: Action,
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
    #[serde(skip)]
    pub keys: LookupKeys,
    pub attempts: u32,
    pub finished_at: Option<String>,
    /// An update's values before and after ([`Previous`] as JSON).
    pub previous: Option<String>,
}

/// Rows per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub total: u64,
    /// `done` `create` operations: devices created.
    pub created: u64,
    /// `done` `delete` operations: devices deleted (by a rollback, `tpbulk delete`, or a file's `DELETE` rows).
    pub deleted: u64,
    /// `done` updates of an import and restores of a rollback.
    pub updated: u64,
    pub exists: u64,
    pub unchanged: u64,
    pub conflict: u64,
    /// Deletions whose device was already gone.
    pub gone: u64,
    pub invalid: u64,
    pub failed: u64,
    /// Not yet final (`pending` and `sending`).
    pub pending: u64,
}

/// The final (or failed) outcome of one row, as the engine reports it; `sending` for a row left unknown by a
/// stopping run.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub row: u64,
    pub state: RowState,
    /// Requests sent for the row since its last outcome: added to the row's attempts.
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    pub device_href: Option<String>,
    pub device_uid: Option<String>,
    pub device_eui: Option<String>,
}

impl Outcome {
    /// `row` now in `state`, with nothing else known (no answer, no device).
    pub fn new(row: u64, state: RowState) -> Outcome {
        Outcome {
            row,
            state,
            attempts: 0,
            http_status: None,
            error_code: None,
            message: None,
            device_href: None,
            device_uid: None,
            device_eui: None,
        }
    }
}

/// Rows per transaction when inserting: large enough that a million rows take seconds, small enough to bound the
/// WAL.
const INSERT_CHUNK: usize = 10_000;

/// Rows per read when streaming a batch.
const PAGE: usize = 1_000;

const ROW_COLUMNS: &str = "row, kind, id, name, state, request, errors, http_status, error_code, message, \
     device_href, device_uid, device_eui, attempts, finished_at, action, key_eui, key_imei, key_sim, previous";

const BATCH_COLUMNS: &str = "id, name, input_path, input_sha256, format, columns, options, state, created_at, \
     updated_at, runner_pid, profile, action, undoes, input_columns";

/// A journal file.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

/// Now, as the journal writes times: RFC 3339, UTC, milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Journal {
    /// Opens or creates the journal (mode 0600), migrates it forward, and settles the sending window of any batch
    /// whose run is gone (killed without a word): its rows still `pending` within the window may have been sent, so
    /// they become `sending`, and `resume` reconciles them before anything is sent again.
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        create_private(path)?;
        Journal::open_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    /// Opens a journal that must already exist (read commands never create an empty one). A missing file is a
    /// [`UsageError`] (exit 2).
    pub fn open_existing(path: &Path) -> anyhow::Result<Journal> {
        if !path.is_file() {
            return Err(UsageError(format!(
                "{}: no such journal (import a file first, or point --journal / TPBULK_JOURNAL at one)",
                path.display()
            ))
            .into());
        }
        Journal::open_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    fn open_flags(path: &Path, flags: OpenFlags) -> anyhow::Result<Journal> {
        let flags = flags | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let mut conn = Connection::open_with_flags(path, flags)
            .with_context(|| format!("{}: cannot open the journal", path.display()))?;
        schema::set_pragmas(&conn)
            .with_context(|| format!("{}: not a usable SQLite journal", path.display()))?;
        match schema::migrate(&mut conn)
            .with_context(|| format!("{}: cannot migrate the journal", path.display()))?
        {
            schema::MigrateOutcome::AtVersion => {}
            schema::MigrateOutcome::Newer(version) => {
                return Err(UsageError(format!(
                    "{}: journal schema version {version} was written by a newer tpbulk (this one knows {})",
                    path.display(),
                    schema::VERSION
                ))
                .into());
            }
        }
        restrict_permissions(path);
        let mut journal = Journal {
            conn,
            path: path.to_path_buf(),
        };
        journal
            .settle_windows()
            .with_context(|| format!("{}: cannot settle an interrupted run", path.display()))?;
        Ok(journal)
    }

    /// Settles the sending window left by every run that is gone (see [`Journal::open`]). A run that is alive keeps
    /// its window; two processes settling at once settle it once.
    fn settle_windows(&mut self) -> rusqlite::Result<()> {
        let left: Vec<(String, Option<u32>, i64)> = {
            let mut stmt = self.conn.prepare(
                "SELECT id, runner_pid, sending_through FROM batches WHERE sending_through IS NOT NULL",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        for (id, runner, through) in left {
            if runner.is_some_and(process_alive) {
                continue;
            }
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Taken only if nobody settled or restarted the batch since it was read.
            let taken = tx.execute(
                "UPDATE batches SET sending_through = NULL \
                 WHERE id = ?1 AND sending_through = ?2 AND runner_pid IS ?3",
                params![id, through, runner],
            )?;
            if taken == 1 {
                let settled = tx.execute(
                    "UPDATE rows SET state = 'sending', updated_at = ?3 \
                     WHERE batch = ?1 AND state = 'pending' AND row <= ?2",
                    params![id, through, now()],
                )?;
                tracing::info!(batch = %id, rows = settled, "a killed run's rows in flight are now unknown");
            }
            tx.commit()?;
        }
        Ok(())
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A second connection to the same file, e.g. to stream rows while a [`Writer`] owns this one (WAL lets a
    /// reader see every committed group).
    pub fn reader(&self) -> anyhow::Result<Journal> {
        Journal::open_existing(&self.path)
    }

    /// Creates a batch of `create` operations (an import) and returns its id.
    pub fn create_batch(&mut self, batch: &NewBatch) -> anyhow::Result<String> {
        self.create_batch_of(batch, Action::Create)
    }

    /// Creates a batch whose operations are `action` (an import: `create`, though a ThingPark file's `DELETE` rows
    /// make `delete` operations in it too; `tpbulk delete`: `delete`) and returns its id.
    pub fn create_batch_of(&mut self, batch: &NewBatch, action: Action) -> anyhow::Result<String> {
        let format = serde_json::to_string(&batch.format)?;
        let columns = serde_json::to_string(&batch.columns)?;
        let input_columns = batch
            .input_columns
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        let options = serde_json::to_string(&batch.options)?;
        let at = now();
        let mut last_err = None;
        // The id is short enough to type; the random suffix makes a clash unlikely and the retry makes it harmless.
        for _ in 0..8 {
            let id = new_batch_id();
            let inserted = self.conn.execute(
                "INSERT INTO batches (id, name, input_path, input_sha256, format, columns, options, state, \
                 created_at, updated_at, runner_pid, profile, input_columns, action) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12, ?13)",
                params![
                    id,
                    batch.name,
                    batch.input_path,
                    batch.input_sha256,
                    format,
                    columns,
                    options,
                    BatchState::Running.as_str(),
                    at,
                    std::process::id(),
                    batch.profile,
                    input_columns,
                    action.as_str()
                ],
            );
            match inserted {
                Ok(_) => return Ok(id),
                Err(err) => last_err = Some(err),
            }
        }
        Err(anyhow::Error::new(last_err.expect("at least one attempt"))
            .context(format!("{}: cannot create a batch", self.path.display())))
    }

    /// Adds rows to a batch in large transactions, each with its own action (a ThingPark file's `CREATE` and `DELETE`
    /// rows are one batch). Final rows never keep their request.
    pub fn insert_rows(
        &mut self,
        batch: &str,
        rows: impl IntoIterator<Item = NewRow>,
    ) -> anyhow::Result<()> {
        let at = now();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let tx = self.conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO rows (batch, row, kind, id, name, state, request, errors, device_href, \
                     device_eui, created_at, updated_at, finished_at, key_eui, key_imei, key_sim, action, \
                     device_uid, previous, message) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                )?;
                for row in rows.by_ref().take(INSERT_CHUNK) {
                    let is_final = row.state.is_final();
                    let errors = (!row.errors.is_empty())
                        .then(|| serde_json::to_string(&row.errors))
                        .transpose()?;
                    insert
                        .execute(params![
                            batch,
                            row.row as i64,
                            row.kind.map(Kind::as_str),
                            row.id,
                            row.name,
                            row.state.as_str(),
                            if is_final { None } else { row.request },
                            errors,
                            row.device_href,
                            row.device_eui,
                            at,
                            is_final.then_some(&at),
                            row.keys.eui,
                            row.keys.imei,
                            row.keys.sim,
                            row.action.as_str(),
                            row.device_uid,
                            row.previous,
                            row.message,
                        ])
                        .with_context(|| {
                            format!(
                                "{}: cannot journal row {} of batch {batch}",
                                self.path.display(),
                                row.row
                            )
                        })?;
                }
            }
            tx.commit()?;
        }
        Ok(())
    }

    pub fn batch(&self, id: &str) -> anyhow::Result<Option<BatchInfo>> {
        Ok(self.select_batches("WHERE id = ?1", [id])?.pop())
    }

    /// Every batch, newest first. A rollback and an import's tag calls are reached through the import, never
    /// listed (nor taken as "the latest batch").
    pub fn batches(&self) -> anyhow::Result<Vec<BatchInfo>> {
        self.select_batches("WHERE undoes IS NULL AND action <> 'tag'", [])
    }

    /// The newest batch, or the newest that is not `done` when `unfinished`.
    pub fn latest_batch(&self, unfinished: bool) -> anyhow::Result<Option<BatchInfo>> {
        let mut batches = self.batches()?.into_iter();
        Ok(batches.find(|b| !unfinished || b.state != BatchState::Done))
    }

    /// The batches `filter` (an SQL `WHERE`) selects, newest first.
    fn select_batches(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> anyhow::Result<Vec<BatchInfo>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches {filter} ORDER BY created_at DESC, rowid DESC"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params)?;
        let mut batches = Vec::new();
        while let Some(r) = rows.next()? {
            batches.push(read_batch(r)?);
        }
        Ok(batches)
    }

    /// The batch named on the command line, else the latest one; an unknown id or an empty journal is a
    /// [`UsageError`].
    pub fn resolve_batch(&self, id: Option<&str>) -> anyhow::Result<BatchInfo> {
        match id {
            Some(id) => self.batch(id)?.ok_or_else(|| {
                UsageError(format!(
                    "{}: no batch {id:?} (`tpbulk batches` lists them)",
                    self.path.display()
                ))
                .into()
            }),
            None => self.latest_batch(false)?.ok_or_else(|| {
                UsageError(format!(
                    "{}: the journal holds no batch yet",
                    self.path.display()
                ))
                .into()
            }),
        }
    }

    /// Removes a batch that sent nothing (a deletion the person answered no to, or stopped before its question):
    /// its rows and itself, as if it had never been journalled. Refused once any row was sent.
    pub fn discard_batch(&mut self, id: &str) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        let sent: i64 = tx.query_row(
            "SELECT count(*) FROM rows WHERE batch = ?1 AND (attempts > 0 OR state = 'sending')",
            [id],
            |r| r.get(0),
        )?;
        anyhow::ensure!(
            sent == 0,
            "{}: batch {id} has rows sent; it is kept",
            self.path.display()
        );
        tx.execute("DELETE FROM rows WHERE batch = ?1", [id])?;
        tx.execute("DELETE FROM batches WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Sets a batch's state; `running` records this process as the batch's runner, any other state clears it.
    pub fn set_batch_state(&mut self, id: &str, state: BatchState) -> anyhow::Result<()> {
        let runner = (state == BatchState::Running).then(std::process::id);
        let changed = self.conn.execute(
            "UPDATE batches SET state = ?2, updated_at = ?3, runner_pid = ?4 WHERE id = ?1",
            params![id, state.as_str(), now(), runner],
        )?;
        anyhow::ensure!(changed == 1, "{}: no batch {id:?}", self.path.display());
        Ok(())
    }

    /// Replaces a batch's recorded run options (e.g. a resume with another `--rate`).
    pub fn update_batch_options(
        &mut self,
        id: &str,
        options: &serde_json::Value,
    ) -> anyhow::Result<()> {
        let changed = self.conn.execute(
            "UPDATE batches SET options = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, serde_json::to_string(options)?, now()],
        )?;
        anyhow::ensure!(changed == 1, "{}: no batch {id:?}", self.path.display());
        Ok(())
    }

    /// Rows per state (and, for `done`, per action), from the `(batch, state, action)` index: no row is read.
    pub fn counts(&self, batch: &str) -> anyhow::Result<Counts> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, action, count(*) FROM rows WHERE batch = ?1 GROUP BY state, action",
        )?;
        let mut rows = stmt.query([batch])?;
        let mut counts = Counts::default();
        while let Some(r) = rows.next()? {
            let state: String = r.get(0)?;
            let action: String = r.get(1)?;
            let n = r.get::<_, i64>(2)? as u64;
            counts.total += n;
            let action = Action::parse(&action).with_context(|| {
                format!(
                    "{}: batch {batch} has rows of an unknown action {action:?}",
                    self.path.display()
                )
            })?;
            match RowState::parse(&state) {
                Some(RowState::Done) => match action {
                    // In a batch of tag calls (`{import}.tags`), the calls sent.
                    Action::Create | Action::Tag => counts.created += n,
                    Action::Delete => counts.deleted += n,
                    Action::Update | Action::Restore => counts.updated += n,
                },
                Some(RowState::Exists) => counts.exists += n,
                Some(RowState::Unchanged) => counts.unchanged += n,
                Some(RowState::Conflict) => counts.conflict += n,
                Some(RowState::Gone) => counts.gone += n,
                Some(RowState::Invalid) => counts.invalid += n,
                Some(RowState::Failed) => counts.failed += n,
                Some(RowState::Pending | RowState::Sending) => counts.pending += n,
                None => anyhow::bail!(
                    "{}: batch {batch} has rows in an unknown state {state:?}",
                    self.path.display()
                ),
            }
        }
        Ok(counts)
    }

    /// Rows of a batch in one state, from the index.
    pub fn count_state(&self, batch: &str, state: RowState) -> anyhow::Result<u64> {
        self.count_states(batch, &[state])
    }

    /// Calls `each` for the batch's rows in row order, optionally only those in `states`. Streams: never loads a
    /// million rows at once. Rows are read in pages, each its own short read, so a run's writer can checkpoint the
    /// WAL while this walks a large batch; rows that the writer moves meanwhile are seen once at most.
    pub fn for_each_row(
        &self,
        batch: &str,
        states: Option<&[RowState]>,
        mut each: impl FnMut(RowRecord) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if let Some(states) = states
            && self.count_states(batch, states)? == 0
        {
            // From the index: resuming a finished million-row batch costs nothing.
            return Ok(());
        }
        let mut after = 0;
        loop {
            let page = self.rows_after(batch, states, after, PAGE)?;
            let full = page.len() == PAGE;
            for record in page {
                after = record.row;
                each(record)?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Rows of a batch in any of `states`, from the index.
    pub fn count_states(&self, batch: &str, states: &[RowState]) -> anyhow::Result<u64> {
        self.count_where(batch, "", states)
    }

    /// Rows of a batch in one of `states` that update or restore (from the partial index of migration 7).
    pub fn count_updates(&self, batch: &str, states: &[RowState]) -> anyhow::Result<u64> {
        self.count_where(batch, " AND action IN ('update', 'restore')", states)
    }

    fn count_where(&self, batch: &str, and: &str, states: &[RowState]) -> anyhow::Result<u64> {
        let sql = format!(
            "SELECT count(*) FROM rows WHERE batch = ?1{and}{}",
            state_filter(Some(states), true)
        );
        let n: i64 = self.conn.query_row(&sql, [batch], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// At most `limit` rows after row `after` (0 for the first page), in row order, optionally only those in
    /// `states`: for a consumer that pulls pages rather than being called back.
    pub fn rows_after(
        &self,
        batch: &str,
        states: Option<&[RowState]>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<RowRecord>> {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM rows WHERE batch = ?1 AND row > ?2{} ORDER BY row LIMIT ?3",
            state_filter(states, false)
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![batch, after as i64, limit as i64])?;
        let mut out = Vec::with_capacity(limit.min(4096));
        while let Some(r) = rows.next()? {
            out.push(read_row(r)?);
        }
        Ok(out)
    }

    /// One row.
    pub fn row(&self, batch: &str, row: u64) -> anyhow::Result<Option<RowRecord>> {
        let sql = format!("SELECT {ROW_COLUMNS} FROM rows WHERE batch = ?1 AND row = ?2");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![batch, row as i64])?;
        rows.next()?.map(read_row).transpose()
    }

    /// Records outcomes outside a run (e.g. rows found on the platform before the first send, or rows reconciled
    /// on resume), all in one transaction. Final states drop the request.
    pub fn record_outcomes(
        &mut self,
        batch: &str,
        outcomes: impl IntoIterator<Item = Outcome>,
    ) -> anyhow::Result<()> {
        let at = now();
        let tx = self.conn.transaction()?;
        for outcome in outcomes {
            let changed = apply_outcome(&tx, batch, &outcome, &at)?;
            anyhow::ensure!(
                changed == 1,
                "{}: batch {batch} has no row {}",
                self.path.display(),
                outcome.row
            );
        }
        tx.commit()?;
        Ok(())
    }

    /// Moves one row to `state` (e.g. `sending` back to `pending` once the platform showed the request never
    /// arrived). `sending` counts an attempt; a final state drops the request.
    pub fn set_row_state(&mut self, batch: &str, row: u64, state: RowState) -> anyhow::Result<()> {
        let at = now();
        let changed = self.conn.execute(
            "UPDATE rows SET state = ?3, updated_at = ?4, \
             attempts = attempts + (?3 = 'sending'), \
             request = CASE WHEN ?5 THEN NULL ELSE request END, \
             finished_at = CASE WHEN ?5 THEN ?4 ELSE NULL END \
             WHERE batch = ?1 AND row = ?2",
            params![batch, row as i64, state.as_str(), at, state.is_final()],
        )?;
        anyhow::ensure!(
            changed == 1,
            "{}: batch {batch} has no row {row}",
            self.path.display()
        );
        Ok(())
    }

    /// The id of the rollback of `batch`: one per import, continued by every `rollback` of it.
    pub fn rollback_id(batch: &str) -> String {
        format!("{batch}.rollback")
    }

    /// Journals the rollback of `import` as a batch of `delete` operations, one per row it created, and `restore`
    /// operations, one per row it updated: made by the first rollback, topped up by the next (rows that became
    /// `done` since, e.g. by reconciliation), its waiting rows given the platform references their import rows hold
    /// now, and its `failed` operations made `pending` again so that they are tried again. Returns the rollback's
    /// id.
    pub fn prepare_rollback(&mut self, import: &BatchInfo) -> anyhow::Result<String> {
        let id = Journal::rollback_id(&import.id);
        let at = now();
        let tx = self.conn.transaction()?;
        beside(&tx, &import.id, &id, Action::Delete, &at)?;
        // A creation is undone by deleting its device; an update by restoring the values it wrote over, from its
        // `previous` column, if the device still holds what it wrote (checked by reading it first).
        tx.execute(
            "INSERT OR IGNORE INTO rows (batch, row, action, kind, id, name, state, request, device_href, \
             device_uid, device_eui, key_eui, key_imei, key_sim, created_at, updated_at) \
             SELECT ?2, row, CASE action WHEN 'update' THEN 'restore' ELSE 'delete' END, kind, id, name, \
             'pending', CASE action WHEN 'update' THEN json_object( \
                 'reference', coalesce(device_uid, 'e' || device_eui), \
                 'before', json(json_extract(previous, '$.after')), \
                 'after', json(json_extract(previous, '$.before')), \
                 'version', NULL, 'read_first', json('true')) END, \
             device_href, device_uid, device_eui, key_eui, key_imei, key_sim, ?3, ?3 \
             FROM rows WHERE batch = ?1 AND state = 'done' AND action IN ('create', 'update')",
            params![import.id, id, at],
        )?;
        tx.execute(
            "UPDATE rows SET state = 'pending', http_status = NULL, error_code = NULL, message = NULL, \
             finished_at = NULL, updated_at = ?2 WHERE batch = ?1 AND state = 'failed'",
            params![id, at],
        )?;
        tx.execute(
            "UPDATE rows SET device_href = i.device_href, device_uid = i.device_uid, device_eui = i.device_eui \
             FROM (SELECT row, device_href, device_uid, device_eui FROM rows WHERE batch = ?1) AS i \
             WHERE rows.batch = ?2 AND rows.row = i.row AND rows.state = 'pending'",
            params![import.id, id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// The id of the tag calls of `batch`: one batch of `tag` operations per import, journalled with it.
    pub fn tags_id(batch: &str) -> String {
        format!("{batch}.tags")
    }

    /// The import whose tag calls `tags` (a [`Journal::tags_id`]) are.
    pub fn import_of_tags(tags: &str) -> Option<&str> {
        tags.strip_suffix(".tags")
    }

    /// Journals tag calls for devices of `import`, in one transaction: the batch `{import}.tags` (made by the
    /// first call) and one `tag` operation per call, numbered after the ones it has. Each call is journalled before
    /// any device of the import is sent, so that no crash can lose one: `pending` until the import's rows are final
    /// and [`Journal::resolve_tag_calls`] gives it its DevEUIs.
    pub fn insert_tag_calls(
        &mut self,
        import: &str,
        calls: impl IntoIterator<Item = NewTagCall>,
    ) -> anyhow::Result<()> {
        let id = Journal::tags_id(import);
        let at = now();
        let tx = self.conn.transaction()?;
        beside(&tx, import, &id, Action::Tag, &at)?;
        let mut next: i64 = tx.query_row(
            "SELECT coalesce(max(row), 0) FROM rows WHERE batch = ?1",
            [&id],
            |r| r.get(0),
        )?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO rows (batch, row, action, id, state, request, created_at, updated_at) \
                 VALUES (?1, ?2, 'tag', ?3, 'pending', ?4, ?5, ?5)",
            )?;
            for call in calls {
                next += 1;
                let request = serde_json::json!({
                    "tag": call.tag,
                    "action": if call.untag { "UNTAG" } else { "TAG" },
                    "rows": call.rows,
                    "of": call.of.as_str(),
                });
                insert.execute(params![id, next, call.tag, request.to_string(), at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Gives every unfinished tag call of `import` the DevEUIs of its rows that ended `done` by the call's action
    /// (a creation's call tags only devices the import created; an update's only devices whose update was made, so
    /// a `conflict` is not retagged), from the EUIs journalled with those rows (a
    /// cellular device's is the one the platform gave it). A call left with no device ends `gone`, sending
    /// nothing. Run once the import's rows are final, and again on every resume: it reads the same rows, so it
    /// writes the same EUIs. Returns the calls left to send.
    pub fn resolve_tag_calls(&mut self, import: &str) -> anyhow::Result<u64> {
        let id = Journal::tags_id(import);
        let calls: Vec<(i64, String)> = {
            let mut stmt = self.conn.prepare(
                "SELECT row, request FROM rows WHERE batch = ?1 AND state IN ('pending', 'sending') ORDER BY row",
            )?;
            stmt.query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let at = now();
        let tx = self.conn.transaction()?;
        let mut left = 0;
        {
            let mut eui = tx.prepare_cached(
                "SELECT coalesce(device_eui, key_eui) FROM rows \
                 WHERE batch = ?1 AND row = ?2 AND state = 'done' AND action = ?3",
            )?;
            for (row, request) in calls {
                let mut request: serde_json::Value = serde_json::from_str(&request)
                    .with_context(|| format!("tag call {row} of {id}: unreadable request"))?;
                let rows: Vec<i64> = serde_json::from_value(request["rows"].clone())
                    .with_context(|| format!("tag call {row} of {id}: unreadable rows"))?;
                // Calls journalled before `of` existed are all a creation's.
                let action = request["of"].as_str().unwrap_or("create").to_string();
                let mut euis = Vec::with_capacity(rows.len());
                for of in rows {
                    let found: Option<Option<String>> = eui
                        .query_row(params![import, of, action], |r| r.get(0))
                        .optional()?;
                    match found {
                        Some(Some(e)) => euis.push(e.to_ascii_uppercase()),
                        Some(None) => {
                            tracing::warn!(row = of, "created, but its EUI is unknown: not tagged")
                        }
                        None => {}
                    }
                }
                if euis.is_empty() {
                    tx.execute(
                        "UPDATE rows SET state = 'gone', request = NULL, updated_at = ?3, finished_at = ?3, \
                         message = 'no device of this call was created or updated by the batch: nothing to tag' \
                         WHERE batch = ?1 AND row = ?2",
                        params![id, row, at],
                    )?;
                    continue;
                }
                request["devEUIs"] = serde_json::json!(euis);
                tx.execute(
                    "UPDATE rows SET request = ?3, updated_at = ?4 WHERE batch = ?1 AND row = ?2",
                    params![id, row, request.to_string(), at],
                )?;
                left += 1;
            }
        }
        tx.commit()?;
        Ok(left)
    }

    /// Tag calls of `import` not yet final (0 when it has none).
    pub fn tag_calls_left(&self, import: &str) -> anyhow::Result<u64> {
        self.count_states(
            &Journal::tags_id(import),
            &[RowState::Pending, RowState::Sending],
        )
    }

    /// How many rows of `batch` its rollback deleted or found gone.
    pub fn undone_count(&self, batch: &str) -> anyhow::Result<u64> {
        self.count_states(
            &Journal::rollback_id(batch),
            &[RowState::Done, RowState::Gone],
        )
    }

    /// Hands the connection to a writer thread for a run.
    pub fn into_writer(self, batch: &str) -> Writer {
        Writer::start(self, batch.to_string())
    }
}

/// What the rollback of a batch did to each of its rows, asked in row order while the batch's rows stream by: read
/// in short pages, so neither every deletion in memory nor a read held open for the whole walk.
pub struct UndoneCursor {
    rollback: String,
    page: std::collections::VecDeque<(u64, RowState)>,
    after: u64,
    exhausted: bool,
}

impl UndoneCursor {
    pub fn new(batch: &str) -> UndoneCursor {
        UndoneCursor {
            rollback: Journal::rollback_id(batch),
            page: Default::default(),
            after: 0,
            exhausted: false,
        }
    }

    /// `done` (deleted) or `gone` when the rollback settled `row`; rows must be asked in increasing order.
    pub fn of(&mut self, journal: &Journal, row: u64) -> anyhow::Result<Option<RowState>> {
        loop {
            while let Some(&(next, state)) = self.page.front() {
                if next > row {
                    return Ok(None);
                }
                self.page.pop_front();
                if next == row {
                    return Ok(Some(state));
                }
            }
            if self.exhausted {
                return Ok(None);
            }
            let page = journal.rows_after(
                &self.rollback,
                Some(&[RowState::Done, RowState::Gone]),
                self.after,
                PAGE,
            )?;
            self.exhausted = page.len() < PAGE;
            for record in page {
                self.after = record.row;
                self.page.push_back((record.row, record.state));
            }
        }
    }
}

/// Makes, unless it exists, batch `id` of `action` operations beside `import` (its file and columns): the import's
/// rollback (a `delete` batch that `undoes` it) or its tag calls.
fn beside(
    conn: &Connection,
    import: &str,
    id: &str,
    action: Action,
    at: &str,
) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT OR IGNORE INTO batches (id, name, input_path, input_sha256, format, columns, options, state, \
         created_at, updated_at, action, undoes) \
         SELECT ?2, name, input_path, input_sha256, format, columns, '{}', 'interrupted', ?3, ?3, ?4, \
         CASE ?4 WHEN 'delete' THEN id END FROM batches WHERE id = ?1",
        params![import, id, at, action.as_str()],
    )
}

/// Writes one outcome; the request goes in the same statement that writes a final state. Returns the rows changed
/// (0 when the batch has no such row).
fn apply_outcome(
    conn: &Connection,
    batch: &str,
    outcome: &Outcome,
    at: &str,
) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(
        "UPDATE rows SET state = ?3, http_status = ?4, error_code = ?5, message = ?6, \
         device_href = coalesce(?7, device_href), device_uid = coalesce(?8, device_uid), \
         device_eui = coalesce(?9, device_eui), updated_at = ?10, \
         request = CASE WHEN ?11 THEN NULL ELSE request END, \
         finished_at = CASE WHEN ?11 THEN ?10 ELSE NULL END, attempts = attempts + ?12 \
         WHERE batch = ?1 AND row = ?2",
    )?;
    stmt.execute(params![
        batch,
        outcome.row as i64,
        outcome.state.as_str(),
        outcome.http_status,
        outcome.error_code,
        outcome.message,
        outcome.device_href,
        outcome.device_uid,
        outcome.device_eui,
        at,
        outcome.state.is_final(),
        outcome.attempts,
    ])
}

/// The SQL condition for a state filter. For pages in row order the state must not drive the index choice
/// (`+state`): walking the primary key in order beats collecting and sorting every matching row per page. For a
/// count it should: the `(batch, state)` index answers without reading a row.
fn state_filter(states: Option<&[RowState]>, use_index: bool) -> String {
    match states {
        None => String::new(),
        Some(states) => {
            let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
            let column = if use_index { "state" } else { "+state" };
            format!(" AND {column} IN ({})", list.join(","))
        }
    }
}

fn read_row(r: &rusqlite::Row<'_>) -> anyhow::Result<RowRecord> {
    let row = r.get::<_, i64>(0)? as u64;
    // Read in place: these are read for every row a run streams, and need no copy.
    let text = |i: usize| -> anyhow::Result<Option<&str>> { Ok(r.get_ref(i)?.as_str_or_null()?) };
    let kind = text(1)?
        .map(|k| {
            k.parse::<Kind>()
                .map_err(|e| anyhow::anyhow!("row {row}: {e}"))
        })
        .transpose()?;
    let action = text(15)?.unwrap_or_default();
    let action =
        Action::parse(action).with_context(|| format!("row {row}: unknown action {action:?}"))?;
    let state = text(4)?.unwrap_or_default();
    let state =
        RowState::parse(state).with_context(|| format!("row {row}: unknown state {state:?}"))?;
    let errors: Option<String> = r.get(6)?;
    let errors = match errors {
        None => Vec::new(),
        Some(json) => serde_json::from_str(&json)
            .with_context(|| format!("row {row}: unreadable errors in the journal"))?,
    };
    Ok(RowRecord {
        row,
        action,
        kind,
        id: r.get(2)?,
        name: r.get(3)?,
        state,
        request: r.get(5)?,
        errors,
        http_status: r.get(7)?,
        error_code: r.get(8)?,
        message: r.get(9)?,
        device_href: r.get(10)?,
        device_uid: r.get(11)?,
        device_eui: r.get(12)?,
        attempts: r.get(13)?,
        finished_at: r.get(14)?,
        keys: LookupKeys {
            eui: r.get(16)?,
            imei: r.get(17)?,
            sim: r.get(18)?,
        },
        previous: r.get(19)?,
    })
}

/// A batch as stored; its JSON columns parsed.
fn read_batch(r: &rusqlite::Row<'_>) -> anyhow::Result<BatchInfo> {
    fn json<T: serde::de::DeserializeOwned>(
        r: &rusqlite::Row<'_>,
        i: usize,
        null: &str,
    ) -> anyhow::Result<T> {
        let text: Option<String> = r.get(i)?;
        Ok(serde_json::from_str(text.as_deref().unwrap_or(null))?)
    }
    let text = |i: usize| -> rusqlite::Result<String> {
        Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
    };
    let id = text(0)?;
    let ctx = |what: &str| format!("batch {id}: unreadable {what} in the journal");
    let (state, action) = (text(7)?, text(12)?);
    Ok(BatchInfo {
        name: r.get(1)?,
        input_path: text(2)?,
        input_sha256: text(3)?,
        format: json(r, 4, "null").with_context(|| ctx("format"))?,
        columns: json(r, 5, "[]").with_context(|| ctx("columns"))?,
        input_columns: json(r, 14, "null").with_context(|| ctx("input columns"))?,
        options: json(r, 6, "null").with_context(|| ctx("options"))?,
        state: BatchState::parse(&state).with_context(|| ctx(&format!("state {state:?}")))?,
        created_at: text(8)?,
        updated_at: text(9)?,
        runner_pid: r.get(10)?,
        profile: r.get(11)?,
        action: Action::parse(&action).with_context(|| ctx(&format!("action {action:?}")))?,
        undoes: r.get(13)?,
        id,
    })
}

fn new_batch_id() -> String {
    let suffix: u16 = rand::random();
    format!(
        "b{}-{suffix:04x}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    )
}

/// Creates the journal file mode 0600 before SQLite sees it, so that no other user can ever read key material.
fn create_private(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("{}: cannot create the journal", path.display()))?;
    Ok(())
}

/// SQLite gives `-wal` and `-shm` the main file's permissions; a journal file that already existed (created by
/// hand, or copied) keeps its own. Both are tightened to 0600 when group or others could read them.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o077 != 0
        {
            // Not ours to change (another user's file): reading it is still allowed.
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
        }
    }
}
