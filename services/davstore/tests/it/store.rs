//! Store behaviour: default collections, PUT/GET/DELETE with conditions,
//! sync tokens across reopen, index rebuild, time-range prefilter, names.

use outpost_davstore::{Conditions, Error, Store, create_default_collections, item};

fn event(uid: &str, start: &str, rrule: Option<&str>) -> String {
    let rr = rrule.map(|r| format!("RRULE:{r}\r\n")).unwrap_or_default();
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDURATION:PT1H\r\n{rr}SUMMARY:x\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[test]
fn default_collections_are_laid_out_radicale_style() {
    let tmp = tempfile::tempdir().unwrap();
    create_default_collections(tmp.path(), "admin@outpost.lan").unwrap();
    create_default_collections(tmp.path(), "admin@outpost.lan").unwrap();
    let home = tmp.path().join("admin@outpost.lan");
    for c in ["calendar", "tasks", "contacts"] {
        assert!(home.join(c).join(".Radicale.props").is_file(), "{c}");
        assert!(home.join(c).join(".Outpost.index").is_file(), "{c}");
    }
    let props = std::fs::read_to_string(home.join("tasks/.Radicale.props")).unwrap();
    assert!(
        props.contains("\"C:supported-calendar-component-set\": \"VTODO\""),
        "{props}"
    );
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(
        store.list("admin@outpost.lan").unwrap(),
        ["calendar", "contacts", "tasks"]
    );
    assert!(
        store
            .collection("admin@outpost.lan", "contacts")
            .unwrap()
            .is_addressbook()
    );
}

#[test]
fn put_get_delete_with_conditions_and_sync_across_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    create_default_collections(tmp.path(), "u").unwrap();
    let (token0, etag) = {
        let store = Store::open(tmp.path()).unwrap();
        let cal = store.collection("u", "calendar").unwrap();
        let token0 = cal.rev();
        let only_new = Conditions {
            if_none_match: Some(vec!["*".into()]),
            ..Default::default()
        };
        let (m, created) = cal
            .put(
                "a.ics",
                event("a", "20260301T100000Z", None).as_bytes(),
                &only_new,
            )
            .unwrap();
        assert!(created);
        assert!(matches!(
            cal.put(
                "a.ics",
                event("a", "20260301T100000Z", None).as_bytes(),
                &only_new
            ),
            Err(Error::PreconditionFailed)
        ));
        assert!(matches!(
            cal.put("b.ics", event("a", "20260301T100000Z", None).as_bytes(), &Conditions::default()),
            Err(Error::UidConflict(h)) if h == "a.ics"
        ));
        let wrong = Conditions {
            if_match: Some(vec!["\"1\"".into()]),
            ..Default::default()
        };
        assert!(matches!(
            cal.delete("a.ics", &wrong),
            Err(Error::PreconditionFailed)
        ));
        cal.put(
            "b.ics",
            event("b", "20260302T100000Z", None).as_bytes(),
            &Conditions::default(),
        )
        .unwrap();
        (token0, m.etag())
    };
    // A new Store (a restarted daemon) sees the same revisions and ETags.
    let store = Store::open(tmp.path()).unwrap();
    let cal = store.collection("u", "calendar").unwrap();
    assert_eq!(cal.meta("a.ics").unwrap().etag(), etag);
    let ch = cal.changes_since(Some(token0)).unwrap();
    assert_eq!(
        ch.changed.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["a.ics", "b.ics"]
    );
    let mid = ch.rev;
    let ok = Conditions {
        if_match: Some(vec![etag]),
        ..Default::default()
    };
    cal.delete("a.ics", &ok).unwrap();
    let ch = cal.changes_since(Some(mid)).unwrap();
    assert!(ch.changed.is_empty());
    assert_eq!(ch.deleted, ["a.ics"]);
    assert!(matches!(
        cal.changes_since(Some(1)),
        Err(Error::InvalidSyncToken)
    ));
    assert!(matches!(cal.get("a.ics"), Err(Error::NotFound)));
    // Unsupported component in the task list.
    let tasks = store.collection("u", "tasks").unwrap();
    assert!(matches!(
        tasks.put(
            "e.ics",
            event("e", "20260301T100000Z", None).as_bytes(),
            &Conditions::default()
        ),
        Err(Error::UnsupportedComponent)
    ));
}

#[test]
fn index_is_rebuilt_when_missing() {
    let tmp = tempfile::tempdir().unwrap();
    create_default_collections(tmp.path(), "u").unwrap();
    {
        let store = Store::open(tmp.path()).unwrap();
        let cal = store.collection("u", "calendar").unwrap();
        cal.put(
            "a.ics",
            event("a", "20260301T100000Z", None).as_bytes(),
            &Conditions::default(),
        )
        .unwrap();
    }
    let dir = tmp.path().join("u/calendar");
    std::fs::remove_file(dir.join(".Outpost.index")).unwrap();
    std::fs::remove_file(dir.join(".Outpost.journal")).unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let cal = store.collection("u", "calendar").unwrap();
    assert_eq!(cal.meta("a.ics").unwrap().uid.as_deref(), Some("a"));
}

#[test]
fn spans_cover_recurrences_and_unbounded_rules() {
    let t = |s: &str| item::analyze_calendar(s.as_bytes()).unwrap();
    // 2026-03-01T10:00Z = 1772359200
    let single = t(&event("a", "20260301T100000Z", None));
    assert!(single.start <= 1772359200 && single.end >= 1772359200 + 3600);
    assert!(single.end < 1772359200 + 2 * 86400);
    let weekly3 = t(&event("b", "20260301T100000Z", Some("FREQ=WEEKLY;COUNT=3")));
    assert!(weekly3.end >= 1772359200 + 14 * 86400 + 3600);
    assert!(weekly3.end < 1772359200 + 16 * 86400);
    let forever = t(&event("c", "20260301T100000Z", Some("FREQ=DAILY")));
    assert_eq!(forever.end, i64::MAX);
    let todo = t(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:t\r\nSUMMARY:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
    );
    assert_eq!(
        (todo.start, todo.end, todo.kinds),
        (i64::MIN, i64::MAX, item::VTODO)
    );
}

#[test]
fn bad_names_and_items_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a//b",
        "a/../b",
        "/a",
        ".Radicale.props",
        "a\\b",
    ] {
        assert!(
            matches!(store.collection("u", bad), Err(Error::BadName(_))),
            "{bad:?}"
        );
    }
    create_default_collections(tmp.path(), "u").unwrap();
    let cal = store.collection("u", "calendar").unwrap();
    assert!(matches!(
        cal.put("x.ics", b"hello", &Conditions::default()),
        Err(Error::Invalid(_))
    ));
    let two = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\n\
               BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert!(matches!(
        cal.put("y.ics", two.as_bytes(), &Conditions::default()),
        Err(Error::Invalid(_))
    ));
    let book = store.collection("u", "contacts").unwrap();
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Ann\r\nN:;Ann;;;\r\nEND:VCARD\r\n";
    book.put("c1.vcf", card.as_bytes(), &Conditions::default())
        .unwrap();
}

#[test]
fn journal_compaction_keeps_index_and_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    create_default_collections(tmp.path(), "u").unwrap();
    let token;
    {
        let store = Store::open(tmp.path()).unwrap();
        let cal = store.collection("u", "calendar").unwrap();
        token = cal.rev();
        // More changes than items + 256: the journal is folded into the
        // snapshot at least once.
        for i in 0..300 {
            let start = format!("202603{:02}T100000Z", i % 28 + 1);
            cal.put(
                "a.ics",
                event("a", &start, None).as_bytes(),
                &Conditions::default(),
            )
            .unwrap();
        }
        cal.put(
            "b.ics",
            event("b", "20260301T100000Z", None).as_bytes(),
            &Conditions::default(),
        )
        .unwrap();
        cal.delete("b.ics", &Conditions::default()).unwrap();
    }
    let journal = tmp.path().join("u/calendar/.Outpost.journal");
    let lines = std::fs::read_to_string(&journal)
        .map(|j| j.lines().count())
        .unwrap_or(0);
    assert!(lines < 300, "journal not compacted: {lines} lines");
    let store = Store::open(tmp.path()).unwrap();
    let cal = store.collection("u", "calendar").unwrap();
    assert_eq!(cal.rev(), token + 302);
    let ch = cal.changes_since(Some(token)).unwrap();
    assert_eq!(ch.changed.len(), 1);
    assert_eq!(ch.deleted, ["b.ics"]);
    assert_eq!(cal.meta("a.ics").unwrap().rev, token + 300);
}

#[test]
fn writers_to_different_collections_run_in_parallel_safely() {
    let tmp = tempfile::tempdir().unwrap();
    create_default_collections(tmp.path(), "u").unwrap();
    let store = std::sync::Arc::new(Store::open(tmp.path()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let coll = if t % 2 == 0 { "calendar" } else { "contacts" };
                let c = store.collection("u", coll).unwrap();
                for i in 0..25 {
                    let name = format!("t{t}-{i}");
                    let body = if coll == "calendar" {
                        event(&name, "20260301T100000Z", None)
                    } else {
                        format!("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:{name}\r\nFN:x\r\nEND:VCARD\r\n")
                    };
                    c.put(
                        &format!("{name}.x"),
                        body.as_bytes(),
                        &Conditions::default(),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let cal = store.collection("u", "calendar").unwrap();
    let book = store.collection("u", "contacts").unwrap();
    assert_eq!(cal.with_items(|m| m.len()), 50);
    assert_eq!(book.with_items(|m| m.len()), 50);
    // Every write got its own revision.
    let mut revs: Vec<u64> = cal.with_items(|m| m.values().map(|v| v.rev).collect());
    revs.sort_unstable();
    revs.dedup();
    assert_eq!(revs.len(), 50);
}

/// Regression (#18): a crash mid-append left a torn last journal line; the
/// next append was glued onto it, and every later write was skipped on the
/// next open (PUT answered 201, GET 404 after a restart).
#[test]
fn a_torn_journal_line_does_not_swallow_later_writes() {
    let put = |cal: &outpost_davstore::Collection, name: &str| {
        let (_, created) = cal
            .put(
                &format!("{name}.ics"),
                event(name, "20260301T100000Z", None).as_bytes(),
                &Conditions::default(),
            )
            .unwrap();
        assert!(created, "{name}");
    };
    // What a crash can leave after the last complete record: half of a real
    // record, a record missing only its newline, the start of one, and the
    // zeros some filesystems show for a size extended before the data.
    let tails: [fn(&str) -> Vec<u8>; 4] = [
        |line| line.as_bytes()[..line.len() / 2].to_vec(),
        |line| line.trim_end().as_bytes().to_vec(),
        |_| b"{\"rev\":".to_vec(),
        |_| vec![0; 100],
    ];
    for (i, tail) in tails.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        create_default_collections(tmp.path(), "u").unwrap();
        let journal = tmp.path().join("u/calendar/.Outpost.journal");
        {
            let store = Store::open(tmp.path()).unwrap();
            let cal = store.collection("u", "calendar").unwrap();
            put(&cal, "a");
            put(&cal, "b");
        }
        let text = std::fs::read_to_string(&journal).unwrap();
        let last = text.lines().last().unwrap().to_string() + "\n";
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap();
        std::io::Write::write_all(&mut f, &tail(&last)).unwrap();
        drop(f);
        // Two restarts, each followed by an acknowledged write.
        for name in ["c", "d"] {
            let store = Store::open(tmp.path()).unwrap();
            let cal = store.collection("u", "calendar").unwrap();
            put(&cal, name);
        }
        let store = Store::open(tmp.path()).unwrap();
        let cal = store.collection("u", "calendar").unwrap();
        for name in ["a", "b", "c", "d"] {
            let (bytes, meta) = cal
                .get(&format!("{name}.ics"))
                .unwrap_or_else(|e| panic!("tail {i}: {name}.ics lost: {e}"));
            assert_eq!(meta.uid.as_deref(), Some(name), "tail {i}");
            assert_eq!(meta.size, bytes.len() as u64, "tail {i}");
        }
        // Every line of the journal is a whole record again.
        let text = std::fs::read_to_string(&journal).unwrap();
        assert!(text.ends_with('\n'), "tail {i}: {text:?}");
        assert_eq!(text.lines().count(), 4, "tail {i}: {text:?}");
    }
}

/// Regression (#18): journals damaged by earlier versions (a record glued
/// onto a torn line, whole records after it) give those records back.
#[test]
fn records_glued_onto_a_torn_line_by_older_versions_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    create_default_collections(tmp.path(), "u").unwrap();
    {
        let store = Store::open(tmp.path()).unwrap();
        let cal = store.collection("u", "calendar").unwrap();
        for name in ["a", "b", "c", "d"] {
            cal.put(
                &format!("{name}.ics"),
                event(name, "20260301T100000Z", None).as_bytes(),
                &Conditions::default(),
            )
            .unwrap();
        }
    }
    // What the old code left: b's append torn, c's glued onto it, d after.
    let journal = tmp.path().join("u/calendar/.Outpost.journal");
    let text = std::fs::read_to_string(&journal).unwrap();
    let l: Vec<&str> = text.lines().collect();
    let damaged = format!("{}\n{}{}\n{}\n", l[0], &l[1][..l[1].len() / 2], l[2], l[3]);
    std::fs::write(&journal, damaged).unwrap();
    {
        let store = Store::open(tmp.path()).unwrap();
        let cal = store.collection("u", "calendar").unwrap();
        cal.put(
            "e.ics",
            event("e", "20260301T100000Z", None).as_bytes(),
            &Conditions::default(),
        )
        .unwrap();
    }
    let store = Store::open(tmp.path()).unwrap();
    let cal = store.collection("u", "calendar").unwrap();
    let names: Vec<String> = cal.with_items(|m| m.keys().cloned().collect());
    assert_eq!(names, ["a.ics", "c.ics", "d.ics", "e.ics"]);
}
