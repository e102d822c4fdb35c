//! The renderer: the embedded default site, awkward values, and errors
//! that name the site file or the template.

use outpost_kickstart::render::{
    DEFAULT_SITE, RenderError, render_default, render_site, render_site_checked,
};
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
    password_hash: "$argon2id$p#ss w'o\"rd"
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
        Some(Password::Hash("$argon2id$p#ss w'o\"rd".into()))
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

#[test]
fn default_site_carries_no_password() {
    // Regression (#24): the default site gave `admin` the password
    // `outpost`, so every appliance built from it shared its credentials.
    let text = render_default().unwrap_or_else(|e| panic!("{e}"));
    let k = parse_str("default.ks", &text).unwrap().kickstart;
    let a = k.outpost.as_ref().unwrap();
    assert!(!a.users.is_empty());
    for u in &a.users {
        assert_eq!(u.password, None, "user {} has a password", u.name);
    }
    assert!(!text.contains("--password"), "{text}");
    assert!(!DEFAULT_SITE.contains("password:"), "{DEFAULT_SITE}");
    // The build's check of an image's answer file has nothing to refuse.
    let never = |_: &str, _: &str| -> Result<bool, String> { panic!("no hash to verify") };
    assert_eq!(
        outpost_kickstart::passwords::check_for_image(&k, &never),
        []
    );
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    // The ISO is reproducible: nothing random or time-dependent reaches
    // the answer file (the first-boot password is made on the appliance).
    let yes = |_: &str, _: &str| -> Result<bool, String> { Ok(false) };
    let a = render_default().unwrap();
    assert_eq!(a.as_bytes(), render_default().unwrap().as_bytes());
    let b = render_site_checked(DEFAULT_SITE, "default-site.yaml", &yes).unwrap();
    assert_eq!(a.as_bytes(), b.as_bytes());
}

#[test]
fn a_clear_text_site_password_fails_with_file_line_col() {
    // Regression (#24): a site's `password:` went onto the ISO in clear.
    let yaml = "domain: a.lan\nusers:\n  - name: eve\n    password: \"Tr0ub4dor&3-long-enough\"\n";
    let e = render_site(yaml, "site.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with(
            "site.yaml:4:15: error: users[0].password: a site file must not hold a clear-text password"
        ),
        "{e}"
    );
    assert!(
        e.contains("password_hash") && e.contains("first boot"),
        "{e}"
    );
    // A second user, flow style: still the value's own position.
    let yaml = "domain: a.lan\nusers:\n  - {name: a}\n  - {name: b, password: x}\n";
    let e = render_site(yaml, "s.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with("s.yaml:4:25: error: users[1].password:"),
        "{e}"
    );
}

#[test]
fn a_site_password_hash_must_be_one_the_directory_verifies() {
    let yaml = "domain: a.lan\nusers:\n  - name: eve\n    password_hash: '$1$md5$crypt'\n";
    let e = render_site(yaml, "site.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with("site.yaml:4:20: error: users[0].password_hash: not an argon2 PHC string"),
        "{e}"
    );
}

/// A stand-in for argon2 in this crate's tests: `$argon2id$fake$PW` is the
/// hash of PW.
fn fake_verify(hash: &str, candidate: &str) -> Result<bool, String> {
    match hash.strip_prefix("$argon2id$fake$") {
        Some(pw) => Ok(pw == candidate),
        None => Err("not a fake hash".into()),
    }
}

#[test]
fn a_weak_site_password_fails_with_file_line_col() {
    // Regression (#24): a weak password (here the old default, `outpost`,
    // then the user name, then the domain) must fail the build, pointing
    // at the hash.
    for (pw, why) in [
        ("outpost", "it is the host name"),
        ("password", "it is a common password"),
        ("Admin1", "it is the user name"),
        ("example", "it is the mail domain"),
        ("changeme!", "it is a common password"),
    ] {
        let yaml = format!(
            "domain: example.org\nusers:\n  - name: alice\n    password_hash: '$argon2id$fake$S3cure-enough-phrase'\n  - name: admin\n    roles: [admin]\n    password_hash: '$argon2id$fake${pw}'\n"
        );
        let e = render_site_checked(&yaml, "site.yaml", &fake_verify)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "site.yaml:7:20: error: users[1].password_hash: the password of admin@example.org is weak ({why}); choose another"
            )
        );
    }
    let ok = "domain: example.org\nusers:\n  - name: admin\n    password_hash: '$argon2id$fake$S3cure-enough-phrase'\n";
    render_site_checked(ok, "site.yaml", &fake_verify).unwrap();
    // A hash the verifier cannot check is refused too.
    let odd = "domain: example.org\nusers:\n  - name: admin\n    password_hash: '$6$salt$x'\n";
    let e = render_site_checked(odd, "s.yaml", &fake_verify)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "s.yaml:4:20: error: users[0].password_hash: cannot be checked: not a fake hash"
    );
}

#[test]
fn an_image_answer_file_refuses_clear_text_and_weak_passwords_at_the_option() {
    // Regression (#24), `cargo xtask iso --ks`: the same rules for an
    // answer file given as is.
    let ks = "%addon org_outpost\ndomain example.org\nuser alice --password='$argon2id$fake$S3cure-enough-phrase' --iscrypted\nuser bob --fullname=Bob --password=bob123 --plaintext\nuser admin --password='$argon2id$fake$admin' --iscrypted\n%end\n";
    let k = parse_str("site.ks", ks).unwrap().kickstart;
    let d: Vec<String> = outpost_kickstart::passwords::check_for_image(&k, &fake_verify)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(d.len(), 2, "{d:#?}");
    assert!(
        d[0].starts_with("site.ks:4:25: error: user bob: a clear-text password would be readable"),
        "{}",
        d[0]
    );
    assert_eq!(
        d[1],
        "site.ks:5:12: error: user admin: the hashed password is weak (it is the user name); choose another"
    );
}
