//! `tpbulk resume`: continue an interrupted batch from the journal alone.

use crate::cli::{GlobalArgs, JournalArgs, PlatformArgs};
use crate::cmd::runtime::Runtime;
use crate::engine::batch::{self, ResumeConfig};
use crate::error::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch (default: the latest unfinished one).
    pub batch: Option<String>,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Requests per second (default: the batch's own).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Requests in flight at once (default: the batch's own).
    #[arg(long)]
    pub concurrency: Option<usize>,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let config = ResumeConfig {
        journal: args.journal.journal,
        batch: args.batch,
        platform: args.platform.settings(),
        env_secret: std::env::var(crate::cmd::settings::SECRET_VARIABLE).ok(),
        rate: args.rate,
        concurrency: args.concurrency,
        quiet: global.quiet,
    }
    .check()?;
    let again = "rows in flight are reconciled by `tpbulk resume`";
    rt.block_on(Some(again), |cancel| async move {
        let result = batch::resume(config, cancel, |id| {
            crate::stdout::line(format_args!("batch {id}"))
        })
        .await?;
        Ok(result.print(global.quiet))
    })
}
