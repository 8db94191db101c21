//! Shared helpers: the recorded traces, replay options for checks, and a
//! hand-made subject.

use std::path::PathBuf;
use std::sync::OnceLock;

use sysarena_sim::replay::ReplayOptions;
use sysarena_sim::subject::{Block, Subject};
use sysarena_sim::trace::Trace;

/// `traces/` in the repository root.
pub fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../traces")
}

/// The first `n` events of a recorded trace (`zcat T | head -n n`).
pub fn recorded(name: &str, n: usize) -> Trace {
    let path = traces_dir().join(name);
    Trace::from_path(&path, None, Some(n)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first 20,000 events of the sqlite3 trace, read once.
pub fn sqlite_20k() -> &'static Trace {
    static TRACE: OnceLock<Trace> = OnceLock::new();
    TRACE.get_or_init(|| recorded("sqlite3.trace.gz", 20_000))
}

/// Options for a replay whose figures a test checks: a sample every
/// `sample_every` events, everything freed at the end, and no time budget
/// (a budget would make the figures depend on the machine's speed).
pub fn checked(sample_every: usize) -> ReplayOptions {
    ReplayOptions {
        sample_every: Some(sample_every),
        release_at_end: true,
        time_budget: None,
    }
}

/// A bump allocator that never reuses memory, optionally broken.
#[derive(Debug)]
pub struct Bump {
    pub capacity: usize,
    pub top: usize,
    /// Return this offset for every request (to provoke overlaps).
    pub fixed: Option<usize>,
    pub report_extents: bool,
}

impl Bump {
    pub fn new(capacity: usize) -> Self {
        Bump {
            capacity,
            top: 0,
            fixed: None,
            report_extents: false,
        }
    }
}

impl Subject for Bump {
    fn name(&self) -> &str {
        "bump"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        if let Some(f) = self.fixed {
            return Some(f);
        }
        let at = self.top.next_multiple_of(align);
        let end = at.checked_add(size.max(1))?;
        (end <= self.capacity).then(|| {
            self.top = end;
            at
        })
    }

    unsafe fn free(&mut self, _block: Block) {}

    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize> {
        self.alloc(new_size, block.align)
    }

    fn free_extents(&self) -> Option<Vec<(usize, usize)>> {
        self.report_extents
            .then(|| vec![(self.top, self.capacity - self.top)])
    }
}
