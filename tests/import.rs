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
    let run = env.import(&otaa_csv(1, 40), &[]);
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
    let run = env.import(&csv, &[]);
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
    let run = env.import(&otaa_csv(1, 6), &[]);
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
    let run = env.import(&otaa_csv(1, 4), &["--on-existing", "fail"]);
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
    let run = env.import(&otaa_csv(100, 60), &["--concurrency", "6"]);
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
    let run = env.import_file(&file, &[]);
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
    env.wait_prepared();
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

/// Four OTAA rows with tags (`;` and `|`), domains and a manual location; the fourth has a malformed tag and a
/// domain without its group.
fn tagged_csv() -> String {
    let mut csv =
        String::from("DevEUI,AppKey,Name,Model,Connection,Latitude,Longitude,Tags,Domains\n");
    let rows = [
        (
            "pump 1",
            "45.5",
            "-0.25",
            "shipment 42;lot A",
            "Site:France/Paris",
        ),
        (
            "pump 2",
            "",
            "",
            "shipment 42|lot B",
            "Site:France/Caen;Vertical:Water",
        ),
        ("pump 3", "", "", "shipment 42", ""),
        ("pump 4", "", "", "ok;<lot>", "Paris"),
    ];
    for (n, (name, lat, lon, tags, domains)) in (1..).zip(rows) {
        csv.push_str(&format!(
            "{},{},{name},{MODEL},{CONNECTION},{lat},{lon},{tags},{domains}\n",
            eui(n),
            app_key(n)
        ));
    }
    csv
}

/// The CSV lines `tpbulk export -o -` prints, header first.
fn export_lines(env: &Env, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["export", "-o", "-", "--quiet"];
    args.extend_from_slice(extra);
    let run = env.run(&args);
    assert_eq!(run.code(), 0, "{}", run.describe());
    run.stdout().lines().map(str::to_string).collect()
}

#[test]
fn tags_go_one_call_per_tag_after_the_creations_and_domains_with_them() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &tagged_csv());
    let plan = env.run(&["plan", file.to_str().unwrap()]);
    assert!(
        plan.stdout().contains("with 3 creations and 3 tag calls"),
        "{}",
        plan.describe()
    );
    let run = env.import_file(&file, &[]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert!(
        run.stdout().contains("tag calls 3: tagged 3, failed 0"),
        "{}",
        run.describe()
    );
    // Three devices, three tags: one call per tag, not one per device; domains cost nothing of their own.
    let requests = env.sim.stats().requests;
    assert_eq!(requests.get("POST /devices").copied(), Some(3));
    assert_eq!(requests.get("POST /devices/tags").copied(), Some(3));
    assert_eq!(requests.get("POST /devices/domains"), None);
    let status = env.run(&["status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(status["tag_calls"]["tagged"], 3, "{status}");
    assert_eq!(status["state"], "done", "{status}");

    // The malformed row is refused on its own, with the column of each fault; it is neither created nor tagged.
    let batch = run.batch();
    let bad = env.rows(&batch).into_iter().find(|r| r.row == 5).unwrap();
    assert_eq!(bad.state, RowState::Invalid);
    let columns: Vec<&str> = bad.errors.iter().map(|e| e.column.as_str()).collect();
    assert_eq!(columns, ["Tags", "Domains"], "{:?}", bad.errors);
    assert!(
        bad.errors[0].message.contains("'<lot>'"),
        "{:?}",
        bad.errors
    );
    assert!(!env.creations().contains_key(&eui(4)));

    // What the platform now shows, through its listing (and `?tag=`).
    let lines = export_lines(&env, &[]);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines[1].ends_with(",45.5,-0.25,,,lot A;shipment 42,Site:France/Paris"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(",lot B;shipment 42,Site:France/Caen;Vertical:Water"),
        "{}",
        lines[2]
    );
    let lot_b = export_lines(&env, &["--tag", "lot B"]);
    assert_eq!(lot_b.len(), 2, "{lot_b:?}");
    assert!(lot_b[1].contains(&eui(2)), "{lot_b:?}");
}

#[test]
fn an_export_edited_and_imported_into_a_fresh_platform_gives_the_same_devices() {
    let env = Env::new(SimConfig::default());
    let mut csv = String::from(
        "DevEUI,JoinEUI,AppKey,Name,Model,Connection,Connectivity plan,Latitude,Longitude,Admin info,\
         Motion indicator,Tags,Domains\n",
    );
    for n in 1..=3 {
        csv.push_str(&format!(
            "{},70B3D5E75F600000,{},pump {n},{MODEL},{CONNECTION},,4{n}.25,-1.5,gate {n},RANDOM,lot {n};all,\
             Site:Plant {n}\n",
            eui(n),
            app_key(n)
        ));
    }
    let file = env.write("ship.csv", &csv);
    let run = env.import_file(&file, &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let cellular = env.write(
        "cell.csv",
        &CELLULAR_CSV
            .replace("Network context\n", "Network context,Tags\n")
            .replace(
                "My cellular network context\n",
                "My cellular network context,dongles\n",
            ),
    );
    let run = env.import_file(&cellular, &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let exported = export_lines(&env, &[]);
    assert_eq!(exported.len(), 7, "{exported:?}");
    // A batch's devices only (the cellular ones, by the EUIs the platform gave them), a connection's only.
    let of_batch = export_lines(&env, &["--batch", &run.batch()]);
    assert_eq!(of_batch[1..], exported[4..], "{of_batch:?}");
    let other = export_lines(&env, &["--connection", "Acme HTTPS backend"]);
    assert_eq!(other.len(), 1, "{other:?}");
    let mqtt = export_lines(&env, &["--connection", "my MQTT application"]);
    assert_eq!(mqtt, exported);
    assert!(
        exported[0]
            == "Kind,DevEUI,JoinEUI,IMEI,SIM,Name,Model,Connection,Connectivity plan,Latitude,Longitude,\
                Admin info,Motion indicator,Tags,Domains",
        "{}",
        exported[0]
    );
    // Keys never leave the platform, nor does the export show one.
    assert!(!exported.iter().any(|l| l.contains(&app_key(1))));
    assert!(exported[1..4].iter().all(|l| l.starts_with("otaa,")));
    assert!(exported[4..].iter().all(|l| l.starts_with("cellular,,,")));

    // The edit: keys for the LoRaWAN rows (a fresh platform creates them), and one name changed.
    let mut edited = format!("{},AppKey\n", exported[0]);
    for line in &exported[1..] {
        let key = (1..=3)
            .find(|&n| line.contains(&eui(n)))
            .map(app_key)
            .unwrap_or_default();
        edited.push_str(&format!("{},{key}\n", line.replace("pump 2", "pump two")));
    }
    let fresh = Env::new(SimConfig::default());
    let file = fresh.write("edited.csv", &edited);
    let run = fresh.run(&["import", file.to_str().unwrap(), "--rate", "0"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(run.stdout().contains("created 6,"), "{}", run.describe());
    let mut again = export_lines(&fresh, &[]);
    let mut expected: Vec<String> = exported
        .iter()
        .map(|l| l.replace("pump 2", "pump two"))
        .collect();
    // Cellular devices get new EUIs on a new platform (in the order they happened to be created, which is the
    // listing's order), and the export does not show them: every line is the same, in some order.
    again.sort();
    expected.sort();
    assert_eq!(again, expected);

    // XLSX: identifier columns are text, so the file reads back without spreadsheet damage.
    let xlsx = env.dir.path().join("devices.xlsx");
    let run = env.run(&["export", "-o", xlsx.to_str().unwrap(), "--quiet"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let check = env.run(&["validate", xlsx.to_str().unwrap(), "--format", "jsonl"]);
    let codes: Vec<String> = check
        .stdout()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .flat_map(|row| {
            row["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| format!("{}:{}", e["field"], e["code"]))
                .collect::<Vec<_>>()
        })
        .collect();
    // Only the keys an export never holds are missing; the cellular rows are valid as they are.
    assert_eq!(
        codes,
        vec!["\"app_key\":\"missing\""; 3],
        "{}",
        check.describe()
    );
}

#[test]
fn an_export_fed_back_with_on_existing_update_changes_only_the_edited_rows() {
    let env = Env::new(SimConfig::default());
    let run = env.import(&tagged_csv(), &[]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let exported = export_lines(&env, &[]);
    assert_eq!(exported.len(), 4, "{exported:?}");
    // Fed back as it is: every row is unchanged and nothing is written.
    let same = env.write("same.csv", &(exported.join("\n") + "\n"));
    let before = env.sim.stats().requests;
    let run = env.import_file(&same, &["--on-existing", "update"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let rows = env.rows(&run.batch());
    assert!(
        rows.iter().all(|r| r.state == RowState::Unchanged),
        "{rows:?}"
    );
    let sent = env.requests_since(&before);
    for route in ["PUT /devices/{id}", "POST /devices", "POST /devices/tags"] {
        assert_eq!(count(&sent, route), 0, "{route}");
    }
    // One name edited: that row alone is updated, the others stay unchanged.
    let edited = exported.join("\n").replace("pump 2", "pump two") + "\n";
    let edited = env.write("edited.csv", &edited);
    let run = env.import_file(&edited, &["--on-existing", "update"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let states: Vec<(u64, RowState)> = env
        .rows(&run.batch())
        .iter()
        .map(|r| (r.row, r.state))
        .collect();
    assert_eq!(
        states,
        [
            (2, RowState::Unchanged),
            (3, RowState::Done),
            (4, RowState::Unchanged)
        ]
    );
    assert_eq!(
        env.sim.stats().requests.get("PUT /devices/{id}").copied(),
        Some(1)
    );
    let now = export_lines(&env, &[]);
    assert_eq!(now[2], exported[2].replace("pump 2", "pump two"));
    // One tag and one domain edited: that device alone changes, its tags by an untag and a tag call, its domains
    // in its `PUT`.
    let edit = |l: &str| {
        l.replace("lot B", "lot Z")
            .replace("Vertical:Water", "Vertical:Gas")
    };
    let edited: Vec<String> = now.iter().map(|l| edit(l)).collect();
    let retagged = env.write("retagged.csv", &(edited.join("\n") + "\n"));
    let before = env.sim.stats().requests;
    let run = env.import_file(&retagged, &["--on-existing", "update"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let sent = env.requests_since(&before);
    assert_eq!(
        (
            count(&sent, "PUT /devices/{id}"),
            count(&sent, "POST /devices/tags")
        ),
        (1, 2)
    );
    let states: Vec<RowState> = env.rows(&run.batch()).iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [RowState::Unchanged, RowState::Done, RowState::Unchanged]
    );
    assert_eq!(export_lines(&env, &[]), edited);
}

/// The Tags column of `tagged_csv`'s three valid rows, with names, as an update file gives them.
fn update_tags_csv(rows: [(&str, &str); 3]) -> String {
    let mut csv = String::from("DevEUI,Name,Tags\n");
    for (n, (name, tags)) in (1..).zip(rows) {
        csv.push_str(&format!("{},{name},{tags}\n", eui(n)));
    }
    csv
}

#[test]
fn an_update_changes_tags_by_calls_grouped_by_tag_and_rollback_puts_them_back() {
    let env = Env::new(SimConfig::default());
    let run = env.import(&tagged_csv(), &[]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let shipped = export_lines(&env, &[]);
    // Device 1 trades `lot A` for `lot C` (tags only), device 2 is the same (another order), device 3 is renamed
    // and gains `lot C`: one tag call for `lot C` on both, one untag call, one `PUT`.
    let upd = env.write(
        "upd.csv",
        &update_tags_csv([
            ("pump 1", "lot C;shipment 42"),
            ("pump 2", "shipment 42|lot B"),
            ("pump three", "shipment 42;lot C"),
        ]),
    );
    let plan = env.run(&["plan", upd.to_str().unwrap(), "--on-existing", "update"]);
    assert_eq!(plan.code(), 0, "{}", plan.describe());
    assert!(
        plan.stdout()
            .contains("tags 'lot A;shipment 42' → 'lot C;shipment 42'")
            && plan.stdout().contains("1 updates and 2 tag calls"),
        "{}",
        plan.describe()
    );
    let before = env.sim.stats().requests;
    let run = env.import_file(&upd, &["--on-existing", "update"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let batch = run.batch();
    let states: Vec<RowState> = env.rows(&batch).iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [RowState::Done, RowState::Unchanged, RowState::Done]
    );
    let sent = env.requests_since(&before);
    assert_eq!(
        (
            count(&sent, "PUT /devices/{id}"),
            count(&sent, "POST /devices/tags")
        ),
        (1, 2)
    );
    let now = export_lines(&env, &[]);
    assert!(
        now[1].contains(",lot C;shipment 42,")
            && now[3].contains("pump three")
            && now[3].contains(",lot C;shipment 42,"),
        "{now:?}"
    );
    assert_eq!(now[2], shipped[2]);
    // Rollback: device 1 gets `lot A` back and loses `lot C`, device 3 its name and `lot C` (one untag call for
    // both), device 2 is not touched.
    let before = env.sim.stats().requests;
    let run = env.run(&["rollback", &batch, "--yes", "--rate", "0"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let sent = env.requests_since(&before);
    assert_eq!(
        (
            count(&sent, "PUT /devices/{id}"),
            count(&sent, "POST /devices/tags")
        ),
        (1, 2)
    );
    assert_eq!(export_lines(&env, &[]), shipped);
}

/// `plan --save`, then changes behind tpbulk's back, then `import --plan`: what the operator reviewed is what is
/// written, and a device changed since is `conflict` with the plan's, the file's and the platform's values.
#[test]
fn an_import_from_a_saved_plan_leaves_the_devices_changed_since_as_conflicts() {
    let env = Env::new(SimConfig::default());
    seed_devices(&env, 1, 4);
    // Devices 1 and 2 renamed; 3 and 4 already as the file says; 5 not on the platform when the plan is made.
    let file = env.write(
        "update.csv",
        &update_csv(1, 5, |n| {
            let name = match n {
                1 | 2 | 5 => format!("renamed {n}"),
                _ => format!("device {n}"),
            };
            (name, CONNECTION)
        }),
    );
    let file = file.to_str().unwrap();
    let plan = env.run(&[
        "plan",
        file,
        "--on-existing",
        "update",
        "--save",
        "update.plan",
    ]);
    assert_eq!(
        plan.code(),
        1,
        "row 6 cannot be created: {}",
        plan.describe()
    );
    let saved = std::fs::read_to_string(env.dir.path().join("update.plan")).unwrap();
    assert_eq!(saved.lines().count(), 1 + 4, "{saved}");
    // Someone renames device 2 (to be updated) and 3 (unchanged), and creates device 5.
    env.sim
        .change_device(&eui(2), serde_json::json!({"name": "theirs 2"}))
        .unwrap();
    env.sim
        .change_device(&eui(3), serde_json::json!({"name": "theirs 3"}))
        .unwrap();
    seed_devices(&env, 5, 1);
    let args = [
        "import",
        file,
        "--on-existing",
        "update",
        "--plan",
        "update.plan",
    ];
    let run = env.run(&args);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let counts = env.counts(&run.batch());
    assert_eq!(
        (counts.updated, counts.unchanged, counts.conflict),
        (1, 1, 3),
        "{}",
        run.describe()
    );
    assert_eq!(sim_field(&env, 1, "name"), "renamed 1");
    for (n, theirs) in [(2, "theirs 2"), (3, "theirs 3"), (5, "device 5")] {
        assert_eq!(sim_field(&env, n, "name"), theirs, "never overwritten");
    }
    // Device 2's PUT carried the plan's version and was refused; device 3 and 5 were refused before any write.
    assert_eq!(env.sim.stats().requests.get("PUT /devices/{id}"), Some(&2));
    let rows = env.rows(&run.batch());
    let message = |row: u64| {
        let r = rows.iter().find(|r| r.row == row).unwrap();
        assert_eq!(r.state, RowState::Conflict, "row {row}");
        r.message.clone().unwrap_or_default()
    };
    assert!(
        message(3).contains("name: read 'device 2', file 'renamed 2', platform now 'theirs 2'"),
        "{}",
        message(3)
    );
    assert!(
        message(4).contains("name: read 'device 3', file 'device 3', platform now 'theirs 3'"),
        "{}",
        message(4)
    );
    assert!(message(6).contains("created since"), "{}", message(6));
    let report = env.run(&["report", "-o", "-"]);
    assert!(
        report.stdout().contains("platform now 'theirs 2'"),
        "{}",
        report.describe()
    );

    // --force overwrites, from the devices as they are now.
    let forced = env.run(&[&args[..], &["--force", "--again"]].concat());
    assert_eq!(forced.code(), 0, "{}", forced.describe());
    for n in [2, 3, 5] {
        let want = if n == 3 {
            "device 3".into()
        } else {
            format!("renamed {n}")
        };
        assert_eq!(sim_field(&env, n, "name"), want);
    }
    // What it keeps for rollback is what it overwrote, not what the plan read.
    let rollback = env.run(&["rollback", &forced.batch(), "--yes"]);
    assert_eq!(rollback.code(), 0, "{}", rollback.describe());
    assert_eq!(sim_field(&env, 2, "name"), "theirs 2");
    assert_eq!(sim_field(&env, 3, "name"), "theirs 3");
}

#[test]
fn a_plan_of_another_file_is_refused_before_anything_is_sent() {
    let env = Env::new(SimConfig::default());
    seed_devices(&env, 1, 2);
    let planned = env.write(
        "a.csv",
        &update_csv(1, 2, |n| (format!("a {n}"), CONNECTION)),
    );
    let other = env.write(
        "b.csv",
        &update_csv(1, 2, |n| (format!("b {n}"), CONNECTION)),
    );
    let plan = env.run(&[
        "plan",
        planned.to_str().unwrap(),
        "--on-existing",
        "update",
        "--save",
        "a.plan",
    ]);
    assert_eq!(plan.code(), 0, "{}", plan.describe());
    let run = env.run(&[
        "import",
        other.to_str().unwrap(),
        "--on-existing",
        "update",
        "--plan",
        "a.plan",
    ]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    let stderr = run.stderr();
    assert!(
        stderr.contains("--plan a.plan: the plan was made for")
            && stderr.contains("a.csv")
            && stderr.contains("b.csv"),
        "{stderr}"
    );
    let with_clear = env.run(&[
        "import",
        planned.to_str().unwrap(),
        "--on-existing",
        "update",
        "--clear-empty",
        "--plan",
        "a.plan",
    ]);
    assert_eq!(with_clear.code(), 2, "{}", with_clear.describe());
    assert!(
        with_clear.stderr().contains("--clear-empty"),
        "{}",
        with_clear.describe()
    );
    assert_eq!(env.sim.stats().requests.get("PUT /devices/{id}"), None);
    assert_eq!(sim_field(&env, 1, "name"), "device 1");
}

/// The plan's versions are journalled with the rows before anything is sent: a batch killed before its writes and
/// resumed still refuses to write over a device changed since the plan.
#[test]
fn a_resumed_import_from_a_plan_keeps_the_plan_s_versions() {
    let env = Env::new(SimConfig {
        latency: std::time::Duration::from_millis(200),
        ..SimConfig::default()
    });
    seed_devices(&env, 1, 2);
    let file = env.write(
        "update.csv",
        &update_csv(1, 2, |n| (format!("renamed {n}"), CONNECTION)),
    );
    let file = file.to_str().unwrap();
    let plan = env.run(&["plan", file, "--on-existing", "update", "--save", "p.plan"]);
    assert_eq!(plan.code(), 0, "{}", plan.describe());
    env.sim
        .change_device(&eui(2), serde_json::json!({"name": "theirs"}))
        .unwrap();
    let mut child = env.spawn(&[
        "import",
        file,
        "--on-existing",
        "update",
        "--plan",
        "p.plan",
        "--concurrency",
        "1",
    ]);
    let batch = env.wait_prepared();
    child.kill().unwrap();
    child.wait().unwrap();
    let run = env.run(&["resume", &batch]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let counts = env.counts(&batch);
    assert_eq!(
        (counts.updated, counts.conflict),
        (1, 1),
        "{}",
        run.describe()
    );
    assert_eq!(sim_field(&env, 1, "name"), "renamed 1");
    assert_eq!(sim_field(&env, 2, "name"), "theirs", "never overwritten");
}

#[test]
fn an_update_row_with_a_bad_reference_reports_that_error_alone() {
    let env = Env::new(SimConfig::default());
    seed_devices(&env, 1, 2);
    // Row 2 updates device 1 with a good connection; row 3 names device 2 with a connection nobody has; row 4, a
    // device not on the platform, the same. None of the rows but the first will create, so neither is told a creation's
    // requirements (kind, keys, model), only the reference that does not resolve.
    let csv = update_csv(1, 3, |n| match n {
        1 => ("renamed 1".into(), CONNECTION),
        _ => (format!("renamed {n}"), "no such connection"),
    });
    // Row 5: a DevEUI one digit short is that row's one error.
    let csv = csv + "70B3D5E75600000,renamed 5,\n";
    let file = env.write("update.csv", &csv);
    let codes = |rows: Vec<tpbulk::journal::RowRecord>, row: u64| {
        let row = rows.into_iter().find(|r| r.row == row).unwrap();
        assert_eq!(row.state, RowState::Invalid);
        row.errors.iter().map(|e| e.code).collect::<Vec<_>>()
    };
    let run = env.run(&[
        "import",
        file.to_str().unwrap(),
        "--on-existing",
        "update",
        "--rate",
        "0",
    ]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let batch = run.batch();
    let counts = env.counts(&batch);
    assert_eq!(
        (counts.updated, counts.invalid),
        (1, 3),
        "{}",
        run.describe()
    );
    for row in [3, 4] {
        assert_eq!(
            codes(env.rows(&batch), row),
            [tpbulk::device::ErrorCode::Reference],
            "row {row}"
        );
    }
    assert_eq!(
        codes(env.rows(&batch), 5),
        [tpbulk::device::ErrorCode::Length]
    );
    let plan = env.run(&["plan", file.to_str().unwrap(), "--on-existing", "update"]);
    assert!(
        !plan.stdout().contains("kind cannot be told"),
        "{}",
        plan.describe()
    );
    assert!(!plan.stderr().contains("missing"), "{}", plan.describe());
}
