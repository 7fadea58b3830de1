//! Where flags end: the shared option groups of `cli` turned into the plain, checked settings the layers below take
//! (`InputOptions`, `PlatformSettings`/`ClientConfig`; `RunSettings` and the profile's values come from
//! `profile::Chosen`). Nothing below `cmd/` sees a clap type.

use crate::cli::{InputArgs, PlatformArgs};
use crate::error::UsageError;
use crate::input::{InputError, InputOptions};
use crate::platform::{ClientConfig, PlatformSettings};

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
    /// The connection settings of `--url`, `--client-id`, `--client-secret-file`, else `env_secret` (the value of
    /// `THINGPARK_CLIENT_SECRET`), checked.
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
