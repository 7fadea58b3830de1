//! tpbulk: onboard IoT devices into Actility ThingPark in bulk.
//!
//! The pipeline runs one way: `input` (cells as text) → `device` (typed, checked rows) → `platform`
//! (catalogue names → IDs, requests) → `journal` (every row's state) → `engine` (rate-limited workers)
//! → `report`. `sim` is a local ThingPark for rehearsals and tests.

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
    quiet_on_closed_stdout();
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
    if let Err(err) = logging::init(cli.global.verbose, json_logs) {
        eprintln!("tpbulk: {err:#}");
        return error::Exit::Usage as i32;
    }
    match cmd::run(cli) {
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

/// `println!` panics when standard output is a closed pipe (`tpbulk batches | head -1`); a reader that stopped reading
/// is not a failure, so that panic ends the process at once with exit 0 and no backtrace, as a write error of the
/// same kind does through [`error::is_broken_pipe`]. Commands that change the platform print through [`stdout`],
/// which drops the line instead, so that their work is never cut short by their reader.
fn quiet_on_closed_stdout() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        previous(info);
    }));
}
