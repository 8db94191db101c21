//! CS:APP malloc-lab `.rep` traces: four header numbers, then `a id size`,
//! `f id`, `r id size`, with lab ids renumbered.

use std::collections::HashMap;
use std::io::BufRead;

use super::error::{TraceError, TraceErrorKind};
use super::event::{Event, Id, MALLOC_LAB_ALIGN, Trace};
use super::lines::{content, for_each_line, no_more, parse_num, push};

impl Trace {
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
            push(&mut trace.events, event)?;
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
}
