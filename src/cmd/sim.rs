//! `tpbulk sim`: run the local ThingPark simulator until Ctrl-C.

use crate::cli::GlobalArgs;
use crate::error::Exit;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8680")]
    pub listen: String,
    /// Catalogue JSON (models, connections, plans, contexts); default: the tutorial's examples.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Load devices from this file at start and save them on shutdown.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// The client id tokens are issued to.
    #[arg(long, default_value = "tpbulk-sim")]
    pub client_id: String,
    /// A file holding the client secret (default secret: tpbulk-sim-secret).
    #[arg(long)]
    pub client_secret_file: Option<PathBuf>,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub token_ttl: u64,
    /// Leaky-bucket limit over the REST paths, requests/s (0: none).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Bucket size for --rate.
    #[arg(long)]
    pub burst: Option<u32>,
    /// Send `Retry-After` with 429 answers.
    #[arg(long)]
    pub retry_after: bool,
    /// Added latency per API call, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction of device calls answered 503 before doing anything.
    #[arg(long, default_value_t = 0.0)]
    pub fail: f64,
    /// Fraction of creations done, then answered by a dropped connection.
    #[arg(long, default_value_t = 0.0)]
    pub drop: f64,
    /// HTTP status of the duplicate-EUI answer.
    #[arg(long, default_value_t = 409)]
    pub duplicate_status: u16,
    /// Seed for faults and synthetic traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Catalogue page size.
    #[arg(long, default_value_t = 2)]
    pub page_size: usize,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = (args, global);
    todo!("issue 3: sim")
}
