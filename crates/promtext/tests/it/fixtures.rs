//! Each fixture under `tests/fixtures/` parses, and specific samples, labels, values and
//! families come out as written.

use atlhyper_promtext::{MetricType, fuzz_check, parse};

use crate::support::{all, all_fixtures, check_histograms, fixture, label_names, one};

#[test]
fn every_fixture_parses_and_round_trips() {
    let fixtures = all_fixtures();
    assert!(
        fixtures.len() >= 6,
        "fixtures: {:?}",
        fixtures.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, text) in &fixtures {
        let scrape = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!scrape.samples.is_empty(), "{name}: no samples");
        fuzz_check(text.as_bytes());
        // The same body with CRLF line ends parses to the same samples.
        let crlf = text.replace('\n', "\r\n");
        let again = parse(&crlf).unwrap_or_else(|e| panic!("{name} with CRLF: {e}"));
        atlhyper_promtext::assert_same_scrape(&scrape, &again);
    }
}

#[test]
fn linkerd_proxy_classic_part() {
    let text = fixture("linkerd_proxy.prom");
    let s = parse(&text).unwrap();

    let request_total = s.family("request_total").expect("request_total family");
    assert_eq!(request_total.kind, Some(MetricType::Counter));
    assert_eq!(
        request_total.help.as_deref(),
        Some("Total count of HTTP requests.")
    );
    assert_eq!(
        s.kind_of("response_latency_ms_bucket"),
        Some(MetricType::Histogram)
    );
    assert_eq!(s.kind_of("tcp_open_connections"), Some(MetricType::Gauge));

    // Inbound, 2.18+ shape: no authority, srv_port, route_* and authz_*.
    let inbound = one(&s, "request_total", &[("direction", "inbound"), ("tls", "true")]);
    assert_eq!(inbound.value, 12.0);
    assert_eq!(inbound.label("authority"), None);
    assert_eq!(
        inbound.label("client_id").as_deref(),
        Some("web.emojivoto.serviceaccount.identity.linkerd.cluster.local")
    );
    assert_eq!(inbound.label("srv_group").as_deref(), Some(""));
    assert_eq!(
        label_names(inbound)[..4],
        ["direction", "target_addr", "target_ip", "target_port"]
    );
    assert_eq!(inbound.timestamp_ms, None);

    // Outbound through a Service, with the destination's labels.
    let failures = one(
        &s,
        "response_total",
        &[("dst_service", "voting-svc"), ("status_code", "503")],
    );
    assert_eq!(failures.value, 3.0);
    assert_eq!(failures.label("classification").as_deref(), Some("failure"));
    assert_eq!(failures.label("grpc_status").as_deref(), Some(""));
    // gRPC: the numeric status, and Unavailable classified as a failure.
    let grpc = one(&s, "response_total", &[("grpc_status", "14")]);
    assert_eq!(grpc.label("classification").as_deref(), Some("failure"));
    // A failure before any response head has no status_code at all.
    let timeout = one(&s, "response_total", &[("error", "timeout")]);
    assert_eq!(timeout.label("status_code"), None);
    assert_eq!(timeout.value, 1.0);
    // Straight to a pod IP: no dst_service, no authority.
    let direct = one(&s, "request_total", &[("dst_pod", "prometheus-0")]);
    assert_eq!(
        (direct.label("dst_service"), direct.label("authority")),
        (None, None)
    );

    // Latency buckets: le 1..50000 and +Inf, `Display` style, integer ms sums.
    let voting = [("dst_service", "voting-svc"), ("status_code", "200")];
    let buckets = all(&s, "response_latency_ms_bucket", &voting);
    let les: Vec<_> = buckets
        .iter()
        .map(|b| b.label("le").unwrap().into_owned())
        .collect();
    assert_eq!(les.len(), 26);
    assert_eq!(
        (les[0].as_str(), les[15].as_str(), les[24].as_str()),
        ("1", "1000", "50000")
    );
    assert_eq!(les[25], "+Inf");
    assert_eq!(one(&s, "response_latency_ms_count", &voting).value, 1042.0);
    assert_eq!(one(&s, "response_latency_ms_sum", &voting).value, 19873.0);
    check_histograms(&s, "response_latency_ms");

    // Transport metrics: errno on close, large byte counts.
    let reset = one(&s, "tcp_close_total", &[("errno", "ECONNRESET")]);
    assert_eq!(reset.label("peer").as_deref(), Some("dst"));
    let read = one(
        &s,
        "tcp_read_bytes_total",
        &[("peer", "dst"), ("direction", "outbound")],
    );
    assert_eq!(read.value, 129_772_167.0);
    assert_eq!(one(&s, "process_start_time_seconds", &[]).value, 1_763_999_100.0);
}

#[test]
fn linkerd_proxy_openmetrics_tail() {
    let text = fixture("linkerd_proxy.prom");
    let s = parse(&text).unwrap();

    let duration = s
        .family("outbound_http_route_request_duration_seconds")
        .expect("route duration family");
    assert_eq!(duration.kind, Some(MetricType::Histogram));
    assert_eq!(duration.unit, Some("seconds"));
    assert_eq!(
        duration.help.as_deref(),
        Some("The time between request initialization and response completion.")
    );
    // Counters are declared without `_total`; the samples carry it and `_created`.
    let statuses = s.family("outbound_http_route_request_statuses").unwrap();
    assert_eq!(statuses.kind, Some(MetricType::Counter));
    assert_eq!(
        s.kind_of("outbound_http_route_request_statuses_total"),
        Some(MetricType::Counter)
    );
    assert_eq!(
        s.kind_of("outbound_http_route_request_duration_seconds_created"),
        Some(MetricType::Histogram)
    );

    // `_sum` and `_count` come before the buckets; `le` is the first label, `1.0`-style.
    let names: Vec<&str> = s
        .samples
        .iter()
        .map(|x| x.name)
        .filter(|n| n.starts_with("outbound_http_route_request_duration_seconds"))
        .collect();
    assert_eq!(
        names[..3],
        [
            "outbound_http_route_request_duration_seconds_sum",
            "outbound_http_route_request_duration_seconds_count",
            "outbound_http_route_request_duration_seconds_bucket",
        ]
    );
    let sum = one(&s, "outbound_http_route_request_duration_seconds_sum", &[]);
    assert_eq!(sum.value, 0.559_471_319_999_999_9);
    assert_eq!(sum.label("hostname").as_deref(), Some(""));
    let bucket = one(
        &s,
        "outbound_http_route_request_duration_seconds_bucket",
        &[("le", "1.0")],
    );
    assert_eq!(label_names(bucket)[0], "le");
    assert_eq!(bucket.value, 1045.0);
    check_histograms(&s, "outbound_http_route_request_duration_seconds");

    let created = one(&s, "outbound_http_route_request_duration_seconds_created", &[]);
    assert_eq!(created.value, 1_763_999_102.118);
    let ok = one(
        &s,
        "outbound_http_route_request_statuses_total",
        &[("http_status", "200"), ("error", "")],
    );
    assert_eq!(ok.value, 1042.0);

    // `# EOF` closes the body; the last sample is the one before it.
    assert!(text.trim_end().ends_with("# EOF"));
    assert_eq!(s.samples.last().unwrap().name, "outbound_http_balancer_endpoints");
}

#[test]
fn linkerd_eof_in_the_middle_is_a_comment() {
    // The classic formatter runs first and the OpenMetrics registry (with its `# EOF`) last,
    // but nothing guarantees it: samples after an `# EOF` still count.
    let text = fixture("linkerd_proxy.prom");
    let (head, tail) = text.split_at(text.find("# HELP outbound_http_route").unwrap());
    let reordered = format!("{tail}{head}");
    let a = parse(&text).unwrap();
    let b = parse(&reordered).unwrap();
    assert_eq!(a.samples.len(), b.samples.len());
    assert_eq!(b.samples.last().unwrap().name, "process_resident_memory_bytes");
}

#[test]
fn federation_output() {
    let text = fixture("federation.prom");
    let s = parse(&text).unwrap();
    assert!(
        s.families
            .iter()
            .all(|f| f.kind == Some(MetricType::Untyped) && f.help.is_none())
    );
    assert_eq!(s.kind_of("response_latency_ms_bucket"), Some(MetricType::Untyped));
    for sample in &s.samples {
        let ts = sample.timestamp_ms.expect("federation samples carry timestamps");
        assert!((1_763_999_000_000..1_764_000_001_000).contains(&ts), "{ts}");
        let names = label_names(sample);
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "labels not sorted: {names:?}"
        );
        for l in ["job", "instance", "namespace", "pod", "deployment"] {
            assert!(sample.label(l).is_some(), "{} lacks {l}", sample.name);
        }
        assert_eq!(sample.label("job").as_deref(), Some("linkerd-proxy"));
    }
    // Go `%g` values.
    let max_fds = &all(&s, "process_max_fds", &[])[0];
    assert_eq!(max_fds.value, 1_048_576.0);
    let start = one(
        &s,
        "process_start_time_seconds",
        &[("pod", "catalog-backend-tw7tr2xrxz-x6wgs")],
    );
    assert_eq!(start.value, 1_762_330_394.0);
    assert_eq!(start.timestamp_ms, Some(1_763_999_986_329));
    let cpu = one(
        &s,
        "process_cpu_seconds_total",
        &[("pod", "catalog-backend-tw7tr2xrxz-x6wgs")],
    );
    assert_eq!(cpu.value, 3430.08);
    // One full latency histogram: 26 buckets, `le` sorted as a string (+Inf, 1, 10, 100, ...).
    let buckets = all(&s, "response_latency_ms_bucket", &[]);
    assert_eq!(buckets.len(), 26);
    assert_eq!(buckets[0].label("le").as_deref(), Some("+Inf"));
    assert_eq!(buckets[1].label("le").as_deref(), Some("1"));
    let mut les: Vec<f64> = buckets
        .iter()
        .map(|b| b.label("le").unwrap().parse().unwrap())
        .collect();
    les.sort_by(f64::total_cmp);
    assert_eq!((les[0], les[24], les[25]), (1.0, 50_000.0, f64::INFINITY));
}

#[test]
fn traefik_v3_client_golang_style() {
    let text = fixture("traefik_v3.prom");
    let s = parse(&text).unwrap();
    // `%g` counts.
    let ok = one(
        &s,
        "traefik_entrypoint_requests_total",
        &[("code", "200"), ("entrypoint", "websecure")],
    );
    assert_eq!(ok.value, 129_772_167.0);
    // client_golang sorts label names and prints `le` last.
    for sample in s.samples.iter().filter(|x| x.name.starts_with("traefik_")) {
        let names = label_names(sample);
        let (last, rest) = match names.split_last() {
            Some((&"le", rest)) => ("le", rest),
            Some((last, _)) => (*last, &names[..]),
            None => continue,
        };
        assert!(rest.windows(2).all(|w| w[0] < w[1]), "{} {names:?}", sample.name);
        if sample.name.ends_with("_bucket") {
            assert_eq!(last, "le");
        }
    }
    // gRPC status in `code`, client disconnects as 499.
    assert_eq!(
        one(&s, "traefik_entrypoint_requests_total", &[("protocol", "grpc")]).value,
        3.0
    );
    let inf = one(
        &s,
        "traefik_entrypoint_request_duration_seconds_bucket",
        &[("code", "499"), ("le", "+Inf")],
    );
    assert_eq!(inf.value, 8.0);
    let five = one(
        &s,
        "traefik_entrypoint_request_duration_seconds_bucket",
        &[("code", "499"), ("le", "5")],
    );
    assert_eq!(five.value, 7.0);
    for family in [
        "traefik_entrypoint_request_duration_seconds",
        "traefik_router_request_duration_seconds",
        "traefik_service_request_duration_seconds",
    ] {
        assert_eq!(s.family(family).unwrap().kind, Some(MetricType::Histogram));
        check_histograms(&s, family);
    }
    let tiny = one(
        &s,
        "traefik_service_request_duration_seconds_sum",
        &[("code", "503")],
    );
    assert_eq!(tiny.value, 0.011_785_495_999_999_996);
    // Router and service names as the Kubernetes providers build them.
    let router = one(
        &s,
        "traefik_router_requests_total",
        &[("service", "shop-storefront-80@kubernetescrd")],
    );
    assert_eq!(
        router.label("router").as_deref(),
        Some("shop-storefront-6b204d94623b3df4370c@kubernetescrd")
    );
    let cert = one(&s, "traefik_tls_certs_not_after", &[]);
    assert_eq!(
        cert.label("sans").as_deref(),
        Some("shop.example.com,www.shop.example.com")
    );
    assert_eq!(cert.value, 1_771_756_799.0);
    assert_eq!(
        one(&s, "traefik_open_connections", &[("entrypoint", "websecure")]).value,
        212.0
    );
    // The Go runtime's summary.
    assert_eq!(s.kind_of("go_gc_duration_seconds"), Some(MetricType::Summary));
    assert_eq!(
        one(&s, "go_gc_duration_seconds", &[("quantile", "1")]).value,
        0.003_418_265
    );
    assert_eq!(one(&s, "go_gc_duration_seconds_count", &[]).value, 7436.0);
    assert_eq!(
        one(&s, "go_info", &[]).label("version").as_deref(),
        Some("go1.23.4")
    );
    assert_eq!(one(&s, "process_start_time_seconds", &[]).value, 1_763_987_425.63);
}

#[test]
fn traefik_v2_families() {
    let text = fixture("traefik_v2.prom");
    let s = parse(&text).unwrap();
    assert_eq!(
        s.kind_of("traefik_entrypoint_open_connections"),
        Some(MetricType::Gauge)
    );
    assert_eq!(
        s.kind_of("traefik_config_reloads_failure_total"),
        Some(MetricType::Counter)
    );
    assert_eq!(
        one(&s, "traefik_config_last_reload_success", &[]).value,
        1_698_123_456.7
    );
    let masked = one(&s, "traefik_service_requests_total", &[("code", "401")]);
    assert_eq!(masked.label("service").as_deref(), Some("******@kubernetescrd"));
    assert_eq!(masked.value, 5.0);
    let ws = one(
        &s,
        "traefik_entrypoint_open_connections",
        &[("protocol", "websocket")],
    );
    assert_eq!(ws.value, 2.0);
    assert_eq!(
        one(&s, "traefik_entrypoint_requests_total", &[("code", "413")])
            .label("entrypoint")
            .as_deref(),
        Some("websecure")
    );
    check_histograms(&s, "traefik_entrypoint_request_duration_seconds");
    check_histograms(&s, "traefik_service_request_duration_seconds");
}

#[test]
fn node_exporter_excerpt() {
    let text = fixture("node_exporter.prom");
    let s = parse(&text).unwrap();
    assert_eq!(all(&s, "node_cpu_seconds_total", &[("cpu", "1")]).len(), 8);
    assert_eq!(
        one(&s, "node_cpu_seconds_total", &[("cpu", "0"), ("mode", "idle")]).value,
        81_462.34
    );
    assert_eq!(one(&s, "node_memory_MemTotal_bytes", &[]).value, 33_560_559_616.0);
    assert_eq!(one(&s, "node_load1", &[]).value, 0.61);
    assert_eq!(s.kind_of("node_load1"), Some(MetricType::Gauge));
    // Label values with blanks, parentheses, `#`, commas and escapes.
    let usb = one(
        &s,
        "node_filesystem_avail_bytes",
        &[("mountpoint", "/media/USB Stick (2)")],
    );
    assert_eq!(usb.value, 7_407_206_400.0);
    let denied = one(
        &s,
        "node_filesystem_avail_bytes",
        &[("device_error", "permission denied")],
    );
    assert_eq!(denied.label("fstype").as_deref(), Some("overlay"));
    let eth0 = one(&s, "node_network_info", &[("device", "eth0")]);
    assert_eq!(eth0.label("ifalias").as_deref(), Some("uplink \"A\" \\ rack 7"));
    let uname = one(&s, "node_uname_info", &[]);
    assert_eq!(
        uname.label("version").as_deref(),
        Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)")
    );
    let backup = one(&s, "node_backup_last_run_info", &[]);
    assert_eq!(backup.label("path").as_deref(), Some("C:\\backups\\nightly"));
    assert_eq!(
        backup.label("result").as_deref(),
        Some("ok, \"12 files\"\nno errors")
    );
    // HELP unescapes `\\` and `\n` only.
    assert_eq!(
        s.family("node_backup_last_run_info").unwrap().help.as_deref(),
        Some("Written by a textfile script: C:\\backups\\nightly.ps1\nsecond line of help.")
    );
    assert_eq!(
        s.family("node_network_info").unwrap().help.as_deref(),
        Some("Non-numeric data from /sys/class/net/<iface>, value is always 1.")
    );
    assert_eq!(one(&s, "node_time_seconds", &[]).value, 1_764_000_001.337_6);
}

#[test]
fn prometheus_docs_example() {
    let text = fixture("prometheus_docs.prom");
    let s = parse(&text).unwrap();
    assert_eq!(s.samples.len(), 20);
    let post = one(&s, "http_requests_total", &[("code", "400")]);
    assert_eq!((post.value, post.timestamp_ms), (3.0, Some(1_395_066_363_000)));
    let msdos = one(&s, "msdos_file_access_time_seconds", &[]);
    assert_eq!(msdos.label("path").as_deref(), Some("C:\\DIR\\FILE.TXT"));
    assert_eq!(
        msdos.label("error").as_deref(),
        Some("Cannot find file:\n\"FILE.TXT\"")
    );
    assert_eq!(msdos.value, 1_458_255_915.0);
    assert!(
        msdos.labels.raw().contains("\\\\DIR"),
        "raw text keeps the escapes"
    );
    assert_eq!(one(&s, "metric_without_timestamp_and_labels", &[]).value, 12.47);
    let weird = one(&s, "something_weird", &[("problem", "division by zero")]);
    assert_eq!(
        (weird.value, weird.timestamp_ms),
        (f64::INFINITY, Some(-3_982_045))
    );
    assert_eq!(
        s.kind_of("http_request_duration_seconds_bucket"),
        Some(MetricType::Histogram)
    );
    check_histograms(&s, "http_request_duration_seconds");
    assert_eq!(s.kind_of("rpc_duration_seconds"), Some(MetricType::Summary));
    assert_eq!(
        one(&s, "rpc_duration_seconds", &[("quantile", "0.99")]).value,
        76_656.0
    );
    assert_eq!(one(&s, "rpc_duration_seconds_sum", &[]).value, 17_560_473.0);
    assert_eq!(
        s.family("http_requests_total").unwrap().help.as_deref(),
        Some("The total number of HTTP requests.")
    );
}
