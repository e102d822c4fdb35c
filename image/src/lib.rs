//! Format writers for the Outpost boot media: a newc `cpio` writer for the
//! initramfs, a deterministic `tar` + zstd packer for the payload root
//! filesystem, a FAT (EFI System Partition) image builder on `fatfs`, an
//! ISO 9660 + El Torito + GPT hybrid writer driving Debian's `xorriso`, and
//! `SHA256SUMS` helpers.
//!
//! **API boundary:** this crate knows formats, not the product: it has no
//! knowledge of the services, the installer or Debian packages. Every writer
//! is deterministic: the caller passes the timestamp (`SOURCE_DATE_EPOCH`)
//! and every seed; entries are written in sorted order with numeric owners,
//! so the same inputs give byte-identical outputs.
#![deny(missing_docs)]

pub mod cpio;
pub mod esp;
pub mod iso;
pub mod sums;
pub mod tarball;
mod time;

pub use self::time::civil_from_unix;
