//! The sysarena subject's tests: its names and variants, the keyed calls
//! against the plain ones, and the copies a moving realloc makes.

use super::*;

#[test]
fn names_carry_the_variant() {
    for (name, defrag, by_offset, no_map) in [
        ("sysarena/segregated-fit/immediate", false, false, false),
        (
            "sysarena/segregated-fit/immediate+offsets",
            false,
            true,
            false,
        ),
        (
            "sysarena/segregated-fit/immediate+nomap",
            false,
            false,
            true,
        ),
        ("sysarena/first-fit/deferred+defrag", true, false, false),
        (
            "sysarena/first-fit/deferred+offsets+defrag",
            true,
            true,
            false,
        ),
    ] {
        let (config, v) = parse_name(name).unwrap();
        assert_eq!(
            (v.defrag, v.by_offset, v.no_map),
            (defrag, by_offset, no_map),
            "{name}"
        );
        let s = SysarenaSubject::with_config(config, 1 << 16)
            .unwrap()
            .variant(v);
        assert_eq!(s.name(), name, "the name round-trips");
    }
    for refused in [
        "sysarena/first-fit/deferred+defrag+offsets",
        "sysarena/first-fit/deferred+nomap+defrag",
        "sysarena/first-fit/deferred+nomap+offsets",
        "sysarena/first-fit/deferred+offsets+nomap",
    ] {
        assert!(parse_name(refused).is_none(), "{refused}");
    }
}

/// The keyed calls, with hints, by offset or without a map, do what the
/// plain ones do — and so do plain calls without a map (a walk finds
/// each block's hint).
#[test]
fn keyed_calls_match_the_plain_ones() {
    for (by_offset, no_map, plain_no_map) in [
        (false, false, false),
        (true, false, false),
        (false, true, true),
    ] {
        let mut plain = SysarenaSubject::with_config(Config::fast(), 1 << 16)
            .unwrap()
            .without_offset_map(plain_no_map);
        let mut keyed = SysarenaSubject::with_config(Config::fast(), 1 << 16)
            .unwrap()
            .by_offset(by_offset)
            .without_offset_map(no_map);
        let mut live = Vec::new();
        for k in 0..200usize {
            let size = 8 + (k * 37) % 300;
            let (a, key) = keyed.alloc_keyed(size, 8).unwrap();
            assert_eq!(plain.alloc(size, 8), Some(a));
            live.push((
                Block {
                    offset: a,
                    size,
                    align: 8,
                },
                key,
            ));
            if k % 3 == 2 {
                let (b, key) = live.swap_remove(k % live.len());
                // SAFETY: `b` is live in both subjects.
                unsafe {
                    keyed.free_keyed(b, key);
                    plain.free(b);
                }
            }
            if k % 5 == 4 {
                let i = k % live.len();
                let (b, key) = live[i];
                // SAFETY: `b` is live in both subjects.
                let r = unsafe { keyed.realloc_keyed(b, key, size * 2) }.unwrap();
                // SAFETY: as above.
                let p = unsafe { plain.realloc(b, size * 2) };
                assert_eq!(p, Some(r.0));
                live[i] = (
                    Block {
                        offset: r.0,
                        size: size * 2,
                        align: 8,
                    },
                    r.1,
                );
            }
            assert_eq!(
                keyed.manager().arenas().collect::<Vec<_>>(),
                plain.manager().arenas().collect::<Vec<_>>()
            );
        }
        for (b, key) in live.drain(..) {
            // SAFETY: `b` is live in both subjects.
            unsafe {
                keyed.free_keyed(b, key);
                plain.free(b);
            }
        }
        assert_eq!(keyed.manager().stats().used_arenas, 0);
        assert_eq!(plain.manager().stats().used_arenas, 0);
        keyed.manager().check_invariants().unwrap();
    }
}

#[test]
fn with_memory_copies_a_moving_realloc() {
    let mut s = SysarenaSubject::with_config(Config::fast(), 1 << 16)
        .unwrap()
        .with_memory()
        .unwrap();
    let a = s.alloc(64, 16).unwrap();
    let _wall = s.alloc(64, 16).unwrap();
    let base = s.memory.as_ref().unwrap().base().as_ptr();
    // SAFETY: `a` is a live 64-byte block inside the region.
    unsafe { base.add(a).write_bytes(0xab, 64) };
    let block = Block {
        offset: a,
        size: 64,
        align: 16,
    };
    // SAFETY: `block` is live.
    let b = unsafe { s.realloc(block, 4096) }.unwrap();
    assert_ne!(a, b, "the neighbour forces a move");
    // SAFETY: `b` is a live block of at least 64 bytes.
    let moved = unsafe { std::slice::from_raw_parts(base.add(b), 64) };
    assert!(moved.iter().all(|&x| x == 0xab));
}
