//! The music library in SQLite: tracks, their features, plays, likes and emotion changes.
//!
//! Durability: WAL with `synchronous = FULL`, so a transaction that has returned is on disk
//! (a like survives a power cut the instant `record_like` returns). Writes are rare on a
//! music box, so the extra fsync per commit costs nothing noticeable.

use crate::emotion::Emotion;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("{path}: not a moodbox database or corrupt ({source}); it was left untouched — move it aside to start a new library")]
    Corrupt {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: database schema version {found} is newer than this moodbox understands ({supported}); it was left untouched — upgrade moodbox")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path}: cannot create the database folder: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Schema migrations; `PRAGMA user_version` is the number applied. Append, never edit.
const MIGRATIONS: &[&str] = &[
    // 1: the first library.
    "CREATE TABLE tracks (
        id          INTEGER PRIMARY KEY,
        path        TEXT NOT NULL UNIQUE,
        title       TEXT,
        artist      TEXT,
        album       TEXT,
        track_no    INTEGER,
        duration_ms INTEGER NOT NULL,
        format      TEXT NOT NULL,
        sample_rate INTEGER,
        size        INTEGER NOT NULL,
        mtime       INTEGER NOT NULL,
        gone        INTEGER NOT NULL DEFAULT 0,
        added_at    INTEGER NOT NULL
    );
    CREATE TABLE features (
        track_id     INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
        valence      REAL NOT NULL CHECK (valence BETWEEN 0 AND 1),
        energy       REAL NOT NULL CHECK (energy BETWEEN 0 AND 1),
        tempo        REAL,
        danceability REAL,
        acousticness REAL,
        source       TEXT NOT NULL
    );
    CREATE TABLE plays (
        id          INTEGER PRIMARY KEY,
        track_id    INTEGER NOT NULL REFERENCES tracks(id),
        emotion     TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        ended_at    INTEGER,
        listened_ms INTEGER,
        outcome     TEXT NOT NULL DEFAULT 'playing'
                    CHECK (outcome IN ('playing', 'finished', 'skipped', 'interrupted', 'failed'))
    );
    CREATE TABLE likes (
        id       INTEGER PRIMARY KEY,
        track_id INTEGER NOT NULL REFERENCES tracks(id),
        emotion  TEXT NOT NULL,
        value    INTEGER NOT NULL CHECK (value IN (-1, 1)),
        at       INTEGER NOT NULL
    );
    CREATE TABLE emotion_changes (
        id         INTEGER PRIMARY KEY,
        at         INTEGER NOT NULL,
        from_emotion TEXT,
        to_emotion TEXT NOT NULL,
        confidence REAL
    );",
    // 2: content fingerprints (renames keep their history), decode failures, faster stats.
    "ALTER TABLE tracks ADD COLUMN fingerprint INTEGER;
    ALTER TABLE tracks ADD COLUMN broken TEXT;
    CREATE INDEX plays_track_emotion ON plays(track_id, emotion);
    CREATE INDEX likes_track_emotion ON likes(track_id, emotion);",
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What a scan learned about one file.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackMeta {
    pub path: PathBuf,
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub track_no: Option<u32>,
    pub duration: Duration,
    pub format: String,
    pub sample_rate: Option<u32>,
    pub size: u64,
    pub mtime: i64,
    pub fingerprint: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Features {
    pub valence: f32,
    pub energy: f32,
    pub tempo: Option<f32>,
    pub danceability: Option<f32>,
    pub acousticness: Option<f32>,
}

/// Where a track's features came from; a lower rank never overwrites a higher one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FeatureSource {
    Analysis = 0,
    Tag = 1,
    Import = 2,
}

impl FeatureSource {
    pub fn name(self) -> &'static str {
        match self {
            FeatureSource::Analysis => "analysis",
            FeatureSource::Tag => "tag",
            FeatureSource::Import => "import",
        }
    }
    fn parse(s: &str) -> FeatureSource {
        match s {
            "import" => FeatureSource::Import,
            "tag" => FeatureSource::Tag,
            _ => FeatureSource::Analysis,
        }
    }
}

/// A playable track as the recommender sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: i64,
    pub path: PathBuf,
    pub title: Option<String>,
    pub artist: Option<String>,
    pub features: Option<Features>,
}

impl Candidate {
    pub fn label(&self) -> String {
        match (&self.artist, &self.title) {
            (Some(a), Some(t)) => format!("{a} – {t}"),
            (None, Some(t)) => t.clone(),
            _ => self.path.file_name().map_or_else(
                || self.path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Skipped,
    Interrupted,
    Failed,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Finished => "finished",
            Outcome::Skipped => "skipped",
            Outcome::Interrupted => "interrupted",
            Outcome::Failed => "failed",
        }
    }
}

/// Listener feedback for one track under one emotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Feedback {
    pub likes: u32,
    pub not_for_mood: u32,
    pub skips: u32,
    pub finished: u32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Counts {
    pub tracks: u64,
    pub with_features: u64,
    pub gone: u64,
    pub broken: u64,
    pub per_format: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmotionStats {
    pub emotion: String,
    pub plays: u64,
    pub finished: u64,
    pub skips: u64,
    pub likes: u64,
}

pub struct Library {
    conn: Connection,
    path: PathBuf,
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Library {
    /// Opens (creating when absent) and migrates the library. A corrupt file or one from a
    /// newer moodbox is refused before anything is written to it.
    pub fn open(path: &Path) -> Result<Library, LibraryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LibraryError::Folder {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let sqlite = |source| LibraryError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
        // Read-only probes first: nothing may be written to a file we do not understand.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .and_then(|v| conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(v)))
            .map_err(|source| LibraryError::Corrupt {
                path: path.to_path_buf(),
                source,
            })?;
        if version > SCHEMA_VERSION {
            return Err(LibraryError::TooNew {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(sqlite)?;
        let mut lib = Library {
            conn,
            path: path.to_path_buf(),
        };
        lib.migrate(version, SCHEMA_VERSION)?;
        Ok(lib)
    }

    /// Applies migrations `from+1 ..= to`, each in its own transaction.
    fn migrate(&mut self, from: i64, to: i64) -> Result<(), LibraryError> {
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .take(to as usize)
            .skip(from as usize)
        {
            let path = self.path.clone();
            let tx = self
                .conn
                .transaction()
                .map_err(|source| LibraryError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
            tx.execute_batch(sql)
                .and_then(|_| tx.pragma_update(None, "user_version", (i + 1) as i64))
                .and_then(|_| tx.commit())
                .map_err(|source| LibraryError::Sqlite { path, source })?;
            log::debug!("{}: migrated to schema {}", self.path.display(), i + 1);
        }
        Ok(())
    }

    fn err(&self, source: rusqlite::Error) -> LibraryError {
        LibraryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<i64, LibraryError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Every known file with its size and mtime, for incremental scans.
    pub fn known_files(&self) -> Result<HashMap<PathBuf, KnownFile>, LibraryError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, path, size, mtime, gone, fingerprint FROM tracks")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    PathBuf::from(r.get::<_, String>(1)?),
                    KnownFile {
                        id: r.get(0)?,
                        size: r.get::<_, i64>(2)? as u64,
                        mtime: r.get(3)?,
                        gone: r.get(4)?,
                        fingerprint: r.get(5)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Inserts or refreshes a track by path; returns its id. A track seen again is no longer gone.
    pub fn upsert_track(&self, m: &TrackMeta) -> Result<i64, LibraryError> {
        self.conn
            .query_row(
                "INSERT INTO tracks (path, title, artist, album, track_no, duration_ms, format, sample_rate,
                                     size, mtime, fingerprint, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT(path) DO UPDATE SET title = ?2, artist = ?3, album = ?4, track_no = ?5,
                     duration_ms = ?6, format = ?7, sample_rate = ?8, size = ?9, mtime = ?10,
                     fingerprint = ?11, gone = 0, broken = NULL
                 RETURNING id",
                params![
                    path_str(&m.path),
                    m.title,
                    m.artist,
                    m.album,
                    m.track_no,
                    m.duration.as_millis() as i64,
                    m.format,
                    m.sample_rate,
                    m.size as i64,
                    m.mtime,
                    m.fingerprint,
                    unix_now()
                ],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// A file that moved: keep the track (and its plays and likes) under the new path.
    pub fn move_track(&self, id: i64, m: &TrackMeta) -> Result<(), LibraryError> {
        self.conn
            .execute(
                "UPDATE tracks SET path = ?2 WHERE id = ?1",
                params![id, path_str(&m.path)],
            )
            .map_err(|e| self.err(e))?;
        self.upsert_track(m).map(|_| ())
    }

    pub fn mark_gone(&self, id: i64) -> Result<(), LibraryError> {
        self.conn
            .execute("UPDATE tracks SET gone = 1 WHERE id = ?1", [id])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// A track that failed to decode at play time is left out of picks until it is rescanned.
    pub fn mark_broken(&self, id: i64, why: &str) -> Result<(), LibraryError> {
        self.conn
            .execute(
                "UPDATE tracks SET broken = ?2 WHERE id = ?1",
                params![id, why],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Stores features unless the track already has some from a stronger source.
    /// Returns whether they were written.
    pub fn set_features(
        &self,
        track_id: i64,
        f: &Features,
        source: FeatureSource,
    ) -> Result<bool, LibraryError> {
        let existing: Option<String> = self
            .conn
            .query_row(
                "SELECT source FROM features WHERE track_id = ?1",
                [track_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if existing.is_some_and(|s| FeatureSource::parse(&s) > source) {
            return Ok(false);
        }
        self.conn
            .execute(
                "INSERT OR REPLACE INTO features (track_id, valence, energy, tempo, danceability, acousticness, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![track_id, f.valence, f.energy, f.tempo, f.danceability, f.acousticness, source.name()],
            )
            .map_err(|e| self.err(e))?;
        Ok(true)
    }

    pub fn features(
        &self,
        track_id: i64,
    ) -> Result<Option<(Features, FeatureSource)>, LibraryError> {
        self.conn
            .query_row(
                "SELECT valence, energy, tempo, danceability, acousticness, source FROM features WHERE track_id = ?1",
                [track_id],
                |r| {
                    Ok((
                        Features {
                            valence: r.get(0)?,
                            energy: r.get(1)?,
                            tempo: r.get(2)?,
                            danceability: r.get(3)?,
                            acousticness: r.get(4)?,
                        },
                        FeatureSource::parse(&r.get::<_, String>(5)?),
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Present, playable tracks (not gone, not broken) with their features if any.
    pub fn candidates(&self) -> Result<Vec<Candidate>, LibraryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT t.id, t.path, t.title, t.artist, f.valence, f.energy, f.tempo, f.danceability, f.acousticness
                 FROM tracks t LEFT JOIN features f ON f.track_id = t.id
                 WHERE t.gone = 0 AND t.broken IS NULL ORDER BY t.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let valence: Option<f32> = r.get(4)?;
                let energy: Option<f32> = r.get(5)?;
                Ok(Candidate {
                    id: r.get(0)?,
                    path: PathBuf::from(r.get::<_, String>(1)?),
                    title: r.get(2)?,
                    artist: r.get(3)?,
                    features: valence.zip(energy).map(|(valence, energy)| Features {
                        valence,
                        energy,
                        tempo: r.get(6).ok().flatten(),
                        danceability: r.get(7).ok().flatten(),
                        acousticness: r.get(8).ok().flatten(),
                    }),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Identity of every present track, for matching imported rows.
    pub fn track_keys(&self) -> Result<Vec<TrackKey>, LibraryError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, path, artist, title FROM tracks WHERE gone = 0")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(TrackKey {
                    id: r.get(0)?,
                    path: PathBuf::from(r.get::<_, String>(1)?),
                    artist: r.get(2)?,
                    title: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Starts a play; the row says `playing` until `finish_play`, so a crash leaves evidence.
    pub fn start_play(&self, track_id: i64, emotion: Emotion) -> Result<i64, LibraryError> {
        self.conn
            .query_row(
                "INSERT INTO plays (track_id, emotion, started_at) VALUES (?1, ?2, ?3) RETURNING id",
                params![track_id, emotion.name(), unix_now()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    pub fn finish_play(
        &self,
        play_id: i64,
        outcome: Outcome,
        listened: Duration,
    ) -> Result<(), LibraryError> {
        self.conn
            .execute(
                "UPDATE plays SET outcome = ?2, ended_at = ?3, listened_ms = ?4 WHERE id = ?1",
                params![
                    play_id,
                    outcome.name(),
                    unix_now(),
                    listened.as_millis() as i64
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Plays left `playing` by a process that died are closed as interrupted.
    pub fn close_dangling_plays(&self) -> Result<usize, LibraryError> {
        self.conn
            .execute(
                "UPDATE plays SET outcome = 'interrupted', ended_at = started_at WHERE outcome = 'playing'",
                [],
            )
            .map_err(|e| self.err(e))
    }

    /// `value` +1 is a like; -1 is "not for this mood" (a long press on like).
    pub fn record_like(
        &self,
        track_id: i64,
        emotion: Emotion,
        value: i8,
    ) -> Result<(), LibraryError> {
        self.conn
            .execute(
                "INSERT INTO likes (track_id, emotion, value, at) VALUES (?1, ?2, ?3, ?4)",
                params![track_id, emotion.name(), value.signum(), unix_now()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn record_emotion_change(
        &self,
        from: Option<Emotion>,
        to: Emotion,
        confidence: f32,
    ) -> Result<(), LibraryError> {
        self.conn
            .execute(
                "INSERT INTO emotion_changes (at, from_emotion, to_emotion, confidence) VALUES (?1, ?2, ?3, ?4)",
                params![unix_now(), from.map(Emotion::name), to.name(), confidence],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Track ids of the last `n` plays, newest first.
    pub fn recent_tracks(&self, n: usize) -> Result<Vec<i64>, LibraryError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT track_id FROM plays ORDER BY id DESC LIMIT ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([n as i64], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Likes, skips and completions per track for one emotion.
    pub fn feedback(&self, emotion: Emotion) -> Result<HashMap<i64, Feedback>, LibraryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT track_id, sum(l), sum(n), sum(s), sum(f) FROM (
                    SELECT track_id, value = 1 l, value = -1 n, 0 s, 0 f FROM likes WHERE emotion = ?1
                    UNION ALL
                    SELECT track_id, 0, 0, outcome = 'skipped', outcome = 'finished' FROM plays WHERE emotion = ?1)
                 GROUP BY track_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([emotion.name()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Feedback {
                        likes: r.get(1)?,
                        not_for_mood: r.get(2)?,
                        skips: r.get(3)?,
                        finished: r.get(4)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    pub fn counts(&self) -> Result<Counts, LibraryError> {
        let (tracks, gone, broken, with_features) = self
            .conn
            .query_row(
                "SELECT count(*), coalesce(sum(gone), 0), count(broken),
                        (SELECT count(*) FROM features f JOIN tracks t ON t.id = f.track_id WHERE t.gone = 0)
                 FROM tracks",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)),
            )
            .map_err(|e| self.err(e))?;
        let mut stmt = self
            .conn
            .prepare("SELECT format, count(*) FROM tracks WHERE gone = 0 GROUP BY format ORDER BY format")
            .map_err(|e| self.err(e))?;
        let per_format = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        Ok(Counts {
            tracks: (tracks - gone) as u64,
            with_features: with_features as u64,
            gone: gone as u64,
            broken: broken as u64,
            per_format,
        })
    }

    /// Plays, completions, skips and likes per emotion.
    pub fn emotion_stats(&self) -> Result<Vec<EmotionStats>, LibraryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e, sum(p), sum(f), sum(s), sum(l) FROM (
                    SELECT emotion e, 1 p, outcome = 'finished' f, outcome = 'skipped' s, 0 l FROM plays
                    UNION ALL SELECT emotion, 0, 0, 0, value = 1 FROM likes)
                 GROUP BY e ORDER BY sum(p) DESC, e",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(EmotionStats {
                    emotion: r.get(0)?,
                    plays: r.get::<_, i64>(1)? as u64,
                    finished: r.get::<_, i64>(2)? as u64,
                    skips: r.get::<_, i64>(3)? as u64,
                    likes: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The most liked tracks: (label, likes).
    pub fn top_liked(&self, n: usize) -> Result<Vec<(String, u64)>, LibraryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT coalesce(t.artist || ' – ' || t.title, t.title, t.path), count(*) c FROM likes l
                 JOIN tracks t ON t.id = l.track_id WHERE l.value = 1
                 GROUP BY l.track_id ORDER BY c DESC, t.id LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([n as i64], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Runs `f` inside one transaction (a scan or an import commits once, or not at all).
    pub fn in_transaction<T, E: From<LibraryError>>(
        &mut self,
        f: impl FnOnce(&Library) -> Result<T, E>,
    ) -> Result<T, E> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackKey {
    pub id: i64,
    pub path: PathBuf,
    pub artist: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownFile {
    pub id: i64,
    pub size: u64,
    pub mtime: i64,
    pub gone: bool,
    pub fingerprint: Option<i64>,
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(path: &str) -> TrackMeta {
        TrackMeta {
            path: path.into(),
            title: Some("T".into()),
            artist: Some("A".into()),
            album: None,
            track_no: Some(1),
            duration: Duration::from_secs(180),
            format: "flac".into(),
            sample_rate: Some(44100),
            size: 1000,
            mtime: 5,
            fingerprint: 42,
        }
    }

    #[test]
    fn migrates_an_empty_database_to_the_latest_schema() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::open(&dir.path().join("sub/lib.db")).unwrap();
        assert_eq!(lib.schema_version().unwrap(), SCHEMA_VERSION);
        let mode: String = lib
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn migrates_a_version_1_database_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO tracks (path, duration_ms, format, size, mtime, added_at) VALUES ('/m/a.mp3', 1, 'mp3', 1, 1, 1)",
                [],
            )
            .unwrap();
        }
        let lib = Library::open(&path).unwrap();
        assert_eq!(lib.schema_version().unwrap(), SCHEMA_VERSION);
        let known = lib.known_files().unwrap();
        assert_eq!(known[Path::new("/m/a.mp3")].fingerprint, None);
        lib.mark_broken(known[Path::new("/m/a.mp3")].id, "bad frame")
            .unwrap();
        assert!(lib.candidates().unwrap().is_empty());
    }

    #[test]
    fn newer_and_corrupt_databases_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let newer = dir.path().join("newer.db");
        {
            let conn = Connection::open(&newer).unwrap();
            conn.execute_batch("CREATE TABLE x (y); PRAGMA user_version = 99;")
                .unwrap();
        }
        let before = std::fs::read(&newer).unwrap();
        let err = Library::open(&newer).err().unwrap();
        assert!(
            matches!(err, LibraryError::TooNew { found: 99, .. }),
            "{err}"
        );
        assert_eq!(std::fs::read(&newer).unwrap(), before);
        assert!(!dir.path().join("newer.db-wal").exists());

        let corrupt = dir.path().join("corrupt.db");
        let junk: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&corrupt, &junk).unwrap();
        let err = Library::open(&corrupt).err().unwrap();
        assert!(matches!(err, LibraryError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("corrupt.db"));
        assert_eq!(std::fs::read(&corrupt).unwrap(), junk);
    }

    #[test]
    fn feature_sources_do_not_overwrite_stronger_ones() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::open(&dir.path().join("lib.db")).unwrap();
        let id = lib.upsert_track(&meta("/m/a.flac")).unwrap();
        let f = |v| Features {
            valence: v,
            energy: v,
            ..Default::default()
        };
        assert!(lib
            .set_features(id, &f(0.1), FeatureSource::Import)
            .unwrap());
        assert!(!lib
            .set_features(id, &f(0.9), FeatureSource::Analysis)
            .unwrap());
        assert!(!lib.set_features(id, &f(0.9), FeatureSource::Tag).unwrap());
        assert_eq!(
            lib.features(id).unwrap().unwrap(),
            (f(0.1), FeatureSource::Import)
        );
        assert!(lib
            .set_features(id, &f(0.2), FeatureSource::Import)
            .unwrap());
    }

    #[test]
    fn plays_likes_and_feedback() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::open(&dir.path().join("lib.db")).unwrap();
        let a = lib.upsert_track(&meta("/m/a.flac")).unwrap();
        let b = lib.upsert_track(&meta("/m/b.flac")).unwrap();
        let p = lib.start_play(a, Emotion::Happy).unwrap();
        lib.finish_play(p, Outcome::Skipped, Duration::from_secs(3))
            .unwrap();
        let p = lib.start_play(b, Emotion::Happy).unwrap();
        lib.record_like(b, Emotion::Happy, 1).unwrap();
        lib.finish_play(p, Outcome::Finished, Duration::from_secs(180))
            .unwrap();
        lib.start_play(a, Emotion::Sad).unwrap();
        assert_eq!(lib.recent_tracks(2).unwrap(), vec![a, b]);
        let fb = lib.feedback(Emotion::Happy).unwrap();
        assert_eq!(
            fb[&a],
            Feedback {
                skips: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            fb[&b],
            Feedback {
                likes: 1,
                finished: 1,
                ..Default::default()
            }
        );
        assert_eq!(lib.close_dangling_plays().unwrap(), 1);
        assert_eq!(lib.top_liked(5).unwrap(), vec![("A – T".to_string(), 1)]);
        let stats = lib.emotion_stats().unwrap();
        assert_eq!(
            stats[0],
            EmotionStats {
                emotion: "happy".into(),
                plays: 2,
                finished: 1,
                skips: 1,
                likes: 1
            }
        );
    }
}
