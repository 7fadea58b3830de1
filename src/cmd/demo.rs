//! `tpbulk demo`: rehearse the sample shipments on an in-process simulator.

use crate::cli::GlobalArgs;
use crate::error::Exit;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the journal, report and rework files.
    #[arg(long, default_value = "tpbulk-demo")]
    pub dir: PathBuf,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = (args, global);
    todo!("issue 5: demo")
}
