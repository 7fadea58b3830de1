//! `tpbulk report`: one line per input row with its fate.

use crate::cli::{GlobalArgs, JournalArgs};
use crate::error::Exit;
use crate::journal::Journal;
use crate::report::{ReportFormat, is_stdout, refuse_overwriting_input, write_report};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch (default: the latest).
    pub batch: Option<String>,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Where to write the report (`-`: standard output).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Report format (default: from the output's extension, else csv).
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let format = args
        .format
        .or_else(|| ReportFormat::from_path(&args.output));
    let format = format.unwrap_or(ReportFormat::Csv);
    let journal = Journal::open_existing(&super::profile::choose(global)?.journal(&args.journal))?;
    let batch = journal.resolve_batch(args.batch.as_deref())?;
    refuse_overwriting_input(&batch, &args.output)?;
    let rows = write_report(&journal, &batch.id, &args.output, format)?;
    if !global.quiet && !is_stdout(&args.output) {
        eprintln!(
            "wrote the report of batch {} ({rows} rows) to {}",
            batch.id,
            args.output.display()
        );
    }
    Ok(Exit::Success)
}
