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

/// A command that runs the `moodbox` binary. Under a cross build's emulation
/// (cross/config.toml) the binary is an ARM program the host kernel cannot start, so it goes
/// through the same qemu as the tests, named by `MOODBOX_TEST_RUNNER_<arch>`.
pub fn command() -> std::process::Command {
    let runner = std::env::var(format!("MOODBOX_TEST_RUNNER_{}", std::env::consts::ARCH));
    match runner.as_deref().map(str::split_whitespace) {
        Ok(mut words) => {
            let mut cmd = std::process::Command::new(words.next().expect("runner program"));
            cmd.args(words).arg(env!("CARGO_BIN_EXE_moodbox"));
            cmd
        }
        Err(_) => std::process::Command::new(env!("CARGO_BIN_EXE_moodbox")),
    }
}

/// Runs the `moodbox` binary with `args` (RUST_LOG cleared, so output is what a user sees).
pub fn moodbox(args: &[&str]) -> std::process::Output {
    command()
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
