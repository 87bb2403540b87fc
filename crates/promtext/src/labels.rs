//! Label sets kept as the validated text between `{` and `}`, iterated without allocating.

use std::borrow::Cow;

/// The label set of a sample: the text between its braces, already validated by the parser.
///
/// Iterating re-reads that text; a set of a dozen labels is a few hundred bytes, and reading it
/// again is cheaper than materialising a vector per sample when most samples are discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Labels<'a> {
    raw: &'a str,
}

impl<'a> Labels<'a> {
    /// Wraps text the parser has validated. Text that is not a valid label set iterates as
    /// far as it is well formed and then stops, it never panics.
    pub(crate) fn from_validated(raw: &'a str) -> Self {
        Self { raw }
    }

    /// The text between the braces, escapes and all.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    pub fn iter(&self) -> LabelIter<'a> {
        LabelIter { rest: self.raw }
    }

    /// The unescaped value of label `name`.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.iter().find(|l| l.name == name).map(|l| l.value())
    }
}

impl<'a> IntoIterator for Labels<'a> {
    type Item = Label<'a>;
    type IntoIter = LabelIter<'a>;
    fn into_iter(self) -> LabelIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Labels<'a> {
    type Item = Label<'a>;
    type IntoIter = LabelIter<'a>;
    fn into_iter(self) -> LabelIter<'a> {
        self.iter()
    }
}

/// One label: its name and its value as written (still escaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label<'a> {
    pub name: &'a str,
    /// The value between the quotes, escapes not yet applied.
    pub raw_value: &'a str,
    escaped: bool,
}

impl<'a> Label<'a> {
    /// The value with `\\`, `\"` and `\n` unescaped; borrowed unless it had a backslash.
    pub fn value(&self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape_label_value(self.raw_value))
        } else {
            Cow::Borrowed(self.raw_value)
        }
    }

    /// Whether the value is `expected`, compared without allocating when it has no escapes.
    pub fn value_is(&self, expected: &str) -> bool {
        if self.escaped {
            self.value() == expected
        } else {
            self.raw_value == expected
        }
    }
}

/// Iterator over a validated label set.
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        let bytes = self.rest.as_bytes();
        let mut i = skip_separators(bytes, 0);
        let name_start = i;
        while i < bytes.len() && !matches!(bytes[i], b'=' | b' ' | b'\t') {
            i += 1;
        }
        let name = &self.rest[name_start..i];
        i = skip_blanks(bytes, i);
        if name.is_empty() || bytes.get(i) != Some(&b'=') {
            self.rest = "";
            return None;
        }
        i = skip_blanks(bytes, i + 1);
        if bytes.get(i) != Some(&b'"') {
            self.rest = "";
            return None;
        }
        let value_start = i + 1;
        let Some((value_end, escaped)) = scan_quoted(bytes, value_start) else {
            self.rest = "";
            return None;
        };
        let label = Label {
            name,
            raw_value: &self.rest[value_start..value_end],
            escaped,
        };
        self.rest = &self.rest[value_end + 1..];
        Some(label)
    }
}

/// Finds the closing quote of a quoted value starting at `start` (just after the opening quote).
/// Returns its index and whether a backslash escape occurred.
#[inline]
pub(crate) fn scan_quoted(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut i = start;
    let mut escaped = false;
    loop {
        i = find_quote_or_backslash(bytes, i)?;
        if bytes[i] == b'"' {
            return Some((i, escaped));
        }
        escaped = true;
        i += 2;
        if i > bytes.len() {
            return None;
        }
    }
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `word` equal to `byte` is set; bytes above the first match may
/// be flagged falsely (borrows), the lowest flag is always exact.
#[inline(always)]
fn flag_bytes(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The index of the first `"` or `\` at or after `start`, eight bytes at a time. Label values
/// are short (tens of bytes), where this beats a `memchr2` call.
#[inline]
pub(crate) fn find_quote_or_backslash(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let flags = flag_bytes(word, b'"') | flag_bytes(word, b'\\');
        if flags != 0 {
            return Some(i + (flags.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while i < bytes.len() {
        if matches!(bytes[i], b'"' | b'\\') {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn skip_blanks(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

fn skip_separators(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b',') {
        i += 1;
    }
    i
}

/// Applies the label-value escapes of the exposition format: `\\`, `\"` and `\n`. Any other
/// backslash sequence is kept as written, as Prometheus does.
pub fn unescape_label_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_names_and_values_with_trailing_comma_and_blanks() {
        let labels = Labels::from_validated(r#"a="1", b = "x\"y" ,"#);
        let got: Vec<_> = labels.iter().map(|l| (l.name, l.value().into_owned())).collect();
        assert_eq!(got, vec![("a", "1".to_owned()), ("b", "x\"y".to_owned())]);
    }

    #[test]
    fn unescapes_only_the_three_escapes() {
        assert_eq!(unescape_label_value(r#"a\\b\"c\nd\te"#), "a\\b\"c\nd\\te");
    }

    #[test]
    fn value_is_compares_unescaped() {
        let labels = Labels::from_validated(r#"path="C:\\x""#);
        let label = labels.iter().next().unwrap();
        assert!(label.value_is(r"C:\x"));
        assert!(!label.value_is(r"C:\\x"));
    }

    #[test]
    fn malformed_text_stops_without_panicking() {
        for raw in ["a", "a=", "a=\"x", "=\"x\"", "a=\"x\\"] {
            let _ = Labels::from_validated(raw).iter().count();
        }
    }
}
