//! Spreadsheets through calamine: sheet choice, typed cells, sheet row numbers, and clear refusals.

use super::compound::{self, Compound};
use super::{Cell, InputError, Record, SheetKind, unusable};
use calamine::{Data, Range, Reader};
use std::path::Path;

/// The kind of workbook an extension names, if any.
pub(crate) fn kind_of(path: &Path) -> Option<SheetKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "xlsx" => Some(SheetKind::Xlsx),
        "xlsm" => Some(SheetKind::Xlsm),
        "xls" => Some(SheetKind::Xls),
        "ods" => Some(SheetKind::Ods),
        _ => None,
    }
}

fn is_password_error(e: &calamine::Error) -> bool {
    use calamine::{Error, OdsError, XlsError, XlsxError};
    matches!(
        e,
        Error::Xlsx(XlsxError::Password)
            | Error::Xls(XlsError::Password)
            | Error::Ods(OdsError::Password)
    )
}

/// Opens the workbook as the format its extension names, whatever the extension's case (calamine's own choice
/// by extension is case-sensitive).
fn open_by_kind(
    path: &Path,
    kind: SheetKind,
) -> Result<calamine::Sheets<std::io::BufReader<std::fs::File>>, calamine::Error> {
    use calamine::{Error, Ods, Sheets, Xls, Xlsx, open_workbook};
    Ok(match kind {
        SheetKind::Xlsx | SheetKind::Xlsm => {
            Sheets::Xlsx(open_workbook::<Xlsx<_>, _>(path).map_err(Error::Xlsx)?)
        }
        SheetKind::Xls => Sheets::Xls(open_workbook::<Xls<_>, _>(path).map_err(Error::Xls)?),
        SheetKind::Ods => Sheets::Ods(open_workbook::<Ods<_>, _>(path).map_err(Error::Ods)?),
    })
}

/// The chosen sheet: its name and its rows (blank rows skipped, sheet row numbers).
pub(crate) struct Sheet {
    pub name: String,
    pub rows: Box<dyn Iterator<Item = Result<Record, InputError>> + Send>,
    /// The same rows as raw records, for an XLSX sheet (see `Table::raw_csv`).
    pub raw: Option<super::xlsx::SheetRows>,
}

/// Opens the workbook and picks the sheet `--sheet` names (a name, else a 0-based index), or the first with data.
///
/// calamine 0.38 panics on some damaged workbooks (fuzzing found a slice index out of range in its CFB reader, reached
/// through the password-protection check): a bad file must be a clear refusal naming it, not a crash.
pub(crate) fn open(
    path: &Path,
    kind: SheetKind,
    wanted: Option<&str>,
) -> Result<Sheet, InputError> {
    guarded(path, || open_unguarded(path, kind, wanted))
}

const DAMAGED: &str = "the workbook is damaged: the spreadsheet reader failed on it; open and save it again in \
     Excel, or export the sheet as CSV";

/// Runs `f`, turning a panic inside a spreadsheet reader into a refusal that names the file.
pub(crate) fn guarded<T>(
    path: &Path,
    f: impl FnOnce() -> Result<T, InputError>,
) -> Result<T, InputError> {
    quiet_panic_hook();
    QUIET_PANICS.with(|q| q.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(false));
    result.unwrap_or_else(|_| Err(unusable(path, DAMAGED)))
}

thread_local! {
    /// Set while this thread runs calamine: its panic becomes a refusal, so the panic message is not for the user.
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wraps the panic hook once so that it stays silent on a thread inside [`open`], and speaks as before elsewhere.
fn quiet_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
}

const PASSWORD_PROTECTED: &str = "the workbook is password-protected (encrypted); open it in Excel, remove the \
    password (File > Info > Protect Workbook) and save a copy, or export the sheet as CSV";

fn open_unguarded(path: &Path, kind: SheetKind, wanted: Option<&str>) -> Result<Sheet, InputError> {
    let kind = match compound::inspect(path) {
        Ok(Compound::No) => kind,
        Ok(Compound::Xls) => SheetKind::Xls,
        Ok(Compound::Encrypted) => return Err(unusable(path, PASSWORD_PROTECTED)),
        Ok(Compound::Other) => {
            return Err(unusable(
                path,
                "not a spreadsheet: an Office compound file without a workbook in it (a Word or Outlook \
                 file?); export the sheet as CSV",
            ));
        }
        Err(message) => return Err(unusable(path, message)),
    };
    if matches!(kind, SheetKind::Xlsx | SheetKind::Xlsm) {
        return open_xlsx(path, wanted);
    }
    let mut workbook = open_by_kind(path, kind).map_err(|e| {
        if is_password_error(&e) {
            unusable(path, PASSWORD_PROTECTED)
        } else {
            unusable(
                path,
                format!(
                    "not a readable spreadsheet ({e}); check that the file is a real .xlsx/.xlsm/.xls/.ods \
                     workbook, or export it as CSV"
                ),
            )
        }
    })?;
    let names = workbook.sheet_names();
    let read = |workbook: &mut calamine::Sheets<_>, name: &str| {
        workbook.worksheet_range(name).map_err(|e| {
            unusable(
                path,
                format!("sheet \"{name}\": cannot be read ({e}); export it as CSV"),
            )
        })
    };
    let sheet = |name: &str, range: Range<Data>| Sheet {
        name: name.to_string(),
        rows: Box::new(SheetRows::new(range)),
        raw: None,
    };
    match wanted {
        Some(wanted) => {
            let name = pick(path, &names, wanted)?;
            let range = read(&mut workbook, &name)?;
            Ok(sheet(&name, range))
        }
        None => {
            for name in &names {
                let range = read(&mut workbook, name)?;
                if range.used_cells().any(|(_, _, c)| !is_blank(c)) {
                    return Ok(sheet(name, range));
                }
            }
            Err(no_data(path, &names))
        }
    }
}

/// An XLSX or XLSM sheet, streamed (see [`super::xlsx`]).
fn open_xlsx(path: &Path, wanted: Option<&str>) -> Result<Sheet, InputError> {
    let mut workbook = super::xlsx::Workbook::open(path)?;
    let names: Vec<String> = workbook.sheets.iter().map(|(n, _)| n.clone()).collect();
    let index = match wanted {
        Some(wanted) => {
            let name = pick(path, &names, wanted)?;
            names.iter().position(|n| *n == name).unwrap_or(0)
        }
        None => {
            let mut found = None;
            for i in 0..names.len() {
                if workbook.has_data(i)? {
                    found = Some(i);
                    break;
                }
            }
            found.ok_or_else(|| no_data(path, &names))?
        }
    };
    let rows = workbook.into_rows(index);
    Ok(Sheet {
        name: names[index].clone(),
        rows: Box::new(rows.clone().records()),
        raw: Some(rows),
    })
}

/// The sheet `--sheet` names: by name, then case-insensitively, then as a 0-based index.
fn pick(path: &Path, names: &[String], wanted: &str) -> Result<String, InputError> {
    if names.is_empty() {
        return Err(unusable(path, "the workbook has no sheets"));
    }
    names
        .iter()
        .find(|n| n.as_str() == wanted)
        .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(wanted)))
        .or_else(|| wanted.trim().parse::<usize>().ok().and_then(|i| names.get(i)))
        .cloned()
        .ok_or_else(|| {
            unusable(
                path,
                format!(
                    "no sheet \"{wanted}\"; the sheets are {} (give --sheet a name or a 0-based index)",
                    quoted_list(names)
                ),
            )
        })
}

fn no_data(path: &Path, names: &[String]) -> InputError {
    if names.is_empty() {
        return unusable(path, "the workbook has no sheets");
    }
    unusable(
        path,
        format!(
            "no sheet holds any data (sheets: {}); fill in the first sheet or choose one with --sheet",
            quoted_list(names)
        ),
    )
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_blank(data: &Data) -> bool {
    match data {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// A calamine cell as a [`Cell`], its type kept.
pub(crate) fn cell_of(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) => Cell::Date(iso_date(dt)),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Date(s.clone()),
        Data::Error(e) => Cell::Error(e.to_string()),
    }
}

pub(super) fn iso_date(dt: &calamine::ExcelDateTime) -> String {
    if dt.is_duration() {
        return format!("{}", dt.as_f64());
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    match (h, mi, s, ms) {
        (0, 0, 0, 0) => format!("{y:04}-{mo:02}-{d:02}"),
        (_, _, _, 0) => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}"),
        _ => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}"),
    }
}

/// The sheet's rows from a given index of the range on, with the sheet's own 1-based row numbers; cells are placed
/// at their sheet column (column A is index 0) and blank rows are skipped.
pub(crate) struct SheetRows {
    range: Range<Data>,
    next: usize,
    first_row: u64,
    first_col: usize,
}

impl SheetRows {
    pub(crate) fn new(range: Range<Data>) -> SheetRows {
        let (first_row, first_col) = range.start().unwrap_or((0, 0));
        SheetRows {
            range,
            next: 0,
            first_row: u64::from(first_row) + 1,
            first_col: first_col as usize,
        }
    }
}

impl Iterator for SheetRows {
    type Item = Result<Record, InputError>;
    fn next(&mut self) -> Option<Self::Item> {
        let (height, width) = (self.range.height(), self.range.width());
        while self.next < height {
            let index = self.next;
            self.next += 1;
            let row = (0..width).map(|c| self.range.get((index, c)).unwrap_or(&Data::Empty));
            if row.clone().all(is_blank) {
                continue;
            }
            let mut cells = Vec::with_capacity(self.first_col + width);
            cells.resize(self.first_col, Cell::Empty);
            cells.extend(row.map(cell_of));
            return Some(Ok(Record {
                row: self.first_row + index as u64,
                cells,
            }));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{CellErrorType, ExcelDateTime, ExcelDateTimeType};

    #[test]
    fn a_workbook_that_makes_calamine_panic_is_refused_by_name() {
        // Found by the `xlsx_input` fuzz target: calamine's CFB reader indexes past the end of this file.
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/fuzz-calamine-cfb-panic.xlsx"
        ));
        let err = open(path, SheetKind::Xlsx, None).err().expect("refused");
        let text = err.to_string();
        assert!(text.contains("fuzz-calamine-cfb-panic.xlsx"), "{text}");
        assert!(text.contains("damaged"), "{text}");
    }

    #[test]
    fn cells_keep_their_type() {
        assert_eq!(
            cell_of(&Data::Int(490154203237518)),
            Cell::Int(490154203237518)
        );
        assert_eq!(cell_of(&Data::Float(1.5)), Cell::Float(1.5));
        assert_eq!(
            cell_of(&Data::String("0011".into())),
            Cell::Text("0011".into())
        );
        assert_eq!(cell_of(&Data::Bool(true)), Cell::Bool(true));
        assert_eq!(cell_of(&Data::Empty), Cell::Empty);
        assert_eq!(
            cell_of(&Data::Error(CellErrorType::Div0)),
            Cell::Error("#DIV/0!".into())
        );
        assert_eq!(
            cell_of(&Data::DateTimeIso("2024-03-01T10:00:00".into())),
            Cell::Date("2024-03-01T10:00:00".into())
        );
        let noon = ExcelDateTime::new(45352.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(
            cell_of(&Data::DateTime(noon)),
            Cell::Date("2024-03-01T12:00:00".into())
        );
        let day = ExcelDateTime::new(45352.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(
            cell_of(&Data::DateTime(day)),
            Cell::Date("2024-03-01".into())
        );
    }

    #[test]
    fn extensions_name_workbooks() {
        assert_eq!(kind_of(Path::new("a.XLSX")), Some(SheetKind::Xlsx));
        assert_eq!(kind_of(Path::new("a.xlsm")), Some(SheetKind::Xlsm));
        assert_eq!(kind_of(Path::new("a.xls")), Some(SheetKind::Xls));
        assert_eq!(kind_of(Path::new("a.ods")), Some(SheetKind::Ods));
        assert_eq!(kind_of(Path::new("a.csv")), None);
        assert_eq!(kind_of(Path::new("xlsx")), None);
    }
}

/// The area of the bounding box when it is too large for the cells that fill it (more than 16 times their number
/// and over a million cells), else `None`.
pub(super) fn dense_area(rows: (u32, u32), cols: (u32, u32), filled: usize) -> Option<u64> {
    if filled == 0 {
        return None;
    }
    let area = u64::from(rows.1 - rows.0 + 1) * u64::from(cols.1 - cols.0 + 1);
    (area > 1_000_000 && area > 16 * filled as u64).then_some(area)
}

#[cfg(test)]
mod sparse_tests {
    use super::*;

    #[test]
    fn a_full_sheet_is_not_too_sparse() {
        assert_eq!(dense_area((0, 199_999), (0, 9), 2_000_000), None);
        assert_eq!(dense_area((0, 3), (0, 3), 2), None);
    }

    #[test]
    fn two_cells_at_opposite_corners_are() {
        assert_eq!(
            dense_area((0, 1_048_575), (0, 16_383), 2),
            Some(1_048_576 * 16_384)
        );
    }

    #[test]
    fn stray_cells_far_from_the_data_are_read_without_laying_out_the_box() {
        // Streamed, an XLSX sheet costs its rows, not its bounding box (A1 to XFD1048576 would be 17 billion cells).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stray.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "DevEUI").unwrap();
        sheet.write_string(1_048_575, 16_383, "x").unwrap();
        book.save(&path).unwrap();
        let sheet = open(&path, SheetKind::Xlsx, None).unwrap();
        let rows: Vec<Record> = sheet.rows.map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].row, 1_048_576);
        assert_eq!(rows[1].cells.len(), 16_384);
        assert_eq!(rows[1].cells[16_383], Cell::Text("x".into()));
    }
}
