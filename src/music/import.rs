//! `import-features`: valence/energy (and optional tempo, danceability, acousticness) from a
//! CSV, matched to tracks by path or by normalised artist + title. Accepts the column names
//! of the public Spotify-features CSVs (`track_name`/`name`, `artists`/`artist_name`).

use crate::music::library::{FeatureSource, Features, Library, LibraryError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line 1: {message}")]
    Header { path: PathBuf, message: String },
    #[error(transparent)]
    Library(#[from] LibraryError),
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImportReport {
    pub rows: usize,
    pub matched: usize,
    /// Matched but not written: the track already has features from another import.
    pub kept_existing: usize,
    /// (line, description of the row) for rows that matched no track.
    pub unmatched: Vec<(u64, String)>,
    /// (line, what is wrong) for rows that were not applied.
    pub malformed: Vec<(u64, String)>,
}

/// Words that mark a " - …" title suffix as an edition of the same song.
const EDITION_WORDS: &[&str] = &[
    "remaster", "version", "edit", "mix", "live", "mono", "stereo", "deluxe", "single",
];

/// Lowercase, drop "feat./ft./featuring …", bracketed parts and edition suffixes
/// (" - Remastered 2011"), keep only letters and digits, collapse spaces:
/// "Get Lucky (feat. Pharrell)" and "get lucky" match.
pub fn normalise(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut cut = lower.as_str();
    if let Some(i) = cut.rfind(" - ") {
        if EDITION_WORDS.iter().any(|w| cut[i..].contains(w)) {
            cut = &cut[..i];
        }
    }
    for marker in [
        " feat.",
        " feat ",
        " ft.",
        " ft ",
        " featuring ",
        "(feat",
        "[feat",
        "(ft",
        "(with ",
    ] {
        if let Some(i) = cut.find(marker) {
            cut = &cut[..i];
        }
    }
    let mut out = String::with_capacity(cut.len());
    let mut depth = 0;
    for c in cut.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = (depth - 1).max(0),
            _ if depth > 0 => {}
            c if c.is_alphanumeric() => out.push(c),
            _ => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
        }
    }
    out.trim().to_string()
}

/// Artists as Spotify CSVs write them: "['A', 'B']" or "A;B" or plain "A".
fn artist_list(s: &str) -> Vec<String> {
    s.trim_matches(|c| c == '[' || c == ']')
        .split([',', ';'])
        .map(|a| normalise(a.trim().trim_matches(|c| c == '\'' || c == '"')))
        .filter(|a| !a.is_empty())
        .collect()
}

struct Columns {
    path: Option<usize>,
    title: Option<usize>,
    artist: Option<usize>,
    valence: usize,
    energy: usize,
    tempo: Option<usize>,
    danceability: Option<usize>,
    acousticness: Option<usize>,
}

impl Columns {
    fn find(headers: &csv::StringRecord) -> Result<Columns, String> {
        let col = |names: &[&str]| {
            headers
                .iter()
                .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
        };
        let need = |name: &str| {
            col(&[name]).ok_or_else(|| {
                format!(
                    "no `{name}` column (found: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            })
        };
        let c = Columns {
            path: col(&["path", "file"]),
            title: col(&["track_name", "name", "title"]),
            artist: col(&["artists", "artist_name", "artist"]),
            valence: need("valence")?,
            energy: need("energy")?,
            tempo: col(&["tempo"]),
            danceability: col(&["danceability"]),
            acousticness: col(&["acousticness"]),
        };
        if c.path.is_none() && (c.title.is_none() || c.artist.is_none()) {
            return Err(
                "need a `path` column, or `track_name`/`name` and `artists`/`artist_name` columns"
                    .into(),
            );
        }
        Ok(c)
    }
}

/// Reads a value; `unit` values must lie in [0, 1].
fn number(
    rec: &csv::StringRecord,
    idx: Option<usize>,
    name: &str,
    unit: bool,
) -> Result<Option<f32>, String> {
    let Some(raw) = idx
        .and_then(|i| rec.get(i))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let v: f32 = raw
        .parse()
        .map_err(|_| format!("{name}: {raw:?} is not a number"))?;
    if !v.is_finite() || (unit && !(0.0..=1.0).contains(&v)) || (!unit && v < 0.0) {
        let range = if unit { "[0, 1]" } else { "≥ 0" };
        return Err(format!("{name}: {v} is outside {range}"));
    }
    Ok(Some(v))
}

/// Imports `csv_path` into `lib` in one transaction. Well-formed matching rows are applied
/// even when other rows are bad; the report names every bad or unmatched row by line.
pub fn import_features(lib: &mut Library, csv_path: &Path) -> Result<ImportReport, ImportError> {
    let read_err = |source| ImportError::Read {
        path: csv_path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(csv_path).map_err(read_err)?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| ImportError::Header {
            path: csv_path.into(),
            message: e.to_string(),
        })?
        .clone();
    let cols = Columns::find(&headers).map_err(|message| ImportError::Header {
        path: csv_path.into(),
        message,
    })?;
    let base = csv_path.parent().unwrap_or(Path::new("."));

    let mut by_path: HashMap<PathBuf, i64> = HashMap::new();
    let mut by_name: HashMap<(String, String), Vec<i64>> = HashMap::new();
    for key in lib.track_keys()? {
        if let (Some(a), Some(t)) = (&key.artist, &key.title) {
            for a in artist_list(a) {
                by_name.entry((a, normalise(t))).or_default().push(key.id);
            }
        }
        by_path.insert(key.path, key.id);
    }

    let mut report = ImportReport::default();
    let mut rows: Vec<(u64, i64, Features)> = Vec::new();
    for rec in reader.records() {
        report.rows += 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                report.malformed.push((line, e.to_string()));
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let parsed = (|| -> Result<Features, String> {
            Ok(Features {
                valence: number(&rec, Some(cols.valence), "valence", true)?
                    .ok_or("valence: missing")?,
                energy: number(&rec, Some(cols.energy), "energy", true)?
                    .ok_or("energy: missing")?,
                tempo: number(&rec, cols.tempo, "tempo", false)?,
                danceability: number(&rec, cols.danceability, "danceability", true)?,
                acousticness: number(&rec, cols.acousticness, "acousticness", true)?,
            })
        })();
        let features = match parsed {
            Ok(f) => f,
            Err(msg) => {
                report.malformed.push((line, msg));
                continue;
            }
        };
        let field = |i: Option<usize>| {
            i.and_then(|i| rec.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let mut ids: Vec<i64> = Vec::new();
        if let Some(p) = field(cols.path) {
            let p = Path::new(p);
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            };
            ids.extend(
                by_path
                    .get(&abs)
                    .or_else(|| by_path.get(&std::path::absolute(&abs).unwrap_or(abs.clone()))),
            );
        }
        if ids.is_empty() {
            if let (Some(a), Some(t)) = (field(cols.artist), field(cols.title)) {
                let t = normalise(t);
                for a in artist_list(a) {
                    ids.extend(by_name.get(&(a, t.clone())).into_iter().flatten());
                }
                ids.sort_unstable();
                ids.dedup();
            }
        }
        if ids.is_empty() {
            let what = [field(cols.path), field(cols.artist), field(cols.title)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" / ");
            report.unmatched.push((line, what));
            continue;
        }
        rows.extend(ids.into_iter().map(|id| (line, id, features)));
    }
    lib.in_transaction(|lib| {
        for (_, id, f) in &rows {
            if lib.set_features(*id, f, FeatureSource::Import)? {
                report.matched += 1;
            } else {
                report.kept_existing += 1;
            }
        }
        Ok::<_, LibraryError>(())
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_drops_case_punctuation_and_featuring() {
        assert_eq!(
            normalise("Get Lucky (feat. Pharrell Williams)"),
            "get lucky"
        );
        assert_eq!(normalise("GET LUCKY - Radio Edit"), "get lucky");
        assert_eq!(
            normalise("Time - Pink Floyd tribute"),
            "time pink floyd tribute"
        );
        assert_eq!(
            normalise("Don't Stop Me Now ft. Someone"),
            "don t stop me now"
        );
        assert_eq!(normalise("Beyoncé"), "beyoncé");
        assert_eq!(
            artist_list("['Daft Punk', 'Pharrell Williams']"),
            vec!["daft punk", "pharrell williams"]
        );
        assert_eq!(artist_list("AC/DC"), vec!["ac dc"]);
    }
}
