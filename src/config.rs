//! `config.toml`: `RawConfig` mirrors the file (serde, unknown keys refused); `Config` is the
//! validated form the rest of the box uses. Every error names the file, line and key.

use crate::emotion::Emotion;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Where an installed box keeps its config; `--config PATH` overrides it.
pub const SYSTEM_CONFIG: &str = "/etc/moodbox/config.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `path:line: key: message`, the way compilers print it, so editors can jump there.
    #[error("{path}:{line}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

// ---------------------------------------------------------------------------------- raw form

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    log_level: Option<Spanned<String>>,
    camera: RawCamera,
    model: RawModel,
    debounce: RawDebounce,
    moods: BTreeMap<Spanned<String>, RawTarget>,
    recommend: RawRecommend,
    audio: RawAudio,
    gpio: RawGpio,
    paths: RawPaths,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawCamera {
    source: Option<Spanned<String>>,
    device: Option<String>,
    width: Option<Spanned<u32>>,
    height: Option<Spanned<u32>>,
    fps: Option<Spanned<u32>>,
    // vision (src/vision/)
    min_face: Option<Spanned<i64>>,
    analysis_fps: Option<Spanned<f64>>,
    full_search_every: Option<Spanned<i64>>,
    crop_scale: Option<Spanned<f64>>,
    debug_snapshots: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawModel {
    path: Option<PathBuf>,
    flip_tta: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawDebounce {
    alpha: Option<Spanned<f64>>,
    margin: Option<Spanned<f64>>,
    dwell_secs: Option<Spanned<f64>>,
    min_interval_secs: Option<Spanned<f64>>,
    no_face: Option<Spanned<String>>,
    no_face_neutral_after_secs: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    valence: Spanned<f64>,
    energy: Spanned<f64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRecommend {
    strategy: Option<Spanned<String>>,
    no_repeat: Option<Spanned<i64>>,
    top_k: Option<Spanned<i64>>,
    temperature: Option<Spanned<f64>>,
    feedback_weight: Option<Spanned<f64>>,
    taste_weight: Option<Spanned<f64>>,
    cut_on_change: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawAudio {
    device: Option<String>,
    volume: Option<Spanned<f64>>,
    fade_ms: Option<Spanned<i64>>,
    button_tones: Option<bool>,
    normalize: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawGpio {
    enabled: Option<bool>,
    skip_pin: Option<Spanned<i64>>,
    like_pin: Option<Spanned<i64>>,
    pull: Option<Spanned<String>>,
    debounce_ms: Option<Spanned<i64>>,
    long_press_ms: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawPaths {
    database: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    music_dirs: Option<Vec<PathBuf>>,
    rescan_minutes: Option<Spanned<f64>>,
}

// ---------------------------------------------------------------------------------- validated form

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraSource {
    V4l2,
    Rpicam,
    Dir,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    pub source: CameraSource,
    pub device: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    // vision (src/vision/)
    /// Smallest face to look for, in pixels of the frame.
    pub min_face: u32,
    /// At most this many frames a second go through detection and the model.
    pub analysis_fps: f32,
    /// A full-frame face search at least every N analysed frames (else the face is followed).
    pub full_search_every: u32,
    /// Side of the face crop as a multiple of the detected box (FER2013 framing).
    pub crop_scale: f32,
    /// Keep the last 20 face crops (48x48 PNG) in `state_dir/snapshots`.
    pub debug_snapshots: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub path: PathBuf,
    pub flip_tta: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoFacePolicy {
    /// Keep the last accepted emotion for as long as nobody is seen.
    Hold,
    /// Fall back to neutral after `no_face_neutral_after`.
    Neutral,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DebounceConfig {
    pub alpha: f32,
    pub margin: f32,
    pub dwell: Duration,
    pub min_interval: Duration,
    pub no_face: NoFacePolicy,
    pub no_face_neutral_after: Duration,
}

/// A point on the valence–arousal plane, both in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub valence: f32,
    pub energy: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Mood-congruent: play what matches the face.
    Match,
    /// Steer negative moods toward calmer, then happier music over a few songs.
    Uplift,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecommendConfig {
    pub strategy: Strategy,
    pub no_repeat: usize,
    pub top_k: usize,
    pub temperature: f32,
    pub feedback_weight: f32,
    /// Weight of the learned per-mood taste model (0 = off).
    pub taste_weight: f32,
    pub cut_on_change: bool,
}

/// Loudness normalisation at playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    /// Each track at -18 LUFS: its ReplayGain tag, else its measured loudness.
    Track,
    /// Every track as it is.
    Off,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioConfig {
    pub device: String,
    pub volume: f32,
    pub fade: Duration,
    pub button_tones: bool,
    pub normalize: Normalize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    Up,
    Down,
    Off,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GpioConfig {
    pub enabled: bool,
    pub skip_pin: u8,
    pub like_pin: u8,
    pub pull: Pull,
    pub debounce: Duration,
    pub long_press: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PathsConfig {
    pub database: PathBuf,
    pub state_dir: PathBuf,
    pub music_dirs: Vec<PathBuf>,
    pub rescan_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was read from, if any (for messages and SIGHUP reloads).
    pub source: Option<PathBuf>,
    pub log_level: log::LevelFilter,
    pub camera: CameraConfig,
    pub model: ModelConfig,
    pub debounce: DebounceConfig,
    /// Valence/energy target for every emotion (defaults filled in).
    pub moods: BTreeMap<Emotion, Target>,
    pub recommend: RecommendConfig,
    pub audio: AudioConfig,
    pub gpio: GpioConfig,
    pub paths: PathsConfig,
}

/// Targets on the circumplex (Russell 1980; positions as in Posner et al. 2005), mapped from
/// [-1, 1] to [0, 1]: valence = pleasantness, energy = arousal.
pub fn default_target(e: Emotion) -> Target {
    let (valence, energy) = match e {
        Emotion::Happy => (0.85, 0.70),
        Emotion::Surprise => (0.70, 0.85),
        Emotion::Neutral => (0.55, 0.45),
        Emotion::Sad => (0.15, 0.25),
        Emotion::Angry => (0.15, 0.85),
        Emotion::Fear => (0.20, 0.75),
        Emotion::Disgust => (0.20, 0.55),
    };
    Target { valence, energy }
}

impl Default for Config {
    fn default() -> Self {
        Config::parse("", Path::new("<defaults>")).expect("built-in defaults are valid")
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::parse(&text, path)?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// The config a command uses: `--config PATH`, else the system file when it exists,
    /// else the built-in defaults.
    pub fn resolve(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match explicit {
            Some(p) => Config::load(p),
            None if Path::new(SYSTEM_CONFIG).exists() => Config::load(Path::new(SYSTEM_CONFIG)),
            None => Ok(Config::default()),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let (line, key) = locate(text, span.start);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                key,
                // toml's own message repeats the position and a snippet; keep its first sentence.
                message: e.message().trim().to_string(),
            }
        })?;
        Validator { text, path }.validate(raw)
    }

    pub fn target(&self, e: Emotion) -> Target {
        self.moods[&e]
    }

    /// The effective config in the file's own format, for `check-config`.
    pub fn to_toml(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let secs = |d: Duration| d.as_secs_f64();
        let (c, d, r, a, g, p) = (
            &self.camera,
            &self.debounce,
            &self.recommend,
            &self.audio,
            &self.gpio,
            &self.paths,
        );
        let _ = writeln!(
            s,
            "log_level = {:?}\n",
            self.log_level.to_string().to_lowercase()
        );
        let _ = writeln!(
            s,
            "[camera]\nsource = {:?}\ndevice = {:?}\nwidth = {}\nheight = {}\nfps = {}",
            c.source.name(),
            c.device,
            c.width,
            c.height,
            c.fps
        );
        let _ = writeln!(
            s,
            "min_face = {}\nanalysis_fps = {}\nfull_search_every = {}\ncrop_scale = {}\ndebug_snapshots = {}\n",
            c.min_face, c.analysis_fps, c.full_search_every, c.crop_scale, c.debug_snapshots
        );
        let _ = writeln!(
            s,
            "[model]\npath = {:?}\nflip_tta = {}\n",
            self.model.path, self.model.flip_tta
        );
        let _ = writeln!(s, "[debounce]\nalpha = {}\nmargin = {}\ndwell_secs = {}\nmin_interval_secs = {}\nno_face = {:?}\nno_face_neutral_after_secs = {}\n",
            d.alpha, d.margin, secs(d.dwell), secs(d.min_interval), d.no_face.name(), secs(d.no_face_neutral_after));
        for (e, t) in &self.moods {
            let _ = writeln!(
                s,
                "[moods.{e}]\nvalence = {}\nenergy = {}\n",
                t.valence, t.energy
            );
        }
        let _ = writeln!(s, "[recommend]\nstrategy = {:?}\nno_repeat = {}\ntop_k = {}\ntemperature = {}\nfeedback_weight = {}\ntaste_weight = {}\ncut_on_change = {}\n",
            r.strategy.name(), r.no_repeat, r.top_k, r.temperature, r.feedback_weight, r.taste_weight, r.cut_on_change);
        let _ = writeln!(
            s,
            "[audio]\ndevice = {:?}\nvolume = {}\nfade_ms = {}\nbutton_tones = {}\nnormalize = {:?}\n",
            a.device,
            a.volume,
            a.fade.as_millis(),
            a.button_tones,
            a.normalize.name()
        );
        let _ = writeln!(s, "[gpio]\nenabled = {}\nskip_pin = {}\nlike_pin = {}\npull = {:?}\ndebounce_ms = {}\nlong_press_ms = {}\n",
            g.enabled, g.skip_pin, g.like_pin, g.pull.name(), g.debounce.as_millis(), g.long_press.as_millis());
        let _ = writeln!(
            s,
            "[paths]\ndatabase = {:?}\nstate_dir = {:?}\nmusic_dirs = {:?}\nrescan_minutes = {}",
            p.database,
            p.state_dir,
            p.music_dirs,
            p.rescan_interval.as_secs_f64() / 60.0
        );
        s
    }
}

/// A config value chosen by name; the table serves both parsing and printing.
pub trait Named: Copy + PartialEq + 'static {
    const OPTIONS: &'static [(&'static str, Self)];
    fn name(self) -> &'static str {
        Self::OPTIONS
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(n, _)| n)
    }
}

impl Named for CameraSource {
    const OPTIONS: &'static [(&'static str, Self)] = &[
        ("v4l2", Self::V4l2),
        ("rpicam", Self::Rpicam),
        ("dir", Self::Dir),
    ];
}
impl Named for NoFacePolicy {
    const OPTIONS: &'static [(&'static str, Self)] =
        &[("hold", Self::Hold), ("neutral", Self::Neutral)];
}
impl Named for Strategy {
    const OPTIONS: &'static [(&'static str, Self)] =
        &[("match", Self::Match), ("uplift", Self::Uplift)];
}
impl Named for Normalize {
    const OPTIONS: &'static [(&'static str, Self)] = &[("track", Self::Track), ("off", Self::Off)];
}
impl Named for Pull {
    const OPTIONS: &'static [(&'static str, Self)] =
        &[("up", Self::Up), ("down", Self::Down), ("off", Self::Off)];
}
impl Named for log::LevelFilter {
    const OPTIONS: &'static [(&'static str, Self)] = &[
        ("off", Self::Off),
        ("error", Self::Error),
        ("warn", Self::Warn),
        ("info", Self::Info),
        ("debug", Self::Debug),
        ("trace", Self::Trace),
    ];
}

/// 1-based line of a byte offset, and the dotted key written on that line
/// (`[section]` header above it + the name before `=`).
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let line_no = text[..offset].matches('\n').count() + 1;
    let mut section = String::new();
    for l in text.lines().take(line_no) {
        let t = l.trim();
        if t.starts_with('[') && !t.starts_with("[[") {
            section = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let name = line.split('=').next().unwrap_or("").trim();
    let key = match (section.is_empty(), line.contains('=') && !name.is_empty()) {
        (_, false) => section,
        (true, true) => name.to_string(),
        (false, true) => format!("{section}.{name}"),
    };
    (line_no, key)
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    fn err<T>(
        &self,
        key: &str,
        span: std::ops::Range<usize>,
        message: impl fmt::Display,
    ) -> Result<T, ConfigError> {
        let (line, _) = locate(self.text, span.start);
        Err(ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            key: key.to_string(),
            message: message.to_string(),
        })
    }

    fn range<T: PartialOrd + Copy + fmt::Display>(
        &self,
        key: &str,
        v: Option<Spanned<T>>,
        default: T,
        lo: T,
        hi: T,
    ) -> Result<T, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => self.err(
                key,
                s.span(),
                format!("{} is out of range [{lo}, {hi}]", s.get_ref()),
            ),
        }
    }

    fn choice<T: Named>(
        &self,
        key: &str,
        v: Option<Spanned<String>>,
        default: T,
    ) -> Result<T, ConfigError> {
        let Some(s) = v else { return Ok(default) };
        let options = T::OPTIONS;
        match options
            .iter()
            .find(|(name, _)| *name == s.get_ref().as_str())
        {
            Some((_, t)) => Ok(*t),
            None => {
                let names: Vec<_> = options.iter().map(|(n, _)| *n).collect();
                self.err(
                    key,
                    s.span(),
                    format!("{:?} is not one of {}", s.get_ref(), names.join(", ")),
                )
            }
        }
    }

    fn secs(
        &self,
        key: &str,
        v: Option<Spanned<f64>>,
        default: f64,
        hi: f64,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs_f64(
            self.range(key, v, default, 0.0, hi)?,
        ))
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let log_level = self.choice("log_level", raw.log_level, log::LevelFilter::Info)?;
        let c = raw.camera;
        let camera = CameraConfig {
            source: self.choice("camera.source", c.source, CameraSource::V4l2)?,
            device: c.device.unwrap_or_else(|| "/dev/video0".into()),
            width: self.range("camera.width", c.width.map(widen), 320, 64, 4096)? as u32,
            height: self.range("camera.height", c.height.map(widen), 240, 48, 4096)? as u32,
            fps: self.range("camera.fps", c.fps.map(widen), 10, 1, 120)? as u32,
            // vision
            min_face: self.range("camera.min_face", c.min_face, 40, 20, 2000)? as u32,
            analysis_fps: self.range("camera.analysis_fps", c.analysis_fps, 5.0, 0.1, 120.0)?
                as f32,
            full_search_every: self.range(
                "camera.full_search_every",
                c.full_search_every,
                10,
                1,
                10_000,
            )? as u32,
            crop_scale: self.range(
                "camera.crop_scale",
                c.crop_scale,
                crate::vision::crop::DEFAULT_CROP_SCALE as f64,
                0.5,
                4.0,
            )? as f32,
            debug_snapshots: c.debug_snapshots.unwrap_or(false),
        };
        let model = ModelConfig {
            path: raw
                .model
                .path
                .unwrap_or_else(|| "/usr/share/moodbox/models/emotion-int8.onnx".into()),
            flip_tta: raw.model.flip_tta.unwrap_or(false),
        };
        let d = raw.debounce;
        let debounce = DebounceConfig {
            alpha: self.range("debounce.alpha", d.alpha, 0.3, 0.01, 1.0)? as f32,
            margin: self.range("debounce.margin", d.margin, 0.15, 0.0, 1.0)? as f32,
            dwell: self.secs("debounce.dwell_secs", d.dwell_secs, 3.0, 600.0)?,
            min_interval: self.secs(
                "debounce.min_interval_secs",
                d.min_interval_secs,
                20.0,
                3600.0,
            )?,
            no_face: self.choice("debounce.no_face", d.no_face, NoFacePolicy::Hold)?,
            no_face_neutral_after: self.secs(
                "debounce.no_face_neutral_after_secs",
                d.no_face_neutral_after_secs,
                60.0,
                86400.0,
            )?,
        };
        let mut moods: BTreeMap<Emotion, Target> = Emotion::ALL
            .iter()
            .map(|&e| (e, default_target(e)))
            .collect();
        for (name, t) in raw.moods {
            let key = format!("moods.{}", name.get_ref());
            let Ok(e) = name.get_ref().parse::<Emotion>() else {
                return self.err(
                    &key,
                    name.span(),
                    "not an emotion (angry, disgust, fear, happy, sad, surprise, neutral)",
                );
            };
            let valence =
                self.range(&format!("{key}.valence"), Some(t.valence), 0.0, 0.0, 1.0)? as f32;
            let energy =
                self.range(&format!("{key}.energy"), Some(t.energy), 0.0, 0.0, 1.0)? as f32;
            moods.insert(e, Target { valence, energy });
        }
        let r = raw.recommend;
        let recommend = RecommendConfig {
            strategy: self.choice("recommend.strategy", r.strategy, Strategy::Match)?,
            no_repeat: self.range("recommend.no_repeat", r.no_repeat, 20, 0, 10_000)? as usize,
            top_k: self.range("recommend.top_k", r.top_k, 5, 1, 1000)? as usize,
            temperature: self.range("recommend.temperature", r.temperature, 0.05, 0.0, 10.0)?
                as f32,
            feedback_weight: self.range(
                "recommend.feedback_weight",
                r.feedback_weight,
                0.3,
                0.0,
                10.0,
            )? as f32,
            taste_weight: self.range("recommend.taste_weight", r.taste_weight, 0.8, 0.0, 10.0)?
                as f32,
            cut_on_change: r.cut_on_change.unwrap_or(false),
        };
        let a = raw.audio;
        let audio = AudioConfig {
            device: a.device.unwrap_or_else(|| "default".into()),
            volume: self.range("audio.volume", a.volume, 0.8, 0.0, 1.0)? as f32,
            fade: Duration::from_millis(
                self.range("audio.fade_ms", a.fade_ms, 400, 0, 10_000)? as u64
            ),
            button_tones: a.button_tones.unwrap_or(true),
            normalize: self.choice("audio.normalize", a.normalize, Normalize::Track)?,
        };
        let g = raw.gpio;
        let gpio = GpioConfig {
            enabled: g.enabled.unwrap_or(true),
            skip_pin: self.range("gpio.skip_pin", g.skip_pin, 17, 0, 27)? as u8,
            like_pin: self.range("gpio.like_pin", g.like_pin, 27, 0, 27)? as u8,
            pull: self.choice("gpio.pull", g.pull, Pull::Up)?,
            debounce: Duration::from_millis(self.range(
                "gpio.debounce_ms",
                g.debounce_ms,
                30,
                0,
                1000,
            )? as u64),
            long_press: Duration::from_millis(self.range(
                "gpio.long_press_ms",
                g.long_press_ms,
                800,
                100,
                10_000,
            )? as u64),
        };
        if gpio.enabled && gpio.skip_pin == gpio.like_pin {
            let span = self.text.find("like_pin").unwrap_or(0);
            return self.err(
                "gpio.like_pin",
                span..span,
                "skip_pin and like_pin must differ",
            );
        }
        let p = raw.paths;
        let state_dir = p.state_dir.unwrap_or_else(|| "/var/lib/moodbox".into());
        let paths = PathsConfig {
            database: p.database.unwrap_or_else(|| state_dir.join("library.db")),
            music_dirs: p
                .music_dirs
                .unwrap_or_else(|| vec![state_dir.join("music")]),
            rescan_interval: Duration::from_secs_f64(
                60.0 * self.range(
                    "paths.rescan_minutes",
                    p.rescan_minutes,
                    10.0,
                    0.0,
                    10_080.0,
                )?,
            ),
            state_dir,
        };
        Ok(Config {
            source: None,
            log_level,
            camera,
            model,
            debounce,
            moods,
            recommend,
            audio,
            gpio,
            paths,
        })
    }
}

fn widen(s: Spanned<u32>) -> Spanned<i64> {
    let span = s.span();
    Spanned::new(span, i64::from(s.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(text: &str) -> (usize, String, String) {
        match Config::parse(text, Path::new("box.toml")).unwrap_err() {
            ConfigError::Invalid {
                line, key, message, ..
            } => (line, key, message),
            e => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn shipped_default_config_parses_and_equals_the_built_in_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/config.toml");
        let mut shipped = Config::load(&path).unwrap();
        shipped.source = None;
        assert_eq!(shipped, Config::default());
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let (line, key, msg) = invalid("[camera]\nwidth = 320\nwidht = 10\n");
        assert_eq!((line, key.as_str()), (3, "camera.widht"));
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let (line, key, _) = invalid("log_level = \"info\"\n\n[debounce]\nalpha = \"high\"\n");
        assert_eq!((line, key.as_str()), (4, "debounce.alpha"));
    }

    #[test]
    fn out_of_range_names_line_and_key() {
        let (line, key, msg) = invalid("[audio]\ndevice = \"default\"\nvolume = 1.5\n");
        assert_eq!((line, key.as_str()), (3, "audio.volume"));
        assert!(msg.contains("out of range"), "{msg}");
        let (line, key, _) = invalid("[moods.happy]\nvalence = 0.9\nenergy = -0.1\n");
        assert_eq!((line, key.as_str()), (3, "moods.happy.energy"));
    }

    #[test]
    fn bad_choice_and_unknown_mood() {
        let (line, key, msg) = invalid("[recommend]\nstrategy = \"random\"\n");
        assert_eq!((line, key.as_str()), (2, "recommend.strategy"));
        assert!(msg.contains("match, uplift"), "{msg}");
        let (_, key, _) = invalid("[moods.bored]\nvalence = 0.5\nenergy = 0.5\n");
        assert_eq!(key, "moods.bored");
    }

    #[test]
    fn error_display_is_path_line_key_message() {
        let e = Config::parse(
            "[gpio]\nskip_pin = 99\n",
            Path::new("/etc/moodbox/config.toml"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/moodbox/config.toml:2: gpio.skip_pin: 99 is out of range [0, 27]"
        );
    }

    #[test]
    fn overrides_apply() {
        let c = Config::parse(
            "[moods.sad]\nvalence = 0.4\nenergy = 0.3\n[paths]\nstate_dir = \"/tmp/mb\"\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(
            c.target(Emotion::Sad),
            Target {
                valence: 0.4,
                energy: 0.3
            }
        );
        assert_eq!(c.target(Emotion::Happy), default_target(Emotion::Happy));
        assert_eq!(c.paths.database, PathBuf::from("/tmp/mb/library.db"));
    }
}
