//! Indexes music folders into the library, incrementally.
//!
//! A file whose size and mtime match the database is not opened again. A new or changed
//! file is read with lofty (tags, duration) and then proven playable with symphonia by
//! decoding its first and its last second: a half-copied file (music still arriving over
//! SSH) fails the second check, is reported and skipped, and is picked up by the next scan
//! once it is complete. Files that disappear are marked gone, never deleted, so their plays
//! and likes survive; a file that reappears under a new name (same size and content
//! fingerprint) keeps its track and history.

use crate::music::library::{
    FeatureSource, Features, KnownFile, Library, LibraryError, ReplayGain, TrackMeta,
};
use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{MetadataOptions, StandardTagKey, Tag};
use symphonia::core::probe::Hint;
use symphonia::core::units::Time;

/// Extensions the player can decode, and the format name stored for them.
pub const AUDIO_EXTENSIONS: &[(&str, &str)] = &[
    ("mp3", "mp3"),
    ("flac", "flac"),
    ("ogg", "vorbis"),
    ("oga", "vorbis"),
    ("wav", "wav"),
];

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Library(#[from] LibraryError),
}

/// What one scan did; `problems` lists every file that was skipped and why.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScanReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub moved: usize,
    pub gone: usize,
    pub ignored: usize,
    pub tagged_features: usize,
    pub problems: Vec<(PathBuf, String)>,
}

impl ScanReport {
    pub fn summary(&self) -> String {
        format!(
            "{} added, {} updated, {} moved, {} unchanged, {} gone, {} unreadable, {} not audio",
            self.added,
            self.updated,
            self.moved,
            self.unchanged,
            self.gone,
            self.problems.len(),
            self.ignored
        )
    }
}

/// Reports progress; the CLI draws a bar on a terminal and logs lines otherwise.
pub trait Progress {
    fn start(&mut self, total: u64);
    fn advance(&mut self, path: &Path);
    fn finish(&mut self);
}

/// No progress display (the daemon's periodic re-scan, tests).
pub struct Quiet;

impl Progress for Quiet {
    fn start(&mut self, _: u64) {}
    fn advance(&mut self, _: &Path) {}
    fn finish(&mut self) {}
}

fn format_of(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    AUDIO_EXTENSIONS
        .iter()
        .find(|(e, _)| *e == ext)
        .map(|(_, f)| *f)
}

/// Every file below `dirs` (recursively; hidden entries skipped; symlinked folders not
/// followed, which rules out loops). Unreadable folders are reported, not fatal.
fn walk(dirs: &[PathBuf], report: &mut ScanReport) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                report
                    .problems
                    .push((dir, format!("cannot read folder: {e}")));
                continue;
            }
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(_) => files.push(entry.path()),
                Err(_) => {}
            }
        }
    }
    files.sort();
    files
}

/// Scans `dirs` into `lib`. The database is written in one transaction per scan.
pub fn scan(
    lib: &mut Library,
    dirs: &[PathBuf],
    progress: &mut dyn Progress,
) -> Result<ScanReport, ScanError> {
    let mut report = ScanReport::default();
    let dirs: Vec<PathBuf> = dirs
        .iter()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .collect();
    let files = walk(&dirs, &mut report);
    let known = lib.known_files()?;
    progress.start(files.len() as u64);
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut fresh: Vec<(TrackMeta, Option<Features>, ReplayGain)> = Vec::new();
    for path in files {
        progress.advance(&path);
        let Some(format) = format_of(&path) else {
            report.ignored += 1;
            continue;
        };
        let Ok(md) = std::fs::metadata(&path) else {
            continue;
        };
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        if let Some(k) = known.get(&path) {
            if k.size == md.len() && k.mtime == mtime && !k.gone {
                seen.insert(path);
                report.unchanged += 1;
                continue;
            }
        }
        match read_track(&path, format, md.len(), mtime) {
            Ok(t) => {
                seen.insert(path);
                fresh.push(t);
            }
            Err(message) => {
                log::warn!("{}: skipped: {message}", path.display());
                report.problems.push((path, message));
            }
        }
    }
    progress.finish();

    lib.in_transaction(|lib| {
        // Known files not seen now went away, unless a fresh file with the same size and
        // fingerprint is the same song under a new name.
        let in_scope = |p: &Path| dirs.iter().any(|d| p.starts_with(d));
        let vanished: Vec<(&PathBuf, &KnownFile)> = known
            .iter()
            .filter(|(p, k)| !k.gone && !seen.contains(*p) && in_scope(p))
            .collect();
        let mut moved: HashSet<i64> = HashSet::new();
        for (meta, features, replaygain) in &fresh {
            let id = if known.contains_key(&meta.path) {
                report.updated += 1;
                lib.upsert_track(meta)?
            } else if let Some((_, old)) = vanished.iter().find(|(_, k)| {
                k.size == meta.size
                    && k.fingerprint == Some(meta.fingerprint)
                    && !moved.contains(&k.id)
            }) {
                log::info!(
                    "{}: moved (track {} keeps its plays and likes)",
                    meta.path.display(),
                    old.id
                );
                lib.move_track(old.id, meta)?;
                moved.insert(old.id);
                report.moved += 1;
                old.id
            } else {
                report.added += 1;
                lib.upsert_track(meta)?
            };
            lib.set_replaygain(id, *replaygain)?;
            if let Some(f) = features {
                if lib.set_features(id, f, FeatureSource::Tag)? {
                    report.tagged_features += 1;
                }
            }
        }
        for (_, k) in vanished.iter().filter(|(_, k)| !moved.contains(&k.id)) {
            lib.mark_gone(k.id)?;
            report.gone += 1;
        }
        Ok::<_, ScanError>(())
    })?;
    log::info!("scan of {}: {}", display_dirs(&dirs), report.summary());
    Ok(report)
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// FNV-1a over the size and the first 64 KiB: cheap, stable across versions, and enough
/// to recognise a renamed file.
fn fingerprint(path: &Path, size: u64) -> Result<i64, String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in size.to_le_bytes().iter().chain(&buf[..n]) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    Ok(h as i64)
}

/// Tags and duration from lofty; playability, custom VALENCE/ENERGY tags and ReplayGain
/// tags from symphonia.
fn read_track(
    path: &Path,
    format: &str,
    size: u64,
    mtime: i64,
) -> Result<(TrackMeta, Option<Features>, ReplayGain), String> {
    use lofty::prelude::*;
    let tagged =
        lofty::read_from_path(path).map_err(|e| format!("not a readable {format} file: {e}"))?;
    let props = tagged.properties();
    let tag = tagged.primary_tag().or_else(|| tagged.first_tag());
    let text = |s: Option<std::borrow::Cow<'_, str>>| {
        s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
    };
    let duration = props.duration();
    let (custom, replaygain) = probe_playable(path, duration)?;
    if format == "mp3" && mp3_ends_mid_frame(path, size)? {
        return Err("truncated: the last MP3 frame is cut off (interrupted copy?)".into());
    }
    let meta = TrackMeta {
        path: path.to_path_buf(),
        title: text(tag.and_then(|t| t.title())),
        artist: text(tag.and_then(|t| t.artist())),
        album: text(tag.and_then(|t| t.album())),
        track_no: tag.and_then(|t| t.track()),
        duration,
        format: format.to_string(),
        sample_rate: props.sample_rate(),
        size,
        mtime,
        fingerprint: fingerprint(path, size)?,
    };
    Ok((meta, custom, replaygain))
}

/// Opens `path` with symphonia and collects its tags (ID3v2 before the stream, and the
/// container's own, such as Vorbis comments).
fn probe_tags(path: &Path) -> Result<(symphonia::core::probe::ProbeResult, Vec<Tag>), String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| format!("not decodable: {e}"))?;
    let mut tags: Vec<Tag> = Vec::new();
    if let Some(rev) = probed
        .metadata
        .get()
        .as_ref()
        .and_then(|m| m.current().cloned())
    {
        tags.extend(rev.tags().iter().cloned());
    }
    if let Some(rev) = probed.format.metadata().current() {
        tags.extend(rev.tags().iter().cloned());
    }
    Ok((probed, tags))
}

/// The ReplayGain tags of `path`, without decoding any audio (for tracks scanned before
/// moodbox read them).
pub fn read_replaygain(path: &Path) -> Result<ReplayGain, String> {
    probe_tags(path).map(|(_, tags)| tag_replaygain(&tags))
}

/// Decodes the first packet and one near the end; returns VALENCE/ENERGY tags and
/// ReplayGain tags if present.
fn probe_playable(
    path: &Path,
    duration: Duration,
) -> Result<(Option<Features>, ReplayGain), String> {
    let (mut probed, tags) = probe_tags(path)?;
    let format = &mut probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or("no audio track")?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| format!("unsupported codec: {e}"))?;
    let decode_one = |format: &mut Box<dyn FormatReader>,
                      decoder: &mut Box<dyn symphonia::core::codecs::Decoder>,
                      what: &str|
     -> Result<(), String> {
        // A few undecodable packets are tolerated (players skip them too).
        for _ in 0..8 {
            let packet = match format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(_)) => {
                    return Err(format!("truncated: no audio data at the {what}"))
                }
                Err(e) => return Err(format!("corrupt at the {what}: {e}")),
            };
            if packet.track_id() != track.id {
                continue;
            }
            match decoder.decode(&packet) {
                Ok(_) => return Ok(()),
                Err(SymError::DecodeError(_)) => continue,
                Err(e) => return Err(format!("corrupt at the {what}: {e}")),
            }
        }
        Err(format!("corrupt: no decodable audio at the {what}"))
    };
    decode_one(format, &mut decoder, "start")?;
    if duration < Duration::from_millis(100) {
        return Err("no audio (zero length)".into());
    }
    let near_end = duration
        .saturating_sub(Duration::from_secs(1))
        .max(Duration::from_millis(0));
    format
        .seek(
            SeekMode::Coarse,
            SeekTo::Time {
                time: Time::from(near_end.as_secs_f64()),
                track_id: Some(track.id),
            },
        )
        .map_err(|e| {
            format!(
                "truncated: cannot reach {:.1} s of {:.1} s ({e})",
                near_end.as_secs_f64(),
                duration.as_secs_f64()
            )
        })?;
    decoder.reset();
    decode_one(format, &mut decoder, "end")?;
    Ok((tag_features(&tags), tag_replaygain(&tags)))
}

/// Length in bytes of the MPEG audio frame whose header starts `h`, if it is one.
fn mp3_frame_len(h: &[u8]) -> Option<usize> {
    if h.len() < 4 || h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    let layer = (h[1] >> 1) & 3; // 1 = Layer III
    let (bitrate_idx, rate_idx, padding) = (
        (h[2] >> 4) as usize,
        ((h[2] >> 2) & 3) as usize,
        ((h[2] >> 1) & 1) as usize,
    );
    if version == 1 || layer != 1 || bitrate_idx == 0 || bitrate_idx == 15 || rate_idx == 3 {
        return None;
    }
    const V1: [usize; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const V2: [usize; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let rates = match version {
        3 => [44100, 48000, 32000],
        2 => [22050, 24000, 16000],
        _ => [11025, 12000, 8000],
    };
    let (kbps, per_frame) = if version == 3 {
        (V1[bitrate_idx], 144)
    } else {
        (V2[bitrate_idx], 72)
    };
    Some(per_frame * kbps * 1000 / rates[rate_idx] + padding)
}

/// True when the file's last MPEG frame runs past its end. Checks only the last 64 KiB: a
/// chain of frames from some header there must end exactly at the end of the file (or at
/// an ID3v1 tag), as every complete MP3 does.
fn mp3_ends_mid_frame(path: &Path, size: u64) -> Result<bool, String> {
    use std::io::{Seek, SeekFrom};
    let tail_len = size.min(64 * 1024);
    let mut f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut tail = vec![0u8; tail_len as usize];
    f.seek(SeekFrom::Start(size - tail_len))
        .and_then(|_| f.read_exact(&mut tail))
        .map_err(|e| format!("cannot read: {e}"))?;
    let end = if tail.len() >= 128 && &tail[tail.len() - 128..tail.len() - 125] == b"TAG" {
        tail.len() - 128
    } else {
        tail.len()
    };
    let mut overruns = false;
    for start in 0..end.saturating_sub(4) {
        let (mut pos, mut frames) = (start, 0);
        while let Some(len) = mp3_frame_len(&tail[pos..end.min(pos + 4)]) {
            pos += len;
            frames += 1;
            if pos >= end {
                break;
            }
        }
        if frames >= 3 {
            if pos == end {
                return Ok(false);
            }
            overruns |= pos > end;
        }
    }
    Ok(overruns)
}

/// VALENCE / ENERGY (Vorbis comments) or TXXX:VALENCE / TXXX:ENERGY (ID3v2), in [0, 1].
fn tag_features(tags: &[Tag]) -> Option<Features> {
    let get = |name: &str| {
        tags.iter().find_map(|t| {
            let key = t.key.strip_prefix("TXXX:").unwrap_or(&t.key);
            if key.eq_ignore_ascii_case(name) {
                t.value
                    .to_string()
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|v| (0.0..=1.0).contains(v))
            } else {
                None
            }
        })
    };
    Some(Features {
        valence: get("valence")?,
        energy: get("energy")?,
        ..Default::default()
    })
}

/// REPLAYGAIN_TRACK_GAIN ("-3.20 dB") and REPLAYGAIN_TRACK_PEAK ("0.98") as Vorbis comments,
/// APE-style keys or ID3v2 TXXX frames.
fn tag_replaygain(tags: &[Tag]) -> ReplayGain {
    let get = |std: StandardTagKey, name: &str| {
        tags.iter().find_map(|t| {
            let key = t.key.strip_prefix("TXXX:").unwrap_or(&t.key);
            if t.std_key != Some(std) && !key.eq_ignore_ascii_case(name) {
                return None;
            }
            // "-3.20 dB": the number, without its unit.
            let value = t.value.to_string();
            let number = value
                .trim()
                .trim_end_matches(|c: char| c.is_ascii_alphabetic());
            number.trim().parse::<f32>().ok().filter(|v| v.is_finite())
        })
    };
    ReplayGain {
        gain_db: get(StandardTagKey::ReplayGainTrackGain, "REPLAYGAIN_TRACK_GAIN")
            .filter(|g| g.abs() <= 60.0),
        peak: get(StandardTagKey::ReplayGainTrackPeak, "REPLAYGAIN_TRACK_PEAK")
            .filter(|p| *p > 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphonia::core::meta::Value;

    fn tag(key: &str, value: &str) -> Tag {
        Tag::new(None, key, Value::from(value))
    }

    #[test]
    fn replaygain_tags_are_read_from_vorbis_comments_and_id3_txxx() {
        let rg = tag_replaygain(&[
            tag("REPLAYGAIN_TRACK_GAIN", "-3.00 dB"),
            tag("replaygain_track_peak", "0.988"),
        ]);
        assert_eq!(rg.gain_db, Some(-3.0));
        assert_eq!(rg.peak, Some(0.988));
        let rg = tag_replaygain(&[tag("TXXX:REPLAYGAIN_TRACK_GAIN", "+2.5 dB")]);
        assert_eq!(
            rg,
            ReplayGain {
                gain_db: Some(2.5),
                peak: None
            }
        );
        // Album gain is not track gain; junk is ignored.
        let rg = tag_replaygain(&[
            tag("REPLAYGAIN_ALBUM_GAIN", "-7 dB"),
            tag("REPLAYGAIN_TRACK_PEAK", "loud"),
        ]);
        assert_eq!(rg, ReplayGain::default());
    }
}
