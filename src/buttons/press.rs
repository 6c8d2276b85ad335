//! Turning raw, bouncy edges of one button into short and long presses.
//!
//! [`PressDetector`] is a pure state machine: the caller passes the time of every edge
//! and polls it for long presses, so it is tested without a clock or a pin.

use std::time::Duration;

/// What one button did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// Released before `long_press`; fires on release.
    Short,
    /// Held for `long_press`; fires while still held, and the release is then silent.
    Long,
}

/// Debounce and press-length detection for one button.
///
/// A change of level is accepted at once unless it comes within `debounce` of the last
/// accepted change; such edges only update the raw level, and once `debounce` has passed
/// the detector settles on the raw level. So bounce bursts on press and release give one
/// press, and a glitch shorter than `debounce` gives none.
#[derive(Debug, Clone)]
pub struct PressDetector {
    debounce: Duration,
    long_press: Duration,
    /// Debounced level.
    pressed: bool,
    /// Last level seen, and since when.
    raw: bool,
    raw_since: Duration,
    /// Time of the last accepted change of `pressed`, if any.
    accepted_at: Option<Duration>,
    /// When the current press started.
    down_at: Duration,
    long_fired: bool,
}

impl PressDetector {
    pub fn new(debounce: Duration, long_press: Duration) -> Self {
        PressDetector {
            debounce,
            long_press,
            pressed: false,
            raw: false,
            raw_since: Duration::ZERO,
            accepted_at: None,
            down_at: Duration::ZERO,
            long_fired: false,
        }
    }

    /// The button's level changed (`pressed` is the new level) at `now`.
    pub fn edge(&mut self, now: Duration, pressed: bool) -> Option<Press> {
        let settled = self.settle(now);
        if pressed != self.raw {
            self.raw = pressed;
            self.raw_since = now;
        }
        if pressed == self.pressed || now < self.quiet_until() {
            return settled;
        }
        self.accept(now, pressed).or(settled)
    }

    /// Time passed without an edge: settles bounces and fires a long press when due.
    pub fn poll(&mut self, now: Duration) -> Option<Press> {
        let settled = self.settle(now);
        if self.pressed && self.raw && !self.long_fired && now >= self.down_at + self.long_press {
            self.long_fired = true;
            return Some(Press::Long);
        }
        settled
    }

    /// When `poll` next has something to do, if anything.
    pub fn deadline(&self) -> Option<Duration> {
        if self.pressed != self.raw {
            Some(self.quiet_until())
        } else if self.pressed && !self.long_fired {
            Some(self.down_at + self.long_press)
        } else {
            None
        }
    }

    /// Until when edges are taken as bounce of the last accepted change.
    fn quiet_until(&self) -> Duration {
        self.accepted_at
            .map_or(Duration::ZERO, |t| t + self.debounce)
    }

    /// Adopts the raw level once `debounce` has passed since the last accepted change.
    fn settle(&mut self, now: Duration) -> Option<Press> {
        if self.pressed == self.raw || now < self.quiet_until() {
            return None;
        }
        if self.raw {
            // Released and pressed again within the debounce: a new press.
            self.accept(self.raw_since, true)
        } else {
            // Pressed and released within the debounce: noise, not a press.
            self.pressed = false;
            self.accepted_at = Some(self.raw_since);
            None
        }
    }

    fn accept(&mut self, at: Duration, pressed: bool) -> Option<Press> {
        self.pressed = pressed;
        self.accepted_at = Some(at);
        if pressed {
            self.down_at = at;
            self.long_fired = false;
            return None;
        }
        match (self.long_fired, at >= self.down_at + self.long_press) {
            (true, _) => None,
            (false, true) => Some(Press::Long),
            (false, false) => Some(Press::Short),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn detector() -> PressDetector {
        PressDetector::new(ms(30), ms(800))
    }

    /// Feeds `(ms, pressed)` edges, polling every millisecond up to `end`, and collects presses.
    fn run(d: &mut PressDetector, edges: &[(u64, bool)], end: u64) -> Vec<(u64, Press)> {
        let mut out = Vec::new();
        let mut edges = edges.iter().peekable();
        for t in 0..=end {
            while let Some(&&(at, pressed)) = edges.peek() {
                if at != t {
                    break;
                }
                out.extend(d.edge(ms(t), pressed).map(|p| (t, p)));
                edges.next();
            }
            out.extend(d.poll(ms(t)).map(|p| (t, p)));
        }
        out
    }

    #[test]
    fn clean_short_press_fires_on_release() {
        let mut d = detector();
        assert_eq!(d.edge(ms(1000), true), None);
        assert_eq!(d.poll(ms(1100)), None);
        assert_eq!(d.edge(ms(1200), false), Some(Press::Short));
        assert_eq!(d.poll(ms(5000)), None);
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn long_press_fires_once_at_threshold_while_held() {
        let mut d = detector();
        let presses = run(&mut d, &[(100, true), (2000, false)], 3000);
        assert_eq!(presses, vec![(900, Press::Long)]);
    }

    #[test]
    fn long_press_without_polls_fires_on_release() {
        let mut d = detector();
        d.edge(ms(0), true);
        assert_eq!(d.edge(ms(900), false), Some(Press::Long));
    }

    #[test]
    fn bounce_bursts_give_one_short_press() {
        let mut d = detector();
        let edges = [
            (100, true),
            (101, false),
            (103, true),
            (104, false),
            (106, true),
            (300, false),
            (301, true),
            (302, false),
            (305, true),
            (307, false),
        ];
        assert_eq!(run(&mut d, &edges, 2000), vec![(300, Press::Short)]);
    }

    #[test]
    fn bounce_bursts_on_a_long_press_give_one_long_press() {
        let mut d = detector();
        let edges = [
            (0, true),
            (2, false),
            (4, true),
            (1500, false),
            (1502, true),
            (1504, false),
        ];
        assert_eq!(run(&mut d, &edges, 3000), vec![(800, Press::Long)]);
    }

    #[test]
    fn glitch_shorter_than_debounce_is_noise() {
        let mut d = detector();
        assert_eq!(run(&mut d, &[(100, true), (110, false)], 3000), vec![]);
        // The detector is not stuck: a real press afterwards still counts.
        let mut d2 = d.clone();
        assert_eq!(d2.edge(ms(4000), true), None);
        assert_eq!(d2.edge(ms(4100), false), Some(Press::Short));
    }

    #[test]
    fn glitch_is_noise_even_when_debounce_exceeds_long_press() {
        let mut d = PressDetector::new(ms(500), ms(100));
        assert_eq!(run(&mut d, &[(0, true), (50, false)], 2000), vec![]);
    }

    #[test]
    fn quick_repress_inside_release_bounce_is_a_new_press() {
        let mut d = detector();
        // Short press, then pressed again 10 ms after release and held.
        let presses = run(&mut d, &[(0, true), (100, false), (110, true)], 1000);
        assert_eq!(presses, vec![(100, Press::Short), (910, Press::Long)]);
    }
}
