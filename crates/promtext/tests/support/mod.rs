//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use atlhyper_promtext::{Sample, Scrape};

/// `crates/promtext/tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `fuzz/corpus/parse` at the workspace root.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse")
}

/// The text of fixture `name` (`linkerd_proxy.prom`, ...).
pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every fixture, by file name, sorted.
pub fn all_fixtures() -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".prom"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let text = fixture(&n);
            (n, text)
        })
        .collect()
}

/// The one sample named `name` whose labels include all of `labels` (unescaped values);
/// panics unless exactly one matches.
pub fn one<'s, 'a>(scrape: &'s Scrape<'a>, name: &str, labels: &[(&str, &str)]) -> &'s Sample<'a> {
    let found: Vec<&Sample<'a>> = all(scrape, name, labels);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {name} with {labels:?}, found {}",
        found.len()
    );
    found[0]
}

/// The samples named `name` whose labels include all of `labels`.
pub fn all<'s, 'a>(scrape: &'s Scrape<'a>, name: &str, labels: &[(&str, &str)]) -> Vec<&'s Sample<'a>> {
    scrape
        .samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| labels.iter().all(|(k, v)| s.label(k).as_deref() == Some(*v)))
        .collect()
}

/// Label names of a sample, in order.
pub fn label_names<'a>(sample: &Sample<'a>) -> Vec<&'a str> {
    sample.labels.iter().map(|l| l.name).collect()
}

/// Checks the classic histogram convention for every `<family>_bucket` series: cumulative,
/// ascending `le` (compared as floats), a `+Inf` bucket equal to `<family>_count`.
pub fn check_histograms(scrape: &Scrape<'_>, family: &str) {
    use std::collections::BTreeMap;
    type Key = Vec<(String, String)>;
    let bucket_name = format!("{family}_bucket");
    let count_name = format!("{family}_count");
    let key = |s: &Sample<'_>| -> Key {
        let mut k: Vec<_> = s
            .labels
            .iter()
            .filter(|l| l.name != "le")
            .map(|l| (l.name.to_owned(), l.value().into_owned()))
            .collect();
        k.sort();
        k
    };
    let mut series: BTreeMap<Key, Vec<(f64, f64)>> = BTreeMap::new();
    for s in scrape.samples.iter().filter(|s| s.name == bucket_name) {
        let le: f64 = s
            .label("le")
            .expect("bucket has le")
            .parse()
            .expect("le is a float");
        series.entry(key(s)).or_default().push((le, s.value));
    }
    assert!(!series.is_empty(), "no {bucket_name} series");
    for (k, mut buckets) in series {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{family} {k:?} not cumulative"
        );
        let (le, inf) = *buckets.last().expect("non-empty");
        assert_eq!(le, f64::INFINITY, "{family} {k:?} has no +Inf bucket");
        let count = scrape
            .samples
            .iter()
            .find(|s| s.name == count_name && key(s) == k)
            .unwrap_or_else(|| panic!("{family} {k:?} has no _count"));
        assert_eq!(count.value, inf, "{family} {k:?}: +Inf bucket != _count");
    }
}
