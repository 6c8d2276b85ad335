//! The audio side of the box: a [`Player`] handle driving a private thread that owns a
//! [`Mixer`] and an [`AudioOutput`].
//!
//! The daemon sends commands (play, skip, pause, tones) and receives [`PlayerEvent`]s
//! (started, finished, skipped, device trouble). The thread builds its own output, so a
//! sound-card handle never crosses threads, and a missing or vanished card is retried
//! with backoff rather than crashing anything.

mod device;
mod mixer;
mod null;
mod output;
mod tone;
mod wav;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use thiserror::Error;

pub use device::{list_devices, DeviceOutput};
pub use mixer::{Mixer, MixerEvent};
pub use null::NullOutput;
pub use output::{open_output, open_output_with_format, AudioOutput, BACKENDS, DEFAULT_FORMAT};
pub use tone::Tone;
pub use wav::WavOutput;

/// Everything that can go wrong playing audio. Each message names the file or device.
#[derive(Debug, Error)]
pub enum PlayerError {
    #[error("cannot open audio file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot decode {}: {reason} (is it an mp3, flac, ogg vorbis or wav file? \
         re-encode or remove it from the library)",
        path.display()
    )]
    Decode { path: PathBuf, reason: String },
    #[error(
        "audio device {name:?} not found; available: {} \
         (use one of these, \"default\", \"null\" or \"wav:PATH\")",
        if available.is_empty() { "none".to_string() } else { available.join(", ") }
    )]
    DeviceNotFound {
        name: String,
        available: Vec<String>,
    },
    #[error(
        "audio device {device}: {message} (is the card connected, not used by another \
         program, and is the user in group audio?)"
    )]
    Device { device: String, message: String },
    #[error("cannot write WAV file {}: {source}", path.display())]
    Wav {
        path: PathBuf,
        #[source]
        source: hound::Error,
    },
}

/// What the player thread is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerCommand {
    /// `gain_db`: loudness normalisation for this track (0 plays it as it is).
    Play {
        track_id: i64,
        path: PathBuf,
        gain_db: f32,
    },
    Pause,
    Resume,
    TogglePause,
    Skip,
    Stop,
    SetVolume(f32),
    SetFade(Duration),
    Tone(Tone),
    Shutdown,
}

/// What the player thread reports.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerEvent {
    /// The file opened and is playing.
    Started {
        track_id: i64,
    },
    Finished {
        track_id: i64,
        played: Duration,
    },
    Skipped {
        track_id: i64,
        played: Duration,
    },
    /// Stopped by `stop`, or replaced by a later `play`.
    Stopped {
        track_id: i64,
        played: Duration,
    },
    /// The file could not be opened or decoding failed part-way.
    Failed {
        track_id: i64,
        error: String,
    },
    /// The output could not be opened or stopped working; it is being retried. Tracks
    /// keep advancing in real time meanwhile, unheard.
    DeviceError(String),
    /// The output works again after a `DeviceError`.
    DeviceRecovered,
}

impl From<MixerEvent> for PlayerEvent {
    fn from(e: MixerEvent) -> Self {
        match e {
            MixerEvent::Finished { track_id, played } => PlayerEvent::Finished { track_id, played },
            MixerEvent::Skipped { track_id, played } => PlayerEvent::Skipped { track_id, played },
            MixerEvent::Stopped { track_id, played } => PlayerEvent::Stopped { track_id, played },
            MixerEvent::Failed { track_id, error } => PlayerEvent::Failed { track_id, error },
        }
    }
}

/// What the player is doing, refreshed after every block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayerStatus {
    /// Track being heard and its position.
    pub current: Option<(i64, Duration)>,
    pub paused: bool,
    pub volume: f32,
    /// Whether an output is open.
    pub output_ok: bool,
}

/// Rendered per loop turn: short, so commands take effect quickly.
const BLOCK: Duration = Duration::from_millis(20);
/// Device retry: first after this, doubling ...
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// ... up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// An output that has worked this long resets the backoff.
const HEALTHY: Duration = Duration::from_secs(10);
/// Fade on shutdown: ends the music softly when the daemon stops.
const SHUTDOWN_FADE: Duration = Duration::from_millis(60);

/// Handle to the player thread. Dropping it fades out, stops the thread and joins it.
pub struct Player {
    tx: Sender<PlayerCommand>,
    status: Arc<Mutex<PlayerStatus>>,
    thread: Option<JoinHandle<()>>,
}

impl Player {
    /// Starts the player thread on the output named by `output_spec` (see
    /// [`open_output`]). Never fails: a missing device is reported as
    /// [`PlayerEvent::DeviceError`] and retried.
    pub fn spawn(
        output_spec: String,
        volume: f32,
        fade: Duration,
    ) -> (Player, Receiver<PlayerEvent>) {
        let (tx, rx) = mpsc::channel();
        let (ev_tx, ev_rx) = mpsc::channel();
        let status = Arc::new(Mutex::new(PlayerStatus {
            volume,
            ..PlayerStatus::default()
        }));
        let thread_status = Arc::clone(&status);
        let thread_events = ev_tx.clone();
        let spawned = thread::Builder::new()
            .name("player".to_string())
            .spawn(move || {
                PlayerThread::new(output_spec, rx, thread_events, thread_status, volume, fade).run()
            });
        let thread = match spawned {
            Ok(h) => Some(h),
            Err(e) => {
                log::error!("cannot start the player thread: {e}");
                let _ = ev_tx.send(PlayerEvent::DeviceError(format!(
                    "cannot start the player thread: {e}"
                )));
                None
            }
        };
        (Player { tx, status, thread }, ev_rx)
    }

    fn send(&self, cmd: PlayerCommand) {
        if self.tx.send(cmd).is_err() {
            log::warn!("player thread is gone; command dropped");
        }
    }

    /// Plays `path` at `gain_db` (loudness normalisation; 0 plays it as it is).
    pub fn play(&self, track_id: i64, path: impl Into<PathBuf>, gain_db: f32) {
        self.send(PlayerCommand::Play {
            track_id,
            path: path.into(),
            gain_db,
        });
    }

    pub fn pause(&self) {
        self.send(PlayerCommand::Pause);
    }

    pub fn resume(&self) {
        self.send(PlayerCommand::Resume);
    }

    pub fn toggle_pause(&self) {
        self.send(PlayerCommand::TogglePause);
    }

    /// Fades the current track out; a `Skipped` event follows.
    pub fn skip(&self) {
        self.send(PlayerCommand::Skip);
    }

    /// Fades the current track out; a `Stopped` event follows.
    pub fn stop(&self) {
        self.send(PlayerCommand::Stop);
    }

    pub fn set_volume(&self, volume: f32) {
        self.send(PlayerCommand::SetVolume(volume));
    }

    pub fn set_fade(&self, fade: Duration) {
        self.send(PlayerCommand::SetFade(fade));
    }

    pub fn tone(&self, tone: Tone) {
        self.send(PlayerCommand::Tone(tone));
    }

    /// The track being heard and its position, as of the last rendered block.
    pub fn position(&self) -> Option<(i64, Duration)> {
        self.status().current
    }

    /// A snapshot of the player's state, as of the last rendered block.
    pub fn status(&self) -> PlayerStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.tx.send(PlayerCommand::Shutdown);
        if let Some(h) = self.thread.take() {
            if h.join().is_err() {
                log::error!("player thread panicked");
            }
        }
    }
}

/// State of the private thread.
struct PlayerThread {
    spec: String,
    commands: Receiver<PlayerCommand>,
    events: Sender<PlayerEvent>,
    status: Arc<Mutex<PlayerStatus>>,
    mixer: Mixer,
    output: Option<Box<dyn AudioOutput>>,
    opened_at: Instant,
    retry_at: Instant,
    backoff: Duration,
    failed: bool,
    /// Real-time clock used while there is no output to pace us.
    due: Instant,
    running: bool,
}

impl PlayerThread {
    fn new(
        spec: String,
        commands: Receiver<PlayerCommand>,
        events: Sender<PlayerEvent>,
        status: Arc<Mutex<PlayerStatus>>,
        volume: f32,
        fade: Duration,
    ) -> PlayerThread {
        let mut mixer = Mixer::new(DEFAULT_FORMAT.0, DEFAULT_FORMAT.1);
        mixer.set_volume(volume);
        mixer.set_fade(fade);
        let now = Instant::now();
        PlayerThread {
            spec,
            commands,
            events,
            status,
            mixer,
            output: None,
            opened_at: now,
            retry_at: now,
            backoff: BACKOFF_MIN,
            failed: false,
            due: now,
            running: true,
        }
    }

    fn emit(&self, e: PlayerEvent) {
        // The daemon may have stopped listening during shutdown; nothing to do then.
        let _ = self.events.send(e);
    }

    fn run(mut self) {
        let (rate, channels) = self.mixer.format();
        let frames = (BLOCK.as_secs_f64() * f64::from(rate)) as usize;
        let mut block = vec![0.0f32; frames * usize::from(channels)];
        while self.running {
            self.try_open();
            self.wait_for_commands();
            self.drain_commands();
            if !self.running {
                break;
            }
            self.render(&mut block);
        }
        self.shutdown(&mut block);
    }

    /// Opens the output when none is open and the backoff has passed.
    fn try_open(&mut self) {
        if self.output.is_some() || Instant::now() < self.retry_at {
            return;
        }
        match open_output_with_format(&self.spec, self.mixer.format()) {
            Ok(out) => {
                log::info!("audio output {} open", out.name());
                self.output = Some(out);
                self.opened_at = Instant::now();
                if self.failed {
                    self.failed = false;
                    self.emit(PlayerEvent::DeviceRecovered);
                }
            }
            Err(e) => self.device_failed(e),
        }
    }

    fn device_failed(&mut self, e: PlayerError) {
        self.output = None;
        if self.opened_at.elapsed() >= HEALTHY && !self.failed {
            self.backoff = BACKOFF_MIN;
        }
        log::error!("{e}; retrying in {:.1?}", self.backoff);
        self.failed = true;
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.due = Instant::now();
        self.emit(PlayerEvent::DeviceError(e.to_string()));
    }

    /// Blocks for commands where nothing else paces the loop.
    fn wait_for_commands(&mut self) {
        match &self.output {
            // A file output with nothing to render: sleep until told something.
            Some(out) if !out.paced() && self.mixer.is_idle() => match self.commands.recv() {
                Ok(cmd) => self.handle(cmd),
                Err(_) => self.running = false,
            },
            Some(_) => {}
            // No device: keep real time ourselves, listening for commands meanwhile.
            None => {
                let now = Instant::now();
                self.due = if now.saturating_duration_since(self.due) > BLOCK * 5 {
                    now + BLOCK
                } else {
                    self.due + BLOCK
                };
                while self.running {
                    let wait = self.due.saturating_duration_since(Instant::now());
                    match self.commands.recv_timeout(wait) {
                        Ok(cmd) => self.handle(cmd),
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => self.running = false,
                    }
                }
            }
        }
    }

    fn drain_commands(&mut self) {
        while self.running {
            match self.commands.try_recv() {
                Ok(cmd) => self.handle(cmd),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => self.running = false,
            }
        }
    }

    fn handle(&mut self, cmd: PlayerCommand) {
        match cmd {
            PlayerCommand::Play {
                track_id,
                path,
                gain_db,
            } => match self.mixer.play(track_id, &path, gain_db) {
                Ok(()) => self.emit(PlayerEvent::Started { track_id }),
                Err(e) => {
                    log::warn!("track {track_id}: {e}");
                    self.emit(PlayerEvent::Failed {
                        track_id,
                        error: e.to_string(),
                    });
                }
            },
            PlayerCommand::Pause => self.mixer.pause(),
            PlayerCommand::Resume => self.mixer.resume(),
            PlayerCommand::TogglePause => self.mixer.toggle_pause(),
            PlayerCommand::Skip => self.mixer.skip(),
            PlayerCommand::Stop => self.mixer.stop_with_fade(),
            PlayerCommand::SetVolume(v) => self.mixer.set_volume(v),
            PlayerCommand::SetFade(d) => self.mixer.set_fade(d),
            PlayerCommand::Tone(t) => self.mixer.tone(t),
            PlayerCommand::Shutdown => self.running = false,
        }
    }

    /// Renders one block, writes it, forwards events and refreshes the status.
    fn render(&mut self, block: &mut [f32]) {
        let events = self.mixer.fill(block);
        if let Some(out) = self.output.as_mut() {
            if let Err(e) = out.write(block) {
                self.device_failed(e);
            }
        }
        // Status first, so whoever reacts to an event sees the state that follows it.
        {
            let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
            s.current = self.mixer.current();
            s.paused = self.mixer.is_paused();
            s.volume = self.mixer.volume();
            s.output_ok = self.output.is_some();
        }
        for e in events {
            self.emit(e.into());
        }
    }

    /// Fades out what is playing, so stopping the daemon does not cut the music.
    fn shutdown(&mut self, block: &mut [f32]) {
        self.mixer.set_fade(SHUTDOWN_FADE);
        self.mixer.stop_with_fade();
        let limit = (SHUTDOWN_FADE.as_millis() / BLOCK.as_millis()) as usize + 2;
        for _ in 0..limit {
            if self.output.is_none() || self.mixer.is_idle() {
                break;
            }
            self.render(block);
        }
        // Dropping the output finalises a WAV file or lets the device drain.
        self.output = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARD: Duration = Duration::from_secs(60);

    fn sine(path: &std::path::Path, secs: f32) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 22_050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..(22_050.0 * secs) as usize {
            let v = 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 22_050.0).sin();
            w.write_sample((v * 32767.0) as i16).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn plays_a_file_into_a_wav_output_and_reports_started_then_finished() {
        let dir = tempfile::tempdir().unwrap();
        let song = dir.path().join("song.wav");
        sine(&song, 0.5);
        let out = dir.path().join("out.wav");
        let (player, events) = Player::spawn(
            format!("wav:{}", out.display()),
            1.0,
            Duration::from_millis(200),
        );
        player.play(5, &song, 0.0);
        assert_eq!(
            events.recv_timeout(GUARD).unwrap(),
            PlayerEvent::Started { track_id: 5 }
        );
        match events.recv_timeout(GUARD).unwrap() {
            PlayerEvent::Finished {
                track_id: 5,
                played,
            } => {
                assert!((played.as_secs_f64() - 0.5).abs() < 0.03, "{played:?}")
            }
            other => panic!("expected Finished, got {other:?}"),
        }
        drop(player);
        let reader = hound::WavReader::open(&out).unwrap();
        let frames = reader.duration() as i64;
        assert!(
            (frames - 22_050).abs() <= 2 * 882,
            "{frames} frames written"
        );
        let peak = reader
            .into_samples::<i16>()
            .map(|s| s.unwrap().unsigned_abs())
            .max()
            .unwrap();
        assert!(peak > 15_000, "peak {peak}");
    }

    #[test]
    fn bad_file_and_skip_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let song = dir.path().join("long.wav");
        sine(&song, 10.0);
        let bad = dir.path().join("bad.flac");
        std::fs::write(&bad, b"not a flac").unwrap();
        // Paced output: the skip arrives long before the 10 s song could end.
        let (player, events) = Player::spawn("null".to_string(), 0.5, Duration::from_millis(100));
        player.play(1, &bad, 0.0);
        match events.recv_timeout(GUARD).unwrap() {
            PlayerEvent::Failed { track_id: 1, error } => {
                assert!(error.contains("bad.flac"), "{error}")
            }
            other => panic!("expected Failed, got {other:?}"),
        }
        player.play(2, &song, 0.0);
        assert_eq!(
            events.recv_timeout(GUARD).unwrap(),
            PlayerEvent::Started { track_id: 2 }
        );
        player.skip();
        match events.recv_timeout(GUARD).unwrap() {
            PlayerEvent::Skipped {
                track_id: 2,
                played,
            } => assert!(played < Duration::from_secs(10)),
            other => panic!("expected Skipped, got {other:?}"),
        }
    }

    #[test]
    fn missing_device_reports_an_error_and_keeps_answering() {
        let dir = tempfile::tempdir().unwrap();
        let song = dir.path().join("song.wav");
        sine(&song, 0.3);
        // Unwritable WAV path: the output cannot open, like an unplugged card.
        let (player, events) = Player::spawn(
            "wav:/nonexistent-dir/out.wav".to_string(),
            1.0,
            Duration::from_millis(100),
        );
        match events.recv_timeout(GUARD).unwrap() {
            PlayerEvent::DeviceError(msg) => assert!(msg.contains("/nonexistent-dir"), "{msg}"),
            other => panic!("expected DeviceError, got {other:?}"),
        }
        player.play(3, &song, 0.0);
        // Still answers; the song advances in real time unheard, then finishes.
        let mut seen = Vec::new();
        while !matches!(seen.last(), Some(PlayerEvent::Finished { .. })) {
            seen.push(events.recv_timeout(GUARD).unwrap());
        }
        assert!(seen.contains(&PlayerEvent::Started { track_id: 3 }));
        assert!(player.position().is_none());
    }
}
