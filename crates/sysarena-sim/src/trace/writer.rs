//! Writing the native format: [`TraceWriter`] streams events (the
//! LD_PRELOAD recorder's format), [`Trace::write_native`] writes a whole
//! trace.

use std::io::{self, Write};

use super::event::{Event, Id, Trace};

impl Trace {
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
