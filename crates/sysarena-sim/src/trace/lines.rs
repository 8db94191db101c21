//! What every reader shares: reading lines (gzip detected, a byte-order mark
//! skipped, each error tagged with its file and line), parsing fields, and
//! the [`Checker`] that keeps a trace consistent as it is read.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader};
use std::str::FromStr;

use super::error::{TraceError, TraceErrorKind};
use super::event::{Event, Id};

/// The most events a trace read from a file holds: 50 million, 1.6 GB of
/// events, 30 times the largest shared trace (perl's, 1.57 million). A
/// small gzip file can hold more (880 million `+1` ops in 2.5 MB), which
/// filled memory until the process aborted.
pub const MAX_EVENTS: usize = 50_000_000;

/// The longest line read, in bytes: an OSTEP op list may put every op on
/// one line, but a line of gigabytes (a small gzip file again) is no
/// trace, and reading it whole aborted the process.
pub const MAX_LINE: usize = 64 << 20;

/// Appends `event`, refusing past [`MAX_EVENTS`] (or `cap`) and when no
/// memory is left for it.
pub(super) fn push(events: &mut Vec<Event>, event: Event) -> Result<(), TraceErrorKind> {
    push_capped(events, event, MAX_EVENTS)
}

fn push_capped(events: &mut Vec<Event>, event: Event, cap: usize) -> Result<(), TraceErrorKind> {
    if events.len() >= cap {
        return Err(TraceErrorKind::TooManyEvents { max: cap });
    }
    events
        .try_reserve(1)
        .map_err(|_| TraceErrorKind::NoMemory)?;
    events.push(event);
    Ok(())
}

/// Validates events as they arrive: ids fresh on `a`, live on `f`/`r`.
#[derive(Debug, Default)]
pub(super) struct Checker {
    /// id -> live? (an id once used stays in the map).
    ids: HashMap<Id, bool>,
}

impl Checker {
    pub(super) fn check(&mut self, event: &Event) -> Result<(), TraceErrorKind> {
        match *event {
            Event::Alloc { id, align, .. } => {
                if !align.is_power_of_two() {
                    return Err(TraceErrorKind::BadAlign(align));
                }
                self.ids
                    .try_reserve(1)
                    .map_err(|_| TraceErrorKind::NoMemory)?;
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

pub(super) fn parse_num<T: FromStr>(
    field: &'static str,
    text: Option<&str>,
) -> Result<T, TraceErrorKind> {
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

pub(super) fn no_more<'a>(mut fields: impl Iterator<Item = &'a str>) -> Result<(), TraceErrorKind> {
    match fields.next() {
        Some(extra) => Err(TraceErrorKind::ExtraField(extra.to_owned())),
        None => Ok(()),
    }
}

/// Strips a `#` comment and surrounding white space.
pub(super) fn content(line: &str) -> &str {
    match line.find('#') {
        Some(i) => line[..i].trim(),
        None => line.trim(),
    }
}

/// Opens `reader`, transparently decompressing gzip (by magic bytes).
pub(super) fn maybe_gunzip<'a, R: BufRead + 'a>(
    mut reader: R,
) -> io::Result<Box<dyn BufRead + 'a>> {
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
/// once `f` has returned `true` (produced an event) that many times. A line
/// longer than [`MAX_LINE`] is an error.
pub(super) fn for_each_line(
    file: &str,
    reader: impl BufRead,
    max_lines: Option<usize>,
    f: impl FnMut(&str) -> Result<bool, TraceErrorKind>,
) -> Result<(), TraceError> {
    for_each_line_within(file, reader, max_lines, MAX_LINE, f)
}

/// [`for_each_line`] with lines of at most `max_line` bytes.
fn for_each_line_within(
    file: &str,
    reader: impl BufRead,
    max_lines: Option<usize>,
    max_line: usize,
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
    // Read one byte past the longest line allowed, to tell it apart.
    let limit = u64::try_from(max_line)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    loop {
        if max_lines.is_some_and(|max| produced >= max) {
            return Ok(());
        }
        buf.clear();
        line_no += 1;
        match io::Read::take(&mut reader, limit).read_line(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) if n > max_line => {
                return Err(err(line_no, TraceErrorKind::LineTooLong { max: max_line }));
            }
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

    /// A line past the limit is an error at its line, read no further than
    /// the limit (an endless line of one byte repeated does not hang); a
    /// line at the limit is read.
    #[test]
    fn a_line_past_the_limit_is_refused_without_reading_it_whole() {
        let endless = io::Read::chain(&b"a 1 16\n"[..], io::repeat(b'x'));
        let mut lines = Vec::new();
        let e = for_each_line_within("t", BufReader::new(endless), None, 100, |l| {
            lines.push(l.to_owned());
            Ok(true)
        })
        .unwrap_err();
        assert_eq!((e.line, lines.len()), (2, 1));
        assert!(
            matches!(e.kind, TraceErrorKind::LineTooLong { max: 100 }),
            "{e}"
        );
        assert_eq!(e.to_string(), "t:2: line longer than 100 bytes");
        let exact = format!("{}\n", "y".repeat(99));
        let mut seen = 0;
        for_each_line_within("t", exact.as_bytes(), None, 100, |l| {
            seen += l.len();
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen, 100);
    }

    /// Events past the cap are refused with a typed error, and the events
    /// before it are kept.
    #[test]
    fn events_past_the_cap_are_refused() {
        let mut events = Vec::new();
        for id in 1..=3 {
            push_capped(&mut events, Event::Free { id }, 3).unwrap();
        }
        let e = push_capped(&mut events, Event::Free { id: 4 }, 3).unwrap_err();
        assert!(matches!(e, TraceErrorKind::TooManyEvents { max: 3 }));
        assert_eq!(events.len(), 3);
    }
}
