//! Building a layer: with no metadata (for tests), over a heap (tests),
//! in place over a shard's zeroed state, and again in place where a layer
//! lived before (a shard rebuilt: `shard/retire.rs`).

use super::page::{KINDS, MapPool, NONE};
use super::pool::EmptyPool;
use super::recent::Recent;
use super::state::{Chunks, States};
use super::{CLASSES, Counts, List, Meta, Slab};

impl Slab {
    /// A layer with no metadata: serves nothing, finds nothing.
    #[cfg(test)]
    pub(crate) const fn none() -> Slab {
        Slab {
            meta: Meta::NONE,
            maps: [MapPool::EMPTY; KINDS],
            states: States::NONE,
            chunks: Chunks::EMPTY,
            pages: 0,
            enabled: false,
            madvise: false,
            lists: [List {
                head: NONE,
                empty: 0,
                held: 0,
            }; CLASSES],
            recent: [Recent::EMPTY; CLASSES],
            spares: 0,
            pool: EmptyPool::EMPTY,
            counts: Counts {
                pages: 0,
                used_slots: 0,
                used_bytes: 0,
                slots: 0,
                slot_bytes: 0,
                carved: 0,
                returned: 0,
                reused: 0,
            },
        }
    }

    /// A layer over a heap whose region starts at a multiple of [`PAGE`],
    /// with `meta` and `states` describing its first `pages` pages.
    ///
    /// # Safety
    /// `meta` covers `pages` pages (zeroed records and pools) that nothing
    /// else uses and that live for ever; `states` covers `pages` pages
    /// (all zero) that no other layer writes; the layer is only used with
    /// that heap.
    /// (The shards build theirs in place: [`Slab::init_in_place`].)
    #[cfg(test)]
    pub(crate) unsafe fn new(meta: Meta, states: States, pages: usize, enabled: bool) -> Slab {
        let ok = !meta.is_none() && meta.pages >= pages && states.pages() >= pages;
        Slab {
            meta,
            states,
            pages: if ok { pages } else { 0 },
            enabled: enabled && ok,
            madvise: true,
            ..Slab::none()
        }
    }

    /// Writes `Slab::new`'s value at `dst` field by field, except the
    /// hint rings, the pool and the counts, which zero bytes already hold: a shard's
    /// layer lives in a zeroed static, and writing its 11 KB of empty rings
    /// (besides building the value on the stack first) made every program
    /// touch those pages, where one that uses a few classes touches the
    /// rings of those. O(classes).
    ///
    /// # Safety
    /// As `Slab::new`; `dst` is valid for writes, and its `recent`,
    /// `pool` and `counts` are zero bytes.
    pub(crate) unsafe fn init_in_place(
        dst: *mut Slab,
        meta: Meta,
        states: States,
        pages: usize,
        enabled: bool,
    ) {
        let ok = !meta.is_none() && meta.pages >= pages && states.pages() >= pages;
        // SAFETY: `dst` is valid for writes (the caller's contract); the
        // fields left out are zero bytes, their empty values (`Recent`
        // checks its own; `EmptyPool` and `Counts` are integers).
        unsafe {
            (&raw mut (*dst).meta).write(meta);
            (&raw mut (*dst).maps).write([MapPool::EMPTY; KINDS]);
            (&raw mut (*dst).states).write(states);
            (&raw mut (*dst).chunks).write(Chunks::EMPTY);
            (&raw mut (*dst).pages).write(if ok { pages } else { 0 });
            (&raw mut (*dst).enabled).write(enabled && ok);
            (&raw mut (*dst).madvise).write(true);
            (&raw mut (*dst).lists).write(
                [List {
                    head: NONE,
                    empty: 0,
                    held: 0,
                }; CLASSES],
            );
            (&raw mut (*dst).spares).write(0);
        }
    }

    /// The heap's region grew to `pages` pages (a shard extended in place
    /// under an address-space limit): the layer carves pages there too, as
    /// far as its records and slot states cover. O(1).
    pub(crate) fn extend_pages(&mut self, pages: usize) {
        if self.meta.pages >= pages && self.states.pages() >= pages {
            self.pages = self.pages.max(pages);
        }
    }

    /// Empties, at `dst`, what [`init_in_place`](Self::init_in_place)
    /// leaves to zero bytes — the hint rings, the pool and the counts — for
    /// a layer built again where one lived before (`shard/retire.rs`), and
    /// unmaps the bitmap pools that grew (the layer is built again over its
    /// first ones). O(classes).
    ///
    /// # Safety
    /// `dst` is a layer built before, valid for reads and writes, and
    /// nothing refers to it or its bitmaps.
    pub(crate) unsafe fn clear_in_place(dst: *mut Slab) {
        // SAFETY: the caller's contract: a layer built before, which
        // nothing uses any more; each is its field's empty value.
        unsafe {
            (*dst).unmap_grown_pools();
            (&raw mut (*dst).recent).write([Recent::EMPTY; CLASSES]);
            (&raw mut (*dst).pool).write(EmptyPool::EMPTY);
            (&raw mut (*dst).counts).write(Counts::default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::parts;
    use super::*;

    #[test]
    fn a_layer_built_in_place_is_the_one_new_returns() {
        let (_heap, meta, states) = parts(4);
        // SAFETY: zeroed metadata and states for 4 pages, leaked; the two
        // layers are only compared, never used.
        let a = unsafe { Slab::new(meta, states, 4, true) };
        let mut b = Box::new(core::mem::MaybeUninit::<Slab>::zeroed());
        // SAFETY: as above; `b` is zeroed, so its rings and counts are too.
        unsafe { Slab::init_in_place(b.as_mut_ptr(), meta, states, 4, true) };
        // SAFETY: every field was written or is a zero that is its empty value.
        let b = unsafe { b.assume_init() };
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}
