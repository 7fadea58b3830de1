//! A batch from start to end: `import` (open the file, authenticate, read the catalogue, journal every prepared row
//! and what the platform already has, ask before any deletion, then run the pool; `tpbulk delete` is the same with
//! every row a deletion and no catalogue) and `resume` (the journal and the credentials only).

use super::pool::{self, PoolConfig, Stop};
use super::progress::Progress;
use super::retry::Backoff;
use super::{Counters, WorkItem, reconcile};
use crate::device::Tag;
use crate::device::{ErrorCode, RowError};
use crate::engine::plan_file::{Rebased, SavedPlan};
use crate::error::{Exit, PlatformUnavailable, UsageError};
use crate::input::{InputOptions, Table};
use crate::journal::{
    Action, BatchInfo, BatchState, Counts, Journal, NewBatch, NewRow, NewTagCall, Previous,
    RowState,
};
use crate::logging::Display;
use crate::platform::update::{Change, Decision, Wish};
use crate::platform::{
    ApiError, Catalog, Client, ClientConfig, DeviceInfo, ExistKey, LookupProgress, OverQuota,
    PlanTally, PlatformSettings, RequestCounts, TAG_PAGE, find_matching, same_device,
};
use crate::prepare::{Prepared, PreparedRow, UpdateMode, prepare_rows_for, prepare_targets};
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
    /// `--plan` (with `--on-existing update`): the plan file whose versions and values the updates are based on.
    pub plan: Option<PathBuf>,
    pub name: Option<String>,
    /// The config file's profile the credentials came from, recorded for `resume`.
    pub profile: Option<String>,
    /// `--again`: a file this journal already imported becomes a new batch.
    pub again: bool,
    /// `--allow-over-quota`: start even when a connectivity plan has too few slots left.
    pub allow_over_quota: bool,
    /// `tpbulk delete`: every row names a device to delete (a batch of `delete` operations; no catalogue, no
    /// creation requirements). Otherwise an import, whose ThingPark `DELETE` rows are deletions in the same batch.
    pub deleting: bool,
    /// Where progress is drawn; nothing with `--quiet`.
    pub display: Display,
}

/// What a batch would delete, for the question asked before any deletion is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deletions {
    /// Rows that name a device to delete (valid ones).
    pub named: u64,
    /// Of those, devices the platform has: what would be deleted.
    pub on_platform: u64,
}

/// Asked, once the file is journalled and before anything is sent, whether to delete [`Deletions::on_platform`]
/// devices: `Ok(false)` (the person said no) or an error (no one to ask) discards the batch, nothing sent.
pub type Confirm = Box<dyn FnOnce(Deletions) -> anyhow::Result<bool> + Send>;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct BatchResult {
    pub id: String,
    pub counts: Counts,
    pub stop: Stop,
    /// Devices created by this run.
    pub created_now: u64,
    /// Devices deleted by this run.
    pub deleted_now: u64,
    /// What the batch's operations are (an import may hold deletions too: its counts say).
    pub action: Action,
    /// The whole command.
    pub elapsed: Duration,
    /// The sending phase only: what devices/s is measured over.
    pub sending: Duration,
    /// Requests this run made, by kind; the engine's second attempts of a creation are among `retries`.
    pub requests: RequestCounts,
    /// The batch's tag calls (`{id}.tags`), when it has any.
    pub tag_calls: Option<Counts>,
}

impl BatchResult {
    /// A run of batch `id` with these counts that sent nothing; a run that sent fills in the rest.
    fn new(id: &str, action: Action, counts: Counts, stop: Stop) -> BatchResult {
        BatchResult {
            id: id.to_string(),
            counts,
            stop,
            created_now: 0,
            deleted_now: 0,
            action,
            elapsed: Duration::ZERO,
            sending: Duration::ZERO,
            requests: RequestCounts::default(),
            tag_calls: None,
        }
    }

    /// 0 all created or existing, 1 some invalid or failed (or `--max-errors`), 130 interrupted.
    pub fn exit(&self) -> Exit {
        match self.stop {
            Stop::Cancelled | Stop::CancelledPreparing { .. } => Exit::Interrupted,
            Stop::Declined => Exit::Success,
            _ if self.counts.invalid
                + self.counts.failed
                + self.counts.conflict
                + self.counts.pending
                > 0 =>
            {
                Exit::Rows
            }
            _ if self.tag_calls.is_some_and(|t| t.failed + t.pending > 0) => Exit::Rows,
            _ => Exit::Success,
        }
    }

    /// One line: `created 10, exists 2, invalid 3, failed 1, total 16 in 1.2 s (8.3 devices/s)` (a deletion batch:
    /// `deleted 10, gone 2, …`; an import with `DELETE` rows shows both); the time is the whole command's, the rate
    /// is over the sending phase (after checks, catalogue and look-ups).
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
        let deletions = format!("deleted {}, gone {}", c.deleted, c.gone);
        let head = match self.action {
            Action::Delete | Action::Restore => format!("{deletions}{updates}"),
            Action::Create | Action::Update if c.deleted + c.gone > 0 => format!(
                "created {}{updates}, exists {}, {deletions}",
                c.created, c.exists
            ),
            Action::Create | Action::Update => {
                format!("created {}{updates}, exists {}", c.created, c.exists)
            }
            Action::Tag => format!("tagged {}", c.created),
        };
        let mut line = format!(
            "{head}, invalid {}, failed {}, total {} in {:.1} s ({:.1} devices/s)",
            c.invalid,
            c.failed,
            c.total,
            secs,
            self.devices_per_s()
        );
        if c.pending > 0 {
            line.push_str(&format!(", {} not yet sent", c.pending));
        }
        line
    }

    /// Devices created or deleted per second of the sending phase.
    pub fn devices_per_s(&self) -> f64 {
        (self.created_now + self.deleted_now) as f64 / self.sending.as_secs_f64().max(0.001)
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
        let more = [
            ("updates", r.updates),
            ("tag calls", r.tags),
            ("deletions", r.deletions),
            ("other", r.other),
        ];
        for (label, n) in more.into_iter().filter(|(_, n)| *n > 0) {
            line.push_str(&format!(", {label} {n}"));
        }
        line
    }

    /// `tag calls 3: tagged 3, failed 0` (a call whose devices were none of the batch's counts as neither).
    pub fn tags_line(&self) -> Option<String> {
        let t = self.tag_calls?;
        let mut line = format!(
            "tag calls {}: tagged {}, failed {}",
            t.total, t.created, t.failed
        );
        if t.pending > 0 {
            line.push_str(&format!(", {} not yet sent", t.pending));
        }
        Some(line)
    }

    /// Prints the summary (stdout, unless quiet) and what to do next (stderr), and returns the exit code.
    pub fn print(&self, quiet: bool) -> Exit {
        // Nothing was sent and the rows were not all counted (or the batch was discarded): the next step says it all.
        let counted = !matches!(self.stop, Stop::CancelledPreparing { .. } | Stop::Declined);
        if !quiet && counted {
            crate::stdout::line(self.summary());
            if let Some(tags) = self.tags_line() {
                crate::stdout::line(tags);
            }
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
            Stop::CancelledPreparing { command, input } => Some(format!(
                "interrupted while checking rows, before any device was sent; start again with: tpbulk {command} {input}"
            )),
            Stop::MaxErrors => Some(format!(
                "stopped after --max-errors failed rows; continue with: tpbulk resume {}",
                self.id
            )),
            Stop::Declined => Some(
                "nothing deleted: the answer was no (nothing was sent, and the batch is not kept)"
                    .into(),
            ),
            _ if self.counts.pending > 0 => Some(format!(
                "rows left unsent; continue with: tpbulk resume {}",
                self.id
            )),
            _ if self.tag_calls.is_some_and(|t| t.pending > 0) => Some(format!(
                "tag calls left unsent; continue with: tpbulk resume {}",
                self.id
            )),
            _ => None,
        }
    }
}

/// Imports a file as a new batch (or, with [`ImportConfig::deleting`], deletes the devices it names); `on_start` is
/// told the batch id as soon as it exists (a deletion: once `confirm` said yes, since only then is it kept).
/// `confirm` is asked before anything is sent whenever the batch would delete a device.
pub async fn import(
    config: ImportConfig,
    cancel: CancellationToken,
    on_start: impl FnOnce(&str),
    confirm: Confirm,
) -> anyhow::Result<BatchResult> {
    let started = Instant::now();
    let started_ms = chrono::Utc::now().timestamp_millis();
    let (action, command) = if config.deleting {
        (Action::Delete, "delete")
    } else {
        (Action::Create, "import")
    };
    let table = Table::open(&config.file, &config.input)?;
    if config.deleting {
        crate::prepare::refuse_unnamed_targets(&table)?;
    }
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
            action,
        )?;
    }
    // Checked before the platform is called: a plan of another file or other options is refused whole.
    let plan = match &config.plan {
        Some(path) => Some(crate::engine::plan_file::SavedPlan::open(
            path,
            &config.file,
            &input_sha256,
            &config.client.url,
            &config.input,
            config.clear_empty,
        )?),
        None => None,
    };
    let client = crate::platform::connect(config.client.clone(), config.settings.rate).await?;
    // A deletion names devices by their identifiers only: no catalogue to resolve against.
    let catalog = if config.deleting {
        None
    } else {
        if !config.display.quiet {
            eprintln!("tpbulk: reading the catalogue");
        }
        let catalog = client.catalog().await;
        Some(catalog.map_err(|e| crate::platform::unavailable(&config.client.url, &e))?)
    };
    let mut journal = Journal::open(&config.journal)?;
    let mut options = serde_json::json!({
        "rate": config.settings.rate,
        "concurrency": config.settings.concurrency,
        "on_existing": config.on_existing,
        "clear_empty": config.clear_empty,
        "force": config.force,
        "plan": config.plan.as_ref().map(|p| p.display().to_string()),
        "max_errors": config.settings.max_errors,
        "url": config.client.url,
        "token_url": config.client.explicit_token_url(),
        "client_id": config.client.client_id,
        "insecure": config.client.insecure,
        "started_ms": started_ms,
        // Until every row is journalled the batch cannot be resumed: resuming would silently drop the rest.
        "prepared": false,
    });
    let id = journal.create_batch_of(
        &NewBatch {
            name: config.name.clone(),
            input_path: input_path.display().to_string(),
            input_sha256,
            format: table.format.clone(),
            columns: table.columns.clone(),
            input_columns: config.input.columns.clone(),
            options: options.clone(),
            profile: config.profile.clone(),
        },
        action,
    )?;
    let mut on_start = Some(on_start);
    if !config.deleting
        && let Some(announce) = on_start.take()
    {
        announce(&id);
    }
    tracing::info!(batch = %id, "batch started");

    let prepared = {
        let (client, id, on_existing) = (client.clone(), id.clone(), config.on_existing);
        let clear_empty = config.clear_empty;
        // With --force the plan only had to be this file's: every row is compared with its device as it is now.
        let plan = plan.filter(|_| !config.force);
        let cancel = cancel.clone();
        let progress = LookupProgress::new(&config.display);
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let unavailable =
                |e: ApiError| anyhow::Error::new(crate::platform::unavailable(&client.config().url, &e));
            journal_prepared(
                table,
                catalog.as_ref(),
                journal,
                &id,
                (on_existing, clear_empty, plan.as_ref()),
                &cancel,
                |keys| {
                    handle.block_on(async {
                        tokio::select! {
                            _ = cancel.cancelled() => Err(PrepareCancelled.into()),
                            found = find_matching(&client, keys, &progress) => found.map_err(unavailable),
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
    let stopped = |stop: Stop, counts: Counts| BatchResult {
        elapsed: started.elapsed(),
        requests: client.request_counts(),
        ..BatchResult::new(&id, action, counts, stop)
    };
    let cancelled = Stop::CancelledPreparing {
        command,
        input: config.file.display().to_string(),
    };
    let (mut journal, over_quota, deletions) = match prepared {
        Ok(prepared) => prepared,
        Err(e) if e.is::<PrepareCancelled>() => {
            // The options still say `prepared: false`, so resume refuses the batch instead of sending a part.
            let mut journal = Journal::open(&config.journal)?;
            journal.set_batch_state(&id, BatchState::Interrupted)?;
            tracing::warn!(batch = %id, "interrupted while checking rows; nothing was sent");
            return Ok(stopped(cancelled, journal.counts(&id)?));
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
    if deletions.on_platform > 0 {
        // Nothing is sent before the answer; without a yes the batch is not kept (it sent nothing).
        let answer = tokio::task::spawn_blocking(move || confirm(deletions));
        let answer = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            answer = answer => Some(answer.context("asking before deleting")?),
        };
        if !matches!(answer, Some(Ok(true))) {
            journal.discard_batch(&id)?;
        }
        match answer {
            Some(Ok(true)) => {}
            Some(Ok(false)) => return Ok(stopped(Stop::Declined, Counts::default())),
            Some(Err(e)) => return Err(e),
            None => return Ok(stopped(cancelled, Counts::default())),
        }
    }
    if let Some(announce) = on_start.take() {
        announce(&id);
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

/// Sends the tag calls of a batch whose rows are all final: gives them the DevEUIs of the devices the batch
/// created, runs them on the engine like any batch (`{id}.tags`: journalled, paced, resumable), and leaves the
/// import `done` once none is left. A batch with rows still to send, or stopped, keeps its calls for `resume`.
async fn run_tag_calls(
    mut result: BatchResult,
    mut journal: Journal,
    client: Client,
    pool_config: &PoolConfig,
    cancel: CancellationToken,
    display: &Display,
) -> anyhow::Result<BatchResult> {
    let tags_id = Journal::tags_id(&result.id);
    if journal.batch(&tags_id)?.is_none() {
        return Ok(result);
    }
    let went_on = matches!(result.stop, Stop::Drained | Stop::MaxErrors);
    if result.counts.pending > 0 || !went_on || cancel.is_cancelled() {
        result.tag_calls = Some(journal.counts(&tags_id)?);
        return Ok(result);
    }
    if journal.resolve_tag_calls(&result.id)? > 0 {
        let before = client.request_counts();
        let (tags, back) = run_pool(
            journal,
            &tags_id,
            client,
            pool_config,
            cancel,
            display,
            false,
        )
        .await?;
        result.requests = result.requests.plus(&tags.requests.since(&before));
        if tags.stop != Stop::Drained {
            result.stop = tags.stop;
        }
        journal = back;
    }
    let calls = journal.counts(&tags_id)?;
    let state = if calls.pending == 0 {
        BatchState::Done
    } else {
        BatchState::Interrupted
    };
    journal.set_batch_state(&result.id, state)?;
    result.tag_calls = Some(calls);
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
    action: Action,
) -> anyhow::Result<()> {
    let batches = journal.batches()?;
    if let Some((batch, pid)) = batches
        .iter()
        .find_map(|b| b.running_elsewhere().map(|pid| (b, pid)))
    {
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
    // A file deleted before is deleted again at no harm (its devices are gone); only an unfinished deletion of it
    // is pointed at `resume`, which settles the rows it left in flight.
    let earlier = batches.iter().find(|b| {
        b.input_sha256.eq_ignore_ascii_case(sha256)
            && b.options["url"].as_str() == Some(url)
            && b.options["prepared"] != serde_json::Value::Bool(false)
            && b.action == action
            && (action == Action::Create || b.effective_state() != BatchState::Done)
    });
    let Some(batch) = earlier else {
        return Ok(());
    };
    let state = batch.effective_state();
    let (next, done) = match (action, state) {
        (Action::Create | Action::Update | Action::Restore | Action::Tag, BatchState::Done) => (
            "to import it once more as a new batch on purpose, add --again".to_string(),
            "imported to",
        ),
        (
            Action::Create | Action::Update | Action::Restore | Action::Tag,
            BatchState::Running | BatchState::Interrupted,
        ) => (
            format!(
                "continue it with: tpbulk resume {} (or add --again for a new batch on purpose)",
                batch.id
            ),
            "imported to",
        ),
        // Only an unfinished deletion is found here (see `earlier`).
        (Action::Delete, _) => (
            format!("continue it with: tpbulk resume {}", batch.id),
            "being deleted from",
        ),
    };
    Err(UsageError(format!(
        "this file (sha256 {}) was already {done} {url} as batch {} ({}, {}); {next}",
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
/// Without a catalogue every row names a device to delete (`tpbulk delete`); with one, a ThingPark file's `DELETE`
/// rows do. A deletion whose device is not there is journalled `gone` (nothing to send); one whose identifiers
/// match several devices `invalid`, so that none of them is deleted on a guess.
#[allow(clippy::too_many_arguments)]
fn journal_prepared(
    mut table: Table,
    catalog: Option<&Catalog>,
    mut journal: Journal,
    batch: &str,
    (on_existing, clear_empty, plan): (OnExisting, bool, Option<&SavedPlan>),
    cancel: &CancellationToken,
    mut lookup: impl FnMut(&[ExistKey]) -> anyhow::Result<HashMap<ExistKey, Vec<DeviceInfo>>>,
    mut read: impl FnMut(&str) -> anyhow::Result<Option<DeviceInfo>>,
) -> anyhow::Result<(Journal, Vec<OverQuota>, Deletions)> {
    let mut chunk: Vec<(NewRow, Vec<ExistKey>, Option<Wish>)> =
        Vec::with_capacity(PREPARE_CHUNK.min(4096));
    // The connectivity plan of each row of the chunk that would be sent; a device found on the platform takes no
    // new slot.
    let mut chunk_plans: Vec<(Option<ExistKey>, String)> = Vec::new();
    let mut tally = PlanTally::default();
    let mut deletions = Deletions::default();
    // Each tag an update puts on (`false`) or takes off (`true`), and its rows: one call per tag per page.
    let mut retag: std::collections::BTreeMap<(bool, String), Vec<u64>> = Default::default();
    let mut flush = |chunk: &mut Vec<(NewRow, Vec<ExistKey>, Option<Wish>)>,
                     chunk_plans: &mut Vec<(Option<ExistKey>, String)>,
                     journal: &mut Journal|
     -> anyhow::Result<()> {
        let keys: Vec<ExistKey> = chunk
            .iter()
            .flat_map(|(_, k, _)| k.iter().cloned())
            .collect();
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
        for (mut row, keys, wish) in chunk.drain(..) {
            if row.action == Action::Delete {
                if row.state == RowState::Pending {
                    let mut devices: Vec<&DeviceInfo> = Vec::new();
                    for device in keys.iter().filter_map(|k| found.get(k)).flatten() {
                        if !devices.iter().any(|d| same_device(d, device)) {
                            devices.push(device);
                        }
                    }
                    deletions.named += 1;
                    deletions.on_platform += u64::from(devices.len() == 1);
                    to_delete(&mut row, &devices);
                }
                rows.push(row);
                continue;
            }
            let found = keys
                .first()
                .and_then(|k| found.get(k))
                .and_then(|d| d.last());
            let Some(device) = found else {
                if wish.is_some() && row.state == RowState::Invalid {
                    // An update row whose device is not there: what it lacks is what a creation needs.
                    row.errors.insert(0, crate::prepare::not_on_platform());
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
                        let (untag, tag) = match plan
                            .map(|p| p.rebase(row.row, &wish, &reference, decision.clone()))
                        {
                            None => become_update(&mut row, decision)?,
                            Some(Rebased::Decision(decision)) => become_update(&mut row, decision)?,
                            Some(Rebased::Conflict(message)) => {
                                become_update(&mut row, Decision::Unchanged)?;
                                row.state = RowState::Conflict;
                                row.message = Some(message);
                                Default::default()
                            }
                        };
                        for (off, tags) in [(true, untag), (false, tag)] {
                            for tag in tags {
                                retag.entry((off, tag)).or_default().push(row.row);
                            }
                        }
                    }
                }
            }
            rows.push(row);
        }
        journal.insert_rows(batch, rows)
    };
    // The rows each tag goes on, for the tag calls journalled with the batch.
    let mut tagged: std::collections::BTreeMap<Tag, Vec<u64>> = Default::default();
    let updating = (on_existing == OnExisting::Update).then_some(UpdateMode { clear_empty });
    let mut each = |prepared: PreparedRow| {
        if cancel.is_cancelled() {
            return Err(PrepareCancelled.into());
        }
        if matches!(prepared.outcome, Prepared::Send(_)) {
            for tag in &prepared.tags {
                tagged.entry(tag.clone()).or_default().push(prepared.row);
            }
        }
        if let Prepared::Send(request) = &prepared.outcome
            && let Some(plan) = PlanTally::plan_of(request)
        {
            chunk_plans.push((prepared.exist_key.clone(), plan.to_string()));
        }
        let wish = prepared.update.clone();
        let (row, keys) = new_row(prepared)?;
        chunk.push((row, keys, wish));
        if chunk.len() >= PREPARE_CHUNK {
            flush(&mut chunk, &mut chunk_plans, &mut journal)?;
        }
        Ok(())
    };
    let notes = match catalog {
        Some(catalog) => prepare_rows_for(&mut table, catalog, updating, &mut each)?,
        None => prepare_targets(&mut table, &mut each)?,
    };
    crate::prepare::warn_file_notes(&table.path, &notes);
    if cancel.is_cancelled() {
        return Err(PrepareCancelled.into());
    }
    flush(&mut chunk, &mut chunk_plans, &mut journal)?;
    // Journalled before anything is sent, so that a crash at any point loses none.
    let mut calls = tag_calls(tagged, TAG_PAGE);
    calls.extend(grouped_tag_calls(retag, Action::Update, TAG_PAGE));
    if !calls.is_empty() {
        journal.insert_tag_calls(batch, calls)?;
    }
    let over_quota = catalog.map(|c| tally.over_quota(c)).unwrap_or_default();
    Ok((journal, over_quota, deletions))
}

/// A deletion, by what its identifiers matched: the one device (its reference journalled, for the request), none
/// (`gone`), or several (`invalid`: none deleted, and the row goes back for fixing like any other bad row).
fn to_delete(row: &mut NewRow, devices: &[&DeviceInfo]) {
    match devices {
        [] => row.state = RowState::Gone,
        [device] => {
            row.device_href = device.href.clone();
            row.device_uid = device.uid.clone();
            row.device_eui = (!device.eui.is_empty()).then(|| device.eui.clone());
        }
        several => {
            let named: Vec<String> = several
                .iter()
                .map(|d| {
                    let id = d.uid.as_deref().unwrap_or(&d.eui);
                    match (&d.imei, &d.sim) {
                        (Some(imei), Some(sim)) => format!("{id} (IMEI {imei}, SIM {sim})"),
                        (Some(imei), None) => format!("{id} (IMEI {imei})"),
                        (None, Some(sim)) => format!("{id} (SIM {sim})"),
                        (None, None) => id.to_string(),
                    }
                })
                .collect();
            row.state = RowState::Invalid;
            row.errors.push(RowError {
                field: "row".into(),
                column: String::new(),
                code: ErrorCode::Ambiguous,
                message: format!(
                    "the row's identifiers match {} devices on the platform ({}): none is deleted; keep the \
                     identifier of the one to delete",
                    several.len(),
                    named.join(", ")
                ),
            });
        }
    }
}

/// The tag calls that put each tag on its rows' devices: one call per tag per `page` of its rows, not one per
/// device, so a thousand devices of one shipment tag take one request.
pub fn tag_calls(
    tagged: std::collections::BTreeMap<Tag, Vec<u64>>,
    page: usize,
) -> Vec<NewTagCall> {
    let groups = tagged
        .into_iter()
        .map(|(tag, rows)| ((false, tag.as_str().to_string()), rows))
        .collect();
    grouped_tag_calls(groups, Action::Create, page)
}

/// The calls of each `(untag, tag)` group of rows, one per `page` of them, for rows that end `done` by `of`.
pub fn grouped_tag_calls(
    groups: std::collections::BTreeMap<(bool, String), Vec<u64>>,
    of: Action,
    page: usize,
) -> Vec<NewTagCall> {
    groups
        .into_iter()
        .flat_map(|((untag, tag), rows)| {
            rows.chunks(page.max(1))
                .map(|rows| NewTagCall {
                    tag: tag.clone(),
                    untag,
                    rows: rows.to_vec(),
                    of,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Compares a row's wish with the device's state as a listing or a read showed it.
fn decide(wish: &Wish, reference: &str, device: &crate::platform::DeviceInfo) -> Decision {
    let state = device.state.as_deref().cloned().unwrap_or_default();
    crate::platform::update::decide(wish, reference, &state)
}

/// A row whose device exists, as `--on-existing update` leaves it: `unchanged`, a pending `update` (its change as
/// the request, its values before and after kept for rollback), or `invalid` for a forbidden change. The
/// creation's errors (missing keys …) no longer apply. A change of tags is made by the batch's tag calls, not the
/// `PUT`: returned as the tags to take off and to put on; a row changing only its tags is `done` at once (it
/// sends no `PUT`) and its tags follow with the calls, which take only the rows that ended `done`.
fn become_update(
    row: &mut NewRow,
    decision: Decision,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
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
            row.previous = Some(serde_json::to_string(&Previous {
                before: change.before.clone(),
                after: change.after.clone(),
            })?);
            let delta = change.before.tag_delta(&change.after);
            if change.puts() {
                row.state = RowState::Pending;
                let put = Change {
                    before: change.before.put_fields(),
                    after: change.after.put_fields(),
                    ..change
                };
                row.request = Some(serde_json::to_string(&put)?);
            } else {
                row.state = RowState::Done;
            }
            return Ok(delta);
        }
    }
    Ok(Default::default())
}

/// Ctrl-C or SIGTERM reached the checking stage.
#[derive(Debug, thiserror::Error)]
#[error("interrupted while checking rows")]
struct PrepareCancelled;

/// The operation a prepared row journals, and the keys its device is looked up by (a creation: the one it would be
/// refused for; a deletion: every one it may be found by).
fn new_row(prepared: PreparedRow) -> anyhow::Result<(NewRow, Vec<ExistKey>)> {
    let (action, state, request, errors, keys) = match prepared.outcome {
        Prepared::Send(request) => (
            Action::Create,
            RowState::Pending,
            Some(serde_json::to_string(&request).context("encoding a request")?),
            Vec::new(),
            prepared.exist_key.into_iter().collect(),
        ),
        Prepared::Delete => (
            Action::Delete,
            RowState::Pending,
            None,
            Vec::new(),
            ExistKey::all(&prepared.keys),
        ),
        // An invalid row naming a device to delete is a deletion that never leaves.
        Prepared::Invalid(errors) if prepared.deletion => {
            (Action::Delete, RowState::Invalid, None, errors, Vec::new())
        }
        // Invalid as a creation, but its device may exist and be updated: looked up all the same.
        Prepared::Invalid(errors) => {
            let key = prepared.exist_key.filter(|_| prepared.update.is_some());
            (
                Action::Create,
                RowState::Invalid,
                None,
                errors,
                key.into_iter().collect(),
            )
        }
    };
    Ok((
        NewRow {
            row: prepared.row,
            action,
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
            message: None,
        },
        keys,
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
    let mut batch = pick_batch(&journal, config.batch.as_deref())?;
    // An import's tag calls are resumed with the import, which holds the platform they go to.
    if batch.action == crate::journal::Action::Tag
        && let Some(import) = Journal::import_of_tags(&batch.id)
    {
        batch = journal.resolve_batch(Some(import))?;
    }
    // So are a rollback's (below): a rollback's own id resumes the import it undoes.
    if let Some(import) = batch.undoes.clone() {
        batch = journal.resolve_batch(Some(&import))?;
    }
    // Two runs of one batch would both send its unfinished rows.
    if let Some(pid) = batch.running_elsewhere() {
        return Err(UsageError(format!(
            "batch {} is running in process {pid}; let it finish, or stop it (Ctrl-C, or kill {pid}) and resume then",
            batch.id
        ))
        .into());
    }
    // Before the counts: a batch stopped early in checking may have no row yet, and would look finished.
    if batch.options["prepared"] == serde_json::Value::Bool(false) {
        return Err(UsageError(format!(
            "batch {} was stopped while its rows were being checked, before any device was sent; it cannot be resumed: {} {} again",
            batch.id,
            match batch.action {
                Action::Delete => "delete",
                Action::Create | Action::Update | Action::Restore | Action::Tag => "import",
            },
            batch.input_path
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
                let (client, _) = resumed(&config, &batch, None).await?;
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
            // With tag calls left the batch is not done: it is this run's while they are sent.
            let state = match journal.tag_calls_left(&batch.id)? {
                0 => BatchState::Done,
                _ => BatchState::Running,
            };
            journal.set_batch_state(&batch.id, state)?;
        }
        // The import's tag calls left, else those of its rollback once its deletions and restores are all final.
        let rollback = Journal::rollback_id(&batch.id);
        let (id, action, counts) = if journal.tag_calls_left(&batch.id)? == 0
            && journal.tag_calls_left(&rollback)? > 0
            && journal.counts(&rollback)?.pending == 0
        {
            (
                rollback.as_str(),
                Action::Delete,
                journal.counts(&rollback)?,
            )
        } else {
            (batch.id.as_str(), batch.action, counts)
        };
        let result = BatchResult {
            elapsed: started.elapsed(),
            requests: requests.unwrap_or_default(),
            ..BatchResult::new(id, action, counts, Stop::Drained)
        };
        if journal.tag_calls_left(id)? == 0 {
            let tags_id = Journal::tags_id(&batch.id);
            let tag_calls = match journal.batch(&tags_id)? {
                Some(_) => Some(journal.counts(&tags_id)?),
                None => None,
            };
            return Ok(BatchResult {
                tag_calls,
                ..result
            });
        }
        // Every row is final but tag calls are left (the run was stopped or killed among them).
        let (client, pool_config) = resumed(&config, &batch, None).await?;
        let before = client.request_counts();
        let mut result = run_tag_calls(
            result,
            journal,
            client,
            &pool_config,
            cancel,
            &config.display,
        )
        .await?;
        result.requests = result.requests.plus(&before);
        result.elapsed = started.elapsed();
        return Ok(result);
    }
    let max_errors = batch.options["max_errors"].as_u64();
    let (client, pool_config) = resumed(&config, &batch, max_errors).await?;
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

/// The client and pool of a resumed batch: the options given now, else the ones the batch was imported with.
async fn resumed(
    config: &ResumeConfig,
    batch: &BatchInfo,
    max_errors: Option<u64>,
) -> anyhow::Result<(Client, PoolConfig)> {
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
        max_errors,
    )?;
    let platform = config.platform.or_recorded(options);
    let client_config = ClientConfig::new(&platform, config.env_secret.clone())?;
    let client = crate::platform::connect(client_config, settings.rate).await?;
    let mut pool_config = pool_config(&settings, options["started_ms"].as_i64());
    pool_config.force = options["force"].as_bool().unwrap_or(false);
    Ok((client, pool_config))
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

/// Runs a journalled batch (an import, a deletion, a rollback) on the pool ([`run_pool`]), then its tag calls
/// once its rows are final ([`run_tag_calls`]).
pub async fn run_batch(
    journal: Journal,
    id: &str,
    client: Client,
    pool_config: &PoolConfig,
    cancel: CancellationToken,
    display: &Display,
    settle_all: bool,
) -> anyhow::Result<BatchResult> {
    let (run, journal) = run_pool(
        journal,
        id,
        client.clone(),
        pool_config,
        cancel.clone(),
        display,
        settle_all,
    )
    .await?;
    run_tag_calls(run, journal, client, pool_config, cancel, display).await
}

/// Runs the pool over the batch's unfinished rows, streamed from a second, read-only use of the journal while the
/// writer owns the first; then gives cellular rows created without their reference that reference (every such row
/// of the batch with `settle_all`, as on resume, else only when this run made some); leaves the batch `done` or
/// `interrupted`, and hands the journal back.
async fn run_pool(
    mut journal: Journal,
    id: &str,
    client: Client,
    pool_config: &PoolConfig,
    cancel: CancellationToken,
    display: &Display,
    settle_all: bool,
) -> anyhow::Result<(BatchResult, Journal)> {
    let started = Instant::now();
    let total = journal.counts(id)?.pending;
    journal.set_batch_state(id, BatchState::Running)?;
    let action = journal
        .batch(id)?
        .map(|b| b.action)
        .unwrap_or(Action::Create);
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
    // An import whose tag calls are left is not done: it stays this run's (`running`) while the caller goes on to
    // them, so that no second run starts them beside it, and a kill among them leaves it for `resume`.
    let tags_left = journal.tag_calls_left(id)? > 0;
    let state = match (counts.pending == 0 && settled, tags_left) {
        (true, false) => BatchState::Done,
        (true, true) if went_on => BatchState::Running,
        _ => BatchState::Interrupted,
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
    let result = BatchResult {
        created_now: counters.done.load(Ordering::Relaxed),
        deleted_now: counters.deleted.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        sending: started.elapsed(),
        requests: {
            // The engine's second attempts of an operation went out as that operation; they are retries.
            let mut requests = client.request_counts();
            let again = counters.retries.load(Ordering::Relaxed);
            let sent = match action {
                crate::journal::Action::Create => &mut requests.creations,
                crate::journal::Action::Delete => &mut requests.deletions,
                crate::journal::Action::Update | crate::journal::Action::Restore => {
                    &mut requests.updates
                }
                crate::journal::Action::Tag => &mut requests.tags,
            };
            let again = again.min(*sent);
            *sent -= again;
            requests.retries += again;
            requests
        },
        ..BatchResult::new(id, action, counts, stop)
    };
    Ok((result, journal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_takes_one_call_per_page_of_its_rows() {
        let tag = |t: &str| Tag::parse(t).unwrap();
        let tagged = [(tag("lot A"), vec![2, 3, 4, 5, 6]), (tag("b"), vec![3])]
            .into_iter()
            .collect();
        let calls = tag_calls(tagged, 2);
        let shown: Vec<(&str, &[u64])> = calls
            .iter()
            .map(|c| (c.tag.as_str(), c.rows.as_slice()))
            .collect();
        assert_eq!(
            shown,
            [
                ("b", &[3][..]),
                ("lot A", &[2, 3][..]),
                ("lot A", &[4, 5][..]),
                ("lot A", &[6][..])
            ]
        );
        assert!(calls.iter().all(|c| !c.untag));
    }

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
        BatchResult::new("b1", Action::Create, counts, stop)
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

    #[test]
    fn a_deletion_is_journalled_by_what_its_identifiers_matched() {
        let device = |uid: &str, imei: Option<&str>, sim: Option<&str>| DeviceInfo {
            eui: String::new(),
            href: Some(format!("/devices/{uid}")),
            uid: Some(uid.into()),
            name: None,
            creation_date: None,
            imei: imei.map(str::to_string),
            sim: sim.map(str::to_string),
            state: None,
        };
        let row = || NewRow {
            row: 2,
            action: Action::Delete,
            kind: Some(crate::device::Kind::Cellular),
            id: Some("356936110000036".into()),
            name: None,
            state: RowState::Pending,
            request: None,
            errors: Vec::new(),
            device_href: None,
            device_uid: None,
            device_eui: None,
            keys: Default::default(),
            previous: None,
            message: None,
        };
        let mut none = row();
        to_delete(&mut none, &[]);
        assert_eq!(none.state, RowState::Gone);
        let one = device("7", Some("356936110000036"), None);
        let mut found = row();
        to_delete(&mut found, &[&one]);
        assert_eq!(
            (found.state, found.device_uid.as_deref()),
            (RowState::Pending, Some("7"))
        );
        // The IMEI on one device, the SIM on another: neither is deleted on a guess.
        let other = device("9", None, Some("89331503200000000043"));
        let mut several = row();
        to_delete(&mut several, &[&one, &other]);
        assert_eq!(several.state, RowState::Invalid);
        assert_eq!(several.device_uid, None);
        assert_eq!(several.errors[0].code, ErrorCode::Ambiguous);
        assert!(
            several.errors[0]
                .message
                .contains("7 (IMEI 356936110000036)")
                && several.errors[0]
                    .message
                    .contains("9 (SIM 89331503200000000043)"),
            "{}",
            several.errors[0].message
        );
    }
}
