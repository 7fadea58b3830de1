//! Shared by the file-input fuzz targets: the fuzz bytes as a shipment file, opened and read to the end, every row
//! mapped and checked, so a panic anywhere between the bytes and the verdict is found.

use std::io::Write;
use tpbulk::device::Checker;
use tpbulk::input::{InputOptions, Table};

pub fn read_whole_file(bytes: &[u8], extension: &str) {
    let mut file = tempfile_with(extension);
    file.1.write_all(bytes).unwrap();
    drop(file.1);
    let path = file.0;
    if let Ok(mut table) = Table::open(&path, &InputOptions::default()) {
        let mut checker = Checker::new(None);
        // A bad record ends nothing: later rows must still read, as `validate` reports every row.
        while let Some(record) = table.next_record() {
            if let Ok(record) = record {
                let row = table.map_owned(record);
                let _ = checker.check(&row);
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// A fresh file per input in the system temp folder: libFuzzer runs one input at a time per process.
fn tempfile_with(extension: &str) -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("tpbulk-fuzz-{}.{extension}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}
