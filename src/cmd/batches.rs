//! `tpbulk batches`: the journal's batches, newest first.

use crate::cli::{GlobalArgs, JournalArgs};
use crate::error::Exit;
use crate::journal::Journal;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub journal: JournalArgs,
}

pub fn run(args: Args, _global: &GlobalArgs) -> anyhow::Result<Exit> {
    let journal = Journal::open_existing(&args.journal.journal)?;
    let batches = journal.batches()?;
    let mut out = std::io::stdout().lock();
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
            c.invalid.to_string(),
            c.failed.to_string(),
            c.pending.to_string(),
        ]);
    }
    let header = [
        "BATCH", "NAME", "STATE", "STARTED", "TOTAL", "CREATED", "EXISTS", "INVALID", "FAILED",
        "PENDING",
    ];
    let mut widths = header.map(str::len);
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let print = |out: &mut std::io::StdoutLock<'_>, cells: &[String]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            if i >= 4 {
                // Counts line up on the right.
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            text.push_str("  ");
        }
        writeln!(out, "{}", text.trim_end())
    };
    print(&mut out, &header.map(String::from))?;
    for line in &lines {
        print(&mut out, line)?;
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
