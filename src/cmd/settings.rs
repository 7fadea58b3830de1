//! Where flags end: the shared option groups of `cli` turned into the plain, checked settings the layers below take
//! (`InputOptions`, `PlatformSettings`/`ClientConfig`, `RunSettings`). Nothing below `cmd/` sees a clap type.

use crate::cli::{EngineArgs, InputArgs, PlatformArgs};
use crate::engine::batch::RunSettings;
use crate::error::UsageError;
use crate::input::{InputError, InputOptions};
use crate::platform::{ClientConfig, PlatformSettings};

/// The environment variable the client secret is read from.
pub const SECRET_VARIABLE: &str = "THINGPARK_CLIENT_SECRET";

impl PlatformArgs {
    /// The flags as plain settings (not yet checked).
    pub fn settings(&self) -> PlatformSettings {
        PlatformSettings {
            url: self.url.clone(),
            client_id: self.client_id.clone(),
            client_secret_file: self.client_secret_file.clone(),
            token_url: self.token_url.clone(),
            insecure: self.insecure,
        }
    }
}

impl ClientConfig {
    /// The connection settings of `--url`, `--client-id`, `--client-secret-file`/`THINGPARK_CLIENT_SECRET`, checked.
    pub fn from_args(args: &PlatformArgs) -> Result<ClientConfig, UsageError> {
        Self::from_parts(args, std::env::var(SECRET_VARIABLE).ok())
    }

    /// [`ClientConfig::from_args`] with the secret variable's value given.
    pub fn from_parts(
        args: &PlatformArgs,
        env_secret: Option<String>,
    ) -> Result<ClientConfig, UsageError> {
        ClientConfig::new(&args.settings(), env_secret)
    }
}

impl InputOptions {
    /// `--sheet`, `--mapping`, `--set` and `--kind`, checked (the mapping file is read).
    pub fn from_args(args: &InputArgs) -> Result<InputOptions, InputError> {
        InputOptions::new(
            args.sheet.clone(),
            args.mapping.as_deref(),
            &args.set,
            args.kind,
            args.columns.as_deref(),
        )
    }
}

impl EngineArgs {
    /// `--rate` and `--concurrency` (else the defaults) checked, with an optional `--max-errors`.
    pub fn settings(&self, max_errors: Option<u64>) -> Result<RunSettings, UsageError> {
        RunSettings::new(
            self.rate.unwrap_or(crate::platform::DEFAULT_RATE),
            self.concurrency
                .unwrap_or(crate::engine::batch::DEFAULT_CONCURRENCY),
            max_errors,
        )
    }
}
