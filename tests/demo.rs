//! `tpbulk demo` from a bare folder with nothing set up, and the rework file of a batch corrected and imported again.

use crate::engine_support;

use engine_support::*;
use std::process::Command;
use tpbulk::journal::{BatchState, Journal};
use tpbulk::sim::SimConfig;

#[test]
fn the_demo_rehearses_every_sample_from_a_bare_folder() {
    let dir = tempfile::tempdir().unwrap();
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-data");
    let out = Command::new(env!("CARGO_BIN_EXE_tpbulk"))
        .args(["demo", "--samples", samples])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let run = Run(out);
    assert_eq!(run.code(), 0, "{}", run.describe());
    assert!(
        run.stdout()
            .contains("demo: the rehearsal ran as it should")
    );
    // The last line is a command that works from here (not under `cargo run`: the binary's own name).
    let last = run.stdout().lines().last().unwrap_or_default().to_string();
    assert!(
        last.contains("(try: tpbulk status --journal tpbulk-demo/tpbulk.db)"),
        "{last}"
    );
    let journal = Journal::open_existing(&dir.path().join("tpbulk-demo/tpbulk.db")).unwrap();
    let batches = journal.batches().unwrap();
    assert_eq!(batches.len(), 4);
    for batch in &batches {
        assert_eq!(batch.state, BatchState::Done);
        let counts = journal.counts(&batch.id).unwrap();
        assert_eq!(
            counts.failed + counts.pending + counts.exists,
            0,
            "{}",
            batch.input_path
        );
        if batch.input_path.contains("messy") {
            assert!(counts.invalid > 0 && counts.created > 0);
        } else {
            assert_eq!(counts.created, counts.total, "{}", batch.input_path);
        }
        // The secret of the simulator never lands in the journal's options.
        assert!(!batch.options.to_string().contains("tpbulk-sim-secret"));
    }
    let written: Vec<String> = std::fs::read_dir(dir.path().join("tpbulk-demo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        written.iter().any(|n| n == "messy-shipment-rework.csv"),
        "{written:?}"
    );
    assert_eq!(
        written
            .iter()
            .filter(|n| n.ends_with("-report.csv"))
            .count(),
        4
    );
}

#[test]
fn a_corrected_rework_file_imports_cleanly() {
    let env = Env::new(SimConfig::default());
    let mut csv = otaa_csv(1, 4);
    csv.push_str(&format!(
        "{},{},{MODEL},{CONNECTION}\n",
        "70B3D5E7000000",
        app_key(5)
    ));
    csv.push_str(&format!("{},{},{MODEL},{CONNECTION}\n", eui(6), "ABC"));
    let run = env.import(&csv, &[]);
    assert_eq!(run.code(), 1, "{}", run.describe());
    let batch = run.batch();
    let rework = env.dir.path().join("rework.csv");
    let out = env.run(&["rework", &batch, "-o", rework.to_str().unwrap()]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    // The person fixing the data corrects the two cells and drops the `error` column's text.
    let text = std::fs::read_to_string(&rework).unwrap();
    assert!(
        text.contains("70B3D5E7000000") && text.contains(",ABC,"),
        "{text}"
    );
    let fixed = text
        .replace("70B3D5E7000000,", &format!("{},", eui(5)))
        .replace(",ABC,", &format!(",{},", app_key(6)));
    let fixed_path = env.write("fixed.csv", &fixed);
    let again = env.import_file(&fixed_path, &[]);
    assert_eq!(again.code(), 0, "{}", again.describe());
    let counts = env.counts(&again.batch());
    assert_eq!((counts.total, counts.created), (2, 2));
    assert!(env.creations().values().all(|&n| n == 1));
    assert_eq!(env.creations().len(), 6);
}
