//! Replays `tests/vectors/twilio_signatures.json` (made with the official Python library) and
//! covers the rejection paths and URL variants of spec section 2.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use telephony::signature::{
    compute_signature, public_url, public_ws_url, sign, string_to_sign, validate, verify_request,
    Algorithm, NoSharedKeys, SignatureCheck,
};
use telephony::SignatureError;

const VECTORS: &str = include_str!("vectors/twilio_signatures.json");

#[derive(Deserialize)]
struct VectorFile {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    algorithm: String,
    auth_token: String,
    url: String,
    params: BTreeMap<String, ParamValue>,
    signature: String,
    expected_valid: bool,
    headers: BTreeMap<String, String>,
    content_type: Option<String>,
    raw_body: String,
    signed_url: Option<String>,
    string_to_sign: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ParamValue {
    One(String),
    Many(Vec<String>),
}

impl Case {
    fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for (name, value) in &self.params {
            match value {
                ParamValue::One(v) => pairs.push((name.clone(), v.clone())),
                ParamValue::Many(vs) => {
                    pairs.extend(vs.iter().map(|v| (name.clone(), v.clone())));
                }
            }
        }
        pairs
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::from_wire(&self.algorithm).expect("vector algorithm is known")
    }

    /// The shared key id named by the settings header, if any.
    fn shared_key_id(&self) -> Option<String> {
        let settings = self.headers.iter().find(|(name, _)| {
            name.eq_ignore_ascii_case(telephony::signature::SIGNATURE_SETTINGS_HEADER)
        })?;
        settings
            .1
            .split(',')
            .find_map(|part| part.trim().strip_prefix("key="))
            .map(str::to_owned)
    }
}

fn cases() -> Vec<Case> {
    let file: VectorFile = serde_json::from_str(VECTORS).expect("vector file parses");
    assert!(!file.cases.is_empty());
    file.cases
}

fn verify_case(case: &Case) -> Result<(), SignatureError> {
    let pairs = case.pairs();
    let mut check = SignatureCheck::new(&case.url, &pairs, case.raw_body.as_bytes());
    for (name, value) in &case.headers {
        check = check.with_header(name, value);
    }
    match case.shared_key_id() {
        // The vector's `auth_token` is the SharedKey secret here; the account's Auth Token
        // is something else, so success proves the key was looked up by id.
        Some(key_id) => {
            let keys = HashMap::from([(key_id, case.auth_token.clone())]);
            verify_request("the-account-auth-token", &keys, &check)
        }
        None => verify_request(&case.auth_token, &NoSharedKeys, &check),
    }
}

#[test]
fn every_signature_vector_verifies_or_rejects_as_expected() {
    for case in cases() {
        let outcome = verify_case(&case);
        assert_eq!(
            outcome.is_ok(),
            case.expected_valid,
            "case `{}`: got {outcome:?}",
            case.name
        );
        if !case.expected_valid {
            assert_eq!(
                outcome,
                Err(SignatureError::Mismatch),
                "case `{}`",
                case.name
            );
        }
    }
}

#[test]
fn string_to_sign_matches_every_valid_vector() {
    for case in cases().into_iter().filter(|c| c.expected_valid) {
        let signed_url = case
            .signed_url
            .as_deref()
            .expect("valid case has signed_url");
        let expected = case
            .string_to_sign
            .as_deref()
            .expect("valid case has string");
        assert_eq!(
            string_to_sign(signed_url, &case.pairs()),
            expected,
            "case `{}`",
            case.name
        );
        assert_eq!(
            sign(case.algorithm(), &case.auth_token, expected),
            case.signature,
            "case `{}`",
            case.name
        );
    }
}

#[test]
fn legacy_validate_agrees_with_sha1_vectors() {
    for case in cases()
        .into_iter()
        .filter(|c| c.algorithm() == Algorithm::HmacSha1)
    {
        assert_eq!(
            validate(&case.auth_token, &case.url, &case.pairs(), &case.signature),
            case.expected_valid,
            "case `{}`",
            case.name
        );
    }
}

#[test]
fn vector_params_are_the_decoded_form_body() {
    for case in cases() {
        if case.content_type.as_deref() != Some("application/x-www-form-urlencoded") {
            continue;
        }
        let mut decoded: Vec<(String, String)> =
            serde_urlencoded::from_str(&case.raw_body).expect("form body decodes");
        let mut pairs = case.pairs();
        decoded.sort();
        pairs.sort();
        assert_eq!(decoded, pairs, "case `{}`", case.name);
    }
}

#[test]
fn docs_canonical_example_signature() {
    let params: Vec<(String, String)> = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(
        compute_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params
        ),
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn params_sort_by_code_point_and_drop_duplicate_values() {
    let params = pairs(&[
        ("caller", "x"),
        ("Called", "y"),
        ("CallSid", "z"),
        ("Event", "b"),
        ("Event", "a"),
        ("Event", "b"),
    ]);
    assert_eq!(
        string_to_sign("https://h/p", &params),
        "https://h/pCallSidzCalledyEventaEventbcallerx"
    );
}

#[test]
fn missing_signature_header_is_rejected() {
    let check = SignatureCheck::new("https://h/voice", &[], b"");
    assert_eq!(
        verify_request("token", &NoSharedKeys, &check),
        Err(SignatureError::MissingSignature)
    );
}

#[test]
fn signature_without_port_accepts_request_url_with_any_port() {
    let params = pairs(&[("CallSid", "CA1")]);
    let signature = compute_signature("tok", "https://agent.example.com/voice", &params);
    for url in [
        "https://agent.example.com/voice",
        "https://agent.example.com:443/voice",
        "https://agent.example.com:8443/voice",
    ] {
        assert!(validate("tok", url, &params, &signature), "{url}");
    }
    assert!(!validate(
        "tok",
        "https://agent.example.com/voice2",
        &params,
        &signature
    ));
}

#[test]
fn signature_with_default_port_accepts_request_url_without_port() {
    let signature = compute_signature("tok", "http://agent.example.com:80/voice?x=1", &[]);
    assert!(validate(
        "tok",
        "http://agent.example.com/voice?x=1",
        &[],
        &signature
    ));
}

#[test]
fn websocket_handshake_accepts_wss_with_default_port() {
    let signature = compute_signature("tok", "wss://agent.example.com:443/media", &[]);
    let check = SignatureCheck::new("wss://agent.example.com/media", &[], b"")
        .with_header("X-Twilio-Signature", &signature);
    assert_eq!(verify_request("tok", &NoSharedKeys, &check), Ok(()));
}

#[test]
fn websocket_query_may_be_signed_as_params() {
    let signature = compute_signature(
        "tok",
        "wss://agent.example.com/relay",
        &pairs(&[("tenant", "acme co")]),
    );
    let check = SignatureCheck::new("wss://agent.example.com/relay?tenant=acme+co", &[], b"")
        .with_header("x-twilio-signature", &signature);
    assert_eq!(verify_request("tok", &NoSharedKeys, &check), Ok(()));
}

fn json_case() -> Case {
    cases()
        .into_iter()
        .find(|c| c.name == "json_body_with_bodySHA256")
        .expect("vector present")
}

#[test]
fn json_body_tampering_is_rejected_even_with_valid_url_signature() {
    let case = json_case();
    let tampered = case.raw_body.replace("completed", "failed");
    let check = SignatureCheck::new(&case.url, &[], tampered.as_bytes())
        .with_header("X-Twilio-Signature", &case.signature);
    assert_eq!(
        verify_request(&case.auth_token, &NoSharedKeys, &check),
        Err(SignatureError::BodyHashMismatch)
    );
}

#[test]
fn json_body_hash_in_url_is_covered_by_the_signature() {
    let case = json_case();
    let forged_url = case.url.replace("435f", "535f");
    let check = SignatureCheck::new(&forged_url, &[], case.raw_body.as_bytes())
        .with_header("X-Twilio-Signature", &case.signature);
    assert_eq!(
        verify_request(&case.auth_token, &NoSharedKeys, &check),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn unknown_shared_key_is_rejected() {
    let check = SignatureCheck::new("https://h/status", &[], b"")
        .with_header("x-twilio-signature", "abc=")
        .with_header(
            "X-Twilio-Webhooks-Signature-Settings",
            "key=missing,algorithm=HMAC_SHA256",
        );
    assert_eq!(
        verify_request("tok", &NoSharedKeys, &check),
        Err(SignatureError::UnknownSharedKey("missing".into()))
    );
}

#[test]
fn unsupported_signature_algorithm_is_rejected() {
    let keys = |_: &str| Some("secret".to_owned());
    let check = SignatureCheck::new("https://h/status", &[], b"")
        .with_header("x-twilio-signature", "abc=")
        .with_header(
            "x-twilio-webhooks-signature-settings",
            "key=k,algorithm=HMAC_MD5",
        );
    assert_eq!(
        verify_request("tok", &keys, &check),
        Err(SignatureError::UnsupportedAlgorithm("HMAC_MD5".into()))
    );
}

#[test]
fn settings_header_without_algorithm_means_auth_token_sha1() {
    let signature = compute_signature("tok", "https://h/status", &[]);
    let check = SignatureCheck::new("https://h/status", &[], b"")
        .with_header("x-twilio-signature", &signature)
        .with_header("x-twilio-webhooks-signature-settings", "key=k");
    assert_eq!(verify_request("tok", &NoSharedKeys, &check), Ok(()));
}

#[test]
fn public_url_joins_configured_base_and_request_path() {
    assert_eq!(
        public_url("https://agent.example.com/", "/twilio/gather?turn=3"),
        "https://agent.example.com/twilio/gather?turn=3"
    );
    assert_eq!(
        public_url("https://agent.example.com", "twilio/voice"),
        "https://agent.example.com/twilio/voice"
    );
    assert_eq!(
        public_url("https://agent.example.com:8443/base", "/v#frag"),
        "https://agent.example.com:8443/base/v"
    );
}

#[test]
fn public_ws_url_maps_http_schemes_to_websocket_schemes() {
    assert_eq!(
        public_ws_url("https://agent.example.com", "/relay"),
        "wss://agent.example.com/relay"
    );
    assert_eq!(
        public_ws_url("http://localhost:3000/", "/media"),
        "ws://localhost:3000/media"
    );
    assert_eq!(
        public_ws_url("wss://agent.example.com", "/media"),
        "wss://agent.example.com/media"
    );
}
