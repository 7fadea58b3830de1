//! `tpbulk plan`: everything `import` would do, without writing.
//!
//! Two passes over the file, so that memory does not grow with it: the first checks and resolves every row and
//! collects the keys to look for on the platform; after one existing-device search, the second prints each row.

use crate::cli::{GlobalArgs, InputArgs, PlatformArgs};
use crate::cmd::runtime::Runtime;
use crate::device::MissingColumns;
use crate::engine::plan_file::{self, PlannedRow};
use crate::error::Exit;
use crate::input::{InputOptions, Table};
use crate::platform::update::{Change, Decision, Wish, decide};
use crate::platform::{self, DeviceInfo, ExistKey, LookupProgress, PlanTally, RequestCounts};
use crate::prepare::{Prepared, PreparedRow, UpdateMode, prepare_rows_for};
use anyhow::Context;
use std::collections::HashMap;
use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// What `import` would do with a device that already exists: `skip`/`fail` show it as `exists`; `update`
    /// compares it with the row and shows `would_update` (each field before → after), `unchanged` or
    /// `forbidden_change`.
    #[arg(long, value_enum, default_value_t = OnExisting::Skip)]
    pub on_existing: OnExisting,
    /// With `--on-existing update`: an empty cell would clear the field.
    #[arg(long)]
    pub clear_empty: bool,
    /// `text`; `jsonl`: one object per row; `json`: one object with the counts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// With `--on-existing update`: write what the plan read (each device's version and values, no key
    /// material) to PLAN, for `tpbulk import --on-existing update --plan PLAN` to update from.
    #[arg(long, value_name = "PLAN")]
    pub save: Option<std::path::PathBuf>,
}

pub use crate::engine::batch::OnExisting;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Jsonl,
    Json,
}

/// What a row would become.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    WouldCreate,
    Exists,
    WouldUpdate(Change),
    Unchanged,
    ForbiddenChange(Vec<(&'static str, String, String, String)>),
    /// A `DELETE` row whose device is on the platform.
    WouldDelete,
    /// A `DELETE` row whose device is not (any more).
    Gone,
    Invalid,
}

impl Status {
    fn as_str(&self) -> &'static str {
        match self {
            Status::WouldCreate => "would_create",
            Status::Exists => "exists",
            Status::WouldUpdate(_) => "would_update",
            Status::Unchanged => "unchanged",
            Status::ForbiddenChange(_) => "forbidden_change",
            Status::WouldDelete => "would_delete",
            Status::Gone => "gone",
            Status::Invalid => "invalid",
        }
    }
}

/// What `plan --format json` prints: one object, these keys always present.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub rows: u64,
    pub would_create: u64,
    pub would_update: u64,
    pub unchanged: u64,
    /// A device changed between a read and a write: only `import` can meet one, so a plan always counts 0.
    pub conflict: u64,
    pub forbidden_change: u64,
    pub exists: u64,
    /// `DELETE` rows, and those of them whose device is there.
    pub deletions: u64,
    pub would_delete: u64,
    pub invalid: u64,
    /// Requests this plan made, and what `import` would make in all (one per creation and per update, and the
    /// tag calls).
    pub requests_before: u64,
    pub requests_in_all: u64,
}

pub fn run(args: Args, global: &GlobalArgs, rt: &Runtime) -> anyhow::Result<Exit> {
    if args.clear_empty && args.on_existing != OnExisting::Update {
        return Err(crate::error::UsageError(
            "--clear-empty is about updating devices that exist: add --on-existing update".into(),
        )
        .into());
    }
    if args.save.is_some() && args.on_existing != OnExisting::Update {
        return Err(crate::error::UsageError(
            "--save keeps what a plan read of the devices it would update: add --on-existing update".into(),
        )
        .into());
    }
    let updating = (args.on_existing == OnExisting::Update).then_some(UpdateMode {
        clear_empty: args.clear_empty,
    });
    let options = InputOptions::from_args(&args.input)?;
    let config = super::profile::choose(global)?.client(&args.platform)?;
    // The file is checked to be usable before the platform is asked anything.
    let mut table = Table::open(&args.input.file, &options)?;
    let url = config.url.clone();
    let done = "while planning; nothing was sent or written";
    let rate = Some(platform::DEFAULT_RATE);
    let (client, catalog) = super::with_client(rt, done, config, rate, async |client| {
        if !global.quiet {
            eprintln!("tpbulk: reading the catalogue");
        }
        let catalog = client.catalog().await?;
        Ok((client, catalog))
    })?;

    let mapping = table.mapping_lines();
    let mut keys = Vec::new();
    let mut deletions: Vec<Vec<ExistKey>> = Vec::new();
    let mut counts = Counts::default();
    let mut missing = MissingColumns::default();
    // The plan of each row that would be sent, with its key: a device already there takes no slot.
    let mut on_plans: Vec<(Option<ExistKey>, String)> = Vec::new();
    // The tags of each row that would be sent, with its key: a device already there is not tagged.
    let mut tagged: Vec<(Option<ExistKey>, u64, Vec<crate::device::Tag>)> = Vec::new();
    // With `--on-existing update`, what each row would ask of its device, by row: compared once the devices are
    // known, before anything is printed.
    let mut wishes: HashMap<u64, (ExistKey, Wish, bool)> = HashMap::new();
    let notes = prepare_rows_for(&mut table, &catalog, updating, |row| {
        if rt.cancel().is_cancelled() {
            return Err(crate::error::Interrupted(format!("interrupted {done}")).into());
        }
        counts.rows += 1;
        if row.update.is_none() {
            missing.note(row.errors()).for_each(drop);
        }
        let sends = matches!(row.outcome, Prepared::Send(_));
        if let (Some(wish), Some(key)) = (&row.update, &row.exist_key) {
            wishes.insert(row.row, (key.clone(), wish.clone(), sends));
        }
        if let Prepared::Send(request) = &row.outcome
            && let Some(plan) = PlanTally::plan_of(request)
        {
            on_plans.push((row.exist_key.clone(), plan.to_string()));
        }
        if matches!(row.outcome, Prepared::Send(_)) && !row.tags.is_empty() {
            tagged.push((row.exist_key.clone(), row.row, row.tags.clone()));
        }
        match (&row.outcome, row.exist_key) {
            (Prepared::Send(_), Some(key)) => keys.push(key),
            (Prepared::Send(_), None) => {}
            (Prepared::Delete, _) => {
                counts.deletions += 1;
                deletions.push(ExistKey::all(&row.keys));
            }
            (Prepared::Invalid(_), Some(key)) if row.update.is_some() => keys.push(key),
            (Prepared::Invalid(_), _) => counts.invalid += 1,
        }
        Ok(())
    })?;
    // Once per file: the second pass below sees the same rows.
    crate::prepare::warn_file_notes(&args.input.file, &notes);
    let progress = LookupProgress::new(&rt.display(global.quiet));
    let creations = keys.len();
    keys.extend(deletions.iter().flatten().cloned());
    let existing = rt.until_cancelled(done, async {
        Ok(platform::find_existing(&client, &keys, &progress)
            .await
            .map_err(|e| platform::unavailable(&url, &e))?)
    })?;
    counts.exists = keys[..creations]
        .iter()
        .filter(|k| existing.contains_key(k))
        .count() as u64;
    counts.would_delete = deletions
        .iter()
        .filter(|keys| keys.iter().any(|k| existing.contains_key(k)))
        .count() as u64;
    drop(deletions);
    // Each row's fate against its device; a device whose listing does not show every field the row gives is read.
    let mut statuses: HashMap<u64, Status> = HashMap::new();
    let mut planned: Vec<PlannedRow> = Vec::new();
    for (row, (key, wish, _)) in &wishes {
        let Some(device) = existing.get(key) else {
            continue;
        };
        let reference =
            crate::engine::delete_reference(device.uid.as_deref(), Some(device.eui.as_str()))
                .unwrap_or_default();
        let mut state = device.state.as_deref().cloned().unwrap_or_default();
        let mut decision = decide(wish, &reference, &state);
        if decision == Decision::Read {
            let full = rt.until_cancelled(done, async {
                Ok(client
                    .device(&reference)
                    .await
                    .map_err(|e| platform::unavailable(&url, &e))?)
            })?;
            decision = match full.and_then(|d| d.state) {
                Some(full) => {
                    state = *full;
                    decide(wish, &reference, &state)
                }
                // Gone since the listing: not planned, so `import --plan` refuses it if it comes back.
                None => Decision::Read,
            };
        }
        if let Decision::Change(_) | Decision::Unchanged = decision {
            planned.push(PlannedRow {
                row: *row,
                status: if decision == Decision::Unchanged {
                    "unchanged"
                } else {
                    "would_update"
                }
                .into(),
                device: reference.clone(),
                version: state.version,
                before: state.values.only(&wish.set),
            });
        }
        statuses.insert(
            *row,
            match decision {
                Decision::Change(change) => Status::WouldUpdate(change),
                Decision::Unchanged | Decision::Read => Status::Unchanged,
                Decision::Forbidden(fields) => Status::ForbiddenChange(fields),
            },
        );
    }
    for status in statuses.values() {
        match status {
            Status::WouldUpdate(_) => counts.would_update += 1,
            Status::Unchanged => counts.unchanged += 1,
            Status::ForbiddenChange(_) => counts.forbidden_change += 1,
            Status::WouldCreate
            | Status::Exists
            | Status::WouldDelete
            | Status::Gone
            | Status::Invalid => {}
        }
    }
    // The rows whose device exists and that update it are not `exists`; those that would create but cannot are
    // invalid.
    counts.exists -= statuses.len() as u64;
    counts.invalid += wishes
        .iter()
        .filter(|(row, (_, _, sends))| !sends && !statuses.contains_key(row))
        .count() as u64;
    let mut tally = PlanTally::default();
    for (key, plan) in &on_plans {
        if !key.as_ref().is_some_and(|k| existing.contains_key(k)) {
            tally.add(plan);
        }
    }
    drop(on_plans);
    let over_quota = tally.over_quota(&catalog);
    for over in &over_quota {
        eprintln!(
            "tpbulk: warning: {over}; `tpbulk import` refuses to start unless --allow-over-quota"
        );
    }
    counts.would_create = counts.rows
        - counts.invalid
        - counts.exists
        - counts.deletions
        - counts.would_update
        - counts.unchanged
        - counts.forbidden_change;
    let mut rows_of_tag: std::collections::BTreeMap<crate::device::Tag, Vec<u64>> =
        Default::default();
    for (key, row, tags) in tagged {
        if !key.is_some_and(|k| existing.contains_key(&k)) {
            for tag in tags {
                rows_of_tag.entry(tag).or_default().push(row);
            }
        }
    }
    // An update's tag difference: its own calls, grouped by tag across the rows as the import makes them.
    let mut retag: std::collections::BTreeMap<(bool, String), Vec<u64>> = Default::default();
    let mut puts = 0;
    for (row, status) in &statuses {
        if let Status::WouldUpdate(change) = status {
            puts += u64::from(change.puts());
            let (untag, tag) = change.before.tag_delta(&change.after);
            for (off, tags) in [(true, untag), (false, tag)] {
                for tag in tags {
                    retag.entry((off, tag)).or_default().push(*row);
                }
            }
        }
    }
    let tag_calls = (crate::engine::batch::tag_calls(rows_of_tag, platform::TAG_PAGE).len()
        + crate::engine::batch::grouped_tag_calls(
            retag,
            crate::journal::Action::Update,
            platform::TAG_PAGE,
        )
        .len()) as u64;
    drop(keys);
    let made = client.request_counts();
    counts.requests_before = made.total();
    counts.requests_in_all = made.total() + counts.would_create + puts + tag_calls;
    if let Some(save) = &args.save {
        planned.sort_unstable_by_key(|p| p.row);
        let header = plan_file::Header {
            tpbulk_plan: plan_file::FORMAT,
            input: args.input.file.display().to_string(),
            sha256: crate::input::sha256_file(&args.input.file)
                .with_context(|| format!("{}: cannot read", args.input.file.display()))?,
            url: url.clone(),
            clear_empty: args.clear_empty,
            input_options: plan_file::input_fingerprint(&options),
            created_at: crate::journal::now(),
        };
        plan_file::write(save, &header, &planned)?;
        if !global.quiet {
            eprintln!(
                "tpbulk: plan saved to {} ({} devices read); apply it with: tpbulk import {} --on-existing update \
                 --plan {}",
                save.display(),
                planned.len(),
                args.input.file.display(),
                save.display()
            );
        }
    }
    let mut table = Table::open(&args.input.file, &options)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.format == Format::Json {
        serde_json::to_writer(&mut out, &counts)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(exit_of(&counts));
    }
    if args.format == Format::Text && !global.quiet {
        // Known after the first pass, so the summary can lead.
        let updates = if updating.is_some() {
            format!(
                ", {} would be updated, {} unchanged, {} conflict, {} forbidden_change",
                counts.would_update, counts.unchanged, counts.conflict, counts.forbidden_change
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "{}: {} rows: {} would be created{updates}, {} already exist, {} invalid",
            args.input.file.display(),
            counts.rows,
            counts.would_create,
            counts.exists,
            counts.invalid
        )?;
        if counts.deletions > 0 {
            writeln!(
                out,
                "DELETE rows: {} would be deleted, {} already gone (`tpbulk import` asks before deleting)",
                counts.would_delete,
                counts.deletions - counts.would_delete
            )?;
        }
        writeln!(
            out,
            "{}",
            requests_line(&made, counts.would_create, puts, tag_calls)
        )?;
        for line in &mapping {
            writeln!(out, "{line}")?;
        }
        if !missing.is_empty() {
            writeln!(out, "missing columns:")?;
            for line in missing.lines() {
                writeln!(out, "  {line}")?;
            }
        }
    }
    if args.format == Format::Text {
        writeln!(
            out,
            "{:<6}  {:<9}  {:<20}  {:<12}  DETAIL",
            "ROW", "KIND", "ID", "STATUS"
        )?;
    }
    prepare_rows_for(&mut table, &catalog, updating, |row| {
        let status = statuses
            .remove(&row.row)
            .unwrap_or_else(|| status_of(&row, &existing));
        match args.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut out, &row_json(&row, &status, &existing))?;
                writeln!(out)?;
            }
            Format::Text => write_text_row(&mut out, &row, &status, &existing)?,
            Format::Json => {}
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(exit_of(&counts))
}

fn exit_of(counts: &Counts) -> Exit {
    if counts.invalid + counts.forbidden_change > 0 {
        Exit::Rows
    } else {
        Exit::Success
    }
}

/// What `import` would spend: the requests this plan made (token, catalogue, look-ups: an import makes the same
/// before its first creation) and, with one creation per row to create, one update per device to change and the
/// tag calls after them, in all.
fn requests_line(made: &RequestCounts, creations: u64, updates: u64, tag_calls: u64) -> String {
    let before = made.total();
    let others = made.retries + made.other + made.deletions;
    format!(
        "requests: {before} before the first creation (look-ups {}, catalogue {}, token {}{}), {} in all with {creations} creations{}",
        made.lookups,
        made.catalogue,
        made.token,
        if others > 0 {
            format!(", retries {others}")
        } else {
            String::new()
        },
        before + creations + updates + tag_calls,
        [(updates, "updates"), (tag_calls, "tag calls")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!(" and {n} {what}"))
            .collect::<String>()
    )
}

fn status_of(row: &PreparedRow, existing: &HashMap<ExistKey, DeviceInfo>) -> Status {
    match &row.outcome {
        Prepared::Invalid(_) => Status::Invalid,
        Prepared::Send(_)
            if row
                .exist_key
                .as_ref()
                .is_some_and(|k| existing.contains_key(k)) =>
        {
            Status::Exists
        }
        Prepared::Send(_) => Status::WouldCreate,
        Prepared::Delete => match found_for_deletion(row, existing) {
            Some(_) => Status::WouldDelete,
            None => Status::Gone,
        },
    }
}

/// The platform's device a `DELETE` row names, by any of its keys.
fn found_for_deletion<'e>(
    row: &PreparedRow,
    existing: &'e HashMap<ExistKey, DeviceInfo>,
) -> Option<&'e DeviceInfo> {
    ExistKey::all(&row.keys)
        .iter()
        .find_map(|k| existing.get(k))
}

fn row_json(
    row: &PreparedRow,
    status: &Status,
    existing: &HashMap<ExistKey, DeviceInfo>,
) -> serde_json::Value {
    let mut value = serde_json::json!({
        "row": row.row,
        "kind": row.kind,
        "id": row.id,
        "name": row.name,
        "status": status.as_str(),
        "errors": status_errors(row, status),
    });
    let map = value.as_object_mut().expect("an object");
    if let Status::WouldUpdate(change) = status {
        let changes: Vec<serde_json::Value> = change
            .after
            .iter()
            .map(|(field, after)| {
                serde_json::json!({
                    "field": field.label(),
                    "before": change.before.get(field),
                    "after": after,
                })
            })
            .collect();
        map.insert("changes".into(), changes.into());
        map.insert("version".into(), serde_json::json!(change.version));
    }
    if let Prepared::Send(request) = &row.outcome
        && *status == Status::WouldCreate
    {
        map.insert("mode".into(), serde_json::json!(request.mode));
        map.insert("request".into(), request.masked());
    }
    let device = match row.outcome {
        Prepared::Delete => found_for_deletion(row, existing),
        _ => row.exist_key.as_ref().and_then(|k| existing.get(k)),
    };
    if let Some(device) = device {
        map.insert(
            "existing".into(),
            serde_json::json!({"EUI": device.eui, "href": device.href, "name": device.name}),
        );
    }
    value
}

/// The errors a row shows for its status: a forbidden change's, none for a row that updates or stays as it is
/// (what a creation would need does not apply), else the row's own.
fn status_errors(row: &PreparedRow, status: &Status) -> Vec<crate::device::RowError> {
    match status {
        Status::ForbiddenChange(fields) => fields
            .iter()
            .map(|(key, column, has, wanted)| crate::device::RowError {
                field: key.to_string(),
                column: column.clone(),
                code: crate::device::ErrorCode::ForbiddenChange,
                message: format!(
                    "the platform never changes a device's {key} (it has {has}, the row gives {wanted})"
                ),
            })
            .collect(),
        Status::WouldUpdate(_) | Status::Unchanged => Vec::new(),
        Status::Invalid if row.update.is_some() => std::iter::once(crate::prepare::not_on_platform())
            .chain(row.errors().iter().cloned())
            .collect(),
        Status::WouldCreate
        | Status::Exists
        | Status::WouldDelete
        | Status::Gone
        | Status::Invalid => row.errors().to_vec(),
    }
}

fn write_text_row(
    out: &mut impl Write,
    row: &PreparedRow,
    status: &Status,
    existing: &HashMap<ExistKey, DeviceInfo>,
) -> std::io::Result<()> {
    let detail = match (&row.outcome, status) {
        (_, Status::WouldUpdate(change)) if change.puts() => format!(
            "PUT /devices/{}: {}",
            change.reference,
            change.before.diff_line(&change.after)
        ),
        (_, Status::WouldUpdate(change)) => {
            format!("tag calls: {}", change.before.diff_line(&change.after))
        }
        (_, Status::Unchanged) => "the device already has every value the row gives".into(),
        (_, Status::ForbiddenChange(fields)) => format!("{} forbidden change(s)", fields.len()),
        (Prepared::Send(_), Status::Exists) => {
            let device = row.exist_key.as_ref().and_then(|k| existing.get(k));
            format!(
                "already on the platform{}",
                device
                    .and_then(|d| d.href.as_deref())
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default()
            )
        }
        (Prepared::Send(request), _) => {
            let body = &request.body;
            let id = |k: &str| body.pointer(k).and_then(|v| v.as_str());
            let mut parts = vec![format!("POST {}", request.path())];
            for (label, pointer) in [
                ("model", "/model/ID"),
                ("connection", "/appServers/0/ID"),
                ("plan", "/networkSubscription/ID"),
                ("context", "/networkContext/ID"),
            ] {
                if let Some(v) = id(pointer) {
                    parts.push(format!("{label}={v}"));
                }
            }
            parts.join(" ")
        }
        (Prepared::Delete, _) => match found_for_deletion(row, existing) {
            Some(device) => format!(
                "DELETE /devices/{}",
                device.uid.as_deref().unwrap_or(device.eui.as_str())
            ),
            None => "not on the platform: nothing to delete".to_string(),
        },
        (Prepared::Invalid(errors), _) => format!("{} error(s)", errors.len()),
    };
    let errors = status_errors(row, status);
    writeln!(
        out,
        "{:<6}  {:<9}  {:<20}  {:<12}  {detail}",
        row.row,
        row.kind.map(|k| k.as_str()).unwrap_or("?"),
        row.id.as_deref().unwrap_or("-"),
        status.as_str()
    )?;
    // A column the file lacks is said once above the rows.
    for error in errors.iter().filter(|e| !MissingColumns::covers(e)) {
        let column = if error.column.is_empty() {
            error.field.as_str()
        } else {
            error.column.as_str()
        };
        writeln!(
            out,
            "        {column}: {} ({})",
            error.message,
            error.code.as_str()
        )?;
    }
    Ok(())
}
