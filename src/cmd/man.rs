//! `tpbulk man [-o DIR]`: man pages generated from the clap definitions, `tpbulk.1` on stdout or one page per
//! command (`tpbulk-import.1` …) in a folder.

use crate::cli::{Cli, GlobalArgs};
use crate::error::{Exit, UsageError};
use clap::CommandFactory;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write tpbulk.1 and a page per command into DIR [default: tpbulk.1 on stdout].
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let command = Cli::command();
    match args.output {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(command).render(&mut out)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| UsageError(format!("{}: cannot create it: {e}", dir.display())))?;
            clap_mangen::generate_to(command, &dir).map_err(|e| {
                UsageError(format!("{}: cannot write the pages: {e}", dir.display()))
            })?;
            if !global.quiet {
                eprintln!("man pages written to {}", dir.display());
            }
        }
    }
    Ok(Exit::Success)
}
