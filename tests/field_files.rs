//! Files from the field (issue 16): one small fixture per way real vendor lists failed, read end to end through
//! `tpbulk validate` (JSONL rows, and the text summary where a per-file note is the behaviour).

use crate::offline;
use offline::{errors, tpbulk, validate_jsonl as validate};
use serde_json::Value;

fn field(name: &str) -> String {
    format!("tests/fixtures/field/{name}")
}

/// `validate` in text: the summary.
fn summary(file: &str, extra: &[&str]) -> String {
    let mut args = vec!["validate", file];
    args.extend_from_slice(extra);
    let out = tpbulk(&args);
    String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap()
}

fn message(row: &Value, i: usize) -> String {
    row["errors"][i]["message"].as_str().unwrap().to_string()
}

#[test]
fn an_empty_column_never_hides_a_filled_one() {
    let (code, rows) = validate(&field("two-key-columns.csv"), &[]);
    assert_eq!(code, 1);
    // Row 2: fNwkSIntKey empty, NwkSKey filled; row 3 the other way round; row 4 both, the same key in two cases.
    for row in &rows[..3] {
        assert_eq!(row["status"], "valid", "{row}");
    }
    // Row 5: both filled and different: an error naming both columns, without the keys.
    let errs = errors(&rows[3]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "nwk_s_key");
    let text = message(&rows[3], 0);
    assert!(
        text.contains("\"fNwkSIntKey\"") && text.contains("\"NwkSKey\""),
        "{text}"
    );
    assert!(!text.contains("7374757A"), "{text}");
}

#[test]
fn vendor_headers_are_recognised() {
    let (code, rows) = validate(&field("vendor-headers.csv"), &[]);
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "70B3D5E756000011");
    // `sn` names the device when no column does: the plan shows it (see import's report), validate accepts it.
    let out = tpbulk(&[
        "validate",
        &field("vendor-headers.csv"),
        "--format",
        "jsonl",
        "--kind",
        "otaa",
    ]);
    assert!(out.status.success());
}

#[test]
fn headerless_files_are_read_with_columns() {
    let file = field("headerless.csv");
    let text = summary(&file, &[]);
    assert!(text.contains("--columns"), "{text}");
    let (code, rows) = validate(
        &file,
        &[
            "--columns",
            "dev_eui,app_key,,name",
            "--set",
            "model=SMTC/LoRaMoteA.1_EU",
            "--set",
            "connection=my MQTT application",
        ],
    );
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["row"], 1, "the first line is data");
    assert_eq!(rows[1]["id"], "70B3D5E756000022");
    let text = summary(&file, &["--columns", "dev_eui,bogus"]);
    assert!(text.contains("unknown field \"bogus\""), "{text}");
}

#[test]
fn chirpstack_nwk_key_is_the_root_key_of_a_1_0_device() {
    let file = field("chirpstack-v4-keys.csv");
    let connection = ["--set", "connection=my MQTT application"];
    let (code, rows) = validate(&file, &connection);
    // Offline both rows are OTAA rows whose key came from nwk_key; the model's version is the platform's to say.
    assert_eq!(code, 0, "{rows:?}");
    assert!(rows.iter().all(|r| r["kind"] == "otaa"));
    let text = summary(&file, &connection);
    assert_eq!(text.matches("nwk_key and no app_key").count(), 1, "{text}");
}

#[test]
fn placeholders_are_empty_beside_a_real_identifier_and_errors_alone() {
    let file = field("placeholders.csv");
    let (code, rows) = validate(&file, &[]);
    assert_eq!(code, 1);
    assert_eq!(rows.len(), 4);
    for row in &rows[..3] {
        assert_eq!(row["status"], "valid", "{row}");
    }
    assert_eq!(rows[1]["id"], "89331503200000000027");
    assert_eq!(rows[3]["status"], "invalid");
    let text = summary(&file, &[]);
    assert!(text.contains("5 placeholder cells"), "{text}");
}

#[test]
fn damage_patterns_are_named() {
    let file = field("damage-patterns.csv");
    let (_, rows) = validate(&file, &[]);
    assert_eq!(
        errors(&rows[0]),
        [(
            "dev_eui".to_string(),
            "excel_damage".to_string(),
            "DevEUI".to_string()
        )]
    );
    assert!(message(&rows[0], 0).contains("leading zeros"));
    // Session columns on OTAA rows are ignored, said once, the malformed one named.
    assert_eq!(rows[1]["status"], "valid");
    assert_eq!(rows[2]["status"], "valid");
    let text = summary(&file, &[]);
    assert_eq!(text.matches("fill session columns").count(), 1, "{text}");
    assert!(
        text.contains("row 4, column \"DevAddr\""),
        "the malformed DevAddr is named: {text}"
    );
}

#[test]
fn iccids_with_hex_letters_are_accepted_with_a_note() {
    let file = field("hex-iccids.csv");
    let (code, rows) = validate(&file, &[]);
    assert_eq!(code, 1);
    assert_eq!(rows[0]["id"], "898604A62621C0303436");
    assert_eq!(rows[1]["status"], "valid");
    assert_eq!(rows[2]["status"], "invalid", "not in the 89 range");
    let text = summary(&file, &[]);
    assert!(text.contains("2 ICCIDs hold hex letters"), "{text}");
}

#[test]
fn onboarding_tags_give_the_euis_and_the_name() {
    let (code, rows) = validate(&field("onboarding-tags.csv"), &[]);
    assert_eq!(code, 1);
    assert_eq!(rows[0]["status"], "valid", "{}", rows[0]);
    assert_eq!(rows[0]["id"], "AABBCCDDEEFF0011");
    assert_eq!(rows[1]["id"], "AABBCCDDEEFF0012");
    let bad_profile = errors(&rows[2]);
    assert_eq!(bad_profile[0].0, "dev_eui");
    assert!(message(&rows[2], 0).contains("ProfileID"));
    assert_eq!(errors(&rows[3])[0].1, "checksum");

    let (code, rows) = validate(&field("qr-code-column.csv"), &[]);
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(rows[0]["id"], "70B3D5E756000101");
}

#[test]
fn utf16_without_a_bom_is_detected() {
    for file in ["utf16le-no-bom.txt", "utf16be-no-bom.txt"] {
        let (code, rows) = validate(&field(file), &[]);
        assert_eq!(code, 0, "{file}: {rows:?}");
        assert_eq!(rows.len(), 2, "{file}");
        assert_eq!(rows[1]["id"], "70B3D5E756000112");
    }
}

#[test]
fn cellular_and_abp_shipments_report_duplicates_and_bad_rows() {
    let (code, rows) = validate(&field("cellular.csv"), &[]);
    assert_eq!(code, 1);
    assert_eq!(rows.len(), 8);
    assert!(
        rows[..5]
            .iter()
            .all(|r| r["status"] == "valid" && r["kind"] == "cellular")
    );
    assert_eq!(errors(&rows[5])[0].1, "duplicate", "the IMEI of row 2");
    assert_eq!(errors(&rows[6])[0].1, "duplicate", "the ICCID of row 3");
    assert_eq!(rows[7]["status"], "invalid");

    let (code, rows) = validate(&field("abp.csv"), &[]);
    assert_eq!(code, 1);
    assert!(
        rows[..4]
            .iter()
            .all(|r| r["status"] == "valid" && r["kind"] == "abp")
    );
    assert_eq!(errors(&rows[4])[0].1, "duplicate");
    assert_eq!(errors(&rows[5])[0].0, "dev_addr");
}
