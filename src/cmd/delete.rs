//! `tpbulk delete`: delete the devices a file names, as a journalled, resumable batch of `delete` operations; and
//! the question every deletion from a file asks first (this command's, and an import's with `DELETE` rows).

use crate::cli::{GlobalArgs, InputArgs, OutputFormat, RemoteArgs};
use crate::cmd::runtime::Runtime;
use crate::engine::batch::{Confirm, Deletions, ImportConfig};
use crate::error::{Exit, UsageError};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file naming the devices: a DevEUI column, or IMEI / ICCID (SIM) / EID columns for cellular devices.
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Delete without asking (needed off a terminal).
    #[arg(long)]
    pub yes: bool,
    /// A name for the batch.
    #[arg(long)]
    pub name: Option<String>,
    /// The summary as text, or as one JSON object (the shape of `import --format json`; the count and the
    /// question go to stderr).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let shared = super::import::file_batch(&args.input, &args.remote, None, global, rt)?;
    // Asking needs someone to answer: refuse before the file is read or the platform called.
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "delete deletes devices from the platform: add --yes, or run it on a terminal to confirm".into(),
        )
        .into());
    }
    let config = ImportConfig {
        name: args.name.clone(),
        deleting: true,
        ..shared
    };
    let again = "deletions in flight are settled by `tpbulk resume`";
    super::import::run_file_batch(config, args.yes, again, args.format, global, rt)
}

/// The question asked before a file's deletions are sent: with `yes`, only the count (unless quiet); on a
/// terminal, the count and `y/N`; off a terminal, a refusal naming `--yes` (nothing was sent).
pub fn confirmation(file: &Path, yes: bool, quiet: bool) -> Confirm {
    let file = file.display().to_string();
    Box::new(move |d: Deletions| {
        let count = format!(
            "{file}: {} rows name a device to delete, {} of them on the platform",
            d.named, d.on_platform
        );
        if yes {
            if !quiet {
                eprintln!("tpbulk: {count}");
            }
            return Ok(true);
        }
        if !std::io::stdin().is_terminal() {
            return Err(UsageError(format!(
                "{count}: add --yes to delete them, or run on a terminal to confirm; nothing was sent, and no batch is kept"
            ))
            .into());
        }
        eprintln!("tpbulk: {count}");
        let question = format!("Delete these {} devices from the platform?", d.on_platform);
        Ok(ask(&question)?)
    })
}

/// `question [y/N]` on stderr, and whether the line read from stdin says yes.
pub fn ask(question: &str) -> std::io::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
