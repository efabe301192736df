//! Errors of the Twilio REST client ([`crate::rest`]), including Twilio's own error bodies
//! (spec 6.5) parsed into a typed [`TwilioError`].

use std::fmt;

use serde::Deserialize;
use thiserror::Error;

/// An error answer from Twilio's REST API: HTTP status plus Twilio's error code and message.
///
/// Parsed from the classic 2010-04-01 body (`code`, `message`, `more_info`, `status`) or from
/// RFC 9457 problem JSON (`type`, `title`, `status`, `code`, `detail`); a body that is neither
/// (a proxy's HTML page, say) keeps its first characters as the message and no code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioError {
    /// HTTP status of the answer.
    pub status: u16,
    /// Twilio's error code (`21211` invalid To, `20003` auth failed, `20429` too many requests…);
    /// `None` when the body carried none.
    pub code: Option<u32>,
    /// Twilio's explanation.
    pub message: String,
    /// Link to Twilio's page about the code.
    pub more_info: Option<String>,
}

impl std::error::Error for TwilioError {}

impl fmt::Display for TwilioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Twilio's messages end with a period; the status follows in parentheses.
        let message = self.message.trim().trim_end_matches('.');
        match self.code {
            Some(code) => write!(f, "Twilio error {code}: {message} (HTTP {})", self.status),
            None => write!(f, "Twilio error: {message} (HTTP {})", self.status),
        }
    }
}

/// Longest raw body kept as the message of an unparsable error answer.
const RAW_BODY_CHARS: usize = 300;

/// The two JSON error shapes Twilio answers with (spec 6.5), field for field.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
    more_info: Option<String>,
    // RFC 9457 problem details.
    #[serde(rename = "type")]
    kind: Option<String>,
    title: Option<String>,
    detail: Option<String>,
}

impl TwilioError {
    /// Reads an error answer. Never fails: whatever Twilio sent ends up in the message.
    pub fn from_response(status: u16, body: &str) -> Self {
        match serde_json::from_str::<ErrorBody>(body) {
            Ok(b) if b.message.is_some() || b.detail.is_some() || b.title.is_some() => {
                // The problem shape is recognised, as the official library does, by its
                // `type` + `title`; its `detail` is the sentence meant for humans.
                let problem = b.kind.is_some() && b.title.is_some();
                let message = if problem {
                    b.detail.or(b.title).or(b.message)
                } else {
                    b.message.or(b.detail).or(b.title)
                };
                TwilioError {
                    status,
                    code: b.code,
                    message: message.unwrap_or_default(),
                    more_info: if problem { b.kind } else { b.more_info },
                }
            }
            _ => {
                let raw: String = body.trim().chars().take(RAW_BODY_CHARS).collect();
                TwilioError {
                    status,
                    code: None,
                    message: if raw.is_empty() {
                        "(empty body)".to_string()
                    } else {
                        raw
                    },
                    more_info: None,
                }
            }
        }
    }
}

/// Why a REST request failed.
#[derive(Debug, Error)]
pub enum RestError {
    /// The client configuration or a request is unusable (bad CPS, missing field, invalid number).
    #[error("invalid Twilio REST request: {0}")]
    Invalid(String),
    /// Twilio answered with an error (after any retries).
    #[error(transparent)]
    Twilio(#[from] TwilioError),
    /// The request did not get an HTTP answer (connection refused, TLS, timeout).
    #[error("{method} {url} failed: {reason}")]
    Transport {
        /// `GET` or `POST`.
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The error and its causes on one line.
        reason: String,
        /// Whether the request certainly never reached Twilio (connect failure), so a retry
        /// cannot duplicate it.
        not_sent: bool,
    },
    /// Twilio answered 2xx with a body that is not the expected JSON resource.
    #[error("unexpected answer from {url}: {reason}")]
    Decode {
        /// The URL requested.
        url: String,
        /// What did not parse.
        reason: String,
    },
}

impl RestError {
    /// Twilio's error code, when Twilio answered with one.
    pub fn twilio_code(&self) -> Option<u32> {
        match self {
            RestError::Twilio(e) => e.code,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_error_body_reads_into_code_message_and_link() {
        let e = TwilioError::from_response(
            400,
            r#"{"code":21211,"message":"The 'To' number +1555 is not a valid phone number.",
               "more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#,
        );
        assert_eq!(e.code, Some(21211));
        assert_eq!(
            e.more_info.as_deref(),
            Some("https://www.twilio.com/docs/errors/21211")
        );
        assert_eq!(
            e.to_string(),
            "Twilio error 21211: The 'To' number +1555 is not a valid phone number (HTTP 400)"
        );
    }

    #[test]
    fn problem_json_uses_detail_and_type() {
        let e = TwilioError::from_response(
            429,
            r#"{"type":"https://www.twilio.com/docs/errors/20429","title":"Too Many Requests",
               "status":429,"code":20429,"detail":"Too many concurrent requests"}"#,
        );
        assert_eq!(e.code, Some(20429));
        assert_eq!(e.message, "Too many concurrent requests");
        assert_eq!(
            e.more_info.as_deref(),
            Some("https://www.twilio.com/docs/errors/20429")
        );
    }

    #[test]
    fn non_json_error_keeps_the_body_as_message() {
        let e = TwilioError::from_response(502, "<html>Bad Gateway</html>");
        assert_eq!(e.code, None);
        assert_eq!(
            e.to_string(),
            "Twilio error: <html>Bad Gateway</html> (HTTP 502)"
        );
    }
}
