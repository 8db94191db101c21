//! Several regions in one [`Heap`](crate::Heap): the region table that maps
//! pointers to offsets and back, and the fences that keep the regions
//! apart in the manager's offsets.
//!
//! # The model
//! One [`ArenaManager`] manages one range of offsets, `[0, capacity)`. A
//! heap of several regions concatenates them in that range, in the order
//! they were added, and puts a *fence* — a permanent in-use arena that
//! stands for no memory — between each region and the next:
//!
//! ```text
//!  offsets:  [ region 0 ][fence][ region 1 ][fence][ region 2 ]
//!  memory:    0x8000_0000        0x2000_0000        0x9000_0000
//! ```
//!
//! Because a fence is never free, no free arena merges across a boundary
//! and no allocation spans two regions, whatever the policy or coalescing
//! mode; allocation searches every region at once (the manager's free
//! index holds all their free arenas). The fence's length is chosen so that
//! each region's first offset is congruent to its address modulo
//! [`MAX_REGION_ALIGN`] (relative to region 0), so the manager's alignment
//! arithmetic is right in every region. Fences take one descriptor each
//! and no memory; [`Heap::stats`](crate::Heap::stats) and the heap walk
//! leave them out.
//!
//! The region table is sorted twice: by offset (the order of addition)
//! and by address, so that turning an offset into a pointer and a pointer
//! into an offset are binary searches: O(log regions). Pointers into the
//! first region take a fast path that is as cheap as a one-region heap.

use core::alloc::Layout;
use core::fmt;

use super::Heap;
use crate::error::{AllocError, TableError};
use crate::manager::ArenaManager;
use crate::table::TableStorage;

/// The most regions one heap holds.
pub const MAX_REGIONS: usize = 16;

/// A region added to a heap that already has memory must start at a
/// multiple of this (the alignment of `malloc` blocks on 64-bit targets).
pub const REGION_ALIGN: usize = 16;

/// A region added to a heap that already has memory must hold at least
/// this many bytes (a heap's first region needs only one).
pub const MIN_REGION_LEN: usize = REGION_ALIGN;

/// In a heap of several regions, the largest alignment an allocation may
/// ask for: 2^48 on 64-bit targets, 2^24 on 32-bit ones. Each region's
/// offsets agree with its addresses modulo this, and the fences that make
/// them agree take offsets (never memory) of up to this size.
pub const MAX_REGION_ALIGN: usize = 1 << (usize::BITS * 3 / 4);

/// One region of a heap: `len` bytes of memory at address `base`, managed
/// as the offsets `[offset, offset + len)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// The region's first byte, as an address.
    pub base: usize,
    /// Bytes in the region.
    pub len: usize,
    /// The manager's offset of the region's first byte.
    pub offset: usize,
}

impl Region {
    /// One past the region's last byte, as an address (saturating at
    /// `usize::MAX` for made-up fields: a heap's own regions never wrap).
    ///
    /// # Time complexity
    /// O(1).
    pub const fn end(&self) -> usize {
        self.base.saturating_add(self.len)
    }
}

/// Why a region could not be added to a heap (or why a heap of several
/// regions refused an operation). Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionError {
    /// The region is shorter than [`MIN_REGION_LEN`] (or, as a heap's
    /// first region, empty).
    TooSmall {
        /// The length given.
        len: usize,
        /// The least length accepted.
        min: usize,
    },
    /// The region does not start at a multiple of [`REGION_ALIGN`].
    Misaligned {
        /// The address given.
        base: usize,
        /// The alignment required.
        align: usize,
    },
    /// `base + len` wraps around the address space.
    Wraps,
    /// The region overlaps one the heap already has.
    Overlaps {
        /// The region it overlaps.
        region: Region,
    },
    /// The heap already has [`MAX_REGIONS`] regions.
    TooMany {
        /// The most regions a heap holds.
        max: usize,
    },
    /// The manager refused to grow: its offsets would overflow, or its
    /// table has no spare descriptor for the region and its fence.
    Table(TableError),
    /// [`Heap::relocate`](crate::Heap::relocate) slides every block down
    /// through the manager's offsets, fences included: a heap of several
    /// regions cannot relocate.
    SeveralRegions,
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionError::TooSmall { len, min } => {
                write!(f, "a region of {len} bytes is too small (at least {min})")
            }
            RegionError::Misaligned { base, align } => {
                write!(f, "a region at {base:#x} is not aligned to {align} bytes")
            }
            RegionError::Wraps => f.write_str("the region wraps around the address space"),
            RegionError::Overlaps { region } => write!(
                f,
                "the region overlaps the heap's region {:#x}..{:#x}",
                region.base,
                region.end()
            ),
            RegionError::TooMany { max } => write!(f, "a heap holds at most {max} regions"),
            RegionError::Table(e) => write!(f, "cannot add the region: {e}"),
            RegionError::SeveralRegions => {
                f.write_str("a heap of several regions cannot relocate its blocks")
            }
        }
    }
}

impl core::error::Error for RegionError {}

impl From<TableError> for RegionError {
    fn from(e: TableError) -> Self {
        RegionError::Table(e)
    }
}

/// The region table: the regions in offset order, and their positions in
/// address order.
#[derive(Clone, Copy)]
pub(crate) struct Regions {
    /// Regions `0 .. count`, in offset order (the order they were added).
    list: [Region; MAX_REGIONS],
    /// Each region's first byte as a pointer (with the provenance of the
    /// memory the caller gave), in `list`'s order.
    ptrs: [*mut u8; MAX_REGIONS],
    /// Positions in `list`, in address order.
    by_addr: [u8; MAX_REGIONS],
    count: usize,
    /// Offsets taken by fences (they stand for no memory).
    fence_bytes: usize,
}

impl Regions {
    /// One region (possibly empty) at `ptr`.
    pub(crate) fn one(ptr: *mut u8, len: usize) -> Self {
        let base = ptr as usize;
        let mut list = [Region {
            base: 0,
            len: 0,
            offset: 0,
        }; MAX_REGIONS];
        list[0] = Region {
            base,
            len,
            offset: 0,
        };
        let mut ptrs = [core::ptr::null_mut(); MAX_REGIONS];
        ptrs[0] = ptr;
        Regions {
            list,
            ptrs,
            by_addr: [0; MAX_REGIONS],
            count: 1,
            fence_bytes: 0,
        }
    }

    /// The regions, in offset order.
    pub(crate) fn list(&self) -> &[Region] {
        &self.list[..self.count]
    }

    /// Fences between the regions.
    pub(crate) fn fences(&self) -> usize {
        self.count - 1
    }

    /// Offsets taken by fences.
    pub(crate) fn fence_bytes(&self) -> usize {
        self.fence_bytes
    }

    /// The region at the end of the manager's offsets.
    pub(crate) fn last_mut(&mut self) -> &mut Region {
        &mut self.list[self.count - 1]
    }

    /// The region holding address `addr`, by binary search over the
    /// address order. O(log regions).
    pub(crate) fn find_addr(&self, addr: usize) -> Option<&Region> {
        let order = &self.by_addr[..self.count];
        // The regions whose base is at most `addr` come first.
        let n = order.partition_point(|&i| self.list[i as usize].base <= addr);
        let r = &self.list[order[n.checked_sub(1)?] as usize];
        (addr - r.base < r.len).then_some(r)
    }

    /// The pointer to offset `offset` (inside a region, or at the end of
    /// the last one), by binary search over the offset order.
    /// O(log regions).
    pub(crate) fn ptr_at(&self, offset: usize) -> Option<*mut u8> {
        let list = self.list();
        let i = list
            .partition_point(|r| r.offset <= offset)
            .checked_sub(1)?;
        let delta = offset - list[i].offset;
        (delta <= list[i].len).then(|| self.ptrs[i].wrapping_add(delta))
    }

    /// A region `[base, base + len)` overlaps, if any. O(log regions).
    fn overlapping(&self, base: usize, len: usize) -> Option<Region> {
        let order = &self.by_addr[..self.count];
        let n = order.partition_point(|&i| self.list[i as usize].base < base + len);
        // Only the last region starting before our end can reach into us.
        let r = self.list[order[n.checked_sub(1)?] as usize];
        (r.len > 0 && r.end() > base).then_some(r)
    }

    /// Checks that `[base, base + len)` neither wraps nor overlaps a region.
    pub(crate) fn check_free(&self, base: usize, len: usize) -> Result<(), RegionError> {
        base.checked_add(len).ok_or(RegionError::Wraps)?;
        match self.overlapping(base, len) {
            Some(region) => Err(RegionError::Overlaps { region }),
            None => Ok(()),
        }
    }

    /// Checks a new region; `Ok` means [`push`](Self::push) may follow.
    pub(crate) fn check_new(&self, base: usize, len: usize) -> Result<(), RegionError> {
        if len < MIN_REGION_LEN {
            return Err(RegionError::TooSmall {
                len,
                min: MIN_REGION_LEN,
            });
        }
        if !base.is_multiple_of(REGION_ALIGN) {
            return Err(RegionError::Misaligned {
                base,
                align: REGION_ALIGN,
            });
        }
        self.check_free(base, len)?;
        if self.count == MAX_REGIONS {
            return Err(RegionError::TooMany { max: MAX_REGIONS });
        }
        Ok(())
    }

    /// Records a region at `ptr` added after a fence of `fence` offsets.
    /// O(regions).
    fn push(&mut self, ptr: *mut u8, region: Region, fence: usize) {
        let i = self.count;
        self.list[i] = region;
        self.ptrs[i] = ptr;
        let order = &self.by_addr[..i];
        let at = order.partition_point(|&j| self.list[j as usize].base < region.base);
        self.by_addr.copy_within(at..i, at + 1);
        self.by_addr[at] = i as u8;
        self.count += 1;
        self.fence_bytes += fence;
    }

    /// Replaces the only, empty region (a heap that had no memory yet).
    pub(crate) fn set_first(&mut self, ptr: *mut u8, len: usize) {
        *self = Regions::one(ptr, len);
    }

    /// Adds `[base, base + len)` to `m`'s offsets after a fence, and
    /// records it. `check_new` must have accepted it, and the heap must
    /// have memory (region 0 is not empty). On error nothing changed.
    ///
    /// *Time:* O(regions) plus a few manager operations.
    pub(crate) fn add<const N: usize, S: TableStorage>(
        &mut self,
        m: &mut ArenaManager<N, S>,
        ptr: *mut u8,
        len: usize,
    ) -> Result<(), RegionError> {
        let base = ptr as usize;
        // Cached arenas are outside the free index and `largest_free`: out
        // of the quick lists with them, so that the fence below is larger
        // than every free arena.
        m.flush_quick_lists();
        let s = m.stats();
        // The fence must be larger than every free arena, so that an
        // exact-size request can only land where `push_fence` wants it.
        let least = s.largest_free + 1;
        let end = m.capacity();
        // `origin + offset ≡ address (mod MAX_REGION_ALIGN)` in the new
        // region, as in region 0 (whose offset 0 is at `origin`).
        let want = base.wrapping_sub(m.origin());
        let pad = want.wrapping_sub(end.wrapping_add(least)) & (MAX_REGION_ALIGN - 1);
        let fence = least
            .checked_add(pad)
            .ok_or(RegionError::Table(TableError::CapacityOverflow))?;
        end.checked_add(fence)
            .and_then(|e| e.checked_add(len))
            .ok_or(RegionError::Table(TableError::CapacityOverflow))?;
        // A split, a grow and the region's own arena, at most.
        if s.spare_descriptors < 3 {
            return Err(RegionError::Table(TableError::NoSpareDescriptor));
        }
        push_fence(m, fence)?;
        let offset = end + fence;
        debug_assert_eq!(
            offset.wrapping_add(m.origin()) % MAX_REGION_ALIGN,
            base % MAX_REGION_ALIGN
        );
        m.grow(len)?;
        m.quick_lists_exclude(fence);
        self.push(ptr, Region { base, len, offset }, fence);
        Ok(())
    }
}

/// Appends an in-use arena of `size` offsets at the end of `m`'s offsets,
/// using only the manager's public operations. `size` must exceed every
/// free arena, `capacity + size` must not overflow, and two descriptors
/// must be spare: then every step below succeeds, and the free arenas end
/// as they began.
fn push_fence<const N: usize, S: TableStorage>(
    m: &mut ArenaManager<N, S>,
    size: usize,
) -> Result<(), TableError> {
    let end = m.capacity();
    let broken = || TableError::NoSpareDescriptor;
    // New offsets at the end: a new free arena if the last arena is in
    // use, else the last (free) arena grows.
    m.grow(size)?;
    // Only the new offsets' arena holds `size` bytes: an exact fit if it
    // is new, its front if the last arena was free and grew.
    let a = m.alloc(size, 1).map_err(|_| broken())?.offset();
    if a == end {
        return Ok(());
    }
    // The last arena was free from `a`. Take all of it (grow the block in
    // place into the free rest), give back its first `end - a` bytes'
    // worth at the front by shrinking it — which frees the tail
    // `[end, end + size)` — take that tail as the fence, and free the
    // block again: the free arena `[a, end)` is back as it was.
    let front = end - a;
    let r = m.realloc(a, front + size, 1).map_err(|_| broken())?;
    debug_assert!(r.moved_from.is_none() && r.offset == a);
    let r = m.realloc(a, front, 1).map_err(|_| broken())?;
    debug_assert!(r.moved_from.is_none());
    let f = m.alloc(size, 1).map_err(|_| broken())?.offset();
    debug_assert_eq!(f, end);
    m.free(a).map_err(|_| broken())?;
    // (A small `a` may have gone into a quick list: back to the free index.)
    m.flush_quick_lists();
    Ok(())
}

/// What several regions mean for a refused request (the heap's own
/// methods, here beside the fences they are about).
impl<const N: usize, S: TableStorage> Heap<N, S> {
    /// In a heap of several regions, the refusal of an alignment above
    /// [`MAX_REGION_ALIGN`] (the fences keep offsets and addresses
    /// congruent only modulo it). O(1).
    #[inline]
    pub(super) fn beyond_region_align(&self, layout: Layout) -> Option<AllocError> {
        (layout.align() > MAX_REGION_ALIGN && self.regions.fences() > 0).then(|| {
            AllocError::TooLarge {
                size: layout.size(),
                capacity: self.stats().capacity,
            }
        })
    }

    /// The error of a request the manager could not serve: in a heap of
    /// several regions, a [`OomReason::NoFit`](crate::OomReason::NoFit) for
    /// more than the largest region holds becomes
    /// [`AllocError::TooLarge`] (the manager counts the fences' offsets in
    /// its capacity, so it took the request for fragmentation), and the
    /// manager's own `TooLarge` gives the heap's capacity, without the
    /// fences. O(regions), on the error path only.
    #[cold]
    pub(super) fn beyond_every_region(&self, e: AllocError, layout: Layout) -> AllocError {
        if let AllocError::TooLarge { size, .. } = e
            && self.regions.fences() > 0
        {
            // The manager's capacity counts the fences: say the heap's.
            return AllocError::TooLarge {
                size,
                capacity: self.stats().capacity,
            };
        }
        let AllocError::OutOfMemory(crate::OomReason::NoFit { needed, .. }) = e else {
            return e;
        };
        let largest = self.regions.list().iter().map(|r| r.len).max().unwrap_or(0);
        if self.regions.fences() == 0 || needed <= largest {
            return e;
        }
        AllocError::TooLarge {
            size: layout.size(),
            capacity: self.stats().capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn test_manager(capacity: usize) -> ArenaManager<64> {
        ArenaManager::with_config(capacity, Config::fast())
    }

    #[test]
    fn a_fence_lands_at_the_end_whether_the_last_arena_is_free_or_not() {
        for busy_tail in [false, true] {
            let mut m = test_manager(1000);
            let a = m.alloc(600, 1).unwrap().offset();
            if busy_tail {
                m.alloc(400, 1).unwrap();
            }
            let before = m.stats();
            push_fence(&mut m, before.largest_free + 1).unwrap();
            m.check_invariants().unwrap();
            let last = m.arenas().last().unwrap();
            assert!(last.in_use && last.offset == 1000, "{last:?}");
            let after = m.stats();
            assert_eq!(after.free_bytes, before.free_bytes);
            assert_eq!(after.used_arenas, before.used_arenas + 1);
            m.free(a).unwrap();
        }
    }
}
