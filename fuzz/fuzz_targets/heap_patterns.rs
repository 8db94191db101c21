//! `Heap` on real memory: random alloc / free / realloc / defragment /
//! relocate / grow / moves into a longer table, plus frees and reallocs of
//! pointers that are not live blocks. Every allocation is filled, over its
//! whole usable size, with a pattern derived from its own id; after every
//! step every live block's pattern is verified, which detects overlapping
//! blocks and lost bytes.
//! A realloc must keep the first `min(old usable size, new size)` bytes; a
//! relocation must move every block's bytes with it.
//!
//! The fast model's quick lists (`Config::fast()`, drawn half of the time):
//! every allocation's range is checked against every live block's (a
//! cached block handed out twice would overlap its first owner); a block
//! freed into a quick list must refuse a second free with `DoubleFree` and
//! change nothing; after every step `in_use_bytes + free_bytes ==
//! capacity`, `cached_bytes <= free_bytes` and the cached arenas add up to
//! what `Stats` says (`sysarena_fuzz::quick`, the fuzz crate's library). Requests of the exact sizes the
//! lists cache, and requests for all the free bytes (which force a flush),
//! are part of the mix.
#![no_main]

use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::NonNull;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sysarena::{AllocError, ArenaManager, FreeError, Heap, ReallocError, Slot};
use sysarena_fuzz::quick::{self, Snapshot};

#[derive(Arbitrary, Debug)]
enum Bogus {
    /// Inside a live block, past its first byte.
    Inside { pick: u16, delta: u16 },
    /// A block freed earlier (a double free unless handed out again).
    Freed(u16),
    /// Any offset from the base (inside or past the region).
    Offset(u16),
    /// Just below the region.
    Below(u8),
    /// Far away from the region.
    Far(u8),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc {
        size: u16,
        align_log2: u8,
    },
    Free {
        pick: u16,
    },
    FreeBogus(Bogus),
    Realloc {
        pick: u16,
        size: u16,
        align_log2: u8,
    },
    ReallocBogus {
        at: Bogus,
        size: u16,
    },
    Defragment,
    Relocate,
    Grow(u16),
    /// Scribble a fresh pattern over a live block (as a program would).
    Rewrite {
        pick: u16,
    },
    /// An allocation of a size the quick lists cache.
    AllocQuick {
        granules: u16,
        align_log2: u8,
    },
    /// All the free bytes but `slack`: fits only as one arena, so with
    /// arenas cached it forces a flush (and maybe still fails).
    AllocAllFree {
        slack: u8,
    },
    /// Move the heap's table into one `more + 1` descriptors longer
    /// (`Heap::grow_table`): no block moves, every byte stays.
    GrowTable {
        more: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Policy index; with the top bit set, the fast model.
    policy: u8,
    immediate: bool,
    /// Region bytes, at most 16 KiB.
    capacity: u16,
    /// 1..=64 descriptors.
    descriptors: u8,
    /// Bytes the region starts past an aligned address (0..64).
    shift: u8,
    ops: Vec<Op>,
}

/// Room after the region for `grow`.
const GROW_ROOM: usize = 8 << 10;

/// The byte at position `i` of block `id`'s pattern.
fn pat(id: u64, i: usize) -> u8 {
    let x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 29)).to_le_bytes()[7] ^ (i as u8)
}

#[derive(Clone, Copy, Debug)]
struct Block {
    id: u64,
    /// Bytes written with the pattern: the usable size.
    len: usize,
    align: usize,
}

struct World {
    heap: Heap<0, Box<[Slot]>>,
    /// The block's first byte's offset from the region base -> block.
    live: BTreeMap<usize, Block>,
    /// Offsets freed since the last relocation.
    freed: Vec<usize>,
    next_id: u64,
    /// Bytes from the region base to the end of the backing buffer.
    room: usize,
}

impl World {
    fn ptr(&self, off: usize) -> *mut u8 {
        self.heap.base().as_ptr().wrapping_add(off)
    }

    fn write(&self, off: usize, b: Block) {
        // SAFETY: `off .. off + len` is a live block of the heap, inside the
        // buffer; nothing else refers to it.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.ptr(off), b.len) };
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = pat(b.id, i);
        }
    }

    fn verify(&self, off: usize, id: u64, len: usize) {
        // SAFETY: `off .. off + len` lies in the buffer (a live block, or
        // what is left of one).
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr(off), len) };
        for (i, &byte) in bytes.iter().enumerate() {
            assert_eq!(
                byte,
                pat(id, i),
                "block {id} at offset {off}: byte {i} lost"
            );
        }
    }

    fn verify_all(&self) {
        let m = self.heap.manager();
        m.check_invariants().unwrap();
        let s = self.heap.stats();
        assert_eq!(s.in_use_bytes + s.free_bytes, s.capacity);
        let cached = quick::check_quick_lists(m);
        for (&off, &size) in &cached {
            // No live block reaches into a cached arena.
            if let Some((&o, b)) = self.live.range(..off + size).next_back() {
                assert!(o + b.len <= off, "a live block over a cached arena");
            }
        }
        assert_eq!(s.used_arenas, self.live.len());
        let mut end = 0;
        for (&off, b) in &self.live {
            assert!(off >= end, "blocks overlap");
            end = off + b.len;
            let p = NonNull::new(self.ptr(off)).unwrap();
            assert_eq!(p.as_ptr() as usize % b.align, 0, "misaligned");
            assert_eq!(self.heap.usable_size(p), Some(b.len));
            self.verify(off, b.id, b.len);
        }
        assert!(end <= s.capacity);
    }

    fn pick(&self, pick: u16) -> Option<usize> {
        if self.live.is_empty() {
            return None;
        }
        self.live
            .keys()
            .nth(usize::from(pick) % self.live.len())
            .copied()
    }

    /// A pointer that is not a live block, as an offset from the base
    /// (wrapping).
    fn bogus(&self, b: &Bogus) -> Option<usize> {
        let off = match *b {
            Bogus::Inside { pick, delta } => {
                let off = self.pick(pick)?;
                let len = self.live[&off].len;
                if len < 2 {
                    return None;
                }
                off + 1 + usize::from(delta) % (len - 1)
            }
            Bogus::Freed(i) => *self.freed.get(usize::from(i) % self.freed.len().max(1))?,
            Bogus::Offset(n) => usize::from(n),
            Bogus::Below(n) => (usize::from(n) + 1).wrapping_neg(),
            Bogus::Far(n) => (usize::from(n) + 1) << 32,
        };
        (!self.live.contains_key(&off)).then_some(off)
    }

    /// Allocates `layout`; whether it was refused.
    fn alloc(&mut self, layout: Layout) -> bool {
        let cached_before = self.heap.stats().cached_arenas;
        match self.heap.alloc(layout) {
            Ok(p) => {
                let off = p.as_ptr() as usize - self.heap.base().as_ptr() as usize;
                let b = self.new_block(off, layout.align());
                assert!(b.len >= layout.size().max(1));
                false
            }
            Err(e) => {
                if matches!(e, AllocError::OutOfMemory(_)) {
                    let after = self.heap.stats().cached_arenas;
                    quick::assert_flushed_before_oom(cached_before, after, "alloc");
                }
                true
            }
        }
    }

    fn nonnull(&self, off: usize) -> Option<NonNull<u8>> {
        NonNull::new(self.ptr(off))
    }

    fn new_block(&mut self, off: usize, align: usize) -> Block {
        let p = NonNull::new(self.ptr(off)).unwrap();
        let len = self.heap.usable_size(p).expect("a new block is live");
        // Its whole range is clear of every live block: a block handed out
        // twice (from a quick list or anywhere) would overlap its owner.
        if let Some((&o, b)) = self.live.range(..off + len).next_back() {
            assert!(
                o + b.len <= off,
                "[{off}, {}) handed out over live block [{o}, {})",
                off + len,
                o + b.len
            );
        }
        if let Some((&o, _)) = self.live.range(off..).next() {
            assert!(o >= off + len, "handed out over a live block at {o}");
        }
        self.next_id += 1;
        let b = Block {
            id: self.next_id,
            len,
            align,
        };
        self.write(off, b);
        assert!(self.live.insert(off, b).is_none(), "handed out twice");
        b
    }
}

fuzz_target!(|input: Input| {
    let config = quick::config_from(input.policy, input.immediate);
    let capacity = usize::from(input.capacity) % (16 << 10) + 1;
    let descriptors = usize::from(input.descriptors % 64) + 1;
    let shift = usize::from(input.shift % 64);
    // u64 elements: the buffer starts 8-aligned, so `shift` decides the
    // region's alignment.
    let mut buffer = vec![0u64; (shift + capacity + GROW_ROOM).div_ceil(8)];
    let room = buffer.len() * 8 - shift;
    let base = NonNull::new(buffer.as_mut_ptr().cast::<u8>().wrapping_add(shift)).unwrap();
    let table = vec![Slot::EMPTY; descriptors].into_boxed_slice();
    let manager = ArenaManager::from_table(table, capacity, config).unwrap();
    // SAFETY: `base .. base + room` lies in `buffer`, which outlives the
    // heap (dropped at the end of this closure, after `world`) and is used
    // only through it.
    let heap = unsafe { Heap::from_manager(base, manager) };
    let mut w = World {
        heap,
        live: BTreeMap::new(),
        freed: Vec::new(),
        next_id: 0,
        room,
    };

    for op in input.ops.iter().take(256) {
        let before = w.heap.stats();
        let snap = Snapshot::of(w.heap.manager());
        let mut failed = false;
        // Whether a failure may have flushed the quick lists (a refused
        // allocation or relocation; never a refused free).
        let mut may_flush = false;
        match *op {
            Op::Alloc { size, align_log2 } => {
                let align = 1usize << (align_log2 % 12);
                let layout = Layout::from_size_align(usize::from(size), align).unwrap();
                failed = w.alloc(layout);
                may_flush = true;
            }
            Op::AllocQuick {
                granules,
                align_log2,
            } => {
                let size = quick::quick_size(granules);
                let layout = Layout::from_size_align(size, 1 << (align_log2 % 5)).unwrap();
                failed = w.alloc(layout);
                may_flush = true;
            }
            Op::AllocAllFree { slack } => {
                let size = before.free_bytes.saturating_sub(usize::from(slack));
                if size > 0 {
                    failed = w.alloc(Layout::from_size_align(size, 1).unwrap());
                    may_flush = true;
                }
            }
            Op::Free { pick } => {
                if let Some(off) = w.pick(pick) {
                    let p = w.nonnull(off).unwrap();
                    // SAFETY: a live block, not used after this.
                    unsafe { w.heap.free(p) }.unwrap();
                    w.live.remove(&off);
                    w.freed.push(off);
                    if w.heap.manager().arena_at(off).is_some_and(|a| a.cached) {
                        // Freed into a quick list: a second free is a
                        // double free and changes nothing.
                        let once = Snapshot::of(w.heap.manager());
                        // SAFETY: not a live block: the heap must refuse it
                        // without touching memory.
                        let e = unsafe { w.heap.free(p) }.unwrap_err();
                        assert!(matches!(e, FreeError::DoubleFree { .. }), "{e:?}");
                        let now = Snapshot::of(w.heap.manager());
                        quick::assert_same_or_flushed(&once, &now, false, "double free");
                    }
                }
            }
            Op::FreeBogus(ref b) => {
                if let Some(off) = w.bogus(b)
                    && let Some(p) = w.nonnull(off)
                {
                    let cached = off < before.capacity
                        && w.heap.manager().arena_at(off).is_some_and(|a| a.cached);
                    // SAFETY: not a live block: the heap must refuse it
                    // without touching memory.
                    let e = unsafe { w.heap.free(p) }.unwrap_err();
                    if off >= before.capacity {
                        assert!(matches!(e, FreeError::OutOfRegion { .. }), "{e:?}");
                    }
                    if cached {
                        assert!(matches!(e, FreeError::DoubleFree { .. }), "{e:?}");
                    }
                    failed = true;
                }
            }
            Op::Realloc {
                pick,
                size,
                align_log2,
            } => {
                let Some(off) = w.pick(pick) else { continue };
                let old = w.live[&off];
                let align = 1usize << (align_log2 % 12);
                let layout = Layout::from_size_align(usize::from(size), align).unwrap();
                let p = w.nonnull(off).unwrap();
                // SAFETY: a live block; its old pointer is dropped on success.
                match unsafe { w.heap.realloc(p, layout) } {
                    Ok(new) => {
                        let new_off = new.as_ptr() as usize - base.as_ptr() as usize;
                        w.live.remove(&off);
                        if new_off != off {
                            w.freed.push(off);
                        }
                        // The bytes kept: the old usable size, up to the new
                        // size.
                        w.verify(new_off, old.id, old.len.min(usize::from(size).max(1)));
                        let b = w.new_block(new_off, align);
                        assert!(b.len >= usize::from(size).max(1));
                    }
                    Err(ReallocError::Alloc(e)) => {
                        if matches!(e, AllocError::OutOfMemory(_)) {
                            let after = w.heap.stats().cached_arenas;
                            quick::assert_flushed_before_oom(
                                before.cached_arenas,
                                after,
                                "realloc",
                            );
                        }
                        failed = true;
                        may_flush = true;
                    }
                    Err(e @ ReallocError::Free(_)) => panic!("realloc of a live block: {e:?}"),
                }
            }
            Op::ReallocBogus { ref at, size } => {
                if let Some(off) = w.bogus(at)
                    && let Some(p) = w.nonnull(off)
                {
                    let layout = Layout::from_size_align(usize::from(size), 1).unwrap();
                    // SAFETY: not a live block: the heap must refuse it
                    // without touching memory.
                    let r = unsafe { w.heap.realloc(p, layout) };
                    assert!(matches!(r, Err(ReallocError::Free(_))), "{r:?}");
                    failed = true;
                }
            }
            Op::Defragment => {
                w.heap.defragment();
                assert_eq!(w.heap.stats().cached_arenas, 0, "defragment flushes first");
            }
            Op::Relocate => {
                let mut moves = Vec::new();
                // SAFETY: no reference into the heap is alive; the shadow's
                // offsets are updated from the moves below.
                let r = unsafe { w.heap.relocate(|from, to, len| moves.push((from, to, len))) };
                match r {
                    Ok(report) => {
                        assert_eq!(w.heap.stats().cached_arenas, 0, "relocate flushes first");
                        assert_eq!(report.moved, moves.len());
                        let mut moved = BTreeMap::new();
                        for (from, to, len) in moves {
                            let from = from.as_ptr() as usize - base.as_ptr() as usize;
                            let to = to.as_ptr() as usize - base.as_ptr() as usize;
                            assert!(to < from);
                            let b = w.live.remove(&from).expect("a move names a live block");
                            assert_eq!(b.len, len);
                            assert!(moved.insert(to, b).is_none());
                        }
                        w.live.append(&mut moved);
                        w.freed.clear();
                    }
                    Err(_) => {
                        failed = true;
                        may_flush = true;
                    }
                }
            }
            Op::Grow(n) => {
                let n = usize::from(n) % 1024;
                if before.capacity + n <= w.room {
                    // SAFETY: the `n` bytes after the region lie in `buffer`.
                    if unsafe { w.heap.grow(n) }.is_err() {
                        assert_eq!(before.spare_descriptors, 0);
                        failed = true;
                    }
                }
            }
            Op::GrowTable { more } => {
                let current = before.descriptors;
                if current < 4096 {
                    let len = current + 1 + usize::from(more);
                    let larger = vec![Slot::EMPTY; len].into_boxed_slice();
                    let old = w.heap.grow_table(larger).expect("a longer table is taken");
                    assert_eq!(old.len(), current);
                    let after = w.heap.stats();
                    assert_eq!(after.descriptors, len);
                    assert_eq!(
                        after.spare_descriptors,
                        before.spare_descriptors + len - current
                    );
                    assert_eq!(
                        (after.used_arenas, after.free_arenas, after.in_use_bytes),
                        (before.used_arenas, before.free_arenas, before.in_use_bytes)
                    );
                }
            }
            Op::Rewrite { pick } => {
                if let Some(off) = w.pick(pick) {
                    let b = w.live.remove(&off).unwrap();
                    w.new_block(off, b.align);
                }
            }
        }
        if failed {
            let now = Snapshot::of(w.heap.manager());
            quick::assert_same_or_flushed(&snap, &now, may_flush, "failed op");
        }
        w.verify_all();
        if w.freed.len() > 64 {
            w.freed.drain(..32);
        }
    }
    drop(w);
    drop(buffer);
});
