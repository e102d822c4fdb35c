//! Integration tests of `outpost-davstore`: layout, atomic writes, index, sync.

mod store;
