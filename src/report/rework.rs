//! The rework file: the invalid and failed rows of a batch, re-read from the batch's own input file (which must be
//! unchanged: its sha256 is checked against the journal) and written back in its columns, order and format, plus
//! an `error` column saying why, ready to fix and import again.
//!
//! - CSV: same delimiter and encoding (a UTF-8 input with a BOM gets one back; UTF-16 and Windows-1252 are written
//!   back in their own encoding), header line, then the rows, with `error` as the last column.
//! - ThingPark's positional CSV: the same headerless lines; each row is preceded by a `# row N: why` comment line
//!   (the format skips `#` lines), so the file imports again as it is once fixed.
//! - Spreadsheets (XLSX, XLSM, XLS, ODS): an XLSX sheet of the same name, identifier columns formatted as Text so
//!   that Excel keeps every digit, `error` as the last column.

use super::describe_errors;
use crate::device::damage::rework_text;
use crate::error::UsageError;
use crate::input::{Cell, Column, Field, InputOptions, SourceFormat, Table, TextEncoding};
use crate::journal::{BatchInfo, Journal, RowState};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a rework file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReworkSummary {
    pub path: PathBuf,
    /// Rows written (invalid and failed rows of the batch).
    pub rows: u64,
}

/// The header of the column that says why a row is in the rework file.
const ERROR_HEADER: &str = "error";

/// Writes the rework file of `batch` to `output` (`-`: standard output, CSV only). The input file must be where the
/// batch found it and unchanged.
pub fn write_rework(
    journal: &Journal,
    batch: &BatchInfo,
    output: &Path,
) -> anyhow::Result<ReworkSummary> {
    write_rework_from(journal, batch, None, output)
}

/// [`write_rework`], reading the input from `moved` (`rework --input PATH`) when the file is no longer where the
/// batch found it: accepted once its sha256 is the batch's.
pub fn write_rework_from(
    journal: &Journal,
    batch: &BatchInfo,
    moved: Option<&Path>,
    output: &Path,
) -> anyhow::Result<ReworkSummary> {
    check_output_extension(&batch.format, output)?;
    let input = moved.unwrap_or(Path::new(&batch.input_path));
    check_unchanged(batch, input, moved.is_some())?;
    refuse_overwriting_input(batch, output)?;
    if let Some(moved) = moved {
        refuse_overwriting(moved, batch, output)?;
    }
    let options = InputOptions {
        sheet: match &batch.format {
            SourceFormat::Spreadsheet { sheet, .. } => Some(sheet.clone()),
            _ => None,
        },
        // The columns as the batch mapped them, so that the header is found exactly as it was; a headerless file
        // is read with the `--columns` it was imported with.
        mapping: match batch.input_columns {
            Some(_) => Vec::new(),
            None => batch
                .columns
                .iter()
                .filter_map(|c| c.field.map(|f| (c.header.clone(), f)))
                .collect(),
        },
        defaults: Vec::new(),
        kind: None,
        columns: batch.input_columns.clone(),
    };
    let mut table = Table::open(input, &options)?;
    let columns = if table.columns.is_empty() {
        batch.columns.clone()
    } else {
        table.columns.clone()
    };
    let mut sink: Box<dyn ReworkSink> = match &batch.format {
        SourceFormat::Csv {
            delimiter,
            encoding,
        } => Box::new(CsvSink::create(output, *delimiter, *encoding, false)?),
        SourceFormat::ThingparkCsv {
            delimiter,
            encoding,
        } => Box::new(CsvSink::create(output, *delimiter, *encoding, true)?),
        SourceFormat::Spreadsheet { sheet, .. } => Box::new(XlsxSink::new(sheet)),
    };
    sink.header(&columns)?;

    let mut rows = 0;
    journal
        .for_each_row(
            &batch.id,
            Some(&[RowState::Invalid, RowState::Failed, RowState::Conflict]),
            |record| {
                // Both streams are in row order: walk the file forward to the journal's row.
                let found = loop {
                    match table.next_record() {
                        None => break None,
                        Some(Err(err)) => return Err(err.into()),
                        Some(Ok(r)) if r.row < record.row => continue,
                        Some(Ok(r)) => break Some(r),
                    }
                };
                let found = found.filter(|r| r.row == record.row).with_context(|| {
                    format!(
                        "{}: row {} of batch {} is not in the file any more",
                        input.display(),
                        record.row,
                        batch.id
                    )
                })?;
                sink.row(record.row, &found.cells, &describe_errors(&record))?;
                rows += 1;
                Ok(())
            },
        )
        .with_context(|| format!("{}: cannot write the rework file", output.display()))?;
    sink.finish(output)
        .with_context(|| format!("{}: cannot write the rework file", output.display()))?;
    Ok(ReworkSummary {
        path: output.to_path_buf(),
        rows,
    })
}

/// Writing over the batch's own input would destroy the original while it is being read (and the sha256 that
/// proves which file the batch came from).
pub fn refuse_overwriting_input(batch: &BatchInfo, output: &Path) -> anyhow::Result<()> {
    refuse_overwriting(Path::new(&batch.input_path), batch, output)
}

/// Refuses an `output` that is `input`, the batch's file wherever it is now.
fn refuse_overwriting(input: &Path, batch: &BatchInfo, output: &Path) -> anyhow::Result<()> {
    match (std::fs::canonicalize(input), std::fs::canonicalize(output)) {
        (Ok(a), Ok(b)) if a == b => Err(UsageError(format!(
            "{}: that is the input file of batch {}; write to another file",
            output.display(),
            batch.id
        ))
        .into()),
        _ => Ok(()),
    }
}

/// The rework file takes the input's format: refuse an output name that promises another one.
fn check_output_extension(format: &SourceFormat, output: &Path) -> anyhow::Result<()> {
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    let spreadsheet_ext = matches!(ext.as_str(), "xlsx" | "xlsm" | "xls" | "ods");
    match format {
        SourceFormat::Spreadsheet { .. } if super::is_stdout(output) => Err(UsageError(
            "-o -: the batch's input is a spreadsheet, so the rework file is XLSX, which is not for a terminal or \
             a pipe: name a *.xlsx file"
                .into(),
        )
        .into()),
        SourceFormat::Spreadsheet { .. } if ext != "xlsx" => Err(UsageError(format!(
            "{}: the batch's input is a spreadsheet, so the rework file is XLSX: name it *.xlsx",
            output.display()
        ))
        .into()),
        SourceFormat::Csv { .. } | SourceFormat::ThingparkCsv { .. } if spreadsheet_ext => {
            Err(UsageError(format!(
                "{}: the batch's input is CSV, so the rework file is CSV too: name it *.csv",
                output.display()
            ))
            .into())
        }
        _ => Ok(()),
    }
}

/// The rows are found by their row numbers in the input: a file that moved or changed would give wrong rows.
/// `given`: the file was named with `--input`, not found where the batch recorded it.
fn check_unchanged(batch: &BatchInfo, input: &Path, given: bool) -> anyhow::Result<()> {
    let digest = crate::input::sha256_file(input).map_err(|why| {
        if given {
            UsageError(format!("--input {}: cannot read it ({why})", input.display()))
        } else {
            UsageError(format!(
                "{}: cannot read the input file of batch {} ({why}); rework re-reads it — if the file moved, \
                 name it with --input PATH (it is accepted when its sha256 is the batch's), or use \
                 `tpbulk report` for the rows' errors",
                input.display(),
                batch.id
            ))
        }
    })?;
    if given && !digest.eq_ignore_ascii_case(&batch.input_sha256) {
        return Err(UsageError(format!(
            "--input {}: not the file batch {} imported (sha256 {} then, {} this one; the batch read {})",
            input.display(),
            batch.id,
            short(&batch.input_sha256),
            short(&digest),
            batch.input_path
        ))
        .into());
    }
    if !digest.eq_ignore_ascii_case(&batch.input_sha256) {
        return Err(UsageError(format!(
            "{}: the file changed since batch {} imported it (sha256 {} then, {} now); rework needs the \
             original file",
            input.display(),
            batch.id,
            short(&batch.input_sha256),
            short(&digest)
        ))
        .into());
    }
    Ok(())
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

trait ReworkSink {
    fn header(&mut self, columns: &[Column]) -> anyhow::Result<()>;
    fn row(&mut self, row: u64, cells: &[Cell], error: &str) -> anyhow::Result<()>;
    fn finish(self: Box<Self>, output: &Path) -> anyhow::Result<()>;
}

/// CSV in the input's delimiter and encoding. Records are formatted as UTF-8 one at a time, then transcoded, so a
/// character is never split between two writes.
struct CsvSink {
    out: std::io::BufWriter<Box<dyn Write>>,
    record: csv::WriterBuilder,
    encoding: TextEncoding,
    positional: bool,
    width: usize,
}

impl CsvSink {
    fn create(
        path: &Path,
        delimiter: u8,
        encoding: TextEncoding,
        positional: bool,
    ) -> anyhow::Result<CsvSink> {
        let sink: Box<dyn Write> = if super::is_stdout(path) {
            Box::new(std::io::stdout())
        } else {
            Box::new(create_private(path)?)
        };
        let mut out = std::io::BufWriter::new(sink);
        match encoding {
            TextEncoding::Utf8Bom => out.write_all("\u{feff}".as_bytes())?,
            TextEncoding::Utf16Le => out.write_all(&[0xFF, 0xFE])?,
            TextEncoding::Utf16Be => out.write_all(&[0xFE, 0xFF])?,
            TextEncoding::Utf8 | TextEncoding::Windows1252 => {}
        }
        let mut record = csv::WriterBuilder::new();
        record
            .delimiter(delimiter)
            .flexible(true)
            .terminator(if encoding == TextEncoding::Utf8 {
                csv::Terminator::Any(b'\n')
            } else {
                // UTF-16 and Windows-1252 files come from Windows tools, which expect CRLF.
                csv::Terminator::CRLF
            });
        Ok(CsvSink {
            out,
            record,
            encoding,
            positional,
            width: 0,
        })
    }

    fn emit(&mut self, text: &str) -> anyhow::Result<()> {
        match self.encoding {
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => self.out.write_all(text.as_bytes())?,
            TextEncoding::Utf16Le => {
                for unit in text.encode_utf16() {
                    self.out.write_all(&unit.to_le_bytes())?;
                }
            }
            TextEncoding::Utf16Be => {
                for unit in text.encode_utf16() {
                    self.out.write_all(&unit.to_be_bytes())?;
                }
            }
            TextEncoding::Windows1252 => {
                let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
                self.out.write_all(&bytes)?;
            }
        }
        Ok(())
    }

    fn write_fields(&mut self, fields: &[String]) -> anyhow::Result<()> {
        let mut writer = self.record.from_writer(Vec::new());
        writer.write_record(fields)?;
        let bytes = writer.into_inner().map_err(|e| e.into_error())?;
        let text = String::from_utf8(bytes).context("a record is not UTF-8")?;
        self.emit(&text)
    }
}

impl ReworkSink for CsvSink {
    fn header(&mut self, columns: &[Column]) -> anyhow::Result<()> {
        self.width = columns.len();
        if self.positional {
            return Ok(());
        }
        let mut fields: Vec<String> = columns.iter().map(|c| c.header.clone()).collect();
        fields.push(ERROR_HEADER.to_string());
        self.write_fields(&fields)
    }

    fn row(&mut self, row: u64, cells: &[Cell], error: &str) -> anyhow::Result<()> {
        let mut fields: Vec<String> = cells.iter().map(Cell::display).collect();
        if self.positional {
            let error = error.replace(['\r', '\n'], " ");
            let newline = if self.encoding == TextEncoding::Utf8 {
                "\n"
            } else {
                "\r\n"
            };
            self.emit(&format!("# row {row}: {error}{newline}"))?;
        } else {
            if fields.len() < self.width {
                fields.resize(self.width, String::new());
            }
            fields.push(error.to_string());
        }
        self.write_fields(&fields)
    }

    fn finish(mut self: Box<Self>, _output: &Path) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// An XLSX sheet; cells keep their type, identifier columns are Text.
struct XlsxSink {
    workbook: rust_xlsxwriter::Workbook,
    /// Per column, the identifier field it holds (written as Text), if any.
    identifiers: Vec<Option<Field>>,
    next_row: u32,
    width: usize,
    failed: Option<rust_xlsxwriter::XlsxError>,
}

impl XlsxSink {
    fn new(sheet: &str) -> XlsxSink {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let mut failed = None;
        match workbook.add_worksheet_with_constant_memory() {
            Ok(ws) => {
                // Sheet names have rules the original may not follow (ODS allows more): keep the default then.
                let _ = ws.set_name(sheet);
            }
            Err(err) => failed = Some(err),
        }
        XlsxSink {
            workbook,
            identifiers: Vec::new(),
            next_row: 0,
            width: 0,
            failed,
        }
    }

    fn sheet(&mut self) -> anyhow::Result<&mut rust_xlsxwriter::Worksheet> {
        if let Some(err) = self.failed.take() {
            return Err(err.into());
        }
        Ok(self.workbook.worksheet_from_index(0)?)
    }
}

impl ReworkSink for XlsxSink {
    fn header(&mut self, columns: &[Column]) -> anyhow::Result<()> {
        use rust_xlsxwriter::Format;
        self.width = columns.len();
        self.identifiers = columns
            .iter()
            .map(|c| c.field.filter(|f| f.is_identifier()))
            .collect();
        let bold = Format::new().set_bold();
        let text = Format::new().set_num_format("@");
        let identifiers = self.identifiers.clone();
        let sheet = self.sheet()?;
        for (i, column) in columns.iter().enumerate() {
            let col = u16::try_from(i).context("too many columns")?;
            if identifiers[i].is_some() {
                // The whole column is Text, so a value typed in while fixing stays text too.
                sheet.set_column_format(col, &text)?;
                sheet.set_column_width(col, 36)?;
            }
            sheet.write_string_with_format(0, col, &column.header, &bold)?;
        }
        let error_col = u16::try_from(columns.len()).context("too many columns")?;
        sheet.write_string_with_format(0, error_col, ERROR_HEADER, &bold)?;
        sheet.set_column_width(error_col, 60)?;
        sheet.set_freeze_panes(1, 0)?;
        self.next_row = 1;
        Ok(())
    }

    fn row(&mut self, _row: u64, cells: &[Cell], error: &str) -> anyhow::Result<()> {
        let text = rust_xlsxwriter::Format::new().set_num_format("@");
        let r = self.next_row;
        let identifiers = self.identifiers.clone();
        let width = self.width;
        let sheet = self.sheet()?;
        for (i, cell) in cells.iter().enumerate() {
            let col = u16::try_from(i).context("too many columns")?;
            if let Some(field) = identifiers.get(i).copied().flatten() {
                let shown = rework_text(field, cell);
                if !shown.is_empty() {
                    sheet.write_string_with_format(r, col, shown, &text)?;
                }
                continue;
            }
            match cell {
                Cell::Empty => {}
                Cell::Text(s) | Cell::Date(s) | Cell::Error(s) => {
                    sheet.write_string(r, col, s)?;
                }
                Cell::Int(n) => {
                    sheet.write_number(r, col, *n as f64)?;
                }
                Cell::Float(f) => {
                    sheet.write_number(r, col, *f)?;
                }
                Cell::Bool(b) => {
                    sheet.write_boolean(r, col, *b)?;
                }
            }
        }
        let error_col = u16::try_from(width.max(cells.len())).context("too many columns")?;
        sheet.write_string(r, error_col, error)?;
        self.next_row += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>, output: &Path) -> anyhow::Result<()> {
        if let Some(err) = self.failed.take() {
            return Err(err.into());
        }
        let file = create_private(output)?;
        self.workbook.save_to_writer(file)?;
        Ok(())
    }
}

/// The rework file carries the input's key material again (it must import as it is): only its owner may read it.
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("{}: cannot create the rework file", path.display()))
}
