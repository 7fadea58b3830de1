//! `tpbulk validate`: read and check a shipment file offline, streaming: one thread reads and maps rows, this one
//! checks them and writes the results, so neither the file nor its results are ever held whole.

use crate::cli::{GlobalArgs, InputArgs};
use crate::device::{Checker, ErrorCode, Kind, RowError, Verdict};
use crate::error::{Exit, UsageError};
use crate::input::{InputError, InputOptions, MappedRow, Table};
use anyhow::Context;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the per-row results (JSON lines) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Jsonl,
}

/// How many errors the text summary lists before pointing at the JSONL output.
const FIRST_ERRORS: usize = 20;

/// Rows travel from the reader in batches, so the channel costs little per row; a few batches in flight are
/// enough to keep both threads busy and memory flat.
const BATCH: usize = 1024;
const BATCHES_IN_FLIGHT: usize = 4;

/// One line of `--format jsonl` and of `--report`.
#[derive(serde::Serialize)]
struct RowLine<'a> {
    row: u64,
    kind: Option<Kind>,
    id: Option<&'a str>,
    status: &'static str,
    errors: &'a [RowError],
}

impl<'a> RowLine<'a> {
    fn new(verdict: &'a Verdict) -> RowLine<'a> {
        let errors: &[RowError] = match &verdict.result {
            Ok(_) => &[],
            Err(errors) => errors,
        };
        RowLine {
            row: verdict.row,
            kind: verdict.kind,
            id: verdict.id.as_deref(),
            status: if errors.is_empty() {
                "valid"
            } else {
                "invalid"
            },
            errors,
        }
    }
}

/// The counts of a run and its first errors, for the text summary.
#[derive(Debug, Default)]
pub struct Summary {
    pub rows: u64,
    pub valid: u64,
    pub invalid: u64,
    pub by_code: BTreeMap<ErrorCode, u64>,
    pub first_errors: Vec<(u64, RowError)>,
    pub errors: u64,
}

impl Summary {
    fn add(&mut self, verdict: &Verdict) {
        self.rows += 1;
        match &verdict.result {
            Ok(_) => self.valid += 1,
            Err(errors) => {
                self.invalid += 1;
                for e in errors {
                    self.errors += 1;
                    *self.by_code.entry(e.code).or_default() += 1;
                    if self.first_errors.len() < FIRST_ERRORS {
                        self.first_errors.push((verdict.row, e.clone()));
                    }
                }
            }
        }
    }

    fn write_text(&self, path: &Path, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{}: {} rows, {} valid, {} invalid",
            path.display(),
            self.rows,
            self.valid,
            self.invalid
        )?;
        if self.by_code.is_empty() {
            return Ok(());
        }
        writeln!(out, "\nerrors by code:")?;
        for (code, n) in &self.by_code {
            writeln!(out, "  {:<14}{n:>8}", code.as_str())?;
        }
        writeln!(out, "\nfirst errors:")?;
        for (row, e) in &self.first_errors {
            let column = if e.column.is_empty() {
                format!("{} (no column)", e.field)
            } else {
                format!("column \"{}\"", e.column)
            };
            writeln!(
                out,
                "  row {row}, {column}: {}: {}",
                e.code.as_str(),
                e.message
            )?;
        }
        let shown = self.first_errors.len() as u64;
        if self.errors > shown {
            writeln!(
                out,
                "  … and {} more; --format jsonl or --report FILE lists every row",
                self.errors - shown
            )?;
        }
        Ok(())
    }
}

fn usage(err: InputError) -> anyhow::Error {
    UsageError(err.to_string()).into()
}

/// Rows going to the checker, and checked batches coming back to be dropped where they were allocated.
struct ReaderChannels {
    rows: mpsc::Receiver<Result<Vec<MappedRow>, InputError>>,
    done: mpsc::Sender<Vec<MappedRow>>,
}

/// Reads and maps rows on a thread of its own, handing them over in batches. Checked batches come back to this
/// thread to be freed and reused: freeing memory another thread allocated is slow with the system allocator.
fn spawn_reader(mut table: Table) -> (ReaderChannels, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::sync_channel(BATCHES_IN_FLIGHT);
    let (done_tx, done_rx) = mpsc::channel::<Vec<MappedRow>>();
    let handle = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(record) = table.next_record() {
            match record {
                Ok(record) => batch.push(table.map_owned(record)),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
            if batch.len() == BATCH {
                let next = match done_rx.try_recv() {
                    Ok(mut old) => {
                        old.clear();
                        old
                    }
                    Err(_) => Vec::with_capacity(BATCH),
                };
                let full = std::mem::replace(&mut batch, next);
                if tx.send(Ok(full)).is_err() {
                    // The checker stopped (a closed stdout): nothing left to read for.
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(Ok(batch));
        }
    });
    (
        ReaderChannels {
            rows: rx,
            done: done_tx,
        },
        handle,
    )
}

/// Checks every row of an opened table, writing one JSON line per row to `jsonl` when given.
pub fn check_table(
    table: Table,
    kind: Option<Kind>,
    mut jsonl: Option<&mut dyn Write>,
) -> anyhow::Result<Summary> {
    let mut checker = Checker::new(kind);
    let mut summary = Summary::default();
    let mut line = Vec::with_capacity(256);
    let (channels, reader) = spawn_reader(table);
    let mut outcome = Ok(());
    for batch in channels.rows.iter() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                outcome = Err(usage(e));
                break;
            }
        };
        for row in &batch {
            let verdict = checker.check(row);
            summary.add(&verdict);
            if let Some(out) = jsonl.as_mut() {
                line.clear();
                serde_json::to_writer(&mut line, &RowLine::new(&verdict))?;
                line.push(b'\n');
                if let Err(e) = out.write_all(&line) {
                    outcome = Err(e.into());
                    break;
                }
            }
        }
        // The reader may have finished already; then this batch is freed here.
        let _ = channels.done.send(batch);
        if outcome.is_err() {
            break;
        }
    }
    drop(channels);
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
    outcome.map(|()| summary)
}

/// Writes each line to every sink: stdout and the report file.
struct Tee<A, B>(Option<A>, Option<B>);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(a) = &mut self.0 {
            a.write_all(buf)?;
        }
        if let Some(b) = &mut self.1 {
            b.write_all(buf)?;
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(a) = &mut self.0 {
            a.flush()?;
        }
        if let Some(b) = &mut self.1 {
            b.flush()?;
        }
        Ok(())
    }
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = global;
    let options = InputOptions::from_args(&args.input).map_err(usage)?;
    let table = Table::open(&args.input.file, &options).map_err(usage)?;
    let report = match &args.report {
        Some(path) => Some(BufWriter::new(File::create(path).map_err(|e| {
            UsageError(format!("{}: cannot write the report: {e}", path.display()))
        })?)),
        None => None,
    };
    let stdout = std::io::stdout().lock();
    let jsonl_stdout =
        (args.format == Format::Jsonl).then(|| BufWriter::with_capacity(1 << 16, stdout));
    let mut tee = Tee(jsonl_stdout, report);
    let writes_lines = tee.0.is_some() || tee.1.is_some();
    let summary = check_table(
        table,
        options.kind,
        if writes_lines {
            Some(&mut tee as &mut dyn Write)
        } else {
            None
        },
    )?;
    tee.flush()
        .with_context(|| "writing the per-row results".to_string())?;
    if args.format == Format::Text {
        let mut out = std::io::stdout().lock();
        summary.write_text(&args.input.file, &mut out)?;
        out.flush()?;
    }
    Ok(if summary.invalid == 0 {
        Exit::Success
    } else {
        Exit::Rows
    })
}
