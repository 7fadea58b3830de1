//! tracing set-up: `-v`/`-vv` levels, text or JSON lines, always to stderr.

use crate::cli::{GlobalArgs, LogFormat};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `TPBULK_LOG` (an EnvFilter directive) overrides `-v`.
pub fn init(global: &GlobalArgs) -> anyhow::Result<()> {
    let level = match global.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("TPBULK_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("tpbulk={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match global.log_format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
