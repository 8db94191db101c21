//! Bytes and counts for people: `1.5 KiB`, `16.0 EiB`, `1 free arena`,
//! ` (112 B cached in 1)`.

/// `1536` → `1.5 KiB`.
pub fn fmt_bytes(n: usize) -> String {
    fmt_bytes_f(n as f64)
}

/// Bytes in the largest binary unit that keeps the number under 1024 (up to
/// EiB, which holds every `usize`); a fraction of a byte (a cell of a map
/// wider than its region) keeps two decimals, so nothing reads `0 B`.
pub(super) fn fmt_bytes_f(n: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 && v > 0.0 && v < 1.0 {
        format!("{v:.2} B")
    } else if u == 0 {
        format!("{} {}", v.round(), UNITS[0])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `n` and `noun`, plural unless `n` is 1: `1 free arena`, `2 free arenas`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// What a status line adds after its free bytes and arenas when some of
/// them are cached (the fast model's quick lists): ` (112 B cached in 1)`;
/// empty when none are, so the other models' lines stay as they were.
pub fn cached_note(st: &sysarena::Stats) -> String {
    if st.cached_arenas == 0 {
        String::new()
    } else {
        format!(
            " ({} cached in {})",
            fmt_bytes(st.cached_bytes),
            st.cached_arenas
        )
    }
}
