//! The thread shared by every button backend: raw edges in, actions out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Action, Button, ButtonError, ButtonHandle, Edge, Press, PressDetector};
use crate::config::GpioConfig;

/// How often an idle worker checks whether it should stop.
const IDLE_TICK: Duration = Duration::from_millis(100);

/// Starts the worker; the handle keeps `keep` (pins) alive and stops the worker on drop.
pub(super) fn start(
    cfg: &GpioConfig,
    edges: Receiver<Edge>,
    tx: Sender<Action>,
    keep: Box<dyn std::any::Any + Send>,
) -> Result<ButtonHandle, ButtonError> {
    let stop = Arc::new(AtomicBool::new(false));
    let detector = PressDetector::new(cfg.debounce, cfg.long_press);
    let flag = stop.clone();
    // Taken here, not in the thread: edges sent before the thread first runs must not date
    // from before its clock started.
    let start = Instant::now();
    let thread = thread::Builder::new()
        .name("buttons".into())
        .spawn(move || run(start, detector, edges, tx, &flag))
        .map_err(ButtonError::Io)?;
    Ok(ButtonHandle::new(stop, thread, keep))
}

/// Edges carry the time their source saw them, so a worker that runs late still measures
/// presses right; it takes every queued edge before it decides that a press has been held.
fn run(
    start: Instant,
    detector: PressDetector,
    edges: Receiver<Edge>,
    tx: Sender<Action>,
    stop: &AtomicBool,
) {
    let mut buttons = [(Button::Skip, detector.clone()), (Button::Like, detector)];
    while !stop.load(Ordering::Relaxed) {
        let now = start.elapsed();
        let timeout = buttons
            .iter()
            .filter_map(|(_, d)| d.deadline())
            .map(|at| at.saturating_sub(now))
            .fold(IDLE_TICK, Duration::min);
        let mut presses = Vec::with_capacity(2);
        let first = match edges.recv_timeout(timeout) {
            Ok(edge) => Some(edge),
            Err(RecvTimeoutError::Timeout) => None,
            // Only once every queued edge is handled and its press sent.
            Err(RecvTimeoutError::Disconnected) => return,
        };
        for edge in first.into_iter().chain(edges.try_iter()) {
            let d = &mut buttons[edge.button as usize].1;
            let at = edge.at.saturating_duration_since(start);
            presses.extend(d.edge(at, edge.pressed).map(|p| (edge.button, p)));
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
