//! Shared test helpers: where the real Asterisk captures and api-docs live.

#![allow(dead_code)]

use std::path::PathBuf;

/// `/work/shared/ari`, found relative to this crate.
pub fn shared_ari() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ari");
    assert!(
        dir.join("captures").is_dir() && dir.join("api-docs").is_dir(),
        "the ARI references are missing: expected captures/ and api-docs/ under {} \
         (the shared/ folder beside the repository, laid out as shared/ari/...)",
        dir.display()
    );
    dir
}

/// Every `*.jsonl` capture as (file name, frames).
pub fn all_captures() -> Vec<(String, Vec<String>)> {
    let dir = shared_ari().join("captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no *.jsonl captures in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, capture_lines(&p))
        })
        .collect()
}

fn capture_lines(p: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The frames of one capture file, e.g. `answered_by_1001.jsonl`.
pub fn capture(name: &str) -> Vec<String> {
    capture_lines(&shared_ari().join("captures").join(name))
}

/// A JSON file from captures/.
pub fn capture_json(name: &str) -> serde_json::Value {
    let p = shared_ari().join("captures").join(name);
    let text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
}
