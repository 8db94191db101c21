//! The chunks slot states live in: 4 KiB state blocks, each cut into
//! chunks of one size (`UNIT << order`), handed out lowest block first
//! under the shard's lock — a slab layer in miniature (the parent
//! module's docs). Here: the blocks' records, the shard's lists of blocks
//! with a free chunk ([`Chunks`]), and taking and giving back a chunk.

use super::super::area;
use super::super::class::slots;
use super::{BLOCK, States, UNIT};

/// Chunk sizes: `UNIT << order` for order `0 .. ORDERS` (64 B … 4 KiB).
const ORDERS: usize = 7;
/// No block.
const NO_BLOCK: u32 = u32::MAX;

/// What the shard's lock guards about a state block.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct BlockMeta {
    /// Chunks handed out (bit `i`: chunk `i`).
    used: u64,
    /// Links in its order's list of blocks with a free chunk, or in the
    /// stack of free blocks.
    next: u32,
    prev: u32,
    order: u32,
    _pad: u32,
}

/// The order of class `c`'s chunks.
pub(super) fn order_of(c: usize) -> usize {
    let n = slots(c).max(UNIT);
    (n.next_power_of_two() / UNIT).trailing_zeros() as usize
}

impl States {
    /// Whether block `b` (never used: the next above every block taken so
    /// far) is mapped, growing the shard's area for it if need be
    /// ([`area::mapped`]). Under the shard's lock. O(1).
    #[inline]
    fn block_mapped(&self, b: usize) -> bool {
        // SAFETY: the area of this shard ends with these blocks (`growing`
        // set `area` only where `area::set` recorded one), and the caller
        // holds the shard's lock: these states are the shard's slab's,
        // reached only through it (`can_assign` and `alloc_chunk`, as the
        // layer carves a page).
        self.area == 0 || unsafe { area::mapped(self.area - 1, self.blocks, b, self.pages) }
    }

    /// Whether [`assign`](Self::assign) would find a chunk for a page of
    /// class `c`: a block of its chunk size with one free, a block given
    /// back, or a block never used that is mapped (growing the shard's
    /// area for it, under a limit: `area.rs`). Under the shard's lock.
    /// O(1).
    pub(crate) fn can_assign(&self, chunks: &Chunks, c: usize) -> bool {
        self.source(chunks, order_of(c)).is_some()
    }

    /// Where the next chunk of order `order` comes from, in the order
    /// [`alloc_chunk`](Self::alloc_chunk) takes them: a block of that
    /// chunk size with one free, else a block given back, else the lowest
    /// block never used, if it is mapped. O(1).
    fn source(&self, chunks: &Chunks, order: usize) -> Option<Source> {
        if chunks.lists[order] != NO_BLOCK {
            Some(Source::Partial(chunks.lists[order] as usize))
        } else if chunks.free != NO_BLOCK {
            Some(Source::Returned(chunks.free as usize))
        } else if chunks.bump < self.pages && self.block_mapped(chunks.bump) {
            Some(Source::Fresh(chunks.bump))
        } else {
            None
        }
    }

    fn meta(&mut self, b: usize) -> &mut BlockMeta {
        debug_assert!(b < self.pages);
        // SAFETY: `b < pages` blocks are this part's; only the owning
        // shard, under its lock (it holds `&mut self`), touches their
        // records.
        unsafe { &mut *self.metas.add(b.min(self.pages - 1)) }
    }

    fn unlink(&mut self, chunks: &mut Chunks, order: usize, b: usize) {
        let (next, prev) = {
            let m = self.meta(b);
            (m.next, m.prev)
        };
        if prev == NO_BLOCK {
            chunks.lists[order] = next;
        } else {
            self.meta(prev as usize).next = next;
        }
        if next != NO_BLOCK {
            self.meta(next as usize).prev = prev;
        }
    }

    fn push(&mut self, chunks: &mut Chunks, order: usize, b: usize) {
        let head = chunks.lists[order];
        if head != NO_BLOCK {
            self.meta(head as usize).prev = b as u32;
        }
        let m = self.meta(b);
        m.next = head;
        m.prev = NO_BLOCK;
        chunks.lists[order] = b as u32;
    }

    pub(super) fn alloc_chunk(&mut self, chunks: &mut Chunks, order: usize) -> Option<usize> {
        let per_block = BLOCK / (UNIT << order);
        let full = if per_block == 64 {
            u64::MAX
        } else {
            (1u64 << per_block) - 1
        };
        let b = match self.source(chunks, order)? {
            Source::Partial(b) => b,
            Source::Returned(b) => {
                chunks.free = self.meta(b).next;
                self.start_block(chunks, order, b);
                b
            }
            Source::Fresh(b) => {
                chunks.bump += 1;
                self.start_block(chunks, order, b);
                b
            }
        };
        let m = self.meta(b);
        let i = (!m.used).trailing_zeros() as usize;
        m.used |= 1u64 << i;
        if m.used == full {
            self.unlink(chunks, order, b);
        }
        chunks.used += 1;
        Some(self.blocks as usize + b * BLOCK + i * (UNIT << order))
    }

    /// Block `b`, free until now, holds chunks of order `order` from now:
    /// none used, at the head of that order's list.
    fn start_block(&mut self, chunks: &mut Chunks, order: usize, b: usize) {
        *self.meta(b) = BlockMeta {
            used: 0,
            next: NO_BLOCK,
            prev: NO_BLOCK,
            order: order as u32,
            _pad: 0,
        };
        self.push(chunks, order, b);
    }

    pub(super) fn free_chunk(&mut self, chunks: &mut Chunks, addr: usize) {
        let off = addr.wrapping_sub(self.blocks as usize);
        let b = off / BLOCK;
        if b >= self.pages {
            return;
        }
        let (order, was_full, now) = {
            let m = self.meta(b);
            let order = (m.order as usize).min(ORDERS - 1);
            let per_block = BLOCK / (UNIT << order);
            let was_full = m.used.count_ones() as usize == per_block;
            m.used &= !(1u64 << ((off % BLOCK) / (UNIT << order)));
            (order, was_full, m.used)
        };
        chunks.used -= 1;
        if now == 0 {
            if !was_full {
                self.unlink(chunks, order, b);
            }
            self.meta(b).next = chunks.free;
            chunks.free = b as u32;
        } else if was_full {
            self.push(chunks, order, b);
        }
    }
}

/// Where a chunk comes from ([`States::source`]): a block index.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// A block of the chunk's size with a chunk free.
    Partial(usize),
    /// A block given back (every chunk free), on the free list.
    Returned(usize),
    /// The lowest block never used (mapped).
    Fresh(usize),
}

/// A shard's chunk allocator (guarded by its lock): the lists of blocks
/// with a free chunk, per chunk size; the stack of free blocks; how many
/// blocks were ever used.
#[derive(Debug)]
pub(crate) struct Chunks {
    lists: [u32; ORDERS],
    free: u32,
    bump: usize,
    /// Chunks in use.
    pub(crate) used: usize,
}

impl Chunks {
    /// No block used yet.
    pub(crate) const EMPTY: Chunks = Chunks {
        lists: [NO_BLOCK; ORDERS],
        free: NO_BLOCK,
        bump: 0,
        used: 0,
    };
}
