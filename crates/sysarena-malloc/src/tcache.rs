//! Thread caches: small blocks a thread allocates and frees with no lock
//! and no atomic read-modify-write.
//!
//! Each thread has one bounded stack of slots per size class, in a cache
//! mapped at its first small call and reached through a pointer in its
//! thread-local storage (an exited thread's cache is kept for the next
//! thread) ([`cap`] slots, and [`MAX_BYTES`] in all). The
//! cache lives out of band like everything else: it holds pointers, and
//! nothing is written into the blocks.
//!
//! - **malloc** of a small block pops the class's stack; an empty stack is
//!   refilled with half its capacity from the thread's shard, under one
//!   lock ([`shard::refill`]).
//! - **free** of a slab slot — whichever thread allocated it — pushes it
//!   on the calling thread's stack; a full stack (or a cache over its byte
//!   bound) first gives its older half back to the owning shards, one lock
//!   per shard in the batch ([`shard::flush_cached`]). So a block freed by
//!   another thread never takes its owner's lock on the fast path: it is
//!   reused by the freeing thread, and reaches its page in a batch.
//! - **Double frees** are still detected, out of band: every slot has a
//!   state byte (`slab::state`: free, live or cached). A free reads it
//!   (a relaxed load) and requires `LIVE`; push and pop store `CACHED` and
//!   `LIVE` (relaxed stores, no read-modify-write). Cost: one byte per 16
//!   bytes of slab page (4 KiB per 64 KiB page), a load and a store per
//!   call. Two frees of one block that race on two threads (a data race in
//!   the program) can both pass; every ordered double free is caught.
//! - **Nothing is stranded.** A thread's cache is given back when the thread
//!   exits (a `pthread` key destructor), in a forked child for every thread
//!   that does not exist there, and before an allocation reports
//!   out-of-memory. All caches are listed (under a lock, at registration
//!   and exit), so the stats report can say what sits in them.
//!
//! `SYSARENA_TCACHE=0` turns the caches off (every call takes its shard's
//! lock, as before they existed).

use core::mem::size_of;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicU64, AtomicUsize};

use crate::counters;
use crate::lock::Lock;
use crate::settings::Settings;
use crate::shard;
use crate::slab::state::{self, Lookup};
use crate::slab::{self, CLASSES, class_size};
use crate::sys::SyncCell;

/// Calls served between two scans for stale stacks ([`Cache::tick`]):
/// `git log --stat` peaks at 17.1–17.4 MB with a scan every 512 calls,
/// 18.4 MB every 1,024 or never (glibc 15.5 MB).
const SCAN_EVERY: u64 = 512;

/// The most slots a refill takes for a class whose stack a scan gave back
/// (`gcc -O2`'s cc1 on 1,200 lines, callgrind: 4.157 G instructions,
/// 4.218 G with full refills, 4.106 G without scans; one-thread larson up
/// to 4 KiB: 64.0 M, 73.4 M, 52.3 M).
const SPARSE_REFILL: usize = 4;

/// The most slots a class's stack holds.
pub(crate) const MAX_BIN: usize = 64;
/// The most bytes a thread's cache holds (a bound of 256 KiB made a
/// stress over all 64 classes flush and refill: 1.55 × the instructions).
pub(crate) const MAX_BYTES: usize = 1 << 20;
/// The most bytes a class's stack holds.
const CLASS_BYTES: usize = 32 << 10;

/// Slots class `c`'s stack holds: 32 KiB of them, between 8 and
/// [`MAX_BIN`] (looked up, not divided: this is on every free).
#[inline]
pub(crate) fn cap(c: usize) -> usize {
    CAPS[c.min(CLASSES - 1)] as usize
}

/// [`cap`] per class.
static CAPS: [u8; CLASSES] = {
    let mut r = [0u8; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        let n = CLASS_BYTES / class_size(c);
        r[c] = if n < 8 {
            8
        } else if n > MAX_BIN {
            MAX_BIN as u8
        } else {
            n as u8
        };
        c += 1;
    }
    r
};

/// Not registered yet: the first call registers the cache.
const UNREGISTERED: u8 = 0;
/// In use.
const ACTIVE: u8 = 1;
/// Registering, exiting or off: calls bypass the cache.
const BYPASS: u8 = 2;

struct Bin {
    len: usize,
    items: [*mut u8; MAX_BIN],
}

/// One thread's cache.
pub(crate) struct Cache {
    bins: [Bin; CLASSES],
    /// Bytes in the bins (at class sizes).
    bytes: usize,
    /// Each stack's length at the last scan for stale stacks.
    marks: [u8; CLASSES],
    /// Calls served before the last publication (`allocs` and `frees`
    /// count those since), and that count at the last scan.
    calls: u64,
    scanned: u64,
    /// Classes whose stack was refilled or flushed since the last scan.
    active: u128,
    /// Classes found unchanged at the last scan.
    quiet: u128,
    /// Classes whose stack the last scans gave back: their next refill
    /// takes at most [`SPARSE_REFILL`] slots (a class used once in a
    /// while needs no half stack).
    sparse: u128,
    mode: u8,
    /// Calls served from the cache since the last publication.
    allocs: u64,
    frees: u64,
    /// What the stats report reads: the bytes and blocks held as of the
    /// cache's last refill or flush (stored by the owner, the only writer,
    /// read by the reporting thread; not on the fast paths).
    shown_bytes: AtomicUsize,
    shown_blocks: AtomicUsize,
    /// Links in the list of caches (under [`LIST`]).
    next: *mut Cache,
    prev: *mut Cache,
}

impl Cache {
    const fn empty() -> Cache {
        Cache {
            bins: [const {
                Bin {
                    len: 0,
                    items: [core::ptr::null_mut(); MAX_BIN],
                }
            }; CLASSES],
            bytes: 0,
            marks: [0; CLASSES],
            calls: 0,
            scanned: 0,
            active: 0,
            quiet: 0,
            sparse: 0,
            mode: UNREGISTERED,
            allocs: 0,
            frees: 0,
            shown_bytes: AtomicUsize::new(0),
            shown_blocks: AtomicUsize::new(0),
            next: core::ptr::null_mut(),
            prev: core::ptr::null_mut(),
        }
    }

    fn blocks(&self) -> usize {
        self.bins.iter().map(|b| b.len).sum()
    }

    /// Publishes the figures the stats report reads.
    fn show(&mut self) {
        self.shown_bytes.store(self.bytes, Relaxed);
        self.shown_blocks.store(self.blocks(), Relaxed);
        if self.allocs | self.frees != 0 {
            self.calls += self.allocs + self.frees;
            ALLOCS.fetch_add(self.allocs, Relaxed);
            FREES.fetch_add(self.frees, Relaxed);
            self.allocs = 0;
            self.frees = 0;
        }
    }

    /// Gives the oldest `k` slots of class `c` back to their pages.
    fn flush_bin(&mut self, g: &Settings, c: usize, k: usize) {
        let bin = &mut self.bins[c];
        let k = k.min(bin.len);
        if k == 0 {
            return;
        }
        self.active |= 1 << c;
        let mut batch = [core::ptr::null_mut(); MAX_BIN];
        batch[..k].copy_from_slice(&bin.items[..k]);
        bin.items.copy_within(k..bin.len, 0);
        bin.len -= k;
        self.bytes -= k * class_size(c);
        shard::flush_cached(g, &mut batch[..k]);
    }

    /// At a refill or flush, once [`SCAN_EVERY`] calls were served since
    /// the last scan: gives back every stack that was neither refilled nor
    /// flushed and has kept its length since the last two scans (a class
    /// the thread has stopped using: its slots would keep their pages from
    /// emptying and going back to the kernel; `git log --stat` held 1 MB
    /// in such stacks at exit). A class in use whose length happens to be
    /// the same at both costs one refill. Nothing is added to the fast
    /// paths: the calls are the counts they keep anyway.
    #[inline]
    fn tick(&mut self, g: &Settings) {
        let now = self.calls + self.allocs + self.frees;
        if now - self.scanned < SCAN_EVERY {
            return;
        }
        self.scanned = now;
        for c in 0..CLASSES {
            let len = self.bins[c].len;
            let bit = 1u128 << c;
            if len != 0 && len == self.marks[c] as usize && self.active & bit == 0 {
                if self.quiet & bit != 0 {
                    self.flush_bin(g, c, len);
                    self.quiet &= !bit;
                    self.sparse |= bit;
                } else {
                    self.quiet |= bit;
                }
            } else {
                self.quiet &= !bit;
            }
            self.marks[c] = self.bins[c].len as u8;
        }
        self.active = 0;
    }

    /// Gives every slot back.
    fn flush_all(&mut self, g: &Settings) {
        for c in 0..CLASSES {
            self.flush_bin(g, c, MAX_BIN);
        }
        self.show();
    }
}

/// What each thread's static TLS holds: a pointer to its cache, made at
/// its first small call. The cache itself (about 42 KiB) lives in a
/// mapping of its own, not in TLS: glibc clears a library's whole `.tbss`
/// block for every thread it creates, so a cache in TLS cost every thread
/// 42 KiB of resident memory whether or not it allocated, where a mapped
/// one costs only the pages of the classes it uses.
struct ThreadSlot {
    /// The thread's cache; null until registered and after its exit. Not
    /// null only while the cache's mode is `ACTIVE` (so the fast paths
    /// need not read the mode).
    cache: *mut Cache,
    /// Registering or exited: calls bypass the cache.
    busy: bool,
}

crate::tls::static_tls! {
    /// The calling thread's [`ThreadSlot`] (initial-exec TLS: two instructions,
    /// no call); zero bytes are an unregistered thread's. No destructor (a
    /// `pthread` key's destructor flushes the cache): reaching it never
    /// allocates, and works during thread exit.
    fn tls() -> *mut ThreadSlot = ThreadSlot { cache: core::ptr::null_mut(), busy: false },
        "sysarena_malloc_tcache"
}

/// The calling thread's cache; null if it has none (yet, or any more).
#[inline(always)]
fn cache() -> *mut Cache {
    // SAFETY: this thread's slot; only this thread writes it.
    unsafe { (*tls()).cache }
}

// `Cache::empty()` is what a fresh (zero) mapping holds: its lengths and
// counts are 0, its pointers null, and its mode `UNREGISTERED`, 0
// (checked at compile time).
const _: () = {
    let e = Cache::empty();
    assert!(UNREGISTERED == 0 && e.mode == 0 && e.bytes == 0 && e.bins[0].len == 0);
    assert!(e.next.is_null() && e.prev.is_null() && e.allocs == 0 && e.frees == 0);
};

/// The list of registered caches, and its lock.
static LIST: Lock = Lock::new();
static HEAD: SyncCell<*mut Cache> = SyncCell::new(core::ptr::null_mut());
/// Caches of exited threads, empty, linked by `next` (under [`LIST`]): a
/// new thread takes one before mapping another.
static SPARE: SyncCell<*mut Cache> = SyncCell::new(core::ptr::null_mut());
/// The `pthread` key whose destructor flushes a thread's cache.
static KEY: SyncCell<libc::pthread_key_t> = SyncCell::new(0);
/// Calls served from caches, as of each cache's last publication.
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);

/// Creates the thread-exit key; `false` (caches off) if there is none.
/// Runs during initialisation.
pub(crate) fn init() -> bool {
    // SAFETY: KEY is written only here, during initialisation, before any
    // cache is used; `flush_at_exit` lives for ever.
    unsafe { libc::pthread_key_create(KEY.get(), Some(flush_at_exit)) == 0 }
}

/// A small block (`size <= slab::MAX_SIZE`, 16-aligned) from the thread's
/// cache, refilling it from the shard when empty; `None` when the cache is
/// off or the shard has no page left (the caller takes the shard path).
///
/// # Time complexity
/// O(1); a refill takes one lock for [`cap`]` / 2` slots.
#[inline]
pub(crate) fn alloc(g: &Settings, size: usize) -> Option<*mut u8> {
    let c = slab::class_of(size);
    let kp = cache();
    if kp.is_null() {
        return alloc_slow(g, c);
    }
    // SAFETY: this thread's cache; nothing below calls malloc, so no other
    // reference to it exists while this one lives.
    let k = unsafe { &mut *kp };
    if k.bins[c].len == 0 {
        return alloc_slow(g, c);
    }
    Some(pop(g, k, c))
}

/// A small block (`size <= slab::MAX_SIZE`, 16-aligned) from the thread's
/// cache if its stack for the class is not empty; `None` otherwise (the
/// caller takes [`alloc`]). The fast path of `malloc`: no call, no lock.
///
/// # Time complexity
/// O(1).
#[inline(always)]
pub(crate) fn alloc_fast(g: &Settings, size: usize) -> Option<*mut u8> {
    let c = slab::class_of(size).min(CLASSES - 1);
    let kp = cache();
    if kp.is_null() {
        return None;
    }
    // SAFETY: as in `alloc`.
    let k = unsafe { &mut *kp };
    if k.bins[c].len == 0 {
        return None;
    }
    Some(pop(g, k, c))
}

#[inline(always)]
fn pop(g: &Settings, k: &mut Cache, c: usize) -> *mut u8 {
    let bin = &mut k.bins[c];
    bin.len -= 1;
    let p = bin.items[bin.len & (MAX_BIN - 1)];
    let size = class_size(c);
    k.bytes -= size;
    k.allocs += 1;
    state::slot_of((p as usize).wrapping_sub(g.base), c).store(state::LIVE, Relaxed);
    if counters::enabled() {
        counters::live_changed(0, size);
    }
    p
}

#[cold]
fn alloc_slow(g: &Settings, c: usize) -> Option<*mut u8> {
    let mut kp = cache();
    if kp.is_null() {
        kp = register()?;
    }
    // SAFETY: as in `alloc` (`register` is over).
    let k = unsafe { &mut *kp };
    if k.mode != ACTIVE {
        return None;
    }
    // Before the refill: the scan may empty stacks (class `c`'s is empty).
    k.tick(g);
    let bit = 1u128 << c;
    let want = if k.sparse & bit != 0 {
        k.sparse &= !bit;
        SPARSE_REFILL
    } else {
        cap(c) / 2
    };
    let bin = &mut k.bins[c];
    let n = shard::refill(g, c, &mut bin.items[..want]);
    if n == 0 {
        return None;
    }
    for &p in &bin.items[..n] {
        state::slot_of((p as usize).wrapping_sub(g.base), c).store(state::CACHED, Relaxed);
    }
    bin.len = n;
    k.bytes += n * class_size(c);
    k.active |= 1 << c;
    k.show();
    Some(pop(g, k, c))
}

/// What [`free`] did.
pub(crate) enum Freed {
    /// The block is in the thread's cache.
    Cached,
    /// The block is a slot, but not a live one: a double free (nothing
    /// changed).
    DoubleFree,
    /// Not the cache's business (not a slab slot, or the cache is off): the
    /// caller takes the shard path, which reports an invalid pointer.
    Pass,
}

/// Frees `p` into the thread's cache if it is a live slab slot and its
/// class's stack has room; `false` otherwise, with nothing changed (the
/// caller takes [`free`], which reports a double free). The fast path of
/// `free`: no call, no lock.
///
/// # Safety
/// As [`free`].
///
/// # Time complexity
/// O(1).
#[inline(always)]
pub(crate) unsafe fn free_fast(g: &Settings, p: *mut u8) -> bool {
    let off = (p as usize).wrapping_sub(g.base);
    if off >= g.span {
        return false;
    }
    let Lookup::Slot(slot) = state::locate(off) else {
        return false;
    };
    let kp = cache();
    if kp.is_null() {
        return false;
    }
    // SAFETY: as in `alloc`.
    let k = unsafe { &mut *kp };
    let c = slot.class.min(CLASSES - 1);
    let size = class_size(c);
    if slot.state.load(Relaxed) != state::LIVE
        || k.bins[c].len >= cap(c)
        || k.bytes + size > MAX_BYTES
    {
        return false;
    }
    slot.state.store(state::CACHED, Relaxed);
    let bin = &mut k.bins[c];
    bin.items[bin.len & (MAX_BIN - 1)] = p;
    bin.len += 1;
    k.bytes += size;
    k.frees += 1;
    if counters::enabled() {
        counters::live_changed(size, 0);
    }
    true
}

/// Frees `p` into the thread's cache if it is a live slab slot.
///
/// # Safety
/// If `p` is a live block, the caller gives it up.
///
/// # Time complexity
/// O(1); a full stack first gives half of itself back (one lock per shard
/// in the batch).
#[inline]
pub(crate) unsafe fn free(g: &Settings, p: *mut u8) -> Freed {
    let off = (p as usize).wrapping_sub(g.base);
    if off >= g.span {
        return Freed::Pass;
    }
    let Lookup::Slot(slot) = state::locate(off) else {
        return Freed::Pass;
    };
    let mut kp = cache();
    if kp.is_null() {
        match register() {
            Some(r) => kp = r,
            None => return Freed::Pass,
        }
    }
    // SAFETY: as in `alloc`.
    let k = unsafe { &mut *kp };
    if slot.state.load(Relaxed) != state::LIVE {
        return Freed::DoubleFree;
    }
    let c = slot.class;
    let size = class_size(c);
    if k.bins[c].len == cap(c) || k.bytes + size > MAX_BYTES {
        make_room(g, k, c);
    }
    slot.state.store(state::CACHED, Relaxed);
    let bin = &mut k.bins[c];
    bin.items[bin.len] = p;
    bin.len += 1;
    k.bytes += size;
    k.frees += 1;
    if counters::enabled() {
        counters::live_changed(size, 0);
    }
    Freed::Cached
}

/// Makes room for one slot of class `c`: the older half of a full stack
/// goes back; over the byte bound, every stack's older half.
#[cold]
fn make_room(g: &Settings, k: &mut Cache, c: usize) {
    if k.bins[c].len == cap(c) {
        k.flush_bin(g, c, cap(c) / 2);
    }
    // Over the byte bound: the stack holding the most bytes gives back its
    // older half, until the slot fits (halving every stack at once made a
    // stress over all classes refill them all: 4.7 × the instructions at
    // a bound of 256 KiB).
    while k.bytes > 0 && k.bytes + class_size(c) > MAX_BYTES {
        let (mut most, mut at) = (0, 0);
        for d in 0..CLASSES {
            let b = k.bins[d].len * class_size(d);
            if b > most {
                (most, at) = (b, d);
            }
        }
        let half = k.bins[at].len.div_ceil(2);
        k.flush_bin(g, at, half);
    }
    k.tick(g);
    k.show();
}

/// Registers the calling thread's cache: takes an exited thread's or maps
/// a new one, lists it, and sets the key whose destructor flushes it at
/// thread exit. While it runs, calls bypass the cache (setting the key may
/// allocate). `None`: the thread goes without a cache.
#[cold]
fn register() -> Option<*mut Cache> {
    let sp = tls();
    // SAFETY: this thread's slot; no reference to it is held across the
    // calls below (a nested malloc sees `busy` and bypasses the cache).
    if unsafe { (*sp).busy } || !ENABLED.load(Relaxed) {
        return None;
    }
    // SAFETY: as above.
    unsafe { (*sp).busy = true };
    LIST.lock();
    // SAFETY: SPARE is only touched under LIST.
    let mut kp = unsafe { *SPARE.get() };
    if !kp.is_null() {
        // SAFETY: listed spares are mapped caches, flushed and unlinked.
        unsafe { *SPARE.get() = (*kp).next };
    }
    LIST.unlock();
    if kp.is_null() {
        kp = crate::sys::map_noreserve(size_of::<Cache>())
            .map_or(core::ptr::null_mut(), |p| p.cast::<Cache>());
        if kp.is_null() {
            // Stays busy: no cache for this thread.
            return None;
        }
    }
    // SAFETY: a fresh mapping (zero bytes: `Cache::empty`, checked above)
    // or an exited thread's flushed cache: this thread's alone now.
    unsafe {
        (*kp).mode = BYPASS;
        (*kp).bytes = 0;
    }
    // SAFETY: KEY was set during initialisation; the value is this
    // thread's cache, which stays mapped for the process's life.
    if unsafe { libc::pthread_setspecific(*KEY.get(), kp.cast()) } != 0 {
        put_spare(kp);
        return None;
    }
    LIST.lock();
    // SAFETY: the list is only touched under LIST; `kp` stays listed until
    // its thread unlinks it at exit.
    unsafe {
        let head = *HEAD.get();
        (*kp).next = head;
        (*kp).prev = core::ptr::null_mut();
        if !head.is_null() {
            (*head).prev = kp;
        }
        *HEAD.get() = kp;
        (*kp).mode = ACTIVE;
    }
    LIST.unlock();
    // SAFETY: this thread's slot.
    unsafe {
        (*sp).cache = kp;
        (*sp).busy = false;
    }
    Some(kp)
}

/// Keeps an empty, unlisted cache for the next thread.
fn put_spare(kp: *mut Cache) {
    LIST.lock();
    // SAFETY: under LIST; `kp` is a mapped cache no thread uses.
    unsafe {
        (*kp).mode = BYPASS;
        (*kp).next = *SPARE.get();
        *SPARE.get() = kp;
    }
    LIST.unlock();
}

/// Unlinks `kp` from the list (under LIST).
///
/// # Safety
/// LIST is held and `kp` is listed.
unsafe fn unlink(kp: *mut Cache) {
    // SAFETY: the caller's contract: listed caches are live.
    unsafe {
        let (prev, next) = ((*kp).prev, (*kp).next);
        if prev.is_null() {
            *HEAD.get() = next;
        } else {
            (*prev).next = next;
        }
        if !next.is_null() {
            (*next).prev = prev;
        }
    }
}

/// Whether caches are used (`SYSARENA_TCACHE`, and the slab layer on).
static ENABLED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Turns the caches on. Runs during initialisation.
pub(crate) fn enable(on: bool) {
    ENABLED.store(on, Relaxed);
}

/// The key's destructor: at thread exit, gives the thread's cache back and
/// unlists it; later calls on this thread bypass it.
extern "C" fn flush_at_exit(arg: *mut libc::c_void) {
    let kp = arg.cast::<Cache>();
    let Some(g) = crate::globals::get_if_ready() else {
        return;
    };
    // SAFETY: the value set by `register`: this thread's cache, alive
    // until the thread is gone.
    let k = unsafe { &mut *kp };
    // Later calls on this thread (other destructors) bypass the cache.
    // SAFETY: the exiting thread's own slot (key destructors run on it).
    unsafe {
        (*tls()).cache = core::ptr::null_mut();
        (*tls()).busy = true;
    }
    k.mode = BYPASS;
    k.flush_all(g);
    LIST.lock();
    // SAFETY: the cache is listed (registered), LIST is held.
    unsafe { unlink(kp) };
    LIST.unlock();
    put_spare(kp);
}

/// Publishes the calling thread's call counts (before the exit report).
pub(crate) fn show_mine() {
    let kp = cache();
    if kp.is_null() {
        return;
    }
    // SAFETY: as in `alloc`.
    let k = unsafe { &mut *kp };
    if k.mode == ACTIVE {
        k.show();
    }
}

/// Gives the calling thread's cache back (before an allocation reports
/// out-of-memory); `true` if it held anything.
pub(crate) fn flush_mine(g: &Settings) -> bool {
    let kp = cache();
    if kp.is_null() {
        return false;
    }
    // SAFETY: as in `alloc`.
    let k = unsafe { &mut *kp };
    if k.mode != ACTIVE || k.bytes == 0 {
        return false;
    }
    k.flush_all(g);
    true
}

/// What sits in thread caches: (caches, blocks, bytes, allocs served,
/// frees served), as of each cache's last refill, flush or thread exit
/// (and the calling thread's now: the fast paths do not publish).
pub(crate) fn totals() -> (usize, usize, usize, u64, u64) {
    let (mut n, mut blocks, mut bytes) = (0, 0, 0);
    LIST.lock();
    // SAFETY: under LIST; listed caches are alive.
    unsafe {
        let mut p = *HEAD.get();
        while !p.is_null() {
            n += 1;
            blocks += (*p).shown_blocks.load(Relaxed);
            bytes += (*p).shown_bytes.load(Relaxed);
            p = (*p).next;
        }
    }
    LIST.unlock();
    (n, blocks, bytes, ALLOCS.load(Relaxed), FREES.load(Relaxed))
}

// ----- fork ----------------------------------------------------------------------------

/// Takes the list's lock before `fork` (before the shard locks).
pub(crate) fn lock_for_fork() {
    LIST.lock();
}

/// Releases it in the parent.
pub(crate) fn unlock_after_fork() {
    LIST.unlock();
}

/// In the child (the shard locks already reset): every listed cache but
/// the calling thread's belongs to a thread that does not exist here;
/// their slots go back to their pages, and they leave the list.
pub(crate) fn reset_in_child(g: &Settings) {
    LIST.reset_in_child();
    let mine = cache();
    // SAFETY: the child has one thread: nothing else touches the list or
    // the caches; listed caches are still mapped (the parent's threads'
    // storage is copied into the child).
    unsafe {
        let mut p = *HEAD.get();
        while !p.is_null() {
            let next = (*p).next;
            if p != mine {
                let k = &mut *p;
                for c in 0..CLASSES {
                    let bin = &mut k.bins[c];
                    let n = bin.len.min(MAX_BIN);
                    shard::flush_cached(g, &mut bin.items[..n]);
                    bin.len = 0;
                }
                k.bytes = 0;
                unlink(p);
                k.mode = BYPASS;
                k.next = *SPARE.get();
                *SPARE.get() = p;
            }
            p = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{free, malloc};

    #[test]
    fn a_stack_left_alone_goes_back() {
        std::thread::spawn(|| {
            let g = crate::init::get().expect("the allocator initialises");
            assert!(g.tcache, "thread caches are on by default");
            let quiet = slab::class_of(100);
            let blocks: Vec<_> = (0..8).map(|_| malloc(100)).collect();
            for p in blocks {
                // SAFETY: ours, freed once.
                unsafe { free(p) };
            }
            let k = cache();
            assert!(!k.is_null());
            // SAFETY: this thread's cache, read between calls.
            assert!(unsafe { (*k).bins[quiet].len } >= 8);
            // Thousands of calls in another class, with refills and
            // flushes: the untouched stack goes back whole.
            let mut v = Vec::new();
            for _ in 0..4 {
                v.extend((0..2000).map(|_| malloc(200)));
                for p in v.drain(..) {
                    // SAFETY: ours, freed once.
                    unsafe { free(p) };
                }
            }
            // SAFETY: as above.
            assert_eq!(unsafe { (*k).bins[quiet].len }, 0);
        })
        .join()
        .unwrap();
        // A thread after it (its cache flushed and kept for reuse) gets a
        // cache at its first small call.
        let next = std::thread::spawn(|| {
            let p = malloc(100);
            // SAFETY: ours.
            unsafe { free(p) };
            cache() as usize
        })
        .join()
        .unwrap();
        assert_ne!(next, 0);
    }
}
