//! `tpbulk resume`: continue an interrupted batch from the journal alone.

use crate::cli::{GlobalArgs, JournalArgs, OutputFormat, PlatformArgs};
use crate::cmd::runtime::Runtime;
use crate::engine::batch::{self, ResumeConfig, RunSettings};
use crate::error::Exit;
use crate::journal::Journal;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch (default: the latest unfinished one).
    pub batch: Option<String>,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Requests per second (default: the batch's own).
    #[arg(long, help_heading = "Platform options")]
    pub rate: Option<f64>,
    /// Requests in flight at once (default: the batch's own).
    #[arg(long, help_heading = "Platform options")]
    pub concurrency: Option<usize>,
    /// The summary as text, or as one JSON object (the shape of `import --format json`).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    // The values given are checked before the journal is read (the batch's own are checked when it is).
    RunSettings::new(
        args.rate.unwrap_or(0.0),
        args.concurrency.unwrap_or(8),
        None,
    )?;
    let journal = super::profile::choose(global)?.journal(&args.journal);
    // The batch's own profile gives the credentials, unless --profile or TPBULK_PROFILE names another.
    let recorded =
        batch::pick_batch(&Journal::open_existing(&journal)?, args.batch.as_deref())?.profile;
    let chosen = super::profile::choose_for(global, recorded.as_deref())?;
    let secret = chosen.secret_with(
        &args.platform,
        std::env::var(super::profile::SECRET_VAR).ok(),
    )?;
    let config = ResumeConfig {
        journal,
        batch: args.batch,
        platform: args.platform.settings(),
        env_secret: secret.map(|s| s.expose().to_string()),
        rate: args.rate,
        concurrency: args.concurrency,
        quiet: global.quiet,
    }
    .check()?;
    let format = args.format;
    let again = "rows in flight are reconciled by `tpbulk resume`";
    rt.block_on(Some(again), |cancel| async move {
        let result =
            batch::resume(config, cancel, |id| super::import::announce(id, format)).await?;
        super::import::print(&result, format, global.quiet)
    })
}
