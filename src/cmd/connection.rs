//! `tpbulk connection`: list connections and add IoT Flow MQTT or Basic HTTPS ones.

use crate::after::connection;
use crate::cli::{GlobalArgs, OutputFormat, PlatformArgs};
use crate::cmd::runtime::Runtime;
use crate::error::{Exit, PlatformUnavailable, UsageError};
use crate::platform::DEFAULT_RATE;
use crate::secret::Secret;
use std::io::Write;
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
        /// A table, or a JSON array of the connections.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
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
        #[arg(long, env = "THINGPARK_URL", help_heading = "Platform options")]
        platform_url: Option<String>,
        #[arg(long, env = "THINGPARK_CLIENT_ID", help_heading = "Platform options")]
        client_id: Option<String>,
        #[arg(long, value_name = "FILE", help_heading = "Platform options")]
        client_secret_file: Option<PathBuf>,
        #[arg(long, help_heading = "Platform options")]
        token_url: Option<String>,
        #[arg(long, help_heading = "Platform options")]
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

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    match args.action {
        Action::List { platform, format } => list(&platform, format, global, rt),
        Action::Add { kind } => add(kind, global, rt),
    }
}

fn list(
    platform: &PlatformArgs,
    format: OutputFormat,
    global: &GlobalArgs,
    rt: &Runtime,
) -> anyhow::Result<Exit> {
    let config = super::profile::choose(global)?.client(platform)?;
    let done = "while listing the connections; nothing was changed";
    let connections = super::with_client(rt, done, config, Some(DEFAULT_RATE), async |client| {
        Ok(connection::list(&client).await?)
    })?;
    let mut out = std::io::stdout().lock();
    if format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut out, &connections)?;
        writeln!(out)?;
        return Ok(Exit::Success);
    }
    let width = connections
        .iter()
        .map(|c| c.id.chars().count())
        .max()
        .unwrap_or(0)
        .max(2);
    writeln!(
        out,
        "{:<width$}  {:<6}  {:<8}  {:<8}  NAME",
        "ID", "TYPE", "STATE", "IOT FLOW"
    )?;
    for c in &connections {
        writeln!(
            out,
            "{:<width$}  {:<6}  {:<8}  {:<8}  {}",
            c.id,
            c.kind.as_deref().unwrap_or("-"),
            c.state.as_deref().unwrap_or("-"),
            c.iot_flow_id.as_deref().unwrap_or("-"),
            c.name
        )?;
    }
    Ok(Exit::Success)
}

fn add(kind: AddKind, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    // Options, files and the password are checked before anything is sent.
    let (platform, request) = match kind {
        AddKind::Mqtt {
            platform,
            name,
            host,
            uplink_topic,
            downlink_topic,
            protocol,
            username,
            password_file,
        } => {
            let password = match password_file {
                Some(path) => Some(connection::read_password(&path)?),
                None => std::env::var(PASSWORD_VAR)
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(Secret::new),
            };
            let mqtt = connection::MqttConnection::new(
                &name,
                &host,
                &uplink_topic,
                &downlink_topic,
                &protocol,
                username.as_deref(),
                password,
            )?;
            (platform, Request::Mqtt(mqtt))
        }
        AddKind::Https {
            platform_url,
            client_id,
            client_secret_file,
            token_url,
            insecure,
            name,
            url,
            content_type,
            as_key_file,
            max_deviation,
        } => {
            let key = connection::read_as_key(&as_key_file)?;
            let https = connection::HttpsConnection::new(
                &name,
                &url,
                &content_type,
                key.expose(),
                max_deviation,
            )?;
            let platform = PlatformArgs {
                url: platform_url,
                client_id,
                client_secret_file,
                token_url,
                insecure,
            };
            (platform, Request::Https(https))
        }
    };
    let config = super::profile::choose(global)?.client(&platform)?;
    let url = config.url.clone();
    let done = "while adding the connection; it may have been created: `tpbulk connection list` shows it if so";
    let id = super::with_client(rt, done, config, Some(DEFAULT_RATE), async |client| {
        let added = match &request {
            Request::Mqtt(c) => connection::add_mqtt(&client, c).await,
            Request::Https(c) => connection::add_https(&client, c).await,
        };
        added.map_err(|e| match e {
            connection::AddError::Refused(m) | connection::AddError::Taken(m) => {
                anyhow::Error::new(UsageError(m))
            }
            connection::AddError::Platform(m) => {
                anyhow::Error::new(PlatformUnavailable(format!("{url}: {m}")))
            }
        })
    })?;
    if !global.quiet {
        eprintln!("connection created; use {id} in a shipment's connection column");
    }
    crate::stdout::line(format_args!("{id}"));
    Ok(Exit::Success)
}

/// The variable the MQTT broker password may come from.
pub const PASSWORD_VAR: &str = "THINGPARK_CONNECTION_PASSWORD";

enum Request {
    Mqtt(connection::MqttConnection),
    Https(connection::HttpsConnection),
}
