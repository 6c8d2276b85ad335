//! The Pi's CSI camera through `rpicam-vid`, which streams raw I420 frames to stdout.
//!
//! libcamera has no V4L2 node a webcam library could read, so the box supervises
//! `rpicam-vid -t 0 -n --codec yuv420 … -o -`: a reader thread cuts its stdout into
//! fixed-size frames and keeps only the newest one; when the program exits or the pipe
//! breaks it is restarted with backoff, and `next_frame` says `Unavailable` meanwhile.

use crate::camera::convert::{i420_to_gray, I420Layout};
use crate::camera::reconnect::Backoff;
use crate::camera::{CameraError, FrameSource, GrayFrame};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const PROGRAM: &str = "rpicam-vid";

/// rpicam-vid needs a second or two to start the camera; after that a frame is due
/// every `1/fps`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `next_frame` waits for the program to come back before `Unavailable`.
const DOWN_WAIT: Duration = Duration::from_secs(1);

/// `rpicam-vid`'s arguments for raw I420 on stdout, forever, without a preview window;
/// `--flush` so each frame leaves stdio's buffer at once.
pub fn rpicam_args(camera: Option<u32>, width: u32, height: u32, fps: u32) -> Vec<String> {
    let mut args: Vec<String> = ["-t", "0", "-n", "--codec", "yuv420", "--flush"]
        .map(String::from)
        .into();
    for (flag, v) in [
        ("--width", width),
        ("--height", height),
        ("--framerate", fps),
    ] {
        args.extend([flag.to_string(), v.to_string()]);
    }
    if let Some(camera) = camera {
        args.extend(["--camera".to_string(), camera.to_string()]);
    }
    args.extend(["-o".to_string(), "-".to_string()]);
    args
}

/// What the reader thread and the consumer share.
#[derive(Default)]
struct State {
    /// The newest frame not yet taken: a one-slot channel that overwrites stale frames.
    frame: Option<GrayFrame>,
    /// Why there is no program running now (it exited, or could not start).
    down: Option<String>,
    child: Option<Child>,
    stop: bool,
    backoff: Option<Backoff>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Frames from a supervised `rpicam-vid` (or any program writing I420 frames to stdout).
pub struct RpicamSource {
    name: String,
    layout: I420Layout,
    timeout: Duration,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
}

impl RpicamSource {
    /// Runs `rpicam-vid` for camera `camera` (its `--camera` index; `None`: the first).
    pub fn open(
        camera: Option<u32>,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<RpicamSource, CameraError> {
        let layout = I420Layout::rpicam(width as usize, height as usize);
        Self::with_command(PROGRAM, rpicam_args(camera, width, height, fps), layout)
    }

    /// Runs `program args…`, whose stdout must be back-to-back frames of `layout`. The
    /// first start happens here, so a missing program is an error at once.
    pub fn with_command(
        program: impl AsRef<Path>,
        args: Vec<String>,
        layout: I420Layout,
    ) -> Result<RpicamSource, CameraError> {
        let program = program.as_ref().to_path_buf();
        let name = program.display().to_string();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let stdout = spawn(&program, &args, &mut shared.lock()).map_err(|message| {
            CameraError::Unavailable {
                device: name.clone(),
                message,
            }
        })?;
        let supervisor = Supervisor {
            program,
            args,
            layout,
            shared: shared.clone(),
        };
        let reader = std::thread::Builder::new()
            .name("rpicam-reader".into())
            .spawn(move || supervisor.run(stdout))
            .map_err(|e| {
                reap(shared.lock().child.take());
                CameraError::Unavailable {
                    device: name.clone(),
                    message: format!("cannot start the reader thread: {e}"),
                }
            })?;
        Ok(RpicamSource {
            name,
            layout,
            timeout: DEFAULT_TIMEOUT,
            shared,
            reader: Some(reader),
        })
    }

    /// How long `next_frame` waits for a frame before `Timeout` (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> RpicamSource {
        self.timeout = timeout;
        self
    }

    /// Restart delays after the program exits (default 0.5 s doubling to 30 s).
    pub fn with_backoff(self, backoff: Backoff) -> RpicamSource {
        self.shared.lock().backoff = Some(backoff);
        self
    }
}

impl FrameSource for RpicamSource {
    fn next_frame(&mut self) -> Result<GrayFrame, CameraError> {
        let start = Instant::now();
        let mut state = self.shared.lock();
        loop {
            if let Some(frame) = state.frame.take() {
                return Ok(frame);
            }
            // While the program is down, answer within a second (it may be back by then).
            let limit = match state.down {
                Some(_) => self.timeout.min(DOWN_WAIT),
                None => self.timeout,
            };
            let left = (start + limit).saturating_duration_since(Instant::now());
            if !left.is_zero() {
                state = (self.shared.changed)
                    .wait_timeout(state, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                continue;
            }
            if let Some(why) = &state.down {
                return Err(CameraError::Unavailable {
                    device: self.name.clone(),
                    message: format!("{why}; restarting it"),
                });
            }
            // A silent program is hung: kill it, and the reader restarts it.
            if let Some(child) = state.child.as_mut() {
                let _ = child.kill();
            }
            return Err(CameraError::Timeout {
                device: self.name.clone(),
                timeout: self.timeout,
            });
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}: I420 {}x{} ({}-byte rows)",
            self.name, self.layout.width, self.layout.height, self.layout.y_stride
        )
    }
}

impl Drop for RpicamSource {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.stop = true;
            if let Some(child) = state.child.as_mut() {
                let _ = child.kill();
            }
        }
        self.shared.changed.notify_all();
        // The reader sees end of file once the program is dead, reaps it and returns.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        // Only left there if the reader panicked.
        reap(self.shared.lock().child.take());
    }
}

/// Kills and waits for the program, if there is one; its exit status.
fn reap(child: Option<Child>) -> Option<std::io::Result<std::process::ExitStatus>> {
    child.map(|mut child| {
        let _ = child.kill();
        child.wait()
    })
}

/// Starts the program (with the state locked, so `Drop` cannot miss the new child) and
/// sends its stderr to the debug log.
fn spawn(program: &Path, args: &[String], state: &mut State) -> Result<ChildStdout, String> {
    // Checked here rather than left to exec: under qemu-user (CI's ARM test run) a failed
    // exec in the child is not reported back to `spawn`.
    if program.components().count() > 1 && !program.exists() {
        return Err(format!(
            "cannot run {}: no such file (is rpicam-apps installed?)",
            program.display()
        ));
    }
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => " (is rpicam-apps installed?)",
                _ => "",
            };
            format!("cannot run {}: {e}{hint}", program.display())
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("no pipes to the program".into());
    };
    let tag = program
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let drain = move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            log::debug!("{tag}: {line}");
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("rpicam-stderr".into())
        .spawn(drain)
    {
        log::warn!("cannot read {}'s messages: {e}", program.display());
    }
    state.child = Some(child);
    state.down = None;
    Ok(stdout)
}

struct Supervisor {
    program: PathBuf,
    args: Vec<String>,
    layout: I420Layout,
    shared: Arc<Shared>,
}

impl Supervisor {
    fn run(self, first: ChildStdout) {
        let mut backoff = Backoff::default();
        let mut stdout = Some(first);
        let mut quiet = false;
        loop {
            let mut state = match stdout.take() {
                Some(mut out) => {
                    let (frames, err) = self.read_frames(&mut out);
                    let mut state = self.shared.lock();
                    let status = reap(state.child.take());
                    if state.stop {
                        return;
                    }
                    let program = self.program.display();
                    state.down = Some(match (status, err) {
                        (_, Some(err)) => err,
                        (Some(Ok(s)), None) => format!("{program} exited ({s})"),
                        _ => format!("{program} stopped"),
                    });
                    if frames > 0 {
                        backoff.reset();
                        quiet = false;
                    }
                    state
                }
                None => self.shared.lock(),
            };
            if let Some(configured) = state.backoff.take() {
                backoff = configured;
            }
            let delay = backoff.next_delay();
            let why = state.down.clone().unwrap_or_default();
            if quiet {
                log::debug!("{why}; restarting it in {delay:?}");
            } else {
                log::warn!("{why}; restarting it in {delay:?} (and with backoff after that)");
                quiet = true;
            }
            self.shared.changed.notify_all();
            // Sleep out the backoff, waking early for `Drop`.
            let until = Instant::now() + delay;
            while !state.stop && Instant::now() < until {
                let left = until.saturating_duration_since(Instant::now());
                state = (self.shared.changed)
                    .wait_timeout(state, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if state.stop {
                return;
            }
            match spawn(&self.program, &self.args, &mut state) {
                Ok(out) => stdout = Some(out),
                Err(e) => state.down = Some(e),
            }
        }
    }

    /// Reads whole frames into the slot until the pipe ends; returns how many, and the
    /// read error if it was not a plain end of file.
    fn read_frames(&self, stdout: &mut ChildStdout) -> (usize, Option<String>) {
        let mut buf = vec![0u8; self.layout.frame_len()];
        let mut frames = 0;
        loop {
            if let Err(e) = stdout.read_exact(&mut buf) {
                let why = (e.kind() != std::io::ErrorKind::UnexpectedEof)
                    .then(|| format!("reading {}: {e}", self.program.display()));
                return (frames, why);
            }
            frames += 1;
            match i420_to_gray(&buf, &self.layout) {
                Ok(frame) => {
                    self.shared.lock().frame = Some(frame);
                    self.shared.changed.notify_all();
                }
                Err(e) => log::warn!("{}: {e}", self.program.display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_ask_for_raw_i420_on_stdout() {
        let args = rpicam_args(Some(1), 320, 240, 10).join(" ");
        assert_eq!(
            args,
            "-t 0 -n --codec yuv420 --flush --width 320 --height 240 --framerate 10 --camera 1 -o -"
        );
        assert!(!rpicam_args(None, 320, 240, 10).contains(&"--camera".to_string()));
    }

    #[test]
    fn a_missing_program_is_unavailable_and_named() {
        let layout = I420Layout::rpicam(64, 2);
        let err = RpicamSource::with_command("/nonexistent/rpicam-vid", vec![], layout)
            .err()
            .unwrap();
        assert!(matches!(err, CameraError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/rpicam-vid"), "{err}");
    }

    #[test]
    fn a_silent_program_times_out_and_is_restarted() {
        // One 64x2 frame of 'A' (Y, U and V alike), then silence.
        let script = "head -c 192 /dev/zero | tr '\\000' 'A'; exec sleep 30";
        let args = vec!["-c".to_string(), script.to_string()];
        let mut src = RpicamSource::with_command("/bin/sh", args, I420Layout::rpicam(64, 2))
            .unwrap()
            .with_backoff(Backoff::new(
                Duration::from_millis(5),
                Duration::from_millis(5),
            ))
            .with_timeout(Duration::from_millis(500));
        // Frames come again after a timeout (which killed the silent program).
        let restarted = |r: &[&str]| {
            r.iter()
                .skip_while(|&&r| r != "timeout")
                .any(|&r| r == "frame")
        };
        let mut results = Vec::new();
        while !restarted(&results) && results.len() < 50 {
            results.push(match src.next_frame() {
                Ok(f) => {
                    assert_eq!((f.width, f.height, f.data), (64, 2, vec![b'A'; 128]));
                    "frame"
                }
                Err(CameraError::Timeout { .. }) => "timeout",
                Err(CameraError::Unavailable { .. }) => "unavailable",
                Err(e) => panic!("{e}"),
            });
        }
        assert!(restarted(&results), "{results:?}");
    }
}
