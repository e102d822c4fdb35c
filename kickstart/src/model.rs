//! The typed model of a kickstart file: what the installer acts on.
//!
//! Field names follow pykickstart's attribute names where they are clear,
//! and its option names otherwise. Sizes are in MiB as in Anaconda. Options
//! pykickstart accepts but Outpost does not act on (LUKS tuning, thin pools,
//! …) are kept verbatim in `extra` maps so a file round-trips through
//! `ksflatten` unchanged; the installer decides what to refuse.

use std::collections::BTreeMap;

use serde::Serialize;

/// Where a value came from in the input, for diagnostics raised after
/// parsing (the installer's plan can point back at the line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// File the command is in.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// Options accepted but not modelled: option name (without `--`) → value
/// (empty for flags), printed back in canonical order.
pub type Extra = BTreeMap<String, String>;

/// A parsed, validated kickstart file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Kickstart {
    /// `text`, `cmdline` or `graphical`.
    pub display_mode: Option<DisplayMode>,
    /// `lang`.
    pub lang: Option<Lang>,
    /// `keyboard`.
    pub keyboard: Option<Keyboard>,
    /// `timezone`.
    pub timezone: Option<Timezone>,
    /// Every `network` line, in order.
    pub network: Vec<Network>,
    /// `rootpw`.
    pub rootpw: Option<RootPw>,
    /// Every `user` line.
    pub users: Vec<User>,
    /// Every `group` line.
    pub groups: Vec<Group>,
    /// Every `sshkey` line.
    pub sshkeys: Vec<SshKey>,
    /// `firewall`.
    pub firewall: Option<Firewall>,
    /// `selinux` (accepted; Debian has no SELinux policy installed, so the
    /// installer does nothing with it and says so).
    pub selinux: Option<SeLinux>,
    /// `services`.
    pub services: Option<Services>,
    /// `ignoredisk`.
    pub ignoredisk: Option<IgnoreDisk>,
    /// `clearpart`.
    pub clearpart: Option<ClearPart>,
    /// `zerombr` present.
    pub zerombr: bool,
    /// `reqpart`.
    pub reqpart: Option<ReqPart>,
    /// `autopart`.
    pub autopart: Option<AutoPart>,
    /// Every `part`/`partition` line.
    pub partitions: Vec<Partition>,
    /// Every `raid` line.
    pub raids: Vec<Raid>,
    /// Every `volgroup` line.
    pub volgroups: Vec<VolGroup>,
    /// Every `logvol` line.
    pub logvols: Vec<LogVol>,
    /// `bootloader`.
    pub bootloader: Option<Bootloader>,
    /// `eula`.
    pub eula: Option<Eula>,
    /// `firstboot`.
    pub firstboot: Option<Firstboot>,
    /// `reboot`/`poweroff`/`halt`/`shutdown`.
    pub finish: Option<Finish>,
    /// `%packages`.
    pub packages: Option<Packages>,
    /// `%pre`, `%pre-install`, `%post`, `%onerror`, `%traceback` in file order.
    pub scripts: Vec<Script>,
    /// `%addon org_outpost`.
    pub outpost: Option<OutpostAddon>,
    /// Other `%addon` sections, kept verbatim.
    pub addons: Vec<Addon>,
    /// `%anaconda` section body lines, kept verbatim.
    pub anaconda: Option<Vec<String>>,
}

/// Installer user interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisplayMode {
    /// Which mode.
    pub mode: DisplayKind,
    /// `--non-interactive`.
    pub non_interactive: bool,
}

/// The three display commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DisplayKind {
    /// `cmdline`.
    Cmdline,
    /// `graphical`.
    Graphical,
    /// `text`.
    Text,
}

/// `lang LANG [--addsupport=a,b]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lang {
    /// The system language, e.g. `en_US.UTF-8`.
    pub lang: String,
    /// Extra locales to install.
    pub addsupport: Vec<String>,
}

/// `keyboard [--vckeymap=] [--xlayouts=] [--switch=] [LAYOUT]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Keyboard {
    /// Deprecated positional keyboard name (pykickstart's `keyboard us`).
    pub keyboard: Option<String>,
    /// Console keymap.
    pub vc_keymap: Option<String>,
    /// X layouts.
    pub x_layouts: Vec<String>,
    /// Layout switching options.
    pub switch_options: Vec<String>,
}

/// `timezone [TZ] [--utc] [--nontp] [--ntpservers=]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timezone {
    /// Olson name, e.g. `Europe/Berlin`.
    pub timezone: Option<String>,
    /// Hardware clock in UTC.
    pub utc: bool,
    /// Deprecated `--nontp` (kept for round trip).
    pub nontp: bool,
    /// Deprecated `--ntpservers` (kept for round trip).
    pub ntpservers: Vec<String>,
}

/// `network …` (one interface or the hostname).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    /// `--bootproto` (default dhcp).
    pub bootproto: BootProto,
    /// `--device` (name, MAC, `link`, `bootif`).
    pub device: Option<String>,
    /// `--ip` (IPv4 address).
    pub ip: Option<String>,
    /// `--netmask`.
    pub netmask: Option<String>,
    /// `--gateway`.
    pub gateway: Option<String>,
    /// `--nameserver` (comma-separated).
    pub nameservers: Vec<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--ipv6` (address/prefix, `auto` or `dhcp`).
    pub ipv6: Option<String>,
    /// `--ipv6gateway`.
    pub ipv6gateway: Option<String>,
    /// `--mtu`.
    pub mtu: Option<String>,
    /// `--onboot`.
    pub onboot: Option<bool>,
    /// `--activate` / `--no-activate`.
    pub activate: Option<bool>,
    /// `--nodefroute`.
    pub nodefroute: bool,
    /// `--noipv4`.
    pub noipv4: bool,
    /// `--noipv6`.
    pub noipv6: bool,
    /// `--nodns`.
    pub nodns: bool,
    /// Other accepted options (bonds, vlans, wifi, …).
    pub extra: Extra,
    /// Where the line is.
    pub origin: Origin,
}

/// `--bootproto` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BootProto {
    /// DHCP (the default).
    Dhcp,
    /// BOOTP (treated as DHCP).
    Bootp,
    /// Static addressing from `--ip`/`--netmask`/`--gateway`.
    Static,
    /// Ask (meaningless unattended).
    Query,
    /// iSCSI boot firmware table.
    Ibft,
}

/// `rootpw [--iscrypted|--plaintext] [--lock] [--allow-ssh] [PASSWORD]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootPw {
    /// The password or hash (absent with `--lock` alone).
    pub password: Option<String>,
    /// Whether `password` is a crypt(3) hash.
    pub is_crypted: bool,
    /// Lock the account.
    pub lock: bool,
    /// Allow root SSH login with the password.
    pub allow_ssh: bool,
}

/// `user --name=… …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// `--gecos`.
    pub gecos: Option<String>,
    /// `--groups`.
    pub groups: Vec<String>,
    /// `--homedir`.
    pub homedir: Option<String>,
    /// `--password`.
    pub password: Option<String>,
    /// `--iscrypted`.
    pub is_crypted: bool,
    /// `--lock`.
    pub lock: bool,
    /// `--shell`.
    pub shell: Option<String>,
    /// `--uid`.
    pub uid: Option<u32>,
    /// `--gid`.
    pub gid: Option<u32>,
    /// Where the line is.
    pub origin: Origin,
}

/// `group --name=… [--gid=]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// `--gid`.
    pub gid: Option<u32>,
}

/// `sshkey --username=USER "KEY"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshKey {
    /// Account the key is for.
    pub username: String,
    /// The public key line.
    pub key: String,
}

/// `firewall …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firewall {
    /// `--enabled` (default) or `--disabled`.
    pub enabled: bool,
    /// `--port=PORT:PROTO,…` (normalised to `port:proto`).
    pub ports: Vec<String>,
    /// `--trust=DEV` (repeatable; comma-separated lists are split).
    pub trusts: Vec<String>,
    /// `--service=…` plus `--ssh`/`--smtp`/`--http`/`--ftp`.
    pub services: Vec<String>,
    /// `--remove-service=…`.
    pub remove_services: Vec<String>,
    /// `--use-system-defaults`.
    pub use_system_defaults: bool,
}

/// `selinux --enforcing|--permissive|--disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeLinux {
    /// `--disabled`.
    Disabled,
    /// `--enforcing`.
    Enforcing,
    /// `--permissive`.
    Permissive,
}

/// `services --enabled=… --disabled=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Services {
    /// Units to enable.
    pub enabled: Vec<String>,
    /// Units to disable.
    pub disabled: Vec<String>,
}

/// `ignoredisk --drives=…|--only-use=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IgnoreDisk {
    /// Disks not to touch (as given: pykickstart keeps `/dev/` here).
    pub ignoredisk: Vec<String>,
    /// The only disks to touch.
    pub onlyuse: Vec<String>,
}

/// `clearpart …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClearPart {
    /// `--all`, `--linux` or `--none` (last one wins); `None` when `--list`
    /// names the partitions (pykickstart's CLEARPART_TYPE_LIST).
    pub kind: Option<ClearKind>,
    /// `--initlabel`.
    pub initlabel: bool,
    /// `--disklabel`.
    pub disklabel: Option<String>,
    /// `--drives` (`/dev/` stripped).
    pub drives: Vec<String>,
    /// `--list` (`/dev/` stripped).
    pub devices: Vec<String>,
    /// `--cdl`.
    pub cdl: bool,
}

/// What `clearpart` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClearKind {
    /// Only Linux partitions.
    Linux,
    /// Every partition.
    All,
    /// Nothing.
    None,
}

/// `reqpart [--add-boot]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReqPart {
    /// Also create `/boot`.
    pub add_boot: bool,
}

/// `autopart …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoPart {
    /// `--type` (`lvm`, `plain`, `thinp`, `btrfs`; `--nolvm` = plain).
    pub kind: Option<String>,
    /// `--fstype`.
    pub fstype: Option<String>,
    /// `--nohome`.
    pub nohome: bool,
    /// `--noboot`.
    pub noboot: bool,
    /// `--noswap`.
    pub noswap: bool,
    /// `--encrypted`.
    pub encrypted: bool,
    /// `--passphrase`.
    pub passphrase: Option<String>,
    /// Other accepted options.
    pub extra: Extra,
}

/// `part MNTPOINT …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Mount point, `swap`, `raid.N`, `pv.N`, `biosboot`, or `None`.
    pub mountpoint: String,
    /// `--size` in MiB.
    pub size: Option<u64>,
    /// `--maxsize` in MiB.
    pub maxsize: Option<u64>,
    /// `--grow`.
    pub grow: bool,
    /// `--fstype`.
    pub fstype: Option<String>,
    /// `--ondisk`/`--ondrive`.
    pub disk: Option<String>,
    /// `--onpart`/`--usepart` (`/dev/` stripped).
    pub onpart: Option<String>,
    /// `--asprimary`.
    pub asprimary: bool,
    /// `--noformat` (format is the default).
    pub noformat: bool,
    /// `--label`.
    pub label: Option<String>,
    /// `--fsoptions`.
    pub fsoptions: Option<String>,
    /// `--recommended`.
    pub recommended: bool,
    /// `--encrypted`.
    pub encrypted: bool,
    /// Other accepted options.
    pub extra: Extra,
    /// Where the line is.
    pub origin: Origin,
}

/// `raid MNTPOINT --level=… --device=… PARTITIONS…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Raid {
    /// Mount point.
    pub mountpoint: String,
    /// Member partitions (`raid.N`).
    pub members: Vec<String>,
    /// `--device`.
    pub device: Option<String>,
    /// `--level` (normalised to `RAID0`, `RAID1`, …).
    pub level: Option<String>,
    /// `--fstype`.
    pub fstype: Option<String>,
    /// Other accepted options.
    pub extra: Extra,
    /// Where the line is.
    pub origin: Origin,
}

/// `volgroup NAME PVS…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolGroup {
    /// Volume group name.
    pub name: String,
    /// Physical volumes (`pv.N`).
    pub pvs: Vec<String>,
    /// Other accepted options.
    pub extra: Extra,
    /// Where the line is.
    pub origin: Origin,
}

/// `logvol MNTPOINT --vgname=… --name=… …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogVol {
    /// Mount point.
    pub mountpoint: String,
    /// `--vgname`.
    pub vgname: Option<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `--size` in MiB.
    pub size: Option<u64>,
    /// `--grow`.
    pub grow: bool,
    /// `--fstype`.
    pub fstype: Option<String>,
    /// Other accepted options.
    pub extra: Extra,
    /// Where the line is.
    pub origin: Origin,
}

/// `bootloader …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bootloader {
    /// `--append` (kernel command line additions).
    pub append: Option<String>,
    /// `--location` (`mbr`, `partition`, `none`, `boot`).
    pub location: Option<String>,
    /// `--timeout` in seconds.
    pub timeout: Option<u32>,
    /// `--driveorder`.
    pub driveorder: Vec<String>,
    /// `--boot-drive`.
    pub boot_drive: Option<String>,
    /// `--password`.
    pub password: Option<String>,
    /// `--iscrypted`.
    pub is_crypted: bool,
    /// `--disabled`.
    pub disabled: bool,
    /// `--sdboot` (Outpost always installs systemd-boot).
    pub sdboot: bool,
    /// Other accepted options.
    pub extra: Extra,
}

/// `eula --agreed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eula {
    /// Whether the EULA was agreed to.
    pub agreed: bool,
}

/// `firstboot --enable|--disable|--reconfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Firstboot {
    /// `--enable`.
    Enable,
    /// `--disable`.
    Disable,
    /// `--reconfig`.
    Reconfig,
}

/// What to do when the installation is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finish {
    /// Which command.
    pub action: FinishAction,
    /// `--eject`.
    pub eject: bool,
    /// `--kexec`.
    pub kexec: bool,
}

/// `reboot`, `poweroff`, `halt` or `shutdown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishAction {
    /// `reboot`.
    Reboot,
    /// `poweroff`.
    Poweroff,
    /// `halt`.
    Halt,
    /// `shutdown`.
    Shutdown,
}

/// `%packages` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Packages {
    /// `@group` lines (without `@`), in order.
    pub groups: Vec<String>,
    /// Package names to install, in order.
    pub packages: Vec<String>,
    /// `@^environment` (last one wins).
    pub environment: Option<String>,
    /// `-name` lines (without `-`).
    pub excluded_packages: Vec<String>,
    /// `-@group` lines.
    pub excluded_groups: Vec<String>,
    /// `--default`.
    pub default: bool,
    /// `--excludedocs`.
    pub excludedocs: bool,
    /// `--ignoremissing`.
    pub ignoremissing: bool,
    /// `--ignorebroken`.
    pub ignorebroken: bool,
    /// `--nocore`.
    pub nocore: bool,
    /// `--exclude-weakdeps`.
    pub exclude_weakdeps: bool,
    /// `--inst-langs=`.
    pub inst_langs: Option<String>,
    /// `--multilib`.
    pub multilib: bool,
    /// `--retries=`.
    pub retries: Option<u32>,
    /// `--timeout=`.
    pub timeout: Option<u32>,
}

/// Which script section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptKind {
    /// `%pre`.
    Pre,
    /// `%pre-install`.
    PreInstall,
    /// `%post`.
    Post,
    /// `%onerror`.
    OnError,
    /// `%traceback`.
    Traceback,
}

impl ScriptKind {
    /// The section header, e.g. `%pre-install`.
    pub fn header(self) -> &'static str {
        match self {
            ScriptKind::Pre => "%pre",
            ScriptKind::PreInstall => "%pre-install",
            ScriptKind::Post => "%post",
            ScriptKind::OnError => "%onerror",
            ScriptKind::Traceback => "%traceback",
        }
    }
}

/// A script section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Script {
    /// Which section.
    pub kind: ScriptKind,
    /// `--interpreter` (default `/bin/sh`).
    pub interpreter: String,
    /// `--erroronfail`.
    pub erroronfail: bool,
    /// `--log`/`--logfile`.
    pub logfile: Option<String>,
    /// `--nochroot` (`%post` only).
    pub nochroot: bool,
    /// The script text, every line kept, each ending in `\n`.
    pub body: String,
    /// Where the header is.
    pub origin: Origin,
}

/// An `%addon` other than `org_outpost`, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Addon {
    /// Addon name, e.g. `com_redhat_kdump`.
    pub name: String,
    /// Header arguments after the name.
    pub args: Vec<String>,
    /// Body lines.
    pub body: Vec<String>,
}

/// Outpost's own settings from `%addon org_outpost … %end`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutpostAddon {
    /// Mail domains; the first is the primary domain.
    pub domains: Vec<String>,
    /// Mail users.
    pub users: Vec<MailUser>,
    /// Services to run; `None` means the default (all).
    pub services: Option<Vec<OutpostService>>,
    /// Upstream connections, in file order.
    pub upstreams: Vec<Upstream>,
    /// High-availability peer.
    pub ha: Option<HaPeer>,
    /// Backup schedule.
    pub backup: Option<Backup>,
}

/// A mail user from `user NAME …` in the addon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailUser {
    /// Local part (`alice`) or full address (`alice@outpost.lan`).
    pub name: String,
    /// `--fullname`.
    pub full_name: Option<String>,
    /// The password, hashed or plain.
    pub password: Option<Password>,
    /// `--role` (repeatable or comma-separated); default `user`.
    pub roles: Vec<Role>,
    /// `--alias` (repeatable or comma-separated).
    pub aliases: Vec<String>,
    /// `--quota` in bytes (`None` = unlimited).
    pub quota: Option<u64>,
    /// Where the line is.
    pub origin: Origin,
    /// 1-based column of `--password` on that line (0 without one), for
    /// the build's password check ([`crate::passwords::check_for_image`]).
    #[serde(skip)]
    pub password_col: u32,
}

impl MailUser {
    /// The user's address: `name` if it has a domain, else `name@primary`.
    pub fn address(&self, primary_domain: &str) -> String {
        if self.name.contains('@') {
            self.name.clone()
        } else {
            format!("{}@{}", self.name, primary_domain)
        }
    }
}

/// A password in the answer file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Password {
    /// A crypt(3) or PHC string (`$6$…`, `$y$…`, `$argon2id$…`): `--iscrypted`.
    Hash(String),
    /// Plain text, to be hashed by the installer: `--plaintext`.
    Plain(String),
}

/// A user role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Full administration.
    Admin,
    /// Ordinary mail user.
    User,
}

impl Role {
    /// The keyword used in the answer file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

/// A service Outpost can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutpostService {
    /// SMTP (MX 25, submission 587/465).
    Smtp,
    /// IMAP (143/993).
    Imap,
    /// POP3 (110/995).
    Pop3,
    /// HTTPS: web UI, CalDAV, CardDAV, WebDAV (443).
    Webd,
    /// Upstream synchronisation.
    Sync,
    /// Scheduled backups.
    Backup,
}

impl OutpostService {
    /// Every service, in canonical order.
    pub const ALL: [OutpostService; 6] = [
        OutpostService::Smtp,
        OutpostService::Imap,
        OutpostService::Pop3,
        OutpostService::Webd,
        OutpostService::Sync,
        OutpostService::Backup,
    ];

    /// The keyword used in the answer file.
    pub fn as_str(self) -> &'static str {
        match self {
            OutpostService::Smtp => "smtp",
            OutpostService::Imap => "imap",
            OutpostService::Pop3 => "pop3",
            OutpostService::Webd => "webd",
            OutpostService::Sync => "sync",
            OutpostService::Backup => "backup",
        }
    }
}

/// An upstream connection (`upstream KIND …`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upstream {
    /// What kind of upstream.
    pub kind: UpstreamKind,
    /// `--url` (Graph/EWS endpoint) or `--host` (smarthost `host[:port]`).
    pub endpoint: String,
    /// `--tenant` (Graph).
    pub tenant: Option<String>,
    /// `--client-id` (Graph).
    pub client_id: Option<String>,
    /// `--username` for the upstream.
    pub username: Option<String>,
    /// `--secret` (password or client secret).
    pub secret: Option<String>,
    /// `--map`: identity mapping rule, e.g. `{local}@company.com`.
    pub map: Option<String>,
    /// `--tls` mode for smarthosts: `starttls` (default), `tls`, `none`.
    pub tls: Option<String>,
}

/// Kinds of upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamKind {
    /// Exchange Online through Microsoft Graph.
    Graph,
    /// On-premises Exchange through EWS.
    Ews,
    /// An SMTP smarthost for outbound mail.
    Smarthost,
}

impl UpstreamKind {
    /// The keyword used in the answer file.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamKind::Graph => "graph",
            UpstreamKind::Ews => "ews",
            UpstreamKind::Smarthost => "smarthost",
        }
    }
}

/// `ha --peer=… --vip=… [--role=primary|standby]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HaPeer {
    /// The other node's address.
    pub peer: String,
    /// Floating address (CIDR), e.g. `192.0.2.10/24`.
    pub vip: Option<String>,
    /// This node's role.
    pub role: HaRole,
}

/// HA role of this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HaRole {
    /// Holds the floating address normally.
    Primary,
    /// Takes over when the primary fails.
    Standby,
}

/// `backup --schedule=… --keep=… --target=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backup {
    /// systemd calendar expression, e.g. `daily` or `*-*-* 02:00:00`.
    pub schedule: String,
    /// Snapshots to keep.
    pub keep: u32,
    /// Where to write: a directory (default `/var/backups/outpost`).
    pub target: Option<String>,
}
