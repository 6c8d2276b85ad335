//! Where frames come from. Every source delivers 8-bit grayscale frames (the Y plane of
//! YUYV/I420 is grayscale for free); the daemon never sees a camera's native format.

pub mod image;

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
