//! The fast path of row checking: decides from a CSV record's raw bytes, without allocating, that an OTAA row is
//! certainly valid, and gives its DevEUI. Anything it is not sure of goes to the full `Checker::check`, so there is
//! only one way errors are reported.

use super::Kind;
use crate::input::{Column, Field};

/// Where a required reference (model, connection) comes from.
#[derive(Debug, Clone, Copy)]
enum Reference {
    /// A column and no `--set` default: the cell must visibly hold something.
    Column(usize),
    /// A `--set` default (with or without a column): a blank cell takes the default, so the field is always given.
    Always,
}

/// How the mapped columns of a table are read on the fast path. Built only when every row can be an OTAA row
/// from its columns alone; [`FastPlan::new`] returns `None` otherwise and every row takes the full path.
#[derive(Debug, Clone)]
pub struct FastPlan {
    width: usize,
    dev_eui: usize,
    app_key: usize,
    join_eui: Option<usize>,
    nwk_key: Option<usize>,
    kind: Option<usize>,
    model: Reference,
    connection: Reference,
}

/// `--set` defaults the fast path understands: free text that is either there or not. A default for an identifier
/// or the kind changes what a row means, so any other default turns the fast path off.
const PLAIN_DEFAULTS: [Field; 5] = [
    Field::Name,
    Field::Model,
    Field::Connection,
    Field::Plan,
    Field::Context,
];

impl FastPlan {
    /// The plan for a table with these columns, `--set` defaults and `--kind`, when its rows can take the fast path.
    pub fn new(
        columns: &[Column],
        defaults: &[(Field, String)],
        forced_kind: Option<Kind>,
    ) -> Option<FastPlan> {
        if forced_kind.is_some_and(|k| k != Kind::Otaa) {
            return None;
        }
        if defaults.iter().any(|(f, _)| !PLAIN_DEFAULTS.contains(f)) {
            return None;
        }
        // Values the fast path does not check (a latitude's range, a motion indicator's name) need the full path.
        const CHECKED_ELSEWHERE: [Field; 3] = [Field::Latitude, Field::Longitude, Field::Motion];
        if columns
            .iter()
            .any(|c| c.field.is_some_and(|f| CHECKED_ELSEWHERE.contains(&f)))
        {
            return None;
        }
        // The first column mapping to a field is the one read, as in the header mapping.
        let column_of = |field: Field| {
            columns
                .iter()
                .find(|c| c.field == Some(field))
                .map(|c| c.index)
        };
        let has_default = |field: Field| defaults.iter().any(|(f, _)| *f == field);
        let reference = |field: Field| {
            if has_default(field) {
                Some(Reference::Always)
            } else {
                column_of(field).map(Reference::Column)
            }
        };
        Some(FastPlan {
            width: columns.len(),
            dev_eui: column_of(Field::DevEui)?,
            app_key: column_of(Field::AppKey)?,
            join_eui: column_of(Field::JoinEui),
            nwk_key: column_of(Field::NwkKey),
            kind: column_of(Field::Kind),
            model: reference(Field::Model)?,
            connection: reference(Field::Connection)?,
        })
    }

    /// The row's DevEUI when the row is certainly a valid OTAA row (duplicates aside: the caller checks those);
    /// `None` when the full check must decide.
    pub fn valid_dev_eui(&self, record: &csv::ByteRecord) -> Option<u64> {
        if record.len() != self.width {
            return None;
        }
        let cell = |i: usize| {
            let field = record.get(i).unwrap_or_default();
            // Only `\n` ends a record, so a CRLF file leaves its `\r` on the last field.
            if i + 1 == self.width {
                field.strip_suffix(b"\r").unwrap_or(field)
            } else {
                field
            }
        };
        if let Some(kind) = self.kind {
            let kind = cell(kind);
            if !kind.is_empty() && !kind.eq_ignore_ascii_case(b"otaa") {
                return None;
            }
        }
        let dev_eui = hex_u64(cell(self.dev_eui))?;
        hex_u128(cell(self.app_key))?;
        if let Some(join_eui) = self.join_eui {
            let join_eui = cell(join_eui);
            if !join_eui.is_empty() {
                hex_u64(join_eui)?;
            }
        }
        if let Some(nwk_key) = self.nwk_key {
            let nwk_key = cell(nwk_key);
            if !nwk_key.is_empty() {
                hex_u128(nwk_key)?;
            }
        }
        for reference in [self.model, self.connection] {
            if let Reference::Column(i) = reference
                && !cell(i).iter().any(u8::is_ascii_graphic)
            {
                return None;
            }
        }
        Some(dev_eui)
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` (all below 0x80) that lies in `lo..=hi`.
const fn in_range(x: u64, lo: u8, hi: u8) -> u64 {
    let at_least_lo = x.wrapping_add((0x80 - lo as u64) * ONES);
    let above_hi = x.wrapping_add((0x7F - hi as u64) * ONES);
    at_least_lo & !above_hi & HIGH
}

/// Eight hex digits, the first the most significant, checked and read eight bytes at a time (this runs three
/// times per row).
fn hex_u32(chunk: [u8; 8]) -> Option<u32> {
    let x = u64::from_be_bytes(chunk);
    if x & HIGH != 0 {
        return None;
    }
    let digits = in_range(x, b'0', b'9');
    // `| 0x20` lower-cases letters; it also moves some punctuation into `a..=f`'s neighbourhood but not into it.
    let letters = in_range(x | (0x20 * ONES), b'a', b'f');
    if digits | letters != HIGH {
        return None;
    }
    // A digit's low nibble is its value; a letter's low nibble is its value minus 9.
    let mut v = (x & (0x0F * ONES)) + (letters >> 7) * 9;
    v = ((v >> 4) | v) & 0x00FF_00FF_00FF_00FF;
    v = ((v >> 8) | v) & 0x0000_FFFF_0000_FFFF;
    v = ((v >> 16) | v) & 0x0000_0000_FFFF_FFFF;
    Some(v as u32)
}

/// Exactly 16 hex digits, nothing else (no spaces, separators or `0x`: those rows take the full path).
fn hex_u64(bytes: &[u8]) -> Option<u64> {
    let bytes: &[u8; 16] = bytes.try_into().ok()?;
    let (high, low) = bytes.split_at(8);
    let high = hex_u32(high.try_into().ok()?)?;
    let low = hex_u32(low.try_into().ok()?)?;
    Some((u64::from(high) << 32) | u64::from(low))
}

/// Exactly 32 hex digits.
fn hex_u128(bytes: &[u8]) -> Option<u128> {
    if bytes.len() != 32 {
        return None;
    }
    let high = hex_u64(&bytes[..16])?;
    let low = hex_u64(&bytes[16..])?;
    Some((u128::from(high) << 64) | u128::from(low))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(headers: &[(&str, Option<Field>)]) -> Vec<Column> {
        headers
            .iter()
            .enumerate()
            .map(|(index, (header, field))| Column {
                index,
                header: header.to_string(),
                field: *field,
            })
            .collect()
    }

    fn otaa_columns() -> Vec<Column> {
        columns(&[
            ("DevEUI", Some(Field::DevEui)),
            ("AppKey", Some(Field::AppKey)),
            ("JoinEUI", Some(Field::JoinEui)),
            ("Model", Some(Field::Model)),
            ("Connection", Some(Field::Connection)),
        ])
    }

    fn record(cells: &[&str]) -> csv::ByteRecord {
        csv::ByteRecord::from(cells.to_vec())
    }

    const KEY: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn hex_agrees_with_the_parser_on_every_byte() {
        for b in 0..=255u8 {
            for pos in 0..16 {
                let mut text = *b"0123456789abcDEF";
                text[pos] = b;
                let expected = std::str::from_utf8(&text)
                    .ok()
                    .filter(|t| t.bytes().all(|c| c.is_ascii_hexdigit()))
                    .map(|t| u64::from_str_radix(t, 16).unwrap());
                assert_eq!(hex_u64(&text), expected, "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn hex_parses_exact_digits_only() {
        assert_eq!(hex_u64(b"70b3D5E75F600000"), Some(0x70B3_D5E7_5F60_0000));
        assert_eq!(hex_u64(b"70B3D5E75F60000"), None);
        assert_eq!(hex_u64(b"70B3D5E75F60000G"), None);
        assert_eq!(hex_u64(b"70B3D5E75F60000 "), None);
        assert_eq!(hex_u64(b"70-B3D5E75F60000"), None);
        assert_eq!(
            hex_u128(KEY.as_bytes()),
            Some(0x0011_2233_4455_6677_8899_AABB_CCDD_EEFF)
        );
        assert_eq!(hex_u128(&KEY.as_bytes()[1..]), None);
    }

    #[test]
    fn certain_rows_pass_and_doubtful_rows_do_not() {
        let plan = FastPlan::new(&otaa_columns(), &[], None).unwrap();
        let ok = record(&["70B3D5E75F600001", KEY, "", "m", "c\r"]);
        assert_eq!(plan.valid_dev_eui(&ok), Some(0x70B3_D5E7_5F60_0001));
        for doubtful in [
            record(&["70B3D5E75F60001", KEY, "", "m", "c"]),
            record(&["70B3D5E75F600001", &KEY[1..], "", "m", "c"]),
            record(&["70B3D5E75F600001", KEY, "x", "m", "c"]),
            record(&["70B3D5E75F600001", KEY, "", " ", "c"]),
            record(&["70B3D5E75F600001", KEY, "", "m", "\r"]),
            record(&["70B3D5E75F600001", KEY, "", "m"]),
            record(&["0x70B3D5E75F6001", KEY, "", "m", "c"]),
        ] {
            assert_eq!(plan.valid_dev_eui(&doubtful), None, "{doubtful:?}");
        }
    }

    #[test]
    fn only_otaa_tables_and_plain_defaults_take_the_fast_path() {
        let cols = otaa_columns();
        assert!(FastPlan::new(&cols, &[], Some(Kind::Abp)).is_none());
        assert!(FastPlan::new(&cols, &[(Field::JoinEui, "0".into())], None).is_none());
        assert!(FastPlan::new(&cols, &[(Field::Kind, "otaa".into())], None).is_none());
        assert!(FastPlan::new(&cols[..4], &[], None).is_none());
        let plan = FastPlan::new(&cols[..4], &[(Field::Connection, "c".into())], None).unwrap();
        assert!(
            plan.valid_dev_eui(&record(&["70B3D5E75F600001", KEY, "", "m"]))
                .is_some()
        );
    }

    #[test]
    fn a_kind_column_must_say_otaa() {
        let mut cols = otaa_columns();
        cols.push(Column {
            index: 5,
            header: "Kind".into(),
            field: Some(Field::Kind),
        });
        let plan = FastPlan::new(&cols, &[], None).unwrap();
        let row = |kind: &str| record(&["70B3D5E75F600001", KEY, "", "m", "c", kind]);
        assert!(plan.valid_dev_eui(&row("")).is_some());
        assert!(plan.valid_dev_eui(&row("OTAA")).is_some());
        assert!(plan.valid_dev_eui(&row("abp")).is_none());
        assert!(plan.valid_dev_eui(&row("CREATE_OTAA")).is_none());
    }
}
