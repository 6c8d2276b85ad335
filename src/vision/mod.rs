//! Faces in camera frames: find them (`detect`, SeetaFace via rustface), follow the
//! listener between frames (`track`, by template matching in `follow`), cut the crop the
//! emotion model reads (`crop`), and run all of it per frame on the vision thread
//! (`pipeline`). `annotate` draws the result for people; `cli` holds `moodbox detect`,
//! `eval-frames` and `camera-test`.
//!
//! Frames stay in memory: nothing here writes a frame to disk unless the user asks for it
//! (`detect --annotate`, or `camera.debug_snapshots`, which keeps only the last few 48x48
//! crops).

pub mod annotate;
pub mod cli;
pub mod crop;
pub mod detect;
pub mod follow;
pub mod pipeline;
pub mod track;

use crate::camera::CameraError;
use crate::emotion::model::ModelError;
use serde::Serialize;
use std::path::PathBuf;

/// A face in full-frame pixel coordinates. The box may reach past the frame's edges.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaceBox {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    /// The detector's confidence (SeetaFace score; faces start at `detect::SCORE_THRESHOLD`).
    pub score: f64,
}

impl FaceBox {
    pub fn area(&self) -> f64 {
        self.width as f64 * self.height as f64
    }

    pub fn center(&self) -> (f64, f64) {
        (
            self.x as f64 + self.width as f64 / 2.0,
            self.y as f64 + self.height as f64 / 2.0,
        )
    }

    /// Area shared with `other`.
    pub fn intersection(&self, other: &FaceBox) -> f64 {
        let span = |a0: i32, al: u32, b0: i32, bl: u32| {
            let lo = a0.max(b0) as i64;
            let hi = (a0 as i64 + al as i64).min(b0 as i64 + bl as i64);
            (hi - lo).max(0) as f64
        };
        span(self.x, self.width, other.x, other.width)
            * span(self.y, self.height, other.y, other.height)
    }

    /// Intersection over union, 0 for disjoint boxes.
    pub fn iou(&self, other: &FaceBox) -> f64 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// A rectangle inside a frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Camera(#[from] CameraError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An image that does not decode, a frame folder with no labelled frames.
    #[error("{}: {message}", path.display())]
    Data { path: PathBuf, message: String },
}

impl VisionError {
    /// Problems with the input images (the CLI exits with `EX_DATAERR`, 65).
    pub fn is_data_error(&self) -> bool {
        matches!(self, VisionError::Data { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: i32, y: i32, w: u32, h: u32) -> FaceBox {
        FaceBox {
            x,
            y,
            width: w,
            height: h,
            score: 1.0,
        }
    }

    #[test]
    fn iou_of_overlapping_disjoint_and_nested_boxes() {
        assert_eq!(b(0, 0, 10, 10).iou(&b(0, 0, 10, 10)), 1.0);
        assert_eq!(b(0, 0, 10, 10).iou(&b(20, 0, 10, 10)), 0.0);
        // Half overlap: 50 / 150.
        assert!((b(0, 0, 10, 10).iou(&b(5, 0, 10, 10)) - 1.0 / 3.0).abs() < 1e-12);
        // Nested: 25 / 100; negative coordinates are fine.
        assert!((b(-5, -5, 10, 10).iou(&b(-5, -5, 5, 5)) - 0.25).abs() < 1e-12);
        assert_eq!(b(0, 0, 10, 10).center(), (5.0, 5.0));
    }
}
