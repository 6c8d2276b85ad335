//! `moodbox run` as a child process: signals, the control socket, durability.

use crate::util;
use moodbox::control::{request, Request, Response, Status};
use moodbox::demo::synth_song;
use rusqlite::Connection;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
}

impl Daemon {
    /// A box with two 30 s songs, the given extra config, a scripted happy face and no sound card.
    fn start(extra_config: &str) -> Daemon {
        let d = Daemon::start_with(extra_config, &["one", "two"]);
        d.wait_for(|s| s.state == "playing");
        d
    }

    fn start_with(extra_config: &str, songs: &[&str]) -> Daemon {
        let dir = util::tempdir();
        let music = dir.path().join("music");
        std::fs::create_dir_all(&music).unwrap();
        for name in songs {
            synth_song(&music.join(format!("{name}.wav")), 0.8, 0.7, 30.0).unwrap();
        }
        std::fs::write(dir.path().join("emotions.txt"), "0 happy\n").unwrap();
        let child = spawn(dir.path(), extra_config, true);
        Daemon { child, dir }
    }

    /// A box in `dir`, its music in `dir/music`, that reads faces from the camera set in
    /// `extra_config` (no scripted emotions).
    pub(crate) fn start_with_camera(dir: tempfile::TempDir, extra_config: &str) -> Daemon {
        let child = spawn(dir.path(), extra_config, false);
        Daemon { child, dir }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    fn db(&self) -> Connection {
        Connection::open(self.dir.path().join("library.db")).unwrap()
    }

    fn status(&self) -> Option<Status> {
        match request(&self.socket(), &Request::Status) {
            Ok(Response::Status(s)) => Some(s),
            _ => None,
        }
    }

    /// Polls the control socket until `ok` holds (generous limit: CI machines are slow).
    pub(crate) fn wait_for(&self, ok: impl Fn(&Status) -> bool) -> Status {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.status().filter(|s| ok(s)) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "daemon never reached the expected state: {:?}\n{}",
                self.status(),
                std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn signal(&self, sig: i32) {
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    pub(crate) fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, extra: &str) {
    let text = format!(
        "log_level = \"debug\"\n[gpio]\nenabled = false\n[paths]\nstate_dir = {dir:?}\nmusic_dirs = [{music:?}]\nrescan_minutes = 0.005\n{extra}",
        music = dir.join("music"),
    );
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

/// `moodbox run` on `dir`'s config; `scripted`: faces from `dir/emotions.txt`, not a camera.
fn spawn(dir: &Path, extra: &str, scripted: bool) -> Child {
    write_config(dir, extra);
    let mut command = crate::util::command();
    command
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(["run", "--output", "null"]);
    if scripted {
        command.arg("--emotions").arg(dir.join("emotions.txt"));
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_during_playback_records_the_play_and_leaves_a_consistent_database() {
    let mut d = Daemon::start("");
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit().success());
    let db = d.db();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let outcomes: Vec<String> = db
        .prepare("SELECT outcome FROM plays")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(outcomes, vec!["interrupted"]);
    assert!(
        !d.socket().exists(),
        "the control socket is removed on shutdown"
    );
}

#[test]
fn sigkill_right_after_a_like_loses_no_like() {
    let mut d = Daemon::start("");
    let reply = request(
        &d.socket(),
        &Request::Press {
            action: moodbox::buttons::Action::Like,
        },
    )
    .unwrap();
    assert_eq!(reply, Response::Ok);
    d.child.kill().unwrap(); // SIGKILL: no chance to flush anything
    d.child.wait().unwrap();
    let likes: i64 = d
        .db()
        .query_row("SELECT count(*) FROM likes WHERE value = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(likes, 1);
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one_and_a_good_one_applies() {
    let d = Daemon::start("[recommend]\nstrategy = \"uplift\"\n");
    assert_eq!(d.status().unwrap().strategy, "uplift");
    std::fs::write(
        d.config_path(),
        "[recommend]\nstrategy = \"match\"\nstratgey = 1\n",
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    // The reload is refused; the box keeps answering with the old config.
    let log = d.dir.path().join("daemon.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("config not reloaded")
    {
        assert!(Instant::now() < deadline, "no refusal logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("config.toml:3: recommend.stratgey"));
    assert_eq!(d.status().unwrap().strategy, "uplift");
    write_config(d.dir.path(), "[recommend]\nstrategy = \"match\"\n");
    d.signal(libc::SIGHUP);
    d.wait_for(|s| s.strategy == "match");
}

#[test]
fn a_malformed_socket_request_gets_an_error_and_the_daemon_keeps_running() {
    let d = Daemon::start("");
    let stream = UnixStream::connect(d.socket()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    for bad in ["{not json\n", "{\"cmd\":\"dance\"}\n"] {
        writer.write_all(bad.as_bytes()).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains("error"), "{bad:?} got {line:?}");
    }
    writer.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("playing"), "{line}");
    assert_eq!(d.status().unwrap().state, "playing");
}

#[test]
fn an_empty_library_waits_for_music_and_plays_what_is_copied_in() {
    let d = Daemon::start_with("", &[]);
    let waiting = d.wait_for(|s| s.state == "waiting for music");
    assert!(waiting.message.unwrap().contains("the library is empty"));
    // Music copied in over SSH: the periodic re-scan (every 0.3 s here) finds it.
    let tmp = d.dir.path().join("incoming.wav");
    synth_song(&tmp, 0.8, 0.7, 30.0).unwrap();
    std::fs::rename(&tmp, d.dir.path().join("music/new.wav")).unwrap();
    let playing = d.wait_for(|s| s.state == "playing");
    assert_eq!(playing.track.as_deref(), Some("new.wav"));
}
