//! Configuring the unpacked system: files written under the target root.
//!
//! Every function takes the target root (`/mnt/sysimage` during an install,
//! a temporary directory in tests) and writes plain files, the way
//! Anaconda's configuration tasks do, without running the target's tools:
//! the live system may not be able to execute them, and direct writes are
//! deterministic and testable. Users are added by editing `passwd`,
//! `shadow` and `group` like `useradd` would (first free UID ≥ 1000, a user
//! private group, `/etc/skel` copied); services are enabled by creating the
//! symlinks `systemctl enable` would create from the unit's `[Install]`.

use anyhow::{Context, Result, bail};
use outpost_kickstart::{BootProto, Kickstart};
use std::fmt::Write as _;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// A filesystem created by the installer, for fstab and the boot entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFs {
    /// Mount point or `swap`.
    pub mountpoint: String,
    /// `ext4`, `xfs`, `vfat` or `swap`.
    pub fstype: String,
    /// The filesystem UUID as fstab and `root=UUID=` want it.
    pub uuid: String,
}

fn write(root: &Path, rel: &str, text: &str, mode: u32) -> Result<()> {
    let p = root.join(rel.trim_start_matches('/'));
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", p.display()))
}

/// `/etc/fstab` by UUID, `/` first (as `mount -a` needs parents first).
pub fn fstab(fss: &[NewFs]) -> String {
    let mut out =
        String::from("# /etc/fstab: written by outpost-installer (filesystems by UUID).\n");
    let mut v: Vec<&NewFs> = fss.iter().collect();
    v.sort_by_key(|f| {
        (
            f.fstype == "swap",
            f.mountpoint.matches('/').count(),
            f.mountpoint.clone(),
        )
    });
    for f in v {
        let (mp, opts, pass) = match (f.fstype.as_str(), f.mountpoint.as_str()) {
            ("swap", _) => ("none", "sw", 0),
            ("vfat", m) => (m, "umask=0077", 2),
            // fsck.xfs is a no-op; Debian's installer gives XFS pass 0.
            ("xfs", m) => (m, "defaults", 0),
            (_, "/") => ("/", "errors=remount-ro", 1),
            (_, m) => (m, "defaults", 2),
        };
        let _ = writeln!(
            out,
            "UUID={} {} {} {} 0 {}",
            f.uuid, mp, f.fstype, opts, pass
        );
    }
    out
}

/// The host name: the first `network --hostname`, else `outpost`.
pub fn hostname(ks: &Kickstart) -> String {
    ks.network
        .iter()
        .find_map(|n| n.hostname.clone())
        .unwrap_or_else(|| "outpost".into())
}

/// `/etc/hostname` and `/etc/hosts`.
pub fn write_hostname(root: &Path, ks: &Kickstart) -> Result<()> {
    let full = hostname(ks);
    let short = full.split('.').next().unwrap_or(&full).to_owned();
    write(root, "etc/hostname", &format!("{short}\n"), 0o644)?;
    let names = if full == short {
        short.clone()
    } else {
        format!("{full} {short}")
    };
    write(
        root,
        "etc/hosts",
        &format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{names}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        ),
        0o644,
    )
}

fn prefix_len(netmask: &str) -> Result<u32> {
    if let Ok(n) = netmask.trim_start_matches('/').parse::<u32>()
        && n <= 32
    {
        return Ok(n);
    }
    let addr: std::net::Ipv4Addr = netmask
        .parse()
        .with_context(|| format!("network --netmask={netmask}"))?;
    let bits = u32::from(addr);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        bail!("network --netmask={netmask} is not a contiguous mask");
    }
    Ok(bits.leading_ones())
}

/// systemd-networkd files from `network` lines: `(file name, contents)`.
///
/// `--device` may be an interface name, a MAC address, or `link`/absent (any
/// wired interface: `en*`/`eth*`, as Anaconda picks the first with a link).
pub fn networkd_files(ks: &Kickstart) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for (i, n) in ks.network.iter().enumerate() {
        if n.onboot == Some(false) {
            continue;
        }
        let m = match n.device.as_deref() {
            None | Some("link") | Some("bootif") => "Name=en* eth*".to_owned(),
            Some(d) if d.len() == 17 && d.matches(':').count() == 5 => format!("MACAddress={d}"),
            Some(d) => format!("Name={d}"),
        };
        let mut net = String::new();
        match n.bootproto {
            BootProto::Dhcp | BootProto::Bootp => net.push_str("DHCP=yes\n"),
            BootProto::Static => {
                let ip =
                    n.ip.as_deref()
                        .context("network --bootproto=static needs --ip")?;
                let prefix = match &n.netmask {
                    Some(m) => prefix_len(m)?,
                    None => 24,
                };
                let _ = writeln!(net, "Address={ip}/{prefix}");
                if let Some(g) = &n.gateway {
                    let _ = writeln!(net, "Gateway={g}");
                }
            }
            BootProto::Query | BootProto::Ibft => {
                bail!(
                    "network --bootproto={:?} is not supported; use dhcp or static",
                    n.bootproto
                )
            }
        }
        if !n.nodns {
            for d in &n.nameservers {
                let _ = writeln!(net, "DNS={d}");
            }
        }
        if let Some(v6) = &n.ipv6 {
            match v6.as_str() {
                "auto" | "dhcp" => net.push_str("IPv6AcceptRA=yes\n"),
                a => {
                    let _ = writeln!(net, "Address={a}");
                }
            }
        }
        let link = n
            .mtu
            .as_ref()
            .map(|m| format!("\n[Link]\nMTUBytes={m}\n"))
            .unwrap_or_default();
        files.push((
            format!(
                "{:02}-outpost-{}.network",
                10 + i,
                n.device.as_deref().unwrap_or("wired").replace(':', "")
            ),
            format!(
                "# From the answer file, line {}.\n[Match]\n{m}\n\n[Network]\n{net}{link}",
                n.origin.line
            ),
        ));
    }
    Ok(files)
}

/// Network, time zone, locale and keyboard.
pub fn write_system_settings(root: &Path, ks: &Kickstart) -> Result<()> {
    for (name, text) in networkd_files(ks)? {
        write(root, &format!("etc/systemd/network/{name}"), &text, 0o644)?;
    }
    if let Some(tz) = ks.timezone.as_ref().and_then(|t| t.timezone.clone()) {
        let zone = Path::new("/usr/share/zoneinfo").join(&tz);
        if !root.join(zone.strip_prefix("/").unwrap_or(&zone)).exists() {
            bail!("timezone {tz}: no such zone in the payload's /usr/share/zoneinfo");
        }
        let lt = root.join("etc/localtime");
        let _ = std::fs::remove_file(&lt);
        symlink(&zone, &lt).context("linking /etc/localtime")?;
        write(root, "etc/timezone", &format!("{tz}\n"), 0o644)?;
    }
    if let Some(tz) = &ks.timezone
        && !tz.utc
    {
        write(root, "etc/adjtime", "0.0 0 0.0\n0\nLOCAL\n", 0o644)?;
    }
    if let Some(lang) = &ks.lang {
        write(
            root,
            "etc/default/locale",
            &format!("LANG={}\n", lang.lang),
            0o644,
        )?;
        write(
            root,
            "etc/locale.conf",
            &format!("LANG={}\n", lang.lang),
            0o644,
        )?;
        let gen_path = root.join("etc/locale.gen");
        let mut text = std::fs::read_to_string(&gen_path).unwrap_or_default();
        for l in std::iter::once(&lang.lang).chain(&lang.addsupport) {
            // Debian's locale.gen lines are `en_US.UTF-8 UTF-8`.
            let charset = l.split('.').nth(1).unwrap_or("UTF-8").to_owned();
            let line = format!("{l} {charset}");
            if text.contains(&format!("# {line}")) {
                text = text.replace(&format!("# {line}"), &line);
            } else if !text.lines().any(|x| x == line) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        write(root, "etc/locale.gen", &text, 0o644)?;
    }
    if let Some(kb) = &ks.keyboard {
        let layout = kb
            .x_layouts
            .first()
            .cloned()
            .or_else(|| kb.keyboard.clone())
            .or_else(|| kb.vc_keymap.clone())
            .unwrap_or_else(|| "us".into());
        // `de (nodeadkeys)` → layout de, variant nodeadkeys (Anaconda's form).
        let (layout, variant) = match layout.split_once('(') {
            Some((l, v)) => (
                l.trim().to_owned(),
                v.trim_end_matches(')').trim().to_owned(),
            ),
            None => (layout, String::new()),
        };
        let options = kb.switch_options.join(",");
        write(
            root,
            "etc/default/keyboard",
            &format!(
                "XKBMODEL=\"pc105\"\nXKBLAYOUT=\"{layout}\"\nXKBVARIANT=\"{variant}\"\nXKBOPTIONS=\"{options}\"\nBACKSPACE=\"guess\"\n"
            ),
            0o644,
        )?;
        let keymap = kb.vc_keymap.clone().unwrap_or(layout);
        write(
            root,
            "etc/vconsole.conf",
            &format!("KEYMAP={keymap}\n"),
            0o644,
        )?;
    }
    Ok(())
}

/// SHA-512 crypt (`$6$`) of a plain password, as `rootpw --plaintext` needs.
pub fn crypt_sha512(password: &str) -> Result<String> {
    let params = sha_crypt::Sha512Params::new(5000)
        .map_err(|e| anyhow::anyhow!("sha-crypt parameters: {e:?}"))?;
    sha_crypt::sha512_simple(password, &params)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e:?}"))
}

fn shadow_hash(password: Option<&str>, crypted: bool, lock: bool) -> Result<String> {
    let h = match password {
        None => "*".to_owned(),
        Some(p) if crypted => p.to_owned(),
        Some(p) => crypt_sha512(p)?,
    };
    Ok(if lock { format!("!{h}") } else { h })
}

/// A `name:…` line file (`passwd`, `shadow`, `group`, `gshadow`).
struct Table {
    path: PathBuf,
    lines: Vec<Vec<String>>,
}

impl Table {
    fn load(root: &Path, name: &str) -> Result<Table> {
        let path = root.join("etc").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        Ok(Table {
            path,
            lines: text
                .lines()
                .map(|l| l.split(':').map(str::to_owned).collect())
                .collect(),
        })
    }
    fn find(&mut self, name: &str) -> Option<&mut Vec<String>> {
        self.lines.iter_mut().find(|l| l[0] == name)
    }
    fn set(&mut self, fields: Vec<String>) {
        match self.lines.iter_mut().find(|l| l[0] == fields[0]) {
            Some(l) => *l = fields,
            None => self.lines.push(fields),
        }
    }
    fn ids(&self, col: usize) -> Vec<u32> {
        self.lines
            .iter()
            .filter_map(|l| l.get(col)?.parse().ok())
            .collect()
    }
    fn save(&self, mode: u32) -> Result<()> {
        let text: String = self.lines.iter().map(|l| l.join(":") + "\n").collect();
        std::fs::create_dir_all(self.path.parent().unwrap_or(Path::new("/")))?;
        std::fs::write(&self.path, text)
            .with_context(|| format!("writing {}", self.path.display()))?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(mode))?;
        Ok(())
    }
}

fn free_id(used: &[u32], want: Option<u32>) -> u32 {
    want.unwrap_or_else(|| (1000..60000).find(|i| !used.contains(i)).unwrap_or(60000))
}

fn copy_tree(from: &Path, to: &Path, uid: u32, gid: u32) -> Result<()> {
    std::fs::create_dir_all(to)?;
    if let Ok(rd) = std::fs::read_dir(from) {
        for e in rd.flatten() {
            let dst = to.join(e.file_name());
            let ft = e.file_type()?;
            if ft.is_dir() {
                copy_tree(&e.path(), &dst, uid, gid)?;
            } else if ft.is_file() {
                std::fs::copy(e.path(), &dst)?;
                std::os::unix::fs::lchown(&dst, Some(uid), Some(gid))?;
            }
        }
    }
    std::os::unix::fs::lchown(to, Some(uid), Some(gid))?;
    Ok(())
}

/// `rootpw`, `group`, `user` and `sshkey`.
pub fn write_users(root: &Path, ks: &Kickstart) -> Result<()> {
    let mut passwd = Table::load(root, "passwd")?;
    let mut shadow = Table::load(root, "shadow")?;
    let mut group = Table::load(root, "group")?;
    let mut gshadow = Table::load(root, "gshadow")?;
    // Days since the epoch for shadow's "last change"; SOURCE_DATE_EPOCH-free on purpose:
    // it is the install date.
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86400)
        .unwrap_or(0)
        .to_string();
    if let Some(rp) = &ks.rootpw {
        let h = shadow_hash(rp.password.as_deref(), rp.is_crypted, rp.lock)?;
        let line = shadow.find("root").map(|l| l.clone()).unwrap_or_else(|| {
            ["root", "*", "", "0", "99999", "7", "", "", ""]
                .iter()
                .map(|s| s.to_string())
                .collect()
        });
        let mut line = line;
        line.resize(9, String::new());
        line[1] = h;
        line[2] = today.clone();
        shadow.set(line);
        if rp.allow_ssh {
            write(
                root,
                "etc/ssh/sshd_config.d/outpost-rootpw.conf",
                "PermitRootLogin yes\n",
                0o644,
            )?;
        }
    }
    for g in &ks.groups {
        if group.find(&g.name).is_none() {
            let gid = free_id(&group.ids(2), g.gid);
            group.set(vec![
                g.name.clone(),
                "x".into(),
                gid.to_string(),
                String::new(),
            ]);
            gshadow.set(vec![
                g.name.clone(),
                "!".into(),
                String::new(),
                String::new(),
            ]);
        }
    }
    for u in &ks.users {
        if passwd.find(&u.name).is_some() {
            bail!("user {}: already exists in the payload", u.name);
        }
        let uid = free_id(&passwd.ids(2), u.uid);
        let gid = match u.gid {
            Some(g) => g,
            None => {
                let gid = free_id(
                    &group.ids(2),
                    Some(uid).filter(|i| !group.ids(2).contains(i)),
                );
                group.set(vec![
                    u.name.clone(),
                    "x".into(),
                    gid.to_string(),
                    String::new(),
                ]);
                gshadow.set(vec![
                    u.name.clone(),
                    "!".into(),
                    String::new(),
                    String::new(),
                ]);
                gid
            }
        };
        let home = u
            .homedir
            .clone()
            .unwrap_or_else(|| format!("/home/{}", u.name));
        let shell = u.shell.clone().unwrap_or_else(|| "/bin/bash".into());
        passwd.set(vec![
            u.name.clone(),
            "x".into(),
            uid.to_string(),
            gid.to_string(),
            u.gecos.clone().unwrap_or_default(),
            home.clone(),
            shell,
        ]);
        let h = shadow_hash(
            u.password.as_deref(),
            u.is_crypted,
            u.lock || u.password.is_none(),
        )?;
        shadow.set(vec![
            u.name.clone(),
            h,
            today.clone(),
            "0".into(),
            "99999".into(),
            "7".into(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        for gname in &u.groups {
            // Fedora admins write `wheel`; Debian's administrators group is `sudo`.
            let gname = if gname == "wheel" && group.find("wheel").is_none() {
                "sudo"
            } else {
                gname.as_str()
            };
            let Some(line) = group.find(gname) else {
                bail!(
                    "user {}: group {gname} does not exist (add a `group` line)",
                    u.name
                );
            };
            line.resize(4, String::new());
            let mut members: Vec<String> = line[3]
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if !members.contains(&u.name) {
                members.push(u.name.clone());
            }
            line[3] = members.join(",");
        }
        let home_dir = root.join(home.trim_start_matches('/'));
        copy_tree(&root.join("etc/skel"), &home_dir, uid, gid)?;
        std::fs::set_permissions(&home_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    passwd.save(0o644)?;
    shadow.save(0o640)?;
    group.save(0o644)?;
    gshadow.save(0o640)?;
    for k in &ks.sshkeys {
        let Some(line) = passwd.find(&k.username).cloned() else {
            bail!("sshkey --username={}: no such user", k.username);
        };
        let (uid, gid): (u32, u32) = (line[2].parse()?, line[3].parse()?);
        let ssh = root.join(line[5].trim_start_matches('/')).join(".ssh");
        std::fs::create_dir_all(&ssh)?;
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o700))?;
        let ak = ssh.join("authorized_keys");
        let mut text = std::fs::read_to_string(&ak).unwrap_or_default();
        text.push_str(k.key.trim());
        text.push('\n');
        std::fs::write(&ak, text)?;
        std::fs::set_permissions(&ak, std::fs::Permissions::from_mode(0o600))?;
        std::os::unix::fs::lchown(&ssh, Some(uid), Some(gid))?;
        std::os::unix::fs::lchown(&ak, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// Well-known service names of `firewall --service=` → `port/proto`.
fn service_ports(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "ssh" => &["22/tcp"],
        "smtp" => &["25/tcp"],
        "submission" => &["587/tcp"],
        "smtps" | "submissions" => &["465/tcp"],
        "imap" => &["143/tcp"],
        "imaps" => &["993/tcp"],
        "pop3" => &["110/tcp"],
        "pop3s" => &["995/tcp"],
        "http" => &["80/tcp"],
        "https" => &["443/tcp"],
        "mdns" => &["5353/udp"],
        "dns" => &["53/tcp", "53/udp"],
        "ntp" => &["123/udp"],
        "dhcpv6-client" => &["546/udp"],
        "cockpit" => &["9090/tcp"],
        _ => return None,
    })
}

/// `/etc/nftables.conf` for `firewall` (`None` when `--disabled`).
///
/// Protocols are numeric (1 = ICMP, 58 = ICMPv6): a minbase payload has no
/// `/etc/protocols` (netbase), and nft then cannot resolve `ipv6-icmp`.
///
/// Anaconda's default (firewalld) opens ssh; `--port=25:tcp` and
/// `--service=imaps` open more; `--remove-service` closes a default.
/// `extra` are ports the Outpost services need (from `%addon org_outpost`).
pub fn nftables(ks: &Kickstart, extra: &[&str]) -> Result<Option<String>> {
    let fw = ks.firewall.as_ref();
    if fw.is_some_and(|f| !f.enabled) {
        return Ok(None);
    }
    let mut ports: Vec<String> = Vec::new();
    let mut services: Vec<String> = vec!["ssh".into()];
    if let Some(f) = fw {
        services.extend(f.services.iter().cloned());
        services.retain(|s| !f.remove_services.contains(s));
        for p in &f.ports {
            // Anaconda: `25:tcp`, `imap:tcp`, `1234:udp`.
            let (port, proto) = p.split_once(':').unwrap_or((p.as_str(), "tcp"));
            let port = if port.chars().all(|c| c.is_ascii_digit()) {
                port.to_owned()
            } else {
                let known = service_ports(port)
                    .with_context(|| format!("firewall --port={p}: unknown service name"))?;
                known[0].split('/').next().unwrap_or(port).to_owned()
            };
            if !["tcp", "udp"].contains(&proto) {
                bail!("firewall --port={p}: protocol must be tcp or udp");
            }
            ports.push(format!("{port}/{proto}"));
        }
    }
    for s in &services {
        let known =
            service_ports(s).with_context(|| format!("firewall --service={s}: unknown service"))?;
        ports.extend(known.iter().map(|p| p.to_string()));
    }
    ports.extend(extra.iter().map(|p| p.to_string()));
    let mut tcp: Vec<u32> = Vec::new();
    let mut udp: Vec<u32> = Vec::new();
    for p in &ports {
        let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        let n: u32 = n.parse().with_context(|| format!("firewall port {p}"))?;
        let v = if proto == "udp" { &mut udp } else { &mut tcp };
        if !v.contains(&n) {
            v.push(n);
        }
    }
    tcp.sort_unstable();
    udp.sort_unstable();
    let join = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let mut rules = String::new();
    if let Some(f) = fw {
        for t in &f.trusts {
            let _ = writeln!(rules, "\t\tiifname \"{t}\" accept");
        }
    }
    if !tcp.is_empty() {
        let _ = writeln!(rules, "\t\ttcp dport {{ {} }} accept", join(&tcp));
    }
    if !udp.is_empty() {
        let _ = writeln!(rules, "\t\tudp dport {{ {} }} accept", join(&udp));
    }
    Ok(Some(format!(
        "#!/usr/sbin/nft -f\n# Written by outpost-installer from the answer file's `firewall` line.\nflush ruleset\n\n\
         table inet filter {{\n\tchain input {{\n\t\ttype filter hook input priority filter; policy drop;\n\
         \t\tiif \"lo\" accept\n\t\tct state established,related accept\n\t\tct state invalid drop\n\
         \t\tmeta l4proto {{ 1, 58 }} accept\n\t\tudp dport 68 accept\n{rules}\t}}\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy drop;\n\t}}\n\
         \tchain output {{\n\t\ttype filter hook output priority filter; policy accept;\n\t}}\n}}\n"
    )))
}

const UNIT_DIRS: [&str; 3] = [
    "etc/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

fn find_unit(root: &Path, unit: &str) -> Option<PathBuf> {
    UNIT_DIRS
        .iter()
        .map(|d| root.join(d).join(unit))
        .find(|p| p.exists() || p.is_symlink())
}

fn unit_name(s: &str) -> String {
    if s.contains('.') {
        s.to_owned()
    } else {
        format!("{s}.service")
    }
}

/// Enables `unit` as `systemctl enable` would: a symlink in each
/// `WantedBy=`/`RequiredBy=` target's `.wants`/`.requires` directory, plus
/// `Alias=` links and `Also=` units. Returns false when the unit does not exist.
pub fn enable_unit(root: &Path, unit: &str) -> Result<bool> {
    let unit = unit_name(unit);
    let Some(path) = find_unit(root, &unit) else {
        return Ok(false);
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let target_path = Path::new("/").join(path.strip_prefix(root).unwrap_or(&path));
    let mut in_install = false;
    let mut also = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_install = line == "[Install]";
            continue;
        }
        if !in_install {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        for item in v.split_whitespace() {
            let (dir, name) = match k.trim() {
                "WantedBy" => (format!("etc/systemd/system/{item}.wants"), unit.clone()),
                "RequiredBy" => (format!("etc/systemd/system/{item}.requires"), unit.clone()),
                "Alias" => ("etc/systemd/system".to_owned(), item.to_owned()),
                "Also" => {
                    also.push(item.to_owned());
                    continue;
                }
                _ => continue,
            };
            let d = root.join(dir);
            std::fs::create_dir_all(&d)?;
            let link = d.join(&name);
            if !link.is_symlink() {
                symlink(&target_path, &link).with_context(|| format!("enabling {unit}"))?;
            }
        }
    }
    for a in also {
        enable_unit(root, &a)?;
    }
    Ok(true)
}

/// Disables `unit`: removes every symlink to it under `/etc/systemd/system`.
pub fn disable_unit(root: &Path, unit: &str) -> Result<()> {
    let unit = unit_name(unit);
    let etc = root.join("etc/systemd/system");
    let Ok(rd) = std::fs::read_dir(&etc) else {
        return Ok(());
    };
    for e in rd.flatten() {
        if e.file_type()?.is_dir() {
            let l = e.path().join(&unit);
            if l.is_symlink() {
                std::fs::remove_file(&l)?;
            }
        }
    }
    Ok(())
}

/// Installed package names from the payload's dpkg status.
pub fn installed_packages(root: &Path) -> Result<std::collections::BTreeSet<String>> {
    let text = std::fs::read_to_string(root.join("var/lib/dpkg/status"))
        .context("reading the payload's dpkg status")?;
    let mut out = std::collections::BTreeSet::new();
    for stanza in text.split("\n\n") {
        let mut name = None;
        let mut ok = false;
        for l in stanza.lines() {
            if let Some(n) = l.strip_prefix("Package: ") {
                name = Some(n.trim().to_owned());
            }
            if l.starts_with("Status: ") && l.ends_with(" installed") {
                ok = true;
            }
        }
        if let (Some(n), true) = (name, ok) {
            out.insert(n);
        }
    }
    Ok(out)
}

/// Checks `%packages` against the payload: the payload is fixed at ISO build
/// time, so a package it lacks cannot be installed offline. Returns warnings.
pub fn check_packages(root: &Path, ks: &Kickstart) -> Result<Vec<String>> {
    let Some(p) = &ks.packages else {
        return Ok(Vec::new());
    };
    let have = installed_packages(root)?;
    let mut warnings = Vec::new();
    let missing: Vec<&String> = p.packages.iter().filter(|n| !have.contains(*n)).collect();
    if !missing.is_empty() {
        let names = missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if p.ignoremissing {
            warnings.push(format!(
                "%packages: not in the payload, ignored (--ignoremissing): {names}"
            ));
        } else {
            bail!(
                "%packages: not in the payload: {names}. Rebuild the ISO with them, or add \
                 `%packages --ignoremissing`"
            );
        }
    }
    if !p.groups.is_empty() || p.environment.is_some() {
        warnings
            .push("%packages: @groups/@^environments have no Debian equivalent; ignored".into());
    }
    for n in &p.excluded_packages {
        if have.contains(n) {
            warnings.push(format!(
                "%packages: -{n} is part of the payload and stays installed"
            ));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(text: &str) -> Kickstart {
        outpost_kickstart::parse_str("t.ks", text)
            .map_err(|e| e.to_string())
            .unwrap()
            .kickstart
    }

    #[test]
    fn fstab_orders_and_formats() {
        let f = |m: &str, t: &str, u: &str| NewFs {
            mountpoint: m.into(),
            fstype: t.into(),
            uuid: u.into(),
        };
        let text = fstab(&[
            f("swap", "swap", "S"),
            f("/var/mail", "xfs", "M"),
            f("/boot/efi", "vfat", "AB-CD"),
            f("/", "ext4", "R"),
        ]);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "UUID=R / ext4 errors=remount-ro 0 1",
                "UUID=AB-CD /boot/efi vfat umask=0077 0 2",
                "UUID=M /var/mail xfs defaults 0 0",
                "UUID=S none swap sw 0 0"
            ]
        );
    }

    #[test]
    fn networkd_from_network_lines() {
        let k = ks("network --bootproto=dhcp --hostname=mx1.outpost.lan\n\
                    network --bootproto=static --device=ens3 --ip=192.0.2.5 --netmask=255.255.255.0 --gateway=192.0.2.1 --nameserver=192.0.2.53\n");
        let files = networkd_files(&k).unwrap();
        assert_eq!(files[0].0, "10-outpost-wired.network");
        assert!(
            files[0]
                .1
                .contains("[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"),
            "{}",
            files[0].1
        );
        assert_eq!(files[1].0, "11-outpost-ens3.network");
        assert!(
            files[1].1.contains(
                "Name=ens3\n\n[Network]\nAddress=192.0.2.5/24\nGateway=192.0.2.1\nDNS=192.0.2.53\n"
            ),
            "{}",
            files[1].1
        );
        assert_eq!(hostname(&k), "mx1.outpost.lan");
        assert_eq!(prefix_len("255.255.240.0").unwrap(), 20);
        assert!(prefix_len("255.0.255.0").is_err());
    }

    #[test]
    fn firewall_rules() {
        let k = ks(
            "firewall --enabled --port=2525:tcp,5000:udp --service=imaps --remove-service=ssh\n",
        );
        let t = nftables(&k, &["25/tcp"]).unwrap().unwrap();
        assert!(t.contains("tcp dport { 25, 993, 2525 } accept"), "{t}");
        assert!(t.contains("udp dport { 5000 } accept"), "{t}");
        assert!(!t.contains(" 22"), "{t}");
        assert_eq!(nftables(&ks("firewall --disabled\n"), &[]).unwrap(), None);
        let e = nftables(&ks("firewall --enabled --service=gopher\n"), &[]).unwrap_err();
        assert!(e.to_string().contains("--service=gopher"), "{e}");
    }

    #[test]
    fn users_groups_keys_and_services() {
        let root = std::env::temp_dir().join(format!("outpost-target-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc/skel")).unwrap();
        std::fs::write(root.join("etc/skel/.bashrc"), "# hi\n").unwrap();
        std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        std::fs::write(root.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nsudo:x:27:\n").unwrap();
        std::fs::create_dir_all(root.join("usr/lib/systemd/system")).unwrap();
        std::fs::write(
            root.join("usr/lib/systemd/system/outpost-smtpd.service"),
            "[Unit]\nDescription=x\n[Install]\nWantedBy=multi-user.target\nAlias=smtpd.service\n",
        )
        .unwrap();
        let k = ks(
            "rootpw --iscrypted $6$salt$abc\ngroup --name=ops --gid=2000\n\
                    user --name=alice --groups=wheel,ops --password=pw --plaintext --gecos=Alice\n\
                    sshkey --username=alice \"ssh-ed25519 AAAA alice@x\"\n",
        );
        write_users(&root, &k).unwrap();
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(
            passwd.contains("alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"),
            "{passwd}"
        );
        let shadow = std::fs::read_to_string(root.join("etc/shadow")).unwrap();
        assert!(shadow.starts_with("root:$6$salt$abc:"), "{shadow}");
        let alice = shadow.lines().find(|l| l.starts_with("alice:")).unwrap();
        let hash = alice.split(':').nth(1).unwrap();
        assert!(hash.starts_with("$6$"), "{alice}");
        assert!(sha_crypt::sha512_check("pw", hash).is_ok());
        let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
        assert!(
            group.contains("sudo:x:27:alice\n")
                && group.contains("ops:x:2000:alice\n")
                && group.contains("alice:x:1000:\n"),
            "{group}"
        );
        assert!(root.join("home/alice/.bashrc").exists());
        let ak = std::fs::read_to_string(root.join("home/alice/.ssh/authorized_keys")).unwrap();
        assert_eq!(ak, "ssh-ed25519 AAAA alice@x\n");

        assert!(enable_unit(&root, "outpost-smtpd").unwrap());
        let link = root.join("etc/systemd/system/multi-user.target.wants/outpost-smtpd.service");
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("/usr/lib/systemd/system/outpost-smtpd.service")
        );
        assert!(root.join("etc/systemd/system/smtpd.service").is_symlink());
        assert!(!enable_unit(&root, "nosuch").unwrap());
        disable_unit(&root, "outpost-smtpd.service").unwrap();
        assert!(!link.is_symlink());
        let _ = std::fs::remove_dir_all(&root);
    }
}
