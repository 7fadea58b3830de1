//! tpbulk in an operator's shell, end to end: profiles (precedence, a world-readable secret refused, a secret
//! command, the profile recorded by import and taken by resume), completion scripts parsed by their shells, man
//! pages rendered by `man -l`, every `--format json` parsed back into its documented shape, colours as `--color`,
//! `NO_COLOR` and `CLICOLOR_FORCE` say, and help with headings, examples and honest usage lines.

use crate::engine_support;

use engine_support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tpbulk::sim::SimConfig;

/// The binary with nothing of the environment's platform settings: only what a test gives.
fn bare(env: &Env, args: &[&str]) -> Command {
    let mut cmd = env.command(args);
    cmd.env_remove("THINGPARK_URL")
        .env_remove("THINGPARK_CLIENT_ID")
        .env_remove("THINGPARK_CLIENT_SECRET")
        .env_remove("TPBULK_JOURNAL");
    cmd
}

fn run(mut cmd: Command) -> Run {
    Run(cmd.output().unwrap())
}

/// A config file with a `lab` profile for the simulator (secret by command) and a default `other` profile whose
/// secret is wrong, so a test sees which one was taken.
fn write_config(env: &Env, mode: u32) -> PathBuf {
    let text = format!(
        "default_profile = \"other\"\n\
         [profiles.lab]\nurl = \"{url}\"\nclient_id = \"tpbulk-sim\"\n\
         client_secret_command = \"echo tpbulk-sim-secret\"\njournal = \"lab.db\"\nrate = 0\n\
         [profiles.other]\nurl = \"{url}\"\nclient_id = \"tpbulk-sim\"\nclient_secret_file = \"other.secret\"\n",
        url = env.sim.url()
    );
    let path = env.write("config.toml", &text);
    env.write("other.secret", "not-the-secret\n");
    set_mode(&path, mode);
    path
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn json(run: &Run) -> Value {
    assert_eq!(run.code(), 0, "{}", run.describe());
    // One document and nothing else on stdout.
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.describe()))
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

#[test]
fn a_profile_gives_the_platform_and_resume_takes_the_batch_profile() {
    let env = Env::new(SimConfig::default());
    let config = write_config(&env, 0o644);
    let config = config.to_str().unwrap();
    let file = env.write("ship.csv", &otaa_csv(1, 3));
    let file = file.to_str().unwrap();
    // The default profile's secret is wrong: refused credentials are exit 3.
    let refused = run(bare(&env, &["--config", config, "import", file]));
    assert_eq!(refused.code(), 3, "{}", refused.describe());
    // --profile lab: URL, client id, secret by command, journal and rate from the profile.
    let import = run(bare(
        &env,
        &["--config", config, "--profile", "lab", "import", file],
    ));
    assert_eq!(import.code(), 0, "{}", import.describe());
    let batch = import.batch();
    assert!(
        env.dir.path().join("lab.db").exists(),
        "the profile's journal, beside the config file"
    );
    let status = json(&run(bare(
        &env,
        &[
            "--config",
            config,
            "--profile",
            "lab",
            "status",
            &batch,
            "--format",
            "json",
        ],
    )));
    assert_eq!(status["profile"], "lab");
    assert_eq!(status["url"], env.sim.url());
    assert_eq!(status["created"], 3);
    // TPBULK_PROFILE is the same as --profile; the flag beats it.
    let mut cmd = bare(&env, &["--config", config, "--profile", "lab", "batches"]);
    cmd.env("TPBULK_PROFILE", "nope");
    let listed = run(cmd);
    assert_eq!(listed.code(), 0, "{}", listed.describe());
    assert!(listed.stdout().contains(&batch), "{}", listed.describe());
    let mut cmd = bare(&env, &["--config", config, "batches"]);
    cmd.env("TPBULK_PROFILE", "nope");
    let unknown = run(cmd);
    assert_eq!(unknown.code(), 2, "{}", unknown.describe());
    assert!(
        unknown.stderr().contains("\"nope\""),
        "{}",
        unknown.describe()
    );
    // An environment variable beats the profile: TPBULK_JOURNAL names a journal that does not exist.
    let mut cmd = bare(&env, &["--config", config, "--profile", "lab", "batches"]);
    cmd.env("TPBULK_JOURNAL", env.dir.path().join("env.db"));
    let from_env = run(cmd);
    assert_eq!(from_env.code(), 2, "{}", from_env.describe());
    assert!(
        from_env.stderr().contains("env.db"),
        "{}",
        from_env.describe()
    );
}

#[test]
fn resume_takes_the_credentials_of_the_profile_the_batch_was_imported_with() {
    let env = Env::new(SimConfig::default());
    let config = write_config(&env, 0o644);
    let options = serde_json::json!({
        "rate": null, "concurrency": 2, "prepared": true,
        "url": env.sim.url(), "client_id": "tpbulk-sim",
    });
    let batch = pending_batch_of_profile(
        &env,
        options,
        &[(2, MODEL), (3, MODEL), (4, MODEL)],
        Some("lab"),
    );
    let journal_path = env.journal_path();
    // No credentials anywhere but in the profiles; the default one (`other`) has a wrong secret. The journal is
    // named by flag, so only the batch's record can point at `lab`.
    let resumed = run(bare(
        &env,
        &[
            "--config",
            config.to_str().unwrap(),
            "resume",
            "--journal",
            journal_path.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    let summary: tpbulk::cmd::import::RunJson = serde_json::from_value(json(&resumed)).unwrap();
    assert_eq!(
        (summary.batch.as_str(), summary.created, summary.pending),
        (batch.as_str(), 3, 0)
    );
    assert_eq!(summary.stop, "drained");
}

#[test]
fn a_config_file_holding_a_secret_must_be_private() {
    let env = Env::new(SimConfig::default());
    let text = format!(
        "[profiles.lab]\nurl = \"{}\"\nclient_id = \"tpbulk-sim\"\nclient_secret = \"tpbulk-sim-secret\"\n",
        env.sim.url()
    );
    let config = env.write("inline.toml", &text);
    set_mode(&config, 0o644);
    let config = config.to_str().unwrap();
    let refused = run(bare(
        &env,
        &["--config", config, "--profile", "lab", "catalog"],
    ));
    assert_eq!(refused.code(), 2, "{}", refused.describe());
    assert!(
        refused.stderr().contains("chmod 600"),
        "{}",
        refused.describe()
    );
    assert!(
        !refused.stderr().contains("tpbulk-sim-secret"),
        "{}",
        refused.describe()
    );
    set_mode(Path::new(config), 0o600);
    let catalog = run(bare(
        &env,
        &["--config", config, "--profile", "lab", "catalog", "models"],
    ));
    assert_eq!(catalog.code(), 0, "{}", catalog.describe());
    // `profile show` masks the secret to its last four characters.
    let shown = run(bare(&env, &["--config", config, "profile", "show", "lab"]));
    assert_eq!(shown.code(), 0, "{}", shown.describe());
    assert!(
        shown.stdout().contains("****cret") && !shown.stdout().contains("sim-secret"),
        "{}",
        shown.describe()
    );
    let shown: tpbulk::cmd::profile::ProfileJson = serde_json::from_value(json(&run(bare(
        &env,
        &[
            "--config", config, "profile", "show", "lab", "--format", "json",
        ],
    ))))
    .unwrap();
    assert_eq!(shown.client_secret.as_deref(), Some("****cret"));
    assert_eq!(shown.url.as_deref(), Some(env.sim.url().as_str()));
}

#[test]
fn every_json_output_parses_into_its_documented_shape() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 3));
    let import = json(&env.import_file(&file, &["--format", "json"]));
    assert_eq!(
        keys(&import),
        [
            "batch",
            "conflict",
            "created",
            "created_now",
            "deleted",
            "deleted_now",
            "devices_per_s",
            "elapsed_s",
            "exists",
            "exit",
            "failed",
            "gone",
            "invalid",
            "next",
            "pending",
            "stop",
            "tag_calls",
            "total",
            "unchanged",
            "updated"
        ]
    );
    let import: tpbulk::cmd::import::RunJson = serde_json::from_value(import).unwrap();
    assert_eq!((import.created, import.created_now, import.exit), (3, 3, 0));
    let batch = import.batch;

    let resume: tpbulk::cmd::import::RunJson =
        serde_json::from_value(json(&env.run(&["resume", &batch, "--format", "json"]))).unwrap();
    assert_eq!((resume.created, resume.created_now), (3, 0));

    let status = json(&env.run(&["status", &batch, "--format", "json"]));
    assert_eq!(
        keys(&status),
        [
            "batch",
            "conflict",
            "created",
            "deleted",
            "exists",
            "failed",
            "gone",
            "input",
            "invalid",
            "name",
            "pending",
            "profile",
            "started",
            "state",
            "tag_calls",
            "total",
            "unchanged",
            "updated",
            "updates",
            "url"
        ]
    );
    let plan: tpbulk::cmd::plan::Counts = serde_json::from_value(json(&env.run(&[
        "plan",
        file.to_str().unwrap(),
        "--on-existing",
        "update",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!((plan.rows, plan.unchanged, plan.would_create), (3, 3, 0));
    let status: tpbulk::cmd::status::StatusJson = serde_json::from_value(status).unwrap();
    assert_eq!(status.created, 3);

    let batches = json(&env.run(&["batches", "--format", "json"]));
    let batches: Vec<tpbulk::cmd::batches::BatchJson> = serde_json::from_value(batches).unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(
        (batches[0].batch.as_str(), batches[0].created),
        (batch.as_str(), 3)
    );

    let verify: tpbulk::cmd::verify::VerifyJson =
        serde_json::from_value(json(&env.run(&["verify", &batch, "--format", "json"]))).unwrap();
    assert_eq!(
        (verify.checked, verify.present, verify.missing.len()),
        (3, 3, 0)
    );

    let health = env.run(&["health", &batch, "--format", "jsonl"]);
    assert_eq!(health.code(), 0, "{}", health.describe());
    let lines: Vec<Value> = health
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        keys(&lines[0]),
        [
            "alarms",
            "downlinks",
            "failed_downlinks",
            "id",
            "last_uplink",
            "lost",
            "name",
            "row",
            "uplinks"
        ]
    );

    let catalog: tpbulk::platform::Catalog =
        serde_json::from_value(json(&env.run(&["catalog", "--format", "json"]))).unwrap();
    assert!(catalog.models.iter().any(|m| m.id == MODEL));
    let connections: Vec<tpbulk::platform::Connection> =
        serde_json::from_value(json(&env.run(&["connection", "list", "--format", "json"])))
            .unwrap();
    assert!(connections.iter().any(|c| c.id == CONNECTION));

    let rollback: tpbulk::cmd::rollback::RollbackJson = serde_json::from_value(json(
        &env.run(&["rollback", &batch, "--yes", "--format", "json"]),
    ))
    .unwrap();
    assert_eq!(
        (rollback.deleted, rollback.failed, rollback.confirmed),
        (3, 0, true)
    );
    // `delete` prints the object of `import`: here every device it names is gone already.
    let delete: tpbulk::cmd::import::RunJson = serde_json::from_value(json(&env.run(&[
        "delete",
        file.to_str().unwrap(),
        "--yes",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!((delete.deleted, delete.gone, delete.exit), (0, 3, 0));

    let config = write_config(&env, 0o600);
    let profiles = json(&env.run(&[
        "--config",
        config.to_str().unwrap(),
        "profile",
        "list",
        "--format",
        "json",
    ]));
    let profiles: Vec<tpbulk::cmd::profile::ProfileJson> =
        serde_json::from_value(profiles).unwrap();
    let names: Vec<(&str, bool)> = profiles
        .iter()
        .map(|p| (p.name.as_str(), p.default))
        .collect();
    assert_eq!(names, [("lab", false), ("other", true)]);
    assert_eq!(
        profiles[0].client_secret_command.as_deref(),
        Some("echo tpbulk-sim-secret")
    );
}

#[test]
fn colours_follow_the_flag_then_no_color_then_clicolor_force() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 1));
    let batch = env
        .run(&["import", file.to_str().unwrap(), "--rate", "0"])
        .batch();
    let coloured = |extra: &[&str], vars: &[(&str, &str)]| {
        let mut args = extra.to_vec();
        args.extend(["status", batch.as_str()]);
        let mut cmd = env.command(&args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let run = run(cmd);
        assert_eq!(run.code(), 0, "{}", run.describe());
        assert!(run.stdout().contains("done"), "{}", run.describe());
        run.stdout().contains('\u{1b}')
    };
    assert!(!coloured(&[], &[]), "a pipe gets no colour");
    assert!(coloured(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(
        !coloured(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]),
        "NO_COLOR wins over CLICOLOR_FORCE"
    );
    assert!(
        coloured(&["--color", "always"], &[("NO_COLOR", "1")]),
        "the flag wins over NO_COLOR"
    );
    assert!(!coloured(&["--color=never"], &[("CLICOLOR_FORCE", "1")]));
    // Help follows them too, though clap writes it before the parsed flag is seen.
    let help = |args: &[&str], vars: &[(&str, &str)]| {
        let mut cmd = env.command(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let run = run(cmd);
        assert_eq!(run.code(), 0, "{}", run.describe());
        run.stdout().contains('\u{1b}')
    };
    assert!(help(
        &["--color", "always", "status", "--help"],
        &[("NO_COLOR", "1")]
    ));
    assert!(!help(
        &["status", "--help"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
    assert!(!help(
        &["--color", "never", "status", "--help"],
        &[("CLICOLOR_FORCE", "1")]
    ));
}

#[test]
fn help_has_its_headings_and_real_examples_and_usage_shows_only_what_is_required() {
    use clap::CommandFactory;
    let cli = tpbulk::cli::Cli::command();
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        let after = sub
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let examples = after.lines().filter(|l| l.starts_with("  tpbulk ")).count();
        assert!(
            after.starts_with("Examples:") && examples >= 2,
            "{name}: {after:?}"
        );
    }
    let env = Env::new(SimConfig::default());
    let help = env.run(&["import", "--help"]);
    let text = help.stdout();
    assert!(
        text.contains("Usage: tpbulk import [OPTIONS] <FILE>\n"),
        "{text}"
    );
    for heading in ["Global options:", "Platform options:", "Examples:"] {
        assert!(text.contains(heading), "{heading}: {text}");
    }
    let global = text.find("Global options:").unwrap();
    assert!(
        text[global..].contains("--profile <NAME>") && text[global..].contains("--color <WHEN>")
    );
    let platform = text.find("Platform options:").unwrap();
    assert!(platform < global, "{text}");
    for option in [
        "--url",
        "--client-id",
        "--client-secret-file",
        "--rate",
        "--concurrency",
    ] {
        assert!(text[platform..global].contains(option), "{option}: {text}");
    }
    // Every usage line: an option shown outside brackets must really be required.
    for sub in cli.get_subcommands() {
        let mut sub = sub.clone();
        let usage = sub.render_usage().to_string();
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                let bare = format!(" --{long} ");
                if usage.contains(&bare) {
                    assert!(arg.is_required_set(), "{usage}: --{long} looks required");
                }
            }
        }
    }
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let env = Env::new(SimConfig::default());
    let mut missing = Vec::new();
    for (shell, check) in [
        ("bash", Some(vec!["bash", "-n"])),
        ("zsh", Some(vec!["zsh", "-n"])),
        ("fish", Some(vec!["fish", "--no-execute"])),
        ("powershell", None),
    ] {
        let script = env.run(&["completions", shell]);
        assert_eq!(script.code(), 0, "{}", script.describe());
        let path = env.write(&format!("tpbulk.{shell}"), &script.stdout());
        assert!(
            script.stdout().contains("import") && script.stdout().contains("client-secret-file")
        );
        match check {
            Some(check) if which(check[0]) => {
                let out = Command::new(check[0])
                    .args(&check[1..])
                    .arg(&path)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{shell}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Some(check) => missing.push(check[0]),
            // No PowerShell on this machine: its script is checked for the registration it must make.
            None => assert!(script.stdout().contains("Register-ArgumentCompleter")),
        }
    }
    // bash must be here, and the script must register a completion when sourced.
    assert!(!missing.contains(&"bash"));
    let bash = env.dir.path().join("tpbulk.bash");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p tpbulk", bash.display()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("tpbulk"),
        "{out:?}"
    );
    if !missing.is_empty() {
        // Not silent: the shells not installed are named in the test output.
        eprintln!("NOT CHECKED (not installed): {missing:?}; apt-get install zsh fish");
    }
}

#[test]
fn the_man_pages_render_with_man() {
    assert!(
        which("man"),
        "man is not installed (apt-get install man-db): the pages cannot be checked"
    );
    let env = Env::new(SimConfig::default());
    let page = env.run(&["man"]);
    assert_eq!(page.code(), 0, "{}", page.describe());
    let path = env.write("tpbulk.1", &page.stdout());
    let shown = render(&path);
    assert!(
        shown.contains("tpbulk") && shown.contains("import") && shown.contains("--profile"),
        "{shown}"
    );
    let dir = env.dir.path().join("man1");
    let written = env.run(&["man", "-o", dir.to_str().unwrap()]);
    assert_eq!(written.code(), 0, "{}", written.describe());
    let import = render(&dir.join("tpbulk-import.1"));
    assert!(
        import.contains("--max-errors") && import.contains("Examples:"),
        "{import}"
    );
    assert!(dir.join("tpbulk-connection-add-https.1").exists());
}

fn render(page: &Path) -> String {
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "man -l {}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !text.trim().is_empty(),
        "man -l {} rendered nothing",
        page.display()
    );
    text
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}
