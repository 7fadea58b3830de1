//! The single writer of a run: a thread that owns the journal's connection, drains whatever is queued, marks the
//! queued rows `sending` in one transaction, commits, and only then tells each waiting worker to go ahead. Many
//! workers thus share one commit, and no request leaves before its `sending` is on disk.
//!
//! Outcomes, which nobody waits for, are queued without waking the thread (a wake-up per row cost more than writing
//! the row). The thread takes them when it next wakes for a `sending`, applies them after the acknowledgements,
//! while the requests are in flight, and commits them with the next `sending`, or at its [`IDLE_COMMIT`] tick when
//! none comes. A crash before that leaves those rows `sending`, which `resume` settles by asking the platform, as for
//! any row whose answer was lost.

use super::{Journal, Outcome, apply_outcome, now};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Messages applied in one transaction at most; bounds the time a waiting worker sits behind a large group.
const MAX_GROUP: usize = 8_192;
/// How long outcomes may wait for the next `sending` to be committed with before they are committed alone.
const IDLE_COMMIT: std::time::Duration = std::time::Duration::from_millis(50);

/// The answer to a `sending`: go ahead, or why not.
type Ack = oneshot::Sender<Result<(), String>>;

enum Msg {
    Sending { row: u64, ack: Ack },
    Finish(oneshot::Sender<anyhow::Result<Journal>>),
}

/// The single writer of a run: a thread that owns the connection and commits in small groups.
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    /// Outcomes wait here, without waking the thread, until it next wakes for a `sending` or its idle tick.
    outcomes: Arc<std::sync::Mutex<Vec<Outcome>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    commits: Arc<AtomicU64>,
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
        let thread = std::thread::Builder::new()
            .name("tpbulk-journal".into())
            .spawn(move || run(journal, batch, rx, queued, counter))
            .expect("spawning the journal writer thread");
        Writer {
            tx,
            outcomes,
            thread: Some(thread),
            commits,
        }
    }

    /// Transactions committed so far: far fewer than messages when workers share commits.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Marks a row `sending` (attempt + 1) and returns once that is committed: only then may its request leave.
    /// A row that is already final (or unknown) is refused, so nothing is ever sent twice for a finished row.
    pub async fn sending(&self, row: u64) -> anyhow::Result<()> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Sending { row, ack })
            .map_err(|_| anyhow::anyhow!("the journal writer has stopped"))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(anyhow::anyhow!(message)),
            Err(_) => Err(anyhow::anyhow!("the journal writer has stopped")),
        }
    }

    /// Records a row's outcome (committed with the next group, within [`IDLE_COMMIT`]); final states drop the
    /// stored request.
    pub fn outcome(&self, outcome: Outcome) -> anyhow::Result<()> {
        // The thread holds the other handle to the queue for as long as it runs.
        anyhow::ensure!(
            Arc::strong_count(&self.outcomes) > 1,
            "the journal writer has stopped"
        );
        self.outcomes.lock().expect("outcome queue").push(outcome);
        Ok(())
    }

    /// Commits everything, stops the thread and gives the journal back. An outcome that could not be written is
    /// reported here.
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

fn run(
    mut journal: Journal,
    batch: String,
    rx: mpsc::Receiver<Msg>,
    queued: Arc<std::sync::Mutex<Vec<Outcome>>>,
    commits: Arc<AtomicU64>,
) {
    let take = || std::mem::take(&mut *queued.lock().expect("outcome queue"));
    let mut log = Log {
        first_error: None,
        open: false,
        commits,
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
        // Workers wait on their `sending`: it is committed (with the outcomes applied since the last commit) and
        // acknowledged first. A row's outcome never shares a group with its own `sending`, which had to be
        // acknowledged before its request left, so the order within a group does not matter.
        if !sendings.is_empty() {
            log.send(&mut journal, &batch, sendings);
        }
        // Outcomes are applied while the workers' requests are in flight, and committed with the next `sending`.
        if !outcomes.is_empty() {
            log.outcomes(&mut journal, &batch, &outcomes);
        }
        if let Some(ack) = finish {
            log.commit(&journal);
            let result = match log.first_error.take() {
                None => Ok(journal),
                Some(err) => Err(err),
            };
            let _ = ack.send(result);
            return;
        }
    }
    // Every Writer handle is gone without `finish` (e.g. a panic upstream): commit what was queued and applied.
    let outcomes = take();
    if !outcomes.is_empty() {
        log.outcomes(&mut journal, &batch, &outcomes);
    }
    log.commit(&journal);
}

/// The writer's transaction state: whether outcomes wait uncommitted in an open transaction, and the first error.
struct Log {
    first_error: Option<anyhow::Error>,
    open: bool,
    commits: Arc<AtomicU64>,
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

    /// Marks rows `sending`, commits, then answers each waiting worker. A commit failure refuses every row of the
    /// group, so none of them is sent; a row that is already final (or unknown) is refused on its own.
    fn send(&mut self, journal: &mut Journal, batch: &str, sendings: Vec<(u64, Ack)>) {
        let path = journal.path.display().to_string();
        let at = now();
        let marked = (|| -> rusqlite::Result<Vec<bool>> {
            self.begin(journal)?;
            let mut stmt = journal.conn.prepare_cached(
                "UPDATE rows SET state = 'sending', attempts = attempts + 1, updated_at = ?3 \
                 WHERE batch = ?1 AND row = ?2 AND state IN ('pending', 'sending')",
            )?;
            sendings
                .iter()
                .map(|(row, _)| Ok(stmt.execute(rusqlite::params![batch, *row as i64, at])? == 1))
                .collect()
        })();
        let (marked, failure) = match marked {
            Ok(marked) if self.commit(journal) => (marked, None),
            Ok(_) => (
                Vec::new(),
                Some(format!(
                    "{path}: cannot write to the journal (commit failed)"
                )),
            ),
            Err(e) => (Vec::new(), Some(self.abandon(journal, e))),
        };
        let mut unknown = Vec::new();
        for (i, (row, ack)) in sendings.into_iter().enumerate() {
            let answer = match (&failure, marked.get(i)) {
                (Some(message), _) => Err(message.clone()),
                (None, Some(true)) => Ok(()),
                (None, _) => {
                    unknown.push(row);
                    Err(format!(
                        "{path}: batch {batch} has no row {row} still to send (unknown, or already final)"
                    ))
                }
            };
            let _ = ack.send(answer);
        }
        if let Some(row) = unknown.first() {
            self.fail(anyhow::anyhow!(
                "{path}: batch {batch} has no row {row} ({} message(s) for unknown rows)",
                unknown.len()
            ));
        }
    }

    /// Applies outcomes in the open transaction (opening one if needed), left open for the next commit.
    fn outcomes(&mut self, journal: &mut Journal, batch: &str, outcomes: &[Outcome]) {
        let at = now();
        let applied = (|| -> rusqlite::Result<Vec<u64>> {
            self.begin(journal)?;
            let mut unknown = Vec::new();
            for outcome in outcomes {
                if apply_outcome(&journal.conn, batch, outcome, &at)? != 1 {
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
