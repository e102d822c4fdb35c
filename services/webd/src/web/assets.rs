//! Static assets embedded in the binary (no files to deploy), named by a
//! fingerprint of their bytes (`/static/app.<sha256 prefix>.css`) and
//! served with a year-long `immutable` cache lifetime; a new build gives
//! new names, so no browser keeps a stale copy. Compression (br/gzip) is
//! the router's `CompressionLayer`.

use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded asset.
#[derive(Debug)]
pub struct Asset {
    /// `/static/<stem>.<hash>.<ext>`.
    pub path: String,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub bytes: &'static [u8],
}

const SOURCES: [(&str, &str, &str, &[u8]); 2] = [
    (
        "app",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    (
        "app",
        "js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
];

/// Every asset, fingerprinted once per process.
pub fn all() -> &'static [Asset] {
    static ALL: OnceLock<Vec<Asset>> = OnceLock::new();
    ALL.get_or_init(|| {
        SOURCES
            .iter()
            .map(|&(stem, ext, content_type, bytes)| {
                let hash = Sha256::digest(bytes);
                let hex: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
                Asset {
                    path: format!("/static/{stem}.{hex}.{ext}"),
                    content_type,
                    bytes,
                }
            })
            .collect()
    })
}

/// The asset at `path`.
pub fn get(path: &str) -> Option<&'static Asset> {
    all().iter().find(|a| a.path == path)
}

/// The current path of `stem.ext`.
pub fn path_of(stem_ext: &str) -> &'static str {
    all()
        .iter()
        .find(|a| {
            let file = a.path.trim_start_matches("/static/");
            let mut parts = file.split('.');
            let (s, _, e) = (parts.next(), parts.next(), parts.next());
            Some(stem_ext) == s.zip(e).map(|(s, e)| format!("{s}.{e}")).as_deref()
        })
        .map(|a| a.path.as_str())
        .unwrap_or("/static/missing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_fingerprinted_and_small() {
        let css = path_of("app.css");
        let js = path_of("app.js");
        assert!(
            css.starts_with("/static/app.") && css.ends_with(".css"),
            "{css}"
        );
        assert_eq!(css.len(), "/static/app.".len() + 12 + 4);
        assert!(get(js).is_some_and(|a| a.content_type.starts_with("text/javascript")));
        assert!(get("/static/app.css").is_none());
        // The JS budget (issue 12: under 100 KB compressed) holds
        // uncompressed, with room to spare.
        let total: usize = all()
            .iter()
            .filter(|a| a.path.ends_with(".js"))
            .map(|a| a.bytes.len())
            .sum();
        assert!(total < 100 * 1024, "{total}");
    }
}
