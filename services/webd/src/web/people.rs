//! Address completion for the compose form (`GET /mail/addresses?q=…`):
//! people and lists from the directory (enabled users, groups) and the
//! signed-in user's own address books (their vCards' `FN` and `EMAIL`,
//! read from `outpost-davstore`). The address books are read once per
//! revision and kept (bounded), so typing costs a scan of a list in
//! memory, not a parse of every card. Only the user's own collections
//! are read: no one completes from another user's contacts.

use super::{Peer, Signed, Web, blocking, signed_in};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calcard::vcard::{VCard, VCardProperty};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Suggestions a query answers with.
pub const MAX_SUGGESTIONS: usize = 15;
/// Longest query looked at (bytes); longer ones match nothing.
const MAX_QUERY: usize = 100;
/// Cards of one address book kept for completion.
const MAX_CARDS: usize = 20_000;
/// Address books kept in memory before the cache starts over.
const MAX_BOOKS: usize = 1024;

/// One person or list: (display name, address).
pub type Person = (String, String);

type Books = HashMap<(String, String), (u64, Arc<Vec<Person>>)>;

fn books() -> &'static Mutex<Books> {
    static B: OnceLock<Mutex<Books>> = OnceLock::new();
    B.get_or_init(Default::default)
}

/// `FN` and every `EMAIL` of a vCard.
fn people_of(card: &VCard) -> Vec<Person> {
    let name = card
        .property(&VCardProperty::Fn)
        .and_then(|e| e.values.first())
        .and_then(|v| v.as_text())
        .unwrap_or("")
        .trim()
        .to_string();
    card.properties(&VCardProperty::Email)
        .filter_map(|e| e.values.first().and_then(|v| v.as_text()))
        .map(|a| a.trim().trim_start_matches("mailto:").to_string())
        .filter(|a| a.contains('@') && !a.chars().any(|c| c.is_control() || c.is_whitespace()))
        .map(|a| (name.clone(), a))
        .collect()
}

/// The people of the user's address book `name`, read again only when
/// its revision moved.
fn book(web: &Web, user: &str, name: &str) -> Option<Arc<Vec<Person>>> {
    let store = &web.dav.store;
    let c = store.collection(user, name).ok()?;
    if !c.is_addressbook() {
        return None;
    }
    let rev = c.rev();
    let key = (user.to_string(), name.to_string());
    if let Some((r, p)) = books().lock().unwrap_or_else(|e| e.into_inner()).get(&key)
        && *r == rev
    {
        return Some(p.clone());
    }
    let names: Vec<String> = c.with_items(|items| items.keys().take(MAX_CARDS).cloned().collect());
    let mut people = Vec::new();
    for item in names {
        if let Ok((bytes, _)) = c.get(&item)
            && let Ok(card) = outpost_davstore::item::parse_vcard(&bytes)
        {
            people.extend(people_of(&card));
        }
    }
    let people = Arc::new(people);
    let mut b = books().lock().unwrap_or_else(|e| e.into_inner());
    if b.len() >= MAX_BOOKS {
        b.clear();
    }
    b.insert(key, (rev, people.clone()));
    Some(people)
}

/// Up to [`MAX_SUGGESTIONS`] people matching `q` (case-insensitive, in
/// the name or the address; those starting with it first), contacts
/// before the directory, each address once.
pub fn suggest(web: &Web, user: &str, q: &str) -> Vec<Person> {
    let q = q.trim().to_lowercase();
    if q.is_empty() || q.len() > MAX_QUERY {
        return Vec::new();
    }
    let mut all: Vec<Person> = Vec::new();
    for name in web.dav.store.list(user).unwrap_or_default() {
        if let Some(p) = book(web, user, &name) {
            all.extend(p.iter().cloned());
        }
    }
    if let Ok(dir) = outpost_directory::Directory::open(&web.config.directory.path) {
        all.extend(
            dir.users()
                .unwrap_or_default()
                .into_iter()
                .filter(|u| u.enabled)
                .map(|u| (u.full_name, u.address)),
        );
        all.extend(
            dir.groups()
                .unwrap_or_default()
                .into_iter()
                .map(|g| (g.name, g.address)),
        );
    }
    let rank = |(n, a): &Person| -> Option<u8> {
        let (n, a) = (n.to_lowercase(), a.to_lowercase());
        if a.starts_with(&q) || n.starts_with(&q) || n.split_whitespace().any(|w| w.starts_with(&q))
        {
            Some(0)
        } else if a.contains(&q) || n.contains(&q) {
            Some(1)
        } else {
            None
        }
    };
    let mut hits: Vec<(u8, usize, Person)> = all
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| rank(&p).map(|r| (r, i, p)))
        .collect();
    hits.sort_by_key(|(r, i, _)| (*r, *i));
    let mut seen = std::collections::HashSet::new();
    hits.into_iter()
        .map(|(_, _, p)| p)
        .filter(|(_, a)| seen.insert(a.to_lowercase()))
        .take(MAX_SUGGESTIONS)
        .collect()
}

/// `GET /mail/addresses?q=WORDS`: `[{"name": …, "address": …}]`.
pub async fn addresses(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let signed: Signed = match signed_in(&web, peer, &headers, &method, "/mail/").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = q.get("q").cloned().unwrap_or_default();
    let w = web.clone();
    let found = blocking(move || suggest(&w, &signed.session.user, &query))
        .await
        .unwrap_or_default();
    let list: Vec<serde_json::Value> = found
        .into_iter()
        .map(|(name, address)| serde_json::json!({ "name": name, "address": address }))
        .collect();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        serde_json::Value::Array(list).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_give_names_and_clean_addresses() {
        let card = VCard::parse(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:1\r\nFN:Dana Field\r\nEMAIL;TYPE=work:dana@example.org\r\n\
             EMAIL:mailto:d.field@example.net\r\nEMAIL:not an address\r\nEMAIL:x@y\u{7}z\r\nEND:VCARD\r\n",
        )
        .unwrap();
        assert_eq!(
            people_of(&card),
            [
                ("Dana Field".to_string(), "dana@example.org".to_string()),
                ("Dana Field".to_string(), "d.field@example.net".to_string()),
            ]
        );
    }
}
