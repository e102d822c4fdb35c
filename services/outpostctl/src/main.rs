//! `outpostctl`: the admin's command line for users, aliases, groups,
//! domain aliases, the mail queue, the server certificate, the DNS
//! records to publish, the DKIM keys, the virus signatures and the
//! first-boot password.
//!
//! `main` is a flat dispatcher: each subcommand is one `fn` taking the
//! loaded configuration. Every change is validated first and done in one
//! directory transaction, so bad input (invalid address, duplicate user,
//! weak password, unknown domain) prints a clear message and changes
//! nothing.
//!
//! Exit codes: 0 success, 1 refused or failed (the message says why),
//! 2 usage error (from clap).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use outpost_config::Config;
use outpost_directory::{Directory, Lockout, NewUser, Password};
use outpost_queue::{Queue, RcptState};

/// Administer an Outpost appliance.
#[derive(Debug, Parser)]
#[command(name = "outpostctl", version, about)]
struct Cli {
    /// Configuration file.
    #[arg(long, global = true, default_value = outpost_config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mail users.
    #[command(subcommand)]
    User(UserCmd),
    /// Groups (distribution lists).
    #[command(subcommand)]
    Group(GroupCmd),
    /// Domain aliases (mail to x@ALIAS goes to x@TARGET).
    #[command(subcommand, name = "domain-alias")]
    DomainAlias(DomainAliasCmd),
    /// The outbound mail queue.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// The server certificate and the local certificate authority.
    #[command(subcommand)]
    Tls(TlsCmd),
    /// Whether each daemon's listeners answer (exit status 1 if one
    /// does not).
    Status,
    /// The DNS records to publish for the mail domains (zone-file form).
    Dns {
        /// JSON instead of zone-file lines.
        #[arg(long)]
        json: bool,
    },
    /// DKIM signing keys: show, rotate, retire.
    #[command(subcommand)]
    Dkim(DkimCmd),
    /// The virus scanner's signature database.
    #[command(subcommand)]
    Av(AvCmd),
    /// Give users without a password a generated one (run at every boot
    /// by outpost-firstboot.service) and remove notes of changed ones.
    #[command(name = "first-boot")]
    FirstBoot,
}

#[derive(Debug, Subcommand)]
enum DkimCmd {
    /// The selectors with keys (the active one first) and their DNS
    /// records.
    Show {
        /// JSON instead of a table and zone-file lines.
        #[arg(long)]
        json: bool,
    },
    /// Make a new selector `<selector>-YYYYMMDD` and sign with it from the
    /// next message on (no restart). Publish its records (printed) first
    /// where DNS is slow to update; keep the old ones until `retire`.
    Rotate,
    /// Remove the keys of an old selector (not the active one): do it
    /// once its records have been unpublished for a while.
    Retire {
        /// The selector, as `dkim show` lists it (without -rsa/-ed25519).
        selector: String,
    },
}

#[derive(Debug, Subcommand)]
enum AvCmd {
    /// Install a ClamAV signature file (main.cvd, daily.cld, a .ndb/.hdb
    /// …, e.g. from a USB stick) into clamd's database folder, atomically,
    /// and ask clamd to load it now.
    Import {
        /// The signature file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TlsCmd {
    /// Print the local CA certificate (PEM) for clients to import.
    Ca,
    /// Show the server certificate; warn when it expires soon.
    Status,
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Add a user and create its mailbox.
    Add {
        /// The address, e.g. alice@outpost.lan.
        address: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Role (repeatable); default: user.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Extra address delivered to this user (repeatable).
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// Quota in bytes (0: none).
        #[arg(long, default_value_t = 0)]
        quota: u64,
        /// Identity at the upstream (e.g. alice@company.com).
        #[arg(long, default_value = "")]
        upstream: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user; the mail is kept unless --purge.
    Del {
        /// The address.
        address: String,
        /// Also delete the user's mailbox.
        #[arg(long)]
        purge: bool,
    },
    /// Print the argon2id hash of a password (for a site file's
    /// password_hash); nothing is stored.
    Hash {
        /// The address the password is for (checked against the policy).
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (and lift a lockout).
    Passwd {
        /// The address.
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's name, roles, quota or upstream identity (what is
    /// not given stays as it is).
    Set {
        /// The address.
        address: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Role (repeatable; replaces the user's roles).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Remove every role.
        #[arg(long, conflicts_with = "roles")]
        no_roles: bool,
        /// Quota: bytes or a size such as 500M or 2G (0 or none: no quota).
        #[arg(long)]
        quota: Option<String>,
        /// Identity at the upstream (empty: none).
        #[arg(long)]
        upstream: Option<String>,
    },
    /// Enable or disable a user.
    Enable {
        /// The address.
        address: String,
        /// Disable instead.
        #[arg(long)]
        off: bool,
    },
    /// Aliases.
    #[command(subcommand)]
    Alias(AliasCmd),
}

#[derive(Debug, Subcommand)]
enum AliasCmd {
    /// Make ALIAS deliver to TARGET (a user, group or remote address).
    Add {
        /// The alias address.
        alias: String,
        /// Where it goes.
        target: String,
    },
    /// Remove an alias.
    Del {
        /// The alias address.
        alias: String,
    },
    /// List aliases.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GroupCmd {
    /// Create a group.
    Add {
        /// The group's address.
        address: String,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Member (repeatable).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Delete a group.
    Del {
        /// The group's address.
        address: String,
    },
    /// Add members to a group.
    AddMember {
        /// The group's address.
        group: String,
        /// Members.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Remove members from a group.
    DelMember {
        /// The group's address.
        group: String,
        /// Members.
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// List groups and their members.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DomainAliasCmd {
    /// Deliver mail for ALIAS_DOMAIN as if sent to TARGET_DOMAIN.
    Add {
        /// e.g. outpost.example
        alias_domain: String,
        /// e.g. outpost.lan
        target_domain: String,
    },
    /// Remove a domain alias.
    Del {
        /// e.g. outpost.example
        alias_domain: String,
    },
    /// List domain aliases.
    List,
}

#[derive(Debug, Subcommand)]
enum QueueCmd {
    /// Show queued messages.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ask outpost-smtpd to retry every queued message now.
    Flush,
    /// Delete queued messages (no bounce is sent).
    Delete {
        /// Queue ids.
        ids: Vec<String>,
        /// Delete everything.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("outpostctl: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::User(cmd) => user(&config, cmd),
        Command::Group(cmd) => group(&config, cmd),
        Command::DomainAlias(cmd) => domain_alias(&config, cmd),
        Command::Queue(cmd) => queue(&config, cmd),
        Command::Tls(TlsCmd::Ca) => {
            let path = config.tls.dir.join("ca.crt");
            let pem = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {} (it is created when a daemon first starts)",
                    path.display()
                )
            })?;
            print!("{pem}");
            // The PEM goes to stdout for a pipe; the warning to stderr.
            if let Ok(cert) = outpost_tls::inspect(&config)
                && let Some(w) =
                    cert.warning(renew_before(&config), time::OffsetDateTime::now_utc())
            {
                eprintln!("warning: {w}");
            }
            Ok(())
        }
        Command::Tls(TlsCmd::Status) => tls_status(&config),
        Command::FirstBoot => first_boot(&config),
        Command::Status => status(&config),
        Command::Dns { json } => {
            let dir = open_directory(&config)?;
            let keys = dkim_keys(&config);
            let records = outpost_admin::dns_records(&config, &dir, &keys);
            let note = outpost_admin::dkim_note(&config, &keys);
            if json {
                println!("{}", serde_json::to_string_pretty(&records)?);
            } else {
                print!("{}", outpost_admin::zone_text(&records));
                if let Some(n) = &note {
                    println!("; {n}");
                }
            }
            if let Some(n) = note
                && json
            {
                eprintln!("note: {n}");
            }
            Ok(())
        }
        Command::Dkim(cmd) => dkim(&config, cmd),
        Command::Av(AvCmd::Import { file }) => av_import(&config, &file),
    }
}

/// The DKIM keys in the key folder, for outpost-admin's records.
fn dkim_keys(config: &Config) -> outpost_admin::DkimKeys {
    outpost_hygiene::dkim::published(&outpost_hygiene::dkim::KeyDir::of(config))
        .map(|v| {
            v.into_iter()
                .map(|p| outpost_admin::DkimKey {
                    selector: p.selector,
                    algorithm: p.algorithm,
                    record: p.record,
                    active: p.active,
                })
                .collect()
        })
        .map_err(|e| e.to_string())
}

/// `dkim show|rotate|retire`.
fn dkim(config: &Config, cmd: DkimCmd) -> anyhow::Result<()> {
    use outpost_hygiene::dkim;
    let keys = dkim::KeyDir::of(config);
    let dir = open_directory(config)?;
    let domains: Vec<String> = config
        .general
        .domains
        .iter()
        .cloned()
        .chain(dir.domain_aliases()?.into_iter().map(|(a, _)| a))
        .collect();
    let records = |config: &Config| -> anyhow::Result<Vec<outpost_admin::DnsRecord>> {
        let keys = dkim_keys(config).map_err(anyhow::Error::msg)?;
        Ok(outpost_admin::dkim_records(config, &domains, &keys))
    };
    match cmd {
        DkimCmd::Show { json } => {
            let published = dkim::published(&keys)?;
            if json {
                #[derive(serde::Serialize)]
                struct Key<'a> {
                    selector: &'a str,
                    algorithm: &'a str,
                    active: bool,
                    record: &'a str,
                }
                let out: Vec<Key> = published
                    .iter()
                    .map(|p| Key {
                        selector: &p.selector,
                        algorithm: p.algorithm,
                        active: p.active,
                        record: &p.record,
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(());
            }
            if published.is_empty() {
                println!(
                    "no DKIM keys in {} (smtpd makes them at its first start; or run `outpostctl dkim rotate`)",
                    keys.dir.display()
                );
                return Ok(());
            }
            let rows: Vec<Vec<String>> = published
                .iter()
                .map(|p| {
                    vec![
                        p.selector.clone(),
                        p.algorithm.into(),
                        if p.active { "active" } else { "rotated out" }.into(),
                    ]
                })
                .collect();
            table(&["SELECTOR", "ALGORITHM", "STATE"], &rows);
            if !config.smtp.dkim.enabled {
                println!("note: signing is off ([smtp.dkim] enabled = false)");
            }
            println!();
            print!("{}", outpost_admin::zone_text(&records(config)?));
            Ok(())
        }
        DkimCmd::Rotate => {
            let today = time::OffsetDateTime::now_utc().date();
            let stamp = format!(
                "{:04}{:02}{:02}",
                today.year(),
                u8::from(today.month()),
                today.day()
            );
            // With no keys yet, the first keys are the configured
            // selector's (what smtpd's first start makes).
            let old = dkim::active(&keys)?;
            let new = match old {
                Some(_) => dkim::rotate(&keys, &stamp)?,
                None => dkim::ensure(&keys)?,
            };
            match old {
                Some(old) => println!(
                    "selector {new} is active (was {old}); smtpd signs with it from the next message.\n\
                     Publish these records; keep {old}'s until `outpostctl dkim retire {old}`:"
                ),
                None => println!("selector {new} is active. Publish these records:"),
            }
            let all = records(config)?;
            let mine: Vec<outpost_admin::DnsRecord> = all
                .into_iter()
                .filter(|r| r.name.starts_with(&format!("{new}-")))
                .collect();
            print!("{}", outpost_admin::zone_text(&mine));
            Ok(())
        }
        DkimCmd::Retire { selector } => {
            dkim::retire(&keys, &selector)?;
            println!("removed the keys of selector {selector}; unpublish its records");
            Ok(())
        }
    }
}

/// `av import FILE`: the file into clamd's database folder, then `RELOAD`.
fn av_import(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let db = &config.smtp.av.database_dir;
    let installed = outpost_hygiene::av::import(db, file)?;
    println!("{installed}");
    let Some(clamd) = outpost_hygiene::av::Clamd::new(&config.smtp.av) else {
        println!("note: no clamd configured ([smtp.av] clamd is empty): nothing scans with it");
        return Ok(());
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match rt.block_on(clamd.reload()) {
        Ok(_) => println!("clamd is loading the database again"),
        // The file is in place either way: clamd's SelfCheck finds it.
        Err(e) => println!("note: {e}; clamd loads the new file at its next self-check or start"),
    }
    Ok(())
}

/// `status`: each configured listener tried from here.
fn status(config: &Config) -> anyhow::Result<()> {
    let states = outpost_admin::service_states(config, std::time::Duration::from_secs(2));
    let down = states.iter().filter(|s| s.state.is_err()).count();
    let rows: Vec<Vec<String>> = states
        .into_iter()
        .map(|s| {
            let (ok, said) = match s.state {
                Ok(t) => ("up", t),
                Err(t) => ("DOWN", t),
            };
            vec![
                s.daemon.into(),
                s.service.into(),
                s.listen.to_string(),
                ok.into(),
                said,
            ]
        })
        .collect();
    table(&["DAEMON", "SERVICE", "LISTEN", "STATE", "DETAIL"], &rows);
    if down > 0 {
        bail!("{down} listener(s) not answering");
    }
    Ok(())
}

fn renew_before(config: &Config) -> time::Duration {
    time::Duration::days(i64::from(config.tls.renew_before_days))
}

/// `tls status`: which certificate the daemons serve, until when, and a
/// warning once fewer than `tls.renew_before_days` are left (#25). Reads
/// only: renewing is the daemons' job (at start and hourly).
fn tls_status(config: &Config) -> anyhow::Result<()> {
    let cert = outpost_tls::inspect(config).context("reading the server certificate")?;
    let now = time::OffsetDateTime::now_utc();
    println!("certificate: {}", cert.path.display());
    println!(
        "source:      {}",
        match cert.source {
            outpost_tls::Source::LocalCa => "the local CA (renewed by the daemons)",
            outpost_tls::Source::Admin => "tls.cert (the admin's; Outpost cannot renew it)",
        }
    );
    println!("names:       {}", cert.names.join(", "));
    println!("serial:      {}", cert.serial);
    println!("not before:  {}", cert.not_before);
    println!("not after:   {}", cert.not_after);
    println!("days left:   {}", cert.days_left(now));
    if let Some(w) = cert.warning(renew_before(config), now) {
        println!("warning: {w}");
    }
    Ok(())
}

/// `first-boot`: make passwords for users who have none, then drop notes of
/// passwords that were changed (#24). Never prints a password: the
/// unit's output goes to the journal; the password goes to the console and
/// the root-only file.
fn first_boot(config: &Config) -> anyhow::Result<()> {
    let mut dir = open_directory(config)?;
    let notes = initial_notes(config);
    let given = outpost_directory::initial::provision(&mut dir, &notes)
        .context("making first-boot passwords")?;
    for a in &given {
        println!(
            "{a}: password made; shown on the console and kept in {} (root only) until changed",
            notes.file.display()
        );
    }
    for a in outpost_directory::initial::retire(&dir, &notes)? {
        println!("{a}: first-boot password changed; its note is removed");
    }
    Ok(())
}

/// Where the first-boot notes are: the system's (`general.state_dir`,
/// `/etc/issue.d`, `/dev/console`), or all in `OUTPOST_INITIAL_NOTES_DIR`
/// when that is set (for tests).
fn initial_notes(config: &Config) -> outpost_directory::initial::Notes {
    outpost_directory::initial::Notes::from_env_or_system(&config.general.state_dir)
}

/// Drops first-boot notes that no longer work; a failure is reported but
/// does not undo the change that was made (the next boot retries).
fn retire_notes(config: &Config, dir: &Directory) {
    match outpost_directory::initial::retire(dir, &initial_notes(config)) {
        Ok(gone) => {
            for a in gone {
                println!("{a}: first-boot password note removed");
            }
        }
        Err(e) => eprintln!("outpostctl: warning: removing first-boot password notes: {e}"),
    }
}

fn open_directory(config: &Config) -> anyhow::Result<Directory> {
    Directory::open_with(&config.directory.path, Lockout::from(&config.directory))
        .with_context(|| format!("opening the directory {}", config.directory.path.display()))
}

/// Reads a password: first line of stdin with `--password-stdin`, else a
/// prompt on the terminal, asked twice.
fn read_password(from_stdin: bool, address: &str) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password: use --password-stdin");
    }
    let first = rpassword::prompt_password(format!("Password for {address}: "))?;
    let second = rpassword::prompt_password("Again: ")?;
    if first != second {
        bail!("the passwords differ; nothing changed");
    }
    Ok(first)
}

fn check_local_domain(config: &Config, dir: &Directory, address: &str) -> anyhow::Result<()> {
    outpost_admin::check_local_domain(config, dir, address).map_err(anyhow::Error::msg)
}

fn user(config: &Config, cmd: UserCmd) -> anyhow::Result<()> {
    let mut dir = open_directory(config)?;
    match cmd {
        UserCmd::Add {
            address,
            name,
            roles,
            aliases,
            quota,
            upstream,
            password_stdin,
        } => {
            let address = outpost_directory::normalize_address(&address)?;
            check_local_domain(config, &dir, &address)?;
            if dir.user(&address)?.is_some() {
                bail!("{address} exists already; nothing changed");
            }
            let password = read_password(password_stdin, &address)?;
            let new = NewUser {
                address: address.clone(),
                full_name: name,
                password: Password::Plain(password),
                roles,
                aliases,
                quota,
                upstream,
            };
            // The same steps and words as the web admin console's.
            let done =
                outpost_admin::add_user(config, &mut dir, new).map_err(anyhow::Error::msg)?;
            println!("{done}");
        }
        UserCmd::Hash {
            address,
            password_stdin,
        } => {
            let address = outpost_directory::normalize_address(&address)?;
            let password = read_password(password_stdin, &address)?;
            outpost_directory::check_password(&address, &password)?;
            println!("{}", outpost_directory::hash_password(&password)?);
        }
        UserCmd::List { json } => {
            let users = dir.users()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.address.clone(),
                            u.full_name.clone(),
                            u.roles.join(","),
                            u.aliases.join(","),
                            if u.quota == 0 {
                                "-".into()
                            } else {
                                u.quota.to_string()
                            },
                            if u.enabled { "yes".into() } else { "no".into() },
                            u.upstream.clone(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ADDRESS", "NAME", "ROLES", "ALIASES", "QUOTA", "ENABLED", "UPSTREAM",
                    ],
                    &rows,
                );
            }
        }
        UserCmd::Del { address, purge } => {
            let user = dir
                .delete_user(&address)
                .map_err(|e| anyhow::anyhow!("{e}; nothing changed"))?;
            let root = outpost_store::user_root(
                &config.general.mail_root,
                user.domain(),
                user.local_part(),
            )?;
            if purge {
                if root.exists() {
                    std::fs::remove_dir_all(&root)
                        .with_context(|| format!("deleting the mailbox {}", root.display()))?;
                }
                println!("deleted {} and its mailbox", user.address);
            } else {
                println!(
                    "deleted {}; mail kept in {} (use --purge to delete it)",
                    user.address,
                    root.display()
                );
            }
            retire_notes(config, &dir);
        }
        UserCmd::Passwd {
            address,
            password_stdin,
        } => {
            let address = address.trim().to_ascii_lowercase();
            if dir.user(&address)?.is_none() {
                bail!("{address} does not exist; nothing changed");
            }
            let password = read_password(password_stdin, &address)?;
            dir.set_password(&address, &password)
                .map_err(|e| anyhow::anyhow!("{e}; nothing changed"))?;
            println!("password of {address} changed");
            retire_notes(config, &dir);
        }
        UserCmd::Set {
            address,
            name,
            roles,
            no_roles,
            quota,
            upstream,
        } => {
            let change = outpost_directory::UserUpdate {
                full_name: name,
                roles: (no_roles || !roles.is_empty()).then_some(roles),
                quota: quota
                    .map(|q| outpost_admin::parse_size(&q))
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                upstream,
            };
            let done = outpost_admin::update_user(&mut dir, &address, &change)
                .map_err(anyhow::Error::msg)?;
            println!("{done}");
        }
        UserCmd::Enable { address, off } => {
            dir.set_enabled(&address, !off)?;
            println!("{address} {}", if off { "disabled" } else { "enabled" });
        }
        UserCmd::Alias(AliasCmd::Add { alias, target }) => {
            let alias_n = outpost_directory::normalize_address(&alias)?;
            check_local_domain(config, &dir, &alias_n)?;
            dir.add_alias(&alias, &target)
                .map_err(|e| anyhow::anyhow!("{e}; nothing changed"))?;
            println!("{alias_n} -> {}", target.trim().to_ascii_lowercase());
        }
        UserCmd::Alias(AliasCmd::Del { alias }) => {
            dir.remove_alias(&alias)?;
            println!("removed {alias}");
        }
        UserCmd::Alias(AliasCmd::List { json }) => {
            let aliases = dir.aliases()?;
            if json {
                let v: Vec<_> = aliases
                    .iter()
                    .map(|(a, t)| serde_json::json!({"alias": a, "target": t}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let rows: Vec<Vec<String>> = aliases.into_iter().map(|(a, t)| vec![a, t]).collect();
                table(&["ALIAS", "TARGET"], &rows);
            }
        }
    }
    Ok(())
}

fn group(config: &Config, cmd: GroupCmd) -> anyhow::Result<()> {
    let mut dir = open_directory(config)?;
    match cmd {
        GroupCmd::Add {
            address,
            name,
            members,
        } => {
            // The same steps and words as the web admin console's.
            let done = outpost_admin::add_group(config, &mut dir, &address, &name, &members)
                .map_err(anyhow::Error::msg)?;
            println!("{done}");
        }
        GroupCmd::Del { address } => {
            dir.delete_group(&address)?;
            println!("deleted group {address}");
        }
        GroupCmd::AddMember { group, members } => {
            // All or nothing: one bad or repeated member adds none.
            dir.add_members(&group, &members)?;
            println!("{group}: added {}", members.join(", "));
        }
        GroupCmd::DelMember { group, members } => {
            for m in &members {
                dir.remove_member(&group, m)?;
            }
            println!("{group}: removed {}", members.join(", "));
        }
        GroupCmd::List { json } => {
            let groups = dir.groups()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&groups)?);
            } else {
                let rows: Vec<Vec<String>> = groups
                    .into_iter()
                    .map(|g| vec![g.address, g.name, g.members.join(",")])
                    .collect();
                table(&["GROUP", "NAME", "MEMBERS"], &rows);
            }
        }
    }
    Ok(())
}

fn domain_alias(config: &Config, cmd: DomainAliasCmd) -> anyhow::Result<()> {
    let mut dir = open_directory(config)?;
    match cmd {
        DomainAliasCmd::Add {
            alias_domain,
            target_domain,
        } => {
            let done =
                outpost_admin::add_domain_alias(config, &mut dir, &alias_domain, &target_domain)
                    .map_err(anyhow::Error::msg)?;
            println!("{done}");
        }
        DomainAliasCmd::Del { alias_domain } => {
            dir.remove_domain_alias(&alias_domain)
                .map_err(|e| anyhow::anyhow!("{e}; nothing changed"))?;
            println!("removed {}", alias_domain.trim().to_ascii_lowercase());
        }
        DomainAliasCmd::List => {
            let rows: Vec<Vec<String>> = dir
                .domain_aliases()?
                .into_iter()
                .map(|(a, t)| vec![a, t])
                .collect();
            table(&["ALIAS DOMAIN", "TARGET DOMAIN"], &rows);
        }
    }
    Ok(())
}

fn queue(config: &Config, cmd: QueueCmd) -> anyhow::Result<()> {
    let q = Queue::open(&config.smtp.queue_dir)
        .with_context(|| format!("opening the queue {}", config.smtp.queue_dir.display()))?;
    match cmd {
        QueueCmd::List { json } => {
            let scan = q.scan()?;
            for (id, e) in &scan.unreadable {
                eprintln!("warning: queue entry {id}: unreadable envelope: {e}");
            }
            let entries = scan.entries;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        let pending: Vec<&str> = e
                            .rcpts
                            .iter()
                            .filter(|r| r.state == RcptState::Pending)
                            .map(|r| r.address.as_str())
                            .collect();
                        let last = e
                            .rcpts
                            .iter()
                            .find(|r| r.state == RcptState::Pending)
                            .map(|r| r.last_error.clone())
                            .unwrap_or_default();
                        vec![
                            e.id.clone(),
                            e.size.to_string(),
                            if e.from.is_empty() {
                                "<>".into()
                            } else {
                                e.from.clone()
                            },
                            pending.join(","),
                            e.attempts.to_string(),
                            last,
                        ]
                    })
                    .collect();
                table(
                    &["ID", "SIZE", "FROM", "TO", "ATTEMPTS", "LAST ERROR"],
                    &rows,
                );
                println!("{} message(s) queued", entries.len());
                let held = q.held()?;
                if !held.is_empty() {
                    // Entries outpost-smtpd could not read (#17); its log
                    // says why.
                    println!(
                        "{} message(s) held in {}: {}",
                        held.len(),
                        q.held_dir().display(),
                        held.join(", ")
                    );
                }
            }
        }
        QueueCmd::Flush => {
            q.request_flush()?;
            println!("flush requested; outpost-smtpd retries every queued message within seconds");
        }
        QueueCmd::Delete { ids, all } => {
            let ids: Vec<String> = if all {
                q.list()?.into_iter().map(|e| e.id).collect()
            } else {
                ids
            };
            if ids.is_empty() {
                bail!("name queue ids to delete, or --all");
            }
            for id in &ids {
                q.remove(id).with_context(|| format!("deleting {id}"))?;
            }
            println!("deleted {} message(s)", ids.len());
        }
    }
    Ok(())
}

/// Prints a left-aligned table with a header row.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
