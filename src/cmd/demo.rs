//! `tpbulk demo`: rehearse the sample shipments on an in-process simulator.

use crate::cli::GlobalArgs;
use crate::cmd::runtime::Runtime;
use crate::engine::batch::{self, BatchResult, ImportConfig, OnExisting, RunSettings};
use crate::error::{Exit, UsageError};
use crate::input::InputOptions;
use crate::journal::Journal;
use crate::platform::{ClientConfig, PlatformSettings};
use crate::report::{ReportFormat, write_report};
use crate::sim::{SimConfig, SimHandle};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the journal, report and rework files.
    #[arg(long, default_value = "tpbulk-demo")]
    pub dir: PathBuf,
    /// The sample shipments (default: `sample-data/` here, else the one this tpbulk was built from).
    #[arg(long, value_name = "DIR")]
    pub samples: Option<PathBuf>,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let samples = sample_files(&sample_dir(args.samples.as_deref())?)?;
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| UsageError(format!("{}: cannot create ({e})", args.dir.display())))?;
    let journal = args.dir.join("tpbulk.db");
    let again = "the demo's simulators are gone; run `tpbulk demo` again";
    rt.block_on(Some(again), |cancel| async move {
        let mut as_expected = true;
        for file in &samples {
            // A fresh simulator per shipment: the CSV and the XLSX samples hold the same devices.
            let sim = crate::sim::start(SimConfig::default()).await?;
            let result = import_one(
                file,
                &sim,
                &journal,
                cancel.clone(),
                rt.display(global.quiet),
            )
            .await;
            sim.stop().await?;
            let result = result?;
            if result.exit() == Exit::Interrupted {
                return Ok(result.print(global.quiet));
            }
            as_expected &= check_and_write(file, &result, &args.dir, &journal)?;
        }
        if as_expected {
            crate::stdout::line(format_args!("demo: the rehearsal ran as it should"));
        } else {
            crate::stdout::line(format_args!(
                "demo: the rehearsal did NOT run as it should (see above)"
            ));
        }
        // Last, so that it is what stays on the screen.
        crate::stdout::line(format_args!(
            "journal: {} (try: {} status --journal {})",
            journal.display(),
            own_command(std::env::var_os("CARGO").is_some()),
            journal.display()
        ));
        Ok(if as_expected {
            Exit::Success
        } else {
            Exit::Rows
        })
    })
}

async fn import_one(
    file: &Path,
    sim: &SimHandle,
    journal: &Path,
    cancel: tokio_util::sync::CancellationToken,
    display: crate::logging::Display,
) -> anyhow::Result<BatchResult> {
    let platform = PlatformSettings {
        url: Some(sim.url()),
        client_id: Some(crate::sim::DEFAULT_CLIENT_ID.into()),
        ..PlatformSettings::default()
    };
    let config = ImportConfig {
        clear_empty: false,
        force: false,
        plan: None,
        file: file.to_path_buf(),
        input: InputOptions::default(),
        client: ClientConfig::new(&platform, Some(crate::sim::DEFAULT_CLIENT_SECRET.into()))?,
        journal: journal.to_path_buf(),
        settings: RunSettings::new(0.0, 8, None)?,
        on_existing: OnExisting::Skip,
        name: file
            .file_name()
            .map(|n| format!("demo {}", n.to_string_lossy())),
        profile: None,
        // A rehearsal imports the samples on purpose, every time it runs.
        again: true,
        allow_over_quota: false,
        deleting: false,
        display,
    };
    crate::stdout::line(format_args!("== {}", file.display()));
    // The samples hold no `DELETE` rows: a rehearsal never deletes.
    batch::import(
        config,
        cancel,
        |id| crate::stdout::line(format_args!("batch {id}")),
        Box::new(|_| Ok(false)),
    )
    .await
}

/// Prints the summary, writes the report (and the rework file when rows need fixing) beside the journal and says
/// whether the batch ended as the sample means it to: the messy shipment with invalid rows, every other row created.
fn check_and_write(
    file: &Path,
    result: &BatchResult,
    dir: &Path,
    journal_path: &Path,
) -> anyhow::Result<bool> {
    crate::stdout::line(format_args!("{}", result.summary()));
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "batch".into());
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "csv".into());
    let journal = Journal::open_existing(journal_path)?;
    // The CSV and XLSX samples share a stem: keep both reports.
    let report = dir.join(format!("{stem}-{ext}-report.csv"));
    write_report(&journal, &result.id, &report, ReportFormat::Csv)?;
    crate::stdout::line(format_args!("report: {}", report.display()));
    let c = &result.counts;
    if c.invalid + c.failed > 0 {
        let rework = dir.join(format!("{stem}-rework.{ext}"));
        let info = journal.resolve_batch(Some(&result.id))?;
        let written = crate::report::write_rework(&journal, &info, &rework)?;
        crate::stdout::line(format_args!(
            "rework: {} ({} rows to fix)",
            rework.display(),
            written.rows
        ));
    }
    let messy = stem.contains("messy");
    let ok = c.failed == 0
        && c.pending == 0
        && c.exists == 0
        && if messy {
            c.invalid > 0 && c.created > 0
        } else {
            c.invalid == 0 && c.created == c.total
        };
    if !ok {
        crate::stdout::line(format_args!(
            "unexpected: {} should end with {}",
            file.display(),
            if messy {
                "its bad rows invalid and the rest created"
            } else {
                "every row created"
            }
        ));
    }
    Ok(ok)
}

/// How to run tpbulk again from here: under `cargo run` (which sets `CARGO`) the binary is not on the PATH.
fn own_command(under_cargo: bool) -> &'static str {
    if under_cargo {
        "cargo run --release --"
    } else {
        "tpbulk"
    }
}

fn sample_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir.to_path_buf());
    }
    let here = PathBuf::from("sample-data");
    if here.is_dir() {
        return Ok(here);
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    if built_from.is_dir() {
        return Ok(built_from);
    }
    Err(UsageError(
        "no sample-data/ folder here: run from the tpbulk checkout or give --samples DIR".into(),
    )
    .into())
}

/// The shipment files of the sample folder, in name order (absolute, so the rework file finds them again).
fn sample_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| UsageError(format!("{}: cannot read ({e})", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "csv" | "xlsx"))
        })
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(UsageError(format!("{}: no .csv or .xlsx shipment", dir.display())).into());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_files_are_the_shipments_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.xlsx", "a.csv", "notes.md"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let files = sample_files(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.csv", "b.xlsx"]);
        assert!(files.iter().all(|p| p.is_absolute()));
    }

    #[test]
    fn the_next_command_works_where_the_demo_ran() {
        assert_eq!(own_command(true), "cargo run --release --");
        assert_eq!(own_command(false), "tpbulk");
    }

    #[test]
    fn an_empty_sample_folder_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(sample_files(dir.path()).is_err());
    }
}
