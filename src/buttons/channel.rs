//! A simulated button source: raw edges come from a channel instead of pins.

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Instant;

use super::{worker, Action, ButtonError, ButtonHandle, ButtonSource};
use crate::config::GpioConfig;

/// Which physical button an edge belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Skip = 0,
    Like = 1,
}

/// A raw change of one button's level, stamped when its source saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub button: Button,
    pub pressed: bool,
    pub at: Instant,
}

impl Edge {
    pub fn now(button: Button, pressed: bool) -> Edge {
        Edge {
            button,
            pressed,
            at: Instant::now(),
        }
    }
}

/// Buttons driven by edges sent on the paired `Sender`, debounced and timed exactly like the
/// GPIO backend.
pub struct ChannelButtons {
    cfg: GpioConfig,
    edges: Receiver<Edge>,
}

impl ChannelButtons {
    pub fn new(cfg: &GpioConfig) -> (Self, Sender<Edge>) {
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

        send_short_press(&edges, Button::Skip);
        let wait = Duration::from_secs(5);
        assert_eq!(actions.recv_timeout(wait), Ok(Action::Skip));

        edges.send(Edge::now(Button::Like, true)).unwrap();
        assert_eq!(actions.recv_timeout(wait), Ok(Action::NotForMood));
        edges.send(Edge::now(Button::Like, false)).unwrap();

        drop(handle);
        assert!(
            actions.recv().is_err(),
            "no action after a long press's release"
        );
    }

    #[test]
    fn a_source_that_closes_right_after_a_release_still_gets_its_press_out() {
        let (source, edges) = ChannelButtons::new(&cfg());
        let (tx, actions) = mpsc::channel();
        let _handle = Box::new(source).start(tx).unwrap();
        send_short_press(&edges, Button::Like);
        drop(edges);
        assert_eq!(actions.recv(), Ok(Action::Like));
        assert!(actions.recv().is_err(), "the worker ends with its source");
    }

    /// A press and its release, stamped 30 ms apart: short however late the worker runs.
    fn send_short_press(edges: &Sender<Edge>, button: Button) {
        let t0 = Instant::now();
        for (pressed, at) in [(true, t0), (false, t0 + Duration::from_millis(30))] {
            let edge = Edge {
                button,
                pressed,
                at,
            };
            edges.send(edge).unwrap();
        }
    }
}
