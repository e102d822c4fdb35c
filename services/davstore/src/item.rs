//! What the index knows about one stored item, derived once when it is written.
//!
//! Parsing an iCalendar object and expanding its recurrences is the expensive
//! part of every CalDAV query. We do it once per write and keep the result
//! (UID, component kinds, the UTC span covering every instance) in the
//! collection index, so a `calendar-query` only parses the items whose span
//! overlaps the requested range (RFC 4791 §9.9) instead of every file.

use calcard::common::timezone::Tz;
use calcard::icalendar::{ICalendar, ICalendarComponentType};
use calcard::vcard::VCard;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Component kind bit: the item holds a VEVENT.
pub const VEVENT: u8 = 1;
/// Component kind bit: the item holds a VTODO.
pub const VTODO: u8 = 2;
/// Component kind bit: the item holds a VJOURNAL.
pub const VJOURNAL: u8 = 4;
/// Component kind bit: the item holds a VFREEBUSY.
pub const VFREEBUSY: u8 = 8;
/// Component kind bit: the item is a vCard.
pub const VCARD: u8 = 16;

/// How many instances we expand when computing an item's span. A recurrence
/// that still produces instances after this many is treated as unbounded.
const EXPAND_LIMIT: usize = 5000;

/// Floating times and all-day dates have no fixed UTC position (RFC 5545
/// §3.3.5): the index widens their span by the largest UTC offset in use
/// (UTC-12 .. UTC+14) so the prefilter never drops a true match.
const FLOATING_SLACK: i64 = 14 * 3600;

/// The indexed summary of one item (a calendar object resource or a vCard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemMeta {
    /// Collection revision at which this item was last written; also its ETag.
    pub rev: u64,
    /// Size of the stored file in bytes.
    pub size: u64,
    /// The UID shared by the item's components (RFC 4791 §4.1), if any.
    pub uid: Option<String>,
    /// Bit set of [`VEVENT`], [`VTODO`], [`VJOURNAL`], [`VFREEBUSY`], [`VCARD`].
    pub kinds: u8,
    /// Earliest UTC second any instance may touch (`i64::MIN` if unknown).
    pub start: i64,
    /// Latest UTC second any instance may touch (`i64::MAX` if unbounded).
    pub end: i64,
    /// Dead WebDAV properties of the item (Clark notation keys, XML values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub props: BTreeMap<String, String>,
}

impl ItemMeta {
    /// The strong entity tag of this version of the item, quoted (RFC 9110 §8.8.3).
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.rev)
    }

    /// Whether the item may have an instance overlapping `[start, end)` (UTC
    /// seconds). A cheap, conservative prefilter: callers still evaluate the
    /// exact filter on the candidates.
    pub fn may_overlap(&self, start: i64, end: i64) -> bool {
        self.start < end && self.end >= start
    }
}

/// The result of analysing an item before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// UID of the item, if present.
    pub uid: Option<String>,
    /// Component kind bits.
    pub kinds: u8,
    /// Span start (UTC seconds).
    pub start: i64,
    /// Span end (UTC seconds).
    pub end: i64,
}

/// Why an item was refused: it maps to the CalDAV/CardDAV preconditions
/// `valid-calendar-data`, `valid-calendar-object-resource` and `valid-address-data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidItem {
    /// Not UTF-8 or not parseable as iCalendar/vCard.
    Unparseable(String),
    /// More than one UID, or more than one kind of component (RFC 4791 §4.1).
    NotOneObject(String),
}

impl std::fmt::Display for InvalidItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidItem::Unparseable(m) => write!(f, "unparseable item: {m}"),
            InvalidItem::NotOneObject(m) => write!(f, "not a single calendar object: {m}"),
        }
    }
}

impl std::error::Error for InvalidItem {}

fn utf8(bytes: &[u8]) -> Result<&str, InvalidItem> {
    std::str::from_utf8(bytes).map_err(|_| InvalidItem::Unparseable("not UTF-8".into()))
}

/// Parses an iCalendar object with `calcard`.
pub fn parse_ical(bytes: &[u8]) -> Result<ICalendar, InvalidItem> {
    let text = utf8(bytes)?;
    let cal = ICalendar::parse(text)
        .map_err(|e| InvalidItem::Unparseable(format!("iCalendar: {e:?}")))?;
    match cal.components.first() {
        Some(c) if c.component_type == ICalendarComponentType::VCalendar => Ok(cal),
        _ => Err(InvalidItem::Unparseable("no VCALENDAR".into())),
    }
}

/// Parses a vCard (3.0 or 4.0) with `calcard`.
pub fn parse_vcard(bytes: &[u8]) -> Result<VCard, InvalidItem> {
    let text = utf8(bytes)?;
    VCard::parse(text).map_err(|e| InvalidItem::Unparseable(format!("vCard: {e:?}")))
}

/// Analyses a calendar object resource: one UID, one component kind, and the
/// UTC span of all its (expanded) instances.
pub fn analyze_calendar(bytes: &[u8]) -> Result<Analysis, InvalidItem> {
    let cal = parse_ical(bytes)?;
    let mut kinds = 0u8;
    let mut uid: Option<String> = None;
    let mut recurrent = false;
    for comp in &cal.components {
        let bit = match comp.component_type {
            ICalendarComponentType::VEvent => VEVENT,
            ICalendarComponentType::VTodo => VTODO,
            ICalendarComponentType::VJournal => VJOURNAL,
            ICalendarComponentType::VFreebusy => VFREEBUSY,
            _ => continue,
        };
        kinds |= bit;
        recurrent |= comp.is_recurrent();
        if let Some(u) = comp.uid() {
            match &uid {
                Some(existing) if existing != u => {
                    return Err(InvalidItem::NotOneObject(format!(
                        "two UIDs: {existing} and {u}"
                    )));
                }
                Some(_) => {}
                None => uid = Some(u.to_string()),
            }
        }
    }
    if kinds == 0 {
        return Err(InvalidItem::NotOneObject(
            "no VEVENT, VTODO, VJOURNAL or VFREEBUSY".into(),
        ));
    }
    if kinds.count_ones() > 1 {
        return Err(InvalidItem::NotOneObject("mixed component types".into()));
    }
    let (start, end) = span(&cal, recurrent);
    Ok(Analysis {
        uid,
        kinds,
        start,
        end,
    })
}

/// The UTC span covering every instance of `cal`, widened for floating times.
fn span(cal: &ICalendar, recurrent: bool) -> (i64, i64) {
    // A VTODO or VJOURNAL without any date matches every time range
    // (RFC 4791 §9.9 table): an empty expansion means "always a candidate".
    let expand = cal.expand_dates(Tz::UTC, EXPAND_LIMIT);
    if expand.events.is_empty() {
        return (i64::MIN, i64::MAX);
    }
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for ev in &expand.events {
        let s = ev.start.timestamp();
        let e = match &ev.end {
            calcard::icalendar::dates::TimeOrDelta::Time(t) => t.timestamp(),
            calcard::icalendar::dates::TimeOrDelta::Delta(d) => s + d.num_seconds(),
        };
        lo = lo.min(s.min(e));
        hi = hi.max(s.max(e));
    }
    if recurrent && expand.events.len() >= EXPAND_LIMIT {
        hi = i64::MAX;
    }
    // Widen unconditionally: it costs a few extra candidates at the edges of
    // a range and removes every time-zone corner case from the prefilter.
    (
        lo.saturating_sub(FLOATING_SLACK),
        if hi == i64::MAX {
            hi
        } else {
            hi.saturating_add(FLOATING_SLACK)
        },
    )
}

/// Analyses a vCard (RFC 6352 §5.1: one vCard per address object resource).
pub fn analyze_vcard(bytes: &[u8]) -> Result<Analysis, InvalidItem> {
    let card = parse_vcard(bytes)?;
    Ok(Analysis {
        uid: card.uid().map(str::to_string),
        kinds: VCARD,
        start: i64::MIN,
        end: i64::MAX,
    })
}
