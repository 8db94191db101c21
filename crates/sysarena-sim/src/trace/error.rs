//! [`TraceError`]: where and why a trace is malformed.

use std::fmt;
use std::io;

use super::event::Id;

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
    /// A line longer than any trace's (no newline within
    /// [`MAX_LINE`](super::MAX_LINE) bytes): not a trace, and reading it
    /// whole could take all memory.
    #[error("line longer than {max} bytes")]
    LineTooLong {
        /// The longest line read.
        max: usize,
    },
    /// More events than a trace may hold ([`MAX_EVENTS`](super::MAX_EVENTS)).
    #[error("more than {max} events: read a prefix of the trace")]
    TooManyEvents {
        /// The most events read.
        max: usize,
    },
    /// No memory for the next event, or for the reader's table of ids (the
    /// error's line says how far the reading came).
    #[error("out of memory: read a prefix of the trace")]
    NoMemory,
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
