//! A device as the subscription's listing (`GET /devices`) gives it, in the fields tpbulk's own columns hold: what
//! `export` writes. Keys are not among them: the platform never returns key material.

use crate::device::Kind;
use serde_json::Value;

/// One listed device. References are the platform's IDs (model, connections, plan): an ID always resolves to the
/// one object it names, where a name may match several or be renamed meanwhile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListedDevice {
    pub kind: Option<Kind>,
    /// The DevEUI of a LoRaWAN device; a cellular device's EUI is the platform's own and is not written.
    pub eui: String,
    pub join_eui: Option<String>,
    pub imei: Option<String>,
    pub sim: Option<String>,
    pub name: Option<String>,
    pub model: Option<String>,
    pub connections: Vec<String>,
    pub plan: Option<String>,
    /// `adminLat` and `adminLon` (the manual location), when the listing gives both.
    pub location: Option<(f64, f64)>,
    pub admin_info: Option<String>,
    pub motion: Option<String>,
    pub tags: Vec<String>,
    /// `group:name` each.
    pub domains: Vec<String>,
}

impl ListedDevice {
    /// Reads a listing brief. `None` for what is not a device tpbulk creates (a LoRaWAN entry with neither OTAA
    /// nor ABP activation, as a multicast group is).
    pub fn from_brief(brief: &Value) -> Option<ListedDevice> {
        let text = |v: Option<&Value>| -> Option<String> {
            match v? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let field = |name: &str| text(brief.get(name));
        let kind = match (
            brief.get("connectivity").and_then(Value::as_str),
            brief.get("activation").and_then(Value::as_str),
        ) {
            (Some("CELLULAR"), _) => Kind::Cellular,
            (_, Some("OTAA")) => Kind::Otaa,
            (_, Some("ABP")) => Kind::Abp,
            _ => return None,
        };
        let names = |list: &str, key: &str| -> Vec<String> {
            brief
                .get(list)
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(|i| text(i.get(key))).collect())
                .unwrap_or_default()
        };
        let domains = brief
            .get("domains")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|d| {
                        let group = text(d.pointer("/group/name"))?;
                        Some(format!("{group}:{}", text(d.get("name"))?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let degrees = |name: &str| brief.get(name).and_then(Value::as_f64);
        // Sorted, as a file's are: the platform's order is whatever the calls happened in.
        let mut tags = names("tags", "name");
        tags.sort();
        let mut domains: Vec<String> = domains;
        domains.sort();
        Some(ListedDevice {
            kind: Some(kind),
            eui: match kind {
                Kind::Cellular => String::new(),
                Kind::Otaa | Kind::Abp | Kind::Multicast => {
                    field("EUI").unwrap_or_default().to_ascii_uppercase()
                }
            },
            join_eui: field("appEUI").map(|e| e.to_ascii_uppercase()),
            imei: field("enforcedIMEI"),
            sim: text(brief.pointer("/sim/ID")),
            name: field("name"),
            model: text(brief.pointer("/model/ID")),
            connections: names("appServers", "ID"),
            plan: text(brief.pointer("/networkSubscription/ID")),
            location: degrees("adminLat").zip(degrees("adminLon")),
            admin_info: field("customerAdminData"),
            motion: field("motionIndicator"),
            tags,
            domains,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brief_gives_the_fields_of_tpbulks_columns() {
        let brief = serde_json::json!({
            "EUI": "70b3d5e756000001", "connectivity": "LORAWAN", "activation": "OTAA", "appEUI": "70B3D5E75F600000",
            "name": "pump 1", "model": {"ID": "SMTC/LoRaMoteA.1_EU", "commercialName": "LoRaMote"},
            "appServers": [{"ID": "TWA_1.AS"}, {"ID": "TWA_2.AS"}], "networkSubscription": {"ID": "12"},
            "adminLat": 45.5, "adminLon": -0.25, "customerAdminData": "gate 4", "motionIndicator": "RANDOM",
            "tags": [{"name": "lot 7"}], "domains": [{"name": "France/Paris", "group": {"name": "Site"}}]
        });
        let device = ListedDevice::from_brief(&brief).unwrap();
        assert_eq!(device.kind, Some(Kind::Otaa));
        assert_eq!(device.eui, "70B3D5E756000001");
        assert_eq!(device.connections, ["TWA_1.AS", "TWA_2.AS"]);
        assert_eq!(device.plan.as_deref(), Some("12"));
        assert_eq!(device.location, Some((45.5, -0.25)));
        assert_eq!(device.domains, ["Site:France/Paris"]);
        assert_eq!(device.tags, ["lot 7"]);

        let cellular = serde_json::json!({"EUI": "F03D290000000001", "connectivity": "CELLULAR",
            "enforcedIMEI": "356936110000010", "sim": {"ID": "89331503200000000019"}, "adminLat": 1.0});
        let device = ListedDevice::from_brief(&cellular).unwrap();
        assert_eq!(
            (device.kind, device.eui.as_str()),
            (Some(Kind::Cellular), "")
        );
        assert_eq!(device.sim.as_deref(), Some("89331503200000000019"));
        assert_eq!(device.location, None, "one coordinate is no location");

        let multicast =
            serde_json::json!({"EUI": "70B3D5E756000009", "connectivity": "LORAWAN", "class": "C"});
        assert_eq!(ListedDevice::from_brief(&multicast), None);
    }
}
