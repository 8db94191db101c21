//! The native format: `a id size [align]`, `f id`, `r id size` (see the
//! [module docs](super)).

use std::io::BufRead;

use super::error::{TraceError, TraceErrorKind};
use super::event::{DEFAULT_ALIGN, Event, Trace};
use super::lines::{Checker, content, for_each_line, no_more, parse_num, push};

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

impl Trace {
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
            push(&mut trace.events, event)?;
            Ok(true)
        })?;
        Ok(trace)
    }

    /// Parses native-format text.
    pub fn parse_native(file: &str, text: &str) -> Result<Trace, TraceError> {
        Trace::read_native(file, text.as_bytes(), None)
    }
}

/// Reads everything from `reader` as a native trace; a convenience for tests
/// and tools holding bytes (plain or gzip).
pub fn read_native_bytes(file: &str, bytes: &[u8]) -> Result<Trace, TraceError> {
    Trace::read_native(file, bytes, None)
}
