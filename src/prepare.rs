//! The stage between a file and the journal: read, check, resolve and build each row's request, streaming.
//!
//! Contract used by `validate`, `plan` and `import`:
//! - [`check_rows`] reads and checks every row (reading on a thread of its own) and hands on each row's verdict;
//!   [`check_verdicts`] is the same stage for a command that needs only the verdicts (`validate`), with the fast
//!   path of `device::fast` where it applies;
//! - `prepare_targets(table, each)` reads each row of a `tpbulk delete` as the device it names;
//! - `prepare_rows(table, catalog, each)` calls `each` once per data row, in file order, with a [`PreparedRow`].
//!
//! Each returns the file's notes for [`warn_file_notes`].

use crate::device::fast::{FastId, FastPlan};
use crate::device::{Checked, Checker, Kind, LookupKeys, Partial, RowError, Tag, Target};
use crate::input::{Field, InputError, MappedRow, Table};
use crate::platform::update::{Changeable, Wish};
use crate::platform::{Catalog, CreateRequest, ExistKey, Resolved, build_request};
use serde_json::Value;
use std::sync::mpsc;

/// One row after checks and resolution.
#[derive(Debug, Clone)]
pub struct PreparedRow {
    pub row: u64,
    pub kind: Option<Kind>,
    pub id: Option<String>,
    pub name: Option<String>,
    /// How the platform would know this device before it is created (None for invalid rows).
    pub exist_key: Option<ExistKey>,
    /// Every key the platform may know the device by, journalled with the row.
    pub keys: LookupKeys,
    /// The tags to put on the device once it is created (`POST /devices/tags`, grouped by tag across the batch).
    pub tags: Vec<Tag>,
    /// The row names a device to delete (its outcome `Delete`, or `Invalid` with the reasons).
    pub deletion: bool,
    /// What the row creates, or why it cannot. With `--on-existing update` a row that cannot create its device
    /// may still update it: see `update`.
    pub outcome: Prepared,
    /// With `--on-existing update`: what the row asks of its device should it exist (`None` for a row that is
    /// invalid either way).
    pub update: Option<Wish>,
}

/// How rows are read for `--on-existing update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateMode {
    /// `--clear-empty`: an empty cell clears the field on an existing device instead of leaving it.
    pub clear_empty: bool,
}

#[derive(Debug, Clone)]
pub enum Prepared {
    Send(CreateRequest),
    /// A device to delete, found by the row's [`PreparedRow::keys`] (a `DELETE` row, or a row of `tpbulk delete`).
    Delete,
    Invalid(Vec<RowError>),
}

impl PreparedRow {
    /// The row's errors; empty when it would be sent.
    pub fn errors(&self) -> &[RowError] {
        match &self.outcome {
            Prepared::Send(_) | Prepared::Delete => &[],
            Prepared::Invalid(errors) => errors,
        }
    }

    /// A row naming a device to delete (`Prepared::Delete`, or `Invalid` with its errors).
    fn from_target(target: Target, name: Option<String>) -> PreparedRow {
        let (keys, outcome) = match target.result {
            Ok(keys) => (keys, Prepared::Delete),
            Err(errors) => (LookupKeys::default(), Prepared::Invalid(errors)),
        };
        PreparedRow {
            row: target.row,
            kind: target.kind,
            id: target.id,
            name,
            exist_key: None,
            keys,
            tags: Vec::new(),
            deletion: true,
            outcome,
            update: None,
        }
    }
}

/// The name cell of a row: what a person finds the row by in the report, valid or not.
fn name_of(mapped: &MappedRow) -> Option<String> {
    mapped
        .get(Field::Name)
        .map(|v| v.cell.display().trim().to_string())
        .filter(|n| !n.is_empty())
}

/// Refuses a file none of whose columns (nor `--set`) can name a device to delete, before anything is journalled or
/// asked (ThingPark's positional file names its devices in column B).
pub fn refuse_unnamed_targets(table: &Table) -> Result<(), crate::error::UsageError> {
    const IDS: [Field; 5] = [
        Field::DevEui,
        Field::Imei,
        Field::Sim,
        Field::Iccid,
        Field::Eid,
    ];
    let named = table
        .columns
        .iter()
        .any(|c| c.field.is_some_and(|f| IDS.contains(&f)))
        || table
            .options()
            .defaults
            .iter()
            .any(|(f, _)| IDS.contains(f));
    if table.is_positional() || named {
        return Ok(());
    }
    let headers: Vec<&str> = table.columns.iter().map(|c| c.header.as_str()).collect();
    Err(crate::error::UsageError(format!(
        "{}: no column names a device (DevEUI, IMEI, ICCID/SIM or EID) among {}; name one with --mapping or \
         --columns",
        table.path.display(),
        headers.join(", ")
    )))
}

/// Reads every row of `table` as naming a device to delete ([`Checker::target`]: only identifiers are needed)
/// and calls `each` in file order. A file none of whose columns can name a device is refused before any row.
pub fn prepare_targets(
    table: &mut Table,
    mut each: impl FnMut(PreparedRow) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<String>> {
    refuse_unnamed_targets(table)?;
    let mut checker = Checker::new(table.options().kind).positional(table.is_positional());
    while let Some(record) = table.next_record() {
        let mapped = table.map_owned(record?);
        let name = name_of(&mapped);
        each(PreparedRow::from_target(checker.target(&mapped), name))?;
    }
    Ok(table.mapper().file_notes())
}

/// Reads every row of `table`, checks it (duplicates included), resolves it against `catalog` and builds its
/// request. Streams: memory does not grow with the number of rows beyond what duplicate detection needs. An
/// unreadable file stops with an `InputError` (exit 2); bad rows never do. Returns the file-level notes (what no
/// single row shows: devices that will forward nothing, columns that cannot be sent), to be shown once.
pub fn prepare_rows(
    table: &mut Table,
    catalog: &Catalog,
    each: impl FnMut(PreparedRow) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<String>> {
    prepare_rows_for(table, catalog, None, each)
}

/// [`prepare_rows`], with `--on-existing update` when `updating` is given: each row also says what it would
/// change on its device ([`PreparedRow::update`]), and what only a creation needs is required only of a row
/// whose device does not exist.
pub fn prepare_rows_for(
    table: &mut Table,
    catalog: &Catalog,
    updating: Option<UpdateMode>,
    mut each: impl FnMut(PreparedRow) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<String>> {
    check_rows(table, updating.is_some(), |checked, mapped| {
        let verdict = match checked {
            Checked::Create(verdict) => verdict,
            Checked::Delete(target) => {
                return each(PreparedRow::from_target(target, name_of(mapped)));
            }
        };
        let update = match (verdict.update.as_ref(), updating) {
            (Some(partial), Some(mode)) => Some(
                catalog
                    .resolve_update(partial.kind.unwrap_or(Kind::Otaa), &partial.refs)
                    .map(|resolved| wish(partial, &resolved, mapped, mode)),
            ),
            _ => None,
        };
        let (update, update_errors) = match update {
            Some(Ok(wish)) => (Some(wish), Vec::new()),
            Some(Err(errors)) => (None, errors),
            None => (None, Vec::new()),
        };
        let partial = verdict.update;
        let prepared = match verdict.result {
            // A row that cannot create its device but can update it.
            Err(errors) if update.is_some() => {
                let partial = partial.expect("an update comes from the row's partial reading");
                let exist_key = ExistKey::all(&partial.keys).into_iter().next();
                PreparedRow {
                    row: verdict.row,
                    kind: partial.kind,
                    id: verdict.id,
                    name: partial.name,
                    exist_key,
                    keys: partial.keys,
                    tags: Vec::new(),
                    deletion: false,
                    outcome: Prepared::Invalid(errors),
                    update,
                }
            }
            // Invalid whatever its device: a row read as an update whose references do not resolve is told only
            // those (it will not create, and only a row that creates needs what a creation needs).
            Err(errors) => {
                let errors = if partial.is_some() {
                    update_errors
                } else {
                    errors
                };
                PreparedRow {
                    row: verdict.row,
                    kind: verdict.kind,
                    id: verdict.id,
                    name: name_of(mapped),
                    exist_key: None,
                    keys: LookupKeys::default(),
                    tags: Vec::new(),
                    deletion: false,
                    outcome: Prepared::Invalid(errors),
                    update: None,
                }
            }
            Ok(device) => {
                let outcome = match catalog.resolve(&device) {
                    Ok(resolved) => Prepared::Send(build_request(&device, &resolved)),
                    Err(errors) => Prepared::Invalid(errors),
                };
                // A row whose references do not resolve is invalid whatever its device.
                let update = update.filter(|_| matches!(outcome, Prepared::Send(_)));
                let keys = device.ids.lookup_keys();
                let exist_key = matches!(outcome, Prepared::Send(_))
                    .then(|| ExistKey::all(&keys).into_iter().next())
                    .flatten();
                PreparedRow {
                    row: device.row,
                    kind: Some(device.kind()),
                    id: Some(device.id()).filter(|id| !id.is_empty()),
                    name: device.name.clone(),
                    exist_key,
                    keys,
                    tags: device.extras.tags.clone(),
                    deletion: false,
                    outcome,
                    update,
                }
            }
        };
        each(prepared)
    })
}

/// The first error of a row that could update its device, but the device is not on the platform: what follows is
/// what a creation needs.
pub fn not_on_platform() -> RowError {
    RowError {
        field: "row".into(),
        // Named, so that it is shown on its row and not taken for a column the file lacks.
        column: "row".into(),
        code: crate::device::ErrorCode::Missing,
        message: "no such device on the platform, so the row would create it, and a creation needs what follows"
            .into(),
    }
}

/// What a row asks of its device: each changeable field it gives (an empty cell leaves the field as it is, or
/// clears it with `--clear-empty`; a model or a plan is never cleared), and the forbidden fields it names.
fn wish(partial: &Partial, resolved: &Resolved, mapped: &MappedRow, mode: UpdateMode) -> Wish {
    let mut wish = Wish::default();
    let clear =
        |field: Field| mode.clear_empty && mapped.get(field).is_some_and(|v| v.cell.is_blank());
    match &partial.name {
        Some(name) => wish.set(Changeable::Name, name.as_str().into()),
        None if clear(Field::Name) => wish.set(Changeable::Name, Value::Null),
        None => {}
    }
    if let Some(model) = &resolved.model_id {
        wish.set(Changeable::Model, model.as_str().into());
    }
    if partial.refs.connection.is_some() {
        let mut ids: Vec<&str> = resolved.connection_ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        wish.set(Changeable::Connections, ids.into());
    } else if clear(Field::Connection) {
        wish.set(Changeable::Connections, Value::Array(Vec::new()));
    }
    if let Some(plan) = &resolved.plan_id {
        wish.set(Changeable::Plan, plan.as_str().into());
    }
    match partial.extras.location {
        Some((lat, lon)) => {
            wish.set(Changeable::AdminLat, lat.into());
            wish.set(Changeable::AdminLon, lon.into());
        }
        None if clear(Field::Latitude) && clear(Field::Longitude) => {
            wish.set(Changeable::AdminLat, Value::Null);
            wish.set(Changeable::AdminLon, Value::Null);
        }
        None => {}
    }
    match &partial.extras.admin_info {
        Some(info) => wish.set(Changeable::AdminInfo, info.as_str().into()),
        None if clear(Field::AdminInfo) => wish.set(Changeable::AdminInfo, Value::Null),
        None => {}
    }
    match partial.extras.motion {
        Some(motion) => wish.set(Changeable::Motion, motion.as_str().into()),
        None if clear(Field::Motion) => wish.set(Changeable::Motion, Value::Null),
        None => {}
    }
    // A Tags (Domains) cell is the device's whole set: what it lacks is taken off, what it adds put on.
    if !partial.extras.tags.is_empty() {
        let tags: Vec<&str> = partial.extras.tags.iter().map(|t| t.as_str()).collect();
        wish.set(Changeable::Tags, tags.into());
    } else if clear(Field::Tags) {
        wish.set(Changeable::Tags, Value::Array(Vec::new()));
    }
    if !partial.extras.domains.is_empty() {
        let mut domains: Vec<String> = partial
            .extras
            .domains
            .iter()
            .map(|d| d.to_string())
            .collect();
        domains.sort_unstable();
        wish.set(Changeable::Domains, domains.into());
    } else if clear(Field::Domains) {
        wish.set(Changeable::Domains, Value::Array(Vec::new()));
    }
    let column = |field: Field| {
        mapped
            .get(field)
            .map(|v| v.column.to_string())
            .unwrap_or_else(|| field.name().to_string())
    };
    if let Some(kind) = partial.kind {
        let connectivity = if kind.is_lorawan() {
            "LORAWAN"
        } else {
            "CELLULAR"
        };
        wish.fix("connectivity", connectivity.into(), column(Field::Kind));
        let activation = match kind {
            Kind::Otaa => Some("OTAA"),
            Kind::Abp => Some("ABP"),
            Kind::Cellular | Kind::Multicast => None,
        };
        if let Some(activation) = activation {
            wish.fix("activation", activation.into(), column(Field::Kind));
        }
    }
    if let Some(address) = &partial.dev_addr {
        wish.fix("nwAddress", address.clone(), column(Field::DevAddr));
    }
    if let Some(imsi) = &partial.imsi {
        wish.fix("imsi", imsi.clone(), column(Field::Imsi));
    }
    wish
}

/// Reads and checks every row of `table` in full, in file order, duplicates included: the input stage of every
/// command that reads a shipment (with `updating`, each verdict also reads the row as an update of its device).
/// `each` gets each row as checked (a ThingPark `DELETE` row as the device it deletes) with the cells it was checked
/// from. An unreadable file stops with an `InputError`
/// (exit 2); bad rows never do. Returns the file-level notes.
pub fn check_rows(
    table: &mut Table,
    updating: bool,
    mut each: impl FnMut(Checked, &MappedRow) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<String>> {
    let mut checker = Checker::new(table.options().kind)
        .positional(table.is_positional())
        .updating(updating);
    let mapper = table.mapper();
    in_batches(
        MAPPED_BATCH,
        |slot: &mut MappedRow| {
            let record = table.next_record()?;
            Some(record.map(|record| *slot = table.map_owned(record)))
        },
        |rows| {
            rows.iter()
                .try_for_each(|row| each(checker.check_row(row), row))
        },
    )?;
    let mut notes = mapper.file_notes();
    notes.extend(checker.notes());
    Ok(notes)
}

/// A row as [`check_verdicts`] hands it on.
// One at a time, on the stack: boxing the verdict would cost an allocation per row of the full path.
#[allow(clippy::large_enum_variant)]
pub enum CheckedRow {
    /// Checked in full.
    Full(Checked),
    /// Found certainly valid, and not a duplicate, from its bytes alone by the fast path.
    Valid { row: u64, kind: Kind, id: FastId },
}

/// [`check_rows`] for a command that needs only each row's verdict (`validate`). With `fast`, delimited text whose
/// columns make every row one kind takes the fast path: rows the [`FastPlan`] finds certainly valid are never mapped,
/// every other row is mapped and checked in full by the same checker, so the verdicts are the same either way.
pub fn check_verdicts(
    table: &mut Table,
    fast: bool,
    mut each: impl FnMut(CheckedRow) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<String>> {
    let plan = fast
        .then(|| {
            FastPlan::new(
                &table.columns,
                &table.options().defaults,
                table.options().kind,
            )
        })
        .flatten();
    let (Some(plan), Some(mut raw)) = (plan, table.raw_csv()?) else {
        return check_rows(table, false, |checked, _| each(CheckedRow::Full(checked)));
    };
    // The fast path reads header files only, whose cardinalities are tpbulk's.
    let mut checker = Checker::new(table.options().kind);
    let table = &*table;
    let mut first = true;
    in_batches(
        RAW_BATCH,
        |(row, record): &mut (u64, csv::ByteRecord)| {
            Some(raw.read(record)?.map(|read| *row = read))
        },
        |batch| {
            if std::mem::take(&mut first) {
                checker.reserve(plan.kind(), expected_rows(table, batch));
            }
            for (row, record) in batch {
                if let Some(id) = plan.valid(record)
                    && checker.note_new(&id, *row)
                {
                    each(CheckedRow::Valid {
                        row: *row,
                        kind: plan.kind(),
                        id,
                    })?;
                } else if let Some(mapped) = table.map_raw(*row, record) {
                    each(CheckedRow::Full(checker.check_row(&mapped)))?;
                }
            }
            Ok(())
        },
    )?;
    Ok(checker.notes())
}

/// Rows per batch from the reader thread: enough that the channel costs little per row. Raw records are smaller and
/// cheaper to check, so they travel in larger batches; a few batches in flight keep both threads busy and memory flat.
const MAPPED_BATCH: usize = 1024;
const RAW_BATCH: usize = 4096;
const BATCHES_IN_FLIGHT: usize = 4;

/// Reads on a thread of its own into batches of reused slots (`read` fills one, `None` at the end) and hands each
/// filled batch to `each` on this thread, in order. Emptied batches go back to the reader to be refilled: that reuses
/// raw records' buffers, and a mapped row is freed on the thread that allocated it, which the system allocator does
/// faster. When `each` fails (a closed stdout), the reader stops at its next batch.
fn in_batches<T: Default + Send>(
    size: usize,
    mut read: impl FnMut(&mut T) -> Option<Result<(), InputError>> + Send,
    mut each: impl FnMut(&[T]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<T>>();
        scope.spawn(move || {
            loop {
                let mut batch = empty_rx.try_recv().unwrap_or_default();
                let (mut len, mut failed) = (0, None);
                while len < size {
                    if batch.len() == len {
                        batch.push(T::default());
                    }
                    match read(&mut batch[len]) {
                        Some(Ok(())) => len += 1,
                        Some(Err(e)) => {
                            failed = Some(e);
                            break;
                        }
                        None => break,
                    }
                }
                batch.truncate(len);
                if len > 0 && full_tx.send(Ok(batch)).is_err() {
                    return;
                }
                if let Some(e) = failed {
                    let _ = full_tx.send(Err(e));
                    return;
                }
                if len < size {
                    return;
                }
            }
        });
        let mut outcome = Ok(());
        for batch in full_rx.iter() {
            outcome = batch.map_err(anyhow::Error::from).and_then(|batch| {
                let done = each(&batch);
                let _ = empty_tx.send(batch);
                done
            });
            if outcome.is_err() {
                break;
            }
        }
        // A reader waiting to hand over its next batch stops.
        drop(full_rx);
        outcome
    })
}

/// Most rows a table is sized for in advance: a duplicate table of this many fits in 2^21 buckets (27 MiB).
const MAX_RESERVED_ROWS: usize = 1_800_000;

/// The rows a file probably holds, from its size and the length of its first rows.
fn expected_rows(table: &Table, first: &[(u64, csv::ByteRecord)]) -> usize {
    let Some(end) = first.last().and_then(|(_, r)| r.position()) else {
        return 0;
    };
    let size = std::fs::metadata(&table.path).map_or(0, |m| m.len());
    let per_row = (end.byte() / first.len() as u64).max(1);
    usize::try_from(size / per_row)
        .unwrap_or(usize::MAX)
        .min(MAX_RESERVED_ROWS)
}

/// Shows the file-level notes of [`prepare_rows`] (or of `validate`), once per file, on stderr so that
/// `--format jsonl` output stays rows only.
pub fn warn_file_notes(file: &std::path::Path, notes: &[String]) {
    for note in notes {
        eprintln!("tpbulk: warning: {}: {note}", file.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputOptions;
    use serde_json::json;

    /// Every row of the file, prepared against `catalog`.
    fn prepared(path: &std::path::Path, catalog: &Catalog) -> Vec<PreparedRow> {
        let mut table = Table::open(path, &InputOptions::default()).unwrap();
        let mut rows = Vec::new();
        prepare_rows(&mut table, catalog, |row| {
            rows.push(row);
            Ok(())
        })
        .unwrap();
        rows
    }

    #[test]
    fn rows_stream_in_file_order_with_their_requests_errors_and_exist_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ship.csv");
        std::fs::write(
            &path,
            "DevEUI,AppKey,IMEI,ICCID,Model,Connection,Plan\n\
             70B3D5E756000001,7374757A3FDD092947CE2DE9321C6040,,,LoRaMote,Backend,\n\
             70B3D5E756000002,7374757A3FDD092947CE2DE9321C6041,,,Unknown model,Backend,\n\
             ,,356936110000010,89331503200000000019,LTE Dongle,Backend,Cellular CP\n\
             ,,356936110000028,,LTE Dongle,Backend,Cellular CP\n\
             70B3D5E756000001,7374757A3FDD092947CE2DE9321C6042,,,LoRaMote,Backend,\n",
        )
        .unwrap();
        let catalog = Catalog::from_briefs(
            &[
                json!({"ID": "M/L", "commercialName": "LoRaMote", "connectivity": "LORAWAN", "macMinorVersion": 3}),
                json!({"ID": "M/C", "commercialName": "LTE Dongle", "connectivity": "CELLULAR"}),
            ],
            &[json!({"ID": "AS1", "name": "Backend"})],
            &[json!({"ID": "P/C", "commercialName": "Cellular CP", "connectivity": "CELLULAR"})],
            &[],
        );
        let rows = prepared(&path, &catalog);
        let summary: Vec<(u64, Option<ExistKey>, usize)> = rows
            .iter()
            .map(|r| (r.row, r.exist_key.clone(), r.errors().len()))
            .collect();
        assert_eq!(
            summary,
            [
                (2, Some(ExistKey::Eui("70B3D5E756000001".into())), 0),
                (3, None, 1),
                (4, Some(ExistKey::Sim("89331503200000000019".into())), 0),
                (5, Some(ExistKey::Imei("356936110000028".into())), 0),
                (6, None, 1),
            ]
        );
        assert_eq!(
            rows[1].errors()[0].code,
            crate::device::ErrorCode::Reference
        );
        assert_eq!(
            rows[4].errors()[0].code,
            crate::device::ErrorCode::Duplicate
        );
        match &rows[2].outcome {
            Prepared::Send(request) => {
                assert_eq!(request.kind, Kind::Cellular);
                assert_eq!(request.body["networkSubscription"]["ID"], "P/C");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_chirpstack_nwk_key_is_the_app_key_of_a_1_0_model_and_not_enough_for_a_1_1_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chirpstack.csv");
        let key = "7374757A3FDD092947CE2DE9321C6040";
        std::fs::write(
            &path,
            format!(
                "dev_eui,nwk_key,app_key,device_profile,connection\n\
                 70B3D5E756000001,{key},,LoRaMote,Backend\n\
                 70B3D5E756000002,{key},,Sensor 1.1,Backend\n"
            ),
        )
        .unwrap();
        let catalog = Catalog::from_briefs(
            &[
                json!({"ID": "M/L", "commercialName": "LoRaMote", "connectivity": "LORAWAN", "macMinorVersion": 3}),
                json!({"ID": "M/11", "commercialName": "Sensor 1.1", "connectivity": "LORAWAN", "macMinorVersion": 10}),
            ],
            &[json!({"ID": "AS1", "name": "Backend"})],
            &[],
            &[],
        );
        let rows = prepared(&path, &catalog);
        match &rows[0].outcome {
            Prepared::Send(request) => {
                assert_eq!(request.body["appKey"], key);
                assert!(request.body.get("nwkKey").is_none(), "{}", request.body);
            }
            other => panic!("{other:?}"),
        }
        let errors = rows[1].errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "app_key");
        assert!(
            errors[0].message.contains("AppKey"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn an_update_row_needs_only_its_identifier_and_an_empty_cell_leaves_unless_clear_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("update.csv");
        std::fs::write(
            &path,
            "DevEUI,Name,Admin info,Connection\n70B3D5E756000001,,new info,\n",
        )
        .unwrap();
        let catalog =
            Catalog::from_briefs(&[], &[json!({"ID": "AS1", "name": "Backend"})], &[], &[]);
        let wishes = |clear_empty| {
            let mut table = Table::open(&path, &InputOptions::default()).unwrap();
            let mut rows = Vec::new();
            prepare_rows_for(
                &mut table,
                &catalog,
                Some(UpdateMode { clear_empty }),
                |row| {
                    rows.push(row);
                    Ok(())
                },
            )
            .unwrap();
            let row = rows.remove(0);
            // No key, model or connection: not a creation, but an update of the device it names.
            assert!(matches!(row.outcome, Prepared::Invalid(_)));
            assert_eq!(
                row.exist_key,
                Some(ExistKey::Eui("70B3D5E756000001".into()))
            );
            row.update.expect("an update").set
        };
        let left = wishes(false);
        assert_eq!(left.get(Changeable::AdminInfo), Some(&json!("new info")));
        assert_eq!(left.get(Changeable::Name), None);
        assert_eq!(left.get(Changeable::Connections), None);
        let cleared = wishes(true);
        assert_eq!(cleared.get(Changeable::Name), Some(&Value::Null));
        assert_eq!(cleared.get(Changeable::Connections), Some(&json!([])));
        // Without a prepare for updates, the same row is only invalid.
        let mut table = Table::open(&path, &InputOptions::default()).unwrap();
        prepare_rows(&mut table, &catalog, |row| {
            assert!(row.update.is_none() && row.exist_key.is_none());
            Ok(())
        })
        .unwrap();
    }
}
