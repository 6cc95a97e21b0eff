//! Fuzzing harness shared by the CI property run (`core/tests/fuzz.rs`, proptest) and the
//! coverage-guided engine (`fuzz/`, cargo-fuzz / libFuzzer, started by `scripts/fuzz.sh`).
//!
//! Both feed the same byte-level [`targets`]; the seeds of each target (and every input that ever
//! found a bug) are files under `tests/fuzz/corpus/<target>/`, replayed by `cargo test`.
#![allow(dead_code)]

pub mod alloc;
pub mod jwt;
pub mod targets;

/// The corpus folder of the repository (`tests/fuzz/corpus`), from this crate's manifest folder.
pub fn corpus_dir(manifest_dir: &str) -> std::path::PathBuf {
    std::path::Path::new(manifest_dir).join("../tests/fuzz/corpus")
}

/// The files of `target`'s corpus, sorted by name.
pub fn corpus_files(manifest_dir: &str, target: &str) -> Vec<std::path::PathBuf> {
    let dir = corpus_dir(manifest_dir).join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}
