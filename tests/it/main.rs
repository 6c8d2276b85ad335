//! Integration tests: one binary, a module per area (ripgrep's layout), shared helpers in util.

mod analysis;
mod camera;
mod cli;
mod daemon;
mod emotion;
mod engine;
mod fixtures;
mod import;
mod normalize;
mod scan;
mod simulate;
mod util;
mod vision;
