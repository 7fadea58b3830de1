//! `tpbulk verify`: check that every device a batch created or found is on the platform.

use crate::after::{self, verify};
use crate::cli::{GlobalArgs, OutputFormat, RemoteArgs};
use crate::cmd::runtime::Runtime;
use crate::error::Exit;
use crate::journal::Journal;
use crate::platform::LookupProgress;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch (default: the latest).
    pub batch: Option<String>,
    // `--rate` paces the look-ups like every other command's requests; they read one page at a time.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Missing devices and a summary as text, or one JSON object.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// What `verify --format json` prints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifyJson {
    pub batch: String,
    /// Devices the batch created or found, checked now.
    pub checked: usize,
    pub present: usize,
    /// In row order.
    pub missing: Vec<MissingJson>,
    /// Requests the look-ups took.
    pub requests: u64,
    /// Devices a rollback deleted, not checked.
    pub rolled_back: usize,
}

/// A device of the batch the platform does not have.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MissingJson {
    pub row: u64,
    /// The row's identifier (DevEUI, IMEI or SIM).
    pub id: Option<String>,
    /// The EUI the platform knew it by.
    pub eui: Option<String>,
    pub name: Option<String>,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let chosen = super::profile::choose(global)?;
    let settings = chosen.settings(&args.remote.engine, None)?;
    let config = chosen.client(&args.remote.platform)?;
    let journal = Journal::open_existing(&chosen.journal(&args.remote.journal))?;
    let batch = journal.resolve_batch(args.batch.as_deref())?;
    let (targets, rolled_back) = after::targets(&journal, &batch.id)?;
    let done = format!(
        "while checking batch {} on the platform; nothing was changed (run `tpbulk verify {}` again)",
        batch.id, batch.id
    );
    let progress = LookupProgress::new(&rt.display(global.quiet));
    let report = super::with_client(rt, &done, config, settings.rate, async |client| {
        Ok(verify::verify(&client, &targets, &progress).await?)
    })?;
    let mut out = std::io::stdout().lock();
    let exit = if report.missing.is_empty() {
        Exit::Success
    } else {
        Exit::Rows
    };
    if args.format == OutputFormat::Json {
        let json = VerifyJson {
            batch: batch.id.clone(),
            checked: report.checked,
            present: report.present,
            missing: report
                .missing
                .iter()
                .map(|t| MissingJson {
                    row: t.row,
                    id: t.id.clone(),
                    eui: t.eui.clone(),
                    name: t.name.clone(),
                })
                .collect(),
            requests: report.requests,
            rolled_back,
        };
        serde_json::to_writer(&mut out, &json)?;
        writeln!(out)?;
        return Ok(exit);
    }
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
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Cli = crate::cmd::Parsed<Args>;

    #[test]
    fn rate_is_an_option_with_the_engine_default() {
        let cli = Cli::of(&["b1", "--rate", "2.5"]).unwrap();
        assert_eq!(cli.args.remote.engine.rate, Some(2.5));
        assert_eq!(cli.args.batch.as_deref(), Some("b1"));
        let cli = Cli::of(&[]).unwrap();
        let chosen = crate::cmd::profile::Chosen::default();
        assert_eq!(chosen.engine(&cli.args.remote.engine).0, 10.0);
    }

    #[test]
    fn a_negative_rate_is_a_usage_error_before_any_io() {
        let cli = Cli::of(&["--rate=-1", "--journal", "/nonexistent/j.db"]).unwrap();
        let err = run(cli.args, &cli.global, &Runtime::new(Default::default())).unwrap_err();
        assert!(
            err.downcast_ref::<crate::error::UsageError>().is_some(),
            "{err:#}"
        );
        assert!(err.to_string().contains("--rate -1"), "{err:#}");
    }
}
