//! `tpbulk plan` and `tpbulk catalog` end to end: the binary against the simulator started in-process on
//! 127.0.0.1:0, its output parsed back into rows.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use tpbulk::sim::{self, SimConfig, SimHandle};

const SECRET: &str = sim::DEFAULT_CLIENT_SECRET;

/// A simulator on its own runtime, which stops with the test.
struct Platform {
    runtime: tokio::runtime::Runtime,
    sim: Option<SimHandle>,
    dir: tempfile::TempDir,
}

impl Platform {
    fn start(config: SimConfig) -> Platform {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sim = runtime.block_on(sim::start(config)).unwrap();
        Platform {
            runtime,
            sim: Some(sim),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn sim(&self) -> &SimHandle {
        self.sim.as_ref().unwrap()
    }

    fn url(&self) -> String {
        self.sim().url()
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn tpbulk(&self, args: &[&str]) -> Output {
        tpbulk_at(&self.url(), SECRET, args)
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            let _ = self.runtime.block_on(sim.stop());
        }
    }
}

fn tpbulk_at(url: &str, secret: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tpbulk"))
        .args(args)
        .env("THINGPARK_URL", url)
        .env("THINGPARK_CLIENT_ID", sim::DEFAULT_CLIENT_ID)
        .env("THINGPARK_CLIENT_SECRET", secret)
        .env_remove("TPBULK_JOURNAL")
        .output()
        .unwrap()
}

fn jsonl(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn plan_jsonl(platform: &Platform, file: &Path) -> (i32, Vec<Value>) {
    let out = platform.tpbulk(&["plan", file.to_str().unwrap(), "--format", "jsonl"]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    (out.status.code().unwrap(), jsonl(&out))
}

const HEADER: &str = "Kind,DevEUI,JoinEUI,AppKey,NwkKey,DevAddr,NwkSKey,AppSKey,IMEI,ICCID,Name,Model,Connection,Plan,Context,Class,Data rate,Frequency,Tags\n";

#[test]
fn a_plan_shows_every_kind_of_request_masked_and_the_devices_already_there() {
    let platform = Platform::start(SimConfig::default());
    platform.sim().insert_device(json!({
        "connectivity": "LORAWAN", "activation": "OTAA", "EUI": "70B3D5E756000B01",
        "model": {"ID": "SMTC/LoRaMoteA.1_EU"}, "name": "already there"
    }));
    platform.sim().insert_device(json!({
        "connectivity": "CELLULAR", "enforcedIMEI": "356936110000010", "sim": {"ID": "89331503200000000019"},
        "model": {"ID": "CUSTOM/LTE_Dongle"}, "name": "dongle already there"
    }));
    let file = platform.file(
        "mixed.csv",
        &format!(
            "{HEADER}\
otaa,70B3D5E756000999,,7374757A3FDD092947CE2DE9321C6040,,,,,,,My device,LoRaMote EU fw4 - class A,my MQTT application,,,,,,\n\
otaa,70B3D5E756000A01,65FC7B3530A44FB9,7374757A3FDD092947CE2DE9321C6041,00112233445566778899AABBCCDDEEFF,,,,,,Sensor,ACME/Sensor11_EU,TWA_199982747.1972.AS,LoRaWAN CP,,,,,\n\
abp,70B3D5E756000A02,,,,785D25E2,7374757A3FDD092947CE2DE9321C6042,8D67B0D6359D11ACFC45AD4BB9CE2D4F,,,Meter,smtc/loramotea.1_eu,1113,,,,,,\n\
cellular,,,,,,,,123456789012347,89208013535718672291,My device,LTE Dongle,my MQTT application,Cellular CP,My cellular network context,,,,\n\
multicast,70B3D5E756000A03,,,,785D25E3,7374757A3FDD092947CE2DE9321C6043,8D67B0D6359D11ACFC45AD4BB9CE2D4E,,,My multicast group,,my MQTT application,,,C,15,869.525,tag1\n\
otaa,70B3D5E756000B01,,7374757A3FDD092947CE2DE9321C6044,,,,,,,,SMTC/LoRaMoteA.1_EU,my MQTT application,,,,,,\n\
cellular,,,,,,,,356936110000010,89331503200000000019,,CUSTOM/LTE_Dongle,my MQTT application,acme-cs/cellular-cp,,,,,\n"
        ),
    );
    let (code, rows) = plan_jsonl(&platform, &file);
    assert_eq!(code, 0);
    let status: Vec<(u64, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["kind"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            (2, "otaa", "would_create"),
            (3, "otaa", "would_create"),
            (4, "abp", "would_create"),
            (5, "cellular", "would_create"),
            (6, "multicast", "would_create"),
            (7, "otaa", "exists"),
            (8, "cellular", "exists"),
        ]
    );
    assert_eq!(rows[0]["mode"], "BASIC");
    assert_eq!(
        rows[0]["request"],
        json!({
            "connectivity": "LORAWAN", "activation": "OTAA", "EUI": "70B3D5E756000999",
            "model": {"ID": "SMTC/LoRaMoteA.1_EU"},
            "networkSubscription": {"nwGeolocalization": false, "prAllowed": false},
            "appServers": [{"ID": "TWA_199982747.1972.AS"}],
            "name": "My device", "appKey": "****6040"
        })
    );
    assert_eq!(rows[1]["mode"], "ADVANCED");
    assert_eq!(
        rows[1]["request"]["networkSubscription"],
        json!({"ID": "acme-cs/lorawan-cp"})
    );
    assert_eq!(rows[1]["request"]["nwkKey"], "****EEFF");
    assert_eq!(rows[1]["request"]["appEUI"], "65FC7B3530A44FB9");
    // By IoT Flow connection id.
    assert_eq!(
        rows[2]["request"]["appServers"],
        json!([{"ID": "TWA_199982747.1972.AS"}])
    );
    assert_eq!(
        rows[2]["request"]["appKeys"],
        "<AppSKeys><AppSKey Port=\"*\">****2D4F</AppSKey></AppSKeys>"
    );
    assert_eq!(rows[3]["mode"], Value::Null);
    assert_eq!(
        rows[3]["request"],
        json!({
            "connectivity": "CELLULAR", "enforcedIMEI": "123456789012347",
            "model": {"ID": "CUSTOM/LTE_Dongle"}, "networkSubscription": {"ID": "acme-cs/cellular-cp"},
            "networkContext": {"ID": "1AF3B"}, "appServers": [{"ID": "TWA_199982747.1972.AS"}],
            "name": "My device", "sim": {"ID": "89208013535718672291"}
        })
    );
    assert_eq!(
        rows[4]["request"]["bss"],
        json!({"tags": [{"name": "tag1", "namespace": "OPERATOR"}]})
    );
    assert_eq!(rows[4]["request"]["downlinkFrequency"], 869.525);
    assert!(rows[5].get("request").is_none());
    assert!(rows[5]["existing"]["href"].is_string());

    let all = serde_json::to_string(&rows).unwrap();
    for key in [
        "7374757A3FDD092947CE2DE9321C60",
        "8D67B0D6359D11ACFC45AD4BB9CE2D",
        "00112233445566778899AABBCCDD",
    ] {
        assert!(!all.contains(key), "clear key material in the plan");
    }
    // A plan writes nothing.
    assert_eq!(rows[6]["existing"]["name"], "dongle already there");
    assert_eq!(platform.sim().stats().devices, 2);
    assert!(platform.sim().stats().post_attempts.is_empty());
}

#[test]
fn names_that_match_nothing_or_several_entries_are_invalid_rows() {
    let catalog = json!({
        "deviceProfiles": [
            {"ID": "SMTC/LoRaMoteA.1_EU", "commercialName": "LoRaMote EU fw4 - class A", "connectivity": "LORAWAN", "macMajorVersion": 0, "macMinorVersion": 3},
            {"ID": "ACME/Sensor11_EU", "commercialName": "ACME Sensor 1.1", "connectivity": "LORAWAN", "macMajorVersion": 1, "macMinorVersion": 10},
            {"ID": "CUSTOM/LTE_Dongle", "commercialName": "LTE Dongle", "connectivity": "CELLULAR"}
        ],
        "appServers": [
            {"ID": "TWA_1.1.AS", "name": "Backend", "type": "HTTP"},
            {"ID": "TWA_1.2.AS", "name": "backend", "type": "HTTP"}
        ],
        "networkSubscriptions": [],
        "cellularNetworkContexts": []
    });
    let platform = Platform::start(SimConfig {
        catalog: Some(catalog),
        ..SimConfig::default()
    });
    let file = platform.file(
        "refs.csv",
        "DevEUI,AppKey,NwkKey,Model,Connection\n\
70B3D5E756000001,7374757A3FDD092947CE2DE9321C6040,,LoRaMote EU fw4 - clas A,TWA_1.1.AS\n\
70B3D5E756000002,7374757A3FDD092947CE2DE9321C6041,,SMTC/LoRaMoteA.1_EU,backend\n\
70B3D5E756000003,7374757A3FDD092947CE2DE9321C6042,,LTE Dongle,TWA_1.2.AS\n\
70B3D5E756000004,7374757A3FDD092947CE2DE9321C6043,,ACME Sensor 1.1,TWA_1.2.AS\n\
70B3D5E756000005,7374757A3FDD092947CE2DE9321C6044,,SMTC/LoRaMoteA.1_EU,twa_1.2.as\n",
    );
    let (code, rows) = plan_jsonl(&platform, &file);
    assert_eq!(code, 1);
    let error = |i: usize| rows[i]["errors"][0].clone();
    assert_eq!(error(0)["code"], "reference");
    assert_eq!(error(0)["column"], "Model");
    let typo = error(0)["message"].as_str().unwrap().to_string();
    assert!(
        typo.contains("\"LoRaMote EU fw4 - clas A\"")
            && typo.contains("did you mean \"LoRaMote EU fw4 - class A\""),
        "{typo}"
    );
    let ambiguous = error(1)["message"].as_str().unwrap().to_string();
    assert_eq!(error(1)["column"], "Connection");
    assert!(
        ambiguous.contains("matches 2 connections")
            && ambiguous.contains("TWA_1.1.AS")
            && ambiguous.contains("TWA_1.2.AS"),
        "{ambiguous}"
    );
    assert!(
        error(2)["message"]
            .as_str()
            .unwrap()
            .contains("CELLULAR model")
    );
    assert!(
        error(3)["message"]
            .as_str()
            .unwrap()
            .contains("needs a NwkKey")
    );
    assert_eq!(rows[4]["status"], "would_create");

    let text = platform.tpbulk(&["plan", file.to_str().unwrap()]);
    assert_eq!(text.status.code(), Some(1));
    let stdout = String::from_utf8(text.stdout).unwrap();
    assert!(
        stdout.starts_with(&format!(
            "{}: 5 rows: 1 would be created, 0 already exist, 4 invalid",
            file.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("Connection: connection \"backend\" matches 2 connections"),
        "{stdout}"
    );
}

#[test]
fn the_catalogue_is_read_through_every_page() {
    // Page size 2: five models, three connections, three plans, two contexts make several pages each.
    let platform = Platform::start(SimConfig::default());
    let out = platform.tpbulk(&["catalog", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let catalog: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = |section: &str| -> Vec<String> {
        catalog[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids("models"),
        [
            "SMTC/LoRaMoteA.1_EU",
            "ACME/Sensor11_EU",
            "SMTC/LoRaMoteA.1_US",
            "ACME/Tracker_EU",
            "CUSTOM/LTE_Dongle"
        ]
    );
    assert_eq!(
        ids("connections"),
        [
            "TWA_199982747.1972.AS",
            "TWA_199982747.1980.AS",
            "TWA_199983788.568.AS"
        ]
    );
    assert_eq!(
        ids("plans"),
        [
            "acme-cs/lorawan-cp",
            "acme-cs/lorawan-geo-cp",
            "acme-cs/cellular-cp"
        ]
    );
    assert_eq!(ids("contexts"), ["1AF3B", "2C0DE"]);
    assert_eq!(catalog["connections"][0]["iot_flow_id"], "1113");

    let out = platform.tpbulk(&["catalog", "models", "--connectivity", "cellular"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("MODELS (1)\n") && text.contains("CUSTOM/LTE_Dongle"),
        "{text}"
    );
}

#[test]
fn a_token_that_expires_during_the_run_is_renewed() {
    // One-second tokens and a catalogue of one entry per page: the run outlives several tokens.
    let platform = Platform::start(SimConfig {
        token_ttl: Duration::from_secs(1),
        page_size: 1,
        ..SimConfig::default()
    });
    let out = platform.tpbulk(&["catalog", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let catalog: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(catalog["models"].as_array().unwrap().len(), 5);
    let answers = platform.sim().stats().answers;
    // Every answer a success: the token was renewed before it ran out, or after one 401.
    assert!(
        answers.keys().all(|s| *s == 200 || *s == 401),
        "{answers:?}"
    );
    // Twelve catalogue pages (4 + 1 models, 2 connections, 2 + 1 plans, 2 contexts); the rest are tokens.
    let tokens = answers[&200] - 12;
    assert!(
        tokens >= 2,
        "one token for a run that outlived it: {answers:?}"
    );
}

#[test]
fn refused_credentials_exit_3_without_the_secret() {
    let platform = Platform::start(SimConfig::default());
    let file = platform.file("one.csv", "DevEUI,AppKey,Model,Connection\n70B3D5E756000001,7374757A3FDD092947CE2DE9321C6040,SMTC/LoRaMoteA.1_EU,1113\n");
    let wrong = "not-the-secret-9876";
    for args in [vec!["plan", file.to_str().unwrap()], vec!["catalog"]] {
        let out = tpbulk_at(&platform.url(), wrong, &args);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("refused the credentials"), "{err}");
        assert!(!err.contains(wrong) && !String::from_utf8_lossy(&out.stdout).contains(wrong));
    }
}

#[test]
fn an_unreachable_platform_exits_3() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = tpbulk_at(&url, SECRET, &["catalog"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach the platform at http://127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
}

#[test]
fn missing_credentials_are_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tpbulk"))
        .args(["catalog", "--url", "http://127.0.0.1:9", "--client-id", "x"])
        .env_remove("THINGPARK_CLIENT_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("THINGPARK_CLIENT_SECRET"));
}
