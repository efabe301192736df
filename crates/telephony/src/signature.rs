//! Twilio request signatures (`X-Twilio-Signature`), spec section 2.
//!
//! Twilio signs `url + sorted(name + value)` with HMAC-SHA1 keyed by the Auth Token (or, with
//! the Webhooks signature settings, HMAC-SHA1/SHA-256 keyed by a SharedKey secret). Most bugs in
//! this area come from the server rebuilding a slightly different URL than the one Twilio
//! requested, so [`verify_request`] tries every variant the official libraries accept (port
//! stripped / default port added, and for WebSocket URLs the query moved into the parameters),
//! while [`public_url`] rebuilds the URL from configuration rather than from spoofable headers.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::error::SignatureError;

/// Header carrying the signature (lowercase, as HTTP/2 and `http::HeaderMap` spell it).
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// Header selecting SharedKey signing: `key=<sharedKeyId>,algorithm=<HMAC_SHA1|HMAC_SHA256>`.
pub const SIGNATURE_SETTINGS_HEADER: &str = "x-twilio-webhooks-signature-settings";
/// Query parameter Twilio appends to the URL of JSON-bodied webhooks (spec 2.2).
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// HMAC algorithm used for a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Legacy and default: HMAC-SHA1 (28 base64 chars).
    HmacSha1,
    /// SharedKey signing option: HMAC-SHA256 (44 base64 chars).
    HmacSha256,
}

impl Algorithm {
    /// Parses the `algorithm=` value of the signature settings header.
    pub fn from_wire(value: &str) -> Option<Self> {
        if value.eq_ignore_ascii_case("HMAC_SHA1") {
            Some(Self::HmacSha1)
        } else if value.eq_ignore_ascii_case("HMAC_SHA256") {
            Some(Self::HmacSha256)
        } else {
            None
        }
    }

    /// The wire spelling (`HMAC_SHA1` / `HMAC_SHA256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha1 => "HMAC_SHA1",
            Self::HmacSha256 => "HMAC_SHA256",
        }
    }
}

/// Source of SharedKey secrets, looked up by the `key=` id of the settings header.
pub trait SharedKeys {
    /// The secret for `key_id`, if this server holds it.
    fn shared_key(&self, key_id: &str) -> Option<String>;
}

/// For deployments that only sign with the Auth Token: every SharedKey id is unknown.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSharedKeys;

impl SharedKeys for NoSharedKeys {
    fn shared_key(&self, _key_id: &str) -> Option<String> {
        None
    }
}

impl SharedKeys for HashMap<String, String> {
    fn shared_key(&self, key_id: &str) -> Option<String> {
        self.get(key_id).cloned()
    }
}

impl SharedKeys for BTreeMap<String, String> {
    fn shared_key(&self, key_id: &str) -> Option<String> {
        self.get(key_id).cloned()
    }
}

impl<F: Fn(&str) -> Option<String>> SharedKeys for F {
    fn shared_key(&self, key_id: &str) -> Option<String> {
        self(key_id)
    }
}

/// Everything about one incoming request that its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignatureCheck<'a> {
    /// The URL exactly as Twilio requested it (see [`public_url`] / [`public_ws_url`]).
    pub url: &'a str,
    /// Decoded form fields of a form-encoded POST body; empty for GET, JSON and WebSockets.
    pub params: &'a [(String, String)],
    /// Raw body bytes, checked against `bodySHA256` when the URL carries it.
    pub raw_body: &'a [u8],
    /// Value of `X-Twilio-Signature`.
    pub signature: Option<&'a str>,
    /// Value of `X-Twilio-Webhooks-Signature-Settings`.
    pub signature_settings: Option<&'a str>,
}

impl<'a> SignatureCheck<'a> {
    /// A check with no headers yet; add them with [`Self::with_header`].
    pub fn new(url: &'a str, params: &'a [(String, String)], raw_body: &'a [u8]) -> Self {
        Self {
            url,
            params,
            raw_body,
            signature: None,
            signature_settings: None,
        }
    }

    /// Records `name: value` if it is one of the two signature headers (name matched
    /// case-insensitively); any other header is ignored, so callers may feed all of them.
    pub fn with_header(mut self, name: &str, value: &'a str) -> Self {
        if name.eq_ignore_ascii_case(SIGNATURE_HEADER) {
            self.signature = Some(value);
        } else if name.eq_ignore_ascii_case(SIGNATURE_SETTINGS_HEADER) {
            self.signature_settings = Some(value);
        }
        self
    }
}

/// The exact string Twilio HMACs: `url` followed by `name + value` for every unique
/// (name, value) pair, sorted by name then value in code-point order.
pub fn string_to_sign(url: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    // Sorting (name, value) tuples gives names in order and each name's values in order;
    // Rust compares str by UTF-8 bytes, which is code-point order like Python's sort.
    pairs.sort_unstable();
    // Both official libraries drop duplicate identical values before signing.
    pairs.dedup();
    let len = url.len() + pairs.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
    let mut data = String::with_capacity(len);
    data.push_str(url);
    for (name, value) in pairs {
        data.push_str(name);
        data.push_str(value);
    }
    data
}

/// base64(HMAC(key, data)) with the given algorithm.
pub fn sign(algorithm: Algorithm, key: &str, data: &str) -> String {
    let engine = &base64::engine::general_purpose::STANDARD;
    match algorithm {
        Algorithm::HmacSha1 => {
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(data.as_bytes());
            engine.encode(mac.finalize().into_bytes())
        }
        Algorithm::HmacSha256 => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(data.as_bytes());
            engine.encode(mac.finalize().into_bytes())
        }
    }
}

/// The legacy `X-Twilio-Signature`: base64(HMAC-SHA1(auth_token, string_to_sign)).
pub fn compute_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    sign(
        Algorithm::HmacSha1,
        auth_token,
        &string_to_sign(url, params),
    )
}

/// Checks a form/GET request's HMAC-SHA1 signature, accepting the URL with its port removed
/// or with the scheme's default port added (Twilio is inconsistent about which it signs).
///
/// This does not handle JSON bodies or SharedKey signing; servers should call
/// [`verify_request`], which does.
pub fn validate(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header_signature: &str,
) -> bool {
    matches_any_port_variant(
        Algorithm::HmacSha1,
        auth_token,
        url,
        params,
        header_signature,
    )
    .into()
}

/// Verifies any Twilio request: form POST, GET, JSON body with `bodySHA256`, SharedKey
/// signing and WebSocket handshakes.
///
/// `auth_token` signs unless the settings header selects a SharedKey, whose secret comes from
/// `shared_keys`. Every comparison is constant-time.
pub fn verify_request(
    auth_token: &str,
    shared_keys: &dyn SharedKeys,
    request: &SignatureCheck<'_>,
) -> Result<(), SignatureError> {
    let signature = request.signature.ok_or(SignatureError::MissingSignature)?;
    let (algorithm, key) = match request.signature_settings {
        None => (Algorithm::HmacSha1, auth_token.to_owned()),
        Some(header) => match parse_settings(header)? {
            None => (Algorithm::HmacSha1, auth_token.to_owned()),
            Some((key_id, algorithm)) => {
                let key = shared_keys
                    .shared_key(key_id)
                    .ok_or_else(|| SignatureError::UnknownSharedKey(key_id.to_owned()))?;
                (algorithm, key)
            }
        },
    };

    if let Some(expected_hash) = query_param(request.url, BODY_SHA256_PARAM) {
        // JSON webhooks: Twilio signs the URL alone; the body is bound through its hash.
        let signed = matches_any_port_variant(algorithm, &key, request.url, &[], signature);
        if !bool::from(signed) {
            return Err(SignatureError::Mismatch);
        }
        let actual_hash = hex_lower(&Sha256::digest(request.raw_body));
        let expected_hash = expected_hash.to_ascii_lowercase();
        if !bool::from(actual_hash.as_bytes().ct_eq(expected_hash.as_bytes())) {
            return Err(SignatureError::BodyHashMismatch);
        }
        return Ok(());
    }

    let mut matched =
        matches_any_port_variant(algorithm, &key, request.url, request.params, signature);
    // Spec 2.4: for WebSocket URLs with a query it is unsure whether Twilio signs the URL
    // verbatim or moves the query into the parameters (as its agent-connect SDK does); accept both.
    if let Some((base, params)) = ws_query_as_params(request.url, request.params) {
        matched |= matches_any_port_variant(algorithm, &key, base, &params, signature);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The URL Twilio requested, rebuilt from the configured public base URL
/// (e.g. `https://agent.example.com`) and the request's path and query as the server saw it.
///
/// Behind TLS termination or a tunnel the server only sees an internal `http://` URL, so the
/// public part must come from configuration; forwarded headers are spoofable.
pub fn public_url(public_base: &str, path_and_query: &str) -> String {
    let base = public_base.trim_end_matches('/');
    // The fragment never reaches the server nor the signature.
    let path_and_query = path_and_query
        .split_once('#')
        .map_or(path_and_query, |(before, _)| before);
    if path_and_query.is_empty() || path_and_query.starts_with('?') {
        format!("{base}{path_and_query}")
    } else {
        format!("{base}/{}", path_and_query.trim_start_matches('/'))
    }
}

/// Like [`public_url`] for a WebSocket handshake: `https` becomes `wss`, `http` becomes `ws`
/// (Twilio signs the `wss://` URL it connected to, whatever a proxy reports).
pub fn public_ws_url(public_base: &str, path_and_query: &str) -> String {
    public_url(&to_ws_scheme(public_base), path_and_query)
}

fn to_ws_scheme(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(parts) => parts,
        None => return url.to_owned(),
    };
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        "wss"
    } else if scheme.eq_ignore_ascii_case("http") {
        "ws"
    } else {
        scheme
    };
    format!("{scheme}://{rest}")
}

/// Parses `key=<id>,algorithm=<ALG>`; `Ok(None)` means legacy Auth Token signing.
fn parse_settings(header: &str) -> Result<Option<(&str, Algorithm)>, SignatureError> {
    let mut key_id = None;
    let mut algorithm = None;
    for part in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| SignatureError::MalformedSettings(header.to_owned()))?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("key") {
            key_id = Some(value);
        } else if name.eq_ignore_ascii_case("algorithm") {
            algorithm = Some(value);
        }
        // Other settings may be added by Twilio; they do not change what is signed.
    }
    let Some(algorithm) = algorithm else {
        return Ok(None);
    };
    let algorithm = Algorithm::from_wire(algorithm)
        .ok_or_else(|| SignatureError::UnsupportedAlgorithm(algorithm.to_owned()))?;
    match key_id {
        Some(id) if !id.is_empty() => Ok(Some((id, algorithm))),
        _ => Err(SignatureError::MalformedSettings(format!(
            "`{header}` selects an algorithm but names no key"
        ))),
    }
}

/// Constant-time "does any port variant of `url` produce `expected`".
fn matches_any_port_variant(
    algorithm: Algorithm,
    key: &str,
    url: &str,
    params: &[(String, String)],
    expected: &str,
) -> Choice {
    let mut matched = Choice::from(0);
    for variant in port_variants(url) {
        let computed = sign(algorithm, key, &string_to_sign(&variant, params));
        matched |= computed.as_bytes().ct_eq(expected.as_bytes());
    }
    matched
}

/// The two URLs both official libraries try: any port removed (even a non-default one),
/// and the port present (the scheme's default inserted when absent).
fn port_variants(url: &str) -> Vec<String> {
    let Some(parts) = UrlParts::parse(url) else {
        return vec![url.to_owned()];
    };
    let without_port = format!("{}{}", &url[..parts.host_end], &url[parts.authority_end..]);
    let with_port = if parts.host_end == parts.authority_end {
        match default_port(parts.scheme) {
            Some(port) => format!(
                "{}:{port}{}",
                &url[..parts.host_end],
                &url[parts.authority_end..]
            ),
            None => url.to_owned(),
        }
    } else {
        url.to_owned()
    };
    if without_port == with_port {
        vec![without_port]
    } else {
        vec![without_port, with_port]
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    // The Python library adds :80 for every non-https scheme, `wss` included; Twilio's wss
    // endpoints are on 443, so we use the real defaults (spec 2.4).
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else {
        None
    }
}

/// Byte offsets into an absolute URL: where the host ends (start of `:port`, if any) and where
/// the authority ends (start of path, query or fragment).
struct UrlParts<'a> {
    scheme: &'a str,
    host_end: usize,
    authority_end: usize,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Option<Self> {
        let scheme_end = url.find("://")?;
        let authority_start = scheme_end + 3;
        let authority_end = url[authority_start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |i| authority_start + i);
        let authority = &url[authority_start..authority_end];
        // Skip userinfo; an IPv6 literal's colons are inside brackets.
        let host_start = authority.rfind('@').map_or(0, |i| i + 1);
        let host_port = &authority[host_start..];
        let search_from = host_port.rfind(']').unwrap_or(0);
        let host_end = match host_port[search_from..].rfind(':') {
            Some(i) => {
                let port = &host_port[search_from + i + 1..];
                if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
                    authority_start + host_start + search_from + i
                } else {
                    authority_end
                }
            }
            None => authority_end,
        };
        Some(Self {
            scheme: &url[..scheme_end],
            host_end,
            authority_end,
        })
    }
}

/// The raw (still percent-encoded) value of the first `name=` in the URL's query.
fn query_param<'u>(url: &'u str, name: &str) -> Option<&'u str> {
    let (_, query) = url.split_once('?')?;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// For a `ws`/`wss` URL with a query and no body params: the URL without its query and the
/// query's decoded pairs, i.e. the form Twilio's agent-connect SDK signs.
fn ws_query_as_params<'u>(
    url: &'u str,
    params: &[(String, String)],
) -> Option<(&'u str, Vec<(String, String)>)> {
    if !params.is_empty() {
        return None;
    }
    let (scheme, _) = url.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("wss") || scheme.eq_ignore_ascii_case("ws")) {
        return None;
    }
    let (base, query) = url.split_once('?')?;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query).ok()?;
    Some((base, pairs))
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_variants_strip_and_add_default_port() {
        assert_eq!(
            port_variants("https://h.example/a?b=1"),
            vec!["https://h.example/a?b=1", "https://h.example:443/a?b=1"]
        );
        assert_eq!(
            port_variants("http://h.example:8080/a"),
            vec!["http://h.example/a", "http://h.example:8080/a"]
        );
        assert_eq!(
            port_variants("wss://h.example/relay"),
            vec!["wss://h.example/relay", "wss://h.example:443/relay"]
        );
        assert_eq!(
            port_variants("http://[::1]:3000"),
            vec!["http://[::1]", "http://[::1]:3000"]
        );
        assert_eq!(port_variants("not a url"), vec!["not a url"]);
    }

    #[test]
    fn settings_header_selects_algorithm_and_key() {
        assert_eq!(
            parse_settings("key=k1,algorithm=HMAC_SHA256"),
            Ok(Some(("k1", Algorithm::HmacSha256)))
        );
        assert_eq!(parse_settings("key=k1"), Ok(None));
        assert_eq!(
            parse_settings("key=k1,algorithm=RSA"),
            Err(SignatureError::UnsupportedAlgorithm("RSA".into()))
        );
        assert!(matches!(
            parse_settings("algorithm=HMAC_SHA1"),
            Err(SignatureError::MalformedSettings(_))
        ));
    }

    #[test]
    fn query_param_finds_body_hash() {
        assert_eq!(
            query_param("https://h/x?a=1&bodySHA256=abc#frag", "bodySHA256"),
            Some("abc")
        );
        assert_eq!(query_param("https://h/x?a=1", "bodySHA256"), None);
    }
}
