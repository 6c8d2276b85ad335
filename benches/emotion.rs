//! Per-face inference in tract: the f32 model, the int8 model, and int8 with flip
//! test-time augmentation (face + mirror as one batch of two). Single-threaded, as on the
//! box's vision thread. Budget on a Raspberry Pi 4 at 5 fps: well under 200 ms per face.
//!
//!     cargo bench --bench emotion
//!     MOODBOX_MODEL_DIR=/tmp/mb-model cargo bench --bench emotion   # another model folder
//!
//! Reads emotion-f32.onnx and emotion-int8.onnx from `MOODBOX_MODEL_DIR` when set, else from
//! models/; a missing file's benchmarks are skipped with a message.

use criterion::{criterion_group, criterion_main, Criterion};
use moodbox::emotion::model::EmotionModel;
use moodbox::emotion::preprocess::{Face, FACE_PIXELS};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

fn model_dir() -> PathBuf {
    std::env::var_os("MOODBOX_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// A face-like gradient (any pixels cost the same; this just avoids an all-zero input).
fn face() -> Face {
    let mut f = [0u8; FACE_PIXELS];
    for (i, p) in f.iter_mut().enumerate() {
        let (x, y) = ((i % 48) as i32 - 24, (i / 48) as i32 - 24);
        *p = (200 - (x * x + y * y) / 4).clamp(20, 255) as u8;
    }
    f
}

fn inference(c: &mut Criterion) {
    let dir = model_dir();
    let face = face();
    let cases = [
        ("f32", "emotion-f32.onnx", false),
        ("int8", "emotion-int8.onnx", false),
        ("int8_flip_tta", "emotion-int8.onnx", true),
    ];
    let mut group = c.benchmark_group("emotion_per_face");
    for (name, file, flip) in cases {
        let path = dir.join(file);
        if !path.is_file() {
            eprintln!(
                "skipping {name}: {} is absent (train the model, or set MOODBOX_MODEL_DIR)",
                path.display()
            );
            continue;
        }
        let model = match EmotionModel::load(&path, flip) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("skipping {name}: {e}");
                continue;
            }
        };
        group.bench_function(name, |b| {
            b.iter(|| model.classify(black_box(&face)).expect("inference"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    targets = inference
}
criterion_main!(benches);
