//! The command section: one handler per kickstart command.
//!
//! Option tables mirror pykickstart's current Fedora handler (F43 classes
//! such as `F41_Partition`, `F39_Network`, `F28_ClearPart`); aliases are
//! extra names of one option (`--ondrive` → `--ondisk`, `--usepart` →
//! `--onpart`). A command that may appear once keeps the last occurrence
//! (the parser refuses a repeated storage command whose meaning would then
//! differ from pykickstart's merge, see [`STICKY`]); multi-instance commands
//! warn on duplicates as pykickstart does, except the storage commands,
//! where a duplicate is an error as in pykickstart's `ksvalidator`, which
//! turns those warnings into errors. The storage rules mirror the checks in
//! pykickstart's `parse()` methods, each citing its source line; the table
//! in `tests/it/storage.rs` records pykickstart's verdict for every rule.

use crate::lex::Word;
use crate::model::*;
use crate::opts::{Args, Fail, Kind, Opt, dep, opt, parse};

const LUKS: &[Opt] = &[
    opt(&["--encrypted"], "encrypted", Kind::True),
    opt(&["--passphrase"], "passphrase", Kind::Str),
    opt(&["--escrowcert"], "escrowcert", Kind::Str),
    opt(&["--backuppassphrase"], "backuppassphrase", Kind::True),
    opt(&["--cipher"], "cipher", Kind::Str),
    opt(&["--luks-version"], "luks_version", Kind::Str),
    opt(&["--pbkdf"], "pbkdf", Kind::Str),
    opt(&["--pbkdf-memory"], "pbkdf_memory", Kind::Int),
    opt(&["--pbkdf-time"], "pbkdf_time", Kind::Int),
    opt(&["--pbkdf-iterations"], "pbkdf_iterations", Kind::Int),
];

const DISPLAY: &[Opt] = &[opt(&["--non-interactive"], "non_interactive", Kind::True)];
const LANG: &[Opt] = &[opt(&["--addsupport"], "addsupport", Kind::List)];
const KEYBOARD: &[Opt] = &[
    opt(&["--vckeymap"], "vckeymap", Kind::Str),
    opt(&["--xlayouts"], "xlayouts", Kind::List),
    opt(&["--switch"], "switch", Kind::List),
];
const TIMEZONE: &[Opt] = &[
    opt(&["--utc"], "utc", Kind::True),
    dep(&["--isUtc"], "utc", Kind::True),
    dep(&["--nontp"], "nontp", Kind::True),
    dep(&["--ntpservers"], "ntpservers", Kind::List),
];
const NETWORK: &[Opt] = &[
    opt(
        &["--bootproto"],
        "bootproto",
        Kind::Choice(&["dhcp", "bootp", "static", "query", "ibft"]),
    ),
    opt(&["--dhcpclass"], "dhcpclass", Kind::Str),
    opt(&["--device"], "device", Kind::Str),
    opt(&["--essid"], "essid", Kind::Str),
    opt(&["--ethtool"], "ethtool", Kind::Str),
    opt(&["--gateway"], "gateway", Kind::Str),
    opt(&["--hostname"], "hostname", Kind::Str),
    opt(&["--ip"], "ip", Kind::Str),
    opt(&["--mtu"], "mtu", Kind::Str),
    opt(&["--nameserver"], "nameserver", Kind::Str),
    opt(&["--netmask"], "netmask", Kind::Str),
    opt(&["--nodns"], "nodns", Kind::True),
    opt(&["--onboot"], "onboot", Kind::Bool),
    opt(&["--wepkey"], "wepkey", Kind::Str),
    opt(&["--notksdevice"], "notksdevice", Kind::True),
    opt(&["--noipv4"], "noipv4", Kind::True),
    opt(&["--noipv6"], "noipv6", Kind::True),
    opt(&["--ipv6"], "ipv6", Kind::Str),
    opt(&["--activate"], "activate", Kind::True),
    opt(&["--no-activate"], "activate", Kind::False),
    opt(&["--nodefroute"], "nodefroute", Kind::True),
    opt(&["--wpakey"], "wpakey", Kind::Str),
    opt(&["--bondslaves"], "bondslaves", Kind::Str),
    opt(&["--bondopts"], "bondopts", Kind::Str),
    opt(&["--vlanid"], "vlanid", Kind::Str),
    opt(&["--ipv6gateway"], "ipv6gateway", Kind::Str),
    opt(&["--teamslaves"], "teamslaves", Kind::Str),
    opt(&["--teamconfig"], "teamconfig", Kind::Str),
    opt(&["--interfacename"], "interfacename", Kind::Str),
    opt(&["--bridgeslaves"], "bridgeslaves", Kind::Str),
    opt(&["--bridgeopts"], "bridgeopts", Kind::Str),
    opt(&["--bindto"], "bindto", Kind::Choice(&["mac"])),
    opt(&["--ipv4-dns-search"], "ipv4_dns_search", Kind::Str),
    opt(&["--ipv6-dns-search"], "ipv6_dns_search", Kind::Str),
    opt(
        &["--ipv4-ignore-auto-dns"],
        "ipv4_ignore_auto_dns",
        Kind::True,
    ),
    opt(
        &["--ipv6-ignore-auto-dns"],
        "ipv6_ignore_auto_dns",
        Kind::True,
    ),
];
const ROOTPW: &[Opt] = &[
    opt(&["--iscrypted"], "crypted", Kind::True),
    opt(&["--plaintext"], "crypted", Kind::False),
    opt(&["--lock"], "lock", Kind::True),
    opt(&["--allow-ssh"], "allow_ssh", Kind::True),
];
const USER: &[Opt] = &[
    opt(&["--homedir"], "homedir", Kind::Str),
    opt(&["--iscrypted"], "crypted", Kind::True),
    opt(&["--plaintext"], "crypted", Kind::False),
    opt(&["--name"], "name", Kind::Str),
    opt(&["--password"], "password", Kind::Str),
    opt(&["--shell"], "shell", Kind::Str),
    opt(&["--uid"], "uid", Kind::Int),
    opt(&["--lock"], "lock", Kind::True),
    opt(&["--gecos"], "gecos", Kind::Str),
    opt(&["--gid"], "gid", Kind::Int),
    opt(&["--groups"], "groups", Kind::List),
];
const GROUP: &[Opt] = &[
    opt(&["--name"], "name", Kind::Str),
    opt(&["--gid"], "gid", Kind::Int),
];
const SSHKEY: &[Opt] = &[opt(&["--username"], "username", Kind::Str)];
const FIREWALL: &[Opt] = &[
    opt(&["--disabled", "--disable"], "enabled", Kind::False),
    opt(&["--enabled", "--enable"], "enabled", Kind::True),
    opt(&["--port"], "ports", Kind::Extend),
    // pykickstart appends each --trust but prints them comma-joined; split
    // on commas so the printed form parses back to the same devices.
    opt(&["--trust"], "trusts", Kind::Extend),
    opt(&["--service"], "services", Kind::Extend),
    opt(&["--ftp"], "services", Kind::AppendConst("ftp")),
    opt(&["--http"], "services", Kind::AppendConst("http")),
    opt(&["--smtp"], "services", Kind::AppendConst("smtp")),
    opt(&["--ssh"], "services", Kind::AppendConst("ssh")),
    opt(&["--remove-service"], "remove_services", Kind::Extend),
    opt(
        &["--use-system-defaults"],
        "use_system_defaults",
        Kind::True,
    ),
];
const SELINUX: &[Opt] = &[
    opt(&["--disabled"], "selinux", Kind::Const("disabled")),
    opt(&["--enforcing"], "selinux", Kind::Const("enforcing")),
    opt(&["--permissive"], "selinux", Kind::Const("permissive")),
];
const SERVICES: &[Opt] = &[
    opt(&["--disabled"], "disabled", Kind::List),
    opt(&["--enabled"], "enabled", Kind::List),
];
const IGNOREDISK: &[Opt] = &[
    opt(&["--drives"], "drives", Kind::List),
    opt(&["--only-use"], "onlyuse", Kind::List),
];
const CLEARPART: &[Opt] = &[
    opt(&["--all"], "type", Kind::Const("all")),
    opt(&["--initlabel"], "initlabel", Kind::True),
    opt(&["--linux"], "type", Kind::Const("linux")),
    opt(&["--none"], "type", Kind::Const("none")),
    opt(&["--disklabel"], "disklabel", Kind::Str),
    opt(&["--drives"], "drives", Kind::List),
    opt(&["--list"], "list", Kind::List),
    opt(&["--cdl"], "cdl", Kind::True),
];
const REQPART: &[Opt] = &[opt(&["--add-boot"], "add_boot", Kind::True)];
const AUTOPART_OWN: &[Opt] = &[
    opt(&["--nolvm"], "type", Kind::Const("plain")),
    // autopart.py:248-252: `_type_cb` lower-cases the value.
    opt(
        &["--type"],
        "type",
        Kind::ChoiceNoCase(&["lvm", "plain", "thinp", "btrfs"]),
    ),
    opt(&["--fstype"], "fstype", Kind::Str),
    opt(&["--nohome"], "nohome", Kind::True),
    opt(&["--noboot"], "noboot", Kind::True),
    opt(&["--noswap"], "noswap", Kind::True),
    opt(&["--hibernation"], "hibernation", Kind::True),
    opt(&["--hw-passphrase"], "hw_passphrase", Kind::Str),
];
const PART_OWN: &[Opt] = &[
    opt(&["--asprimary"], "asprimary", Kind::True),
    opt(&["--fstype", "--type"], "fstype", Kind::Str),
    opt(&["--grow"], "grow", Kind::True),
    opt(&["--maxsize"], "maxsize", Kind::Int),
    opt(&["--noformat"], "noformat", Kind::True),
    opt(&["--onbiosdisk"], "onbiosdisk", Kind::Str),
    opt(&["--ondisk", "--ondrive"], "disk", Kind::Str),
    opt(&["--onpart", "--usepart"], "onpart", Kind::Str),
    opt(&["--recommended"], "recommended", Kind::True),
    opt(&["--size"], "size", Kind::Int),
    opt(&["--fsoptions"], "fsoptions", Kind::Str),
    opt(&["--label"], "label", Kind::Str),
    opt(&["--fsprofile"], "fsprofile", Kind::Str),
    opt(&["--resize"], "resize", Kind::True),
    opt(&["--hibernation"], "hibernation", Kind::True),
    opt(&["--mkfsoptions"], "mkfsoptions", Kind::Str),
    opt(&["--hw-passphrase"], "hw_passphrase", Kind::Str),
];
const RAID_OWN: &[Opt] = &[
    opt(&["--device"], "device", Kind::Str),
    opt(&["--fstype"], "fstype", Kind::Str),
    opt(&["--level"], "level", Kind::Str),
    opt(&["--noformat"], "noformat", Kind::True),
    opt(&["--spares"], "spares", Kind::Int),
    opt(&["--useexisting"], "useexisting", Kind::True),
    opt(&["--fsoptions"], "fsoptions", Kind::Str),
    opt(&["--fsprofile"], "fsprofile", Kind::Str),
    opt(&["--label"], "label", Kind::Str),
    opt(&["--mkfsoptions"], "mkfsoptions", Kind::Str),
    opt(&["--chunksize"], "chunksize", Kind::Int),
];
const VOLGROUP: &[Opt] = &[
    opt(&["--noformat"], "noformat", Kind::True),
    opt(&["--useexisting"], "useexisting", Kind::True),
    opt(&["--reserved-space"], "reserved_space", Kind::Int),
    opt(&["--reserved-percent"], "reserved_percent", Kind::Int),
    opt(&["--pesize"], "pesize", Kind::Int),
];
const LOGVOL_OWN: &[Opt] = &[
    opt(&["--fstype"], "fstype", Kind::Str),
    opt(&["--grow"], "grow", Kind::True),
    opt(&["--maxsize"], "maxsize", Kind::Int),
    opt(&["--name"], "name", Kind::Str),
    opt(&["--noformat"], "noformat", Kind::True),
    opt(&["--percent"], "percent", Kind::Int),
    opt(&["--recommended"], "recommended", Kind::True),
    opt(&["--size"], "size", Kind::Int),
    opt(&["--useexisting"], "useexisting", Kind::True),
    opt(&["--vgname"], "vgname", Kind::Str),
    opt(&["--fsoptions"], "fsoptions", Kind::Str),
    opt(&["--fsprofile"], "fsprofile", Kind::Str),
    opt(&["--label"], "label", Kind::Str),
    opt(&["--resize"], "resize", Kind::True),
    opt(&["--hibernation"], "hibernation", Kind::True),
    opt(&["--thinpool"], "thinpool", Kind::True),
    opt(&["--thin"], "thin", Kind::True),
    opt(&["--poolname"], "poolname", Kind::Str),
    opt(&["--chunksize"], "chunksize", Kind::Int),
    opt(&["--metadatasize"], "metadatasize", Kind::Int),
    opt(&["--profile"], "profile", Kind::Str),
    opt(&["--cachesize"], "cachesize", Kind::Int),
    opt(&["--cachemode"], "cachemode", Kind::Str),
    opt(&["--cachepvs"], "cachepvs", Kind::List),
    opt(&["--mkfsoptions"], "mkfsoptions", Kind::Str),
];
const BOOTLOADER: &[Opt] = &[
    opt(&["--append"], "append", Kind::Str),
    opt(
        &["--location"],
        "location",
        Kind::Choice(&["mbr", "partition", "none", "boot"]),
    ),
    opt(&["--password"], "password", Kind::Str),
    opt(&["--driveorder"], "driveorder", Kind::List),
    opt(&["--timeout"], "timeout", Kind::Int),
    opt(&["--default"], "default", Kind::Str),
    opt(&["--iscrypted"], "iscrypted", Kind::True),
    opt(&["--md5pass"], "md5pass", Kind::Str),
    opt(&["--boot-drive"], "boot_drive", Kind::Str),
    opt(&["--leavebootorder"], "leavebootorder", Kind::True),
    opt(&["--extlinux"], "extlinux", Kind::True),
    opt(&["--disabled"], "disabled", Kind::True),
    opt(&["--nombr"], "nombr", Kind::True),
    opt(&["--sdboot"], "sdboot", Kind::True),
];
const EULA: &[Opt] = &[opt(
    &["--agreed", "--agree", "--accepted", "--accept"],
    "agreed",
    Kind::True,
)];
const FIRSTBOOT: &[Opt] = &[
    opt(
        &["--disable", "--disabled"],
        "firstboot",
        Kind::Const("disable"),
    ),
    opt(
        &["--enable", "--enabled"],
        "firstboot",
        Kind::Const("enable"),
    ),
    opt(&["--reconfig"], "firstboot", Kind::Const("reconfig")),
];
const FINISH: &[Opt] = &[
    opt(&["--eject"], "eject", Kind::True),
    opt(&["--kexec"], "kexec", Kind::True),
];

/// Every command name Outpost accepts (pykickstart's names and aliases).
pub const COMMANDS: &[&str] = &[
    "autopart",
    "bootloader",
    "clearpart",
    "cmdline",
    "eula",
    "firewall",
    "firstboot",
    "graphical",
    "group",
    "halt",
    "ignoredisk",
    "keyboard",
    "lang",
    "logvol",
    "network",
    "part",
    "partition",
    "poweroff",
    "raid",
    "reboot",
    "reqpart",
    "rootpw",
    "selinux",
    "services",
    "shutdown",
    "sshkey",
    "text",
    "timezone",
    "user",
    "volgroup",
    "zerombr",
];

/// Commands pykickstart knows that Outpost deliberately does not support, with
/// the reason shown to the admin.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "url",
        "the installer is offline and installs from the payload on the media",
    ),
    (
        "repo",
        "the installer is offline and installs from the payload on the media",
    ),
    ("cdrom", "the installer always installs from its own media"),
    (
        "harddrive",
        "the installer always installs from its own media",
    ),
    ("nfs", "the installer always installs from its own media"),
    (
        "liveimg",
        "the installer always installs from its own media",
    ),
    ("ostreesetup", "Outpost is not an OSTree system"),
    // Not parsed at all (rather than parsed and left to the installer, as
    // raid/volgroup/logvol are): the model has no btrfs volumes, so a
    // parsed line would silently describe nothing.
    (
        "btrfs",
        "the installer creates no btrfs volumes; use part with --fstype=ext4 or xfs",
    ),
    (
        "authselect",
        "Debian uses PAM profiles; use %post if you must",
    ),
    (
        "authconfig",
        "Debian uses PAM profiles; use %post if you must",
    ),
    ("auth", "Debian uses PAM profiles; use %post if you must"),
    ("vnc", "the installer has no graphical or remote interface"),
    ("rdp", "the installer has no graphical or remote interface"),
    (
        "install",
        "removed from Anaconda; installing is the default",
    ),
    ("upgrade", "removed from Anaconda"),
    ("mouse", "removed from Anaconda"),
    ("xconfig", "Outpost has no X server"),
    ("skipx", "Outpost has no X server (nothing to skip)"),
];

/// Result of one command: what the parser needs to track conflicts.
pub(crate) struct Handled {
    pub warnings: Vec<(u32, String)>,
    /// Options given on the line that pykickstart would keep for a later
    /// line of the same command that leaves them out ([`STICKY`]), as
    /// (destination, option name).
    pub sticky: Vec<(&'static str, &'static str)>,
}

/// Options of single-instance storage commands whose argparse default in
/// pykickstart is `None` (its option tables: autopart.py, bootloader.py,
/// clearpart.py, ignoredisk.py). pykickstart parses every line of such a
/// command into one object and `set_to_obj` skips `None` values
/// (base.py:182-184), so these keep their value from an earlier line;
/// options with any other default (flags: `False`; `--boot-drive`: `""`)
/// are reset by every line. Outpost keeps the last line only, so the parser
/// refuses a repeat that leaves one of these out.
pub(crate) const STICKY: &[(&str, &[&str])] = &[
    (
        "autopart",
        &["type", "fstype", "passphrase", "escrowcert", "cipher"],
    ),
    (
        "bootloader",
        &["append", "driveorder", "timeout", "default"],
    ),
    ("clearpart", &["type", "drives", "list"]),
    ("ignoredisk", &["drives", "onlyuse"]),
];

fn positional(
    cmd: &str,
    args: &Args,
    min: usize,
    max: usize,
    what: &str,
    first_col: u32,
) -> Result<(), Fail> {
    if max == 0
        && let Some(col) = args.dashdash
    {
        return Err((col, format!("{cmd}: unexpected argument `--`")));
    }
    if args.pos.len() < min {
        return Err((
            first_col,
            format!("{cmd}: missing {what}, e.g. `{cmd} {}`", example(cmd)),
        ));
    }
    if args.pos.len() > max {
        let w = &args.pos[max];
        return Err((w.col, format!("{cmd}: unexpected argument `{}`", w.text)));
    }
    Ok(())
}

fn example(cmd: &str) -> &'static str {
    match cmd {
        "lang" => "en_US.UTF-8",
        "timezone" => "Etc/UTC --utc",
        "part" | "partition" => "/ --fstype=ext4 --size=4096",
        "raid" => "/ --level=1 --device=md0 raid.01 raid.02",
        "logvol" => "/ --vgname=vg0 --name=root --size=4096",
        "volgroup" => "vg0 pv.01",
        "sshkey" => "--username=admin \"ssh-ed25519 AAAA…\"",
        "rootpw" => "--iscrypted '$6$…'",
        _ => "…",
    }
}

fn required(cmd: &str, args: &Args, dest: &str, opt: &str, col: u32) -> Result<String, Fail> {
    match args.str(dest) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err((
            col,
            format!("{cmd}: option {opt} is required, e.g. {opt}=VALUE"),
        )),
    }
}

/// pykickstart's checks shared by `part`, `raid` and `logvol`.
fn fs_checks(cmd: &str, args: &Args, col0: u32) -> Result<(), Fail> {
    let col = |d: &str| args.col(d).unwrap_or(col0);
    luks_checks(cmd, args, col0)?;
    // partition.py:679-682, raid.py:700-703, logvol.py:856-859 (values
    // tested for truth, so an empty one counts as not given).
    if args.truthy("mkfsoptions") && args.truthy("fsprofile") {
        return Err((
            col("mkfsoptions"),
            format!("{cmd}: --mkfsoptions and --fsprofile cannot be used together"),
        ));
    }
    // Only --noformat: --useexisting reformats the device, so the options
    // are used.
    if args.truthy("mkfsoptions") && args.flag("noformat") {
        return Err((
            col("mkfsoptions"),
            format!("{cmd}: --mkfsoptions with --noformat has no effect; remove one of them"),
        ));
    }
    Ok(())
}

/// pykickstart's LUKS checks shared by the storage commands.
fn luks_checks(cmd: &str, args: &Args, col0: u32) -> Result<(), Fail> {
    // partition.py:733-735 and its copies test both for truth; Outpost
    // refuses an explicit 0 next to the other too (contradictory).
    if args.int("pbkdf_time").is_some() && args.int("pbkdf_iterations").is_some() {
        return Err((
            args.col("pbkdf_iterations").unwrap_or(col0),
            format!("{cmd}: only one of --pbkdf-time and --pbkdf-iterations can be given"),
        ));
    }
    // partition.py:811-813, autopart.py:663-665 (only `part` and
    // `autopart` have --hw-passphrase).
    if args.truthy("hw_passphrase")
        && (!args.flag("encrypted")
            || !args
                .str("luks_version")
                .is_some_and(|v| v.starts_with("luks2-")))
    {
        return Err((
            args.col("hw_passphrase").unwrap_or(col0),
            format!(
                "{cmd}: --hw-passphrase is only for LUKS2 HW-OPAL encryption; add --encrypted and --luks-version=luks2-hw-opal (or luks2-hw-opal-only)"
            ),
        ));
    }
    Ok(())
}

/// Strips a leading `/dev/` as pykickstart does for device options.
pub(crate) fn strip_dev(s: &str) -> String {
    s.strip_prefix("/dev/").unwrap_or(s).to_string()
}

/// pykickstart's "preexisting" device: `--useexisting`, or `--noformat`,
/// which its `parse()` methods turn into `preexist = True` (raid.py:433,
/// volgroup.py:165, logvol.py:477). Returns the flag that was given.
fn preexisting(args: &Args) -> Option<&'static str> {
    if args.flag("useexisting") {
        Some("--useexisting")
    } else if args.flag("noformat") {
        Some("--noformat")
    } else {
        None
    }
}

/// Where an earlier command is, as seen from `here`: `line N` in the same
/// file, `FILE:N` in another.
fn at(earlier: &Origin, here: &Origin) -> String {
    if earlier.file == here.file {
        format!("line {}", earlier.line)
    } else {
        format!("{}:{}", earlier.file, earlier.line)
    }
}

/// Outpost's own check, stricter than pykickstart (which compares mount
/// points between `part` lines only, and RAID devices and logical volumes
/// by name): a mount point (`/…`) holds one file system, whichever of
/// `part`, `raid` and `logvol` defines it. Two file systems on `/` cannot
/// both be installed.
fn mount_point_free(
    ks: &Kickstart,
    cmd: &str,
    mp: &str,
    col: u32,
    here: &Origin,
) -> Result<(), Fail> {
    if !mp.starts_with('/') {
        return Ok(());
    }
    let parts = ks
        .partitions
        .iter()
        .map(|p| ("part", &p.mountpoint, &p.origin));
    let raids = ks.raids.iter().map(|r| ("raid", &r.mountpoint, &r.origin));
    let lvs = ks
        .logvols
        .iter()
        .map(|l| ("logvol", &l.mountpoint, &l.origin));
    match parts.chain(raids).chain(lvs).find(|(_, m, _)| *m == mp) {
        Some((other, _, o)) => Err((
            col,
            format!(
                "{cmd}: the mount point {mp} is already used by {other} on {}; a mount point can hold one file system",
                at(o, here)
            ),
        )),
        None => Ok(()),
    }
}

/// pykickstart's `mountpoint` type: normalise absolute paths like
/// `os.path.normpath` (collapse `//`, `/./`, `..`, trailing `/`).
fn normpath(p: &str) -> String {
    if !p.starts_with('/') {
        return p.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    // POSIX normpath keeps exactly two leading slashes.
    let lead = if p.starts_with("//") && !p.starts_with("///") {
        "//"
    } else {
        "/"
    };
    format!("{lead}{}", parts.join("/"))
}

/// Handles one command line. `words[0]` is the command name.
pub(crate) fn handle(ks: &mut Kickstart, words: &[Word], origin: &Origin) -> Result<Handled, Fail> {
    let cmd = words[0].text.as_str();
    let col0 = words[0].col;
    let rest = &words[1..];
    let p = |specs: &[Opt]| parse(cmd, specs, rest);
    let cat = |a: &[Opt], b: &[Opt]| -> Vec<Opt> { a.iter().chain(b.iter()).copied().collect() };
    let mut warnings = Vec::new();
    let args: Args;
    match cmd {
        "text" | "cmdline" | "graphical" => {
            args = p(DISPLAY)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            let mode = match cmd {
                "text" => DisplayKind::Text,
                "cmdline" => DisplayKind::Cmdline,
                _ => DisplayKind::Graphical,
            };
            ks.display_mode = Some(DisplayMode {
                mode,
                non_interactive: args.flag("non_interactive"),
            });
        }
        "lang" => {
            args = p(LANG)?;
            positional(cmd, &args, 1, 1, "the language", col0)?;
            ks.lang = Some(Lang {
                lang: args.pos[0].text.clone(),
                addsupport: args.list("addsupport"),
            });
        }
        "keyboard" => {
            args = p(KEYBOARD)?;
            positional(cmd, &args, 0, 1, "", col0)?;
            let kb = Keyboard {
                keyboard: args.pos.first().map(|w| w.text.clone()),
                vc_keymap: args.str("vckeymap").filter(|s| !s.is_empty()),
                x_layouts: args.list("xlayouts"),
                switch_options: args.list("switch"),
            };
            if kb.keyboard.is_none() && kb.vc_keymap.is_none() && kb.x_layouts.is_empty() {
                return Err((col0, "keyboard: give at least one of --vckeymap, --xlayouts or a layout, e.g. `keyboard --vckeymap=us --xlayouts=us`".into()));
            }
            ks.keyboard = Some(kb);
        }
        "timezone" => {
            args = p(TIMEZONE)?;
            positional(cmd, &args, 0, 1, "", col0)?;
            let tz = Timezone {
                timezone: args.pos.first().map(|w| w.text.clone()),
                utc: args.flag("utc"),
                nontp: args.flag("nontp"),
                ntpservers: args.list("ntpservers"),
            };
            if tz.nontp && !tz.ntpservers.is_empty() {
                return Err((
                    args.col("ntpservers").unwrap_or(col0),
                    "timezone: options --nontp and --ntpservers are mutually exclusive".into(),
                ));
            }
            if tz.timezone.is_none() && !tz.utc && !tz.nontp && tz.ntpservers.is_empty() {
                return Err((
                    col0,
                    "timezone: missing the time zone, e.g. `timezone Etc/UTC --utc`".into(),
                ));
            }
            ks.timezone = Some(tz);
        }
        "network" => {
            args = p(NETWORK)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            let bootproto = match args.str("bootproto").as_deref() {
                Some("bootp") => BootProto::Bootp,
                Some("static") => BootProto::Static,
                Some("query") => BootProto::Query,
                Some("ibft") => BootProto::Ibft,
                _ => BootProto::Dhcp,
            };
            let nd = Network {
                bootproto,
                device: args.str("device"),
                ip: args.str("ip"),
                netmask: args.str("netmask"),
                gateway: args.str("gateway"),
                nameservers: args
                    .str("nameserver")
                    .map(|s| crate::opts::comma_split(&s))
                    .unwrap_or_default(),
                hostname: args.str("hostname"),
                ipv6: args.str("ipv6"),
                ipv6gateway: args.str("ipv6gateway").filter(|s| !s.is_empty()),
                mtu: args.str("mtu"),
                onboot: args.bool_opt("onboot"),
                activate: args.bool_opt("activate"),
                nodefroute: args.flag("nodefroute"),
                noipv4: args.flag("noipv4"),
                noipv6: args.flag("noipv6"),
                nodns: args.flag("nodns"),
                extra: args.extra(&[
                    "bootproto",
                    "device",
                    "ip",
                    "netmask",
                    "gateway",
                    "nameserver",
                    "hostname",
                    "ipv6",
                    "ipv6gateway",
                    "mtu",
                    "onboot",
                    "activate",
                    "nodefroute",
                    "noipv4",
                    "noipv6",
                    "nodns",
                ]),
                origin: origin.clone(),
            };
            // An empty `--ip=` is no address (and prints as nothing, so
            // it must not satisfy this check: found by fuzzing).
            let none = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
            if nd.bootproto == BootProto::Static && none(&nd.ip) && none(&nd.ipv6) {
                return Err((
                    col0,
                    "network: --bootproto=static needs --ip (and --netmask, --gateway)".into(),
                ));
            }
            if let Some(dev) = &nd.device
                && ks
                    .network
                    .iter()
                    .any(|n| n.device.as_deref() == Some(dev.as_str()))
            {
                warnings.push((args.col("device").unwrap_or(col0), format!("network: a network device with the name {dev} has already been defined; both lines are kept")));
            }
            ks.network.push(nd);
        }
        "rootpw" => {
            args = p(ROOTPW)?;
            positional(cmd, &args, 0, 1, "", col0)?;
            let password = args.pos.first().map(|w| w.text.clone());
            let lock = args.flag("lock");
            if password.is_none() && !lock {
                return Err((col0, "rootpw: missing the password; give one (`rootpw --iscrypted '$6$…'`) or use --lock".into()));
            }
            ks.rootpw = Some(RootPw {
                password,
                is_crypted: args.flag("crypted"),
                lock,
                allow_ssh: args.flag("allow_ssh"),
            });
        }
        "user" => {
            args = p(USER)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            let name = required(cmd, &args, "name", "--name", col0)?;
            if ks.users.iter().any(|u| u.name == name) {
                warnings.push((
                    args.col("name").unwrap_or(col0),
                    format!("user: a user with the name {name} has already been defined"),
                ));
            }
            ks.users.push(User {
                name,
                gecos: args.str("gecos"),
                groups: args.list("groups"),
                homedir: args.str("homedir"),
                password: args.str("password"),
                is_crypted: args.flag("crypted"),
                lock: args.flag("lock"),
                shell: args.str("shell"),
                uid: args.int("uid").map(|v| v as u32),
                gid: args.int("gid").map(|v| v as u32),
                origin: origin.clone(),
            });
        }
        "group" => {
            args = p(GROUP)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            let name = required(cmd, &args, "name", "--name", col0)?;
            if ks.groups.iter().any(|g| g.name == name) {
                warnings.push((
                    args.col("name").unwrap_or(col0),
                    format!("group: a group with the name {name} has already been defined"),
                ));
            }
            ks.groups.push(Group {
                name,
                gid: args.int("gid").map(|v| v as u32),
            });
        }
        "sshkey" => {
            args = p(SSHKEY)?;
            positional(cmd, &args, 1, 1, "the key", col0)?;
            let username = required(cmd, &args, "username", "--username", col0)?;
            ks.sshkeys.push(SshKey {
                username,
                key: args.pos[0].text.clone(),
            });
        }
        "firewall" => {
            args = p(FIREWALL)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            let mut ports = Vec::new();
            for port in args.list("ports") {
                ports.push(
                    firewall_port(&port).map_err(|m| (args.col("ports").unwrap_or(col0), m))?,
                );
            }
            ks.firewall = Some(Firewall {
                enabled: args.bool_opt("enabled").unwrap_or(true),
                ports,
                trusts: args.list("trusts"),
                services: args.list("services"),
                remove_services: args.list("remove_services"),
                use_system_defaults: args.flag("use_system_defaults"),
            });
        }
        "selinux" => {
            args = p(SELINUX)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            ks.selinux = match args.str("selinux").as_deref() {
                Some("disabled") => Some(SeLinux::Disabled),
                Some("enforcing") => Some(SeLinux::Enforcing),
                Some("permissive") => Some(SeLinux::Permissive),
                _ => None,
            };
            warnings.push((col0, "selinux: accepted but has no effect: Outpost is Debian-based and installs no SELinux policy".into()));
        }
        "services" => {
            args = p(SERVICES)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            let s = Services {
                enabled: args.list("enabled"),
                disabled: args.list("disabled"),
            };
            if s.enabled.is_empty() && s.disabled.is_empty() {
                return Err((col0, "services: one of --disabled or --enabled must be provided, e.g. `services --enabled=sshd`".into()));
            }
            ks.services = Some(s);
        }
        "ignoredisk" => {
            args = p(IGNOREDISK)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            let d = IgnoreDisk {
                ignoredisk: args.list("drives"),
                onlyuse: args.list("onlyuse"),
            };
            if d.ignoredisk.is_empty() == d.onlyuse.is_empty() {
                return Err((
                    col0,
                    "ignoredisk: give exactly one of --drives or --only-use".into(),
                ));
            }
            ks.ignoredisk = Some(d);
        }
        "clearpart" => {
            args = p(CLEARPART)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            // pykickstart: `--list` makes the kind CLEARPART_TYPE_LIST, which
            // prints no kind flag; the devices are the whole story.
            let kind = match args.str("type").as_deref() {
                _ if !args.list("list").is_empty() => None,
                Some("all") => Some(ClearKind::All),
                Some("linux") => Some(ClearKind::Linux),
                Some("none") => Some(ClearKind::None),
                _ => None,
            };
            let disklabel = args.str("disklabel").filter(|s| !s.is_empty());
            if let Some(l) = &disklabel
                && !["msdos", "gpt"].contains(&l.as_str())
            {
                return Err((
                    args.col("disklabel").unwrap_or(col0),
                    format!("clearpart: --disklabel={l} is not supported; use gpt or msdos"),
                ));
            }
            ks.clearpart = Some(ClearPart {
                kind,
                initlabel: args.flag("initlabel"),
                disklabel,
                drives: args.list("drives").iter().map(|s| strip_dev(s)).collect(),
                devices: args.list("list").iter().map(|s| strip_dev(s)).collect(),
                cdl: args.flag("cdl"),
            });
        }
        "zerombr" => {
            args = p(&[])?;
            positional(cmd, &args, 0, 0, "", col0)?;
            ks.zerombr = true;
        }
        "reqpart" => {
            args = p(REQPART)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            ks.reqpart = Some(ReqPart {
                add_boot: args.flag("add_boot"),
            });
        }
        "autopart" => {
            args = p(&cat(AUTOPART_OWN, LUKS))?;
            positional(cmd, &args, 0, 0, "", col0)?;
            ks.autopart = Some(AutoPart {
                kind: args.str("type"),
                fstype: args.str("fstype"),
                nohome: args.flag("nohome"),
                noboot: args.flag("noboot"),
                noswap: args.flag("noswap"),
                encrypted: args.flag("encrypted"),
                passphrase: args.str("passphrase"),
                extra: args.extra(&[
                    "type",
                    "fstype",
                    "nohome",
                    "noboot",
                    "noswap",
                    "encrypted",
                    "passphrase",
                ]),
            });
            luks_checks(cmd, &args, col0)?;
            // autopart.py:595-597 (F38_AutoPart.parse)
            if args.flag("noswap") && args.flag("hibernation") {
                return Err((
                    args.col("hibernation").unwrap_or(col0),
                    "autopart: only one of --noswap and --hibernation can be given".into(),
                ));
            }
            if args.str("fstype").is_some() && args.str("type").as_deref() == Some("btrfs") {
                return Err((
                    args.col("fstype").unwrap_or(col0),
                    "autopart: --fstype cannot be used with --type=btrfs".into(),
                ));
            }
            if args.str("fstype").as_deref() == Some("btrfs") {
                return Err((
                    args.col("fstype").unwrap_or(col0),
                    "autopart: --fstype=btrfs is not a valid fstype; use --type=btrfs instead"
                        .into(),
                ));
            }
            if let Some(fs) = args.str("fstype")
                && ["swap", "biosboot", "prepboot", "efi"].contains(&fs.as_str())
            {
                return Err((
                    args.col("fstype").unwrap_or(col0),
                    format!(
                        "autopart: --fstype={fs} cannot be used for the root file system; use ext4 or xfs"
                    ),
                ));
            }
        }
        "part" | "partition" => {
            args = p(&cat(PART_OWN, LUKS))?;
            positional(cmd, &args, 1, 1, "the mount point", col0)?;
            fs_checks(cmd, &args, col0)?;
            if args.flag("resize") && args.str("onpart").is_none() {
                return Err((
                    args.col("resize").unwrap_or(col0),
                    format!("{cmd}: --resize can only be used together with --onpart"),
                ));
            }
            // partition.py:618-619 tests --size for truth: 0 is no size.
            if args.flag("resize") && !args.truthy("size") {
                return Err((
                    args.col("resize").unwrap_or(col0),
                    format!("{cmd}: --resize requires --size to give the new size"),
                ));
            }
            // partition.py:650-653 (F20_Partition.parse)
            if args.str("fstype").as_deref() == Some("tmpfs")
                && let Some(d) = ["grow", "maxsize"].into_iter().find(|d| args.truthy(d))
            {
                return Err((
                    args.col(d).unwrap_or(col0),
                    format!(
                        "{cmd}: --fstype=tmpfs cannot be used with --grow or --maxsize (a tmpfs has a fixed size)"
                    ),
                ));
            }
            let mp = normpath(&args.pos[0].text);
            // partition.py:460-461 warns; pykickstart's ksvalidator makes
            // that warning an error, and so does Outpost: two partitions
            // cannot have one mount point (or one pv./raid. name). Only
            // `swap` may repeat.
            if mp != "swap"
                && let Some(prev) = ks.partitions.iter().find(|q| q.mountpoint == mp)
            {
                return Err((
                    args.pos[0].col,
                    format!(
                        "{cmd}: a partition with the mountpoint {mp} is already defined on {}",
                        at(&prev.origin, origin)
                    ),
                ));
            }
            mount_point_free(ks, cmd, &mp, args.pos[0].col, origin)?;
            let onpart = args.str("onpart").map(|s| strip_dev(&s));
            ks.partitions.push(Partition {
                mountpoint: mp,
                size: args.int("size"),
                maxsize: args.int("maxsize"),
                grow: args.flag("grow"),
                fstype: args.str("fstype"),
                disk: args.str("disk"),
                onpart,
                asprimary: args.flag("asprimary"),
                noformat: args.flag("noformat"),
                label: args.str("label"),
                fsoptions: args.str("fsoptions"),
                recommended: args.flag("recommended"),
                encrypted: args.flag("encrypted"),
                extra: args.extra(&[
                    "size",
                    "maxsize",
                    "grow",
                    "fstype",
                    "disk",
                    "onpart",
                    "asprimary",
                    "noformat",
                    "label",
                    "fsoptions",
                    "recommended",
                    "encrypted",
                ]),
                origin: origin.clone(),
            });
        }
        "raid" => {
            args = p(&cat(RAID_OWN, LUKS))?;
            positional(cmd, &args, 1, usize::MAX, "the mount point", col0)?;
            let level = match args.str("level") {
                Some(l) => {
                    Some(raid_level(&l).map_err(|m| (args.col("level").unwrap_or(col0), m))?)
                }
                None => None,
            };
            // argparse: `--device` is `required=True` (raid.py:385), even
            // for an existing array.
            let Some(device) = args.str("device").map(|d| strip_dev(&d)) else {
                return Err((
                    col0,
                    "raid: option --device is required, e.g. --device=md0".into(),
                ));
            };
            fs_checks(cmd, &args, col0)?;
            let preexist = preexisting(&args);
            if let Some(flag) = preexist
                && args.pos.len() > 1
            {
                return Err((
                    args.pos[1].col,
                    format!(
                        "raid: members may not be given for a preexisting RAID device ({flag})"
                    ),
                ));
            }
            if preexist.is_none() && args.pos.len() < 2 {
                return Err((
                    col0,
                    format!(
                        "raid: member partitions are required for {}, e.g. `raid / --level=1 --device=md0 raid.01 raid.02`",
                        args.pos[0].text
                    ),
                ));
            }
            let dcol = args.col("device").unwrap_or(col0);
            if let Some(prev) = ks
                .raids
                .iter()
                .find(|r| r.device.as_deref() == Some(&device))
            {
                return Err((
                    dcol,
                    format!(
                        "raid: a RAID device with the name {device} is already defined on {}",
                        at(&prev.origin, origin)
                    ),
                ));
            }
            // raid.py:460-461: a new array needs a level.
            if preexist.is_none() && level.is_none() {
                return Err((
                    col0,
                    "raid: option --level is required for a new RAID device, e.g. --level=1 (or --useexisting for an existing one)".into(),
                ));
            }
            // raid.py:463-464 refuses an empty name for an existing array.
            // Outpost refuses it for a new one too: pykickstart accepts
            // `--device=` there but prints the line without it, which it
            // then refuses.
            if device.is_empty() {
                return Err((
                    dcol,
                    "raid: --device needs the name of the RAID device, e.g. --device=md0".into(),
                ));
            }
            let mountpoint = normpath(&args.pos[0].text);
            mount_point_free(ks, cmd, &mountpoint, args.pos[0].col, origin)?;
            ks.raids.push(Raid {
                mountpoint,
                members: args.pos[1..].iter().map(|w| w.text.clone()).collect(),
                device: Some(device),
                level,
                fstype: args.str("fstype"),
                extra: args.extra(&["device", "level", "fstype"]),
                origin: origin.clone(),
            });
        }
        "volgroup" => {
            args = p(&cat(VOLGROUP, &[]))?;
            positional(cmd, &args, 1, usize::MAX, "the volume group name", col0)?;
            let preexist = preexisting(&args);
            // volgroup.py:175-178
            if let Some(flag) = preexist
                && args.pos.len() > 1
            {
                return Err((
                    args.pos[1].col,
                    format!(
                        "volgroup: members may not be given for a preexisting volume group ({flag})"
                    ),
                ));
            }
            if preexist.is_none() && args.pos.len() < 2 {
                return Err((
                    col0,
                    "volgroup: must be given a list of partitions, e.g. `volgroup vg0 pv.01`"
                        .into(),
                ));
            }
            let name = args.pos[0].text.clone();
            // volgroup.py:185-186 warns; ksvalidator makes it an error.
            if let Some(prev) = ks.volgroups.iter().find(|v| v.name == name) {
                return Err((
                    args.pos[0].col,
                    format!(
                        "volgroup: a volume group with the name {name} is already defined on {}",
                        at(&prev.origin, origin)
                    ),
                ));
            }
            // volgroup.py:221-222 (F16_VolGroup.parse); a negative
            // --reserved-space (volgroup.py:218) is not a whole number here.
            if let Some(p) = args.int("reserved_percent")
                && !(1..=99).contains(&p)
            {
                return Err((
                    args.col("reserved_percent").unwrap_or(col0),
                    "volgroup: --reserved-percent must be between 1 and 99".into(),
                ));
            }
            ks.volgroups.push(VolGroup {
                name,
                pvs: args.pos[1..].iter().map(|w| w.text.clone()).collect(),
                extra: args.extra(&[]),
                origin: origin.clone(),
            });
        }
        "logvol" => {
            args = p(&cat(LOGVOL_OWN, LUKS))?;
            positional(cmd, &args, 1, 1, "the mount point", col0)?;
            let col = |d: &str| args.col(d).unwrap_or(col0);
            // argparse: both are `required=True` (logvol.py:440, 460).
            // Outpost also refuses an empty value, which names nothing.
            let vgname = required(cmd, &args, "vgname", "--vgname", col0)?;
            let name = required(cmd, &args, "name", "--name", col0)?;
            // logvol.py:481-482: a warning, which ksvalidator makes an error.
            if let Some(prev) = ks
                .logvols
                .iter()
                .find(|l| l.vgname.as_deref() == Some(&vgname) && l.name.as_deref() == Some(&name))
            {
                return Err((
                    col("name"),
                    format!(
                        "logvol: a logical volume with the name {name} is already defined in volume group {vgname} on {}",
                        at(&prev.origin, origin)
                    ),
                ));
            }
            let preexist = preexisting(&args);
            // logvol.py:678-682 (F17_LogVol.parse)
            if args.flag("resize") && preexist.is_none() {
                return Err((
                    col("resize"),
                    "logvol: --resize can only be used together with --useexisting".into(),
                ));
            }
            if args.flag("resize") && !args.truthy("size") {
                return Err((
                    col("resize"),
                    "logvol: --resize requires --size to give the new size".into(),
                ));
            }
            // logvol.py:735-746 (F20_LogVol.parse): thin provisioning.
            if args.flag("thin") && args.flag("thinpool") {
                return Err((
                    col("thin"),
                    "logvol: --thin and --thinpool cannot both be given (a volume is a thin pool or a thin volume in one)".into(),
                ));
            }
            if args.flag("thin") && !args.truthy("poolname") {
                return Err((
                    col("thin"),
                    "logvol: --thin requires --poolname to name its thin pool, e.g. --poolname=pool00".into(),
                ));
            }
            if !args.flag("thinpool")
                && let Some(d) = ["chunksize", "metadatasize"]
                    .into_iter()
                    .find(|d| args.truthy(d))
            {
                return Err((
                    col(d),
                    "logvol: --chunksize and --metadatasize are for thin pools only; add --thinpool or remove them".into(),
                ));
            }
            // logvol.py:748-754: a new volume needs a size.
            if preexist.is_none()
                && !args.truthy("percent")
                && !args.truthy("size")
                && !args.flag("recommended")
                && !args.flag("hibernation")
            {
                return Err((
                    col0,
                    format!(
                        "logvol: no size given for {}; add --size=MIB, --percent=N, --recommended or --hibernation (or --useexisting to use an existing volume)",
                        args.pos[0].text
                    ),
                ));
            }
            if args.int("percent").is_some_and(|p| p > 100) {
                return Err((
                    col("percent"),
                    "logvol: --percent must be between 0 and 100".into(),
                ));
            }
            // logvol.py:774-775 tests both for truth; Outpost refuses an
            // explicit --size=0 next to --percent too (contradictory).
            if args.int("size").is_some() && args.int("percent").is_some() {
                return Err((
                    col("percent"),
                    "logvol: --size and --percent cannot both be given".into(),
                ));
            }
            // logvol.py:833-853 (F23_LogVol.parse): LVM cache.
            if let Some(c) = ["cachesize", "cachemode", "cachepvs"]
                .into_iter()
                .filter(|d| args.truthy(d))
                .min_by_key(|d| col(d))
            {
                let c = col(c);
                if let Some(flag) = preexist {
                    return Err((
                        c,
                        format!(
                            "logvol: a cache cannot be added to an existing logical volume ({flag})"
                        ),
                    ));
                }
                if args.flag("thin") {
                    return Err((
                        c,
                        "logvol: thin volumes cannot be cached; remove the --cache options".into(),
                    ));
                }
                if !args.truthy("cachepvs") {
                    return Err((
                        c,
                        "logvol: a cache needs --cachepvs, the (fast) physical volumes to put it on".into(),
                    ));
                }
                if !args.truthy("cachesize") {
                    return Err((
                        args.col("cachesize").unwrap_or(c),
                        "logvol: a cache needs --cachesize=MIB".into(),
                    ));
                }
                if let Some(m) = args.str("cachemode")
                    && !m.is_empty()
                    && m != "writeback"
                    && m != "writethrough"
                {
                    return Err((
                        col("cachemode"),
                        format!(
                            "logvol: --cachemode={m} is not a cache mode (use writeback or writethrough)"
                        ),
                    ));
                }
            }
            fs_checks(cmd, &args, col0)?;
            let mountpoint = normpath(&args.pos[0].text);
            mount_point_free(ks, cmd, &mountpoint, args.pos[0].col, origin)?;
            ks.logvols.push(LogVol {
                mountpoint,
                vgname: Some(vgname),
                name: Some(name),
                size: args.int("size"),
                grow: args.flag("grow"),
                fstype: args.str("fstype"),
                extra: args.extra(&["vgname", "name", "size", "grow", "fstype"]),
                origin: origin.clone(),
            });
        }
        "bootloader" => {
            args = p(BOOTLOADER)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            if args.str("md5pass").is_some() {
                warnings.push((args.col("md5pass").unwrap_or(col0), "bootloader: --md5pass is the same as --password=HASH --iscrypted; printed that way".into()));
            }
            if args.flag("sdboot") && args.flag("extlinux") {
                return Err((
                    args.col("extlinux").unwrap_or(col0),
                    "bootloader: only one of --sdboot and --extlinux may be given".into(),
                ));
            }
            if let Some(d) = args.str("boot_drive")
                && d.contains(',')
            {
                return Err((
                    args.col("boot_drive").unwrap_or(col0),
                    "bootloader: --boot-drive accepts only one drive".into(),
                ));
            }
            let (password, is_crypted) = match args.str("md5pass") {
                Some(h) => (Some(h), true),
                None => (
                    args.str("password").filter(|s| !s.is_empty()),
                    args.flag("iscrypted"),
                ),
            };
            ks.bootloader = Some(Bootloader {
                append: args.str("append"),
                location: args.str("location"),
                timeout: args.int("timeout").map(|v| v as u32),
                driveorder: args.list("driveorder"),
                boot_drive: args.str("boot_drive").filter(|s| !s.is_empty()),
                password,
                is_crypted,
                disabled: args.flag("disabled"),
                sdboot: args.flag("sdboot"),
                extra: args.extra(&[
                    "append",
                    "location",
                    "timeout",
                    "driveorder",
                    "boot_drive",
                    "password",
                    "iscrypted",
                    "md5pass",
                    "disabled",
                    "sdboot",
                ]),
            });
        }
        "eula" => {
            args = p(EULA)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            if !args.flag("agreed") {
                return Err((
                    col0,
                    "eula: the --agreed option is required (`eula --agreed`)".into(),
                ));
            }
            ks.eula = Some(Eula { agreed: true });
        }
        "firstboot" => {
            args = p(FIRSTBOOT)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            ks.firstboot = match args.str("firstboot").as_deref() {
                Some("enable") => Some(Firstboot::Enable),
                Some("reconfig") => Some(Firstboot::Reconfig),
                Some("disable") => Some(Firstboot::Disable),
                _ => {
                    return Err((
                        col0,
                        "firstboot: give one of --enable, --disable or --reconfig".into(),
                    ));
                }
            };
        }
        "reboot" | "poweroff" | "halt" | "shutdown" => {
            args = p(FINISH)?;
            positional(cmd, &args, 0, 0, "", col0)?;
            let action = match cmd {
                "reboot" => FinishAction::Reboot,
                "poweroff" => FinishAction::Poweroff,
                "halt" => FinishAction::Halt,
                _ => FinishAction::Shutdown,
            };
            ks.finish = Some(Finish {
                action,
                eject: args.flag("eject"),
                kexec: args.flag("kexec"),
            });
        }
        other => {
            if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| *n == other) {
                return Err((col0, format!("unsupported command: {other} ({why})")));
            }
            let hint = suggest(other)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err((col0, format!("unknown command: {}{hint}", short(other))));
        }
    }
    warnings.extend(args.warnings);
    let sticky = STICKY
        .iter()
        .find(|(c, _)| *c == cmd)
        .map(|(_, dests)| {
            let mut given: Vec<(&'static str, &'static str)> = args
                .vals
                .iter()
                .filter(|(d, _)| dests.contains(d))
                .map(|(d, (_, name, _))| (*d, *name))
                .collect();
            given.sort_unstable();
            given
        })
        .unwrap_or_default();
    Ok(Handled { warnings, sticky })
}

/// Closest known command by edit distance, for "did you mean".
fn suggest(word: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

/// A word as shown in a message: at most 60 characters, then `…`.
pub(crate) fn short(word: &str) -> String {
    match word.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &word[..i]),
        None => word.to_string(),
    }
}

/// Edit distance for "did you mean" hints. Words longer than 40 characters
/// get no hint (the distance is quadratic; a 16 MiB word must stay cheap).
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    if a.len() > 40 || b.len() > 40 {
        return usize::MAX;
    }
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// pykickstart's `firewall_port_cb`: `PORT:PROTO` with proto tcp/udp, or a
/// well-known service name (kept as given).
fn firewall_port(port: &str) -> Result<String, String> {
    if let Some((num, proto)) = port.split_once(':') {
        if num.is_empty() || proto.is_empty() {
            return Err(format!(
                "firewall: --port={port}: expected PORT:PROTO such as 993:tcp"
            ));
        }
        let proto = proto.to_ascii_lowercase();
        if !["tcp", "udp"].contains(&proto.as_str()) {
            return Err(format!(
                "firewall: --port={port}: protocol must be tcp or udp"
            ));
        }
        if let Some((lo, hi)) = num.split_once('-')
            && (lo.parse::<u16>().is_err() || hi.parse::<u16>().is_err())
        {
            return Err(format!("firewall: --port={port}: invalid port range"));
        }
        Ok(format!("{num}:{proto}"))
    } else if port.chars().all(|c| c.is_ascii_digit()) {
        // A bare number is TCP (pykickstart appends `:tcp`).
        Ok(format!("{port}:tcp"))
    } else {
        Ok(port.to_string())
    }
}

/// pykickstart's `_level_cb`: accept `1`, `raid1`, `RAID1`; print `RAID1`.
fn raid_level(l: &str) -> Result<String, String> {
    let up = l.to_ascii_uppercase();
    let norm = if up.starts_with("RAID") {
        up
    } else {
        format!("RAID{up}")
    };
    match norm.as_str() {
        "RAID0" | "RAID1" | "RAID4" | "RAID5" | "RAID6" | "RAID10" => Ok(norm),
        _ => Err(format!(
            "raid: --level={l} is not a RAID level (use 0, 1, 4, 5, 6 or 10)"
        )),
    }
}
