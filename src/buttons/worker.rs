//! The thread shared by every button backend: raw edges in, actions out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Action, Button, ButtonError, ButtonHandle, Press, PressDetector};
use crate::config::GpioConfig;

/// How often an idle worker checks whether it should stop.
const IDLE_TICK: Duration = Duration::from_millis(100);

/// Starts the worker; the handle keeps `keep` (pins) alive and stops the worker on drop.
pub(super) fn start(
    cfg: &GpioConfig,
    edges: Receiver<(Button, bool)>,
    tx: Sender<Action>,
    keep: Box<dyn std::any::Any + Send>,
) -> Result<ButtonHandle, ButtonError> {
    let stop = Arc::new(AtomicBool::new(false));
    let detector = PressDetector::new(cfg.debounce, cfg.long_press);
    let flag = stop.clone();
    let thread = thread::Builder::new()
        .name("buttons".into())
        .spawn(move || run(detector, edges, tx, &flag))
        .map_err(ButtonError::Io)?;
    Ok(ButtonHandle::new(stop, thread, keep))
}

/// Edges are timestamped on arrival: the sender forwards them at once, and the worker only
/// ever blocks in `recv_timeout`, so the delay is far below any sensible debounce.
fn run(
    detector: PressDetector,
    edges: Receiver<(Button, bool)>,
    tx: Sender<Action>,
    stop: &AtomicBool,
) {
    let start = Instant::now();
    let mut buttons = [(Button::Skip, detector.clone()), (Button::Like, detector)];
    while !stop.load(Ordering::Relaxed) {
        let now = start.elapsed();
        let timeout = buttons
            .iter()
            .filter_map(|(_, d)| d.deadline())
            .map(|at| at.saturating_sub(now))
            .fold(IDLE_TICK, Duration::min);
        let mut presses = Vec::with_capacity(2);
        match edges.recv_timeout(timeout) {
            Ok((button, pressed)) => {
                let d = &mut buttons[button as usize].1;
                presses.extend(d.edge(start.elapsed(), pressed).map(|p| (button, p)));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = start.elapsed();
        for (button, d) in &mut buttons {
            presses.extend(d.poll(now).map(|p| (*button, p)));
        }
        for (button, press) in presses {
            let action = action(button, press);
            log::debug!("button {button:?}: {press:?} press -> {action}");
            if tx.send(action).is_err() {
                return;
            }
        }
    }
}

fn action(button: Button, press: Press) -> Action {
    match (button, press) {
        (Button::Skip, Press::Short) => Action::Skip,
        (Button::Skip, Press::Long) => Action::PauseToggle,
        (Button::Like, Press::Short) => Action::Like,
        (Button::Like, Press::Long) => Action::NotForMood,
    }
}
