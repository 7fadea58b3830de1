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
];

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
pub(crate) fn field_of(header: &str, mapping: &[(String, Field)]) -> Option<Field> {
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

/// The field named by `--set` or a mapping file: its canonical name, case-insensitive.
pub(crate) fn field_named(name: &str) -> Option<Field> {
    let name = name.trim();
    Field::ALL
        .into_iter()
        .find(|f| f.name().eq_ignore_ascii_case(name))
}

pub(crate) fn field_names() -> String {
    Field::ALL.map(Field::name).join(", ")
}

/// Columns from a header row, when at least one of its cells names a field.
pub(crate) fn columns_of(cells: &[Cell], mapping: &[(String, Field)]) -> Option<Vec<Column>> {
    let columns: Vec<Column> = cells
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
    columns.iter().any(|c| c.field.is_some()).then_some(columns)
}

/// One mapped column: where its cell is, the field and column name it gives, and its `--set` default.
#[derive(Debug, Clone)]
struct Slot {
    index: usize,
    field: Field,
    column: Arc<str>,
    default: Option<(Arc<str>, Cell)>,
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
    /// The first column mapping to a field wins.
    pub(crate) fn new(columns: &[Column], defaults: &[(Field, String)]) -> Plan {
        let mut slots: Vec<(usize, Field, Arc<str>)> = Vec::new();
        for column in columns {
            if let Some(field) = column.field
                && !slots.iter().any(|(_, f, _)| *f == field)
            {
                slots.push((column.index, field, Arc::from(column.header.as_str())));
            }
        }
        Plan::from_slots(slots, defaults)
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
            })
            .collect();
        Plan { slots, extra }
    }

    /// Builds a row from its cells: `take` gives a cell by index (cloned or moved).
    fn apply(&self, row: u64, mut take: impl FnMut(usize) -> Cell) -> MappedRow {
        let mut values = Vec::with_capacity(self.slots.len() + self.extra.len());
        for slot in &self.slots {
            let cell = take(slot.index);
            let value = match &slot.default {
                Some((column, default)) if cell.is_blank() => FieldValue {
                    field: slot.field,
                    column: column.clone(),
                    cell: default.clone(),
                },
                _ => FieldValue {
                    field: slot.field,
                    column: slot.column.clone(),
                    cell,
                },
            };
            values.push(value);
        }
        values.extend(self.extra.iter().cloned());
        MappedRow { row, values }
    }
}

/// Maps a borrowed record.
pub(crate) fn map_ref(plan: &Plan, record: &Record) -> MappedRow {
    plan.apply(record.row, |i| {
        record.cells.get(i).cloned().unwrap_or(Cell::Empty)
    })
}

/// Maps an owned record, moving its cells.
pub(crate) fn map_owned(plan: &Plan, mut record: Record) -> MappedRow {
    let row = record.row;
    plan.apply(row, |i| {
        record
            .cells
            .get_mut(i)
            .map(|c| std::mem::replace(c, Cell::Empty))
            .unwrap_or(Cell::Empty)
    })
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
        let cells: Vec<Cell> = ["Serial-No", "AppKey"]
            .map(|s| Cell::Text(s.into()))
            .to_vec();
        let mapping = vec![
            ("serial no".to_string(), Field::DevEui),
            ("Device name".to_string(), Field::Name),
        ];
        let columns = columns_of(&cells, &mapping).unwrap();
        assert_eq!(unmatched(&columns, &mapping), ["Device name"]);
    }

    #[test]
    fn first_column_of_a_field_wins_and_defaults_fill_blanks() {
        let cells: Vec<Cell> = ["EUI", "DevEUI", "Model", "Other"]
            .map(|s| Cell::Text(s.into()))
            .to_vec();
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
        let mapped = map_ref(&plan, &record);
        assert_eq!(mapped, map_owned(&plan, record));
        assert_eq!(mapped.row, 7);
        assert_eq!(mapped.values.len(), 3);
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
        let cells: Vec<Cell> = ["Shipment 42", "", "2024-01-01"]
            .map(|s| Cell::Text(s.into()))
            .to_vec();
        assert!(columns_of(&cells, &[]).is_none());
    }
}
