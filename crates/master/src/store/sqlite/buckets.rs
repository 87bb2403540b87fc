//! The bucket codec: a counter row's latency buckets as JSON `[[le,count],…]`, with a
//! hand-written parser because every row a window reads is decoded.

use std::fmt::Write as _;

use atlhyper_model::SloCounters;

/// The buckets as JSON `[[le,count],…]`; whole numbers without a fraction (`[[5,12]]`).
/// Counters are finite ([`check_counters`]).
pub(super) fn encode_buckets(counters: &SloCounters) -> String {
    let mut out = String::with_capacity(2 + counters.buckets.len() * 12);
    out.push('[');
    for (i, bucket) in counters.buckets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        push_number(&mut out, bucket.le);
        out.push(',');
        push_number(&mut out, bucket.count);
        out.push(']');
    }
    out.push(']');
    out
}

fn push_number(out: &mut String, x: f64) {
    // Below 2^53 every whole f64 is an exact integer; formatted by hand, as `fmt` is slow
    // for what runs for every bucket written.
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        if x < 0.0 {
            out.push('-');
        }
        let mut n = x.abs() as u64;
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend(digits[i..].iter().map(|&d| char::from(d)));
    } else {
        // Shortest round-trip form, e.g. `0.25` or `1e-7`: valid JSON for finite numbers.
        let _ = write!(out, "{x:?}");
    }
}

/// Parses JSON `[[le, count], …]` into `counters`' buckets, adding to what is there (merged
/// by numeric bound). A hand-written parser, as this runs for every row a window reads; the
/// error is the byte offset where the text stopped making sense.
pub(super) fn decode_buckets(text: &str, counters: &mut SloCounters) -> Result<(), usize> {
    let mut p = Parser { text, at: 0 };
    counters.buckets.reserve(26);
    p.expect(b'[')?;
    if p.peek() == Some(b']') {
        p.at += 1;
    } else {
        // Rows of one group mostly share their bounds: try the next bucket first.
        let mut next = 0;
        loop {
            p.expect(b'[')?;
            let le = p.number()?;
            p.expect(b',')?;
            let count = p.number()?;
            p.expect(b']')?;
            match counters.buckets.get_mut(next) {
                Some(bucket) if bucket.le.total_cmp(&le).is_eq() => bucket.count += count,
                _ => counters.add_bucket(le, count),
            }
            next += 1;
            match p.next()? {
                b',' => {}
                b']' => break,
                _ => return Err(p.at - 1),
            }
        }
    }
    p.skip_whitespace();
    if p.at == text.len() { Ok(()) } else { Err(p.at) }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, usize> {
        let byte = self.peek().ok_or(self.at)?;
        self.at += 1;
        Ok(byte)
    }

    fn expect(&mut self, byte: u8) -> Result<(), usize> {
        if self.next()? == byte {
            Ok(())
        } else {
            Err(self.at - 1)
        }
    }

    fn number(&mut self) -> Result<f64, usize> {
        self.skip_whitespace();
        let start = self.at;
        let bytes = self.text.as_bytes();
        // Fast path, one pass: a plain integer of up to 15 digits is exact in an f64.
        let mut value = 0u64;
        while let Some(digit) = bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'));
            self.at += 1;
        }
        let digits = self.at - start;
        let more = bytes
            .get(self.at)
            .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
        if (1..=15).contains(&digits) && !more {
            return Ok(value as f64);
        }
        while bytes
            .get(self.at)
            .is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.at += 1;
        }
        match self.text[start..self.at].parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_and_bad_text_is_an_error() {
        let mut counters = SloCounters::default();
        for (le, count) in [
            (1.0, 0.0),
            (2.5, 3.0),
            (1e-7, 1.0),
            (50_000.0, 1e20),
            (10.0, 0.125),
            (20.0, -0.0),
            (30.0, -7.0),
        ] {
            counters.add_bucket(le, count);
        }
        let text = encode_buckets(&counters);
        assert_eq!(
            text,
            "[[1e-7,1],[1,0],[2.5,3],[10,0.125],[20,0],[30,-7],[50000,1e20]]"
        );
        let mut back = SloCounters::default();
        decode_buckets(&text, &mut back).unwrap();
        assert_eq!(back.buckets, counters.buckets);
        // serde_json's spelling, whitespace, duplicate and unsorted bounds.
        let mut other = SloCounters::default();
        decode_buckets(" [ [5.0, 2.0], [1, 1] ,[5e0,1] ] ", &mut other).unwrap();
        assert_eq!(
            other.buckets.iter().map(|b| (b.le, b.count)).collect::<Vec<_>>(),
            [(1.0, 1.0), (5.0, 3.0)]
        );
        decode_buckets("[]", &mut SloCounters::default()).unwrap();
        for bad in [
            "",
            "[",
            "[[1,2]",
            "[[1,2],]",
            "[[1]]",
            "[[1,x]]",
            "[[1,2]]x",
            "{}",
            "[[1e999,1]]",
            "[[1,2],[3,4]",
        ] {
            assert!(
                decode_buckets(bad, &mut SloCounters::default()).is_err(),
                "{bad:?}"
            );
        }
    }
}
