//! Allocating, freeing, resizing and pinning by handle: the offset API of
//! [`ArenaManager`](crate::ArenaManager), spoken in [`Handle`]s.

use super::Movable;
use crate::error::{HandleError, ReallocError};
use crate::handle::{Handle, HandleStorage};
use crate::stats::{ArenaInfo, Reallocation};
use crate::table::TableStorage;

impl<const N: usize, const H: usize, S: TableStorage, T: HandleStorage> Movable<N, H, S, T> {
    /// Allocates `size` bytes at `align` and names them with a new handle.
    ///
    /// # Errors
    /// [`HandleError::Alloc`] with the manager's reason, or
    /// [`HandleError::NoSpareHandle`] when the handle table is full. On error
    /// nothing changes.
    ///
    /// # Time complexity
    /// O(1) (a handle entry taken from the free list or the never-used
    /// ones) plus [`ArenaManager::alloc`](crate::ArenaManager::alloc)'s cost, less its
    /// offset-map upkeep: a `Movable`'s manager keeps no offset map.
    pub fn alloc(&mut self, size: usize, align: usize) -> Result<Handle, HandleError> {
        let index = self.take_entry()?;
        let a = match self.manager.alloc_tagged(size, align, index) {
            Ok(a) => a,
            Err(e) => {
                self.put_entry(index);
                return Err(HandleError::Alloc(e));
            }
        };
        let e = self.entry_mut(index);
        e.offset = a.offset();
        e.link = a.hint();
        e.live = true;
        e.pins = 0;
        self.live += 1;
        Ok(Handle::new(index, self.entry(index).generation))
    }

    /// Frees `handle`'s allocation; the handle (and every copy of it) stops
    /// naming anything.
    ///
    /// # Errors
    /// [`HandleError::Stale`] if it names no live allocation,
    /// [`HandleError::Pinned`] if it is pinned, [`HandleError::Moving`] if
    /// the open pass plans to move it. On error nothing changes.
    ///
    /// # Time complexity
    /// O(1), as [`ArenaManager::free_with_hint`](crate::ArenaManager::free_with_hint):
    /// the handle's entry holds the descriptor's hint.
    pub fn free(&mut self, handle: Handle) -> Result<(), HandleError> {
        let e = self.changeable_entry(handle)?;
        self.manager
            .free_with_hint(e.offset, e.link)
            .expect("a live handle names an in-use arena");
        self.put_entry(handle.index());
        self.live -= 1;
        Ok(())
    }

    /// Resizes `handle`'s allocation (see
    /// [`ArenaManager::realloc`](crate::ArenaManager::realloc)); the handle
    /// stays. When the result says it moved, copy `copy_len` bytes from
    /// `moved_from` to its offset, as `memmove`.
    ///
    /// # Errors
    /// [`HandleError::Stale`], [`HandleError::Pinned`] (a pinned allocation
    /// keeps its size: it might move), [`HandleError::Moving`], or
    /// [`HandleError::Alloc`]. On error nothing changes.
    ///
    /// # Time complexity
    /// O(1) plus [`ArenaManager::realloc_with_hint`](crate::ArenaManager::realloc_with_hint)'s
    /// cost with a right hint (the handle's entry holds it) and no offset
    /// map: in place O(1); moving, one `alloc` and one `free`.
    pub fn realloc(
        &mut self,
        handle: Handle,
        new_size: usize,
        align: usize,
    ) -> Result<Reallocation, HandleError> {
        let e = self.changeable_entry(handle)?;
        let r = self
            .manager
            .realloc_with_hint(e.offset, e.link, new_size, align)
            .map_err(|e| match e {
                ReallocError::Alloc(a) => HandleError::Alloc(a),
                ReallocError::Free(_) => HandleError::Stale { handle },
            })?;
        // A moved arena keeps its tag (the manager carries it).
        let e = self.entry_mut(handle.index());
        e.offset = r.offset;
        e.link = r.hint();
        Ok(r)
    }

    /// Resizes `handle`'s allocation keeping the alignment it was allocated
    /// with; see [`realloc`](Self::realloc).
    ///
    /// # Errors
    /// As [`realloc`](Self::realloc).
    ///
    /// # Time complexity
    /// As [`realloc`](Self::realloc): the alignment is read from the handle's
    /// descriptor in O(1).
    pub fn resize(&mut self, handle: Handle, new_size: usize) -> Result<Reallocation, HandleError> {
        let e = self.live_entry(handle)?;
        let align = self
            .manager
            .align_at(e.offset, e.link)
            .ok_or(HandleError::Stale { handle })?;
        self.realloc(handle, new_size, align)
    }

    /// Where `handle`'s allocation is now.
    ///
    /// # Errors
    /// [`HandleError::Stale`].
    ///
    /// # Time complexity
    /// O(1).
    pub fn offset(&self, handle: Handle) -> Result<usize, HandleError> {
        Ok(self.live_entry(handle)?.offset)
    }

    /// `handle`'s arena: offset, size, bytes requested.
    ///
    /// # Errors
    /// [`HandleError::Stale`].
    ///
    /// # Time complexity
    /// O(1): the handle's entry holds the descriptor's hint.
    pub fn info(&self, handle: Handle) -> Result<ArenaInfo, HandleError> {
        let e = self.live_entry(handle)?;
        Ok(self
            .manager
            .in_use_info(e.offset, e.link)
            .expect("a live handle names an in-use arena"))
    }

    /// Pins `handle`'s allocation: it does not move (and cannot be freed or
    /// resized) until as many [`unpin`](Self::unpin)s. Returns its offset,
    /// valid while pinned.
    ///
    /// # Errors
    /// [`HandleError::Stale`], [`HandleError::Moving`] if the open pass plans
    /// to move it (the caller may be copying it), or
    /// [`HandleError::PinOverflow`] after 2³² − 1 pins.
    ///
    /// # Time complexity
    /// O(1).
    pub fn pin(&mut self, handle: Handle) -> Result<usize, HandleError> {
        let e = self.live_entry(handle)?;
        if self.pass.is_some() && self.manager.is_moving(e.offset, e.link) {
            return Err(HandleError::Moving { handle });
        }
        let pins = e
            .pins
            .checked_add(1)
            .ok_or(HandleError::PinOverflow { handle })?;
        self.entry_mut(handle.index()).pins = pins;
        Ok(e.offset)
    }

    /// Undoes one [`pin`](Self::pin).
    ///
    /// # Errors
    /// [`HandleError::Stale`], or [`HandleError::NotPinned`].
    ///
    /// # Time complexity
    /// O(1).
    pub fn unpin(&mut self, handle: Handle) -> Result<(), HandleError> {
        let e = self.live_entry(handle)?;
        if e.pins == 0 {
            return Err(HandleError::NotPinned { handle });
        }
        self.entry_mut(handle.index()).pins -= 1;
        Ok(())
    }

    /// Whether `handle`'s allocation is pinned.
    ///
    /// # Errors
    /// [`HandleError::Stale`].
    ///
    /// # Time complexity
    /// O(1).
    pub fn is_pinned(&self, handle: Handle) -> Result<bool, HandleError> {
        Ok(self.live_entry(handle)?.pins > 0)
    }
}
