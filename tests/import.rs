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

#[test]
fn devices_already_on_the_platform_end_exists_with_skip() {
    let env = Env::new(SimConfig::default());
    env.preexisting(2);
    env.preexisting(4);
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
    env.preexisting(3);
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
