//! [`SubjectError`]: why a subject could not be built.

use std::fmt;

/// Why a subject could not be built (or a list of subjects not resolved).
///
/// Its `Display` names the subject first (`talc: capacity 0 is outside ...`);
/// [`SubjectError::reason`] is the same text without the name, for a table
/// whose row already names the subject.
#[derive(Debug)]
#[non_exhaustive]
pub enum SubjectError {
    /// No subject has this name.
    Unknown {
        /// The name asked for.
        name: String,
        /// The known names, comma separated.
        known: String,
    },
    /// The region could not be allocated from the system.
    Region {
        /// The subject.
        subject: &'static str,
        /// The requested capacity.
        capacity: usize,
    },
    /// The subject cannot manage a region of this size.
    Capacity {
        /// The subject.
        subject: &'static str,
        /// The requested capacity.
        capacity: usize,
        /// What the subject supports.
        reason: &'static str,
    },
    /// A list of subjects named none (`--subjects ""`).
    NoSubjects,
}

impl SubjectError {
    /// The subject the error is about, when it is about one.
    pub fn subject(&self) -> Option<&str> {
        match self {
            SubjectError::Unknown { name, .. } => Some(name),
            SubjectError::Region { subject, .. } | SubjectError::Capacity { subject, .. } => {
                Some(subject)
            }
            SubjectError::NoSubjects => None,
        }
    }

    /// What went wrong, without the subject's name.
    pub fn reason(&self) -> String {
        match self {
            SubjectError::Unknown { known, .. } => format!("no such subject (known: {known})"),
            SubjectError::Region { capacity, .. } => {
                format!("cannot allocate a region of {capacity} bytes")
            }
            SubjectError::Capacity {
                capacity, reason, ..
            } => format!("capacity {capacity} is outside what it supports ({reason})"),
            SubjectError::NoSubjects => {
                "the list of subjects is empty: name at least one subject, or a group \
                 (all, sysarena, peers)"
                    .to_owned()
            }
        }
    }
}

impl fmt::Display for SubjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectError::Unknown { name, known } => {
                write!(f, "unknown subject `{name}` (known: {known})")
            }
            SubjectError::NoSubjects => f.write_str(&self.reason()),
            _ => write!(
                f,
                "{}: {}",
                self.subject().unwrap_or_default(),
                self.reason()
            ),
        }
    }
}

impl std::error::Error for SubjectError {}
