//! Following the listener's face between frames: once a face is found, the next frames are
//! searched only around it (a square twice its size), which costs a fraction of a full-frame
//! search; a full search runs every `full_search_every` frames (to notice someone closer
//! to the box) and whenever the face is lost. A pure state machine: the pipeline asks
//! `plan` what to search, runs the detector, and reports back with `update`.

use super::{FaceBox, Region};

/// Side of the searched square around the last face, as a multiple of the face's size.
pub const REGION_FACTOR: f64 = 2.0;

/// What to search in the next frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    Full,
    Around(Region),
}

#[derive(Debug, Clone)]
pub struct Tracker {
    full_search_every: u32,
    last: Option<FaceBox>,
    /// Frames since the last full search.
    since_full: u32,
}

impl Tracker {
    /// `full_search_every`: a full search at least every N frames (1 = every frame).
    pub fn new(full_search_every: u32) -> Tracker {
        Tracker {
            full_search_every: full_search_every.max(1),
            last: None,
            since_full: 0,
        }
    }

    /// The face being followed, if any.
    pub fn face(&self) -> Option<FaceBox> {
        self.last
    }

    /// Forgets the face: the next search is a full one (a new scene, a camera reconnect).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// What to search in the next frame, of `width`x`height` pixels.
    pub fn plan(&self, width: usize, height: usize) -> Search {
        match self.last {
            Some(face) if self.since_full + 1 < self.full_search_every => {
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
    /// overlaps the followed one most. An empty region search loses the face, so the next
    /// `plan` is a full search (the pipeline runs it on the same frame).
    pub fn update(&mut self, search: Search, faces: &[FaceBox]) -> Option<FaceBox> {
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
    fn searches_around_the_face_and_fully_every_n_frames() {
        let mut t = Tracker::new(3);
        assert_eq!(t.plan(320, 240), Search::Full);
        assert_eq!(
            t.update(Search::Full, &[b(100, 80, 60)]),
            Some(b(100, 80, 60))
        );
        let region = Region {
            x: 70,
            y: 50,
            width: 120,
            height: 120,
        };
        assert_eq!(t.plan(320, 240), Search::Around(region));
        t.update(Search::Around(region), &[b(102, 80, 60)]);
        assert!(matches!(t.plan(320, 240), Search::Around(_)));
        t.update(t.plan(320, 240), &[b(104, 80, 60)]);
        // Third frame after the full search: full again.
        assert_eq!(t.plan(320, 240), Search::Full);
        t.update(Search::Full, &[b(104, 80, 60)]);
        assert!(matches!(t.plan(320, 240), Search::Around(_)));
        // Every frame a full search.
        let mut every = Tracker::new(1);
        every.update(Search::Full, &[b(100, 80, 60)]);
        assert_eq!(every.plan(320, 240), Search::Full);
    }

    #[test]
    fn a_lost_face_means_a_full_search_next() {
        let mut t = Tracker::new(10);
        t.update(Search::Full, &[b(100, 80, 60)]);
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
        let mut t = Tracker::new(5);
        t.update(Search::Full, &[b(-10, 200, 60)]);
        assert_eq!(t.plan(320, 240), Search::Around(r));
    }
}
