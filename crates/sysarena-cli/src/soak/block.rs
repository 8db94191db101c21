//! What the soak owns: the region its heaps live in, the byte pattern every
//! block carries (so a lost write, a wrong copy or a shifted move shows),
//! and the seeded generator that draws the operations.

use super::*;

/// One live block: where, its layout, and the seed of its bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Block {
    pub(super) ptr: NonNull<u8>,
    pub(super) size: usize,
    pub(super) align: usize,
    pub(super) seed: u64,
}

/// The 8 bytes of a block's pattern at word `k` (bytes `8k .. 8k + 8`,
/// little-endian): different for every block and every word, so a stray
/// write, a wrong copy or a shifted move shows.
pub(super) fn word(seed: u64, k: usize) -> u64 {
    let x = seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 31)
}

/// The pattern's byte at `i`.
pub(super) fn byte(seed: u64, i: usize) -> u8 {
    word(seed, i / 8).to_le_bytes()[i % 8]
}

impl Block {
    /// Writes the pattern into bytes `from .. to`.
    pub(super) fn fill(&self, from: usize, to: usize) {
        // SAFETY: `to <= self.size` and the block is live and the soak's
        // alone; nothing else refers to these bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), to) };
        let head = from.next_multiple_of(8).min(to);
        for (i, b) in bytes.iter_mut().enumerate().take(head).skip(from) {
            *b = byte(self.seed, i);
        }
        let mut words = bytes[head..].chunks_exact_mut(8);
        for (k, chunk) in (&mut words).enumerate() {
            chunk.copy_from_slice(&word(self.seed, head / 8 + k).to_le_bytes());
        }
        let tail_at = to - words.into_remainder().len();
        for (i, b) in bytes.iter_mut().enumerate().skip(tail_at) {
            *b = byte(self.seed, i);
        }
    }

    /// The first byte of `0 .. len` that is not the pattern.
    pub(super) fn first_bad(&self, len: usize) -> Option<usize> {
        // SAFETY: `len <= self.size`; the block is live and every byte of it
        // was written by `fill`.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), len) };
        let words = bytes.chunks_exact(8);
        let tail_at = len - words.remainder().len();
        let bad_word = words.enumerate().position(|(k, c)| {
            u64::from_le_bytes(c.try_into().expect("8 bytes")) != word(self.seed, k)
        });
        let from = bad_word.map_or(tail_at, |k| k * 8);
        (from..len).find(|&i| bytes[i] != byte(self.seed, i))
    }
}

/// A splitmix64 generator: small, fast, and the same everywhere.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The soak's buffer: zeroed, 4 KiB aligned, freed on drop.
pub(super) struct Region {
    pub(super) base: NonNull<u8>,
    pub(super) layout: Layout,
}

impl Region {
    pub(super) fn new(len: usize) -> io::Result<Region> {
        let layout = Layout::from_size_align(len.max(1), 4096).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--capacity {len} is too large for one buffer (at most isize::MAX bytes)"),
            )
        })?;
        // SAFETY: a non-zero-sized layout.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(p).ok_or_else(|| io::Error::other("cannot allocate the region"))?;
        Ok(Region { base, layout })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `Region::new` with this layout; every heap
        // over it is gone (the soak drops its heap first).
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) };
    }
}

pub(super) fn corrupt(b: &Block, at: usize, when: &str) -> Violation {
    Violation(format!(
        "block {:p} (size {}, align {}) corrupt at byte {at} {when}",
        b.ptr, b.size, b.align
    ))
}
