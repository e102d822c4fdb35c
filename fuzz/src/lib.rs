//! `outpost-fuzz`: coverage-guided fuzz targets for every parser and
//! session that hostile bytes reach (issue 10), and the replay of their
//! seed corpora and past crashes as an ordinary test.
//!
//! Harness: libFuzzer through `libfuzzer-sys`, on the stable toolchain.
//! `cargo xtask fuzz` builds this crate with `--features fuzzing` and
//! rustc's own sanitizer-coverage passes (`-Cpasses=sancov-module` and the
//! `-Cllvm-args=-sanitizer-coverage-*` options that `cargo fuzz` passes on
//! nightly), which stable 1.95 accepts; no nightly, no AFL++ fork server,
//! and one instrumented binary serves every target (chosen by
//! `OUTPOST_FUZZ_TARGET`). Why not `cargo afl`: it needs AFL++'s compiler
//! plugin and a persistent-mode runtime that Debian 12's afl++ does not
//! match for rustc 1.95's LLVM.
//!
//! Each target is a plain `fn(&[u8])` that panics only on a real defect:
//! a crash, a broken round trip, or a session that does not end after the
//! client's EOF. Seeds live in `fuzz/corpus/<target>/`, crashes that were
//! found and fixed in `fuzz/regressions/<target>/`; `tests/replay.rs` runs
//! all of them on every `cargo test`.

#![deny(missing_docs)]

mod dav;
mod sessions;

/// One fuzz target.
#[derive(Debug)]
pub struct Target {
    /// Its name (`cargo xtask fuzz NAME`, the corpus directory).
    pub name: &'static str,
    /// What it feeds, for `--list`.
    pub about: &'static str,
    /// Runs one input.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "kickstart",
        about: "answer-file parser and validator; flatten(parse(x)) must parse and be a fixed point",
        run: kickstart,
    },
    Target {
        name: "imap_command",
        about: "IMAP framing (literals, limits), tokenizer, FETCH items, SEARCH keys, sequence sets, mUTF-7; POP3 command lines",
        run: imap_command,
    },
    Target {
        name: "mime",
        about: "bounded MIME parsing, ENVELOPE, BODYSTRUCTURE, BODY[section] and BINARY[section]",
        run: mime,
    },
    Target {
        name: "dav_xml",
        about: "WebDAV/CalDAV/CardDAV XML bodies; serialising a parsed tree must parse again",
        run: dav_xml,
    },
    Target {
        name: "dav_request",
        about: "whole DAV requests (method, path, Depth/Destination/If/Overwrite headers, iCalendar/vCard PUT bodies, REPORTs) against a real store",
        run: dav::request,
    },
    Target {
        name: "smtp_session",
        about: "an SMTP session on the MX or submission listener, byte stream in, until EOF",
        run: sessions::smtp,
    },
    Target {
        name: "imap_session",
        about: "an IMAP session (odd first byte: logged in with INBOX selected), until EOF",
        run: sessions::imap,
    },
    Target {
        name: "pop3_session",
        about: "a POP3 session (odd first byte: logged in), until EOF",
        run: sessions::pop3,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Runs `data` through the target named by `OUTPOST_FUZZ_TARGET` (the
/// libFuzzer binary's entry).
pub fn run_selected(data: &[u8]) {
    static SELECTED: std::sync::OnceLock<&'static Target> = std::sync::OnceLock::new();
    let t = SELECTED.get_or_init(|| {
        let name = std::env::var("OUTPOST_FUZZ_TARGET").unwrap_or_default();
        target(&name).unwrap_or_else(|| {
            let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            panic!(
                "OUTPOST_FUZZ_TARGET={name:?} is not a target (one of {})",
                names.join(", ")
            )
        })
    });
    (t.run)(data);
}

fn kickstart(data: &[u8]) {
    use outpost_kickstart::{parse_str, print::flatten};
    let text = String::from_utf8_lossy(data);
    let Ok(parsed) = parse_str("fuzz.ks", &text) else {
        return;
    };
    let flat = flatten(&parsed.kickstart);
    let again = match parse_str("flat.ks", &flat) {
        Ok(p) => p,
        Err(e) => panic!("the flattened file does not parse:\n{flat}\n{e}"),
    };
    assert_eq!(
        flatten(&again.kickstart),
        flat,
        "flatten is not a fixed point"
    );
}

fn imap_command(data: &[u8]) {
    use outpost_imapd::parse::{Event, Reader, Tok, parse_command};
    use outpost_imapd::{fetch, search, seqset::SeqSet, utf7};
    let mut r = Reader::new(8192, 8192, 32 * 1024);
    // Fed in two pieces, so incremental framing is exercised too.
    let cut = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    r.feed(&data[..cut]);
    let mut events = Vec::new();
    while let Some(e) = r.next_event() {
        events.push(e);
    }
    r.feed(&data[cut..]);
    while let Some(e) = r.next_event() {
        events.push(e);
    }
    for e in events {
        let Event::Frame(f) = e else { continue };
        let Ok(cmd) = parse_command(&f) else { continue };
        // The typed command (what the session dispatches on) and its
        // sequence sets resolved as a session would.
        if let Ok(t) = outpost_imap_proto::command::parse(cmd.clone()) {
            use outpost_imap_proto::Command as C;
            match &t.command {
                C::Fetch { set, .. } | C::Store { set, .. } | C::Copy { set, .. } => {
                    let _ = set.resolve(1000).map(|s| s.size());
                }
                C::Expunge(Some(set)) => {
                    let _ = set.resolve(u32::MAX).map(|s| s.size());
                }
                _ => {}
            }
        }
        for a in &cmd.args {
            let _ = fetch::parse_atts(a);
            if let Some(t) = a.text() {
                let _ = SeqSet::parse(&t, 1000).map(|s| s.size());
                if let Some(d) = utf7::decode(&t) {
                    let _ = utf7::encode(&d);
                }
                let _ = utf7::encode(&t);
            }
        }
        let _ = search::parse_keys(&cmd.args, 1000, 5000, 64);
        if let Some(Tok::List(l)) = cmd.args.first() {
            let _ = search::parse_keys(l, 1000, 5000, 64);
        }
    }
    // The same bytes as POP3 command lines, decoded as the session does.
    for line in data.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let _ = outpost_imap_proto::parse_pop3(&String::from_utf8_lossy(line));
    }
}

fn mime(data: &[u8]) {
    use outpost_imapd::mime::{self, Section};
    let _ = outpost_mime::exceeds(data, outpost_mime::DEFAULT_MAX_DEPTH);
    let _ = mime::header_block(data);
    let parsed = mime::parse(data);
    let mut out = Vec::new();
    if let Some(m) = &parsed {
        mime::envelope(&mut out, m);
        mime::bodystructure(&mut out, m, true);
        mime::bodystructure(&mut out, m, false);
    }
    for s in [
        "",
        "TEXT",
        "HEADER",
        "1",
        "2",
        "1.1",
        "1.2.1",
        "1.MIME",
        "2.HEADER",
        "1.TEXT",
        "HEADER.FIELDS (SUBJECT FROM)",
        "HEADER.FIELDS.NOT (TO)",
    ] {
        if let Some(sec) = Section::parse(s) {
            let _ = mime::section(data, parsed.as_ref(), &sec);
        }
    }
    for path in [&[][..], &[1], &[2], &[1, 1], &[1, 2, 1]] {
        let _ = mime::binary(data, parsed.as_ref(), path);
    }
}

fn dav_xml(data: &[u8]) {
    use outpost_webd::xml;
    let Ok(e) = xml::parse(data) else { return };
    let text = e.to_xml();
    let again = match xml::parse(text.as_bytes()) {
        Ok(a) => a,
        Err(err) => panic!("serialised XML does not parse: {err}\n{text}"),
    };
    assert_eq!(
        again.to_xml(),
        text,
        "XML serialisation is not a fixed point"
    );
}
