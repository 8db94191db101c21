//! The command lines `sysarena step` reads (`alloc 100`, `free 0`, `prev`,
//! `redo`, …; the module docs of [`super`] list them): each becomes an
//! operation, an undo or redo, a jump, or a message.

use super::*;

pub(super) const HELP: &str =
    "commands: alloc SIZE [ALIGN] · free N | free @OFFSET · defrag · flush · policy NAME · coalescing NAME
          next [N] · prev [N] · redo [N] · goto STEP (trace) · reset · help · quit";

impl State {
    /// Runs one command line.
    pub(super) fn exec(&mut self, m: &mut SliceManager<'_>, line: &str) -> Flow {
        let line = line.split('#').next().unwrap_or("").trim();
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
        let num = |i: usize| args.get(i).and_then(|a| parse_size(a).ok());
        let op = match cmd {
            "alloc" | "a" | "malloc" => match num(0) {
                Some(size) => Op::Alloc {
                    size,
                    align: num(1).unwrap_or(1),
                },
                None => return self.err("usage: alloc SIZE [ALIGN]"),
            },
            "free" | "f" => {
                let Some(a) = args.first() else {
                    return self.err("usage: free N  (allocation #N)  or  free @OFFSET");
                };
                let offset = if let Some(off) = a.strip_prefix('@') {
                    off.parse().ok()
                } else {
                    let n: Option<usize> = a.trim_start_matches('#').parse().ok();
                    n.and_then(|n| {
                        self.names
                            .iter()
                            .find(|(_, t)| !t.traced && t.key == n)
                            .map(|(&o, _)| o)
                    })
                };
                match offset {
                    Some(offset) => Op::Free { offset },
                    None => return self.err(&format!("no live allocation {a}")),
                }
            }
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
                let count = num(0).unwrap_or(1);
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
                let count = num(0).unwrap_or(1).min(self.history.len());
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
                let count = num(0).unwrap_or(1).min(self.undone.len());
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
                let Some(t) = &self.trace else {
                    return self.err("no trace");
                };
                let n = num(0).unwrap_or(0).min(t.events.len());
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
}
