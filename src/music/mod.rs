//! The music side of the box: the SQLite library, scanning and importing into it, and the
//! recommender that picks from it.

pub mod analysis;
pub mod import;
pub mod library;
pub mod picker;
pub mod recommend;
pub mod scan;
pub mod taste;
