//! Storage commands against pykickstart's own checks (issue #10, item 26).
//!
//! Every row is an answer-file snippet, what pykickstart's real
//! `ksvalidator` says about it, and what Outpost says. The pykickstart
//! column was recorded by running pykickstart 3.78's `ksvalidator` (default
//! handler; its storage commands are the `F41_Partition`, `F43_Raid`,
//! `F21_VolGroup`, `F29_LogVol`, `F41_AutoPart`/`F45_AutoPart`,
//! `F23_ReqPart`, `F28_ClearPart`, `F34_IgnoreDisk`, `F39_Bootloader`
//! classes) on each snippet; the quoted text is its message and the comment
//! names the `parse()` line in pykickstart's source that raises it.
//!
//! The rule the table enforces: Outpost never accepts what pykickstart
//! rejects. Where Outpost rejects what pykickstart accepts, the row says why
//! (docs/answer-file.md lists the same differences).
//!
//! Note that `ksvalidator` turns pykickstart's `KickstartParseWarning`s into
//! errors (`warnings.filterwarnings(action="error", …)` in
//! tools/ksvalidator.py), so a duplicate mount point, RAID device, volume
//! group or logical volume fails validation there, and does here.
//!
//! CI does not need pykickstart. To check the pykickstart column again, point
//! `OUTPOST_PYKICKSTART_KSVALIDATOR` at its `ksvalidator`, e.g.
//! `python3 -m venv /tmp/pyks && /tmp/pyks/bin/pip install pykickstart` and
//! `OUTPOST_PYKICKSTART_KSVALIDATOR=/tmp/pyks/bin/ksvalidator cargo nextest
//! run -p outpost-kickstart storage`.

use std::process::Command;

use outpost_kickstart::print::flatten;

use crate::support::{TempDir, check_err, check_ok};

/// What pykickstart's `ksvalidator` said about a row.
#[derive(Clone, Copy)]
enum Py {
    /// Rejected, with this message.
    Rejects(&'static str),
    /// Accepted.
    Accepts,
}

struct Row {
    ks: &'static str,
    py: Py,
    /// Outpost's first error as printed, or `""` when Outpost accepts.
    ours: &'static str,
    /// Why Outpost rejects a file pykickstart accepts (empty otherwise).
    why: &'static str,
}

/// Both reject.
const fn both(ks: &'static str, py: &'static str, ours: &'static str) -> Row {
    Row {
        ks,
        py: Py::Rejects(py),
        ours,
        why: "",
    }
}

/// Both accept.
const fn ok(ks: &'static str) -> Row {
    Row {
        ks,
        py: Py::Accepts,
        ours: "",
        why: "",
    }
}

/// pykickstart accepts; Outpost rejects on purpose, for the reason given.
const fn stricter(ks: &'static str, ours: &'static str, why: &'static str) -> Row {
    Row {
        ks,
        py: Py::Accepts,
        ours,
        why,
    }
}

fn check(rows: &[Row]) {
    let oracle = std::env::var_os("OUTPOST_PYKICKSTART_KSVALIDATOR");
    let dir = TempDir::new("storage-oracle");
    for (i, r) in rows.iter().enumerate() {
        match (r.py, r.ours) {
            (Py::Rejects(_), "") => panic!(
                "{:?}: pykickstart rejects it, so Outpost must not accept it",
                r.ks
            ),
            (Py::Accepts, "") => match outpost_kickstart::parse_str("t.ks", r.ks) {
                // What ksflatten prints must be valid too.
                Ok(p) => {
                    let printed = flatten(&p.kickstart);
                    if let Err(d) = outpost_kickstart::parse_str("t.ks", &printed) {
                        panic!("{:?} prints as {printed:?}, which fails:\n{d}", r.ks);
                    }
                }
                Err(d) => panic!("expected {:?} to parse, got:\n{d}", r.ks),
            },
            (Py::Accepts, ours) => {
                assert!(
                    !r.why.is_empty(),
                    "{:?}: Outpost is stricter than pykickstart here; say why",
                    r.ks
                );
                check_err(r.ks, ours);
            }
            (Py::Rejects(_), ours) => check_err(r.ks, ours),
        }
        if let Some(ksvalidator) = &oracle {
            let path = dir.write(&format!("row{i}.ks"), r.ks);
            let out = Command::new(ksvalidator)
                .arg(&path)
                .output()
                .expect("running pykickstart's ksvalidator");
            // Parse errors go to stdout, argparse's to stderr.
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            match r.py {
                Py::Accepts => assert!(
                    out.status.success(),
                    "{:?}: recorded as accepted by pykickstart, but:\n{text}",
                    r.ks
                ),
                Py::Rejects(msg) => assert!(
                    !out.status.success() && text.contains(msg),
                    "{:?}: recorded as rejected by pykickstart with {msg:?}, but:\n{text}",
                    r.ks
                ),
            }
        }
    }
}

#[test]
fn part_against_pykickstart() {
    check(&[
        ok("part / --size=100\n"),
        ok("part /\n"),
        ok("part / --maxsize=5\n"),
        ok("part /tmp --fstype=tmpfs --size=100\n"),
        ok("part /tmp --fstype=tmpfs --size=100 --maxsize=0\n"),
        ok("part swap --size=1\npart swap --size=2\n"),
        ok("part / --size=1 --onpart=sda1 --resize --size=5\n"),
        ok("part / --size=5 --encrypted --luks-version=luks2-hw-opal --hw-passphrase=x\n"),
        ok("part / --size=5 --encrypted --luks-version=luks2-hw-opal-only --hw-passphrase=x\n"),
        ok("part / --size=5 --hw-passphrase=\n"),
        // pykickstart has no rule tying --passphrase, --escrowcert or
        // --backuppassphrase to --encrypted (they "do nothing" without it).
        ok("part / --size=1 --passphrase=x\n"),
        ok("part / --size=1 --escrowcert=x\n"),
        ok("part / --size=1 --backuppassphrase\n"),
        // partition.py:619 (F17_Partition.parse)
        both(
            "part / --onpart=sda1 --resize\n",
            "--resize requires --size to specify new size",
            "t.ks:1:22: error: part: --resize requires --size to give the new size",
        ),
        // partition.py:616
        both(
            "part / --size=5 --resize\n",
            "--resize can only be used in conjunction with --onpart",
            "t.ks:1:17: error: part: --resize can only be used together with --onpart",
        ),
        // partition.py:682 (F23_Partition.parse)
        both(
            "part / --size=100 --mkfsoptions=x --fsprofile=y\n",
            "--mkfsoptions and --fsprofile cannot be used together.",
            "t.ks:1:19: error: part: --mkfsoptions and --fsprofile cannot be used together",
        ),
        // partition.py:679
        both(
            "part / --noformat --mkfsoptions=-m0\n",
            "--mkfsoptions with --noformat has no effect.",
            "t.ks:1:19: error: part: --mkfsoptions with --noformat has no effect; remove one of them",
        ),
        // partition.py:735 (F29_Partition.parse)
        both(
            "part / --size=100 --pbkdf-time=3 --pbkdf-iterations=5\n",
            "Only one of --pbkdf-time and --pbkdf-iterations can be specified.",
            "t.ks:1:34: error: part: only one of --pbkdf-time and --pbkdf-iterations can be given",
        ),
        // argparse: the mount point is `nargs=1`.
        both(
            "part --size=1\n",
            "the following arguments are required: <mntpoint>",
            "t.ks:1:1: error: part: missing the mount point, e.g. `part / --fstype=ext4 --size=4096`",
        ),
        // Regressions (#26): Outpost accepted these.
        // partition.py:650-653 (F20_Partition.parse): a tmpfs has a fixed size.
        both(
            "part /tmp --fstype=tmpfs --size=100 --grow\n",
            "The --fstype=tmpfs option can't be used together with --grow or --maxsize",
            "t.ks:1:37: error: part: --fstype=tmpfs cannot be used with --grow or --maxsize (a tmpfs has a fixed size)",
        ),
        both(
            "part /tmp --fstype=tmpfs --size=100 --maxsize=200\n",
            "The --fstype=tmpfs option can't be used together with --grow or --maxsize",
            "t.ks:1:37: error: part: --fstype=tmpfs cannot be used with --grow or --maxsize (a tmpfs has a fixed size)",
        ),
        both(
            "part /tmp --type=tmpfs --maxsize=5\n",
            "The --fstype=tmpfs option can't be used together with --grow or --maxsize",
            "t.ks:1:24: error: part: --fstype=tmpfs cannot be used with --grow or --maxsize (a tmpfs has a fixed size)",
        ),
        // partition.py:811-813 (F41_Partition.parse)
        both(
            "part / --size=100 --hw-passphrase=x\n",
            "hw-passphrase may be specified only with LUKSv2 HW-OPAL encrypted devices",
            "t.ks:1:19: error: part: --hw-passphrase is only for LUKS2 HW-OPAL encryption; add --encrypted and --luks-version=luks2-hw-opal (or luks2-hw-opal-only)",
        ),
        both(
            "part / --size=100 --encrypted --hw-passphrase=x\n",
            "hw-passphrase may be specified only with LUKSv2 HW-OPAL encrypted devices",
            "t.ks:1:31: error: part: --hw-passphrase is only for LUKS2 HW-OPAL encryption; add --encrypted and --luks-version=luks2-hw-opal (or luks2-hw-opal-only)",
        ),
        both(
            "part / --size=100 --encrypted --luks-version=luks2 --hw-passphrase=x\n",
            "hw-passphrase may be specified only with LUKSv2 HW-OPAL encrypted devices",
            "t.ks:1:52: error: part: --hw-passphrase is only for LUKS2 HW-OPAL encryption; add --encrypted and --luks-version=luks2-hw-opal (or luks2-hw-opal-only)",
        ),
        // pykickstart only tests the `luks2-` prefix.
        ok("part / --size=5 --encrypted --luks-version=luks2-foo --hw-passphrase=x\n"),
        // partition.py:618-619: --size=0 is no size.
        both(
            "part / --onpart=sda1 --resize --size=0\n",
            "--resize requires --size to specify new size",
            "t.ks:1:22: error: part: --resize requires --size to give the new size",
        ),
        // partition.py:460-461: a warning, which ksvalidator makes an
        // error; only `swap` may repeat (and pv./raid. names may not).
        both(
            "part / --size=1\npart / --size=2\n",
            "A partition with the mountpoint / has already been defined.",
            "t.ks:2:6: error: part: a partition with the mountpoint / is already defined on line 1",
        ),
        both(
            "part / --size=1\npartition / --size=2\n",
            "A partition with the mountpoint / has already been defined.",
            "t.ks:2:11: error: partition: a partition with the mountpoint / is already defined on line 1",
        ),
        both(
            "part /boot/ --size=1\npart /boot --size=2\n",
            "A partition with the mountpoint /boot has already been defined.",
            "t.ks:2:6: error: part: a partition with the mountpoint /boot is already defined on line 1",
        ),
        both(
            "part pv.01 --size=1\npart pv.01 --size=2\n",
            "A partition with the mountpoint pv.01 has already been defined.",
            "t.ks:2:6: error: part: a partition with the mountpoint pv.01 is already defined on line 1",
        ),
        both(
            "part raid.01 --size=1\npart raid.01 --size=1\n",
            "A partition with the mountpoint raid.01 has already been defined.",
            "t.ks:2:6: error: part: a partition with the mountpoint raid.01 is already defined on line 1",
        ),
        both(
            "part none --size=1\npart none --size=2\n",
            "A partition with the mountpoint none has already been defined.",
            "t.ks:2:6: error: part: a partition with the mountpoint none is already defined on line 1",
        ),
        both(
            "part None --size=1\npart None --size=2\n",
            "A partition with the mountpoint None has already been defined.",
            "t.ks:2:6: error: part: a partition with the mountpoint None is already defined on line 1",
        ),
        stricter(
            "logvol / --vgname=v --name=r --size=1\npart / --size=1\n",
            "t.ks:2:6: error: part: the mount point / is already used by logvol on line 1; a mount point can hold one file system",
            "pykickstart compares mount points between part lines only; two file systems on / cannot both be installed",
        ),
        stricter(
            "part / --size=-5\n",
            "t.ks:1:8: error: part: option --size: invalid number \"-5\" (a whole number is expected, in MiB)",
            "sizes are whole MiB; a negative size describes no partition",
        ),
        stricter(
            "part / --size=100 --pbkdf-time=0 --pbkdf-iterations=5\n",
            "t.ks:1:34: error: part: only one of --pbkdf-time and --pbkdf-iterations can be given",
            "pykickstart only counts non-zero values; giving both options is contradictory either way",
        ),
    ]);
}

#[test]
fn raid_against_pykickstart() {
    check(&[
        ok("raid / --device=md0 --level=1 raid.01 raid.02\n"),
        ok("raid / --device=md0 --level=raid1 a b\n"),
        ok("raid / --device=md0 --level=RAID10 a b\n"),
        ok("raid / --device=md0 --level=1 --useexisting\n"),
        ok("raid swap --device=md1 --level=0 a b\n"),
        stricter(
            "raid / --device= --level=1 a b\n",
            "t.ks:1:8: error: raid: --device needs the name of the RAID device, e.g. --device=md0",
            "pykickstart checks an empty --device only for an existing array (raid.py:464), \
             then prints the line without --device, which it refuses",
        ),
        // raid.py:438 (FC3_Raid.parse)
        both(
            "raid / --device=md0 --level=1\n",
            "Partitions required for raid",
            "t.ks:1:1: error: raid: member partitions are required for /, e.g. `raid / --level=1 --device=md0 raid.01 raid.02`",
        ),
        // raid.py:440
        both(
            "raid / --device=md0 --useexisting a\n",
            "Members may not be specified for preexisting RAID device",
            "t.ks:1:35: error: raid: members may not be given for a preexisting RAID device (--useexisting)",
        ),
        // raid.py:347 (_level_cb)
        both(
            "raid / --device=md0 --level=7 a b\n",
            "Invalid raid level: 7",
            "t.ks:1:21: error: raid: --level=7 is not a RAID level (use 0, 1, 4, 5, 6 or 10)",
        ),
        // raid.py:700 (F23_Raid.parse)
        both(
            "raid / --device=md0 --level=1 --noformat --mkfsoptions=x\n",
            "--mkfsoptions with --noformat has no effect.",
            "t.ks:1:42: error: raid: --mkfsoptions with --noformat has no effect; remove one of them",
        ),
        // raid.py:766 (F29_Raid.parse)
        both(
            "raid / --device=md0 --level=1 --pbkdf-time=1 --pbkdf-iterations=1 a b\n",
            "Only one of --pbkdf-time and --pbkdf-iterations can be specified.",
            "t.ks:1:46: error: raid: only one of --pbkdf-time and --pbkdf-iterations can be given",
        ),
        // The F43 option table has no --grow or --hw-passphrase for raid.
        both(
            "raid / --device=md0 --level=1 --hw-passphrase=x a b\n",
            "Unexpected arguments to raid command",
            "t.ks:1:31: error: raid: unknown option --hw-passphrase; see `raid` in the kickstart reference for its options",
        ),
        // Regressions (#26): Outpost accepted these.
        // raid.py:461 (FC3_Raid.parse): a new array needs a level.
        both(
            "raid / --device=md0 raid.01 raid.02\n",
            "RAID Partition defined without RAID level",
            "t.ks:1:1: error: raid: option --level is required for a new RAID device, e.g. --level=1 (or --useexisting for an existing one)",
        ),
        // raid.py:385: --device is `required=True`, even with --useexisting.
        both(
            "raid / --useexisting\n",
            "the following arguments are required: --device",
            "t.ks:1:1: error: raid: option --device is required, e.g. --device=md0",
        ),
        // raid.py:464
        both(
            "raid / --useexisting --device=\n",
            "Device required for preexisting RAID device",
            "t.ks:1:22: error: raid: --device needs the name of the RAID device, e.g. --device=md0",
        ),
        // raid.py:433-434 make --noformat imply --useexisting, so raid.py:440
        // refuses members with it.
        both(
            "raid / --device=md0 --level=1 --noformat raid.01 raid.02\n",
            "Members may not be specified for preexisting RAID device",
            "t.ks:1:42: error: raid: members may not be given for a preexisting RAID device (--noformat)",
        ),
        // raid.py:458: a warning, which ksvalidator makes an error.
        both(
            "raid / --device=md0 --level=1 a b\nraid /home --device=md0 --level=1 c d\n",
            "A RAID device with the name md0 has already been defined.",
            "t.ks:2:12: error: raid: a RAID device with the name md0 is already defined on line 1",
        ),
        // Outpost refused these, pykickstart accepts them: --noformat is an
        // existing array (no members), and --useexisting reformats it, so
        // --mkfsoptions has an effect (raid.py:699 tests --noformat only).
        ok("raid / --device=md0 --noformat\n"),
        ok("raid / --device=md0 --level=1 --noformat\n"),
        ok("raid / --device=md0 --level=1 --useexisting --mkfsoptions=x\n"),
        stricter(
            "raid / --device=md0 --level=1 a b\nraid / --device=md1 --level=1 c d\n",
            "t.ks:2:6: error: raid: the mount point / is already used by raid on line 1; a mount point can hold one file system",
            "pykickstart compares RAID devices only; two arrays mounted on / cannot both be installed",
        ),
        stricter(
            "raid / --device=md0 --level=1 --spares=-1 a b\n",
            "t.ks:1:31: error: raid: option --spares: invalid number \"-1\" (a whole number is expected)",
            "a negative number of spare disks describes no array",
        ),
    ]);
}

#[test]
fn volgroup_against_pykickstart() {
    check(&[
        ok("volgroup vg0 pv.01\n"),
        ok("volgroup vg0 --useexisting\n"),
        ok("volgroup vg0 --useexisting --noformat\n"),
        ok("volgroup vg0 pv.01 --reserved-percent=1\n"),
        ok("volgroup vg0 pv.01 --reserved-percent=99\n"),
        ok("volgroup vg0 pv.01 --reserved-space=0\n"),
        // volgroup.py:173 (FC3_VolGroup.parse)
        both(
            "volgroup\n",
            "volgroup must be given a VG name",
            "t.ks:1:1: error: volgroup: missing the volume group name, e.g. `volgroup vg0 pv.01`",
        ),
        // volgroup.py:176
        both(
            "volgroup vg0\n",
            "volgroup must be given a list of partitions",
            "t.ks:1:1: error: volgroup: must be given a list of partitions, e.g. `volgroup vg0 pv.01`",
        ),
        // volgroup.py:178
        both(
            "volgroup vg0 --useexisting pv.01\n",
            "Members may not be specified for preexisting volgroup",
            "t.ks:1:28: error: volgroup: members may not be given for a preexisting volume group (--useexisting)",
        ),
        // Regressions (#26): Outpost accepted these.
        // volgroup.py:165 makes --noformat an existing group, so
        // volgroup.py:178 refuses members with it.
        both(
            "volgroup vg0 --noformat pv.01\n",
            "Members may not be specified for preexisting volgroup",
            "t.ks:1:25: error: volgroup: members may not be given for a preexisting volume group (--noformat)",
        ),
        // volgroup.py:221-222
        both(
            "volgroup vg0 pv.01 --reserved-percent=0\n",
            "Volume group reserved space percentage must be between 1 and 99.",
            "t.ks:1:20: error: volgroup: --reserved-percent must be between 1 and 99",
        ),
        both(
            "volgroup vg0 pv.01 --reserved-percent=100\n",
            "Volume group reserved space percentage must be between 1 and 99.",
            "t.ks:1:20: error: volgroup: --reserved-percent must be between 1 and 99",
        ),
        // volgroup.py:185-186: a warning, which ksvalidator makes an error.
        both(
            "volgroup vg0 a\nvolgroup vg0 b\n",
            "A volgroup with the name vg0 has already been defined.",
            "t.ks:2:10: error: volgroup: a volume group with the name vg0 is already defined on line 1",
        ),
        stricter(
            "volgroup vg0 --psize=4096 pv.01\n",
            "t.ks:1:14: error: volgroup: unknown option --psize; see `volgroup` in the kickstart reference for its options",
            "pykickstart takes an unknown option of volgroup as a partition name \
             (parse_known_args, volgroup.py:154-160); a misspelt option is not a PV",
        ),
        // Outpost refused this: --noformat is an existing group, which
        // takes no partitions.
        ok("volgroup vg0 --noformat\n"),
        // volgroup.py:219 (F16_VolGroup.parse); Outpost's whole numbers
        // refuse the sign already.
        both(
            "volgroup vg0 pv.01 --reserved-space=-1\n",
            "Volume group reserved space must be a positive integer.",
            "t.ks:1:20: error: volgroup: option --reserved-space: invalid number \"-1\" (a whole number is expected)",
        ),
    ]);
}

#[test]
fn logvol_against_pykickstart() {
    check(&[
        ok("logvol / --vgname=vg0 --name=root --size=1\n"),
        ok("logvol / --vgname=vg0 --name=root --recommended\n"),
        ok("logvol swap --vgname=vg0 --name=swap --hibernation\n"),
        ok("logvol / --vgname=vg0 --name=root --noformat\n"),
        ok("logvol / --vgname=vg0 --name=root --useexisting\n"),
        ok("logvol / --vgname=vg0 --name=root --percent=100\n"),
        ok("logvol / --vgname=v --name=r --percent=50 --grow\n"),
        ok("logvol / --vgname=vg0 --name=root --size=1 --maxsize=5\n"),
        ok("logvol / --vgname=v --name=r --size=5 --thinpool\n"),
        ok("logvol / --vgname=v --name=r --size=5 --thin --poolname=p\n"),
        ok(
            "logvol none --vgname=vg0 --name=pool --size=10 --thinpool --chunksize=64 --metadatasize=4\n",
        ),
        ok("logvol / --vgname=vg0 --name=root --size=10 --chunksize=0\n"),
        ok(
            "logvol / --vgname=vg0 --name=root --size=10 --cachesize=5 --cachepvs=pv.02 --cachemode=writethrough\n",
        ),
        ok("logvol / --vgname=v --name=r --useexisting --resize --size=5\n"),
        ok("logvol / --vgname=v --name=r --size=1\nlogvol /home --vgname=w --name=r --size=1\n"),
        // pykickstart only sizes a cache when one of the cache options
        // is non-empty.
        ok("logvol / --vgname=v --name=r --size=5 --cachepvs=,\n"),
        ok("logvol / --vgname=v --name=r --size=5 --cachemode=\n"),
        ok("logvol /tmp --vgname=v --name=r --size=1 --fstype=tmpfs --grow\n"),
        // Outpost refused this: --useexisting reformats the volume, so
        // --mkfsoptions has an effect (logvol.py:855 tests --noformat only).
        ok("logvol / --vgname=vg0 --name=root --useexisting --mkfsoptions=x\n"),
        // argparse: --name and --vgname are `required=True` (logvol.py:440, 460).
        both(
            "logvol / --vgname=vg0 --size=1\n",
            "the following arguments are required: --name",
            "t.ks:1:1: error: logvol: option --name is required, e.g. --name=VALUE",
        ),
        both(
            "logvol / --name=root --size=1\n",
            "the following arguments are required: --vgname",
            "t.ks:1:1: error: logvol: option --vgname is required, e.g. --vgname=VALUE",
        ),
        // logvol.py:775 (F21_LogVol.parse)
        both(
            "logvol / --vgname=v --name=r --size=1 --percent=5\n",
            "--size and --percent cannot both be specified for the same logvol",
            "t.ks:1:39: error: logvol: --size and --percent cannot both be given",
        ),
        // logvol.py:682 (F17_LogVol.parse)
        both(
            "logvol / --vgname=v --name=r --useexisting --resize\n",
            "--resize requires --size to indicate new size",
            "t.ks:1:44: error: logvol: --resize requires --size to give the new size",
        ),
        // logvol.py:679
        both(
            "logvol / --vgname=v --name=r --size=5 --resize\n",
            "--resize can only be used in conjunction with --useexisting",
            "t.ks:1:39: error: logvol: --resize can only be used together with --useexisting",
        ),
        both(
            "logvol / --vgname=v --name=r --size=1 --hw-passphrase=x\n",
            "Unexpected arguments to logvol command",
            "t.ks:1:39: error: logvol: unknown option --hw-passphrase; see `logvol` in the kickstart reference for its options",
        ),
        // Regressions (#26): Outpost accepted these.
        // logvol.py:750 (F20_LogVol.parse): a new volume needs a size.
        both(
            "logvol / --vgname=vg0 --name=root\n",
            "No size given for logical volume. Use one of --useexisting, --noformat, --size, --percent, or --hibernation.",
            "t.ks:1:1: error: logvol: no size given for /; add --size=MIB, --percent=N, --recommended or --hibernation (or --useexisting to use an existing volume)",
        ),
        both(
            "logvol / --vgname=vg0 --name=root --grow\n",
            "No size given for logical volume.",
            "t.ks:1:1: error: logvol: no size given for /; add --size=MIB, --percent=N, --recommended or --hibernation (or --useexisting to use an existing volume)",
        ),
        both(
            "logvol / --vgname=vg0 --name=root --size=0\n",
            "No size given for logical volume.",
            "t.ks:1:1: error: logvol: no size given for /; add --size=MIB, --percent=N, --recommended or --hibernation (or --useexisting to use an existing volume)",
        ),
        both(
            "logvol / --vgname=vg0 --name=root --percent=0\n",
            "No size given for logical volume.",
            "t.ks:1:1: error: logvol: no size given for /; add --size=MIB, --percent=N, --recommended or --hibernation (or --useexisting to use an existing volume)",
        ),
        // logvol.py:754
        both(
            "logvol / --vgname=vg0 --name=root --percent=101\n",
            "Percentage must be between 0 and 100.",
            "t.ks:1:35: error: logvol: --percent must be between 0 and 100",
        ),
        // logvol.py:737
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --thin --thinpool --poolname=p\n",
            "--thin and --thinpool cannot both be specified for the same logvol",
            "t.ks:1:45: error: logvol: --thin and --thinpool cannot both be given (a volume is a thin pool or a thin volume in one)",
        ),
        // logvol.py:741
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --thin\n",
            "--thin requires --poolname to specify pool name",
            "t.ks:1:45: error: logvol: --thin requires --poolname to name its thin pool, e.g. --poolname=pool00",
        ),
        both(
            "logvol / --vgname=v --name=r --size=5 --thin --poolname=\n",
            "--thin requires --poolname to specify pool name",
            "t.ks:1:39: error: logvol: --thin requires --poolname to name its thin pool, e.g. --poolname=pool00",
        ),
        // logvol.py:746
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --chunksize=64\n",
            "--chunksize and --metadatasize are for thin pools only",
            "t.ks:1:45: error: logvol: --chunksize and --metadatasize are for thin pools only; add --thinpool or remove them",
        ),
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --metadatasize=64\n",
            "--chunksize and --metadatasize are for thin pools only",
            "t.ks:1:45: error: logvol: --chunksize and --metadatasize are for thin pools only; add --thinpool or remove them",
        ),
        // logvol.py:837 (F23_LogVol.parse); --noformat is an existing
        // volume too (logvol.py:477).
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --cachesize=5 --cachepvs=pv.02 --useexisting\n",
            "Adding a cache to an existing logical volume is not supported",
            "t.ks:1:45: error: logvol: a cache cannot be added to an existing logical volume (--useexisting)",
        ),
        both(
            "logvol / --vgname=vg0 --name=root --noformat --cachesize=5 --cachepvs=pv.02\n",
            "Adding a cache to an existing logical volume is not supported",
            "t.ks:1:46: error: logvol: a cache cannot be added to an existing logical volume (--noformat)",
        ),
        // logvol.py:841
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --thin --poolname=p --cachesize=5 --cachepvs=pv.02\n",
            "Thin volumes cannot be cached",
            "t.ks:1:65: error: logvol: thin volumes cannot be cached; remove the --cache options",
        ),
        // logvol.py:845
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --cachesize=5\n",
            "Cache needs to have a list of (fast) PVs specified",
            "t.ks:1:45: error: logvol: a cache needs --cachepvs, the (fast) physical volumes to put it on",
        ),
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --cachemode=writeback\n",
            "Cache needs to have a list of (fast) PVs specified",
            "t.ks:1:45: error: logvol: a cache needs --cachepvs, the (fast) physical volumes to put it on",
        ),
        // logvol.py:849
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --cachepvs=pv.02\n",
            "Cache needs to have size specified",
            "t.ks:1:45: error: logvol: a cache needs --cachesize=MIB",
        ),
        both(
            "logvol / --vgname=v --name=r --size=5 --cachesize=0 --cachepvs=a\n",
            "Cache needs to have size specified",
            "t.ks:1:39: error: logvol: a cache needs --cachesize=MIB",
        ),
        // logvol.py:853
        both(
            "logvol / --vgname=vg0 --name=root --size=10 --cachesize=5 --cachepvs=pv.02 --cachemode=bogus\n",
            "Invalid cache mode given: bogus",
            "t.ks:1:76: error: logvol: --cachemode=bogus is not a cache mode (use writeback or writethrough)",
        ),
        // logvol.py:682: --size=0 is no size.
        both(
            "logvol / --vgname=vg0 --name=root --useexisting --resize --size=0\n",
            "--resize requires --size to indicate new size",
            "t.ks:1:49: error: logvol: --resize requires --size to give the new size",
        ),
        // logvol.py:482: a warning, which ksvalidator makes an error.
        both(
            "logvol / --vgname=v --name=r --size=1\nlogvol /home --vgname=v --name=r --size=1\n",
            "A logical volume with the name r has already been defined in volume group v.",
            "t.ks:2:25: error: logvol: a logical volume with the name r is already defined in volume group v on line 1",
        ),
        // Outpost refused this: --noformat is an existing volume
        // (logvol.py:477), which --resize may resize (logvol.py:678).
        ok("logvol / --vgname=vg0 --name=root --noformat --resize --size=5\n"),
        stricter(
            "part / --size=1\nlogvol / --vgname=v --name=r --size=1\n",
            "t.ks:2:8: error: logvol: the mount point / is already used by part on line 1; a mount point can hold one file system",
            "pykickstart compares mount points between part lines only; two file systems on / cannot both be installed",
        ),
        stricter(
            "logvol / --vgname= --name=root --size=1\n",
            "t.ks:1:1: error: logvol: option --vgname is required, e.g. --vgname=VALUE",
            "an empty volume group name names no volume group",
        ),
        stricter(
            "logvol / --vgname=vg0 --name=root --size=0 --percent=5\n",
            "t.ks:1:44: error: logvol: --size and --percent cannot both be given",
            "pykickstart only counts a non-zero --size; giving both is contradictory either way",
        ),
    ]);
}

#[test]
fn autopart_and_conflicts_against_pykickstart() {
    check(&[
        ok("autopart\n"),
        ok("autopart --hibernation\n"),
        ok("autopart --nolvm --type=lvm\n"),
        ok("autopart --encrypted --luks-version=luks2-hw-opal --hw-passphrase=x\n"),
        ok("autopart --encrypted --luks-version=luks2-hw-opal --hw-passphrase=\n"),
        ok("reqpart\npart / --size=1\n"),
        ok("reqpart\nreqpart --add-boot\n"),
        // autopart.py:360 (F21_AutoPart.parse)
        both(
            "autopart --type=btrfs --fstype=ext4\n",
            "autopart --fstype cannot be used with --type=btrfs",
            "t.ks:1:23: error: autopart: --fstype cannot be used with --type=btrfs",
        ),
        // autopart.py:357
        both(
            "autopart --fstype=btrfs\n",
            "autopart --fstype=btrfs is not valid fstype, use --type=btrfs instead",
            "t.ks:1:10: error: autopart: --fstype=btrfs is not a valid fstype; use --type=btrfs instead",
        ),
        // autopart.py:527 (F29_AutoPart.parse)
        both(
            "autopart --pbkdf-time=1 --pbkdf-iterations=2\n",
            "Only one of --pbkdf-time and --pbkdf-iterations can be specified.",
            "t.ks:1:25: error: autopart: only one of --pbkdf-time and --pbkdf-iterations can be given",
        ),
        // base.py _checkConflictingCommands with F23_AutoPart's
        // conflictingCommands (autopart.py:365).
        both(
            "part / --size=1\nautopart\n",
            "The autopart and partition commands can't be used at the same time.",
            "t.ks:2:1: error: the part and autopart commands can't be used at the same time; remove autopart to lay out disks by hand, or remove the part lines",
        ),
        both(
            "partition / --size=1\nautopart\n",
            "The autopart and partition commands can't be used at the same time.",
            "t.ks:2:1: error: the partition and autopart commands can't be used at the same time; remove autopart to lay out disks by hand, or remove the partition lines",
        ),
        both(
            "volgroup vg0 pv.01\nautopart\n",
            "The autopart and volgroup commands can't be used at the same time.",
            "t.ks:2:1: error: the volgroup and autopart commands can't be used at the same time; remove autopart to lay out disks by hand, or remove the volgroup lines",
        ),
        both(
            "logvol / --vgname=v --name=r --size=1\nautopart\n",
            "The autopart and logvol commands can't be used at the same time.",
            "t.ks:2:1: error: the logvol and autopart commands can't be used at the same time; remove autopart to lay out disks by hand, or remove the logvol lines",
        ),
        both(
            "autopart\nraid / --device=md0 --level=1 a b\n",
            "The raid and autopart commands can't be used at the same time.",
            "t.ks:2:1: error: the raid and autopart commands can't be used at the same time; remove autopart to lay out disks by hand, or remove the raid lines",
        ),
        both(
            "reqpart\nautopart\n",
            "The autopart and reqpart commands can't be used at the same time.",
            "t.ks:2:1: error: the reqpart and autopart commands can't be used at the same time; remove autopart to lay out disks by hand, or remove the reqpart lines",
        ),
        both(
            "reqpart --bogus\n",
            "unrecognized arguments: --bogus",
            "t.ks:1:9: error: reqpart: unknown option --bogus; see `reqpart` in the kickstart reference for its options",
        ),
        // Regressions (#26): Outpost accepted these.
        // autopart.py:595-597 (F38_AutoPart.parse)
        both(
            "autopart --noswap --hibernation\n",
            "Only one of --noswap and --hibernation can be specified.",
            "t.ks:1:19: error: autopart: only one of --noswap and --hibernation can be given",
        ),
        // autopart.py:663-665 (F41_AutoPart.parse)
        both(
            "autopart --hw-passphrase=x\n",
            "hw-passphrase may be specified only with LUKSv2 HW-OPAL encrypted devices",
            "t.ks:1:10: error: autopart: --hw-passphrase is only for LUKS2 HW-OPAL encryption; add --encrypted and --luks-version=luks2-hw-opal (or luks2-hw-opal-only)",
        ),
        // Outpost refused this: autopart.py:249 lower-cases --type.
        ok("autopart --type=LVM\n"),
        ok("autopart --type=Plain\n"),
        stricter(
            "autopart --fstype=swap\n",
            "t.ks:1:10: error: autopart: --fstype=swap cannot be used for the root file system; use ext4 or xfs",
            "autopart puts / on --fstype; swap, biosboot, prepboot and efi cannot hold it",
        ),
        stricter(
            "autopart --type=stratis\n",
            "t.ks:1:10: error: autopart: option --type: invalid choice \"stratis\" (choose from lvm, plain, thinp, btrfs)",
            "stratis is F45 syntax; Outpost follows the F43 handler",
        ),
    ]);
    // Printed lower-case, as pykickstart does.
    check_ok("autopart --type=LVM\n", "autopart --type=lvm\n");
}

/// Outpost does not parse `btrfs` (see `UNSUPPORTED` in commands.rs): every
/// line is refused with the reason, which covers each of pykickstart's
/// btrfs.py rules (listed here so the table shows them).
#[test]
fn btrfs_against_pykickstart() {
    const WHY: &str = "t.ks:1:1: error: unsupported command: btrfs (the installer creates no btrfs volumes; use part with --fstype=ext4 or xfs)";
    check(&[
        stricter(
            "btrfs / --data=1 btrfs.01\n",
            WHY,
            "the installer creates no btrfs volumes; refusing the command beats parsing a line that describes nothing",
        ),
        stricter(
            "btrfs / --subvol --name=root LABEL=f\n",
            WHY,
            "the installer creates no btrfs volumes",
        ),
        // btrfs.py:224 (F17_BTRFS.parse)
        both("btrfs /\n", "btrfs must be given a list of partitions", WHY),
        // btrfs.py:226
        both(
            "btrfs / --subvol --name=root\n",
            "btrfs subvol requires specification of parent volume",
            WHY,
        ),
        // btrfs.py:229
        both(
            "btrfs / --subvol LABEL=f\n",
            "btrfs subvolume requires a name",
            WHY,
        ),
        // btrfs.py:215
        both("btrfs --data=1\n", "btrfs must be given a mountpoint", WHY),
        // btrfs.py:129 (level_cb)
        both("btrfs / --data=7 btrfs.01\n", "Invalid btrfs level: 7", WHY),
        // btrfs.py:264 (F23_BTRFS.parse)
        both(
            "btrfs / --noformat --mkfsoptions=x btrfs.01\n",
            "--mkfsoptions with --noformat or --useexisting has no effect.",
            WHY,
        ),
    ]);
}

#[test]
fn disk_selection_and_bootloader_against_pykickstart() {
    check(&[
        ok("zerombr\n"),
        ok("zerombr\nzerombr\n"),
        ok("clearpart\n"),
        ok("clearpart --drives=\n"),
        ok("clearpart --list=sda1 --all\n"),
        ok("ignoredisk --drives=sda\nignoredisk --drives=sdb\n"),
        ok("bootloader --disabled --location=mbr\n"),
        ok("bootloader --md5pass=x --password=y\n"),
        both(
            "zerombr --foo\n",
            "unrecognized arguments: --foo",
            "t.ks:1:9: error: zerombr: unknown option --foo; see `zerombr` in the kickstart reference for its options",
        ),
        both(
            "zerombr foo\n",
            "unrecognized arguments: foo",
            "t.ks:1:9: error: zerombr: unexpected argument `foo`",
        ),
        // ignoredisk.py:88 (F8_IgnoreDisk.parse, used by F29/F34)
        both(
            "ignoredisk\n",
            "One of --drives or --only-use must be specified for ignoredisk command.",
            "t.ks:1:1: error: ignoredisk: give exactly one of --drives or --only-use",
        ),
        both(
            "ignoredisk --drives=sda --only-use=sdb\n",
            "One of --drives or --only-use must be specified for ignoredisk command.",
            "t.ks:1:1: error: ignoredisk: give exactly one of --drives or --only-use",
        ),
        both(
            "ignoredisk --drives=\n",
            "One of --drives or --only-use must be specified for ignoredisk command.",
            "t.ks:1:1: error: ignoredisk: give exactly one of --drives or --only-use",
        ),
        both(
            "ignoredisk --interactive\n",
            "unrecognized arguments: --interactive",
            "t.ks:1:12: error: ignoredisk: unknown option --interactive; see `ignoredisk` in the kickstart reference for its options",
        ),
        // bootloader.py:551 (F39_Bootloader.parse)
        both(
            "bootloader --sdboot --extlinux\n",
            "Only one of --sdboot and --extlinux may be specified for bootloader command.",
            "t.ks:1:21: error: bootloader: only one of --sdboot and --extlinux may be given",
        ),
        // bootloader.py:329 (F17_Bootloader.parse)
        both(
            "bootloader --boot-drive=sda,sdb\n",
            "--boot-drive accepts only one argument",
            "t.ks:1:12: error: bootloader: --boot-drive accepts only one drive",
        ),
        both(
            "bootloader --location=bogus\n",
            "argument --location: invalid choice: 'bogus'",
            "t.ks:1:12: error: bootloader: option --location: invalid choice \"bogus\" (choose from mbr, partition, none, boot)",
        ),
        stricter(
            "clearpart --disklabel=sun\n",
            "t.ks:1:11: error: clearpart: --disklabel=sun is not supported; use gpt or msdos",
            "the installer writes only GPT and MBR partition tables",
        ),
    ]);
}

/// pykickstart keeps one object per single-instance command and, for each
/// later line, sets only the options whose value is not `None`
/// (`set_to_obj`, base.py:182-184), so an option that defaults to `None`
/// keeps its value from an earlier line: `clearpart --drives=sda` then
/// `clearpart --all` means "clear sda" to Anaconda. Outpost keeps the last
/// line only, so it refuses a repeated `autopart`, `bootloader`,
/// `clearpart` or `ignoredisk` that leaves out such an option of an
/// earlier one: the two readings would differ.
#[test]
fn repeated_storage_commands_against_pykickstart() {
    check(&[
        // The later line gives every option again: same meaning both ways
        // (a warning names the line that is used).
        ok("clearpart --all\nclearpart --all\n"),
        ok("ignoredisk --drives=sda\nignoredisk --drives=sdb\n"),
        ok("autopart --type=btrfs\nautopart --type=lvm\n"),
        ok("autopart\nautopart --nohome\n"),
        ok("bootloader --location=mbr\nbootloader --location=mbr\n"),
        // reqpart and zerombr have nothing to merge.
        ok("reqpart\nreqpart --add-boot\n"),
        // Regressions (#26): Outpost accepted these, using the last line.
        // ignoredisk.py:88 sees --drives from line 1 and --only-use.
        both(
            "ignoredisk --drives=sda\nignoredisk --only-use=sdb\n",
            "One of --drives or --only-use must be specified for ignoredisk command.",
            "t.ks:2:1: error: ignoredisk: ignoredisk is already given on line 1, and this line leaves out its --drives; Anaconda merges repeated ignoredisk lines (so that --drives still applies) while Outpost would use only this one: give one ignoredisk line",
        ),
        // autopart.py:360 sees --type=btrfs from line 1.
        both(
            "autopart --type=btrfs\nautopart --fstype=ext4\n",
            "autopart --fstype cannot be used with --type=btrfs",
            "t.ks:2:1: error: autopart: autopart is already given on line 1, and this line leaves out its --type; Anaconda merges repeated autopart lines (so that --type still applies) while Outpost would use only this one: give one autopart line",
        ),
        both(
            "autopart --fstype=ext4\nautopart --type=btrfs\n",
            "autopart --fstype cannot be used with --type=btrfs",
            "t.ks:2:1: error: autopart: autopart is already given on line 1, and this line leaves out its --fstype; Anaconda merges repeated autopart lines (so that --fstype still applies) while Outpost would use only this one: give one autopart line",
        ),
        stricter(
            "clearpart --drives=sda\nclearpart --all\n",
            "t.ks:2:1: error: clearpart: clearpart is already given on line 1, and this line leaves out its --drives; Anaconda merges repeated clearpart lines (so that --drives still applies) while Outpost would use only this one: give one clearpart line",
            "Anaconda reads `clearpart --all --drives=sda` (clear sda); the last line alone clears every disk",
        ),
        stricter(
            "bootloader --append=quiet --timeout=3\nbootloader --location=none\n",
            "t.ks:2:1: error: bootloader: bootloader is already given on line 1, and this line leaves out its --append; Anaconda merges repeated bootloader lines (so that --append still applies) while Outpost would use only this one: give one bootloader line",
            "Anaconda reads `bootloader --append=quiet --location=none --timeout=3`; the last line alone drops both",
        ),
        // Options whose pykickstart default is not None are reset by every
        // line (--boot-drive defaults to "", flags to False): no merge.
        ok("bootloader --boot-drive=sda\nbootloader --location=none\n"),
        ok("bootloader --sdboot\nbootloader --extlinux\n"),
        ok("clearpart --all --initlabel\nclearpart --all\n"),
    ]);
}
