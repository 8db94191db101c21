//! The handle table's upkeep: finding the entry a [`Handle`] names,
//! taking a fresh or freed entry for a new allocation, and returning it
//! with its generation moved on so that old handles go stale.

use super::Movable;
use crate::error::HandleError;
use crate::handle::{Handle, HandleSlot, HandleStorage};
use crate::table::{NIL, TableStorage};

impl<const N: usize, const H: usize, S: TableStorage, T: HandleStorage> Movable<N, H, S, T> {
    pub(super) fn entry(&self, index: u32) -> &HandleSlot {
        &self.handles.as_ref()[index as usize]
    }

    pub(super) fn entry_mut(&mut self, index: u32) -> &mut HandleSlot {
        &mut self.handles.as_mut()[index as usize]
    }

    /// The entry `handle` names, if it is live and of its generation.
    pub(super) fn live_entry(&self, handle: Handle) -> Result<HandleSlot, HandleError> {
        match self.handles.as_ref().get(handle.index() as usize) {
            Some(e) if e.live && e.generation == handle.generation() => Ok(*e),
            _ => Err(HandleError::Stale { handle }),
        }
    }

    /// The entry of `handle` if its allocation may be freed or resized: live,
    /// not pinned, no move planned.
    pub(super) fn changeable_entry(&self, handle: Handle) -> Result<HandleSlot, HandleError> {
        let e = self.live_entry(handle)?;
        if e.pins > 0 {
            return Err(HandleError::Pinned { handle });
        }
        if self.pass.is_some() && self.manager.is_moving(e.offset, e.link) {
            return Err(HandleError::Moving { handle });
        }
        Ok(e)
    }

    pub(super) fn take_entry(&mut self) -> Result<u32, HandleError> {
        if self.free_head != NIL {
            let i = self.free_head;
            self.free_head = self.entry(i).link;
            return Ok(i);
        }
        let len = self.handles.as_ref().len();
        if (self.fresh as usize) < len {
            let i = self.fresh;
            self.fresh += 1;
            return Ok(i);
        }
        Err(HandleError::NoSpareHandle { handles: len })
    }

    /// Returns entry `index` to the free list; its generation moves on so
    /// that old handles to it go stale.
    pub(super) fn put_entry(&mut self, index: u32) {
        let head = self.free_head;
        let e = self.entry_mut(index);
        if e.live {
            e.generation = e.generation.wrapping_add(1);
        }
        e.live = false;
        e.pins = 0;
        e.link = head;
        self.free_head = index;
    }
}
