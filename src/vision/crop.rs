//! From a detected face box to the 48x48 crop the emotion model reads.
//!
//! SeetaFace's box is a square from the hairline to the chin; FER2013's faces are framed a
//! little looser. The box is grown about its centre by `crop_scale` into a square, cut from
//! the full-resolution frame (pixels past the frame's edge repeat the edge), and
//! area-resized to 48x48.
//!
//! `DEFAULT_CROP_SCALE` was chosen end to end on the 60 labelled Yale frames (happy, sad,
//! surprised, normal), not by eye: with an int8 export of a training checkpoint (60.8% on
//! FER2013 PublicTest), accuracy was flat at 70% (42/60) from 1.0 to 1.2 and fell beyond
//! 1.5 (63% at 1.6, 60% at 1.8, 48% at 2.0); the mean probability of the true label peaked
//! at 1.1 (0.538; 0.535 at 1.0 and 1.2, 0.498 at 1.5). Shifting the crop up or down by 5-15%
//! of the box changed less than two frames in 60, so the crop stays centred. With the
//! distilled models shipped since, 1.1 is still best (second cycle, 70.9%: 70% at 1.0, 73.3%
//! at 1.1 and 1.2, 65% at 1.3; the third cycle reads 75% at 1.1). Re-run the sweep
//! (`crop_scale_sweep` in tests/it/vision.rs) when the model changes.

use super::FaceBox;
use crate::camera::GrayFrame;
use crate::emotion::preprocess::{resize_area, Face};

/// Side of the crop as a multiple of the detector's box side (tuned on Yale, see above).
pub const DEFAULT_CROP_SCALE: f32 = 1.1;

/// A square in frame coordinates; may reach past the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Square {
    pub x: i64,
    pub y: i64,
    pub side: usize,
}

/// The square of side `scale * max(width, height)` centred on the box.
pub fn framing(face: &FaceBox, scale: f32) -> Square {
    let side = (face.width.max(face.height) as f64 * scale.max(0.01) as f64)
        .round()
        .max(1.0);
    let (cx, cy) = face.center();
    Square {
        x: (cx - side / 2.0).round() as i64,
        y: (cy - side / 2.0).round() as i64,
        side: side as usize,
    }
}

/// The square's pixels (row-major, `side * side`), coordinates clamped to the frame.
pub fn cut(frame: &GrayFrame, sq: Square) -> Vec<u8> {
    let clamp = |v: i64, len: usize| v.clamp(0, len as i64 - 1) as usize;
    let cols: Vec<usize> = (0..sq.side as i64)
        .map(|i| clamp(sq.x + i, frame.width))
        .collect();
    let mut out = Vec::with_capacity(sq.side * sq.side);
    for j in 0..sq.side as i64 {
        let row = &frame.data[clamp(sq.y + j, frame.height) * frame.width..][..frame.width];
        out.extend(cols.iter().map(|&c| row[c]));
    }
    out
}

/// The 48x48 face crop for `face`, framed like FER2013 with `scale`.
pub fn crop_face(frame: &GrayFrame, face: &FaceBox, scale: f32) -> Face {
    let sq = framing(face, scale);
    resize_area(&cut(frame, sq), sq.side, sq.side).expect("a square of side >= 1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> GrayFrame {
        GrayFrame::new(w, h, (0..w * h).map(|i| f(i % w, i / w)).collect()).unwrap()
    }

    fn face(x: i32, y: i32, w: u32, h: u32) -> FaceBox {
        FaceBox {
            x,
            y,
            width: w,
            height: h,
            score: 5.0,
        }
    }

    #[test]
    fn box_grows_about_its_centre_into_a_square() {
        assert_eq!(
            framing(&face(100, 50, 80, 80), 1.5),
            Square {
                x: 80,
                y: 30,
                side: 120
            }
        );
        assert_eq!(
            framing(&face(100, 50, 80, 80), 1.0),
            Square {
                x: 100,
                y: 50,
                side: 80
            }
        );
        // A tall box makes a square on its longer side.
        assert_eq!(
            framing(&face(10, 10, 40, 60), 1.0),
            Square {
                x: 0,
                y: 10,
                side: 60
            }
        );
    }

    #[test]
    fn crop_inside_the_frame_is_the_pixels_there() {
        // Left half dark, right half bright; a 48x48 box straddling the middle at scale 1.
        let f = frame(200, 100, |x, _| if x < 100 { 10 } else { 240 });
        let c = crop_face(&f, &face(76, 20, 48, 48), 1.0);
        assert_eq!((c[0], c[23], c[24], c[47]), (10, 10, 240, 240));
        assert_eq!(c[47 * 48], 10);
    }

    #[test]
    fn crop_past_the_edges_repeats_the_edge_pixels() {
        // Each pixel encodes its position; a box hanging off the top-left corner.
        let f = frame(64, 64, |x, y| (x + 2 * y) as u8);
        let sq = framing(&face(-8, -8, 16, 16), 1.0);
        assert_eq!(
            sq,
            Square {
                x: -8,
                y: -8,
                side: 16
            }
        );
        let px = cut(&f, sq);
        assert_eq!(px.len(), 256);
        // Rows and columns before 0 repeat row/column 0.
        assert_eq!(px[0], f.pixel(0, 0));
        assert_eq!(px[7 * 16 + 7], f.pixel(0, 0));
        assert_eq!(px[8 * 16 + 8], f.pixel(0, 0));
        assert_eq!(px[15 * 16 + 15], f.pixel(7, 7));
        assert_eq!(px[3 * 16 + 12], f.pixel(4, 0));
        // Off the bottom-right corner, larger than the frame: still a full 48x48 face.
        let big = crop_face(&f, &face(40, 40, 100, 100), 1.5);
        assert_eq!(big[47 * 48 + 47], f.pixel(63, 63));
        // A box entirely outside the frame reads the nearest corner.
        let out = crop_face(&f, &face(500, -300, 20, 20), 1.2);
        assert!(out.iter().all(|&p| p == f.pixel(63, 0)));
    }
}
