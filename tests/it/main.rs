//! Integration tests: one binary, a module per area (ripgrep's layout), shared helpers in util.

mod cli;
mod daemon;
mod engine;
mod fixtures;
mod import;
mod scan;
mod util;
