//! Size classes and the page geometry: a slab page is [`PAGE`] bytes cut
//! into equal slots of one class (a multiple of [`GRANULE`] up to
//! [`MAX_SIZE`]); a slot's index is found with a multiply by the class's
//! reciprocal, not a division.

/// log2 of [`PAGE`].
pub(crate) const PAGE_SHIFT: u32 = 16;
/// Bytes in a slab page (and its alignment).
pub(crate) const PAGE: usize = 1 << PAGE_SHIFT;
/// The step between size classes, and every slot's alignment.
pub(crate) const GRANULE: usize = 16;
/// The largest request the layer serves.
pub(crate) const MAX_SIZE: usize = 1024;
/// Size classes: 16, 32, …, [`MAX_SIZE`].
pub(crate) const CLASSES: usize = MAX_SIZE / GRANULE;

/// The class of a request of `size <= MAX_SIZE` bytes (0 bytes: class 0).
#[inline]
pub(crate) const fn class_of(size: usize) -> usize {
    size.saturating_sub(1) / GRANULE
}

/// The slot size of class `c`.
#[inline]
pub(crate) const fn class_size(c: usize) -> usize {
    (c + 1) * GRANULE
}

/// Slots in a page of class `c` (the tail, `PAGE % size` bytes, is unused).
#[inline]
pub(super) fn slots(c: usize) -> usize {
    SLOTS[c & (CLASSES - 1)] as usize
}

/// [`slots`] per class, looked up rather than divided.
pub(super) static SLOTS: [u16; CLASSES] = {
    let mut r = [0u16; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        r[c] = (PAGE / class_size(c)) as u16;
        c += 1;
    }
    r
};

/// `ceil(2^32 / size)` per class: `(offset * RECIP[c]) >> 32` is
/// `offset / size` for every offset in a page (the error, below
/// `offset / 2^32 < 2^-16`, never reaches the next multiple, which is at
/// least `1 / size >= 2^-10` away; the unit tests check every offset).
pub(super) static RECIP: [u64; CLASSES] = {
    let mut r = [0u64; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        r[c] = (1u64 << 32).div_ceil(class_size(c) as u64);
        c += 1;
    }
    r
};
