//! Seeded, reproducible workloads that generate [`Trace`]s.
//!
//! The same [`Workload`] with the same [`WorkloadParams`] (seed included)
//! always generates the same trace, on every machine: the generator is
//! `rand_pcg`'s `Pcg64Mcg`, seeded with [`WorkloadParams::seed`], and no
//! floating-point result depends on the platform beyond IEEE 754 `ln`.
//!
//! ```
//! use sysarena_sim::workload::{Workload, WorkloadParams};
//!
//! let params = WorkloadParams { ops: 1000, ..WorkloadParams::default() };
//! let a = Workload::Uniform.generate(&params);
//! let b = "uniform".parse::<Workload>().unwrap().generate(&params);
//! assert_eq!(a, b);
//! ```

use std::fmt;
use std::str::FromStr;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::trace::{Event, Id, Trace};

/// The most steps a workload generates: [`WorkloadParams::ops`] above it
/// is clamped to it (ten million steps are about 240 MB of events).
pub const MAX_OPS: usize = 10_000_000;

/// A workload's knobs. Not every workload reads every field; each
/// [`Workload`] variant says which it uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadParams {
    /// The generator's seed.
    pub seed: u64,
    /// Number of steps; at most [`MAX_OPS`] are generated. A step is about
    /// one event in most workloads; in [`Workload::Ramp`] each step also
    /// brings short-lived blocks (about four events a step), and
    /// [`Workload::Checkerboard`] ignores it (its events follow from the
    /// capacity and `max_size`).
    pub ops: usize,
    /// Smallest request, in bytes.
    pub min_size: usize,
    /// Largest request, in bytes (inclusive).
    pub max_size: usize,
    /// Alignment of every request (a power of two).
    pub align: usize,
    /// Probability that a step allocates (when something is live to free).
    pub alloc_ratio: f64,
    /// Probability that a step of [`Workload::Random`] reallocates.
    pub realloc_ratio: f64,
    /// The region size the workload is aimed at ([`Workload::Checkerboard`]
    /// fills it; the patterns scale their live set to it).
    pub capacity: usize,
}

impl Default for WorkloadParams {
    fn default() -> Self {
        WorkloadParams {
            seed: 0x5eed,
            ops: 10_000,
            min_size: 16,
            max_size: 4096,
            align: 8,
            alloc_ratio: 0.55,
            realloc_ratio: 0.1,
            capacity: 1 << 20,
        }
    }
}

/// A generated pattern of requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Workload {
    /// Random allocate/free mix (`alloc_ratio`), sizes uniform in
    /// `[min_size, max_size]`. Live bytes are capped near `capacity / 2`.
    Uniform,
    /// As [`Workload::Uniform`] with sizes drawn from an exponential
    /// distribution of mean `min_size + (max_size - min_size) / 8`, clamped
    /// to the range: many small requests, a few large.
    Exponential,
    /// Allocate, free and realloc: each step reallocs a random live block
    /// with probability `realloc_ratio`, else allocates with probability
    /// `alloc_ratio`, else frees; sizes uniform in the range.
    Random,
    /// Wilson's *ramp*: the live set grows steadily (one long-lived block a
    /// step) while short-lived blocks come and go between them, leaving
    /// holes behind. About four events per step of `ops`.
    Ramp,
    /// Wilson's *peaks*: bursts that build a large live set and then free
    /// nearly all of it, a few survivors pinning memory between bursts.
    Peaks,
    /// Wilson's *plateau*: a fast ramp to a live set of about
    /// `capacity / 2`, then a long steady state of random frees and
    /// allocations around that level.
    Plateau,
    /// The classic demonstration: fill the region with `max_size` blocks,
    /// free every other one, then ask for one block of `2 * max_size`. Half
    /// the region is free, yet no single hole fits the request. `ops` is
    /// not read.
    Checkerboard,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 7] = [
        Workload::Uniform,
        Workload::Exponential,
        Workload::Random,
        Workload::Ramp,
        Workload::Peaks,
        Workload::Plateau,
        Workload::Checkerboard,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Uniform => "uniform",
            Workload::Exponential => "exponential",
            Workload::Random => "random",
            Workload::Ramp => "ramp",
            Workload::Peaks => "peaks",
            Workload::Plateau => "plateau",
            Workload::Checkerboard => "checkerboard",
        }
    }

    /// One line for help texts.
    pub fn description(self) -> &'static str {
        match self {
            Workload::Uniform => "random alloc/free mix, sizes uniform in the range",
            Workload::Exponential => "random alloc/free mix, sizes exponential (many small)",
            Workload::Random => "random alloc/free/realloc mix, sizes uniform",
            Workload::Ramp => "live set grows steadily with short-lived blocks between",
            Workload::Peaks => "bursts built up and freed, a few survivors each time",
            Workload::Plateau => "fast ramp to half the region, then steady churn",
            Workload::Checkerboard => "fill, free every other block, ask for a big one",
        }
    }

    /// Generates the trace. Invalid parameters are clamped (sizes at least
    /// 1, `max_size >= min_size`, ratios into `[0, 1]`, a non-power-of-two
    /// alignment rounded up).
    pub fn generate(self, params: &WorkloadParams) -> Trace {
        let p = Clamped::new(params);
        let mut g = Gen {
            rng: Pcg64Mcg::seed_from_u64(params.seed),
            trace: Trace::new(format!(
                "{}(seed={}, ops={}, sizes={}..={}, align={})",
                self.name(),
                params.seed,
                p.ops,
                p.min,
                p.max,
                p.align
            )),
            live: Vec::new(),
            live_bytes: 0,
            next_id: 1,
            align: p.align,
        };
        match self {
            Workload::Uniform => g.mix(&p, SizeDist::Uniform, 0.0),
            Workload::Exponential => g.mix(&p, SizeDist::Exponential, 0.0),
            Workload::Random => g.mix(&p, SizeDist::Uniform, p.realloc_ratio),
            Workload::Ramp => g.ramp(&p),
            Workload::Peaks => g.peaks(&p),
            Workload::Plateau => g.plateau(&p),
            Workload::Checkerboard => g.checkerboard(&p),
        }
        g.trace
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown workload name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown workload `{0}` (expected one of: uniform, exponential, random, ramp, peaks, plateau, checkerboard)"
)]
pub struct UnknownWorkload(pub String);

impl FromStr for Workload {
    type Err = UnknownWorkload;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| UnknownWorkload(s.to_owned()))
    }
}

struct Clamped {
    ops: usize,
    min: usize,
    max: usize,
    align: usize,
    alloc_ratio: f64,
    realloc_ratio: f64,
    capacity: usize,
}

impl Clamped {
    fn new(p: &WorkloadParams) -> Self {
        let min = p.min_size.max(1);
        let clamp01 = |x: f64| if x.is_nan() { 0.5 } else { x.clamp(0.0, 1.0) };
        Clamped {
            ops: p.ops.min(MAX_OPS),
            min,
            max: p.max_size.max(min),
            align: p.align.max(1).checked_next_power_of_two().unwrap_or(1),
            alloc_ratio: clamp01(p.alloc_ratio),
            realloc_ratio: clamp01(p.realloc_ratio),
            capacity: p.capacity.max(1),
        }
    }
}

#[derive(Clone, Copy)]
enum SizeDist {
    Uniform,
    Exponential,
}

struct Gen {
    rng: Pcg64Mcg,
    trace: Trace,
    /// Live blocks: (id, size); removal by swap_remove at a random index.
    live: Vec<(Id, usize)>,
    live_bytes: usize,
    next_id: Id,
    align: usize,
}

impl Gen {
    fn size(&mut self, p: &Clamped, dist: SizeDist) -> usize {
        match dist {
            SizeDist::Uniform => self.rng.random_range(p.min..=p.max),
            SizeDist::Exponential => {
                let mean = (p.max - p.min) as f64 / 8.0;
                // 1 - u is in (0, 1], so ln is finite.
                let u: f64 = self.rng.random();
                let x = -(1.0 - u).ln() * mean;
                (p.min + x as usize).min(p.max)
            }
        }
    }

    fn alloc(&mut self, size: usize) -> Id {
        let id = self.next_id;
        self.next_id += 1;
        self.trace.events.push(Event::Alloc {
            id,
            size,
            align: self.align,
        });
        self.live.push((id, size));
        self.live_bytes += size;
        id
    }

    /// Frees the live block at index `i` of `live`.
    fn free_at(&mut self, i: usize) {
        let (id, size) = self.live.swap_remove(i);
        self.live_bytes -= size;
        self.trace.events.push(Event::Free { id });
    }

    fn free_random(&mut self) {
        if !self.live.is_empty() {
            let i = self.rng.random_range(0..self.live.len());
            self.free_at(i);
        }
    }

    fn mix(&mut self, p: &Clamped, dist: SizeDist, realloc_ratio: f64) {
        let cap = p.capacity / 2;
        for _ in 0..p.ops {
            if !self.live.is_empty() && self.rng.random_bool(realloc_ratio) {
                let i = self.rng.random_range(0..self.live.len());
                let size = self.size(p, dist);
                let (id, old) = self.live[i];
                self.live[i].1 = size;
                self.live_bytes = self.live_bytes - old + size;
                self.trace.events.push(Event::Realloc { id, size });
                continue;
            }
            let alloc = self.live.is_empty()
                || (self.live_bytes < cap && self.rng.random_bool(p.alloc_ratio));
            if alloc {
                let size = self.size(p, dist);
                self.alloc(size);
            } else {
                self.free_random();
            }
        }
    }

    fn ramp(&mut self, p: &Clamped) {
        // One long-lived block per step; between them a few short-lived
        // blocks, each freed a couple of steps later.
        let mut short: Vec<Id> = Vec::new();
        let budget = p.capacity / 2;
        let mut long_bytes = 0;
        for _ in 0..p.ops {
            if long_bytes < budget {
                let size = self.size(p, SizeDist::Uniform);
                long_bytes += size;
                self.alloc(size);
                // Long-lived: forget it (never freed), so free_random skips it.
                self.live.pop();
            }
            let n = self.rng.random_range(1..=3);
            for _ in 0..n {
                let size = self.size(p, SizeDist::Uniform);
                short.push(self.alloc(size));
                self.live.pop();
            }
            while short.len() > 4 {
                let i = self.rng.random_range(0..short.len());
                let id = short.swap_remove(i);
                self.trace.events.push(Event::Free { id });
            }
        }
    }

    fn peaks(&mut self, p: &Clamped) {
        let target = (p.capacity / 2).max(p.max);
        let mut steps = 0;
        while steps < p.ops {
            // Build up.
            let peak = self.rng.random_range(target / 2..=target);
            let mut burst = Vec::new();
            let mut bytes = 0;
            while bytes < peak && steps < p.ops {
                let size = self.size(p, SizeDist::Exponential);
                bytes += size;
                burst.push(self.alloc(size));
                self.live.pop();
                steps += 1;
            }
            // Tear down, keeping about 1 in 16 as survivors.
            for id in burst {
                if self.rng.random_range(0..16) == 0 {
                    continue;
                }
                self.trace.events.push(Event::Free { id });
                steps += 1;
            }
        }
    }

    fn plateau(&mut self, p: &Clamped) {
        let level = p.capacity / 2;
        let mut steps = 0;
        while steps < p.ops && self.live_bytes < level {
            let size = self.size(p, SizeDist::Uniform);
            self.alloc(size);
            steps += 1;
        }
        while steps < p.ops {
            if self.live_bytes >= level || self.rng.random_bool(0.5) {
                self.free_random();
            } else {
                let size = self.size(p, SizeDist::Uniform);
                self.alloc(size);
            }
            steps += 1;
        }
    }

    fn checkerboard(&mut self, p: &Clamped) {
        let block = p.max;
        // At most MAX_OPS blocks, however large the region.
        let count = (p.capacity / block).min(MAX_OPS);
        let ids: Vec<Id> = (0..count).map(|_| self.alloc(block)).collect();
        for id in ids.iter().skip(1).step_by(2) {
            self.trace.events.push(Event::Free { id: *id });
        }
        self.alloc(2 * block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_generates_a_valid_trace() {
        let params = WorkloadParams {
            ops: 2000,
            capacity: 1 << 16,
            ..WorkloadParams::default()
        };
        for w in Workload::ALL {
            let t = w.generate(&params);
            t.validate().unwrap_or_else(|e| panic!("{w}: {e}"));
            assert!(!t.events.is_empty(), "{w}");
        }
    }

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>(), Ok(w));
        }
        assert!("nope".parse::<Workload>().is_err());
    }
}
