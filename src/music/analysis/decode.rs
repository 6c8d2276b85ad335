//! Decodes a whole file with symphonia into interleaved f32 chunks.

use super::AnalysisError;
use std::fs::File;
use std::path::Path;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Calls `sink(sample_rate, channels, interleaved)` for every decoded packet of the first
/// audio track. A few undecodable packets are skipped (players skip them too); a file where
/// more than a tenth fail is corrupt. MP3 encoder delay and padding are trimmed (gapless).
pub(super) fn decode(
    path: &Path,
    mut sink: impl FnMut(u32, u16, &[f32]) -> Result<(), String>,
) -> Result<(), AnalysisError> {
    let file = File::open(path).map_err(|source| AnalysisError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let fail = |message: String| AnalysisError::Decode {
        path: path.to_path_buf(),
        message,
    };
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let options = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut format = symphonia::default::get_probe()
        .format(&hint, mss, &options, &MetadataOptions::default())
        .map_err(|e| fail(e.to_string()))?
        .format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| fail("no audio track".into()))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| fail(format!("unsupported codec: {e}")))?;

    let mut buf: Option<SampleBuffer<f32>> = None;
    let mut first_spec = None;
    let (mut good, mut bad) = (0u64, 0u64);
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break, // a new chained stream: analyse the first
            Err(SymError::DecodeError(_)) => {
                bad += 1;
                continue;
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(SymError::DecodeError(_) | SymError::IoError(_)) => {
                bad += 1;
                continue;
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        good += 1;
        let spec = *decoded.spec();
        if *first_spec.get_or_insert(spec) != spec {
            break; // the format changed mid-stream: keep what was consistent
        }
        if decoded.frames() == 0 {
            continue;
        }
        if buf
            .as_ref()
            .is_none_or(|b| b.capacity() < decoded.capacity())
        {
            buf = Some(SampleBuffer::new(decoded.capacity() as u64, spec));
        }
        let buf = buf.as_mut().expect("just allocated");
        buf.copy_interleaved_ref(decoded);
        sink(spec.rate, spec.channels.count() as u16, buf.samples()).map_err(fail)?;
    }
    if bad > 10 && bad * 10 > good + bad {
        return Err(fail(format!(
            "corrupt: {bad} of {} packets undecodable",
            good + bad
        )));
    }
    if good == 0 {
        return Err(fail("no decodable audio".into()));
    }
    Ok(())
}
