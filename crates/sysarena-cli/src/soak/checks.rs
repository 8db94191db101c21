//! The soak's checks on an epoch's heap: the O(1) ones after every
//! operation, the full walk (invariants, every block's bytes and arena, no
//! overlap), the "no fit is true" check of a refused request, and the end
//! of an epoch (everything freed, one free arena again).

use super::*;

impl Epoch<'_> {
    /// A request failed with "no free arena fits": check that none does.
    pub(super) fn no_fit_is_true(
        &self,
        needed: usize,
        align: usize,
        what: &str,
    ) -> Result<(), Violation> {
        let m = self.heap.manager();
        if m.stats().spare_descriptors < 2 {
            // Padding and a tail may each need a descriptor: a policy may
            // then fairly report the arena as not fitting.
            return Ok(());
        }
        let origin = m.origin();
        let fitting = m.arenas().find(|a| {
            let start = (origin + a.offset).next_multiple_of(align) - origin;
            !a.in_use && start + needed <= a.offset + a.size
        });
        ensure!(
            fitting.is_none(),
            "{what}: {} found no arena for {needed} bytes at align {align}, but free arena \
             {fitting:?} holds it",
            self.config.policy
        );
        Ok(())
    }

    pub(super) fn cheap_checks(&mut self) -> Result<(), Violation> {
        let s = self.heap.stats();
        ensure!(
            s.in_use_bytes + s.free_bytes == s.capacity && s.capacity == self.capacity,
            "bytes do not add up: {s:?}"
        );
        ensure!(
            s.free_arenas + s.used_arenas + s.spare_descriptors == s.descriptors,
            "descriptors do not add up: {s:?}"
        );
        ensure!(
            s.used_arenas == self.live.len() && s.requested_bytes == self.requested,
            "the heap has {} arenas in use and {} requested bytes; the soak holds {} blocks of {} bytes",
            s.used_arenas,
            s.requested_bytes,
            self.live.len(),
            self.requested
        );
        ensure!(
            s.largest_free <= s.free_bytes && (s.free_bytes == 0) == (s.free_arenas == 0),
            "free arenas do not add up: {s:?}"
        );
        if self.config.coalescing == Coalescing::Immediate {
            // Cached arenas (the fast model's quick lists) are free but do
            // not merge until a flush: they separate free arenas as blocks do.
            ensure!(
                s.free_arenas - s.cached_arenas <= s.used_arenas + s.cached_arenas + 1,
                "immediate coalescing left more free arenas than gaps between blocks: {s:?}"
            );
        }
        self.counts.peak_live_bytes = self.counts.peak_live_bytes.max(self.requested);
        Ok(())
    }

    /// The full check: invariants, every arena, every block's arena and
    /// place, and (with `bytes`) every block's bytes.
    pub(super) fn full_check(&mut self, bytes: bool) -> Result<(), Violation> {
        self.counts.full_checks += 1;
        let m = self.heap.manager();
        if let Err(e) = m.check_invariants() {
            return Err(Violation(format!("check_invariants: {e:?}")));
        }
        // The arenas tile the region, in address order.
        let mut end = 0;
        let mut in_use = 0;
        for a in m.arenas() {
            ensure!(
                a.offset == end,
                "arena {a:?} does not start where the last ended ({end})"
            );
            end = a.offset + a.size;
            in_use += usize::from(a.in_use);
        }
        ensure!(
            end == self.capacity,
            "the arenas end at {end}, not at {}",
            self.capacity
        );
        ensure!(
            in_use == self.live.len(),
            "{in_use} arenas in use, {} blocks",
            self.live.len()
        );
        // Every block: its arena, its bytes, no overlap.
        let base = self.heap.base().as_ptr() as usize;
        let mut by_addr: Vec<Block> = self.live.clone();
        by_addr.sort_unstable_by_key(|b| b.ptr.as_ptr() as usize);
        let mut prev_end = 0;
        for b in &by_addr {
            let offset = b.ptr.as_ptr() as usize - base;
            let a = m.arena_at(offset);
            ensure!(
                a.is_some_and(|a| a.in_use && a.used == b.size && a.size >= b.size),
                "block {b:?} (offset {offset}) has arena {a:?}"
            );
            ensure!(
                offset >= prev_end,
                "block at offset {offset} overlaps the one before"
            );
            prev_end = offset + b.size;
            if let Some(at) = b.first_bad(if bytes { b.size } else { 0 }) {
                return Err(corrupt(b, at, "in a full check"));
            }
        }
        Ok(())
    }

    /// Frees everything (checking each block) and checks the heap is whole.
    pub(super) fn finish(&mut self) -> Result<(), Violation> {
        self.full_check(true)?;
        while !self.live.is_empty() {
            let i = self.rng.below(self.live.len() as u64) as usize;
            self.free(i)?;
        }
        self.cheap_checks()?;
        let s = self.heap.stats();
        if self.config.coalescing == Coalescing::Immediate {
            ensure!(
                s.free_arenas - s.cached_arenas <= s.cached_arenas + 1,
                "everything freed under immediate coalescing, yet {} free arenas ({} cached)",
                s.free_arenas,
                s.cached_arenas
            );
        }
        self.heap.defragment();
        let s = self.heap.stats();
        ensure!(
            s.free_arenas == 1 && s.largest_free == self.capacity && s.used_arenas == 0,
            "everything freed and defragmented, yet not one free arena: {s:?}"
        );
        self.full_check(true)
    }
}
