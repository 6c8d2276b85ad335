//! A camera that comes and goes: open lazily, reopen with exponential backoff, and never
//! make the caller wait longer than a second for an answer.

use crate::camera::{CameraError, FrameSource, GrayFrame};
use std::time::Duration;

/// Exponential backoff: `initial`, doubling up to `max`; `reset` after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            next: initial.min(max),
        }
    }

    /// The delay before the next attempt; each call doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.initial.min(self.max);
    }
}

impl Default for Backoff {
    /// 0.5 s doubling to 30 s.
    fn default() -> Backoff {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

/// Opens a source; called again after every failure.
pub type Factory = Box<dyn FnMut() -> Result<Box<dyn FrameSource>, CameraError> + Send>;

/// The longest one `next_frame` call sleeps while waiting to retry, so the caller's loop
/// keeps turning (and can stop) during a 30 s backoff.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Wraps a [`Factory`]: the source is opened on the first `next_frame`, and dropped on
/// `Unavailable` or `Timeout` (a `BadFrame` keeps it). While it is down, `next_frame`
/// sleeps at most [`MAX_WAIT`] and returns `Unavailable` until the backoff has passed,
/// then tries the factory again. Logs once when the camera is lost and once when it is
/// back, not on every retry.
pub struct Reconnecting {
    name: String,
    factory: Factory,
    source: Option<Box<dyn FrameSource>>,
    backoff: Backoff,
    /// Backoff left before the next open attempt.
    wait: Duration,
    /// Why the source is down; `None` while it works (or before the first open).
    down: Option<String>,
    sleep: Box<dyn FnMut(Duration) + Send>,
}

impl Reconnecting {
    /// `name` is what errors and `describe` call the camera while it is not open.
    pub fn new(name: impl Into<String>, factory: Factory) -> Reconnecting {
        Reconnecting {
            name: name.into(),
            factory,
            source: None,
            backoff: Backoff::default(),
            wait: Duration::ZERO,
            down: None,
            sleep: Box::new(std::thread::sleep),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Reconnecting {
        self.backoff = backoff;
        self
    }

    /// Replaces `std::thread::sleep` (tests record the waits instead of sleeping).
    pub fn with_sleep(mut self, sleep: impl FnMut(Duration) + Send + 'static) -> Reconnecting {
        self.sleep = Box::new(sleep);
        self
    }

    /// Whether a source is open now.
    pub fn is_open(&self) -> bool {
        self.source.is_some()
    }

    fn failed(&mut self, err: &CameraError) {
        self.source = None;
        self.wait = self.backoff.next_delay();
        if self.down.is_none() {
            log::warn!("camera unavailable: {err}; retrying with backoff");
        } else {
            log::debug!(
                "camera still unavailable: {err}; next try in {:?}",
                self.wait
            );
        }
        self.down = Some(err.to_string());
    }
}

impl FrameSource for Reconnecting {
    fn next_frame(&mut self) -> Result<GrayFrame, CameraError> {
        let mut source = match self.source.take() {
            Some(source) => source,
            None => {
                if !self.wait.is_zero() {
                    let step = self.wait.min(MAX_WAIT);
                    (self.sleep)(step);
                    self.wait -= step;
                    if !self.wait.is_zero() {
                        return Err(CameraError::Unavailable {
                            device: self.name.clone(),
                            message: format!(
                                "{}; retrying in {:.1} s",
                                self.down.as_deref().unwrap_or("not open"),
                                self.wait.as_secs_f32()
                            ),
                        });
                    }
                }
                match (self.factory)() {
                    Ok(source) => source,
                    Err(e) => {
                        self.failed(&e);
                        return Err(e);
                    }
                }
            }
        };
        let result = source.next_frame();
        match &result {
            Ok(_) => {
                if self.down.take().is_some() {
                    log::info!("camera back: {}", source.describe());
                }
                self.backoff.reset();
            }
            Err(CameraError::BadFrame { .. }) => {}
            Err(e) => {
                drop(source);
                self.failed(e);
                return result;
            }
        }
        self.source = Some(source);
        result
    }

    fn describe(&self) -> String {
        match (&self.source, &self.down) {
            (Some(s), _) => s.describe(),
            (None, Some(why)) => format!("{} (reconnecting: {why})", self.name),
            (None, None) => format!("{} (not opened yet)", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Yields `frames` frames (the pixel counts them), then `Unavailable`; frame 1 is bad.
    struct Fake {
        frames: u8,
        sent: u8,
    }

    impl FrameSource for Fake {
        fn next_frame(&mut self) -> Result<GrayFrame, CameraError> {
            self.sent += 1;
            match self.sent {
                2 => Err(CameraError::BadFrame {
                    device: "fake".into(),
                    message: "garbled".into(),
                }),
                n if n > self.frames => Err(CameraError::Unavailable {
                    device: "fake".into(),
                    message: "unplugged".into(),
                }),
                n => Ok(GrayFrame::new(1, 1, vec![n]).unwrap()),
            }
        }
        fn describe(&self) -> String {
            "fake".into()
        }
    }

    fn unavailable() -> CameraError {
        CameraError::Unavailable {
            device: "fake".into(),
            message: "no such device".into(),
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        let secs: Vec<f32> = (0..9).map(|_| b.next_delay().as_secs_f32()).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn survives_a_missing_camera_then_reopens_after_unplug() {
        let opens = Arc::new(Mutex::new(0));
        let slept = Arc::new(Mutex::new(Vec::new()));
        let (o, s) = (opens.clone(), slept.clone());
        let mut cam = Reconnecting::new(
            "fake",
            Box::new(move || {
                *o.lock().unwrap() += 1;
                match *o.lock().unwrap() {
                    1..=3 => Err(unavailable()),
                    _ => Ok(Box::new(Fake { frames: 3, sent: 0 }) as Box<dyn FrameSource>),
                }
            }),
        )
        .with_sleep(move |d| s.lock().unwrap().push(d));
        assert_eq!(cam.describe(), "fake (not opened yet)");

        let mut results = Vec::new();
        for _ in 0..12 {
            results.push(match cam.next_frame() {
                Ok(f) => format!("frame {}", f.data[0]),
                Err(CameraError::Unavailable { .. }) => "unavailable".into(),
                Err(CameraError::BadFrame { .. }) => "bad".into(),
                Err(CameraError::Timeout { .. }) => "timeout".into(),
            });
        }
        // Three failed opens (0.5, 1, 2 s of backoff; waits capped at 1 s a call), then
        // frames; the unplug after frame 3 backs off 0.5 s again (reset by the frames).
        #[rustfmt::skip]
        assert_eq!(results, [
            "unavailable", "unavailable", "unavailable", "unavailable",
            "frame 1", "bad", "frame 3", "unavailable", "frame 1", "bad", "frame 3", "unavailable",
        ]);
        let ms: Vec<u128> = slept
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(ms, [500, 1000, 1000, 1000, 500]);
        assert_eq!(*opens.lock().unwrap(), 5);
        assert!(!cam.is_open());
        assert!(cam.describe().contains("unplugged"), "{}", cam.describe());
    }
}
