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
//! the line, the column and what was expected.
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
pub use render::{escape_help, escape_label_value, render_sample, render_value};

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
    /// 1-based byte column within the line.
    pub column: usize,
    /// What was expected and what was found, lowercase.
    pub message: String,
}
