//! The stage between a file and the journal: read, check, resolve and build each row's request, streaming.
//!
//! Contract used by `plan` and `import`:
//! `prepare_rows(table, catalog, each)` calls `each` once per data row, in file order, with a [`PreparedRow`].

use crate::device::{Checker, Ids, Kind, RowError};
use crate::input::Table;
use crate::platform::{Catalog, CreateRequest, ExistKey, build_request};

/// One row after checks and resolution.
#[derive(Debug, Clone)]
pub struct PreparedRow {
    pub row: u64,
    pub kind: Option<Kind>,
    pub id: Option<String>,
    pub name: Option<String>,
    /// How the platform would know this device before it is created (None for invalid rows).
    pub exist_key: Option<ExistKey>,
    pub outcome: Prepared,
}

#[derive(Debug, Clone)]
pub enum Prepared {
    Send(CreateRequest),
    Invalid(Vec<RowError>),
}

impl PreparedRow {
    /// The row's errors; empty when it would be sent.
    pub fn errors(&self) -> &[RowError] {
        match &self.outcome {
            Prepared::Send(_) => &[],
            Prepared::Invalid(errors) => errors,
        }
    }
}

/// Reads every row of `table`, checks it (duplicates included), resolves it against `catalog` and builds its
/// request. Streams: memory does not grow with the number of rows beyond what duplicate detection needs. An
/// unreadable file stops with an `InputError` (exit 2); bad rows never do.
pub fn prepare_rows(
    table: &mut Table,
    catalog: &Catalog,
    mut each: impl FnMut(PreparedRow) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut checker = Checker::new(table.options().kind);
    while let Some(record) = table.next_record() {
        let mapped = table.map_owned(record?);
        let verdict = checker.check(&mapped);
        let prepared = match verdict.result {
            Err(errors) => PreparedRow {
                row: verdict.row,
                kind: verdict.kind,
                id: verdict.id,
                name: None,
                exist_key: None,
                outcome: Prepared::Invalid(errors),
            },
            Ok(device) => {
                let outcome = match catalog.resolve(&device) {
                    Ok(resolved) => Prepared::Send(build_request(&device, &resolved)),
                    Err(errors) => Prepared::Invalid(errors),
                };
                let exist_key = matches!(outcome, Prepared::Send(_))
                    .then(|| exist_key(&device.ids))
                    .flatten();
                PreparedRow {
                    row: device.row,
                    kind: Some(device.kind()),
                    id: Some(device.id()).filter(|id| !id.is_empty()),
                    name: device.name.clone(),
                    exist_key,
                    outcome,
                }
            }
        };
        each(prepared)?;
    }
    Ok(())
}

/// `Eui` for LoRaWAN, `Sim` (else `Imei`) for cellular: what a listing or a look-up can find before creation.
fn exist_key(ids: &Ids) -> Option<ExistKey> {
    match ids {
        Ids::Otaa { dev_eui, .. } | Ids::Abp { dev_eui, .. } | Ids::Multicast { dev_eui, .. } => {
            Some(ExistKey::Eui(dev_eui.as_str().to_string()))
        }
        Ids::Cellular { imei, sim, .. } => sim
            .as_ref()
            .map(|s| ExistKey::Sim(s.as_str().to_string()))
            .or_else(|| {
                imei.as_ref()
                    .map(|i| ExistKey::Imei(i.as_str().to_string()))
            }),
    }
}
