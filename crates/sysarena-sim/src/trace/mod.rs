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
//!
//! # Where things are
//!
//! The vocabulary sits at the bottom: [`Event`] and [`Trace`] in `event.rs`,
//! [`TraceFormat`] in `format.rs`, the errors in `error.rs`; above them the
//! shared line plumbing (`lines.rs`), one file per format (`native.rs`,
//! `malloc_lab.rs`, `ostep.rs`), the counts ([`TraceStats`], `stats.rs`)
//! and the writer ([`TraceWriter`], `writer.rs`); this file reads a file
//! ([`Trace::from_path`], guessing its format) and checks a hand-made trace.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

mod error;
mod event;
mod format;
mod lines;
mod malloc_lab;
mod native;
mod ostep;
mod stats;
mod writer;

pub use self::error::{TraceError, TraceErrorKind};
pub use self::event::{DEFAULT_ALIGN, Event, Id, MALLOC_LAB_ALIGN, OSTEP_ALIGN, Trace};
pub use self::format::TraceFormat;
pub use self::lines::{MAX_EVENTS, MAX_LINE};
pub use self::native::read_native_bytes;
pub use self::stats::TraceStats;
pub use self::writer::TraceWriter;

use self::lines::{Checker, content, maybe_gunzip};

impl Trace {
    /// An empty trace called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Trace {
            name: name.into(),
            events: Vec::new(),
        }
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
        let name = path
            .file_name()
            .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
        let (mut trace, _) = Trace::read_guessing(
            &file,
            &name,
            BufReader::with_capacity(1 << 16, handle),
            format,
            max_events,
        )?;
        trace.name = name;
        Ok(trace)
    }

    /// [`from_path`](Trace::from_path) for a file already in memory (a file
    /// handed to a browser page): `name` is the file's name, used in errors
    /// and to recognise `.rep`; the same guessing, gzip and BOM handling.
    /// Returns the trace and the format it was read in.
    pub fn from_bytes(
        name: &str,
        bytes: &[u8],
        format: Option<TraceFormat>,
        max_events: Option<usize>,
    ) -> Result<(Trace, TraceFormat), TraceError> {
        let (mut trace, format) = Trace::read_guessing(name, name, bytes, format, max_events)?;
        trace.name = name.to_owned();
        Ok((trace, format))
    }

    /// Gunzips `reader` if needed and reads it in `format`, or in the format
    /// guessed from `name` and the first op.
    fn read_guessing<'a>(
        file: &str,
        name: &str,
        reader: impl BufRead + 'a,
        format: Option<TraceFormat>,
        max_events: Option<usize>,
    ) -> Result<(Trace, TraceFormat), TraceError> {
        let io_err = |e: io::Error| TraceError {
            file: file.to_owned(),
            line: 0,
            kind: e.into(),
        };
        let mut reader = maybe_gunzip(reader).map_err(io_err)?;
        let format = match format {
            Some(format) => format,
            None => {
                let lower = name.to_lowercase();
                if lower.ends_with(".rep") || lower.ends_with(".rep.gz") {
                    TraceFormat::MallocLab
                } else {
                    sniff(&mut reader).map_err(io_err)?
                }
            }
        };
        Ok((Trace::read(file, reader, format, max_events)?, format))
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
