//! `tpbulk import`: check, resolve, journal and create every device of a shipment file.

use crate::cli::{GlobalArgs, InputArgs, OutputFormat, RemoteArgs};
use crate::cmd::runtime::Runtime;
use crate::engine::batch::{self, BatchResult, ImportConfig};
use crate::engine::pool::Stop;
use crate::error::{Exit, UsageError};
use crate::input::InputOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// What a device that already exists on the platform becomes: `skip` (the row ends `exists`), `fail`, or
    /// `update` (the fields the file gives are compared and only a real difference is written).
    #[arg(long, value_enum, default_value_t = OnExisting::Skip)]
    pub on_existing: OnExisting,
    /// With `--on-existing update`: an empty cell clears the field on the device instead of leaving it as it is.
    #[arg(long)]
    pub clear_empty: bool,
    /// With `--on-existing update`: write even over a device that changed since it was read (`force=true`),
    /// instead of leaving it and reporting a `conflict`.
    #[arg(long)]
    pub force: bool,
    /// With `--on-existing update`: update from what `tpbulk plan --on-existing update --save PLAN` read (each
    /// device's version and values), so that a device changed since the plan ends `conflict` instead of being
    /// overwritten. Refused for a plan of another file, platform or options.
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<std::path::PathBuf>,
    /// Stop cleanly after this many failed rows.
    #[arg(long)]
    pub max_errors: Option<u64>,
    /// A name for the batch.
    #[arg(long)]
    pub name: Option<String>,
    /// The summary as text, or as one JSON object.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Import a file this journal already imported to this platform, as a new batch on purpose.
    #[arg(long)]
    pub again: bool,
    /// Start even when the rows would take more of a connectivity plan than its quota has left (the platform
    /// then refuses the overflow rows one by one).
    #[arg(long)]
    pub allow_over_quota: bool,
    /// Delete the devices of the file's `DELETE` rows (ThingPark's positional file) without asking (needed off a
    /// terminal).
    #[arg(long)]
    pub yes: bool,
}

pub use crate::engine::batch::OnExisting;

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let config = config(&args, global, rt)?;
    let again = "rows in flight are reconciled by `tpbulk resume`";
    run_file_batch(config, args.yes, again, args.format, global, rt)
}

/// Runs an import (or a deletion from a file) to its summary, printed in `format`; its deletions are asked about
/// first unless `yes`.
pub fn run_file_batch(
    config: ImportConfig,
    yes: bool,
    again: &str,
    format: OutputFormat,
    global: &GlobalArgs,
    rt: &Runtime,
) -> anyhow::Result<Exit> {
    let confirm = super::delete::confirmation(&config.file, yes, global.quiet);
    rt.block_on(Some(again), |cancel| async move {
        let result = batch::import(config, cancel, |id| announce(id, format), confirm).await?;
        print(&result, format, global.quiet)
    })
}

/// Every option checked, before the file is opened or the platform called.
fn config(args: &Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<ImportConfig> {
    if (args.clear_empty || args.force || args.plan.is_some())
        && args.on_existing != OnExisting::Update
    {
        let flag = if args.plan.is_some() {
            "--plan"
        } else if args.force {
            "--force"
        } else {
            "--clear-empty"
        };
        return Err(UsageError(format!(
            "{flag} is about updating devices that exist: add --on-existing update"
        ))
        .into());
    }
    let shared = file_batch(&args.input, &args.remote, args.max_errors, global, rt)?;
    Ok(ImportConfig {
        name: args.name.clone(),
        on_existing: args.on_existing,
        clear_empty: args.clear_empty,
        force: args.force,
        plan: args.plan.clone(),
        again: args.again,
        allow_over_quota: args.allow_over_quota,
        ..shared
    })
}

/// What an import and a deletion from a file (`tpbulk delete`) share, checked: the rest is left as a plain
/// import's (`--on-existing skip`, no name, not `--again`, not deleting).
pub fn file_batch(
    input: &InputArgs,
    remote: &RemoteArgs,
    max_errors: Option<u64>,
    global: &GlobalArgs,
    rt: &Runtime,
) -> anyhow::Result<ImportConfig> {
    let options = InputOptions::from_args(input).map_err(|e| UsageError(e.to_string()))?;
    let chosen = super::profile::choose(global)?;
    let client = chosen.client(&remote.platform)?;
    let settings = chosen.settings(&remote.engine, max_errors)?;
    Ok(ImportConfig {
        file: input.file.clone(),
        input: options,
        client,
        journal: chosen.journal(&remote.journal),
        settings,
        on_existing: OnExisting::Skip,
        clear_empty: false,
        force: false,
        plan: None,
        name: None,
        profile: chosen.name.clone(),
        again: false,
        allow_over_quota: false,
        deleting: false,
        display: rt.display(global.quiet),
    })
}

/// `batch ID` as soon as the batch exists, so that a person can resume it even if the run is killed; in JSON the
/// id is in the summary object instead, and stdout holds nothing else.
pub fn announce(id: &str, format: OutputFormat) {
    if format == OutputFormat::Text {
        crate::stdout::line(format_args!("batch {id}"));
    }
}

/// What `import --format json` and `resume --format json` print: one object, these keys always present.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunJson {
    pub batch: String,
    /// `drained` (every row final or unsendable), `cancelled`, `cancelled_preparing` (nothing sent; import the file
    /// again), `declined` (the question before deleting was answered no: nothing sent, no batch kept), `max_errors`,
    /// `auth_lost`, `journal` (the journal could not be written).
    pub stop: String,
    pub total: u64,
    pub created: u64,
    /// Devices updated (`--on-existing update`), rows whose device already had every value, and rows left because
    /// the device changed since it was read.
    pub updated: u64,
    pub unchanged: u64,
    pub conflict: u64,
    pub exists: u64,
    /// Devices deleted (`tpbulk delete`, an import's `DELETE` rows), and deletions whose device was already gone.
    #[serde(default)]
    pub deleted: u64,
    #[serde(default)]
    pub gone: u64,
    pub invalid: u64,
    pub failed: u64,
    /// Rows not final yet: what `resume` would still send.
    pub pending: u64,
    /// Devices created by this run (`created` counts the whole batch).
    pub created_now: u64,
    /// Devices deleted by this run (`deleted` counts the whole batch).
    #[serde(default)]
    pub deleted_now: u64,
    pub elapsed_s: f64,
    /// Over the sending phase only.
    pub devices_per_s: f64,
    /// The batch's tag calls, when its rows have tags (`null` otherwise).
    #[serde(default)]
    pub tag_calls: Option<crate::cmd::status::TagCallsJson>,
    /// What to do next, when the batch did not finish (also on stderr).
    pub next: Option<String>,
    pub exit: i32,
}

impl RunJson {
    pub fn new(result: &BatchResult) -> RunJson {
        let c = &result.counts;
        RunJson {
            batch: result.id.clone(),
            stop: match &result.stop {
                Stop::Drained => "drained",
                Stop::Cancelled => "cancelled",
                Stop::CancelledPreparing { .. } => "cancelled_preparing",
                Stop::Declined => "declined",
                Stop::MaxErrors => "max_errors",
                Stop::AuthLost(_) => "auth_lost",
                Stop::Journal(_) => "journal",
            }
            .to_string(),
            total: c.total,
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            conflict: c.conflict,
            exists: c.exists,
            deleted: c.deleted,
            gone: c.gone,
            invalid: c.invalid,
            failed: c.failed,
            pending: c.pending,
            created_now: result.created_now,
            deleted_now: result.deleted_now,
            elapsed_s: (result.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            devices_per_s: (result.devices_per_s() * 10.0).round() / 10.0,
            tag_calls: result.tag_calls.map(crate::cmd::status::TagCallsJson::from),
            next: result.next_step(),
            exit: result.exit() as i32,
        }
    }
}

/// The summary of a run, as text (unless quiet) or JSON (always: it is what a script asked for).
pub fn print(result: &BatchResult, format: OutputFormat, quiet: bool) -> anyhow::Result<Exit> {
    match format {
        OutputFormat::Text => Ok(result.print(quiet)),
        OutputFormat::Json => {
            // Like the text summary: a reader gone early does not change the exit code.
            crate::stdout::line(serde_json::to_string(&RunJson::new(result))?);
            if let Some(next) = result.next_step() {
                eprintln!("tpbulk: {next}");
            }
            Ok(result.exit())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Parsed;

    fn parse(argv: &[&str]) -> Parsed<Args> {
        Parsed::of(argv).unwrap()
    }

    #[test]
    fn defaults_are_rate_10_concurrency_8_skip() {
        let cli = parse(&["ship.csv"]);
        let chosen = crate::cmd::profile::Chosen::default();
        assert_eq!(chosen.engine(&cli.args.remote.engine), (10.0, 8));
        assert_eq!(cli.args.on_existing, OnExisting::Skip);
        assert_eq!(cli.args.max_errors, None);
    }

    #[test]
    fn bad_engine_options_are_refused_before_any_io() {
        let cli = parse(&[
            "ship.csv",
            "--concurrency",
            "0",
            "--url",
            "http://127.0.0.1:1",
        ]);
        let err = config(&cli.args, &cli.global, &Runtime::new(Default::default())).unwrap_err();
        assert_eq!(crate::error::exit_for(&err), Exit::Usage);
    }

    #[test]
    fn clear_empty_and_force_need_on_existing_update() {
        for flag in ["--clear-empty", "--force"] {
            let cli = parse(&["ship.csv", flag, "--url", "http://127.0.0.1:1"]);
            let err =
                config(&cli.args, &cli.global, &Runtime::new(Default::default())).unwrap_err();
            assert_eq!(crate::error::exit_for(&err), Exit::Usage);
            assert!(err.to_string().contains("--on-existing update"), "{err}");
            let cli = parse(&["ship.csv", flag, "--on-existing", "update"]);
            assert!(
                !config(&cli.args, &cli.global, &Runtime::new(Default::default()))
                    .err()
                    .is_some_and(|e| e.to_string().contains("--on-existing")),
                "{flag} is accepted with --on-existing update"
            );
        }
    }
}
