//! The two physical buttons: skip (long press: pause/resume) and like (long press: "not
//! for this mood").
//!
//! A [`ButtonSource`] turns button presses into [`Action`]s on a channel. Backends:
//! [`GpioButtons`] (rppal, on a Raspberry Pi) and [`ChannelButtons`] (raw edges fed by
//! a test). Both run the same worker, which debounces each button with a
//! [`PressDetector`].

mod channel;
mod gpio;
mod press;
mod worker;

pub use channel::{Button, ChannelButtons, Edge};
pub use gpio::GpioButtons;
pub use press::{Press, PressDetector};

use std::any::Any;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

/// What the listener asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Short press on skip.
    Skip,
    /// Short press on like.
    Like,
    /// Long press on skip.
    #[serde(alias = "pause")]
    PauseToggle,
    /// Long press on like: this track does not fit the current mood.
    NotForMood,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Skip,
        Action::Like,
        Action::PauseToggle,
        Action::NotForMood,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Skip => "skip",
            Action::Like => "like",
            Action::PauseToggle => "pause",
            Action::NotForMood => "not-for-mood",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?} (expected skip, like, pause or not-for-mood)")]
pub struct ParseActionError(String);

impl FromStr for Action {
    type Err = ParseActionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skip" => Ok(Action::Skip),
            "like" => Ok(Action::Like),
            "pause" | "pause-toggle" => Ok(Action::PauseToggle),
            "not-for-mood" => Ok(Action::NotForMood),
            _ => Err(ParseActionError(s.to_string())),
        }
    }
}

/// Why the buttons could not be started; each message names the fix.
#[derive(Debug, thiserror::Error)]
pub enum ButtonError {
    #[error(
        "no GPIO on this machine (not a Raspberry Pi?): buttons disabled; use `moodbox press`"
    )]
    NoGpio,
    #[error(
        "cannot open {0}: permission denied (add the user to group gpio: sudo usermod -aG gpio moodbox)"
    )]
    PermissionDenied(String),
    #[error(
        "GPIO {0} is already in use by another program (stop it, or choose another pin in [gpio])"
    )]
    PinUsed(u8),
    #[error("GPIO {0} does not exist on this board (use BCM numbers in [gpio] skip_pin/like_pin)")]
    PinNotAvailable(u8),
    #[error("GPIO error: {0}")]
    Io(#[from] std::io::Error),
    #[error("GPIO error: {0}")]
    Other(String),
}

/// A backend for the buttons.
pub trait ButtonSource {
    /// Starts sending actions on `tx` until the returned handle is dropped.
    fn start(self: Box<Self>, tx: Sender<Action>) -> Result<ButtonHandle, ButtonError>;
}

/// Keeps a running button source alive (its pins and worker thread); dropping it stops
/// the source and joins the worker.
pub struct ButtonHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _keep: Box<dyn Any + Send>,
}

impl ButtonHandle {
    fn new(stop: Arc<AtomicBool>, thread: JoinHandle<()>, keep: Box<dyn Any + Send>) -> Self {
        ButtonHandle {
            stop,
            thread: Some(thread),
            _keep: keep,
        }
    }
}

impl fmt::Debug for ButtonHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ButtonHandle").finish_non_exhaustive()
    }
}

impl Drop for ButtonHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_parse_and_serialize() {
        for a in Action::ALL {
            assert_eq!(a.name().parse::<Action>(), Ok(a));
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), a);
        }
        assert_eq!(
            serde_json::to_string(&Action::NotForMood).unwrap(),
            "\"not-for-mood\""
        );
        assert_eq!(
            serde_json::from_str::<Action>("\"pause\"").unwrap(),
            Action::PauseToggle
        );
        let err = "dance".parse::<Action>().unwrap_err().to_string();
        assert!(
            err.contains("dance") && err.contains("not-for-mood"),
            "{err}"
        );
    }
}
