//! The C ABI (`sysarena::capi`, feature `capi`) driven through its extern
//! "C" functions only: arbitrary sequences of `sysarena_alloc`,
//! `_alloc_aligned`, `_free`, `_realloc`, `_defragment`, `_stats`,
//! `_check`, `_extend` and `_strerror`, with `NULL`, pointers that are not
//! live blocks, double frees, bad alignments and huge sizes. Every call's
//! code (or `sysarena_last_error`) must be the documented one, live blocks
//! keep their bytes (each is filled with a pattern of its own), and after
//! every call the stats balance and `sysarena_check` passes.
//!
//! The C heap is one per process and `sysarena_init` succeeds once, so the
//! region is set up on the first input, and every input frees what it
//! allocated before returning: each input starts from an empty heap.
#![no_main]

use std::ffi::{CStr, c_void};
use std::sync::Once;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sysarena::capi::*;

/// Region bytes given to `sysarena_init`, then as much again to
/// `sysarena_extend`.
const HALF: usize = 64 << 10;

static INIT: Once = Once::new();
static mut REGION: (usize, usize) = (0, 0);

/// The region (start address, length), initialized once.
fn region() -> (usize, usize) {
    INIT.call_once(|| {
        // Before init every call reports SYSARENA_E_NOT_INITIALIZED.
        assert!(sysarena_alloc(16).is_null());
        assert_eq!(sysarena_last_error(), SYSARENA_E_NOT_INITIALIZED);
        assert_eq!(sysarena_defragment(), SYSARENA_E_NOT_INITIALIZED);
        assert_eq!(sysarena_check(), SYSARENA_E_NOT_INITIALIZED);
        let mut s = SysarenaStats::default();
        // SAFETY: `s` is writable.
        assert_eq!(
            unsafe { sysarena_stats(&mut s) },
            SYSARENA_E_NOT_INITIALIZED
        );
        let mut dummy = 0u8;
        let p = (&raw mut dummy).cast::<c_void>();
        // SAFETY: rejected before the heap exists.
        assert_eq!(unsafe { sysarena_free(p) }, SYSARENA_E_NOT_INITIALIZED);
        // SAFETY: rejected before the heap exists.
        assert!(unsafe { sysarena_realloc(p, 8) }.is_null());
        assert_eq!(sysarena_last_error(), SYSARENA_E_NOT_INITIALIZED);
        // SAFETY: rejected before the heap exists.
        assert_eq!(unsafe { sysarena_extend(p, 8) }, SYSARENA_E_NOT_INITIALIZED);

        let mem: &'static mut [u8] = Box::leak(vec![0u8; 2 * HALF].into_boxed_slice());
        let base = mem.as_mut_ptr().cast::<c_void>();
        // SAFETY: bad arguments are rejected before anything is kept.
        unsafe {
            assert_eq!(sysarena_init(std::ptr::null_mut(), HALF), SYSARENA_E_NULL);
            assert_eq!(sysarena_init(base, 0), SYSARENA_E_BAD_REGION);
            assert_eq!(sysarena_init(base, usize::MAX), SYSARENA_E_BAD_REGION);
        }
        // SAFETY: `mem` is leaked: ours for the life of the process.
        assert_eq!(unsafe { sysarena_init(base, HALF) }, SYSARENA_OK);
        // SAFETY: refused: already initialized.
        assert_eq!(
            unsafe { sysarena_init(base, HALF) },
            SYSARENA_E_ALREADY_INITIALIZED
        );
        // SAFETY: the second half of `mem`, right after the region's end.
        unsafe {
            assert_eq!(sysarena_extend(base, 16), SYSARENA_E_BAD_REGION);
            assert_eq!(
                sysarena_extend(base.wrapping_byte_add(HALF + 1), 16),
                SYSARENA_E_BAD_REGION
            );
            assert_eq!(
                sysarena_extend(base.wrapping_byte_add(HALF), HALF),
                SYSARENA_OK
            );
        }
        // SAFETY: written once, here, before any reader.
        unsafe { REGION = (base as usize, 2 * HALF) };
    });
    // SAFETY: written once inside `call_once`, which happens-before this.
    unsafe { REGION }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Size {
    Small(u16),
    Zero,
    NearMax(u8),
    Pow2(u8),
}

impl Size {
    fn get(self) -> usize {
        match self {
            Size::Small(n) => usize::from(n),
            Size::Zero => 0,
            Size::NearMax(n) => usize::MAX - usize::from(n),
            Size::Pow2(n) => 1 << (u32::from(n) % usize::BITS),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Bogus {
    Null,
    Inside {
        pick: u16,
        delta: u16,
    },
    Freed(u16),
    /// An offset from the region's start (inside or past it).
    Offset(u32),
    Below(u8),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(Size),
    AllocAligned { size: Size, align: usize },
    Free { pick: u16 },
    FreeBogus(Bogus),
    Realloc { pick: u16, size: Size },
    ReallocBogus { at: Bogus, size: u16 },
    ReallocNull(Size),
    Defragment,
    StatsNull,
    Extend { at: u32, len: u16 },
    Strerror(i32),
}

#[derive(Clone, Copy, Debug)]
struct Block {
    ptr: usize,
    /// Bytes filled with the pattern: what was requested (at least 1).
    len: usize,
    id: u64,
}

fn pat(id: u64, i: usize) -> u8 {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ (i as u8).wrapping_mul(31)
}

fn fill(b: Block) {
    // SAFETY: a live block of at least `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut(b.ptr as *mut u8, b.len) };
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = pat(b.id, i);
    }
}

fn verify(ptr: usize, id: u64, len: usize) {
    // SAFETY: a live block of at least `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
    for (i, &byte) in bytes.iter().enumerate() {
        assert_eq!(byte, pat(id, i), "block {id}: byte {i} lost");
    }
}

fn stats() -> SysarenaStats {
    let mut s = SysarenaStats::default();
    // SAFETY: `s` is writable.
    assert_eq!(unsafe { sysarena_stats(&mut s) }, SYSARENA_OK);
    s
}

/// The code a failed allocation of `size` bytes at `align` must leave.
fn check_alloc_failure(size: usize, align: usize, capacity: usize) {
    let code = sysarena_last_error();
    if !align.is_power_of_two() {
        assert_eq!(code, SYSARENA_E_BAD_ALIGN);
    } else if size > capacity {
        assert_eq!(code, SYSARENA_E_TOO_LARGE);
    } else {
        assert!(
            [
                SYSARENA_E_OUT_OF_MEMORY,
                SYSARENA_E_NO_DESCRIPTOR,
                SYSARENA_E_TOO_LARGE
            ]
            .contains(&code),
            "alloc({size}, {align}) failed with {code}"
        );
    }
}

struct World {
    live: Vec<Block>,
    freed: Vec<usize>,
    next_id: u64,
    start: usize,
    len: usize,
}

impl World {
    fn pick(&self, pick: u16) -> Option<usize> {
        (!self.live.is_empty()).then(|| usize::from(pick) % self.live.len())
    }

    fn is_live(&self, p: usize) -> bool {
        self.live.iter().any(|b| b.ptr == p)
    }

    fn bogus(&self, b: &Bogus) -> Option<usize> {
        let p = match *b {
            Bogus::Null => 0,
            Bogus::Inside { pick, delta } => {
                let b = self.live[self.pick(pick)?];
                if b.len < 2 {
                    return None;
                }
                b.ptr + 1 + usize::from(delta) % (b.len - 1)
            }
            Bogus::Freed(i) => *self.freed.get(usize::from(i) % self.freed.len().max(1))?,
            Bogus::Offset(n) => self.start.wrapping_add(n as usize),
            Bogus::Below(n) => self.start.wrapping_sub(usize::from(n) + 1),
        };
        (!self.is_live(p)).then_some(p)
    }

    fn add(&mut self, p: *mut c_void, size: usize, align: usize) {
        assert!(!p.is_null());
        let p = p as usize;
        assert_eq!(p % align, 0, "misaligned");
        assert!(
            p >= self.start && p + size.max(1) <= self.start + self.len,
            "outside the region"
        );
        assert!(!self.is_live(p), "handed out twice");
        self.next_id += 1;
        let b = Block {
            ptr: p,
            len: size.max(1),
            id: self.next_id,
        };
        fill(b);
        self.live.push(b);
    }

    fn check(&self) {
        assert_eq!(sysarena_check(), SYSARENA_OK);
        let s = stats();
        assert_eq!(s.capacity, self.len);
        assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
        assert_eq!(
            s.free_arenas + s.used_arenas + s.spare_descriptors,
            s.descriptors
        );
        assert_eq!(s.used_arenas, self.live.len());
        assert_eq!(
            s.requested_bytes,
            self.live.iter().map(|b| b.len).sum::<usize>()
        );
        let mut blocks = self.live.clone();
        blocks.sort_by_key(|b| b.ptr);
        let mut end = 0;
        for b in blocks {
            assert!(b.ptr >= end, "blocks overlap");
            end = b.ptr + b.len;
            verify(b.ptr, b.id, b.len);
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let (start, len) = region();
    let mut w = World {
        live: Vec::new(),
        freed: Vec::new(),
        next_id: 0,
        start,
        len,
    };
    w.check();
    for op in ops.iter().take(256) {
        let before = stats();
        let mut failed = false;
        match *op {
            Op::Alloc(size) => {
                let size = size.get();
                let p = sysarena_alloc(size);
                if p.is_null() {
                    check_alloc_failure(size, SYSARENA_MIN_ALIGN, len);
                    failed = true;
                } else {
                    w.add(p, size, SYSARENA_MIN_ALIGN);
                }
            }
            Op::AllocAligned { size, align } => {
                let size = size.get();
                // Keep the alignments that can succeed small.
                let align = if align.is_power_of_two() {
                    1 << (align.trailing_zeros() % 13)
                } else {
                    align
                };
                let p = sysarena_alloc_aligned(size, align);
                if p.is_null() {
                    check_alloc_failure(size, align, len);
                    failed = true;
                } else {
                    w.add(p, size, align);
                }
            }
            Op::Free { pick } => {
                if let Some(i) = w.pick(pick) {
                    let b = w.live.swap_remove(i);
                    // SAFETY: a live block, not used again.
                    assert_eq!(unsafe { sysarena_free(b.ptr as *mut c_void) }, SYSARENA_OK);
                    w.freed.push(b.ptr);
                }
            }
            Op::FreeBogus(ref b) => {
                if let Some(p) = w.bogus(b) {
                    // SAFETY: not a live block: refused without a change.
                    let rc = unsafe { sysarena_free(p as *mut c_void) };
                    if p == 0 {
                        assert_eq!(rc, SYSARENA_OK);
                    } else {
                        assert!(
                            rc == SYSARENA_E_INVALID_FREE || rc == SYSARENA_E_DOUBLE_FREE,
                            "free of a bogus pointer: {rc}"
                        );
                        assert_eq!(sysarena_last_error(), rc);
                        failed = true;
                    }
                }
            }
            Op::Realloc { pick, size } => {
                let Some(i) = w.pick(pick) else { continue };
                let size = size.get();
                let old = w.live[i];
                // SAFETY: a live block; dropped from the shadow on success.
                let p = unsafe { sysarena_realloc(old.ptr as *mut c_void, size) };
                if p.is_null() {
                    check_alloc_failure(size, SYSARENA_MIN_ALIGN, len);
                    failed = true;
                } else {
                    w.live.swap_remove(i);
                    if p as usize != old.ptr {
                        w.freed.push(old.ptr);
                    }
                    verify(p as usize, old.id, old.len.min(size.max(1)));
                    w.add(p, size, SYSARENA_MIN_ALIGN);
                }
            }
            Op::ReallocBogus { ref at, size } => {
                if let Some(p) = w.bogus(at) {
                    // SAFETY: not a live block (or NULL: an allocation).
                    let q = unsafe { sysarena_realloc(p as *mut c_void, usize::from(size)) };
                    if p == 0 {
                        if q.is_null() {
                            check_alloc_failure(usize::from(size), SYSARENA_MIN_ALIGN, len);
                            failed = true;
                        } else {
                            w.add(q, usize::from(size), SYSARENA_MIN_ALIGN);
                        }
                    } else {
                        assert!(q.is_null(), "realloc of a bogus pointer succeeded");
                        let rc = sysarena_last_error();
                        assert!(
                            rc == SYSARENA_E_INVALID_FREE || rc == SYSARENA_E_DOUBLE_FREE,
                            "realloc of a bogus pointer: {rc}"
                        );
                        failed = true;
                    }
                }
            }
            Op::ReallocNull(size) => {
                let size = size.get();
                // SAFETY: NULL: an allocation.
                let p = unsafe { sysarena_realloc(std::ptr::null_mut(), size) };
                if p.is_null() {
                    check_alloc_failure(size, SYSARENA_MIN_ALIGN, len);
                    failed = true;
                } else {
                    w.add(p, size, SYSARENA_MIN_ALIGN);
                }
            }
            Op::Defragment => assert!(sysarena_defragment() >= 0),
            Op::StatsNull => {
                // SAFETY: NULL is refused.
                assert_eq!(
                    unsafe { sysarena_stats(std::ptr::null_mut()) },
                    SYSARENA_E_NULL
                );
                assert_eq!(sysarena_last_error(), SYSARENA_E_NULL);
            }
            Op::Extend { at, len: n } => {
                // Anything but the region's end is refused (the end itself
                // would grow the process-wide region for good).
                let p = start.wrapping_add(at as usize);
                if p != start + len {
                    // SAFETY: refused: not at the region's end.
                    let rc = unsafe { sysarena_extend(p as *mut c_void, usize::from(n)) };
                    let expect = if p == 0 {
                        SYSARENA_E_NULL
                    } else {
                        SYSARENA_E_BAD_REGION
                    };
                    if !(n == 0 && rc == SYSARENA_OK) {
                        assert_eq!(rc, expect);
                        failed = true;
                    }
                }
            }
            Op::Strerror(code) => {
                // SAFETY: a static NUL-terminated string.
                let s = unsafe { CStr::from_ptr(sysarena_strerror(code)) };
                assert!(!s.to_bytes().is_empty());
            }
        }
        if failed {
            let after = stats();
            assert_eq!(
                (
                    after.free_bytes,
                    after.in_use_bytes,
                    after.requested_bytes,
                    after.used_arenas
                ),
                (
                    before.free_bytes,
                    before.in_use_bytes,
                    before.requested_bytes,
                    before.used_arenas
                ),
                "a failed call changed the heap"
            );
        }
        w.check();
        if w.freed.len() > 64 {
            w.freed.drain(..32);
        }
    }
    // Leave the heap empty for the next input.
    for b in w.live.drain(..) {
        // SAFETY: live blocks, not used again.
        assert_eq!(unsafe { sysarena_free(b.ptr as *mut c_void) }, SYSARENA_OK);
    }
    let s = stats();
    assert_eq!(
        (s.free_bytes, s.used_arenas, s.requested_bytes),
        (s.capacity, 0, 0)
    );
    assert_eq!(sysarena_check(), SYSARENA_OK);
});
