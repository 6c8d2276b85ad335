//! A simulated button source: raw edges come from a channel instead of pins.

use std::sync::mpsc::{self, Receiver, Sender};

use super::{worker, Action, ButtonError, ButtonHandle, ButtonSource};
use crate::config::GpioConfig;

/// Which physical button an edge belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Skip = 0,
    Like = 1,
}

/// Buttons driven by `(Button, pressed)` edges sent on the paired `Sender`, debounced and
/// timed exactly like the GPIO backend.
pub struct ChannelButtons {
    cfg: GpioConfig,
    edges: Receiver<(Button, bool)>,
}

impl ChannelButtons {
    pub fn new(cfg: &GpioConfig) -> (Self, Sender<(Button, bool)>) {
        let (tx, edges) = mpsc::channel();
        let cfg = cfg.clone();
        (ChannelButtons { cfg, edges }, tx)
    }
}

impl ButtonSource for ChannelButtons {
    fn start(self: Box<Self>, tx: Sender<Action>) -> Result<ButtonHandle, ButtonError> {
        worker::start(&self.cfg, self.edges, tx, Box::new(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pull;
    use std::thread::sleep;
    use std::time::Duration;

    fn cfg() -> GpioConfig {
        GpioConfig {
            enabled: true,
            skip_pin: 17,
            like_pin: 27,
            pull: Pull::Up,
            debounce: Duration::from_millis(5),
            long_press: Duration::from_millis(150),
        }
    }

    #[test]
    fn short_skip_and_held_like_become_actions() {
        let (source, edges) = ChannelButtons::new(&cfg());
        let (tx, actions) = mpsc::channel();
        let handle = Box::new(source).start(tx).unwrap();

        edges.send((Button::Skip, true)).unwrap();
        sleep(Duration::from_millis(30));
        edges.send((Button::Skip, false)).unwrap();
        let wait = Duration::from_secs(5);
        assert_eq!(actions.recv_timeout(wait), Ok(Action::Skip));

        edges.send((Button::Like, true)).unwrap();
        assert_eq!(actions.recv_timeout(wait), Ok(Action::NotForMood));
        edges.send((Button::Like, false)).unwrap();

        drop(handle);
        assert!(
            actions.recv().is_err(),
            "no action after a long press's release"
        );
    }
}
