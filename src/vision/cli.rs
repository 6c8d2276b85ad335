//! `moodbox detect`, `moodbox eval-frames` and `moodbox camera-test`: plain functions that
//! take their arguments and a writer; `main` parses the command line and prints errors.

use super::annotate::annotate;
use super::crop::crop_face;
use super::pipeline::{FacePipeline, PipelineSettings};
use super::track::largest;
use super::{FaceBox, VisionError};
use crate::camera::image::load_gray;
use crate::camera::{CameraError, FrameSource};
use crate::emotion::eval::{ConfusionMatrix, Metrics};
use crate::emotion::model::EmotionModel;
use crate::emotion::{Emotion, Probabilities};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn io_out(source: std::io::Error) -> VisionError {
    VisionError::Io {
        path: "<output>".into(),
        source,
    }
}

fn load(path: &Path) -> Result<crate::camera::GrayFrame, VisionError> {
    load_gray(path).map_err(|message| VisionError::Data {
        path: path.to_path_buf(),
        message: message
            .strip_prefix(&format!("{}: ", path.display()))
            .unwrap_or(&message)
            .to_string(),
    })
}

/// "happy 0.62 (angry 0.01 disgust 0.00 ...)"
pub fn describe_probabilities(p: &Probabilities) -> String {
    let (top, prob) = p.top();
    let all: Vec<String> = Emotion::ALL
        .iter()
        .map(|e| format!("{e} {:.2}", p.get(*e)))
        .collect();
    format!("{top} {prob:.2} ({})", all.join(" "))
}

// ----------------------------------------------------------------------------- detect

/// Every face in a picture, the largest first, each classified when there is a model.
pub fn faces_in(
    frame: &crate::camera::GrayFrame,
    pipeline: &mut FacePipeline,
) -> Result<Vec<(FaceBox, Option<Probabilities>)>, VisionError> {
    let mut faces = pipeline.detector().detect(frame);
    if let Some(big) = largest(&faces) {
        faces.retain(|f| *f != big);
        faces.insert(0, big);
    }
    let scale = pipeline.settings().crop_scale;
    let mut out = Vec::with_capacity(faces.len());
    for f in faces {
        let p = match pipeline.model() {
            Some(m) => Some(m.classify(&crop_face(frame, &f, scale))?),
            None => None,
        };
        out.push((f, p));
    }
    Ok(out)
}

/// `moodbox detect IMAGE… [--annotate OUT.png]`: per image, the faces with their boxes and
/// the seven probabilities (without a model, boxes only). With `annotate`, writes the
/// picture with the faces drawn on it; with several images `OUT.png` becomes `OUT-1.png`,
/// `OUT-2.png`, … Returns the number of faces found.
pub fn detect(
    images: &[PathBuf],
    annotate_to: Option<&Path>,
    model: Option<EmotionModel>,
    settings: PipelineSettings,
    out: &mut dyn Write,
) -> Result<usize, VisionError> {
    let mut pipeline = FacePipeline::new(settings, model);
    let mut total = 0;
    for (i, path) in images.iter().enumerate() {
        let frame = load(path)?;
        let faces = faces_in(&frame, &mut pipeline)?;
        total += faces.len();
        let mut s = format!(
            "{}: {}x{}, {} face{}\n",
            path.display(),
            frame.width,
            frame.height,
            faces.len(),
            if faces.len() == 1 { "" } else { "s" }
        );
        for (n, (b, p)) in faces.iter().enumerate() {
            let _ = write!(
                s,
                "  face {}: x {} y {} w {} h {} score {:.2}",
                n + 1,
                b.x,
                b.y,
                b.width,
                b.height,
                b.score
            );
            if let Some(p) = p {
                let _ = write!(s, "  {}", describe_probabilities(p));
            }
            s.push('\n');
        }
        if let Some(target) = annotate_to {
            let target = if images.len() > 1 {
                indexed(target, i + 1)
            } else {
                target.to_path_buf()
            };
            annotate(&frame, &faces)
                .write_png(&target)
                .map_err(|message| VisionError::Data {
                    path: target.clone(),
                    message: format!("cannot write the annotated picture: {message}"),
                })?;
            let _ = writeln!(s, "  annotated: {}", target.display());
        }
        out.write_all(s.as_bytes()).map_err(io_out)?;
    }
    Ok(total)
}

/// `out.png` -> `out-3.png`.
fn indexed(path: &Path, i: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("annotated");
    let name = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{stem}-{i}.{ext}"),
        None => format!("{stem}-{i}"),
    };
    path.with_file_name(name)
}

// ----------------------------------------------------------------------------- eval-frames

/// Labelled whole frames in `dir`: `DIR/<emotion>/*.png|jpg`, and files named like the Yale
/// faces, `NAME.CONDITION.png`, where happy, sad, surprised (surprise) and normal (neutral),
/// or any emotion name, are labels; other conditions (glasses, leftlight, ...) are counted
/// as skipped. Sorted by path.
pub fn labelled_frames(dir: &Path) -> Result<(Vec<(PathBuf, Emotion)>, usize), VisionError> {
    let io = |source| VisionError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut frames = vec![];
    let mut skipped = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            let Ok(label) = name.parse::<Emotion>() else {
                log::warn!("{}: not a label folder, skipped", path.display());
                continue;
            };
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|source| VisionError::Io {
                    path: path.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            files.sort();
            frames.extend(files.into_iter().map(|f| (f, label)));
        } else if is_image(&path) {
            match yale_label(&path) {
                Some(label) => frames.push((path, label)),
                None => skipped += 1,
            }
        }
    }
    if frames.is_empty() {
        return Err(VisionError::Data {
            path: dir.to_path_buf(),
            message: "no labelled frames (expected DIR/<emotion>/*.png|jpg, or Yale-style names \
                      such as subject01.happy.png)"
                .into(),
        });
    }
    Ok((frames, skipped))
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The label in a Yale-style name: `subject07.surprised.png` -> surprise.
pub fn yale_label(path: &Path) -> Option<Emotion> {
    let stem = path.file_stem()?.to_str()?;
    let (_, condition) = stem.rsplit_once('.')?;
    match condition.to_ascii_lowercase().as_str() {
        "normal" => Some(Emotion::Neutral),
        c => c.parse().ok(),
    }
}

/// What became of one labelled frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameOutcome {
    pub file: String,
    pub label: Emotion,
    /// `None`: no face was found (a miss).
    pub predicted: Option<Emotion>,
    pub faces: usize,
}

/// Runs the pipeline on each frame as a still (full search) and reports what it predicted.
pub fn evaluate_frames(
    frames: &[(PathBuf, Emotion)],
    pipeline: &mut FacePipeline,
) -> Result<Vec<FrameOutcome>, VisionError> {
    frames
        .iter()
        .map(|(path, label)| {
            let frame = load(path)?;
            let r = pipeline.process_still(&frame);
            Ok(FrameOutcome {
                file: path.display().to_string(),
                label: *label,
                predicted: r.probabilities.map(|p| p.top().0),
                faces: r.faces.len(),
            })
        })
        .collect()
}

/// Metrics over whole frames: a frame without a face is a miss for its class (it lowers
/// recall and accuracy, never dropped); `no_face[label]` counts those.
pub fn frame_metrics(outcomes: &[FrameOutcome]) -> (Metrics, [u64; 7]) {
    let mut cm = ConfusionMatrix::default();
    let mut no_face = [0u64; 7];
    for o in outcomes {
        match o.predicted {
            Some(p) => cm.add(o.label, p),
            None => no_face[o.label.index()] += 1,
        }
    }
    let mut m = Metrics::from_confusion(cm);
    for c in &mut m.per_class {
        c.support += no_face[c.emotion.index()];
        let tp = cm.counts[c.emotion.index()][c.emotion.index()] as f64;
        c.recall = if c.support == 0 {
            0.0
        } else {
            tp / c.support as f64
        };
        c.f1 = if c.precision + c.recall == 0.0 {
            0.0
        } else {
            2.0 * c.precision * c.recall / (c.precision + c.recall)
        };
    }
    m.total += no_face.iter().sum::<u64>();
    m.accuracy = if m.total == 0 {
        0.0
    } else {
        m.correct as f64 / m.total as f64
    };
    m.macro_f1 = m.per_class.iter().map(|c| c.f1).sum::<f64>() / 7.0;
    (m, no_face)
}

/// The result of `moodbox eval-frames`.
#[derive(Debug, Clone, Serialize)]
pub struct FrameEvalReport {
    pub dir: String,
    pub model: String,
    pub flip_tta: bool,
    pub crop_scale: f32,
    /// Labelled frames evaluated.
    pub frames: usize,
    /// Images whose name carries no label (other Yale conditions).
    pub skipped: usize,
    pub frames_with_face: usize,
    /// Frames without a face, per true label (the confusion matrix's "no face" column).
    pub no_face: [u64; 7],
    pub ms_per_frame: f64,
    #[serde(flatten)]
    pub metrics: Metrics,
    pub results: Vec<FrameOutcome>,
}

impl FrameEvalReport {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "model  {}{}",
            self.model,
            if self.flip_tta { " (flip TTA)" } else { "" }
        );
        let _ = writeln!(
            s,
            "frames {}: {} labelled ({} unlabelled skipped), a face in {}, none in {}; \
             crop scale {:.2}; {:.1} ms/frame\n",
            self.dir,
            self.frames,
            self.skipped,
            self.frames_with_face,
            self.frames - self.frames_with_face,
            self.crop_scale,
            self.ms_per_frame
        );
        let table = self.metrics.table();
        s.push_str(table.split("\nconfusion matrix").next().unwrap_or(&table));
        let _ = writeln!(
            s,
            "\nconfusion matrix (rows = true, columns = predicted; no face = none found)"
        );
        let _ = write!(s, "{:<9}", "");
        for e in Emotion::ALL {
            let _ = write!(s, " {:>8}", e.name());
        }
        let _ = writeln!(s, " {:>8}", "no face");
        for t in Emotion::ALL {
            let _ = write!(s, "{:<9}", t.name());
            for n in self.metrics.confusion.counts[t.index()] {
                let _ = write!(s, " {n:>8}");
            }
            let _ = writeln!(s, " {:>8}", self.no_face[t.index()]);
        }
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// `moodbox eval-frames DIR [--json]`: end-to-end accuracy on whole frames (detect, crop,
/// classify). Reads the frame list first, so a folder without labels fails before the model
/// loads.
pub fn eval_frames(
    dir: &Path,
    model_path: &Path,
    flip_tta: bool,
    settings: PipelineSettings,
    json: bool,
    out: &mut dyn Write,
) -> Result<FrameEvalReport, VisionError> {
    let (frames, skipped) = labelled_frames(dir)?;
    let model = EmotionModel::load(model_path, flip_tta)?;
    let mut pipeline = FacePipeline::new(settings, Some(model));
    let start = Instant::now();
    let results = evaluate_frames(&frames, &mut pipeline)?;
    let secs = start.elapsed().as_secs_f64();
    let (metrics, no_face) = frame_metrics(&results);
    let report = FrameEvalReport {
        dir: dir.display().to_string(),
        model: model_path.display().to_string(),
        flip_tta,
        crop_scale: settings.crop_scale,
        frames: frames.len(),
        skipped,
        frames_with_face: results.iter().filter(|r| r.predicted.is_some()).count(),
        no_face,
        ms_per_frame: secs * 1000.0 / frames.len().max(1) as f64,
        metrics,
        results,
    };
    let text = if json {
        report.to_json() + "\n"
    } else {
        report.render()
    };
    out.write_all(text.as_bytes()).map_err(io_out)?;
    Ok(report)
}

// ----------------------------------------------------------------------------- camera-test

/// What `camera-test` saw.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraTestSummary {
    pub frames: u64,
    pub errors: u64,
    pub seconds: f64,
    pub fps: f64,
    pub frames_with_face: u64,
    pub faces_per_frame: f64,
    pub ms_per_frame: f64,
}

/// `moodbox camera-test [--seconds N]`: reads `source` for `seconds`, running the pipeline on
/// every frame, and prints the source's description (the negotiated format; again whenever
/// it changes, e.g. after a reconnect), then once a second the frame rate achieved, the
/// faces per frame and the current top emotion. Camera errors are printed and reading goes
/// on; no frame at all is an error.
pub fn camera_test(
    source: &mut dyn FrameSource,
    pipeline: &mut FacePipeline,
    seconds: f64,
    out: &mut dyn Write,
) -> Result<CameraTestSummary, VisionError> {
    let mut described = String::new();
    let start = Instant::now();
    let (mut frames, mut errors, mut with_face, mut faces, mut busy) = (0u64, 0u64, 0, 0, 0.0);
    let mut window = (Instant::now(), 0u64, 0usize);
    let mut size = (0, 0);
    let mut top: Option<(Emotion, f32)> = None;
    let mut last_error: Option<CameraError> = None;
    while start.elapsed().as_secs_f64() < seconds {
        match source.next_frame() {
            Ok(frame) => {
                let now = source.describe();
                if now != described {
                    writeln!(out, "camera: {now}").map_err(io_out)?;
                    described = now;
                }
                let t = Instant::now();
                let r = pipeline.process(&frame);
                busy += t.elapsed().as_secs_f64();
                size = (frame.width, frame.height);
                frames += 1;
                faces += r.faces.len();
                with_face += u64::from(r.face.is_some());
                window.1 += 1;
                window.2 += r.faces.len();
                top = r
                    .probabilities
                    .map(|p| p.top())
                    .or(top.filter(|_| r.face.is_some()));
            }
            Err(e) => {
                errors += 1;
                writeln!(out, "  camera error: {e}").map_err(io_out)?;
                if !matches!(e, CameraError::BadFrame { .. }) {
                    std::thread::sleep(Duration::from_millis(200));
                }
                last_error = Some(e);
            }
        }
        let dt = window.0.elapsed().as_secs_f64();
        if dt >= 1.0 {
            let emotion = match top {
                Some((e, p)) => format!("{e} {p:.2}"),
                None => "no face".into(),
            };
            writeln!(
                out,
                "{:>6.1} s  {}x{}  {:>5.1} fps  faces/frame {:.2}  top {emotion}",
                start.elapsed().as_secs_f64(),
                size.0,
                size.1,
                window.1 as f64 / dt,
                window.2 as f64 / window.1.max(1) as f64,
            )
            .map_err(io_out)?;
            window = (Instant::now(), 0, 0);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if frames == 0 {
        if let Some(e) = last_error {
            return Err(e.into());
        }
    }
    let summary = CameraTestSummary {
        frames,
        errors,
        seconds: secs,
        fps: frames as f64 / secs.max(1e-9),
        frames_with_face: with_face,
        faces_per_frame: faces as f64 / frames.max(1) as f64,
        ms_per_frame: busy * 1000.0 / frames.max(1) as f64,
    };
    writeln!(
        out,
        "{} frames in {:.1} s ({:.1} fps), {} camera errors; a face in {} frames ({:.2} faces/frame); \
         pipeline {:.1} ms/frame",
        summary.frames,
        summary.seconds,
        summary.fps,
        summary.errors,
        summary.frames_with_face,
        summary.faces_per_frame,
        summary.ms_per_frame
    )
    .map_err(io_out)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yale_names_give_labels_or_nothing() {
        let l = |n: &str| yale_label(Path::new(n));
        assert_eq!(l("subject01.happy.png"), Some(Emotion::Happy));
        assert_eq!(l("subject01.sad.png"), Some(Emotion::Sad));
        assert_eq!(l("subject01.surprised.png"), Some(Emotion::Surprise));
        assert_eq!(l("subject01.normal.png"), Some(Emotion::Neutral));
        assert_eq!(l("subject01.glasses.png"), None);
        assert_eq!(l("subject01.wink.png"), None);
        assert_eq!(l("happy.png"), None);
        assert_eq!(
            indexed(Path::new("/t/out.png"), 3),
            Path::new("/t/out-3.png")
        );
    }

    #[test]
    fn frames_without_a_face_are_misses_in_recall_and_accuracy() {
        let o = |label, predicted| FrameOutcome {
            file: String::new(),
            label,
            predicted,
            faces: usize::from(predicted.is_some()),
        };
        use Emotion::*;
        let (m, no_face) = frame_metrics(&[
            o(Happy, Some(Happy)),
            o(Happy, None),
            o(Sad, Some(Happy)),
            o(Sad, Some(Sad)),
        ]);
        assert_eq!(no_face[Happy.index()], 1);
        assert_eq!((m.total, m.correct), (4, 2));
        assert_eq!(m.accuracy, 0.5);
        let happy = &m.per_class[Happy.index()];
        assert_eq!((happy.support, happy.predicted), (2, 2));
        assert_eq!((happy.precision, happy.recall), (0.5, 0.5));
        let sad = &m.per_class[Sad.index()];
        assert_eq!((sad.precision, sad.recall), (1.0, 0.5));
        assert!((sad.f1 - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_folder_without_labelled_frames_is_a_data_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("subject01.glasses.png"), b"x").unwrap();
        let e = labelled_frames(dir.path()).unwrap_err();
        assert!(e.is_data_error(), "{e}");
        std::fs::create_dir(dir.path().join("happy")).unwrap();
        std::fs::write(dir.path().join("happy/a.png"), b"x").unwrap();
        std::fs::write(dir.path().join("x.sad.jpg"), b"x").unwrap();
        let (frames, skipped) = labelled_frames(dir.path()).unwrap();
        assert_eq!(skipped, 1);
        let labels: Vec<Emotion> = frames.iter().map(|f| f.1).collect();
        assert_eq!(labels, [Emotion::Happy, Emotion::Sad]);
    }
}
