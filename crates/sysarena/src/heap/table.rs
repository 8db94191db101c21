//! A heap's arena table grows:
//! [`ArenaManager::grow_table`](crate::ArenaManager::grow_table) and
//! [`ArenaManager::grow_empty_table`](crate::ArenaManager::grow_empty_table)
//! through the [`Heap`], which hands out no `&mut` to its manager (its
//! offsets and regions must stay in step).

use core::mem::MaybeUninit;
use core::ptr::NonNull;

use super::Heap;
use super::regions::Regions;
use crate::config::Config;
use crate::error::TableError;
use crate::manager::ArenaManager;
use crate::table::TableStorage;

impl<S: TableStorage> Heap<0, S> {
    /// A heap over `len` bytes at `base` whose arena table is `table`, made
    /// directly in `place`: [`Heap::from_manager`] over
    /// [`ArenaManager::from_empty_table`], without a heap-sized value on
    /// the stack ([`ArenaManager::init_empty_table`] says why that
    /// matters). A `len` of 0 makes a heap with no memory yet, for
    /// [`grow`](Heap::grow) or [`add_region`](Heap::add_region).
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use core::mem::MaybeUninit;
    /// use core::ptr::NonNull;
    /// use sysarena::{Config, Heap, Slot};
    ///
    /// let mut mem = vec![0u64; 512];
    /// let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
    /// let table = vec![Slot::EMPTY; 64].into_boxed_slice();
    /// let mut place = Box::new(MaybeUninit::uninit());
    /// // SAFETY: every slot is `Slot::EMPTY`; `mem` (4 KiB) outlives the
    /// // heap and nothing else touches it.
    /// let heap = unsafe { Heap::init_empty_table(&mut place, base, 4096, table, Config::fast()) }
    ///     .unwrap();
    /// let p = heap.alloc(Layout::from_size_align(100, 8).unwrap()).unwrap();
    /// // SAFETY: a live block of this heap, not used again.
    /// unsafe { heap.free(p).unwrap() };
    /// assert_eq!(heap.stats().free_bytes, 4096);
    /// // A `MaybeUninit` never drops what it holds (here, the table).
    /// // SAFETY: made above, not used again.
    /// unsafe { place.assume_init_drop() };
    /// ```
    ///
    /// # Errors
    /// As [`ArenaManager::from_empty_table`]. `place` is then not a heap.
    ///
    /// # Safety
    /// As [`Heap::from_manager`] for `len` bytes at `base`, and as
    /// [`ArenaManager::from_empty_table`] for `table`. A heap already in
    /// `place` is overwritten without being dropped.
    ///
    /// # Time complexity
    /// As [`ArenaManager::init_empty_table`]: O(1) for a slice or a boxed
    /// table, plus the inline list heads and region list (a fixed size).
    pub unsafe fn init_empty_table(
        place: &mut MaybeUninit<Self>,
        base: NonNull<u8>,
        len: usize,
        table: S,
        config: Config,
    ) -> Result<&mut Self, TableError> {
        let heap = place.as_mut_ptr();
        // SAFETY: `heap` points to `place`, ours for the call; each field is
        // written through a raw pointer before the heap is read. The
        // manager's place is its field, a `MaybeUninit` of the same layout.
        // `init_empty_table`'s contract is the caller's.
        unsafe {
            let manager =
                &mut *(&raw mut (*heap).manager).cast::<MaybeUninit<ArenaManager<0, S>>>();
            let manager = ArenaManager::init_empty_table(manager, table, len, config)?;
            // Nothing is allocated in a new manager: cannot fail.
            let _ = manager.set_origin(base.as_ptr() as usize);
            (&raw mut (*heap).base).write(base);
            (&raw mut (*heap).first_len).write(len);
            (&raw mut (*heap).regions).write(Regions::one(base.as_ptr(), len));
            Ok(place.assume_init_mut())
        }
    }

    /// Moves the heap's arena table into `larger`, a longer storage of
    /// slots, and gives the old one back: [`ArenaManager::grow_table`](crate::ArenaManager::grow_table).
    /// No block moves; every hint stays right.
    ///
    /// # Errors
    /// As [`ArenaManager::grow_table`](crate::ArenaManager::grow_table); nothing changes then.
    ///
    /// # Time complexity
    /// As [`ArenaManager::grow_table`](crate::ArenaManager::grow_table): O(len of `larger`).
    pub fn grow_table(&mut self, larger: S) -> Result<S, TableError> {
        self.manager.grow_table(larger)
    }

    /// [`grow_table`](Self::grow_table) without writing the new slots:
    /// [`ArenaManager::grow_empty_table`](crate::ArenaManager::grow_empty_table).
    ///
    /// # Errors
    /// As [`ArenaManager::grow_table`](crate::ArenaManager::grow_table); nothing changes then.
    ///
    /// # Safety
    /// As [`ArenaManager::grow_empty_table`](crate::ArenaManager::grow_empty_table): every slot of `larger` must
    /// be [`Slot::EMPTY`](crate::Slot::EMPTY) or all zero bytes.
    ///
    /// # Time complexity
    /// As [`ArenaManager::grow_empty_table`](crate::ArenaManager::grow_empty_table): O(descriptors ever taken +
    /// the offset map's buckets).
    pub unsafe fn grow_empty_table(&mut self, larger: S) -> Result<S, TableError> {
        // SAFETY: forwarded to the caller.
        unsafe { self.manager.grow_empty_table(larger) }
    }
}

/// A heap whose table grows keeps its blocks and their bytes.
#[cfg(all(test, feature = "alloc"))]
mod tests {
    use crate::{Config, Heap, Slot};
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;
    use core::alloc::Layout;
    use core::ptr::NonNull;

    #[test]
    fn blocks_keep_their_bytes_across_a_growth() {
        let mut mem = vec![0u64; 1024];
        let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
        let table: Box<[Slot]> = vec![Slot::EMPTY; 3].into_boxed_slice();
        let manager = crate::ArenaManager::from_table(table, 8192, Config::fast()).unwrap();
        // SAFETY: `mem` is 8 KiB of ours, aligned for u64, outliving the
        // heap, used by nothing else; nothing is allocated in `manager`.
        let mut heap = unsafe { Heap::from_manager(base, manager) };
        let layout = Layout::from_size_align(64, 8).unwrap();
        let mut blocks: Vec<NonNull<u8>> = Vec::new();
        while let Ok(p) = heap.alloc(layout) {
            // SAFETY: a fresh block of 64 bytes.
            unsafe { p.as_ptr().write_bytes(blocks.len() as u8, 64) };
            blocks.push(p);
        }
        let old = heap
            .grow_table(vec![Slot::EMPTY; 64].into_boxed_slice())
            .unwrap();
        assert_eq!(old.len(), 3);
        while let Ok(p) = heap.alloc(layout) {
            // SAFETY: as above.
            unsafe { p.as_ptr().write_bytes(blocks.len() as u8, 64) };
            blocks.push(p);
        }
        assert!(blocks.len() > 3);
        for (k, p) in blocks.iter().enumerate() {
            // SAFETY: a live block of 64 bytes, written above.
            let bytes = unsafe { core::slice::from_raw_parts(p.as_ptr(), 64) };
            assert!(bytes.iter().all(|&b| b == k as u8));
            // SAFETY: a live block of this heap, freed once.
            unsafe { heap.free(*p) }.unwrap();
        }
        heap.manager().check_invariants().unwrap();
        assert_eq!(heap.stats().used_arenas, 0);
    }
}
