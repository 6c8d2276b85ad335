//! Short acknowledgement tones that the mixer lays over the music.
//!
//! They answer a button press or a mood decision without a screen, so they must be
//! recognisable but quiet: about -18 dBFS, under a quarter second, with raised-cosine
//! edges so they never click.

use std::f32::consts::PI;

/// Which acknowledgement to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// Two short beeps, rising: "noted, more like this".
    Like,
    /// One beep falling in pitch: "moving on".
    Skip,
    /// One short low beep: "paused" or "resumed".
    Pause,
    /// Two short beeps, falling: "this song does not fit the mood".
    NotForMood,
}

/// Peak amplitude of every tone: -18 dBFS, audible over music without startling anyone.
pub(crate) const TONE_PEAK: f32 = 0.125_892_54;

/// Attack and release of each beep: long enough to remove the click, short enough to sound
/// like a beep rather than a swell.
const EDGE_S: f32 = 0.008;

/// One beep: starts at `start` seconds, lasts `len` seconds, glides from `from` to `to` Hz.
struct Beep {
    start: f32,
    len: f32,
    from: f32,
    to: f32,
}

const LIKE: &[Beep] = &[
    Beep {
        start: 0.0,
        len: 0.085,
        from: 660.0,
        to: 660.0,
    },
    Beep {
        start: 0.115,
        len: 0.095,
        from: 880.0,
        to: 880.0,
    },
];
const SKIP: &[Beep] = &[Beep {
    start: 0.0,
    len: 0.18,
    from: 880.0,
    to: 523.25,
}];
const PAUSE: &[Beep] = &[Beep {
    start: 0.0,
    len: 0.15,
    from: 523.25,
    to: 523.25,
}];
const NOT_FOR_MOOD: &[Beep] = &[
    Beep {
        start: 0.0,
        len: 0.085,
        from: 587.33,
        to: 587.33,
    },
    Beep {
        start: 0.115,
        len: 0.105,
        from: 440.0,
        to: 440.0,
    },
];

impl Tone {
    fn beeps(self) -> &'static [Beep] {
        match self {
            Tone::Like => LIKE,
            Tone::Skip => SKIP,
            Tone::Pause => PAUSE,
            Tone::NotForMood => NOT_FOR_MOOD,
        }
    }

    /// Length of the whole tone.
    pub fn duration(self) -> std::time::Duration {
        let end = self
            .beeps()
            .iter()
            .map(|b| b.start + b.len)
            .fold(0.0, f32::max);
        std::time::Duration::from_secs_f32(end)
    }

    /// Renders the tone as mono samples at `rate` Hz; the mixer copies it to every channel.
    pub(crate) fn render(self, rate: u32) -> Vec<f32> {
        let rate_f = rate.max(1) as f32;
        let total = (self.duration().as_secs_f32() * rate_f).ceil() as usize;
        let mut out = vec![0.0; total];
        for beep in self.beeps() {
            let first = (beep.start * rate_f).round() as usize;
            let len = (beep.len * rate_f).round() as usize;
            let edge = ((EDGE_S * rate_f).round() as usize).clamp(1, len / 2);
            // Integrate the frequency so a glide has no phase jumps.
            let mut phase = 0.0f32;
            for i in 0..len {
                let t = i as f32 / len as f32;
                let freq = beep.from + (beep.to - beep.from) * t;
                let env = if i < edge {
                    raised_cosine(i as f32 / edge as f32)
                } else if len - 1 - i < edge {
                    raised_cosine((len - 1 - i) as f32 / edge as f32)
                } else {
                    1.0
                };
                if let Some(slot) = out.get_mut(first + i) {
                    *slot += TONE_PEAK * env * phase.sin();
                }
                phase = (phase + 2.0 * PI * freq / rate_f) % (2.0 * PI);
            }
        }
        out
    }
}

/// 0 at x = 0, 1 at x = 1, with zero slope at both ends.
fn raised_cosine(x: f32) -> f32 {
    0.5 - 0.5 * (PI * x.clamp(0.0, 1.0)).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tone_is_short_soft_and_starts_and_ends_at_zero() {
        for tone in [Tone::Like, Tone::Skip, Tone::Pause, Tone::NotForMood] {
            let d = tone.duration();
            assert!(
                d.as_millis() >= 140 && d.as_millis() <= 250,
                "{tone:?} lasts {d:?}"
            );
            let s = tone.render(44_100);
            let peak = s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(
                peak > 0.8 * TONE_PEAK && peak <= TONE_PEAK + 1e-6,
                "{tone:?} peak {peak}"
            );
            assert!(
                s[0].abs() < 1e-3 && s[s.len() - 1].abs() < 1e-3,
                "{tone:?} edges"
            );
        }
    }
}
