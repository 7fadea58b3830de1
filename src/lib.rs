//! tpbulk: onboard IoT devices into Actility ThingPark in bulk.
//!
//! The pipeline runs one way: `input` (cells as text) → `device` (typed, checked rows) → `platform`
//! (catalogue names → IDs, requests) → `journal` (every row's state) → `engine` (rate-limited workers)
//! → `report`. `sim` is a local ThingPark for rehearsals and tests.

// Every line for stdout goes through a writer (`stdout::line`, or a `Write` whose error `main_entry` reads):
// `println!` panics on a closed pipe (`tpbulk batches | head -1`), which is no failure.
#![deny(clippy::print_stdout)]

pub mod after;
pub mod cli;
pub mod cmd;
pub mod device;
pub mod engine;
pub mod error;
pub mod input;
pub mod journal;
pub mod logging;
pub mod platform;
pub mod prepare;
pub mod report;
pub mod secret;
pub mod sim;
pub mod stdout;

use clap::Parser;

/// Parses the process arguments, runs the command and returns the process exit code.
pub fn main_entry() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(choice) = cmd::style::choice_in(&args) {
        cmd::style::init(choice);
    }
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                error::Exit::Usage as i32
            } else {
                0
            };
            let _ = err.print();
            return code;
        }
    };
    cmd::style::init(cli.global.color);
    let json_logs = cli.global.log_format == cli::LogFormat::Json;
    let screen = match logging::init(cli.global.verbose, json_logs) {
        Ok(screen) => screen,
        Err(err) => {
            eprintln!("tpbulk: {err:#}");
            return error::Exit::Usage as i32;
        }
    };
    match cmd::run(cli, screen) {
        Ok(exit) => exit as i32,
        Err(err) => {
            if error::is_broken_pipe(&err) {
                return 0;
            }
            eprintln!("tpbulk: {err:#}");
            error::exit_for(&err) as i32
        }
    }
}
