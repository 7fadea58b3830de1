//! After-batch data: synthetic traffic history (`frames/aggregated`) and device alarms, both derived from
//! (seed, DevEUI) alone so that the same device always looks the same: about three in four devices are live, one in
//! five has alarms.

use super::ApiError;
use super::devices::{
    DEVICES_PATH, Device, decode_cursor, encode_cursor, query_value, sort_and_page_size,
};
use super::limits::splitmix;
use serde_json::{Value, json};

fn device_hash(seed: u64, eui: &str, salt: u64) -> u64 {
    let mut h = splitmix(seed ^ salt);
    for b in eui.bytes() {
        h = splitmix(h ^ u64::from(b));
    }
    h
}

/// Whether a device sends traffic in the simulator (about 75 % do).
pub fn is_live(seed: u64, eui: &str) -> bool {
    !device_hash(seed, eui, 0x6c697665).is_multiple_of(4)
}

/// How many alarms a device has (0 for about 80 %, else 1 or 2).
pub fn alarm_count(seed: u64, eui: &str) -> u64 {
    let h = device_hash(seed, eui, 0x616c61726d);
    if h.is_multiple_of(5) {
        1 + (h >> 8) % 2
    } else {
        0
    }
}

/// Reads an ISO-8601 duration of days, hours or minutes (`P7D`, `PT24H`, `PT15M`, `P1DT12H`) in milliseconds.
fn iso_duration_ms(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total: i64 = 0;
    if !days.is_empty() {
        total += days.strip_suffix('D')?.parse::<i64>().ok()? * 86_400_000;
    }
    let mut number = String::new();
    for c in time.chars() {
        match c {
            '0'..='9' => number.push(c),
            'H' | 'M' | 'S' => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                total += n * match c {
                    'H' => 3_600_000,
                    'M' => 60_000,
                    _ => 1_000,
                };
            }
            _ => return None,
        }
    }
    (number.is_empty() && total > 0).then_some(total)
}

/// `GET /devices/<ref>/frames/aggregated?duration=P7D&step=P1D&timezone=…`.
pub fn aggregated(
    seed: u64,
    eui: &str,
    pairs: &[(String, String)],
    now_ms: i64,
) -> Result<Value, ApiError> {
    let parse = |name: &str, default: &str| {
        let text = query_value(pairs, name).unwrap_or(default);
        iso_duration_ms(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid {name}: {text} (an ISO-8601 duration such as P7D or PT1H)"
            ))
        })
    };
    let duration = parse("duration", "P7D")?;
    let step = parse("step", "P1D")?;
    let buckets = duration / step;
    if !(1..=1000).contains(&buckets) {
        return Err(ApiError::bad_request(
            "duration/step must give between 1 and 1000 steps",
        ));
    }
    let live = is_live(seed, eui);
    let first = (now_ms / step) * step - (buckets - 1) * step;
    let briefs: Vec<Value> = (0..buckets)
        .map(|i| {
            let timestamp = first + i * step;
            let h = device_hash(seed, eui, timestamp as u64);
            let (up, lost, down, failed) = if live {
                let up = 1 + h % 60;
                (up, (h >> 8) % 3, (h >> 16) % 4, u64::from((h >> 24).is_multiple_of(10)))
            } else {
                (0, 0, 0, 0)
            };
            let size = up * 11;
            json!({
                "timestamp": timestamp,
                "rssiMean": if live { -40.0 - ((h >> 32) % 700) as f64 / 10.0 } else { 0.0 },
                "snrMean": if live { ((h >> 40) % 200) as f64 / 10.0 - 10.0 } else { 0.0 },
                "mf": {"count": 0, "size": 0, "sizeUp": 0, "sizeDown": 0, "duration": 0},
                "up": {"count": up, "size": size, "countOnTime": up, "sizeOnTime": size,
                       "countLate": 0, "sizeLate": 0, "countLost": lost, "subTypes": []},
                "dw": {"count": down, "size": 0, "countSent": down - failed.min(down), "sizeSent": 0,
                       "countFailed": failed.min(down), "sizeFailed": 0, "subTypes": []},
            })
        })
        .collect();
    Ok(json!({ "now": now_ms, "briefs": briefs }))
}

/// A parsed `GET /devices/alarms` query.
#[derive(Debug)]
pub struct AlarmQuery {
    desc: bool,
    page_size: usize,
    after: Option<String>,
}

impl AlarmQuery {
    pub fn parse(pairs: &[(String, String)]) -> Result<AlarmQuery, ApiError> {
        let (desc, page_size) = sort_and_page_size(pairs, "alarmUid")?;
        let after = query_value(pairs, "pageAfter")
            .map(|c| decode_cursor(c, "alarmUid"))
            .transpose()?;
        Ok(AlarmQuery {
            desc,
            page_size,
            after,
        })
    }
}

const ALARMS: [(&str, &str); 3] = [
    ("MAJOR", "No uplink for 24 hours"),
    ("WARNING", "Low battery"),
    ("MINOR", "Downlink failures"),
];

/// `GET /devices/alarms`: every alarm of every device, sorted by `alarmUid`, one cursor page.
pub fn alarms<'a>(
    seed: u64,
    devices: impl Iterator<Item = &'a Device>,
    query: &AlarmQuery,
) -> Value {
    let mut all: Vec<(String, Value)> = Vec::new();
    for device in devices {
        let eui = device.eui();
        for i in 0..alarm_count(seed, eui) {
            let h = device_hash(seed, eui, 0x756964 + i);
            let uid = format!("{:016x}{:08x}", h, splitmix(h) as u32);
            let (severity, title) = ALARMS[(h % 3) as usize];
            let name = device.view.get("name").cloned().unwrap_or(Value::Null);
            let created = device
                .view
                .get("creationDate")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            all.push((
                uid.clone(),
                json!({
                    "alarmUid": uid,
                    "device": {"name": name, "EUI": eui},
                    "severity": severity,
                    "title": title,
                    "state": "ACTIVE",
                    "occurrence": 1 + (h >> 12) % 5,
                    "creationTimestamp": created + 60_000 * (1 + (h >> 20) as i64 % 600),
                    "href": format!("{DEVICES_PATH}/{}/alarms/{uid}", device.uid),
                }),
            ));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let total = all.len();
    // The `ID` is the alarm's rank by uid, as stable as the alarm set.
    for (rank, (_, alarm)) in all.iter_mut().enumerate() {
        alarm["ID"] = json!(rank + 1);
    }
    if query.desc {
        all.reverse();
    }
    let start = match &query.after {
        None => 0,
        Some(after) => all
            .iter()
            .position(|(uid, _)| {
                if query.desc {
                    uid.as_str() < after.as_str()
                } else {
                    uid.as_str() > after.as_str()
                }
            })
            .unwrap_or(total),
    };
    let end = (start + query.page_size).min(total);
    let page = &all[start..end];
    let last = page.last().map(|(uid, _)| encode_cursor("alarmUid", uid));
    let briefs: Vec<&Value> = page.iter().map(|(_, alarm)| alarm).collect();
    json!({
        "briefs": briefs,
        "more": end < total,
        "count": if query.after.is_none() { Value::from(total) } else { Value::Null },
        "cursors": { "last": last },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        assert_eq!(iso_duration_ms("P7D"), Some(7 * 86_400_000));
        assert_eq!(iso_duration_ms("PT1H"), Some(3_600_000));
        assert_eq!(iso_duration_ms("P1DT12H"), Some(36 * 3_600_000));
        assert_eq!(iso_duration_ms("PT15M"), Some(900_000));
        assert_eq!(iso_duration_ms("7D"), None);
        assert_eq!(iso_duration_ms("P0D"), None);
        assert_eq!(iso_duration_ms("PT5"), None);
    }

    #[test]
    fn silent_devices_have_no_uplinks_and_live_ones_do() {
        let euis: Vec<String> = (0..200).map(|i| format!("70B3D5E7560{i:05X}")).collect();
        let live = euis.iter().filter(|e| is_live(1, e)).count();
        assert!((120..180).contains(&live), "{live}");
        for eui in &euis {
            let answer = aggregated(1, eui, &[], 1_700_000_000_000).unwrap();
            let briefs = answer["briefs"].as_array().unwrap();
            assert_eq!(briefs.len(), 7);
            let up: u64 = briefs
                .iter()
                .map(|b| b["up"]["count"].as_u64().unwrap())
                .sum();
            assert_eq!(up > 0, is_live(1, eui), "{eui}");
        }
    }
}
