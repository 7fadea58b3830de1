//! `tpbulk catalog`: list what references in a shipment can name.

use crate::cli::{GlobalArgs, OutputFormat, PlatformArgs};
use crate::cmd::runtime::Runtime;
use crate::cmd::style::{self, table_line};
use crate::error::Exit;
use crate::platform::{self, Catalog, Connectivity};
use anstyle::Style;
use clap::ValueEnum;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to list (default: everything).
    #[arg(value_enum)]
    pub what: Option<What>,
    /// Only this connectivity (models, plans; contexts are cellular only).
    #[arg(long, value_enum)]
    pub connectivity: Option<Connectivity>,
    /// Tables, or one JSON object with a list per section (`models`, `connections`, `plans`, `contexts`).
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub platform: PlatformArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    Models,
    Connections,
    Plans,
    Contexts,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    let config = super::profile::choose(global)?.client(&args.platform)?;
    let done = "while reading the catalogue; nothing was written";
    let rate = Some(platform::DEFAULT_RATE);
    let catalog = super::with_client(rt, done, config, rate, async |client| {
        Ok(client.catalog().await?)
    })?;
    let catalog = select(catalog, args.connectivity);
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let mut value = serde_json::Map::new();
            for what in sections(args.what) {
                let list = match what {
                    What::Models => serde_json::to_value(&catalog.models)?,
                    What::Connections => serde_json::to_value(&catalog.connections)?,
                    What::Plans => serde_json::to_value(&catalog.plans)?,
                    What::Contexts => serde_json::to_value(&catalog.contexts)?,
                };
                value.insert(section_name(what), list);
            }
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
        OutputFormat::Text => {
            for (i, what) in sections(args.what).into_iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                write_table(&mut out, &catalog, what)?;
            }
        }
    }
    out.flush()?;
    Ok(Exit::Success)
}

fn sections(what: Option<What>) -> Vec<What> {
    what.map_or_else(|| What::value_variants().to_vec(), |w| vec![w])
}

/// A section's name: its value on the command line (`models` …).
fn section_name(what: What) -> String {
    let value = what.to_possible_value().expect("no section is skipped");
    value.get_name().to_string()
}

/// Keeps what belongs to one connectivity, when asked.
fn select(mut catalog: Catalog, connectivity: Option<Connectivity>) -> Catalog {
    if let Some(wanted) = connectivity {
        catalog.models.retain(|m| m.connectivity == Some(wanted));
        catalog.plans.retain(|p| p.connectivity == Some(wanted));
        // Network contexts exist for cellular devices only.
        if wanted == Connectivity::Lorawan {
            catalog.contexts.clear();
        }
    }
    catalog
}

fn write_table(out: &mut impl Write, catalog: &Catalog, what: What) -> std::io::Result<()> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let (header, rows): (Vec<&str>, Vec<Vec<String>>) = match what {
        What::Models => (
            vec!["ID", "NAME", "CONNECTIVITY", "LORAWAN", "VENDOR"],
            catalog
                .models
                .iter()
                .map(|m| {
                    vec![
                        m.id.clone(),
                        m.name.clone(),
                        m.connectivity
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default(),
                        m.lorawan_version().unwrap_or_default().to_string(),
                        opt(&m.vendor),
                    ]
                })
                .collect(),
        ),
        What::Connections => (
            vec!["ID", "NAME", "TYPE", "IOT FLOW ID", "STATE"],
            catalog
                .connections
                .iter()
                .map(|c| {
                    vec![
                        c.id.clone(),
                        c.name.clone(),
                        opt(&c.kind),
                        opt(&c.iot_flow_id),
                        opt(&c.state),
                    ]
                })
                .collect(),
        ),
        What::Plans => (
            vec!["ID", "NAME", "CONNECTIVITY", "USED/GRANTED"],
            catalog
                .plans
                .iter()
                .map(|p| {
                    let usage = match (p.used, p.granted) {
                        (Some(u), Some(g)) => format!("{u}/{g}"),
                        (Some(u), None) => u.to_string(),
                        _ => String::new(),
                    };
                    vec![
                        p.id.clone(),
                        p.name.clone(),
                        p.connectivity
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default(),
                        usage,
                    ]
                })
                .collect(),
        ),
        What::Contexts => (
            vec!["ID", "NAME", "MODE"],
            catalog
                .contexts
                .iter()
                .map(|c| vec![c.id.clone(), c.name.clone(), opt(&c.mode)])
                .collect(),
        ),
    };
    writeln!(
        out,
        "{} ({})",
        section_name(what).to_uppercase(),
        rows.len()
    )?;
    // Every column aligned left.
    let (widths, left) = (style::widths(&header, &rows), |_| Style::new());
    writeln!(out, "{}", table_line(&header, &widths, header.len(), left))?;
    for row in &rows {
        writeln!(out, "{}", table_line(row, &widths, header.len(), left))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_filter_by_connectivity() {
        let catalog = Catalog::from_briefs(
            &[
                serde_json::json!({"ID": "A/B", "commercialName": "Model AB", "connectivity": "LORAWAN", "macMinorVersion": 10}),
                serde_json::json!({"ID": "CUSTOM/LTE_Dongle", "commercialName": "LTE Dongle", "connectivity": "CELLULAR"}),
            ],
            &[],
            &[
                serde_json::json!({"ID": "acme-cs/cellular-cp", "commercialName": "Cellular CP", "connectivity": "CELLULAR", "used": 23, "granted": 100}),
            ],
            &[],
        );
        let lorawan = select(catalog.clone(), Some(Connectivity::Lorawan));
        let mut out = Vec::new();
        write_table(&mut out, &lorawan, What::Models).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "MODELS (1)\nID   NAME      CONNECTIVITY  LORAWAN  VENDOR\nA/B  Model AB  LORAWAN       1.1\n"
        );
        let mut out = Vec::new();
        write_table(&mut out, &catalog, What::Plans).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("acme-cs/cellular-cp  Cellular CP  CELLULAR      23/100")
        );
        assert!(lorawan.plans.is_empty());
    }
}
