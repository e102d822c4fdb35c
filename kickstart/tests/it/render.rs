//! The renderer: the embedded default site, awkward values, and errors
//! that name the site file or the template.

use outpost_kickstart::render::{RenderError, render_default, render_site};
use outpost_kickstart::{Password, parse_str};

#[test]
fn default_site_renders_a_valid_answer_file() {
    let text = render_default().unwrap_or_else(|e| panic!("{e}"));
    let k = parse_str("default.ks", &text).unwrap().kickstart;
    let a = k.outpost.as_ref().unwrap();
    assert_eq!(a.domains, ["outpost.lan"]);
    assert_eq!(a.users[0].name, "admin");
    assert!(k.autopart.is_some(), "whole-disk autopart");
    assert!(k.zerombr && k.clearpart.is_some());
    assert_eq!(
        k.finish.unwrap().action,
        outpost_kickstart::FinishAction::Reboot
    );
    assert_eq!(a.services.as_ref().unwrap().len(), 4);
}

#[test]
fn awkward_values_survive_the_round_trip() {
    let yaml = r#"
domain: example.org
users:
  - name: o.neil
    full_name: "Bob \"The Builder\" O'Neil #1"
    password_hash: "$6$sa lt$ha#sh\\x"
    aliases: [bob]
    quota: 1G
  - name: eve
    password: "p#ss w'o\"rd"
upstreams:
  - kind: smarthost
    host: smtp.example.com:587
    secret: "se cret#"
disk:
  layout: plain
  fstype: xfs
  only_use: [vda]
post: |
  echo "hello # world" > /root/x


  exit 0
"#;
    let text = render_site(yaml, "site.yaml").unwrap_or_else(|e| panic!("{e}"));
    let k = parse_str("r.ks", &text).unwrap().kickstart;
    let a = k.outpost.unwrap();
    assert_eq!(
        a.users[0].full_name.as_deref(),
        Some("Bob \"The Builder\" O'Neil #1")
    );
    assert_eq!(
        a.users[0].password,
        Some(Password::Hash("$6$sa lt$ha#sh\\x".into()))
    );
    assert_eq!(
        a.users[1].password,
        Some(Password::Plain("p#ss w'o\"rd".into()))
    );
    assert_eq!(a.upstreams[0].secret.as_deref(), Some("se cret#"));
    assert_eq!(
        k.scripts[0].body, "echo \"hello # world\" > /root/x\n\n\nexit 0\n",
        "the post script is kept verbatim, blank lines included"
    );
    assert_eq!(k.partitions.len(), 3);
    assert_eq!(k.ignoredisk.unwrap().onlyuse, ["vda"]);
}

#[test]
fn site_errors_name_the_file_line_and_column() {
    let e = render_site("domain: a.lan\nhostnme: x\n", "site.yaml").unwrap_err();
    let s = e.to_string();
    assert!(
        s.starts_with("site.yaml:2:1: error: unknown field `hostnme`"),
        "{s}"
    );
    let e = render_site("domain: a.lan\nfinish: explode\n", "site.yaml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "site.yaml:0:0: error: finish: \"explode\" is not one of reboot, poweroff, halt, shutdown"
    );
    let e = render_site("domain: a.lan\npost: \"%end\\n\"\n", "s.yaml").unwrap_err();
    assert!(e.to_string().contains("would end the %post section"), "{e}");
}

#[test]
fn a_line_break_in_a_value_is_refused_by_the_quoting_filter() {
    let e = render_site(
        "domain: a.lan\nusers:\n  - name: a\n    full_name: \"x\\nrootpw y\"\n",
        "s.yaml",
    )
    .unwrap_err();
    assert!(matches!(e, RenderError::Template { .. }), "{e:?}");
    assert!(
        e.to_string().contains("kickstart values cannot span lines"),
        "{e}"
    );
}

#[test]
fn an_invalid_rendered_file_names_the_template_and_the_error() {
    // A domain the addon rejects gets through the site schema, so the
    // kickstart parser is what catches it.
    let e = render_site("domain: -bad-\n", "s.yaml").unwrap_err();
    match &e {
        RenderError::Invalid {
            template,
            diagnostics,
            ..
        } => {
            assert_eq!(template, "outpost.ks.tera");
            assert!(
                diagnostics.to_string().starts_with("outpost.ks.tera:"),
                "{diagnostics}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(
        e.to_string()
            .starts_with("template outpost.ks.tera rendered an invalid answer file:\n"),
        "{e}"
    );
}
