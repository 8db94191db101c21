//! Numbers for people: thousands separators, byte units, durations, and the
//! size parser behind `--capacity 64KiB`.

/// `1234567` → `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 arena`, `2,048 arenas`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// Bytes in the largest binary unit that keeps the number at least 1,
/// up to EiB (so that every `usize` reads well): `512 B`, `1.5 KiB`,
/// `16.0 EiB`.
pub fn bytes(n: usize) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Bytes, exact with separators, and in binary units when 1 KiB or more:
/// `22,735,279 (21.7 MiB)`.
pub fn bytes_exact(n: usize) -> String {
    if n < 1024 {
        format!("{} B", thousands(n))
    } else {
        format!("{} ({})", thousands(n), bytes(n))
    }
}

/// A duration in nanoseconds, in the largest unit that keeps it readable.
pub fn nanos(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// A fraction as a percentage: `0.4912` → `49.1%`.
pub fn percent(f: f64) -> String {
    format!("{:.1}%", f * 100.0)
}

/// Parses a byte count: a plain number (`_` and `,` allowed as separators)
/// with an optional binary unit, `K`/`KiB`/`KB` (all 1024), `M`, `G`, `T`,
/// `P`, `E`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '_' || c == ','))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: String = num.chars().filter(char::is_ascii_digit).collect();
    if num.is_empty() {
        return Err(format!("`{text}` is not a size (try 65536, 64KiB or 1M)"));
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        "e" | "eb" | "eib" => 60,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use K, M, G, T, P or E)"
            ));
        }
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a region size ([`parse_size`]): at least 1 byte.
pub fn parse_capacity(text: &str) -> Result<usize, String> {
    match parse_size(text)? {
        0 => Err(format!("`{text}`: a region holds at least 1 byte")),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(22_735_279), "22,735,279");
        assert_eq!(bytes_exact(512), "512 B");
        assert_eq!(bytes_exact(1536), "1,536 (1.5 KiB)");
    }

    #[test]
    fn every_size_has_a_unit_up_to_exbibytes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(128 << 20), "128.0 MiB");
        assert_eq!(bytes(1 << 50), "1.0 PiB");
        assert_eq!(bytes(usize::MAX), "16.0 EiB");
        assert_eq!(bytes(1 << 62), "4.0 EiB");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("128 MiB"), Ok(128 << 20));
        assert_eq!(parse_size("1_000"), Ok(1000));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("3 parsecs").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(nanos(42.4), "42 ns");
        assert_eq!(nanos(1500.0), "1.5 µs");
        assert_eq!(nanos(2.5e9), "2.50 s");
        assert_eq!(percent(0.4912), "49.1%");
    }
}
