//! Protocol tests: raw HTTP in, exact status and XML out. One helper
//! ([`run`]) walks a table of steps against one server, in order (later
//! steps see earlier writes), and reports every mismatch with its step name.

use crate::harness::{ALICE, BOB, Server, normalize};

/// What a step expects back.
enum Expect {
    /// Exact body after [`normalize`].
    Exact(&'static str),
    /// Every string must occur in the body.
    Contains(&'static [&'static str]),
    /// None of these may occur in the body.
    Lacks(&'static [&'static str]),
    /// Only the status matters.
    Status,
}

struct Step {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    user: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    status: u16,
    expect: Expect,
}

#[allow(clippy::too_many_arguments)] // Reason: one table row, named by position like a test table.
const fn step(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    user: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    status: u16,
    expect: Expect,
) -> Step {
    Step {
        name,
        method,
        path,
        user,
        headers,
        body,
        status,
        expect,
    }
}

fn run(server: &Server, steps: &[Step]) {
    let mut failures = Vec::new();
    for s in steps {
        let (status, _headers, body) = server.request(s.method, s.path, s.user, s.headers, s.body);
        let body = normalize(&body);
        let ok_status = status == s.status;
        let ok_body = match &s.expect {
            Expect::Exact(e) => body == *e,
            Expect::Contains(list) => list.iter().all(|x| body.contains(x)),
            Expect::Lacks(list) => list.iter().all(|x| !body.contains(x)),
            Expect::Status => true,
        };
        if !ok_status || !ok_body {
            failures.push(format!(
                "step {:?}: status {status} (want {})\n{body}",
                s.name, s.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

const A: Option<&str> = Some(ALICE);
const B: Option<&str> = Some(BOB);
const D0: &[(&str, &str)] = &[("Depth", "0")];
const D1: &[(&str, &str)] = &[("Depth", "1")];

const EVENT: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260302T100000\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20260309T100000\r\nSUMMARY:Standup\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
const TODO: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VTODO\r\nUID:todo1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Buy milk\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
const CARD: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:ann\r\nFN:Ann Example\r\nEMAIL:ann@example.org\r\nEND:VCARD\r\n";

#[test]
fn discovery_and_principal() {
    let s = Server::start();
    run(
        &s,
        &[
            step(
                "options",
                "OPTIONS",
                "/dav/",
                None,
                &[],
                "",
                200,
                Expect::Status,
            ),
            step(
                "well-known caldav",
                "GET",
                "/.well-known/caldav",
                None,
                &[],
                "",
                301,
                Expect::Status,
            ),
            step(
                "no auth",
                "PROPFIND",
                "/dav/",
                None,
                D0,
                "",
                401,
                Expect::Status,
            ),
            step(
                "root principal",
                "PROPFIND",
                "/dav/",
                A,
                D0,
                r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"#,
                207,
                Expect::Exact(concat!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\" xmlns:O=\"https://outpost.invalid/ns/\">",
                    "<D:response><D:href>/dav/</D:href><D:propstat><D:prop><D:current-user-principal><D:href>/dav/alice@outpost.lan/</D:href></D:current-user-principal></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
                    "</D:multistatus>\n"
                )),
            ),
            step(
                "home sets",
                "PROPFIND",
                "/dav/alice@outpost.lan/",
                A,
                D0,
                r#"<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:ietf:params:xml:ns:carddav"><prop><C:calendar-home-set/><A:addressbook-home-set/><C:calendar-user-address-set/><x:nope xmlns:x="urn:x"/></prop></propfind>"#,
                207,
                Expect::Exact(concat!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\" xmlns:O=\"https://outpost.invalid/ns/\">",
                    "<D:response><D:href>/dav/alice@outpost.lan/</D:href><D:propstat><D:prop>",
                    "<C:calendar-home-set><D:href>/dav/alice@outpost.lan/</D:href></C:calendar-home-set>",
                    "<CR:addressbook-home-set><D:href>/dav/alice@outpost.lan/</D:href></CR:addressbook-home-set>",
                    "<C:calendar-user-address-set><D:href>mailto:alice@outpost.lan</D:href><D:href>/dav/alice@outpost.lan/</D:href></C:calendar-user-address-set>",
                    "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>",
                    "<D:propstat><D:prop><X:nope xmlns:X=\"urn:x\"/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>",
                    "</D:multistatus>\n"
                )),
            ),
            step(
                "home listing",
                "PROPFIND",
                "/dav/alice%40outpost.lan/",
                A,
                D1,
                r#"<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><prop><resourcetype/><C:supported-calendar-component-set/></prop></propfind>"#,
                207,
                Expect::Exact(concat!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\" xmlns:O=\"https://outpost.invalid/ns/\">",
                    "<D:response><D:href>/dav/alice@outpost.lan/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/><D:principal/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><C:supported-calendar-component-set/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>",
                    "<D:response><D:href>/dav/alice@outpost.lan/calendar/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype><C:supported-calendar-component-set><C:comp name=\"VEVENT\"/></C:supported-calendar-component-set></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
                    "<D:response><D:href>/dav/alice@outpost.lan/contacts/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><C:supported-calendar-component-set/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>",
                    "<D:response><D:href>/dav/alice@outpost.lan/tasks/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype><C:supported-calendar-component-set><C:comp name=\"VTODO\"/></C:supported-calendar-component-set></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>",
                    "</D:multistatus>\n"
                )),
            ),
            step(
                "home in other case",
                "PROPFIND",
                "/dav/Alice@Outpost.LAN/calendar/",
                A,
                D0,
                "",
                207,
                Expect::Contains(&["<D:href>/dav/alice@outpost.lan/calendar/</D:href>"]),
            ),
            step(
                "other home forbidden",
                "PROPFIND",
                "/dav/bob@outpost.lan/",
                A,
                D0,
                "",
                403,
                Expect::Status,
            ),
            step(
                "other calendar forbidden",
                "PROPFIND",
                "/dav/bob@outpost.lan/calendar/",
                A,
                D0,
                "",
                403,
                Expect::Status,
            ),
            step(
                "traversal",
                "GET",
                "/dav/alice@outpost.lan/..%2f..%2fetc/passwd",
                A,
                &[],
                "",
                400,
                Expect::Status,
            ),
            step(
                "traversal dots",
                "GET",
                "/dav/alice@outpost.lan/calendar/..",
                A,
                &[],
                "",
                400,
                Expect::Status,
            ),
            step(
                "metadata hidden",
                "GET",
                "/dav/alice@outpost.lan/calendar/.Radicale.props",
                A,
                &[],
                "",
                404,
                Expect::Status,
            ),
        ],
    );
}

#[test]
fn calendar_items_queries_and_sync() {
    let s = Server::start();
    let big = "x".repeat(70 * 1024);
    let (st, _, _) = s.request(
        "PUT",
        "/dav/alice@outpost.lan/calendar/big.ics",
        A,
        &[],
        &big,
    );
    assert_eq!(st, 413, "oversized body");
    run(
        &s,
        &[
            step(
                "put event",
                "PUT",
                "/dav/alice@outpost.lan/calendar/weekly.ics",
                A,
                &[("If-None-Match", "*"), ("Content-Type", "text/calendar")],
                EVENT,
                201,
                Expect::Status,
            ),
            step(
                "put again refused",
                "PUT",
                "/dav/alice@outpost.lan/calendar/weekly.ics",
                A,
                &[("If-None-Match", "*")],
                EVENT,
                412,
                Expect::Status,
            ),
            step(
                "uid conflict",
                "PUT",
                "/dav/alice@outpost.lan/calendar/other.ics",
                A,
                &[],
                EVENT,
                409,
                Expect::Contains(&["<C:no-uid-conflict><D:href>weekly.ics</D:href>"]),
            ),
            step(
                "todo refused in calendar",
                "PUT",
                "/dav/alice@outpost.lan/calendar/t.ics",
                A,
                &[],
                TODO,
                403,
                Expect::Contains(&["supported-calendar-component"]),
            ),
            step(
                "garbage refused",
                "PUT",
                "/dav/alice@outpost.lan/calendar/g.ics",
                A,
                &[],
                "hello",
                403,
                Expect::Contains(&["valid-calendar-data"]),
            ),
            step(
                "todo in tasks",
                "PUT",
                "/dav/alice@outpost.lan/tasks/todo1.ics",
                A,
                &[],
                TODO,
                201,
                Expect::Status,
            ),
            step(
                "get",
                "GET",
                "/dav/alice@outpost.lan/calendar/weekly.ics",
                A,
                &[],
                "",
                200,
                Expect::Contains(&["RRULE:FREQ=WEEKLY;COUNT=10"]),
            ),
            // Week 2 (March 9) is an EXDATE: a range covering only that day is empty.
            step(
                "query exdate week",
                "REPORT",
                "/dav/alice@outpost.lan/calendar/",
                A,
                D1,
                r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260309T000000Z" end="20260310T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#,
                207,
                Expect::Exact(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\" xmlns:O=\"https://outpost.invalid/ns/\"></D:multistatus>\n",
                ),
            ),
            // The 5th instance, April 1? No: weekly from Monday March 2 → Monday March 30 at 08:00Z (CEST starts March 29).
            step(
                "query recurrence after DST",
                "REPORT",
                "/dav/alice@outpost.lan/calendar/",
                A,
                D1,
                r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260330T080000Z" end="20260330T083000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#,
                207,
                Expect::Exact(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\" xmlns:O=\"https://outpost.invalid/ns/\"><D:response><D:href>/dav/alice@outpost.lan/calendar/weekly.ics</D:href><D:propstat><D:prop><D:getetag>&quot;N&quot;</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>\n",
                ),
            ),
            step(
                "query after last instance",
                "REPORT",
                "/dav/alice@outpost.lan/calendar/",
                A,
                D1,
                r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260601T000000Z" end="20260701T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#,
                207,
                Expect::Lacks(&["weekly.ics"]),
            ),
            step(
                "query summary text",
                "REPORT",
                "/dav/alice@outpost.lan/calendar/",
                A,
                D1,
                r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match>stand</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#,
                207,
                Expect::Contains(&["weekly.ics"]),
            ),
            step(
                "todo query",
                "REPORT",
                "/dav/alice@outpost.lan/tasks/",
                A,
                D1,
                r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter></C:filter></C:calendar-query>"#,
                207,
                Expect::Contains(&["<C:calendar-data>BEGIN:VCALENDAR&#13;\nVERSION:2.0"]),
            ),
            step(
                "multiget",
                "REPORT",
                "/dav/alice@outpost.lan/calendar/",
                A,
                D1,
                r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><D:href>/dav/alice@outpost.lan/calendar/weekly.ics</D:href><D:href>/dav/alice@outpost.lan/calendar/missing.ics</D:href><D:href>http://localhost/dav/alice%40outpost.lan/calendar/weekly.ics</D:href></C:calendar-multiget>"#,
                207,
                Expect::Exact(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\" xmlns:O=\"https://outpost.invalid/ns/\"><D:response><D:href>/dav/alice@outpost.lan/calendar/weekly.ics</D:href><D:propstat><D:prop><D:getetag>&quot;N&quot;</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><D:response><D:href>/dav/alice@outpost.lan/calendar/missing.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response><D:response><D:href>http://localhost/dav/alice%40outpost.lan/calendar/weekly.ics</D:href><D:propstat><D:prop><D:getetag>&quot;N&quot;</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>\n",
                ),
            ),
            step(
                "free-busy",
                "REPORT",
                "/dav/alice@outpost.lan/calendar/",
                A,
                D1,
                r#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20260301T000000Z" end="20260317T000000Z"/></C:free-busy-query>"#,
                200,
                Expect::Contains(&[
                    "FREEBUSY:20260302T090000Z/20260302T100000Z\r\nFREEBUSY:20260316T090000Z/20260316T100000Z\r\nEND:VFREEBUSY",
                ]),
            ),
            step(
                "query with expand",
                "REPORT",
                "/dav/alice@outpost.lan/calendar/",
                A,
                D1,
                r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data><C:expand start="20260301T000000Z" end="20260317T000000Z"/></C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260301T000000Z" end="20260317T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#,
                207,
                Expect::Contains(&[
                    "<C:calendar-data>BEGIN:VCALENDAR&#13;\nVERSION:2.0&#13;\nPRODID:-//t//t//EN&#13;\nBEGIN:VEVENT&#13;\nUID:weekly&#13;\nDTSTAMP:20260101T000000Z&#13;\nSUMMARY:Standup&#13;\nDTSTART:20260302T090000Z&#13;\nDTEND:20260302T100000Z&#13;\nRECURRENCE-ID:20260302T090000Z&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:weekly&#13;\nDTSTAMP:20260101T000000Z&#13;\nSUMMARY:Standup&#13;\nDTSTART:20260316T090000Z&#13;\nDTEND:20260316T100000Z&#13;\nRECURRENCE-ID:20260316T090000Z&#13;\nEND:VEVENT&#13;\nEND:VCALENDAR&#13;\n</C:calendar-data>",
                ]),
            ),
            step(
                "sync initial",
                "REPORT",
                "/dav/alice@outpost.lan/calendar/",
                A,
                &[],
                r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#,
                207,
                Expect::Exact(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\" xmlns:O=\"https://outpost.invalid/ns/\"><D:response><D:href>/dav/alice@outpost.lan/calendar/weekly.ics</D:href><D:propstat><D:prop><D:getetag>&quot;N&quot;</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response><D:sync-token>https://outpost.invalid/ns/sync/N</D:sync-token></D:multistatus>\n",
                ),
            ),
            step(
                "bad sync token",
                "REPORT",
                "/dav/alice@outpost.lan/calendar/",
                A,
                &[],
                r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token>https://outpost.invalid/ns/sync/5</D:sync-token><D:sync-level>1</D:sync-level><D:prop/></D:sync-collection>"#,
                403,
                Expect::Contains(&["<D:valid-sync-token/>"]),
            ),
            step(
                "delete wrong etag",
                "DELETE",
                "/dav/alice@outpost.lan/calendar/weekly.ics",
                A,
                &[("If-Match", "\"1\"")],
                "",
                412,
                Expect::Status,
            ),
            step(
                "delete",
                "DELETE",
                "/dav/alice@outpost.lan/calendar/weekly.ics",
                A,
                &[],
                "",
                204,
                Expect::Status,
            ),
            step(
                "gone",
                "GET",
                "/dav/alice@outpost.lan/calendar/weekly.ics",
                A,
                &[],
                "",
                404,
                Expect::Status,
            ),
        ],
    );
}

#[test]
fn collections_cards_and_sharing() {
    let s = Server::start();
    run(
        &s,
        &[
            step(
                "mkcalendar",
                "MKCALENDAR",
                "/dav/alice@outpost.lan/work/",
                A,
                &[],
                r#"<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Work</D:displayname><C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"#,
                201,
                Expect::Status,
            ),
            step(
                "mkcalendar again",
                "MKCALENDAR",
                "/dav/alice@outpost.lan/work/",
                A,
                &[],
                "",
                405,
                Expect::Status,
            ),
            step(
                "extended mkcol book",
                "MKCOL",
                "/dav/alice@outpost.lan/team-book/",
                A,
                &[],
                r#"<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype><D:displayname>Team</D:displayname></D:prop></D:set></D:mkcol>"#,
                201,
                Expect::Status,
            ),
            step(
                "mkcol bad body",
                "MKCOL",
                "/dav/alice@outpost.lan/x/",
                A,
                &[],
                "not xml",
                415,
                Expect::Status,
            ),
            step(
                "mkcol no parent",
                "MKCOL",
                "/dav/alice@outpost.lan/nope/deeper/more/",
                A,
                &[],
                "",
                409,
                Expect::Status,
            ),
            step(
                "proppatch",
                "PROPPATCH",
                "/dav/alice@outpost.lan/work/",
                A,
                &[],
                r#"<D:propertyupdate xmlns:D="DAV:" xmlns:I="http://apple.com/ns/ical/"><D:set><D:prop><D:displayname>Work &amp; play</D:displayname><I:calendar-color>#ff0000</I:calendar-color></D:prop></D:set></D:propertyupdate>"#,
                207,
                Expect::Exact(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CR=\"urn:ietf:params:xml:ns:carddav\" xmlns:CS=\"http://calendarserver.org/ns/\" xmlns:ICAL=\"http://apple.com/ns/ical/\" xmlns:O=\"https://outpost.invalid/ns/\"><D:response><D:href>/dav/alice@outpost.lan/work/</D:href><D:propstat><D:prop><D:displayname/><ICAL:calendar-color/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>\n",
                ),
            ),
            step(
                "proppatch protected",
                "PROPPATCH",
                "/dav/alice@outpost.lan/work/",
                A,
                &[],
                r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag><D:displayname>y</D:displayname></D:prop></D:set></D:propertyupdate>"#,
                207,
                Expect::Contains(&[
                    "<D:getetag/></D:prop><D:status>HTTP/1.1 403 Forbidden",
                    "<D:displayname/></D:prop><D:status>HTTP/1.1 424 Failed Dependency",
                ]),
            ),
            step(
                "props back",
                "PROPFIND",
                "/dav/alice@outpost.lan/work/",
                A,
                D0,
                r#"<D:propfind xmlns:D="DAV:" xmlns:I="http://apple.com/ns/ical/" xmlns:CS="http://calendarserver.org/ns/"><D:prop><D:displayname/><I:calendar-color/><CS:getctag/><D:sync-token/></D:prop></D:propfind>"#,
                207,
                Expect::Contains(&[
                    "<D:displayname>Work &amp; play</D:displayname><ICAL:calendar-color>#ff0000</ICAL:calendar-color><CS:getctag>N</CS:getctag><D:sync-token>https://outpost.invalid/ns/sync/N</D:sync-token>",
                ]),
            ),
            step(
                "card",
                "PUT",
                "/dav/alice@outpost.lan/team-book/ann.vcf",
                A,
                &[],
                CARD,
                201,
                Expect::Status,
            ),
            step(
                "card3",
                "PUT",
                "/dav/alice@outpost.lan/team-book/bo.vcf",
                A,
                &[],
                "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bo\r\nFN:Bo Other\r\nN:Other;Bo;;;\r\nEND:VCARD\r\n",
                201,
                Expect::Status,
            ),
            step(
                "addressbook-query",
                "REPORT",
                "/dav/alice@outpost.lan/team-book/",
                A,
                D1,
                r#"<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><CR:address-data/></D:prop><CR:filter><CR:prop-filter name="EMAIL"><CR:text-match match-type="contains">EXAMPLE.org</CR:text-match></CR:prop-filter></CR:filter></CR:addressbook-query>"#,
                207,
                Expect::Contains(&["ann.vcf", "FN:Ann Example"]),
            ),
            step(
                "addressbook-query excludes",
                "REPORT",
                "/dav/alice@outpost.lan/team-book/",
                A,
                D1,
                r#"<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><CR:filter><CR:prop-filter name="EMAIL"><CR:text-match>example.org</CR:text-match></CR:prop-filter></CR:filter></CR:addressbook-query>"#,
                207,
                Expect::Lacks(&["bo.vcf"]),
            ),
            step(
                "addressbook-multiget",
                "REPORT",
                "/dav/alice@outpost.lan/team-book/",
                A,
                D1,
                r#"<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><CR:address-data/></D:prop><D:href>/dav/alice@outpost.lan/team-book/bo.vcf</D:href></CR:addressbook-multiget>"#,
                207,
                Expect::Contains(&["VERSION:3.0", "FN:Bo Other"]),
            ),
            step(
                "move card",
                "MOVE",
                "/dav/alice@outpost.lan/team-book/bo.vcf",
                A,
                &[(
                    "Destination",
                    "http://localhost/dav/alice@outpost.lan/team-book/bo2.vcf",
                )],
                "",
                201,
                Expect::Status,
            ),
            step(
                "copy card",
                "COPY",
                "/dav/alice@outpost.lan/team-book/ann.vcf",
                A,
                &[("Destination", "/dav/alice@outpost.lan/contacts/ann.vcf")],
                "",
                201,
                Expect::Status,
            ),
            step(
                "copy no overwrite",
                "COPY",
                "/dav/alice@outpost.lan/team-book/ann.vcf",
                A,
                &[
                    ("Destination", "/dav/alice@outpost.lan/contacts/ann.vcf"),
                    ("Overwrite", "F"),
                ],
                "",
                412,
                Expect::Status,
            ),
            // Sharing: bob (directly) and team (bob is a member) get grants.
            step(
                "bob cannot read yet",
                "GET",
                "/dav/alice@outpost.lan/team-book/ann.vcf",
                B,
                &[],
                "",
                403,
                Expect::Status,
            ),
            step(
                "grant",
                "PROPPATCH",
                "/dav/alice@outpost.lan/team-book/",
                A,
                &[],
                r#"<D:propertyupdate xmlns:D="DAV:" xmlns:O="https://outpost.invalid/ns/"><D:set><D:prop><O:grants>team@outpost.lan=read</O:grants></D:prop></D:set></D:propertyupdate>"#,
                207,
                Expect::Contains(&["200 OK"]),
            ),
            step(
                "bob reads via group",
                "GET",
                "/dav/alice@outpost.lan/team-book/ann.vcf",
                B,
                &[],
                "",
                200,
                Expect::Contains(&["FN:Ann Example"]),
            ),
            step(
                "bob cannot write",
                "PUT",
                "/dav/alice@outpost.lan/team-book/new.vcf",
                B,
                &[],
                CARD,
                403,
                Expect::Status,
            ),
            step(
                "bob sees binding",
                "PROPFIND",
                "/dav/bob@outpost.lan/",
                B,
                D1,
                r#"<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>"#,
                207,
                Expect::Contains(&[
                    "<D:href>/dav/bob@outpost.lan/alice@outpost.lan~team-book/</D:href><D:propstat><D:prop><D:displayname>Team</D:displayname>",
                ]),
            ),
            step(
                "bob reads binding",
                "GET",
                "/dav/bob@outpost.lan/alice@outpost.lan~team-book/ann.vcf",
                B,
                &[],
                "",
                200,
                Expect::Contains(&["FN:Ann Example"]),
            ),
            step(
                "bob privileges",
                "PROPFIND",
                "/dav/bob@outpost.lan/alice@outpost.lan~team-book/",
                B,
                D0,
                r#"<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/></D:prop></D:propfind>"#,
                207,
                Expect::Contains(&[
                    "<D:current-user-privilege-set><D:privilege><D:read/></D:privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege></D:current-user-privilege-set>",
                ]),
            ),
            step(
                "grant rw to bob",
                "PROPPATCH",
                "/dav/alice@outpost.lan/team-book/",
                A,
                &[],
                r#"<D:propertyupdate xmlns:D="DAV:" xmlns:O="https://outpost.invalid/ns/"><D:set><D:prop><O:grants>bob@outpost.lan=read-write</O:grants></D:prop></D:set></D:propertyupdate>"#,
                207,
                Expect::Status,
            ),
            step(
                "bob writes",
                "PUT",
                "/dav/bob@outpost.lan/alice@outpost.lan~team-book/cy.vcf",
                B,
                &[],
                "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:cy\r\nFN:Cy\r\nEND:VCARD\r\n",
                201,
                Expect::Status,
            ),
            step(
                "bob cannot regrant",
                "PROPPATCH",
                "/dav/alice@outpost.lan/team-book/",
                B,
                &[],
                r#"<D:propertyupdate xmlns:D="DAV:" xmlns:O="https://outpost.invalid/ns/"><D:set><D:prop><O:grants>bob@outpost.lan=read-write</O:grants></D:prop></D:set></D:propertyupdate>"#,
                207,
                Expect::Contains(&["403 Forbidden"]),
            ),
            step(
                "bob cannot delete collection",
                "DELETE",
                "/dav/alice@outpost.lan/team-book/",
                B,
                &[],
                "",
                403,
                Expect::Status,
            ),
            step(
                "bob cannot see alice's calendar",
                "GET",
                "/dav/alice@outpost.lan/calendar/",
                B,
                &[],
                "",
                403,
                Expect::Status,
            ),
            step(
                "delete collection",
                "DELETE",
                "/dav/alice@outpost.lan/work/",
                A,
                &[],
                "",
                204,
                Expect::Status,
            ),
        ],
    );
}
