//! `rollback`: delete the devices a batch created (`done` rows) and never one that was there before it (`exists`);
//! put back the values of the devices it updated, where they still hold what it wrote.
//!
//! A rollback is a batch of `delete` operations journalled beside its import ([`Journal::prepare_rollback`]: one per
//! row the import created, in the journal's own tables) and run by the same engine as the import: the same pool,
//! pacing, retries, progress and Ctrl-C. A deletion settled (`done`, or `gone` when the platform no longer had the
//! device) is never sent again, so an interrupted rollback is finished by running it again. Rows an interrupted
//! import left `sending` are settled first, by the one reconciliation rule ([`crate::engine::reconcile`]).

use super::Target;
use crate::journal::{Action, BatchInfo, Journal, Previous, RowState};

/// Rows listed before the question; the rest are counted.
pub const SHOWN: usize = 20;

/// What a rollback of a batch would do.
#[derive(Debug, Clone, Default)]
pub struct RollbackPlan {
    /// The rollback's own batch of deletions.
    pub id: String,
    /// Deletions and restores still to send.
    pub to_delete: u64,
    /// Of `to_delete`, the restores of devices the import updated.
    pub to_restore: u64,
    /// The first [`SHOWN`] of them, in row order.
    pub shown: Vec<Target>,
    /// Rows an earlier rollback already deleted (or found gone).
    pub already: u64,
    /// `exists` rows, which stay.
    pub kept: u64,
    /// Rows never sent (`pending`): a later `resume` would still create them.
    pub unsent: u64,
}

/// Journals the deletions of `import` (see [`Journal::prepare_rollback`]) and says what is left to do.
pub fn plan(journal: &mut Journal, import: &BatchInfo) -> anyhow::Result<RollbackPlan> {
    let id = journal.prepare_rollback(import)?;
    restore_tags(journal, import, &id)?;
    let waiting = [RowState::Pending, RowState::Sending];
    let shown = journal
        .rows_after(&id, Some(&waiting), 0, SHOWN)?
        .iter()
        .map(Target::from_record)
        .collect();
    Ok(RollbackPlan {
        to_delete: journal.count_states(&id, &waiting)?,
        to_restore: journal.count_updates(&id, &waiting)?,
        shown,
        already: journal.undone_count(&import.id)?,
        kept: journal.count_state(&import.id, RowState::Exists)?,
        unsent: journal.count_state(&import.id, RowState::Pending)?,
        id,
    })
}

/// Journals, with the first rollback of `import`, the tag calls that put back the tags its updates changed:
/// untag what an update added, tag again what it removed, grouped by tag across the rows (as the import sent
/// them), each for the devices whose restore ends `done` (a device whose fields or tags changed since the
/// import ends `conflict` and keeps them).
fn restore_tags(journal: &mut Journal, import: &BatchInfo, rollback: &str) -> anyhow::Result<()> {
    if journal.batch(&Journal::tags_id(rollback))?.is_some() {
        return Ok(());
    }
    let mut groups: std::collections::BTreeMap<(bool, String), Vec<u64>> = Default::default();
    journal.for_each_row(&import.id, Some(&[RowState::Done]), |r| {
        if r.action != Action::Update {
            return Ok(());
        }
        let Some(previous) = r.previous.as_deref() else {
            return Ok(());
        };
        let previous: Previous = serde_json::from_str(previous)?;
        // The restore writes `before` over `after`: its delta is the update's reversed.
        let (untag, tag) = previous.after.tag_delta(&previous.before);
        for (off, tags) in [(true, untag), (false, tag)] {
            for tag in tags {
                groups.entry((off, tag)).or_default().push(r.row);
            }
        }
        Ok(())
    })?;
    let calls =
        crate::engine::batch::grouped_tag_calls(groups, Action::Restore, crate::platform::TAG_PAGE);
    if !calls.is_empty() {
        journal.insert_tag_calls(rollback, calls)?;
    }
    Ok(())
}

/// When the import began (milliseconds since the epoch), for the reconciliation of its `sending` rows.
pub fn started_ms(import: &BatchInfo) -> Option<i64> {
    import.options["started_ms"].as_i64().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(&import.created_at)
            .ok()
            .map(|d| d.timestamp_millis())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::LookupKeys;
    use crate::input::SourceFormat;
    use crate::journal::{NewBatch, NewRow, Outcome};

    fn row(row: u64, state: RowState) -> NewRow {
        NewRow {
            row,
            kind: Some(crate::device::Kind::Otaa),
            id: Some(format!("70B3D5E75600000{row}")),
            name: None,
            state,
            request: Some("{}".into()),
            errors: Vec::new(),
            device_href: None,
            device_uid: None,
            device_eui: None,
            keys: LookupKeys::default(),
            action: crate::journal::Action::Create,
            previous: None,
            message: None,
        }
    }

    #[test]
    fn a_rollback_deletes_created_rows_once_and_tries_failed_ones_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(&dir.path().join("j.db")).unwrap();
        let id = journal
            .create_batch(&NewBatch {
                name: None,
                input_path: "x.csv".into(),
                input_sha256: "00".into(),
                format: SourceFormat::Csv {
                    delimiter: b',',
                    encoding: crate::input::TextEncoding::Utf8,
                },
                columns: Vec::new(),
                options: serde_json::json!({"started_ms": 5}),
                profile: None,
                input_columns: None,
            })
            .unwrap();
        journal
            .insert_rows(
                &id,
                [
                    row(2, RowState::Pending),
                    row(3, RowState::Pending),
                    row(4, RowState::Exists),
                    row(5, RowState::Pending),
                ],
            )
            .unwrap();
        let done = |row| Outcome {
            attempts: 1,
            device_uid: Some(format!("{row}0")),
            ..Outcome::new(row, RowState::Done)
        };
        journal.record_outcomes(&id, [done(2), done(3)]).unwrap();
        let import = journal.batch(&id).unwrap().unwrap();
        assert_eq!(started_ms(&import), Some(5));

        let plan = plan(&mut journal, &import).unwrap();
        assert_eq!(
            (plan.to_delete, plan.already, plan.kept, plan.unsent),
            (2, 0, 1, 1)
        );
        assert_eq!(plan.shown[0].uid.as_deref(), Some("20"));
        // The rollback is a batch of its own, reached through its import, never listed as one.
        assert_eq!(journal.batches().unwrap().len(), 1);
        let rollback = journal.batch(&plan.id).unwrap().unwrap();
        assert_eq!(rollback.undoes.as_deref(), Some(id.as_str()));

        // Row 2 deleted, row 3 failed; row 5 created since.
        let mut failed = done(3);
        failed.state = RowState::Failed;
        let mut deleted = done(2);
        deleted.device_uid = None;
        journal
            .record_outcomes(&plan.id, [deleted, failed])
            .unwrap();
        journal.record_outcomes(&id, [done(5)]).unwrap();
        let again = super::plan(&mut journal, &import).unwrap();
        assert_eq!((again.to_delete, again.already, again.unsent), (2, 1, 0));
        let mut undone = crate::journal::UndoneCursor::new(&id);
        let undone: Vec<_> = (2..=5).map(|r| undone.of(&journal, r).unwrap()).collect();
        assert_eq!(undone, [Some(RowState::Done), None, None, None]);
        let rows: Vec<u64> = again.shown.iter().map(|t| t.row).collect();
        assert_eq!(rows, [3, 5]);
    }
}
