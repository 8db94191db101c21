//! The simulated device of `sysarena defrag`: a manager with handles over
//! a region whose bytes this process holds (as a GPU buffer would be held
//! by the device), every block carrying a byte pattern checked after every
//! move; and how the region is fragmented — the seeded random scenario or a
//! real trace's prefix.

use super::*;

/// The simulated device: a manager with handles, and the region's bytes.
pub(super) struct Device {
    pub(super) m: Movable<0, 0, Box<[Slot]>, Box<[sysarena::HandleSlot]>>,
    pub(super) region: Vec<u8>,
    /// Each live block's pattern seed and size.
    pub(super) blocks: HashMap<Handle, (u8, usize)>,
}

impl Device {
    pub(super) fn new(capacity: usize, table: usize, config: Config) -> io::Result<Device> {
        let slots = vec![Slot::EMPTY; table].into_boxed_slice();
        let manager =
            ArenaManager::from_table(slots, capacity, config).map_err(io::Error::other)?;
        let handles = vec![sysarena::HandleSlot::EMPTY; table].into_boxed_slice();
        Ok(Device {
            m: Movable::from_parts(manager, handles).map_err(io::Error::other)?,
            region: vec![0; capacity],
            blocks: HashMap::new(),
        })
    }

    pub(super) fn alloc(&mut self, size: usize) -> Result<Handle, HandleError> {
        self.alloc_aligned(size, 16)
    }

    pub(super) fn alloc_aligned(
        &mut self,
        size: usize,
        align: usize,
    ) -> Result<Handle, HandleError> {
        let h = self.m.alloc(size, align)?;
        let off = self.m.offset(h)?;
        let seed = (h.index() as u8).wrapping_mul(37).wrapping_add(11);
        for (i, b) in self.region[off..off + size].iter_mut().enumerate() {
            *b = pattern(seed, i);
        }
        self.blocks.insert(h, (seed, size));
        Ok(h)
    }

    pub(super) fn free(&mut self, h: Handle) -> io::Result<()> {
        self.m.free(h).map_err(io::Error::other)?;
        self.blocks.remove(&h);
        Ok(())
    }

    /// Resizes `h`, moving its bytes as the manager says; new bytes get the
    /// pattern.
    pub(super) fn resize(&mut self, h: Handle, size: usize) -> Result<(), HandleError> {
        let r = self.m.resize(h, size)?;
        if let Some(from) = r.moved_from {
            self.region.copy_within(from..from + r.copy_len, r.offset);
        }
        let (seed, old) = self.blocks[&h];
        for i in old.min(size)..size {
            self.region[r.offset + i] = pattern(seed, i);
        }
        self.blocks.insert(h, (seed, size));
        Ok(())
    }

    /// Every block's bytes at the place its handle names now.
    pub(super) fn verify(&self) -> io::Result<()> {
        for (h, &(seed, size)) in &self.blocks {
            let off = self.m.offset(*h).map_err(io::Error::other)?;
            let bytes = &self.region[off..off + size];
            if let Some(i) = (0..size).find(|&i| bytes[i] != pattern(seed, i)) {
                return Err(io::Error::other(format!(
                    "block {h} lost byte {i} at offset {}",
                    off + i
                )));
            }
        }
        self.m.check_invariants().map_err(io::Error::other)
    }

    pub(super) fn arenas(&self) -> Vec<ArenaInfo> {
        self.m.manager().arenas().collect()
    }

    /// Handle index by offset, for stable colours across moves.
    pub(super) fn keys(&self) -> HashMap<usize, usize> {
        self.m
            .handles()
            .filter_map(|h| Some((self.m.offset(h).ok()?, h.index() as usize)))
            .collect()
    }
}

pub(super) fn pattern(seed: u8, i: usize) -> u8 {
    seed ^ (i as u8).wrapping_mul(7)
}

/// Fragments a region: the random scenario, or a trace's prefix replayed.
/// Returns the device and a line saying what happened.
pub(super) fn fragment(args: &DefragArgs, config: Config) -> io::Result<(Device, String)> {
    let Some(path) = &args.trace else {
        let mut d = Device::new(args.capacity, TABLE, config)?;
        let mut rng = Pcg64Mcg::seed_from_u64(args.seed);
        let mut live = Vec::new();
        loop {
            let size = rng.random_range(args.min_block..=args.max_block);
            match d.alloc(size) {
                Ok(h) => live.push(h),
                Err(_) => break,
            }
        }
        let mut freed = 0;
        for h in &live {
            if rng.random_range(0..100u8) < args.free_percent {
                d.free(*h)?;
                freed += 1;
            }
        }
        let story = format!(
            "Fill the region with {} blocks of {}–{}, then free {freed} of them at random",
            live.len(),
            fmt_bytes(args.min_block),
            fmt_bytes(args.max_block)
        );
        return Ok((d, story));
    };
    let trace = crate::sim::load_trace(path, None, Some(args.events), true)?;
    let st = trace.stats();
    // Room for the peak, with slack for fragmentation; a descriptor and a
    // handle per live block, and as many again for free arenas.
    let capacity = st
        .peak_live_bytes
        .checked_mul(2)
        .map(|c| c.max(args.capacity))
        .filter(|&c| c <= MAX_REGION)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: the first {} events hold up to {} live at once, so the region would need {}; a simulated region holds at most {} (its bytes are in memory): replay fewer events with --events",
                    path.display(),
                    trace.events.len(),
                    fmt_bytes(st.peak_live_bytes),
                    st.peak_live_bytes
                        .checked_mul(2)
                        .map_or_else(|| "more than 16 EiB".to_owned(), fmt_bytes),
                    fmt_bytes(MAX_REGION)
                ),
            )
        })?;
    let table = st
        .max_live_blocks
        .saturating_mul(2)
        .saturating_add(64)
        .max(TABLE);
    let mut d = Device::new(capacity, table, config)?;
    let mut ids: HashMap<u64, Handle> = HashMap::new();
    let mut failed = 0;
    for ev in &trace.events {
        match *ev {
            Event::Alloc { id, size, align } => match d.alloc_aligned(size.max(1), align) {
                Ok(h) => {
                    ids.insert(id, h);
                }
                Err(_) => failed += 1,
            },
            Event::Free { id } => {
                if let Some(h) = ids.remove(&id) {
                    d.free(h)?;
                }
            }
            Event::Realloc { id, size } => {
                if let Some(&h) = ids.get(&id)
                    && d.resize(h, size.max(1)).is_err()
                {
                    failed += 1;
                }
            }
        }
    }
    d.verify()?;
    let mut story = format!(
        "Replay {} events of {} into a {} region",
        trace.events.len(),
        trace.name,
        fmt_bytes(capacity)
    );
    if failed > 0 {
        story.push_str(&format!(" ({failed} requests failed)"));
    }
    Ok((d, story))
}

/// Rebuilds the fragmented region and runs `relocate` on it: (moves,
/// bytes, largest free after).
pub(super) fn compact_at_once(
    args: &DefragArgs,
    config: Config,
) -> io::Result<(usize, usize, usize)> {
    let (mut d, _) = fragment(args, config)?;
    let region = &mut d.region;
    let rep =
        d.m.relocate(|_, mv| region.copy_within(mv.from..mv.from + mv.len, mv.to))
            .map_err(io::Error::other)?;
    d.verify()?;
    Ok((rep.moved, rep.bytes_moved, rep.largest_free_after))
}
