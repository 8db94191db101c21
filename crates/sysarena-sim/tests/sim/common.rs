//! Shared helpers: the recorded traces.

use std::path::PathBuf;
use std::sync::OnceLock;

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
