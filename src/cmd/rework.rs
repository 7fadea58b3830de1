//! `tpbulk rework`: the invalid and failed rows, in the input's own columns and format, with an `error` column.

use crate::cli::{GlobalArgs, JournalArgs};
use crate::error::Exit;
use crate::journal::Journal;
use crate::report::{is_stdout, write_rework_from};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch (default: the latest).
    pub batch: Option<String>,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Where to write the rework file (`-`: standard output, for a CSV input).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The batch's input file, when it is no longer where the batch recorded it (accepted when its sha256 is the
    /// batch's).
    #[arg(long, value_name = "PATH")]
    pub input: Option<PathBuf>,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let journal = Journal::open_existing(&super::profile::choose(global)?.journal(&args.journal))?;
    let batch = journal.resolve_batch(args.batch.as_deref())?;
    let summary = write_rework_from(&journal, &batch, args.input.as_deref(), &args.output)?;
    // On standard output the rows speak for themselves.
    if !global.quiet && !is_stdout(&args.output) {
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
