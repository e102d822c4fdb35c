//! The lexer against Python: expected values were generated once with
//! `shlex.split(line, comments=True)` and `str.splitlines()` (Python 3.11).

use outpost_kickstart::lex::{split_lines, split_words};

#[test]
fn shlex_table() {
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("a b c", Some(&["a", "b", "c"])),
        ("  a\tb  ", Some(&["a", "b"])),
        ("a#b c", Some(&["a"])),
        ("a #b", Some(&["a"])),
        ("#x", Some(&[])),
        ("a\"#\"b", Some(&["a#b"])),
        ("a'#'b", Some(&["a#b"])),
        ("\"a b\" c", Some(&["a b", "c"])),
        ("'a b' c", Some(&["a b", "c"])),
        ("a\\ b", Some(&["a b"])),
        ("a\\#b", Some(&["a#b"])),
        ("\"a\\\"b\"", Some(&["a\"b"])),
        ("\"a\\\\b\"", Some(&["a\\b"])),
        ("\"a\\nb\"", Some(&["a\\nb"])),
        ("'a\\nb'", Some(&["a\\nb"])),
        ("''", Some(&[""])),
        ("\"\"", Some(&[""])),
        ("x \"\" y", Some(&["x", "", "y"])),
        ("a''b", Some(&["ab"])),
        ("--opt=\"x y\"", Some(&["--opt=x y"])),
        ("--opt='x\"y'", Some(&["--opt=x\"y"])),
        ("a\\", None),
        ("\"abc", None),
        ("'abc", None),
        ("a \"b", None),
        ("\\\"", Some(&["\""])),
        ("é \"ü x\"", Some(&["é", "ü x"])),
        ("a\rb", Some(&["a", "b"])),
        ("x\\\\", Some(&["x\\"])),
        ("\"$6$abc\"", Some(&["$6$abc"])),
        ("a=b#c", Some(&["a=b"])),
        ("--gecos=\"O'Brien # 1\"", Some(&["--gecos=O'Brien # 1"])),
        ("\"a\"'b'c", Some(&["abc"])),
        ("a\\'b", Some(&["a'b"])),
        ("\"#\" # c", Some(&["#"])),
        ("\u{0b}foo", Some(&["\u{0b}foo"])),
        ("a\x0cb", Some(&["a\x0cb"])),
    ];
    for (line, expected) in cases {
        let got = split_words(line, true)
            .ok()
            .map(|w| w.into_iter().map(|w| w.text).collect::<Vec<_>>());
        let expected = expected.map(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(got, expected, "shlex.split({line:?}, comments=True)");
    }
}

#[test]
fn columns_point_at_words_and_open_quotes() {
    let w = split_words("part  /  --size=5", true).unwrap();
    let cols: Vec<u32> = w.iter().map(|w| w.col).collect();
    assert_eq!(cols, [1, 7, 10]);
    let e = split_words("user --gecos=\"Al", true).unwrap_err();
    assert_eq!((e.col, e.message.as_str()), (14, "no closing quotation"));
    let e = split_words("é 'x", true).unwrap_err();
    assert_eq!(e.col, 3, "columns count characters, not bytes");
}

#[test]
fn splitlines_table() {
    let cases: &[(&str, &[&str])] = &[
        ("a\nb", &["a", "b"]),
        ("a\r\nb", &["a", "b"]),
        ("a\rb", &["a", "b"]),
        ("a\n", &["a"]),
        ("a\n\n", &["a", ""]),
        ("", &[]),
        ("a\u{0b}b\x0cc", &["a", "b", "c"]),
        ("a\u{1c}b\u{85}c\u{2028}d", &["a", "b", "c", "d"]),
        ("\n", &[""]),
    ];
    for (text, expected) in cases {
        assert_eq!(split_lines(text), *expected, "{text:?}.splitlines()");
    }
}

#[test]
fn quote_round_trips() {
    for v in [
        "plain",
        "a b",
        "#x",
        "it's",
        "say \"hi\"",
        "back\\slash",
        "",
        "$6$a$b",
        "{local}@x.com",
    ] {
        let q = outpost_kickstart::print::val(v);
        let back = split_words(&q, true).unwrap();
        assert_eq!(back.len(), 1, "{v:?} quoted as {q}");
        assert_eq!(back[0].text, v, "{v:?} quoted as {q}");
        let q = outpost_kickstart::lex::quote(v);
        assert_eq!(
            split_words(&q, true).unwrap()[0].text,
            v,
            "shlex.quote({v:?}) = {q}"
        );
    }
}
