//! A batch from start to end: `import` (open the file, authenticate, read the catalogue, journal every prepared row
//! and what the platform already has, then run the pool) and `resume` (the journal and the credentials only).

use super::pool::{self, PoolConfig, Stop};
use super::progress::Progress;
use super::retry::Backoff;
use super::{Counters, WorkItem, reconcile};
use crate::device::{ErrorCode, RowError};
use crate::error::{Exit, PlatformUnavailable, UsageError};
use crate::input::{InputOptions, Table};
use crate::journal::{
    Action, BatchInfo, BatchState, Counts, Journal, NewBatch, NewRow, Previous, RowState,
};
use crate::logging::Display;
use crate::platform::update::{Decision, Wish};
use crate::platform::{
    ApiError, Catalog, Client, ClientConfig, ExistKey, LookupProgress, OverQuota, PlanTally,
    PlatformSettings, RequestCounts, find_existing,
};
use crate::prepare::{Prepared, PreparedRow, UpdateMode, prepare_rows_for};
use anyhow::Context;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Prepared rows journalled (and checked against the platform) at a time: bounds memory on huge files while a
/// normal shipment is looked up in one go.
const PREPARE_CHUNK: usize = 25_000;
/// Rows handed from the journal reader to the workers at a time, and chunks queued between them.
const FEED_CHUNK: usize = 128;
const QUEUE: usize = 8;
/// Rows read from the journal at a time.
const FEED_PAGE: usize = 1000;

/// What a device that already exists on the platform becomes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OnExisting {
    /// The row ends `exists` (success).
    Skip,
    /// The row ends `failed`.
    Fail,
    /// The row is compared with the device: `unchanged`, or an update of the fields that differ.
    Update,
}

/// Requests in flight at once unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// How hard a run drives the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// Requests per second over every request; `None`: unlimited.
    pub rate: Option<f64>,
    pub concurrency: usize,
    pub max_errors: Option<u64>,
}

impl RunSettings {
    /// Checks `--rate` (0 means unlimited) and `--concurrency`.
    pub fn new(
        rate: f64,
        concurrency: usize,
        max_errors: Option<u64>,
    ) -> Result<RunSettings, UsageError> {
        if !rate.is_finite() || rate < 0.0 {
            return Err(UsageError(format!(
                "--rate {rate}: expected a number of requests per second, 0 for unlimited"
            )));
        }
        if concurrency == 0 || concurrency > 1024 {
            return Err(UsageError(format!(
                "--concurrency {concurrency}: expected 1 to 1024"
            )));
        }
        if max_errors == Some(0) {
            return Err(UsageError("--max-errors 0: expected at least 1".into()));
        }
        Ok(RunSettings {
            rate: (rate > 0.0).then_some(rate),
            concurrency,
            max_errors,
        })
    }
}

/// Everything `import` needs, checked before any I/O.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub file: PathBuf,
    pub input: InputOptions,
    pub client: ClientConfig,
    pub journal: PathBuf,
    pub settings: RunSettings,
    pub on_existing: OnExisting,
    /// `--clear-empty` (with `--on-existing update`): an empty cell clears the field.
    pub clear_empty: bool,
    /// `--force` (with `--on-existing update`): write whatever the device's version.
    pub force: bool,
    pub name: Option<String>,
    /// The config file's profile the credentials came from, recorded for `resume`.
    pub profile: Option<String>,
    /// `--again`: a file this journal already imported becomes a new batch.
    pub again: bool,
    /// `--allow-over-quota`: start even when a connectivity plan has too few slots left.
    pub allow_over_quota: bool,
    /// Where progress is drawn; nothing with `--quiet`.
    pub display: Display,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct BatchResult {
    pub id: String,
    pub counts: Counts,
    pub stop: Stop,
    /// Devices created by this run.
    pub created_now: u64,
    /// The whole command.
    pub elapsed: Duration,
    /// The sending phase only: what devices/s is measured over.
    pub sending: Duration,
    /// Requests this run made, by kind; the engine's second attempts of a creation are among `retries`.
    pub requests: RequestCounts,
}

impl BatchResult {
    /// 0 all created or existing, 1 some invalid or failed (or `--max-errors`), 130 interrupted.
    pub fn exit(&self) -> Exit {
        match self.stop {
            Stop::Cancelled | Stop::CancelledPreparing { .. } => Exit::Interrupted,
            _ if self.counts.invalid
                + self.counts.failed
                + self.counts.conflict
                + self.counts.pending
                > 0 =>
            {
                Exit::Rows
            }
            _ => Exit::Success,
        }
    }

    /// One line: `created 10, exists 2, invalid 3, failed 1, total 16 in 1.2 s (8.3 devices/s)`; the time is the
    /// whole command's, the rate is over the sending phase (after checks, catalogue and look-ups).
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let secs = self.elapsed.as_secs_f64();
        // The update counts only for a batch that has updates, so that a plain import reads as it always did.
        let mut updates = String::new();
        if c.updated + c.unchanged + c.conflict > 0 {
            updates = format!(
                ", updated {}, unchanged {}, conflict {}",
                c.updated, c.unchanged, c.conflict
            );
        }
        let mut line = format!(
            "created {}{updates}, exists {}, invalid {}, failed {}, total {} in {:.1} s ({:.1} devices/s)",
            c.created,
            c.exists,
            c.invalid,
            c.failed,
            c.total,
            secs,
            self.created_now as f64 / self.sending.as_secs_f64().max(0.001)
        );
        if c.pending > 0 {
            line.push_str(&format!(", {} not yet sent", c.pending));
        }
        line
    }

    /// `requests 1012: look-ups 3, creations 1000, retries 1, catalogue 7, token 1`: what the run spent the
    /// platform's rate on.
    pub fn requests_line(&self) -> String {
        let r = &self.requests;
        let mut line = format!(
            "requests {}: look-ups {}, creations {}, retries {}, catalogue {}, token {}",
            r.total(),
            r.lookups,
            r.creations,
            r.retries,
            r.catalogue,
            r.token
        );
        if r.updates > 0 {
            line.push_str(&format!(", updates {}", r.updates));
        }
        if r.other + r.deletions > 0 {
            line.push_str(&format!(", other {}", r.other + r.deletions));
        }
        line
    }

    /// Prints the summary (stdout, unless quiet) and what to do next (stderr), and returns the exit code.
    pub fn print(&self, quiet: bool) -> Exit {
        // Nothing was sent and the rows were not all counted: the next step says it all.
        let counted = !matches!(self.stop, Stop::CancelledPreparing { .. });
        if !quiet && counted {
            crate::stdout::line(self.summary());
            crate::stdout::line(self.requests_line());
        }
        if let Some(next) = self.next_step() {
            eprintln!("tpbulk: {next}");
        }
        self.exit()
    }

    /// What to tell the user when the batch did not finish.
    pub fn next_step(&self) -> Option<String> {
        match &self.stop {
            Stop::Cancelled => Some(format!(
                "interrupted; continue with: tpbulk resume {}",
                self.id
            )),
            Stop::CancelledPreparing { input } => Some(format!(
                "interrupted while checking rows, before any device was sent; start again with: tpbulk import {input}"
            )),
            Stop::MaxErrors => Some(format!(
                "stopped after --max-errors failed rows; continue with: tpbulk resume {}",
                self.id
            )),
            _ if self.counts.pending > 0 => Some(format!(
                "rows left unsent; continue with: tpbulk resume {}",
                self.id
            )),
            _ => None,
        }
    }
}

/// Imports a file as a new batch; `on_start` is told the batch id as soon as it exists.
pub async fn import(
    config: ImportConfig,
    cancel: CancellationToken,
    on_start: impl FnOnce(&str),
) -> anyhow::Result<BatchResult> {
    let started = Instant::now();
    let started_ms = chrono::Utc::now().timestamp_millis();
    let table = Table::open(&config.file, &config.input)?;
    let input_sha256 = crate::input::sha256_file(&config.file)
        .with_context(|| format!("{}: cannot read", config.file.display()))?;
    // Recorded absolute, so that `rework` finds the file again from any directory.
    let input_path = std::fs::canonicalize(&config.file).unwrap_or_else(|_| config.file.clone());
    if config.journal.is_file() {
        refuse_second_import(
            &Journal::open_existing(&config.journal)?,
            &input_sha256,
            &config.client.url,
            config.again,
        )?;
    }
    let client = crate::platform::connect(config.client.clone(), config.settings.rate).await?;
    let url = config.client.url.clone();
    let unavailable = |e: ApiError| anyhow::Error::new(crate::platform::unavailable(&url, &e));
    if !config.display.quiet {
        eprintln!("tpbulk: reading the catalogue");
    }
    let catalog = client.catalog().await.map_err(unavailable)?;
    let mut journal = Journal::open(&config.journal)?;
    let mut options = serde_json::json!({
        "rate": config.settings.rate,
        "concurrency": config.settings.concurrency,
        "on_existing": config.on_existing,
        "clear_empty": config.clear_empty,
        "force": config.force,
        "max_errors": config.settings.max_errors,
        "url": config.client.url,
        "token_url": config.client.explicit_token_url(),
        "client_id": config.client.client_id,
        "insecure": config.client.insecure,
        "started_ms": started_ms,
        // Until every row is journalled the batch cannot be resumed: resuming would silently drop the rest.
        "prepared": false,
    });
    let id = journal.create_batch(&NewBatch {
        name: config.name.clone(),
        input_path: input_path.display().to_string(),
        input_sha256,
        format: table.format.clone(),
        columns: table.columns.clone(),
        input_columns: config.input.columns.clone(),
        options: options.clone(),
        profile: config.profile.clone(),
    })?;
    on_start(&id);
    tracing::info!(batch = %id, "batch started");

    let prepared = {
        let (client, id, on_existing) = (client.clone(), id.clone(), config.on_existing);
        let clear_empty = config.clear_empty;
        let cancel = cancel.clone();
        let progress = LookupProgress::new(&config.display);
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let unavailable =
                |e: ApiError| anyhow::Error::new(crate::platform::unavailable(&client.config().url, &e));
            journal_prepared(
                table,
                &catalog,
                journal,
                &id,
                (on_existing, clear_empty),
                &cancel,
                |keys| {
                    handle.block_on(async {
                        tokio::select! {
                            _ = cancel.cancelled() => Err(PrepareCancelled.into()),
                            found = find_existing(&client, keys, &progress) => found.map_err(unavailable),
                        }
                    })
                },
                |reference| {
                    handle.block_on(async {
                        tokio::select! {
                            _ = cancel.cancelled() => Err(PrepareCancelled.into()),
                            found = client.device(reference) => found.map_err(unavailable),
                        }
                    })
                },
            )
        })
        .await
        .context("preparing rows")?
    };
    let (mut journal, over_quota) = match prepared {
        Ok(prepared) => prepared,
        Err(e) if e.is::<PrepareCancelled>() => {
            // The options still say `prepared: false`, so resume refuses the batch instead of sending a part.
            let mut journal = Journal::open(&config.journal)?;
            journal.set_batch_state(&id, BatchState::Interrupted)?;
            tracing::warn!(batch = %id, "interrupted while checking rows; nothing was sent");
            return Ok(BatchResult {
                counts: journal.counts(&id)?,
                id,
                stop: Stop::CancelledPreparing {
                    input: config.file.display().to_string(),
                },
                created_now: 0,
                elapsed: started.elapsed(),
                sending: Duration::ZERO,
                requests: client.request_counts(),
            });
        }
        Err(e) => return Err(e),
    };
    if !over_quota.is_empty() {
        let lines: Vec<String> = over_quota.iter().map(ToString::to_string).collect();
        if !config.allow_over_quota {
            // `prepared` stays false: nothing was sent, and importing the file again is the way on.
            journal.set_batch_state(&id, BatchState::Interrupted)?;
            return Err(UsageError(format!(
                "{}; nothing was sent (batch {id} stays unsent). Free slots on the plan or ask for a larger quota, \
                 or import again with --allow-over-quota to send every row anyway",
                lines.join("; ")
            ))
            .into());
        }
        for line in &lines {
            if !config.display.quiet {
                eprintln!("tpbulk: warning: {line}; going on (--allow-over-quota)");
            }
        }
    }
    options["prepared"] = serde_json::Value::Bool(true);
    journal.update_batch_options(&id, &options)?;
    let mut pool_config = pool_config(&config.settings, Some(started_ms));
    pool_config.force = config.force;
    let mut result = run_batch(
        journal,
        &id,
        client,
        &pool_config,
        cancel,
        &config.display,
        false,
    )
    .await?;
    result.elapsed = started.elapsed();
    Ok(result)
}

/// Refuses an import that would run beside another process's batch in this journal (both would send), or that
/// repeats a file this journal already imported to the same platform, unless `again` asks for a new batch.
/// A batch stopped while checking rows sent nothing and does not count.
fn refuse_second_import(
    journal: &Journal,
    sha256: &str,
    url: &str,
    again: bool,
) -> anyhow::Result<()> {
    let batches = journal.batches()?;
    if let Some((batch, pid)) = batches.iter().find_map(|b| {
        b.runner_pid
            .filter(|&pid| pid != std::process::id() && b.effective_state() == BatchState::Running)
            .map(|pid| (b, pid))
    }) {
        return Err(UsageError(format!(
            "batch {} is running in process {pid} in {}; let it finish, or stop it (Ctrl-C, or kill {pid}) and \
             import then",
            batch.id,
            journal.path().display()
        ))
        .into());
    }
    if again {
        return Ok(());
    }
    let earlier = batches.iter().find(|b| {
        b.input_sha256.eq_ignore_ascii_case(sha256)
            && b.options["url"].as_str() == Some(url)
            && b.options["prepared"] != serde_json::Value::Bool(false)
    });
    let Some(batch) = earlier else {
        return Ok(());
    };
    let state = batch.effective_state();
    let next = match state {
        BatchState::Done => {
            "to import it once more as a new batch on purpose, add --again".to_string()
        }
        BatchState::Running | BatchState::Interrupted => format!(
            "continue it with: tpbulk resume {} (or add --again for a new batch on purpose)",
            batch.id
        ),
    };
    Err(UsageError(format!(
        "this file (sha256 {}) was already imported to {url} as batch {} ({}, {}); {next}",
        &sha256[..sha256.len().min(12)],
        batch.id,
        state.as_str(),
        batch.input_path
    ))
    .into())
}

/// Reads, checks and resolves every row and journals it in chunks; each chunk's devices are first looked up on
/// the platform so that the ones it already has are journalled `exists` (or `failed` with `--on-existing fail`),
/// or with `--on-existing update` compared with the row: `unchanged`, a pending `update` of the fields that differ
/// (read with `read` first when the listing does not show them all), or `invalid` for a forbidden change.
#[allow(clippy::too_many_arguments)]
fn journal_prepared(
    mut table: Table,
    catalog: &Catalog,
    mut journal: Journal,
    batch: &str,
    (on_existing, clear_empty): (OnExisting, bool),
    cancel: &CancellationToken,
    mut lookup: impl FnMut(
        &[ExistKey],
    ) -> anyhow::Result<HashMap<ExistKey, crate::platform::DeviceInfo>>,
    mut read: impl FnMut(&str) -> anyhow::Result<Option<crate::platform::DeviceInfo>>,
) -> anyhow::Result<(Journal, Vec<OverQuota>)> {
    let mut chunk: Vec<(NewRow, Option<ExistKey>, Option<Wish>)> =
        Vec::with_capacity(PREPARE_CHUNK.min(4096));
    // The connectivity plan of each row of the chunk that would be sent; a device found on the platform takes no
    // new slot.
    let mut chunk_plans: Vec<(Option<ExistKey>, String)> = Vec::new();
    let mut tally = PlanTally::default();
    let mut flush = |chunk: &mut Vec<(NewRow, Option<ExistKey>, Option<Wish>)>,
                     chunk_plans: &mut Vec<(Option<ExistKey>, String)>,
                     journal: &mut Journal|
     -> anyhow::Result<()> {
        let keys: Vec<ExistKey> = chunk.iter().filter_map(|(_, k, _)| k.clone()).collect();
        let found = if keys.is_empty() {
            Default::default()
        } else {
            lookup(&keys)?
        };
        for (key, plan) in chunk_plans.drain(..) {
            if !key.is_some_and(|k| found.contains_key(&k)) {
                tally.add(&plan);
            }
        }
        let mut rows = Vec::with_capacity(chunk.len());
        for (mut row, key, wish) in chunk.drain(..) {
            let Some(device) = key.as_ref().and_then(|k| found.get(k)) else {
                if wish.is_some() && row.state == RowState::Invalid {
                    // An update row whose device is not there: what it lacks is what a creation needs.
                    row.errors.insert(
                        0,
                        RowError {
                            field: "row".into(),
                            column: String::new(),
                            code: ErrorCode::Missing,
                            message:
                                "no such device on the platform, so the row would create it, and a \
                                      creation needs what follows"
                                    .into(),
                        },
                    );
                }
                rows.push(row);
                continue;
            };
            row.request = None;
            row.device_href = device.href.clone();
            row.device_uid = device.uid.clone();
            row.device_eui = (!device.eui.is_empty()).then(|| device.eui.clone());
            match on_existing {
                OnExisting::Skip => row.state = RowState::Exists,
                OnExisting::Fail => {
                    row.state = RowState::Failed;
                    row.errors.push(RowError {
                        field: "row".into(),
                        column: String::new(),
                        code: ErrorCode::Duplicate,
                        message: "the device is already on the platform (--on-existing fail)"
                            .into(),
                    });
                }
                // A row without a wish is invalid whatever its device: its errors stay.
                OnExisting::Update => {
                    if let Some(wish) = wish {
                        let reference = crate::engine::delete_reference(
                            device.uid.as_deref(),
                            row.device_eui.as_deref(),
                        )
                        .unwrap_or_default();
                        let mut decision = decide(&wish, &reference, device);
                        if decision == Decision::Read {
                            let full = read(&reference)?;
                            decision = match &full {
                                Some(full) => decide(&wish, &reference, full),
                                // Gone since the listing: nothing to compare with, nothing to write.
                                None => Decision::Unchanged,
                            };
                        }
                        become_update(&mut row, decision)?;
                    }
                }
            }
            rows.push(row);
        }
        journal.insert_rows(batch, rows)
    };
    let updating = (on_existing == OnExisting::Update).then_some(UpdateMode { clear_empty });
    let notes = prepare_rows_for(&mut table, catalog, updating, |prepared| {
        if cancel.is_cancelled() {
            return Err(PrepareCancelled.into());
        }
        if let Prepared::Send(request) = &prepared.outcome
            && let Some(plan) = PlanTally::plan_of(request)
        {
            chunk_plans.push((prepared.exist_key.clone(), plan.to_string()));
        }
        let wish = prepared.update.clone();
        let (row, key) = new_row(prepared)?;
        chunk.push((row, key, wish));
        if chunk.len() >= PREPARE_CHUNK {
            flush(&mut chunk, &mut chunk_plans, &mut journal)?;
        }
        Ok(())
    })?;
    crate::prepare::warn_file_notes(&table.path, &notes);
    if cancel.is_cancelled() {
        return Err(PrepareCancelled.into());
    }
    flush(&mut chunk, &mut chunk_plans, &mut journal)?;
    Ok((journal, tally.over_quota(catalog)))
}

/// Compares a row's wish with the device's state as a listing or a read showed it.
fn decide(wish: &Wish, reference: &str, device: &crate::platform::DeviceInfo) -> Decision {
    let state = device.state.as_deref().cloned().unwrap_or_default();
    crate::platform::update::decide(wish, reference, &state)
}

/// A row whose device exists, as `--on-existing update` leaves it: `unchanged`, a pending `update` (its change as
/// the request, its values before and after kept for rollback), or `invalid` for a forbidden change. The
/// creation's errors (missing keys …) no longer apply.
fn become_update(row: &mut NewRow, decision: Decision) -> anyhow::Result<()> {
    row.errors.clear();
    row.action = Action::Update;
    match decision {
        Decision::Unchanged | Decision::Read => row.state = RowState::Unchanged,
        Decision::Forbidden(fields) => {
            row.state = RowState::Invalid;
            row.errors = fields
                .into_iter()
                .map(|(key, column, has, wanted)| RowError {
                    field: key.to_string(),
                    column,
                    code: ErrorCode::ForbiddenChange,
                    message: format!(
                        "the platform never changes a device's {key} (it has {has}, the row gives {wanted}): \
                         delete and create the device to change it, or correct the row"
                    ),
                })
                .collect();
        }
        Decision::Change(change) => {
            row.state = RowState::Pending;
            row.previous = Some(serde_json::to_string(&Previous {
                before: change.before.clone(),
                after: change.after.clone(),
            })?);
            row.request = Some(serde_json::to_string(&change)?);
        }
    }
    Ok(())
}

/// Ctrl-C or SIGTERM reached the checking stage.
#[derive(Debug, thiserror::Error)]
#[error("interrupted while checking rows")]
struct PrepareCancelled;

fn new_row(prepared: PreparedRow) -> anyhow::Result<(NewRow, Option<ExistKey>)> {
    let (state, request, errors, key) = match prepared.outcome {
        Prepared::Send(request) => (
            RowState::Pending,
            Some(serde_json::to_string(&request).context("encoding a request")?),
            Vec::new(),
            prepared.exist_key,
        ),
        // Invalid as a creation, but its device may exist and be updated: looked up all the same.
        Prepared::Invalid(errors) => {
            let key = prepared.exist_key.filter(|_| prepared.update.is_some());
            (RowState::Invalid, None, errors, key)
        }
    };
    Ok((
        NewRow {
            row: prepared.row,
            action: Action::Create,
            kind: prepared.kind,
            id: prepared.id,
            name: prepared.name,
            state,
            request,
            errors,
            device_href: None,
            device_uid: None,
            device_eui: None,
            keys: prepared.keys,
            previous: None,
        },
        key,
    ))
}

/// What `resume` needs, checked before any I/O; what it leaves open comes from the batch's journalled options.
#[derive(Debug, Clone)]
pub struct ResumeConfig {
    pub journal: PathBuf,
    pub batch: Option<String>,
    /// What is given is checked ([`PlatformSettings::check_given`]); the rest is the batch's own.
    pub platform: PlatformSettings,
    /// `THINGPARK_CLIENT_SECRET`, read with the flags.
    pub env_secret: Option<String>,
    /// Checked like [`RunSettings`]: `None` keeps the batch's own.
    pub rate: Option<f64>,
    pub concurrency: Option<usize>,
    /// Where progress is drawn; nothing with `--quiet`.
    pub display: Display,
}

impl ResumeConfig {
    /// Checks every option given, before the journal is opened.
    pub fn check(self) -> Result<ResumeConfig, UsageError> {
        self.platform.check_given()?;
        RunSettings::new(
            self.rate.unwrap_or(0.0),
            self.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            None,
        )?;
        Ok(self)
    }
}

/// Continues a batch from the journal alone. A finished batch is summarised without touching the platform.
pub async fn resume(
    config: ResumeConfig,
    cancel: CancellationToken,
    on_start: impl FnOnce(&str),
) -> anyhow::Result<BatchResult> {
    let started = Instant::now();
    let journal = Journal::open_existing(&config.journal)?;
    let batch = pick_batch(&journal, config.batch.as_deref())?;
    // Two runs of one batch would both send its unfinished rows.
    if let Some(pid) = batch.runner_pid
        && pid != std::process::id()
        && batch.effective_state() == BatchState::Running
    {
        return Err(UsageError(format!(
            "batch {} is running in process {pid}; let it finish, or stop it (Ctrl-C, or kill {pid}) and resume then",
            batch.id
        ))
        .into());
    }
    // Before the counts: a batch stopped early in checking may have no row yet, and would look finished.
    if batch.options["prepared"] == serde_json::Value::Bool(false) {
        return Err(UsageError(format!(
            "batch {} was stopped while its rows were being checked, before any device was sent; it cannot be resumed: import {} again",
            batch.id, batch.input_path
        ))
        .into());
    }
    on_start(&batch.id);
    let counts = journal.counts(&batch.id)?;
    if counts.pending == 0 {
        let mut journal = journal;
        let mut requests = None;
        if batch.state != BatchState::Done {
            // The last run ended before its cellular rows got their platform reference (killed after the pool
            // drained, or the listing failed): settle them now, or rollback and verify would miss them.
            let wanted = reconcile::unreferenced_cellular(&journal, &batch.id)?;
            if !wanted.is_empty() {
                let rate = config.rate.or_else(|| batch.options["rate"].as_f64());
                let client = resume_client(&config, &batch, rate).await?;
                let started_ms = batch.options["started_ms"].as_i64();
                reconcile::settle_cellular_references(
                    &mut journal,
                    &batch.id,
                    &client,
                    wanted,
                    started_ms,
                )
                .await
                .map_err(|e| crate::platform::unavailable(&client.config().url, &e))?;
                requests = Some(client.request_counts());
            }
            journal.set_batch_state(&batch.id, BatchState::Done)?;
        }
        return Ok(BatchResult {
            id: batch.id,
            counts,
            stop: Stop::Drained,
            created_now: 0,
            elapsed: started.elapsed(),
            sending: Duration::ZERO,
            requests: requests.unwrap_or_default(),
        });
    }
    let options = &batch.options;
    let settings = RunSettings::new(
        config
            .rate
            .or_else(|| options["rate"].as_f64())
            .unwrap_or(0.0),
        config
            .concurrency
            .or_else(|| options["concurrency"].as_u64().map(|c| c as usize))
            .unwrap_or(DEFAULT_CONCURRENCY),
        options["max_errors"].as_u64(),
    )?;
    let client = resume_client(&config, &batch, settings.rate).await?;
    let mut pool_config = pool_config(&settings, options["started_ms"].as_i64());
    pool_config.force = options["force"].as_bool().unwrap_or(false);
    let mut result = run_batch(
        journal,
        &batch.id,
        client,
        &pool_config,
        cancel,
        &config.display,
        true,
    )
    .await?;
    result.elapsed = started.elapsed();
    Ok(result)
}

/// The client for a resumed batch: the options given now, else the ones the batch was imported with.
async fn resume_client(
    config: &ResumeConfig,
    batch: &BatchInfo,
    rate: Option<f64>,
) -> anyhow::Result<Client> {
    let platform = config.platform.or_recorded(&batch.options);
    let client_config = ClientConfig::new(&platform, config.env_secret.clone())?;
    Ok(crate::platform::connect(client_config, rate).await?)
}

/// The named batch, or the latest unfinished one.
pub fn pick_batch(journal: &Journal, id: Option<&str>) -> anyhow::Result<BatchInfo> {
    match id {
        Some(_) => journal.resolve_batch(id),
        None => journal.latest_batch(true)?.ok_or_else(|| {
            UsageError(format!(
                "{}: no unfinished batch to resume (`tpbulk batches` lists them)",
                journal.path().display()
            ))
            .into()
        }),
    }
}

/// How the pool runs a batch with these settings.
pub fn pool_config(settings: &RunSettings, batch_started_ms: Option<i64>) -> PoolConfig {
    PoolConfig {
        concurrency: settings.concurrency,
        max_errors: settings.max_errors,
        backoff: Backoff::default(),
        batch_started_ms,
        force: false,
    }
}

/// Runs the pool over the batch's unfinished rows, streamed from a second, read-only use of the journal while the
/// writer owns the first; then gives cellular rows created without their reference that reference (every such row
/// of the batch with `settle_all`, as on resume, else only when this run made some); leaves the batch `done` or
/// `interrupted`.
pub async fn run_batch(
    mut journal: Journal,
    id: &str,
    client: Client,
    pool_config: &PoolConfig,
    cancel: CancellationToken,
    display: &Display,
    settle_all: bool,
) -> anyhow::Result<BatchResult> {
    let started = Instant::now();
    let total = journal.counts(id)?.pending;
    journal.set_batch_state(id, BatchState::Running)?;
    let action = journal
        .batch(id)?
        .map(|b| b.action)
        .unwrap_or(crate::journal::Action::Create);
    let reader = journal.reader()?;
    let writer = Arc::new(journal.into_writer(id));
    let (tx, rx) = mpsc::channel(QUEUE);
    let feeder = {
        let id = id.to_string();
        // Short reads by row cursor rather than one long read: a read transaction held for the whole run would
        // keep SQLite from checkpointing, and the WAL would grow with every row of a million-row batch.
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut after = 0;
            loop {
                let page = reader.rows_after(
                    &id,
                    Some(&[RowState::Pending, RowState::Sending]),
                    after,
                    FEED_PAGE,
                )?;
                let Some(last) = page.last() else {
                    return Ok(());
                };
                after = last.row;
                let mut records = page.into_iter().peekable();
                while records.peek().is_some() {
                    let chunk: Vec<WorkItem> = records
                        .by_ref()
                        .take(FEED_CHUNK)
                        .map(WorkItem::from_record)
                        .collect();
                    if tx.blocking_send(chunk).is_err() {
                        // The pool stopped taking rows.
                        return Ok(());
                    }
                }
            }
        })
    };
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(total, counters.clone(), action, display);
    let stop = pool::run(
        client.clone(),
        writer.clone(),
        rx,
        pool_config,
        cancel,
        counters.clone(),
    )
    .await;
    progress.finish().await;
    let fed = feeder.await.context("reading the journal")?;
    let writer = Arc::try_unwrap(writer)
        .map_err(|_| anyhow::anyhow!("journal writer still in use after the run"))?;
    let mut journal = writer.finish().await?;
    let counts = journal.counts(id)?;
    let mut settled = true;
    let went_on = matches!(stop, Stop::Drained | Stop::MaxErrors);
    if went_on && (settle_all || counters.unreferenced.load(Ordering::Relaxed) > 0) {
        let wanted = reconcile::unreferenced_cellular(&journal, id)?;
        if !wanted.is_empty()
            && let Err(e) = reconcile::settle_cellular_references(
                &mut journal,
                id,
                &client,
                wanted,
                pool_config.batch_started_ms,
            )
            .await
        {
            // The devices exist and the rows are right; only their reference is missing, so the batch stays
            // resumable for it rather than failing.
            tracing::warn!(error = %e, "cannot list the platform's devices for the reference of cellular rows; `tpbulk resume {id}` tries again");
            settled = false;
        }
    }
    let state = if counts.pending == 0 && settled {
        BatchState::Done
    } else {
        BatchState::Interrupted
    };
    journal.set_batch_state(id, state)?;
    match &stop {
        Stop::AuthLost(message) => {
            return Err(PlatformUnavailable(format!(
                "the platform refused the credentials mid-batch ({message}); continue with: tpbulk resume {id}"
            ))
            .into());
        }
        Stop::Journal(message) => anyhow::bail!("journal: {message}"),
        _ => {}
    }
    fed?;
    Ok(BatchResult {
        id: id.to_string(),
        counts,
        stop,
        created_now: counters.done.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        sending: started.elapsed(),
        requests: {
            // The engine's second attempts of a creation went out as creations; they are retries.
            let mut requests = client.request_counts();
            let again = counters.retries.load(Ordering::Relaxed);
            requests.creations -= again.min(requests.creations);
            requests.retries += again;
            requests
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_zero_means_unlimited_and_bad_values_are_usage_errors() {
        assert_eq!(RunSettings::new(0.0, 8, None).unwrap().rate, None);
        assert_eq!(RunSettings::new(10.0, 8, None).unwrap().rate, Some(10.0));
        assert!(RunSettings::new(-1.0, 8, None).is_err());
        assert!(RunSettings::new(f64::NAN, 8, None).is_err());
        assert!(RunSettings::new(10.0, 0, None).is_err());
        assert!(RunSettings::new(10.0, 8, Some(0)).is_err());
    }

    fn result(stop: Stop, counts: Counts) -> BatchResult {
        BatchResult {
            id: "b1".into(),
            counts,
            stop,
            created_now: 0,
            elapsed: Duration::from_secs(1),
            sending: Duration::from_secs(1),
            requests: RequestCounts::default(),
        }
    }

    #[test]
    fn exit_codes_follow_the_rows_fate() {
        let clean = Counts {
            total: 3,
            created: 2,
            exists: 1,
            ..Counts::default()
        };
        assert_eq!(result(Stop::Drained, clean).exit(), Exit::Success);
        let some_failed = Counts { failed: 1, ..clean };
        assert_eq!(result(Stop::Drained, some_failed).exit(), Exit::Rows);
        assert_eq!(result(Stop::MaxErrors, some_failed).exit(), Exit::Rows);
        let cancelled = result(
            Stop::Cancelled,
            Counts {
                pending: 2,
                ..clean
            },
        );
        assert_eq!(cancelled.exit(), Exit::Interrupted);
        assert!(cancelled.next_step().unwrap().contains("tpbulk resume b1"));
    }
}
