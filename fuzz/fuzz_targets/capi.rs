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
//!
//! The same input also drives a fresh *block* (`sysarena_block_*`: a
//! capacity of offsets over a simulated device buffer, tables in memory
//! the input owns): allocations with alignment, frees, bogus handles and
//! blocks, out-of-range offsets, NULL arguments, heap walks, and
//! defragmentation passes whose moves are carried out with `memmove` —
//! done, skipped, cancelled or given a bogus status. After every call the
//! block's invariants hold, every live allocation keeps its bytes at its
//! offset, and a failed call changed nothing.
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
    Block(BlockOp),
}

#[derive(Arbitrary, Debug)]
enum BlockOp {
    Alloc {
        size: Size,
        align_log2: u8,
    },
    Free {
        pick: u16,
    },
    FreeBogus(u64),
    OffsetBogus(u64),
    ArenaAt(u32),
    Walk {
        cap: u8,
    },
    Null(u8),
    BadBlock(u8),
    Pass {
        max_moves: u8,
        max_bytes: u16,
        cap: u8,
        verdicts: Vec<u8>,
    },
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

/// Offsets a block manages in the fuzz target.
const BLOCK_CAP: usize = 16 << 10;
/// A pass's move capacity.
const BLOCK_MOVES: usize = 16;

/// A block over a simulated device buffer, and the shadow of its live
/// allocations: (handle, size, pattern id).
struct BlockWorld {
    _mem: Vec<u64>,
    dev: Vec<u8>,
    b: *mut SysarenaBlock,
    live: Vec<(u64, usize, u64)>,
    freed: Vec<u64>,
    next_id: u64,
}

fn block_stats(b: *mut SysarenaBlock) -> SysarenaStats {
    let mut s = SysarenaStats::default();
    // SAFETY: a live block; `s` is writable.
    assert_eq!(unsafe { sysarena_block_stats(b, &mut s) }, SYSARENA_OK);
    s
}

impl BlockWorld {
    fn new() -> Self {
        let need = sysarena_block_size_for(64, 48, BLOCK_MOVES);
        assert!(need > 0);
        assert_eq!(sysarena_block_size_for(64, 0, BLOCK_MOVES), 0);
        assert_eq!(sysarena_block_size_for(usize::MAX, 48, 1), 0);
        let mut mem = vec![0u64; need / 8 + 1];
        let p = mem.as_mut_ptr().cast::<c_void>();
        let mut b = std::ptr::null_mut();
        // SAFETY: `mem` is ours and outlives the block; bad calls first.
        unsafe {
            assert_eq!(
                sysarena_block_init(p, 64, BLOCK_CAP, 64, 48, BLOCK_MOVES, &mut b),
                SYSARENA_E_BAD_ARGUMENT
            );
            assert_eq!(
                sysarena_block_init(
                    p,
                    need,
                    BLOCK_CAP,
                    64,
                    48,
                    BLOCK_MOVES,
                    std::ptr::null_mut()
                ),
                SYSARENA_E_NULL
            );
            assert_eq!(
                sysarena_block_init(p, need, BLOCK_CAP, 64, 48, BLOCK_MOVES, &mut b),
                SYSARENA_OK
            );
        }
        BlockWorld {
            _mem: mem,
            dev: vec![0; BLOCK_CAP],
            b,
            live: Vec::new(),
            freed: Vec::new(),
            next_id: 0,
        }
    }

    fn offset(&self, h: u64) -> usize {
        let mut off = usize::MAX;
        // SAFETY: a live block; `off` is writable.
        assert_eq!(
            unsafe { sysarena_block_offset(self.b, h, &mut off) },
            SYSARENA_OK
        );
        off
    }

    fn check(&self) {
        // SAFETY: a live block.
        assert_eq!(unsafe { sysarena_block_check(self.b) }, SYSARENA_OK);
        let s = block_stats(self.b);
        assert_eq!(s.capacity, BLOCK_CAP);
        assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
        assert_eq!(s.used_arenas, self.live.len());
        let mut spans = Vec::new();
        for &(h, size, id) in &self.live {
            let off = self.offset(h);
            assert!(off + size <= BLOCK_CAP);
            verify(self.dev[off..].as_ptr() as usize, id, size);
            spans.push((off, size));
        }
        spans.sort_unstable();
        assert!(
            spans.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0),
            "overlap"
        );
    }

    fn pick(&self, pick: u16) -> Option<usize> {
        (!self.live.is_empty()).then(|| usize::from(pick) % self.live.len())
    }

    fn bogus(&self, h: u64) -> bool {
        !self.live.iter().any(|l| l.0 == h)
    }

    /// Runs one op; returns whether it was refused (and so changed nothing).
    fn run(&mut self, op: &BlockOp) -> bool {
        let b = self.b;
        let (mut h, mut off) = (0u64, 0usize);
        match *op {
            BlockOp::Alloc { size, align_log2 } => {
                let size = size.get();
                let align = 1usize << (align_log2 % 14);
                // SAFETY: a live block; out pointers writable.
                let rc = unsafe { sysarena_block_alloc(b, size, align, &mut h, &mut off) };
                if rc != SYSARENA_OK {
                    assert!(
                        [
                            SYSARENA_E_TOO_LARGE,
                            SYSARENA_E_OUT_OF_MEMORY,
                            SYSARENA_E_NO_DESCRIPTOR,
                            SYSARENA_E_NO_HANDLE
                        ]
                        .contains(&rc),
                        "block alloc({size}, {align}): {rc}"
                    );
                    return true;
                }
                assert_eq!(off % align, 0);
                assert_eq!(self.offset(h), off);
                self.next_id += 1;
                let bytes = &mut self.dev[off..off + size];
                for (i, x) in bytes.iter_mut().enumerate() {
                    *x = pat(self.next_id, i);
                }
                self.live.push((h, size, self.next_id));
            }
            BlockOp::Free { pick } => {
                if let Some(i) = self.pick(pick) {
                    let (h, ..) = self.live[i];
                    // SAFETY: a live block.
                    let mut rc = unsafe { sysarena_block_free(b, h) };
                    if rc == SYSARENA_E_PINNED {
                        // A cancelled move pinned it: unpinned, it frees.
                        // SAFETY: a live block and handle.
                        assert_eq!(unsafe { sysarena_block_unpin(b, h) }, SYSARENA_OK);
                        // SAFETY: as above.
                        assert_eq!(
                            unsafe { sysarena_block_unpin(b, h) },
                            SYSARENA_E_BAD_ARGUMENT
                        );
                        // SAFETY: as above.
                        rc = unsafe { sysarena_block_free(b, h) };
                    }
                    assert_eq!(rc, SYSARENA_OK);
                    self.live.swap_remove(i);
                    self.freed.push(h);
                    // SAFETY: as above; a stale handle is refused.
                    assert_eq!(
                        unsafe { sysarena_block_free(b, h) },
                        SYSARENA_E_STALE_HANDLE
                    );
                }
            }
            BlockOp::FreeBogus(h) => {
                let h = if h % 2 == 0 {
                    *self.freed.last().unwrap_or(&h)
                } else {
                    h
                };
                if self.bogus(h) {
                    // SAFETY: a live block; the handle is refused.
                    assert_eq!(
                        unsafe { sysarena_block_free(b, h) },
                        SYSARENA_E_STALE_HANDLE
                    );
                    return true;
                }
            }
            BlockOp::OffsetBogus(h) => {
                if self.bogus(h) {
                    // SAFETY: a live block; the handle is refused.
                    let rc = unsafe { sysarena_block_offset(b, h, &mut off) };
                    assert_eq!(rc, SYSARENA_E_STALE_HANDLE);
                    return true;
                }
            }
            BlockOp::ArenaAt(at) => {
                let at = at as usize;
                let mut a = SysarenaArena::default();
                // SAFETY: a live block; `a` writable.
                let rc = unsafe { sysarena_block_arena_at(b, at, &mut a) };
                if at >= BLOCK_CAP {
                    assert_eq!(rc, SYSARENA_E_BAD_ARGUMENT);
                } else if rc == SYSARENA_OK {
                    assert_eq!(a.offset, at);
                } else {
                    assert_eq!(rc, SYSARENA_E_BAD_ARGUMENT);
                }
                return rc != SYSARENA_OK;
            }
            BlockOp::Walk { cap } => {
                let mut out = vec![SysarenaArena::default(); usize::from(cap)];
                let mut n = 0;
                // SAFETY: a live block; `cap` entries writable.
                let rc = unsafe { sysarena_block_walk(b, out.as_mut_ptr(), out.len(), &mut n) };
                assert_eq!(rc, SYSARENA_OK);
                let s = block_stats(b);
                assert_eq!(n, s.free_arenas + s.used_arenas);
                if n <= out.len() {
                    let total: usize = out[..n].iter().map(|a| a.size).sum();
                    assert_eq!(total, BLOCK_CAP);
                }
            }
            BlockOp::Null(which) => {
                let mut s = SysarenaStats::default();
                let null = std::ptr::null_mut();
                // SAFETY: every call gets a NULL where a pointer is needed.
                let rc = unsafe {
                    match which % 6 {
                        0 => sysarena_block_alloc(null, 8, 8, &mut h, &mut off),
                        1 => sysarena_block_alloc(b, 8, 8, std::ptr::null_mut(), &mut off),
                        2 => sysarena_block_free(null, 1),
                        3 => sysarena_block_stats(b, std::ptr::null_mut()),
                        4 => sysarena_block_stats(null, &mut s),
                        _ => sysarena_block_walk(b, std::ptr::null_mut(), 4, &mut off),
                    }
                };
                assert_eq!(rc, SYSARENA_E_NULL);
                return true;
            }
            BlockOp::BadBlock(fill) => {
                // Memory as large as a block, holding no block.
                let words = sysarena_block_size_for(64, 48, BLOCK_MOVES) / 8 + 2;
                let mut fake = vec![u64::from(fill) * 0x0101_0101_0101_0101; words];
                let fake = fake.as_mut_ptr().cast::<SysarenaBlock>();
                // SAFETY: not a block: refused by its magic number.
                assert_eq!(unsafe { sysarena_block_check(fake) }, SYSARENA_E_BAD_BLOCK);
                // SAFETY: as above, misaligned.
                let odd = fake.cast::<u8>().wrapping_add(1).cast::<SysarenaBlock>();
                assert_eq!(unsafe { sysarena_block_free(odd, 1) }, SYSARENA_E_BAD_BLOCK);
                return true;
            }
            BlockOp::Pass {
                max_moves,
                max_bytes,
                cap,
                ref verdicts,
            } => {
                let mut moves = [SysarenaMove::default(); BLOCK_MOVES];
                let cap = usize::from(cap) % (BLOCK_MOVES + 1);
                let mut plan = SysarenaPassPlan::default();
                // SAFETY: a live block; `cap` entries writable.
                let rc = unsafe {
                    sysarena_block_begin_pass(
                        b,
                        usize::from(max_moves),
                        usize::from(max_bytes),
                        moves.as_mut_ptr(),
                        cap,
                        &mut plan,
                    )
                };
                assert_eq!(rc, SYSARENA_OK);
                assert!(plan.moves <= cap);
                // SAFETY: a pass is open.
                let again = unsafe {
                    sysarena_block_begin_pass(b, 0, 0, moves.as_mut_ptr(), cap, &mut plan)
                };
                assert_eq!(again, SYSARENA_E_PASS_ACTIVE);
                let mut done = Vec::new();
                for (i, mv) in moves[..plan.moves].iter_mut().enumerate() {
                    assert!(mv.to < mv.from && mv.from + mv.len <= BLOCK_CAP);
                    mv.status = match verdicts.get(i).copied().unwrap_or(1) % 5 {
                        0 => SYSARENA_MOVE_PENDING,
                        1 | 4 => SYSARENA_MOVE_DONE,
                        2 => SYSARENA_MOVE_SKIPPED,
                        _ => SYSARENA_MOVE_CANCELLED,
                    };
                    if mv.status == SYSARENA_MOVE_DONE {
                        self.dev.copy_within(mv.from..mv.from + mv.len, mv.to);
                        done.push(mv.handle);
                    }
                }
                if let Some(first) = moves[..plan.moves].first_mut() {
                    let keep = first.status;
                    first.status = 99;
                    // SAFETY: refused: a bogus status; the pass stays open.
                    let rc = unsafe {
                        sysarena_block_end_pass(b, moves.as_ptr(), plan.moves, std::ptr::null_mut())
                    };
                    assert_eq!(rc, SYSARENA_E_BAD_ARGUMENT);
                    moves[0].status = keep;
                }
                let mut report = SysarenaPassReport::default();
                // SAFETY: the moves as planned and marked.
                let rc =
                    unsafe { sysarena_block_end_pass(b, moves.as_ptr(), plan.moves, &mut report) };
                assert_eq!(rc, SYSARENA_OK);
                assert_eq!(report.done, done.len());
                assert_eq!(report.rejected, 0);
                // SAFETY: no pass is open now.
                let rc = unsafe { sysarena_block_end_pass(b, moves.as_ptr(), 0, &mut report) };
                assert_eq!(rc, SYSARENA_E_NO_PASS);
            }
        }
        false
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut blk = BlockWorld::new();
    blk.check();
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
            Op::Block(ref op) => {
                let before = block_stats(blk.b);
                if blk.run(op) {
                    let after = block_stats(blk.b);
                    assert_eq!(
                        (after.free_bytes, after.used_arenas, after.requested_bytes),
                        (
                            before.free_bytes,
                            before.used_arenas,
                            before.requested_bytes
                        ),
                        "a refused block call changed the block"
                    );
                }
                blk.check();
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
