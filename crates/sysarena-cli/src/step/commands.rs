//! The command lines `sysarena step` reads (`alloc 100`, `free 0`, `prev`,
//! `redo`, …; the module docs of [`super`] list them): each becomes an
//! operation, an undo or redo, a jump, or a message.

use super::*;

pub(super) const HELP: &str =
    "commands: alloc SIZE [ALIGN] · free N | free #N | free @OFFSET · defrag · flush · policy NAME · coalescing NAME
          next [N] · prev [N] · redo [N] · goto STEP (trace) · reset · help · quit";

impl State {
    /// Runs one command line.
    pub(super) fn exec(&mut self, m: &mut SliceManager<'_>, line: &str) -> Flow {
        let line = sysarena_sim::script::strip_comment(line);
        self.log.clear();
        // An interactive quiz answer.
        if let Some((op, q)) = self.pending.take() {
            if matches!(line, "quit" | "q" | "exit") {
                return Flow::Quit;
            }
            // Only an offset or `fail` is an answer: a typo asks again.
            let answer = match line {
                "fail" | "f" | "x" => Some(None),
                a => a.trim_start_matches('@').parse::<usize>().ok().map(Some),
            };
            let Some(answer) = answer else {
                self.pending = Some((op, q));
                return self.err(&format!(
                    "`{line}` is not an answer: type an offset (e.g. 64) or `fail`"
                ));
            };
            self.title = format!("{q}: you said `{line}`");
            let why = self.explain(m, op);
            self.apply(m, op);
            self.undone.clear();
            let landed = self.landed();
            let right = answer == landed;
            self.score.1 += 1;
            if right {
                self.score.0 += 1;
            }
            self.log.push(format!(
                "{} it {} (score {}/{})",
                if right { "✓ right:" } else { "✗ no:" },
                landed.map_or_else(|| "failed".to_owned(), |o| format!("landed at offset {o}")),
                self.score.0,
                self.score.1
            ));
            if !right && let Some(why) = why {
                self.log.push(why);
            }
            return Flow::Continue;
        }
        if line.is_empty() {
            self.title.clear();
            return Flow::Continue;
        }
        self.title = line.to_owned();
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        // The number at `args[i]`: `Ok(None)` when absent, `Err` (a message
        // with the usage) when it is not one; a bad number changes nothing.
        let num = |i: usize, usage: &str| -> Result<Option<usize>, String> {
            args.get(i)
                .map(|a| {
                    parse_size(a).map_err(|_| format!("`{a}` is not a number: usage: {usage}"))
                })
                .transpose()
        };
        // Unwraps `num`'s answer, or reports its error (or the usage, for a
        // missing required number) and returns.
        macro_rules! take {
            ($r:expr) => {
                match $r {
                    Ok(n) => n,
                    Err(e) => return self.err(&e),
                }
            };
            ($r:expr, required $usage:expr) => {
                match $r {
                    Ok(Some(n)) => n,
                    Ok(None) => return self.err(&format!("usage: {}", $usage)),
                    Err(e) => return self.err(&e),
                }
            };
        }
        let op = match cmd {
            "alloc" | "a" | "malloc" => {
                const USAGE: &str = "alloc SIZE [ALIGN]";
                let size = take!(num(0, USAGE), required USAGE);
                let align = take!(num(1, USAGE)).unwrap_or(1);
                Op::Alloc { size, align }
            }
            "free" | "f" => match self.free_target(args.first().copied()) {
                Ok(offset) => Op::Free { offset },
                Err(e) => return self.err(&e),
            },
            "defrag" | "defragment" | "d" => Op::Defrag,
            "flush" => Op::Flush,
            "policy" | "p" => match args.first().and_then(|a| a.parse::<Policy>().ok()) {
                Some(p) => Op::Config(Config::new(p, self.config.coalescing)),
                None => {
                    return self
                        .err("policy: first-fit, next-fit, best-fit, worst-fit or segregated-fit");
                }
            },
            "coalescing" | "c" => match args.first().and_then(|a| a.parse::<Coalescing>().ok()) {
                Some(c) => Op::Config(Config::new(self.config.policy, c)),
                None => return self.err("coalescing: deferred or immediate"),
            },
            "next" | "n" => {
                let count = take!(num(0, "next [N]")).unwrap_or(1);
                let total = self.trace.as_ref().map_or(0, |t| t.events.len());
                if self.trace.is_none() {
                    return self.err("no trace: start with `sysarena step TRACE`");
                }
                if self.cursor >= total {
                    return self.err("the trace has no more events");
                }
                if count == 1 {
                    Op::Event(self.cursor)
                } else {
                    self.undone.clear();
                    for i in self.cursor..self.cursor.saturating_add(count).min(total) {
                        let quiet = std::mem::replace(&mut self.quiet, true);
                        self.apply(m, Op::Event(i));
                        self.quiet = quiet;
                    }
                    self.log
                        .push(format!("applied events up to step {}", self.cursor));
                    return Flow::Continue;
                }
            }
            "prev" | "undo" | "back" => {
                let count = take!(num(0, "prev [N]"))
                    .unwrap_or(1)
                    .min(self.history.len());
                if count == 0 {
                    return self.err("nothing to undo");
                }
                let undone = self.history.split_off(self.history.len() - count);
                self.undone.extend(undone.into_iter().rev());
                self.log.push(format!(
                    "undid {} (`redo` or → brings {} back)",
                    crate::heapmap::count(count, "operation"),
                    if count == 1 { "it" } else { "them" }
                ));
                return Flow::Rebuild;
            }
            "redo" | "r" => {
                let count = take!(num(0, "redo [N]"))
                    .unwrap_or(1)
                    .min(self.undone.len());
                if count == 0 {
                    return self.err("nothing to redo");
                }
                for _ in 0..count {
                    if let Some(op) = self.undone.pop() {
                        self.apply(m, op);
                    }
                }
                self.log.push(format!(
                    "redid {}",
                    crate::heapmap::count(count, "operation")
                ));
                return Flow::Continue;
            }
            "goto" | "g" => {
                let Some(total) = self.trace.as_ref().map(|t| t.events.len()) else {
                    return self.err("no trace");
                };
                let n = take!(num(0, "goto STEP"), required "goto STEP").min(total);
                self.history = (0..n).map(Op::Event).collect();
                self.undone.clear();
                self.log.push(format!("jumped to step {n}"));
                return Flow::Rebuild;
            }
            "reset" => {
                self.history.clear();
                self.undone.clear();
                self.log.push("reset".to_owned());
                return Flow::Rebuild;
            }
            "help" | "h" | "?" => {
                self.log.extend(HELP.lines().map(str::to_owned));
                return Flow::Continue;
            }
            "quit" | "q" | "exit" => return Flow::Quit,
            _ => return self.err(&format!("unknown command `{cmd}` (try `help`)")),
        };
        self.undone.clear();
        self.run_op(m, op)
    }

    /// The offset `free ARG` frees: `@OFFSET`, or for `N` allocation #N,
    /// else the trace's live id N (`#` starts a comment, so `#N` cannot
    /// tell them apart: `@OFFSET` does).
    ///
    /// # Errors
    ///
    /// A message for the log: the usage when `arg` is missing or not a
    /// number, "no live allocation" when nothing answers to it, and which
    /// to type when `N` names both a typed allocation and a trace's id.
    fn free_target(&self, arg: Option<&str>) -> Result<usize, String> {
        const USAGE: &str =
            "usage: free N  (allocation #N, else the trace's id N),  free #N  or  free @OFFSET";
        let Some(a) = arg else {
            return Err(USAGE.to_owned());
        };
        if let Some(off) = a.strip_prefix('@') {
            return off
                .parse()
                .map_err(|_| format!("`{a}` is not an offset: {USAGE}"));
        }
        // `#3` as the map and the table name it: typed allocation 3 only.
        if let Some(k) = a.strip_prefix('#') {
            let n: usize = k
                .parse()
                .map_err(|_| format!("`{a}` is not a number: {USAGE}"))?;
            return self
                .names
                .iter()
                .find(|(_, t)| !t.traced && t.key == n)
                .map(|(&o, _)| o)
                .ok_or_else(|| format!("no live allocation #{n}"));
        }
        let Ok(n) = a.parse::<usize>() else {
            return Err(format!("`{a}` is not a number: {USAGE}"));
        };
        let typed = self
            .names
            .iter()
            .find(|(_, t)| !t.traced && t.key == n)
            .map(|(&o, _)| o);
        let traced = u64::try_from(n)
            .ok()
            .and_then(|id| self.ids.get(&id).copied());
        match (typed, traced) {
            (Some(o), None) | (None, Some(o)) => Ok(o),
            (Some(o), Some(t)) => Err(format!(
                "`free {n}` is ambiguous: type `free @{o}` for #{n} or `free @{t}` for the trace's id {n}"
            )),
            (None, None) if self.trace.is_some() => Err(format!(
                "no live allocation {n}: no typed #{n}, and the trace's id {n} is not live"
            )),
            (None, None) => Err(format!("no live allocation {n}")),
        }
    }
}
