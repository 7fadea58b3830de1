//! `tpbulk template`: write an input template for one kind of device, as CSV or as an XLSX whose identifier
//! columns are Text (so a spreadsheet cannot turn them into numbers) with a notes sheet explaining each column.

use crate::cli::GlobalArgs;
use crate::device::Kind;
use crate::device::kinds::{ColumnSpec, columns};
use crate::error::{Exit, UsageError};
use rust_xlsxwriter::{Format, Workbook};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kind of device the template is for.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Write to FILE.csv or FILE.xlsx (default: CSV on stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// The file types a template can be written as, chosen by the output's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Csv,
    Xlsx,
}

fn output_kind(path: &Path) -> Result<Output, UsageError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => Ok(Output::Csv),
        Some("xlsx") => Ok(Output::Xlsx),
        _ => Err(UsageError(format!(
            "{}: a template is written as .csv or .xlsx",
            path.display()
        ))),
    }
}

/// The CSV template: the header line only, so that no example device is ever imported by mistake.
pub fn csv_template(kind: Kind) -> String {
    let headers: Vec<&str> = columns(kind).iter().map(|c| c.header).collect();
    format!("{}\r\n", headers.join(","))
}

fn requirement(kind: Kind, column: &ColumnSpec) -> &'static str {
    use crate::input::Field;
    let either = match kind {
        Kind::Cellular => matches!(column.field, Field::Imei | Field::Sim),
        Kind::Otaa | Kind::Abp | Kind::Multicast => false,
    };
    match (either, column.required) {
        (true, _) => "IMEI or SIM",
        (false, true) => "required",
        (false, false) => "optional",
    }
}

/// Writes the XLSX template: a `devices` sheet with Text identifier columns and a `notes` sheet.
pub fn write_xlsx_template(kind: Kind, path: &Path) -> anyhow::Result<()> {
    let mut workbook = Workbook::new();
    let header = Format::new().set_bold();
    // Built-in format 49 is Excel's own "Text" (`@`).
    let text = Format::new().set_num_format_index(49);
    let wrap = Format::new().set_text_wrap();

    let sheet = workbook.add_worksheet();
    sheet.set_name("devices")?;
    for (i, column) in columns(kind).iter().enumerate() {
        let col = u16::try_from(i)?;
        sheet.write_string_with_format(0, col, column.header, &header)?;
        let width = if column.field.is_identifier() { 36 } else { 24 };
        sheet.set_column_width(col, width)?;
        // Every cell of the column is Text, identifiers or not: names such as "0012" must stay as typed too.
        sheet.set_column_format(col, &text)?;
    }
    sheet.set_freeze_panes(1, 0)?;

    let notes = workbook.add_worksheet();
    notes.set_name("notes")?;
    for (col, title) in ["Column", "Required", "What it holds", "Example"]
        .into_iter()
        .enumerate()
    {
        notes.write_string_with_format(0, col as u16, title, &header)?;
    }
    notes.set_column_width(0, 20)?;
    notes.set_column_width(1, 12)?;
    notes.set_column_width(2, 80)?;
    notes.set_column_width(3, 36)?;
    for (i, column) in columns(kind).iter().enumerate() {
        let row = u32::try_from(i + 1)?;
        notes.write_string(row, 0, column.header)?;
        notes.write_string(row, 1, requirement(kind, column))?;
        notes.write_string_with_format(row, 2, column.note, &wrap)?;
        notes.write_string_with_format(row, 3, column.example, &text)?;
    }
    let after = u32::try_from(columns(kind).len() + 2)?;
    notes.write_string_with_format(
        after,
        0,
        format!(
            "Fill the 'devices' sheet, one {} device per row. Its columns are formatted as Text so that the \
             spreadsheet keeps identifiers exactly as typed; keep it that way when pasting (paste as values). \
             Check the file with: tpbulk validate FILE.xlsx",
            kind.as_str()
        ),
        &wrap,
    )?;
    workbook.save(path)?;
    Ok(())
}

pub fn run(args: Args, _global: &GlobalArgs) -> anyhow::Result<Exit> {
    let Some(path) = args.output.filter(|p| !crate::report::is_stdout(p)) else {
        write_stdout(args.kind)?;
        return Ok(Exit::Success);
    };
    match output_kind(&path)? {
        Output::Csv => std::fs::write(&path, csv_template(args.kind)).map_err(anyhow::Error::from),
        Output::Xlsx => write_xlsx_template(args.kind, &path),
    }
    .map_err(|e| {
        UsageError(format!(
            "{}: cannot write the template: {e}",
            path.display()
        ))
    })?;
    Ok(Exit::Success)
}

fn write_stdout(kind: Kind) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(csv_template(kind).as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_kind_follows_the_extension() {
        assert_eq!(output_kind(Path::new("a.CSV")).unwrap(), Output::Csv);
        assert_eq!(output_kind(Path::new("a.xlsx")).unwrap(), Output::Xlsx);
        assert!(output_kind(Path::new("a.xls")).is_err());
        assert!(output_kind(Path::new("a")).is_err());
    }

    #[test]
    fn csv_templates_hold_the_required_columns() {
        assert_eq!(
            csv_template(Kind::Otaa),
            "DevEUI,JoinEUI,AppKey,NwkKey,Name,Model,Connection,Connectivity plan,Tags,Domains\r\n"
        );
        for kind in [Kind::Otaa, Kind::Abp, Kind::Cellular, Kind::Multicast] {
            let csv = csv_template(kind);
            for column in columns(kind).iter().filter(|c| c.required) {
                assert!(csv.contains(column.header), "{kind:?} {}", column.header);
            }
        }
    }
}
