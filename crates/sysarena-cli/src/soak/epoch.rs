//! One epoch of the soak: a fresh heap with one configuration, the soak's
//! model of what is live in it, and the operations drawn at random —
//! allocate, free, realloc, defragment, relocate — each checked as it goes.

use super::*;

/// What one configuration did, over all its epochs.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counts {
    pub(super) epochs: u64,
    pub(super) ops: u64,
    pub(super) allocs: u64,
    pub(super) oom: u64,
    pub(super) no_descriptor: u64,
    pub(super) frees: u64,
    pub(super) reallocs: u64,
    pub(super) moved: u64,
    pub(super) realloc_oom: u64,
    pub(super) defrags: u64,
    pub(super) defrag_retries: u64,
    pub(super) relocates: u64,
    pub(super) relocated_blocks: u64,
    pub(super) full_checks: u64,
    pub(super) peak_live_bytes: usize,
}

impl Counts {
    pub(super) fn add(&mut self, o: &Counts) {
        self.epochs += o.epochs;
        self.ops += o.ops;
        self.allocs += o.allocs;
        self.oom += o.oom;
        self.no_descriptor += o.no_descriptor;
        self.frees += o.frees;
        self.reallocs += o.reallocs;
        self.moved += o.moved;
        self.realloc_oom += o.realloc_oom;
        self.defrags += o.defrags;
        self.defrag_retries += o.defrag_retries;
        self.relocates += o.relocates;
        self.relocated_blocks += o.relocated_blocks;
        self.full_checks += o.full_checks;
        self.peak_live_bytes = self.peak_live_bytes.max(o.peak_live_bytes);
    }
}

pub(super) type SoakHeap = Heap<0, Vec<Slot>>;

/// One epoch: a fresh heap with one configuration, and the soak's model of
/// what is live in it.
pub(super) struct Epoch<'a> {
    pub(super) heap: SoakHeap,
    pub(super) config: Config,
    pub(super) capacity: usize,
    pub(super) rng: Rng,
    pub(super) live: Vec<Block>,
    pub(super) requested: usize,
    pub(super) serial: u64,
    /// The fill the generator steers towards, changed now and then.
    pub(super) target: f64,
    pub(super) counts: &'a mut Counts,
}

impl Epoch<'_> {
    /// A size, log-uniform between 1 byte and 1/16 of the region.
    pub(super) fn size(&mut self) -> usize {
        let max_bits = (self.capacity / 16).max(2).ilog2() as u64;
        let bits = self.rng.below(max_bits + 1);
        1 + self.rng.below(1 << bits) as usize
    }

    /// An alignment from 1 to 4 KiB (at most 1/4 of the region), small ones
    /// most often.
    pub(super) fn align(&mut self) -> usize {
        let a = match self.rng.below(10) {
            0..6 => 1 << self.rng.below(5),
            6..9 => 16 << self.rng.below(5),
            _ => 256 << self.rng.below(5),
        };
        a.min((self.capacity / 4).max(1).next_power_of_two() >> 1)
            .max(1)
    }

    pub(super) fn step(&mut self, op: u64) -> Result<(), Violation> {
        if op.is_multiple_of(4096) {
            self.target = 0.1 + 0.85 * (self.rng.below(1000) as f64 / 1000.0);
        }
        let fill = self.heap.stats().in_use_bytes as f64 / self.capacity as f64;
        match self.rng.below(1000) {
            0..5 => self.defragment()?,
            5 => self.relocate()?,
            6..200 if !self.live.is_empty() => self.realloc()?,
            _ => {
                let p_alloc = if fill < self.target { 650 } else { 350 };
                if self.live.is_empty() || self.rng.below(1000) < p_alloc {
                    self.alloc()?;
                } else {
                    let i = self.rng.below(self.live.len() as u64) as usize;
                    self.free(i)?;
                }
            }
        }
        self.cheap_checks()
    }

    pub(super) fn alloc(&mut self) -> Result<(), Violation> {
        let (size, align) = (self.size(), self.align());
        let layout = Layout::from_size_align(size, align).expect("a valid layout");
        let mut retried = false;
        let ptr = loop {
            match self.heap.alloc(layout) {
                Ok(p) => break p,
                Err(AllocError::OutOfMemory(OomReason::NoFit { needed, .. })) => {
                    self.no_fit_is_true(needed, align, "alloc")?;
                    if self.config.coalescing == Coalescing::Deferred && !retried {
                        // A program on the classic model defragments and
                        // retries.
                        self.heap.defragment();
                        self.counts.defrag_retries += 1;
                        retried = true;
                        continue;
                    }
                    self.counts.oom += 1;
                    return Ok(());
                }
                Err(AllocError::OutOfMemory(OomReason::NoSpareDescriptor { .. })) => {
                    self.counts.no_descriptor += 1;
                    return Ok(());
                }
                Err(e) => {
                    return Err(Violation(format!(
                        "alloc({size}, align {align}) of a valid request failed: {e:?}"
                    )));
                }
            }
        };
        let addr = ptr.as_ptr() as usize;
        let base = self.heap.base().as_ptr() as usize;
        ensure!(
            addr.is_multiple_of(align),
            "alloc({size}, align {align}) returned {addr:#x}, misaligned"
        );
        let usable = self.heap.usable_size(ptr);
        ensure!(
            addr >= base && usable.is_some_and(|u| addr - base + u <= self.capacity && u >= size),
            "alloc({size}, align {align}) returned offset {} with usable size {usable:?} in a region of {}",
            addr.wrapping_sub(base),
            self.capacity
        );
        self.serial += 1;
        let b = Block {
            ptr,
            size,
            align,
            seed: self.rng.next() ^ self.serial,
        };
        b.fill(0, size);
        self.live.push(b);
        self.requested += size;
        self.counts.allocs += 1;
        Ok(())
    }

    pub(super) fn free(&mut self, i: usize) -> Result<(), Violation> {
        let b = self.live.swap_remove(i);
        if let Some(at) = b.first_bad(b.size) {
            return Err(corrupt(&b, at, "before free"));
        }
        // SAFETY: a live block of this heap, not used again.
        let r = unsafe { self.heap.free(b.ptr) };
        ensure!(r.is_ok(), "free of live block {b:?} failed: {r:?}");
        self.requested -= b.size;
        self.counts.frees += 1;
        Ok(())
    }

    pub(super) fn realloc(&mut self) -> Result<(), Violation> {
        let i = self.rng.below(self.live.len() as u64) as usize;
        let new = match self.rng.below(4) {
            0 => (self.live[i].size / 2).max(1),
            1 => self.live[i].size + 1 + self.rng.below(64) as usize,
            _ => self.size(),
        };
        let b = self.live[i];
        if let Some(at) = b.first_bad(b.size) {
            return Err(corrupt(&b, at, "before realloc"));
        }
        let layout = Layout::from_size_align(new, b.align).expect("a valid layout");
        self.counts.reallocs += 1;
        // SAFETY: a live block of this heap; on success only the returned
        // pointer is used.
        match unsafe { self.heap.realloc(b.ptr, layout) } {
            Ok(p) => {
                if p != b.ptr {
                    self.counts.moved += 1;
                }
                let nb = Block {
                    ptr: p,
                    size: new,
                    ..b
                };
                let kept = b.size.min(new);
                ensure!(
                    (p.as_ptr() as usize).is_multiple_of(b.align),
                    "realloc to {new} lost the alignment {}",
                    b.align
                );
                ensure!(
                    self.heap.usable_size(p).is_some_and(|u| u >= new),
                    "realloc to {new}: usable size {:?}",
                    self.heap.usable_size(p)
                );
                if let Some(at) = nb.first_bad(kept) {
                    return Err(corrupt(&nb, at, "after realloc (the kept prefix)"));
                }
                nb.fill(kept, new);
                self.live[i] = nb;
                self.requested = self.requested - b.size + new;
            }
            Err(ReallocError::Alloc(AllocError::OutOfMemory(reason))) => {
                if let OomReason::NoFit { needed, .. } = reason {
                    // A failed realloc may still have been servable by
                    // moving; it must not have failed while a fitting arena
                    // existed elsewhere.
                    self.no_fit_is_true(needed, b.align, "realloc")?;
                }
                self.counts.realloc_oom += 1;
                if let Some(at) = b.first_bad(b.size) {
                    return Err(corrupt(&b, at, "after a failed realloc"));
                }
            }
            // Growing a block past the whole region (a small `--capacity`)
            // is rightly refused; the block must be intact.
            Err(ReallocError::Alloc(AllocError::TooLarge { .. }))
                if new.next_multiple_of(b.align) > self.capacity =>
            {
                self.counts.realloc_oom += 1;
                if let Some(at) = b.first_bad(b.size) {
                    return Err(corrupt(&b, at, "after a refused realloc"));
                }
            }
            Err(e) => {
                return Err(Violation(format!(
                    "realloc of live block {b:?} to {new} failed: {e:?}"
                )));
            }
        }
        Ok(())
    }

    pub(super) fn defragment(&mut self) -> Result<(), Violation> {
        let before = self.heap.stats();
        let r = self.heap.defragment();
        let after = self.heap.stats();
        self.counts.defrags += 1;
        ensure!(
            after.in_use_bytes == before.in_use_bytes && after.used_arenas == before.used_arenas,
            "defragment changed what is in use: {before:?} -> {after:?}"
        );
        ensure!(
            r.free_arenas_after <= r.free_arenas_before
                && r.largest_free_after >= r.largest_free_before,
            "defragment made things worse: {r:?}"
        );
        // Nothing moved: the bytes are checked at the next full check.
        self.full_check(false)
    }

    pub(super) fn relocate(&mut self) -> Result<(), Violation> {
        let index: HashMap<usize, usize> = self
            .live
            .iter()
            .enumerate()
            .map(|(i, b)| (b.ptr.as_ptr() as usize, i))
            .collect();
        let live = &mut self.live;
        let mut unknown = None;
        let mut moved: Vec<usize> = Vec::new();
        // SAFETY: the soak holds no reference into the heap, and every
        // pointer it keeps is updated through `on_move`.
        let r = unsafe {
            self.heap
                .relocate(|from, to, len| match index.get(&(from.as_ptr() as usize)) {
                    Some(&i) if live[i].size <= len => {
                        live[i].ptr = to;
                        moved.push(i);
                    }
                    _ => unknown = Some((from, to, len)),
                })
        };
        self.counts.relocates += 1;
        self.counts.relocated_blocks += moved.len() as u64;
        ensure!(
            unknown.is_none(),
            "relocate moved something that is not a live block (or too short): {unknown:?}"
        );
        if let Ok(r) = r {
            ensure!(
                r.moved == moved.len(),
                "relocate reported {} moves and made {}",
                r.moved,
                moved.len()
            );
        }
        // The moved blocks' bytes now; the others' at the next full check.
        for &i in &moved {
            let b = self.live[i];
            if let Some(at) = b.first_bad(b.size) {
                return Err(corrupt(&b, at, "after relocate moved it"));
            }
        }
        self.full_check(false)
    }
}
