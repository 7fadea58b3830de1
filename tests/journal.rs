//! The SQLite journal through its public API: file permissions, rows and counts, the writer's grouped commits and
//! the rule that final states drop key material.

use std::path::Path;
use tpbulk::device::{ErrorCode, Kind, RowError};
use tpbulk::input::{Column, Field, SourceFormat, TextEncoding};
use tpbulk::journal::{BatchState, Counts, Journal, NewBatch, NewRow, Outcome, RowState};

const KEY: &str = "00112233445566778899AABBCCDDEEFF";

fn new_batch(name: &str) -> NewBatch {
    NewBatch {
        name: Some(name.to_string()),
        input_path: "/data/shipment.csv".into(),
        input_sha256: "ab".repeat(32),
        format: SourceFormat::Csv {
            delimiter: b';',
            encoding: TextEncoding::Utf8Bom,
        },
        columns: vec![
            Column {
                index: 0,
                header: "DevEUI".into(),
                field: Some(Field::DevEui),
            },
            Column {
                index: 1,
                header: "AppKey".into(),
                field: Some(Field::AppKey),
            },
        ],
        input_columns: None,
        options: serde_json::json!({"rate": 10.0, "concurrency": 8}),
        profile: Some("lab".into()),
    }
}

fn pending(row: u64) -> NewRow {
    NewRow {
        row,
        action: tpbulk::journal::Action::Create,
        device_uid: None,
        previous: None,
        message: None,
        kind: Some(Kind::Otaa),
        id: Some(format!("70B3D57ED{row:07X}")),
        name: Some(format!("sensor-{row}")),
        state: RowState::Pending,
        request: Some(format!(
            r#"{{"EUI":"70B3D57ED{row:07X}","appKey":"{KEY}"}}"#
        )),
        errors: vec![],
        device_href: None,
        device_eui: None,
        keys: tpbulk::device::LookupKeys {
            eui: Some(format!("70B3D57ED{row:07X}")),
            ..Default::default()
        },
    }
}

fn invalid(row: u64) -> NewRow {
    NewRow {
        state: RowState::Invalid,
        request: None,
        errors: vec![RowError {
            field: "dev_eui".into(),
            column: "DevEUI".into(),
            code: ErrorCode::Length,
            message: "15 hex digits, expected 16".into(),
        }],
        ..pending(row)
    }
}

/// A row created by its first request.
fn created(row: u64) -> Outcome {
    Outcome {
        row,
        state: RowState::Done,
        attempts: 1,
        http_status: Some(201),
        error_code: None,
        message: None,
        device_href: Some(format!("/devices/{row}")),
        device_uid: Some(format!("uid-{row}")),
        device_eui: Some(format!("70B3D57ED{row:07X}")),
    }
}

/// Reads a row's state and request through a connection of its own, as another process would.
fn state_from_outside(path: &Path, batch: &str, row: u64) -> (String, Option<String>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT state, request FROM rows WHERE batch = ?1 AND row = ?2",
        rusqlite::params![batch, row as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[cfg(unix)]
/// A journal at `dir/j.db` with one batch of `rows` pending rows, handed to a writer: the start of a run.
fn run_with_pending(
    dir: &Path,
    rows: u64,
) -> (std::path::PathBuf, String, tpbulk::journal::Writer) {
    let path = dir.join("j.db");
    let mut journal = Journal::open(&path).unwrap();
    let batch = journal.create_batch(&new_batch("run")).unwrap();
    journal
        .insert_rows(&batch, (1..=rows).map(pending))
        .unwrap();
    let writer = journal.into_writer(&batch);
    (path, batch, writer)
}

#[test]
fn the_journal_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tpbulk.db");
    let mut journal = Journal::open(&path).unwrap();
    let batch = journal.create_batch(&new_batch("perm")).unwrap();
    journal.insert_rows(&batch, (1..=10).map(pending)).unwrap();
    for name in ["tpbulk.db", "tpbulk.db-wal", "tpbulk.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
    }
}

#[cfg(unix)]
#[test]
fn a_journal_file_that_others_could_read_is_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tpbulk.db");
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    Journal::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn reopening_keeps_batches_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let batch = {
        let mut journal = Journal::open(&path).unwrap();
        let batch = journal.create_batch(&new_batch("first")).unwrap();
        journal.insert_rows(&batch, (2..=4).map(pending)).unwrap();
        batch
    };
    let journal = Journal::open(&path).unwrap();
    let info = journal.batch(&batch).unwrap().expect("batch kept");
    assert_eq!(info.name.as_deref(), Some("first"));
    assert_eq!(info.state, BatchState::Running);
    assert_eq!(info.format, new_batch("x").format);
    assert_eq!(info.columns, new_batch("x").columns);
    assert_eq!(info.options["concurrency"], 8);
    assert_eq!(info.profile.as_deref(), Some("lab"));
    assert_eq!(journal.counts(&batch).unwrap().pending, 3);
}

#[test]
fn a_missing_journal_is_a_usage_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.db");
    let err = Journal::open_existing(&path).unwrap_err();
    assert!(err.downcast_ref::<tpbulk::error::UsageError>().is_some());
    assert!(err.to_string().contains("none.db"), "{err}");
    assert!(!path.exists());
}

/// An import creating its journal while `status` (or a test) opens the same new file: SQLite answers the second
/// switch to WAL with "database is locked" at once, without waiting. Both opens must succeed. Without the retry about
/// one race in 200 failed here.
#[test]
fn two_connections_opening_a_new_journal_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..1000 {
        let path = dir.path().join(format!("race{i}.db"));
        let beside = path.clone();
        let reader = std::thread::spawn(move || {
            while !beside.exists() {
                std::hint::spin_loop();
            }
            Journal::open_existing(&beside).map(drop)
        });
        let created = Journal::open(&path).map(drop);
        let opened = reader.join().unwrap();
        assert!(
            created.is_ok(),
            "race {i}, creating: {:#}",
            created.unwrap_err()
        );
        assert!(
            opened.is_ok(),
            "race {i}, opening beside: {:#}",
            opened.unwrap_err()
        );
    }
}

#[test]
fn counts_and_rows_in_order_with_a_state_filter() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let batch = journal.create_batch(&new_batch("mixed")).unwrap();
    let other = journal.create_batch(&new_batch("other")).unwrap();
    let rows = (2..=25_001).map(|row| {
        if row % 10 == 0 {
            invalid(row)
        } else {
            pending(row)
        }
    });
    journal.insert_rows(&batch, rows).unwrap();
    journal.insert_rows(&other, (2..=3).map(pending)).unwrap();

    let mut exists = pending(25_002);
    exists.state = RowState::Exists;
    exists.device_href = Some("/devices/9".into());
    journal.insert_rows(&batch, [exists]).unwrap();

    assert_eq!(
        journal.counts(&batch).unwrap(),
        Counts {
            total: 25_001,
            created: 0,
            deleted: 0,
            exists: 1,
            gone: 0,
            invalid: 2_500,
            failed: 0,
            pending: 22_500,
            ..Counts::default()
        }
    );
    assert_eq!(journal.counts(&other).unwrap().total, 2);
    assert_eq!(
        journal.count_state(&batch, RowState::Invalid).unwrap(),
        2_500
    );

    let mut seen = Vec::new();
    journal
        .for_each_row(&batch, Some(&[RowState::Invalid]), |r| {
            assert_eq!(r.state, RowState::Invalid);
            assert_eq!(r.errors[0].code, ErrorCode::Length);
            assert_eq!(r.request, None);
            assert!(r.finished_at.is_some());
            seen.push(r.row);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen.len(), 2_500);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seen[0], 10);

    let mut all = 0u64;
    let mut last = 0;
    journal
        .for_each_row(&batch, None, |r| {
            assert!(r.row > last);
            last = r.row;
            all += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(all, 25_001);

    let page = journal
        .rows_after(&batch, Some(&[RowState::Pending]), 8, 3)
        .unwrap();
    assert_eq!(
        page.iter().map(|r| r.row).collect::<Vec<_>>(),
        vec![9, 11, 12]
    );
    assert!(page[0].request.as_deref().unwrap().contains(KEY));

    // The callback's error stops the stream and comes back.
    let err = journal
        .for_each_row(&batch, None, |r| {
            anyhow::ensure!(r.row < 5, "stop at {}", r.row);
            Ok(())
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "stop at 5");
}

#[test]
fn final_rows_never_keep_their_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let batch = journal.create_batch(&new_batch("keys")).unwrap();
    let mut failed_up_front = pending(3);
    failed_up_front.state = RowState::Failed;
    journal
        .insert_rows(&batch, [pending(1), pending(2), failed_up_front])
        .unwrap();
    assert_eq!(journal.row(&batch, 3).unwrap().unwrap().request, None);

    journal
        .record_outcomes(
            &batch,
            [Outcome {
                state: RowState::Exists,
                ..created(1)
            }],
        )
        .unwrap();
    let row = journal.row(&batch, 1).unwrap().unwrap();
    assert_eq!(row.state, RowState::Exists);
    assert_eq!(row.request, None);
    assert_eq!(row.device_href.as_deref(), Some("/devices/1"));

    journal.set_row_state(&batch, 2, RowState::Sending).unwrap();
    let row = journal.row(&batch, 2).unwrap().unwrap();
    assert!(row.request.is_some());
    assert_eq!(row.attempts, 1);
    journal.set_row_state(&batch, 2, RowState::Failed).unwrap();
    assert_eq!(journal.row(&batch, 2).unwrap().unwrap().request, None);

    assert!(journal.record_outcomes(&batch, [created(99)]).is_err());
}

/// The run's committed sending window, read through a connection of its own.
fn window_from_outside(path: &Path, batch: &str) -> Option<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT sending_through FROM batches WHERE id = ?1",
        [batch],
        |r| r.get(0),
    )
    .unwrap()
}

/// Polls until row `row` reads `state` from outside, for at most 5 s.
async fn wait_for_state(path: &Path, batch: &str, row: u64, state: &str) -> Option<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (now, request) = state_from_outside(path, batch, row);
        if now == state {
            return request;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "row {row} is still {now}, not {state}, after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_returns_once_a_window_holding_the_row_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, batch, writer) = run_with_pending(dir.path(), 200);
    assert_eq!(window_from_outside(&path, &batch), None);

    writer.sending(2).await.unwrap();
    let window = tpbulk::journal::WINDOW as i64;
    assert_eq!(window_from_outside(&path, &batch), Some(2 + window));
    let (state, request) = state_from_outside(&path, &batch, 2);
    assert_eq!(
        state, "pending",
        "the window, not the row, says it may be out"
    );
    assert!(
        request.unwrap().contains(KEY),
        "the request is kept while in flight"
    );

    // Rows inside the window go without a commit of their own; the first row past it moves the window.
    let commits = writer.commits();
    writer.sending(3).await.unwrap();
    writer.sending(2 + tpbulk::journal::WINDOW).await.unwrap();
    assert_eq!(writer.commits(), commits);
    assert_eq!(window_from_outside(&path, &batch), Some(2 + window));
    writer.sending(3 + tpbulk::journal::WINDOW).await.unwrap();
    assert_eq!(writer.commits(), commits + 1);
    assert_eq!(window_from_outside(&path, &batch), Some(3 + 2 * window));

    // Nobody waits on an outcome: it is committed with the next window, or alone after the writer has been idle
    // for a moment; either way it lands without a `finish`.
    writer.outcome(created(2)).unwrap();
    assert_eq!(wait_for_state(&path, &batch, 2, "done").await, None);

    writer
        .outcome(Outcome {
            state: RowState::Failed,
            ..created(42_000)
        })
        .unwrap();
    let err = writer.finish().await.unwrap_err();
    assert!(err.to_string().contains("no row 42000"), "{err}");

    let journal = Journal::open(&path).unwrap();
    let row = journal.row(&batch, 2).unwrap().unwrap();
    assert_eq!(row.attempts, 1);
    assert_eq!(row.device_uid.as_deref(), Some("uid-2"));
    assert_eq!(row.http_status, Some(201));
    assert!(row.finished_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_marks_the_rows_told_to_send_without_an_outcome_sending_and_clears_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let (path, batch, writer) = run_with_pending(dir.path(), 10);
    for row in [1, 2, 4] {
        writer.sending(row).await.unwrap();
    }
    writer.outcome(created(1)).unwrap();
    // Row 4 was sent, its answer asked for a retry, and the run stopped: the pool says so.
    writer
        .outcome(Outcome {
            state: RowState::Sending,
            http_status: None,
            device_href: None,
            device_uid: None,
            device_eui: None,
            ..created(4)
        })
        .unwrap();
    let journal = writer.finish().await.unwrap();

    let states: Vec<(u64, RowState, u32)> = (1..=5)
        .map(|row| {
            let r = journal.row(&batch, row).unwrap().unwrap();
            (row, r.state, r.attempts)
        })
        .collect();
    assert_eq!(
        states,
        [
            (1, RowState::Done, 1),
            // Told to send, no outcome: its worker stopped while the request was out.
            (2, RowState::Sending, 0),
            // Inside the window but never told to send.
            (3, RowState::Pending, 0),
            (4, RowState::Sending, 1),
            (5, RowState::Pending, 0),
        ]
    );
    assert!(journal.row(&batch, 2).unwrap().unwrap().request.is_some());
    assert_eq!(window_from_outside(&path, &batch), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_write_no_new_window_is_granted_and_every_row_of_the_window_is_left_unknown()
{
    let dir = tempfile::tempdir().unwrap();
    let (path, batch, writer) = run_with_pending(dir.path(), 300);
    writer.sending(1).await.unwrap();
    writer.sending(2).await.unwrap();
    writer.outcome(created(2)).unwrap();
    // An outcome the journal cannot write: the run's writes have failed, and what else they lost is not known.
    writer
        .outcome(Outcome {
            state: RowState::Failed,
            ..created(42_000)
        })
        .unwrap();
    // Once the writer has met it, the next window is refused: the run stops instead of sending on.
    let step = tpbulk::journal::WINDOW + 1;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut row = 1;
    let refused = loop {
        row += step;
        match writer.sending(row).await {
            Err(e) => break e,
            Ok(()) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "windows still granted"
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    assert!(refused.to_string().contains("no row 42000"), "{refused}");
    let through = window_from_outside(&path, &batch).unwrap() as u64;
    assert!(writer.finish().await.is_err());

    let journal = Journal::open(&path).unwrap();
    assert_eq!(window_from_outside(&path, &batch), None);
    for r in 1..=300 {
        let expected = match r {
            2 => RowState::Done,
            r if r <= through => RowState::Sending,
            _ => RowState::Pending,
        };
        assert_eq!(
            journal.row(&batch, r).unwrap().unwrap().state,
            expected,
            "row {r}"
        );
    }
}

/// The id of a process that has ended.
#[cfg(unix)]
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_journal_settles_the_window_of_a_run_that_was_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, batch, writer) = run_with_pending(dir.path(), 100);
    writer.sending(1).await.unwrap();
    writer.sending(2).await.unwrap();
    writer.outcome(created(1)).unwrap();
    wait_for_state(&path, &batch, 1, "done").await;
    let through = window_from_outside(&path, &batch).unwrap();

    // What a SIGKILL leaves: the window on disk, and a runner that is gone. While the runner lives, opening the
    // journal (`status` beside the run) leaves its window alone.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE batches SET runner_pid = ?2 WHERE id = ?1",
        rusqlite::params![batch, std::process::id()],
    )
    .unwrap();
    drop(Journal::open(&path).unwrap());
    assert_eq!(window_from_outside(&path, &batch), Some(through));
    assert_eq!(state_from_outside(&path, &batch, 2).0, "pending");
    conn.execute(
        "UPDATE batches SET runner_pid = ?2 WHERE id = ?1",
        rusqlite::params![batch, dead_pid()],
    )
    .unwrap();
    // The writer below is never finished: its thread is gone with the test, as with the killed process.
    std::mem::forget(writer);

    let journal = Journal::open(&path).unwrap();
    assert_eq!(window_from_outside(&path, &batch), None);
    let through = through as u64;
    for row in 1..=100 {
        let state = journal.row(&batch, row).unwrap().unwrap().state;
        let expected = match row {
            1 => RowState::Done,
            r if r <= through => RowState::Sending,
            _ => RowState::Pending,
        };
        assert_eq!(state, expected, "row {row}");
    }
    // Settled once: a second open changes nothing.
    let at = journal.row(&batch, 2).unwrap().unwrap();
    drop(journal);
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.row(&batch, 2).unwrap().unwrap().state, at.state);
    assert_eq!(
        journal.count_state(&batch, RowState::Sending).unwrap(),
        through - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_asking_to_send_behind_a_full_outcome_queue_waits_for_the_writer() {
    // Inside a window nobody waits for a commit; if the writer falls behind, the outcome queue must not grow
    // without bound: the next worker to ask waits until the thread has taken it.
    let dir = tempfile::tempdir().unwrap();
    let rows = tpbulk::journal::MAX_QUEUED as u64 + 10;
    let (_, batch, writer) = run_with_pending(dir.path(), rows);
    writer.sending(1).await.unwrap();
    for row in 1..=rows {
        writer.outcome(created(row)).unwrap();
    }
    writer.sending(2).await.unwrap();
    assert!(
        writer.queued() < tpbulk::journal::MAX_QUEUED,
        "{} outcomes still queued",
        writer.queued()
    );
    let journal = writer.finish().await.unwrap();
    assert_eq!(journal.counts(&batch).unwrap().created, rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_is_committed_without_waiting_for_another_row() {
    // The last rows of a run, or rows finishing while the pool is paused by a 429: no `sending` follows their
    // outcome, which must still reach the disk soon, not only when the run ends.
    let dir = tempfile::tempdir().unwrap();
    let (path, batch, writer) = run_with_pending(dir.path(), 2);
    writer.sending(1).await.unwrap();
    writer.outcome(created(1)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while state_from_outside(&path, &batch, 1).0 != "done" {
        assert!(
            std::time::Instant::now() < deadline,
            "the outcome was not committed within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    writer.finish().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 4_000u64;
    let (_, batch, writer) = run_with_pending(dir.path(), rows);
    let writer = std::sync::Arc::new(writer);

    let workers = 16u64;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            let mut row = w + 1;
            while row <= rows {
                writer.sending(row).await.unwrap();
                let outcome = if row % 100 == 0 {
                    Outcome {
                        row,
                        state: RowState::Failed,
                        attempts: 1,
                        http_status: Some(400),
                        error_code: Some("bad_request".into()),
                        message: Some("rejected".into()),
                        device_href: None,
                        device_uid: None,
                        device_eui: None,
                    }
                } else {
                    created(row)
                };
                writer.outcome(outcome).unwrap();
                row += workers;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let writer = std::sync::Arc::try_unwrap(writer).unwrap();
    let commits = writer.commits();
    // The write-ahead log is checkpointed and restarted while the run goes on, not only at its end: a
    // million-row batch must not leave gigabytes of log on disk. SQLite restarts it after 1,000 pages (4.1 MB
    // here); a log never restarted was 8.8 MB after these 4,000 rows, and 1.3 GB after 300,000.
    let wal = std::fs::metadata(dir.path().join("j.db-wal"))
        .unwrap()
        .len();
    assert!(
        wal < 6 << 20,
        "the log grew to {wal} bytes over {rows} rows"
    );
    let mut journal = writer.finish().await.unwrap();
    // 8,000 messages from 16 workers who each wait for their commit: groups must form.
    assert!(commits < 4_000, "{commits} commits for {rows} rows");

    let counts = journal.counts(&batch).unwrap();
    assert_eq!(counts.created, 3_960);
    assert_eq!(counts.failed, 40);
    assert_eq!(counts.pending, 0);
    let mut with_request = 0;
    journal
        .for_each_row(&batch, None, |r| {
            assert_eq!(r.attempts, 1);
            with_request += r.request.is_some() as u32;
            Ok(())
        })
        .unwrap();
    assert_eq!(with_request, 0);
    let failed = journal.row(&batch, 100).unwrap().unwrap();
    assert_eq!(failed.error_code.as_deref(), Some("bad_request"));
    assert_eq!(failed.message.as_deref(), Some("rejected"));

    journal.set_batch_state(&batch, BatchState::Done).unwrap();
    assert_eq!(
        journal.batch(&batch).unwrap().unwrap().state,
        BatchState::Done
    );
}

#[tokio::test]
async fn a_writer_dropped_without_finish_still_commits_what_was_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (path, batch, writer) = run_with_pending(dir.path(), 2);
    writer.sending(1).await.unwrap();
    writer.outcome(created(1)).unwrap();
    drop(writer);
    // The thread drains the closed channel on its own; poll until it has committed.
    let mut state = String::new();
    for _ in 0..200 {
        state = state_from_outside(&path, &batch, 1).0;
        if state == "done" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(state, "done");
}

#[test]
fn batches_newest_first_and_the_latest_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let a = journal.create_batch(&new_batch("a")).unwrap();
    let b = journal.create_batch(&new_batch("b")).unwrap();
    assert_ne!(a, b);
    assert!(a.starts_with('b') && a.len() <= 24, "{a}");
    let ids: Vec<String> = journal
        .batches()
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, vec![b.clone(), a.clone()]);

    journal.set_batch_state(&b, BatchState::Done).unwrap();
    journal
        .set_batch_state(&a, BatchState::Interrupted)
        .unwrap();
    assert_eq!(journal.latest_batch(false).unwrap().unwrap().id, b);
    assert_eq!(journal.latest_batch(true).unwrap().unwrap().id, a);
    assert_eq!(journal.resolve_batch(None).unwrap().id, b);
    assert_eq!(journal.resolve_batch(Some(&a)).unwrap().id, a);
    let err = journal.resolve_batch(Some("nope")).unwrap_err();
    assert!(err.downcast_ref::<tpbulk::error::UsageError>().is_some());

    journal
        .update_batch_options(&a, &serde_json::json!({"rate": 50.0}))
        .unwrap();
    assert_eq!(journal.batch(&a).unwrap().unwrap().options["rate"], 50.0);
    assert!(journal.set_batch_state("nope", BatchState::Done).is_err());
}

#[test]
fn streaming_while_another_connection_finishes_rows_sees_each_row_once_at_most() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let mut journal = Journal::open(&path).unwrap();
    let batch = journal.create_batch(&new_batch("live")).unwrap();
    journal
        .insert_rows(&batch, (1..=5_000).map(pending))
        .unwrap();
    let reader = journal.reader().unwrap();

    let mut seen = std::collections::HashSet::new();
    reader
        .for_each_row(&batch, Some(&[RowState::Pending, RowState::Sending]), |r| {
            assert!(seen.insert(r.row), "row {} seen twice", r.row);
            // Rows already handed out move on; rows far ahead finish before their page is read.
            journal.set_row_state(&batch, r.row, RowState::Sending)?;
            if r.row + 2_500 <= 5_000 && r.row % 2 == 0 {
                journal
                    .record_outcomes(&batch, [created(r.row + 2_500)])
                    .unwrap();
            }
            Ok(())
        })
        .unwrap();
    // Rows 2,502..5,000 (even) were finished by the other connection before their page was read.
    assert_eq!(seen.len(), 5_000 - 1_250);
    assert!(!seen.contains(&2_502));
    assert!(seen.contains(&2_501));

    let mut nothing = 0;
    let mut done = journal;
    done.record_outcomes(&batch, (1..=5_000).map(created))
        .unwrap();
    done.for_each_row(&batch, Some(&[RowState::Pending]), |_| {
        nothing += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(nothing, 0);
}

#[test]
fn a_running_batch_whose_process_is_gone_reads_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let mut journal = Journal::open(&path).unwrap();
    let batch = journal.create_batch(&new_batch("killed")).unwrap();
    let info = journal.batch(&batch).unwrap().unwrap();
    assert_eq!(info.runner_pid, Some(std::process::id()));
    assert_eq!(info.effective_state(), BatchState::Running);

    // A process that has exited: its pid is free (reuse within this test is not a concern).
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE batches SET runner_pid = ?1 WHERE id = ?2",
        rusqlite::params![dead, batch],
    )
    .unwrap();
    let info = journal.batch(&batch).unwrap().unwrap();
    assert_eq!(info.state, BatchState::Running);
    assert_eq!(info.effective_state(), BatchState::Interrupted);

    journal.set_batch_state(&batch, BatchState::Done).unwrap();
    let info = journal.batch(&batch).unwrap().unwrap();
    assert_eq!(info.runner_pid, None);
    assert_eq!(info.effective_state(), BatchState::Done);
}

/// A journal written by the release before operations (schema 3; `tests/fixtures/journal-v3/make.sh` made it with
/// the release of e574de0): an import of six rows (four created, one that existed, one invalid) whose rollback, in
/// the `rollback_deletions` table of that release, deleted three devices and found one gone; and a second import.
#[test]
fn a_journal_written_before_operations_is_migrated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal-v3.db");
    std::fs::copy("tests/fixtures/journal-v3/journal-v3.db", &path).unwrap();
    let journal = Journal::open(&path).unwrap();

    // The imports are listed, the rollback they gained is not.
    let batches = journal.batches().unwrap();
    let names: Vec<_> = batches.iter().map(|b| b.name.as_deref().unwrap()).collect();
    assert_eq!(names, ["fixture-b", "fixture-a"]);
    let a = &batches[1];
    let counts = journal.counts(&a.id).unwrap();
    assert_eq!(
        (counts.total, counts.created, counts.exists, counts.invalid),
        (6, 4, 1, 1)
    );
    // The deletions moved into the rollback's batch of `delete` operations.
    assert_eq!(journal.undone_count(&a.id).unwrap(), 4);
    let rollback = journal
        .batch(&Journal::rollback_id(&a.id))
        .unwrap()
        .unwrap();
    assert_eq!(
        (rollback.action, rollback.undoes.as_deref()),
        (tpbulk::journal::Action::Delete, Some(a.id.as_str()))
    );
    let mut undone = tpbulk::journal::UndoneCursor::new(&a.id);
    let fates: Vec<Option<RowState>> = (2..=7)
        .map(|row| undone.of(&journal, row).unwrap())
        .collect();
    assert_eq!(
        fates,
        [
            Some(RowState::Done),
            Some(RowState::Done),
            None,
            Some(RowState::Done),
            Some(RowState::Gone),
            None
        ]
    );
    assert_eq!(journal.undone_count(&batches[0].id).unwrap(), 0);
    // Every row is an operation with its lookup keys as columns; `created` reads `done`.
    let row = journal.row(&a.id, 2).unwrap().unwrap();
    assert_eq!(
        (row.state, row.action, row.keys.eui.as_deref()),
        (
            RowState::Done,
            tpbulk::journal::Action::Create,
            Some("70B3D5E756000001")
        )
    );
    drop(journal);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let old_table: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'rollback_deletions'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old_table, 0, "the old table is gone");
}

#[test]
fn one_batch_holds_creations_and_deletions_counted_apart_and_rollback_undoes_only_creations() {
    use tpbulk::journal::Action;
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let batch = journal.create_batch(&new_batch("mixed")).unwrap();
    let delete = |row| {
        let mut r = pending(row);
        r.request = None;
        r.action = Action::Delete;
        r.device_uid = Some(format!("uid-{row}"));
        r
    };
    journal
        .insert_rows(&batch, [pending(1), delete(2), delete(3)])
        .unwrap();
    let rows = journal.rows_after(&batch, None, 0, 10).unwrap();
    let actions: Vec<Action> = rows.iter().map(|r| r.action).collect();
    assert_eq!(actions, [Action::Create, Action::Delete, Action::Delete]);
    assert_eq!(rows[1].device_uid.as_deref(), Some("uid-2"));
    let mut gone = created(3);
    gone.state = RowState::Gone;
    journal
        .record_outcomes(&batch, [created(1), created(2), gone])
        .unwrap();
    let counts = journal.counts(&batch).unwrap();
    assert_eq!(
        (counts.created, counts.deleted, counts.gone, counts.total),
        (1, 1, 1, 3)
    );
    // Undoing the batch deletes what it created, never again what it deleted.
    let info = journal.batch(&batch).unwrap().unwrap();
    let rollback = journal.prepare_rollback(&info).unwrap();
    let undo = journal.rows_after(&rollback, None, 0, 10).unwrap();
    assert_eq!(undo.iter().map(|r| r.row).collect::<Vec<_>>(), [1]);
}

#[test]
fn a_batch_that_sent_nothing_can_be_discarded_and_one_that_sent_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let asked = journal
        .create_batch_of(&new_batch("asked"), tpbulk::journal::Action::Delete)
        .unwrap();
    journal
        .insert_rows(&asked, [pending(1), invalid(2)])
        .unwrap();
    assert_eq!(
        journal.batch(&asked).unwrap().unwrap().action,
        tpbulk::journal::Action::Delete
    );
    journal.discard_batch(&asked).unwrap();
    assert!(journal.batch(&asked).unwrap().is_none());
    assert_eq!(journal.counts(&asked).unwrap(), Counts::default());

    let sent = journal.create_batch(&new_batch("sent")).unwrap();
    journal.insert_rows(&sent, [pending(1)]).unwrap();
    journal.set_row_state(&sent, 1, RowState::Sending).unwrap();
    assert!(journal.discard_batch(&sent).is_err());
    assert_eq!(journal.counts(&sent).unwrap().pending, 1);
}
