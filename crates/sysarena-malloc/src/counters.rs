//! The counters every layer bumps: calls that failed or freed a foreign
//! pointer, direct mappings, and (only while the stats report is kept)
//! the requested bytes live now and at most. A leaf: the exit report
//! (`report`) reads them.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);
/// Requested bytes live now and at most (kept only while enabled).
static LIVE: AtomicUsize = AtomicUsize::new(0);
pub(crate) static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Frees (and reallocs) of pointers sysarena did not hand out.
pub(crate) static INVALID: AtomicU64 = AtomicU64::new(0);
/// Requests served by a direct mapping.
pub(crate) static BIG_ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Requests refused for lack of memory or descriptors.
pub(crate) static FAILED: AtomicU64 = AtomicU64::new(0);

/// Starts keeping the live and peak figures (`SYSARENA_STATS` is set).
pub(crate) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether the report is kept (peak live bytes cost a shared counter).
#[inline]
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A shard's requested bytes went from `before` to `after`.
pub(crate) fn live_changed(before: usize, after: usize) {
    if after >= before {
        let now = LIVE.fetch_add(after - before, Ordering::Relaxed) + (after - before);
        PEAK.fetch_max(now, Ordering::Relaxed);
    } else {
        LIVE.fetch_sub(before - after, Ordering::Relaxed);
    }
}

/// Adds a direct mapping's bytes to the live count.
pub(crate) fn big_changed(before: usize, after: usize) {
    if enabled() {
        live_changed(before, after);
    }
}
