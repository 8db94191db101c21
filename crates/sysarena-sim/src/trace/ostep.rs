//! OSTEP `malloc.py -A` op lists: `+10,-0,+20`.

use std::io::BufRead;

use super::error::{TraceError, TraceErrorKind};
use super::event::{Event, OSTEP_ALIGN, Trace};
use super::lines::{Checker, content, for_each_line, parse_num, push};

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
        // A line says `true` once the trace holds `max` events, and the
        // reading stops there (one line may hold many ops: with `None`
        // here, `-n 1000` still read a whole file of 880 million ops).
        for_each_line(file, reader, Some(1), |line| {
            let text = content(line);
            for op in text
                .split(|c: char| c == ',' || c.is_ascii_whitespace())
                .filter(|s| !s.is_empty())
            {
                if trace.events.len() >= max {
                    return Ok(true);
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
                    push(&mut trace.events, Event::Free { id })?;
                    continue;
                } else {
                    return Err(TraceErrorKind::UnknownOp(op.to_owned()));
                };
                checker.check(&event)?;
                push(&mut trace.events, event)?;
            }
            Ok(trace.events.len() >= max)
        })?;
        Ok(trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a number of events, reading stops once it has them: the bytes
    /// after (here, not UTF-8, which would be an error) are never read.
    #[test]
    fn reading_stops_at_the_events_asked_for() {
        let bytes: &[u8] = b"+10,+20,-0\n+30\n\xff\xfe\n";
        let t = Trace::read_ostep("t", bytes, Some(3)).unwrap();
        assert_eq!(t.events.len(), 3);
        let t = Trace::read_ostep("t", bytes, Some(4)).unwrap();
        assert_eq!(t.events.len(), 4);
        assert!(
            Trace::read_ostep("t", bytes, None).is_err(),
            "the whole file"
        );
    }
}
