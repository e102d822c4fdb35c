//! Clients that set themselves up: Thunderbird's autoconfig
//! (`/.well-known/autoconfig/mail/config-v1.1.xml`, and
//! `/mail/config-v1.1.xml` for an `autoconfig.<domain>` host), Outlook's
//! autodiscover (the POX `POST /autodiscover/autodiscover.xml` and the
//! JSON v2 `/autodiscover/autodiscover.json`), and an Apple configuration
//! profile (`/mobileconfig`: IMAP, SMTP, CalDAV, CardDAV and the local
//! CA) for a signed-in user. Every answer names `general.hostname` and
//! the ports the daemons are configured to listen on (so the shifted
//! ports of `cargo xtask serve` too). The formats are written here: they
//! are small fixed documents and no maintained crate writes them.
//!
//! Also the plain-HTTP redirect listener (`web.redirect_listen`, port 80
//! on the appliance): autoconfig is answered there (Thunderbird asks
//! `http://autoconfig.<domain>/…` too), everything else is sent to HTTPS.

use super::{Peer, Web, blocking, signed_in};
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest autodiscover request body read.
const MAX_REQUEST: usize = 16 * 1024;

/// The ports clients are told about: each the first configured listener
/// of its kind, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    /// IMAP over TLS (993).
    pub imaps: Option<u16>,
    /// IMAP with STARTTLS (143).
    pub imap: Option<u16>,
    /// POP3 over TLS (995).
    pub pop3s: Option<u16>,
    /// SMTP submission over TLS (465).
    pub submissions: Option<u16>,
    /// SMTP submission with STARTTLS (587).
    pub submission: Option<u16>,
    /// HTTPS (443).
    pub https: Option<u16>,
}

impl Ports {
    /// The ports of `config`.
    pub fn of(config: &outpost_config::Config) -> Ports {
        let first = |v: &[SocketAddr]| v.first().map(SocketAddr::port);
        Ports {
            imaps: first(&config.imap.imaps_listen),
            imap: first(&config.imap.imap_listen),
            pop3s: first(&config.imap.pop3s_listen),
            submissions: first(&config.smtp.submissions_listen),
            submission: first(&config.smtp.submission_listen),
            https: first(&config.web.listen),
        }
    }
}

/// A plausible email address from a client (else `None`: the answer then
/// uses the `%EMAILADDRESS%` placeholder or no login name).
fn address(s: &str) -> Option<String> {
    let s = s.trim();
    let ok = s.len() <= 254
        && s.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') || d == "localhost")
        && !s
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "<>\"'&".contains(c));
    ok.then(|| s.to_ascii_lowercase())
}

fn xml_response(body: String) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Thunderbird's `config-v1.1.xml` for the server's domains.
pub fn autoconfig_xml(config: &outpost_config::Config, email: Option<&str>) -> String {
    let host = escape(config.general.hostname.as_str()).into_owned();
    let p = Ports::of(config);
    let id = escape(
        config
            .general
            .domains
            .first()
            .map(String::as_str)
            .unwrap_or("outpost"),
    )
    .into_owned();
    let user = email
        .map(|e| escape(e).into_owned())
        .unwrap_or_else(|| "%EMAILADDRESS%".into());
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n",
    );
    x.push_str(&format!("  <emailProvider id=\"{id}\">\n"));
    for d in &config.general.domains {
        x.push_str(&format!("    <domain>{}</domain>\n", escape(d.as_str())));
    }
    x.push_str(&format!(
        "    <displayName>Outpost ({host})</displayName>\n    <displayShortName>Outpost</displayShortName>\n"
    ));
    let server = |x: &mut String, kind: &str, tag: &str, port: Option<u16>, socket: &str| {
        if let Some(port) = port {
            x.push_str(&format!(
                "    <{tag} type=\"{kind}\">\n      <hostname>{host}</hostname>\n      <port>{port}</port>\n      \
                 <socketType>{socket}</socketType>\n      <authentication>password-cleartext</authentication>\n      \
                 <username>{user}</username>\n    </{tag}>\n"
            ));
        }
    };
    server(&mut x, "imap", "incomingServer", p.imaps, "SSL");
    server(&mut x, "imap", "incomingServer", p.imap, "STARTTLS");
    server(&mut x, "pop3", "incomingServer", p.pop3s, "SSL");
    server(&mut x, "smtp", "outgoingServer", p.submissions, "SSL");
    server(&mut x, "smtp", "outgoingServer", p.submission, "STARTTLS");
    x.push_str("  </emailProvider>\n");
    if let Some(https) = p.https {
        let base = if https == 443 {
            format!("https://{host}")
        } else {
            format!("https://{host}:{https}")
        };
        x.push_str(&format!(
            "  <addressBook type=\"carddav\">\n    <username>{user}</username>\n    \
             <authentication>http-basic</authentication>\n    <serverURL>{base}/.well-known/carddav</serverURL>\n  </addressBook>\n\
             \x20 <calendar type=\"caldav\">\n    <username>{user}</username>\n    \
             <authentication>http-basic</authentication>\n    <serverURL>{base}/.well-known/caldav</serverURL>\n  </calendar>\n"
        ));
    }
    x.push_str("</clientConfig>\n");
    x
}

/// `GET /.well-known/autoconfig/mail/config-v1.1.xml[?emailaddress=…]`
/// and `GET /mail/config-v1.1.xml` (no sign-in: it holds no secret).
pub async fn autoconfig(
    State(web): State<Arc<Web>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let email = q.get("emailaddress").and_then(|e| address(e));
    xml_response(autoconfig_xml(&web.config, email.as_deref()))
}

/// The text of the first `<EMailAddress>` of an autodiscover request.
fn requested_address(body: &[u8]) -> Option<String> {
    let mut r = quick_xml::Reader::from_reader(body);
    let mut inside = false;
    let mut buf = Vec::new();
    loop {
        match r.read_event_into(&mut buf).ok()? {
            quick_xml::events::Event::Start(e) => {
                inside = e
                    .local_name()
                    .as_ref()
                    .eq_ignore_ascii_case(b"EMailAddress");
            }
            quick_xml::events::Event::Text(t) if inside => {
                return address(&t.decode().ok()?);
            }
            quick_xml::events::Event::End(_) => inside = false,
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

/// Outlook's POX answer (the `outlook/responseschema/2006a` schema).
pub fn autodiscover_xml(config: &outpost_config::Config, email: Option<&str>) -> String {
    let host = escape(config.general.hostname.as_str()).into_owned();
    let p = Ports::of(config);
    let login = email
        .map(|e| format!("<LoginName>{}</LoginName>", escape(e)))
        .unwrap_or_default();
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n\
         \x20 <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n\
         \x20   <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n",
    );
    let proto = |x: &mut String, kind: &str, port: Option<u16>, ssl: bool, encryption: &str| {
        if let Some(port) = port {
            x.push_str(&format!(
                "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{host}</Server>\n        <Port>{port}</Port>\n        \
                 <DomainRequired>off</DomainRequired>\n        {login}\n        <SPA>off</SPA>\n        \
                 <SSL>{}</SSL>\n        <Encryption>{encryption}</Encryption>\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
                if ssl { "on" } else { "off" }
            ));
        }
    };
    proto(&mut x, "IMAP", p.imaps, true, "SSL");
    proto(&mut x, "POP3", p.pop3s, true, "SSL");
    if p.submissions.is_some() {
        proto(&mut x, "SMTP", p.submissions, true, "SSL");
    } else {
        proto(&mut x, "SMTP", p.submission, true, "TLS");
    }
    x.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    x
}

/// `POST /autodiscover/autodiscover.xml` (any case; with or without
/// Basic credentials, which are not needed for settings): the request's
/// `EMailAddress` becomes the login name. A body over 16 KiB is 413.
pub async fn autodiscover(State(web): State<Arc<Web>>, body: Body) -> Response {
    let limits = crate::body::Limits {
        max: MAX_REQUEST,
        buffer: MAX_REQUEST,
        timeout: web.opts.body_timeout,
        min_rate: web.opts.body_min_rate,
        spool_dir: web.opts.spool_dir.clone(),
    };
    let bytes = match crate::body::receive(body, &limits).await {
        Ok(r) => r.into_vec().unwrap_or_default(),
        Err(crate::body::Error::TooLarge) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request too large\n").into_response();
        }
        Err(crate::body::Error::Timeout) => {
            return (StatusCode::REQUEST_TIMEOUT, "request too slow\n").into_response();
        }
        Err(_) => return (StatusCode::BAD_REQUEST, "bad request body\n").into_response(),
    };
    let email = requested_address(&bytes);
    xml_response(autodiscover_xml(&web.config, email.as_deref()))
}

/// `GET /autodiscover/autodiscover.json[/v1.0/ADDRESS]?Protocol=…&Email=…`
/// (Autodiscover v2): the URL of the POX service for
/// `Protocol=AutodiscoverV1`; any other protocol (EWS, ActiveSync) is not
/// offered here, which the answer says in v2's error form.
pub async fn autodiscover_json(
    State(web): State<Arc<Web>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let protocol = get("Protocol").unwrap_or("AutodiscoverV1");
    let host = &web.config.general.hostname;
    let https = Ports::of(&web.config).https.unwrap_or(443);
    let base = if https == 443 {
        format!("https://{host}")
    } else {
        format!("https://{host}:{https}")
    };
    let (status, v) = if protocol.eq_ignore_ascii_case("AutodiscoverV1") {
        (
            StatusCode::OK,
            serde_json::json!({
                "Protocol": "AutodiscoverV1",
                "Url": format!("{base}/autodiscover/autodiscover.xml"),
            }),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "ErrorCode": "InvalidProtocol",
                "ErrorMessage": format!("The given protocol value '{}' is invalid. Supported values are 'AutodiscoverV1'.",
                    protocol.chars().filter(|c| c.is_ascii_alphanumeric()).take(40).collect::<String>()),
            }),
        )
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

fn plist_string(s: &str) -> String {
    format!("<string>{}</string>", escape(s))
}

/// A payload UUID: random (Apple wants a new one per profile).
fn uuid() -> String {
    let t = super::session::random_token();
    let h: String = t
        .bytes()
        .map(|b| format!("{b:02X}"))
        .collect::<String>()
        .chars()
        .take(32)
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The `.mobileconfig` of `user` (display name `name`): mail (IMAP over
/// TLS, SMTP submission), CalDAV, CardDAV and, when Outpost made the
/// certificate, the local CA (`ca_der`). No password is in it: the device
/// asks for it once.
pub fn mobileconfig(
    config: &outpost_config::Config,
    user: &str,
    name: &str,
    ca_der: Option<&[u8]>,
) -> String {
    use base64::Engine as _;
    let host = &config.general.hostname;
    let p = Ports::of(config);
    let ident = format!("lan.outpost.{}.{}", host, user.replace('@', "."));
    let mut payloads = Vec::new();
    let (smtp_port, smtp_ssl) = match (p.submissions, p.submission) {
        (Some(s), _) => (s, true),
        (None, Some(s)) => (s, true),
        (None, None) => (465, true),
    };
    if let Some(imap) = p.imaps.or(p.imap) {
        payloads.push(format!(
            "<dict>\
             <key>PayloadType</key><string>com.apple.mail.managed</string>\
             <key>PayloadVersion</key><integer>1</integer>\
             <key>PayloadIdentifier</key>{}\
             <key>PayloadUUID</key>{}\
             <key>PayloadDisplayName</key>{}\
             <key>EmailAccountDescription</key>{}\
             <key>EmailAccountName</key>{}\
             <key>EmailAccountType</key><string>EmailTypeIMAP</string>\
             <key>EmailAddress</key>{}\
             <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>\
             <key>IncomingMailServerHostName</key>{}\
             <key>IncomingMailServerPortNumber</key><integer>{imap}</integer>\
             <key>IncomingMailServerUseSSL</key><{}/>\
             <key>IncomingMailServerUsername</key>{}\
             <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>\
             <key>OutgoingMailServerHostName</key>{}\
             <key>OutgoingMailServerPortNumber</key><integer>{smtp_port}</integer>\
             <key>OutgoingMailServerUseSSL</key><{}/>\
             <key>OutgoingMailServerUsername</key>{}\
             <key>OutgoingPasswordSameAsIncomingPassword</key><true/>\
             </dict>",
            plist_string(&format!("{ident}.mail")),
            plist_string(&uuid()),
            plist_string("Mail"),
            plist_string(&format!("Outpost mail ({user})")),
            plist_string(name),
            plist_string(user),
            plist_string(host),
            if p.imaps.is_some() { "true" } else { "false" },
            plist_string(user),
            plist_string(host),
            if smtp_ssl { "true" } else { "false" },
            plist_string(user),
        ));
    }
    if let Some(https) = p.https {
        for (kind, short) in [("caldav", "CalDAV"), ("carddav", "CardDAV")] {
            payloads.push(format!(
                "<dict>\
                 <key>PayloadType</key><string>com.apple.{kind}.account</string>\
                 <key>PayloadVersion</key><integer>1</integer>\
                 <key>PayloadIdentifier</key>{}\
                 <key>PayloadUUID</key>{}\
                 <key>PayloadDisplayName</key>{}\
                 <key>{short}AccountDescription</key>{}\
                 <key>{short}HostName</key>{}\
                 <key>{short}Port</key><integer>{https}</integer>\
                 <key>{short}UseSSL</key><true/>\
                 <key>{short}Username</key>{}\
                 <key>{short}PrincipalURL</key>{}\
                 </dict>",
                plist_string(&format!("{ident}.{kind}")),
                plist_string(&uuid()),
                plist_string(short),
                plist_string(&format!(
                    "Outpost {} ({user})",
                    if kind == "caldav" {
                        "calendars"
                    } else {
                        "contacts"
                    }
                )),
                plist_string(host),
                plist_string(user),
                plist_string(&format!("/dav/{user}/")),
            ));
        }
    }
    if let Some(der) = ca_der {
        payloads.push(format!(
            "<dict>\
             <key>PayloadType</key><string>com.apple.security.root</string>\
             <key>PayloadVersion</key><integer>1</integer>\
             <key>PayloadIdentifier</key>{}\
             <key>PayloadUUID</key>{}\
             <key>PayloadDisplayName</key>{}\
             <key>PayloadCertificateFileName</key><string>outpost-ca.cer</string>\
             <key>PayloadContent</key><data>{}</data>\
             </dict>",
            plist_string(&format!("{ident}.ca")),
            plist_string(&uuid()),
            plist_string(&format!("Outpost certificate authority ({host})")),
            base64::engine::general_purpose::STANDARD.encode(der),
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\"><dict>\
         <key>PayloadType</key><string>Configuration</string>\
         <key>PayloadVersion</key><integer>1</integer>\
         <key>PayloadIdentifier</key>{}\
         <key>PayloadUUID</key>{}\
         <key>PayloadDisplayName</key>{}\
         <key>PayloadDescription</key>{}\
         <key>PayloadOrganization</key><string>Outpost</string>\
         <key>PayloadContent</key><array>{}</array>\
         </dict></plist>\n",
        plist_string(&ident),
        plist_string(&uuid()),
        plist_string(&format!("Outpost ({host})")),
        plist_string(&format!("Mail, calendars and contacts of {user} on {host}")),
        payloads.join("")
    )
}

/// The DER bytes of the first certificate of a PEM file.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let start = pem.find("-----BEGIN CERTIFICATE-----")? + 27;
    let end = pem[start..].find("-----END CERTIFICATE-----")? + start;
    let b64: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// `GET /mobileconfig`: the profile of the signed-in user (a web session,
/// or Basic credentials for a device that asks directly).
pub async fn profile(
    State(web): State<Arc<Web>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    method: Method,
) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        });
    let user = if let Some((u, p)) = basic {
        if !peer.secure && !peer.addr.ip().is_loopback() {
            return (StatusCode::FORBIDDEN, "HTTPS required\n").into_response();
        }
        let w = web.clone();
        let client = peer.addr.ip().to_string();
        match blocking(move || w.dav.auth.check(&u, &p, Some(&client))).await {
            Some(Ok(u)) => u,
            Some(Err(crate::auth::Refusal::Busy)) => {
                return (StatusCode::SERVICE_UNAVAILABLE, "busy, try again\n").into_response();
            }
            _ => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(
                        header::WWW_AUTHENTICATE,
                        "Basic realm=\"Outpost\", charset=\"UTF-8\"",
                    )],
                    "wrong email address or password\n",
                )
                    .into_response();
            }
        }
    } else {
        match signed_in(&web, peer, &headers, &method, "/mobileconfig").await {
            Ok(s) => s.session.user,
            Err(r) => return r,
        }
    };
    let w = web.clone();
    blocking(move || {
        let name = outpost_directory::Directory::open(&w.config.directory.path)
            .ok()
            .and_then(|d| d.user(&user).ok().flatten())
            .map(|u| u.full_name)
            .unwrap_or_default();
        let ca = w
            .ca_path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|pem| pem_der(&pem));
        let body = mobileconfig(&w.config, &user, &name, ca.as_deref());
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/x-apple-aspen-config"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"outpost.mobileconfig\"",
                ),
                (header::CACHE_CONTROL, "private, no-store"),
            ],
            body,
        )
            .into_response()
    })
    .await
    .unwrap_or_else(super::mail::internal)
}

/// The plain-HTTP redirect listener: autoconfig is answered, everything
/// else is sent to the same path on HTTPS (301 for GET and HEAD, 308
/// otherwise so a method and body are kept). The host comes from the
/// request when it is a plain host name, else `general.hostname`.
pub fn redirect_router(web: Arc<Web>) -> axum::Router {
    axum::Router::new()
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            axum::routing::get(autoconfig),
        )
        .route("/mail/config-v1.1.xml", axum::routing::get(autoconfig))
        .fallback(to_https)
        .with_state(web)
}

async fn to_https(
    State(web): State<Arc<Web>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let asked = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            h.rsplit_once(':').map_or(h, |(n, p)| {
                if p.chars().all(|c| c.is_ascii_digit()) {
                    n
                } else {
                    h
                }
            })
        })
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        })
        .map(str::to_ascii_lowercase);
    let host = asked.unwrap_or_else(|| web.config.general.hostname.clone());
    let port = match Ports::of(&web.config).https {
        Some(443) | None => String::new(),
        Some(p) => format!(":{p}"),
    };
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or("/");
    let to = format!("https://{host}{port}{path}");
    let status = if method == Method::GET || method == Method::HEAD {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    (status, [(header::LOCATION, to)], "").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> outpost_config::Config {
        let mut c = outpost_config::Config::default();
        c.general.hostname = "mail.outpost.lan".into();
        c.general.domains = vec!["outpost.lan".into(), "field.example".into()];
        c
    }

    #[test]
    fn autoconfig_names_the_host_domains_and_ports() {
        let x = autoconfig_xml(&config(), Some("alice@outpost.lan"));
        for want in [
            "<domain>outpost.lan</domain>",
            "<domain>field.example</domain>",
            "<hostname>mail.outpost.lan</hostname>",
            "<port>993</port>",
            "<port>465</port>",
            "<port>587</port>",
            "<username>alice@outpost.lan</username>",
            "<serverURL>https://mail.outpost.lan/.well-known/caldav</serverURL>",
        ] {
            assert!(x.contains(want), "{want} in {x}");
        }
        let mut c = config();
        c.imap.imaps_listen = vec!["127.0.0.1:10993".parse().unwrap()];
        c.web.listen = vec!["127.0.0.1:10443".parse().unwrap()];
        let x = autoconfig_xml(&c, None);
        assert!(x.contains("<port>10993</port>") && x.contains("%EMAILADDRESS%"));
        assert!(x.contains("https://mail.outpost.lan:10443/"));
    }

    #[test]
    fn autodiscover_reads_the_address_and_refuses_markup() {
        let req = br#"<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>Alice@Outpost.lan</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"#;
        assert_eq!(requested_address(req).as_deref(), Some("alice@outpost.lan"));
        for bad in [
            &b"<Autodiscover><Request><EMailAddress>a&lt;b@x.y</EMailAddress></Request></Autodiscover>"[..],
            b"<Autodiscover><Request><EMailAddress></EMailAddress></Request></Autodiscover>",
            b"not xml at all <<<",
            b"",
        ] {
            assert_eq!(requested_address(bad), None);
        }
        let x = autodiscover_xml(&config(), Some("alice@outpost.lan"));
        assert!(x.contains("<Type>IMAP</Type>") && x.contains("<Port>993</Port>"));
        assert!(x.contains("<LoginName>alice@outpost.lan</LoginName>"));
    }

    #[test]
    fn profile_escapes_names_and_carries_the_ca() {
        let x = mobileconfig(
            &config(),
            "alice@outpost.lan",
            "Alice <&> \"Field\"",
            Some(b"DER"),
        );
        assert!(
            x.contains("<string>Alice &lt;&amp;&gt; &quot;Field&quot;</string>"),
            "{x}"
        );
        assert!(x.contains("<data>REVS</data>"));
        assert!(x.contains("com.apple.caldav.account") && x.contains("com.apple.carddav.account"));
        assert_eq!(x.matches("<key>PayloadUUID</key>").count(), 5);
    }
}
