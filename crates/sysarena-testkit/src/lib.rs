//! Test helpers shared by sysarena's test suites, so that no test file
//! keeps its own copy: a deterministic [`Rng`], the byte [`pattern`] a
//! block is filled with and checked against, and [`AlignedRegion`], memory
//! a test owns to put a heap over.
//!
//! Dev-only (`publish = false`). It depends on nothing, sysarena included,
//! so any crate's tests can use it without a second copy of the core.

use std::alloc::Layout;
use std::ptr::NonNull;

/// A small deterministic generator (xorshift64*): no dependency, the same
/// sequence under Miri and natively, on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is taken as 1: xorshift has no zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)] // not an iterator: it never ends
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n`.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0)");
        (self.next() % n as u64) as usize
    }
}

/// The byte at position `i` of a block filled with `seed`: it differs
/// between blocks and between neighbouring positions, so a stray write, a
/// wrong copy or a shifted block shows.
pub fn pattern(seed: u64, i: usize) -> u8 {
    let x = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x ^ (x >> 29) ^ (x >> 47)) as u8
}

/// Fills `bytes` with `seed`'s [`pattern`].
pub fn fill(bytes: &mut [u8], seed: u64) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = pattern(seed, i);
    }
}

/// The first position of `bytes` that is not `seed`'s [`pattern`], if any.
pub fn first_wrong(bytes: &[u8], seed: u64) -> Option<usize> {
    bytes
        .iter()
        .enumerate()
        .position(|(i, &b)| b != pattern(seed, i))
}

/// `len` bytes of memory aligned to `align`, owned by the test and freed on
/// drop (Miri checks for leaks). The bytes start uninitialised: a heap put
/// over them writes before it reads.
///
/// Put the heap *before* the region in a struct, so that it drops first.
#[derive(Debug)]
pub struct AlignedRegion {
    base: NonNull<u8>,
    layout: Layout,
}

impl AlignedRegion {
    /// `len` fresh bytes aligned to `align`.
    ///
    /// # Panics
    /// If `len` is 0, `align` is not a power of two, or the memory cannot be
    /// had.
    pub fn new(len: usize, align: usize) -> AlignedRegion {
        assert!(len > 0, "an empty region");
        let layout = Layout::from_size_align(len, align).expect("a valid layout");
        // SAFETY: `layout` has a non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc(layout) }).expect("test memory");
        AlignedRegion { base, layout }
    }

    /// The first byte.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Never: a region has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for AlignedRegion {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rng_is_the_xorshift64_star_sequence() {
        let mut r = Rng::new(0);
        assert_eq!(r.next(), Rng::new(1).next());
        let xs: Vec<_> = (0..1000).map(|_| r.below(10)).collect();
        assert!((0..10).all(|k| xs.contains(&k)));
    }

    #[test]
    fn a_pattern_catches_a_flipped_byte_and_a_shift() {
        let mut b = vec![0u8; 64];
        fill(&mut b, 7);
        assert_eq!(first_wrong(&b, 7), None);
        assert!(first_wrong(&b, 8).is_some());
        b[10] ^= 1;
        assert_eq!(first_wrong(&b, 7), Some(10));
        b[10] ^= 1;
        b.rotate_left(1);
        assert_eq!(first_wrong(&b, 7), Some(0));
    }

    #[test]
    fn a_region_is_aligned_and_writable() {
        let r = AlignedRegion::new(100, 64);
        assert_eq!(r.base().as_ptr() as usize % 64, 0);
        assert_eq!(r.len(), 100);
        // SAFETY: the region is 100 bytes and ours.
        unsafe { r.base().as_ptr().write_bytes(0xAB, 100) };
    }
}
