//! The box's brain, free of threads and clocks: it owns the library, the debouncer and the
//! picker, takes one input at a time with the current time, and drives a `Deck` (the
//! player). The real daemon feeds it from channels in real time; the demo and the tests
//! feed it on a simulated clock, so both run exactly this code.

use crate::buttons::Action;
use crate::config::{Config, Named, Normalize};
use crate::control::Status;
use crate::daemon::debounce::{ChangeReason, Debouncer, Observation};
use crate::emotion::Emotion;
use crate::music::library::{Library, LibraryError, Outcome};
use crate::music::picker::Picker;
use crate::player::{Mixer, Player, PlayerEvent, Tone};
use std::path::Path;
use std::time::Duration;

/// What the engine needs from a player.
pub trait Deck {
    /// Starts a track at `gain_db` (loudness normalisation, 0 = as it is); an immediate
    /// failure (file unreadable) is returned, a later one arrives as `PlayerEvent::Failed`.
    fn play(&mut self, track_id: i64, path: &Path, gain_db: f32) -> Result<(), String>;
    /// Fades out, then reports `Skipped`.
    fn skip(&mut self);
    /// Fades out, then reports `Stopped`.
    fn stop(&mut self);
    fn toggle_pause(&mut self);
    fn tone(&mut self, tone: Tone);
    fn position(&self) -> Option<(i64, Duration)>;
    /// Volume (0-1) and the fade used for skips and cuts.
    fn set_audio(&mut self, volume: f32, fade: Duration);
}

impl Deck for Player {
    fn play(&mut self, track_id: i64, path: &Path, gain_db: f32) -> Result<(), String> {
        Player::play(self, track_id, path, gain_db);
        Ok(())
    }
    fn skip(&mut self) {
        Player::skip(self)
    }
    fn stop(&mut self) {
        Player::stop(self)
    }
    fn toggle_pause(&mut self) {
        Player::toggle_pause(self)
    }
    fn tone(&mut self, tone: Tone) {
        Player::tone(self, tone)
    }
    fn position(&self) -> Option<(i64, Duration)> {
        Player::position(self)
    }
    fn set_audio(&mut self, volume: f32, fade: Duration) {
        self.set_volume(volume);
        self.set_fade(fade);
    }
}

impl Deck for Mixer {
    fn play(&mut self, track_id: i64, path: &Path, gain_db: f32) -> Result<(), String> {
        Mixer::play(self, track_id, path, gain_db).map_err(|e| e.to_string())
    }
    fn skip(&mut self) {
        Mixer::skip(self)
    }
    fn stop(&mut self) {
        Mixer::stop_with_fade(self)
    }
    fn toggle_pause(&mut self) {
        Mixer::toggle_pause(self)
    }
    fn tone(&mut self, tone: Tone) {
        Mixer::tone(self, tone)
    }
    fn position(&self) -> Option<(i64, Duration)> {
        Mixer::current(self)
    }
    fn set_audio(&mut self, volume: f32, fade: Duration) {
        self.set_volume(volume);
        self.set_fade(fade);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Observation(Observation),
    Action(Action),
    Player(PlayerEvent),
    /// A scan changed the library: reload the candidates (and start playing if idle).
    LibraryChanged,
}

#[derive(Debug, Clone)]
struct NowPlaying {
    play_id: i64,
    track_id: i64,
    label: String,
    emotion: Emotion,
}

/// Where the engine's readable log goes: `log` in the daemon, stdout with times in the demo.
pub type Say = Box<dyn FnMut(Duration, &str) + Send>;

pub struct Engine {
    cfg: Config,
    lib: Library,
    picker: Picker,
    debouncer: Debouncer,
    playing: Option<NowPlaying>,
    paused: bool,
    songs_since_change: u32,
    started_at: Duration,
    message: Option<String>,
    say: Say,
}

/// How many unplayable tracks in a row the engine passes over before it waits for a rescan.
const MAX_FAILED_PICKS: usize = 5;

impl Engine {
    pub fn new(
        cfg: Config,
        lib: Library,
        now: Duration,
        seed: u64,
        say: Say,
    ) -> Result<Engine, LibraryError> {
        let dangling = lib.close_dangling_plays()?;
        if dangling > 0 {
            log::info!("closed {dangling} play(s) left open by an earlier run as interrupted");
        }
        let picker = Picker::new(&lib, seed)?;
        let debouncer = Debouncer::new(cfg.debounce.clone(), Emotion::Neutral, now);
        Ok(Engine {
            cfg,
            lib,
            picker,
            debouncer,
            playing: None,
            paused: false,
            songs_since_change: 0,
            started_at: now,
            message: None,
            say,
        })
    }

    pub fn library(&self) -> &Library {
        &self.lib
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn emotion(&self) -> Emotion {
        self.debouncer.current()
    }

    /// Applies a reloaded config (debounce, targets, strategy, volume take effect at once).
    pub fn set_config(&mut self, cfg: Config, deck: &mut dyn Deck) {
        self.debouncer.set_config(cfg.debounce.clone());
        deck.set_audio(cfg.audio.volume, cfg.audio.fade);
        self.cfg = cfg;
    }

    fn say(&mut self, now: Duration, text: &str) {
        (self.say)(now.saturating_sub(self.started_at), text);
    }

    /// Sets the deck up from the config and starts playing.
    pub fn start(&mut self, now: Duration, deck: &mut dyn Deck) -> Result<(), LibraryError> {
        deck.set_audio(self.cfg.audio.volume, self.cfg.audio.fade);
        if self.playing.is_none() {
            self.play_next(now, deck)?;
        }
        Ok(())
    }

    pub fn handle(
        &mut self,
        now: Duration,
        input: Input,
        deck: &mut dyn Deck,
    ) -> Result<(), LibraryError> {
        match input {
            Input::Observation(obs) => {
                if let Some(change) = self.debouncer.observe(now, obs) {
                    self.lib.record_emotion_change(
                        Some(change.from),
                        change.to,
                        change.confidence,
                    )?;
                    self.songs_since_change = 0;
                    let why = match change.reason {
                        ChangeReason::Face => format!("smoothed p={:.2}", change.confidence),
                        ChangeReason::NoFaceFallback => "nobody in view".to_string(),
                    };
                    self.say(
                        now,
                        &format!("mood {} -> {} ({why})", change.from, change.to),
                    );
                    if self.cfg.recommend.cut_on_change && self.playing.is_some() {
                        self.say(now, "fading out the current song for the new mood");
                        deck.stop();
                    }
                }
            }
            Input::Action(action) => self.action(now, action, deck)?,
            Input::Player(event) => self.player_event(now, event, deck)?,
            Input::LibraryChanged => {
                self.picker.reload(&self.lib)?;
                if self.playing.is_none() {
                    self.play_next(now, deck)?;
                }
            }
        }
        Ok(())
    }

    fn action(
        &mut self,
        now: Duration,
        action: Action,
        deck: &mut dyn Deck,
    ) -> Result<(), LibraryError> {
        let tones = self.cfg.audio.button_tones;
        let tone = |deck: &mut dyn Deck, t| {
            if tones {
                deck.tone(t)
            }
        };
        let Some(p) = self.playing.clone() else {
            self.say(
                now,
                &format!("button {action:?} ignored: nothing is playing"),
            );
            return Ok(());
        };
        match action {
            Action::Skip => {
                tone(deck, Tone::Skip);
                self.say(now, &format!("skip: {}", p.label));
                deck.skip();
            }
            Action::PauseToggle => {
                tone(deck, Tone::Pause);
                self.paused = !self.paused;
                self.say(now, if self.paused { "paused" } else { "resumed" });
                deck.toggle_pause();
            }
            Action::Like => {
                // Stored (and fsynced) before the tone: the tone promises the like is kept.
                self.lib.record_like(p.track_id, p.emotion, 1)?;
                tone(deck, Tone::Like);
                self.say(now, &format!("like: {} (for {})", p.label, p.emotion));
            }
            Action::NotForMood => {
                self.lib.record_like(p.track_id, p.emotion, -1)?;
                tone(deck, Tone::NotForMood);
                self.say(
                    now,
                    &format!("not for {}: {} (skipping)", p.emotion, p.label),
                );
                deck.skip();
            }
        }
        Ok(())
    }

    fn player_event(
        &mut self,
        now: Duration,
        event: PlayerEvent,
        deck: &mut dyn Deck,
    ) -> Result<(), LibraryError> {
        let (track_id, outcome, played, error) = match event {
            PlayerEvent::Finished { track_id, played } => {
                (track_id, Outcome::Finished, played, None)
            }
            PlayerEvent::Skipped { track_id, played } => (track_id, Outcome::Skipped, played, None),
            PlayerEvent::Stopped { track_id, played } => {
                (track_id, Outcome::Interrupted, played, None)
            }
            PlayerEvent::Failed { track_id, error } => {
                (track_id, Outcome::Failed, Duration::ZERO, Some(error))
            }
            PlayerEvent::Started { .. } => return Ok(()),
            PlayerEvent::DeviceError(e) => {
                self.message = Some(format!("audio output problem: {e}"));
                return Ok(());
            }
            PlayerEvent::DeviceRecovered => {
                self.message = None;
                return Ok(());
            }
        };
        let Some(p) = self.playing.take().filter(|p| p.track_id == track_id) else {
            return Ok(());
        };
        self.lib.finish_play(p.play_id, outcome, played)?;
        if let Some(error) = error {
            self.say(
                now,
                &format!("cannot play {}: {error}; passing over it", p.label),
            );
            self.lib.mark_broken(track_id, &error)?;
            self.picker.forget(track_id);
        } else if outcome == Outcome::Finished {
            self.say(
                now,
                &format!("finished: {} ({:.0} s)", p.label, played.as_secs_f64()),
            );
        }
        self.play_next(now, deck)
    }

    fn play_next(&mut self, now: Duration, deck: &mut dyn Deck) -> Result<(), LibraryError> {
        let emotion = self.debouncer.current();
        for _ in 0..MAX_FAILED_PICKS {
            let Some(pick) =
                self.picker
                    .pick(&self.lib, &self.cfg, emotion, self.songs_since_change)?
            else {
                let dirs: Vec<String> = self
                    .cfg
                    .paths
                    .music_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect();
                let msg = format!(
                    "waiting for music: the library is empty (copy songs into {})",
                    dirs.join(", ")
                );
                if self.message.as_deref() != Some(&msg) {
                    self.say(now, &msg);
                }
                self.message = Some(msg);
                return Ok(());
            };
            let label = pick.track.label();
            let gain_db = self.gain_for(pick.track.id);
            if let Err(e) = deck.play(pick.track.id, &pick.track.path, gain_db) {
                self.say(now, &format!("cannot play {label}: {e}; passing over it"));
                self.lib.mark_broken(pick.track.id, &e)?;
                self.picker.forget(pick.track.id);
                continue;
            }
            self.message = None;
            self.paused = false;
            let play_id = self.lib.start_play(pick.track.id, emotion)?;
            self.songs_since_change += 1;
            self.say(
                now,
                &format!(
                    "play for {emotion}: {label} (rank {} of {}, score {:+.2} = {}; {})",
                    pick.rank + 1,
                    self.picker.len(),
                    pick.scored.score,
                    pick.scored.terms(),
                    pick.why
                ),
            );
            self.playing = Some(NowPlaying {
                play_id,
                track_id: pick.track.id,
                label,
                emotion,
            });
            return Ok(());
        }
        self.message =
            Some("several tracks in a row could not be played; waiting for the next scan".into());
        Ok(())
    }

    /// The playback gain for a track under `audio.normalize`: its ReplayGain tag or measured
    /// loudness (`Library::track_gain`), 0 dB when off or unknown.
    fn gain_for(&self, track_id: i64) -> f32 {
        match self.cfg.audio.normalize {
            Normalize::Off => 0.0,
            Normalize::Track => match self.lib.track_gain(track_id) {
                Ok(gain) => gain.unwrap_or(0.0),
                Err(e) => {
                    log::warn!("track {track_id}: no loudness gain, playing it as it is: {e}");
                    0.0
                }
            },
        }
    }

    /// Records the current play as interrupted (SIGTERM, end of the demo).
    pub fn shutdown(&mut self, now: Duration, deck: &dyn Deck) -> Result<(), LibraryError> {
        if let Some(p) = self.playing.take() {
            let played = deck
                .position()
                .filter(|(id, _)| *id == p.track_id)
                .map_or(Duration::ZERO, |(_, pos)| pos);
            self.lib
                .finish_play(p.play_id, Outcome::Interrupted, played)?;
            self.say(
                now,
                &format!(
                    "stopped: {} recorded as interrupted at {:.0} s",
                    p.label,
                    played.as_secs_f64()
                ),
            );
        }
        Ok(())
    }

    pub fn status(&self, now: Duration, deck: &dyn Deck) -> Status {
        let position = self
            .playing
            .as_ref()
            .and_then(|p| deck.position().filter(|(id, _)| *id == p.track_id))
            .map_or(0.0, |(_, pos)| pos.as_secs_f64());
        let state = match (&self.playing, self.paused) {
            (Some(_), true) => "paused",
            (Some(_), false) => "playing",
            (None, _) if self.picker.is_empty() => "waiting for music",
            (None, _) => "idle",
        };
        Status {
            state: state.to_string(),
            track: self.playing.as_ref().map(|p| p.label.clone()),
            track_id: self.playing.as_ref().map(|p| p.track_id),
            position_secs: position,
            duration_secs: None,
            emotion: Some(self.debouncer.current()),
            probabilities: self
                .debouncer
                .smoothed()
                .map(|p| Emotion::ALL.iter().map(|&e| (e, p.get(e))).collect())
                .unwrap_or_default(),
            strategy: self.cfg.recommend.strategy.name().to_string(),
            uptime_secs: now.saturating_sub(self.started_at).as_secs_f64(),
            library_tracks: self.picker.len(),
            message: self.message.clone(),
        }
    }
}
