//! The file `tpbulk export` writes: the subscription's devices in tpbulk's own column names, which the input's
//! header aliases read back as the same fields, so that the file, edited, goes back in as an import. CSV (to a
//! file or stdout) or XLSX with the identifier columns formatted as Text. Never a key column.

use crate::input::Field;
use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// The export's columns, in order: each header is one the input maps back to its field.
pub const EXPORT_COLUMNS: [(&str, Field); 15] = [
    ("Kind", Field::Kind),
    ("DevEUI", Field::DevEui),
    ("JoinEUI", Field::JoinEui),
    ("IMEI", Field::Imei),
    ("SIM", Field::Sim),
    ("Name", Field::Name),
    ("Model", Field::Model),
    ("Connection", Field::Connection),
    ("Connectivity plan", Field::Plan),
    ("Latitude", Field::Latitude),
    ("Longitude", Field::Longitude),
    ("Admin info", Field::AdminInfo),
    ("Motion indicator", Field::Motion),
    ("Tags", Field::Tags),
    ("Domains", Field::Domains),
];

/// The export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

enum Sink {
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    Xlsx {
        workbook: Box<rust_xlsxwriter::Workbook>,
        path: std::path::PathBuf,
        row: u32,
    },
}

/// Writes export rows as they come: neither format holds the devices in memory (XLSX in constant-memory mode).
pub struct ExportWriter {
    sink: Sink,
    rows: u64,
}

impl ExportWriter {
    /// A writer to `path`, or to stdout (CSV only) when `path` is `None`; the header row is written at once.
    pub fn create(path: Option<&Path>, format: ExportFormat) -> anyhow::Result<ExportWriter> {
        let headers = EXPORT_COLUMNS.map(|(header, _)| header);
        let sink = match (format, path) {
            (ExportFormat::Csv, _) => {
                let out: Box<dyn Write> = match path {
                    Some(path) => Box::new(std::io::BufWriter::new(
                        std::fs::File::create(path)
                            .with_context(|| format!("{}: cannot create", path.display()))?,
                    )),
                    None => Box::new(std::io::BufWriter::new(std::io::stdout())),
                };
                let mut csv = csv::Writer::from_writer(out);
                csv.write_record(headers)?;
                Sink::Csv(Box::new(csv))
            }
            (ExportFormat::Xlsx, None) => {
                anyhow::bail!("an XLSX export needs a file: -o devices.xlsx")
            }
            (ExportFormat::Xlsx, Some(path)) => {
                use rust_xlsxwriter::Format;
                let mut workbook = Box::new(rust_xlsxwriter::Workbook::new());
                let sheet = workbook.add_worksheet_with_constant_memory()?;
                sheet.set_name("devices")?;
                let bold = Format::new().set_bold();
                // Identifier columns are Text, so that Excel keeps a DevEUI of digits, an IMEI or an ICCID as
                // written when someone edits the sheet.
                let text = Format::new().set_num_format("@");
                for (col, (header, field)) in EXPORT_COLUMNS.iter().enumerate() {
                    let col = col as u16;
                    if field.is_identifier() {
                        sheet.set_column_format(col, &text)?;
                    }
                    sheet.set_column_width(col, if field.is_identifier() { 22 } else { 16 })?;
                    sheet.write_string_with_format(0, col, *header, &bold)?;
                }
                sheet.set_freeze_panes(1, 0)?;
                Sink::Xlsx {
                    workbook,
                    path: path.to_path_buf(),
                    row: 0,
                }
            }
        };
        Ok(ExportWriter { sink, rows: 0 })
    }

    /// One device's cells, in [`EXPORT_COLUMNS`] order.
    pub fn write(&mut self, cells: &[String; EXPORT_COLUMNS.len()]) -> anyhow::Result<()> {
        match &mut self.sink {
            Sink::Csv(csv) => csv.write_record(cells)?,
            Sink::Xlsx { workbook, row, .. } => {
                *row = row
                    .checked_add(1)
                    .filter(|r| *r < 1_048_576)
                    .context("more devices than an XLSX sheet holds (1,048,575); export CSV")?;
                let sheet = workbook.worksheet_from_index(0)?;
                let text = rust_xlsxwriter::Format::new().set_num_format("@");
                for (col, ((_, field), value)) in EXPORT_COLUMNS.iter().zip(cells).enumerate() {
                    if value.is_empty() {
                        continue;
                    }
                    if field.is_identifier() {
                        sheet.write_string_with_format(*row, col as u16, value, &text)?;
                    } else {
                        sheet.write_string(*row, col as u16, value)?;
                    }
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Flushes and closes the file; returns the devices written.
    pub fn finish(self) -> anyhow::Result<u64> {
        match self.sink {
            Sink::Csv(mut csv) => csv.flush()?,
            Sink::Xlsx {
                mut workbook, path, ..
            } => workbook
                .save(&path)
                .with_context(|| format!("{}: cannot write", path.display()))?,
        }
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_export_header_reads_back_as_its_field_and_none_is_a_key() {
        for (header, field) in EXPORT_COLUMNS {
            assert_eq!(
                crate::input::field_for_header(header, &[]),
                Some(field),
                "{header}"
            );
            assert!(!field.is_secret(), "{header}");
        }
    }
}
