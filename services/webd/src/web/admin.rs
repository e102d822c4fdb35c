//! The admin console (role `admin` only; anyone else gets 403): users
//! (create with an initial password, disable/enable, reset password,
//! delete; edit name, roles, quota and upstream identity on
//! `/admin/user`), aliases, groups and their members, domain aliases, the
//! outbound queue (list, retry all, delete), the certificates and whether
//! each daemon's listeners answer. Each action is the call `outpostctl` makes (the
//! directory's methods and `outpost-admin`), with its validation and its
//! words; the result is shown as the page's status line.

use super::{Form, Peer, Shell, Signed, Web, blocking, error, page, posted, signed_in};
use askama::Template;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use outpost_directory::{Directory, Lockout, NewUser, Password};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use std::collections::HashMap;
use std::sync::Arc;

/// A row of the users table.
#[derive(Debug)]
pub struct UserRow {
    address: String,
    name: String,
    roles: String,
    aliases: String,
    used: String,
    quota: String,
    upstream: String,
    enabled: bool,
}

/// A row of the queue table.
#[derive(Debug)]
pub struct QueueRow {
    id: String,
    from: String,
    to: String,
    attempts: u32,
    error: String,
}

/// A row of the services table.
#[derive(Debug)]
pub struct ServiceRow {
    daemon: &'static str,
    service: &'static str,
    listen: String,
    up: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    shell: Shell,
    users: Vec<UserRow>,
    aliases: Vec<(String, String)>,
    groups: Vec<outpost_directory::Group>,
    domain_aliases: Vec<(String, String)>,
    queue: Vec<QueueRow>,
    tls: String,
    services: Vec<ServiceRow>,
    dns: String,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    shell: Shell,
    address: String,
    name: String,
    roles: String,
    quota: String,
    upstream: String,
    aliases: String,
    used: String,
}

fn is_admin(s: &Signed) -> bool {
    s.account.roles.iter().any(|r| r == "admin")
}

async fn admin_only(
    web: &Arc<Web>,
    peer: Peer,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Signed, Response> {
    let signed = signed_in(web, peer, headers, method, "/admin/").await?;
    if !is_admin(&signed) {
        tracing::warn!(user = %signed.session.user, "admin console refused: not an admin");
        return Err(error(
            StatusCode::FORBIDDEN,
            Shell::for_user(&signed, "Mail"),
            "Not allowed",
            "The admin console is for administrators.",
        ));
    }
    Ok(signed)
}

fn open(web: &Web) -> Result<Directory, String> {
    Directory::open_with(
        &web.config.directory.path,
        Lockout::from(&web.config.directory),
    )
    .map_err(|e| format!("opening the directory: {e}"))
}

/// Bytes of mail `u` keeps (every folder's message files).
fn used_bytes(web: &Web, u: &outpost_directory::User) -> u64 {
    outpost_store::user_root(&web.config.general.mail_root, u.domain(), u.local_part())
        .map(|r| outpost_submit::maildir_usage(&r))
        .unwrap_or(0)
}

fn size(n: u64) -> String {
    match n {
        0 => "0".into(),
        n if n < 1024 * 1024 => format!("{} KB", n.div_ceil(1024)),
        n => format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// `GET /admin/`.
pub async fn console(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let signed = match admin_only(&web, peer, &headers, &method).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || {
        let mut shell = Shell::for_user(&signed, "Admin");
        shell.notice = q
            .get("notice")
            .map(|n| n.chars().take(300).collect())
            .unwrap_or_default();
        let dir = match open(&w) {
            Ok(d) => d,
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    shell,
                    "Directory unavailable",
                    &e,
                );
            }
        };
        let users = dir
            .users()
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                let used = used_bytes(&w, &u);
                UserRow {
                    name: u.full_name.clone(),
                    roles: u.roles.join(", "),
                    aliases: u.aliases.join(", "),
                    used: size(used),
                    quota: if u.quota == 0 {
                        "none".into()
                    } else {
                        outpost_admin::show_size(u.quota)
                    },
                    upstream: u.upstream.clone(),
                    enabled: u.enabled,
                    address: u.address,
                }
            })
            .collect();
        let aliases = dir.aliases().unwrap_or_default();
        let groups = dir.groups().unwrap_or_default();
        // The key folder as read here (outpost-admin links no crypto).
        let keys = outpost_hygiene::dkim::published(&outpost_hygiene::dkim::KeyDir::of(&w.config))
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
            .map_err(|e| e.to_string());
        let mut dns = outpost_admin::zone_text(&outpost_admin::dns_records(&w.config, &dir, &keys));
        if let Some(n) = outpost_admin::dkim_note(&w.config, &keys) {
            dns.push_str(&format!("; {n}\n"));
        }
        let domain_aliases = dir.domain_aliases().unwrap_or_default();
        let services = outpost_admin::service_states(&w.config, std::time::Duration::from_secs(1))
            .into_iter()
            .map(|s| ServiceRow {
                daemon: s.daemon,
                service: s.service,
                listen: s.listen.to_string(),
                up: s.state.is_ok(),
                detail: match s.state {
                    Ok(t) | Err(t) => t,
                },
            })
            .collect();
        let queue = outpost_queue::Queue::open(&w.config.smtp.queue_dir)
            .and_then(|q| q.list())
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let pending: Vec<&outpost_queue::QueuedRcpt> = e.pending().collect();
                QueueRow {
                    to: pending
                        .iter()
                        .map(|r| r.address.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    error: pending
                        .first()
                        .map(|r| r.last_error.clone())
                        .unwrap_or_default(),
                    from: if e.from.is_empty() {
                        "<>".into()
                    } else {
                        e.from.clone()
                    },
                    attempts: e.attempts,
                    id: e.id,
                }
            })
            .collect();
        let tls = match outpost_tls::inspect(&w.config) {
            Ok(c) => format!(
                "Serving {} for {} (serial {}), valid until {} ({} days left).",
                match c.source {
                    outpost_tls::Source::LocalCa => "the local CA's certificate",
                    outpost_tls::Source::Admin => "the administrator's certificate",
                },
                c.names.join(", "),
                c.serial,
                c.not_after.date(),
                c.days_left(time::OffsetDateTime::now_utc())
            ),
            Err(e) => format!("No certificate to show: {e}"),
        };
        page(
            StatusCode::OK,
            &AdminPage {
                shell,
                users,
                aliases,
                groups,
                domain_aliases,
                queue,
                tls,
                services,
                dns,
            },
        )
    })
    .await
    .unwrap_or_else(super::mail::internal)
}

/// `GET /admin/user?address=…`: one user's name, roles, quota and
/// upstream identity, to edit.
pub async fn user_page(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let signed = match admin_only(&web, peer, &headers, &method).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || {
        let shell = Shell::for_user(&signed, "Admin");
        let address = q.get("address").cloned().unwrap_or_default();
        let user = open(&w).and_then(|d| d.user(&address).map_err(|e| e.to_string()));
        match user {
            Ok(Some(u)) => {
                let used = used_bytes(&w, &u);
                page(
                    StatusCode::OK,
                    &UserPage {
                        shell,
                        name: u.full_name.clone(),
                        roles: u.roles.join(", "),
                        quota: if u.quota == 0 {
                            String::new()
                        } else {
                            outpost_admin::show_size(u.quota).replace(' ', "")
                        },
                        upstream: u.upstream.clone(),
                        aliases: u.aliases.join(", "),
                        used: size(used),
                        address: u.address,
                    },
                )
            }
            Ok(None) => error(
                StatusCode::NOT_FOUND,
                shell,
                "No such user",
                &format!("{address} does not exist."),
            ),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                shell,
                "Directory unavailable",
                &e,
            ),
        }
    })
    .await
    .unwrap_or_else(super::mail::internal)
}

/// `POST /admin/act`: `op` = add | passwd | enable | disable | delete |
/// user_set | alias_add | alias_del | group_add | group_del |
/// member_add | member_del | domain_alias_add | domain_alias_del |
/// queue_flush | queue_delete.
pub async fn act(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    body: Body,
) -> Response {
    let signed = match admin_only(&web, peer, &headers, &method).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = match posted(&web, &signed, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let w = web.clone();
    let admin = signed.session.user.clone();
    blocking(move || {
        let said = match run(&w, &form) {
            Ok(m) | Err(m) => m,
        };
        tracing::info!(admin = %admin, op = form.get("op").unwrap_or(""), result = %said, "admin console action");
        Redirect::to(&format!("/admin/?notice={}", utf8_percent_encode(&said, NON_ALPHANUMERIC))).into_response()
    })
    .await
    .unwrap_or_else(super::mail::internal)
}

/// Drops first-boot password notes that no longer work, as `outpostctl
/// user passwd` does; a failure is logged (the first-boot unit retries at
/// every boot).
fn retire_notes(web: &Web, dir: &Directory) {
    let notes =
        outpost_directory::initial::Notes::from_env_or_system(&web.config.general.state_dir);
    if let Err(e) = outpost_directory::initial::retire(dir, &notes) {
        tracing::warn!(error = %e, "removing first-boot password notes");
    }
}

fn run(web: &Web, form: &Form) -> Result<String, String> {
    let field = |k: &str| form.get(k).unwrap_or("").trim().to_string();
    let nothing = |e: outpost_directory::Error| format!("{e}; nothing changed");
    let mut dir = open(web)?;
    let address = field("address").to_ascii_lowercase();
    match form.get("op").unwrap_or("") {
        "add" => {
            let new = NewUser {
                address: address.clone(),
                full_name: field("name"),
                password: Password::Plain(form.get("password").unwrap_or("").to_string()),
                roles: if form.get("admin") == Some("1") {
                    vec!["admin".into()]
                } else {
                    Vec::new()
                },
                aliases: Vec::new(),
                quota: 0,
                upstream: String::new(),
            };
            outpost_admin::add_user(&web.config, &mut dir, new)
        }
        "passwd" => {
            if dir.user(&address).map_err(nothing)?.is_none() {
                return Err(format!("{address} does not exist; nothing changed"));
            }
            dir.set_password(&address, form.get("password").unwrap_or(""))
                .map_err(nothing)?;
            retire_notes(web, &dir);
            Ok(format!("password of {address} changed"))
        }
        "enable" => {
            dir.set_enabled(&address, true).map_err(nothing)?;
            Ok(format!("{address} enabled"))
        }
        "disable" => {
            dir.set_enabled(&address, false).map_err(nothing)?;
            Ok(format!("{address} disabled"))
        }
        "delete" => {
            let user = dir.delete_user(&address).map_err(nothing)?;
            retire_notes(web, &dir);
            let root = outpost_store::user_root(
                &web.config.general.mail_root,
                user.domain(),
                user.local_part(),
            )
            .map(|r| r.display().to_string())
            .unwrap_or_default();
            Ok(format!("deleted {}; mail kept in {root}", user.address))
        }
        "user_set" => {
            let change = outpost_directory::UserUpdate {
                full_name: Some(field("name")),
                roles: Some(
                    field("roles")
                        .split([',', ' '])
                        .map(str::to_string)
                        .collect(),
                ),
                quota: Some(outpost_admin::parse_size(&field("quota"))?),
                upstream: Some(field("upstream")),
            };
            outpost_admin::update_user(&mut dir, &address, &change)
        }
        "group_add" => {
            let members: Vec<String> = field("members")
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            outpost_admin::add_group(&web.config, &mut dir, &address, &field("name"), &members)
        }
        "group_del" => {
            dir.delete_group(&address).map_err(nothing)?;
            Ok(format!("deleted group {address}"))
        }
        "member_add" => {
            let member = outpost_directory::normalize_address(&field("member")).map_err(nothing)?;
            dir.add_member(&address, &member).map_err(nothing)?;
            Ok(format!("{address}: added {member}"))
        }
        "member_del" => {
            let member = field("member").to_ascii_lowercase();
            dir.remove_member(&address, &member).map_err(nothing)?;
            Ok(format!("{address}: removed {member}"))
        }
        "domain_alias_add" => outpost_admin::add_domain_alias(
            &web.config,
            &mut dir,
            &field("alias_domain"),
            &field("target_domain"),
        ),
        "domain_alias_del" => {
            let a = field("alias_domain").to_ascii_lowercase();
            dir.remove_domain_alias(&a).map_err(nothing)?;
            Ok(format!("removed {a}"))
        }
        "alias_add" => {
            let alias = outpost_directory::normalize_address(&field("alias")).map_err(nothing)?;
            outpost_admin::check_local_domain(&web.config, &dir, &alias)?;
            let target = field("target");
            dir.add_alias(&alias, &target).map_err(nothing)?;
            Ok(format!("{alias} -> {}", target.to_ascii_lowercase()))
        }
        "alias_del" => {
            let alias = field("alias");
            dir.remove_alias(&alias).map_err(nothing)?;
            Ok(format!("removed {alias}"))
        }
        "queue_flush" => {
            let q = outpost_queue::Queue::open(&web.config.smtp.queue_dir)
                .map_err(|e| e.to_string())?;
            q.request_flush().map_err(|e| e.to_string())?;
            Ok("flush requested; outpost-smtpd retries every queued message within seconds".into())
        }
        "queue_delete" => {
            let id = field("id");
            let q = outpost_queue::Queue::open(&web.config.smtp.queue_dir)
                .map_err(|e| e.to_string())?;
            if !q.contains(&id) {
                return Err(format!("no queued message {id}; nothing changed"));
            }
            q.remove(&id).map_err(|e| format!("deleting {id}: {e}"))?;
            Ok(format!("deleted 1 message(s) ({id})"))
        }
        other => Err(format!("unknown action {other:?}; nothing changed")),
    }
}
