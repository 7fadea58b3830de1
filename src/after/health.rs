//! `health`: each device's traffic over the last days (`frames/aggregated`, one request per device, bounded and
//! paced) and its open alarms (the cursor-paginated alarm listing, all pages), and how they are written: text
//! summary with a per-day chart, JSON lines, CSV or XLSX.

use super::Target;
use crate::platform::{ApiError, Client};
use futures::StreamExt;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// What `health` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthOptions {
    /// Days of traffic history, 1 to 1000.
    pub days: u32,
    /// Traffic requests in flight at once.
    pub concurrency: usize,
    /// `pageSize` of the alarm listing; `None` leaves the platform's default.
    pub alarm_page_size: Option<u32>,
}

impl HealthOptions {
    pub fn new(days: u32, concurrency: usize) -> Result<HealthOptions, crate::error::UsageError> {
        if !(1..=1000).contains(&days) {
            return Err(crate::error::UsageError(format!(
                "--days {days}: expected 1 to 1000"
            )));
        }
        Ok(HealthOptions {
            days,
            concurrency: concurrency.max(1),
            alarm_page_size: None,
        })
    }
}

/// One device's health, in the field names of the JSON lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeviceHealth {
    pub row: u64,
    pub id: Option<String>,
    pub name: Option<String>,
    pub uplinks: u64,
    pub lost: u64,
    pub downlinks: u64,
    pub failed_downlinks: u64,
    /// The last day (`YYYY-MM-DD`, UTC) with an uplink.
    pub last_uplink: Option<String>,
    /// Open alarms.
    pub alarms: u64,
    /// The platform has no such device (or the journal has no EUI to ask by): no traffic was read.
    #[serde(skip)]
    pub missing: bool,
}

impl DeviceHealth {
    pub fn live(&self) -> bool {
        self.uplinks > 0
    }
}

/// Uplinks of the whole batch on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayUplinks {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub uplinks: u64,
}

/// The health of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthReport {
    pub days: u32,
    /// In row order.
    pub devices: Vec<DeviceHealth>,
    /// Oldest first.
    pub per_day: Vec<DayUplinks>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthSummary {
    pub devices: usize,
    pub live: usize,
    pub silent: usize,
    pub alarmed: usize,
    pub missing: usize,
}

impl HealthReport {
    pub fn summary(&self) -> HealthSummary {
        let count =
            |which: fn(&DeviceHealth) -> bool| self.devices.iter().filter(|d| which(d)).count();
        HealthSummary {
            devices: self.devices.len(),
            live: count(|d| !d.missing && d.live()),
            silent: count(|d| !d.missing && !d.live()),
            alarmed: count(|d| d.alarms > 0),
            missing: count(|d| d.missing),
        }
    }
}

/// Reads a `frames/aggregated` answer: the device's traffic summed over the days asked, and its uplinks per day
/// (day start in ms).
fn traffic(answer: &Value) -> (DeviceHealth, Vec<(i64, u64)>) {
    let count = |b: &Value, dir: &str, field: &str| {
        b.get(dir)
            .and_then(|d| d.get(field))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let (mut t, mut per_day, mut last_uplink) = (DeviceHealth::default(), Vec::new(), None);
    for b in briefs(answer) {
        let up = count(b, "up", "count");
        t.uplinks += up;
        t.lost += count(b, "up", "countLost");
        t.downlinks += count(b, "dw", "count");
        t.failed_downlinks += count(b, "dw", "countFailed");
        if let Some(ts) = b.get("timestamp").and_then(Value::as_i64) {
            if up > 0 && last_uplink.is_none_or(|last| ts > last) {
                last_uplink = Some(ts);
            }
            per_day.push((ts, up));
        }
    }
    t.last_uplink = last_uplink.map(day);
    (t, per_day)
}

/// The `briefs` of a listing answer.
fn briefs(answer: &Value) -> &[Value] {
    answer
        .get("briefs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `YYYY-MM-DD` of a millisecond timestamp, UTC.
pub fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Open alarms per device EUI, from every page of `GET /devices/alarms?sort=alarmUid,asc`.
pub async fn open_alarms(
    client: &Client,
    page_size: Option<u32>,
) -> Result<HashMap<String, u64>, ApiError> {
    let mut per_device: HashMap<String, u64> = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = String::from("/devices/alarms?sort=alarmUid%2Casc");
        if let Some(size) = page_size {
            query.push_str(&format!("&pageSize={size}"));
        }
        if let Some(cursor) = &after {
            query.push_str("&pageAfter=");
            query.push_str(&encode_query_value(cursor));
        }
        let page = client.get_json(&query).await?;
        for alarm in briefs(&page).iter().filter(|a| is_open(a)) {
            if let Some(eui) = alarm.pointer("/device/EUI").and_then(Value::as_str) {
                *per_device.entry(eui.to_ascii_uppercase()).or_default() += 1;
            }
        }
        let more = page.get("more").and_then(Value::as_bool).unwrap_or(false);
        match page.pointer("/cursors/last").and_then(Value::as_str) {
            // A repeated cursor would never end.
            Some(c) if more && after.as_deref() != Some(c) => after = Some(c.to_string()),
            _ => return Ok(per_device),
        }
    }
}

/// An alarm counts until it is cleared; the platform says so as `CLEARED` or, in its numeric scale, 0 or 1.
fn is_open(alarm: &Value) -> bool {
    match alarm.get("state") {
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("CLEARED"),
        Some(Value::Number(n)) => n.as_u64().is_none_or(|n| n >= 2),
        _ => true,
    }
}

/// Cursors are base64: `+`, `/` and `=` must survive a query string.
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Traffic and alarms of every target.
pub async fn collect(
    client: &Client,
    targets: &[Target],
    options: HealthOptions,
) -> Result<HealthReport, ApiError> {
    collect_with_progress(client, targets, options, &indicatif::ProgressBar::hidden()).await
}

/// [`collect`], stepping `progress` once per device read.
pub async fn collect_with_progress(
    client: &Client,
    targets: &[Target],
    options: HealthOptions,
    progress: &indicatif::ProgressBar,
) -> Result<HealthReport, ApiError> {
    let alarms = open_alarms(client, options.alarm_page_size).await?;
    let days = options.days;
    let traffic_of = |target: &Target| {
        let eui = target.eui.clone();
        async move {
            let _step = Step(progress);
            let Some(eui) = eui else {
                return Ok(None);
            };
            let path = format!(
                "/devices/e{eui}/frames/aggregated?duration=P{days}D&step=P1D&timezone=UTC"
            );
            match client.get_json(&path).await {
                Ok(answer) => Ok(Some(traffic(&answer))),
                Err(ApiError::Status { status: 404, .. }) => Ok(None),
                Err(e) => Err(e),
            }
        }
    };
    let traffics: Vec<Result<Option<_>, ApiError>> = futures::stream::iter(targets)
        .map(traffic_of)
        .buffered(options.concurrency)
        .collect()
        .await;
    let mut per_day: BTreeMap<i64, u64> = BTreeMap::new();
    let mut devices = Vec::with_capacity(targets.len());
    for (target, traffic) in targets.iter().zip(traffics) {
        let traffic = traffic?;
        let alarms = target
            .eui
            .as_ref()
            .and_then(|e| alarms.get(e))
            .copied()
            .unwrap_or(0);
        let missing = traffic.is_none();
        let (counted, days_of) = traffic.unwrap_or_default();
        for (ts, up) in days_of {
            *per_day.entry(ts).or_default() += up;
        }
        devices.push(DeviceHealth {
            row: target.row,
            id: target.id.clone(),
            name: target.name.clone(),
            alarms,
            missing,
            ..counted
        });
    }
    Ok(HealthReport {
        days,
        devices,
        per_day: per_day
            .into_iter()
            .map(|(ts, uplinks)| DayUplinks {
                date: day(ts),
                uplinks,
            })
            .collect(),
    })
}

/// Steps a progress bar when a device's read ends, whichever way it ends.
struct Step<'a>(&'a indicatif::ProgressBar);

impl Drop for Step<'_> {
    fn drop(&mut self) {
        self.0.inc(1);
    }
}

/// Bars of eighths: a day's uplinks against the busiest day's.
pub fn bar(value: u64, max: u64, width: usize) -> String {
    const EIGHTHS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
    if max == 0 || value == 0 {
        return String::new();
    }
    let eighths = ((value as u128 * width as u128 * 8).div_ceil(max as u128)) as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(EIGHTHS[eighths % 8 - 1]);
    }
    s
}

/// The text summary and the per-day chart.
pub fn write_text(report: &HealthReport, batch: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let s = report.summary();
    writeln!(
        out,
        "batch {batch}: {} devices over the last {} days",
        s.devices, report.days
    )?;
    writeln!(out, "  live     {:>7}  (at least one uplink)", s.live)?;
    writeln!(out, "  silent   {:>7}  (no uplink)", s.silent)?;
    writeln!(out, "  alarmed  {:>7}  (open alarms)", s.alarmed)?;
    if s.missing > 0 {
        writeln!(out, "  missing  {:>7}  (not on the platform)", s.missing)?;
    }
    let sum = |of: fn(&DeviceHealth) -> u64| report.devices.iter().map(of).sum::<u64>();
    writeln!(
        out,
        "  uplinks {} (lost {}), downlinks {} (failed {}), open alarms {}",
        sum(|d| d.uplinks),
        sum(|d| d.lost),
        sum(|d| d.downlinks),
        sum(|d| d.failed_downlinks),
        sum(|d| d.alarms),
    )?;
    if !report.per_day.is_empty() {
        writeln!(out, "uplinks per day:")?;
        let max = report.per_day.iter().map(|d| d.uplinks).max().unwrap_or(0);
        let digits = max.to_string().len();
        for d in &report.per_day {
            writeln!(
                out,
                "  {}  {:>digits$}  {}",
                d.date,
                d.uplinks,
                bar(d.uplinks, max, 40)
            )?;
        }
    }
    Ok(())
}

/// One JSON object per device.
pub fn write_jsonl(report: &HealthReport, out: &mut dyn Write) -> std::io::Result<()> {
    for d in &report.devices {
        serde_json::to_writer(&mut *out, d)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

const COLUMNS: [&str; 9] = [
    "row",
    "id",
    "name",
    "uplinks",
    "lost",
    "downlinks",
    "failed_downlinks",
    "last_uplink",
    "alarms",
];

fn cells(d: &DeviceHealth) -> [String; 9] {
    [
        d.row.to_string(),
        d.id.clone().unwrap_or_default(),
        d.name.clone().unwrap_or_default(),
        d.uplinks.to_string(),
        d.lost.to_string(),
        d.downlinks.to_string(),
        d.failed_downlinks.to_string(),
        d.last_uplink.clone().unwrap_or_default(),
        d.alarms.to_string(),
    ]
}

pub fn write_csv(report: &HealthReport, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    for d in &report.devices {
        w.write_record(cells(d))?;
    }
    w.flush()?;
    Ok(())
}

/// An XLSX sheet with the same columns; counts as numbers, identifiers as text (a DevEUI must never become a number).
pub fn write_xlsx(report: &HealthReport, path: &std::path::Path) -> anyhow::Result<()> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("health")?;
    let bold = Format::new().set_bold();
    for (c, name) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &bold)?;
    }
    for (i, d) in report.devices.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_number(r, 0, d.row as f64)?;
        sheet.write_string(r, 1, d.id.as_deref().unwrap_or(""))?;
        sheet.write_string(r, 2, d.name.as_deref().unwrap_or(""))?;
        for (c, n) in [d.uplinks, d.lost, d.downlinks, d.failed_downlinks]
            .into_iter()
            .enumerate()
        {
            sheet.write_number(r, c as u16 + 3, n as f64)?;
        }
        sheet.write_string(r, 7, d.last_uplink.as_deref().unwrap_or(""))?;
        sheet.write_number(r, 8, d.alarms as f64)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.set_column_width(1, 20)?;
    sheet.set_column_width(2, 24)?;
    sheet.set_column_width(7, 12)?;
    book.save(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot write it: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn traffic_sums_the_days_and_finds_the_last_uplink() {
        let answer = json!({"now": 0, "briefs": [
            {"timestamp": 86_400_000, "up": {"count": 58, "countLost": 8}, "dw": {"count": 60, "countFailed": 1}},
            {"timestamp": 2 * 86_400_000, "up": {"count": 2, "countLost": 0}, "dw": {"count": 0, "countFailed": 0}},
            {"timestamp": 3 * 86_400_000, "up": {"count": 0, "countLost": 0}, "dw": {"count": 1, "countFailed": 1}},
        ]});
        let (t, _) = traffic(&answer);
        assert_eq!(
            (t.uplinks, t.lost, t.downlinks, t.failed_downlinks),
            (60, 8, 61, 2)
        );
        assert_eq!(t.last_uplink.as_deref(), Some("1970-01-03"));
        assert_eq!(traffic(&json!({"briefs": []})).0.last_uplink, None);
    }

    #[test]
    fn cleared_alarms_are_not_open() {
        assert!(is_open(&json!({"state": "ACTIVE"})));
        assert!(!is_open(&json!({"state": "CLEARED"})));
        assert!(is_open(&json!({"state": 5})));
        assert!(!is_open(&json!({"state": 1})));
        assert!(is_open(&json!({})));
    }

    #[test]
    fn bars_scale_to_the_busiest_day() {
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(0, 10, 4), "");
        assert_eq!(bar(1, 16, 4), "▎");
        assert_eq!(bar(1, 8, 4), "▌");
        assert_eq!(bar(5, 10, 4), "██");
    }

    #[test]
    fn cursors_are_escaped() {
        assert_eq!(encode_query_value("ab+/="), "ab%2B%2F%3D");
    }

    #[test]
    fn days_are_checked() {
        assert!(HealthOptions::new(0, 8).is_err());
        assert!(HealthOptions::new(7, 8).is_ok());
        assert!(HealthOptions::new(1001, 8).is_err());
    }

    #[test]
    fn summary_counts_live_silent_alarmed_and_missing() {
        let d = |uplinks, alarms, missing| DeviceHealth {
            uplinks,
            alarms,
            missing,
            ..DeviceHealth::default()
        };
        let report = HealthReport {
            days: 7,
            devices: vec![
                d(3, 0, false),
                d(0, 1, false),
                d(5, 2, false),
                d(0, 0, true),
            ],
            per_day: Vec::new(),
        };
        let s = report.summary();
        assert_eq!(
            (s.devices, s.live, s.silent, s.alarmed, s.missing),
            (4, 2, 1, 2, 1)
        );
        let mut out = Vec::new();
        write_jsonl(&report, &mut out).unwrap();
        let first: Value =
            serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap()).unwrap();
        let keys: Vec<&str> = first
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 9, "{keys:?}");
    }
}
