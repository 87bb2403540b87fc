//! Writing the exposition format: the inverse of the parser, used by the simulator, by the
//! property tests and the fuzz target (render → parse round trip) and by anything that serves
//! `/metrics`.

use std::fmt::Write;

use crate::{Family, Sample, Scrape};

/// Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label_value(value: &str, out: &mut String) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
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
/// shortest decimal that round-trips, in exponent notation when it is very large or very small
/// (`1e300`, not three hundred digits).
pub fn render_value(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if value == 0.0 || (1e-5..1e16).contains(&value.abs()) {
        let _ = write!(out, "{value}");
    } else {
        let _ = write!(out, "{value:e}");
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

/// Writes the `# HELP`, `# TYPE` and `# UNIT` lines of a family, those it has.
pub fn render_family(out: &mut String, family: &Family<'_>) {
    if let Some(help) = &family.help {
        out.push_str("# HELP ");
        out.push_str(family.name);
        if !help.is_empty() {
            out.push(' ');
            escape_help(help, out);
        }
        out.push('\n');
    }
    if let Some(kind) = family.kind {
        let _ = writeln!(out, "# TYPE {} {}", family.name, kind.as_word());
    }
    if let Some(unit) = family.unit {
        let _ = writeln!(out, "# UNIT {} {unit}", family.name);
    }
}

/// Writes a parsed sample back, labels unescaped and escaped again, in their original order.
pub fn render_parsed_sample(out: &mut String, sample: &Sample<'_>) {
    let values: Vec<_> = sample.labels.iter().map(|l| (l.name, l.value())).collect();
    let labels: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_ref())).collect();
    render_sample(out, sample.name, &labels, sample.value, sample.timestamp_ms);
}

/// Writes a whole scrape in canonical form: the metadata of every family first, then every
/// sample. Parsing the result gives the same families and samples back (exemplars, comments
/// and blank lines, which the parser drops, are not written).
pub fn render_scrape(scrape: &Scrape<'_>) -> String {
    let mut out = String::with_capacity(scrape.samples.len() * 64);
    for family in &scrape.families {
        render_family(&mut out, family);
    }
    for sample in &scrape.samples {
        render_parsed_sample(&mut out, sample);
    }
    out
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

    #[test]
    fn values_are_short_and_round_trip() {
        let cases = [
            (12.0, "12"),
            (-0.0, "-0"),
            (0.1, "0.1"),
            (1.29772167e8, "129772167"),
            (1e300, "1e300"),
            (-2.5e-7, "-2.5e-7"),
            (f64::MAX, "1.7976931348623157e308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
        ];
        for (value, want) in cases {
            let mut out = String::new();
            render_value(value, &mut out);
            assert_eq!(out, want);
            if !value.is_nan() {
                assert_eq!(out.parse::<f64>().unwrap().to_bits(), value.to_bits(), "{out}");
            }
        }
    }

    #[test]
    fn render_scrape_round_trips_metadata() {
        let body = "# HELP a  spaced \\\\ help\\n\n# TYPE a counter\n# UNIT a bytes\n# HELP b\n\
                    a_total{x=\"1\\\\n\\\"\"} 3 17\nb 1e-9\n";
        let scrape = crate::parse(body).unwrap();
        let rendered = render_scrape(&scrape);
        assert_eq!(
            rendered,
            "# HELP a  spaced \\\\ help\\n\n# TYPE a counter\n# UNIT a bytes\n# HELP b\n\
             a_total{x=\"1\\\\n\\\"\"} 3 17\nb 1e-9\n"
        );
        assert_eq!(crate::parse(&rendered).unwrap().families, scrape.families);
    }
}
