//! Fuzz target: any bytes as an .xlsx workbook — calamine's reader, the sheet stage's cell conversion, header
//! search, mapping and the device checks.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::read_whole_file(data, "xlsx");
});
