//! The command-line end of the control socket: one request, one response.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::server::MAX_LINE;
use super::{ControlError, Request, Response};

/// Longer than the server's own reply timeout, so "daemon busy" arrives as a reply.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `req` to the daemon listening on `path` and returns its response.
pub fn request(path: &Path, req: &Request) -> Result<Response, ControlError> {
    let io_err = |source: io::Error| match source.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ControlError::Timeout(path.to_owned())
        }
        _ => ControlError::Io {
            path: path.to_owned(),
            source,
        },
    };
    let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ControlError::NotRunning(path.to_owned())
        }
        io::ErrorKind::PermissionDenied => ControlError::PermissionDenied(path.to_owned()),
        _ => io_err(e),
    })?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io_err)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io_err)?;

    let protocol = |e: serde_json::Error| ControlError::Protocol {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut line = serde_json::to_vec(req).map_err(protocol)?;
    line.push(b'\n');
    (&stream).write_all(&line).map_err(io_err)?;

    let mut reply = Vec::new();
    BufReader::new(&stream)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut reply)
        .map_err(io_err)?;
    if reply.is_empty() {
        return Err(ControlError::Closed(path.to_owned()));
    }
    serde_json::from_slice(&reply).map_err(protocol)
}
