//! `--quiz`: before an allocation runs, ask where it will land (or whether
//! it fails), then show the answer and, for a wrong one, why the policy
//! chose what it did. In plain mode the question and the answer are printed
//! together; in the interactive view the question waits for an answer.

use super::*;
use sysarena::{QUICK_GRANULE, QUICK_NEAR_SHARE, quick_near_sizes};

thread_local! {
    pub(super) static INTERACTIVE_QUIZ: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl State {
    /// Where `size` at `align` would land now: asks a throwaway copy of the
    /// question — the policies are deterministic, so the answer is read
    /// from the manager after the fact and compared.
    pub(super) fn quiz_question(op: Op, trace: Option<&Trace>) -> Option<String> {
        match op {
            Op::Alloc { size, .. } => Some(format!("alloc({size})")),
            Op::Event(i) => match trace?.events[i] {
                Event::Alloc { size, id, .. } => Some(format!("alloc({size}) for id {id}")),
                _ => None,
            },
            _ => None,
        }
    }

    pub(super) fn run_op(&mut self, m: &mut SliceManager<'_>, op: Op) -> Flow {
        if self.quiz
            && let Some(q) = State::quiz_question(op, self.trace.as_ref())
        {
            if !self.quiet && self.pending_allowed() {
                self.log.push(format!(
                    "quiz: {q} — where will it land? type an offset, or `fail`"
                ));
                self.pending = Some((op, q));
                return Flow::Continue;
            }
            self.log
                .push(format!("quiz: {q} — where will it land, or will it fail?"));
            let why = self.explain(m, op);
            self.apply(m, op);
            let a = self.landed().map_or_else(
                || "answer: it fails".to_owned(),
                |o| format!("answer: offset {o}"),
            );
            self.log.insert(1, a);
            if let Some(why) = why {
                self.log.insert(2, why);
            }
            return Flow::Continue;
        }
        self.apply(m, op);
        Flow::Continue
    }

    /// The size and alignment `op` asks for, if it allocates.
    pub(super) fn request(&self, op: Op) -> Option<(usize, usize)> {
        match op {
            Op::Alloc { size, align } => Some((size, align)),
            Op::Event(i) => match self.trace.as_ref()?.events[i] {
                Event::Alloc { size, align, .. } => Some((size.max(1), align)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Why the policy will place `op` where it does, said before it runs:
    /// the rule and the free arenas that could hold the request.
    pub(super) fn explain(&self, m: &SliceManager<'_>, op: Op) -> Option<String> {
        let (size, align) = self.request(op)?;
        // Cached arenas (the fast model's quick lists) take only requests
        // of their size, or from 512 B a near size (a 64th smaller at
        // most); the others see them after a flush.
        let need = size.checked_next_multiple_of(align.max(1));
        let cached: Vec<ArenaInfo> = m.arenas().filter(|a| a.cached).collect();
        let fits: Vec<ArenaInfo> = m
            .arenas()
            .filter(|a| {
                let start = a.offset.checked_next_multiple_of(align.max(1));
                !a.in_use
                    && !a.cached
                    && start.is_some_and(|s| {
                        s.checked_add(size)
                            .is_some_and(|end| end <= a.offset + a.size)
                    })
            })
            .collect();
        let rule = match self.config.policy {
            Policy::FirstFit => "first fit takes the lowest-addressed free arena that fits",
            Policy::NextFit => {
                "next fit searches on from where its last search ended, wrapping around, and takes the first that fits"
            }
            Policy::BestFit => "best fit takes the smallest free arena that fits",
            Policy::WorstFit => "worst fit takes the largest free arena",
            Policy::SegregatedFit => {
                "segregated fit looks in the free lists of the request's size class and up, taking a fitting arena from the smallest class that has one"
            }
        };
        if size == 0 {
            return Some("why: a request of 0 bytes is refused (ZeroSize)".to_owned());
        }
        let same: Vec<String> = cached
            .iter()
            .filter(|a| Some(a.size) == need)
            .map(|a| format!("[{}+{}]", a.offset, a.size))
            .collect();
        if !same.is_empty() {
            return Some(format!(
                "why: the quick list of {} arenas holds {}: the one freed last is handed back whole, with no search (if its address suits the alignment)",
                fmt_bytes(need.unwrap_or(size)),
                same.join(" ")
            ));
        }
        // The core's near-size look: the first non-empty list of the
        // request's near sizes.
        let near = need.and_then(|n| {
            let sizes = quick_near_sizes(n)?;
            cached
                .iter()
                .map(|a| a.size)
                .filter(|s| sizes.contains(s))
                .min()
                .map(|s| (n, s))
        });
        if let Some((n, s)) = near {
            let held: Vec<String> = cached
                .iter()
                .filter(|a| a.size == s)
                .map(|a| format!("[{}+{}]", a.offset, a.size))
                .collect();
            return Some(format!(
                "why: the quick list of {n} B arenas is empty, but from {} a request may take a near size: the list of {s} B arenas (at most a {QUICK_NEAR_SHARE}th larger) holds {}, and the one freed last is handed out whole, with no search (if its address suits the alignment)",
                fmt_bytes(QUICK_NEAR_SHARE * QUICK_GRANULE),
                held.join(" ")
            ));
        }
        if fits.is_empty() && !cached.is_empty() {
            return Some(format!(
                "why: no free arena outside the quick lists holds {size} bytes at alignment {align}, so the lists are flushed (their arenas merge with free neighbours) and the request is tried once more"
            ));
        }
        if fits.is_empty() {
            return Some(format!(
                "why: no free arena holds {size} bytes at alignment {align}, so it fails"
            ));
        }
        let list: Vec<String> = fits
            .iter()
            .take(8)
            .map(|a| format!("[{}+{}]", a.offset, a.size))
            .collect();
        let more = if fits.len() > 8 {
            format!(" and {} more", fits.len() - 8)
        } else {
            String::new()
        };
        let spare = m.stats().spare_descriptors;
        let split = if spare == 0 {
            "; no spare descriptor is left, so a split (and the request) fails unless an arena fits exactly"
        } else {
            ""
        };
        Some(format!(
            "why: {rule}; free arenas that fit: {}{more}{split}",
            list.join(" ")
        ))
    }

    /// Set by the interactive front end: questions wait for an answer.
    pub(super) fn pending_allowed(&self) -> bool {
        INTERACTIVE_QUIZ.with(|c| c.get())
    }

    /// The offset the last alloc landed at, read from the log.
    pub(super) fn landed(&self) -> Option<usize> {
        self.log.iter().find_map(|l| {
            let rest = l.strip_prefix("✓ alloc(")?;
            let at = rest.find("at offset ")? + "at offset ".len();
            rest[at..].split_whitespace().next()?.parse().ok()
        })
    }
}
