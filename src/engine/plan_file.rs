//! The file `plan --on-existing update --save PLAN` writes and `import --on-existing update --plan PLAN` updates
//! from: what the plan read of each device it would update or found unchanged (its reference, its
//! `occContext.version`, its values in the fields the row gives), so that the import writes over exactly what the
//! operator reviewed and a device changed since ends `conflict` instead of being overwritten.
//!
//! JSON lines: a header (the input file's sha256, the platform, the options that shape the rows), then one line per
//! row. Only changeable fields are in it (names, models, connections, plans, locations, admin info, motion), never
//! key material; the input options are kept as a digest because a `--set` may give a key.

use crate::error::UsageError;
use crate::input::InputOptions;
use crate::platform::update::{Change, Decision, DeviceState, Values, Wish, decide};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The version of the format, refused when it is not this build's.
pub const FORMAT: u32 = 1;

/// The first line: what the plan was made of.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    pub tpbulk_plan: u32,
    /// The input file as given to `plan`, for messages.
    pub input: String,
    pub sha256: String,
    pub url: String,
    pub clear_empty: bool,
    /// A digest of `--sheet`, `--mapping`, `--columns`, `--set`, `--kind` (a `--set` may give a key).
    pub input_options: String,
    pub created_at: String,
}

/// One row the plan found a device for and would update (`would_update`) or leave (`unchanged`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlannedRow {
    pub row: u64,
    pub status: String,
    /// `PUT /devices/<device>`: the device's uid as the plan found it.
    pub device: String,
    /// The `occContext.version` read with `before`.
    pub version: Option<u64>,
    /// The device's values, as read, in every field the row gives.
    pub before: Values,
}

/// The options whose change would change the rows, as a digest.
pub fn input_fingerprint(input: &InputOptions) -> String {
    use sha2::Digest;
    let value = serde_json::json!({
        "sheet": input.sheet,
        "mapping": input.mapping,
        "defaults": input.defaults,
        "kind": input.kind,
        "columns": input.columns,
    });
    sha2::Sha256::digest(value.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a plan file whole (to `PLAN.tmp`, renamed over `path`, so a plan is never half written).
pub fn write(path: &Path, header: &Header, rows: &[PlannedRow]) -> anyhow::Result<()> {
    let cannot = |e: &dyn std::fmt::Display| {
        anyhow::anyhow!("{}: cannot write the plan: {e}", path.display())
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let file = std::fs::File::create(&tmp).map_err(|e| cannot(&e))?;
    let mut out = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut out, header)?;
    writeln!(out).map_err(|e| cannot(&e))?;
    for row in rows {
        serde_json::to_writer(&mut out, row)?;
        writeln!(out).map_err(|e| cannot(&e))?;
    }
    out.into_inner()
        .map_err(|e| cannot(&e))?
        .sync_all()
        .map_err(|e| cannot(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| cannot(&e))
}

/// A plan file read back and checked against the import it is given to.
#[derive(Debug, Clone)]
pub struct SavedPlan {
    pub path: PathBuf,
    pub header: Header,
    rows: HashMap<u64, PlannedRow>,
}

impl SavedPlan {
    /// Reads `path` and refuses it (exit 2, naming both files) unless it was made of this very file, for this
    /// platform, with these options.
    pub fn open(
        path: &Path,
        input: &Path,
        sha256: &str,
        url: &str,
        options: &InputOptions,
        clear_empty: bool,
    ) -> anyhow::Result<SavedPlan> {
        let shown = path.display();
        let file = std::fs::File::open(path)
            .map_err(|e| UsageError(format!("--plan {shown}: cannot read the plan: {e}")))?;
        let mut lines = std::io::BufReader::new(file).lines();
        let bad = |n: usize, e: &dyn std::fmt::Display| {
            UsageError(format!(
                "--plan {shown}: line {n}: not a plan written by `tpbulk plan --save` ({e})"
            ))
        };
        let first = lines
            .next()
            .transpose()
            .map_err(|e| bad(1, &e))?
            .unwrap_or_default();
        let header: Header = serde_json::from_str(&first).map_err(|e| bad(1, &e))?;
        if header.tpbulk_plan != FORMAT {
            return Err(bad(
                1,
                &format!("format {}, this build reads {FORMAT}", header.tpbulk_plan),
            )
            .into());
        }
        let input_shown = input.display();
        let refuse = |what: String| -> anyhow::Error {
            UsageError(format!(
                "--plan {shown}: {what}; nothing was sent. Plan {input_shown} again with the options of this import \
                 (`tpbulk plan {input_shown} --on-existing update --save {shown}`)"
            ))
            .into()
        };
        if !header.sha256.eq_ignore_ascii_case(sha256) {
            return Err(refuse(format!(
                "the plan was made for {} (sha256 {}), not for {input_shown} (sha256 {})",
                header.input,
                &header.sha256[..header.sha256.len().min(12)],
                &sha256[..sha256.len().min(12)]
            )));
        }
        if header.url != url {
            return Err(refuse(format!(
                "the plan read the devices of {}, not of {url}",
                header.url
            )));
        }
        if header.clear_empty != clear_empty {
            let flag = |on: bool| if on { "with" } else { "without" };
            return Err(refuse(format!(
                "the plan was made {} --clear-empty, this import is {} it",
                flag(header.clear_empty),
                flag(clear_empty)
            )));
        }
        if header.input_options != input_fingerprint(options) {
            return Err(refuse(
                "the plan was made with other input options (--sheet, --mapping, --columns, --set or --kind)"
                    .into(),
            ));
        }
        let mut rows = HashMap::new();
        for (n, line) in lines.enumerate() {
            let line = line.map_err(|e| bad(n + 2, &e))?;
            if line.trim().is_empty() {
                continue;
            }
            let row: PlannedRow = serde_json::from_str(&line).map_err(|e| bad(n + 2, &e))?;
            rows.insert(row.row, row);
        }
        Ok(SavedPlan {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// What a row whose device exists becomes with the plan as its base, given `fresh`, the decision against the
    /// device as the import found it. A forbidden change stays refused. A device the plan read is updated from
    /// what the plan read: its `PUT` carries the plan's version, so the platform refuses it (409, `conflict`) if
    /// the device changed since. A row the plan found unchanged whose device no longer holds the row's values, a
    /// device the plan did not find (created since), or another device under the row's identifier (deleted and
    /// created again) ends `conflict` at once with the reason: nothing the operator reviewed would be written.
    pub fn rebase(&self, row: u64, wish: &Wish, reference: &str, fresh: Decision) -> Rebased {
        if let Decision::Forbidden(_) = fresh {
            return Rebased::Decision(fresh);
        }
        let Some(planned) = self.rows.get(&row) else {
            return Rebased::Conflict(
                "the plan did not find this device on the platform (it would have created it, or refused the row): \
                 it was created since, so it is left as it is (plan again, or --force overwrites)"
                    .into(),
            );
        };
        if planned.device != reference {
            return Rebased::Conflict(format!(
                "the plan read device {} for this row; the platform now has device {reference} (deleted and \
                 created again since), so it is left as it is (plan again, or --force overwrites)",
                planned.device
            ));
        }
        // The forbidden fields were checked against the device as it is now, above.
        let values_only = Wish {
            set: wish.set.clone(),
            ..Wish::default()
        };
        let base = DeviceState {
            version: planned.version,
            values: planned.before.clone(),
            full: true,
            ..DeviceState::default()
        };
        match (decide(&values_only, reference, &base), fresh) {
            (Decision::Change(change), _) => Rebased::Decision(Decision::Change(change)),
            (_, Decision::Change(now)) => Rebased::Conflict(format!(
                "the device changed on the platform since the plan read it, so it was not overwritten (--force \
                 overwrites): {}",
                conflict_fields(&planned.before, &now)
            )),
            (_, fresh) => Rebased::Decision(fresh),
        }
    }
}

/// What [`SavedPlan::rebase`] makes of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Rebased {
    Decision(Decision),
    /// `conflict` before anything is sent, with the reason.
    Conflict(String),
}

/// `name: read 'a', file 'a', platform now 'b'`, as the engine words a refused `PUT`.
fn conflict_fields(read: &Values, now: &Change) -> String {
    use crate::platform::update::show;
    now.after
        .iter()
        .map(|(field, wanted)| {
            format!(
                "{}: read {}, file {}, platform now {}",
                field.label(),
                read.get(field).map(show).unwrap_or_else(|| "?".into()),
                show(wanted),
                now.before
                    .get(field)
                    .map(show)
                    .unwrap_or_else(|| "?".into())
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::update::Changeable;
    use serde_json::json;

    fn plan(status: &str, name: &str) -> SavedPlan {
        let mut before = Values::default();
        before.set(Changeable::Name, json!(name));
        SavedPlan {
            path: "p".into(),
            header: Header {
                tpbulk_plan: FORMAT,
                input: "f.csv".into(),
                sha256: "00".into(),
                url: "u".into(),
                clear_empty: false,
                input_options: String::new(),
                created_at: String::new(),
            },
            rows: HashMap::from([(
                2,
                PlannedRow {
                    row: 2,
                    status: status.into(),
                    device: "7".into(),
                    version: Some(3),
                    before,
                },
            )]),
        }
    }

    fn wish(name: &str) -> Wish {
        let mut wish = Wish::default();
        wish.set(Changeable::Name, json!(name));
        wish
    }

    fn device(name: &str, version: u64) -> DeviceState {
        DeviceState::from_json(
            &json!({"name": name, "occContext": {"version": version}}),
            true,
        )
    }

    #[test]
    fn an_update_carries_the_plan_s_version_and_values_whatever_the_device_holds_now() {
        let plan = plan("would_update", "old");
        let fresh = decide(&wish("new"), "7", &device("theirs", 5));
        let Rebased::Decision(Decision::Change(change)) = plan.rebase(2, &wish("new"), "7", fresh)
        else {
            panic!()
        };
        assert_eq!(change.version, Some(3));
        assert_eq!(change.before.diff_line(&change.after), "name 'old' → 'new'");
    }

    #[test]
    fn a_row_planned_unchanged_whose_device_changed_since_is_a_conflict() {
        let plan = plan("unchanged", "same");
        let fresh = decide(&wish("same"), "7", &device("theirs", 4));
        let Rebased::Conflict(message) = plan.rebase(2, &wish("same"), "7", fresh) else {
            panic!()
        };
        assert!(
            message.ends_with("name: read 'same', file 'same', platform now 'theirs'"),
            "{message}"
        );
        // Still holding the row's values (another field changed): nothing to write, nothing lost.
        let fresh = decide(&wish("same"), "7", &device("same", 4));
        assert_eq!(
            plan.rebase(2, &wish("same"), "7", fresh),
            Rebased::Decision(Decision::Unchanged)
        );
    }

    #[test]
    fn a_device_the_plan_did_not_read_is_a_conflict() {
        let plan = plan("would_update", "old");
        let fresh = decide(&wish("new"), "9", &device("old", 1));
        assert!(
            matches!(plan.rebase(3, &wish("new"), "9", fresh.clone()), Rebased::Conflict(m) if m.contains("created since"))
        );
        assert!(
            matches!(plan.rebase(2, &wish("new"), "9", fresh), Rebased::Conflict(m) if m.contains("device 7"))
        );
    }
}
