//! The daemon's end of the control socket.
//!
//! Nothing a client does can hurt the daemon: at most [`MAX_CLIENTS`] connections, each
//! on its own thread with a read timeout, lines capped at [`MAX_LINE`], and requests
//! handed to the daemon over a channel with a reply timeout.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{ControlError, Request, Response};

pub const MAX_CLIENTS: usize = 8;
pub const MAX_LINE: usize = 64 * 1024;
const LINE_TIMEOUT: Duration = Duration::from_secs(5);
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the daemon receives: a request and where to send its response.
pub type Incoming = (Request, Sender<Response>);

/// A bound control socket with its accept thread. Dropping it stops accepting and
/// removes the socket file.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    /// (device, inode) of our socket file, so Drop never removes somebody else's.
    id: (u64, u64),
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Binds `path` (owner-only), replacing a stale socket left by a crashed daemon, and
    /// forwards every valid request to `tx`.
    pub fn bind(path: &Path, tx: Sender<Incoming>) -> Result<ControlServer, ControlError> {
        remove_stale(path)?;
        let bind_err = |source| ControlError::Bind {
            path: path.to_owned(),
            source,
        };
        let listener = UnixListener::bind(path).map_err(bind_err)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
        let meta = fs::metadata(path).map_err(bind_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("control".into())
            .spawn(move || accept_loop(listener, tx, &flag))
            .map_err(bind_err)?;
        log::info!("control socket listening on {}", path.display());
        Ok(ControlServer {
            path: path.to_owned(),
            id: (meta.dev(), meta.ino()),
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file at our path is still the socket we bound.
    fn owns_path(&self) -> bool {
        fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id)
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if !self.owns_path() {
            // Removed or replaced behind our back: we cannot wake the accept thread, so
            // leave it blocked (it ends with the process) rather than hang here.
            log::warn!("control socket {} vanished", self.path.display());
            return;
        }
        // Wake the blocking accept; it sees the flag and returns.
        if UnixStream::connect(&self.path).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// Removes a socket file nobody answers on; refuses to touch a live one or a non-socket.
fn remove_stale(path: &Path) -> Result<(), ControlError> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket(path.to_owned()));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(ControlError::AlreadyRunning(path.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            Err(ControlError::PermissionDenied(path.to_owned()))
        }
        Err(_) => {
            log::info!("removing stale control socket {}", path.display());
            fs::remove_file(path).map_err(|source| ControlError::Bind {
                path: path.to_owned(),
                source,
            })
        }
    }
}

fn accept_loop(listener: UnixListener, tx: Sender<Incoming>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                log::warn!("control socket: accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let _ = stream.set_write_timeout(Some(LINE_TIMEOUT));
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            active.fetch_sub(1, Ordering::SeqCst);
            let msg = format!("too many clients (at most {MAX_CLIENTS}); try again");
            let _ = write_response(&mut stream, &Response::error(msg));
            continue;
        }
        let guard = ActiveGuard(active.clone());
        let tx = tx.clone();
        let spawned = thread::Builder::new()
            .name("control-client".into())
            .spawn(move || {
                let _guard = guard;
                if let Err(e) = serve(stream, &tx) {
                    log::debug!("control client: {e}");
                }
            });
        if let Err(e) = spawned {
            log::warn!("control socket: cannot start a client thread: {e}");
        }
    }
}

/// Counts a connection as active until dropped.
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers one connection line by line until EOF, a timeout or an overlong line.
fn serve(stream: UnixStream, tx: &Sender<Incoming>) -> io::Result<()> {
    stream.set_read_timeout(Some(LINE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE {
            let msg = format!("line too long (at most {} KiB)", MAX_LINE / 1024);
            return write_response(&mut writer, &Response::error(msg));
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        let response = match parse(&line) {
            Ok(request) => dispatch(request, tx),
            Err(message) => Response::Error { message },
        };
        write_response(&mut writer, &response)?;
    }
}

fn parse(line: &[u8]) -> Result<Request, String> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("malformed JSON: {e}"))?;
    serde_json::from_value(value).map_err(|e| format!("invalid request: {e}"))
}

fn dispatch(request: Request, tx: &Sender<Incoming>) -> Response {
    let (reply_tx, reply) = mpsc::channel();
    if tx.send((request, reply_tx)).is_err() {
        return Response::error("daemon is shutting down");
    }
    match reply.recv_timeout(REPLY_TIMEOUT) {
        Ok(response) => response,
        Err(RecvTimeoutError::Timeout) => Response::error("daemon busy"),
        Err(RecvTimeoutError::Disconnected) => Response::error("daemon dropped the request"),
    }
}

fn write_response(w: &mut impl Write, response: &Response) -> io::Result<()> {
    let mut line = serde_json::to_vec(response)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buttons::Action;
    use crate::control::{request, Status};

    /// A daemon stand-in answering requests until the server is dropped.
    fn serve_in(dir: &Path) -> (ControlServer, PathBuf) {
        let path = dir.join("moodbox.sock");
        let (tx, rx) = mpsc::channel::<Incoming>();
        thread::spawn(move || {
            for (req, reply) in rx {
                let response = match req {
                    Request::Press { action } => {
                        assert_eq!(action, Action::PauseToggle);
                        Response::Ok
                    }
                    Request::Status => Response::Status(Status {
                        state: "playing".into(),
                        track_id: Some(7),
                        ..Status::default()
                    }),
                    Request::Reload => Response::error("reload: bad config"),
                };
                let _ = reply.send(response);
            }
        });
        (ControlServer::bind(&path, tx).unwrap(), path)
    }

    #[test]
    fn each_request_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let (_server, path) = serve_in(dir.path());
        let press = Request::Press {
            action: Action::PauseToggle,
        };
        assert_eq!(request(&path, &press).unwrap(), Response::Ok);
        match request(&path, &Request::Status).unwrap() {
            Response::Status(s) => assert_eq!((s.state.as_str(), s.track_id), ("playing", Some(7))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            request(&path, &Request::Reload).unwrap(),
            Response::error("reload: bad config")
        );
    }

    #[test]
    fn bad_lines_get_errors_and_the_connection_stays_usable() {
        let dir = tempfile::tempdir().unwrap();
        let (_server, path) = serve_in(dir.path());
        let stream = UnixStream::connect(&path).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut ask = |line: &str| {
            writer.write_all(format!("{line}\n").as_bytes()).unwrap();
            let mut reply = String::new();
            reader.read_line(&mut reply).unwrap();
            serde_json::from_str::<Response>(&reply).unwrap()
        };
        let Response::Error { message } = ask("{not json") else {
            panic!("malformed line accepted")
        };
        assert!(message.starts_with("malformed JSON"), "{message}");
        let Response::Error { message } = ask(r#"{"cmd":"dance"}"#) else {
            panic!("unknown cmd accepted")
        };
        assert!(message.contains("dance"), "{message}");
        assert!(matches!(ask(r#"{"cmd":"status"}"#), Response::Status(_)));
    }

    #[test]
    fn socket_is_owner_only_exclusive_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let (server, path) = serve_in(dir.path());
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let (tx, _rx) = mpsc::channel();
        let err = ControlServer::bind(&path, tx).unwrap_err().to_string();
        assert!(err.contains("another moodbox is running"), "{err}");

        drop(server);
        assert!(!path.exists());
        let err = request(&path, &Request::Status).unwrap_err().to_string();
        assert!(
            err.contains("moodbox is not running (no socket at"),
            "{err}"
        );
    }

    #[test]
    fn clients_beyond_the_cap_are_refused_with_an_error_line() {
        let dir = tempfile::tempdir().unwrap();
        let (_server, path) = serve_in(dir.path());
        let _held: Vec<_> = (0..MAX_CLIENTS)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        let mut reply = String::new();
        BufReader::new(UnixStream::connect(&path).unwrap())
            .read_line(&mut reply)
            .unwrap();
        assert!(reply.contains("too many clients"), "{reply}");
    }

    #[test]
    fn stale_socket_is_replaced_and_other_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("moodbox.sock");
        drop(UnixListener::bind(&path).unwrap()); // a crashed daemon's leftover
        let (tx, _rx) = mpsc::channel();
        let server = ControlServer::bind(&path, tx).unwrap();
        drop(server);

        fs::write(&path, "not a socket").unwrap();
        let (tx, _rx) = mpsc::channel();
        let err = ControlServer::bind(&path, tx).unwrap_err().to_string();
        assert!(err.contains("is not a socket"), "{err}");
    }
}
