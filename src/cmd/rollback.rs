//! `tpbulk rollback`: delete the devices a batch created, and never one that existed before it.

use crate::after::{self, rollback};
use crate::cli::{EngineArgs, GlobalArgs, JournalArgs, PlatformArgs};
use crate::error::{Exit, UsageError};
use crate::journal::{BatchState, Journal};
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

/// Rows listed before the question; the rest are counted.
const SHOWN: usize = 20;

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    after::check_engine(args.engine.rate, args.engine.concurrency)?;
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
    let deletions = rollback::Deletions::open(journal.path())?;
    let started = rollback::millis(&batch.created_at);
    let (rate, concurrency, yes, quiet) = (
        args.engine.rate,
        args.engine.concurrency,
        args.yes,
        global.quiet,
    );
    if batch.state == BatchState::Running && !quiet {
        eprintln!(
            "tpbulk: batch {} is marked running; if an import of it is still going, stop it first",
            batch.id
        );
    }
    crate::engine::block_on(|cancel| async move {
        let client = after::connect(config, rate).await?;
        let settled = rollback::settle_sending(&client, &mut journal, &batch.id, started).await?;
        if settled != rollback::Settled::default() && !quiet {
            eprintln!(
                "rows left sending by the import: {} created, {} already there, {} never arrived",
                settled.created, settled.existed, settled.pending
            );
        }
        let plan = rollback::plan(&journal, &deletions, &batch.id)?;
        if !quiet || !yes {
            // A reader gone early (`| head -1`) does not call the rollback off.
            match describe(&batch.id, &plan, !yes) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
        if plan.to_delete.is_empty() {
            if !quiet {
                crate::stdout::line(format_args!("batch {}: nothing left to delete", batch.id));
            }
            return Ok(Exit::Success);
        }
        if !yes && !confirm(plan.to_delete.len())? {
            eprintln!("tpbulk: rollback cancelled; nothing deleted");
            return Ok(Exit::Success);
        }
        let bar = after::progress_bar(plan.to_delete.len(), "deleted", quiet);
        let result = rollback::delete_all(
            &client,
            &deletions,
            &batch.id,
            plan.to_delete,
            concurrency,
            &cancel,
            &bar,
        )
        .await;
        drop(bar);
        let result = result?;
        for (target, error) in &result.failed {
            eprintln!(
                "row {}: {}: cannot delete: {error}",
                target.row,
                target.label()
            );
        }
        crate::stdout::line(format_args!(
            "batch {}: deleted {}, already gone {}, deleted earlier {}, failed {}, kept {} that existed before",
            batch.id,
            result.deleted,
            result.gone,
            plan.already,
            result.failed.len(),
            plan.kept
        ));
        if plan.unsent > 0 && !quiet {
            crate::stdout::line(format_args!(
                "{} rows were never sent; `tpbulk resume {}` would still create them",
                plan.unsent, batch.id
            ));
        }
        Ok(if result.interrupted {
            eprintln!(
                "tpbulk: interrupted; run `tpbulk rollback {}` again to finish",
                batch.id
            );
            Exit::Interrupted
        } else if result.failed.is_empty() {
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
        plan.to_delete.len(),
        plan.already,
        plan.kept
    )?;
    if listing {
        for t in plan.to_delete.iter().take(SHOWN) {
            let line = format!(
                "  row {:>6}  {}  {}",
                t.row,
                t.label(),
                t.name.as_deref().unwrap_or("")
            );
            writeln!(out, "{}", line.trim_end())?;
        }
        if plan.to_delete.len() > SHOWN {
            writeln!(out, "  … and {} more", plan.to_delete.len() - SHOWN)?;
        }
    }
    out.flush()
}

fn confirm(count: usize) -> std::io::Result<bool> {
    eprint!("Delete these {count} devices from the platform? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
