//! The input stage on real vendor files (tests/fixtures) and on files these tests write: formats, encodings,
//! delimiters, header detection and aliases, row numbers, `--mapping`, `--set`, and the refusals.

use std::path::{Path, PathBuf};
use tpbulk::cli::InputArgs;
use tpbulk::input::{
    Cell, Field, InputError, InputOptions, MappedRow, Record, SheetKind, SourceFormat, Table,
    TextEncoding, sha256_file,
};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

fn open(path: &Path) -> Table {
    open_with(path, &InputOptions::default())
}

fn open_with(path: &Path, options: &InputOptions) -> Table {
    Table::open(path, options).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn records(table: &mut Table) -> Vec<Record> {
    table.records().map(|r| r.unwrap()).collect()
}

fn first_mapped(table: &mut Table) -> MappedRow {
    let record = table.next_record().unwrap().unwrap();
    table.map(&record)
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// The field's cell as text, and the column it came from.
fn value(row: &MappedRow, field: Field) -> (String, String) {
    let v = row
        .get(field)
        .unwrap_or_else(|| panic!("row {}: no {}", row.row, field.name()));
    (v.cell.display(), v.column.to_string())
}

fn fields(table: &Table) -> Vec<(String, Option<Field>)> {
    table
        .columns
        .iter()
        .map(|c| (c.header.clone(), c.field))
        .collect()
}

fn unusable_message(path: &Path, options: &InputOptions) -> String {
    match Table::open(path, options) {
        Err(e @ InputError::Unusable { .. }) => e.to_string(),
        Err(e) => panic!("{}: expected Unusable, got {e:?}", path.display()),
        Ok(_) => panic!("{}: expected Unusable, it opened", path.display()),
    }
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn args(file: &Path) -> InputArgs {
    InputArgs {
        file: file.to_path_buf(),
        sheet: None,
        mapping: None,
        set: Vec::new(),
        kind: None,
        columns: None,
    }
}

fn mapping(pairs: &[(&str, Field)]) -> InputOptions {
    InputOptions {
        mapping: pairs.iter().map(|(h, f)| (h.to_string(), *f)).collect(),
        ..InputOptions::default()
    }
}

#[test]
fn aws_file_with_bom_crlf_semicolons_and_no_final_newline() {
    let path = fixture("aws-iot-core-lorawan/example_device_list.csv");
    let mut table = open(&path);
    assert_eq!(
        table.format,
        SourceFormat::Csv {
            delimiter: b';',
            encoding: TextEncoding::Utf8Bom
        }
    );
    assert_eq!(table.header_row, Some(1));
    let got = fields(&table);
    assert_eq!(got[0], ("Type".to_string(), None));
    assert_eq!(got[1], ("DevEui".to_string(), Some(Field::DevEui)));
    assert_eq!(got[2], ("AppKey".to_string(), Some(Field::AppKey)));
    assert_eq!(got[3], ("AppEui".to_string(), Some(Field::JoinEui)));
    assert_eq!(got[4], ("DeviceProfileId".to_string(), Some(Field::Model)));
    assert_eq!(
        got[6],
        ("DestinationName".to_string(), Some(Field::Connection))
    );
    assert_eq!(got[8], ("Name".to_string(), Some(Field::Name)));
    let rows = records(&mut table);
    let numbers: Vec<u64> = rows.iter().map(|r| r.row).collect();
    assert_eq!(numbers, (2..2 + rows.len() as u64).collect::<Vec<_>>());
    assert!(rows.len() >= 3);
    let first = table.map(&rows[0]);
    assert_eq!(first.row, 2);
    assert_eq!(
        value(&first, Field::DevEui),
        ("BBBBBC050055C627".into(), "DevEui".into())
    );
    assert_eq!(value(&first, Field::JoinEui).0, "BBBBBC0000000000");
    // The last line has no newline and its cells no stray `\r`.
    let last = rows.last().unwrap();
    assert_eq!(last.cells.len(), 10);
    for cell in &last.cells {
        assert!(!cell.display().contains('\r'), "{cell:?}");
    }
}

#[test]
fn aws_initial_release_header_has_no_bom_left() {
    let mut table = open(&fixture(
        "aws-iot-core-lorawan/devices_list.initial_release.csv",
    ));
    assert_eq!(table.columns[0].header, "DevEui");
    assert_eq!(table.columns[0].field, Some(Field::DevEui));
    let rows = records(&mut table);
    assert_eq!(rows[0].row, 2);
    assert_eq!(rows[0].cells[0], text("BBBBBC050055C627"));
}

#[test]
fn the_things_stack_csvs() {
    let mut table = open(&fixture("lorawan-stack-devicetemplates/appeui.csv"));
    assert_eq!(
        fields(&table)[0],
        ("app_eui".to_string(), Some(Field::JoinEui))
    );
    let row = first_mapped(&mut table);
    assert_eq!(value(&row, Field::JoinEui).0, "1111111111111111");
    assert_eq!(value(&row, Field::DevEui).0, "2222222222222222");

    let mut table = open(&fixture(
        "lorawan-stack-devicetemplates/comma_separated.csv",
    ));
    assert!(matches!(
        table.format,
        SourceFormat::Csv {
            delimiter: b',',
            ..
        }
    ));
    let rows = records(&mut table);
    assert_eq!(rows.len(), 3);
    let third = table.map(&rows[2]);
    assert_eq!(third.row, 4);
    assert_eq!(
        value(&third, Field::NwkKey).0,
        "01020304050607080102030405060708"
    );
    assert!(third.get(Field::Name).is_none(), "`id` is not mapped");

    let table = open(&fixture("lorawan-stack-devicetemplates/extra_columns.csv"));
    assert_eq!(
        fields(&table),
        [
            ("extra0".to_string(), None),
            ("dev_eui".to_string(), Some(Field::DevEui)),
            ("extra1".to_string(), None),
            ("extra2".to_string(), None),
        ]
    );

    let mut table = open(&fixture("lorawan-stack-devicetemplates/all_columns.csv"));
    let row = first_mapped(&mut table);
    assert_eq!(value(&row, Field::DevAddr).0, "01020304");
    assert_eq!(
        value(&row, Field::NwkSKey).1,
        "f_nwk_s_int_key",
        "LoRaWAN 1.1's FNwkSIntKey is ThingPark's NwkSKey"
    );
    assert_eq!(value(&row, Field::Name).0, "Device 1");

    let mut table = open(&fixture("lorawan-stack-devicetemplates/invalid_deveui.csv"));
    let rows: Vec<(u64, Cell)> = records(&mut table)
        .into_iter()
        .map(|r| (r.row, r.cells[0].clone()))
        .collect();
    assert_eq!(
        rows,
        [
            (2, text("invalid")),
            (3, text("2222222222222222")),
            (4, text("3333333333333333"))
        ]
    );

    for name in [
        "generate_device_id.csv",
        "with_version_id.csv",
        "without_version_id.csv",
    ] {
        let mut table = open(&fixture(&format!("lorawan-stack-devicetemplates/{name}")));
        assert_eq!(table.header_row, Some(1));
        let row = first_mapped(&mut table);
        assert_eq!(row.row, 2);
        assert!(row.get(Field::DevEui).is_some(), "{name}");
    }
}

#[test]
fn js_ttn_quoted_commas_and_utf8() {
    let mut table = open(&fixture("js-ttn-device-manager/import.sample.csv"));
    assert_eq!(
        table.format,
        SourceFormat::Csv {
            delimiter: b',',
            encoding: TextEncoding::Utf8
        }
    );
    let rows = records(&mut table);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row, 2);
    assert_eq!(rows[0].cells[0], text("Tábor, Zavadilská, 2842"));
    assert_eq!(rows[0].cells.len(), 10);
    let row = table.map(&rows[0]);
    assert_eq!(
        value(&row, Field::DevEui),
        ("4768B2690030003D".into(), "DEVEUI".into())
    );
    assert_eq!(value(&row, Field::DevAddr).0, "0147097F");
    assert_eq!(value(&row, Field::NwkSKey).1, "NWKSKEY");
    assert_eq!(value(&row, Field::AppSKey).1, "APPSKEY");
    assert_eq!(value(&row, Field::Model).0, "LR-MU-CIT-TARIF2-IP65");
}

#[test]
fn ostelco_sim_batches() {
    let mut table = open(&fixture("ostelco/sample-sim-batch-for-sm-dp+.csv"));
    assert_eq!(
        fields(&table),
        [
            ("IMSI".to_string(), Some(Field::Imsi)),
            ("ICCID".to_string(), Some(Field::Iccid)),
            ("PROFILE".to_string(), None),
        ]
    );
    let rows = records(&mut table);
    let first = table.map(&rows[0]);
    assert_eq!(
        value(&first, Field::Iccid),
        ("8901000000000000001".into(), "ICCID".into())
    );
    assert_eq!(rows.last().unwrap().row, rows.len() as u64 + 1);

    let mut table = open(&fixture("ostelco/sample-sim-batch.csv"));
    let rows = records(&mut table);
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[99].row, 101);
    // Empty PIN cells are empty, not missing.
    assert_eq!(rows[0].cells.len(), 8);
    assert_eq!(rows[0].cells[3], Cell::Empty);
}

#[test]
fn password_protected_workbook_is_refused_clearly() {
    let path = fixture("calamine/pass_protected.xlsx");
    let message = unusable_message(&path, &InputOptions::default());
    assert!(message.contains("pass_protected.xlsx"), "{message}");
    assert!(message.contains("password-protected"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn old_xls_workbooks_are_read_whatever_their_extension_says() {
    let path = fixture("xls/devices.xls");
    let mut table = open(&path);
    assert_eq!(
        table.format,
        SourceFormat::Spreadsheet {
            kind: SheetKind::Xls,
            sheet: "Shipment".into()
        }
    );
    let rows = records(&mut table);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2].row, 4);
    assert_eq!(
        value(&table.map(&rows[0]), Field::DevEui),
        ("70B3D5E756000001".into(), "DevEUI".into())
    );

    // An .xls saved under an .xlsx name (a common rename) is a compound file, not a zip: it is read as what it is.
    let dir = tempfile::tempdir().unwrap();
    let renamed = write(&dir, "devices.xlsx", &std::fs::read(&path).unwrap());
    let mut table = open(&renamed);
    let renamed_rows = records(&mut table);
    assert_eq!(renamed_rows, rows);
}

#[test]
fn damaged_compound_files_are_refused_at_once() {
    // Found by the `xlsx_input` fuzz target: calamine follows this file's sector chains without end. The `cfb`
    // crate checks the chains first, so the refusal is immediate and names the file.
    let path = fixture("fuzz-calamine-cfb-chain.xlsx");
    let message = unusable_message(&path, &InputOptions::default());
    assert!(
        message.contains("fuzz-calamine-cfb-chain.xlsx"),
        "{message}"
    );
    assert!(message.contains("damaged"), "{message}");

    // Found by the same target from the .xls seed: a sheet whose DIMENSIONS record claims 402,653,184 cells, for
    // which calamine reserves memory before reading a cell (a record claiming more aborts the process).
    let path = fixture("fuzz-calamine-xls-dimensions.xls");
    let message = unusable_message(&path, &InputOptions::default());
    assert!(
        message.contains("fuzz-calamine-xls-dimensions.xls"),
        "{message}"
    );
    assert!(
        message.contains("damaged") && message.contains("402653184 cells"),
        "{message}"
    );

    // Two stray cells far apart: calamine lays the .xls sheet out densely as it opens the workbook (1 GiB here).
    let path = fixture("xls/stray-cells.xls");
    let message = unusable_message(&path, &InputOptions::default());
    assert!(
        message.contains("25 cells are spread over 16777216 cells")
            && message.contains("stray cells"),
        "{message}"
    );

    // A compound file without a workbook (a Word document, say) is not taken for a spreadsheet.
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("notes.xls");
    let mut compound = cfb::create(&doc).unwrap();
    std::io::Write::write_all(
        &mut compound.create_stream("WordDocument").unwrap(),
        b"text",
    )
    .unwrap();
    compound.flush().unwrap();
    drop(compound);
    let message = unusable_message(&doc, &InputOptions::default());
    assert!(
        message.contains("notes.xls") && message.contains("not a spreadsheet"),
        "{message}"
    );
}

#[test]
fn header_below_row_one_keeps_sheet_row_numbers() {
    // The used range starts at row 3 (a note); the header is on row 9.
    let options = mapping(&[("Column A", Field::DevEui)]);
    let mut table = open_with(&fixture("calamine/header-row.xlsx"), &options);
    assert_eq!(table.header_row, Some(9));
    assert_eq!(
        table.format,
        SourceFormat::Spreadsheet {
            kind: SheetKind::Xlsx,
            sheet: "Sheet1".into()
        }
    );
    let rows = records(&mut table);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row, 10);
    assert_eq!(rows[0].cells[0], text("put data here"));
    let row = table.map(&rows[0]);
    assert_eq!(row.get(Field::DevEui).unwrap().cell, Cell::Float(1.0));
    assert_eq!(&*row.get(Field::DevEui).unwrap().column, "Column A");
}

#[test]
fn sheets_without_a_header_or_data_are_refused() {
    let message = unusable_message(
        &fixture("calamine/empty_sheet.xlsx"),
        &InputOptions::default(),
    );
    assert!(
        message.contains("empty_sheet.xlsx") && message.contains("no sheet holds any data"),
        "{message}"
    );

    let message = unusable_message(
        &fixture("calamine/header-row.xlsx"),
        &InputOptions::default(),
    );
    assert!(
        message.contains("sheet \"Sheet1\": no header found"),
        "{message}"
    );
    assert!(message.contains("--mapping"), "{message}");

    let message = unusable_message(
        &fixture("calamine/no-header.xlsx"),
        &InputOptions::default(),
    );
    assert!(message.contains("no header found"), "{message}");
}

#[test]
fn error_cells_stay_errors() {
    // An error cell never names a column by itself (`#NAME?` is not `Name`).
    let message = unusable_message(&fixture("calamine/errors.xlsx"), &InputOptions::default());
    assert!(message.contains("no header found"), "{message}");

    let options = mapping(&[("#DIV/0!", Field::DevEui)]);
    let mut table = open_with(&fixture("calamine/errors.xlsx"), &options);
    assert_eq!(table.header_row, Some(1));
    let cells: Vec<(u64, Cell)> = records(&mut table)
        .into_iter()
        .map(|r| (r.row, r.cells[0].clone()))
        .collect();
    assert_eq!(cells[0], (2, Cell::Error("#NAME?".into())));
    assert_eq!(cells[1], (3, Cell::Error("#VALUE!".into())));
    assert!(cells.iter().all(|(_, c)| matches!(c, Cell::Error(_))));
}

#[test]
fn dates_come_out_as_iso_text() {
    let options = mapping(&[("15", Field::Name)]);
    let mut table = open_with(&fixture("calamine/date.xlsx"), &options);
    assert_eq!(table.header_row, Some(1));
    let rows = records(&mut table);
    assert_eq!(rows[0].row, 2);
    assert_eq!(
        rows[0].cells,
        [Cell::Date("2021-01-02".into()), Cell::Float(16.0)]
    );
}

#[test]
fn sheet_chosen_by_name_or_index() {
    let path = fixture("calamine/any_sheets.xlsx");
    let by_number = mapping(&[("1", Field::DevEui)]);
    let mut table = open_with(&path, &by_number);
    assert!(matches!(&table.format, SourceFormat::Spreadsheet { sheet, .. } if sheet == "Visible"));
    let rows = records(&mut table);
    assert_eq!(rows[0].row, 2);
    assert_eq!(rows[0].cells, [Cell::Float(3.0), Cell::Float(4.0)]);
    // The blank row 4 is skipped; row 5 keeps its number.
    assert_eq!(rows[2].row, 5);

    for sheet in ["0", "Visible", "visible"] {
        let options = InputOptions {
            sheet: Some(sheet.into()),
            ..by_number.clone()
        };
        let table = open_with(&path, &options);
        assert!(
            matches!(&table.format, SourceFormat::Spreadsheet { sheet, .. } if sheet == "Visible")
        );
    }

    let options = InputOptions {
        sheet: Some("1".into()),
        ..by_number.clone()
    };
    let message = unusable_message(&path, &options);
    assert!(
        message.contains("sheet \"Hidden\": no header found"),
        "{message}"
    );

    let options = InputOptions {
        sheet: Some("Prices".into()),
        ..by_number
    };
    let message = unusable_message(&path, &options);
    assert!(
        message.contains("no sheet \"Prices\"") && message.contains("\"Visible\", \"Hidden\""),
        "{message}"
    );
}

#[test]
fn the_things_stack_xlsx_template() {
    let mut table = open(&fixture(
        "lorawan-stack-docs/tts-end-devices-csv-template.xlsx",
    ));
    assert_eq!(table.header_row, Some(1));
    let rows = records(&mut table);
    assert_eq!(rows.len(), 3);
    let row = table.map(&rows[0]);
    assert_eq!(row.row, 2);
    assert_eq!(
        value(&row, Field::DevEui),
        ("A111111111111111".into(), "dev_eui".into())
    );
    assert_eq!(
        value(&row, Field::AppKey).0,
        "A111111111111111A111111111111111"
    );
    assert_eq!(value(&row, Field::JoinEui).0, "A111111111111111");

    // An upper-case extension is still a workbook.
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("TEMPLATE.XLSX");
    std::fs::copy(
        fixture("lorawan-stack-docs/tts-end-devices-csv-template.xlsx"),
        &upper,
    )
    .unwrap();
    assert_eq!(records(&mut open(&upper)), rows);
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut bytes = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for unit in text.encode_utf16() {
        let pair = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        bytes.extend_from_slice(&pair);
    }
    bytes
}

#[test]
fn excel_unicode_text_utf16_with_bom() {
    let dir = tempfile::tempdir().unwrap();
    let content = "Dev EUI (OTAA)\tLora App Key (OTAA)\tName\r\n\
                   0011223344556677\t00112233445566770011223344556677\tCapteur façade\r\n\
                   \r\n\
                   8899AABBCCDDEEFF\t8899AABBCCDDEEFF8899AABBCCDDEEFF\tTür 2\r\n";
    for (big_endian, encoding) in [
        (false, TextEncoding::Utf16Le),
        (true, TextEncoding::Utf16Be),
    ] {
        let path = write(&dir, "unicode.txt", &utf16(content, big_endian));
        let mut table = open(&path);
        assert_eq!(
            table.format,
            SourceFormat::Csv {
                delimiter: b'\t',
                encoding
            }
        );
        let rows = records(&mut table);
        assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 4]);
        let first = table.map(&rows[0]);
        assert_eq!(
            value(&first, Field::DevEui),
            ("0011223344556677".into(), "Dev EUI (OTAA)".into())
        );
        assert_eq!(value(&first, Field::AppKey).1, "Lora App Key (OTAA)");
        assert_eq!(value(&first, Field::Name).0, "Capteur façade");
        assert_eq!(value(&table.map(&rows[1]), Field::Name).0, "Tür 2");
    }
}

#[test]
fn windows_1252_bytes_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "latin.csv",
        b"DevEUI;Name\r\n0011223344556677;Entr\xe9e nord\r\n",
    );
    let mut table = open(&path);
    assert_eq!(
        table.format,
        SourceFormat::Csv {
            delimiter: b';',
            encoding: TextEncoding::Windows1252
        }
    );
    let rows = records(&mut table);
    assert_eq!(rows[0].cells[1], text("Entrée nord"));
}

#[test]
fn pipe_delimited_with_ragged_rows_and_a_preamble() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "ship.txt",
        b"Shipment 2024-17\n\nIMEI|ICCID|Note\n490154203237518|89208013535718672291\n123456789012347|89208013535718672291|x|extra\n",
    );
    let mut table = open(&path);
    assert!(matches!(
        table.format,
        SourceFormat::Csv {
            delimiter: b'|',
            ..
        }
    ));
    assert_eq!(table.header_row, Some(3));
    let rows = records(&mut table);
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(rows[0].cells.len(), 2);
    let first = table.map(&rows[0]);
    assert_eq!(value(&first, Field::Imei).0, "490154203237518");
    assert!(first.get(Field::Name).is_none());
    assert_eq!(rows[1].cells.len(), 4, "extra cells are kept for rework");
}

#[test]
fn quoted_newlines_keep_row_numbers_right() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "notes.csv",
        b"DevEUI,AppKey,Name\r\n\
          0011223344556677,00112233445566770011223344556677,\"Tank 1\r\nnorth side, \"\"B\"\"\"\r\n\
          1111111111111111,11111111111111111111111111111111,\"a\nb\nc\"\r\n\
          2222222222222222,22222222222222222222222222222222,plain",
    );
    let mut table = open(&path);
    let rows = records(&mut table);
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [2, 4, 7]);
    assert_eq!(rows[0].cells[2], text("Tank 1\r\nnorth side, \"B\""));
    assert_eq!(rows[2].cells[2], text("plain"));
}

#[test]
fn numeric_xlsx_cells_stay_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("numbers.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Devices").unwrap();
    sheet.write_string(1, 1, "Shipment from ACME").unwrap();
    for (col, h) in ["IMEI", "ICCID", "DevEUI", "Name"].iter().enumerate() {
        sheet.write_string(3, col as u16 + 1, *h).unwrap();
    }
    sheet.write_number(4, 1, 490154203237518.0).unwrap();
    sheet.write_number(4, 2, 8.92080135357187e19).unwrap();
    sheet.write_number(4, 3, 1.11111e15).unwrap();
    sheet.write_string(4, 4, "pump").unwrap();
    sheet.write_number(6, 1, 123456789012347.0).unwrap();
    workbook.save(&path).unwrap();

    let mut table = open(&path);
    assert_eq!(
        table.format,
        SourceFormat::Spreadsheet {
            kind: SheetKind::Xlsx,
            sheet: "Devices".into()
        }
    );
    assert_eq!(table.header_row, Some(4));
    // Column A is empty but keeps its place: headers sit at their sheet columns.
    assert_eq!(table.columns[1].header, "IMEI");
    assert_eq!(table.columns[1].index, 1);
    let rows = records(&mut table);
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [5, 7]);
    let first = table.map(&rows[0]);
    assert_eq!(
        first.get(Field::Imei).unwrap().cell,
        Cell::Float(490154203237518.0)
    );
    assert_eq!(
        first.get(Field::Iccid).unwrap().cell,
        Cell::Float(8.92080135357187e19)
    );
    assert_eq!(
        first.get(Field::DevEui).unwrap().cell,
        Cell::Float(1.11111e15)
    );
    assert_eq!(first.get(Field::Name).unwrap().cell, text("pump"));
    let second = table.map(&rows[1]);
    assert_eq!(
        second.get(Field::Imei).unwrap().cell,
        Cell::Float(123456789012347.0)
    );
    assert!(second.get(Field::Iccid).unwrap().cell.is_blank());
}

#[test]
fn thingpark_positional_csv_maps_per_action() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "tp-import.csv",
        b"# ThingPark import, generated by hand\n\
          # columns: action, DevEUI, DevAddr, profile, ...\n\
          CREATE_OTAA,F03D291000F00001,,SMTC/LoRaMoteA.1_EU,8899AABBCCDDEEFF,8899AABBCCDDEEFF8899AABBCCDDEEFF,,,,,My first device,50.85,4.35,\"Mme Michu, Appt 434\",,,,,,TWA_1.AS,\n\
          # an ABP one\n\
          CREATE_ABP,F03D291000F00002,0147097F,SMTC/LoRaMoteA.1_EU,DE3EFA22C6862A51C82DDE784A897459,7F631E1C4E4D4C6BED3E6D2291944553,,,,,abp device\n\
          CREATE_CELLULAR,123456789012347,208150000000001,CELL/MODEL.1,,,,Cellular CP,my MQTT application,,cell one\n\
          CREATE,F03D291000F00003,01470980,SMTC/LoRaMoteA.1_EU,DE3EFA22C6862A51C82DDE784A897459,7F631E1C4E4D4C6BED3E6D2291944553\n",
    );
    let mut table = open(&path);
    assert_eq!(
        table.format,
        SourceFormat::ThingparkCsv {
            delimiter: b',',
            encoding: TextEncoding::Utf8
        }
    );
    assert_eq!(table.header_row, None);
    assert_eq!(table.columns[0].header, "A (Action)");
    assert_eq!(table.columns[0].field, Some(Field::Kind));
    let rows = records(&mut table);
    assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [3, 5, 6, 7]);

    let otaa = table.map(&rows[0]);
    assert_eq!(
        value(&otaa, Field::Kind),
        ("CREATE_OTAA".into(), "A (Action)".into())
    );
    assert_eq!(
        value(&otaa, Field::DevEui),
        ("F03D291000F00001".into(), "B (DevEUI)".into())
    );
    assert_eq!(
        value(&otaa, Field::JoinEui),
        ("8899AABBCCDDEEFF".into(), "E (JoinEUI)".into())
    );
    assert_eq!(value(&otaa, Field::AppKey).1, "F (AppKey)");
    assert_eq!(value(&otaa, Field::Model).0, "SMTC/LoRaMoteA.1_EU");
    assert_eq!(value(&otaa, Field::Name).0, "My first device");
    assert_eq!(
        value(&otaa, Field::Connection),
        ("TWA_1.AS".into(), "T (Application server IDs)".into())
    );
    assert!(otaa.get(Field::NwkSKey).is_none());

    let abp = table.map(&rows[1]);
    assert_eq!(value(&abp, Field::DevAddr).0, "0147097F");
    assert_eq!(value(&abp, Field::NwkSKey).1, "E (FNwkSIntKey/NwkSKey)");
    assert_eq!(value(&abp, Field::AppSKey).1, "F (AppSKeys)");
    assert!(abp.get(Field::JoinEui).is_none());

    let cellular = table.map(&rows[2]);
    assert_eq!(value(&cellular, Field::Kind).0, "CREATE_CELLULAR");
    assert_eq!(
        value(&cellular, Field::Imei),
        ("123456789012347".into(), "B (IMEI)".into())
    );
    assert_eq!(value(&cellular, Field::Imsi).0, "208150000000001");
    assert_eq!(value(&cellular, Field::Plan).0, "Cellular CP");
    // Column I, the AS routing profile, is the tutorial's cellular network context.
    assert_eq!(
        value(&cellular, Field::Context),
        (
            "my MQTT application".into(),
            "I (AS routing profile ID)".into()
        )
    );
    assert!(cellular.get(Field::Connection).is_none());
    assert!(cellular.get(Field::DevEui).is_none());

    // `CREATE` is ThingPark's old spelling of an ABP creation.
    let legacy = table.map(&rows[3]);
    assert_eq!(value(&legacy, Field::Kind).0, "CREATE_ABP");
    assert_eq!(value(&legacy, Field::DevAddr).0, "01470980");
    assert_eq!(legacy, table.map_owned(rows[3].clone()));
}

#[test]
fn mapping_file_and_set_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(
        &dir,
        "shipment.csv",
        b"Serial No,Secret,Label,Profile\n0011223344556677,00112233445566770011223344556677,,SMTC/X\n",
    );
    let toml = write(
        &dir,
        "map.toml",
        b"\"Serial No\" = \"dev_eui\"\n\"secret\" = \"app_key\"\nLabel = \"name\"\n",
    );
    let mut args = args(&data);
    args.mapping = Some(toml.clone());
    args.set = vec![
        "model=SMTC/LoRaMoteA.1_EU".into(),
        "connection=my MQTT application".into(),
        "name=unnamed".into(),
    ];
    let options = InputOptions::from_args(&args).unwrap();
    assert_eq!(options.mapping.len(), 3);
    let mut table = open_with(&data, &options);
    let rows = records(&mut table);
    let row = table.map(&rows[0]);
    assert_eq!(
        value(&row, Field::DevEui),
        ("0011223344556677".into(), "Serial No".into())
    );
    assert_eq!(value(&row, Field::AppKey).1, "Secret");
    // An empty cell takes the default; a column the file lacks too.
    assert_eq!(
        value(&row, Field::Name),
        ("unnamed".into(), "--set name".into())
    );
    assert_eq!(
        value(&row, Field::Connection),
        ("my MQTT application".into(), "--set connection".into())
    );
    // `Profile` is not an alias and not in the mapping: the default applies.
    assert_eq!(
        value(&row, Field::Model),
        ("SMTC/LoRaMoteA.1_EU".into(), "--set model".into())
    );
    assert_eq!(table.columns[3].field, None);
    assert_eq!(row, table.map_owned(rows[0].clone()));
}

#[test]
fn a_blank_mapped_cell_still_names_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(&dir, "s.csv", b"DevEUI,AppKey\n0011223344556677,\n");
    let mut table = open(&data);
    let row = first_mapped(&mut table);
    let key = row.get(Field::AppKey).unwrap();
    assert!(key.cell.is_blank());
    assert_eq!(&*key.column, "AppKey");
}

#[test]
fn bad_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(&dir, "s.csv", b"DevEUI\n0011223344556677\n");

    let toml = write(&dir, "bad.toml", b"\"Serial No\" = \"serial\"\n");
    let mut a = args(&data);
    a.mapping = Some(toml);
    let message = InputOptions::from_args(&a).unwrap_err().to_string();
    assert!(message.contains("bad.toml"), "{message}");
    assert!(
        message.contains("Serial No") && message.contains("serial"),
        "{message}"
    );
    assert!(message.contains("dev_eui, join_eui"), "{message}");

    let mut a = args(&data);
    a.set = vec!["colour=red".into()];
    let message = InputOptions::from_args(&a).unwrap_err().to_string();
    assert!(
        message.contains("--set colour") && message.contains("model"),
        "{message}"
    );

    let mut a = args(&data);
    a.set = vec!["app_key".into()];
    let message = InputOptions::from_args(&a).unwrap_err().to_string();
    assert!(message.contains("FIELD=VALUE"), "{message}");

    // The value of a --set never shows up in an error: it may be a key.
    let mut a = args(&data);
    a.set = vec!["appkey=00112233445566770011223344556677".into()];
    let message = InputOptions::from_args(&a).unwrap_err().to_string();
    assert!(!message.contains("0011223344"), "{message}");

    let mut a = args(&data);
    a.mapping = Some(dir.path().join("missing.toml"));
    let message = InputOptions::from_args(&a).unwrap_err().to_string();
    assert!(
        message.contains("--mapping") && message.contains("missing.toml"),
        "{message}"
    );
    assert!(matches!(
        InputOptions::from_args(&a),
        Err(InputError::Option(_))
    ));

    let mut a = args(&data);
    a.kind = Some(tpbulk::device::Kind::Cellular);
    a.sheet = Some("2".into());
    let options = InputOptions::from_args(&a).unwrap();
    assert_eq!(options.kind, Some(tpbulk::device::Kind::Cellular));
    assert_eq!(options.sheet.as_deref(), Some("2"));
}

#[test]
fn unusable_files_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(&dir, "empty.csv", b"");
    let message = unusable_message(&empty, &InputOptions::default());
    assert!(
        message.contains("empty.csv") && message.contains("empty"),
        "{message}"
    );

    let blank = write(&dir, "blank.csv", b"\n\n ; \n");
    let message = unusable_message(&blank, &InputOptions::default());
    assert!(message.contains("no header found"), "{message}");

    let no_header = write(
        &dir,
        "data.csv",
        b"0011223344556677,x\n1111111111111111,y\n",
    );
    assert!(unusable_message(&no_header, &InputOptions::default()).contains("no header found"));

    let not_a_sheet = write(&dir, "fake.xlsx", b"DevEUI\n0011223344556677\n");
    let message = unusable_message(&not_a_sheet, &InputOptions::default());
    assert!(
        message.contains("fake.xlsx") && message.contains("not a readable spreadsheet"),
        "{message}"
    );

    let zipped = write(
        &dir,
        "devices.csv",
        b"PK\x03\x04\x14\x00\x00\x00rest of a zip",
    );
    let message = unusable_message(&zipped, &InputOptions::default());
    assert!(message.contains("binary file"), "{message}");
}

#[test]
fn reopening_gives_the_same_rows() {
    let path = fixture("js-ttn-device-manager/import.sample.csv");
    let first = records(&mut open(&path));
    let second = records(&mut open(&path));
    assert_eq!(first, second);
    let path = fixture("lorawan-stack-docs/tts-end-devices-csv-template.xlsx");
    assert_eq!(records(&mut open(&path)), records(&mut open(&path)));
}

#[test]
fn sha256_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "abc.txt", b"abc");
    assert_eq!(
        sha256_file(&path).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn a_long_file_streams_with_exact_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut content = String::from("DevEUI;AppKey;Name\r\n");
    for i in 0..20_000u64 {
        content.push_str(&format!("{i:016X};{i:032X};device {i}\r\n"));
        if i.is_multiple_of(1000) {
            content.push_str("\r\n");
        }
    }
    let path = write(&dir, "long.csv", content.as_bytes());
    let mut table = open(&path);
    let mut expected = 2u64;
    let mut count = 0u64;
    for record in table.records() {
        let record = record.unwrap();
        assert_eq!(record.row, expected);
        let i = count;
        assert_eq!(record.cells[0], Cell::Text(format!("{i:016X}")));
        expected += if i.is_multiple_of(1000) { 2 } else { 1 };
        count += 1;
    }
    assert_eq!(count, 20_000);
}

/// Not a timed test: a measurement to run by hand and quote (see docs/input.md).
/// `cargo test --release --test input -- --ignored --nocapture input_read_benchmark`
/// Writes a 1,000,000-row OTAA CSV (about 127 MB; `TPBULK_BENCH_DIR` to choose where), reads and maps every row,
/// and prints the time (`TPBULK_BENCH_FILE=PATH` keeps the file there and reuses it), the peak memory of the process and, when `xsv` is on PATH, `xsv count`'s time on the same file.
#[test]
#[ignore]
fn input_read_benchmark() {
    use std::io::Write;
    let dir = match std::env::var_os("TPBULK_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let rows = 1_000_000u64;
    let reuse = std::env::var_os("TPBULK_BENCH_FILE").map(PathBuf::from);
    let path = reuse
        .clone()
        .unwrap_or_else(|| dir.path().join("otaa-1m.csv"));
    if reuse.as_ref().is_none_or(|p| !p.exists()) {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(out, "DevEUI,AppKey,JoinEUI,Name,Model,Connection").unwrap();
        for i in 0..rows {
            writeln!(
                out,
                "70B3D5{i:010X},{:032X},70B3D57ED0000000,sensor-{i:07},SMTC/LoRaMoteA.1_EU,my MQTT application",
                u128::from(i) * 0x9E37_79B9_7F4A_7C15
            )
            .unwrap();
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();

    let start = std::time::Instant::now();
    let mut table = open(&path);
    let mapper = table.mapper();
    let mut count = 0u64;
    let mut checksum = 0usize;
    for record in table.records() {
        let row = mapper.map_owned(record.unwrap());
        checksum += row.values.len();
        count += 1;
    }
    let elapsed = start.elapsed();
    assert_eq!(count, rows);
    assert_eq!(checksum, 6 * rows as usize);
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    println!(
        "tpbulk input: {rows} rows, {} MB: read and mapped in {:.3} s; {peak}",
        size / 1_000_000,
        elapsed.as_secs_f64()
    );

    let start = std::time::Instant::now();
    if let Ok(out) = std::process::Command::new("xsv")
        .arg("count")
        .arg(&path)
        .output()
    {
        println!(
            "xsv count: {} in {:.3} s",
            String::from_utf8_lossy(&out.stdout).trim(),
            start.elapsed().as_secs_f64()
        );
    }
}

/// Not a timed test: a measurement to run by hand and quote (see docs/input.md).
/// `cargo test --release --test input -- --ignored --nocapture input_xlsx_benchmark`
/// Writes a 200,000-row OTAA XLSX (`TPBULK_BENCH_XLSX=PATH` keeps and reuses it), reads and maps every row, and
/// prints the time and, when python3 has `python_calamine`, the time python-calamine takes just to read it.
#[test]
#[ignore]
fn input_xlsx_benchmark() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 200_000u32;
    let reuse = std::env::var_os("TPBULK_BENCH_XLSX").map(PathBuf::from);
    let path = reuse
        .clone()
        .unwrap_or_else(|| dir.path().join("otaa-200k.xlsx"));
    if reuse.as_ref().is_none_or(|p| !p.exists()) {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        for (col, h) in ["DevEUI", "AppKey", "JoinEUI", "Name", "Model", "Connection"]
            .iter()
            .enumerate()
        {
            sheet.write_string(0, col as u16, *h).unwrap();
        }
        for i in 1..=rows {
            let key = format!("{:032X}", u128::from(i) * 0x9E37_79B9_7F4A_7C15);
            sheet.write_string(i, 0, format!("70B3D5{i:010X}")).unwrap();
            sheet.write_string(i, 1, key).unwrap();
            sheet.write_string(i, 2, "70B3D57ED0000000").unwrap();
            sheet.write_string(i, 3, format!("sensor-{i:07}")).unwrap();
            sheet.write_string(i, 4, "SMTC/LoRaMoteA.1_EU").unwrap();
            sheet.write_string(i, 5, "my MQTT application").unwrap();
        }
        workbook.save(&path).unwrap();
    }

    let start = std::time::Instant::now();
    let mut table = open(&path);
    let mapper = table.mapper();
    let mut count = 0u32;
    for record in table.records() {
        let row = mapper.map_owned(record.unwrap());
        assert_eq!(row.values.len(), 6);
        count += 1;
    }
    assert_eq!(count, rows);
    println!(
        "tpbulk input: {rows} XLSX rows read and mapped in {:.3} s",
        start.elapsed().as_secs_f64()
    );

    let script = "import sys, time\n\
                  from python_calamine import CalamineWorkbook\n\
                  t = time.time()\n\
                  rows = CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_index(0).to_python()\n\
                  print(f'python-calamine: {len(rows)} rows read in {time.time() - t:.3f} s')";
    if let Ok(out) = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
    {
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

mod round_trip {
    use super::*;
    use proptest::prelude::*;

    /// Cells with the hard parts: the delimiter, quotes, newlines, spaces and non-ASCII text (but no other candidate
    /// delimiter, which would make the file genuinely ambiguous).
    fn cell(delimiter: char) -> impl Strategy<Value = String> {
        let d = delimiter.to_string();
        proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(vec!["a", "Z", "0", "é", "✓", " ", "x y"]).prop_map(str::to_string),
                1 => Just(d),
                1 => Just("\"".to_string()),
                1 => Just("\n".to_string()),
            ],
            0..6,
        )
        .prop_map(|parts| parts.concat())
    }

    fn table(delimiter: char) -> impl Strategy<Value = Vec<Vec<String>>> {
        proptest::collection::vec(
            (cell(delimiter), cell(delimiter), cell(delimiter))
                // A first cell that is not blank: blank rows are skipped by design.
                .prop_map(|(a, b, c)| vec![format!("k{a}"), b, c]),
            1..20,
        )
    }

    fn any_table() -> impl Strategy<Value = (char, bool, bool, Vec<Vec<String>>)> {
        prop_oneof![Just(','), Just(';'), Just('\t'), Just('|')]
            .prop_flat_map(|d| (Just(d), any::<bool>(), any::<bool>(), table(d)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever a CSV writer produces, every cell reads back as written, with the line its row starts on.
        #[test]
        fn written_rows_read_back((delimiter, crlf, bom, rows) in any_table()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.csv");
            let mut writer = csv::WriterBuilder::new()
                .delimiter(delimiter as u8)
                .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
                .from_writer(Vec::new());
            writer.write_record(["DevEUI", "Name", "Note"]).unwrap();
            for row in &rows {
                writer.write_record(row).unwrap();
            }
            let mut bytes = if bom { vec![0xEF, 0xBB, 0xBF] } else { Vec::new() };
            bytes.extend(writer.into_inner().unwrap());
            std::fs::write(&path, &bytes).unwrap();

            let mut table = open(&path);
            let sniffed = match table.format {
                SourceFormat::Csv { delimiter, .. } => delimiter,
                _ => 0,
            };
            prop_assert_eq!(sniffed, delimiter as u8);
            let read = records(&mut table);
            prop_assert_eq!(read.len(), rows.len());
            let mut line = 2u64;
            for (record, row) in read.iter().zip(&rows) {
                prop_assert_eq!(record.row, line);
                let cells: Vec<String> = record.cells.iter().map(Cell::display).collect();
                prop_assert_eq!(&cells, row);
                line += 1 + row.iter().map(|c| c.matches('\n').count() as u64).sum::<u64>();
            }
        }
    }
}
