//! Whole-frame cost on the Yale frames (320x243, one face each), single-threaded as on the
//! box's vision thread: detection alone (a region search while tracking, a full search), the
//! stages after it (crop, int8 classify), and the whole pipeline (detect, crop, classify)
//! with tracking in steady state and with a full search every frame.
//!
//!     MOODBOX_MODEL_DIR=/tmp/mb-model cargo bench --bench vision
//!
//! Frames come from ../shared/data/faces/yale, the model from `MOODBOX_MODEL_DIR` or models/;
//! what is missing is skipped with a message.

use criterion::{criterion_group, criterion_main, Criterion};
use moodbox::camera::image::load_gray;
use moodbox::camera::GrayFrame;
use moodbox::emotion::model::EmotionModel;
use moodbox::vision::crop::{crop_face, DEFAULT_CROP_SCALE};
use moodbox::vision::detect::FaceDetector;
use moodbox::vision::pipeline::{FacePipeline, PipelineSettings};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One subject's eleven frames, in a row as a camera would show them.
fn frames() -> Option<Vec<GrayFrame>> {
    let dir = repo().join("../shared/data/faces/yale");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: {} is absent", dir.display());
        return None;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_str().is_some_and(|s| s.contains("subject01.")))
        .collect();
    paths.sort();
    paths.iter().map(|p| load_gray(p).ok()).collect()
}

fn model() -> Option<EmotionModel> {
    let dir = std::env::var_os("MOODBOX_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"));
    let path = dir.join("emotion-int8.onnx");
    match EmotionModel::load(&path, false) {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("skipping the pipeline benchmarks: {e} (or set MOODBOX_MODEL_DIR)");
            None
        }
    }
}

fn whole_frame(c: &mut Criterion) {
    let Some(frames) = frames() else { return };
    let mut group = c.benchmark_group("vision_per_frame");
    let mut detector = FaceDetector::new(40);
    let mut i = 0;
    let settings = PipelineSettings {
        full_search_every: 1000,
        ..PipelineSettings::default()
    };
    let mut no_model = FacePipeline::new(settings, None);
    group.bench_function("tracked_detect_only", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            no_model.process(black_box(&frames[i]))
        })
    });
    group.bench_function("detect_full_frame", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            detector.detect(black_box(&frames[i]))
        })
    });
    if let Some(model) = model() {
        // The stages after detection, on the face the detector finds in the first frame.
        let face = detector.detect(&frames[0])[0];
        group.bench_function("crop", |b| {
            b.iter(|| crop_face(black_box(&frames[0]), &face, DEFAULT_CROP_SCALE))
        });
        let crop = crop_face(&frames[0], &face, DEFAULT_CROP_SCALE);
        group.bench_function("classify", |b| b.iter(|| model.classify(black_box(&crop))));
        for (name, every) in [("pipeline_tracked", 1000), ("pipeline_full_search", 1)] {
            let settings = PipelineSettings {
                full_search_every: every,
                ..PipelineSettings::default()
            };
            let mut pipeline = FacePipeline::new(settings, Some(model.clone()));
            group.bench_function(name, |b| {
                b.iter(|| {
                    i = (i + 1) % frames.len();
                    pipeline.process(black_box(&frames[i]))
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    targets = whole_frame
}
criterion_main!(benches);
