//! The clock-free mixer: turns "play this file, skip, pause, beep" into blocks of samples.
//!
//! It knows nothing of threads or devices; whoever calls [`Mixer::fill`] sets the pace.
//! That keeps every audible behaviour (fades, pause ramps, tones, end-of-track events)
//! testable faster than real time.

use std::any::Any;
use std::fs::File;
use std::io::BufReader;
use std::num::NonZero;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rodio::source::UniformSourceIterator;
use rodio::{Decoder, Source};

use super::tone::Tone;
use super::PlayerError;

/// Pause and resume ramp: feels instant, yet long enough not to click.
const PAUSE_RAMP: Duration = Duration::from_millis(10);
/// Volume changes glide over this long so a stepped volume knob does not crackle.
const VOLUME_RAMP: Duration = Duration::from_millis(20);
/// Fade-in of every track and fade-out of a track replaced by `play`: removes the step a
/// track that does not start or stop at zero would make.
const DECLICK: Duration = Duration::from_millis(5);
/// Frames decoded per refill; bounds the work done inside one `catch_unwind`.
const CHUNK_FRAMES: usize = 1024;
/// A track that ends this much before its declared length is reported as failed: the
/// decoder stops silently on a truncated or corrupt file, and the daemon should know.
const TRUNCATION_SLACK: Duration = Duration::from_secs(3);

/// What happened to a track during one [`Mixer::fill`].
#[derive(Debug, Clone, PartialEq)]
pub enum MixerEvent {
    /// The track played to its end.
    Finished { track_id: i64, played: Duration },
    /// The track was skipped and has faded out.
    Skipped { track_id: i64, played: Duration },
    /// The track was stopped (or replaced by another `play`) and has faded out.
    Stopped { track_id: i64, played: Duration },
    /// Decoding failed part-way; the track ended early.
    Failed { track_id: i64, error: String },
}

/// Decoded, converted samples of one file.
type Samples = Box<dyn Iterator<Item = f32> + Send>;

/// Why a track is fading out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Skip,
    Stop,
}

/// A linear ramp from `value` to `target`, advanced once per output frame.
#[derive(Debug, Clone, Copy)]
struct Ramp {
    value: f32,
    target: f32,
    step: f32,
}

impl Ramp {
    fn at(value: f32) -> Self {
        Ramp {
            value,
            target: value,
            step: 0.0,
        }
    }

    /// Heads for `target`, arriving after `frames` frames from where it is now.
    fn to(&mut self, target: f32, frames: u64) {
        self.target = target;
        self.step = (target - self.value).abs() / frames.max(1) as f32;
    }

    /// Returns the current value, then moves one frame along.
    fn advance(&mut self) -> f32 {
        let v = self.value;
        if self.value < self.target {
            self.value = (self.value + self.step).min(self.target);
        } else if self.value > self.target {
            self.value = (self.value - self.step).max(self.target);
        }
        v
    }

    fn is_at(&self, v: f32) -> bool {
        self.value == v && self.target == v
    }
}

/// Smoothstep: a fade shaped this way starts and ends without a kink, so even a long
/// fade does not seem to "drop off" at its end.
fn shape(x: f32) -> f32 {
    x * x * (3.0 - 2.0 * x)
}

fn frames_for(d: Duration, rate: u32) -> u64 {
    (d.as_secs_f64() * f64::from(rate)).round() as u64
}

fn duration_of(frames: u64, rate: u32) -> Duration {
    let nanos = u128::from(frames) * 1_000_000_000 / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "decoder panicked".to_string()
    }
}

/// One playing file.
struct Track {
    id: i64,
    path: PathBuf,
    samples: Samples,
    channels: usize,
    buf: Vec<f32>,
    pos: usize,
    eof: bool,
    failure: Option<String>,
    /// Output frames rendered so far: the track's position.
    frames: u64,
    /// Length the file declares, in output frames, when it declares one.
    expected_frames: Option<u64>,
    gain: Ramp,
    /// Loudness normalisation, linear; fixed for the track's life, so it never clicks.
    level: f32,
    ending: Option<Ending>,
}

impl Track {
    fn open(
        id: i64,
        path: &Path,
        rate: u32,
        channels: u16,
        level: f32,
    ) -> Result<Track, PlayerError> {
        let file = File::open(path).map_err(|source| PlayerError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let len = file.metadata().ok().map(|m| m.len());
        let mut builder = Decoder::builder()
            .with_data(BufReader::new(file))
            .with_seekable(true);
        if let Some(len) = len {
            builder = builder.with_byte_len(len);
        }
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            builder = builder.with_hint(ext);
        }
        // A malformed header must not take the player thread down with it.
        let decoder = match panic::catch_unwind(AssertUnwindSafe(|| builder.build())) {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                return Err(PlayerError::Decode {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
            }
            Err(p) => {
                return Err(PlayerError::Decode {
                    path: path.to_path_buf(),
                    reason: panic_message(p.as_ref()),
                })
            }
        };
        // MP3 lengths without a Xing header are guesses from the first frames' bitrate,
        // far off for VBR files: never call an mp3 truncated on that basis.
        let is_mp3 = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mp3"));
        let expected_frames = decoder
            .total_duration()
            .filter(|_| !is_mp3)
            .map(|d| frames_for(d, rate));
        let rate_nz = NonZero::new(rate.max(1)).unwrap_or(NonZero::<u32>::MIN);
        let ch_nz = NonZero::new(channels.max(1)).unwrap_or(NonZero::<u16>::MIN);
        let samples: Samples = Box::new(UniformSourceIterator::new(decoder, ch_nz, rate_nz));
        let mut track = Track {
            id,
            path: path.to_path_buf(),
            samples,
            channels: usize::from(channels.max(1)),
            buf: Vec::new(),
            pos: 0,
            eof: false,
            failure: None,
            frames: 0,
            expected_frames,
            gain: Ramp::at(0.0),
            level,
            ending: None,
        };
        // Decode the first chunk now: a file whose header parses but holds no decodable
        // audio (random bytes named .mp3) is refused here, with its path, instead of
        // "playing" as silence.
        track.refill();
        if track.buf.len() < track.channels {
            let reason = track
                .failure
                .take()
                .unwrap_or_else(|| "no audio could be decoded".to_string());
            return Err(PlayerError::Decode {
                path: path.to_path_buf(),
                reason,
            });
        }
        Ok(track)
    }

    /// Tops the buffer up with the next chunk of decoded samples.
    fn refill(&mut self) {
        self.buf.drain(..self.pos);
        self.pos = 0;
        if self.eof {
            return;
        }
        let want = CHUNK_FRAMES * self.channels;
        let samples = &mut self.samples;
        let buf = &mut self.buf;
        // rodio's decoders end the iterator on fatal errors; a panic inside symphonia on
        // malformed data is the one failure we can see, so contain it.
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            while buf.len() < want {
                match samples.next() {
                    // NaN or infinity from a broken stream would poison the whole mix.
                    Some(s) => buf.push(if s.is_finite() { s } else { 0.0 }),
                    None => return true,
                }
            }
            false
        }));
        match result {
            Ok(ended) => self.eof = ended,
            Err(p) => {
                self.eof = true;
                self.failure = Some(format!("decoder crashed: {}", panic_message(p.as_ref())));
            }
        }
    }

    /// Adds one frame of this track, times `bus`, into `frame`. Returns false once the
    /// track has nothing more to give (ended, failed, or faded out).
    fn mix_frame(&mut self, frame: &mut [f32], bus: f32) -> bool {
        if self.ending.is_some() && self.gain.is_at(0.0) {
            return false;
        }
        if self.pos + self.channels > self.buf.len() {
            self.refill();
            if self.pos + self.channels > self.buf.len() {
                return false;
            }
        }
        let g = shape(self.gain.advance()) * bus * self.level;
        let src = &self.buf[self.pos..self.pos + self.channels];
        for (o, s) in frame.iter_mut().zip(src) {
            *o += s * g;
        }
        self.pos += self.channels;
        self.frames += 1;
        true
    }

    fn end_event(&self, rate: u32) -> MixerEvent {
        let track_id = self.id;
        let played = duration_of(self.frames, rate);
        match self.ending {
            Some(Ending::Skip) => return MixerEvent::Skipped { track_id, played },
            Some(Ending::Stop) => return MixerEvent::Stopped { track_id, played },
            None => {}
        }
        if let Some(reason) = &self.failure {
            return MixerEvent::Failed {
                track_id,
                error: format!("{}: {reason} after {played:.1?}", self.path.display()),
            };
        }
        if let Some(expected) = self.expected_frames {
            let slack = frames_for(TRUNCATION_SLACK, rate).max(expected / 10);
            if self.frames + slack < expected {
                return MixerEvent::Failed {
                    track_id,
                    error: format!(
                        "{}: decoding stopped at {played:.1?} of {:.1?}; the file is truncated or corrupt",
                        self.path.display(),
                        duration_of(expected, rate)
                    ),
                };
            }
        }
        MixerEvent::Finished { track_id, played }
    }
}

/// A tone being played.
struct Voice {
    samples: Vec<f32>,
    pos: usize,
}

/// Mixes the current track, tracks fading out, and acknowledgement tones into
/// interleaved f32 samples at a fixed rate and channel count.
pub struct Mixer {
    rate: u32,
    channels: u16,
    current: Option<Track>,
    /// Tracks fading out after skip, stop or replacement; they end with an event.
    outgoing: Vec<Track>,
    voices: Vec<Voice>,
    paused: bool,
    /// Gain of the music bus, ramped by pause and resume.
    bus: Ramp,
    volume: Ramp,
    fade: Duration,
    /// Events that happened between two fills (e.g. a skip while paused).
    pending: Vec<MixerEvent>,
}

impl Mixer {
    /// A mixer producing `channels`-channel audio at `rate` Hz (zero is taken as one).
    /// Volume starts at 1, the skip fade at 1.5 s.
    pub fn new(rate: u32, channels: u16) -> Mixer {
        Mixer {
            rate: rate.max(1),
            channels: channels.max(1),
            current: None,
            outgoing: Vec::new(),
            voices: Vec::new(),
            paused: false,
            bus: Ramp::at(1.0),
            volume: Ramp::at(1.0),
            fade: Duration::from_millis(1500),
            pending: Vec::new(),
        }
    }

    /// The output format: (sample rate, channels).
    pub fn format(&self) -> (u32, u16) {
        (self.rate, self.channels)
    }

    fn frames(&self, d: Duration) -> u64 {
        frames_for(d, self.rate)
    }

    /// True while pause has fully faded the music out: tracks are not advanced.
    fn bus_stopped(&self) -> bool {
        self.paused && self.bus.is_at(0.0)
    }

    /// Opens and starts `path` at `gain_db` (loudness normalisation; 0 plays it as it is),
    /// replacing (with a short fade) whatever was playing, and resumes if paused. On error
    /// nothing changes and the error names the file.
    pub fn play(&mut self, track_id: i64, path: &Path, gain_db: f32) -> Result<(), PlayerError> {
        let level = if gain_db.is_finite() {
            10f32.powf(gain_db.clamp(-60.0, 40.0) / 20.0)
        } else {
            1.0
        };
        let mut track = Track::open(track_id, path, self.rate, self.channels, level)?;
        if let Some(old) = self.current.take() {
            self.end_track(old, Ending::Stop, DECLICK);
        }
        track.gain.to(1.0, self.frames(DECLICK));
        self.current = Some(track);
        self.resume();
        Ok(())
    }

    /// Fades `track` out over `fade` and reports it with `why` once silent. A track that
    /// cannot be heard (paused) ends at once.
    fn end_track(&mut self, mut track: Track, why: Ending, fade: Duration) {
        track.ending = Some(why);
        if self.bus_stopped() {
            self.pending.push(track.end_event(self.rate));
            return;
        }
        let frames = self.frames(fade.max(DECLICK));
        track.gain.to(0.0, frames);
        self.outgoing.push(track);
    }

    /// Pauses the music (tones still sound) after a few-millisecond ramp.
    pub fn pause(&mut self) {
        self.paused = true;
        self.bus.to(0.0, self.frames(PAUSE_RAMP));
    }

    /// Resumes from where the music paused.
    pub fn resume(&mut self) {
        self.paused = false;
        self.bus.to(1.0, self.frames(PAUSE_RAMP));
    }

    pub fn toggle_pause(&mut self) {
        if self.paused {
            self.resume();
        } else {
            self.pause();
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Fades the current track out over the fade time, then reports `Skipped`.
    pub fn skip(&mut self) {
        if let Some(t) = self.current.take() {
            self.end_track(t, Ending::Skip, self.fade);
        }
    }

    /// Fades the current track out over the fade time, then reports `Stopped`.
    pub fn stop_with_fade(&mut self) {
        if let Some(t) = self.current.take() {
            self.end_track(t, Ending::Stop, self.fade);
        }
    }

    /// Sets the master volume, a linear gain clamped to 0..=1, reached after a short ramp.
    pub fn set_volume(&mut self, volume: f32) {
        let v = if volume.is_nan() {
            0.0
        } else {
            volume.clamp(0.0, 1.0)
        };
        self.volume.to(v, self.frames(VOLUME_RAMP));
    }

    /// The volume being ramped towards.
    pub fn volume(&self) -> f32 {
        self.volume.target
    }

    /// Sets how long skip and stop fade out (a few milliseconds at least, to avoid a click).
    pub fn set_fade(&mut self, fade: Duration) {
        self.fade = fade;
    }

    /// The track being heard and its position: the current track or, while a skip fades,
    /// the track fading out.
    pub fn current(&self) -> Option<(i64, Duration)> {
        self.current
            .as_ref()
            .or(self.outgoing.last())
            .map(|t| (t.id, duration_of(t.frames, self.rate)))
    }

    /// Lays an acknowledgement tone over whatever plays (or over silence).
    pub fn tone(&mut self, tone: Tone) {
        self.voices.push(Voice {
            samples: tone.render(self.rate),
            pos: 0,
        });
    }

    /// True when a fill would produce only silence and no events: nothing playing (or
    /// fully paused), no tone sounding.
    pub fn is_idle(&self) -> bool {
        self.voices.is_empty()
            && self.pending.is_empty()
            && (self.bus_stopped() || (self.current.is_none() && self.outgoing.is_empty()))
    }

    /// Writes exactly `out.len()` interleaved samples and returns what happened to tracks
    /// meanwhile. `out.len()` should be a multiple of the channel count; a trailing
    /// partial frame is written as silence.
    pub fn fill(&mut self, out: &mut [f32]) -> Vec<MixerEvent> {
        let mut events = std::mem::take(&mut self.pending);
        let ch = usize::from(self.channels);
        let mut frames = out.chunks_exact_mut(ch);
        for frame in &mut frames {
            frame.fill(0.0);
            if self.bus_stopped() {
                // Fades interrupted by pause are inaudible now: finish them.
                for t in self.outgoing.drain(..) {
                    events.push(t.end_event(self.rate));
                }
            } else {
                let bus = shape(self.bus.advance());
                if let Some(t) = self.current.as_mut() {
                    if !t.mix_frame(frame, bus) {
                        if let Some(t) = self.current.take() {
                            events.push(t.end_event(self.rate));
                        }
                    }
                }
                let rate = self.rate;
                self.outgoing.retain_mut(|t| {
                    let alive = t.mix_frame(frame, bus);
                    if !alive {
                        events.push(t.end_event(rate));
                    }
                    alive
                });
            }
            let mut tone = 0.0;
            for v in &mut self.voices {
                if let Some(s) = v.samples.get(v.pos) {
                    tone += s;
                    v.pos += 1;
                }
            }
            let vol = self.volume.advance();
            for s in frame.iter_mut() {
                *s = ((*s + tone) * vol).clamp(-1.0, 1.0);
            }
        }
        frames.into_remainder().fill(0.0);
        self.voices.retain(|v| v.pos < v.samples.len());
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::tone::TONE_PEAK;
    use std::io::Write;

    const RATE: u32 = 44_100;
    const BLOCK: usize = 882 * 2; // 20 ms of stereo

    /// Writes a mono 16-bit WAV at `rate` whose samples are `f(i)`.
    fn wav(dir: &Path, name: &str, rate: u32, n: usize, f: impl Fn(usize) -> f32) -> PathBuf {
        let path = dir.join(name);
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..n {
            w.write_sample((f(i) * 32767.0).round() as i16).unwrap();
        }
        w.finalize().unwrap();
        path
    }

    fn sine440(dir: &Path) -> PathBuf {
        wav(dir, "sine.wav", 22_050, 11_025, |i| {
            0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 22_050.0).sin()
        })
    }

    /// Fills until the mixer reports an event (or `max_blocks`), returning all samples.
    fn run_until_event(m: &mut Mixer, max_blocks: usize) -> (Vec<f32>, Vec<MixerEvent>) {
        let mut all = Vec::new();
        let mut block = vec![0.0; BLOCK];
        for _ in 0..max_blocks {
            let ev = m.fill(&mut block);
            all.extend_from_slice(&block);
            if !ev.is_empty() {
                return (all, ev);
            }
        }
        (all, Vec::new())
    }

    fn max_step(s: &[f32], ch: usize) -> f32 {
        s.windows(ch + 1)
            .map(|w| (w[ch] - w[0]).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn plays_mono_22k_file_as_44k_stereo_with_right_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = sine440(dir.path());
        let mut m = Mixer::new(RATE, 2);
        m.play(7, &path, 0.0).unwrap();
        assert_eq!(m.current().map(|c| c.0), Some(7));
        let (out, events) = run_until_event(&mut m, 200);
        let played = match events.as_slice() {
            [MixerEvent::Finished {
                track_id: 7,
                played,
            }] => *played,
            other => panic!("expected Finished, got {other:?}"),
        };
        let diff = (played.as_secs_f64() - 0.5).abs();
        assert!(diff <= 0.02, "played {played:?}");
        // Last non-silent frame tells the rendered length.
        let last = out.iter().rposition(|s| s.abs() > 1e-4).unwrap() / 2 + 1;
        assert!(
            (last as i64 - 22_050).abs() <= 882,
            "rendered {last} frames"
        );
        // Stereo from mono: both channels equal; level preserved.
        assert!(out.chunks(2).all(|f| (f[0] - f[1]).abs() < 1e-6));
        let peak = out.iter().fold(0.0f32, |a, s| a.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.02, "peak {peak}");
        // Zero-crossings: 440 Hz over 0.5 s is ~440 crossings per channel.
        let left: Vec<f32> = out.chunks(2).map(|f| f[0]).take(last).collect();
        let crossings = left
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((430..=450).contains(&crossings), "{crossings} crossings");
        assert!(m.current().is_none());
        assert!(m.is_idle());
    }

    #[test]
    fn skip_fades_out_monotonically_then_reports_skipped() {
        let dir = tempfile::tempdir().unwrap();
        // A constant signal makes the gain envelope directly visible.
        let path = wav(dir.path(), "dc.wav", 22_050, 22_050, |_| 0.5);
        let mut m = Mixer::new(RATE, 2);
        m.set_fade(Duration::from_millis(200));
        m.play(3, &path, 0.0).unwrap();
        let mut block = vec![0.0; BLOCK];
        for _ in 0..10 {
            assert!(m.fill(&mut block).is_empty());
        }
        let before = block[block.len() - 1];
        assert!((before - 0.5).abs() < 1e-3, "steady level {before}");
        m.skip();
        let (out, events) = run_until_event(&mut m, 100);
        match events.as_slice() {
            [MixerEvent::Skipped {
                track_id: 3,
                played,
            }] => {
                // 200 ms played + ~200 ms fade
                assert!((played.as_secs_f64() - 0.4).abs() < 0.03, "{played:?}");
            }
            other => panic!("expected Skipped, got {other:?}"),
        }
        assert!((out[0] - before).abs() < 1e-3, "jump at fade start");
        assert!(out.windows(2).all(|w| w[1] <= w[0] + 1e-6), "not monotonic");
        assert!(max_step(&out, 2) < 0.01, "step {}", max_step(&out, 2));
        assert_eq!(*out.last().unwrap(), 0.0);
        // Fade lasted about 200 ms.
        let audible = out.iter().rposition(|s| *s > 0.0).unwrap() / 2;
        assert!(
            (audible as i64 - 8_820).abs() < 200,
            "fade {audible} frames"
        );
        m.fill(&mut block);
        assert!(block.iter().all(|s| *s == 0.0));
    }

    #[test]
    fn pause_outputs_silence_and_resume_continues_from_same_position() {
        let dir = tempfile::tempdir().unwrap();
        // A slow ramp: every sample tells its position in the file.
        let n = 22_050;
        let path = wav(dir.path(), "ramp.wav", 22_050, n, |i| {
            i as f32 / n as f32 - 0.5
        });
        let mut m = Mixer::new(RATE, 2);
        m.play(1, &path, 0.0).unwrap();
        let mut block = vec![0.0; BLOCK];
        for _ in 0..10 {
            m.fill(&mut block);
        }
        m.pause();
        assert!(m.is_paused());
        m.fill(&mut block); // the pause ramp (10 ms) ends within this block
        let (_, at_pause) = m.current().unwrap();
        for _ in 0..20 {
            assert!(m.fill(&mut block).is_empty());
            assert!(block.iter().all(|s| *s == 0.0), "not silent while paused");
        }
        assert_eq!(m.current(), Some((1, at_pause)));
        m.toggle_pause();
        assert!(!m.is_paused());
        m.fill(&mut block);
        // After the 10 ms resume ramp the ramp signal carries on where it stopped.
        let frame = 600;
        let expected_pos = frames_for(at_pause, RATE) + frame as u64;
        let expected = expected_pos as f32 / (2 * n) as f32 - 0.5;
        let got = block[frame * 2];
        assert!(
            (got - expected).abs() < 2e-3,
            "got {got}, expected {expected}"
        );
        let (_, events) = run_until_event(&mut m, 200);
        match events.as_slice() {
            [MixerEvent::Finished {
                track_id: 1,
                played,
            }] => {
                assert!((played.as_secs_f64() - 1.0).abs() < 0.02, "{played:?}")
            }
            other => panic!("expected Finished, got {other:?}"),
        }
    }

    #[test]
    fn skip_while_paused_ends_at_once_and_play_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = sine440(dir.path());
        let mut m = Mixer::new(RATE, 2);
        m.play(1, &path, 0.0).unwrap();
        let mut block = vec![0.0; BLOCK];
        m.fill(&mut block);
        m.pause();
        m.fill(&mut block);
        m.skip();
        let ev = m.fill(&mut block);
        assert!(matches!(
            ev.as_slice(),
            [MixerEvent::Skipped { track_id: 1, .. }]
        ));
        m.play(2, &path, 0.0).unwrap();
        assert!(!m.is_paused());
        m.fill(&mut block);
        assert!(block.iter().any(|s| s.abs() > 0.1));
    }

    #[test]
    fn play_replaces_current_track_without_click() {
        let dir = tempfile::tempdir().unwrap();
        let dc = wav(dir.path(), "dc.wav", 44_100, 44_100, |_| 0.5);
        let mut m = Mixer::new(RATE, 2);
        m.play(1, &dc, 0.0).unwrap();
        let mut block = vec![0.0; BLOCK];
        m.fill(&mut block);
        let mut out = block.clone();
        m.play(2, &dc, 0.0).unwrap();
        let ev = m.fill(&mut block);
        out.extend_from_slice(&block);
        assert!(matches!(
            ev.as_slice(),
            [MixerEvent::Stopped { track_id: 1, .. }]
        ));
        assert_eq!(m.current().map(|c| c.0), Some(2));
        // Old fades out while new fades in: the sum never steps.
        assert!(max_step(&out[BLOCK..], 2) < 0.01);
    }

    #[test]
    fn corrupt_or_missing_files_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let noise = dir.path().join("noise.mp3");
        let mut x: u32 = 12345;
        let bytes: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        std::fs::write(&noise, bytes).unwrap();
        let text = dir.path().join("notes.wav");
        let mut f = File::create(&text).unwrap();
        writeln!(f, "this is not audio, just a text file").unwrap();
        let missing = dir.path().join("missing.flac");
        let mut m = Mixer::new(RATE, 2);
        for path in [&noise, &text, &missing] {
            let err = m.play(9, path, 0.0).expect_err("should refuse");
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
        assert!(m.current().is_none());
        let mut block = vec![1.0; BLOCK];
        assert!(m.fill(&mut block).is_empty());
        assert!(block.iter().all(|s| *s == 0.0));
    }

    #[test]
    fn truncated_file_ends_with_failed() {
        let dir = tempfile::tempdir().unwrap();
        let path = wav(dir.path(), "long.wav", 22_050, 22_050 * 10, |i| {
            0.3 * (i as f32 * 0.05).sin()
        });
        // Cut the data to a third; the header still declares 10 s.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
        let mut m = Mixer::new(RATE, 2);
        m.play(4, &path, 0.0).unwrap();
        let (_, events) = run_until_event(&mut m, 2_000);
        match events.as_slice() {
            [MixerEvent::Failed { track_id: 4, error }] => {
                assert!(error.contains("long.wav"), "{error}")
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }

    #[test]
    fn track_gain_scales_the_music_from_its_first_sample() {
        let dir = tempfile::tempdir().unwrap();
        let dc = wav(dir.path(), "dc.wav", 44_100, 44_100, |_| 0.25);
        let mut m = Mixer::new(RATE, 2);
        m.play(1, &dc, 6.0).unwrap();
        let mut out = Vec::new();
        let mut block = vec![0.0; BLOCK];
        for _ in 0..5 {
            m.fill(&mut block);
            out.extend_from_slice(&block);
        }
        let level = out[out.len() - 1];
        assert!((level - 0.25 * 10f32.powf(0.3)).abs() < 2e-3, "{level}");
        // The 5 ms fade-in reaches the boosted level smoothly: no step.
        assert!(max_step(&out, 2) < 0.01, "step {}", max_step(&out, 2));
        // A cut, and the next track at 0 dB, are what they say.
        m.play(2, &dc, -6.0).unwrap();
        m.fill(&mut block);
        assert!((block[block.len() - 1] - 0.25 / 10f32.powf(0.3)).abs() < 2e-3);
        m.play(3, &dc, 0.0).unwrap();
        m.fill(&mut block);
        assert!((block[block.len() - 1] - 0.25).abs() < 2e-3);
    }

    #[test]
    fn tones_sound_over_silence_softly_and_without_clicks() {
        let mut m = Mixer::new(RATE, 2);
        for tone in [Tone::Like, Tone::Skip, Tone::Pause, Tone::NotForMood] {
            m.tone(tone);
            assert!(!m.is_idle());
            let mut out = Vec::new();
            let mut block = vec![0.0; BLOCK];
            for _ in 0..15 {
                assert!(m.fill(&mut block).is_empty());
                out.extend_from_slice(&block);
            }
            assert!(m.is_idle(), "{tone:?} still sounding after 300 ms");
            let peak = out.iter().fold(0.0f32, |a, s| a.max(s.abs()));
            assert!(
                peak > 0.1 && peak <= TONE_PEAK + 1e-6,
                "{tone:?} peak {peak}"
            );
            // A click would be a step near the peak; a 880 Hz sine moves < 0.02 per sample.
            assert!(
                max_step(&out, 2) < 0.03,
                "{tone:?} step {}",
                max_step(&out, 2)
            );
            assert!(out[0].abs() < 1e-3 && out[out.len() - 1] == 0.0);
        }
    }

    #[test]
    fn tones_mix_over_music_and_volume_ramps() {
        let dir = tempfile::tempdir().unwrap();
        let dc = wav(dir.path(), "dc.wav", 44_100, 44_100, |_| 0.5);
        let mut m = Mixer::new(RATE, 2);
        m.play(1, &dc, 0.0).unwrap();
        let mut block = vec![0.0; BLOCK];
        m.fill(&mut block);
        m.tone(Tone::Like);
        m.fill(&mut block);
        let peak = block.iter().fold(0.0f32, |a, s| a.max(*s));
        assert!(peak > 0.6, "tone not heard over music: {peak}");
        // Volume: no step, ends at the new level.
        let mut m = Mixer::new(RATE, 2);
        m.play(1, &dc, 0.0).unwrap();
        m.fill(&mut block);
        m.set_volume(0.2);
        m.fill(&mut block);
        assert!(max_step(&block, 2) < 0.01);
        assert!((block[block.len() - 1] - 0.1).abs() < 1e-3);
        // Output is clamped even at absurd input.
        m.set_volume(7.0);
        assert_eq!(m.volume(), 1.0);
    }
}
