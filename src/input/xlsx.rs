//! XLSX/XLSM sheets read as a stream, in flat memory: the sheet's XML is parsed row by row on a thread of its own
//! and the shared strings are held in one buffer with offsets (hex strings packed two digits to a byte).
//!
//! Why not calamine here (it still reads `.xls` and `.ods`): calamine 0.38 loads the whole shared-string table
//! into a `Vec<String>` when it opens a workbook (24 bytes of header plus an allocation per string, so a
//! 600,000-row shipment of unique DevEUIs, keys and names costs over 100 MiB before a cell is read) and has no way
//! to open a workbook without it. The ZIP container and the small XML parts (relationships, workbook, styles) stay
//! with the `zip` and `quick-xml` crates that calamine itself uses; the shared strings and the sheet, nearly all of
//! a workbook's bytes, are read by a byte-level [`Scanner`] (see there why). What is written here is the part of
//! ECMA-376 a device list needs: workbook and sheet relationships, shared and inline strings, cell types, and the
//! number formats that make a number a date.

use super::{Cell, InputError, Record, unusable};
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

type Archive = zip::ZipArchive<BufReader<File>>;
/// One part of the archive, buffered.
type Part<'a> = BufReader<zip::read::ZipFile<'a, BufReader<File>>>;

/// Records per message from the parsing thread: the channel then costs nothing per row.
const BATCH: usize = 512;
/// Batches in flight: bounded, so a slow consumer never lets the parser run ahead with the file in memory.
const IN_FLIGHT: usize = 4;
/// The widest sheet Excel writes (column XFD).
const MAX_COLUMNS: usize = 16_384;

/// An opened workbook: its sheets (name and part), shared strings and date formats.
pub(crate) struct Workbook {
    path: PathBuf,
    zip: Archive,
    pub sheets: Vec<(String, String)>,
    context: Arc<Context>,
}

/// What every cell of the workbook is read with.
struct Context {
    strings: SharedStrings,
    /// Per cell style (`s="…"`): true when its number format shows a date or a time.
    date_styles: Vec<bool>,
    is_1904: bool,
}

/// Every shared string in one buffer: entry `i` is `bytes[ends[i-1]..ends[i]]`, a tag byte then the payload.
/// A string of 8 or more hex digits of one case (DevEUIs, keys, ICCIDs) is stored as nibbles, which halves the
/// largest part of a shipment's strings.
#[derive(Default)]
struct SharedStrings {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

const RAW: u8 = 0;
const HEX_UPPER: u8 = 1;
const HEX_LOWER: u8 = 2;
/// Or-ed into a hex tag: an odd number of digits (the first nibble is padding).
const ODD: u8 = 4;

impl SharedStrings {
    fn push(&mut self, s: &str) -> Result<(), String> {
        let tag = hex_tag(s);
        self.bytes.push(tag);
        if tag == RAW {
            self.bytes.extend_from_slice(s.as_bytes());
        } else {
            // Hex digits of one case (checked by `hex_tag`): a digit's value is its low nibble, a letter's is that
            // plus 9.
            let nibble = |b: u8| (b & 0x0F) + if b > b'9' { 9 } else { 0 };
            let mut digits = s.as_bytes();
            if tag & ODD != 0 {
                self.bytes.push(nibble(digits[0]));
                digits = &digits[1..];
            }
            self.bytes.extend(
                digits
                    .chunks_exact(2)
                    .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1])),
            );
        }
        let end = u32::try_from(self.bytes.len())
            .map_err(|_| "its shared strings take more than 4 GiB".to_string())?;
        self.ends.push(end);
        Ok(())
    }

    /// Appends string `index` to `out`; false when there is no such string.
    fn append(&self, index: usize, out: &mut Vec<u8>) -> bool {
        let Some(&end) = self.ends.get(index) else {
            return false;
        };
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        let Some((tag, payload)) = self.bytes[start..end as usize].split_first() else {
            return false;
        };
        if *tag == RAW {
            out.extend_from_slice(payload);
            return true;
        }
        let digits: &[u8; 16] = if tag & HEX_LOWER != 0 {
            b"0123456789abcdef"
        } else {
            b"0123456789ABCDEF"
        };
        out.reserve(payload.len() * 2);
        for (i, b) in payload.iter().enumerate() {
            if !(i == 0 && tag & ODD != 0) {
                out.push(digits[usize::from(b >> 4)]);
            }
            out.push(digits[usize::from(b & 0x0F)]);
        }
        true
    }
}

/// The tag under which a string is stored.
fn hex_tag(s: &str) -> u8 {
    let b = s.as_bytes();
    if b.len() < 8 {
        return RAW;
    }
    let (mut upper, mut lower) = (false, false);
    for &c in b {
        match c {
            b'0'..=b'9' => {}
            b'A'..=b'F' => upper = true,
            b'a'..=b'f' => lower = true,
            _ => return RAW,
        }
    }
    let odd = if b.len() % 2 == 1 { ODD } else { 0 };
    match (upper, lower) {
        (true, true) => RAW,
        (false, true) => HEX_LOWER | odd,
        _ => HEX_UPPER | odd,
    }
}

fn damaged(e: impl std::fmt::Display) -> String {
    format!(
        "not a readable spreadsheet ({e}); check that the file is a real .xlsx/.xlsm/.xls/.ods workbook, or \
         export it as CSV"
    )
}

/// One part of the archive, or `None` when it is absent.
fn open_part<'a>(zip: &'a mut Archive, name: &str) -> Result<Option<Part<'a>>, String> {
    match zip.by_name(name) {
        Ok(file) => Ok(Some(BufReader::with_capacity(64 * 1024, file))),
        Err(zip::result::ZipError::FileNotFound) => Ok(None),
        Err(e) => Err(damaged(e)),
    }
}

/// An XML reader over one part of the archive, or `None` when the part is absent.
fn part<'a>(
    zip: &'a mut Archive,
    name: &str,
) -> Result<Option<quick_xml::Reader<Part<'a>>>, String> {
    Ok(open_part(zip, name)?.map(|file| {
        let mut xml = quick_xml::Reader::from_reader(file);
        // Excel's parts are well formed; comparing every end tag with its start costs a tenth of the read.
        xml.config_mut().check_end_names = false;
        xml
    }))
}

/// An attribute's value by its local name (`r:id` answers to `id`), unescaped.
fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        (a.key.local_name().as_ref() == name)
            .then(|| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map(|v| v.into_owned())
                    .ok()
            })
            .flatten()
    })
}

/// A part's path inside the archive from a relationship target, relative to `base` (a folder ending in `/`).
fn resolve(base: &str, target: &str) -> String {
    let joined = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_string(),
        None => format!("{base}{target}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Relationship id → target, from a `.rels` part.
fn relationships(
    zip: &mut Archive,
    name: &str,
    base: &str,
) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let Some(mut xml) = part(zip, name)? else {
        return Ok(out);
    };
    let mut buf = Vec::new();
    loop {
        match xml.read_event_into(&mut buf).map_err(damaged)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "Relationship" => {
                if let (Some(id), Some(target)) = (attr(&e, "Id"), attr(&e, "Target")) {
                    out.insert(id, resolve(base, &target));
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
        buf.clear();
    }
}

impl Workbook {
    pub(crate) fn open(path: &Path) -> Result<Workbook, InputError> {
        let file = File::open(path).map_err(|source| super::text::io_error(path, source))?;
        let mut zip =
            zip::ZipArchive::new(BufReader::new(file)).map_err(|e| unusable(path, damaged(e)))?;
        Self::read(&mut zip)
            .map(|(sheets, context)| Workbook {
                path: path.to_path_buf(),
                zip,
                sheets,
                context: Arc::new(context),
            })
            .map_err(|message| unusable(path, message))
    }

    fn read(zip: &mut Archive) -> Result<(Vec<(String, String)>, Context), String> {
        let package = relationships(zip, "_rels/.rels", "")?;
        let workbook = package
            .values()
            .find(|t| t.ends_with("workbook.xml"))
            .cloned()
            .unwrap_or_else(|| "xl/workbook.xml".to_string());
        let base = match workbook.rfind('/') {
            Some(i) => workbook[..=i].to_string(),
            None => String::new(),
        };
        let file_name = workbook.rsplit('/').next().unwrap_or("workbook.xml");
        let rels = relationships(zip, &format!("{base}_rels/{file_name}.rels"), &base)?;
        let mut sheets = Vec::new();
        let mut is_1904 = false;
        {
            let mut xml =
                part(zip, &workbook)?.ok_or_else(|| damaged("it has no workbook part"))?;
            let mut buf = Vec::new();
            loop {
                match xml.read_event_into(&mut buf).map_err(damaged)? {
                    Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                        "workbookPr" => {
                            is_1904 = attr(&e, "date1904").is_some_and(|v| v == "1" || v == "true");
                        }
                        "sheet" => {
                            let name = attr(&e, "name").unwrap_or_default();
                            if let Some(target) = attr(&e, "id").and_then(|id| rels.get(&id)) {
                                sheets.push((name, target.clone()));
                            }
                        }
                        _ => {}
                    },
                    Event::Eof => break,
                    _ => {}
                }
                buf.clear();
            }
        }
        let date_styles = date_styles(zip, &format!("{base}styles.xml"))?;
        let strings = shared_strings(zip, &format!("{base}sharedStrings.xml"))?;
        Ok((
            sheets,
            Context {
                strings,
                date_styles,
                is_1904,
            },
        ))
    }

    /// The first record of a sheet with a filled cell, if any (to pick the first sheet with data).
    pub(crate) fn has_data(&mut self, sheet: usize) -> Result<bool, InputError> {
        let mut found = false;
        let (name, part) = self.sheets[sheet].clone();
        read_sheet(&mut self.zip, &part, &self.context, |_, cells| {
            found = !cells.is_blank();
            !found
        })
        .map_err(|m| unusable(&self.path, format!("sheet \"{name}\": {m}")))?;
        Ok(found)
    }

    /// Streams the rows of a sheet (blank rows skipped) from a thread that owns the workbook.
    pub(crate) fn into_rows(self, sheet: usize) -> SheetRows {
        let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
        let (done_tx, done_rx) = mpsc::channel::<RawBatch>();
        let Workbook {
            path,
            mut zip,
            sheets,
            context,
        } = self;
        let (name, part) = sheets[sheet].clone();
        std::thread::spawn(move || {
            let fresh = || Vec::with_capacity(BATCH);
            let mut batch: RawBatch = fresh();
            let mut len = 0;
            let mut open = true;
            // A panic in the parser must end the rows with a refusal, never look like the end of the sheet.
            let result = super::sheet::guarded(&path, || {
                read_sheet(&mut zip, &part, &context, |row, cells| {
                    if cells.is_blank() {
                        return true;
                    }
                    if batch.len() == len {
                        batch.push((0, csv::ByteRecord::new()));
                    }
                    batch[len].0 = row;
                    cells.encode(&mut batch[len].1);
                    len += 1;
                    if len == BATCH {
                        // Batches come back once read, their records' buffers to be reused.
                        let next = done_rx.try_recv().unwrap_or_else(|_| fresh());
                        let full = std::mem::replace(&mut batch, next);
                        len = 0;
                        open = tx.send(Ok(full)).is_ok();
                    }
                    open
                })
                .map_err(|message| unusable(&path, format!("sheet \"{name}\": {message}")))
            });
            if !open {
                return;
            }
            batch.truncate(len);
            if !batch.is_empty() && tx.send(Ok(batch)).is_err() {
                return;
            }
            if let Err(e) = result {
                let _ = tx.send(Err(e));
            }
        });
        SheetRows(Arc::new(Mutex::new(RawSheet {
            rows: rx,
            done: done_tx,
            batch: Vec::new(),
            next: 0,
        })))
    }
}

/// Rows with their sheet row numbers, as raw records.
type RawBatch = Vec<(u64, csv::ByteRecord)>;

/// The rows of a sheet as the parsing thread sends them, raw (see [`RowCells::encode`]).
struct RawSheet {
    rows: mpsc::Receiver<Result<RawBatch, InputError>>,
    done: mpsc::Sender<RawBatch>,
    batch: RawBatch,
    next: usize,
}

impl RawSheet {
    /// Swaps the next row's record into `record` (its old buffer goes back to the parser); gives its row number.
    fn read(&mut self, record: &mut csv::ByteRecord) -> Option<Result<u64, InputError>> {
        loop {
            if let Some((row, next)) = self.batch.get_mut(self.next) {
                std::mem::swap(record, next);
                self.next += 1;
                return Some(Ok(*row));
            }
            let read = std::mem::take(&mut self.batch);
            if read.capacity() > 0 {
                // The parser may have finished; then the batch is freed here.
                let _ = self.done.send(read);
            }
            match self.rows.recv().ok()? {
                Ok(batch) => {
                    self.batch = batch;
                    self.next = 0;
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A sheet's rows, shared by the table's own row iterator ([`SheetRows::records`]) and its raw reader
/// ([`SheetRows::read_raw`]): each row is read once, by whichever asks first.
#[derive(Clone)]
pub(crate) struct SheetRows(Arc<Mutex<RawSheet>>);

impl SheetRows {
    /// The next row as a raw record (see [`RowCells::encode`]) that never matches `width` fields unless its cells
    /// are plain text: a typed record of that length gets an empty pair more, so a fast path that first compares a
    /// record's length with the header's never reads one.
    pub(crate) fn read_raw(
        &self,
        record: &mut csv::ByteRecord,
        width: usize,
    ) -> Option<Result<u64, InputError>> {
        let read = self.0.lock().ok()?.read(record);
        if matches!(read, Some(Ok(_))) && is_typed(record) && record.len() == width {
            record.push_field(&[EMPTY]);
            record.push_field(b"");
        }
        read
    }

    /// The rows as records of cells.
    pub(crate) fn records(self) -> impl Iterator<Item = Result<Record, InputError>> + Send {
        let mut record = csv::ByteRecord::new();
        std::iter::from_fn(move || {
            let row = match self.0.lock().ok()?.read(&mut record)? {
                Ok(row) => row,
                Err(e) => return Some(Err(e)),
            };
            Some(Ok(Record {
                row,
                cells: cells_of(&record),
            }))
        })
    }
}

/// `BufRead::read_until` with the `memchr` crate's search: the standard library's generic byte search was a tenth of
/// reading a sheet.
fn read_until<R: BufRead>(src: &mut R, byte: u8, out: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut read = 0;
    loop {
        let (found, used) = {
            let available = match src.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match memchr::memchr(byte, available) {
                Some(i) => {
                    out.extend_from_slice(&available[..=i]);
                    (true, i + 1)
                }
                None => {
                    out.extend_from_slice(available);
                    (available.is_empty(), available.len())
                }
            }
        };
        src.consume(used);
        read += used;
        if found {
            return Ok(read);
        }
    }
}

/// What [`Scanner::next`] stopped at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    /// `<name …>`.
    Open,
    /// `</name>`.
    Close,
    /// `<name …/>`.
    Empty,
    /// `<![CDATA[…]]>`: its content is text.
    CData,
    /// A comment, processing instruction or declaration.
    Other,
    Eof,
}

/// A byte-level pull scanner over the shared strings and sheet parts: the text up to the next tag, then the tag.
///
/// Why not quick-xml's events here: these two parts are nearly all of a workbook's bytes, and a generic event
/// reader (copying each event, checking and iterating attributes, decoding text piece by piece) cost about 40% of
/// reading a 600,000-row sheet. These parts only need element names, three attributes and text, so each step is
/// two `read_until`s (memchr for `<` and `>`) over the inflated stream, in a reused buffer, memory flat.
struct Scanner<R> {
    src: R,
    /// The raw text before the current tag (entities unresolved).
    text: Vec<u8>,
    /// The current tag without its `<` and `>`.
    tag: Vec<u8>,
}

impl<R: BufRead> Scanner<R> {
    fn new(src: R) -> Scanner<R> {
        Scanner {
            src,
            text: Vec::with_capacity(256),
            tag: Vec::with_capacity(256),
        }
    }

    /// Reads until `self.tag` ends with `end` (a comment's `-->`, a CDATA's `]]>`), `>` included.
    fn read_tag_until(&mut self, end: &[u8]) -> Result<(), String> {
        while !(self.tag.len() > end.len() && self.tag.ends_with(end)) {
            let n = read_until(&mut self.src, b'>', &mut self.tag).map_err(damaged)?;
            if n == 0 {
                return Err(damaged("the XML ends inside a tag"));
            }
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Tok, String> {
        self.text.clear();
        self.tag.clear();
        read_until(&mut self.src, b'<', &mut self.text).map_err(damaged)?;
        if self.text.pop() != Some(b'<') {
            return Ok(Tok::Eof);
        }
        let n = read_until(&mut self.src, b'>', &mut self.tag).map_err(damaged)?;
        if n == 0 || self.tag.last() != Some(&b'>') {
            return Err(damaged("the XML ends inside a tag"));
        }
        if self.tag.starts_with(b"!--") {
            self.read_tag_until(b"-->")?;
            return Ok(Tok::Other);
        }
        if self.tag.starts_with(b"![CDATA[") {
            self.read_tag_until(b"]]>")?;
            return Ok(Tok::CData);
        }
        // A `>` inside a quoted attribute value does not end the tag. Most tags have only double quotes, an even
        // number of them: then no value is open, which counting (vectorised) shows without walking the tag.
        while self.tag.contains(&b'\'') || self.tag.iter().filter(|&&b| b == b'"').count() % 2 == 1
        {
            let mut quote = None;
            for &b in &self.tag {
                match quote {
                    None if b == b'"' || b == b'\'' => quote = Some(b),
                    Some(q) if b == q => quote = None,
                    _ => {}
                }
            }
            if quote.is_none() {
                break;
            }
            let n = read_until(&mut self.src, b'>', &mut self.tag).map_err(damaged)?;
            if n == 0 {
                return Err(damaged("the XML ends inside a tag"));
            }
        }
        self.tag.pop();
        Ok(match (self.tag.first(), self.tag.last()) {
            (Some(b'?' | b'!'), _) => Tok::Other,
            (Some(b'/'), _) => Tok::Close,
            (_, Some(b'/')) => Tok::Empty,
            _ => Tok::Open,
        })
    }

    /// The current tag's name without its namespace prefix (`x:row` is `row`).
    fn local(&self) -> &[u8] {
        let tag = self.tag.strip_prefix(b"/").unwrap_or(&self.tag);
        let end = tag
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'/')
            .unwrap_or(tag.len());
        let name = &tag[..end];
        match name.iter().rposition(|&b| b == b':') {
            Some(i) => &name[i + 1..],
            None => name,
        }
    }

    /// The current tag's attributes as (local name, raw value).
    fn attrs(&self) -> Attrs<'_> {
        let tag = &self.tag;
        let start = tag
            .iter()
            .position(|&b| b.is_ascii_whitespace())
            .unwrap_or(tag.len());
        Attrs {
            rest: &tag[start..],
        }
    }

    /// The content of the current CDATA section.
    fn cdata(&self) -> &[u8] {
        &self.tag[b"![CDATA[".len()..self.tag.len() - b"]]>".len()]
    }
}

/// The attributes of a tag, as raw bytes.
struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let eq = self.rest.iter().position(|&b| b == b'=')?;
        let key = self.rest[..eq].trim_ascii();
        let after = self.rest[eq + 1..].trim_ascii_start();
        let quote = *after.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let len = after[1..].iter().position(|&b| b == quote)?;
        let value = &after[1..1 + len];
        self.rest = &after[len + 2..];
        let key = match key.iter().rposition(|&b| b == b':') {
            Some(i) => &key[i + 1..],
            None => key,
        };
        Some((key, value))
    }
}

/// Appends XML text to `out`: line ends normalised as XML 1.0 says (`\r\n` and `\r` are `\n`), entities and
/// character references resolved.
fn push_xml_text(raw: &[u8], out: &mut String) -> Result<(), String> {
    let mut rest = raw;
    while !rest.is_empty() {
        let plain = rest
            .iter()
            .position(|&b| b == b'&' || b == b'\r')
            .unwrap_or(rest.len());
        out.push_str(std::str::from_utf8(&rest[..plain]).map_err(damaged)?);
        rest = &rest[plain..];
        match rest.first() {
            None => break,
            Some(b'\r') => {
                out.push('\n');
                rest = rest.strip_prefix(b"\r\n").unwrap_or(&rest[1..]);
            }
            Some(_) => {
                let end = rest
                    .iter()
                    .position(|&b| b == b';')
                    .ok_or_else(|| damaged("an XML entity has no ';'"))?;
                let name = std::str::from_utf8(&rest[1..end]).map_err(damaged)?;
                let c = match name {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => name
                        .strip_prefix("#x")
                        .map(|h| u32::from_str_radix(h, 16))
                        .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                        .and_then(Result::ok)
                        .and_then(char::from_u32)
                        .ok_or_else(|| damaged(format!("unknown XML entity &{name};")))?,
                };
                out.push(c);
                rest = &rest[end + 1..];
            }
        }
    }
    Ok(())
}

/// Reads a string item (`<si>` or `<is>`) up to its end: plain text and rich-text runs, without phonetic hints.
fn scan_string_item<R: BufRead>(
    xml: &mut Scanner<R>,
    end: &[u8],
    out: &mut String,
) -> Result<(), String> {
    out.clear();
    let mut in_t = false;
    let mut phonetic = 0usize;
    loop {
        let tok = xml.next()?;
        if in_t {
            push_xml_text(&xml.text, out)?;
        }
        match tok {
            Tok::Open => match xml.local() {
                b"t" if phonetic == 0 => in_t = true,
                b"rPh" => phonetic += 1,
                _ => {}
            },
            Tok::Close => match xml.local() {
                b"t" => in_t = false,
                b"rPh" => phonetic = phonetic.saturating_sub(1),
                name if name == end => {
                    *out = unescape_ooxml(std::mem::take(out));
                    return Ok(());
                }
                _ => {}
            },
            Tok::CData if in_t => out.push_str(std::str::from_utf8(xml.cdata()).map_err(damaged)?),
            Tok::Eof => {
                return Err(damaged(format!(
                    "a string item ends without </{}>",
                    String::from_utf8_lossy(end)
                )));
            }
            _ => {}
        }
    }
}

/// A scanner over one part of the archive, or `None` when the part is absent.
fn scan_part<'a>(zip: &'a mut Archive, name: &str) -> Result<Option<Scanner<Part<'a>>>, String> {
    Ok(open_part(zip, name)?.map(Scanner::new))
}

/// Undoes OOXML's `_xHHHH_` escapes (ECMA-376 Part 1, 22.9.2.19 ST_Xstring), which carry control characters.
fn unescape_ooxml(s: String) -> String {
    if !s.contains("_x") {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find("_x") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let code = tail
            .get(2..6)
            .filter(|h| {
                h.bytes().all(|b| b.is_ascii_hexdigit()) && tail.as_bytes().get(6) == Some(&b'_')
            })
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32);
        match code {
            Some(c) => {
                out.push(c);
                rest = &tail[7..];
            }
            None => {
                out.push_str("_x");
                rest = &tail[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn shared_strings(zip: &mut Archive, name: &str) -> Result<SharedStrings, String> {
    let mut strings = SharedStrings::default();
    let Some(mut xml) = scan_part(zip, name)? else {
        return Ok(strings);
    };
    let mut item = String::new();
    loop {
        match xml.next()? {
            Tok::Open if xml.local() == b"sst" => {
                let count = xml
                    .attrs()
                    .find(|(k, _)| *k == b"uniqueCount")
                    .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok());
                if let Some(n) = count {
                    // About 16 bytes per string in a shipment; a lying count only costs a reservation.
                    strings.ends.reserve(n.min(1 << 24));
                    strings.bytes.reserve(n.min(1 << 24) * 16);
                }
            }
            Tok::Open if xml.local() == b"si" => {
                scan_string_item(&mut xml, b"si", &mut item)?;
                strings.push(&item)?;
            }
            Tok::Empty if xml.local() == b"si" => strings.push("")?,
            Tok::Eof => break,
            _ => {}
        }
    }
    strings.bytes.shrink_to_fit();
    strings.ends.shrink_to_fit();
    Ok(strings)
}

/// True for a number format that shows a date or a time: the built-in ones of ECMA-376 Part 1, 18.8.30, and a
/// custom code with a date or time token outside quotes, escapes and brackets (its first section only).
fn is_date_format(id: u32, code: Option<&str>) -> bool {
    if let Some(code) = code {
        let mut chars = code.chars();
        let mut quoted = false;
        let mut brackets = 0u32;
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                _ if quoted => {}
                '\\' | '_' | '*' => {
                    chars.next();
                }
                '[' => brackets += 1,
                ']' => brackets = brackets.saturating_sub(1),
                ';' => return false,
                _ if brackets > 0 => {}
                'd' | 'D' | 'm' | 'M' | 'y' | 'Y' | 'h' | 'H' | 's' | 'S' => return true,
                _ => {}
            }
        }
        return false;
    }
    matches!(id, 14..=22 | 27..=36 | 45..=47 | 50..=58)
}

fn date_styles(zip: &mut Archive, name: &str) -> Result<Vec<bool>, String> {
    let Some(mut xml) = part(zip, name)? else {
        return Ok(Vec::new());
    };
    let mut codes: HashMap<u32, String> = HashMap::new();
    let mut styles = Vec::new();
    let mut in_cell_xfs = false;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(damaged)? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "numFmt" => {
                    if let (Some(id), Some(code)) = (
                        attr(&e, "numFmtId").and_then(|v| v.parse().ok()),
                        attr(&e, "formatCode"),
                    ) {
                        codes.insert(id, code);
                    }
                }
                "cellXfs" => in_cell_xfs = true,
                "xf" if in_cell_xfs => {
                    let id = attr(&e, "numFmtId")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    styles.push(is_date_format(id, codes.get(&id).map(String::as_str)));
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == "cellXfs" => in_cell_xfs = false,
            Event::Eof => return Ok(styles),
            _ => {}
        }
    }
}

/// A cell reference's column (`AB12` → 27), when it is one.
fn column_of(reference: &str) -> Option<usize> {
    let letters = reference.bytes().take_while(u8::is_ascii_alphabetic);
    let mut col = 0usize;
    let mut n = 0;
    for b in letters {
        col = col * 26 + usize::from(b.to_ascii_uppercase() - b'A' + 1);
        n += 1;
    }
    (n > 0 && n <= 3 && col <= MAX_COLUMNS).then(|| col - 1)
}

/// A cell's `t` attribute (ECMA-376 Part 1, 18.18.11 ST_CellType).
#[derive(Clone, Copy, PartialEq, Eq)]
enum CellType {
    Number,
    Shared,
    FormulaText,
    Inline,
    Bool,
    Error,
    Date,
}

/// One cell being read: its position, type and style.
struct CellStart {
    col: usize,
    kind: CellType,
    date: bool,
}

/// A `<c>` element's position, type and style, from its attributes in one pass, without copying them.
fn cell_start(attrs: Attrs<'_>, next_col: usize, context: &Context) -> Result<CellStart, String> {
    let mut start = CellStart {
        col: next_col,
        kind: CellType::Number,
        date: false,
    };
    for (key, value) in attrs {
        match key {
            b"r" => {
                let value = std::str::from_utf8(value).unwrap_or("?");
                start.col = column_of(value)
                    .ok_or_else(|| damaged(format!("the cell reference \"{value}\" is not one")))?;
            }
            b"t" => {
                start.kind = match value {
                    b"s" => CellType::Shared,
                    b"str" => CellType::FormulaText,
                    b"inlineStr" => CellType::Inline,
                    b"b" => CellType::Bool,
                    b"e" => CellType::Error,
                    b"d" => CellType::Date,
                    _ => CellType::Number,
                };
            }
            b"s" => {
                start.date = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .and_then(|s| context.date_styles.get(s).copied())
                    .unwrap_or(false);
            }
            _ => {}
        }
    }
    Ok(start)
}

/// Type tags of a cell in a raw sheet record (see [`RowCells::encode`]).
const TEXT: u8 = b'T';
const EMPTY: u8 = b'E';
const FLOAT: u8 = b'F';
const BOOL: u8 = b'B';
const DATE: u8 = b'D';
const ERROR: u8 = b'R';
/// The first field of a raw sheet record whose cells travel as (type, value) pairs.
const TYPED: &[u8] = b"\0";

/// The cells of the row being read, their bytes in one buffer: reading a row allocates nothing once warm.
#[derive(Default)]
struct RowCells {
    bytes: Vec<u8>,
    /// (column, type tag, end of its bytes in `bytes`), in the order the sheet gives them.
    cells: Vec<(usize, u8, usize)>,
    /// Scratch: the last cell given for each column.
    by_column: Vec<Option<usize>>,
}

impl RowCells {
    fn clear(&mut self) {
        self.bytes.clear();
        self.cells.clear();
    }

    /// Ends the cell whose bytes were just appended to `bytes`; a text cell without any is empty.
    fn push(&mut self, col: usize, tag: u8) {
        let start = self.cells.last().map_or(0, |c| c.2);
        let tag = if tag == TEXT && self.bytes.len() == start {
            EMPTY
        } else {
            tag
        };
        self.cells.push((col, tag, self.bytes.len()));
    }

    fn cell(&self, i: usize) -> (usize, u8, &[u8]) {
        let start = if i == 0 { 0 } else { self.cells[i - 1].2 };
        let (col, tag, end) = self.cells[i];
        (col, tag, &self.bytes[start..end])
    }

    /// True when no cell holds more than whitespace (as [`Cell::is_blank`] says of each).
    fn is_blank(&self) -> bool {
        (0..self.cells.len()).all(|i| match self.cell(i) {
            (_, TEXT, b) => std::str::from_utf8(b).is_ok_and(|s| s.trim().is_empty()),
            (_, tag, _) => tag == EMPTY,
        })
    }

    /// The row as a raw record, the form in which sheet rows reach both the fast path and [`cells_of`]. A row of
    /// text and empty cells in column order is one field per column, as a CSV record would be (the fast path reads
    /// it as such). Any other row (a number, a date, a cell given twice, or a last cell ending in `\r`, which the
    /// fast path would strip) starts with [`TYPED`] and gives each column as a (type tag, value) pair: the fast path
    /// never passes it, and the full check gets the typed cells.
    fn encode(&mut self, record: &mut csv::ByteRecord) {
        record.clear();
        let n = self.cells.len();
        let plain = self.cells.iter().all(|c| c.1 == TEXT || c.1 == EMPTY)
            && self.cells.windows(2).all(|w| w[0].0 < w[1].0)
            && !(n > 0 && self.cell(0).0 == 0 && self.cell(0).2 == TYPED)
            && !(n > 0 && self.cell(n - 1).2.ends_with(b"\r"));
        if plain {
            let mut next = 0;
            for i in 0..n {
                let (col, _, bytes) = self.cell(i);
                for _ in next..col {
                    record.push_field(b"");
                }
                record.push_field(bytes);
                next = col + 1;
            }
            return;
        }
        record.push_field(TYPED);
        let width = self.cells.iter().map(|c| c.0 + 1).max().unwrap_or(0);
        let mut by_column = std::mem::take(&mut self.by_column);
        by_column.clear();
        by_column.resize(width, None);
        // A column given twice keeps its last cell, as a grid filled in sheet order would.
        for (i, c) in self.cells.iter().enumerate() {
            by_column[c.0] = Some(i);
        }
        for i in &by_column {
            match *i {
                Some(i) => {
                    let (_, tag, bytes) = self.cell(i);
                    record.push_field(&[tag]);
                    record.push_field(bytes);
                }
                None => {
                    record.push_field(&[EMPTY]);
                    record.push_field(b"");
                }
            }
        }
        self.by_column = by_column;
    }
}

/// True for a raw sheet record whose cells are typed pairs.
fn is_typed(record: &csv::ByteRecord) -> bool {
    record.get(0) == Some(TYPED)
}

/// The cells of a raw sheet record (see [`RowCells::encode`]).
pub(crate) fn cells_of(record: &csv::ByteRecord) -> Vec<Cell> {
    // Every field was written from a `str`.
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if !is_typed(record) {
        return record
            .iter()
            .map(|f| {
                if f.is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(text(f))
                }
            })
            .collect();
    }
    let mut cells = Vec::with_capacity(record.len() / 2);
    let mut fields = record.iter().skip(1);
    while let (Some(tag), Some(value)) = (fields.next(), fields.next()) {
        cells.push(match tag.first().copied().unwrap_or(EMPTY) {
            TEXT => Cell::Text(text(value)),
            FLOAT => std::str::from_utf8(value)
                .ok()
                .and_then(|v| u64::from_str_radix(v, 16).ok())
                .map_or(Cell::Empty, |bits| Cell::Float(f64::from_bits(bits))),
            BOOL => Cell::Bool(value == b"1"),
            DATE => Cell::Date(text(value)),
            ERROR => Cell::Error(text(value)),
            // EMPTY, and the padding of `RawSheet::read`.
            _ => Cell::Empty,
        });
    }
    cells
}

/// Parses a sheet part, handing each row (blank ones too) to `emit` until it returns false.
fn read_sheet(
    zip: &mut Archive,
    part_name: &str,
    context: &Context,
    mut emit: impl FnMut(u64, &mut RowCells) -> bool,
) -> Result<(), String> {
    let mut xml = scan_part(zip, part_name)?
        .ok_or_else(|| damaged(format!("its part {part_name} is missing")))?;
    let mut row_number = 0u64;
    let mut cells = RowCells::default();
    let mut in_row = false;
    let mut next_col = 0usize;
    let mut value = String::new();
    let mut inline = String::new();
    loop {
        let tok = xml.next()?;
        match tok {
            Tok::Open | Tok::Empty if xml.local() == b"row" => {
                let given = xml
                    .attrs()
                    .find(|(k, _)| *k == b"r")
                    .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
                row_number = match given {
                    Some(r) if r > row_number => r,
                    _ => row_number + 1,
                };
                cells.clear();
                next_col = 0;
                in_row = tok == Tok::Open;
                if !in_row && !emit(row_number, &mut cells) {
                    return Ok(());
                }
            }
            Tok::Close if xml.local() == b"row" => {
                in_row = false;
                if !emit(row_number, &mut cells) {
                    return Ok(());
                }
            }
            Tok::Open | Tok::Empty if in_row && xml.local() == b"c" => {
                let start = cell_start(xml.attrs(), next_col, context)?;
                let col = start.col;
                next_col = col + 1;
                if next_col > MAX_COLUMNS {
                    return Err(damaged(format!(
                        "row {row_number} has more than {MAX_COLUMNS} columns"
                    )));
                }
                let tag = if tok == Tok::Open {
                    read_cell(
                        &mut xml,
                        &mut value,
                        &mut inline,
                        &start,
                        context,
                        row_number,
                        &mut cells.bytes,
                    )?
                } else {
                    EMPTY
                };
                cells.push(col, tag);
            }
            Tok::Close if xml.local() == b"sheetData" => return Ok(()),
            Tok::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// Reads a cell's content up to `</c>`, appends its value to `out` and gives its type tag.
fn read_cell<R: BufRead>(
    xml: &mut Scanner<R>,
    value: &mut String,
    inline: &mut String,
    start: &CellStart,
    context: &Context,
    row: u64,
    out: &mut Vec<u8>,
) -> Result<u8, String> {
    value.clear();
    let mut has_inline = false;
    let mut in_v = false;
    loop {
        let tok = xml.next()?;
        if in_v {
            push_xml_text(&xml.text, value)?;
        }
        match tok {
            Tok::Open => match xml.local() {
                b"v" => in_v = true,
                b"is" => {
                    scan_string_item(xml, b"is", inline)?;
                    has_inline = true;
                }
                _ => {}
            },
            Tok::Close => match xml.local() {
                b"v" => in_v = false,
                b"c" => break,
                _ => {}
            },
            Tok::CData if in_v => {
                value.push_str(std::str::from_utf8(xml.cdata()).map_err(damaged)?);
            }
            Tok::Eof => return Err(damaged("a cell ends without </c>")),
            _ => {}
        }
    }
    if has_inline {
        out.extend_from_slice(inline.as_bytes());
        return Ok(TEXT);
    }
    if value.is_empty() {
        return Ok(EMPTY);
    }
    Ok(match start.kind {
        CellType::Shared => {
            let index = value.trim().parse::<usize>().ok();
            if !index.is_some_and(|i| context.strings.append(i, out)) {
                return Err(damaged(format!(
                    "row {row}, column {}: shared string {} does not exist",
                    start.col + 1,
                    value.trim()
                )));
            }
            TEXT
        }
        CellType::FormulaText | CellType::Inline => {
            out.extend_from_slice(unescape_ooxml(value.clone()).as_bytes());
            TEXT
        }
        CellType::Bool => {
            out.push(if value.trim() != "0" { b'1' } else { b'0' });
            BOOL
        }
        CellType::Error => {
            out.extend_from_slice(value.trim().as_bytes());
            ERROR
        }
        CellType::Date => {
            out.extend_from_slice(value.trim().as_bytes());
            DATE
        }
        CellType::Number => match value.trim().parse::<f64>() {
            Ok(f) if start.date => {
                let date = super::sheet::iso_date(&calamine::ExcelDateTime::new(
                    f,
                    calamine::ExcelDateTimeType::DateTime,
                    context.is_1904,
                ));
                out.extend_from_slice(date.as_bytes());
                DATE
            }
            Ok(f) => {
                use std::io::Write;
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{:x}", f.to_bits());
                FLOAT
            }
            Err(_) => {
                out.extend_from_slice(value.as_bytes());
                TEXT
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_strings_round_trip_packed_or_not() {
        let mut s = SharedStrings::default();
        let values = [
            "",
            "70B3D5E75F600001",
            "70b3d5e75f600001",
            "70B3d5E75F600001",
            "490154203237518",
            "7374757A3FDD092947CE2DE9321C6040",
            "ABC",
            "sensor-0000001",
            "café ✓",
        ];
        for v in values {
            s.push(v).unwrap();
        }
        for (i, v) in values.iter().enumerate() {
            let mut out = b"x".to_vec();
            assert!(s.append(i, &mut out));
            assert_eq!(out, format!("x{v}").as_bytes(), "{v}");
        }
        assert!(!s.append(values.len(), &mut Vec::new()));
        // A DevEUI takes its tag and 8 bytes.
        assert_eq!(s.ends[1] - s.ends[0], 9);
    }

    /// A sheet with every kind of cell, blank rows, gaps and cells the fast path must not read as text.
    fn mixed_sheet(path: &Path) {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
        let sheet = workbook.add_worksheet();
        for (c, h) in ["DevEUI", "AppKey", "Name", "Model", "Connection"]
            .iter()
            .enumerate()
        {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        for r in 1..1500u32 {
            let eui = format!("70B3D5E7{r:08X}");
            sheet.write_string(r, 0, &eui).unwrap();
            sheet
                .write_string(r, 1, "00112233445566778899aabbccddeeff")
                .unwrap();
            match r % 10 {
                1 => sheet.write_number(r, 2, f64::from(r) + 0.25).map(|_| ()),
                2 => sheet.write_boolean(r, 3, r % 4 == 0).map(|_| ()),
                3 => sheet
                    .write_number_with_format(r, 4, 45000.5, &date)
                    .map(|_| ()),
                4 => sheet.write_string(r, 4, "c\r").map(|_| ()),
                5 => sheet.write_string(r, 3, "m").map(|_| ()),
                6 => sheet.write_formula(r, 2, "=1/0").map(|_| ()),
                7 => {
                    // A row of nothing but blanks is skipped by both readers.
                    for c in 0..5 {
                        sheet.write_string(r, c, " ").unwrap();
                    }
                    Ok(())
                }
                8 => sheet.write_string(r, 0, "\0").map(|_| ()),
                _ => sheet
                    .write_string(r, 3, "m")
                    .and_then(|s| s.write_string(r, 4, "c"))
                    .map(|_| ()),
            }
            .unwrap();
        }
        workbook.save(path).unwrap();
    }

    #[test]
    fn raw_sheet_records_map_to_the_rows_the_table_reads() {
        use crate::input::{InputOptions, Table};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mixed.xlsx");
        mixed_sheet(&path);
        let options = InputOptions::default();
        let mut table = Table::open(&path, &options).unwrap();
        let mut expected = Vec::new();
        while let Some(record) = table.next_record() {
            expected.push(table.map_owned(record.unwrap()));
        }
        assert!(expected.len() > 1000);
        // The table's own rows and the raw reader share the sheet: read some one way, the rest the other.
        let mut table = Table::open(&path, &options).unwrap();
        let mut got = Vec::new();
        for _ in 0..100 {
            let record = table.next_record().unwrap().unwrap();
            got.push(table.map_owned(record));
        }
        let mut raw = table.raw_csv().unwrap().unwrap();
        let mut record = csv::ByteRecord::new();
        let (mut plain, mut typed) = (0, 0);
        while let Some(row) = raw.read(&mut record) {
            if is_typed(&record) {
                typed += 1;
                assert_ne!(record.len(), table.columns.len());
            } else {
                plain += 1;
            }
            got.extend(table.map_raw(row.unwrap(), &record));
        }
        assert!(table.next_record().is_none());
        assert!(plain > 300 && typed > 300, "{plain} plain, {typed} typed");
        assert_eq!(got, expected);
        let kinds = |f: fn(&Cell) -> bool| {
            expected
                .iter()
                .flat_map(|r| &r.values)
                .filter(|v| f(&v.cell))
                .count()
        };
        assert!(kinds(|c| matches!(c, Cell::Float(_))) > 0);
        assert!(kinds(|c| matches!(c, Cell::Bool(_))) > 0);
        assert!(kinds(|c| matches!(c, Cell::Date(_))) > 0);
        assert!(kinds(|c| matches!(c, Cell::Text(t) if t.ends_with('\r'))) > 0);
    }

    #[test]
    fn a_row_encodes_to_cells_it_decodes_back() {
        let mut row = RowCells::default();
        let mut record = csv::ByteRecord::new();
        let cells =
            |row: &mut RowCells, record: &mut csv::ByteRecord, given: &[(usize, u8, &str)]| {
                row.clear();
                for &(col, tag, text) in given {
                    row.bytes.extend_from_slice(text.as_bytes());
                    row.push(col, tag);
                }
                row.encode(record);
                cells_of(record)
            };
        let t = |s: &str| Cell::Text(s.to_string());
        assert_eq!(
            cells(
                &mut row,
                &mut record,
                &[(0, TEXT, "a"), (2, TEXT, ""), (3, TEXT, "b")]
            ),
            [t("a"), Cell::Empty, Cell::Empty, t("b")]
        );
        assert!(!is_typed(&record));
        // Out of order, given twice (the last wins), a float: typed pairs.
        let bits = format!("{:x}", 2.5f64.to_bits());
        assert_eq!(
            cells(
                &mut row,
                &mut record,
                &[
                    (2, TEXT, "x"),
                    (0, TEXT, "a"),
                    (2, FLOAT, &bits),
                    (3, BOOL, "1"),
                    (4, ERROR, "#N/A"),
                    (5, DATE, "2026-12-02")
                ]
            ),
            [
                t("a"),
                Cell::Empty,
                Cell::Float(2.5),
                Cell::Bool(true),
                Cell::Error("#N/A".into()),
                Cell::Date("2026-12-02".into())
            ]
        );
        assert!(is_typed(&record));
        assert_eq!(cells(&mut row, &mut record, &[(0, TEXT, "\0")]), [t("\0")]);
        assert!(is_typed(&record));
    }

    #[test]
    fn the_scanner_reads_names_attributes_text_entities_and_cdata() {
        let xml = "<?xml version=\"1.0\"?><!-- a <c> comment --><x:row r=\"7\" spans='1:2'>\
                   <c r=\"B7\" t=\"s\" note=\"a>b\"><v>1&amp;2&#x41;&#66;\r\n</v></c><c r=\"C7\"/>\
                   <v><![CDATA[<raw>]]></v></x:row>";
        let mut xml = Scanner::new(xml.as_bytes());
        let mut seen = Vec::new();
        loop {
            let tok = xml.next().unwrap();
            if tok == Tok::Eof {
                break;
            }
            let mut text = String::new();
            push_xml_text(&xml.text, &mut text).unwrap();
            let attrs: Vec<String> = xml
                .attrs()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(k),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect();
            let cdata = if tok == Tok::CData {
                String::from_utf8_lossy(xml.cdata()).into_owned()
            } else {
                String::new()
            };
            seen.push(format!(
                "{tok:?} {} [{}] {text:?} {cdata}",
                String::from_utf8_lossy(xml.local()),
                attrs.join(" ")
            ));
        }
        assert_eq!(
            seen,
            [
                "Other ?xml [version=1.0] \"\" ",
                "Other !-- [] \"\" ",
                "Open row [r=7 spans=1:2] \"\" ",
                "Open c [r=B7 t=s note=a>b] \"\" ",
                "Open v [] \"\" ",
                "Close v [] \"1&2AB\\n\" ",
                "Close c [] \"\" ",
                "Empty c [r=C7] \"\" ",
                "Open v [] \"\" ",
                "CData ![CDATA[<raw>]]> [] \"\" <raw>",
                "Close v [] \"\" ",
                "Close row [] \"\" ",
            ]
        );
        let mut text = String::new();
        assert!(
            push_xml_text(b"&nbsp;", &mut text)
                .unwrap_err()
                .contains("&nbsp;")
        );
        let mut open = Scanner::new(&b"<c r=\"A1"[..]);
        assert!(open.next().is_err());
    }

    #[test]
    fn date_formats() {
        assert!(is_date_format(14, None));
        assert!(is_date_format(164, Some("yyyy-mm-dd")));
        assert!(is_date_format(164, Some("[$-409]d-mmm-yy")));
        assert!(!is_date_format(0, None));
        assert!(!is_date_format(49, None));
        assert!(!is_date_format(164, Some("0.00\" days\"")));
        assert!(!is_date_format(164, Some("#,##0;[Red]-#,##0")));
    }

    #[test]
    fn references_and_escapes() {
        assert_eq!(column_of("A1"), Some(0));
        assert_eq!(column_of("AB12"), Some(27));
        assert_eq!(column_of("XFD1048576"), Some(16_383));
        assert_eq!(column_of("XFE1"), None);
        assert_eq!(column_of("12"), None);
        assert_eq!(unescape_ooxml("a_x000D_b_x_".into()), "a\rb_x_");
        assert_eq!(
            resolve("xl/", "worksheets/sheet1.xml"),
            "xl/worksheets/sheet1.xml"
        );
        assert_eq!(
            resolve("xl/", "/xl/worksheets/sheet1.xml"),
            "xl/worksheets/sheet1.xml"
        );
        assert_eq!(resolve("xl/", "../x/sheet1.xml"), "x/sheet1.xml");
    }
}
