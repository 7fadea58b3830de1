//! `tpbulk export`: the subscription's devices (or a batch's, a tag's, a connection's) in tpbulk's own columns, as
//! CSV or XLSX, for whoever plans the next change; edited, the file goes back in through `import`.

use crate::after;
use crate::cli::{GlobalArgs, RemoteArgs};
use crate::cmd::runtime::Runtime;
use crate::device::{Kind, Tag};
use crate::error::{Exit, UsageError};
use crate::input::Field;
use crate::journal::Journal;
use crate::platform::{
    Client, DeviceFilter, LIST_PAGE_SIZE, ListedDevice, PREFIXES_PER_REQUEST, find_connection,
    prefix_cover,
};
use crate::report::{EXPORT_COLUMNS, ExportFormat, ExportWriter};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write: a .csv or .xlsx file, or `-` for CSV on stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// The file's format [default: from its extension, CSV for stdout].
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,
    /// Only devices with this tag (repeatable: devices with any of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only devices of this connection: its ID, its name or its IoT Flow connection id.
    #[arg(long, value_name = "CONNECTION")]
    pub connection: Option<String>,
    /// Only the devices a journalled batch created or found.
    #[arg(long, value_name = "BATCH")]
    pub batch: Option<String>,
    // `--rate` paces the listing like every other command's requests.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// What to export, checked before anything is read.
#[derive(Debug, Clone, PartialEq)]
struct ExportSettings {
    /// `None`: stdout.
    path: Option<PathBuf>,
    format: ExportFormat,
    tags: Vec<String>,
    connection: Option<String>,
}

impl ExportSettings {
    fn new(args: &Args) -> Result<ExportSettings, UsageError> {
        let path = (args.output != Path::new("-")).then(|| args.output.clone());
        let by_extension = match &path {
            Some(p)
                if p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) =>
            {
                ExportFormat::Xlsx
            }
            _ => ExportFormat::Csv,
        };
        let format = args.format.unwrap_or(by_extension);
        if format == ExportFormat::Xlsx && path.is_none() {
            return Err(UsageError(
                "-o -: stdout takes CSV only; write XLSX to a file (-o devices.xlsx)".into(),
            ));
        }
        let tags = args
            .tags
            .iter()
            .map(|t| {
                Tag::parse(t)
                    .map(|t| t.as_str().to_string())
                    .map_err(|e| UsageError(format!("--tag: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(ExportSettings {
            path,
            format,
            tags,
            connection: args.connection.clone(),
        })
    }
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let settings = ExportSettings::new(&args)?;
    let chosen = super::profile::choose(global)?;
    let rate = chosen.settings(&args.remote.engine, None)?.rate;
    let config = chosen.client(&args.remote.platform)?;
    // The batch's devices, by the EUI the platform knows each by (a cellular device's is the one it was given).
    let batch_euis = match &args.batch {
        None => None,
        Some(id) => {
            let journal = Journal::open_existing(&chosen.journal(&args.remote.journal))?;
            let batch = journal.resolve_batch(Some(id))?;
            let (targets, _) = after::targets(&journal, &batch.id)?;
            Some(
                targets
                    .into_iter()
                    .filter_map(|t| t.eui)
                    .map(|e| e.to_ascii_uppercase())
                    .collect::<HashSet<String>>(),
            )
        }
    };
    let done = "while listing devices; the file is incomplete (run `tpbulk export` again)";
    let (quiet, display) = (global.quiet, rt.display(global.quiet));
    let (written, skipped, requests) =
        super::with_client(rt, done, config, rate, async |client| {
            let app_server = match &settings.connection {
                None => None,
                Some(c) => {
                    let connections = client.connections().await?;
                    let found = find_connection(&connections, c)
                        .map_err(|e| UsageError(format!("--connection: {e}")))?;
                    Some(found.id.clone())
                }
            };
            let filter = DeviceFilter {
                tags: settings.tags.clone(),
                app_server,
                ..DeviceFilter::default()
            };
            let lookups = client.request_counts().lookups;
            let mut writer = ExportWriter::create(settings.path.as_deref(), settings.format)?;
            let skipped =
                export(&client, filter, batch_euis.as_ref(), &mut writer, &display).await?;
            let written = writer.finish()?;
            anyhow::Ok((written, skipped, client.request_counts().lookups - lookups))
        })?;
    if !quiet {
        let to = match &args.output {
            p if p == Path::new("-") => "stdout".to_string(),
            p => p.display().to_string(),
        };
        let mut line = format!(
            "tpbulk: {written} device{} exported to {to} in {requests} request{}",
            if written == 1 { "" } else { "s" },
            if requests == 1 { "" } else { "s" }
        );
        if skipped > 0 {
            line.push_str(&format!(
                "; {skipped} multicast group{} left out",
                if skipped == 1 { "" } else { "s" }
            ));
        }
        eprintln!("{line}");
    }
    Ok(Exit::Success)
}

/// Lists the devices `filter` keeps (only the batch's, when `batch` is given: asked by DevEUI prefixes that
/// cover exactly its EUIs) and writes each; returns the listed entries that are not devices (multicast groups).
async fn export(
    client: &Client,
    filter: DeviceFilter,
    batch: Option<&HashSet<String>>,
    writer: &mut ExportWriter,
    display: &crate::logging::Display,
) -> anyhow::Result<u64> {
    let filters: Vec<DeviceFilter> = match batch {
        None => vec![filter],
        Some(euis) => {
            let euis: Vec<&str> = euis.iter().map(String::as_str).collect();
            // A span of 1: every EUI a prefix covers is one of the batch's, so the listing reads nothing else.
            prefix_cover(&euis, 1)
                .chunks(PREFIXES_PER_REQUEST)
                .map(|chunk| DeviceFilter {
                    eui_prefixes: chunk.to_vec(),
                    ..filter.clone()
                })
                .collect()
        }
    };
    let mut bar = batch.map(|euis| after::progress_bar(euis.len(), "devices", display));
    let mut skipped = 0;
    for filter in &filters {
        let mut after: Option<String> = None;
        let mut size = LIST_PAGE_SIZE;
        loop {
            let page = client
                .list_device_briefs(filter, size, after.as_deref())
                .await?;
            if bar.is_none() {
                let total = page.count.unwrap_or(page.briefs.len() as u64);
                bar = Some(after::progress_bar(total as usize, "devices", display));
            }
            for brief in &page.briefs {
                match ListedDevice::from_brief(brief) {
                    Some(device) => {
                        let eui = brief
                            .get("EUI")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or_default()
                            .to_ascii_uppercase();
                        if batch.is_some_and(|b| !b.contains(&eui)) {
                            continue;
                        }
                        writer.write(&cells(&device))?;
                    }
                    None => skipped += 1,
                }
            }
            if let Some(bar) = &bar {
                bar.inc(page.briefs.len() as u64);
            }
            // A platform that gives shorter pages than asked is asked that size from then on, as `Lister` does.
            let got = page.briefs.len() as u32;
            if page.more && got > 0 && got < size {
                size = got;
            }
            match page.cursor {
                // A platform that repeats its cursor would loop forever.
                Some(next) if page.more && after.as_deref() != Some(next.as_str()) => {
                    after = Some(next)
                }
                _ => break,
            }
        }
    }
    Ok(skipped)
}

/// A device's cells in [`EXPORT_COLUMNS`] order.
fn cells(device: &ListedDevice) -> [String; EXPORT_COLUMNS.len()] {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    EXPORT_COLUMNS.map(|(_, field)| match field {
        Field::Kind => device
            .kind
            .map(Kind::as_str)
            .unwrap_or_default()
            .to_string(),
        Field::DevEui => device.eui.clone(),
        Field::JoinEui => text(&device.join_eui),
        Field::Imei => text(&device.imei),
        Field::Sim => text(&device.sim),
        Field::Name => text(&device.name),
        Field::Model => text(&device.model),
        Field::Connection => device.connections.join(","),
        Field::Plan => text(&device.plan),
        Field::Latitude => device.location.map(|l| l.0.to_string()).unwrap_or_default(),
        Field::Longitude => device.location.map(|l| l.1.to_string()).unwrap_or_default(),
        Field::AdminInfo => text(&device.admin_info),
        Field::Motion => text(&device.motion),
        Field::Tags => device.tags.join(";"),
        Field::Domains => device.domains.join(";"),
        // Not an export column (and keys are never exported): the table above has none of these.
        Field::AppKey
        | Field::NwkKey
        | Field::DevAddr
        | Field::NwkSKey
        | Field::AppSKey
        | Field::SNwkSIntKey
        | Field::NwkSEncKey
        | Field::Iccid
        | Field::Eid
        | Field::Imsi
        | Field::Context
        | Field::Class
        | Field::DataRate
        | Field::Frequency
        | Field::OnboardingTag
        | Field::SerialNumber
        | Field::PartNumber => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(argv: &[&str]) -> Result<ExportSettings, UsageError> {
        ExportSettings::new(&crate::cmd::Parsed::<Args>::of(argv).unwrap().args)
    }

    #[test]
    fn the_format_follows_the_file_and_stdout_takes_csv_only() {
        assert_eq!(
            settings(&["-o", "d.xlsx"]).unwrap().format,
            ExportFormat::Xlsx
        );
        assert_eq!(
            settings(&["-o", "d.csv"]).unwrap().format,
            ExportFormat::Csv
        );
        let stdout = settings(&["-o", "-"]).unwrap();
        assert_eq!((stdout.path, stdout.format), (None, ExportFormat::Csv));
        assert!(settings(&["-o", "-", "--format", "xlsx"]).is_err());
        assert!(
            settings(&["-o", "d.csv", "--tag", "<b>"])
                .unwrap_err()
                .0
                .contains("--tag")
        );
    }
}
