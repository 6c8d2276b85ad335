//! Following a face between detector searches by template matching. The face the detector
//! found is kept as a small template; on the next frames it is looked for only a little
//! around where it was, by normalised cross-correlation, which costs a fraction of a
//! millisecond where a detector search around the face costs several. The template is
//! never updated from a followed position (only from detections), so the box cannot drift
//! off the face a little at a time; when the best match falls below `MIN_CORRELATION`
//! (the face turned, left, or the light changed), the tracker goes back to the detector.

use super::crop::{cut, framing, Square};
use super::detect::resize;
use super::{FaceBox, Region};
use crate::camera::GrayFrame;

/// Side of the template: the face is matched at this size, whatever its size in the frame.
const SIDE: usize = 24;
/// How far the face may move between two frames, in template pixels each way (a quarter
/// of the face).
const REACH: usize = 6;
/// Lowest normalised cross-correlation accepted as the same face, tuned on consecutive Yale
/// frames (`tests/it/vision.rs`): at 0.8 every accepted match sits on the face (IoU >= 0.74
/// with a full search) and no background patch matches; at 0.75 one match sits off it.
pub const MIN_CORRELATION: f32 = 0.8;

/// A detected face, as a zero-mean, unit-norm `SIDE`x`SIDE` patch.
#[derive(Debug, Clone)]
pub struct Template {
    pixels: Vec<f32>,
}

impl Template {
    /// The face's square (the box's larger side, centred on it) as a template; `None` for
    /// a flat patch, which would match anything.
    pub fn capture(frame: &GrayFrame, face: &FaceBox) -> Option<Template> {
        let sq = framing(face, 1.0);
        let patch = sample(frame, sq.x, sq.y, sq.side, SIDE);
        let mean = patch.iter().sum::<f32>() / patch.len() as f32;
        let centred: Vec<f32> = patch.iter().map(|v| v - mean).collect();
        let norm = centred.iter().map(|v| v * v).sum::<f32>().sqrt();
        (norm > 1e-3 * SIDE as f32).then(|| Template {
            pixels: centred.iter().map(|v| v / norm).collect(),
        })
    }

    /// Where the template's face is in `frame`, looked for around `last` (the box the
    /// tracker follows): that box moved to the best match, and the match's correlation;
    /// `None` when even the best match is below `MIN_CORRELATION`.
    pub fn locate(&self, frame: &GrayFrame, last: &FaceBox) -> Option<(FaceBox, f32)> {
        let sq = framing(last, 1.0);
        let px = sq.side as f64 / SIDE as f64; // frame pixels per template pixel
        let reach = (REACH as f64 * px).round() as i64;
        let n = SIDE + 2 * REACH;
        let area = sample(
            frame,
            sq.x - reach,
            sq.y - reach,
            sq.side + 2 * reach as usize,
            n,
        );
        let (mut best, mut at) = (f32::MIN, (REACH, REACH));
        for dy in 0..=2 * REACH {
            for dx in 0..=2 * REACH {
                let c = self.correlation(&area, n, dx, dy);
                if c > best {
                    (best, at) = (c, (dx, dy));
                }
            }
        }
        let shift = |d: usize| ((d as f64 - REACH as f64) * px).round() as i32;
        (best >= MIN_CORRELATION).then(|| {
            let moved = FaceBox {
                x: last.x + shift(at.0),
                y: last.y + shift(at.1),
                ..*last
            };
            (moved, best)
        })
    }

    /// Normalised cross-correlation of the template with the window at (dx, dy) of an
    /// `n`-wide area (the template is zero-mean and unit-norm already).
    fn correlation(&self, area: &[f32], n: usize, dx: usize, dy: usize) -> f32 {
        let (mut dot, mut sum, mut sq) = (0f32, 0f32, 0f32);
        for (row, t) in self.pixels.chunks_exact(SIDE).enumerate() {
            let w = &area[(dy + row) * n + dx..][..SIDE];
            for (a, b) in t.iter().zip(w) {
                dot += a * b;
                sum += b;
                sq += b * b;
            }
        }
        let var = sq - sum * sum / (SIDE * SIDE) as f32;
        if var <= 1e-6 {
            0.0
        } else {
            dot / var.sqrt()
        }
    }
}

/// The square at (`x`, `y`) of `side` frame pixels (the edge repeats past the frame)
/// resized to `out`x`out`.
fn sample(frame: &GrayFrame, x: i64, y: i64, side: usize, out: usize) -> Vec<f32> {
    let square = GrayFrame {
        width: side,
        height: side,
        data: cut(frame, Square { x, y, side }),
    };
    let all = Region {
        x: 0,
        y: 0,
        width: side,
        height: side,
    };
    resize(&square, all, out, out)
        .into_iter()
        .map(f32::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame with a bright disc with two dark "eyes" centred at (cx, cy), on a gradient.
    fn scene(cx: f64, cy: f64, w: usize, h: usize) -> GrayFrame {
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let (dx, dy) = (x - cx, y - cy);
                let eye = |ex: f64| ((x - (cx + ex)).powi(2) + (y - (cy - 8.0)).powi(2)) < 25.0;
                if eye(-10.0) || eye(10.0) {
                    30
                } else if dx * dx + dy * dy < 900.0 {
                    200
                } else {
                    (60.0 + x * 0.2 + y * 0.1) as u8
                }
            })
            .collect();
        GrayFrame::new(w, h, data).unwrap()
    }

    fn face_at(cx: i32, cy: i32) -> FaceBox {
        FaceBox {
            x: cx - 32,
            y: cy - 32,
            width: 64,
            height: 64,
            score: 5.0,
        }
    }

    #[test]
    fn follows_a_face_that_moved_a_little() {
        let before = scene(100.0, 90.0, 320, 240);
        let t = Template::capture(&before, &face_at(100, 90)).unwrap();
        // Where it was: found in place, correlation ~1.
        let (same, c) = t.locate(&before, &face_at(100, 90)).unwrap();
        assert_eq!((same.x, same.y), (68, 58));
        assert!(c > 0.99, "{c}");
        // Moved 8 px right and 5 px up: found within a template pixel (64/24 px).
        let after = scene(108.0, 85.0, 320, 240);
        let (moved, c) = t.locate(&after, &face_at(100, 90)).unwrap();
        assert!(
            (moved.x - 76).abs() <= 2 && (moved.y - 53).abs() <= 2,
            "{moved:?}"
        );
        assert!(c > 0.9, "{c}");
        assert_eq!((moved.width, moved.height), (64, 64));
    }

    #[test]
    fn loses_a_face_that_left_or_moved_too_far() {
        let before = scene(100.0, 90.0, 320, 240);
        let t = Template::capture(&before, &face_at(100, 90)).unwrap();
        let gone = scene(1000.0, 1000.0, 320, 240);
        assert!(t.locate(&gone, &face_at(100, 90)).is_none());
        let far = scene(160.0, 90.0, 320, 240);
        assert!(t.locate(&far, &face_at(100, 90)).is_none());
    }

    #[test]
    fn a_flat_patch_is_no_template_and_edges_are_safe() {
        let flat = GrayFrame::new(100, 100, vec![128; 100 * 100]).unwrap();
        assert!(Template::capture(&flat, &face_at(50, 50)).is_none());
        // A face half out of the frame: the edge repeats, nothing panics.
        let frame = scene(10.0, 10.0, 120, 100);
        let t = Template::capture(&frame, &face_at(10, 10)).unwrap();
        assert!(t.locate(&frame, &face_at(10, 10)).is_some());
        assert!(t.locate(&frame, &face_at(-500, 900)).is_none());
    }
}
