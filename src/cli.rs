//! Command-line definitions: the top-level parser and the option groups that several commands share.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use crate::cmd;

/// Onboard IoT devices into Actility ThingPark in bulk.
#[derive(Debug, Parser)]
#[command(name = "tpbulk", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// No progress display and no summary chatter; errors still go to stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a shipment file offline and report every bad row.
    Validate(cmd::validate::Args),
    /// Write an input template for one kind of device.
    Template(cmd::template::Args),
    /// Run the local ThingPark simulator.
    Sim(cmd::sim::Args),
    /// List the platform's device models, connections, plans or network contexts.
    Catalog(cmd::catalog::Args),
    /// Dry run: show what an import would do, without writing anything.
    Plan(cmd::plan::Args),
    /// Create the devices of a shipment file, journalled and resumable.
    Import(cmd::import::Args),
    /// Continue an interrupted batch from the journal.
    Resume(cmd::resume::Args),
    /// Show a batch's progress.
    Status(cmd::status::Args),
    /// List the journal's batches.
    Batches(cmd::batches::Args),
    /// Write the per-row report of a batch.
    Report(cmd::report::Args),
    /// Write the rows that need fixing, in the input's own format.
    Rework(cmd::rework::Args),
    /// Rehearse an import of the sample shipments on the built-in simulator.
    Demo(cmd::demo::Args),
    /// Check that a batch's devices are on the platform.
    Verify(cmd::verify::Args),
    /// Traffic and alarms of a batch's devices.
    Health(cmd::health::Args),
    /// Delete the devices a batch created.
    Rollback(cmd::rollback::Args),
    /// List or add connections (application servers).
    Connection(cmd::connection::Args),
}

/// Where rows come from and how their columns are read.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// The shipment file (.csv .tsv .txt .xlsx .xlsm .xls .ods).
    pub file: PathBuf,
    /// Spreadsheet sheet, by name or 0-based index (default: the first sheet with data).
    #[arg(long)]
    pub sheet: Option<String>,
    /// A TOML file mapping headers to fields (`"Serial No" = "dev_eui"`).
    #[arg(long, value_name = "FILE.toml")]
    pub mapping: Option<PathBuf>,
    /// The file has no header row: its columns in order, e.g. `--columns dev_eui,app_key,,name` (an empty entry
    /// skips a column).
    #[arg(long, value_name = "FIELD,…", conflicts_with = "mapping")]
    pub columns: Option<String>,
    /// A default for a missing column or an empty cell, e.g. `--set model=SMTC/LoRaMoteA.1_EU`. Repeatable.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// The kind of every row, when the columns cannot tell.
    #[arg(long, value_enum)]
    pub kind: Option<crate::device::Kind>,
}

/// How to reach ThingPark. The client secret comes from `THINGPARK_CLIENT_SECRET` or `--client-secret-file`, never
/// from a plain argument.
#[derive(Debug, Clone, Args)]
pub struct PlatformArgs {
    /// Platform base URL, e.g. https://community.thingpark.io
    #[arg(long, env = "THINGPARK_URL")]
    pub url: Option<String>,
    /// OAuth2 client id.
    #[arg(long, env = "THINGPARK_CLIENT_ID")]
    pub client_id: Option<String>,
    /// A file holding the client secret (else `THINGPARK_CLIENT_SECRET`).
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// Token endpoint, when not `{url}/users-auth/protocol/openid-connect/token`.
    #[arg(long)]
    pub token_url: Option<String>,
    /// Accept invalid TLS certificates (test platforms only).
    #[arg(long)]
    pub insecure: bool,
}

/// Where the journal lives.
#[derive(Debug, Clone, Args)]
pub struct JournalArgs {
    /// The SQLite journal.
    #[arg(long, env = "TPBULK_JOURNAL", default_value = "tpbulk.db")]
    pub journal: PathBuf,
}

/// How hard the platform is driven.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Requests per second, every request of the batch included.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
