//! The simulator's devices: what `POST /devices` accepts for each kind (OTAA 1.0/1.1, ABP, cellular, multicast),
//! the store with its EUI, SIM and IMEI indexes, and the cursor and offset listings.
//!
//! Checking happens in two steps: [`check_body`] needs only the body and runs outside the lock; [`Store::create`]
//! checks the catalogue references and uniqueness under it. Key material is checked and then dropped: the store
//! never holds an AppKey or session key, so neither answers nor the state file can leak one.

use super::ApiError;
use super::catalog::Catalog;
use crate::device::ids::{luhn_valid, mod97};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

pub const DEVICES_PATH: &str = "/thingpark/wireless/rest/subscriptions/mine/devices";

/// `networkSubscriptionsHandlingMode` of a creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Basic,
    Advanced,
}

impl Mode {
    pub fn parse(value: Option<&str>) -> Result<Mode, ApiError> {
        match value {
            None | Some("BASIC") => Ok(Mode::Basic),
            Some("ADVANCED") => Ok(Mode::Advanced),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid networkSubscriptionsHandlingMode: {other} (BASIC or ADVANCED)"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Otaa,
    Abp,
    Multicast,
    Cellular,
}

/// A creation body that passed every check that needs no platform state.
#[derive(Debug)]
pub struct Checked {
    pub kind: Kind,
    pub eui: Option<String>,
    pub sim: Option<String>,
    pub imei: Option<String>,
    model: Option<String>,
    plan: Option<String>,
    context: Option<String>,
    app_servers: Vec<String>,
    has_nwk_key: bool,
    has_abp_1_1_keys: bool,
    has_abp_1_1_key_any: bool,
    /// What the device looks like once created, without key material.
    view: Map<String, Value>,
}

/// The key a creation is counted under in the statistics and faults: the DevEUI, or for cellular devices the SIM
/// identifier (the IMEI when there is no SIM). Read leniently so that broken bodies are counted too.
pub fn body_key(body: &Value) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(|s| s.to_ascii_uppercase());
    if body.get("connectivity").and_then(Value::as_str) == Some("CELLULAR") {
        text(body.get("sim").and_then(|s| s.get("ID")))
            .or_else(|| text(body.get("enforcedIMEI")))
            .unwrap_or_default()
    } else {
        text(body.get("EUI")).unwrap_or_default()
    }
}

const LORAWAN_ONLY: [&str; 9] = [
    "activation",
    "appKey",
    "appEUI",
    "nwkKey",
    "nwAddress",
    "nwKey",
    "appKeys",
    "sNwkSIntKey",
    "nwkSEncKey",
];
/// The OpenAPI file's `x-updateForbidden` fields of a device (and the key material no update carries).
const UPDATE_FORBIDDEN: [&str; 14] = [
    "EUI",
    "connectivity",
    "activation",
    "nwAddress",
    "ownerToken",
    "imsi",
    "ki",
    "bss",
    "appKey",
    "nwkKey",
    "nwKey",
    "appKeys",
    "sNwkSIntKey",
    "nwkSEncKey",
];
/// What `PUT /devices/{uid}` may change (besides `occContext`, which carries the version read).
const UPDATABLE: [&str; 9] = [
    "domains",
    "name",
    "model",
    "appServers",
    "networkSubscription",
    "adminLat",
    "adminLon",
    "customerAdminData",
    "motionIndicator",
];
const MULTICAST_ONLY: [&str; 3] = ["class", "downlinkDataRate", "downlinkFrequency"];
const CELLULAR_ONLY: [&str; 3] = ["enforcedIMEI", "sim", "networkContext"];

/// Checks a `POST /devices` body against what the platform accepts for its kind.
pub fn check_body(body: &Value, mode: Mode) -> Result<Checked, ApiError> {
    let obj = super::object(body)?;
    match connectivity(opt_str(obj, "connectivity")?)? {
        Some("CELLULAR") => check_cellular(obj, mode),
        _ if MULTICAST_ONLY.iter().any(|f| obj.contains_key(*f)) => check_multicast(obj, mode),
        _ => check_lorawan(obj, mode),
    }
}

/// `value` of `field`, unless `ok` refuses it: "Invalid {field}: {value} ({expected})".
fn valid<'a>(
    field: &str,
    value: Option<&'a str>,
    ok: impl Fn(&str) -> bool,
    expected: &str,
) -> Result<Option<&'a str>, ApiError> {
    match value {
        Some(v) if !ok(v) => Err(ApiError::bad_request(format!(
            "Invalid {field}: {v} ({expected})"
        ))),
        v => Ok(v),
    }
}

/// A `connectivity` value: `LORAWAN` or `CELLULAR`.
pub fn connectivity(value: Option<&str>) -> Result<Option<&str>, ApiError> {
    let known = |c: &str| matches!(c, "LORAWAN" | "CELLULAR");
    valid("connectivity", value, known, "LORAWAN or CELLULAR")
}

fn check_lorawan(obj: &Map<String, Value>, mode: Mode) -> Result<Checked, ApiError> {
    forbid(obj, &CELLULAR_ONLY, "a LoRaWAN device")?;
    let eui = required_hex(obj, "EUI", 16)?;
    let activation = required_str(obj, "activation")?;
    let kind = match activation {
        "OTAA" => Kind::Otaa,
        "ABP" => Kind::Abp,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid activation: {other} (OTAA or ABP)"
            )));
        }
    };
    let model = model_id(obj)?;
    let plan = network_subscription(obj, mode, false)?;
    let app_servers = app_servers(obj, false)?;
    let app_eui = optional_hex(obj, "appEUI", 16)?;
    let mut has_nwk_key = false;
    let mut has_abp_1_1_keys = false;
    let mut has_abp_1_1_key_any = false;
    let mut view = base_view(obj, &eui);
    view.insert("connectivity".into(), "LORAWAN".into());
    view.insert("activation".into(), activation.into());
    admin_fields(obj, &mut view, true)?;
    match kind {
        Kind::Otaa => {
            forbid(
                obj,
                &["nwAddress", "nwKey", "appKeys", "sNwkSIntKey", "nwkSEncKey"],
                "an OTAA device",
            )?;
            required_hex(obj, "appKey", 32)?;
            has_nwk_key = optional_hex(obj, "nwkKey", 32)?.is_some();
        }
        Kind::Abp => {
            forbid(obj, &["appKey", "nwkKey"], "an ABP device")?;
            let address = required_hex(obj, "nwAddress", 8)?;
            required_hex(obj, "nwKey", 32)?;
            // `appKeys`: "**ABP**: OPTIONAL" in the OpenAPI file's DeviceLorawan.
            if obj.contains_key("appKeys") {
                app_skeys(obj)?;
            }
            let s = optional_hex(obj, "sNwkSIntKey", 32)?.is_some();
            let e = optional_hex(obj, "nwkSEncKey", 32)?.is_some();
            has_abp_1_1_keys = s && e;
            has_abp_1_1_key_any = s || e;
            view.insert("nwAddress".into(), address.into());
        }
        Kind::Cellular | Kind::Multicast => unreachable!("a LoRaWAN activation is OTAA or ABP"),
    }
    if let Some(app_eui) = app_eui {
        view.insert("appEUI".into(), app_eui.into());
    }
    Ok(Checked {
        kind,
        eui: Some(eui),
        sim: None,
        imei: None,
        model: Some(model),
        plan,
        context: None,
        app_servers,
        has_nwk_key,
        has_abp_1_1_keys,
        has_abp_1_1_key_any,
        view,
    })
}

fn check_multicast(obj: &Map<String, Value>, mode: Mode) -> Result<Checked, ApiError> {
    forbid(obj, &CELLULAR_ONLY, "a multicast group")?;
    forbid(
        obj,
        &[
            "model",
            "activation",
            "appKey",
            "nwkKey",
            "appEUI",
            "sNwkSIntKey",
            "nwkSEncKey",
        ],
        "a multicast group",
    )?;
    let eui = required_hex(obj, "EUI", 16)?;
    let address = required_hex(obj, "nwAddress", 8)?;
    required_hex(obj, "nwKey", 32)?;
    app_skeys(obj)?;
    let class = required_str(obj, "class")?;
    valid("class", Some(class), |c| matches!(c, "B" | "C"), "B or C")?;
    let rate = obj
        .get("downlinkDataRate")
        .and_then(Value::as_u64)
        .filter(|r| *r <= 15)
        .ok_or_else(|| {
            ApiError::bad_request("Invalid downlinkDataRate: an integer from 0 to 15 is required")
        })?;
    let frequency = obj
        .get("downlinkFrequency")
        .and_then(Value::as_f64)
        .filter(|f| (100.0..=1100.0).contains(f))
        .ok_or_else(|| {
            ApiError::bad_request("Invalid downlinkFrequency: a frequency in MHz is required")
        })?;
    let tags = bss_tags(obj)?;
    let plan = network_subscription(obj, mode, false)?;
    let app_servers = app_servers(obj, false)?;
    let mut view = base_view(obj, &eui);
    view.insert("connectivity".into(), "LORAWAN".into());
    admin_fields(obj, &mut view, false)?;
    view.insert("nwAddress".into(), address.into());
    view.insert("class".into(), class.into());
    view.insert("downlinkDataRate".into(), rate.into());
    view.insert("downlinkFrequency".into(), frequency.into());
    if let Some(tags) = tags {
        view.insert("bss".into(), json!({ "tags": tags }));
    }
    Ok(Checked {
        kind: Kind::Multicast,
        eui: Some(eui),
        sim: None,
        imei: None,
        model: None,
        plan,
        context: None,
        app_servers,
        has_nwk_key: false,
        has_abp_1_1_keys: false,
        has_abp_1_1_key_any: false,
        view,
    })
}

fn check_cellular(obj: &Map<String, Value>, mode: Mode) -> Result<Checked, ApiError> {
    forbid(obj, &LORAWAN_ONLY, "a cellular device")?;
    forbid(obj, &MULTICAST_ONLY, "a cellular device")?;
    forbid(
        obj,
        &["EUI"],
        "a cellular device (the platform assigns the EUI)",
    )?;
    let model = model_id(obj)?;
    let plan = network_subscription(obj, mode, true)?;
    let context =
        match obj.get("networkContext") {
            None => None,
            Some(ctx) => Some(id_of(ctx).ok_or_else(|| {
                ApiError::bad_request("Invalid networkContext: an ID is required")
            })?),
        };
    let imei = opt_str(obj, "enforcedIMEI")?;
    let imei = valid(
        "enforcedIMEI",
        imei,
        is_imei,
        "15 digits with a Luhn check digit",
    )?;
    let imei = imei.map(str::to_owned);
    let sim = match obj.get("sim") {
        None => None,
        Some(sim) => {
            let id = sim
                .get("ID")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("Invalid sim: an ID is required"))?;
            if !(is_iccid(id) || is_eid(id)) {
                return Err(ApiError::bad_request(format!(
                    "Invalid sim.ID: {id} (an ICCID of 19 or 20 digits with a Luhn check digit, or a 32-digit EID)"
                )));
            }
            Some(id.to_owned())
        }
    };
    let imsi_ok = |s: &str| (6..=15).contains(&s.len()) && all_digits(s);
    let imsi = valid("imsi", opt_str(obj, "imsi")?, imsi_ok, "6 to 15 digits")?;
    if imei.is_none() && sim.is_none() {
        return Err(ApiError::bad_request(
            "A cellular device needs enforcedIMEI or sim.ID",
        ));
    }
    let app_servers = app_servers(obj, false)?;
    let mut view = Map::new();
    if let Some(name) = opt_str(obj, "name")? {
        view.insert("name".into(), name.into());
    }
    view.insert("connectivity".into(), "CELLULAR".into());
    admin_fields(obj, &mut view, true)?;
    if let Some(imei) = &imei {
        view.insert("enforcedIMEI".into(), imei.as_str().into());
    }
    if let Some(sim) = &sim {
        view.insert("sim".into(), json!({ "ID": sim, "type": "SINGLE_IMSI" }));
    }
    if let Some(imsi) = imsi {
        view.insert("imsi".into(), imsi.into());
    }
    if let Some(context) = &context {
        view.insert("networkContext".into(), json!({ "ID": context }));
    }
    Ok(Checked {
        kind: Kind::Cellular,
        eui: None,
        sim,
        imei,
        model: Some(model),
        plan,
        context,
        app_servers,
        has_nwk_key: false,
        has_abp_1_1_keys: false,
        has_abp_1_1_key_any: false,
        view,
    })
}

fn base_view(obj: &Map<String, Value>, eui: &str) -> Map<String, Value> {
    let mut view = Map::new();
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| eui.to_owned());
    view.insert("name".into(), name.into());
    view
}

/// `adminLat`, `adminLon`, `customerAdminData` and `motionIndicator` (the OpenAPI file's `Device` schema; a
/// `MulticastGroup` has only `customerAdminData`). A manual location switches `locationType` to manual (0), as
/// "when provided at the creation, the manual location is automatically activated, otherwise the network location
/// is activated by default".
fn admin_fields(
    obj: &Map<String, Value>,
    view: &mut Map<String, Value>,
    unicast: bool,
) -> Result<(), ApiError> {
    if let Some(info) = opt_str(obj, "customerAdminData")? {
        view.insert("customerAdminData".into(), info.into());
    }
    if let Some(domains) = obj.get("domains") {
        view.insert(
            "domains".into(),
            Value::Array(super::tags::domains_of(domains, "domains")?),
        );
    }
    if !unicast {
        return Ok(());
    }
    let mut manual = false;
    for (field, limit) in [("adminLat", 90.0), ("adminLon", 180.0)] {
        match obj.get(field) {
            None => {}
            Some(v) => {
                let degrees = v
                    .as_f64()
                    .filter(|d| (-limit..=limit).contains(d))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Invalid {field}: a number from -{limit} to {limit} is required"
                        ))
                    })?;
                view.insert(field.into(), degrees.into());
                manual = true;
            }
        }
    }
    view.insert("locationType".into(), if manual { 0 } else { 1 }.into());
    const MOTIONS: [&str; 5] = [
        "NEAR_STATIC",
        "WALKING_SPEED",
        "BIKE_SPEED",
        "VEHICLE_SPEED",
        "RANDOM",
    ];
    let motion = opt_str(obj, "motionIndicator")?;
    if let Some(motion) = valid(
        "motionIndicator",
        motion,
        |m| MOTIONS.contains(&m),
        &MOTIONS.join(", "),
    )? {
        view.insert("motionIndicator".into(), motion.into());
    }
    Ok(())
}

fn opt_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid {field}: a string is required"
        ))),
    }
}

fn required_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    opt_str(obj, field)?
        .ok_or_else(|| ApiError::bad_request(format!("Missing mandatory field: {field}")))
}

fn optional_hex(
    obj: &Map<String, Value>,
    field: &str,
    len: usize,
) -> Result<Option<String>, ApiError> {
    match opt_str(obj, field)? {
        None => Ok(None),
        Some(s) if s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(s.to_ascii_uppercase()))
        }
        // The value may be key material: say what is wrong with it, never echo it.
        Some(s) => Err(ApiError::bad_request(format!(
            "Invalid {field}: {len} hexadecimal characters are required, got {}",
            s.len()
        ))),
    }
}

fn required_hex(obj: &Map<String, Value>, field: &str, len: usize) -> Result<String, ApiError> {
    optional_hex(obj, field, len)?
        .ok_or_else(|| ApiError::bad_request(format!("Missing mandatory field: {field}")))
}

fn forbid(obj: &Map<String, Value>, fields: &[&str], what: &str) -> Result<(), ApiError> {
    match fields.iter().find(|f| obj.contains_key(**f)) {
        Some(field) => Err(ApiError::bad_request(format!(
            "Field {field} is not allowed for {what}"
        ))),
        None => Ok(()),
    }
}

fn model_id(obj: &Map<String, Value>) -> Result<String, ApiError> {
    let model = obj
        .get("model")
        .ok_or_else(|| ApiError::bad_request("Missing mandatory field: model"))?;
    id_of(model).ok_or_else(|| ApiError::bad_request("Missing mandatory field: model.ID"))
}

/// The non-empty `ID` of a reference (`{"ID": …}`).
fn id_of(reference: &Value) -> Option<String> {
    let id = reference.get("ID").and_then(Value::as_str);
    id.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The plan an ADVANCED creation names; BASIC takes only the two flags the platform picks a plan with.
fn network_subscription(
    obj: &Map<String, Value>,
    mode: Mode,
    cellular: bool,
) -> Result<Option<String>, ApiError> {
    let sub = match obj.get("networkSubscription") {
        None => None,
        Some(Value::Object(sub)) => Some(sub),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid networkSubscription: an object is required",
            ));
        }
    };
    let id = match sub.and_then(|s| s.get("ID")) {
        None => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid networkSubscription.ID: a string is required",
            ));
        }
    };
    if cellular || mode == Mode::Advanced {
        return id.map(Some).ok_or_else(|| {
            ApiError::bad_request(if cellular {
                "Missing mandatory field: networkSubscription.ID (the connectivity plan)"
            } else {
                "networkSubscriptionsHandlingMode=ADVANCED needs networkSubscription.ID"
            })
        });
    }
    if let Some(sub) = sub {
        for (key, value) in sub {
            match key.as_str() {
                "nwGeolocalization" | "prAllowed" if value.is_boolean() => {}
                "nwGeolocalization" | "prAllowed" => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid networkSubscription.{key}: a boolean is required"
                    )));
                }
                "ID" => {
                    return Err(ApiError::bad_request(
                        "networkSubscription.ID needs networkSubscriptionsHandlingMode=ADVANCED",
                    ));
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Field networkSubscription.{other} is not allowed with networkSubscriptionsHandlingMode=BASIC"
                    )));
                }
            }
        }
    }
    Ok(None)
}

fn app_servers(obj: &Map<String, Value>, required: bool) -> Result<Vec<String>, ApiError> {
    let list = match obj.get("appServers") {
        None if required => {
            return Err(ApiError::bad_request(
                "Missing mandatory field: appServers (the connection)",
            ));
        }
        None => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid appServers: an array is required",
            ));
        }
    };
    if required && list.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid appServers: at least one connection is required",
        ));
    }
    list.iter()
        .map(|entry| {
            id_of(entry)
                .ok_or_else(|| ApiError::bad_request("Invalid appServers: each entry needs an ID"))
        })
        .collect()
}

fn bss_tags(obj: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    let Some(bss) = obj.get("bss") else {
        return Ok(None);
    };
    let tags = bss
        .get("tags")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("Invalid bss: a tags array is required"))?;
    for tag in tags {
        let named = tag
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let spaced = tag
            .get("namespace")
            .and_then(Value::as_str)
            .is_some_and(|s| matches!(s, "OPERATOR" | "SUBSCRIPTION" | "VENDOR"));
        if !named || !spaced {
            return Err(ApiError::bad_request(
                "Invalid bss.tags: each tag needs a name and a namespace (OPERATOR, SUBSCRIPTION or VENDOR)",
            ));
        }
    }
    Ok(Some(Value::Array(tags.clone())))
}

/// `appKeys` is the platform's XML form: `<AppSKeys><AppSKey Port="*">HEX32</AppSKey>…</AppSKeys>`.
fn app_skeys(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let xml = required_str(obj, "appKeys")?;
    if parse_app_skeys(xml) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "Invalid appKeys: <AppSKeys><AppSKey Port=\"*\">32 hexadecimal characters</AppSKey></AppSKeys> is required",
        ))
    }
}

/// The platform's rule for `appKeys`, the one tpbulk reads column F by.
fn parse_app_skeys(xml: &str) -> bool {
    crate::device::AppSKeys::from_xml(xml).is_ok()
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn is_imei(s: &str) -> bool {
    s.len() == 15 && all_digits(s) && luhn_valid(s)
}

pub fn is_iccid(s: &str) -> bool {
    (19..=20).contains(&s.len()) && all_digits(s) && luhn_valid(s)
}

pub fn is_eid(s: &str) -> bool {
    s.len() == 32 && all_digits(s) && mod97(s) == 1
}

/// One stored device: its numeric uid (the `href` and `Location` use it) and what `GET` answers, without keys.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Device {
    pub uid: u64,
    pub view: Map<String, Value>,
}

impl Device {
    pub fn eui(&self) -> &str {
        self.view.get("EUI").and_then(Value::as_str).unwrap_or("")
    }

    fn brief(&self) -> Value {
        let mut brief = Map::new();
        // The OpenAPI file's `DeviceBrief` fields the simulator keeps (no `adminLat`/`adminLon`: a brief has none).
        for field in [
            "name",
            "model",
            "connectivity",
            "activation",
            "EUI",
            "appEUI",
            "creationDate",
            "sim",
            "enforcedIMEI",
            "href",
            "appServers",
            "networkSubscription",
            "adminLat",
            "adminLon",
            "customerAdminData",
            "motionIndicator",
            "domains",
            "nwAddress",
            "occContext",
        ] {
            if let Some(value) = self.view.get(field) {
                brief.insert(field.into(), value.clone());
            }
        }
        // `tags` is required in a `DeviceBrief`.
        brief.insert(
            "tags".into(),
            self.view.get("tags").cloned().unwrap_or_else(|| json!([])),
        );
        Value::Object(brief)
    }

    /// The tags the device has, by name.
    fn has_tag(&self, tag: &str) -> bool {
        self.view
            .get("tags")
            .and_then(Value::as_array)
            .is_some_and(|tags| {
                tags.iter()
                    .any(|t| t.get("name").and_then(Value::as_str) == Some(tag))
            })
    }
}

/// Every device, by EUI (sorted, for the cursor listing), with the indexes the duplicate checks need.
#[derive(Debug, Default)]
pub struct Store {
    devices: BTreeMap<String, Device>,
    by_uid: HashMap<u64, String>,
    by_sim: HashMap<String, String>,
    by_imei: HashMap<String, String>,
    /// Devices held per connectivity plan: what the plan's `used` adds to the catalogue's own count.
    by_plan: HashMap<String, u64>,
    next_uid: u64,
    next_cellular_eui: u64,
}

/// The connectivity plan a device is on.
fn plan_of(view: &Map<String, Value>) -> Option<&str> {
    view.get("networkSubscription")
        .and_then(|s| s.get("ID"))
        .and_then(Value::as_str)
}

/// Counts a device on its plan (`held`), or takes it off.
fn count_on_plan(by_plan: &mut HashMap<String, u64>, view: &Map<String, Value>, held: bool) {
    if let Some(plan) = plan_of(view) {
        let n = by_plan.entry(plan.to_owned()).or_default();
        *n = if held { *n + 1 } else { n.saturating_sub(1) };
    }
}

/// A device's SIM identifier and IMEI, the keys besides its EUI that the store indexes.
fn sim_and_imei(view: &Map<String, Value>) -> (Option<&str>, Option<&str>) {
    let sim = view.get("sim").and_then(|s| s.get("ID"));
    let imei = view.get("enforcedIMEI");
    (sim.and_then(Value::as_str), imei.and_then(Value::as_str))
}

/// The answer to a path that names no device.
pub fn no_device(reference: &str) -> ApiError {
    ApiError::not_found(format!("No device for the given ID : {reference}"))
}

/// `appServers` as a device holds them.
fn server_list(ids: &[String]) -> Value {
    ids.iter().map(|id| json!({ "ID": id })).collect()
}

/// Every connection of `ids` must be in the catalogue.
fn check_app_servers(catalog: &Catalog, ids: &[String]) -> Result<(), ApiError> {
    match ids.iter().find(|id| catalog.app_servers.get(id).is_none()) {
        Some(id) => Err(ApiError::new(
            400,
            225,
            format!("No application server for the given ID : {id}"),
        )),
        None => Ok(()),
    }
}

/// Why a creation did not happen.
pub enum Refusal {
    Invalid(ApiError),
    Duplicate,
}

impl Store {
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Creates a checked device after the catalogue and uniqueness checks; returns the device as created.
    pub fn create(
        &mut self,
        checked: Checked,
        catalog: &Catalog,
        now_ms: i64,
    ) -> Result<&Device, Refusal> {
        check_references(&checked, catalog).map_err(Refusal::Invalid)?;
        if let Some(eui) = &checked.eui
            && self.devices.contains_key(eui)
        {
            return Err(Refusal::Duplicate);
        }
        if checked
            .sim
            .as_ref()
            .is_some_and(|s| self.by_sim.contains_key(s))
            || checked
                .imei
                .as_ref()
                .is_some_and(|i| self.by_imei.contains_key(i))
        {
            return Err(Refusal::Duplicate);
        }
        if let Some(plan) = &checked.plan
            && let Some((used, granted)) = catalog.plan_quota(plan)
            && used + self.on_plan(plan) >= granted
        {
            return Err(Refusal::Invalid(ApiError::new(
                403,
                403,
                format!(
                    "The quota of the connectivity plan {plan} is reached: {granted} devices granted, {} used",
                    used + self.on_plan(plan)
                ),
            )));
        }
        let mut view = checked.view;
        if let Some(model) = &checked.model {
            view.insert("model".into(), catalog.model_brief(model));
        }
        if let Some(plan) = &checked.plan {
            view.insert("networkSubscription".into(), json!({ "ID": plan }));
        }
        if !checked.app_servers.is_empty() {
            view.insert("appServers".into(), server_list(&checked.app_servers));
        }
        view.insert("creationDate".into(), now_ms.into());
        let eui = match checked.eui {
            Some(eui) => eui,
            None => self.assign_cellular_eui(),
        };
        Ok(self.insert(eui, view))
    }

    /// Adds a device without checks: the test hook for "a device that was there before the batch".
    pub fn insert_unchecked(&mut self, body: &Value, now_ms: i64) -> bool {
        let Some(obj) = body.as_object() else {
            return false;
        };
        let mut view = Map::new();
        for (key, value) in obj {
            let secret = matches!(
                key.as_str(),
                "appKey" | "nwkKey" | "nwKey" | "appKeys" | "sNwkSIntKey" | "nwkSEncKey"
            );
            if !secret {
                view.insert(key.clone(), value.clone());
            }
        }
        if let Some(Value::String(sim)) = view.get_mut("sim") {
            // Tolerate `"sim": "8920…"` as shorthand for `{"ID": …}`.
            let id = std::mem::take(sim);
            view.insert("sim".into(), json!({ "ID": id, "type": "SINGLE_IMSI" }));
        }
        let (sim, imei) = sim_and_imei(&view);
        if sim.is_some_and(|s| self.by_sim.contains_key(s))
            || imei.is_some_and(|i| self.by_imei.contains_key(i))
        {
            return false;
        }
        let cellular = sim.is_some() || imei.is_some();
        let eui = match view.get("EUI").and_then(Value::as_str) {
            Some(eui) => eui.to_ascii_uppercase(),
            None if cellular => self.assign_cellular_eui(),
            None => return false,
        };
        if self.devices.contains_key(&eui) {
            return false;
        }
        if !view.contains_key("name") {
            view.insert("name".into(), eui.clone().into());
        }
        view.entry("creationDate").or_insert(now_ms.into());
        self.insert(eui, view);
        true
    }

    fn assign_cellular_eui(&mut self) -> String {
        loop {
            self.next_cellular_eui += 1;
            let eui = format!("F03D29{:010X}", self.next_cellular_eui & 0xFF_FFFF_FFFF);
            if !self.devices.contains_key(&eui) {
                return eui;
            }
        }
    }

    fn insert(&mut self, eui: String, mut view: Map<String, Value>) -> &Device {
        self.next_uid += 1;
        let uid = self.next_uid;
        let created = view.get("creationDate").cloned().unwrap_or(Value::Null);
        view.entry("occContext")
            .or_insert(json!({ "version": 1, "lastUpdate": created, "who": "tpbulk-sim" }));
        view.insert("EUI".into(), eui.clone().into());
        view.insert("href".into(), format!("{DEVICES_PATH}/{uid}").into());
        self.index(uid, &eui, &view);
        self.devices.entry(eui).or_insert(Device { uid, view })
    }

    /// Devices held on a connectivity plan.
    pub fn on_plan(&self, plan: &str) -> u64 {
        self.by_plan.get(plan).copied().unwrap_or(0)
    }

    fn index(&mut self, uid: u64, eui: &str, view: &Map<String, Value>) {
        self.by_uid.insert(uid, eui.to_owned());
        count_on_plan(&mut self.by_plan, view, true);
        let (sim, imei) = sim_and_imei(view);
        if let Some(sim) = sim {
            self.by_sim.insert(sim.to_owned(), eui.to_owned());
        }
        if let Some(imei) = imei {
            self.by_imei.insert(imei.to_owned(), eui.to_owned());
        }
    }

    /// A device by path reference: `e<EUI>` or its numeric uid.
    pub fn find(&self, reference: &str) -> Option<&Device> {
        let eui = self.resolve(reference)?;
        self.devices.get(&eui)
    }

    fn resolve(&self, reference: &str) -> Option<String> {
        if let Some(eui) = reference.strip_prefix('e') {
            Some(eui.to_ascii_uppercase())
        } else {
            self.by_uid.get(&reference.parse::<u64>().ok()?).cloned()
        }
    }

    /// Removes the device a reference names, and hands it back.
    pub fn remove(&mut self, reference: &str) -> Option<Device> {
        let eui = self.resolve(reference)?;
        let device = self.devices.remove(&eui)?;
        self.by_uid.remove(&device.uid);
        let (sim, imei) = sim_and_imei(&device.view);
        if let Some(sim) = sim {
            self.by_sim.remove(sim);
        }
        if let Some(imei) = imei {
            self.by_imei.remove(imei);
        }
        count_on_plan(&mut self.by_plan, &device.view, false);
        Some(device)
    }

    /// What `GET` answers of the device with this EUI, to change fields no index holds (tags, domains).
    pub fn view_mut(&mut self, eui: &str) -> Option<&mut Map<String, Value>> {
        self.devices.get_mut(eui).map(|d| &mut d.view)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Device> {
        self.devices.values()
    }

    /// `PUT /devices/{uid}`: applies the changeable fields of `body` to the device `reference` names. The
    /// `x-updateForbidden` fields are refused (400), and so is a body whose `occContext.version` is not the
    /// device's (409), unless `force`. Every change adds one to the version.
    pub fn update(
        &mut self,
        reference: &str,
        body: &Value,
        force: bool,
        catalog: &Catalog,
        now_ms: i64,
    ) -> Result<&Device, ApiError> {
        let obj = super::object(body)?;
        if let Some(field) = UPDATE_FORBIDDEN.iter().find(|f| obj.contains_key(**f)) {
            return Err(ApiError::bad_request(format!(
                "Field {field} cannot be updated"
            )));
        }
        if let Some(field) = obj
            .keys()
            .find(|k| !UPDATABLE.contains(&k.as_str()) && k.as_str() != "occContext")
        {
            return Err(ApiError::bad_request(format!(
                "Field {field} is not allowed in a device update"
            )));
        }
        let eui = self
            .resolve(reference)
            .filter(|eui| self.devices.contains_key(eui))
            .ok_or_else(|| no_device(reference))?;
        let device = &self.devices[&eui];
        let version = |view: &Map<String, Value>| {
            let occ = view.get("occContext");
            occ.and_then(|o| o.get("version")).and_then(Value::as_u64)
        };
        let current = version(&device.view).unwrap_or(0);
        if !force {
            match version(obj) {
                None => {
                    return Err(ApiError::bad_request(
                        "Missing mandatory field: occContext.version",
                    ));
                }
                Some(v) if v != current => {
                    return Err(ApiError::new(
                        409,
                        409,
                        format!(
                            "The device was changed since it was read (version {v} sent, {current} current); read it \
                             again, or force the update"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let cellular = device.view.get("connectivity").and_then(Value::as_str) == Some("CELLULAR");
        let mut view = device.view.clone();
        let want = if cellular { "CELLULAR" } else { "LORAWAN" };
        if obj.contains_key("model") {
            let id = model_id(obj)?;
            check_model(catalog, &id, want)?;
            view.insert("model".into(), catalog.model_brief(&id));
        }
        if let Some(plan) = obj.get("networkSubscription") {
            let id = plan
                .get("ID")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::bad_request("Invalid networkSubscription: an ID is required")
                })?
                .to_owned();
            if catalog.plan_connectivity(&id) != Some(want) {
                return Err(ApiError::new(
                    400,
                    223,
                    format!("No {want} connectivity plan for the given ID : {id}"),
                ));
            }
            view.insert("networkSubscription".into(), json!({ "ID": id }));
        }
        if obj.contains_key("appServers") {
            let ids = app_servers(obj, false)?;
            check_app_servers(catalog, &ids)?;
            view.insert("appServers".into(), server_list(&ids));
        }
        // `null` clears a free field; the admin fields are checked as at creation.
        let mut admin = Map::new();
        for key in [
            "name",
            "adminLat",
            "adminLon",
            "customerAdminData",
            "motionIndicator",
            "domains",
        ] {
            match obj.get(key) {
                None => {}
                Some(Value::Null) => {
                    view.remove(key);
                }
                Some(value) => {
                    admin.insert(key.into(), value.clone());
                }
            }
        }
        if let Some(name) = admin.remove("name") {
            let name = name
                .as_str()
                .ok_or_else(|| ApiError::bad_request("Invalid name: a string is required"))?;
            view.insert("name".into(), name.into());
        }
        admin_fields(&admin, &mut view, true)?;
        if !admin.contains_key("adminLat") && !admin.contains_key("adminLon") {
            let manual = view.contains_key("adminLat") || view.contains_key("adminLon");
            view.insert("locationType".into(), if manual { 0 } else { 1 }.into());
        }
        view.insert(
            "occContext".into(),
            json!({ "version": current + 1, "lastUpdate": now_ms, "who": "tpbulk-sim" }),
        );
        let device = self.devices.get_mut(&eui).expect("found above");
        let old = std::mem::replace(&mut device.view, view);
        if plan_of(&old) != plan_of(&device.view) {
            count_on_plan(&mut self.by_plan, &old, false);
            count_on_plan(&mut self.by_plan, &device.view, true);
        }
        Ok(device)
    }

    /// For the state file: every device and the counters, so that uids and assigned EUIs stay unique across runs.
    pub fn snapshot(&self) -> StoreSnapshot {
        StoreSnapshot {
            next_uid: self.next_uid,
            next_cellular_eui: self.next_cellular_eui,
            devices: self.devices.values().cloned().collect(),
        }
    }

    pub fn restore(snapshot: StoreSnapshot) -> Store {
        let mut store = Store {
            next_uid: snapshot.next_uid,
            next_cellular_eui: snapshot.next_cellular_eui,
            ..Store::default()
        };
        for device in snapshot.devices {
            let eui = device.eui().to_owned();
            store.next_uid = store.next_uid.max(device.uid);
            store.index(device.uid, &eui, &device.view);
            store.devices.insert(eui, device);
        }
        store
    }

    /// `GET /devices`: the cursor mode (`pageAfter`, sorted by EUI) and the offset mode (`pageIndex`), over the
    /// devices the filters keep; `count` (first page only) is how many they keep.
    pub fn list(&self, query: &ListQuery, now_ms: i64) -> Value {
        let (page, more, count) = {
            let size = query.page_size;
            let mut iter = self.matching(query, query.after.as_deref(), query.desc);
            if query.page_index > 1 {
                iter = Box::new(iter.skip((query.page_index - 1).saturating_mul(size)));
            }
            let mut iter = iter.peekable();
            let page: Vec<&Device> = iter.by_ref().take(size).collect();
            let more = iter.peek().is_some();
            let first = query.after.is_none() && query.page_index <= 1;
            let count = first.then(|| {
                if query.prefixes.is_empty() && !query.filtered() {
                    self.devices.len()
                } else {
                    self.matching(query, None, false).count()
                }
            });
            (page, more, count)
        };
        let last = page.last().map(|d| encode_cursor("EUI", d.eui()));
        let briefs: Vec<Value> = page.iter().map(|d| d.brief()).collect();
        json!({
            "briefs": briefs,
            "more": more,
            "now": now_ms,
            "count": count.map(Value::from).unwrap_or(Value::Null),
            "cursors": { "last": last },
        })
    }

    /// The devices `query`'s prefixes and filters keep, in EUI order (`desc`: reversed), after `after` if given.
    fn matching<'a>(
        &'a self,
        query: &'a ListQuery,
        after: Option<&'a str>,
        desc: bool,
    ) -> Box<dyn Iterator<Item = &'a Device> + 'a> {
        let all = if query.prefixes.is_empty() {
            self.in_order(after, desc)
        } else {
            self.under_prefixes(&query.prefixes, after, desc)
        };
        if query.filtered() {
            Box::new(all.filter(|d| query.keeps(d)))
        } else {
            all
        }
    }

    /// Every device in EUI order, after the cursor's EUI when there is one.
    fn in_order<'a>(
        &'a self,
        after: Option<&str>,
        desc: bool,
    ) -> Box<dyn Iterator<Item = &'a Device> + 'a> {
        use std::ops::Bound::{Excluded, Unbounded};
        match (after, desc) {
            (None, false) => Box::new(self.devices.values()),
            (None, true) => Box::new(self.devices.values().rev()),
            (Some(after), false) => Box::new(
                self.devices
                    .range::<str, _>((Excluded(after), Unbounded))
                    .map(|(_, d)| d),
            ),
            (Some(after), true) => Box::new(
                self.devices
                    .range::<str, _>((Unbounded, Excluded(after)))
                    .rev()
                    .map(|(_, d)| d),
            ),
        }
    }

    /// The devices whose EUI starts with `prefix` (already in capitals), in EUI order, after `after` if given.
    fn prefix_range<'a>(
        &'a self,
        prefix: &'a str,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a Device> + 'a {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let start = match after {
            Some(after) if after >= prefix => Excluded(after.to_owned()),
            _ => Included(prefix.to_owned()),
        };
        self.devices
            .range::<String, _>((start, Unbounded))
            .take_while(move |(eui, _)| eui.starts_with(prefix))
            .map(|(_, d)| d)
    }

    /// The devices under any of `prefixes` (sorted, none a prefix of another: see [`ListQuery::parse`]), in EUI
    /// order: each prefix is one range of the sorted store, and the ranges do not overlap.
    fn under_prefixes<'a>(
        &'a self,
        prefixes: &'a [String],
        after: Option<&'a str>,
        desc: bool,
    ) -> Box<dyn Iterator<Item = &'a Device> + 'a> {
        if desc {
            // Rare (tpbulk never asks it): every device, filtered.
            return Box::new(self.devices.values().rev().filter(move |d| {
                prefixes.iter().any(|p| d.eui().starts_with(p.as_str()))
                    && after.is_none_or(|a| d.eui() < a)
            }));
        }
        Box::new(
            prefixes
                .iter()
                .flat_map(move |p| self.prefix_range(p, after)),
        )
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct StoreSnapshot {
    pub next_uid: u64,
    pub next_cellular_eui: u64,
    pub devices: Vec<Device>,
}

/// A parsed `GET /devices` query.
#[derive(Debug, PartialEq)]
pub struct ListQuery {
    pub desc: bool,
    pub page_size: usize,
    pub after: Option<String>,
    /// Counts from 1.
    pub page_index: usize,
    /// `devEUI` filters (prefix match, repeatable), in capitals, sorted, none a prefix of another.
    pub prefixes: Vec<String>,
    /// `connectivity=LORAWAN|CELLULAR`.
    pub connectivity: Option<String>,
    /// `from`: only devices created on or after this time (milliseconds).
    pub from_ms: Option<i64>,
    /// `tag` (exact match, repeatable): devices with any of these tags.
    pub tags: Vec<String>,
    /// `appServerID`: devices associated with this connection.
    pub app_server: Option<String>,
}

/// The `sort` direction and `pageSize` of a cursor-paginated listing sorted by `key` (`EUI`, `alarmUid`): the
/// parts every such listing reads the same way.
pub fn sort_and_page_size(
    pairs: &[(String, String)],
    key: &str,
) -> Result<(bool, usize), ApiError> {
    let get = |name: &str| query_value(pairs, name);
    let desc = match get("sort") {
        None => false,
        Some(sort) if sort == format!("{key},asc") => false,
        Some(sort) if sort == format!("{key},desc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid sort: {other} ({key},asc or {key},desc)"
            )));
        }
    };
    let page_size = match get("pageSize") {
        None => 100,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("Invalid pageSize: {s} (1 to 1000)")))?,
    };
    Ok((desc, page_size))
}

/// `pageIndex`, 1 when absent: the OpenAPI file's `PageIndex` is "the page at the requested index, starting at 1
/// for the first page", with `minimum: 1`.
pub fn page_index(pairs: &[(String, String)]) -> Result<usize, ApiError> {
    match query_value(pairs, "pageIndex") {
        None => Ok(1),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid pageIndex: {s} (1 or more)"))),
    }
}

/// The first value of a query parameter.
pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl ListQuery {
    pub fn parse(pairs: &[(String, String)]) -> Result<ListQuery, ApiError> {
        let get = |name: &str| query_value(pairs, name);
        let (desc, page_size) = sort_and_page_size(pairs, "EUI")?;
        let page_index = get("pageIndex").map(|_| page_index(pairs)).transpose()?;
        let after = match get("pageAfter") {
            None => None,
            Some(cursor) => {
                if get("sort").is_none() {
                    return Err(ApiError::bad_request(
                        "Cursor pagination (pageAfter) needs sort=EUI,asc or sort=EUI,desc",
                    ));
                }
                if page_index.is_some() {
                    return Err(ApiError::bad_request(
                        "pageAfter and pageIndex cannot be combined",
                    ));
                }
                Some(decode_cursor(cursor, "EUI")?)
            }
        };
        let mut prefixes: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "devEUI")
            .map(|(_, v)| v.trim().to_ascii_uppercase())
            .collect();
        if let Some(bad) = prefixes
            .iter()
            .find(|p| p.is_empty() || p.len() > 16 || !p.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ApiError::bad_request(format!(
                "Invalid devEUI filter: {bad:?} (1 to 16 hexadecimal digits)"
            )));
        }
        prefixes.sort();
        // A prefix that extends a kept one matches nothing more: dropping it keeps the ranges disjoint.
        let mut kept: Vec<String> = Vec::with_capacity(prefixes.len());
        for p in prefixes {
            if !kept.last().is_some_and(|k| p.starts_with(k.as_str())) {
                kept.push(p);
            }
        }
        let connectivity = connectivity(get("connectivity"))?.map(str::to_owned);
        let from_ms = match get("from") {
            None => None,
            Some(s) => Some(
                chrono::DateTime::parse_from_rfc3339(s)
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                            "Invalid from: {s} (ISO 8601 date/time with offset)"
                        ))
                    })?
                    .timestamp_millis(),
            ),
        };
        let tags = pairs
            .iter()
            .filter(|(k, _)| k == "tag")
            .map(|(_, v)| v.clone())
            .collect();
        Ok(ListQuery {
            desc,
            page_size,
            after,
            page_index: page_index.unwrap_or(1),
            prefixes: kept,
            connectivity,
            from_ms,
            tags,
            app_server: get("appServerID").map(str::to_owned),
        })
    }

    /// Whether any filter besides the prefixes is given.
    fn filtered(&self) -> bool {
        self.connectivity.is_some()
            || self.from_ms.is_some()
            || !self.tags.is_empty()
            || self.app_server.is_some()
    }

    /// Whether the `connectivity` and `from` filters keep `device`; a device stored without `connectivity` (a
    /// test insertion) is cellular when it has a SIM or an IMEI.
    fn keeps(&self, device: &Device) -> bool {
        let view = &device.view;
        let connectivity_ok = self.connectivity.as_deref().is_none_or(|wanted| {
            let cellular = match view.get("connectivity").and_then(Value::as_str) {
                Some(c) => c == "CELLULAR",
                None => view.contains_key("sim") || view.contains_key("enforcedIMEI"),
            };
            (wanted == "CELLULAR") == cellular
        });
        let from_ok = self.from_ms.is_none_or(|from| {
            view.get("creationDate")
                .and_then(Value::as_i64)
                .is_some_and(|created| created >= from)
        });
        let tag_ok = self.tags.is_empty() || self.tags.iter().any(|t| device.has_tag(t));
        let server_ok = self.app_server.as_deref().is_none_or(|wanted| {
            view.get("appServers")
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    s.iter()
                        .any(|a| a.get("ID").and_then(Value::as_str) == Some(wanted))
                })
        });
        connectivity_ok && from_ok && tag_ok && server_ok
    }
}

/// The `cursors.last` of a page whose last item has `value` as its `field`: base64 of `{"<field>": "…"}`.
pub fn encode_cursor(field: &str, value: &str) -> Value {
    let cursor = json!({ field: value }).to_string();
    Value::from(base64::engine::general_purpose::STANDARD.encode(cursor))
}

/// Reads a `pageAfter` cursor: base64 of `{"<field>": "…"}`.
pub fn decode_cursor(cursor: &str, field: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request(format!("Invalid pageAfter cursor: {cursor}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor)
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(bad)
}

/// The platform's answer to a model ID in a creation or an update: it must exist and be of the device's
/// connectivity (`want`: `LORAWAN` or `CELLULAR`).
fn check_model(catalog: &Catalog, id: &str, want: &str) -> Result<(), ApiError> {
    match catalog.model_connectivity(id) {
        None => Err(ApiError::new(
            400,
            222,
            format!("No device profile for the given ID : {id}"),
        )),
        Some(have) if have != want => Err(ApiError::bad_request(format!(
            "The device profile {id} is a {have} model, not {want}"
        ))),
        Some(_) => Ok(()),
    }
}

fn check_references(checked: &Checked, catalog: &Catalog) -> Result<(), ApiError> {
    let want = if checked.kind == Kind::Cellular {
        "CELLULAR"
    } else {
        "LORAWAN"
    };
    if let Some(model) = &checked.model {
        check_model(catalog, model, want)?;
        let v11 = catalog.model_is_lorawan_1_1(model);
        match checked.kind {
            Kind::Otaa if v11 && !checked.has_nwk_key => {
                return Err(ApiError::bad_request(format!(
                    "Missing mandatory field: nwkKey (the device profile {model} is LoRaWAN 1.1)"
                )));
            }
            Kind::Otaa if !v11 && checked.has_nwk_key => {
                return Err(ApiError::bad_request(format!(
                    "Field nwkKey is not allowed: the device profile {model} is LoRaWAN 1.0"
                )));
            }
            Kind::Abp if v11 && !checked.has_abp_1_1_keys => {
                return Err(ApiError::bad_request(format!(
                    "Missing mandatory fields: sNwkSIntKey and nwkSEncKey (the device profile {model} is LoRaWAN 1.1)"
                )));
            }
            Kind::Abp if !v11 && checked.has_abp_1_1_key_any => {
                return Err(ApiError::bad_request(format!(
                    "Fields sNwkSIntKey and nwkSEncKey are not allowed: the device profile {model} is LoRaWAN 1.0"
                )));
            }
            Kind::Otaa | Kind::Abp | Kind::Cellular | Kind::Multicast => {}
        }
    }
    if let Some(plan) = &checked.plan {
        match catalog.plan_connectivity(plan) {
            None => {
                return Err(ApiError::new(
                    400,
                    223,
                    format!("No connectivity plan for the given ID : {plan}"),
                ));
            }
            Some(have) if have != want => {
                return Err(ApiError::bad_request(format!(
                    "The connectivity plan {plan} is a {have} plan, not {want}"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(context) = &checked.context
        && catalog.cellular_network_contexts.get(context).is_none()
    {
        return Err(ApiError::new(
            400,
            224,
            format!("No cellular network context for the given ID : {context}"),
        ));
    }
    check_app_servers(catalog, &checked.app_servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_check_their_digits() {
        assert!(is_imei("123456789012347"));
        assert!(!is_imei("123456789012348"));
        assert!(!is_imei("12345678901234"));
        assert!(is_iccid("89208013535718672291"));
        assert!(!is_iccid("89208013535718672292"));
        assert!(is_eid("89049032000001000000012345678901") == is_eid_reference());
        assert!(!is_eid("8904903200000100000001234567890X"));
    }

    fn is_eid_reference() -> bool {
        // The number mod 97 computed another way, so the fold above is checked against an independent reading.
        let n: u128 = "89049032000001000000012345678901".parse().unwrap();
        n % 97 == 1
    }

    #[test]
    fn app_skeys_xml_is_read_strictly() {
        assert!(parse_app_skeys(
            "<AppSKeys><AppSKey Port=\"*\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey></AppSKeys>"
        ));
        assert!(parse_app_skeys(
            "<AppSKeys><AppSKey Port=\"1\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey> <AppSKey Port=\"2\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey></AppSKeys>"
        ));
        assert!(!parse_app_skeys("<AppSKeys></AppSKeys>"));
        assert!(!parse_app_skeys(
            "<AppSKeys><AppSKey Port=\"*\">8D67B0D6359D11ACFC45AD4BB9CE2D4</AppSKey></AppSKeys>"
        ));
        assert!(!parse_app_skeys(
            "<AppSKeys><AppSKey Port=\"0\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey></AppSKeys>"
        ));
        assert!(!parse_app_skeys("8D67B0D6359D11ACFC45AD4BB9CE2D4F"));
    }

    #[test]
    fn list_query_reads_both_modes() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let q = ListQuery::parse(&pairs(&[("sort", "EUI,desc"), ("pageSize", "5")])).unwrap();
        assert_eq!((q.desc, q.page_size, q.page_index), (true, 5, 1));
        let q = ListQuery::parse(&pairs(&[("pageIndex", "3")])).unwrap();
        assert_eq!(q.page_index, 3);
        assert!(ListQuery::parse(&pairs(&[("pageIndex", "0")])).is_err());
        let cursor = base64::engine::general_purpose::STANDARD.encode(r#"{"EUI":"70B3"}"#);
        let q = ListQuery::parse(&pairs(&[("sort", "EUI,asc"), ("pageAfter", &cursor)])).unwrap();
        assert_eq!(q.after.as_deref(), Some("70B3"));
        assert!(ListQuery::parse(&pairs(&[("pageSize", "1001")])).is_err());
        assert!(ListQuery::parse(&pairs(&[("pageSize", "0")])).is_err());
        assert!(ListQuery::parse(&pairs(&[("pageAfter", &cursor)])).is_err());
        assert!(ListQuery::parse(&pairs(&[("sort", "name,asc")])).is_err());
        assert!(ListQuery::parse(&pairs(&[("sort", "EUI,asc"), ("pageAfter", "%%%")])).is_err());
    }
}
