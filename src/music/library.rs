//! The music library in SQLite: tracks, their features, plays, likes and emotion changes.
//!
//! Durability: WAL with `synchronous = FULL`, so a transaction that has returned is on disk
//! (a like survives a power cut the instant `record_like` returns). Writes are rare on a
//! music box, so the extra fsync per commit costs nothing noticeable.

use crate::emotion::Emotion;
use crate::music::analysis::Analysis;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
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
    // 3: measured audio (`moodbox analyze`): loudness for playback gain, tempo, key, mood.
    // A row with NULL measurements and an `error` is a file that could not be analysed (not
    // retried until it changes); `analysed_at` NULL asks for it to be redone (`--force`).
    // ReplayGain tags are read at scan time into tracks.
    "CREATE TABLE analysis (
        track_id       INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
        analysed_mtime INTEGER NOT NULL,
        lufs           REAL,
        gain_db        REAL,
        true_peak_dbtp REAL,
        tempo          REAL,
        key            TEXT,
        energy         REAL,
        valence        REAL,
        analysed_at    INTEGER,
        error          TEXT
    );
    ALTER TABLE tracks ADD COLUMN replaygain_db REAL;
    ALTER TABLE tracks ADD COLUMN replaygain_peak REAL;",
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

impl Feedback {
    /// Counts a history (`Library::history`) per track.
    pub fn tally(history: &[(i64, Signal)]) -> IdMap<Feedback> {
        let mut out = IdMap::<Feedback>::default();
        for &(id, signal) in history {
            let fb = out.entry(id).or_default();
            match signal {
                Signal::Finished => fb.finished += 1,
                Signal::Skipped { .. } => fb.skips += 1,
                Signal::Like => fb.likes += 1,
                Signal::NotForMood => fb.not_for_mood += 1,
            }
        }
        out
    }
}

/// What the listener did with a track under one emotion, for learning their taste.
#[derive(Debug, Clone, PartialEq)]
pub struct TasteEvent {
    pub track_id: i64,
    /// `taste::Artists` id (`taste::NO_ARTIST` when unknown).
    pub artist: u32,
    pub features: Option<Features>,
    pub signal: Signal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Finished,
    Skipped { listened: Duration },
    Like,
    NotForMood,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Counts {
    pub tracks: u64,
    pub with_features: u64,
    pub gone: u64,
    pub broken: u64,
    /// Present tracks measured by `moodbox analyze` (as the file is now).
    pub analysed: u64,
    /// Present tracks whose analysis failed (undecodable or too short).
    pub analysis_failed: u64,
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

/// A file's ReplayGain tags (`REPLAYGAIN_TRACK_GAIN` / `_PEAK`), read at scan time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReplayGain {
    /// Track gain, dB.
    pub gain_db: Option<f32>,
    /// Track peak, linear (1.0 = full scale).
    pub peak: Option<f32>,
}

/// What `moodbox analyze` stored for a track.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredAnalysis {
    /// The file's mtime when it was analysed; a different mtime now means "analyse again".
    pub analysed_mtime: i64,
    pub lufs: Option<f32>,
    pub gain_db: Option<f32>,
    pub true_peak_dbtp: Option<f32>,
    pub tempo: Option<f32>,
    pub key: Option<String>,
    pub energy: Option<f32>,
    pub valence: Option<f32>,
    /// Unix seconds; `None` once `force_reanalysis` asked for it to be redone.
    pub analysed_at: Option<i64>,
    /// Why the file could not be analysed (then the measurements are `None`).
    pub error: Option<String>,
}

/// Loudness normalisation brings every track to `analysis::loudness::REFERENCE_LUFS`
/// (-18 LUFS, ReplayGain 2.0), but never pushes its true peak above this (EBU R128's
/// ceiling), dBTP.
pub const PEAK_CEILING_DBTP: f32 = -1.0;
/// Largest boost for a track whose peak is unknown, dB.
pub const BLIND_BOOST_DB: f32 = 6.0;
/// Largest boost at all, dB: a near-silent track is not raised into audible hiss.
pub const MAX_BOOST_DB: f32 = 20.0;

/// The playback gain (dB) for a track: its ReplayGain tag when it has one, else the gain
/// measured by analysis; limited so that the peak stays at or below `PEAK_CEILING_DBTP`
/// when the true peak is known, else to at most `BLIND_BOOST_DB` of boost. `None` when
/// neither a tag nor a measurement is known.
pub fn playback_gain(
    tag_db: Option<f32>,
    measured_db: Option<f32>,
    peak_dbtp: Option<f32>,
) -> Option<f32> {
    let gain = tag_db
        .filter(|g| g.is_finite())
        .or(measured_db.filter(|g| g.is_finite()))?;
    let limit = match peak_dbtp.filter(|p| p.is_finite()) {
        Some(peak) => PEAK_CEILING_DBTP - peak,
        None => BLIND_BOOST_DB,
    };
    Some(gain.min(limit).min(MAX_BOOST_DB))
}

pub struct Library {
    conn: Connection,
    path: PathBuf,
}

/// The schema version of an open database, read without writing; a file that is not a
/// database, or one from a newer moodbox, is an error.
fn probe_version(conn: &Connection, path: &Path) -> Result<i64, LibraryError> {
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
    Ok(version)
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// How long a connection waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `PRAGMA journal_mode = WAL`, retried while busy: when two processes open a new library at
/// once, SQLite answers the loser's switch with SQLITE_BUSY at once, without calling the
/// busy handler (3% of runs of `two_processes_opening_a_new_library_at_once_both_succeed`
/// failed so). Returns the mode now in force.
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
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
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // Read-only probes first: nothing may be written to a file we do not understand.
        let version = probe_version(&conn, path)?;
        let mode = switch_to_wal(&conn).map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            // A filesystem without shared memory (some network mounts) keeps the old journal.
            log::warn!("{}: journal mode is {mode}, not WAL", path.display());
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(sqlite)?;
        let mut lib = Library {
            conn,
            path: path.to_path_buf(),
        };
        lib.migrate(version, SCHEMA_VERSION)?;
        Ok(lib)
    }

    /// Schema version and track count, read without writing anything (no migration, no
    /// WAL switch): for `moodbox doctor`, which may run as another user than the service.
    pub fn inspect(path: &Path) -> Result<(i64, u64), LibraryError> {
        let corrupt = |source| LibraryError::Corrupt {
            path: path.to_path_buf(),
            source,
        };
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(corrupt)?;
        let version = probe_version(&conn, path)?;
        let tracks: i64 = if version == 0 {
            0
        } else {
            conn.query_row("SELECT count(*) FROM tracks WHERE gone = 0", [], |r| {
                r.get(0)
            })
            .map_err(corrupt)?
        };
        Ok((version, tracks.max(0) as u64))
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
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|source| LibraryError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
            // Another process opening the library at the same moment may have applied it.
            let applied: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|source| LibraryError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
            if applied > i as i64 {
                continue;
            }
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

    /// Runs `f` in its own committed transaction, or inside the caller's when one is open.
    fn atomically<T>(
        &self,
        f: impl FnOnce() -> Result<T, LibraryError>,
    ) -> Result<T, LibraryError> {
        if !self.conn.is_autocommit() {
            return f();
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.err(e))?;
        match f() {
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

    /// Present, playable tracks that were never analysed, changed since (their mtime
    /// differs), or were asked to be redone: (id, path, mtime), in id order.
    pub fn tracks_needing_analysis(&self) -> Result<Vec<(i64, PathBuf, i64)>, LibraryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT t.id, t.path, t.mtime FROM tracks t LEFT JOIN analysis a ON a.track_id = t.id
                 WHERE t.gone = 0 AND t.broken IS NULL
                   AND (a.track_id IS NULL OR a.analysed_mtime != t.mtime OR a.analysed_at IS NULL)
                 ORDER BY t.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, PathBuf::from(r.get::<_, String>(1)?), r.get(2)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Stores the analysis of track `id` (as of file mtime `mtime`) and its valence, energy
    /// and tempo as features from analysis (imported or tagged features are kept), in one
    /// committed transaction. Returns whether the features were written.
    pub fn store_analysis(&self, id: i64, mtime: i64, a: &Analysis) -> Result<bool, LibraryError> {
        let finite = |x: f32| x.is_finite().then_some(x);
        let tempo = finite(a.rhythm.tempo_bpm).filter(|t| *t > 0.0);
        self.atomically(|| {
            self.conn
                .execute(
                    "INSERT OR REPLACE INTO analysis (track_id, analysed_mtime, lufs, gain_db, true_peak_dbtp,
                                                      tempo, key, energy, valence, analysed_at, error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL)",
                    params![
                        id,
                        mtime,
                        finite(a.loudness.integrated_lufs),
                        finite(a.loudness.track_gain_db),
                        finite(a.loudness.true_peak_dbtp),
                        tempo,
                        a.key.to_string(),
                        finite(a.energy),
                        finite(a.valence),
                        unix_now()
                    ],
                )
                .map_err(|e| self.err(e))?;
            if !(a.valence.is_finite() && a.energy.is_finite()) {
                return Ok(false);
            }
            let features = Features {
                valence: a.valence.clamp(0.0, 1.0),
                energy: a.energy.clamp(0.0, 1.0),
                tempo,
                ..Default::default()
            };
            self.set_features(id, &features, FeatureSource::Analysis)
        })
    }

    /// Records that track `id` (as of mtime `mtime`) could not be analysed, so it is not
    /// tried again until the file changes. The track stays playable: only the player marks
    /// tracks broken.
    pub fn store_analysis_failure(
        &self,
        id: i64,
        mtime: i64,
        error: &str,
    ) -> Result<(), LibraryError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO analysis (track_id, analysed_mtime, analysed_at, error)
                 VALUES (?1, ?2, ?3, ?4)",
                params![id, mtime, unix_now(), error],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Asks for every track to be analysed again (`moodbox analyze --force`). The old
    /// measurements stay in use until each is replaced, so a stopped run loses nothing.
    pub fn force_reanalysis(&self) -> Result<usize, LibraryError> {
        self.conn
            .execute("UPDATE analysis SET analysed_at = NULL", [])
            .map_err(|e| self.err(e))
    }

    pub fn stored_analysis(&self, id: i64) -> Result<Option<StoredAnalysis>, LibraryError> {
        self.conn
            .query_row(
                "SELECT analysed_mtime, lufs, gain_db, true_peak_dbtp, tempo, key, energy, valence,
                        analysed_at, error
                 FROM analysis WHERE track_id = ?1",
                [id],
                |r| {
                    Ok(StoredAnalysis {
                        analysed_mtime: r.get(0)?,
                        lufs: r.get(1)?,
                        gain_db: r.get(2)?,
                        true_peak_dbtp: r.get(3)?,
                        tempo: r.get(4)?,
                        key: r.get(5)?,
                        energy: r.get(6)?,
                        valence: r.get(7)?,
                        analysed_at: r.get(8)?,
                        error: r.get(9)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Stores the ReplayGain tags a scan read (or clears them when the file has none).
    pub fn set_replaygain(&self, id: i64, rg: ReplayGain) -> Result<(), LibraryError> {
        self.conn
            .execute(
                "UPDATE tracks SET replaygain_db = ?2, replaygain_peak = ?3 WHERE id = ?1",
                params![id, rg.gain_db, rg.peak],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The loudness-normalising gain for playing track `id` (see `playback_gain`): its
    /// ReplayGain tag, else the analysis of the file as it is now; `None` when neither is
    /// known (play it as it is).
    pub fn track_gain(&self, id: i64) -> Result<Option<f32>, LibraryError> {
        self.conn
            .query_row(
                "SELECT t.replaygain_db, t.replaygain_peak, a.gain_db, a.true_peak_dbtp
                 FROM tracks t LEFT JOIN analysis a ON a.track_id = t.id AND a.analysed_mtime = t.mtime
                 WHERE t.id = ?1",
                [id],
                |r| {
                    let tag: Option<f32> = r.get(0)?;
                    let tag_peak: Option<f32> = r.get(1)?;
                    let measured: Option<f32> = r.get(2)?;
                    let true_peak: Option<f32> = r.get(3)?;
                    let tag_peak_db = tag_peak
                        .filter(|p| *p > 0.0)
                        .map(|p| 20.0 * p.log10());
                    Ok(playback_gain(tag, measured, true_peak.or(tag_peak_db)))
                },
            )
            .optional()
            .map(Option::flatten)
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

    /// Changes whenever anything is written to the library, by this connection (SQLite's
    /// `total_changes()`) or by another one (`PRAGMA data_version`): what a cache of
    /// history-derived values checks before it is reused.
    pub fn write_stamp(&self) -> Result<(i64, i64), LibraryError> {
        self.conn
            .prepare_cached("SELECT total_changes(), data_version FROM pragma_data_version")
            .and_then(|mut stmt| stmt.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
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
    pub fn feedback(&self, emotion: Emotion) -> Result<IdMap<Feedback>, LibraryError> {
        Ok(Feedback::tally(&self.history(emotion)?))
    }

    /// What the listener did under `emotion`, oldest first: each finished or skipped play
    /// and each like or "not for this mood", by track id. One scan of two small tables, so
    /// the recommender can reload it after every song.
    pub fn history(&self, emotion: Emotion) -> Result<Vec<(i64, Signal)>, LibraryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT track_id, outcome, listened_ms FROM plays
                 WHERE emotion = ?1 AND outcome IN ('finished', 'skipped')
                 UNION ALL
                 SELECT track_id, iif(value = 1, 'like', 'not-for-mood'), NULL FROM likes
                 WHERE emotion = ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([emotion.name()], |r| {
                let listened =
                    Duration::from_millis(r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64);
                let signal = match r.get_ref(1)?.as_str()? {
                    "finished" => Signal::Finished,
                    "skipped" => Signal::Skipped { listened },
                    "like" => Signal::Like,
                    _ => Signal::NotForMood,
                };
                Ok((r.get(0)?, signal))
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
        let (analysed, analysis_failed) = self
            .conn
            .query_row(
                "SELECT count(*), count(a.error) FROM analysis a JOIN tracks t ON t.id = a.track_id
                 WHERE t.gone = 0 AND a.analysed_mtime = t.mtime",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
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
            analysed: (analysed - analysis_failed) as u64,
            analysis_failed: analysis_failed as u64,
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

/// Hashes track ids with one multiply: the recommender looks every candidate up, and
/// SipHash would cost more than the whole score.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i64(&mut self, i: i64) {
        self.0 = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by track id.
pub type IdMap<V> = HashMap<i64, V, std::hash::BuildHasherDefault<IdHasher>>;

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
    fn migrates_a_version_2_database_to_3_keeping_its_rows_and_analysis_pending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute_batch(
                "INSERT INTO tracks (id, path, duration_ms, format, size, mtime, added_at, fingerprint)
                     VALUES (1, '/m/a.flac', 1, 'flac', 1, 7, 1, 42);
                 INSERT INTO features (track_id, valence, energy, source) VALUES (1, 0.2, 0.3, 'import');
                 INSERT INTO plays (track_id, emotion, started_at) VALUES (1, 'sad', 1);",
            )
            .unwrap();
        }
        let lib = Library::open(&path).unwrap();
        assert_eq!(lib.schema_version().unwrap(), 3);
        assert_eq!(
            lib.features(1).unwrap().map(|(f, s)| (f.valence, s)),
            Some((0.2, FeatureSource::Import))
        );
        assert_eq!(lib.recent_tracks(5).unwrap(), vec![1]);
        assert_eq!(
            lib.tracks_needing_analysis().unwrap(),
            vec![(1, PathBuf::from("/m/a.flac"), 7)]
        );
        assert_eq!(lib.track_gain(1).unwrap(), None);
        assert_eq!(lib.stored_analysis(1).unwrap(), None);
    }

    fn analysis(lufs: f32, peak: f32) -> Analysis {
        use crate::music::analysis::{Key, Loudness, Mode, Rhythm, Spectrum};
        Analysis {
            duration: Duration::from_secs(180),
            sample_rate: 44_100,
            channels: 2,
            loudness: Loudness {
                integrated_lufs: lufs,
                track_gain_db: -18.0 - lufs,
                range_lu: 5.0,
                true_peak_dbtp: peak,
                sample_peak_dbfs: peak,
                rms_dbfs: lufs,
                crest_db: peak - lufs,
            },
            spectrum: Spectrum::default(),
            rhythm: Rhythm {
                tempo_bpm: 128.0,
                ..Default::default()
            },
            key: Key {
                tonic: 9,
                mode: Mode::Minor,
                strength: 0.8,
                mode_clarity: -0.2,
            },
            valence: 0.3,
            energy: 0.7,
        }
    }

    #[test]
    fn playback_gain_prefers_the_tag_and_guards_the_peak() {
        // Measured only: a quiet track is raised to -18 LUFS while its peak allows.
        assert_eq!(playback_gain(None, Some(12.0), Some(-20.0)), Some(12.0));
        assert_eq!(playback_gain(None, Some(12.0), Some(-5.0)), Some(4.0));
        // Unknown peak: at most +6 dB of boost; cuts pass unchanged.
        assert_eq!(playback_gain(None, Some(12.0), None), Some(6.0));
        assert_eq!(playback_gain(None, Some(-8.0), None), Some(-8.0));
        // The tag wins over the measurement, and is guarded too.
        assert_eq!(playback_gain(Some(-3.0), Some(5.0), Some(-1.0)), Some(-3.0));
        assert_eq!(playback_gain(Some(4.0), Some(5.0), Some(-2.0)), Some(1.0));
        // Silence is not raised into hiss.
        assert_eq!(
            playback_gain(None, Some(52.0), Some(-200.0)),
            Some(MAX_BOOST_DB)
        );
        assert_eq!(playback_gain(None, None, Some(-3.0)), None);
        assert_eq!(playback_gain(Some(f32::NAN), Some(2.0), None), Some(2.0));
    }

    #[test]
    fn stored_analysis_sets_features_gain_and_is_redone_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::open(&dir.path().join("lib.db")).unwrap();
        let a = lib.upsert_track(&meta("/m/a.flac")).unwrap();
        let b = lib.upsert_track(&meta("/m/b.flac")).unwrap();
        let c = lib.upsert_track(&meta("/m/c.flac")).unwrap();
        lib.mark_broken(c, "bad frame").unwrap();
        let imported = Features {
            valence: 0.9,
            energy: 0.1,
            ..Default::default()
        };
        lib.set_features(b, &imported, FeatureSource::Import)
            .unwrap();
        let pending: Vec<i64> = lib
            .tracks_needing_analysis()
            .unwrap()
            .iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(pending, vec![a, b], "broken tracks are left alone");

        assert!(lib.store_analysis(a, 5, &analysis(-30.0, -4.0)).unwrap());
        assert!(!lib.store_analysis(b, 5, &analysis(-10.0, 0.5)).unwrap());
        assert!(lib.tracks_needing_analysis().unwrap().is_empty());
        let (f, source) = lib.features(a).unwrap().unwrap();
        assert_eq!(
            (f.valence, f.energy, f.tempo, source),
            (0.3, 0.7, Some(128.0), FeatureSource::Analysis)
        );
        assert_eq!(
            lib.features(b).unwrap().unwrap(),
            (imported, FeatureSource::Import)
        );
        let stored = lib.stored_analysis(a).unwrap().unwrap();
        assert_eq!(stored.key.as_deref(), Some("A minor"));
        assert_eq!((stored.lufs, stored.gain_db), (Some(-30.0), Some(12.0)));
        // +12 dB wanted, the -4 dBTP peak allows +3.
        assert_eq!(lib.track_gain(a).unwrap(), Some(3.0));
        assert_eq!(lib.track_gain(b).unwrap(), Some(-8.0));
        // A tag wins over the measurement.
        lib.set_replaygain(
            b,
            ReplayGain {
                gain_db: Some(-3.0),
                peak: Some(0.5),
            },
        )
        .unwrap();
        assert_eq!(lib.track_gain(b).unwrap(), Some(-3.0));

        // The file changes: its old measurement no longer applies and it is analysed again.
        lib.upsert_track(&TrackMeta {
            mtime: 6,
            ..meta("/m/a.flac")
        })
        .unwrap();
        assert_eq!(lib.track_gain(a).unwrap(), None);
        assert_eq!(
            lib.tracks_needing_analysis().unwrap(),
            vec![(a, PathBuf::from("/m/a.flac"), 6)]
        );
        lib.store_analysis_failure(a, 6, "not decodable").unwrap();
        assert!(lib.tracks_needing_analysis().unwrap().is_empty());
        assert!(
            lib.candidates().unwrap().iter().any(|t| t.id == a),
            "still playable"
        );
        let counts = lib.counts().unwrap();
        assert_eq!((counts.analysed, counts.analysis_failed), (1, 1));
        // --force: everything again, old gains still in use meanwhile.
        assert_eq!(lib.force_reanalysis().unwrap(), 2);
        assert_eq!(lib.tracks_needing_analysis().unwrap().len(), 2);
        assert_eq!(lib.track_gain(b).unwrap(), Some(-3.0));
    }

    #[test]
    fn two_processes_opening_a_new_library_at_once_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib.db");
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Library::open(&path).map(|_| ()))
            })
            .collect();
        for o in openers {
            o.join().unwrap().unwrap();
        }
        let lib = Library::open(&path).unwrap();
        assert_eq!(lib.schema_version().unwrap(), SCHEMA_VERSION);
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
        let signals = |e| {
            let mut v = lib.history(e).unwrap();
            v.sort_by_key(|(id, s)| (*id, format!("{s:?}")));
            v
        };
        let listened = Duration::from_secs(3);
        assert_eq!(
            signals(Emotion::Happy),
            vec![
                (a, Signal::Skipped { listened }),
                (b, Signal::Finished),
                (b, Signal::Like)
            ]
        );
        // A play still going teaches nothing yet.
        assert_eq!(signals(Emotion::Sad), vec![]);
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
