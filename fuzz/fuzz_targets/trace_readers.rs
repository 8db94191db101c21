//! Arbitrary bytes into every trace reader of `sysarena-sim`: the native
//! format (plain and gzip), CS:APP malloc-lab `.rep` and OSTEP op lists,
//! each with and without an event limit, and the format sniffing of
//! `Trace::from_path` (and a byte-order mark in front, which must change
//! nothing). No input may panic: malformed input is a typed
//! `TraceError`. What a reader accepts must be a valid trace (`validate`),
//! its `stats` must be computable, and it must survive a round trip through
//! the native writer and reader unchanged.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use sysarena_sim::trace::{Trace, TraceFormat, read_native_bytes};

fn check_accepted(trace: &Trace) {
    trace
        .validate()
        .expect("a reader accepted an invalid trace");
    let stats = trace.stats();
    assert_eq!(stats.events, trace.events.len());
    assert_eq!(stats.allocs + stats.frees + stats.reallocs, stats.events);
    let text = trace.to_native_string();
    let again = Trace::parse_native("round-trip", &text).expect("the writer's output reads back");
    assert_eq!(
        again.events, trace.events,
        "native round trip changed the events"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, data)) = input.split_first() else {
        return;
    };
    let max_events = (flags & 0x08 != 0).then_some(usize::from(flags >> 4));
    let mut results = Vec::new();
    for format in TraceFormat::ALL {
        let r = Trace::read("fuzz", data, format, max_events);
        if let Ok(trace) = &r {
            check_accepted(trace);
            if let Some(max) = max_events {
                assert!(trace.events.len() <= max);
            }
        }
        results.push(r);
    }
    // The convenience reader is the native reader.
    let native = read_native_bytes("fuzz", data);
    match max_events {
        None => assert_eq!(native.is_ok(), results[0].is_ok()),
        // Every prefix of a valid trace is valid.
        Some(_) => assert!(native.is_err() || results[0].is_ok()),
    }
    if let Ok(trace) = &native {
        check_accepted(trace);
    }
    // Gzip is detected by its magic bytes and decodes to the same trace.
    if flags & 0x01 != 0 && !data.starts_with(&[0x1f, 0x8b]) {
        let gz = gzip(data);
        for (format, plain) in TraceFormat::ALL.into_iter().zip(&results) {
            let r = Trace::read("fuzz", &gz[..], format, max_events);
            match (&r, plain) {
                (Ok(a), Ok(b)) => assert_eq!(a.events, b.events, "{format}: gzip differs"),
                (Err(_), Err(_)) => {}
                _ => panic!("{format}: gzip and plain disagree: {r:?} vs {plain:?}"),
            }
        }
    }
    // A UTF-8 byte-order mark in front changes nothing (editors add one).
    if flags & 0x01 == 0
        && !data.starts_with(&[0x1f, 0x8b])
        && !data.starts_with("\u{feff}".as_bytes())
    {
        let mut bom = "\u{feff}".as_bytes().to_vec();
        bom.extend_from_slice(data);
        for (format, plain) in TraceFormat::ALL.into_iter().zip(&results) {
            let r = Trace::read("fuzz", &bom[..], format, max_events);
            match (&r, plain) {
                (Ok(a), Ok(b)) => assert_eq!(a.events, b.events, "{format}: a BOM changed it"),
                (Err(_), Err(_)) => {}
                _ => panic!("{format}: a BOM changed the verdict: {r:?} vs {plain:?}"),
            }
        }
    }
    // A truncated gzip stream is an error, not a panic, and never half a
    // trace read as the whole (a reader may stop early only when told to
    // read at most `max_events`).
    if flags & 0x02 != 0 {
        let gz = gzip(data);
        let cut = &gz[..gz.len() / 2];
        for format in TraceFormat::ALL {
            let r = Trace::read("fuzz", cut, format, max_events);
            if let Ok(trace) = &r {
                check_accepted(trace);
            }
            if max_events.is_none() {
                assert!(
                    r.is_err(),
                    "{format}: a truncated gzip stream was read: {r:?}"
                );
            }
        }
    }
    // Format guessing by name and content.
    if flags & 0x04 != 0 {
        let dir = std::env::temp_dir().join(format!("sysarena-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["t.trace", "t.rep"] {
            let path = dir.join(name);
            std::fs::write(&path, data).unwrap();
            if let Ok(trace) = Trace::from_path(&path, None, max_events) {
                check_accepted(&trace);
            }
        }
    }
});
