//! DKIM keys and signing (RFC 6376; Ed25519 by RFC 8463).
//!
//! Every message users submit is signed twice, with an RSA-2048 key (what
//! every verifier knows) and an Ed25519 key (RFC 8463 recommends both):
//! selectors `<selector>-rsa` and `<selector>-ed25519` of the active
//! selector. The keys live in `smtp.dkim.key_dir` (default
//! `<general.state_dir>/dkim`, 0700), one PKCS#8 PEM
//! file per key (0600), and the file `active` names the selector in use:
//!
//! ```text
//! /var/lib/outpost/dkim/active                    outpost
//! /var/lib/outpost/dkim/outpost-rsa.key           PKCS#8, RSA-2048
//! /var/lib/outpost/dkim/outpost-ed25519.key       PKCS#8, Ed25519
//! ```
//!
//! [`ensure`] creates them at first start; [`rotate`] makes a new dated
//! selector and switches `active` to it (one atomic rename), keeping the
//! old keys so mail signed a moment ago still verifies while the old
//! record stays published; [`retire`] removes an old selector's keys.
//! [`Signer`] notices a rotation on the next message (it compares
//! `active`), so smtpd needs no restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The fields signed (those present; RFC 6376 §5.4.1's recommendation).
/// `From` is listed twice: the second instance signs its absence, so a
/// second From added on the way breaks the signature (oversigning).
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "List-Id",
    "List-Unsubscribe",
];

/// The key folder and the selector's base name (`smtp.dkim.selector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDir {
    /// The folder (`Config::dkim_key_dir`).
    pub dir: PathBuf,
    /// The configured selector.
    pub selector: String,
}

impl KeyDir {
    /// The configured key folder.
    pub fn of(config: &outpost_config::Config) -> KeyDir {
        KeyDir {
            dir: config.dkim_key_dir(),
            selector: config.smtp.dkim.selector.clone(),
        }
    }
}

/// Why keys could not be made, read or used.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error(format!("{what} {}: {e}", path.display()))
}

/// One selector's key pair, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The DNS selector (`outpost-rsa`).
    pub selector: String,
    /// `rsa` or `ed25519`.
    pub algorithm: &'static str,
    /// The TXT record's text (`v=DKIM1; k=rsa; p=…`), unsplit.
    pub record: String,
    /// Whether it is the selector in use.
    pub active: bool,
}

/// The active selector's keys (PKCS#8 DER), and a ready signer pair per
/// signing domain (made on first use: ring's key objects do not clone).
struct KeySet {
    selector: String,
    rsa_der: Vec<u8>,
    ed_der: Vec<u8>,
    by_domain: Mutex<std::collections::HashMap<String, Arc<Pair>>>,
}

type Pair = (
    DkimSigner<RsaKey<Sha256>, Done>,
    DkimSigner<Ed25519Key, Done>,
);

impl KeySet {
    fn pair(&self, domain: &str) -> Result<Arc<Pair>, Error> {
        let mut map = self.by_domain.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = map.get(domain) {
            return Ok(p.clone());
        }
        let s = &self.selector;
        let rsa = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            self.rsa_der.as_slice(),
        )))
        .map_err(|e| Error(format!("selector {s}: the RSA key: {e}")))?;
        let ed = Ed25519Key::from_pkcs8_der(&self.ed_der)
            .map_err(|e| Error(format!("selector {s}: the Ed25519 key: {e}")))?;
        let rsa = DkimSigner::from_key(rsa)
            .domain(domain)
            .selector(format!("{s}-rsa"))
            .headers(SIGNED_HEADERS.iter().copied());
        let ed = DkimSigner::from_key(ed)
            .domain(domain)
            .selector(format!("{s}-ed25519"))
            .headers(SIGNED_HEADERS.iter().copied());
        let pair = Arc::new((rsa, ed));
        // A handful of domains at most; bounded anyway.
        if map.len() >= 256 {
            map.clear();
        }
        map.insert(domain.to_string(), pair.clone());
        Ok(pair)
    }
}

const ACTIVE: &str = "active";

fn key_path(dir: &Path, selector: &str, alg: &str) -> PathBuf {
    dir.join(format!("{selector}-{alg}.key"))
}

/// Writes `bytes` to `path` atomically, mode 0600 (temporary file, fsync,
/// rename, fsync of the folder).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("creating", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io("writing", &tmp, e))?;
    same_owner_as(dir, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| io("renaming", &tmp, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing", dir, e))
}

fn make_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io("creating", dir, e))?;
    if let Some(parent) = dir.parent() {
        same_owner_as(parent, dir)?;
    }
    Ok(())
}

/// Gives `path` the owner of `dir` when they differ: `outpostctl dkim
/// rotate`, run as root, must leave keys the daemon (which owns the state
/// folder) can read. Only root can chown; anyone else makes files that
/// are already theirs, so a refusal there is no error.
fn same_owner_as(dir: &Path, path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let want = std::fs::metadata(dir).map_err(|e| io("reading", dir, e))?;
    let have = std::fs::metadata(path).map_err(|e| io("reading", path, e))?;
    if (want.uid(), want.gid()) == (have.uid(), have.gid()) {
        return Ok(());
    }
    match std::os::unix::fs::chown(path, Some(want.uid()), Some(want.gid())) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
        Err(e) => Err(io("changing the owner of", path, e)),
    }
}

/// Creates the two keys of `selector` (RSA-2048 and Ed25519) unless both
/// exist.
fn generate(dir: &Path, selector: &str) -> Result<(), Error> {
    let rsa_path = key_path(dir, selector, "rsa");
    if !rsa_path.exists() {
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
            .map_err(|e| Error(format!("generating an RSA key: {e}")))?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| Error(format!("encoding the RSA key: {e}")))?;
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_bytes()));
        write_private(&rsa_path, pem.as_bytes())?;
    }
    let ed_path = key_path(dir, selector, "ed25519");
    if !ed_path.exists() {
        let der = Ed25519Key::generate_pkcs8()
            .map_err(|e| Error(format!("generating an Ed25519 key: {e}")))?;
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der));
        write_private(&ed_path, pem.as_bytes())?;
    }
    Ok(())
}

fn read_der(path: &Path) -> Result<Vec<u8>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| io("reading", path, e))?;
    let p = pem::parse(text.as_bytes())
        .map_err(|e| Error(format!("{}: not a PEM key: {e}", path.display())))?;
    if p.tag() != "PRIVATE KEY" {
        return Err(Error(format!(
            "{}: a PKCS#8 \"PRIVATE KEY\" was expected, found \"{}\"",
            path.display(),
            p.tag()
        )));
    }
    Ok(p.into_contents())
}

/// The selector in use (the `active` file), if the keys were made.
pub fn active(cfg: &KeyDir) -> Result<Option<String>, Error> {
    let path = cfg.dir.join(ACTIVE);
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let s = s.trim().to_string();
            if valid_selector(&s) {
                Ok(Some(s))
            } else {
                Err(Error(format!("{}: not a selector: {s:?}", path.display())))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", &path, e)),
    }
}

fn valid_selector(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Makes the keys of the configured selector unless a selector is already
/// active (first start); returns the active selector. Idempotent: a crash
/// half-way leaves files the next call completes (`active` is written
/// last).
pub fn ensure(cfg: &KeyDir) -> Result<String, Error> {
    if let Some(s) = active(cfg)? {
        // Both keys of the active selector must exist (a lost one is an
        // error to fix, not something to replace silently: the published
        // record would no longer match).
        for alg in ["rsa", "ed25519"] {
            let p = key_path(&cfg.dir, &s, alg);
            if !p.exists() {
                return Err(Error(format!(
                    "{}: missing (selector {s} is active)",
                    p.display()
                )));
            }
        }
        return Ok(s);
    }
    make_dir(&cfg.dir)?;
    generate(&cfg.dir, &cfg.selector)?;
    write_private(
        &cfg.dir.join(ACTIVE),
        format!("{}\n", cfg.selector).as_bytes(),
    )?;
    Ok(cfg.selector.clone())
}

/// Makes a new selector `<selector>-<YYYYMMDD>` (`-2`, `-3`… when that
/// exists), its keys, and makes it active; returns it. The old keys stay
/// (see [`retire`]).
pub fn rotate(cfg: &KeyDir, today: &str) -> Result<String, Error> {
    let old = ensure(cfg)?;
    let base = format!("{}-{today}", cfg.selector);
    let mut selector = base.clone();
    let mut n = 1;
    while selector == old || key_path(&cfg.dir, &selector, "rsa").exists() {
        n += 1;
        selector = format!("{base}-{n}");
    }
    generate(&cfg.dir, &selector)?;
    write_private(&cfg.dir.join(ACTIVE), format!("{selector}\n").as_bytes())?;
    Ok(selector)
}

/// Removes an old selector's keys (refused for the active one).
pub fn retire(cfg: &KeyDir, selector: &str) -> Result<(), Error> {
    if !valid_selector(selector) {
        return Err(Error(format!("not a selector: {selector:?}")));
    }
    if active(cfg)?.as_deref() == Some(selector) {
        return Err(Error(format!(
            "{selector} is the active selector: rotate first (outpostctl dkim rotate)"
        )));
    }
    let mut found = false;
    for alg in ["rsa", "ed25519"] {
        let p = key_path(&cfg.dir, selector, alg);
        match std::fs::remove_file(&p) {
            Ok(()) => found = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing", &p, e)),
        }
    }
    if !found {
        return Err(Error(format!("no keys of selector {selector}")));
    }
    Ok(())
}

/// Every selector with keys in the key folder, the active one first.
pub fn selectors(cfg: &KeyDir) -> Result<Vec<String>, Error> {
    let active = active(cfg)?;
    let mut out: Vec<String> = Vec::new();
    let rd = match std::fs::read_dir(&cfg.dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io("reading", &cfg.dir, e)),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(s) = name.strip_suffix("-rsa.key")
            && valid_selector(s)
            && !out.iter().any(|o| o == s)
        {
            out.push(s.to_string());
        }
    }
    out.sort();
    if let Some(a) = active {
        out.retain(|s| *s != a);
        out.insert(0, a);
    }
    Ok(out)
}

/// The DNS TXT records of every selector with keys (the active one first):
/// what `outpostctl dns` prints, published at
/// `<selector>._domainkey.<domain>`.
pub fn published(cfg: &KeyDir) -> Result<Vec<Published>, Error> {
    let active = active(cfg)?;
    let mut out = Vec::new();
    for s in selectors(cfg)? {
        let is_active = active.as_deref() == Some(s.as_str());
        let rsa_der = read_der(&key_path(&cfg.dir, &s, "rsa"))?;
        let key = rsa::RsaPrivateKey::from_pkcs8_der(&rsa_der)
            .map_err(|e| Error(format!("selector {s}: the RSA key: {e}")))?;
        let spki = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| Error(format!("selector {s}: the RSA public key: {e}")))?;
        out.push(Published {
            selector: format!("{s}-rsa"),
            algorithm: "rsa",
            record: format!("v=DKIM1; k=rsa; p={}", b64(spki.as_bytes())),
            active: is_active,
        });
        let ed = Ed25519Key::from_pkcs8_der(&read_der(&key_path(&cfg.dir, &s, "ed25519"))?)
            .map_err(|e| Error(format!("selector {s}: the Ed25519 key: {e}")))?;
        out.push(Published {
            selector: format!("{s}-ed25519"),
            algorithm: "ed25519",
            record: format!("v=DKIM1; k=ed25519; p={}", b64(&ed.public_key())),
            active: is_active,
        });
    }
    Ok(out)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn load(cfg: &KeyDir, selector: &str) -> Result<KeySet, Error> {
    let keys = KeySet {
        selector: selector.to_string(),
        rsa_der: read_der(&key_path(&cfg.dir, selector, "rsa"))?,
        ed_der: read_der(&key_path(&cfg.dir, selector, "ed25519"))?,
        by_domain: Mutex::new(Default::default()),
    };
    // Parse both now, so a bad key fails at start, not at the first mail.
    keys.pair("check.invalid")?;
    Ok(keys)
}

/// Signs submitted mail with the active selector's keys; follows a
/// rotation on the next message.
pub struct Signer {
    cfg: KeyDir,
    keys: Mutex<Option<Arc<KeySet>>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_dir", &self.cfg.dir)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Makes the keys if this is the first start, and loads them.
    pub fn start(cfg: &KeyDir) -> Result<Signer, Error> {
        let selector = ensure(cfg)?;
        let keys = load(cfg, &selector)?;
        Ok(Signer {
            cfg: cfg.clone(),
            keys: Mutex::new(Some(Arc::new(keys))),
        })
    }

    /// A signer that never makes keys: it signs with whatever selector
    /// `active` names when a message comes, and fails (the caller sends
    /// unsigned) while there is none. For the daemons other than smtpd
    /// (webd's sends), so one process alone ever creates keys.
    pub fn follow(cfg: &KeyDir) -> Signer {
        Signer {
            cfg: cfg.clone(),
            keys: Mutex::new(None),
        }
    }

    fn current(&self) -> Result<Arc<KeySet>, Error> {
        let selector = active(&self.cfg)?
            .ok_or_else(|| Error(format!("{}: no active selector", self.cfg.dir.display())))?;
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        match &*keys {
            Some(k) if k.selector == selector => Ok(k.clone()),
            _ => {
                let k = Arc::new(load(&self.cfg, &selector)?);
                tracing::info!(selector = %selector, "DKIM keys loaded");
                *keys = Some(k.clone());
                Ok(k)
            }
        }
    }

    /// [`Signer::sign`] as the plain function `outpost_submit::Sign`
    /// (the synchronous submission library takes the signer as a function,
    /// so it links no crypto or async crate).
    pub fn as_fn(&self) -> impl Fn(&[&[u8]], &str) -> Result<String, String> + '_ {
        |chunks, domain| self.sign(chunks, domain).map_err(|e| e.to_string())
    }

    /// The two `DKIM-Signature` fields (RSA first) for `message` (given as
    /// consecutive chunks: the trace fields smtpd adds, then what the
    /// client sent), signed for `domain`.
    pub fn sign(&self, chunks: &[&[u8]], domain: &str) -> Result<String, Error> {
        let pair = self.current()?.pair(&domain.to_ascii_lowercase())?;
        let rsa = pair
            .0
            .sign_chained(chunks.iter().copied())
            .map_err(|e| Error(format!("signing (rsa): {e}")))?;
        let ed = pair
            .1
            .sign_chained(chunks.iter().copied())
            .map_err(|e| Error(format!("signing (ed25519): {e}")))?;
        Ok(format!("{}{}", rsa.to_header(), ed.to_header()))
    }
}
