//! The caches' life: each thread's pointer to its cache (initial-exec
//! TLS), registration and the list of caches, the spares exited threads
//! leave, the flush at thread exit, in a forked child and before
//! out-of-memory, and the totals the stats report reads.

use super::cache::*;
use crate::lock::Lock;
use crate::settings::Settings;
use crate::shard;
use crate::slab::CLASSES;
use crate::sys::SyncCell;
use core::mem::size_of;
use core::sync::atomic::Ordering::Relaxed;

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
pub(super) fn cache() -> *mut Cache {
    // SAFETY: this thread's slot; only this thread writes it.
    unsafe { (*tls()).cache }
}

/// The list of registered caches, and its lock.
static LIST: Lock = Lock::new();
static HEAD: SyncCell<*mut Cache> = SyncCell::new(core::ptr::null_mut());
/// Caches of exited threads, empty, linked by `next` (under [`LIST`]): a
/// new thread takes one before mapping another.
static SPARE: SyncCell<*mut Cache> = SyncCell::new(core::ptr::null_mut());
/// The `pthread` key whose destructor flushes a thread's cache.
static KEY: SyncCell<libc::pthread_key_t> = SyncCell::new(0);
/// Creates the thread-exit key; `false` (caches off) if there is none.
/// Runs during initialisation.
pub(crate) fn init() -> bool {
    // SAFETY: KEY is written only here, during initialisation, before any
    // cache is used; `flush_at_exit` lives for ever.
    unsafe { libc::pthread_key_create(KEY.get(), Some(flush_at_exit)) == 0 }
}

/// Registers the calling thread's cache: takes an exited thread's or maps
/// a new one, lists it, and sets the key whose destructor flushes it at
/// thread exit. While it runs, calls bypass the cache (setting the key may
/// allocate). `None`: the thread goes without a cache.
#[cold]
pub(super) fn register() -> Option<*mut Cache> {
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
                    let n = k.lens[c].min(MAX_BIN);
                    // Every stack goes back here: a drain asks no more.
                    let _ = shard::flush_cached(g, &mut k.stacks[c][..n]);
                    k.lens[c] = 0;
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
