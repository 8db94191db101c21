//! The registry of subjects: every allocator the simulator can compare, by
//! name.
//!
//! ```
//! use sysarena_sim::subjects;
//!
//! let names = subjects::names();
//! assert!(names.iter().any(|n| n == "talc"));
//! assert!(names.iter().any(|n| n == "sysarena/first-fit/deferred"));
//! let mut rlsf = subjects::by_name("rlsf", 1 << 20).unwrap();
//! assert_eq!(rlsf.name(), "rlsf");
//! assert!(rlsf.alloc(100, 16).is_some());
//! ```

use crate::peers;
use crate::subject::Subject;
use crate::sysarena_subject::SysarenaSubject;

/// The region size used when none is given: 128 MiB, enough for every
/// recorded trace in `traces/`.
pub const DEFAULT_CAPACITY: usize = 128 << 20;

/// Why a subject could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// No subject has this name.
    #[error("unknown subject `{name}` (known: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The known names, comma separated.
        known: String,
    },
    /// The region could not be allocated from the system.
    #[error("{subject}: cannot allocate a region of {capacity} bytes")]
    Region {
        /// The subject.
        subject: &'static str,
        /// The requested capacity.
        capacity: usize,
    },
    /// The subject cannot manage a region of this size.
    #[error("{subject}: capacity {capacity} is outside what it supports ({reason})")]
    Capacity {
        /// The subject.
        subject: &'static str,
        /// The requested capacity.
        capacity: usize,
        /// What the subject supports.
        reason: &'static str,
    },
}

type Ctor = fn(usize) -> Result<Box<dyn Subject>, SubjectError>;

fn boxed<S: Subject + 'static>(
    r: Result<S, SubjectError>,
) -> Result<Box<dyn Subject>, SubjectError> {
    r.map(|s| Box::new(s) as Box<dyn Subject>)
}

/// Every peer: name and constructor, in table order.
fn table() -> Vec<(&'static str, Ctor)> {
    vec![
        ("talc", |c| boxed(peers::TalcSubject::new(c))),
        ("rlsf", |c| boxed(peers::RlsfSubject::new(c))),
        ("buddy", |c| boxed(peers::BuddySubject::new(c))),
        ("linked-list", |c| boxed(peers::LinkedListSubject::new(c))),
        ("dlmalloc", |c| boxed(peers::DlmallocSubject::new(c))),
        ("offset-allocator", |c| {
            boxed(peers::OffsetAllocatorSubject::new(c))
        }),
        ("slab", |c| boxed(peers::SlabSubject::new(c))),
    ]
}

/// The names of every subject: the sysarena policy × coalescing subjects
/// first (`sysarena/first-fit/deferred`, ...), then the peers. A sysarena
/// name may also carry `+defrag` (defragment on failure and retry);
/// [`by_name`] accepts it, [`all`] leaves those variants out.
pub fn names() -> Vec<String> {
    let mut names = crate::sysarena_subject::names();
    names.extend(peer_names().into_iter().map(str::to_owned));
    names
}

/// The names of the peer (non-sysarena) subjects, in table order.
pub fn peer_names() -> Vec<&'static str> {
    table().into_iter().map(|(n, _)| n).collect()
}

/// Builds the subject called `name` over a fresh region of `capacity` bytes.
pub fn by_name(name: &str, capacity: usize) -> Result<Box<dyn Subject>, SubjectError> {
    if let Some((config, defrag)) = crate::sysarena_subject::parse_name(name) {
        let s = SysarenaSubject::with_config(config, capacity)?.defragment_on_failure(defrag);
        return Ok(Box::new(s));
    }
    match table().into_iter().find(|(n, _)| *n == name) {
        Some((_, ctor)) => ctor(capacity),
        None => Err(SubjectError::Unknown {
            name: name.to_owned(),
            known: names().join(", "),
        }),
    }
}

/// Builds every subject of [`names`], each over its own region of
/// `capacity` bytes.
pub fn all(capacity: usize) -> Result<Vec<Box<dyn Subject>>, SubjectError> {
    names().iter().map(|n| by_name(n, capacity)).collect()
}

/// Builds the peers only, each over its own region of `capacity` bytes.
pub fn peers(capacity: usize) -> Result<Vec<Box<dyn Subject>>, SubjectError> {
    table()
        .into_iter()
        .map(|(_, ctor)| ctor(capacity))
        .collect()
}
