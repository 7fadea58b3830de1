//! Which devices of a batch the platform already has, learned before the first send with as few requests as the
//! case allows: one listing pass when the subscription is small next to the batch, per-DevEUI look-ups when large.

use super::{ApiError, Client, DeviceInfo, ExistKey};
use futures::{StreamExt, TryStreamExt};
use std::collections::{HashMap, HashSet};

/// Devices per listing page.
pub const LIST_PAGE_SIZE: u32 = 1000;
/// Look-ups in flight at once; the shared pacing still decides the rate.
const LOOKUP_CONCURRENCY: usize = 8;

/// Which of `keys` the platform already has, with as few requests as the case allows (one listing pass when the
/// subscription is small relative to the batch, per-EUI look-ups when it is large).
pub async fn find_existing(
    client: &Client,
    keys: &[ExistKey],
) -> Result<HashMap<ExistKey, DeviceInfo>, ApiError> {
    let wanted: HashSet<&ExistKey> = keys.iter().collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let euis: Vec<&str> = wanted
        .iter()
        .filter_map(|k| match k {
            ExistKey::Eui(e) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    let cellular = wanted.len() > euis.len();

    let first = client.list_devices(LIST_PAGE_SIZE, None).await?;
    let mut found = HashMap::new();
    collect(&first.devices, &wanted, &mut found);
    let pages_left = if first.more {
        first
            .count
            .map(|c| c.div_ceil(u64::from(LIST_PAGE_SIZE)).saturating_sub(1))
            .unwrap_or(u64::MAX)
    } else {
        0
    };
    // A SIM or an IMEI can only be found by listing.
    if pages_left == 0 || cellular || pages_left <= euis.len() as u64 {
        tracing::debug!(pages_left, "finding existing devices by listing");
        let mut page = first;
        while page.more {
            let Some(cursor) = page.cursor.clone() else {
                break;
            };
            page = client.list_devices(LIST_PAGE_SIZE, Some(&cursor)).await?;
            collect(&page.devices, &wanted, &mut found);
            if page.cursor.as_deref() == Some(cursor.as_str()) {
                break;
            }
        }
    } else {
        tracing::debug!(lookups = euis.len(), "finding existing devices one by one");
        let looked_up: Vec<(String, Option<DeviceInfo>)> = futures::stream::iter(euis)
            .map(|eui| async move {
                client
                    .device_by_eui(eui)
                    .await
                    .map(|d| (eui.to_string(), d))
            })
            .buffer_unordered(LOOKUP_CONCURRENCY)
            .try_collect()
            .await?;
        for (eui, device) in looked_up {
            if let Some(device) = device {
                found.insert(ExistKey::Eui(eui), device);
            }
        }
    }
    Ok(found)
}

fn collect(
    devices: &[DeviceInfo],
    wanted: &HashSet<&ExistKey>,
    found: &mut HashMap<ExistKey, DeviceInfo>,
) {
    for device in devices {
        let keys = [
            Some(ExistKey::Eui(device.eui.clone())),
            device.sim.clone().map(ExistKey::Sim),
            device.imei.clone().map(ExistKey::Imei),
        ];
        for key in keys.into_iter().flatten() {
            if wanted.contains(&key) {
                found.insert(key, device.clone());
            }
        }
    }
}
