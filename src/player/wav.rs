//! An output that records to a 16-bit PCM WAV file: for tests and for listening to what
//! the box would have played.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::output::AudioOutput;
use super::PlayerError;

/// Writes every block to a WAV file at once (no pacing). The header is finalised by
/// [`WavOutput::finish`] or, failing that, on drop.
pub struct WavOutput {
    path: PathBuf,
    format: (u32, u16),
    writer: Option<hound::WavWriter<BufWriter<File>>>,
}

impl WavOutput {
    /// Creates (or truncates) `path` for `format` = (sample rate, channels).
    pub fn create(path: impl AsRef<Path>, format: (u32, u16)) -> Result<WavOutput, PlayerError> {
        let path = path.as_ref().to_path_buf();
        let wav_err = |source| PlayerError::Wav {
            path: path.clone(),
            source,
        };
        if path.as_os_str().is_empty() {
            return Err(wav_err(hound::Error::IoError(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty path; use wav:PATH",
            ))));
        }
        let format = (format.0.max(1), format.1.max(1));
        let spec = hound::WavSpec {
            channels: format.1,
            sample_rate: format.0,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(&path, spec).map_err(wav_err)?;
        Ok(WavOutput {
            path,
            format,
            writer: Some(writer),
        })
    }

    /// Writes the final header. Further writes fail.
    pub fn finish(&mut self) -> Result<(), PlayerError> {
        match self.writer.take() {
            Some(w) => w.finalize().map_err(|source| PlayerError::Wav {
                path: self.path.clone(),
                source,
            }),
            None => Ok(()),
        }
    }
}

impl AudioOutput for WavOutput {
    fn format(&self) -> (u32, u16) {
        self.format
    }

    fn write(&mut self, block: &[f32]) -> Result<(), PlayerError> {
        let path = &self.path;
        let Some(w) = self.writer.as_mut() else {
            return Err(PlayerError::Wav {
                path: path.clone(),
                source: hound::Error::IoError(std::io::Error::other("already finished")),
            });
        };
        for s in block {
            let v = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
            w.write_sample(v).map_err(|source| PlayerError::Wav {
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn name(&self) -> String {
        format!("wav:{}", self.path.display())
    }

    fn paced(&self) -> bool {
        false
    }
}

impl Drop for WavOutput {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            log::error!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_readable_file_with_all_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let mut out = WavOutput::create(&path, (44_100, 2)).unwrap();
        let block: Vec<f32> = (0..882).flat_map(|i| [i as f32 / 882.0, -0.5]).collect();
        for _ in 0..3 {
            out.write(&block).unwrap();
        }
        out.finish().unwrap();
        assert!(out.write(&block).is_err());
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().channels, 2);
        assert_eq!(reader.spec().sample_rate, 44_100);
        assert_eq!(reader.spec().bits_per_sample, 16);
        assert_eq!(reader.duration(), 3 * 882);
        let samples: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
        assert_eq!(samples[1], -16384);
        assert_eq!(samples[2 * 441], 16384);
    }

    #[test]
    fn drop_finalises_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dropped.wav");
        {
            let mut out = WavOutput::create(&path, (22_050, 1)).unwrap();
            out.write(&[0.25; 1000]).unwrap();
        }
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.duration(), 1000);
    }

    #[test]
    fn unwritable_path_names_the_file() {
        let err = WavOutput::create("/nonexistent-dir/x.wav", (44_100, 2))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent-dir/x.wav"), "{err}");
    }
}
