//! Ingestion speed: parses every captured frame repeatedly with `parse_frame` and, in the same
//! run, with `serde_json::from_str::<Value>` as a baseline; prints events/s and the ratio.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use contactd_ari::{parse_frame, AriEvent, DEFAULT_MAX_FRAME_LEN};

fn frames() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ari/captures");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => panic!("cannot read captures at {}: {e}", dir.display()),
    };
    files.sort();
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
    {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        out.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
    }
    assert!(!out.is_empty(), "no frames under {}", dir.display());
    out
}

/// Runs `f` over all frames until `budget` has passed; returns frames per second.
fn run(frames: &[String], budget: Duration, mut f: impl FnMut(&str) -> usize) -> (f64, usize) {
    let start = Instant::now();
    let mut n = 0usize;
    let mut sink = 0usize;
    while start.elapsed() < budget {
        for fr in frames {
            sink = sink.wrapping_add(f(black_box(fr)));
        }
        n += frames.len();
    }
    (n as f64 / start.elapsed().as_secs_f64(), sink)
}

fn main() {
    let frames = frames();
    let bytes: usize = frames.iter().map(String::len).sum();
    println!(
        "{} frames, {} bytes, mean {} bytes/frame",
        frames.len(),
        bytes,
        bytes / frames.len()
    );
    let budget = Duration::from_secs(3);
    // Warm up both paths.
    let _ = run(&frames, Duration::from_millis(300), |f| {
        serde_json::from_str::<serde_json::Value>(f)
            .map_or(0, |v| v.as_object().map_or(0, |o| o.len()))
    });
    let (base, s1) = run(&frames, budget, |f| {
        serde_json::from_str::<serde_json::Value>(f)
            .map_or(0, |v| v.as_object().map_or(0, |o| o.len()))
    });
    let (ours, s2) = run(&frames, budget, |f| {
        match parse_frame(f, DEFAULT_MAX_FRAME_LEN) {
            Ok(AriEvent::Unknown { .. }) => 2,
            Ok(ev) => ev.event_type().len(),
            Err(_) => 1,
        }
    });
    println!(
        "baseline serde_json::Value : {base:>12.0} events/s ({:.1} MB/s)",
        base * bytes as f64 / frames.len() as f64 / 1e6
    );
    println!(
        "contactd_ari::parse_frame  : {ours:>12.0} events/s ({:.1} MB/s)",
        ours * bytes as f64 / frames.len() as f64 / 1e6
    );
    println!("ratio parse_frame / Value  : {:.2}", ours / base);
    println!(
        "target 50000 events/s      : {}",
        if ours >= 50_000.0 { "met" } else { "NOT met" }
    );
    black_box((s1, s2));
}
