//! `tpbulk profile list|show`, and the profile every command runs with: which file (`--config`, `TPBULK_CONFIG`,
//! the XDG default), which profile (`--profile`, `TPBULK_PROFILE`, the batch's own for `resume`, the file's
//! `default_profile`), and its values merged under the flags and the environment: flag > environment > profile >
//! default.

use crate::cli::{EngineArgs, GlobalArgs, JournalArgs, OutputFormat, PlatformArgs};
use crate::cmd::style::{self, table_line};
use crate::engine::batch::{DEFAULT_CONCURRENCY, RunSettings};
use crate::error::{Exit, UsageError};
use crate::platform::profile::{ConfigFile, Profile, default_path};
use crate::platform::{ClientConfig, DEFAULT_RATE};
use crate::secret::{Secret, mask};
use anstyle::Style;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The journal when neither `--journal`, `TPBULK_JOURNAL` nor the profile names one.
pub const DEFAULT_JOURNAL: &str = "tpbulk.db";
/// The variable a client secret may come from.
pub const SECRET_VAR: &str = "THINGPARK_CLIENT_SECRET";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Every profile of the config file; the default one is marked `*`.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
    /// One profile's values, secrets masked.
    Show {
        /// The profile [default: the one --profile, TPBULK_PROFILE or default_profile names].
        name: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
    },
}

/// The profile a command runs with; both fields are `None` without a config file.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    pub file: Option<ConfigFile>,
    /// Where the file was looked for, for messages.
    pub path: Option<PathBuf>,
    pub name: Option<String>,
}

/// The profile of a command that is not resuming a batch.
pub fn choose(global: &GlobalArgs) -> Result<Chosen, UsageError> {
    choose_for(global, None)
}

/// The profile of a command; `recorded` is the profile a batch was imported with, which `resume` takes when neither
/// `--profile` nor `TPBULK_PROFILE` names one.
pub fn choose_for(global: &GlobalArgs, recorded: Option<&str>) -> Result<Chosen, UsageError> {
    let path = match &global.config {
        Some(path) => Some(path.clone()),
        None => default_path(
            std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
            home(),
        ),
    };
    // A file that was named must exist; the default one is optional.
    let file = match &path {
        Some(p) if global.config.is_some() || p.exists() => Some(ConfigFile::load(p)?),
        _ => None,
    };
    let looked = || {
        path.as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "no HOME".into())
    };
    let name = if let Some(name) = &global.profile {
        match &file {
            Some(f) => f.profile(name).map(|_| ())?,
            None => {
                return Err(UsageError(format!(
                    "--profile {name}: there is no config file ({} does not exist)",
                    looked()
                )));
            }
        }
        Some(name.clone())
    } else if let Some(name) = recorded {
        match &file {
            Some(f) if f.profiles.contains_key(name) => Some(name.to_string()),
            // The batch's platform is in the journal; only the credentials are missing, and the flags or the
            // environment may give them. The file's default profile may be another platform's: not taken.
            _ => {
                eprintln!(
                    "tpbulk: the batch was imported with profile {name:?}, which {} does not have; using the options and the environment",
                    looked()
                );
                None
            }
        }
    } else {
        file.as_ref().and_then(|f| f.default_profile.clone())
    };
    Ok(Chosen { file, path, name })
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

impl Chosen {
    /// The chosen profile's values (all empty without one).
    pub fn profile(&self) -> Profile {
        match (&self.file, &self.name) {
            (Some(file), Some(name)) => file.profiles.get(name).cloned().unwrap_or_default(),
            _ => Profile::default(),
        }
    }

    /// The connection settings: each of `--url`, `--client-id`, `--token-url` (flag or variable), else the
    /// profile's; the secret from `--client-secret-file`, else `THINGPARK_CLIENT_SECRET`, else the profile's.
    pub fn client(&self, args: &PlatformArgs) -> Result<ClientConfig, UsageError> {
        self.client_with(args, std::env::var(SECRET_VAR).ok())
    }

    /// [`Chosen::client`] with the secret variable's value given, for tests.
    pub fn client_with(
        &self,
        args: &PlatformArgs,
        env_secret: Option<String>,
    ) -> Result<ClientConfig, UsageError> {
        let profile = self.profile();
        let merged = PlatformArgs {
            url: args.url.clone().or(profile.url),
            client_id: args.client_id.clone().or(profile.client_id),
            client_secret_file: args.client_secret_file.clone(),
            token_url: args.token_url.clone().or(profile.token_url),
            insecure: args.insecure || profile.insecure.unwrap_or(false),
        };
        let secret = self.secret_with(args, env_secret)?;
        ClientConfig::from_parts(&merged, secret.map(|s| s.expose().to_string()))
    }

    /// The secret when `--client-secret-file` is not given: the variable, else the profile's (its command is run
    /// only then, so a password manager is not asked for a secret that is not used).
    pub fn secret_with(
        &self,
        args: &PlatformArgs,
        env_secret: Option<String>,
    ) -> Result<Option<Secret>, UsageError> {
        if args.client_secret_file.is_some() {
            return Ok(None);
        }
        if let Some(secret) = env_secret.filter(|s| !s.is_empty()) {
            return Ok(Some(Secret::new(secret)));
        }
        match (&self.file, &self.name) {
            (Some(file), Some(name)) => file.secret(name, home().as_deref()),
            _ => Ok(None),
        }
    }

    /// `--journal` or `TPBULK_JOURNAL`, else the profile's journal, else `tpbulk.db`.
    pub fn journal(&self, args: &JournalArgs) -> PathBuf {
        if let Some(path) = &args.journal {
            return path.clone();
        }
        match (&self.file, self.profile().journal) {
            (Some(file), Some(path)) => file.resolve(&path, home().as_deref()),
            _ => PathBuf::from(DEFAULT_JOURNAL),
        }
    }

    /// `--rate` and `--concurrency`, else the profile's, else 10 and 8.
    pub fn engine(&self, args: &EngineArgs) -> (f64, usize) {
        let profile = self.profile();
        (
            args.rate.or(profile.rate).unwrap_or(DEFAULT_RATE),
            args.concurrency
                .or(profile.concurrency)
                .unwrap_or(DEFAULT_CONCURRENCY),
        )
    }

    /// [`Chosen::engine`] checked, with an optional `--max-errors`.
    pub fn settings(
        &self,
        args: &EngineArgs,
        max_errors: Option<u64>,
    ) -> Result<RunSettings, UsageError> {
        let (rate, concurrency) = self.engine(args);
        RunSettings::new(rate, concurrency, max_errors)
    }
}

/// One profile as `profile show --format json` prints it (and each element of `profile list --format json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProfileJson {
    pub name: String,
    pub default: bool,
    pub file: String,
    pub url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<String>,
    pub client_secret_command: Option<String>,
    /// Masked to its last 4 characters; only set when the file holds the secret itself.
    pub client_secret: Option<String>,
    pub token_url: Option<String>,
    /// Resolved against the file's folder.
    pub journal: Option<String>,
    pub rate: Option<f64>,
    pub concurrency: Option<usize>,
    pub insecure: Option<bool>,
}

fn describe(file: &ConfigFile, name: &str, profile: &Profile) -> ProfileJson {
    let home = home();
    let path = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| file.resolve(p, home.as_deref()).display().to_string())
    };
    ProfileJson {
        name: name.to_string(),
        default: file.default_profile.as_deref() == Some(name),
        file: file.path.display().to_string(),
        url: profile.url.clone(),
        client_id: profile.client_id.clone(),
        client_secret_file: path(&profile.client_secret_file),
        client_secret_command: profile.client_secret_command.clone(),
        client_secret: profile.client_secret.as_deref().map(mask),
        token_url: profile.token_url.clone(),
        journal: path(&profile.journal),
        rate: profile.rate,
        concurrency: profile.concurrency,
        insecure: profile.insecure,
    }
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let chosen = choose(global)?;
    let mut out = std::io::stdout().lock();
    let Some(file) = &chosen.file else {
        let looked = chosen
            .path
            .as_deref()
            .unwrap_or(Path::new("~/.config/tpbulk/config.toml"));
        return match args.action {
            Action::List {
                format: OutputFormat::Json,
            } => {
                writeln!(out, "[]")?;
                Ok(Exit::Success)
            }
            Action::List { .. } => {
                writeln!(out, "no profiles: {} does not exist", looked.display())?;
                Ok(Exit::Success)
            }
            Action::Show { .. } => {
                Err(UsageError(format!("no profiles: {} does not exist", looked.display())).into())
            }
        };
    };
    match args.action {
        Action::List { format } => {
            let all: Vec<ProfileJson> = file
                .profiles
                .iter()
                .map(|(name, p)| describe(file, name, p))
                .collect();
            match format {
                OutputFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &all)?;
                    writeln!(out)?;
                }
                OutputFormat::Text => write_list(&mut out, &all)?,
            }
        }
        Action::Show { name, format } => {
            let Some(name) = name.or(chosen.name.clone()) else {
                return Err(UsageError(format!(
                    "{} has no default_profile: name the profile to show",
                    file.path.display()
                ))
                .into());
            };
            let shown = describe(file, &name, file.profile(&name)?);
            match format {
                OutputFormat::Json => {
                    serde_json::to_writer(&mut out, &shown)?;
                    writeln!(out)?;
                }
                OutputFormat::Text => write_show(&mut out, &shown)?,
            }
        }
    }
    Ok(Exit::Success)
}

fn write_list(out: &mut impl Write, all: &[ProfileJson]) -> std::io::Result<()> {
    let header = ["NAME", "URL", "CLIENT ID"];
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 3]> = all
        .iter()
        .map(|p| [p.name.clone(), or_dash(&p.url), or_dash(&p.client_id)])
        .collect();
    let (widths, left) = (style::widths(&header, &rows), |_| Style::new());
    writeln!(out, "  {}", table_line(&header, &widths, 3, left))?;
    // The default profile is marked `*` before its name.
    for (p, row) in all.iter().zip(&rows) {
        let line = format!(
            "{} {}",
            if p.default { '*' } else { ' ' },
            table_line(row, &widths, 3, left)
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn write_show(out: &mut impl Write, p: &ProfileJson) -> std::io::Result<()> {
    let default = if p.default { " (default)" } else { "" };
    writeln!(out, "profile {}{default} in {}", p.name, p.file)?;
    let rate = p.rate.map(|r| r.to_string());
    let concurrency = p.concurrency.map(|c| c.to_string());
    let insecure = p.insecure.map(|i| i.to_string());
    for (key, value) in [
        ("url", &p.url),
        ("client_id", &p.client_id),
        ("client_secret_file", &p.client_secret_file),
        ("client_secret_command", &p.client_secret_command),
        ("client_secret", &p.client_secret),
        ("token_url", &p.token_url),
        ("journal", &p.journal),
        ("rate", &rate),
        ("concurrency", &concurrency),
        ("insecure", &insecure),
    ] {
        if let Some(value) = value {
            writeln!(out, "  {key:<22} {value}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Parsed;

    fn parse(argv: &[&str]) -> Parsed<crate::cli::RemoteArgs> {
        Parsed::of(argv).unwrap()
    }

    fn config(dir: &Path) -> String {
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            "default_profile = \"lab\"\n\
             [profiles.lab]\nurl = \"http://lab.example\"\nclient_id = \"lab-id\"\n\
             client_secret_command = \"echo lab-secret\"\njournal = \"lab.db\"\nrate = 2.5\nconcurrency = 3\n\
             [profiles.prod]\nurl = \"https://prod.example\"\nclient_id = \"prod-id\"\n\
             client_secret_file = \"prod.secret\"\n",
        )
        .unwrap();
        std::fs::write(dir.join("prod.secret"), "prod-secret\n").unwrap();
        path.display().to_string()
    }

    #[test]
    fn flags_beat_the_profile_and_the_profile_beats_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(dir.path());
        // The default profile fills what no flag gives.
        let cli = parse(&["--config", &file]);
        let chosen = choose(&cli.global).unwrap();
        assert_eq!(chosen.name.as_deref(), Some("lab"));
        let client = chosen.client_with(&cli.args.platform, None).unwrap();
        assert_eq!(client.url, "http://lab.example");
        assert_eq!(client.client_id, "lab-id");
        assert_eq!(client.secret.expose(), "lab-secret");
        assert_eq!(chosen.journal(&cli.args.journal), dir.path().join("lab.db"));
        assert_eq!(chosen.engine(&cli.args.engine), (2.5, 3));
        // Flags beat it, one value at a time; the variable's secret beats the profile's.
        let cli = parse(&[
            "--config",
            &file,
            "--url",
            "http://flag.example",
            "--journal",
            "flag.db",
            "--rate",
            "7",
        ]);
        let chosen = choose(&cli.global).unwrap();
        let client = chosen
            .client_with(&cli.args.platform, Some("env-secret".into()))
            .unwrap();
        assert_eq!(client.url, "http://flag.example");
        assert_eq!(client.client_id, "lab-id");
        assert_eq!(client.secret.expose(), "env-secret");
        assert_eq!(chosen.journal(&cli.args.journal), PathBuf::from("flag.db"));
        assert_eq!(chosen.engine(&cli.args.engine), (7.0, 3));
        // --profile picks another one; its secret file is relative to the config file.
        let cli = parse(&["--config", &file, "--profile", "prod"]);
        let client = choose(&cli.global)
            .unwrap()
            .client_with(&cli.args.platform, None)
            .unwrap();
        assert_eq!(client.url, "https://prod.example");
        assert_eq!(client.secret.expose(), "prod-secret");
        // No file: the built-in defaults.
        let cli = parse(&["--config", &file]);
        let none = Chosen::default();
        assert_eq!(none.journal(&cli.args.journal), PathBuf::from("tpbulk.db"));
        assert_eq!(none.engine(&cli.args.engine), (10.0, 8));
    }

    #[test]
    fn a_recorded_profile_is_taken_unless_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(dir.path());
        let cli = parse(&["--config", &file]);
        let chosen = choose_for(&cli.global, Some("prod")).unwrap();
        assert_eq!(chosen.name.as_deref(), Some("prod"));
        let cli = parse(&["--config", &file, "--profile", "lab"]);
        let chosen = choose_for(&cli.global, Some("prod")).unwrap();
        assert_eq!(chosen.name.as_deref(), Some("lab"));
        // A profile since removed: neither it nor the default (maybe another platform) is taken.
        let cli = parse(&["--config", &file]);
        let chosen = choose_for(&cli.global, Some("gone")).unwrap();
        assert_eq!(chosen.name, None);
    }

    #[test]
    fn an_unknown_profile_or_a_missing_named_file_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(dir.path());
        let cli = parse(&["--config", &file, "--profile", "stage"]);
        let err = choose(&cli.global).unwrap_err();
        assert!(
            err.0.contains("\"stage\"") && err.0.contains("lab, prod"),
            "{err}"
        );
        let missing = dir.path().join("nope.toml");
        let cli = parse(&["--config", missing.to_str().unwrap()]);
        let err = choose(&cli.global).unwrap_err();
        assert!(err.0.contains("nope.toml"), "{err}");
    }

    #[test]
    fn show_masks_a_secret_the_file_holds() {
        let profile = Profile {
            client_secret: Some("abcdefgh1234".into()),
            ..Profile::default()
        };
        let file = ConfigFile {
            path: PathBuf::from("/etc/tpbulk.toml"),
            ..ConfigFile::default()
        };
        let shown = describe(&file, "lab", &profile);
        let mut out = Vec::new();
        write_show(&mut out, &shown).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("****1234") && !text.contains("abcdefgh"),
            "{text}"
        );
        assert!(!serde_json::to_string(&shown).unwrap().contains("abcdefgh"));
    }
}
