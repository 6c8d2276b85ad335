//! Proves the generated audio fixtures in `util::audio` decode and carry their tags.

use std::path::Path;

use crate::util::{
    self,
    audio::{self, Tags, Tone},
};
use lofty::file::TaggedFileExt;
use lofty::tag::Accessor;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{MetadataOptions, MetadataRevision};
use symphonia::core::probe::Hint;

const TAGS: Tags<'static> = Tags {
    title: Some("Sunny Test"),
    artist: Some("The Fixtures"),
    album: Some("Generated"),
    track: Some(3),
    valence: Some(0.83),
    energy: Some(0.25),
};

struct Decoded {
    rate: u32,
    channels: usize,
    /// First channel only.
    samples: Vec<f32>,
    /// (key, value) from the container/ID3 metadata as symphonia reports it.
    tags: Vec<(String, String)>,
}

impl Decoded {
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Dominant frequency estimated from zero crossings.
    fn freq(&self) -> f32 {
        let crossings = self
            .samples
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        crossings as f32 / 2.0 / (self.samples.len() as f32 / self.rate as f32)
    }
}

fn decode(path: &Path) -> Decoded {
    let mss = MediaSourceStream::new(
        Box::new(std::fs::File::open(path).unwrap()),
        Default::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension(path.extension().unwrap().to_str().unwrap());
    let fmt_opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let mut probed = symphonia::default::get_probe()
        .format(&hint, mss, &fmt_opts, &MetadataOptions::default())
        .expect("probe");
    let mut tags = Vec::new();
    let mut collect = |rev: Option<&MetadataRevision>| {
        for t in rev.into_iter().flat_map(|r| r.tags()) {
            tags.push((t.key.clone(), t.value.to_string()));
        }
    };
    collect(probed.metadata.get().as_ref().and_then(|m| m.current()));
    let format = &mut probed.format;
    let track = format.default_track().expect("a track");
    let (id, rate) = (
        track.id,
        track.codec_params.sample_rate.expect("sample rate"),
    );
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("decoder");
    let (mut samples, mut channels) = (Vec::new(), 0);
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        if packet.track_id() != id {
            continue;
        }
        let buf = decoder.decode(&packet).expect("decode packet");
        channels = buf.spec().channels.count();
        let mut sb = SampleBuffer::<f32>::new(buf.capacity() as u64, *buf.spec());
        sb.copy_interleaved_ref(buf);
        samples.extend(sb.samples().iter().step_by(channels));
    }
    collect(format.metadata().skip_to_latest());
    Decoded {
        rate,
        channels,
        samples,
        tags,
    }
}

/// Decodes `path` and checks it holds ~1 s of a ~440 Hz tone with `tone`'s rate and channels.
fn check_tone(path: &Path, tone: &Tone) -> Decoded {
    let d = decode(path);
    assert_eq!(
        (d.rate, d.channels),
        (tone.sample_rate, tone.channels as usize)
    );
    let expected = tone.sample_rate as f32 * tone.secs;
    let ratio = d.samples.len() as f32 / expected;
    assert!(
        (0.95..=1.05).contains(&ratio),
        "{}: {} frames",
        path.display(),
        d.samples.len()
    );
    assert!(
        (d.freq() - 440.0).abs() < 440.0 * 0.02,
        "{}: {} Hz",
        path.display(),
        d.freq()
    );
    d
}

/// Checks title/artist via lofty and the custom VALENCE/ENERGY fields via symphonia.
fn check_tags(path: &Path, d: &Decoded, valence_key: &str, energy_key: &str) {
    let tagged = lofty::read_from_path(path).expect("lofty read");
    let tag = tagged.primary_tag().expect("primary tag");
    assert_eq!(tag.title().as_deref(), Some("Sunny Test"));
    assert_eq!(tag.artist().as_deref(), Some("The Fixtures"));
    assert_eq!(tag.album().as_deref(), Some("Generated"));
    assert_eq!(tag.track(), Some(3));
    assert_eq!(d.tag(valence_key), Some("0.83"), "{:?}", d.tags);
    assert_eq!(d.tag(energy_key), Some("0.25"), "{:?}", d.tags);
}

#[test]
fn wav_fixture_decodes() {
    let dir = util::tempdir();
    let tone = Tone::new(440.0, 1.0);
    let path = audio::write_wav(&dir.path().join("a.wav"), &tone);
    check_tone(&path, &tone);
}

#[test]
fn flac_fixture_decodes_with_tags() {
    let dir = util::tempdir();
    let tone = Tone {
        channels: 2,
        sample_rate: 44_100,
        ..Tone::new(440.0, 1.0)
    };
    let path = audio::write_flac(&dir.path().join("a.flac"), &tone, &TAGS);
    let d = check_tone(&path, &tone);
    check_tags(&path, &d, "VALENCE", "ENERGY");
}

#[test]
fn mp3_fixture_decodes_with_tags() {
    let dir = util::tempdir();
    let tone = Tone::new(440.0, 1.0);
    let path = audio::write_mp3(&dir.path().join("a.mp3"), &tone, &TAGS);
    let d = check_tone(&path, &tone);
    check_tags(&path, &d, "TXXX:VALENCE", "TXXX:ENERGY");
}

#[test]
fn ogg_fixture_decodes_with_tags() {
    let dir = util::tempdir();
    let tone = Tone::new(440.0, 1.0);
    let path = audio::write_ogg(&dir.path().join("a.ogg"), &tone, &TAGS);
    let d = check_tone(&path, &tone);
    check_tags(&path, &d, "VALENCE", "ENERGY");
}

#[test]
fn untagged_fixtures_have_no_custom_fields() {
    let dir = util::tempdir();
    let tone = Tone::new(440.0, 0.5);
    let path = audio::write_ogg(&dir.path().join("plain.ogg"), &tone, &Tags::default());
    assert_eq!(decode(&path).tag("VALENCE"), None);
}

#[test]
fn truncate_file_cuts_the_audio() {
    let dir = util::tempdir();
    let path = audio::write_wav(&dir.path().join("cut.wav"), &Tone::new(440.0, 1.0));
    let full = std::fs::metadata(&path).unwrap().len();
    audio::truncate_file(&path, 0.5);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), full / 2);
    let frames = decode(&path).samples.len();
    assert!(frames < 22_050 * 6 / 10, "{frames} frames after truncation");
}
