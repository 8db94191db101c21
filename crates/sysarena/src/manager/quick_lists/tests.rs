//! Unit tests of the quick lists ([`quick_lists`](super)).

extern crate std;
use std::vec;

use super::super::state::ArenaManager;
use super::{
    LARGE_PAUSE, LARGE_REQUEST, MAX_BACKOFF, MOVED_CACHE_LIMIT, NEAR_MIN, PAUSED, PAUSED_ALL,
    QUICK_LIMIT, QUICK_NEAR_SHARE,
};
use crate::config::Config;
use crate::error::FreeError;
use crate::table::Slot;

/// A moving `realloc` leaves a small old arena to the quick lists and
/// frees a large one for real (it merges with its free neighbour at
/// once), while `free` caches every size below the limit.
#[test]
fn a_moving_realloc_caches_only_a_small_old_arena() {
    let mut table = vec![Slot::EMPTY; 64];
    let mut m = ArenaManager::from_slice(&mut table, 1 << 20, Config::fast()).unwrap();
    let small = MOVED_CACHE_LIMIT - 8;
    let large = MOVED_CACHE_LIMIT;
    // Each block has a live right neighbour (it cannot grow in place)
    // and a free left neighbour once `gap` is freed.
    let gap = m.alloc(64, 8).unwrap().offset();
    let a = m.alloc(small, 8).unwrap().offset();
    m.alloc(8, 8).unwrap();
    let b = m.alloc(large, 8).unwrap().offset();
    m.alloc(8, 8).unwrap();
    let c = m.alloc(QUICK_LIMIT - 8, 8).unwrap().offset();
    m.alloc(8, 8).unwrap();
    m.free(gap).unwrap();
    let cached = m.stats().cached_bytes;
    assert_eq!(cached, 64, "free caches a small arena");

    let r = m.realloc(a, 2 * QUICK_LIMIT, 8).unwrap();
    assert_eq!(r.moved_from, Some(a));
    assert!(m.arena_at(a).unwrap().cached, "the small old arena waits");
    assert_eq!(m.stats().cached_bytes, cached + small);
    m.check_invariants().unwrap();

    let r = m.realloc(b, 2 * QUICK_LIMIT, 8).unwrap();
    assert_eq!(r.moved_from, Some(b));
    let old = m.arena_at(b).unwrap();
    assert!(!old.in_use && !old.cached, "the large old arena is free");
    assert_eq!(m.stats().cached_bytes, cached + small, "not cached");
    m.check_invariants().unwrap();

    m.free(c).unwrap();
    assert!(m.arena_at(c).unwrap().cached, "free caches below the limit");
    assert_eq!(m.stats().cached_bytes, cached + small + QUICK_LIMIT - 8);
    m.check_invariants().unwrap();
}

/// `count` allocations served by the quick lists: a 64-byte block
/// freed (cached) and allocated again, `count` times.
fn serve_from_the_lists(m: &mut ArenaManager<0, &mut [Slot]>, count: usize) {
    let mut b = m.alloc(64, 8).unwrap().offset();
    for _ in 0..count {
        let hits = m.quick.hits;
        m.free(b).unwrap();
        b = m.alloc(64, 8).unwrap().offset();
        assert_eq!(m.quick.hits, hits + 1, "served from the lists");
    }
}

/// A large request's flush that frees more arenas than the lists served
/// since the last one pauses the caching of every size, for twice as
/// many real frees at each such flush in a row; a flush that finds
/// caching paid ends the backoff.
#[test]
fn an_unpaid_flush_pauses_every_size_and_backs_off() {
    let large = LARGE_REQUEST + 904;
    let mut table = vec![Slot::EMPTY; 1024];
    let mut m = ArenaManager::from_slice(&mut table, 1 << 23, Config::fast()).unwrap();
    // Blocks to free for real during the pauses (256 + 512 frees).
    let mut spare: std::vec::Vec<usize> = (0..3 * LARGE_PAUSE as usize)
        .map(|_| m.alloc(24, 8).unwrap().offset())
        .collect();
    let large_flush = |m: &mut ArenaManager<0, &mut [Slot]>, paid: bool| {
        let blocks: std::vec::Vec<usize> = (0..16)
            .map(|_| {
                let a = m.alloc(large, 8).unwrap().offset();
                m.alloc(8, 8).unwrap();
                a
            })
            .collect();
        for a in blocks {
            m.free(a).unwrap();
        }
        if paid {
            serve_from_the_lists(m, 16);
        }
        assert_eq!(m.quick.bytes, 16 * large);
        m.alloc(LARGE_REQUEST, 8).unwrap();
        assert_eq!(m.quick.bytes, 0, "the large request flushed");
        assert_eq!(m.quick.hits, 0);
        // Miri interprets: the table is checked at the end only.
        if !cfg!(miri) {
            m.check_invariants().unwrap();
        }
    };
    // Ends a pause of `len` real frees, checking that nothing is cached
    // meanwhile and that caching resumes after.
    let sit_out =
        |m: &mut ArenaManager<0, &mut [Slot]>, spare: &mut std::vec::Vec<usize>, len: u32| {
            assert_eq!(m.quick.pause, len);
            for k in 0..len {
                m.free(spare.pop().unwrap()).unwrap();
                assert_eq!(m.quick.bytes, 0, "free {k} of the pause cached");
            }
            assert_eq!((m.quick.pause, m.quick.shrink), (0, 0), "the pause ended");
            let b = m.alloc(24, 8).unwrap().offset();
            m.free(b).unwrap();
            assert_eq!(m.quick.bytes, 24, "caching resumed");
            m.alloc(24, 8).unwrap();
            // Miri interprets: the table is checked at the end only.
            if !cfg!(miri) {
                m.check_invariants().unwrap();
            }
        };

    large_flush(&mut m, false);
    assert_eq!((m.quick.shrink, m.quick.backoff), (PAUSED_ALL, 1));
    sit_out(&mut m, &mut spare, LARGE_PAUSE);
    large_flush(&mut m, false);
    assert_eq!((m.quick.shrink, m.quick.backoff), (PAUSED_ALL, 2));
    sit_out(&mut m, &mut spare, 2 * LARGE_PAUSE);
    // Paid: back to the pause of large arenas alone.
    large_flush(&mut m, true);
    assert_eq!((m.quick.shrink, m.quick.backoff), (PAUSED, 0));
    assert_eq!(m.quick.pause, LARGE_PAUSE);
    // The backoff is bounded: at its most, an unpaid flush pauses for
    // 4,096 real frees (the docs' figure), and stays there.
    m.quick.backoff = MAX_BACKOFF;
    let b = m.alloc(24, 8).unwrap().offset();
    m.free(b).unwrap();
    assert_eq!(
        m.quick.bytes, 24,
        "small arenas wait while large ones pause"
    );
    m.large_flush();
    assert_eq!(
        (m.quick.shrink, m.quick.pause, m.quick.backoff),
        (PAUSED_ALL, 4096, MAX_BACKOFF)
    );
    m.check_invariants().unwrap();
}

/// A large request's flush pauses the caching of large arenas for
/// [`LARGE_PAUSE`] real frees; small ones are cached meanwhile.
#[test]
fn a_large_requests_flush_pauses_large_arenas_for_a_while() {
    let large = LARGE_REQUEST + 904;
    let n = LARGE_PAUSE as usize + 24;
    let mut table = vec![Slot::EMPTY; 4 * n];
    let mut m = ArenaManager::from_slice(&mut table, 1 << 23, Config::fast()).unwrap();
    let blocks = |m: &mut ArenaManager<0, &mut [Slot]>, count: usize, size: usize| {
        (0..count)
            .map(|_| {
                let a = m.alloc(size, 8).unwrap().offset();
                m.alloc(8, 8).unwrap();
                a
            })
            .collect::<std::vec::Vec<_>>()
    };
    // Enough cached for a flush before a request of `LARGE_REQUEST`.
    let first = blocks(&mut m, 16, large);
    for &a in &first {
        m.free(a).unwrap();
    }
    // Caching pays: the lists serve as many requests as the flush frees.
    serve_from_the_lists(&mut m, 16);
    assert_eq!(m.stats().cached_bytes, 16 * large);
    m.alloc(LARGE_REQUEST, 8).unwrap();
    assert_eq!(m.stats().cached_bytes, 0, "the large request flushed");
    assert_eq!(m.quick.shrink, PAUSED, "large arenas only");
    m.check_invariants().unwrap();

    let later = blocks(&mut m, n, large);
    let small = blocks(&mut m, 1, 64)[0];
    m.free(small).unwrap();
    assert_eq!(m.stats().cached_bytes, 64, "small arenas still wait");
    // `stats().cached_bytes` is `quick.bytes`; read directly, each step
    // is O(1) (`stats` reads the 1,024 stack lengths, which under Miri
    // made this test five minutes long).
    for (k, &a) in later.iter().enumerate() {
        let before = m.quick.bytes;
        m.free(a).unwrap();
        let cached = m.quick.bytes == before + large;
        assert_eq!(cached, k >= LARGE_PAUSE as usize, "free {k}");
        // Miri interprets: the table is checked at the end only.
        if !cfg!(miri) || k + 1 == later.len() {
            m.check_invariants().unwrap();
        }
    }
}

/// A request whose own stack is empty takes a cached arena at most a
/// `QUICK_NEAR_SHARE`-th larger and reports the arena's size; freed, the arena
/// goes back to its own size's stack. A farther size, or a request under
/// `NEAR_MIN`, is served by a split instead.
#[test]
fn a_near_size_serves_a_request_whose_stack_is_empty() {
    let mut table = vec![Slot::EMPTY; 64];
    let mut m = ArenaManager::from_slice(&mut table, 1 << 20, Config::fast()).unwrap();
    // Requests of 1,024 bytes may take arenas of up to 1,024 + 1,024 / 64.
    let need = 1024;
    let near = need + need / QUICK_NEAR_SHARE;
    let a = m.alloc(near, 8).unwrap();
    m.alloc(8, 8).unwrap();
    let small = m.alloc(NEAR_MIN, 8).unwrap();
    m.alloc(8, 8).unwrap();
    m.free(a.offset()).unwrap();
    m.free(small.offset()).unwrap();
    let cached = near + NEAR_MIN;
    assert_eq!(m.stats().cached_bytes, cached);

    // 1,016 bytes may take up to 1,031: the 1,040-byte arena stays.
    let far = m.alloc(need - 8, 8).unwrap();
    assert_ne!(far.offset(), a.offset());
    assert_eq!(far.size(), need - 8);
    // Under `NEAR_MIN` only the request's own stack counts.
    let below = m.alloc(NEAR_MIN - 8, 8).unwrap();
    assert_ne!(below.offset(), small.offset());
    assert_eq!(m.stats().cached_bytes, cached);
    m.check_invariants().unwrap();

    let b = m.alloc(need, 8).unwrap();
    assert_eq!(
        (b.offset(), b.size()),
        (a.offset(), near),
        "the nearby arena"
    );
    assert_eq!(m.stats().cached_bytes, NEAR_MIN);
    let requested = m.stats().requested_bytes;
    m.check_invariants().unwrap();

    m.free_with_hint(b.offset(), b.hint()).unwrap();
    assert_eq!(m.stats().requested_bytes, requested - need);
    assert_eq!(m.stats().cached_bytes, cached, "back in its own stack");
    assert_eq!(
        m.free(b.offset()),
        Err(FreeError::DoubleFree { offset: b.offset() })
    );
    let c = m.alloc(near, 8).unwrap();
    assert_eq!((c.offset(), c.size()), (a.offset(), near), "an exact hit");
    m.check_invariants().unwrap();
}

/// The near sizes: none below 520 bytes or for a size the lists do not
/// cache; above, the sizes up to a 64th larger, never past the last
/// stack.
#[test]
fn near_sizes_are_the_stacks_within_a_64th_above() {
    use super::quick_near_sizes;
    assert_eq!(quick_near_sizes(NEAR_MIN - 8), None);
    assert_eq!(quick_near_sizes(NEAR_MIN), Some(520..=520));
    assert_eq!(quick_near_sizes(1024), Some(1032..=1040));
    assert_eq!(quick_near_sizes(1030), None, "not a multiple of 8");
    assert_eq!(quick_near_sizes(4096), Some(4104..=4160));
    assert_eq!(quick_near_sizes(8176), Some(8184..=8184), "the last stack");
    assert_eq!(quick_near_sizes(8184), None);
    assert_eq!(quick_near_sizes(QUICK_LIMIT), None);
    for need in (8..QUICK_LIMIT).step_by(8) {
        if let Some(r) = quick_near_sizes(need) {
            assert!(*r.end() <= need + need / QUICK_NEAR_SHARE && *r.end() < QUICK_LIMIT);
        }
    }
}

#[test]
fn an_arena_serves_smaller_requests_when_it_is_one_of_their_near_sizes() {
    use super::{QUICK_GRANULE, quick_near_sizes, quick_serves_smaller};
    assert!(!quick_serves_smaller(0));
    assert!(!quick_serves_smaller(512));
    assert!(quick_serves_smaller(520), "512's near size");
    assert!(quick_serves_smaller(1040), "1,032's (and 1,024's)");
    assert!(!quick_serves_smaller(1036), "not a multiple of 8");
    assert!(!quick_serves_smaller(QUICK_LIMIT));
    // The same answer as asking every smaller request (only multiples of
    // the granule have near sizes), for every size the lists cache, and no
    // for every other. Under Miri, which interprets, the sizes around the
    // first near sizes and below the limit only.
    let checked =
        |size: &usize| !cfg!(miri) || (480..560).contains(size) || *size >= QUICK_LIMIT - 64;
    for size in (0..QUICK_LIMIT + 64).filter(checked) {
        let any = size.is_multiple_of(QUICK_GRANULE)
            && (QUICK_GRANULE..size)
                .step_by(QUICK_GRANULE)
                .any(|n| quick_near_sizes(n).is_some_and(|r| r.contains(&size)));
        assert_eq!(quick_serves_smaller(size), any, "size {size}");
    }
}
