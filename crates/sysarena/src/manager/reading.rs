//! Reading the manager: its model, capacity, stats, and the walks over
//! arenas and descriptors that every heap map and report is drawn from.

use super::state::ArenaManager;
use crate::config::Config;
use crate::stats::{ArenaInfo, Stats, TableEntry};
use crate::table::{NIL, Slot, State, TableStorage};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// The descriptor of the in-use arena at `offset` (for a
    /// [`Movable`](crate::Movable)'s handles): `hint` if it
    /// describes it (a `Movable` keeps every handle's hint right, and keeps
    /// no offset map), else the map's answer if there is a map. O(1).
    pub(crate) fn in_use_descriptor(&self, offset: usize, hint: u32) -> Option<u32> {
        self.lookup_hinted(offset, hint).ok()
    }

    /// The alignment the in-use arena at `offset` (descriptor `hint`) was
    /// allocated with.
    pub(crate) fn align_at(&self, offset: usize, hint: u32) -> Option<usize> {
        self.in_use_descriptor(offset, hint)
            .map(|i| 1usize << self.slot(i).align_log2)
    }

    /// The in-use arena at `offset` (descriptor `hint`), as a reader sees
    /// it.
    pub(crate) fn in_use_info(&self, offset: usize, hint: u32) -> Option<ArenaInfo> {
        let i = self.in_use_descriptor(offset, hint)?;
        Some(info(i as usize, self.slot(i)))
    }

    /// The model this manager runs.
    ///
    /// # Time complexity
    /// O(1).
    pub fn config(&self) -> Config {
        self.config
    }

    /// Bytes in the region.
    ///
    /// # Time complexity
    /// O(1).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The accounting.
    ///
    /// # Time complexity
    /// O(1), except while the largest free arena is not known exactly: from
    /// the moment the last free arena of the largest size is taken while
    /// more than 8 free arenas share the highest size class, until an arena
    /// at least as large is freed or the highest non-empty class holds 8 or
    /// fewer. Meanwhile `largest_free` is found by a walk of the highest
    /// non-empty class (O(k), k = its arenas). No successful allocation or
    /// free pays for it. Under the fast model the quick lists' figures (cached
    /// arenas, the largest cached size, and from them the in-use count) are
    /// read from their 1,024 stack lengths: a constant.
    pub fn stats(&self) -> Stats {
        Stats {
            capacity: self.capacity,
            free_bytes: self.free_bytes + self.quick.bytes,
            largest_free: self.largest_free().max(self.largest_cached()),
            in_use_bytes: self.in_use_bytes(),
            requested_bytes: self.requested_bytes,
            free_arenas: self.free_arenas + self.cached_arenas(),
            used_arenas: self.used_arenas(),
            spare_descriptors: self.spare,
            descriptors: self.slots.as_ref().len(),
            fallback_searches: self.fallback_searches,
            fallback_hits: self.fallback_hits,
            cached_bytes: self.quick.bytes,
            cached_arenas: self.cached_arenas(),
        }
    }

    /// Every arena, in address order (they tile the region exactly).
    ///
    /// # Time complexity
    /// O(1) to create. A full walk is O(arenas), O(1) a step: it follows
    /// the address links and never visits a spare descriptor.
    pub fn arenas(&self) -> Arenas<'_> {
        Arenas {
            slots: self.slots.as_ref(),
            cur: self.head,
        }
    }

    /// Every descriptor, in table order: arenas and spares.
    ///
    /// # Time complexity
    /// O(1) to create. A full walk is O(len), len = the table's length
    /// (spares included), O(1) a step.
    pub fn table(&self) -> impl Iterator<Item = TableEntry> + '_ {
        let fresh = self.fresh as usize;
        self.slots
            .as_ref()
            .iter()
            .enumerate()
            .map(move |(i, s)| TableEntry {
                slot: i,
                arena: (i < fresh && s.state != State::Spare).then(|| info(i, s)),
            })
    }

    /// The arena that starts at `offset`, if any.
    ///
    /// # Time complexity
    /// O(1) through the offset map; without one
    /// ([`set_offset_map`](Self::set_offset_map)), a walk of the arenas
    /// below `offset`: O(arenas).
    pub fn arena_at(&self, offset: usize) -> Option<ArenaInfo> {
        if !self.mapped {
            return self
                .arenas()
                .take_while(|a| a.offset <= offset)
                .find(|a| a.offset == offset);
        }
        let i = self.hash_find(offset)?;
        Some(info(i as usize, self.slot(i)))
    }
}

/// What a reader sees of descriptor `slot`.
pub(super) fn info(slot: usize, s: &Slot) -> ArenaInfo {
    ArenaInfo {
        offset: s.offset,
        size: s.size,
        used: s.used,
        in_use: s.state == State::InUse,
        cached: s.state == State::Cached,
        slot,
    }
}

/// Iterator over the arenas in address order; see
/// [`ArenaManager::arenas`].
#[derive(Clone, Debug)]
pub struct Arenas<'a> {
    slots: &'a [Slot],
    cur: u32,
}

impl Iterator for Arenas<'_> {
    type Item = ArenaInfo;

    fn next(&mut self) -> Option<ArenaInfo> {
        if self.cur == NIL {
            return None;
        }
        let i = self.cur as usize;
        let s = &self.slots[i];
        self.cur = s.next;
        Some(info(i, s))
    }
}
