//! An output that discards samples: for boxes without a sound card, and for tests.

use std::thread;
use std::time::{Duration, Instant};

use super::output::AudioOutput;
use super::PlayerError;

/// If the writer falls this far behind (a stalled thread), start counting afresh
/// rather than racing to catch up.
const MAX_LAG: Duration = Duration::from_secs(1);

/// Discards every block. When `paced`, `write` sleeps to keep real time, so a daemon on
/// a box with no sound card still plays songs at their real length.
pub struct NullOutput {
    format: (u32, u16),
    paced: bool,
    /// When the audio written so far would have finished playing.
    due: Option<Instant>,
}

impl NullOutput {
    pub fn new(format: (u32, u16), paced: bool) -> NullOutput {
        NullOutput {
            format: (format.0.max(1), format.1.max(1)),
            paced,
            due: None,
        }
    }
}

impl AudioOutput for NullOutput {
    fn format(&self) -> (u32, u16) {
        self.format
    }

    fn write(&mut self, block: &[f32]) -> Result<(), PlayerError> {
        if !self.paced {
            return Ok(());
        }
        let frames = block.len() as f64 / f64::from(self.format.1);
        let length = Duration::from_secs_f64(frames / f64::from(self.format.0));
        let now = Instant::now();
        let due = match self.due {
            Some(due) if now.saturating_duration_since(due) < MAX_LAG => due + length,
            _ => now + length,
        };
        self.due = Some(due);
        // Sleep until this block "has played", like a device with a block of buffer.
        let wait = due.saturating_duration_since(now);
        if !wait.is_zero() {
            thread::sleep(wait);
        }
        Ok(())
    }

    fn name(&self) -> String {
        "null".to_string()
    }

    fn paced(&self) -> bool {
        self.paced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaced_null_accepts_anything() {
        let mut out = NullOutput::new((44_100, 2), false);
        for _ in 0..1000 {
            out.write(&[0.5; 1764]).unwrap();
        }
        assert_eq!(out.format(), (44_100, 2));
        assert!(!out.paced());
    }
}
