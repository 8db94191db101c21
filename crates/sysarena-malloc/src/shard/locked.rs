//! Which shard a thread uses, and its lock: the shards themselves (a lock
//! and the state it guards), [`Locked`] (a held lock, which builds the
//! shard on its first use), the owner of an address, each thread's *home*
//! shard and how it moves on contention, and the locks around `fork`.

use core::mem::MaybeUninit;
use core::ops::{Deref, DerefMut};

use super::{Inner, build, count, grow, retire, span};
use crate::lock::Lock;
use crate::settings::{MAX_SHARDS, Settings};
use crate::sys::SyncCell;

/// A shard: a lock and the state it guards, on its own cache lines.
#[repr(align(128))]
pub(crate) struct Shard {
    pub(super) lock: Lock,
    /// Whether `inner` is built (under the lock; see [`Locked::lock`]).
    pub(super) built: SyncCell<bool>,
    pub(super) inner: SyncCell<MaybeUninit<Inner>>,
}

pub(super) static SHARDS: [Shard; MAX_SHARDS] = [const {
    Shard {
        lock: Lock::new(),
        built: SyncCell::new(false),
        // Zero bytes, not uninitialised: `build` leaves the parts whose
        // empty value is zero unwritten (`Slab::init_in_place`).
        inner: SyncCell::new(MaybeUninit::zeroed()),
    }
}; MAX_SHARDS];

/// Spins on a taken home shard before moving to another.
const SPIN_BEFORE_MOVE: u32 = 64;

crate::tls::static_tls! {
    /// The calling thread's shard: 0 until it moves (every thread starts
    /// on shard 0, so a new thread's zero is already its home). Reading it
    /// never allocates and works during thread exit.
    fn home_cell() -> *mut usize = 0, "sysarena_malloc_home"
}

/// A held shard lock; derefs to the shard's state, unlocks on drop.
pub(crate) struct Locked {
    shard: &'static Shard,
}

impl Locked {
    /// Takes shard `i`'s lock, waiting if needed; builds the shard if this
    /// is its first use (see [`plan`](super::build::plan)).
    #[inline]
    pub(crate) fn lock(i: usize) -> Locked {
        let shard = &SHARDS[i];
        shard.lock.lock();
        Locked::taken(i)
    }

    /// Like `try_lock`, but without a write to a lock that is seen taken.
    #[inline]
    fn try_lock_if_free(i: usize) -> Option<Locked> {
        let shard = &SHARDS[i];
        (shard.lock.is_free() && shard.lock.try_lock()).then(|| Locked::taken(i))
    }

    #[inline]
    fn try_lock(i: usize) -> Option<Locked> {
        SHARDS[i].lock.try_lock().then(|| Locked::taken(i))
    }

    /// Shard `i`'s lock if the shard was ever used (built), else `None`:
    /// for the reports, which have nothing to say about an unused shard
    /// and should not build it.
    pub(crate) fn lock_if_built(i: usize) -> Option<Locked> {
        let shard = &SHARDS[i];
        shard.lock.lock();
        // SAFETY: `built` is read and written under the lock, which we hold.
        let built = unsafe { *shard.built.get() };
        let l = Locked { shard };
        built.then_some(l)
    }

    /// The `Locked` of shard `i`, whose lock the caller just took, built.
    #[inline]
    fn taken(i: usize) -> Locked {
        let shard = &SHARDS[i];
        let l = Locked { shard };
        // SAFETY: `built` is read and written under the lock, which we hold.
        if !unsafe { *shard.built.get() } {
            build::on_first_use(i);
        }
        l
    }
}

impl Deref for Locked {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        // SAFETY: we hold the lock, and a `Locked` is only handed out for a
        // built shard (`taken`, `lock_if_built`).
        unsafe { (*self.shard.inner.get()).assume_init_ref() }
    }
}

impl DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut Inner {
        // SAFETY: as in `deref`; the lock makes this the only reference.
        unsafe { (*self.shard.inner.get()).assume_init_mut() }
    }
}

impl Drop for Locked {
    #[inline]
    fn drop(&mut self) {
        self.shard.lock.unlock();
    }
}

/// The shard that owns `addr`, if it lies in a shard's memory.
#[inline]
pub(crate) fn owner(g: &Settings, addr: usize) -> Option<usize> {
    let off = addr.wrapping_sub(g.base);
    (off < span(g) && !grow::in_hole(g, off)).then_some(off >> g.shard_shift)
}

/// The calling thread's home shard (below `n`). A thread starts on shard
/// 0 and moves only when it finds its home's lock taken
/// ([`lock_for_alloc`]), as glibc makes a new arena only on contention: a
/// program whose threads seldom meet builds one shard (`pigz -p 2`: one,
/// where homes given in turn, thread k on shard k mod n, built two), at
/// the same larson throughput (the crate's `RESULTS.md`, "Homes on contention").
#[inline]
fn home(n: usize) -> usize {
    // SAFETY: this thread's variable; no reference to it is held.
    let v = unsafe { *home_cell() };
    // Always below `n` (only `set_home` writes it, with a shard index); the
    // test keeps a shard index whatever the cell holds. A retired shard
    // (`retire.rs`) serves nothing: shard 0, which never retires, instead.
    if v < n && !grow::retired(v) { v } else { 0 }
}

pub(super) fn set_home(i: usize) {
    // SAFETY: as in `home`.
    unsafe { *home_cell() = i };
}

/// Locks a shard for an allocation: the thread's own if free, else the
/// first free one after it (which becomes the thread's own), else waits for
/// its own.
#[inline]
pub(super) fn lock_for_alloc(n: usize) -> (usize, Locked) {
    let h = home(n);
    if let Some(l) = Locked::try_lock(h) {
        return (h, l);
    }
    lock_for_alloc_slow(n, h)
}

#[cold]
fn lock_for_alloc_slow(n: usize, h: usize) -> (usize, Locked) {
    // The holder is usually another thread freeing one block here: wait
    // that long before moving (a move makes two threads share a shard).
    for _ in 0..SPIN_BEFORE_MOVE {
        core::hint::spin_loop();
        if let Some(l) = Locked::try_lock_if_free(h) {
            return (h, l);
        }
    }
    for k in 1..n {
        let i = (h + k) % n;
        // A retired shard's lock is free, but it serves nothing.
        if grow::retired(i) {
            continue;
        }
        if let Some(l) = Locked::try_lock(i) {
            set_home(i);
            return (i, l);
        }
    }
    // Every mapped shard is busy: under an address-space limit, a retired
    // shard is mapped again rather than waited for (the start-up shards
    // past shard 0 start retired: `retire::start_retired`).
    if let Some(g) = crate::globals::get_if_ready()
        && g.limited
        && let Some(i) = grow::revive_on_contention(g, retire::rebuild)
        && let Some(l) = Locked::try_lock(i)
    {
        set_home(i);
        return (i, l);
    }
    (h, Locked::lock(h))
}

// ----- fork ----------------------------------------------------------------------------

/// Takes the growth lock (so the count cannot change), then every shard
/// lock, in index order.
pub(crate) fn lock_all() {
    grow::lock_for_fork();
    for s in &SHARDS[..count()] {
        s.lock.lock();
    }
}

/// Releases what [`lock_all`] took.
pub(crate) fn unlock_all() {
    for s in SHARDS[..count()].iter().rev() {
        s.lock.unlock();
    }
    grow::unlock_after_fork();
}

/// In a forked child: every lock [`lock_all`] took in the parent's forking
/// thread; the child's only thread frees them.
pub(crate) fn reset_all_in_child() {
    for s in &SHARDS[..count()] {
        s.lock.reset_in_child();
    }
    grow::reset_in_child();
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_new_thread_starts_on_shard_zero() {
        // Homes given in turn put the second thread on shard 1.
        for _ in 0..3 {
            let h = std::thread::spawn(|| super::home(16)).join().unwrap();
            assert_eq!(h, 0);
        }
    }
}
