//! Reading shipment files: CSV/TSV/TXT (delimiter and encoding sniffed), spreadsheets (calamine), ThingPark's
//! positional import CSV, and header mapping. Every cell comes out as a [`Cell`] with the row number a person sees;
//! nothing here judges a value — that is `device`'s job.
//!
//! Contract (owned by the input work): `Table::open` never loads a CSV into memory (rows stream); spreadsheets are
//! read through calamine. `row` numbers are 1-based lines / sheet rows, header and comment lines counted.

use crate::device::Kind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A field of a device row, whatever its column is called in the file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    DevEui,
    JoinEui,
    AppKey,
    NwkKey,
    DevAddr,
    NwkSKey,
    AppSKey,
    SNwkSIntKey,
    NwkSEncKey,
    Imei,
    /// A SIM identifier column that may hold an ICCID or an EID (`SIM`, `SIM ID`).
    Sim,
    Iccid,
    Eid,
    Imsi,
    Name,
    Model,
    Connection,
    Plan,
    Context,
    /// The row's kind or activation (`otaa`, `ABP`, `CREATE_OTAA`, …).
    Kind,
    /// Multicast class (B or C).
    Class,
    /// Multicast downlink data rate.
    DataRate,
    /// Multicast downlink frequency, MHz.
    Frequency,
    /// Base-station tags (multicast), `;`-separated.
    Tags,
}

impl Field {
    /// Every field, in template order.
    pub const ALL: [Field; 24] = [
        Field::DevEui,
        Field::JoinEui,
        Field::AppKey,
        Field::NwkKey,
        Field::DevAddr,
        Field::NwkSKey,
        Field::AppSKey,
        Field::SNwkSIntKey,
        Field::NwkSEncKey,
        Field::Imei,
        Field::Sim,
        Field::Iccid,
        Field::Eid,
        Field::Imsi,
        Field::Name,
        Field::Model,
        Field::Connection,
        Field::Plan,
        Field::Context,
        Field::Kind,
        Field::Class,
        Field::DataRate,
        Field::Frequency,
        Field::Tags,
    ];

    /// The canonical snake_case name used by `--set`, `--mapping`, JSON output and errors.
    pub fn name(self) -> &'static str {
        match self {
            Field::DevEui => "dev_eui",
            Field::JoinEui => "join_eui",
            Field::AppKey => "app_key",
            Field::NwkKey => "nwk_key",
            Field::DevAddr => "dev_addr",
            Field::NwkSKey => "nwk_s_key",
            Field::AppSKey => "app_s_key",
            Field::SNwkSIntKey => "s_nwk_s_int_key",
            Field::NwkSEncKey => "nwk_s_enc_key",
            Field::Imei => "imei",
            Field::Sim => "sim",
            Field::Iccid => "iccid",
            Field::Eid => "eid",
            Field::Imsi => "imsi",
            Field::Name => "name",
            Field::Model => "model",
            Field::Connection => "connection",
            Field::Plan => "plan",
            Field::Context => "context",
            Field::Kind => "kind",
            Field::Class => "class",
            Field::DataRate => "data_rate",
            Field::Frequency => "frequency",
            Field::Tags => "tags",
        }
    }

    /// True for key material: never shown in full anywhere.
    pub fn is_secret(self) -> bool {
        matches!(
            self,
            Field::AppKey
                | Field::NwkKey
                | Field::NwkSKey
                | Field::AppSKey
                | Field::SNwkSIntKey
                | Field::NwkSEncKey
        )
    }

    /// True for identifiers that a spreadsheet must keep as text (hex and long digit strings).
    pub fn is_identifier(self) -> bool {
        matches!(
            self,
            Field::DevEui
                | Field::JoinEui
                | Field::AppKey
                | Field::NwkKey
                | Field::DevAddr
                | Field::NwkSKey
                | Field::AppSKey
                | Field::SNwkSIntKey
                | Field::NwkSEncKey
                | Field::Imei
                | Field::Sim
                | Field::Iccid
                | Field::Eid
                | Field::Imsi
        )
    }
}

/// One cell as the file holds it. CSV cells are always `Text`; spreadsheet cells keep their type so that `device`
/// can tell an exact number from spreadsheet damage.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    /// An integer-valued spreadsheet cell stored as an integer (ODS, XLS).
    Int(i64),
    /// A numeric spreadsheet cell as the file stores it (a double).
    Float(f64),
    Bool(bool),
    /// A date or time cell, as ISO text.
    Date(String),
    /// An error cell (`#DIV/0!`, `#N/A`, …).
    Error(String),
}

impl Cell {
    /// True when the cell holds nothing but whitespace.
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as a person would read it (numbers in their shortest exact form).
    pub fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) | Cell::Date(s) | Cell::Error(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Bool(b) => b.to_string(),
        }
    }
}

/// The file's format, as detected; the rework file is written back in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceFormat {
    Csv {
        delimiter: u8,
        encoding: TextEncoding,
    },
    /// ThingPark's own positional import CSV (no header, column A is the action).
    ThingparkCsv {
        delimiter: u8,
        encoding: TextEncoding,
    },
    Spreadsheet {
        kind: SheetKind,
        sheet: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SheetKind {
    Xlsx,
    Xlsm,
    Xls,
    Ods,
}

/// A column of the file: its header as written and the field it maps to, if any.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub index: usize,
    pub header: String,
    pub field: Option<Field>,
}

/// One data row: its cells in file order and the row number a person sees.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub row: u64,
    pub cells: Vec<Cell>,
}

/// One field's value in a row, with the column it came from (the header as written, or `--set <field>`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldValue {
    pub field: Field,
    pub column: Arc<str>,
    pub cell: Cell,
}

/// A row seen through the header mapping and the `--set` defaults: what `device` checks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MappedRow {
    pub row: u64,
    /// At most one value per field; a `--set` default fills a missing column or an empty cell.
    pub values: Vec<FieldValue>,
}

impl MappedRow {
    pub fn get(&self, field: Field) -> Option<&FieldValue> {
        self.values.iter().find(|v| v.field == field)
    }
}

/// Checked input options: built from the command line before any file is opened.
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    pub sheet: Option<String>,
    /// Extra header → field pairs (from `--mapping`), matched like the built-in aliases.
    pub mapping: Vec<(String, Field)>,
    /// `--set` defaults.
    pub defaults: Vec<(Field, String)>,
    /// `--kind`.
    pub kind: Option<Kind>,
}

impl InputOptions {
    /// Checks `--set`, reads `--mapping`; errors name the option and value.
    pub fn from_args(args: &crate::cli::InputArgs) -> Result<InputOptions, InputError> {
        let _ = args;
        todo!("issue 2: input options")
    }
}

/// Why a file cannot be used at all (exit 2). Row-level problems are never an `InputError`.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {message}")]
    Unusable { path: PathBuf, message: String },
    #[error("{path}: row {row}: {message}")]
    AtRow {
        path: PathBuf,
        row: u64,
        message: String,
    },
    #[error("{0}")]
    Option(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An opened shipment file: its format, header and a stream of rows.
pub struct Table {
    pub path: PathBuf,
    pub format: SourceFormat,
    /// Row number of the header line (None for ThingPark's headerless format).
    pub header_row: Option<u64>,
    pub columns: Vec<Column>,
    rows: Box<dyn Iterator<Item = Result<Record, InputError>> + Send>,
    options: InputOptions,
}

impl Table {
    /// Opens a file, detects its format, finds the header and maps columns to fields.
    pub fn open(path: &Path, options: &InputOptions) -> Result<Table, InputError> {
        let _ = (path, options);
        todo!("issue 2: open")
    }

    /// The next raw record, in file order.
    pub fn next_record(&mut self) -> Option<Result<Record, InputError>> {
        self.rows.next()
    }

    /// Applies the header mapping and the `--set` defaults to a record.
    pub fn map(&self, record: &Record) -> MappedRow {
        let _ = (record, &self.options);
        todo!("issue 2: map")
    }
}

impl Iterator for Table {
    type Item = Result<Record, InputError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}
