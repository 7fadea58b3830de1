//! The simulator's catalogue: device models, connections (appServers), connectivity plans and cellular network
//! contexts, read from a JSON file or the built-in tutorial examples, plus the connections created at run time.

use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The built-in catalogue: every example of the tutorial, a LoRaWAN 1.1 model and a few neighbours so that paging
/// and name resolution have something to do.
pub const DEFAULT_CATALOG: &str = include_str!("default_catalog.json");

/// One listing of the catalogue, in file order, with an index by `ID`.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    items: Vec<Value>,
    by_id: HashMap<String, usize>,
}

impl Listing {
    fn from_value(section: &str, value: Option<&Value>) -> anyhow::Result<Listing> {
        let mut listing = Listing::default();
        let Some(value) = value else {
            return Ok(listing);
        };
        let items = value
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("catalogue section `{section}` must be an array"))?;
        for (i, item) in items.iter().enumerate() {
            let id = item.get("ID").and_then(Value::as_str).ok_or_else(|| {
                anyhow::anyhow!(
                    "catalogue section `{section}`, entry {}: no string `ID`",
                    i + 1
                )
            })?;
            if listing.by_id.contains_key(id) {
                anyhow::bail!("catalogue section `{section}`: `ID` {id} appears twice");
            }
            listing.push(item.clone());
        }
        Ok(listing)
    }

    pub fn push(&mut self, item: Value) {
        if let Some(id) = item.get("ID").and_then(Value::as_str) {
            self.by_id.insert(id.to_owned(), self.items.len());
        }
        self.items.push(item);
    }

    pub fn get(&self, id: &str) -> Option<&Value> {
        self.by_id.get(id).map(|&i| &self.items[i])
    }

    pub fn items(&self) -> &[Value] {
        &self.items
    }

    /// One page of `page_size` entries (`page_index` counts from 1, as the OpenAPI file's `pageIndex`), keeping only those whose `connectivity` matches when
    /// a filter is given: `{briefs, more}` as the platform answers.
    pub fn page(&self, connectivity: Option<&str>, page_index: usize, page_size: usize) -> Value {
        let matching: Vec<&Value> = self
            .items
            .iter()
            .filter(|item| {
                connectivity.is_none_or(|c| {
                    item.get("connectivity")
                        .and_then(Value::as_str)
                        .is_none_or(|have| have.eq_ignore_ascii_case(c))
                })
            })
            .collect();
        let start = page_index
            .saturating_sub(1)
            .saturating_mul(page_size)
            .min(matching.len());
        let end = start.saturating_add(page_size).min(matching.len());
        json!({ "briefs": &matching[start..end], "more": end < matching.len() })
    }
}

/// The whole catalogue.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub device_profiles: Listing,
    pub app_servers: Listing,
    pub network_subscriptions: Listing,
    pub cellular_network_contexts: Listing,
}

impl Catalog {
    /// Reads a catalogue document: an object with the arrays `deviceProfiles`, `appServers`,
    /// `networkSubscriptions` and `cellularNetworkContexts` (each optional), entries as the platform lists them.
    pub fn from_value(value: &Value) -> anyhow::Result<Catalog> {
        let object = value
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("the catalogue must be a JSON object"))?;
        for key in object.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                anyhow::bail!(
                    "unknown catalogue section `{key}` (expected one of {})",
                    SECTIONS.join(", ")
                );
            }
        }
        Ok(Catalog {
            device_profiles: Listing::from_value(SECTIONS[0], object.get(SECTIONS[0]))?,
            app_servers: Listing::from_value(SECTIONS[1], object.get(SECTIONS[1]))?,
            network_subscriptions: Listing::from_value(SECTIONS[2], object.get(SECTIONS[2]))?,
            cellular_network_contexts: Listing::from_value(SECTIONS[3], object.get(SECTIONS[3]))?,
        })
    }

    pub fn builtin() -> Catalog {
        let value: Value =
            serde_json::from_str(DEFAULT_CATALOG).expect("the built-in catalogue is valid JSON");
        Catalog::from_value(&value).expect("the built-in catalogue is well formed")
    }

    /// The connectivity (`LORAWAN`, `CELLULAR`) of a model, or `None` when the model is unknown.
    pub fn model_connectivity(&self, id: &str) -> Option<&str> {
        self.device_profiles.get(id).map(|m| {
            m.get("connectivity")
                .and_then(Value::as_str)
                .unwrap_or("LORAWAN")
        })
    }

    /// True for a LoRaWAN 1.1 model: `macMinorVersion` 10 or more (the platform numbers every 1.x with
    /// `macMajorVersion` 0).
    pub fn model_is_lorawan_1_1(&self, id: &str) -> bool {
        self.device_profiles.get(id).is_some_and(|m| {
            m.get("macMinorVersion")
                .and_then(Value::as_u64)
                .is_some_and(|minor| minor >= 10)
        })
    }

    pub fn model_brief(&self, id: &str) -> Value {
        let mut brief = Map::new();
        brief.insert("ID".into(), Value::from(id));
        if let Some(name) = self
            .device_profiles
            .get(id)
            .and_then(|m| m.get("commercialName"))
        {
            brief.insert("commercialName".into(), name.clone());
        }
        Value::Object(brief)
    }

    /// A plan's `used` and `granted` as the catalogue gives them, when it gives a quota.
    pub fn plan_quota(&self, id: &str) -> Option<(u64, u64)> {
        let plan = self.network_subscriptions.get(id)?;
        let granted = plan.get("granted").and_then(Value::as_u64)?;
        let used = plan.get("used").and_then(Value::as_u64).unwrap_or(0);
        Some((used, granted))
    }

    pub fn plan_connectivity(&self, id: &str) -> Option<&str> {
        self.network_subscriptions.get(id).map(|p| {
            p.get("connectivity")
                .and_then(Value::as_str)
                .unwrap_or("LORAWAN")
        })
    }
}

const SECTIONS: [&str; 4] = [
    "deviceProfiles",
    "appServers",
    "networkSubscriptions",
    "cellularNetworkContexts",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_holds_the_tutorial_examples() {
        let catalog = Catalog::builtin();
        assert_eq!(
            catalog.model_connectivity("SMTC/LoRaMoteA.1_EU"),
            Some("LORAWAN")
        );
        assert_eq!(
            catalog.model_connectivity("CUSTOM/LTE_Dongle"),
            Some("CELLULAR")
        );
        assert!(catalog.model_is_lorawan_1_1("ACME/Sensor11_EU"));
        assert!(!catalog.model_is_lorawan_1_1("SMTC/LoRaMoteA.1_EU"));
        assert!(catalog.app_servers.get("TWA_199982747.1972.AS").is_some());
        assert_eq!(
            catalog.plan_connectivity("acme-cs/cellular-cp"),
            Some("CELLULAR")
        );
        assert!(catalog.cellular_network_contexts.get("1AF3B").is_some());
    }

    #[test]
    fn pages_follow_the_connectivity_filter() {
        let catalog = Catalog::builtin();
        let first = catalog.device_profiles.page(Some("LORAWAN"), 1, 2);
        assert_eq!(first["briefs"].as_array().unwrap().len(), 2);
        assert_eq!(first["more"], true);
        let last = catalog.device_profiles.page(Some("LORAWAN"), 2, 2);
        assert_eq!(last["briefs"].as_array().unwrap().len(), 2);
        assert_eq!(last["more"], false);
        let beyond = catalog.device_profiles.page(Some("LORAWAN"), 9, 2);
        assert_eq!(beyond["briefs"].as_array().unwrap().len(), 0);
        assert_eq!(beyond["more"], false);
    }

    #[test]
    fn a_catalogue_with_a_repeated_id_is_refused() {
        let value = json!({"deviceProfiles": [{"ID": "a"}, {"ID": "a"}]});
        let err = Catalog::from_value(&value).unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
        let err = Catalog::from_value(&json!({"models": []}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown catalogue section `models`"), "{err}");
    }
}
