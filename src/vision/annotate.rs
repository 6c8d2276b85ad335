//! A frame with its faces drawn on it (boxes, and the top emotion with its probability in a
//! built-in 5x7 pixel font), written as PNG. For `moodbox detect --annotate` and debugging.

use super::FaceBox;
use crate::camera::GrayFrame;
use crate::emotion::Probabilities;
use std::io::BufWriter;
use std::path::Path;

/// An 8-bit RGB image, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

type Rgb = [u8; 3];
/// The face the box follows and classifies.
pub const PRIMARY: Rgb = [40, 220, 60];
/// Other faces.
pub const OTHER: Rgb = [250, 200, 30];

impl RgbImage {
    pub fn from_gray(frame: &GrayFrame) -> RgbImage {
        RgbImage {
            width: frame.width,
            height: frame.height,
            data: frame.data.iter().flat_map(|&v| [v, v, v]).collect(),
        }
    }

    pub fn get(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Sets a pixel; coordinates outside the image are ignored.
    pub fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if (0..self.width as i64).contains(&x) && (0..self.height as i64).contains(&y) {
            let i = (y as usize * self.width + x as usize) * 3;
            self.data[i..i + 3].copy_from_slice(&c);
        }
    }

    pub fn fill(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c);
            }
        }
    }

    /// A rectangle outline `t` pixels thick, inside the box.
    pub fn outline(&mut self, b: &FaceBox, t: i64, c: Rgb) {
        let (x, y, w, h) = (b.x as i64, b.y as i64, b.width as i64, b.height as i64);
        self.fill(x, y, w, t, c);
        self.fill(x, y + h - t, w, t, c);
        self.fill(x, y, t, h, c);
        self.fill(x + w - t, y, t, h, c);
    }

    /// Text in the 5x7 font, each font pixel `scale` pixels wide, top-left at (x, y).
    pub fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        for (i, ch) in s.chars().enumerate() {
            let rows = glyph(ch);
            let gx = x + i as i64 * 6 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.fill(gx + col * scale, y + r as i64 * scale, scale, scale, c);
                    }
                }
            }
        }
    }

    pub fn write_png(&self, path: &Path) -> Result<(), String> {
        write_png(
            path,
            self.width,
            self.height,
            png::ColorType::Rgb,
            &self.data,
            None,
        )
    }
}

/// Width in pixels of `s` drawn at `scale`.
pub fn text_width(s: &str, scale: i64) -> i64 {
    (s.chars().count() as i64 * 6 - 1).max(0) * scale
}

/// The frame in colour with each face boxed and, where it has probabilities, labelled with
/// its top emotion ("HAPPY 87%"); the first face is the primary one.
pub fn annotate(frame: &GrayFrame, faces: &[(FaceBox, Option<Probabilities>)]) -> RgbImage {
    let mut img = RgbImage::from_gray(frame);
    let scale = (frame.width.min(frame.height) as i64 / 240).max(1);
    for (i, (b, p)) in faces.iter().enumerate().rev() {
        let colour = if i == 0 { PRIMARY } else { OTHER };
        img.outline(b, scale.max(b.width as i64 / 60).max(1), colour);
        let label = match p {
            Some(p) => {
                let (e, prob) = p.top();
                format!("{} {:.0}%", e.name(), prob * 100.0)
            }
            None => format!("FACE {}", i + 1),
        };
        let h = 9 * scale;
        let (x, y) = (b.x as i64, b.y as i64 - h);
        let y = if y < 0 {
            b.y as i64 + b.height as i64
        } else {
            y
        };
        img.fill(x, y, text_width(&label, scale) + 2 * scale, h, colour);
        img.text(x + scale, y + scale, &label, scale, [0, 0, 0]);
    }
    img
}

/// A grayscale PNG, with an optional `Comment` text chunk.
pub fn write_gray_png(
    path: &Path,
    width: usize,
    height: usize,
    data: &[u8],
    comment: Option<&str>,
) -> Result<(), String> {
    write_png(
        path,
        width,
        height,
        png::ColorType::Grayscale,
        data,
        comment,
    )
}

fn write_png(
    path: &Path,
    width: usize,
    height: usize,
    colour: png::ColorType,
    data: &[u8],
    comment: Option<&str>,
) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(BufWriter::new(file), width as u32, height as u32);
    enc.set_color(colour);
    enc.set_depth(png::BitDepth::Eight);
    if let Some(c) = comment {
        enc.add_text_chunk("Comment".into(), c.into())
            .map_err(|e| e.to_string())?;
    }
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(data).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())
}

/// Rows of a 5x7 glyph, bit 4 = leftmost column. Letters are drawn upper case; characters
/// without a glyph are drawn as `?`.
fn glyph(c: char) -> [u8; 7] {
    let c = c.to_ascii_uppercase();
    GLYPHS
        .iter()
        .find(|(g, _)| *g == c)
        .or_else(|| GLYPHS.iter().find(|(g, _)| *g == '?'))
        .map_or([0; 7], |(_, rows)| *rows)
}

const GLYPHS: &[(char, [u8; 7])] = &[
    (' ', [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
    ('A', [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11]),
    ('B', [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E]),
    ('C', [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E]),
    ('D', [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C]),
    ('E', [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F]),
    ('F', [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10]),
    ('G', [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F]),
    ('H', [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11]),
    ('I', [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('J', [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C]),
    ('K', [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11]),
    ('L', [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F]),
    ('M', [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11]),
    ('N', [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11]),
    ('O', [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E]),
    ('P', [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10]),
    ('Q', [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D]),
    ('R', [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11]),
    ('S', [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E]),
    ('T', [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04]),
    ('U', [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E]),
    ('V', [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04]),
    ('W', [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A]),
    ('X', [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11]),
    ('Y', [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04]),
    ('Z', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F]),
    ('0', [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E]),
    ('1', [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E]),
    ('2', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F]),
    ('3', [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E]),
    ('4', [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02]),
    ('5', [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E]),
    ('6', [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E]),
    ('7', [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08]),
    ('8', [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E]),
    ('9', [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C]),
    ('.', [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C]),
    (',', [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08]),
    (':', [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00]),
    ('-', [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00]),
    ('%', [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03]),
    ('#', [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A]),
    ('?', [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04]),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emotion::Emotion;

    #[test]
    fn glyphs_are_five_wide_and_unknown_characters_draw_a_question_mark() {
        assert!(GLYPHS
            .iter()
            .all(|(_, rows)| rows.iter().all(|r| *r < 0x20)));
        assert_eq!(glyph('a'), glyph('A'));
        assert_eq!(glyph('~'), glyph('?'));
        assert_eq!(text_width("AB", 2), 22);
    }

    #[test]
    fn boxes_and_labels_are_drawn_and_the_png_reads_back() {
        let frame = GrayFrame::new(120, 100, vec![100; 12_000]).unwrap();
        let face = FaceBox {
            x: 30,
            y: 40,
            width: 50,
            height: 50,
            score: 6.0,
        };
        let img = annotate(
            &frame,
            &[(face, Some(Probabilities::certain(Emotion::Sad)))],
        );
        assert_eq!(img.get(30, 40), PRIMARY);
        assert_eq!(img.get(79, 89), PRIMARY);
        assert_eq!(img.get(55, 65), [100, 100, 100]);
        // The label sits above the box: a coloured background with black text.
        assert_eq!(img.get(30, 31), PRIMARY);
        let label_pixels = (31..40)
            .flat_map(|y| (30..90).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get(x, y) == [0, 0, 0])
            .count();
        assert!(label_pixels > 20, "{label_pixels}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        img.write_png(&path).unwrap();
        let back = crate::camera::image::load_gray(&path).unwrap();
        assert_eq!((back.width, back.height), (120, 100));
        assert_eq!(back.pixel(55, 65), 100);
    }
}
