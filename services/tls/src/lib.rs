//! Outpost's local certificate authority and the rustls configurations built
//! on it.
//!
//! The appliance runs offline, so no public CA can issue its certificates.
//! On first start [`load_or_create`] creates a local CA (`ca.crt`, `ca.key`)
//! and a server certificate signed by it (`server.crt`, `server.key`) in the
//! TLS directory (`/var/lib/outpost/tls/`); later starts load them. Clients
//! import `ca.crt` once and then trust every Outpost service. If the host
//! names change, the server certificate is reissued by the same CA key, so
//! the exported `ca.crt` stays valid; it is also reissued when it comes
//! within `tls.renew_before_days` of its expiry, so an appliance that runs
//! for years never serves an expired certificate (the daemons check hourly
//! and reload without a restart). rustls only, with the ring provider;
//! PEM through `rustls-pki-types`.

#![deny(missing_docs)]

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// File name of the exported CA certificate.
pub const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
const SERVER_NAMES: &str = "server.names";

/// Why certificates could not be loaded or created.
#[derive(Debug)]
pub enum Error {
    /// Reading or writing a file failed.
    Io(PathBuf, std::io::Error),
    /// A PEM file holds no usable certificate or key.
    Pem(PathBuf, String),
    /// rcgen could not generate a key or certificate.
    Generate(rcgen::Error),
    /// rustls refused the certificate or key.
    Rustls(rustls::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Error::Pem(p, e) => write!(f, "{}: {e}", p.display()),
            Error::Generate(e) => write!(f, "generating certificate: {e}"),
            Error::Rustls(e) => write!(f, "TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Generate(e)
    }
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Rustls(e)
    }
}

/// A server certificate chain and key, and the CA that issued it.
#[derive(Debug)]
pub struct TlsMaterial {
    /// Server certificate first, then the CA certificate.
    pub chain: Vec<CertificateDer<'static>>,
    /// The server's private key.
    pub key: PrivateKeyDer<'static>,
    /// The CA certificate in PEM form (what clients import); empty when an
    /// admin-provided certificate is used.
    pub ca_pem: String,
    /// Path of `ca.crt` (exists only for the generated CA).
    pub ca_path: PathBuf,
    /// When the server certificate expires (`None` if it cannot be read).
    pub not_after: Option<time::OffsetDateTime>,
    /// The server certificate's DNS names.
    pub names: Vec<String>,
}

impl TlsMaterial {
    /// A rustls server configuration (TLS 1.2 and 1.3, ring provider) for
    /// this certificate.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, Error> {
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        Ok(Arc::new(config))
    }
}

/// The ring crypto provider every Outpost TLS endpoint uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How long before expiry a generated server certificate is reissued unless
/// the configuration says otherwise.
pub const DEFAULT_RENEW_BEFORE: time::Duration = time::Duration::days(90);

/// The server certificate the configuration asks for: the admin's
/// `tls.cert`/`tls.key` when set, else the local CA's (created, reissued
/// for new names and renewed before expiry as needed). The one place that
/// makes this choice, for every daemon and `outpostctl`.
pub fn for_config(config: &outpost_config::Config) -> Result<TlsMaterial, Error> {
    match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => load_files(cert, key),
        _ => load_or_create_with(
            &config.tls.dir,
            &config.certificate_names(),
            time::Duration::days(i64::from(config.tls.renew_before_days)),
        ),
    }
}

/// Loads the local CA and server certificate from `tls_dir`, creating
/// whatever is missing. `hostnames` become the server certificate's subject
/// alternative names (the first is its common name).
pub fn load_or_create(tls_dir: &Path, hostnames: &[String]) -> Result<TlsMaterial, Error> {
    load_or_create_with(tls_dir, hostnames, DEFAULT_RENEW_BEFORE)
}

/// [`load_or_create`], reissuing the server certificate when less than
/// `renew_before` of its validity is left.
pub fn load_or_create_with(
    tls_dir: &Path,
    hostnames: &[String],
    renew_before: time::Duration,
) -> Result<TlsMaterial, Error> {
    load_or_create_at(
        tls_dir,
        hostnames,
        renew_before,
        time::OffsetDateTime::now_utc(),
    )
}

/// Whether a server certificate valid from `not_before` to `not_after`
/// must be reissued at `now`: fewer than `renew_before` left (or expired),
/// or not valid yet (the clock was set back after it was issued, so
/// clients would refuse it).
pub fn renewal_due(
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
    renew_before: time::Duration,
    now: time::OffsetDateTime,
) -> bool {
    not_after - now < renew_before || now < not_before
}

/// [`load_or_create_with`] as if the time were `now`: what the daemons
/// run, with the clock passed in so that tests (and only tests) can issue
/// a certificate in the past, which is then near its expiry today.
pub fn load_or_create_at(
    tls_dir: &Path,
    hostnames: &[String],
    renew_before: time::Duration,
    now: time::OffsetDateTime,
) -> Result<TlsMaterial, Error> {
    fs::create_dir_all(tls_dir).map_err(|e| Error::Io(tls_dir.to_owned(), e))?;
    // Every daemon calls this at start, often at the same moment on first
    // boot: an exclusive lock makes exactly one of them create the CA.
    let lock_path = tls_dir.join(".lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::Io(lock_path.clone(), e))?;
    lock.lock().map_err(|e| Error::Io(lock_path.clone(), e))?;
    let ca_key_path = tls_dir.join(CA_KEY);
    let ca_cert_path = tls_dir.join(CA_CERT);
    let ca_key = if ca_key_path.exists() {
        let pem = read(&ca_key_path)?;
        KeyPair::from_pem(&pem).map_err(|e| Error::Pem(ca_key_path.clone(), e.to_string()))?
    } else {
        let key = KeyPair::generate()?;
        write_atomic(&ca_key_path, key.serialize_pem().as_bytes(), 0o600)?;
        key
    };
    // The CA certificate is a pure function of its (fixed) parameters and key,
    // so re-deriving it after a restart gives a certificate with the same
    // subject and key identifier: chains issued before still verify.
    let ca_cert = ca_params().self_signed(&ca_key)?;
    if !ca_cert_path.exists() {
        write_atomic(&ca_cert_path, ca_cert.pem().as_bytes(), 0o644)?;
    }
    let ca_pem = read(&ca_cert_path)?;

    let names_path = tls_dir.join(SERVER_NAMES);
    let cert_path = tls_dir.join(SERVER_CERT);
    let key_path = tls_dir.join(SERVER_KEY);
    let wanted_names = hostnames.join("\n");
    let current_names = fs::read_to_string(&names_path).unwrap_or_default();
    let expiring = match fs::read(&cert_path) {
        Ok(pem) => leaf_validity(&pem)
            .is_none_or(|(start, end)| renewal_due(start, end, renew_before, now)),
        Err(_) => true,
    };
    if !cert_path.exists() || !key_path.exists() || current_names != wanted_names || expiring {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(hostnames.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            hostnames
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".into()),
        );
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = now - time::Duration::days(1);
        // 825 days: the longest lifetime Apple clients accept for a server cert.
        params.not_after = now + time::Duration::days(825);
        let cert = params.signed_by(&key, &ca_cert, &ca_key)?;
        write_atomic(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)?;
        write_atomic(&names_path, wanted_names.as_bytes(), 0o644)?;
    }
    let mut chain = load_certs(&cert_path)?;
    chain.extend(load_certs(&ca_cert_path)?);
    let key = load_key(&key_path)?;
    let (not_after, names) = describe(&chain[0]);
    Ok(TlsMaterial {
        chain,
        key,
        ca_pem,
        ca_path: ca_cert_path,
        not_after,
        names,
    })
}

/// The validity of the first certificate in a PEM file.
fn leaf_validity(pem: &[u8]) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
    let der = CertificateDer::pem_slice_iter(pem).next()?.ok()?;
    let p = CertificateParams::from_ca_cert_der(&der).ok()?;
    Some((p.not_before, p.not_after))
}

/// Where the certificate the daemons serve comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Generated and renewed by the local CA (`tls.dir`).
    LocalCa,
    /// The admin's `tls.cert`: Outpost cannot renew it.
    Admin,
}

/// What `outpostctl tls status` shows of the server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The PEM file it was read from.
    pub path: PathBuf,
    /// Who issues it.
    pub source: Source,
    /// Its DNS names.
    pub names: Vec<String>,
    /// Its serial number (hex, colon-separated).
    pub serial: String,
    /// Start of validity.
    pub not_before: time::OffsetDateTime,
    /// End of validity.
    pub not_after: time::OffsetDateTime,
}

impl CertInfo {
    /// Whole days left at `now` (negative once expired).
    pub fn days_left(&self, now: time::OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    /// A warning for the admin when the certificate is expired, not valid
    /// yet, or has fewer than `renew_before` (`tls.renew_before_days`)
    /// left: a generated one should have been renewed by then (no daemon
    /// running?), an admin's must be replaced by hand.
    pub fn warning(
        &self,
        renew_before: time::Duration,
        now: time::OffsetDateTime,
    ) -> Option<String> {
        let what = match self.source {
            Source::LocalCa => "; the daemons renew it from the local CA at start and hourly: \
                 is one running (`systemctl status outpost-smtpd outpost-imapd outpost-webd`)?"
                .to_owned(),
            Source::Admin => format!(
                "; Outpost cannot renew tls.cert: replace {} (and tls.key) and the daemons \
                 load it within the hour",
                self.path.display()
            ),
        };
        let days = self.days_left(now);
        if now < self.not_before {
            return Some(format!(
                "server certificate is not valid before {} (is the clock right?){what}",
                self.not_before
            ));
        }
        if self.not_after <= now {
            return Some(format!(
                "server certificate expired {} day(s) ago{what}",
                -days
            ));
        }
        if self.not_after - now < renew_before {
            return Some(format!(
                "server certificate expires in {days} day{}{what}",
                if days == 1 { "" } else { "s" }
            ));
        }
        None
    }
}

/// The server certificate the configuration makes the daemons serve
/// (the admin's `tls.cert`, else the local CA's `server.crt`), read
/// without creating or renewing anything.
pub fn inspect(config: &outpost_config::Config) -> Result<CertInfo, Error> {
    let (path, source) = match &config.tls.cert {
        Some(cert) => (cert.clone(), Source::Admin),
        None => (config.tls.dir.join(SERVER_CERT), Source::LocalCa),
    };
    let der = load_certs(&path)?.swap_remove(0);
    let p = CertificateParams::from_ca_cert_der(&der)
        .map_err(|e| Error::Pem(path.clone(), e.to_string()))?;
    let (_, names) = describe(&der);
    let serial = p
        .serial_number
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_default();
    Ok(CertInfo {
        path,
        source,
        names,
        serial,
        not_before: p.not_before,
        not_after: p.not_after,
    })
}

/// Expiry and DNS names of a certificate (rcgen's X.509 reader).
fn describe(der: &CertificateDer<'_>) -> (Option<time::OffsetDateTime>, Vec<String>) {
    match CertificateParams::from_ca_cert_der(der) {
        Ok(p) => (
            Some(p.not_after),
            p.subject_alt_names
                .iter()
                .filter_map(|n| match n {
                    rcgen::SanType::DnsName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect(),
        ),
        Err(_) => (None, Vec::new()),
    }
}

/// Loads an admin-provided certificate chain and key (`tls.cert`/`tls.key`).
pub fn load_files(cert: &Path, key: &Path) -> Result<TlsMaterial, Error> {
    let chain = load_certs(cert)?;
    let (not_after, names) = describe(&chain[0]);
    Ok(TlsMaterial {
        chain,
        key: load_key(key)?,
        ca_pem: String::new(),
        ca_path: PathBuf::new(),
        not_after,
        names,
    })
}

/// A rustls client configuration trusting Outpost's own CA in `tls_dir`
/// (if present) and the certificates in `extra_ca` (a PEM file). Used to
/// talk to the upstream smarthost; there is no public root store offline.
pub fn client_config(
    tls_dir: &Path,
    extra_ca: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    let own = tls_dir.join(CA_CERT);
    let mut files: Vec<PathBuf> = Vec::new();
    if own.exists() {
        files.push(own);
    }
    if let Some(extra) = extra_ca {
        files.push(extra.to_owned());
    }
    for file in files {
        for cert in load_certs(&file)? {
            roots
                .add(cert)
                .map_err(|e| Error::Pem(file.clone(), e.to_string()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Outpost local CA");
    dn.push(DnType::OrganizationName, "Outpost");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // Fixed validity so the re-derived CA certificate is identical in all but
    // its signature: 2024-01-01 .. 2044-01-01.
    params.not_before = ca_not_before();
    params.not_after = params.not_before + time::Duration::days(20 * 365);
    params
}

/// 2024-01-01T00:00:00Z: the CA's fixed start of validity.
fn ca_not_before() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(1_704_067_200)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|e| Error::Io(path.to_owned(), e))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let data = fs::read(path).map_err(|e| Error::Io(path.to_owned(), e))?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&data).collect();
    let certs = certs.map_err(|e| Error::Pem(path.to_owned(), e.to_string()))?;
    if certs.is_empty() {
        return Err(Error::Pem(path.to_owned(), "no certificate found".into()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let data = fs::read(path).map_err(|e| Error::Io(path.to_owned(), e))?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            Error::Pem(path.to_owned(), "no private key found".into())
        }
        e => Error::Pem(path.to_owned(), e.to_string()),
    })
}

/// Writes `data` to `path` durably (the shared `outpost-durable` write), so a
/// crash never leaves a half-written key behind.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    outpost_durable::write_atomic(path, data, mode).map_err(|e| Error::Io(path.to_owned(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_then_reloads_and_keeps_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["outpost.test".to_string(), "localhost".to_string()];
        let first = load_or_create(dir.path(), &names).unwrap();
        assert_eq!(first.chain.len(), 2);
        first.server_config().unwrap();
        let mode = fs::metadata(dir.path().join(CA_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let again = load_or_create(dir.path(), &names).unwrap();
        assert_eq!(again.chain[0], first.chain[0], "server cert is reused");

        // New names: reissued by the same CA, ca.crt unchanged.
        let renamed = load_or_create(dir.path(), &["other.test".to_string()]).unwrap();
        assert_ne!(renamed.chain[0], first.chain[0]);
        assert_eq!(renamed.ca_pem, first.ca_pem);
        client_config(dir.path(), None).unwrap();
        let left = renamed.not_after.unwrap() - time::OffsetDateTime::now_utc();
        assert!(left > time::Duration::days(800), "{left}");
        assert_eq!(renamed.names, ["other.test"]);
    }

    #[test]
    fn a_certificate_near_expiry_is_renewed_by_the_same_ca() {
        // Regression (#25): the server certificate was only reissued when
        // the names changed, so it expired after 825 days.
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["outpost.test".to_string()];
        let first = load_or_create(dir.path(), &names).unwrap();
        // Not yet due: kept.
        let again = load_or_create_with(dir.path(), &names, time::Duration::days(90)).unwrap();
        assert_eq!(again.chain[0], first.chain[0]);
        // Due (renew when fewer than 900 days are left, i.e. now).
        let renewed = load_or_create_with(dir.path(), &names, time::Duration::days(900)).unwrap();
        assert_ne!(renewed.chain[0], first.chain[0]);
        assert_eq!(
            renewed.ca_pem, first.ca_pem,
            "same CA, clients keep trusting it"
        );
        assert!(renewed.not_after.unwrap() >= first.not_after.unwrap());
    }

    fn config_for(dir: &Path) -> outpost_config::Config {
        let mut c = outpost_config::Config::default();
        c.tls.dir = dir.to_owned();
        c
    }

    /// Checks `chain` for `name` at `now` the way a client that imported
    /// `ca.crt` does (webpki, through rustls).
    fn verifies(
        m: &TlsMaterial,
        name: &str,
        now: time::OffsetDateTime,
    ) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(m.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let v = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .unwrap();
        let at = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            now.unix_timestamp() as u64,
        ));
        use rustls::client::danger::ServerCertVerifier as _;
        v.verify_server_cert(
            &m.chain[0],
            &m.chain[1..],
            &rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            at,
        )
        .map(|_| ())
    }

    #[test]
    fn a_certificate_with_little_time_left_is_renewed_with_a_new_serial_and_the_same_names() {
        // Regression (#25): the server certificate was reissued only when
        // the names changed, so after 825 days every client refused it.
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["outpost.test".to_string(), "localhost".to_string()];
        let now = time::OffsetDateTime::now_utc();
        // Issued 820 days ago: five days left today.
        let old = load_or_create_at(
            dir.path(),
            &names,
            DEFAULT_RENEW_BEFORE,
            now - time::Duration::days(820),
        )
        .unwrap();
        let before = inspect(&config_for(dir.path())).unwrap();
        assert_eq!(before.days_left(now), 4);
        assert!(before.warning(DEFAULT_RENEW_BEFORE, now).is_some());
        // What the daemons do at start and every hour.
        let renewed = load_or_create_with(dir.path(), &names, DEFAULT_RENEW_BEFORE).unwrap();
        let after = inspect(&config_for(dir.path())).unwrap();
        assert_ne!(after.serial, before.serial, "a new serial");
        assert_eq!(after.names, before.names, "the same names");
        assert_eq!(renewed.names, names);
        assert_eq!(
            renewed.ca_pem, old.ca_pem,
            "the same CA: imported ca.crt stays valid"
        );
        assert!(after.days_left(now) >= 824, "{}", after.days_left(now));
        assert_eq!(after.warning(DEFAULT_RENEW_BEFORE, now), None);
        verifies(&renewed, "outpost.test", now).unwrap();
        // The old one is indeed refused in six days; the new one is not.
        let later = now + time::Duration::days(6);
        assert!(verifies(&old, "outpost.test", later).is_err());
        verifies(&renewed, "outpost.test", later).unwrap();
        // And it is kept from now on (no reissue at every check).
        let again = load_or_create_with(dir.path(), &names, DEFAULT_RENEW_BEFORE).unwrap();
        assert_eq!(again.chain[0], renewed.chain[0]);
    }

    #[test]
    fn a_certificate_not_valid_yet_is_reissued() {
        // Issued while the clock was a month ahead, then the clock was
        // corrected: clients would refuse it until then.
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["outpost.test".to_string()];
        let now = time::OffsetDateTime::now_utc();
        let ahead = load_or_create_at(
            dir.path(),
            &names,
            DEFAULT_RENEW_BEFORE,
            now + time::Duration::days(30),
        )
        .unwrap();
        assert!(verifies(&ahead, "outpost.test", now).is_err());
        let fixed = load_or_create_with(dir.path(), &names, DEFAULT_RENEW_BEFORE).unwrap();
        assert_ne!(fixed.chain[0], ahead.chain[0]);
        verifies(&fixed, "outpost.test", now).unwrap();
    }

    #[test]
    fn warnings_say_what_to_do_for_each_source() {
        let now = time::OffsetDateTime::now_utc();
        let info = |source, left: i64| CertInfo {
            path: PathBuf::from("/etc/ssl/outpost.pem"),
            source,
            names: vec!["outpost.test".into()],
            serial: "01".into(),
            not_before: now - time::Duration::days(100),
            not_after: now + time::Duration::days(left) + time::Duration::hours(1),
        };
        let w = |c: CertInfo| c.warning(time::Duration::days(90), now);
        assert_eq!(w(info(Source::LocalCa, 91)), None);
        let local = w(info(Source::LocalCa, 10)).unwrap();
        assert!(
            local.starts_with("server certificate expires in 10 days; the daemons renew it"),
            "{local}"
        );
        let admin = w(info(Source::Admin, 1)).unwrap();
        assert!(
            admin.starts_with("server certificate expires in 1 day; Outpost cannot renew tls.cert: replace /etc/ssl/outpost.pem"),
            "{admin}"
        );
        let expired = w(info(Source::Admin, -4)).unwrap();
        assert!(
            expired.starts_with("server certificate expired 3 day(s) ago"),
            "{expired}"
        );
        let mut early = info(Source::LocalCa, 500);
        early.not_before = now + time::Duration::days(2);
        assert!(w(early).unwrap().contains("is the clock right?"));
    }

    #[test]
    fn pem_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        fs::write(&empty, "no pem here\n").unwrap();
        let e = load_files(&empty, &empty).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no certificate"),
            "{e}"
        );
        let names = vec!["outpost.test".to_string()];
        load_or_create(dir.path(), &names).unwrap();
        let e = load_files(&dir.path().join(SERVER_CERT), &empty)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no private key"), "{e}");
    }
}
