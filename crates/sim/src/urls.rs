//! Where requests go versus which URL they are signed over.
//!
//! The server believes Twilio reaches it at a public URL (`https://agent.example.com/...`,
//! `wss://...`), and validates signatures over that URL; the sim actually talks to it over plain
//! loopback HTTP. So every request has two URLs: the *signed* one, exactly as Twilio would have
//! requested it, and the *transport* one, the same path and query on the local server.

use crate::error::SimError;

/// A request target: the URL signatures cover and the URL actually connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As Twilio would request it (`https://public-host/path?query`, `wss://...`).
    pub signed: String,
    /// Where the sim sends it (`http://127.0.0.1:8080/path?query`, `ws://...`).
    pub transport: String,
}

/// The server's real address and the public base URL it believes in.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `host[:port]` of the local server.
    server_authority: String,
    /// `scheme://authority[/prefix]` without a trailing slash.
    public_base: String,
}

/// Splits `scheme://authority/rest` into its parts (`rest` keeps its leading `/` or `?`).
pub fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, after) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    if authority.is_empty() {
        return None;
    }
    // The fragment is never sent nor signed.
    let rest = rest.split('#').next().unwrap_or("");
    Some((scheme, authority, rest))
}

impl Endpoints {
    /// `server` must be `http://host[:port]` (the sim speaks no TLS); `public_url` defaults to it.
    pub fn new(server: &str, public_url: Option<&str>) -> Result<Self, SimError> {
        let (scheme, authority, rest) = split_url(server.trim()).ok_or_else(|| {
            SimError::Config(format!(
                "server {server:?} is not a URL like http://127.0.0.1:8080"
            ))
        })?;
        if scheme != "http" {
            return Err(SimError::Config(format!(
                "server {server:?} must use http:// (the local carrier talks plain HTTP/WebSocket to a local server)"
            )));
        }
        if !rest.trim_end_matches('/').is_empty() {
            return Err(SimError::Config(format!(
                "server {server:?} must not have a path"
            )));
        }
        let public = public_url.unwrap_or(server).trim().trim_end_matches('/');
        match split_url(public) {
            Some(("http" | "https", _, r)) if !r.contains('?') => {}
            _ => {
                return Err(SimError::Config(format!(
                    "public URL {public:?} must be http(s)://host[:port][/prefix] without a query"
                )))
            }
        }
        Ok(Endpoints {
            server_authority: authority.to_string(),
            public_base: public.to_string(),
        })
    }

    /// A webhook path configured on the number (e.g. `/twilio/voice`).
    pub fn webhook(&self, path: &str) -> Target {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        self.map(&format!("{}{path}", self.public_base), "http")
    }

    /// A URL found in TwiML (`<Redirect>`, `<Connect action>`), resolved against the document URL.
    pub fn resolve_http(&self, url: &str, document: &str) -> Target {
        self.map(&resolve(url, document, None), "http")
    }

    /// A `<Stream url>`: Twilio connects with `wss` (relative URLs take the document's host).
    pub fn resolve_ws(&self, url: &str, document: &str) -> Target {
        self.map(&resolve(url, document, Some("wss")), "ws")
    }

    fn map(&self, signed: &str, transport_scheme: &str) -> Target {
        let rest = split_url(signed).map(|(_, _, r)| r).unwrap_or("/");
        let rest = if rest.is_empty() { "/" } else { rest };
        Target {
            signed: signed.to_string(),
            transport: format!("{transport_scheme}://{}{rest}", self.server_authority),
        }
    }
}

/// Resolves `url` against `document` (RFC 3986 in the small: absolute, `/path`, or relative).
fn resolve(url: &str, document: &str, scheme_override: Option<&str>) -> String {
    if split_url(url).is_some() {
        return url.to_string();
    }
    let (doc_scheme, authority, rest) = split_url(document).unwrap_or(("https", "localhost", "/"));
    let scheme = scheme_override.unwrap_or(doc_scheme);
    if url.starts_with('/') {
        return format!("{scheme}://{authority}{url}");
    }
    let path = rest.split('?').next().unwrap_or("");
    let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(0)];
    let dir = if dir.is_empty() { "/" } else { dir };
    format!("{scheme}://{authority}{dir}{url}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_is_signed_over_public_url_but_sent_to_server() {
        let e =
            Endpoints::new("http://127.0.0.1:8080", Some("https://agent.example.com/")).unwrap();
        assert_eq!(
            e.webhook("/twilio/voice"),
            Target {
                signed: "https://agent.example.com/twilio/voice".into(),
                transport: "http://127.0.0.1:8080/twilio/voice".into()
            }
        );
    }

    #[test]
    fn public_url_defaults_to_server() {
        let e = Endpoints::new("http://127.0.0.1:9", None).unwrap();
        assert_eq!(
            e.webhook("twilio/status").signed,
            "http://127.0.0.1:9/twilio/status"
        );
    }

    #[test]
    fn stream_url_keeps_path_on_local_server() {
        let e = Endpoints::new("http://127.0.0.1:8080", Some("https://agent.example.com")).unwrap();
        let doc = "https://agent.example.com/twilio/voice";
        assert_eq!(
            e.resolve_ws("wss://agent.example.com/media/stream", doc),
            Target {
                signed: "wss://agent.example.com/media/stream".into(),
                transport: "ws://127.0.0.1:8080/media/stream".into()
            }
        );
        assert_eq!(
            e.resolve_ws("/media", doc).signed,
            "wss://agent.example.com/media"
        );
    }

    #[test]
    fn relative_twiml_urls_resolve_against_the_document() {
        let e = Endpoints::new("http://127.0.0.1:8080", Some("https://a.example")).unwrap();
        let doc = "https://a.example/twilio/voice?x=1";
        assert_eq!(
            e.resolve_http("after?turn=2", doc).signed,
            "https://a.example/twilio/after?turn=2"
        );
        assert_eq!(
            e.resolve_http("after?turn=2", doc).transport,
            "http://127.0.0.1:8080/twilio/after?turn=2"
        );
        assert_eq!(e.resolve_http("/x", doc).signed, "https://a.example/x");
    }

    #[test]
    fn rejects_tls_or_pathful_servers() {
        assert!(Endpoints::new("https://127.0.0.1:8080", None).is_err());
        assert!(Endpoints::new("http://127.0.0.1:8080/api", None).is_err());
        assert!(Endpoints::new("127.0.0.1:8080", None).is_err());
        assert!(Endpoints::new("http://127.0.0.1:8080", Some("ftp://x")).is_err());
    }
}
