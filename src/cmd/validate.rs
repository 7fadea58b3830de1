//! `tpbulk validate`: read and check a shipment file offline, streaming: one thread reads and maps rows, this one
//! checks them and writes the results, so neither the file nor its results are ever held whole.

use crate::cli::{GlobalArgs, InputArgs};
use crate::device::fast::{FastId, FastPlan};
use crate::device::{Checked, Checker, ErrorCode, Kind, MissingColumns, RowError, Verdict};
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
        RowLine::of(verdict.row, verdict.kind, verdict.id.as_deref(), errors)
    }

    fn of(
        row: u64,
        kind: Option<Kind>,
        id: Option<&'a str>,
        errors: &'a [RowError],
    ) -> RowLine<'a> {
        RowLine {
            row,
            kind,
            id,
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
    /// Required fields no column gives: said once for the file, not among the row errors.
    pub missing_columns: MissingColumns,
    /// Errors that are the rows' own (not [`MissingColumns`]).
    pub row_errors: u64,
    /// What the file as a whole shows, said once: the checks' notes (see `Checker::notes`) and the columns of
    /// ThingPark's positional file that tpbulk does not send.
    pub notes: Vec<String>,
}

impl Summary {
    fn add(&mut self, verdict: &Verdict) {
        match &verdict.result {
            Ok(_) => self.add_row(verdict.row, &[]),
            Err(errors) => self.add_row(verdict.row, errors),
        }
    }

    /// A checked row and its errors (none: valid).
    fn add_row(&mut self, row: u64, errors: &[RowError]) {
        self.rows += 1;
        match errors {
            [] => self.valid += 1,
            errors => {
                self.invalid += 1;
                self.errors += errors.len() as u64;
                for e in errors {
                    *self.by_code.entry(e.code).or_default() += 1;
                }
                for e in self.missing_columns.note(errors) {
                    self.row_errors += 1;
                    if self.first_errors.len() < FIRST_ERRORS {
                        self.first_errors.push((row, e.clone()));
                    }
                }
            }
        }
    }

    fn add_valid(&mut self) {
        self.rows += 1;
        self.valid += 1;
    }

    fn write_text(
        &self,
        path: &Path,
        mapping: &[String],
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        writeln!(
            out,
            "{}: {} rows, {} valid, {} invalid",
            path.display(),
            self.rows,
            self.valid,
            self.invalid
        )?;
        for line in mapping {
            writeln!(out, "{line}")?;
        }
        if !self.notes.is_empty() {
            writeln!(out, "\nnotes:")?;
            for note in &self.notes {
                writeln!(out, "  {note}")?;
            }
        }
        if !self.missing_columns.is_empty() {
            writeln!(out, "\nmissing columns:")?;
            for line in self.missing_columns.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        if self.by_code.is_empty() {
            return Ok(());
        }
        writeln!(out, "\nerrors by code:")?;
        for (code, n) in &self.by_code {
            writeln!(out, "  {:<14}{n:>8}", code.as_str())?;
        }
        if self.first_errors.is_empty() {
            return Ok(());
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
        if self.row_errors > shown {
            writeln!(
                out,
                "  … and {} more; --format jsonl or --report FILE lists every row",
                self.row_errors - shown
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

/// Checks every row of an opened table, writing one JSON line per row to `jsonl` when given. Delimited text whose
/// columns make every row an OTAA row takes the fast path; the results are the same either way.
pub fn check_table(
    table: Table,
    kind: Option<Kind>,
    jsonl: Option<&mut dyn Write>,
) -> anyhow::Result<Summary> {
    check_table_with(table, kind, jsonl, true)
}

/// [`check_table`], with the fast path allowed or not (tests compare the two).
pub fn check_table_with(
    table: Table,
    kind: Option<Kind>,
    jsonl: Option<&mut dyn Write>,
    fast: bool,
) -> anyhow::Result<Summary> {
    if fast
        && let Some(plan) = FastPlan::new(&table.columns, &table.options().defaults, kind)
        && let Some(mut raw) = table.raw_csv().map_err(usage)?
    {
        let read = move |record: &mut csv::ByteRecord| raw.read(record);
        return check_raw(&table, plan, kind, read, jsonl);
    }
    check_mapped(table, kind, jsonl)
}

/// The full path: every row mapped and checked.
fn check_mapped(
    table: Table,
    kind: Option<Kind>,
    mut jsonl: Option<&mut dyn Write>,
) -> anyhow::Result<Summary> {
    let mut checker = Checker::new(kind).positional(table.is_positional());
    let mut summary = Summary::default();
    let mut line = Vec::with_capacity(256);
    let mapper = table.mapper();
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
            // A ThingPark `DELETE` row names a device to delete: only its identifier is checked.
            let emitted = match checker.check_row(row) {
                Checked::Create(verdict) => {
                    emit(&verdict, &mut summary, &mut line, jsonl.as_deref_mut())
                }
                Checked::Delete(target) => {
                    let errors = target.result.as_ref().err().map_or(&[][..], Vec::as_slice);
                    summary.add_row(target.row, errors);
                    let row = RowLine::of(target.row, target.kind, target.id.as_deref(), errors);
                    write_line(&row, &mut line, jsonl.as_deref_mut())
                }
            };
            if let Err(e) = emitted {
                outcome = Err(e);
                break;
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
    summary.notes = mapper.file_notes();
    summary.notes.extend(checker.notes());
    outcome.map(|()| summary)
}

/// Counts a checked row and writes its JSON line.
fn emit<W: Write + ?Sized>(
    verdict: &Verdict,
    summary: &mut Summary,
    line: &mut Vec<u8>,
    jsonl: Option<&mut W>,
) -> anyhow::Result<()> {
    summary.add(verdict);
    write_line(&RowLine::new(verdict), line, jsonl)
}

fn write_line<W: Write + ?Sized>(
    row: &RowLine<'_>,
    line: &mut Vec<u8>,
    jsonl: Option<&mut W>,
) -> anyhow::Result<()> {
    if let Some(out) = jsonl {
        line.clear();
        serde_json::to_writer(&mut *line, row)?;
        line.push(b'\n');
        out.write_all(line)?;
    }
    Ok(())
}

/// Raw records in batches: the buffers travel to the checker and back, so reading allocates nothing once warm.
struct RawBatch {
    records: Vec<csv::ByteRecord>,
    rows: Vec<u64>,
}

/// Records per raw batch: big enough that the channel costs nothing per row, small enough to stay in cache.
const RAW_BATCH: usize = 4096;

/// Reads raw records on a thread of its own.
fn spawn_raw_reader(
    mut read: impl FnMut(&mut csv::ByteRecord) -> Option<Result<u64, InputError>> + Send + 'static,
) -> (
    mpsc::Receiver<Result<RawBatch, InputError>>,
    mpsc::Sender<RawBatch>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::sync_channel(BATCHES_IN_FLIGHT);
    let (done_tx, done_rx) = mpsc::channel::<RawBatch>();
    let handle = std::thread::spawn(move || {
        loop {
            let mut batch = done_rx.try_recv().unwrap_or_else(|_| RawBatch {
                records: Vec::new(),
                rows: Vec::with_capacity(RAW_BATCH),
            });
            batch.rows.clear();
            let mut failed = None;
            while batch.rows.len() < RAW_BATCH {
                let i = batch.rows.len();
                if batch.records.len() == i {
                    batch.records.push(csv::ByteRecord::new());
                }
                match read(&mut batch.records[i]) {
                    Some(Ok(row)) => batch.rows.push(row),
                    Some(Err(e)) => {
                        failed = Some(e);
                        break;
                    }
                    None => break,
                }
            }
            let full = batch.rows.len() == RAW_BATCH;
            if !batch.rows.is_empty() && tx.send(Ok(batch)).is_err() {
                // The checker stopped (a closed stdout): nothing left to read for.
                return;
            }
            if let Some(e) = failed {
                let _ = tx.send(Err(e));
                return;
            }
            if !full {
                return;
            }
        }
    });
    (rx, done_tx, handle)
}

/// The fast path: rows the [`FastPlan`] finds certainly valid (and not duplicates) are counted and written
/// straight from their bytes; every other row is mapped and checked in full by the same checker.
fn check_raw(
    table: &Table,
    plan: FastPlan,
    kind: Option<Kind>,
    read: impl FnMut(&mut csv::ByteRecord) -> Option<Result<u64, InputError>> + Send + 'static,
    mut jsonl: Option<&mut dyn Write>,
) -> anyhow::Result<Summary> {
    // The fast path reads header files only, whose cardinalities are tpbulk's.
    let mut checker = Checker::new(kind);
    let mut summary = Summary::default();
    let mut line = Vec::with_capacity(256);
    let (rows, done, reader) = spawn_raw_reader(read);
    let mut outcome = Ok(());
    'batches: for batch in rows.iter() {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                outcome = Err(usage(e));
                break;
            }
        };
        if summary.rows == 0 {
            checker.reserve(plan.kind(), expected_rows(table, &batch));
        }
        for (record, &row) in batch.records.iter().zip(&batch.rows) {
            if let Some(id) = plan.valid(record)
                && checker.note_new(&id, row)
            {
                summary.add_valid();
                if let Some(out) = jsonl.as_deref_mut() {
                    line.clear();
                    write_valid(&mut line, row, plan.kind(), &id);
                    if let Err(e) = out.write_all(&line) {
                        outcome = Err(e.into());
                        break 'batches;
                    }
                }
                continue;
            }
            let Some(mapped) = table.map_raw(row, record) else {
                continue;
            };
            let verdict = checker.check(&mapped);
            if let Err(e) = emit(&verdict, &mut summary, &mut line, jsonl.as_deref_mut()) {
                outcome = Err(e);
                break 'batches;
            }
        }
        let _ = done.send(batch);
    }
    drop(rows);
    drop(done);
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
    summary.notes = checker.notes();
    outcome.map(|()| summary)
}

/// Most rows a table is sized for in advance: a duplicate table of this many fits in 2^21 buckets (27 MiB).
const MAX_RESERVED_ROWS: usize = 1_800_000;

/// The rows a file probably holds, from its size and the length of its first rows.
fn expected_rows(table: &Table, first: &RawBatch) -> usize {
    let Some(end) = first
        .records
        .get(first.rows.len().saturating_sub(1))
        .and_then(|r| r.position())
    else {
        return 0;
    };
    let size = std::fs::metadata(&table.path).map_or(0, |m| m.len());
    let per_row = (end.byte() / first.rows.len() as u64).max(1);
    usize::try_from(size / per_row)
        .unwrap_or(usize::MAX)
        .min(MAX_RESERVED_ROWS)
}

/// The JSON line of a valid row, as `RowLine` would serialise it.
fn write_valid(line: &mut Vec<u8>, row: u64, kind: Kind, id: &FastId) {
    // Writing to a Vec cannot fail.
    let _ = write!(line, r#"{{"row":{row},"kind":"{}","id":""#, kind.as_str());
    id.write_id(line);
    line.extend_from_slice(br#"","status":"valid","errors":[]}"#);
    line.push(b'\n');
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
    let mapping = table.mapping_lines();
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
    // The text summary lists the notes; beside JSON lines on stdout they go to stderr, as `plan` and `import` say them.
    if args.format == Format::Jsonl {
        crate::prepare::warn_file_notes(&args.input.file, &summary.notes);
    }
    tee.flush()
        .with_context(|| "writing the per-row results".to_string())?;
    if args.format == Format::Text {
        let mut out = std::io::stdout().lock();
        summary.write_text(&args.input.file, &mapping, &mut out)?;
        out.flush()?;
    }
    Ok(if summary.invalid == 0 {
        Exit::Success
    } else {
        Exit::Rows
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Field;

    const KEY: &str = "00112233445566778899AABBCCDDEEFF";

    /// Runs `validate --format jsonl` over `bytes` with the fast path allowed and without, and returns both outputs
    /// and whether the fast path applies to the file.
    fn both_ways(bytes: &[u8], options: &InputOptions) -> (String, String, bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipment.csv");
        std::fs::write(&path, bytes).unwrap();
        let run = |fast: bool| {
            let table = Table::open(&path, options).unwrap();
            let mut out = Vec::new();
            let summary = check_table_with(table, options.kind, Some(&mut out), fast).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert_eq!(summary.rows as usize, text.lines().count());
            let mut summary_text = Vec::new();
            summary.write_text(&path, &[], &mut summary_text).unwrap();
            text + &String::from_utf8(summary_text).unwrap()
        };
        let table = Table::open(&path, options).unwrap();
        let applies = FastPlan::new(&table.columns, &options.defaults, options.kind).is_some()
            && table.raw_csv().unwrap().is_some();
        (run(true), run(false), applies)
    }

    /// A shipment mixing clean rows with every kind of trouble, in blocks larger than a batch.
    fn messy(header: &str, eol: &str, delimiter: char) -> Vec<u8> {
        let d = delimiter;
        let mut text = format!("{header}{eol}");
        let mut row = |cells: &[&str]| {
            text.push_str(&cells.join(&d.to_string()));
            text.push_str(eol);
        };
        for i in 0..5000u64 {
            let eui = format!("70B3D5E7{:08X}", i);
            let name = format!("sensor-{i}");
            match i % 500 {
                1 => row(&[
                    &eui.to_lowercase(),
                    KEY,
                    "70B3D5E75F600000",
                    &name,
                    "m",
                    "c",
                ]),
                2 => row(&["70-B3-D5-E7-00-00-00-02", KEY, "", &name, "m", "c"]),
                3 => row(&["70B3D5E7000000G3", KEY, "", &name, "m", "c"]),
                4 => row(&["70B3D5E700003", KEY, "", &name, "m", "c"]),
                5 => row(&[&eui, "", "", &name, "m", "c"]),
                6 => row(&[&eui, KEY, "", &name, "", "c"]),
                7 => row(&[&eui, KEY, "", &name, " ", " c "]),
                8 => row(&["7.03835E+15", KEY, "", &name, "m", "c"]),
                9 => row(&["70B3D5E700000001", KEY, "", &name, "m", "c"]),
                10 => row(&["70B3D5E700000002", KEY, "", &name, "m", "c"]),
                11 => row(&["", "", "", "", "", ""]),
                12 => row(&[&eui, &KEY[..31], "x", &name, "m", "c"]),
                13 => row(&[&eui, KEY, "", "\"two\nlines\"", "m", "c"]),
                14 => row(&[&eui, KEY]),
                15 => row(&[&eui, KEY, "", "caf\u{e9}", "m", "c", "extra"]),
                16 => row(&[&eui, &format!(" {KEY}"), "", &name, "m", "c"]),
                _ => row(&[
                    &eui,
                    KEY,
                    "70B3D5E75F600000",
                    &name,
                    "SMTC/LoRaMoteA.1_EU",
                    "c",
                ]),
            }
        }
        text.into_bytes()
    }

    const HEADER: &str = "DevEUI,AppKey,JoinEUI,Name,Model,Connection";

    #[test]
    fn fast_path_gives_the_same_results_on_a_messy_file() {
        for (eol, delimiter) in [("\n", ','), ("\r\n", ';')] {
            let header = HEADER.replace(',', &delimiter.to_string());
            let bytes = messy(&header, eol, delimiter);
            let (fast, full, applies) = both_ways(&bytes, &InputOptions::default());
            assert!(applies);
            assert!(full.contains("\"duplicate\"") && full.contains("\"excel_damage\""));
            assert!(full.contains("\"missing\"") && full.contains("\"hex\""));
            assert_eq!(fast, full, "eol {eol:?}");
        }
    }

    #[test]
    fn fast_path_honours_set_and_kind() {
        let bytes = messy(HEADER, "\n", ',');
        let cases = [
            vec![(Field::Model, "SMTC/LoRaMoteA.1_EU".to_string())],
            vec![(Field::Connection, "my MQTT application".to_string())],
            vec![(Field::JoinEui, "70B3D5E75F600000".to_string())],
        ];
        for defaults in cases {
            let options = InputOptions {
                defaults,
                ..InputOptions::default()
            };
            let (fast, full, _) = both_ways(&bytes, &options);
            assert_eq!(fast, full, "{:?}", options.defaults);
        }
        for kind in [Kind::Otaa, Kind::Abp, Kind::Cellular] {
            let options = InputOptions {
                kind: Some(kind),
                ..InputOptions::default()
            };
            let (fast, full, applies) = both_ways(&bytes, &options);
            assert_eq!(applies, kind == Kind::Otaa);
            assert_eq!(fast, full, "{kind:?}");
        }
    }

    #[test]
    fn a_column_the_fast_path_does_not_check_sends_every_row_the_full_way() {
        let mut text =
            String::from("DevEUI,AppKey,Model,Connection,Latitude,Longitude,Motion indicator\n");
        for i in 0..3000u64 {
            let (lat, motion) = match i % 3 {
                0 => ("50.85", "RANDOM"),
                1 => ("95", "RANDOM"),
                _ => ("50.85", "flying"),
            };
            text.push_str(&format!("70B3D5E7{i:08X},{KEY},m,c,{lat},4.35,{motion}\n"));
        }
        let (fast, full, applies) = both_ways(text.as_bytes(), &InputOptions::default());
        assert!(!applies);
        assert!(full.contains("\"latitude\"") && full.contains("\"motion_indicator\""));
        assert_eq!(fast, full);
    }

    #[test]
    fn fast_path_reads_model_from_set_when_no_column_gives_it() {
        let mut text = String::from("# shipment 42\n\nDevEUI,AppKey,Kind\n");
        for (i, kind) in ["", "otaa", "OTAA", "abp", "bogus", " otaa", "CREATE_OTAA"]
            .iter()
            .cycle()
            .take(3000)
            .enumerate()
        {
            text.push_str(&format!("70B3D5E7{:08X},{KEY},{kind}\n", i % 2900));
        }
        let options = InputOptions {
            defaults: vec![
                (Field::Model, "SMTC/LoRaMoteA.1_EU".to_string()),
                (Field::Connection, "my MQTT application".to_string()),
            ],
            ..InputOptions::default()
        };
        let (fast, full, applies) = both_ways(text.as_bytes(), &options);
        assert!(applies);
        assert!(full.contains("\"unknown_kind\"") && full.contains("\"duplicate\""));
        assert_eq!(fast, full);
    }

    /// A Luhn check digit, for generated IMEIs and ICCIDs.
    fn luhn(payload: &str) -> u32 {
        u32::from(crate::device::ids::luhn_check_digit(payload))
    }

    #[test]
    fn abp_and_cellular_tables_take_the_fast_path_with_the_same_results() {
        let mut abp =
            String::from("DevEUI,DevAddr,NwkSKey,AppSKey,SNwkSIntKey,Name,Model,Connection\n");
        let mut cellular = String::from(
            "IMEI,ICCID,IMSI,Name,Model,Connectivity plan,Connection,Network context\n",
        );
        for i in 0..3000u64 {
            let (eui, addr) = (format!("70B3D5E7{i:08X}"), format!("2600{:04X}", i % 2950));
            let opt = if i % 7 == 0 { KEY } else { "" };
            let (eui, addr, nwk) = match i % 500 {
                1 => (eui.clone(), "2600001".to_string(), KEY.to_string()),
                2 => (eui.clone(), addr.clone(), KEY[..30].to_string()),
                3 => (
                    "70B3D5E700000001".to_string(),
                    addr.clone(),
                    KEY.to_string(),
                ),
                4 => (
                    eui.to_lowercase(),
                    "26-00-00-04".to_string(),
                    KEY.to_string(),
                ),
                _ => (eui, addr, KEY.to_string()),
            };
            abp.push_str(&format!("{eui},{addr},{nwk},{KEY},{opt},m-{i},m,c\n"));
            let imei = format!("3569361{:07}", i % 2990);
            let imei = format!("{imei}{}", luhn(&imei));
            let iccid = format!("893315032{:010}", i);
            let iccid = format!("{iccid}{}", luhn(&iccid));
            let row = match i % 400 {
                1 => format!("{imei},,,t,m,p,c,\n"),
                2 => format!(",{iccid},208011234567890,t,m,p,c,ctx\n"),
                3 => format!("{},{iccid},,t,m,p,c,\n", &imei[..14]),
                4 => format!("{imei},{iccid},,t,m,,c,\n"),
                5 => format!("{imei},898604A62621C0303436,,t,m,p,c,\n"),
                6 => format!("0,{iccid},,t,m,p,c,\n"),
                _ => format!("{imei},{iccid},,t,m,p,c,\n"),
            };
            cellular.push_str(&row);
        }
        for (text, kind) in [(abp, "abp"), (cellular, "cellular")] {
            let (fast, full, applies) = both_ways(text.as_bytes(), &InputOptions::default());
            assert!(applies, "{kind}");
            assert_eq!(fast, full, "{kind}");
            assert!(
                fast.contains("duplicate"),
                "{kind}: the checks reach the duplicates"
            );
            assert!(fast.contains(&format!(r#""kind":"{kind}""#)));
        }
    }
}
