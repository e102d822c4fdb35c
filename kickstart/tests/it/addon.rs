//! `%addon org_outpost`: accepted settings → model and canonical form;
//! rejected ones → line, column and message.

use crate::support::{check_err, check_ok};
use outpost_kickstart::{HaRole, OutpostService, Password, Role, UpstreamKind, parse_str};

const FULL: &str = r#"%addon org_outpost
domain Outpost.LAN example.org
user admin --fullname="Site Admin" --password='$6$salt$hash#x' --iscrypted --role=admin --alias=postmaster --alias=abuse --quota=2G
user bob@example.org --fullname="Bob O'Neil" --password="pa ss" --plaintext --quota=500M
services smtp,imap pop3 --enabled=dav
upstream graph --tenant=contoso.onmicrosoft.com --client-id=abc --secret=s3cr3t --map="{local}@contoso.com"
upstream smarthost --host=smtp.contoso.com:587 --username=relay --secret="x y" --tls=starttls
ha --peer=192.0.2.2 --vip=192.0.2.10/24 --role=standby
backup --schedule="*-*-* 02:00:00" --keep=14 --target=/srv/backup
%end
"#;

#[test]
fn full_addon_model() {
    let k = parse_str("t.ks", FULL)
        .unwrap_or_else(|e| panic!("{e}"))
        .kickstart;
    let a = k.outpost.unwrap();
    assert_eq!(a.domains, ["outpost.lan", "example.org"]);
    let admin = &a.users[0];
    assert_eq!(admin.name, "admin");
    assert_eq!(admin.address(&a.domains[0]), "admin@outpost.lan");
    assert_eq!(admin.full_name.as_deref(), Some("Site Admin"));
    assert_eq!(
        admin.password,
        Some(Password::Hash("$6$salt$hash#x".into()))
    );
    assert_eq!(admin.roles, [Role::Admin]);
    assert_eq!(admin.aliases, ["postmaster", "abuse"]);
    assert_eq!(admin.quota, Some(2 << 30));
    let bob = &a.users[1];
    assert_eq!(bob.password, Some(Password::Plain("pa ss".into())));
    assert_eq!(bob.roles, [Role::User]);
    assert_eq!(bob.quota, Some(500 << 20));
    assert_eq!(
        a.services.unwrap(),
        [
            OutpostService::Smtp,
            OutpostService::Imap,
            OutpostService::Pop3,
            OutpostService::Webd
        ]
    );
    assert_eq!(a.upstreams[0].kind, UpstreamKind::Graph);
    assert_eq!(a.upstreams[0].endpoint, "https://graph.microsoft.com/v1.0");
    assert_eq!(a.upstreams[0].map.as_deref(), Some("{local}@contoso.com"));
    assert_eq!(a.upstreams[1].endpoint, "smtp.contoso.com:587");
    let ha = a.ha.unwrap();
    assert_eq!((ha.peer.as_str(), ha.role), ("192.0.2.2", HaRole::Standby));
    let b = a.backup.unwrap();
    assert_eq!(
        (b.schedule.as_str(), b.keep, b.target.as_deref()),
        ("*-*-* 02:00:00", 14, Some("/srv/backup"))
    );
}

#[test]
fn full_addon_canonical() {
    check_ok(
        FULL,
        "\n%addon org_outpost\n\
         domain outpost.lan example.org\n\
         user admin --fullname=\"Site Admin\" --password=\"$6$salt$hash#x\" --iscrypted --role=admin --alias=postmaster,abuse --quota=2G\n\
         user bob@example.org --fullname=\"Bob O'Neil\" --password=\"pa ss\" --plaintext --quota=500M\n\
         services smtp,imap,pop3,webd\n\
         upstream graph --url=https://graph.microsoft.com/v1.0 --tenant=contoso.onmicrosoft.com --client-id=abc --secret=\"s3cr3t\" --map=\"{local}@contoso.com\"\n\
         upstream smarthost --host=smtp.contoso.com:587 --username=relay --secret=\"x y\" --tls=starttls\n\
         ha --peer=192.0.2.2 --vip=192.0.2.10/24 --role=standby\n\
         backup --schedule=\"*-*-* 02:00:00\" --keep=14 --target=/srv/backup\n\
         %end\n",
    );
}

#[test]
fn rejected_addon_table() {
    let a = |body: &str| format!("%addon org_outpost\n{body}\n%end\n");
    let cases: Vec<(String, &str)> = vec![
        (
            a("domain outpost.lan\nuser"),
            "t.ks:3:1: error: org_outpost: user: missing the user name, e.g. `user alice --fullname=\"Alice\" --password=…`",
        ),
        (
            a("domain outpost.lan\nuser Al ice"),
            "t.ks:3:9: error: org_outpost: user: unexpected argument `ice` (quote a full name with spaces: --fullname=\"…\")",
        ),
        (
            a("domain outpost.lan\nuser al --role=god"),
            "t.ks:3:9: error: org_outpost: user al: unknown role \"god\" (use admin or user)",
        ),
        (
            a("domain outpost.lan\nuser al --quota=2X"),
            "t.ks:3:9: error: org_outpost: user al: --quota=2X: unknown unit \"x\" (use K, M, G or T)",
        ),
        (
            a("domain outpost.lan\nuser al --password=plain --iscrypted"),
            "t.ks:3:9: error: org_outpost: user al: --iscrypted password is not a crypt(3)/PHC hash (it should start with `$`, e.g. `$6$` or `$argon2id$`)",
        ),
        (
            a("domain outpost.lan\nuser a/b"),
            "t.ks:3:6: error: org_outpost: user a/b: character '/' is not allowed in a mail name (use letters, digits, . _ + -)",
        ),
        (
            a("user al"),
            "t.ks:2:1: error: org_outpost: users need a mail domain; add a line such as `domain outpost.lan` before them",
        ),
        (
            a("domain outpost.lan\nuser al@other.org"),
            "t.ks:3:1: error: org_outpost: user al@other.org: domain other.org is not one of the mail domains (outpost.lan); add it to the `domain` line",
        ),
        (
            a("domain outpost.lan\nuser al --alias=bo\nuser bo"),
            "t.ks:4:1: error: org_outpost: address bo@outpost.lan is already used on line 3 (by a user or an alias)",
        ),
        (
            a("domain outpost.lan\nuser al\nuser al"),
            "t.ks:4:6: error: org_outpost: user al is defined twice; merge the two lines",
        ),
        (
            a("domain bad_.lan"),
            "t.ks:2:8: error: org_outpost: domain bad_.lan: not a valid domain name (bad label \"bad_\")",
        ),
        (
            a("services smtp,gopher"),
            "t.ks:2:10: error: org_outpost: services: unknown service \"gopher\" (known: smtp, imap, pop3, webd, sync, backup)",
        ),
        (
            a("upstream ftp"),
            "t.ks:2:10: error: org_outpost: upstream: unknown kind \"ftp\" (use graph, ews or smarthost)",
        ),
        (
            a("upstream ews --url=http://x"),
            "t.ks:2:14: error: org_outpost: upstream ews: --url: must start with https://",
        ),
        (
            a("upstream smarthost --host=h:0"),
            "t.ks:2:20: error: org_outpost: upstream smarthost: --host=h:0: invalid port \"0\"",
        ),
        (
            a("upstream graph --tenant=t --client-id=c --map=x@y"),
            "t.ks:2:41: error: org_outpost: upstream: --map=x@y: the rule must contain {local}, e.g. {local}@company.com",
        ),
        (
            a("ha --vip=1.2.3.4/24"),
            "t.ks:2:1: error: org_outpost: ha: --peer=ADDRESS is required",
        ),
        (
            a("ha --peer=p --vip=1.2.3.4"),
            "t.ks:2:13: error: org_outpost: ha: --vip=1.2.3.4: expected ADDRESS/PREFIX, e.g. 192.0.2.10/24",
        ),
        (
            a("backup --keep=0"),
            "t.ks:2:8: error: org_outpost: backup: --keep must be between 1 and 10000",
        ),
        (
            a("backup --schedule=whenever"),
            "t.ks:2:8: error: org_outpost: backup: --schedule=whenever: expected a systemd calendar expression such as daily or \"*-*-* 02:00:00\"",
        ),
        (
            a("domian outpost.lan"),
            "t.ks:2:1: error: org_outpost: unknown setting \"domian\" (known: domain, user, services, upstream, ha, backup); did you mean `domain`?",
        ),
        (
            a("user \"al"),
            "t.ks:2:6: error: no closing quotation (close the quote on the same line)",
        ),
        (
            "%addon org_outpost\n%end\n%addon org_outpost\n%end\n".into(),
            "t.ks:3:8: error: %addon org_outpost given twice; merge the two sections",
        ),
        (
            "%addon org_outpost --x\n%end\n".into(),
            "t.ks:1:20: error: %addon org_outpost takes no header options; unexpected `--x`",
        ),
    ];
    for (input, expected) in &cases {
        check_err(input, expected);
    }
}

#[test]
fn hash_without_iscrypted_warns() {
    let w = crate::support::warnings(
        "%addon org_outpost\ndomain d.lan\nuser a --password=$6$s$h\n%end\n",
    );
    assert_eq!(
        w,
        [
            "t.ks:3:8: warning: org_outpost: user a: the password looks like a hash but is taken as plain text; add --iscrypted if it is a hash"
        ]
    );
}

#[test]
fn sizes() {
    use outpost_kickstart::{format_size, parse_size};
    for (s, v) in [
        ("1", Some(1)),
        ("2G", Some(2 << 30)),
        ("1.5g", Some(3 << 29)),
        ("10MiB", Some(10 << 20)),
        ("unlimited", None),
        ("1T", Some(1 << 40)),
    ] {
        assert_eq!(parse_size(s), Ok(v), "{s}");
    }
    assert!(parse_size("").is_err());
    assert!(parse_size("-1G").is_err());
    assert_eq!(format_size(3 << 29), "1536M");
    assert_eq!(format_size(1000), "1000");
}
