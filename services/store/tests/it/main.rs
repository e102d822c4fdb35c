//! Integration tests of `outpost-store`: layout, durable delivery, the index
//! (UIDs, flags, MODSEQ, tombstones), rebuild, and concurrent delivery.

mod copy;
mod store;
