//! The explanation line of every operation: why this arena was chosen, why
//! an allocation failed although N bytes are free, what defragment and
//! relocation did — the core's typed errors and reports, in words.

use sysarena::{
    AllocError, ArenaInfo, DefragReport, OomReason, PassPlan, PassProgress, PassReport, PassStop,
    Policy, RelocationReport,
};

use crate::bytes::fmt_bytes;
use crate::managers::Manager;

/// The rule a policy follows, in one sentence.
pub fn policy_rule(p: Policy) -> &'static str {
    match p {
        Policy::FirstFit => "first fit takes the fitting free arena lowest in the address space",
        Policy::NextFit => {
            "next fit takes the first fitting free arena at or after where the last allocation ended, wrapping around"
        }
        Policy::BestFit => "best fit takes the smallest fitting free arena",
        Policy::WorstFit => "worst fit takes the largest free arena",
        Policy::SegregatedFit => {
            "segregated fit takes an arena of the first non-empty size class that guarantees a fit (two bitmap scans: O(1))"
        }
    }
}

/// What the fast model adds to its policy's rule: the quick lists, in
/// words, with the core's own bounds ([`sysarena::QUICK_LIMIT`],
/// [`sysarena::QUICK_GRANULE`], [`sysarena::QUICK_NEAR_SHARE`],
/// [`sysarena::QUICK_SHARE`], [`sysarena::QUICK_MAX_BYTES`],
/// [`sysarena::QUICK_DEPTH`]), so the sentence cannot drift from what the
/// core does.
pub fn quick_lists() -> String {
    format!(
        "with immediate coalescing this is the fast model: a freed arena under {} whose size is a multiple of {} is cached — it waits, whole, in the quick list of its size and the next request of that size takes it back with no search (a request of {} or more whose list is empty may take one at most a {}th larger) — as long as the lists stay within their budget, a {}th of the region ({} at most), and {} arenas of one size; the lists are flushed (their arenas freed for real) before an out-of-memory answer, `defrag`, a relocation and a policy change",
        fmt_bytes(sysarena::QUICK_LIMIT),
        sysarena::QUICK_GRANULE,
        fmt_bytes(sysarena::QUICK_NEAR_SHARE * sysarena::QUICK_GRANULE),
        sysarena::QUICK_NEAR_SHARE,
        sysarena::QUICK_SHARE,
        fmt_bytes(sysarena::QUICK_MAX_BYTES),
        sysarena::QUICK_DEPTH
    )
}

/// The quick lists' byte budget over a region of `capacity` bytes under
/// the fast model: a [`sysarena::QUICK_SHARE`]-th of it, at most
/// [`sysarena::QUICK_MAX_BYTES`].
pub fn quick_budget(capacity: usize) -> usize {
    (capacity / sysarena::QUICK_SHARE).min(sysarena::QUICK_MAX_BYTES)
}

/// Why a freed arena of `size` bytes was not cached under the fast model,
/// given what the lists held before the free (`cached_bytes` in all,
/// `same_size` arenas of its size), as a clause to append; empty when its
/// size is not one the lists cache (the rule already says so).
pub fn not_cached(capacity: usize, size: usize, cached_bytes: usize, same_size: usize) -> String {
    if size >= sysarena::QUICK_LIMIT || !size.is_multiple_of(sysarena::QUICK_GRANULE) {
        return String::new();
    }
    let budget = quick_budget(capacity);
    if size > budget {
        format!(
            "; not cached: it is larger than the quick lists' whole budget ({}, a {}th of the region)",
            fmt_bytes(budget),
            sysarena::QUICK_SHARE
        )
    } else if cached_bytes + size > budget {
        format!(
            "; not cached: the quick lists' budget ({}, a {}th of the region) is full — {} cached, and {} more would pass it",
            fmt_bytes(budget),
            sysarena::QUICK_SHARE,
            fmt_bytes(cached_bytes),
            fmt_bytes(size)
        )
    } else if same_size >= sysarena::QUICK_DEPTH {
        format!(
            "; not cached: the quick list of {} arenas is full ({} arenas)",
            fmt_bytes(size),
            sysarena::QUICK_DEPTH
        )
    } else {
        "; not cached: the manager pauses caching for a while after a large request flushed the lists".to_owned()
    }
}

/// Whether `c` is the fast model, the one with quick lists.
pub fn is_fast(c: sysarena::Config) -> bool {
    c.policy == Policy::SegregatedFit && c.coalescing == sysarena::Coalescing::Immediate
}

/// A flush of the quick lists that freed `arenas` cached arenas of `bytes`
/// in all, in words.
pub fn flushed(arenas: usize, bytes: usize) -> String {
    format!(
        "the quick lists were flushed first: {} cached arena{} ({}) freed for real, each merging with whatever free neighbours it has",
        arenas,
        if arenas == 1 { "" } else { "s" },
        fmt_bytes(bytes),
    )
}

/// Why a free left the arena cached rather than free.
pub fn cached_free(size: usize) -> String {
    format!(
        "; cached: it waits, whole, in the quick list of {} arenas for the next request of {} (its free neighbours merge with it only when the lists are flushed)",
        fmt_bytes(size),
        if sysarena::quick_serves_smaller(size) {
            format!(
                "that size or of a size at most a {}th smaller",
                sysarena::QUICK_NEAR_SHARE
            )
        } else {
            "that size".to_owned()
        }
    )
}

/// Whether free arena `a` holds `size` bytes at `align` (the offset is
/// rounded up; the manager's origin is 0 here).
fn holds(a: &ArenaInfo, size: usize, align: usize) -> bool {
    Span {
        offset: a.offset,
        size: a.size,
    }
    .holds(size, align)
}

/// A stretch of free bytes: a free arena, a run of neighbouring ones, or
/// what a relocation would leave.
#[derive(Clone, Copy, Debug)]
struct Span {
    offset: usize,
    size: usize,
}

impl Span {
    /// Whether it holds `size` bytes at `align` — the core's fit test:
    /// the offset rounded up to `align`, the size to a multiple of it.
    fn holds(self, size: usize, align: usize) -> bool {
        let align = align.max(1);
        let Some(start) = self.offset.checked_next_multiple_of(align) else {
            return false;
        };
        start
            .checked_add(size.next_multiple_of(align))
            .is_some_and(|end| end <= self.offset + self.size)
    }

    /// Where `align` first lands in it and how many bytes are left there.
    fn aligned_room(self, align: usize) -> (usize, usize) {
        let start = self.offset.next_multiple_of(align.max(1));
        (start, (self.offset + self.size).saturating_sub(start))
    }
}

/// A successful allocation: which free arena the policy took, among how
/// many that fit, and how it was split.
pub fn alloc_ok(
    m: &Manager,
    free_before: &[ArenaInfo],
    size: usize,
    align: usize,
    name: &str,
    offset: usize,
    got: usize,
) -> String {
    // Cached arenas (quick lists) take only requests of their own size (or
    // a near size, a 64th smaller at most): not counted as fitting here.
    let fitting = free_before
        .iter()
        .filter(|a| !a.cached && holds(a, size, align))
        .count();
    let chosen = free_before
        .iter()
        .find(|a| a.offset <= offset && offset < a.offset + a.size);
    let cached_before: Vec<&ArenaInfo> = free_before.iter().filter(|a| a.cached).collect();
    let cached_after = m.stats().cached_arenas;
    let slot = m.arena_at(offset).map_or(0, |a| a.slot);
    let al = if align > 1 {
        format!(", align {align}")
    } else {
        String::new()
    };
    let mut s = format!(
        "✓ alloc({size}{al}) = {name} at offset {offset} (arena of {} in slot {slot})",
        fmt_bytes(got)
    );
    let took_cached = chosen.is_some_and(|c| {
        c.cached && c.offset == offset && c.size == got && cached_after + 1 == cached_before.len()
    });
    let need = size.max(1).next_multiple_of(align.max(1));
    if took_cached && got > need {
        s.push_str(&format!(
            ": taken from the quick list of {got} B arenas, a near size — the list of {need} B arenas was empty, and these are at most a {}th larger; handed out whole with no search and no split",
            sysarena::QUICK_NEAR_SHARE
        ));
        return s;
    }
    if took_cached {
        s.push_str(&format!(
            ": taken back from the quick list of {} arenas — the one freed last, handed out whole with no search and no split",
            fmt_bytes(got)
        ));
        return s;
    }
    if !cached_before.is_empty() && cached_after == 0 {
        s.push_str(&format!(
            ": no free arena fitted, so {}; then the request was tried again",
            flushed(
                cached_before.len(),
                cached_before.iter().map(|a| a.size).sum()
            )
        ));
        return s;
    }
    if let Some(c) = chosen {
        s.push_str(&format!(
            ": {}; {} of {} free arenas fit{}, it took [{}+{}]",
            policy_rule(m.config().policy),
            fitting,
            free_before.len(),
            if fitting == 1 { "s" } else { "" },
            c.offset,
            c.size
        ));
        let pad = offset - c.offset;
        let rest = c.size - pad - got;
        match (pad, rest) {
            (0, 0) => s.push_str(" — an exact fit, no split"),
            (0, r) => s.push_str(&format!(
                " and split it: the remainder {} stays free in a spare descriptor",
                fmt_bytes(r)
            )),
            (p, r) => s.push_str(&format!(
                " and split it: {} of alignment padding in front, {} remainder after",
                fmt_bytes(p),
                fmt_bytes(r)
            )),
        }
    }
    s
}

/// The core's refusal of a request's shape, in words.
pub fn alloc_error_words(e: &AllocError) -> String {
    match e {
        AllocError::ZeroSize => "a size of zero: the arena model has no empty arenas".to_owned(),
        AllocError::BadAlign { align } => {
            format!("alignment {align} is not a power of two (1, 2, 4, 8, …)")
        }
        AllocError::SizeOverflow { size, align } => {
            format!("{size} rounded up to alignment {align} overflows")
        }
        AllocError::TooLarge { size, capacity } => format!(
            "{size} B (rounded up to its alignment) is larger than the whole region ({}): no policy could ever serve it",
            fmt_bytes(*capacity)
        ),
        AllocError::OutOfMemory(r) => format!("out of memory: {r}"),
        // The error type is non-exhaustive: a newer core's refusal still
        // has its own words.
        other => other.to_string(),
    }
}

/// The longest run of address-adjacent free arenas, in bytes: what the
/// classic defragment can make at best.
pub fn largest_run(m: &Manager) -> usize {
    let mut best = 0;
    let mut run = 0;
    for a in m.arenas() {
        if a.in_use {
            run = 0;
        } else {
            run += a.size;
            best = best.max(run);
        }
    }
    best
}

/// The runs of address-adjacent free arenas: what the classic defragment
/// would merge each into (a lone free arena is a run of one), with the
/// number of arenas in each.
fn free_runs(m: &Manager) -> Vec<(Span, usize)> {
    let mut runs: Vec<(Span, usize)> = Vec::new();
    let mut open = false;
    for a in m.arenas() {
        if a.in_use {
            open = false;
            continue;
        }
        match runs.last_mut() {
            Some((r, n)) if open => {
                r.size += a.size;
                *n += 1;
            }
            _ => runs.push((
                Span {
                    offset: a.offset,
                    size: a.size,
                },
                1,
            )),
        }
        open = true;
    }
    runs
}

/// `n` pieces, in the singular for one.
fn pieces(n: usize) -> String {
    if n == 1 {
        "1 piece".to_owned()
    } else {
        format!("{n} pieces")
    }
}

/// `n` descriptors, in the singular for one.
fn descriptors(n: usize) -> String {
    if n == 1 {
        "1 descriptor".to_owned()
    } else {
        format!("{n} descriptors")
    }
}

/// What would give a spare descriptor when a split needed one and none was
/// left: `defrag` only when some free arenas are neighbours (merging them
/// returns descriptors).
pub fn descriptor_remedy(m: &Manager) -> String {
    let runs = free_runs(m);
    let returned: usize = runs.iter().map(|(_, n)| n - 1).sum();
    if returned > 0 {
        return format!(
            "`defrag` merges free neighbours and returns their descriptors ({} would come back)",
            descriptors(returned)
        );
    }
    let free = runs.len();
    let why = if free <= 1 {
        "there is only one free arena, nothing to merge".to_owned()
    } else {
        format!("none of the {free} free arenas are neighbours")
    };
    let mut s = format!("`defrag` cannot help: {why}, so it returns no descriptor; ");
    if free >= 2 {
        s.push_str(&format!(
            "`relocate` would join the {free} free arenas into one and return {}; ",
            descriptors(free - 1)
        ));
    }
    s.push_str("what else would: a request that fits a free arena exactly (no split), freeing an allocation next to a free arena (merging them returns a descriptor), or a larger arena table (the descriptors setting)");
    s
}

/// A failed allocation: the reason, and what would help.
pub fn alloc_failed(m: &Manager, size: usize, align: usize, name: &str, e: &AllocError) -> String {
    let al = if align > 1 {
        format!(", align {align}")
    } else {
        String::new()
    };
    let head = format!("✗ alloc({size}{al}) for {name} failed");
    match e {
        AllocError::OutOfMemory(OomReason::NoFit {
            needed,
            free_bytes,
            largest_free,
        }) if free_bytes >= needed => {
            let st = m.stats();
            let runs = free_runs(m);
            let longest = runs.iter().map(|(r, _)| *r).max_by_key(|r| r.size);
            let run = longest.map_or(0, |r| r.size);
            // Relocation slides every live block down: the free bytes end
            // up in one arena at the end (alignment padding of live blocks
            // aside).
            let relocated = Span {
                offset: st.capacity - free_bytes,
                size: *free_bytes,
            };
            let after_relocate = if relocated.holds(size, align) {
                format!(
                    "`relocate` moves the live blocks and makes one free arena of {}",
                    fmt_bytes(*free_bytes)
                )
            } else {
                let (start, left) = relocated.aligned_room(align);
                format!(
                    "not even `relocate` would: its one free arena at the end, [{}+{}], reaches its first {align}-aligned offset at {start} and leaves {} there, short of the {} it needs",
                    relocated.offset,
                    relocated.size,
                    fmt_bytes(left),
                    fmt_bytes(*needed)
                )
            };
            if let Some((r, n)) = runs.iter().find(|(r, n)| *n > 1 && r.holds(size, align)) {
                return format!(
                    "{head} although {} are free: the largest free arena is {}, the free bytes lie in {} — external fragmentation; neighbouring free arenas [{}+{}] ({} of them) add up to {}, which holds it: `defrag` would merge them",
                    fmt_bytes(*free_bytes),
                    fmt_bytes(*largest_free),
                    pieces(st.free_arenas),
                    r.offset,
                    r.size,
                    n,
                    fmt_bytes(r.size)
                );
            }
            if run >= *needed {
                // Enough bytes side by side, but never at an aligned offset.
                let r = longest.expect("a run this long exists");
                let (start, left) = r.aligned_room(align);
                let lead = if *largest_free >= *needed {
                    format!(
                        "{head} although {} are free and the largest free arena ({}) is large enough: alignment {align} is the cause — no free arena has a {align}-aligned offset with {} after it",
                        fmt_bytes(*free_bytes),
                        fmt_bytes(*largest_free),
                        fmt_bytes(*needed)
                    )
                } else {
                    format!(
                        "{head} although {} are free: the largest free arena is {}, the free bytes lie in {}, and alignment {align} is the cause",
                        fmt_bytes(*free_bytes),
                        fmt_bytes(*largest_free),
                        pieces(st.free_arenas)
                    )
                };
                let merged = runs
                    .iter()
                    .any(|(x, n)| *n > 1 && x.offset == r.offset && x.size == r.size);
                let what = if merged {
                    "the longest run of neighbouring free arenas"
                } else {
                    "there is nothing to merge: the largest free arena"
                };
                // When the free bytes already lie in one arena at the end,
                // relocation would leave them where they are.
                let after_relocate = if relocated.offset == r.offset && relocated.size == r.size {
                    "nor would `relocate`: the free bytes already lie in that one arena at the end"
                        .to_owned()
                } else {
                    after_relocate
                };
                return format!(
                    "{lead}; `defrag` cannot help: {what}, [{}+{}], reaches its first {align}-aligned offset at {start} and leaves {} there, short of the {} it needs; {after_relocate}",
                    r.offset,
                    r.size,
                    fmt_bytes(left),
                    fmt_bytes(*needed)
                );
            }
            format!(
                "{head} although {} are free: the largest free arena is {}, the free bytes lie in {} — external fragmentation; the classic `defrag` cannot help: no run of neighbouring free arenas holds {} (the longest is {}), live blocks sit between them; {after_relocate}",
                fmt_bytes(*free_bytes),
                fmt_bytes(*largest_free),
                pieces(st.free_arenas),
                fmt_bytes(*needed),
                fmt_bytes(run)
            )
        }
        AllocError::OutOfMemory(OomReason::NoFit {
            needed, free_bytes, ..
        }) => format!(
            "{head}: it needs {} and only {} are free in all — no policy or defragment can help",
            fmt_bytes(*needed),
            fmt_bytes(*free_bytes)
        ),
        AllocError::OutOfMemory(OomReason::NoSpareDescriptor { descriptors }) => format!(
            "{head}: a free arena fits, but splitting it needs a spare descriptor and all {descriptors} of the arena table are taken; {}",
            descriptor_remedy(m)
        ),
        other => format!("{head}: {}", alloc_error_words(other)),
    }
}

/// What the classic defragment did, and what it could not do.
pub fn defrag(r: &DefragReport, run_before: usize) -> String {
    let mut s = format!(
        "defragment: merged {} free arenas, moved {} descriptors; free arenas {} → {}, largest free {} → {}",
        r.merged,
        r.compacted,
        r.free_arenas_before,
        r.free_arenas_after,
        fmt_bytes(r.largest_free_before),
        fmt_bytes(r.largest_free_after)
    );
    if r.free_arenas_after > 1 && r.largest_free_after == run_before {
        s.push_str(
            "; nothing moved, so free arenas with live blocks between them stay apart (only `relocate` joins them)",
        );
    }
    s
}

/// What relocation did.
pub fn relocated(r: &RelocationReport) -> String {
    format!(
        "relocate: moved {} live blocks ({}) down; free arenas {} → {}, largest free {} → {}",
        r.moved,
        fmt_bytes(r.bytes_moved),
        r.free_arenas_before,
        r.free_arenas_after,
        fmt_bytes(r.largest_free_before),
        fmt_bytes(r.largest_free_after)
    )
}

/// What one bounded relocation pass did.
pub fn pass(max_moves: usize, plan: &PassPlan, r: &PassReport) -> String {
    let next = match (plan.progress(), plan.stopped) {
        // The walk reached the end: what is left depends on the room the
        // moves opened, which only the next plan knows.
        (PassProgress::Moving, PassStop::Walked) => {
            "every arena was looked at; run another pass to see whether anything is left to move"
        }
        // The playground's move buffer holds the limit's moves: full is
        // the limit.
        (PassProgress::Moving, PassStop::MoveLimit | PassStop::BufferFull) => {
            "stopped at the move limit: another pass can move more"
        }
        (PassProgress::Moving, PassStop::ByteLimit) => {
            "larger blocks stayed: moving them would pass this pass's byte limit"
        }
        (PassProgress::Moving, PassStop::NoSpareDescriptor) => {
            "stopped: the arena table has no spare descriptor for another destination"
        }
        (PassProgress::Moving, _) => "stopped early: another pass can move more",
        (PassProgress::Converged, _) => "converged: as compact as alignment and pins allow",
        (PassProgress::Blocked, _) => "blocked: nothing can move under this limit",
    };
    format!(
        "pass (at most {max_moves} moves): planned {}, carried out and committed {} ({}); free arenas {} → {}, largest free {} → {}; {next}",
        plan.moves,
        r.done,
        fmt_bytes(r.bytes_moved),
        r.free_arenas_before,
        r.free_arenas_after,
        fmt_bytes(r.largest_free_before),
        fmt_bytes(r.largest_free_after),
    )
}
