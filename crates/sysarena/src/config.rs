//! How a manager chooses a free arena ([`Policy`]) and when it merges free
//! neighbours ([`Coalescing`]).

use core::fmt;
use core::str::FromStr;

/// How a free arena is chosen for an allocation.
///
/// Every policy considers only free arenas that can hold the request at its
/// alignment; they differ in which one they take. All of them keep every free
/// arena in one segregated index (size classes), so first, best and worst fit
/// scan only the classes that can fit, never the in-use arenas; next fit
/// walks the address list from its rover, in-use arenas included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The classic model: the fitting free arena lowest in the address space.
    ///
    /// *Time:* O(f), f = free arenas in classes large enough.
    /// *Drawback:* small remainders pile up at the start of the region
    /// ("splinters"), and every search for a request of about their size
    /// walks past them.
    #[default]
    FirstFit,
    /// First fit, but starting in the arena that holds the point where the
    /// previous allocation ended and wrapping around (Knuth's roving
    /// pointer).
    ///
    /// *Time:* O(a), a = arenas (in use or free) walked in address order
    /// from the rover to the first fit; the next search starts where this
    /// one ended, so a sweep around the region walks each arena about once.
    /// A request larger than the largest free arena is refused without a
    /// walk; one that no free arena holds at its alignment walks every arena.
    /// *Drawback:* spreads allocations over the whole region, so free space
    /// is chopped everywhere; usually fragments worse than first fit.
    NextFit,
    /// The smallest fitting free arena (lowest offset on ties).
    ///
    /// *Time:* O(k), k = free arenas in the classes walked from the
    /// request's own up to the first that holds a fit (usually one or two).
    /// *Drawback:* leaves tiny, unusable remainders; well-behaved on real
    /// programs (Johnstone & Wilson).
    BestFit,
    /// The largest free arena.
    ///
    /// *Time:* O(k), k = free arenas in the largest non-empty size class
    /// (one walk of it per allocation, to find the largest with the lowest
    /// offset; and of the classes below it while none holds a fit at the
    /// request's alignment). Under deferred coalescing that class fills up: splitting the
    /// largest arenas again and again makes them alike in size, and nothing
    /// merges them, so k grows with the heap and a long trace costs
    /// O(allocations × k).
    /// *Drawback:* breaks up the large arenas first, so a later large request
    /// fails early.
    WorstFit,
    /// Two-level segregated fit (TLSF-style): the head of the request's own
    /// size class and up to 8 arenas behind it, then bitmaps find a
    /// non-empty size class whose every arena fits, in a constant number of
    /// steps; if none, a bounded search of the classes in between (the
    /// request's own class; for an over-aligned request whose head is
    /// misaligned, every class up to the one that fits with any padding):
    /// at most 64 arenas of each, so at most 64 × the number of classes.
    ///
    /// *Time:* O(1) for alloc and free (a few bit scans and list edits),
    /// independent of the number of arenas: no step walks a class whose
    /// population grows with the heap. Fallback searches are counted in
    /// [`Stats::fallback_searches`](crate::Stats::fallback_searches).
    /// *Drawbacks:* past those first 9 of its own class it takes any arena
    /// of a large-enough class, not the best one, so it can split a bigger
    /// arena than best fit would; and a
    /// fitting arena deeper than 64 entries in a class that does not
    /// guarantee a fit is missed (the request fails as plain TLSF's would; a
    /// table of at most 64 descriptors is always searched completely).
    SegregatedFit,
}

impl Policy {
    /// Every policy, in the order the tools list them.
    pub const ALL: [Policy; 5] = [
        Policy::FirstFit,
        Policy::NextFit,
        Policy::BestFit,
        Policy::WorstFit,
        Policy::SegregatedFit,
    ];

    /// The policy's command-line name, e.g. `first-fit`.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn name(self) -> &'static str {
        match self {
            Policy::FirstFit => "first-fit",
            Policy::NextFit => "next-fit",
            Policy::BestFit => "best-fit",
            Policy::WorstFit => "worst-fit",
            Policy::SegregatedFit => "segregated-fit",
        }
    }
}

/// When free arenas that touch are merged into one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Coalescing {
    /// The classic model: `free` only marks the arena free; neighbours merge
    /// when [`defragment`](crate::ArenaManager::defragment) runs.
    #[default]
    Deferred,
    /// `free` merges the arena with its free neighbours at once (O(1): the
    /// table links every arena to its address-order neighbours), so no two
    /// free arenas are ever adjacent — except arenas waiting in the fast
    /// model's quick lists, which merge at the next flush.
    Immediate,
}

impl Coalescing {
    /// Both modes.
    pub const ALL: [Coalescing; 2] = [Coalescing::Deferred, Coalescing::Immediate];

    /// The mode's command-line name: `deferred` or `immediate`.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn name(self) -> &'static str {
        match self {
            Coalescing::Deferred => "deferred",
            Coalescing::Immediate => "immediate",
        }
    }
}

/// Which model a manager runs. `Config::default()` is the classic model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Config {
    /// How a free arena is chosen.
    pub policy: Policy,
    /// When free neighbours merge.
    pub coalescing: Coalescing,
}

impl Config {
    /// The classic model: first fit, deferred coalescing.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn classic() -> Config {
        Config {
            policy: Policy::FirstFit,
            coalescing: Coalescing::Deferred,
        }
    }

    /// The fast, bounded model: segregated fit with immediate coalescing,
    /// with quick lists in front (small freed arenas wait, whole, for the
    /// next request of their exact size: see
    /// [`ArenaManager::free`](crate::ArenaManager::free) and
    /// [`Stats::cached_bytes`](crate::Stats::cached_bytes)). Any config
    /// with this policy and this coalescing mode is the fast model.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn fast() -> Config {
        Config {
            policy: Policy::SegregatedFit,
            coalescing: Coalescing::Immediate,
        }
    }

    /// A config from its parts.
    ///
    /// # Time complexity
    /// O(1).
    pub const fn new(policy: Policy, coalescing: Coalescing) -> Config {
        Config { policy, coalescing }
    }
}

/// A policy or coalescing name that is not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownName;

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown name")
    }
}

impl core::error::Error for UnknownName {}

impl FromStr for Policy {
    type Err = UnknownName;

    /// Parses a command-line name (`first-fit`, `next-fit`, `best-fit`,
    /// `worst-fit`, `segregated-fit`; `first`, `tlsf`, `seg` … are accepted
    /// too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "first-fit" | "first" | "firstfit" | "ff" => Policy::FirstFit,
            "next-fit" | "next" | "nextfit" | "nf" => Policy::NextFit,
            "best-fit" | "best" | "bestfit" | "bf" => Policy::BestFit,
            "worst-fit" | "worst" | "worstfit" | "wf" => Policy::WorstFit,
            "segregated-fit" | "segregated" | "seg" | "tlsf" | "fast" => Policy::SegregatedFit,
            _ => return Err(UnknownName),
        })
    }
}

impl FromStr for Coalescing {
    type Err = UnknownName;

    /// Parses `deferred` or `immediate`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deferred" | "classic" => Ok(Coalescing::Deferred),
            "immediate" => Ok(Coalescing::Immediate),
            _ => Err(UnknownName),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Coalescing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
