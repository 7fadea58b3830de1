//! `tpbulk resume`: continue an interrupted batch from the journal alone.

use crate::cli::{GlobalArgs, JournalArgs, PlatformArgs};
use crate::engine::batch::{self, ResumeConfig, RunSettings};
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

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    // The values given are checked before the journal is read (the batch's own are checked when it is).
    RunSettings::new(
        args.rate.unwrap_or(0.0),
        args.concurrency.unwrap_or(8),
        None,
    )?;
    let config = ResumeConfig {
        journal: args.journal.journal,
        batch: args.batch,
        platform: args.platform,
        rate: args.rate,
        concurrency: args.concurrency,
        quiet: global.quiet,
    };
    crate::engine::block_on(|cancel| async move {
        let result = batch::resume(config, cancel, |id| {
            crate::stdout::line(format_args!("batch {id}"))
        })
        .await?;
        Ok(result.print(global.quiet))
    })
}
