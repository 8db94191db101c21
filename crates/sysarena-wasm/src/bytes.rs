//! Byte counts in words, as `sysarena step` prints them (a leaf: imports
//! nothing of this crate).

/// Formats bytes as `sysarena step` does: `900 B`, `1.5 KiB`.
pub fn fmt_bytes(n: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{} {}", v.round(), UNITS[0])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
