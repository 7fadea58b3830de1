//! Reconciliation: for an operation whose answer was lost, what happened. One rule for every caller (the pool, for a
//! row found `sending` or whose answer was dropped; `rollback`, for rows an interrupted import left `sending`; the
//! end of a batch, for cellular devices created without their platform reference). The device is looked up by the
//! keys journalled with the row (EUI, IMEI, SIM), never by anything read back out of its request:
//! - found, and created after the batch began (within [`CLOCK_SKEW_MS`]): this batch created it, `done`;
//! - found, and older than the batch: it was there before, `exists`, and rollback never touches it;
//! - not found: the request never arrived, and the row may be sent again.

use crate::journal::{Action, Journal, Outcome, RowRecord, RowState};
use crate::platform::update::Change;
use crate::platform::{
    ApiError, Client, DeviceFilter, DeviceInfo, ExistKey, LIST_PAGE_SIZE, Lister, LookupProgress,
    find_existing,
};
use std::collections::HashMap;

/// How far the platform's clock may lag ours before a `creationDate` earlier than the batch start is believed.
pub const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// What a look-up of a device whose creation answer was lost says about it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Created by this batch.
    Ours(DeviceInfo),
    /// On the platform since before the batch began.
    Older(DeviceInfo),
    /// Not on the platform: the request never arrived.
    Absent,
}

/// The one rule: a device found is ours unless the platform says it was created clearly before the batch began.
pub fn judge(found: Option<DeviceInfo>, batch_started_ms: Option<i64>) -> Verdict {
    let Some(device) = found else {
        return Verdict::Absent;
    };
    match (device.creation_date, batch_started_ms) {
        (Some(created), Some(start)) if created < start - CLOCK_SKEW_MS => Verdict::Older(device),
        _ => Verdict::Ours(device),
    }
}

/// The outcome of a row that was found; `None` when it was not.
pub fn outcome(row: u64, verdict: Verdict) -> Option<Outcome> {
    let (state, message, device) = match verdict {
        Verdict::Ours(device) => (RowState::Done, None, device),
        Verdict::Older(device) => (
            RowState::Exists,
            Some("already on the platform before this batch".to_string()),
            device,
        ),
        Verdict::Absent => return None,
    };
    Some(found(row, state, message, device))
}

/// The outcome of a row whose device the platform has: its reference and EUI are journalled with it.
pub fn found(row: u64, state: RowState, message: Option<String>, device: DeviceInfo) -> Outcome {
    Outcome {
        message,
        device_href: device.href,
        device_uid: device.uid,
        device_eui: (!device.eui.is_empty()).then_some(device.eui),
        ..Outcome::new(row, state)
    }
}

/// How the `sending` rows of an import were settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    pub created: usize,
    pub existed: usize,
    pub pending: usize,
}

/// Settles every row of `batch` left `sending` (an import killed or stopped mid-request), in one look-up pass:
/// found and ours → `done`, found and older → `exists`, not found → `pending`.
pub async fn settle_sending(
    client: &Client,
    journal: &mut Journal,
    batch: &str,
    batch_started_ms: Option<i64>,
) -> anyhow::Result<Settled> {
    let mut sending = Vec::new();
    let mut updates = Vec::new();
    // A deletion left in flight is simply sent again by its batch (404 is `gone`): only creations are looked for.
    journal.for_each_row(batch, Some(&[RowState::Sending]), |r| {
        match r.action {
            Action::Create => sending.push((r.row, ExistKey::all(&r.keys))),
            Action::Delete => {}
            Action::Update | Action::Restore => updates.push(r),
            // Tagging is idempotent: a tag call left `sending` is simply sent again (`pool::tag`).
            Action::Tag => {}
        }
        Ok(())
    })?;
    let mut settled = settle_updates(client, journal, batch, updates).await?;
    if sending.is_empty() {
        return Ok(settled);
    }
    let all: Vec<ExistKey> = sending
        .iter()
        .flat_map(|(_, k)| k.iter().cloned())
        .collect();
    // A handful of rows an interrupted run left unknown: nothing worth a progress display.
    let found = find_existing(
        client,
        &all,
        &LookupProgress::new(&crate::logging::Display::hidden()),
    )
    .await
    .map_err(|e| crate::platform::unavailable(&client.config().url, &e))?;
    let mut outcomes = Vec::new();
    let mut back_to_pending = Vec::new();
    for (row, keys) in sending {
        let device = keys.iter().find_map(|k| found.get(k)).cloned();
        match outcome(row, judge(device, batch_started_ms)) {
            Some(outcome) => {
                if outcome.state == RowState::Done {
                    settled.created += 1;
                } else {
                    settled.existed += 1;
                }
                outcomes.push(outcome);
            }
            None => back_to_pending.push(row),
        }
    }
    journal.record_outcomes(batch, outcomes)?;
    for row in back_to_pending {
        journal.set_row_state(batch, row, RowState::Pending)?;
        settled.pending += 1;
    }
    Ok(settled)
}

/// Settles updates left `sending` by reading each device back: holding the new values, the update was applied
/// (`done`); still holding the values read, it never arrived (`pending`); holding anything else, someone else
/// changed the device (`conflict`).
async fn settle_updates(
    client: &Client,
    journal: &mut Journal,
    batch: &str,
    rows: Vec<RowRecord>,
) -> anyhow::Result<Settled> {
    let mut settled = Settled::default();
    for row in rows {
        let Some(change) = super::parsed::<Change>(&row.request) else {
            continue;
        };
        let device = client
            .device(&change.reference)
            .await
            .map_err(|e| crate::platform::unavailable(&client.config().url, &e))?;
        let values = device
            .and_then(|d| d.state)
            .map(|s| s.values)
            .unwrap_or_default();
        let state = if change.after.held_by(&values) {
            settled.created += 1;
            RowState::Done
        } else if change.before.held_by(&values) {
            settled.pending += 1;
            journal.set_row_state(batch, row.row, RowState::Pending)?;
            continue;
        } else {
            settled.existed += 1;
            RowState::Conflict
        };
        journal.record_outcomes(
            batch,
            [Outcome {
                message: (state == RowState::Conflict)
                    .then(|| "the device changed on the platform since it was read".to_string()),
                ..Outcome::new(row.row, state)
            }],
        )?;
    }
    Ok(settled)
}

/// Created cellular rows that have no platform reference, by the keys (IMEI, SIM) the platform lists them under.
pub fn unreferenced_cellular(
    journal: &Journal,
    batch: &str,
) -> anyhow::Result<HashMap<ExistKey, u64>> {
    let mut wanted = HashMap::new();
    journal.for_each_row(batch, Some(&[RowState::Done]), |row| {
        if row.action == Action::Create
            && row.kind.is_some_and(|k| !k.is_lorawan())
            && row.device_uid.is_none()
            && row.device_href.is_none()
        {
            for key in ExistKey::all(&row.keys) {
                wanted.insert(key, row.row);
            }
        }
        Ok(())
    })?;
    Ok(wanted)
}

/// One cursor pass over the cellular devices created since the batch began (`batch_started_ms`, less
/// [`CLOCK_SKEW_MS`], when journalled) that records, for each row of `wanted`, the device with its IMEI or SIM: a
/// cellular device whose creation answer was lost is known only by those until then.
pub async fn settle_cellular_references(
    journal: &mut Journal,
    batch: &str,
    client: &Client,
    mut wanted: HashMap<ExistKey, u64>,
    batch_started_ms: Option<i64>,
) -> Result<(), ApiError> {
    tracing::info!(
        rows = wanted.len(),
        "listing the cellular devices created since the batch began, for the reference of cellular rows whose answer was lost"
    );
    let mut outcomes = Vec::new();
    // Only a cellular device created since the batch began can be its own (the one clock rule of `judge`).
    let filter = DeviceFilter {
        connectivity: Some("CELLULAR"),
        created_from_ms: batch_started_ms.map(|ms| ms - CLOCK_SKEW_MS),
        ..DeviceFilter::default()
    };
    Lister::new(client, LIST_PAGE_SIZE)
        .each(&filter, |devices| {
            for device in devices {
                let keys = [
                    device.imei.clone().map(ExistKey::Imei),
                    device.sim.clone().map(ExistKey::Sim),
                ];
                let Some(row) = keys.iter().flatten().find_map(|k| wanted.get(k).copied()) else {
                    continue;
                };
                wanted.retain(|_, r| *r != row);
                outcomes.push(found(row, RowState::Done, None, device.clone()));
            }
            !wanted.is_empty()
        })
        .await?;
    if !wanted.is_empty() {
        tracing::warn!(
            rows = wanted.len(),
            "cellular devices created by this batch are no longer listed by the platform"
        );
    }
    journal
        .record_outcomes(batch, outcomes)
        .map_err(|e| ApiError::Transport {
            message: format!("journal: {e:#}"),
            maybe_sent: false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(created: Option<i64>) -> DeviceInfo {
        DeviceInfo {
            eui: "70B3D5E756000999".into(),
            href: None,
            uid: Some("9".into()),
            name: None,
            creation_date: created,
            imei: None,
            sim: None,
            state: None,
        }
    }

    #[test]
    fn a_device_older_than_the_batch_beyond_the_clock_margin_is_not_ours() {
        let start = 10 * CLOCK_SKEW_MS;
        let older = start - CLOCK_SKEW_MS - 1;
        assert_eq!(
            judge(Some(device(Some(older))), Some(start)),
            Verdict::Older(device(Some(older)))
        );
        // Within the margin the platform's clock may simply lag ours: ours.
        let lagging = start - CLOCK_SKEW_MS + 1;
        assert!(matches!(
            judge(Some(device(Some(lagging))), Some(start)),
            Verdict::Ours(_)
        ));
        assert!(matches!(
            judge(Some(device(None)), Some(start)),
            Verdict::Ours(_)
        ));
        assert!(matches!(
            judge(Some(device(Some(older))), None),
            Verdict::Ours(_)
        ));
        assert_eq!(judge(None, Some(start)), Verdict::Absent);
    }

    #[test]
    fn outcomes_follow_the_verdict() {
        let ours = outcome(3, Verdict::Ours(device(None))).unwrap();
        assert_eq!(
            (ours.state, ours.device_uid.as_deref()),
            (RowState::Done, Some("9"))
        );
        let older = outcome(3, Verdict::Older(device(Some(1)))).unwrap();
        assert_eq!(older.state, RowState::Exists);
        assert_eq!(outcome(3, Verdict::Absent), None);
    }
}
