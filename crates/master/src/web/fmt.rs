//! Number, time and URL formatting for the pages; a missing figure is an em dash.

use atlhyper_model::Timestamp;

pub const NONE: &str = "—";

/// `99.95%`, with more digits near 100.
pub fn pct(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => {
            if v.abs() >= 1000.0 {
                let sign = if v < 0.0 { "-" } else { "" };
                format!("{sign}{}%", count(v.abs().round() as u64))
            } else if (99.0..100.0).contains(&v) {
                format!("{v:.2}%")
            } else {
                format!("{v:.1}%")
            }
        }
        _ => NONE.to_owned(),
    }
}

/// Milliseconds: `0.8 ms`, `12 ms`, `1.25 s`.
pub fn ms(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => {
            if v >= 1000.0 {
                format!("{:.2} s", v / 1000.0)
            } else if v >= 10.0 {
                format!("{v:.0} ms")
            } else {
                format!("{v:.1} ms")
            }
        }
        _ => NONE.to_owned(),
    }
}

/// Requests per second: `0.42`, `12.3`, `1.2k`.
pub fn rps(value: f64) -> String {
    if !value.is_finite() {
        NONE.to_owned()
    } else if value >= 1000.0 {
        format!("{:.1}k", value / 1000.0)
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A count: `12,345`.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes with binary units: `512 B`, `1.5 GiB`.
pub fn bytes(value: Option<f64>) -> String {
    let Some(mut v) = value.filter(|v| v.is_finite()) else {
        return NONE.to_owned();
    };
    if v.abs() < 0.5 {
        v = 0.0;
    }
    for unit in ["B", "KiB", "MiB", "GiB", "TiB"] {
        if v.abs() < 1024.0 || unit == "TiB" {
            return if unit == "B" {
                format!("{v:.0} {unit}")
            } else {
                format!("{v:.1} {unit}")
            };
        }
        v /= 1024.0;
    }
    NONE.to_owned()
}

pub fn num(value: Option<f64>, digits: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.digits$}"),
        _ => NONE.to_owned(),
    }
}

/// `2025-11-24 16:00:00 UTC`.
pub fn time(at: Timestamp) -> String {
    let text = at.to_string();
    let text = text.replacen('T', " ", 1);
    let text = text.trim_end_matches('Z');
    let text = text.split('.').next().unwrap_or(text);
    format!("{text} UTC")
}

/// `3d 4h`, `5h 2m`, `42s`.
pub fn duration_s(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return NONE.to_owned();
    }
    let s = seconds as u64;
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from pairs, each value encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v).replace('/', "%2F")))
        .collect::<Vec<_>>()
        .join("&")
}

/// JSON for a `<script type="application/json">` block: `<` escaped so `</script>` cannot end it.
pub fn script_json(value: &serde_json::Value) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "{}".to_owned())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

pub fn clean(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or_default().to_owned()
}

pub fn some(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        assert_eq!(pct(Some(99.953)), "99.95%");
        assert_eq!(pct(Some(100.0)), "100.0%");
        assert_eq!(pct(None), NONE);
        assert_eq!(pct(Some(-5321.7)), "-5,322%");
        assert_eq!(bytes(Some(-0.0)), "0 B");
        assert_eq!(ms(Some(4.25)), "4.2 ms");
        assert_eq!(ms(Some(1250.0)), "1.25 s");
        assert_eq!(rps(1234.0), "1.2k");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(bytes(Some(1536.0)), "1.5 KiB");
        assert_eq!(duration_s(90_061.0), "1d 1h");
        assert_eq!(time(Timestamp(1_764_000_000_000)), "2025-11-24 16:00:00 UTC");
    }

    #[test]
    fn encoding() {
        assert_eq!(url_encode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
        assert_eq!(query(&[("source", "a/b"), ("x", "é")]), "source=a%2Fb&x=%C3%A9");
        let json = script_json(&serde_json::json!({"s": "</script><b>&"}));
        assert!(!json.contains("</") && !json.contains('&') && json.contains("\\u003c/script"));
    }
}
