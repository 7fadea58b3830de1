//! `tpbulk validate`: read and check a shipment file offline through the import's input stage
//! (`prepare::check_verdicts`), streaming, so neither the file nor its results are ever held whole.

use crate::cli::{GlobalArgs, InputArgs};
use crate::device::{Checked, ErrorCode, Kind, MissingColumns, RowError};
use crate::error::{Exit, UsageError};
use crate::input::{InputOptions, Table};
use crate::prepare::{CheckedRow, check_verdicts};
use anyhow::Context;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// One line of `--format jsonl` and of `--report`.
#[derive(serde::Serialize)]
struct RowLine<'a> {
    row: u64,
    kind: Option<Kind>,
    id: Option<&'a str>,
    status: &'static str,
    errors: &'a [RowError],
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

/// Checks every row of an opened table through the import's input stage ([`check_verdicts`]), writing one JSON line
/// per row to each of `sinks`. `fast` allows the fast path (tests compare the two ways).
fn check(mut table: Table, fast: bool, sinks: &mut [&mut dyn Write]) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let (mut line, mut id) = (Vec::with_capacity(256), Vec::with_capacity(20));
    summary.notes = check_verdicts(&mut table, fast, |checked| {
        let (row, kind, errors) = match &checked {
            CheckedRow::Full(Checked::Create(verdict)) => {
                (verdict.row, verdict.kind, verdict.result.as_ref().err())
            }
            // A ThingPark `DELETE` row names a device to delete: only its identifier is checked.
            CheckedRow::Full(Checked::Delete(target)) => {
                (target.row, target.kind, target.result.as_ref().err())
            }
            CheckedRow::Valid { row, kind, .. } => (*row, Some(*kind), None),
        };
        let errors = errors.map_or(&[][..], Vec::as_slice);
        summary.add_row(row, errors);
        if sinks.is_empty() {
            return Ok(());
        }
        let shown = match &checked {
            CheckedRow::Full(Checked::Create(verdict)) => verdict.id.as_deref(),
            CheckedRow::Full(Checked::Delete(target)) => target.id.as_deref(),
            CheckedRow::Valid { id: fast, .. } => {
                id.clear();
                fast.write_id(&mut id);
                Some(std::str::from_utf8(&id)?)
            }
        };
        let status = if errors.is_empty() {
            "valid"
        } else {
            "invalid"
        };
        let row_line = RowLine {
            row,
            kind,
            id: shown,
            status,
            errors,
        };
        line.clear();
        serde_json::to_writer(&mut line, &row_line)?;
        line.push(b'\n');
        sinks
            .iter_mut()
            .try_for_each(|sink| sink.write_all(&line))?;
        Ok(())
    })?;
    Ok(summary)
}

pub fn run(args: Args, _global: &GlobalArgs) -> anyhow::Result<Exit> {
    let options = InputOptions::from_args(&args.input)?;
    let table = Table::open(&args.input.file, &options)?;
    let mapping = table.mapping_lines();
    let mut report = match &args.report {
        Some(path) => Some(BufWriter::new(File::create(path).map_err(|e| {
            UsageError(format!("{}: cannot write the report: {e}", path.display()))
        })?)),
        None => None,
    };
    let mut stdout = (args.format == Format::Jsonl)
        .then(|| BufWriter::with_capacity(1 << 16, std::io::stdout().lock()));
    // Each JSON line goes to every sink: stdout, then the report file.
    let mut sinks: Vec<&mut dyn Write> = [
        stdout.as_mut().map(|w| w as &mut dyn Write),
        report.as_mut().map(|w| w as &mut dyn Write),
    ]
    .into_iter()
    .flatten()
    .collect();
    let summary = check(table, true, &mut sinks)?;
    // The text summary lists the notes; beside JSON lines on stdout they go to stderr, as `plan` and `import` say them.
    if args.format == Format::Jsonl {
        crate::prepare::warn_file_notes(&args.input.file, &summary.notes);
    }
    for sink in &mut sinks {
        sink.flush().context("writing the per-row results")?;
    }
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
    use crate::device::fast::FastPlan;
    use crate::input::Field;

    const KEY: &str = "00112233445566778899AABBCCDDEEFF";

    /// Runs `validate --format jsonl` over `bytes` with the fast path allowed and without, and returns both outputs
    /// and whether the fast path applies to the file.
    fn both_ways(bytes: &[u8], options: &InputOptions) -> (String, String, bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipment.csv");
        std::fs::write(&path, bytes).unwrap();
        both_ways_at(&path, options)
    }

    /// [`both_ways`] over a file already written.
    fn both_ways_at(path: &Path, options: &InputOptions) -> (String, String, bool) {
        let path = path.to_path_buf();
        let run = |fast: bool| {
            let table = Table::open(&path, options).unwrap();
            let mut out = Vec::new();
            let summary = check(table, fast, &mut [&mut out]).unwrap();
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
    fn fast_path_gives_the_same_results_on_a_sheet() {
        // The messy rows as an XLSX sheet of text cells, with numbers where a cell reads as one (as Excel keeps a
        // DevEUI it took for a number): those rows go the full way, with their typed cells.
        let bytes = messy(HEADER, "\n", ',');
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&bytes[..]);
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        for (r, record) in csv.records().enumerate() {
            for (c, cell) in record.unwrap().iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                match cell.parse::<f64>() {
                    Ok(n) => sheet.write_number(r, c, n).map(|_| ()),
                    Err(_) if cell.is_empty() => Ok(()),
                    Err(_) => sheet.write_string(r, c, cell).map(|_| ()),
                }
                .unwrap();
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipment.xlsx");
        workbook.save(&path).unwrap();
        let (fast, full, applies) = both_ways_at(&path, &InputOptions::default());
        assert!(applies);
        assert!(full.contains("\"duplicate\"") && full.contains("\"excel_damage\""));
        assert!(full.contains("\"missing\"") && full.contains("\"hex\""));
        assert_eq!(fast, full);
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
