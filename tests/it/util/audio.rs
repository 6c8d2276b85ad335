//! Generates real audio files (WAV, FLAC, MP3, Ogg Vorbis) for tests, with optional tags.
use std::f32::consts::TAU;
use std::num::{NonZeroU32, NonZeroU8};
use std::path::{Path, PathBuf};

use lofty::config::WriteOptions;
use lofty::id3::v2::Id3v2Tag;
use lofty::ogg::tag::VorbisComments;
use lofty::tag::{Accessor, TagExt};

/// A sine tone: frequency (Hz), length (s), peak amplitude (0..=1), sample rate and channel count.
#[derive(Clone, Copy, Debug)]
pub struct Tone {
    pub freq: f32,
    pub secs: f32,
    pub amplitude: f32,
    pub sample_rate: u32,
    pub channels: u16,
}

impl Tone {
    /// A mono tone at 22050 Hz with amplitude 0.5.
    pub fn new(freq: f32, secs: f32) -> Self {
        Tone {
            freq,
            secs,
            amplitude: 0.5,
            sample_rate: 22_050,
            channels: 1,
        }
    }

    /// Number of frames (samples per channel) the tone spans.
    pub fn frames(&self) -> usize {
        (self.secs * self.sample_rate as f32).round() as usize
    }

    /// One channel of the tone as f32 samples in -1..=1.
    pub fn mono(&self) -> Vec<f32> {
        let rate = self.sample_rate as f32;
        (0..self.frames())
            .map(|i| self.amplitude * (TAU * self.freq * i as f32 / rate).sin())
            .collect()
    }

    /// The tone as interleaved i16 samples (same signal on every channel).
    pub fn interleaved_i16(&self) -> Vec<i16> {
        let ch = self.channels as usize;
        self.mono()
            .iter()
            .flat_map(|&s| std::iter::repeat_n((s * i16::MAX as f32) as i16, ch))
            .collect()
    }
}

/// Metadata to embed; `None` fields are left out.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tags<'a> {
    pub title: Option<&'a str>,
    pub artist: Option<&'a str>,
    pub album: Option<&'a str>,
    pub track: Option<u32>,
    pub valence: Option<f32>,
    pub energy: Option<f32>,
}

impl Tags<'_> {
    /// The tags as Vorbis comment (KEY, value) pairs, e.g. ("VALENCE", "0.83").
    pub fn vorbis_pairs(&self) -> Vec<(&'static str, String)> {
        let text = [
            ("TITLE", self.title),
            ("ARTIST", self.artist),
            ("ALBUM", self.album),
        ];
        let text = text
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?.to_string())));
        let nums = [("VALENCE", self.valence), ("ENERGY", self.energy)];
        let nums = nums
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?.to_string())));
        let track = self.track.map(|t| ("TRACKNUMBER", t.to_string()));
        text.chain(track).chain(nums).collect()
    }
}

/// Writes `tone` as a 16-bit PCM WAV file and returns its path.
pub fn write_wav(path: &Path, tone: &Tone) -> PathBuf {
    let spec = hound::WavSpec {
        channels: tone.channels,
        sample_rate: tone.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for s in tone.interleaved_i16() {
        w.write_sample(s).expect("write wav sample");
    }
    w.finalize().expect("finalize wav");
    path.to_path_buf()
}

/// Writes `tone` as a 16-bit FLAC file with `tags` as Vorbis comments and returns its path.
pub fn write_flac(path: &Path, tone: &Tone, tags: &Tags) -> PathBuf {
    write_flac_with(path, tone, tags, &[])
}

/// `write_flac` with more Vorbis comments, e.g. `("REPLAYGAIN_TRACK_GAIN", "-3.00 dB")`.
pub fn write_flac_with(path: &Path, tone: &Tone, tags: &Tags, extra: &[(&str, &str)]) -> PathBuf {
    use flacenc::{component::BitRepr, error::Verify};
    let samples: Vec<i32> = tone.interleaved_i16().into_iter().map(i32::from).collect();
    let (ch, rate) = (tone.channels as usize, tone.sample_rate as usize);
    let src = flacenc::source::MemSource::from_samples(&samples, ch, 16, rate);
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .expect("flac config");
    let mut stream = flacenc::encode_with_fixed_block_size(&config, src, config.block_size)
        .expect("encode flac");
    // flacenc records the short last block as the minimum block size, which makes strict decoders
    // (symphonia) treat the fixed-blocksize stream as variable and reject every frame.
    let bs = config.block_size;
    stream
        .stream_info_mut()
        .set_block_sizes(bs, bs)
        .expect("block sizes");
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).expect("serialise flac");
    std::fs::write(path, sink.as_slice()).expect("write flac");
    let mut comments = VorbisComments::default();
    for (k, v) in tags.vorbis_pairs() {
        comments.insert(k.to_string(), v);
    }
    for (k, v) in extra {
        comments.insert(k.to_string(), v.to_string());
    }
    if !comments.is_empty() {
        comments
            .save_to_path(path, WriteOptions::default())
            .expect("tag flac");
    }
    path.to_path_buf()
}

/// Writes `tone` as a 128 kbit/s CBR MP3 (with LAME gapless header) plus an ID3v2 tag; returns its path.
pub fn write_mp3(path: &Path, tone: &Tone, tags: &Tags) -> PathBuf {
    use mp3lame_encoder::{Bitrate, Builder, FlushGap, InterleavedPcm, MonoPcm, Quality};
    let mut b = Builder::new().expect("lame builder");
    b.set_num_channels(tone.channels as u8)
        .expect("lame channels");
    b.set_sample_rate(tone.sample_rate)
        .expect("lame sample rate");
    let out_rate = NonZeroU32::new(tone.sample_rate);
    b.set_output_sample_rate(out_rate)
        .expect("lame output rate");
    b.set_brate(Bitrate::Kbps128).expect("lame bitrate");
    b.set_quality(Quality::Good).expect("lame quality");
    let mut enc = b.build().expect("lame init");
    let pcm = tone.interleaved_i16();
    let mut out = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(pcm.len()) + 7200);
    if tone.channels == 1 {
        enc.encode_to_vec(MonoPcm(&pcm), &mut out)
    } else {
        enc.encode_to_vec(InterleavedPcm(&pcm), &mut out)
    }
    .expect("encode mp3");
    enc.flush_to_vec::<FlushGap>(&mut out).expect("flush mp3");
    // LAME leaves a blank first frame for the Xing/LAME (gapless) header: fill it in.
    let mut lametag = Vec::with_capacity(enc.lame_tag_size());
    if let Some(n) = enc.lame_tag_encode_to_vec(&mut lametag) {
        out[..n.get()].copy_from_slice(&lametag);
    }
    std::fs::write(path, &out).expect("write mp3");

    let mut id3 = Id3v2Tag::new();
    for (key, value) in tags.vorbis_pairs() {
        match key {
            "TITLE" => id3.set_title(value),
            "ARTIST" => id3.set_artist(value),
            "ALBUM" => id3.set_album(value),
            "TRACKNUMBER" => id3.set_track(value.parse().expect("track number")),
            _ => {
                id3.insert_user_text(key.to_string(), value);
            }
        }
    }
    if !id3.is_empty() {
        id3.save_to_path(path, WriteOptions::default())
            .expect("tag mp3");
    }
    path.to_path_buf()
}

/// Writes `tone` as an Ogg Vorbis file with `tags` as Vorbis comments and returns its path.
pub fn write_ogg(path: &Path, tone: &Tone, tags: &Tags) -> PathBuf {
    let file = std::fs::File::create(path).expect("create ogg");
    let rate = NonZeroU32::new(tone.sample_rate).expect("sample rate > 0");
    let ch = NonZeroU8::new(tone.channels as u8).expect("channels > 0");
    let mut builder = vorbis_rs::VorbisEncoderBuilder::new_with_serial(rate, ch, file, 0x6d6f6f64);
    builder
        .comment_tags(tags.vorbis_pairs())
        .expect("vorbis comments");
    let mut enc = builder.build().expect("vorbis init");
    let mono = tone.mono();
    let planes = vec![mono.as_slice(); tone.channels as usize];
    enc.encode_audio_block(&planes).expect("encode vorbis");
    enc.finish().expect("finish ogg");
    path.to_path_buf()
}

/// Cuts `path` down to `keep_fraction` (0..=1) of its size, simulating an interrupted copy.
pub fn truncate_file(path: &Path, keep_fraction: f32) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for truncate");
    let len = f.metadata().expect("file metadata").len();
    let keep = (len as f64 * keep_fraction.clamp(0.0, 1.0) as f64) as u64;
    f.set_len(keep).expect("truncate");
}
