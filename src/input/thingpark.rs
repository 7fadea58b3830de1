//! ThingPark's own positional import CSV: detection, the per-action column layouts of the OpenAPI
//! `/subscriptions/mine/devices/import` description, and their synthetic column names.

use super::header::Plan;
use super::{Cell, Column, Field};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

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

/// The order of [`Plans`]' entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Otaa,
    Abp,
    Cellular,
    /// `DELETE`: "In this case only the column B is requested".
    Delete,
}

/// Every column of a layout, A to AA: the definition as the OpenAPI file's `/devices/import` table gives it (short
/// enough to name a column in a message) and the field tpbulk reads it as. `None` with a definition: a column
/// tpbulk does not send (most are "Not applicable to ThingPark Enterprise", or hold encrypted key material or
/// platform settings the REST creation does not take); `n/a`: a column the table leaves undefined.
type Columns = [(&'static str, Option<Field>); WIDTH];

/// The OTAA table (OpenAPI file, lines 1430-1635).
const OTAA: Columns = [
    ("Action", Some(Field::Kind)),
    ("DevEUI", Some(Field::DevEui)),
    // "Not applicable to ThingPark Enterprise"; an OTAA device gets its DevAddr when it joins.
    ("DevAddr", None),
    ("Device profile ID", Some(Field::Model)),
    ("JoinEUI", Some(Field::JoinEui)),
    ("AppKey", Some(Field::AppKey)),
    ("ThingPark X configuration", None),
    ("Network subscription", Some(Field::Plan)),
    // The 7.3 device body has no routing-profile field: a device names its application servers (T) instead.
    ("AS routing profile ID", None),
    ("Maker ID", None),
    ("Device name", Some(Field::Name)),
    ("Admin LAT", Some(Field::Latitude)),
    ("Admin LON", Some(Field::Longitude)),
    ("Other admin info", Some(Field::AdminInfo)),
    ("Alarm 004 configuration", None),
    ("ADM verification code", None),
    ("Motion indicator", Some(Field::Motion)),
    ("HSM group ID", None),
    ("HSM Application Key version", None),
    ("Application server IDs", Some(Field::Connection)),
    ("NwkKey", Some(Field::NwkKey)),
    ("HSM Network Key version", None),
    ("n/a", None),
    ("HSM or TWA Exchange Key version", None),
    ("Owner Token", None),
    ("Protocol Identifier", None),
    ("Device state", None),
];

/// The ABP table (OpenAPI file, lines 1217-1423).
const ABP: Columns = [
    ("Action", Some(Field::Kind)),
    ("DevEUI", Some(Field::DevEui)),
    ("DevAddr", Some(Field::DevAddr)),
    ("Device profile ID", Some(Field::Model)),
    ("FNwkSIntKey/NwkSKey", Some(Field::NwkSKey)),
    ("AppSKeys", Some(Field::AppSKey)),
    ("ThingPark X configuration", None),
    ("Network subscription", Some(Field::Plan)),
    ("AS routing profile ID", None),
    ("Maker ID", None),
    ("Device name", Some(Field::Name)),
    ("Admin LAT", Some(Field::Latitude)),
    ("Admin LON", Some(Field::Longitude)),
    ("Other admin info", Some(Field::AdminInfo)),
    ("Alarm 004 configuration", None),
    ("ADM verification code", None),
    ("Motion indicator", Some(Field::Motion)),
    ("n/a", None),
    ("n/a", None),
    ("Application server IDs", Some(Field::Connection)),
    ("SNwkSIntKey", Some(Field::SNwkSIntKey)),
    ("NwkSEncKey", Some(Field::NwkSEncKey)),
    ("n/a", None),
    ("TWA Exchange Key version", None),
    ("n/a", None),
    ("Protocol Identifier", None),
    ("Device state", None),
];

/// The cellular table (OpenAPI file, lines 1640-1714). It has no application server column; its AS routing
/// profile (I) is what the tutorial calls the cellular network context (the same `mode`, `gtpTunnel`,
/// `messageRouting` as `AppServersRoutingProfileCellular`), sent as `networkContext.ID`.
const CELLULAR: Columns = [
    ("Action", Some(Field::Kind)),
    ("IMEI", Some(Field::Imei)),
    ("IMSI", Some(Field::Imsi)),
    ("Device profile ID", Some(Field::Model)),
    ("Ki", None),
    ("n/a", None),
    ("n/a", None),
    ("Network subscription ID", Some(Field::Plan)),
    ("AS routing profile ID", Some(Field::Context)),
    ("Maker ID", None),
    ("Device name", Some(Field::Name)),
    ("Admin LAT", Some(Field::Latitude)),
    ("Admin LON", Some(Field::Longitude)),
    ("Other admin info", Some(Field::AdminInfo)),
    ("Alarm 004 configuration", None),
    ("n/a", None),
    ("Motion indicator", Some(Field::Motion)),
    ("n/a", None),
    ("n/a", None),
    ("n/a", None),
    ("n/a", None),
    ("n/a", None),
    ("n/a", None),
    ("TWA Exchange Key version", None),
    ("n/a", None),
    ("n/a", None),
    ("n/a", None),
];

/// A `DELETE` row: the action and the device (a DevEUI, or an IMEI for a cellular device).
const DELETE: Columns = {
    let mut columns: Columns = [("n/a", None); WIDTH];
    columns[0] = ("Action", Some(Field::Kind));
    columns[1] = ("DevEUI", Some(Field::DevEui));
    columns
};

fn layout(l: Layout) -> &'static Columns {
    match l {
        Layout::Otaa => &OTAA,
        Layout::Abp => &ABP,
        Layout::Cellular => &CELLULAR,
        Layout::Delete => &DELETE,
    }
}

/// The action a layout is written with, for messages.
fn action(l: Layout) -> &'static str {
    match l {
        Layout::Otaa => "CREATE_OTAA",
        Layout::Abp => "CREATE_ABP",
        Layout::Cellular => "CREATE_CELLULAR",
        Layout::Delete => "DELETE",
    }
}

const CREATING: [Layout; 3] = [Layout::Otaa, Layout::Abp, Layout::Cellular];

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
            let entries: Vec<(Option<Field>, &str)> = CREATING
                .into_iter()
                .map(|l| layout(l)[index])
                .map(|(name, field)| (field, name))
                .collect();
            let mut names: Vec<&str> = entries
                .iter()
                .map(|(_, n)| *n)
                .filter(|n| *n != "n/a")
                .collect();
            names.dedup();
            let field = entries[0]
                .0
                .filter(|f| entries.iter().all(|(g, _)| *g == Some(*f)));
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

/// One layout's mapping plan, and which of the columns tpbulk does not send were seen filled (bit per column).
#[derive(Debug)]
struct LayoutPlan {
    layout: Layout,
    plan: Plan,
    unsent: AtomicU32,
}

/// The mapping plans of the layouts, in [`Layout`] order. Shared by the threads that map rows, so the
/// filled-but-unsent columns are gathered with atomics.
#[derive(Debug)]
pub(crate) struct Plans([LayoutPlan; 4]);

impl Plans {
    pub(crate) fn new(defaults: &[(Field, String)]) -> Plans {
        let layouts = [Layout::Otaa, Layout::Abp, Layout::Cellular, Layout::Delete];
        Plans(layouts.map(|layout| LayoutPlan {
            layout,
            // A deletion takes no defaults: nothing is created.
            plan: Plan::from_slots(
                layout_slots(layout),
                if layout == Layout::Delete {
                    &[]
                } else {
                    defaults
                },
            ),
            unsent: AtomicU32::new(0),
        }))
    }

    fn for_cells(&self, cells: &[Cell]) -> &LayoutPlan {
        let action = match cells.first() {
            Some(Cell::Text(s)) => s.trim(),
            _ => "",
        };
        let layout = match action {
            "CREATE_OTAA" => Layout::Otaa,
            "CREATE_CELLULAR" => Layout::Cellular,
            "DELETE" => Layout::Delete,
            _ => Layout::Abp,
        };
        &self.0[layout as usize]
    }

    /// The plan a row follows, by its action (`CREATE` and an empty action mean ABP, as ThingPark reads them),
    /// noting the columns it fills that tpbulk does not send.
    pub(crate) fn for_row(&self, cells: &[Cell]) -> &Plan {
        let chosen = self.for_cells(cells);
        if chosen.layout != Layout::Delete {
            let columns = layout(chosen.layout);
            let mut filled = 0u32;
            for (index, cell) in cells.iter().enumerate().take(WIDTH) {
                if columns[index].1.is_none() && !cell.is_blank() {
                    filled |= 1 << index;
                }
            }
            if filled != 0 {
                chosen.unsent.fetch_or(filled, Ordering::Relaxed);
            }
        }
        &chosen.plan
    }

    /// One line per layout whose rows filled columns tpbulk does not send, naming them.
    pub(crate) fn notes(&self) -> Vec<String> {
        // A `DELETE` row notes none.
        self.0
            .iter()
            .filter_map(|p| {
                let bits = p.unsent.load(Ordering::Relaxed);
                let names: Vec<String> = (0..WIDTH)
                    .filter(|i| bits & (1 << i) != 0)
                    .map(|i| match layout(p.layout)[i].0 {
                        "n/a" => format!("{} (not defined)", letter(i)),
                        name => format!("{} ({name})", letter(i)),
                    })
                    .collect();
                (!names.is_empty()).then(|| {
                    format!(
                        "{} rows fill column(s) {} that tpbulk does not send: those values are not imported",
                        action(p.layout),
                        names.join(", ")
                    )
                })
            })
            .collect()
    }
}

fn layout_slots(l: Layout) -> Vec<(usize, Field, Arc<str>)> {
    layout(l)
        .iter()
        .enumerate()
        .filter_map(|(i, (name, field))| {
            field.map(|f| (i, f, Arc::from(format!("{} ({name})", letter(i)))))
        })
        .collect()
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
        assert_eq!(columns[6].header, "G (ThingPark X configuration)");
        assert_eq!(columns[11].field, Some(Field::Latitude));
        assert_eq!(columns[19].header, "T (Application server IDs)");
        assert_eq!(columns[22].header, "W");
    }

    #[test]
    fn filled_columns_that_cannot_be_sent_are_noted_per_action() {
        let plans = Plans::new(&[]);
        let row = |cells: &[&str]| -> Vec<Cell> {
            cells.iter().map(|c| Cell::Text(c.to_string())).collect()
        };
        let mut otaa = row(&["CREATE_OTAA", "F03D291000F00001"]);
        otaa.resize(27, Cell::Empty);
        plans.for_row(&otaa);
        assert!(plans.notes().is_empty());
        otaa[9] = Cell::Text("12".into());
        otaa[22] = Cell::Text("x".into());
        plans.for_row(&otaa);
        plans.for_row(&row(&["DELETE", "F03D291000F00003", "ignored"]));
        plans.for_row(&row(&[
            "CREATE_CELLULAR",
            "123456789012347",
            "208150000000001",
            "M",
            "",
            "",
            "",
            "P",
            "CTX",
        ]));
        assert_eq!(
            plans.notes(),
            [
                "CREATE_OTAA rows fill column(s) J (Maker ID), W (not defined) that tpbulk does not send: those \
                 values are not imported"
            ]
        );
    }
}
