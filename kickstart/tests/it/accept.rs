//! Accepted inputs → canonical output (pykickstart's `ksflatten` form; the
//! expected lines were checked against pykickstart 3.78 where it agrees,
//! see the module docs of `print` for the deliberate differences).

use crate::support::{check_ok, warnings};

#[test]
fn commands_table() {
    let cases: &[(&str, &str)] = &[
        // Exclusive flags: the last one wins (argparse store_const).
        (
            "clearpart --linux --none --all\n",
            "# Partition clearing information\nclearpart --all\n",
        ),
        (
            "clearpart --drives=/dev/sda,sdb --initlabel\n",
            "# Partition clearing information\nclearpart --initlabel --drives=sda,sdb\n",
        ),
        // An empty value prints nothing, as in pykickstart (a bare
        // `--device` would not parse again; found by the fuzzer).
        (
            "network --device=li --device=\n",
            "# Network information\nnetwork  --bootproto=dhcp\n",
        ),
        // commaSplit drops blanks around items.
        (
            "services --enabled=\"a, b\" --disabled=c\n",
            "# System services\nservices --disabled=\"c\" --enabled=\"a,b\"\n",
        ),
        // Aliases print under the canonical name; /dev/ stripped for --onpart.
        (
            "part / --usepart=/dev/sda3 --ondrive=sda --size=100\n",
            "# Disk partitioning information\npart / --ondisk=sda --onpart=sda3 --size=100\n",
        ),
        (
            "part /boot --type=ext4 --size 512\n",
            "# Disk partitioning information\npart /boot --fstype=\"ext4\" --size=512\n",
        ),
        (
            "part /var//lib/ --size=1\n",
            "# Disk partitioning information\npart /var/lib --size=1\n",
        ),
        (
            "%post --log=/tmp/x\necho\n%end\n",
            "\n%post --logfile=/tmp/x\necho\n%end\n",
        ),
        // Unambiguous prefixes are accepted like argparse does.
        (
            "rootpw --iscrypt $6$a$b\n",
            "# Root password\nrootpw --iscrypted $6$a$b\n",
        ),
        (
            "rootpw --plaintext \"my pass # x\" --allow-ssh\n",
            "# Root password\nrootpw --plaintext --allow-ssh \"my pass # x\"\n",
        ),
        (
            "lang en_US.UTF-8 --addsupport=de_DE,fr_FR\n",
            "# System language\nlang en_US.UTF-8 --addsupport=de_DE,fr_FR\n",
        ),
        (
            "keyboard --vckeymap=us --xlayouts='us,de'\n",
            "# Keyboard layouts\nkeyboard --vckeymap=us --xlayouts='us','de'\n",
        ),
        (
            "timezone Europe/Berlin --utc\n",
            "# System timezone\ntimezone Europe/Berlin --utc\n",
        ),
        (
            "network --bootproto=static --device=eth0 --ip=10.0.0.2 --netmask=255.255.255.0 --gateway=10.0.0.1 --nameserver=10.0.0.1 --hostname=mail.lan --activate --onboot=yes\n",
            "# Network information\nnetwork  --bootproto=static --device=eth0 --gateway=10.0.0.1 --hostname=mail.lan --ip=10.0.0.2 --nameserver=10.0.0.1 --netmask=255.255.255.0 --activate\n",
        ),
        (
            "network --hostname=h.lan --onboot=off --no-activate\n",
            "# Network information\nnetwork  --bootproto=dhcp --hostname=h.lan --onboot=off --no-activate\n",
        ),
        (
            "user --name=admin --gecos=\"Admin User\" --groups=wheel,mail --password=secret --plaintext --uid=1000\n",
            "user --groups=wheel,mail --name=admin --password=secret --uid=1000 --gecos=\"Admin User\"\n",
        ),
        (
            "user --name=o --password='a b#c\"d' --iscrypted\n",
            "user --name=o --password=\"a b#c\\\"d\" --iscrypted\n",
        ),
        (
            "group --name=mail2 --gid=2000\n",
            "group --name=mail2 --gid=2000\n",
        ),
        (
            "sshkey --username=admin \"ssh-ed25519 AAAA x@y\"\n",
            "sshkey --username=admin \"ssh-ed25519 AAAA x@y\"\n",
        ),
        (
            "firewall --enabled --service=ssh,smtp --port=993:tcp,25 --http\n",
            "# Firewall configuration\nfirewall --enabled --port=993:tcp,25:tcp --service=ssh,smtp,http\n",
        ),
        (
            "firewall --disable\n",
            "# Firewall configuration\nfirewall --disabled\n",
        ),
        (
            "ignoredisk --only-use=/dev/sda,vdb\n",
            "ignoredisk --only-use=/dev/sda,vdb\n",
        ),
        (
            "zerombr\nreqpart --add-boot\n",
            "reqpart --add-boot\n# Clear the Master Boot Record\nzerombr\n",
        ),
        (
            "autopart --nolvm --fstype=xfs --nohome --encrypted --passphrase=\"a b\" --cipher=aes\n",
            "autopart --encrypted --passphrase=\"a b\" --type=plain --cipher=\"aes\" --fstype=xfs --nohome\n",
        ),
        (
            "bootloader --location=mbr --timeout=5 --append=\"console=ttyS0 quiet\" --sdboot\n",
            "# System bootloader configuration\nbootloader --append=\"console=ttyS0 quiet\" --location=mbr --timeout=5 --sdboot\n",
        ),
        ("eula --agree\n", "# License agreement\neula --agreed\n"),
        ("firstboot --disabled\n", "firstboot --disable\n"),
        ("text\n", "# Use text mode install\ntext\n"),
        ("cmdline\n", "cmdline\n"),
        (
            "graphical --non-interactive\n",
            "# Use graphical install\ngraphical --non-interactive\n",
        ),
        (
            "reboot --eject\n",
            "# Reboot after installation\nreboot --eject\n",
        ),
        ("halt\n", "# Halt after installation\nhalt\n"),
        ("poweroff\n", "# Shutdown after installation\npoweroff\n"),
        (
            "selinux --enforcing --permissive\n",
            "# SELinux configuration\nselinux --permissive\n",
        ),
        (
            "part raid.01 --size=100\npart raid.02 --size=100\nraid / --level=raid1 --device=/dev/md0 --fstype=ext4 raid.01 raid.02\n",
            "# Disk partitioning information\npart raid.01 --size=100\npart raid.02 --size=100\nraid / --device=md0 --fstype=\"ext4\" --level=RAID1 raid.01 raid.02\n",
        ),
        (
            "part pv.01 --size=1 --grow\nvolgroup vg0 pv.01 --pesize=4096\nlogvol /home --vgname=vg0 --name=home --size=100 --fstype=xfs\n",
            "# Disk partitioning information\npart pv.01 --grow --size=1\nvolgroup vg0 --pesize=4096 pv.01\nlogvol /home --fstype=\"xfs\" --size=100 --name=home --vgname=vg0\n",
        ),
        // argparse: a word with a space or a negative number is a value, and
        // the bare prefix `--` abbreviates a command's only long option.
        (
            "sshkey --username=ops \"-ed25519 A b\"\nnetwork --mtu -5\n",
            "# Network information\nnetwork  --bootproto=dhcp --mtu=-5\nsshkey --username=ops \"-ed25519 A b\"\n",
        ),
        (
            "lang en_US --=addsupport=de\n",
            "# System language\nlang en_US --addsupport=addsupport=de\n",
        ),
        // Last one wins for single commands (with a warning).
        (
            "timezone A/B\ntimezone Etc/UTC\n",
            "# System timezone\ntimezone Etc/UTC\n",
        ),
        // Tabs separate, CRLF is accepted, comments are dropped.
        (
            "lang\ten_US # the language\r\n# comment\r\n\r\n",
            "# System language\nlang en_US\n",
        ),
    ];
    for (input, expected) in cases {
        check_ok(input, expected);
    }
}

/// A positional word that reads as an option or as the end-of-options
/// marker prints after `--`, so it parses back as itself. The fuzzer found
/// `volgroup vg0 -- a -- b` printed as `volgroup vg0 a -- b`, which parsed
/// again as `[vg0, a, b]` (the `--` member lost).
#[test]
fn a_positional_that_looks_like_an_option_survives_the_round_trip() {
    let cases: &[(&str, &str)] = &[
        ("volgroup vg0 -- a -- b\n", "volgroup -- vg0 a -- b\n"),
        (
            "volgroup vg0 --pesize=4096 -- pv.01 -x\n",
            "volgroup --pesize=4096 -- vg0 pv.01 -x\n",
        ),
        (
            "raid /srv --level=1 --device=md0 -- raid.01 --raid.02\n",
            "raid --device=md0 --level=RAID1 -- /srv raid.01 --raid.02\n",
        ),
        // A lone `-` is a plain word to argparse and keeps its place.
        ("volgroup vg0 -- -\n", "volgroup vg0 -\n"),
        // Only a word that needs it moves the line into this layout.
        ("volgroup vg0 -- pv.01\n", "volgroup vg0 pv.01\n"),
        // Words argparse reads as values anyway (a negative number, a word
        // with a space) need no `--`; `--name=a b` still does.
        ("volgroup vg0 -- -5\n", "volgroup vg0 -5\n"),
        ("volgroup vg0 -- \"-a b\"\n", "volgroup vg0 \"-a b\"\n"),
        (
            "volgroup vg0 -- \"--pesize=a b\"\n",
            "volgroup -- vg0 \"--pesize=a b\"\n",
        ),
    ];
    for (input, expected) in cases {
        check_ok(input, expected);
    }
}

#[test]
fn sections_table() {
    let cases: &[(&str, &str)] = &[
        // Script text is kept as is, including blank lines, comments and
        // lines starting with `%` that are not section keywords.
        (
            "%post --nochroot --interpreter=/bin/bash\n# keep me\n\n%hello\necho post # c\n  %end # done\n",
            "\n%post --interpreter=/bin/bash --nochroot\n# keep me\n\n%hello\necho post # c\n%end\n",
        ),
        (
            "%pre --erroronfail --log=/tmp/pre.log\necho hi\n%end\n",
            "\n%pre --logfile=/tmp/pre.log --erroronfail\necho hi\n%end\n",
        ),
        (
            "%pre-install\nx\n%end\n%onerror\ny\n%end\n%traceback\nz\n%end\n",
            "\n%pre-install\nx\n%end\n\n%onerror\ny\n%end\n\n%traceback\nz\n%end\n",
        ),
        (
            "%packages --excludedocs --ignoremissing --inst-langs=en\n@core\nvim # editor\n-nano\n@^server\n-@base\n\n# c\n%end\n",
            "%packages --excludedocs --ignoremissing --inst-langs=en\n@^server\n@core\nvim\n-@base\n-nano\n\n%end\n",
        ),
        (
            "%packages --exclude-weakdeps --nocore --retries=3\n%end\n",
            "%packages --nocore --exclude-weakdeps --retries=3\n\n%end\n",
        ),
        (
            "%addon com_redhat_kdump --enable --reserve-mb=auto\n%end\n",
            "\n%addon com_redhat_kdump --enable --reserve-mb=auto\n%end\n",
        ),
        (
            "%anaconda\npwpolicy root --minlen=6\n%end\n",
            "\n%anaconda\npwpolicy root --minlen=6\n\n%end\n",
        ),
    ];
    for (input, expected) in cases {
        check_ok(input, expected);
    }
}

#[test]
fn warnings_table() {
    let cases: &[(&str, &str)] = &[
        (
            "timezone A/B\ntimezone Etc/UTC\n",
            "t.ks:2:1: warning: timezone: timezone already given on line 1; only the last one is used",
        ),
        (
            "user --name=a\nuser --name=a\n",
            "t.ks:2:6: warning: user: a user with the name a has already been defined",
        ),
        (
            "network --device=eth0\nnetwork --device=eth0\n",
            "t.ks:2:9: warning: network: a network device with the name eth0 has already been defined; both lines are kept",
        ),
        (
            "timezone Etc/UTC --nontp\n",
            "t.ks:1:18: warning: timezone: option --nontp is deprecated and has no effect; remove it",
        ),
        (
            "selinux --disabled\n",
            "t.ks:1:1: warning: selinux: accepted but has no effect: Outpost is Debian-based and installs no SELinux policy",
        ),
        (
            "reboot\npoweroff\n",
            "t.ks:2:1: warning: poweroff: reboot/poweroff/halt/shutdown already given on line 1; only the last one is used",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            warnings(input),
            vec![expected.to_string()],
            "warnings of {input:?}"
        );
    }
}

#[test]
fn model_values() {
    let p = outpost_kickstart::parse_str(
        "t.ks",
        "part / --size=4096 --grow --fstype=ext4\nrootpw --lock\nreboot\n",
    )
    .unwrap();
    let k = p.kickstart;
    assert_eq!(k.partitions[0].size, Some(4096));
    assert!(k.partitions[0].grow);
    assert_eq!(k.partitions[0].origin.line, 1);
    assert!(k.rootpw.unwrap().lock);
    assert_eq!(
        k.finish.unwrap().action,
        outpost_kickstart::FinishAction::Reboot
    );
}
