//! The columns each kind of row is written with: what the templates hold and what the notes explain.

use super::Kind;
use crate::input::Field;

/// One column of a kind's template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The header written in templates; the input's header aliases read it back as `field`.
    pub header: &'static str,
    pub field: Field,
    pub required: bool,
    /// What the column holds, for the notes sheet.
    pub note: &'static str,
    /// An example value (from the ThingPark tutorial).
    pub example: &'static str,
}

const fn col(
    header: &'static str,
    field: Field,
    required: bool,
    note: &'static str,
    example: &'static str,
) -> ColumnSpec {
    ColumnSpec {
        header,
        field,
        required,
        note,
        example,
    }
}

const NAME: ColumnSpec = col(
    "Name",
    Field::Name,
    false,
    "Device name shown in ThingPark. Free text.",
    "Tracker 0001",
);
const DEV_EUI: ColumnSpec = col(
    "DevEUI",
    Field::DevEui,
    true,
    "LoRaWAN device EUI: 16 hex digits. Spaces, '-', ':' and a 0x prefix are ignored. Unique in the file.",
    "70B3D5E75E000000",
);
const MODEL: ColumnSpec = col(
    "Model",
    Field::Model,
    true,
    "Device model (device profile): its ID or its name as ThingPark lists it.",
    "SMTC/LoRaMoteA.1_EU",
);
const CONNECTION: ColumnSpec = col(
    "Connection",
    Field::Connection,
    true,
    "Application server connection: its ID, its name, or its IoT Flow connection id.",
    "my MQTT application",
);
const PLAN_OPTIONAL: ColumnSpec = col(
    "Connectivity plan",
    Field::Plan,
    false,
    "Connectivity plan (ID or name). When given, the device is created in ADVANCED mode on that plan.",
    "",
);
const DEV_ADDR: ColumnSpec = col(
    "DevAddr",
    Field::DevAddr,
    true,
    "Device address: 8 hex digits.",
    "785D25E2",
);
const NWK_S_KEY: ColumnSpec = col(
    "NwkSKey",
    Field::NwkSKey,
    true,
    "Network session key: 32 hex digits. Secret: keep the file safe.",
    "7374757A3FDD092947CE2DE9321C6040",
);
const APP_S_KEY: ColumnSpec = col(
    "AppSKey",
    Field::AppSKey,
    true,
    "Application session key: 32 hex digits. Secret: keep the file safe.",
    "8D67B0D6359D11ACFC45AD4BB9CE2D4F",
);

const TAGS: ColumnSpec = col(
    "Tags",
    Field::Tags,
    false,
    "Device tags, separated by ';' or '|': each at most 40 characters, no '<' or '>'.",
    "shipment 42",
);
const DOMAINS: ColumnSpec = col(
    "Domains",
    Field::Domains,
    false,
    "Domains, group:name each (one per group), separated by ';' or '|'. The domain must exist on the platform.",
    "",
);

const OTAA: &[ColumnSpec] = &[
    DEV_EUI,
    col(
        "JoinEUI",
        Field::JoinEui,
        false,
        "Join EUI (AppEUI in LoRaWAN 1.0): 16 hex digits.",
        "70B3D5E75F600000",
    ),
    col(
        "AppKey",
        Field::AppKey,
        true,
        "Application root key: 32 hex digits. Secret: keep the file safe.",
        "7374757A3FDD092947CE2DE9321C6040",
    ),
    col(
        "NwkKey",
        Field::NwkKey,
        false,
        "Network root key, LoRaWAN 1.1 models only: 32 hex digits.",
        "",
    ),
    NAME,
    MODEL,
    CONNECTION,
    PLAN_OPTIONAL,
    TAGS,
    DOMAINS,
];

const ABP: &[ColumnSpec] = &[
    DEV_EUI,
    DEV_ADDR,
    NWK_S_KEY,
    APP_S_KEY,
    col(
        "SNwkSIntKey",
        Field::SNwkSIntKey,
        false,
        "LoRaWAN 1.1 only: serving network session integrity key, 32 hex digits.",
        "",
    ),
    col(
        "NwkSEncKey",
        Field::NwkSEncKey,
        false,
        "LoRaWAN 1.1 only: network session encryption key, 32 hex digits.",
        "",
    ),
    NAME,
    MODEL,
    CONNECTION,
    PLAN_OPTIONAL,
    TAGS,
    DOMAINS,
];

const CELLULAR: &[ColumnSpec] = &[
    col(
        "IMEI",
        Field::Imei,
        false,
        "Device IMEI: 15 digits with its Luhn check digit. An IMEI or a SIM is required.",
        "123456789012347",
    ),
    col(
        "SIM",
        Field::Sim,
        false,
        "SIM identifier: an ICCID (19 or 20 digits, Luhn) or an EID (32 digits). Unique in the file.",
        "89208013535718672291",
    ),
    col("IMSI", Field::Imsi, false, "SIM IMSI: 6 to 15 digits.", ""),
    NAME,
    col(
        "Model",
        Field::Model,
        true,
        "Device model (device profile): its ID or its name as ThingPark lists it.",
        "CUSTOM/LTE_Dongle",
    ),
    CONNECTION,
    col(
        "Connectivity plan",
        Field::Plan,
        true,
        "Cellular connectivity plan: its ID or its name.",
        "Cellular CP",
    ),
    col(
        "Network context",
        Field::Context,
        false,
        "Cellular network context: its ID or its name.",
        "My cellular network context",
    ),
    TAGS,
    DOMAINS,
];

const MULTICAST: &[ColumnSpec] = &[
    col(
        "Name",
        Field::Name,
        false,
        "Multicast group name.",
        "My multicast group",
    ),
    DEV_EUI,
    DEV_ADDR,
    NWK_S_KEY,
    APP_S_KEY,
    col("Class", Field::Class, true, "Multicast class: B or C.", "C"),
    col(
        "Data rate",
        Field::DataRate,
        true,
        "Downlink data rate: 0 to 15.",
        "15",
    ),
    col(
        "Frequency",
        Field::Frequency,
        true,
        "Downlink frequency in MHz.",
        "869.525",
    ),
    col(
        "Tags",
        Field::Tags,
        false,
        "Base station tags, separated by ';'.",
        "tag1",
    ),
    CONNECTION,
    DOMAINS,
];

/// The template columns of a kind, in order.
pub fn columns(kind: Kind) -> &'static [ColumnSpec] {
    match kind {
        Kind::Otaa => OTAA,
        Kind::Abp => ABP,
        Kind::Cellular => CELLULAR,
        Kind::Multicast => MULTICAST,
    }
}
