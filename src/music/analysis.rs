//! Audio analysis: from a music file to the raw features the literature links with emotion,
//! and from those to a `valence` and an `energy` in [0, 1].
//!
//! One streaming pass, so memory stays small whatever the track's length:
//!
//! ```text
//! file ─symphonia─▶ interleaved f32 ─┬─▶ loudness (EBU R128, peaks, RMS) at the source rate and channels
//!                                    └─▶ mono ─resample─▶ 22 050 Hz ─STFT 2048/512 Hann─▶ spectral features,
//!                                                                  onset envelope, chroma
//! onset envelope ─▶ tempo, onset rate        chroma ─▶ key and mode        all ─▶ model ─▶ valence, energy
//! ```
//!
//! Loudness is measured on the original channels (BS.1770 sums the channels' power, so a
//! mono downmix would read 3 dB low on a stereo track); everything else on the mono signal.

pub mod batch;
mod decode;
pub mod key;
pub mod loudness;
pub mod model;
mod resample;
pub mod spectral;
pub mod tempo;

pub use batch::{run_pending, AnalyzeReport};
pub use key::{Key, Mode};
pub use loudness::Loudness;
pub use spectral::Spectrum;
pub use tempo::Rhythm;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The rate every feature after loudness is computed at (Hz): content above 11 kHz adds
/// nothing to tempo, key or brightness, and half of CD rate halves the work.
pub const ANALYSIS_RATE: u32 = 22_050;

/// Shorter audio has too few frames for tempo or a gated loudness.
const MIN_SECONDS: f64 = 1.0;

/// Everything `analyze` measures, and the mood derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Length of the audio analysed.
    pub duration: Duration,
    /// The source's sample rate and channel count.
    pub sample_rate: u32,
    pub channels: u16,
    pub loudness: Loudness,
    pub spectrum: Spectrum,
    pub rhythm: Rhythm,
    pub key: Key,
    /// Sad 0 … happy 1, from `model::valence`.
    pub valence: f32,
    /// Calm 0 … intense 1, from `model::energy`.
    pub energy: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not decodable: {message}")]
    Decode { path: PathBuf, message: String },
    #[error(
        "{path}: too short to analyse ({secs:.2} s of audio; at least {MIN_SECONDS} s needed)"
    )]
    TooShort { path: PathBuf, secs: f64 },
}

/// Decodes `path` (mp3, flac, ogg/vorbis, wav) and measures it. A 4-minute track takes well
/// under a second on one core (`cargo bench --bench analysis`).
pub fn analyze(path: &Path) -> Result<Analysis, AnalysisError> {
    let mut analyzer: Option<Analyzer> = None;
    decode::decode(path, |rate, channels, samples| {
        let a = match &mut analyzer {
            Some(a) => a,
            None => analyzer.insert(Analyzer::new(rate, channels)?),
        };
        a.push(samples);
        Ok(())
    })?;
    let decode_error = |message: &str| AnalysisError::Decode {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    let analyzer = analyzer.ok_or_else(|| decode_error("no audio"))?;
    let secs = analyzer.frames as f64 / f64::from(analyzer.rate);
    if secs < MIN_SECONDS {
        return Err(AnalysisError::TooShort {
            path: path.to_path_buf(),
            secs,
        });
    }
    Ok(analyzer.finish())
}

/// The streaming pipeline: feed interleaved samples, then `finish`.
struct Analyzer {
    rate: u32,
    channels: u16,
    frames: u64,
    meter: loudness::Meter,
    resampler: resample::Resampler,
    stft: spectral::Stft,
    mono: Vec<f32>,
    resampled: Vec<f32>,
}

impl Analyzer {
    fn new(rate: u32, channels: u16) -> Result<Self, String> {
        if !(4_000..=768_000).contains(&rate) {
            return Err(format!("unsupported sample rate {rate} Hz"));
        }
        Ok(Analyzer {
            rate,
            channels,
            frames: 0,
            meter: loudness::Meter::new(rate, channels),
            resampler: resample::Resampler::new(rate, ANALYSIS_RATE),
            stft: spectral::Stft::new(ANALYSIS_RATE),
            mono: Vec::new(),
            resampled: Vec::new(),
        })
    }

    fn push(&mut self, interleaved: &[f32]) {
        let ch = usize::from(self.channels.max(1));
        self.frames += (interleaved.len() / ch) as u64;
        self.meter.push(interleaved);
        self.mono.clear();
        self.mono.extend(
            interleaved
                .chunks_exact(ch)
                .map(|f| f.iter().sum::<f32>() / ch as f32),
        );
        self.resampled.clear();
        self.resampler.push(&self.mono, &mut self.resampled);
        self.stft.push(&self.resampled);
    }

    fn finish(self) -> Analysis {
        let loudness = self.meter.finish();
        let frames = self.stft.finish();
        let rhythm = tempo::rhythm(&frames.onset, frames.frame_rate);
        let key = key::estimate(&frames.chroma);
        let cues = model::Cues {
            loudness_lufs: loudness.integrated_lufs,
            tempo_bpm: rhythm.tempo_bpm,
            centroid_hz: frames.spectrum.centroid_hz,
            onset_rate: rhythm.onset_rate,
            mode_clarity: key.mode_clarity,
        };
        Analysis {
            duration: Duration::from_secs_f64(self.frames as f64 / f64::from(self.rate)),
            sample_rate: self.rate,
            channels: self.channels,
            loudness,
            spectrum: frames.spectrum,
            rhythm,
            key,
            valence: model::valence(&cues),
            energy: model::energy(&cues),
        }
    }
}
