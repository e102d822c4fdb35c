//! HTML mail made safe to show: `ammonia` (html5ever's parser, an allow
//! list of tags and attributes) removes scripts, event handlers, styles,
//! forms, frames and `javascript:` URLs; this module adds the mail
//! policy on top:
//!
//! - `cid:` images become `data:` URLs of the message's own parts (the
//!   body is shown in a sandboxed frame with an opaque origin, which
//!   would not send the session cookie for a `cid` fetch);
//! - remote images (`http:`/`https:`) are dropped and counted until the
//!   user allows them for the message;
//! - links open in a new browsing context with `noopener noreferrer`;
//! - relative URLs are dropped (they would point into this server).
//!
//! The frame that shows the result also carries a CSP with `sandbox` and
//! no script source, so a sanitiser miss still runs nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Sanitised HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clean {
    /// The HTML, safe to show.
    pub html: String,
    /// Remote images removed.
    pub blocked: usize,
}

/// Largest sum of inline (`cid:`) image bytes turned into `data:` URLs
/// for one message; beyond it, images are left out.
pub const MAX_INLINE_BYTES: usize = 8 * 1024 * 1024;

/// Sanitises `input`. `inline` maps a Content-ID (without `<>`) to a
/// `data:` URL; with `remote` false, remote images are removed.
pub fn html(input: &str, inline: HashMap<String, String>, remote: bool) -> Clean {
    let blocked = Arc::new(AtomicUsize::new(0));
    let counter = blocked.clone();
    let schemes: HashSet<&str> = ["http", "https", "mailto", "cid"].into_iter().collect();
    let mut b = ammonia::Builder::default();
    b.url_schemes(schemes)
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(move |element, attribute, value| {
            let v = value.trim();
            let lower = v.to_ascii_lowercase();
            match (element, attribute) {
                ("img", "src") => {
                    if lower.starts_with("cid:") {
                        let id = percent_encoding::percent_decode_str(&v[4..])
                            .decode_utf8_lossy()
                            .trim_matches(['<', '>'])
                            .to_string();
                        let found = inline
                            .get(&id)
                            .or_else(|| inline.get(&id.to_ascii_lowercase()))
                            .or_else(|| inline.get(id.trim()));
                        return found.map(|d| d.clone().into());
                    }
                    if lower.starts_with("http:") || lower.starts_with("https:") {
                        if remote {
                            return Some(value.into());
                        }
                        counter.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                    None
                }
                // Only images may be remote; a cid link means nothing here.
                (_, "src") | (_, "srcset") => None,
                ("a", "href") if lower.starts_with("cid:") => None,
                _ => Some(value.into()),
            }
        });
    let html = b.clean(input).to_string();
    Clean {
        html,
        blocked: blocked.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(s: &str) -> Clean {
        html(s, HashMap::new(), false)
    }

    /// The hostile-HTML table: every row must come out with nothing that
    /// runs, loads or navigates by itself.
    #[test]
    fn hostile_html_is_neutered() {
        let rows = [
            "<script>alert(1)</script>hello",
            "<img src=x onerror=alert(1)>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
            "<a href=\"&#106;avascript:alert(1)\">x</a>",
            "<a href=\"java\tscript:alert(1)\">x</a>",
            "<svg><script>alert(1)</script></svg>",
            "<svg onload=alert(1)>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<iframe src=\"https://evil.example/\"></iframe>",
            "<object data=\"x.swf\"></object><embed src=x.swf>",
            "<form action=\"https://evil.example/\"><input name=p></form>",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example/\">",
            "<base href=\"https://evil.example/\">",
            "<link rel=stylesheet href=\"https://evil.example/x.css\">",
            "<style>body{background:url(https://evil.example/leak)}</style>",
            "<div style=\"background:url(https://evil.example/leak)\">x</div>",
            "<p style=\"behavior:url(x.htc)\">x</p>",
            "<body onload=alert(1)>x</body>",
            "<details open ontoggle=alert(1)>",
            "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
            "<img src=\"data:image/svg+xml,<svg onload=alert(1)>\">",
            "<a href=\"/mail/act?do=delete\">x</a>",
            "<img src=\"//evil.example/pixel.gif\">",
            "<video src=\"https://evil.example/v\" autoplay></video>",
            "<audio src=x onerror=alert(1)>",
            "<img srcset=\"https://evil.example/a.png 1x\">",
            "<table background=\"https://evil.example/bg.png\"><tr><td>x</td></tr></table>",
            "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
            "<!--<img src=x onerror=alert(1)>-->",
            "<input autofocus onfocus=alert(1)>",
            "<textarea><script>alert(1)</script></textarea>",
        ];
        for row in rows {
            let out = clean(row).html.to_ascii_lowercase();
            for bad in [
                "<script",
                "onerror",
                "onload",
                "ontoggle",
                "onfocus",
                "javascript:",
                "<iframe",
                "<object",
                "<embed",
                "<form",
                "<meta",
                "<base",
                "<link",
                "<style",
                "style=",
                "url(",
                "data:",
                "evil.example",
                "/mail/act",
                "<video",
                "<audio",
                "<input",
                "srcset",
                "background=",
            ] {
                assert!(!out.contains(bad), "{row:?} → {out:?} contains {bad:?}");
            }
        }
    }

    #[test]
    fn remote_images_are_blocked_and_counted_until_allowed() {
        let input = "<p>hi</p><img src=\"https://tracker.example/p.gif\" alt=t><img src=\"http://x.example/a.png\">";
        let c = clean(input);
        assert_eq!(c.blocked, 2);
        assert!(!c.html.contains("tracker.example"), "{}", c.html);
        assert!(c.html.contains("<p>hi</p>"));
        let c = html(input, HashMap::new(), true);
        assert_eq!(c.blocked, 0);
        assert!(c.html.contains("https://tracker.example/p.gif"));
    }

    #[test]
    fn inline_images_become_data_urls_and_links_open_apart() {
        let mut inline = HashMap::new();
        inline.insert(
            "logo@x".to_string(),
            "data:image/png;base64,AAAA".to_string(),
        );
        let c = html(
            "<img src=\"cid:logo@x\"><img src=\"cid:missing\"><a href=\"https://example.org/\">site</a>",
            inline,
            false,
        );
        assert!(
            c.html.contains("src=\"data:image/png;base64,AAAA\""),
            "{}",
            c.html
        );
        assert!(!c.html.contains("cid:"), "{}", c.html);
        assert!(c.html.contains("rel=\"noopener noreferrer\""), "{}", c.html);
        assert!(c.html.contains("target=\"_blank\""), "{}", c.html);
        assert_eq!(c.blocked, 0);
    }

    #[test]
    fn deep_and_huge_input_is_handled() {
        let deep = "<div>".repeat(50_000) + "x";
        let c = clean(&deep);
        assert!(c.html.contains('x'));
        let wide = "<p>a</p>".repeat(100_000);
        assert_eq!(clean(&wide).html.len(), wide.len());
    }
}
