//! `tpbulk connection`: list connections and add IoT Flow MQTT or Basic HTTPS ones.

use crate::cli::{GlobalArgs, PlatformArgs};
use crate::error::Exit;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Every connection; IoT Flow ones marked with their connection id.
    List {
        #[command(flatten)]
        platform: PlatformArgs,
        #[arg(long)]
        json: bool,
    },
    /// Add a connection.
    Add {
        #[command(subcommand)]
        kind: AddKind,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AddKind {
    /// A ThingPark X IoT Flow MQTT connection (DX Core API). Password from THINGPARK_CONNECTION_PASSWORD or --password-file.
    Mqtt {
        #[command(flatten)]
        platform: PlatformArgs,
        #[arg(long)]
        name: String,
        /// Broker host:port.
        #[arg(long)]
        host: String,
        #[arg(long)]
        uplink_topic: String,
        #[arg(long)]
        downlink_topic: String,
        #[arg(long, default_value = "SSL")]
        protocol: String,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// A Basic HTTPS connection (appServers).
    Https {
        /// Platform base URL (`--url` here is the connection's destination).
        #[arg(long, env = "THINGPARK_URL")]
        platform_url: Option<String>,
        #[arg(long, env = "THINGPARK_CLIENT_ID")]
        client_id: Option<String>,
        #[arg(long, value_name = "FILE")]
        client_secret_file: Option<PathBuf>,
        #[arg(long)]
        token_url: Option<String>,
        #[arg(long)]
        insecure: bool,
        #[arg(long)]
        name: String,
        /// The application's HTTPS endpoint.
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "json")]
        content_type: String,
        /// A file holding the tunnel interface authentication key (32 hex).
        #[arg(long)]
        as_key_file: PathBuf,
        #[arg(long, default_value_t = 10)]
        max_deviation: u32,
    },
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let _ = (args, global);
    todo!("issue 6: connection")
}
