//! The daemon's control socket: one JSON object per line, each request answered by one
//! response line. Used by `moodbox status`, `moodbox press` and `moodbox reload`.
//!
//! Requests (`cmd` names the command):
//! ```text
//! {"cmd":"press","action":"skip"}      action: skip | like | pause-toggle | not-for-mood
//! {"cmd":"status"}
//! {"cmd":"reload"}
//! ```
//! Responses (exactly one key):
//! ```text
//! {"ok":true}
//! {"status":{"state":"playing","track":"Nina Simone - Feeling Good","track_id":42,...}}
//! {"error":"invalid request: unknown variant `dance`, expected one of `press`, `status`, `reload`"}
//! ```
//! A malformed or unknown line gets an `error` reply and the connection stays usable.

mod client;
mod server;

pub use client::request;
pub use server::{ControlServer, Incoming, MAX_CLIENTS, MAX_LINE};

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::buttons::Action;
use crate::emotion::Emotion;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// As if a button had been pressed.
    Press { action: Action },
    /// A snapshot of what the daemon is doing.
    Status,
    /// Re-read the config file (like SIGHUP), answering whether it applied.
    Reload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireResponse", try_from = "WireResponse")]
pub enum Response {
    Ok,
    Status(Status),
    Error { message: String },
}

impl Response {
    pub fn error(message: impl Into<String>) -> Self {
        Response::Error {
            message: message.into(),
        }
    }
}

/// The wire shape of [`Response`]: exactly one of the fields is present.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<Response> for WireResponse {
    fn from(r: Response) -> Self {
        let mut w = WireResponse {
            ok: None,
            status: None,
            error: None,
        };
        match r {
            Response::Ok => w.ok = Some(true),
            Response::Status(s) => w.status = Some(s),
            Response::Error { message } => w.error = Some(message),
        }
        w
    }
}

impl TryFrom<WireResponse> for Response {
    type Error = String;

    fn try_from(w: WireResponse) -> Result<Self, String> {
        match (w.ok, w.status, w.error) {
            (Some(true), None, None) => Ok(Response::Ok),
            (None, Some(s), None) => Ok(Response::Status(s)),
            (None, None, Some(message)) => Ok(Response::Error { message }),
            _ => Err("expected exactly one of \"ok\":true, \"status\" or \"error\"".into()),
        }
    }
}

/// What `moodbox status` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// "playing" | "paused" | "waiting for music" | "idle"
    pub state: String,
    pub track: Option<String>,
    pub track_id: Option<i64>,
    pub position_secs: f64,
    pub duration_secs: Option<f64>,
    pub emotion: Option<Emotion>,
    pub probabilities: Vec<(Emotion, f32)>,
    pub strategy: String,
    pub uptime_secs: f64,
    pub library_tracks: usize,
    pub message: Option<String>,
}

impl Status {
    /// Readable multi-line text, probabilities as bars.
    pub fn render(&self) -> String {
        const BAR: usize = 20;
        let mut s = format!("state:     {}\n", self.state);
        if let Some(track) = &self.track {
            let id = self
                .track_id
                .map(|id| format!(" (#{id})"))
                .unwrap_or_default();
            let _ = writeln!(s, "track:     {track}{id}");
            let total = self.duration_secs.map(|d| format!(" / {}", clock(d)));
            let _ = writeln!(
                s,
                "position:  {}{}",
                clock(self.position_secs),
                total.unwrap_or_default()
            );
        }
        let mood = self.emotion.map_or("-".into(), |e| e.to_string());
        let _ = writeln!(s, "mood:      {mood}");
        let _ = writeln!(s, "strategy:  {}", self.strategy);
        let _ = writeln!(s, "library:   {} tracks", self.library_tracks);
        let _ = writeln!(s, "uptime:    {}", clock(self.uptime_secs));
        if let Some(message) = &self.message {
            let _ = writeln!(s, "message:   {message}");
        }
        for (e, p) in &self.probabilities {
            let p = p.clamp(0.0, 1.0);
            let filled = (p * BAR as f32).round() as usize;
            let _ = writeln!(
                s,
                "  {:<9} {}{} {:>3.0}%",
                e.to_string(),
                "█".repeat(filled),
                "·".repeat(BAR - filled),
                p * 100.0
            );
        }
        s
    }
}

/// `h:mm:ss` or `m:ss`.
fn clock(secs: f64) -> String {
    let t = secs.max(0.0) as u64;
    let (h, m, s) = (t / 3600, t / 60 % 60, t % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Errors of the control socket, on both ends; each names the socket path.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("another moodbox is running (it answers on {0})")]
    AlreadyRunning(PathBuf),
    #[error("{0} exists and is not a socket (remove it, or set another control socket path)")]
    NotASocket(PathBuf),
    #[error("cannot create control socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("moodbox is not running (no socket at {0})")]
    NotRunning(PathBuf),
    #[error(
        "permission denied on {0} (the socket is owner-only: run as the moodbox user, e.g. sudo -u moodbox moodbox ...)"
    )]
    PermissionDenied(PathBuf),
    #[error("moodbox did not answer on {0} in time")]
    Timeout(PathBuf),
    #[error("moodbox closed {0} without answering")]
    Closed(PathBuf),
    #[error("bad reply from moodbox on {path}: {message}")]
    Protocol { path: PathBuf, message: String },
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes() {
        let line = |r: &Request| serde_json::to_string(r).unwrap();
        assert_eq!(
            line(&Request::Press {
                action: Action::NotForMood
            }),
            r#"{"cmd":"press","action":"not-for-mood"}"#
        );
        assert_eq!(line(&Request::Status), r#"{"cmd":"status"}"#);
        assert_eq!(line(&Request::Reload), r#"{"cmd":"reload"}"#);

        let line = |r: &Response| serde_json::to_string(r).unwrap();
        assert_eq!(line(&Response::Ok), r#"{"ok":true}"#);
        assert_eq!(line(&Response::error("no")), r#"{"error":"no"}"#);
        let status = Response::Status(Status {
            state: "idle".into(),
            ..Status::default()
        });
        assert!(line(&status).starts_with(r#"{"status":{"state":"idle","#));
        for r in [Response::Ok, Response::error("x"), status] {
            assert_eq!(serde_json::from_str::<Response>(&line(&r)).unwrap(), r);
        }
        assert!(serde_json::from_str::<Response>(r#"{"ok":true,"error":"x"}"#).is_err());
        assert!(serde_json::from_str::<Response>(r#"{}"#).is_err());
    }

    #[test]
    fn render_is_readable() {
        let s = Status {
            state: "playing".into(),
            track: Some("Nina Simone - Feeling Good".into()),
            track_id: Some(42),
            position_secs: 83.0,
            duration_secs: Some(3725.0),
            emotion: Some(Emotion::ALL[0]),
            probabilities: vec![(Emotion::ALL[0], 0.5), (Emotion::ALL[1], 0.05)],
            strategy: "match".into(),
            uptime_secs: 59.0,
            library_tracks: 1234,
            message: None,
        }
        .render();
        assert!(s.contains("state:     playing"), "{s}");
        assert!(s.contains("Feeling Good (#42)"), "{s}");
        assert!(s.contains("1:23 / 1:02:05"), "{s}");
        assert!(
            s.contains(&format!("{}{}  50%", "█".repeat(10), "·".repeat(10))),
            "{s}"
        );
        assert!(s.contains("1234 tracks"), "{s}");
    }
}
