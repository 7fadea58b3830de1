//! The ThingPark client: OAuth2 client credentials, pacing (one rate limiter and a pool-wide pause shared by every
//! request of a run), requests and answers, paging, catalogue resolution, request bodies and existing-device lookup.
//!
//! Public contract used by `engine`, `cmd` and tests (keep these names and meanings):
//! `ClientConfig`, `Client`, `ApiError`, `Pacing`, `DeviceInfo`, `DevicePage`, `CreateRequest`, `HandlingMode`,
//! `TagCall`, `TagAction`, `ListedDevice`,
//! `Catalog`, `Resolved`, `build_request`, `ExistKey`, `find_existing`, `Lister`, `DeviceFilter`, `RequestCounts`.
//!
//! Submodules, one job each: `config` (options → [`ClientConfig`]), `pacing` ([`Pacing`]), `client` ([`Client`]:
//! token, calls, error mapping, retries), `catalog` ([`Catalog`] and name resolution), `request` (creation bodies)
//! `existing` ([`find_existing`]: DevEUI-prefix look-ups; [`Lister`]: cursor pages of an adapting size), `listing`
//! ([`ListedDevice`]: a listed device in tpbulk's columns), `quota`
//! (connectivity plan quotas against a batch) and `profile` (named profiles of `config.toml`).

mod catalog;
mod client;
mod config;
mod existing;
mod listing;
mod pacing;
pub mod profile;
mod quota;
mod request;
pub mod update;

pub use catalog::{
    Catalog, Connection, Connectivity, Context, Model, Plan, Resolved, find_connection,
};
pub use client::{BriefPage, Client, DX_CORE_PATH, DeviceFilter, RequestCounts, SUBSCRIPTION_PATH};
pub use config::{
    CONNECT_TIMEOUT, ClientConfig, PlatformSettings, REQUEST_TIMEOUT, default_token_url,
};
pub use existing::{
    LIST_PAGE_SIZE, Lister, LookupProgress, PREFIXES_PER_REQUEST, find_existing, find_matching,
    prefix_cover, same_device,
};
pub use listing::ListedDevice;
pub use pacing::{Backoff, Pacing};
pub use quota::{OverQuota, PlanTally};
pub use request::{
    CreateRequest, HandlingMode, TAG_PAGE, TagAction, TagCall, WireRequest, build_request,
};

use crate::error::PlatformUnavailable;
use std::time::Duration;

/// Requests per second of commands that have no `--rate` (`plan`, `catalog`): what public scripts hold to.
pub const DEFAULT_RATE: f64 = 10.0;

/// Builds the client and gets a first token, so that an unreachable platform or refused credentials stop a command
/// before any work: both are [`PlatformUnavailable`] (exit 3) with one clear line.
pub async fn connect(
    config: ClientConfig,
    rate: Option<f64>,
) -> Result<Client, PlatformUnavailable> {
    let pacing = Pacing::new(rate.filter(|r| *r > 0.0));
    let url = config.url.clone();
    let client = Client::new(config, pacing).map_err(|e| unavailable(&url, &e))?;
    client
        .authenticate()
        .await
        .map_err(|e| unavailable(&url, &e))?;
    Ok(client)
}

/// One line saying whether the platform at `url` could not be reached, refused the credentials or failed.
pub fn unavailable(url: &str, err: &ApiError) -> PlatformUnavailable {
    PlatformUnavailable(match err {
        ApiError::Auth(message) => format!("{url}: {message}"),
        ApiError::Transport { message, .. } => {
            format!("cannot reach the platform at {url}: {message}")
        }
        ApiError::Status { .. } | ApiError::Conflict(_) => {
            format!("the platform at {url} failed: {err}")
        }
    })
}

/// A failed call. Messages never contain a secret or key material.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The platform answered with an error status and (usually) its `{code, message}` body.
    #[error("HTTP {status}{}: {message}", code.map(|c| format!(" [{c}]")).unwrap_or_default())]
    Status {
        status: u16,
        code: Option<i64>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, reset or dropped, timeout. `maybe_sent` is true when the request may have
    /// reached the platform (the outcome is unknown).
    #[error("{message}")]
    Transport { message: String, maybe_sent: bool },
    /// The token endpoint refused the credentials or could not be reached.
    #[error("{0}")]
    Auth(String),
    /// An update refused with 409 because the device changed since its `occContext.version` was read: the
    /// platform's message.
    #[error("HTTP 409: the device changed since it was read: {0}")]
    Conflict(String),
}

impl ApiError {
    /// The platform's "already exists" answer (code 111, whatever the HTTP status).
    pub fn is_duplicate(&self) -> bool {
        match self {
            ApiError::Status { code, message, .. } => {
                *code == Some(111) || message.to_ascii_lowercase().contains("already exists")
            }
            _ => false,
        }
    }

    /// 5xx, 429, timeouts and dropped connections: worth another attempt after a backoff.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => *status == 429 || *status >= 500,
            ApiError::Transport { .. } => true,
            ApiError::Auth(_) | ApiError::Conflict(_) => false,
        }
    }

    /// The HTTP status, when the platform answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Conflict(_) => Some(409),
            _ => None,
        }
    }
}

/// A device as the platform lists or returns it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceInfo {
    pub eui: String,
    /// The platform's reference (`href`, e.g. `/thingpark/wireless/rest/subscriptions/32/devices/2227`).
    pub href: Option<String>,
    /// The last path segment of `href`, used by DELETE.
    pub uid: Option<String>,
    pub name: Option<String>,
    /// Milliseconds since the epoch, when the platform says.
    pub creation_date: Option<i64>,
    pub imei: Option<String>,
    pub sim: Option<String>,
    /// What a listing brief or a device's `GET` says beyond its identity (none from a creation answer): what an
    /// update compares with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Box<update::DeviceState>>,
}

impl DeviceInfo {
    /// Reads a device (a listing brief or a full device) in the platform's field names. `location` (a creation's
    /// `Location` header) stands in for a missing `href`.
    pub fn from_json(value: &serde_json::Value, location: Option<&str>) -> DeviceInfo {
        use serde::Deserialize;
        let mut info = DeviceFields::deserialize(value)
            .unwrap_or_default()
            .into_info(location);
        info.state = Some(Box::new(update::DeviceState::from_json(value, false)));
        info
    }

    /// [`DeviceInfo::from_json`] straight from an answer's bytes, without building the rest of the document (a
    /// creation answer echoes the whole device). An empty answer is a device known by its `location` only.
    pub fn from_slice(bytes: &[u8], location: Option<&str>) -> serde_json::Result<DeviceInfo> {
        let fields = if bytes.iter().all(u8::is_ascii_whitespace) {
            DeviceFields::default()
        } else {
            serde_json::from_slice::<DeviceFields>(bytes)?
        };
        Ok(fields.into_info(location))
    }
}

/// The fields of a device that tpbulk reads; the platform writes some identifiers as strings or as numbers.
#[derive(Debug, Default, serde::Deserialize)]
struct DeviceFields {
    href: Option<serde_json::Value>,
    #[serde(rename = "EUI")]
    eui: Option<serde_json::Value>,
    name: Option<serde_json::Value>,
    #[serde(rename = "creationDate")]
    creation_date: Option<serde_json::Value>,
    #[serde(rename = "enforcedIMEI")]
    imei: Option<serde_json::Value>,
    sim: Option<serde_json::Value>,
}

impl DeviceFields {
    fn into_info(self, location: Option<&str>) -> DeviceInfo {
        let href = self
            .href
            .as_ref()
            .and_then(text)
            .or_else(|| location.map(str::to_string));
        let uid = href
            .as_deref()
            .and_then(|h| h.trim_end_matches('/').rsplit('/').next())
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        DeviceInfo {
            eui: self
                .eui
                .as_ref()
                .and_then(text)
                .unwrap_or_default()
                .to_ascii_uppercase(),
            href,
            uid,
            name: self.name.as_ref().and_then(text),
            creation_date: self.creation_date.as_ref().and_then(|v| v.as_i64()),
            imei: self.imei.as_ref().and_then(text),
            sim: self.sim.as_ref().and_then(|s| s.get("ID")).and_then(text),
            state: None,
        }
    }
}

/// An identifier or a name as the platform writes it, as a string or as a number.
fn text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One page of the cursor-paginated device listing.
#[derive(Debug, Clone)]
pub struct DevicePage {
    pub devices: Vec<DeviceInfo>,
    pub more: bool,
    /// Only on the first page.
    pub count: Option<u64>,
    pub cursor: Option<String>,
}

/// What identifies a device on the platform before it is created.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExistKey {
    Eui(String),
    Sim(String),
    Imei(String),
}

impl ExistKey {
    /// Every key a row's device may be found by, the most specific first (EUI, SIM, IMEI).
    pub fn all(keys: &crate::device::LookupKeys) -> Vec<ExistKey> {
        [
            keys.eui.clone().map(ExistKey::Eui),
            keys.sim.clone().map(ExistKey::Sim),
            keys.imei.clone().map(ExistKey::Imei),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: Option<i64>, message: &str) -> ApiError {
        ApiError::Status {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    #[test]
    fn duplicate_is_recognised_by_code_or_message_whatever_the_status() {
        assert!(status(409, Some(111), "x").is_duplicate());
        assert!(
            status(
                400,
                None,
                "A Device report already exists for the given EUI"
            )
            .is_duplicate()
        );
        assert!(!status(400, Some(222), "No device profile for the given ID : X").is_duplicate());
        assert!(
            !ApiError::Transport {
                message: "reset".into(),
                maybe_sent: true
            }
            .is_duplicate()
        );
    }

    #[test]
    fn retryable_errors_are_5xx_429_and_transport() {
        assert!(status(503, None, "").is_retryable());
        assert!(status(429, None, "").is_retryable());
        assert!(!status(400, Some(222), "").is_retryable());
        assert!(!status(404, None, "").is_retryable());
        assert!(!ApiError::Auth("refused".into()).is_retryable());
        assert!(
            ApiError::Transport {
                message: "refused".into(),
                maybe_sent: false
            }
            .is_retryable()
        );
    }

    #[test]
    fn device_info_reads_the_tutorial_brief() {
        let brief = serde_json::json!({
            "name": "My device 1", "connectivity": "LORAWAN", "activation": "OTAA",
            "EUI": "70b3d5e756000999", "href": "/thingpark/wireless/rest/subscriptions/32/devices/2227"
        });
        let info = DeviceInfo::from_json(&brief, None);
        assert_eq!(info.eui, "70B3D5E756000999");
        assert_eq!(info.uid.as_deref(), Some("2227"));
        assert_eq!(info.name.as_deref(), Some("My device 1"));
        let cellular = serde_json::json!({"EUI": "F03D290000000001", "enforcedIMEI": "123456789012347",
            "sim": {"ID": "89208013535718672291", "type": "SINGLE_IMSI"}});
        let info = DeviceInfo::from_json(
            &cellular,
            Some("/thingpark/wireless/rest/subscriptions/32/devices/2228"),
        );
        assert_eq!(info.uid.as_deref(), Some("2228"));
        assert_eq!(info.imei.as_deref(), Some("123456789012347"));
        assert_eq!(info.sim.as_deref(), Some("89208013535718672291"));
    }

    #[test]
    fn a_creation_answer_is_read_from_its_bytes_as_a_brief_is() {
        let answer = br#"{"ID": 2227, "href": 2227, "EUI": "70b3d5e756000999", "creationDate": 1764115200000,
            "model": {"ID": "SMTC/LoRaMoteA.1_EU"}, "appServers": [{"ID": "TWA_1.AS"}], "sim": {"ID": 8920801}}"#;
        let from_bytes = DeviceInfo::from_slice(answer, None).unwrap();
        let value: serde_json::Value = serde_json::from_slice(answer).unwrap();
        let from_json = DeviceInfo {
            state: None,
            ..DeviceInfo::from_json(&value, None)
        };
        assert_eq!(from_bytes, from_json);
        // Identifiers written as numbers are read as text; the EUI in capitals.
        assert_eq!(from_bytes.href.as_deref(), Some("2227"));
        assert_eq!(from_bytes.eui, "70B3D5E756000999");
        assert_eq!(from_bytes.creation_date, Some(1764115200000));
        assert_eq!(from_bytes.sim.as_deref(), Some("8920801"));

        // An empty answer (a 201 with only a Location header) is the device the header names.
        let located = DeviceInfo::from_slice(b" ", Some("/devices/2228")).unwrap();
        assert_eq!(located.uid.as_deref(), Some("2228"));
        assert_eq!(located.eui, "");
        // An answer that is not JSON is an error, not an empty device.
        assert!(DeviceInfo::from_slice(b"<html>", None).is_err());
    }
}
