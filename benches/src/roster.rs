//! Which subjects the benchmarks run, and how they are built: the
//! simulator's own adapters (`sysarena_sim::registry`), never a second
//! adapter for a peer.

use sysarena_sim::registry;
use sysarena_sim::subject::Subject;
use sysarena_sim::subject::SubjectError;
use sysarena_sim::sysarena_subject::{self, SysarenaSubject};

/// The region every subject gets: 128 MiB.
pub const CAPACITY: usize = registry::DEFAULT_CAPACITY;

/// The subject every ratio is taken against.
pub const BASELINE: &str = "talc";

/// Every subject, in table order: sysarena's fast model, best fit for
/// reference, then every peer adapter the simulator has.
pub const ROSTER: &[&str] = &[
    "sysarena/segregated-fit/immediate",
    "sysarena/best-fit/immediate",
    "talc",
    "rlsf",
    "buddy",
    "linked-list",
    "dlmalloc",
    "offset-allocator",
    "slab",
];

/// Builds `name` over a fresh region of `capacity` bytes. sysarena
/// subjects get real memory ([`SysarenaSubject::with_memory`]) so that a
/// moving realloc copies its bytes as the peers' do.
pub fn build(name: &str, capacity: usize) -> Result<Box<dyn Subject>, SubjectError> {
    if let Some((config, variant)) = sysarena_subject::parse_name(name) {
        let s = SysarenaSubject::with_config(config, capacity)?
            .variant(variant)
            .with_memory()?;
        return Ok(Box::new(s));
    }
    registry::by_name(name, capacity)
}

/// What a reader must know about a subject's figures (shown under every
/// table it appears in).
pub fn note(name: &str) -> Option<&'static str> {
    match name {
        "offset-allocator" => Some(
            "offset-allocator ignores alignment and manages offsets only: \
             a moving realloc copies nothing, and its adapter keeps a HashMap \
             from offset to the crate's handle (the crate's free needs it)",
        ),
        "buddy" => Some("buddy has no realloc: its adapter allocates, copies and frees"),
        "linked-list" => {
            Some("linked-list has no realloc: its adapter allocates, copies and frees")
        }
        "slab" => Some(
            "slab is slabmalloc in front of an rlsf page allocator (the simulator's slab subject)",
        ),
        _ => None,
    }
}
