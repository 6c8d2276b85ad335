//! Whole-frame cost on the Yale frames (320x243, one face each), single-threaded as on the
//! box's vision thread: a full detector search, following the face by template, the stages
//! after them (crop, int8 classify), and the whole pipeline (find, crop, classify) with
//! tracking in steady state and with a full search every frame.
//!
//! The frames play as a camera would show them: each of one subject's eleven photos held
//! for `HOLD` frames while the head drifts a pixel or two per frame, so every `HOLD`th frame
//! brings a new expression or light (where following usually fails and the detector
//! searches around the face).
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
use moodbox::vision::follow::Template;
use moodbox::vision::pipeline::{FacePipeline, PipelineSettings};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Frames each photo is held for.
const HOLD: usize = 5;

/// One subject's eleven photos, each held for `HOLD` frames, shifted as the head drifts.
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
    let photos: Option<Vec<GrayFrame>> = paths.iter().map(|p| load_gray(p).ok()).collect();
    let drift = |k: usize| (k as i64 * 2, k as i64);
    Some(
        photos?
            .iter()
            .flat_map(|f| (0..HOLD).map(move |k| shifted(f, drift(k))))
            .collect(),
    )
}

/// `frame` with its content moved by (dx, dy) pixels, the edge repeating.
fn shifted(frame: &GrayFrame, (dx, dy): (i64, i64)) -> GrayFrame {
    let at = |v: i64, len: usize| v.clamp(0, len as i64 - 1) as usize;
    let data = (0..frame.height as i64)
        .flat_map(|y| {
            (0..frame.width as i64)
                .map(move |x| frame.pixel(at(x - dx, frame.width), at(y - dy, frame.height)))
        })
        .collect();
    GrayFrame::new(frame.width, frame.height, data).expect("same size")
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
    group.bench_function("detect_full_frame", |b| {
        b.iter(|| {
            i = (i + 1) % frames.len();
            detector.detect(black_box(&frames[i]))
        })
    });
    if let Some(model) = model() {
        // Following, cropping and classifying the face a full search finds in the first frame.
        let face = detector.detect(&frames[0])[0];
        let template = Template::capture(&frames[0], &face).expect("a face is no flat patch");
        group.bench_function("follow", |b| {
            b.iter(|| template.locate(black_box(&frames[1]), &face))
        });
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
