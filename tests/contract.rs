//! ThingPark as its reference documents it, not as tpbulk's simulator happens to behave: each request body of the
//! tutorial and each positional example row of the OpenAPI file's `/devices/import` is read (the file as a person
//! would write it) or sent, and checked field by field; catalogue paging from 1; the tutorial's names resolving
//! against `tpbulk sim` as it is.
//!
//! Line numbers cite `/work/shared/reference/`: "tutorial N" is `thingpark-api-tutorial.txt`, "OpenAPI N" is
//! `openapi/device-manager.tpe-public.openapi.yaml` (copied to `tests/fixtures/openapi/`).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tpbulk::device::ErrorCode;
use tpbulk::input::{InputOptions, Table};
use tpbulk::platform::{Catalog, Client, ClientConfig, CreateRequest, HandlingMode, Pacing};
use tpbulk::prepare::{Prepared, PreparedRow, prepare_rows};
use tpbulk::secret::Secret;

use crate::tutorial;

fn config(url: &str) -> ClientConfig {
    ClientConfig {
        url: url.to_string(),
        token_url: format!("{url}/users-auth/protocol/openid-connect/token"),
        client_id: tpbulk::sim::DEFAULT_CLIENT_ID.into(),
        secret: Secret::new(tpbulk::sim::DEFAULT_CLIENT_SECRET),
        insecure: false,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
    }
}

/// Every row of `file`, prepared against `catalog`, and the file's notes.
fn prepare(file: &Path, catalog: &Catalog) -> (Vec<PreparedRow>, Vec<String>) {
    let mut table = Table::open(file, &InputOptions::default()).unwrap();
    let mut rows = Vec::new();
    let notes = prepare_rows(&mut table, catalog, |row| {
        rows.push(row);
        Ok(())
    })
    .unwrap();
    (rows, notes)
}

fn request(row: &PreparedRow) -> &CreateRequest {
    match &row.outcome {
        Prepared::Send(request) => request,
        Prepared::Invalid(errors) => panic!("row {} is invalid: {errors:?}", row.row),
        Prepared::Delete => panic!("row {} is a deletion", row.row),
    }
}

/// Compares two JSON objects field by field, so that a failure names the field; no field may be extra.
fn assert_fields(actual: &Value, expected: &Value) {
    let (a, e) = (actual.as_object().unwrap(), expected.as_object().unwrap());
    for (field, value) in e {
        assert_eq!(a.get(field), Some(value), "field {field}");
    }
    let extra: Vec<&String> = a.keys().filter(|k| !e.contains_key(*k)).collect();
    assert!(
        extra.is_empty(),
        "fields the reference does not send: {extra:?}"
    );
}

async fn sim() -> (tpbulk::sim::SimHandle, Client) {
    let sim = tpbulk::sim::start(tpbulk::sim::SimConfig::default())
        .await
        .unwrap();
    let client = Client::new(config(&sim.url()), Pacing::new(None)).unwrap();
    (sim, client)
}

/// The tutorial's devices written as a shipment file names them: models, connections, plan and context by their
/// names in the tutorial's listings, so that each must resolve against the simulator's default catalogue.
const TUTORIAL_SHIPMENT: &str = "\
Kind,Name,DevEUI,AppKey,DevAddr,NwkSKey,AppSKey,Class,Data rate,Frequency,Tags,IMEI,SIM,Model,Connection,Plan,Context
otaa,My device,70B3D5E756000999,7374757A3FDD092947CE2DE9321C6040,,,,,,,,,,LoRaMote EU fw4 - class A,my MQTT application,,
cellular,My device,,,,,,,,,,123456789012347,89208013535718672291,LTE Dongle,my MQTT application,Cellular CP,My cellular network context
multicast,My multicast group,70B3D5E756000998,,785D25E2,7374757A3FDD092947CE2DE9321C6040,8D67B0D6359D11ACFC45AD4BB9CE2D4F,C,15,869.525 MHz,tag1,,,,my MQTT application,,
otaa,My device 2,70B3D5E756000997,7374757A3FDD092947CE2DE9321C6040,,,,,,,,,,SMTC/LoRaMoteA.1_EU,My Basic HTTPS connection,,
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tutorials_bodies_come_out_of_a_shipment_naming_its_examples() {
    let (sim, client) = sim().await;
    // The catalogue is read as `tpbulk import` reads it: every listing, every page.
    let catalog = client.catalog().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tutorial.csv");
    std::fs::write(&file, TUTORIAL_SHIPMENT).unwrap();
    let (rows, notes) = prepare(&file, &catalog);
    assert!(notes.is_empty(), "{notes:?}");

    // Tutorial 215-239: "Adding the device", LoRaWAN OTAA, with the values of 120-124; the model is the one listed
    // at 141/153 and the connection the one at 187/192.
    let otaa = request(&rows[0]);
    assert_eq!(otaa.mode, Some(HandlingMode::Basic));
    assert_eq!(
        otaa.path(),
        "/devices?networkSubscriptionsHandlingMode=BASIC"
    );
    assert_fields(&otaa.body, &tutorial::otaa_body());

    // Tutorial 433-460: the cellular device, with the values of 260-263, the model of 282/291, the plan of
    // 315/316 and the network context of 392/393. No handling mode: the tutorial's request line has none.
    let cellular = request(&rows[1]);
    assert_eq!(cellular.path(), "/devices");
    assert_fields(
        &cellular.body,
        &json!({
            "connectivity": "CELLULAR",
            "enforcedIMEI": "123456789012347",
            "model": {"ID": "CUSTOM/LTE_Dongle"},
            "networkSubscription": {"ID": "acme-cs/cellular-cp"},
            "networkContext": {"ID": "1AF3B"},
            "appServers": [{"ID": "TWA_199982747.1972.AS"}],
            "name": "My device",
            "sim": {"ID": "89208013535718672291"}
        }),
    );

    // Tutorial 748-776: the multicast group, with the values of 729-738 (another EUI, to share one simulator).
    let multicast = request(&rows[2]);
    assert_eq!(multicast.mode, Some(HandlingMode::Basic));
    assert_fields(
        &multicast.body,
        &json!({
            "name": "My multicast group",
            "EUI": "70B3D5E756000998",
            "nwAddress": "785D25E2",
            "nwKey": "7374757A3FDD092947CE2DE9321C6040",
            "appKeys": "<AppSKeys><AppSKey Port=\"*\">8D67B0D6359D11ACFC45AD4BB9CE2D4F</AppSKey></AppSKeys>",
            "class": "C",
            "downlinkDataRate": 15,
            "downlinkFrequency": 869.525,
            "bss": {"tags": [{"name": "tag1", "namespace": "OPERATOR"}]},
            "appServers": [{"ID": "TWA_199982747.1972.AS"}]
        }),
    );
    assert_eq!(
        multicast.masked()["appKeys"],
        "<AppSKeys><AppSKey Port=\"*\">****2D4F</AppSKey></AppSKeys>"
    );

    // Tutorial 96 and 109-110: the Basic HTTPS connection is "My Basic HTTPS connection", ID
    // TWA_199983788.568.AS.
    assert_eq!(
        request(&rows[3]).body["appServers"],
        json!([{"ID": "TWA_199983788.568.AS"}])
    );

    // And the simulator takes every one of them as the platform would.
    for row in &rows {
        client.create_device(request(row)).await.unwrap();
    }
    sim.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tutorials_connection_bodies_are_what_tpbulk_sends() {
    use tpbulk::after::connection::{HttpsConnection, MqttConnection};
    // Tutorial 19-46: the IoT Flow (MQTT) connection.
    let mqtt = MqttConnection::new(
        "My MQTT connection",
        "myhostname.com:8883",
        "mqtt/things/{DevEUI}/uplink",
        "mqtt/things/{DevEUI}/downlink",
        "SSL",
        Some("mycompany"),
        Some(Secret::new("bar")),
    )
    .unwrap();
    assert_fields(
        &mqtt.body(),
        &json!({
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
        }),
    );
    // Tutorial 66-97: the Basic HTTPS connection.
    let https = HttpsConnection::new(
        "My Basic HTTPS connection",
        "https://www.example.com/myApp",
        "json",
        "C72C6F867B150B1210ACDA5F3CDFB449",
        10,
    )
    .unwrap();
    assert_fields(
        &https.body(),
        &json!({
            "contentType": "jsontyped",
            "destinations": [{"addresses": ["https://www.example.com/myApp"], "ports": "*", "strategy": "SEQUENTIAL"}],
            "downlinkSecurity": {"downlinkAsKey": "C72C6F867B150B1210ACDA5F3CDFB449", "maxTimestampDeviation": 10, "status": "DOWNLINK_AS_KEY"},
            "name": "My Basic HTTPS connection"
        }),
    );
    let (sim, client) = sim().await;
    let created = client.create_app_server(&https.body()).await.unwrap();
    assert_eq!(created["name"], "My Basic HTTPS connection");
    sim.stop().await.unwrap();
}

/// OpenAPI 1201-1203: the example file of `/devices/import`, as published (the two OTAA rows end at column S).
const IMPORT_EXAMPLE: &str = "\
CREATE_OTAA,F03D291000F00001,,semtech/loramote-v1,8899AABBCCDDEEFF,8899AABBCCDDEEFF8899AABBCCDDEEFF,,,,,My first device,50.859988,4.35826,\"Mme Michu, Appt 434 3ième gauche, 8 rue de fleurs, Toulouse\",,,,,
CREATE_OTAA,F03D291000F00002,,FOXCONN/ZB11A.1_AS,1234AABBCCDDEEFF,1234AABBCCDDEEFF8899AABBCCDDEEFF,,,,,Another device,49.188684,-0.292058,\"John Doe 123 Main St Anytown, USA\",,,,,
DELETE,F03D291000F00003
";

/// The example's two models, which are not the tutorial's.
fn example_catalog() -> Catalog {
    Catalog::from_briefs(
        &[
            json!({"ID": "semtech/loramote-v1", "commercialName": "LoRaMote", "connectivity": "LORAWAN", "macMinorVersion": 3}),
            json!({"ID": "FOXCONN/ZB11A.1_AS", "commercialName": "ZB11A", "connectivity": "LORAWAN", "macMinorVersion": 3}),
        ],
        &[],
        &[],
        &[],
    )
}

#[test]
fn the_openapi_import_example_is_read_column_by_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("myimport.csv");
    std::fs::write(&file, IMPORT_EXAMPLE).unwrap();
    let (rows, notes) = prepare(&file, &example_catalog());
    assert_eq!(rows.len(), 3);

    // OTAA table, OpenAPI 1430-1635: B DevEUI, D profile, E JoinEUI, F AppKey, K name (1511-1514), L and M the admin
    // location (1516-1524: "the manual location is automatically activated"), N other admin info (1526-1529). T,
    // the application servers, is "Optional" (1579-1581): the rows are valid and the file says so once.
    let first = request(&rows[0]);
    assert_eq!(first.mode, Some(HandlingMode::Basic));
    assert_fields(
        &first.body,
        &json!({
            "connectivity": "LORAWAN",
            "activation": "OTAA",
            "EUI": "F03D291000F00001",
            "model": {"ID": "semtech/loramote-v1"},
            "networkSubscription": {"nwGeolocalization": false, "prAllowed": false},
            "name": "My first device",
            "adminLat": 50.859988,
            "adminLon": 4.35826,
            "customerAdminData": "Mme Michu, Appt 434 3ième gauche, 8 rue de fleurs, Toulouse",
            "appKey": "8899AABBCCDDEEFF8899AABBCCDDEEFF",
            "appEUI": "8899AABBCCDDEEFF"
        }),
    );
    let second = request(&rows[1]);
    assert_eq!(second.body["EUI"], "F03D291000F00002");
    assert_eq!(second.body["model"]["ID"], "FOXCONN/ZB11A.1_AS");
    assert_eq!(second.body["appEUI"], "1234AABBCCDDEEFF");
    assert_eq!(second.body["adminLat"], 49.188684);
    assert_eq!(second.body["adminLon"], -0.292058);
    assert_eq!(
        second.body["customerAdminData"],
        "John Doe 123 Main St Anytown, USA"
    );

    // OpenAPI 1724: "`DELETE`: Delete a device. In this case only the column B is requested." Read as a deletion
    // of the device column B names (`tpbulk import` asks before sending it).
    let delete = &rows[2];
    assert_eq!(delete.id.as_deref(), Some("F03D291000F00003"));
    assert!(
        matches!(delete.outcome, Prepared::Delete),
        "{:?}",
        delete.outcome
    );
    assert_eq!(delete.keys.eui.as_deref(), Some("F03D291000F00003"));

    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("2 row(s) name no connection") && notes[0].contains("no uplinks"),
        "{notes:?}"
    );
}

#[test]
fn every_column_of_the_three_tables_is_read_sent_or_named() {
    let catalog = Catalog::from_briefs(
        &[
            json!({"ID": "M/L", "commercialName": "LoRa", "connectivity": "LORAWAN", "macMinorVersion": 3}),
            json!({"ID": "M/C", "commercialName": "Cell", "connectivity": "CELLULAR"}),
        ],
        &[
            json!({"ID": "TWA_1.AS", "name": "one"}),
            json!({"ID": "TWA_2.AS", "name": "two"}),
        ],
        &[json!({"ID": "P/C", "commercialName": "Cellular CP", "connectivity": "CELLULAR"})],
        &[json!({"ID": "1AF3B", "name": "My cellular network context"})],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.csv");
    // Columns:       A           B                C        D   E                F                                H                                  I   J  K    L     M      N      O P Q             R S T
    std::fs::write(
        &file,
        "CREATE_OTAA,70B3D57ED0001B01,,M/L,70B3D57ED0000000,8899AABBCCDDEEFF8899AABBCCDDEEFF,,\"NetworkGeolocation,PassiveRoaming\",,7,otaa,-33.9,18.42,gate 4,,,WALKING_SPEED,,,TWA_1.AS\n\
         CREATE_ABP,70B3D57ED0001B02,0147097F,M/L,DE3EFA22C6862A51C82DDE784A897459,\"<AppSKeys><AppSKey Port=\"\"1-2\"\">00112233445566778899AABBCCDDEEFF</AppSKey><AppSKey Port=\"\"3\"\">11112233445566778899AABBCCDDEEFF</AppSKey></AppSKeys>\",,,,,abp,,,,,,near static,,,TWA_2.AS\n\
         CREATE_ABP,70B3D57ED0001B03,01470980,M/L,DE3EFA22C6862A51C82DDE784A897459,,,,,,no AppSKeys\n\
         CREATE_CELLULAR,123456789012347,208150000000001,M/C,,,,P/C,My cellular network context,,cell,45.5,-73.56,,,,VEHICLE_SPEED\n",
    )
    .unwrap();
    let (rows, notes) = prepare(&file, &catalog);

    // OTAA: H in BASIC mode lists features (OpenAPI 1477-1492: "'NetworkGeolocation' and 'PassiveRoaming'"); Q is
    // the motion indicator (1561-1565, `motionIndicator` at OpenAPI 5566).
    let otaa = request(&rows[0]);
    assert_eq!(otaa.mode, Some(HandlingMode::Basic));
    assert_eq!(
        otaa.body["networkSubscription"],
        json!({"nwGeolocalization": true, "prAllowed": true})
    );
    assert_eq!(otaa.body["adminLat"], -33.9);
    assert_eq!(otaa.body["adminLon"], 18.42);
    assert_eq!(otaa.body["customerAdminData"], "gate 4");
    assert_eq!(otaa.body["motionIndicator"], "WALKING_SPEED");
    assert_eq!(otaa.body["appServers"], json!([{"ID": "TWA_1.AS"}]));

    // ABP: F is "LoRaWAN AppSKeys" (OpenAPI 1247-1256), sent as `appKeys` in the REST form (OpenAPI 5910-5937),
    // every key masked.
    let abp = request(&rows[1]);
    assert_eq!(
        abp.body["appKeys"],
        "<AppSKeys><AppSKey Port=\"1-2\">00112233445566778899AABBCCDDEEFF</AppSKey>\
         <AppSKey Port=\"3\">11112233445566778899AABBCCDDEEFF</AppSKey></AppSKeys>"
    );
    assert_eq!(
        abp.masked()["appKeys"],
        "<AppSKeys><AppSKey Port=\"1-2\">****EEFF</AppSKey><AppSKey Port=\"3\">****EEFF</AppSKey></AppSKeys>"
    );
    assert_eq!(abp.body["motionIndicator"], "NEAR_STATIC");
    // F's cardinality is "Optional" (OpenAPI 1255), as `appKeys` is for ABP in the REST API (OpenAPI 5921).
    let bare = request(&rows[2]);
    assert!(bare.body.get("appKeys").is_none(), "{}", bare.body);
    assert_eq!(bare.body["nwAddress"], "01470980");

    // Cellular: B IMEI, C IMSI, H the plan ID, I the AS routing profile, which is the tutorial's network context
    // (the same `mode`, `gtpTunnel`, `messageRouting` as OpenAPI 4973-5070 and tutorial 389-421).
    let cellular = request(&rows[3]);
    assert_fields(
        &cellular.body,
        &json!({
            "connectivity": "CELLULAR",
            "enforcedIMEI": "123456789012347",
            "model": {"ID": "M/C"},
            "networkSubscription": {"ID": "P/C"},
            "networkContext": {"ID": "1AF3B"},
            "name": "cell",
            "adminLat": 45.5,
            "adminLon": -73.56,
            "motionIndicator": "VEHICLE_SPEED",
            "imsi": "208150000000001"
        }),
    );

    // J, the maker ID (OpenAPI 1504-1508), has no field of the creation body that tpbulk sends: named once.
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("CREATE_OTAA rows fill column(s) J (Maker ID)")),
        "{notes:?}"
    );
    // The cellular table has no application server column at all (OpenAPI 1640-1714).
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("2 row(s) name no connection")),
        "{notes:?}"
    );
}

#[test]
fn cardinalities_of_the_tables_are_checked_on_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.csv");
    std::fs::write(
        &file,
        // An OTAA row without its device profile (D, "Mandatory if a DevEUI is provided", OpenAPI 1450-1453) and
        // with a latitude but no longitude; a cellular row without its IMSI (C, "Mandatory", OpenAPI 1645); an ABP row
        // whose AppSKeys XML holds a short key; a motion indicator that is not one of OpenAPI 5566-5572.
        "CREATE_OTAA,70B3D57ED0001B01,,,70B3D57ED0000000,8899AABBCCDDEEFF8899AABBCCDDEEFF,,,,,,91,\n\
         CREATE_CELLULAR,123456789012347,,M/C,,,,P/C\n\
         CREATE_ABP,70B3D57ED0001B02,0147097F,M/L,DE3EFA22C6862A51C82DDE784A897459,<AppSKeys><AppSKey Port=\"*\">00112233445566778899AABBCCDDEE</AppSKey></AppSKeys>\n\
         CREATE_OTAA,70B3D57ED0001B03,,M/L,70B3D57ED0000000,8899AABBCCDDEEFF8899AABBCCDDEEFF,,,,,,,,,,,flying\n",
    )
    .unwrap();
    let catalog = Catalog::from_briefs(
        &[
            json!({"ID": "M/L", "connectivity": "LORAWAN", "macMinorVersion": 3}),
            json!({"ID": "M/C", "connectivity": "CELLULAR"}),
        ],
        &[],
        &[json!({"ID": "P/C", "connectivity": "CELLULAR"})],
        &[],
    );
    let (rows, _) = prepare(&file, &catalog);
    let codes = |row: &PreparedRow| -> Vec<(String, String, ErrorCode)> {
        row.errors()
            .iter()
            .map(|e| (e.field.clone(), e.column.clone(), e.code))
            .collect()
    };
    assert_eq!(
        codes(&rows[0]),
        [
            (
                "model".into(),
                "D (Device profile ID)".into(),
                ErrorCode::Missing
            ),
            (
                "latitude".into(),
                "L (Admin LAT)".into(),
                ErrorCode::Invalid
            ),
            (
                "longitude".into(),
                "M (Admin LON)".into(),
                ErrorCode::Missing
            ),
        ]
    );
    assert_eq!(
        codes(&rows[1]),
        [("imsi".into(), "C (IMSI)".into(), ErrorCode::Missing)]
    );
    assert_eq!(
        codes(&rows[2]),
        [("app_s_key".into(), "F (AppSKeys)".into(), ErrorCode::Length)]
    );
    assert!(!rows[2].errors()[0].message.contains("00112233"));
    assert_eq!(
        codes(&rows[3]),
        [(
            "motion_indicator".into(),
            "Q (Motion indicator)".into(),
            ErrorCode::Invalid
        )]
    );
}

#[test]
fn a_sim_column_holds_an_iccid_or_an_eid_whatever_its_header() {
    // Tutorial 265: the SIM identifier "could be either an ICCID or an eID depending on the type of your SIM".
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sims.csv");
    std::fs::write(
        &file,
        "ICCID,Model,Connection,Plan,Context\n\
         89049032123451234512345678901235,LTE Dongle,my MQTT application,Cellular CP,1AF3B\n\
         89049032123451234512345678901234,LTE Dongle,my MQTT application,Cellular CP,1AF3B\n\
         89208013535718672291,LTE Dongle,my MQTT application,Cellular CP,1AF3B\n",
    )
    .unwrap();
    let catalog = Catalog::from_briefs(
        &[
            json!({"ID": "CUSTOM/LTE_Dongle", "commercialName": "LTE Dongle", "connectivity": "CELLULAR"}),
        ],
        &[json!({"ID": "TWA_199982747.1972.AS", "name": "my MQTT application"})],
        &[
            json!({"ID": "acme-cs/cellular-cp", "commercialName": "Cellular CP", "connectivity": "CELLULAR"}),
        ],
        &[json!({"ID": "1AF3B", "name": "My cellular network context"})],
    );
    let (rows, _) = prepare(&file, &catalog);
    // A 32-digit value in an ICCID column is an EID, checked mod 97 (thingpark-notes.md: "ISO 7064 MOD 97-10").
    assert_eq!(
        request(&rows[0]).body["sim"],
        json!({"ID": "89049032123451234512345678901235"})
    );
    assert_eq!(rows[1].errors()[0].code, ErrorCode::Checksum);
    assert_eq!(rows[1].errors()[0].column, "ICCID");
    assert_eq!(
        request(&rows[2]).body["sim"],
        json!({"ID": "89208013535718672291"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_pages_its_catalogue_from_1() {
    // OpenAPI 11972-11980: `pageIndex` "Returns the page at the requested index, starting at 1 for the first
    // page", `minimum: 1`.
    let catalogue = json!({"deviceProfiles": [
        {"ID": "A/1", "connectivity": "LORAWAN"},
        {"ID": "A/2", "connectivity": "LORAWAN"},
        {"ID": "A/3", "connectivity": "LORAWAN"}
    ]});
    let sim = tpbulk::sim::start(tpbulk::sim::SimConfig {
        catalog: Some(catalogue),
        page_size: 1,
        ..tpbulk::sim::SimConfig::default()
    })
    .await
    .unwrap();
    let client = Client::new(config(&sim.url()), Pacing::new(None)).unwrap();
    let page = |index: &str| {
        let client = &client;
        let path = format!("/deviceProfiles?connectivity=LORAWAN{index}");
        async move { client.get_json(&path).await }
    };
    let mut walked = Vec::new();
    for index in 1..=3 {
        let body = page(&format!("&pageIndex={index}")).await.unwrap();
        walked.push((body["briefs"][0]["ID"].clone(), body["more"].clone()));
    }
    assert_eq!(
        walked,
        [
            (json!("A/1"), json!(true)),
            (json!("A/2"), json!(true)),
            (json!("A/3"), json!(false))
        ]
    );
    assert_eq!(page("").await.unwrap(), page("&pageIndex=1").await.unwrap());
    assert_eq!(page("&pageIndex=0").await.unwrap_err().status(), Some(400));
    sim.stop().await.unwrap();
}

/// A platform that answers the catalogue listings only: `/deviceProfiles?connectivity=LORAWAN` in three pages
/// that exist only as `pageIndex` 1, 2 and 3, every other listing in one page 1. It records each query.
async fn paged_platform() -> (String, Arc<Mutex<Vec<String>>>) {
    type Seen = Arc<Mutex<Vec<String>>>;
    async fn token() -> axum::Json<Value> {
        axum::Json(json!({"access_token": "t", "expires_in": 3600, "token_type": "Bearer"}))
    }
    async fn listing(
        State(seen): State<Seen>,
        uri: axum::http::Uri,
        RawQuery(query): RawQuery,
    ) -> Result<axum::Json<Value>, axum::http::StatusCode> {
        let query = query.unwrap_or_default();
        seen.lock().unwrap().push(format!(
            "{}?{query}",
            uri.path().rsplit('/').next().unwrap()
        ));
        let index = query
            .split('&')
            .find_map(|p| p.strip_prefix("pageIndex="))
            .and_then(|i| i.parse::<u32>().ok())
            .ok_or(axum::http::StatusCode::BAD_REQUEST)?;
        let paged = uri.path().ends_with("/deviceProfiles") && query.contains("LORAWAN");
        let last = if paged { 3 } else { 1 };
        if !(1..=last).contains(&index) {
            return Err(axum::http::StatusCode::BAD_REQUEST);
        }
        let briefs = if paged {
            json!([{"ID": format!("M/{index}"), "connectivity": "LORAWAN"}])
        } else {
            json!([])
        };
        Ok(axum::Json(json!({"briefs": briefs, "more": index < last})))
    }
    let seen: Seen = Arc::default();
    let api = "/thingpark/wireless/rest/subscriptions/mine";
    let mut app = Router::new().route("/users-auth/protocol/openid-connect/token", post(token));
    for path in [
        "deviceProfiles",
        "appServers",
        "networkSubscriptions",
        "cellularNetworkContexts",
    ] {
        app = app.route(&format!("{api}/{path}"), get(listing));
    }
    let app = app.with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reads_the_catalogue_from_page_1_while_more() {
    let (url, seen) = paged_platform().await;
    let client = Client::new(config(&url), Pacing::new(None)).unwrap();
    let catalog = client.catalog().await.unwrap();
    let models: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|q| q.starts_with("deviceProfiles?connectivity=LORAWAN"))
        .cloned()
        .collect();
    assert_eq!(
        models,
        [
            "deviceProfiles?connectivity=LORAWAN&pageIndex=1",
            "deviceProfiles?connectivity=LORAWAN&pageIndex=2",
            "deviceProfiles?connectivity=LORAWAN&pageIndex=3",
        ]
    );
    let ids: Vec<&str> = catalog.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["M/1", "M/2", "M/3"]);
}

/// The tpbulk binary against a platform, with its output.
fn tpbulk(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tpbulk"))
        .args(args)
        .env("THINGPARK_URL", url)
        .env("THINGPARK_CLIENT_ID", tpbulk::sim::DEFAULT_CLIENT_ID)
        .env(
            "THINGPARK_CLIENT_SECRET",
            tpbulk::sim::DEFAULT_CLIENT_SECRET,
        )
        .env_remove("TPBULK_JOURNAL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_plan_and_import_warn_once_per_file_and_the_platform_keeps_every_field() {
    let (sim, client) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tp-import.csv");
    // Two OTAA rows without T and with J (maker ID) filled; one cellular row without a network context (tutorial
    // 379: it "is mandatory to enable the communication with application servers using message or direct IP
    // mode"), given a connection with --set since the cellular table has no T.
    std::fs::write(
        &file,
        "CREATE_OTAA,70B3D57ED0001C01,,SMTC/LoRaMoteA.1_EU,,8899AABBCCDDEEFF8899AABBCCDDEEFF,,,,3,valve 1,50.859988,4.35826,Hall B,,,near static\n\
         CREATE_OTAA,70B3D57ED0001C02,,SMTC/LoRaMoteA.1_EU,,8899AABBCCDDEEFF8899AABBCCDDEE02,,,,3,valve 2\n\
         CREATE_CELLULAR,490154203237518,208150000000001,CUSTOM/LTE_Dongle,,,,Cellular CP,,,dongle\n",
    )
    .unwrap();
    let (url, path) = (sim.url(), file.to_str().unwrap().to_string());
    let journal = dir.path().join("journal.db");
    let journal = journal.to_str().unwrap().to_string();
    let runs = tokio::task::spawn_blocking(move || {
        let set = "--set=connection=my MQTT application";
        [
            tpbulk(&url, &["validate", &path]),
            tpbulk(&url, &["plan", &path, "--format", "jsonl"]),
            tpbulk(&url, &["import", &path, "--journal", &journal, set]),
        ]
    })
    .await
    .unwrap();
    for (command, out) in ["validate", "plan", "import"].iter().zip(&runs) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{command}: {stderr}");
        // `validate` lists them in its summary's notes; `plan` and `import` say them on stderr.
        let (warnings, prefix): (Vec<&str>, String) = if *command == "validate" {
            let notes = stdout.split("\nnotes:\n").nth(1).unwrap_or("");
            (
                notes.lines().take_while(|l| l.starts_with("  ")).collect(),
                "  ".to_string(),
            )
        } else {
            (
                stderr.lines().filter(|l| l.contains("warning")).collect(),
                format!("tpbulk: warning: {}: ", file.display()),
            )
        };
        let expected_connection = if *command == "import" { 0 } else { 3 };
        let mut expected = vec![
            "CREATE_OTAA rows fill column(s) J (Maker ID) that tpbulk does not send".to_string(),
            "1 cellular row(s) name no network context".to_string(),
        ];
        if expected_connection > 0 {
            expected.insert(
                1,
                format!("{expected_connection} row(s) name no connection"),
            );
        }
        assert_eq!(warnings.len(), expected.len(), "{command}: {stderr}");
        for (warning, start) in warnings.iter().zip(&expected) {
            assert!(
                warning.starts_with(&format!("{prefix}{start}")),
                "{command}: {warning}"
            );
        }
    }
    // The first device as the platform keeps it: the admin location made it a manual-location device.
    let stored = client.get_json("/devices/e70B3D57ED0001C01").await.unwrap();
    assert_eq!(stored["adminLat"], 50.859988);
    assert_eq!(stored["adminLon"], 4.35826);
    assert_eq!(stored["customerAdminData"], "Hall B");
    assert_eq!(stored["motionIndicator"], "NEAR_STATIC");
    assert_eq!(stored["locationType"], 0);
    sim.stop().await.unwrap();
}
