//! Fuzz target: header mapping — any text as a header cell, alone and against a user mapping built from the same
//! text, must map to at most one field without panicking, and the same header must always map the same way.
#![no_main]

use tpbulk::input::{Field, field_for_header};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (header, alias) = text.split_once('\n').unwrap_or((&text, ""));
    let plain = field_for_header(header, &[]);
    assert_eq!(plain, field_for_header(header, &[]));
    let mapping = vec![(alias.to_string(), Field::Name)];
    let mapped = field_for_header(header, &mapping);
    assert_eq!(mapped, field_for_header(header, &mapping));
    // A user mapping only adds names: it never takes a field away from a header no alias of it matches.
    if plain.is_some() && mapped.is_none() {
        panic!("mapping {alias:?} unmapped header {header:?}");
    }
});
