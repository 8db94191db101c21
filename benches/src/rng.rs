//! A small, fast, seeded generator (wyrand), so every subject sees exactly
//! the same numbers on every machine and the generator costs next to
//! nothing beside the allocator under test.

/// wyrand: 64 bits of state, one 128-bit multiply per draw.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in `[0, n)` (Lemire's multiply-shift; the bias is below
    /// 2^-40 for the ranges used here). `n` must be non-zero.
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[lo, hi)`; `lo < hi`.
    #[inline]
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo)
    }

    /// The workloads' alignment: `8 << (trailing_zeros(random u16) / 2)`,
    /// so 8 three times in four, 16 in 3/16, ... up to 2048.
    #[inline]
    pub fn align(&mut self) -> usize {
        8 << ((self.next_u64() as u16).trailing_zeros() / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..10_000 {
            let x = a.range(4, 200);
            assert_eq!(x, b.range(4, 200));
            assert!((4..200).contains(&x));
            let al = a.align();
            assert_eq!(al, b.align());
            assert!(al.is_power_of_two() && (8..=2048).contains(&al));
        }
    }
}
