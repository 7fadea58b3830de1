//! `tpbulk verify`: check that every device a batch created or found is on the platform.

use crate::after::{self, verify};
use crate::cli::{EngineArgs, GlobalArgs, JournalArgs, PlatformArgs};
use crate::error::Exit;
use crate::journal::Journal;
use crate::platform::{ClientConfig, LookupProgress};
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch (default: the latest).
    pub batch: Option<String>,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// `--rate` paces the look-ups like every other command's requests; they read one page at a time.
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    after::check_engine(args.engine.rate, args.engine.concurrency)?;
    let rate = args.engine.rate;
    let config = ClientConfig::from_args(&args.platform)?;
    let journal = Journal::open_existing(&args.journal.journal)?;
    let batch = journal.resolve_batch(args.batch.as_deref())?;
    let (targets, rolled_back) = after::targets(&journal, &batch.id)?;
    let url = config.url.clone();
    let report = crate::engine::block_on(|_cancel| async move {
        let client = after::connect(config, rate).await?;
        verify::verify(&client, &targets, &LookupProgress::new(global.quiet))
            .await
            .map_err(|e| anyhow::Error::new(crate::platform::unavailable(&url, &e)))
    })?;
    let mut out = std::io::stdout().lock();
    for t in &report.missing {
        let line = format!(
            "missing  row {:>6}  {}{}  {}",
            t.row,
            t.label(),
            match (&t.eui, &t.id) {
                (Some(eui), Some(id)) if eui != id => format!("  (EUI {eui})"),
                _ => String::new(),
            },
            t.name.as_deref().unwrap_or("")
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    if !global.quiet || !report.missing.is_empty() {
        writeln!(
            out,
            "batch {}: {} of {} devices on the platform, {} missing ({} request{})",
            batch.id,
            report.present,
            report.checked,
            report.missing.len(),
            report.requests,
            if report.requests == 1 { "" } else { "s" }
        )?;
        if rolled_back > 0 {
            writeln!(
                out,
                "{rolled_back} devices deleted by a rollback were not checked"
            )?;
        }
    }
    Ok(if report.missing.is_empty() {
        Exit::Success
    } else {
        Exit::Rows
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
        #[command(flatten)]
        global: GlobalArgs,
    }

    #[test]
    fn rate_is_an_option_with_the_engine_default() {
        let cli = Cli::try_parse_from(["verify", "b1", "--rate", "2.5"]).unwrap();
        assert_eq!(cli.args.engine.rate, 2.5);
        assert_eq!(cli.args.batch.as_deref(), Some("b1"));
        let cli = Cli::try_parse_from(["verify"]).unwrap();
        assert_eq!(cli.args.engine.rate, 10.0);
    }

    #[test]
    fn a_negative_rate_is_a_usage_error_before_any_io() {
        let cli =
            Cli::try_parse_from(["verify", "--rate=-1", "--journal", "/nonexistent/j.db"]).unwrap();
        let err = run(cli.args, &cli.global).unwrap_err();
        assert!(
            err.downcast_ref::<crate::error::UsageError>().is_some(),
            "{err:#}"
        );
        assert!(err.to_string().contains("--rate -1"), "{err:#}");
    }
}
