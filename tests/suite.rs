//! The integration tests, one binary: each file of `tests/` is a module of this crate, so that the suite links
//! once instead of once per file. A new test file is a new `mod` line here (`autotests = false` in Cargo.toml).
//! Run one file's tests with `cargo test --test suite <file>::`.

// Helpers shared by the files below.
mod engine_support;
mod offline;
mod tutorial;

mod after;
mod client;
mod contract;
mod demo;
mod field_files;
mod import;
mod input;
mod interrupt;
mod journal;
mod operator;
mod plan;
mod report;
mod requests;
mod resume;
mod secrets;
mod shell;
mod sim;
mod soak;
mod template;
mod validate;
