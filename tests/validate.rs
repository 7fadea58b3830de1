//! End-to-end tests of `tpbulk validate`: real public files, the sample data, and spreadsheets written here with
//! numeric identifier cells, read back through the JSONL output so assertions compare meaning, not bytes.

use crate::offline;
use offline::{errors, tpbulk, validate_jsonl};
use rust_xlsxwriter::{Format, Workbook};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> String {
    format!("tests/fixtures/{name}")
}

fn codes(row: &Value) -> Vec<(String, String)> {
    errors(row).into_iter().map(|(f, c, _)| (f, c)).collect()
}

fn pair(field: &str, code: &str) -> (String, String) {
    (field.to_string(), code.to_string())
}

#[test]
fn clean_samples_are_valid_and_exit_0() {
    for file in [
        "sample-data/otaa-shipment.csv",
        "sample-data/otaa-shipment.xlsx",
        "sample-data/cellular-shipment.csv",
    ] {
        let (code, rows) = validate_jsonl(file, &[]);
        assert_eq!(code, 0, "{file}");
        assert!(rows.len() >= 10, "{file}");
        assert!(rows.iter().all(|r| r["status"] == "valid"), "{file}");
    }
}

#[test]
fn jsonl_rows_have_the_documented_shape() {
    let (code, rows) = validate_jsonl("sample-data/messy-shipment.csv", &[]);
    assert_eq!(code, 1);
    assert_eq!(rows.len(), 15);
    let first = rows[0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["errors", "id", "kind", "row", "status"]);
    assert_eq!(rows[0]["row"], 2, "the header is line 1");
    assert_eq!(rows[0]["kind"], "otaa");
    assert_eq!(rows[0]["id"], "70B3D5E756000101");
    assert_eq!(rows[0]["status"], "valid");
    let error = &rows[1]["errors"][0];
    let mut keys: Vec<&str> = error
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "column", "field", "message"]);
    assert_eq!(error["column"], "DevEUI");
}

#[test]
fn the_messy_sample_holds_every_error_code() {
    let (_, rows) = validate_jsonl("sample-data/messy-shipment.csv", &[]);
    let by_row = |n: u64| rows.iter().find(|r| r["row"] == n).unwrap();
    assert_eq!(codes(by_row(3)), [pair("dev_eui", "hex")]);
    assert_eq!(codes(by_row(4)), [pair("app_key", "length")]);
    assert_eq!(
        codes(by_row(5)),
        [pair("model", "missing"), pair("connection", "missing")]
    );
    assert_eq!(codes(by_row(6)), [pair("dev_eui", "excel_damage")]);
    assert_eq!(codes(by_row(7)), [pair("dev_eui", "duplicate")]);
    assert!(
        by_row(7)["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("row 2")
    );
    assert_eq!(codes(by_row(8)), [pair("kind", "unknown_kind")]);
    assert_eq!(by_row(8)["kind"], Value::Null);
    assert_eq!(codes(by_row(10)), [pair("imei", "luhn")]);
    assert_eq!(codes(by_row(11)), [pair("sim", "checksum")]);
    assert_eq!(codes(by_row(12)), [pair("sim", "excel_damage")]);
    assert_eq!(by_row(13)["id"], "70B3D5E756000112");
    assert_eq!(by_row(13)["status"], "valid");
    assert_eq!(codes(by_row(15)), [pair("imei", "duplicate")]);
    assert_eq!(by_row(16)["kind"], "cellular");
    assert_eq!(by_row(16)["status"], "valid");
    let valid = rows.iter().filter(|r| r["status"] == "valid").count();
    assert_eq!(valid, 4);
}

#[test]
fn no_key_material_in_any_output() {
    let messy = std::fs::read_to_string("sample-data/messy-shipment.csv").unwrap();
    let keys: Vec<&str> = messy
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(2))
        .filter(|k| k.len() >= 16)
        .collect();
    assert!(keys.len() > 5);
    for format in ["text", "jsonl"] {
        let out = tpbulk(&[
            "validate",
            "sample-data/messy-shipment.csv",
            "--format",
            format,
        ]);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .to_ascii_uppercase();
        for key in &keys {
            assert!(
                !all.contains(&key.to_ascii_uppercase()[..12]),
                "{format}: key material leaked"
            );
        }
    }
}

#[test]
fn text_summary_counts_codes_and_lists_first_errors() {
    let out = tpbulk(&["validate", "sample-data/messy-shipment.csv"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("15 rows, 4 valid, 11 invalid"), "{text}");
    for code in [
        "missing",
        "hex",
        "length",
        "luhn",
        "checksum",
        "excel_damage",
        "duplicate",
        "unknown_kind",
    ] {
        assert!(text.contains(&format!("  {code} ")), "{code} in {text}");
    }
    assert!(text.contains("row 3, column \"DevEUI\": hex:"), "{text}");
}

#[test]
fn report_writes_the_jsonl_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.jsonl");
    let out = tpbulk(&[
        "validate",
        "sample-data/messy-shipment.csv",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let (_, stdout_rows) = validate_jsonl("sample-data/messy-shipment.csv", &[]);
    let written = std::fs::read_to_string(&report).unwrap();
    let report_rows: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(report_rows, stdout_rows);
}

#[test]
fn public_files_read_as_their_authors_meant() {
    // AWS: BOM, CRLF, ';' and PascalCase headers; the `Type` column says LoRaWAN, not a ThingPark kind.
    let (code, rows) = validate_jsonl(&fixture("example_device_list.csv"), &[]);
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(rows[0]["id"], "BBBBBC050055C627");
    assert!(rows.iter().all(|r| r["kind"] == "otaa"));

    // The Things Stack: no model or connection columns until they are set.
    let set = [
        "--set",
        "model=SMTC/LoRaMoteA.1_EU",
        "--set",
        "connection=my MQTT application",
    ];
    let (code, rows) = validate_jsonl(&fixture("comma_separated.csv"), &set);
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(rows.len(), 3);

    let mut args = set.to_vec();
    args.extend(["--kind", "otaa"]);
    let (code, rows) = validate_jsonl(&fixture("invalid_deveui.csv"), &args);
    assert_eq!(code, 1);
    assert_eq!(
        codes(&rows[0]),
        [pair("dev_eui", "hex"), pair("app_key", "missing")]
    );

    // ABP meter row, quoted field with commas.
    let (code, rows) = validate_jsonl(
        &fixture("import.sample.csv"),
        &["--set", "connection=my MQTT application"],
    );
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(rows[0]["kind"], "abp");
    assert_eq!(rows[0]["id"], "4768B2690030003D");

    // The Things Industries' Excel template: shared strings only.
    let (_, rows) = validate_jsonl(&fixture("tts-end-devices-csv-template.xlsx"), &set);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["kind"] == "otaa"));
}

#[test]
fn ostelco_iccids_pass_and_its_16_digit_imsis_do_not() {
    let (code, rows) = validate_jsonl(
        &fixture("sample-sim-batch.csv"),
        &[
            "--set",
            "model=CUSTOM/LTE_Dongle",
            "--set",
            "connection=my MQTT application",
            "--set",
            "plan=Cellular CP",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(rows.len(), 100);
    for row in &rows {
        assert_eq!(row["kind"], "cellular");
        assert_eq!(row["id"].as_str().unwrap().len(), 19);
        // Only the IMSI (16 digits in this file) is wrong: every ICCID passes length and Luhn.
        assert_eq!(codes(row), [pair("imsi", "length")]);
    }
}

#[test]
fn unusable_files_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (PathBuf::from(fixture("pass_protected.xlsx")), vec![]),
        (empty, vec![]),
        (dir.path().join("missing.csv"), vec![]),
        (
            PathBuf::from("sample-data/otaa-shipment.xlsx"),
            vec!["--sheet", "no such sheet"],
        ),
    ];
    for (file, extra) in cases {
        let mut args = vec!["validate", file.to_str().unwrap()];
        args.extend(extra);
        let out = tpbulk(&args);
        assert_eq!(out.status.code(), Some(2), "{}", file.display());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&*file.to_string_lossy()), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// Writes a workbook whose identifier cells are numbers, the way Excel saves them when the column is General.
fn numeric_workbook(path: &Path) {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let header = [
        "IMEI",
        "ICCID",
        "DevEUI",
        "Model",
        "Connection",
        "Connectivity plan",
    ];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let text = Format::new().set_num_format("@");
    let rest = |sheet: &mut rust_xlsxwriter::Worksheet, r: u32| {
        sheet.write_string(r, 3, "CUSTOM/LTE_Dongle").unwrap();
        sheet.write_string(r, 4, "my MQTT application").unwrap();
        sheet.write_string(r, 5, "Cellular CP").unwrap();
    };
    // Row 2: a 15-digit IMEI as a number is exact; the ICCID as text.
    sheet.write_number(1, 0, 490154203237518.0).unwrap();
    sheet
        .write_string_with_format(1, 1, "89208013535718672291", &text)
        .unwrap();
    rest(sheet, 1);
    // Row 3: a 20-digit ICCID stored as a number has lost its last digits.
    sheet.write_number(2, 0, 123456789012347.0).unwrap();
    sheet.write_number(2, 1, 89208013535718672291.0).unwrap();
    rest(sheet, 2);
    // Row 4: an IMEI that began with 0 lost it (14 digits that still pass Luhn).
    sheet.write_number(3, 0, 49015420323751.0).unwrap();
    rest(sheet, 3);
    // Row 5: a LoRaWAN DevEUI of digits only, read as a number.
    sheet.write_number(4, 2, 1111111111111110.0).unwrap();
    sheet.write_string(4, 3, "SMTC/LoRaMoteA.1_EU").unwrap();
    sheet.write_string(4, 4, "my MQTT application").unwrap();
    workbook.save(path).unwrap();
}

#[test]
fn numeric_spreadsheet_cells_are_damage_unless_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("numbers.xlsx");
    numeric_workbook(&path);
    let (code, rows) = validate_jsonl(path.to_str().unwrap(), &[]);
    assert_eq!(code, 1);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["status"], "valid", "{}", rows[0]);
    assert_eq!(rows[0]["id"], "490154203237518");
    assert_eq!(codes(&rows[1]), [pair("iccid", "excel_damage")]);
    let message = rows[1]["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("8.92080135357187E+19"), "{message}");
    assert!(message.contains("Text"), "{message}");
    assert_eq!(codes(&rows[2]), [pair("imei", "excel_damage")]);
    assert!(
        rows[2]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("leading zeros")
    );
    // Row 5 has no AppKey column value, so the --kind decides; the DevEUI number is damage whatever the kind.
    let (_, rows) = validate_jsonl(path.to_str().unwrap(), &["--kind", "abp"]);
    assert!(codes(&rows[3]).contains(&pair("dev_eui", "excel_damage")));
}

#[test]
fn scientific_notation_in_a_csv_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("excel-export.csv");
    std::fs::write(
        &path,
        "IMEI;ICCID;Model;Connection;Connectivity plan\r\n\
         123456789012347;8.92080135357187E+19;CUSTOM/LTE_Dongle;my MQTT application;Cellular CP\r\n\
         490154203237518;89208013535718700000;CUSTOM/LTE_Dongle;my MQTT application;Cellular CP\r\n",
    )
    .unwrap();
    let (code, rows) = validate_jsonl(path.to_str().unwrap(), &[]);
    assert_eq!(code, 1);
    assert_eq!(codes(&rows[0]), [pair("iccid", "excel_damage")]);
    // Written back as digits, the rounded ICCID fails Luhn.
    assert_eq!(codes(&rows[1]), [pair("iccid", "luhn")]);
}
