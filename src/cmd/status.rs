//! `tpbulk status`: a batch's counts and state.

use crate::cli::{GlobalArgs, JournalArgs, OutputFormat};
use crate::cmd::style::{self, paint};
use crate::error::Exit;
use crate::journal::{Action, BatchInfo, BatchState, Counts, Journal};
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch (default: the latest).
    pub batch: Option<String>,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// What `status --format json` prints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusJson {
    pub batch: String,
    pub name: Option<String>,
    pub state: BatchState,
    pub total: u64,
    pub created: u64,
    /// `--on-existing update`: devices updated, rows already equal, rows left because the device changed.
    #[serde(default)]
    pub updates: u64,
    #[serde(default)]
    pub unchanged: u64,
    #[serde(default)]
    pub conflict: u64,
    pub exists: u64,
    pub invalid: u64,
    pub failed: u64,
    pub pending: u64,
    /// Devices deleted: by the batch's own `delete` operations (`tpbulk delete`, an import's `DELETE` rows), and,
    /// of its `created` rows, by `tpbulk rollback` since (those still count in `created`).
    #[serde(default)]
    pub deleted: u64,
    /// The batch's tag calls (one per tag per page of its devices), when its rows have tags.
    #[serde(default)]
    pub tag_calls: Option<TagCallsJson>,
    /// Deletions whose device was already gone.
    #[serde(default)]
    pub gone: u64,
    /// The platform the batch was sent to.
    #[serde(default)]
    pub url: Option<String>,
    /// The config file's profile it was imported with.
    #[serde(default)]
    pub profile: Option<String>,
    pub input: String,
    pub started: String,
    pub updated: String,
}

/// A batch's tag calls by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TagCallsJson {
    pub total: u64,
    pub tagged: u64,
    /// Calls none of whose devices the batch created: nothing to send.
    pub nothing_to_tag: u64,
    pub failed: u64,
    pub pending: u64,
}

impl From<Counts> for TagCallsJson {
    fn from(c: Counts) -> TagCallsJson {
        TagCallsJson {
            total: c.total,
            tagged: c.created,
            nothing_to_tag: c.gone,
            failed: c.failed,
            pending: c.pending,
        }
    }
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let journal = Journal::open_existing(&super::profile::choose(global)?.journal(&args.journal))?;
    let batch = journal.resolve_batch(args.batch.as_deref())?;
    let counts = journal.counts(&batch.id)?;
    let deleted = journal.undone_count(&batch.id)?;
    let tags_id = Journal::tags_id(&batch.id);
    let tag_calls = journal.batch(&tags_id)?.map(|_| journal.counts(&tags_id));
    let tag_calls = tag_calls.transpose()?.map(TagCallsJson::from);
    let mut out = style::stdout();
    match args.format {
        OutputFormat::Json => {
            let status = StatusJson {
                batch: batch.id.clone(),
                name: batch.name.clone(),
                state: batch.effective_state(),
                total: counts.total,
                created: counts.created,
                updates: counts.updated,
                unchanged: counts.unchanged,
                conflict: counts.conflict,
                exists: counts.exists,
                invalid: counts.invalid,
                failed: counts.failed,
                pending: counts.pending,
                tag_calls,
                deleted: deleted + counts.deleted,
                gone: counts.gone,
                url: batch.options["url"].as_str().map(str::to_string),
                profile: batch.profile.clone(),
                input: batch.input_path.clone(),
                started: batch.created_at.clone(),
                updated: batch.updated_at.clone(),
            };
            serde_json::to_writer(&mut out, &status)?;
            writeln!(out)?;
        }
        OutputFormat::Text => write_text(&mut out, &batch, &counts, deleted, tag_calls)?,
    }
    Ok(Exit::Success)
}

fn write_text(
    out: &mut impl Write,
    batch: &BatchInfo,
    counts: &Counts,
    deleted: u64,
    tag_calls: Option<TagCallsJson>,
) -> std::io::Result<()> {
    let name = batch
        .name
        .as_deref()
        .map(|n| format!(" \"{n}\""))
        .unwrap_or_default();
    let state = batch.effective_state();
    let runner = match (state, batch.runner_pid) {
        (BatchState::Running, Some(pid)) => format!(" (process {pid})"),
        _ => String::new(),
    };
    writeln!(
        out,
        "batch {}{name}: {}{runner}",
        batch.id,
        paint(state.as_str(), style::state(state))
    )?;
    writeln!(out, "  input    {}", batch.input_path)?;
    if let Some(url) = batch.options["url"].as_str() {
        let profile = batch
            .profile
            .as_deref()
            .map(|p| format!("  (profile {p})"))
            .unwrap_or_default();
        writeln!(out, "  platform {url}{profile}")?;
    }
    writeln!(out, "  started  {}", batch.created_at)?;
    writeln!(out, "  updated  {}", batch.updated_at)?;
    let done = counts.total - counts.pending;
    let percent = if counts.total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / counts.total as f64
    };
    writeln!(out, "  total    {:>9}  ({percent:.1}% final)", counts.total)?;
    let creates = batch.action == Action::Create;
    let deletes = batch.action == Action::Delete || counts.deleted + counts.gone > 0;
    // The update counts only for a batch that has updates.
    let updates = counts.updated + counts.unchanged + counts.conflict > 0;
    let lines = [
        ("created", counts.created, false, creates),
        ("updated", counts.updated, false, updates),
        ("unchanged", counts.unchanged, false, updates),
        ("conflict", counts.conflict, true, updates),
        ("exists", counts.exists, false, creates),
        ("deleted", counts.deleted, false, deletes),
        ("gone", counts.gone, false, deletes),
        ("invalid", counts.invalid, true, true),
        ("failed", counts.failed, true, true),
        ("pending", counts.pending, false, true),
    ];
    for (label, n, alarm, _) in lines.into_iter().filter(|l| l.3) {
        // The numbers end in one column, whatever the label's length (`unchanged` is one longer than the rest).
        let shown = format!("{n:>width$}", width = 18 - label.len());
        let shown = if alarm {
            paint(&shown, style::alarm(n))
        } else {
            shown
        };
        writeln!(out, "  {label}{shown}")?;
    }
    if deleted > 0 {
        writeln!(
            out,
            "  deleted  {deleted:>9}  (by tpbulk rollback; counted in created)"
        )?;
    }
    if let Some(t) = tag_calls {
        writeln!(
            out,
            "  tag calls {:>8}  (tagged {}, failed {}, pending {})",
            t.total,
            t.tagged,
            paint(&t.failed.to_string(), style::alarm(t.failed)),
            t.pending
        )?;
    }
    let again = match batch.action {
        Action::Create | Action::Update | Action::Restore | Action::Tag => "import",
        Action::Delete => "delete",
    };
    if batch.options["prepared"] == serde_json::Value::Bool(false) && state != BatchState::Running {
        // Stopped while its rows were being checked: `resume` refuses such a batch.
        writeln!(
            out,
            "stopped before any device was sent: {again} {} again",
            batch.input_path
        )?;
    } else if state == BatchState::Interrupted {
        writeln!(out, "resume with: tpbulk resume {}", batch.id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{SourceFormat, TextEncoding};

    fn interrupted(prepared: bool) -> BatchInfo {
        BatchInfo {
            id: "b1".into(),
            name: None,
            input_path: "ship.csv".into(),
            input_sha256: String::new(),
            format: SourceFormat::Csv {
                delimiter: b',',
                encoding: TextEncoding::Utf8,
            },
            columns: Vec::new(),
            input_columns: None,
            options: serde_json::json!({ "prepared": prepared }),
            state: BatchState::Interrupted,
            created_at: String::new(),
            updated_at: String::new(),
            runner_pid: None,
            action: crate::journal::Action::Create,
            undoes: None,
            profile: None,
        }
    }

    fn text(batch: &BatchInfo) -> String {
        let mut out = Vec::new();
        write_text(&mut out, batch, &Counts::default(), 0, None).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_interrupted_batch_points_at_resume() {
        assert!(text(&interrupted(true)).contains("resume with: tpbulk resume b1"));
    }

    #[test]
    fn a_batch_stopped_while_checking_points_at_a_new_import() {
        let shown = text(&interrupted(false));
        assert!(!shown.contains("tpbulk resume"), "{shown}");
        assert!(shown.contains("import ship.csv again"), "{shown}");
    }
}
