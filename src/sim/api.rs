//! The simulator's HTTP surface: routes, the token endpoint, admission (rate limit, bearer token, latency) and the
//! handlers, each a thin layer over the catalogue, the device store and the traffic generator.

use super::devices::{self, ListQuery, Mode, Refusal, no_device, query_value};
use super::limits::{Dice, roll};
use super::{
    ApiError, BASE_PATH, CONNECTIONS_PATH, STATS_PATH, Sim, TOKEN_PATH, connections, now_ms, tags,
    traffic,
};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

type Shared = State<Arc<Sim>>;

pub(super) fn router(sim: Arc<Sim>) -> Router {
    let api = Router::new()
        .route("/deviceProfiles", listing(Section::Models))
        .route(
            "/appServers",
            listing(Section::Connections).post(create_app_server),
        )
        .route("/networkSubscriptions", listing(Section::Plans))
        .route("/cellularNetworkContexts", listing(Section::Contexts))
        .route("/devices", get(list_devices).post(create_device))
        .route("/devices/alarms", get(alarms))
        .route("/devices/tags", post(tags::tag_devices))
        .route("/devices/domains", post(tags::device_domains))
        .route(
            "/devices/{id}",
            get(get_device).put(update_device).delete(delete_device),
        )
        .route("/devices/{id}/frames/aggregated", get(frames));
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route(STATS_PATH, get(stats))
        .route(
            CONNECTIONS_PATH,
            get(list_connections).post(create_connection),
        )
        .route(&format!("{CONNECTIONS_PATH}/{{id}}"), get(get_connection))
        .nest(BASE_PATH, api)
        .fallback(not_found)
        .layer(axum::middleware::map_response_with_state(
            sim.clone(),
            count_answer,
        ))
        .layer(axum::middleware::map_request_with_state(
            sim.clone(),
            count_request,
        ))
        .with_state(sim)
}

/// Marks an answer that is never sent: the connection is dropped instead.
#[derive(Clone, Copy)]
struct Dropped;

async fn count_answer(State(sim): Shared, response: Response) -> Response {
    if response.extensions().get::<Dropped>().is_none() {
        sim.count_answer(response.status().as_u16());
    }
    response
}

async fn count_request(
    State(sim): Shared,
    request: axum::extract::Request,
) -> axum::extract::Request {
    if request.uri().path() != STATS_PATH {
        sim.count_request(route_key(request.method().as_str(), request.uri().path()));
    }
    request
}

/// `GET /devices/{id}` for `GET …/subscriptions/mine/devices/e70B3…`: the route a request took, with the API's
/// base path left out and identifiers replaced by `{id}`.
fn route_key(method: &str, path: &str) -> String {
    let Some(path) = path.strip_prefix(BASE_PATH) else {
        return format!(
            "{method} {}",
            if path == TOKEN_PATH { "token" } else { path }
        );
    };
    let parts: Vec<&str> = path
        .split('/')
        .enumerate()
        .map(|(i, part)| {
            let named = i < 2
                || matches!(
                    part,
                    "alarms" | "frames" | "aggregated" | "tags" | "domains"
                );
            if named { part } else { "{id}" }
        })
        .collect();
    format!("{method} {}", parts.join("/"))
}

async fn not_found() -> ApiError {
    ApiError::not_found("No such resource")
}

async fn stats(State(sim): Shared) -> Response {
    axum::Json(sim.stats()).into_response()
}

fn json_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Decodes `a=b&c=d` (query strings and form bodies): `+` is a space, `%XX` a byte.
pub(super) fn form_pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

/// One form-encoded value, `=` and `&` included.
fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// `POST /users-auth/protocol/openid-connect/token`: client credentials in the form body or HTTP Basic.
async fn token(State(sim): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let form = form_pairs(&String::from_utf8_lossy(&body));
    let grant = query_value(&form, "grant_type");
    if grant != Some("client_credentials") {
        return keycloak_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type (client_credentials expected)",
        );
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (form_decode(id), form_decode(secret)))
        });
    let (id, secret) = match basic {
        Some(pair) => pair,
        None => (
            query_value(&form, "client_id").unwrap_or("").to_owned(),
            query_value(&form, "client_secret").unwrap_or("").to_owned(),
        ),
    };
    if id != sim.config.client_id || secret != sim.config.client_secret {
        return keycloak_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Invalid client or Invalid client credentials",
        );
    }
    let token = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    let now = Instant::now();
    {
        let mut state = sim.lock();
        if state.tokens.len() >= 4096 {
            state.tokens.retain(|_, expiry| *expiry > now);
        }
        state
            .tokens
            .insert(token.clone(), now + sim.config.token_ttl);
    }
    axum::Json(json!({
        "access_token": token,
        "expires_in": sim.config.token_ttl.as_secs(),
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": "",
    }))
    .into_response()
}

fn keycloak_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The gate of every API call: the leaky bucket, then a live bearer token, then the configured latency.
async fn admit(sim: &Sim, headers: &HeaderMap) -> Result<(), ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let now = Instant::now();
    {
        let mut state = sim.lock();
        if let Some(bucket) = &mut state.bucket
            && let Err(wait) = bucket.take(now)
        {
            let mut error = ApiError::new(429, 429, "Too many requests");
            if sim.config.retry_after {
                error.retry_after = Some(wait.ceil().max(1.0) as u64);
            }
            return Err(error);
        }
        match bearer.and_then(|t| state.tokens.get(t)) {
            Some(expiry) if *expiry > now => {}
            Some(_) => return Err(ApiError::new(401, 401, "The access token has expired")),
            None if bearer.is_none() => {
                return Err(ApiError::new(
                    401,
                    401,
                    "A bearer token is required (Authorization: Bearer …)",
                ));
            }
            None => return Err(ApiError::new(401, 401, "Invalid access token")),
        }
    }
    if !sim.config.latency.is_zero() {
        tokio::time::sleep(sim.config.latency).await;
    }
    Ok(())
}

/// Admission, then `--fail`, for a device call other than a creation: having no device key, its faults are keyed
/// on the `route` and a call counter.
pub(super) async fn admit_device_call(
    sim: &Sim,
    headers: &HeaderMap,
    route: &str,
) -> Result<(), ApiError> {
    admit(sim, headers).await?;
    let fail = sim.fail_rate();
    if fail > 0.0 {
        let call = sim.device_calls.fetch_add(1, Ordering::Relaxed);
        if roll(sim.config.seed, Dice::Fail, route, call) < fail {
            return Err(unavailable());
        }
    }
    Ok(())
}

fn unavailable() -> ApiError {
    ApiError::new(503, 503, "Service temporarily unavailable, try again later")
}

#[derive(Clone, Copy)]
enum Section {
    Models,
    Connections,
    Plans,
    Contexts,
}

async fn catalog_page(
    sim: &Sim,
    headers: &HeaderMap,
    raw: Option<String>,
    section: Section,
) -> Result<Response, ApiError> {
    admit(sim, headers).await?;
    let pairs = form_pairs(raw.as_deref().unwrap_or(""));
    let page_index = devices::page_index(&pairs)?;
    let connectivity = devices::connectivity(query_value(&pairs, "connectivity"))?;
    let size = sim.config.page_size;
    let state = sim.lock();
    let catalog = &state.catalog;
    let page = match section {
        Section::Models => catalog.device_profiles.page(connectivity, page_index, size),
        Section::Connections => catalog.app_servers.page(None, page_index, size),
        Section::Plans => plans_in_use(
            catalog
                .network_subscriptions
                .page(connectivity, page_index, size),
            &state.store,
        ),
        Section::Contexts => catalog
            .cellular_network_contexts
            .page(None, page_index, size),
    };
    drop(state);
    Ok(axum::Json(page).into_response())
}

/// A plan's `used` follows the devices the simulator holds on it, creations and deletions, on top of the
/// catalogue's own count.
fn plans_in_use(mut page: Value, store: &devices::Store) -> Value {
    if let Some(briefs) = page.get_mut("briefs").and_then(Value::as_array_mut) {
        for plan in briefs {
            let held = plan
                .get("ID")
                .and_then(Value::as_str)
                .map_or(0, |id| store.on_plan(id));
            if held > 0 {
                let used = plan.get("used").and_then(Value::as_u64).unwrap_or(0);
                plan["used"] = json!(used + held);
            }
        }
    }
    page
}

/// `GET` of one catalogue listing.
fn listing(section: Section) -> MethodRouter<Arc<Sim>> {
    get(
        move |State(sim): Shared, headers: HeaderMap, RawQuery(q): RawQuery| async move {
            catalog_page(&sim, &headers, q, section).await
        },
    )
}

pub(super) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))
}

/// `POST /devices`: count the attempt, roll `--fail`, check, create, roll `--drop`.
async fn create_device(
    State(sim): Shared,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    admit(&sim, &headers).await?;
    let pairs = form_pairs(q.as_deref().unwrap_or(""));
    let parsed = parse_json(&body);
    let key = parsed.as_ref().map(devices::body_key).unwrap_or_default();
    // Checks that need no platform state run outside the lock.
    let checked = parsed.and_then(|body| {
        let mode = Mode::parse(query_value(&pairs, "networkSubscriptionsHandlingMode"))?;
        devices::check_body(&body, mode)
    });
    let seed = sim.config.seed;
    let now = now_ms();
    let (location, bytes, attempt) = {
        let mut state = sim.lock();
        let attempt = if key.is_empty() {
            0
        } else {
            bump(&mut state.counts.post_attempts, &key)
        };
        let fail = sim.fail_rate();
        if fail > 0.0 && roll(seed, Dice::Fail, &key, attempt) < fail {
            return Err(unavailable());
        }
        let checked = checked?;
        let state = &mut *state;
        let device = match state.store.create(checked, &state.catalog, now) {
            Ok(device) => device,
            Err(Refusal::Invalid(error)) => return Err(error),
            Err(Refusal::Duplicate) => {
                return Err(ApiError::new(
                    sim.config.duplicate_status,
                    111,
                    "A Device report already exists for the given EUI",
                ));
            }
        };
        let href = device.view.get("href").and_then(Value::as_str);
        let location = href.unwrap_or("").to_owned();
        let bytes = device_json(&device.view, now);
        if !key.is_empty() {
            bump(&mut state.counts.creations, &key);
        }
        (location, bytes, attempt)
    };
    let dropping = sim.drop_rate();
    if dropping > 0.0 && roll(seed, Dice::Drop, &key, attempt) < dropping {
        return Ok(dropped());
    }
    Ok(created(
        json_response(StatusCode::CREATED, bytes),
        &location,
    ))
}

/// `response` as a 201, with `location` as its `Location` header.
fn created(mut response: Response, location: &str) -> Response {
    *response.status_mut() = StatusCode::CREATED;
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Adds one to the count of `key` and returns it.
fn bump(counts: &mut std::collections::BTreeMap<String, u64>, key: &str) -> u64 {
    let n = counts.entry(key.to_owned()).or_insert(0);
    *n += 1;
    *n
}

/// An answer whose body fails before anything is written, so the connection closes with no HTTP answer at all.
fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("simulated dropped connection"))
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::CREATED;
    response.extensions_mut().insert(Dropped);
    response
}

#[derive(serde::Serialize)]
struct WithNow<'a> {
    now: i64,
    #[serde(flatten)]
    view: &'a Map<String, Value>,
}

fn device_json(view: &Map<String, Value>, now: i64) -> Vec<u8> {
    serde_json::to_vec(&WithNow { now, view }).unwrap_or_default()
}

async fn list_devices(
    State(sim): Shared,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    admit_device_call(&sim, &headers, "GET /devices").await?;
    let pairs = form_pairs(q.as_deref().unwrap_or(""));
    let mut query = ListQuery::parse(&pairs)?;
    // As the OpenAPI file says of `pageSize`: above the system-wide maximum, the maximum is used.
    query.page_size = query.page_size.min(sim.config.max_page_size);
    let page = sim.lock().store.list(&query, now_ms());
    Ok(axum::Json(page).into_response())
}

async fn get_device(
    State(sim): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admit_device_call(&sim, &headers, "GET /devices/{id}").await?;
    let bytes = {
        let state = sim.lock();
        let device = state.store.find(&id).ok_or_else(|| no_device(&id))?;
        device_json(&device.view, now_ms())
    };
    Ok(json_response(StatusCode::OK, bytes))
}

async fn update_device(
    State(sim): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    admit_device_call(&sim, &headers, "PUT /devices/{id}").await?;
    let pairs = form_pairs(q.as_deref().unwrap_or(""));
    let force = matches!(query_value(&pairs, "force"), Some("" | "true"));
    Mode::parse(query_value(&pairs, "networkSubscriptionsHandlingMode"))?;
    let body = parse_json(&body)?;
    let now = now_ms();
    let (bytes, eui, attempt) = {
        let mut state = sim.lock();
        let state = &mut *state;
        let eui = state.store.find(&id).map(|d| d.eui().to_owned());
        let attempt = eui
            .as_ref()
            .map_or(0, |eui| bump(&mut state.counts.put_attempts, eui));
        let device = state.store.update(&id, &body, force, &state.catalog, now)?;
        let bytes = device_json(&device.view, now);
        let eui = device.eui().to_owned();
        bump(&mut state.counts.updates, &eui);
        (bytes, eui, attempt)
    };
    let dropping = sim.drop_rate();
    if dropping > 0.0
        && roll(sim.config.seed, Dice::Drop, &format!("PUT {eui}"), attempt) < dropping
    {
        return Ok(dropped());
    }
    Ok(json_response(StatusCode::OK, bytes))
}

async fn delete_device(
    State(sim): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admit_device_call(&sim, &headers, "DELETE /devices/{id}").await?;
    let mut state = sim.lock();
    let Some(device) = state.store.remove(&id) else {
        return Err(no_device(&id));
    };
    // Keyed as creations are, from the device as stored.
    let key = devices::body_key(&Value::Object(device.view));
    bump(&mut state.counts.deletions, &key);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn frames(
    State(sim): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    admit_device_call(&sim, &headers, "GET /devices/{id}/frames/aggregated").await?;
    let pairs = form_pairs(q.as_deref().unwrap_or(""));
    let eui = {
        let state = sim.lock();
        let device = state.store.find(&id).ok_or_else(|| no_device(&id))?;
        device.eui().to_owned()
    };
    let answer = traffic::aggregated(sim.config.seed, &eui, &pairs, now_ms())?;
    Ok(axum::Json(answer).into_response())
}

async fn alarms(
    State(sim): Shared,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    admit_device_call(&sim, &headers, "GET /devices/alarms").await?;
    let pairs = form_pairs(q.as_deref().unwrap_or(""));
    let query = traffic::AlarmQuery::parse(&pairs)?;
    let answer = {
        let state = sim.lock();
        traffic::alarms(sim.config.seed, state.store.iter(), &query)
    };
    Ok(axum::Json(answer).into_response())
}

/// `POST /appServers`: a Basic HTTPS connection, which then appears in the catalogue.
async fn create_app_server(
    State(sim): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admit(&sim, &headers).await?;
    let body = parse_json(&body)?;
    let checked = connections::check_app_server(&body)?;
    let now = now_ms();
    let answer = {
        let mut state = sim.lock();
        state.next_app_server += 1;
        let n = state.next_app_server;
        let (brief, answer) = connections::app_server(checked, n, now);
        state.catalog.app_servers.push(brief.clone());
        state.added_app_servers.push(brief);
        answer
    };
    let href = answer.get("href").and_then(Value::as_str).unwrap_or("");
    Ok(created(axum::Json(&answer).into_response(), href))
}

/// An error as the DX APIs answer it, with an `errorId`: what `?` makes of an [`ApiError`] in their handlers.
struct DxError(ApiError);

impl From<ApiError> for DxError {
    fn from(mut error: ApiError) -> DxError {
        error.error_id = Some(format!("{:016x}", rand::random::<u64>()));
        DxError(error)
    }
}

impl IntoResponse for DxError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

/// `POST` DX Core connections: an IoT Flow connection, which then also appears in `appServers` as `KAFKA`.
async fn create_connection(
    State(sim): Shared,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DxError> {
    admit(&sim, &headers).await?;
    let body = parse_json(&body)?;
    let checked = connections::check_connection(&body)?;
    let answer = {
        let mut state = sim.lock();
        state.next_connection += 1;
        let id = state.next_connection;
        state.next_app_server += 1;
        let n = state.next_app_server;
        let (connection, brief) = connections::connection(checked, id, n);
        state.catalog.app_servers.push(brief.clone());
        state.added_app_servers.push(brief);
        state.connections.push(connection.clone());
        connection
    };
    let id = answer.get("id").and_then(Value::as_str).unwrap_or("");
    Ok(created(
        axum::Json(&answer).into_response(),
        &format!("/connections/{id}"),
    ))
}

async fn list_connections(State(sim): Shared, headers: HeaderMap) -> Result<Response, DxError> {
    admit(&sim, &headers).await?;
    let list = sim.lock().connections.clone();
    Ok(axum::Json(list).into_response())
}

async fn get_connection(
    State(sim): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, DxError> {
    admit(&sim, &headers).await?;
    let found = sim
        .lock()
        .connections
        .iter()
        .find(|c| c.get("id").and_then(Value::as_str) == Some(id.as_str()))
        .cloned();
    match found {
        Some(connection) => Ok(axum::Json(connection).into_response()),
        None => Err(ApiError::not_found(format!("No connection for the given ID : {id}")).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route() {
        let devices = format!("{BASE_PATH}/devices");
        assert_eq!(route_key("GET", &devices), "GET /devices");
        assert_eq!(
            route_key("GET", &format!("{devices}/e70B3D5E756000001")),
            "GET /devices/{id}"
        );
        assert_eq!(
            route_key(
                "GET",
                &format!("{devices}/e70B3D5E756000001/frames/aggregated")
            ),
            "GET /devices/{id}/frames/aggregated"
        );
        assert_eq!(
            route_key("GET", &format!("{devices}/alarms")),
            "GET /devices/alarms"
        );
        assert_eq!(route_key("POST", TOKEN_PATH), "POST token");
    }

    #[test]
    fn form_pairs_decode_percent_and_plus() {
        let pairs = form_pairs("sort=EUI%2Casc&pageAfter=eyJ9%3D&a=b+c&flag&bad=%zz%4");
        assert_eq!(query_value(&pairs, "sort"), Some("EUI,asc"));
        assert_eq!(query_value(&pairs, "pageAfter"), Some("eyJ9="));
        assert_eq!(query_value(&pairs, "a"), Some("b c"));
        assert_eq!(query_value(&pairs, "flag"), Some(""));
        assert_eq!(query_value(&pairs, "bad"), Some("%zz%4"));
    }
}
