//! `tpbulk rework`: the invalid and failed rows, in the input's own columns and format, with an `error` column.

use crate::cli::{GlobalArgs, JournalArgs};
use crate::error::Exit;
use crate::journal::Journal;
use crate::report::write_rework;
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
    let journal = Journal::open_existing(&super::profile::choose(global)?.journal(&args.journal))?;
    let batch = journal.resolve_batch(args.batch.as_deref())?;
    let summary = write_rework(&journal, &batch, &args.output)?;
    if !global.quiet {
        if summary.rows == 0 {
            eprintln!(
                "batch {} has no invalid or failed rows; {} holds only the header",
                batch.id,
                summary.path.display()
            );
        } else {
            eprintln!(
                "wrote {} row(s) to fix from batch {} to {}",
                summary.rows,
                batch.id,
                summary.path.display()
            );
        }
    }
    Ok(Exit::Success)
}
