//! Rendering answer files: a site YAML + tera templates → `outpost.ks`.
//!
//! Two levels, as in the rest of Outpost: the YAML is read into a typed
//! [`Site`] (unknown keys are errors, with line and column), checked, and
//! only then handed to the templates in `kickstart/templates/` (embedded in
//! the binary). Every value reaches the file through the `ksq` filter, which
//! quotes it for kickstart's shlex lexer and refuses line breaks, so a
//! password hash or a name containing `#`, spaces or quotes survives the
//! round trip. The rendered text is then parsed with this crate; a template
//! that produces an invalid file fails naming the template and the
//! kickstart error.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::diag::Diagnostics;

/// The embedded default site: domain `outpost.lan`, an `admin` user,
/// whole-disk automatic partitioning, every service, reboot when done.
pub const DEFAULT_SITE: &str = include_str!("../sites/default.yaml");

/// Stands for the site's `post` script while the template output is tidied.
const POST_MARKER: &str = "@@outpost-post-script@@";

/// Name of the main template.
pub const MAIN_TEMPLATE: &str = "outpost.ks.tera";

const TEMPLATES: &[(&str, &str)] = &[
    (
        "outpost.ks.tera",
        include_str!("../templates/outpost.ks.tera"),
    ),
    (
        "storage.ks.tera",
        include_str!("../templates/storage.ks.tera"),
    ),
    ("addon.ks.tera", include_str!("../templates/addon.ks.tera")),
];

/// A site description (the YAML file an admin edits).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Short host name, e.g. `outpost` (the FQDN is `hostname.domain`).
    #[serde(default = "d_hostname")]
    pub hostname: String,
    /// Primary mail domain.
    pub domain: String,
    /// Further mail domains.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Olson time zone.
    #[serde(default = "d_timezone")]
    pub timezone: String,
    /// System language.
    #[serde(default = "d_lang")]
    pub lang: String,
    /// Console and X keyboard layout.
    #[serde(default = "d_keyboard")]
    pub keyboard: String,
    /// The LAN interface.
    #[serde(default)]
    pub network: SiteNetwork,
    /// Disk layout.
    #[serde(default)]
    pub disk: SiteDisk,
    /// Root password hash (crypt(3)); root is locked when absent.
    #[serde(default)]
    pub root_password_hash: Option<String>,
    /// Mail users.
    #[serde(default)]
    pub users: Vec<SiteUser>,
    /// Services to run (default: smtp, imap, pop3, webd).
    #[serde(default = "d_services")]
    pub services: Vec<String>,
    /// Upstream connections.
    #[serde(default)]
    pub upstreams: Vec<SiteUpstream>,
    /// HA peer.
    #[serde(default)]
    pub ha: Option<SiteHa>,
    /// Backup schedule.
    #[serde(default)]
    pub backup: Option<SiteBackup>,
    /// Extra Debian packages to install.
    #[serde(default)]
    pub packages: Vec<String>,
    /// A `%post` script body (shell).
    #[serde(default)]
    pub post: Option<String>,
    /// What to do when done: reboot (default), poweroff, halt, shutdown.
    #[serde(default = "d_finish")]
    pub finish: String,
}

/// `network:` in a site file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteNetwork {
    /// `dhcp` (default) or `static`.
    #[serde(default = "d_bootproto")]
    pub bootproto: String,
    /// Interface name, MAC, or `link` (first with a link; default).
    #[serde(default = "d_device")]
    pub device: String,
    /// Static IPv4 address.
    #[serde(default)]
    pub ip: Option<String>,
    /// Static netmask.
    #[serde(default)]
    pub netmask: Option<String>,
    /// Static gateway.
    #[serde(default)]
    pub gateway: Option<String>,
    /// DNS servers.
    #[serde(default)]
    pub nameservers: Vec<String>,
}

impl Default for SiteNetwork {
    fn default() -> Self {
        SiteNetwork {
            bootproto: d_bootproto(),
            device: d_device(),
            ip: None,
            netmask: None,
            gateway: None,
            nameservers: Vec::new(),
        }
    }
}

/// `disk:` in a site file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteDisk {
    /// `autopart` (default) or `plain` (ESP + swap + root).
    #[serde(default = "d_layout")]
    pub layout: String,
    /// Root file system: ext4 (default) or xfs.
    #[serde(default = "d_fstype")]
    pub fstype: String,
    /// Only these disks (e.g. `[vda]`); default: the installer picks.
    #[serde(default)]
    pub only_use: Vec<String>,
    /// Wipe the disks (`zerombr` + `clearpart --all`); default true.
    #[serde(default = "d_true")]
    pub wipe: bool,
    /// Swap size in MiB for the `plain` layout.
    #[serde(default = "d_swap")]
    pub swap_mib: u32,
}

impl Default for SiteDisk {
    fn default() -> Self {
        SiteDisk {
            layout: d_layout(),
            fstype: d_fstype(),
            only_use: Vec::new(),
            wipe: true,
            swap_mib: d_swap(),
        }
    }
}

/// One user in a site file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteUser {
    /// Local part or full address.
    pub name: String,
    /// Display name.
    #[serde(default)]
    pub full_name: Option<String>,
    /// The password as an argon2 PHC or SHA-crypt hash. Absent: the
    /// appliance generates a password at first boot (#24).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// A clear-text password: always refused (#24). A site file ends up on
    /// the ISO, where anyone holding it could read the password; the key
    /// is kept so that the refusal can say so, at the value's line and
    /// column, instead of calling it an unknown field.
    #[serde(default)]
    pub password: Option<String>,
    /// Roles (`admin`, `user`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Aliases.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Quota, e.g. `2G`.
    #[serde(default)]
    pub quota: Option<String>,
    /// SSH public keys for the system account (only for admins).
    #[serde(default)]
    pub ssh_keys: Vec<String>,
}

/// One upstream in a site file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteUpstream {
    /// `graph`, `ews` or `smarthost`.
    pub kind: String,
    /// Endpoint URL (graph, ews).
    #[serde(default)]
    pub url: Option<String>,
    /// `host[:port]` (smarthost).
    #[serde(default)]
    pub host: Option<String>,
    /// Graph tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Graph client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
    /// Secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// Identity mapping rule.
    #[serde(default)]
    pub map: Option<String>,
    /// Smarthost TLS mode.
    #[serde(default)]
    pub tls: Option<String>,
}

/// `ha:` in a site file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteHa {
    /// Peer address.
    pub peer: String,
    /// Floating address with prefix.
    #[serde(default)]
    pub vip: Option<String>,
    /// `primary` (default) or `standby`.
    #[serde(default = "d_primary")]
    pub role: String,
}

/// `backup:` in a site file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteBackup {
    /// systemd calendar expression.
    #[serde(default = "d_daily")]
    pub schedule: String,
    /// Snapshots kept.
    #[serde(default = "d_keep")]
    pub keep: u32,
    /// Target directory.
    #[serde(default)]
    pub target: Option<String>,
}

fn d_hostname() -> String {
    "outpost".into()
}
fn d_timezone() -> String {
    "Etc/UTC".into()
}
fn d_lang() -> String {
    "en_US.UTF-8".into()
}
fn d_keyboard() -> String {
    "us".into()
}
fn d_services() -> Vec<String> {
    ["smtp", "imap", "pop3", "webd"].map(String::from).to_vec()
}
fn d_finish() -> String {
    "reboot".into()
}
fn d_bootproto() -> String {
    "dhcp".into()
}
fn d_device() -> String {
    "link".into()
}
fn d_layout() -> String {
    "autopart".into()
}
fn d_fstype() -> String {
    "ext4".into()
}
fn d_true() -> bool {
    true
}
fn d_swap() -> u32 {
    1024
}
fn d_primary() -> String {
    "primary".into()
}
fn d_daily() -> String {
    "daily".into()
}
fn d_keep() -> u32 {
    7
}

/// Why rendering failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderError {
    /// The site file is not valid YAML or does not match the schema.
    Site {
        /// Site file name.
        name: String,
        /// 1-based line (0 if unknown).
        line: usize,
        /// 1-based column (0 if unknown).
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// A template failed to render.
    Template {
        /// Template name.
        template: String,
        /// The tera error chain.
        message: String,
    },
    /// A template rendered a file that does not parse.
    Invalid {
        /// Template name.
        template: String,
        /// The kickstart diagnostics (paths name the template).
        diagnostics: Diagnostics,
        /// The rendered text, for inspection.
        text: String,
    },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Site {
                name,
                line,
                col,
                message,
            } => write!(f, "{name}:{line}:{col}: error: {message}"),
            RenderError::Template { template, message } => {
                write!(f, "template {template}: error: {message}")
            }
            RenderError::Invalid {
                template,
                diagnostics,
                ..
            } => {
                write!(
                    f,
                    "template {template} rendered an invalid answer file:\n{diagnostics}"
                )
            }
        }
    }
}

impl std::error::Error for RenderError {}

/// Renders the embedded default site.
pub fn render_default() -> Result<String, RenderError> {
    render_site(DEFAULT_SITE, "default-site.yaml")
}

/// Reads a site file (YAML text; `name` is used in messages).
pub fn load_site(yaml: &str, name: &str) -> Result<Site, RenderError> {
    let site: Site = serde_norway::from_str(yaml).map_err(|e| {
        let (line, col) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let mut message = e.to_string();
        // serde_norway appends " at line L column C": already in front.
        if let Some(cut) = message.rfind(&format!(" at line {line} column {col}")) {
            message.truncate(cut);
        }
        RenderError::Site {
            name: name.into(),
            line,
            col,
            message,
        }
    })?;
    check_site(&site, name)?;
    check_passwords(&site, yaml, name)?;
    Ok(site)
}

/// One step of a path into a YAML document: a mapping key or a sequence
/// index.
#[derive(Debug, Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Marks the error [`locate`] provokes at the value it looks for.
const HERE: &str = "@@outpost-locate-here@@";

/// The 1-based line and column where the value at `path` starts in
/// `yaml`, if it exists. serde_norway has no spans, but every error it
/// returns carries the position of the value being read: walk the
/// document to `path` and fail there.
fn locate(yaml: &str, path: &[Seg<'_>]) -> Option<(usize, usize)> {
    use serde::de::DeserializeSeed as _;
    let de = serde_norway::Deserializer::from_str(yaml);
    match Find(path).deserialize(de) {
        Err(e) if e.to_string().contains(HERE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// The walker of [`locate`]: visits only the path, skips everything else.
struct Find<'a, 'p>(&'p [Seg<'a>]);

impl<'de> serde::de::DeserializeSeed<'de> for Find<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.0.is_empty() {
            d.deserialize_any(Here)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de> serde::de::Visitor<'de> for Find<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or a sequence")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(k) = m.next_key::<serde_norway::Value>()? {
            match self.0[0] {
                Seg::Key(want) if k.as_str() == Some(want) => {
                    m.next_value_seed(Find(&self.0[1..]))?
                }
                _ => {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let found = match self.0[0] {
                Seg::Index(want) if want == i => s.next_element_seed(Find(&self.0[1..]))?,
                _ => s.next_element::<serde::de::IgnoredAny>()?.map(|_| ()),
            };
            if found.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    // A scalar where the path goes on: the path does not exist.
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Refuses whatever value it is given, so the error carries its position.
struct Here;

impl serde::de::Visitor<'_> for Here {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HERE)
    }
}

/// An error at the value `path` of the site file `yaml` (0:0 if it cannot
/// be found, e.g. for a [`Site`] built in code).
fn site_err_at(yaml: &str, name: &str, path: &[Seg<'_>], message: String) -> RenderError {
    let (line, col) = locate(yaml, path).unwrap_or((0, 0));
    RenderError::Site {
        name: name.into(),
        line,
        col,
        message,
    }
}

/// The site's password rules (#24), with positions: no clear text, and
/// only hashes the directory can verify.
fn check_passwords(site: &Site, yaml: &str, name: &str) -> Result<(), RenderError> {
    for (i, u) in site.users.iter().enumerate() {
        if u.password.is_some() {
            return Err(site_err_at(
                yaml,
                name,
                &[Seg::Key("users"), Seg::Index(i), Seg::Key("password")],
                format!(
                    "users[{i}].password: a site file must not hold a clear-text password (the ISO \
                     would carry it for anyone to read); give password_hash (an argon2id hash, \
                     `outpostctl user hash`), or leave it out and the appliance generates one at \
                     first boot"
                ),
            ));
        }
        if let Some(h) = &u.password_hash
            && !crate::passwords::is_supported_hash(h)
        {
            return Err(site_err_at(
                yaml,
                name,
                &[Seg::Key("users"), Seg::Index(i), Seg::Key("password_hash")],
                format!(
                    "users[{i}].password_hash: not an argon2 PHC string ($argon2id$…) or a \
                     SHA-crypt hash ($6$…, $5$…), the forms the directory verifies"
                ),
            ));
        }
    }
    Ok(())
}

/// [`render_site`] for an image build: also refuses a `password_hash` of a
/// weak password (`crate::passwords::candidates`: common passwords, the
/// user name, the domain, the host name), at the hash's line and column.
/// `verify` computes the hashes (this crate has no cryptography).
pub fn render_site_checked(
    yaml: &str,
    name: &str,
    verify: crate::passwords::Verify<'_>,
) -> Result<String, RenderError> {
    let site = load_site(yaml, name)?;
    let mut domains = vec![site.domain.clone()];
    domains.extend(site.domains.iter().cloned());
    let fqdn = format!("{}.{}", site.hostname, site.domain);
    for (i, u) in site.users.iter().enumerate() {
        let Some(hash) = &u.password_hash else {
            continue;
        };
        let address = if u.name.contains('@') {
            u.name.to_ascii_lowercase()
        } else {
            format!("{}@{}", u.name.to_ascii_lowercase(), site.domain)
        };
        let problem = match crate::passwords::weak_hash(hash, &address, &domains, &fqdn, verify) {
            Ok(None) => continue,
            Ok(Some(why)) => format!("the password of {address} is weak ({why}); choose another"),
            Err(e) => format!("cannot be checked: {e}"),
        };
        return Err(site_err_at(
            yaml,
            name,
            &[Seg::Key("users"), Seg::Index(i), Seg::Key("password_hash")],
            format!("users[{i}].password_hash: {problem}"),
        ));
    }
    render(&site, name)
}

fn site_err(name: &str, message: String) -> RenderError {
    RenderError::Site {
        name: name.into(),
        line: 0,
        col: 0,
        message,
    }
}

fn check_site(site: &Site, name: &str) -> Result<(), RenderError> {
    if !["reboot", "poweroff", "halt", "shutdown"].contains(&site.finish.as_str()) {
        return Err(site_err(
            name,
            format!(
                "finish: {:?} is not one of reboot, poweroff, halt, shutdown",
                site.finish
            ),
        ));
    }
    if !["dhcp", "static"].contains(&site.network.bootproto.as_str()) {
        return Err(site_err(
            name,
            format!(
                "network.bootproto: {:?} is not dhcp or static",
                site.network.bootproto
            ),
        ));
    }
    if site.network.bootproto == "static"
        && (site.network.ip.is_none() || site.network.netmask.is_none())
    {
        return Err(site_err(
            name,
            "network: bootproto static needs ip and netmask".into(),
        ));
    }
    if !["autopart", "plain"].contains(&site.disk.layout.as_str()) {
        return Err(site_err(
            name,
            format!(
                "disk.layout: {:?} is not autopart or plain",
                site.disk.layout
            ),
        ));
    }
    if !["ext4", "xfs"].contains(&site.disk.fstype.as_str()) {
        return Err(site_err(
            name,
            format!("disk.fstype: {:?} is not ext4 or xfs", site.disk.fstype),
        ));
    }
    if let Some(post) = &site.post {
        for l in crate::lex::split_lines(post) {
            let first = l.split_whitespace().next().unwrap_or("");
            if first == "%end" || crate::parser::SECTIONS.contains(&first) {
                return Err(site_err(
                    name,
                    format!(
                        "post: the line {l:?} would end the %post section; indent it or quote it"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Renders a site file to answer-file text, then parses and validates it.
pub fn render_site(yaml: &str, name: &str) -> Result<String, RenderError> {
    let site = load_site(yaml, name)?;
    render(&site, name)
}

/// Renders a [`Site`] (`name` appears in the file's header comment).
pub fn render(site: &Site, name: &str) -> Result<String, RenderError> {
    check_passwords(site, "", name)?;
    let mut tera = tera::Tera::default();
    tera.autoescape_on(Vec::new());
    tera.register_filter("ksq", ksq);
    tera.add_raw_templates(TEMPLATES.iter().copied())
        .map_err(|e| RenderError::Template {
            template: MAIN_TEMPLATE.into(),
            message: chain(&e),
        })?;
    let mut ctx = tera::Context::from_serialize(site).map_err(|e| RenderError::Template {
        template: MAIN_TEMPLATE.into(),
        message: chain(&e),
    })?;
    ctx.insert("site_name", name);
    if site.post.is_some() {
        ctx.insert("post", POST_MARKER);
    }
    ctx.insert("fqdn", &format!("{}.{}", site.hostname, site.domain));
    let mut ports: Vec<u16> = Vec::new();
    for s in &site.services {
        ports.extend_from_slice(match s.as_str() {
            "smtp" => &[25, 465, 587],
            "imap" => &[143, 993],
            "pop3" => &[110, 995],
            "webd" => &[80, 443],
            _ => &[],
        });
    }
    ctx.insert(
        "firewall_ports",
        &ports.iter().map(|p| format!("{p}:tcp")).collect::<Vec<_>>(),
    );
    let keys: Vec<HashMap<&str, &str>> = site
        .users
        .iter()
        .flat_map(|u| {
            let user = u.name.split('@').next().unwrap_or(&u.name);
            u.ssh_keys
                .iter()
                .map(move |k| HashMap::from([("user", user), ("key", k.as_str())]))
        })
        .collect();
    ctx.insert("ssh_keys", &keys);
    let text = tera
        .render(MAIN_TEMPLATE, &ctx)
        .map_err(|e| RenderError::Template {
            template: MAIN_TEMPLATE.into(),
            message: chain(&e),
        })?;
    let mut text = tidy(&text);
    if let Some(post) = &site.post {
        text = text.replace(POST_MARKER, post.trim_end_matches('\n'));
    }
    match crate::parse_str(MAIN_TEMPLATE, &text) {
        Ok(_) => Ok(text),
        Err(diagnostics) => Err(RenderError::Invalid {
            template: MAIN_TEMPLATE.into(),
            diagnostics,
            text,
        }),
    }
}

/// Drops leading blank lines and runs of blank lines left by template tags
/// (tera keeps the line breaks around `{# #}` comments and includes), so the
/// file reads as if written by hand. The site's `post` script is not
/// touched: it is rendered as a marker and put in after tidying.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.trim_start_matches('\n').split_inclusive('\n') {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
    }
    out
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The `ksq` filter: quote a value for a kickstart line.
fn ksq(value: &tera::Value, _args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let s = match value {
        tera::Value::String(s) => s.clone(),
        tera::Value::Number(n) => n.to_string(),
        tera::Value::Bool(b) => b.to_string(),
        other => return Err(tera::Error::msg(format!("ksq: cannot quote {other}"))),
    };
    if let Some(c) = s.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(tera::Error::msg(format!(
            "ksq: value {s:?} contains the control character {c:?}; kickstart values cannot span lines"
        )));
    }
    Ok(tera::Value::String(crate::print::val(&s)))
}
