//! `tpbulk health`: traffic and alarms of a batch's devices.

use crate::after::{self, health};
use crate::cli::{GlobalArgs, RemoteArgs};
use crate::cmd::runtime::Runtime;
use crate::error::{Exit, UsageError};
use crate::journal::Journal;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch (default: the latest).
    pub batch: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Days of traffic history.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// A table, one JSON object per device (jsonl), CSV or XLSX.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write to this file instead of stdout (`-`: stdout; a file is required for xlsx).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Jsonl,
    Csv,
    Xlsx,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let chosen = super::profile::choose(global)?;
    let (rate, concurrency) = chosen.engine(&args.remote.engine);
    let options = health::HealthOptions::new(args.days, concurrency)?;
    crate::engine::batch::RunSettings::new(rate, concurrency, None)?;
    // `-o -` is standard output, like no `-o`.
    let output = args
        .output
        .clone()
        .filter(|path| !crate::report::is_stdout(path));
    if args.format == Format::Xlsx && output.is_none() {
        return Err(UsageError("--format xlsx needs -o FILE.xlsx".into()).into());
    }
    let config = chosen.client(&args.remote.platform)?;
    let journal = Journal::open_existing(&chosen.journal(&args.remote.journal))?;
    let batch = journal.resolve_batch(args.batch.as_deref())?;
    let (targets, _rolled_back) = after::targets(&journal, &batch.id)?;
    let display = rt.display(global.quiet);
    let done = format!(
        "while reading the traffic of batch {}; nothing was written (run `tpbulk health {}` again)",
        batch.id, batch.id
    );
    let report = super::with_client(rt, &done, config, Some(rate), async move |client| {
        let bar = after::progress_bar(targets.len(), "devices", &display);
        let report = health::collect_with_progress(&client, &targets, options, &bar).await;
        drop(bar);
        Ok(report?)
    })?;
    let missing = report.summary().missing;
    if missing > 0 && !global.quiet {
        eprintln!(
            "tpbulk: {missing} devices of batch {} are not on the platform (see `tpbulk verify`)",
            batch.id
        );
    }
    match (&output, args.format) {
        (Some(path), Format::Xlsx) => health::write_xlsx(&report, path)?,
        (Some(path), format) => {
            let file = std::fs::File::create(path)
                .map_err(|e| UsageError(format!("{}: cannot create it: {e}", path.display())))?;
            let mut out = std::io::BufWriter::new(file);
            write(&report, &batch.id, format, &mut out)?;
            out.flush()?;
        }
        (None, format) => {
            let mut out = std::io::stdout().lock();
            write(&report, &batch.id, format, &mut out)?;
            out.flush()?;
        }
    }
    Ok(Exit::Success)
}

fn write(
    report: &health::HealthReport,
    batch: &str,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        Format::Text => health::write_text(report, batch, out)?,
        Format::Jsonl => health::write_jsonl(report, out)?,
        Format::Csv => health::write_csv(report, out)?,
        Format::Xlsx => unreachable!("xlsx is written to a file"),
    }
    Ok(())
}
