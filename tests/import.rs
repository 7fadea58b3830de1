//! `tpbulk import` end to end against the in-process simulator: clean batches, invalid rows, devices already on the
//! platform, faults, rate limits and expiring tokens. (Final 4xx answers and `--max-errors` are covered by the
//! pool's tests in `src/engine/tests.rs`: every check of the importer catches what the simulator would refuse.)

use crate::engine_support;

use engine_support::*;
use tpbulk::journal::RowState;
use tpbulk::sim::SimConfig;

#[test]
fn a_clean_shipment_is_created_once_and_reported() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 40));
    let run = env.run(&["import", file.to_str().unwrap(), "--rate", "0"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let batch = run.batch();
    let counts = env.counts(&batch);
    assert_eq!((counts.total, counts.created, counts.pending), (40, 40, 0));
    assert!(
        run.stdout()
            .contains("created 40, exists 0, invalid 0, failed 0, total 40")
    );
    let creations = env.creations();
    for n in 1..=40 {
        assert_eq!(creations.get(&eui(n)), Some(&1), "device {}", eui(n));
    }
    for row in env.rows(&batch) {
        assert_eq!(row.state, RowState::Done);
        assert!(
            row.request.is_none(),
            "key material kept after the row ended"
        );
        assert!(row.device_href.is_some());
    }
    let keys: Vec<String> = (1..=40).map(app_key).collect();
    assert_file_has_no_key(&env.journal_path(), &keys);
    assert!(!run.stderr().contains(&app_key(1)));
}

#[test]
fn invalid_rows_are_journalled_and_never_sent() {
    let env = Env::new(SimConfig::default());
    let mut csv = otaa_csv(1, 5);
    csv.push_str(&format!("NOT-AN-EUI,{},{MODEL},{CONNECTION}\n", app_key(6)));
    csv.push_str(&format!("{},ABCD,{MODEL},{CONNECTION}\n", eui(7)));
    let file = env.write("ship.csv", &csv);
    let run = env.run(&["import", file.to_str().unwrap(), "--rate", "0"]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let counts = env.counts(&run.batch());
    assert_eq!((counts.created, counts.invalid), (5, 2));
    let creations = env.creations();
    assert_eq!(creations.values().sum::<u64>(), 5);
    assert!(!creations.contains_key(&eui(7)));
    let invalid: Vec<_> = env
        .rows(&run.batch())
        .into_iter()
        .filter(|r| r.state == RowState::Invalid)
        .collect();
    assert_eq!(
        invalid.iter().map(|r| r.row).collect::<Vec<_>>(),
        vec![7, 8]
    );
    assert!(invalid.iter().all(|r| !r.errors.is_empty()));
}

fn preexisting(env: &Env, n: u64) {
    env.sim.insert_device(serde_json::json!({
        "EUI": eui(n),
        "name": "installed last year",
        "connectivity": "LORAWAN",
        "activation": "OTAA",
        "model": {"ID": MODEL},
    }));
}

#[test]
fn devices_already_on_the_platform_end_exists_with_skip() {
    let env = Env::new(SimConfig::default());
    preexisting(&env, 2);
    preexisting(&env, 4);
    let file = env.write("ship.csv", &otaa_csv(1, 6));
    let run = env.run(&["import", file.to_str().unwrap(), "--rate", "0"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let batch = run.batch();
    let counts = env.counts(&batch);
    assert_eq!((counts.created, counts.exists), (4, 2));
    let creations = env.creations();
    assert!(!creations.contains_key(&eui(2)) && !creations.contains_key(&eui(4)));
    let rows = env.rows(&batch);
    assert_eq!(rows[1].state, RowState::Exists);
    assert_eq!(rows[1].device_eui.as_deref(), Some(eui(2).as_str()));
}

#[test]
fn devices_already_on_the_platform_fail_with_on_existing_fail() {
    let env = Env::new(SimConfig::default());
    preexisting(&env, 3);
    let file = env.write("ship.csv", &otaa_csv(1, 4));
    let run = env.run(&[
        "import",
        file.to_str().unwrap(),
        "--rate",
        "0",
        "--on-existing",
        "fail",
    ]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let counts = env.counts(&run.batch());
    assert_eq!((counts.created, counts.failed, counts.exists), (3, 1, 0));
    assert!(!env.creations().contains_key(&eui(3)));
}

#[test]
fn retried_faults_create_every_device_exactly_once() {
    let env = Env::new(SimConfig::default());
    // A fifth of the calls answered 503, a fifth of the creations done but answered by a dropped connection.
    env.sim.set_faults(0.2, 0.2);
    let file = env.write("ship.csv", &otaa_csv(100, 60));
    let run = env.run(&[
        "import",
        file.to_str().unwrap(),
        "--rate",
        "0",
        "--concurrency",
        "6",
    ]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let counts = env.counts(&run.batch());
    assert_eq!((counts.created, counts.exists, counts.failed), (60, 0, 0));
    let creations = env.creations();
    assert_eq!(creations.len(), 60);
    assert!(creations.values().all(|&n| n == 1), "{creations:?}");
    for row in env.rows(&run.batch()) {
        assert!(row.device_href.is_some(), "row {} has no device", row.row);
    }
}

#[test]
fn cellular_devices_whose_answer_was_lost_get_their_reference_and_roll_back() {
    let env = Env::new(SimConfig::default());
    // Every creation is done and its answer lost: the retry's duplicate answer settles the row, and only a listing
    // can tell which device the platform made.
    env.sim.set_faults(0.0, 1.0);
    let file = env.write("cell.csv", CELLULAR_CSV);
    let run = env.run(&["import", file.to_str().unwrap(), "--rate", "0"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let batch = run.batch();
    assert_eq!(env.counts(&batch).created, 3);
    let creations = env.creations();
    assert_eq!(creations.len(), 3);
    assert!(creations.values().all(|&n| n == 1), "{creations:?}");
    for row in env.rows(&batch) {
        assert!(
            row.device_eui.is_some() && row.device_uid.is_some(),
            "row {} has no platform reference: {row:?}",
            row.row
        );
    }
    env.sim.set_faults(0.0, 0.0);
    let run = env.run(&["verify", &batch, "--rate", "0"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        run.stdout().contains("3 of 3 devices"),
        "{}",
        run.describe()
    );
    let run = env.run(&["rollback", &batch, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(env.sim.stats().devices, 0, "{}", run.describe());
}

#[test]
fn a_rate_limited_platform_is_waited_for() {
    // The platform allows 50 requests/s and says how long to wait; the importer is told 80/s.
    let env = Env::new(SimConfig {
        rate: Some(50.0),
        burst: Some(10),
        retry_after: true,
        ..SimConfig::default()
    });
    let file = env.write("ship.csv", &otaa_csv(300, 60));
    let run = env.run(&["import", file.to_str().unwrap(), "--rate", "80"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(env.counts(&run.batch()).created, 60);
    assert!(
        env.sim.stats().answers.get(&429).is_some_and(|&n| n > 0),
        "the test never hit the limit"
    );
    assert!(env.creations().values().all(|&n| n == 1));
}

#[test]
fn a_token_expiring_mid_batch_is_renewed() {
    let env = Env::new(SimConfig {
        token_ttl: std::time::Duration::from_secs(1),
        ..SimConfig::default()
    });
    let file = env.write("ship.csv", &otaa_csv(500, 40));
    let run = env.run(&["import", file.to_str().unwrap(), "--rate", "20"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    // 40 devices at 20/s take two seconds: the one-second token had to be renewed.
    assert_eq!(env.counts(&run.batch()).created, 40);
}

#[test]
fn an_unreachable_platform_exits_3_before_any_batch() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 2));
    let run = Run(env
        .command(&["import", file.to_str().unwrap()])
        .env("THINGPARK_CLIENT_SECRET", "wrong")
        .output()
        .unwrap());
    assert_eq!(run.code(), 3, "{}", run.describe());
    assert!(!run.stderr().contains("wrong"));
}

#[test]
fn a_device_changed_after_it_was_read_ends_conflict_and_a_forbidden_change_is_refused_per_row() {
    let env = Env::new(SimConfig {
        latency: std::time::Duration::from_millis(50),
        ..SimConfig::default()
    });
    seed_devices(&env, 1, 12);
    // `plan` shows what the import would write; then, while the import runs, someone renames device 12 (the last
    // row sent) after the import read it and before its write.
    let mut csv = update_csv(1, 12, |n| (format!("renamed {n}"), CONNECTION));
    // Row 13: device 3 is OTAA; a file calling it ABP asks for a change the platform never makes.
    csv = csv.replacen(
        "DevEUI,Name,Connection\n",
        "DevEUI,Name,Connection,Kind\n",
        1,
    );
    let mut lines: Vec<String> = csv.lines().map(|l| format!("{l},otaa")).collect();
    lines[0] = "DevEUI,Name,Connection,Kind".into();
    lines[3] = format!("{},renamed 3,{CONNECTION},abp", eui(3));
    let file = env.write("update.csv", &(lines.join("\n") + "\n"));
    let plan = env.run(&["plan", file.to_str().unwrap(), "--on-existing", "update"]);
    assert_eq!(plan.code(), 1, "{}", plan.describe());
    assert!(
        plan.stdout().contains(
            "12 rows: 0 would be created, 11 would be updated, 0 unchanged, 0 conflict, 1 forbidden_change"
        ),
        "{}",
        plan.describe()
    );
    assert!(
        plan.stdout().contains("name 'device 12' → 'renamed 12'"),
        "{}",
        plan.describe()
    );
    let child = env.spawn(&[
        "import",
        file.to_str().unwrap(),
        "--on-existing",
        "update",
        "--concurrency",
        "1",
        "--rate",
        "0",
    ]);
    // Once every row is journalled with the version it read, the change lands before the last write.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the import never got ready"
        );
        let ready = tpbulk::journal::Journal::open_existing(&env.journal_path())
            .ok()
            .and_then(|j| j.latest_batch(false).ok().flatten())
            .is_some_and(|b| b.options["prepared"] == serde_json::Value::Bool(true));
        if ready {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    env.sim
        .change_device(&eui(12), serde_json::json!({"name": "theirs"}))
        .unwrap();
    let run = Run(child.wait_with_output().unwrap());
    assert_eq!(run.code(), 1, "{}", run.describe());
    let batch = run.batch();
    let counts = env.counts(&batch);
    assert_eq!(
        (counts.updated, counts.conflict, counts.invalid),
        (10, 1, 1),
        "{}",
        run.describe()
    );
    assert_eq!(sim_field(&env, 12, "name"), "theirs", "never overwritten");
    assert_eq!(
        sim_field(&env, 3, "name"),
        "device 3",
        "a forbidden row sends nothing"
    );
    let rows = env.rows(&batch);
    let conflict = rows.iter().find(|r| r.row == 13).unwrap();
    assert_eq!(conflict.state, RowState::Conflict);
    let message = conflict.message.as_deref().unwrap_or("");
    assert!(
        message.contains("read 'device 12', file 'renamed 12', platform now 'theirs'"),
        "{message}"
    );
    let forbidden = rows.iter().find(|r| r.row == 4).unwrap();
    assert_eq!(forbidden.state, RowState::Invalid);
    assert_eq!(
        forbidden.errors[0].code,
        tpbulk::device::ErrorCode::ForbiddenChange
    );
    assert_eq!(env.sim.stats().updates.len(), 10);
}

#[test]
fn a_1000_device_update_keeps_to_the_default_rate_and_writes_only_what_changed() {
    // A platform that answers 429 to anything faster than 10 requests/s.
    let env = Env::new(SimConfig {
        rate: Some(10.0),
        burst: Some(3),
        ..SimConfig::default()
    });
    seed_devices(&env, 1, 1000);
    let file = env.write(
        "update.csv",
        &update_csv(1, 1000, |n| {
            let name = if n % 50 == 0 {
                format!("renamed {n}")
            } else {
                format!("device {n}")
            };
            (name, CONNECTION)
        }),
    );
    let run = env.run(&["import", file.to_str().unwrap(), "--on-existing", "update"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let counts = env.counts(&run.batch());
    assert_eq!((counts.updated, counts.unchanged), (20, 980));
    let stats = env.sim.stats();
    assert_eq!(stats.answers.get(&429), None, "faster than --rate");
    // One write per changed device, no read of an unchanged one.
    assert_eq!(stats.requests.get("PUT /devices/{id}"), Some(&20));
    assert_eq!(stats.requests.get("GET /devices/{id}"), None);
}
