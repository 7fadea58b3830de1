//! What a batch hands back to people: the per-row report (CSV, JSON lines, XLSX coloured by status) and the rework
//! file (the invalid and failed rows in the input's own columns and format, with an `error` column). Both stream
//! from the journal, so a million-row batch never sits in memory, and neither ever holds key material. And the file
//! `export` writes (`export`): the platform's devices in the columns an import reads back.

pub mod export;
mod rework;

pub use export::{EXPORT_COLUMNS, ExportFormat, ExportWriter};
pub use rework::{ReworkSummary, refuse_overwriting_input, write_rework, write_rework_from};

use crate::journal::{Action, Journal, RowRecord, RowState, UndoneCursor};
use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// The report's columns, in order.
pub const REPORT_COLUMNS: [&str; 13] = [
    "row",
    "kind",
    "id",
    "name",
    "status",
    "http_status",
    "error_code",
    "message",
    "device",
    "attempts",
    "finished_at",
    "rollback",
    "action",
];

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Csv,
    Jsonl,
    Xlsx,
}

impl ReportFormat {
    /// The format an output path's extension asks for (`.csv`, `.jsonl`/`.ndjson`/`.json`, `.xlsx`).
    pub fn from_path(path: &Path) -> Option<ReportFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" => Some(ReportFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(ReportFormat::Jsonl),
            "xlsx" => Some(ReportFormat::Xlsx),
            _ => None,
        }
    }
}

/// One report line: a row's fate as people read it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReportLine {
    pub row: u64,
    pub kind: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: String,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    pub device: Option<String>,
    pub attempts: u32,
    pub finished_at: Option<String>,
    /// What `tpbulk rollback` did to the row's device: `deleted`, or `gone` (the platform no longer had it).
    #[serde(default)]
    pub rollback: Option<String>,
    /// What the row does: `create`, or `delete` (`tpbulk delete`, a `DELETE` row of ThingPark's file). Last, so
    /// that the columns before it keep their places.
    #[serde(default)]
    pub action: String,
}

impl ReportLine {
    pub fn from_record(record: &RowRecord) -> ReportLine {
        let (error_code, message) = if record.state == RowState::Invalid {
            let mut codes: Vec<&str> = record.errors.iter().map(|e| e.code.as_str()).collect();
            codes.dedup();
            (
                (!codes.is_empty()).then(|| codes.join(",")),
                (!record.errors.is_empty()).then(|| describe_errors(record)),
            )
        } else {
            (
                record.error_code.clone(),
                record.message.as_deref().map(scrub),
            )
        };
        ReportLine {
            row: record.row,
            kind: record.kind.map(|k| k.as_str().to_string()),
            id: record.id.clone(),
            name: record.name.clone(),
            status: record.state.label(record.action).to_string(),
            http_status: record.http_status,
            error_code,
            message,
            device: record
                .device_href
                .clone()
                .or_else(|| record.device_uid.clone()),
            attempts: record.attempts,
            finished_at: record.finished_at.clone(),
            rollback: None,
            action: record.action.as_str().to_string(),
        }
    }

    fn cells(&self) -> [String; 13] {
        fn opt(v: &Option<String>) -> String {
            v.clone().unwrap_or_default()
        }
        [
            self.row.to_string(),
            opt(&self.kind),
            opt(&self.id),
            opt(&self.name),
            self.status.clone(),
            self.http_status.map(|s| s.to_string()).unwrap_or_default(),
            opt(&self.error_code),
            opt(&self.message),
            opt(&self.device),
            self.attempts.to_string(),
            opt(&self.finished_at),
            opt(&self.rollback),
            self.action.clone(),
        ]
    }
}

/// Why a row needs fixing, in one line: its check errors (column and message), or the platform's answer.
pub fn describe_errors(record: &RowRecord) -> String {
    if !record.errors.is_empty() {
        return record
            .errors
            .iter()
            .map(|e| {
                let column = if e.column.is_empty() {
                    &e.field
                } else {
                    &e.column
                };
                format!("{column}: {}", scrub(&e.message))
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let mut parts = Vec::new();
    if let Some(status) = record.http_status {
        parts.push(format!("HTTP {status}"));
    }
    if let Some(code) = &record.error_code {
        parts.push(code.clone());
    }
    let head = parts.join(" ");
    match (&record.message, head.is_empty()) {
        (Some(message), true) => scrub(message),
        (Some(message), false) => format!("{head}: {}", scrub(message)),
        (None, false) => head,
        (None, true) => record.state.label(record.action).to_string(),
    }
}

/// Masks anything shaped like key material (a run of 32 or more hex digits) that a platform message might echo:
/// the report must never carry a key, whoever wrote the text.
pub fn scrub(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_hexdigit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                i += 1;
            }
            let run = &text[start..i];
            if run.len() >= 32 {
                out.push_str(&crate::secret::mask(run));
            } else {
                out.push_str(run);
            }
        } else {
            let ch = text[i..].chars().next().expect("inside the string");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// True for the output name `-`: standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The file at `path`, or standard output for `-`.
fn output(path: &Path) -> std::io::Result<Box<dyn Write>> {
    Ok(if is_stdout(path) {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::fs::File::create(path)?)
    })
}

/// Writes the report of a batch to `path` (`-`: standard output, not for XLSX); returns the number of rows written.
pub fn write_report(
    journal: &Journal,
    batch: &str,
    path: &Path,
    format: ReportFormat,
) -> anyhow::Result<u64> {
    if format == ReportFormat::Xlsx && is_stdout(path) {
        return Err(crate::error::UsageError(
            "-o -: an XLSX report is not for a terminal or a pipe: name a *.xlsx file, or choose --format csv \
             or jsonl"
                .into(),
        )
        .into());
    }
    let written = match format {
        ReportFormat::Csv => write_csv(journal, batch, path),
        ReportFormat::Jsonl => write_jsonl(journal, batch, path),
        ReportFormat::Xlsx => write_xlsx(journal, batch, path),
    };
    written.with_context(|| format!("{}: cannot write the report", path.display()))
}

/// Calls `each` with every row of the batch in row order and its report line, what a rollback did included.
fn for_each_line(
    journal: &Journal,
    batch: &str,
    mut each: impl FnMut(&RowRecord, ReportLine) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut undone = UndoneCursor::new(batch);
    journal.for_each_row(batch, None, |record| {
        let mut line = ReportLine::from_record(&record);
        line.rollback = undone
            .of(journal, record.row)?
            .map(|state| state.label(Action::Delete).to_string());
        each(&record, line)
    })
}

fn write_csv(journal: &Journal, batch: &str, path: &Path) -> anyhow::Result<u64> {
    let mut out = csv::Writer::from_writer(output(path)?);
    out.write_record(REPORT_COLUMNS)?;
    let mut n = 0;
    for_each_line(journal, batch, |_, line| {
        out.write_record(line.cells())?;
        n += 1;
        Ok(())
    })?;
    out.flush()?;
    Ok(n)
}

fn write_jsonl(journal: &Journal, batch: &str, path: &Path) -> anyhow::Result<u64> {
    let mut out = std::io::BufWriter::new(output(path)?);
    let mut n = 0;
    for_each_line(journal, batch, |_, line| {
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
        n += 1;
        Ok(())
    })?;
    out.flush()?;
    Ok(n)
}

/// Fill colour of a report row by status.
fn status_colour(state: RowState) -> u32 {
    match state {
        RowState::Done => 0xC6EFCE,
        RowState::Exists | RowState::Gone | RowState::Unchanged => 0xDDEBF7,
        RowState::Conflict | RowState::Failed => 0xFFC7CE,
        RowState::Invalid => 0xFFEB9C,
        RowState::Pending | RowState::Sending => 0xEDEDED,
    }
}

fn write_xlsx(journal: &Journal, batch: &str, path: &Path) -> anyhow::Result<u64> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut workbook = Workbook::new();
    // Constant memory: rows go to a temporary file as they are written, so a million rows stay small.
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("report")?;
    let header = Format::new().set_bold().set_background_color(0xD9D9D9);
    let widths = [8, 10, 24, 24, 10, 11, 14, 60, 44, 9, 26, 10, 8];
    for (col, (title, width)) in REPORT_COLUMNS.iter().zip(widths).enumerate() {
        sheet.set_column_width(col as u16, width)?;
        sheet.write_string_with_format(0, col as u16, *title, &header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let formats: std::collections::HashMap<RowState, (Format, Format)> = RowState::ALL
        .into_iter()
        .map(|s| {
            let fill = Format::new().set_background_color(status_colour(s));
            // Identifiers stay text: a DevEUI of digits must not turn into a number.
            let text = fill.clone().set_num_format("@");
            (s, (fill, text))
        })
        .collect();
    let mut n: u64 = 0;
    for_each_line(journal, batch, |record, line| {
        let excel_row = u32::try_from(n + 1)
            .ok()
            .filter(|r| *r < 1_048_576)
            .context("more rows than an XLSX sheet holds (1,048,575); write CSV or JSON lines")?;
        let (fill, text) = &formats[&record.state];
        sheet.write_number_with_format(excel_row, 0, line.row as f64, fill)?;
        let cells = line.cells();
        for (col, value) in cells.iter().enumerate().skip(1) {
            let col = col as u16;
            let number = match col {
                5 => line.http_status.map(f64::from),
                9 => Some(f64::from(line.attempts)),
                _ => None,
            };
            match number {
                Some(number) => sheet.write_number_with_format(excel_row, col, number, fill)?,
                None => sheet.write_string_with_format(excel_row, col, value, text)?,
            };
        }
        n += 1;
        Ok(())
    })?;
    workbook.save(path)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_masks_key_shaped_runs_only() {
        let key = "00112233445566778899AABBCCDDEEFF";
        let text = format!("bad appKey {key} for 70B3D57ED0000001");
        let scrubbed = scrub(&text);
        assert!(!scrubbed.contains(key), "{scrubbed}");
        assert!(scrubbed.contains("EEFF"));
        assert!(scrubbed.contains("70B3D57ED0000001"));
        assert_eq!(scrub("naïve – ok"), "naïve – ok");
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(
            ReportFormat::from_path(Path::new("r.CSV")),
            Some(ReportFormat::Csv)
        );
        assert_eq!(
            ReportFormat::from_path(Path::new("r.jsonl")),
            Some(ReportFormat::Jsonl)
        );
        assert_eq!(
            ReportFormat::from_path(Path::new("r.xlsx")),
            Some(ReportFormat::Xlsx)
        );
        assert_eq!(ReportFormat::from_path(Path::new("r")), None);
    }
}
