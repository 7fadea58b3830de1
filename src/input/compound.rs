//! Compound documents (OLE/CFB): old `.xls` workbooks and password-protected `.xlsx` files are stored in one.
//!
//! calamine 0.38 follows a compound file's sector chains without checking for loops, so a damaged file whose
//! directory chain points back on itself makes it copy sectors forever (fuzzing found a 14 KB file that grew past
//! 6 GiB). The `cfb` crate checks every chain when it opens a file, so a compound file is opened with it first: a
//! file it refuses never reaches calamine, and what it finds inside tells an encrypted workbook from an `.xls`.

use std::io::Read;
use std::path::Path;

/// The eight bytes every compound file starts with.
const MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// What a compound file holds, as far as a spreadsheet reader cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Compound {
    /// Not a compound file: the extension's reader decides.
    No,
    /// An Office document encrypted with a password (its package is the `EncryptedPackage` stream).
    Encrypted,
    /// A BIFF workbook (an `.xls`), whatever the file's extension says.
    Xls,
    /// A compound file with neither: a Word or Outlook file, say.
    Other,
}

/// Looks inside `path`: `Err` is why the file cannot be used, and what to do, for the user.
pub(crate) fn inspect(path: &Path) -> Result<Compound, String> {
    let damaged = |e: std::io::Error| {
        format!(
            "the workbook is damaged ({e}); open and save it again in Excel, or export the sheet as CSV"
        )
    };
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut head = [0u8; 8];
    match file.read_exact(&mut head) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(Compound::No),
        Err(e) => return Err(format!("cannot read it: {e}")),
        Ok(()) => {}
    }
    if head != MAGIC {
        return Ok(Compound::No);
    }
    let mut compound = cfb::CompoundFile::open(std::io::BufReader::new(file)).map_err(damaged)?;
    if compound.is_stream("EncryptedPackage") {
        return Ok(Compound::Encrypted);
    }
    let Some(name) = ["Workbook", "Book"]
        .into_iter()
        .find(|name| compound.is_stream(name))
    else {
        return Ok(Compound::Other);
    };
    let mut stream = Vec::new();
    compound
        .open_stream(name)
        .and_then(|mut s| s.read_to_end(&mut stream))
        .map_err(damaged)?;
    check_sheets(&stream)?;
    Ok(Compound::Xls)
}

/// The most cells an `.xls` sheet holds: 65,536 rows by 256 columns.
const XLS_MAX_CELLS: u64 = 65_536 * 256;

/// Refuses a workbook whose sheets would make calamine 0.38 ask for more memory than the file could fill, which
/// aborts the process instead of failing:
/// - it reserves room for every cell a sheet's DIMENSIONS record claims before reading one, computing the row
///   count without checking that the range runs forward, so a damaged record asks for terabytes;
/// - it lays every sheet out densely as it opens the workbook, so two stray cells at A1 and at the far corner of a
///   sheet ask for gigabytes (the same rule as for `.xlsx` sheets applies: see `sheet::dense_area`).
///
/// Records are walked the way calamine walks them: the globals up to their EOF, then each sheet from the offset its
/// BOUNDSHEET record gives, up to the sheet's own EOF (nested substreams such as charts skipped).
fn check_sheets(stream: &[u8]) -> Result<(), String> {
    let mut sheets = Vec::new();
    for (typ, data) in records(stream, 0) {
        match typ {
            0x0085 if data.len() >= 4 => {
                sheets.push(u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize)
            }
            0x000A => break,
            _ => {}
        }
    }
    for start in sheets {
        let (mut seen_bof, mut depth) = (false, 0usize);
        let mut used = UsedBox::default();
        for (typ, data) in records(stream, start) {
            if depth > 0 {
                match typ {
                    0x0809 => depth += 1,
                    0x000A => depth -= 1,
                    _ => {}
                }
                continue;
            }
            match typ {
                0x0809 if seen_bof => depth += 1,
                0x0809 => seen_bof = true,
                0x0200 => claimed_cells(data)?,
                0x000A => break,
                // Number, Label, RString, BoolErr, RK, LabelSst, Formula: row and column first.
                0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 if data.len() >= 4 => {
                    used.add(u16_at(data, 0), u16_at(data, 2), u16_at(data, 2));
                }
                // MulRk: row, first column, …, last column.
                0x00BD if data.len() >= 6 => {
                    used.add(
                        u16_at(data, 0),
                        u16_at(data, 2),
                        u16_at(data, data.len() - 2),
                    );
                }
                _ => {}
            }
        }
        used.check()?;
    }
    Ok(())
}

fn u16_at(data: &[u8], i: usize) -> u32 {
    u32::from(u16::from_le_bytes([data[i], data[i + 1]]))
}

/// The box a sheet's cell records span, and how many cells they fill.
#[derive(Default)]
struct UsedBox {
    rows: Option<(u32, u32)>,
    cols: (u32, u32),
    filled: usize,
}

impl UsedBox {
    fn add(&mut self, row: u32, first_col: u32, last_col: u32) {
        let (first_col, last_col) = (first_col.min(last_col), first_col.max(last_col));
        self.filled += (last_col - first_col) as usize + 1;
        match &mut self.rows {
            None => {
                self.rows = Some((row, row));
                self.cols = (first_col, last_col);
            }
            Some(rows) => {
                *rows = (rows.0.min(row), rows.1.max(row));
                self.cols = (self.cols.0.min(first_col), self.cols.1.max(last_col));
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        let Some(rows) = self.rows else { return Ok(()) };
        match super::sheet::dense_area(rows, self.cols, self.filled) {
            None => Ok(()),
            Some(area) => Err(format!(
                "a sheet's {} cells are spread over {area} cells (rows {} to {}, columns {} to {}): delete the \
                 stray cells far from the data, or export the sheet as CSV",
                self.filled,
                rows.0 + 1,
                rows.1 + 1,
                self.cols.0 + 1,
                self.cols.1 + 1
            )),
        }
    }
}

/// Checks one DIMENSIONS record as calamine reads it (BIFF5: 16-bit rows; BIFF8: 32-bit rows).
fn claimed_cells(data: &[u8]) -> Result<(), String> {
    let u16_at = |i: usize| u16_at(data, i);
    let u32_at = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let (first_row, row_end, mut first_col, col_end) = match data.len() {
        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
        // calamine refuses any other length itself.
        _ => return Ok(()),
    };
    if first_col > 0xFF || col_end < first_col {
        first_col = 0;
    }
    if row_end == 0 || col_end == 0 {
        return Ok(());
    }
    let (last_row, last_col) = (row_end - 1, col_end - 1);
    if last_row < first_row || last_col < first_col {
        return Err(format!(
            "the workbook is damaged: a sheet's dimensions run backwards (rows {} to {last_row}); open and save it \
             again in Excel, or export the sheet as CSV",
            u64::from(first_row) + 1
        ));
    }
    let cells = (u64::from(last_row - first_row) + 1) * (u64::from(last_col - first_col) + 1);
    if cells > XLS_MAX_CELLS {
        return Err(format!(
            "the workbook is damaged: a sheet claims {cells} cells, more than an .xls sheet holds (65,536 rows by \
             256 columns); open and save it again in Excel, or export the sheet as CSV"
        ));
    }
    Ok(())
}

/// BIFF records from `start`: (type, data), each record's CONTINUE records folded into it as calamine folds them;
/// the walk ends where a record would run past the stream.
fn records(stream: &[u8], start: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = stream.get(start..).unwrap_or_default();
    let header = |bytes: &[u8]| {
        (bytes.len() >= 4).then(|| {
            (
                u16::from_le_bytes([bytes[0], bytes[1]]),
                usize::from(u16::from_le_bytes([bytes[2], bytes[3]])),
            )
        })
    };
    std::iter::from_fn(move || {
        let (typ, len) = header(rest)?;
        let data = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        while let Some((0x003C, len)) = header(rest) {
            rest = rest.get(4 + len..)?;
        }
        Some((typ, data))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut out = typ.to_le_bytes().to_vec();
        out.extend((data.len() as u16).to_le_bytes());
        out.extend(data);
        out
    }

    /// BIFF8 DIMENSIONS: first row, row after the last, first column, column after the last, reserved.
    fn dimensions(first_row: u32, row_end: u32, first_col: u16, col_end: u16) -> Vec<u8> {
        let mut data = first_row.to_le_bytes().to_vec();
        data.extend(row_end.to_le_bytes());
        data.extend(first_col.to_le_bytes());
        data.extend(col_end.to_le_bytes());
        data.extend([0, 0]);
        record(0x0200, &data)
    }

    /// A globals substream naming one sheet, then that sheet holding the given records.
    fn workbook(sheet: Vec<u8>) -> Vec<u8> {
        let bof = record(0x0809, &[0; 16]);
        let eof = record(0x000A, &[]);
        let globals_len = bof.len() + (4 + 8) + eof.len();
        let mut sheet_ref = (globals_len as u32).to_le_bytes().to_vec();
        sheet_ref.extend([0, 0, 1, 0]);
        let mut stream = [bof.clone(), record(0x0085, &sheet_ref), eof.clone()].concat();
        assert_eq!(stream.len(), globals_len);
        // A chart inside the sheet carries its own BOF/EOF and must not end the sheet's walk.
        stream.extend([bof.clone(), bof, eof.clone(), sheet, eof].concat());
        stream
    }

    #[test]
    fn impossible_sheet_dimensions_are_damage() {
        assert_eq!(
            check_sheets(&workbook(dimensions(0, 65_536, 0, 256))),
            Ok(())
        );
        assert_eq!(check_sheets(&workbook(dimensions(0, 0, 0, 0))), Ok(()));
        let huge = check_sheets(&workbook(dimensions(0, 65_537, 0, 256))).unwrap_err();
        assert!(huge.contains("16777472 cells"), "{huge}");
        let backwards = check_sheets(&workbook(dimensions(10, 5, 0, 3))).unwrap_err();
        assert!(backwards.contains("run backwards"), "{backwards}");
        // A record cut short ends the walk: calamine refuses such a stream itself.
        let mut cut = workbook(dimensions(0, 65_537, 0, 256));
        cut.truncate(cut.len() - 8);
        assert_eq!(check_sheets(&cut), Ok(()));
    }

    /// A NUMBER record (row, column, format, value).
    fn number(row: u16, col: u16) -> Vec<u8> {
        let mut data = row.to_le_bytes().to_vec();
        data.extend(col.to_le_bytes());
        data.extend([0u8; 10]);
        record(0x0203, &data)
    }

    #[test]
    fn stray_cells_far_from_the_data_are_refused() {
        let corners = [number(0, 0), number(65_535, 255)].concat();
        let err = check_sheets(&workbook(corners)).unwrap_err();
        assert!(
            err.contains("2 cells are spread over 16777216 cells"),
            "{err}"
        );
        assert!(err.contains("rows 1 to 65536, columns 1 to 256"), "{err}");

        // MulRk: row 3, columns 1 to 3 (three RK values, six bytes each), then a cell far below: 4 cells.
        let mut mul_rk = 3u16.to_le_bytes().to_vec();
        mul_rk.extend(1u16.to_le_bytes());
        mul_rk.extend([0u8; 18]);
        mul_rk.extend(3u16.to_le_bytes());
        let err = check_sheets(&workbook(
            [record(0x00BD, &mul_rk), number(60_000, 200)].concat(),
        ))
        .unwrap_err();
        assert!(err.contains("4 cells are spread"), "{err}");

        // A shipment's worth of cells in a compact block is fine.
        let block: Vec<u8> = (0..2_000u16)
            .flat_map(|row| (0..4u16).flat_map(move |col| number(row, col)))
            .collect();
        assert_eq!(check_sheets(&workbook(block)), Ok(()));
    }

    #[test]
    fn continue_records_belong_to_the_record_before_them() {
        let stream = [
            record(0x00FC, b"abc"),
            record(0x003C, b"de"),
            record(0x000A, &[]),
        ]
        .concat();
        let seen: Vec<(u16, &[u8])> = records(&stream, 0).collect();
        assert_eq!(seen, vec![(0x00FC, &b"abc"[..]), (0x000A, &b""[..])]);
        assert_eq!(records(&stream, stream.len() + 5).count(), 0);
    }
}
