//! Camera pixel formats to 8-bit grayscale: pure functions over one frame's bytes.
//!
//! Every format the box reads carries luma on its own (GREY, the Y bytes of YUYV, the Y
//! plane of I420), so "conversion" is mostly picking bytes while skipping row padding.
//! Errors are plain strings; the backends wrap them in `CameraError::BadFrame`.

use crate::camera::{image, GrayFrame};

/// Layout of one planar I420 (YUV 4:2:0) frame: a Y plane then U and V planes, each row
/// `stride` bytes long, the planes back to back with no gap between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct I420Layout {
    pub width: usize,
    pub height: usize,
    /// Bytes per Y row (>= width); the U and V rows are `y_stride / 2` bytes.
    pub y_stride: usize,
}

impl I420Layout {
    /// Rows exactly `width` bytes long (ffmpeg's `yuv420p`).
    pub fn packed(width: usize, height: usize) -> I420Layout {
        I420Layout {
            width,
            height,
            y_stride: width,
        }
    }

    /// What `rpicam-vid --codec yuv420 -o -` writes. Assumption (from the Raspberry Pi
    /// kernel and rpicam-apps history, not measured here): the ISP pads each Y row to a
    /// multiple of 64 bytes (bcm2835-isp sets `bytesperline_align = 64` for YUV420 so the
    /// U and V planes stay 32-byte aligned; rpicam-apps issue #188 shows a 780-wide
    /// `--codec yuv420` file with 832-byte rows), the chroma rows are half that, and
    /// rpicam-vid writes the whole buffer, planes back to back, with no extra padding
    /// between them. Widths that are multiples of 64 (320, 640, 1280…) have no padding.
    pub fn rpicam(width: usize, height: usize) -> I420Layout {
        I420Layout {
            width,
            height,
            y_stride: width.div_ceil(64) * 64,
        }
    }

    pub fn chroma_stride(&self) -> usize {
        self.y_stride / 2
    }

    /// Bytes in one frame: the Y plane plus two chroma planes of `ceil(height / 2)` rows.
    pub fn frame_len(&self) -> usize {
        self.y_stride * self.height + 2 * self.chroma_stride() * self.height.div_ceil(2)
    }
}

/// Copies `width` pixels of `bytes_per_px` bytes from each of `height` rows that are
/// `stride` bytes apart, keeping the first byte of each pixel.
fn pick(
    data: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    bytes_per_px: usize,
) -> Result<GrayFrame, String> {
    let row = width * bytes_per_px;
    if width == 0 || height == 0 {
        return Err(format!("empty frame size {width}x{height}"));
    }
    if stride < row {
        return Err(format!(
            "row stride {stride} is shorter than a row of {row} bytes"
        ));
    }
    let need = stride * (height - 1) + row;
    if data.len() < need {
        return Err(format!(
            "{} bytes, a {width}x{height} frame needs {need}",
            data.len()
        ));
    }
    let mut gray = Vec::with_capacity(width * height);
    for r in data.chunks(stride).take(height) {
        gray.extend(r[..row].iter().step_by(bytes_per_px));
    }
    Ok(GrayFrame {
        width,
        height,
        data: gray,
    })
}

/// GREY (Y8): already grayscale; `stride` 0 means `width`.
pub fn grey_to_gray(
    data: &[u8],
    width: usize,
    height: usize,
    stride: usize,
) -> Result<GrayFrame, String> {
    pick(
        data,
        width,
        height,
        if stride == 0 { width } else { stride },
        1,
    )
}

/// YUYV (packed 4:2:2, `Y0 U Y1 V`): the even bytes are luma. `stride` is the driver's
/// `bytesperline`; 0 means `2 * width`.
pub fn yuyv_to_gray(
    data: &[u8],
    width: usize,
    height: usize,
    stride: usize,
) -> Result<GrayFrame, String> {
    let stride = if stride == 0 { 2 * width } else { stride };
    pick(data, width, height, stride, 2)
}

/// I420: the Y plane, row padding dropped. The chroma planes must be present too, so a
/// short read is caught here rather than misaligning the next frame.
pub fn i420_to_gray(data: &[u8], layout: &I420Layout) -> Result<GrayFrame, String> {
    if data.len() < layout.frame_len() {
        return Err(format!(
            "{} bytes, a {}x{} I420 frame with {}-byte rows needs {}",
            data.len(),
            layout.width,
            layout.height,
            layout.y_stride,
            layout.frame_len()
        ));
    }
    pick(data, layout.width, layout.height, layout.y_stride, 1)
}

/// One MJPEG frame (already sliced to the buffer's `bytesused`). Bytes after the end of
/// image marker are ignored (some webcams pad their frames); a frame without an end of
/// image after its scan data is truncated and an error, though zune-jpeg would decode
/// it leniently into a half-grey picture. Frames without Huffman tables (classic MJPEG)
/// decode with the standard tables.
pub fn mjpeg_to_gray(data: &[u8]) -> Result<GrayFrame, String> {
    if !data.starts_with(&[0xff, 0xd8]) {
        return Err("not a JPEG frame (no start of image marker)".into());
    }
    let last_marker = |m: u8| data.windows(2).rposition(|w| w == [0xff, m]);
    let end = match (last_marker(0xda), last_marker(0xd9)) {
        (Some(sos), Some(eoi)) if eoi > sos => eoi + 2,
        (None, _) => return Err("truncated JPEG frame: no scan data".into()),
        _ => {
            return Err(format!(
                "truncated JPEG frame ({} bytes, no end of image)",
                data.len()
            ))
        }
    };
    let (pixels, width, height) = std::panic::catch_unwind(|| image::decode_jpeg(&data[..end]))
        .unwrap_or_else(|_| Err("the JPEG decoder panicked".into()))?;
    GrayFrame::new(width, height, pixels).ok_or_else(|| "JPEG decoded to no pixels".into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn grey_honours_stride() {
        let data = [1, 2, 3, 99, 4, 5, 6, 99];
        let f = grey_to_gray(&data, 3, 2, 4).unwrap();
        assert_eq!((f.width, f.height, f.data), (3, 2, vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(
            grey_to_gray(&data[..6], 3, 2, 0).unwrap().data,
            [1, 2, 3, 99, 4, 5]
        );
        assert!(grey_to_gray(&data[..6], 3, 2, 4).is_err());
        assert!(grey_to_gray(&data, 3, 2, 2).is_err());
    }

    #[test]
    fn yuyv_takes_even_bytes_and_skips_padding() {
        // 2x2 pixels, 4 bytes a row plus 2 bytes of padding.
        let data = [10, 128, 20, 128, 0xee, 0xee, 30, 128, 40, 128, 0xee, 0xee];
        let f = yuyv_to_gray(&data, 2, 2, 6).unwrap();
        assert_eq!(f.data, [10, 20, 30, 40]);
        // The last row needs no padding after it.
        assert_eq!(
            yuyv_to_gray(&data[..10], 2, 2, 6).unwrap().data,
            [10, 20, 30, 40]
        );
        assert!(yuyv_to_gray(&data[..9], 2, 2, 6).is_err());
        assert_eq!(
            yuyv_to_gray(&data[..8], 2, 2, 0).unwrap().data,
            [10, 20, 0xee, 30]
        );
    }

    #[test]
    fn rpicam_layout_pads_rows_to_64_bytes() {
        let l = I420Layout::rpicam(320, 240);
        assert_eq!((l.y_stride, l.frame_len()), (320, 320 * 240 * 3 / 2));
        let l = I420Layout::rpicam(780, 360);
        assert_eq!((l.y_stride, l.chroma_stride()), (832, 416));
        assert_eq!(l.frame_len(), 832 * 360 + 2 * 416 * 180);
        // Odd heights round the chroma rows up.
        assert_eq!(I420Layout::rpicam(64, 3).frame_len(), 64 * 3 + 2 * 32 * 2);
        assert_eq!(I420Layout::packed(6, 4).frame_len(), 36);
    }

    #[test]
    fn i420_keeps_the_y_plane_without_padding() {
        let l = I420Layout {
            width: 3,
            height: 2,
            y_stride: 4,
        };
        let mut data = vec![1, 2, 3, 0xee, 4, 5, 6, 0xee];
        data.extend([128; 4]); // U and V: 2 bytes a row, 1 row each
        assert_eq!(l.frame_len(), data.len());
        let f = i420_to_gray(&data, &l).unwrap();
        assert_eq!((f.width, f.height, f.data), (3, 2, vec![1, 2, 3, 4, 5, 6]));
        assert!(i420_to_gray(&data[..data.len() - 1], &l).is_err());
    }

    /// A minimal baseline JPEG encoder for grayscale images whose 8x8 blocks are each one
    /// flat value (so only DC coefficients are non-zero and the decode is exact).
    /// `blocks` is row-major, `bw` blocks wide; the Huffman tables are its own, tiny ones.
    pub(crate) fn flat_jpeg(blocks: &[u8], bw: usize) -> Vec<u8> {
        let (w, h) = (bw * 8, blocks.len() / bw * 8);
        let mut out = vec![0xff, 0xd8];
        let mut seg = |marker: u8, body: &[u8]| {
            out.extend([0xff, marker]);
            out.extend(((body.len() + 2) as u16).to_be_bytes());
            out.extend(body);
        };
        let mut dqt = vec![0u8];
        dqt.extend([1u8; 64]);
        seg(0xdb, &dqt);
        let mut sof = vec![8];
        sof.extend((h as u16).to_be_bytes());
        sof.extend((w as u16).to_be_bytes());
        sof.extend([1, 1, 0x11, 0]);
        seg(0xc0, &sof);
        // DC table: categories 0..=11, all 4-bit codes (code = category). AC table: only
        // end-of-block, coded as a single 0 bit.
        let mut dht = vec![0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        dht.extend(0..12u8);
        dht.extend([0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        seg(0xc4, &dht);
        seg(0xda, &[1, 1, 0x00, 0, 63, 0]);
        let mut bits: Vec<bool> = Vec::new();
        let mut put = |v: u32, n: u32| bits.extend((0..n).rev().map(|i| v >> i & 1 == 1));
        let mut prev = 0i32;
        for &b in blocks {
            let dc = 8 * (b as i32 - 128);
            let diff = dc - prev;
            prev = dc;
            let cat = 32 - diff.unsigned_abs().leading_zeros();
            put(cat, 4);
            let extra = if diff < 0 { diff - 1 } else { diff } as u32;
            put(extra & ((1 << cat) - 1), cat);
            put(0, 1); // EOB
        }
        bits.resize(bits.len().div_ceil(8) * 8, true);
        for byte in bits.chunks(8) {
            let v = byte.iter().fold(0u8, |a, &b| a << 1 | b as u8);
            out.push(v);
            if v == 0xff {
                out.push(0);
            }
        }
        out.extend([0xff, 0xd9]);
        out
    }

    #[test]
    fn mjpeg_decodes_and_ignores_bytes_after_eoi() {
        let jpeg = flat_jpeg(&[50, 200, 0, 255, 128, 17], 3);
        let f = mjpeg_to_gray(&jpeg).unwrap();
        assert_eq!((f.width, f.height), (24, 16));
        for (bx, by, v) in [(0, 0, 50), (1, 0, 200), (2, 0, 0), (0, 1, 255), (2, 1, 17)] {
            let px = f.pixel(bx * 8 + 3, by * 8 + 5);
            assert!(px.abs_diff(v) <= 1, "block {bx},{by}: {px} != {v}");
        }
        let mut padded = jpeg.clone();
        padded.extend([0u8; 100]);
        padded.extend([0xff, 0x00, 0x12]);
        assert_eq!(mjpeg_to_gray(&padded).unwrap(), f);
    }

    #[test]
    fn truncated_or_garbage_mjpeg_is_an_error() {
        let jpeg = flat_jpeg(&[50, 200, 0, 255, 128, 17], 3);
        for cut in [jpeg.len() - 1, jpeg.len() - 3, jpeg.len() / 2, 10, 2, 1, 0] {
            assert!(mjpeg_to_gray(&jpeg[..cut]).is_err(), "cut at {cut}");
        }
        assert!(mjpeg_to_gray(b"\xff\xd8\xff\xda\xff\xd9").is_err());
        assert!(mjpeg_to_gray(&[0x42; 64]).is_err());
    }
}
