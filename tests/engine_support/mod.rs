//! Shared by the engine's end-to-end tests: a simulator in the test process, a scratch folder with a journal,
//! shipment files written on demand, the binary run against them, and the journal read back as rows.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use tpbulk::journal::{Counts, Journal, RowRecord};
use tpbulk::sim::{SimConfig, SimHandle};

pub const MODEL: &str = "SMTC/LoRaMoteA.1_EU";
pub const CONNECTION: &str = "TWA_199982747.1972.AS";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub sim: SimHandle,
    /// Runs the simulator; dropping it (last, with the `Env`) stops the server.
    runtime: tokio::runtime::Runtime,
}

impl Env {
    pub fn new(config: SimConfig) -> Env {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = runtime.block_on(async { tpbulk::sim::start(config).await.unwrap() });
        Env {
            dir: tempfile::tempdir().unwrap(),
            sim,
            runtime,
        }
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.path().join("journal.db")
    }

    /// Waits (20 s at most) until the latest batch of the journal is prepared: every row journalled, with what it
    /// read, before anything is sent. Returns its id.
    pub fn wait_prepared(&self) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "the import never got ready"
            );
            let ready = tpbulk::journal::Journal::open_existing(&self.journal_path())
                .ok()
                .and_then(|j| j.latest_batch(false).ok().flatten())
                .filter(|b| b.options["prepared"] == serde_json::Value::Bool(true));
            if let Some(batch) = ready {
                return batch.id;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The binary with the simulator's credentials and this folder's journal, nothing inherited.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tpbulk"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("THINGPARK_URL")
            .env_remove("THINGPARK_CLIENT_ID")
            .env_remove("TPBULK_LOG")
            // No profile of the person running the tests: a config file is only what a test writes here.
            .env_remove("TPBULK_PROFILE")
            .env_remove("TPBULK_CONFIG")
            .env("XDG_CONFIG_HOME", self.dir.path())
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env("THINGPARK_URL", self.sim.url())
            .env("THINGPARK_CLIENT_ID", "tpbulk-sim")
            .env("THINGPARK_CLIENT_SECRET", "tpbulk-sim-secret")
            .env("TPBULK_JOURNAL", self.journal_path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().unwrap())
    }

    /// Writes `csv` as `ship.csv` and imports it: [`Env::import_file`].
    pub fn import(&self, csv: &str, extra: &[&str]) -> Run {
        self.import_file(&self.write("ship.csv", csv), extra)
    }

    /// Imports `file` at full speed (`--rate 0`), with `extra` arguments.
    pub fn import_file(&self, file: &Path, extra: &[&str]) -> Run {
        let mut args = vec!["import", file.to_str().unwrap(), "--rate", "0"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn journal(&self) -> Journal {
        Journal::open_existing(&self.journal_path()).unwrap()
    }

    pub fn counts(&self, batch: &str) -> Counts {
        self.journal().counts(batch).unwrap()
    }

    pub fn rows(&self, batch: &str) -> Vec<RowRecord> {
        let mut rows = Vec::new();
        self.journal()
            .for_each_row(batch, None, |r| {
                rows.push(r);
                Ok(())
            })
            .unwrap();
        rows
    }

    /// How many times the simulator created each device, by EUI.
    pub fn creations(&self) -> BTreeMap<String, u64> {
        self.sim.stats().creations
    }

    /// Requests the simulator answered since `before` (an earlier `sim.stats().requests`), by route; a route not
    /// asked since is absent.
    pub fn requests_since(&self, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        self.sim
            .stats()
            .requests
            .into_iter()
            .map(|(route, n)| {
                let was = count(before, &route);
                (route, n - was)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// A client of the simulator, with its fixed credentials.
    pub fn client(&self) -> tpbulk::platform::Client {
        let args = tpbulk::cli::PlatformArgs {
            url: Some(self.sim.url()),
            client_id: Some("tpbulk-sim".into()),
            client_secret_file: None,
            token_url: None,
            insecure: false,
        };
        let config =
            tpbulk::platform::ClientConfig::from_parts(&args, Some("tpbulk-sim-secret".into()))
                .unwrap();
        tpbulk::platform::Client::new(config, tpbulk::platform::Pacing::new(None)).unwrap()
    }

    /// Puts the device of row `n` of [`otaa_csv`] on the platform before any import: someone else's.
    pub fn preexisting(&self, n: u64) {
        self.sim.insert_device(serde_json::json!({
            "EUI": eui(n),
            "name": "installed last year",
            "connectivity": "LORAWAN",
            "activation": "OTAA",
            "model": {"ID": MODEL},
        }));
    }
}

/// A finished run of the binary.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// The id the run printed as `batch <id>`.
    pub fn batch(&self) -> String {
        batch_of(&self.stdout()).unwrap_or_else(|| {
            panic!(
                "no batch id printed\nstdout: {}\nstderr: {}",
                self.stdout(),
                self.stderr()
            )
        })
    }
    pub fn describe(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

pub fn batch_of(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("batch "))
        .map(|s| s.trim().to_string())
}

/// A cellular shipment of three rows (valid IMEIs and ICCIDs) for the tutorial catalogue.
pub const CELLULAR_CSV: &str = "IMEI,ICCID,Name,Model,Connection,Connectivity plan,Network context
356936110000010,89331503200000000019,LTE dongle 01,CUSTOM/LTE_Dongle,my MQTT application,Cellular CP,My cellular network context
356936110000028,89331503200000000027,LTE dongle 02,CUSTOM/LTE_Dongle,my MQTT application,Cellular CP,My cellular network context
356936110000036,89331503200000000035,LTE dongle 03,CUSTOM/LTE_Dongle,my MQTT application,Cellular CP,My cellular network context
";

/// How many requests of `route` `requests` (by route) counts.
pub fn count(requests: &BTreeMap<String, u64>, route: &str) -> u64 {
    requests.get(route).copied().unwrap_or(0)
}

pub fn eui(n: u64) -> String {
    format!("70B3D5E7{n:08X}")
}

pub fn app_key(n: u64) -> String {
    format!(
        "{:032X}",
        0x7374_757A_3FDD_0929_47CE_2DE9_0000_0000u128 + n as u128
    )
}

/// An OTAA shipment of `count` devices numbered from `first`.
pub fn otaa_csv(first: u64, count: u64) -> String {
    let mut csv = String::from("DevEUI,AppKey,Model,Connection\n");
    for n in first..first + count {
        csv.push_str(&format!("{},{},{MODEL},{CONNECTION}\n", eui(n), app_key(n)));
    }
    csv
}

pub fn assert_file_has_no_key(path: &Path, keys: &[String]) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for key in keys {
        assert!(
            !text.contains(key.as_str()),
            "{} shows a key",
            path.display()
        );
    }
}

/// A batch written straight into the journal, `interrupted` with one pending OTAA row per `(row, model)`, as an import
/// stopped before sending would leave it; `options` are the batch's recorded run options.
pub fn pending_batch(env: &Env, options: serde_json::Value, rows: &[(u64, &str)]) -> String {
    pending_batch_of_profile(env, options, rows, None)
}

/// [`pending_batch`] as imported with the config file's profile `profile`.
pub fn pending_batch_of_profile(
    env: &Env,
    options: serde_json::Value,
    rows: &[(u64, &str)],
    profile: Option<&str>,
) -> String {
    use tpbulk::device::Kind;
    use tpbulk::input::{SourceFormat, TextEncoding};
    use tpbulk::journal::{BatchState, NewBatch, NewRow, RowState};
    use tpbulk::platform::{CreateRequest, HandlingMode};
    let mut journal = Journal::open(&env.journal_path()).unwrap();
    let batch = journal
        .create_batch(&NewBatch {
            name: None,
            input_path: "ship.csv".into(),
            input_sha256: "0".into(),
            format: SourceFormat::Csv {
                delimiter: b',',
                encoding: TextEncoding::Utf8,
            },
            columns: Vec::new(),
            input_columns: None,
            options,
            profile: profile.map(str::to_string),
        })
        .unwrap();
    let new_rows = rows.iter().map(|&(row, model)| {
        let request = CreateRequest {
            kind: Kind::Otaa,
            mode: Some(HandlingMode::Basic),
            body: serde_json::json!({
                "connectivity": "LORAWAN",
                "activation": "OTAA",
                "EUI": eui(row),
                "model": {"ID": model},
                "networkSubscription": {"nwGeolocalization": false, "prAllowed": false},
                "appServers": [{"ID": CONNECTION}],
                "appKey": app_key(row),
            }),
        };
        NewRow {
            row,
            action: tpbulk::journal::Action::Create,
            device_uid: None,
            previous: None,
            message: None,
            kind: Some(Kind::Otaa),
            id: Some(eui(row)),
            name: None,
            state: RowState::Pending,
            request: Some(serde_json::to_string(&request).unwrap()),
            errors: Vec::new(),
            device_href: None,
            device_eui: None,
            keys: tpbulk::device::LookupKeys {
                eui: Some(eui(row)),
                ..Default::default()
            },
        }
    });
    journal.insert_rows(&batch, new_rows).unwrap();
    journal
        .set_batch_state(&batch, BatchState::Interrupted)
        .unwrap();
    batch
}

/// All a child wrote to its piped stderr, once it closes it.
pub fn read_stderr(child: &mut Child) -> String {
    use std::io::Read;
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

/// A second connection of the simulator's catalogue, for updates that move devices.
pub const OTHER_CONNECTION: &str = "TWA_199982747.1980.AS";

/// Puts OTAA devices `first..first + count` on the simulator as if they had been there before, each named
/// `device N` on [`CONNECTION`].
pub fn seed_devices(env: &Env, first: u64, count: u64) {
    for n in first..first + count {
        env.sim.insert_device(serde_json::json!({
            "EUI": eui(n),
            "name": format!("device {n}"),
            "connectivity": "LORAWAN",
            "activation": "OTAA",
            "model": {"ID": MODEL},
            "appServers": [{"ID": CONNECTION}],
        }));
    }
}

/// An update file of devices `first..first + count`: `DevEUI,Name,Connection`, each row's cells from `row(n)`.
pub fn update_csv(first: u64, count: u64, row: impl Fn(u64) -> (String, &'static str)) -> String {
    let mut csv = String::from("DevEUI,Name,Connection\n");
    for n in first..first + count {
        let (name, connection) = row(n);
        csv.push_str(&format!("{},{name},{connection}\n", eui(n)));
    }
    csv
}

/// A device's field as the simulator holds it (`name`, or the first connection's `ID` for `appServers`).
pub fn sim_field(env: &Env, n: u64, field: &str) -> String {
    let device = env.sim.device(&eui(n)).expect("the device exists");
    match field {
        "appServers" => device["appServers"][0]["ID"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        other => device[other].as_str().unwrap_or("").to_string(),
    }
}
