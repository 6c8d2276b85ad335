//! Turns noisy per-frame emotion probabilities into rare, deliberate mood changes.
//!
//! Probabilities are smoothed with an exponential moving average. A challenger is accepted
//! only when it has been the top emotion, ahead of the current one by `margin`, without a
//! break for `dwell`, and at least `min_interval` after the previous change. Frames without
//! a face neither advance nor break a dwell (detectors miss frames); after
//! `no_face_neutral_after` without any face the `neutral` policy falls back to neutral.
//! Pure state machine: time comes in as an argument, so tests and the demo run it on a
//! simulated clock.

use crate::config::{DebounceConfig, NoFacePolicy};
use crate::emotion::{Emotion, Probabilities};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    Face(Probabilities),
    NoFace,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub from: Emotion,
    pub to: Emotion,
    /// Smoothed probability of the new emotion when it was accepted (1.0 for the no-face fallback).
    pub confidence: f32,
    pub reason: ChangeReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeReason {
    Face,
    NoFaceFallback,
}

#[derive(Debug, Clone)]
pub struct Debouncer {
    cfg: DebounceConfig,
    current: Emotion,
    smoothed: Option<[f32; 7]>,
    /// The challenger and when its unbroken lead began.
    leader: Option<(Emotion, Duration)>,
    last_change: Option<Duration>,
    last_face: Duration,
}

impl Debouncer {
    /// Starts in `initial` (the box plays neutral music until it has seen someone).
    pub fn new(cfg: DebounceConfig, initial: Emotion, now: Duration) -> Debouncer {
        Debouncer {
            cfg,
            current: initial,
            smoothed: None,
            leader: None,
            last_change: None,
            last_face: now,
        }
    }

    pub fn set_config(&mut self, cfg: DebounceConfig) {
        self.cfg = cfg;
    }

    pub fn current(&self) -> Emotion {
        self.current
    }

    pub fn smoothed(&self) -> Option<Probabilities> {
        self.smoothed.map(Probabilities)
    }

    pub fn observe(&mut self, now: Duration, obs: Observation) -> Option<Change> {
        match obs {
            Observation::Face(p) => self.face(now, p),
            Observation::NoFace => self.no_face(now),
        }
    }

    fn face(&mut self, now: Duration, p: Probabilities) -> Option<Change> {
        self.last_face = now;
        let a = self.cfg.alpha;
        let s = match self.smoothed {
            None => p.0,
            Some(prev) => std::array::from_fn(|i| a * p.0[i] + (1.0 - a) * prev[i]),
        };
        self.smoothed = Some(s);
        let (top, p_top) = Probabilities(s).top();
        if top == self.current || p_top - s[self.current.index()] < self.cfg.margin {
            self.leader = None;
            return None;
        }
        let since = match self.leader {
            Some((e, since)) if e == top => since,
            _ => {
                self.leader = Some((top, now));
                now
            }
        };
        let dwelt = now.saturating_sub(since) >= self.cfg.dwell;
        let rested = self
            .last_change
            .is_none_or(|t| now.saturating_sub(t) >= self.cfg.min_interval);
        if dwelt && rested {
            return Some(self.accept(now, top, p_top, ChangeReason::Face));
        }
        None
    }

    fn no_face(&mut self, now: Duration) -> Option<Change> {
        let away = now.saturating_sub(self.last_face);
        if self.cfg.no_face == NoFacePolicy::Neutral
            && self.current != Emotion::Neutral
            && away >= self.cfg.no_face_neutral_after
        {
            // Forget the old face, so the next one starts its own average.
            self.smoothed = None;
            return Some(self.accept(now, Emotion::Neutral, 1.0, ChangeReason::NoFaceFallback));
        }
        None
    }

    fn accept(
        &mut self,
        now: Duration,
        to: Emotion,
        confidence: f32,
        reason: ChangeReason,
    ) -> Change {
        let from = self.current;
        self.current = to;
        self.leader = None;
        self.last_change = Some(now);
        Change {
            from,
            to,
            confidence,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DebounceConfig {
        DebounceConfig {
            alpha: 0.3,
            margin: 0.15,
            dwell: Duration::from_secs(3),
            min_interval: Duration::from_secs(20),
            no_face: NoFacePolicy::Hold,
            no_face_neutral_after: Duration::from_secs(30),
        }
    }

    /// Feeds `f(frame)` at 10 frames/s from `start` for `secs`; returns the changes with times.
    fn run(
        d: &mut Debouncer,
        start: f64,
        secs: f64,
        f: impl Fn(usize) -> Observation,
    ) -> Vec<(f64, Change)> {
        let frames = (secs * 10.0) as usize;
        (0..frames)
            .filter_map(|i| {
                let t = start + i as f64 / 10.0;
                d.observe(Duration::from_secs_f64(t), f(i)).map(|c| (t, c))
            })
            .collect()
    }

    fn face(e: Emotion) -> Observation {
        Observation::Face(Probabilities::certain(e))
    }

    #[test]
    fn flicker_between_happy_and_sad_for_a_minute_never_changes_the_mood() {
        let mut d = Debouncer::new(cfg(), Emotion::Neutral, Duration::ZERO);
        let changes = run(&mut d, 0.0, 60.0, |i| {
            face(if i % 2 == 0 {
                Emotion::Happy
            } else {
                Emotion::Sad
            })
        });
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(d.current(), Emotion::Neutral);
    }

    #[test]
    fn a_sustained_change_is_accepted_after_the_dwell_and_not_before() {
        let mut d = Debouncer::new(cfg(), Emotion::Neutral, Duration::ZERO);
        let changes = run(&mut d, 0.0, 10.0, |_| face(Emotion::Happy));
        assert_eq!(changes.len(), 1);
        let (t, c) = changes[0];
        assert_eq!(
            (c.from, c.to, c.reason),
            (Emotion::Neutral, Emotion::Happy, ChangeReason::Face)
        );
        // The lead (0.3 after one frame at alpha 0.3) exceeds the margin from the first frame,
        // so the change comes exactly one dwell later.
        assert!((t - 3.0).abs() < 1e-9, "accepted at {t}");
    }

    #[test]
    fn changes_are_at_least_min_interval_apart() {
        let mut d = Debouncer::new(cfg(), Emotion::Neutral, Duration::ZERO);
        let first = run(&mut d, 0.0, 5.0, |_| face(Emotion::Happy));
        assert_eq!(first.len(), 1);
        let second = run(&mut d, 5.0, 30.0, |_| face(Emotion::Sad));
        assert_eq!(second.len(), 1);
        assert!(second[0].0 - first[0].0 >= 20.0 - 1e-9, "{second:?}");
        assert_eq!(d.current(), Emotion::Sad);
    }

    #[test]
    fn a_brief_expression_does_not_win() {
        let mut d = Debouncer::new(cfg(), Emotion::Neutral, Duration::ZERO);
        let mut changes = run(&mut d, 0.0, 2.0, |_| face(Emotion::Surprise));
        changes.extend(run(&mut d, 2.0, 20.0, |_| face(Emotion::Neutral)));
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn no_face_hold_keeps_the_mood_and_neutral_falls_back_after_the_timeout() {
        let mut d = Debouncer::new(cfg(), Emotion::Neutral, Duration::ZERO);
        run(&mut d, 0.0, 5.0, |_| face(Emotion::Sad));
        assert_eq!(d.current(), Emotion::Sad);
        assert!(run(&mut d, 5.0, 120.0, |_| Observation::NoFace).is_empty());
        assert_eq!(d.current(), Emotion::Sad);

        let mut d = Debouncer::new(
            DebounceConfig {
                no_face: NoFacePolicy::Neutral,
                ..cfg()
            },
            Emotion::Neutral,
            Duration::ZERO,
        );
        run(&mut d, 0.0, 5.0, |_| face(Emotion::Sad));
        let changes = run(&mut d, 5.0, 60.0, |_| Observation::NoFace);
        assert_eq!(changes.len(), 1);
        let (t, c) = changes[0];
        assert_eq!(
            (c.to, c.reason),
            (Emotion::Neutral, ChangeReason::NoFaceFallback)
        );
        // Last face at 4.9 s, timeout 30 s.
        assert!((t - 34.9).abs() < 0.11, "fell back at {t}");
    }

    #[test]
    fn missed_frames_do_not_break_a_dwell() {
        let mut d = Debouncer::new(cfg(), Emotion::Neutral, Duration::ZERO);
        let changes = run(&mut d, 0.0, 10.0, |i| {
            if i % 3 == 0 {
                Observation::NoFace
            } else {
                face(Emotion::Happy)
            }
        });
        assert_eq!(changes.len(), 1);
        assert!(changes[0].0 <= 3.2);
    }
}
