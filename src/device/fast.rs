//! The fast path of row checking: decides from a CSV record's raw bytes, without allocating, that an OTAA, ABP or
//! cellular row is certainly valid, and gives its identifiers. Anything it is not sure of goes to the full
//! `Checker::check`, so there is only one way errors are reported.

use super::Kind;
#[cfg(test)]
use super::ids::telecom_iccid_key;
use crate::input::{Column, Field};

/// Where a required reference (model, connection, plan) comes from.
#[derive(Debug, Clone, Copy)]
enum Reference {
    /// A column and no `--set` default: the cell must visibly hold something.
    Column(usize),
    /// A `--set` default (with or without a column): a blank cell takes the default, so the field is always given.
    Always,
}

/// The identifier columns of the one kind a table's rows can be read as.
#[derive(Debug, Clone)]
enum Layout {
    Otaa {
        dev_eui: usize,
        app_key: usize,
        join_eui: Option<usize>,
        nwk_key: Option<usize>,
        /// Session columns, which must be blank (filled, the full check says they are ignored).
        session: Vec<usize>,
    },
    Abp {
        dev_eui: usize,
        dev_addr: usize,
        nwk_s_key: usize,
        app_s_key: usize,
        /// LoRaWAN 1.1 session keys: blank or a key.
        optional_keys: Vec<usize>,
    },
    Cellular {
        imei: Option<usize>,
        iccid: Option<usize>,
        imsi: Option<usize>,
    },
}

/// How the mapped columns of a table are read on the fast path. Built only when every row can be of one kind from
/// its columns alone; [`FastPlan::new`] returns `None` otherwise and every row takes the full path.
#[derive(Debug, Clone)]
pub struct FastPlan {
    width: usize,
    kind: Kind,
    layout: Layout,
    kind_column: Option<usize>,
    references: Vec<Reference>,
}

/// What a certainly valid row is known by, for duplicate detection and its JSON line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastId {
    /// A LoRaWAN row's DevEUI.
    DevEui(u64),
    /// A cellular row: the IMEI's and the ICCID's duplicate keys (as `Imei::to_u64` and
    /// `SimId::telecom_iccid_u64` give them) and the row's identifier as text (the IMEI, else the ICCID).
    Cellular {
        imei: Option<u64>,
        iccid: Option<u64>,
        id: [u8; 20],
        id_len: u8,
    },
}

impl FastId {
    /// The identifier as the JSON line shows it.
    pub fn write_id(&self, out: &mut Vec<u8>) {
        match self {
            FastId::DevEui(eui) => {
                use std::io::Write;
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{eui:016X}");
            }
            FastId::Cellular { id, id_len, .. } => {
                out.extend_from_slice(&id[..usize::from(*id_len)])
            }
        }
    }
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

/// Fields whose column makes a row of another kind than the plan's, or asks for a reading the fast path does not do.
fn foreign(kind: Kind) -> &'static [Field] {
    match kind {
        Kind::Otaa => &[Field::OnboardingTag],
        Kind::Abp => &[
            Field::AppKey,
            Field::NwkKey,
            Field::OnboardingTag,
            Field::Class,
            Field::DataRate,
            Field::Frequency,
        ],
        Kind::Cellular => &[
            Field::DevEui,
            Field::AppKey,
            Field::NwkKey,
            Field::DevAddr,
            Field::NwkSKey,
            Field::AppSKey,
            Field::OnboardingTag,
            Field::Sim,
            Field::Eid,
        ],
        Kind::Multicast => &[],
    }
}

impl FastPlan {
    /// The plan for a table with these columns, `--set` defaults and `--kind`, when its rows can take the fast path.
    pub fn new(
        columns: &[Column],
        defaults: &[(Field, String)],
        forced_kind: Option<Kind>,
    ) -> Option<FastPlan> {
        if defaults.iter().any(|(f, _)| !PLAIN_DEFAULTS.contains(f)) {
            return None;
        }
        // Values the fast path does not check (a latitude's range, a motion indicator's name, tags and domains) need
        // the full path.
        const CHECKED_ELSEWHERE: [Field; 5] = [
            Field::Latitude,
            Field::Longitude,
            Field::Motion,
            Field::Tags,
            Field::Domains,
        ];
        if columns
            .iter()
            .any(|c| c.field.is_some_and(|f| CHECKED_ELSEWHERE.contains(&f)))
        {
            return None;
        }
        // Two columns of one field are merged row by row in the full path.
        let mapped: Vec<Field> = columns.iter().filter_map(|c| c.field).collect();
        if mapped
            .iter()
            .enumerate()
            .any(|(i, f)| mapped[..i].contains(f))
        {
            return None;
        }
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
        // The kind every row has from its columns, as the checker tells it (an AppKey first, then a session).
        let kind = if column_of(Field::AppKey).is_some() {
            Kind::Otaa
        } else if column_of(Field::DevAddr).is_some() {
            Kind::Abp
        } else {
            Kind::Cellular
        };
        if forced_kind.is_some_and(|k| k != kind) {
            return None;
        }
        if foreign(kind).iter().any(|&f| column_of(f).is_some()) {
            return None;
        }
        // Cellular rows with no context column and no default are counted for a file note, by the full path.
        if kind == Kind::Cellular
            && column_of(Field::Context).is_none()
            && !has_default(Field::Context)
        {
            return None;
        }
        let layout = match kind {
            Kind::Otaa => Layout::Otaa {
                dev_eui: column_of(Field::DevEui)?,
                app_key: column_of(Field::AppKey)?,
                join_eui: column_of(Field::JoinEui),
                nwk_key: column_of(Field::NwkKey),
                session: [
                    Field::DevAddr,
                    Field::NwkSKey,
                    Field::AppSKey,
                    Field::SNwkSIntKey,
                    Field::NwkSEncKey,
                ]
                .into_iter()
                .filter_map(column_of)
                .collect(),
            },
            Kind::Abp => Layout::Abp {
                dev_eui: column_of(Field::DevEui)?,
                dev_addr: column_of(Field::DevAddr)?,
                nwk_s_key: column_of(Field::NwkSKey)?,
                app_s_key: column_of(Field::AppSKey)?,
                optional_keys: [Field::SNwkSIntKey, Field::NwkSEncKey]
                    .into_iter()
                    .filter_map(column_of)
                    .collect(),
            },
            Kind::Cellular => {
                let (imei, iccid) = (column_of(Field::Imei), column_of(Field::Iccid));
                if imei.is_none() && iccid.is_none() {
                    return None;
                }
                Layout::Cellular {
                    imei,
                    iccid,
                    imsi: column_of(Field::Imsi),
                }
            }
            Kind::Multicast => return None,
        };
        let mut references = vec![reference(Field::Model)?, reference(Field::Connection)?];
        if kind == Kind::Cellular {
            references.push(reference(Field::Plan)?);
        }
        Some(FastPlan {
            width: columns.len(),
            kind,
            layout,
            kind_column: column_of(Field::Kind),
            references,
        })
    }

    /// The kind of every row this plan passes.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The row's identifiers when the row is certainly valid (duplicates aside: the caller checks those); `None`
    /// when the full check must decide.
    pub fn valid(&self, record: &csv::ByteRecord) -> Option<FastId> {
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
        if let Some(kind) = self.kind_column {
            let kind = cell(kind);
            if !kind.is_empty() && !kind.eq_ignore_ascii_case(self.kind.as_str().as_bytes()) {
                return None;
            }
        }
        for reference in &self.references {
            if let Reference::Column(i) = *reference
                && !cell(i).iter().any(u8::is_ascii_graphic)
            {
                return None;
            }
        }
        let blank_or = |i: Option<usize>, check: fn(&[u8]) -> bool| {
            i.is_none_or(|i| {
                let c = cell(i);
                c.is_empty() || check(c)
            })
        };
        match &self.layout {
            Layout::Otaa {
                dev_eui,
                app_key,
                join_eui,
                nwk_key,
                session,
            } => {
                let dev_eui = hex_u64(cell(*dev_eui))?;
                hex_u128(cell(*app_key))?;
                let ok = blank_or(*join_eui, |c| hex_u64(c).is_some())
                    && blank_or(*nwk_key, |c| hex_u128(c).is_some())
                    && session.iter().all(|&i| cell(i).is_empty());
                ok.then_some(FastId::DevEui(dev_eui))
            }
            Layout::Abp {
                dev_eui,
                dev_addr,
                nwk_s_key,
                app_s_key,
                optional_keys,
            } => {
                let dev_eui = hex_u64(cell(*dev_eui))?;
                hex_u32(cell(*dev_addr).try_into().ok()?)?;
                hex_u128(cell(*nwk_s_key))?;
                hex_u128(cell(*app_s_key))?;
                let ok = optional_keys
                    .iter()
                    .all(|&i| blank_or(Some(i), |c| hex_u128(c).is_some()));
                ok.then_some(FastId::DevEui(dev_eui))
            }
            Layout::Cellular { imei, iccid, imsi } => {
                let imei = imei.map(cell).filter(|c| !c.is_empty());
                let iccid = iccid.map(cell).filter(|c| !c.is_empty());
                let imei_key = match imei {
                    Some(c) => Some(imei_key(c)?),
                    None => None,
                };
                let iccid_key = match iccid {
                    Some(c) => Some(iccid_key(c)?),
                    None => None,
                };
                if !blank_or(*imsi, |c| {
                    (6..=15).contains(&c.len()) && c.iter().all(u8::is_ascii_digit)
                }) {
                    return None;
                }
                let shown = imei.or(iccid)?;
                let mut id = [0u8; 20];
                id[..shown.len()].copy_from_slice(shown);
                Some(FastId::Cellular {
                    imei: imei_key,
                    iccid: iccid_key,
                    id,
                    id_len: shown.len() as u8,
                })
            }
        }
    }
}

/// Exactly 15 digits with a valid Luhn digit: the IMEI's duplicate key (its 14-digit body).
fn imei_key(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != 15 {
        return None;
    }
    luhn_digits(bytes, 0..14)
}

/// Exactly 19 or 20 digits starting with `89`, with a valid Luhn digit: the ICCID's duplicate key, as
/// [`telecom_iccid_key`] gives it (the body between `89` and the check digit, its length in the top bit). Other
/// ICCIDs (hex letters, other ranges) take the full path.
fn iccid_key(bytes: &[u8]) -> Option<u64> {
    if !(19..=20).contains(&bytes.len()) || !bytes.starts_with(b"89") {
        return None;
    }
    let body = luhn_digits(bytes, 2..bytes.len() - 1)?;
    Some(body | (u64::from(bytes.len() == 20) << 63))
}

/// When every byte is a digit and the Luhn sum is a multiple of ten ([`super::ids::luhn_valid`]), the number the
/// digits at `value` spell (this runs twice per cellular row). The digits are checked and summed eight bytes at a
/// time, right-aligned in 24 bytes after `0`s (which change neither), so that every other byte from the right, the
/// doubled ones, sits at the same place of every word.
fn luhn_digits(bytes: &[u8], value: std::ops::Range<usize>) -> Option<u64> {
    const WIDTH: usize = 24;
    // The low byte of every 16-bit lane: an even index of the buffer, an odd place from its right end.
    const DOUBLED: u64 = 0x00FF_00FF_00FF_00FF;
    if bytes.len() > WIDTH {
        return None;
    }
    let mut buf = [b'0'; WIDTH];
    buf[WIDTH - bytes.len()..].copy_from_slice(bytes);
    let mut sum = 0u64;
    for word in buf.chunks_exact(8) {
        let x = u64::from_le_bytes(word.try_into().ok()?);
        if x & HIGH != 0 || in_range(x, b'0', b'9') != HIGH {
            return None;
        }
        let digits = x - 0x30 * ONES;
        // A doubled digit of 5 or more loses 9 (its two digits summed); no byte borrows, as 2d >= 10 there.
        let doubled = digits * 2 - (in_range(x, b'5', b'9') >> 7) * 9;
        let lanes = (doubled & DOUBLED) | (digits & !DOUBLED);
        // Eight bytes of at most 9: their sum lands in the top byte.
        sum += lanes.wrapping_mul(ONES) >> 56;
    }
    sum.is_multiple_of(10).then(|| {
        bytes[value]
            .iter()
            .fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'))
    })
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
    fn luhn_and_keys_agree_with_the_parser() {
        for n in (0..200_000u64)
            .step_by(7)
            .chain([490154203237518, 89331503200000000])
        {
            let text = n.to_string();
            let expected = super::super::ids::luhn_valid(&text);
            assert_eq!(
                luhn_digits(text.as_bytes(), 0..0).is_some(),
                expected,
                "{text}"
            );
        }
        assert_eq!(luhn_digits(b"49015420323751a", 0..0), None);
        assert_eq!(luhn_digits(b"4901542032375 8", 0..0), None);
        assert_eq!(imei_key(b"490154203237518"), Some(49015420323751));
        for iccid in [
            "8933150320000000009",
            "89331503200000000004",
            "89860318740202025318",
        ] {
            let valid = super::super::ids::luhn_valid(iccid);
            let expected = valid.then(|| telecom_iccid_key(iccid.as_bytes())).flatten();
            assert_eq!(iccid_key(iccid.as_bytes()), expected, "{iccid}");
        }
        let mut luhn_valid_iccids = 0;
        for i in 0..2000u64 {
            for iccid in [format!("8933150320{i:09}"), format!("8933150320{i:010}")] {
                let valid = super::super::ids::luhn_valid(&iccid);
                luhn_valid_iccids += usize::from(valid);
                let expected = valid.then(|| telecom_iccid_key(iccid.as_bytes())).flatten();
                assert_eq!(iccid_key(iccid.as_bytes()), expected, "{iccid}");
            }
        }
        assert!(luhn_valid_iccids > 300);
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
        assert_eq!(plan.valid(&ok), Some(FastId::DevEui(0x70B3_D5E7_5F60_0001)));
        for doubtful in [
            record(&["70B3D5E75F60001", KEY, "", "m", "c"]),
            record(&["70B3D5E75F600001", &KEY[1..], "", "m", "c"]),
            record(&["70B3D5E75F600001", KEY, "x", "m", "c"]),
            record(&["70B3D5E75F600001", KEY, "", " ", "c"]),
            record(&["70B3D5E75F600001", KEY, "", "m", "\r"]),
            record(&["70B3D5E75F600001", KEY, "", "m"]),
            record(&["0x70B3D5E75F6001", KEY, "", "m", "c"]),
        ] {
            assert_eq!(plan.valid(&doubtful), None, "{doubtful:?}");
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
            plan.valid(&record(&["70B3D5E75F600001", KEY, "", "m"]))
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
        assert!(plan.valid(&row("")).is_some());
        assert!(plan.valid(&row("OTAA")).is_some());
        assert!(plan.valid(&row("abp")).is_none());
        assert!(plan.valid(&row("CREATE_OTAA")).is_none());
    }
}
