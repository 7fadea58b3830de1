//! `tpbulk resume`: a batch killed at random points (SIGKILL) or interrupted (SIGINT) ends, after resuming, with every
//! row final and every device created exactly once.

use crate::engine_support;

use engine_support::*;
use rand::Rng;
use std::time::{Duration, Instant};
use tpbulk::journal::RowState;
use tpbulk::sim::SimConfig;

/// Waits (30 s at most) until the batch (`batch`, else the latest), once prepared, has counts that `reached` accepts
/// (so a kill lands while devices are being sent), or the child exits; returns the batch id.
fn wait_for(
    env: &Env,
    child: &mut std::process::Child,
    batch: Option<&str>,
    reached: impl Fn(&tpbulk::journal::Counts) -> bool,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return batch.map(str::to_string);
        }
        // The child may still be creating the journal: a failed open is retried.
        if let Ok(journal) = tpbulk::journal::Journal::open_existing(&env.journal_path()) {
            let latest = match batch {
                Some(b) => journal.batch(b).ok().flatten(),
                None => journal.latest_batch(false).ok().flatten(),
            };
            if let Some(info) = latest
                && info.options["prepared"] != serde_json::Value::Bool(false)
                && let Ok(counts) = journal.counts(&info.id)
                && reached(&counts)
            {
                return Some(info.id);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the batch made no progress");
}

fn kill(child: &mut std::process::Child, signal: i32) {
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

#[test]
fn killed_at_random_points_and_resumed_every_device_is_created_once() {
    let env = Env::new(SimConfig {
        latency: Duration::from_millis(2),
        ..SimConfig::default()
    });
    // Lost answers on top, so that some kills land on rows whose outcome is already unknown.
    env.sim.set_faults(0.0, 0.1);
    let total = 400;
    let file = env.write("ship.csv", &otaa_csv(1000, total));
    let mut rng = rand::rng();
    let mut child = env.spawn(&[
        "import",
        file.to_str().unwrap(),
        "--rate",
        "400",
        "--concurrency",
        "8",
        "--quiet",
    ]);
    let batch = wait_for(&env, &mut child, None, |c| c.created > 0).expect("batch id");
    std::thread::sleep(Duration::from_millis(rng.random_range(0..150)));
    kill(&mut child, libc::SIGKILL);
    child.wait().unwrap();
    assert!(
        env.counts(&batch).pending > 0,
        "the kill came after the batch ended: nothing was tested"
    );
    for _ in 0..3 {
        let mut child = env.spawn(&["resume", &batch, "--quiet"]);
        wait_for(&env, &mut child, Some(&batch), |c| c.created > 0);
        std::thread::sleep(Duration::from_millis(rng.random_range(0..150)));
        kill(&mut child, libc::SIGKILL);
        child.wait().unwrap();
    }
    let run = env.run(&["resume", &batch]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let counts = env.counts(&batch);
    assert_eq!(
        (counts.created, counts.pending, counts.failed),
        (total, 0, 0)
    );
    let rows = env.rows(&batch);
    assert!(
        rows.iter()
            .all(|r| r.state == RowState::Done && r.device_href.is_some())
    );
    let creations = env.creations();
    assert_eq!(creations.len() as u64, total);
    assert!(creations.values().all(|&n| n == 1), "{creations:?}");
    assert_eq!(
        env.journal().batch(&batch).unwrap().unwrap().state,
        tpbulk::journal::BatchState::Done
    );
}

#[test]
fn ctrl_c_exits_130_and_resume_finishes_the_batch() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(5000, 120));
    let mut child = env.spawn(&["import", file.to_str().unwrap(), "--rate", "40"]);
    let batch = wait_for(&env, &mut child, None, |c| c.created > 0).expect("batch id");
    // A second run of the same batch beside the live one would send its rows twice: refused.
    let beside = env.run(&["resume", &batch, "--rate", "0"]);
    assert_eq!(beside.code(), 2, "{}", beside.describe());
    assert!(
        beside
            .stderr()
            .contains(&format!("is running in process {}", child.id())),
        "{}",
        beside.describe()
    );
    kill(&mut child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let run = Run(out);
    assert_eq!(run.code(), 130, "{}", run.describe());
    assert!(run.stderr().contains(&format!("tpbulk resume {batch}")));
    let counts = env.counts(&batch);
    assert!(
        counts.pending > 0,
        "the interrupt came too late to test anything"
    );
    // In-flight requests were finished: nothing is left `sending`.
    assert!(
        env.rows(&batch)
            .iter()
            .all(|r| r.state != RowState::Sending)
    );
    assert_eq!(
        env.journal().batch(&batch).unwrap().unwrap().state,
        tpbulk::journal::BatchState::Interrupted
    );

    let run = env.run(&["resume", "--rate", "0"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(run.batch(), batch);
    assert_eq!(env.counts(&batch).created, 120);
    assert!(env.creations().values().all(|&n| n == 1));
}

#[test]
fn resuming_a_finished_batch_changes_nothing() {
    let env = Env::new(SimConfig::default());
    let run = env.import(&otaa_csv(1, 5), &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let batch = run.batch();
    // No credentials needed: a finished batch is only summarised.
    let again = Run(env
        .command(&["resume", &batch])
        .env("THINGPARK_URL", "http://127.0.0.1:9")
        .output()
        .unwrap());
    assert_eq!(again.code(), 0, "{}", again.describe());
    assert!(again.stdout().contains("created 5"));
    assert!(env.creations().values().all(|&n| n == 1));
}

#[test]
fn resume_without_an_unfinished_batch_is_a_usage_error() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 2));
    assert_eq!(env.import_file(&file, &[]).code(), 0);
    let run = env.run(&["resume"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(run.stderr().contains("no unfinished batch"));
}

#[test]
fn a_bad_option_stops_resume_before_the_journal_is_opened() {
    // A journal of an older release: opening it would migrate it, so an unchanged file shows it was never opened.
    let env = Env::new(SimConfig::default());
    let journal = env.dir.path().join("journal-v3.db");
    std::fs::copy("tests/fixtures/journal-v3/journal-v3.db", &journal).unwrap();
    let before = std::fs::read(&journal).unwrap();
    let journal_arg = journal.to_str().unwrap();
    for bad in [
        &["--url", "ftp://example.com"][..],
        &["--token-url", "not a url"],
        &["--client-secret-file", "/nonexistent/secret"],
    ] {
        let mut args = vec!["resume", "--journal", journal_arg];
        args.extend_from_slice(bad);
        let run = env.run(&args);
        assert_eq!(run.code(), 2, "{bad:?}: {}", run.describe());
        assert!(run.stderr().contains(bad[0]), "{bad:?}: {}", run.describe());
        assert!(
            std::fs::read(&journal).unwrap() == before,
            "{bad:?}: the journal was opened"
        );
    }
}

/// A batch journalled as `import` leaves it, with requests the platform will refuse from row 3 on (as when a model
/// is withdrawn between the import and its resume).
fn batch_with_refused_rows(env: &Env, rows: u64) -> String {
    let options = serde_json::json!({
        "rate": null, "concurrency": 1, "max_errors": 2, "prepared": true,
        "url": env.sim.url(), "client_id": "tpbulk-sim",
    });
    let rows: Vec<(u64, &str)> = (2..2 + rows)
        .map(|row| (row, if row == 2 { MODEL } else { "ACME/Withdrawn_EU" }))
        .collect();
    pending_batch(env, options, &rows)
}

#[test]
fn a_refusal_is_final_with_its_code_and_message_and_max_errors_stops_the_batch() {
    let env = Env::new(SimConfig::default());
    let batch = batch_with_refused_rows(&env, 6);
    let run = Run(env
        .command(&["resume", &batch])
        .env_remove("THINGPARK_URL")
        .output()
        .unwrap());
    // The batch's own options: its URL, one request at a time, and --max-errors 2.
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert!(run.stderr().contains(&format!("tpbulk resume {batch}")));
    let rows = env.rows(&batch);
    assert_eq!(rows[0].state, RowState::Done);
    for refused in &rows[1..3] {
        assert_eq!(refused.state, RowState::Failed);
        assert_eq!(refused.http_status, Some(400));
        // The simulator's code for an unknown model, as the platform answers it.
        assert_eq!(refused.error_code.as_deref(), Some("222"));
        assert!(
            refused
                .message
                .as_deref()
                .is_some_and(|m| m.contains("ACME/Withdrawn_EU")),
            "{:?}",
            refused.message
        );
        assert_eq!(refused.attempts, 1, "a 4xx is not retried");
        assert!(refused.request.is_none());
    }
    assert!(rows[3..].iter().all(|r| r.state == RowState::Pending));
    assert_eq!(
        env.journal().batch(&batch).unwrap().unwrap().state,
        tpbulk::journal::BatchState::Interrupted
    );
}

#[test]
fn ctrl_c_while_rows_are_checked_stops_at_once_and_resume_refuses_the_batch() {
    use tpbulk::engine::batch::{ImportConfig, RunSettings, import};
    use tpbulk::engine::pool::Stop;
    use tpbulk::error::Exit;
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 200));
    let args = tpbulk::cli::PlatformArgs {
        url: Some(env.sim.url()),
        client_id: Some("tpbulk-sim".into()),
        client_secret_file: None,
        token_url: None,
        insecure: false,
    };
    let config = ImportConfig {
        clear_empty: false,
        force: false,
        plan: None,
        file: file.clone(),
        input: tpbulk::input::InputOptions::default(),
        client: tpbulk::platform::ClientConfig::from_parts(&args, Some("tpbulk-sim-secret".into()))
            .unwrap(),
        journal: env.journal_path(),
        settings: RunSettings::new(0.0, 4, None).unwrap(),
        on_existing: tpbulk::cmd::import::OnExisting::Skip,
        name: None,
        profile: None,
        again: false,
        allow_over_quota: false,
        deleting: false,
        display: tpbulk::logging::Display::hidden(),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    // The signal lands as soon as the batch exists: while its rows are being checked.
    let on_start = {
        let cancel = cancel.clone();
        move |_: &str| cancel.cancel()
    };
    let result = env
        .block_on(import(config, cancel, on_start, Box::new(|_| Ok(false))))
        .expect("an interrupted import is a result, not an error");
    assert_eq!(result.exit(), Exit::Interrupted);
    assert!(
        matches!(result.stop, Stop::CancelledPreparing { .. }),
        "{:?}",
        result.stop
    );
    let next = result.next_step().unwrap();
    assert!(
        next.contains("tpbulk import") && next.contains("ship.csv"),
        "{next}"
    );
    assert!(
        result.counts.total < 200,
        "checking went on: {:?}",
        result.counts
    );
    assert_eq!(env.sim.stats().post_attempts.len(), 0, "a device was sent");

    // Resume refuses it, by name of the file, and sends nothing.
    let run = env.run(&["resume", "--rate", "0"]);
    assert_eq!(run.code(), 2, "{}", run.describe());
    assert!(
        run.stderr().contains("cannot be resumed") && run.stderr().contains("ship.csv"),
        "{}",
        run.describe()
    );
    assert_eq!(env.sim.stats().post_attempts.len(), 0);

    // The file imports cleanly as a new batch.
    let run = env.import_file(&file, &[]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert_eq!(env.counts(&run.batch()).created, 200);
}

/// Killed after its cellular rows were settled by duplicate answers but before the listing gave them their
/// reference: the resume, with every row already final, still lists once and records it.
#[test]
fn resume_gives_cellular_rows_their_reference_when_the_import_died_first() {
    for _attempt in 0..3 {
        let env = Env::new(SimConfig {
            // Every call is slow, so the final listing is out long enough for the kill to land during it.
            latency: Duration::from_millis(400),
            ..SimConfig::default()
        });
        env.sim.set_faults(0.0, 1.0);
        let file = env.write("cell.csv", CELLULAR_CSV);
        let mut child = env.spawn(&["import", file.to_str().unwrap(), "--rate", "0", "--quiet"]);
        let deadline = Instant::now() + Duration::from_secs(30);
        let batch = loop {
            assert!(Instant::now() < deadline, "the import made no progress");
            if let Ok(journal) = tpbulk::journal::Journal::open_existing(&env.journal_path())
                && let Ok(Some(info)) = journal.latest_batch(false)
                && journal.counts(&info.id).is_ok_and(|c| c.created == 3)
            {
                break info.id;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        kill(&mut child, libc::SIGKILL);
        child.wait().unwrap();
        if env.rows(&batch).iter().any(|r| r.device_uid.is_some()) {
            // The kill came after the listing: nothing to resume; try again.
            continue;
        }
        env.sim.set_faults(0.0, 0.0);
        let run = env.run(&["resume", "--quiet"]);
        assert_eq!(run.code(), 0, "{}", run.describe());
        for row in env.rows(&batch) {
            assert!(
                row.device_eui.is_some() && row.device_uid.is_some(),
                "row {} has no platform reference: {row:?}",
                row.row
            );
        }
        let creations = env.creations();
        assert!(
            creations.len() == 3 && creations.values().all(|&n| n == 1),
            "{creations:?}"
        );
        let status = env.run(&["status", &batch, "--format", "json"]);
        assert!(
            status.stdout().contains("\"done\""),
            "{}",
            status.describe()
        );
        return;
    }
    panic!("the kill never landed before the final listing");
}

#[test]
fn an_update_batch_killed_twice_updates_each_changed_device_once_and_rollback_restores_them() {
    let env = Env::new(SimConfig {
        latency: Duration::from_millis(15),
        ..SimConfig::default()
    });
    // Some answers of the updates are lost too: each is read back before anything is sent again.
    env.sim.set_faults(0.0, 0.1);
    let total = 60;
    seed_devices(&env, 100, total);
    // Every third device renamed, every third moved to another connection, half of the rest tagged (tag calls,
    // no `PUT`), the others as they are.
    let tagged = |n: u64| n % 3 == 2 && n.is_multiple_of(2);
    let csv = update_csv(100, total, |n| match n % 3 {
        0 => (format!("renamed {n}"), CONNECTION),
        1 => (format!("device {n}"), OTHER_CONNECTION),
        _ => (format!("device {n}"), CONNECTION),
    });
    let csv: String = (99..)
        .zip(csv.lines())
        .map(|(n, line)| match (n, tagged(n)) {
            (99, _) => format!("{line},Tags\n"),
            (_, true) => format!("{line},kit;lot 7\n"),
            (_, false) => format!("{line},\n"),
        })
        .collect();
    let file = env.write("update.csv", &csv);
    let changed: Vec<u64> = (100..100 + total)
        .filter(|&n| n % 3 != 2 || tagged(n))
        .collect();
    let tags_of = |n: u64| -> Vec<String> {
        let device = env.sim.device(&eui(n)).expect("the device exists");
        let mut tags: Vec<String> = device["tags"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|t| t["name"].as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    };
    let mut child = env.spawn(&[
        "import",
        file.to_str().unwrap(),
        "--on-existing",
        "update",
        "--rate",
        "0",
        "--concurrency",
        "2",
        "--quiet",
    ]);
    // The tagged rows are `done` once journalled (their tags follow with the calls): wait for real updates.
    let tag_only = changed.iter().filter(|&&n| n % 3 == 2).count() as u64;
    let batch = wait_for(&env, &mut child, None, |c| c.updated >= tag_only + 5).expect("batch id");
    kill(&mut child, libc::SIGKILL);
    child.wait().unwrap();
    let mut child = env.spawn(&["resume", &batch, "--quiet"]);
    wait_for(&env, &mut child, Some(&batch), |c| {
        c.updated >= tag_only + 20
    });
    kill(&mut child, libc::SIGKILL);
    child.wait().unwrap();
    assert!(
        env.counts(&batch).pending > 0,
        "the kills came after the batch ended: nothing was tested"
    );
    let run = env.run(&["resume", &batch]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let counts = env.counts(&batch);
    assert_eq!(
        (
            counts.updated,
            counts.unchanged,
            counts.pending,
            counts.failed
        ),
        (changed.len() as u64, total - changed.len() as u64, 0, 0),
        "{}",
        run.describe()
    );
    let stats = env.sim.stats();
    for n in 100..100 + total {
        let expected = u64::from(n % 3 != 2);
        assert_eq!(
            stats.updates.get(&eui(n)).copied().unwrap_or(0),
            expected,
            "device {n}: {:?}",
            stats.updates
        );
    }
    assert_eq!(env.creations().len(), 0, "an update creates nothing");
    // Two tag calls (one per tag) for the ten tagged devices, each device tagged, the others not.
    assert_eq!(
        env.counts(&format!("{batch}.tags")).created,
        2,
        "{}",
        run.describe()
    );
    for n in 100..100 + total {
        let want: &[&str] = if tagged(n) { &["kit", "lot 7"] } else { &[] };
        assert_eq!(tags_of(n), want, "device {n}");
    }
    assert_eq!(sim_field(&env, 102, "name"), "renamed 102");
    assert_eq!(sim_field(&env, 100, "appServers"), OTHER_CONNECTION);

    // Someone renames one of the updated devices afterwards: its restore would overwrite that, so it is left.
    env.sim
        .change_device(&eui(105), serde_json::json!({"name": "theirs"}))
        .unwrap();
    let run = env.run(&["rollback", &batch, "--yes", "--rate", "0"]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    assert!(
        run.stdout().contains(&format!(
            "restored {}, changed since and left 1",
            changed.len() - 1
        )),
        "{}",
        run.describe()
    );
    for n in 100..100 + total {
        let name = if n == 105 {
            "theirs".to_string()
        } else {
            format!("device {n}")
        };
        assert_eq!(sim_field(&env, n, "name"), name, "device {n}");
        assert_eq!(sim_field(&env, n, "appServers"), CONNECTION, "device {n}");
        assert!(tags_of(n).is_empty(), "device {n}: {:?}", tags_of(n));
    }
    // Interrupted or not, a second rollback finds nothing left to restore.
    let run = env.run(&["rollback", &batch, "--yes", "--rate", "0"]);
    assert!(
        run.stdout().contains("nothing left to delete"),
        "{}",
        run.describe()
    );
}

/// Killed among its tag calls (after the devices were created): the resume sends the calls left, and a call
/// whose answer the kill lost is sent again (tagging is idempotent), so every device ends with every tag.
#[test]
fn a_kill_among_the_tag_calls_loses_none_of_them() {
    let env = Env::new(SimConfig {
        // Each call is slow, so the kill lands between two tag calls.
        latency: Duration::from_millis(150),
        ..SimConfig::default()
    });
    let tags = "t1;t2;t3;t4;t5";
    let mut csv = String::from("DevEUI,AppKey,Model,Connection,Tags\n");
    for n in 1..=2 {
        csv.push_str(&format!(
            "{},{},{MODEL},{CONNECTION},{tags}\n",
            eui(n),
            app_key(n)
        ));
    }
    let file = env.write("ship.csv", &csv);
    let mut child = env.spawn(&[
        "import",
        file.to_str().unwrap(),
        "--rate",
        "0",
        "--concurrency",
        "1",
        "--quiet",
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let batch = loop {
        assert!(Instant::now() < deadline, "the tag calls never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before the kill: nothing was tested"
        );
        if let Ok(journal) = tpbulk::journal::Journal::open_existing(&env.journal_path())
            && let Ok(Some(info)) = journal.latest_batch(false)
            && journal
                .counts(&tpbulk::journal::Journal::tags_id(&info.id))
                .is_ok_and(|c| c.created >= 1)
        {
            break info.id;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    kill(&mut child, libc::SIGKILL);
    child.wait().unwrap();
    let tag_batch = tpbulk::journal::Journal::tags_id(&batch);
    assert!(
        env.counts(&tag_batch).pending > 0,
        "the kill came after the last call"
    );
    // The import is not done while its tag calls are not: a plain `resume` finds it.
    let run = env.run(&["resume", "--quiet"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let calls = env.counts(&tag_batch);
    assert_eq!((calls.total, calls.created, calls.pending), (5, 5, 0));
    let status = env.run(&["status", &batch, "--format", "json"]);
    assert!(
        status.stdout().contains("\"done\""),
        "{}",
        status.describe()
    );
    // Five calls, the one the kill interrupted perhaps sent twice; every device created once, with every tag.
    let sent = env.sim.stats().requests["POST /devices/tags"];
    assert!((5..=6).contains(&sent), "{sent} tag calls");
    assert!(env.creations().values().all(|&n| n == 1));
    let export = env.run(&["export", "-o", "-", "--quiet"]);
    let out = export.stdout();
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(lines.len(), 2);
    for line in lines {
        assert!(line.ends_with(",t1;t2;t3;t4;t5,"), "{line}");
    }
}

/// A rollback killed among the tag calls that put tags back: `status` of the import's rollback counts them, and
/// `resume` of the import sends the calls left (its rollback's rows are all final, so nothing else is sent).
#[test]
fn a_rollback_killed_among_its_tag_calls_is_finished_by_resume() {
    let env = Env::new(SimConfig {
        // Each call is slow, so the kill lands between two tag calls.
        latency: Duration::from_millis(150),
        ..SimConfig::default()
    });
    seed_devices(&env, 1, 2);
    let csv = format!(
        "DevEUI,Tags\n{},t1;t2;t3;t4;t5\n{},t1;t2;t3;t4;t5\n",
        eui(1),
        eui(2)
    );
    let file = env.write("tags.csv", &csv);
    let run = env.run(&[
        "import",
        file.to_str().unwrap(),
        "--on-existing",
        "update",
        "--rate",
        "0",
        "--quiet",
    ]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let batch = run.batch();
    let rollback = tpbulk::journal::Journal::rollback_id(&batch);
    let tag_batch = tpbulk::journal::Journal::tags_id(&rollback);
    let mut child = env.spawn(&[
        "rollback",
        &batch,
        "--yes",
        "--rate",
        "0",
        "--concurrency",
        "1",
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tpbulk::journal::Journal::open_existing(&env.journal_path())
        .and_then(|j| j.counts(&tag_batch))
        .is_ok_and(|c| c.created >= 1)
    {
        assert!(Instant::now() < deadline, "the tag calls never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the rollback ended before the kill: nothing was tested"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    kill(&mut child, libc::SIGKILL);
    child.wait().unwrap();
    assert!(
        env.counts(&tag_batch).pending > 0,
        "the kill came after the last call"
    );
    let status = env.run(&["status", &rollback]);
    assert!(
        status.stdout().contains("tag calls        5"),
        "{}",
        status.describe()
    );
    let run = env.run(&["resume", &batch, "--quiet"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let calls = env.counts(&tag_batch);
    assert_eq!((calls.total, calls.created, calls.pending), (5, 5, 0));
    for n in 1..=2 {
        let device = env.sim.device(&eui(n)).expect("the device exists");
        assert_eq!(device["tags"], serde_json::json!([]), "device {n}");
    }
    assert!(
        env.run(&["rollback", &batch, "--yes"])
            .stdout()
            .contains("nothing left to delete")
    );
}
