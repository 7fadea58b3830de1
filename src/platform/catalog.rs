//! The platform's catalogue (device models, connections, connectivity plans, cellular network contexts) and the
//! resolution of the names a shipment uses to the IDs a request needs.
//!
//! Matching is case-insensitive and exact: a value that names one entry by ID, name (or, for a connection, its IoT
//! Flow connection id) resolves; an exact, case-sensitive ID wins over other case-insensitive matches, because an ID
//! is what a person copies from the platform. Anything else is an error on the row, never a guess.

use crate::device::{Device, ErrorCode, Ids, Kind, RefValue, Refs, RowError};
use serde_json::Value;

/// A model's, a plan's or a row's radio.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Connectivity {
    Lorawan,
    Cellular,
}

impl Connectivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Connectivity::Lorawan => "LORAWAN",
            Connectivity::Cellular => "CELLULAR",
        }
    }

    fn of(kind: Kind) -> Connectivity {
        match kind {
            Kind::Cellular => Connectivity::Cellular,
            Kind::Otaa | Kind::Abp | Kind::Multicast => Connectivity::Lorawan,
        }
    }

    fn parse(value: Option<&str>) -> Option<Connectivity> {
        match value?.to_ascii_uppercase().as_str() {
            "LORAWAN" => Some(Connectivity::Lorawan),
            "CELLULAR" => Some(Connectivity::Cellular),
            _ => None,
        }
    }
}

/// A device model (`deviceProfiles`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Model {
    pub id: String,
    /// `commercialName`.
    pub name: String,
    pub connectivity: Option<Connectivity>,
    pub vendor: Option<String>,
    pub mac_major_version: Option<i64>,
    pub mac_minor_version: Option<i64>,
}

impl Model {
    /// LoRaWAN 1.1: `macMinorVersion` 10 or more (`macMajorVersion` is 0 for every 1.x).
    pub fn is_lorawan_1_1(&self) -> bool {
        self.mac_minor_version.is_some_and(|v| v >= 10)
    }

    /// The LoRaWAN version for people (`1.0.3`, `1.1`), when the model says.
    pub fn lorawan_version(&self) -> Option<&'static str> {
        match self.mac_minor_version? {
            3 => Some("1.0.1"),
            4 => Some("1.0.2"),
            5 => Some("1.0.3"),
            6 => Some("1.0.4"),
            v if v >= 10 => Some("1.1"),
            _ => None,
        }
    }
}

/// A connection (`appServers`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Connection {
    pub id: String,
    pub name: String,
    /// `type`: `HTTP`, `KAFKA` (IoT Flow) …
    pub kind: Option<String>,
    /// `tpxIotFlow.connectionId`: the DX Core connection id of an IoT Flow connection.
    pub iot_flow_id: Option<String>,
    pub state: Option<String>,
}

/// A connectivity plan (`networkSubscriptions`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub id: String,
    /// `commercialName`.
    pub name: String,
    pub connectivity: Option<Connectivity>,
    pub used: Option<i64>,
    pub granted: Option<i64>,
}

/// A cellular network context (`cellularNetworkContexts`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Context {
    pub id: String,
    pub name: String,
    pub mode: Option<String>,
}

/// The platform's catalogue, read once per run (all pages).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Catalog {
    pub models: Vec<Model>,
    pub connections: Vec<Connection>,
    pub plans: Vec<Plan>,
    pub contexts: Vec<Context>,
}

/// A row's references resolved to platform IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub model_id: Option<String>,
    /// The model is LoRaWAN 1.1 (`macMinorVersion` 10 or more / `macMajorVersion` 1).
    pub lorawan_1_1: bool,
    /// The application servers, in the row's order (none: a device that forwards nothing).
    pub connection_ids: Vec<String>,
    pub plan_id: Option<String>,
    pub context_id: Option<String>,
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(super::text)
}

/// One catalogue entry seen through the names it answers to.
trait Entry {
    const WHAT: &'static str;
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    /// One more name the entry answers to (a connection's IoT Flow connection id).
    fn also(&self) -> Option<&str> {
        None
    }
    fn aliases(&self) -> Vec<&str> {
        [self.id(), self.name()]
            .into_iter()
            .chain(self.also())
            .collect()
    }
}

/// The [`Entry`] of a catalogue type with `id` and `name` fields (and the field it is `also` known by).
macro_rules! entry {
    ($type:ty, $what:literal $(, $also:ident)?) => {
        impl Entry for $type {
            const WHAT: &'static str = $what;
            fn id(&self) -> &str {
                &self.id
            }
            fn name(&self) -> &str {
                &self.name
            }
            $(fn also(&self) -> Option<&str> {
                self.$also.as_deref()
            })?
        }
    };
}

entry!(Model, "device model");
entry!(Connection, "connection", iot_flow_id);
entry!(Plan, "connectivity plan");
entry!(Context, "network context");

impl Catalog {
    /// Builds the catalogue from the listings' briefs, in the platform's field names.
    pub fn from_briefs<'a>(
        models: impl IntoIterator<Item = &'a Value>,
        connections: impl IntoIterator<Item = &'a Value>,
        plans: impl IntoIterator<Item = &'a Value>,
        contexts: impl IntoIterator<Item = &'a Value>,
    ) -> Catalog {
        let id = |v: &Value| text(v, "ID").or_else(|| text(v, "id"));
        let name = |v: &Value| {
            text(v, "commercialName")
                .or_else(|| text(v, "name"))
                .unwrap_or_default()
        };
        Catalog {
            models: models
                .into_iter()
                .filter_map(|v| {
                    Some(Model {
                        id: id(v)?,
                        name: name(v),
                        connectivity: Connectivity::parse(text(v, "connectivity").as_deref()),
                        vendor: v
                            .get("vendor")
                            .and_then(|vendor| text(vendor, "name").or_else(|| text(vendor, "ID"))),
                        mac_major_version: v.get("macMajorVersion").and_then(Value::as_i64),
                        mac_minor_version: v.get("macMinorVersion").and_then(Value::as_i64),
                    })
                })
                .collect(),
            connections: connections
                .into_iter()
                .filter_map(|v| {
                    Some(Connection {
                        id: id(v)?,
                        name: text(v, "name").unwrap_or_default(),
                        kind: text(v, "type"),
                        iot_flow_id: v.get("tpxIotFlow").and_then(|f| text(f, "connectionId")),
                        state: text(v, "state"),
                    })
                })
                .collect(),
            plans: plans
                .into_iter()
                .filter_map(|v| {
                    Some(Plan {
                        id: id(v)?,
                        name: name(v),
                        connectivity: Connectivity::parse(text(v, "connectivity").as_deref()),
                        used: v.get("used").and_then(Value::as_i64),
                        granted: v.get("granted").and_then(Value::as_i64),
                    })
                })
                .collect(),
            contexts: contexts
                .into_iter()
                .filter_map(|v| {
                    Some(Context {
                        id: id(v)?,
                        name: text(v, "name").unwrap_or_default(),
                        mode: text(v, "mode"),
                    })
                })
                .collect(),
        }
    }

    /// Resolves a row's references; every problem is a `reference` error naming the column and value.
    pub fn resolve(&self, device: &Device) -> Result<Resolved, Vec<RowError>> {
        self.resolve_refs(device.kind(), &device.refs, Some(device))
    }

    /// The references of an update (`--on-existing update`): what the row names is resolved as for a creation,
    /// and what it does not name is left as the device has it (no model or plan is required).
    pub fn resolve_update(&self, kind: Kind, refs: &Refs) -> Result<Resolved, Vec<RowError>> {
        self.resolve_refs(kind, refs, None)
    }

    /// `creating`: the device a creation builds, whose model must suit its keys.
    fn resolve_refs(
        &self,
        kind: Kind,
        refs: &Refs,
        creating: Option<&Device>,
    ) -> Result<Resolved, Vec<RowError>> {
        let connectivity = Connectivity::of(kind);
        let mut errors = Vec::new();

        // A multicast group has no model on the platform (the tutorial's body names none), so none is needed.
        let model = match (&refs.model, kind) {
            (None, Kind::Multicast) => None,
            (None, _) => {
                if creating.is_some() {
                    errors.push(missing("model", "device model"));
                }
                None
            }
            (Some(r), _) => one(&self.models, r, "model", &mut errors),
        };
        if let (Some(model), Some(r)) = (model, &refs.model)
            && model.connectivity.is_some_and(|c| c != connectivity)
        {
            errors.push(wrong_radio("model", r, model, model.connectivity, kind));
        }
        let lorawan_1_1 =
            model.is_some_and(Model::is_lorawan_1_1) && connectivity == Connectivity::Lorawan;
        if let Some(model) = model.filter(|m| m.connectivity != Some(Connectivity::Cellular))
            && let Some(device) = creating
        {
            check_key_set(device, model, &mut errors);
        }

        // Whether a row needs a connection is the checks' decision (ThingPark's import file makes it optional).
        // Its column T: "Multiple application server IDs may be provided, separated by a comma"; a value that names
        // one connection whole (a name may hold a comma) is that one.
        let connections: Vec<&Connection> = match &refs.connection {
            None => Vec::new(),
            Some(r) => {
                let whole = r.value.trim();
                let names_one = self
                    .connections
                    .iter()
                    .any(|c| c.aliases().iter().any(|a| a.eq_ignore_ascii_case(whole)));
                if names_one || !whole.contains(',') {
                    one(&self.connections, r, "connection", &mut errors)
                        .into_iter()
                        .collect()
                } else {
                    whole
                        .split(',')
                        .map(str::trim)
                        .filter(|part| !part.is_empty())
                        .filter_map(|part| {
                            let part = RefValue {
                                value: part.to_string(),
                                column: r.column.clone(),
                            };
                            one(&self.connections, &part, "connection", &mut errors)
                        })
                        .collect()
                }
            }
        };

        // Multicast groups take no plan, and LoRaWAN devices without one are created in BASIC mode.
        let plan = match (&refs.plan, kind) {
            (_, Kind::Multicast) => None,
            (None, Kind::Cellular) => {
                if creating.is_some() {
                    errors.push(missing("plan", "connectivity plan"));
                }
                None
            }
            (None, _) => None,
            (Some(r), _) => {
                let plan = one(&self.plans, r, "plan", &mut errors);
                if let Some(p) = plan.filter(|p| p.connectivity.is_some_and(|c| c != connectivity))
                {
                    errors.push(wrong_radio("plan", r, p, p.connectivity, kind));
                }
                plan
            }
        };

        // A network context only means something to a cellular device; a LoRaWAN row ignores a `--set` one.
        let context = match kind {
            Kind::Cellular => refs
                .context
                .as_ref()
                .and_then(|r| one(&self.contexts, r, "context", &mut errors)),
            Kind::Otaa | Kind::Abp | Kind::Multicast => None,
        };

        if errors.is_empty() {
            Ok(Resolved {
                model_id: model.map(|m| m.id.clone()),
                lorawan_1_1,
                connection_ids: connections.iter().map(|c| c.id.clone()).collect(),
                plan_id: plan.map(|p| p.id.clone()),
                context_id: context.map(|c| c.id.clone()),
            })
        } else {
            Err(errors)
        }
    }
}

/// A LoRaWAN 1.1 model needs the 1.1 keys and a 1.0 model must not get them.
fn check_key_set(device: &Device, model: &Model, errors: &mut Vec<RowError>) {
    let is_1_1 = model.is_lorawan_1_1();
    let version = if is_1_1 { "LoRaWAN 1.1" } else { "LoRaWAN 1.0" };
    let model_column = device
        .refs
        .model
        .as_ref()
        .map(|r| r.column.clone())
        .unwrap_or_default();
    let mut key_error = |field: &str, message: String| {
        errors.push(RowError {
            field: field.to_string(),
            column: model_column.clone(),
            code: ErrorCode::Reference,
            message,
        });
    };
    let (what, keys) = match &device.ids {
        Ids::Otaa {
            app_key_from_nwk_key: true,
            ..
        } => {
            if is_1_1 {
                key_error(
                    "app_key",
                    format!(
                        "model {:?} is {version}: the nwk_key column holds its NwkKey, and it needs an AppKey too",
                        model.id
                    ),
                );
            }
            return;
        }
        Ids::Otaa { nwk_key, .. } => (
            "an OTAA device",
            vec![("nwk_key", "NwkKey", nwk_key.is_some())],
        ),
        Ids::Abp {
            s_nwk_s_int_key,
            nwk_s_enc_key,
            ..
        } => (
            "an ABP device",
            vec![
                ("s_nwk_s_int_key", "SNwkSIntKey", s_nwk_s_int_key.is_some()),
                ("nwk_s_enc_key", "NwkSEncKey", nwk_s_enc_key.is_some()),
            ],
        ),
        Ids::Cellular { .. } | Ids::Multicast { .. } => return,
    };
    for (field, label, present) in keys {
        match (is_1_1, present) {
            (true, false) => key_error(
                field,
                format!("model {:?} is {version}: {what} needs a {label}", model.id),
            ),
            (false, true) => key_error(
                field,
                format!(
                    "model {:?} is {version}: it takes no {label} (only LoRaWAN 1.1 models do)",
                    model.id
                ),
            ),
            (true, true) | (false, false) => {}
        }
    }
}

/// `r` names a model or plan (`field`) of another radio than a `kind` row's.
fn wrong_radio<E: Entry>(
    field: &str,
    r: &RefValue,
    entry: &E,
    have: Option<Connectivity>,
    kind: Kind,
) -> RowError {
    let message = format!(
        "{} {:?} ({}) is a {} {field}; a {} row needs a {} {field}",
        E::WHAT,
        r.value,
        entry.id(),
        have.map(Connectivity::as_str).unwrap_or("?"),
        kind.as_str(),
        Connectivity::of(kind).as_str()
    );
    reference(field, r, message)
}

fn missing(field: &str, what: &str) -> RowError {
    RowError {
        field: field.to_string(),
        column: String::new(),
        code: ErrorCode::Missing,
        message: format!("no {what}: add a {field} column or give --set {field}=…"),
    }
}

fn reference(field: &str, r: &RefValue, message: String) -> RowError {
    RowError {
        field: field.to_string(),
        column: r.column.clone(),
        code: ErrorCode::Reference,
        message,
    }
}

/// The one connection `value` names (its ID, its name or its IoT Flow connection id, as a row's would), or why
/// not: no match, with close candidates, or several.
pub fn find_connection<'a>(
    connections: &'a [Connection],
    value: &str,
) -> Result<&'a Connection, String> {
    let r = RefValue {
        value: value.to_string(),
        column: String::new(),
    };
    let mut errors = Vec::new();
    one(connections, &r, "connection", &mut errors)
        .ok_or_else(|| errors.pop().map(|e| e.message).unwrap_or_default())
}

/// The one entry `r` names, or an error: no match (with close candidates) or several matches (listed).
fn one<'a, E: Entry>(
    entries: &'a [E],
    r: &RefValue,
    field: &str,
    errors: &mut Vec<RowError>,
) -> Option<&'a E> {
    let value = r.value.trim();
    if let Some(exact) = single(entries.iter().filter(|e| e.id() == value)) {
        return Some(exact);
    }
    let matches: Vec<&E> = entries
        .iter()
        .filter(|e| e.aliases().iter().any(|a| a.eq_ignore_ascii_case(value)))
        .collect();
    match matches.as_slice() {
        [only] => Some(only),
        [] => {
            let hint = suggestions(entries, value);
            errors.push(reference(
                field,
                r,
                format!("{field} {value:?} matches no {}{hint}", E::WHAT),
            ));
            None
        }
        several => {
            let listed: Vec<String> = several
                .iter()
                .map(|e| format!("{:?} ({})", e.name(), e.id()))
                .collect();
            errors.push(reference(
                field,
                r,
                format!(
                    "{field} {value:?} matches {} {}s: {}; give the ID instead",
                    several.len(),
                    E::WHAT,
                    listed.join(", ")
                ),
            ));
            None
        }
    }
}

fn single<T>(mut it: impl Iterator<Item = T>) -> Option<T> {
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// How alike (Jaro-Winkler) a value and an ID or name must be for the name to be suggested.
const SUGGESTION_THRESHOLD: f64 = 0.8;

/// Up to three entries whose ID or name is close to `value`, best first.
fn suggestions<E: Entry>(entries: &[E], value: &str) -> String {
    let wanted = value.to_lowercase();
    let mut scored: Vec<(f64, String)> = entries
        .iter()
        .filter_map(|e| {
            let score = e
                .aliases()
                .iter()
                .map(|a| strsim::jaro_winkler(&wanted, &a.to_lowercase()))
                .fold(0.0, f64::max);
            let label = if e.name().is_empty() || e.name() == e.id() {
                format!("{:?}", e.id())
            } else {
                format!("{:?} ({})", e.name(), e.id())
            };
            (score >= SUGGESTION_THRESHOLD).then_some((score, label))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    let best: Vec<String> = scored.into_iter().take(3).map(|(_, l)| l).collect();
    if best.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", best.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{Eui, Imei, Key, Refs, SimId};
    use serde_json::json;

    /// The tutorial's catalogue, a LoRaWAN 1.1 model and two connections that share a name.
    fn catalog() -> Catalog {
        let models = [
            json!({"commercialName": "LoRaMote EU fw4 - class A", "connectivity": "LORAWAN",
                   "macMajorVersion": 0, "macMinorVersion": 3, "ID": "SMTC/LoRaMoteA.1_EU",
                   "vendor": {"name": "Semtech", "ID": "semtech"}}),
            json!({"commercialName": "Generic 1.1 sensor", "connectivity": "LORAWAN",
                   "macMajorVersion": 0, "macMinorVersion": 10, "ID": "GENERIC/SENSOR_1_1"}),
            json!({"commercialName": "LTE Dongle", "connectivity": "CELLULAR", "ID": "CUSTOM/LTE_Dongle"}),
        ];
        let connections = [
            json!({"ID": "TWA_199982747.1972.AS", "name": "my MQTT application", "type": "KAFKA",
                   "tpxIotFlow": {"connectionId": "1114"}}),
            json!({"ID": "TWA_1.1.AS", "name": "Twin", "type": "HTTP"}),
            json!({"ID": "TWA_1.2.AS", "name": "twin", "type": "HTTP"}),
        ];
        let plans = [
            json!({"commercialName": "Cellular CP", "ID": "acme-cs/cellular-cp", "connectivity": "CELLULAR"}),
            json!({"commercialName": "LoRa CP", "ID": "acme-cs/lora-cp", "connectivity": "LORAWAN"}),
        ];
        let contexts =
            [json!({"ID": "1AF3B", "name": "My cellular network context", "mode": "MIXED"})];
        Catalog::from_briefs(&models, &connections, &plans, &contexts)
    }

    fn r(value: &str, column: &str) -> Option<RefValue> {
        Some(RefValue {
            value: value.into(),
            column: column.into(),
        })
    }

    fn otaa(model: &str, connection: &str, nwk_key: bool) -> Device {
        Device {
            row: 2,
            name: Some("My device".into()),
            ids: Ids::Otaa {
                dev_eui: Eui::parse("70B3D5E756000999").unwrap(),
                join_eui: None,
                app_key: Key::parse("7374757A3FDD092947CE2DE9321C6040").unwrap(),
                nwk_key: nwk_key.then(|| Key::parse("00112233445566778899AABBCCDDEEFF").unwrap()),
                app_key_from_nwk_key: false,
            },
            refs: Refs {
                model: r(model, "Model"),
                connection: r(connection, "Connection"),
                plan: None,
                context: None,
            },
            extras: Default::default(),
        }
    }

    fn cellular(model: &str, plan: &str, context: Option<&str>) -> Device {
        Device {
            row: 3,
            name: None,
            ids: Ids::Cellular {
                imei: Some(Imei::parse("123456789012347").unwrap()),
                sim: Some(SimId::parse("89208013535718672291").unwrap()),
                imsi: None,
            },
            refs: Refs {
                model: r(model, "Model"),
                connection: r("my MQTT application", "Connection"),
                plan: r(plan, "Plan"),
                context: context.and_then(|c| r(c, "Context")),
            },
            extras: Default::default(),
        }
    }

    fn messages(errors: &[RowError]) -> String {
        errors
            .iter()
            .map(|e| format!("{}|{}|{}|{}", e.field, e.column, e.code.as_str(), e.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn resolves_by_id_name_and_iot_flow_id_whatever_the_case() {
        let catalog = catalog();
        for (model, connection) in [
            ("SMTC/LoRaMoteA.1_EU", "TWA_199982747.1972.AS"),
            ("lorAmote eu FW4 - class a", "MY mqtt APPLICATION"),
            ("smtc/loramotea.1_eu", "1114"),
        ] {
            let resolved = catalog.resolve(&otaa(model, connection, false)).unwrap();
            assert_eq!(resolved.model_id.as_deref(), Some("SMTC/LoRaMoteA.1_EU"));
            assert_eq!(resolved.connection_ids, ["TWA_199982747.1972.AS"]);
            assert!(!resolved.lorawan_1_1);
        }
        let resolved = catalog
            .resolve(&cellular(
                "lte dongle",
                "cellular cp",
                Some("my cellular network context"),
            ))
            .unwrap();
        assert_eq!(resolved.model_id.as_deref(), Some("CUSTOM/LTE_Dongle"));
        assert_eq!(resolved.plan_id.as_deref(), Some("acme-cs/cellular-cp"));
        assert_eq!(resolved.context_id.as_deref(), Some("1AF3B"));
        let by_id = catalog
            .resolve(&cellular(
                "CUSTOM/LTE_Dongle",
                "acme-cs/cellular-cp",
                Some("1af3b"),
            ))
            .unwrap();
        assert_eq!(by_id, resolved);
    }

    #[test]
    fn a_typo_names_the_column_and_suggests_close_entries() {
        let errors = catalog()
            .resolve(&otaa(
                "LoRaMote EU fw4 - clas A",
                "my MQTT aplication",
                false,
            ))
            .unwrap_err();
        let text = messages(&errors);
        assert_eq!(errors.len(), 2, "{text}");
        assert!(errors.iter().all(|e| e.code == ErrorCode::Reference));
        assert_eq!(errors[0].column, "Model");
        assert!(
            errors[0]
                .message
                .contains("\"LoRaMote EU fw4 - clas A\" matches no device model")
                && errors[0]
                    .message
                    .contains("did you mean \"LoRaMote EU fw4 - class A\" (SMTC/LoRaMoteA.1_EU)"),
            "{text}"
        );
        assert_eq!(errors[1].column, "Connection");
        assert!(
            errors[1].message.contains("\"my MQTT application\""),
            "{text}"
        );
        let nothing_close = catalog().resolve(&otaa("zzzz", "1114", false)).unwrap_err();
        assert!(!nothing_close[0].message.contains("did you mean"));
    }

    #[test]
    fn an_ambiguous_name_is_an_error_listing_the_matches_but_an_exact_id_wins() {
        let errors = catalog()
            .resolve(&otaa("SMTC/LoRaMoteA.1_EU", "TWIN", false))
            .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("matches 2 connections")
                && errors[0].message.contains("TWA_1.1.AS")
                && errors[0].message.contains("TWA_1.2.AS"),
            "{}",
            messages(&errors)
        );
        let resolved = catalog()
            .resolve(&otaa("SMTC/LoRaMoteA.1_EU", "TWA_1.2.AS", false))
            .unwrap();
        assert_eq!(resolved.connection_ids, ["TWA_1.2.AS"]);
        // ThingPark's import column T may list several, comma-separated.
        let resolved = catalog()
            .resolve(&otaa(
                "SMTC/LoRaMoteA.1_EU",
                "TWA_1.2.AS, my MQTT application",
                false,
            ))
            .unwrap();
        assert_eq!(
            resolved.connection_ids,
            ["TWA_1.2.AS", "TWA_199982747.1972.AS"]
        );
        let errors = catalog()
            .resolve(&otaa("SMTC/LoRaMoteA.1_EU", "TWA_1.2.AS,nowhere", false))
            .unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("\"nowhere\" matches no connection"),
            "{}",
            messages(&errors)
        );
    }

    #[test]
    fn the_model_must_fit_the_kind_and_the_lorawan_version_the_keys() {
        let errors = catalog()
            .resolve(&otaa("LTE Dongle", "1114", false))
            .unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("is a CELLULAR model; a otaa row needs a LORAWAN model")
        );
        let errors = catalog()
            .resolve(&cellular("SMTC/LoRaMoteA.1_EU", "LoRa CP", None))
            .unwrap_err();
        assert_eq!(errors.len(), 2, "{}", messages(&errors));
        assert!(
            errors
                .iter()
                .any(|e| e.field == "plan" && e.message.contains("LORAWAN plan"))
        );

        let errors = catalog()
            .resolve(&otaa("GENERIC/SENSOR_1_1", "1114", false))
            .unwrap_err();
        assert_eq!(errors[0].field, "nwk_key");
        assert!(errors[0].message.contains("needs a NwkKey"));
        let resolved = catalog()
            .resolve(&otaa("GENERIC/SENSOR_1_1", "1114", true))
            .unwrap();
        assert!(resolved.lorawan_1_1);
        let errors = catalog()
            .resolve(&otaa("SMTC/LoRaMoteA.1_EU", "1114", true))
            .unwrap_err();
        assert!(errors[0].message.contains("takes no NwkKey"));
    }

    #[test]
    fn abp_1_1_needs_both_session_keys() {
        let mut device = otaa("GENERIC/SENSOR_1_1", "1114", false);
        device.ids = Ids::Abp {
            dev_eui: Eui::parse("70B3D5E756000999").unwrap(),
            dev_addr: crate::device::DevAddr::parse("785D25E2").unwrap(),
            nwk_s_key: Key::parse("7374757A3FDD092947CE2DE9321C6040").unwrap(),
            app_s_keys: Some(
                crate::device::AppSKeys::parse("8D67B0D6359D11ACFC45AD4BB9CE2D4F").unwrap(),
            ),
            s_nwk_s_int_key: None,
            nwk_s_enc_key: None,
        };
        let errors = catalog().resolve(&device).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["s_nwk_s_int_key", "nwk_s_enc_key"]);
    }

    #[test]
    fn missing_required_references_are_reported() {
        let mut device = cellular("LTE Dongle", "Cellular CP", None);
        device.refs.plan = None;
        // The connection's requiredness is the row checks' (ThingPark's import file makes it optional).
        device.refs.connection = None;
        let errors = catalog().resolve(&device).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["plan"]);
        assert!(errors.iter().all(|e| e.code == ErrorCode::Missing));
    }
}
