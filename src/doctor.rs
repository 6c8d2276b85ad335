//! `moodbox doctor`: what a user runs over SSH when the box is silent. Every part the box
//! needs is tried for real (the model loaded, a frame captured, the sound card opened, the
//! pins claimed), one line each, with a concrete fix for anything that fails.

use crate::buttons::GpioButtons;
use crate::config::{Config, Named};
use crate::emotion::model::EmotionModel;
use crate::music::library::Library;
use crate::player::open_output;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// The account the packaged service runs as (see systemd/moodbox.service).
pub const SERVICE_USER: &str = "moodbox";
/// Groups that account needs: camera, GPIO, sound card.
const GROUPS: [(&str, &str); 3] = [
    ("video", "the camera"),
    ("gpio", "the buttons"),
    ("audio", "the sound card"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but not as the box will need it (e.g. not created yet, disabled).
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub what: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about a warning or failure.
    pub fix: Option<String>,
}

impl Check {
    fn ok(what: &'static str, detail: impl Into<String>) -> Check {
        Check {
            what,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn bad(what: &'static str, status: Status, detail: impl Into<String>, fix: &str) -> Check {
        Check {
            what,
            status,
            detail: detail.into(),
            fix: Some(fix.to_string()),
        }
    }
}

/// Runs every check on the config `--config` names, found as every command finds it
/// (`Config::resolve`).
pub fn run(explicit_config: Option<&Path>) -> Vec<Check> {
    let cfg = match Config::resolve(explicit_config) {
        Ok(cfg) => cfg,
        Err(e) => {
            let fix = "correct the line named above, then `moodbox check-config`";
            return vec![Check::bad("config", Status::Fail, e.to_string(), fix)];
        }
    };
    let source = cfg
        .source
        .as_ref()
        .map_or("built-in defaults".to_string(), |p| p.display().to_string());
    vec![
        Check::ok("config", format!("{source}: valid")),
        model(&cfg),
        database(&cfg.paths.database),
        camera(&cfg),
        audio(&cfg),
        gpio(&cfg),
        groups(),
        service(),
    ]
}

/// One line per check, with its fix indented below.
pub fn render(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let tag = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let _ = writeln!(s, "{tag}  {:<9} {}", c.what, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(s, "      {:<9} fix: {fix}", "");
        }
    }
    s
}

fn model(cfg: &Config) -> Check {
    match EmotionModel::load(&cfg.model.path, cfg.model.flip_tta) {
        Ok(m) => {
            let acc = m
                .file_metadata()
                .and_then(|f| f.publictest_accuracy)
                .map(|a| format!(", {:.1}% on FER2013 PublicTest", 100.0 * a))
                .unwrap_or_default();
            Check::ok("model", format!("{} loads{acc}", cfg.model.path.display()))
        }
        Err(e) => Check::bad(
            "model",
            Status::Fail,
            e.to_string(),
            "reinstall the package (models live in /usr/share/moodbox/models) or set model.path",
        ),
    }
}

fn database(path: &Path) -> Check {
    if !path.exists() {
        return Check::bad(
            "database",
            Status::Warn,
            format!("{}: not created yet", path.display()),
            "`moodbox scan` creates it (the service does too, at start)",
        );
    }
    match Library::inspect(path) {
        Ok((version, tracks)) => Check::ok(
            "database",
            format!("{}: schema {version}, {tracks} tracks", path.display()),
        ),
        Err(e) => Check::bad(
            "database",
            Status::Fail,
            e.to_string(),
            "move the file aside and run `moodbox scan` to rebuild it",
        ),
    }
}

fn camera(cfg: &Config) -> Check {
    let fix = match cfg.camera.source.name() {
        "v4l2" => "plug in a USB camera (`ls /dev/v4l/by-id`) and set camera.device, or camera.source = \"rpicam\" for a CSI camera",
        "rpicam" => "check the ribbon cable and `rpicam-hello --list-cameras`; install rpicam-apps",
        _ => "set camera.device to a folder of images",
    };
    let mut source = match crate::camera::open_once(&cfg.camera) {
        Ok(s) => s,
        Err(e) => return Check::bad("camera", Status::Fail, e.to_string(), fix),
    };
    match source.next_frame() {
        Ok(f) => Check::ok(
            "camera",
            format!(
                "{}: captured a {}x{} frame",
                source.describe(),
                f.width,
                f.height
            ),
        ),
        Err(e) => Check::bad("camera", Status::Fail, e.to_string(), fix),
    }
}

fn audio(cfg: &Config) -> Check {
    match open_output(&cfg.audio.device) {
        Ok(_) => Check::ok("audio", format!("{}: opens", cfg.audio.device)),
        Err(e) => Check::bad(
            "audio",
            Status::Fail,
            e.to_string(),
            "set audio.device to a name from `aplay -L` (e.g. plughw:CARD=Headphones,DEV=0)",
        ),
    }
}

fn gpio(cfg: &Config) -> Check {
    if !cfg.gpio.enabled {
        return Check::bad(
            "gpio",
            Status::Warn,
            "buttons disabled (gpio.enabled = false)",
            "set gpio.enabled = true once the buttons are wired",
        );
    }
    match GpioButtons::new(&cfg.gpio) {
        Ok(_) => Check::ok(
            "gpio",
            format!("pins {} and {} free", cfg.gpio.skip_pin, cfg.gpio.like_pin),
        ),
        Err(e) => Check::bad(
            "gpio",
            Status::Fail,
            e.to_string(),
            "the message above names it; `pinctrl get` shows what holds a pin",
        ),
    }
}

fn groups() -> Check {
    let (Ok(passwd), Ok(group)) = (
        std::fs::read_to_string("/etc/passwd"),
        std::fs::read_to_string("/etc/group"),
    ) else {
        return Check::bad(
            "groups",
            Status::Warn,
            "cannot read /etc/passwd",
            "run as root",
        );
    };
    if !passwd
        .lines()
        .any(|l| l.split(':').next() == Some(SERVICE_USER))
    {
        return Check::bad(
            "groups",
            Status::Warn,
            format!("no user {SERVICE_USER}"),
            "install the moodbox package (its postinst creates the user)",
        );
    }
    let missing = missing_groups(&group, SERVICE_USER);
    if missing.is_empty() {
        return Check::ok(
            "groups",
            format!("{SERVICE_USER} is in video, gpio and audio"),
        );
    }
    let names: Vec<&str> = missing.iter().map(|(g, _)| *g).collect();
    let why: Vec<String> = missing
        .iter()
        .map(|(g, w)| format!("{g} for {w}"))
        .collect();
    Check::bad(
        "groups",
        Status::Fail,
        format!("{SERVICE_USER} lacks {}", why.join(", ")),
        &format!("sudo usermod -aG {} {SERVICE_USER}", names.join(",")),
    )
}

/// The groups of `GROUPS` that `user` is not a member of, from /etc/group's text.
fn missing_groups(etc_group: &str, user: &str) -> Vec<(&'static str, &'static str)> {
    GROUPS
        .into_iter()
        .filter(|(name, _)| {
            !etc_group.lines().any(|line| {
                let mut fields = line.split(':');
                fields.next() == Some(name)
                    && fields
                        .nth(2)
                        .is_some_and(|m| m.split(',').any(|u| u == user))
            })
        })
        .collect()
}

fn service() -> Check {
    let out = Command::new("systemctl")
        .args(["is-active", "moodbox.service"])
        .output();
    match out {
        Err(_) => Check::bad(
            "service",
            Status::Warn,
            "no systemctl here",
            "run it on the box",
        ),
        Ok(o) => {
            let mut state = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if state.is_empty() {
                let err = String::from_utf8_lossy(&o.stderr);
                state = format!("unknown ({})", err.lines().next().unwrap_or("no answer"));
            }
            if state == "active" {
                Check::ok("service", "moodbox.service is active")
            } else {
                Check::bad(
                    "service",
                    Status::Warn,
                    format!("moodbox.service is {state}"),
                    "sudo systemctl enable --now moodbox; `journalctl -u moodbox -e` says why it stopped",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_membership_is_read_from_etc_group() {
        let etc = "video:x:44:pi,moodbox\ngpio:x:997:pi\naudio:x:29:moodbox\n";
        assert_eq!(
            missing_groups(etc, "moodbox"),
            vec![("gpio", "the buttons")]
        );
        assert_eq!(missing_groups(etc, "pi").len(), 1);
        assert_eq!(missing_groups("", "moodbox").len(), 3);
    }

    #[test]
    fn a_bad_config_is_the_only_line_and_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[camera]\nfps = \"fast\"\n").unwrap();
        let checks = run(Some(&path));
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, Status::Fail);
        assert!(render(&checks).contains("c.toml:2"), "{}", render(&checks));
    }
}
