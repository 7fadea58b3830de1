//! `tpbulk batches`: the journal's batches, newest first.

use crate::cli::{GlobalArgs, JournalArgs, OutputFormat};
use crate::cmd::style::{self, table_line};
use crate::error::Exit;
use crate::journal::{BatchState, Journal};
use anstyle::Style;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub journal: JournalArgs,
    /// A table, or a JSON array of the batches, newest first.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// One element of `batches --format json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchJson {
    pub batch: String,
    pub name: Option<String>,
    pub state: BatchState,
    /// RFC 3339.
    pub started: String,
    pub input: String,
    pub url: Option<String>,
    pub profile: Option<String>,
    pub total: u64,
    pub created: u64,
    pub exists: u64,
    /// Devices deleted by the batch (`tpbulk delete`, an import's `DELETE` rows), and deletions already gone.
    #[serde(default)]
    pub deleted: u64,
    #[serde(default)]
    pub gone: u64,
    pub invalid: u64,
    pub failed: u64,
    pub pending: u64,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let journal = Journal::open_existing(&super::profile::choose(global)?.journal(&args.journal))?;
    let batches = journal.batches()?;
    let mut out = style::stdout();
    if args.format == OutputFormat::Json {
        let mut all = Vec::with_capacity(batches.len());
        for batch in &batches {
            let c = journal.counts(&batch.id)?;
            all.push(BatchJson {
                batch: batch.id.clone(),
                name: batch.name.clone(),
                state: batch.effective_state(),
                started: batch.created_at.clone(),
                input: batch.input_path.clone(),
                url: batch.options["url"].as_str().map(str::to_string),
                profile: batch.profile.clone(),
                total: c.total,
                created: c.created,
                exists: c.exists,
                deleted: c.deleted,
                gone: c.gone,
                invalid: c.invalid,
                failed: c.failed,
                pending: c.pending,
            });
        }
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
        return Ok(Exit::Success);
    }
    if batches.is_empty() {
        writeln!(out, "no batches in {}", journal.path().display())?;
        return Ok(Exit::Success);
    }
    let mut lines = Vec::with_capacity(batches.len());
    for batch in &batches {
        let c = journal.counts(&batch.id)?;
        lines.push([
            batch.id.clone(),
            batch.name.clone().unwrap_or_else(|| "-".into()),
            batch.effective_state().as_str().to_string(),
            short_time(&batch.created_at),
            c.total.to_string(),
            c.created.to_string(),
            c.exists.to_string(),
            c.deleted.to_string(),
            c.gone.to_string(),
            c.invalid.to_string(),
            c.failed.to_string(),
            c.pending.to_string(),
        ]);
    }
    let header = [
        "BATCH", "NAME", "STATE", "STARTED", "TOTAL", "CREATED", "EXISTS", "DELETED", "GONE",
        "INVALID", "FAILED", "PENDING",
    ];
    // The counts (from the fifth column on) line up on the right; the state has its colour.
    let widths = style::widths(&header, &lines);
    writeln!(out, "{}", table_line(&header, &widths, 4, |_| Style::new()))?;
    for (line, batch) in lines.iter().zip(&batches) {
        let colour = |i| match i {
            2 => style::state(batch.effective_state()),
            _ => Style::new(),
        };
        writeln!(out, "{}", table_line(line, &widths, 4, colour))?;
    }
    Ok(Exit::Success)
}

/// `2026-11-25T21:53:42.123Z` → `2026-11-25 21:53:42`: a table needs no milliseconds.
fn short_time(rfc3339: &str) -> String {
    let text = rfc3339.replacen('T', " ", 1);
    text.get(..19).map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shortened_for_the_table() {
        assert_eq!(
            short_time("2026-11-25T21:53:42.123Z"),
            "2026-11-25 21:53:42"
        );
        assert_eq!(short_time("odd"), "odd");
    }
}
