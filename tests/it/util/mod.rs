//! Shared helpers for integration tests.
#![allow(dead_code)]

pub mod audio;

/// Creates a fresh temporary directory that is removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp dir")
}

/// The repository root.
pub fn repo() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `moodbox` binary with `args` (RUST_LOG cleared, so output is what a user sees).
pub fn moodbox(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_moodbox"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run moodbox")
}

/// stdout then stderr of a finished command, as text.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The model file `name` (e.g. "emotion-int8.onnx") in `MOODBOX_MODEL_DIR` or models/, or
/// `None` after saying why the calling test skips.
pub fn model_file(name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("MOODBOX_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo().join("models"));
    let p = dir.join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} is absent (run models/training/train.py, or set MOODBOX_MODEL_DIR)",
            p.display()
        );
        None
    }
}
