//! `rollback`: delete the devices a batch created (`created` rows) and never one that was there before it (`exists`),
//! each deletion journalled so that an interrupted rollback resumes where it stopped.
//!
//! The journal's API has no notion of a deletion, so rollback keeps its own table in the same SQLite file, created
//! on first use and never migrated by the journal:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS rollback_deletions (
//!     batch TEXT NOT NULL, row INTEGER NOT NULL,
//!     outcome TEXT NOT NULL,  -- 'deleted' (the platform deleted it) or 'gone' (404: already deleted)
//!     device TEXT NOT NULL,   -- the reference deleted: the device uid, or e<EUI>
//!     deleted_at TEXT NOT NULL,
//!     PRIMARY KEY (batch, row))
//! ```
//!
//! A row in that table is never sent again. Rows left `sending` by an interrupted import are settled first, the way
//! `resume` settles them: a device the platform has (and created after the batch began) was created by this batch
//! and becomes `created`; one it lacks goes back to `pending`.

use super::Target;
use crate::journal::{Journal, Outcome, RowRecord, RowState};
use crate::platform::{
    ApiError, Client, CreateRequest, DeviceInfo, ExistKey, LookupProgress, find_existing,
};
use futures::StreamExt;
use rusqlite::{Connection, params};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use tokio_util::sync::CancellationToken;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS rollback_deletions (
    batch      TEXT NOT NULL,
    row        INTEGER NOT NULL,
    outcome    TEXT NOT NULL,
    device     TEXT NOT NULL,
    deleted_at TEXT NOT NULL,
    PRIMARY KEY (batch, row)
)";

/// How a deletion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The platform deleted the device.
    Deleted,
    /// The platform no longer had it (404).
    Gone,
}

impl Deleted {
    pub fn as_str(self) -> &'static str {
        match self {
            Deleted::Deleted => "deleted",
            Deleted::Gone => "gone",
        }
    }

    /// As the table stores it.
    fn parse(text: &str) -> Deleted {
        if text == "gone" {
            Deleted::Gone
        } else {
            Deleted::Deleted
        }
    }
}

/// Rollback's record of deletions, beside the journal in the same file.
pub struct Deletions {
    conn: Connection,
}

impl Deletions {
    /// Opens the journal file's deletion table, creating it when missing.
    pub fn open(journal: &Path) -> anyhow::Result<Deletions> {
        let conn = Connection::open(journal)
            .map_err(|e| anyhow::anyhow!("{}: cannot open the journal: {e}", journal.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // As the journal's writer: in WAL mode a commit survives a crash of the process without an fsync each.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(TABLE)?;
        Ok(Deletions { conn })
    }

    /// The rows of `batch` already deleted (or found gone).
    pub fn done(&self, batch: &str) -> anyhow::Result<HashMap<u64, Deleted>> {
        let mut stmt = self
            .conn
            .prepare("SELECT row, outcome FROM rollback_deletions WHERE batch = ?1")?;
        let rows = stmt.query_map([batch], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
        })?;
        let mut done = HashMap::new();
        for row in rows {
            let (row, outcome) = row?;
            done.insert(row, Deleted::parse(&outcome));
        }
        Ok(done)
    }

    /// Records one deletion; committed before the next one is recorded.
    pub fn record(
        &self,
        batch: &str,
        row: u64,
        outcome: Deleted,
        device: &str,
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO rollback_deletions (batch, row, outcome, device, deleted_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                batch,
                row as i64,
                outcome.as_str(),
                device,
                crate::journal::now()
            ],
        )?;
        Ok(())
    }
}

/// Rollback's table, opened read-only; `None` when no rollback ever ran on this journal. Read-only commands leave
/// the journal as they found it: they never create the table.
fn read_only(journal: &Path) -> anyhow::Result<Option<Connection>> {
    let conn = Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| anyhow::anyhow!("{}: cannot open the journal: {e}", journal.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'rollback_deletions'",
        [],
        |r| r.get(0),
    )?;
    Ok(exists.then_some(conn))
}

/// The rows of `batch` an earlier rollback deleted (or found gone).
pub fn rolled_back(journal: &Path, batch: &str) -> anyhow::Result<HashSet<u64>> {
    let Some(conn) = read_only(journal)? else {
        return Ok(HashSet::new());
    };
    let mut stmt = conn.prepare("SELECT row FROM rollback_deletions WHERE batch = ?1")?;
    let rows = stmt.query_map([batch], |r| r.get::<_, i64>(0))?;
    let mut done = HashSet::new();
    for row in rows {
        done.insert(row? as u64);
    }
    Ok(done)
}

/// How many rows of `batch` an earlier rollback deleted (or found gone).
pub fn rolled_back_count(journal: &Path, batch: &str) -> anyhow::Result<u64> {
    let Some(conn) = read_only(journal)? else {
        return Ok(0);
    };
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM rollback_deletions WHERE batch = ?1",
        [batch],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// What rollback did to each row of a batch, asked in row order while the journal's rows stream by: read in short
/// pages, so neither a million deletions in memory nor a read held open for the whole walk.
pub struct DeletionCursor {
    conn: Option<Connection>,
    batch: String,
    page: std::collections::VecDeque<(u64, Deleted)>,
    /// The last row read from the table.
    after: u64,
    exhausted: bool,
}

/// Deletions per page of a [`DeletionCursor`].
const CURSOR_PAGE: i64 = 1_000;

impl DeletionCursor {
    pub fn open(journal: &Path, batch: &str) -> anyhow::Result<DeletionCursor> {
        let conn = read_only(journal)?;
        Ok(DeletionCursor {
            exhausted: conn.is_none(),
            conn,
            batch: batch.to_string(),
            page: Default::default(),
            after: 0,
        })
    }

    /// What a rollback did to `row`, if anything; rows must be asked in increasing order.
    pub fn of(&mut self, row: u64) -> anyhow::Result<Option<Deleted>> {
        loop {
            while let Some(&(next, outcome)) = self.page.front() {
                if next > row {
                    return Ok(None);
                }
                self.page.pop_front();
                if next == row {
                    return Ok(Some(outcome));
                }
            }
            if self.exhausted {
                return Ok(None);
            }
            let conn = self
                .conn
                .as_ref()
                .expect("a cursor with pages left has its table");
            let mut stmt = conn.prepare_cached(
                "SELECT row, outcome FROM rollback_deletions WHERE batch = ?1 AND row > ?2 ORDER BY row LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![self.batch, self.after as i64, CURSOR_PAGE], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
                })?;
            for found in rows {
                let (row, outcome) = found?;
                self.after = row;
                self.page.push_back((row, Deleted::parse(&outcome)));
            }
            self.exhausted = self.page.len() < CURSOR_PAGE as usize;
        }
    }
}

/// What a rollback of a batch would do.
#[derive(Debug, Clone, Default)]
pub struct RollbackPlan {
    /// `created` rows not yet deleted, in row order.
    pub to_delete: Vec<Target>,
    /// `created` rows an earlier rollback already deleted.
    pub already: usize,
    /// `exists` rows, which stay.
    pub kept: u64,
    /// Rows never sent (`pending`): a later `resume` would still create them.
    pub unsent: u64,
}

/// The reference `DELETE /devices/<ref>` takes: the uid when journalled, else `e<EUI>`.
pub fn reference(target: &Target) -> Option<String> {
    target
        .uid
        .clone()
        .or_else(|| target.eui.as_ref().map(|e| format!("e{e}")))
}

pub fn plan(journal: &Journal, deletions: &Deletions, batch: &str) -> anyhow::Result<RollbackPlan> {
    let done = deletions.done(batch)?;
    let created = super::rows_in(journal, batch, &[RowState::Created])?;
    let mut plan = RollbackPlan {
        kept: journal.count_state(batch, RowState::Exists)?,
        unsent: journal.count_state(batch, RowState::Pending)?,
        ..RollbackPlan::default()
    };
    for row in &created {
        if done.contains_key(&row.row) {
            plan.already += 1;
        } else {
            plan.to_delete.push(Target::from_record(row));
        }
    }
    Ok(plan)
}

/// What the platform may know a row's device by, from its journalled request.
fn keys_of(record: &RowRecord) -> Vec<ExistKey> {
    let Some(request) = record
        .request
        .as_deref()
        .and_then(|r| serde_json::from_str::<CreateRequest>(r).ok())
    else {
        return Vec::new();
    };
    let text = |pointer: &str| {
        request
            .body
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    [
        text("/EUI").map(|e| ExistKey::Eui(e.to_ascii_uppercase())),
        text("/sim/ID").map(ExistKey::Sim),
        text("/enforcedIMEI").map(ExistKey::Imei),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// How many `sending` rows ended up created, and how many went back to pending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    pub created: usize,
    pub existed: usize,
    pub pending: usize,
}

/// Settles the rows an interrupted import left `sending`: found on the platform and made after the batch began →
/// `created` (so this rollback deletes it); found but older → `exists`; not found → `pending`.
pub async fn settle_sending(
    client: &Client,
    journal: &mut Journal,
    batch: &str,
    batch_started_ms: Option<i64>,
) -> anyhow::Result<Settled> {
    let sending = super::rows_in(journal, batch, &[RowState::Sending])?;
    if sending.is_empty() {
        return Ok(Settled::default());
    }
    let keys: Vec<(u64, Vec<ExistKey>)> = sending.iter().map(|r| (r.row, keys_of(r))).collect();
    let all: Vec<ExistKey> = keys.iter().flat_map(|(_, k)| k.iter().cloned()).collect();
    // A handful of rows an interrupted run left unknown: nothing worth a progress display.
    let found = find_existing(client, &all, &LookupProgress::new(true))
        .await
        .map_err(|e| crate::platform::unavailable(&client.config().url, &e))?;
    let mut settled = Settled::default();
    let mut outcomes = Vec::new();
    let mut back_to_pending = Vec::new();
    for (row, keys) in keys {
        match keys.iter().find_map(|k| found.get(k)) {
            Some(device) => {
                let outcome = settled_outcome(row, device, batch_started_ms);
                if outcome.state == RowState::Created {
                    settled.created += 1;
                } else {
                    settled.existed += 1;
                }
                outcomes.push(outcome);
            }
            None => back_to_pending.push(row),
        }
    }
    journal.record_outcomes(batch, outcomes)?;
    for row in back_to_pending {
        journal.set_row_state(batch, row, RowState::Pending)?;
        settled.pending += 1;
    }
    Ok(settled)
}

fn settled_outcome(row: u64, device: &DeviceInfo, batch_started_ms: Option<i64>) -> Outcome {
    let before = matches!((device.creation_date, batch_started_ms), (Some(c), Some(s)) if c < s);
    Outcome {
        row,
        attempts: 0,
        state: if before {
            RowState::Exists
        } else {
            RowState::Created
        },
        http_status: None,
        error_code: None,
        message: Some(if before {
            "already on the platform before this batch".into()
        } else {
            "found on the platform by rollback".into()
        }),
        device_href: device.href.clone(),
        device_uid: device.uid.clone(),
        device_eui: (!device.eui.is_empty()).then(|| device.eui.clone()),
    }
}

/// The end of a rollback run.
#[derive(Debug, Clone, Default)]
pub struct RollbackResult {
    pub deleted: usize,
    pub gone: usize,
    /// Rows whose deletion failed, with the platform's answer.
    pub failed: Vec<(Target, String)>,
    /// Stopped by a signal before every row was tried.
    pub interrupted: bool,
}

/// Deletes `targets` with at most `concurrency` requests in flight, recording each one as it completes. On
/// cancellation no new deletion starts; those in flight finish and are recorded.
pub async fn delete_all(
    client: &Client,
    deletions: &Deletions,
    batch: &str,
    targets: Vec<Target>,
    concurrency: usize,
    cancel: &CancellationToken,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<RollbackResult> {
    let mut result = RollbackResult::default();
    let total = targets.len();
    let mut started: HashSet<u64> = HashSet::new();
    let mut stream = futures::stream::iter(targets)
        .take_while(|_| std::future::ready(!cancel.is_cancelled()))
        .map(|target| async move {
            let outcome = match reference(&target) {
                Some(r) => client
                    .delete_device(&r)
                    .await
                    .map(|existed| (r, existed))
                    .map_err(|e: ApiError| e.to_string()),
                None => Err("the journal holds neither the device's uid nor its EUI".to_string()),
            };
            (target, outcome)
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((target, outcome)) = stream.next().await {
        started.insert(target.row);
        progress.inc(1);
        match outcome {
            Ok((reference, existed)) => {
                let how = if existed {
                    result.deleted += 1;
                    Deleted::Deleted
                } else {
                    result.gone += 1;
                    Deleted::Gone
                };
                deletions.record(batch, target.row, how, &reference)?;
            }
            Err(e) => {
                tracing::warn!(row = target.row, error = %e, "deletion failed");
                result.failed.push((target, e));
            }
        }
    }
    result.interrupted = started.len() < total;
    result.failed.sort_by_key(|(t, _)| t.row);
    Ok(result)
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn millis(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Kind;

    fn target(row: u64, uid: Option<&str>, eui: Option<&str>) -> Target {
        Target {
            row,
            kind: Some(Kind::Otaa),
            id: eui.map(str::to_string),
            name: None,
            state: RowState::Created,
            eui: eui.map(str::to_string),
            uid: uid.map(str::to_string),
        }
    }

    #[test]
    fn the_uid_is_preferred_then_the_eui() {
        assert_eq!(
            reference(&target(1, Some("2227"), Some("70B3D5E756000999"))).as_deref(),
            Some("2227")
        );
        assert_eq!(
            reference(&target(1, None, Some("70B3D5E756000999"))).as_deref(),
            Some("e70B3D5E756000999")
        );
        assert_eq!(reference(&target(1, None, None)), None);
    }

    /// A SQLite file no rollback has touched yet.
    fn database_without_rollbacks(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("j.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        path
    }

    #[test]
    fn the_deletion_cursor_answers_row_by_row_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_without_rollbacks(dir.path());
        // No rollback ever ran: nothing deleted, and the table is not created by asking.
        let mut cursor = DeletionCursor::open(&path, "b1").unwrap();
        assert_eq!(cursor.of(1).unwrap(), None);
        assert_eq!(rolled_back_count(&path, "b1").unwrap(), 0);

        let d = Deletions::open(&path).unwrap();
        for row in (1..=2_501).step_by(2) {
            let outcome = if row % 3 == 0 {
                Deleted::Gone
            } else {
                Deleted::Deleted
            };
            d.record("b1", row, outcome, "x").unwrap();
        }
        d.record("b2", 2, Deleted::Deleted, "y").unwrap();
        let mut cursor = DeletionCursor::open(&path, "b1").unwrap();
        for row in 1..=2_600u64 {
            let expected = match row {
                r if r > 2_501 || r % 2 == 0 => None,
                r if r % 3 == 0 => Some(Deleted::Gone),
                _ => Some(Deleted::Deleted),
            };
            assert_eq!(cursor.of(row).unwrap(), expected, "row {row}");
        }
        assert_eq!(rolled_back_count(&path, "b1").unwrap(), 1_251);
        assert_eq!(rolled_back_count(&path, "b2").unwrap(), 1);
    }

    #[test]
    fn deletions_are_kept_per_batch_and_the_table_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_without_rollbacks(dir.path());
        assert!(rolled_back(&path, "b1").unwrap().is_empty());
        let d = Deletions::open(&path).unwrap();
        d.record("b1", 2, Deleted::Deleted, "11").unwrap();
        d.record("b1", 3, Deleted::Gone, "e70B3D5E756000999")
            .unwrap();
        d.record("b2", 2, Deleted::Deleted, "12").unwrap();
        drop(d);
        let d = Deletions::open(&path).unwrap();
        let done = d.done("b1").unwrap();
        assert_eq!(rolled_back(&path, "b1").unwrap(), HashSet::from([2, 3]));
        assert_eq!(done.len(), 2);
        assert_eq!(done[&3], Deleted::Gone);
        assert!(d.done("b3").unwrap().is_empty());
    }

    #[test]
    fn a_device_older_than_the_batch_is_not_ours() {
        let device = DeviceInfo {
            eui: "70B3D5E756000999".into(),
            href: None,
            uid: Some("9".into()),
            name: None,
            creation_date: Some(1_000),
            imei: None,
            sim: None,
        };
        assert_eq!(
            settled_outcome(2, &device, Some(2_000)).state,
            RowState::Exists
        );
        assert_eq!(
            settled_outcome(2, &device, Some(500)).state,
            RowState::Created
        );
        assert_eq!(settled_outcome(2, &device, None).state, RowState::Created);
        assert_eq!(millis("1970-01-01T00:00:01.000Z"), Some(1000));
    }

    #[test]
    fn keys_come_from_the_journalled_request() {
        let request = CreateRequest {
            kind: Kind::Cellular,
            mode: None,
            body: serde_json::json!({"enforcedIMEI": "123456789012347", "sim": {"ID": "89208013535718672291"}}),
        };
        let record = RowRecord {
            row: 4,
            kind: Some(Kind::Cellular),
            id: None,
            name: None,
            state: RowState::Sending,
            request: Some(serde_json::to_string(&request).unwrap()),
            errors: Vec::new(),
            http_status: None,
            error_code: None,
            message: None,
            device_href: None,
            device_uid: None,
            device_eui: None,
            attempts: 1,
            finished_at: None,
        };
        assert_eq!(
            keys_of(&record),
            [
                ExistKey::Sim("89208013535718672291".into()),
                ExistKey::Imei("123456789012347".into())
            ]
        );
    }
}
