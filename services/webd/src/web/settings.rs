//! The user's own settings (`/settings`): display name, signature, the
//! From address new messages start with, the password, and the
//! out-of-office reply
//! that smtpd's (and the webmail's) local delivery sends (RFC 3834; see
//! `outpost_submit::vacation`). Everything is kept in the directory, so
//! every daemon sees a change at once. A refused form comes back with
//! everything typed and the reason.

use super::{Form, Peer, Shell, Signed, Web, blocking, page, posted, signed_in};
use askama::Template;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use outpost_directory::{Directory, Settings, Vacation};
use std::collections::HashMap;
use std::sync::Arc;

const DAY: u64 = 86_400;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    shell: Shell,
    error: String,
    full_name: String,
    signature: String,
    identity: String,
    identities: Vec<String>,
    vacation_on: bool,
    vacation_subject: String,
    vacation_body: String,
    vacation_first: String,
    vacation_last: String,
    vacation_days: u64,
}

/// `YYYY-MM-DD` of unix second `t` (UTC), empty for 0.
fn day_of(t: u64) -> String {
    if t == 0 {
        return String::new();
    }
    chrono::DateTime::from_timestamp(i64::try_from(t).unwrap_or(0), 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Unix second of the start of day `s` (`YYYY-MM-DD`, UTC); 0 for empty.
fn parse_day(s: &str, what: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| u64::try_from(d.and_utc().timestamp()).ok())
        .ok_or_else(|| format!("The {what} must be a date like 2026-12-24."))
}

fn open(web: &Web) -> Result<Directory, String> {
    Directory::open(&web.config.directory.path).map_err(|e| format!("opening the directory: {e}"))
}

fn identities(dir: &Directory, user: &str) -> Vec<String> {
    let mut out = vec![user.to_string()];
    if let Ok(Some(u)) = dir.user(user) {
        out.extend(u.aliases);
    }
    out
}

fn filled(web: &Web, signed: &Signed) -> Result<SettingsPage, String> {
    let user = &signed.session.user;
    let dir = open(web)?;
    let s = dir.settings(user).map_err(|e| e.to_string())?;
    let v = dir
        .vacation(user)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let full_name = dir
        .user(user)
        .map_err(|e| e.to_string())?
        .map(|u| u.full_name)
        .unwrap_or_default();
    Ok(SettingsPage {
        shell: Shell::for_user(signed, "Settings"),
        error: String::new(),
        full_name,
        identity: if s.identity.is_empty() {
            user.clone()
        } else {
            s.identity
        },
        signature: s.signature,
        identities: identities(&dir, user),
        vacation_on: v.enabled,
        vacation_subject: v.subject,
        vacation_body: v.body,
        vacation_first: day_of(v.starts),
        vacation_last: day_of(v.ends.saturating_sub(DAY)),
        vacation_days: (v.interval / DAY).max(1),
    })
}

/// `GET /settings`.
pub async fn show(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/settings").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || match filled(&w, &signed) {
        Ok(mut p) => {
            p.shell.notice = match q.get("notice").map(String::as_str) {
                Some("profile") => "Settings saved.".into(),
                Some("vacation") => "Automatic reply saved.".into(),
                Some("password") => {
                    "Password changed. Your other sessions and devices must sign in again.".into()
                }
                _ => String::new(),
            };
            page(StatusCode::OK, &p)
        }
        Err(e) => {
            tracing::error!(error = %e, "settings page");
            super::mail::internal()
        }
    })
    .await
    .unwrap_or_else(super::mail::internal)
}

/// `POST /settings`: `op` = profile | vacation.
pub async fn save(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    body: Body,
) -> Response {
    let signed = match signed_in(&web, peer, &headers, &method, "/settings").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = match posted(&web, &signed, &headers, body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let w = web.clone();
    blocking(move || save_form(&w, &signed, peer, &form))
        .await
        .unwrap_or_else(super::mail::internal)
}

/// Changes the user's own password: the current one is checked as a
/// sign-in is (the same lockout, so a borrowed session cannot guess it),
/// the new one against the policy. This session stays; every other one
/// ends at its next request, and a first-boot note of the old password
/// is removed.
fn change_password(web: &Web, signed: &Signed, peer: Peer, form: &Form) -> Result<(), String> {
    let user = &signed.session.user;
    let current = form.get("current").unwrap_or("");
    let new = form.get("new").unwrap_or("");
    if new != form.get("again").unwrap_or("") {
        return Err("The new passwords differ.".into());
    }
    if current.len() > 1024 || new.len() > 1024 {
        return Err("That password is too long.".into());
    }
    let client = peer.addr.ip().to_string();
    match web.dav.auth.sign_in(user, current, Some(&client)) {
        Ok(_) => {}
        Err(crate::auth::Refusal::Busy) => {
            return Err("The server is busy. Try again in a few seconds.".into());
        }
        Err(_) => return Err("The current password is wrong.".into()),
    }
    let mut dir = open(web)?;
    dir.set_password(user, new).map_err(|e| match e {
        outpost_directory::Error::WeakPassword(why) => format!("New password refused: {why}."),
        other => other.to_string(),
    })?;
    let generation = dir
        .generation(user)
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    web.sessions
        .set_generation(&signed.token, generation)
        .map_err(|e| e.to_string())?;
    let notes =
        outpost_directory::initial::Notes::from_env_or_system(&web.config.general.state_dir);
    if let Err(e) = outpost_directory::initial::retire(&dir, &notes) {
        // The first-boot unit retires it at the next boot.
        tracing::warn!(error = %e, "removing first-boot password notes");
    }
    Ok(())
}

fn save_form(web: &Web, signed: &Signed, peer: Peer, form: &Form) -> Response {
    let user = &signed.session.user;
    let field = |k: &str| form.get(k).unwrap_or("").to_string();
    let op = form.get("op").unwrap_or("");
    let result = (|| -> Result<(), String> {
        if op == "password" {
            return change_password(web, signed, peer, form);
        }
        let mut dir = open(web)?;
        match op {
            "profile" => dir
                .set_settings(
                    user,
                    &field("full_name"),
                    &Settings {
                        signature: field("signature").replace("\r\n", "\n"),
                        identity: if field("identity") == *user {
                            String::new()
                        } else {
                            field("identity")
                        },
                    },
                )
                .map_err(|e| e.to_string()),
            "vacation" => {
                let starts = parse_day(&field("first"), "first day")?;
                let last = parse_day(&field("last"), "last day")?;
                let days: u64 = field("days")
                    .trim()
                    .parse()
                    .ok()
                    .filter(|d| (1..=365).contains(d))
                    .ok_or("Days between replies must be a number from 1 to 365.")?;
                dir.set_vacation(
                    user,
                    &Vacation {
                        enabled: form.get("enabled") == Some("1"),
                        subject: field("subject"),
                        body: field("body").replace("\r\n", "\n"),
                        starts,
                        ends: if last == 0 { 0 } else { last + DAY },
                        interval: days * DAY,
                    },
                )
                .map_err(|e| e.to_string())
            }
            _ => Err("Unknown action.".into()),
        }
    })();
    match result {
        Ok(()) => {
            tracing::info!(user = %user, op, "settings saved");
            Redirect::to(&format!("/settings?notice={op}")).into_response()
        }
        Err(e) => {
            // The page again, with what was typed and why it was refused.
            let Ok(mut p) = filled(web, signed) else {
                return super::mail::internal();
            };
            p.error = e;
            if op == "profile" {
                p.full_name = field("full_name");
                p.signature = field("signature");
                p.identity = field("identity");
            } else {
                p.vacation_on = form.get("enabled") == Some("1");
                p.vacation_subject = field("subject");
                p.vacation_body = field("body");
                p.vacation_first = field("first");
                p.vacation_last = field("last");
                p.vacation_days = field("days").trim().parse().unwrap_or(p.vacation_days);
            }
            page(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_and_print_back() {
        assert_eq!(parse_day("", "x"), Ok(0));
        let t = parse_day("2026-12-24", "x").unwrap();
        assert_eq!(t % DAY, 0);
        assert_eq!(day_of(t), "2026-12-24");
        for bad in ["24.12.2026", "2026-13-01", "2026-12-24T00:00", "x"] {
            assert!(parse_day(bad, "first day").is_err(), "{bad}");
        }
    }
}
