//! Shared helpers for integration tests.
#![allow(dead_code)]

pub mod audio;

/// Creates a fresh temporary directory that is removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp dir")
}
