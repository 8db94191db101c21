//! Tests of the heap map, the table strip, colours, labels and units.

use super::*;

fn arena(offset: usize, size: usize, in_use: bool) -> ArenaInfo {
    ArenaInfo {
        offset,
        size,
        used: if in_use { size } else { 0 },
        in_use,
        cached: false,
        slot: 0,
    }
}

#[test]
fn a_one_byte_hole_in_a_large_region_keeps_a_cell() {
    let arenas = [
        arena(0, 1 << 20, true),
        arena(1 << 20, 1, false),
        arena((1 << 20) + 1, 1 << 20, true),
    ];
    let map = HeapMap::new(&arenas, (2 << 20) + 1, 40, |a| Some(a.offset));
    assert_eq!(map.cells.len(), 40);
    assert_eq!(
        map.cells
            .iter()
            .filter(|c| c.kind == CellKind::LargestFree)
            .count(),
        1
    );
    assert!(map.distorted);
    assert!(map.scale_note().contains("no hole vanishes"));
}

#[test]
fn proportional_when_it_can_be() {
    let arenas = [arena(0, 256, true), arena(256, 768, false)];
    let map = HeapMap::new(&arenas, 1024, 16, |_| Some(0));
    let used = map
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Used)
        .count();
    assert_eq!(used, 4);
    assert!(!map.distorted);
}

#[test]
fn bucketed_keeps_every_hole_visible() {
    // 1000 used arenas of 100 bytes with a 1-byte hole after every 100th.
    let mut arenas = Vec::new();
    let mut off = 0;
    for i in 0..1000 {
        arenas.push(arena(off, 100, true));
        off += 100;
        if i % 100 == 99 {
            arenas.push(arena(off, 1, false));
            off += 1;
        }
    }
    let map = HeapMap::fit(&arenas, off, 50, |a| Some(a.offset));
    assert_eq!(map.cells.len(), 50);
    assert_eq!(map.bucketed, Some(arenas.len()));
    let holes = map
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Holes)
        .count();
    assert_eq!(holes, 10);
    assert!(map.scale_note().contains("holes"));
    let rle = map.run_length();
    assert!(rle.len() < 200, "{rle}");
}

#[test]
fn run_length_round_trips_lengths() {
    let arenas = [arena(0, 256, true), arena(256, 768, false)];
    let map = HeapMap::new(&arenas, 1024, 16, |_| Some(0));
    assert_eq!(map.run_length(), "A4=12");
}

#[test]
fn table_strip_counts_spares() {
    let entries = [
        sysarena::TableEntry {
            slot: 0,
            arena: Some(arena(0, 10, true)),
        },
        sysarena::TableEntry {
            slot: 1,
            arena: Some(arena(10, 10, false)),
        },
        sysarena::TableEntry {
            slot: 2,
            arena: None,
        },
    ];
    let strip = TableStrip::new(&entries, 3, 10, |_| Some(0));
    assert_eq!(strip.render_plain(|_| 'A'), "A·_");
    assert_eq!(strip.spare, 1);
    assert!(strip.note().contains("1 spare"));
    assert!(!strip.note().contains("the first"));
    // The same three descriptors drawn from a table of 65,536: the note
    // says the table's size, not the number drawn.
    let strip = TableStrip::new(&entries, 65_536, 10, |_| Some(0));
    assert_eq!(strip.spare, 65_534);
    assert!(
        strip.note().starts_with("arena table of 65536 descriptors: 2 describe arenas, 65534 spare; the strip shows the first 3"),
        "{}",
        strip.note()
    );
}

/// Splits ANSI output into (SGR parameters in force, character) pairs.
fn styled_chars(s: &str) -> Vec<(String, char)> {
    let mut out = Vec::new();
    let mut sgr = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            let _ = it.next(); // '['
            let mut params = String::new();
            for c in it.by_ref() {
                if c == 'm' {
                    break;
                }
                params.push(c);
            }
            if params == "0" || params.is_empty() {
                sgr.clear();
            } else {
                if !sgr.is_empty() {
                    sgr.push(';');
                }
                sgr.push_str(&params);
            }
        } else {
            out.push((sgr.clone(), c));
        }
    }
    out
}

#[test]
fn colour_maps_paint_a_block_in_its_own_colour() {
    let arenas = [
        arena(0, 256, true),
        arena(256, 256, true),
        arena(512, 512, false),
    ];
    let map = HeapMap::new(&arenas, 1024, 16, |a| Some(a.offset / 256));
    let line = map.render_line(label);
    let cells = styled_chars(&line);
    assert_eq!(
        cells.iter().map(|&(_, c)| c).collect::<String>(),
        map.render_plain(label)
    );
    for (i, (sgr, ch)) in cells.iter().enumerate() {
        let params: Vec<&str> = sgr.split(';').collect();
        match ch {
            // A block's body: its own colour in the foreground (cyan 36
            // for key 0, yellow 33 for key 1), never black (30).
            '█' => {
                let want = if i < 4 { "36" } else { "33" };
                assert!(params.contains(&want), "cell {i}: {sgr:?}");
                assert!(!params.contains(&"30"), "cell {i} black: {sgr:?}");
            }
            // The label: black on the block's colour (background 46/43).
            'A' => assert!(params.contains(&"46") && params.contains(&"30"), "{sgr:?}"),
            'B' => assert!(params.contains(&"43") && params.contains(&"30"), "{sgr:?}"),
            _ => {}
        }
    }
    assert_eq!(cells.iter().filter(|&&(_, c)| c == '█').count(), 6);
}

#[test]
fn sizes_have_units_to_exbibytes_and_cells_keep_a_fraction() {
    assert_eq!(fmt_bytes(1536), "1.5 KiB");
    assert_eq!(fmt_bytes(1 << 50), "1.0 PiB");
    assert_eq!(fmt_bytes(1 << 62), "4.0 EiB");
    assert_eq!(fmt_bytes(usize::MAX), "16.0 EiB");
    let map = HeapMap::new(&[arena(0, 16, false)], 16, 64, |_| None);
    assert_eq!(map.scale_note(), "1 cell ≈ 0.25 B");
    assert_eq!(count(1, "free arena"), "1 free arena");
    assert_eq!(count(3, "free arena"), "3 free arenas");
}

#[test]
fn an_empty_region_draws_an_empty_map() {
    let map = HeapMap::new(&[], 0, 64, |_| None);
    assert!(map.cells.is_empty());
    assert_eq!(map.scale_note(), "an empty region: no cells");
    let map = HeapMap::fit(&[], 0, 64, |_| None);
    assert!(map.scale_note().contains("empty"));
}

#[test]
fn labels_go_past_z_and_say_when_they_repeat() {
    assert_eq!(label(0), 'A');
    assert_eq!(label(25), 'Z');
    assert_eq!(label(26), 'a');
    assert_eq!(label(51), 'z');
    assert_eq!(label(52), 'A');
    assert!(!labels_repeat(0..52));
    assert!(labels_repeat([0, 52]));
}

#[test]
fn slack_is_drawn_inside_the_arena() {
    let mut a = arena(0, 512, true);
    a.used = 256;
    let map = HeapMap::new(&[a, arena(512, 512, false)], 1024, 8, |_| Some(1));
    let kinds: Vec<_> = map.cells.iter().map(|c| c.kind).collect();
    assert_eq!(
        &kinds[..4],
        &[
            CellKind::Used,
            CellKind::Used,
            CellKind::Slack,
            CellKind::Slack
        ]
    );
}

#[test]
fn neighbours_of_the_same_colour_are_separated_in_svg() {
    // Keys 0 and 12 share a colour; 300 arenas make the cells narrow.
    let mut arenas = vec![arena(0, 10, true), arena(10, 10, true)];
    for i in 2..300 {
        arenas.push(arena(i * 10, 10, i % 2 == 0));
    }
    let keys = |a: &ArenaInfo| {
        Some(match a.offset {
            0 => 0,
            10 => 12,
            o => o / 10 * 2 + 1,
        })
    };
    let map = HeapMap::new(&arenas, 3000, 300, keys);
    let svg = map.svg_rects(0.0, 0.0, 300.0, 10.0);
    // The edge at the start of the second block (x = 1.0).
    assert!(
        svg.contains(r##"<rect x="1.0" y="0.0" width="0.8" height="10.0" fill="#ffffff"/>"##),
        "{}",
        &svg[..400]
    );
}

/// A cached arena: freed, waiting in a quick list.
fn cached(offset: usize, size: usize) -> ArenaInfo {
    ArenaInfo {
        cached: true,
        ..arena(offset, size, false)
    }
}

/// 16 bytes in use, 16 cached, 32 free, in 8 cells of 8 bytes.
fn with_cached() -> HeapMap {
    let arenas = [arena(0, 16, true), cached(16, 16), arena(32, 32, false)];
    HeapMap::new(&arenas, 64, 8, |a| (a.in_use).then_some(0))
}

#[test]
fn a_cached_arena_has_its_own_cells_in_plain_text() {
    let map = with_cached();
    let kinds: Vec<_> = map.cells.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            CellKind::Used,
            CellKind::Used,
            CellKind::Cached,
            CellKind::Cached,
            CellKind::LargestFree,
            CellKind::LargestFree,
            CellKind::LargestFree,
            CellKind::LargestFree
        ]
    );
    assert_eq!(map.render_plain(label), "A█○∘▏===");
    assert_eq!(map.run_length(), "A2~2=4");
    assert!(map.has_cached());
    assert!(!HeapMap::new(&[arena(0, 64, false)], 64, 8, |_| None).has_cached());
}

#[test]
fn a_cached_arena_is_never_the_largest_free_one() {
    // The cached arena is the biggest free one, yet the highlight goes to
    // the free arena, as `Stats::largest_free` counts it.
    let arenas = [cached(0, 48), arena(48, 16, false)];
    let map = HeapMap::new(&arenas, 64, 4, |_| None);
    assert_eq!(map.render_plain(label), "○∘∘▏");
    assert_eq!(map.run_length(), "~3=");
    // With only cached arenas free, nothing is the largest.
    let map = HeapMap::new(&[cached(0, 64)], 64, 2, |_| None);
    assert_eq!(map.run_length(), "~2");
}

#[test]
fn a_cached_arena_is_bright_blue_in_the_terminal() {
    let map = with_cached();
    let line = map.render_line(label);
    let blue = Style::new().fg_color(Some(Color::Ansi(AnsiColor::BrightBlue)));
    assert!(
        line.contains(&format!("{blue}○{blue:#}{blue}∘{blue:#}")),
        "{line:?}"
    );
}

#[test]
fn a_cached_arena_is_grey_blue_in_svg_with_a_free_edge() {
    let map = with_cached();
    let svg = map.svg_rects(0.0, 0.0, 80.0, 10.0);
    assert_eq!(
        svg,
        concat!(
            r##"<rect x="0.0" y="0.0" width="20.0" height="10.0" fill="#4e79a7"/>"##,
            r##"<text x="2.0" y="6.8" font-size="5" fill="#ffffff">A</text>"##,
            r##"<rect x="20.0" y="0.0" width="20.0" height="10.0" fill="#9fa8bd"/>"##,
            r##"<rect x="20.0" y="0.0" width="0.8" height="10.0" fill="#9a9a9a"/>"##,
            r##"<rect x="40.0" y="0.0" width="40.0" height="10.0" fill="#8fd18f"/>"##,
            r##"<rect x="40.0" y="0.0" width="0.8" height="10.0" fill="#9a9a9a"/>"##,
        )
    );
    assert_eq!(
        cell_fill(&Cell {
            kind: CellKind::Cached,
            key: None,
            first: true
        }),
        CACHED_RGB
    );
}

#[test]
fn a_bucketed_cell_mostly_cached_is_cached() {
    // Four cells of 16 bytes: used | cached | half cached, half free |
    // the largest free arena.
    let arenas = [
        arena(0, 16, true),
        cached(16, 16),
        cached(32, 8),
        arena(40, 8, false),
        arena(48, 16, false),
    ];
    let map = HeapMap::bucketed(&arenas, 64, 4, |_| Some(0));
    let kinds: Vec<_> = map.cells.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            CellKind::Used,
            CellKind::Cached,
            CellKind::Free,
            CellKind::LargestFree
        ]
    );
    assert_eq!(map.run_length(), "A~.=");
    // A bucketed map marks no arena's start in free cells.
    assert_eq!(map.render_plain(label), "A∘·=");
}

#[test]
fn the_legend_names_cached_arenas_only_when_asked() {
    assert!(!HeapMap::legend().contains('○'));
    assert!(!HeapMap::legend_bucketed().contains('○'));
    assert_eq!(
        HeapMap::legend_cached(),
        "○∘ a cached arena: freed, waiting whole in a quick list for the next request of its size (it merges with free neighbours only when the lists are flushed)"
    );
}

#[test]
fn the_table_strip_marks_cached_descriptors() {
    let entries = [
        sysarena::TableEntry {
            slot: 0,
            arena: Some(arena(0, 16, true)),
        },
        sysarena::TableEntry {
            slot: 1,
            arena: Some(cached(16, 16)),
        },
        sysarena::TableEntry {
            slot: 2,
            arena: Some(arena(32, 32, false)),
        },
        sysarena::TableEntry {
            slot: 3,
            arena: None,
        },
    ];
    let strip = TableStrip::new(&entries, 4, 8, |_| Some(0));
    assert_eq!(
        strip.cells,
        [
            SlotKind::Used(Some(0)),
            SlotKind::Cached,
            SlotKind::Free,
            SlotKind::Spare
        ]
    );
    assert_eq!(strip.render_plain(label), "A○·_");
    assert_eq!(strip.run_length(), "A~._");
    assert!(strip.has_cached());
    assert_eq!(
        strip.key_note(),
        "(letter: in-use arena, ·: free arena, ○: cached arena, _: spare)"
    );
    let svg = strip.svg_rects(0.0, 0.0, 40.0, 10.0);
    assert!(
        svg.contains(r##"<rect x="10.0" y="0.0" width="10.0" height="10.0" fill="#9fa8bd" stroke="#999" stroke-width="0.3"/>"##),
        "{svg}"
    );
    // Without a cached arena the note is the one every model printed.
    let plain = TableStrip::new(&entries[..1], 1, 8, |_| Some(0));
    assert_eq!(
        plain.key_note(),
        "(letter: in-use arena, ·: free arena, _: spare)"
    );
    // Two cached and one free descriptor in one cell: cached.
    let wide = TableStrip::new(
        &[entries[1], entries[1], entries[2], entries[0]],
        4,
        2,
        |_| Some(0),
    );
    assert_eq!(wide.render_plain(label), "○A");
}

#[test]
fn the_cached_note_follows_the_free_arenas_only_when_some_are_cached() {
    let mut st = sysarena::Stats {
        free_bytes: 640,
        free_arenas: 5,
        ..Default::default()
    };
    assert_eq!(cached_note(&st), "");
    st.cached_bytes = 112;
    st.cached_arenas = 1;
    assert_eq!(cached_note(&st), " (112 B cached in 1)");
}
