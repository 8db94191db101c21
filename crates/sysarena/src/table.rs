//! The arena table: fixed descriptors, no heap.
//!
//! Each [`Slot`] is one arena descriptor. Besides the model's fields
//! (`offset`, `size`, `used`, whether it is in use) a slot carries the links
//! that make the fast paths O(1), all of them table indices (`u32`), all out
//! of band — nothing is ever written into the managed region:
//!
//! - `prev`/`next`: the arena's address-order neighbours (coalescing and the
//!   in-order walk need no search);
//! - `link_prev`/`link_next`: the free list of the arena's size class when it
//!   is free, or the spare list when the slot is spare;
//! - `hash_next` and `bucket`: an offset → slot hash map threaded through the
//!   table, so `free(offset)` finds its arena without a scan. The bucket
//!   heads live in the table too: an array of `u32` laid over never-used
//!   descriptors at its top while there is room, otherwise one per table
//!   position in `bucket` (see `manager/offset_map.rs`).

/// "No slot": the end of every list.
pub(crate) const NIL: u32 = u32::MAX;

/// The tag bit of an arena reserved as a pass's move destination (the rest
/// of the tag names the handle that moves there).
pub(crate) const RESERVED: u32 = 1 << 31;
/// The tag bit of an allocation that has a move planned in the open pass.
pub(crate) const MOVING: u32 = 1 << 30;
/// The handle index in a tag: handle tables have fewer than 2³⁰ entries.
pub(crate) const TAG_INDEX: u32 = MOVING - 1;

/// What a descriptor currently describes: one byte.
///
/// A plain byte rather than an enum, so that every byte of a [`Slot`] is
/// part of an integer and any bit pattern is a valid slot: the offset map
/// packs its dense bucket heads end to end over never-used slots, four
/// bytes apart, without stepping around a byte whose values are
/// restricted (see `manager/offset_map.rs`). A descriptor in use holds one
/// of the four values below (`check_invariants` checks it).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct State(pub(crate) u8);

// The four states read like the enum they were (`State::InUse`), in
// comparisons and in `match` patterns.
#[allow(non_upper_case_globals)]
impl State {
    /// Describes nothing; on the spare list. Zero, so that zero-filled
    /// memory is a valid table of spares.
    pub(crate) const Spare: State = State(0);
    /// A free arena; in the free index.
    pub(crate) const Free: State = State(1);
    /// An arena handed out to a caller.
    pub(crate) const InUse: State = State(2);
    /// An arena its caller freed, waiting whole in a quick list (see
    /// `manager/quick_lists.rs`): not in the free index, still in the
    /// offset map.
    pub(crate) const Cached: State = State(3);
}

impl core::fmt::Debug for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            State::Spare => f.write_str("Spare"),
            State::Free => f.write_str("Free"),
            State::InUse => f.write_str("InUse"),
            State::Cached => f.write_str("Cached"),
            State(v) => write!(f, "State({v})"),
        }
    }
}

/// One arena descriptor: a slot of the arena table.
///
/// Its fields are private: read arenas through
/// [`ArenaManager::arenas`](crate::ArenaManager::arenas) and
/// [`ArenaManager::table`](crate::ArenaManager::table). A table of slots is
/// either a `[Slot; N]` inside the manager or a slice the caller provides
/// (start it as `vec![Slot::EMPTY; n]` or `[Slot::EMPTY; N]`; the manager
/// initialises it).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Slot {
    pub(crate) offset: usize,
    pub(crate) size: usize,
    pub(crate) used: usize,
    pub(crate) state: State,
    /// log2 of the alignment an in-use arena was allocated with, so that
    /// relocation keeps it aligned (sits in what was padding: no growth).
    pub(crate) align_log2: u8,
    /// The size class a free arena is filed in (set by the free index's
    /// insert, read by its remove: no recomputation). Sits in what was
    /// padding: no growth.
    pub(crate) class: u16,
    pub(crate) hash_next: u32,
    pub(crate) link_next: u32,
    /// The owner's name for an in-use arena: a handle index for a
    /// [`Movable`](crate::Movable) manager (with [`RESERVED`] set on a
    /// defragmentation pass's reservation), `NIL` otherwise. Sits in what was
    /// padding: no growth.
    pub(crate) tag: u32,
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) link_prev: u32,
    /// Head of the hash bucket numbered by this slot's *position*, plus one
    /// (0: empty, so zero-filled memory is a table of empty buckets), while
    /// the heads are not dense; it does not move with the descriptor.
    pub(crate) bucket: u32,
}

// The tag and the class live in what was padding: a descriptor stays 56 bytes on 64-bit.
const _: () = assert!(usize::BITS != 64 || core::mem::size_of::<Slot>() == 56);
// `repr(C)`: the field order above is the layout, so the offset map knows
// where a slot's fields lie. The order puts what a
// free and a quick-list hit touch — `offset`, `size`, `used`, `state`,
// `hash_next` (the offset map's chain) and `link_next` (the quick list's
// stack) — in the first 36 bytes, so that those fit one cache line in half
// the table's positions (a 56-byte slot starts at 8 different places in a
// line) where they spread over 52 bytes before, with the chain link last.
// Random actions at max 200 (1 M operations, callgrind's cache simulation):
// 3.21 M D1 read and 0.48 M write misses, against 3.27 M and 0.53 M before
// (`benches/RESULTS.md`, "Engine work, part 7").

impl Slot {
    /// A spare descriptor, for initialising a caller-provided table.
    pub const EMPTY: Slot = Slot {
        offset: 0,
        size: 0,
        used: 0,
        state: State::Spare,
        align_log2: 0,
        class: 0,
        tag: NIL,
        prev: NIL,
        next: NIL,
        link_prev: NIL,
        link_next: NIL,
        hash_next: NIL,
        bucket: 0,
    };
}

impl Default for Slot {
    fn default() -> Self {
        Slot::EMPTY
    }
}

/// Storage for an arena table: a `[Slot; N]` array, a `&mut [Slot]` slice,
/// and with the `alloc` feature (on by default) a `Box<[Slot]>` or a
/// `Vec<Slot>`.
///
/// The trait is *sealed*: sysarena implements it for those types only,
/// whose [`as_ref`](AsRef::as_ref) and [`as_mut`](AsMut::as_mut) return the
/// same slice, of the same length, at every call. The manager and the
/// pointer layer rely on that — a table that answered with another slice
/// could make safe code hand out overlapping blocks — so no other type can
/// implement it:
///
/// ```compile_fail,E0277
/// use sysarena::{ArenaManager, Config, Slot};
///
/// // Answers reads from one table and writes to another.
/// struct Liar([Slot; 4], [Slot; 4]);
/// impl AsRef<[Slot]> for Liar {
///     fn as_ref(&self) -> &[Slot] { &self.0 }
/// }
/// impl AsMut<[Slot]> for Liar {
///     fn as_mut(&mut self) -> &mut [Slot] { &mut self.1 }
/// }
/// let table = Liar([Slot::EMPTY; 4], [Slot::EMPTY; 4]);
/// let m = ArenaManager::from_table(table, 100, Config::default());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an arena table storage",
    note = "use `[Slot; N]`, `&mut [Slot]`, `Box<[Slot]>` or `Vec<Slot>`"
)]
pub trait TableStorage: crate::sealed::Sealed<Slot> + AsRef<[Slot]> + AsMut<[Slot]> {}

impl<T: crate::sealed::Sealed<Slot> + AsRef<[Slot]> + AsMut<[Slot]> + ?Sized> TableStorage for T {}

/// log2 of the number of second-level classes per power of two.
pub(crate) const SL_BITS: u32 = 5;
/// Second-level classes per first-level class.
pub(crate) const SL: usize = 1 << SL_BITS;
/// First-level classes: one for sizes below `SL`, then one per power of two.
pub(crate) const FL: usize = usize::BITS as usize - SL_BITS as usize + 1;
/// All size classes.
pub(crate) const CLASSES: usize = FL * SL;
// A class fits the slot's `class: u16`.
const _: () = assert!(CLASSES <= u16::MAX as usize);

/// The size class holding arenas of exactly `size` bytes (TLSF's
/// `mapping_insert`): sizes below 32 get one class each; above, each power
/// of two is cut into 32 classes.
///
/// Without a branch: with `f = log2(size | 32)` and `s = f - 5`, the class
/// is `32 * s + (size >> s)`: for `size < 32`, `s = 0` and the class is the
/// size; above, `size >> s` is the 32 + second-level index of the two-level
/// definition, and `32 * s + 32` its first level's start.
#[inline]
pub(crate) const fn class_of(size: usize) -> usize {
    let s = usize::BITS - 1 - (size | SL).leading_zeros() - SL_BITS;
    ((s as usize) << SL_BITS) + (size >> s)
}

/// [`class_of`]`(size)` and the lowest class whose every arena holds at
/// least `size` bytes ([`class_at_least`], or [`CLASSES`] when none), from
/// one `log2`: the second is the first, plus one unless `size` is its
/// class's lower bound.
#[inline]
pub(crate) const fn classes_for(size: usize) -> (usize, usize) {
    let s = usize::BITS - 1 - (size | SL).leading_zeros() - SL_BITS;
    let class = ((s as usize) << SL_BITS) + (size >> s);
    let inexact = (size & ((1usize << s) - 1) != 0) as usize;
    (class, class + inexact)
}

/// The lowest size class whose every arena holds at least `size` bytes
/// (TLSF's `mapping_search`), or `None` when no class can promise that:
/// `size` rounded up to its class's width (1 below 32) and mapped.
#[inline]
pub(crate) const fn class_at_least(size: usize) -> Option<usize> {
    let s = usize::BITS - 1 - (size | SL).leading_zeros() - SL_BITS;
    let round = (1usize << s) - 1;
    match size.checked_add(round) {
        // Every arena in that class is at least the class's lower bound,
        // which is >= size (rounding up lands on or above the boundary).
        Some(r) => Some(class_of(r)),
        None => None,
    }
}

/// The free index: per-class doubly linked lists threaded through the
/// table, and a two-level bitmap of the non-empty classes.
#[derive(Clone, Debug)]
pub(crate) struct FreeIndex {
    pub(crate) fl_bitmap: u64,
    pub(crate) sl_bitmap: [u32; FL],
    pub(crate) heads: [u32; CLASSES],
}

impl FreeIndex {
    pub(crate) const EMPTY: FreeIndex = FreeIndex {
        fl_bitmap: 0,
        sl_bitmap: [0; FL],
        heads: [NIL; CLASSES],
    };

    /// The first non-empty class at or above `class`.
    #[inline]
    pub(crate) fn first_from(&self, class: usize) -> Option<usize> {
        if class >= CLASSES {
            return None;
        }
        let fl = class / SL;
        let sl = class % SL;
        let here = self.sl_bitmap[fl] & (u32::MAX << sl);
        if here != 0 {
            return Some(fl * SL + here.trailing_zeros() as usize);
        }
        let above = if fl + 1 >= 64 {
            0
        } else {
            self.fl_bitmap & (u64::MAX << (fl + 1))
        };
        if above == 0 {
            return None;
        }
        let fl = above.trailing_zeros() as usize;
        Some(fl * SL + self.sl_bitmap[fl].trailing_zeros() as usize)
    }

    /// The last non-empty class at or below `class`.
    #[inline]
    pub(crate) fn last_upto(&self, class: usize) -> Option<usize> {
        let class = if class >= CLASSES { CLASSES - 1 } else { class };
        let fl = class / SL;
        let sl = class % SL;
        let mask = if sl == SL - 1 {
            u32::MAX
        } else {
            (1u32 << (sl + 1)) - 1
        };
        let here = self.sl_bitmap[fl] & mask;
        if here != 0 {
            return Some(fl * SL + 31 - here.leading_zeros() as usize);
        }
        let below = self.fl_bitmap & ((1u64 << fl) - 1);
        if below == 0 {
            return None;
        }
        let fl = 63 - below.leading_zeros() as usize;
        Some(fl * SL + 31 - self.sl_bitmap[fl].leading_zeros() as usize)
    }

    #[inline]
    pub(crate) fn mark(&mut self, class: usize) {
        let fl = class / SL;
        self.sl_bitmap[fl] |= 1 << (class % SL);
        self.fl_bitmap |= 1 << fl;
    }

    #[inline]
    pub(crate) fn unmark(&mut self, class: usize) {
        let fl = class / SL;
        self.sl_bitmap[fl] &= !(1 << (class % SL));
        if self.sl_bitmap[fl] == 0 {
            self.fl_bitmap &= !(1 << fl);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How far the exhaustive checks go (Miri interprets: keep it small).
    const UPTO: usize = if cfg!(miri) { 300 } else { 20_000 };

    #[test]
    fn classes_are_monotonic_and_bounded() {
        let mut last = 0;
        for size in 1..5 * UPTO {
            let c = class_of(size);
            assert!(c >= last, "class of {size} went down");
            assert!(c < CLASSES);
            last = c;
        }
        assert!(class_of(usize::MAX) < CLASSES);
    }

    #[test]
    fn class_at_least_promises_a_fit() {
        // Every size that maps to the class found must be >= the request.
        for req in 1..UPTO {
            let c = class_at_least(req).unwrap();
            // The smallest size in class c:
            let lowest =
                (req.saturating_sub(req / 16 + 1).max(1)..=req * 2).find(|&s| class_of(s) == c);
            if let Some(lowest) = lowest {
                assert!(lowest >= req, "class {c} holds {lowest} < {req}");
            }
        }
        assert_eq!(class_at_least(usize::MAX), None);
    }

    #[test]
    fn classes_for_is_class_of_and_class_at_least() {
        let edges = (SL_BITS..usize::BITS).flat_map(|b| {
            let p = 1usize << b;
            [p - 1, p, p + 1, p | (p >> 1), p + (p - 1)]
        });
        for size in (1..UPTO).chain(edges).chain([usize::MAX - 1, usize::MAX]) {
            let (class, at_least) = classes_for(size);
            assert_eq!(class, class_of(size), "size {size}");
            assert_eq!(
                at_least,
                class_at_least(size).unwrap_or(CLASSES),
                "size {size}"
            );
        }
    }

    /// The two-level definition, with its branch: the reference for the
    /// branch-free `class_of`.
    fn class_by_levels(size: usize) -> usize {
        if size < SL {
            size
        } else {
            let f = usize::BITS - 1 - size.leading_zeros();
            let fl = (f - SL_BITS + 1) as usize;
            let sl = (size >> (f - SL_BITS)) ^ SL;
            fl * SL + sl
        }
    }

    #[test]
    fn branch_free_classes_match_the_two_level_definition() {
        let edges = (SL_BITS..usize::BITS).flat_map(|b| {
            let p = 1usize << b;
            [p - 1, p, p + 1, p | (p >> 1), p + (p - 1)]
        });
        for size in (0..UPTO).chain(edges).chain([usize::MAX - 1, usize::MAX]) {
            assert_eq!(class_of(size), class_by_levels(size), "size {size}");
            if size < usize::MAX - 64 {
                let f = usize::BITS - 1 - (size | SL).leading_zeros();
                let round = if size < SL {
                    0
                } else {
                    (1 << (f - SL_BITS)) - 1
                };
                assert_eq!(class_at_least(size), Some(class_by_levels(size + round)));
            }
        }
    }

    #[test]
    fn bitmap_search_both_ways() {
        let mut ix = FreeIndex::EMPTY;
        assert_eq!(ix.first_from(0), None);
        ix.mark(40);
        ix.mark(700);
        assert_eq!(ix.first_from(0), Some(40));
        assert_eq!(ix.first_from(41), Some(700));
        assert_eq!(ix.first_from(701), None);
        assert_eq!(ix.last_upto(CLASSES), Some(700));
        assert_eq!(ix.last_upto(699), Some(40));
        assert_eq!(ix.last_upto(39), None);
        ix.unmark(700);
        assert_eq!(ix.first_from(41), None);
    }
}
