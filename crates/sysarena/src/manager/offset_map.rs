//! The offset map: how `free(offset)` finds its arena without a search (a
//! hash threaded through the table).

use super::state::ArenaManager;
use crate::table::{NIL, State, TableStorage};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// The bucket of `offset`: a position below `hash_len`, which is at most
    /// the table's length (a valid [`slot`](Self::slot) index).
    #[inline]
    fn bucket_of(&self, offset: usize) -> u32 {
        let h = (offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        ((h * self.hash_len as u64) >> 32) as u32
    }

    /// Keeps the offset map's load at most about one entry per bucket: runs
    /// before an operation that may take up to two fresh descriptors, never
    /// in the middle of one (a rehash then would see half-made arenas).
    #[inline]
    pub(super) fn reserve_hash(&mut self) {
        if self.fresh >= self.hash_grow_at {
            let len = self.slots.as_ref().len() as u32;
            self.grow_hash(len);
        }
    }

    /// Doubles the offset map. Amortised O(1) per descriptor taken.
    #[cold]
    fn grow_hash(&mut self, len: u32) {
        self.hash_len = self.hash_len.saturating_mul(2).min(len);
        self.hash_grow_at = if self.hash_len < len {
            self.hash_len - 1
        } else {
            u32::MAX
        };
        self.rebuild_hash();
    }

    pub(super) fn hash_find(&self, offset: usize) -> Option<u32> {
        let mut cur = self.slot(self.bucket_of(offset)).bucket.wrapping_sub(1);
        while cur != NIL {
            let s = self.slot(cur);
            if s.offset == offset {
                return Some(cur);
            }
            cur = s.hash_next;
        }
        None
    }

    pub(super) fn hash_insert(&mut self, i: u32) {
        let b = self.bucket_of(self.slot(i).offset);
        let head = self.slot(b).bucket.wrapping_sub(1);
        self.slot_mut(i).hash_next = head;
        self.slot_mut(b).bucket = i.wrapping_add(1);
    }

    pub(super) fn hash_remove(&mut self, i: u32) {
        let b = self.bucket_of(self.slot(i).offset);
        let next = self.slot(i).hash_next;
        let mut cur = self.slot(b).bucket.wrapping_sub(1);
        if cur == i {
            self.slot_mut(b).bucket = next.wrapping_add(1);
            return;
        }
        while cur != NIL {
            let n = self.slot(cur).hash_next;
            if n == i {
                self.slot_mut(cur).hash_next = next;
                return;
            }
            cur = n;
        }
        debug_assert!(false, "hash_remove: slot {i} not in its bucket");
    }

    pub(super) fn rebuild_hash(&mut self) {
        // Buckets at and above `hash_len` were never written: already empty.
        let (fresh, hash_len) = (self.fresh as usize, self.hash_len as usize);
        for s in &mut self.slots.as_mut()[..hash_len] {
            s.bucket = 0;
        }
        for s in &mut self.slots.as_mut()[..fresh] {
            s.hash_next = NIL;
        }
        for i in 0..fresh {
            if self.slots.as_ref()[i].state != State::Spare {
                self.hash_insert(i as u32);
            }
        }
    }
}
