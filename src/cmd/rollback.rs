//! `tpbulk rollback`: delete the devices a batch created, and never one that existed before it.

use crate::cli::{EngineArgs, GlobalArgs, JournalArgs, PlatformArgs};
use crate::error::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch to undo.
    pub batch: String,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = (args, global);
    todo!("issue 6: rollback")
}
