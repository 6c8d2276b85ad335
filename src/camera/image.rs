//! PNG and JPEG files (and MJPEG frames) to 8-bit grayscale. Grayscale is all the box
//! needs: the face detector and the emotion model both read luma only.

use crate::camera::GrayFrame;
use std::path::Path;

/// Decodes a PNG or JPEG by its content. Never panics: a decoder panic on hostile input
/// is turned into an error.
pub fn decode_gray(bytes: &[u8]) -> Result<GrayFrame, String> {
    let (data, width, height) = std::panic::catch_unwind(|| decode_any(bytes))
        .unwrap_or_else(|_| Err("the image decoder panicked".into()))?;
    Ok(GrayFrame {
        width,
        height,
        data,
    })
}

/// Reads and decodes an image file; the error names the file.
pub fn load_gray(path: &Path) -> Result<GrayFrame, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    decode_gray(&bytes).map_err(|e| format!("{}: cannot decode image: {e}", path.display()))
}

fn decode_any(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        decode_jpeg(bytes)
    } else {
        Err("not a PNG or JPEG file".into())
    }
}

fn decode_png(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(|e| e.to_string())?;
    let size = reader
        .output_buffer_size()
        .ok_or("image too large to decode")?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("palette not expanded".into()),
    };
    if info.bit_depth != png::BitDepth::Eight {
        return Err(format!("unsupported bit depth {:?}", info.bit_depth));
    }
    let mut gray = Vec::with_capacity(w * h);
    for row in buf.chunks(info.line_size).take(h) {
        for px in row.chunks_exact(channels).take(w) {
            gray.push(match channels {
                1 | 2 => px[0],
                _ => luma(px[0], px[1], px[2]),
            });
        }
    }
    if gray.len() != w * h {
        return Err("truncated pixel data".into());
    }
    Ok((gray, w, h))
}

pub fn decode_jpeg(bytes: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    let pixels = dec.decode().map_err(|e| format!("{e:?}"))?;
    let (w, h) = dec.dimensions().ok_or("no image dimensions")?;
    match pixels.len() {
        n if n == w * h => Ok((pixels, w, h)),
        n if n == w * h * 3 => Ok((
            pixels
                .chunks_exact(3)
                .map(|p| luma(p[0], p[1], p[2]))
                .collect(),
            w,
            h,
        )),
        n => Err(format!("{n} bytes of pixels for {w}x{h}")),
    }
}

pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    // PIL's fixed-point L = R*299/1000 + G*587/1000 + B*114/1000, rounded.
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u8
}
