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
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
    let now = time::OffsetDateTime::now_utc();
    let expiring = match fs::read(&cert_path) {
        Ok(pem) => leaf_not_after(&pem).is_none_or(|end| end - now < renew_before),
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

/// The expiry of the first certificate in a PEM file.
fn leaf_not_after(pem: &[u8]) -> Option<time::OffsetDateTime> {
    let der = CertificateDer::pem_slice_iter(pem).next()?.ok()?;
    describe(&der).0
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

/// Writes `data` to `path` via a temporary file, fsync and rename, so a crash
/// never leaves a half-written key behind.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let io = |e| Error::Io(path.to_owned(), e);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
