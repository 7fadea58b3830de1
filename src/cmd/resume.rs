//! `tpbulk resume`: continue an interrupted batch from the journal alone.

use crate::cli::{GlobalArgs, JournalArgs, OutputFormat, PlatformArgs};
use crate::cmd::runtime::Runtime;
use crate::engine::batch::{self, ResumeConfig};
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
    // Every value given is checked before the journal is opened (the batch's own are checked when it is read).
    let given = ResumeConfig {
        journal: super::profile::choose(global)?.journal(&args.journal),
        batch: args.batch,
        platform: args.platform.settings(),
        env_secret: None,
        rate: args.rate,
        concurrency: args.concurrency,
        display: rt.display(global.quiet),
    }
    .check()?;
    // The batch's own profile gives the credentials, unless --profile or TPBULK_PROFILE names another.
    let recorded = batch::pick_batch(
        &Journal::open_existing(&given.journal)?,
        given.batch.as_deref(),
    )?
    .profile;
    let chosen = super::profile::choose_for(global, recorded.as_deref())?;
    let secret = chosen.secret_with(
        &args.platform,
        std::env::var(super::profile::SECRET_VAR).ok(),
    )?;
    let config = ResumeConfig {
        env_secret: secret.map(|s| s.expose().to_string()),
        ..given
    };
    let format = args.format;
    let again = "rows in flight are reconciled by `tpbulk resume`";
    rt.block_on(Some(again), |cancel| async move {
        let result =
            batch::resume(config, cancel, |id| super::import::announce(id, format)).await?;
        super::import::print(&result, format, global.quiet)
    })
}
