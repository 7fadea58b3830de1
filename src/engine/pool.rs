//! The worker pool: N workers pull operations from one bounded channel, journal `sending`, send the operation's
//! request (create, delete or tag), classify the answer, reconcile unknown outcomes and record each row's final outcome. Pacing (the shared rate limiter and
//! pool-wide pause) lives in the client; the pool adds the concurrency bound, per-row backoff and stopping rules.

use super::reconcile;
use super::retry::{Backoff, MAX_ATTEMPTS, MAX_THROTTLED, Verdict, classify};
use super::{Counters, Operation, Platform, RowLog, WorkItem};
use crate::journal::{Action, Outcome, RowState};
use crate::platform::update::{Change, DeviceState};
use crate::platform::{ApiError, DeviceInfo};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
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
    /// `--force`: updates are applied whatever the device's version (`force=true`), never ending `conflict`.
    pub force: bool,
}

/// Why the pool stopped before its channel ran dry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Every row was taken and finished.
    Drained,
    /// Ctrl-C / SIGTERM (the caller's token).
    Cancelled,
    /// Ctrl-C / SIGTERM while the rows were still being checked and journalled (or a deletion's question was
    /// asked): nothing was sent, the batch is not resumable and the command (`import`, `delete`) is run again on
    /// the file named here.
    CancelledPreparing {
        command: &'static str,
        input: String,
    },
    /// The person answered no to the question before deleting: nothing was sent, and the batch was discarded.
    Declined,
    /// `--max-errors` reached.
    MaxErrors,
    /// The credentials were refused mid-run (message has no secret).
    AuthLost(String),
    /// The journal could not be written.
    Journal(String),
}

enum RowEnd {
    Final(Outcome),
    /// Left unfinished because the run is stopping; resume reconciles it if it was sent.
    Abandoned,
    Fatal(Stop),
}

/// The rows still to take: chunks from the feeder, and what is left of the chunk being taken. Rows travel in chunks
/// so that the thread reading them from the journal is woken once per chunk, not once per row.
struct Feed {
    chunks: mpsc::Receiver<Vec<WorkItem>>,
    taken: std::collections::VecDeque<WorkItem>,
}

impl Feed {
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
    let rows = Arc::new(Mutex::new(Feed {
        chunks: rows,
        taken: Default::default(),
    }));
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
                let item = rows.lock().await.next(&stop).await;
                let Some(item) = item else { break };
                let cellular = item.kind.is_some_and(|k| !k.is_lorawan());
                let row = item.row;
                let item_action = item.action;
                let mut sent = 0;
                let end = match item.operation {
                    Operation::Create(_) => {
                        create(&platform, &*log, item, &config, &stop, &mut sent).await
                    }
                    Operation::Delete(ref reference) => {
                        let reference = reference.clone();
                        delete(&platform, &*log, row, reference, &config, &stop, &mut sent).await
                    }
                    Operation::Tag(ref call) => {
                        let call = call.clone();
                        tag(&platform, &*log, row, call, &config, &stop, &mut sent).await
                    }
                    Operation::Update(ref change) => {
                        let (change, unknown) = (change.clone(), item.unknown);
                        update(
                            &platform, &*log, row, change, unknown, &config, &stop, &mut sent,
                        )
                        .await
                    }
                };
                if sent > 1 {
                    counters
                        .retries
                        .fetch_add(u64::from(sent - 1), Ordering::Relaxed);
                }
                let outcome = match end {
                    RowEnd::Final(outcome) => Outcome {
                        attempts: sent,
                        ..outcome
                    },
                    RowEnd::Abandoned | RowEnd::Fatal(_) => {
                        if sent > 0 {
                            // Sent, its answer unknown or to be retried: `sending` with its attempts, for resume to
                            // reconcile. A journal that cannot take it stops the run anyway, and the next open of
                            // the journal settles the row with the run's window.
                            let _ = log.outcome(Outcome {
                                attempts: sent,
                                ..unknown(row)
                            });
                        }
                        if let RowEnd::Fatal(why) = end {
                            reason.lock().expect("stop reason").get_or_insert(why);
                            stop.cancel();
                            break;
                        }
                        continue;
                    }
                };
                let state = outcome.state;
                let unreferenced = cellular
                    && matches!(item_action, Action::Create)
                    && state == RowState::Done
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
                counters.record(item_action, state);
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
        }
    }
    let why = reason.lock().expect("stop reason").take();
    match why {
        Some(why) => why,
        None if cancel.is_cancelled() => Stop::Cancelled,
        None => Stop::Drained,
    }
}

/// Failed attempts of one row in this run, and the wait before its next attempt.
#[derive(Default)]
struct Attempts {
    errors: u32,
    throttled: u32,
}

impl Attempts {
    /// The wait before the next attempt after a retryable error, or `None` once the row has had its attempts.
    fn next_wait(
        &mut self,
        backoff: &Backoff,
        throttled: bool,
        maybe_sent: bool,
    ) -> Option<Duration> {
        if throttled && !maybe_sent {
            self.throttled += 1;
            (self.throttled < MAX_THROTTLED).then(|| backoff.throttle_delay())
        } else {
            self.errors += 1;
            (self.errors < MAX_ATTEMPTS).then(|| backoff.delay(self.errors))
        }
    }
}

/// Waits for the shared pacing, then journals `sending`: the only way a request leaves. `Err` ends the row.
async fn clear_to_send<P: Platform, L: RowLog>(
    platform: &P,
    log: &L,
    row: u64,
    stop: &CancellationToken,
    sent: &mut u32,
) -> Result<(), RowEnd> {
    // The permit first: a row is told to send only once nothing but the request itself stands between it and the
    // platform, so a run stopped while rows wait for their turn leaves them `pending`, not `sending` (a run killed
    // outright leaves its window, which the next open of the journal settles: see `journal::writer`).
    tokio::select! {
        biased;
        _ = stop.cancelled() => return Err(RowEnd::Abandoned),
        _ = platform.pace() => {}
    }
    if let Err(e) = log.sending(row).await {
        return Err(RowEnd::Fatal(Stop::Journal(format!("{e:#}"))));
    }
    *sent += 1;
    Ok(())
}

/// One deletion to its end. A deletion is idempotent, so an answer lost is simply asked again: `gone` then.
async fn delete<P: Platform, L: RowLog>(
    platform: &P,
    log: &L,
    row: u64,
    reference: Option<String>,
    config: &PoolConfig,
    stop: &CancellationToken,
    sent: &mut u32,
) -> RowEnd {
    let Some(reference) = reference else {
        return lacking(
            row,
            "the journal holds neither the device's uid nor its EUI",
        );
    };
    let reference = &reference;
    let send = move || async move {
        let existed = platform.delete_device(reference).await?;
        Ok(if existed {
            RowState::Done
        } else {
            RowState::Gone
        })
    };
    idempotent(platform, log, row, config, stop, sent, "deletion", send).await
}

/// One tag call to its end. Tagging is idempotent (a device tagged twice has the tag once; untagging a device
/// without the tag is no error), so a call whose answer was lost, or found `sending` on resume, is sent again
/// without reconciling: the devices end as if it had been sent once.
async fn tag<P: Platform, L: RowLog>(
    platform: &P,
    log: &L,
    row: u64,
    call: Option<crate::platform::TagCall>,
    config: &PoolConfig,
    stop: &CancellationToken,
    sent: &mut u32,
) -> RowEnd {
    let Some(call) = call else {
        return lacking(row, "the journal holds no DevEUIs for this tag call");
    };
    let call = &call;
    let send = move || async move {
        platform.tag_devices(call).await?;
        Ok(RowState::Done)
    };
    idempotent(platform, log, row, config, stop, sent, "tag call", send).await
}

/// An idempotent operation (a deletion, a tag call) to its end: sending it twice leaves the platform as sending it
/// once, so an answer lost is simply asked again, with no reconciliation. `send` makes one attempt and gives the
/// row's final state.
#[allow(clippy::too_many_arguments)]
async fn idempotent<P, L, F, Fut>(
    platform: &P,
    log: &L,
    row: u64,
    config: &PoolConfig,
    stop: &CancellationToken,
    sent: &mut u32,
    what: &str,
    send: F,
) -> RowEnd
where
    P: Platform,
    L: RowLog,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<RowState, ApiError>>,
{
    let mut attempts = Attempts::default();
    loop {
        if let Err(end) = clear_to_send(platform, log, row, stop, sent).await {
            return end;
        }
        let err = match send().await {
            Ok(state) => {
                return RowEnd::Final(Outcome {
                    state,
                    ..unknown(row)
                });
            }
            Err(err) => err,
        };
        match classify(&err) {
            Verdict::Fatal => return RowEnd::Fatal(Stop::AuthLost(err.to_string())),
            Verdict::Duplicate | Verdict::Final => {
                tracing::warn!(row, error = %err, "{what} failed");
                return RowEnd::Final(from_error(row, &err));
            }
            Verdict::Retry {
                maybe_sent,
                throttled,
            } => {
                let Some(wait) = attempts.next_wait(&config.backoff, throttled, maybe_sent) else {
                    return RowEnd::Final(from_error(row, &err));
                };
                if !pause(wait, stop).await {
                    return RowEnd::Abandoned;
                }
            }
        }
    }
}

/// One creation to its end. Unknown outcomes (an answer lost, or `sending` found on resume) are reconciled before
/// the request is sent again; a duplicate answer after an unknown outcome means this batch created the device.
async fn create<P: Platform, L: RowLog>(
    platform: &P,
    log: &L,
    item: WorkItem,
    config: &PoolConfig,
    stop: &CancellationToken,
    sent: &mut u32,
) -> RowEnd {
    let Operation::Create(Some(request)) = &item.operation else {
        return RowEnd::Final(failed(
            item.row,
            None,
            None,
            "the journal holds no request for this row".into(),
        ));
    };
    let eui = item.keys.eui.clone();
    // Whether an earlier attempt of this row may have reached the platform.
    let mut ours = item.unknown;
    let mut unknown = item.unknown;
    let mut attempts = Attempts::default();
    loop {
        if unknown && let Some(eui) = eui.as_deref() {
            match platform.device_by_eui(eui).await {
                Ok(found) => {
                    if let Some(outcome) = reconcile::outcome(
                        item.row,
                        reconcile::judge(found, config.batch_started_ms),
                    ) {
                        tracing::info!(row = item.row, "reconciled: the device was created");
                        return RowEnd::Final(outcome);
                    }
                }
                Err(e) => match classify(&e) {
                    Verdict::Fatal => return RowEnd::Fatal(Stop::AuthLost(e.to_string())),
                    _ => {
                        let Some(wait) = attempts.next_wait(&config.backoff, false, true) else {
                            return RowEnd::Final(from_error(item.row, &e));
                        };
                        if !pause(wait, stop).await {
                            return RowEnd::Abandoned;
                        }
                        continue;
                    }
                },
            }
        }
        if let Err(end) = clear_to_send(platform, log, item.row, stop, sent).await {
            return end;
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
                    state: None,
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
                let Some(wait) = attempts.next_wait(&config.backoff, slow_down, maybe_sent) else {
                    return RowEnd::Final(from_error(item.row, &err));
                };
                tracing::debug!(row = item.row, error = %err, ?wait, "retrying");
                if !pause(wait, stop).await {
                    return RowEnd::Abandoned;
                }
            }
        }
    }
}

/// One update (or restore) to its end: the fields of `change.after` written with the version they were read with.
/// Whenever a `PUT` may have been applied without its answer (lost, or the row found `sending`), the device is read
/// back before anything is sent again: holding the new values, it is done; still holding the values read, the
/// update is sent again; holding anything else, someone else changed it and the row ends `conflict`. A restore reads
/// the device first (its version is not known) and restores only if the device still holds what the batch wrote.
#[allow(clippy::too_many_arguments)]
async fn update<P: Platform, L: RowLog>(
    platform: &P,
    log: &L,
    row: u64,
    change: Option<Change>,
    mut maybe_applied: bool,
    config: &PoolConfig,
    stop: &CancellationToken,
    sent: &mut u32,
) -> RowEnd {
    let Some(change) = change else {
        return lacking(row, "the journal holds no update for this row");
    };
    let mut version = change.version;
    let mut read = change.read_first || maybe_applied;
    let mut attempts = Attempts::default();
    loop {
        if read {
            let state = match platform.read_device(&change.reference).await {
                Ok(Some(device)) => device.state.map(|s| *s).unwrap_or_default(),
                Ok(None) => return RowEnd::Final(gone(row)),
                Err(e) => match classify(&e) {
                    Verdict::Fatal => return RowEnd::Fatal(Stop::AuthLost(e.to_string())),
                    _ => {
                        let Some(wait) = attempts.next_wait(&config.backoff, false, true) else {
                            return RowEnd::Final(from_error(row, &e));
                        };
                        if !pause(wait, stop).await {
                            return RowEnd::Abandoned;
                        }
                        continue;
                    }
                },
            };
            if change.after.held_by(&state.values) {
                tracing::info!(row, "reconciled: the device holds the new values");
                let state = if maybe_applied {
                    RowState::Done
                } else {
                    RowState::Unchanged
                };
                return RowEnd::Final(Outcome {
                    state,
                    ..unknown(row)
                });
            }
            // A lost `PUT` of a restore that also restores tags: the tags follow in the rollback's tag calls.
            if maybe_applied && change.after.put_fields().held_by(&state.values) {
                return RowEnd::Final(Outcome {
                    state: RowState::Done,
                    ..unknown(row)
                });
            }
            if !change.before.held_by(&state.values) && !config.force {
                return RowEnd::Final(conflict(row, &change, Some(&state)));
            }
            version = state.version;
        }
        if !change.puts() {
            // Only tags to restore: checked above, made by the rollback's tag calls grouped by tag.
            return RowEnd::Final(Outcome {
                state: RowState::Done,
                ..unknown(row)
            });
        }
        if let Err(end) = clear_to_send(platform, log, row, stop, sent).await {
            return end;
        }
        let err = match platform.update_device(&change, version, config.force).await {
            Ok(true) => {
                return RowEnd::Final(Outcome {
                    state: RowState::Done,
                    ..unknown(row)
                });
            }
            Ok(false) => return RowEnd::Final(gone(row)),
            Err(err) => err,
        };
        if let ApiError::Conflict(_) = err {
            // One read, for the report to show what the device holds now.
            let now = platform
                .read_device(&change.reference)
                .await
                .ok()
                .flatten()
                .and_then(|d| d.state.map(|s| *s));
            return RowEnd::Final(conflict(row, &change, now.as_ref()));
        }
        match classify(&err) {
            Verdict::Fatal => return RowEnd::Fatal(Stop::AuthLost(err.to_string())),
            Verdict::Duplicate | Verdict::Final => {
                tracing::info!(row, error = %err, "update failed");
                return RowEnd::Final(from_error(row, &err));
            }
            Verdict::Retry {
                maybe_sent,
                throttled,
            } => {
                maybe_applied |= maybe_sent;
                read = maybe_sent;
                let Some(wait) = attempts.next_wait(&config.backoff, throttled, maybe_sent) else {
                    return RowEnd::Final(from_error(row, &err));
                };
                if !pause(wait, stop).await {
                    return RowEnd::Abandoned;
                }
            }
        }
    }
}

/// An update the platform refused because the device changed since it was read: each field with the value read,
/// the value wanted, and (when known) what the device holds now. Nothing was overwritten.
fn conflict(row: u64, change: &Change, now: Option<&DeviceState>) -> Outcome {
    let fields: Vec<String> = change
        .after
        .iter()
        .map(|(field, wanted)| {
            let show = |v: Option<&serde_json::Value>| {
                v.map(|v| crate::platform::update::show_field(field, v))
                    .unwrap_or_else(|| "?".into())
            };
            let mut line = format!(
                "{}: read {}, file {}",
                field.label(),
                show(change.before.get(field)),
                show(Some(wanted))
            );
            if let Some(now) = now {
                line.push_str(&format!(", platform now {}", show(now.values.get(field))));
            }
            line
        })
        .collect();
    let what = if change.read_first {
        "the device changed since the batch wrote it, so it was not restored"
    } else {
        "the device changed on the platform since it was read, so it was not overwritten (--force overwrites)"
    };
    Outcome {
        state: RowState::Conflict,
        http_status: Some(409),
        message: Some(format!("{what}: {}", fields.join("; "))),
        ..unknown(row)
    }
}

/// A row whose journalled operation lacks what its request needs: it fails, never sent.
fn lacking(row: u64, what: &str) -> RowEnd {
    RowEnd::Final(failed(row, None, None, what.into()))
}

fn gone(row: u64) -> Outcome {
    Outcome {
        state: RowState::Gone,
        message: Some("the device is no longer on the platform".into()),
        ..unknown(row)
    }
}

/// Sleeps unless the run is stopping; false when it is.
async fn pause(wait: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

/// A row sent whose fate is unknown (its attempts are set by the caller).
fn unknown(row: u64) -> Outcome {
    Outcome::new(row, RowState::Sending)
}

fn created(row: u64, device: DeviceInfo) -> Outcome {
    reconcile::found(row, RowState::Done, None, device)
}

fn exists(row: u64, eui: Option<String>, err: &ApiError) -> Outcome {
    let (http_status, error_code, message) = parts(err);
    Outcome {
        http_status,
        error_code,
        message: Some(message),
        device_eui: eui,
        ..Outcome::new(row, RowState::Exists)
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
        http_status,
        error_code,
        message: Some(message),
        ..Outcome::new(row, RowState::Failed)
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
