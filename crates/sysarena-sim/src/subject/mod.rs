//! The `Subject` trait: one allocator under test, driven by workloads and traces.
//!
//! Every allocator the simulator and the benchmarks compare — each sysarena
//! policy × coalescing mode and each peer crate — sits behind this one trait,
//! over its own region of the same size. Offsets are relative to the start of
//! the subject's region, so results are comparable across subjects.
//!
//! This module is the simulator's vocabulary, below everything else: the
//! trait and its [`Block`] and [`FreeStats`], the [`Region`] of real memory a
//! subject manages and the [`SubjectError`] of building one. The adapters
//! ([`peers`](crate::peers), [`sysarena_subject`](crate::sysarena_subject))
//! build on it, the [`registry`](crate::registry) names them, and the
//! [`replay`](crate::replay) drives them.

mod error;
mod region;

pub use self::error::SubjectError;
pub use self::region::{REGION_ALIGN, Region};

/// A live block as the driver knows it: where it starts and the layout it was
/// requested with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Offset of the block's first byte from the start of the subject's region.
    pub offset: usize,
    /// The size that was requested (not the subject's rounded size).
    pub size: usize,
    /// The alignment that was requested.
    pub align: usize,
}

/// The key of a block whose subject keeps none ([`Subject::alloc_keyed`]).
pub const NO_KEY: u32 = u32::MAX;

/// Free-space figures a subject reports about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreeStats {
    /// Bytes in free blocks.
    pub free_bytes: usize,
    /// The largest free block.
    pub largest_free: usize,
    /// Free blocks.
    pub free_blocks: usize,
}

impl FreeStats {
    /// The figures of a list of `(offset, size)` free extents (empty extents
    /// are not counted).
    pub fn from_extents(extents: &[(usize, usize)]) -> FreeStats {
        let mut stats = FreeStats::default();
        for &(_, len) in extents {
            if len > 0 {
                stats.free_bytes += len;
                stats.largest_free = stats.largest_free.max(len);
                stats.free_blocks += 1;
            }
        }
        stats
    }
}

/// Why a subject refused a request, for subjects that can tell
/// ([`Subject::last_refusal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No free block was large enough (at the requested alignment).
    NoFit,
    /// A free block fitted, but the subject's bookkeeping was full: for
    /// sysarena, the arena table had no spare descriptor for the split.
    NoDescriptor,
    /// The request is larger than the whole region: no state could serve it.
    TooLarge,
}

/// One allocator under test.
///
/// A driver that can keep four bytes per live block calls the keyed forms
/// ([`alloc_keyed`](Subject::alloc_keyed), [`free_keyed`](Subject::free_keyed),
/// [`realloc_keyed`](Subject::realloc_keyed)) and passes each block's key
/// back: a subject that wants one (sysarena: its allocation's hint) skips a
/// lookup; every other subject ignores it (the defaults call the plain
/// forms). The benchmarks and the replay do.
///
/// Implementations own their region. The driver (replay, workloads, benches)
/// keeps the set of live blocks and only ever passes back blocks this subject
/// returned and that are still live; that is the contract of the `unsafe`
/// methods, which lets peer adapters call their crates' unsafe free without a
/// checking map on the hot path.
pub trait Subject {
    /// A short, stable name used in tables and on the command line
    /// (e.g. `sysarena/first-fit/deferred`, `talc`, `rlsf`).
    fn name(&self) -> &str;

    /// Bytes in this subject's region.
    fn capacity(&self) -> usize;

    /// Allocates `size` bytes at `align` (a power of two); `None` when the
    /// subject reports out of memory. The block must lie inside the region
    /// and overlap no live block; a 0-byte request too gets a byte of its
    /// own (the replay counts every block as at least one byte, so a
    /// second 0-byte block at the same offset, or one at `capacity`, is a
    /// violation).
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize>;

    /// Frees a live block.
    ///
    /// # Safety
    /// `block` must have been returned by this subject's `alloc` or `realloc`
    /// (with the same size and align) and not freed or reallocated since.
    unsafe fn free(&mut self, block: Block);

    /// Resizes a live block to `new_size` bytes, keeping its alignment;
    /// returns the new offset, or `None` (the old block stays live) when the
    /// subject is out of memory.
    ///
    /// # Safety
    /// As for [`Subject::free`].
    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize>;

    /// [`alloc`](Subject::alloc), also returning a key the subject wants
    /// back when the block is freed or reallocated ([`NO_KEY`] if none).
    #[inline]
    fn alloc_keyed(&mut self, size: usize, align: usize) -> Option<(usize, u32)> {
        self.alloc(size, align).map(|offset| (offset, NO_KEY))
    }

    /// [`free`](Subject::free), given the key `alloc_keyed` or
    /// `realloc_keyed` returned with the block.
    ///
    /// # Safety
    /// As for [`Subject::free`].
    #[inline]
    unsafe fn free_keyed(&mut self, block: Block, key: u32) {
        let _ = key;
        // SAFETY: the caller's contract is `free`'s.
        unsafe { self.free(block) }
    }

    /// [`realloc`](Subject::realloc), given and returning the block's key.
    ///
    /// # Safety
    /// As for [`Subject::free`].
    #[inline]
    unsafe fn realloc_keyed(
        &mut self,
        block: Block,
        key: u32,
        new_size: usize,
    ) -> Option<(usize, u32)> {
        let _ = key;
        // SAFETY: the caller's contract is `realloc`'s.
        unsafe { self.realloc(block, new_size) }.map(|offset| (offset, NO_KEY))
    }

    /// The subject's own free extents `(offset, size)` in address order, when
    /// it can tell (sysarena can; most peers keep them private). `None` means
    /// the driver derives free space from the gaps between live blocks.
    fn free_extents(&self) -> Option<Vec<(usize, usize)>> {
        None
    }

    /// Free bytes, largest free block and free-block count as the subject
    /// sees them; by default derived from [`Subject::free_extents`]. A
    /// subject that keeps these figures (sysarena's `Stats`) overrides this
    /// so that sampling costs O(1) instead of a walk.
    fn free_stats(&self) -> Option<FreeStats> {
        self.free_extents().map(|e| FreeStats::from_extents(&e))
    }

    /// Why the last refused `alloc` or `realloc` was refused, when the
    /// subject can tell (sysarena can: its errors name the reason); `None`
    /// by default. The replay reads it right after a refusal.
    fn last_refusal(&self) -> Option<Refusal> {
        None
    }

    /// Whether every offset this subject returns is a multiple of the
    /// requested alignment. The replay rejects a misaligned block from a
    /// subject that claims to honour alignment, and counts misaligned blocks
    /// of one that does not (offset-allocator has no alignment at all).
    fn honours_alignment(&self) -> bool {
        true
    }

    /// The address offset 0 stands for when alignment is judged: a block
    /// at `offset` is aligned to `align` when `origin + offset` is a
    /// multiple of it. A subject over real memory that aligns real
    /// addresses (every peer) returns its region's base address, which is
    /// only page-aligned, so a 64 KiB-aligned block may sit at an offset
    /// that is not; sysarena aligns offsets and keeps the default, 0. The
    /// replay judges both its alignment check and its "could a gap have
    /// held it" analysis from here.
    fn alignment_origin(&self) -> usize {
        0
    }
}

impl std::fmt::Debug for dyn Subject + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}
