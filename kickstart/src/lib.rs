//! Outpost kickstart library (work in progress).
