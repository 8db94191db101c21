//! A small futex lock: a compare-and-swap when free, a short spin, then the
//! kernel; and [`Backoff`], the spacing of an attempt that keeps failing.
//! Both need no initialisation (zero is unlocked, and "may try") and no
//! allocation, so they live in `static`s that `malloc` uses before anything
//! else runs, and a forked child can reset a lock with one store.

use core::hint::spin_loop;
use core::sync::atomic::{AtomicU32, Ordering};

/// Unlocked.
const FREE: u32 = 0;
/// Locked, nobody waits in the kernel.
const LOCKED: u32 = 1;
/// Locked, and someone may wait in the kernel: unlock must wake.
const CONTENDED: u32 = 2;
/// Spins before sleeping (the holder of an allocator lock is usually out
/// within a few hundred nanoseconds).
const SPINS: u32 = 200;

/// A mutual-exclusion lock without data; users pair it with a
/// [`SyncCell`](crate::sys::SyncCell).
#[derive(Debug)]
pub(crate) struct Lock {
    state: AtomicU32,
}

impl Lock {
    pub(crate) const fn new() -> Self {
        Lock {
            state: AtomicU32::new(FREE),
        }
    }

    /// Takes the lock if it is free, without waiting.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(FREE, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether the lock is free now (a hint: it may be taken at once).
    #[inline]
    pub(crate) fn is_free(&self) -> bool {
        self.state.load(Ordering::Relaxed) == FREE
    }

    /// Takes the lock, waiting as long as needed.
    #[inline]
    pub(crate) fn lock(&self) {
        if !self.try_lock() {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        for _ in 0..SPINS {
            if self.state.load(Ordering::Relaxed) == FREE && self.try_lock() {
                return;
            }
            spin_loop();
        }
        // The wait returns at once if the word is no longer CONTENDED, and
        // spurious wake-ups go round the loop. (Its refusals, EAGAIN and
        // EINTR, leave the caller's errno alone: `syscall` writes none.)
        while self.state.swap(CONTENDED, Ordering::Acquire) != FREE {
            crate::syscall::futex_wait(&self.state, CONTENDED);
        }
    }

    /// Releases the lock (the caller holds it).
    #[inline]
    pub(crate) fn unlock(&self) {
        if self.state.swap(FREE, Ordering::Release) == CONTENDED {
            // Waking one waiter is enough: it sets CONTENDED again if
            // others remain.
            crate::syscall::futex_wake(&self.state, 1);
        }
    }

    /// Marks the lock free without waking anyone: only for a forked child,
    /// where the single thread left holds every lock it took in the
    /// `pthread_atfork` prepare handler and no other thread exists.
    pub(crate) fn reset_in_child(&self) {
        self.state.store(FREE, Ordering::Relaxed);
    }
}

/// Calls a refused attempt lets pass before it is tried again
/// ([`Backoff`]).
pub(crate) const BACKOFF: u32 = 1024;

/// Spacing for an attempt that can fail again and again at a cost — a
/// system call the kernel refuses while something of the program's is in
/// the way, or the limit has no room: after a refusal
/// ([`refused`](Self::refused)), the next [`BACKOFF`] calls of
/// [`pass`](Self::pass) say no, then one may try again (the program may
/// have unmapped what was in the way). Threads race on the count: a try
/// more or less does not matter. Zero is "may try", so it lives in a
/// `static` and a fork's child inherits it as it is.
#[derive(Debug)]
pub(crate) struct Backoff {
    skip: AtomicU32,
}

impl Backoff {
    pub(crate) const fn new() -> Self {
        Backoff {
            skip: AtomicU32::new(0),
        }
    }

    /// Whether to try now; when not, one call fewer to wait. O(1).
    #[inline]
    pub(crate) fn pass(&self) -> bool {
        let skip = self.skip.load(Ordering::Relaxed);
        if skip == 0 {
            return true;
        }
        self.skip.store(skip - 1, Ordering::Relaxed);
        false
    }

    /// The attempt was refused: wait [`BACKOFF`] calls. O(1).
    pub(crate) fn refused(&self) {
        self.skip.store(BACKOFF, Ordering::Relaxed);
    }

    /// What was in the way may be gone: try at the next call. O(1).
    pub(crate) fn reset(&self) {
        self.skip.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::SyncCell;
    use std::sync::Arc;

    #[test]
    fn excludes_under_contention() {
        struct Shared {
            lock: Lock,
            n: SyncCell<u64>,
        }
        let s = Arc::new(Shared {
            lock: Lock::new(),
            n: SyncCell::new(0),
        });
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for _ in 0..50_000 {
                        s.lock.lock();
                        // SAFETY: `n` is only touched under `lock`.
                        unsafe { *s.n.get() += 1 };
                        s.lock.unlock();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // SAFETY: all threads have joined.
        assert_eq!(unsafe { *s.n.get() }, 200_000);
        assert!(s.lock.try_lock());
        assert!(!s.lock.try_lock());
        s.lock.unlock();
    }

    #[test]
    fn a_refusal_lets_the_backoff_pass_by_before_the_next_try() {
        let b = Backoff::new();
        assert!(b.pass(), "nothing refused yet");
        b.refused();
        for k in 0..BACKOFF {
            assert!(!b.pass(), "call {k} within the backoff");
        }
        assert!(b.pass(), "tried again after it");
        b.refused();
        b.reset();
        assert!(b.pass(), "reset: try at once");
    }
}
