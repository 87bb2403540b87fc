//! Zero-copy parser for the Prometheus text exposition format 0.0.4, the OpenMetrics text that
//! Linkerd proxies append to the same body, and Prometheus federation output.
//!
//! One parser accepts all three dialects, because real bodies mix them: a Linkerd proxy serves
//! classic families followed by an OpenMetrics registry (`# UNIT`, `_created`, exemplars and a
//! final `# EOF`) as `text/plain`, and `/federate` writes `untyped` families with millisecond
//! timestamps. Nothing is copied: names and label values borrow from the input, and a label
//! value is unescaped (allocated) only when it contains a backslash.
//!
//! A malformed body fails as a whole, as it does in Prometheus, with a [`ParseError`] that names
//! the line, the column and what was expected. The grammar is Prometheus' own (`promlex.l`,
//! `promparse.go`), including its quirks: no blank is needed between `}` and the value, HELP
//! text keeps everything after the one blank that follows the name, values are what Go's
//! `strconv.ParseFloat` accepts (out-of-range values and signed `NaN` are errors), and a
//! duplicate label name fails the body. It is lenient where real bodies need it: CRLF line
//! ends, `# UNIT`, `# EOF` anywhere (a comment), the OpenMetrics type words, exemplars
//! (validated and dropped) and negative timestamps. Not supported: Prometheus 3's quoted UTF-8
//! metric and label names (`{"my.metric", "a.b"="c"}`), OpenMetrics float-second sample
//! timestamps.
//!
//! [`render_scrape`] and the other `render_*` functions write the format back; parsing what
//! they write gives the same samples and families (the property tests and the fuzz target hold
//! the parser to that).
//!
//! ```
//! let body = "# TYPE request_total counter\nrequest_total{direction=\"inbound\"} 12\n";
//! let scrape = atlhyper_promtext::parse(body).unwrap();
//! let sample = &scrape.samples[0];
//! assert_eq!(sample.name, "request_total");
//! assert_eq!(sample.label("direction").as_deref(), Some("inbound"));
//! assert_eq!(sample.value, 12.0);
//! ```

mod labels;
mod parser;
mod render;

pub use labels::{Label, LabelIter, Labels, unescape_label_value};
pub use parser::parse;
pub use render::{
    escape_help, escape_label_value, render_family, render_parsed_sample, render_sample, render_scrape,
    render_value,
};

use std::borrow::Cow;

/// The type a `# TYPE` line declares. OpenMetrics types are accepted too, since Linkerd's
/// OpenMetrics tail arrives in the same `text/plain` body as its classic families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
    /// OpenMetrics `unknown`, the successor of `untyped`.
    Unknown,
    GaugeHistogram,
    StateSet,
    Info,
}

impl MetricType {
    /// Parses the type word of a `# TYPE` line.
    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "summary" => Self::Summary,
            "untyped" => Self::Untyped,
            "unknown" => Self::Unknown,
            "gaugehistogram" => Self::GaugeHistogram,
            "stateset" => Self::StateSet,
            "info" => Self::Info,
            _ => return None,
        })
    }

    /// The word written after `# TYPE <name>`.
    pub fn as_word(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::Summary => "summary",
            Self::Untyped => "untyped",
            Self::Unknown => "unknown",
            Self::GaugeHistogram => "gaugehistogram",
            Self::StateSet => "stateset",
            Self::Info => "info",
        }
    }
}

/// Metadata of one metric family, gathered from its `# TYPE`, `# HELP` and `# UNIT` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Family<'a> {
    pub name: &'a str,
    pub kind: Option<MetricType>,
    /// HELP text with `\\` and `\n` unescaped.
    pub help: Option<Cow<'a, str>>,
    pub unit: Option<&'a str>,
}

/// One sample line: `name{labels} value [timestamp] [# exemplar]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub labels: Labels<'a>,
    pub value: f64,
    /// Milliseconds since the epoch, as federation output writes it.
    pub timestamp_ms: Option<i64>,
}

impl<'a> Sample<'a> {
    /// The unescaped value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<Cow<'a, str>> {
        self.labels.get(name)
    }
}

/// A parsed body: every sample in input order, and the metadata of the families it declared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape<'a> {
    pub samples: Vec<Sample<'a>>,
    pub families: Vec<Family<'a>>,
}

impl Scrape<'_> {
    /// The metadata of the family called `name`, if the body declared it.
    pub fn family(&self, name: &str) -> Option<&Family<'_>> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The declared type of the family a sample name belongs to: the family of the same name,
    /// or, for histogram, summary and counter series, the family named without the suffix
    /// (`_bucket`, `_count`, `_sum`, `_total`, `_created`, `_info`).
    pub fn kind_of(&self, sample_name: &str) -> Option<MetricType> {
        let find = |name: &str| self.families.iter().find(|f| f.name == name).and_then(|f| f.kind);
        if let Some(kind) = find(sample_name) {
            return Some(kind);
        }
        ["_bucket", "_count", "_sum", "_total", "_created", "_info"]
            .iter()
            .filter_map(|suffix| sample_name.strip_suffix(suffix))
            .find_map(find)
    }
}

/// Why a body could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column within the line, counted in characters.
    pub column: usize,
    /// What was expected and what was found, lowercase.
    pub message: String,
}

/// The check the fuzz target runs, shared with the corpus replay in `cargo test`: any UTF-8
/// input either fails to parse with a well-formed [`ParseError`], or parses, renders back with
/// [`render_scrape`], and parses again to the same families and samples, and rendering that
/// gives the same text; with CRLF line ends it parses (or fails) the same way. Panics when a
/// property fails; never panics otherwise.
#[doc(hidden)]
pub fn fuzz_check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse(text);
    // CRLF line ends change nothing: same samples, or the same error at the same place.
    let crlf = text.replace('\n', "\r\n");
    match (&parsed, parse(&crlf)) {
        (Ok(a), Ok(b)) => assert_same_scrape(a, &b),
        (Err(a), Err(b)) => assert_eq!(a, &b, "CRLF changes the error"),
        (a, b) => panic!(
            "CRLF changes the outcome: {:?} vs {:?}",
            a.as_ref().err(),
            b.err()
        ),
    }
    let first = match parsed {
        Ok(scrape) => scrape,
        Err(e) => {
            let lines = text.split('\n').count();
            assert!(e.line >= 1 && e.line <= lines, "error line out of range: {e}");
            assert!(e.column >= 1, "error column out of range: {e}");
            assert!(
                e.message.starts_with("expected "),
                "the message says what was expected: {e}"
            );
            return;
        }
    };
    let rendered = render_scrape(&first);
    let second = match parse(&rendered) {
        Ok(scrape) => scrape,
        Err(e) => panic!("the rendered body does not parse: {e}\n{rendered}"),
    };
    assert_same_scrape(&first, &second);
    assert_eq!(render_scrape(&second), rendered, "rendering is not stable");
}

/// Asserts two scrapes hold the same families and samples, comparing label sets by their
/// unescaped names and values (not their raw text) and values bit for bit (any NaN equals NaN).
#[doc(hidden)]
pub fn assert_same_scrape(a: &Scrape<'_>, b: &Scrape<'_>) {
    assert_eq!(a.families, b.families, "families differ");
    assert_eq!(a.samples.len(), b.samples.len(), "sample counts differ");
    for (x, y) in a.samples.iter().zip(&b.samples) {
        assert_eq!(x.name, y.name);
        let lx: Vec<_> = x.labels.iter().map(|l| (l.name, l.value())).collect();
        let ly: Vec<_> = y.labels.iter().map(|l| (l.name, l.value())).collect();
        assert_eq!(lx, ly, "labels of {} differ", x.name);
        assert!(
            x.value.to_bits() == y.value.to_bits() || (x.value.is_nan() && y.value.is_nan()),
            "values of {} differ: {} vs {}",
            x.name,
            x.value,
            y.value
        );
        assert_eq!(x.timestamp_ms, y.timestamp_ms, "timestamps of {} differ", x.name);
    }
}
