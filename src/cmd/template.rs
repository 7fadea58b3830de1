//! `tpbulk template`: write an input template for one kind of device.

use crate::cli::GlobalArgs;
use crate::device::Kind;
use crate::error::Exit;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kind of device the template is for.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Write to FILE.csv or FILE.xlsx (default: CSV on stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = (args, global);
    todo!("issue 2: template")
}
