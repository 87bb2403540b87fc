//! Writing the exposition format: the inverse of the parser, used by the simulator, by the
//! property tests (render → parse round trip) and by anything that serves `/metrics`.

use std::fmt::Write;

/// Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escapes HELP text: `\` → `\\`, newline → `\n`.
pub fn escape_help(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes a value so that parsing it gives the same f64 back: `NaN`, `+Inf`, `-Inf`, or the
/// shortest decimal that round-trips.
pub fn render_value(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Writes one sample line, newline included.
pub fn render_sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: f64,
    timestamp_ms: Option<i64>,
) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(v, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    render_value(value, out);
    if let Some(ts) = timestamp_ms {
        let _ = write!(out, " {ts}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escapes_and_special_values() {
        let mut out = String::new();
        render_sample(&mut out, "x", &[("a", "q\"\\\n")], f64::NEG_INFINITY, Some(-5));
        assert_eq!(out, "x{a=\"q\\\"\\\\\\n\"} -Inf -5\n");
    }
}
