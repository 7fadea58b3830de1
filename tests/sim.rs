//! The simulator through HTTP, as an importer sees it: every endpoint, every fault, pagination edges, token expiry,
//! the tutorial's request bodies (accepted verbatim, refused when broken one field at a time), and the state file.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tpbulk::sim::{self, SimConfig, SimHandle};

const BASE: &str = "/thingpark/wireless/rest/subscriptions/mine";

const TUTORIAL_OTAA: &str = r#"{
"connectivity": "LORAWAN",
"activation": "OTAA",
"EUI": "70B3D5E756000999",
"model": {
"ID": "SMTC/LoRaMoteA.1_EU"
},
"networkSubscription": {
"nwGeolocalization": false,
"prAllowed": false
},
"appServers": [
{
"ID": "TWA_199982747.1972.AS"
}
],
"name": "My device",
"appKey": "7374757A3FDD092947CE2DE9321C6040"
}"#;

const TUTORIAL_CELLULAR: &str = r#"{
"connectivity": "CELLULAR",
"enforcedIMEI": "123456789012347",
"model": {
"ID": "CUSTOM/LTE_Dongle"
},
"networkSubscription": {
"ID": "acme-cs/cellular-cp"
},
"networkContext": {
"ID": "1AF3B"
},
"appServers": [
{
"ID": "TWA_199982747.1972.AS"
}
],
"name": "My device",
"sim": {
"ID": "89208013535718672291"
}
}"#;

const TUTORIAL_MULTICAST: &str = r#"{
"name": "My multicast group",
"EUI": "70B3D5E756000999",
"nwAddress": "785D25E2",
"nwKey": "7374757A3FDD092947CE2DE9321C6040",
"appKeys": "<AppSKeys><AppSKey Port=\"*\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey></AppSKeys>",
"class": "C",
"downlinkDataRate": 15,
"downlinkFrequency": 869.525,
"bss": {
"tags": [
{
"name": "tag1",
"namespace": "OPERATOR"
}
]
},
"appServers": [
{
"ID": "TWA_199982747.1972.AS"
}
]
}"#;

const TUTORIAL_IOT_FLOW: &str = r#"{
"connectorId": "actility-mqtt-iot",
"name": "My MQTT connection",
"configuration": {
"uplinkTopicPattern": "mqtt/things/{DevEUI}/uplink",
"downlinkTopicPattern": "mqtt/things/{DevEUI}/downlink",
"hostName": "myhostname.com:8883",
"protocol": "SSL",
"username": "mycompany",
"password": "bar"
}
}"#;

const TUTORIAL_BASIC_HTTPS: &str = r#"{
"contentType": "jsontyped",
"destinations": [
{
"addresses": [
"https://www.example.com/myApp"
],
"ports": "*",
"strategy": "SEQUENTIAL"
}
],
"downlinkSecurity": {
"downlinkAsKey": "C72C6F867B150B1210ACDA5F3CDFB449",
"maxTimestampDeviation": 10,
"status": "DOWNLINK_AS_KEY"
},
"name": "My Basic HTTPS connection"
}"#;

fn abp_body() -> Value {
    json!({
        "connectivity": "LORAWAN",
        "activation": "ABP",
        "EUI": "70B3D5E756000AB0",
        "model": {"ID": "SMTC/LoRaMoteA.1_EU"},
        "networkSubscription": {"nwGeolocalization": false, "prAllowed": false},
        "appServers": [{"ID": "TWA_199982747.1972.AS"}],
        "name": "My ABP device",
        "nwAddress": "785D25E2",
        "nwKey": "7374757A3FDD092947CE2DE9321C6040",
        "appKeys": "<AppSKeys><AppSKey Port=\"*\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey></AppSKeys>"
    })
}

fn abp_1_1_body() -> Value {
    let mut body = abp_body();
    body["EUI"] = json!("70B3D5E756001101");
    body["model"]["ID"] = json!("ACME/Sensor11_EU");
    body["sNwkSIntKey"] = json!("00112233445566778899AABBCCDDEEFF");
    body["nwkSEncKey"] = json!("FFEEDDCCBBAA99887766554433221100");
    body
}

fn otaa_1_1_body() -> Value {
    let mut body: Value = serde_json::from_str(TUTORIAL_OTAA).unwrap();
    body["EUI"] = json!("70B3D5E756001100");
    body["model"]["ID"] = json!("ACME/Sensor11_EU");
    body["nwkKey"] = json!("00112233445566778899AABBCCDDEEFF");
    body
}

fn otaa(eui: &str) -> Value {
    let mut body: Value = serde_json::from_str(TUTORIAL_OTAA).unwrap();
    body["EUI"] = json!(eui);
    body
}

/// A started simulator with a client and a token.
struct Fixture {
    sim: SimHandle,
    client: Client,
    token: String,
}

impl Fixture {
    async fn start(config: SimConfig) -> Fixture {
        let sim = sim::start(config).await.unwrap();
        let client = Client::new();
        let token = token(&client, &sim.url()).await;
        Fixture { sim, client, token }
    }

    async fn new() -> Fixture {
        Fixture::start(SimConfig::default()).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{BASE}{path}", self.sim.url())
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        reply(response).await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        reply(response).await
    }

    /// Posts `body` as it is, JSON by its content type, to the simulator's `url`.
    async fn post_text(
        &self,
        url: impl reqwest::IntoUrl,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(url)
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn create(&self, body: &Value) -> (StatusCode, Value) {
        let mode = if body.pointer("/networkSubscription/ID").is_some()
            && body["connectivity"] != "CELLULAR"
        {
            "ADVANCED"
        } else {
            "BASIC"
        };
        self.post(
            &format!("/devices?networkSubscriptionsHandlingMode={mode}"),
            body,
        )
        .await
    }

    /// Creates `base` broken by each of `breaks` in turn: each is refused (400, with a code and a message).
    async fn refuses_each(&self, base: Value, breaks: &[Breakage]) {
        for (what, breaks) in breaks {
            let mut body = base.clone();
            breaks(&mut body);
            let (status, answer) = self.create(&body).await;
            assert_error(status, &answer, StatusCode::BAD_REQUEST, what);
        }
    }

    async fn delete(&self, path: &str) -> StatusCode {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .status()
    }
}

async fn reply(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
    };
    (status, value)
}

async fn token(client: &Client, url: &str) -> String {
    let response = client
        .post(format!("{url}/users-auth/protocol/openid-connect/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "tpbulk-sim"),
            ("client_secret", "tpbulk-sim-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, what: &str) {
    assert_eq!(status, want, "{what}: {body}");
    assert!(body["code"].is_u64(), "{what}: no code in {body}");
    assert!(body["message"].is_string(), "{what}: no message in {body}");
}

#[tokio::test]
async fn token_endpoint_takes_form_or_basic_and_refuses_bad_credentials() {
    let fx = Fixture::new().await;
    let token_url = format!("{}/users-auth/protocol/openid-connect/token", fx.sim.url());

    let basic = fx
        .client
        .post(&token_url)
        .basic_auth("tpbulk-sim", Some("tpbulk-sim-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    let body: Value = basic.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);

    let wrong = fx
        .client
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "tpbulk-sim"),
            ("client_secret", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");

    let grant = fx
        .client
        .post(&token_url)
        .form(&[("grant_type", "password"), ("client_id", "tpbulk-sim")])
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);

    let anonymous = fx.client.get(fx.url("/devices")).send().await.unwrap();
    let (status, body) = reply(anonymous).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "no token");
    let forged = fx
        .client
        .get(fx.url("/devices"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    let (status, body) = reply(forged).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "forged token");
}

#[tokio::test]
async fn tokens_expire_after_their_ttl() {
    let fx = Fixture::start(SimConfig {
        token_ttl: Duration::from_secs(1),
        ..SimConfig::default()
    })
    .await;
    assert_eq!(fx.get("/devices").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = fx.get("/devices").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "expired token");
    let fresh = token(&fx.client, &fx.sim.url()).await;
    let response = fx
        .client
        .get(fx.url("/devices"))
        .bearer_auth(fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Follows `more` with `pageIndex` 1, 2, … and returns every brief and the number of pages.
async fn all_pages(fx: &Fixture, path: &str) -> (Vec<Value>, usize) {
    let mut briefs = Vec::new();
    for page in 1.. {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, body) = fx.get(&format!("{path}{sep}pageIndex={page}")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        briefs.extend(body["briefs"].as_array().unwrap().iter().cloned());
        if body["more"] == false {
            return (briefs, page);
        }
    }
    unreachable!()
}

fn ids(briefs: &[Value]) -> Vec<&str> {
    briefs.iter().map(|b| b["ID"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn catalogue_listings_are_paged_and_filtered() {
    let fx = Fixture::new().await;
    let (models, pages) = all_pages(&fx, "/deviceProfiles?connectivity=LORAWAN").await;
    assert!(pages > 1, "clients must follow more");
    assert!(ids(&models).contains(&"SMTC/LoRaMoteA.1_EU"));
    assert!(ids(&models).contains(&"ACME/Sensor11_EU"));
    assert!(models.iter().all(|m| m["connectivity"] == "LORAWAN"));
    let (cellular, _) = all_pages(&fx, "/deviceProfiles?connectivity=CELLULAR").await;
    assert_eq!(ids(&cellular), ["CUSTOM/LTE_Dongle"]);
    assert_eq!(cellular[0]["commercialName"], "LTE Dongle");

    let (servers, _) = all_pages(&fx, "/appServers").await;
    let mqtt = servers
        .iter()
        .find(|s| s["ID"] == "TWA_199982747.1972.AS")
        .unwrap();
    assert_eq!(mqtt["name"], "my MQTT application");
    assert!(mqtt["tpxIotFlow"]["connectionId"].is_string());
    assert!(servers.iter().any(|s| s["type"] == "HTTP"));

    let (plans, _) = all_pages(&fx, "/networkSubscriptions?connectivity=CELLULAR").await;
    assert_eq!(ids(&plans), ["acme-cs/cellular-cp"]);
    assert_eq!(plans[0]["commercialName"], "Cellular CP");
    let (contexts, _) = all_pages(&fx, "/cellularNetworkContexts").await;
    assert!(
        contexts
            .iter()
            .any(|c| c["ID"] == "1AF3B" && c["name"] == "My cellular network context")
    );

    let (status, body) = fx.get("/deviceProfiles?connectivity=WIFI").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad connectivity");
}

#[tokio::test]
async fn a_catalogue_file_replaces_the_builtin_one() {
    let catalog = json!({
        "deviceProfiles": [{"ID": "X/one", "connectivity": "LORAWAN"}, {"ID": "X/two", "connectivity": "LORAWAN"},
                           {"ID": "X/three", "connectivity": "LORAWAN"}],
        "appServers": [{"ID": "AS1", "name": "one"}],
    });
    let fx = Fixture::start(SimConfig {
        catalog: Some(catalog),
        page_size: 1,
        ..SimConfig::default()
    })
    .await;
    let (models, pages) = all_pages(&fx, "/deviceProfiles").await;
    assert_eq!(ids(&models), ["X/one", "X/two", "X/three"]);
    assert_eq!(pages, 3);
    let mut body = otaa("70B3D5E756000001");
    body["model"]["ID"] = json!("X/two");
    body["appServers"] = json!([{"ID": "AS1"}]);
    assert_eq!(fx.create(&body).await.0, StatusCode::CREATED);
    let (status, body) = fx.create(&otaa("70B3D5E756000002")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "builtin model gone");
    assert_eq!(body["code"], 222);
}

#[tokio::test]
async fn tutorial_bodies_are_accepted_verbatim() {
    let fx = Fixture::new().await;
    let response = fx
        .post_text(
            fx.url("/devices?networkSubscriptionsHandlingMode=BASIC"),
            TUTORIAL_OTAA,
        )
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (status, device) = reply(response).await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    assert!(
        location.starts_with(&format!("{BASE}/devices/")),
        "{location}"
    );
    assert_eq!(device["href"], location.as_str());
    assert_eq!(device["EUI"], "70B3D5E756000999");
    assert_eq!(device["name"], "My device");
    assert!(device["creationDate"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(
        !device
            .to_string()
            .contains("7374757A3FDD092947CE2DE9321C6040"),
        "the AppKey is never answered"
    );

    let response = fx.post_text(fx.url("/devices"), TUTORIAL_CELLULAR).await;
    let (status, cell) = reply(response).await;
    assert_eq!(status, StatusCode::CREATED, "{cell}");
    let eui = cell["EUI"].as_str().unwrap();
    assert!(eui.starts_with("F03D29") && eui.len() == 16, "{eui}");
    assert_eq!(cell["sim"]["ID"], "89208013535718672291");
    assert_eq!(cell["enforcedIMEI"], "123456789012347");

    let response = fx
        .post_text(
            fx.url("/devices?networkSubscriptionsHandlingMode=BASIC"),
            TUTORIAL_MULTICAST.replace("70B3D5E756000999", "70B3D5E756000C00"),
        )
        .await;
    let (status, group) = reply(response).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(group["name"], "My multicast group");

    let (status, abp) = fx.create(&abp_body()).await;
    assert_eq!(status, StatusCode::CREATED, "{abp}");
    assert_eq!(abp["activation"], "ABP");
    let (status, v11) = fx.create(&otaa_1_1_body()).await;
    assert_eq!(status, StatusCode::CREATED, "{v11}");
    let (status, abp11) = fx.create(&abp_1_1_body()).await;
    assert_eq!(status, StatusCode::CREATED, "{abp11}");

    let mut advanced = otaa("70B3D5E756000AD0");
    advanced["networkSubscription"] = json!({"ID": "acme-cs/lorawan-cp"});
    let (status, body) = fx.create(&advanced).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["networkSubscription"]["ID"], "acme-cs/lorawan-cp");

    let mut imei_only: Value = serde_json::from_str(TUTORIAL_CELLULAR).unwrap();
    imei_only.as_object_mut().unwrap().remove("sim");
    imei_only["enforcedIMEI"] = json!("490154203237518");
    imei_only["imsi"] = json!("208010000000001");
    let (status, body) = fx.create(&imei_only).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["imsi"], "208010000000001");

    let stats = fx.sim.stats();
    assert_eq!(stats.devices, 8);
    assert_eq!(stats.creations["70B3D5E756000999"], 1);
    assert_eq!(stats.creations["89208013535718672291"], 1);
    assert_eq!(stats.creations["490154203237518"], 1);
}

type Breakage = (&'static str, fn(&mut Value));

fn remove(body: &mut Value, field: &str) {
    body.as_object_mut().unwrap().remove(field);
}

#[tokio::test]
async fn broken_bodies_are_refused_one_field_at_a_time() {
    let fx = Fixture::new().await;
    let otaa_breaks: &[Breakage] = &[
        ("no EUI", |b| remove(b, "EUI")),
        ("short EUI", |b| b["EUI"] = json!("70B3D5E75600099")),
        ("non-hex EUI", |b| b["EUI"] = json!("70B3D5E75600099G")),
        ("no activation", |b| remove(b, "activation")),
        ("bad activation", |b| b["activation"] = json!("OTA")),
        ("no model", |b| remove(b, "model")),
        ("unknown model", |b| b["model"]["ID"] = json!("SMTC/Nope")),
        ("cellular model", |b| {
            b["model"]["ID"] = json!("CUSTOM/LTE_Dongle")
        }),
        ("unknown connection", |b| {
            b["appServers"][0]["ID"] = json!("TWA_0.0.AS")
        }),
        ("no appKey", |b| remove(b, "appKey")),
        ("short appKey", |b| {
            b["appKey"] = json!("7374757A3FDD092947CE2DE9321C604")
        }),
        ("nwkKey on 1.0", |b| {
            b["nwkKey"] = json!("00112233445566778899AABBCCDDEEFF")
        }),
        ("plan ID in BASIC", |b| {
            b["networkSubscription"]["ID"] = json!("acme-cs/lorawan-cp")
        }),
        ("bad BASIC flag", |b| {
            b["networkSubscription"]["prAllowed"] = json!("no")
        }),
        ("bad connectivity", |b| b["connectivity"] = json!("WIFI")),
        ("IMEI on LoRaWAN", |b| {
            b["enforcedIMEI"] = json!("123456789012347")
        }),
        ("ABP keys on OTAA", |b| b["nwAddress"] = json!("785D25E2")),
        ("bad appEUI", |b| b["appEUI"] = json!("65FC7B3530A44F")),
    ];
    let base: Value = serde_json::from_str(TUTORIAL_OTAA).unwrap();
    for (what, breaks) in otaa_breaks {
        let mut body = base.clone();
        breaks(&mut body);
        let (status, answer) = fx
            .post("/devices?networkSubscriptionsHandlingMode=BASIC", &body)
            .await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, what);
    }

    let v11_breaks: &[Breakage] = &[("no nwkKey on 1.1", |b| remove(b, "nwkKey"))];
    fx.refuses_each(otaa_1_1_body(), v11_breaks).await;
    let abp_1_1_breaks: &[Breakage] = &[
        ("no sNwkSIntKey on ABP 1.1", |b| remove(b, "sNwkSIntKey")),
        ("short nwkSEncKey on ABP 1.1", |b| {
            b["nwkSEncKey"] = json!("FFEE")
        }),
        ("ABP 1.1 keys on a 1.0 model", |b| {
            b["model"]["ID"] = json!("SMTC/LoRaMoteA.1_EU")
        }),
    ];
    fx.refuses_each(abp_1_1_body(), abp_1_1_breaks).await;

    let abp_breaks: &[Breakage] = &[
        ("appKey on ABP", |b| {
            b["appKey"] = json!("7374757A3FDD092947CE2DE9321C6040")
        }),
        ("no nwAddress", |b| remove(b, "nwAddress")),
        ("short nwAddress", |b| b["nwAddress"] = json!("785D25E")),
        ("no nwKey", |b| remove(b, "nwKey")),
        ("short nwKey", |b| b["nwKey"] = json!("7374")),
        ("appKeys not XML", |b| {
            b["appKeys"] = json!("8D67B0D6359D11ACFC45AD4BB9CE2D4F")
        }),
        ("short AppSKey", |b| {
            b["appKeys"] = json!("<AppSKeys><AppSKey Port=\"*\">8D67</AppSKey></AppSKeys>")
        }),
    ];
    fx.refuses_each(abp_body(), abp_breaks).await;
    // The optional fields of the `Device` schema: kept when right, refused when not.
    let admin_breaks: &[Breakage] = &[
        ("latitude beyond 90", |b| b["adminLat"] = json!(90.5)),
        ("longitude as text", |b| b["adminLon"] = json!("4.35")),
        ("unknown motion", |b| b["motionIndicator"] = json!("FLYING")),
        ("admin data not text", |b| b["customerAdminData"] = json!(7)),
    ];
    fx.refuses_each(otaa("70B3D5E7560009A1"), admin_breaks)
        .await;

    let cellular_breaks: &[Breakage] = &[
        ("no model", |b| remove(b, "model")),
        ("LoRaWAN model", |b| {
            b["model"]["ID"] = json!("SMTC/LoRaMoteA.1_EU")
        }),
        ("no plan", |b| remove(b, "networkSubscription")),
        ("unknown plan", |b| {
            b["networkSubscription"]["ID"] = json!("acme-cs/nope")
        }),
        ("LoRaWAN plan", |b| {
            b["networkSubscription"]["ID"] = json!("acme-cs/lorawan-cp")
        }),
        ("unknown context", |b| {
            b["networkContext"]["ID"] = json!("FFFFF")
        }),
        ("bad IMEI check digit", |b| {
            b["enforcedIMEI"] = json!("123456789012348")
        }),
        ("short IMEI", |b| {
            b["enforcedIMEI"] = json!("12345678901234")
        }),
        ("bad ICCID check digit", |b| {
            b["sim"]["ID"] = json!("89208013535718672292")
        }),
        ("short ICCID", |b| b["sim"]["ID"] = json!("892080135357186")),
        ("neither IMEI nor SIM", |b| {
            remove(b, "sim");
            remove(b, "enforcedIMEI");
        }),
        ("EUI given", |b| b["EUI"] = json!("70B3D5E756000999")),
        ("IMSI with a letter", |b| {
            b["imsi"] = json!("20801000000000A")
        }),
        ("appKey on cellular", |b| {
            b["appKey"] = json!("7374757A3FDD092947CE2DE9321C6040")
        }),
    ];
    fx.refuses_each(
        serde_json::from_str(TUTORIAL_CELLULAR).unwrap(),
        cellular_breaks,
    )
    .await;

    let multicast_breaks: &[Breakage] = &[
        ("no nwAddress", |b| remove(b, "nwAddress")),
        ("bad class", |b| b["class"] = json!("A")),
        ("data rate too high", |b| b["downlinkDataRate"] = json!(16)),
        ("frequency as text", |b| {
            b["downlinkFrequency"] = json!("869.525")
        }),
        ("tag without namespace", |b| {
            b["bss"]["tags"][0] = json!({"name": "tag1"})
        }),
        ("model on a group", |b| {
            b["model"] = json!({"ID": "SMTC/LoRaMoteA.1_EU"})
        }),
        ("appKey on a group", |b| {
            b["appKey"] = json!("7374757A3FDD092947CE2DE9321C6040")
        }),
    ];
    fx.refuses_each(
        serde_json::from_str(TUTORIAL_MULTICAST).unwrap(),
        multicast_breaks,
    )
    .await;

    let mut advanced = otaa("70B3D5E756000AD0");
    advanced["networkSubscription"] = json!({"ID": "acme-cs/cellular-cp"});
    let (status, answer) = fx.create(&advanced).await;
    assert_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        "cellular plan on LoRaWAN",
    );
    let (status, answer) = fx
        .post(
            "/devices?networkSubscriptionsHandlingMode=ADVANCED",
            &serde_json::from_str(TUTORIAL_OTAA).unwrap(),
        )
        .await;
    assert_error(
        status,
        &answer,
        StatusCode::BAD_REQUEST,
        "ADVANCED without ID",
    );
    let (status, answer) = fx
        .post(
            "/devices?networkSubscriptionsHandlingMode=SMART",
            &serde_json::from_str(TUTORIAL_OTAA).unwrap(),
        )
        .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "unknown mode");
    let response = fx
        .client
        .post(fx.url("/devices"))
        .bearer_auth(&fx.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = reply(response).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "not JSON");

    assert_eq!(fx.sim.stats().devices, 0, "nothing refused was created");
    assert!(fx.sim.stats().creations.is_empty());
}

#[tokio::test]
async fn optional_parts_may_be_left_out_and_optional_fields_are_kept() {
    let fx = Fixture::new().await;
    // `appServers` is no creation requirement (OpenAPI `x-requiredCreate`: model, EUI; import column T "Optional").
    let mut unrouted: Value = serde_json::from_str(TUTORIAL_OTAA).unwrap();
    remove(&mut unrouted, "appServers");
    unrouted["EUI"] = json!("70B3D5E7560009A0");
    assert_eq!(fx.create(&unrouted).await.0, StatusCode::CREATED);
    let mut cellular: Value = serde_json::from_str(TUTORIAL_CELLULAR).unwrap();
    remove(&mut cellular, "appServers");
    assert_eq!(fx.create(&cellular).await.0, StatusCode::CREATED);
    // `appKeys`: "**ABP**: OPTIONAL" (OpenAPI `DeviceLorawan`).
    let mut keyless = abp_body();
    remove(&mut keyless, "appKeys");
    assert_eq!(fx.create(&keyless).await.0, StatusCode::CREATED);

    let mut located = otaa("70B3D5E7560009A1");
    located["adminLat"] = json!(50.859988);
    located["adminLon"] = json!(4.35826);
    located["customerAdminData"] = json!("Mme Michu");
    located["motionIndicator"] = json!("NEAR_STATIC");
    assert_eq!(fx.create(&located).await.0, StatusCode::CREATED);
    let (_, stored) = fx.get("/devices/e70B3D5E7560009A1").await;
    assert_eq!(
        (
            &stored["adminLat"],
            &stored["adminLon"],
            &stored["customerAdminData"],
            &stored["motionIndicator"]
        ),
        (
            &json!(50.859988),
            &json!(4.35826),
            &json!("Mme Michu"),
            &json!("NEAR_STATIC")
        )
    );
    // "When provided at the creation, the manual location is automatically activated" (Manual: 0).
    assert_eq!(stored["locationType"], 0);
    let (_, unlocated) = fx.get("/devices/e70B3D5E7560009A0").await;
    assert_eq!(unlocated["locationType"], 1);
}

#[tokio::test]
async fn key_material_is_not_echoed_in_refusals() {
    let fx = Fixture::new().await;
    let mut body = otaa("70B3D5E756000001");
    body["appKey"] = json!("7374757A3FDD092947CE2DE9321C60");
    let (_, answer) = fx.create(&body).await;
    assert!(!answer.to_string().contains("7374757A3FDD"), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("appKey"));
}

#[tokio::test]
async fn duplicates_get_code_111_with_the_configured_status() {
    let fx = Fixture::new().await;
    assert_eq!(
        fx.create(&otaa("70B3D5E756000999")).await.0,
        StatusCode::CREATED
    );
    let (status, body) = fx.create(&otaa("70b3d5e756000999")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], 111);
    assert_eq!(
        body["message"],
        "A Device report already exists for the given EUI"
    );

    let cellular: Value = serde_json::from_str(TUTORIAL_CELLULAR).unwrap();
    assert_eq!(fx.create(&cellular).await.0, StatusCode::CREATED);
    let mut same_sim = cellular.clone();
    same_sim["enforcedIMEI"] = json!("490154203237518");
    let (status, body) = fx.create(&same_sim).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::CONFLICT, json!(111))
    );

    let stats = fx.sim.stats();
    assert_eq!(stats.post_attempts["70B3D5E756000999"], 2);
    assert_eq!(stats.creations["70B3D5E756000999"], 1);
    assert_eq!(stats.post_attempts["89208013535718672291"], 2);
    assert_eq!(stats.answers[&409], 2);

    let fx = Fixture::start(SimConfig {
        duplicate_status: 400,
        ..SimConfig::default()
    })
    .await;
    fx.create(&otaa("70B3D5E756000999")).await;
    let (status, body) = fx.create(&otaa("70B3D5E756000999")).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(111))
    );
}

#[tokio::test]
async fn devices_are_read_and_deleted_by_eui_or_uid() {
    let fx = Fixture::new().await;
    let (_, created) = fx.create(&otaa("70B3D5E756000999")).await;
    let href = created["href"].as_str().unwrap();
    let uid = href.rsplit('/').next().unwrap();

    let (status, device) = fx.get("/devices/e70B3D5E756000999").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(device["EUI"], "70B3D5E756000999");
    assert_eq!(device["href"], href);
    assert!(device["now"].is_i64());
    let (status, by_uid) = fx.get(&format!("/devices/{uid}")).await;
    assert_eq!(
        (status, by_uid["EUI"].clone()),
        (StatusCode::OK, json!("70B3D5E756000999"))
    );

    assert_eq!(
        fx.delete(&format!("/devices/{uid}")).await,
        StatusCode::NO_CONTENT
    );
    let (status, body) = fx.get("/devices/e70B3D5E756000999").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "deleted device");
    assert_eq!(
        fx.delete(&format!("/devices/{uid}")).await,
        StatusCode::NOT_FOUND
    );
    // Once deleted, the EUI can be created again.
    assert_eq!(
        fx.create(&otaa("70B3D5E756000999")).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn test_hooks_insert_and_remove_devices_behind_the_importers_back() {
    let fx = Fixture::new().await;
    fx.sim.insert_device(otaa("70B3D5E756000777"));
    fx.sim
        .insert_device(serde_json::from_str(TUTORIAL_CELLULAR).unwrap());
    assert_eq!(fx.sim.stats().devices, 2);
    assert!(
        fx.sim.stats().creations.is_empty(),
        "pre-existing, not created"
    );
    let (status, device) = fx.get("/devices/e70B3D5E756000777").await;
    assert_eq!(status, StatusCode::OK);
    assert!(device.get("appKey").is_none());
    let (status, _) = fx.create(&otaa("70B3D5E756000777")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = fx
        .create(&serde_json::from_str(TUTORIAL_CELLULAR).unwrap())
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    assert!(fx.sim.remove_device("70B3D5E756000777"));
    assert!(!fx.sim.remove_device("70B3D5E756000777"));
    assert_eq!(
        fx.get("/devices/e70B3D5E756000777").await.0,
        StatusCode::NOT_FOUND
    );
}

fn euis(page: &Value) -> Vec<String> {
    page["briefs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["EUI"].as_str().unwrap().to_owned())
        .collect()
}

fn cursor(page: &Value) -> String {
    // The cursor is base64 and must be URL-encoded by the client.
    page["cursors"]["last"]
        .as_str()
        .unwrap()
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[tokio::test]
async fn device_listing_pages_by_cursor_and_by_offset() {
    let fx = Fixture::new().await;
    let (status, empty) = fx.get("/devices?sort=EUI%2Casc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty["briefs"], json!([]));
    assert_eq!(empty["more"], false);
    assert_eq!(empty["count"], 0);

    for i in [3, 1, 4, 2] {
        fx.create(&otaa(&format!("70B3D5E75600000{i}"))).await;
    }
    let (_, first) = fx.get("/devices?sort=EUI%2Casc&pageSize=2").await;
    assert_eq!(euis(&first), ["70B3D5E756000001", "70B3D5E756000002"]);
    assert_eq!(first["more"], true);
    assert_eq!(first["count"], 4);
    let brief = &first["briefs"][0];
    for field in [
        "EUI",
        "href",
        "name",
        "connectivity",
        "activation",
        "creationDate",
    ] {
        assert!(!brief[field].is_null(), "brief lacks {field}: {brief}");
    }
    // Exactly on the page boundary: the second page is full and says there is no more.
    let (_, second) = fx
        .get(&format!(
            "/devices?sort=EUI%2Casc&pageSize=2&pageAfter={}",
            cursor(&first)
        ))
        .await;
    assert_eq!(euis(&second), ["70B3D5E756000003", "70B3D5E756000004"]);
    assert_eq!(second["more"], false);
    assert!(second["count"].is_null());
    let (_, past) = fx
        .get(&format!(
            "/devices?sort=EUI%2Casc&pageSize=2&pageAfter={}",
            cursor(&second)
        ))
        .await;
    assert_eq!(euis(&past), Vec::<String>::new());
    assert_eq!(past["more"], false);

    let (_, desc) = fx.get("/devices?sort=EUI%2Cdesc&pageSize=3").await;
    assert_eq!(
        euis(&desc),
        ["70B3D5E756000004", "70B3D5E756000003", "70B3D5E756000002"]
    );
    let (_, rest) = fx
        .get(&format!(
            "/devices?sort=EUI%2Cdesc&pageSize=3&pageAfter={}",
            cursor(&desc)
        ))
        .await;
    assert_eq!(euis(&rest), ["70B3D5E756000001"]);

    let (_, offset) = fx.get("/devices?pageSize=3&pageIndex=2").await;
    assert_eq!(euis(&offset), ["70B3D5E756000004"]);
    assert_eq!(offset["more"], false);
    assert!(offset["count"].is_null());

    for bad in [
        "/devices?pageSize=1001",
        "/devices?sort=EUI%2Casc&pageAfter=notbase64!",
        "/devices?sort=name%2Casc",
    ] {
        let (status, body) = fx.get(bad).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, bad);
    }
}

#[tokio::test]
async fn fail_answers_503_before_doing_anything() {
    let fx = Fixture::start(SimConfig {
        fail: 1.0,
        ..SimConfig::default()
    })
    .await;
    let (status, body) = fx.create(&otaa("70B3D5E756000999")).await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "fail");
    assert_eq!(fx.sim.stats().devices, 0);
    assert_eq!(fx.get("/devices").await.0, StatusCode::SERVICE_UNAVAILABLE);
    // The catalogue is not a device call.
    assert_eq!(fx.get("/appServers").await.0, StatusCode::OK);

    fx.sim.set_faults(0.0, 0.0);
    assert_eq!(
        fx.create(&otaa("70B3D5E756000999")).await.0,
        StatusCode::CREATED
    );
    let stats = fx.sim.stats();
    assert_eq!(stats.post_attempts["70B3D5E756000999"], 2);
    assert_eq!(stats.creations["70B3D5E756000999"], 1);
    assert_eq!(stats.answers[&503], 2);
}

#[tokio::test]
async fn faults_repeat_with_the_seed() {
    async fn outcomes(seed: u64) -> Vec<u16> {
        let fx = Fixture::start(SimConfig {
            fail: 0.5,
            seed,
            ..SimConfig::default()
        })
        .await;
        let mut out = Vec::new();
        for i in 0..40 {
            let body = otaa(&format!("70B3D5E7560000{i:02X}"));
            out.push(fx.create(&body).await.0.as_u16());
        }
        out
    }
    let first = outcomes(7).await;
    assert_eq!(first, outcomes(7).await);
    assert!(first.contains(&201) && first.contains(&503), "{first:?}");
    assert_ne!(first, outcomes(8).await);
}

#[tokio::test]
async fn drop_creates_the_device_and_closes_the_connection_unanswered() {
    let fx = Fixture::start(SimConfig {
        drop: 1.0,
        ..SimConfig::default()
    })
    .await;
    let result = fx
        .client
        .post(fx.url("/devices?networkSubscriptionsHandlingMode=BASIC"))
        .bearer_auth(&fx.token)
        .json(&otaa("70B3D5E756000999"))
        .send()
        .await;
    assert!(
        result.is_err(),
        "got an answer: {:?}",
        result.map(|r| r.status())
    );
    let (status, device) = fx.get("/devices/e70B3D5E756000999").await;
    assert_eq!(
        (status, device["EUI"].clone()),
        (StatusCode::OK, json!("70B3D5E756000999"))
    );
    // The naive retry meets the duplicate answer.
    fx.sim.set_faults(0.0, 0.0);
    assert_eq!(
        fx.create(&otaa("70B3D5E756000999")).await.0,
        StatusCode::CONFLICT
    );
    let stats = fx.sim.stats();
    assert_eq!(stats.creations["70B3D5E756000999"], 1);
    assert_eq!(stats.post_attempts["70B3D5E756000999"], 2);
    assert!(!stats.answers.contains_key(&201), "a drop is not an answer");
}

#[tokio::test]
async fn rate_limit_answers_429_without_retry_after_unless_asked() {
    for retry_after in [false, true] {
        let fx = Fixture::start(SimConfig {
            rate: Some(0.5),
            burst: Some(2),
            retry_after,
            ..SimConfig::default()
        })
        .await;
        assert_eq!(fx.get("/devices").await.0, StatusCode::OK);
        assert_eq!(fx.get("/appServers").await.0, StatusCode::OK);
        let response = fx
            .client
            .get(fx.url("/devices"))
            .bearer_auth(&fx.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let header = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        if retry_after {
            let secs: u64 = header.expect("Retry-After").parse().unwrap();
            assert!((1..=2).contains(&secs), "{secs}");
        } else {
            assert_eq!(header, None);
        }
        let (_, body) = reply(response).await;
        assert_eq!(body["code"], 429);
        // Neither the token endpoint nor the statistics are limited.
        token(&fx.client, &fx.sim.url()).await;
        let stats = fx
            .client
            .get(format!("{}/_sim/stats", fx.sim.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(stats.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn latency_delays_api_calls() {
    let fx = Fixture::start(SimConfig {
        latency: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    assert_eq!(fx.get("/devices").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn stats_endpoint_answers_the_same_as_the_handle() {
    let fx = Fixture::new().await;
    fx.create(&otaa("70B3D5E756000999")).await;
    fx.create(&otaa("70B3D5E756000999")).await;
    let before = fx.sim.stats();
    let stats: sim::Stats = fx
        .client
        .get(format!("{}/_sim/stats", fx.sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.creations, before.creations);
    assert_eq!(stats.post_attempts, before.post_attempts);
    assert_eq!(stats.answers, before.answers);
    assert_eq!(stats.devices, 1);
    assert_eq!(stats.answers[&201], 1);
    assert_eq!(stats.answers[&409], 1);
}

#[tokio::test]
async fn state_file_carries_devices_and_connections_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim-state.json");
    let config = SimConfig {
        state: Some(path.clone()),
        ..SimConfig::default()
    };
    let fx = Fixture::start(config.clone()).await;
    let (_, first) = fx.create(&otaa("70B3D5E756000999")).await;
    let (_, cell) = fx
        .create(&serde_json::from_str(TUTORIAL_CELLULAR).unwrap())
        .await;
    let (status, https) = fx
        .post(
            "/appServers",
            &serde_json::from_str(TUTORIAL_BASIC_HTTPS).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    fx.sim.stop().await.unwrap();
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        !saved.contains("7374757A3FDD092947CE2DE9321C6040"),
        "no keys saved"
    );
    assert!(
        !saved.contains("C72C6F867B150B1210ACDA5F3CDFB449"),
        "no keys saved"
    );

    let fx = Fixture::start(config).await;
    let (status, device) = fx.get("/devices/e70B3D5E756000999").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(device["href"], first["href"]);
    let (_, listed) = fx.get("/devices?sort=EUI%2Casc").await;
    assert_eq!(listed["count"], 2);
    assert_eq!(
        fx.create(&otaa("70B3D5E756000999")).await.0,
        StatusCode::CONFLICT
    );
    let (_, newer) = fx.create(&otaa("70B3D5E756000998")).await;
    assert_ne!(newer["href"], first["href"], "uids are not reused");
    assert_ne!(newer["href"], cell["href"]);
    let mut other_cell: Value = serde_json::from_str(TUTORIAL_CELLULAR).unwrap();
    other_cell.as_object_mut().unwrap().remove("sim");
    other_cell["enforcedIMEI"] = json!("490154203237518");
    let (_, other_cell) = fx.create(&other_cell).await;
    assert_ne!(
        other_cell["EUI"], cell["EUI"],
        "assigned EUIs are not reused"
    );
    let (servers, _) = all_pages(&fx, "/appServers").await;
    assert!(servers.iter().any(|s| s["ID"] == https["ID"]));
    fx.sim.stop().await.unwrap();
}

#[tokio::test]
async fn connections_from_dx_core_and_app_servers_join_the_catalogue() {
    let fx = Fixture::new().await;
    let response = fx
        .post_text(
            format!("{}/thingpark/dx/core/latest/api/connections", fx.sim.url()),
            TUTORIAL_IOT_FLOW,
        )
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (status, connection) = reply(response).await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    let id = connection["id"].as_str().unwrap();
    assert_eq!(location, format!("/connections/{id}"));
    assert_eq!(connection["state"], "OPENED");
    assert!(connection["configuration"].get("password").is_none());

    let listed: Value = fx
        .client
        .get(format!(
            "{}/thingpark/dx/core/latest/api/connections",
            fx.sim.url()
        ))
        .bearer_auth(&fx.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.as_array().unwrap().iter().any(|c| c["id"] == id));
    let one = fx
        .client
        .get(format!(
            "{}/thingpark/dx/core/latest/api/connections/{id}",
            fx.sim.url()
        ))
        .bearer_auth(&fx.token)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), StatusCode::OK);

    let (status, https) = fx
        .post(
            "/appServers",
            &serde_json::from_str(TUTORIAL_BASIC_HTTPS).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{https}");
    assert!(https["ID"].as_str().unwrap().starts_with("TWA_"));

    let broken = fx
        .client
        .post(format!(
            "{}/thingpark/dx/core/latest/api/connections",
            fx.sim.url()
        ))
        .bearer_auth(&fx.token)
        .json(&json!({"name": "no connector", "configuration": {}}))
        .send()
        .await
        .unwrap();
    let (status, body) = reply(broken).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "DX body without connectorId",
    );
    assert!(
        body["errorId"].is_string(),
        "DX errors carry an errorId: {body}"
    );

    let (servers, _) = all_pages(&fx, "/appServers").await;
    let flow = servers
        .iter()
        .find(|s| s["tpxIotFlow"]["connectionId"] == id)
        .expect("the IoT Flow connection is an appServer");
    assert_eq!(flow["type"], "KAFKA");
    assert_eq!(flow["name"], "My MQTT connection");
    assert!(servers.iter().any(|s| s["ID"] == https["ID"]));

    // A device can use the new connection straight away.
    let mut body = otaa("70B3D5E756000999");
    body["appServers"] = json!([{"ID": flow["ID"]}]);
    assert_eq!(fx.create(&body).await.0, StatusCode::CREATED);

    let mut broken: Value = serde_json::from_str(TUTORIAL_BASIC_HTTPS).unwrap();
    broken["destinations"][0]["addresses"] = json!(["ftp://x"]);
    let (status, body) = fx.post("/appServers", &broken).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ftp destination");
}

#[tokio::test]
async fn traffic_history_and_alarms_describe_the_devices() {
    let fx = Fixture::new().await;
    for i in 0..40 {
        fx.sim
            .insert_device(otaa(&format!("70B3D5E7560001{i:02X}")));
    }
    let mut live = 0;
    for i in 0..40 {
        let path = format!(
            "/devices/e70B3D5E7560001{i:02X}/frames/aggregated?duration=P7D&step=P1D&timezone=Europe/Paris"
        );
        let (status, body) = fx.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let briefs = body["briefs"].as_array().unwrap();
        assert_eq!(briefs.len(), 7);
        let up: u64 = briefs
            .iter()
            .map(|b| b["up"]["count"].as_u64().unwrap())
            .sum();
        if up > 0 {
            live += 1;
        }
        // The same device looks the same on every call.
        assert_eq!(fx.get(&path).await.1["briefs"], body["briefs"]);
    }
    assert!((10..40).contains(&live), "some live, some silent: {live}");
    let (status, body) = fx
        .get("/devices/e70B3D5E7560009999/frames/aggregated")
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "frames of nobody");
    let (status, body) = fx
        .get("/devices/e70B3D5E75600010A/frames/aggregated?duration=forever")
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad duration");

    let (_, first) = fx
        .get("/devices/alarms?sort=alarmUid%2Casc&pageSize=2")
        .await;
    let total = first["count"].as_u64().unwrap() as usize;
    assert!(total > 0, "some devices have alarms");
    let mut uids: Vec<String> = Vec::new();
    let mut page = first;
    loop {
        for alarm in page["briefs"].as_array().unwrap() {
            uids.push(alarm["alarmUid"].as_str().unwrap().to_owned());
            assert!(alarm["device"]["EUI"].is_string());
        }
        if page["more"] == false {
            break;
        }
        let next = format!(
            "/devices/alarms?sort=alarmUid%2Casc&pageSize=2&pageAfter={}",
            cursor(&page)
        );
        page = fx.get(&next).await.1;
        assert!(page["count"].is_null());
    }
    assert_eq!(uids.len(), total);
    let mut sorted = uids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, uids, "ascending and without repeats");
}

#[tokio::test]
async fn unknown_paths_and_other_subscriptions_are_404() {
    let fx = Fixture::new().await;
    for path in [
        "/thingpark/wireless/rest/subscriptions/32/devices",
        "/thingpark/wireless/rest/nothing",
    ] {
        let response = fx
            .client
            .get(format!("{}{path}", fx.sim.url()))
            .bearer_auth(&fx.token)
            .send()
            .await
            .unwrap();
        let (status, body) = reply(response).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, path);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_command_prints_its_address_first_and_saves_state_on_sigterm() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tpbulk"))
        .args(["sim", "--listen", "127.0.0.1:0", "--state"])
        .arg(&state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .to_owned();
    let second = lines.next().unwrap().unwrap();
    assert!(
        second.contains("tpbulk-sim") && second.contains("tpbulk-sim-secret"),
        "{second}"
    );

    let client = Client::new();
    let token = token(&client, &url).await;
    let response = client
        .post(format!(
            "{url}{BASE}/devices?networkSubscriptionsHandlingMode=BASIC"
        ))
        .bearer_auth(&token)
        .json(&otaa("70B3D5E756000999"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    let signalled = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(signalled, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains("70B3D5E756000999"));
}
