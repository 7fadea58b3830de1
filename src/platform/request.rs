//! Creation request bodies, field for field as the tutorial writes them, and their masked form for people.
//!
//! A row without a name gets no `name`: the platform names the device itself, and a name we invented would look
//! like one the shipment gave.

use super::catalog::Resolved;
use crate::device::Kind;
use crate::device::{Device, Ids, McClass};
use serde_json::{Map, Value, json};

/// `networkSubscriptionsHandlingMode` of a creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HandlingMode {
    Basic,
    Advanced,
}

impl HandlingMode {
    /// The query value.
    pub fn as_str(self) -> &'static str {
        match self {
            HandlingMode::Basic => "BASIC",
            HandlingMode::Advanced => "ADVANCED",
        }
    }
}

/// The exact creation request of one device: query mode and JSON body with clear key material. Journalled while
/// the row still needs it; shown only through [`CreateRequest::masked`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CreateRequest {
    pub kind: Kind,
    pub mode: Option<HandlingMode>,
    pub body: serde_json::Value,
}

/// A creation request as it goes on the wire: the body serialised once, so that a worker neither parses nor
/// re-encodes it. Its `Debug` shows no body: the body holds clear keys.
#[derive(Clone)]
pub struct WireRequest {
    pub mode: Option<HandlingMode>,
    pub body: bytes::Bytes,
}

impl std::fmt::Debug for WireRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireRequest")
            .field("mode", &self.mode)
            .field("eui", &self.eui())
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl WireRequest {
    /// From a journalled [`CreateRequest`] (its JSON text): the body is copied as it was written, not re-encoded.
    pub fn from_journal(json: &str) -> Option<WireRequest> {
        #[derive(serde::Deserialize)]
        struct Stored<'a> {
            mode: Option<HandlingMode>,
            #[serde(borrow)]
            body: &'a serde_json::value::RawValue,
        }
        let stored: Stored = serde_json::from_str(json).ok()?;
        Some(WireRequest {
            mode: stored.mode,
            body: bytes::Bytes::copy_from_slice(stored.body.get().as_bytes()),
        })
    }

    /// The body's non-empty `EUI` (LoRaWAN devices; cellular devices get theirs from the platform), read without
    /// building the rest of it. Read only when an answer lacks it: parsing every body again cost a worker 5,000
    /// instructions a row.
    pub fn eui(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Eui {
            #[serde(rename = "EUI")]
            eui: Option<String>,
        }
        serde_json::from_slice::<Eui>(&self.body)
            .ok()?
            .eui
            .filter(|s| !s.is_empty())
    }
}

impl From<&CreateRequest> for WireRequest {
    fn from(request: &CreateRequest) -> WireRequest {
        WireRequest {
            mode: request.mode,
            body: serde_json::to_vec(&request.body)
                .expect("a JSON value always encodes")
                .into(),
        }
    }
}

/// Body fields that carry key material as plain hex.
const KEY_FIELDS: [&str; 5] = ["appKey", "nwkKey", "nwKey", "sNwkSIntKey", "nwkSEncKey"];

impl CreateRequest {
    /// The body with every key masked to its last 4 characters (including inside `appKeys` XML).
    pub fn masked(&self) -> serde_json::Value {
        let mut body = self.body.clone();
        if let Value::Object(map) = &mut body {
            for field in KEY_FIELDS {
                if let Some(Value::String(key)) = map.get_mut(field) {
                    *key = crate::secret::mask(key);
                }
            }
            if let Some(Value::String(xml)) = map.get_mut("appKeys") {
                *xml = mask_app_s_keys(xml);
            }
        }
        body
    }

    /// The request line's path and query under the subscription, e.g.
    /// `/devices?networkSubscriptionsHandlingMode=BASIC`.
    pub fn path(&self) -> String {
        match self.mode {
            Some(mode) => format!(
                "/devices?networkSubscriptionsHandlingMode={}",
                mode.as_str()
            ),
            None => "/devices".to_string(),
        }
    }
}

/// Builds the creation request of a checked, resolved device (the tutorial's field names).
pub fn build_request(device: &Device, resolved: &Resolved) -> CreateRequest {
    let mut body = Map::new();
    let mut put = |k: &str, v: Value| {
        body.insert(k.to_string(), v);
    };
    let app_servers = || {
        let ids = &resolved.connection_ids;
        (!ids.is_empty()).then(|| Value::Array(ids.iter().map(|id| json!({ "ID": id })).collect()))
    };
    let model = || resolved.model_id.as_ref().map(|id| json!({ "ID": id }));
    let lorawan_subscription = || match &resolved.plan_id {
        Some(id) => (HandlingMode::Advanced, json!({ "ID": id })),
        None => {
            let features = device.extras.features.unwrap_or_default();
            (
                HandlingMode::Basic,
                json!({ "nwGeolocalization": features.geolocation, "prAllowed": features.roaming }),
            )
        }
    };
    // The `Device` and `MulticastGroup` schemas take `domains` at creation, so they cost no call of their own;
    // tags are not in either schema, and go by `POST /devices/tags` once the devices exist (`engine`).
    let domains = || {
        let domains = &device.extras.domains;
        (!domains.is_empty()).then(|| {
            Value::Array(
                domains
                    .iter()
                    .map(|d| json!({ "name": d.name, "group": { "name": d.group } }))
                    .collect(),
            )
        })
    };
    // The optional device fields, after the name (the OpenAPI file's `Device` schema names them).
    let extras = |put: &mut dyn FnMut(&str, Value)| {
        let extras = &device.extras;
        if let Some((lat, lon)) = extras.location {
            put("adminLat", json!(lat));
            put("adminLon", json!(lon));
        }
        if let Some(info) = &extras.admin_info {
            put("customerAdminData", json!(info));
        }
        if let Some(motion) = extras.motion {
            put("motionIndicator", json!(motion.as_str()));
        }
        if let Some(domains) = domains() {
            put("domains", domains);
        }
    };
    // The fields every LoRaWAN unicast device starts with, in the tutorial's order.
    let lorawan_head =
        |put: &mut dyn FnMut(&str, Value), activation: &str, dev_eui: &crate::device::Eui| {
            let (mode, subscription) = lorawan_subscription();
            put("connectivity", json!("LORAWAN"));
            put("activation", json!(activation));
            put("EUI", json!(dev_eui.as_str()));
            if let Some(m) = model() {
                put("model", m);
            }
            put("networkSubscription", subscription);
            if let Some(a) = app_servers() {
                put("appServers", a);
            }
            if let Some(name) = &device.name {
                put("name", json!(name));
            }
            extras(put);
            mode
        };
    let mode = match &device.ids {
        Ids::Otaa {
            dev_eui,
            join_eui,
            app_key,
            nwk_key,
            ..
        } => {
            let mode = lorawan_head(&mut put, "OTAA", dev_eui);
            put("appKey", json!(app_key.expose()));
            if let Some(join_eui) = join_eui {
                put("appEUI", json!(join_eui.as_str()));
            }
            if let Some(nwk_key) = nwk_key.as_ref().filter(|_| resolved.lorawan_1_1) {
                put("nwkKey", json!(nwk_key.expose()));
            }
            Some(mode)
        }
        Ids::Abp {
            dev_eui,
            dev_addr,
            nwk_s_key,
            app_s_keys,
            s_nwk_s_int_key,
            nwk_s_enc_key,
        } => {
            let mode = lorawan_head(&mut put, "ABP", dev_eui);
            put("nwAddress", json!(dev_addr.as_str()));
            // In LoRaWAN 1.1 the 1.0 NwkSKey is the FNwkSIntKey, which the platform keeps in `nwKey` as well.
            put("nwKey", json!(nwk_s_key.expose()));
            if let Some(keys) = app_s_keys {
                put("appKeys", json!(keys.expose_xml()));
            }
            if resolved.lorawan_1_1 {
                if let Some(k) = s_nwk_s_int_key {
                    put("sNwkSIntKey", json!(k.expose()));
                }
                if let Some(k) = nwk_s_enc_key {
                    put("nwkSEncKey", json!(k.expose()));
                }
            }
            Some(mode)
        }
        Ids::Cellular { imei, sim, imsi } => {
            put("connectivity", json!("CELLULAR"));
            if let Some(imei) = imei {
                put("enforcedIMEI", json!(imei.as_str()));
            }
            if let Some(m) = model() {
                put("model", m);
            }
            if let Some(plan) = &resolved.plan_id {
                put("networkSubscription", json!({ "ID": plan }));
            }
            if let Some(context) = &resolved.context_id {
                put("networkContext", json!({ "ID": context }));
            }
            if let Some(a) = app_servers() {
                put("appServers", a);
            }
            if let Some(name) = &device.name {
                put("name", json!(name));
            }
            extras(&mut put);
            if let Some(sim) = sim {
                put("sim", json!({ "ID": sim.as_str() }));
            }
            if let Some(imsi) = imsi {
                put("imsi", json!(imsi.as_str()));
            }
            None
        }
        Ids::Multicast {
            dev_eui,
            dev_addr,
            nwk_s_key,
            app_s_keys,
            class,
            data_rate,
            frequency,
            tags,
        } => {
            if let Some(name) = &device.name {
                put("name", json!(name));
            }
            put("EUI", json!(dev_eui.as_str()));
            put("nwAddress", json!(dev_addr.as_str()));
            put("nwKey", json!(nwk_s_key.expose()));
            put("appKeys", json!(app_s_keys.expose_xml()));
            // The only optional field a `MulticastGroup` has of the three (the checks refuse the others), and its domains.
            if let Some(info) = &device.extras.admin_info {
                put("customerAdminData", json!(info));
            }
            if let Some(domains) = domains() {
                put("domains", domains);
            }
            put(
                "class",
                json!(match class {
                    McClass::B => "B",
                    McClass::C => "C",
                }),
            );
            put("downlinkDataRate", json!(data_rate));
            put("downlinkFrequency", json!(frequency));
            if !tags.is_empty() {
                let tags: Vec<Value> = tags
                    .iter()
                    .map(|t| json!({ "name": t, "namespace": "OPERATOR" }))
                    .collect();
                put("bss", json!({ "tags": tags }));
            }
            if let Some(a) = app_servers() {
                put("appServers", a);
            }
            Some(HandlingMode::Basic)
        }
    };
    CreateRequest {
        kind: device.kind(),
        mode,
        body: Value::Object(body),
    }
}

/// Whether a tag call adds its tag to the devices or takes it off (`POST /devices/tags?action=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TagAction {
    Tag,
    Untag,
}

impl TagAction {
    pub fn as_str(self) -> &'static str {
        match self {
            TagAction::Tag => "TAG",
            TagAction::Untag => "UNTAG",
        }
    }
}

/// One `POST /devices/tags` call: one tag, on or off, for at most one listing page of DevEUIs (the OpenAPI file:
/// "The maximum number of DevEUIs is the maximum page size"). Tagging is idempotent: sent twice, it leaves the
/// devices as sent once, so a call whose answer was lost is simply sent again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TagCall {
    pub tag: String,
    pub action: TagAction,
    #[serde(rename = "devEUIs")]
    pub dev_euis: Vec<String>,
}

/// DevEUIs per tag call: the platform's largest page is unpublished, and the 1,000 that listings ask for is
/// the size every ThingPark listing has honoured in public client code.
pub const TAG_PAGE: usize = 1000;

/// Masks the text of every `<AppSKey …>…</AppSKey>` element.
fn mask_app_s_keys(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(open) = rest.find("<AppSKey") {
        // `<AppSKeys>` is the wrapper, not a key.
        let after_name = &rest[open + "<AppSKey".len()..];
        if after_name.starts_with('s') {
            let skip = open + "<AppSKeys".len();
            out.push_str(&rest[..skip]);
            rest = &rest[skip..];
            continue;
        }
        let Some(gt) = rest[open..].find('>') else {
            break;
        };
        let start = open + gt + 1;
        let Some(len) = rest[start..].find("</AppSKey>") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&crate::secret::mask(&rest[start..start + len]));
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_s_keys_are_masked_inside_the_xml() {
        let xml = "<AppSKeys><AppSKey Port=\"*\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey>\
                   <AppSKey Port=\"2\">00000000000000000000000000001234</AppSKey></AppSKeys>";
        assert_eq!(
            mask_app_s_keys(xml),
            "<AppSKeys><AppSKey Port=\"*\">****2D4F</AppSKey>\
             <AppSKey Port=\"2\">****1234</AppSKey></AppSKeys>"
        );
        assert_eq!(mask_app_s_keys("no keys"), "no keys");
    }

    #[test]
    fn path_carries_the_mode() {
        let request = CreateRequest {
            kind: Kind::Otaa,
            mode: Some(HandlingMode::Advanced),
            body: json!({}),
        };
        assert_eq!(
            request.path(),
            "/devices?networkSubscriptionsHandlingMode=ADVANCED"
        );
    }

    #[test]
    fn a_journalled_request_goes_on_the_wire_as_it_was_written() {
        let request = CreateRequest {
            kind: Kind::Cellular,
            mode: Some(HandlingMode::Basic),
            body: json!({"imei": "356936110000010", "name": "dongle \"1\"", "EUI": ""}),
        };
        let journalled = serde_json::to_string(&request).unwrap();
        let wire = WireRequest::from_journal(&journalled).unwrap();
        assert_eq!(wire.mode, Some(HandlingMode::Basic));
        // An empty EUI is no EUI: the platform gives a cellular device its own.
        assert_eq!(wire.eui(), None);
        let sent: Value = serde_json::from_slice(&wire.body).unwrap();
        assert_eq!(sent, request.body);
        assert_eq!(wire.body, WireRequest::from(&request).body);

        let otaa = CreateRequest {
            kind: Kind::Otaa,
            mode: None,
            body: json!({"EUI": "70B3D5E756000001", "appKey": "A4C123B1612DD272D1371C17149D4395"}),
        };
        let wire = WireRequest::from_journal(&serde_json::to_string(&otaa).unwrap()).unwrap();
        assert_eq!(wire.eui().as_deref(), Some("70B3D5E756000001"));
        assert_eq!(wire.mode, None);
        // The body holds a clear key; its Debug does not.
        let shown = format!("{wire:?}");
        assert!(!shown.contains("A4C123B1"), "{shown}");
        assert!(shown.contains("70B3D5E756000001"), "{shown}");

        assert!(WireRequest::from_journal("{\"kind\":\"otaa\"}").is_none());
        assert!(WireRequest::from_journal("not json").is_none());
    }
}
