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
#[command(next_help_heading = "Global options")]
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
    /// The profile of the config file to use [default: the file's default_profile].
    #[arg(long, env = "TPBULK_PROFILE", global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// The config file [default: $XDG_CONFIG_HOME/tpbulk/config.toml, else ~/.config/tpbulk/config.toml].
    #[arg(long, env = "TPBULK_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Colours of the text output: auto is on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = clap::ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: clap::ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a shipment file offline and report every bad row.
    #[command(after_help = "Examples:
  tpbulk validate sample-data/otaa-shipment.csv
  tpbulk validate shipment.xlsx --sheet Devices --set connection=TWA_199982747.1972.AS
  tpbulk validate shipment.csv --format jsonl | jq -c 'select(.status == \"invalid\")'")]
    Validate(cmd::validate::Args),
    /// Write an input template for one kind of device.
    #[command(after_help = "Examples:
  tpbulk template otaa -o otaa.xlsx
  tpbulk template cellular > cellular.csv")]
    Template(cmd::template::Args),
    /// Run the local ThingPark simulator.
    #[command(after_help = "Examples:
  tpbulk sim
  tpbulk sim --listen 127.0.0.1:0 --state sim.json --latency-ms 50 --fail 0.05")]
    Sim(cmd::sim::Args),
    /// List the platform's device models, connections, plans or network contexts.
    #[command(after_help = "Examples:
  tpbulk catalog models --connectivity lorawan
  tpbulk --profile lab catalog connections
  tpbulk catalog --format json | jq -r '.plans[].name'")]
    Catalog(cmd::catalog::Args),
    /// Dry run: show what an import would do, without writing anything.
    #[command(after_help = "Examples:
  tpbulk plan sample-data/otaa-shipment.csv
  tpbulk plan shipment.csv --format jsonl | jq -c 'select(.status != \"would_create\")'")]
    Plan(cmd::plan::Args),
    /// Create the devices of a shipment file, journalled and resumable.
    #[command(after_help = "Examples:
  tpbulk import sample-data/otaa-shipment.csv --name \"lab, week 48\"
  tpbulk --profile prod import shipment.xlsx --rate 5 --max-errors 20
  tpbulk import shipment.csv --format json | jq .batch")]
    Import(cmd::import::Args),
    /// Continue an interrupted batch from the journal.
    #[command(after_help = "Examples:
  tpbulk resume
  tpbulk resume b20261125-215342-3fa9 --rate 20")]
    Resume(cmd::resume::Args),
    /// Show a batch's progress.
    #[command(after_help = "Examples:
  tpbulk status
  tpbulk status b20261125-215342-3fa9 --format json | jq .failed")]
    Status(cmd::status::Args),
    /// List the journal's batches.
    #[command(after_help = "Examples:
  tpbulk batches
  tpbulk batches --format json | jq -r '.[] | select(.state == \"interrupted\") | .batch'")]
    Batches(cmd::batches::Args),
    /// Write the per-row report of a batch.
    #[command(after_help = "Examples:
  tpbulk report -o report.xlsx
  tpbulk report b20261125-215342-3fa9 -o report.jsonl")]
    Report(cmd::report::Args),
    /// Write the rows that need fixing, in the input's own format.
    #[command(after_help = "Examples:
  tpbulk rework -o fix-these.csv
  tpbulk rework b20261125-215342-3fa9 -o supplier-fixes.xlsx   # for a batch read from an .xlsx")]
    Rework(cmd::rework::Args),
    /// Rehearse an import of the sample shipments on the built-in simulator.
    #[command(after_help = "Examples:
  tpbulk demo
  tpbulk demo --dir /tmp/rehearsal")]
    Demo(cmd::demo::Args),
    /// Check that a batch's devices are on the platform.
    #[command(after_help = "Examples:
  tpbulk verify
  tpbulk verify b20261125-215342-3fa9 --format json | jq '.missing | length'")]
    Verify(cmd::verify::Args),
    /// Write the platform's devices to a file that comes back in as an import.
    #[command(after_help = "Examples:
  tpbulk export -o devices.xlsx
  tpbulk export -o - --tag \"shipment 42\" | head
  tpbulk export -o lab.csv --connection \"my MQTT application\" --batch b20261125-215342-3fa9")]
    Export(cmd::export::Args),
    /// Traffic and alarms of a batch's devices.
    #[command(after_help = "Examples:
  tpbulk health --days 2
  tpbulk health --format jsonl | jq -c 'select(.alarms > 0)'
  tpbulk health b20261125-215342-3fa9 --format xlsx -o health.xlsx")]
    Health(cmd::health::Args),
    /// Delete the devices a batch created.
    #[command(after_help = "Examples:
  tpbulk rollback b20261125-215342-3fa9
  tpbulk rollback b20261125-215342-3fa9 --yes --format json")]
    Rollback(cmd::rollback::Args),
    /// Delete the devices a file names (DevEUI, IMEI or SIM), journalled and resumable.
    #[command(after_help = "Examples:
  tpbulk delete retired.csv
  tpbulk delete retired.xlsx --yes --format json
  tpbulk delete lot-12.csv --columns dev_eui --yes")]
    Delete(cmd::delete::Args),
    /// List or add connections (application servers).
    #[command(after_help = "Examples:
  tpbulk connection list
  tpbulk connection list --format json | jq -r '.[].id'
  tpbulk connection add https --name my-app --url https://app.example.com/uplink --as-key-file as.key")]
    Connection(cmd::connection::Args),
    /// List or show the profiles of the config file (secrets masked).
    #[command(after_help = "Examples:
  tpbulk profile list
  tpbulk profile show lab
  tpbulk --config ./ci.toml profile show --format json")]
    Profile(cmd::profile::Args),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  tpbulk completions bash > ~/.local/share/bash-completion/completions/tpbulk
  tpbulk completions zsh > \"${fpath[1]}/_tpbulk\"
  tpbulk completions fish > ~/.config/fish/completions/tpbulk.fish")]
    Completions(cmd::completions::Args),
    /// Write the man pages (tpbulk.1 and one per command).
    #[command(after_help = "Examples:
  tpbulk man -o ~/.local/share/man/man1
  tpbulk man | man -l -")]
    Man(cmd::man::Args),
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
/// from a plain argument, or from a profile.
#[derive(Debug, Clone, Args)]
pub struct PlatformArgs {
    /// Platform base URL, e.g. https://community.thingpark.io
    #[arg(long, env = "THINGPARK_URL", help_heading = "Platform options")]
    pub url: Option<String>,
    /// OAuth2 client id.
    #[arg(long, env = "THINGPARK_CLIENT_ID", help_heading = "Platform options")]
    pub client_id: Option<String>,
    /// A file holding the client secret (else `THINGPARK_CLIENT_SECRET`).
    #[arg(long, value_name = "FILE", help_heading = "Platform options")]
    pub client_secret_file: Option<PathBuf>,
    /// Token endpoint, when not `{url}/users-auth/protocol/openid-connect/token`.
    #[arg(long, help_heading = "Platform options")]
    pub token_url: Option<String>,
    /// Accept invalid TLS certificates (test platforms only).
    #[arg(long, help_heading = "Platform options")]
    pub insecure: bool,
}

/// Where the journal lives.
#[derive(Debug, Clone, Args)]
pub struct JournalArgs {
    /// The SQLite journal [default: the profile's journal, else tpbulk.db].
    #[arg(long, env = "TPBULK_JOURNAL", value_name = "FILE")]
    pub journal: Option<PathBuf>,
}

/// The options of every command that works on the platform for a journalled batch: how to reach it, where the
/// journal is and how hard the platform is driven.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// How hard the platform is driven.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Requests per second, every request of the batch included [default: the profile's rate, else 10].
    #[arg(long, help_heading = "Platform options")]
    pub rate: Option<f64>,
    /// Requests in flight at once [default: the profile's concurrency, else 8].
    #[arg(long, help_heading = "Platform options")]
    pub concurrency: Option<usize>,
}

/// Text for people or JSON for programs: the `--format` of every command whose output is one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
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
