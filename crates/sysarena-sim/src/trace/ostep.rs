//! OSTEP `malloc.py -A` op lists: `+10,-0,+20`.

use std::io::BufRead;

use super::error::{TraceError, TraceErrorKind};
use super::event::{Event, OSTEP_ALIGN, Trace};
use super::lines::{Checker, content, for_each_line, parse_num};

impl Trace {
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
}
