//! Connection settings checked before any network I/O: URL, client id, secret source, timeouts.

use crate::error::UsageError;
use crate::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the platform as a command was told (flags, environment, a journalled batch), before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformSettings {
    pub url: Option<String>,
    pub client_id: Option<String>,
    /// A file holding the client secret; wins over the environment's.
    pub client_secret_file: Option<PathBuf>,
    pub token_url: Option<String>,
    pub insecure: bool,
}

impl PlatformSettings {
    /// These settings, with what they leave open taken from the options a batch was journalled with (`url`,
    /// `client_id`, `token_url`, `insecure`): how a resumed batch reaches the platform it was imported to.
    pub fn or_recorded(&self, options: &serde_json::Value) -> PlatformSettings {
        let recorded = |key: &str| options[key].as_str().map(str::to_string);
        // Older journals recorded the token endpoint even when the URL implied it: one that is the recorded URL's own
        // default follows a new `--url` like an unrecorded one.
        let implied = options["url"].as_str().map(default_token_url);
        let recorded_token = recorded("token_url").filter(|t| implied.as_deref() != Some(t));
        PlatformSettings {
            url: self.url.clone().or_else(|| recorded("url")),
            client_id: self.client_id.clone().or_else(|| recorded("client_id")),
            client_secret_file: self.client_secret_file.clone(),
            token_url: self.token_url.clone().or(recorded_token),
            insecure: self.insecure || options["insecure"].as_bool().unwrap_or(false),
        }
    }

    /// Checks what is given (the URLs' form, the secret file's presence) without filling in what is not: a resume
    /// checks this before it opens the journal that holds the rest.
    pub fn check_given(&self) -> Result<(), UsageError> {
        if let Some(url) = given(&self.url) {
            check_url(url, "--url")?;
        }
        if let Some(url) = given(&self.token_url) {
            check_url(url, "--token-url")?;
        }
        if let Some(path) = &self.client_secret_file
            && !path.is_file()
        {
            return Err(UsageError(format!(
                "--client-secret-file {}: no such file",
                path.display()
            )));
        }
        Ok(())
    }
}

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a whole request, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Checked connection settings, built before any network I/O.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL without a trailing slash, e.g. `https://community.thingpark.io`.
    pub url: String,
    /// `{url}/users-auth/protocol/openid-connect/token` unless overridden.
    pub token_url: String,
    pub client_id: String,
    pub secret: Secret,
    pub insecure: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// From `--url`/`THINGPARK_URL`, `--client-id`/`THINGPARK_CLIENT_ID` (the command fills in a profile's values
    /// first), and `--client-secret-file` or else `env_secret` (`THINGPARK_CLIENT_SECRET` or the profile's). A missing
    /// value is a `UsageError` naming the option and its variable.
    pub fn new(
        args: &PlatformSettings,
        env_secret: Option<String>,
    ) -> Result<ClientConfig, UsageError> {
        let url = given(&args.url).ok_or_else(|| {
            UsageError("no platform URL: give --url, set THINGPARK_URL, or use a --profile".into())
        })?;
        let url = check_url(url, "--url")?;
        let client_id = given(&args.client_id)
            .ok_or_else(|| {
                UsageError(
                    "no client id: give --client-id, set THINGPARK_CLIENT_ID, or use a --profile"
                        .into(),
                )
            })?
            .to_string();
        // The file wins over the variable: a person who names a file means it.
        let secret = match &args.client_secret_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    UsageError(format!(
                        "--client-secret-file {}: cannot read it: {e}",
                        path.display()
                    ))
                })?;
                let secret = text.trim_end_matches(['\r', '\n']).to_string();
                if secret.is_empty() {
                    return Err(UsageError(format!(
                        "--client-secret-file {}: the file is empty",
                        path.display()
                    )));
                }
                secret
            }
            None => env_secret.filter(|s| !s.is_empty()).ok_or_else(|| {
                UsageError(
                    "no client secret: set THINGPARK_CLIENT_SECRET, give --client-secret-file, or use a --profile \
                     with client_secret_file or client_secret_command"
                        .into(),
                )
            })?,
        };
        let token_url = match given(&args.token_url) {
            Some(t) => check_url(t, "--token-url")?,
            None => default_token_url(&url),
        };
        Ok(ClientConfig {
            url,
            token_url,
            client_id,
            secret: Secret::new(secret),
            insecure: args.insecure,
            connect_timeout: CONNECT_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
        })
    }

    /// The token endpoint when it was given explicitly, `None` when it is the one the URL implies: what a batch
    /// records, so that resuming it against a new `--url` asks that platform for its token.
    pub fn explicit_token_url(&self) -> Option<&str> {
        (self.token_url != default_token_url(&self.url)).then_some(self.token_url.as_str())
    }
}

/// A setting given with something in it besides spaces, trimmed.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The token endpoint of a platform base URL (without a trailing slash), when `--token-url` does not name another.
pub fn default_token_url(url: &str) -> String {
    format!("{url}/users-auth/protocol/openid-connect/token")
}

fn check_url(url: &str, option: &str) -> Result<String, UsageError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| UsageError(format!("{option} {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UsageError(format!(
            "{option} {url:?}: only http and https URLs are supported"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn args(url: Option<&str>, client_id: Option<&str>) -> PlatformSettings {
        PlatformSettings {
            url: url.map(str::to_string),
            client_id: client_id.map(str::to_string),
            client_secret_file: None,
            token_url: None,
            insecure: false,
        }
    }

    #[test]
    fn defaults_token_url_and_timeouts() {
        let config = ClientConfig::new(
            &args(Some("https://community.thingpark.io/"), Some("sub-1/me")),
            Some("s3cret".into()),
        )
        .unwrap();
        assert_eq!(config.url, "https://community.thingpark.io");
        assert_eq!(
            config.token_url,
            "https://community.thingpark.io/users-auth/protocol/openid-connect/token"
        );
        assert_eq!(config.secret.expose(), "s3cret");
        assert_eq!(config.connect_timeout, Duration::from_secs(10));
        assert_eq!(config.request_timeout, Duration::from_secs(30));
    }

    #[test]
    fn only_a_token_url_given_apart_from_the_url_counts_as_explicit() {
        let implied =
            ClientConfig::new(&args(Some("http://a:1"), Some("id")), Some("s".into())).unwrap();
        assert_eq!(implied.explicit_token_url(), None);
        let mut given = args(Some("http://a:1"), Some("id"));
        given.token_url = Some("http://idp:2/token".into());
        let given = ClientConfig::new(&given, Some("s".into())).unwrap();
        assert_eq!(given.explicit_token_url(), Some("http://idp:2/token"));
    }

    #[test]
    fn missing_values_name_the_option_and_the_variable() {
        let err = ClientConfig::new(&args(None, Some("id")), Some("s".into())).unwrap_err();
        assert!(
            err.0.contains("--url") && err.0.contains("THINGPARK_URL"),
            "{err}"
        );
        let err = ClientConfig::new(&args(Some("http://x"), None), Some("s".into())).unwrap_err();
        assert!(err.0.contains("--client-id") && err.0.contains("THINGPARK_CLIENT_ID"));
        let err = ClientConfig::new(&args(Some("http://x"), Some("id")), None).unwrap_err();
        assert!(
            err.0.contains("THINGPARK_CLIENT_SECRET") && err.0.contains("--client-secret-file")
        );
        let err =
            ClientConfig::new(&args(Some("ftp://x"), Some("id")), Some("s".into())).unwrap_err();
        assert!(err.0.contains("--url"));
    }

    #[test]
    fn secret_file_loses_its_trailing_newline_and_wins_over_the_variable() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "from-file").unwrap();
        let mut a = args(Some("http://127.0.0.1:9"), Some("id"));
        a.client_secret_file = Some(file.path().to_path_buf());
        a.token_url = Some("http://127.0.0.1:9/token".into());
        let config = ClientConfig::new(&a, Some("from-env".into())).unwrap();
        assert_eq!(config.secret.expose(), "from-file");
        assert_eq!(config.token_url, "http://127.0.0.1:9/token");
        assert!(!format!("{config:?}").contains("from-file"));
    }

    #[test]
    fn a_resume_fills_what_it_was_not_given_from_the_batch() {
        let recorded = serde_json::json!({
            "url": "http://old:1", "client_id": "old-id", "token_url": "http://old:1/t", "insecure": true,
        });
        let given = args(Some("http://new:2"), None);
        let merged = given.or_recorded(&recorded);
        assert_eq!(merged.url.as_deref(), Some("http://new:2"));
        assert_eq!(merged.client_id.as_deref(), Some("old-id"));
        assert_eq!(merged.token_url.as_deref(), Some("http://old:1/t"));
        // A recorded token endpoint that the recorded URL implied follows the new URL.
        let implied = serde_json::json!({"url": "http://old:1", "token_url": default_token_url("http://old:1")});
        assert_eq!(given.or_recorded(&implied).token_url, None);
        assert!(merged.insecure);
        assert!(args(Some("ftp://x"), None).check_given().is_err());
        assert!(args(None, None).check_given().is_ok());
        let mut missing = args(None, None);
        missing.client_secret_file = Some("/nonexistent/secret".into());
        assert!(missing.check_given().is_err());
    }
}
