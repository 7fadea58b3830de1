//! The single writer of a run: a thread that owns the journal's connection and commits in small groups.
//!
//! **Sending, by window.** No request leaves before the journal holds, committed, that it may leave. Rather than one
//! row at a time, the writer commits a window: `batches.sending_through`, meaning "rows of this batch up to here that
//! are still `pending` may have been sent". A worker whose row is inside the committed window sends at once; the
//! first worker past it wakes the thread, which commits a window reaching [`WINDOW`] rows further and then answers
//! every worker waiting on it. Rows reach the pool in row order, so one commit serves the next rows of every worker
//! (a commit per row was most of the importer's cost: see the README's speed section).
//!
//! **Settling.** When the run ends, [`Writer::finish`] turns the window back into rows: every row told to send whose
//! outcome never came becomes `sending` (unknown: `resume` reconciles it), the window is cleared, and the journal
//! reads exactly as if each row had been marked on its own. A run killed without that (SIGKILL, power loss)
//! leaves the window on disk; the next open of the journal finds its runner gone and settles it the same way, all
//! rows of the window included (`Journal::open`).
//!
//! **Outcomes**, which nobody waits for, are queued without waking the thread (a wake-up per row cost more than
//! writing the row). The thread takes them when it next wakes for a window or at its [`IDLE_COMMIT`] tick, and
//! commits them then; a worker asking to send while more than [`MAX_QUEUED`] wait wakes it and waits for it. A crash
//! before that leaves those rows inside the window, which `resume` settles by asking the platform, as for any row
//! whose answer was lost.

use super::{Journal, Outcome, apply_outcome, now, outcome_statement};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Messages applied in one transaction at most; bounds the time a waiting worker sits behind a large group.
const MAX_GROUP: usize = 8_192;
/// How long outcomes may wait for the next window to be committed with before they are committed alone.
const IDLE_COMMIT: std::time::Duration = std::time::Duration::from_millis(50);
/// How far a committed window reaches past the row that needed it, in row numbers. A run killed without a word leaves
/// at most this many rows that never left, besides those whose answer it lost, for `resume` to check on the platform
/// before sending them.
pub const WINDOW: u64 = 64;

/// Outcomes queued beyond this make the next worker that asks to send wait until the thread has taken them: the
/// queue's memory stays bounded when the writer falls behind (workers no longer wait for commits inside a window).
pub const MAX_QUEUED: usize = 4_096;

/// The answer to a `sending`: go ahead, or why not.
type Ack = oneshot::Sender<Result<(), String>>;

enum Msg {
    Sending { row: u64, ack: Ack },
    Finish(oneshot::Sender<anyhow::Result<Journal>>),
}

/// The single writer of a run: a thread that owns the connection and commits in small groups.
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    /// Outcomes wait here, without waking the thread, until it next wakes for a window or its idle tick.
    outcomes: Arc<std::sync::Mutex<Vec<Outcome>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    commits: Arc<AtomicU64>,
    window: Arc<Window>,
}

/// The sending window as the workers see it.
#[derive(Default)]
struct Window {
    /// Rows up to this one may be sent: the last window committed.
    through: AtomicU64,
    /// Rows told to send and without an outcome since: what the window stands for when the run ends.
    in_flight: std::sync::Mutex<HashSet<u64>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    pub(super) fn start(journal: Journal, batch: String) -> Writer {
        let (tx, rx) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let outcomes: Arc<std::sync::Mutex<Vec<Outcome>>> = Arc::default();
        let queued = outcomes.clone();
        let window = Arc::new(Window::default());
        let shared = Shared {
            queued,
            commits: counter,
            window: window.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("tpbulk-journal".into())
            .spawn(move || run(journal, batch, rx, shared))
            .expect("spawning the journal writer thread");
        Writer {
            tx,
            outcomes,
            thread: Some(thread),
            commits,
            window,
        }
    }

    /// Transactions committed so far: far fewer than messages when workers share commits.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Returns once the journal holds, committed, that this row may be sent: at once when the row is inside the
    /// committed window, else after the commit of a new one. Only then may its request leave. The pool asks only for
    /// rows it read as `pending` or `sending`; the row's attempts are counted by its outcome.
    pub async fn sending(&self, row: u64) -> anyhow::Result<()> {
        let behind = self.queued() > MAX_QUEUED;
        if behind || row > self.window.through.load(Ordering::Acquire) {
            let (ack, done) = oneshot::channel();
            self.tx
                .send(Msg::Sending { row, ack })
                .map_err(|_| anyhow::anyhow!("the journal writer has stopped"))?;
            match done.await {
                Ok(Ok(())) => {}
                Ok(Err(message)) => return Err(anyhow::anyhow!(message)),
                Err(_) => return Err(anyhow::anyhow!("the journal writer has stopped")),
            }
        }
        self.window
            .in_flight
            .lock()
            .expect("rows in flight")
            .insert(row);
        Ok(())
    }

    /// Outcomes waiting for the thread to take them.
    pub fn queued(&self) -> usize {
        self.outcomes.lock().expect("outcome queue").len()
    }

    /// Records a row's outcome (committed with the next window, or within [`IDLE_COMMIT`]); final states drop the
    /// stored request.
    pub fn outcome(&self, outcome: Outcome) -> anyhow::Result<()> {
        // The thread holds the other handle to the queue for as long as it runs.
        anyhow::ensure!(
            Arc::strong_count(&self.outcomes) > 1,
            "the journal writer has stopped"
        );
        self.window
            .in_flight
            .lock()
            .expect("rows in flight")
            .remove(&outcome.row);
        self.outcomes.lock().expect("outcome queue").push(outcome);
        Ok(())
    }

    /// Commits everything, settles the window (rows told to send and without an outcome become `sending`), stops
    /// the thread and gives the journal back. An outcome that could not be written is reported here.
    pub async fn finish(mut self) -> anyhow::Result<Journal> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Finish(ack))
            .map_err(|_| anyhow::anyhow!("the journal writer has stopped"))?;
        let journal = done
            .await
            .map_err(|_| anyhow::anyhow!("the journal writer has stopped"))?;
        if let Some(thread) = self.thread.take() {
            // The thread has handed the journal back and is returning: joining does not wait on I/O.
            let _ = thread.join();
        }
        journal
    }
}

/// What the thread shares with the [`Writer`].
struct Shared {
    queued: Arc<std::sync::Mutex<Vec<Outcome>>>,
    commits: Arc<AtomicU64>,
    window: Arc<Window>,
}

fn run(mut journal: Journal, batch: String, rx: mpsc::Receiver<Msg>, shared: Shared) {
    let take = || std::mem::take(&mut *shared.queued.lock().expect("outcome queue"));
    let mut log = Log {
        first_error: None,
        open: false,
        commits: shared.commits.clone(),
        through: 0,
    };
    let mut group = Vec::with_capacity(1024);
    loop {
        let first = match rx.recv_timeout(IDLE_COMMIT) {
            Ok(msg) => Some(msg),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let outcomes = take();
                if !outcomes.is_empty() {
                    log.outcomes(&mut journal, &batch, &outcomes);
                }
                log.commit(&journal);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
        };
        let Some(first) = first else { break };
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(msg) => group.push(msg),
                Err(_) => break,
            }
        }
        let mut sendings = Vec::new();
        let mut finish = None;
        for msg in group.drain(..) {
            match msg {
                Msg::Sending { row, ack } => sendings.push((row, ack)),
                Msg::Finish(ack) => finish = Some(ack),
            }
        }
        // Every outcome queued before the last message was sent (`finish` comes after the pool's last outcome).
        let outcomes = take();
        // Workers wait on the window: it is committed (with the outcomes applied since the last commit) and answered
        // first. A row's outcome is queued after its request left, so after the window that covered it was
        // committed: the order within a group does not matter.
        if !sendings.is_empty() {
            log.send(&mut journal, &batch, sendings, &shared.window);
        }
        // Outcomes are applied while the workers' requests are in flight, and committed with the next window.
        if !outcomes.is_empty() {
            log.outcomes(&mut journal, &batch, &outcomes);
        }
        if let Some(ack) = finish {
            log.settle(&mut journal, &batch, &shared.window);
            let result = match log.first_error.take() {
                None => Ok(journal),
                Some(err) => Err(err),
            };
            let _ = ack.send(result);
            return;
        }
    }
    // Every Writer handle is gone without `finish` (e.g. a panic upstream): commit what was queued and settle.
    let outcomes = take();
    if !outcomes.is_empty() {
        log.outcomes(&mut journal, &batch, &outcomes);
    }
    log.settle(&mut journal, &batch, &shared.window);
}

/// The writer's transaction state: whether outcomes wait uncommitted in an open transaction, and the first error.
struct Log {
    first_error: Option<anyhow::Error>,
    open: bool,
    commits: Arc<AtomicU64>,
    /// The window committed so far (0: none yet).
    through: u64,
}

impl Log {
    fn fail(&mut self, err: anyhow::Error) {
        if self.first_error.is_none() {
            self.first_error = Some(err);
        }
    }

    fn begin(&mut self, journal: &Journal) -> rusqlite::Result<()> {
        if !self.open {
            journal.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.open = true;
        }
        Ok(())
    }

    /// Commits the open transaction, if any; on failure what it held is rolled back and the error kept.
    fn commit(&mut self, journal: &Journal) -> bool {
        if !self.open {
            return true;
        }
        self.open = false;
        match journal.conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.commits.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                let _ = journal.conn.execute_batch("ROLLBACK");
                self.fail(anyhow::Error::new(e).context(format!(
                    "{}: cannot write to the journal",
                    journal.path.display()
                )));
                false
            }
        }
    }

    /// Abandons the open transaction after a failed statement.
    fn abandon(&mut self, journal: &Journal, err: rusqlite::Error) -> String {
        if self.open {
            let _ = journal.conn.execute_batch("ROLLBACK");
            self.open = false;
        }
        let err = anyhow::Error::new(err).context(format!(
            "{}: cannot write to the journal",
            journal.path.display()
        ));
        let message = format!("{err:#}");
        self.fail(err);
        message
    }

    /// Commits a window reaching [`WINDOW`] rows past the highest row waiting, then answers each waiting worker. A
    /// failed commit refuses every row waiting, so none of them is sent; so does any earlier failure of the run's
    /// writes, which stops the run as it did when each row was committed on its own.
    fn send(
        &mut self,
        journal: &mut Journal,
        batch: &str,
        sendings: Vec<(u64, Ack)>,
        window: &Window,
    ) {
        let top = sendings.iter().map(|(row, _)| *row).max().unwrap_or(0);
        let mut failure = self.first_error.as_ref().map(|e| format!("{e:#}"));
        if failure.is_none() && top > self.through {
            let through = top + WINDOW;
            let written = self.begin(journal).and_then(|()| {
                journal
                    .conn
                    .prepare_cached("UPDATE batches SET sending_through = ?2 WHERE id = ?1")?
                    .execute(rusqlite::params![batch, through as i64])
            });
            failure = match written {
                Ok(_) if self.commit(journal) => None,
                Ok(_) => Some(format!(
                    "{}: cannot write to the journal (commit failed)",
                    journal.path.display()
                )),
                Err(e) => Some(self.abandon(journal, e)),
            };
            if failure.is_none() {
                self.through = through;
                window.through.store(through, Ordering::Release);
            }
        }
        for (_, ack) in sendings {
            let _ = ack.send(match &failure {
                None => Ok(()),
                Some(message) => Err(message.clone()),
            });
        }
    }

    /// Ends the run's window in the transaction that commits the last outcomes, and clears it. Rows told to send and
    /// without an outcome (a worker stopped between its request and its answer) become `sending`; other rows within
    /// the window never left and stay `pending`. After a failed write the outcomes it lost are not known, so every
    /// row still `pending` within the window becomes `sending`, as after a kill.
    fn settle(&mut self, journal: &mut Journal, batch: &str, window: &Window) {
        let in_flight = std::mem::take(&mut *window.in_flight.lock().expect("rows in flight"));
        let lost_writes = self.first_error.is_some();
        let at = now();
        let settled = self.begin(journal).and_then(|()| {
            if lost_writes {
                journal.conn.execute(
                    "UPDATE rows SET state = 'sending', updated_at = ?3 \
                     WHERE batch = ?1 AND state = 'pending' AND row <= ?2",
                    rusqlite::params![batch, self.through as i64, at],
                )?;
            } else {
                let mut stmt = journal.conn.prepare_cached(
                    "UPDATE rows SET state = 'sending', updated_at = ?3 \
                     WHERE batch = ?1 AND row = ?2 AND state = 'pending'",
                )?;
                for row in &in_flight {
                    stmt.execute(rusqlite::params![batch, *row as i64, at])?;
                }
            }
            journal.conn.execute(
                "UPDATE batches SET sending_through = NULL WHERE id = ?1",
                [batch],
            )
        });
        match settled {
            Ok(_) => {
                self.commit(journal);
            }
            Err(e) => {
                self.abandon(journal, e);
            }
        }
    }

    /// Applies outcomes in the open transaction (opening one if needed), left open for the next commit.
    fn outcomes(&mut self, journal: &mut Journal, batch: &str, outcomes: &[Outcome]) {
        let at = now();
        let applied = (|| -> rusqlite::Result<Vec<u64>> {
            self.begin(journal)?;
            let mut stmt = outcome_statement(&journal.conn)?;
            let mut unknown = Vec::new();
            for outcome in outcomes {
                if apply_outcome(&mut stmt, batch, outcome, &at)? != 1 {
                    unknown.push(outcome.row);
                }
            }
            Ok(unknown)
        })();
        match applied {
            Ok(unknown) => {
                if let Some(row) = unknown.first() {
                    self.fail(anyhow::anyhow!(
                        "{}: batch {batch} has no row {row} ({} message(s) for unknown rows)",
                        journal.path.display(),
                        unknown.len()
                    ));
                }
            }
            Err(e) => {
                self.abandon(journal, e);
            }
        }
    }
}
