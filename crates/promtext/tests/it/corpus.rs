//! Replays every file of the fuzz corpus (`fuzz/corpus/parse/`) through the fuzz target's
//! check, so `cargo test` keeps what fuzzing found fixed (DESIGN §7.8).

use atlhyper_promtext::fuzz_check;

use crate::support::corpus_dir;

#[test]
fn fuzz_corpus_replays_clean() {
    let dir = corpus_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "only {} corpus files in {}",
        files.len(),
        dir.display()
    );
    for path in files {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| fuzz_check(&data));
        assert!(outcome.is_ok(), "fuzz check failed on {}", path.display());
    }
}
