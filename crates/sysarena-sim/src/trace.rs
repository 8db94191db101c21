//! Allocation traces: the native text format, CS:APP malloc-lab `.rep` files
//! and OSTEP `malloc.py -A` op lists, read into one [`Trace`].
//!
//! # The native format
//!
//! One event a line, fields separated by white space, `#` starts a comment
//! (to the end of the line), blank lines are ignored; the file may be gzip
//! compressed (detected by its magic bytes, not its name):
//!
//! ```text
//! a <id> <size> [align]   allocate <size> bytes at <align> (default 16); call the block <id>
//! f <id>                  free block <id>
//! r <id> <new_size>       resize block <id> to <new_size> bytes
//! ```
//!
//! Ids are decimal and never reused; `f` and `r` must name a live block.
//!
//! # Malformed input
//!
//! Every reader validates as it goes and returns a [`TraceError`] naming the
//! file, the 1-based line and the [`reason`](TraceErrorKind); no input makes
//! it panic. Readers stream: a 1.6 M-line trace is read line by line into the
//! event vector, never held as text.
//!
//! ```
//! use sysarena_sim::trace::{Event, Trace};
//!
//! let trace = Trace::parse_native("demo", "a 1 100\na 2 50 8\nr 1 200\nf 2\n").unwrap();
//! assert_eq!(trace.events[1], Event::Alloc { id: 2, size: 50, align: 8 });
//! let err = Trace::parse_native("demo", "a 1 10\nf 7\n").unwrap_err();
//! assert_eq!(err.to_string(), "demo:2: free of unknown or dead block 7");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The alignment of an `a` line that gives none (glibc's malloc guarantee,
/// and what the recorded traces use throughout).
pub const DEFAULT_ALIGN: usize = 16;

/// The alignment given to blocks of a CS:APP malloc-lab trace (the lab's
/// `ALIGNMENT`).
pub const MALLOC_LAB_ALIGN: usize = 8;

/// The alignment given to blocks of an OSTEP `malloc.py` op list (the
/// simulator's default: none).
pub const OSTEP_ALIGN: usize = 1;

/// A block's name in a trace.
pub type Id = u64;

/// One allocation event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Event {
    /// Allocate `size` bytes at `align` (a power of two); the block is `id`.
    Alloc {
        /// The new block's id, not used before in the trace.
        id: Id,
        /// Requested bytes (may be 0).
        size: usize,
        /// Requested alignment, a power of two.
        align: usize,
    },
    /// Free the live block `id`.
    Free {
        /// A live block.
        id: Id,
    },
    /// Resize the live block `id` to `size` bytes, keeping its alignment.
    Realloc {
        /// A live block.
        id: Id,
        /// The new requested size.
        size: usize,
    },
}

/// A named sequence of events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Where the trace came from (a file name or a workload description).
    pub name: String,
    /// The events, in order.
    pub events: Vec<Event>,
}

/// The input formats [`Trace::read`] understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TraceFormat {
    /// sysarena's native format (see the module docs).
    Native,
    /// CS:APP malloc-lab `.rep`: four header numbers (suggested heap size,
    /// number of ids, number of ops, weight), then `a id size`, `f id`,
    /// `r id size`. An id may be allocated again once freed.
    MallocLab,
    /// OSTEP `malloc.py -A` op list: `+N` allocates N bytes, `-K` frees the
    /// K-th allocation made (counting from 0); separated by commas or white
    /// space.
    Ostep,
}

impl TraceFormat {
    /// Every format, for help texts.
    pub const ALL: [TraceFormat; 3] = [
        TraceFormat::Native,
        TraceFormat::MallocLab,
        TraceFormat::Ostep,
    ];

    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Native => "native",
            TraceFormat::MallocLab => "malloc-lab",
            TraceFormat::Ostep => "ostep",
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TraceFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" | "trace" => Ok(TraceFormat::Native),
            "malloc-lab" | "rep" | "csapp" => Ok(TraceFormat::MallocLab),
            "ostep" => Ok(TraceFormat::Ostep),
            _ => Err(format!(
                "unknown trace format `{s}` (expected native, malloc-lab or ostep)"
            )),
        }
    }
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceErrorKind {
    /// Reading the file failed (including a corrupt gzip stream or text that
    /// is not UTF-8).
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// The line's first field is not an operation of this format.
    #[error("unknown operation `{0}`")]
    UnknownOp(String),
    /// A required field is missing.
    #[error("missing {0}")]
    MissingField(&'static str),
    /// More fields than the operation takes.
    #[error("unexpected field `{0}`")]
    ExtraField(String),
    /// A field is not a decimal number that fits.
    #[error("bad {field} `{text}`")]
    BadNumber {
        /// Which field (`id`, `size`, `align`, ...).
        field: &'static str,
        /// The text found.
        text: String,
    },
    /// The alignment is not a power of two.
    #[error("alignment {0} is not a power of two")]
    BadAlign(usize),
    /// An `a` names an id that was used before.
    #[error("id {0} reused")]
    IdReused(Id),
    /// An `f` names an id that is not live.
    #[error("free of unknown or dead block {0}")]
    UnknownFree(Id),
    /// An `r` names an id that is not live.
    #[error("realloc of unknown or dead block {0}")]
    UnknownRealloc(Id),
    /// A malloc-lab header line is not a number, or the header is cut short.
    #[error("bad malloc-lab header: {0}")]
    BadHeader(String),
}

/// A malformed trace: where and why, shown as `FILE:LINE: reason`, or
/// `FILE: reason` when no line is to blame (the file cannot be opened).
#[derive(Debug)]
pub struct TraceError {
    /// The file (or name) being read.
    pub file: String,
    /// The 1-based line; 0 when the error is not tied to a line (opening the
    /// file failed).
    pub line: usize,
    /// The reason.
    pub kind: TraceErrorKind,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.kind)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.kind)
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// Counts and peaks of a trace, computed without replaying it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStats {
    /// Number of events.
    pub events: usize,
    /// `a` events.
    pub allocs: usize,
    /// `f` events.
    pub frees: usize,
    /// `r` events.
    pub reallocs: usize,
    /// The most requested bytes live at once: the least memory any allocator
    /// needs for this trace.
    pub peak_live_bytes: usize,
    /// The most blocks live at once (the arena descriptors a table needs).
    pub max_live_blocks: usize,
    /// Blocks still live at the end.
    pub live_blocks_at_end: usize,
    /// Bytes still live at the end.
    pub live_bytes_at_end: usize,
}

/// Validates events as they arrive: ids fresh on `a`, live on `f`/`r`.
#[derive(Debug, Default)]
struct Checker {
    /// id -> live? (an id once used stays in the map).
    ids: HashMap<Id, bool>,
}

impl Checker {
    fn check(&mut self, event: &Event) -> Result<(), TraceErrorKind> {
        match *event {
            Event::Alloc { id, align, .. } => {
                if !align.is_power_of_two() {
                    return Err(TraceErrorKind::BadAlign(align));
                }
                if self.ids.insert(id, true).is_some() {
                    return Err(TraceErrorKind::IdReused(id));
                }
            }
            Event::Free { id } => match self.ids.get_mut(&id) {
                Some(live @ true) => *live = false,
                _ => return Err(TraceErrorKind::UnknownFree(id)),
            },
            Event::Realloc { id, .. } => {
                if self.ids.get(&id) != Some(&true) {
                    return Err(TraceErrorKind::UnknownRealloc(id));
                }
            }
        }
        Ok(())
    }
}

fn parse_num<T: FromStr>(field: &'static str, text: Option<&str>) -> Result<T, TraceErrorKind> {
    let text = text.ok_or(TraceErrorKind::MissingField(field))?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TraceErrorKind::BadNumber {
            field,
            text: text.to_owned(),
        });
    }
    text.parse().map_err(|_| TraceErrorKind::BadNumber {
        field,
        text: text.to_owned(),
    })
}

fn no_more<'a>(mut fields: impl Iterator<Item = &'a str>) -> Result<(), TraceErrorKind> {
    match fields.next() {
        Some(extra) => Err(TraceErrorKind::ExtraField(extra.to_owned())),
        None => Ok(()),
    }
}

/// Strips a `#` comment and surrounding white space.
fn content(line: &str) -> &str {
    match line.find('#') {
        Some(i) => line[..i].trim(),
        None => line.trim(),
    }
}

/// Parses one native line's fields (comment already stripped, not empty).
fn parse_native_line(text: &str) -> Result<Event, TraceErrorKind> {
    let mut fields = text.split_ascii_whitespace();
    let op = fields.next().unwrap_or_default();
    let event = match op {
        "a" => {
            let id = parse_num("id", fields.next())?;
            let size = parse_num("size", fields.next())?;
            let align = match fields.next() {
                Some(text) => parse_num("align", Some(text))?,
                None => DEFAULT_ALIGN,
            };
            Event::Alloc { id, size, align }
        }
        "f" => Event::Free {
            id: parse_num("id", fields.next())?,
        },
        "r" => Event::Realloc {
            id: parse_num("id", fields.next())?,
            size: parse_num("size", fields.next())?,
        },
        other => return Err(TraceErrorKind::UnknownOp(other.to_owned())),
    };
    no_more(fields)?;
    Ok(event)
}

/// Opens `reader`, transparently decompressing gzip (by magic bytes).
fn maybe_gunzip<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn BufRead + 'a>> {
    let head = reader.fill_buf()?;
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// Reads lines (decompressing gzip), calling `f(line)` for each; stops at the
/// first error, which it tags with the file and line. With `max_lines`, stops
/// once `f` has returned `true` (produced an event) that many times.
fn for_each_line(
    file: &str,
    reader: impl BufRead,
    max_lines: Option<usize>,
    mut f: impl FnMut(&str) -> Result<bool, TraceErrorKind>,
) -> Result<(), TraceError> {
    let err = |line, kind| TraceError {
        file: file.to_owned(),
        line,
        kind,
    };
    let mut reader = maybe_gunzip(reader).map_err(|e| err(1, e.into()))?;
    let mut buf = String::new();
    let mut line_no = 0;
    let mut produced = 0;
    loop {
        if max_lines.is_some_and(|max| produced >= max) {
            return Ok(());
        }
        buf.clear();
        line_no += 1;
        match reader.read_line(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(err(line_no, e.into())),
        }
        // A byte-order mark (what some editors put first in a UTF-8
        // file) is not content.
        let text = if line_no == 1 {
            buf.strip_prefix('\u{feff}').unwrap_or(&buf)
        } else {
            &buf
        };
        if f(text).map_err(|kind| err(line_no, kind))? {
            produced += 1;
        }
    }
}

impl Trace {
    /// An empty trace called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Trace {
            name: name.into(),
            events: Vec::new(),
        }
    }

    /// Reads a native trace (plain or gzip) from `reader`; `file` names it in
    /// errors. With `max_events`, stops after that many events (every prefix
    /// of a valid trace is valid).
    pub fn read_native(
        file: &str,
        reader: impl BufRead,
        max_events: Option<usize>,
    ) -> Result<Trace, TraceError> {
        let mut trace = Trace::new(file);
        let mut checker = Checker::default();
        for_each_line(file, reader, max_events, |line| {
            let text = content(line);
            if text.is_empty() {
                return Ok(false);
            }
            let event = parse_native_line(text)?;
            checker.check(&event)?;
            trace.events.push(event);
            Ok(true)
        })?;
        Ok(trace)
    }

    /// Parses native-format text.
    pub fn parse_native(file: &str, text: &str) -> Result<Trace, TraceError> {
        Trace::read_native(file, text.as_bytes(), None)
    }

    /// Reads a CS:APP malloc-lab `.rep` trace (plain or gzip).
    ///
    /// The header's counts are not enforced (published traces are not all
    /// consistent); ids are renumbered `1, 2, ...` in allocation order, so a
    /// lab id may be allocated again after it is freed.
    pub fn read_malloc_lab(
        file: &str,
        reader: impl BufRead,
        max_events: Option<usize>,
    ) -> Result<Trace, TraceError> {
        let mut trace = Trace::new(file);
        let mut header_left = 4;
        // lab id -> live trace id
        let mut live: HashMap<u64, Id> = HashMap::new();
        let mut next_id: Id = 1;
        for_each_line(file, reader, max_events, |line| {
            let text = content(line);
            // The lab's headers carry C comments: `20000 /* heap size */`.
            let text = match text.find("/*") {
                Some(i) => text[..i].trim(),
                None => text,
            };
            if text.is_empty() {
                return Ok(false);
            }
            let mut fields = text.split_ascii_whitespace();
            let op = fields.next().unwrap_or_default();
            if header_left > 0 {
                if op.bytes().all(|b| b.is_ascii_digit()) {
                    header_left -= 1;
                    return Ok(false);
                }
                return Err(TraceErrorKind::BadHeader(format!(
                    "expected {header_left} more header number(s), found `{op}`"
                )));
            }
            let event = match op {
                "a" => {
                    let lab_id: u64 = parse_num("id", fields.next())?;
                    let size = parse_num("size", fields.next())?;
                    if live.contains_key(&lab_id) {
                        return Err(TraceErrorKind::IdReused(lab_id));
                    }
                    let id = next_id;
                    next_id += 1;
                    live.insert(lab_id, id);
                    Event::Alloc {
                        id,
                        size,
                        align: MALLOC_LAB_ALIGN,
                    }
                }
                "f" => {
                    let lab_id: u64 = parse_num("id", fields.next())?;
                    let id = live
                        .remove(&lab_id)
                        .ok_or(TraceErrorKind::UnknownFree(lab_id))?;
                    Event::Free { id }
                }
                "r" => {
                    let lab_id: u64 = parse_num("id", fields.next())?;
                    let size = parse_num("size", fields.next())?;
                    let id = *live
                        .get(&lab_id)
                        .ok_or(TraceErrorKind::UnknownRealloc(lab_id))?;
                    Event::Realloc { id, size }
                }
                other => return Err(TraceErrorKind::UnknownOp(other.to_owned())),
            };
            no_more(fields)?;
            trace.events.push(event);
            Ok(true)
        })?;
        if header_left > 0 && header_left < 4 {
            return Err(TraceError {
                file: file.to_owned(),
                line: 0,
                kind: TraceErrorKind::BadHeader(format!("file ends {header_left} number(s) short")),
            });
        }
        Ok(trace)
    }

    /// Reads an OSTEP `malloc.py -A` op list (`+10,-0,+20`; commas, white
    /// space and newlines all separate ops). Allocation number K (from 0)
    /// becomes block id K + 1.
    pub fn read_ostep(
        file: &str,
        reader: impl BufRead,
        max_events: Option<usize>,
    ) -> Result<Trace, TraceError> {
        let mut trace = Trace::new(file);
        let mut checker = Checker::default();
        let mut allocs: u64 = 0;
        let max = max_events.unwrap_or(usize::MAX);
        for_each_line(file, reader, None, |line| {
            let text = content(line);
            for op in text
                .split(|c: char| c == ',' || c.is_ascii_whitespace())
                .filter(|s| !s.is_empty())
            {
                if trace.events.len() >= max {
                    return Ok(false);
                }
                let event = if let Some(n) = op.strip_prefix('+') {
                    allocs += 1;
                    Event::Alloc {
                        id: allocs,
                        size: parse_num("size", Some(n))?,
                        align: OSTEP_ALIGN,
                    }
                } else if let Some(k) = op.strip_prefix('-') {
                    let k: u64 = parse_num("allocation number", Some(k))?;
                    let id = k.checked_add(1).ok_or(TraceErrorKind::UnknownFree(k))?;
                    checker.check(&Event::Free { id }).map_err(|e| match e {
                        TraceErrorKind::UnknownFree(_) => TraceErrorKind::UnknownFree(k),
                        other => other,
                    })?;
                    trace.events.push(Event::Free { id });
                    continue;
                } else {
                    return Err(TraceErrorKind::UnknownOp(op.to_owned()));
                };
                checker.check(&event)?;
                trace.events.push(event);
            }
            Ok(false)
        })?;
        Ok(trace)
    }

    /// Reads `reader` in `format`.
    pub fn read(
        file: &str,
        reader: impl BufRead,
        format: TraceFormat,
        max_events: Option<usize>,
    ) -> Result<Trace, TraceError> {
        match format {
            TraceFormat::Native => Trace::read_native(file, reader, max_events),
            TraceFormat::MallocLab => Trace::read_malloc_lab(file, reader, max_events),
            TraceFormat::Ostep => Trace::read_ostep(file, reader, max_events),
        }
    }

    /// Reads the file at `path`; with no `format`, guesses it: `.rep` (also
    /// `.rep.gz`) is malloc-lab, and so is a file whose first line is a lone
    /// number (a malloc-lab header, whatever the file is called); a file
    /// whose first op starts with `+` or `-` is OSTEP; anything else native.
    /// Gzip is detected by magic bytes; a UTF-8 byte-order mark is skipped.
    pub fn from_path(
        path: impl AsRef<Path>,
        format: Option<TraceFormat>,
        max_events: Option<usize>,
    ) -> Result<Trace, TraceError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let open_err = |e: io::Error| TraceError {
            file: file.clone(),
            line: 0,
            kind: e.into(),
        };
        let handle = File::open(path).map_err(open_err)?;
        let mut reader =
            maybe_gunzip(BufReader::with_capacity(1 << 16, handle)).map_err(open_err)?;
        let format = match format {
            Some(format) => format,
            None => {
                let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase());
                if name.is_some_and(|n| n.ends_with(".rep") || n.ends_with(".rep.gz")) {
                    TraceFormat::MallocLab
                } else {
                    sniff(&mut reader).map_err(open_err)?
                }
            }
        };
        let mut trace = Trace::read(&file, reader, format, max_events)?;
        trace.name = path
            .file_name()
            .map_or(file, |n| n.to_string_lossy().into_owned());
        Ok(trace)
    }

    /// Checks the trace's own consistency (ids fresh on alloc, live on free
    /// and realloc, alignments powers of two); the readers already do this,
    /// this is for traces built by hand. The error's line is the 1-based
    /// event index.
    pub fn validate(&self) -> Result<(), TraceError> {
        let mut checker = Checker::default();
        for (i, event) in self.events.iter().enumerate() {
            checker.check(event).map_err(|kind| TraceError {
                file: self.name.clone(),
                line: i + 1,
                kind,
            })?;
        }
        Ok(())
    }

    /// Counts and peaks (live bytes are requested sizes).
    pub fn stats(&self) -> TraceStats {
        let mut sizes: HashMap<Id, usize> = HashMap::new();
        let mut stats = TraceStats {
            events: self.events.len(),
            ..TraceStats::default()
        };
        // Summed in u128: a trace may ask for more than the address space
        // (`a 1 18446744073709551615`, twice); the totals saturate at
        // `usize::MAX` rather than overflow.
        let mut live_bytes = 0u128;
        let saturate = |n: u128| usize::try_from(n).unwrap_or(usize::MAX);
        for event in &self.events {
            match *event {
                Event::Alloc { id, size, .. } => {
                    stats.allocs += 1;
                    sizes.insert(id, size);
                    live_bytes += size as u128;
                }
                Event::Free { id } => {
                    stats.frees += 1;
                    live_bytes -= sizes.remove(&id).unwrap_or(0) as u128;
                }
                Event::Realloc { id, size } => {
                    stats.reallocs += 1;
                    if let Some(old) = sizes.get_mut(&id) {
                        live_bytes = live_bytes - *old as u128 + size as u128;
                        *old = size;
                    }
                }
            }
            stats.peak_live_bytes = stats.peak_live_bytes.max(saturate(live_bytes));
            stats.max_live_blocks = stats.max_live_blocks.max(sizes.len());
        }
        stats.live_blocks_at_end = sizes.len();
        stats.live_bytes_at_end = saturate(live_bytes);
        stats
    }

    /// Writes the trace in the native format (always with the align field).
    pub fn write_native(&self, writer: impl Write) -> io::Result<()> {
        let mut out = TraceWriter::new(writer);
        for event in &self.events {
            out.event(event)?;
        }
        out.finish().map(drop)
    }

    /// The trace as native-format text.
    pub fn to_native_string(&self) -> String {
        let mut out = Vec::new();
        self.write_native(&mut out)
            .expect("writing to a Vec cannot fail");
        String::from_utf8(out).expect("the native format is ASCII")
    }
}

/// Guesses the format from the first op of a (decompressed) reader.
fn sniff(reader: &mut dyn BufRead) -> io::Result<TraceFormat> {
    let head = reader.fill_buf()?;
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    for line in text.lines() {
        let body = content(line);
        if body.is_empty() {
            continue;
        }
        // A lone number is no native or OSTEP op: it is the first line of a
        // malloc-lab header (the heap size).
        if body.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(TraceFormat::MallocLab);
        }
        return Ok(match body.as_bytes()[0] {
            b'+' | b'-' => TraceFormat::Ostep,
            _ => TraceFormat::Native,
        });
    }
    Ok(TraceFormat::Native)
}

/// Streams events out in the native format (what the LD_PRELOAD recorder
/// emits). Buffer the writer; call [`TraceWriter::finish`] to flush.
#[derive(Debug)]
pub struct TraceWriter<W: Write> {
    out: W,
}

impl<W: Write> TraceWriter<W> {
    /// A writer over `out`.
    pub fn new(out: W) -> Self {
        TraceWriter { out }
    }

    /// Writes a comment line (`# text`); newlines in `text` are replaced by
    /// spaces so the comment stays one line.
    pub fn comment(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.out, "# {}", text.replace(['\n', '\r'], " "))
    }

    /// Writes one event.
    pub fn event(&mut self, event: &Event) -> io::Result<()> {
        match *event {
            Event::Alloc { id, size, align } => writeln!(self.out, "a {id} {size} {align}"),
            Event::Free { id } => writeln!(self.out, "f {id}"),
            Event::Realloc { id, size } => writeln!(self.out, "r {id} {size}"),
        }
    }

    /// Writes `a id size align`.
    pub fn alloc(&mut self, id: Id, size: usize, align: usize) -> io::Result<()> {
        self.event(&Event::Alloc { id, size, align })
    }

    /// Writes `f id`.
    pub fn free(&mut self, id: Id) -> io::Result<()> {
        self.event(&Event::Free { id })
    }

    /// Writes `r id size`.
    pub fn realloc(&mut self, id: Id, size: usize) -> io::Result<()> {
        self.event(&Event::Realloc { id, size })
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads everything from `reader` as a native trace; a convenience for tests
/// and tools holding bytes (plain or gzip).
pub fn read_native_bytes(file: &str, bytes: &[u8]) -> Result<Trace, TraceError> {
    Trace::read_native(file, bytes, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_strips_comments() {
        assert_eq!(content("  a 1 2 # hi\n"), "a 1 2");
        assert_eq!(content("# only\n"), "");
    }

    #[test]
    fn numbers_reject_signs_and_overflow() {
        assert!(parse_num::<u64>("id", Some("+1")).is_err());
        assert!(parse_num::<u64>("id", Some("99999999999999999999999")).is_err());
        assert_eq!(parse_num::<u64>("id", Some("42")).unwrap(), 42);
    }
}
