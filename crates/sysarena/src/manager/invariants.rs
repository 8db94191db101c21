//! The invariant walk: every link, list, map and counter checked against
//! the table.

use super::state::ArenaManager;
use crate::config::Coalescing;
use crate::error::InvariantError;
use crate::table::{CLASSES, NIL, SL, State, TableStorage, class_of};

impl<const N: usize, S: TableStorage> ArenaManager<N, S> {
    /// Checks every internal invariant by walking the whole table: the
    /// arenas tile the region in address order; links, free index, hash map
    /// and counters agree; under immediate coalescing no two free arenas
    /// touch. For tests and debugging.
    ///
    /// # Time complexity
    /// O(arenas + descriptors): every slot's links are checked, then every
    /// list is walked once.
    ///
    /// # Errors
    /// The first broken invariant found (a bug in sysarena).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let slots = self.slots.as_ref();
        let err = |what, slot: Option<u32>| {
            Err(InvariantError {
                what,
                slot: slot.map(|s| s as usize),
            })
        };
        // The link invariant `slot` relies on, first: every stored index is
        // below the table's length or NIL (the walks below follow them).
        let in_table = |i: u32| i == NIL || (i as usize) < slots.len();
        let roots = [self.head, self.tail, self.spare_head, self.rover_slot];
        if let Some(&i) = roots
            .iter()
            .chain(&self.index.heads)
            .find(|&&i| !in_table(i))
        {
            return err("a list head is outside the table", Some(i));
        }
        if self.hash_len as usize > slots.len()
            || !self.hash_len.is_power_of_two()
            || self.hash_mask != self.hash_len - 1
        {
            return err(
                "the offset map is not a power of two within the table",
                None,
            );
        }
        if let Err(what) = self.check_dense() {
            return err(what, None);
        }
        // The dense buckets' slots hold bucket heads, not links.
        for (i, s) in slots[..self.fresh_end as usize].iter().enumerate() {
            let links = [s.prev, s.next, s.link_prev, s.link_next, s.hash_next];
            if !links
                .into_iter()
                .chain([s.bucket.wrapping_sub(1)])
                .all(in_table)
            {
                return err("a link is outside the table", Some(i as u32));
            }
        }
        // The address walk.
        let (mut end, mut prev, mut cur, mut count) = (0usize, NIL, self.head, 0usize);
        let (mut free_b, mut used_b, mut req_b, mut nfree, mut nused) = (0, 0, 0, 0, 0);
        let (mut largest, mut nlargest) = (0, 0);
        let (mut cached_b, mut ncached) = (0, 0);
        let mut prev_free = false;
        while cur != NIL {
            count += 1;
            if count > slots.len() {
                return err("address list has a cycle", Some(cur));
            }
            let s = &slots[cur as usize];
            if s.prev != prev {
                return err("prev link does not match the walk", Some(cur));
            }
            if s.offset != end {
                return err("arenas do not tile the region", Some(cur));
            }
            if s.size == 0 {
                return err("empty arena", Some(cur));
            }
            match s.state {
                State::Spare => return err("spare descriptor in the address list", Some(cur)),
                State::Free => {
                    if s.used != 0 {
                        return err("free arena with used bytes", Some(cur));
                    }
                    if prev_free && self.config.coalescing == Coalescing::Immediate {
                        return err("adjacent free arenas under immediate coalescing", Some(cur));
                    }
                    free_b += s.size;
                    nfree += 1;
                    if s.size > largest {
                        (largest, nlargest) = (s.size, 1);
                    } else if s.size == largest {
                        nlargest += 1;
                    }
                }
                State::Cached => {
                    if s.used != 0 || s.size >= super::quick_lists::QUICK_LIMIT {
                        return err("cached arena with used bytes or too large", Some(cur));
                    }
                    cached_b += s.size;
                    ncached += 1;
                }
                State::InUse => {
                    if s.used == 0 || s.used > s.size {
                        return err("in-use arena's used is out of range", Some(cur));
                    }
                    used_b += s.size;
                    req_b += s.used;
                    nused += 1;
                }
                _ => return err("descriptor state is not one of the four", Some(cur)),
            }
            if self.mapped && self.hash_find(s.offset) != Some(cur) {
                return err("arena missing from the offset map", Some(cur));
            }
            prev_free = s.state == State::Free;
            end = s.offset + s.size;
            prev = cur;
            cur = s.next;
        }
        if prev != self.tail {
            return err("tail does not end the address list", Some(prev));
        }
        if end != self.capacity {
            return err("arenas do not cover the capacity", None);
        }
        if free_b != self.free_bytes
            || used_b != self.in_use_bytes()
            || req_b != self.requested_bytes
            || nfree != self.free_arenas
            || nused != self.used_arenas()
        {
            return err("counters disagree with the table", None);
        }
        if self.free_bytes + self.quick.bytes > self.capacity {
            return err("free_bytes + cached bytes > capacity", None);
        }
        // The quick lists hold exactly the cached arenas, each in its class.
        if let Err(what) = self.check_quick_lists(cached_b, ncached) {
            return err(what, None);
        }
        if self.largest_stale {
            if nfree > 0 && largest >= self.largest_free {
                return err("a stale largest_free is not above every free arena", None);
            }
        } else if largest != self.largest_free || nlargest != self.largest_count {
            return err("largest_free or its count is wrong", None);
        }
        if largest != self.largest_free() {
            return err("largest_free() disagrees with the table", None);
        }
        // Spares.
        let fresh = self.fresh as usize;
        let nspare = slots[..fresh]
            .iter()
            .filter(|s| s.state == State::Spare)
            .count();
        if nspare + (slots.len() - fresh) != self.spare || self.spare + count != slots.len() {
            return err("spare count disagrees with the table", None);
        }
        let (mut walked, mut before, mut cur) = (0, NIL, self.spare_head);
        while cur != NIL {
            walked += 1;
            if walked > slots.len()
                || slots[cur as usize].state != State::Spare
                || slots[cur as usize].link_prev != before
            {
                return err("spare list is broken", Some(cur));
            }
            before = cur;
            cur = slots[cur as usize].link_next;
        }
        if walked != nspare {
            return err("spare list misses spares", None);
        }
        // The free index.
        let mut indexed = 0;
        for class in 0..CLASSES {
            let head = self.index.heads[class];
            let marked = self.index.sl_bitmap[class / SL] & (1 << (class % SL)) != 0;
            if marked != (head != NIL) {
                return err("bitmap disagrees with the class lists", None);
            }
            let (mut p, mut c) = (NIL, head);
            while c != NIL {
                indexed += 1;
                if indexed > slots.len() {
                    return err("free index has a cycle", Some(c));
                }
                let s = &slots[c as usize];
                if s.state != State::Free
                    || class_of(s.size) != class
                    || s.class as usize != class
                    || s.link_prev != p
                {
                    return err("free index entry is wrong", Some(c));
                }
                p = c;
                c = s.link_next;
            }
        }
        for fl in 0..self.index.sl_bitmap.len() {
            if (self.index.sl_bitmap[fl] != 0) != (self.index.fl_bitmap & (1 << fl) != 0) {
                return err("first-level bitmap is stale", None);
            }
        }
        if indexed != nfree {
            return err("free index does not hold every free arena", None);
        }
        // Without the map every head is empty (so every lookup misses).
        if !self.mapped {
            if self.hash_grow_at != u32::MAX || (0..self.hash_len).any(|b| self.stored_head(b) != 0)
            {
                return err("a manager without an offset map has a head", None);
            }
            return Ok(());
        }
        // The offset map holds exactly the arenas.
        let mut hashed = 0;
        for b in 0..self.hash_len as usize {
            let mut c = self.stored_head(b as u32).wrapping_sub(1);
            while c != NIL {
                hashed += 1;
                if hashed > slots.len() || slots[c as usize].state == State::Spare {
                    return err("offset map is broken", Some(c));
                }
                c = slots[c as usize].hash_next;
            }
        }
        if hashed != count {
            return err("offset map holds stale entries", None);
        }
        Ok(())
    }

    /// The quick lists against the address walk's count of cached arenas
    /// (`bytes`, `arenas`): every entry cached, in its class, within the
    /// bounds, and the totals right.
    fn check_quick_lists(&self, bytes: usize, arenas: usize) -> Result<(), &'static str> {
        use super::quick_lists::{QUICK_CLASSES, QUICK_DEPTH};
        let q = &self.quick;
        if q.bytes != bytes || self.cached_arenas() != arenas {
            return Err("quick-list totals disagree with the table");
        }
        if q.bytes > q.budget {
            return Err("quick lists hold more than their budget");
        }
        if (q.pause == 0) != (q.shrink == 0)
            || (q.shrink != 0
                && q.shrink != super::quick_lists::PAUSED
                && q.shrink != super::quick_lists::PAUSED_ALL)
        {
            return Err("the quick lists' pause is half set or unknown");
        }
        let (mut walked, mut walked_bytes) = (0, 0);
        for c in 0..QUICK_CLASSES {
            let (mut len, mut top) = (0, q.heads[c]);
            while top != 0 {
                let i = top - 1;
                if i as usize >= self.slots.as_ref().len() {
                    return Err("a quick list links outside the table");
                }
                let s = self.slot(i);
                len += 1;
                if len > QUICK_DEPTH || s.state != crate::table::State::Cached {
                    return Err("quick list entry is wrong or the list too long");
                }
                if super::quick_lists::quick_index(s.size) != Some(c) {
                    return Err("quick list entry in the wrong stack");
                }
                walked_bytes += s.size;
                top = s.link_next.wrapping_add(1);
            }
            if len != q.lens[c] as usize {
                return Err("quick list length is wrong");
            }
            walked += len;
        }
        if walked != arenas || walked_bytes != bytes {
            return Err("quick lists do not hold every cached arena");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;

    use super::super::state::ArenaManager;
    use crate::config::Config;
    use crate::table::{Slot, State};

    /// A descriptor's state is a plain byte (so that the offset map's dense
    /// heads may cover it): a value that is none of the four states is a
    /// broken invariant, reported, not read as some state.
    #[test]
    fn a_state_byte_that_is_no_state_is_reported() {
        let mut table = vec![Slot::EMPTY; 16];
        let mut m = ArenaManager::from_slice(&mut table, 4096, Config::fast()).unwrap();
        let a = m.alloc(100, 8).unwrap();
        m.check_invariants().unwrap();
        let i = m.lookup_in_use(a.offset()).unwrap();
        m.slot_mut(i).state = State(7);
        let e = m.check_invariants().unwrap_err();
        assert_eq!(e.what, "descriptor state is not one of the four");
        assert_eq!(e.slot, Some(i as usize));
        m.slot_mut(i).state = State::InUse;
        m.check_invariants().unwrap();
        m.free(a.offset()).unwrap();
        m.check_invariants().unwrap();
    }
}
