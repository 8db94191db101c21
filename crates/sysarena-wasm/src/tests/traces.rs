//! Traces in the page: every format read, garbage refused, a long trace
//! scrubbed.

use super::*;

#[test]
fn traces_load_in_every_format_and_garbage_is_refused() {
    let mut s = session(4096, 64);
    let n = s
        .load_trace(
            "t.trace",
            b"# native\na 1 64\na 2 100 16\nf 1\nr 2 300\n",
            None,
        )
        .unwrap();
    assert_eq!(n, 4);
    run_script(&mut s, "next; next 2").unwrap();
    assert_eq!(s.manager().stats().used_arenas, 1);
    run_script(&mut s, "goto 4").unwrap();
    assert_eq!(s.manager().stats().requested_bytes, 300);
    // A typed operation in the middle of a trace goes between its events:
    // the rest of the trace stays, and goto keeps both.
    run_script(&mut s, "goto 1; alloc 10").unwrap();
    assert_eq!((s.pos(), s.len()), (2, 5));
    run_script(&mut s, "goto 3").unwrap();
    assert_eq!((s.pos(), s.len()), (3, 5));
    assert_eq!(s.history()[1], Op::Alloc { size: 10, align: 1 });

    let lab = b"20000\n2\n4\n1\na 0 512\na 1 128\nf 0\nf 1\n";
    assert_eq!(s.load_trace("short.rep", lab, None).unwrap(), 4);
    assert_eq!(s.load_trace("ostep.txt", b"+10 +20 -0\n", None).unwrap(), 3);

    let before = (s.len(), s.pos(), s.trace().map(|t| t.name.clone()));
    for (name, bad) in [
        ("garbage.trace", &b"hello world\n"[..]),
        ("dup.trace", b"a 1 10\na 1 10\n"),
        ("stale.trace", b"f 9\n"),
        ("empty.trace", b"# nothing\n"),
        ("trunc.trace.gz", &[0x1f, 0x8b, 8, 0, 0, 0][..]),
        ("binary.trace", &[0xff, 0xfe, 0, 1, 2][..]),
    ] {
        let e = s.load_trace(name, bad, None).unwrap_err();
        assert!(!e.is_empty());
        assert_eq!(
            (s.len(), s.pos(), s.trace().map(|t| t.name.clone())),
            before,
            "{name}"
        );
    }
}

#[test]
fn the_perl_trace_scrubs() {
    let bytes = include_bytes!("../../../../traces/perl-wordfreq.trace.gz");
    let mut s = Session::new(Settings {
        capacity: 16 << 20,
        descriptors: 1 << 16,
        ..Settings::default()
    })
    .unwrap();
    let n = s
        .load_trace("perl-wordfreq.trace.gz", bytes, Some(5000))
        .unwrap();
    assert_eq!(n, 5000);
    s.seek(5000);
    let at_end = snapshot(&s);
    s.seek(2500);
    s.seek(5000);
    assert_eq!(snapshot(&s), at_end);
    let v = serde_json::to_value(view::view(&s, 100, 256, 64, 64)).unwrap();
    assert_eq!(v["buckets"].as_array().map(Vec::len), Some(256));
    assert!(v["arenas"].is_null());
}
