//! `tpbulk batches`: the journal's batches, newest first.

use crate::cli::{GlobalArgs, JournalArgs};
use crate::error::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub journal: JournalArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = (args, global);
    todo!("issue 5: batches")
}
