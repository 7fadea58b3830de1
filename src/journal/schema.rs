//! The journal's schema: forward-only migrations keyed on `PRAGMA user_version`, and the pragmas set at open.

use rusqlite::Connection;

/// Each step moves the schema from version `i` to `i + 1`. Never edit a released step: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: batches and their rows.
    "CREATE TABLE batches (
        id           TEXT PRIMARY KEY,
        name         TEXT,
        input_path   TEXT NOT NULL,
        input_sha256 TEXT NOT NULL,
        format       TEXT NOT NULL,
        columns      TEXT NOT NULL,
        options      TEXT NOT NULL,
        state        TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    );
    CREATE TABLE rows (
        batch       TEXT NOT NULL REFERENCES batches(id),
        row         INTEGER NOT NULL,
        kind        TEXT,
        id          TEXT,
        name        TEXT,
        state       TEXT NOT NULL,
        request     TEXT,
        errors      TEXT,
        http_status INTEGER,
        error_code  TEXT,
        message     TEXT,
        device_href TEXT,
        device_uid  TEXT,
        device_eui  TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        finished_at TEXT,
        PRIMARY KEY (batch, row)
    );
    CREATE INDEX rows_batch_state ON rows (batch, state);",
    // 2: which process runs a batch, so that a run killed without a word shows as interrupted, not running.
    "ALTER TABLE batches ADD COLUMN runner_pid INTEGER;",
    // 3: the sending window of a run: rows of the batch up to this row that are still `pending` may have been sent,
    // so that a worker inside the window sends without waiting for a commit of its own (see `journal::writer`).
    "ALTER TABLE batches ADD COLUMN sending_through INTEGER;",
    // 4: the config file's profile a batch was imported with, for `resume` to take its credentials from (the URL is
    // in `options` since the first version).
    "ALTER TABLE batches ADD COLUMN profile TEXT;",
    // 5: every row is an operation with an action (`create`, `delete`), one state machine (`created` becomes `done`),
    // and the keys the platform knows its device by, journalled as columns (backfilled from the stored request, the
    // last place older releases kept them). A rollback is a batch of `delete` operations that `undoes` its import:
    // the deletions older releases kept in their own `rollback_deletions` table move into it, and that table goes.
    "ALTER TABLE batches ADD COLUMN action TEXT NOT NULL DEFAULT 'create';
    ALTER TABLE batches ADD COLUMN undoes TEXT REFERENCES batches(id);
    ALTER TABLE rows ADD COLUMN action TEXT NOT NULL DEFAULT 'create';
    ALTER TABLE rows ADD COLUMN key_eui TEXT;
    ALTER TABLE rows ADD COLUMN key_imei TEXT;
    ALTER TABLE rows ADD COLUMN key_sim TEXT;
    UPDATE rows SET state = 'done' WHERE state = 'created';
    UPDATE rows SET
        key_eui = upper(nullif(json_extract(request, '$.body.EUI'), '')),
        key_imei = nullif(json_extract(request, '$.body.enforcedIMEI'), ''),
        key_sim = nullif(json_extract(request, '$.body.sim.ID'), '')
        WHERE request IS NOT NULL AND json_valid(request);
    UPDATE rows SET key_eui = upper(id)
        WHERE key_eui IS NULL AND id IS NOT NULL AND kind IN ('otaa', 'abp', 'multicast');
    UPDATE rows SET key_imei = CASE WHEN length(id) = 15 THEN id END,
        key_sim = CASE WHEN length(id) <> 15 THEN id END
        WHERE key_imei IS NULL AND key_sim IS NULL AND id IS NOT NULL AND kind = 'cellular';
    CREATE TABLE IF NOT EXISTS rollback_deletions (
        batch TEXT NOT NULL, row INTEGER NOT NULL, outcome TEXT NOT NULL, device TEXT NOT NULL,
        deleted_at TEXT NOT NULL, PRIMARY KEY (batch, row));
    INSERT INTO batches (id, name, input_path, input_sha256, format, columns, options, state, created_at,
        updated_at, action, undoes)
        SELECT b.id || '.rollback', b.name, b.input_path, b.input_sha256, b.format, b.columns, '{}', 'done',
            min(d.deleted_at), max(d.deleted_at), 'delete', b.id
        FROM rollback_deletions d JOIN batches b ON b.id = d.batch GROUP BY b.id;
    INSERT INTO rows (batch, row, kind, id, name, state, action, device_href, device_uid, device_eui, key_eui,
        key_imei, key_sim, attempts, created_at, updated_at, finished_at)
        SELECT d.batch || '.rollback', d.row, r.kind, r.id, r.name,
            CASE d.outcome WHEN 'gone' THEN 'gone' ELSE 'done' END, 'delete', r.device_href, r.device_uid,
            r.device_eui, r.key_eui, r.key_imei, r.key_sim, 1, d.deleted_at, d.deleted_at, d.deleted_at
        FROM rollback_deletions d JOIN rows r ON r.batch = d.batch AND r.row = d.row;
    DROP TABLE rollback_deletions;",
    // 6: the `--columns` a headerless file was read with (JSON, a skipped column as null; NULL for a headed file), so
    // that `rework` reads the file again the same way.
    "ALTER TABLE batches ADD COLUMN input_columns TEXT;",
    // 7: updates (`--on-existing update`) and their restores: each update row keeps the values it changed, before
    // and after (JSON, never key material), for a rollback to put back; the partial index counts an import's
    // updates apart from its creations without reading a batch that has none.
    "ALTER TABLE rows ADD COLUMN previous TEXT;
    CREATE INDEX rows_updates ON rows (batch, state) WHERE action IN ('update', 'restore');",
    // 8 (agreed as 9 among issue 15's branches): one batch may hold operations of several actions (a ThingPark
    // file's `CREATE` and `DELETE` rows), and its counts tell created from deleted: the index that counts rows by
    // state counts them by state and action, still without reading a row (and covers the partial index of 7).
    "CREATE INDEX rows_batch_state_action ON rows (batch, state, action);
    DROP INDEX rows_batch_state;
    DROP INDEX rows_updates;",
];

/// The schema version this build writes.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the schema forward to [`VERSION`]; each step commits with its new version, so a crash between steps
/// leaves a consistent, older schema.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<MigrateOutcome> {
    // Up to date is the common case, and read commands beside a running import should not queue for the write
    // lock just to learn that.
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current == VERSION {
        return Ok(MigrateOutcome::AtVersion);
    }
    loop {
        // The version is read inside a write transaction: two processes opening a new journal at once (an import
        // and a `status` beside it) must not both run the same step.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > VERSION {
            return Ok(MigrateOutcome::Newer(current));
        }
        let Some(sql) = MIGRATIONS.get(current as usize) else {
            return Ok(MigrateOutcome::AtVersion);
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum MigrateOutcome {
    AtVersion,
    /// Written by a newer tpbulk: never touched.
    Newer(u32),
}

/// How long a connection waits for another one's lock before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Switches the connection to WAL. SQLite answers `SQLITE_BUSY` here without calling the busy handler while another
/// connection is switching the same new file (an import creating its journal while `status` opens it beside), so the
/// switch is retried for as long as the busy timeout would have waited.
fn wal_mode(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        // An in-memory database answers `memory`: nothing to do there.
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Connection settings that are not part of the schema and must be set on every open.
pub fn set_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    wal_mode(conn)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A final row's keys are deleted by an UPDATE; without this SQLite leaves the old cell's bytes, keys included, in
    // the page's free space, where anyone who copies the file can read them.
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_twice_on_an_in_memory_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        set_pragmas(&conn).unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MigrateOutcome::AtVersion);
        assert_eq!(migrate(&mut conn).unwrap(), MigrateOutcome::AtVersion);
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('batches','rows')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 2);
    }

    #[test]
    fn an_older_journal_moves_forward_and_keeps_its_data() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO batches VALUES ('b1', NULL, 'x.csv', '00', '{}', '[]', '{}', 'running', 't', 't')",
            [],
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MigrateOutcome::AtVersion);
        let (id, pid, profile): (String, Option<i64>, Option<String>) = conn
            .query_row("SELECT id, runner_pid, profile FROM batches", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((id.as_str(), pid, profile), ("b1", None, None));
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
    }

    #[test]
    fn a_newer_schema_is_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        assert_eq!(
            migrate(&mut conn).unwrap(),
            MigrateOutcome::Newer(VERSION + 1)
        );
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
}
