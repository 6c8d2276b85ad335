//! Following the listener's face between frames: once the detector has found a face, the
//! next frames follow it by template matching (`follow`, a fraction of a millisecond);
//! when the match fails, the detector searches around the face (a square twice its size,
//! a fraction of a full-frame search), and when that fails too, the whole frame. A full
//! search also runs every `full_search_every` frames (to notice someone closer to the box,
//! and to re-measure the face's size). A pure state machine: the pipeline asks `plan` what
//! to search, runs it, and reports back with `update`.

use super::{FaceBox, Region};

/// Side of the searched square around the last face, as a multiple of the face's size.
pub const REGION_FACTOR: f64 = 2.0;

/// What to search in the next frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Search {
    /// The detector on the whole frame.
    Full,
    /// The detector on a region around the followed face.
    Around(Region),
    /// Template matching around the followed face (no detector).
    Follow(FaceBox),
}

#[derive(Debug, Clone)]
pub struct Tracker {
    full_search_every: u32,
    last: Option<FaceBox>,
    /// Frames since the last full search.
    since_full: u32,
    /// The last follow failed: the detector looks next.
    detect_next: bool,
}

impl Tracker {
    /// `full_search_every`: a full search at least every N frames (1 = every frame).
    pub fn new(full_search_every: u32) -> Tracker {
        Tracker {
            full_search_every: full_search_every.max(1),
            last: None,
            since_full: 0,
            detect_next: true,
        }
    }

    /// The face being followed, if any.
    pub fn face(&self) -> Option<FaceBox> {
        self.last
    }

    /// Forgets the face: the next search is a full one (a new scene, a camera reconnect).
    pub fn reset(&mut self) {
        self.last = None;
        self.detect_next = true;
    }

    /// What to search in the next frame, of `width`x`height` pixels.
    pub fn plan(&self, width: usize, height: usize) -> Search {
        match self.last {
            Some(face) if self.since_full + 1 < self.full_search_every => {
                if !self.detect_next {
                    return Search::Follow(face);
                }
                match around(&face, width, height) {
                    Some(r) => Search::Around(r),
                    None => Search::Full,
                }
            }
            _ => Search::Full,
        }
    }

    /// Records what `search` found and returns the face to follow: after a full search the
    /// largest face (the listener nearest the box), after a region search the face that
    /// overlaps the followed one most, after a follow the face where the template matched.
    /// A failed follow returns `None` but keeps the face, so the next `plan` is a region
    /// search around it; an empty region search loses the face, so the next `plan` is a
    /// full search (the pipeline runs both on the same frame).
    pub fn update(&mut self, search: Search, faces: &[FaceBox]) -> Option<FaceBox> {
        if let (Search::Follow(_), Some(_)) = (search, self.last) {
            let Some(&found) = faces.first() else {
                self.detect_next = true;
                return None;
            };
            self.since_full += 1;
            self.last = Some(found);
            return self.last;
        }
        self.detect_next = false;
        let chosen = match (search, self.last) {
            (Search::Around(_), Some(last)) => {
                self.since_full += 1;
                faces
                    .iter()
                    .max_by(|a, b| {
                        (a.iou(&last), a.area())
                            .partial_cmp(&(b.iou(&last), b.area()))
                            .unwrap_or(std::cmp::Ordering::Equal)
                    })
                    .copied()
            }
            _ => {
                self.since_full = 0;
                largest(faces)
            }
        };
        self.last = chosen;
        chosen
    }
}

/// The largest face, the higher score among equals.
pub fn largest(faces: &[FaceBox]) -> Option<FaceBox> {
    faces
        .iter()
        .max_by(|a, b| {
            (a.area(), a.score)
                .partial_cmp(&(b.area(), b.score))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .copied()
}

/// The square of `REGION_FACTOR` times the face's size around its centre, clipped to the
/// frame; `None` when nothing of it is inside.
pub fn around(face: &FaceBox, width: usize, height: usize) -> Option<Region> {
    let (cx, cy) = face.center();
    let half = REGION_FACTOR * face.width.max(face.height) as f64 / 2.0;
    let x0 = (cx - half).max(0.0).round() as usize;
    let y0 = (cy - half).max(0.0).round() as usize;
    let x1 = ((cx + half).round().max(0.0) as usize).min(width);
    let y1 = ((cy + half).round().max(0.0) as usize).min(height);
    (x1 > x0 && y1 > y0).then_some(Region {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: i32, y: i32, side: u32) -> FaceBox {
        FaceBox {
            x,
            y,
            width: side,
            height: side,
            score: 5.0,
        }
    }

    #[test]
    fn follows_then_searches_around_then_fully_every_n_frames() {
        let mut t = Tracker::new(4);
        assert_eq!(t.plan(320, 240), Search::Full);
        assert_eq!(
            t.update(Search::Full, &[b(100, 80, 60)]),
            Some(b(100, 80, 60))
        );
        // Frame 2: followed by template.
        assert_eq!(t.plan(320, 240), Search::Follow(b(100, 80, 60)));
        assert_eq!(
            t.update(Search::Follow(b(100, 80, 60)), &[b(102, 80, 60)]),
            Some(b(102, 80, 60))
        );
        // Frame 3: the follow fails; the face is kept and the detector looks around it.
        let s = t.plan(320, 240);
        assert_eq!(s, Search::Follow(b(102, 80, 60)));
        assert_eq!(t.update(s, &[]), None);
        assert_eq!(t.face(), Some(b(102, 80, 60)));
        let region = Region {
            x: 72,
            y: 50,
            width: 120,
            height: 120,
        };
        assert_eq!(t.plan(320, 240), Search::Around(region));
        t.update(Search::Around(region), &[b(104, 80, 60)]);
        // Frame 4: following again.
        assert_eq!(t.plan(320, 240), Search::Follow(b(104, 80, 60)));
        t.update(Search::Follow(b(104, 80, 60)), &[b(104, 81, 60)]);
        // Fourth frame after the full search: full again.
        assert_eq!(t.plan(320, 240), Search::Full);
        t.update(Search::Full, &[b(104, 80, 60)]);
        assert!(matches!(t.plan(320, 240), Search::Follow(_)));
        // Every frame a full search.
        let mut every = Tracker::new(1);
        every.update(Search::Full, &[b(100, 80, 60)]);
        assert_eq!(every.plan(320, 240), Search::Full);
    }

    /// A tracker following `face` whose last follow failed: its next plan is a region search.
    fn around_next(face: FaceBox) -> Tracker {
        let mut t = Tracker::new(10);
        t.update(Search::Full, &[face]);
        assert_eq!(t.update(Search::Follow(face), &[]), None);
        t
    }

    #[test]
    fn a_lost_face_means_a_full_search_next() {
        let mut t = around_next(b(100, 80, 60));
        let s = t.plan(320, 240);
        assert!(matches!(s, Search::Around(_)));
        assert_eq!(t.update(s, &[]), None);
        assert_eq!(t.face(), None);
        assert_eq!(t.plan(320, 240), Search::Full);
        assert_eq!(t.update(Search::Full, &[]), None);
        assert_eq!(t.plan(320, 240), Search::Full);
        t.update(Search::Full, &[b(0, 0, 50)]);
        t.reset();
        assert_eq!(t.plan(320, 240), Search::Full);
    }

    #[test]
    fn picks_the_largest_face_then_sticks_to_it() {
        let mut t = Tracker::new(10);
        let (near, far) = (b(150, 60, 90), b(20, 20, 45));
        assert_eq!(t.update(Search::Full, &[far, near]), Some(near));
        assert_eq!(t.update(Search::Follow(near), &[]), None);
        // A larger face appearing at the edge of the region does not steal the track.
        let s = t.plan(320, 240);
        let intruder = b(200, 100, 120);
        let moved = b(148, 62, 88);
        assert_eq!(t.update(s, &[intruder, moved]), Some(moved));
    }

    #[test]
    fn region_is_clipped_at_the_frame_edges() {
        let r = around(&b(-10, 200, 60), 320, 240).unwrap();
        assert_eq!(
            r,
            Region {
                x: 0,
                y: 170,
                width: 80,
                height: 70
            }
        );
        assert_eq!(around(&b(-500, -500, 60), 320, 240), None);
        // A face at the edge still gets a region search.
        let t = around_next(b(-10, 200, 60));
        assert_eq!(t.plan(320, 240), Search::Around(r));
    }
}
