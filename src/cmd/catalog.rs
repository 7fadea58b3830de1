//! `tpbulk catalog`: list what references in a shipment can name.

use crate::cli::{GlobalArgs, PlatformArgs};
use crate::error::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to list (default: everything).
    #[arg(value_enum)]
    pub what: Option<What>,
    /// Only this connectivity (models and plans).
    #[arg(long, value_enum)]
    pub connectivity: Option<Connectivity>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub platform: PlatformArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    Models,
    Connections,
    Plans,
    Contexts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Connectivity {
    Lorawan,
    Cellular,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = (args, global);
    todo!("issue 4: catalog")
}
