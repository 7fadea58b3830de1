//! `verify`: one cursor-paginated pass over the subscription's devices, compared with a batch's `created` and
//! `exists` rows.

use super::Target;
use crate::platform::{ApiError, Client, DeviceInfo, LIST_PAGE_SIZE};
use std::collections::HashSet;

/// What the platform has of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Rows checked.
    pub checked: usize,
    /// Rows whose device was found.
    pub present: usize,
    /// Rows whose device was not, in row order.
    pub missing: Vec<Target>,
    /// Devices the platform listed.
    pub listed: u64,
}

/// Every identifier the platform lists a device under: its EUI, and for cellular devices its IMEI and SIM.
#[derive(Debug, Default)]
struct Listed {
    euis: HashSet<String>,
    others: HashSet<String>,
    count: u64,
}

impl Listed {
    fn add(&mut self, device: &DeviceInfo) {
        self.count += 1;
        if !device.eui.is_empty() {
            self.euis.insert(device.eui.to_ascii_uppercase());
        }
        for other in [&device.imei, &device.sim].into_iter().flatten() {
            self.others.insert(other.to_ascii_uppercase());
        }
    }

    fn has(&self, target: &Target) -> bool {
        match &target.eui {
            Some(eui) => self.euis.contains(eui),
            // A cellular row journalled without the platform's EUI can still be matched by what the file named.
            None => target
                .id
                .as_ref()
                .is_some_and(|id| self.others.contains(&id.to_ascii_uppercase())),
        }
    }
}

/// Lists every device once (`sort=EUI,asc`, following `cursors.last`) and reports which targets are missing.
pub async fn verify(
    client: &Client,
    targets: &[Target],
    page_size: u32,
) -> Result<VerifyReport, ApiError> {
    let mut listed = Listed::default();
    let mut cursor: Option<String> = None;
    loop {
        let page = client.list_devices(page_size, cursor.as_deref()).await?;
        page.devices.iter().for_each(|d| listed.add(d));
        match page.cursor {
            // A platform that repeats its cursor would loop forever.
            Some(next) if page.more && cursor.as_deref() != Some(next.as_str()) => {
                cursor = Some(next)
            }
            _ => break,
        }
    }
    Ok(compare(targets, &listed))
}

/// The page size `verify` asks for.
pub const PAGE_SIZE: u32 = LIST_PAGE_SIZE;

fn compare(targets: &[Target], listed: &Listed) -> VerifyReport {
    let missing: Vec<Target> = targets.iter().filter(|t| !listed.has(t)).cloned().collect();
    VerifyReport {
        checked: targets.len(),
        present: targets.len() - missing.len(),
        missing,
        listed: listed.count,
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
        }
    }

    #[test]
    fn missing_rows_are_those_the_listing_lacks() {
        let mut listed = Listed::default();
        listed.add(&device("70B3D5E756000001", None));
        listed.add(&device("F03D290000000001", Some("123456789012347")));
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
        let report = compare(&targets, &listed);
        assert_eq!(report.checked, 5);
        assert_eq!(report.present, 3);
        let rows: Vec<u64> = report.missing.iter().map(|t| t.row).collect();
        assert_eq!(rows, [3, 6]);
    }
}
