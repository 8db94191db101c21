//! The trace readers and writer.

use std::io::Write;

use sysarena_sim::trace::{Event, Trace, TraceError, TraceErrorKind, TraceFormat, TraceWriter};

fn native_err(text: &str) -> TraceError {
    Trace::parse_native("t.trace", text).expect_err("should be rejected")
}

fn assert_err(e: &TraceError, line: usize, ok: impl Fn(&TraceErrorKind) -> bool) {
    assert_eq!(e.file, "t.trace", "{e}");
    assert_eq!(e.line, line, "{e}");
    assert!(ok(&e.kind), "unexpected reason: {e}");
}

#[test]
fn native_parses_comments_blank_lines_and_default_align() {
    let t = Trace::parse_native(
        "t",
        "# a comment\n\na 1 100\n  a 2 7 64   # trailing\nr 1 300\nf 2\nf 1\n",
    )
    .unwrap();
    assert_eq!(
        t.events,
        vec![
            Event::Alloc {
                id: 1,
                size: 100,
                align: 16
            },
            Event::Alloc {
                id: 2,
                size: 7,
                align: 64
            },
            Event::Realloc { id: 1, size: 300 },
            Event::Free { id: 2 },
            Event::Free { id: 1 },
        ]
    );
}

#[test]
fn native_round_trips_through_the_writer() {
    let t = Trace::parse_native("t", "a 1 100 8\na 2 0 16\nr 2 5\nf 1\na 3 4096 4096\n").unwrap();
    let text = t.to_native_string();
    assert_eq!(text, "a 1 100 8\na 2 0 16\nr 2 5\nf 1\na 3 4096 4096\n");
    let back = Trace::parse_native("t", &text).unwrap();
    assert_eq!(back.events, t.events);

    // The streaming writer, with a comment, gzipped, read back by magic bytes.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut w = TraceWriter::new(&mut gz);
        w.comment("recorded\nby a test").unwrap();
        for e in &t.events {
            w.event(e).unwrap();
        }
        w.finish().unwrap();
    }
    let bytes = gz.finish().unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    let back = Trace::read_native("t.gz", &bytes[..], None).unwrap();
    assert_eq!(back.events, t.events);
}

#[test]
fn every_native_error_names_file_line_and_reason() {
    use TraceErrorKind as K;
    assert_err(
        &native_err("a 1 10\nx 2\n"),
        2,
        |k| matches!(k, K::UnknownOp(op) if op == "x"),
    );
    assert_err(&native_err("a\n"), 1, |k| {
        matches!(k, K::MissingField("id"))
    });
    assert_err(&native_err("a 1\n"), 1, |k| {
        matches!(k, K::MissingField("size"))
    });
    assert_err(&native_err("f\n"), 1, |k| {
        matches!(k, K::MissingField("id"))
    });
    assert_err(&native_err("a 1 10\nr 1\n"), 2, |k| {
        matches!(k, K::MissingField("size"))
    });
    assert_err(
        &native_err("a 1 10 8 9\n"),
        1,
        |k| matches!(k, K::ExtraField(f) if f == "9"),
    );
    assert_err(
        &native_err("a 1 ten\n"),
        1,
        |k| matches!(k, K::BadNumber { field: "size", text } if text == "ten"),
    );
    assert_err(&native_err("a -1 10\n"), 1, |k| {
        matches!(k, K::BadNumber { field: "id", .. })
    });
    assert_err(&native_err("a 1 99999999999999999999999\n"), 1, |k| {
        matches!(k, K::BadNumber { field: "size", .. })
    });
    assert_err(&native_err("a 1 10 24\n"), 1, |k| {
        matches!(k, K::BadAlign(24))
    });
    assert_err(&native_err("a 1 10 0\n"), 1, |k| {
        matches!(k, K::BadAlign(0))
    });
    assert_err(&native_err("a 1 10\na 1 10\n"), 2, |k| {
        matches!(k, K::IdReused(1))
    });
    assert_err(&native_err("a 1 10\nf 1\na 1 10\n"), 3, |k| {
        matches!(k, K::IdReused(1))
    });
    assert_err(&native_err("f 3\n"), 1, |k| matches!(k, K::UnknownFree(3)));
    assert_err(&native_err("a 1 10\nf 1\nf 1\n"), 3, |k| {
        matches!(k, K::UnknownFree(1))
    });
    assert_err(&native_err("# c\n\nr 5 10\n"), 3, |k| {
        matches!(k, K::UnknownRealloc(5))
    });
    let e = native_err("a 1 10\nf 9\n");
    assert_eq!(e.to_string(), "t.trace:2: free of unknown or dead block 9");
}

#[test]
fn corrupt_gzip_and_bad_utf8_are_errors_not_panics() {
    let mut bytes = Vec::new();
    {
        let mut gz = flate2::write::GzEncoder::new(&mut bytes, flate2::Compression::fast());
        for i in 1..2000 {
            writeln!(gz, "a {i} 16").unwrap();
        }
        gz.finish().unwrap();
    }
    let cut = &bytes[..bytes.len() / 2];
    let e = Trace::read_native("t.trace", cut, None).unwrap_err();
    assert!(matches!(e.kind, TraceErrorKind::Io(_)), "{e}");
    assert!(e.line > 0);
    let e = Trace::read_native("t.trace", &b"a 1 10\n\xff\xfe\n"[..], None).unwrap_err();
    assert_err(&e, 2, |k| matches!(k, TraceErrorKind::Io(_)));
}

#[test]
fn a_missing_file_is_an_error() {
    let e = Trace::from_path("/nonexistent/x.trace", None, None).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(matches!(e.kind, TraceErrorKind::Io(_)));
    // No line is to blame: `FILE: reason`, not `FILE:0: reason`.
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.trace: read error: "),
        "{e}"
    );
}

#[test]
fn a_byte_order_mark_is_not_content() {
    let t = Trace::parse_native("bom", "\u{feff}a 1 10\nf 1\n").unwrap();
    assert_eq!(t.events.len(), 2);
    // Only at the start of the file: anywhere else it is a bad operation.
    let e = Trace::parse_native("bom", "a 1 10\n\u{feff}f 1\n").unwrap_err();
    assert_eq!(e.line, 2);
}

const REP: &str = "\
20000
3
8
1
a 0 512
a 1 128
r 0 640
a 2 128
f 1
r 0 768
f 0
f 2
";

#[test]
fn malloc_lab_rep_reads_with_fresh_ids() {
    let t = Trace::read("short1.rep", REP.as_bytes(), TraceFormat::MallocLab, None).unwrap();
    assert_eq!(
        t.events,
        vec![
            Event::Alloc {
                id: 1,
                size: 512,
                align: 8
            },
            Event::Alloc {
                id: 2,
                size: 128,
                align: 8
            },
            Event::Realloc { id: 1, size: 640 },
            Event::Alloc {
                id: 3,
                size: 128,
                align: 8
            },
            Event::Free { id: 2 },
            Event::Realloc { id: 1, size: 768 },
            Event::Free { id: 1 },
            Event::Free { id: 3 },
        ]
    );
    t.validate().unwrap();
    // A lab id may be allocated again once freed.
    let again = "0\n1\n3\n1\na 0 8\nf 0\na 0 16\n";
    let t = Trace::read("r.rep", again.as_bytes(), TraceFormat::MallocLab, None).unwrap();
    assert_eq!(
        t.events[2],
        Event::Alloc {
            id: 2,
            size: 16,
            align: 8
        }
    );
}

#[test]
fn malloc_lab_errors() {
    use TraceErrorKind as K;
    let read = |s: &str| Trace::read("t.rep", s.as_bytes(), TraceFormat::MallocLab, None);
    let e = read("20000\n2\na 0 8\n").unwrap_err();
    assert!(matches!(e.kind, K::BadHeader(_)) && e.line == 3, "{e}");
    let e = read("1\n1\n1\n1\na 0 8\na 0 8\n").unwrap_err();
    assert!(matches!(e.kind, K::IdReused(0)) && e.line == 6, "{e}");
    let e = read("1\n1\n1\n1\nf 4\n").unwrap_err();
    assert!(matches!(e.kind, K::UnknownFree(4)) && e.line == 5, "{e}");
    let e = read("1\n1\n1\n1\nr 4 8\n").unwrap_err();
    assert!(matches!(e.kind, K::UnknownRealloc(4)) && e.line == 5, "{e}");
    let e = read("1\n1\n1\n1\nq 4 8\n").unwrap_err();
    assert!(matches!(e.kind, K::UnknownOp(_)) && e.line == 5, "{e}");
    let e = read("1\n1\n").unwrap_err();
    assert!(matches!(e.kind, K::BadHeader(_)), "{e}");
}

#[test]
fn ostep_op_lists() {
    let t = Trace::read(
        "ops",
        "+10,-0,+20\n+5, -2,-1".as_bytes(),
        TraceFormat::Ostep,
        None,
    )
    .unwrap();
    assert_eq!(
        t.events,
        vec![
            Event::Alloc {
                id: 1,
                size: 10,
                align: 1
            },
            Event::Free { id: 1 },
            Event::Alloc {
                id: 2,
                size: 20,
                align: 1
            },
            Event::Alloc {
                id: 3,
                size: 5,
                align: 1
            },
            Event::Free { id: 3 },
            Event::Free { id: 2 },
        ]
    );
    use TraceErrorKind as K;
    let read = |s: &str| Trace::read("ops", s.as_bytes(), TraceFormat::Ostep, None);
    let e = read("+10,-1").unwrap_err();
    assert!(matches!(e.kind, K::UnknownFree(1)) && e.line == 1, "{e}");
    let e = read("+10\n-0\n-0").unwrap_err();
    assert!(matches!(e.kind, K::UnknownFree(0)) && e.line == 3, "{e}");
    let e = read("+10,*3").unwrap_err();
    assert!(matches!(e.kind, K::UnknownOp(_)), "{e}");
    let e = read("+x").unwrap_err();
    assert!(matches!(e.kind, K::BadNumber { .. }), "{e}");
}

#[test]
fn from_path_sniffs_formats_and_gzip() {
    let dir = std::env::temp_dir().join(format!("sysarena-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rep = dir.join("short.rep");
    std::fs::write(&rep, REP).unwrap();
    assert_eq!(Trace::from_path(&rep, None, None).unwrap().events.len(), 8);
    let ops = dir.join("ops.txt");
    std::fs::write(&ops, "+10,-0\n").unwrap();
    assert_eq!(Trace::from_path(&ops, None, None).unwrap().events.len(), 2);
    // A malloc-lab file by its content, whatever its name; with a BOM.
    let lab = dir.join("short1.txt");
    std::fs::write(&lab, format!("\u{feff}{REP}")).unwrap();
    assert_eq!(Trace::from_path(&lab, None, None).unwrap().events.len(), 8);
    let native = dir.join("n.trace");
    std::fs::write(&native, "# hi\na 1 1\n").unwrap();
    let t = Trace::from_path(&native, None, None).unwrap();
    assert_eq!(t.name, "n.trace");
    assert_eq!(t.events.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recorded_trace_prefix_reads_and_counts() {
    let t = super::common::sqlite_20k();
    assert_eq!(t.events.len(), 20_000);
    assert_eq!(t.name, "sqlite3.trace.gz");
    let stats = t.stats();
    assert_eq!(stats.allocs + stats.frees + stats.reallocs, 20_000);
    assert!(stats.peak_live_bytes > 0);
}

/// The whole sqlite3 trace matches the figures in `traces/README.md`.
#[test]
fn full_sqlite3_trace_matches_its_readme() {
    let t = super::common::recorded("sqlite3.trace.gz", usize::MAX);
    let s = t.stats();
    assert_eq!(s.events, 1_146_883);
    assert_eq!((s.allocs, s.frees, s.reallocs), (573_413, 573_397, 73));
    assert_eq!(s.peak_live_bytes, 22_735_279);
    assert_eq!(s.max_live_blocks, 13_611);
    assert_eq!((s.live_blocks_at_end, s.live_bytes_at_end), (16, 13_033));
}

#[test]
fn stats_of_sizes_beyond_the_address_space_saturate() {
    // Found by the `trace_readers` fuzz target: the live-byte sum overflowed.
    let t = Trace::parse_native(
        "huge",
        "a 1 18446744073709551615\na 2 1\nr 2 18446744073709551615\nf 1\n",
    )
    .unwrap();
    let s = t.stats();
    assert_eq!(s.peak_live_bytes, usize::MAX);
    assert_eq!(s.live_bytes_at_end, usize::MAX);
    assert_eq!(s.live_blocks_at_end, 1);
}
