//! Where frames come from. Every source delivers 8-bit grayscale frames (the Y plane of
//! YUYV/I420 is grayscale for free); the daemon never sees a camera's native format.

pub mod convert;
pub mod dir;
pub mod image;
pub mod reconnect;
pub mod rpicam;
pub mod v4l;

pub use dir::DirSource;
pub use reconnect::{Backoff, Reconnecting};
pub use rpicam::RpicamSource;
pub use v4l::V4l2Source;

use crate::config::{CameraConfig, CameraSource, Named};
use std::time::Duration;

/// One grayscale frame, row-major, `width * height` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrayFrame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl GrayFrame {
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Option<GrayFrame> {
        (data.len() == width * height && width > 0 && height > 0).then_some(GrayFrame {
            width,
            height,
            data,
        })
    }

    pub fn pixel(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.width + x]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// The device is absent or went away: the caller reopens it with backoff.
    #[error("{device}: {message}")]
    Unavailable { device: String, message: String },
    /// One bad frame (a truncated MJPEG, a corrupt file): skip it and read the next.
    #[error("{device}: bad frame: {message}")]
    BadFrame { device: String, message: String },
    /// No frame within the timeout.
    #[error("{device}: no frame for {timeout:?}")]
    Timeout { device: String, timeout: Duration },
}

/// A camera or anything standing in for one.
pub trait FrameSource: Send {
    /// Blocks until the next frame (at most a few seconds: a stalled camera is an error).
    fn next_frame(&mut self) -> Result<GrayFrame, CameraError>;
    /// What it is and the format it negotiated, for logs and `camera-test`.
    fn describe(&self) -> String;
}

/// Opens the backend a config names.
pub type Builder = fn(&CameraConfig) -> Result<Box<dyn FrameSource>, CameraError>;

/// Every backend by its `camera.source` name (librespot's `BACKENDS` table).
pub const BACKENDS: &[(&str, Builder)] = &[
    ("v4l2", |c| {
        Ok(Box::new(V4l2Source::open(
            &c.device, c.width, c.height, c.fps,
        )?))
    }),
    ("rpicam", |c| {
        // `device` is the camera index; anything else (the default "/dev/video0") means
        // rpicam-vid's default camera.
        let camera = c.device.trim().parse().ok();
        Ok(Box::new(RpicamSource::open(
            camera, c.width, c.height, c.fps,
        )?))
    }),
    ("dir", |c| {
        Ok(Box::new(DirSource::open(&c.device, c.fps, true)?))
    }),
];

/// The configured camera, opened lazily and reopened with backoff whenever it goes away:
/// `next_frame` answers within about a second even while the camera is missing.
pub fn open_source(cfg: &CameraConfig) -> Box<dyn FrameSource> {
    let cfg = cfg.clone();
    Box::new(Reconnecting::new(
        label(&cfg),
        Box::new(move || open_once(&cfg)),
    ))
}

/// The configured camera, opened once (no reconnecting): what `moodbox doctor` tries.
pub fn open_once(cfg: &CameraConfig) -> Result<Box<dyn FrameSource>, CameraError> {
    let name = cfg.source.name();
    match BACKENDS.iter().find(|(n, _)| *n == name) {
        Some((_, build)) => build(cfg),
        None => Err(CameraError::Unavailable {
            device: label(cfg),
            message: "no camera backend by that name".into(),
        }),
    }
}

/// How logs name the configured camera.
fn label(cfg: &CameraConfig) -> String {
    let name = cfg.source.name();
    match cfg.source {
        CameraSource::Rpicam => format!("{name} camera {}", cfg.device),
        _ => format!("{name} {}", cfg.device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configurable_source_has_a_backend() {
        for (name, _) in CameraSource::OPTIONS {
            assert!(BACKENDS.iter().any(|(n, _)| n == name), "{name}");
        }
    }

    #[test]
    fn open_source_survives_a_missing_camera() {
        let mut cfg = crate::config::Config::default().camera;
        cfg.source = CameraSource::V4l2;
        cfg.device = "/dev/video-moodbox-missing".into();
        let mut cam = open_source(&cfg);
        let err = cam.next_frame().err().unwrap();
        assert!(err.to_string().contains("video-moodbox-missing"), "{err}");
        assert!(
            cam.describe().contains("reconnecting"),
            "{}",
            cam.describe()
        );
    }
}
