//! `atlhyper slo replay`: SLOs computed offline from saved scrapes (DESIGN.md §5.6), for
//! support bundles, for checking a configuration, and for tests.
//!
//! A directory holds one file per scrape named `<unix-seconds>.prom` (Prometheus text or
//! federation output). The window runs from the first file to the last, through the same
//! [`Window`] the agent runs.

use std::path::{Path, PathBuf};

use atlhyper_model::SloSnapshot;
use atlhyper_promtext::ParseError;
use atlhyper_slo::Window;

use crate::AgentConfig;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot list {dir}: {source}")]
    List { dir: PathBuf, source: std::io::Error },
    #[error("no scrape files in {dir}: expected files named <unix-seconds>.prom")]
    NoFiles { dir: PathBuf },
    #[error("{path}: a scrape file must be named <unix-seconds>.prom")]
    BadName { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: ParseError },
}

/// One scrape file of a replay directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeFile {
    pub path: PathBuf,
    pub unix_seconds: i64,
    pub bytes: u64,
}

/// The `*.prom` files of `dir`, oldest first. Other files are ignored; a `.prom` file whose
/// name is not a number of seconds is an error, so a misnamed scrape is never skipped silently.
pub fn scrape_files(dir: &Path) -> Result<Vec<ScrapeFile>, ReplayError> {
    let list_error = |source| ReplayError::List {
        dir: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("prom") {
            continue;
        }
        let unix_seconds = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| ReplayError::BadName { path: path.clone() })?;
        let bytes = entry
            .metadata()
            .map_err(|source| ReplayError::Read {
                path: path.clone(),
                source,
            })?
            .len();
        files.push(ScrapeFile {
            path,
            unix_seconds,
            bytes,
        });
    }
    if files.is_empty() {
        return Err(ReplayError::NoFiles { dir: dir.to_owned() });
    }
    files.sort_by_key(|f| f.unix_seconds);
    Ok(files)
}

/// Replays `files` in order; `on_file` is called after each one (for progress reporting).
pub fn replay(
    config: &AgentConfig,
    files: &[ScrapeFile],
    mut on_file: impl FnMut(&ScrapeFile),
) -> Result<SloSnapshot, ReplayError> {
    let mut window = Window::new(config.slo_rules());
    for file in files {
        let text = std::fs::read_to_string(&file.path).map_err(|source| ReplayError::Read {
            path: file.path.clone(),
            source,
        })?;
        let scrape = atlhyper_promtext::parse(&text).map_err(|source| ReplayError::Parse {
            path: file.path.clone(),
            source,
        })?;
        window.observe_federation(file.unix_seconds.saturating_mul(1000), &scrape);
        on_file(file);
    }
    Ok(window.snapshot(&config.cluster_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    const EDGE: &str =
        r#"direction="outbound",namespace="shop",deployment="web",dst_namespace="shop",dst_service="api""#;

    #[test]
    fn replays_in_time_order_and_ignores_other_files() {
        let dir = dir_with(&[
            ("1764000060.prom", &format!("request_total{{{EDGE}}} 160\n")),
            ("1764000000.prom", &format!("request_total{{{EDGE}}} 100\n")),
            ("1764000030.prom", &format!("request_total{{{EDGE}}} 130\n")),
            ("README.md", "notes"),
        ]);
        let files = scrape_files(dir.path()).unwrap();
        assert_eq!(
            files.iter().map(|f| f.unix_seconds).collect::<Vec<_>>(),
            [1_764_000_000, 1_764_000_030, 1_764_000_060]
        );
        let snapshot = replay(&AgentConfig::default(), &files, |_| {}).unwrap();
        assert_eq!(snapshot.services[0].total_requests, 60);
        assert_eq!(snapshot.services[0].request_rate, 1.0);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = dir_with(&[
            ("1764000000.prom", "ok 1\n"),
            ("1764000030.prom", "ok 1\nbroken{ 2\n"),
        ]);
        let files = scrape_files(dir.path()).unwrap();
        let e = replay(&AgentConfig::default(), &files, |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("1764000030.prom: line 2, column 9"), "{e}");

        let dir = dir_with(&[("yesterday.prom", "")]);
        let e = scrape_files(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("yesterday.prom") && e.contains("<unix-seconds>.prom"),
            "{e}"
        );
    }
}
