//! Ctrl-C and SIGTERM in every command that talks to the platform: against a simulator that answers slowly (so the
//! command is mid-work when the signal comes), each stops within 2 s with exit 130 and one line saying what was done,
//! with advice that fits the command (no `tpbulk resume` where there is nothing to resume).

use crate::engine_support;

use engine_support::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tpbulk::sim::SimConfig;

/// Every API call of the simulator takes this long.
const LATENCY: Duration = Duration::from_millis(400);

fn env_with_batch(rows: u64) -> (Env, String) {
    let env = Env::new(SimConfig {
        latency: LATENCY,
        ..SimConfig::default()
    });
    let run = env.import(&otaa_csv(1, rows), &["--concurrency", "16"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let batch = run.batch();
    (env, batch)
}

/// Starts the command `args`, sends it `signal` once the simulator has seen the requests `under_way` accepts (by
/// route, since the start; the command then has its signal handler and is mid-work), and returns its exit code, how
/// long it took to stop after the signal, and its stderr.
fn interrupt(
    env: &Env,
    args: &[&str],
    signal: i32,
    under_way: impl Fn(&BTreeMap<String, u64>) -> bool,
) -> (Option<i32>, Duration, String) {
    let before = env.sim.stats().requests;
    let mut child = env.spawn(args);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !under_way(&env.requests_since(&before)) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the command ended before the signal: not mid-work"
        );
        assert!(Instant::now() < deadline, "no request under way after 20 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the command ended before the signal: not mid-work"
    );
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("still running 10 s after the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    let stderr = read_stderr(&mut child);
    (status.code(), took, stderr)
}

fn assert_stopped(what: &str, (code, took, stderr): (Option<i32>, Duration, String), says: &str) {
    assert_eq!(code, Some(130), "{what}: {stderr}");
    assert!(took < Duration::from_secs(2), "{what}: took {took:?}");
    // Progress lines ("learning which devices exist", a batch's counts) may come before; the stop is one line.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tpbulk: interrupted"))
        .collect();
    assert_eq!(lines.len(), 1, "{what}: one line: {stderr}");
    assert!(lines[0].contains(says), "{what}: {stderr}");
    assert!(
        !stderr.contains("tpbulk resume"),
        "{what}: nothing to resume: {stderr}"
    );
}

#[test]
fn reading_commands_stop_on_the_first_signal_and_say_what_was_done() {
    let (env, batch) = env_with_batch(20);
    let file = env.write("plan.csv", &otaa_csv(100, 20));
    let cases: [(&str, Vec<&str>, i32, &str); 5] = [
        (
            "verify",
            vec!["verify", &batch],
            libc::SIGINT,
            "nothing was changed (run `tpbulk verify",
        ),
        (
            "health",
            vec!["health", &batch],
            libc::SIGTERM,
            "nothing was written (run `tpbulk health",
        ),
        (
            "plan",
            vec!["plan", file.to_str().unwrap()],
            libc::SIGINT,
            "interrupted while planning; nothing was sent or written",
        ),
        (
            "catalog",
            vec!["catalog"],
            libc::SIGTERM,
            "interrupted while reading the catalogue; nothing was written",
        ),
        (
            "connection list",
            vec!["connection", "list"],
            libc::SIGINT,
            "interrupted while listing the connections; nothing was changed",
        ),
    ];
    for (what, args, signal, says) in cases {
        // The token is quick; the first API call is under way.
        let api_call =
            |sent: &BTreeMap<String, u64>| sent.keys().any(|route| route != "POST token");
        assert_stopped(what, interrupt(&env, &args, signal, api_call), says);
    }
}

#[test]
fn rollback_stops_its_deletions_on_the_first_signal_and_says_how_to_finish() {
    let (env, batch) = env_with_batch(40);
    // The plan is printed and deletions are under way.
    let (code, took, stderr) = interrupt(
        &env,
        &["rollback", &batch, "--yes", "--rate", "5"],
        libc::SIGINT,
        |sent| count(sent, "DELETE /devices/{id}") > 0,
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // Progress lines ("learning which devices exist", a batch's counts) may come before; the stop is one line.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tpbulk: interrupted"))
        .collect();
    assert_eq!(
        lines,
        [format!(
            "tpbulk: interrupted; run `tpbulk rollback {batch}` again to finish"
        )],
        "{stderr}"
    );
    assert!(!stderr.contains("tpbulk resume"), "{stderr}");
    let left = env.sim.stats().devices;
    assert!(left > 0 && left < 40, "interrupted mid-way: {left} left");
}
