//! Outpost image library (work in progress).
