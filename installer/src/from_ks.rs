//! Reads the storage commands of a parsed answer file into a [`StorageSpec`].
//!
//! The `kickstart` crate accepts everything pykickstart accepts and keeps
//! options it does not model in `extra` maps; this is where the installer
//! decides what it can honour. Anything it cannot (`raid`, `volgroup`,
//! `logvol`, LUKS, `--onpart`, `--noformat`, unknown `part` options) is
//! recorded as unsupported so [`crate::plan::make_plan`] refuses it at plan
//! time, naming the line — never silently ignored.

use crate::spec::{
    AutoPart, Bootloader, ClearPart, ClearWhich, IgnoreDisk, PartRequest, StorageSpec,
};
use outpost_kickstart::{ClearKind, Kickstart};

/// Options of `part` that have no effect on a fresh GPT install and are accepted.
const HARMLESS_PART_OPTS: &[&str] = &["asprimary", "fsprofile", "mkfsoptions"];

/// Builds the planner's view of `ks`.
pub fn storage_spec(ks: &Kickstart) -> StorageSpec {
    let mut spec = StorageSpec {
        zerombr: ks.zerombr,
        reqpart: ks.reqpart.as_ref().map(|r| r.add_boot),
        ..Default::default()
    };
    if let Some(ig) = &ks.ignoredisk {
        spec.ignoredisk = if !ig.onlyuse.is_empty() {
            Some(IgnoreDisk::OnlyUse(ig.onlyuse.clone()))
        } else if !ig.ignoredisk.is_empty() {
            Some(IgnoreDisk::Drives(ig.ignoredisk.clone()))
        } else {
            None
        };
    }
    if let Some(cp) = &ks.clearpart {
        let which = if !cp.devices.is_empty() {
            ClearWhich::List(cp.devices.clone())
        } else {
            match cp.kind {
                Some(ClearKind::All) => ClearWhich::All,
                Some(ClearKind::Linux) => ClearWhich::Linux,
                // pykickstart: `clearpart --initlabel` alone clears nothing
                // but relabels; with `--drives` and no kind, Anaconda treats
                // the drives as to be cleared entirely (CLEARPART_TYPE_ALL is
                // not implied) — we follow the strict reading: nothing.
                Some(ClearKind::None) | None => ClearWhich::None,
            }
        };
        spec.clearpart = Some(ClearPart {
            which,
            drives: (!cp.drives.is_empty()).then(|| cp.drives.clone()),
            initlabel: cp.initlabel,
            disklabel: cp.disklabel.clone(),
        });
    }
    if let Some(ap) = &ks.autopart {
        spec.autopart = Some(AutoPart {
            kind: ap.kind.clone(),
            fstype: ap.fstype.clone(),
            noswap: ap.noswap,
            nohome: ap.nohome,
            noboot: ap.noboot,
            encrypted: ap.encrypted,
        });
    }
    for p in &ks.partitions {
        let mut unsupported = Vec::new();
        if p.encrypted {
            unsupported.push("--encrypted".to_owned());
        }
        if let Some(o) = &p.onpart {
            unsupported.push(format!("--onpart={o}"));
        }
        if p.noformat {
            unsupported.push("--noformat".to_owned());
        }
        if p.fsoptions.is_some() {
            unsupported.push("--fsoptions".to_owned());
        }
        for k in p.extra.keys() {
            if !HARMLESS_PART_OPTS.contains(&k.as_str()) {
                unsupported.push(format!("--{k}"));
            }
        }
        spec.parts.push(PartRequest {
            mountpoint: p.mountpoint.clone(),
            size: p.size,
            grow: p.grow,
            maxsize: p.maxsize,
            ondisk: p.disk.clone(),
            fstype: p.fstype.clone(),
            label: p.label.clone(),
            recommended: p.recommended,
            unsupported,
            line: p.origin.line as usize,
        });
    }
    // Everything else that lays out storage is refused with its line (the
    // model keeps no origin for raid/volgroup/logvol, so line 0 means "the
    // answer file").
    for r in &ks.raids {
        spec.unsupported.push((format!("raid {}", r.mountpoint), 0));
    }
    for v in &ks.volgroups {
        spec.unsupported.push((format!("volgroup {}", v.name), 0));
    }
    for l in &ks.logvols {
        spec.unsupported
            .push((format!("logvol {}", l.mountpoint), 0));
    }
    if let Some(b) = &ks.bootloader {
        spec.bootloader = Some(Bootloader {
            location: if b.disabled {
                Some("none".into())
            } else {
                b.location.clone()
            },
            append: b.append.clone(),
            boot_drive: b
                .boot_drive
                .clone()
                .or_else(|| b.driveorder.first().cloned()),
            timeout: b.timeout,
        });
    }
    spec
}
