//! `%include` and `%ksappend`: splicing, relative paths, positions in the
//! included file, cycles, depth and missing files.

use crate::support::TempDir;
use outpost_kickstart::{parse_file, print::flatten};

#[test]
fn include_at_top_level_and_inside_sections() {
    let d = TempDir::new("inc");
    d.write("net.ks", "network --hostname=h.lan\n");
    d.write("pkgs.ks", "vim\n");
    std::fs::create_dir_all(d.0.join("sub")).unwrap();
    d.write(
        "sub/post.ks",
        "echo from-include\n%include ../pkgs-comment.ks\n",
    );
    d.write("pkgs-comment.ks", "# comment inside a script is kept\n");
    let top = d.write(
        "top.ks",
        "%include net.ks\n%ksappend pkgs-append.ks\n%packages\n%include pkgs.ks\n%end\n%post\n  %include sub/post.ks\n%end\n",
    );
    d.write("pkgs-append.ks", "lang en_US\n");
    let p = parse_file(&top).unwrap_or_else(|e| panic!("{e}"));
    let k = &p.kickstart;
    assert_eq!(k.network[0].hostname.as_deref(), Some("h.lan"));
    assert_eq!(k.lang.as_ref().unwrap().lang, "en_US");
    assert_eq!(k.packages.as_ref().unwrap().packages, ["vim"]);
    assert_eq!(
        k.scripts[0].body,
        "echo from-include\n# comment inside a script is kept\n"
    );
    assert!(!flatten(k).contains("%include"));
}

#[test]
fn errors_point_into_the_included_file() {
    let d = TempDir::new("incerr");
    d.write("bad.ks", "# fine\nlang en_US\npart / --size=big\n");
    let top = d.write("top.ks", "text\n%include bad.ks\n");
    let e = parse_file(&top).unwrap_err();
    let first = e.first_error().unwrap();
    assert_eq!(first.path, d.0.join("bad.ks").display().to_string());
    assert_eq!((first.line, first.col), (3, 8));
}

#[test]
fn cycles_depth_and_missing_files_are_errors() {
    let d = TempDir::new("cyc");
    d.write("a.ks", "%include b.ks\n");
    d.write("b.ks", "%include a.ks\n");
    let e = parse_file(&d.0.join("a.ks")).unwrap_err().to_string();
    assert!(e.contains("include cycle"), "{e}");
    assert!(e.contains("b.ks:1:10: error"), "{e}");

    // A chain deeper than the limit.
    for i in 0..40 {
        d.write(&format!("n{i}.ks"), &format!("%include n{}.ks\n", i + 1));
    }
    d.write("n40.ks", "text\n");
    let e = parse_file(&d.0.join("n0.ks")).unwrap_err().to_string();
    assert!(e.contains("nested too deep"), "{e}");

    let top = d.write("m.ks", "%include missing.ks\n");
    let e = parse_file(&top).unwrap_err().to_string();
    assert!(e.contains("m.ks:1:10: error: %include: cannot open"), "{e}");
}

#[test]
fn missing_top_file_and_non_utf8() {
    let e = parse_file(std::path::Path::new("/nonexistent/x.ks"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/nonexistent/x.ks:0:0: error: cannot open"),
        "{e}"
    );
    let d = TempDir::new("utf");
    let p = d.0.join("b.ks");
    std::fs::write(&p, b"lang en\n\xff\n").unwrap();
    let e = parse_file(&p).unwrap_err().to_string();
    assert!(e.contains("is not UTF-8"), "{e}");
}

#[test]
fn diagnostics_come_in_reading_order_across_includes() {
    let d = TempDir::new("order");
    d.write("mid.ks", "bogus\n");
    let top = d.write("top.ks", "lang\n%include mid.ks\n%include gone.ks\nfoo\n");
    let e = parse_file(&top).unwrap_err();
    let got: Vec<(String, u32)> = e
        .errors()
        .map(|x| (x.path.rsplit('/').next().unwrap().to_string(), x.line))
        .collect();
    let want = [("top.ks", 1), ("top.ks", 3), ("top.ks", 4), ("mid.ks", 1)];
    let want: Vec<(String, u32)> = want.iter().map(|(f, l)| (f.to_string(), *l)).collect();
    assert_eq!(got, want);
}
