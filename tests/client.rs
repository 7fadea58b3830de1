//! The ThingPark client and the request bodies: bodies built from the tutorial's values beyond its examples
//! (LoRaWAN 1.1, ABP) and checked against the OpenAPI schema; token reuse, renewal and the 401 retry, pacing on 429,
//! error mapping and the existing-device search against a small scripted server bound to 127.0.0.1:0.

use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tpbulk::device::{AppSKeys, DevAddr, Device, Eui, Ids, Imei, Key, Kind, McClass, Refs, SimId};
use tpbulk::platform::{
    ApiError, Client, ClientConfig, CreateRequest, ExistKey, HandlingMode, LookupProgress, Pacing,
    Resolved, build_request, find_existing,
};
use tpbulk::secret::Secret;

use crate::tutorial;

// ---------------------------------------------------------------------------------------------------------------
// Request bodies (the tutorial's own examples, read from a shipment file: tests/contract.rs)

const TUTORIAL_CONNECTION: &str = "TWA_199982747.1972.AS";

fn eui(s: &str) -> Eui {
    Eui::parse(s).unwrap()
}
fn key(s: &str) -> Key {
    Key::parse(s).unwrap()
}

fn device(name: Option<&str>, ids: Ids) -> Device {
    Device {
        row: 2,
        name: name.map(str::to_string),
        ids,
        refs: Refs::default(),
        extras: Default::default(),
    }
}

fn resolved(model: Option<&str>, lorawan_1_1: bool) -> Resolved {
    Resolved {
        model_id: model.map(str::to_string),
        lorawan_1_1,
        connection_ids: vec![TUTORIAL_CONNECTION.into()],
        plan_id: None,
        context_id: None,
    }
}

fn otaa(nwk_key: Option<&str>, join_eui: Option<&str>) -> Device {
    device(
        Some("My device"),
        Ids::Otaa {
            dev_eui: eui("70B3D5E756000999"),
            join_eui: join_eui.map(eui),
            app_key: key("7374757A3FDD092947CE2DE9321C6040"),
            nwk_key: nwk_key.map(key),
            app_key_from_nwk_key: false,
        },
    )
}

#[test]
fn otaa_1_1_body_adds_the_nwk_key_and_join_eui() {
    let mut r = resolved(Some("GENERIC/SENSOR_1_1"), true);
    r.plan_id = Some("acme-cs/lora-cp".into());
    let request = build_request(
        &otaa(
            Some("00112233445566778899AABBCCDDEEFF"),
            Some("65FC7B3530A44FB9"),
        ),
        &r,
    );
    let mut expected = tutorial::otaa_body();
    expected["model"] = json!({"ID": "GENERIC/SENSOR_1_1"});
    expected["networkSubscription"] = json!({"ID": "acme-cs/lora-cp"});
    expected["appEUI"] = json!("65FC7B3530A44FB9");
    expected["nwkKey"] = json!("00112233445566778899AABBCCDDEEFF");
    assert_eq!(request.mode, Some(HandlingMode::Advanced));
    assert_eq!(request.body, expected);
    let masked = request.masked();
    assert_eq!(masked["nwkKey"], "****EEFF");
    assert_eq!(masked["appKey"], "****6040");
    assert!(!masked.to_string().contains("7374757A3FDD0929"));
}

#[test]
fn abp_body_uses_the_tutorials_session_key_fields() {
    let abp = |s_int: Option<&str>, s_enc: Option<&str>| {
        device(
            Some("My device"),
            Ids::Abp {
                dev_eui: eui("70B3D5E756000999"),
                dev_addr: DevAddr::parse("785D25E2").unwrap(),
                nwk_s_key: key("7374757A3FDD092947CE2DE9321C6040"),
                app_s_keys: Some(AppSKeys::parse("8D67B0D6359D11ACFC45AD4BB9CE2D4F").unwrap()),
                s_nwk_s_int_key: s_int.map(key),
                nwk_s_enc_key: s_enc.map(key),
            },
        )
    };
    let request = build_request(
        &abp(None, None),
        &resolved(Some("SMTC/LoRaMoteA.1_EU"), false),
    );
    // The ABP fields as the tutorial's multicast example writes them.
    let mut expected = tutorial::otaa_body();
    let map = expected.as_object_mut().unwrap();
    map.remove("appKey");
    map.insert("activation".into(), json!("ABP"));
    map.insert("nwAddress".into(), json!("785D25E2"));
    map.insert("nwKey".into(), json!("7374757A3FDD092947CE2DE9321C6040"));
    map.insert(
        "appKeys".into(),
        json!(
            "<AppSKeys><AppSKey Port=\"*\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey></AppSKeys>"
        ),
    );
    assert_eq!(request.body, expected);
    assert_eq!(
        request.masked()["appKeys"],
        "<AppSKeys><AppSKey Port=\"*\">****2D4F</AppSKey></AppSKeys>"
    );
    assert_eq!(request.masked()["nwKey"], "****6040");

    let request = build_request(
        &abp(
            Some("0102030405060708090A0B0C0D0E0F10"),
            Some("1112131415161718191A1B1C1D1E1F20"),
        ),
        &resolved(Some("GENERIC/SENSOR_1_1"), true),
    );
    expected["model"] = json!({"ID": "GENERIC/SENSOR_1_1"});
    expected["sNwkSIntKey"] = json!("0102030405060708090A0B0C0D0E0F10");
    expected["nwkSEncKey"] = json!("1112131415161718191A1B1C1D1E1F20");
    assert_eq!(request.body, expected);
    let masked = request.masked();
    assert_eq!(
        (
            masked["sNwkSIntKey"].as_str(),
            masked["nwkSEncKey"].as_str()
        ),
        (Some("****0F10"), Some("****1F20"))
    );
}

fn cellular_request() -> CreateRequest {
    let d = device(
        Some("My device"),
        Ids::Cellular {
            imei: Some(Imei::parse("123456789012347").unwrap()),
            sim: Some(SimId::parse("89208013535718672291").unwrap()),
            imsi: None,
        },
    );
    let r = Resolved {
        model_id: Some("CUSTOM/LTE_Dongle".into()),
        lorawan_1_1: false,
        connection_ids: vec![TUTORIAL_CONNECTION.into()],
        plan_id: Some("acme-cs/cellular-cp".into()),
        context_id: Some("1AF3B".into()),
    };
    build_request(&d, &r)
}

fn multicast_request() -> CreateRequest {
    let d = device(
        Some("My multicast group"),
        Ids::Multicast {
            dev_eui: eui("70B3D5E756000999"),
            dev_addr: DevAddr::parse("785D25E2").unwrap(),
            nwk_s_key: key("7374757A3FDD092947CE2DE9321C6040"),
            app_s_keys: AppSKeys::parse("8D67B0D6359D11ACFC45AD4BB9CE2D4F").unwrap(),
            class: McClass::C,
            data_rate: 15,
            frequency: 869.525,
            tags: vec!["tag1".into()],
        },
    );
    build_request(&d, &resolved(None, false))
}

#[test]
fn a_row_without_a_name_sends_none() {
    let mut d = otaa(None, None);
    d.name = None;
    let request = build_request(&d, &resolved(Some("SMTC/LoRaMoteA.1_EU"), false));
    assert!(request.body.get("name").is_none());
}

/// The property names of a schema of `components/schemas` in the OpenAPI file, read by indentation.
fn schema_properties(yaml: &str, schema: &str) -> HashSet<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let schemas = lines
        .iter()
        .position(|l| *l == "  schemas:")
        .expect("components/schemas");
    let start = lines[schemas..]
        .iter()
        .position(|l| *l == format!("    {schema}:"))
        .map(|i| i + schemas)
        .unwrap_or_else(|| panic!("schema {schema}"));
    let mut props = HashSet::new();
    let mut in_properties = false;
    for line in &lines[start + 1..] {
        let indent = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && indent <= 4 {
            break;
        }
        if indent == 6 {
            in_properties = line.trim() == "properties:";
        } else if in_properties && indent == 8 && line.trim_end().ends_with(':') {
            props.insert(
                line.trim()
                    .trim_end_matches(':')
                    .trim_matches('\'')
                    .to_string(),
            );
        }
    }
    props
}

#[test]
fn every_field_sent_exists_in_the_openapi_schema() {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/openapi/device-manager.tpe-public.openapi.yaml"
    ))
    .unwrap();
    let mut lorawan = schema_properties(&yaml, "Device");
    lorawan.extend(schema_properties(&yaml, "DeviceLorawan"));
    assert!(
        lorawan.contains("appKey") && lorawan.contains("EUI"),
        "{lorawan:?}"
    );
    let mut cellular = schema_properties(&yaml, "Device");
    cellular.extend(schema_properties(&yaml, "DeviceCellular"));
    let multicast = schema_properties(&yaml, "MulticastGroup");

    let mut r11 = resolved(Some("M"), true);
    r11.plan_id = Some("P".into());
    let bodies = [
        (
            build_request(
                &otaa(None, Some("65FC7B3530A44FB9")),
                &resolved(Some("M"), false),
            )
            .body,
            &lorawan,
            vec![],
        ),
        (
            build_request(&otaa(Some("00112233445566778899AABBCCDDEEFF"), None), &r11).body,
            &lorawan,
            vec![],
        ),
        (
            build_request(
                &device(
                    Some("d"),
                    Ids::Abp {
                        dev_eui: eui("70B3D5E756000999"),
                        dev_addr: DevAddr::parse("785D25E2").unwrap(),
                        nwk_s_key: key("7374757A3FDD092947CE2DE9321C6040"),
                        app_s_keys: Some(
                            AppSKeys::parse("8D67B0D6359D11ACFC45AD4BB9CE2D4F").unwrap(),
                        ),
                        s_nwk_s_int_key: Some(key("0102030405060708090A0B0C0D0E0F10")),
                        nwk_s_enc_key: Some(key("1112131415161718191A1B1C1D1E1F20")),
                    },
                ),
                &r11,
            )
            .body,
            &lorawan,
            vec![],
        ),
        // The reference README: these cellular fields exist only in the tutorial, which is primary.
        // `appServers` is in the file's LoRaWAN schema only, and the tutorial sends it for cellular devices too.
        (
            cellular_request().body,
            &cellular,
            vec!["enforcedIMEI", "sim", "networkContext", "appServers"],
        ),
        // The tutorial posts multicast groups to /devices; the OpenAPI file describes them as MulticastGroup.
        (multicast_request().body, &multicast, vec![]),
    ];
    for (body, schema, tutorial_only) in bodies {
        for field in body.as_object().unwrap().keys() {
            assert!(
                schema.contains(field) || tutorial_only.contains(&field.as_str()),
                "{field} is not in the schema (body {body})"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The client against a scripted server

const API: &str = "/thingpark/wireless/rest/subscriptions/mine";
const SECRET: &str = "right-secret-1234";

#[derive(Default)]
struct Mock {
    ttl: u64,
    issued: Mutex<u32>,
    valid: Mutex<HashSet<String>>,
    /// Statuses to answer API calls with, first in first out, before normal service.
    script: Mutex<VecDeque<(u16, Option<&'static str>)>>,
    /// Method and path-with-query of every API call.
    seen: Mutex<Vec<String>>,
    devices: Mutex<Vec<Value>>,
    /// A `count` to claim on the first listing page, to make a subscription look large.
    claimed_count: Option<u64>,
}

type Shared = Arc<Mock>;

async fn token(State(m): State<Shared>, body: String) -> Response {
    let form: HashMap<String, String> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_secret").map(String::as_str) != Some(SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "unauthorized_client", "error_description": "Invalid client secret"})),
        )
            .into_response();
    }
    let mut issued = m.issued.lock().unwrap();
    *issued += 1;
    let value = format!("token-{issued}");
    m.valid.lock().unwrap().insert(value.clone());
    axum::Json(json!({"access_token": value, "expires_in": m.ttl, "token_type": "Bearer"}))
        .into_response()
}

/// Authorisation and the script; `None` lets the handler answer.
fn gate(m: &Mock, headers: &HeaderMap, line: String) -> Option<Response> {
    m.seen.lock().unwrap().push(line);
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !m.valid.lock().unwrap().contains(bearer) {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"code": 401, "message": "token expired"})),
            )
                .into_response(),
        );
    }
    let (status, retry_after) = m.script.lock().unwrap().pop_front()?;
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"code": status, "message": "scripted"})),
    )
        .into_response();
    if let Some(r) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", r.parse().unwrap());
    }
    Some(response)
}

async fn get_device(
    State(m): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = gate(&m, &headers, format!("GET /devices/{id}")) {
        return r;
    }
    let devices = m.devices.lock().unwrap();
    match devices
        .iter()
        .find(|d| format!("e{}", d["EUI"].as_str().unwrap()) == id)
    {
        Some(d) => axum::Json(d.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"code": 404, "message": "no such device"})),
        )
            .into_response(),
    }
}

async fn list_devices(
    State(m): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Response {
    // As sent: a repeated `devEUI` stays repeated.
    if let Some(r) = gate(
        &m,
        &headers,
        format!("GET /devices?{}", raw.unwrap_or_default()),
    ) {
        return r;
    }
    let size: usize = q
        .get("pageSize")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let devices = m.devices.lock().unwrap();
    let start = match q.get("pageAfter") {
        Some(after) => devices
            .iter()
            .position(|d| d["EUI"] == *after)
            .map_or(devices.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<Value> = devices.iter().skip(start).take(size).cloned().collect();
    let more = start + page.len() < devices.len() || (start == 0 && m.claimed_count.is_some());
    let count = if start == 0 {
        json!(m.claimed_count.unwrap_or(devices.len() as u64))
    } else {
        Value::Null
    };
    axum::Json(json!({
        "briefs": page, "more": more, "count": count,
        "cursors": {"last": page.last().map(|d| d["EUI"].clone())}
    }))
    .into_response()
}

async fn create_device(
    State(m): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mode = q
        .get("networkSubscriptionsHandlingMode")
        .cloned()
        .unwrap_or_default();
    if let Some(r) = gate(&m, &headers, format!("POST /devices {mode}")) {
        return r;
    }
    let mut devices = m.devices.lock().unwrap();
    if devices.iter().any(|d| d["EUI"] == body["EUI"]) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"code": 111, "message": "A Device report already exists for the given EUI"}),
            ),
        )
            .into_response();
    }
    let uid = 2227 + devices.len();
    let href = format!("/thingpark/wireless/rest/subscriptions/32/devices/{uid}");
    let mut stored = body.clone();
    stored["href"] = json!(href);
    devices.push(stored);
    let mut response = (
        StatusCode::CREATED,
        axum::Json(json!({"name": body["name"], "EUI": body["EUI"]})),
    )
        .into_response();
    response
        .headers_mut()
        .insert("location", href.parse().unwrap());
    response
}

async fn serve(mock: Mock) -> (String, Shared) {
    let shared = Arc::new(mock);
    let app = Router::new()
        .route("/users-auth/protocol/openid-connect/token", post(token))
        .route(
            &format!("{API}/devices"),
            get(list_devices).post(create_device),
        )
        .route(&format!("{API}/devices/{{id}}"), get(get_device))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // The server lives as long as the test's runtime.
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, shared)
}

fn config(url: &str, secret: &str) -> ClientConfig {
    ClientConfig {
        url: url.to_string(),
        token_url: format!("{url}/users-auth/protocol/openid-connect/token"),
        client_id: "sub-32/tpbulk".into(),
        secret: Secret::new(secret),
        insecure: false,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
    }
}

fn mock(ttl: u64) -> Mock {
    Mock {
        ttl,
        ..Mock::default()
    }
}

fn stored(eui: &str) -> Value {
    json!({"EUI": eui, "name": format!("dev {eui}"), "href": format!("/thingpark/wireless/rest/subscriptions/32/devices/{eui}")})
}

#[tokio::test]
async fn one_token_serves_many_calls_and_a_401_gets_a_new_one_once() {
    let (url, m) = serve(mock(3600)).await;
    let client = Client::new(config(&url, SECRET), Pacing::new(None)).unwrap();
    client.authenticate().await.unwrap();
    assert_eq!(
        client.device_by_eui("70B3D5E756000999").await.unwrap(),
        None
    );
    assert_eq!(
        client.device_by_eui("70B3D5E756000998").await.unwrap(),
        None
    );
    assert_eq!(*m.issued.lock().unwrap(), 1);

    // The platform forgets the token before its time: one 401, one new token, the call succeeds.
    m.valid.lock().unwrap().clear();
    assert_eq!(
        client.device_by_eui("70B3D5E756000999").await.unwrap(),
        None
    );
    assert_eq!(*m.issued.lock().unwrap(), 2);
    assert_eq!(m.seen.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_token_is_renewed_before_it_runs_out() {
    // 11 s of life minus the 10 s margin: renewed after one second, before the platform would refuse it.
    let (url, m) = serve(mock(11)).await;
    let client = Client::new(config(&url, SECRET), Pacing::new(None)).unwrap();
    client.device_by_eui("70B3D5E756000999").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.device_by_eui("70B3D5E756000999").await.unwrap();
    assert_eq!(*m.issued.lock().unwrap(), 2);
    // No call was refused: the renewal came first.
    assert_eq!(m.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_calls_share_one_renewal() {
    let (url, m) = serve(mock(3600)).await;
    let client = Client::new(config(&url, SECRET), Pacing::new(None)).unwrap();
    let calls: Vec<_> = (0..8)
        .map(|i| {
            let c = client.clone();
            tokio::spawn(async move { c.device_by_eui(&format!("70B3D5E75600099{i}")).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(*m.issued.lock().unwrap(), 1);
}

#[tokio::test]
async fn refused_credentials_are_an_auth_error_that_never_shows_the_secret() {
    let (url, _m) = serve(mock(3600)).await;
    let client = Client::new(config(&url, "wrong-secret-5678"), Pacing::new(None)).unwrap();
    let err = client.authenticate().await.unwrap_err();
    assert!(matches!(err, ApiError::Auth(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("sub-32/tpbulk") && text.contains("401"),
        "{text}"
    );
    assert!(!text.contains("wrong-secret"), "{text}");
}

#[tokio::test]
async fn an_unreachable_platform_is_a_transport_error_with_nothing_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new(config(&url, SECRET), Pacing::new(None)).unwrap();
    match client.authenticate().await.unwrap_err() {
        ApiError::Transport {
            maybe_sent,
            message,
        } => {
            assert!(!maybe_sent);
            assert!(message.contains("token endpoint"), "{message}");
            assert!(message.contains("cannot connect"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_connection_dropped_after_the_request_leaves_the_outcome_unknown() {
    let (token_url, _m) = serve(mock(3600)).await;
    // A server that reads the request and hangs up without an answer.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        while let Ok((mut socket, _)) = silent.accept().await {
            let mut buf = vec![0u8; 65536];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        }
    });
    let mut cfg = config(&url, SECRET);
    cfg.token_url = format!("{token_url}/users-auth/protocol/openid-connect/token");
    let client = Client::new(cfg, Pacing::new(None)).unwrap();
    let request = build_request(
        &otaa(None, None),
        &resolved(Some("SMTC/LoRaMoteA.1_EU"), false),
    );
    match client.create_device(&request).await.unwrap_err() {
        ApiError::Transport { maybe_sent, .. } => assert!(maybe_sent),
        other => panic!("{other:?}"),
    }
}

/// The creation URL is built once per mode: each request still carries its own mode (or none) in the query.
#[tokio::test]
async fn each_creation_carries_its_own_handling_mode() {
    let (url, m) = serve(mock(3600)).await;
    let client = Client::new(config(&url, SECRET), Pacing::new(None)).unwrap();
    let modes = [
        Some(HandlingMode::Advanced),
        None,
        Some(HandlingMode::Basic),
        Some(HandlingMode::Advanced),
    ];
    for (n, mode) in modes.into_iter().enumerate() {
        let request = CreateRequest {
            kind: Kind::Otaa,
            mode,
            body: json!({"EUI": format!("70B3D5E75600100{n}"), "activation": "OTAA"}),
        };
        client.create_device(&request).await.unwrap();
    }
    assert_eq!(
        *m.seen.lock().unwrap(),
        [
            "POST /devices ADVANCED",
            "POST /devices ",
            "POST /devices BASIC",
            "POST /devices ADVANCED",
        ]
    );
}

#[tokio::test]
async fn create_reports_the_location_and_a_second_create_is_a_duplicate() {
    let (url, m) = serve(mock(3600)).await;
    let client = Client::new(config(&url, SECRET), Pacing::new(None)).unwrap();
    let request = build_request(
        &otaa(None, None),
        &resolved(Some("SMTC/LoRaMoteA.1_EU"), false),
    );
    let created = client.create_device(&request).await.unwrap();
    assert_eq!(created.eui, "70B3D5E756000999");
    assert_eq!(created.uid.as_deref(), Some("2227"));
    assert_eq!(m.seen.lock().unwrap()[0], "POST /devices BASIC");
    let err = client.create_device(&request).await.unwrap_err();
    assert!(err.is_duplicate() && !err.is_retryable(), "{err:?}");
    // One attempt each: a POST is never retried by the client.
    assert_eq!(m.seen.lock().unwrap().len(), 2);
    let found = client
        .device_by_eui("70b3d5e756000999")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.uid.as_deref(), Some("2227"));
}

#[tokio::test]
async fn a_429_pauses_the_pool_for_retry_after_and_reads_are_retried() {
    let (url, m) = serve(mock(3600)).await;
    m.script
        .lock()
        .unwrap()
        .extend([(429, Some("1")), (503, None)]);
    let pacing = Pacing::new(Some(50.0));
    let client = Client::new(config(&url, SECRET), pacing.clone()).unwrap();
    assert_eq!(
        client.device_by_eui("70B3D5E756000999").await.unwrap(),
        None
    );
    assert_eq!(m.seen.lock().unwrap().len(), 3);
    // The success reset the exponential step: the next slow-down without Retry-After starts at one second.
    assert_eq!(pacing.slow_down(None), Duration::from_secs(1));
}

#[tokio::test]
async fn create_does_not_retry_a_503() {
    let (url, m) = serve(mock(3600)).await;
    m.script.lock().unwrap().push_back((503, None));
    let pacing = Pacing::new(None);
    let client = Client::new(config(&url, SECRET), pacing.clone()).unwrap();
    let request = build_request(
        &otaa(None, None),
        &resolved(Some("SMTC/LoRaMoteA.1_EU"), false),
    );
    let err = client.create_device(&request).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable());
    assert_eq!(m.seen.lock().unwrap().len(), 1);
    assert!(pacing.paused_for().is_some());
}

#[tokio::test]
async fn existing_devices_are_asked_for_by_deveui_prefix_and_cellular_ones_among_the_cellular_devices()
 {
    let mut mk = mock(3600);
    mk.devices = Mutex::new(vec![
        stored("0000000000000001"),
        json!({"EUI": "F03D290000000001", "enforcedIMEI": "123456789012347", "sim": {"ID": "89208013535718672291"}}),
        stored("70B3D5E756000999"),
    ]);
    let (url, m) = serve(mk).await;
    let client = Client::new(config(&url, SECRET), Pacing::new(None)).unwrap();
    let keys = [
        ExistKey::Eui("70B3D5E756000999".into()),
        ExistKey::Eui("70B3D5E756000998".into()),
        ExistKey::Sim("89208013535718672291".into()),
    ];
    let found = find_existing(
        &client,
        &keys,
        &LookupProgress::new(&tpbulk::logging::Display::hidden()),
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&keys[0]].uid.as_deref(), Some("70B3D5E756000999"));
    assert_eq!(found[&keys[2]].eui, "F03D290000000001");
    // The mock answers every listing with every device: only what was asked for is kept.
    assert_eq!(
        *m.seen.lock().unwrap(),
        [
            "GET /devices?connectivity=CELLULAR&sort=EUI%2Casc&pageSize=1000",
            "GET /devices?devEUI=70B3D5E756000998&devEUI=70B3D5E756000999&sort=EUI%2Casc&pageSize=1000"
        ]
    );
    let counts = client.request_counts();
    assert_eq!((counts.token, counts.lookups, counts.total()), (1, 2, 3));
}

#[tokio::test]
async fn no_keys_cost_no_request() {
    let (url, m) = serve(mock(3600)).await;
    let client = Client::new(config(&url, SECRET), Pacing::new(None)).unwrap();
    assert!(
        find_existing(
            &client,
            &[],
            &LookupProgress::new(&tpbulk::logging::Display::hidden())
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert!(m.seen.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Against the simulator

async fn sim_client(config: tpbulk::sim::SimConfig) -> (tpbulk::sim::SimHandle, Client) {
    let sim = tpbulk::sim::start(config).await.unwrap();
    let mut cfg = config_for(&sim.url());
    cfg.client_id = tpbulk::sim::DEFAULT_CLIENT_ID.into();
    let client = Client::new(cfg, Pacing::new(None)).unwrap();
    (sim, client)
}

fn config_for(url: &str) -> ClientConfig {
    config(url, tpbulk::sim::DEFAULT_CLIENT_SECRET)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_listing_follows_its_cursor() {
    let (sim, client) = sim_client(tpbulk::sim::SimConfig::default()).await;
    let euis = [
        "70B3D5E756000005",
        "70B3D5E756000001",
        "70B3D5E756000003",
        "70B3D5E756000002",
        "70B3D5E756000004",
    ];
    for eui in euis {
        sim.insert_device(json!({"connectivity": "LORAWAN", "activation": "OTAA", "EUI": eui, "model": {"ID": "SMTC/LoRaMoteA.1_EU"}}));
    }
    let first = client.list_devices(2, None).await.unwrap();
    assert_eq!(first.count, Some(5));
    let mut seen: Vec<String> = first.devices.iter().map(|d| d.eui.clone()).collect();
    let mut page = first;
    while page.more {
        page = client
            .list_devices(2, page.cursor.as_deref())
            .await
            .unwrap();
        assert_eq!(page.count, None);
        seen.extend(page.devices.iter().map(|d| d.eui.clone()));
    }
    let mut sorted = euis.map(String::from).to_vec();
    sorted.sort();
    assert_eq!(seen, sorted);

    // Deleting by uid; a second delete finds nothing.
    let uid = client
        .device_by_eui("70B3D5E756000003")
        .await
        .unwrap()
        .unwrap()
        .uid
        .unwrap();
    assert!(client.delete_device_paced(&uid, false).await.unwrap());
    assert!(!client.delete_device_paced(&uid, false).await.unwrap());
    assert_eq!(
        client.device_by_eui("70B3D5E756000003").await.unwrap(),
        None
    );
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_alarms_and_connections_for_the_after_batch_commands() {
    let (sim, client) = sim_client(tpbulk::sim::SimConfig::default()).await;
    let request = build_request(
        &otaa(None, None),
        &resolved(Some("SMTC/LoRaMoteA.1_EU"), false),
    );
    client.create_device(&request).await.unwrap();
    let days = client
        .frames_aggregated("70B3D5E756000999", 7, "Europe/Paris")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(days.len(), 7);
    assert!(days[0].pointer("/up/count").is_some());
    assert_eq!(
        client
            .frames_aggregated("70B3D5E756000998", 7, "UTC")
            .await
            .unwrap(),
        None
    );
    let alarms = client.device_alarms().await.unwrap();
    assert!(alarms.iter().all(|a| a.get("alarmUid").is_some()));

    let connection = client
        .create_iot_flow_connection(&json!({
            "connectorId": "actility-mqtt-iot", "name": "My MQTT connection",
            "configuration": {"uplinkTopicPattern": "mqtt/things/{DevEUI}/uplink",
                "downlinkTopicPattern": "mqtt/things/{DevEUI}/downlink", "hostName": "myhostname.com:8883",
                "protocol": "SSL", "username": "mycompany", "password": "bar"}
        }))
        .await
        .unwrap();
    assert!(connection["id"].is_string(), "{connection}");
    let server = client
        .create_app_server(&json!({
            "contentType": "jsontyped",
            "destinations": [{"addresses": ["https://www.example.com/myApp"], "ports": "*", "strategy": "SEQUENTIAL"}],
            "downlinkSecurity": {"downlinkAsKey": "C72C6F867B150B1210ACDA5F3CDFB449", "maxTimestampDeviation": 10, "status": "DOWNLINK_AS_KEY"},
            "name": "My Basic HTTPS connection"
        }))
        .await
        .unwrap();
    assert!(server["ID"].is_string(), "{server}");
    let ids: Vec<String> = client
        .connections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert!(ids.iter().any(|id| *id == server["ID"]), "{ids:?}");
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_duplicate_answer_is_recognised_whatever_its_status() {
    for status in [409, 400] {
        let (sim, client) = sim_client(tpbulk::sim::SimConfig {
            duplicate_status: status,
            ..tpbulk::sim::SimConfig::default()
        })
        .await;
        let request = build_request(
            &otaa(None, None),
            &resolved(Some("SMTC/LoRaMoteA.1_EU"), false),
        );
        client.create_device(&request).await.unwrap();
        let err = client.create_device(&request).await.unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert!(err.is_duplicate(), "{err:?}");
        sim.stop().await.unwrap();
    }
}

proptest::proptest! {
    #[test]
    fn masked_bodies_never_hold_key_material(
        keys in proptest::collection::vec("[0-9A-F]{32}", 5),
        one_one in proptest::bool::ANY,
    ) {
        let abp = device(None, Ids::Abp {
            dev_eui: eui("70B3D5E756000999"),
            dev_addr: DevAddr::parse("785D25E2").unwrap(),
            nwk_s_key: key(&keys[0]),
            app_s_keys: Some(AppSKeys::parse(&keys[1]).unwrap()),
            s_nwk_s_int_key: Some(key(&keys[2])),
            nwk_s_enc_key: Some(key(&keys[3])),
        });
        let otaa = device(None, Ids::Otaa {
            dev_eui: eui("70B3D5E756000999"),
            join_eui: None,
            app_key: key(&keys[4]),
            nwk_key: Some(key(&keys[0])),
            app_key_from_nwk_key: false,
        });
        for d in [abp, otaa] {
            let request = build_request(&d, &resolved(Some("M"), one_one));
            let masked = request.masked().to_string();
            for k in &keys {
                proptest::prop_assert!(!masked.contains(&k[..12]), "{} in {}", k, masked);
            }
        }
    }
}
