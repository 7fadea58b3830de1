//! After the batch, end to end against the in-process simulator: `verify` after a clean batch and after a device was
//! deleted behind its back; `health` counts against the simulator's own traffic and alarms (several alarm pages);
//! `rollback` with pre-existing devices, after an interrupted import, and itself interrupted then resumed; `delete`
//! of a file whose devices are partly gone, killed and resumed, and the `DELETE` rows of ThingPark's file through
//! `import`; both kinds of connection created and then used by an import.

use crate::engine_support;

use engine_support::*;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tpbulk::after::{self, health, verify};
use tpbulk::journal::RowState;
use tpbulk::platform::LookupProgress;
use tpbulk::sim::SimConfig;

/// A cellular shipment of three rows (valid IMEIs and ICCIDs) for the tutorial catalogue.
const CELLULAR: &str = "IMEI,ICCID,Name,Model,Connection,Connectivity plan,Network context
356936110000010,89331503200000000019,LTE dongle 01,CUSTOM/LTE_Dongle,my MQTT application,Cellular CP,My cellular network context
356936110000028,89331503200000000027,LTE dongle 02,CUSTOM/LTE_Dongle,my MQTT application,Cellular CP,My cellular network context
356936110000036,89331503200000000035,LTE dongle 03,CUSTOM/LTE_Dongle,my MQTT application,Cellular CP,My cellular network context
";

fn import(env: &Env, name: &str, csv: &str) -> String {
    let file = env.write(name, csv);
    let run = env.import_file(&file, &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    run.batch()
}

/// Whether the simulator holds a device, by EUI.
fn on_platform(env: &Env, eui: &str) -> bool {
    let client = env.client();
    env.block_on(async { client.device_by_eui(eui).await.unwrap().is_some() })
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

fn answers(env: &Env, status: u16) -> u64 {
    env.sim.stats().answers.get(&status).copied().unwrap_or(0)
}

#[test]
fn verify_passes_after_a_clean_batch_and_names_a_device_deleted_behind_its_back() {
    let env = Env::new(SimConfig::default());
    let otaa = import(&env, "otaa.csv", &otaa_csv(1, 7));
    let cellular = import(&env, "cellular.csv", CELLULAR);

    for batch in [&otaa, &cellular] {
        let run = env.run(&["verify", batch]);
        assert_eq!(run.code(), 0, "{}", run.describe());
        assert!(run.stdout().contains("0 missing"), "{}", run.describe());
    }

    env.sim.remove_device(&eui(4));
    // The cellular device of row 3 is known to the platform only by the EUI it assigned.
    let assigned = env
        .rows(&cellular)
        .into_iter()
        .find(|r| r.row == 3)
        .and_then(|r| r.device_eui)
        .expect("the platform's EUI is journalled");
    assert!(env.sim.remove_device(&assigned));

    let run = env.run(&["verify", &otaa]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let missing: Vec<String> = run
        .stdout()
        .lines()
        .filter(|l| l.starts_with("missing"))
        .map(str::to_string)
        .collect();
    assert_eq!(missing.len(), 1, "{}", run.describe());
    assert!(missing[0].contains(&eui(4)) && missing[0].contains("row      5"));
    assert!(
        run.stdout()
            .contains("6 of 7 devices on the platform, 1 missing")
    );

    let run = env.run(&["verify", &cellular]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert!(
        run.stdout().contains("356936110000028"),
        "{}",
        run.describe()
    );
    assert!(run.stdout().contains(&assigned));
    assert!(run.stdout().contains("2 of 3 devices"));

    // The batch's seven devices are one DevEUI prefix: a token and one look-up.
    let journal = env.journal();
    let (targets, _) = after::targets(&journal, &otaa).unwrap();
    let client = env.client();
    let report = env.block_on(async {
        verify::verify(
            &client,
            &targets,
            &LookupProgress::new(&tpbulk::logging::Display::hidden()),
        )
        .await
        .unwrap()
    });
    assert_eq!(report.requests, 2);
    assert_eq!(
        report.missing.iter().map(|t| t.row).collect::<Vec<_>>(),
        [5]
    );
}

/// What the simulator's traffic model says of a device over `days` days: (uplinks, lost, downlinks, failed, last
/// day with an uplink).
fn expected_traffic(eui: &str, days: u32) -> (u64, u64, u64, u64, Option<String>) {
    let pairs = [
        ("duration".to_string(), format!("P{days}D")),
        ("step".to_string(), "P1D".to_string()),
    ];
    let now = chrono::Utc::now().timestamp_millis();
    let answer = tpbulk::sim::traffic::aggregated(1, eui, &pairs, now).unwrap();
    let mut t = (0, 0, 0, 0, None);
    for b in answer["briefs"].as_array().unwrap() {
        let n = |p: &str| b.pointer(p).and_then(Value::as_u64).unwrap();
        t.0 += n("/up/count");
        t.1 += n("/up/countLost");
        t.2 += n("/dw/count");
        t.3 += n("/dw/countFailed");
        if n("/up/count") > 0 {
            t.4 = Some(health::day(b["timestamp"].as_i64().unwrap()));
        }
    }
    t
}

#[test]
fn health_matches_the_simulators_traffic_and_alarms() {
    let env = Env::new(SimConfig::default());
    // Devices outside the batch raise alarms too; they must not be counted.
    for n in 900..940 {
        env.preexisting(n);
    }
    let batch = import(&env, "ship.csv", &otaa_csv(1, 40));

    let run = env.run(&["health", &batch, "--days", "5", "--format", "jsonl"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let lines: Vec<Value> = run
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    let (mut live, mut alarmed) = (0, 0);
    for (i, line) in lines.iter().enumerate() {
        let n = i as u64 + 1;
        let id = eui(n);
        assert_eq!(line["row"], n + 1);
        assert_eq!(line["id"], id.as_str());
        let (up, lost, down, failed, last) = expected_traffic(&id, 5);
        assert_eq!(line["uplinks"], up, "{id}");
        assert_eq!(line["lost"], lost, "{id}");
        assert_eq!(line["downlinks"], down, "{id}");
        assert_eq!(line["failed_downlinks"], failed, "{id}");
        assert_eq!(line["last_uplink"].as_str(), last.as_deref(), "{id}");
        let alarms = tpbulk::sim::traffic::alarm_count(1, &id);
        assert_eq!(line["alarms"], alarms, "{id}");
        live += usize::from(up > 0);
        alarmed += usize::from(alarms > 0);
    }
    assert!(
        live > 0 && live < 40 && alarmed > 0,
        "a batch with every kind of device"
    );

    let run = env.run(&["health", &batch]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    // Off a terminal, never silent: a line at the start and one at the end (more every 2 s between).
    let said = run.stderr();
    assert!(
        said.contains("tpbulk: 0 of 40 devices checked")
            && said.contains("tpbulk: 40 of 40 devices checked"),
        "{said}"
    );
    let text = run.stdout();
    let figure = |label: &str| -> usize {
        let line = text.lines().find(|l| l.trim_start().starts_with(label));
        let line = line.unwrap_or_else(|| panic!("no {label} line in {text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(figure("live"), live, "{text}");
    assert_eq!(figure("silent"), 40 - live, "{text}");
    assert_eq!(figure("alarmed"), alarmed, "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains('█')).count(),
        7,
        "{text}"
    );

    // Alarms read two at a time: every page is followed.
    let journal = env.journal();
    let (targets, _) = after::targets(&journal, &batch).unwrap();
    let client = env.client();
    env.block_on(client.authenticate()).unwrap();
    let before = answers(&env, 200);
    let options = health::HealthOptions {
        alarm_page_size: Some(2),
        ..health::HealthOptions::new(7, 4).unwrap()
    };
    let report = env.block_on(async { health::collect(&client, &targets, options).await.unwrap() });
    let expected: u64 = (900..940)
        .chain(1..=40)
        .map(|n| tpbulk::sim::traffic::alarm_count(1, &eui(n)))
        .sum();
    let pages = expected.div_ceil(2);
    assert!(pages > 3, "several alarm pages");
    assert_eq!(
        answers(&env, 200) - before,
        pages + 40,
        "alarm pages plus one traffic call per device"
    );
    let by_row: HashMap<u64, u64> = report.devices.iter().map(|d| (d.row, d.alarms)).collect();
    for n in 1..=40u64 {
        assert_eq!(
            by_row[&(n + 1)],
            tpbulk::sim::traffic::alarm_count(1, &eui(n))
        );
    }

    let csv_path = env.dir.path().join("health.csv");
    let run = env.run(&[
        "health",
        &batch,
        "--format",
        "csv",
        "-o",
        csv_path.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        csv.starts_with("row,id,name,uplinks,lost,downlinks,failed_downlinks,last_uplink,alarms\n")
    );
    assert_eq!(csv.lines().count(), 41);
    let xlsx = env.dir.path().join("health.xlsx");
    let run = env.run(&[
        "health",
        &batch,
        "--format",
        "xlsx",
        "-o",
        xlsx.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(std::fs::read(&xlsx).unwrap().starts_with(b"PK"));
    assert_eq!(env.run(&["health", &batch, "--format", "xlsx"]).code(), 2);
}

#[test]
fn rollback_deletes_what_the_batch_created_and_keeps_what_existed() {
    let env = Env::new(SimConfig::default());
    env.preexisting(2);
    env.preexisting(5);
    let batch = import(&env, "ship.csv", &otaa_csv(1, 8));
    assert_eq!(env.counts(&batch).exists, 2);

    // Not a terminal and no --yes: refused before anything is deleted.
    let run = env.run(&["rollback", &batch]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert_eq!(env.sim.stats().devices, 8);

    let run = env.run(&["rollback", &batch, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        run.stdout()
            .contains("deleted 6, already gone 0, deleted earlier 0, failed 0, kept 2"),
        "{}",
        run.describe()
    );
    for n in 1..=8 {
        assert_eq!(on_platform(&env, &eui(n)), n == 2 || n == 5, "{}", eui(n));
    }

    // `status` and the report say what the rollback did.
    let run = env.run(&["status", &batch]);
    assert!(
        run.stdout()
            .contains("  deleted          6  (by tpbulk rollback; counted in created)"),
        "{}",
        run.describe()
    );
    let run = env.run(&["status", &batch, "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(run.stdout().trim()).unwrap();
    assert_eq!(
        (status["created"].as_u64(), status["deleted"].as_u64()),
        (Some(6), Some(6))
    );
    let report = env.dir.path().join("after-rollback.jsonl");
    let run = env.run(&["report", &batch, "-o", report.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let rollback: Vec<(String, Option<String>)> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| {
            let line: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                line["status"].as_str().unwrap().to_string(),
                line["rollback"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(rollback.len(), 8);
    for (status, deleted) in &rollback {
        let expected = (status == "created").then(|| "deleted".to_string());
        assert_eq!(deleted, &expected, "{rollback:?}");
    }

    // Done is done: a second rollback sends nothing, and verify no longer expects the deleted devices.
    let deletes = answers(&env, 204);
    let run = env.run(&["rollback", &batch, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(run.stdout().contains("nothing left to delete"));
    assert_eq!(answers(&env, 204), deletes);
    let run = env.run(&["verify", &batch]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        run.stdout().contains("2 of 2 devices"),
        "{}",
        run.describe()
    );
}

#[test]
fn rollback_after_an_interrupted_import_deletes_every_device_it_made() {
    let env = Env::new(SimConfig {
        latency: Duration::from_millis(30),
        ..SimConfig::default()
    });
    env.preexisting(7);
    let file = env.write("ship.csv", &otaa_csv(1, 60));
    let mut child = env.spawn(&[
        "import",
        file.to_str().unwrap(),
        "--rate",
        "0",
        "--concurrency",
        "4",
    ]);
    wait_until("devices created", || env.creations().len() >= 10);
    // SIGKILL: rows in flight stay `sending`, their outcome unknown to the journal.
    child.kill().unwrap();
    child.wait().unwrap();
    let batch = env.journal().latest_batch(false).unwrap().unwrap().id;
    let counts = env.counts(&batch);
    assert!(counts.pending > 0, "the import was cut short: {counts:?}");
    let sending = env
        .rows(&batch)
        .iter()
        .filter(|r| r.state == RowState::Sending)
        .count();
    eprintln!("sending rows before rollback: {sending}");

    let run = env.run(&["rollback", &batch, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    if sending > 0 {
        assert!(
            run.stderr().contains("rows left sending by the import"),
            "{}",
            run.describe()
        );
    }
    // Every device the batch made is gone, the one that was there before stays.
    assert_eq!(env.sim.stats().devices, 1);
    assert!(on_platform(&env, &eui(7)));
    let rows = env.rows(&batch);
    assert!(
        rows.iter().all(|r| r.state != RowState::Sending),
        "sending rows settled"
    );
    let created = rows.iter().filter(|r| r.state == RowState::Done).count();
    assert_eq!(created, env.creations().len(), "{}", run.describe());
}

#[test]
fn an_interrupted_rollback_resumes_without_deleting_twice() {
    let env = Env::new(SimConfig::default());
    let batch = import(&env, "ship.csv", &otaa_csv(1, 30));
    let child = env.spawn(&[
        "rollback",
        &batch,
        "--yes",
        "--rate",
        "10",
        "--concurrency",
        "1",
    ]);
    wait_until("some deletions", || env.sim.stats().devices <= 27);
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = 30 - env.sim.stats().devices;
    assert!(first < 30, "interrupted before the end");
    let gone_before = answers(&env, 404);

    let run = env.run(&["rollback", &batch, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(env.sim.stats().devices, 0);
    assert!(
        run.stdout().contains(&format!(
            "deleted {}, already gone 0, deleted earlier {first}",
            30 - first
        )),
        "{}",
        run.describe()
    );
    assert_eq!(answers(&env, 404), gone_before, "nothing deleted twice");
}

#[test]
fn a_device_already_gone_counts_as_deleted() {
    let env = Env::new(SimConfig::default());
    let batch = import(&env, "ship.csv", &otaa_csv(1, 4));
    env.sim.remove_device(&eui(3));
    let run = env.run(&["rollback", &batch, "--yes", "-q"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        run.stdout().contains("deleted 3, already gone 1"),
        "{}",
        run.describe()
    );
    assert_eq!(env.sim.stats().devices, 0);
}

/// The state each row of a batch ended in, as the report names it (`created`, `deleted`, `gone`, `invalid`, …), and
/// the row's action (`create`, `delete`).
fn report_statuses(env: &Env, batch: &str) -> Vec<(u64, String, String)> {
    let report = env.dir.path().join(format!("{batch}.jsonl"));
    let run = env.run(&["report", batch, "-o", report.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| {
            let line: Value = serde_json::from_str(l).unwrap();
            (
                line["row"].as_u64().unwrap(),
                line["status"].as_str().unwrap().to_string(),
                line["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn deletions(env: &Env) -> std::collections::BTreeMap<String, u64> {
    env.sim.stats().deletions
}

#[test]
fn delete_removes_each_device_a_file_names_once_and_no_other() {
    let env = Env::new(SimConfig::default());
    env.preexisting(9);
    import(&env, "ship.csv", &otaa_csv(1, 6));
    import(&env, "cellular.csv", CELLULAR);
    // Gone behind tpbulk's back before the deletion.
    assert!(env.sim.remove_device(&eui(2)) && env.sim.remove_device(&eui(5)));
    let file = env.write(
        "retire.csv",
        &format!(
            "DevEUI,ICCID\n{},\n{},\n{},\n{},\n,89331503200000000027\n12345,\n",
            eui(1),
            eui(2),
            eui(3),
            eui(5)
        ),
    );
    let path = file.to_str().unwrap();

    // Off a terminal and without --yes: refused before the file is read or anything is sent.
    let run = env.run(&["delete", path]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("add --yes"), "{}", run.describe());
    assert!(deletions(&env).is_empty());
    // A file whose columns name no device: refused before any batch is journalled.
    let unnamed = env.write("serials.csv", &format!("Serial\n{}\n", eui(1)));
    let run = env.run(&["delete", unnamed.to_str().unwrap(), "--yes"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr().contains("no column names a device"),
        "{}",
        run.describe()
    );
    assert_eq!(env.journal().batches().unwrap().len(), 2);

    let run = env.run(&["delete", path, "--yes", "--rate", "0"]);
    assert_eq!(run.code(), 1, "the bad row: {}", run.describe());
    assert!(
        run.stderr()
            .contains("5 rows name a device to delete, 3 of them on the platform"),
        "{}",
        run.describe()
    );
    assert!(
        run.stdout()
            .contains("deleted 3, gone 2, invalid 1, failed 0, total 6"),
        "{}",
        run.describe()
    );
    let batch = run.batch();
    let expected = [
        (2, "deleted"),
        (3, "gone"),
        (4, "deleted"),
        (5, "gone"),
        (6, "deleted"),
        (7, "invalid"),
    ]
    .map(|(r, s)| (r, s.to_string(), "delete".to_string()));
    assert_eq!(report_statuses(&env, &batch), expected);
    let invalid = &env.rows(&batch)[5];
    assert_eq!(invalid.errors[0].column, "DevEUI", "{:?}", invalid.errors);
    // Each named device deleted once, by its DevEUI or its SIM; none the file does not name.
    let expected: std::collections::BTreeMap<String, u64> = [
        (eui(1), 1),
        (eui(3), 1),
        ("89331503200000000027".to_string(), 1),
    ]
    .into();
    assert_eq!(deletions(&env), expected);
    for n in [4, 6, 9] {
        assert!(on_platform(&env, &eui(n)), "{}", eui(n));
    }
    assert_eq!(env.sim.stats().devices, 5);

    let run = env.run(&["status", &batch, "--format", "json"]);
    let status: Value = serde_json::from_str(run.stdout().trim()).unwrap();
    assert_eq!(
        (
            status["deleted"].as_u64(),
            status["gone"].as_u64(),
            status["invalid"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    // A deletion is not undone, and the bad row goes back for fixing like any other.
    assert_eq!(env.run(&["rollback", &batch, "--yes"]).code(), 2);
    let fix = env.dir.path().join("fix.csv");
    let run = env.run(&["rework", &batch, "-o", fix.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(std::fs::read_to_string(&fix).unwrap().contains("12345"));
}

#[test]
fn a_delete_killed_and_resumed_deletes_every_named_device_once() {
    let env = Env::new(SimConfig {
        latency: Duration::from_millis(20),
        ..SimConfig::default()
    });
    let shipment = otaa_csv(1, 60);
    import(&env, "ship.csv", &shipment);
    // The shipment file itself names the devices: its key and model columns are not needed, and not in the way.
    let file = env.write("ship.csv", &shipment);
    let mut child = env.spawn(&[
        "delete",
        file.to_str().unwrap(),
        "--yes",
        "--rate",
        "0",
        "--concurrency",
        "2",
    ]);
    wait_until("some deletions", || deletions(&env).len() >= 5);
    child.kill().unwrap();
    child.wait().unwrap();
    let batch = env.journal().latest_batch(false).unwrap().unwrap().id;
    assert!(env.counts(&batch).pending > 0, "killed before the end");
    // Deleting the file again would leave this batch's rows in flight unsettled: it points at `resume`.
    let run = env.run(&["delete", file.to_str().unwrap(), "--yes"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr().contains(&format!("tpbulk resume {batch}")),
        "{}",
        run.describe()
    );

    let run = env.run(&["resume", &batch]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let counts = env.counts(&batch);
    assert_eq!(
        (counts.deleted + counts.gone, counts.failed, counts.pending),
        (60, 0, 0)
    );
    let stats = env.sim.stats();
    assert_eq!(stats.devices, 0);
    assert_eq!(stats.deletions.len(), 60);
    assert!(
        stats.deletions.values().all(|&n| n == 1),
        "deleted once: {:?}",
        stats.deletions
    );
}

#[test]
fn a_thingpark_file_creates_its_create_rows_and_deletes_its_delete_rows_in_one_batch() {
    let env = Env::new(SimConfig::default());
    env.preexisting(3);
    env.preexisting(4);
    let mut create = vec![String::new(); 20];
    create[0] = "CREATE_OTAA".into();
    create[1] = eui(1);
    create[3] = MODEL.into();
    create[5] = app_key(1);
    create[10] = "new tracker".into();
    create[19] = CONNECTION.into();
    let file = env.write(
        "thingpark.csv",
        &format!(
            "{}\nDELETE,{}\nDELETE,{}\nDELETE,12345\n",
            create.join(","),
            eui(3),
            eui(8)
        ),
    );
    let path = file.to_str().unwrap();

    // Its DELETE rows ask first: off a terminal without --yes nothing is sent, and no batch is kept.
    let run = env.run(&["import", path, "--rate", "0"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("add --yes"), "{}", run.describe());
    assert!(env.journal().batch(&run.batch()).unwrap().is_none());
    assert!(env.creations().is_empty() && deletions(&env).is_empty());

    let run = env.run(&["import", path, "--rate", "0", "--yes"]);
    assert_eq!(run.code(), 1, "the bad row: {}", run.describe());
    assert!(
        run.stdout()
            .contains("created 1, exists 0, deleted 1, gone 1, invalid 1, failed 0, total 4"),
        "{}",
        run.describe()
    );
    let batch = run.batch();
    let statuses = report_statuses(&env, &batch);
    let expected = [
        (1, "created", "create"),
        (2, "deleted", "delete"),
        (3, "gone", "delete"),
        (4, "invalid", "delete"),
    ]
    .map(|(r, s, a)| (r, s.to_string(), a.to_string()));
    assert_eq!(statuses, expected);
    assert_eq!(env.creations(), [(eui(1), 1)].into());
    assert_eq!(deletions(&env), [(eui(3), 1)].into());
    assert!(on_platform(&env, &eui(4)));
    // What the batch deleted is no device it should have.
    let run = env.run(&["verify", &batch]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        run.stdout().contains("1 of 1 devices"),
        "{}",
        run.describe()
    );
    let run = env.run(&["status", &batch, "--format", "json"]);
    let status: Value = serde_json::from_str(run.stdout().trim()).unwrap();
    assert_eq!(
        (
            status["created"].as_u64(),
            status["deleted"].as_u64(),
            status["gone"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
}

#[test]
fn both_connection_kinds_are_created_and_usable_by_an_import() {
    let env = Env::new(SimConfig::default());
    let password = "s3cret-broker-pw";
    let key = "C72C6F867B150B1210ACDA5F3CDFB449";
    let key_file = env.write("as.key", &format!("{key}\n"));

    let mut cmd = env.command(&[
        "connection",
        "add",
        "mqtt",
        "--name",
        "Plant MQTT",
        "--host",
        "broker.example.com:8883",
        "--uplink-topic",
        "mqtt/things/{DevEUI}/uplink",
        "--downlink-topic",
        "mqtt/things/{DevEUI}/downlink",
        "--username",
        "plant",
    ]);
    let out = cmd
        .env("THINGPARK_CONNECTION_PASSWORD", password)
        .output()
        .unwrap();
    let mqtt = Run(out);
    assert_eq!(mqtt.code(), 0, "{}", mqtt.describe());
    let mqtt_id = mqtt.stdout().trim().to_string();
    assert!(!mqtt_id.is_empty() && !mqtt.describe().contains(password));

    let https = env.run(&[
        "connection",
        "add",
        "https",
        "--name",
        "Plant HTTPS",
        "--url",
        "https://plant.example.com/uplink",
        "--as-key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(https.code(), 0, "{}", https.describe());
    let https_id = https.stdout().trim().to_string();
    assert!(https_id.ends_with(".AS") && !https.describe().contains(key));

    let list = env.run(&["connection", "list"]);
    assert_eq!(list.code(), 0, "{}", list.describe());
    let line = |id: &str| {
        list.stdout()
            .lines()
            .find(|l| l.contains(id))
            .map(str::to_string)
    };
    let mqtt_line = list
        .stdout()
        .lines()
        .find(|l| l.contains("Plant MQTT"))
        .map(str::to_string)
        .unwrap();
    assert!(
        mqtt_line.contains("KAFKA") && mqtt_line.contains(&mqtt_id),
        "{mqtt_line}"
    );
    assert!(line(&https_id).unwrap().contains("Plant HTTPS"));

    // Used at once in a shipment's connection column: by IoT Flow id and by ID.
    let mut csv = String::from("DevEUI,AppKey,Model,Connection\n");
    csv.push_str(&format!("{},{},{MODEL},{mqtt_id}\n", eui(1), app_key(1)));
    csv.push_str(&format!("{},{},{MODEL},{https_id}\n", eui(2), app_key(2)));
    let batch = import(&env, "ship.csv", &csv);
    assert_eq!(env.counts(&batch).created, 2);

    // A password without a user is fine; a user without a password is refused before any request.
    let run = env.run(&[
        "connection",
        "add",
        "mqtt",
        "--name",
        "x",
        "--host",
        "b:1883",
        "--uplink-topic",
        "u",
        "--downlink-topic",
        "d",
        "--username",
        "plant",
    ]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    let bad_key = env.write("bad.key", "C72C");
    let run = env.run(&[
        "connection",
        "add",
        "https",
        "--name",
        "x",
        "--url",
        "https://x.example.com",
        "--as-key-file",
        bad_key.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("bad.key"));
}
