//! The tutorial's request bodies that more than one test file compares against (`/work/shared/reference/`
//! `thingpark-api-tutorial.txt`, cited by line).
#![allow(dead_code)]

use serde_json::{Value, json};

/// Tutorial 215-239: "Adding the device", LoRaWAN OTAA, with the values of 120-124.
pub fn otaa_body() -> Value {
    json!({
        "connectivity": "LORAWAN",
        "activation": "OTAA",
        "EUI": "70B3D5E756000999",
        "model": {"ID": "SMTC/LoRaMoteA.1_EU"},
        "networkSubscription": {"nwGeolocalization": false, "prAllowed": false},
        "appServers": [{"ID": "TWA_199982747.1972.AS"}],
        "name": "My device",
        "appKey": "7374757A3FDD092947CE2DE9321C6040"
    })
}
