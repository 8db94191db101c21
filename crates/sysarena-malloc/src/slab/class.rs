//! Size classes and the page geometry: a slab page is [`PAGE`] bytes cut
//! into equal slots of one class; a slot's index is found with a multiply
//! by the class's reciprocal, not a division.
//!
//! The classes follow the size histograms of the real traces in
//! `traces/` (requests and reallocs, by size): python 99.7 % at most 1 KiB,
//! 0.3 % up to 8 KiB (1,520, 4,096, 1,184 … bytes); perl 99.6 % at most
//! 1 KiB, 0.3 % at 2-4 KiB (4,080 bytes: 2,807 requests); sqlite3 93.3 %
//! at most 1 KiB, 4.7 % at 1-2 KiB (1,032 bytes — its 1 KiB page and a
//! header: 26,683 requests), 1.7 % at 4-8 KiB (4,104 and 4,368 bytes) and
//! 0.3 % at 8-16 KiB. So up to [`SMALL_MAX`] every multiple of
//! [`GRANULE`] is a class (glibc's rounding, without its header); above,
//! eight classes per doubling up to [`MAX_SIZE`] — 1,152, 1,280, …, 2,048,
//! 2,304, …, 4,096 — which wastes at most 1/9 of a slot (1,032 bytes in
//! 1,152) and serves perl's 4,080 and python's 4,096. Going on to 8 KiB
//! (sqlite3's 4,104 and 4,368) was tried: each class is a partly used
//! 64 KiB page per shard, and the 4-8 KiB classes raised a 4-thread
//! stress's peak RSS by about a tenth; above 4 KiB the heap serves.

/// log2 of [`PAGE`].
pub(crate) const PAGE_SHIFT: u32 = 16;
/// Bytes in a slab page (and its alignment).
pub(crate) const PAGE: usize = 1 << PAGE_SHIFT;
/// The step between the small size classes, and every slot's alignment.
pub(crate) const GRANULE: usize = 16;
/// The largest class that is a multiple of [`GRANULE`] apart from the
/// previous.
pub(crate) const SMALL_MAX: usize = 1024;
/// Classes up to [`SMALL_MAX`]: 16, 32, …, 1,024.
const SMALL: usize = SMALL_MAX / GRANULE;
/// Classes per doubling above [`SMALL_MAX`].
const PER_DOUBLING: usize = 8;
/// Doublings above [`SMALL_MAX`]: up to 2 and 4 KiB.
const DOUBLINGS: usize = 2;
/// The largest request the layer serves.
pub(crate) const MAX_SIZE: usize = SMALL_MAX << DOUBLINGS;
/// Size classes: 16, 32, …, 1,024, then eight per doubling up to
/// [`MAX_SIZE`].
pub(crate) const CLASSES: usize = SMALL + PER_DOUBLING * DOUBLINGS;
/// The length of the per-class tables: a power of two, so an index masked
/// with `TABLE - 1` needs no bounds check (entries past [`CLASSES`] are
/// never used).
pub(crate) const TABLE: usize = CLASSES.next_power_of_two();

/// The slot size of every class (past [`CLASSES`]: 0).
const SIZES: [u16; TABLE] = {
    let mut r = [0u16; TABLE];
    let mut c = 0;
    while c < SMALL {
        r[c] = ((c + 1) * GRANULE) as u16;
        c += 1;
    }
    let mut d = 0;
    while d < DOUBLINGS {
        let low = SMALL_MAX << d;
        let mut k = 1;
        while k <= PER_DOUBLING {
            r[SMALL + d * PER_DOUBLING + k - 1] = (low + k * (low / PER_DOUBLING)) as u16;
            k += 1;
        }
        d += 1;
    }
    r
};

/// Step of the table mapping large requests to classes: the smallest
/// distance between two classes above [`SMALL_MAX`].
const LARGE_STEP_SHIFT: u32 = 7;
/// The class of every request in `(SMALL_MAX, MAX_SIZE]`, by
/// `(size - 1) >> LARGE_STEP_SHIFT` (every class boundary above
/// [`SMALL_MAX`] is a multiple of the step).
const LARGE: [u8; MAX_SIZE >> LARGE_STEP_SHIFT] = {
    let mut r = [0u8; MAX_SIZE >> LARGE_STEP_SHIFT];
    let mut i = SMALL_MAX >> LARGE_STEP_SHIFT;
    let mut c = SMALL;
    while i < r.len() {
        // The largest size of this step: (i + 1) << shift.
        while (SIZES[c] as usize) < (i + 1) << LARGE_STEP_SHIFT {
            c += 1;
        }
        r[i] = c as u8;
        i += 1;
    }
    r
};

/// The class of a request of `size <= MAX_SIZE` bytes (0 bytes: class 0).
#[inline]
pub(crate) const fn class_of(size: usize) -> usize {
    if size <= SMALL_MAX {
        size.saturating_sub(1) / GRANULE
    } else {
        LARGE[((size - 1) >> LARGE_STEP_SHIFT) & (LARGE.len() - 1)] as usize
    }
}

/// The slot size of class `c < CLASSES`.
#[inline]
pub(crate) const fn class_size(c: usize) -> usize {
    SIZES[c & (TABLE - 1)] as usize
}

/// The request size whose class serves `size` bytes at `align` (a power
/// of two) from slab pages, if one does: `size` rounded up to a multiple
/// of `align`, when that is at most [`MAX_SIZE`] and its class's slots
/// are a multiple of `align` apart (every class is: the classes up to
/// 1 KiB are every multiple of 16, those above multiples of 128 that the
/// rounding lands on exactly for larger alignments). A slot lies at its
/// page's address, a multiple of [`PAGE`], plus a multiple of its class
/// size, so it is aligned. jemalloc and mimalloc serve small aligned
/// requests from their size classes the same way. O(1).
#[inline]
pub(crate) const fn aligned_request(size: usize, align: usize) -> Option<usize> {
    if align <= GRANULE {
        return if size <= MAX_SIZE { Some(size) } else { None };
    }
    if align > MAX_SIZE || size > MAX_SIZE {
        return None;
    }
    // No overflow: both are at most MAX_SIZE.
    let s = if size == 0 {
        align
    } else {
        size.next_multiple_of(align)
    };
    if s <= MAX_SIZE && class_size(class_of(s)).is_multiple_of(align) {
        Some(s)
    } else {
        None
    }
}

/// Slots in a page of class `c` (the tail, `PAGE % size` bytes, is unused).
#[inline]
pub(super) fn slots(c: usize) -> usize {
    SLOTS[c & (TABLE - 1)] as usize
}

/// [`slots`] per class, looked up rather than divided.
pub(super) static SLOTS: [u16; TABLE] = {
    let mut r = [0u16; TABLE];
    let mut c = 0;
    while c < CLASSES {
        r[c] = (PAGE / SIZES[c] as usize) as u16;
        c += 1;
    }
    r
};

/// The bitmap pool of each class (`page::kind`), looked up: the smallest
/// of [`KIND_WORDS`](super::page::KIND_WORDS) with a bit per slot.
pub(super) static KIND: [u8; TABLE] = {
    let words = super::page::KIND_WORDS;
    let mut r = [0u8; TABLE];
    let mut c = 0;
    while c < CLASSES {
        let need = (PAGE / SIZES[c] as usize).div_ceil(64);
        r[c] = if need <= words[0] {
            0
        } else if need <= words[1] {
            1
        } else {
            2
        };
        c += 1;
    }
    r
};

/// `ceil(2^32 / size)` per class: `(offset * RECIP[c]) >> 32` is
/// `offset / size` for every offset in a page (the error, below
/// `offset / 2^32 < 2^-16`, never reaches the next multiple, which is at
/// least `1 / size >= 2^-12` away; the unit tests check every offset).
pub(super) static RECIP: [u64; TABLE] = {
    let mut r = [0u64; TABLE];
    let mut c = 0;
    while c < CLASSES {
        r[c] = (1u64 << 32).div_ceil(SIZES[c] as u64);
        c += 1;
    }
    r
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request of up to 4 KiB at every alignment up to 4 KiB has a
    /// class whose slots are aligned and hold it; at 16 or less the size
    /// is unchanged; nothing past 4 KiB, rounded, has one.
    #[test]
    fn an_aligned_request_takes_a_class_that_is_a_multiple_of_its_alignment() {
        for size in 0..=MAX_SIZE + 1 {
            for shift in 0..=13 {
                let align = 1usize << shift;
                let rounded = size.max(1).next_multiple_of(align.max(GRANULE));
                match aligned_request(size, align) {
                    Some(s) => {
                        let slot = class_size(class_of(s));
                        assert!(s >= size && slot >= s, "{size} at {align}: {s}, {slot}");
                        assert!(slot.is_multiple_of(align), "{size} at {align}: {slot}");
                        if align <= GRANULE {
                            assert_eq!(s, size);
                        } else {
                            assert_eq!(s, rounded);
                        }
                    }
                    None => assert!(rounded > MAX_SIZE, "{size} at {align}"),
                }
            }
        }
    }
}
