//! kill -9 under load (filled in below).
