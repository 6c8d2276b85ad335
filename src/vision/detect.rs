//! Face detection with SeetaFace (the `rustface` crate, vendored with a faster inner loop:
//! `rustface/README.md`), its model embedded in the binary.
//!
//! rustface's quirks, and what this wrapper does about them:
//! - its sliding window is 40 px and `set_min_face_size` does nothing, so the smallest face
//!   it finds is 40 px of *its* input: we resize the frame (or a region of it) by
//!   `WINDOW / min_face` first, and map the boxes back to full-frame coordinates;
//! - `detect` panics on anything but one-channel images and on empty ones: it only ever gets
//!   gray buffers of at least 40x40, and a panic is caught all the same;
//! - at low thresholds a small false box can sit inside a real face; the threshold stays at
//!   SeetaFace's 3.85 and a box mostly inside a higher-scoring one is dropped.

use super::{FaceBox, Region};
use crate::camera::GrayFrame;
use rustface::{Detector, ImageData};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// SeetaFace's frontal face model (BSD-2-Clause, see `seeta_fd_frontal_v1.0.LICENSE`).
const MODEL: &[u8] = include_bytes!("seeta_fd_frontal_v1.0.bin");
/// rustface's detection window: the smallest face it can find, in pixels of its input.
pub const WINDOW: u32 = 40;
/// Minimum SeetaFace score of a face (rustface's default; 2.0 lets nested false boxes in).
pub const SCORE_THRESHOLD: f64 = 3.85;
/// A box this much inside a higher-scoring one (intersection over its own area) is dropped.
const NESTED: f64 = 0.5;

/// SeetaFace with the frame scaling it needs. Not `Send` (rustface hands out a plain trait
/// object), so the vision thread builds its own.
pub struct FaceDetector {
    inner: Box<dyn Detector>,
    min_face: u32,
}

impl FaceDetector {
    /// A detector for faces of at least `min_face` pixels (of the frames it will be given).
    pub fn new(min_face: u32) -> FaceDetector {
        FaceDetector {
            inner: build(),
            min_face: min_face.max(1),
        }
    }

    pub fn min_face(&self) -> u32 {
        self.min_face
    }

    /// The scale the whole frame is resized by before detection: up for faces smaller than
    /// the window, down (faster) when the smallest face wanted is larger.
    pub fn frame_scale(&self) -> f32 {
        WINDOW as f32 / self.min_face as f32
    }

    /// Every face in the frame, best score first.
    pub fn detect(&mut self, frame: &GrayFrame) -> Vec<FaceBox> {
        let all = Region {
            x: 0,
            y: 0,
            width: frame.width,
            height: frame.height,
        };
        let scale = self.frame_scale();
        self.detect_in(frame, all, scale)
    }

    /// Faces in `region` of the frame (clipped to it), with the region resized by `scale`
    /// first; boxes are in full-frame coordinates, best score first.
    pub fn detect_in(&mut self, frame: &GrayFrame, region: Region, scale: f32) -> Vec<FaceBox> {
        let Some(region) = clip(region, frame) else {
            return vec![];
        };
        let (w, h) = (
            (region.width as f32 * scale).round() as usize,
            (region.height as f32 * scale).round() as usize,
        );
        if w < WINDOW as usize || h < WINDOW as usize {
            return vec![];
        }
        let whole = region.width == frame.width && region.height == frame.height;
        let resized;
        let pixels = if whole && (w, h) == (frame.width, frame.height) {
            &frame.data
        } else {
            resized = resize(frame, region, w, h);
            &resized
        };
        let image = ImageData::new(pixels, w as u32, h as u32);
        let found = match catch_unwind(AssertUnwindSafe(|| self.inner.detect(&image))) {
            Ok(found) => found,
            Err(_) => {
                log::warn!("the face detector panicked on a {w}x{h} image; rebuilt it");
                self.inner = build();
                return vec![];
            }
        };
        let (sx, sy) = (
            region.width as f64 / w as f64,
            region.height as f64 / h as f64,
        );
        let boxes = found.iter().map(|f| {
            let b = f.bbox();
            FaceBox {
                x: region.x as i32 + (b.x() as f64 * sx).round() as i32,
                y: region.y as i32 + (b.y() as f64 * sy).round() as i32,
                width: (b.width() as f64 * sx).round().max(1.0) as u32,
                height: (b.height() as f64 * sy).round().max(1.0) as u32,
                score: f.score(),
            }
        });
        drop_nested(boxes.collect())
    }
}

fn build() -> Box<dyn Detector> {
    let model = rustface::read_model(MODEL).expect("the embedded SeetaFace model parses");
    let mut d = rustface::create_detector_with_model(model);
    d.set_score_thresh(SCORE_THRESHOLD);
    d.set_pyramid_scale_factor(0.8);
    d.set_slide_window_step(4, 4);
    d
}

fn clip(r: Region, frame: &GrayFrame) -> Option<Region> {
    let (x, y) = (r.x.min(frame.width), r.y.min(frame.height));
    let width = r.width.min(frame.width - x);
    let height = r.height.min(frame.height - y);
    (width > 0 && height > 0).then_some(Region {
        x,
        y,
        width,
        height,
    })
}

/// Sorts by score and drops boxes mostly inside a better one.
fn drop_nested(mut boxes: Vec<FaceBox>) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<FaceBox> = Vec::with_capacity(boxes.len());
    for b in boxes {
        if kept
            .iter()
            .all(|k| k.intersection(&b) < NESTED * b.area().min(k.area()))
        {
            kept.push(b);
        }
    }
    kept
}

/// `region` of the frame resized to `w`x`h`: area averaging when shrinking, bilinear when
/// enlarging, separable.
pub fn resize(frame: &GrayFrame, region: Region, w: usize, h: usize) -> Vec<u8> {
    let xs = taps(region.width, w);
    let ys = taps(region.height, h);
    let mut rows = vec![0f32; w * region.height];
    for (ry, out) in rows.chunks_exact_mut(w).enumerate() {
        let start = (region.y + ry) * frame.width + region.x;
        let src = &frame.data[start..start + region.width];
        for (o, taps) in out.iter_mut().zip(&xs) {
            *o = taps.iter().map(|&(i, wt)| src[i] as f32 * wt).sum();
        }
    }
    let mut out = vec![0u8; w * h];
    for (oy, taps) in ys.iter().enumerate() {
        for ox in 0..w {
            let v: f32 = taps.iter().map(|&(i, wt)| rows[i * w + ox] * wt).sum();
            out[oy * w + ox] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// For each of `dst` outputs, the source indices it reads and their weights (summing to 1).
fn taps(src: usize, dst: usize) -> Vec<Vec<(usize, f32)>> {
    let s = src as f64 / dst as f64;
    (0..dst)
        .map(|o| {
            if s <= 1.0 {
                let c = ((o as f64 + 0.5) * s - 0.5).max(0.0);
                let i = (c.floor() as usize).min(src - 1);
                let f = (c - i as f64) as f32;
                vec![(i, 1.0 - f), ((i + 1).min(src - 1), f)]
            } else {
                let (start, end) = (o as f64 * s, (o as f64 + 1.0) * s);
                (start.floor() as usize..(end.ceil() as usize).min(src))
                    .map(|i| {
                        let cover = end.min(i as f64 + 1.0) - start.max(i as f64);
                        (i, (cover / s) as f32)
                    })
                    .filter(|&(_, w)| w > 0.0)
                    .collect()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> GrayFrame {
        let data = (0..w * h).map(|i| f(i % w, i / w)).collect();
        GrayFrame::new(w, h, data).unwrap()
    }

    #[test]
    fn the_vendored_inner_product_matches_a_plain_sum_at_every_length() {
        // The eight-lane sum (rustface/README.md): every length covers full lanes and a tail.
        for n in 0..40 {
            let left: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let right: Vec<f32> = (0..n).map(|i| 1.5 - i as f32 * 0.05).collect();
            let exact: f64 = left
                .iter()
                .zip(&right)
                .map(|(l, r)| *l as f64 * *r as f64)
                .sum();
            let got = rustface::math::vector_inner_product(&left, &right);
            assert!(
                (got as f64 - exact).abs() < 1e-4,
                "length {n}: {got} vs {exact}"
            );
        }
        // Unequal lengths: the shorter one decides, as upstream's zip did.
        assert_eq!(
            rustface::math::vector_inner_product(&[1.0; 9], &[2.0; 20]),
            18.0
        );
    }

    fn b(x: i32, y: i32, side: u32, score: f64) -> FaceBox {
        FaceBox {
            x,
            y,
            width: side,
            height: side,
            score,
        }
    }

    #[test]
    fn nested_and_overlapping_boxes_are_dropped_in_score_order() {
        let kept = drop_nested(vec![
            b(10, 10, 20, 4.0), // inside the big one
            b(0, 0, 100, 9.0),  // the face
            b(200, 0, 50, 5.0), // another face
            b(90, 0, 100, 6.0), // barely touches the face
            b(205, 5, 50, 4.5), // the same face again, lower score
        ]);
        let xs: Vec<i32> = kept.iter().map(|b| b.x).collect();
        assert_eq!(xs, vec![0, 90, 200]);
    }

    #[test]
    fn resize_keeps_flat_images_flat_and_averages_when_shrinking() {
        let flat = frame(64, 48, |_, _| 77);
        let all = Region {
            x: 0,
            y: 0,
            width: 64,
            height: 48,
        };
        assert!(resize(&flat, all, 150, 97).iter().all(|&p| p == 77));
        assert!(resize(&flat, all, 13, 7).iter().all(|&p| p == 77));
        // Columns alternate 0/200: halving averages each pair to 100.
        let stripes = frame(64, 48, |x, _| if x % 2 == 0 { 0 } else { 200 });
        assert!(resize(&stripes, all, 32, 24).iter().all(|&p| p == 100));
        // A region: the right half of a left-dark/right-bright frame is all bright.
        let halves = frame(64, 48, |x, _| if x < 32 { 0 } else { 250 });
        let right = Region {
            x: 32,
            y: 8,
            width: 32,
            height: 32,
        };
        assert!(resize(&halves, right, 64, 64).iter().all(|&p| p == 250));
    }

    #[test]
    fn blank_tiny_and_out_of_frame_inputs_find_nothing_and_never_panic() {
        let mut d = FaceDetector::new(40);
        assert!(d.detect(&frame(320, 240, |_, _| 128)).is_empty());
        assert!(d.detect(&frame(30, 30, |x, y| (x * y) as u8)).is_empty());
        let far = Region {
            x: 1000,
            y: 1000,
            width: 50,
            height: 50,
        };
        assert!(d.detect_in(&frame(64, 64, |_, _| 9), far, 1.0).is_empty());
        assert_eq!(FaceDetector::new(20).frame_scale(), 2.0);
        assert_eq!(FaceDetector::new(80).frame_scale(), 0.5);
    }
}
