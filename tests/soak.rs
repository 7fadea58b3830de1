//! Short soak: a shipment with bad rows, imported against a faulty, rate-limited simulator with short-lived tokens,
//! the importer SIGKILLed while it works and resumed each time; afterwards every valid row exists exactly once on the
//! simulator, the journal and the report say the same, and nothing is left unfinished. `bench/soak.sh` is the long run.

use crate::engine_support;

use engine_support::*;
use rand::Rng;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tpbulk::sim::SimConfig;

/// Waits until the journal shows more created rows than `before` (the kill then lands while devices are being sent),
/// or the child has exited. Returns the batch id and the created count seen.
fn wait_for_more_created(
    env: &Env,
    child: &mut std::process::Child,
    batch: Option<&str>,
    before: u64,
) -> (Option<String>, u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            if batch.is_none() {
                // Nothing to resume: say why the first run stopped.
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
                }
                panic!("the import ended ({status}) before a device was created:\n{stderr}");
            }
            return (batch.map(str::to_string), before);
        }
        if env.journal_path().exists() {
            let journal = env.journal();
            let info = match batch {
                Some(b) => journal.batch(b).ok().flatten(),
                None => journal.latest_batch(false).ok().flatten(),
            };
            if let Some(info) = info
                && let Ok(counts) = journal.counts(&info.id)
                && counts.created > before
            {
                return (Some(info.id), counts.created);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the batch made no progress in 60 s");
}

fn sigkill(child: &mut std::process::Child) {
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped yet.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    child.wait().unwrap();
}

/// `count` OTAA rows from `first`, every `bad_every`-th with a DevEUI that is not hex (so never sent).
fn shipment_with_bad_rows(first: u64, count: u64, bad_every: u64) -> (String, BTreeSet<String>) {
    let mut csv = String::from("DevEUI,AppKey,Model,Connection\n");
    let mut valid = BTreeSet::new();
    for n in first..first + count {
        let dev_eui = if n % bad_every == 0 {
            format!("{}G", &eui(n)[..15])
        } else {
            valid.insert(eui(n));
            eui(n)
        };
        csv.push_str(&format!("{dev_eui},{},{MODEL},{CONNECTION}\n", app_key(n)));
    }
    (csv, valid)
}

#[test]
fn faults_rate_limit_token_expiry_and_kills_lose_nothing_and_create_nothing_twice() {
    let env = Env::new(SimConfig {
        // Each 503 pauses the whole pool for at least a second (the client's pacing), so the short run keeps 503s
        // rare; `bench/soak.sh` runs the 10%.
        fail: 0.03,
        drop: 0.02,
        // Below the importer's --rate, so the simulator's 429s are part of the run.
        rate: Some(250.0),
        token_ttl: Duration::from_secs(1),
        latency: Duration::from_millis(1),
        seed: rand::rng().random(),
        ..SimConfig::default()
    });
    let total = 150;
    let (csv, valid) = shipment_with_bad_rows(0x5000, total, 23);
    let file = env.write("soak.csv", &csv);
    let mut rng = rand::rng();

    let mut child = env.spawn(&[
        "import",
        file.to_str().unwrap(),
        "--rate",
        "300",
        "--concurrency",
        "8",
        "--quiet",
    ]);
    let (batch, mut created) = wait_for_more_created(&env, &mut child, None, 0);
    let batch = batch.expect("the import started a batch");
    let mut kills = 0;
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(rng.random_range(0..120)));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        sigkill(&mut child);
        if round == 2 {
            break;
        }
        child = env.spawn(&["resume", &batch, "--quiet"]);
        (_, created) = wait_for_more_created(&env, &mut child, Some(&batch), created);
    }
    assert!(kills >= 1, "every run ended before it could be killed");

    let run = env.run(&["resume", &batch]);
    // Exit 1: the invalid rows are reported as such.
    assert_eq!(run.code(), 1, "{}", run.describe());

    // The simulator: every valid row created exactly once, nothing else created.
    let creations = env.creations();
    let created_euis: BTreeSet<String> = creations.keys().cloned().collect();
    assert_eq!(created_euis, valid);
    let twice: Vec<_> = creations.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "created more than once: {twice:?}");

    // The journal, through `status --format json`: final, nothing pending or failed.
    let status = env.run(&["status", &batch, "--format", "json"]);
    assert_eq!(status.code(), 0, "{}", status.describe());
    let status: serde_json::Value = serde_json::from_str(status.stdout().trim()).unwrap();
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(status["pending"], 0, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    assert_eq!(status["created"], valid.len() as u64, "{status}");
    assert_eq!(status["invalid"], total - valid.len() as u64, "{status}");

    // The report agrees with the simulator, row for row.
    let report = env.dir.path().join("soak-report.jsonl");
    let run = env.run(&["report", &batch, "-o", report.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let mut reported_created = BTreeSet::new();
    let mut lines = 0;
    for line in std::fs::read_to_string(&report).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        lines += 1;
        match row["status"].as_str().unwrap() {
            "created" => {
                assert!(row["device"].is_string(), "created without a device: {row}");
                assert!(reported_created.insert(row["id"].as_str().unwrap().to_string()));
            }
            "invalid" => {}
            other => panic!("row left {other}: {row}"),
        }
    }
    assert_eq!(lines, total);
    assert_eq!(reported_created, created_euis);
}
