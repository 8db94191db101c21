//! `sysarena demo`: the seed's story, told by the real manager.
//!
//! Fill a region, free every other block, watch an allocation fail while
//! more than enough bytes are free, see why `defragment` cannot help with
//! holes that are not neighbours and how it does help when they are, and
//! how relocation (moving live blocks) closes the holes merging cannot.
//! Nothing is scripted: every line is printed from what the manager did.

use std::collections::HashMap;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use sysarena::{AllocError, ArenaManager, Coalescing, Config, Policy};

use crate::heapmap::{HeapMap, cached_note, count, fmt_bytes, label};

/// Options of the demo.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Fit policy (first-fit is the classic model).
    #[arg(long, default_value = "first-fit", value_parser = crate::names::PolicyParser)]
    pub policy: Policy,
    /// Coalescing mode (deferred is the classic model).
    #[arg(long, default_value = "deferred", value_parser = crate::names::CoalescingParser)]
    pub coalescing: Coalescing,
    /// Number of blocks that fill the region, 4 to 26; from 6 on the story
    /// goes on to relocation (with 4 or 5, merging leaves no hole for it).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(4..=26))]
    pub blocks: u8,
    /// Size of each block, 1 byte to 1 TiB [units: K, M, G].
    #[arg(long, default_value = "128", value_parser = parse_block_size)]
    pub block_size: usize,
    /// Width of the heap map, in cells (1 to 4096).
    #[arg(long, default_value_t = 64, value_parser = crate::heapmap::parse_width)]
    pub width: usize,
}

/// The largest `--block-size`: 26 blocks of it and the story's requests
/// (three blocks at once) stay far from `usize::MAX`.
pub const MAX_BLOCK_SIZE: usize = 1 << 40;

/// Parses `--block-size`: a size from 1 byte to [`MAX_BLOCK_SIZE`].
pub fn parse_block_size(s: &str) -> Result<usize, String> {
    match crate::sim::format::parse_size(s)? {
        0 => Err("a block of 0 bytes cannot be allocated: give at least 1 byte".to_owned()),
        n if n > MAX_BLOCK_SIZE => Err(format!(
            "{} is larger than the demo's largest block, {}",
            fmt_bytes(n),
            fmt_bytes(MAX_BLOCK_SIZE)
        )),
        n => Ok(n),
    }
}

const TABLE: usize = 32;

struct Demo<W: Write> {
    out: W,
    m: ArenaManager<TABLE>,
    /// Offset → block number, for labels and stable colours.
    names: HashMap<usize, usize>,
    width: usize,
    step: usize,
}

impl<W: Write> Demo<W> {
    fn heading(&mut self, text: &str) -> io::Result<()> {
        self.step += 1;
        let bold = Style::new().bold();
        writeln!(self.out, "\n{bold}{}. {text}{bold:#}", self.step)
    }

    fn map(&mut self) -> io::Result<()> {
        let arenas: Vec<_> = self.m.arenas().collect();
        let names = &self.names;
        let map = HeapMap::new(&arenas, self.m.capacity(), self.width, |a| {
            names.get(&a.offset).copied()
        });
        let line = map.render_line(label);
        writeln!(self.out, "   |{line}|")?;
        if self.step == 0 {
            writeln!(self.out, "   ({})", map.scale_note())?;
        }
        let s = self.m.stats();
        writeln!(
            self.out,
            "   in use {} in {} · free {} in {}{}, largest {} · fragmentation {:.0}% · descriptors {}/{} in use",
            fmt_bytes(s.in_use_bytes),
            count(s.used_arenas, "arena"),
            fmt_bytes(s.free_bytes),
            count(s.free_arenas, "arena"),
            cached_note(&s),
            fmt_bytes(s.largest_free),
            s.fragmentation() * 100.0,
            s.descriptors - s.spare_descriptors,
            s.descriptors,
        )
    }

    fn free_block(&mut self, n: usize) -> io::Result<()> {
        let off = self
            .names
            .iter()
            .find(|&(_, &v)| v == n)
            .map(|(&o, _)| o)
            .expect("the demo frees only blocks it allocated");
        self.m.free(off).map_err(io::Error::other)?;
        self.names.remove(&off);
        Ok(())
    }

    /// Asks for `size` bytes and tells what happened.
    fn ask(&mut self, size: usize, name: usize) -> io::Result<bool> {
        let ok = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
        let bad = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
        match self.m.alloc(size, 1) {
            Ok(a) => {
                self.names.insert(a.offset(), name);
                writeln!(
                    self.out,
                    "   {ok}✓{ok:#} alloc({size}) = offset {} (block {})",
                    a.offset(),
                    label(name)
                )?;
                Ok(true)
            }
            Err(e) => {
                writeln!(self.out, "   {bad}✗ alloc({size}): {e}{bad:#}")?;
                if let AllocError::OutOfMemory(sysarena::OomReason::NoFit {
                    free_bytes,
                    largest_free,
                    ..
                }) = e
                    && free_bytes >= size
                {
                    writeln!(
                        self.out,
                        "     {} are free, but the largest single free arena is {}: the bytes are there, the hole is not.",
                        fmt_bytes(free_bytes),
                        fmt_bytes(largest_free)
                    )?;
                }
                Ok(false)
            }
        }
    }

    fn defragment(&mut self) -> io::Result<()> {
        let r = self.m.defragment();
        writeln!(
            self.out,
            "   defragment: merged {} into their neighbours, moved {} to compact the table; free arenas {} → {}, largest free {} → {}",
            count(r.merged, "free arena"),
            count(r.compacted, "descriptor"),
            r.free_arenas_before,
            r.free_arenas_after,
            fmt_bytes(r.largest_free_before),
            fmt_bytes(r.largest_free_after)
        )?;
        if r.merged == 0 {
            writeln!(
                self.out,
                "   Nothing merged: no two free arenas are neighbours. Merging cannot close holes between live blocks; only moving the live blocks (relocation) could."
            )?;
        }
        Ok(())
    }
}

/// Runs the demo, writing to `out`.
pub fn run(args: &DemoArgs, out: impl Write) -> io::Result<()> {
    let blocks = usize::from(args.blocks);
    // The parser bounds the block size; a value built by hand is checked
    // here too, so the demo never wraps.
    if args.block_size == 0 || args.block_size > MAX_BLOCK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--block-size must be 1 byte to {}",
                fmt_bytes(MAX_BLOCK_SIZE)
            ),
        ));
    }
    let capacity = blocks * args.block_size;
    let config = Config::new(args.policy, args.coalescing);
    let mut d = Demo {
        out,
        m: ArenaManager::with_config(capacity, config),
        names: HashMap::new(),
        width: args.width,
        step: 0,
    };
    let classic = config == Config::classic();
    writeln!(
        d.out,
        "sysarena demo — the arena model, and how it fragments\n\nA region of {} with a table of {TABLE} arena descriptors; policy {}, {} coalescing{}.\n{}",
        fmt_bytes(capacity),
        args.policy,
        args.coalescing,
        if classic { " (the classic model)" } else { "" },
        HeapMap::legend()
    )?;
    if config == Config::fast() {
        writeln!(d.out, "{}", HeapMap::legend_cached())?;
    }
    d.map()?;

    d.heading(&format!(
        "Fill the region: {blocks} allocations of {} (each splits the free arena)",
        fmt_bytes(args.block_size)
    ))?;
    for n in 0..blocks {
        let a = d.m.alloc(args.block_size, 1).map_err(io::Error::other)?;
        d.names.insert(a.offset(), n);
    }
    d.map()?;

    let odd: Vec<usize> = (1..blocks).step_by(2).collect();
    let names: Vec<String> = odd.iter().map(|&n| label(n).to_string()).collect();
    d.heading(&format!("Free every other block ({})", names.join(", ")))?;
    for &n in &odd {
        d.free_block(n)?;
    }
    d.map()?;
    if args.policy != Policy::FirstFit {
        writeln!(
            d.out,
            "   Every free arena is {}, so every fit policy picks the same one in this story: {} differs from first fit only when holes differ in size (`sysarena step --policy {}` lets you make such holes; `sysarena compare --workload plateau` measures it).",
            fmt_bytes(args.block_size),
            args.policy,
            args.policy
        )?;
    }

    let big = 2 * args.block_size;
    d.heading(&format!("Ask for {}", fmt_bytes(big)))?;
    let next_name = blocks;
    if d.ask(big, next_name)? {
        writeln!(
            d.out,
            "\nThis configuration served the request without fragmenting; try the classic model: `sysarena demo`."
        )?;
        return Ok(());
    }

    d.heading("Defragment")?;
    d.defragment()?;
    d.map()?;
    d.ask(big, next_name)?;

    let middle = 2;
    let deferred = args.coalescing == Coalescing::Deferred;
    d.heading(&format!(
        "Free block {} too: its neighbours {} and {} are free{}",
        label(middle),
        label(middle - 1),
        label(middle + 1),
        if deferred {
            ", so three free arenas now touch"
        } else {
            ""
        }
    ))?;
    let before = d.m.stats();
    d.free_block(middle)?;
    let after = d.m.stats();
    // What the free did, from the manager: under the fast model a small
    // freed arena waits in a quick list and merges only at a flush.
    let cached = after.cached_arenas > before.cached_arenas;
    d.map()?;
    if cached {
        writeln!(
            d.out,
            "   It waits in a quick list (cached): it merges with its free neighbours only at a flush, which comes before any out-of-memory answer."
        )?;
    } else if !deferred {
        writeln!(
            d.out,
            "   With {} coalescing it merged with them at once: one free arena.",
            args.coalescing
        )?;
    }
    if d.ask(big, next_name)? {
        d.map()?;
        writeln!(
            d.out,
            "   {}, so no defragment was needed.",
            if cached {
                "No free arena held it, so the lists were flushed first (as before any out-of-memory answer), and the merged arena held it"
            } else {
                "The free merged at once"
            }
        )?;
    } else {
        writeln!(
            d.out,
            "   The classic free only marks an arena free: the three neighbours are still three arenas."
        )?;

        d.heading("Defragment again")?;
        d.defragment()?;
        d.map()?;
        d.heading(&format!("Ask for {} again", fmt_bytes(big)))?;
        d.ask(big, next_name)?;
        d.map()?;
    }

    // The bigger request is chosen from what is free now: more than the
    // largest free arena (so it fails), at most every free byte (so it fits
    // once relocation has gathered them), three blocks when that is so.
    let s = d.m.stats();
    if s.free_bytes <= s.largest_free {
        writeln!(
            d.out,
            "   Free now: {} in {}. No hole is left for relocation to close; with `--blocks 6` or more the story goes on to relocation.",
            fmt_bytes(s.free_bytes),
            count(s.free_arenas, "arena")
        )?;
        return finish(d);
    }
    let bigger = s.free_bytes.min(3 * args.block_size);
    d.heading(&format!("Ask for {}", fmt_bytes(bigger)))?;
    if !d.ask(bigger, next_name + 1)? {
        d.heading("Relocate: slide the live blocks down (the caller moves their bytes)")?;
        let mut moves = Vec::new();
        let r =
            d.m.relocate(|mv| moves.push(mv))
                .map_err(io::Error::other)?;
        for mv in &moves {
            let name = d.names.remove(&mv.from).unwrap_or(usize::MAX);
            d.names.insert(mv.to, name);
            writeln!(
                d.out,
                "   move block {} ({}) from offset {} to {}",
                label(name),
                fmt_bytes(mv.len),
                mv.from,
                mv.to
            )?;
        }
        writeln!(
            d.out,
            "   relocate: moved {} ({}); free arenas {} → {}, largest free {} → {}",
            count(r.moved, "block"),
            fmt_bytes(r.bytes_moved),
            r.free_arenas_before,
            r.free_arenas_after,
            fmt_bytes(r.largest_free_before),
            fmt_bytes(r.largest_free_after)
        )?;
        d.map()?;
        let served = d.ask(bigger, next_name + 1)?;
        d.map()?;
        if served && r.free_arenas_after <= 1 {
            writeln!(
                d.out,
                "   Relocation closes every hole, but only a caller that can update its pointers may use it: `sysarena defrag` shows handles and bounded passes."
            )?;
        } else {
            writeln!(
                d.out,
                "   Relocation left {}, the largest {}: it did not gather room for this request.",
                count(r.free_arenas_after, "free arena"),
                fmt_bytes(r.largest_free_after)
            )?;
        }
    }
    finish(d)
}

/// The demo's last line: the accounting adds up, and the invariants hold.
fn finish<W: Write>(mut d: Demo<W>) -> io::Result<()> {
    let s = d.m.stats();
    let next = if d.m.config().coalescing == Coalescing::Deferred {
        "`sysarena demo --coalescing immediate`"
    } else {
        "the classic model, `sysarena demo`"
    };
    writeln!(
        d.out,
        "\nin_use_bytes + free_bytes = {} + {} = {} = capacity. Next: {next}; fit policies differ when holes differ in size: `sysarena step --policy best-fit`.",
        s.in_use_bytes, s.free_bytes, s.capacity
    )?;
    d.m.check_invariants().map_err(io::Error::other)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(extra: &[&str]) -> String {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: DemoArgs,
        }
        let mut argv = vec!["demo"];
        argv.extend_from_slice(extra);
        let p = P::parse_from(argv);
        let mut out = Vec::new();
        run(&p.a, &mut out).unwrap();
        // Strip colours for comparison.
        let s = String::from_utf8(out).unwrap();
        let mut plain = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == '\u{1b}' {
                for c in it.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }

    #[test]
    fn the_fast_model_shows_a_cached_block() {
        let out = demo(&[
            "--policy",
            "segregated-fit",
            "--coalescing",
            "immediate",
            "--block-size",
            "16",
            "--blocks",
            "26",
            "--width",
            "26",
        ]);
        // The region's sixteenth (26 B) holds one freed 16-byte block.
        for line in [
            "○∘ a cached arena: freed, waiting whole in a quick list for the next request of its size (it merges with free neighbours only when the lists are flushed)\n",
            "   |A○C▏E▏G▏I▏K▏M▏O▏Q▏S▏U▏W▏Y▏|\n",
            "   in use 208 B in 13 arenas · free 208 B in 13 arenas (16 B cached in 1), largest 16 B · fragmentation 92% · descriptors 26/32 in use\n",
        ] {
            assert!(out.contains(line), "{line}\n{out}");
        }
        // The classic demo names no cached arena.
        assert!(!demo(&[]).contains('○'));
    }

    #[test]
    fn the_classic_demo_fails_then_defragment_rescues() {
        let out = demo(&[]);
        assert!(out.contains("✗ alloc(256): out of memory"), "{out}");
        assert!(out.contains("external fragmentation"));
        assert!(out.contains("Nothing merged"));
        assert!(out.contains("merged 2 free arenas"));
        assert!(out.contains("✓ alloc(256) = offset 128"), "{out}");
        assert!(out.contains("in_use_bytes + free_bytes = "));
        assert!(
            out.contains("move block E (128 B) from offset 512 to 384"),
            "{out}"
        );
        assert!(out.contains("✓ alloc(384) = offset 640"), "{out}");
    }

    #[test]
    fn best_fit_says_why_its_story_is_the_same() {
        let out = demo(&["--policy", "best-fit"]);
        assert!(
            out.contains("every fit policy picks the same one in this story"),
            "{out}"
        );
        assert!(!demo(&[]).contains("picks the same one"));
    }

    #[test]
    fn block_sizes_are_bounded_and_take_units() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: DemoArgs,
        }
        for bad in ["0", "4611686018427387904", "18446744073709551615", "1025G"] {
            assert!(
                P::try_parse_from(["demo", "--block-size", bad]).is_err(),
                "{bad}"
            );
        }
        assert!(demo(&["--block-size", "4K"]).contains("A region of 32.0 KiB"));
        let out = demo(&["--block-size", "1024G", "--blocks", "26"]);
        assert!(out.contains("A region of 26.0 TiB"), "{out}");
        assert!(out.contains("= capacity"), "{out}");
    }

    #[test]
    fn every_block_count_tells_a_true_story() {
        for blocks in 4..=26u8 {
            for policy in [
                "first-fit",
                "next-fit",
                "best-fit",
                "worst-fit",
                "segregated-fit",
            ] {
                let n = blocks.to_string();
                let out = demo(&["--blocks", &n, "--policy", policy]);
                let at = format!("--blocks {blocks} --policy {policy}");
                assert!(out.contains("= capacity"), "{at}: {out}");
                match out.split_once("Relocate:") {
                    Some((before, after)) => {
                        assert!(blocks >= 6, "{at}: {out}");
                        // The bigger request failed before relocation and
                        // is served after it; only then is the claim made.
                        assert!(before.contains("— external fragmentation"), "{at}: {out}");
                        assert!(!after.contains('✗'), "{at}: {out}");
                        assert!(after.contains("Relocation closes every hole"), "{at}");
                        assert!(!after.contains("moved 0 blocks"), "{at}: {out}");
                    }
                    None => {
                        assert!(blocks < 6, "{at}: {out}");
                        assert!(out.contains("No hole is left for relocation"), "{at}");
                        assert!(!out.contains("Relocation closes"), "{at}: {out}");
                    }
                }
            }
        }
        // Eight blocks (the default) ask for three blocks' worth.
        assert!(demo(&[]).contains("8. Ask for 384 B"));
    }

    /// Under the fast model a small freed block waits in a quick list: the
    /// story says so, and that the flush before out-of-memory merged it
    /// (it said the free had merged at once, over a map of a cached arena).
    #[test]
    fn the_fast_model_says_the_freed_block_waits_cached_until_the_flush() {
        let out = demo(&[
            "--policy",
            "segregated-fit",
            "--coalescing",
            "immediate",
            "--blocks",
            "16",
        ]);
        assert!(out.contains("It waits in a quick list (cached)"), "{out}");
        assert!(out.contains("so the lists were flushed first"), "{out}");
        assert!(!out.contains("merged at once"), "{out}");
    }

    #[test]
    fn immediate_coalescing_needs_no_defragment_and_goes_on_to_relocation() {
        let out = demo(&["--coalescing", "immediate"]);
        assert!(out.contains("merged at once"), "{out}");
        // The line under the map says what it shows: one merged arena.
        assert!(
            out.contains("it merged with them at once: one free arena"),
            "{out}"
        );
        assert!(!out.contains("three free arenas now touch"), "{out}");
        assert!(!out.contains("Defragment again"), "{out}");
        // The help's promise: from 6 blocks on, the story reaches relocation.
        assert!(
            out.contains("Relocate: slide the live blocks down"),
            "{out}"
        );
        assert!(out.contains("Next: the classic model"), "{out}");
    }
}
