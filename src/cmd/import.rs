//! `tpbulk import`: check, resolve, journal and create every device of a shipment file.

use crate::cli::{EngineArgs, GlobalArgs, InputArgs, JournalArgs, PlatformArgs};
use crate::error::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// What a device that already exists on the platform becomes.
    #[arg(long, value_enum, default_value_t = OnExisting::Skip)]
    pub on_existing: OnExisting,
    /// Stop cleanly after this many failed rows.
    #[arg(long)]
    pub max_errors: Option<u64>,
    /// A name for the batch.
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OnExisting {
    /// The row ends `exists` (success).
    Skip,
    /// The row ends `failed`.
    Fail,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = (args, global);
    todo!("issue 5: import")
}
