//! `tpbulk sim`: run the local ThingPark simulator until Ctrl-C.

use crate::cli::GlobalArgs;
use crate::cmd::runtime::Runtime;
use crate::error::{Exit, UsageError};
use crate::sim::{self, DEFAULT_CLIENT_SECRET, SimConfig, catalog::Catalog};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Bucket size for --rate (default: one second of requests).
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
    /// The largest device-listing page: a larger `pageSize` gets this many (1 to 1000).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_page_size: usize,
    /// Start with N devices already there, in their own EUI range (0016C00100000000 upwards), to stand for a
    /// large subscription.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preload: u64,
}

impl Args {
    /// Checks the options into a simulator configuration, reading the catalogue and secret files.
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            UsageError(format!(
                "--listen {}: expected IP:PORT, e.g. 127.0.0.1:8680",
                self.listen
            ))
        })?;
        let catalog = match &self.catalog {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    UsageError(format!("--catalog {}: cannot read: {e}", path.display()))
                })?;
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    UsageError(format!("--catalog {}: not JSON: {e}", path.display()))
                })?;
                Catalog::from_value(&value)
                    .map_err(|e| UsageError(format!("--catalog {}: {e}", path.display())))?;
                Some(value)
            }
        };
        let client_secret = match &self.client_secret_file {
            None => DEFAULT_CLIENT_SECRET.to_owned(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    UsageError(format!(
                        "--client-secret-file {}: cannot read: {e}",
                        path.display()
                    ))
                })?;
                text.trim_end_matches(['\r', '\n']).to_owned()
            }
        };
        let config = SimConfig {
            listen,
            catalog,
            state: self.state.clone(),
            client_id: self.client_id.clone(),
            client_secret,
            token_ttl: Duration::from_secs(self.token_ttl),
            rate: (self.rate != 0.0).then_some(self.rate),
            burst: self.burst,
            retry_after: self.retry_after,
            latency: Duration::from_millis(self.latency_ms),
            fail: self.fail,
            drop: self.drop,
            duplicate_status: self.duplicate_status,
            seed: self.seed,
            page_size: self.page_size,
            max_page_size: self.max_page_size,
            preload: self.preload,
        };
        config.check().map_err(|e| UsageError(e.to_string()))?;
        Ok(config)
    }
}

pub fn run(args: Args, _global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let config = args.config()?;
    // The runtime listens for Ctrl-C and SIGTERM before the body starts, so whoever reads the address and then
    // signals the simulator gets a clean stop with the state saved.
    rt.block_on(None, |stop| async move {
        let handle = sim::start(config).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on {}", handle.url())?;
            match &args.client_secret_file {
                None => writeln!(
                    out,
                    "client id: {}  client secret: {DEFAULT_CLIENT_SECRET}",
                    args.client_id
                )?,
                Some(path) => writeln!(
                    out,
                    "client id: {}  client secret: the one in {}",
                    args.client_id,
                    path.display()
                )?,
            }
            out.flush()?;
        }
        stop.cancelled().await;
        handle.stop().await?;
        if let Some(path) = &args.state {
            tracing::info!(path = %path.display(), "state saved");
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(argv: &[&str]) -> anyhow::Result<SimConfig> {
        crate::cmd::Parsed::<Args>::of(argv)?.args.config()
    }

    #[test]
    fn defaults_match_the_issue() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8680");
        assert_eq!(c.client_id, "tpbulk-sim");
        assert_eq!(c.client_secret, "tpbulk-sim-secret");
        assert_eq!(c.rate, None);
        assert_eq!(c.duplicate_status, 409);
        assert_eq!(c.token_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn bad_options_are_usage_errors() {
        for argv in [
            &["--listen", "nowhere"][..],
            &["--fail", "1.5"],
            &["--drop=-0.1"],
            &["--rate=-3"],
            &["--burst", "5"],
            &["--duplicate-status", "500"],
            &["--max-page-size", "0"],
            &["--max-page-size", "1001"],
            &["--catalog", "/nonexistent/catalog.json"],
        ] {
            let err = config(argv).unwrap_err();
            assert!(
                err.downcast_ref::<UsageError>().is_some(),
                "{argv:?}: {err}"
            );
        }
    }

    #[test]
    fn secret_file_is_read_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        let c = config(&[
            "--client-secret-file",
            path.to_str().unwrap(),
            "--rate",
            "5",
        ])
        .unwrap();
        assert_eq!(c.client_secret, "s3cret");
        assert_eq!(c.rate, Some(5.0));
    }
}
