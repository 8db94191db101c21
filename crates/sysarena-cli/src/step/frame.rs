//! What `sysarena step` shows: the plain-text frame (heading, log, heap map,
//! arena-table strip, arena table, free list, stats) and the driver loop
//! that reads command lines from a front end and shows a frame after each.

use super::*;

/// The plain-text frame: heading, log, heap map, arena table strip, arena
/// table, free list, stats.
pub(super) fn frame_text(st: &State, m: &SliceManager<'_>, width: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "── {} · {} · {} coalescing ──",
        st.step_label(),
        st.config.policy.name(),
        st.config.coalescing.name()
    );
    if !st.title.is_empty() {
        let _ = writeln!(s, "> {}", st.title);
    }
    for l in &st.log {
        let _ = writeln!(s, "  {l}");
    }
    let arenas: Vec<ArenaInfo> = m.arenas().collect();
    let key = |a: &ArenaInfo| st.names.get(&a.offset).map(|t| t.key);
    let map = if arenas.len() <= width {
        HeapMap::new(&arenas, m.capacity(), width, key)
    } else {
        HeapMap::bucketed(&arenas, m.capacity(), width, key)
    };
    let _ = writeln!(s, "heap  |{}|", map.render_plain(label));
    let _ = writeln!(s, "      {}", map.scale_note());
    if labels_repeat(st.names.values().map(|t| t.key)) {
        let _ = writeln!(s, "      {LABEL_NOTE}");
    }
    if map.bucketed.is_some() {
        let _ = writeln!(s, "      {}", HeapMap::legend_bucketed());
    }
    if map.has_cached() {
        let _ = writeln!(s, "      {}", HeapMap::legend_cached());
    }
    let entries = table_entries(m);
    let strip = TableStrip::new(&entries, m.stats().descriptors, width, key);
    let _ = writeln!(s, "table |{}|", strip.render_plain(label));
    let _ = writeln!(s, "      {} {}", strip.note(), strip.key_note());
    let _ = writeln!(s, "  slot   offset     size     used  state");
    let total = m.stats().descriptors;
    let mut i = 0;
    let mut rows = 0;
    while i < entries.len() && rows < 12 {
        let e = entries[i];
        match e.arena {
            Some(a) => {
                let state = if a.in_use {
                    match st.names.get(&a.offset) {
                        Some(&t) => format!("in use  {}", st.tag_name(t)),
                        None => "in use".to_owned(),
                    }
                } else {
                    arena_state(&a).to_owned()
                };
                let _ = writeln!(
                    s,
                    "  {:>4} {:>8} {:>8} {:>8}  {state}",
                    e.slot, a.offset, a.size, a.used
                );
                i += 1;
            }
            None => {
                // A run of spares is one line; the table's tail is all spare.
                let mut j = i;
                while j < entries.len() && entries[j].arena.is_none() {
                    j += 1;
                }
                let end = if j == entries.len() { total } else { j };
                if end - i == 1 {
                    let _ = writeln!(s, "  {:>4} {:>8} {:>8} {:>8}  spare", e.slot, "-", "-", "-");
                } else {
                    let _ = writeln!(
                        s,
                        "  {:>4} {:>8} {:>8} {:>8}  spare ×{} (slots {}–{})",
                        e.slot,
                        "-",
                        "-",
                        "-",
                        end - i,
                        i,
                        end - 1
                    );
                }
                i = j;
            }
        }
        rows += 1;
    }
    if i < entries.len() {
        let _ = writeln!(s, "  … {} more descriptors", total - i);
    }
    let free: Vec<ArenaInfo> = arenas.iter().filter(|a| !a.in_use).copied().collect();
    let largest = largest_free(&free);
    let mut fl = String::new();
    for a in free.iter().take(10) {
        let mark = free_mark(a, largest);
        let _ = write!(fl, " [{}+{}]{mark}", a.offset, a.size);
    }
    if free.len() > 10 {
        let _ = write!(fl, " … {} more", free.len() - 10);
    }
    let cached = if free.iter().any(|a| a.cached) {
        ", ○ cached"
    } else {
        ""
    };
    let _ = writeln!(s, "free list (address order, * largest{cached}):{fl}");
    let _ = writeln!(s, "{}", stats_line(m));
    s
}

/// The state column of a free arena's row: `free`, or `cached` for one
/// waiting in a quick list.
pub(super) fn arena_state(a: &ArenaInfo) -> &'static str {
    if a.cached {
        "cached (quick list)"
    } else {
        "free"
    }
}

/// The size of the largest free arena among `free` (cached ones never
/// count, as in [`sysarena::Stats::largest_free`]); 0 when there is none.
pub(super) fn largest_free(free: &[ArenaInfo]) -> usize {
    free.iter()
        .filter(|a| !a.cached)
        .map(|a| a.size)
        .max()
        .unwrap_or(0)
}

/// The mark after a free arena in the free list: `*` the largest, `○`
/// cached.
pub(super) fn free_mark(a: &ArenaInfo, largest: usize) -> &'static str {
    if a.cached {
        "○"
    } else if a.size == largest {
        "*"
    } else {
        ""
    }
}

/// The stats line under every frame; `(… cached in N)` follows the free
/// arenas when the quick lists hold some.
pub(super) fn stats_line(m: &SliceManager<'_>) -> String {
    let st = m.stats();
    format!(
        "stats: in use {} (requested {}, slack {}) in {} · free {} in {}{}, largest {} · external fragmentation {:.0}% · descriptors {} used, {} spare of {}",
        fmt_bytes(st.in_use_bytes),
        fmt_bytes(st.requested_bytes),
        fmt_bytes(st.internal_fragmentation()),
        crate::heapmap::count(st.used_arenas, "arena"),
        fmt_bytes(st.free_bytes),
        crate::heapmap::count(st.free_arenas, "arena"),
        crate::heapmap::cached_note(&st),
        fmt_bytes(st.largest_free),
        st.fragmentation() * 100.0,
        st.descriptors - st.spare_descriptors,
        st.spare_descriptors,
        st.descriptors
    )
}

/// The table, capped for huge tables (the spare tail is uniform).
pub(super) fn table_entries(m: &SliceManager<'_>) -> Vec<TableEntry> {
    let s = m.stats();
    let used = s.descriptors - s.spare_descriptors;
    let shown = (used * 2).max(16).min(s.descriptors);
    m.table().take(shown).collect()
}

/// Where the command lines come from and where frames go.
pub(super) trait Frontend {
    fn show(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<()>;
    fn next_line(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<Option<String>>;
}

pub(super) struct Plain<W: Write> {
    pub(super) out: W,
    pub(super) lines: Box<dyn Iterator<Item = io::Result<String>>>,
    pub(super) width: usize,
}

impl<W: Write> Frontend for Plain<W> {
    fn show(&mut self, st: &State, m: &SliceManager<'_>) -> io::Result<()> {
        writeln!(self.out, "{}", frame_text(st, m, self.width))
    }

    fn next_line(&mut self, _: &State, _: &SliceManager<'_>) -> io::Result<Option<String>> {
        loop {
            match self.lines.next() {
                None => return Ok(None),
                Some(l) => {
                    let l = l?;
                    let t = l.trim();
                    if t.is_empty() || t.starts_with('#') {
                        continue;
                    }
                    return Ok(Some(l));
                }
            }
        }
    }
}

pub(super) fn drive(table: &mut [Slot], st: &mut State, fe: &mut dyn Frontend) -> io::Result<()> {
    let mut m = st.fresh(&mut *table);
    fe.show(st, &m)?;
    while let Some(line) = fe.next_line(st, &m)? {
        match st.exec(&mut m, &line) {
            Flow::Continue => {}
            Flow::Rebuild => {
                let log = std::mem::take(&mut st.log);
                m = st.fresh(&mut *table);
                st.replay(&mut m);
                st.log = log;
            }
            Flow::Quit => break,
        }
        fe.show(st, &m)?;
    }
    Ok(())
}
