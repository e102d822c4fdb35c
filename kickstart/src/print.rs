//! Canonical printing (what `ksflatten` shows).
