//! Runs the engine on a simulated clock: the mixer renders audio block by block into an
//! output (a WAV file, or a real device that paces it), the scripted camera reports at its
//! frame rate, and scripted button presses land at their times. Used by `moodbox demo` and
//! the end-to-end tests; the engine is the same one the daemon runs.

use crate::buttons::Action;
use crate::daemon::engine::{Engine, Input};
use crate::daemon::script::EmotionScript;
use crate::music::library::LibraryError;
use crate::player::{AudioOutput, Mixer, PlayerError, PlayerEvent};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Output(#[from] PlayerError),
}

pub struct Simulation<'a> {
    pub script: &'a EmotionScript,
    /// (time, press), sorted by time.
    pub presses: &'a [(Duration, Action)],
    pub length: Duration,
    pub camera_fps: u32,
}

const BLOCK: Duration = Duration::from_millis(20);

impl Simulation<'_> {
    pub fn run(
        &self,
        engine: &mut Engine,
        mixer: &mut Mixer,
        out: &mut dyn AudioOutput,
    ) -> Result<(), SimError> {
        let (rate, channels) = mixer.format();
        let frames = (rate as u128 * BLOCK.as_millis() / 1000) as usize;
        let mut block = vec![0.0f32; frames * channels as usize];
        let frame_every = Duration::from_secs_f64(1.0 / self.camera_fps.max(1) as f64);
        let mut next_frame = Duration::ZERO;
        let mut presses = self.presses.iter().peekable();
        let mut now = Duration::ZERO;
        engine.start(now, mixer)?;
        while now < self.length {
            while now >= next_frame {
                engine.handle(now, Input::Observation(self.script.at(now)), mixer)?;
                next_frame += frame_every;
            }
            while let Some((_, action)) = presses.next_if(|(t, _)| *t <= now) {
                engine.handle(now, Input::Action(*action), mixer)?;
            }
            for event in mixer.fill(&mut block) {
                engine.handle(now, Input::Player(PlayerEvent::from(event)), mixer)?;
            }
            out.write(&block)?;
            now += BLOCK;
        }
        engine.shutdown(now, mixer)?;
        Ok(())
    }
}
