//! Named platform profiles from `config.toml`: the file read into typed [`Profile`]s, the mode check of a file that
//! holds a secret, and the secret of a profile fetched from its file or its command. Which value wins over which
//! (flag > environment > profile > default) is decided by the commands, not here.

use crate::error::UsageError;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `config.toml`: an optional `default_profile` and `[profiles.NAME]` tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Where it was read from (relative paths inside it are taken from its folder).
    #[serde(skip)]
    pub path: PathBuf,
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One `[profiles.NAME]` table. Every key is optional; an unknown key is an error, so a typo is not ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: Option<String>,
    pub client_id: Option<String>,
    /// A file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// A command whose standard output is the client secret (`pass show thingpark/lab`), run by `sh -c`.
    pub client_secret_command: Option<String>,
    /// The secret itself: allowed only in a file no one else can read (mode 0600).
    #[serde(skip_serializing)]
    pub client_secret: Option<String>,
    pub token_url: Option<String>,
    pub journal: Option<PathBuf>,
    pub rate: Option<f64>,
    pub concurrency: Option<usize>,
    pub insecure: Option<bool>,
}

/// Where the file is looked for when neither `--config` nor `TPBULK_CONFIG` names one:
/// `$XDG_CONFIG_HOME/tpbulk/config.toml`, else `$HOME/.config/tpbulk/config.toml`.
pub fn default_path(xdg_config_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    // The XDG spec says a relative XDG_CONFIG_HOME is invalid and to be ignored.
    let base = xdg_config_home
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| h.join(".config")))?;
    Some(base.join("tpbulk").join("config.toml"))
}

impl ConfigFile {
    /// Reads and checks `path`: TOML syntax, known keys, profile values, and the mode of a file holding a secret.
    pub fn load(path: &Path) -> Result<ConfigFile, UsageError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("{}: cannot read it: {e}", path.display())))?;
        let mut file: ConfigFile = toml::from_str(&text)
            .map_err(|e| UsageError(format!("{}: {}", path.display(), e.to_string().trim_end())))?;
        file.path = path.to_path_buf();
        for (name, profile) in &file.profiles {
            file.check(name, profile)?;
        }
        if let Some(name) = &file.default_profile
            && !file.profiles.contains_key(name)
        {
            return Err(UsageError(format!(
                "{}: default_profile = {name:?}, but there is no [profiles.{name}]",
                path.display()
            )));
        }
        if let Some(name) = file
            .profiles
            .iter()
            .find_map(|(n, p)| p.client_secret.as_ref().map(|_| n))
        {
            check_private(path, name)?;
        }
        Ok(file)
    }

    fn check(&self, name: &str, p: &Profile) -> Result<(), UsageError> {
        let at = |key: &str| format!("{}: [profiles.{name}] {key}", self.path.display());
        let sources = [
            p.client_secret.is_some(),
            p.client_secret_file.is_some(),
            p.client_secret_command.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err(UsageError(format!(
                "{}: give one of client_secret_file, client_secret_command and client_secret",
                at("client secret")
            )));
        }
        if let Some(rate) = p.rate
            && (!rate.is_finite() || rate < 0.0)
        {
            return Err(UsageError(format!(
                "{} = {rate}: expected requests per second, 0 for unlimited",
                at("rate")
            )));
        }
        if let Some(c) = p.concurrency
            && !(1..=1024).contains(&c)
        {
            return Err(UsageError(format!(
                "{} = {c}: expected 1 to 1024",
                at("concurrency")
            )));
        }
        if let Some(command) = &p.client_secret_command
            && command.trim().is_empty()
        {
            return Err(UsageError(format!(
                "{} is empty",
                at("client_secret_command")
            )));
        }
        Ok(())
    }

    /// A profile by name; an unknown name lists the known ones.
    pub fn profile(&self, name: &str) -> Result<&Profile, UsageError> {
        self.profiles.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            UsageError(format!(
                "no profile {name:?} in {} (profiles: {})",
                self.path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    /// A path from the file, relative to the file's folder (so a profile works from any working directory), with a
    /// leading `~/` taken as the home folder.
    pub fn resolve(&self, path: &Path, home: Option<&Path>) -> PathBuf {
        if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), home) {
            return home.join(rest);
        }
        match self.path.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// The client secret of profile `name`, from its file, its command or the file itself; `None` when the profile
    /// names no secret. The command's output is read through a pipe, so the secret is on no command line and in no
    /// environment; its standard error and input stay the terminal's, for a password manager that asks.
    pub fn secret(&self, name: &str, home: Option<&Path>) -> Result<Option<Secret>, UsageError> {
        let profile = self.profile(name)?;
        let at = |key: &str| format!("{}: [profiles.{name}] {key}", self.path.display());
        let text = if let Some(secret) = &profile.client_secret {
            secret.clone()
        } else if let Some(file) = &profile.client_secret_file {
            let file = self.resolve(file, home);
            std::fs::read_to_string(&file).map_err(|e| {
                UsageError(format!(
                    "{} {}: cannot read it: {e}",
                    at("client_secret_file"),
                    file.display()
                ))
            })?
        } else if let Some(command) = &profile.client_secret_command {
            run_secret_command(command)
                .map_err(|e| UsageError(format!("{}: {e}", at("client_secret_command"))))?
        } else {
            return Ok(None);
        };
        let secret = text.trim_end_matches(['\r', '\n']);
        if secret.is_empty() {
            return Err(UsageError(format!(
                "{}: the client secret is empty",
                at("client secret")
            )));
        }
        Ok(Some(Secret::new(secret)))
    }
}

/// Refuses a file holding a secret that its group or others may read.
#[cfg(unix)]
fn check_private(path: &Path, profile: &str) -> Result<(), UsageError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| UsageError(format!("{}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(UsageError(format!(
            "{}: [profiles.{profile}] holds a client secret, but the file is readable by others (mode {:04o}): \
             chmod 600 {}, or use client_secret_file or client_secret_command",
            path.display(),
            mode & 0o7777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _profile: &str) -> Result<(), UsageError> {
    Ok(())
}

/// Runs `command` by the shell and returns its standard output; a failure names the exit status, never the output.
fn run_secret_command(command: &str) -> Result<String, String> {
    #[cfg(unix)]
    let mut child = std::process::Command::new("sh");
    #[cfg(unix)]
    child.arg("-c").arg(command);
    #[cfg(not(unix))]
    let mut child = std::process::Command::new("cmd");
    #[cfg(not(unix))]
    child.arg("/C").arg(command);
    let output = child
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{command:?} failed ({})", output.status));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| format!("{command:?} printed something that is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        path
    }

    #[test]
    fn the_default_path_follows_xdg_then_home() {
        assert_eq!(
            default_path(Some("/x".into()), Some("/h".into())),
            Some(PathBuf::from("/x/tpbulk/config.toml"))
        );
        assert_eq!(
            default_path(Some("rel".into()), Some("/h".into())),
            Some(PathBuf::from("/h/.config/tpbulk/config.toml"))
        );
        assert_eq!(default_path(None, None), None);
    }

    #[test]
    fn profiles_are_typed_and_relative_paths_are_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "default_profile = \"lab\"\n[profiles.lab]\nurl = \"http://lab\"\nclient_id = \"me\"\n\
             client_secret_file = \"lab.secret\"\njournal = \"~/lab.db\"\nrate = 2.5\nconcurrency = 4\n",
            0o644,
        );
        std::fs::write(dir.path().join("lab.secret"), "from-file\n").unwrap();
        let file = ConfigFile::load(&path).unwrap();
        let lab = file.profile("lab").unwrap();
        assert_eq!(lab.url.as_deref(), Some("http://lab"));
        assert_eq!((lab.rate, lab.concurrency), (Some(2.5), Some(4)));
        assert_eq!(file.default_profile.as_deref(), Some("lab"));
        assert_eq!(
            file.resolve(lab.journal.as_ref().unwrap(), Some(Path::new("/home/op"))),
            PathBuf::from("/home/op/lab.db")
        );
        let secret = file.secret("lab", None).unwrap().unwrap();
        assert_eq!(secret.expose(), "from-file");
        let err = file.profile("prod").unwrap_err();
        assert!(
            err.0.contains("\"prod\"") && err.0.contains("profiles: lab"),
            "{err}"
        );
    }

    #[test]
    fn mistakes_in_the_file_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            ("[profiles.lab]\nulr = \"x\"\n", "ulr"),
            ("[profiles.lab]\nconcurrency = 0\n", "concurrency"),
            ("[profiles.lab]\nrate = -1.0\n", "rate"),
            (
                "default_profile = \"prod\"\n[profiles.lab]\n",
                "no [profiles.prod]",
            ),
            (
                "[profiles.lab]\nclient_secret_file = \"a\"\nclient_secret_command = \"b\"\n",
                "one of",
            ),
        ] {
            let path = write(dir.path(), text, 0o600);
            let err = ConfigFile::load(&path).unwrap_err();
            assert!(
                err.0.contains("config.toml") && err.0.contains(expected),
                "{text}: {err}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_in_a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[profiles.lab]\nurl = \"http://lab\"\nclient_secret = \"inline-secret\"\n";
        let path = write(dir.path(), text, 0o644);
        let err = ConfigFile::load(&path).unwrap_err();
        assert!(
            err.0.contains("mode 0644") && err.0.contains("chmod 600"),
            "{err}"
        );
        assert!(!err.0.contains("inline-secret"), "{err}");
        let path = write(dir.path(), text, 0o600);
        let file = ConfigFile::load(&path).unwrap();
        assert_eq!(
            file.secret("lab", None).unwrap().unwrap().expose(),
            "inline-secret"
        );
        // Without a secret in it, a readable file is fine.
        let path = write(
            dir.path(),
            "[profiles.lab]\nclient_secret_file = \"s\"\n",
            0o644,
        );
        ConfigFile::load(&path).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_command_gives_its_output_and_a_failure_never_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[profiles.ok]\nclient_secret_command = \"printf 'cmd-secret\\\\n'\"\n\
             [profiles.bad]\nclient_secret_command = \"echo $((6*7)); exit 3\"\n\
             [profiles.none]\nurl = \"http://x\"\n",
            0o644,
        );
        let file = ConfigFile::load(&path).unwrap();
        assert_eq!(
            file.secret("ok", None).unwrap().unwrap().expose(),
            "cmd-secret"
        );
        let err = file.secret("bad", None).unwrap_err();
        assert!(
            err.0.contains("exit status: 3") && !err.0.contains("42"),
            "{err}"
        );
        assert!(file.secret("none", None).unwrap().is_none());
    }
}
