//! Reading shipment files: CSV/TSV/TXT (delimiter and encoding sniffed), spreadsheets (calamine), ThingPark's
//! positional import CSV, and header mapping. Every cell comes out as a [`Cell`] with the row number a person sees;
//! nothing here judges a value — that is `device`'s job.
//!
//! Contract (owned by the input work): `Table::open` never loads a CSV into memory (rows stream); spreadsheets are
//! read through calamine. `row` numbers are 1-based lines / sheet rows, header and comment lines counted.
//!
//! Reading a table: `while let Some(record) = table.next_record() { let row = table.map_owned(record?); … }`, or
//! `let mapper = table.mapper(); for record in table.records() { … }`. (`Table` is deliberately not an `Iterator`:
//! `Iterator::map` would shadow [`Table::map`].) Submodules: `text` (encoding, delimiter, streaming rows),
//! `sheet` (calamine), `thingpark` (the positional import CSV), `header` (aliases and the mapping plan).

mod compound;
mod header;
mod sheet;
mod text;
mod thingpark;
mod xlsx;

use crate::device::Kind;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use header::{field_named, field_of as field_for_header};

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
    /// A device's tags (`POST /devices/tags`); a multicast group's base-station tags. Several separated by `;` or
    /// `|`.
    Tags,
    /// A device's domains, `group:name` each, several separated by `;` or `|` (the body's `domains`).
    Domains,
    /// A LoRa Alliance TR005 onboarding tag (the text of the device's QR code).
    OnboardingTag,
    /// The manufacturer's serial number: the device's name when no column names it.
    SerialNumber,
    /// The manufacturer's part number, kept as read.
    PartNumber,
    /// Manual latitude, degrees (`adminLat`).
    Latitude,
    /// Manual longitude, degrees (`adminLon`).
    Longitude,
    /// Free administrative text (`customerAdminData`).
    AdminInfo,
    /// `motionIndicator`: NEAR_STATIC, WALKING_SPEED, BIKE_SPEED, VEHICLE_SPEED or RANDOM.
    Motion,
}

impl Field {
    /// Every field, in template order.
    pub const ALL: [Field; 32] = [
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
        Field::Domains,
        Field::OnboardingTag,
        Field::SerialNumber,
        Field::PartNumber,
        Field::Latitude,
        Field::Longitude,
        Field::AdminInfo,
        Field::Motion,
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
            Field::Domains => "domains",
            Field::OnboardingTag => "onboarding_tag",
            Field::SerialNumber => "serial_number",
            Field::PartNumber => "part_number",
            Field::Latitude => "latitude",
            Field::Longitude => "longitude",
            Field::AdminInfo => "admin_info",
            Field::Motion => "motion_indicator",
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

    /// True for identifiers written in hex, which a spreadsheet can never hold as a number.
    pub fn is_hex(self) -> bool {
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
        )
    }

    /// True for identifiers that a spreadsheet must keep as text (hex and long digit strings).
    pub fn is_identifier(self) -> bool {
        self.is_hex()
            || matches!(
                self,
                Field::Imei | Field::Sim | Field::Iccid | Field::Eid | Field::Imsi
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
    /// One value per field (a `--set` default fills a missing column or an empty cell), in column order; after
    /// them, a second value of a field when two of its columns are filled and differ (see [`MappedRow::conflicts`]).
    pub values: Vec<FieldValue>,
}

impl MappedRow {
    pub fn get(&self, field: Field) -> Option<&FieldValue> {
        self.values.iter().find(|v| v.field == field)
    }

    /// Each value that a second column of its field gives against the first: (the first, the other).
    pub fn conflicts(&self) -> impl Iterator<Item = (&FieldValue, &FieldValue)> {
        self.values.iter().enumerate().filter_map(|(i, v)| {
            self.values[..i]
                .iter()
                .find(|first| first.field == v.field)
                .map(|first| (first, v))
        })
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
    /// `--columns`: the file has no header row and these are its columns in order (`None` skips one).
    pub columns: Option<Vec<Option<Field>>>,
}

impl InputOptions {
    /// Checks the `--set` defaults, reads the `--mapping` file; errors name the option and value.
    pub fn new(
        sheet: Option<String>,
        mapping: Option<&Path>,
        set: &[String],
        kind: Option<Kind>,
        columns: Option<&str>,
    ) -> Result<InputOptions, InputError> {
        let mapping = match mapping {
            Some(file) => read_mapping(file)?,
            None => Vec::new(),
        };
        let defaults = set
            .iter()
            .map(|set| parse_set(set))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InputOptions {
            sheet,
            mapping,
            defaults,
            kind,
            columns: columns.map(parse_columns).transpose()?,
        })
    }
}

/// `--columns dev_eui,app_key,,name`: fields in column order, an empty entry for a column to skip.
fn parse_columns(list: &str) -> Result<Vec<Option<Field>>, InputError> {
    let columns = list
        .split(',')
        .map(|name| {
            let name = name.trim();
            if name.is_empty() {
                return Ok(None);
            }
            header::field_named(name).map(Some).ok_or_else(|| {
                InputError::Option(format!(
                    "--columns: unknown field \"{name}\"; the fields are: {}",
                    header::field_names()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if columns.iter().all(Option::is_none) {
        return Err(InputError::Option(
            "--columns: name at least one field, e.g. --columns dev_eui,app_key,,name".to_string(),
        ));
    }
    Ok(columns)
}

/// One `--set FIELD=VALUE`. Messages never repeat the value: it may be key material.
fn parse_set(set: &str) -> Result<(Field, String), InputError> {
    let Some((name, value)) = set.split_once('=') else {
        return Err(InputError::Option(format!(
            "--set: expected FIELD=VALUE (e.g. --set model=SMTC/LoRaMoteA.1_EU), got no '=' in an argument \
             starting with {:?}",
            set.chars().take(12).collect::<String>()
        )));
    };
    let field = header::field_named(name).ok_or_else(|| {
        InputError::Option(format!(
            "--set {}=…: unknown field \"{}\"; the fields are: {}",
            name.trim(),
            name.trim(),
            header::field_names()
        ))
    })?;
    // A key on the command line would sit in shell history and in every process listing.
    if field.is_secret() {
        return Err(InputError::Option(format!(
            "--set {}=…: key material is never taken on the command line; put it in a column of the file",
            field.name()
        )));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(InputError::Option(format!(
            "--set {}=: the value is empty",
            field.name()
        )));
    }
    Ok((field, value.to_string()))
}

/// A `--mapping` file: `"Header as written" = "field_name"` pairs.
fn read_mapping(file: &Path) -> Result<Vec<(String, Field)>, InputError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        InputError::Option(format!("--mapping {}: cannot read it: {e}", file.display()))
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        InputError::Option(format!(
            "--mapping {}: not a TOML table of \"Header\" = \"field\" pairs: {e}",
            file.display()
        ))
    })?;
    table
        .into_iter()
        .map(|(key, value)| {
            let name = value.as_str().ok_or_else(|| {
                InputError::Option(format!(
                    "--mapping {}: \"{key}\" must be set to a field name in quotes; the fields are: {}",
                    file.display(),
                    header::field_names()
                ))
            })?;
            let field = header::field_named(name).ok_or_else(|| {
                InputError::Option(format!(
                    "--mapping {}: \"{key}\" = \"{name}\": unknown field; the fields are: {}",
                    file.display(),
                    header::field_names()
                ))
            })?;
            Ok((key, field))
        })
        .collect()
}

/// The SHA-256 of a file, lower-case hex (the journal records which input a batch came from).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
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
    /// Not a `#[source]`: the reason is in the message once, and `{:#}` would print it twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// An opened shipment file: its format, header and a stream of rows.
///
/// Opening the same file again with the same options gives the same records with the same `row` numbers, so a
/// later stage can re-read the rows it needs (the rework file writes failed rows back in the input's own columns).
pub struct Table {
    pub path: PathBuf,
    pub format: SourceFormat,
    /// Row number of the header line (None for ThingPark's headerless format and with `--columns`).
    pub header_row: Option<u64>,
    pub columns: Vec<Column>,
    rows: Box<dyn Iterator<Item = Result<Record, InputError>> + Send>,
    /// An XLSX sheet's rows again, raw: the same rows as `rows`, each read once by whichever asks first.
    sheet_rows: Option<xlsx::SheetRows>,
    options: InputOptions,
    mapper: RowMapper,
}

/// How cells become fields: one plan for a headed table, one per action for ThingPark's format.
enum MappingPlan {
    Header(header::Plan),
    Thingpark(thingpark::Plans),
}

pub(crate) fn unusable(path: &Path, message: impl Into<String>) -> InputError {
    InputError::Unusable {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

const NO_HEADER_HINT: &str = "no header found: no row names a known column (such as DevEUI, AppKey, IMEI, ICCID or \
     Name); add a header row, map your headers to fields with --mapping FILE.toml, or, if the file has no header \
     row, name its columns in order with --columns (e.g. --columns dev_eui,app_key,,name)";

/// What a file is by its first bytes, when that is a document that is neither text nor a spreadsheet (a PDF or an
/// image attached to the shipment mail instead of the list): refused by name rather than searched for a header.
fn other_document(path: &Path) -> Result<Option<&'static str>, InputError> {
    const SIGNATURES: [(&[u8], &str); 6] = [
        (b"%PDF-", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"7z\xBC\xAF", "a 7-Zip archive"),
    ];
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(|error| text::io_error(path, error))?;
    let n = file
        .read(&mut head)
        .map_err(|error| text::io_error(path, error))?;
    Ok(SIGNATURES
        .iter()
        .find(|(magic, _)| head[..n].starts_with(magic))
        .map(|(_, what)| *what))
}

/// A `--mapping` entry for a header the file lacks is a mistake (a typo, or the wrong file): the column it means
/// would be silently ignored.
fn check_mapping(
    path: &Path,
    columns: &[Column],
    mapping: &[(String, Field)],
) -> Result<(), InputError> {
    let unmatched = header::unmatched(columns, mapping);
    if unmatched.is_empty() {
        return Ok(());
    }
    let headers: Vec<&str> = columns
        .iter()
        .map(|c| c.header.as_str())
        .filter(|h| !h.is_empty())
        .collect();
    Err(unusable(
        path,
        format!(
            "--mapping names {} that the file does not have; its headers are: {}",
            unmatched
                .iter()
                .map(|h| format!("\"{h}\""))
                .collect::<Vec<_>>()
                .join(", "),
            headers.join(", ")
        ),
    ))
}

/// A table's header: the row it is on (none with `--columns`) and the columns it names.
type Header = (Option<u64>, Vec<Column>);

/// Finds the header: the first record with a cell that names a field. Rows above it are skipped. With
/// `--columns` there is none to find: every record is data.
fn find_header(
    rows: &mut dyn Iterator<Item = Result<Record, InputError>>,
    options: &InputOptions,
) -> Result<Option<Header>, InputError> {
    if let Some(given) = &options.columns {
        return Ok(Some((None, header::columns_given(given))));
    }
    let mapping = &options.mapping;
    for record in rows {
        let record = record?;
        if let Some(columns) = header::columns_of(&record.cells, mapping) {
            return Ok(Some((Some(record.row), columns)));
        }
    }
    Ok(None)
}

impl Table {
    /// Opens a file, detects its format, finds the header and maps columns to fields.
    pub fn open(path: &Path, options: &InputOptions) -> Result<Table, InputError> {
        let metadata = std::fs::metadata(path).map_err(|source| text::io_error(path, source))?;
        if metadata.is_dir() {
            return Err(unusable(path, "is a directory, not a shipment file"));
        }
        if metadata.len() == 0 {
            return Err(unusable(
                path,
                "the file is empty; export the shipment again (CSV or XLSX with a header row)",
            ));
        }
        if let Some(what) = other_document(path)? {
            return Err(unusable(
                path,
                format!(
                    "not a CSV or spreadsheet: this is {what}, whatever its name says; export the shipment as CSV \
                     or XLSX"
                ),
            ));
        }
        match sheet::kind_of(path) {
            Some(kind) => Self::open_sheet(path, kind, options),
            None => Self::open_text(path, options),
        }
    }

    fn open_sheet(
        path: &Path,
        kind: SheetKind,
        options: &InputOptions,
    ) -> Result<Table, InputError> {
        let sheet = sheet::open(path, kind, options.sheet.as_deref())?;
        let hint = format!("sheet \"{}\": {NO_HEADER_HINT}", sheet.name);
        let format = SourceFormat::Spreadsheet {
            kind,
            sheet: sheet.name,
        };
        Self::headed(path, format, sheet.rows, sheet.raw, options, hint)
    }

    /// A table whose columns a header row (or `--columns`) names.
    fn headed(
        path: &Path,
        format: SourceFormat,
        mut rows: Box<dyn Iterator<Item = Result<Record, InputError>> + Send>,
        sheet_rows: Option<xlsx::SheetRows>,
        options: &InputOptions,
        no_header: String,
    ) -> Result<Table, InputError> {
        let (header_row, columns) =
            find_header(&mut rows, options)?.ok_or_else(|| unusable(path, no_header))?;
        check_mapping(path, &columns, &options.mapping)?;
        Ok(Table {
            path: path.to_path_buf(),
            format,
            header_row,
            mapper: RowMapper::new(MappingPlan::Header(header::Plan::new(
                &columns,
                &options.defaults,
            ))),
            columns,
            rows,
            sheet_rows,
            options: options.clone(),
        })
    }

    fn open_text(path: &Path, options: &InputOptions) -> Result<Table, InputError> {
        let head = text::read_head(path)?;
        if text::looks_binary(&head) {
            return Err(unusable(
                path,
                "this is a binary file (a workbook or an archive), not delimited text; if it is a workbook, \
                 give it its .xlsx, .xls or .ods extension, or export it as CSV",
            ));
        }
        let complete = head.len() < 64 * 1024;
        let sniffed = text::sniff(&head, complete);
        if options.columns.is_none() && thingpark::detect(&sniffed.sample, sniffed.delimiter) {
            let rows = text::TextRows::open(path, &sniffed, true)?;
            return Ok(Table {
                path: path.to_path_buf(),
                format: SourceFormat::ThingparkCsv {
                    delimiter: sniffed.delimiter,
                    encoding: sniffed.encoding,
                },
                header_row: None,
                columns: thingpark::columns(),
                rows: Box::new(rows),
                sheet_rows: None,
                options: options.clone(),
                mapper: RowMapper::new(MappingPlan::Thingpark(thingpark::Plans::new(
                    &options.defaults,
                ))),
            });
        }
        let rows = text::TextRows::open(path, &sniffed, false)?;
        let format = SourceFormat::Csv {
            delimiter: sniffed.delimiter,
            encoding: sniffed.encoding,
        };
        let hint = NO_HEADER_HINT.to_string();
        Self::headed(path, format, Box::new(rows), None, options, hint)
    }

    /// The mapping as a person checks it, in two lines: each header with the field it fills (and the `--set`
    /// defaults), then the headers left out, so that a column not taken (a "Label" that is really the name) is seen. Empty
    /// for ThingPark's positional format, whose columns are fixed.
    pub fn mapping_lines(&self) -> Vec<String> {
        if matches!(self.format, SourceFormat::ThingparkCsv { .. }) {
            return Vec::new();
        }
        let mut taken: Vec<Field> = Vec::new();
        let mut used = Vec::new();
        let mut ignored = Vec::new();
        for column in &self.columns {
            let header = column.header.trim();
            match column.field {
                Some(field) if !taken.contains(&field) => {
                    taken.push(field);
                    used.push(format!("\"{header}\" → {}", field.name()));
                }
                // A later column of a field fills the rows where the first is empty (issue 16).
                Some(field) => used.push(format!(
                    "\"{header}\" → {} (where an earlier column is empty)",
                    field.name()
                )),
                None if header.is_empty() => {}
                None => ignored.push(format!("\"{header}\"")),
            }
        }
        let mut defaults: Vec<Field> = Vec::new();
        for (field, _) in &self.options.defaults {
            if !defaults.contains(field) {
                defaults.push(*field);
                let cells = if taken.contains(field) {
                    " (its empty cells)"
                } else {
                    ""
                };
                used.push(format!("--set {} → {}{cells}", field.name(), field.name()));
            }
        }
        let list = |items: &[String]| {
            if items.is_empty() {
                "none".to_string()
            } else {
                items.join(", ")
            }
        };
        vec![
            format!("columns used: {}", list(&used)),
            format!("columns ignored: {}", list(&ignored)),
        ]
    }

    /// The options the table was opened with.
    pub fn options(&self) -> &InputOptions {
        &self.options
    }

    /// The next raw record, in file order.
    pub fn next_record(&mut self) -> Option<Result<Record, InputError>> {
        self.rows.next()
    }

    /// Applies the header mapping and the `--set` defaults to a record. A mapped column whose cell is blank (and has
    /// no default) still gives a value, with its column, so that a `missing` error can name the column.
    pub fn map(&self, record: &Record) -> MappedRow {
        self.mapper.map_owned(record.clone())
    }

    /// [`Table::map`] for a record that is not needed afterwards: moves its cells instead of copying them.
    pub fn map_owned(&self, record: Record) -> MappedRow {
        self.mapper.map_owned(record)
    }

    /// The mapping alone, to map rows while [`Table::records`] borrows the table.
    pub fn mapper(&self) -> RowMapper {
        self.mapper.clone()
    }

    /// True for ThingPark's positional import file, whose cardinalities are its own (see `device::Checker`).
    pub fn is_positional(&self) -> bool {
        matches!(self.format, SourceFormat::ThingparkCsv { .. })
    }

    /// The remaining records, in file order.
    pub fn records(&mut self) -> impl Iterator<Item = Result<Record, InputError>> + '_ {
        std::iter::from_fn(|| self.next_record())
    }
}

fn normalise_kind(mut row: MappedRow) -> MappedRow {
    for value in &mut row.values {
        if value.field == Field::Kind {
            let cell = std::mem::replace(&mut value.cell, Cell::Empty);
            value.cell = thingpark::normalise_action(cell);
        }
    }
    row
}

/// A table's header mapping and `--set` defaults, detached from its rows: cheap to clone (shared names), `Send`,
/// so rows can be mapped while the table is being read (`let m = table.mapper(); for r in table.records() { … }`).
#[derive(Clone)]
pub struct RowMapper {
    plan: Arc<MappingPlan>,
}

impl RowMapper {
    fn new(plan: MappingPlan) -> RowMapper {
        RowMapper {
            plan: Arc::new(plan),
        }
    }

    /// What the rows mapped so far showed about the file as a whole, one line each, to be shown once per file:
    /// today, the columns of ThingPark's positional file that tpbulk does not send and that rows filled.
    pub fn file_notes(&self) -> Vec<String> {
        match &*self.plan {
            MappingPlan::Header(_) => Vec::new(),
            MappingPlan::Thingpark(plans) => plans.notes(),
        }
    }

    /// See [`Table::map_owned`].
    pub fn map_owned(&self, record: Record) -> MappedRow {
        match &*self.plan {
            MappingPlan::Header(plan) => plan.map(record),
            MappingPlan::Thingpark(plans) => {
                let plan = plans.for_row(&record.cells);
                normalise_kind(plan.map(record))
            }
        }
    }
}
