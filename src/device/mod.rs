//! Typed, checked device rows. Identifiers are types that can only hold valid values ("parse, don't validate");
//! a row becomes a [`Device`] or the full list of its [`RowError`]s, never half of each.
//!
//! Public contract used by `platform`, `journal`, `engine` and `report` (keep these paths and meanings):
//! `Kind`, `Eui`, `Key`, `AppSKeys`, `DevAddr`, `Imei`, `Iccid`, `Eid`, `SimId`, `Imsi`, `Device`, `Ids`, `Refs`,
//! `Extras`, `Tag`, `Domain`, `RefValue`, `RowError`, `ErrorCode`, `Checker`, `Verdict`.
//!
//! Inside: `ids` (identifier parsers), `damage` (what a spreadsheet did to an identifier), `check` (kinds, required
//! fields, duplicates), `kinds` (the template columns of each kind), `labels` (tags and domains).

mod check;
pub mod damage;
pub mod fast;
pub mod ids;
pub mod kinds;
pub mod labels;

pub use check::{Checked, Checker, Target, is_deletion, parse_kind};
pub use ids::IdError;
pub use labels::{Domain, Tag};

/// The kind of a row, and of the request it makes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Otaa,
    Abp,
    Cellular,
    Multicast,
}

impl Kind {
    /// Every kind: what the journal, the templates and the reports iterate over.
    pub const ALL: [Kind; 4] = [Kind::Otaa, Kind::Abp, Kind::Cellular, Kind::Multicast];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Otaa => "otaa",
            Kind::Abp => "abp",
            Kind::Cellular => "cellular",
            Kind::Multicast => "multicast",
        }
    }

    /// LoRaWAN devices are known by the DevEUI they are created with; cellular ones get their EUI from the platform.
    pub fn is_lorawan(self) -> bool {
        match self {
            Kind::Otaa | Kind::Abp | Kind::Multicast => true,
            Kind::Cellular => false,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(text: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| format!("unknown kind {text:?}"))
    }
}

/// What the platform may know a device by before and after it is created (DevEUI, IMEI, SIM): taken from the typed
/// identifiers when a row is journalled and kept in the journal's own columns, so that reconciliation never reads
/// them back out of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupKeys {
    pub eui: Option<String>,
    pub imei: Option<String>,
    pub sim: Option<String>,
}

impl Ids {
    pub fn lookup_keys(&self) -> LookupKeys {
        match self {
            Ids::Otaa { dev_eui, .. }
            | Ids::Abp { dev_eui, .. }
            | Ids::Multicast { dev_eui, .. } => LookupKeys {
                eui: Some(dev_eui.as_str().to_string()),
                ..LookupKeys::default()
            },
            Ids::Cellular { imei, sim, .. } => LookupKeys {
                eui: None,
                imei: imei.as_ref().map(|i| i.as_str().to_string()),
                sim: sim.as_ref().map(|s| s.as_str().to_string()),
            },
        }
    }
}

/// A DevEUI or JoinEUI: 16 upper-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Eui(String);

/// 128-bit key material (AppKey, NwkKey, NwkSKey, AppSKey, SNwkSIntKey, NwkSEncKey): 32 upper-case hex digits.
/// `Debug` masks it; only [`Key::expose`] gives the clear value, for the request that must carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(String);

/// The AppSKeys of an ABP device or a multicast group: a key per LoRaWAN port set (`*`, `1`, `1,2,3`, `10-20`), as
/// the platform's `appKeys` XML holds them. Every key is a checked [`Key`], so `Debug` masks each one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSKeys(Vec<(String, Key)>);

/// A DevAddr: 8 upper-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DevAddr(String);

/// An IMEI: 15 digits with a valid Luhn check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Imei(String);

/// An ICCID: 19 or 20 digits with a valid Luhn check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iccid(String);

/// An EID: 32 digits, the number mod 97 equal to 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Eid(String);

/// An IMSI: 6 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Imsi(String);

/// The SIM identifier of a cellular device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SimId {
    Iccid(Iccid),
    Eid(Eid),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", crate::secret::mask(&self.0))
    }
}

macro_rules! text_access {
    ($($t:ty),*) => {$(
        impl $t {
            /// The normalised value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
text_access!(Eui, DevAddr, Imei, Iccid, Eid, Imsi);

impl Key {
    /// The clear key, for the request body only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `****` and the last 4 hex digits.
    pub fn masked(&self) -> String {
        crate::secret::mask(&self.0)
    }
}

impl SimId {
    pub fn as_str(&self) -> &str {
        match self {
            SimId::Iccid(i) => i.as_str(),
            SimId::Eid(e) => e.as_str(),
        }
    }
}

/// A device's motion indicator (`motionIndicator`; the device profile's applies when none is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    NearStatic,
    WalkingSpeed,
    BikeSpeed,
    VehicleSpeed,
    Random,
}

impl Motion {
    /// Every value, in the OpenAPI file's order.
    pub const ALL: [Motion; 5] = [
        Motion::NearStatic,
        Motion::WalkingSpeed,
        Motion::BikeSpeed,
        Motion::VehicleSpeed,
        Motion::Random,
    ];

    /// The value the REST API takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Motion::NearStatic => "NEAR_STATIC",
            Motion::WalkingSpeed => "WALKING_SPEED",
            Motion::BikeSpeed => "BIKE_SPEED",
            Motion::VehicleSpeed => "VEHICLE_SPEED",
            Motion::Random => "RANDOM",
        }
    }

    /// Reads `NEAR_STATIC`, `near static`, `Near-Static`, ….
    pub fn parse(text: &str) -> Option<Motion> {
        let key = |s: &str| -> String {
            s.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_uppercase())
                .collect()
        };
        let wanted = key(text);
        Motion::ALL.into_iter().find(|m| key(m.as_str()) == wanted)
    }
}

/// The features a BASIC creation picks its connectivity plan by (`networkSubscription.nwGeolocalization` and
/// `prAllowed`): what ThingPark's import column H lists as `NetworkGeolocation` and `PassiveRoaming`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanFeatures {
    pub geolocation: bool,
    pub roaming: bool,
}

/// What a row sets beyond its identifiers and references; each is sent only when given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extras {
    /// `adminLat` and `adminLon`, given together: the platform then uses the manual location.
    pub location: Option<(f64, f64)>,
    /// `customerAdminData`.
    pub admin_info: Option<String>,
    pub motion: Option<Motion>,
    /// BASIC-mode plan features, when the plan column lists them instead of naming a plan.
    pub features: Option<PlanFeatures>,
    /// The device's tags (a multicast group's base-station tags are in its `Ids`), sorted.
    pub tags: Vec<Tag>,
    /// The body's `domains`, sorted, one per group.
    pub domains: Vec<Domain>,
}

/// A reference to a platform object as the file names it (an ID or a name), with its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefValue {
    pub value: String,
    pub column: String,
}

/// The platform objects a row names; `platform` resolves them to IDs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Refs {
    pub model: Option<RefValue>,
    pub connection: Option<RefValue>,
    pub plan: Option<RefValue>,
    pub context: Option<RefValue>,
}

/// Multicast class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McClass {
    B,
    C,
}

/// The identifiers and keys of a row, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Ids {
    Otaa {
        dev_eui: Eui,
        join_eui: Option<Eui>,
        app_key: Key,
        nwk_key: Option<Key>,
        /// The row gave only a `nwk_key` (ChirpStack v4's place for a LoRaWAN 1.0.x root key): `app_key` is that
        /// key, which a 1.0.x model takes as its AppKey and a 1.1 model refuses (it needs both keys).
        app_key_from_nwk_key: bool,
    },
    Abp {
        dev_eui: Eui,
        dev_addr: DevAddr,
        nwk_s_key: Key,
        /// Optional in ThingPark's import file (column F); required in other files.
        app_s_keys: Option<AppSKeys>,
        /// LoRaWAN 1.1 only.
        s_nwk_s_int_key: Option<Key>,
        /// LoRaWAN 1.1 only.
        nwk_s_enc_key: Option<Key>,
    },
    Cellular {
        imei: Option<Imei>,
        sim: Option<SimId>,
        imsi: Option<Imsi>,
    },
    Multicast {
        dev_eui: Eui,
        dev_addr: DevAddr,
        nwk_s_key: Key,
        app_s_keys: AppSKeys,
        class: McClass,
        data_rate: u8,
        /// MHz.
        frequency: f64,
        tags: Vec<String>,
    },
}

/// A checked row, ready to be resolved and sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub row: u64,
    pub name: Option<String>,
    pub ids: Ids,
    pub refs: Refs,
    pub extras: Extras,
}

impl Device {
    pub fn kind(&self) -> Kind {
        match self.ids {
            Ids::Otaa { .. } => Kind::Otaa,
            Ids::Abp { .. } => Kind::Abp,
            Ids::Cellular { .. } => Kind::Cellular,
            Ids::Multicast { .. } => Kind::Multicast,
        }
    }

    /// The DevEUI, for LoRaWAN kinds.
    pub fn dev_eui(&self) -> Option<&Eui> {
        match &self.ids {
            Ids::Otaa { dev_eui, .. }
            | Ids::Abp { dev_eui, .. }
            | Ids::Multicast { dev_eui, .. } => Some(dev_eui),
            Ids::Cellular { .. } => None,
        }
    }

    /// The row's identifier in reports: the DevEUI, else the IMEI, else the SIM identifier.
    pub fn id(&self) -> String {
        let id = match &self.ids {
            Ids::Cellular { imei, sim, .. } => imei
                .as_ref()
                .map(Imei::as_str)
                .or(sim.as_ref().map(SimId::as_str)),
            _ => self.dev_eui().map(Eui::as_str),
        };
        id.unwrap_or_default().to_string()
    }
}

/// Stable error codes of row checks (the `code` in JSON output).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Missing,
    Hex,
    Length,
    Luhn,
    Checksum,
    ExcelDamage,
    Duplicate,
    UnknownKind,
    /// A value that is not one of the accepted forms (a class, a data rate, a number).
    Invalid,
    /// A model, connection, plan or context that does not resolve (set by `platform`).
    Reference,
    /// Identifiers of a row to delete that match several devices on the platform (set by the engine).
    Ambiguous,
    /// An update asking to change a field the platform never changes (`x-updateForbidden`: the kind's connectivity
    /// or activation, an ABP DevAddr, a cellular IMSI).
    ForbiddenChange,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Missing => "missing",
            ErrorCode::Hex => "hex",
            ErrorCode::Length => "length",
            ErrorCode::Luhn => "luhn",
            ErrorCode::Checksum => "checksum",
            ErrorCode::ExcelDamage => "excel_damage",
            ErrorCode::Duplicate => "duplicate",
            ErrorCode::UnknownKind => "unknown_kind",
            ErrorCode::Invalid => "invalid",
            ErrorCode::Reference => "reference",
            ErrorCode::Ambiguous => "ambiguous",
            ErrorCode::ForbiddenChange => "forbidden_change",
        }
    }
}

/// The `missing` errors that are not the row's fault: a required field that no column (and no `--set`) gives, so
/// that every row of its kind has it. Shown once for the file, above the row errors, not once per row.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MissingColumns {
    /// By field: the rows that need it.
    fields: std::collections::BTreeMap<String, u64>,
}

impl MissingColumns {
    /// True for an error that [`MissingColumns`] stands for: `missing` with no column to name.
    pub fn covers(error: &RowError) -> bool {
        error.code == ErrorCode::Missing && error.column.is_empty()
    }

    /// Counts a row's errors; returns the ones that are the row's own.
    pub fn note<'a>(
        &mut self,
        errors: &'a [RowError],
    ) -> impl Iterator<Item = &'a RowError> + use<'a> {
        for error in errors.iter().filter(|e| Self::covers(e)) {
            // Looked up before inserting: the same few fields come back on every row of a large file.
            match self.fields.get_mut(&error.field) {
                Some(rows) => *rows += 1,
                None => {
                    self.fields.insert(error.field.clone(), 1);
                }
            }
        }
        errors.iter().filter(|e| !Self::covers(e))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// One line per field: what no column gives, how many rows need it, and the `--set` that fills it.
    pub fn lines(&self) -> Vec<String> {
        self.fields
            .iter()
            .map(|(field, rows)| {
                let fill = match crate::input::field_named(field) {
                    Some(f) if !f.is_identifier() && !f.is_secret() => {
                        format!("add a column, or fill every row with --set {field}=VALUE")
                    }
                    _ => "add the column to the file".to_string(),
                };
                format!("{field}: no column gives it and {rows} row(s) need it; {fill}")
            })
            .collect()
    }
}

/// One problem with one field of one row. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowError {
    /// The field's canonical name (`dev_eui`, `app_key`, …), or `row` for the row as a whole.
    pub field: String,
    /// The column as written in the file (or `--set <field>`); empty when the column is missing.
    pub column: String,
    pub code: ErrorCode,
    pub message: String,
}

/// The result of checking one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub row: u64,
    /// The kind the row was read as, when it could be told.
    pub kind: Option<Kind>,
    /// The normalised identifier (DevEUI, else IMEI, else ICCID/EID), when one parsed.
    pub id: Option<String>,
    pub result: Result<Device, Vec<RowError>>,
    /// With `Checker::updating`, for a row whose only errors (if any) are ones a creation would have: what it
    /// gives for a device that exists.
    pub update: Option<Partial>,
}

/// What a row gives for a device that may already exist (`--on-existing update`): its identifiers and the fields
/// an update compares, whether or not it has what a creation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// `None` when the row does not tell its kind (a DevEUI and the columns to change).
    pub kind: Option<Kind>,
    pub keys: LookupKeys,
    pub name: Option<String>,
    pub refs: Refs,
    pub extras: Extras,
    /// The DevAddr of an ABP row and the IMSI of a cellular one: fields the platform refuses to change.
    pub dev_addr: Option<String>,
    pub imsi: Option<String>,
    /// The errors a creation of this row would have (missing keys, model, connection …): the row is invalid only
    /// if its device does not exist.
    pub creation_errors: Vec<RowError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(field: &str, column: &str, code: ErrorCode) -> RowError {
        RowError {
            field: field.into(),
            column: column.into(),
            code,
            message: String::new(),
        }
    }

    #[test]
    fn a_field_no_column_gives_is_counted_for_the_file_not_the_row() {
        let mut missing = MissingColumns::default();
        for _ in 0..3 {
            let errors = [
                error("model", "", ErrorCode::Missing),
                error("app_key", "AppKey", ErrorCode::Missing),
                error("dev_eui", "DevEUI", ErrorCode::Hex),
            ];
            let own: Vec<&str> = missing.note(&errors).map(|e| e.field.as_str()).collect();
            assert_eq!(own, ["app_key", "dev_eui"]);
        }
        missing
            .note(&[error("imei", "", ErrorCode::Missing)])
            .count();
        assert_eq!(
            missing.lines(),
            [
                "imei: no column gives it and 1 row(s) need it; add the column to the file",
                "model: no column gives it and 3 row(s) need it; add a column, or fill every row with --set model=VALUE",
            ]
        );
    }
}
