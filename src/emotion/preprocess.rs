//! Pixels in, model input out: the exact normalisation the model was trained with, the
//! mirror used for flip test-time augmentation, and an area resize to the 48x48 face.
//!
//! Pure functions with no model behind them, so they are tested on their own.

use tract_onnx::prelude::{tract_ndarray, Tensor};

/// Side of the square face crop the model reads.
pub const FACE_SIDE: usize = 48;
/// Pixels in one face crop.
pub const FACE_PIXELS: usize = FACE_SIDE * FACE_SIDE;
/// A 48x48 grayscale face crop, row-major, 0 = black.
pub type Face = [u8; FACE_PIXELS];

/// `x = (pixel / 255 - mean) / std`, as in `models/training/train.py` (`MEAN`, `STD`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalisation {
    pub mean: f32,
    pub std: f32,
}

impl Normalisation {
    /// The constants the training recipe uses; `emotion.json` repeats them.
    pub const TRAINING: Normalisation = Normalisation {
        mean: 0.5,
        std: 0.25,
    };

    pub fn apply(&self, pixel: u8) -> f32 {
        (pixel as f32 / 255.0 - self.mean) / self.std
    }
}

impl Default for Normalisation {
    fn default() -> Self {
        Self::TRAINING
    }
}

/// One face as the model's input: f32 `[1, 1, 48, 48]`, normalised as in training.
pub fn preprocess(face: &Face) -> Tensor {
    preprocess_batch(&[face], Normalisation::TRAINING)
}

/// Several faces as one batch: f32 `[N, 1, 48, 48]`.
pub fn preprocess_batch(faces: &[&Face], norm: Normalisation) -> Tensor {
    let mut data = Vec::with_capacity(faces.len() * FACE_PIXELS);
    for face in faces {
        data.extend(face.iter().map(|&p| norm.apply(p)));
    }
    tract_ndarray::Array4::from_shape_vec((faces.len(), 1, FACE_SIDE, FACE_SIDE), data)
        .expect("length is faces * 48 * 48 by construction")
        .into()
}

/// The face mirrored left-right (what `torch.flip(x, dims=[3])` does to an NCHW batch).
pub fn mirror(face: &Face) -> Face {
    let mut out = [0u8; FACE_PIXELS];
    for (src, dst) in face
        .chunks_exact(FACE_SIDE)
        .zip(out.chunks_exact_mut(FACE_SIDE))
    {
        for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
            *d = *s;
        }
    }
    out
}

/// Resizes a grayscale image (`width * height` bytes, row-major) to 48x48 by area
/// averaging: each output pixel is the mean of the source area it covers, with fractional
/// weights at the edges (OpenCV's `INTER_AREA`). Upscaling works too (it degrades to
/// nearest-ish sampling of the covering pixel). Returns `None` when the buffer is empty or
/// its length does not match `width * height`.
pub fn resize_area(gray: &[u8], width: usize, height: usize) -> Option<Face> {
    if width == 0 || height == 0 || gray.len() != width.checked_mul(height)? {
        return None;
    }
    let xs = spans(width, FACE_SIDE);
    let ys = spans(height, FACE_SIDE);
    let mut out = [0u8; FACE_PIXELS];
    for (oy, yspan) in ys.iter().enumerate() {
        for (ox, xspan) in xs.iter().enumerate() {
            let mut sum = 0.0f64;
            let mut weight = 0.0f64;
            for &(sy, wy) in yspan {
                let row = &gray[sy * width..(sy + 1) * width];
                for &(sx, wx) in xspan {
                    sum += row[sx] as f64 * wx * wy;
                    weight += wx * wy;
                }
            }
            out[oy * FACE_SIDE + ox] = (sum / weight).round().clamp(0.0, 255.0) as u8;
        }
    }
    Some(out)
}

/// For each of `dst` output cells, the source indices it covers and how much of each.
fn spans(src: usize, dst: usize) -> Vec<Vec<(usize, f64)>> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|o| {
            let start = o as f64 * scale;
            let end = (o + 1) as f64 * scale;
            let first = start.floor() as usize;
            let last = (end.ceil() as usize).min(src).max(first + 1);
            (first..last)
                .filter_map(|i| {
                    let w = (end.min(i as f64 + 1.0) - start.max(i as f64)).max(0.0);
                    (w > 1e-9).then_some((i, w))
                })
                .collect::<Vec<_>>()
        })
        .map(|v| if v.is_empty() { vec![(0, 1.0)] } else { v })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Face {
        let mut f = [0u8; FACE_PIXELS];
        for (i, p) in f.iter_mut().enumerate() {
            *p = (i % 256) as u8;
        }
        f
    }

    #[test]
    fn preprocess_matches_the_training_formula() {
        let face = ramp();
        let t = preprocess(&face);
        assert_eq!(t.shape(), &[1, 1, 48, 48]);
        let v = t.to_plain_array_view::<f32>().unwrap();
        let v = v.as_slice().unwrap();
        // (0/255 - 0.5)/0.25 = -2, (255/255 - 0.5)/0.25 = 2, row-major order kept.
        assert_eq!(v[0], -2.0);
        assert!((v[255] - 2.0).abs() < 1e-6);
        assert!((v[50] - ((50.0 / 255.0 - 0.5) / 0.25)).abs() < 1e-6);
        let n = Normalisation {
            mean: 0.0,
            std: 1.0,
        };
        let t = preprocess_batch(&[&face, &face], n);
        assert_eq!(t.shape(), &[2, 1, 48, 48]);
        assert!(
            (t.to_plain_array_view::<f32>().unwrap().as_slice().unwrap()[FACE_PIXELS + 51]
                - 51.0 / 255.0)
                .abs()
                < 1e-6
        );
    }

    #[test]
    fn mirror_flips_rows_and_is_an_involution() {
        let face = ramp();
        let m = mirror(&face);
        assert_eq!(m[0], face[47]);
        assert_eq!(m[47], face[0]);
        assert_eq!(m[48 + 3], face[48 + 44]);
        assert_eq!(mirror(&m), face);
    }

    #[test]
    fn area_resize_averages_blocks() {
        // 96x96 of 2x2 blocks [0, 100; 200, 100] averages to 100 everywhere.
        let mut img = vec![0u8; 96 * 96];
        for y in 0..96 {
            for x in 0..96 {
                img[y * 96 + x] = match (y % 2, x % 2) {
                    (0, 0) => 0,
                    (1, 0) => 200,
                    _ => 100,
                };
            }
        }
        let f = resize_area(&img, 96, 96).unwrap();
        assert!(f.iter().all(|&p| p == 100));
        // Identity at 48x48.
        let r = ramp();
        assert_eq!(resize_area(&r, 48, 48).unwrap(), r);
        // Fractional: 72 -> 48 is 1.5 source pixels per output pixel.
        let img: Vec<u8> = (0..72 * 72)
            .map(|i| if i % 72 < 36 { 0 } else { 90 })
            .collect();
        let f = resize_area(&img, 72, 72).unwrap();
        assert_eq!(f[0], 0);
        assert_eq!(f[47], 90);
        assert_eq!(f[23], 0);
        assert_eq!(f[24], 90);
        // Upscale from 2x2 and a non-square source.
        let f = resize_area(&[0, 255, 255, 0], 2, 2).unwrap();
        assert_eq!((f[0], f[47], f[47 * 48]), (0, 255, 255));
        assert!(resize_area(&[0; 10], 5, 3).is_none());
        assert!(resize_area(&[], 0, 0).is_none());
        assert!(resize_area(&vec![7; 30 * 60], 30, 60)
            .unwrap()
            .iter()
            .all(|&p| p == 7));
    }
}
