//! What every reader shares: reading lines (gzip detected, a byte-order mark
//! skipped, each error tagged with its file and line), parsing fields, and
//! the [`Checker`] that keeps a trace consistent as it is read.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader};
use std::str::FromStr;

use super::error::{TraceError, TraceErrorKind};
use super::event::{Event, Id};

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
/// once `f` has returned `true` (produced an event) that many times.
pub(super) fn for_each_line(
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
