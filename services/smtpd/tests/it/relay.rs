//! Store and forward (filled in below).
