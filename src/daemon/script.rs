//! A scripted emotion source: lines `SECONDS EMOTION` (or `SECONDS none` for "no face"),
//! for the demo, tests and trying the box without a camera (`moodbox run --emotions FILE`).
//! Each line holds from its time until the next line's.

use crate::daemon::debounce::Observation;
use crate::emotion::{Emotion, Probabilities};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmotionScript {
    /// (start time, what the camera would report), sorted by time.
    steps: Vec<(Duration, Option<Emotion>)>,
}

impl EmotionScript {
    pub fn load(path: &Path) -> Result<EmotionScript, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.display().to_string(),
            source,
        })?;
        EmotionScript::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, name: &str) -> Result<EmotionScript, ScriptError> {
        let mut steps: Vec<(Duration, Option<Emotion>)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let err = |message: String| ScriptError::Line {
                path: name.to_string(),
                line: i + 1,
                message,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(t), Some(e), None) = (words.next(), words.next(), words.next()) else {
                return Err(err(format!("expected `SECONDS EMOTION`, got {line:?}")));
            };
            let secs: f64 = t
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| err(format!("{t:?} is not a time in seconds")))?;
            let emotion = if e.eq_ignore_ascii_case("none") {
                None
            } else {
                Some(e.parse::<Emotion>().map_err(|e| err(e.to_string()))?)
            };
            let at = Duration::from_secs_f64(secs);
            if steps.last().is_some_and(|(prev, _)| *prev > at) {
                return Err(err(format!("time {secs} goes backwards")));
            }
            steps.push((at, emotion));
        }
        if steps.is_empty() {
            return Err(ScriptError::Line {
                path: name.to_string(),
                line: 1,
                message: "no `SECONDS EMOTION` lines".into(),
            });
        }
        Ok(EmotionScript { steps })
    }

    /// What the camera reports at `t` (before the first line: no face).
    pub fn at(&self, t: Duration) -> Observation {
        let idx = self.steps.partition_point(|(start, _)| *start <= t);
        match idx.checked_sub(1).map(|i| self.steps[i].1) {
            Some(Some(e)) => Observation::Face(Probabilities::certain(e)),
            _ => Observation::NoFace,
        }
    }

    pub fn end(&self) -> Duration {
        self.steps.last().map_or(Duration::ZERO, |(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_looks_up() {
        let s =
            EmotionScript::parse("# demo\n0 neutral\n5.5 happy  # smile\n9 none\n", "s").unwrap();
        assert_eq!(
            s.at(Duration::from_secs(1)),
            Observation::Face(Probabilities::certain(Emotion::Neutral))
        );
        assert_eq!(
            s.at(Duration::from_secs_f64(5.5)),
            Observation::Face(Probabilities::certain(Emotion::Happy))
        );
        assert_eq!(s.at(Duration::from_secs(30)), Observation::NoFace);
        assert_eq!(s.end(), Duration::from_secs(9));
    }

    #[test]
    fn errors_name_the_line() {
        let e = EmotionScript::parse("0 happy\n3 bored\n", "f.txt").unwrap_err();
        assert!(e.to_string().starts_with("f.txt:2: unknown emotion"), "{e}");
        let e = EmotionScript::parse("5 happy\n3 sad\n", "f.txt").unwrap_err();
        assert_eq!(e.to_string(), "f.txt:2: time 3 goes backwards");
        let e = EmotionScript::parse("soon happy\n", "f.txt").unwrap_err();
        assert!(e.to_string().starts_with("f.txt:1:"), "{e}");
    }
}
