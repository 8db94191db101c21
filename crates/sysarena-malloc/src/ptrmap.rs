//! A fixed-size open-addressing map from addresses to a `u64`, over memory
//! the caller provides (a `static` array or a fresh mapping): linear
//! probing, deletion by backward shift (no tombstones), no allocation.
//! Key 0 marks an empty entry, so zeroed memory is an empty map.

/// One entry: an address (0: empty) and its value.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Entry {
    pub(crate) key: usize,
    pub(crate) val: u64,
}

impl Entry {
    pub(crate) const EMPTY: Entry = Entry { key: 0, val: 0 };
}

/// The map over `cap` entries at `entries` (a power of two). Kept at most
/// 7/8 full so probes stay short.
#[derive(Debug)]
pub(crate) struct PtrMap {
    entries: *mut Entry,
    mask: usize,
    len: usize,
}

/// The map is full (at 7/8 of its entries).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Full;

impl PtrMap {
    /// A map with no memory: every insert fails, every lookup misses.
    pub(crate) const fn none() -> Self {
        PtrMap {
            entries: core::ptr::null_mut(),
            mask: 0,
            len: 0,
        }
    }

    /// A map over `cap` zeroed entries at `entries`.
    ///
    /// # Safety
    /// `entries` must be valid for reads and writes of `cap` entries, all
    /// zero, used by nothing else while the map lives; `cap` a power of two.
    pub(crate) const unsafe fn new(entries: *mut Entry, cap: usize) -> Self {
        PtrMap {
            entries,
            mask: cap.wrapping_sub(1),
            len: 0,
        }
    }

    /// Live entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn cap(&self) -> usize {
        if self.entries.is_null() {
            0
        } else {
            self.mask + 1
        }
    }

    #[inline]
    fn home(&self, key: usize) -> usize {
        ((key >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> 20) & self.mask
    }

    #[inline]
    fn at(&self, i: usize) -> *mut Entry {
        // SAFETY (for callers): `i <= mask < cap`, inside the entries.
        self.entries.wrapping_add(i)
    }

    /// Whether one more key fits (the map is kept at most 7/8 full, so
    /// that a probe always ends at an empty entry).
    pub(crate) fn has_room(&self) -> bool {
        (self.len + 1) * 8 <= self.cap() * 7
    }

    /// Inserts `key` (non-zero) with `val`, replacing any old value.
    pub(crate) fn insert(&mut self, key: usize, val: u64) -> Result<(), Full> {
        if key == 0 || self.cap() == 0 {
            return Err(Full);
        }
        let mut i = self.home(key);
        loop {
            // SAFETY: `i` is masked into the map's entries (new's contract).
            let e = unsafe { &mut *self.at(i) };
            if e.key == 0 {
                if !self.has_room() {
                    return Err(Full);
                }
                *e = Entry { key, val };
                self.len += 1;
                return Ok(());
            }
            if e.key == key {
                e.val = val;
                return Ok(());
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The value for `key`.
    pub(crate) fn get(&self, key: usize) -> Option<u64> {
        self.find(key).map(|i| {
            // SAFETY: `find` returns an index inside the entries.
            unsafe { (*self.at(i)).val }
        })
    }

    fn find(&self, key: usize) -> Option<usize> {
        if key == 0 || self.len == 0 {
            return None;
        }
        let mut i = self.home(key);
        loop {
            // SAFETY: masked index, inside the entries.
            let e = unsafe { &*self.at(i) };
            if e.key == key {
                return Some(i);
            }
            if e.key == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove(&mut self, key: usize) -> Option<u64> {
        let mut hole = self.find(key)?;
        // SAFETY: `find` returns an index inside the entries.
        let val = unsafe { (*self.at(hole)).val };
        // Backward-shift deletion: pull later members of the probe run into
        // the hole when their home does not lie cyclically in (hole, j].
        let mut j = hole;
        loop {
            j = (j + 1) & self.mask;
            // SAFETY: masked index, inside the entries.
            let e = unsafe { *self.at(j) };
            if e.key == 0 {
                break;
            }
            let h = self.home(e.key);
            let stays = if hole <= j {
                hole < h && h <= j
            } else {
                hole < h || h <= j
            };
            if !stays {
                // SAFETY: both indices are masked, inside the entries.
                unsafe { *self.at(hole) = e };
                hole = j;
            }
        }
        // SAFETY: masked index, inside the entries.
        unsafe { *self.at(hole) = Entry::EMPTY };
        self.len -= 1;
        Some(val)
    }

    /// Calls `f` with every live entry's key and value.
    ///
    /// # Time complexity
    /// O(capacity).
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, u64)) {
        for i in 0..self.cap() {
            // SAFETY: `i < cap`, inside the entries.
            let e = unsafe { *self.at(i) };
            if e.key != 0 {
                f(e.key, e.val);
            }
        }
    }

    /// Forgets every entry without touching the memory (the caller has
    /// replaced it with fresh zeroed pages).
    pub(crate) fn reset_len(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn agrees_with_a_hashmap() {
        let mut mem = vec![Entry::EMPTY; 1024];
        // SAFETY: `mem` is zeroed, 1024 entries, outlives the map.
        let mut m = unsafe { PtrMap::new(mem.as_mut_ptr(), 1024) };
        let mut shadow = HashMap::new();
        let mut x: u64 = 0x1234_5678;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Keys clustered like heap addresses, so probe runs collide.
            let key = 0x7f00_0000_0000usize + ((x % 2000) as usize) * 16;
            if x & 1 == 0 {
                let r = m.insert(key, step);
                if r.is_ok() {
                    shadow.insert(key, step);
                } else {
                    assert!(!shadow.contains_key(&key));
                }
            } else {
                assert_eq!(m.remove(key), shadow.remove(&key));
            }
            assert_eq!(m.len(), shadow.len());
        }
        for (&k, &v) in &shadow {
            assert_eq!(m.get(k), Some(v));
        }
        assert_eq!(m.get(0), None);
        assert_eq!(m.insert(0, 1), Err(Full));
    }

    #[test]
    fn empty_map_refuses() {
        let mut m = PtrMap::none();
        assert_eq!(m.insert(16, 1), Err(Full));
        assert_eq!(m.get(16), None);
        assert_eq!(m.remove(16), None);
    }
}
