//! `atlhyper slo replay`: the agent's replay with a progress bar for large inputs.

use std::path::Path;

use anyhow::Result;
use atlhyper_agent::AgentConfig;
use atlhyper_agent::replay::{replay, scrape_files};
use atlhyper_model::SloSnapshot;
use indicatif::{ProgressBar, ProgressStyle};

/// Inputs at least this large get a progress bar (on stderr, and only on a terminal).
const PROGRESS_BYTES: u64 = 64 * 1024 * 1024;

pub fn run(config: &Path, dir: &Path) -> Result<SloSnapshot> {
    let config = AgentConfig::from_file(config)?;
    let files = scrape_files(dir)?;
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let progress = if total >= PROGRESS_BYTES {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} replaying {bytes}/{total_bytes} [{bar:30}] {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let snapshot = replay(&config, &files, |file| {
        progress.inc(file.bytes);
        progress.set_message(
            file.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
    });
    progress.finish_and_clear();
    Ok(snapshot?)
}
