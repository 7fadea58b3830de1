//! Reports, rework files and the read commands (`status`, `batches`, `report`, `rework`), on journals built through
//! the library API from real input files: what comes out is parsed back and compared by meaning.

use std::path::{Path, PathBuf};
use std::process::Command;
use tpbulk::device::{ErrorCode, RowError};
use tpbulk::input::{Cell, InputOptions, SourceFormat, Table, TextEncoding};
use tpbulk::journal::{BatchState, Journal, NewBatch, NewRow, Outcome, RowState};
use tpbulk::report::{ReportFormat, ReportLine, write_report, write_rework};

/// Key material of the input rows: none of it may reach a report.
const KEYS: [&str; 5] = [
    "2B7E151628AED2A6ABF7158809CF4F3C",
    "000102030405060708090A0B0C0D0E0F",
    "F0E1D2C3B4A5968778695A4B3C2D1E0F",
    "11111111222222223333333344444444",
    "A1B2C3D4E5F60718293A4B5C6D7E8F90",
];

/// The shipments' DevEUIs: the second is too short, so its row ends invalid.
const EUIS: [&str; 5] = [
    "70B3D57ED0000001",
    "70B3D57ED00000",
    "70B3D57ED0000003",
    "70B3D57ED0000004",
    "70B3D57ED0000005",
];

fn shipment_csv(dir: &Path) -> PathBuf {
    let path = dir.join("shipment.csv");
    let mut text = String::from("\u{feff}DevEUI;AppKey;Model;Name\r\n");
    for (i, (eui, key)) in EUIS.iter().zip(KEYS).enumerate() {
        text.push_str(&format!("{eui};{key};LORA/Generic;Capteur n°{}\r\n", i + 1));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn shipment_xlsx(dir: &Path) -> PathBuf {
    let path = dir.join("shipment.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Devices").unwrap();
    for (c, h) in ["DevEUI", "AppKey", "Model", "Name", "Batch"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (i, (eui, key)) in EUIS.iter().zip(KEYS).enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, *eui).unwrap();
        sheet.write_string(r, 1, key).unwrap();
        sheet.write_string(r, 2, "LORA/Generic").unwrap();
        sheet
            .write_string(r, 3, format!("sensor {}", i + 1))
            .unwrap();
        sheet.write_number(r, 4, 42.0).unwrap();
    }
    workbook.save(&path).unwrap();
    path
}

/// [`journal_for`] into `j.db` beside the input, opened again, and the batch.
fn journalled(input: &Path) -> (Journal, tpbulk::journal::BatchInfo) {
    let journal_path = input.with_file_name("j.db");
    let id = journal_for(input, &journal_path);
    let journal = Journal::open_existing(&journal_path).unwrap();
    let batch = journal.batch(&id).unwrap().unwrap();
    (journal, batch)
}

/// Journals a batch of the file as an import would leave it: the first data row created, the second invalid, the
/// third failed with the platform's answer, the fourth already there, the fifth still pending.
fn journal_for(input: &Path, journal_path: &Path) -> String {
    let mut table = Table::open(input, &InputOptions::default()).unwrap();
    let mut journal = Journal::open(journal_path).unwrap();
    let batch = journal
        .create_batch(&NewBatch {
            name: Some("shipment-42".into()),
            input_path: input.display().to_string(),
            input_sha256: tpbulk::input::sha256_file(input).unwrap(),
            format: table.format.clone(),
            columns: table.columns.clone(),
            input_columns: None,
            options: serde_json::json!({"rate": 10.0}),
            profile: None,
        })
        .unwrap();
    let records: Vec<_> = table.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 5);
    let rows: Vec<NewRow> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let eui = r.cells[0].display();
            let key = r.cells[1].display();
            let state = if i == 1 {
                RowState::Invalid
            } else {
                RowState::Pending
            };
            NewRow {
                row: r.row,
                action: tpbulk::journal::Action::Create,
                device_uid: None,
                previous: None,
                message: None,
                kind: Some(tpbulk::device::Kind::Otaa),
                id: Some(eui.clone()),
                name: Some(r.cells[3].display()),
                state,
                request: Some(format!(r#"{{"EUI":"{eui}","appKey":"{key}"}}"#)),
                errors: if i == 1 {
                    vec![
                        RowError {
                            field: "dev_eui".into(),
                            column: "DevEUI".into(),
                            code: ErrorCode::Length,
                            message: "14 hex digits, expected 16".into(),
                        },
                        RowError {
                            field: "connection".into(),
                            column: String::new(),
                            code: ErrorCode::Missing,
                            message: "no connection (add a column or --set connection=…)".into(),
                        },
                    ]
                } else {
                    vec![]
                },
                device_href: None,
                device_eui: None,
                keys: tpbulk::device::LookupKeys {
                    eui: Some(eui.clone()),
                    ..Default::default()
                },
            }
        })
        .collect();
    let row_of = |i: usize| records[i].row;
    journal.insert_rows(&batch, rows).unwrap();
    journal
        .set_row_state(&batch, row_of(0), RowState::Sending)
        .unwrap();
    journal
        .record_outcomes(
            &batch,
            [
                Outcome {
                    row: row_of(0),
                    state: RowState::Done,
                    // Its request was counted when it was marked `sending` above.
                    attempts: 0,
                    http_status: Some(201),
                    error_code: None,
                    message: None,
                    device_href: Some(
                        "/thingpark/wireless/rest/subscriptions/32/devices/2227".into(),
                    ),
                    device_uid: Some("2227".into()),
                    device_eui: Some("70B3D57ED0000001".into()),
                },
                Outcome {
                    row: row_of(2),
                    state: RowState::Failed,
                    attempts: 1,
                    http_status: Some(400),
                    error_code: Some("BAD_REQUEST".into()),
                    // A platform that echoes the key must not leak it into the report.
                    message: Some(format!("invalid appKey {}", KEYS[2])),
                    device_href: None,
                    device_uid: None,
                    device_eui: None,
                },
                Outcome {
                    row: row_of(3),
                    state: RowState::Exists,
                    attempts: 0,
                    http_status: None,
                    error_code: None,
                    message: Some("already on the platform".into()),
                    device_href: Some(
                        "/thingpark/wireless/rest/subscriptions/32/devices/3054".into(),
                    ),
                    device_uid: Some("3054".into()),
                    device_eui: None,
                },
            ],
        )
        .unwrap();
    journal.set_batch_state(&batch, BatchState::Done).unwrap();
    batch
}

fn assert_no_keys(text: &str) {
    for key in KEYS {
        assert!(!text.contains(key), "key material in output: {text}");
    }
}

fn check_lines(lines: &[ReportLine]) {
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines.iter().map(|l| l.row).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6]
    );
    let statuses: Vec<&str> = lines.iter().map(|l| l.status.as_str()).collect();
    assert_eq!(
        statuses,
        vec!["created", "invalid", "failed", "exists", "pending"]
    );
    assert!(lines.iter().all(|l| l.action == "create"), "{lines:?}");
    assert_eq!(lines[0].http_status, Some(201));
    assert_eq!(
        lines[0].device.as_deref(),
        Some("/thingpark/wireless/rest/subscriptions/32/devices/2227")
    );
    assert_eq!(lines[0].attempts, 1);
    assert!(lines[0].finished_at.is_some());
    assert_eq!(lines[0].kind.as_deref(), Some("otaa"));
    assert_eq!(lines[0].id.as_deref(), Some("70B3D57ED0000001"));
    assert_eq!(lines[0].name.as_deref(), Some("Capteur n°1"));
    let invalid = lines[1].message.as_deref().unwrap();
    assert!(invalid.contains("DevEUI: 14 hex digits"), "{invalid}");
    assert!(invalid.contains("connection: no connection"), "{invalid}");
    assert_eq!(lines[1].error_code.as_deref(), Some("length,missing"));
    assert_eq!(lines[2].http_status, Some(400));
    assert_eq!(lines[2].error_code.as_deref(), Some("BAD_REQUEST"));
    assert!(
        lines[2]
            .message
            .as_deref()
            .unwrap()
            .starts_with("invalid appKey ****")
    );
    assert_eq!(lines[4].finished_at, None);
}

#[test]
fn report_in_csv_jsonl_and_xlsx() {
    let dir = tempfile::tempdir().unwrap();
    let input = shipment_csv(dir.path());
    let journal_path = dir.path().join("j.db");
    let batch = journal_for(&input, &journal_path);
    let journal = Journal::open_existing(&journal_path).unwrap();

    let csv_path = dir.path().join("report.csv");
    assert_eq!(
        write_report(&journal, &batch, &csv_path, ReportFormat::Csv).unwrap(),
        5
    );
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert_no_keys(&text);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        tpbulk::report::REPORT_COLUMNS.to_vec()
    );
    let lines: Vec<ReportLine> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let opt = |i: usize| Some(r[i].to_string()).filter(|s| !s.is_empty());
            ReportLine {
                row: r[0].parse().unwrap(),
                kind: opt(1),
                id: opt(2),
                name: opt(3),
                status: r[4].to_string(),
                http_status: opt(5).map(|s| s.parse().unwrap()),
                error_code: opt(6),
                message: opt(7),
                device: opt(8),
                attempts: r[9].parse().unwrap(),
                finished_at: opt(10),
                rollback: opt(11),
                action: r[12].to_string(),
            }
        })
        .collect();
    check_lines(&lines);

    let jsonl_path = dir.path().join("report.jsonl");
    write_report(&journal, &batch, &jsonl_path, ReportFormat::Jsonl).unwrap();
    let text = std::fs::read_to_string(&jsonl_path).unwrap();
    assert_no_keys(&text);
    let lines: Vec<ReportLine> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    check_lines(&lines);

    let xlsx_path = dir.path().join("report.xlsx");
    write_report(&journal, &batch, &xlsx_path, ReportFormat::Xlsx).unwrap();
    use calamine::{Data, Reader, open_workbook_auto};
    let mut workbook = open_workbook_auto(&xlsx_path).unwrap();
    let range = workbook.worksheet_range("report").unwrap();
    let rows: Vec<Vec<String>> = range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0], tpbulk::report::REPORT_COLUMNS.map(String::from));
    assert_eq!(rows[1][4], "created");
    assert_eq!(range.get((1, 5)), Some(&Data::Float(201.0)));
    assert_eq!(rows[2][4], "invalid");
    assert!(rows[2][7].contains("DevEUI: 14 hex digits"));
    assert_eq!(rows[3][6], "BAD_REQUEST");
    assert_no_keys(&format!("{rows:?}"));
}

#[test]
fn rework_of_a_semicolon_csv_with_a_bom() {
    let dir = tempfile::tempdir().unwrap();
    let input = shipment_csv(dir.path());
    let (journal, batch) = journalled(&input);
    assert_eq!(
        batch.format,
        SourceFormat::Csv {
            delimiter: b';',
            encoding: TextEncoding::Utf8Bom
        }
    );

    let out = dir.path().join("rework.csv");
    let summary = write_rework(&journal, &batch, &out).unwrap();
    assert_eq!(summary.rows, 2);
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "BOM kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the rework file holds keys");
    }

    // The rework file reads back through the input stage like the original did.
    let mut table = Table::open(&out, &InputOptions::default()).unwrap();
    assert_eq!(table.format, batch.format);
    let headers: Vec<&str> = table.columns.iter().map(|c| c.header.as_str()).collect();
    assert_eq!(headers, vec!["DevEUI", "AppKey", "Model", "Name", "error"]);
    let rows: Vec<_> = table.records().map(|r| r.unwrap().cells).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], Cell::Text("70B3D57ED00000".into()));
    assert_eq!(
        rows[0][1],
        Cell::Text(KEYS[1].into()),
        "keys kept to re-import"
    );
    assert_eq!(rows[0][3], Cell::Text("Capteur n°2".into()));
    let why = rows[0][4].display();
    assert!(why.contains("DevEUI: 14 hex digits"), "{why}");
    assert_eq!(rows[1][0], Cell::Text("70B3D57ED0000003".into()));
    let why = rows[1][4].display();
    assert!(
        why.starts_with("HTTP 400 BAD_REQUEST: invalid appKey ****"),
        "{why}"
    );
}

#[test]
fn rework_of_an_xlsx_keeps_identifiers_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let input = shipment_xlsx(dir.path());
    let (journal, batch) = journalled(&input);

    let wrong = write_rework(&journal, &batch, &dir.path().join("rework.csv")).unwrap_err();
    assert!(wrong.downcast_ref::<tpbulk::error::UsageError>().is_some());

    let out = dir.path().join("rework.xlsx");
    assert_eq!(write_rework(&journal, &batch, &out).unwrap().rows, 2);

    use calamine::{Data, Reader, open_workbook_auto};
    let mut workbook = open_workbook_auto(&out).unwrap();
    assert_eq!(workbook.sheet_names(), vec!["Devices".to_string()]);
    let range = workbook.worksheet_range("Devices").unwrap();
    let rows: Vec<&[Data]> = range.rows().collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0].iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        vec!["DevEUI", "AppKey", "Model", "Name", "Batch", "error"]
    );
    assert_eq!(rows[1][0], Data::String("70B3D57ED00000".into()));
    assert_eq!(rows[1][1], Data::String(KEYS[1].into()));
    assert_eq!(rows[1][4], Data::Float(42.0), "other cells keep their type");
    assert!(rows[1][5].to_string().contains("DevEUI: 14 hex digits"));
    assert_eq!(rows[2][0], Data::String("70B3D57ED0000003".into()));
    assert!(rows[2][5].to_string().contains("HTTP 400"));
}

#[test]
fn rework_refuses_a_changed_or_missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = shipment_csv(dir.path());
    let (journal, batch) = journalled(&input);
    let out = dir.path().join("rework.csv");

    let mut text = std::fs::read_to_string(&input).unwrap();
    text.push_str("70B3D57ED0000009;00;LORA/Generic;x\r\n");
    std::fs::write(&input, text).unwrap();
    let err = write_rework(&journal, &batch, &out).unwrap_err();
    assert!(err.downcast_ref::<tpbulk::error::UsageError>().is_some());
    assert!(err.to_string().contains("changed since batch"), "{err}");

    std::fs::remove_file(&input).unwrap();
    let err = write_rework(&journal, &batch, &out).unwrap_err();
    assert!(err.to_string().contains("shipment.csv"), "{err}");
    assert!(!out.exists());
}

fn tpbulk(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tpbulk"))
        .args(args)
        .env_remove("TPBULK_JOURNAL")
        .output()
        .unwrap()
}

#[test]
fn status_batches_and_report_commands() {
    let dir = tempfile::tempdir().unwrap();
    let input = shipment_csv(dir.path());
    let journal_path = dir.path().join("j.db");
    let batch = journal_for(&input, &journal_path);
    let j = journal_path.to_str().unwrap();

    let out = tpbulk(&["status", "--journal", j, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = serde_json::json!({
        "batch": batch, "name": "shipment-42", "state": "done", "total": 5, "created": 1,
        "exists": 1, "invalid": 1, "failed": 1, "pending": 1, "deleted": 0, "url": null, "profile": null,
        "input": input.display().to_string(),
    });
    // Keys are only ever added: each of these keeps its value (the times are the journal's own).
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&status[key], value, "{key}: {status}");
    }

    let out = tpbulk(&["status", &batch, "--journal", j]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("batch {batch} \"shipment-42\": done")),
        "{text}"
    );

    let out = tpbulk(&["batches", "--journal", j]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells[0], batch);
    assert_eq!(
        &cells[cells.len() - 8..],
        &["5", "1", "1", "0", "0", "1", "1", "1"]
    );

    let report = dir.path().join("out.jsonl");
    let out = tpbulk(&["report", "--journal", j, "-o", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<ReportLine> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    check_lines(&lines);

    let rework = dir.path().join("fix.csv");
    let out = tpbulk(&["rework", "--journal", j, "-o", rework.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote 2 row(s)"));

    let out = tpbulk(&["status", "nope", "--journal", j]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn read_commands_never_create_a_journal() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let m = missing.to_str().unwrap();
    let report = dir.path().join("r.csv");
    for args in [
        vec!["status", "--journal", m],
        vec!["batches", "--journal", m],
        vec!["report", "--journal", m, "-o", report.to_str().unwrap()],
        vec!["rework", "--journal", m, "-o", report.to_str().unwrap()],
    ] {
        let out = tpbulk(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("missing.db: no such journal"), "{err}");
        assert!(!missing.exists());
    }
}

#[test]
fn rework_of_thingpark_positional_csv_comments_each_row() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tp-import.csv");
    let mut text = String::from("# exported for ThingPark\n");
    for (i, (eui, key)) in EUIS.iter().zip(KEYS).enumerate() {
        text.push_str(&format!(
            "CREATE_OTAA,{eui},,LORA/Generic,70B3D57ED0000000,{key},,,,,sensor {}\n",
            i + 1
        ));
    }
    std::fs::write(&input, text).unwrap();
    let (journal, batch) = journalled(&input);
    assert!(matches!(batch.format, SourceFormat::ThingparkCsv { .. }));

    let out = dir.path().join("rework.csv");
    assert_eq!(write_rework(&journal, &batch, &out).unwrap().rows, 2);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("# row 3: DevEUI: 14 hex digits"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("CREATE_OTAA,70B3D57ED00000,"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("# row 4: HTTP 400 BAD_REQUEST"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("CREATE_OTAA,70B3D57ED0000003,"),
        "{text}"
    );

    // Still ThingPark's format, and the comments are skipped when it is read again.
    let mut table = Table::open(&out, &InputOptions::default()).unwrap();
    assert_eq!(table.format, batch.format);
    let rows: Vec<_> = table.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].cells[1], Cell::Text("70B3D57ED00000".into()));
    assert_eq!(rows[1].cells[5], Cell::Text(KEYS[2].into()));
}

#[test]
fn rework_of_utf16_tab_text_is_written_back_in_utf16() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unicode.txt");
    let mut text = String::from("DevEUI\tAppKey\tModel\tName\r\n");
    for (i, (eui, key)) in EUIS.iter().zip(KEYS).enumerate() {
        text.push_str(&format!(
            "{eui}\t{key}\tLORA/Generic\tCapteur n°{}\r\n",
            i + 1
        ));
    }
    // Excel's "Unicode text": UTF-16 LE with a BOM, tab-separated.
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    std::fs::write(&input, bytes).unwrap();
    let (journal, batch) = journalled(&input);
    assert_eq!(
        batch.format,
        SourceFormat::Csv {
            delimiter: b'\t',
            encoding: TextEncoding::Utf16Le
        }
    );

    let out = dir.path().join("rework.txt");
    assert_eq!(write_rework(&journal, &batch, &out).unwrap().rows, 2);
    assert!(std::fs::read(&out).unwrap().starts_with(&[0xFF, 0xFE]));
    let mut table = Table::open(&out, &InputOptions::default()).unwrap();
    assert_eq!(table.format, batch.format);
    let first = table.next_record().unwrap().unwrap();
    assert_eq!(first.cells[3], Cell::Text("Capteur n°2".into()));
    assert!(first.cells[4].display().contains("DevEUI: 14 hex digits"));
    assert_eq!(
        table.next_record().unwrap().unwrap().cells[0],
        Cell::Text("70B3D57ED0000003".into())
    );
    assert!(table.next_record().is_none());
}

#[test]
fn status_of_a_killed_run_says_interrupted_and_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let input = shipment_csv(dir.path());
    let journal_path = dir.path().join("j.db");
    let batch = journal_for(&input, &journal_path);
    let mut journal = Journal::open(&journal_path).unwrap();
    journal
        .set_batch_state(&batch, BatchState::Running)
        .unwrap();
    drop(journal);
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    rusqlite::Connection::open(&journal_path)
        .unwrap()
        .execute(
            "UPDATE batches SET runner_pid = ?1",
            rusqlite::params![dead],
        )
        .unwrap();
    let j = journal_path.to_str().unwrap();

    let out = tpbulk(&["status", "--journal", j, "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["state"], "interrupted");
    assert_eq!(status["pending"], 1);
    let out = tpbulk(&["status", "--journal", j]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(": interrupted"), "{text}");
    assert!(
        text.contains(&format!("resume with: tpbulk resume {batch}")),
        "{text}"
    );
    let out = tpbulk(&["batches", "--journal", j]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().nth(1).unwrap().contains(" interrupted "),
        "{text}"
    );
}

#[test]
fn neither_report_nor_rework_overwrites_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = shipment_csv(dir.path());
    let journal_path = dir.path().join("j.db");
    journal_for(&input, &journal_path);
    let before = std::fs::read(&input).unwrap();
    let j = journal_path.to_str().unwrap();
    // Reached through another spelling of the same path.
    let same = dir.path().join(".").join("shipment.csv");
    for command in ["rework", "report"] {
        let out = tpbulk(&[command, "--journal", j, "-o", same.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{command}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("that is the input file"), "{err}");
        assert_eq!(
            std::fs::read(&input).unwrap(),
            before,
            "{command} kept the input"
        );
    }
}
