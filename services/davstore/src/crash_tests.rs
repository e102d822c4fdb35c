//! Crash-point tests (#19): every multi-step item change (PUT, DELETE,
//! MOVE) is run with a crash injected after step k, for every k, then the
//! collection is reopened as a restarted daemon would, and must show either
//! the state before the change or the state after it, with the index
//! consistent with the files; a later write must survive another restart.
//! The same with an I/O error instead of the crash, in the running store.

use super::*;
use fault::Fault;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// An item as the index and its file show it: (name, UID, SUMMARY).
type Seen = (String, String, String);

fn event(uid: &str, summary: &str) -> Vec<u8> {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nDURATION:PT1H\r\n\
         SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    .into_bytes()
}

/// One multi-step operation: the items before it, the operation, and the
/// items after it (each `(name, uid, summary)`).
struct Case {
    name: &'static str,
    before: &'static [(&'static str, &'static str, &'static str)],
    op: fn(&Collection) -> Result<()>,
    after: &'static [(&'static str, &'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "put a new item",
        before: &[("a.ics", "a", "one")],
        op: |c| {
            c.put("b.ics", &event("b", "one"), &Conditions::default())
                .map(drop)
        },
        after: &[("a.ics", "a", "one"), ("b.ics", "b", "one")],
    },
    Case {
        name: "put over an item",
        before: &[("a.ics", "a", "one")],
        op: |c| {
            c.put("a.ics", &event("a", "version two"), &Conditions::default())
                .map(drop)
        },
        after: &[("a.ics", "a", "version two")],
    },
    Case {
        name: "delete",
        before: &[("a.ics", "a", "one"), ("b.ics", "b", "one")],
        op: |c| c.delete("a.ics", &Conditions::default()),
        after: &[("b.ics", "b", "one")],
    },
    Case {
        name: "move",
        before: &[("a.ics", "a", "one"), ("c.ics", "c", "one")],
        op: |c| c.rename_item("a.ics", "b.ics", false).map(drop),
        after: &[("b.ics", "a", "one"), ("c.ics", "c", "one")],
    },
    Case {
        name: "move over an item",
        before: &[("a.ics", "a", "one"), ("b.ics", "b", "two")],
        op: |c| c.rename_item("a.ics", "b.ics", true).map(drop),
        after: &[("b.ics", "a", "one")],
    },
];

fn seen(list: &[(&str, &str, &str)]) -> Vec<Seen> {
    list.iter()
        .map(|(n, u, s)| (n.to_string(), u.to_string(), s.to_string()))
        .collect()
}

/// What `store` shows of the collection, after checking that the index and
/// the files agree: every indexed item reads back with its indexed size and
/// UID, no item file is outside the index, no stage or other temporary file
/// is left, and no UID is there twice.
fn check(store: &Store, what: &str) -> Vec<Seen> {
    let cal = store
        .collection("u", "calendar")
        .unwrap_or_else(|e| panic!("{what}: open: {e}"));
    let names: Vec<String> = cal.with_items(|m| m.keys().cloned().collect());
    let mut out = Vec::new();
    for n in &names {
        let (bytes, meta) = cal
            .get(n)
            .unwrap_or_else(|e| panic!("{what}: {n} indexed but unreadable: {e}"));
        assert_eq!(meta.size, bytes.len() as u64, "{what}: size of {n}");
        let a = item::analyze_calendar(&bytes).unwrap();
        assert_eq!(meta.uid, a.uid, "{what}: UID of {n}");
        let text = String::from_utf8(bytes).unwrap();
        let summary = text
            .lines()
            .find_map(|l| l.strip_prefix("SUMMARY:"))
            .unwrap()
            .to_string();
        out.push((n.clone(), a.uid.unwrap(), summary));
    }
    let mut uids: Vec<&String> = out.iter().map(|s| &s.1).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), out.len(), "{what}: a UID twice: {out:?}");
    let mut files: Vec<String> = fs::read_dir(cal.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let meta_files = [PROPS_FILE, INDEX_FILE, JOURNAL_FILE];
    let (hidden, items): (Vec<String>, Vec<String>) =
        files.into_iter().partition(|f| f.starts_with('.'));
    assert_eq!(items, names, "{what}: item files vs index");
    for h in hidden {
        assert!(meta_files.contains(&h.as_str()), "{what}: left behind: {h}");
    }
    out
}

/// [`check`] on a freshly opened store (a restarted daemon).
fn reopen_and_check(root: &Path, what: &str) -> Vec<Seen> {
    check(&Store::open(root).unwrap(), what)
}

/// How a run of an operation ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Done,
    Crashed,
    Failed,
}

/// Runs `case.op` on a fresh collection with `fault` armed (`None`: no
/// fault); returns the store it ran in, how it ended and the steps counted.
fn run(root: &Path, case: &Case, fault: Option<(usize, Fault)>) -> (Store, End, usize) {
    create_default_collections(root, "u").unwrap();
    {
        let store = Store::open(root).unwrap();
        let cal = store.collection("u", "calendar").unwrap();
        for (n, u, s) in case.before {
            cal.put(n, &event(u, s), &Conditions::default()).unwrap();
        }
    }
    let store = Store::open(root).unwrap();
    let cal = store.collection("u", "calendar").unwrap();
    fault::arm(fault);
    let r = catch_unwind(AssertUnwindSafe(|| (case.op)(&cal)));
    let steps = fault::steps();
    fault::arm(None);
    let end = match r {
        Ok(Ok(())) => End::Done,
        Ok(Err(_)) => End::Failed,
        Err(_) => End::Crashed,
    };
    (store, end, steps)
}

/// Regression (#19): a crash part-way through MOVE (and PUT) left an item
/// in the index without its file, or its file without (or with another)
/// index entry. After a crash or an I/O error at any step, the collection
/// shows the state before the change or after it, consistently, both in
/// the running store and after a restart, and keeps later writes.
#[test]
fn a_crash_at_any_step_of_an_item_change_leaves_the_old_or_the_new_item() {
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        let (store, end, steps) = run(tmp.path(), case, None);
        assert!(end == End::Done && steps > 0, "{}: {end:?}", case.name);
        assert_eq!(check(&store, case.name), seen(case.after), "{}", case.name);
        for k in 1..=steps {
            for fault in [Fault::Crash, Fault::Fail] {
                let what = format!("{}, {fault:?} at step {k} of {steps}", case.name);
                let tmp = tempfile::tempdir().unwrap();
                let (store, end, _) = run(tmp.path(), case, Some((k, fault)));
                let state = match fault {
                    Fault::Crash => {
                        assert_eq!(end, End::Crashed, "{what}");
                        drop(store);
                        reopen_and_check(tmp.path(), &what)
                    }
                    Fault::Fail => {
                        assert_eq!(end, End::Failed, "{what}");
                        // The running daemon sees a consistent collection,
                        // and the disk agrees with it.
                        let state = check(&store, &what);
                        drop(store);
                        assert_eq!(reopen_and_check(tmp.path(), &what), state, "{what}");
                        state
                    }
                };
                assert!(
                    state == seen(case.before) || state == seen(case.after),
                    "{what}: neither before nor after: {state:?}"
                );
                // The collection takes writes again, and keeps them.
                {
                    let store = Store::open(tmp.path()).unwrap();
                    let cal = store.collection("u", "calendar").unwrap();
                    cal.put("z.ics", &event("z", "later"), &Conditions::default())
                        .unwrap_or_else(|e| panic!("{what}: later put: {e}"));
                }
                let mut expect = state;
                expect.push(("z.ics".into(), "z".into(), "later".into()));
                assert_eq!(reopen_and_check(tmp.path(), &what), expect, "{what}");
            }
        }
    }
}
