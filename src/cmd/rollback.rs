//! `tpbulk rollback`: delete the devices a batch created, and never one that existed before it.

use crate::after::{self, rollback};
use crate::cli::{GlobalArgs, OutputFormat, RemoteArgs};
use crate::cmd::runtime::Runtime;
use crate::engine::batch;
use crate::engine::pool::Stop;
use crate::engine::reconcile;
use crate::error::{Exit, Interrupted, UsageError};
use crate::journal::{Action, BatchState, Journal, RowState};
use std::io::{IsTerminal, Write};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch to undo.
    pub batch: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// The summary as text, or as one JSON object (the plan and the question then go to stderr).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// What `rollback --format json` prints at the end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RollbackJson {
    pub batch: String,
    /// Deleted by this run.
    pub deleted: u64,
    /// Not on the platform any more when asked to delete.
    pub gone: u64,
    /// Devices the batch updated whose previous values were put back by this run.
    #[serde(default)]
    pub restored: u64,
    /// Devices the batch updated that changed since, left as they are.
    #[serde(default)]
    pub conflict: u64,
    /// Deleted by an earlier rollback.
    pub deleted_earlier: u64,
    /// Rows whose deletion failed (each also on stderr).
    pub failed: u64,
    /// Devices that existed before the batch: never deleted.
    pub kept: u64,
    /// Rows never sent, which `resume` would still create.
    pub unsent: u64,
    pub interrupted: bool,
    /// `false` when the question was answered no: nothing was deleted.
    pub confirmed: bool,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let chosen = super::profile::choose(global)?;
    let settings = chosen.settings(&args.remote.engine, None)?;
    // Asking needs someone to answer: refuse before any request rather than hang or guess.
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "rollback deletes devices: give --yes, or run it on a terminal to confirm".into(),
        )
        .into());
    }
    let config = chosen.client(&args.remote.platform)?;
    let mut journal = Journal::open_existing(&chosen.journal(&args.remote.journal))?;
    let batch = journal.resolve_batch(Some(&args.batch))?;
    let refused = if batch.undoes.is_some() {
        Some("is a rollback; roll back the import it undoes instead".to_string())
    } else if batch.action == Action::Delete {
        // A deletion cannot be undone: the platform forgets the device's keys with it.
        Some("deleted devices (tpbulk delete); a deletion cannot be rolled back: import the devices again".into())
    } else if let Some(import) = Journal::import_of_tags(&batch.id)
        && batch.action == Action::Tag
    {
        Some(format!(
            "is the tag calls of {import}; roll back {import} (deleting its devices takes their tags)"
        ))
    } else {
        None
    };
    if let Some(why) = refused {
        return Err(UsageError(format!("batch {} {why}", batch.id)).into());
    }
    let (yes, quiet, json) = (args.yes, global.quiet, args.format == OutputFormat::Json);
    if batch.state == BatchState::Running && !quiet {
        eprintln!(
            "tpbulk: batch {} is marked running; if an import of it is still going, stop it first",
            batch.id
        );
    }
    let again = format!(
        "deletions in flight are settled by running `tpbulk rollback {}` again",
        batch.id
    );
    rt.block_on(Some(&again), |cancel| async move {
        // Nothing is deleted before the plan is shown: a signal until then stops here.
        let before_any = || {
            Interrupted(format!(
                "interrupted before any device was deleted; run `tpbulk rollback {}` again",
                batch.id
            ))
        };
        let started = rollback::started_ms(&batch);
        let prepared = async {
            let client = crate::platform::connect(config, settings.rate).await?;
            let settled =
                reconcile::settle_sending(&client, &mut journal, &batch.id, started).await?;
            anyhow::Ok((client, settled))
        };
        let (client, settled) = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(before_any().into()),
            prepared = prepared => prepared?,
        };
        if settled != reconcile::Settled::default() && !quiet {
            eprintln!(
                "rows left sending by the import: {} created, {} already there, {} never arrived",
                settled.created, settled.existed, settled.pending
            );
        }
        let plan = rollback::plan(&mut journal, &batch)?;
        let summary = |(deleted, gone, restored, conflict), failed, interrupted, confirmed| RollbackJson {
            batch: batch.id.clone(),
            deleted,
            gone,
            restored,
            conflict,
            deleted_earlier: plan.already,
            failed,
            kept: plan.kept,
            unsent: plan.unsent,
            interrupted,
            confirmed,
        };
        if (!quiet && !json) || !yes {
            // In JSON, stdout holds the summary object only.
            let mut out: Box<dyn Write> = if json {
                Box::new(std::io::stderr().lock())
            } else {
                Box::new(std::io::stdout().lock())
            };
            // A reader gone early (`| head -1`) does not call the rollback off.
            match describe(&mut out, &batch.id, &plan, !yes) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
        // Tag calls a stopped rollback left are sent by the next, even with every restore made.
        if plan.to_delete == 0 && journal.tag_calls_left(&plan.id)? == 0 {
            if json {
                print_json(&summary((0, 0, 0, 0), 0, false, true))?;
            } else if !quiet {
                crate::stdout::line(format_args!("batch {}: nothing left to delete", batch.id));
            }
            return Ok(Exit::Success);
        }
        if !yes {
            let counts = (plan.to_delete - plan.to_restore, plan.to_restore);
            let answer = tokio::task::spawn_blocking(move || confirm(counts));
            let confirmed = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(before_any().into()),
                answer = answer => answer??,
            };
            if !confirmed {
                eprintln!("tpbulk: rollback cancelled; nothing deleted");
                if json {
                    print_json(&summary((0, 0, 0, 0), 0, false, false))?;
                }
                return Ok(Exit::Success);
            }
        }
        let before = journal.counts(&plan.id)?;
        let path = journal.path().to_path_buf();
        let pool = batch::pool_config(&settings, None);
        let display = rt.display(quiet);
        // With the tags the restores put back, once every restore is settled.
        let result =
            batch::run_batch(journal, &plan.id, client, &pool, cancel, &display, false).await?;
        let journal = Journal::open_existing(&path)?;
        journal.for_each_row(&plan.id, Some(&[RowState::Failed]), |r| {
            let target = after::Target::from_record(&r);
            eprintln!(
                "row {}: {}: cannot delete: {}",
                target.row,
                target.label(),
                r.message.as_deref().unwrap_or("")
            );
            Ok(())
        })?;
        let counts = result.counts;
        let (deleted, gone) = (counts.deleted - before.deleted, counts.gone - before.gone);
        let (restored, conflict) = (
            counts.updated - before.updated,
            counts.conflict - before.conflict,
        );
        let interrupted = result.stop == Stop::Cancelled;
        if json {
            print_json(&summary(
                (deleted, gone, restored, conflict),
                counts.failed,
                interrupted,
                true,
            ))?;
        } else {
            let restores = if plan.to_restore + restored + conflict > 0 {
                format!(", restored {restored}, changed since and left {conflict}")
            } else {
                String::new()
            };
            crate::stdout::line(format_args!(
                "batch {}: deleted {}, already gone {}{restores}, deleted earlier {}, failed {}, kept {} that existed before",
                batch.id, deleted, gone, plan.already, counts.failed, plan.kept
            ));
        }
        if let Some(tags) = result.tags_line().filter(|_| !json) {
            crate::stdout::line(tags);
        }
        if plan.unsent > 0 && !quiet && !json {
            crate::stdout::line(format_args!(
                "{} rows were never sent; `tpbulk resume {}` would still create them",
                plan.unsent, batch.id
            ));
        }
        Ok(if result.stop == Stop::Cancelled {
            eprintln!(
                "tpbulk: interrupted; run `tpbulk rollback {}` again to finish",
                batch.id
            );
            Exit::Interrupted
        } else if counts.failed + counts.conflict == 0 && counts.pending == 0 {
            Exit::Success
        } else {
            Exit::Rows
        })
    })
}

/// Like the text lines: a reader gone early does not change the exit code.
fn print_json(summary: &RollbackJson) -> anyhow::Result<()> {
    crate::stdout::line(serde_json::to_string(summary)?);
    Ok(())
}

fn describe(
    out: &mut dyn Write,
    batch: &str,
    plan: &rollback::RollbackPlan,
    listing: bool,
) -> std::io::Result<()> {
    let restore = if plan.to_restore > 0 {
        format!(", {} updated devices to restore", plan.to_restore)
    } else {
        String::new()
    };
    writeln!(
        out,
        "batch {batch}: {} devices to delete{restore}, {} deleted earlier, {} that existed before stay",
        plan.to_delete - plan.to_restore,
        plan.already,
        plan.kept
    )?;
    if listing {
        for t in &plan.shown {
            let line = format!(
                "  row {:>6}  {}  {}",
                t.row,
                t.label(),
                t.name.as_deref().unwrap_or("")
            );
            writeln!(out, "{}", line.trim_end())?;
        }
        if plan.to_delete > plan.shown.len() as u64 {
            writeln!(
                out,
                "  … and {} more",
                plan.to_delete - plan.shown.len() as u64
            )?;
        }
    }
    out.flush()
}

fn confirm((delete, restore): (u64, u64)) -> std::io::Result<bool> {
    super::delete::ask(&if restore > 0 {
        format!("Delete these {delete} devices and restore these {restore} from the platform?")
    } else {
        format!("Delete these {delete} devices from the platform?")
    })
}
