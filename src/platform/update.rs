//! Updates of devices already on the platform: the fields a file may change, read from the platform's answers
//! (a listing brief or `GET /devices/{uid}`), compared with what a row asks, and the body of
//! `PUT /devices/{uid}`.
//!
//! Only the fields of [`Changeable`] are ever sent. The OpenAPI file's `x-updateForbidden` fields a row can name
//! (its kind's connectivity and activation, an ABP DevAddr as `nwAddress`, a cellular IMSI) are compared and never
//! sent: a row asking to change one is refused ([`Decision::Forbidden`]). Key material is not compared (the platform
//! never returns it) and never journalled here.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A field an update may change, under its name in the platform's `Device` schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Changeable {
    Name,
    Model,
    Connections,
    Plan,
    AdminLat,
    AdminLon,
    AdminInfo,
    Motion,
    /// The device's whole tag set. Not part of the `PUT` body (the `Device` schema has no tags): a difference
    /// becomes tag and untag calls grouped by tag (`POST /devices/tags`).
    Tags,
    /// `group:name` of each domain; the `PUT` body takes them (`Device.domains`, not `x-updateForbidden`).
    Domains,
}

impl Changeable {
    pub const ALL: [Changeable; 10] = [
        Changeable::Name,
        Changeable::Model,
        Changeable::Connections,
        Changeable::Plan,
        Changeable::AdminLat,
        Changeable::AdminLon,
        Changeable::AdminInfo,
        Changeable::Motion,
        Changeable::Tags,
        Changeable::Domains,
    ];

    /// The field of the platform's `Device` body.
    pub fn key(self) -> &'static str {
        match self {
            Changeable::Name => "name",
            Changeable::Model => "model",
            Changeable::Connections => "appServers",
            Changeable::Plan => "networkSubscription",
            Changeable::AdminLat => "adminLat",
            Changeable::AdminLon => "adminLon",
            Changeable::AdminInfo => "customerAdminData",
            Changeable::Motion => "motionIndicator",
            Changeable::Tags => "tags",
            Changeable::Domains => "domains",
        }
    }

    /// The field as tpbulk's columns call it, for reports.
    pub fn label(self) -> &'static str {
        match self {
            Changeable::Name => "name",
            Changeable::Model => "model",
            Changeable::Connections => "connection",
            Changeable::Plan => "plan",
            Changeable::AdminLat => "latitude",
            Changeable::AdminLon => "longitude",
            Changeable::AdminInfo => "admin_info",
            Changeable::Motion => "motion",
            Changeable::Tags => "tags",
            Changeable::Domains => "domains",
        }
    }

    pub fn parse(key: &str) -> Option<Changeable> {
        Changeable::ALL.into_iter().find(|c| c.key() == key)
    }

    /// Whether the field goes in the `PUT` body (tags go by tag calls instead).
    pub fn in_put(self) -> bool {
        self != Changeable::Tags
    }

    /// Whether a listing brief carries the field (the OpenAPI file's `DeviceBrief` has no `adminLat`/`adminLon`).
    fn in_listing(self) -> bool {
        !matches!(self, Changeable::AdminLat | Changeable::AdminLon)
    }

    /// The field's value in a device answer, normalised for comparison: an ID for the model and the plan, the
    /// sorted IDs of the connections, `null` when the device has none.
    fn read(self, device: &Value) -> Value {
        let field = device.get(self.key());
        match self {
            Changeable::Model | Changeable::Plan => field
                .and_then(|v| v.get("ID"))
                .and_then(Value::as_str)
                .map_or(Value::Null, Value::from),
            Changeable::Connections => {
                let mut ids: Vec<&str> = field
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(|s| s.get("ID").and_then(Value::as_str))
                            .collect()
                    })
                    .unwrap_or_default();
                ids.sort_unstable();
                ids.dedup();
                Value::from(ids)
            }
            Changeable::Tags | Changeable::Domains => {
                let mut names: Vec<String> = field
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(|t| {
                                let name = t.get("name").and_then(Value::as_str)?;
                                match (self, t.pointer("/group/name").and_then(Value::as_str)) {
                                    (Changeable::Domains, Some(group)) => {
                                        Some(format!("{group}:{name}"))
                                    }
                                    _ => Some(name.to_string()),
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                names.sort_unstable();
                names.dedup();
                Value::from(names)
            }
            Changeable::AdminLat | Changeable::AdminLon => field
                .and_then(Value::as_f64)
                .map_or(Value::Null, Value::from),
            Changeable::Name | Changeable::AdminInfo | Changeable::Motion => field
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map_or(Value::Null, Value::from),
        }
    }

    /// Whether two normalised values are the same (coordinates within a micro-degree's thousandth).
    fn same(self, a: &Value, b: &Value) -> bool {
        match (self, a.as_f64(), b.as_f64()) {
            (Changeable::AdminLat | Changeable::AdminLon, Some(a), Some(b)) => (a - b).abs() < 1e-9,
            _ => a == b,
        }
    }

    /// The value in a `PUT` body.
    fn body(self, value: &Value) -> Value {
        match (self, value) {
            (Changeable::Model | Changeable::Plan, Value::String(id)) => json!({ "ID": id }),
            (Changeable::Connections, Value::Array(ids)) => {
                Value::Array(ids.iter().map(|id| json!({ "ID": id })).collect())
            }
            (Changeable::Domains, Value::Array(domains)) => Value::Array(
                domains
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|d| d.split_once(':'))
                    .map(|(group, name)| json!({ "name": name, "group": { "name": group } }))
                    .collect(),
            ),
            (_, other) => other.clone(),
        }
    }
}

/// A normalised value as a person reads it in a report: `'text'`, `none`, connections joined by `,`, tags and
/// domains by `;` (as a cell lists them).
pub fn show_field(field: Changeable, value: &Value) -> String {
    match (field, value) {
        (Changeable::Tags | Changeable::Domains, Value::Array(list)) if !list.is_empty() => {
            let items: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            format!("'{}'", items.join(";"))
        }
        _ => show(value),
    }
}

/// [`show_field`] for values whose field is not known.
pub fn show(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(list) if list.is_empty() => "none".into(),
        Value::Array(list) => {
            let ids: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            format!("'{}'", ids.join(","))
        }
        other => other.to_string(),
    }
}

/// Changeable fields and their normalised values (`null`: the device has none), keyed by [`Changeable::key`]:
/// what a device had, what a row asks, what an update wrote. Journalled as JSON.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Values(BTreeMap<String, Value>);

impl Values {
    pub fn set(&mut self, field: Changeable, value: Value) {
        self.0.insert(field.key().to_string(), value);
    }

    pub fn get(&self, field: Changeable) -> Option<&Value> {
        self.0.get(field.key())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields, in [`Changeable::ALL`] order; keys this build does not know are skipped.
    pub fn iter(&self) -> impl Iterator<Item = (Changeable, &Value)> {
        Changeable::ALL
            .into_iter()
            .filter_map(|c| self.get(c).map(|v| (c, v)))
    }

    /// True when `other` holds every field of `self` with the same value.
    pub fn held_by(&self, other: &Values) -> bool {
        self.iter()
            .all(|(c, v)| other.get(c).is_some_and(|o| c.same(v, o)))
    }

    /// Only the fields named by `keys`, with this set's values (absent ones as `null`).
    pub fn only(&self, keys: &Values) -> Values {
        let mut out = Values::default();
        for (c, _) in keys.iter() {
            out.set(c, self.get(c).cloned().unwrap_or(Value::Null));
        }
        out
    }

    /// The fields a `PUT` carries (all but the tags).
    pub fn put_fields(&self) -> Values {
        Values(
            self.iter()
                .filter(|(c, _)| c.in_put())
                .map(|(c, v)| (c.key().to_string(), v.clone()))
                .collect(),
        )
    }

    /// The tags `self` has and `after` lacks (to untag), and those `after` has and `self` lacks (to tag), when
    /// `after` names the tags.
    pub fn tag_delta(&self, after: &Values) -> (Vec<String>, Vec<String>) {
        let names = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let Some(wanted) = after.get(Changeable::Tags) else {
            return (Vec::new(), Vec::new());
        };
        let (had, wanted) = (names(self.get(Changeable::Tags)), names(Some(wanted)));
        let untag = had
            .iter()
            .filter(|t| !wanted.contains(t))
            .cloned()
            .collect();
        let tag = wanted
            .iter()
            .filter(|t| !had.contains(t))
            .cloned()
            .collect();
        (untag, tag)
    }

    /// `name 'a' → 'b', connection 'X' → 'Y'`: each field of `after` with its value in `self`.
    pub fn diff_line(&self, after: &Values) -> String {
        after
            .iter()
            .map(|(c, v)| {
                let before = self.get(c).unwrap_or(&Value::Null);
                format!(
                    "{} {} → {}",
                    c.label(),
                    show_field(c, before),
                    show_field(c, v)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Fields the platform refuses to change (`x-updateForbidden`) that a row can name, keyed as the platform does.
const FIXED: [&str; 4] = ["connectivity", "activation", "nwAddress", "imsi"];

/// What the platform says of a device beyond its identity: its changeable fields, its `x-updateForbidden` ones
/// and its `occContext.version`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceState {
    /// `occContext.version`: what an update must carry for the platform to apply it.
    pub version: Option<u64>,
    /// Every changeable field the answer carries (a brief lacks the admin location).
    pub values: Values,
    /// The forbidden fields the answer carries, as text.
    pub fixed: BTreeMap<String, String>,
    /// From `GET /devices/{uid}` (every field), not a listing brief.
    pub full: bool,
}

impl DeviceState {
    /// From a device answer; `full` for `GET /devices/{uid}`.
    pub fn from_json(device: &Value, full: bool) -> DeviceState {
        let mut values = Values::default();
        for field in Changeable::ALL {
            if full || field.in_listing() {
                values.set(field, field.read(device));
            }
        }
        let fixed = FIXED
            .iter()
            .filter_map(|&k| {
                device
                    .get(k)
                    .and_then(Value::as_str)
                    .map(|v| (k.to_string(), v.to_ascii_uppercase()))
            })
            .collect();
        DeviceState {
            version: device
                .pointer("/occContext/version")
                .and_then(Value::as_u64),
            values,
            fixed,
            full,
        }
    }
}

/// What a row asks of its device, should the device exist: the changeable fields it gives (`null` to clear, with
/// `--clear-empty`) and the forbidden ones it names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wish {
    pub set: Values,
    /// Forbidden fields (see [`FIXED`]) and the value the row gives them, with the column a refusal names.
    pub fixed: Vec<(&'static str, String, String)>,
    /// The row gives a field only a device's own `GET` shows (the admin location, the IMSI).
    pub needs_full: bool,
}

impl Wish {
    pub fn fix(&mut self, key: &'static str, value: String, column: String) {
        self.needs_full |= key == "imsi";
        self.fixed.push((key, value.to_ascii_uppercase(), column));
    }

    pub fn set(&mut self, field: Changeable, value: Value) {
        self.needs_full |= !field.in_listing();
        self.set.set(field, value);
    }
}

/// What a row becomes against its device.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The row names a forbidden field with another value: `(field, column, the platform's value, the row's)`.
    Forbidden(Vec<(&'static str, String, String, String)>),
    /// Every field the row gives already has its value.
    Unchanged,
    /// Send these values; `before` holds what the device had in the same fields.
    Change(Change),
    /// The state does not show every field the row gives (a listing brief): read the device first.
    Read,
}

/// One update of one device, as journalled for the engine (no key material). `before` are the fields it changes as
/// they were read, `after` the values it writes, `version` the `occContext.version` read with them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// `PUT /devices/<reference>`: the device's uid.
    pub reference: String,
    pub before: Values,
    pub after: Values,
    pub version: Option<u64>,
    /// A restore of a rollback: `before` is what the batch wrote, which the device must still hold; the version
    /// is read from the platform first.
    #[serde(default)]
    pub read_first: bool,
}

impl Change {
    /// The `PUT` body: the fields to write and the version they were read with.
    pub fn body(&self, version: Option<u64>) -> Value {
        let mut body = Map::new();
        for (field, value) in self.after.iter().filter(|(f, _)| f.in_put()) {
            body.insert(field.key().to_string(), field.body(value));
        }
        if let Some(version) = version {
            body.insert("occContext".into(), json!({ "version": version }));
        }
        Value::Object(body)
    }

    /// Whether the change has a field for `PUT` (one of tags only is made by tag calls alone).
    pub fn puts(&self) -> bool {
        self.after.iter().any(|(f, _)| f.in_put())
    }

    /// A plan is among the fields: the platform takes it by ID only in ADVANCED mode.
    pub fn names_plan(&self) -> bool {
        self.after
            .get(Changeable::Plan)
            .is_some_and(|p| !p.is_null())
    }
}

/// Compares a row's wish with its device's state.
pub fn decide(wish: &Wish, reference: &str, state: &DeviceState) -> Decision {
    let forbidden: Vec<_> = wish
        .fixed
        .iter()
        .filter_map(|(key, wanted, column)| match state.fixed.get(*key) {
            Some(has) if has != wanted => Some((*key, column.clone(), has.clone(), wanted.clone())),
            None if state.full => Some((*key, column.clone(), "none".into(), wanted.clone())),
            _ => None,
        })
        .collect();
    if !forbidden.is_empty() {
        return Decision::Forbidden(forbidden);
    }
    if wish.needs_full && !state.full {
        return Decision::Read;
    }
    let mut before = Values::default();
    let mut after = Values::default();
    for (field, wanted) in wish.set.iter() {
        let has = state.values.get(field).cloned().unwrap_or(Value::Null);
        if !field.same(&has, wanted) {
            before.set(field, has);
            after.set(field, wanted.clone());
        }
    }
    if after.is_empty() {
        return Decision::Unchanged;
    }
    Decision::Change(Change {
        reference: reference.to_string(),
        before,
        after,
        version: state.version,
        read_first: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief() -> Value {
        json!({"EUI": "70B3D5E756000001", "name": "old", "model": {"ID": "M/L"},
            "appServers": [{"ID": "B"}, {"ID": "A"}], "connectivity": "LORAWAN", "activation": "OTAA",
            "occContext": {"version": 3}, "adminLat": 48.5})
    }

    #[test]
    fn only_a_real_difference_is_sent_with_the_version_read() {
        let state = DeviceState::from_json(&brief(), false);
        assert_eq!(state.version, Some(3));
        // A brief does not show the admin location, even when the answer has it.
        assert_eq!(state.values.get(Changeable::AdminLat), None);
        let mut wish = Wish::default();
        wish.set(Changeable::Name, "old".into());
        wish.set(Changeable::Connections, json!(["A", "B"]));
        wish.fix("activation", "otaa".into(), "kind".into());
        assert_eq!(decide(&wish, "7", &state), Decision::Unchanged);

        wish.set(Changeable::Name, "new".into());
        let Decision::Change(change) = decide(&wish, "7", &state) else {
            panic!()
        };
        assert_eq!(change.before.diff_line(&change.after), "name 'old' → 'new'");
        assert_eq!(
            change.body(change.version),
            json!({"name": "new", "occContext": {"version": 3}})
        );

        wish.set(Changeable::AdminLat, json!(48.5));
        assert_eq!(decide(&wish, "7", &state), Decision::Read);
        let full = DeviceState::from_json(&brief(), true);
        let Decision::Change(change) = decide(&wish, "7", &full) else {
            panic!()
        };
        assert_eq!(change.after.iter().count(), 1, "the latitude is the same");
    }

    #[test]
    fn a_forbidden_field_with_another_value_is_refused() {
        let state = DeviceState::from_json(&brief(), false);
        let mut wish = Wish::default();
        wish.set(Changeable::Name, "new".into());
        wish.fix("activation", "ABP".into(), "kind".into());
        assert_eq!(
            decide(&wish, "7", &state),
            Decision::Forbidden(vec![(
                "activation",
                "kind".into(),
                "OTAA".into(),
                "ABP".into()
            )])
        );
    }

    #[test]
    fn values_round_trip_through_the_journal_and_bodies_take_ids() {
        let mut after = Values::default();
        after.set(Changeable::Model, "M/2".into());
        after.set(Changeable::Connections, json!(["A"]));
        after.set(Changeable::AdminInfo, Value::Null);
        let change = Change {
            reference: "7".into(),
            before: Values::default(),
            after,
            version: None,
            read_first: false,
        };
        let text = serde_json::to_string(&change).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), change);
        assert_eq!(
            change.body(None),
            json!({"model": {"ID": "M/2"}, "appServers": [{"ID": "A"}], "customerAdminData": null})
        );
    }
}
