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

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;

use anstyle::{AnsiColor, Style};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use sysarena::{
    ArenaInfo, ArenaManager, Config, Handle, HandleError, Movable, MoveStatus, PassLimits,
    PlannedMove, Policy, Slot,
};

use sysarena_sim::trace::Event;

use crate::heapmap::{HeapMap, LABEL_NOTE, count, fmt_bytes, label, labels_repeat};
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
    #[arg(long, default_value = "first-fit")]
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
    #[arg(long, default_value = "50000", value_parser = crate::sim::parse_events)]
    pub events: usize,
    /// Also write the heap map before, after the classic defragment, after
    /// every pass and at the end as one SVG picture.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// Descriptors and handles of the random scenario's manager.
const TABLE: usize = 1024;

/// The largest simulated device region: its bytes live in this process.
pub const MAX_REGION: usize = 1 << 30;

/// Passes in a row that move nothing before `defrag` stops: under limits
/// no movable block fits (`--max-bytes` below every block), a pass plans no
/// move and the plan never converges.
pub const STALLED_PASSES: usize = 3;

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

/// The simulated device: a manager with handles, and the region's bytes.
struct Device {
    m: Movable<0, 0, Box<[Slot]>, Box<[sysarena::HandleSlot]>>,
    region: Vec<u8>,
    /// Each live block's pattern seed and size.
    blocks: HashMap<Handle, (u8, usize)>,
}

impl Device {
    fn new(capacity: usize, table: usize, config: Config) -> io::Result<Device> {
        let slots = vec![Slot::EMPTY; table].into_boxed_slice();
        let manager =
            ArenaManager::from_table(slots, capacity, config).map_err(io::Error::other)?;
        let handles = vec![sysarena::HandleSlot::EMPTY; table].into_boxed_slice();
        Ok(Device {
            m: Movable::from_parts(manager, handles).map_err(io::Error::other)?,
            region: vec![0; capacity],
            blocks: HashMap::new(),
        })
    }

    fn alloc(&mut self, size: usize) -> Result<Handle, HandleError> {
        self.alloc_aligned(size, 16)
    }

    fn alloc_aligned(&mut self, size: usize, align: usize) -> Result<Handle, HandleError> {
        let h = self.m.alloc(size, align)?;
        let off = self.m.offset(h)?;
        let seed = (h.index() as u8).wrapping_mul(37).wrapping_add(11);
        for (i, b) in self.region[off..off + size].iter_mut().enumerate() {
            *b = pattern(seed, i);
        }
        self.blocks.insert(h, (seed, size));
        Ok(h)
    }

    fn free(&mut self, h: Handle) -> io::Result<()> {
        self.m.free(h).map_err(io::Error::other)?;
        self.blocks.remove(&h);
        Ok(())
    }

    /// Resizes `h`, moving its bytes as the manager says; new bytes get the
    /// pattern.
    fn resize(&mut self, h: Handle, size: usize) -> Result<(), HandleError> {
        let r = self.m.resize(h, size)?;
        if let Some(from) = r.moved_from {
            self.region.copy_within(from..from + r.copy_len, r.offset);
        }
        let (seed, old) = self.blocks[&h];
        for i in old.min(size)..size {
            self.region[r.offset + i] = pattern(seed, i);
        }
        self.blocks.insert(h, (seed, size));
        Ok(())
    }

    /// Every block's bytes at the place its handle names now.
    fn verify(&self) -> io::Result<()> {
        for (h, &(seed, size)) in &self.blocks {
            let off = self.m.offset(*h).map_err(io::Error::other)?;
            let bytes = &self.region[off..off + size];
            if let Some(i) = (0..size).find(|&i| bytes[i] != pattern(seed, i)) {
                return Err(io::Error::other(format!(
                    "block {h} lost byte {i} at offset {}",
                    off + i
                )));
            }
        }
        self.m.check_invariants().map_err(io::Error::other)
    }

    fn arenas(&self) -> Vec<ArenaInfo> {
        self.m.manager().arenas().collect()
    }

    /// Handle index by offset, for stable colours across moves.
    fn keys(&self) -> HashMap<usize, usize> {
        self.m
            .handles()
            .filter_map(|h| Some((self.m.offset(h).ok()?, h.index() as usize)))
            .collect()
    }
}

fn pattern(seed: u8, i: usize) -> u8 {
    seed ^ (i as u8).wrapping_mul(7)
}

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
            "in use {} in {} · free {} in {}, largest {} ({:.0}% of free)",
            fmt_bytes(s.in_use_bytes),
            count(s.used_arenas, "block"),
            fmt_bytes(s.free_bytes),
            count(s.free_arenas, "arena"),
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
    let mut stalled = 0usize;
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
        let last = plan.converged() || r.d.m.stats().largest_free >= want;
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
                "   pass {passes}: {}, {} ({}{}) · largest free {} → {}",
                count(rep.done, "move"),
                fmt_bytes(rep.bytes_moved),
                list.join(", "),
                if moves.len() > 4 { ", …" } else { "" },
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
        if plan.converged() {
            writeln!(r.out, "   converged: nothing left to move")?;
            break;
        }
        // A pass that moved nothing and did not converge: the limits let no
        // block move. The library would plan the same empty pass forever.
        stalled = if rep.done == 0 { stalled + 1 } else { 0 };
        if stalled >= STALLED_PASSES {
            progress.finish_and_clear();
            let smallest =
                r.d.blocks
                    .values()
                    .map(|&(_, size)| size)
                    .min()
                    .unwrap_or(0);
            writeln!(
                r.out,
                "   stopped: {STALLED_PASSES} passes in a row moved nothing and the plan has not converged — no progress is possible under these limits{}",
                match args.max_bytes {
                    Some(b) if b < smallest => format!(
                        " (--max-bytes {} is below the smallest live block, {}; raise it)",
                        fmt_bytes(b),
                        fmt_bytes(smallest)
                    ),
                    _ => String::new(),
                }
            )?;
            break;
        }
        if last {
            fits = r.ask(want)?;
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
        "\n{passes} passes moved {moved} blocks ({}); every live block's bytes were checked at its place {checks} times (after {}). in use + free = {} + {} = {} = capacity.",
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

    // The same scenario compacted at once, for comparison.
    let once = compact_at_once(args, config)?;
    writeln!(
        r.out,
        "For comparison, compacting everything at once (Movable::compact, moves in a safe order that must all be done) moves {} blocks ({}) and leaves one free arena of {}.",
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

/// Fragments a region: the random scenario, or a trace's prefix replayed.
/// Returns the device and a line saying what happened.
fn fragment(args: &DefragArgs, config: Config) -> io::Result<(Device, String)> {
    let Some(path) = &args.trace else {
        let mut d = Device::new(args.capacity, TABLE, config)?;
        let mut rng = Pcg64Mcg::seed_from_u64(args.seed);
        let mut live = Vec::new();
        loop {
            let size = rng.random_range(args.min_block..=args.max_block);
            match d.alloc(size) {
                Ok(h) => live.push(h),
                Err(_) => break,
            }
        }
        let mut freed = 0;
        for h in &live {
            if rng.random_range(0..100u8) < args.free_percent {
                d.free(*h)?;
                freed += 1;
            }
        }
        let story = format!(
            "Fill the region with {} blocks of {}–{}, then free {freed} of them at random",
            live.len(),
            fmt_bytes(args.min_block),
            fmt_bytes(args.max_block)
        );
        return Ok((d, story));
    };
    let trace = crate::sim::load_trace(path, None, Some(args.events), true)?;
    let st = trace.stats();
    // Room for the peak, with slack for fragmentation; a descriptor and a
    // handle per live block, and as many again for free arenas.
    let capacity = st
        .peak_live_bytes
        .checked_mul(2)
        .map(|c| c.max(args.capacity))
        .filter(|&c| c <= MAX_REGION)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: the first {} events hold up to {} live at once, so the region would need {}; a simulated region holds at most {} (its bytes are in memory): replay fewer events with --events",
                    path.display(),
                    trace.events.len(),
                    fmt_bytes(st.peak_live_bytes),
                    st.peak_live_bytes
                        .checked_mul(2)
                        .map_or_else(|| "more than 16 EiB".to_owned(), fmt_bytes),
                    fmt_bytes(MAX_REGION)
                ),
            )
        })?;
    let table = st
        .max_live_blocks
        .saturating_mul(2)
        .saturating_add(64)
        .max(TABLE);
    let mut d = Device::new(capacity, table, config)?;
    let mut ids: HashMap<u64, Handle> = HashMap::new();
    let mut failed = 0;
    for ev in &trace.events {
        match *ev {
            Event::Alloc { id, size, align } => match d.alloc_aligned(size.max(1), align) {
                Ok(h) => {
                    ids.insert(id, h);
                }
                Err(_) => failed += 1,
            },
            Event::Free { id } => {
                if let Some(h) = ids.remove(&id) {
                    d.free(h)?;
                }
            }
            Event::Realloc { id, size } => {
                if let Some(&h) = ids.get(&id)
                    && d.resize(h, size.max(1)).is_err()
                {
                    failed += 1;
                }
            }
        }
    }
    d.verify()?;
    let mut story = format!(
        "Replay {} events of {} into a {} region",
        trace.events.len(),
        trace.name,
        fmt_bytes(capacity)
    );
    if failed > 0 {
        story.push_str(&format!(" ({failed} requests failed)"));
    }
    Ok((d, story))
}

/// Rebuilds the fragmented region and runs `relocate` on it: (moves,
/// bytes, largest free after).
fn compact_at_once(args: &DefragArgs, config: Config) -> io::Result<(usize, usize, usize)> {
    let (mut d, _) = fragment(args, config)?;
    let region = &mut d.region;
    let rep =
        d.m.relocate(|_, mv| region.copy_within(mv.from..mv.from + mv.len, mv.to))
            .map_err(io::Error::other)?;
    d.verify()?;
    Ok((rep.moved, rep.bytes_moved, rep.largest_free_after))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn defrag(extra: &[&str]) -> String {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: DefragArgs,
        }
        let mut argv = vec!["defrag"];
        argv.extend_from_slice(extra);
        let p = P::parse_from(argv);
        let mut out = Vec::new();
        run(&p.a, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_classic_defragment_fails_and_passes_succeed() {
        let out = defrag(&[]);
        assert!(out.contains("✗ alloc("), "{out}");
        assert!(out.contains("merging cannot close a hole"), "{out}");
        assert!(out.contains("pass 1:"), "{out}");
        assert!(out.contains(") = offset "), "{out}");
        assert!(out.contains("after every pass and at the end"), "{out}");
    }

    #[test]
    fn bad_options_are_refused() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: DefragArgs,
        }
        let p = P::parse_from(["defrag", "--min-block", "0"]);
        assert!(run(&p.a, Vec::new()).is_err());
        let p = P::parse_from(["defrag", "--max-moves", "0"]);
        assert!(run(&p.a, Vec::new()).is_err());
    }

    #[test]
    fn limits_that_let_no_block_move_stop_with_a_message() {
        // Blocks of 256 B to 4 KiB; every byte limit below the smallest
        // block plans empty passes that never converge.
        for max_bytes in ["0", "100", "255", "1000"] {
            let out = defrag(&["--max-bytes", max_bytes]);
            assert!(
                out.contains("no progress is possible under these limits"),
                "--max-bytes {max_bytes}: {out}"
            );
        }
        let out = defrag(&["--max-bytes", "100"]);
        assert!(out.contains("is below the smallest live block"), "{out}");
    }

    #[test]
    fn capacity_takes_units_and_is_bounded() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: DefragArgs,
        }
        let p = P::parse_from(["defrag", "--capacity", "16K"]);
        assert_eq!(p.a.capacity, 16 << 10);
        for bad in ["0", "2G", "16T"] {
            assert!(
                P::try_parse_from(["defrag", "--capacity", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_trace_too_large_to_hold_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("sysarena-defrag-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in [
            ("max.trace", "a 1 18446744073709551615\n"),
            ("huge.trace", "a 1 99999999999\n"),
            (
                "two.trace",
                "a 1 18446744073709551615\na 2 18446744073709551615\n",
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            use clap::Parser;
            #[derive(clap::Parser)]
            struct P {
                #[command(flatten)]
                a: DefragArgs,
            }
            let p = P::parse_from(["defrag", "--trace", path.to_str().unwrap()]);
            let e = run(&p.a, Vec::new()).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("--events"), "{name}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_real_trace_fragments_the_region() {
        let trace = concat!(env!("CARGO_MANIFEST_DIR"), "/../../traces/sqlite3.trace.gz");
        let out = defrag(&["--trace", trace, "--events", "3000", "--max-moves", "32"]);
        assert!(
            out.contains("Replay 3000 events of sqlite3.trace.gz"),
            "{out}"
        );
        assert!(out.contains("in use + free = "), "{out}");
    }

    #[test]
    fn the_svg_has_a_row_per_frame() {
        let dir = std::env::temp_dir().join(format!("sysarena-defrag-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.svg");
        let p = path.to_str().unwrap();
        defrag(&["--svg", p, "--max-moves", "16"]);
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("after the classic defragment"));
        assert!(svg.contains("after pass 1"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
