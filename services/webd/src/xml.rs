//! WebDAV XML in and out: a small namespace-resolved tree built with
//! `quick-xml`, and helpers that write multistatus responses.
//!
//! Request bodies are small (a PROPFIND, a REPORT), so a tree is simpler
//! than streaming and costs nothing measurable. Names are compared by
//! namespace URI and local name, never by prefix (RFC 4918 §8.2: clients
//! choose any prefix). Nesting depth is bounded so a hostile body cannot
//! exhaust the stack.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// The `DAV:` namespace (RFC 4918).
pub const DAV: &str = "DAV:";
/// The CalDAV namespace (RFC 4791).
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// The CardDAV namespace (RFC 6352).
pub const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// The CalendarServer namespace (`getctag`).
pub const CS: &str = "http://calendarserver.org/ns/";
/// Apple's iCal namespace (`calendar-color`, `calendar-order`).
pub const ICAL: &str = "http://apple.com/ns/ical/";
/// Outpost's own namespace (`grants`).
pub const OUTPOST: &str = "https://outpost.invalid/ns/";

/// Deepest element nesting accepted in a request body.
const MAX_DEPTH: usize = 64;
/// Attributes one element may carry (DAV elements have a handful); the
/// duplicate check is a scan, so this also keeps it cheap.
const MAX_ATTRS: usize = 32;

/// Prefixes used in responses and in Radicale-style property keys.
pub const PREFIXES: &[(&str, &str)] = &[
    ("D", DAV),
    ("C", CALDAV),
    ("CR", CARDDAV),
    ("CS", CS),
    ("ICAL", ICAL),
    ("O", OUTPOST),
];

/// An XML element with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Namespace URI ("" if none).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Attributes (local name, value); namespaced attributes keep their local name.
    pub attrs: Vec<(String, String)>,
    /// Child nodes in document order.
    pub children: Vec<Node>,
}

/// A child node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Elem(Element),
    /// Character data.
    Text(String),
}

impl Element {
    /// Whether this element is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// Child elements.
    pub fn elems(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Elem(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// First child element `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elems().find(|e| e.is(ns, name))
    }

    /// An attribute value by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Concatenated text content of this element (direct children only).
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                Node::Text(t) => Some(t.as_str()),
                Node::Elem(_) => None,
            })
            .collect()
    }

    /// The element serialised back, with its namespace declared inline.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// The children serialised back (the "value" of a dead property).
    pub fn inner_xml(&self) -> String {
        let mut out = String::new();
        for c in &self.children {
            match c {
                Node::Elem(e) => e.write(&mut out),
                Node::Text(t) => out.push_str(&escape(t)),
            }
        }
        out
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        out.push_str(" xmlns=\"");
        out.push_str(&escape(&self.ns));
        out.push('"');
        for (k, v) in &self.attrs {
            out.push_str(&format!(" {k}=\"{}\"", escape_attr(v)));
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        out.push_str(&self.inner_xml());
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

/// Why a body was refused (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed XML: {}", self.0)
    }
}

/// Parses a request body into its root element.
pub fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_reader(body);
    let mut buf = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let err = |e: &dyn std::fmt::Display| XmlError(e.to_string());
    loop {
        let (ns, ev) = reader
            .read_resolved_event_into(&mut buf)
            .map_err(|e| err(&e))?;
        let ns = match ns {
            // The namespace name comes from the `xmlns` attribute as
            // written: unescape it like any attribute value (an `&gt;` in
            // it was written back as `&amp;gt;`; found by fuzzing).
            ResolveResult::Bound(n) => {
                let raw = String::from_utf8_lossy(n.as_ref());
                quick_xml::escape::unescape(&raw)
                    .map_err(|e| err(&e))?
                    .into_owned()
            }
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(p) => {
                return Err(XmlError(format!(
                    "unknown prefix {}",
                    String::from_utf8_lossy(&p)
                )));
            }
        };
        if !xml_chars(&ns) {
            return Err(XmlError("a character XML does not allow".into()));
        }
        let empty = matches!(ev, Event::Empty(_));
        match ev {
            Event::Start(e) | Event::Empty(e) if stack.len() < MAX_DEPTH => {
                let mut el = Element {
                    ns,
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Element::default()
                };
                if !xml_name(&el.name) {
                    return Err(XmlError(format!("invalid element name {:?}", el.name)));
                }
                for a in e.attributes() {
                    let a = a.map_err(|e| err(&e))?;
                    let key = a.key.as_namespace_binding();
                    if key.is_some() || a.key.as_ref() == b"xmlns" {
                        continue;
                    }
                    if el.attrs.len() >= MAX_ATTRS {
                        return Err(XmlError(format!(
                            "more than {MAX_ATTRS} attributes on one element"
                        )));
                    }
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| err(&e))?
                        .into_owned();
                    if !xml_chars(&v) {
                        return Err(XmlError("a character XML does not allow".into()));
                    }
                    // An attribute's prefix must be declared, as an
                    // element's must (Namespaces in XML §5); and one whose
                    // local name is `xmlns` would be written back as a
                    // namespace declaration (found by fuzzing:
                    // `mlns:xmlns="…"` came back as a second `xmlns`).
                    if let (ResolveResult::Unknown(p), _) =
                        reader.resolver().resolve_attribute(a.key)
                    {
                        return Err(XmlError(format!(
                            "unknown prefix {}",
                            String::from_utf8_lossy(&p)
                        )));
                    }
                    let name = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
                    if !xml_name(&name) || name == "xmlns" {
                        return Err(XmlError(format!("invalid attribute name {name:?}")));
                    }
                    // Attributes are kept by local name: two that differ only
                    // in prefix would be written back as a duplicate.
                    if el.attrs.iter().any(|(n, _)| *n == name) {
                        return Err(XmlError(format!("duplicate attribute {name:?}")));
                    }
                    el.attrs.push((name, v));
                }
                if empty {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Elem(el)),
                        None => return Ok(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::Start(_) | Event::Empty(_) => return Err(XmlError("nested too deeply".into())),
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| XmlError("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Elem(el)),
                    None => return Ok(el),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    push_text(top, &t.xml10_content().map_err(|e| err(&e))?)?;
                }
            }
            // quick-xml ≥ 0.38 reports `&amp;`, `&#x41;` apart from the text
            // around them: resolved here and joined to that text.
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    let c = match r.resolve_char_ref().map_err(|e| err(&e))? {
                        Some(c) => c.to_string(),
                        None => {
                            let name = r.decode().map_err(|e| err(&e))?;
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| XmlError(format!("unknown entity &{name};")))?
                                .to_string()
                        }
                    };
                    push_text(top, &c)?;
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    push_text(top, &String::from_utf8_lossy(&c.into_inner()))?;
                }
            }
            Event::Eof => return Err(XmlError("no root element".into())),
            _ => {}
        }
        buf.clear();
    }
}

/// Appends character data to `el`, joined to the text just before it.
fn push_text(el: &mut Element, t: &str) -> Result<(), XmlError> {
    if !xml_chars(t) {
        return Err(XmlError("a character XML does not allow".into()));
    }
    match el.children.last_mut() {
        Some(Node::Text(prev)) => prev.push_str(t),
        _ => el.children.push(Node::Text(t.to_string())),
    }
    Ok(())
}

/// Whether `s` can be a local name (XML Namespaces `NCName`, loosely: no
/// markup, space, quote or colon, not starting with a digit, `-` or `.`).
/// quick-xml takes anything up to `>` or `/` as a name; a name with `<` in
/// it was written back as markup (found by fuzzing).
fn xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| !c.is_ascii_digit() && c != '-' && c != '.')
        && s.chars().all(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !matches!(
                    c,
                    '<' | '>' | '/' | '"' | '\'' | '=' | '&' | ':' | '?' | '!'
                )
        })
}

/// Whether every character is one XML 1.0 allows (§2.2 `Char`): no C0
/// control but tab, LF and CR. quick-xml does not check, and a NUL read
/// here would be written back into a document no client can parse.
fn xml_chars(s: &str) -> bool {
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r') || c as u32 >= 0x7f)
}

/// [`escape`] for an attribute value: tab and line feed too, as character
/// references, because a parser normalises them to spaces when written
/// literally (XML 1.0 §3.3.3; `&#9;` came back as a space: found by
/// fuzzing).
pub fn escape_attr(s: &str) -> String {
    escape(s).replace('\t', "&#9;").replace('\n', "&#10;")
}

/// Escapes text for XML content (and `xmlns` values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// A property name: namespace URI and local name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropName {
    /// Namespace URI.
    pub ns: String,
    /// Local name.
    pub name: String,
}

impl PropName {
    /// A property name from parts.
    pub fn new(ns: &str, name: &str) -> PropName {
        PropName {
            ns: ns.to_string(),
            name: name.to_string(),
        }
    }

    /// Whether this is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The storage key: Radicale's `P:name` for known namespaces, Clark
    /// notation `{ns}name` otherwise.
    pub fn key(&self) -> String {
        match PREFIXES.iter().find(|(_, ns)| *ns == self.ns) {
            Some((p, _)) => format!("{p}:{}", self.name),
            None => format!("{{{}}}{}", self.ns, self.name),
        }
    }

    /// The inverse of [`PropName::key`].
    pub fn from_key(key: &str) -> Option<PropName> {
        if let Some(rest) = key.strip_prefix('{') {
            let (ns, name) = rest.split_once('}')?;
            return Some(PropName::new(ns, name));
        }
        let (p, name) = key.split_once(':')?;
        let ns = PREFIXES.iter().find(|(q, _)| *q == p)?.1;
        Some(PropName::new(ns, name))
    }

    /// Opening tag text for this property, e.g. `D:getetag` or
    /// `x:foo xmlns:x="urn:foo"`, and the closing name.
    fn tag(&self) -> (String, String) {
        match PREFIXES.iter().find(|(_, ns)| *ns == self.ns) {
            Some((p, _)) => (format!("{p}:{}", self.name), format!("{p}:{}", self.name)),
            None if self.ns.is_empty() => (format!("{} xmlns=\"\"", self.name), self.name.clone()),
            None => (
                format!("X:{} xmlns:X=\"{}\"", self.name, escape(&self.ns)),
                format!("X:{}", self.name),
            ),
        }
    }

    /// `<name/>` (empty).
    pub fn empty(&self) -> String {
        format!("<{}/>", self.tag().0)
    }

    /// `<name>inner</name>` with `inner` already XML.
    pub fn with(&self, inner: &str) -> String {
        let (open, close) = self.tag();
        if inner.is_empty() {
            return format!("<{open}/>");
        }
        format!("<{open}>{inner}</{close}>")
    }
}

/// The root of every multistatus response, namespaces declared once.
pub const MULTISTATUS_OPEN: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\" xmlns:O=\"https://outpost.invalid/ns/\">";
/// Closing tag of a multistatus response.
pub const MULTISTATUS_CLOSE: &str = "</D:multistatus>\n";

/// One `<D:response>` with propstats grouped by status.
pub fn response(href: &str, found: &[String], missing: &[String], forbidden: &[String]) -> String {
    let mut out = format!("<D:response><D:href>{}</D:href>", escape(href));
    for (list, status) in [
        (found, "HTTP/1.1 200 OK"),
        (missing, "HTTP/1.1 404 Not Found"),
        (forbidden, "HTTP/1.1 403 Forbidden"),
    ] {
        if list.is_empty() {
            continue;
        }
        out.push_str("<D:propstat><D:prop>");
        for p in list {
            out.push_str(p);
        }
        out.push_str("</D:prop><D:status>");
        out.push_str(status);
        out.push_str("</D:status></D:propstat>");
    }
    out.push_str("</D:response>");
    out
}

/// A `<D:response>` with a bare status (e.g. a deleted member in a sync report).
pub fn status_response(href: &str, status: &str) -> String {
    format!(
        "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 {status}</D:status></D:response>",
        escape(href)
    )
}

/// An RFC 4918 §16 `<D:error>` body naming a precondition.
pub fn error_body(condition: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\">{condition}</D:error>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_namespace_names_round_trip_and_control_characters_are_refused() {
        let doc =
            br#"<D:prop xmlns:D="DAV:" xmlns:x="urn:a&gt;b&amp;c"><x:color>red</x:color></D:prop>"#;
        let e = parse(doc).unwrap();
        let child = e.elems().next().unwrap();
        assert_eq!(child.ns, "urn:a>b&c");
        let text = e.to_xml();
        assert_eq!(parse(text.as_bytes()).unwrap().to_xml(), text);
        for bad in [
            &b"<a xmlns=\"urn:\x00\"/>"[..],
            b"<a b=\"\x01\"/>",
            b"<a>\x02</a>",
            b"<a><b/:<c/></a>",
            b"<a><![CDATA[\x1d]]></a>",
            b"<a xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" p:x=\"1\" q:x=\"2\"/>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn entity_and_character_references_join_the_text_around_them() {
        let e = parse(b"<a>x &amp; y&#x41;&#66;<![CDATA[<z>]]>&lt;</a>").unwrap();
        assert_eq!(e.text(), "x & yAB<z><");
        assert!(
            parse(b"<a>&nbsp;</a>").is_err(),
            "no DTD, no other entities"
        );
        assert!(parse(b"<a>&#0;</a>").is_err());
        let e = parse(b"<a b=\"1&amp;2\"/>").unwrap();
        assert_eq!(e.attrs, vec![("b".to_string(), "1&2".to_string())]);
    }

    #[test]
    fn an_attribute_named_xmlns_or_with_an_unknown_prefix_is_refused() {
        // Found by fuzzing (dav_xml): `p:xmlns` was kept as `xmlns` and
        // written back as a second namespace declaration, which no parser
        // accepts; an undeclared attribute prefix was silently dropped.
        for bad in [
            &br#"<a xmlns="urn:a"><b mlns:xmlns="x"/></a>"#[..],
            br#"<a xmlns:p="urn:p" p:xmlns="x"/>"#,
            br#"<a q:b="1"/>"#,
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let ok = parse(br#"<a xmlns:p="urn:p" p:b="1"/>"#).unwrap();
        let text = ok.to_xml();
        assert_eq!(parse(text.as_bytes()).unwrap().to_xml(), text);
    }

    #[test]
    fn an_element_with_thousands_of_attributes_is_refused() {
        // RUSTSEC-2026-0194's shape: duplicate checks over N attributes.
        let attrs: String = (0..5000).map(|i| format!(" a{i}=\"v\"")).collect();
        let doc = format!("<x{attrs}/>");
        let e = parse(doc.as_bytes()).unwrap_err();
        assert!(e.0.contains("attributes"), "{}", e.0);
    }
}
