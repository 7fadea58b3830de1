//! `tpbulk rework`: the invalid and failed rows, in the input's own columns and format, with an `error` column.

use crate::cli::{GlobalArgs, JournalArgs};
use crate::error::Exit;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch (default: the latest).
    pub batch: Option<String>,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Where to write the rework file.
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = (args, global);
    todo!("issue 5: rework")
}
