//! Relocation: sliding live arenas down so the free space becomes one
//! arena, the caller moving the bytes.

use super::state::ArenaManager;
use crate::error::TableError;
use crate::stats::{Move, RelocationReport};
use crate::table::{NIL, Slot, State, TableStorage};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Defragmentation by relocation: slides every in-use arena down, in
    /// address order, to the lowest offset its alignment allows, so that the
    /// free space becomes one arena at the end of the region (plus any
    /// alignment padding that cannot be closed).
    ///
    /// The manager never touches the region's bytes: it calls `on_move` once
    /// per allocation that moves, in address order, and the caller moves the
    /// bytes (`len` from `from` down to `to`, ranges possibly overlapping, as
    /// `memmove`) and updates its own references — handles for RAM, a copy
    /// command for device memory. Doing the moves in the order given is
    /// safe: each destination lies below every allocation not yet moved.
    ///
    /// # Errors
    /// [`TableError::NoSpareDescriptor`] when the table lacks a descriptor
    /// for a free arena the new layout needs (the one at the end, or
    /// alignment padding that cannot be closed); nothing moves then.
    ///
    /// For bounded work and moves the caller may carry out in any order, or
    /// skip, see [`Movable`](crate::Movable)'s defragmentation passes.
    ///
    /// # Time complexity
    /// O(arenas); the caller's copying is O(bytes moved).
    pub fn relocate(
        &mut self,
        mut on_move: impl FnMut(Move),
    ) -> Result<RelocationReport, TableError> {
        self.relocate_where(|_| true, |_, m| on_move(m))
    }

    /// [`relocate`](Self::relocate), leaving in place every in-use arena
    /// whose tag `movable` refuses (pinned blocks), and telling `on_move`
    /// each moved arena's tag. Arenas after a pinned one slide down to its
    /// end; the space in front of it that the arenas before it do not fill
    /// stays free.
    pub(crate) fn relocate_where(
        &mut self,
        mut movable: impl FnMut(u32) -> bool,
        mut on_move: impl FnMut(u32, Move),
    ) -> Result<RelocationReport, TableError> {
        self.flush_quick_lists();
        let mut report = RelocationReport {
            free_arenas_before: self.free_arenas,
            largest_free_before: self.largest_free(),
            ..RelocationReport::default()
        };
        // A dry run first: every gap (padding, the space in front of a
        // pinned arena, the tail) takes a descriptor, which must be spare
        // when the walk reaches it; removed free arenas give theirs back.
        // If one would be missing, nothing moves.
        let mut avail = self.spare;
        let mut cursor = 0usize;
        let mut cur = self.head;
        while cur != NIL {
            let s = *self.slot(cur);
            if s.state == State::Free {
                avail += 1;
            } else {
                let dest = self.relocation_dest(cursor, &s, &mut movable);
                if dest > cursor {
                    avail = avail.checked_sub(1).ok_or(TableError::NoSpareDescriptor)?;
                }
                cursor = dest + s.size;
            }
            cur = s.next;
        }
        if cursor < self.capacity && avail == 0 {
            return Err(TableError::NoSpareDescriptor);
        }
        let mut cursor = 0usize;
        let mut cur = self.head;
        while cur != NIL {
            let s = *self.slot(cur);
            let Slot {
                offset,
                size,
                state,
                next,
                tag,
                ..
            } = *self.slot(cur);
            if state == State::Free {
                // Its bytes join the space being gathered; its descriptor is
                // spare again (and pays for any padding, gap or the tail).
                self.index_remove(cur);
                self.hash_remove(cur);
                self.unlink(cur);
                self.spare_push(cur);
                cur = next;
                continue;
            }
            let dest = self.relocation_dest(cursor, &s, &mut movable);
            debug_assert!(
                dest <= offset,
                "an aligned arena lies at or above the cursor"
            );
            if dest > cursor {
                // Alignment padding, or the gap in front of a pinned arena:
                // a free arena. A free arena was removed from this gap (or it
                // would be empty), so a spare descriptor is there for it.
                let j = self.new_free_arena(cur, cursor, dest - cursor);
                self.link_before(cur, j);
                self.hash_insert(j);
                self.index_insert(j);
            }
            if dest != offset {
                self.hash_remove(cur);
                self.slot_mut(cur).offset = dest;
                self.hash_insert(cur);
                report.moved += 1;
                report.bytes_moved += size;
                on_move(
                    tag,
                    Move {
                        from: offset,
                        to: dest,
                        len: size,
                    },
                );
            }
            cursor = dest + size;
            cur = next;
        }
        if cursor < self.capacity {
            let tail = self.tail;
            let j = self.new_free_arena(tail, cursor, self.capacity - cursor);
            self.link_after(tail, j);
            self.hash_insert(j);
            self.index_insert(j);
        }
        self.rover = cursor;
        // Unknown until the next allocation: next fit searches the index once.
        self.rover_slot = NIL;
        self.settle();
        report.free_arenas_after = self.free_arenas;
        report.largest_free_after = self.largest_free();
        Ok(report)
    }

    /// Where relocation puts in-use arena `s` when the space below `cursor`
    /// is taken: the lowest offset its alignment allows, or where it is if
    /// `movable` refuses its tag.
    #[inline]
    fn relocation_dest(
        &self,
        cursor: usize,
        s: &Slot,
        movable: &mut impl FnMut(u32) -> bool,
    ) -> usize {
        if !movable(s.tag) {
            return s.offset;
        }
        let align = 1usize << s.align_log2;
        (self.origin.wrapping_add(cursor).wrapping_add(align - 1) & !(align - 1))
            .wrapping_sub(self.origin)
    }
}
