//! Property tests: what is rendered parses back to the same samples and families, whatever the
//! names, label values, values, blanks, line ends and comments; and no input makes the parser
//! panic. Case counts are modest: these run in CI on two cores.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use atlhyper_promtext::{MetricType, escape_help, escape_label_value, fuzz_check, parse, render_value};
use proptest::prelude::*;

use crate::support::all_fixtures;

static FIXTURES: LazyLock<Vec<(String, String)>> = LazyLock::new(all_fixtures);

#[derive(Debug, Clone)]
struct GenSample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone)]
struct GenFamily {
    name: String,
    help: Option<String>,
    kind: Option<MetricType>,
    unit: Option<String>,
}

/// How a line is laid out: blanks around every token, a trailing comma, CRLF, value spelling.
#[derive(Debug, Clone)]
struct Layout {
    blanks: Vec<String>,
    trailing_comma: bool,
    crlf: bool,
    value_style: u8,
}

fn metric_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_:][a-zA-Z0-9_:]{0,24}"
}

fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,16}"
}

/// Any characters, with quotes, backslashes, newlines, CR, tabs and non-ASCII made likely.
fn label_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>(),
            3 => prop::char::range('a', 'z'),
            1 => Just('"'),
            1 => Just('\\'),
            1 => Just('\n'),
            1 => Just('\r'),
            1 => Just('\t'),
            1 => Just(' '),
            1 => Just('日'),
            1 => Just('}'),
            1 => Just(','),
            1 => Just('='),
        ],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
        (0u64..u64::MAX).prop_map(|v| v as f64),
        (-1e6f64..1e6),
        (0.0f64..1.0).prop_map(|v| (v * 1e6).round() / 1e6),
    ]
}

fn sample() -> impl Strategy<Value = GenSample> {
    (
        metric_name(),
        prop::collection::vec((label_name(), label_value()), 0..8),
        value(),
        prop::option::of(any::<i64>()),
    )
        .prop_map(|(name, labels, value, timestamp_ms)| {
            // Label names are unique within a sample.
            let mut seen = BTreeSet::new();
            let labels = labels
                .into_iter()
                .filter(|(n, _)| seen.insert(n.clone()))
                .collect();
            GenSample {
                name,
                labels,
                value,
                timestamp_ms,
            }
        })
}

fn metric_type() -> impl Strategy<Value = MetricType> {
    prop::sample::select(vec![
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Summary,
        MetricType::Untyped,
        MetricType::Unknown,
        MetricType::GaugeHistogram,
        MetricType::StateSet,
        MetricType::Info,
    ])
}

fn family() -> impl Strategy<Value = GenFamily> {
    (
        metric_name(),
        // HELP text: anything but a CR at its very end, which a CRLF line end would swallow.
        prop::option::of(label_value().prop_map(|h| h.trim_end_matches('\r').to_owned())),
        prop::option::of(metric_type()),
        prop::option::of("[a-z_][a-z0-9_]{0,10}"),
    )
        .prop_map(|(name, help, kind, unit)| GenFamily {
            name,
            help,
            kind,
            unit,
        })
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        prop::collection::vec(
            prop_oneof![
                3 => Just(String::new()),
                1 => Just(" ".to_owned()),
                1 => Just("\t".to_owned()),
                1 => Just("  \t ".to_owned()),
            ],
            16,
        ),
        any::<bool>(),
        any::<bool>(),
        0u8..4,
    )
        .prop_map(|(blanks, trailing_comma, crlf, value_style)| Layout {
            blanks,
            trailing_comma,
            crlf,
            value_style,
        })
}

/// Lines the parser must skip: blank lines, comments, `# EOF`, malformed `# UNIT`.
fn filler() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "   ",
        "\t",
        "#",
        "# a comment with \"quotes\" and {braces}",
        "#no space after the hash",
        "# EOF",
        "# HELP",
        "# TYPE",
        "# UNIT",
        "# UNIT 9bad seconds",
        "# HELPFUL note",
    ])
    .prop_map(str::to_owned)
}

/// A value spelled in one of several ways Go's `ParseFloat` accepts.
fn spell_value(v: f64, style: u8) -> String {
    if v.is_nan() {
        return ["NaN", "nan", "NaN", "NAN"][style as usize].to_owned();
    }
    if v.is_infinite() {
        let s = ["Inf", "inf", "Infinity", "INF"][style as usize];
        let sign = if v > 0.0 {
            ["+", "", "+", ""][style as usize]
        } else {
            "-"
        };
        return format!("{sign}{s}");
    }
    match style {
        0 => {
            let mut out = String::new();
            render_value(v, &mut out);
            out
        }
        1 => format!("{v:e}"),
        2 => format!("{v:E}"),
        _ => format!("{v}"),
    }
}

fn render_line(s: &GenSample, l: &Layout) -> String {
    let b = |i: usize| l.blanks[i % l.blanks.len()].as_str();
    let mut out = String::new();
    out.push_str(b(0));
    out.push_str(&s.name);
    let has_braces = !s.labels.is_empty() || l.trailing_comma;
    if has_braces {
        out.push_str(b(1));
        out.push('{');
        for (i, (name, value)) in s.labels.iter().enumerate() {
            if i > 0 {
                out.push_str(b(2));
                out.push(',');
            }
            out.push_str(b(3));
            out.push_str(name);
            out.push_str(b(4));
            out.push('=');
            out.push_str(b(5));
            out.push('"');
            escape_label_value(value, &mut out);
            out.push('"');
        }
        if l.trailing_comma && !s.labels.is_empty() {
            out.push_str(b(6));
            out.push(',');
        }
        out.push_str(b(7));
        out.push('}');
        // No blank is needed after `}`.
        out.push_str(b(8));
    } else {
        out.push(' ');
        out.push_str(b(8));
    }
    out.push_str(&spell_value(s.value, l.value_style));
    if let Some(ts) = s.timestamp_ms {
        out.push(' ');
        out.push_str(b(9));
        out.push_str(&ts.to_string());
    }
    out.push_str(b(10));
    out
}

fn render_family_lines(f: &GenFamily, l: &Layout) -> Vec<String> {
    let b = |i: usize| l.blanks[i % l.blanks.len()].as_str();
    let mut lines = Vec::new();
    if let Some(help) = &f.help {
        // Exactly one blank after the name: the rest, leading blanks included, is the text.
        let mut line = format!("{}#{} HELP {} ", b(11), b(12), f.name);
        escape_help(help, &mut line);
        lines.push(line);
    }
    if let Some(kind) = f.kind {
        lines.push(format!(
            "# TYPE{} {}{} {}{}",
            b(14),
            f.name,
            b(13),
            kind.as_word(),
            b(15)
        ));
    }
    if let Some(unit) = &f.unit {
        lines.push(format!("#{} UNIT {} {}{}", b(12), f.name, unit, b(15)));
    }
    lines
}

fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn rendered_bodies_parse_back_to_what_was_rendered(
        samples in prop::collection::vec((sample(), layout()), 0..12),
        families in prop::collection::vec((family(), layout()), 0..4),
        fillers in prop::collection::vec((0usize..64, filler()), 0..6),
        crlf_everywhere in any::<bool>(),
        final_newline in any::<bool>(),
    ) {
        // Families with distinct names, so the last metadata line of each wins predictably.
        let mut seen = BTreeSet::new();
        let families: Vec<_> = families.into_iter().filter(|(f, _)| seen.insert(f.name.clone())).collect();

        let mut lines: Vec<(String, bool)> = Vec::new();
        for (f, l) in &families {
            for line in render_family_lines(f, l) {
                lines.push((line, l.crlf));
            }
        }
        for (s, l) in &samples {
            lines.push((render_line(s, l), l.crlf));
        }
        for (at, line) in fillers {
            let at = at % (lines.len() + 1);
            lines.insert(at, (line, false));
        }
        let mut body = String::new();
        for (i, (line, crlf)) in lines.iter().enumerate() {
            body.push_str(line);
            if i + 1 < lines.len() || final_newline {
                body.push_str(if *crlf || crlf_everywhere { "\r\n" } else { "\n" });
            }
        }

        let scrape = match parse(&body) {
            Ok(s) => s,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{body:?}"))),
        };
        prop_assert_eq!(scrape.samples.len(), samples.len(), "{:?}", body);
        for (got, (want, _)) in scrape.samples.iter().zip(&samples) {
            prop_assert_eq!(got.name, want.name.as_str());
            let labels: Vec<(String, String)> = got
                .labels
                .iter()
                .map(|l| (l.name.to_owned(), l.value().into_owned()))
                .collect();
            prop_assert_eq!(&labels, &want.labels);
            for (name, value) in &want.labels {
                let found = got.label(name);
                prop_assert_eq!(found.as_deref(), Some(value.as_str()));
            }
            prop_assert!(same_value(got.value, want.value), "{} vs {} in {:?}", got.value, want.value, body);
            prop_assert_eq!(got.timestamp_ms, want.timestamp_ms);
        }
        let want_families: Vec<_> = families
            .iter()
            .map(|(f, _)| f)
            .filter(|f| f.help.is_some() || f.kind.is_some() || f.unit.is_some())
            .collect();
        prop_assert_eq!(scrape.families.len(), want_families.len());
        for (got, want) in scrape.families.iter().zip(want_families) {
            prop_assert_eq!(got.name, want.name.as_str());
            prop_assert_eq!(got.help.as_deref(), want.help.as_deref());
            prop_assert_eq!(got.kind, want.kind);
            prop_assert_eq!(got.unit, want.unit.as_deref());
        }
        // And the canonical rendering of what was parsed round-trips too.
        fuzz_check(body.as_bytes());
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        fuzz_check(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        fuzz_check(&bytes);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(vec![
        "x", "a_b", ":", "{", "}", "\"", "\\", "\\\"", "=", ",", " ", "\t", "\n", "\r\n", "#",
        "# ", "HELP ", "TYPE ", "UNIT ", "EOF", "counter", "1", "-", "+", ".", "e", "1e5",
        "NaN", "Inf", "+Inf", "9999999999999999999999", "é", "日",
    ]), 0..48)) {
        fuzz_check(tokens.concat().as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn mutated_fixtures_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
    ) {
        let (_, text) = which.get(&FIXTURES);
        let mut bytes = text.clone().into_bytes();
        for (at, kind, byte) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        fuzz_check(&bytes);
    }
}
