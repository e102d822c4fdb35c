//! The attachment policy over a table of hostile and benign messages.

use outpost_config::hygiene::Attachments;
use outpost_hygiene::attach::blocked;

/// A multipart/mixed message: a text part, then each (headers, body).
fn mail(parts: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut m = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: files\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=b=\"\r\n\r\n\
--=b=\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        .to_vec();
    for (headers, body) in parts {
        m.extend_from_slice(b"--=b=\r\n");
        m.extend_from_slice(headers.as_bytes());
        m.extend_from_slice(b"\r\n\r\n");
        m.extend_from_slice(body);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--=b=--\r\n");
    m
}

fn named(name: &str, body: &[u8]) -> (String, Vec<u8>) {
    (
        format!(
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64"
        ),
        base64(body).into_bytes(),
    )
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for j in 0..4 {
            if j <= c.len() {
                out.push(T[(n >> (18 - 6 * j) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The first bytes of a Windows PE: a DOS header whose `e_lfanew` (0x3c)
/// points at `PE\0\0`.
fn pe() -> Vec<u8> {
    let mut b = vec![0u8; 0x100];
    b[0] = b'M';
    b[1] = b'Z';
    b[0x3c] = 0x80;
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    b
}

/// A zip archive (stored, no compression) of `names`, each holding "hi".
fn zip(names: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for n in names {
        let offset = out.len() as u32;
        let local = |sig: &[u8], central: bool| {
            let mut h = sig.to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            h.extend_from_slice(&20u16.to_le_bytes()); // needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&0u16.to_le_bytes()); // stored
            h.extend_from_slice(&0u32.to_le_bytes()); // time, date
            h.extend_from_slice(&0u32.to_le_bytes()); // crc (unchecked)
            h.extend_from_slice(&2u32.to_le_bytes());
            h.extend_from_slice(&2u32.to_le_bytes());
            h.extend_from_slice(&(n.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                h.extend_from_slice(&0u16.to_le_bytes()); // comment
                h.extend_from_slice(&0u16.to_le_bytes()); // disk
                h.extend_from_slice(&0u16.to_le_bytes()); // internal
                h.extend_from_slice(&0u32.to_le_bytes()); // external
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(n.as_bytes());
            h
        };
        out.extend(local(b"PK\x03\x04", false));
        out.extend_from_slice(b"hi");
        central.extend(local(b"PK\x01\x02", true));
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(names.len() as u16).to_le_bytes());
    out.extend_from_slice(&(names.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn check(policy: &Attachments, cases: &[(&str, Vec<u8>, Option<&str>)]) {
    let mut failed = Vec::new();
    for (what, msg, want) in cases {
        let got = blocked(msg, policy);
        if got.as_deref() != *want {
            failed.push(format!("{what}:\n  want {want:?}\n  got  {got:?}"));
        }
        if let Some(r) = &got {
            assert!(
                r.bytes().all(|b| (b' '..=b'~').contains(&b)) && r.len() < 200,
                "{r:?}"
            );
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn hostile_and_benign_attachments() {
    let p = Attachments::default();
    let one = |h: (String, Vec<u8>)| mail(&[(h.0.as_str(), h.1)]);
    let nested_inner = mail(&[(
        named("payload.scr", b"harmless").0.as_str(),
        base64(b"harmless").into_bytes(),
    )]);
    let nested = mail(&[("Content-Type: message/rfc822", nested_inner)]);
    let mut deep = Vec::new();
    for _ in 0..150 {
        deep.extend_from_slice(b"Subject: x\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    deep.extend_from_slice(b"Subject: inner\r\n\r\nhello\r\n");
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".to_vec();

    check(
        &p,
        &[
            (
                "exe by name",
                one(named("x.exe", b"harmless")),
                Some("attachment \"x.exe\" is a blocked type (.exe)"),
            ),
            (
                "double extension",
                one(named("invoice.pdf.exe", b"harmless")),
                Some("attachment \"invoice.pdf.exe\" is a blocked type (.exe)"),
            ),
            (
                "upper case",
                one(named("SETUP.EXE", b"harmless")),
                Some("attachment \"SETUP.EXE\" is a blocked type (.exe)"),
            ),
            (
                "trailing dot and space",
                one(named("run.bat. ", b"harmless")),
                Some("attachment \"run.bat. \" is a blocked type (.bat)"),
            ),
            (
                "RFC 2231 name",
                mail(&[(
                    "Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*=utf-8''r%C3%A9sum%C3%A9.pdf.js",
                    b"harmless".to_vec(),
                )]),
                Some("attachment \"r?sum?.pdf.js\" is a blocked type (.js)"),
            ),
            (
                "RFC 2231 continuations",
                mail(&[(
                    "Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*0=\"quarterly-\";\r\n filename*1=\"report.vbs\"",
                    b"harmless".to_vec(),
                )]),
                Some("attachment \"quarterly-report.vbs\" is a blocked type (.vbs)"),
            ),
            (
                "RFC 2047 name in Content-Type",
                mail(&[(
                    "Content-Type: application/octet-stream; name=\"=?utf-8?B?cGhvdG8uc2Ny?=\"",
                    b"harmless".to_vec(),
                )]),
                Some("attachment \"photo.scr\" is a blocked type (.scr)"),
            ),
            (
                "name and filename disagree",
                mail(&[(
                    "Content-Type: application/octet-stream; name=\"tool.exe\"\r\nContent-Disposition: attachment; filename=\"tool.txt\"",
                    b"harmless".to_vec(),
                )]),
                Some("attachment \"tool.exe\" is a blocked type (.exe)"),
            ),
            (
                "PE bytes as .txt",
                one(named("readme.txt", &pe())),
                Some("attachment \"readme.txt\" is an executable (Windows PE)"),
            ),
            (
                "PE bytes labelled text/plain",
                mail(&[(
                    "Content-Type: text/plain; charset=us-ascii; name=\"notes.txt\"\r\nContent-Transfer-Encoding: base64",
                    base64(&pe()).into_bytes(),
                )]),
                Some("attachment \"notes.txt\" is an executable (Windows PE)"),
            ),
            (
                "ELF without a name",
                mail(&[(
                    "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64",
                    base64(b"\x7fELF\x02\x01\x01\0\0\0").into_bytes(),
                )]),
                Some("attachment (unnamed) is an executable (ELF)"),
            ),
            (
                "Mach-O",
                one(named("app.bin", b"\xcf\xfa\xed\xfe\x07\0\0\x01\x03\0\0\0")),
                Some("attachment \"app.bin\" is an executable (Mach-O)"),
            ),
            (
                "shell script",
                one(named("install.txt", b"#!/bin/sh\nrm -rf ~\n")),
                Some("attachment \"install.txt\" is an executable (script)"),
            ),
            (
                "zip holding an exe",
                one(named(
                    "docs.zip",
                    &zip(&["docs/readme.txt", "docs/setup.exe"]),
                )),
                Some("attachment \"docs.zip\" contains \"docs/setup.exe\", a blocked type (.exe)"),
            ),
            (
                "zip of documents",
                one(named("docs.zip", &zip(&["a.pdf", "b.txt"]))),
                None,
            ),
            (
                "nested message/rfc822",
                nested,
                Some("attachment \"payload.scr\" is a blocked type (.scr)"),
            ),
            ("harmless pdf", one(named("report.pdf", &pdf)), None),
            (
                "plain mail quoting a script",
                b"Subject: x\r\n\r\n#!/bin/sh\necho hi\r\n".to_vec(),
                None,
            ),
            ("no headers at all", b"just text".to_vec(), None),
            (
                "deep nesting",
                deep,
                Some("the message nests deeper than 100 levels and cannot be checked"),
            ),
            (
                "hostile name is sanitised",
                mail(&[(
                    "Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*=utf-8''a%22b%5Cc%E2%80%AEfdp.exe",
                    b"harmless".to_vec(),
                )]),
                Some("attachment \"a'b/c?fdp.exe\" is a blocked type (.exe)"),
            ),
        ],
    );
}

#[test]
fn the_policy_switches() {
    let off = Attachments {
        enabled: false,
        ..Attachments::default()
    };
    let exe = mail(&[(named("x.exe", &pe()).0.as_str(), base64(&pe()).into_bytes())]);
    assert_eq!(blocked(&exe, &off), None);

    let names_only = Attachments {
        block_sniffed: false,
        ..Attachments::default()
    };
    let disguised = mail(&[(
        named("readme.txt", &pe()).0.as_str(),
        base64(&pe()).into_bytes(),
    )]);
    assert_eq!(blocked(&disguised, &names_only), None);
    assert!(blocked(&exe, &names_only).is_some());

    let custom = Attachments {
        block_extensions: vec!["PDF".into()],
        ..Attachments::default()
    };
    let pdf = mail(&[(
        named("a.pdf", b"%PDF-").0.as_str(),
        base64(b"%PDF-").into_bytes(),
    )]);
    assert_eq!(
        blocked(&pdf, &custom).as_deref(),
        Some("attachment \"a.pdf\" is a blocked type (.pdf)")
    );
}
