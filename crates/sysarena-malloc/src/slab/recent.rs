//! The hints of recently freed slots: per class, a ring of the last
//! [`RECENT`] slots freed, so that malloc hands out a block whose bytes are
//! likely still in the cache. Hints only: each is checked against the
//! bitmap before use.

/// Recently freed slots remembered per class.
pub(crate) const RECENT: usize = 16;

/// A class's most recently freed slots, `page << 16 | index`, newest
/// last; the oldest is forgotten when it is full. Hints only: `alloc`
/// checks each against the bitmap.
#[derive(Clone, Copy, Debug)]
pub(super) struct Recent {
    entries: [usize; RECENT],
    /// Where the next entry goes.
    next: u32,
    /// Entries held (at most [`RECENT`]).
    len: u32,
}

// An empty ring is all zero bytes (no padding: 16 words and two `u32`s).
const _: () =
    assert!(Recent::EMPTY.is_zero() && core::mem::size_of::<Recent>() == (RECENT + 1) * 8);

impl Recent {
    /// No hint; all zero bytes (so zeroed memory holds empty rings, which
    /// `Slab::init_in_place` relies on; checked below).
    pub(super) const EMPTY: Recent = Recent {
        entries: [0; RECENT],
        next: 0,
        len: 0,
    };

    /// Whether this is [`Recent::EMPTY`]'s value, field by field.
    pub(super) const fn is_zero(&self) -> bool {
        let mut i = 0;
        while i < RECENT {
            if self.entries[i] != 0 {
                return false;
            }
            i += 1;
        }
        self.next == 0 && self.len == 0
    }

    #[inline]
    pub(super) fn push(&mut self, e: usize) {
        self.entries[self.next as usize & (RECENT - 1)] = e;
        self.next = (self.next + 1) & (RECENT as u32 - 1);
        self.len = (self.len + 1).min(RECENT as u32);
    }

    #[inline]
    pub(super) fn pop(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        self.next = self.next.wrapping_sub(1) & (RECENT as u32 - 1);
        Some(self.entries[self.next as usize])
    }
}
