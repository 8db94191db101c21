//! sysarena itself as a subject: every [`Policy`] × [`Coalescing`].

use std::alloc::Layout;
use std::fmt;

use sysarena::{
    AllocError, ArenaManager, Coalescing, Config, OomReason, Policy, ReallocError, Reallocation,
    Slot,
};

use crate::subject::Region;
use crate::subject::{Block, FreeStats, NO_KEY, Refusal, Subject, SubjectError};

/// The descriptor table a subject gets for a region of `capacity` bytes
/// when none is given: `capacity / 128`, clamped to `[1024, 1 << 20]`
/// (1 Mi descriptors for the default 128 MiB region: the perl trace needs
/// about 2 × 253k — one per live block and one per free arena between
/// them).
pub fn default_descriptors(capacity: usize) -> usize {
    (capacity / 128).clamp(1024, 1 << 20)
}

/// A sysarena [`ArenaManager`] over a descriptor table on the heap.
///
/// Named `sysarena/<policy>/<coalescing>` (e.g. `sysarena/first-fit/deferred`,
/// the classic model). sysarena works on offsets and keeps no headers, so
/// the subject needs no memory buffer, only the table. Zero-byte requests
/// are passed on as 1 byte (the arena model has no empty arenas).
///
/// A driver that keeps each block's key ([`Subject::alloc_keyed`]; the
/// benchmarks do) gets the allocation's [`hint`](sysarena::Allocation::hint)
/// and passes it back: frees and reallocs skip the offset map's lookup
/// (`free_with_hint`). With [`SysarenaSubject::by_offset`] (name suffix
/// `+offsets`) the keys are ignored and every free and realloc goes by
/// offset alone, as a `malloc`-like caller's must. With
/// [`SysarenaSubject::without_offset_map`] (name suffix `+nomap`) the
/// manager keeps no offset map at all
/// ([`ArenaManager::set_offset_map`](sysarena::ArenaManager::set_offset_map)):
/// every free and realloc goes by hint, as a GPU sub-allocator that keeps
/// its allocation objects does; a plain call (no key) finds its hint by a
/// walk of the arenas, O(arenas), so that a driver without keys stays
/// correct, only slow.
///
/// With [`SysarenaSubject::defragment_on_failure`] (name suffix `+defrag`),
/// a failed request runs `defragment` (merge free neighbours, compact the
/// table) and retries once — what a program using the classic model does;
/// without it, the deferred modes never merge, exactly as the seed's model.
///
/// With [`SysarenaSubject::with_memory`] the subject also owns a region of
/// real memory and copies a moving realloc's bytes there, as every peer
/// does; the benchmarks use it so that sysarena pays for the same copies.
pub struct SysarenaSubject {
    manager: TableManager,
    /// `sysarena/<policy>/<coalescing>`, then the variant's suffixes.
    name: String,
    /// The name's length without the suffixes.
    base_len: usize,
    defrag_on_failure: bool,
    /// How frees and reallocs find their block: one field, so that each
    /// call tests one thing.
    keys: Keys,
    defragments: u64,
    /// Real memory for moving reallocs to copy in (see `with_memory`).
    memory: Option<Region>,
    /// Why the last refused request was refused.
    last_refusal: Option<Refusal>,
}

/// The manager a [`SysarenaSubject`] runs: its descriptor table is an owned
/// `Box<[Slot]>`, zeroed and used lazily (no resident cost until needed).
pub type TableManager = ArenaManager<0, Box<[Slot]>>;

/// A table of `len` all-zero slots, allocated zeroed so that its pages stay
/// untouched (no resident cost) until the manager uses a descriptor; `None`
/// when `len` slots do not fit in memory.
fn zeroed_table(len: usize) -> Option<Box<[Slot]>> {
    let layout = Layout::array::<Slot>(len).ok()?;
    if layout.size() == 0 {
        return Some(Box::new([]));
    }
    // SAFETY: the layout has a non-zero size.
    let base = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Slot>();
    if base.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `base` holds `len` slots allocated by the global allocator with
    // `Layout::array::<Slot>(len)`, exactly as a `Box<[Slot]>` of that length
    // is; all-zero bytes are a valid `Slot` (documented by the core), so every
    // slot is initialised; the box becomes the allocation's only owner.
    Some(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(base, len)) })
}

impl fmt::Debug for SysarenaSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SysarenaSubject")
            .field("name", &self.name)
            .field("stats", &self.manager.stats())
            .finish_non_exhaustive()
    }
}

impl SysarenaSubject {
    /// A manager with `config` over `capacity` bytes and a table of
    /// `descriptors` slots.
    pub fn new(config: Config, capacity: usize, descriptors: usize) -> Result<Self, SubjectError> {
        let name = format!(
            "sysarena/{}/{}",
            config.policy.name(),
            config.coalescing.name()
        );
        let len = descriptors.max(1);
        let too_large = || SubjectError::Capacity {
            subject: "sysarena",
            capacity,
            reason: "a table of 1 to u32::MAX - 2 descriptors",
        };
        let table = zeroed_table(len).ok_or_else(too_large)?;
        // SAFETY: every slot is all zero bytes.
        let manager = unsafe { ArenaManager::from_empty_table(table, capacity, config) }
            .map_err(|_| too_large())?;
        Ok(SysarenaSubject {
            manager,
            base_len: name.len(),
            name,
            defrag_on_failure: false,
            keys: Keys::Hints,
            defragments: 0,
            memory: None,
            last_refusal: None,
        })
    }

    /// As [`SysarenaSubject::new`] with [`default_descriptors`].
    pub fn with_config(config: Config, capacity: usize) -> Result<Self, SubjectError> {
        SysarenaSubject::new(config, capacity, default_descriptors(capacity))
    }

    /// Makes a failed request run `defragment` and retry once (adds
    /// `+defrag` to the name). Turns `+nomap` off: a defragment compacts
    /// the table, and the hints a map-less manager depends on go wrong.
    pub fn defragment_on_failure(mut self, on: bool) -> Self {
        self.defrag_on_failure = on;
        if on && self.keys == Keys::NoMap {
            self.set_keys(Keys::Hints);
        }
        self.rename();
        self
    }

    /// Makes every free and realloc go by offset alone, ignoring the keys
    /// the driver passes back (adds `+offsets` to the name): what a caller
    /// that keeps no hint pays.
    pub fn by_offset(mut self, on: bool) -> Self {
        if on {
            self.set_keys(Keys::Offsets);
        } else if self.keys == Keys::Offsets {
            self.set_keys(Keys::Hints);
        }
        self.rename();
        self
    }

    /// Drops the manager's offset map (adds `+nomap` to the name): every
    /// free and realloc goes by the key the driver passes back, and a plain
    /// call finds it by a walk of the arenas (see the type's docs).
    /// `+offsets` and `+defrag` are turned off.
    pub fn without_offset_map(mut self, on: bool) -> Self {
        if on {
            self.set_keys(Keys::NoMap);
            self.defrag_on_failure = false;
        } else if self.keys == Keys::NoMap {
            self.set_keys(Keys::Hints);
        }
        self.rename();
        self
    }

    /// Switches how blocks are found, keeping the offset map only where it
    /// is used.
    fn set_keys(&mut self, keys: Keys) {
        self.keys = keys;
        self.manager.set_offset_map(keys != Keys::NoMap);
    }

    /// Applies a parsed name's [`Variant`].
    pub fn variant(self, v: Variant) -> Self {
        self.defragment_on_failure(v.defrag)
            .by_offset(v.by_offset)
            .without_offset_map(v.no_map)
    }

    /// The key a plain call (which has none) passes on: `NO_KEY`, so that
    /// the manager looks the offset up — or without the map, the
    /// descriptor of the arena at `offset`, found by a walk.
    fn plain_key(&self, offset: usize) -> u32 {
        if self.keys == Keys::NoMap {
            self.walk_for_hint(offset)
        } else {
            NO_KEY
        }
    }

    /// The descriptor of the arena at `offset`, by a walk (no map, no key).
    #[cold]
    #[inline(never)]
    fn walk_for_hint(&self, offset: usize) -> u32 {
        self.manager
            .arena_at(offset)
            .map_or(NO_KEY, |a| a.slot as u32)
    }

    /// The name from the config and the variant's suffixes.
    fn rename(&mut self) {
        self.name.truncate(self.base_len);
        match self.keys {
            Keys::Hints => {}
            Keys::Offsets => self.name.push_str("+offsets"),
            Keys::NoMap => self.name.push_str("+nomap"),
        }
        if self.defrag_on_failure {
            self.name.push_str("+defrag");
        }
    }

    /// Gives the subject a zeroed region of real memory of its capacity, in
    /// which a moving realloc copies the kept bytes from the old offset to
    /// the new one (what a [`Heap`](sysarena::Heap) caller does). Without it
    /// sysarena works on offsets alone and a move costs no copy, which would
    /// flatter it against the peers, whose reallocs copy.
    ///
    /// # Errors
    /// [`SubjectError::Region`] if the memory cannot be allocated.
    pub fn with_memory(mut self) -> Result<Self, SubjectError> {
        if self.memory.is_none() {
            self.memory = Some(Region::new("sysarena", self.capacity(), 0)?);
        }
        Ok(self)
    }

    /// How many times a failure triggered `defragment`.
    pub fn defragments(&self) -> u64 {
        self.defragments
    }

    /// The manager, for stats and arena walks.
    pub fn manager(&self) -> &TableManager {
        &self.manager
    }

    /// Copies a moved allocation's bytes in the subject's memory, if it
    /// has some.
    #[inline]
    fn copy_moved(&self, r: &Reallocation) {
        if let (Some(from), Some(memory)) = (r.moved_from, &self.memory) {
            // SAFETY: both arenas lie inside the region (the manager's
            // capacity is the region's size) and may overlap only as
            // `memmove` allows (`Region::copy` is one): the new one was
            // allocated while the old one was still live, or grew into its
            // free left neighbour.
            unsafe { memory.copy(from, r.offset, r.copy_len) };
        }
    }

    /// An allocation that failed once: [`retry`](Self::retry) it.
    #[cold]
    #[inline(never)]
    fn alloc_failed(&mut self, size: usize, align: usize) -> Option<(usize, u32)> {
        // Asking again without a defragment gives the same error (the
        // manager changes nothing on error), now recorded.
        self.retry(|m| m.alloc(size.max(1), align), Some)
            .map(|a| (a.offset(), a.hint()))
    }

    /// A reallocation that failed once: [`retry`](Self::retry) it.
    #[cold]
    #[inline(never)]
    fn realloc_failed(&mut self, block: Block, key: u32, new_size: usize) -> Option<Reallocation> {
        let by_offset = self.keys == Keys::Offsets;
        self.retry(
            |m| {
                if by_offset {
                    m.realloc(block.offset, new_size.max(1), block.align)
                } else {
                    m.realloc_with_hint(block.offset, key, new_size.max(1), block.align)
                }
            },
            |e| match e {
                ReallocError::Alloc(e) => Some(e),
                _ => None,
            },
        )
    }

    /// Runs `f`; on failure defragments and runs it once more when asked
    /// to, and records why the last failure failed.
    fn retry<T, E>(
        &mut self,
        mut f: impl FnMut(&mut TableManager) -> Result<T, E>,
        why: impl Fn(E) -> Option<AllocError>,
    ) -> Option<T> {
        let result = match f(&mut self.manager) {
            Err(_) if self.defrag_on_failure => {
                self.defragments += 1;
                self.manager.defragment();
                f(&mut self.manager)
            }
            other => other,
        };
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.last_refusal = why(e).map(|e| match e {
                    AllocError::OutOfMemory(OomReason::NoSpareDescriptor { .. }) => {
                        Refusal::NoDescriptor
                    }
                    AllocError::TooLarge { .. } | AllocError::SizeOverflow { .. } => {
                        Refusal::TooLarge
                    }
                    _ => Refusal::NoFit,
                });
                None
            }
        }
    }
}

/// The names of every sysarena subject (`sysarena/<policy>/<coalescing>`).
pub fn names() -> Vec<String> {
    Policy::ALL
        .into_iter()
        .flat_map(|p| {
            Coalescing::ALL
                .into_iter()
                .map(move |c| format!("sysarena/{}/{}", p.name(), c.name()))
        })
        .collect()
}

/// How a subject's frees and reallocs find their block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keys {
    /// By the hint the driver passes back (offset map kept, for a wrong or
    /// missing one).
    Hints,
    /// By offset alone (`+offsets`).
    Offsets,
    /// By the hint alone, without an offset map (`+nomap`).
    NoMap,
}

/// The suffixes a sysarena subject's name may carry, in this order:
/// `+offsets` ([`SysarenaSubject::by_offset`]) or `+nomap`
/// ([`SysarenaSubject::without_offset_map`]), then `+defrag`
/// ([`SysarenaSubject::defragment_on_failure`]), never with `+nomap`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    /// `+defrag`: a failed request defragments and retries once.
    pub defrag: bool,
    /// `+offsets`: frees and reallocs by offset alone, without hints.
    pub by_offset: bool,
    /// `+nomap`: no offset map; frees and reallocs by hint alone.
    pub no_map: bool,
}

/// Parses `sysarena/<policy>/<coalescing>[+offsets|+nomap][+defrag]` into
/// a config and the [`Variant`] (`+nomap+defrag` is refused: a defragment
/// compacts the table, and the hints a map-less manager depends on go
/// wrong).
pub fn parse_name(name: &str) -> Option<(Config, Variant)> {
    let rest = name.strip_prefix("sysarena/")?;
    let (rest, defrag) = match rest.strip_suffix("+defrag") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (rest, by_offset) = match rest.strip_suffix("+offsets") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (rest, no_map) = match rest.strip_suffix("+nomap") {
        Some(r) if !by_offset && !defrag => (r, true),
        Some(_) => return None,
        None => (rest, false),
    };
    let (policy, coalescing) = rest.split_once('/')?;
    let policy: Policy = policy.parse().ok()?;
    let coalescing: Coalescing = coalescing.parse().ok()?;
    Some((
        Config::new(policy, coalescing),
        Variant {
            defrag,
            by_offset,
            no_map,
        },
    ))
}

impl Subject for SysarenaSubject {
    fn name(&self) -> &str {
        &self.name
    }

    fn capacity(&self) -> usize {
        self.manager.capacity()
    }

    // The plain forms are the keyed ones without a key: `NO_KEY` is never a
    // descriptor's number, so the manager looks the offset up (without the
    // map, a walk finds the key: `plain_key`). A keyed call's key is the
    // one `alloc_keyed` or `realloc_keyed` returned (the trait's contract),
    // so the keyed calls test nothing more.
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        self.alloc_keyed(size, align).map(|(offset, _)| offset)
    }

    unsafe fn free(&mut self, block: Block) {
        // SAFETY: the caller's contract is `free_keyed`'s.
        unsafe { self.free_keyed(block, self.plain_key(block.offset)) }
    }

    unsafe fn realloc(&mut self, block: Block, new_size: usize) -> Option<usize> {
        // SAFETY: the caller's contract is `realloc_keyed`'s.
        unsafe { self.realloc_keyed(block, self.plain_key(block.offset), new_size) }
            .map(|(offset, _)| offset)
    }

    fn alloc_keyed(&mut self, size: usize, align: usize) -> Option<(usize, u32)> {
        // The usual case first and inline; failures (and the retry after a
        // defragment) out of line.
        match self.manager.alloc(size.max(1), align) {
            Ok(a) => Some((a.offset(), a.hint())),
            Err(_) => self.alloc_failed(size, align),
        }
    }

    unsafe fn free_keyed(&mut self, block: Block, key: u32) {
        // Cannot fail for a live block (the caller's contract); sysarena
        // would report a bad free as an error rather than misbehave. A key
        // that is not the block's hint (`NO_KEY`: the plain form, or a
        // failed request's retry) only costs the lookup `free` does.
        let _ = if self.keys == Keys::Offsets {
            self.manager.free(block.offset)
        } else {
            self.manager.free_with_hint(block.offset, key)
        };
    }

    unsafe fn realloc_keyed(
        &mut self,
        block: Block,
        key: u32,
        new_size: usize,
    ) -> Option<(usize, u32)> {
        let (offset, size, align) = (block.offset, new_size.max(1), block.align);
        let r = if self.keys == Keys::Offsets {
            self.manager.realloc(offset, size, align)
        } else {
            self.manager.realloc_with_hint(offset, key, size, align)
        };
        // The usual case first; a failure (and the retry after a
        // defragment) out of line.
        let r = match r {
            Ok(r) => r,
            Err(_) => self.realloc_failed(block, key, new_size)?,
        };
        self.copy_moved(&r);
        Some((r.offset, r.hint()))
    }

    fn free_extents(&self) -> Option<Vec<(usize, usize)>> {
        Some(
            self.manager
                .arenas()
                .filter(|a| !a.in_use)
                .map(|a| (a.offset, a.size))
                .collect(),
        )
    }

    fn last_refusal(&self) -> Option<Refusal> {
        self.last_refusal
    }

    fn free_stats(&self) -> Option<FreeStats> {
        let s = self.manager.stats();
        Some(FreeStats {
            free_bytes: s.free_bytes,
            largest_free: s.largest_free,
            free_blocks: s.free_arenas,
        })
    }
}

#[cfg(test)]
mod tests;
