//! Header names to fields: the built-in aliases, `--mapping` pairs, and the precomputed plan `Table::map` follows.

use super::{Cell, Column, Field, FieldValue, MappedRow, Record};
use std::sync::Arc;

/// Built-in aliases, in normalised form (lower-case letters and digits only).
const ALIASES: &[(&str, Field)] = &[
    ("deveui", Field::DevEui),
    ("eui", Field::DevEui),
    ("deviceeui", Field::DevEui),
    ("enddeviceeui", Field::DevEui),
    ("joineui", Field::JoinEui),
    ("appeui", Field::JoinEui),
    ("applicationeui", Field::JoinEui),
    ("appkey", Field::AppKey),
    ("applicationkey", Field::AppKey),
    ("nwkkey", Field::NwkKey),
    ("networkkey", Field::NwkKey),
    ("devaddr", Field::DevAddr),
    ("devaddress", Field::DevAddr),
    ("deviceaddress", Field::DevAddr),
    ("nwkskey", Field::NwkSKey),
    ("networksessionkey", Field::NwkSKey),
    // LoRaWAN 1.1 renamed the 1.0 NwkSKey to FNwkSIntKey; ThingPark's import column E is "FNwkSIntKey/NwkSKey".
    ("fnwksintkey", Field::NwkSKey),
    ("snwksintkey", Field::SNwkSIntKey),
    ("nwksenckey", Field::NwkSEncKey),
    ("appskey", Field::AppSKey),
    ("applicationsessionkey", Field::AppSKey),
    ("imei", Field::Imei),
    ("sim", Field::Sim),
    ("simid", Field::Sim),
    ("simidentifier", Field::Sim),
    ("iccid", Field::Iccid),
    ("eid", Field::Eid),
    ("imsi", Field::Imsi),
    ("name", Field::Name),
    ("devicename", Field::Name),
    // The Things Stack's device id is the device's name there.
    ("deviceid", Field::Name),
    ("model", Field::Model),
    ("devicemodel", Field::Model),
    ("deviceprofile", Field::Model),
    ("deviceprofileid", Field::Model),
    ("connection", Field::Connection),
    ("connectionid", Field::Connection),
    ("applicationserver", Field::Connection),
    ("applicationserverid", Field::Connection),
    ("as", Field::Connection),
    ("asid", Field::Connection),
    // AWS IoT Core for LoRaWAN: where the uplinks go.
    ("destinationname", Field::Connection),
    ("connectivityplan", Field::Plan),
    ("connectivityplanid", Field::Plan),
    ("plan", Field::Plan),
    ("networksubscription", Field::Plan),
    ("networksubscriptionid", Field::Plan),
    ("networkcontext", Field::Context),
    ("cellularnetworkcontext", Field::Context),
    ("context", Field::Context),
    ("kind", Field::Kind),
    ("activation", Field::Kind),
    ("activationmode", Field::Kind),
    ("class", Field::Class),
    ("multicastclass", Field::Class),
    ("datarate", Field::DataRate),
    ("downlinkdatarate", Field::DataRate),
    ("frequency", Field::Frequency),
    ("downlinkfrequency", Field::Frequency),
    ("tags", Field::Tags),
    ("basestationtags", Field::Tags),
    ("devicetags", Field::Tags),
    ("domains", Field::Domains),
    ("domain", Field::Domains),
    ("devicedomains", Field::Domains),
    // The optional device fields of ThingPark's import columns L, M, N and Q (`adminLat`, `adminLon`,
    // `customerAdminData`, `motionIndicator` in the REST body).
    ("latitude", Field::Latitude),
    ("lat", Field::Latitude),
    ("adminlat", Field::Latitude),
    ("longitude", Field::Longitude),
    ("lon", Field::Longitude),
    ("lng", Field::Longitude),
    ("adminlon", Field::Longitude),
    ("admininfo", Field::AdminInfo),
    ("otheradmininfo", Field::AdminInfo),
    ("customerdata", Field::AdminInfo),
    ("customeradmindata", Field::AdminInfo),
    ("motionindicator", Field::Motion),
    // Vendor key sheets, SIM exports and onboarding lists (issue 16). `DevEUI (hex)`, `Join EUI (hex string)` and
    // `App Key (hex)` need no entry: notes in brackets are dropped before the look-up.
    ("euid", Field::DevEui),
    ("qrcode", Field::OnboardingTag),
    ("qr", Field::OnboardingTag),
    ("onboardingtag", Field::OnboardingTag),
    ("sn", Field::SerialNumber),
    ("serial", Field::SerialNumber),
    ("serialno", Field::SerialNumber),
    ("serialnumber", Field::SerialNumber),
    ("pn", Field::PartNumber),
    ("partno", Field::PartNumber),
    ("partnumber", Field::PartNumber),
];

/// Fields a header may name as one of its words (`MAC Addr 1 DevEUI`): the identifiers but `SIM`, whose aliases do
/// not occur as ordinary words (`Date of activation` must not become a kind, nor `Frequency plan` a plan).
fn word_field(field: Field) -> bool {
    field.is_identifier() && field != Field::Sim
}

/// Lower-case letters and digits only: `Dev EUI (OTAA)` → `deveuiotaa`.
pub(crate) fn normalise(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The header without parenthesised notes: `Dev EUI (OTAA)` → `Dev EUI `.
fn without_notes(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let mut depth = 0usize;
    for c in header.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The field a header names: `--mapping` first, then the aliases, then the aliases without notes in brackets or a
/// `LoRa`/`LoRaWAN` prefix.
pub fn field_of(header: &str, mapping: &[(String, Field)]) -> Option<Field> {
    mapped(header, mapping).or_else(|| alias(header))
}

fn mapped(header: &str, mapping: &[(String, Field)]) -> Option<Field> {
    let key = normalise(header);
    if key.is_empty() {
        return None;
    }
    mapping
        .iter()
        .find(|(h, _)| normalise(h) == key)
        .map(|(_, f)| *f)
}

/// The `--mapping` headers that no column of the file has (matched as the mapping matches them).
pub(crate) fn unmatched<'a>(
    columns: &[super::Column],
    mapping: &'a [(String, Field)],
) -> Vec<&'a str> {
    mapping
        .iter()
        .map(|(h, _)| h.as_str())
        .filter(|h| {
            let key = normalise(h);
            !columns.iter().any(|c| normalise(&c.header) == key)
        })
        .collect()
}

fn alias(header: &str) -> Option<Field> {
    let key = normalise(header);
    let lookup = |k: &str| ALIASES.iter().find(|(a, _)| *a == k).map(|(_, f)| *f);
    if let Some(f) = lookup(&key) {
        return Some(f);
    }
    let bare = normalise(&without_notes(header));
    let bare = bare
        .strip_prefix("lorawan")
        .or_else(|| bare.strip_prefix("lora"))
        .unwrap_or(&bare);
    lookup(bare)
}

/// The one identifier field that a run of the header's words names (`MAC Addr 1 DevEUI` → DevEUI), if exactly one
/// field is named so.
fn field_in_words(header: &str) -> Option<Field> {
    let words: Vec<String> = without_notes(header)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut found: Option<Field> = None;
    for start in 0..words.len() {
        for end in start + 1..=words.len().min(start + 4) {
            let key = words[start..end].concat();
            let hit = ALIASES
                .iter()
                .find(|(a, f)| *a == key && word_field(*f))
                .map(|(_, f)| *f);
            match (hit, found) {
                (Some(f), Some(g)) if f != g => return None,
                (Some(f), _) => found = Some(f),
                _ => {}
            }
        }
    }
    found
}

/// The field named by `--set` or a mapping file: its canonical name, case-insensitive.
pub fn field_named(name: &str) -> Option<Field> {
    let name = name.trim();
    Field::ALL
        .into_iter()
        .find(|f| f.name().eq_ignore_ascii_case(name))
}

pub(crate) fn field_names() -> String {
    Field::ALL.map(Field::name).join(", ")
}

/// Columns from a header row, when at least one of its cells names a field.
///
/// A header is read whole first; a column no alias names may then name an identifier as one of its words, when no
/// other column names that field (the first such column wins). When no column names the device, a serial-number
/// column does.
pub(crate) fn columns_of(cells: &[Cell], mapping: &[(String, Field)]) -> Option<Vec<Column>> {
    let mut columns: Vec<Column> = cells
        .iter()
        .enumerate()
        .map(|(index, cell)| {
            let header = cell.display().trim().to_string();
            // Only text names a column by itself (an error cell `#NAME?` is not a `Name` header); a number, date or
            // error cell can still be named in --mapping.
            let field = match cell {
                Cell::Text(_) => field_of(&header, mapping),
                _ => mapped(&header, mapping),
            };
            Column {
                index,
                header,
                field,
            }
        })
        .collect();
    if !columns.iter().any(|c| c.field.is_some()) {
        return None;
    }
    for i in 0..columns.len() {
        if columns[i].field.is_some() || !matches!(cells[i], Cell::Text(_)) {
            continue;
        }
        if let Some(field) = field_in_words(&columns[i].header)
            && !columns.iter().any(|c| c.field == Some(field))
        {
            columns[i].field = Some(field);
        }
    }
    if !columns.iter().any(|c| c.field == Some(Field::Name))
        && let Some(serial) = columns
            .iter_mut()
            .find(|c| c.field == Some(Field::SerialNumber))
    {
        serial.field = Some(Field::Name);
    }
    Some(columns)
}

/// Columns for a file without a header row, from `--columns` (`None` skips a column); each is named by its field.
pub(crate) fn columns_given(fields: &[Option<Field>]) -> Vec<Column> {
    fields
        .iter()
        .enumerate()
        .map(|(index, field)| Column {
            index,
            header: field.map(Field::name).unwrap_or_default().to_string(),
            field: *field,
        })
        .collect()
}

/// One mapped column: where its cell is, the field and column name it gives, and its `--set` default.
#[derive(Debug, Clone)]
struct Slot {
    index: usize,
    field: Field,
    column: Arc<str>,
    default: Option<(Arc<str>, Cell)>,
    /// Later columns that name the same field: read when this one is blank, compared when both are filled.
    others: Vec<(usize, Arc<str>)>,
}

/// One way of reading a row's cells as fields, with the `--set` defaults folded in: computed once per table (or per
/// ThingPark action) so that mapping a row is a few moves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    slots: Vec<Slot>,
    /// Defaults for fields no column gives.
    extra: Vec<FieldValue>,
}

impl Plan {
    /// The first column mapping to a field gives it; the others of that field fill in where it is blank.
    pub(crate) fn new(columns: &[Column], defaults: &[(Field, String)]) -> Plan {
        let mut slots: Vec<(usize, Field, Arc<str>)> = Vec::new();
        let mut others: Vec<(Field, usize, Arc<str>)> = Vec::new();
        for column in columns {
            if let Some(field) = column.field {
                let name = Arc::from(column.header.as_str());
                if slots.iter().any(|(_, f, _)| *f == field) {
                    others.push((field, column.index, name));
                } else {
                    slots.push((column.index, field, name));
                }
            }
        }
        let mut plan = Plan::from_slots(slots, defaults);
        for slot in &mut plan.slots {
            slot.others = others
                .iter()
                .filter(|(f, _, _)| *f == slot.field)
                .map(|(_, i, name)| (*i, name.clone()))
                .collect();
        }
        plan
    }

    pub(crate) fn from_slots(
        slots: Vec<(usize, Field, Arc<str>)>,
        defaults: &[(Field, String)],
    ) -> Plan {
        // The last `--set` of a field wins, as with most command lines.
        let default_of = |field: Field| {
            defaults
                .iter()
                .rev()
                .find(|(f, _)| *f == field)
                .map(|(_, v)| {
                    (
                        Arc::<str>::from(format!("--set {}", field.name())),
                        Cell::Text(v.clone()),
                    )
                })
        };
        let mut extra: Vec<FieldValue> = Vec::new();
        for (field, _) in defaults {
            if !slots.iter().any(|(_, f, _)| f == field) && !extra.iter().any(|v| v.field == *field)
            {
                let (column, cell) = default_of(*field).expect("a default of this field exists");
                extra.push(FieldValue {
                    field: *field,
                    column,
                    cell,
                });
            }
        }
        let slots = slots
            .into_iter()
            .map(|(index, field, column)| Slot {
                index,
                field,
                column,
                default: default_of(field),
                others: Vec::new(),
            })
            .collect();
        Plan { slots, extra }
    }

    /// Builds a row from a record, moving its cells. Of the columns of one field, the first filled one gives the
    /// value; another filled one that says something else follows it as a second value of the field, which the row
    /// check reports as a conflict naming both columns.
    pub(crate) fn map(&self, mut record: Record) -> MappedRow {
        let row = record.row;
        let mut take = |i: usize| {
            let cell = record.cells.get_mut(i);
            cell.map_or(Cell::Empty, |c| std::mem::replace(c, Cell::Empty))
        };
        let mut values = Vec::with_capacity(self.slots.len() + self.extra.len());
        let mut conflicts = Vec::new();
        for slot in &self.slots {
            let mut cell = take(slot.index);
            let mut column = slot.column.clone();
            for (index, name) in &slot.others {
                let other = take(*index);
                if other.is_blank() {
                    continue;
                }
                if cell.is_blank() {
                    cell = other;
                    column = name.clone();
                } else if !same_value(slot.field, &cell, &other) {
                    conflicts.push(FieldValue {
                        field: slot.field,
                        column: name.clone(),
                        cell: other,
                    });
                }
            }
            let value = match &slot.default {
                Some((column, default)) if cell.is_blank() => FieldValue {
                    field: slot.field,
                    column: column.clone(),
                    cell: default.clone(),
                },
                _ => FieldValue {
                    field: slot.field,
                    column,
                    cell,
                },
            };
            values.push(value);
        }
        values.extend(self.extra.iter().cloned());
        values.extend(conflicts);
        MappedRow { row, values }
    }
}

/// True when two filled cells of one field say the same thing: identifiers compared as their parsers read them
/// (`70-b3-…` is `70B3…`), other text trimmed.
fn same_value(field: Field, a: &Cell, b: &Cell) -> bool {
    let (a, b) = (a.display(), b.display());
    if field.is_identifier() {
        crate::device::ids::normalise(&a) == crate::device::ids::normalise(&b)
    } else {
        a.trim() == b.trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_headers_map() {
        let cases = [
            ("DevEUI", Field::DevEui),
            ("dev_eui", Field::DevEui),
            ("DevEui", Field::DevEui),
            ("Dev EUI (OTAA)", Field::DevEui),
            ("EUI", Field::DevEui),
            ("deveui", Field::DevEui),
            ("JoinEUI", Field::JoinEui),
            ("AppEUI", Field::JoinEui),
            ("app_eui", Field::JoinEui),
            ("join_eui", Field::JoinEui),
            ("AppKey", Field::AppKey),
            ("Lora App Key (OTAA)", Field::AppKey),
            ("app_key", Field::AppKey),
            ("NwkKey", Field::NwkKey),
            ("DevAddr", Field::DevAddr),
            ("dev_addr", Field::DevAddr),
            ("NwkSKey", Field::NwkSKey),
            ("nwk_s_key", Field::NwkSKey),
            ("f_nwk_s_int_key", Field::NwkSKey),
            ("FNwkSIntKey", Field::NwkSKey),
            ("SNwkSIntKey", Field::SNwkSIntKey),
            ("NwkSEncKey", Field::NwkSEncKey),
            ("AppSKey", Field::AppSKey),
            ("app_s_key", Field::AppSKey),
            ("IMEI", Field::Imei),
            ("ICCID", Field::Iccid),
            (" ICCID", Field::Iccid),
            ("SIM", Field::Sim),
            ("SIM ID", Field::Sim),
            ("SIM identifier", Field::Sim),
            ("EID", Field::Eid),
            ("IMSI", Field::Imsi),
            ("Name", Field::Name),
            ("Device name", Field::Name),
            ("device_id", Field::Name),
            ("Model", Field::Model),
            ("Device model", Field::Model),
            ("Device profile", Field::Model),
            ("DeviceProfileId", Field::Model),
            ("Connection", Field::Connection),
            ("Application server", Field::Connection),
            ("AS", Field::Connection),
            ("Connection ID", Field::Connection),
            ("Connectivity plan", Field::Plan),
            ("Plan", Field::Plan),
            ("Network subscription", Field::Plan),
            ("Network context", Field::Context),
            ("Cellular network context", Field::Context),
            ("Context", Field::Context),
            ("Kind", Field::Kind),
            ("Activation", Field::Kind),
            ("Activation mode", Field::Kind),
            ("Class", Field::Class),
            ("Data rate", Field::DataRate),
            ("Downlink data rate", Field::DataRate),
            ("Frequency", Field::Frequency),
            ("Downlink frequency", Field::Frequency),
            ("Tags", Field::Tags),
            ("Base station tags", Field::Tags),
            ("Device tags", Field::Tags),
            ("Domains", Field::Domains),
            ("Domain", Field::Domains),
            ("Latitude", Field::Latitude),
            ("LAT", Field::Latitude),
            ("Longitude", Field::Longitude),
            ("Lon", Field::Longitude),
            ("LNG", Field::Longitude),
            ("Admin info", Field::AdminInfo),
            ("Customer data", Field::AdminInfo),
            ("Motion indicator", Field::Motion),
        ];
        for (header, field) in cases {
            assert_eq!(field_of(header, &[]), Some(field), "{header}");
        }
        for header in [
            "",
            "id",
            "description",
            "PROFILE",
            "frequency_plan_id",
            "extra0",
        ] {
            assert_eq!(field_of(header, &[]), None, "{header}");
        }
    }

    #[test]
    fn vendor_key_sheet_headers_map() {
        let cases = [
            ("EUID", Field::DevEui),
            ("Device EUI", Field::DevEui),
            ("DevEUI (hex)", Field::DevEui),
            ("Join EUI (hex string)", Field::JoinEui),
            ("App Key (hex)", Field::AppKey),
            ("QR code", Field::OnboardingTag),
            ("QR", Field::OnboardingTag),
            ("Onboarding tag", Field::OnboardingTag),
            ("sn", Field::SerialNumber),
            ("Serial", Field::SerialNumber),
            ("Serial No.", Field::SerialNumber),
            ("Serial number", Field::SerialNumber),
            ("pn", Field::PartNumber),
            ("Part No", Field::PartNumber),
            ("Part number", Field::PartNumber),
        ];
        for (header, field) in cases {
            assert_eq!(field_of(header, &[]), Some(field), "{header}");
        }
    }

    fn texts(cells: &[&str]) -> Vec<Cell> {
        cells.iter().map(|s| Cell::Text(s.to_string())).collect()
    }

    /// The field each header of a header row names.
    fn fields(headers: &[&str]) -> Vec<Option<Field>> {
        columns_of(&texts(headers), &[])
            .unwrap()
            .into_iter()
            .map(|c| c.field)
            .collect()
    }

    #[test]
    fn a_known_name_as_a_word_names_a_column_nothing_else_claims() {
        assert_eq!(
            fields(&[
                "MAC Addr 1 DevEUI",
                "AppKey",
                "Date of activation",
                "Frequency plan"
            ]),
            [Some(Field::DevEui), Some(Field::AppKey), None, None]
        );
        // A column that names the field itself wins; the worded one stays unmapped.
        assert_eq!(
            fields(&["Module DevEUI label", "DevEUI"]),
            [None, Some(Field::DevEui)]
        );
        // Two identifiers in one header name neither.
        assert_eq!(fields(&["IMEI/ICCID", "Name"]), [None, Some(Field::Name)]);
        assert_eq!(field_in_words("frequency_plan_id"), None);
    }

    #[test]
    fn a_serial_number_names_the_device_only_when_no_column_does() {
        assert_eq!(
            fields(&["DevEUI", "SN", "pn"]),
            [
                Some(Field::DevEui),
                Some(Field::Name),
                Some(Field::PartNumber)
            ]
        );
        assert_eq!(
            fields(&["DevEUI", "SN", "Name"]),
            [
                Some(Field::DevEui),
                Some(Field::SerialNumber),
                Some(Field::Name)
            ]
        );
    }

    #[test]
    fn the_first_filled_column_of_a_field_gives_it_and_a_different_one_is_kept_to_report() {
        let cells = texts(&["fNwkSIntKey", "NwkSKey", "DevEUI"]);
        let plan = Plan::new(&columns_of(&cells, &[]).unwrap(), &[]);
        let row = |a: &str, b: &str| {
            plan.map(Record {
                row: 2,
                cells: vec![Cell::Text(a.into()), Cell::Text(b.into()), Cell::Empty],
            })
        };
        let key = "7374757A3FDD092947CE2DE9321C6040";
        let filled = row("", key);
        let v = filled.get(Field::NwkSKey).unwrap();
        assert_eq!((&*v.column, v.cell.display()), ("NwkSKey", key.to_string()));
        assert_eq!(filled.conflicts().count(), 0);
        assert_eq!(row(key, &key.to_lowercase()).conflicts().count(), 0);
        let differ = row(key, "8D67B0D6359D11ACFC45AD4BB9CE2D4F");
        let (first, other) = differ.conflicts().next().unwrap();
        assert_eq!((&*first.column, &*other.column), ("fNwkSIntKey", "NwkSKey"));
    }

    #[test]
    fn mapping_beats_aliases() {
        let mapping = vec![
            ("Serial No".to_string(), Field::DevEui),
            ("Name".to_string(), Field::Model),
        ];
        assert_eq!(field_of("serial-no", &mapping), Some(Field::DevEui));
        assert_eq!(field_of("NAME", &mapping), Some(Field::Model));
    }

    #[test]
    fn mapping_headers_the_file_lacks_are_found() {
        let cells = texts(&["Serial-No", "AppKey"]);
        let mapping = vec![
            ("serial no".to_string(), Field::DevEui),
            ("Device name".to_string(), Field::Name),
        ];
        let columns = columns_of(&cells, &mapping).unwrap();
        assert_eq!(unmatched(&columns, &mapping), ["Device name"]);
    }

    #[test]
    fn first_column_of_a_field_wins_and_defaults_fill_blanks() {
        let cells = texts(&["EUI", "DevEUI", "Model", "Other"]);
        let columns = columns_of(&cells, &[]).unwrap();
        let plan = Plan::new(
            &columns,
            &[
                (Field::Model, "m0".into()),
                (Field::Model, "m1".into()),
                (Field::Connection, "c1".into()),
            ],
        );
        let record = Record {
            row: 7,
            cells: vec![
                Cell::Text("A".into()),
                Cell::Text("B".into()),
                Cell::Text(" ".into()),
            ],
        };
        let mapped = plan.map(record.clone());
        assert_eq!(mapped, plan.map(record));
        assert_eq!(mapped.row, 7);
        // DevEUI, model, connection, and the second DevEUI column's other value, kept to be reported.
        assert_eq!(mapped.values.len(), 4);
        assert_eq!(mapped.conflicts().count(), 1);
        let eui = mapped.get(Field::DevEui).unwrap();
        assert_eq!((&*eui.column, &eui.cell), ("EUI", &Cell::Text("A".into())));
        let model = mapped.get(Field::Model).unwrap();
        assert_eq!(
            (&*model.column, &model.cell),
            ("--set model", &Cell::Text("m1".into()))
        );
        assert_eq!(
            &*mapped.get(Field::Connection).unwrap().column,
            "--set connection"
        );
    }

    #[test]
    fn a_row_without_any_known_header_is_not_a_header() {
        let cells = texts(&["Shipment 42", "", "2024-01-01"]);
        assert!(columns_of(&cells, &[]).is_none());
    }
}
