//! The ThingPark client: OAuth2 client credentials, pacing (one rate limiter and a pool-wide pause shared by every
//! request of a run), requests and answers, paging, catalogue resolution, request bodies and existing-device lookup.
//!
//! Public contract used by `engine`, `cmd` and tests (keep these names and meanings):
//! `ClientConfig`, `Client`, `ApiError`, `Pacing`, `DeviceInfo`, `DevicePage`, `CreateRequest`, `HandlingMode`,
//! `Catalog`, `Resolved`, `build_request`, `ExistKey`, `find_existing`.

use crate::device::{Device, Kind, RowError};
use crate::secret::Secret;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Checked connection settings, built before any network I/O.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL without a trailing slash, e.g. `https://community.thingpark.io`.
    pub url: String,
    /// `{url}/users-auth/protocol/openid-connect/token` unless overridden.
    pub token_url: String,
    pub client_id: String,
    pub secret: Secret,
    pub insecure: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// From `--url`/`THINGPARK_URL`, `--client-id`/`THINGPARK_CLIENT_ID`, `THINGPARK_CLIENT_SECRET` or
    /// `--client-secret-file`. A missing value is a `UsageError` naming the option and its variable.
    pub fn from_args(
        args: &crate::cli::PlatformArgs,
    ) -> Result<ClientConfig, crate::error::UsageError> {
        let _ = args;
        todo!("issue 4: client config")
    }
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
}

impl ApiError {
    /// The platform's "already exists" answer (code 111, whatever the HTTP status).
    pub fn is_duplicate(&self) -> bool {
        todo!("issue 4: duplicate answer")
    }
    /// 5xx, 429, timeouts and dropped connections: worth another attempt after a backoff.
    pub fn is_retryable(&self) -> bool {
        todo!("issue 4: retry classification")
    }
}

/// The one rate limiter and the pool-wide pause shared by every REST request of a run. On 429 or 503 the pause is
/// set (from `Retry-After`, rounded up, or an exponential step) and every request waits for it.
#[derive(Debug)]
pub struct Pacing {
    _private: (),
}

impl Pacing {
    /// `rate` requests per second over all requests; `None`: unlimited.
    pub fn new(rate: Option<f64>) -> Arc<Pacing> {
        let _ = rate;
        todo!("issue 4: pacing")
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

/// `networkSubscriptionsHandlingMode` of a creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HandlingMode {
    Basic,
    Advanced,
}

/// The exact creation request of one device: query mode and JSON body with clear key material. Journalled while
/// the row still needs it; shown only through [`CreateRequest::masked`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CreateRequest {
    pub kind: Kind,
    pub mode: Option<HandlingMode>,
    pub body: serde_json::Value,
}

impl CreateRequest {
    /// The body with every key masked to its last 4 characters (including inside `appKeys` XML).
    pub fn masked(&self) -> serde_json::Value {
        todo!("issue 4: masked request")
    }
}

/// A row's references resolved to platform IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub model_id: Option<String>,
    /// The model is LoRaWAN 1.1 (`macMinorVersion` 10 or more / `macMajorVersion` 1).
    pub lorawan_1_1: bool,
    pub connection_id: Option<String>,
    pub plan_id: Option<String>,
    pub context_id: Option<String>,
}

/// Builds the creation request of a checked, resolved device (the tutorial's field names).
pub fn build_request(device: &Device, resolved: &Resolved) -> CreateRequest {
    let _ = (device, resolved);
    todo!("issue 4: request bodies")
}

/// The platform's catalogue, read once per run (all pages).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    _private: (),
}

impl Catalog {
    /// Resolves a row's references; every problem is a `reference` error naming the column and value.
    pub fn resolve(&self, device: &Device) -> Result<Resolved, Vec<RowError>> {
        let _ = device;
        todo!("issue 4: resolution")
    }
}

/// What identifies a device on the platform before it is created.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExistKey {
    Eui(String),
    Sim(String),
    Imei(String),
}

/// The ThingPark REST client. Cheap to clone; every REST call waits on the shared [`Pacing`].
#[derive(Clone)]
pub struct Client {
    _private: (),
}

impl Client {
    pub fn new(config: ClientConfig, pacing: Arc<Pacing>) -> Result<Client, ApiError> {
        let _ = (config, pacing);
        todo!("issue 4: client")
    }
    /// Gets the first token: `Auth` when refused, `Transport` when unreachable.
    pub async fn authenticate(&self) -> Result<(), ApiError> {
        todo!("issue 4: authenticate")
    }
    /// Every page of every catalogue listing.
    pub async fn catalog(&self) -> Result<Catalog, ApiError> {
        todo!("issue 4: catalog")
    }
    /// One creation attempt, no retry (the engine retries after reconciling).
    pub async fn create_device(&self, request: &CreateRequest) -> Result<DeviceInfo, ApiError> {
        let _ = request;
        todo!("issue 4: create")
    }
    /// `GET /devices/e<EUI>`: `None` on 404. Retries what is retryable.
    pub async fn device_by_eui(&self, eui: &str) -> Result<Option<DeviceInfo>, ApiError> {
        let _ = eui;
        todo!("issue 4: get device")
    }
    /// One page of `GET /devices?sort=EUI,asc&pageSize=N[&pageAfter=]`. Retries what is retryable.
    pub async fn list_devices(
        &self,
        page_size: u32,
        after: Option<&str>,
    ) -> Result<DevicePage, ApiError> {
        let _ = (page_size, after);
        todo!("issue 4: list devices")
    }
    /// `DELETE /devices/<uid>`; a device already gone (404) is `Ok(false)`.
    pub async fn delete_device(&self, uid: &str) -> Result<bool, ApiError> {
        let _ = uid;
        todo!("issue 4: delete")
    }
}

/// Which of `keys` the platform already has, with as few requests as the case allows (one listing pass when the
/// subscription is small relative to the batch, per-EUI look-ups when it is large).
pub async fn find_existing(
    client: &Client,
    keys: &[ExistKey],
) -> Result<HashMap<ExistKey, DeviceInfo>, ApiError> {
    let _ = (client, keys);
    todo!("issue 4: existing devices")
}
