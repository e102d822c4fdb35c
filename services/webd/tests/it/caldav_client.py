"""The Python `caldav` library against outpost-webd: discovery, a recurring
event found by time-range queries (with and without expansion), tasks,
free-busy. Usage: caldav_client.py URL USER PASSWORD [CA]. Prints `ok` lines
and exits non-zero on the first failure; with CA, the server's certificate is
verified against it."""

import sys
from datetime import datetime, timezone

import caldav

url, user, password = sys.argv[1:4]
ca = sys.argv[4] if len(sys.argv) > 4 else True
client = caldav.DAVClient(url=url, username=user, password=password, ssl_verify_cert=ca)
principal = client.principal()
print("ok principal", principal.url)

calendars = {str(c.url).rstrip("/").rsplit("/", 1)[-1]: c for c in principal.calendars()}
assert {"calendar", "tasks"} <= set(calendars), calendars
print("ok calendars", sorted(calendars))

cal = calendars["calendar"]
cal.save_event(
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//py//EN\r\nBEGIN:VEVENT\r\n"
    "UID:py-weekly\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;TZID=America/New_York:20260105T090000\r\nDURATION:PT30M\r\n"
    "RRULE:FREQ=WEEKLY;UNTIL=20260301T000000Z\r\nSUMMARY:Weekly sync\r\n"
    "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:py-weekly\r\nDTSTAMP:20260101T000000Z\r\n"
    "RECURRENCE-ID;TZID=America/New_York:20260112T090000\r\n"
    "DTSTART;TZID=America/New_York:20260113T150000\r\nDURATION:PT30M\r\n"
    "SUMMARY:Weekly sync (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
cal.save_event(
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//py//EN\r\nBEGIN:VEVENT\r\n"
    "UID:py-once\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260601T120000Z\r\n"
    "DTEND:20260601T130000Z\r\nSUMMARY:Once\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
print("ok saved events")

utc = timezone.utc
# The moved instance (Jan 13, 20:00Z) is found; the week of the original slot is not.
found = cal.search(start=datetime(2026, 1, 13, tzinfo=utc), end=datetime(2026, 1, 14, tzinfo=utc), event=True)
assert len(found) == 1 and "py-weekly" in found[0].data, [f.data for f in found]
empty = cal.search(start=datetime(2026, 1, 12, tzinfo=utc), end=datetime(2026, 1, 13, tzinfo=utc), event=True)
assert len(empty) == 0, [f.data for f in empty]
print("ok time-range with overridden instance")

expanded = cal.search(start=datetime(2026, 1, 1, tzinfo=utc), end=datetime(2026, 2, 1, tzinfo=utc), event=True, expand=True)
starts = sorted(e.icalendar_component["DTSTART"].dt.astimezone(utc).strftime("%m-%d %H:%M") for e in expanded)
assert starts == ["01-05 14:00", "01-13 20:00", "01-19 14:00", "01-26 14:00"], starts
print("ok expanded", starts)

june = cal.search(start=datetime(2026, 6, 1, tzinfo=utc), end=datetime(2026, 7, 1, tzinfo=utc), event=True)
assert [e.icalendar_component["UID"] for e in june] == ["py-once"], june
print("ok june")

tasks = calendars["tasks"]
tasks.save_todo(
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//py//EN\r\nBEGIN:VTODO\r\nUID:py-todo\r\n"
    "DTSTAMP:20260101T000000Z\r\nDUE:20260110T170000Z\r\nSUMMARY:File report\r\n"
    "END:VTODO\r\nEND:VCALENDAR\r\n"
)
todos = tasks.todos()
assert [t.icalendar_component["UID"] for t in todos] == ["py-todo"], todos
todos[0].complete()
assert tasks.todos() == [], "completed task still listed as pending"
assert len(tasks.todos(include_completed=True)) == 1
print("ok tasks")

fb = cal.freebusy_request(datetime(2026, 1, 1, tzinfo=utc), datetime(2026, 1, 20, tzinfo=utc))
text = fb.data if isinstance(fb.data, str) else fb.data.decode()
assert "FREEBUSY:20260105T140000Z/20260105T143000Z" in text, text
assert "FREEBUSY:20260113T200000Z/20260113T203000Z" in text, text
print("ok free-busy")
print("all ok")
