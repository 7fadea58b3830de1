//! Secrets audit: a batch with every kind of key, run at `-vv --log-format json` against the simulator, then every
//! command that reads it back. No key, connection password, AS key or client secret may appear in any output, log,
//! report, or in the journal once the batch is final; the journal is 0600; no option takes a secret as its value.

use crate::engine_support;

use clap::CommandFactory;
use engine_support::*;
use rand::Rng;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tpbulk::sim::SimConfig;

const HEADER: &str = "Kind,DevEUI,JoinEUI,AppKey,NwkKey,DevAddr,NwkSKey,AppSKey,Name,Model,Connection,Class,Data rate,Frequency\n";

fn random_key(rng: &mut impl Rng) -> String {
    format!("{:032X}", rng.random::<u128>())
}

/// Every secret of the run, and where it must never show up.
struct Audit {
    secrets: Vec<(&'static str, String)>,
}

impl Audit {
    /// Case-insensitive: a key written in lower case in one place and upper case in another is still the key.
    fn assert_clean(&self, what: &str, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes).to_lowercase();
        for (name, secret) in &self.secrets {
            assert!(
                !text.contains(&secret.to_lowercase()),
                "{what} shows the {name} in clear"
            );
        }
    }

    fn assert_run_clean(&self, what: &str, run: &Run) {
        self.assert_clean(&format!("{what}: stdout"), &run.0.stdout);
        self.assert_clean(&format!("{what}: stderr"), &run.0.stderr);
    }

    fn assert_file_clean(&self, path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        self.assert_clean(&path.display().to_string(), &bytes);
    }
}

/// Every part of an .xlsx (a zip of XML), inflated: the shared strings hold the cell text.
fn xlsx_parts(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut part = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            part.read_to_end(&mut bytes).unwrap();
            (part.name().unwrap().to_string(), bytes)
        })
        .collect()
}

#[test]
fn no_secret_leaves_the_process_or_stays_in_a_final_journal() {
    let mut rng = rand::rng();
    let client_secret = format!("audit-secret-{:016x}", rng.random::<u64>());
    let password = format!("audit-password-{:016x}", rng.random::<u64>());
    let as_key = random_key(&mut rng);
    let env = Env::new(SimConfig {
        client_secret: client_secret.clone(),
        ..SimConfig::default()
    });
    let keys: Vec<String> = (0..12).map(|_| random_key(&mut rng)).collect();
    let mut audit = Audit {
        secrets: vec![
            ("client secret", client_secret.clone()),
            ("connection password", password.clone()),
            ("AS key", as_key.clone()),
        ],
    };
    for key in &keys {
        audit.secrets.push(("device key", key.clone()));
    }
    let run = |args: &[&str]| -> Run {
        let mut cmd = env.command(args);
        cmd.env("THINGPARK_CLIENT_SECRET", &client_secret)
            .env("THINGPARK_CONNECTION_PASSWORD", &password);
        Run(cmd.output().unwrap())
    };
    let verbose = ["-vv", "--log-format", "json"];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(verbose.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run_v = |args: &[&str]| -> Run {
        let args = with(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    };

    // The connection secrets: a broker password and an HTTPS AS key, both from where the tool reads them.
    let mqtt = run_v(&[
        "connection",
        "add",
        "mqtt",
        "--name",
        "Audit MQTT",
        "--host",
        "broker.example.com:8883",
        "--uplink-topic",
        "up/{DevEUI}",
        "--downlink-topic",
        "down/{DevEUI}",
        "--username",
        "audit",
    ]);
    assert_eq!(mqtt.code(), 0, "{}", mqtt.describe());
    audit.assert_run_clean("connection add mqtt", &mqtt);
    let key_file = env.write("as.key", &format!("{as_key}\n"));
    let https = run_v(&[
        "connection",
        "add",
        "https",
        "--name",
        "Audit HTTPS",
        "--url",
        "https://audit.example.com/uplink",
        "--as-key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(https.code(), 0, "{}", https.describe());
    audit.assert_run_clean("connection add https", &https);
    let listed = run_v(&["connection", "list"]);
    assert_eq!(listed.code(), 0, "{}", listed.describe());
    audit.assert_run_clean("connection list", &listed);

    // A shipment with every kind of key: OTAA (1.0 and 1.1), ABP, multicast, and invalid rows that hold keys too.
    let k = &keys;
    let csv = format!(
        "{HEADER}\
otaa,70B3D5E7AD000001,,{},,,,,OTAA,SMTC/LoRaMoteA.1_EU,{CONNECTION},,,\n\
otaa,70B3D5E7AD000002,65FC7B3530A44FB9,{},{},,,,OTAA 1.1,ACME/Sensor11_EU,{CONNECTION},,,\n\
abp,70B3D5E7AD000003,,,,785D25E2,{},{},ABP,SMTC/LoRaMoteA.1_EU,{CONNECTION},,,\n\
multicast,70B3D5E7AD000004,,,,785D25E3,{},{},Group,,{CONNECTION},C,15,869.525\n\
otaa,70B3D5E7AD00000G,,{},,,,,bad EUI,SMTC/LoRaMoteA.1_EU,{CONNECTION},,,\n\
abp,70B3D5E7AD000006,,,,785D25,{},{},bad DevAddr,SMTC/LoRaMoteA.1_EU,{CONNECTION},,,\n\
otaa,70B3D5E7AD000007,,{},,,,,unknown model,NO/SUCH_MODEL,{CONNECTION},,,\n",
        k[0].to_lowercase(),
        k[1],
        k[2],
        k[3],
        k[4],
        k[5],
        k[6],
        k[7],
        k[8],
        k[9],
        k[10],
    );
    let file = env.write("audit.csv", &csv);
    let file = file.to_str().unwrap();
    let dir = env.dir.path();

    let validate = run_v(&["validate", file]);
    assert_eq!(validate.code(), 1, "{}", validate.describe());
    audit.assert_run_clean("validate", &validate);
    let plan = run_v(&["plan", file, "--format", "jsonl"]);
    assert!(plan.code() <= 1, "{}", plan.describe());
    audit.assert_run_clean("plan --format jsonl", &plan);
    let plan = run_v(&["plan", file]);
    audit.assert_run_clean("plan", &plan);

    let import = run_v(&["import", file, "--rate", "0"]);
    assert_eq!(import.code(), 1, "{}", import.describe());
    audit.assert_run_clean("import", &import);
    let batch = import.batch();
    let counts = env.counts(&batch);
    assert_eq!((counts.created, counts.pending), (4, 0), "{counts:?}");
    let resume = run_v(&["resume", &batch]);
    audit.assert_run_clean("resume", &resume);

    for args in [
        vec!["status"],
        vec!["status", &batch, "--format", "json"],
        vec!["batches"],
        vec!["verify", &batch],
    ] {
        let out = run_v(&args);
        assert!(out.code() <= 1, "{args:?}: {}", out.describe());
        audit.assert_run_clean(&args.join(" "), &out);
    }

    for name in ["report.csv", "report.jsonl", "report.xlsx"] {
        let path = dir.join(name);
        let out = run_v(&["report", &batch, "-o", path.to_str().unwrap()]);
        assert_eq!(out.code(), 0, "{}", out.describe());
        audit.assert_run_clean(&format!("report -o {name}"), &out);
        if name.ends_with(".xlsx") {
            let parts = xlsx_parts(&path);
            assert!(parts.iter().any(|(n, _)| n.contains("sheet")));
            for (part, bytes) in parts {
                audit.assert_clean(&format!("{name}!{part}"), &bytes);
            }
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains("70B3D5E7AD000003"), "{name}: {text}");
            audit.assert_file_clean(&path);
        }
    }

    // The rework file is the user's own columns, keys included, so that the fixed rows can be imported again: it is
    // the one place keys may be written, and only for the rows that need work. Its command's output is audited.
    let rework_path = dir.join("rework.csv");
    let rework = run_v(&["rework", &batch, "-o", rework_path.to_str().unwrap()]);
    assert_eq!(rework.code(), 0, "{}", rework.describe());
    audit.assert_run_clean("rework", &rework);
    let rework_text = std::fs::read_to_string(&rework_path)
        .unwrap()
        .to_lowercase();
    for created in [&k[0], &k[1], &k[2], &k[3], &k[4], &k[5], &k[6]] {
        assert!(
            !rework_text.contains(&created.to_lowercase()),
            "the rework file holds a created row's key"
        );
    }

    // The journal, every command closed: the file and its companions are 0600 and hold no key.
    let journal = env.journal_path();
    let mut files = 0;
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", journal.display()));
        if !path.exists() {
            continue;
        }
        files += 1;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
        audit.assert_file_clean(&path);
    }
    assert!(files >= 1);
}

/// Words that name secret material in an option.
const SECRET_WORDS: [&str; 6] = ["secret", "password", "passwd", "key", "token", "credential"];
/// Options with a secret-sounding name that do not take one.
const NOT_SECRETS: [&str; 2] = ["token-url", "token-ttl"];

#[test]
fn no_option_takes_a_secret_as_its_value() {
    fn walk(cmd: &clap::Command, path: &str, offenders: &mut Vec<String>, seen: &mut usize) {
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            *seen += 1;
            let takes_value = arg.get_action().takes_values();
            if takes_value
                && SECRET_WORDS.iter().any(|w| long.contains(w))
                && !long.ends_with("-file")
                && !NOT_SECRETS.contains(&long)
            {
                offenders.push(format!("{path} --{long}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), offenders, seen);
        }
    }
    let cli = tpbulk::cli::Cli::command();
    let mut offenders = Vec::new();
    let mut seen = 0;
    walk(&cli, "tpbulk", &mut offenders, &mut seen);
    assert!(seen > 50, "only {seen} options found: the walk is broken");
    assert!(
        offenders.is_empty(),
        "options that take a secret: {offenders:?}"
    );

    // The help agrees: every subcommand's `--help` names its secret options only as files.
    let env = Env::new(SimConfig::default());
    for sub in cli.get_subcommands() {
        let help = env.run(&[sub.get_name(), "--help"]);
        assert_eq!(help.code(), 0, "{}", help.describe());
        for line in help.stdout().lines() {
            let option = line.trim_start();
            if option.starts_with("--client-secret") || option.starts_with("--password") {
                assert!(option.contains("-file"), "{}: {line}", sub.get_name());
            }
        }
    }
}

#[test]
fn set_refuses_key_material_without_echoing_it() {
    let env = Env::new(SimConfig::default());
    let file = env.write("ship.csv", &otaa_csv(1, 1));
    let key = "0123456789ABCDEF0123456789ABCDEF";
    for field in ["app_key", "nwk_key", "nwk_s_key", "app_s_key"] {
        for command in ["validate", "plan", "import"] {
            let set = format!("{field}={key}");
            let run = env.run(&[command, file.to_str().unwrap(), "--set", &set]);
            assert_eq!(run.code(), 2, "{command} --set {field}: {}", run.describe());
            assert!(!run.describe().contains(key), "{}", run.describe());
        }
    }
    // Other fields still take defaults.
    let run = env.run(&[
        "validate",
        file.to_str().unwrap(),
        "--set",
        "name=from the command line",
    ]);
    assert_eq!(run.code(), 0, "{}", run.describe());
}
