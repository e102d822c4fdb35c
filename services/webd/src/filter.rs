//! CalDAV and CardDAV query filters (RFC 4791 §9.7, RFC 6352 §10.5), parsed
//! from the REPORT body and evaluated against stored items.
//!
//! Time ranges are evaluated in two steps: the collection index drops items
//! whose precomputed span misses the range, then the survivors are parsed
//! and their instances expanded with `calcard` (RRULE, RDATE, EXDATE,
//! overridden instances, VTIMEZONE/IANA zones) and tested exactly with the
//! overlap rules of RFC 4791 §9.9. Property text matches use a line scan of
//! the unfolded item (hand-written: it only needs names and values, and is
//! far cheaper than building the full model).

use crate::xml::{CALDAV, CARDDAV, Element};
use calcard::common::timezone::Tz;
use calcard::icalendar::dates::TimeOrDelta;
use chrono::{NaiveDateTime, TimeZone, Utc};
use outpost_davstore::item::{self, ItemMeta};

/// Instances computed per calendar object, counted from its start, for a
/// time-range test, free-busy or `<C:expand>`: bounds the work one object
/// can cause (a few milliseconds, about 1 MiB while it is tested). What a
/// response may *write* is bounded separately, per object and per
/// response, by the `[web]` `max_expand_*` keys (#7).
pub const SCAN_LIMIT: usize = 20_000;

/// The instances of a calendar object, computed up to [`SCAN_LIMIT`], and
/// whether that cut them off before `r` ended (a rule that goes on).
fn instances(cal: &calcard::icalendar::ICalendar, r: Range) -> (Vec<Instance>, bool) {
    let mut events = cal.expand_dates(Tz::UTC, SCAN_LIMIT).events;
    // EXDATEs use up the scan too, so this can miss a cut; it then only
    // stays silent, it never writes more.
    let cut = events.len() >= SCAN_LIMIT
        && events
            .iter()
            .map(|ev| ev.start.timestamp())
            .max()
            .is_some_and(|last| last < r.end);
    events.sort_by_key(|ev| ev.start.timestamp());
    (events, cut)
}

fn hit((s, e): (i64, i64), r: Range) -> bool {
    if s == e {
        s >= r.start && s < r.end
    } else {
        s < r.end && e > r.start
    }
}

/// A time range in UTC seconds, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Start (inclusive), `i64::MIN` if open.
    pub start: i64,
    /// End (exclusive), `i64::MAX` if open.
    pub end: i64,
}

/// Parses an iCalendar UTC date-time (`20260301T000000Z`) to UTC seconds.
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim();
    let t = s.strip_suffix('Z').unwrap_or(s);
    NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%S")
        .ok()
        .map(|n| n.and_utc().timestamp())
}

/// Formats UTC seconds as an iCalendar UTC date-time.
pub fn format_utc(t: i64) -> String {
    Utc.timestamp_opt(t, 0)
        .single()
        .map(|d| d.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| "19700101T000000Z".into())
}

fn time_range(el: &Element) -> Option<Range> {
    let tr = el.child(CALDAV, "time-range")?;
    Some(Range {
        start: tr.attr("start").and_then(parse_utc).unwrap_or(i64::MIN),
        end: tr.attr("end").and_then(parse_utc).unwrap_or(i64::MAX),
    })
}

/// How a text-match compares (RFC 6352 §10.5.4 adds the match types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    /// Text to look for, lower-cased (i;ascii-casemap / i;unicode-casemap).
    pub text: String,
    /// `negate-condition="yes"`.
    pub negate: bool,
    /// `contains` (default), `equals`, `starts-with`, `ends-with`.
    pub kind: String,
}

impl TextMatch {
    fn parse(el: &Element) -> TextMatch {
        TextMatch {
            text: el.text().to_lowercase(),
            negate: el.attr("negate-condition") == Some("yes"),
            kind: el.attr("match-type").unwrap_or("contains").to_string(),
        }
    }

    fn matches(&self, value: &str) -> bool {
        let v = value.to_lowercase();
        let hit = match self.kind.as_str() {
            "equals" => v == self.text,
            "starts-with" => v.starts_with(&self.text),
            "ends-with" => v.ends_with(&self.text),
            _ => v.contains(&self.text),
        };
        hit != self.negate
    }
}

/// A `prop-filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropFilter {
    /// Property name, upper-case.
    pub name: String,
    /// `is-not-defined`.
    pub not_defined: bool,
    /// Text matches (all must hold in CalDAV; `test` decides in CardDAV).
    pub text: Vec<TextMatch>,
    /// CardDAV `test="allof"`.
    pub all_of: bool,
}

impl PropFilter {
    fn parse(el: &Element, ns: &str) -> PropFilter {
        PropFilter {
            name: el.attr("name").unwrap_or("").to_ascii_uppercase(),
            not_defined: el.child(ns, "is-not-defined").is_some(),
            text: el
                .elems()
                .filter(|e| e.is(ns, "text-match"))
                .map(TextMatch::parse)
                .collect(),
            all_of: el.attr("test") == Some("allof"),
        }
    }

    /// Evaluates against the `(NAME, value)` lines of one component.
    fn matches(&self, lines: &[(String, String)]) -> bool {
        let values: Vec<&str> = lines
            .iter()
            .filter(|(n, _)| *n == self.name)
            .map(|(_, v)| v.as_str())
            .collect();
        if self.not_defined {
            return values.is_empty();
        }
        if values.is_empty() {
            return false;
        }
        if self.text.is_empty() {
            return true;
        }
        let one = |t: &TextMatch| values.iter().any(|v| t.matches(v));
        if self.all_of {
            self.text.iter().all(one)
        } else {
            self.text.iter().any(one)
        }
    }
}

/// A CalDAV `comp-filter` (nested).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompFilter {
    /// Component name, upper-case.
    pub name: String,
    /// `is-not-defined`.
    pub not_defined: bool,
    /// `time-range`.
    pub range: Option<Range>,
    /// Property filters.
    pub props: Vec<PropFilter>,
    /// Nested component filters.
    pub comps: Vec<CompFilter>,
}

impl CompFilter {
    /// Parses `<C:comp-filter>`.
    pub fn parse(el: &Element) -> CompFilter {
        CompFilter {
            name: el.attr("name").unwrap_or("").to_ascii_uppercase(),
            not_defined: el.child(CALDAV, "is-not-defined").is_some(),
            range: time_range(el),
            props: el
                .elems()
                .filter(|e| e.is(CALDAV, "prop-filter"))
                .map(|e| PropFilter::parse(e, CALDAV))
                .collect(),
            comps: el
                .elems()
                .filter(|e| e.is(CALDAV, "comp-filter"))
                .map(CompFilter::parse)
                .collect(),
        }
    }

    /// The overall time range asked for (for the index prefilter), if any.
    pub fn range(&self) -> Option<Range> {
        self.comps.iter().find_map(|c| c.range)
    }

    /// The component kind bits this filter requires (0: any).
    pub fn kinds(&self) -> u8 {
        self.comps
            .iter()
            .filter(|c| !c.not_defined)
            .map(|c| outpost_davstore::kinds_of(&c.name))
            .fold(0, |a, b| a | b)
    }

    /// Cheap test on the index entry alone; `true` means "parse and check".
    pub fn prefilter(&self, meta: &ItemMeta) -> bool {
        let kinds = self.kinds();
        if kinds != 0 && meta.kinds & kinds == 0 {
            return false;
        }
        for c in &self.comps {
            if c.not_defined && meta.kinds & outpost_davstore::kinds_of(&c.name) != 0 {
                return false;
            }
            if let Some(r) = c.range
                && !meta.may_overlap(r.start, r.end)
            {
                return false;
            }
        }
        true
    }

    /// Exact evaluation on the item's bytes (the top filter is VCALENDAR).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        if self.name != "VCALENDAR" {
            return false;
        }
        let text = String::from_utf8_lossy(bytes);
        let comps = components(&text);
        for c in &self.comps {
            let present: Vec<&Component> = comps.iter().filter(|x| x.name == c.name).collect();
            if c.not_defined {
                if !present.is_empty() {
                    return false;
                }
                continue;
            }
            if present.is_empty() {
                return false;
            }
            if let Some(r) = c.range
                && !overlaps(bytes, r)
            {
                return false;
            }
            // Property filters hold if some component of that name matches
            // all of them (RFC 4791 §9.7.1).
            if !c.props.is_empty()
                && !present
                    .iter()
                    .any(|x| c.props.iter().all(|p| p.matches(&x.lines)))
            {
                return false;
            }
            for sub in &c.comps {
                let subs: Vec<&Component> = comps.iter().filter(|x| x.name == sub.name).collect();
                if sub.not_defined != subs.is_empty() {
                    return false;
                }
                if !sub.props.is_empty()
                    && !subs
                        .iter()
                        .any(|x| sub.props.iter().all(|p| p.matches(&x.lines)))
                {
                    return false;
                }
            }
        }
        true
    }
}

/// Whether any instance of the calendar object overlaps `r` (RFC 4791 §9.9).
/// A rule whose instances go on past [`SCAN_LIMIT`] before `r` ends counts
/// as overlapping: the object is returned rather than silently lost.
pub fn overlaps(bytes: &[u8], r: Range) -> bool {
    let Ok(cal) = item::parse_ical(bytes) else {
        return false;
    };
    let (events, cut) = instances(&cal, r);
    if events.is_empty() {
        // VTODO/VJOURNAL without dates match any range.
        return true;
    }
    cut || events.iter().any(|ev| hit(instance_span(ev), r))
}

/// All instances `(start, end)` of opaque VEVENTs overlapping `r`, for
/// free-busy (RFC 4791 §7.10: TRANSP:TRANSPARENT and CANCELLED are free);
/// `None` if there are more than `max` of them in `r`, or more than the
/// scan computes.
pub fn busy(bytes: &[u8], r: Range, max: usize) -> Option<Vec<(i64, i64)>> {
    let text = String::from_utf8_lossy(bytes);
    let comps = components(&text);
    let Some(ev) = comps.iter().find(|c| c.name == "VEVENT") else {
        return Some(Vec::new());
    };
    let get = |n: &str| {
        ev.lines
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.to_ascii_uppercase())
    };
    if get("TRANSP").as_deref() == Some("TRANSPARENT")
        || get("STATUS").as_deref() == Some("CANCELLED")
    {
        return Some(Vec::new());
    }
    let Ok(cal) = item::parse_ical(bytes) else {
        return Some(Vec::new());
    };
    let (events, cut) = instances(&cal, r);
    if cut {
        return None;
    }
    let periods: Vec<(i64, i64)> = events
        .iter()
        .map(instance_span)
        .filter(|(s, e)| s < &r.end && e > &r.start && e > s)
        .map(|(s, e)| (s.max(r.start), e.min(r.end)))
        .take(max.saturating_add(1))
        .collect();
    (periods.len() <= max).then_some(periods)
}

type Instance = calcard::icalendar::dates::CalendarEvent<
    chrono::DateTime<Tz>,
    TimeOrDelta<chrono::DateTime<Tz>, chrono::TimeDelta>,
>;

fn instance_span(ev: &Instance) -> (i64, i64) {
    let s = ev.start.timestamp();
    let e = match &ev.end {
        TimeOrDelta::Time(t) => t.timestamp(),
        TimeOrDelta::Delta(d) => s + d.num_seconds(),
    };
    (s, e)
}

/// One component's unfolded `(NAME, value)` lines.
#[derive(Debug)]
struct Component {
    name: String,
    lines: Vec<(String, String)>,
}

/// Splits an unfolded iCalendar/vCard text into components with their
/// property lines (names upper-cased, parameters dropped, values raw).
fn components(text: &str) -> Vec<Component> {
    let mut out: Vec<Component> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for line in unfold(text) {
        let Some((head, value)) = line.split_once(':') else {
            continue;
        };
        let name = head.split(';').next().unwrap_or("").to_ascii_uppercase();
        // vCard property groups ("item1.EMAIL") match by their bare name.
        let name = name.rsplit('.').next().unwrap_or("").to_string();
        match name.as_str() {
            "BEGIN" => {
                out.push(Component {
                    name: value.trim().to_ascii_uppercase(),
                    lines: Vec::new(),
                });
                stack.push(out.len() - 1);
            }
            "END" => {
                stack.pop();
            }
            _ => {
                if let Some(&i) = stack.last() {
                    out[i].lines.push((name, value.to_string()));
                }
            }
        }
    }
    out
}

fn unfold(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t'])
            && let Some(last) = out.last_mut()
        {
            last.push_str(rest);
            continue;
        }
        out.push(raw.to_string());
    }
    out
}

/// A CardDAV `filter` (RFC 6352 §10.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFilter {
    /// Property filters.
    pub props: Vec<PropFilter>,
    /// `test="allof"` on the filter element.
    pub all_of: bool,
}

impl CardFilter {
    /// Parses `<CR:filter>`.
    pub fn parse(el: &Element) -> CardFilter {
        CardFilter {
            props: el
                .elems()
                .filter(|e| e.is(CARDDAV, "prop-filter"))
                .map(|e| PropFilter::parse(e, CARDDAV))
                .collect(),
            all_of: el.attr("test") == Some("allof"),
        }
    }

    /// Evaluates against a vCard.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        if self.props.is_empty() {
            return true;
        }
        let text = String::from_utf8_lossy(bytes);
        let comps = components(&text);
        let Some(card) = comps.iter().find(|c| c.name == "VCARD") else {
            return false;
        };
        let one = |p: &PropFilter| p.matches(&card.lines);
        if self.all_of {
            self.props.iter().all(one)
        } else {
            self.props.iter().any(one)
        }
    }
}

/// Properties dropped from expanded instances (RFC 4791 §9.6.5): the rule
/// set and the original times are replaced by the instance's own UTC times.
const EXPAND_DROP: &[&str] = &[
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    "EXRULE",
    "RECURRENCE-ID",
];

/// A component's raw (unfolded) lines and nested components, in BEGIN order
/// — the same numbering `calcard` uses for `comp_id`.
#[derive(Debug, Default)]
struct RawComponent {
    name: String,
    lines: Vec<String>,
    children: Vec<usize>,
}

fn raw_components(text: &str) -> Vec<RawComponent> {
    let mut out: Vec<RawComponent> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for line in unfold(text) {
        let head = line
            .split([':', ';'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let value = line
            .split_once(':')
            .map(|(_, v)| v.trim().to_ascii_uppercase())
            .unwrap_or_default();
        match head.as_str() {
            "BEGIN" => {
                out.push(RawComponent {
                    name: value,
                    ..RawComponent::default()
                });
                let i = out.len() - 1;
                if let Some(&p) = stack.last() {
                    out[p].children.push(i);
                }
                stack.push(i);
            }
            "END" => {
                stack.pop();
            }
            "" => {}
            _ => {
                if let Some(&i) = stack.last() {
                    out[i].lines.push(line);
                }
            }
        }
    }
    out
}

fn write_raw(out: &mut String, comps: &[RawComponent], i: usize) {
    let c = &comps[i];
    out.push_str(&format!("BEGIN:{}\r\n", c.name));
    for l in &c.lines {
        out.push_str(l);
        out.push_str("\r\n");
    }
    for &ch in &c.children {
        write_raw(out, comps, ch);
    }
    out.push_str(&format!("END:{}\r\n", c.name));
}

/// What [`expand`] made of a calendar object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expanded {
    /// The expanded object, and how many instances it holds.
    Text {
        /// The calendar object.
        text: String,
        /// Instances written.
        instances: usize,
    },
    /// More than the allowed instances fall in the range (or the scan
    /// stops before the range ends): nothing was written.
    TooMany,
}

/// The calendar object with every instance overlapping `r` written as its
/// own component in UTC (RFC 4791 §9.6.5), at most `max` of them (else
/// [`Expanded::TooMany`], before anything is written); `None` if it cannot
/// be parsed.
pub fn expand(bytes: &[u8], r: Range, max: usize) -> Option<Expanded> {
    let cal = item::parse_ical(bytes).ok()?;
    let text = String::from_utf8_lossy(bytes);
    let comps = raw_components(&text);
    let top = comps.first()?;
    let (instances, cut) = instances(&cal, r);
    let is_instance = |ev: &&Instance| {
        hit(instance_span(ev), r)
            && comps
                .get(ev.comp_id as usize)
                .is_some_and(|c| matches!(c.name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL"))
    };
    let count = instances
        .iter()
        .filter(is_instance)
        .take(max.saturating_add(1))
        .count();
    if cut || count > max {
        return Some(Expanded::TooMany);
    }
    let mut out = String::from("BEGIN:VCALENDAR\r\n");
    for l in &top.lines {
        out.push_str(l);
        out.push_str("\r\n");
    }
    for ev in instances.iter().filter(is_instance) {
        let (s, e) = instance_span(ev);
        let Some(c) = comps.get(ev.comp_id as usize) else {
            continue;
        };
        if !matches!(c.name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL") {
            continue;
        }
        let name_of = |l: &String| {
            l.split([':', ';'])
                .next()
                .unwrap_or("")
                .to_ascii_uppercase()
        };
        let recurring = c
            .lines
            .iter()
            .any(|l| matches!(name_of(l).as_str(), "RRULE" | "RDATE" | "RECURRENCE-ID"));
        out.push_str(&format!("BEGIN:{}\r\n", c.name));
        for l in &c.lines {
            if !EXPAND_DROP.contains(&name_of(l).as_str()) {
                out.push_str(l);
                out.push_str("\r\n");
            }
        }
        out.push_str(&format!("DTSTART:{}\r\n", format_utc(s)));
        if e != s {
            out.push_str(&format!("DTEND:{}\r\n", format_utc(e)));
        }
        if recurring {
            // Overridden instances keep their own RECURRENCE-ID (the
            // original slot); instances of the rule are named by their start.
            let rid = c.lines.iter().find(|l| name_of(l) == "RECURRENCE-ID");
            match rid.and_then(|l| override_rid_utc(&cal, ev.comp_id, l)) {
                Some(t) => out.push_str(&format!("RECURRENCE-ID:{}\r\n", format_utc(t))),
                None => out.push_str(&format!("RECURRENCE-ID:{}\r\n", format_utc(s))),
            }
        }
        for &ch in &c.children {
            write_raw(&mut out, &comps, ch);
        }
        out.push_str(&format!("END:{}\r\n", c.name));
    }
    out.push_str("END:VCALENDAR\r\n");
    Some(Expanded::Text {
        text: out,
        instances: count,
    })
}

/// The UTC time of an override's RECURRENCE-ID, resolved with the calendar's
/// time zones by `calcard`.
fn override_rid_utc(cal: &calcard::icalendar::ICalendar, comp_id: u32, _line: &str) -> Option<i64> {
    use calcard::icalendar::ICalendarProperty;
    let comp = cal.components.get(comp_id as usize)?;
    let entry = comp
        .entries
        .iter()
        .find(|e| e.name == ICalendarProperty::RecurrenceId)?;
    let dt = entry.values.first()?.as_partial_date_time()?;
    let tzid = entry.tz_id();
    let resolver = cal.build_tz_resolver().with_default(Tz::UTC);
    let tz = resolver.resolve_or_default(tzid);
    dt.to_date_time_with_tz(tz).map(|d| d.timestamp())
}
