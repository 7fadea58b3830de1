//! ThingPark's own positional import CSV: detection, the per-action column layouts of the OpenAPI
//! `/subscriptions/mine/devices/import` description, and their synthetic column names.

use super::header::Plan;
use super::{Cell, Column, Field};
use std::sync::Arc;

/// The processing directives of column A that create something, and `DELETE`.
const ACTIONS: [&str; 5] = [
    "CREATE_OTAA",
    "CREATE_ABP",
    "CREATE_CELLULAR",
    "CREATE",
    "DELETE",
];

/// Columns are letters A, B, …, AA: 27 of them.
const WIDTH: usize = 27;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Otaa,
    Abp,
    Cellular,
}

/// (column index, field, documented name) per layout. Column A is the action, mapped to `Field::Kind`.
fn layout(l: Layout) -> &'static [(usize, Field, &'static str)] {
    match l {
        Layout::Otaa => &[
            (0, Field::Kind, "Action"),
            (1, Field::DevEui, "DevEUI"),
            (2, Field::DevAddr, "DevAddr"),
            (3, Field::Model, "Device profile ID"),
            (4, Field::JoinEui, "JoinEUI"),
            (5, Field::AppKey, "AppKey"),
            (7, Field::Plan, "Network subscription"),
            (10, Field::Name, "Device name"),
            (19, Field::Connection, "Application server IDs"),
            (20, Field::NwkKey, "NwkKey"),
        ],
        Layout::Abp => &[
            (0, Field::Kind, "Action"),
            (1, Field::DevEui, "DevEUI"),
            (2, Field::DevAddr, "DevAddr"),
            (3, Field::Model, "Device profile ID"),
            (4, Field::NwkSKey, "FNwkSIntKey/NwkSKey"),
            (5, Field::AppSKey, "AppSKey"),
            (7, Field::Plan, "Network subscription"),
            (10, Field::Name, "Device name"),
            (19, Field::Connection, "Application server IDs"),
            (20, Field::SNwkSIntKey, "SNwkSIntKey"),
            (21, Field::NwkSEncKey, "NwkSEncKey"),
        ],
        // Cellular rows have no application server column: their AS routing profile (I) is the connection.
        Layout::Cellular => &[
            (0, Field::Kind, "Action"),
            (1, Field::Imei, "IMEI"),
            (2, Field::Imsi, "IMSI"),
            (3, Field::Model, "Device profile ID"),
            (7, Field::Plan, "Network subscription ID"),
            (8, Field::Connection, "AS routing profile ID"),
            (10, Field::Name, "Device name"),
        ],
    }
}

/// `A`, `B`, …, `Z`, `AA`.
pub(crate) fn letter(index: usize) -> String {
    if index < 26 {
        ((b'A' + index as u8) as char).to_string()
    } else {
        format!("{}{}", letter(index / 26 - 1), letter(index % 26))
    }
}

/// True when a row's first cell is one of ThingPark's processing directives.
pub(crate) fn is_action(first_cell: &str) -> bool {
    ACTIONS.contains(&first_cell.trim())
}

/// Decides from the sample: the first line that is not a `#` comment starts with an action.
pub(crate) fn detect(sample: &str, delimiter: u8) -> bool {
    let Some(line) = sample
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    else {
        return false;
    };
    let first = line.split(delimiter as char).next().unwrap_or("");
    is_action(first.trim_matches('"'))
}

/// The table's columns: where all layouts agree the field is given, else only the names.
pub(crate) fn columns() -> Vec<Column> {
    (0..WIDTH)
        .map(|index| {
            let entries: Vec<(Field, &str)> = [Layout::Otaa, Layout::Abp, Layout::Cellular]
                .into_iter()
                .filter_map(|l| {
                    layout(l)
                        .iter()
                        .find(|(i, _, _)| *i == index)
                        .map(|(_, f, n)| (*f, *n))
                })
                .collect();
            let mut names: Vec<&str> = entries.iter().map(|(_, n)| *n).collect();
            names.dedup();
            let field = match entries.first() {
                Some((f, _)) if entries.len() == 3 && entries.iter().all(|(g, _)| g == f) => {
                    Some(*f)
                }
                _ => None,
            };
            let header = if names.is_empty() {
                letter(index)
            } else {
                format!("{} ({})", letter(index), names.join(" / "))
            };
            Column {
                index,
                header,
                field,
            }
        })
        .collect()
}

/// The mapping plans of the three layouts.
#[derive(Debug, Clone)]
pub(crate) struct Plans {
    otaa: Plan,
    abp: Plan,
    cellular: Plan,
}

impl Plans {
    pub(crate) fn new(defaults: &[(Field, String)]) -> Plans {
        let plan = |l| {
            Plan::from_slots(
                layout(l)
                    .iter()
                    .map(|(i, f, n)| (*i, *f, Arc::from(format!("{} ({n})", letter(*i)))))
                    .collect(),
                defaults,
            )
        };
        Plans {
            otaa: plan(Layout::Otaa),
            abp: plan(Layout::Abp),
            cellular: plan(Layout::Cellular),
        }
    }

    /// The plan a row follows, by its action. `CREATE` and an empty action mean ABP, as ThingPark reads them.
    pub(crate) fn for_row(&self, cells: &[Cell]) -> &Plan {
        let action = match cells.first() {
            Some(Cell::Text(s)) => s.trim(),
            _ => "",
        };
        match action {
            "CREATE_OTAA" => &self.otaa,
            "CREATE_CELLULAR" => &self.cellular,
            _ => &self.abp,
        }
    }
}

/// The kind cell as the device stage reads it: `CREATE` and an empty action are ABP creations.
pub(crate) fn normalise_action(cell: Cell) -> Cell {
    match &cell {
        Cell::Empty => Cell::Text("CREATE_ABP".into()),
        Cell::Text(s) if s.trim().is_empty() || s.trim() == "CREATE" => {
            Cell::Text("CREATE_ABP".into())
        }
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters() {
        assert_eq!(letter(0), "A");
        assert_eq!(letter(25), "Z");
        assert_eq!(letter(26), "AA");
    }

    #[test]
    fn detection_skips_comments() {
        assert!(detect("# comment, with commas\nCREATE_OTAA,0011\n", b','));
        assert!(detect("\"CREATE_ABP\";1\n", b';'));
        assert!(!detect("DevEUI,AppKey\nCREATE_OTAA,1\n", b','));
        assert!(!detect("# only comments\n", b','));
    }

    #[test]
    fn columns_name_every_layout() {
        let columns = columns();
        assert_eq!(columns.len(), 27);
        assert_eq!(columns[0].header, "A (Action)");
        assert_eq!(columns[0].field, Some(Field::Kind));
        assert_eq!(columns[1].header, "B (DevEUI / IMEI)");
        assert_eq!(columns[1].field, None);
        assert_eq!(columns[3].field, Some(Field::Model));
        assert_eq!(columns[6].header, "G");
    }
}
