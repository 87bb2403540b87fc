//! The line parser. One pass over the body: `memchr` finds each line end, then a byte loop walks
//! the line once. No allocation per sample beyond the output vector, and none per label.
//!
//! One file on purpose (over the house's ~600 lines): the grammar below is one state machine on
//! the hot path (1.2 GB/s, `benches/parse.rs`), and its error positions, number syntax and
//! exemplars read best next to each other; the tests after it pin each rule.
//!
//! The grammar follows Prometheus' `promlex.l`/`promparse.go` for the classic text format, with
//! the OpenMetrics additions Linkerd's body needs (`# UNIT`, exemplars, any metric type word):
//!
//! * lines end at `\n`; any `\r` right before it is dropped (a lenient extension: both specs
//!   forbid CR); blank lines and leading blanks are ignored; blanks are spaces and tabs;
//! * `# HELP name text`: the text is everything after the one blank that follows the name, with
//!   `\\` and `\n` unescaped; `# TYPE name word`; `# UNIT name unit`; any other `#` line, such as
//!   `# EOF` anywhere in the body, is a comment. `# HELP`/`# TYPE` without a following blank are
//!   comments too, as in `promlex.l`. A `# UNIT` line that is not well formed is a comment, since
//!   a classic parser (Prometheus scraping Linkerd as `text/plain`) never looks inside it;
//! * `name [{label="value",...[,]}] value [timestamp] [# {exemplar labels} value [timestamp]]`.
//!   The blank between `}` and the value is optional (tokens need a blank only where they would
//!   otherwise merge); the one between the name and the value is not. The value is what Go's
//!   `strconv.ParseFloat` accepts (no hex, no `_`, out-of-range is an error, `NaN` unsigned);
//!   the timestamp is an int64 in milliseconds.
//! * label names are unique within a sample: Prometheus fails the scrape on a duplicate.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::labels::{Labels, scan_quoted};
use crate::{Family, MetricType, ParseError, Sample, Scrape};

/// Parses a whole body. Blank lines, CRLF line ends, `# EOF` and any other comment are
/// accepted anywhere; the first malformed line fails the whole body.
pub fn parse(text: &str) -> Result<Scrape<'_>, ParseError> {
    let mut parser = Parser {
        scrape: Scrape {
            samples: Vec::with_capacity(text.len() / 256),
            families: Vec::new(),
        },
        family_index: HashMap::new(),
        label_names: Vec::with_capacity(32),
        many_labels: HashSet::new(),
    };
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut line_no = 0;
    while start < bytes.len() {
        line_no += 1;
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let mut line_end = end;
        while line_end > start && bytes[line_end - 1] == b'\r' {
            line_end -= 1;
        }
        // `start` and `line_end` sit next to ASCII bytes (`\n`, `\r`) or at the ends of the
        // text, so they are char boundaries.
        parser.line(&text[start..line_end], line_no)?;
        start = end + 1;
    }
    Ok(parser.scrape)
}

/// Byte classes for names, one table lookup per byte.
const NAME_START: u8 = 1; // [a-zA-Z_:]
const NAME: u8 = 2; // [a-zA-Z0-9_:]
const LABEL_START: u8 = 4; // [a-zA-Z_]
const LABEL: u8 = 8; // [a-zA-Z0-9_]

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        let mut class = 0;
        if alpha || c == b':' {
            class |= NAME_START | NAME;
        }
        if digit {
            class |= NAME | LABEL;
        }
        if alpha {
            class |= LABEL_START | LABEL;
        }
        table[b] = class;
        b += 1;
    }
    table
};

#[inline(always)]
fn is(b: u8, class: u8) -> bool {
    CLASS[b as usize] & class != 0
}

#[inline(always)]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Advances `i` past spaces and tabs; tells whether there were any.
#[inline(always)]
fn skip_blanks(b: &[u8], i: &mut usize) -> bool {
    let start = *i;
    while *i < b.len() && is_blank(b[*i]) {
        *i += 1;
    }
    *i > start
}

/// Advances `i` past bytes of `class`, [`NAME`] or [`LABEL`], eight bytes at a time: names
/// are most of the bytes of a label set, and a byte loop mispredicts at the end of each one.
#[inline(always)]
fn skip_class(b: &[u8], i: &mut usize, class: u8) {
    let digits_end = if class == NAME { b':' } else { b'9' };
    while let Some(chunk) = b.get(*i..).and_then(<[u8]>::first_chunk::<8>) {
        let others = !word_bytes(u64::from_le_bytes(*chunk), digits_end) & HIGHS;
        if others != 0 {
            *i += (others.trailing_zeros() / 8) as usize;
            return;
        }
        *i += 8;
    }
    while *i < b.len() && is(b[*i], class) {
        *i += 1;
    }
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Sets the high bit of each byte of `word` that is in `[a-zA-Z_0-9]`, or `[a-zA-Z_0-9:]` when
/// `digits_end` is `:` (the byte after `9`). Exact for every byte: non-ASCII bytes are masked
/// first, and no per-byte sum below can carry into its neighbour.
#[inline(always)]
fn word_bytes(word: u64, digits_end: u8) -> u64 {
    let ascii = !word & HIGHS;
    let x = word & !HIGHS;
    // The high bit of `x + (0x80 - lo)` is set iff the byte is >= lo, and that of
    // `x + (0x7f - hi)` iff it is > hi; both sums stay below 0x100 for bytes up to 0x7f.
    let in_range = |v: u64, lo: u8, hi: u8| {
        let at_least_lo = v + ONES * u64::from(0x80 - lo);
        let above_hi = v + ONES * u64::from(0x7f - hi);
        at_least_lo & !above_hi & HIGHS
    };
    let digit = in_range(x, b'0', digits_end);
    let letter = in_range(x | (ONES * 0x20), b'a', b'z');
    let not_underscore = (x ^ (ONES * u64::from(b'_'))) + ONES * 0x7f;
    (digit | letter | (!not_underscore & HIGHS)) & ascii
}

/// Advances `i` to the next blank or the end of the line.
#[inline(always)]
fn skip_token(b: &[u8], i: &mut usize) {
    while *i < b.len() && !is_blank(b[*i]) {
        *i += 1;
    }
}

/// The error for `line` at byte `pos`; the column counts characters, 1-based.
#[cold]
#[inline(never)]
fn error(line: &str, pos: usize, line_no: usize, message: impl Into<String>) -> ParseError {
    let column = line.get(..pos).map_or(pos, |s| s.chars().count()) + 1;
    ParseError {
        line: line_no,
        column,
        message: message.into(),
    }
}

/// What sits at `pos`, for "found …" in messages.
#[cold]
fn found(line: &str, pos: usize) -> String {
    match line.get(pos..).and_then(|s| s.chars().next()) {
        None => "the end of the line".to_owned(),
        Some(c) => format!("{c:?}"),
    }
}

/// A cheap hash of a label name for the duplicate check: its length and its first and last
/// (up to) eight bytes. Equal names hash equally; distinct names rarely do, and then the names
/// themselves are compared.
#[inline(always)]
fn name_hash(name: &[u8]) -> u64 {
    let n = name.len();
    let (head, tail) = if n >= 8 {
        (load8(&name[..8]), load8(&name[n - 8..]))
    } else {
        let mut buf = [0u8; 8];
        buf[..n].copy_from_slice(name);
        (u64::from_le_bytes(buf), 0)
    };
    (head ^ tail.rotate_left(29) ^ (n as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[inline(always)]
fn load8(b: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&b[..8]);
    u64::from_le_bytes(buf)
}

/// Label sets up to this size are checked for duplicates with a filter and a list.
const MANY_LABELS: usize = 48;

struct Parser<'a> {
    scrape: Scrape<'a>,
    family_index: HashMap<&'a str, usize>,
    /// Hashes and names of the labels seen so far in the current label set.
    label_names: Vec<(u64, &'a str)>,
    /// The names of a label set with more than [`MANY_LABELS`] labels.
    many_labels: HashSet<&'a str>,
}

impl<'a> Parser<'a> {
    #[inline]
    fn line(&mut self, line: &'a str, line_no: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        let mut i = 0;
        skip_blanks(b, &mut i);
        match b.get(i) {
            None => Ok(()),
            Some(b'#') => self.comment(line, i + 1, line_no),
            Some(_) => self.sample(line, i, line_no),
        }
    }

    /// `# HELP`, `# TYPE` and `# UNIT` carry metadata; every other `#` line is a comment.
    /// `i` is just past the `#`.
    fn comment(&mut self, line: &'a str, mut i: usize, line_no: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        if !skip_blanks(b, &mut i) {
            return Ok(());
        }
        let keyword_start = i;
        skip_token(b, &mut i);
        let keyword = &line[keyword_start..i];
        if !matches!(keyword, "HELP" | "TYPE" | "UNIT") || !skip_blanks(b, &mut i) {
            // `# EOF`, `# HELPER`, `# HELP` with nothing after it: comments, as in promlex.l.
            return Ok(());
        }
        let name_start = i;
        let name_ok = i < b.len() && is(b[i], NAME_START);
        if name_ok {
            skip_class(b, &mut i, NAME);
        }
        let name = &line[name_start..i];
        if keyword == "UNIT" {
            // A classic parser reads `# UNIT` as a comment, so a malformed one is ignored.
            let blank = skip_blanks(b, &mut i);
            let unit = line[i..].trim_end_matches([' ', '\t', '\r']);
            if name_ok && blank && !unit.is_empty() {
                self.family(name).unit = Some(unit);
            }
            return Ok(());
        }
        if !name_ok {
            return Err(error(
                line,
                name_start,
                line_no,
                format!(
                    "expected a metric name after # {keyword}, found {}",
                    found(line, name_start)
                ),
            ));
        }
        if keyword == "HELP" {
            // Prometheus keeps everything after the one blank that ends the name.
            let text = match b.get(i) {
                None => "",
                Some(&c) if is_blank(c) => &line[i + 1..],
                Some(_) => {
                    return Err(error(
                        line,
                        i,
                        line_no,
                        format!(
                            "expected a space between the metric name and the help text, found {}",
                            found(line, i)
                        ),
                    ));
                }
            };
            self.family(name).help = Some(unescape_help(text));
            return Ok(());
        }
        let blank = skip_blanks(b, &mut i);
        let word = line[i..].trim_end_matches([' ', '\t']);
        let metric_type = if blank || word.is_empty() {
            MetricType::from_word(word)
        } else {
            None
        };
        let Some(metric_type) = metric_type else {
            return Err(error(
                line,
                i,
                line_no,
                format!(
                    "expected a metric type (counter, gauge, histogram, summary, untyped, or an \
                     OpenMetrics type) after the metric name, found {word:?}"
                ),
            ));
        };
        self.family(name).kind = Some(metric_type);
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

    /// A sample line; `i` is at its first non-blank byte.
    #[inline]
    fn sample(&mut self, line: &'a str, mut i: usize, line_no: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        let name_start = i;
        if !is(b[i], NAME_START) {
            return Err(error(
                line,
                i,
                line_no,
                format!("expected a metric name, found {}", found(line, i)),
            ));
        }
        i += 1;
        skip_class(b, &mut i, NAME);
        let name = &line[name_start..i];
        let mut blank = skip_blanks(b, &mut i);
        let mut labels = Labels::default();
        if b.get(i) == Some(&b'{') {
            labels = self.label_set(line, &mut i, line_no)?;
            // No blank is needed after `}`: it cannot merge with the value.
            blank = true;
            skip_blanks(b, &mut i);
        }
        if i >= b.len() {
            return Err(error(
                line,
                i,
                line_no,
                "expected a sample value, found the end of the line",
            ));
        }
        if !blank {
            return Err(error(
                line,
                i,
                line_no,
                format!(
                    "expected a space or '{{' after the metric name, found {}",
                    found(line, i)
                ),
            ));
        }
        let value_start = i;
        skip_token(b, &mut i);
        let value =
            parse_value(&line[value_start..i]).ok_or_else(|| value_error(line, value_start, i, line_no))?;
        let mut timestamp_ms = None;
        if skip_blanks(b, &mut i) && i < b.len() && b[i] != b'#' {
            let ts_start = i;
            skip_token(b, &mut i);
            let token = &line[ts_start..i];
            timestamp_ms = Some(token.parse::<i64>().map_err(|_| {
                error(
                    line,
                    ts_start,
                    line_no,
                    format!("expected an integer timestamp in milliseconds, found {token:?}"),
                )
            })?);
            skip_blanks(b, &mut i);
        }
        if i < b.len() {
            if b[i] == b'#' {
                self.exemplar(line, &mut i, line_no)?;
            }
            if i < b.len() {
                return Err(error(
                    line,
                    i,
                    line_no,
                    format!(
                        "expected the end of the line after the sample, found {}",
                        found(line, i)
                    ),
                ));
            }
        }
        self.scrape.samples.push(Sample {
            name,
            labels,
            value,
            timestamp_ms,
        });
        Ok(())
    }

    /// `{name="value",...}` with optional blanks and a trailing comma. `i` is at `{` and ends
    /// just past `}`.
    #[inline]
    fn label_set(&mut self, line: &'a str, i: &mut usize, line_no: usize) -> Result<Labels<'a>, ParseError> {
        let b = line.as_bytes();
        *i += 1;
        let start = *i;
        self.label_names.clear();
        if !self.many_labels.is_empty() {
            self.many_labels.clear();
        }
        // A 128-bit filter over the name hashes: the list is searched only on a hit.
        let mut seen: u128 = 0;
        loop {
            skip_blanks(b, i);
            let name_start = *i;
            match b.get(name_start) {
                Some(b'}') => break,
                Some(&c) if is(c, LABEL_START) => {}
                _ => {
                    return Err(error(
                        line,
                        name_start,
                        line_no,
                        format!("expected a label name or '}}', found {}", found(line, name_start)),
                    ));
                }
            }
            *i += 1;
            skip_class(b, i, LABEL);
            let name = &line[name_start..*i];
            let hash = name_hash(name.as_bytes());
            let bit = 1u128 << (hash >> 57);
            let duplicate = if self.label_names.len() < MANY_LABELS {
                seen & bit != 0 && self.label_names.iter().any(|&(h, n)| h == hash && n == name)
            } else {
                // Past a few dozen labels the filter is saturated and the list long: a set keeps
                // a hostile line with thousands of labels linear.
                if self.many_labels.is_empty() {
                    self.many_labels.extend(self.label_names.iter().map(|&(_, n)| n));
                }
                !self.many_labels.insert(name)
            };
            if duplicate {
                return Err(error(
                    line,
                    name_start,
                    line_no,
                    format!("expected each label name once, found a duplicate {name:?}"),
                ));
            }
            seen |= bit;
            self.label_names.push((hash, name));

            // The common case is `name="value"` with no blanks around `=`.
            if b.get(*i) == Some(&b'=') && b.get(*i + 1) == Some(&b'"') {
                *i += 2;
            } else {
                skip_blanks(b, i);
                expect(line, i, line_no, b'=', "'=' after the label name")?;
                skip_blanks(b, i);
                expect(line, i, line_no, b'"', "'\"' to open the label value")?;
            }
            let Some((close, _)) = scan_quoted(b, *i) else {
                return Err(error(
                    line,
                    b.len(),
                    line_no,
                    "expected '\"' to close the label value, found the end of the line",
                ));
            };
            *i = close + 1;
            match b.get(*i) {
                Some(b',') => *i += 1,
                Some(b'}') => break,
                _ => {
                    skip_blanks(b, i);
                    match b.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b'}') => break,
                        _ => {
                            return Err(error(
                                line,
                                *i,
                                line_no,
                                format!(
                                    "expected ',' or '}}' after the label value, found {}",
                                    found(line, *i)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        let labels = Labels::from_validated(&line[start..*i]);
        *i += 1;
        Ok(labels)
    }

    /// An OpenMetrics exemplar, `# {labels} value [timestamp]`: validated and dropped. `i` is
    /// at `#` and ends at the end of the exemplar.
    fn exemplar(&mut self, line: &'a str, i: &mut usize, line_no: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        *i += 1;
        skip_blanks(b, i);
        if b.get(*i) != Some(&b'{') {
            return Err(error(
                line,
                *i,
                line_no,
                format!(
                    "expected '{{' to open the exemplar labels, found {}",
                    found(line, *i)
                ),
            ));
        }
        self.label_set(line, i, line_no)?;
        skip_blanks(b, i);
        if *i >= b.len() {
            return Err(error(
                line,
                *i,
                line_no,
                "expected an exemplar value, found the end of the line",
            ));
        }
        let value_start = *i;
        skip_token(b, i);
        if parse_value(&line[value_start..*i]).is_none() {
            return Err(value_error(line, value_start, *i, line_no));
        }
        if skip_blanks(b, i) && *i < b.len() {
            // OpenMetrics exemplar timestamps are float seconds.
            let start = *i;
            skip_token(b, i);
            let token = &line[start..*i];
            if parse_value(token).is_none_or(|t| !t.is_finite()) {
                return Err(error(
                    line,
                    start,
                    line_no,
                    format!("expected an exemplar timestamp in seconds, found {token:?}"),
                ));
            }
            skip_blanks(b, i);
        }
        Ok(())
    }
}

#[inline(always)]
fn expect(line: &str, i: &mut usize, line_no: usize, byte: u8, what: &str) -> Result<(), ParseError> {
    if line.as_bytes().get(*i) == Some(&byte) {
        *i += 1;
        Ok(())
    } else {
        Err(error(
            line,
            *i,
            line_no,
            format!("expected {what}, found {}", found(line, *i)),
        ))
    }
}

#[cold]
fn value_error(line: &str, start: usize, end: usize, line_no: usize) -> ParseError {
    let token = &line[start..end];
    let message = match token.parse::<f64>() {
        Ok(v) if v.is_infinite() => {
            format!("expected a sample value within the range of a float64, found {token:?}")
        }
        _ => format!("expected a number, NaN, +Inf or -Inf as the sample value, found {token:?}"),
    };
    error(line, start, line_no, message)
}

/// A float as Go's `strconv.ParseFloat` reads it, which is what Prometheus uses: decimal or
/// exponent notation, `NaN`, `Inf`/`Infinity` with an optional sign, case-insensitive; no hex,
/// no `_`, no sign on `NaN`, and a finite spelling that overflows is an error, not infinity.
#[inline]
pub(crate) fn parse_value(token: &str) -> Option<f64> {
    if let Some(v) = parse_fast_float(token.as_bytes()) {
        return Some(v);
    }
    let v = token.parse::<f64>().ok()?;
    if v.is_finite() {
        return Some(v);
    }
    let unsigned = token.trim_start_matches(['+', '-']);
    let signed = unsigned.len() != token.len();
    match unsigned.as_bytes().first() {
        Some(b'i' | b'I') => Some(v),
        Some(b'n' | b'N') if !signed => Some(v),
        _ => None,
    }
}

/// Powers of ten that are exact in an f64: 10^22 is the largest.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// Fast path for the common spellings, `[+-]digits[.digits][e[+-]digits]` with at most 15
/// digits in the mantissa and a decimal exponent within ±22: the mantissa is then an integer
/// below 2^53, exact in an f64, the power of ten is exact too, and one multiplication or
/// division rounds correctly (Clinger's fast path), so the result equals `str::parse`'s.
/// Anything else (`NaN`, `Inf`, long mantissas, big exponents, junk) returns `None` and takes
/// the general path.
#[inline(always)]
fn parse_fast_float(b: &[u8]) -> Option<f64> {
    let (negative, b) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let mut i = 0;
    let mut mantissa: u64 = 0;
    let mut digits = 0;
    let mut exponent: i32 = 0;
    while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
        digits += 1;
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
            digits += 1;
            exponent -= 1;
            i += 1;
        }
    }
    // Wrapping arithmetic above only matters past 19 digits, which this rejects.
    if digits == 0 || digits > 15 {
        return None;
    }
    if let Some(&e) = b.get(i) {
        if e | 0x20 != b'e' {
            return None;
        }
        i += 1;
        let negative_exponent = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i32 = 0;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            e = (e * 10 + i32::from(d)).min(10_000);
            i += 1;
        }
        if i == start {
            return None;
        }
        exponent += if negative_exponent { -e } else { e };
    }
    #[allow(clippy::cast_precision_loss)] // at most 15 digits, below 2^53: exact
    let m = mantissa as f64;
    let v = match exponent {
        0..=22 => m * POW10[exponent as usize],
        -22..=-1 => m / POW10[exponent.unsigned_abs() as usize],
        _ => return None,
    };
    Some(if negative { -v } else { v })
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
        let s = parse("a NaN\nb +Inf\nc -Inf\nd -0.5\ne 1e-3\nf Infinity\ng -inf\nh nan\n").unwrap();
        let v: Vec<f64> = s.samples.iter().map(|s| s.value).collect();
        assert!(v[0].is_nan() && v[7].is_nan());
        assert_eq!(
            &v[1..7],
            &[
                f64::INFINITY,
                f64::NEG_INFINITY,
                -0.5,
                0.001,
                f64::INFINITY,
                f64::NEG_INFINITY
            ]
        );
    }

    #[test]
    fn values_follow_go_parse_float() {
        for bad in [
            "+NaN", "-NaN", "1e400", "-1e400", "0x10", "1_000", "0x1p3", "1e", ".", "--1", "1.2.3",
        ] {
            let e = err(&format!("x {bad}\n"));
            assert_eq!(e.column, 3, "{bad}: {e}");
            assert!(e.message.contains("sample value"), "{bad}: {e}");
        }
        let e = err("x 1e400\n");
        assert!(e.message.contains("within the range of a float64"), "{e}");
        for (good, want) in [
            ("1.", 1.0),
            (".5", 0.5),
            ("+3", 3.0),
            ("1E3", 1000.0),
            ("1e-400", 0.0),
            ("0.1", 0.1),
            ("-0.3", -0.3),
            ("123456789012345.6", 123_456_789_012_345.6),
            ("9007199254740993", 9_007_199_254_740_992.0),
        ] {
            let body = format!("x {good}\n");
            assert_eq!(parse(&body).unwrap().samples[0].value, want, "{good}");
        }
        let s = parse("x -0\n").unwrap();
        assert!(s.samples[0].value.is_sign_negative());
    }

    #[test]
    fn fast_float_agrees_with_std() {
        let check = |token: &str| {
            if let Some(fast) = parse_fast_float(token.as_bytes()) {
                let std = token.parse::<f64>();
                assert_eq!(Ok(fast.to_bits()), std.map(f64::to_bits), "{token}");
            }
        };
        for token in [
            "0",
            "-0",
            "+0",
            "7",
            "0.1",
            "0.2",
            "0.3",
            "3430.08",
            "52532.35",
            "1.5",
            "-12.25",
            "999999999999999",
            "99999999999999.9",
            "0.000000000000001",
            "1.000000000000001",
            "5e-324",
            "12345.678901234",
            "1.29772167e+08",
            "1.048576e+06",
            "2.62144e+07",
            "1e22",
            "1e-22",
            "123456789012345e22",
            "1.e5",
            ".5e1",
            "1E5",
            "1e+0",
            "7e-0",
        ] {
            check(token);
        }
        assert_eq!(parse_fast_float(b"1.29772167e+08"), Some(129_772_167.0));
        for token in [
            "", "-", "+", ".", "e5", "1e", "1e+", "1.2.3", "1e5e5", "--1", "NaN", "1x",
        ] {
            assert_eq!(parse_fast_float(token.as_bytes()), None, "{token}");
        }
        // Random tokens over the float alphabet: whenever the fast path answers, std agrees.
        let alphabet = b"0123456789012345678901234567890123456789..eE+-";
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let len = 1 + (next() % 20) as usize;
            let token: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect();
            check(&token);
        }
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
    fn help_keeps_everything_after_the_first_blank() {
        let s = parse("# HELP x  two leading, trailing \n# HELP y\n# HELP z \n").unwrap();
        let help: Vec<_> = s.families.iter().map(|f| f.help.as_deref()).collect();
        assert_eq!(help, [Some(" two leading, trailing "), Some(""), Some("")]);
    }

    #[test]
    fn metadata_keywords_need_a_blank_like_promlex() {
        // `# HELP` and `# TYPE` alone, `# HELPER`: comments.
        let s = parse("# HELP\n# TYPE\n# HELPER x y\n#TYPE x bogus\n# EOF\nx 1\n# EOF\n").unwrap();
        assert!(s.families.is_empty());
        assert_eq!(s.samples.len(), 1);
        let e = err("# HELP \n");
        assert!(e.message.contains("metric name after # HELP"), "{e}");
        let e = err("# TYPE 1x counter\n");
        assert_eq!(e.column, 8);
    }

    #[test]
    fn malformed_unit_lines_are_comments() {
        let s = parse("# UNIT\n# UNIT 9x s\n# UNIT x\n# UNIT x  \n# UNIT y bytes \r\n").unwrap();
        assert_eq!(s.families.len(), 1);
        assert_eq!((s.families[0].name, s.families[0].unit), ("y", Some("bytes")));
    }

    #[test]
    fn no_blank_needed_after_the_closing_brace() {
        let s = parse("x{a=\"1\"}2\ny{}3 4\n").unwrap();
        assert_eq!(s.samples[0].value, 2.0);
        assert_eq!((s.samples[1].value, s.samples[1].timestamp_ms), (3.0, Some(4)));
    }

    #[test]
    fn errors_name_line_column_and_expectation() {
        let e = err("ok 1\nbad{a=\"1\" b=\"2\"} 3\n");
        assert_eq!((e.line, e.column), (2, 11));
        assert!(e.message.contains("expected ',' or '}'"), "{e}");

        let e = err("x{a=\"1\"}\n");
        assert!(e.message.contains("sample value"), "{e}");
        let e = err("x\n");
        assert!(e.message.contains("sample value"), "{e}");
        let e = err("x 1 12.5\n");
        assert!(e.message.contains("integer timestamp"), "{e}");
        assert_eq!(e.column, 5);
        let e = err("x 0x10\n");
        assert!(e.message.contains("sample value"), "{e}");
        let e = err("# TYPE x histo\n");
        assert!(e.message.contains("metric type"), "{e}");
        let e = err("# TYPE x\n");
        assert!(e.message.contains("metric type"), "{e}");
        let e = err("x{a=\"1\",a=\"2\"} 1\n");
        assert!(e.message.contains("found a duplicate \"a\""), "{e}");
        assert_eq!(e.column, 9);
        let e = err("x{a=\"1} 1\n");
        assert!(e.message.contains("close the label value"), "{e}");
        let e = err("1x 1\n");
        assert_eq!((e.line, e.column), (1, 1));
        let e = err("x 1 2 3\n");
        assert!(e.message.contains("end of the line"), "{e}");
        let e = err("x{9a=\"1\"} 1\n");
        assert!(e.message.contains("label name"), "{e}");
        let e = err("x{,} 1\n");
        assert!(e.message.contains("label name"), "{e}");
        let e = err("x{a} 1\n");
        assert!(e.message.contains("'='"), "{e}");
        let e = err("x{a=1} 1\n");
        assert!(e.message.contains("open the label value"), "{e}");
        let e = err("x-y 1\n");
        assert!(e.message.contains("after the metric name"), "{e}");
        let e = err("x 1 # trailing comment\n");
        assert!(e.message.contains("exemplar"), "{e}");
        let e = err("x\r1\n");
        assert_eq!(e.column, 2);
    }

    #[test]
    fn duplicate_check_is_exact() {
        // Names sharing length, first and last bytes are still told apart.
        let mut line = String::from("x{");
        for i in 0..40 {
            line.push_str(&format!("label_{i:02}_x=\"{i}\","));
        }
        line.push_str("} 1\n");
        assert_eq!(parse(&line).unwrap().samples[0].labels.iter().count(), 40);
        let long = "a_very_long_label_name_that_is_longer_than_sixteen";
        let e = err(&format!("x{{{long}=\"1\",b=\"2\",{long}=\"3\"}} 1\n"));
        assert!(e.message.contains("duplicate"), "{e}");
    }

    #[test]
    fn word_scan_agrees_with_the_byte_table() {
        for class in [NAME, LABEL] {
            for byte in 0..=255u8 {
                for pos in 0..10 {
                    let mut b = *b"abcdefghijklmnop";
                    if pos < b.len() {
                        b[pos] = byte;
                    }
                    let mut fast = 0;
                    skip_class(&b, &mut fast, class);
                    let slow = b.iter().position(|&c| !is(c, class)).unwrap_or(b.len());
                    assert_eq!(fast, slow, "class {class} byte {byte:#x} at {pos}");
                }
            }
        }
    }

    #[test]
    fn thousands_of_labels_stay_linear() {
        let mut line = String::from("x{");
        for i in 0..50_000 {
            line.push_str(&format!("l{i}=\"\","));
        }
        let ok = format!("{line}}} 1\n");
        assert_eq!(parse(&ok).unwrap().samples[0].labels.iter().count(), 50_000);
        let dup = format!("{line}l49999=\"\"}} 1\n");
        assert!(err(&dup).message.contains("duplicate \"l49999\""));
        let early = format!("{line}l3=\"\"}} 1\nx{{a=\"1\",a=\"2\"}} 1\n");
        assert!(err(&early).message.contains("duplicate \"l3\""));
        // The set is reset between label sets.
        let two = format!("{line}}} 1\n{line}}} 2\n");
        assert_eq!(parse(&two).unwrap().samples.len(), 2);
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
