//! `moodbox eval`: how well the emotion model does on labelled faces.
//!
//! Inputs are a Kaggle-schema FER2013 CSV (`emotion,pixels,Usage`, optionally gzipped),
//! filtered by `Usage`, or a folder `DIR/<emotion>/*.png|jpg` whose images are converted to
//! grayscale and area-resized to 48x48. Metrics are accuracy, per-class precision, recall
//! and F1, macro-F1 (averaged over all seven classes, as `train.py` does) and the confusion
//! matrix (rows = true, columns = predicted), as a table or as JSON.
//!
//! Bad input is an error naming the file and, for CSV, the line; never a panic.

use super::model::{EmotionModel, ModelError, DEFAULT_MODEL};
use super::preprocess::{resize_area, Face, FACE_PIXELS};
use super::{Emotion, Probabilities};
use serde::{Serialize, Serializer};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// The split `moodbox eval` reads from a CSV unless told otherwise (model selection split;
/// `PrivateTest` is the held-out one).
pub const DEFAULT_USAGE: &str = "PublicTest";

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A bad CSV row: the line is 1-based and counts the header.
    #[error("{}:{line}: {message}", path.display())]
    Row {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// A bad image, an unknown label folder, a CSV without the needed columns.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Empty { path: PathBuf, message: String },
}

impl EvalError {
    /// True for problems with the evaluation data (as opposed to the model or the disk):
    /// the CLI can exit with `EX_DATAERR` for these.
    pub fn is_data_error(&self) -> bool {
        matches!(
            self,
            EvalError::Row { .. } | EvalError::File { .. } | EvalError::Empty { .. }
        )
    }
}

// ----------------------------------------------------------------------------- metrics

/// Counts of (true, predicted) pairs: `counts[true][predicted]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConfusionMatrix {
    pub counts: [[u64; 7]; 7],
}

impl ConfusionMatrix {
    pub fn add(&mut self, truth: Emotion, predicted: Emotion) {
        self.counts[truth.index()][predicted.index()] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    pub fn correct(&self) -> u64 {
        (0..7).map(|i| self.counts[i][i]).sum()
    }

    /// Faces whose true label is `e` (the row sum).
    pub fn support(&self, e: Emotion) -> u64 {
        self.counts[e.index()].iter().sum()
    }

    /// Faces predicted as `e` (the column sum).
    pub fn predicted(&self, e: Emotion) -> u64 {
        self.counts.iter().map(|row| row[e.index()]).sum()
    }
}

impl Serialize for ConfusionMatrix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Labelled<'a> {
            labels: [&'static str; 7],
            rows: &'static str,
            counts: &'a [[u64; 7]; 7],
        }
        Labelled {
            labels: Emotion::ALL.map(Emotion::name),
            rows: "true label; columns: predicted",
            counts: &self.counts,
        }
        .serialize(s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub emotion: Emotion,
    /// Faces with this true label.
    pub support: u64,
    /// Faces predicted as this label.
    pub predicted: u64,
    /// 0 when nothing was predicted as this label.
    pub precision: f64,
    /// 0 when no face has this label.
    pub recall: f64,
    /// 0 when precision + recall is 0.
    pub f1: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub total: u64,
    pub correct: u64,
    pub accuracy: f64,
    /// Mean F1 over all seven classes (a class absent from the data counts as 0, as in
    /// `train.py macro_f1`, so the figure compares with `emotion.json`).
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    pub confusion: ConfusionMatrix,
}

impl Metrics {
    /// Metrics of `(true label, predicted label)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Emotion, Emotion)>) -> Metrics {
        let mut cm = ConfusionMatrix::default();
        for (t, p) in pairs {
            cm.add(t, p);
        }
        Metrics::from_confusion(cm)
    }

    pub fn from_confusion(cm: ConfusionMatrix) -> Metrics {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassMetrics> = Emotion::ALL
            .iter()
            .map(|&e| {
                let tp = cm.counts[e.index()][e.index()];
                let (support, predicted) = (cm.support(e), cm.predicted(e));
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassMetrics {
                    emotion: e,
                    support,
                    predicted,
                    precision,
                    recall,
                    f1,
                }
            })
            .collect();
        Metrics {
            total: cm.total(),
            correct: cm.correct(),
            accuracy: ratio(cm.correct(), cm.total()),
            macro_f1: per_class.iter().map(|c| c.f1).sum::<f64>() / 7.0,
            per_class,
            confusion: cm,
        }
    }

    /// Per-class table and confusion matrix as aligned text.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "accuracy {:.2}% ({}/{})   macro-F1 {:.4}\n",
            self.accuracy * 100.0,
            self.correct,
            self.total,
            self.macro_f1
        );
        let _ = writeln!(
            s,
            "{:<9} {:>7} {:>9} {:>9} {:>7} {:>7}",
            "class", "support", "predicted", "precision", "recall", "F1"
        );
        for c in &self.per_class {
            let _ = writeln!(
                s,
                "{:<9} {:>7} {:>9} {:>9.4} {:>7.4} {:>7.4}",
                c.emotion.name(),
                c.support,
                c.predicted,
                c.precision,
                c.recall,
                c.f1
            );
        }
        let _ = writeln!(s, "\nconfusion matrix (rows = true, columns = predicted)");
        let _ = write!(s, "{:<9}", "");
        for e in Emotion::ALL {
            let _ = write!(s, " {:>8}", e.name());
        }
        s.push('\n');
        for t in Emotion::ALL {
            let _ = write!(s, "{:<9}", t.name());
            for n in self.confusion.counts[t.index()] {
                let _ = write!(s, " {n:>8}");
            }
            s.push('\n');
        }
        s
    }
}

// ----------------------------------------------------------------------------- data

/// One labelled face and where it came from (`file:line` or an image path).
#[derive(Debug, Clone)]
pub struct Sample {
    pub face: Face,
    pub label: Emotion,
    pub origin: String,
}

/// Labelled faces read from a CSV or a folder.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub samples: Vec<Sample>,
    /// `Some(usage)` when read from a CSV with a `Usage` column.
    pub usage: Option<String>,
}

/// Reads `input`: a folder `DIR/<emotion>/*.png|jpg`, or a Kaggle-schema CSV (plain or
/// gzip, told apart by content) whose rows are filtered by `usage` when it has a `Usage`
/// column. Stops after `limit` faces.
pub fn load_samples(input: &Path, usage: &str, limit: Option<usize>) -> Result<Dataset, EvalError> {
    let meta = std::fs::metadata(input).map_err(|source| EvalError::Io {
        path: input.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        Ok(Dataset {
            samples: read_image_dir(input, limit)?,
            usage: None,
        })
    } else {
        read_csv(input, usage, limit)
    }
}

fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>, EvalError> {
    let io = |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut r = BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(io)?);
    let gz = r.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(r),
        ))
    } else {
        Box::new(r)
    })
}

/// Reads the rows of a Kaggle-schema CSV whose `Usage` is `usage` (case-insensitive; all
/// rows when there is no `Usage` column). Rows of other usages are not parsed.
pub fn read_csv(path: &Path, usage: &str, limit: Option<usize>) -> Result<Dataset, EvalError> {
    let file_err = |message: String| EvalError::File {
        path: path.to_path_buf(),
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(open_maybe_gzip(path)?);
    let headers = rdr.byte_headers().map_err(|e| csv_error(path, e))?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| String::from_utf8_lossy(h).trim().eq_ignore_ascii_case(name))
    };
    let (Some(emotion_col), Some(pixels_col)) = (column("emotion"), column("pixels")) else {
        return Err(file_err(format!(
            "expected the Kaggle FER2013 header `emotion,pixels,Usage`, found `{}`",
            String::from_utf8_lossy(headers.as_slice())
        )));
    };
    let usage_col = column("usage");
    let mut samples = vec![];
    let mut other_usages: std::collections::BTreeMap<String, u64> = Default::default();
    let mut record = csv::ByteRecord::new();
    while limit.is_none_or(|l| samples.len() < l) {
        match rdr.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let row_err = |message: String| EvalError::Row {
            path: path.to_path_buf(),
            line,
            message,
        };
        if let Some(col) = usage_col {
            let u = String::from_utf8_lossy(record.get(col).unwrap_or_default());
            let u = u.trim();
            if !u.eq_ignore_ascii_case(usage) {
                *other_usages.entry(u.to_string()).or_default() += 1;
                continue;
            }
        }
        let field = |col: usize| {
            std::str::from_utf8(record.get(col).unwrap_or_default())
                .map_err(|_| row_err("not valid UTF-8".into()))
        };
        let label = parse_label(field(emotion_col)?).map_err(row_err)?;
        let face = parse_pixels(field(pixels_col)?).map_err(row_err)?;
        samples.push(Sample {
            face,
            label,
            origin: format!("{}:{line}", path.display()),
        });
    }
    if samples.is_empty() {
        let found = if other_usages.is_empty() {
            "the file has no data rows".to_string()
        } else {
            let list: Vec<String> = other_usages
                .iter()
                .map(|(u, n)| format!("{u} ({n})"))
                .collect();
            format!("found only {}", list.join(", "))
        };
        return Err(EvalError::Empty {
            path: path.to_path_buf(),
            message: format!("no rows with Usage {usage}: {found}"),
        });
    }
    Ok(Dataset {
        samples,
        usage: usage_col.map(|_| usage.to_string()),
    })
}

fn csv_error(path: &Path, e: csv::Error) -> EvalError {
    match e.position() {
        Some(p) => EvalError::Row {
            path: path.to_path_buf(),
            line: p.line(),
            message: strip_position(&e.to_string()),
        },
        None => match e.into_kind() {
            csv::ErrorKind::Io(source) => EvalError::Io {
                path: path.to_path_buf(),
                source,
            },
            kind => EvalError::File {
                path: path.to_path_buf(),
                message: format!("{kind:?}"),
            },
        },
    }
}

/// csv's messages repeat the position ("CSV error: record 3 (line: 4, byte: 90): ...");
/// ours already starts with `file:line`.
fn strip_position(msg: &str) -> String {
    match msg.find("): ") {
        Some(i) => msg[i + 3..].to_string(),
        None => msg.to_string(),
    }
}

/// `0`-`6` (FER2013 order) or an emotion name.
fn parse_label(s: &str) -> Result<Emotion, String> {
    let s = s.trim();
    match s.parse::<usize>() {
        Ok(i) => Emotion::from_index(i).ok_or_else(|| {
            format!("emotion {i} is not a FER2013 label (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral)")
        }),
        Err(_) => s.parse::<Emotion>().map_err(|e| e.to_string()),
    }
}

/// 2304 space-separated values 0-255, row-major.
fn parse_pixels(s: &str) -> Result<Face, String> {
    let mut face = [0u8; FACE_PIXELS];
    let mut n = 0;
    for tok in s.split_ascii_whitespace() {
        if n < FACE_PIXELS {
            face[n] = tok
                .parse::<u8>()
                .map_err(|_| format!("pixel {} is {tok:?}, not a number 0-255", n + 1))?;
        }
        n += 1;
    }
    if n != FACE_PIXELS {
        return Err(format!("expected {FACE_PIXELS} pixels (48x48), found {n}"));
    }
    Ok(face)
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let io = |source| EvalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut v = vec![];
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let p = entry.map_err(io)?.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

/// `DIR/<emotion>/*.png|jpg|jpeg`; other files are skipped, an unknown label folder is an
/// error, and so is an image that does not decode.
pub fn read_image_dir(dir: &Path, limit: Option<usize>) -> Result<Vec<Sample>, EvalError> {
    let mut samples = vec![];
    let mut label_dirs = 0;
    for sub in sorted_entries(dir)? {
        if !sub.is_dir() {
            log::debug!("{}: not in a label folder, skipped", sub.display());
            continue;
        }
        let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let label = name.parse::<Emotion>().map_err(|e| EvalError::File {
            path: sub.clone(),
            message: format!("folder name is not a label: {e}"),
        })?;
        label_dirs += 1;
        for file in sorted_entries(&sub)? {
            if limit.is_some_and(|l| samples.len() >= l) {
                return Ok(samples);
            }
            if !file.is_file() || !is_image(&file) {
                continue;
            }
            samples.push(Sample {
                face: load_face_image(&file)?,
                label,
                origin: file.display().to_string(),
            });
        }
    }
    if samples.is_empty() {
        return Err(EvalError::Empty {
            path: dir.to_path_buf(),
            message: if label_dirs == 0 {
                "no label folders (expected DIR/<emotion>/*.png|jpg, e.g. DIR/happy/1.png)".into()
            } else {
                "no .png/.jpg images in the label folders".into()
            },
        });
    }
    Ok(samples)
}

/// Decodes a PNG or JPEG (by content), converts it to grayscale (ITU-R BT.601 luma, as
/// PIL's `convert("L")`) and area-resizes it to 48x48.
pub fn load_face_image(path: &Path) -> Result<Face, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| EvalError::File {
        path: path.to_path_buf(),
        message,
    };
    let frame = crate::camera::image::decode_gray(&bytes)
        .map_err(|e| bad(format!("cannot decode image: {e}")))?;
    resize_area(&frame.data, frame.width, frame.height).ok_or_else(|| {
        bad(format!(
            "image has an empty size {}x{}",
            frame.width, frame.height
        ))
    })
}

// ----------------------------------------------------------------------------- running

/// Classifies every sample, spreading the work over `threads` threads (each runs tract
/// single-threaded); `progress(done, total)` is called on the calling thread after each face.
/// Results are in sample order.
pub fn classify_all(
    model: &EmotionModel,
    samples: &[Sample],
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Probabilities>, ModelError> {
    let total = samples.len();
    let threads = threads.clamp(1, total.max(1));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut out = vec![Probabilities::uniform(); total];
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || stop.load(Ordering::Relaxed) {
                    break;
                }
                if tx.send((i, model.classify(&samples[i].face))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (i, result) in rx {
            match result {
                Ok(p) => out[i] = p,
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            done += 1;
            progress(done, total);
        }
        Ok(())
    })?;
    Ok(out)
}

/// What `moodbox eval` was asked to do.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// A CSV (plain or .gz) or an image folder.
    pub input: PathBuf,
    /// `Usage` value of the CSV rows to evaluate.
    pub usage: String,
    pub model: PathBuf,
    pub flip_tta: bool,
    pub limit: Option<usize>,
    /// Worker threads; `None` = one per core.
    pub threads: Option<usize>,
}

impl EvalOptions {
    pub fn new(input: impl Into<PathBuf>) -> EvalOptions {
        EvalOptions {
            input: input.into(),
            usage: DEFAULT_USAGE.into(),
            model: DEFAULT_MODEL.into(),
            flip_tta: false,
            limit: None,
            threads: None,
        }
    }
}

/// The result of `moodbox eval`, printable as a table or serialisable as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub input: String,
    /// The CSV split evaluated; absent for an image folder.
    pub usage: Option<String>,
    pub model: String,
    pub flip_tta: bool,
    pub faces: usize,
    /// Worker threads, each running tract on one face at a time.
    pub threads: usize,
    pub seconds: f64,
    /// Wall-clock seconds per face over all threads (throughput, not latency).
    pub ms_per_face: f64,
    /// The accuracy `emotion.json` records for this model file (onnxruntime, full
    /// PublicTest), when the input is a CSV's PublicTest split and the metadata has it.
    pub recipe_publictest_accuracy: Option<f64>,
    #[serde(flatten)]
    pub metrics: Metrics,
}

impl EvalReport {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "model  {}{}",
            self.model,
            if self.flip_tta { " (flip TTA)" } else { "" }
        );
        let split = self
            .usage
            .as_ref()
            .map(|u| format!(", Usage {u}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "data   {}{split}: {} faces in {:.1} s on {} thread{} ({:.2} ms/face)",
            self.input,
            self.faces,
            self.seconds,
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.ms_per_face
        );
        if let Some(a) = self.recipe_publictest_accuracy {
            let _ = writeln!(
                s,
                "recipe PublicTest accuracy {:.2}% (emotion.json: onnxruntime, whole split)",
                a * 100.0
            );
        }
        s.push('\n');
        s.push_str(&self.metrics.table());
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// `moodbox eval`: reads the data first (so bad data is reported without a model), loads
/// the model, classifies every face and computes the metrics.
pub fn run_eval(
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport, EvalError> {
    let data = load_samples(&opts.input, &opts.usage, opts.limit)?;
    let model = EmotionModel::load(&opts.model, opts.flip_tta)?;
    let threads = opts
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, data.samples.len());
    let start = Instant::now();
    let probs = classify_all(&model, &data.samples, threads, progress)?;
    let seconds = start.elapsed().as_secs_f64();
    let metrics = Metrics::from_pairs(
        data.samples
            .iter()
            .zip(&probs)
            .map(|(s, p)| (s.label, p.top().0)),
    );
    let publictest = data
        .usage
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case(DEFAULT_USAGE));
    let recipe = model.file_metadata().filter(|_| publictest).and_then(|f| {
        if opts.flip_tta {
            f.publictest_accuracy_flip_tta
        } else {
            f.publictest_accuracy
        }
    });
    let faces = data.samples.len();
    Ok(EvalReport {
        input: opts.input.display().to_string(),
        usage: data.usage,
        model: opts.model.display().to_string(),
        flip_tta: opts.flip_tta,
        faces,
        threads,
        seconds,
        ms_per_face: seconds * 1000.0 / faces.max(1) as f64,
        recipe_publictest_accuracy: recipe,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::image::luma;
    use Emotion::*;

    #[test]
    fn hand_computed_confusion_matrix_and_scores() {
        // true -> predicted
        let pairs = [
            (Happy, Happy),
            (Happy, Happy),
            (Happy, Neutral),
            (Sad, Sad),
            (Sad, Neutral),
            (Neutral, Neutral),
            (Angry, Happy),
        ];
        let m = Metrics::from_pairs(pairs);
        let mut want = [[0u64; 7]; 7];
        want[3][3] = 2;
        want[3][6] = 1;
        want[4][4] = 1;
        want[4][6] = 1;
        want[6][6] = 1;
        want[0][3] = 1;
        assert_eq!(m.confusion.counts, want);
        assert_eq!((m.total, m.correct), (7, 4));
        assert!((m.accuracy - 4.0 / 7.0).abs() < 1e-12);
        let c = |e: Emotion| &m.per_class[e.index()];
        // happy: tp 2, predicted 3 (2 + angry), support 3.
        assert!((c(Happy).precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((c(Happy).recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((c(Happy).f1 - 2.0 / 3.0).abs() < 1e-12);
        // sad: tp 1, predicted 1, support 2 -> p 1, r 0.5, f1 2/3.
        assert_eq!((c(Sad).precision, c(Sad).recall), (1.0, 0.5));
        assert!((c(Sad).f1 - 2.0 / 3.0).abs() < 1e-12);
        // neutral: tp 1, predicted 3, support 1 -> p 1/3, r 1, f1 0.5.
        assert!((c(Neutral).f1 - 0.5).abs() < 1e-12);
        // angry: never right; disgust, fear, surprise absent: all 0.
        assert_eq!(
            (c(Angry).support, c(Angry).predicted, c(Angry).f1),
            (1, 0, 0.0)
        );
        assert_eq!(
            (c(Fear).support, c(Fear).precision, c(Fear).f1),
            (0, 0.0, 0.0)
        );
        let macro_f1 = (2.0 / 3.0 + 2.0 / 3.0 + 0.5) / 7.0;
        assert!((m.macro_f1 - macro_f1).abs() < 1e-12);
        let table = m.table();
        assert!(table.contains("accuracy 57.14% (4/7)"), "{table}");
        let json: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(json["confusion"]["counts"][3][6], 1);
        assert_eq!(json["confusion"]["labels"][6], "neutral");
        assert_eq!(json["per_class"][3]["emotion"], "happy");
    }

    #[test]
    fn empty_metrics_do_not_divide_by_zero() {
        let m = Metrics::from_pairs([]);
        assert_eq!((m.total, m.accuracy, m.macro_f1), (0, 0.0, 0.0));
    }

    #[test]
    fn pixel_and_label_parsing() {
        let ok = vec!["7"; FACE_PIXELS].join(" ");
        assert_eq!(parse_pixels(&ok).unwrap()[FACE_PIXELS - 1], 7);
        let short = vec!["7"; FACE_PIXELS - 1].join(" ");
        assert!(parse_pixels(&short).unwrap_err().contains("found 2303"));
        let long = vec!["7"; FACE_PIXELS + 1].join(" ");
        assert!(parse_pixels(&long).unwrap_err().contains("found 2305"));
        let bad = ok.replacen("7", "x", 1);
        assert!(parse_pixels(&bad).unwrap_err().contains("pixel 1 is \"x\""));
        assert!(parse_pixels(&ok.replacen("7", "256", 1)).is_err());
        assert_eq!(parse_label("3").unwrap(), Happy);
        assert_eq!(parse_label(" surprised ").unwrap(), Surprise);
        assert!(parse_label("7").unwrap_err().contains("0 angry"));
        assert!(parse_label("bored").is_err());
    }

    #[test]
    fn luma_matches_bt601() {
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(luma(255, 0, 0), 76);
        assert_eq!(luma(0, 255, 0), 150);
        assert_eq!(luma(0, 0, 255), 29);
    }
}
