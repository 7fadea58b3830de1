//! Row checks: a `MappedRow` becomes a `Device` or every one of its `RowError`s. Owns kind detection, the required
//! fields of each kind and duplicate detection across the file.

use super::damage::{identifier_text, is_placeholder};
use super::ids::{IdError, OnboardingTag, is_onboarding_tag};
use super::{
    AppSKeys, DevAddr, Device, Eid, ErrorCode, Eui, Extras, Ids, Imei, Imsi, Key, Kind, LookupKeys,
    McClass, Motion, Partial, PlanFeatures, RefValue, Refs, RowError, SimId, Verdict,
};
use crate::input::{Cell, Field, FieldValue, MappedRow};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hash for identifiers that are already numbers. Shipments hold runs of consecutive identifiers, so the bucket
/// bits keep a key's low bits (neighbours land in neighbouring buckets, which keeps a million-entry table in cache
/// order) mixed with a hash of its high bits (so other runs land elsewhere); the top 7 bits, which the table uses
/// to tell keys apart within a group, come from a hash of the whole key.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 32)).wrapping_mul(MIX);
    x ^ (x >> 29)
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Only bits 20 and up are mixed, and the mix only lands there, so a run of a million consecutive keys keeps
        // its order and, where it crosses a multiple of 2^20, its two parts still take different buckets (their low
        // 20 bits never meet). XOR-ing the mix into the low bits too made them meet, and the table crawl.
        self.0 = (mix(self.0 ^ (n >> 20)) << 20) ^ n;
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64((n >> 64) as u64);
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        // `self.0` is `mix(..) ^ key`: the low bits are the key's own, shuffled by a hash of the rest.
        let key_part = self.0 & ((1 << 57) - 1);
        let tag = mix(self.0.rotate_left(29)) & !((1 << 57) - 1);
        key_part | tag
    }
}

type IdMap<K> = HashMap<K, u32, BuildHasherDefault<IdHasher>>;

/// A 64-bit identifier stored as two `u32`s: with a `u32` row beside it, an entry takes 12 bytes instead of the
/// 16 that a `u64`'s alignment would cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id64([u32; 2]);

impl From<u64> for Id64 {
    fn from(n: u64) -> Id64 {
        Id64([n as u32, (n >> 32) as u32])
    }
}

impl std::hash::Hash for Id64 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.0[0]) | (u64::from(self.0[1]) << 32));
    }
}

/// A 128-bit identifier (an EID) stored as four `u32`s, for the same reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id128([u32; 4]);

impl From<u128> for Id128 {
    fn from(n: u128) -> Id128 {
        Id128([
            n as u32,
            (n >> 32) as u32,
            (n >> 64) as u32,
            (n >> 96) as u32,
        ])
    }
}

impl std::hash::Hash for Id128 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let n = self
            .0
            .iter()
            .rev()
            .fold(0u128, |acc, &w| (acc << 32) | u128::from(w));
        state.write_u128(n);
    }
}

/// The identifiers seen so far and the row each was first seen on. Numbers rather than strings, and the row as
/// `u32`, so that a million rows fit in a few tens of MiB.
#[derive(Debug, Default)]
struct Seen {
    eui: IdMap<Id64>,
    imei: IdMap<Id64>,
    /// ICCIDs of the `89` telecom range, which is nearly all of them, fit in 64 bits once the `89` is dropped.
    iccid: IdMap<Id64>,
    /// EIDs and any other SIM identifier.
    sim: IdMap<Id128>,
}

/// The first row an identifier was seen on, recording `row` when it is new.
fn first_seen<K: std::hash::Hash + Eq>(map: &mut IdMap<K>, key: K, row: u64) -> Option<u64> {
    let row = u32::try_from(row).unwrap_or(u32::MAX);
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(e) => Some(u64::from(*e.get())),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(row);
            None
        }
    }
}

/// Checks rows one after another; remembers identifiers to report duplicates on every later row, naming the first.
#[derive(Debug, Default)]
pub struct Checker {
    forced_kind: Option<Kind>,
    /// ThingPark's positional file: its tables' cardinalities instead of tpbulk's (see [`Checker::positional`]).
    positional: bool,
    /// `--on-existing update`: see [`Checker::updating`].
    updating: bool,
    seen: Seen,
    notes: FileNotes,
}

/// What is said once per file rather than on every row: readings that are right but worth knowing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct FileNotes {
    /// OTAA rows whose AppKey came from the `nwk_key` column (ChirpStack v4's convention for LoRaWAN 1.0.x).
    root_key_in_nwk_key: u64,
    /// Placeholder cells (`0`, `-`, `N/A`, …) read as empty beside an identifier that gives what is needed.
    placeholders: u64,
    /// ICCIDs with hex letters, whose Luhn check was skipped.
    hex_iccids: u64,
    /// OTAA rows with filled session columns, which are ignored; and the first malformed one.
    otaa_sessions: u64,
    first_bad_session: Option<String>,
    /// Valid rows that name no connection, and valid cellular rows that name no network context.
    without_connection: u64,
    cellular_without_context: u64,
}

/// Reads a kind as files write it: `otaa`, `OTAA`, `CREATE_OTAA`, `LoRaWAN OTAA`, `multicast group`, ….
pub fn parse_kind(text: &str) -> Option<Kind> {
    let t: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let t = t.strip_prefix("create").unwrap_or(&t);
    let t = t.strip_prefix("lorawan").unwrap_or(t);
    match t {
        "otaa" => Some(Kind::Otaa),
        "abp" => Some(Kind::Abp),
        "cellular" | "lte" | "ltem" | "nbiot" => Some(Kind::Cellular),
        "multicast" | "multicastgroup" | "mcast" => Some(Kind::Multicast),
        _ => None,
    }
}

/// The identifiers of a cellular device: an IMEI, or a SIM (a SIM column, an ICCID or an EID).
const CELLULAR_IDS: [Field; 4] = [Field::Imei, Field::Sim, Field::Iccid, Field::Eid];

fn unknown_kind(text: &str) -> String {
    format!(
        "kind '{}' is not one of otaa, abp, cellular, multicast",
        text.trim()
    )
}

fn present(row: &MappedRow, field: Field) -> bool {
    row.get(field).is_some_and(|v| !v.cell.is_blank())
}

/// The kind the columns of a row point to. With `filled`, only non-blank cells count, so that a file mixing kinds
/// is read row by row; without, any mapped column counts, so that a blank key reads as missing, not as no kind.
fn kind_from_columns(row: &MappedRow, filled: bool) -> Option<Kind> {
    let has = |f: Field| {
        if filled {
            present(row, f)
        } else {
            row.get(f).is_some()
        }
    };
    if has(Field::AppKey)
        || has(Field::OnboardingTag)
        || (has(Field::NwkKey) && !has(Field::DevAddr))
    {
        Some(Kind::Otaa)
    } else if has(Field::DevAddr) && has(Field::NwkSKey) && has(Field::AppSKey) {
        if has(Field::Class) || has(Field::Frequency) || has(Field::DataRate) {
            Some(Kind::Multicast)
        } else {
            Some(Kind::Abp)
        }
    } else if has(Field::Imei) || has(Field::Sim) || has(Field::Iccid) || has(Field::Eid) {
        Some(Kind::Cellular)
    } else {
        None
    }
}

/// True for a `DELETE` row of ThingPark's positional file (its action column says so).
pub fn is_deletion(row: &MappedRow) -> bool {
    row.get(Field::Kind)
        .is_some_and(|v| v.cell.display().trim().eq_ignore_ascii_case("DELETE"))
}

/// A row that names a device to delete: a row of `tpbulk delete`'s file, or a `DELETE` row of ThingPark's
/// positional file ("only the column B is requested": a DevEUI, or an IMEI for a cellular device).
#[derive(Debug, Clone)]
pub struct Target {
    pub row: u64,
    /// `cellular` for an IMEI or a SIM; a DevEUI's kind only when the row states it (the platform knows the rest).
    pub kind: Option<Kind>,
    /// The normalised identifier (DevEUI, else IMEI, else ICCID/EID), when one parsed.
    pub id: Option<String>,
    /// What the platform knows the device by, or every error of the row.
    pub result: Result<LookupKeys, Vec<RowError>>,
}

/// A row checked as what it asks for: a device to create, or one to delete.
// Handed back by value once per row and matched at once, never stored: boxing the larger variant would cost an
// allocation per row of a million-row file for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Checked {
    Create(Verdict),
    Delete(Target),
}

/// Reads a plan cell that lists only BASIC-mode features (`NetworkGeolocation`, `PassiveRoaming`, separated by
/// commas); `None` when it names a plan.
fn plan_features(text: &str) -> Option<PlanFeatures> {
    let mut features = PlanFeatures::default();
    for token in text
        .split([',', ';'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        match token.to_ascii_lowercase().as_str() {
            "networkgeolocation" => features.geolocation = true,
            "passiveroaming" => features.roaming = true,
            _ => return None,
        }
    }
    Some(features)
}

fn class(text: &str) -> Option<McClass> {
    let t: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match t.strip_prefix("CLASS").unwrap_or(&t) {
        "B" => Some(McClass::B),
        "C" => Some(McClass::C),
        _ => None,
    }
}

fn data_rate(text: &str) -> Option<u8> {
    let t = text.trim();
    let digits = t
        .strip_prefix("DR")
        .or_else(|| t.strip_prefix("dr"))
        .unwrap_or(t)
        .trim();
    digits.parse::<u8>().ok().filter(|dr| *dr <= 15)
}

fn frequency(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    let number = lower.trim_end_matches("mhz").trim().parse::<f64>();
    let f = number.ok().filter(|f| f.is_finite() && *f > 0.0)?;
    // Some files give the frequency in Hz; ThingPark wants MHz.
    Some(if f >= 1.0e6 { f / 1.0e6 } else { f })
}

/// The errors of one row, collected while its fields are read.
struct RowCheck<'a> {
    row: &'a MappedRow,
    kind: Kind,
    positional: bool,
    errors: Vec<RowError>,
    notes: &'a mut FileNotes,
    /// The row's onboarding tag, once read; `Err` when it was given and is malformed (already reported).
    tag: Option<Result<OnboardingTag, ()>>,
    /// The identifiers that parsed, kept even when another field fails so duplicates are still reported.
    dev_eui: Option<Eui>,
    imei: Option<Imei>,
    sim: Option<SimId>,
    /// Fields an update compares with the platform's forbidden ones, kept for [`Partial`].
    dev_addr: Option<DevAddr>,
    imsi: Option<Imsi>,
    /// With [`Checker::updating`]: the missing fields only a creation needs (keys, model, connection, …), apart
    /// from the errors the row has whatever it becomes.
    creation_only: Option<Vec<RowError>>,
}

impl<'a> RowCheck<'a> {
    fn new(
        row: &'a MappedRow,
        kind: Kind,
        positional: bool,
        notes: &'a mut FileNotes,
    ) -> RowCheck<'a> {
        RowCheck {
            row,
            kind,
            positional,
            errors: Vec::new(),
            notes,
            tag: None,
            dev_eui: None,
            imei: None,
            sim: None,
            dev_addr: None,
            imsi: None,
            creation_only: None,
        }
    }

    /// What the platform knows the device by: the identifiers that parsed.
    fn keys(&self) -> LookupKeys {
        LookupKeys {
            eui: self.dev_eui.as_ref().map(|e| e.as_str().to_string()),
            imei: self.imei.as_ref().map(|i| i.as_str().to_string()),
            sim: self.sim.as_ref().map(|s| s.as_str().to_string()),
        }
    }

    /// Two filled columns of one field that disagree: an error naming both (values shown unless secret).
    fn conflicts(&mut self) {
        let conflicts: Vec<(Field, String, String, String, String)> = self
            .row
            .conflicts()
            .map(|(first, other)| {
                (
                    first.field,
                    first.column.to_string(),
                    other.column.to_string(),
                    first.cell.display(),
                    other.cell.display(),
                )
            })
            .collect();
        for (field, first, other, a, b) in conflicts {
            let values = if field.is_secret() {
                String::new()
            } else {
                format!(" ('{}' and '{}')", a.trim(), b.trim())
            };
            self.push(
                field,
                ErrorCode::Invalid,
                format!(
                    "columns \"{first}\" and \"{other}\" both give the {} and differ{values}; empty or correct one \
                     of them",
                    field.name()
                ),
            );
        }
    }

    fn column(&self, field: Field) -> String {
        self.row
            .get(field)
            .map(|v| v.column.to_string())
            .unwrap_or_default()
    }

    fn push(&mut self, field: Field, code: ErrorCode, message: String) {
        let column = self.column(field);
        self.errors.push(RowError {
            field: field.name().to_string(),
            column,
            code,
            message,
        });
    }

    fn missing(&mut self, field: Field, what: &str) {
        let hint = if self.row.get(field).is_some() {
            "the cell is empty".to_string()
        } else {
            format!("no column holds it; add one or --set {}=…", field.name())
        };
        self.push(
            field,
            ErrorCode::Missing,
            format!("{} rows need {what}: {hint}", self.kind.as_str()),
        );
        // The device's identifier is needed by an update too; everything else only by a creation.
        if let Some(creation_only) = &mut self.creation_only
            && field != Field::DevEui
            && !CELLULAR_IDS.contains(&field)
            && let Some(error) = self.errors.pop()
        {
            creation_only.push(error);
        }
    }

    /// True when a placeholder in `field` may be read as empty: the field is optional, or another identifier of
    /// the row gives what its kind needs (an EID of `0` beside a good ICCID).
    fn placeholder_is_empty(&self, field: Field, required: bool) -> bool {
        if CELLULAR_IDS.contains(&field) {
            return CELLULAR_IDS.iter().any(|&other| {
                other != field
                    && self
                        .row
                        .get(other)
                        .is_some_and(|v| !v.cell.is_blank() && !is_placeholder(&v.cell))
            });
        }
        !required
    }

    /// Parses an identifier field; absent is an error only when `required`.
    fn ident<T>(
        &mut self,
        field: Field,
        what: &str,
        required: bool,
        parse: fn(&str) -> Result<T, IdError>,
    ) -> Option<T> {
        let Some(FieldValue { cell, .. }) = self.row.get(field) else {
            if required {
                self.missing(field, what);
            }
            return None;
        };
        if is_placeholder(cell) && self.placeholder_is_empty(field, required) {
            self.notes.placeholders += 1;
            return None;
        }
        let parsed = match identifier_text(field, cell) {
            Ok(None) => {
                if required {
                    self.missing(field, what);
                }
                return None;
            }
            Ok(Some(text)) => parse(&text),
            Err(e) => Err(e),
        };
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e.code, e.message);
                None
            }
        }
    }

    /// A free-text field, trimmed; `None` when blank.
    fn text(&self, field: Field) -> Option<String> {
        let v = self.row.get(field)?;
        let text = match &v.cell {
            crate::input::Cell::Text(s) => s.trim().to_string(),
            other => other.display().trim().to_string(),
        };
        (!text.is_empty()).then_some(text)
    }

    fn reference(&mut self, field: Field, what: &str, required: bool) -> Option<RefValue> {
        match self.text(field) {
            Some(value) => Some(RefValue {
                value,
                column: self.column(field),
            }),
            None => {
                if required {
                    self.missing(field, what);
                }
                None
            }
        }
    }

    /// The references, and the BASIC-mode features a LoRaWAN plan column may list instead of naming a plan
    /// (ThingPark's import column H: "a comma-separated list of features … 'NetworkGeolocation' and
    /// 'PassiveRoaming'").
    fn refs(&mut self) -> (Refs, Option<PlanFeatures>) {
        // A cellular plan stays required even where the import table calls it optional (H): the tutorial, which
        // is primary, says a device without one "is suspended".
        let (model_required, plan_required) = match self.kind {
            Kind::Otaa | Kind::Abp => (true, false),
            Kind::Cellular => (true, true),
            Kind::Multicast => (false, false),
        };
        let features = match self.kind {
            Kind::Otaa | Kind::Abp => self.text(Field::Plan).and_then(|t| plan_features(&t)),
            Kind::Cellular | Kind::Multicast => None,
        };
        let plan = match features {
            Some(_) => None,
            None => self.reference(Field::Plan, "the connectivity plan", plan_required),
        };
        // The import tables make the application servers (T) optional; the platform then creates a device that
        // forwards nothing, which `Checker::notes` says once per file.
        let connection_required = !self.positional;
        let refs = Refs {
            model: self.reference(Field::Model, "the device model", model_required),
            connection: self.reference(Field::Connection, "the connection", connection_required),
            plan,
            context: self.reference(Field::Context, "the network context", false),
        };
        (refs, features)
    }

    /// A coordinate in degrees within ±`limit`; a decimal comma is read as a point.
    fn degrees(&mut self, field: Field, what: &str, limit: f64) -> Option<f64> {
        let text = self.text(field)?;
        let number = if text.contains('.') {
            text.clone()
        } else {
            text.replacen(',', ".", 1)
        };
        match number.parse::<f64>() {
            Ok(v) if v.is_finite() && (-limit..=limit).contains(&v) => Some(v),
            _ => {
                self.push(
                    field,
                    ErrorCode::Invalid,
                    format!("{what} '{text}' is not a number of degrees from -{limit} to {limit}"),
                );
                None
            }
        }
    }

    /// The optional fields with a REST body field: admin location, admin info, motion indicator.
    fn extras(&mut self, features: Option<PlanFeatures>) -> Extras {
        let lat = self.degrees(Field::Latitude, "latitude", 90.0);
        let lon = self.degrees(Field::Longitude, "longitude", 180.0);
        let (has_lat, has_lon) = (
            present(self.row, Field::Latitude),
            present(self.row, Field::Longitude),
        );
        if has_lat != has_lon {
            let (field, what) = if has_lat {
                (Field::Longitude, "the longitude")
            } else {
                (Field::Latitude, "the latitude")
            };
            self.push(
                field,
                ErrorCode::Missing,
                format!("a manual location needs both coordinates: {what} is missing"),
            );
        }
        let motion = self.text(Field::Motion).and_then(|text| {
            let motion = Motion::parse(&text);
            if motion.is_none() {
                let values: Vec<&str> = Motion::ALL.iter().map(|m| m.as_str()).collect();
                self.push(
                    Field::Motion,
                    ErrorCode::Invalid,
                    format!(
                        "motion indicator '{text}' is not one of {}",
                        values.join(", ")
                    ),
                );
            }
            motion
        });
        let location = lat.zip(lon);
        // A multicast group has admin data but no location or motion in the OpenAPI file's MulticastGroup.
        if self.kind == Kind::Multicast {
            for field in [Field::Latitude, Field::Longitude, Field::Motion] {
                if present(self.row, field) {
                    self.push(
                        field,
                        ErrorCode::Invalid,
                        format!(
                            "a multicast group has no {}: leave the column empty",
                            field.name()
                        ),
                    );
                }
            }
        }
        // A multicast group's `Tags` are its base-station tags, read with its identifiers.
        let tags = match self.kind {
            Kind::Multicast => Vec::new(),
            Kind::Otaa | Kind::Abp | Kind::Cellular => {
                self.labels(Field::Tags, super::labels::tags)
            }
        };
        Extras {
            location,
            admin_info: self.text(Field::AdminInfo),
            motion,
            features,
            tags,
            domains: self.labels(Field::Domains, super::labels::domains),
        }
    }

    /// The tags or domains of a cell; each malformed one is an error of the row, on its column.
    fn labels<T>(
        &mut self,
        field: Field,
        parse: fn(&str) -> Result<Vec<T>, Vec<String>>,
    ) -> Vec<T> {
        let Some(text) = self.text(field) else {
            return Vec::new();
        };
        parse(&text).unwrap_or_else(|errors| {
            for message in errors {
                self.push(field, ErrorCode::Invalid, message);
            }
            Vec::new()
        })
    }

    /// A required value of a multicast group, read by `parse`; when it fails, an error that it is not `expected`.
    fn required<T>(
        &mut self,
        field: Field,
        what: &str,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<T> {
        let Some(text) = self.text(field) else {
            self.missing(field, what);
            return None;
        };
        let value = parse(&text);
        if value.is_none() {
            let what = what.strip_prefix("the ").unwrap_or(what);
            let message = format!("{what} '{text}' is not {expected}");
            self.push(field, ErrorCode::Invalid, message);
        }
        value
    }

    fn tags(&self) -> Vec<String> {
        self.text(Field::Tags)
            .map(|t| {
                t.split([';', ','])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The row's onboarding tag: its own column, else a DevEUI cell that holds one. A malformed tag is reported
    /// once, on the column that holds it.
    fn onboarding_tag(&mut self) -> Option<&OnboardingTag> {
        if self.tag.is_none() {
            let source = [Field::OnboardingTag, Field::DevEui]
                .into_iter()
                .find_map(|field| {
                    let v = self.row.get(field)?;
                    let Cell::Text(text) = &v.cell else {
                        return None;
                    };
                    let given = match field {
                        Field::DevEui => is_onboarding_tag(text),
                        _ => !text.trim().is_empty(),
                    };
                    given.then(|| (field, text.clone()))
                });
            self.tag = source.map(|(field, text)| {
                OnboardingTag::parse(&text).map_err(|e| self.push(field, e.code, e.message))
            });
        }
        self.tag.as_ref().and_then(|t| t.as_ref().ok())
    }

    /// A DevEUI or JoinEUI: its own column, else the onboarding tag's; both given and different is an error.
    fn eui(&mut self, field: Field, what: &str, required: bool) -> Option<Eui> {
        let from_tag = self.onboarding_tag().map(|t| match field {
            Field::JoinEui => t.join_eui.clone(),
            _ => t.dev_eui.clone(),
        });
        let tag_failed = matches!(self.tag, Some(Err(())));
        let cell_is_tag = self
            .row
            .get(field)
            .is_some_and(|v| matches!(&v.cell, Cell::Text(t) if is_onboarding_tag(t)));
        if cell_is_tag {
            return from_tag;
        }
        let own = self.ident(
            field,
            what,
            required && from_tag.is_none() && !tag_failed,
            Eui::parse,
        );
        match (own, from_tag) {
            (Some(own), Some(tag)) if own != tag => {
                self.push(
                    field,
                    ErrorCode::Invalid,
                    format!(
                        "{what} {own} differs from the onboarding tag's {tag}; keep the right one"
                    ),
                );
                None
            }
            (own, tag) => own.or(tag),
        }
    }

    /// Session columns on an OTAA row: a device that joins gets its session from the join, so they are ignored,
    /// said once per file, naming the first malformed one.
    fn ignored_session(&mut self) {
        const SESSION: [(Field, &str); 5] = [
            (Field::DevAddr, "DevAddr"),
            (Field::NwkSKey, "NwkSKey"),
            (Field::AppSKey, "AppSKey"),
            (Field::SNwkSIntKey, "SNwkSIntKey"),
            (Field::NwkSEncKey, "NwkSEncKey"),
        ];
        let mut filled = false;
        for (field, label) in SESSION {
            let Some(v) = self
                .row
                .get(field)
                .filter(|v| !v.cell.is_blank() && !is_placeholder(&v.cell))
            else {
                continue;
            };
            filled = true;
            let parsed = identifier_text(field, &v.cell).and_then(|text| {
                let text = text.unwrap_or_default();
                match field {
                    Field::DevAddr => DevAddr::parse(&text).map(drop),
                    _ => Key::parse(&text).map(drop),
                }
            });
            if let Err(e) = parsed
                && self.notes.first_bad_session.is_none()
            {
                self.notes.first_bad_session = Some(format!(
                    "row {}, column \"{}\": the {label} is malformed ({}); it is ignored with the rest of the \
                     session columns, but check the file",
                    self.row.row, v.column, e.message
                ));
            }
        }
        if filled {
            self.notes.otaa_sessions += 1;
        }
    }

    /// The session of an ABP device or a multicast group. `app_s_keys_required`: the ABP table makes column F
    /// optional, the multicast body needs it.
    fn lorawan_session(
        &mut self,
        app_s_keys_required: bool,
    ) -> (Option<Eui>, Option<DevAddr>, Option<Key>, Option<AppSKeys>) {
        let dev_eui = self.eui(Field::DevEui, "the DevEUI", true);
        self.dev_eui.clone_from(&dev_eui);
        let dev_addr = self.ident(Field::DevAddr, "the DevAddr", true, DevAddr::parse);
        self.dev_addr.clone_from(&dev_addr);
        (
            dev_eui,
            dev_addr,
            self.ident(Field::NwkSKey, "the NwkSKey", true, Key::parse),
            self.ident(
                Field::AppSKey,
                "the AppSKey",
                app_s_keys_required,
                AppSKeys::parse,
            ),
        )
    }

    fn ids(&mut self) -> Option<Ids> {
        match self.kind {
            Kind::Otaa => {
                let dev_eui = self.eui(Field::DevEui, "the DevEUI", true);
                self.dev_eui.clone_from(&dev_eui);
                let join_eui = self.eui(Field::JoinEui, "the JoinEUI", false);
                // ChirpStack v4 keeps a LoRaWAN 1.0.x device's root key in `nwk_key`, with no `app_key`: the key
                // then stands for the AppKey, and the model's version decides (see `Ids::Otaa`).
                let nwk_key_only =
                    !present(self.row, Field::AppKey) && present(self.row, Field::NwkKey);
                let app_key = self.ident(Field::AppKey, "the AppKey", !nwk_key_only, Key::parse);
                let nwk_key = self.ident(Field::NwkKey, "the NwkKey", false, Key::parse);
                let app_key_from_nwk_key = app_key.is_none() && nwk_key.is_some();
                if app_key_from_nwk_key {
                    self.notes.root_key_in_nwk_key += 1;
                }
                self.ignored_session();
                Some(Ids::Otaa {
                    dev_eui: dev_eui?,
                    join_eui,
                    app_key: app_key.or_else(|| nwk_key.clone())?,
                    nwk_key,
                    app_key_from_nwk_key,
                })
            }
            Kind::Abp => {
                let (dev_eui, dev_addr, nwk_s_key, app_s_keys) =
                    self.lorawan_session(!self.positional);
                let s_nwk_s_int_key =
                    self.ident(Field::SNwkSIntKey, "the SNwkSIntKey", false, Key::parse);
                let nwk_s_enc_key =
                    self.ident(Field::NwkSEncKey, "the NwkSEncKey", false, Key::parse);
                let app_s_keys = match app_s_keys {
                    Some(keys) => Some(keys),
                    None if present(self.row, Field::AppSKey) || !self.positional => return None,
                    None => None,
                };
                Some(Ids::Abp {
                    dev_eui: dev_eui?,
                    dev_addr: dev_addr?,
                    nwk_s_key: nwk_s_key?,
                    app_s_keys,
                    s_nwk_s_int_key,
                    nwk_s_enc_key,
                })
            }
            Kind::Cellular => {
                // The cellular import table makes the IMEI (B) and the IMSI (C) mandatory.
                let imei = self.ident(Field::Imei, "the IMEI", self.positional, Imei::parse);
                let sim = self.ident(Field::Sim, "the SIM identifier", false, SimId::parse);
                // The tutorial: the SIM identifier "could be either an ICCID or an eID", whatever the column says.
                let iccid = self.ident(Field::Iccid, "the ICCID", false, SimId::parse);
                let eid = self.ident(Field::Eid, "the EID", false, Eid::parse);
                let imsi = self.ident(Field::Imsi, "the IMSI", self.positional, Imsi::parse);
                self.imsi.clone_from(&imsi);
                let sim = sim.or(iccid).or(eid.map(SimId::Eid));
                if sim.as_ref().is_some_and(SimId::has_hex_letters) {
                    self.notes.hex_iccids += 1;
                }
                self.imei.clone_from(&imei);
                self.sim.clone_from(&sim);
                let any_given = CELLULAR_IDS.iter().any(|&f| {
                    self.row
                        .get(f)
                        .is_some_and(|v| !v.cell.is_blank() && !is_placeholder(&v.cell))
                        || (present(self.row, f) && !self.placeholder_is_empty(f, true))
                });
                if !any_given && !self.positional {
                    let field = CELLULAR_IDS
                        .into_iter()
                        .find(|&f| self.row.get(f).is_some())
                        .unwrap_or(Field::Imei);
                    self.push(
                        field,
                        ErrorCode::Missing,
                        "the IMEI and the SIM identifier are both missing: cellular rows need one of them \
                         (an IMEI, or an ICCID/EID)"
                            .to_string(),
                    );
                }
                if imei.is_none() && sim.is_none() {
                    return None;
                }
                Some(Ids::Cellular { imei, sim, imsi })
            }
            Kind::Multicast => {
                let (dev_eui, dev_addr, nwk_s_key, app_s_keys) = self.lorawan_session(true);
                let class = self.required(Field::Class, "the multicast class", class, "B or C");
                let data_rate = self.required(
                    Field::DataRate,
                    "the downlink data rate",
                    data_rate,
                    "a data rate from 0 to 15",
                );
                let frequency = self.required(
                    Field::Frequency,
                    "the downlink frequency",
                    frequency,
                    "a frequency in MHz (e.g. 869.525)",
                );
                Some(Ids::Multicast {
                    dev_eui: dev_eui?,
                    dev_addr: dev_addr?,
                    nwk_s_key: nwk_s_key?,
                    app_s_keys: app_s_keys?,
                    class: class?,
                    data_rate: data_rate?,
                    frequency: frequency?,
                    tags: self.tags(),
                })
            }
        }
    }
}

impl Checker {
    pub fn new(forced_kind: Option<Kind>) -> Checker {
        Checker {
            forced_kind,
            ..Checker::default()
        }
    }

    /// Rows of ThingPark's positional import file, checked with the cardinalities of its tables (OpenAPI file,
    /// `/devices/import`): the application servers (T) and the ABP AppSKeys (F) optional; a cellular row's IMEI (B)
    /// and IMSI (C) mandatory.
    pub fn positional(mut self, positional: bool) -> Checker {
        self.positional = positional;
        self
    }

    /// `--on-existing update`: a row may be an update of a device that exists, which needs only the device's
    /// identifier and the columns to change. The missing fields only a creation needs are kept apart
    /// ([`Partial::creation_errors`]), a row whose kind its columns do not tell is read as LoRaWAN when it has a
    /// DevEUI, and each verdict without other errors carries its [`Partial`].
    pub fn updating(mut self, updating: bool) -> Checker {
        self.updating = updating;
        self
    }

    /// What this file's rows so far call for saying once: notes for the summary, in a stable order.
    pub fn notes(&self) -> Vec<String> {
        let n = &self.notes;
        let mut notes = Vec::new();
        if n.root_key_in_nwk_key > 0 {
            notes.push(format!(
                "{} OTAA rows have a nwk_key and no app_key (ChirpStack v4 keeps a LoRaWAN 1.0.x root key \
                 there): the key is their AppKey on a 1.0.x model; a LoRaWAN 1.1 model needs the AppKey too",
                n.root_key_in_nwk_key
            ));
        }
        if n.placeholders > 0 {
            notes.push(format!(
                "{} placeholder cells (0, -, N/A, none, null) in identifier columns were read as empty, another \
                 identifier of their row giving what is needed",
                n.placeholders
            ));
        }
        if n.hex_iccids > 0 {
            notes.push(format!(
                "{} ICCIDs hold hex letters (as some operators issue them): accepted as 19-20 hex digits \
                 starting with 89, without the Luhn check, which only applies to digits",
                n.hex_iccids
            ));
        }
        if n.otaa_sessions > 0 {
            notes.push(format!(
                "{} OTAA rows fill session columns (DevAddr, session keys): ignored, since a device that joins \
                 gets its session from the join",
                n.otaa_sessions
            ));
        }
        if let Some(bad) = &n.first_bad_session {
            notes.push(bad.clone());
        }
        if n.without_connection > 0 {
            notes.push(format!(
                "{} row(s) name no connection (application server): the platform creates those devices, but \
                 they forward no uplinks until a connection is added",
                n.without_connection
            ));
        }
        if n.cellular_without_context > 0 {
            notes.push(format!(
                "{} cellular row(s) name no network context (no context column, no --set context=…, or an empty \
                 column I): the platform accepts them, but the tutorial says a network context \"is mandatory \
                 to enable the communication with application servers using message or direct IP mode\"",
                n.cellular_without_context
            ));
        }
        notes
    }

    /// The row's kind: its own kind column, else `--kind`, else what its columns show.
    fn kind_of(&self, row: &MappedRow) -> Result<Kind, RowError> {
        if let Some(v) = row.get(Field::Kind).filter(|v| !v.cell.is_blank()) {
            let text = v.cell.display();
            return parse_kind(&text).ok_or_else(|| RowError {
                field: Field::Kind.name().to_string(),
                column: v.column.to_string(),
                code: ErrorCode::UnknownKind,
                message: unknown_kind(&text),
            });
        }
        self.forced_kind
            .or_else(|| kind_from_columns(row, true))
            .or_else(|| kind_from_columns(row, false))
            .ok_or_else(|| RowError {
                field: Field::Kind.name().to_string(),
                column: String::new(),
                code: ErrorCode::UnknownKind,
                message: "the row's kind cannot be told: it has no AppKey (otaa), no DevAddr with session keys \
                          (abp), no IMEI or SIM (cellular); give a kind column or --kind"
                    .to_string(),
            })
    }

    /// Checks one mapped row: every error of the row, not only the first.
    pub fn check(&mut self, row: &MappedRow) -> Verdict {
        let (kind, unknown_kind) = match self.kind_of(row) {
            Ok(kind) => (kind, None),
            // An update names its device by DevEUI and need not say more.
            Err(e) if self.updating && present(row, Field::DevEui) => (Kind::Otaa, Some(e)),
            Err(e) => {
                return Verdict {
                    row: row.row,
                    kind: None,
                    id: None,
                    result: Err(vec![e]),
                    update: None,
                };
            }
        };
        let creation_only = self
            .updating
            .then(|| unknown_kind.clone().into_iter().collect());
        let mut check = RowCheck::new(row, kind, self.positional, &mut self.notes);
        check.creation_only = creation_only;
        check.conflicts();
        let ids = check.ids();
        let (refs, features) = check.refs();
        let extras = check.extras(features);
        let name = check
            .text(Field::Name)
            .or_else(|| check.onboarding_tag().and_then(|t| t.serial_number.clone()));
        // Before the duplicate check takes the identifiers.
        let keys = check.keys();
        let id = self.seen.note_duplicates(&mut check);
        let creation_only = check.creation_only.take().unwrap_or_default();
        let update = (self.updating && check.errors.is_empty()).then(|| Partial {
            kind: unknown_kind.is_none().then_some(kind),
            keys,
            name: name.clone(),
            refs: refs.clone(),
            extras: extras.clone(),
            dev_addr: check.dev_addr.as_ref().map(|a| a.as_str().to_string()),
            imsi: check.imsi.as_ref().map(|i| i.as_str().to_string()),
            creation_errors: creation_only.clone(),
        });
        // A row with errors of its own is invalid whatever its device: only a row that would create is told what a
        // creation needs.
        if check.errors.is_empty() {
            check.errors.extend(creation_only);
        }
        let result = match ids {
            Some(ids) if check.errors.is_empty() => {
                self.notes.without_connection += u64::from(refs.connection.is_none());
                // A header file's context column, even with empty cells, is a choice the file made; a positional
                // file always has column I, so there an empty cell is what counts.
                let no_context = if self.positional {
                    refs.context.is_none()
                } else {
                    row.get(Field::Context).is_none()
                };
                self.notes.cellular_without_context +=
                    u64::from(kind == Kind::Cellular && no_context);
                Ok(Device {
                    row: row.row,
                    name,
                    ids,
                    refs,
                    extras,
                })
            }
            _ => Err(check.errors),
        };
        Verdict {
            row: row.row,
            kind: Some(kind),
            id,
            result,
            update,
        }
    }

    /// Checks a row as what it asks for: in ThingPark's positional file a `DELETE` row names a device to delete
    /// (only there: elsewhere a kind column saying `DELETE` is an unknown kind, never a deletion).
    pub fn check_row(&mut self, row: &MappedRow) -> Checked {
        if self.positional && is_deletion(row) {
            Checked::Delete(self.target(row))
        } else {
            Checked::Create(self.check(row))
        }
    }

    /// Checks a row as naming one device to delete: a DevEUI, or an IMEI and/or a SIM identifier (ICCID/EID). Only
    /// the identifiers are read (what creating a device needs does not apply); a row naming none, a bad one, or
    /// both a DevEUI and a cellular identifier is an error naming its column, never a guess; a device named on an
    /// earlier row is a duplicate, as in an import.
    pub fn target(&mut self, row: &MappedRow) -> Target {
        let stated = row
            .get(Field::Kind)
            .filter(|v| !v.cell.is_blank() && !is_deletion(row))
            .map(|v| (parse_kind(&v.cell.display()), v));
        let mut check = RowCheck::new(row, Kind::Otaa, self.positional, &mut self.notes);
        let mut kind = match stated {
            Some((Some(kind), _)) => Some(kind),
            Some((None, v)) => {
                let message = unknown_kind(&v.cell.display());
                check.push(Field::Kind, ErrorCode::UnknownKind, message);
                None
            }
            None => self.forced_kind,
        };
        check.conflicts();
        let given =
            |f: Field| present(row, f) && !is_placeholder(&row.get(f).expect("present").cell);
        let eui_given = present(row, Field::DevEui);
        // Column B of a `DELETE` row holds an IMEI for a cellular device: a valid IMEI (15 digits, Luhn), where a
        // DevEUI has 16 hex digits; 15 digits failing the Luhn check are read as a DevEUI that lost a leading zero.
        let imei_in_b = if self.positional {
            row.get(Field::DevEui)
                .and_then(|v| Imei::parse(v.cell.display().trim()).ok())
        } else {
            None
        };
        let cellular_given = imei_in_b.is_some() || CELLULAR_IDS.iter().any(|&f| given(f));
        if eui_given && imei_in_b.is_none() && cellular_given {
            check.push(
                Field::DevEui,
                ErrorCode::Invalid,
                "the row names a DevEUI and an IMEI or SIM: a LoRaWAN device has no IMEI or SIM, so it is not \
                 clear which device to delete; keep one of them"
                    .to_string(),
            );
        } else if let Some(imei) = imei_in_b {
            check.imei = Some(imei);
            kind = Some(Kind::Cellular);
        } else if eui_given {
            check.dev_eui = check.eui(Field::DevEui, "the DevEUI", true);
            kind = kind.filter(|k| k.is_lorawan());
        } else if cellular_given {
            check.imei = check.ident(Field::Imei, "the IMEI", false, Imei::parse);
            let sim = check.ident(Field::Sim, "the SIM identifier", false, SimId::parse);
            let iccid = check.ident(Field::Iccid, "the ICCID", false, SimId::parse);
            let eid = check.ident(Field::Eid, "the EID", false, Eid::parse);
            check.sim = sim.or(iccid).or(eid.map(SimId::Eid));
            kind = Some(Kind::Cellular);
        } else {
            let field = [Field::DevEui]
                .into_iter()
                .chain(CELLULAR_IDS)
                .find(|&f| row.get(f).is_some())
                .unwrap_or(Field::DevEui);
            check.push(
                field,
                ErrorCode::Missing,
                "the row names no device: a DevEUI, an IMEI or a SIM identifier (ICCID/EID) says which one to \
                 delete"
                    .to_string(),
            );
        }
        let keys = check.keys();
        let id = self.seen.note_duplicates(&mut check);
        let result = if check.errors.is_empty() && keys != LookupKeys::default() {
            Ok(keys)
        } else {
            Err(check.errors)
        };
        Target {
            row: row.row,
            kind,
            id,
            result,
        }
    }

    /// Makes room for about `rows` more identifiers of a kind's rows at once: growing a large table step by step
    /// costs time, and for a moment the old table and the new one both.
    pub fn reserve(&mut self, kind: Kind, rows: usize) {
        match kind {
            Kind::Otaa | Kind::Abp | Kind::Multicast => self.seen.eui.reserve(rows),
            Kind::Cellular => {
                self.seen.imei.reserve(rows);
                self.seen.iccid.reserve(rows);
            }
        }
    }

    /// Remembers the identifiers of a row the fast path found valid on `row`, when all are new: false when one was
    /// seen before (then nothing is recorded), and the row goes through [`Checker::check`], which reports the
    /// duplicate naming the first row.
    pub fn note_new(&mut self, id: &crate::device::fast::FastId, row: u64) -> bool {
        use crate::device::fast::FastId;
        match *id {
            FastId::DevEui(dev_eui) => {
                first_seen(&mut self.seen.eui, dev_eui.into(), row).is_none()
            }
            FastId::Cellular { imei, iccid, .. } => {
                let seen_imei = imei.is_some_and(|k| self.seen.imei.contains_key(&Id64::from(k)));
                let seen_iccid =
                    iccid.is_some_and(|k| self.seen.iccid.contains_key(&Id64::from(k)));
                if seen_imei || seen_iccid {
                    return false;
                }
                if let Some(k) = imei {
                    first_seen(&mut self.seen.imei, k.into(), row);
                }
                if let Some(k) = iccid {
                    first_seen(&mut self.seen.iccid, k.into(), row);
                }
                true
            }
        }
    }
}

impl Seen {
    /// Remembers the row's identifiers, reports those seen before, and returns the row's identifier.
    fn note_duplicates(&mut self, check: &mut RowCheck<'_>) -> Option<String> {
        let row = check.row.row;
        if let Some(dev_eui) = check.dev_eui.take() {
            if let Some(first) = first_seen(&mut self.eui, dev_eui.to_u64().into(), row) {
                check.push(
                    Field::DevEui,
                    ErrorCode::Duplicate,
                    format!("DevEUI {dev_eui} is already on row {first}"),
                );
            }
            return Some(dev_eui.0);
        }
        let imei = check.imei.take();
        let sim = check.sim.take();
        if let Some(imei) = &imei
            && let Some(first) = first_seen(&mut self.imei, imei.to_u64().into(), row)
        {
            check.push(
                Field::Imei,
                ErrorCode::Duplicate,
                format!("IMEI {imei} is already on row {first}"),
            );
        }
        if let Some(sim) = &sim
            && let Some(first) = match sim.telecom_iccid_u64() {
                Some(key) => first_seen(&mut self.iccid, key.into(), row),
                None => first_seen(&mut self.sim, sim.to_u128().into(), row),
            }
        {
            let field = [Field::Sim, Field::Iccid, Field::Eid]
                .into_iter()
                .find(|&f| present(check.row, f))
                .unwrap_or(Field::Sim);
            let what = match sim {
                SimId::Iccid(_) => "ICCID",
                SimId::Eid(_) => "EID",
            };
            check.push(
                field,
                ErrorCode::Duplicate,
                format!("{what} {} is already on row {first}", sim.as_str()),
            );
        }
        imei.map(|i| i.to_string())
            .or_else(|| sim.map(|s| s.as_str().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{Extras, Motion, PlanFeatures};
    use crate::input::Cell;
    use std::sync::Arc;

    fn row(n: u64, cells: &[(Field, Cell)]) -> MappedRow {
        MappedRow {
            row: n,
            values: cells
                .iter()
                .map(|(f, c)| FieldValue {
                    field: *f,
                    column: Arc::from(f.name()),
                    cell: c.clone(),
                })
                .collect(),
        }
    }

    fn t(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }

    fn otaa(n: u64, eui: &str, key: &str) -> MappedRow {
        row(
            n,
            &[
                (Field::DevEui, t(eui)),
                (Field::AppKey, t(key)),
                (Field::Model, t("SMTC/LoRaMoteA.1_EU")),
                (Field::Connection, t("my MQTT application")),
            ],
        )
    }

    const KEY: &str = "7374757A3FDD092947CE2DE9321C6040";

    fn codes(v: &Verdict) -> Vec<(String, ErrorCode)> {
        match &v.result {
            Ok(_) => vec![],
            Err(errors) => errors.iter().map(|e| (e.field.clone(), e.code)).collect(),
        }
    }

    #[test]
    fn a_run_of_keys_across_a_2_20_boundary_takes_distinct_buckets() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<IdHasher>::default();
        let mask = (1u64 << 21) - 1;
        let start = 35_693_610_000_001u64;
        let mut buckets: Vec<u64> = (start..start + 1_000_000)
            .map(|n| build.hash_one(Id64::from(n)) & mask)
            .collect();
        buckets.sort_unstable();
        buckets.dedup();
        assert_eq!(buckets.len(), 1_000_000);
    }

    #[test]
    fn packed_identifiers_keep_every_bit() {
        assert_eq!(std::mem::size_of::<(Id64, u32)>(), 12);
        let a = Id64::from(0x70B3_D5E7_5600_0001);
        assert_ne!(a, Id64::from(0x70B3_D5E6_5600_0001));
        assert_ne!(a, Id64::from(0x70B3_D5E7_5600_0002));
        let e = Id128::from(1u128 << 100 | 5);
        assert_ne!(e, Id128::from(5));
        assert_eq!(e, Id128::from(1u128 << 100 | 5));
    }

    #[test]
    fn a_clean_otaa_row_becomes_a_device() {
        let mut checker = Checker::new(None);
        let v = checker.check(&otaa(2, "70b3d5e7-56000001", KEY));
        assert_eq!(v.kind, Some(Kind::Otaa));
        assert_eq!(v.id.as_deref(), Some("70B3D5E756000001"));
        let device = v.result.unwrap();
        assert_eq!(device.kind(), Kind::Otaa);
        assert_eq!(device.refs.model.unwrap().value, "SMTC/LoRaMoteA.1_EU");
    }

    #[test]
    fn every_error_of_a_row_is_reported() {
        let mut checker = Checker::new(None);
        let r = row(
            3,
            &[
                (Field::DevEui, t("70B3D5E75600000G")),
                (Field::AppKey, t("7374757A")),
                (Field::Model, Cell::Empty),
            ],
        );
        let v = checker.check(&r);
        assert_eq!(
            codes(&v),
            vec![
                ("dev_eui".into(), ErrorCode::Hex),
                ("app_key".into(), ErrorCode::Length),
                ("model".into(), ErrorCode::Missing),
                ("connection".into(), ErrorCode::Missing),
            ]
        );
        let errors = v.result.unwrap_err();
        assert_eq!(errors[2].column, "model");
        assert_eq!(errors[3].column, "");
        assert!(errors.iter().all(|e| !e.message.contains("7374757A")));
    }

    #[test]
    fn duplicates_name_the_first_row_even_when_other_fields_fail() {
        let mut checker = Checker::new(None);
        assert!(
            checker
                .check(&otaa(2, "70B3D5E756000001", KEY))
                .result
                .is_ok()
        );
        let v = checker.check(&otaa(5, "70B3D5E756000001", "bad"));
        assert_eq!(
            codes(&v),
            vec![
                ("app_key".into(), ErrorCode::Length),
                ("dev_eui".into(), ErrorCode::Duplicate)
            ]
        );
        assert!(v.result.unwrap_err()[1].message.contains("row 2"));
        let v = checker.check(&otaa(9, "70B3D5E756000001", KEY));
        assert!(v.result.unwrap_err()[0].message.contains("row 2"));
    }

    #[test]
    fn kind_comes_from_the_kind_column_then_the_option_then_the_columns() {
        assert_eq!(parse_kind("CREATE_OTAA"), Some(Kind::Otaa));
        assert_eq!(parse_kind(" abp "), Some(Kind::Abp));
        assert_eq!(parse_kind("Multicast group"), Some(Kind::Multicast));
        assert_eq!(parse_kind("CREATE_CELLULAR"), Some(Kind::Cellular));
        assert_eq!(parse_kind("zigbee"), None);

        let mut checker = Checker::new(None);
        let mut r = otaa(2, "70B3D5E756000001", KEY);
        r.values.push(FieldValue {
            field: Field::Kind,
            column: Arc::from("Activation"),
            cell: t("zigbee"),
        });
        let v = checker.check(&r);
        assert_eq!(v.kind, None);
        assert_eq!(codes(&v), vec![("kind".into(), ErrorCode::UnknownKind)]);

        let bare = row(3, &[(Field::Name, t("x"))]);
        assert_eq!(
            codes(&Checker::new(None).check(&bare)),
            vec![("kind".into(), ErrorCode::UnknownKind)]
        );
        let v = Checker::new(Some(Kind::Abp)).check(&bare);
        assert_eq!(v.kind, Some(Kind::Abp));
        assert!(codes(&v).contains(&("dev_addr".into(), ErrorCode::Missing)));

        // A blank AppKey in an OTAA file is a missing AppKey, not an unknown kind.
        let v = Checker::new(None).check(&otaa(4, "70B3D5E756000001", ""));
        assert_eq!(v.kind, Some(Kind::Otaa));
        assert_eq!(codes(&v), vec![("app_key".into(), ErrorCode::Missing)]);
    }

    #[test]
    fn abp_and_multicast_rows() {
        let session = [
            (Field::DevEui, t("70B3D5E756000999")),
            (Field::DevAddr, t("785D25E2")),
            (Field::NwkSKey, t(KEY)),
            (Field::AppSKey, t("8D67B0D6359D11ACFC45AD4BB9CE2D4F")),
            (Field::Model, t("SMTC/LoRaMoteA.1_EU")),
            (Field::Connection, t("my MQTT application")),
        ];
        let v = Checker::new(None).check(&row(2, &session));
        assert_eq!(v.kind, Some(Kind::Abp));
        assert!(v.result.is_ok(), "{:?}", v.result);

        let mut mc = session.to_vec();
        mc.extend([
            (Field::Class, t("Class C")),
            (Field::DataRate, Cell::Float(15.0)),
            (Field::Frequency, Cell::Float(869.525)),
            (Field::Tags, t("tag1; tag2")),
        ]);
        let v = Checker::new(None).check(&row(2, &mc));
        assert_eq!(v.kind, Some(Kind::Multicast));
        match v.result.unwrap().ids {
            Ids::Multicast {
                class,
                data_rate,
                frequency,
                tags,
                ..
            } => {
                assert_eq!(class, McClass::C);
                assert_eq!(data_rate, 15);
                assert_eq!(frequency, 869.525);
                assert_eq!(tags, vec!["tag1", "tag2"]);
            }
            other => panic!("{other:?}"),
        }
        mc[6] = (Field::Class, t("A"));
        mc[7] = (Field::DataRate, t("16"));
        let v = Checker::new(None).check(&row(2, &mc));
        assert_eq!(
            codes(&v),
            vec![
                ("class".into(), ErrorCode::Invalid),
                ("data_rate".into(), ErrorCode::Invalid)
            ]
        );
    }

    #[test]
    fn cellular_rows_need_an_imei_or_a_sim_and_a_plan() {
        let base = [
            (Field::Model, t("CUSTOM/LTE_Dongle")),
            (Field::Connection, t("my MQTT application")),
            (Field::Plan, t("Cellular CP")),
        ];
        let mut r = base.to_vec();
        r.push((Field::Imei, t("123456789012347")));
        r.push((Field::Iccid, t("89208013535718672291")));
        let mut checker = Checker::new(None);
        let v = checker.check(&row(2, &r));
        assert_eq!(v.kind, Some(Kind::Cellular));
        assert_eq!(v.id.as_deref(), Some("123456789012347"));
        assert!(v.result.is_ok());

        // Same SIM, other IMEI: a duplicate ICCID.
        r[3] = (Field::Imei, t("490154203237518"));
        let v = checker.check(&row(3, &r));
        assert_eq!(codes(&v), vec![("iccid".into(), ErrorCode::Duplicate)]);

        let mut no_id = base[..2].to_vec();
        no_id.push((Field::Imei, Cell::Empty));
        let v = Checker::new(Some(Kind::Cellular)).check(&row(4, &no_id));
        assert_eq!(
            codes(&v),
            vec![
                ("imei".into(), ErrorCode::Missing),
                ("plan".into(), ErrorCode::Missing)
            ]
        );

        let mut eid = base.to_vec();
        eid.push((Field::Sim, t("89049032123451234512345678901235")));
        let mut checker = Checker::new(None);
        let v = checker.check(&row(5, &eid));
        assert_eq!(v.id.as_deref(), Some("89049032123451234512345678901235"));
        assert!(v.result.is_ok());
        let v = checker.check(&row(6, &eid));
        assert_eq!(codes(&v), vec![("sim".into(), ErrorCode::Duplicate)]);
    }

    #[test]
    fn optional_device_fields_of_a_header_file_are_checked_and_kept() {
        let mut r = otaa(2, "70B3D5E756000001", KEY);
        r.values.extend([
            FieldValue {
                field: Field::Latitude,
                column: Arc::from("Lat"),
                cell: Cell::Float(-33.9),
            },
            FieldValue {
                field: Field::Longitude,
                column: Arc::from("Lng"),
                cell: t("18,42"),
            },
            FieldValue {
                field: Field::AdminInfo,
                column: Arc::from("Customer data"),
                cell: t(" gate 4 "),
            },
            FieldValue {
                field: Field::Motion,
                column: Arc::from("Motion indicator"),
                cell: t("bike-speed"),
            },
            FieldValue {
                field: Field::Plan,
                column: Arc::from("Plan"),
                cell: t("PassiveRoaming"),
            },
        ]);
        let device = Checker::new(None).check(&r).result.unwrap();
        assert_eq!(
            device.extras,
            Extras {
                location: Some((-33.9, 18.42)),
                admin_info: Some("gate 4".into()),
                motion: Some(Motion::BikeSpeed),
                features: Some(PlanFeatures {
                    geolocation: false,
                    roaming: true
                }),
                tags: Vec::new(),
                domains: Vec::new(),
            }
        );
        assert_eq!(device.refs.plan, None);

        // A longitude's range is not a latitude's.
        r.values[4].cell = t("180.5");
        r.values[5].cell = t("");
        r.values[7].cell = t("sideways");
        let v = Checker::new(None).check(&r);
        assert_eq!(
            codes(&v),
            vec![
                ("latitude".into(), ErrorCode::Invalid),
                ("longitude".into(), ErrorCode::Missing),
                ("motion_indicator".into(), ErrorCode::Invalid),
            ]
        );
        // A header file still needs its connection; ThingPark's positional file does not.
        let mut unrouted = otaa(3, "70B3D5E756000002", KEY);
        unrouted.values.retain(|v| v.field != Field::Connection);
        let v = Checker::new(None).check(&unrouted);
        assert_eq!(codes(&v), vec![("connection".into(), ErrorCode::Missing)]);
        let mut positional = Checker::new(None).positional(true);
        assert!(positional.check(&unrouted).result.is_ok());
        assert_eq!(positional.notes().len(), 1);
    }

    /// A target's identifiers, or its errors as (field, column, code).
    fn target_of(target: &Target) -> Result<LookupKeys, Vec<(String, String, ErrorCode)>> {
        target.result.clone().map_err(|errors| {
            errors
                .into_iter()
                .map(|e| (e.field, e.column, e.code))
                .collect()
        })
    }

    #[test]
    fn tags_and_domains_are_checked_per_row_on_their_column() {
        let mut r = otaa(2, "70B3D5E756000001", KEY);
        r.values.extend([
            FieldValue {
                field: Field::Tags,
                column: Arc::from("Device tags"),
                cell: t("lot 7 | shipment-42; lot 7"),
            },
            FieldValue {
                field: Field::Domains,
                column: Arc::from("Domains"),
                cell: t("Site:France/Paris"),
            },
        ]);
        let device = Checker::new(None).check(&r).result.unwrap();
        let tags: Vec<&str> = device.extras.tags.iter().map(|t| t.as_str()).collect();
        assert_eq!(tags, ["lot 7", "shipment-42"]);
        assert_eq!(device.extras.domains[0].to_string(), "Site:France/Paris");

        let last = r.values.len() - 1;
        r.values[last - 1].cell = t("ok;<script>");
        r.values[last].cell = t("Paris");
        let v = Checker::new(None).check(&r);
        let errors = v.result.unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            (errors[0].field.as_str(), errors[0].column.as_str()),
            ("tags", "Device tags")
        );
        assert!(errors[0].message.contains("<script>"), "{errors:?}");
        assert_eq!(
            (errors[1].field.as_str(), errors[1].column.as_str()),
            ("domains", "Domains")
        );
    }

    #[test]
    fn a_delete_row_names_its_device_by_column_b_a_deveui_or_an_imei() {
        let mut checker = Checker::new(None).positional(true);
        let delete = |n, b: &str| row(n, &[(Field::Kind, t("DELETE")), (Field::DevEui, t(b))]);
        let Checked::Delete(by_eui) = checker.check_row(&delete(4, "f03d2910-00f00003")) else {
            panic!("a DELETE row is a deletion");
        };
        assert_eq!(
            (by_eui.kind, by_eui.id.as_deref()),
            (None, Some("F03D291000F00003"))
        );
        assert_eq!(
            target_of(&by_eui).unwrap().eui.as_deref(),
            Some("F03D291000F00003")
        );
        let Checked::Delete(by_imei) = checker.check_row(&delete(5, "356936110000044")) else {
            panic!("a DELETE row is a deletion");
        };
        assert_eq!(by_imei.kind, Some(Kind::Cellular));
        assert_eq!(
            target_of(&by_imei).unwrap().imei.as_deref(),
            Some("356936110000044")
        );
        // 15 digits that are no IMEI: a DevEUI a spreadsheet cut short, said so on its column.
        let Checked::Delete(cut) = checker.check_row(&delete(6, "356936110000045")) else {
            panic!("a DELETE row is a deletion");
        };
        assert_eq!(
            target_of(&cut).unwrap_err(),
            [("dev_eui".into(), "dev_eui".into(), ErrorCode::ExcelDamage)]
        );
        // Named twice: the second is a duplicate naming the first.
        let Checked::Delete(again) = checker.check_row(&delete(7, "F03D291000F00003")) else {
            panic!("a DELETE row is a deletion");
        };
        assert_eq!(target_of(&again).unwrap_err()[0].2, ErrorCode::Duplicate);
        assert!(matches!(
            checker.check_row(&otaa(8, "70B3D5E756000001", KEY)),
            Checked::Create(_)
        ));
        // Only ThingPark's file has `DELETE` rows: elsewhere the word is an unknown kind, never a deletion.
        let Checked::Create(header) = Checker::new(None).check_row(&delete(9, "F03D291000F00009"))
        else {
            panic!("a header file's row is checked as a creation");
        };
        assert_eq!(
            codes(&header),
            vec![("kind".into(), ErrorCode::UnknownKind)]
        );
    }

    #[test]
    fn a_row_to_delete_needs_only_an_identifier_and_never_names_two_devices() {
        let mut checker = Checker::new(None);
        // Only the identifier: no key, model or connection needed.
        let by_iccid = checker.target(&row(2, &[(Field::Iccid, t("89331503200000000019"))]));
        assert_eq!(by_iccid.kind, Some(Kind::Cellular));
        assert_eq!(
            target_of(&by_iccid).unwrap().sim.as_deref(),
            Some("89331503200000000019")
        );
        let both = checker.target(&row(
            3,
            &[
                (Field::Imei, t("356936110000028")),
                (Field::Sim, t("89331503200000000027")),
            ],
        ));
        let keys = target_of(&both).unwrap();
        assert_eq!(
            (keys.imei.as_deref(), keys.sim.as_deref()),
            (Some("356936110000028"), Some("89331503200000000027"))
        );
        let lorawan_and_cellular = checker.target(&row(
            4,
            &[
                (Field::DevEui, t("70B3D5E756000001")),
                (Field::Imei, t("356936110000036")),
            ],
        ));
        assert_eq!(
            target_of(&lorawan_and_cellular).unwrap_err(),
            [("dev_eui".into(), "dev_eui".into(), ErrorCode::Invalid)]
        );
        let nothing = checker.target(&row(5, &[(Field::DevEui, t("")), (Field::Name, t("x"))]));
        assert_eq!(
            target_of(&nothing).unwrap_err(),
            [("dev_eui".into(), "dev_eui".into(), ErrorCode::Missing)]
        );
        let bad = checker.target(&row(6, &[(Field::DevEui, t("70B3D5E75600000G"))]));
        assert_eq!(target_of(&bad).unwrap_err()[0].2, ErrorCode::Hex);
    }

    #[test]
    fn an_onboarding_tag_gives_the_euis_and_its_serial_names_the_device() {
        let tag = "LW:D0:1122334455667788:AABBCCDDEEFF0011:AABB1122:OAABBCCDDEEFF:SYYWWNNNNNN:PFOOBAR:CAF2C";
        let v = Checker::new(None).check(&otaa(2, tag, KEY));
        let device = v.result.unwrap();
        assert_eq!(device.name.as_deref(), Some("YYWWNNNNNN"));
        match device.ids {
            Ids::Otaa {
                dev_eui, join_eui, ..
            } => {
                assert_eq!(dev_eui.as_str(), "AABBCCDDEEFF0011");
                assert_eq!(join_eui.unwrap().as_str(), "1122334455667788");
            }
            other => panic!("{other:?}"),
        }
        // A tag column beside a DevEUI that says otherwise: an error, not a guess.
        let mut r = otaa(3, "70B3D5E756000001", KEY);
        r.values.push(FieldValue {
            field: Field::OnboardingTag,
            column: Arc::from("QR code"),
            cell: t(tag),
        });
        r.values.push(FieldValue {
            field: Field::Name,
            column: Arc::from("Name"),
            cell: t("kept"),
        });
        let v = Checker::new(None).check(&r);
        assert_eq!(codes(&v), vec![("dev_eui".into(), ErrorCode::Invalid)]);
        // A malformed tag is reported once, where it is.
        let v = Checker::new(None).check(&otaa(4, "LW:D0:11:22:33", KEY));
        assert_eq!(codes(&v), vec![("dev_eui".into(), ErrorCode::Invalid)]);
    }

    #[test]
    fn spreadsheet_numbers_in_identifier_cells() {
        let mut r = otaa(2, "70B3D5E756000001", KEY);
        r.values[0].cell = Cell::Float(1111111111111110.0);
        let v = Checker::new(None).check(&r);
        assert_eq!(codes(&v), vec![("dev_eui".into(), ErrorCode::ExcelDamage)]);

        let cell = |f: Field, c: Cell| (f, c);
        let r = row(
            3,
            &[
                cell(Field::Imei, Cell::Float(490154203237518.0)),
                cell(Field::Iccid, Cell::Float(8.920801353571867e19)),
                cell(Field::Model, t("CUSTOM/LTE_Dongle")),
                cell(Field::Connection, t("my MQTT application")),
                cell(Field::Plan, t("Cellular CP")),
            ],
        );
        let v = Checker::new(None).check(&r);
        assert_eq!(v.id.as_deref(), Some("490154203237518"));
        assert_eq!(codes(&v), vec![("iccid".into(), ErrorCode::ExcelDamage)]);
    }
}
