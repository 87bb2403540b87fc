//! Malformed bodies fail as a whole, with the line, the column and what was expected.

use atlhyper_promtext::{ParseError, parse};

use crate::support::fixture;

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(s) => panic!(
            "expected an error, parsed {} samples from {text:?}",
            s.samples.len()
        ),
        Err(e) => e,
    }
}

/// Replaces line `line_no` (1-based) of `text` with `with`.
fn replace_line(text: &str, line_no: usize, with: &str) -> String {
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines[line_no - 1] = with;
    lines.join("\n")
}

#[test]
fn one_bad_line_fails_a_real_body_at_that_line() {
    let text = fixture("linkerd_proxy.prom");
    let total = text.lines().count();
    for (line_no, bad, column, expected) in [
        (
            5,
            "request_total{direction=\"inbound\" 12",
            35,
            "expected ',' or '}'",
        ),
        (
            40,
            "response_latency_ms_bucket{le=\"1\"} twelve",
            36,
            "sample value",
        ),
        (100, "# TYPE response_total countr", 23, "metric type"),
        (
            150,
            "tcp_open_total{peer=\"src\",peer=\"dst\"} 1",
            27,
            "duplicate \"peer\"",
        ),
        (200, "process_cpu_seconds_total 3.41 1.5", 32, "integer timestamp"),
        (
            total,
            "outbound_http_balancer_endpoints{endpoint_state=\"ready} 1",
            58,
            "close the label value",
        ),
    ] {
        let body = replace_line(&text, line_no, bad);
        let e = err(&body);
        assert_eq!((e.line, e.column), (line_no, column), "{bad}: {e}");
        assert!(e.message.starts_with("expected "), "{e}");
        assert!(e.message.contains(expected), "{bad}: {e}");
        assert_eq!(
            e.to_string(),
            format!("line {line_no}, column {column}: {}", e.message)
        );
    }
}

#[test]
fn messages_say_what_was_expected() {
    for (body, line, column, expected) in [
        (
            "x{a=\"1\"",
            1,
            8,
            "expected ',' or '}' after the label value, found the end of the line",
        ),
        (
            "x{a=\"1\",",
            1,
            9,
            "expected a label name or '}', found the end of the line",
        ),
        (
            "x{a=\"1\" , =\"2\"} 1",
            1,
            11,
            "expected a label name or '}', found '='",
        ),
        (
            "x{a \"1\"} 1",
            1,
            5,
            "expected '=' after the label name, found '\"'",
        ),
        (
            "x{a=} 1",
            1,
            5,
            "expected '\"' to open the label value, found '}'",
        ),
        (
            "x{a=\"1\"} ",
            1,
            10,
            "expected a sample value, found the end of the line",
        ),
        (
            "x{a=\"1\"} 1 2 3",
            1,
            14,
            "expected the end of the line after the sample, found '3'",
        ),
        (
            "x 1e999",
            1,
            3,
            "expected a sample value within the range of a float64, found \"1e999\"",
        ),
        (
            "x NaN2",
            1,
            3,
            "expected a number, NaN, +Inf or -Inf as the sample value, found \"NaN2\"",
        ),
        (
            "x 1 1e3",
            1,
            5,
            "expected an integer timestamp in milliseconds, found \"1e3\"",
        ),
        (
            "x 1 99999999999999999999",
            1,
            5,
            "expected an integer timestamp in milliseconds",
        ),
        ("\n\n{a=\"1\"} 1", 3, 1, "expected a metric name, found '{'"),
        ("é 1", 1, 1, "expected a metric name, found 'é'"),
        ("x{é=\"1\"} 1", 1, 3, "expected a label name or '}', found 'é'"),
        ("x{a=\"é\" b=\"\"} 1", 1, 9, "expected ',' or '}'"),
        (
            "# HELP 1x help",
            1,
            8,
            "expected a metric name after # HELP, found '1'",
        ),
        (
            "# HELP x-y help",
            1,
            9,
            "expected a space between the metric name and the help text",
        ),
        ("# TYPE x", 1, 9, "expected a metric type"),
        ("# TYPE x COUNTER", 1, 10, "found \"COUNTER\""),
        ("x 1 # {a=\"1\"}", 1, 14, "expected an exemplar value"),
        (
            "x 1 # {a=\"1\"} 2 later",
            1,
            17,
            "expected an exemplar timestamp in seconds",
        ),
        ("x 1 # trace", 1, 7, "expected '{' to open the exemplar labels"),
    ] {
        let e = err(body);
        assert_eq!((e.line, e.column), (line, column), "{body:?}: {e}");
        assert!(e.message.contains(expected), "{body:?}: {e}");
    }
}

#[test]
fn what_prometheus_accepts_we_accept() {
    for body in [
        "",
        "\n\n",
        "# just a comment\n#\n#nospace\n# EOF\n",
        "x 1",
        "  x 1  ",
        "x\t1\t2",
        "x{} 1",
        "x {a=\"1\"} 1",
        "x{ a = \"1\" , b=\"2\" , } 1",
        "x{a=\"1\"}1",
        "x{a=\"\\t\\x\"} 1",
        ":colon:name 1",
        "x{__name__=\"y\"} 1",
        "x 1 -5",
        "x Inf\ny +inf\nz -Infinity\nw nan",
        "x 1.\ny .5\nz 5e-1\nw +1E+3",
        "x{a=\"\u{0}\u{7f}\r\t日本\"} 1",
        "# HELP x\n# HELP y \n# TYPE x counter\n# TYPE y untyped\n# UNIT x\n",
        "# TYPE x gaugehistogram\n# TYPE y stateset\n# TYPE z info\n# TYPE w unknown\n",
    ] {
        if let Err(e) = parse(body) {
            panic!("{body:?}: {e}");
        }
    }
}
