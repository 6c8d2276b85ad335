//! The emotion CNN, loaded once with tract and run per face.
//!
//! The model files come from `models/training/train.py`: `emotion-f32.onnx`,
//! `emotion-int8.onnx` (onnxruntime QOperator: `QLinearConv` throughout) and `emotion.json`
//! (labels, input normalisation, per-file PublicTest accuracy). Input `face` is f32
//! `[N,1,48,48]`, output `logits` is `[N,7]` in [`Emotion::ALL`] order.
//!
//! Loading checks the declared input and the output shape, so a model exported for another
//! task is refused with the file name and what was expected, never run on garbage; a
//! missing, truncated or non-ONNX file is an error too, never a panic.

use super::preprocess::{mirror, preprocess_batch, Face, Normalisation, FACE_SIDE};
use super::{Emotion, Probabilities};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// Where `moodbox` looks for the shipped int8 model, relative to the working directory.
pub const DEFAULT_MODEL: &str = "models/emotion-int8.onnx";
/// The metadata file the training recipe writes next to the models.
pub const METADATA_FILE: &str = "emotion.json";

const EXPECTED: &str = "expected input [1,1,48,48] f32 and output [1,7]";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: model file not found (train one with models/training/train.py, or pass --model)", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a usable ONNX model (truncated or corrupt?): {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{}: {EXPECTED}, found {found}", path.display())]
    WrongShape { path: PathBuf, found: String },
    #[error("{}: {reason}", path.display())]
    Metadata { path: PathBuf, reason: String },
    #[error("{}: inference failed: {reason}", path.display())]
    Run { path: PathBuf, reason: String },
}

/// `emotion.json`, as far as moodbox reads it; other keys are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelMetadata {
    pub labels: Vec<String>,
    pub input: MetadataInput,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub files: BTreeMap<String, FileMetadata>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetadataInput {
    pub normalisation: MetadataNormalisation,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetadataNormalisation {
    pub mean: f32,
    pub std: f32,
}

/// Per model file: what the recipe measured on FER2013 PublicTest with onnxruntime.
#[derive(Debug, Clone, Deserialize)]
pub struct FileMetadata {
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub bytes: Option<u64>,
    #[serde(default)]
    pub publictest_accuracy: Option<f64>,
    #[serde(default)]
    pub publictest_accuracy_flip_tta: Option<f64>,
    #[serde(default)]
    pub publictest_macro_f1: Option<f64>,
}

impl ModelMetadata {
    /// Reads and checks `path` (an `emotion.json`): the labels must be moodbox's, in order,
    /// and the normalisation must be usable.
    pub fn load(path: &Path) -> Result<ModelMetadata, ModelError> {
        let meta_err = |reason: String| ModelError::Metadata {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let meta: ModelMetadata =
            serde_json::from_str(&text).map_err(|e| meta_err(format!("invalid metadata: {e}")))?;
        let ours: Vec<&str> = Emotion::ALL.iter().map(|e| e.name()).collect();
        if meta
            .labels
            .iter()
            .map(String::as_str)
            .ne(ours.iter().copied())
        {
            return Err(meta_err(format!(
                "labels {:?} do not match moodbox's {:?}",
                meta.labels, ours
            )));
        }
        let n = &meta.input.normalisation;
        if !(n.mean.is_finite() && n.std.is_finite() && n.std > 0.0) {
            return Err(meta_err(format!(
                "unusable normalisation mean {} std {}",
                n.mean, n.std
            )));
        }
        Ok(meta)
    }

    pub fn normalisation(&self) -> Normalisation {
        Normalisation {
            mean: self.input.normalisation.mean,
            std: self.input.normalisation.std,
        }
    }

    /// What the recipe measured for the model file called `file_name`.
    pub fn file(&self, file_name: &str) -> Option<&FileMetadata> {
        self.files.get(file_name)
    }
}

/// The emotion CNN, optimised for this CPU, ready to classify faces.
#[derive(Debug, Clone)]
pub struct EmotionModel {
    plan: Arc<TypedRunnableModel>,
    path: PathBuf,
    flip_tta: bool,
    norm: Normalisation,
    metadata: Option<ModelMetadata>,
}

impl EmotionModel {
    /// Loads, checks and optimises the model at `path`. With `flip_tta`, each face is run
    /// together with its mirror image (one batch of two) and the probabilities averaged.
    /// `emotion.json` next to the model, when present, supplies the input normalisation
    /// (else the training constants 0.5 / 0.25) and must list moodbox's labels.
    pub fn load(path: &Path, flip_tta: bool) -> Result<EmotionModel, ModelError> {
        check_file(path)?;
        let meta_path = path.with_file_name(METADATA_FILE);
        let metadata = if meta_path.is_file() {
            Some(ModelMetadata::load(&meta_path)?)
        } else {
            None
        };
        if let Some(file) = metadata.as_ref().and_then(|m| file_meta(m, path)) {
            if let (Some(want), Ok(fs)) = (file.bytes, std::fs::metadata(path)) {
                if want != fs.len() {
                    log::warn!(
                        "{}: {} bytes, but {} says {want}: the metadata may be stale",
                        path.display(),
                        fs.len(),
                        meta_path.display()
                    );
                }
            }
        }
        let batch = if flip_tta { 2 } else { 1 };
        let model = optimised(path, batch)?;
        let plan = guard(path, || model.into_runnable())?;
        let norm = metadata
            .as_ref()
            .map(ModelMetadata::normalisation)
            .unwrap_or_default();
        Ok(EmotionModel {
            plan,
            path: path.to_path_buf(),
            flip_tta,
            norm,
            metadata,
        })
    }

    /// Probabilities for one 48x48 grayscale face crop (row-major, as the camera gives it).
    pub fn classify(&self, face: &Face) -> Result<Probabilities, ModelError> {
        let input = if self.flip_tta {
            let mirrored = mirror(face);
            preprocess_batch(&[face, &mirrored], self.norm)
        } else {
            preprocess_batch(&[face], self.norm)
        };
        let run_err = |reason: String| ModelError::Run {
            path: self.path.clone(),
            reason,
        };
        let outputs = self.plan.run(tvec!(input.into()));
        clear_upper_vector_state();
        let outputs = outputs.map_err(|e| run_err(format!("{e:#}")))?;
        let logits = outputs
            .first()
            .ok_or_else(|| run_err("no output".into()))?
            .to_plain_array_view::<f32>()
            .map_err(|e| run_err(format!("{e:#}")))?;
        let logits: Vec<f32> = logits.iter().copied().collect();
        let rows: Vec<Probabilities> = logits
            .chunks_exact(7)
            .map(|c| Probabilities::from_logits(&[c[0], c[1], c[2], c[3], c[4], c[5], c[6]]))
            .collect();
        match rows.as_slice() {
            [p] => Ok(*p),
            [a, b] => Ok(average(a, b)),
            _ => Err(run_err(format!("{} logits, expected 7", logits.len()))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn flip_tta(&self) -> bool {
        self.flip_tta
    }

    pub fn normalisation(&self) -> Normalisation {
        self.norm
    }

    /// `emotion.json` next to the model, when there was one.
    pub fn metadata(&self) -> Option<&ModelMetadata> {
        self.metadata.as_ref()
    }

    /// What `emotion.json` says about this model file (accuracy, size), when present.
    pub fn file_metadata(&self) -> Option<&FileMetadata> {
        self.metadata
            .as_ref()
            .and_then(|m| file_meta(m, &self.path))
    }
}

fn file_meta<'m>(meta: &'m ModelMetadata, model: &Path) -> Option<&'m FileMetadata> {
    meta.file(model.file_name()?.to_str()?)
}

/// Mean of two probability vectors: flip TTA averages in probability space, as
/// `train.py predict(flip_tta=True)` does.
fn average(a: &Probabilities, b: &Probabilities) -> Probabilities {
    let mut p = [0.0; 7];
    for (i, v) in p.iter_mut().enumerate() {
        *v = (a.0[i] + b.0[i]) / 2.0;
    }
    Probabilities(p)
}

/// Runs tract, turning both its errors and any panic on a malformed graph into
/// `ModelError::Invalid`, so a bad file can never bring the box down.
fn guard<T>(path: &Path, f: impl FnOnce() -> TractResult<T>) -> Result<T, ModelError> {
    let invalid = |reason: String| ModelError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(invalid(format!("{e:#}"))),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "tract panicked".into());
            Err(invalid(format!("tract panicked: {msg}")))
        }
    }
}

/// The model path names a readable regular file.
fn check_file(path: &Path) -> Result<(), ModelError> {
    let path_buf = path.to_path_buf();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ModelError::NotFound { path: path_buf })
        }
        Err(source) => Err(ModelError::Io {
            path: path_buf,
            source,
        }),
        Ok(m) if !m.is_file() => Err(ModelError::Invalid {
            path: path_buf,
            reason: "not a regular file".into(),
        }),
        Ok(_) => Ok(()),
    }
}

/// Loads `path`, checks its interface, pins the input to `[batch,1,48,48]` f32 and returns
/// tract's optimised graph.
fn optimised(path: &Path, batch: usize) -> Result<TypedModel, ModelError> {
    check_file(path)?;
    let wrong = |found: String| ModelError::WrongShape {
        path: path.to_path_buf(),
        found,
    };
    // value_info entries are shape hints from the exporter; the quantizer's carry a symbolic
    // batch that conflicts with the concrete one pinned below, so let tract infer them.
    let model = guard(path, || {
        onnx().with_ignore_value_info(true).model_for_path(path)
    })?;
    let (n_in, n_out) = (model.inputs.len(), model.outputs.len());
    if n_in != 1 || n_out != 1 {
        return Err(wrong(format!("{n_in} inputs and {n_out} outputs")));
    }
    let declared_in = guard(path, || model.input_fact(0).cloned())?;
    if !input_fits(&declared_in) {
        return Err(wrong(format!("input {}", describe_inference(&declared_in))));
    }
    let fact = f32::fact([batch, 1, FACE_SIDE, FACE_SIDE]);
    let typed = guard(path, || {
        model
            .with_input_fact(0, fact.into())?
            .into_typed()?
            .into_decluttered()
    })?;
    let out = guard(path, || typed.output_fact(0).cloned())?;
    let out_ok =
        out.datum_type == f32::datum_type() && out.shape.as_concrete() == Some(&[batch, 7][..]);
    if !out_ok {
        let mut found = String::new();
        let dims = out.shape.dims().iter().map(|d| d.to_string());
        // Report as for a single face so the message compares with EXPECTED.
        let dims: Vec<String> = dims
            .enumerate()
            .map(|(i, d)| {
                if i == 0 && d == batch.to_string() {
                    "1".into()
                } else {
                    d
                }
            })
            .collect();
        let _ = write!(found, "output [{}]", dims.join(","));
        if out.datum_type != f32::datum_type() {
            let _ = write!(found, " {}", dt_name(out.datum_type));
        }
        return Err(wrong(found));
    }
    guard(path, || typed.into_optimized())
}

/// Declared input: rank 4, `[n|1|2, 1, 48, 48]`, f32 (unknown parts are accepted).
fn input_fits(fact: &InferenceFact) -> bool {
    let dt_ok = fact
        .datum_type
        .concretize()
        .is_none_or(|dt| dt == f32::datum_type());
    let Some(dims) = fact.shape.concretize() else {
        return dt_ok && fact.shape.is_open();
    };
    let want = [
        None,
        Some(1),
        Some(FACE_SIDE as i64),
        Some(FACE_SIDE as i64),
    ];
    dt_ok
        && dims.len() == 4
        && dims.iter().zip(want).all(|(d, w)| match (d.as_i64(), w) {
            (_, None) => true,
            (Some(v), Some(w)) => v == w,
            (None, Some(_)) => true, // symbolic: we pin it ourselves
        })
}

fn describe_inference(fact: &InferenceFact) -> String {
    let dims: Vec<String> = fact
        .shape
        .dims()
        .map(|d| d.concretize().map_or("?".into(), |d| d.to_string()))
        .collect();
    let mut s = format!("[{}]", dims.join(","));
    if fact.shape.is_open() {
        s.insert_str(s.len() - 1, ",..");
    }
    if let Some(dt) = fact.datum_type.concretize() {
        s.push(' ');
        s.push_str(&dt_name(dt));
    }
    s
}

fn dt_name(dt: DatumType) -> String {
    format!("{dt:?}").to_lowercase()
}

/// One conv- or matmul-like node of tract's optimised graph and the arithmetic it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeNode {
    /// Node name (from the ONNX graph, with tract's suffixes for the pieces it split into).
    pub name: String,
    /// tract's op name in the optimised graph, e.g. `OptMatMul`, `Im2col`.
    pub op: String,
    /// The datum type the node computes in: the matmul kernel's accumulator for
    /// `OptMatMul`, else the type of the data input.
    pub compute_type: String,
    pub runs_in_f32: bool,
}

/// Op names (in tract's optimised graphs) that do the convolution or matrix work.
const COMPUTE_OPS: &[&str] = &[
    "OptMatMul",
    "Conv",
    "EinSum",
    "PrefixMatMul",
    "MatMul",
    "Im2col",
    "LazyIm2col",
    "DepthWise",
    "DirectSpatialConv",
    "DeconvSum",
];

/// Walks tract's optimised graph of the model at `path` (as `EmotionModel::load` builds it
/// for one face) and reports every conv- or matmul-like node with the type it computes in.
/// For the int8 model every entry should be integer; for the f32 one every entry is f32.
pub fn compute_nodes(path: &Path) -> Result<Vec<ComputeNode>, ModelError> {
    let model = optimised(path, 1)?;
    let mut report = vec![];
    for node in model.nodes() {
        let op = node.op.name().to_string();
        let is_compute = COMPUTE_OPS.contains(&op.as_str())
            || op.contains("Conv")
            || op.contains("MatMul")
            || op.contains("Gemm");
        if !is_compute {
            continue;
        }
        let dt = if let Some(mm) =
            node.op_as::<tract_onnx::tract_core::ops::matmul::optimized::OptMatMul>()
        {
            // Several kernels may be kept for different shapes; any float one counts.
            mm.mmm
                .iter()
                .map(|k| k.internal_type())
                .find(|dt| dt.is_float())
                .or_else(|| mm.mmm.first().map(|k| k.internal_type()))
        } else {
            node.inputs
                .first()
                .and_then(|i| model.outlet_fact(*i).ok())
                .map(|f| f.datum_type)
        };
        let dt = dt.unwrap_or(f32::datum_type());
        report.push(ComputeNode {
            name: node.name.clone(),
            op,
            compute_type: dt_name(dt),
            runs_in_f32: dt.is_float(),
        });
    }
    Ok(report)
}

/// tract's optimised graph as text, one node a line (`name: op (info) -> output facts`),
/// for `--explain`-style debugging and for finding the op names `compute_nodes` knows.
pub fn describe_optimised(path: &Path) -> Result<String, ModelError> {
    let model = optimised(path, 1)?;
    let mut s = String::new();
    for node in model.nodes() {
        let outs: Vec<String> = node
            .outputs
            .iter()
            .map(|o| o.fact.format_dt_shape())
            .collect();
        let info = node.op.info().unwrap_or_default().join("; ");
        let _ = writeln!(
            s,
            "{}: {} [{}] -> {}",
            node.name,
            node.op.name(),
            info,
            outs.join(", ")
        );
    }
    Ok(s)
}

/// On x86-64, tract's AVX-512 kernels return with the upper halves of the vector registers
/// dirty (no `vzeroupper`), and the SSE code that runs next on the thread pays for it: the
/// face detector's full search took 6 ms longer after a classification than before one
/// (`cargo bench --bench vision`). Clearing them costs one instruction. (Nothing to do on
/// ARM.)
fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx") {
        #[target_feature(enable = "avx")]
        unsafe fn zeroupper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        // SAFETY: the CPU has AVX (checked above), which is all vzeroupper needs.
        unsafe { zeroupper() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flip_average_stays_a_distribution() {
        let a = Probabilities::certain(Emotion::Happy);
        let b = Probabilities::uniform();
        let p = average(&a, &b);
        assert!((p.0.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(p.top().0, Emotion::Happy);
    }

    #[test]
    fn declared_input_check() {
        let ok = f32::fact([1, 1, 48, 48]);
        assert!(input_fits(&ok.into()));
        let wrong = f32::fact([1, 3, 64, 64]);
        assert!(!input_fits(&wrong.into()));
        let wrong_dt = u8::fact([1, 1, 48, 48]);
        assert!(!input_fits(&wrong_dt.into()));
        let f: InferenceFact = f32::fact([1, 3, 64, 64]).into();
        assert_eq!(describe_inference(&f), "[1,3,64,64] f32");
    }

    #[test]
    fn missing_and_garbage_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.onnx");
        let e = EmotionModel::load(&missing, false).unwrap_err();
        assert!(matches!(e, ModelError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("nope.onnx"), "{e}");
        let garbage = dir.path().join("garbage.onnx");
        std::fs::write(&garbage, b"\x08\x07 this is not protobuf \xff\xff\xff").unwrap();
        let e = EmotionModel::load(&garbage, false).unwrap_err();
        assert!(matches!(e, ModelError::Invalid { .. }), "{e}");
        assert!(e.to_string().contains("garbage.onnx"), "{e}");
    }

    #[test]
    fn metadata_labels_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(METADATA_FILE);
        let good = r#"{"labels":["angry","disgust","fear","happy","sad","surprise","neutral"],
            "input":{"normalisation":{"mean":0.4,"std":0.2}},
            "files":{"m.onnx":{"publictest_accuracy":0.7}}}"#;
        std::fs::write(&p, good).unwrap();
        let m = ModelMetadata::load(&p).unwrap();
        assert_eq!(
            m.normalisation(),
            Normalisation {
                mean: 0.4,
                std: 0.2
            }
        );
        assert_eq!(m.file("m.onnx").unwrap().publictest_accuracy, Some(0.7));
        std::fs::write(
            &p,
            good.replace("\"sad\",\"surprise\"", "\"surprise\",\"sad\""),
        )
        .unwrap();
        let e = ModelMetadata::load(&p).unwrap_err().to_string();
        assert!(e.contains("labels") && e.contains("emotion.json"), "{e}");
        std::fs::write(&p, good.replace("0.2", "0")).unwrap();
        assert!(ModelMetadata::load(&p).is_err());
        std::fs::write(&p, "{").unwrap();
        assert!(ModelMetadata::load(&p).is_err());
    }
}
