//! `sysarena defrag`: defragmentation that moves live blocks, in bounded
//! passes, on a simulated device region.
//!
//! A seeded scenario fragments the region until a request fails with
//! enough free bytes; the classic defragment (merging neighbours) cannot
//! help; then [`Movable`] passes of at most `--max-moves` moves and
//! `--max-bytes` bytes plan moves, this command carries them out on the
//! region's bytes (as a GPU driver would run copy commands), and the request
//! fits. Every block carries a byte pattern that is checked at its new place
//! after every pass. Nothing is scripted: every line is what the manager
//! did.

mod device;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;

use anstyle::{AnsiColor, Style};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use sysarena::{
    ArenaInfo, ArenaManager, Config, Handle, HandleError, Movable, MoveStatus, PassLimits,
    PassProgress, PassStop, PlannedMove, Policy, Slot,
};

use sysarena_sim::trace::Event;

use crate::heapmap::{HeapMap, LABEL_NOTE, cached_note, count, fmt_bytes, label, labels_repeat};
use crate::sim::format::parse_size;
use crate::viz::{output_error, svg};

/// Options of `sysarena defrag`.
#[derive(Clone, Debug, clap::Args)]
pub struct DefragArgs {
    /// Region size [units: K, M, G]; at most 1 GiB (the simulated device's
    /// bytes are held in memory).
    #[arg(long, default_value = "64KiB", value_parser = parse_region)]
    pub capacity: usize,
    /// Smallest block [units: K, M, G].
    #[arg(long, default_value = "256", value_parser = parse_size)]
    pub min_block: usize,
    /// Largest block [units: K, M, G].
    #[arg(long, default_value = "4096", value_parser = parse_size)]
    pub max_block: usize,
    /// Share of the blocks freed to fragment the region, in percent.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(1..=95))]
    pub free_percent: u8,
    /// At most this many moves per pass.
    #[arg(long, default_value_t = 4)]
    pub max_moves: usize,
    /// At most this many bytes moved per pass [units: K, M, G].
    #[arg(long, value_parser = parse_size)]
    pub max_bytes: Option<usize>,
    /// Fit policy.
    #[arg(long, default_value = "first-fit", value_parser = crate::names::PolicyParser)]
    pub policy: Policy,
    /// Seed of the scenario.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Width of the heap maps, in cells (1 to 4096).
    #[arg(long, default_value_t = 64, value_parser = crate::heapmap::parse_width)]
    pub width: usize,
    /// Fragment the region by replaying a real trace (native, malloc-lab
    /// `.rep`, OSTEP; gzip detected) instead of the random scenario.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// With `--trace`: replay only the first N events (`50000`, `50k`).
    #[arg(long, default_value = "50000", value_parser = crate::sim::parse_max_events)]
    pub events: usize,
    /// Also write the heap map before, after the classic defragment, after
    /// every pass and at the end as one SVG picture.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Run passes until the command has run this long (`30s`, `2m`; `0`
    /// for no limit), then stop and say so: each pass walks the arenas,
    /// so a long trace (`--events 300k`) takes minutes to gather all.
    #[arg(long, value_name = "TIME", default_value = "30s", value_parser = crate::sim::parse_budget)]
    pub time_budget: crate::sim::Budget,
}

/// Descriptors and handles of the random scenario's manager.
const TABLE: usize = 1024;

/// The largest simulated device region: its bytes live in this process.
pub const MAX_REGION: usize = 1 << 30;

/// Parses `--capacity`: a size from 1 byte to [`MAX_REGION`].
pub fn parse_region(s: &str) -> Result<usize, String> {
    match parse_size(s)? {
        0 => Err("a region of 0 bytes holds nothing: give at least 1 byte".to_owned()),
        n if n > MAX_REGION => Err(format!(
            "{} is larger than the largest simulated region, {} (its bytes are held in memory)",
            fmt_bytes(n),
            fmt_bytes(MAX_REGION)
        )),
        n => Ok(n),
    }
}

use device::{Device, compact_at_once, fragment};

/// One picture row: caption, map, stats line.
struct Frame {
    caption: String,
    map: HeapMap,
    stats: String,
}

struct Run<W: Write> {
    out: W,
    d: Device,
    width: usize,
    frames: Vec<Frame>,
    /// Whether the note that labels repeat was printed.
    said_labels: bool,
}

impl<W: Write> Run<W> {
    fn map(&mut self, caption: &str) -> io::Result<()> {
        let arenas = self.d.arenas();
        let keys = self.d.keys();
        let key = |a: &ArenaInfo| keys.get(&a.offset).copied();
        let capacity = self.d.m.capacity();
        let map = HeapMap::fit(&arenas, capacity, self.width, key);
        let s = self.d.m.stats();
        let stats = format!(
            "in use {} in {} · free {} in {}{}, largest {} ({:.0}% of free)",
            fmt_bytes(s.in_use_bytes),
            count(s.used_arenas, "block"),
            fmt_bytes(s.free_bytes),
            count(s.free_arenas, "arena"),
            cached_note(&s),
            fmt_bytes(s.largest_free),
            if s.free_bytes == 0 {
                100.0
            } else {
                s.largest_free as f64 * 100.0 / s.free_bytes as f64
            }
        );
        writeln!(self.out, "   |{}|", map.render_line(label))?;
        writeln!(self.out, "   {stats}")?;
        if !self.said_labels && labels_repeat(keys.values().copied()) {
            self.said_labels = true;
            writeln!(self.out, "   {LABEL_NOTE}")?;
        }
        self.frames.push(Frame {
            caption: caption.to_owned(),
            map: HeapMap::fit(&arenas, capacity, 480, key),
            stats,
        });
        Ok(())
    }

    fn ask(&mut self, size: usize) -> io::Result<bool> {
        let ok = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
        let bad = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
        match self.d.alloc(size) {
            Ok(h) => {
                let off = self.d.m.offset(h).map_err(io::Error::other)?;
                writeln!(
                    self.out,
                    "   {ok}✓{ok:#} alloc({}) = offset {off}",
                    fmt_bytes(size)
                )?;
                Ok(true)
            }
            Err(e) => {
                writeln!(self.out, "   {bad}✗ alloc({}): {e}{bad:#}", fmt_bytes(size))?;
                Ok(false)
            }
        }
    }
}

/// Runs `sysarena defrag`, writing to `out`.
pub fn run(args: &DefragArgs, out: impl Write) -> io::Result<()> {
    if args.capacity == 0 || args.capacity > MAX_REGION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--capacity must be 1 byte to {}", fmt_bytes(MAX_REGION)),
        ));
    }
    if args.min_block == 0 || args.min_block > args.max_block || args.max_block > args.capacity {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "need 0 < --min-block <= --max-block <= --capacity",
        ));
    }
    if args.max_moves == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--max-moves must be at least 1",
        ));
    }
    let started = std::time::Instant::now();
    let config = Config::new(args.policy, sysarena::Coalescing::Deferred);
    let (d, story) = fragment(args, config)?;
    let mut r = Run {
        out,
        d,
        width: args.width,
        frames: Vec::new(),
        said_labels: false,
    };
    let bold = Style::new().bold();
    writeln!(
        r.out,
        "sysarena defrag — moving live blocks in bounded passes\n\nA {} region the CPU never reads (a GPU buffer, say): the manager plans moves, this command carries them out as copy commands would. Policy {}, at most {} moves{} per pass.\n{}",
        fmt_bytes(r.d.m.capacity()),
        args.policy,
        args.max_moves,
        args.max_bytes
            .map(|b| format!(" and {}", fmt_bytes(b)))
            .unwrap_or_default(),
        HeapMap::legend()
    )?;

    writeln!(r.out, "\n{bold}1. {story}{bold:#}")?;
    r.map("fragmented")?;

    writeln!(
        r.out,
        "\n{bold}2. The classic defragment: merge free neighbours, compact the table{bold:#}"
    )?;
    let c = r.d.m.defragment();
    writeln!(
        r.out,
        "   merged {}; free arenas {} → {}, largest free {} → {}",
        count(c.merged, "free arena"),
        c.free_arenas_before,
        c.free_arenas_after,
        fmt_bytes(c.largest_free_before),
        fmt_bytes(c.largest_free_after)
    )?;
    r.map("after the classic defragment")?;

    // A request larger than every hole but within the free bytes.
    let s = r.d.m.stats();
    let want = (s.largest_free * 2)
        .min(s.free_bytes / 16 * 16)
        .max(s.largest_free + 16);
    writeln!(r.out, "\n{bold}3. Ask for {}{bold:#}", fmt_bytes(want))?;
    let mut fits = r.ask(want)?;
    if fits {
        writeln!(
            r.out,
            "\nThe region did not fragment enough to need moving; try another --seed or a higher --free-percent."
        )?;
        return write_svg(args, &r.frames);
    }
    writeln!(
        r.out,
        "   {} are free, but merging cannot close a hole between two live blocks: the blocks must move.",
        fmt_bytes(s.free_bytes)
    )?;

    writeln!(
        r.out,
        "\n{bold}4. Defragmentation passes: plan, copy, mark done, commit{bold:#}"
    )?;
    let limits = PassLimits::new(args.max_moves, args.max_bytes.unwrap_or(usize::MAX));
    let mut buf = vec![PlannedMove::EMPTY; args.max_moves.min(TABLE)];
    let (mut passes, mut moved, mut bytes) = (0usize, 0usize, 0usize);
    // Long runs (a trace) print the first passes and the last, with a
    // progress bar between; the region is checked after every pass while
    // that is cheap, then every 100th, and at the end.
    const SHOWN: usize = 5;
    let progress = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template("   {spinner} pass {pos} · {msg}")
            .expect("a valid template"),
    );
    let mut checks = 0usize;
    while !fits {
        let plan =
            r.d.m
                .begin_pass(limits, &mut buf)
                .map_err(io::Error::other)?;
        let moves = &mut buf[..plan.moves];
        for mv in moves.iter_mut() {
            // The "copy command": memmove semantics (a slide overlaps its
            // own source).
            r.d.region.copy_within(mv.from..mv.from + mv.len, mv.to);
            mv.status = MoveStatus::Done;
        }
        let rep = r.d.m.end_pass(moves).map_err(io::Error::other)?;
        passes += 1;
        if passes <= 100 || passes.is_multiple_of(100) {
            r.d.verify()?;
            checks += 1;
        }
        moved += rep.done;
        bytes += rep.bytes_moved;
        let last = plan.progress() != PassProgress::Moving || r.d.m.stats().largest_free >= want;
        if passes <= SHOWN || last {
            progress.finish_and_clear();
            if passes > SHOWN + 1 {
                writeln!(r.out, "   …")?;
            }
            let list: Vec<String> = moves
                .iter()
                .take(4)
                .map(|m| {
                    format!(
                        "{} {}→{}{}",
                        fmt_bytes(m.len),
                        m.from,
                        m.to,
                        if m.overlaps() { " (slide)" } else { "" }
                    )
                })
                .collect();
            writeln!(
                r.out,
                "   pass {passes}: {}, {}{} · largest free {} → {}",
                count(rep.done, "move"),
                fmt_bytes(rep.bytes_moved),
                if list.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({}{})",
                        list.join(", "),
                        if moves.len() > 4 { ", …" } else { "" }
                    )
                },
                fmt_bytes(rep.largest_free_before),
                fmt_bytes(rep.largest_free_after)
            )?;
            if passes <= 3 || last {
                r.map(&format!("after pass {passes}"))?;
            }
        } else {
            progress.set_position(passes as u64);
            progress.set_message(format!(
                "{moved} moves, {} so far · largest free {}",
                fmt_bytes(bytes),
                fmt_bytes(rep.largest_free_after)
            ));
        }
        // The planner says whether to run another pass: more to do,
        // done, or blocked by the limits (another pass would plan nothing).
        match plan.progress() {
            PassProgress::Moving => {}
            PassProgress::Converged => {
                writeln!(r.out, "   converged: nothing left to move")?;
                break;
            }
            PassProgress::Blocked => {
                progress.finish_and_clear();
                let smallest =
                    r.d.blocks
                        .values()
                        .map(|&(_, size)| size)
                        .min()
                        .unwrap_or(0);
                let why = match (plan.stopped, args.max_bytes) {
                    (PassStop::ByteLimit, Some(b)) => format!(
                        "every block that could move is larger than --max-bytes {} (the smallest live block is {}); raise it",
                        fmt_bytes(b),
                        fmt_bytes(smallest)
                    ),
                    (PassStop::NoSpareDescriptor, _) => {
                        "the arena table has no spare descriptor for a destination".to_owned()
                    }
                    (other, _) => format!("the planner stopped at {other:?} with nothing planned"),
                };
                writeln!(
                    r.out,
                    "   stopped: no progress is possible under these limits — {why}"
                )?;
                break;
            }
        }
        if last {
            fits = r.ask(want)?;
        } else if let Some(budget) = args.time_budget.0
            && started.elapsed() >= budget
        {
            progress.finish_and_clear();
            if passes > SHOWN {
                writeln!(r.out, "   …")?;
            }
            writeln!(
                r.out,
                "   stopped after pass {passes}: the time budget of {budget:?} ran out (largest free {}); raise --time-budget, or 0 for none",
                fmt_bytes(rep.largest_free_after)
            )?;
            break;
        }
    }
    progress.finish_and_clear();
    if !fits {
        fits = r.ask(want)?;
    }
    r.d.verify()?;
    checks += 1;
    let s = r.d.m.stats();
    writeln!(
        r.out,
        "\n{} moved {} ({}); every live block's bytes were checked at its place {checks} times (after {}). in use + free = {} + {} = {} = capacity.",
        if passes == 1 {
            "1 pass".to_owned()
        } else {
            format!("{passes} passes")
        },
        count(moved, "block"),
        fmt_bytes(bytes),
        if passes <= 100 {
            "every pass and at the end"
        } else {
            "each of the first 100 passes, every 100th, and at the end"
        },
        s.in_use_bytes,
        s.free_bytes,
        s.capacity
    )?;
    if fits {
        r.map("the request placed")?;
    }

    // The same scenario relocated at once, for comparison.
    let once = compact_at_once(args, config)?;
    writeln!(
        r.out,
        "For comparison, relocating every block at once (Movable::relocate, moves in a safe order that must all be done) moves {} blocks ({}) and leaves one free arena of {}.",
        once.0,
        fmt_bytes(once.1),
        fmt_bytes(once.2)
    )?;
    write_svg(args, &r.frames)?;
    if let Some(p) = &args.svg {
        writeln!(r.out, "wrote {}", p.display())?;
    }
    Ok(())
}

fn write_svg(args: &DefragArgs, frames: &[Frame]) -> io::Result<()> {
    let Some(path) = &args.svg else {
        return Ok(());
    };
    let rows: Vec<_> = frames
        .iter()
        .map(|f| (f.caption.as_str(), &f.map, f.stats.as_str()))
        .collect();
    let title = format!(
        "sysarena defrag — {} region, at most {} moves per pass (seed {})",
        fmt_bytes(args.capacity),
        args.max_moves,
        args.seed
    );
    std::fs::write(path, svg::rows_svg(&rows, &title)).map_err(|e| output_error(path, e))
}
