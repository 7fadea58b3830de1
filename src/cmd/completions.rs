//! `tpbulk completions SHELL`: the completion script of a shell, generated from the clap definitions.

use crate::cli::{Cli, GlobalArgs};
use crate::error::Exit;
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: Args, _global: &GlobalArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "tpbulk", &mut out);
    Ok(Exit::Success)
}
