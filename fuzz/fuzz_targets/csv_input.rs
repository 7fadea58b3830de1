//! Fuzz target: any bytes as a .csv shipment — encoding and delimiter sniffing, streaming rows, header search,
//! mapping and the device checks.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::read_whole_file(data, "csv");
});
