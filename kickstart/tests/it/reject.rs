//! Rejected inputs → the first error, exactly as printed.

use crate::support::check_err;

#[test]
fn rejected_table() {
    let cases: &[(&str, &str)] = &[
        ("foo bar\n", "t.ks:1:1: error: unknown command: foo"),
        (
            "  timezon Etc/UTC\n",
            "t.ks:1:3: error: unknown command: timezon; did you mean `timezone`?",
        ),
        (
            "url --url=http://x\n",
            "t.ks:1:1: error: unsupported command: url (the installer is offline and installs from the payload on the media)",
        ),
        (
            "network --bogus\n",
            "t.ks:1:9: error: network: unknown option --bogus; see `network` in the kickstart reference for its options",
        ),
        (
            "part / --size=1G\n",
            "t.ks:1:8: error: part: option --size: invalid number \"1G\" (a whole number is expected, in MiB)",
        ),
        (
            "part\n",
            "t.ks:1:1: error: part: missing the mount point, e.g. `part / --fstype=ext4 --size=4096`",
        ),
        (
            "lang a b\n",
            "t.ks:1:8: error: lang: unexpected argument `b`",
        ),
        (
            "user --gecos=x\n",
            "t.ks:1:1: error: user: option --name is required, e.g. --name=VALUE",
        ),
        (
            "user --name=\"al\n",
            "t.ks:1:13: error: no closing quotation: close the quote on the same line (kickstart has no line continuation)",
        ),
        (
            "lang en\\\n",
            "t.ks:1:8: error: no escaped character: close the quote on the same line (kickstart has no line continuation)",
        ),
        (
            "network --bootproto=magic\n",
            "t.ks:1:9: error: network: option --bootproto: invalid choice \"magic\" (choose from dhcp, bootp, static, query, ibft)",
        ),
        (
            "network --onboot=maybe\n",
            "t.ks:1:9: error: network: option --onboot: invalid boolean value \"maybe\" (use yes or no)",
        ),
        (
            "network --device\n",
            "t.ks:1:9: error: network: option --device needs a value, e.g. --device=VALUE",
        ),
        (
            "network --device --ip=1.2.3.4\n",
            "t.ks:1:9: error: network: option --device needs a value, e.g. --device=VALUE",
        ),
        (
            "zerombr --all\n",
            "t.ks:1:9: error: zerombr: unknown option --all; see `zerombr` in the kickstart reference for its options",
        ),
        (
            "eula --agreed=yes\n",
            "t.ks:1:6: error: eula: option --agreed takes no value",
        ),
        (
            "rootpw --no\n",
            "t.ks:1:8: error: rootpw: unknown option --no; see `rootpw` in the kickstart reference for its options",
        ),
        (
            "bootloader --l=mbr\n",
            "t.ks:1:12: error: bootloader: ambiguous option --l could match --location, --leavebootorder",
        ),
        (
            "autopart\npart / --size=1\n",
            "t.ks:2:1: error: the part and autopart commands can't be used at the same time; remove autopart to lay out disks by hand, or remove the part lines",
        ),
        (
            "reqpart\nautopart\n",
            "t.ks:2:1: error: the reqpart and autopart commands can't be used at the same time; remove autopart to lay out disks by hand, or remove the reqpart lines",
        ),
        (
            "services\n",
            "t.ks:1:1: error: services: one of --disabled or --enabled must be provided, e.g. `services --enabled=sshd`",
        ),
        (
            "eula\n",
            "t.ks:1:1: error: eula: the --agreed option is required (`eula --agreed`)",
        ),
        // Was a warning; pykickstart's ksvalidator refuses it (#26).
        (
            "part / --size=1\npart / --size=2\n",
            "t.ks:2:6: error: part: a partition with the mountpoint / is already defined on line 1",
        ),
        (
            "raid / raid.01\n",
            "t.ks:1:1: error: raid: option --device is required, e.g. --device=md0",
        ),
        (
            "raid / --device=md0 --level=7\n",
            "t.ks:1:21: error: raid: --level=7 is not a RAID level (use 0, 1, 4, 5, 6 or 10)",
        ),
        (
            "logvol / --name=root\n",
            "t.ks:1:1: error: logvol: option --vgname is required, e.g. --vgname=VALUE",
        ),
        (
            "firewall --port=22:icmp\n",
            "t.ks:1:10: error: firewall: --port=22:icmp: protocol must be tcp or udp",
        ),
        (
            "clearpart --disklabel=sun\n",
            "t.ks:1:11: error: clearpart: --disklabel=sun is not supported; use gpt or msdos",
        ),
        // argparse keeps `--` as an unrecognized argument when the command
        // takes no positional arguments.
        (
            "bootloader -- # x\n",
            "t.ks:1:12: error: bootloader: unexpected argument `--`",
        ),
        // pykickstart's cross-option checks.
        (
            "timezone UTC --nontp --ntpservers=a\n",
            "t.ks:1:22: error: timezone: options --nontp and --ntpservers are mutually exclusive",
        ),
        (
            "part / --size=5 --resize\n",
            "t.ks:1:17: error: part: --resize can only be used together with --onpart",
        ),
        (
            "part / --noformat --mkfsoptions=-m0\n",
            "t.ks:1:19: error: part: --mkfsoptions with --noformat has no effect; remove one of them",
        ),
        (
            "logvol / --vgname=v --name=r --size=1 --percent=5\n",
            "t.ks:1:39: error: logvol: --size and --percent cannot both be given",
        ),
        (
            "raid / --device=md0 --level=1\n",
            "t.ks:1:1: error: raid: member partitions are required for /, e.g. `raid / --level=1 --device=md0 raid.01 raid.02`",
        ),
        (
            "volgroup vg0\n",
            "t.ks:1:1: error: volgroup: must be given a list of partitions, e.g. `volgroup vg0 pv.01`",
        ),
        (
            "autopart --fstype=btrfs\n",
            "t.ks:1:10: error: autopart: --fstype=btrfs is not a valid fstype; use --type=btrfs instead",
        ),
        (
            "bootloader --boot-drive=sda,sdb\n",
            "t.ks:1:12: error: bootloader: --boot-drive accepts only one drive",
        ),
        (
            "%packages --default --nocore\n%end\n",
            "t.ks:1:21: error: %packages: --default and --nocore cannot be used together",
        ),
        // Sections.
        (
            "%post\necho\n",
            "t.ks:1:1: error: section %post does not end with %end; add a line `%end` after its last line",
        ),
        (
            "%post\necho\n%packages\n%end\n",
            "t.ks:1:1: error: section %post does not end with %end; add a line `%end` after its last line",
        ),
        (
            "%end\n",
            "t.ks:1:1: error: %end without a matching section header",
        ),
        (
            "%bogus\n%end\n",
            "t.ks:1:1: error: unknown kickstart section: %bogus",
        ),
        (
            "%postt\n%end\n",
            "t.ks:1:1: error: unknown kickstart section: %postt; did you mean %post?",
        ),
        (
            "%pre --nochroot\n%end\n",
            "t.ks:1:6: error: %pre: unknown option --nochroot; see `%pre` in the kickstart reference for its options (--nochroot is only valid on %post)",
        ),
        (
            "%post extra\n%end\n",
            "t.ks:1:7: error: %post: unexpected argument `extra`",
        ),
        (
            "network --bootproto=static --ip=\n",
            "t.ks:1:1: error: network: --bootproto=static needs --ip (and --netmask, --gateway)",
        ),
        // A keyword glued to a comment is not a package (fuzzing: it
        // printed back as the end of the section).
        (
            "%packages\n%end#\n%end\n",
            "t.ks:2:1: error: %packages: `%end#` is not a package; write `%end` with a space before any `#` comment",
        ),
        (
            "%packages\nvim\n  %include#x\n%end\n",
            "t.ks:3:3: error: %packages: `%include#x` is not a package; write `%include` with a space before any `#` comment",
        ),
        (
            "%packages\n%post#\n%end\n",
            "t.ks:2:1: error: %packages: `%post#` is not a package; write `%post` with a space before any `#` comment",
        ),
        (
            "%packages --bogus\n%end\n",
            "t.ks:1:11: error: %packages: unknown option --bogus; see `%packages` in the kickstart reference for its options",
        ),
        (
            "%addon\n%end\n",
            "t.ks:1:1: error: %addon needs a name, e.g. `%addon org_outpost`",
        ),
        (
            "%include\n",
            "t.ks:1:1: error: %include needs a file name, e.g. `%include /path/to/part.ks`",
        ),
        (
            "%include http://x/y.ks\n",
            "t.ks:1:10: error: %include http://x/y.ks: only local files can be included (no network access during install); copy the file next to the answer file",
        ),
    ];
    for (input, expected) in cases {
        check_err(input, expected);
    }
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let d = outpost_kickstart::parse_str("t.ks", "foo\nlang\nbar\n").unwrap_err();
    let lines: Vec<u32> = d.errors().map(|e| e.line).collect();
    assert_eq!(lines, [1, 2, 3]);
}
