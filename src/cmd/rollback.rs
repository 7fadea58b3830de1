//! `tpbulk rollback`: delete the devices a batch created, and never one that existed before it.

use crate::after::{self, rollback};
use crate::cli::{EngineArgs, GlobalArgs, JournalArgs, PlatformArgs};
use crate::cmd::runtime::Runtime;
use crate::engine::batch::{self, RunSettings};
use crate::engine::pool::Stop;
use crate::engine::reconcile;
use crate::error::{Exit, Interrupted, UsageError};
use crate::journal::{BatchState, Journal, RowState};
use crate::platform::ClientConfig;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The batch to undo.
    pub batch: String,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let settings = RunSettings::new(args.engine.rate, args.engine.concurrency, None)?;
    // Asking needs someone to answer: refuse before any request rather than hang or guess.
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "rollback deletes devices: give --yes, or run it on a terminal to confirm".into(),
        )
        .into());
    }
    let config = ClientConfig::from_args(&args.platform)?;
    let mut journal = Journal::open_existing(&args.journal.journal)?;
    let batch = journal.resolve_batch(Some(&args.batch))?;
    if batch.undoes.is_some() {
        return Err(UsageError(format!(
            "batch {} is a rollback; roll back the import it undoes instead",
            batch.id
        ))
        .into());
    }
    let (yes, quiet) = (args.yes, global.quiet);
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
        if !quiet || !yes {
            // A reader gone early (`| head -1`) does not call the rollback off.
            match describe(&batch.id, &plan, !yes) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
        if plan.to_delete == 0 {
            if !quiet {
                crate::stdout::line(format_args!("batch {}: nothing left to delete", batch.id));
            }
            return Ok(Exit::Success);
        }
        if !yes {
            let count = plan.to_delete;
            let answer = tokio::task::spawn_blocking(move || confirm(count));
            let confirmed = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(before_any().into()),
                answer = answer => answer??,
            };
            if !confirmed {
                eprintln!("tpbulk: rollback cancelled; nothing deleted");
                return Ok(Exit::Success);
            }
        }
        let before = journal.counts(&plan.id)?;
        let path = journal.path().to_path_buf();
        let pool = batch::pool_config(&settings, None);
        let result = batch::run_batch(journal, &plan.id, client, &pool, cancel, quiet, false).await?;
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
        crate::stdout::line(format_args!(
            "batch {}: deleted {}, already gone {}, deleted earlier {}, failed {}, kept {} that existed before",
            batch.id,
            counts.created - before.created,
            counts.gone - before.gone,
            plan.already,
            counts.failed,
            plan.kept
        ));
        if plan.unsent > 0 && !quiet {
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
        } else if counts.failed == 0 && counts.pending == 0 {
            Exit::Success
        } else {
            Exit::Rows
        })
    })
}

fn describe(batch: &str, plan: &rollback::RollbackPlan, listing: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "batch {batch}: {} devices to delete, {} deleted earlier, {} that existed before stay",
        plan.to_delete, plan.already, plan.kept
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

fn confirm(count: u64) -> std::io::Result<bool> {
    eprint!("Delete these {count} devices from the platform? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
