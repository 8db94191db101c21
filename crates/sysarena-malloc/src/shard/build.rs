//! Building a shard: where the shards' memory is ([`Plan`], recorded once
//! by initialisation), and the shard's heap and slab layer written in place
//! over it. Shard 0 is built at start-up, every other one by the first
//! lock that takes it ([`Locked::lock`](super::Locked::lock)), so a shard
//! no thread uses costs no memory but its address space.

use core::mem::{MaybeUninit, size_of};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use sysarena::{Config, Heap, Slot};

use super::Released;
use super::locked::SHARDS;
use crate::settings::MAX_SHARDS;
use crate::slab::state::States;
use crate::slab::{self, Meta, Slab};
use crate::sys::{self, SyncCell};

/// Where the start-up shards' memory is: shard `i` has `shard_size` bytes
/// at `base + i * shard_size`, and each of the first `tabled` shards
/// `first_descriptors` slots at `tables + i * first_descriptors` (until its
/// table grows: [`grow_table`]), and (unless `meta`
/// is none: no slab layer) the page records and bitmap pools of pages
/// `i * pages_per_shard ..` in `meta`, and as many pages' states in
/// `states` (whose slot-state words cover every shard that may be). A
/// shard added later under an address-space limit has its memory at the
/// same place but in a mapping of its own, and its tables in another
/// ([`added_layout`], `grow.rs`); so do the start-up shards past `tabled`
/// (under a limit, all but shard 0: they start retired), once revived.
/// Written once by initialisation ([`plan`]) before any shard is built or
/// locked, only read after (by [`build`]).
#[derive(Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) base: *mut u8,
    pub(crate) shard_size: usize,
    pub(crate) tables: *mut Slot,
    /// The most descriptors a shard's table holds, and how many it starts
    /// with (fewer under an address-space limit: it grows, [`grow_table`]).
    pub(crate) descriptors: usize,
    pub(crate) first_descriptors: usize,
    /// Start-up shards whose tables are the planned ones.
    pub(crate) tabled: usize,
    pub(crate) config: Config,
    pub(crate) meta: Meta,
    pub(crate) pages_per_shard: usize,
    pub(crate) states: States,
    pub(crate) slab_on: bool,
    /// Whether the shards' tables mapped later go to their places beyond
    /// the shards ([`tables_place`]), with state blocks that grow as they
    /// are taken: where the reservation lies where it was placed to grow
    /// (under a limit), above which the kernel maps nothing of its own
    /// accord (the program may, with a fixed address: then a place is
    /// refused, or an area stops growing, and the shard goes on without).
    pub(crate) placed: bool,
}

static PLAN: SyncCell<MaybeUninit<Plan>> = SyncCell::new(MaybeUninit::uninit());

/// The one-slot descriptor table of each start-up shard past the planned
/// tables while it has none: built retired, over no memory, its empty heap
/// still needs a table (written by the shard's lock holder alone). All
/// zero bytes, a valid empty slot (`from_empty_slice`'s contract), so that
/// it lies in `.bss` (`Slot::EMPTY` put 3.5 KB in `.data`).
static NO_TABLE: SyncCell<[Slot; MAX_SHARDS]> =
    // SAFETY: every field of a `Slot` is an integer (its `state` a plain
    // byte), so all zero bytes are a valid `Slot`.
    SyncCell::new(unsafe { core::mem::zeroed() });

/// Whether shard `i` has tables: the planned ones, or a mapping of its own
/// (`grow.rs`). One without is retired and gets its own before it is
/// revived. O(1).
pub(super) fn has_tables(i: usize) -> bool {
    // SAFETY: written by `plan` before any shard can be revived.
    let p = unsafe { (*PLAN.get()).assume_init_ref() };
    i < p.tabled || super::grow::tables(i).is_some()
}

/// Where the tables of a shard added later lie in their mapping
/// ([`added_layout`]).
pub(super) struct AddedLayout {
    /// Slab pages of the shard.
    pub(super) pages: usize,
    /// Its descriptors.
    pub(super) descriptors: usize,
    /// Offsets of its descriptor slots and slot states (its page records
    /// start the mapping; the states' blocks end it).
    pub(super) slots_at: usize,
    pub(super) states_at: usize,
    /// Bytes of the mapping.
    pub(super) bytes: usize,
    /// Bytes of it up to the end of the first state blocks
    /// ([`slab::area::FIRST_BLOCKS`]), and those blocks: where the
    /// mapping's place leaves room for the rest to be mapped as they are
    /// taken ([`tables_place`]), only these are mapped at first.
    pub(super) short: usize,
    pub(super) first_blocks: usize,
}

/// The tables of a shard of `len` bytes added after start-up (`grow.rs`):
/// page records, descriptors and slot states as the planned shards have,
/// scaled to its length (the descriptors at most the planned shards'
/// first table, which grows as they do), each part on a page boundary.
pub(super) fn added_layout(p: &Plan, len: usize) -> AddedLayout {
    let pages = len / slab::PAGE;
    let descriptors = (p.descriptors as u128 * len as u128 / p.shard_size as u128) as usize;
    let descriptors = descriptors.clamp(p.descriptors.min(256), p.first_descriptors);
    // Bitmap pools start short and grow as pages are carved (a shard is
    // added only under an address-space limit: `slab/page.rs`).
    let slots_at = slab::Meta::bytes(pages, slab::FIRST_ENTRIES).next_multiple_of(4096);
    let states_at = (slots_at + descriptors * size_of::<Slot>()).next_multiple_of(4096);
    let first_blocks = slab::area::FIRST_BLOCKS.min(pages);
    AddedLayout {
        pages,
        descriptors,
        slots_at,
        states_at,
        bytes: states_at + slab::state::bytes_for_part(pages).unwrap_or(0),
        short: states_at + slab::state::blocks_at_part(pages) + first_blocks * slab::state::BLOCK,
        first_blocks,
    }
}

/// Maps the tables of shard `i`, a shard of `len` bytes added (or mapped
/// again) after start-up ([`added_layout`]): at the shard's place beyond
/// the shards ([`tables_place`]) with only the first state blocks, which
/// then grow as they are taken ([`slab::area`]), where the plan places
/// them and the place is free; else wherever the kernel puts them, whole.
/// `None` if the kernel refuses.
pub(super) fn map_added_tables(i: usize, len: usize) -> Option<*mut u8> {
    // SAFETY: written by `plan` before any shard can grow (growth follows a
    // full shard, so initialisation ran).
    let p = unsafe { (*PLAN.get()).assume_init_ref() };
    let l = added_layout(p, len);
    // The state blocks end the mapping (`added_layout`).
    if p.placed
        && let Some(t) = map_at_place(
            p.base as usize,
            p.shard_size,
            p.descriptors,
            i,
            l.short,
            l.first_blocks,
        )
    {
        return Some(t);
    }
    sys::map_noreserve(l.bytes)
}

/// Maps `len` bytes at shard `i`'s tables place ([`tables_place`], for
/// shards of `shard_size` bytes with `descriptors` each from `base`),
/// whose last bytes are its first `first_blocks` slot-state blocks, and
/// records them as the shard's growing area ([`slab::area::set`]); `None`
/// (nothing recorded) if the place is taken or the kernel refuses. For
/// shard 0's planned states (`init.rs`) and a later shard's tables
/// ([`map_added_tables`]). O(1).
pub(crate) fn map_at_place(
    base: usize,
    shard_size: usize,
    descriptors: usize,
    i: usize,
    len: usize,
    first_blocks: usize,
) -> Option<*mut u8> {
    let t = sys::map_fixed_noreplace(tables_place(base, shard_size, descriptors, i), len)?;
    slab::area::set(i, t, len, first_blocks);
    Some(t)
}

/// Where shard `i`'s tables go when they grow in place (under a limit,
/// the reservation where it was placed to grow), for shards of
/// `shard_size` bytes with `descriptors` each: beyond the places of every
/// shard that may be, far enough apart for the tables of a whole shard
/// (`added_layout`: its descriptors, and at most an eighth of the shard
/// for its page records and slot states; for shard 0, the slot-state
/// words of every page `init.rs` plans), and at least a quarter of a
/// shard and 2 MiB. A place taken anyway (the program's own fixed
/// mapping) is refused, and the tables go wherever the kernel puts them.
/// O(1).
fn tables_place(base: usize, shard_size: usize, descriptors: usize, i: usize) -> usize {
    let whole = descriptors
        .saturating_mul(size_of::<Slot>())
        .saturating_add(shard_size / 8);
    let stride = (shard_size / 4).max(whole).next_multiple_of(2 << 20);
    base + MAX_SHARDS * shard_size + i * stride
}

/// Records where the shards' memory is, then builds shard 0; the others
/// are built by the first lock that takes them
/// ([`Locked::lock`](super::Locked::lock)), so a program that never uses a
/// shard never touches its state (23 KB of `.bss`) or its table: with 64 shards (a machine of 64 CPUs) `ls /`
/// peaked at 3.8–3.9 MB when every shard was built at start-up, and does at
/// 2.3 MB now (`RESULTS.md`, "Shards built on first use"). False if shard 0
/// cannot be built.
///
/// # Safety
/// Called once, during initialisation, before any other access to the
/// shards; `plan.base` is a multiple of [`slab::PAGE`]; the memory the plan
/// describes is ours, zeroed, used by nothing else and lives for ever.
pub(crate) unsafe fn plan(plan: Plan) -> bool {
    // SAFETY: initialisation has exclusive access; every later read comes
    // after this write and the settings' publication (release/acquire).
    unsafe { (*PLAN.get()).write(plan) };
    // SAFETY: initialisation, before any other access to shard 0.
    unsafe { build(0, Over::Memory) }
}

/// What a shard's heap is built over.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Over {
    /// Its memory: where the plan says, or its own mapping (`grow.rs`).
    Memory,
    /// No memory: a retired shard (`retire.rs`), whose heap serves
    /// nothing and owns no address.
    Nothing,
}

/// Shard `i`'s memory, page records, slot states and descriptor table
/// (where its slots are, and how many).
fn parts(p: &Plan, i: usize) -> (*mut u8, usize, Meta, States, (*mut Slot, usize)) {
    let (region, size, meta, states, first_table) = first_parts(p, i);
    (region, size, meta, states, grown(i).unwrap_or(first_table))
}

/// [`parts`], with the descriptor table shard `i` started with (before any
/// [`grow_table`]).
fn first_parts(p: &Plan, i: usize) -> (*mut u8, usize, Meta, States, (*mut Slot, usize)) {
    let first = i * p.pages_per_shard;
    let (region, size) =
        super::grow::memory(i).unwrap_or((p.base.wrapping_add(i * p.shard_size), p.shard_size));
    match super::grow::tables(i) {
        // A shard added under an address-space limit: its tables are a
        // mapping of their own (`grow.rs`), laid out for `cap` bytes.
        Some((tables, cap)) => {
            let l = added_layout(p, cap);
            // SAFETY: `tables` holds `l.bytes` bytes, page-aligned, made
            // for this shard alone and never unmapped (`grow`); the records,
            // the states and the slots are disjoint parts of it.
            unsafe {
                (
                    region,
                    size,
                    Meta::with_entries(tables, l.pages, slab::FIRST_ENTRIES),
                    p.states
                        .part_in(first, l.pages, tables.add(l.states_at))
                        .growing(i),
                    (tables.add(l.slots_at).cast::<Slot>(), l.descriptors),
                )
            }
        }
        // A start-up shard without tables (retired since start-up, never
        // revived): no slab layer and a table of one slot, enough for a
        // heap over no memory.
        None if i >= p.tabled => (
            region,
            size,
            Meta::NONE,
            States::NONE,
            (NO_TABLE.get().cast::<Slot>().wrapping_add(i), 1),
        ),
        // Shard `i`'s own `first_descriptors` slots of the planned tables.
        None => (
            region,
            size,
            p.meta.part(first, p.pages_per_shard),
            p.states.part(first, p.pages_per_shard).growing(i),
            (
                p.tables.wrapping_add(i * p.first_descriptors),
                p.first_descriptors,
            ),
        ),
    }
}

/// Where each shard's descriptor table is and how many slots it has, once
/// [`grow_table`] moved it (null: never; then [`first_parts`] says).
/// Entry `i` is written only by [`grow_table`] and read only by [`parts`],
/// both under shard `i`'s lock or with exclusive access to the shard.
static GROWN: SyncCell<[(*mut Slot, usize); MAX_SHARDS]> =
    SyncCell::new([(core::ptr::null_mut(), 0); MAX_SHARDS]);

/// How many times a shard's table doubled ([`grow_table`]), for the stats
/// report.
static TABLES_GROWN: AtomicUsize = AtomicUsize::new(0);

/// [`TABLES_GROWN`].
pub(crate) fn tables_grown() -> usize {
    TABLES_GROWN.load(Ordering::Relaxed)
}

/// Shard `i`'s table as [`grow_table`] left it, if it ever grew.
fn grown(i: usize) -> Option<(*mut Slot, usize)> {
    // SAFETY: entry `i` is only accessed under shard `i`'s lock or with
    // exclusive access to it (`GROWN`), as our callers have.
    let (t, n) = unsafe { (*GROWN.get())[i] };
    (!t.is_null()).then_some((t, n))
}

/// Doubles shard `i`'s descriptor table, up to the plan's `descriptors`,
/// when a split found no spare descriptor: a fresh mapping of twice the
/// slots, the descriptors moved into it at their indices
/// (`Heap::grow_empty_table`, which files the offset map again), and the
/// old table given back ([`old_pages`]: unmapped where it is a mapping of
/// its own, only its memory where it lies inside the shard's tables
/// mapping, and kept in a run of several shards' planned tables). False,
/// and nothing changes, when the table is at its most already or the
/// kernel refuses the mapping. Only under an address-space limit does a
/// shard start below its most (`Settings::first_descriptors`).
///
/// # Safety
/// The caller holds shard `i`'s lock (or has exclusive access to it), and
/// `heap` is shard `i`'s heap, built over its table ([`build`]).
///
/// # Time complexity
/// O(descriptors taken + the offset map's buckets), and two system calls;
/// a table only doubles, so amortised O(1) per descriptor taken.
pub(super) unsafe fn grow_table(i: usize, heap: &mut slab::ShardHeap) -> bool {
    // SAFETY: written by `plan` before any shard is built.
    let p = unsafe { (*PLAN.get()).assume_init() };
    let (_, _, _, _, (old, n)) = parts(&p, i);
    debug_assert_eq!(n, heap.stats().descriptors);
    if n >= p.descriptors {
        return false;
    }
    let len = n.saturating_mul(2).min(p.descriptors);
    let bytes = len * size_of::<Slot>();
    let Some(mem) = sys::map_noreserve(bytes) else {
        return false;
    };
    // SAFETY: a fresh mapping of `len` zeroed slots, ours, used by nothing
    // else; only a later growth unmaps it, once the heap has moved out.
    let larger = unsafe { core::slice::from_raw_parts_mut(mem.cast::<Slot>(), len) };
    // SAFETY: every slot of a fresh anonymous mapping is all zero bytes.
    if unsafe { heap.grow_empty_table(larger) }.is_err() {
        // SAFETY: the mapping just made, which nothing refers to.
        unsafe { crate::syscall::munmap(mem.cast(), bytes) };
        return false;
    }
    // Where the old table's pages are, asked before `GROWN` names the new.
    let give_back = old_pages(&p, i, old, n);
    // SAFETY: shard `i`'s entry, under its lock (the contract).
    unsafe { (*GROWN.get())[i] = (mem.cast(), len) };
    TABLES_GROWN.fetch_add(1, Ordering::Relaxed);
    match give_back {
        // SAFETY: the old table's own mapping (`old_pages`), which the heap
        // no longer refers to (it gave the old table back above).
        Some((at, len, true)) => unsafe {
            crate::syscall::munmap(at.cast(), len);
        },
        // Inside the shard's tables mapping, whose slot-state blocks grow
        // by `mremap` of the whole mapping (`slab::area`): a hole would
        // stop them (`EFAULT`), so its pages are only given back.
        // SAFETY: as above: the old table's own pages.
        Some((at, len, false)) => unsafe {
            crate::syscall::dont_need(at, len);
        },
        None => {}
    }
    true
}

/// The pages of shard `i`'s table of `n` slots at `old` (its table now)
/// that hold nothing else, and whether they are a mapping of their own to
/// unmap: all of a table grown before ([`grown`]) or the planned table
/// when it is shard 0's alone (yes); the descriptors' part of a shard's
/// own tables mapping (page-aligned by [`added_layout`]; no: the mapping
/// is one that grows in place). Else `None`. Only whole pages of the
/// system's size.
fn old_pages(p: &Plan, i: usize, old: *mut Slot, n: usize) -> Option<(*mut u8, usize, bool)> {
    let page = crate::globals::get_if_ready().map_or(4096, |g| g.page);
    let bytes = n * size_of::<Slot>();
    let (len, own) =
        if grown(i).is_some() || (i == 0 && p.tabled == 1 && super::grow::tables(0).is_none()) {
            (bytes.next_multiple_of(page), true)
        } else if let Some((_, cap)) = super::grow::tables(i) {
            let l = added_layout(p, cap);
            (l.states_at - l.slots_at, false)
        } else {
            return None;
        };
    let at = old.cast::<u8>();
    ((at as usize).is_multiple_of(page) && len.is_multiple_of(page) && len >= bytes)
        .then_some((at, len, own))
}

/// Zeroes shard `i`'s descriptor table, page records and bitmap pools,
/// giving their whole pages back to the kernel: the tables a retired shard
/// used, before it is built again (`from_empty_slice` wants zeroed slots,
/// `Slab::init_in_place` zeroed records). The slot states are not touched:
/// threads read them without the lock, and every page's word is already 0
/// (each page was given back).
///
/// # Safety
/// The caller has exclusive access to shard `i` (its lock) and nothing
/// refers to its tables.
pub(super) unsafe fn zero_tables(i: usize) {
    // SAFETY: written by `plan` before any shard is built.
    let p = unsafe { (*PLAN.get()).assume_init() };
    let (_, _, meta, _, (slots, n)) = parts(&p, i);
    // SAFETY: shard `i`'s own slots, records and pools (`parts`), private
    // anonymous memory of ours, which only its lock's holder uses.
    unsafe {
        sys::zero(slots.cast(), n * size_of::<Slot>());
        meta.clear();
    }
}

/// Builds shard `i` over its memory (`over`: or over none, retired), and
/// marks it built; false (nothing marked) if the manager refuses the table
/// or the region.
///
/// # Safety
/// [`plan`] ran; `i` is below the number of shards it planned and, over
/// its memory, that memory is mapped (below [`count`](super::count)) and
/// unused; its table is zeroed; shard `i` is not built (or is being
/// rebuilt, and nothing refers to its state), and the caller has exclusive
/// access to it (initialisation, or its lock).
pub(super) unsafe fn build(i: usize, over: Over) -> bool {
    // SAFETY: written by `plan` before any shard is built (the contract).
    let p = unsafe { (*PLAN.get()).assume_init() };
    let (region, size, meta, states, (slots, n)) = parts(&p, i);
    // SAFETY: shard `i`'s own slots — of the planned tables (ours for ever:
    // `plan`'s contract) or of its own tables mapping (never unmapped) —
    // zeroed (the caller's contract), used by nothing else: the state that
    // used them before a rebuild is overwritten below.
    let table = unsafe { core::slice::from_raw_parts_mut(slots, n) };
    let (config, slab_on) = (p.config, p.slab_on);
    let Some(base) = NonNull::new(region) else {
        return false;
    };
    let len = if over == Over::Memory { size } else { 0 };
    // In place: an `Inner` (23 KB) built on the stack and copied made this
    // frame 32 KB deep, resident in every program; a manager (13 KB) and
    // a `Heap` returned by value kept it at 19 KB (the main thread's
    // stack: 40 KB resident under a program that mallocs once, 16 KB under
    // glibc). `Heap::init_empty_table` writes the heap into its place.
    // SAFETY: the caller has exclusive access to shard `i`.
    let inner = unsafe { (*SHARDS[i].inner.get()).as_mut_ptr() };
    // SAFETY: `inner` points to shard `i`'s state, written here before any
    // read (the heap's place is its field, a `MaybeUninit` of the same
    // layout); the region is `len` bytes of ours, unused, for ever; zeroed
    // slots are valid empty slots (`init_empty_table`'s contract); `meta`
    // describes this region's pages and nothing else uses it (the caller's
    // contract), and the layer is only used with this heap.
    unsafe {
        (&raw mut (*inner).index).write(i);
        let heap = &mut *(&raw mut (*inner).heap).cast::<MaybeUninit<slab::ShardHeap>>();
        if Heap::init_empty_table(heap, base, len, table, config).is_err() {
            return false;
        }
        let pages = len / slab::PAGE;
        if *SHARDS[i].built.get() {
            // Built before (retired, or being revived): its hint rings,
            // pool and counts are not the zero bytes of a fresh static.
            Slab::clear_in_place(&raw mut (*inner).slab);
        }
        Slab::init_in_place(&raw mut (*inner).slab, meta, states, pages, slab_on);
        (&raw mut (*inner).hwm).write(0);
        (&raw mut (*inner).allocs).write(0);
        (&raw mut (*inner).frees).write(0);
        (&raw mut (*inner).reallocs).write(0);
        (&raw mut (*inner).released).write(0);
        (&raw mut (*inner).released_at).write(Released::NONE);
        (&raw mut (*inner).withdrawn).write(0);
        (&raw mut (*inner).retired).write(0);
        (&raw mut (*inner).hwm_before).write(0);
        (&raw mut (*inner).retires).write(0);
        (&raw mut (*inner).frees_at_build).write(0);
        (&raw mut (*inner).cache_frees).write(0);
        (&raw mut (*inner).drain_left).write(0);
        (&raw mut (*inner).failed_drains).write(0);
        (&raw mut (*inner).drain_quiet_until).write(0);
        // Under the caller's exclusive access, as every access to `built`.
        *SHARDS[i].built.get() = true;
    }
    true
}

/// Builds shard `i` on its first use, under its lock.
#[cold]
#[inline(never)]
pub(super) fn on_first_use(i: usize) {
    // A start-up shard that starts retired (`retire::start_retired`) is
    // built over no memory, until it is revived.
    let over = if super::grow::retired(i) {
        Over::Nothing
    } else {
        Over::Memory
    };
    // SAFETY: `Locked` is only made for shards below `count()`, which
    // `plan` planned for (`Settings::max_shards`; it ran: shards are used
    // only after initialisation) and which have memory unless retired;
    // shard `i` is not built, and we hold its lock.
    if !unsafe { build(i, over) } {
        // Shard 0 was built from the same plan (same table length, same
        // region size; a shard added later has at least 256 descriptors,
        // or as many as a whole one, and at least 1 MiB): this cannot
        // fail, and if it did, no memory of this shard could be handed out
        // safely.
        sys::eprint(b"sysarena-malloc: cannot build a shard; aborting\n");
        // SAFETY: ends the process; nothing is unwound.
        unsafe { libc::abort() };
    }
}
