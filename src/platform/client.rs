//! The REST client: the bearer token (client credentials, cached, renewed before it runs out and after a 401),
//! one paced call path that maps every failure to an [`ApiError`], and the calls the pipeline makes.

use super::catalog::Catalog;
use super::pacing::{Backoff, Pacing, parse_retry_after};
use super::request::{CreateRequest, HandlingMode, TagCall, WireRequest};
use super::{ApiError, ClientConfig, DeviceInfo, DevicePage};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The device-manager API, under the base URL.
pub const SUBSCRIPTION_PATH: &str = "/thingpark/wireless/rest/subscriptions/mine";
/// The DX Core API (IoT Flow connections), under the base URL.
pub const DX_CORE_PATH: &str = "/thingpark/dx/core/latest/api";

/// Renew this long before the platform's `expires_in` runs out, so that no request carries a dying token.
const RENEW_MARGIN: Duration = Duration::from_secs(10);
/// The token lifetime clients assume when the answer does not say.
const DEFAULT_TOKEN_LIFETIME: u64 = 3600;
/// Attempts of a read or a delete before its error is final.
const READ_ATTEMPTS: u32 = 6;
/// A bound on a catalogue listing, against a platform that always says `more`.
const MAX_CATALOG_PAGES: u32 = 10_000;

/// The ThingPark REST client. Cheap to clone; every REST call waits on the shared [`Pacing`].
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    api_base: String,
    /// The path of `api_base` as requests' URLs carry it (the base URL's own path included): stripped from a
    /// request's path to count it, with a plain prefix comparison (a substring search per request cost more than
    /// the rest of the count).
    api_path: String,
    dx_base: String,
    /// `…/devices`, parsed once: every creation posts to it.
    /// `/devices`, then with `networkSubscriptionsHandlingMode=BASIC` and `=ADVANCED`: built once, since the url
    /// crate re-parses a whole URL each time a query pair is appended.
    devices_urls: [reqwest::Url; 3],
    pacing: Arc<Pacing>,
    /// The current token: read by every request, so a plain lock held for a clone, never across an await.
    token: std::sync::RwLock<Option<Token>>,
    /// Held while a token is fetched, so that only one task renews at a time.
    renewal: Mutex<()>,
    /// Requests made, by [`RequestKind`].
    counts: [AtomicU64; RequestKind::COUNT],
}

/// What a request was for, as the summaries count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Token,
    Catalogue,
    Lookup,
    Creation,
    Deletion,
    Update,
    /// `POST /devices/tags` and `POST /devices/domains`.
    Tagging,
    Other,
    /// A request sent again by the client itself: a read after a retryable error, any request after a refused
    /// token. (The engine's own retries of a creation are counted as creations and by the engine.)
    Retry,
}

impl RequestKind {
    const COUNT: usize = 9;

    /// The kind of a first attempt, from its method and its path under the API (`/devices`, …).
    fn of(method: &Method, path: &str) -> RequestKind {
        let catalogue = [
            "/deviceProfiles",
            "/appServers",
            "/networkSubscriptions",
            "/cellularNetworkContexts",
        ];
        let one_device = path
            .strip_prefix("/devices/")
            .is_some_and(|rest| !rest.contains('/') && rest != "alarms");
        if *method == Method::POST && path == "/devices" {
            RequestKind::Creation
        } else if *method == Method::DELETE && path.starts_with("/devices/") {
            RequestKind::Deletion
        } else if *method == Method::PUT && one_device {
            RequestKind::Update
        } else if *method == Method::POST && (path == "/devices/tags" || path == "/devices/domains")
        {
            RequestKind::Tagging
        } else if *method == Method::GET && catalogue.contains(&path) {
            RequestKind::Catalogue
        } else if *method == Method::GET && (path == "/devices" || one_device) {
            RequestKind::Lookup
        } else {
            RequestKind::Other
        }
    }
}

/// Requests a client made, by kind. `retries` are requests sent again by the client (reads after a retryable
/// error, requests after a refused token); the engine's second attempts of a creation are among `creations`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    pub token: u64,
    pub catalogue: u64,
    pub lookups: u64,
    pub creations: u64,
    pub deletions: u64,
    /// `PUT /devices/{uid}`.
    #[serde(default)]
    pub updates: u64,
    /// Tag and domain calls.
    pub tags: u64,
    pub other: u64,
    pub retries: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.token
            + self.catalogue
            + self.lookups
            + self.creations
            + self.deletions
            + self.updates
            + self.tags
            + self.other
            + self.retries
    }

    /// The requests made since `before` was taken.
    pub fn since(&self, before: &RequestCounts) -> RequestCounts {
        self.zip(before, u64::saturating_sub)
    }

    /// Both counts together.
    pub fn plus(&self, more: &RequestCounts) -> RequestCounts {
        self.zip(more, |a, b| a + b)
    }

    /// Each count of `self` and `other` put together by `f`.
    fn zip(&self, other: &RequestCounts, f: impl Fn(u64, u64) -> u64) -> RequestCounts {
        RequestCounts {
            token: f(self.token, other.token),
            catalogue: f(self.catalogue, other.catalogue),
            lookups: f(self.lookups, other.lookups),
            creations: f(self.creations, other.creations),
            deletions: f(self.deletions, other.deletions),
            updates: f(self.updates, other.updates),
            tags: f(self.tags, other.tags),
            other: f(self.other, other.other),
            retries: f(self.retries, other.retries),
        }
    }
}

/// One page of `GET /devices`, each device as the platform wrote it.
#[derive(Debug, Clone)]
pub struct BriefPage {
    pub briefs: Vec<Value>,
    pub more: bool,
    /// Only on the first page.
    pub count: Option<u64>,
    pub cursor: Option<String>,
}

/// Filters of a device listing (`GET /devices`), as the OpenAPI file defines them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// `devEUI=P` for each: devices whose EUI starts with any of them.
    pub eui_prefixes: Vec<String>,
    /// `connectivity=LORAWAN|CELLULAR`.
    pub connectivity: Option<&'static str>,
    /// `from=`: devices created at or after this time (milliseconds since the epoch).
    pub created_from_ms: Option<i64>,
    /// `tag=T` for each (exact match).
    pub tags: Vec<String>,
    /// `appServerID=`: devices associated with this connection.
    pub app_server: Option<String>,
}

#[derive(Clone)]
struct Token {
    /// `Bearer <token>`, built once and marked sensitive (kept out of any debug output of a request).
    header: reqwest::header::HeaderValue,
    renew_at: Instant,
}

/// An answer with a success status.
struct Answer {
    body: Value,
    location: Option<String>,
}

/// An answer with a success status, its body as it came.
struct RawAnswer {
    status: StatusCode,
    bytes: bytes::Bytes,
    location: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.config.url)
            .field("client_id", &self.inner.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: ClientConfig, pacing: Arc<Pacing>) -> Result<Client, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .danger_accept_invalid_certs(config.insecure)
            .user_agent(concat!("tpbulk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Transport {
                message: format!("cannot set up the HTTP client: {}", error_chain(&e)),
                maybe_sent: false,
            })?;
        let api_base = format!("{}{SUBSCRIPTION_PATH}", config.url);
        let devices_url = reqwest::Url::parse(&format!("{api_base}/devices")).map_err(|e| {
            ApiError::Transport {
                message: format!("bad base URL {}: {e}", config.url),
                maybe_sent: false,
            }
        })?;
        let with_mode = |mode: HandlingMode| {
            let mut url = devices_url.clone();
            url.query_pairs_mut()
                .append_pair("networkSubscriptionsHandlingMode", mode.as_str());
            url
        };
        let devices_urls = [
            devices_url.clone(),
            with_mode(HandlingMode::Basic),
            with_mode(HandlingMode::Advanced),
        ];
        let api_path = devices_url
            .path()
            .strip_suffix("/devices")
            .unwrap_or_default()
            .to_string();
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                api_base,
                api_path,
                devices_urls,
                dx_base: format!("{}{DX_CORE_PATH}", config.url),
                config,
                pacing,
                token: Default::default(),
                renewal: Mutex::new(()),
                counts: Default::default(),
            }),
        })
    }

    /// The checked settings this client was built from.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The shared pacing of this client's requests.
    pub fn pacing(&self) -> &Arc<Pacing> {
        &self.inner.pacing
    }

    /// Gets the first token: `Auth` when refused, `Transport` when unreachable.
    pub async fn authenticate(&self) -> Result<(), ApiError> {
        self.bearer().await.map(|_| ())
    }

    /// Every page of every catalogue listing.
    pub async fn catalog(&self) -> Result<Catalog, ApiError> {
        let models = self.both_radios("/deviceProfiles").await?;
        let connections = self.all_pages("/appServers", &[]).await?;
        let plans = self.both_radios("/networkSubscriptions").await?;
        // A subscription without cellular service may not offer this listing at all.
        let contexts = match self.all_pages("/cellularNetworkContexts", &[]).await {
            Err(ApiError::Status { status: 404, .. }) => Vec::new(),
            other => other?,
        };
        Ok(Catalog::from_briefs(
            &models,
            &connections,
            &plans,
            &contexts,
        ))
    }

    /// Every page of a catalogue listing for LoRaWAN, then for cellular.
    async fn both_radios(&self, path: &str) -> Result<Vec<Value>, ApiError> {
        let mut all = self.all_pages(path, &[("connectivity", "LORAWAN")]).await?;
        all.extend(
            self.all_pages(path, &[("connectivity", "CELLULAR")])
                .await?,
        );
        Ok(all)
    }

    /// One creation attempt, no retry (the engine retries after reconciling).
    pub async fn create_device(&self, request: &CreateRequest) -> Result<DeviceInfo, ApiError> {
        self.create_device_paced(&WireRequest::from(request), false)
            .await
    }

    /// [`Client::create_device`] of a request already on the wire; with `already_paced` the caller has just waited
    /// [`Pacing::wait`] itself (so it can journal `sending` after the wait and right before the request leaves),
    /// and this request takes no second permit.
    pub async fn create_device_paced(
        &self,
        request: &WireRequest,
        already_paced: bool,
    ) -> Result<DeviceInfo, ApiError> {
        let url = &self.inner.devices_urls[match request.mode {
            None => 0,
            Some(HandlingMode::Basic) => 1,
            Some(HandlingMode::Advanced) => 2,
        }];
        let answer = self
            .exchange(
                &Method::POST,
                url,
                Some(&request.body),
                already_paced,
                false,
            )
            .await?;
        let mut info = DeviceInfo::from_slice(&answer.bytes, answer.location.as_deref())
            .map_err(|e| unreadable(answer.status, url, e))?;
        // Cellular devices get their EUI from the platform; LoRaWAN ones keep the one we sent.
        if let (true, Some(eui)) = (info.eui.is_empty(), &request.eui) {
            info.eui = eui.to_ascii_uppercase();
        }
        Ok(info)
    }

    /// `GET /devices/e<EUI>`: `None` on 404. Retries what is retryable.
    pub async fn device_by_eui(&self, eui: &str) -> Result<Option<DeviceInfo>, ApiError> {
        let url = self.api_url(&format!("/devices/e{}", eui.to_ascii_uppercase()));
        let answer = found(self.call_with_retry(Method::GET, url, None).await)?;
        Ok(answer.map(|answer| DeviceInfo::from_json(&answer.body, None)))
    }

    /// `GET /devices/<reference>` (a uid, or `e<EUI>`) with every field an update compares and its
    /// `occContext.version`: `None` on 404. Retries what is retryable.
    pub async fn device(&self, reference: &str) -> Result<Option<DeviceInfo>, ApiError> {
        let url = self.api_url(&format!("/devices/{reference}"));
        let answer = found(self.call_with_retry(Method::GET, url, None).await)?;
        Ok(answer.map(|answer| {
            let mut info = DeviceInfo::from_json(&answer.body, None);
            let state = super::update::DeviceState::from_json(&answer.body, true);
            info.state = Some(Box::new(state));
            info
        }))
    }

    /// `PUT /devices/<uid>` of `change` with `version` as its `occContext.version`, one attempt (the engine
    /// reconciles and retries); with `already_paced` the caller has just waited [`Pacing::wait`]. `force` sends
    /// `force=true`, which makes the platform apply it whatever the version. A 409 that is not the duplicate answer
    /// is [`ApiError::Conflict`]; 404 is `Ok(false)`.
    pub async fn update_device_paced(
        &self,
        change: &super::update::Change,
        version: Option<u64>,
        force: bool,
        already_paced: bool,
    ) -> Result<bool, ApiError> {
        let mut url = self.api_url(&format!("/devices/{}", change.reference));
        {
            let mut query = url.query_pairs_mut();
            if force {
                query.append_pair("force", "true");
            }
            if change.names_plan() {
                query.append_pair(
                    "networkSubscriptionsHandlingMode",
                    HandlingMode::Advanced.as_str(),
                );
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let body = change.body(version);
        match self
            .call_paced(Method::PUT, url, Some(&body), already_paced, false)
            .await
        {
            Ok(_) => Ok(true),
            Err(ApiError::Status { status: 404, .. }) => Ok(false),
            Err(ApiError::Status {
                status: 409,
                message,
                ..
            }) => Err(ApiError::Conflict(message)),
            Err(e) => Err(e),
        }
    }

    /// One page of `GET /devices?sort=EUI,asc&pageSize=N[&pageAfter=]`. Retries what is retryable.
    pub async fn list_devices(
        &self,
        page_size: u32,
        after: Option<&str>,
    ) -> Result<DevicePage, ApiError> {
        self.list_devices_matching(&DeviceFilter::default(), page_size, after)
            .await
    }

    /// One page of the devices `filter` keeps, sorted by EUI and cursor-paginated. Retries what is retryable.
    pub async fn list_devices_matching(
        &self,
        filter: &DeviceFilter,
        page_size: u32,
        after: Option<&str>,
    ) -> Result<DevicePage, ApiError> {
        let page = self.list_device_briefs(filter, page_size, after).await?;
        Ok(DevicePage {
            devices: page
                .briefs
                .iter()
                .map(|b| DeviceInfo::from_json(b, None))
                .collect(),
            more: page.more,
            count: page.count,
            cursor: page.cursor,
        })
    }

    /// [`Client::list_devices_matching`] with each device as the platform wrote it (`export` reads more fields).
    pub async fn list_device_briefs(
        &self,
        filter: &DeviceFilter,
        page_size: u32,
        after: Option<&str>,
    ) -> Result<BriefPage, ApiError> {
        let mut url = self.api_url("/devices");
        {
            let mut query = url.query_pairs_mut();
            for prefix in &filter.eui_prefixes {
                query.append_pair("devEUI", prefix);
            }
            if let Some(connectivity) = filter.connectivity {
                query.append_pair("connectivity", connectivity);
            }
            if let Some(from) = filter
                .created_from_ms
                .and_then(chrono::DateTime::from_timestamp_millis)
            {
                query.append_pair(
                    "from",
                    &from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                );
            }
            for tag in &filter.tags {
                query.append_pair("tag", tag);
            }
            if let Some(app_server) = &filter.app_server {
                query.append_pair("appServerID", app_server);
            }
            query
                .append_pair("sort", "EUI,asc")
                .append_pair("pageSize", &page_size.to_string());
            if let Some(after) = after {
                query.append_pair("pageAfter", after);
            }
        }
        let mut body = self.call_with_retry(Method::GET, url, None).await?.body;
        let briefs = match body.get_mut("briefs").map(Value::take) {
            Some(Value::Array(briefs)) => briefs,
            _ => Vec::new(),
        };
        Ok(BriefPage {
            briefs,
            more: body.get("more").and_then(Value::as_bool).unwrap_or(false),
            count: body.get("count").and_then(Value::as_u64),
            cursor: body
                .pointer("/cursors/last")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The requests this client has made so far, by kind.
    pub fn request_counts(&self) -> RequestCounts {
        let n = |k: RequestKind| self.inner.counts[k as usize].load(Ordering::Relaxed);
        RequestCounts {
            token: n(RequestKind::Token),
            catalogue: n(RequestKind::Catalogue),
            lookups: n(RequestKind::Lookup),
            creations: n(RequestKind::Creation),
            deletions: n(RequestKind::Deletion),
            updates: n(RequestKind::Update),
            tags: n(RequestKind::Tagging),
            other: n(RequestKind::Other),
            retries: n(RequestKind::Retry),
        }
    }

    fn count(&self, kind: RequestKind) {
        self.inner.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// `DELETE /devices/<ref>`, one attempt (the engine retries a rollback's deletions itself); with `already_paced`
    /// the caller has just waited [`Pacing::wait`]. `false` when the platform no longer had the device (404).
    pub async fn delete_device_paced(
        &self,
        reference: &str,
        already_paced: bool,
    ) -> Result<bool, ApiError> {
        let url = self.api_url(&format!("/devices/{reference}"));
        match self
            .call_paced(Method::DELETE, url, None, already_paced, false)
            .await
        {
            Ok(_) => Ok(true),
            Err(ApiError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /devices/tags?action=TAG|UNTAG` with `{name, devEUIs}`, one attempt (the engine retries: the call is
    /// idempotent); with `already_paced` the caller has just waited [`Pacing::wait`].
    pub async fn tag_devices_paced(
        &self,
        call: &TagCall,
        already_paced: bool,
    ) -> Result<(), ApiError> {
        let mut url = self.api_url("/devices/tags");
        url.query_pairs_mut()
            .append_pair("action", call.action.as_str());
        let body = serde_json::json!({ "name": call.tag, "devEUIs": call.dev_euis });
        self.call_paced(Method::POST, url, Some(&body), already_paced, false)
            .await
            .map(drop)
    }

    /// `GET` of a path under the device-manager API (`/devices/e…/frames/aggregated?…`), JSON answer. Retries.
    pub async fn get_json(&self, path_and_query: &str) -> Result<Value, ApiError> {
        let url = self.url_under(&self.inner.api_base, path_and_query)?;
        Ok(self.call_with_retry(Method::GET, url, None).await?.body)
    }

    /// `POST` of a JSON body to a path under the device-manager API, one attempt. Returns the answer's body and
    /// its `Location` header.
    pub async fn post_json(
        &self,
        path_and_query: &str,
        body: &Value,
    ) -> Result<(Value, Option<String>), ApiError> {
        let url = self.url_under(&self.inner.api_base, path_and_query)?;
        let answer = self.call(Method::POST, url, Some(body)).await?;
        Ok((answer.body, answer.location))
    }

    /// `POST` of a JSON body to a path under the DX Core API (`/connections`), one attempt.
    pub async fn dx_post_json(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let url = self.url_under(&self.inner.dx_base, path)?;
        Ok(self.call(Method::POST, url, Some(body)).await?.body)
    }

    /// Every connection (`appServers`, all pages).
    pub async fn connections(&self) -> Result<Vec<super::Connection>, ApiError> {
        let briefs = self.all_pages("/appServers", &[]).await?;
        Ok(Catalog::from_briefs([], &briefs, [], []).connections)
    }

    /// `POST /appServers` (a Basic HTTPS connection), one attempt: the created connection's JSON.
    pub async fn create_app_server(&self, body: &Value) -> Result<Value, ApiError> {
        Ok(self.post_json("/appServers", body).await?.0)
    }

    /// `POST` DX Core `/connections` (a ThingPark X IoT Flow connection), one attempt: the created connection,
    /// whose `id` is the `tpxIotFlow.connectionId` of its `appServers` entry.
    pub async fn create_iot_flow_connection(&self, body: &Value) -> Result<Value, ApiError> {
        self.dx_post_json("/connections", body).await
    }

    /// A device's traffic history, `GET /devices/e<EUI>/frames/aggregated?duration=P<days>D&step=P1D&timezone=…`:
    /// the `briefs`, one per day. `None` when the platform does not know the device.
    pub async fn frames_aggregated(
        &self,
        eui: &str,
        days: u32,
        timezone: &str,
    ) -> Result<Option<Vec<Value>>, ApiError> {
        let mut url = self.api_url(&format!(
            "/devices/e{}/frames/aggregated",
            eui.to_ascii_uppercase()
        ));
        url.query_pairs_mut()
            .append_pair("duration", &format!("P{days}D"))
            .append_pair("step", "P1D")
            .append_pair("timezone", timezone);
        let answer = found(self.call_with_retry(Method::GET, url, None).await)?;
        Ok(answer.map(|answer| briefs(&answer.body).to_vec()))
    }

    /// Every device alarm (`GET /devices/alarms?sort=alarmUid,asc`, all cursor pages).
    pub async fn device_alarms(&self) -> Result<Vec<Value>, ApiError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = self.api_url("/devices/alarms");
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("sort", "alarmUid,asc");
                if let Some(after) = &after {
                    query.append_pair("pageAfter", after);
                }
            }
            let body = self.call_with_retry(Method::GET, url, None).await?.body;
            all.extend(briefs(&body).iter().cloned());
            let more = body.get("more").and_then(Value::as_bool).unwrap_or(false);
            let cursor = body.pointer("/cursors/last").and_then(Value::as_str);
            match cursor {
                Some(c) if more && after.as_deref() != Some(c) => after = Some(c.to_string()),
                _ => return Ok(all),
            }
        }
    }

    /// Every brief of an index-paginated listing: `pageIndex` 1, 2, … while `more` (the OpenAPI file's `PageIndex`:
    /// "starting at 1 for the first page").
    async fn all_pages(&self, path: &str, query: &[(&str, &str)]) -> Result<Vec<Value>, ApiError> {
        let mut all: Vec<Value> = Vec::new();
        for page in 1..=MAX_CATALOG_PAGES {
            let mut url = self.api_url(path);
            url.query_pairs_mut()
                .extend_pairs(query)
                .append_pair("pageIndex", &page.to_string());
            let body = self.call_with_retry(Method::GET, url, None).await?.body;
            let briefs = briefs(&body);
            all.extend(briefs.iter().cloned());
            let more = body.get("more").and_then(Value::as_bool).unwrap_or(false);
            // An empty page that claims more would loop forever.
            if !more || briefs.is_empty() {
                break;
            }
        }
        Ok(all)
    }

    fn api_url(&self, path: &str) -> reqwest::Url {
        reqwest::Url::parse(&format!("{}{path}", self.inner.api_base))
            .expect("the base URL was checked and paths are ours")
    }

    fn url_under(&self, base: &str, path_and_query: &str) -> Result<reqwest::Url, ApiError> {
        let sep = if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        reqwest::Url::parse(&format!("{base}{sep}{path_and_query}")).map_err(|e| {
            ApiError::Transport {
                message: format!("bad request path {path_and_query:?}: {e}"),
                maybe_sent: false,
            }
        })
    }

    /// [`Client::call`], again after a capped exponential backoff with jitter while the error is retryable.
    async fn call_with_retry(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        let mut attempt = 0;
        loop {
            match self
                .call_paced(method.clone(), url.clone(), body, false, attempt > 0)
                .await
            {
                Err(e) if e.is_retryable() && attempt + 1 < READ_ATTEMPTS => {
                    tracing::debug!(%method, path = url.path(), attempt, error = %e, "retrying");
                    tokio::time::sleep(Backoff::READS.delay(attempt + 1)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One request: pacing, token, send, and on a 401/403 a new token and one more try.
    async fn call(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        self.call_paced(method, url, body, false, false).await
    }

    /// [`Client::call`]; `already_paced` skips the first wait for pacing (a retry after a new token still waits).
    async fn call_paced(
        &self,
        method: Method,
        url: reqwest::Url,
        body: Option<&Value>,
        already_paced: bool,
        retry: bool,
    ) -> Result<Answer, ApiError> {
        let body = body.map(|b| {
            bytes::Bytes::from(serde_json::to_vec(b).expect("a JSON value always encodes"))
        });
        let answer = self
            .exchange(&method, &url, body.as_ref(), already_paced, retry)
            .await?;
        let body = if answer.bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer.bytes).map_err(|e| unreadable(answer.status, &url, e))?
        };
        Ok(Answer {
            body,
            location: answer.location,
        })
    }

    /// One request with a JSON body already encoded: pacing, token, send, and on a 401/403 a new token and one
    /// more try. A success answer comes back as bytes; any other status is an [`ApiError`].
    async fn exchange(
        &self,
        method: &Method,
        url: &reqwest::Url,
        body: Option<&bytes::Bytes>,
        mut already_paced: bool,
        retry: bool,
    ) -> Result<RawAnswer, ApiError> {
        let mut renewed = false;
        loop {
            if !std::mem::take(&mut already_paced) {
                self.inner.pacing.wait().await;
            }
            let token = self.bearer().await?;
            self.count(if retry || renewed {
                RequestKind::Retry
            } else {
                let path = url.path();
                RequestKind::of(
                    method,
                    path.strip_prefix(&*self.inner.api_path).unwrap_or(path),
                )
            });
            let mut request = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::AUTHORIZATION, token.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let response = request.send().await.map_err(|e| transport_error(&e, url))?;
            let status = response.status();
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) && !renewed {
                tracing::debug!(status = status.as_u16(), "token refused; getting a new one");
                self.drop_token(&token);
                renewed = true;
                continue;
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            ) {
                let pause = self.inner.pacing.slow_down(retry_after);
                tracing::info!(
                    status = status.as_u16(),
                    ?pause,
                    "platform asks to slow down"
                );
            } else {
                // Any other answer, an error included, shows the platform is keeping up.
                self.inner.pacing.succeeded();
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| transport_error(&e, url))?;
            if status.is_success() {
                return Ok(RawAnswer {
                    status,
                    bytes,
                    location,
                });
            }
            return Err(status_error(status, &bytes, retry_after));
        }
    }

    /// The current token, fetched or renewed first when needed.
    async fn bearer(&self) -> Result<reqwest::header::HeaderValue, ApiError> {
        if let Some(value) = self.valid_token() {
            return Ok(value);
        }
        let _renewing = self.inner.renewal.lock().await;
        // Another task may have renewed it while this one waited.
        if let Some(value) = self.valid_token() {
            return Ok(value);
        }
        let token = self.fetch_token().await?;
        let value = token.header.clone();
        *self.inner.token.write().expect("token lock") = Some(token);
        Ok(value)
    }

    /// The current token unless it is due for renewal.
    fn valid_token(&self) -> Option<reqwest::header::HeaderValue> {
        let slot = self.inner.token.read().expect("token lock");
        slot.as_ref()
            .filter(|t| Instant::now() < t.renew_at)
            .map(|t| t.header.clone())
    }

    /// Forgets `used` unless another task already replaced it.
    fn drop_token(&self, used: &reqwest::header::HeaderValue) {
        let mut slot = self.inner.token.write().expect("token lock");
        if slot.as_ref().is_some_and(|t| t.header == used) {
            *slot = None;
        }
    }

    async fn fetch_token(&self) -> Result<Token, ApiError> {
        let config = &self.inner.config;
        let url = &config.token_url;
        let started = Instant::now();
        self.count(RequestKind::Token);
        let response = self
            .inner
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", config.client_id.as_str()),
                ("client_secret", config.secret.expose()),
            ])
            .send()
            .await
            .map_err(
                |e| match transport_error(&e, reqwest::Url::parse(url).ok().as_ref()) {
                    ApiError::Transport { message, .. } => ApiError::Transport {
                        message: format!("token endpoint {message}"),
                        maybe_sent: false,
                    },
                    other => other,
                },
            )?;
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            if status.is_server_error() {
                return Err(ApiError::Transport {
                    message: format!("the token endpoint {url} answered HTTP {status}"),
                    maybe_sent: false,
                });
            }
            if status == StatusCode::NOT_FOUND {
                return Err(ApiError::Auth(token_not_found(&config.url, url)));
            }
            let reason = ["error_description", "error", "message"]
                .iter()
                .find_map(|k| body.get(k).and_then(Value::as_str))
                .map(|r| format!(": {}", scrub(r, config.secret.expose())))
                .unwrap_or_default();
            return Err(ApiError::Auth(format!(
                "the platform refused the credentials of client id {:?} (HTTP {}{reason})",
                config.client_id,
                status.as_u16()
            )));
        }
        let value = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Auth(format!("the token endpoint {url} answered without a token"))
            })?;
        let mut header = reqwest::header::HeaderValue::try_from(format!("Bearer {value}"))
            .map_err(|_| {
                ApiError::Auth(format!(
                    "the token endpoint {url} answered with a token that cannot go in a header"
                ))
            })?;
        header.set_sensitive(true);
        let lifetime = body
            .get("expires_in")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let lifetime = Duration::from_secs(lifetime);
        // A token shorter-lived than the margin is still used once rather than refetched for every call.
        let renew_at = started + lifetime.checked_sub(RENEW_MARGIN).unwrap_or(lifetime / 2);
        tracing::debug!(?lifetime, "got a token");
        Ok(Token { header, renew_at })
    }
}

/// The token endpoint answered 404: the address is wrong, not the credentials. Most often `--url` was given a
/// path (copied from a browser), which the token endpoint's path is appended to.
fn token_not_found(base: &str, token_url: &str) -> String {
    let mut message = format!("the token endpoint was not found at {token_url} (HTTP 404)");
    if let Ok(parsed) = reqwest::Url::parse(base)
        && !parsed.path().trim_matches('/').is_empty()
    {
        message.push_str(&format!(
            "; --url should be the platform's base address without a path: try --url {}://{}",
            parsed.scheme(),
            parsed.authority()
        ));
    } else {
        message.push_str("; check --url, or give the token endpoint with --token-url");
    }
    message
}

/// `None` for a 404: the platform does not have what was asked for.
fn found<T>(answer: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match answer {
        Ok(answer) => Ok(Some(answer)),
        Err(ApiError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A success answer whose body is not the JSON it should be.
fn unreadable(status: StatusCode, url: &reqwest::Url, e: serde_json::Error) -> ApiError {
    ApiError::Status {
        status: status.as_u16(),
        code: None,
        message: format!("unreadable answer from {}: {e}", url.path()),
        retry_after: None,
    }
}

fn briefs(body: &Value) -> &[Value] {
    body.get("briefs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn status_error(
    status: StatusCode,
    bytes: &[u8],
    retry_after: Option<std::time::Duration>,
) -> ApiError {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let code = body.get("code").and_then(|c| {
        c.as_i64()
            .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
    });
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim();
            if text.is_empty() || text.len() > 300 {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                text.to_string()
            }
        });
    ApiError::Status {
        status: status.as_u16(),
        code,
        message: message.trim().to_string(),
        retry_after,
    }
}

/// Maps a reqwest failure: nothing was sent when the connection could not be made; anything later leaves the
/// outcome unknown.
fn transport_error<'a>(err: &reqwest::Error, url: impl Into<Option<&'a reqwest::Url>>) -> ApiError {
    let maybe_sent = !(err.is_connect() || err.is_builder());
    let url = url.into();
    let place = url
        .map(|u| format!("{}://{}{}", u.scheme(), u.authority(), u.path()))
        .unwrap_or_default();
    let chain = error_chain(err);
    if let Some(u) = url.filter(|u| u.scheme() == "https")
        && plain_http_answer(&chain)
    {
        // The TLS handshake got an HTTP answer back: the port speaks plain HTTP.
        return ApiError::Transport {
            message: format!(
                "{place}: the server at {} answers plain HTTP, not HTTPS; use http://{} if that is really the \
                 platform",
                u.authority(),
                u.authority()
            ),
            maybe_sent,
        };
    }
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "no answer"
    };
    ApiError::Transport {
        message: format!("{place}: {what}: {chain}"),
        maybe_sent,
    }
}

/// What rustls says when the first bytes back from a TLS handshake are an HTTP answer.
fn plain_http_answer(chain: &str) -> bool {
    chain.contains("InvalidContentType") || chain.contains("corrupt message")
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        // hyper's "client error (Connect)" says nothing its sources do not say better.
        if !parts.contains(&text) && !text.starts_with("client error (") {
            parts.push(text);
        }
        source = e.source();
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    parts.join(": ")
}

/// An identity provider could echo what it was sent; a secret never goes further than this.
fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_parsed_into_code_and_message() {
        let e = status_error(
            StatusCode::BAD_REQUEST,
            br#"{"code":111,"message":"A Device report already exists for the given EUI"}"#,
            None,
        );
        assert!(e.is_duplicate());
        assert_eq!(
            e.to_string(),
            "HTTP 400 [111]: A Device report already exists for the given EUI"
        );
        let e = status_error(StatusCode::BAD_GATEWAY, b"", None);
        assert_eq!(e.to_string(), "HTTP 502: Bad Gateway");
        assert!(e.is_retryable());
    }

    #[test]
    fn requests_are_counted_by_what_they_are_for() {
        let of = RequestKind::of;
        assert_eq!(of(&Method::POST, "/devices"), RequestKind::Creation);
        assert_eq!(of(&Method::GET, "/devices"), RequestKind::Lookup);
        assert_eq!(
            of(&Method::GET, "/devices/e70B3D5E756000001"),
            RequestKind::Lookup
        );
        assert_eq!(of(&Method::GET, "/devices/alarms"), RequestKind::Other);
        assert_eq!(
            of(&Method::GET, "/devices/e70B3D5E756000001/frames/aggregated"),
            RequestKind::Other
        );
        assert_eq!(of(&Method::DELETE, "/devices/2227"), RequestKind::Deletion);
        assert_eq!(of(&Method::POST, "/devices/tags"), RequestKind::Tagging);
        assert_eq!(of(&Method::GET, "/deviceProfiles"), RequestKind::Catalogue);
        assert_eq!(of(&Method::POST, "/appServers"), RequestKind::Other);
    }

    #[test]
    fn a_token_endpoint_not_found_suggests_the_base_url_when_the_url_has_a_path() {
        let with_path = token_not_found(
            "https://community.thingpark.io/thingpark/wireless/rest",
            "https://community.thingpark.io/thingpark/wireless/rest/users-auth/protocol/openid-connect/token",
        );
        assert!(with_path.starts_with("the token endpoint was not found at https://"));
        assert!(
            with_path.ends_with("try --url https://community.thingpark.io"),
            "{with_path}"
        );
        let bare = token_not_found("https://tp.example.com", "https://tp.example.com/x");
        assert!(bare.contains("--token-url"), "{bare}");
    }

    #[test]
    fn a_tls_handshake_answered_in_plain_http_is_recognised() {
        assert!(plain_http_answer(
            "invalid peer certificate: received corrupt message of type InvalidContentType"
        ));
        assert!(!plain_http_answer("Connection refused (os error 111)"));
    }

    #[test]
    fn scrub_hides_an_echoed_secret() {
        assert_eq!(scrub("bad secret hunter2", "hunter2"), "bad secret ****");
    }
}
