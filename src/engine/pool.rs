//! The worker pool. A claimer takes rows from the feed, pays each one's permit, journals them `sending` in groups and
//! hands them to N workers, which create the devices, classify the answers, reconcile unknown outcomes and record
//! each row's final outcome. Pacing (the shared rate limiter and pool-wide pause) lives in the client; the pool adds
//! the concurrency bound, per-row backoff and stopping rules.
//!
//! Claiming ahead is what keeps the journal off each request's path: while the workers' requests are in flight, the
//! next rows' `sending` is committed in one transaction for the group, instead of one short transaction per row with
//! a worker waiting on each. A row is claimed only once its permit is paid; at most one row per worker waits claimed
//! for a free worker; a claimed row caught by a pool-wide pause that began after it was claimed waits for the pause
//! and a fresh permit; and rows still waiting when the run stops go back to `pending`.

use super::retry::{Backoff, MAX_ATTEMPTS, MAX_THROTTLED, Verdict, classify};
use super::{Counters, Platform, RowLog, WorkItem};
use crate::device::Kind;
use crate::journal::{Outcome, RowState};
use crate::platform::{ApiError, DeviceInfo};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

/// How the pool runs.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub concurrency: usize,
    /// Stop taking rows after this many rows failed in this run.
    pub max_errors: Option<u64>,
    pub backoff: Backoff,
    /// Milliseconds since the epoch when the batch started: a device found by reconciliation that the platform
    /// says was created earlier was not created by this batch.
    pub batch_started_ms: Option<i64>,
}

/// Why the pool stopped before its channel ran dry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Every row was taken and finished.
    Drained,
    /// Ctrl-C / SIGTERM (the caller's token).
    Cancelled,
    /// Ctrl-C / SIGTERM while the rows were still being checked and journalled: nothing was sent, the batch is
    /// not resumable and the file (named here) is imported again.
    CancelledPreparing { input: String },
    /// `--max-errors` reached.
    MaxErrors,
    /// The credentials were refused mid-run (message has no secret).
    AuthLost(String),
    /// The journal could not be written.
    Journal(String),
}

enum RowEnd {
    Final(Outcome),
    /// Left in `sending` because the run is stopping; resume reconciles it.
    Abandoned,
    Fatal(Stop),
}

/// The rows still to take: chunks from the feeder, and what is left of the chunk being taken. Rows travel in chunks
/// so that the thread reading them from the journal is woken once per chunk, not once per row.
struct Feed {
    chunks: mpsc::Receiver<Vec<WorkItem>>,
    taken: std::collections::VecDeque<WorkItem>,
}

/// A row for a worker. `claimed`: its permit is paid and its `sending` committed, so its request leaves at once.
struct Ready {
    item: WorkItem,
    claimed: bool,
}

/// Rows claimed in one group (one commit) at most: half the workers, so that a group is committed while the rows
/// claimed before it (at most one per worker waits claimed) keep the workers busy.
pub fn claim_window(concurrency: usize) -> usize {
    (concurrency / 2).max(1)
}

impl Feed {
    /// The next row if it is already at hand (read from the journal), without waiting for the feeder.
    fn next_now(&mut self) -> Option<&WorkItem> {
        if self.taken.is_empty()
            && let Ok(chunk) = self.chunks.try_recv()
        {
            self.taken.extend(chunk);
        }
        self.taken.front()
    }

    /// The next row, or `None` once the feeder is done or the run is stopping.
    async fn next(&mut self, stop: &CancellationToken) -> Option<WorkItem> {
        loop {
            if stop.is_cancelled() {
                return None;
            }
            if let Some(item) = self.taken.pop_front() {
                return Some(item);
            }
            let chunk = tokio::select! {
                biased;
                _ = stop.cancelled() => return None,
                chunk = self.chunks.recv() => chunk?,
            };
            self.taken.extend(chunk);
        }
    }
}

/// Runs the pool until `rows` is drained or it has to stop; every row it finishes has its outcome handed to `log`.
pub async fn run<P: Platform, L: RowLog>(
    platform: P,
    log: Arc<L>,
    rows: mpsc::Receiver<Vec<WorkItem>>,
    config: &PoolConfig,
    cancel: CancellationToken,
    counters: Arc<Counters>,
) -> Stop {
    let stop = cancel.child_token();
    let reason: Arc<std::sync::Mutex<Option<Stop>>> = Arc::default();
    let window = claim_window(config.concurrency.max(1));
    let (ready_tx, ready_rx) = mpsc::channel::<Ready>(config.concurrency.max(1));
    let claimer = tokio::spawn(claim(
        platform.clone(),
        log.clone(),
        Feed {
            chunks: rows,
            taken: Default::default(),
        },
        ready_tx,
        stop.clone(),
        window,
    ));
    let rows = Arc::new(Mutex::new(ready_rx));
    let failed_here = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency.max(1) {
        let (platform, log, rows, stop, reason, failed_here, counters, config) = (
            platform.clone(),
            log.clone(),
            rows.clone(),
            stop.clone(),
            reason.clone(),
            failed_here.clone(),
            counters.clone(),
            config.clone(),
        );
        workers.spawn(async move {
            loop {
                let ready = {
                    let mut rows = rows.lock().await;
                    tokio::select! {
                        biased;
                        _ = stop.cancelled() => None,
                        ready = rows.recv() => ready,
                    }
                };
                let Some(Ready { item, claimed }) = ready else {
                    break;
                };
                let cellular = item.kind == Some(Kind::Cellular);
                let end = process(&platform, &*log, item, claimed, &config, &stop).await;
                let outcome = match end {
                    RowEnd::Final(outcome) => outcome,
                    RowEnd::Abandoned => continue,
                    RowEnd::Fatal(why) => {
                        reason.lock().expect("stop reason").get_or_insert(why);
                        stop.cancel();
                        break;
                    }
                };
                let state = outcome.state;
                let unreferenced = cellular
                    && state == RowState::Created
                    && outcome.device_uid.is_none()
                    && outcome.device_href.is_none();
                if let Err(e) = log.outcome(outcome) {
                    reason
                        .lock()
                        .expect("stop reason")
                        .get_or_insert(Stop::Journal(format!("{e:#}")));
                    stop.cancel();
                    break;
                }
                counters.record(state);
                if unreferenced {
                    counters.unreferenced.fetch_add(1, Ordering::Relaxed);
                }
                if state == RowState::Failed {
                    let n = failed_here.fetch_add(1, Ordering::SeqCst) + 1;
                    if config.max_errors.is_some_and(|max| n >= max) {
                        reason
                            .lock()
                            .expect("stop reason")
                            .get_or_insert(Stop::MaxErrors);
                        stop.cancel();
                    }
                }
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            reason
                .lock()
                .expect("stop reason")
                .get_or_insert(Stop::Journal(format!("worker failed: {e}")));
            stop.cancel();
        }
    }
    // The workers are gone: the claimer stops at its next step, if it has not already.
    stop.cancel();
    let claimed = match claimer.await {
        Ok(Ok(())) => None,
        Ok(Err(why)) => Some(why),
        Err(e) => Some(Stop::Journal(format!("the claimer failed: {e}"))),
    };
    if let Some(why) = claimed {
        reason.lock().expect("stop reason").get_or_insert(why);
    }
    // Rows claimed but never taken by a worker: their requests never left.
    let mut ready = rows.lock().await;
    ready.close();
    let mut unsent = Vec::new();
    while let Ok(Ready { item, claimed }) = ready.try_recv() {
        if claimed {
            unsent.push(item.row);
        }
    }
    if !unsent.is_empty()
        && let Err(e) = log.unsend(unsent)
    {
        reason
            .lock()
            .expect("stop reason")
            .get_or_insert(Stop::Journal(format!("{e:#}")));
    }
    let why = reason.lock().expect("stop reason").take();
    match why {
        Some(why) => why,
        None if cancel.is_cancelled() => Stop::Cancelled,
        None => Stop::Drained,
    }
}

/// Feeds the workers: waits for room for a whole group, takes rows, pays each one's permit (the first waits for it,
/// the others join the group only if a permit is free right now) and journals the group `sending` in one commit
/// before handing it over. Rows found `sending` on resume go through unclaimed: they are reconciled first.
async fn claim<P: Platform, L: RowLog>(
    platform: P,
    log: Arc<L>,
    mut feed: Feed,
    ready: mpsc::Sender<Ready>,
    stop: CancellationToken,
    window: usize,
) -> Result<(), Stop> {
    loop {
        let mut room = tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(()),
            room = ready.reserve_many(window) => match room {
                Ok(room) => room,
                Err(_) => return Ok(()),
            },
        };
        let Some(mut item) = feed.next(&stop).await else {
            return Ok(());
        };
        let mut group = Vec::with_capacity(window);
        loop {
            if item.unknown {
                let slot = room.next().expect("a slot for every row taken");
                slot.send(Ready {
                    item,
                    claimed: false,
                });
            } else if group.is_empty() {
                tokio::select! {
                    biased;
                    // The row is still `pending`: nothing to undo.
                    _ = stop.cancelled() => return Ok(()),
                    _ = platform.pace() => {}
                }
                group.push(item);
            } else if platform.try_pace() {
                group.push(item);
            } else {
                // No permit at hand: the row heads the next group.
                feed.taken.push_front(item);
                break;
            }
            // The group's slots are used once it is committed.
            if room.len() == group.len() || feed.next_now().is_none() {
                break;
            }
            item = feed.taken.pop_front().expect("a row at hand");
        }
        if group.is_empty() {
            continue;
        }
        let rows = group.iter().map(|item| item.row).collect();
        if let Err(e) = log.sending(rows).await {
            stop.cancel();
            return Err(Stop::Journal(format!("{e:#}")));
        }
        for (item, slot) in group.into_iter().zip(room.by_ref()) {
            slot.send(Ready {
                item,
                claimed: true,
            });
        }
    }
}

/// One row to its end. Unknown outcomes (an answer lost, or `sending` found on resume) are reconciled before the
/// request is sent again; a duplicate answer after an unknown outcome means this batch created the device.
async fn process<P: Platform, L: RowLog>(
    platform: &P,
    log: &L,
    item: WorkItem,
    mut claimed: bool,
    config: &PoolConfig,
    stop: &CancellationToken,
) -> RowEnd {
    let Some(request) = item.request.as_ref() else {
        return RowEnd::Final(failed(
            item.row,
            None,
            None,
            "the journal holds no request for this row".into(),
        ));
    };
    let eui = item.eui();
    // Whether an earlier attempt of this row may have reached the platform.
    let mut ours = item.unknown;
    let mut unknown = item.unknown;
    let mut errors = 0u32;
    let mut throttled = 0u32;
    loop {
        if unknown && let Some(eui) = eui.as_deref() {
            match platform.device_by_eui(eui).await {
                Ok(Some(found)) => {
                    tracing::info!(row = item.row, "reconciled: the device was created");
                    return RowEnd::Final(reconciled(item.row, found, config));
                }
                Ok(None) => {}
                Err(e) => match classify(&e) {
                    Verdict::Fatal => return RowEnd::Fatal(Stop::AuthLost(e.to_string())),
                    _ => {
                        errors += 1;
                        if errors >= MAX_ATTEMPTS {
                            return RowEnd::Final(from_error(item.row, &e));
                        }
                        if !pause(config.backoff.delay(errors), stop).await {
                            return RowEnd::Abandoned;
                        }
                        continue;
                    }
                },
            }
        }
        // The permit first, so that a run killed while rows wait for their turn leaves them `pending`, not
        // `sending`. A claimed row has paid for its first attempt already.
        if claimed {
            claimed = false;
            // The pool was paused (429 or 503) after this row was claimed: the permit it paid for is stale, and
            // every claimed row going out the moment the pause ends would be the burst that earns the next one. It
            // waits for the pause and a fresh permit like any other row.
            if platform.paused() {
                tokio::select! {
                    biased;
                    // Never sent: back to `pending`, as for the claimed rows no worker took.
                    _ = stop.cancelled() => {
                        return match log.unsend(vec![item.row]) {
                            Ok(()) => RowEnd::Abandoned,
                            Err(e) => RowEnd::Fatal(Stop::Journal(format!("{e:#}"))),
                        };
                    }
                    _ = platform.pace() => {}
                }
            }
        } else {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return RowEnd::Abandoned,
                _ = platform.pace() => {}
            }
            if let Err(e) = log.sending(vec![item.row]).await {
                return RowEnd::Fatal(Stop::Journal(format!("{e:#}")));
            }
        }
        let err = match platform.create_device(request).await {
            Ok(mut device) => {
                if device.eui.is_empty()
                    && let Some(eui) = &eui
                {
                    device.eui = eui.clone();
                }
                tracing::debug!(row = item.row, "created");
                return RowEnd::Final(created(item.row, device));
            }
            Err(err) => err,
        };
        match classify(&err) {
            Verdict::Duplicate if ours => {
                tracing::info!(row = item.row, "duplicate answer after a lost one: ours");
                let found = match eui.as_deref() {
                    Some(eui) => platform.device_by_eui(eui).await.ok().flatten(),
                    None => None,
                };
                let device = found.unwrap_or_else(|| DeviceInfo {
                    eui: eui.clone().unwrap_or_default(),
                    href: None,
                    uid: None,
                    name: None,
                    creation_date: None,
                    imei: None,
                    sim: None,
                });
                return RowEnd::Final(created(item.row, device));
            }
            Verdict::Duplicate => {
                tracing::info!(row = item.row, "already on the platform");
                return RowEnd::Final(exists(item.row, eui, &err));
            }
            Verdict::Fatal => return RowEnd::Fatal(Stop::AuthLost(err.to_string())),
            Verdict::Final => {
                tracing::info!(row = item.row, error = %err, "failed");
                return RowEnd::Final(from_error(item.row, &err));
            }
            Verdict::Retry {
                maybe_sent,
                throttled: slow_down,
            } => {
                ours |= maybe_sent;
                unknown = maybe_sent;
                let wait = if slow_down && !maybe_sent {
                    throttled += 1;
                    if throttled >= MAX_THROTTLED {
                        return RowEnd::Final(from_error(item.row, &err));
                    }
                    config.backoff.throttle_delay()
                } else {
                    errors += 1;
                    if errors >= MAX_ATTEMPTS {
                        return RowEnd::Final(from_error(item.row, &err));
                    }
                    config.backoff.delay(errors)
                };
                tracing::debug!(row = item.row, error = %err, ?wait, "retrying");
                if !pause(wait, stop).await {
                    return RowEnd::Abandoned;
                }
            }
        }
    }
}

/// Sleeps unless the run is stopping; false when it is.
async fn pause(wait: std::time::Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// How far the platform's clock may lag ours before a `creationDate` earlier than the batch start is believed.
const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

fn reconciled(row: u64, found: DeviceInfo, config: &PoolConfig) -> Outcome {
    let before_batch = matches!(
        (found.creation_date, config.batch_started_ms),
        (Some(created), Some(start)) if created < start - CLOCK_SKEW_MS
    );
    if before_batch {
        Outcome {
            row,
            state: RowState::Exists,
            http_status: None,
            error_code: None,
            message: Some("already on the platform before this batch".into()),
            device_href: found.href,
            device_uid: found.uid,
            device_eui: Some(found.eui),
        }
    } else {
        created(row, found)
    }
}

fn created(row: u64, device: DeviceInfo) -> Outcome {
    Outcome {
        row,
        state: RowState::Created,
        http_status: None,
        error_code: None,
        message: None,
        device_href: device.href,
        device_uid: device.uid,
        device_eui: (!device.eui.is_empty()).then_some(device.eui),
    }
}

fn exists(row: u64, eui: Option<String>, err: &ApiError) -> Outcome {
    let (http_status, error_code, message) = parts(err);
    Outcome {
        row,
        state: RowState::Exists,
        http_status,
        error_code,
        message: Some(message),
        device_href: None,
        device_uid: None,
        device_eui: eui,
    }
}

fn from_error(row: u64, err: &ApiError) -> Outcome {
    let (http_status, error_code, message) = parts(err);
    failed(row, http_status, error_code, message)
}

fn failed(
    row: u64,
    http_status: Option<u16>,
    error_code: Option<String>,
    message: String,
) -> Outcome {
    Outcome {
        row,
        state: RowState::Failed,
        http_status,
        error_code,
        message: Some(message),
        device_href: None,
        device_uid: None,
        device_eui: None,
    }
}

fn parts(err: &ApiError) -> (Option<u16>, Option<String>, String) {
    match err {
        ApiError::Status {
            status,
            code,
            message,
            ..
        } => (Some(*status), code.map(|c| c.to_string()), message.clone()),
        other => (None, None, other.to_string()),
    }
}
