//! Delimited text files: encoding and delimiter sniffing, and the streaming row reader with editor line numbers.

use super::{Cell, InputError, MappedRow, Record, SourceFormat, Table, TextEncoding};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// How much of the file is looked at to decide encoding, delimiter and format.
const SAMPLE_BYTES: usize = 64 * 1024;
/// Rows looked at to decide the delimiter.
const SNIFF_ROWS: usize = 50;
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// What the first bytes of a text file tell: its encoding, its delimiter, and a decoded sample.
pub(crate) struct Sniffed {
    pub encoding: TextEncoding,
    pub delimiter: u8,
    /// The first lines, decoded to UTF-8 (whole lines only).
    pub sample: String,
    /// Lines end with a lone `\r` (old Mac exports): read as `\n`.
    pub cr_only: bool,
    /// Bytes of byte-order mark to skip.
    pub bom_len: usize,
}

/// True when the first bytes are a ZIP or OLE container: a workbook (or an encrypted one) under a text name.
pub(crate) fn looks_binary(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
}

/// Reads the start of the file.
pub(crate) fn read_head(path: &Path) -> Result<Vec<u8>, InputError> {
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut head = Vec::with_capacity(SAMPLE_BYTES);
    file.take(SAMPLE_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|source| io_error(path, source))?;
    Ok(head)
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> InputError {
    InputError::Io {
        path: path.to_path_buf(),
        error: source,
    }
}

pub(crate) fn sniff(head: &[u8], complete: bool) -> Sniffed {
    let (encoding, mut sample, bom_len) = decode_sample(head);
    let cr_only = sample.contains('\r') && !sample.contains('\n');
    if cr_only {
        sample = sample.replace('\r', "\n");
    }
    if !complete {
        // A sample cut mid-line would give the last row a wrong field count.
        if let Some(end) = sample.rfind('\n') {
            sample.truncate(end + 1);
        }
    }
    let delimiter = sniff_delimiter(&sample);
    Sniffed {
        encoding,
        delimiter,
        sample,
        cr_only,
        bom_len,
    }
}

/// The encoding, the decoded sample, and the length of the byte-order mark.
fn decode_sample(head: &[u8]) -> (TextEncoding, String, usize) {
    if let Some(rest) = head.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return (
            TextEncoding::Utf8Bom,
            String::from_utf8_lossy(rest).into_owned(),
            3,
        );
    }
    let utf16 = if head.starts_with(&[0xFF, 0xFE]) {
        Some((TextEncoding::Utf16Le, 2))
    } else if head.starts_with(&[0xFE, 0xFF]) {
        Some((TextEncoding::Utf16Be, 2))
    } else {
        utf16_without_bom(head).map(|e| (e, 0))
    };
    if let Some((encoding, bom_len)) = utf16 {
        let coding = match encoding {
            TextEncoding::Utf16Be => encoding_rs::UTF_16BE,
            _ => encoding_rs::UTF_16LE,
        };
        let (text, _) = coding.decode_without_bom_handling(&head[bom_len..]);
        return (encoding, text.into_owned(), bom_len);
    }
    match std::str::from_utf8(head) {
        Ok(text) => (TextEncoding::Utf8, text.to_owned(), 0),
        // Only the sample's end was cut inside a character: still UTF-8.
        Err(e) if e.error_len().is_none() => (
            TextEncoding::Utf8,
            String::from_utf8_lossy(&head[..e.valid_up_to()]).into_owned(),
            0,
        ),
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(head);
            (TextEncoding::Windows1252, text.into_owned(), 0)
        }
    }
}

/// UTF-16 written without a byte-order mark (some Excel exports and tools do): mostly ASCII text, so one byte of
/// nearly every pair is zero, always the same one. Text in any other encoding has no zero bytes at all.
fn utf16_without_bom(head: &[u8]) -> Option<TextEncoding> {
    let pairs = head.len().min(4096) / 2;
    if pairs < 4 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in head[..pairs * 2].chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    // Three pairs in four with the zero on one side and none on the other (non-ASCII letters have no zero byte).
    if odd * 4 >= pairs * 3 && even == 0 {
        Some(TextEncoding::Utf16Le)
    } else if even * 4 >= pairs * 3 && odd == 0 {
        Some(TextEncoding::Utf16Be)
    } else {
        None
    }
}

/// The delimiter that splits the sample's lines most consistently into more than one field (quote-aware);
/// a comma when none does. `#` comment lines are ignored.
fn sniff_delimiter(sample: &str) -> u8 {
    let lines: String = sample
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .flat_map(|l| [l, "\n"])
        .collect();
    let mut best = (b',', 0usize, 0usize);
    for delimiter in DELIMITERS {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(lines.as_bytes());
        let counts: Vec<usize> = reader
            .byte_records()
            .take(SNIFF_ROWS)
            .filter_map(Result::ok)
            .map(|r| r.len())
            .collect();
        let Some(mode) = mode(&counts) else { continue };
        if mode < 2 {
            continue;
        }
        let agreeing = counts.iter().filter(|&&c| c == mode).count();
        // More rows agreeing wins; then more fields.
        if (agreeing, mode) > (best.1, best.2) {
            best = (delimiter, agreeing, mode);
        }
    }
    best.0
}

fn mode(counts: &[usize]) -> Option<usize> {
    let mut seen: Vec<(usize, usize)> = Vec::new();
    for &c in counts {
        match seen.iter_mut().find(|(v, _)| *v == c) {
            Some((_, n)) => *n += 1,
            None => seen.push((c, 1)),
        }
    }
    seen.into_iter()
        .max_by_key(|&(v, n)| (n, v))
        .map(|(v, _)| v)
}

/// Opens the file as a UTF-8 byte stream: BOMs dropped, UTF-16 transcoded, a final newline guaranteed.
fn open_stream(path: &Path, sniffed: &Sniffed) -> Result<Box<dyn Read + Send>, InputError> {
    let encoding = sniffed.encoding;
    let mut file = File::open(path).map_err(|source| io_error(path, source))?;
    let bom_len = sniffed.bom_len;
    let mut bom = [0u8; 3];
    file.read_exact(&mut bom[..bom_len])
        .map_err(|source| io_error(path, source))?;
    let inner: Box<dyn Read + Send> = match encoding {
        TextEncoding::Utf16Le => Box::new(Transcoder::new(
            file,
            encoding_rs::UTF_16LE.new_decoder_without_bom_handling(),
        )),
        TextEncoding::Utf16Be => Box::new(Transcoder::new(
            file,
            encoding_rs::UTF_16BE.new_decoder_without_bom_handling(),
        )),
        _ => Box::new(file),
    };
    let inner: Box<dyn Read + Send> = if sniffed.cr_only {
        Box::new(CrToLf(inner))
    } else {
        inner
    };
    Ok(Box::new(FinalNewline {
        inner,
        last: b'\n',
        done: false,
    }))
}

/// Makes sure the stream ends with `\n`, so that every record's terminator is consumed and its line number known.
struct FinalNewline {
    inner: Box<dyn Read + Send>,
    last: u8,
    done: bool,
}

impl Read for FinalNewline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.last = buf[n - 1];
            return Ok(n);
        }
        self.done = true;
        if self.last != b'\n' {
            buf[0] = b'\n';
            return Ok(1);
        }
        Ok(0)
    }
}

/// Lone `\r` line ends as `\n`, so that records and line numbers work as for any other file.
struct CrToLf(Box<dyn Read + Send>);

impl Read for CrToLf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        for b in &mut buf[..n] {
            if *b == b'\r' {
                *b = b'\n';
            }
        }
        Ok(n)
    }
}

/// UTF-16 to UTF-8, chunk by chunk.
struct Transcoder<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    input_len: usize,
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
    eof: bool,
    finished: bool,
}

impl<R: Read> Transcoder<R> {
    fn new(inner: R, decoder: encoding_rs::Decoder) -> Self {
        Transcoder {
            inner,
            decoder,
            input: vec![0; 32 * 1024],
            input_len: 0,
            output: vec![0; 64 * 1024],
            out_start: 0,
            out_end: 0,
            eof: false,
            finished: false,
        }
    }
}

impl<R: Read> Read for Transcoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_start == self.out_end {
            if self.finished {
                return Ok(0);
            }
            if !self.eof && self.input_len < self.input.len() {
                let n = self.inner.read(&mut self.input[self.input_len..])?;
                if n == 0 {
                    self.eof = true;
                }
                self.input_len += n;
            }
            let (result, read, written, _) = self.decoder.decode_to_utf8(
                &self.input[..self.input_len],
                &mut self.output,
                self.eof,
            );
            self.input.copy_within(read..self.input_len, 0);
            self.input_len -= read;
            self.out_start = 0;
            self.out_end = written;
            if self.eof && result == encoding_rs::CoderResult::InputEmpty {
                self.finished = true;
            }
        }
        let n = buf.len().min(self.out_end - self.out_start);
        buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

/// Streams the records of a delimited file with the line number each starts on.
pub(crate) struct TextRows {
    path: PathBuf,
    split: Splitter<Box<dyn Read + Send>>,
    record: csv::ByteRecord,
    failed: bool,
}

impl TextRows {
    pub(crate) fn open(
        path: &Path,
        sniffed: &Sniffed,
        comments: bool,
    ) -> Result<TextRows, InputError> {
        let stream = open_stream(path, sniffed)?;
        Ok(TextRows {
            path: path.to_path_buf(),
            split: Splitter::new(stream, sniffed.delimiter, comments.then_some(b'#'), CHUNK),
            record: csv::ByteRecord::new(),
            failed: false,
        })
    }

    /// Reads the next record, blank or not, into `record`; gives the line it starts on.
    fn read_into(&mut self, record: &mut csv::ByteRecord) -> Option<Result<u64, InputError>> {
        if self.failed {
            return None;
        }
        match self.split.read(record) {
            Ok(row) => row.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(InputError::AtRow {
                    path: self.path.clone(),
                    row: self.split.line + 1,
                    message: format!("cannot read this line: {e}"),
                }))
            }
        }
    }

    /// UTF-8 where the bytes are UTF-8, else Windows-1252 (per field: files mixing both exist). The whole record is
    /// checked at once (an ASCII fast path), which is most of the cost of reading a large file otherwise.
    fn decode_cells(&mut self) -> Vec<Cell> {
        let bytes = std::mem::take(&mut self.record);
        match csv::StringRecord::from_byte_record(bytes) {
            Ok(record) => {
                let len = record.len();
                let cells = record
                    .iter()
                    .enumerate()
                    .map(|(i, field)| {
                        let field = if i + 1 == len {
                            field.strip_suffix('\r').unwrap_or(field)
                        } else {
                            field
                        };
                        if field.is_empty() {
                            Cell::Empty
                        } else {
                            Cell::Text(field.to_owned())
                        }
                    })
                    .collect();
                self.record = record.into_byte_record();
                cells
            }
            Err(e) => {
                self.record = e.into_byte_record();
                decode_fields(&self.record)
            }
        }
    }
}

impl Iterator for TextRows {
    type Item = Result<Record, InputError>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut record = std::mem::take(&mut self.record);
            let row = self.read_into(&mut record);
            self.record = record;
            let row = match row? {
                Ok(row) => row,
                Err(e) => return Some(Err(e)),
            };
            let cells = self.decode_cells();
            if cells.iter().all(Cell::is_blank) {
                continue;
            }
            return Some(Ok(Record { row, cells }));
        }
    }
}

/// The data records of a headed delimited-text table, or of an XLSX sheet, as raw bytes, for a reader that looks at
/// most rows without decoding them (`validate`'s fast path). Blank records are not skipped here: [`Table::map_raw`]
/// skips them.
pub struct RawCsv {
    source: RawSource,
}

enum RawSource {
    /// Boxed: the splitter's state is large beside a sheet's handle.
    Text(Box<TextRows>),
    /// The sheet's rows, and the header's width (see `SheetRows::read_raw`).
    Sheet(super::xlsx::SheetRows, usize),
}

impl RawCsv {
    /// Reads the next record into `record` (buffers are reused); gives the line (or sheet row) it starts on.
    pub fn read(&mut self, record: &mut csv::ByteRecord) -> Option<Result<u64, InputError>> {
        match &mut self.source {
            RawSource::Text(rows) => rows.read_into(record),
            RawSource::Sheet(rows, width) => rows.read_raw(record, *width),
        }
    }
}

/// Bytes read from the stream at a time.
const CHUNK: usize = 256 * 1024;

/// Splits delimited text into records as a `csv::Reader` does (no headers, flexible, only `\n` ends a record, so
/// that lines are counted exactly; a `\r` before it stays on the last field), with the line each record starts on.
///
/// Why not the `csv` reader alone: its parser walks every byte through a state machine, which made reading cost as
/// much as all the checks of the fast path together. Nearly every line of a shipment has no quote, and such a line
/// is a record whose fields lie between the delimiters, which `memchr` finds many bytes at a time. A line with a
/// quote anywhere goes to `csv_core`'s reader (the parser inside `csv`), from its first byte to the end of its
/// record, so quoted fields, doubled quotes and newlines inside quotes are read by the same code as before.
struct Splitter<R> {
    src: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// Lines ended before `buf[start]`.
    line: u64,
    /// Offset in the stream of `buf[start]`.
    byte: u64,
    records: u64,
    delimiter: u8,
    /// A line starting with this byte is a comment (ThingPark's positional file).
    comment: Option<u8>,
    core: csv_core::Reader,
    /// `csv_core`'s output: field bytes and where each field ends.
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl<R: Read> Splitter<R> {
    fn new(src: R, delimiter: u8, comment: Option<u8>, chunk: usize) -> Splitter<R> {
        let mut core = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .terminator(csv_core::Terminator::Any(b'\n'))
            .comment(comment)
            .build();
        let (mut out, mut ends) = (vec![0; 1024], vec![0; 64]);
        // `csv_core` drops a byte-order mark at the start of the first input it is given, which here may be a
        // record in the middle of the file: an empty line first (no record) makes the next input not its first.
        core.read_record(b"\n", &mut out, &mut ends);
        Splitter {
            src,
            buf: vec![0; chunk],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
            byte: 0,
            records: 0,
            delimiter,
            comment,
            core,
            out,
            ends,
        }
    }

    /// Moves the unread bytes to the front and reads more after them; false at the end of the stream.
    fn refill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buf.len() {
            // A line longer than the buffer.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the next record into `record`; gives the line it starts on, `None` at the end.
    fn read(&mut self, record: &mut csv::ByteRecord) -> io::Result<Option<u64>> {
        if self.byte == 0 && self.start == 0 {
            // `csv_core` drops a UTF-8 byte-order mark at the very start (one left after the file's own).
            while self.end < 3 && self.refill()? {}
            if self.buf[..self.end].starts_with(b"\xEF\xBB\xBF") {
                self.consume(3);
            }
        }
        loop {
            let rest = &self.buf[self.start..self.end];
            let Some(&first) = rest.first() else {
                if self.refill()? {
                    continue;
                }
                return Ok(None);
            };
            let comment = self.comment == Some(first);
            // The line's end, or the first quote before it.
            let stop = if comment {
                memchr::memchr(b'\n', rest)
            } else {
                memchr::memchr2(b'\n', b'"', rest)
            };
            let Some(n) = stop else {
                if self.refill()? {
                    continue;
                }
                // The last line has no `\n` (never after `FinalNewline`): the full parser ends it.
                return self.read_quoted(record);
            };
            if rest[n] == b'"' {
                return self.read_quoted(record);
            }
            if n == 0 || comment {
                // An empty line is no record; a comment is skipped whole, quotes and all.
                self.consume(n + 1);
                continue;
            }
            split_line(&rest[..n], self.delimiter, record);
            let row = self.set_position(record);
            self.start += n + 1;
            self.byte += n as u64 + 1;
            self.line += 1;
            return Ok(Some(row));
        }
    }

    /// Marks `record` as starting here; gives its line.
    fn set_position(&mut self, record: &mut csv::ByteRecord) -> u64 {
        let mut position = csv::Position::new();
        position
            .set_byte(self.byte)
            .set_line(self.line + 1)
            .set_record(self.records);
        record.set_position(Some(position));
        self.records += 1;
        self.line + 1
    }

    /// Steps over `n` unread bytes, counting the lines they end.
    fn consume(&mut self, n: usize) {
        let bytes = &self.buf[self.start..self.start + n];
        self.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
        self.byte += n as u64;
        self.start += n;
    }

    /// Reads one record, starting at `buf[start]`, with `csv_core`.
    fn read_quoted(&mut self, record: &mut csv::ByteRecord) -> io::Result<Option<u64>> {
        use csv_core::ReadRecordResult as R;
        record.clear();
        let row = self.set_position(record);
        let (mut out_len, mut ends_len) = (0, 0);
        loop {
            if self.start == self.end {
                // At the end of the stream, the empty input tells the parser to end its record.
                self.refill()?;
            }
            let (result, nin, nout, nend) = self.core.read_record(
                &self.buf[self.start..self.end],
                &mut self.out[out_len..],
                &mut self.ends[ends_len..],
            );
            self.consume(nin);
            out_len += nout;
            ends_len += nend;
            match result {
                R::InputEmpty => {}
                R::OutputFull => self.out.resize(self.out.len() * 2, 0),
                R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                R::Record => break,
                // Only a comment was left.
                R::End => return Ok(None),
            }
        }
        let mut from = 0;
        for &end in &self.ends[..ends_len] {
            record.push_field(&self.out[from..end]);
            from = end;
        }
        debug_assert!(from <= out_len);
        Ok(Some(row))
    }
}

impl Table {
    /// For a delimited-text table, its data records as raw bytes, from the row after the header (or the first,
    /// with `--columns`; the file is opened again and this table's own rows are left as they are). For an XLSX
    /// sheet, the rows not read yet, as raw records that [`Table::map_raw`] reads back as the same cells (a row is
    /// then read once, by this reader or by the table's own rows). `None` for other formats.
    pub fn raw_csv(&self) -> Result<Option<RawCsv>, InputError> {
        if let Some(rows) = &self.sheet_rows {
            return Ok(Some(RawCsv {
                source: RawSource::Sheet(rows.clone(), self.columns.len()),
            }));
        }
        let SourceFormat::Csv {
            delimiter,
            encoding,
        } = &self.format
        else {
            return Ok(None);
        };
        let head = read_head(&self.path)?;
        let sniffed = sniff(&head, head.len() < SAMPLE_BYTES);
        if sniffed.delimiter != *delimiter || sniffed.encoding != *encoding {
            return Ok(None);
        }
        let mut rows = TextRows::open(&self.path, &sniffed, false)?;
        let Some(header_row) = self.header_row else {
            return Ok(Some(RawCsv {
                source: RawSource::Text(Box::new(rows)),
            }));
        };
        let mut record = csv::ByteRecord::new();
        loop {
            match rows.read_into(&mut record) {
                Some(Ok(row)) if row == header_row => {
                    return Ok(Some(RawCsv {
                        source: RawSource::Text(Box::new(rows)),
                    }));
                }
                Some(Ok(row)) if row < header_row => {}
                Some(Err(e)) => return Err(e),
                _ => return Ok(None),
            }
        }
    }

    /// A raw record from [`Table::raw_csv`] read as [`Table::next_record`] and [`Table::map_owned`] would: `None` for
    /// a blank record, which those skip.
    pub fn map_raw(&self, row: u64, record: &csv::ByteRecord) -> Option<MappedRow> {
        let cells = match self.sheet_rows {
            Some(_) => super::xlsx::cells_of(record),
            None => decode_fields(record),
        };
        if cells.iter().all(Cell::is_blank) {
            return None;
        }
        Some(self.map_owned(Record { row, cells }))
    }
}

/// The fields of a line without quotes, between its delimiters. Fields are short, so rather than a search started
/// per field (or a test per byte), eight bytes at a time are compared with the delimiter at once.
fn split_line(line: &[u8], delimiter: u8, record: &mut csv::ByteRecord) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    record.clear();
    let pattern = u64::from(delimiter) * ONES;
    let mut from = 0;
    let mut words = line.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        // A byte of `x` is zero where the line holds the delimiter; its high bit in `zero` says so, exactly (the
        // sum of a byte's low seven bits and 0x7F never carries into the next byte).
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ pattern;
        let mut zero = !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7);
        while zero != 0 {
            let end = at + (zero.trailing_zeros() / 8) as usize;
            record.push_field(&line[from..end]);
            from = end + 1;
            zero &= zero - 1;
        }
        at += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == delimiter {
            record.push_field(&line[from..at + i]);
            from = at + i + 1;
        }
    }
    record.push_field(&line[from..]);
}

/// Per field: UTF-8 where the bytes are UTF-8, else Windows-1252.
fn decode_fields(record: &csv::ByteRecord) -> Vec<Cell> {
    let len = record.len();
    let mut cells = Vec::with_capacity(len);
    for (i, field) in record.iter().enumerate() {
        let field = if i + 1 == len {
            field.strip_suffix(b"\r").unwrap_or(field)
        } else {
            field
        };
        if field.is_empty() {
            cells.push(Cell::Empty);
            continue;
        }
        let text = match std::str::from_utf8(field) {
            Ok(s) => s.to_owned(),
            Err(_) => encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(field)
                .0
                .into_owned(),
        };
        cells.push(Cell::Text(text));
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(bytes: &[u8]) -> Vec<(u64, Vec<String>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, bytes).unwrap();
        let sniffed = sniff(bytes, true);
        TextRows::open(&path, &sniffed, false)
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.row, r.cells.iter().map(Cell::display).collect())
            })
            .collect()
    }

    #[test]
    fn line_numbers_count_blank_lines_and_quoted_newlines() {
        for text in [
            "a,b\n1,2\n\n3,4\n\"x\ny\",5\n6,7",
            "a,b\r\n1,2\r\n\r\n3,4\r\n\"x\r\ny\",5\r\n6,7\r\n",
        ] {
            let rows = rows_of(text.as_bytes());
            let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
            assert_eq!(lines, [1, 2, 4, 5, 7], "{text:?}");
            assert_eq!(rows[4].1, ["6", "7"]);
            assert_eq!(rows[3].1[0].replace('\r', ""), "x\ny");
        }
    }

    /// The records and start lines a `csv::Reader` gives for `bytes`, and those `TextRows` gives, its [`Splitter`]
    /// reading `chunk` bytes at a time.
    fn both_readers(
        bytes: &[u8],
        delimiter: u8,
        comment: Option<u8>,
        chunk: usize,
    ) -> [Vec<(u64, Vec<Vec<u8>>)>; 2] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, bytes).unwrap();
        let sniffed = Sniffed {
            encoding: TextEncoding::Utf8,
            delimiter,
            sample: String::new(),
            cr_only: false,
            bom_len: 0,
        };
        let fields = |r: &csv::ByteRecord| r.iter().map(<[u8]>::to_vec).collect::<Vec<_>>();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .comment(comment)
            .from_reader(open_stream(&path, &sniffed).unwrap());
        let mut record = csv::ByteRecord::new();
        let mut by_csv = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            // The reader's position is where it started looking: before the empty lines it skipped (and a BOM).
            let mut first = record.position().unwrap().byte() as usize;
            if first == 0 && bytes.starts_with(b"\xEF\xBB\xBF") {
                first = 3;
            }
            loop {
                match bytes.get(first) {
                    Some(b'\n') => first += 1,
                    Some(&c) if Some(c) == comment => {
                        first += bytes[first..].iter().position(|&b| b == b'\n').unwrap() + 1;
                    }
                    _ => break,
                }
            }
            let line = 1 + bytes[..first].iter().filter(|&&b| b == b'\n').count() as u64;
            by_csv.push((line, fields(&record)));
        }
        let mut rows = TextRows::open(&path, &sniffed, comment.is_some()).unwrap();
        rows.split = Splitter::new(
            open_stream(&path, &sniffed).unwrap(),
            delimiter,
            comment,
            chunk,
        );
        let mut by_split = Vec::new();
        while let Some(row) = rows.read_into(&mut record) {
            by_split.push((row.unwrap(), fields(&record)));
        }
        [by_csv, by_split]
    }

    #[test]
    fn the_splitter_reads_what_the_csv_reader_reads() {
        let text = "\u{feff}a;b\n\n1;\"x;\ny\"\n\r\n;;\n\"q\"\"q\";2\r\nz\"z;3\n\"open;4\n5";
        for chunk in [1, 2, 3, 7, 64] {
            for comment in [None, Some(b'#')] {
                let text = format!("# a \"comment\n{text}");
                let [by_csv, by_split] = both_readers(text.as_bytes(), b';', comment, chunk);
                assert_eq!(by_split, by_csv, "chunk {chunk}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_splitter_agrees_with_the_csv_reader_on_any_text(
            bytes in proptest::collection::vec(proptest::sample::select(b"a,;#\"\n\r \xEF\xBB\xBF".to_vec()), 0..120),
            chunk in 1usize..20,
            semicolon: bool,
            comments: bool,
        ) {
            let delimiter = if semicolon { b';' } else { b',' };
            let [by_csv, by_split] = both_readers(&bytes, delimiter, comments.then_some(b'#'), chunk);
            proptest::prop_assert_eq!(by_split, by_csv);
        }
    }

    #[test]
    fn old_mac_line_ends() {
        let rows = rows_of(b"DevEUI;Name\r0011223344556677;a\r\r1111111111111111;b");
        let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(lines, [1, 2, 4]);
        assert_eq!(rows[2].1, ["1111111111111111", "b"]);
    }

    #[test]
    fn rows_of_only_delimiters_are_blank() {
        let rows = rows_of(b"a;b\n;\n1;2\n");
        assert_eq!(
            rows,
            [
                (1, vec!["a".into(), "b".into()]),
                (3, vec!["1".into(), "2".into()])
            ]
        );
    }

    #[test]
    fn delimiter_is_sniffed_quote_aware() {
        assert_eq!(sniff_delimiter("a;b;c\n\"x;y\";2;3\n"), b';');
        assert_eq!(sniff_delimiter("a,b\n\"x;y;z\",2\n"), b',');
        assert_eq!(sniff_delimiter("a\tb\n1\t2\n"), b'\t');
        assert_eq!(sniff_delimiter("a|b|c\n1|2|3\n"), b'|');
        assert_eq!(sniff_delimiter("dev_eui\n1111\n"), b',');
        // A comma inside some names does not beat the real delimiter.
        assert_eq!(sniff_delimiter("n;e\nx, y;1\nz;2\nw;3\n"), b';');
    }

    #[test]
    fn utf8_cut_at_sample_end_is_still_utf8() {
        let bytes = "é".as_bytes();
        assert_eq!(decode_sample(&bytes[..1]).0, TextEncoding::Utf8);
        assert_eq!(decode_sample(b"caf\xe9\n").0, TextEncoding::Windows1252);
        assert_eq!(decode_sample(b"caf\xe9\n").1, "café\n");
    }

    #[test]
    fn utf16_without_a_bom_is_told_by_its_zero_bytes() {
        let text = "DevEUI\tName\n70B3D5E75F600001\tcafé\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(
            decode_sample(&le),
            (TextEncoding::Utf16Le, text.to_string(), 0)
        );
        assert_eq!(
            decode_sample(&be),
            (TextEncoding::Utf16Be, text.to_string(), 0)
        );
        assert_eq!(decode_sample(text.as_bytes()).0, TextEncoding::Utf8);
        // A stray NUL in a UTF-8 file does not make it UTF-16.
        assert_eq!(
            decode_sample(b"DevEUI,Name\n\x00AB,c\n").0,
            TextEncoding::Utf8
        );
    }

    #[test]
    fn transcoder_handles_small_reads() {
        let text = "DevEUI\tName\nAABB\tcafé ✓\n".repeat(2000);
        let mut bytes = Vec::new();
        for u in text.encode_utf16() {
            bytes.extend_from_slice(&u.to_be_bytes());
        }
        let mut t = Transcoder::new(
            &bytes[..],
            encoding_rs::UTF_16BE.new_decoder_without_bom_handling(),
        );
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = t.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}
