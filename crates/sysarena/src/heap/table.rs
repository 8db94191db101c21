//! A heap's arena table grows:
//! [`ArenaManager::grow_table`](crate::ArenaManager::grow_table) and
//! [`ArenaManager::grow_empty_table`](crate::ArenaManager::grow_empty_table)
//! through the [`Heap`], which hands out no `&mut` to its manager (its
//! offsets and regions must stay in step).

use super::Heap;
use crate::error::TableError;
use crate::table::TableStorage;

impl<S: TableStorage> Heap<0, S> {
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
