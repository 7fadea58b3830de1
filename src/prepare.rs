//! The stage between a file and the journal: read, check, resolve and build each row's request, streaming.
//!
//! Contract used by `plan` and `import`:
//! `prepare_rows(table, catalog, each)` calls `each` once per data row, in file order, with a [`PreparedRow`].

use crate::device::{Kind, RowError};
use crate::input::Table;
use crate::platform::{Catalog, CreateRequest, ExistKey};

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

/// Reads every row of `table`, checks it (duplicates included), resolves it against `catalog` and builds its
/// request. Streams: memory does not grow with the number of rows beyond what duplicate detection needs. An
/// unreadable file stops with an `InputError` (exit 2); bad rows never do.
pub fn prepare_rows(
    table: &mut Table,
    catalog: &Catalog,
    each: impl FnMut(PreparedRow) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let _ = (table, catalog, each);
    todo!("issue 4: prepare")
}
