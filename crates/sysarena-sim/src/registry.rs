//! The registry of subjects: every allocator the simulator can compare, by
//! name, and the groups (`all`, `sysarena`, `peers`) a user may ask for.
//!
//! ```
//! use sysarena_sim::registry;
//!
//! let names = registry::names();
//! assert!(names.iter().any(|n| n == "talc"));
//! assert!(names.iter().any(|n| n == "sysarena/first-fit/deferred"));
//! let mut rlsf = registry::by_name("rlsf", 1 << 20).unwrap();
//! assert_eq!(rlsf.name(), "rlsf");
//! assert!(rlsf.alloc(100, 16).is_some());
//! ```

use crate::peers;
use crate::subject::{Subject, SubjectError};
use crate::sysarena_subject::SysarenaSubject;

/// The region size used when none is given: 128 MiB, enough for every
/// recorded trace in `traces/`.
pub const DEFAULT_CAPACITY: usize = 128 << 20;

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
/// name may also carry `+offsets` (free and realloc by offset alone,
/// ignoring the hints a driver keeps) or `+nomap` (no offset map: by hint
/// alone), and `+defrag` (defragment on failure and retry; not with
/// `+nomap`), in that order; [`by_name`] accepts them, [`all`] leaves
/// those variants out.
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
    if let Some((config, variant)) = crate::sysarena_subject::parse_name(name) {
        let s = SysarenaSubject::with_config(config, capacity)?.variant(variant);
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

/// The names of a subject group: `all` (every subject of [`names`]),
/// `sysarena` (the policy × coalescing subjects) or `peers`; `None` for
/// any other word.
pub fn group(word: &str) -> Option<Vec<String>> {
    match word {
        "all" => Some(names()),
        "sysarena" => Some(crate::sysarena_subject::names()),
        "peers" => Some(peer_names().into_iter().map(str::to_owned).collect()),
        _ => None,
    }
}

/// Whether `name` builds a subject with [`by_name`] (without building it).
pub fn is_name(name: &str) -> bool {
    crate::sysarena_subject::parse_name(name).is_some() || peer_names().contains(&name)
}

/// A subject list as a user writes it (`--subjects talc,sysarena`): each
/// item a subject name or a group ([`group`]), surrounding blanks ignored,
/// groups expanded in place, duplicates dropped (the first place kept).
///
/// ```
/// use sysarena_sim::registry;
///
/// let names = registry::resolve(&["talc", " peers", "sysarena/best-fit/immediate"]).unwrap();
/// assert_eq!(names[0], "talc");
/// assert_eq!(names.iter().filter(|n| *n == "talc").count(), 1);
/// assert!(names.iter().any(|n| n == "sysarena/best-fit/immediate"));
/// assert!(registry::resolve(&["nope"]).is_err());
/// assert!(registry::resolve(&[""]).is_err());
/// ```
///
/// # Errors
/// [`SubjectError::Unknown`] for a word that is neither a subject nor a
/// group (the message lists both), [`SubjectError::NoSubjects`] when the
/// list names none (empty, or only blanks).
pub fn resolve<S: AsRef<str>>(list: &[S]) -> Result<Vec<String>, SubjectError> {
    let mut out: Vec<String> = Vec::new();
    for item in list {
        let word = item.as_ref().trim();
        if word.is_empty() {
            continue;
        }
        let expanded = match group(word) {
            Some(names) => names,
            None if is_name(word) => vec![word.to_owned()],
            None => {
                return Err(SubjectError::Unknown {
                    name: word.to_owned(),
                    known: format!(
                        "{}, and the groups all, sysarena, peers",
                        names().join(", ")
                    ),
                });
            }
        };
        for name in expanded {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    if out.is_empty() {
        return Err(SubjectError::NoSubjects);
    }
    Ok(out)
}
