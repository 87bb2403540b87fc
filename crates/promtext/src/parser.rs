//! The line parser. One pass over the body, one cursor per line, no allocation per sample
//! beyond the output vector.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::labels::{Labels, scan_quoted};
use crate::{Family, MetricType, ParseError, Sample, Scrape};

/// Parses a whole body. Blank lines, CRLF line ends, `# EOF` and any other comment are
/// accepted anywhere; the first malformed line fails the whole body.
pub fn parse(text: &str) -> Result<Scrape<'_>, ParseError> {
    let mut parser = Parser {
        scrape: Scrape {
            samples: Vec::with_capacity(text.len() / 128),
            families: Vec::new(),
        },
        family_index: HashMap::new(),
        label_names: Vec::with_capacity(32),
    };
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut line_no = 0;
    while start < bytes.len() {
        line_no += 1;
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let mut line = &text[start..end];
        if let Some(stripped) = line.strip_suffix('\r') {
            line = stripped;
        }
        parser.line(Cursor {
            text: line,
            pos: 0,
            line_no,
        })?;
        start = end + 1;
    }
    Ok(parser.scrape)
}

struct Parser<'a> {
    scrape: Scrape<'a>,
    family_index: HashMap<&'a str, usize>,
    label_names: Vec<&'a str>,
}

impl<'a> Parser<'a> {
    fn line(&mut self, mut cur: Cursor<'a>) -> Result<(), ParseError> {
        cur.skip_blanks();
        match cur.peek() {
            None => Ok(()),
            Some(b'#') => self.comment(cur),
            Some(_) => self.sample(cur),
        }
    }

    /// `# HELP`, `# TYPE` and `# UNIT` carry metadata; every other `#` line is a comment.
    fn comment(&mut self, mut cur: Cursor<'a>) -> Result<(), ParseError> {
        cur.pos += 1;
        if !cur.skip_blanks() {
            return Ok(());
        }
        let keyword = cur.take_while(|b| !matches!(b, b' ' | b'\t'));
        let kind = match keyword {
            "HELP" | "TYPE" | "UNIT" => keyword,
            _ => return Ok(()),
        };
        if !cur.skip_blanks() {
            return Err(cur.error(format!("expected a metric name after # {kind}")));
        }
        let name = cur.metric_name()?;
        let has_blank = cur.skip_blanks();
        let rest = cur.rest();
        match kind {
            "HELP" => {
                if !has_blank && !rest.is_empty() {
                    return Err(cur.error("expected a space between the metric name and the help text"));
                }
                let help = unescape_help(rest);
                self.family(name).help = Some(help);
            }
            "TYPE" => {
                let word = rest.trim_end_matches([' ', '\t']);
                let Some(metric_type) = MetricType::from_word(word) else {
                    return Err(cur.error(format!(
                        "expected a metric type (counter, gauge, histogram, summary, untyped), found {word:?}"
                    )));
                };
                self.family(name).kind = Some(metric_type);
            }
            _ => {
                let unit = rest.trim_end_matches([' ', '\t']);
                self.family(name).unit = (!unit.is_empty()).then_some(unit);
            }
        }
        Ok(())
    }

    fn family(&mut self, name: &'a str) -> &mut Family<'a> {
        let families = &mut self.scrape.families;
        let index = *self.family_index.entry(name).or_insert_with(|| {
            families.push(Family {
                name,
                kind: None,
                help: None,
                unit: None,
            });
            families.len() - 1
        });
        &mut families[index]
    }

    fn sample(&mut self, mut cur: Cursor<'a>) -> Result<(), ParseError> {
        let name = cur.metric_name()?;
        let mut blank_before_value = cur.skip_blanks();
        let mut labels = Labels::default();
        if cur.peek() == Some(b'{') {
            labels = self.label_set(&mut cur)?;
            blank_before_value = cur.skip_blanks();
        }
        if !blank_before_value && cur.peek().is_some() {
            return Err(cur.error(format!(
                "expected a space before the sample value, found {}",
                cur.found()
            )));
        }
        let value = cur.value()?;
        let mut timestamp_ms = None;
        if cur.skip_blanks() && !matches!(cur.peek(), None | Some(b'#')) {
            timestamp_ms = Some(cur.timestamp()?);
            cur.skip_blanks();
        }
        if cur.peek() == Some(b'#') {
            self.exemplar(&mut cur)?;
        }
        if cur.peek().is_some() {
            return Err(cur.error("expected the end of the line after the sample"));
        }
        self.scrape.samples.push(Sample {
            name,
            labels,
            value,
            timestamp_ms,
        });
        Ok(())
    }

    /// `{name="value",...}` with optional blanks and a trailing comma. The cursor is at `{`.
    fn label_set(&mut self, cur: &mut Cursor<'a>) -> Result<Labels<'a>, ParseError> {
        cur.pos += 1;
        let start = cur.pos;
        self.label_names.clear();
        loop {
            cur.skip_blanks();
            match cur.peek() {
                Some(b'}') => break,
                None => return Err(cur.error("expected a label name or '}', found the end of the line")),
                _ => {}
            }
            let name = cur.label_name()?;
            if self.label_names.contains(&name) {
                return Err(cur.error(format!("duplicate label name {name:?}")));
            }
            self.label_names.push(name);
            cur.skip_blanks();
            cur.expect(b'=', "'=' after the label name")?;
            cur.skip_blanks();
            cur.expect(b'"', "'\"' to open the label value")?;
            let bytes = cur.text.as_bytes();
            let Some((close, _)) = scan_quoted(bytes, cur.pos) else {
                cur.pos = bytes.len();
                return Err(cur.error("expected '\"' to close the label value, found the end of the line"));
            };
            cur.pos = close + 1;
            cur.skip_blanks();
            match cur.peek() {
                Some(b',') => cur.pos += 1,
                Some(b'}') => break,
                _ => return Err(cur.error("expected ',' or '}' after the label value")),
            }
        }
        let labels = Labels::from_validated(&cur.text[start..cur.pos]);
        cur.pos += 1;
        Ok(labels)
    }

    /// An OpenMetrics exemplar, `# {labels} value [timestamp]`: validated and dropped.
    fn exemplar(&mut self, cur: &mut Cursor<'a>) -> Result<(), ParseError> {
        cur.pos += 1;
        cur.skip_blanks();
        if cur.peek() != Some(b'{') {
            return Err(cur.error("expected '{' to open the exemplar labels"));
        }
        self.label_set(cur)?;
        if !cur.skip_blanks() {
            return Err(cur.error("expected a space before the exemplar value"));
        }
        cur.value()?;
        if cur.skip_blanks() && cur.peek().is_some() {
            // OpenMetrics exemplar timestamps are float seconds.
            let start = cur.pos;
            let token = cur.take_while(|b| !matches!(b, b' ' | b'\t'));
            if token.parse::<f64>().is_err() {
                cur.pos = start;
                return Err(cur.error(format!("expected an exemplar timestamp, found {token:?}")));
            }
            cur.skip_blanks();
        }
        Ok(())
    }
}

/// A position inside one line.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    line_no: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// Skips spaces and tabs; tells whether there were any.
    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && matches!(bytes[self.pos], b' ' | b'\t') {
            self.pos += 1;
        }
        self.pos > start
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && keep(bytes[self.pos]) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, found {}", self.found())))
        }
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    fn metric_name(&mut self) -> Result<&'a str, ParseError> {
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
            _ => return Err(self.error(format!("expected a metric name, found {}", self.found()))),
        }
        Ok(self.take_while(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'))
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    fn label_name(&mut self) -> Result<&'a str, ParseError> {
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
            _ => return Err(self.error(format!("expected a label name, found {}", self.found()))),
        }
        Ok(self.take_while(|b| b.is_ascii_alphanumeric() || b == b'_'))
    }

    /// A float as Go's `strconv.ParseFloat` reads it: decimal or exponent notation, `NaN`,
    /// `+Inf`, `-Inf`; no hex, no `_`.
    fn value(&mut self) -> Result<f64, ParseError> {
        let start = self.pos;
        let token = self.take_while(|b| !matches!(b, b' ' | b'\t'));
        if token.is_empty() {
            return Err(self.error("expected a sample value, found the end of the line"));
        }
        if let Some(v) = parse_small_uint(token) {
            return Ok(v);
        }
        token.parse::<f64>().map_err(|_| {
            self.pos = start;
            self.error(format!(
                "expected a number, NaN, +Inf or -Inf as the sample value, found {token:?}"
            ))
        })
    }

    /// An int64 millisecond timestamp.
    fn timestamp(&mut self) -> Result<i64, ParseError> {
        let start = self.pos;
        let token = self.take_while(|b| !matches!(b, b' ' | b'\t'));
        token.parse::<i64>().map_err(|_| {
            self.pos = start;
            self.error(format!(
                "expected an integer timestamp in milliseconds, found {token:?}"
            ))
        })
    }

    fn found(&self) -> String {
        match self.rest().chars().next() {
            None => "the end of the line".to_owned(),
            Some(c) => format!("{c:?}"),
        }
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        let column = self.text.get(..self.pos).map_or(self.pos, |s| s.chars().count()) + 1;
        ParseError {
            line: self.line_no,
            column,
            message: message.into(),
        }
    }
}

/// Fast path for the common case, a non-negative integer of at most 15 digits, which is exact
/// in an f64 and parses without the general float algorithm.
fn parse_small_uint(token: &str) -> Option<f64> {
    let bytes = token.as_bytes();
    if bytes.len() > 15 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + u64::from(digit);
    }
    #[allow(clippy::cast_precision_loss)] // at most 15 digits: exact
    Some(n as f64)
}

/// HELP text escapes only `\\` and `\n`.
fn unescape_help(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ParseError {
        parse(text).expect_err("should fail")
    }

    #[test]
    fn parses_classic_family_with_metadata() {
        let body = "# HELP request_total Total count of HTTP requests.\n\
                    # TYPE request_total counter\n\
                    request_total{direction=\"inbound\",tls=\"true\"} 30\n";
        let scrape = parse(body).unwrap();
        assert_eq!(scrape.samples.len(), 1);
        assert_eq!(
            scrape.families[0].help.as_deref(),
            Some("Total count of HTTP requests.")
        );
        assert_eq!(scrape.kind_of("request_total"), Some(MetricType::Counter));
        assert_eq!(scrape.samples[0].label("tls").as_deref(), Some("true"));
    }

    #[test]
    fn federation_timestamps_are_milliseconds() {
        let s = parse("# TYPE x untyped\nx{a=\"b\"} 1.5e+06 1764000000123\n").unwrap();
        assert_eq!(s.samples[0].value, 1_500_000.0);
        assert_eq!(s.samples[0].timestamp_ms, Some(1_764_000_000_123));
    }

    #[test]
    fn special_values() {
        let s = parse("a NaN\nb +Inf\nc -Inf\nd -0.5\ne 1e-3\n").unwrap();
        let v: Vec<f64> = s.samples.iter().map(|s| s.value).collect();
        assert!(v[0].is_nan());
        assert_eq!(&v[1..], &[f64::INFINITY, f64::NEG_INFINITY, -0.5, 0.001]);
    }

    #[test]
    fn openmetrics_tail_with_unit_exemplar_and_eof() {
        let body = "# TYPE outbound_http_route_request_duration_seconds histogram\n\
                    # UNIT outbound_http_route_request_duration_seconds seconds\n\
                    outbound_http_route_request_duration_seconds_bucket{le=\"0.05\",route_name=\"http\"} 11 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879607.789\n\
                    outbound_http_route_request_duration_seconds_created{route_name=\"http\"} 1.7e9\n\
                    # EOF\n";
        let s = parse(body).unwrap();
        assert_eq!(s.samples.len(), 2);
        assert_eq!(s.families[0].unit, Some("seconds"));
        assert_eq!(
            s.kind_of("outbound_http_route_request_duration_seconds_bucket"),
            Some(MetricType::Histogram)
        );
    }

    #[test]
    fn crlf_blank_lines_and_trailing_comma() {
        let s = parse("\r\n  \na{b=\"c\",} 1\r\n\n").unwrap();
        assert_eq!(s.samples.len(), 1);
        assert_eq!(s.samples[0].label("b").as_deref(), Some("c"));
    }

    #[test]
    fn delimiters_inside_label_values_and_colons_in_names() {
        let s = parse("job:rate5m{path=\"/a,b=c}\\\"d\"} 2\n").unwrap();
        assert_eq!(s.samples[0].name, "job:rate5m");
        assert_eq!(s.samples[0].label("path").as_deref(), Some("/a,b=c}\"d"));
    }

    #[test]
    fn help_unescapes_backslash_and_newline_only() {
        let s = parse("# HELP x a\\\\b\\nc\\\"d\n").unwrap();
        assert_eq!(s.families[0].help.as_deref(), Some("a\\b\nc\\\"d"));
    }

    #[test]
    fn errors_name_line_column_and_expectation() {
        let e = err("ok 1\nbad{a=\"1\" b=\"2\"} 3\n");
        assert_eq!((e.line, e.column), (2, 11));
        assert!(e.message.contains("expected ',' or '}'"), "{e}");

        let e = err("x{a=\"1\"}\n");
        assert!(e.message.contains("sample value"), "{e}");
        let e = err("x 1 12.5\n");
        assert!(e.message.contains("integer timestamp"), "{e}");
        assert_eq!(e.column, 5);
        let e = err("x 0x10\n");
        assert!(e.message.contains("sample value"), "{e}");
        let e = err("# TYPE x histo\n");
        assert!(e.message.contains("metric type"), "{e}");
        let e = err("x{a=\"1\",a=\"2\"} 1\n");
        assert!(e.message.contains("duplicate label name"), "{e}");
        let e = err("x{a=\"1} 1\n");
        assert!(e.message.contains("close the label value"), "{e}");
        let e = err("1x 1\n");
        assert_eq!((e.line, e.column), (1, 1));
        let e = err("x 1 2 3\n");
        assert!(e.message.contains("end of the line"), "{e}");
        let e = err("x{9a=\"1\"} 1\n");
        assert!(e.message.contains("label name"), "{e}");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = err("x{a=\"日本\" b=\"\"} 1\n");
        assert_eq!(e.column, 10);
    }

    #[test]
    fn large_integers_take_the_general_path() {
        let s = parse("x 12345678901234567890\n").unwrap();
        assert_eq!(s.samples[0].value, 12_345_678_901_234_567_890.0);
    }
}
