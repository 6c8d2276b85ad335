//! `moodbox run`: the long-running box. Threads around one event loop:
//!
//! ```text
//! emotion source ─┐
//! buttons ────────┤
//! control socket ─┼──▶ Event channel ──▶ main loop (Engine: SQLite, debouncer, picker) ──▶ Player
//! player events ──┤
//! re-scanner ─────┤
//! signals ────────┘
//! ```
//! The main thread owns the engine; every other thread only sends. SIGTERM/SIGINT end the
//! loop cleanly (the current play is recorded as interrupted), SIGHUP reloads the config.

pub mod debounce;
pub mod engine;
pub mod notify;
pub mod script;
pub mod sim;

use crate::buttons::{Action, ButtonSource, GpioButtons};
use crate::config::{Config, ConfigError};
use crate::control::{ControlServer, Request, Response};
use crate::daemon::debounce::Observation;
use crate::daemon::engine::{Engine, Input};
use crate::daemon::script::EmotionScript;
use crate::music::library::{Library, LibraryError};
use crate::music::{analysis, scan};
use crate::player::{Player, PlayerEvent};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    #[error("{0}")]
    Setup(String),
}

/// Everything the loop reacts to.
pub enum Event {
    Input(Input),
    Control(Request, Sender<Response>),
    Signal(i32),
}

/// Where emotion observations come from: the camera pipeline or a script.
pub trait EmotionSource: Send {
    /// Runs until `stop` is set, sending one observation per frame.
    fn run(self: Box<Self>, tx: Sender<Observation>, stop: Arc<AtomicBool>);
}

/// Replays an `EmotionScript` in real time at `fps`, then keeps reporting its last line.
pub struct ScriptedSource {
    pub script: EmotionScript,
    pub fps: u32,
}

impl EmotionSource for ScriptedSource {
    fn run(self: Box<Self>, tx: Sender<Observation>, stop: Arc<AtomicBool>) {
        let start = Instant::now();
        let period = Duration::from_secs_f64(1.0 / self.fps.max(1) as f64);
        while !stop.load(Ordering::Relaxed) {
            if tx.send(self.script.at(start.elapsed())).is_err() {
                return;
            }
            thread::sleep(period);
        }
    }
}

pub struct RunOptions {
    pub config: Config,
    pub emotions: Option<Box<dyn EmotionSource>>,
    /// Overrides `audio.device` (e.g. "null" on a box without a sound card).
    pub output: Option<String>,
}

fn forward<T: Send + 'static>(
    name: &str,
    rx: Receiver<T>,
    tx: Sender<Event>,
    wrap: fn(T) -> Event,
) {
    let spawned = thread::Builder::new().name(name.into()).spawn(move || {
        for item in rx {
            if tx.send(wrap(item)).is_err() {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        log::error!("cannot start thread {name}: {e}");
    }
}

/// How often a long idle analysis lets the picker see the features found so far.
const ANALYSIS_RELOAD_EVERY: Duration = Duration::from_secs(120);

/// Re-scans the music folders at start and then every `rescan_interval`, on its own
/// database connection (WAL lets it write while the loop reads), and after each scan
/// analyses the tracks that need it. The thread runs at the lowest priority, so neither
/// disturbs the camera, the model or the music; it stops between two tracks on `stop`.
fn spawn_rescanner(cfg: &Config, tx: Sender<Event>, stop: Arc<AtomicBool>) {
    let (db, dirs, every) = (
        cfg.paths.database.clone(),
        cfg.paths.music_dirs.clone(),
        cfg.paths.rescan_interval,
    );
    let _ = thread::Builder::new().name("rescan".into()).spawn(move || {
        lower_thread_priority();
        let changed = || tx.send(Event::Input(Input::LibraryChanged)).is_ok();
        loop {
            match Library::open(&db) {
                Ok(mut lib) => {
                    match scan::scan(&mut lib, &dirs, &mut scan::Quiet) {
                        Ok(r) if r.added + r.updated + r.moved + r.gone > 0 => {
                            if !changed() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => log::warn!("re-scan failed: {e}"),
                    }
                    let mut reloaded = Instant::now();
                    let mut progress = |_: usize, _: usize, _: &std::path::Path| {
                        if reloaded.elapsed() >= ANALYSIS_RELOAD_EVERY {
                            reloaded = Instant::now();
                            changed();
                        }
                    };
                    match analysis::run_pending(&lib, &mut progress, &stop) {
                        Ok(r) if r.features_changed > 0 => {
                            if !changed() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => log::warn!("analysis failed: {e}"),
                    }
                }
                Err(e) => log::warn!("re-scan failed: {e}"),
            }
            if every.is_zero() {
                return;
            }
            let deadline = Instant::now() + every;
            while Instant::now() < deadline {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                thread::sleep(Duration::from_millis(250));
            }
        }
    });
}

/// Lowers the calling thread (not the whole process) to nice 19: on Linux a thread id
/// names one thread for `setpriority`.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the current thread's own id; no memory is shared.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
        if rc != 0 {
            log::info!(
                "cannot lower the priority of the re-scan thread: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

pub fn run(opts: RunOptions) -> Result<(), DaemonError> {
    let mut cfg = opts.config;
    std::fs::create_dir_all(&cfg.paths.state_dir).map_err(|e| {
        DaemonError::Setup(format!(
            "{}: cannot create the state folder: {e}",
            cfg.paths.state_dir.display()
        ))
    })?;
    let t0 = Instant::now();
    let now = || t0.elapsed();
    let lib = Library::open(&cfg.paths.database)?;
    let seed = crate::music::library::unix_now() as u64;
    let say = Box::new(|_: Duration, text: &str| log::info!("{text}"));
    let mut engine = Engine::new(cfg.clone(), lib, now(), seed, say)?;
    let (tx, rx) = mpsc::channel::<Event>();
    let stop = Arc::new(AtomicBool::new(false));

    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(|e| DaemonError::Setup(format!("cannot install signal handlers: {e}")))?;
    let signal_handle = signals.handle();
    {
        let tx = tx.clone();
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if tx.send(Event::Signal(sig)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| DaemonError::Setup(format!("cannot start the signal thread: {e}")))?;
    }

    let output = opts
        .output
        .clone()
        .unwrap_or_else(|| cfg.audio.device.clone());
    let (mut player, player_rx) = Player::spawn(output, cfg.audio.volume, cfg.audio.fade);
    forward("player-events", player_rx, tx.clone(), |e: PlayerEvent| {
        Event::Input(Input::Player(e))
    });

    let (obs_tx, obs_rx) = mpsc::channel();
    forward("emotions", obs_rx, tx.clone(), |o| {
        Event::Input(Input::Observation(o))
    });
    if let Some(source) = opts.emotions {
        let stop = stop.clone();
        let _ = thread::Builder::new()
            .name("emotion-source".into())
            .spawn(move || source.run(obs_tx, stop));
    } else {
        log::warn!("no emotion source: the mood stays neutral (use --emotions FILE, or configure the camera)");
    }

    let (button_tx, button_rx) = mpsc::channel();
    forward("buttons", button_rx, tx.clone(), |a: Action| {
        Event::Input(Input::Action(a))
    });
    let _buttons = if cfg.gpio.enabled {
        match GpioButtons::new(&cfg.gpio).and_then(|b| Box::new(b).start(button_tx)) {
            Ok(handle) => Some(handle),
            Err(e) => {
                log::warn!("buttons unavailable: {e}");
                None
            }
        }
    } else {
        None
    };

    let socket = socket_path(&cfg);
    let (control_tx, control_rx) = mpsc::channel();
    forward("control", control_rx, tx.clone(), |(req, reply)| {
        Event::Control(req, reply)
    });
    let _control = ControlServer::bind(&socket, control_tx)?;
    spawn_rescanner(&cfg, tx.clone(), stop.clone());

    engine.start(now(), &mut player)?;
    notify::notify("READY=1");
    log::info!("moodbox running (control socket {})", socket.display());
    let watchdog = notify::watchdog_interval().map(|d| d / 2);
    let mut last_ping = Instant::now();
    loop {
        let tick = watchdog
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        match rx.recv_timeout(tick) {
            Ok(Event::Input(input)) => {
                if let Err(e) = engine.handle(now(), input, &mut player) {
                    log::error!("{e}");
                }
            }
            Ok(Event::Control(req, reply)) => {
                let resp = match req {
                    Request::Press { action } => {
                        match engine.handle(now(), Input::Action(action), &mut player) {
                            Ok(()) => Response::Ok,
                            Err(e) => Response::Error {
                                message: e.to_string(),
                            },
                        }
                    }
                    Request::Status => Response::Status(engine.status(now(), &player)),
                    Request::Reload => match reload(&cfg) {
                        Ok(new) => {
                            apply(&mut engine, &mut player, &new);
                            cfg = new;
                            Response::Ok
                        }
                        Err(e) => Response::Error {
                            message: e.to_string(),
                        },
                    },
                };
                let _ = reply.send(resp);
            }
            Ok(Event::Signal(signal_hook::consts::SIGHUP)) => match reload(&cfg) {
                Ok(new) => {
                    apply(&mut engine, &mut player, &new);
                    cfg = new;
                    log::info!("config reloaded");
                }
                Err(e) => log::error!("config not reloaded, keeping the old one: {e}"),
            },
            Ok(Event::Signal(sig)) => {
                log::info!("signal {sig}: shutting down");
                break;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if watchdog.is_some() && last_ping.elapsed() >= watchdog.unwrap_or_default() {
            notify::notify("WATCHDOG=1");
            last_ping = Instant::now();
        }
    }
    notify::notify("STOPPING=1");
    stop.store(true, Ordering::Relaxed);
    signal_handle.close();
    engine.shutdown(now(), &player)?;
    drop(player); // fades out and joins the player thread
    drop(engine); // closes the database
    log::info!("moodbox stopped");
    Ok(())
}

fn reload(cfg: &Config) -> Result<Config, DaemonError> {
    match &cfg.source {
        Some(path) => Ok(Config::load(path)?),
        None => Err(DaemonError::Setup(
            "running on built-in defaults: there is no config file to reload".into(),
        )),
    }
}

fn apply(engine: &mut Engine, player: &mut Player, new: &Config) {
    if new.paths != engine.config().paths
        || new.gpio != engine.config().gpio
        || new.camera != engine.config().camera
    {
        log::warn!("paths, gpio and camera changes take effect after a restart (systemctl restart moodbox)");
    }
    engine.set_config(new.clone(), player);
}

/// The state folder's control socket for a config.
pub fn socket_path(cfg: &Config) -> PathBuf {
    cfg.paths.state_dir.join("control.sock")
}
