//! Generates shipment files for benchmarks and sample data: a synthetic OTAA, ABP or cellular shipment of N rows as
//! CSV or XLSX (shared strings, as Excel writes them), or an existing CSV copied into an XLSX whose cells are all
//! Text (what a careful vendor sends).
//!
//! `cargo run --release --example gen_shipment -- otaa|abp|cellular ROWS OUT.csv|OUT.xlsx`
//! `cargo run --release --example gen_shipment -- xlsx IN.csv OUT.xlsx`

use rust_xlsxwriter::{Format, Workbook};
use std::io::{BufWriter, Write};

const OTAA_HEADER: [&str; 6] = ["DevEUI", "AppKey", "JoinEUI", "Name", "Model", "Connection"];
const ABP_HEADER: [&str; 7] = [
    "DevEUI",
    "DevAddr",
    "NwkSKey",
    "AppSKey",
    "Name",
    "Model",
    "Connection",
];
const CELLULAR_HEADER: [&str; 7] = [
    "IMEI",
    "ICCID",
    "Name",
    "Model",
    "Connectivity plan",
    "Connection",
    "Network context",
];

/// A deterministic stream of 128-bit values (xorshift), so every run writes the same file.
struct Keys(u64);

impl Keys {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn next_key(&mut self) -> String {
        format!("{:016X}{:016X}", self.next_u64(), self.next_u64())
    }
}

fn otaa_row(i: u64, keys: &mut Keys) -> [String; 6] {
    [
        format!("70B3D5E7{:08X}", 0x5600_0000u64 + i),
        keys.next_key(),
        "70B3D5E75F600000".to_string(),
        format!("sensor-{i:07}"),
        "SMTC/LoRaMoteA.1_EU".to_string(),
        "my MQTT application".to_string(),
    ]
}

fn abp_row(i: u64, keys: &mut Keys) -> Vec<String> {
    vec![
        format!("70B3D5E7{:08X}", 0x5700_0000u64 + i),
        format!("{:08X}", 0x2600_0000u64 + i),
        keys.next_key(),
        keys.next_key(),
        format!("meter-{i:07}"),
        "SMTC/LoRaMoteA.1_EU".to_string(),
        "my MQTT application".to_string(),
    ]
}

/// A Luhn check digit for `payload` (the digit that makes the whole pass).
fn luhn(payload: &str) -> u32 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// Consecutive IMEIs and ICCIDs, as a shipment of one production run has them.
fn cellular_row(i: u64) -> Vec<String> {
    let imei = format!("3569361{:07}", i);
    let iccid = format!("893315032{:010}", i);
    vec![
        format!("{imei}{}", luhn(&imei)),
        format!("{iccid}{}", luhn(&iccid)),
        format!("tracker-{i:07}"),
        "CUSTOM/LTE_Dongle".to_string(),
        "Cellular CP".to_string(),
        "my MQTT application".to_string(),
        "Orange FR".to_string(),
    ]
}

fn write_xlsx(path: &str, rows: impl Iterator<Item = Vec<String>>) -> anyhow::Result<()> {
    let mut workbook = Workbook::new();
    let text = Format::new().set_num_format_index(49);
    let sheet = workbook.add_worksheet();
    sheet.set_name("devices")?;
    for (r, row) in rows.enumerate() {
        for (c, value) in row.iter().enumerate() {
            sheet.write_string_with_format(u32::try_from(r)?, u16::try_from(c)?, value, &text)?;
        }
    }
    workbook.save(path)?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [kind @ ("otaa" | "abp" | "cellular"), rows, out] => {
            let rows: u64 = rows.parse()?;
            let mut keys = Keys(0x9E37_79B9_7F4A_7C15);
            let header: &[&str] = match *kind {
                "otaa" => &OTAA_HEADER,
                "abp" => &ABP_HEADER,
                _ => &CELLULAR_HEADER,
            };
            let kind = kind.to_string();
            let body = (1..=rows).map(move |i| match kind.as_str() {
                "otaa" => otaa_row(i, &mut keys).to_vec(),
                "abp" => abp_row(i, &mut keys),
                _ => cellular_row(i),
            });
            if out.ends_with(".xlsx") {
                let header = std::iter::once(header.iter().map(|s| s.to_string()).collect());
                write_xlsx(out, header.chain(body))?;
            } else {
                let mut w = BufWriter::new(std::fs::File::create(out)?);
                writeln!(w, "{}", header.join(","))?;
                for row in body {
                    writeln!(w, "{}", row.join(","))?;
                }
                w.flush()?;
            }
        }
        ["xlsx", input, out] => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_path(input)?;
            let rows: Vec<Vec<String>> = reader
                .records()
                .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
                .collect::<Result<_, _>>()?;
            write_xlsx(out, rows.into_iter())?;
        }
        _ => anyhow::bail!(
            "usage: gen_shipment otaa|abp|cellular ROWS OUT.csv|OUT.xlsx | gen_shipment xlsx IN.csv OUT.xlsx"
        ),
    }
    Ok(())
}
