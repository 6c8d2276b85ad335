//! Where rendered samples go: the seam between the player thread and the hardware.
//!
//! One trait, one file per backend, chosen by name from the config (librespot's
//! `audio_backend` table). Tests and boxes without a sound card use `null` or `wav:PATH`.

use super::device::DeviceOutput;
use super::null::NullOutput;
use super::wav::WavOutput;
use super::PlayerError;

/// The format the player renders in; every backend is opened for it.
pub const DEFAULT_FORMAT: (u32, u16) = (44_100, 2);

/// A sink for interleaved f32 samples.
pub trait AudioOutput: Send {
    /// (sample rate, channels) that `write` expects.
    fn format(&self) -> (u32, u16);

    /// Takes one block of interleaved samples. A real-time output blocks until it has
    /// room, which is what paces the player thread.
    fn write(&mut self, block: &[f32]) -> Result<(), PlayerError>;

    /// Human-readable name for logs, e.g. `device:default` or `wav:/tmp/out.wav`.
    fn name(&self) -> String;

    /// Whether `write` keeps real time. A file output does not: the player then renders
    /// only while there is something to hear, instead of spinning out endless silence.
    fn paced(&self) -> bool {
        true
    }
}

type Builder = fn(&str, (u32, u16)) -> Result<Box<dyn AudioOutput>, PlayerError>;

fn build_null(_arg: &str, format: (u32, u16)) -> Result<Box<dyn AudioOutput>, PlayerError> {
    Ok(Box::new(NullOutput::new(format, true)))
}

fn build_wav(path: &str, format: (u32, u16)) -> Result<Box<dyn AudioOutput>, PlayerError> {
    Ok(Box::new(WavOutput::create(path, format)?))
}

fn build_device(name: &str, format: (u32, u16)) -> Result<Box<dyn AudioOutput>, PlayerError> {
    Ok(Box::new(DeviceOutput::open(name, format)?))
}

/// Backends by spec prefix: `null`, `wav:PATH`. Anything else names a sound card.
pub const BACKENDS: &[(&str, Builder)] = &[("null", build_null), ("wav", build_wav)];

/// Opens the output named by `spec` in [`DEFAULT_FORMAT`]:
/// `"null"` discards at real-time pace, `"wav:PATH"` writes a 16-bit WAV file, and
/// anything else (`"default"`, `"plughw:CARD=Headphones,DEV=0"`, a substring of a
/// device name) opens that sound card.
pub fn open_output(spec: &str) -> Result<Box<dyn AudioOutput>, PlayerError> {
    open_output_with_format(spec, DEFAULT_FORMAT)
}

/// [`open_output`] for a chosen (sample rate, channels).
pub fn open_output_with_format(
    spec: &str,
    format: (u32, u16),
) -> Result<Box<dyn AudioOutput>, PlayerError> {
    let spec = spec.trim();
    let (prefix, arg) = spec.split_once(':').unwrap_or((spec, ""));
    for (name, build) in BACKENDS {
        if *name == prefix {
            return build(arg, format);
        }
    }
    // ALSA names contain colons too (`hw:0,0`), so the whole spec is the device name.
    build_device(spec, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_choose_backends() {
        let dir = tempfile::tempdir().unwrap();
        let null = open_output("null").unwrap();
        assert_eq!(null.name(), "null");
        assert_eq!(null.format(), DEFAULT_FORMAT);
        let path = dir.path().join("o.wav");
        let wav = open_output(&format!("wav:{}", path.display())).unwrap();
        assert!(wav.name().starts_with("wav:"));
        assert!(!wav.paced());
        assert!(open_output("wav:").is_err());
    }

    #[test]
    fn missing_device_is_an_error_not_a_panic() {
        let err = open_output("no-such-card-xyz").err().expect("should fail");
        assert!(err.to_string().contains("no-such-card-xyz"), "{err}");
    }
}
