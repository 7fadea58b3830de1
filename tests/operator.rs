//! What a new operator trips over, end to end through the binary against the simulator: rework files that must not
//! launder damage, batches that remember their file, second imports, pipes, error messages, missing columns and
//! the mapping, connectivity plan quotas, resume options and a new `--url`.

use crate::engine_support;

use engine_support::*;
use std::process::Stdio;
use tpbulk::journal::{Journal, RowState};
use tpbulk::sim::SimConfig;

fn import(env: &Env, file: &std::path::Path) -> Run {
    env.import_file(file, &[])
}

/// `validate`'s first line: rows, valid, invalid.
fn validated(env: &Env, file: &std::path::Path) -> (u64, u64, u64) {
    let run = env.run(&["validate", file.to_str().unwrap()]);
    let line = run.stdout().lines().next().unwrap_or_default().to_string();
    let numbers: Vec<u64> = line
        .rsplit(": ")
        .next()
        .unwrap()
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

// 1. The rework file never turns damage into a plausible identifier.

#[test]
fn an_untouched_rework_file_of_a_damaged_workbook_or_csv_is_invalid_again() {
    let env = Env::new(SimConfig::default());
    let path = env.dir.path().join("ship.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, header) in ["DevEUI", "AppKey", "Model", "Connection"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    // Excel's numbers for 7003000000001230 (shown 7.00300000000123E+15) and 1111111111111111 (16 digits that
    // still fit a double exactly): neither may come back as hex-looking text.
    let numbers = [7.00300000000123e15, 1111111111111111.0];
    for (i, number) in numbers.iter().enumerate() {
        let row = 1 + i as u32;
        sheet.write_number(row, 0, *number).unwrap();
        sheet.write_string(row, 1, app_key(row as u64)).unwrap();
        sheet.write_string(row, 2, MODEL).unwrap();
        sheet.write_string(row, 3, CONNECTION).unwrap();
    }
    sheet.write_string(3, 0, eui(3)).unwrap();
    sheet.write_string(3, 1, app_key(3)).unwrap();
    sheet.write_string(3, 2, MODEL).unwrap();
    sheet.write_string(3, 3, CONNECTION).unwrap();
    workbook.save(&path).unwrap();

    let run = import(&env, &path);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let counts = env.counts(&run.batch());
    assert_eq!((counts.created, counts.invalid), (1, 2));
    let fix = env.dir.path().join("fix.xlsx");
    let run = env.run(&["rework", "-o", fix.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(validated(&env, &fix), (2, 0, 2));

    // A CSV keeps the text Excel wrote, which is caught again as it was.
    let mut csv = otaa_csv(11, 2);
    csv.push_str(&format!(
        "7.00300000000123E+15,{},{MODEL},{CONNECTION}\n",
        app_key(13)
    ));
    let file = env.write("ship.csv", &csv);
    let run = import(&env, &file);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let fix = env.dir.path().join("fix.csv");
    let run = env.run(&["rework", "-o", fix.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(validated(&env, &fix), (1, 0, 1));
}

// 2. Batches remember where their file is.

#[test]
fn rework_finds_the_file_from_any_directory_and_accepts_it_moved_once_its_sha256_matches() {
    let env = Env::new(SimConfig::default());
    let mut csv = otaa_csv(1, 2);
    csv.push_str(&format!("NOT-AN-EUI,{},{MODEL},{CONNECTION}\n", app_key(3)));
    env.write("ship.csv", &csv);
    // A relative path, from the folder the file is in.
    let run = env.run(&["import", "ship.csv", "--rate", "0"]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let batch = env.journal().batch(&run.batch()).unwrap().unwrap();
    let canonical = std::fs::canonicalize(env.dir.path().join("ship.csv")).unwrap();
    assert_eq!(batch.input_path, canonical.display().to_string());

    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let rework = |args: &[&str]| {
        let mut cmd = env.command(&["rework", "-o", "fix.csv"]);
        cmd.args(args).current_dir(&elsewhere);
        Run(cmd.output().unwrap())
    };
    let run = rework(&[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(elsewhere.join("fix.csv").is_file());

    std::fs::rename(env.dir.path().join("ship.csv"), elsewhere.join("moved.csv")).unwrap();
    let run = rework(&[]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains(&batch.input_path), "{}", run.stderr());
    assert!(run.stderr().contains("--input"), "{}", run.stderr());
    let run = rework(&["--input", "moved.csv"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    std::fs::write(elsewhere.join("other.csv"), otaa_csv(1, 3)).unwrap();
    let run = rework(&["--input", "other.csv"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr().contains("not the file batch"),
        "{}",
        run.stderr()
    );
}

#[test]
fn rework_of_a_headerless_batch_reads_the_file_with_the_columns_it_was_imported_with() {
    let env = Env::new(SimConfig::default());
    // No header row: read with --columns, the third column skipped.
    let csv = format!(
        "{},{},ignored,sensor-1\nNOT-AN-EUI,{},ignored,sensor-2\n",
        eui(1),
        app_key(1),
        app_key(2)
    );
    let file = env.write("headerless.csv", &csv);
    let run = env.run(&[
        "import",
        file.to_str().unwrap(),
        "--rate",
        "0",
        "--columns",
        "dev_eui,app_key,,name",
        "--set",
        &format!("model={MODEL}"),
        "--set",
        &format!("connection={CONNECTION}"),
    ]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let counts = env.counts(&run.batch());
    assert_eq!((counts.created, counts.invalid), (1, 1));
    let fix = env.dir.path().join("fix.csv");
    let run = env.run(&["rework", "-o", fix.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let text = std::fs::read_to_string(&fix).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("dev_eui,app_key,,name,"), "{text}");
    assert!(lines[1].starts_with("NOT-AN-EUI,"), "{text}");
    assert!(lines[1].contains("sensor-2"), "{text}");
}

#[test]
fn plan_and_import_say_the_file_notes_once_on_stderr() {
    let env = Env::new(SimConfig::default());
    // ChirpStack v4: a 1.0.x root key in nwk_key, no app_key (issue 16, item 4), on every row.
    let mut csv = String::from("dev_eui,nwk_key,app_key,device_profile,connection\n");
    for n in 1..=3 {
        csv.push_str(&format!(
            "{},{},,{MODEL},{CONNECTION}\n",
            eui(n),
            app_key(n)
        ));
    }
    let file = env.write("chirpstack.csv", &csv);
    let note = "3 OTAA rows have a nwk_key and no app_key";
    for args in [
        vec!["plan", file.to_str().unwrap(), "--format", "jsonl"],
        vec!["import", file.to_str().unwrap(), "--rate", "0"],
    ] {
        let run = env.run(&args);
        assert_eq!(run.code(), 0, "{}", run.describe());
        assert_eq!(run.stderr().matches(note).count(), 1, "{}", run.describe());
        assert!(
            run.stderr().contains("tpbulk: warning: "),
            "{}",
            run.stderr()
        );
        assert!(!run.stdout().contains(note), "{}", run.stdout());
    }
}

// 3. No accidental second import.

#[test]
fn a_second_import_of_the_same_file_is_refused_unless_again() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 3));
    let first = import(&env, &file);
    assert_eq!(first.code(), 0, "{}", first.describe());
    let batch = first.batch();
    let second = import(&env, &file);
    assert_eq!(second.code(), 2, "{}", second.describe());
    assert!(second.stderr().contains(&batch), "{}", second.stderr());
    assert!(second.stderr().contains("(done"), "{}", second.stderr());
    assert!(second.stderr().contains("--again"), "{}", second.stderr());
    assert_eq!(env.journal().batches().unwrap().len(), 1);
    let again = env.import_file(&file, &["--again"]);
    assert_eq!(again.code(), 0, "{}", again.describe());
    assert_ne!(again.batch(), batch);
    assert_eq!(env.counts(&again.batch()).exists, 3);
}

#[test]
fn an_unfinished_earlier_import_points_at_resume() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 3));
    let first = import(&env, &file);
    let batch = first.batch();
    let mut journal = env.journal();
    journal
        .set_batch_state(&batch, tpbulk::journal::BatchState::Interrupted)
        .unwrap();
    let second = import(&env, &file);
    assert_eq!(second.code(), 2, "{}", second.describe());
    assert!(
        second.stderr().contains(&format!("tpbulk resume {batch}")),
        "{}",
        second.stderr()
    );
}

#[test]
fn an_import_beside_a_running_batch_is_refused() {
    let env = Env::new(SimConfig {
        latency: std::time::Duration::from_millis(100),
        ..SimConfig::default()
    });
    let slow = env.write("slow.csv", &otaa_csv(1, 200));
    let mut child = env.spawn(&[
        "import",
        slow.to_str().unwrap(),
        "--rate",
        "0",
        "--concurrency",
        "1",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let running = Journal::open_existing(&env.journal_path())
            .ok()
            .and_then(|j| j.latest_batch(false).ok().flatten())
            .is_some_and(|b| b.runner_pid == Some(child.id()));
        if running {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the import never ran");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let other = env.write("other.csv", &otaa_csv(500, 2));
    let run = import(&env, &other);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr()
            .contains(&format!("is running in process {}", child.id())),
        "{}",
        run.stderr()
    );
    assert!(!env.creations().contains_key(&eui(500)));
}

// 5. Pipes.

fn created_batch(env: &Env, count: u64) -> String {
    let mut csv = otaa_csv(1, count);
    csv.push_str(&format!(
        "NOT-AN-EUI,{},{MODEL},{CONNECTION}\n",
        app_key(99)
    ));
    let file = env.write("ship.csv", &csv);
    import(env, &file).batch()
}

/// Runs the binary with its stdout a pipe whose reader is gone before anything is written; returns the exit code
/// and stderr.
fn with_closed_stdout(env: &Env, args: &[&str]) -> (Option<i32>, String) {
    let mut child = env
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let stderr = read_stderr(&mut child);
    (child.wait().unwrap().code(), stderr)
}

#[test]
fn a_closed_stdout_ends_quietly_and_never_cuts_the_work_short() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 3));
    let (code, stderr) =
        with_closed_stdout(&env, &["import", file.to_str().unwrap(), "--rate", "0"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        env.sim.stats().devices,
        3,
        "the import stopped with its reader"
    );
    let batch = env.journal().latest_batch(false).unwrap().unwrap().id;
    for args in [
        vec!["status", batch.as_str()],
        vec!["report", batch.as_str(), "-o", "-"],
        vec!["rollback", batch.as_str(), "--yes"],
    ] {
        let (code, stderr) = with_closed_stdout(&env, &args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert_eq!(
        env.sim.stats().devices,
        0,
        "the rollback stopped with its reader"
    );
    // `println!` (the id `connection add` prints once the connection exists) ends quietly too.
    let key_file = env.write("as.key", "C72C6F867B150B1210ACDA5F3CDFB449\n");
    let (code, stderr) = with_closed_stdout(
        &env,
        &[
            "connection",
            "add",
            "https",
            "--name",
            "Plant HTTPS",
            "--url",
            "https://plant.example.com/uplink",
            "--as-key-file",
            key_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn dash_is_standard_output_for_report_rework_template_and_health() {
    let env = Env::new(SimConfig::default());
    let batch = created_batch(&env, 2);
    let report = env.run(&["report", &batch, "-o", "-"]);
    assert_eq!(report.code(), 0, "{}", report.describe());
    assert!(report.stdout().starts_with("row,kind,id,name,status"));
    assert_eq!(report.stdout().lines().count(), 4);
    assert!(!env.dir.path().join("-").exists());

    let rework = env.run(&["rework", &batch, "-o", "-"]);
    assert_eq!(rework.code(), 0, "{}", rework.describe());
    let lines: Vec<String> = rework.stdout().lines().map(str::to_string).collect();
    assert_eq!(lines[0], "DevEUI,AppKey,Model,Connection,error");
    assert!(lines[1].starts_with("NOT-AN-EUI,"), "{lines:?}");
    assert_eq!(lines.len(), 2);

    let template = env.run(&["template", "otaa", "-o", "-"]);
    assert_eq!(template.code(), 0, "{}", template.describe());
    assert!(
        template.stdout().contains("DevEUI"),
        "{}",
        template.stdout()
    );

    let health = env.run(&["health", &batch, "--format", "csv", "-o", "-"]);
    assert_eq!(health.code(), 0, "{}", health.describe());
    assert_eq!(health.stdout().lines().count(), 3, "{}", health.stdout());
    assert!(!env.dir.path().join("-").exists());
}

// 6. Errors that say what is wrong.

#[test]
fn a_url_with_a_path_gets_the_token_endpoint_not_found_and_the_base_url() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 1));
    let url = format!("{}/thingpark/wireless/rest", env.sim.url());
    let run = env.run(&["plan", file.to_str().unwrap(), "--url", &url]);
    assert_eq!(run.code(), 3, "{}", run.describe());
    let stderr = run.stderr();
    assert!(
        stderr.contains("the token endpoint was not found"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("try --url {}", env.sim.url())),
        "{stderr}"
    );
    assert!(!stderr.contains("refused the credentials"), "{stderr}");
}

#[test]
fn https_against_a_plain_http_port_says_so() {
    let env = Env::new(SimConfig::default());
    let url = env.sim.url().replace("http://", "https://");
    let run = env.run(&["catalog", "plans", "--url", &url]);
    assert_eq!(run.code(), 3, "{}", run.describe());
    assert!(
        run.stderr().contains("answers plain HTTP, not HTTPS"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_missing_file_says_its_os_error_once() {
    let env = Env::new(SimConfig::default());
    for command in ["validate", "import", "plan"] {
        let run = env.run(&[command, "no-such.csv"]);
        assert_eq!(run.code(), 2, "{}", run.describe());
        let stderr = run.stderr();
        assert_eq!(
            stderr.matches("os error 2").count(),
            1,
            "{command}: {stderr}"
        );
        assert!(stderr.contains("no-such.csv"), "{stderr}");
    }
}

#[test]
fn a_pdf_is_not_a_csv_or_spreadsheet_whatever_its_name() {
    let env = Env::new(SimConfig::default());
    let pdf = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n%%EOF\n";
    for name in ["shipment.csv", "shipment.xlsx", "shipment.pdf"] {
        let file = env.write(name, pdf);
        let run = env.run(&["validate", file.to_str().unwrap()]);
        assert_eq!(run.code(), 2, "{}", run.describe());
        assert!(
            run.stderr().contains("not a CSV or spreadsheet"),
            "{name}: {}",
            run.stderr()
        );
        assert!(run.stderr().contains("PDF"), "{}", run.stderr());
    }
}

#[test]
fn connection_add_refuses_a_name_that_is_taken() {
    let env = Env::new(SimConfig::default());
    let key_file = env.write("as.key", "C72C6F867B150B1210ACDA5F3CDFB449\n");
    let add = |name: &str| {
        env.run(&[
            "connection",
            "add",
            "https",
            "--name",
            name,
            "--url",
            "https://plant.example.com/uplink",
            "--as-key-file",
            key_file.to_str().unwrap(),
        ])
    };
    let first = add("Plant HTTPS");
    assert_eq!(first.code(), 0, "{}", first.describe());
    let second = add("plant https");
    assert_eq!(second.code(), 2, "{}", second.describe());
    assert!(
        second.stderr().contains("already exists"),
        "{}",
        second.stderr()
    );
    // The catalogue's own connection too.
    let third = add("my MQTT application");
    assert_eq!(third.code(), 2, "{}", third.describe());
    let list = env.run(&["connection", "list"]);
    assert_eq!(list.stdout().matches("Plant HTTPS").count(), 1);
}

// 7. Missing columns and the mapping, visible.

#[test]
fn a_missing_column_is_one_file_level_error_with_the_set_that_fills_it() {
    let env = Env::new(SimConfig::default());
    let mut csv = String::from("DevEUI,AppKey,Connection,Serial number\n");
    for n in 1..=30 {
        csv.push_str(&format!("{},{},{CONNECTION},SN{n}\n", eui(n), app_key(n)));
    }
    csv.push_str(&format!("NOT-AN-EUI,{},{CONNECTION},SN31\n", app_key(31)));
    let file = env.write("ship.csv", &csv);
    let run = env.run(&["validate", file.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let out = run.stdout();
    assert!(out.contains("columns used: \"DevEUI\" → dev_eui"), "{out}");
    // With no name column, the serial number names the devices (issue 16), and the mapping line says so.
    assert!(out.contains("\"Serial number\" → name"), "{out}");
    assert_eq!(out.matches("--set model=VALUE").count(), 1, "{out}");
    assert!(
        out.contains("model: no column gives it and 31 row(s) need it"),
        "{out}"
    );
    let missing_at = out.find("missing columns:").unwrap();
    let first_errors = &out[out.find("first errors:").unwrap()..];
    assert!(missing_at < out.find("first errors:").unwrap());
    // The rows' own errors are what the list shows.
    assert!(first_errors.contains("row 32, column \"DevEUI\""), "{out}");
    assert!(!first_errors.contains("model"), "{out}");

    let plan = env.run(&["plan", file.to_str().unwrap()]);
    assert_eq!(plan.code(), 1, "{}", plan.describe());
    let out = plan.stdout();
    assert_eq!(out.matches("--set model=VALUE").count(), 1, "{out}");
    // With no name column, the serial number names the devices (issue 16), and the mapping line says so.
    assert!(out.contains("\"Serial number\" → name"), "{out}");
}

#[test]
fn a_mapping_entry_for_an_absent_header_is_an_error() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 2));
    let mapping = env.write("map.toml", "\"Serial No\" = \"name\"\n");
    let run = env.run(&[
        "validate",
        file.to_str().unwrap(),
        "--mapping",
        mapping.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("\"Serial No\""), "{}", run.stderr());
    assert!(run.stderr().contains("DevEUI, AppKey"), "{}", run.stderr());
}

#[test]
fn invalid_rows_keep_their_name_in_the_report() {
    let env = Env::new(SimConfig::default());
    let csv = format!(
        "DevEUI,AppKey,Name,Model,Connection\n{},{},good one,{MODEL},{CONNECTION}\nNOT-AN-EUI,{},bad one,{MODEL},{CONNECTION}\n",
        eui(1),
        app_key(1),
        app_key(2)
    );
    let file = env.write("ship.csv", &csv);
    let batch = import(&env, &file).batch();
    let rows = env.rows(&batch);
    assert_eq!(rows[1].state, RowState::Invalid);
    assert_eq!(rows[1].name.as_deref(), Some("bad one"));
    let report = env.run(&["report", &batch, "-o", "-"]);
    assert!(
        report.stdout().contains(",bad one,invalid,"),
        "{}",
        report.stdout()
    );
}

// 9. Connectivity plan quota.

/// The tutorial catalogue with the cellular plan at 23 of 25 used: two slots left.
fn two_cellular_slots() -> SimConfig {
    let mut catalog: serde_json::Value =
        serde_json::from_str(tpbulk::sim::catalog::DEFAULT_CATALOG).unwrap();
    for plan in catalog["networkSubscriptions"].as_array_mut().unwrap() {
        if plan["commercialName"] == "Cellular CP" {
            plan["granted"] = 25.into();
        }
    }
    SimConfig {
        catalog: Some(catalog),
        ..SimConfig::default()
    }
}

fn cellular_used(env: &Env) -> i64 {
    let run = env.run(&["catalog", "plans", "--format", "json"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let value: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    value["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Cellular CP")
        .unwrap()["used"]
        .as_i64()
        .unwrap()
}

#[test]
fn plan_warns_import_refuses_and_the_simulator_enforces_the_quota() {
    let env = Env::new(two_cellular_slots());
    let file = env.write("cellular.csv", CELLULAR_CSV);
    let plan = env.run(&["plan", file.to_str().unwrap()]);
    assert_eq!(plan.code(), 0, "{}", plan.describe());
    assert!(
        plan.stderr().contains(
            "3 rows would take the connectivity plan \"Cellular CP\" (acme-cs/cellular-cp), which has 2 left"
        ),
        "{}",
        plan.stderr()
    );

    let refused = import(&env, &file);
    assert_eq!(refused.code(), 2, "{}", refused.describe());
    assert!(
        refused.stderr().contains("--allow-over-quota"),
        "{}",
        refused.stderr()
    );
    assert_eq!(env.sim.stats().devices, 0);
    assert_eq!(cellular_used(&env), 23);

    let run = env.import_file(&file, &["--allow-over-quota"]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let counts = env.counts(&run.batch());
    assert_eq!(
        (counts.created, counts.failed),
        (2, 1),
        "{}",
        run.describe()
    );
    let failed = env
        .rows(&run.batch())
        .into_iter()
        .find(|r| r.state == RowState::Failed)
        .unwrap();
    assert!(failed.message.unwrap().contains("quota"));
    assert_eq!(cellular_used(&env), 25);

    let rollback = env.run(&["rollback", &run.batch(), "--yes"]);
    assert_eq!(rollback.code(), 0, "{}", rollback.describe());
    assert_eq!(cellular_used(&env), 23);
}

// 10. Small things.

#[test]
fn resume_checks_its_options_before_printing_the_batch_line() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 1));
    import(&env, &file);
    let run = env.run(&["resume", "--concurrency", "0"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(!run.stdout().contains("batch "), "{}", run.describe());
    assert!(run.stderr().contains("--concurrency 0"), "{}", run.stderr());
}

// 11. `resume --url NEW`.

#[test]
fn resume_with_a_new_url_asks_that_platform_for_its_token() {
    let env = Env::new(SimConfig::default());
    // Journalled against an address that is gone, with the token endpoint it implied (as older journals kept it).
    let old = "http://127.0.0.1:9";
    let options = serde_json::json!({
        "rate": null, "concurrency": 1, "prepared": true, "client_id": "tpbulk-sim",
        "url": old, "token_url": format!("{old}/users-auth/protocol/openid-connect/token"),
    });
    let batch = pending_batch(&env, options, &[(1, MODEL)]);
    let run = env.run(&["resume", &batch, "--url", &env.sim.url()]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(env.creations().get(&eui(1)), Some(&1));
}

#[test]
fn a_new_batch_records_no_token_endpoint_unless_one_was_given() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 1));
    let batch = import(&env, &file).batch();
    let info = env.journal().batch(&batch).unwrap().unwrap();
    assert_eq!(info.options["token_url"], serde_json::Value::Null);
}
