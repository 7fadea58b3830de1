//! End-to-end tests of `tpbulk template`: the templates read back through `validate`, their notes sheet, and the
//! Text format of every XLSX column.

use calamine::{Reader, Xlsx, open_workbook};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

const KINDS: [&str; 4] = ["otaa", "abp", "cellular", "multicast"];

fn tpbulk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tpbulk"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("tpbulk runs")
}

/// The notes sheet as (column, required, example) rows.
fn notes(path: &Path) -> Vec<(String, String, String)> {
    let mut workbook: Xlsx<_> = open_workbook(path).unwrap();
    let range = workbook.worksheet_range("notes").unwrap();
    range
        .rows()
        .skip(1)
        .take_while(|r| !r[1].to_string().is_empty())
        .map(|r| (r[0].to_string(), r[1].to_string(), r[3].to_string()))
        .collect()
}

fn zip_entry(path: &Path, name: &str) -> String {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn stdout_template_is_the_committed_csv() {
    for kind in KINDS {
        let out = tpbulk(&["template", kind]);
        assert_eq!(out.status.code(), Some(0));
        let committed = std::fs::read(format!("templates/{kind}.csv")).unwrap();
        assert_eq!(out.stdout, committed, "templates/{kind}.csv is stale");
    }
}

#[test]
fn a_template_filled_with_its_examples_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    for kind in KINDS {
        let xlsx = dir.path().join(format!("{kind}.xlsx"));
        let csv = dir.path().join(format!("{kind}.csv"));
        assert_eq!(
            tpbulk(&["template", kind, "-o", xlsx.to_str().unwrap()])
                .status
                .code(),
            Some(0)
        );
        assert_eq!(
            tpbulk(&["template", kind, "-o", csv.to_str().unwrap()])
                .status
                .code(),
            Some(0)
        );
        let notes = notes(&xlsx);
        let header = std::fs::read_to_string(&csv).unwrap();
        let columns: Vec<&str> = header.trim_end().split(',').collect();
        assert_eq!(
            notes.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
            columns,
            "{kind}: the notes explain every column, in order"
        );
        let example: Vec<String> = notes.iter().map(|n| n.2.clone()).collect();
        std::fs::write(&csv, format!("{header}{}\r\n", example.join(","))).unwrap();
        let out = tpbulk(&["validate", csv.to_str().unwrap(), "--format", "jsonl"]);
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{kind}: {line}");
        assert_eq!(line["kind"], kind);

        // An empty template is a file with a header and no rows: usable, nothing to complain about.
        let out = tpbulk(&["validate", xlsx.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{kind}");
    }
}

#[test]
fn every_xlsx_column_is_formatted_as_text() {
    for kind in KINDS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("templates/{kind}.xlsx"));
        let styles = zip_entry(&path, "xl/styles.xml");
        let xfs = styles
            .split("<cellXfs")
            .nth(1)
            .and_then(|s| s.split("</cellXfs>").next())
            .unwrap();
        let text_styles: Vec<usize> = xfs
            .split("<xf ")
            .skip(1)
            .enumerate()
            .filter(|(_, xf)| xf.contains("numFmtId=\"49\""))
            .map(|(i, _)| i)
            .collect();
        assert!(!text_styles.is_empty(), "{kind}: no Text style");
        let sheet = zip_entry(&path, "xl/worksheets/sheet1.xml");
        let cols = sheet
            .split("<cols>")
            .nth(1)
            .and_then(|s| s.split("</cols>").next())
            .unwrap();
        let mut covered = 0;
        for col in cols.split("<col ").skip(1) {
            let attr = |name: &str| -> usize {
                col.split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            assert!(text_styles.contains(&attr("style")), "{kind}: {col}");
            covered += attr("max") - attr("min") + 1;
        }
        let header = std::fs::read_to_string(format!("templates/{kind}.csv")).unwrap();
        assert_eq!(covered, header.split(',').count(), "{kind}");
    }
}

#[test]
fn an_unknown_output_type_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("template.ods");
    let out = tpbulk(&["template", "otaa", "-o", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".csv or .xlsx"));
    assert!(!path.exists());
}
