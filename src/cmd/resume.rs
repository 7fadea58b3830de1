//! `tpbulk resume`: continue an interrupted batch from the journal alone.

use crate::cli::{GlobalArgs, JournalArgs, PlatformArgs};
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
    let _ = (args, global);
    todo!("issue 5: resume")
}
