//! The ThingPark simulator: a local stand-in for the platform (token endpoint, catalogue, devices, tags and domains,
//! traffic, alarms, DX Core connections) with faults on request, startable in-process ([`start`]) or as `tpbulk sim`.
//!
//! One mutex guards all mutable state; a request takes it at most twice (admission, then its work) and never across
//! an `.await`. Faults are decided by a hash of (seed, key, attempt), so a run is repeatable whatever the interleaving.

mod api;
pub mod catalog;
mod connections;
pub mod devices;
mod limits;
mod tags;
pub mod traffic;

use anyhow::Context as _;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use catalog::Catalog;
use devices::{Store, StoreSnapshot};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The base of every REST path.
pub const BASE_PATH: &str = "/thingpark/wireless/rest/subscriptions/mine";
/// The token endpoint.
pub const TOKEN_PATH: &str = "/users-auth/protocol/openid-connect/token";
/// DX Core connections (ThingPark X IoT Flow).
pub const CONNECTIONS_PATH: &str = "/thingpark/dx/core/latest/api/connections";
/// The simulator's own statistics, no token needed.
pub const STATS_PATH: &str = "/_sim/stats";
/// The default client id.
pub const DEFAULT_CLIENT_ID: &str = "tpbulk-sim";
/// The default client secret; a fixed, public value, not a real secret.
pub const DEFAULT_CLIENT_SECRET: &str = "tpbulk-sim-secret";

/// How a simulator behaves. Start from [`SimConfig::default`] and change what a test needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The catalogue document (see [`catalog::Catalog::from_value`]); `None`: the built-in tutorial examples.
    pub catalog: Option<Value>,
    /// Devices are loaded from this file at start (when it exists) and saved to it by [`SimHandle::stop`].
    pub state: Option<PathBuf>,
    pub client_id: String,
    pub client_secret: String,
    pub token_ttl: Duration,
    /// Leaky-bucket rate over the REST paths, requests per second.
    pub rate: Option<f64>,
    /// Bucket size for `rate`; default one second's worth of requests.
    pub burst: Option<u32>,
    /// Send `Retry-After` (whole seconds) with 429 answers.
    pub retry_after: bool,
    /// Added to every API call.
    pub latency: Duration,
    /// Fraction of device calls answered 503 before anything is done.
    pub fail: f64,
    /// Fraction of creations done and then answered by a dropped connection.
    pub drop: f64,
    /// HTTP status of the duplicate-EUI answer.
    pub duplicate_status: u16,
    pub seed: u64,
    /// Catalogue listing page size.
    pub page_size: usize,
    /// The largest `pageSize` a device listing honours; larger asks get this many (the platform's unpublished
    /// system-wide maximum).
    pub max_page_size: usize,
    /// Devices added at start, in their own EUI range ([`PRELOAD_EUI_BASE`] upwards), to stand for a large
    /// subscription.
    pub preload: u64,
}

/// The first EUI of the devices `--preload` adds: a range no test or sample file uses.
pub const PRELOAD_EUI_BASE: u64 = 0x0016_C001_0000_0000;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            catalog: None,
            state: None,
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            token_ttl: Duration::from_secs(3600),
            rate: None,
            burst: None,
            retry_after: false,
            latency: Duration::ZERO,
            fail: 0.0,
            drop: 0.0,
            duplicate_status: 409,
            seed: 1,
            page_size: 2,
            max_page_size: 1000,
            preload: 0,
        }
    }
}

impl SimConfig {
    /// Refuses settings the simulator cannot honour, before anything is bound or read.
    pub fn check(&self) -> anyhow::Result<()> {
        for (name, p) in [("fail", self.fail), ("drop", self.drop)] {
            if !(0.0..=1.0).contains(&p) {
                anyhow::bail!("--{name} must be a fraction from 0 to 1, got {p}");
            }
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            anyhow::bail!("--rate must be a positive number of requests per second, got {rate}");
        }
        if self.burst == Some(0) {
            anyhow::bail!("--burst must be at least 1");
        }
        if self.burst.is_some() && self.rate.is_none() {
            anyhow::bail!("--burst needs --rate");
        }
        if !(400..=499).contains(&self.duplicate_status) {
            anyhow::bail!(
                "--duplicate-status must be a 4xx status (409 or 400), got {}",
                self.duplicate_status
            );
        }
        if self.page_size == 0 {
            anyhow::bail!("--page-size must be at least 1");
        }
        if !(1..=1000).contains(&self.max_page_size) {
            anyhow::bail!(
                "--max-page-size must be from 1 to 1000, got {}",
                self.max_page_size
            );
        }
        if self.token_ttl.is_zero() {
            anyhow::bail!("--token-ttl must be at least 1 second");
        }
        if self.client_id.is_empty() || self.client_secret.is_empty() {
            anyhow::bail!("the client id and secret must not be empty");
        }
        Ok(())
    }
}

/// What the simulator saw, for tests: `GET /_sim/stats` answers the same.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Device key (EUI, or SIM id for cellular; the IMEI when there is no SIM) → successful creations.
    pub creations: BTreeMap<String, u64>,
    /// Device key → `POST /devices` attempts, whatever their answer.
    pub post_attempts: BTreeMap<String, u64>,
    /// Device key (as for `creations`) → `DELETE /devices/{id}` that removed it: a device deleted twice (created
    /// again in between) shows 2; a deletion of a device already gone (404) is not counted.
    #[serde(default)]
    pub deletions: BTreeMap<String, u64>,
    /// HTTP status → answers, every path; dropped connections are not answers.
    pub answers: BTreeMap<u16, u64>,
    /// Devices held now.
    pub devices: usize,
    /// Requests by route (`GET /devices`, `GET /devices/{id}`, `POST /devices`, `POST token`, …), whatever
    /// their answer: what a benchmark counts a command's requests with.
    #[serde(default)]
    pub requests: BTreeMap<String, u64>,
    /// Device EUI → updates applied (`PUT /devices/{uid}` that changed it; changes made by
    /// [`SimHandle::change_device`] are not counted).
    #[serde(default)]
    pub updates: BTreeMap<String, u64>,
    /// Device EUI → `PUT /devices/{uid}` attempts, whatever their answer.
    #[serde(default)]
    pub put_attempts: BTreeMap<String, u64>,
}

/// An error answer: `{code, message}` with an HTTP status.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: u32,
    pub message: String,
    pub retry_after: Option<u64>,
    /// The DX APIs add an `errorId` to their error bodies.
    pub error_id: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            error_id: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, 100, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, 404, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut body = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(id) = self.error_id {
            body["errorId"] = Value::from(id);
        }
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Everything the lock guards.
struct State {
    catalog: Catalog,
    store: Store,
    tokens: HashMap<String, std::time::Instant>,
    bucket: Option<limits::Bucket>,
    /// What the statistics count (all but `answers` and `devices`, which [`Sim::stats`] fills in).
    counts: Stats,
    connections: Vec<Value>,
    next_connection: u64,
    next_app_server: u64,
    /// Connections added at run time, kept for the state file.
    added_app_servers: Vec<Value>,
}

/// The state file: devices and the connections created at run time.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct StateFile {
    store: StoreSnapshot,
    #[serde(default)]
    app_servers: Vec<Value>,
    #[serde(default)]
    connections: Vec<Value>,
    #[serde(default)]
    next_connection: u64,
    #[serde(default)]
    next_app_server: u64,
}

/// The shared simulator behind every handler.
struct Sim {
    config: SimConfig,
    state: Mutex<State>,
    answers: Box<[AtomicU64]>,
    fail: AtomicU64,
    drop: AtomicU64,
    /// Counts device calls other than creations, whose faults have no device key to hang on.
    device_calls: AtomicU64,
}

impl Sim {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail_rate(&self) -> f64 {
        f64::from_bits(self.fail.load(Ordering::Relaxed))
    }

    fn drop_rate(&self) -> f64 {
        f64::from_bits(self.drop.load(Ordering::Relaxed))
    }

    fn count_answer(&self, status: u16) {
        if let Some(slot) = self.answers.get(usize::from(status)) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count_request(&self, route: String) {
        *self.lock().counts.requests.entry(route).or_default() += 1;
    }

    fn stats(&self) -> Stats {
        let state = self.lock();
        let answers = self
            .answers
            .iter()
            .enumerate()
            .filter_map(|(status, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then_some((status as u16, n))
            })
            .collect();
        Stats {
            answers,
            devices: state.store.len(),
            ..state.counts.clone()
        }
    }

    fn state_file(&self) -> StateFile {
        let state = self.lock();
        StateFile {
            store: state.store.snapshot(),
            app_servers: state.added_app_servers.clone(),
            connections: state.connections.clone(),
            next_connection: state.next_connection,
            next_app_server: state.next_app_server,
        }
    }
}

/// A request body that must be a JSON object.
fn object(body: &Value) -> Result<&serde_json::Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be a JSON object"))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A running simulator. Dropping it stops the server without saving the state; [`SimHandle::stop`] saves it.
pub struct SimHandle {
    addr: SocketAddr,
    sim: Arc<Sim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Starts a simulator on `config.listen` and returns once it accepts connections.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    config.check()?;
    let mut catalog = match &config.catalog {
        Some(value) => Catalog::from_value(value).context("reading the simulator catalogue")?,
        None => Catalog::builtin(),
    };
    let file = match &config.state {
        Some(path) => load_state(path)?.unwrap_or_default(),
        None => StateFile::default(),
    };
    let mut connections = catalog_connections(&catalog);
    connections.extend(file.connections);
    for server in &file.app_servers {
        catalog.app_servers.push(server.clone());
    }
    let mut store = Store::restore(file.store);
    preload(&mut store, config.preload, now_ms());
    let bucket = config
        .rate
        .map(|rate| limits::Bucket::new(rate, config.burst));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim {
        fail: AtomicU64::new(config.fail.to_bits()),
        drop: AtomicU64::new(config.drop.to_bits()),
        config,
        state: Mutex::new(State {
            catalog,
            store,
            tokens: HashMap::new(),
            bucket,
            counts: Stats::default(),
            connections,
            next_connection: file.next_connection.max(2000),
            next_app_server: file.next_app_server.max(3000),
            added_app_servers: file.app_servers,
        }),
        answers: (0..600).map(|_| AtomicU64::new(0)).collect(),
        device_calls: AtomicU64::new(0),
    });
    let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
    let app = api::router(sim.clone());
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        // Small request/answer pairs: Nagle would only add delay.
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = signal.await;
            })
            .await
    });
    tracing::info!(%addr, "simulator listening");
    Ok(SimHandle {
        addr,
        sim,
        shutdown: Some(shutdown),
        server: Some(server),
    })
}

/// Adds `count` LoRaWAN devices from [`PRELOAD_EUI_BASE`] up, created a day before `now_ms`; a device already in
/// the store (a state file from an earlier run) is kept as it is.
fn preload(store: &mut Store, count: u64, now_ms: i64) {
    let created = now_ms - 86_400_000;
    for i in 0..count {
        let eui = format!("{:016X}", PRELOAD_EUI_BASE + i);
        store.insert_unchecked(
            &serde_json::json!({
                "EUI": eui,
                "connectivity": "LORAWAN",
                "activation": "OTAA",
                "model": { "ID": "SMTC/LoRaMoteA.1_EU" },
            }),
            created,
        );
    }
    if count > 0 {
        tracing::info!(count, "devices preloaded");
    }
}

/// The DX Core view of the IoT Flow connections the catalogue already holds.
fn catalog_connections(catalog: &Catalog) -> Vec<Value> {
    catalog
        .app_servers
        .items()
        .iter()
        .filter_map(|server| {
            let id = server.get("tpxIotFlow")?.get("connectionId")?.as_str()?;
            Some(serde_json::json!({
                "id": id,
                "connectorId": "actility-mqtt-iot",
                "name": server.get("name").cloned().unwrap_or(Value::Null),
                "state": "OPENED",
            }))
        })
        .collect()
}

fn load_state(path: &Path) -> anyhow::Result<Option<StateFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read state file {}", path.display()));
        }
    };
    let file = serde_json::from_str(&text)
        .with_context(|| format!("state file {} is not a simulator state", path.display()))?;
    Ok(Some(file))
}

fn save_state(path: &Path, file: &StateFile) -> anyhow::Result<()> {
    let text = serde_json::to_vec_pretty(file)?;
    // Write beside and rename, so an interrupted save never leaves half a state file.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .with_context(|| format!("cannot write state file {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot write state file {}", path.display()))?;
    Ok(())
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The platform base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.sim.stats()
    }

    /// Adds a device as if it had been there before the batch: a body as `POST /devices` takes it, with its EUI
    /// (or for cellular its `sim.ID` / `enforcedIMEI`). Not counted as a creation; not checked against the catalogue.
    pub fn insert_device(&self, device: Value) {
        let inserted = self.sim.lock().store.insert_unchecked(&device, now_ms());
        if !inserted {
            tracing::warn!("insert_device: no EUI, SIM or IMEI, or the device exists already");
        }
    }

    /// Changes a device behind the importer's back, as another user would: `fields` as `PUT /devices/{uid}` takes
    /// them (`eui` without the `e` prefix); the device's version goes up by one. Not counted in the statistics.
    pub fn change_device(&self, eui: &str, fields: Value) -> anyhow::Result<()> {
        let mut state = self.sim.lock();
        let state = &mut *state;
        state
            .store
            .update(&format!("e{eui}"), &fields, true, &state.catalog, now_ms())
            .map(drop)
            .map_err(|e| anyhow::anyhow!("{}", e.message))
    }

    /// A device as `GET /devices/e<EUI>` answers it (`eui` without the `e` prefix).
    pub fn device(&self, eui: &str) -> Option<Value> {
        let state = self.sim.lock();
        state
            .store
            .find(&format!("e{eui}"))
            .map(|d| Value::Object(d.view.clone()))
    }

    /// Deletes a device behind the importer's back (`eui` without the `e` prefix). True when it existed.
    pub fn remove_device(&self, eui: &str) -> bool {
        self.sim.lock().store.remove(&format!("e{eui}")).is_some()
    }

    pub fn set_faults(&self, fail: f64, drop: f64) {
        self.sim
            .fail
            .store(fail.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        self.sim
            .drop
            .store(drop.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Stops accepting, lets answers in flight finish (at most 5 s), and saves the state file when configured.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut server) = self.server.take() {
            match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
                Ok(joined) => joined.context("simulator task")??,
                Err(_) => server.abort(),
            }
        }
        if let Some(path) = &self.sim.config.state {
            save_state(path, &self.sim.state_file())?;
        }
        Ok(())
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
