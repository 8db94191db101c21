//! The clocks throughput is measured with: wall time, and the calling
//! thread's CPU time, which leaves out the time the thread spent
//! descheduled (on a shared machine that is most of the noise).

use std::time::Instant;

/// Seconds of CPU time the calling thread has used (user and system), or
/// wall-clock seconds since an arbitrary point where no such clock exists.
pub fn thread_cpu_secs() -> f64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a
        // constant every Linux and BSD supports.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc == 0 {
            return ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9;
        }
    }
    use std::sync::OnceLock;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// A started measurement of both clocks.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    wall: Instant,
    cpu: f64,
}

/// What a [`Stopwatch`] measured, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Lap {
    /// Wall-clock seconds.
    pub wall: f64,
    /// Thread CPU seconds.
    pub cpu: f64,
}

impl std::ops::AddAssign for Lap {
    fn add_assign(&mut self, other: Lap) {
        self.wall += other.wall;
        self.cpu += other.cpu;
    }
}

impl Stopwatch {
    /// Starts both clocks.
    #[inline]
    pub fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu: thread_cpu_secs(),
        }
    }

    /// Both clocks' time since the start.
    #[inline]
    pub fn lap(&self) -> Lap {
        let cpu = thread_cpu_secs() - self.cpu;
        Lap {
            wall: self.wall.elapsed().as_secs_f64(),
            cpu,
        }
    }
}
