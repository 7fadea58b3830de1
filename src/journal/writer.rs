//! The single writer of a run: a thread that owns the journal's connection, drains whatever is queued, applies it in
//! one transaction, commits, and only then tells each waiting `sending` caller to go ahead. Many workers thus share
//! one commit, and no request leaves before its `sending` is on disk.

use super::{Journal, Outcome, apply_outcome, now};
use anyhow::Context;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Messages applied in one transaction at most; bounds the time a waiting worker sits behind a large group.
const MAX_GROUP: usize = 8_192;

enum Msg {
    Sending {
        row: u64,
        ack: oneshot::Sender<Result<(), String>>,
    },
    Outcome(Outcome),
    Finish(oneshot::Sender<anyhow::Result<Journal>>),
}

/// The single writer of a run: a thread that owns the connection and commits in small groups.
pub struct Writer {
    tx: mpsc::Sender<Msg>,
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
        let thread = std::thread::Builder::new()
            .name("tpbulk-journal".into())
            .spawn(move || run(journal, batch, rx, counter))
            .expect("spawning the journal writer thread");
        Writer {
            tx,
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

    /// Records a row's outcome (committed with the next group); final states drop the stored request.
    pub fn outcome(&self, outcome: Outcome) -> anyhow::Result<()> {
        self.tx
            .send(Msg::Outcome(outcome))
            .map_err(|_| anyhow::anyhow!("the journal writer has stopped"))
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

fn run(mut journal: Journal, batch: String, rx: mpsc::Receiver<Msg>, commits: Arc<AtomicU64>) {
    let mut first_error: Option<anyhow::Error> = None;
    let mut group = Vec::with_capacity(1024);
    while let Ok(first) = rx.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(msg) => group.push(msg),
                Err(_) => break,
            }
        }
        let finish = match group.last() {
            Some(Msg::Finish(_)) => group.pop(),
            _ => None,
        };
        if !group.is_empty() {
            match apply_group(&mut journal, &batch, &mut group) {
                Ok(()) => {
                    commits.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => {
                    if first_error.is_none() {
                        first_error = Some(err);
                    }
                }
            }
        }
        if let Some(Msg::Finish(ack)) = finish {
            let result = match first_error.take() {
                None => Ok(journal),
                Some(err) => Err(err),
            };
            let _ = ack.send(result);
            return;
        }
    }
    // Every Writer handle is gone without `finish` (e.g. a panic upstream): what was queued is committed above.
}

/// Applies a group in one transaction. Acks go out after the commit; if the commit fails, every waiting `sending`
/// learns so and none of them may send. A message naming a row the batch lacks is refused on its own and does not
/// hold back the rest of the group; so is a `sending` for a row that is already final, which must never be sent
/// again.
fn apply_group(journal: &mut Journal, batch: &str, group: &mut Vec<Msg>) -> anyhow::Result<()> {
    let path = journal.path.display().to_string();
    let at = now();
    let mut unknown_rows: Vec<u64> = Vec::new();
    let mut refused: Vec<bool> = vec![false; group.len()];
    let result = (|| -> anyhow::Result<()> {
        let tx = journal.conn.transaction()?;
        {
            let mut sending = tx.prepare_cached(
                "UPDATE rows SET state = 'sending', attempts = attempts + 1, updated_at = ?3 \
                 WHERE batch = ?1 AND row = ?2 AND state IN ('pending', 'sending')",
            )?;
            for (i, msg) in group.iter().enumerate() {
                let (row, changed) = match msg {
                    Msg::Sending { row, .. } => (
                        *row,
                        sending.execute(rusqlite::params![batch, *row as i64, at])?,
                    ),
                    Msg::Outcome(outcome) => {
                        (outcome.row, apply_outcome(&tx, batch, outcome, &at)?)
                    }
                    Msg::Finish(_) => continue,
                };
                if changed != 1 {
                    refused[i] = true;
                    unknown_rows.push(row);
                }
            }
        }
        tx.commit()?;
        Ok(())
    })()
    .with_context(|| format!("{path}: cannot write to the journal"));
    let failure = result.as_ref().err().map(|e| format!("{e:#}"));
    for (msg, refused) in group.drain(..).zip(refused) {
        if let Msg::Sending { row, ack } = msg {
            let _ = ack.send(match (&failure, refused) {
                (Some(message), _) => Err(message.clone()),
                (None, true) => Err(format!(
                    "{path}: batch {batch} has no row {row} still to send (unknown, or already final)"
                )),
                (None, false) => Ok(()),
            });
        }
    }
    result?;
    match unknown_rows.first() {
        None => Ok(()),
        Some(row) => Err(anyhow::anyhow!(
            "{path}: batch {batch} has no row {row} ({} message(s) for unknown rows)",
            unknown_rows.len()
        )),
    }
}
