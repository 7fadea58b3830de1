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

use super::{Cell, InputError, Record};
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

type Archive = zip::ZipArchive<BufReader<File>>;
/// An XML reader over one part of the archive.
type PartReader<'a> = quick_xml::Reader<BufReader<zip::read::ZipFile<'a, BufReader<File>>>>;
/// A [`Scanner`] over one part of the archive.
type PartScanner<'a> = Scanner<BufReader<zip::read::ZipFile<'a, BufReader<File>>>>;

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
            let digits = s.as_bytes();
            let mut nibbles = digits
                .iter()
                .map(|&b| (b as char).to_digit(16).unwrap_or(0) as u8);
            if tag & ODD != 0 {
                self.bytes.push(nibbles.next().unwrap_or(0));
            }
            while let (Some(h), Some(l)) = (nibbles.next(), nibbles.next()) {
                self.bytes.push((h << 4) | l);
            }
        }
        let end = u32::try_from(self.bytes.len())
            .map_err(|_| "its shared strings take more than 4 GiB".to_string())?;
        self.ends.push(end);
        Ok(())
    }

    fn get(&self, index: usize) -> Option<String> {
        let end = *self.ends.get(index)? as usize;
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        let (tag, payload) = self.bytes[start..end].split_first()?;
        if *tag == RAW {
            // Pushed from a `str`, so always UTF-8.
            return Some(String::from_utf8_lossy(payload).into_owned());
        }
        let digits: &[u8; 16] = if tag & HEX_LOWER != 0 {
            b"0123456789abcdef"
        } else {
            b"0123456789ABCDEF"
        };
        let mut out = String::with_capacity(payload.len() * 2);
        for (i, b) in payload.iter().enumerate() {
            if !(i == 0 && tag & ODD != 0) {
                out.push(digits[usize::from(b >> 4)] as char);
            }
            out.push(digits[usize::from(b & 0x0F)] as char);
        }
        Some(out)
    }
}

/// The tag under which a string is stored.
fn hex_tag(s: &str) -> u8 {
    let b = s.as_bytes();
    if b.len() < 8 || !b.iter().all(u8::is_ascii_hexdigit) {
        return RAW;
    }
    let upper = b.iter().any(u8::is_ascii_uppercase);
    let lower = b.iter().any(u8::is_ascii_lowercase);
    let odd = if b.len() % 2 == 1 { ODD } else { 0 };
    match (upper, lower) {
        (true, true) => RAW,
        (false, true) => HEX_LOWER | odd,
        _ => HEX_UPPER | odd,
    }
}

fn unusable(path: &Path, message: impl Into<String>) -> InputError {
    InputError::Unusable {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn damaged(e: impl std::fmt::Display) -> String {
    format!(
        "not a readable spreadsheet ({e}); check that the file is a real .xlsx/.xlsm/.xls/.ods workbook, or \
         export it as CSV"
    )
}

/// An XML reader over one part of the archive, or `None` when the part is absent.
fn part<'a>(zip: &'a mut Archive, name: &str) -> Result<Option<PartReader<'a>>, String> {
    match zip.by_name(name) {
        Ok(file) => {
            let mut xml = quick_xml::Reader::from_reader(BufReader::with_capacity(64 * 1024, file));
            // Excel's parts are well formed; comparing every end tag with its start costs a tenth of the read.
            xml.config_mut().check_end_names = false;
            Ok(Some(xml))
        }
        Err(zip::result::ZipError::FileNotFound) => Ok(None),
        Err(e) => Err(damaged(e)),
    }
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
        read_sheet(&mut self.zip, &part, &self.context, |record| {
            found = record.cells.iter().any(|c| !c.is_blank());
            !found
        })
        .map_err(|m| unusable(&self.path, format!("sheet \"{name}\": {m}")))?;
        Ok(found)
    }

    /// Streams the rows of a sheet (blank rows skipped) from a thread that owns the workbook.
    pub(crate) fn into_rows(self, sheet: usize) -> XlsxRows {
        let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
        let Workbook {
            path,
            mut zip,
            sheets,
            context,
        } = self;
        let (name, part) = sheets[sheet].clone();
        std::thread::spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut open = true;
            // A panic in the parser must end the rows with a refusal, never look like the end of the sheet.
            let result = super::sheet::guarded(&path, || {
                read_sheet(&mut zip, &part, &context, |record| {
                    if record.cells.iter().all(Cell::is_blank) {
                        return true;
                    }
                    batch.push(record);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        open = tx.send(Ok(full)).is_ok();
                    }
                    open
                })
                .map_err(|message| unusable(&path, format!("sheet \"{name}\": {message}")))
            });
            if !open {
                return;
            }
            if !batch.is_empty() && tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                return;
            }
            if let Err(e) = result {
                let _ = tx.send(Err(e));
            }
        });
        XlsxRows {
            rows: rx,
            batch: Vec::new().into_iter(),
        }
    }
}

/// The rows of a sheet, as the parsing thread sends them.
pub(crate) struct XlsxRows {
    rows: mpsc::Receiver<Result<Vec<Record>, InputError>>,
    batch: std::vec::IntoIter<Record>,
}

impl Iterator for XlsxRows {
    type Item = Result<Record, InputError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.batch.next() {
                return Some(Ok(record));
            }
            match self.rows.recv().ok()? {
                Ok(batch) => self.batch = batch.into_iter(),
                Err(e) => return Some(Err(e)),
            }
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
            let n = self.src.read_until(b'>', &mut self.tag).map_err(damaged)?;
            if n == 0 {
                return Err(damaged("the XML ends inside a tag"));
            }
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Tok, String> {
        self.text.clear();
        self.tag.clear();
        self.src.read_until(b'<', &mut self.text).map_err(damaged)?;
        if self.text.pop() != Some(b'<') {
            return Ok(Tok::Eof);
        }
        let n = self.src.read_until(b'>', &mut self.tag).map_err(damaged)?;
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
            let n = self.src.read_until(b'>', &mut self.tag).map_err(damaged)?;
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
                    if out.contains("_x") {
                        *out = unescape_ooxml(std::mem::take(out));
                    }
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
fn scan_part<'a>(zip: &'a mut Archive, name: &str) -> Result<Option<PartScanner<'a>>, String> {
    match zip.by_name(name) {
        Ok(file) => Ok(Some(Scanner::new(BufReader::with_capacity(
            64 * 1024,
            file,
        )))),
        Err(zip::result::ZipError::FileNotFound) => Ok(None),
        Err(e) => Err(damaged(e)),
    }
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

/// Parses a sheet part, handing each row (blank ones too) to `emit` until it returns false.
fn read_sheet(
    zip: &mut Archive,
    part_name: &str,
    context: &Context,
    mut emit: impl FnMut(Record) -> bool,
) -> Result<(), String> {
    let mut xml = scan_part(zip, part_name)?
        .ok_or_else(|| damaged(format!("its part {part_name} is missing")))?;
    let mut row_number = 0u64;
    let mut cells: Vec<Cell> = Vec::new();
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
                if !in_row
                    && !emit(Record {
                        row: row_number,
                        cells: Vec::new(),
                    })
                {
                    return Ok(());
                }
            }
            Tok::Close if xml.local() == b"row" => {
                in_row = false;
                let width = cells.len();
                let row = std::mem::replace(&mut cells, Vec::with_capacity(width));
                if !emit(Record {
                    row: row_number,
                    cells: row,
                }) {
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
                let cell = if tok == Tok::Open {
                    read_cell(
                        &mut xml,
                        &mut value,
                        &mut inline,
                        &start,
                        context,
                        row_number,
                    )?
                } else {
                    Cell::Empty
                };
                if cells.len() <= col {
                    cells.resize(col + 1, Cell::Empty);
                }
                cells[col] = cell;
            }
            Tok::Close if xml.local() == b"sheetData" => return Ok(()),
            Tok::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// Reads a cell's content up to `</c>` and types it.
fn read_cell<R: BufRead>(
    xml: &mut Scanner<R>,
    value: &mut String,
    inline: &mut String,
    start: &CellStart,
    context: &Context,
    row: u64,
) -> Result<Cell, String> {
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
        return Ok(text_cell(std::mem::take(inline)));
    }
    if value.is_empty() {
        return Ok(Cell::Empty);
    }
    Ok(match start.kind {
        CellType::Shared => {
            let index = value.trim().parse::<usize>().ok();
            match index.and_then(|i| context.strings.get(i)) {
                Some(text) => text_cell(text),
                None => {
                    return Err(damaged(format!(
                        "row {row}, column {}: shared string {} does not exist",
                        start.col + 1,
                        value.trim()
                    )));
                }
            }
        }
        CellType::FormulaText | CellType::Inline => text_cell(unescape_ooxml(value.clone())),
        CellType::Bool => Cell::Bool(value.trim() != "0"),
        CellType::Error => Cell::Error(value.trim().to_string()),
        CellType::Date => Cell::Date(value.trim().to_string()),
        CellType::Number => match value.trim().parse::<f64>() {
            Ok(f) if start.date => {
                Cell::Date(super::sheet::iso_date(&calamine::ExcelDateTime::new(
                    f,
                    calamine::ExcelDateTimeType::DateTime,
                    context.is_1904,
                )))
            }
            Ok(f) => Cell::Float(f),
            Err(_) => Cell::Text(value.clone()),
        },
    })
}

fn text_cell(text: String) -> Cell {
    if text.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(text)
    }
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
            assert_eq!(s.get(i).as_deref(), Some(*v), "{v}");
        }
        assert_eq!(s.get(values.len()), None);
        // A DevEUI takes its tag and 8 bytes.
        assert_eq!(s.ends[1] - s.ends[0], 9);
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
