//! `tpbulk import`: check, resolve, journal and create every device of a shipment file.

use crate::cli::{EngineArgs, GlobalArgs, InputArgs, JournalArgs, PlatformArgs};
use crate::engine::batch::{self, ImportConfig, RunSettings};
use crate::error::{Exit, UsageError};
use crate::input::InputOptions;
use crate::platform::ClientConfig;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// What a device that already exists on the platform becomes.
    #[arg(long, value_enum, default_value_t = OnExisting::Skip)]
    pub on_existing: OnExisting,
    /// Stop cleanly after this many failed rows.
    #[arg(long)]
    pub max_errors: Option<u64>,
    /// A name for the batch.
    #[arg(long)]
    pub name: Option<String>,
    /// Import a file this journal already imported to this platform, as a new batch on purpose.
    #[arg(long)]
    pub again: bool,
    /// Start even when the rows would take more of a connectivity plan than its quota has left (the platform
    /// then refuses the overflow rows one by one).
    #[arg(long)]
    pub allow_over_quota: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OnExisting {
    /// The row ends `exists` (success).
    Skip,
    /// The row ends `failed`.
    Fail,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let config = config(&args, global)?;
    crate::engine::block_on(|cancel| async move {
        let result = batch::import(config, cancel, |id| {
            crate::stdout::line(format_args!("batch {id}"))
        })
        .await?;
        Ok(result.print(global.quiet))
    })
}

/// Every option checked, before the file is opened or the platform called.
fn config(args: &Args, global: &GlobalArgs) -> anyhow::Result<ImportConfig> {
    let input = InputOptions::from_args(&args.input).map_err(|e| UsageError(e.to_string()))?;
    let client = ClientConfig::from_args(&args.platform)?;
    let settings = RunSettings::new(args.engine.rate, args.engine.concurrency, args.max_errors)?;
    Ok(ImportConfig {
        file: args.input.file.clone(),
        input,
        client,
        journal: args.journal.journal.clone(),
        settings,
        on_existing: args.on_existing,
        name: args.name.clone(),
        again: args.again,
        allow_over_quota: args.allow_over_quota,
        quiet: global.quiet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        global: GlobalArgs,
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("import").chain(argv.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_are_rate_10_concurrency_8_skip() {
        let cli = parse(&["ship.csv"]);
        assert_eq!(cli.args.engine.rate, 10.0);
        assert_eq!(cli.args.engine.concurrency, 8);
        assert_eq!(cli.args.on_existing, OnExisting::Skip);
        assert_eq!(cli.args.max_errors, None);
    }

    #[test]
    fn bad_engine_options_are_refused_before_any_io() {
        let cli = parse(&[
            "ship.csv",
            "--concurrency",
            "0",
            "--url",
            "http://127.0.0.1:1",
        ]);
        let err = config(&cli.args, &cli.global).unwrap_err();
        assert_eq!(crate::error::exit_for(&err), Exit::Usage);
    }
}
