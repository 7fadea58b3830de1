//! Shared by the offline end-to-end tests (`validate.rs`, `field_files.rs`): the binary run from the crate's root,
//! and `validate --format jsonl` read back as rows.
#![allow(dead_code)]

use serde_json::Value;
use std::process::{Command, Output};

pub fn tpbulk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tpbulk"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("tpbulk runs")
}

/// Runs `validate --format jsonl` and returns the exit code and the rows.
pub fn validate_jsonl(file: &str, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["validate", file, "--format", "jsonl"];
    args.extend_from_slice(extra);
    let out = tpbulk(&args);
    let rows = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    (out.status.code().unwrap(), rows)
}

/// (field, code, column) of each error of a row.
pub fn errors(row: &Value) -> Vec<(String, String, String)> {
    row["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
                e["column"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}
