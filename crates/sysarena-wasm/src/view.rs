//! What the page draws, as JSON: the stats, the arenas (or, past a
//! threshold, the heap map in buckets), the first descriptors of the arena
//! table and the free list — all read through the core's public `stats`,
//! `arenas` and `table`. Cached arenas (the fast model's quick lists) are
//! free arenas with their `cached` mark set; a bucketed map counts their
//! bytes as free.

use serde::Serialize;
use sysarena::Stats;

pub use crate::bytes::fmt_bytes;
use crate::session::{Owner, Session};

/// `n` arenas, in the singular for one (as `sysarena step` says it).
fn arenas(n: usize) -> String {
    if n == 1 {
        "1 arena".to_owned()
    } else {
        format!("{n} arenas")
    }
}

/// What follows the free arenas when some are cached: ` (112 B cached in
/// 1)`, as `sysarena step` says it; empty when none are.
fn cached_note(st: &Stats) -> String {
    if st.cached_arenas == 0 {
        String::new()
    } else {
        format!(
            " ({} cached in {})",
            fmt_bytes(st.cached_bytes),
            st.cached_arenas
        )
    }
}

/// The stats line, word for word as `sysarena step` prints it, so the
/// browser test can compare the page with the command line.
pub fn stats_line(st: &Stats) -> String {
    format!(
        "stats: in use {} (requested {}, slack {}) in {} · free {} in {}{}, largest {} · external fragmentation {:.0}% · descriptors {} used, {} spare of {}",
        fmt_bytes(st.in_use_bytes),
        fmt_bytes(st.requested_bytes),
        fmt_bytes(st.internal_fragmentation()),
        arenas(st.used_arenas),
        fmt_bytes(st.free_bytes),
        arenas(st.free_arenas),
        cached_note(st),
        fmt_bytes(st.largest_free),
        st.fragmentation() * 100.0,
        st.descriptors - st.spare_descriptors,
        st.spare_descriptors,
        st.descriptors
    )
}

/// The stats, as numbers.
#[derive(Debug, Serialize)]
pub struct StatsView {
    capacity: usize,
    free_bytes: usize,
    largest_free: usize,
    in_use_bytes: usize,
    requested_bytes: usize,
    free_arenas: usize,
    used_arenas: usize,
    spare_descriptors: usize,
    descriptors: usize,
    fallback_searches: u64,
    fallback_hits: u64,
    /// Of `free_bytes`, the bytes waiting in the quick lists.
    cached_bytes: usize,
    /// Of `free_arenas`, the arenas waiting in the quick lists.
    cached_arenas: usize,
    /// `1 - largest_free / free_bytes`.
    fragmentation: f64,
}

/// One arena: `[offset, size, used, slot, owner kind, owner number,
/// cached]`; owner kind 0 = free, 1 = typed (`#N`), 2 = a trace id; cached
/// 1 for a free arena waiting in a quick list (the fast model), else 0.
pub type ArenaRow = [u64; 7];

/// The loaded trace.
#[derive(Debug, Serialize)]
pub struct TraceView {
    name: String,
    events: usize,
}

/// Everything the page draws for one session.
#[derive(Debug, Serialize)]
pub struct View {
    capacity: usize,
    descriptors: usize,
    policy: &'static str,
    coalescing: &'static str,
    pinned: bool,
    /// Whether allocations are named by handles (a `Movable` manager).
    handles: bool,
    pos: usize,
    len: usize,
    next_number: usize,
    trace: Option<TraceView>,
    stats: StatsView,
    stats_line: String,
    /// Every arena in address order, when there are at most `max_arenas`.
    arenas: Option<Vec<ArenaRow>>,
    /// Otherwise the heap map in equal buckets: `[in-use bytes, requested
    /// bytes, arenas starting]` per bucket.
    buckets: Option<Vec<[u64; 3]>>,
    /// The largest free arena that is not cached: `[offset, size]` — the
    /// one the picture outlines. `Stats::largest_free` counts cached arenas
    /// too, so it may be larger (a cached arena); the page then says so.
    largest: Option<[usize; 2]>,
    /// The first descriptors of the arena table, in table order: an arena
    /// row, or `null` for a spare.
    table: Vec<Option<ArenaRow>>,
    /// The first free arenas in address order: `[offset, size, cached]`
    /// (cached 1 for an arena waiting in a quick list).
    free_list: Vec<[usize; 3]>,
}

fn row(s: &Session, a: &sysarena::ArenaInfo) -> ArenaRow {
    let (kind, n) = match (a.in_use, s.owner(a.offset)) {
        (false, _) => (0, 0),
        (true, Some(Owner::Typed(n))) => (1, n as u64),
        (true, Some(Owner::Traced(id))) => (2, id),
        (true, None) => (1, u64::MAX),
    };
    [
        a.offset as u64,
        a.size as u64,
        a.used as u64,
        a.slot as u64,
        kind,
        n,
        u64::from(a.cached),
    ]
}

/// The view of `s`: full arenas up to `max_arenas`, else `buckets` buckets;
/// the first `table_rows` descriptors and `free_rows` free arenas.
///
/// Time: O(arenas + buckets).
pub fn view(
    s: &Session,
    max_arenas: usize,
    buckets: usize,
    table_rows: usize,
    free_rows: usize,
) -> View {
    let m = s.manager();
    let st = m.stats();
    let arena_count = st.free_arenas + st.used_arenas;
    let mut largest: Option<[usize; 2]> = None;
    let mut free_list = Vec::new();
    let mut arenas = None;
    let mut map = None;
    if arena_count <= max_arenas {
        let mut v = Vec::with_capacity(arena_count);
        for a in m.arenas() {
            v.push(row(s, &a));
        }
        arenas = Some(v);
    } else {
        let n = buckets.max(1);
        let cap = st.capacity.max(1) as f64;
        let mut b = vec![[0u64; 3]; n];
        for a in m.arenas() {
            let first = ((a.offset as f64 / cap) * n as f64) as usize;
            b[first.min(n - 1)][2] += 1;
            if !a.in_use {
                continue;
            }
            // Spread the arena's bytes over the buckets it covers.
            let (start, end) = (a.offset as f64, (a.offset + a.size) as f64);
            let per = cap / n as f64;
            let mut i = first.min(n - 1);
            while i < n {
                let lo = i as f64 * per;
                let hi = lo + per;
                if lo >= end {
                    break;
                }
                let part = end.min(hi) - start.max(lo);
                if part > 0.0 {
                    b[i][0] += part as u64;
                    b[i][1] += (part * a.used as f64 / a.size as f64) as u64;
                }
                i += 1;
            }
        }
        map = Some(b);
    }
    for a in m.arenas().filter(|a| !a.in_use) {
        if !a.cached && largest.is_none_or(|l| a.size > l[1]) {
            largest = Some([a.offset, a.size]);
        }
        if free_list.len() < free_rows {
            free_list.push([a.offset, a.size, usize::from(a.cached)]);
        }
    }
    let table = m
        .table()
        .take(table_rows)
        .map(|e| e.arena.map(|a| row(s, &a)))
        .collect();
    let cfg = s.config();
    View {
        capacity: st.capacity,
        descriptors: st.descriptors,
        policy: cfg.policy.name(),
        coalescing: cfg.coalescing.name(),
        pinned: s.pinned(),
        handles: s.settings().handles,
        pos: s.pos(),
        len: s.len(),
        next_number: s.next_number(),
        trace: s.trace().map(|t| TraceView {
            name: t.name.clone(),
            events: t.events.len(),
        }),
        stats: StatsView {
            capacity: st.capacity,
            free_bytes: st.free_bytes,
            largest_free: st.largest_free,
            in_use_bytes: st.in_use_bytes,
            requested_bytes: st.requested_bytes,
            free_arenas: st.free_arenas,
            used_arenas: st.used_arenas,
            spare_descriptors: st.spare_descriptors,
            descriptors: st.descriptors,
            fallback_searches: st.fallback_searches,
            fallback_hits: st.fallback_hits,
            cached_bytes: st.cached_bytes,
            cached_arenas: st.cached_arenas,
            fragmentation: st.fragmentation(),
        },
        stats_line: stats_line(&st),
        arenas,
        buckets: map,
        largest,
        table,
        free_list,
    }
}
