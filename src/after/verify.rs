//! `verify`: which of a batch's `created` and `exists` rows the platform has, asked for as `import` learns what
//! exists (DevEUI-prefix look-ups of the batch's devices, never a listing of the whole subscription unless that is
//! cheaper; cellular rows journalled without their platform EUI by listing the cellular devices).

use super::Target;
use crate::platform::{ApiError, Client, DeviceInfo, ExistKey, LookupProgress, find_existing};
use std::collections::{HashMap, HashSet};

/// What the platform has of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Rows checked.
    pub checked: usize,
    /// Rows whose device was found.
    pub present: usize,
    /// Rows whose device was not, in row order.
    pub missing: Vec<Target>,
    /// Requests the look-ups took.
    pub requests: u64,
}

/// The keys a target's device can be found under: its EUI, or for a cellular row journalled without one, what the
/// file named (an IMEI or a SIM).
fn keys_of(target: &Target) -> Vec<ExistKey> {
    match (&target.eui, &target.id) {
        (Some(eui), _) => vec![ExistKey::Eui(eui.to_ascii_uppercase())],
        (None, Some(id)) => vec![ExistKey::Imei(id.clone()), ExistKey::Sim(id.clone())],
        (None, None) => Vec::new(),
    }
}

/// Looks the batch's devices up and reports which targets are missing.
pub async fn verify(
    client: &Client,
    targets: &[Target],
    progress: &LookupProgress,
) -> Result<VerifyReport, ApiError> {
    let before = client.request_counts().total();
    let keys: Vec<ExistKey> = targets
        .iter()
        .flat_map(keys_of)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let found = find_existing(client, &keys, progress).await?;
    let mut report = compare(targets, &found);
    report.requests = client.request_counts().total() - before;
    Ok(report)
}

fn compare(targets: &[Target], found: &HashMap<ExistKey, DeviceInfo>) -> VerifyReport {
    let missing: Vec<Target> = targets
        .iter()
        .filter(|t| !keys_of(t).iter().any(|k| found.contains_key(k)))
        .cloned()
        .collect();
    VerifyReport {
        checked: targets.len(),
        present: targets.len() - missing.len(),
        missing,
        requests: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Kind;
    use crate::journal::RowState;

    fn target(row: u64, kind: Kind, id: &str, eui: Option<&str>) -> Target {
        Target {
            row,
            kind: Some(kind),
            id: Some(id.into()),
            name: None,
            state: RowState::Done,
            eui: eui.map(str::to_string),
            uid: None,
        }
    }

    fn device(eui: &str, imei: Option<&str>) -> DeviceInfo {
        DeviceInfo {
            eui: eui.into(),
            href: None,
            uid: None,
            name: None,
            creation_date: None,
            imei: imei.map(str::to_string),
            sim: None,
            state: None,
        }
    }

    #[test]
    fn missing_rows_are_those_the_look_ups_lack() {
        let mut found = HashMap::new();
        for d in [
            device("70B3D5E756000001", None),
            device("F03D290000000001", Some("123456789012347")),
        ] {
            found.insert(ExistKey::Eui(d.eui.clone()), d.clone());
            if let Some(imei) = &d.imei {
                found.insert(ExistKey::Imei(imei.clone()), d.clone());
            }
        }
        let targets = [
            target(2, Kind::Otaa, "70B3D5E756000001", Some("70B3D5E756000001")),
            target(3, Kind::Otaa, "70B3D5E756000002", Some("70B3D5E756000002")),
            target(
                4,
                Kind::Cellular,
                "490154203237518",
                Some("F03D290000000001"),
            ),
            target(5, Kind::Cellular, "123456789012347", None),
            target(6, Kind::Cellular, "356938035643809", None),
        ];
        let report = compare(&targets, &found);
        assert_eq!(report.checked, 5);
        assert_eq!(report.present, 3);
        let rows: Vec<u64> = report.missing.iter().map(|t| t.row).collect();
        assert_eq!(rows, [3, 6]);
    }
}
