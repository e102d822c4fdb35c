//! The Outpost installer as a library: discover → plan → do.
//!
//! The binary (`outpost-installer`) is the main program of the live system
//! booted from the ISO or USB stick. This library holds every stage so the
//! planner can be table-tested and run as `--dry-run` on a workstation:
//! - [`disk`]: disk discovery (sysfs or image files) and content probing;
//! - [`spec`]: the storage commands of the answer file, as the planner reads them;
//! - [`plan`]: the validated, printable storage plan (nothing written yet).
//!
//! **API boundary:** planning is pure (reads disks, never writes); only the
//! `install` stage writes, and only to disks the plan names.
#![deny(missing_docs)]

pub mod cmdline;
pub mod disk;
pub mod from_ks;
pub mod install;
pub mod layout;
pub mod plan;
pub mod scripts;
pub mod spec;
pub mod target;
